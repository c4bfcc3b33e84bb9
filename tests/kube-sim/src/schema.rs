//! Validation of custom resources against their CRD schema: structural types,
//! enums, required fields, bounds, pruning of unknown fields, and the
//! `x-kubernetes-validations` CEL rules (evaluated with `kube-cel`).

use serde_json::Value;
use std::sync::Mutex;

use crate::resources::ResourceType;
use crate::status::Cause;

/// What schema validation found.
#[derive(Default, Debug)]
pub(crate) struct Outcome {
    pub causes: Vec<Cause>,
    /// Unknown fields that were pruned (`.spec.foo`).
    pub unknown: Vec<String>,
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn quote(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

/// Validates and prunes `obj` (a whole custom resource) in place.
pub(crate) fn validate(
    t: &ResourceType,
    obj: &mut Value,
    old: Option<&Value>,
    cel: &Mutex<kube_cel::Validator>,
) -> Outcome {
    let mut out = Outcome::default();
    let Some(schema) = t.schema.as_deref() else {
        return out;
    };
    if let (Some(props), Some(m)) = (
        schema.get("properties").and_then(Value::as_object),
        obj.as_object_mut(),
    ) {
        let keys: Vec<String> = m.keys().cloned().collect();
        for k in keys {
            if matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
                continue;
            }
            match props.get(&k) {
                Some(s) => {
                    let v = m.get_mut(&k).expect("key exists");
                    walk(s, v, &k, &mut out);
                }
                None if schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true)) => {}
                None => {
                    m.remove(&k);
                    out.unknown.push(format!(".{k}"));
                }
            }
        }
    }
    if out.causes.is_empty()
        && let Some(compiled) = &t.compiled
    {
        let validator = cel.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(errors) = validator.validate_compiled(compiled, obj, old) {
            for e in errors.iter() {
                let (field, ty) = locate(schema, obj, &e.field_path);
                out.causes.push(Cause {
                    reason: "FieldValueInvalid",
                    // kube-apiserver 1.36 names no value for a rule on an object.
                    message: if ty == "object" {
                        format!("Invalid value: {}", e.message)
                    } else {
                        format!("Invalid value: \"{ty}\": {}", e.message)
                    },
                    field,
                });
            }
        }
    }
    out
}

/// Turns a dotted path from the CEL validator into the API server's form
/// (map keys in brackets: `spec.selector.matchLabels[app]`, keys may contain
/// dots) and finds the schema type at it.
fn locate(schema: &Value, obj: &Value, dotted: &str) -> (String, &'static str) {
    let segs: Vec<&str> = dotted.split('.').filter(|s| !s.is_empty()).collect();
    let (mut sch, mut cur, mut out, mut i) = (schema, obj, String::new(), 0);
    while i < segs.len() {
        let seg = segs[i];
        if let Some(next) = sch.get("properties").and_then(|p| p.get(seg)) {
            out.push_str(if out.is_empty() { "" } else { "." });
            out.push_str(seg);
            sch = next;
            cur = cur.get(seg).unwrap_or(&Value::Null);
            i += 1;
        } else if let Some(next) = sch.get("additionalProperties").filter(|a| a.is_object()) {
            // The key is the longest run of segments that names an entry.
            let mut key = seg.to_string();
            let mut j = i + 1;
            while cur.get(&key).is_none() && j < segs.len() {
                key = format!("{key}.{}", segs[j]);
                j += 1;
            }
            out.push_str(&format!("[{key}]"));
            sch = next;
            cur = cur.get(&key).unwrap_or(&Value::Null);
            i = j;
        } else {
            return (dotted.to_string(), type_name(cur));
        }
    }
    let ty = sch.get("type").and_then(Value::as_str).map_or_else(
        || type_name(cur),
        |t| match t {
            "object" => "object",
            "array" => "array",
            "string" => "string",
            "integer" => "integer",
            "number" => "number",
            "boolean" => "boolean",
            _ => type_name(cur),
        },
    );
    (out, ty)
}

