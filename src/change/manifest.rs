//! Input validation of `diff -f`: PeerAuthentication manifests, several documents a file,
//! each checked and named by its line before any request.

use serde_json::Value;

use crate::error::Error;
use crate::resources::{MtlsMode, PeerAuthentication};

/// One document of a `-f` input.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// `FILE, document N (line L)` for messages.
    pub origin: String,
    /// The object.
    pub value: Value,
}

/// Splits multi-document YAML into `(first line, text)` per document (1-based lines).
pub fn split_documents(text: &str) -> Vec<(usize, String)> {
    let mut docs: Vec<(usize, String)> = Vec::new();
    let mut cur = String::new();
    let mut start = 1;
    for (i, line) in text.lines().enumerate() {
        let is_marker = line == "---" || line.starts_with("--- ") || line.starts_with("---\t");
        let is_end = line == "...";
        if is_marker || is_end {
            docs.push((start, std::mem::take(&mut cur)));
            start = i + 2;
            continue;
        }
        cur.push_str(line);
        cur.push('\n');
    }
    docs.push((start, cur));
    // Documents of blanks and comments only are skipped.
    docs.into_iter()
        .filter(|(_, text)| {
            text.lines().any(|l| {
                let t = l.trim();
                !t.is_empty() && !t.starts_with('#')
            })
        })
        .collect()
}

fn first_content_line(start: usize, text: &str) -> usize {
    start
        + text
            .lines()
            .position(|l| {
                let t = l.trim();
                !t.is_empty() && !t.starts_with('#')
            })
            .unwrap_or(0)
}

/// Parses and checks PeerAuthentication manifests; every problem names the document and line.
/// A source without any object is an error.
pub fn parse_manifests(text: &str, source: &str) -> Result<Vec<Manifest>, Error> {
    let out = parse_documents(text, source)?;
    if out.is_empty() {
        return Err(Error::Usage(format!("{source}: no PeerAuthentication found")));
    }
    Ok(out)
}

/// As [`parse_manifests`], but a source of comments only gives no object (a file among others
/// in a directory may be empty).
pub fn parse_documents(text: &str, source: &str) -> Result<Vec<Manifest>, Error> {
    let mut out = Vec::new();
    for (n, (start, doc)) in split_documents(text).into_iter().enumerate() {
        let line = first_content_line(start, &doc);
        let at = format!("{source}, document {} (line {line})", n + 1);
        let value: Value = serde_saphyr::from_str(&doc).map_err(|e| {
            let (l, col) = match e.location() {
                Some(loc) => (
                    start + loc.line() as usize - 1,
                    format!(", column {}", loc.column()),
                ),
                None => (line, String::new()),
            };
            Error::Usage(format!(
                "{source}, document {} (line {l}{col}): not valid YAML: {}",
                n + 1,
                yaml_reason(&e.to_string())
            ))
        })?;
        if value.is_null() {
            continue;
        }
        let items = if value.get("kind").and_then(Value::as_str) == Some("List") {
            value
                .get("items")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        } else {
            vec![value]
        };
        for (i, item) in items.into_iter().enumerate() {
            let origin = if i == 0 {
                at.clone()
            } else {
                format!("{at}, item {}", i + 1)
            };
            check_manifest(&item, &origin)?;
            out.push(Manifest { origin, value: item });
        }
    }
    Ok(out)
}

impl Manifest {
    /// `metadata.namespace`, when the manifest sets one.
    pub fn namespace(&self) -> Option<&str> {
        self.value.pointer("/metadata/namespace").and_then(Value::as_str)
    }

