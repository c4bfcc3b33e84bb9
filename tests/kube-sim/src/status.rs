//! API errors rendered as real `Status` objects.

use serde_json::{Value, json};

use crate::resources::ResourceType;

/// One cause of an Invalid error.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Cause {
    pub reason: &'static str,
    pub message: String,
    pub field: String,
}

/// An API error: the HTTP code plus the fields of a `Status` object.
#[derive(Clone, Debug)]
pub(crate) struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Option<Value>,
}

impl ApiError {
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }
    pub fn not_found(t: &ResourceType, name: &str) -> Self {
        ApiError {
            code: 404,
            reason: "NotFound",
            message: format!("{} \"{name}\" not found", t.qualified()),
            details: Some(details(name, &t.group, &t.plural)),
        }
    }
    pub fn namespace_not_found(ns: &str) -> Self {
        ApiError {
            code: 404,
            reason: "NotFound",
            message: format!("namespaces \"{ns}\" not found"),
            details: Some(details(ns, "", "namespaces")),
        }
    }
    pub fn already_exists(t: &ResourceType, name: &str) -> Self {
        ApiError {
            code: 409,
            reason: "AlreadyExists",
            message: format!("{} \"{name}\" already exists", t.qualified()),
            details: Some(details(name, &t.group, &t.plural)),
        }
    }
    pub fn conflict(t: &ResourceType, name: &str) -> Self {
        ApiError {
            code: 409,
            reason: "Conflict",
            message: format!(
                "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
                t.qualified()
            ),
            details: Some(details(name, &t.group, &t.plural)),
        }
    }
    /// 409 of a DELETE whose preconditions do not hold, worded as kube-apiserver's (which
    /// names the kind, not the resource). `why` is the mismatch sentence.
    pub fn precondition_failed(t: &ResourceType, name: &str, why: &str) -> Self {
        let qualified = if t.group.is_empty() {
            t.kind.clone()
        } else {
            format!("{}.{}", t.kind, t.group)
        };
        ApiError {
            code: 409,
            reason: "Conflict",
            message: format!("Operation cannot be fulfilled on {qualified} \"{name}\": {why}"),
            details: Some(details(name, &t.group, &t.kind)),
        }
    }
    /// 422 Invalid for `Kind.group "name"` with causes.
    pub fn invalid(kind: &str, group: &str, name: &str, causes: Vec<Cause>) -> Self {
        let qualified = if group.is_empty() {
            kind.to_string()
        } else {
            format!("{kind}.{group}")
        };
        let rendered: Vec<String> = causes
            .iter()
            .map(|c| {
                if c.field.is_empty() {
                    c.message.clone()
                } else {
                    format!("{}: {}", c.field, c.message)
                }
            })
            .collect();
        let joined = if rendered.len() == 1 {
            rendered[0].clone()
        } else {
            format!("[{}]", rendered.join(", "))
        };
        let mut d = json!({"name": name, "group": group, "kind": kind});
        if group.is_empty() {
            d.as_object_mut().map(|m| m.remove("group"));
        }
        if name.is_empty() {
            d.as_object_mut().map(|m| m.remove("name"));
        }
        d["causes"] = Value::Array(
            causes
                .iter()
                .map(|c| json!({"reason": c.reason, "message": c.message, "field": c.field}))
                .collect(),
        );
        ApiError {
            code: 422,
            reason: "Invalid",
            message: format!("{qualified} \"{name}\" is invalid: {joined}"),
            details: Some(d),
        }
    }
    /// 403 Forbidden with the RBAC authorizer's wording.
    pub fn forbidden(group: &str, resource: &str, name: &str, reason: String) -> Self {
        let qualified = if group.is_empty() {
            resource.to_string()
        } else {
            format!("{resource}.{group}")
        };
        let message = if name.is_empty() {
            format!("{qualified} is forbidden: {reason}")
        } else {
            format!("{qualified} \"{name}\" is forbidden: {reason}")
        };
        ApiError {
            code: 403,
            reason: "Forbidden",
            message,
            details: Some(details(name, group, resource)),
        }
    }
    pub fn method_not_allowed(msg: impl Into<String>) -> Self {
        Self::new(405, "MethodNotAllowed", msg)
    }

    /// The `Status` JSON.
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(d) = &self.details {
            v["details"] = d.clone();
        }
        v
    }
}

fn details(name: &str, group: &str, kind: &str) -> Value {
    let mut d = serde_json::Map::new();
    if !name.is_empty() {
        d.insert("name".into(), json!(name));
    }
    if !group.is_empty() {
        d.insert("group".into(), json!(group));
    }
    d.insert("kind".into(), json!(kind));
    Value::Object(d)
}