fn walk(schema: &Value, v: &mut Value, path: &str, out: &mut Outcome) {
    if v.is_null() && schema.get("nullable") == Some(&Value::Bool(true)) {
        return;
    }
    if schema.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true)) {
        if !(v.is_string() || v.is_i64() || v.is_u64()) {
            out.causes.push(Cause {
                reason: "FieldValueTypeInvalid",
                message: format!(
                    "Invalid value: \"{}\": {path} in body must be of type integer or string: \"{}\"",
                    type_name(v),
                    type_name(v)
                ),
                field: path.into(),
            });
        }
        return;
    }
    if let Some(want) = schema.get("type").and_then(Value::as_str) {
        let got = type_name(v);
        let ok = got == want || (want == "number" && got == "integer");
        if !ok {
            out.causes.push(Cause {
                reason: "FieldValueTypeInvalid",
                message: format!(
                    "Invalid value: \"{got}\": {path} in body must be of type {want}: \"{got}\""
                ),
                field: path.into(),
            });
            return;
        }
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(v)
    {
        let list: Vec<String> = allowed.iter().map(quote).collect();
        out.causes.push(Cause {
            reason: "FieldValueNotSupported",
            message: format!(
                "Unsupported value: {}: supported values: {}",
                quote(v),
                list.join(", ")
            ),
            field: path.into(),
        });
    }
    if let (Some(max), Some(s)) = (schema.get("maxLength").and_then(Value::as_u64), v.as_str())
        && s.chars().count() as u64 > max
    {
        out.causes.push(Cause {
            reason: "FieldValueTooLong",
            message: format!("Too long: may not be more than {max} bytes"),
            field: path.into(),
        });
    }
    if let Some(n) = v.as_f64() {
        if let Some(min) = schema.get("minimum").and_then(Value::as_f64)
            && n < min
        {
            out.causes.push(Cause {
                reason: "FieldValueInvalid",
                message: format!(
                    "Invalid value: {v}: {path} in body should be greater than or equal to {min}"
                ),
                field: path.into(),
            });
        }
        if let Some(max) = schema.get("maximum").and_then(Value::as_f64)
            && n > max
        {
            out.causes.push(Cause {
                reason: "FieldValueInvalid",
                message: format!("Invalid value: {v}: {path} in body should be less than or equal to {max}"),
                field: path.into(),
            });
        }
    }
    match v {
        Value::Object(m) => {
            if let Some(min) = schema.get("minProperties").and_then(Value::as_u64)
                && (m.len() as u64) < min
            {
                out.causes.push(Cause {
                    reason: "FieldValueInvalid",
                    message: format!(
                        "Invalid value: {}: {path} in body should have at least {min} properties",
                        m.len()
                    ),
                    field: path.into(),
                });
            }
            if let Some(max) = schema.get("maxProperties").and_then(Value::as_u64)
                && (m.len() as u64) > max
            {
                out.causes.push(Cause {
                    reason: "TooMany",
                    message: format!("Too many: {}: must have at most {max} items", m.len()),
                    field: path.into(),
                });
            }
            if let Some(req) = schema.get("required").and_then(Value::as_array) {
                for r in req.iter().filter_map(Value::as_str) {
                    if !m.contains_key(r) {
                        out.causes.push(Cause {
                            reason: "FieldValueRequired",
                            message: "Required value".into(),
                            field: format!("{path}.{r}"),
                        });
                    }
                }
            }
            let props = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties").filter(|a| a.is_object());
            let preserve = schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
            let keys: Vec<String> = m.keys().cloned().collect();
            for k in keys {
                if let Some(s) = props.and_then(|p| p.get(&k)) {
                    walk(s, m.get_mut(&k).expect("key"), &format!("{path}.{k}"), out);
                } else if let Some(s) = additional {
                    walk(s, m.get_mut(&k).expect("key"), &format!("{path}.{k}"), out);
                } else if !preserve && (props.is_some() || schema.get("type").is_some()) {
                    m.remove(&k);
                    out.unknown.push(format!(".{path}.{k}"));
                }
            }
        }
        Value::Array(a) => {
            if let Some(max) = schema.get("maxItems").and_then(Value::as_u64)
                && a.len() as u64 > max
            {
                out.causes.push(Cause {
                    reason: "TooMany",
                    message: format!("Too many: {}: must have at most {max} items", a.len()),
                    field: path.into(),
                });
            }
            if let Some(items) = schema.get("items") {
                for (i, item) in a.iter_mut().enumerate() {
                    walk(items, item, &format!("{path}[{i}]"), out);
                }
            }
        }
        _ => {}
    }
}