    /// `metadata.name`.
    pub fn name(&self) -> &str {
        self.value
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    /// `KIND.GROUP`, the API group without its version (v1 and v1beta1 are one object).
    pub fn kind_group(&self) -> String {
        let kind = self.value.get("kind").and_then(Value::as_str).unwrap_or("");
        let api_version = self.value.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        match api_version.rsplit_once('/') {
            Some((group, _)) => format!("{kind}.{group}"),
            None => kind.to_string(),
        }
    }
}

/// kubectl's rule for `-n` with manifests: a manifest namespace other than the one given with
/// `-n` is an error, in kubectl's own words (a manifest without namespace takes `-n`).
pub fn check_namespace_flag(manifests: &[Manifest], flag: &str) -> Result<(), Error> {
    for m in manifests {
        if let Some(ns) = m.namespace()
            && ns != flag
        {
            return Err(Error::Usage(format!(
                "{}: the namespace from the provided object \"{ns}\" does not match the namespace \"{flag}\". You must pass '--namespace={ns}' to perform this operation.",
                m.origin
            )));
        }
    }
    Ok(())
}

/// The same object (kind, group, namespace, name) given twice across documents and files is an
/// error naming both places: which of the two would be compared is not for us to guess.
pub fn check_duplicates(manifests: &[Manifest], default_namespace: &str) -> Result<(), Error> {
    let mut seen: std::collections::BTreeMap<(String, String, String), &str> =
        std::collections::BTreeMap::new();
    for m in manifests {
        let ns = m.namespace().unwrap_or(default_namespace).to_string();
        let key = (m.kind_group(), ns.clone(), m.name().to_string());
        if let Some(first) = seen.get(&key) {
            return Err(Error::Usage(format!(
                "{} \"{}\" in namespace \"{ns}\" is given twice: in {first} and in {}; give each object once",
                key.0, key.2, m.origin
            )));
        }
        seen.insert(key, &m.origin);
    }
    Ok(())
}

/// The reason of a YAML error without the parser's own `error:` and relative position.
fn yaml_reason(msg: &str) -> String {
    let first = msg.lines().next().unwrap_or("invalid YAML").trim();
    let first = first.strip_prefix("error: ").unwrap_or(first);
    match first.strip_prefix("line ").and_then(|r| r.split_once(": ")) {
        Some((pos, reason)) if pos.contains("column") => reason.to_string(),
        _ => first.to_string(),
    }
}

fn check_manifest(v: &Value, at: &str) -> Result<(), Error> {
    let bad = |why: String| Error::Usage(format!("{at}: {why}"));
    if !v.is_object() {
        return Err(bad("not a Kubernetes object (a YAML mapping)".into()));
    }
    let kind = v.get("kind").and_then(Value::as_str).unwrap_or("");
    let api_version = v.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    if kind != PeerAuthentication::KIND {
        let k = if kind.is_empty() {
            "missing".to_string()
        } else {
            kind.to_string()
        };
        return Err(bad(format!(
            "kind is {k}; only PeerAuthentication manifests can be diffed"
        )));
    }
    let ok_version = api_version
        .strip_prefix("security.istio.io/")
        .is_some_and(|ver| PeerAuthentication::VERSIONS.contains(&ver));
    if !ok_version {
        return Err(bad(format!(
            "apiVersion {api_version:?} is not security.istio.io/v1 or security.istio.io/v1beta1"
        )));
    }
    let name = v.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
    if name.is_empty() {
        return Err(bad("metadata.name is missing".into()));
    }
    super::check_object_name(name).map_err(|e| bad(e.to_string()))?;
    if let Some(ns) = v.pointer("/metadata/namespace") {
        let ns = ns
            .as_str()
            .ok_or_else(|| bad("metadata.namespace is not a string".into()))?;
        super::check_namespace(ns).map_err(|e| bad(e.to_string()))?;
    }
    let pa = PeerAuthentication::from_value(v.clone()).map_err(|p| bad(p.message))?;
    let modes = "UNSET, DISABLE, PERMISSIVE, STRICT";
    if let Some(MtlsMode::Unknown(m)) = pa.spec.mtls.as_ref().and_then(|m| m.mode.clone()) {
        return Err(bad(format!("spec.mtls.mode {m:?} is not one of {modes}")));
    }
    let has_selector = pa
        .spec
        .selector
        .as_ref()
        .and_then(|s| s.match_labels.as_ref())
        .is_some_and(|l| !l.is_empty());
    if let Some(ports) = &pa.spec.port_level_mtls {
        if !has_selector {
            return Err(bad(
                "spec.portLevelMtls needs spec.selector (the API server rejects it: \"portLevelMtls requires selector\")"
                    .into(),
            ));
        }
        if ports.is_empty() {
            return Err(bad("spec.portLevelMtls is empty".into()));
        }
        for (k, m) in ports {
            if !k.parse::<u32>().is_ok_and(|p| (1..=65535).contains(&p)) {
                return Err(bad(format!(
                    "spec.portLevelMtls key {k:?} is not a port in 1-65535"
                )));
            }
            if let Some(MtlsMode::Unknown(x)) = &m.mode {
                return Err(bad(format!(
                    "spec.portLevelMtls.{k}.mode {x:?} is not one of {modes}"
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO: &str = "# policies\n---\napiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata:\n  name: default\n  namespace: shop\nspec:\n  mtls:\n    mode: STRICT\n---\napiVersion: security.istio.io/v1beta1\nkind: PeerAuthentication\nmetadata: {name: web}\nspec:\n  selector: {matchLabels: {app: web}}\n  portLevelMtls:\n    \"8080\": {mode: PERMISSIVE}\n";

    #[test]
    fn several_documents_are_read_with_their_lines() {
        let docs = split_documents(TWO);
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].0, 3);
        assert_eq!(docs[1].0, 12);
        let m = parse_manifests(TWO, "p.yaml").unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].origin, "p.yaml, document 1 (line 3)");
        assert_eq!(m[1].origin, "p.yaml, document 2 (line 12)");
        assert_eq!(m[1].value["spec"]["portLevelMtls"]["8080"]["mode"], "PERMISSIVE");
    }

    fn err(text: &str) -> String {
        let e = parse_manifests(text, "f.yaml").unwrap_err();
        assert!(matches!(e, Error::Usage(_)), "{e:?}");
        e.to_string()
    }

    #[test]
    fn the_same_object_twice_names_both_places() {
        let mut all = parse_manifests(TWO, "a.yaml").unwrap();
        // v1beta1 and v1 of one name are one object; "web" takes the default namespace.
        let again = "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: web, namespace: shop}\n";
        all.extend(parse_manifests(again, "b.yaml").unwrap());
        assert!(check_duplicates(&all, "other").is_ok());
        let e = check_duplicates(&all, "shop").unwrap_err();
        assert!(matches!(e, Error::Usage(_)), "{e:?}");
        assert_eq!(
            e.to_string(),
            "PeerAuthentication.security.istio.io \"web\" in namespace \"shop\" is given twice: in a.yaml, document 2 (line 12) and in b.yaml, document 1 (line 1); give each object once"
        );
    }

    #[test]
    fn a_namespace_other_than_the_flag_is_refused_in_kubectls_words() {
        let all = parse_manifests(TWO, "a.yaml").unwrap();
        assert!(check_namespace_flag(&all, "shop").is_ok());
        assert_eq!(
            check_namespace_flag(&all, "prod").unwrap_err().to_string(),
            "a.yaml, document 1 (line 3): the namespace from the provided object \"shop\" does not match the namespace \"prod\". You must pass '--namespace=shop' to perform this operation."
        );
        assert!(parse_documents("# nothing\n", "x.yaml").unwrap().is_empty());
    }

    #[test]
    fn bad_documents_are_named_with_their_line() {
        let deployment = format!("{TWO}---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: x}}\n");
        assert_eq!(
            err(&deployment),
            "f.yaml, document 3 (line 20): kind is Deployment; only PeerAuthentication manifests can be diffed"
        );
        let broken = format!("{TWO}---\nmetadata: [a, b\n  name: x\n");
        let m = err(&broken);
        assert!(m.starts_with("f.yaml, document 3 (line 21, column "), "{m}");
        assert!(!m.contains("error: line"), "{m}");
        assert!(m.contains("not valid YAML"), "{m}");
        assert!(
            err("kind: PeerAuthentication\napiVersion: security.istio.io/v1\nmetadata: {}\n")
                .contains("metadata.name is missing")
        );
        assert!(
            err("kind: PeerAuthentication\napiVersion: security.istio.io/v2\nmetadata: {name: a}\n")
                .contains("apiVersion")
        );
        assert!(err("kind: PeerAuthentication\napiVersion: security.istio.io/v1\nmetadata: {name: a}\nspec: {mtls: {mode: QUANTUM}}\n").contains("QUANTUM"));
        assert!(err("kind: PeerAuthentication\napiVersion: security.istio.io/v1\nmetadata: {name: a}\nspec: {portLevelMtls: {\"80\": {mode: STRICT}}}\n").contains("needs spec.selector"));
        assert!(err("kind: PeerAuthentication\napiVersion: security.istio.io/v1\nmetadata: {name: a}\nspec: {selector: {matchLabels: {a: b}}, portLevelMtls: {\"0\": {mode: STRICT}}}\n").contains("not a port"));
        assert!(err("kind: PeerAuthentication\napiVersion: security.istio.io/v1\nmetadata: {name: a}\nspec: {mtls: STRICT}\n").contains("spec.mtls"));
        assert!(err("- a\n- b\n").contains("not a Kubernetes object"));
        assert_eq!(err("# nothing\n"), "f.yaml: no PeerAuthentication found");
    }
}
