//! Rendering apart from everything else: kubectl-style tables, JSON and YAML documents,
//! unified diffs. Renderers return strings; commands decide where they go.

pub mod diff;
pub mod graph;
pub mod graph_svg;
pub mod probe;
pub mod status;
pub mod table;
pub mod telemetry;

use serde::Serialize;

use crate::error::Error;

/// A count with its noun in the right number: `1 workload`, `2 workloads`, `3 policies`.
pub fn count(n: usize, noun: &str) -> String {
    format!("{n} {}", noun_for(n, noun))
}

/// The noun alone, singular for 1 and plural otherwise (`policy` -> `policies`).
pub fn noun_for(n: usize, noun: &str) -> String {
    if n == 1 {
        return noun.to_string();
    }
    let consonant_y = noun.strip_suffix('y').filter(|stem| {
        stem.chars()
            .last()
            .is_some_and(|c| !"aeiou".contains(c.to_ascii_lowercase()))
    });
    match consonant_y {
        Some(stem) => format!("{stem}ies"),
        None if noun.ends_with('s') || noun.ends_with('x') || noun.ends_with("ch") => format!("{noun}es"),
        None => format!("{noun}s"),
    }
}

/// How many of `total` items a list may show when it is cut to at most `max` lines, one of
/// them being "... and N more": hiding a single item saves nothing, so it is shown instead.
pub fn shown_of(total: usize, max: usize) -> usize {
    if total <= max + 1 { total } else { max }
}

/// Pretty JSON with a trailing newline, as `kubectl get -o json` prints.
pub fn to_json<T: Serialize>(value: &T) -> Result<String, Error> {
    serde_json::to_string_pretty(value)
        .map(|mut s| {
            s.push('\n');
            s
        })
        .map_err(|e| Error::Other(format!("cannot render JSON: {e}")))
}

/// YAML (serde-saphyr), ending in a newline.
pub fn to_yaml<T: Serialize>(value: &T) -> Result<String, Error> {
    let mut s =
        serde_saphyr::to_string(value).map_err(|e| Error::Other(format!("cannot render YAML: {e}")))?;
    if !s.ends_with('\n') {
        s.push('\n');
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Doc {
        name: &'static str,
        ports: std::collections::BTreeMap<String, String>,
    }

    #[test]
    fn counts_agree_with_their_nouns() {
        assert_eq!(count(1, "workload"), "1 workload");
        assert_eq!(count(2, "workload"), "2 workloads");
        assert_eq!(count(0, "pod"), "0 pods");
        assert_eq!(count(3, "policy"), "3 policies");
        assert_eq!(count(2, "gateway"), "2 gateways");
        assert_eq!(count(2, "address"), "2 addresses");
        assert_eq!(noun_for(1, "namespace"), "namespace");
    }

    #[test]
    fn never_hide_a_single_item() {
        assert_eq!(shown_of(5, 5), 5);
        assert_eq!(
            shown_of(6, 5),
            6,
            "'and 1 more' would take the line the item needs"
        );
        assert_eq!(shown_of(7, 5), 5);
        assert_eq!(shown_of(0, 5), 0);
    }

    #[test]
    fn json_and_yaml_round_trip() {
        let doc = Doc {
            name: "web",
            ports: [("8080".to_string(), "STRICT".to_string())].into(),
        };
        let json = to_json(&doc).unwrap();
        let back: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(back["ports"]["8080"], "STRICT");
        let yaml = to_yaml(&doc).unwrap();
        let back: serde_json::Value = serde_saphyr::from_str(&yaml).unwrap();
        assert_eq!(back["name"], "web");
        assert_eq!(back["ports"]["8080"], "STRICT", "port keys stay strings: {yaml}");
    }
}
