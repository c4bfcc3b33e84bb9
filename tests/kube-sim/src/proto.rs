//! A minimal decoder for Kubernetes' protobuf wire format, for the few typed
//! requests kubectl always sends as protobuf (`kubectl create namespace`,
//! `kubectl create configmap`, `kubectl auth can-i`). Only the fields these
//! kinds need are mapped; anything else is rejected with 415.

use serde_json::{Map, Value, json};

/// Protobuf wire values of one message: (field number, value).
enum Wire<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
}

fn read_varint(b: &[u8], i: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(*i)?;
        *i += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

fn fields(b: &[u8]) -> Option<Vec<(u64, Wire<'_>)>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let key = read_varint(b, &mut i)?;
        let (num, wt) = (key >> 3, key & 7);
        match wt {
            0 => out.push((num, Wire::Varint(read_varint(b, &mut i)?))),
            2 => {
                let len = read_varint(b, &mut i)? as usize;
                let s = b.get(i..i + len)?;
                i += len;
                out.push((num, Wire::Bytes(s)));
            }
            1 => i += 8,
            5 => i += 4,
            _ => return None,
        }
    }
    Some(out)
}

fn string(w: &Wire<'_>) -> Option<String> {
    match w {
        Wire::Bytes(b) => String::from_utf8(b.to_vec()).ok(),
        Wire::Varint(_) => None,
    }
}

fn string_map(entries: &[&Wire<'_>]) -> Option<Value> {
    let mut m = Map::new();
    for e in entries {
        let Wire::Bytes(b) = e else { return None };
        let f = fields(b)?;
        let k = f
            .iter()
            .find(|(n, _)| *n == 1)
            .and_then(|(_, w)| string(w))
            .unwrap_or_default();
        let v = f
            .iter()
            .find(|(n, _)| *n == 2)
            .and_then(|(_, w)| string(w))
            .unwrap_or_default();
        m.insert(k, json!(v));
    }
    Some(Value::Object(m))
}

/// Field layout: (number, json name, kind).
#[derive(Clone, Copy)]
enum Kind {
    Str,
    StrList,
    StrMap,
    Bool,
    Msg(&'static [(u64, &'static str, Kind)]),
}

const OBJECT_META: &[(u64, &str, Kind)] = &[
    (1, "name", Kind::Str),
    (2, "generateName", Kind::Str),
    (3, "namespace", Kind::Str),
    (6, "resourceVersion", Kind::Str),
    (11, "labels", Kind::StrMap),
    (12, "annotations", Kind::StrMap),
    (14, "finalizers", Kind::StrList),
];
const NAMESPACE: &[(u64, &str, Kind)] = &[
    (1, "metadata", Kind::Msg(OBJECT_META)),
    (2, "spec", Kind::Msg(&[(1, "finalizers", Kind::StrList)])),
];
const CONFIG_MAP: &[(u64, &str, Kind)] = &[
    (1, "metadata", Kind::Msg(OBJECT_META)),
    (2, "data", Kind::StrMap),
    (4, "immutable", Kind::Bool),
];
const RESOURCE_ATTRIBUTES: &[(u64, &str, Kind)] = &[
    (1, "namespace", Kind::Str),
    (2, "verb", Kind::Str),
    (3, "group", Kind::Str),
    (4, "version", Kind::Str),
    (5, "resource", Kind::Str),
    (6, "subresource", Kind::Str),
    (7, "name", Kind::Str),
];
const SSAR: &[(u64, &str, Kind)] = &[
    (1, "metadata", Kind::Msg(OBJECT_META)),
    (
        2,
        "spec",
        Kind::Msg(&[
            (1, "resourceAttributes", Kind::Msg(RESOURCE_ATTRIBUTES)),
            (
                2,
                "nonResourceAttributes",
                Kind::Msg(&[(1, "path", Kind::Str), (2, "verb", Kind::Str)]),
            ),
        ]),
    ),
];
const SSRR: &[(u64, &str, Kind)] = &[
    (1, "metadata", Kind::Msg(OBJECT_META)),
    (2, "spec", Kind::Msg(&[(1, "namespace", Kind::Str)])),
];

fn decode(b: &[u8], layout: &[(u64, &str, Kind)]) -> Option<Value> {
    let fs = fields(b)?;
    let mut out = Map::new();
    for (num, name, kind) in layout {
        let mine: Vec<&Wire<'_>> = fs.iter().filter(|(n, _)| n == num).map(|(_, w)| w).collect();
        if mine.is_empty() {
            continue;
        }
        let v = match kind {
            Kind::Str => json!(string(mine[mine.len() - 1])?),
            Kind::StrList => Value::Array(
                mine.iter()
                    .map(|w| string(w).map(Value::from))
                    .collect::<Option<_>>()?,
            ),
            Kind::StrMap => string_map(&mine)?,
            Kind::Bool => match mine[mine.len() - 1] {
                Wire::Varint(v) => json!(*v != 0),
                Wire::Bytes(_) => return None,
            },
            Kind::Msg(inner) => match mine[mine.len() - 1] {
                Wire::Bytes(b) => decode(b, inner)?,
                Wire::Varint(_) => return None,
            },
        };
        out.insert(name.to_string(), v);
    }
    Some(Value::Object(out))
}

/// Decodes a `k8s\0`-framed protobuf object into JSON, for the supported kinds.
pub(crate) fn decode_object(body: &[u8]) -> Result<Value, String> {
    let rest = body
        .strip_prefix(b"k8s\x00")
        .ok_or("missing the k8s protobuf envelope")?;
    let unknown = fields(rest).ok_or("malformed protobuf")?;
    let mut api_version = String::new();
    let mut kind = String::new();
    let mut raw: &[u8] = &[];
    for (n, w) in &unknown {
        match (n, w) {
            (1, Wire::Bytes(tm)) => {
                for (tn, tw) in fields(tm).ok_or("malformed TypeMeta")? {
                    match tn {
                        1 => api_version = string(&tw).unwrap_or_default(),
                        2 => kind = string(&tw).unwrap_or_default(),
                        _ => {}
                    }
                }
            }
            (2, Wire::Bytes(r)) => raw = r,
            _ => {}
        }
    }
    let layout = match (api_version.as_str(), kind.as_str()) {
        ("v1", "Namespace") => NAMESPACE,
        ("v1", "ConfigMap") => CONFIG_MAP,
        ("authorization.k8s.io/v1", "SelfSubjectAccessReview") => SSAR,
        ("authorization.k8s.io/v1", "SelfSubjectRulesReview") => SSRR,
        _ => {
            return Err(format!(
                "kube-sim cannot decode protobuf {api_version}/{kind}; send JSON"
            ));
        }
    };
    let mut v = decode(raw, layout).ok_or_else(|| format!("malformed protobuf {kind}"))?;
    v["apiVersion"] = json!(api_version);
    v["kind"] = json!(kind);
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(num: u64, data: &[u8]) -> Vec<u8> {
        let mut v = vec![((num << 3) | 2) as u8, data.len() as u8];
        v.extend_from_slice(data);
        v
    }

    #[test]
    fn decodes_a_namespace() {
        let label = [field(1, b"team"), field(2, b"mesh")].concat();
        let meta = [field(1, b"demo"), field(11, &label)].concat();
        let ns = field(1, &meta);
        let tm = [field(1, b"v1"), field(2, b"Namespace")].concat();
        let body = [b"k8s\x00".to_vec(), field(1, &tm), field(2, &ns)].concat();
        let v = decode_object(&body).unwrap();
        assert_eq!(
            v,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "demo", "labels": {"team": "mesh"}}})
        );
    }
}
