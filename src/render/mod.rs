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
