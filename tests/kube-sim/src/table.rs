//! Server-side printing: `meta.k8s.io/v1` Table columns and cells, as the real
//! API server's printers produce them for `kubectl get`.

use serde_json::{Value, json};

use crate::resources::ResourceType;
use crate::util::{age_of, human_duration, now_secs, parse_rfc3339, str_at};

const NAME_DESC: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
const AGE_DESC: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";

fn col(name: &str, type_: &str, priority: i64, description: &str) -> Value {
    let format = if name == "Name" { "name" } else { "" };
    json!({"name": name, "type": type_, "format": format, "description": description, "priority": priority})
}

/// Column definitions for a resource type.
pub(crate) fn columns(t: &ResourceType) -> Vec<Value> {
    if let Some(cols) = &t.columns {
        let mut out = vec![col("Name", "string", 0, NAME_DESC)];
        for c in cols {
            out.push(json!({"name": c.name, "type": c.type_, "format": c.format, "description": c.description, "priority": c.priority}));
        }
        return out;
    }
    let s = |n: &str, p: i64| col(n, "string", p, "");
    let i = |n: &str, p: i64| col(n, "integer", p, "");
    const CONFIGMAP_DATA_DESC: &str = "Data contains the configuration data. Each key must consist of alphanumeric characters, '-', '_' or '.'. Values with non-UTF-8 byte sequences must use the BinaryData field. The keys stored in Data must not overlap with the keys in the BinaryData field, this is enforced during validation process.";
    let name = col("Name", "string", 0, NAME_DESC);
    let age = col("Age", "string", 0, AGE_DESC);
    match (t.group.as_str(), t.plural.as_str()) {
        ("", "pods") => vec![
            name,
            s("Ready", 0),
            s("Status", 0),
            s("Restarts", 0),
            age,
            s("IP", 1),
            s("Node", 1),
            s("Nominated Node", 1),
            s("Readiness Gates", 1),
        ],
        ("", "namespaces") => vec![name, s("Status", 0), age],
        ("", "services") => vec![
            name,
            s("Type", 0),
            s("Cluster-IP", 0),
            s("External-IP", 0),
            s("Port(s)", 0),
            age,
            s("Selector", 1),
        ],
        // As kube-apiserver 1.36 declares it (a string column described by ConfigMap.data).
        ("", "configmaps") => vec![name, col("Data", "string", 0, CONFIGMAP_DATA_DESC), age],
        ("", "serviceaccounts") => vec![name, i("Secrets", 0), age],
        ("", "nodes") => vec![name, s("Status", 0), s("Roles", 0), age, s("Version", 0)],
        ("apps", "deployments") => vec![
            name,
            s("Ready", 0),
            i("Up-to-date", 0),
            i("Available", 0),
            age,
            s("Containers", 1),
            s("Images", 1),
            s("Selector", 1),
        ],
        ("apps", "replicasets") => vec![
            name,
            i("Desired", 0),
            i("Current", 0),
            i("Ready", 0),
            age,
            s("Containers", 1),
            s("Images", 1),
            s("Selector", 1),
        ],
        ("apps", "statefulsets") => vec![name, s("Ready", 0), age, s("Containers", 1), s("Images", 1)],
        ("apps", "daemonsets") => vec![
            name,
            i("Desired", 0),
            i("Current", 0),
            i("Ready", 0),
            i("Up-to-date", 0),
            i("Available", 0),
            s("Node Selector", 0),
            age,
        ],
        ("batch", "jobs") => vec![name, s("Status", 0), s("Completions", 0), s("Duration", 0), age],
        ("batch", "cronjobs") => vec![
            name,
            s("Schedule", 0),
            s("Timezone", 0),
            s("Suspend", 0),
            i("Active", 0),
            s("Last Schedule", 0),
            age,
        ],
        ("apiextensions.k8s.io", "customresourcedefinitions") => {
            vec![name, col("Created At", "date", 0, AGE_DESC)]
        }
        _ => vec![name, age],
    }
}

fn none_if_empty(s: String) -> Value {
    json!(if s.is_empty() { "<none>".to_string() } else { s })
}

fn selector_string(sel: Option<&Value>) -> String {
    sel.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
}

fn containers_and_images(spec: Option<&Value>) -> (String, String) {
    let cs = spec
        .and_then(|s| s.get("containers"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let names: Vec<&str> = cs.iter().map(|c| str_at(c, "/name")).collect();
    let images: Vec<&str> = cs.iter().map(|c| str_at(c, "/image")).collect();
    (names.join(","), images.join(","))
}

fn int(v: &Value, ptr: &str) -> i64 {
    v.pointer(ptr).and_then(Value::as_i64).unwrap_or(0)
}

/// One row's cells.
pub(crate) fn cells(t: &ResourceType, obj: &Value) -> Vec<Value> {
    let name = json!(str_at(obj, "/metadata/name"));
    let age = json!(age_of(obj));
    if let Some(cols) = &t.columns {
        let mut out = vec![name];
        for c in cols {
            let v = eval_json_path(obj, &c.json_path);
            out.push(match (c.type_.as_str(), v) {
                (_, None) => Value::Null,
                ("date", Some(Value::String(s))) => match parse_rfc3339(&s) {
                    Some(ts) => json!(human_duration(now_secs() - ts)),
                    None => json!(s),
                },
                ("string", Some(v @ (Value::Array(_) | Value::Object(_)))) => json!(v.to_string()),
                (_, Some(v)) => v,
            });
        }
        return out;
    }
    match (t.group.as_str(), t.plural.as_str()) {
        ("", "pods") => pod_cells(obj, name, age),
        ("", "namespaces") => vec![name, json!(str_at(obj, "/status/phase")), age],
        ("", "services") => {
            let ports: Vec<String> = obj
                .pointer("/spec/ports")
                .and_then(Value::as_array)
                .map(|ps| {
                    ps.iter()
                        .map(|p| {
                            let proto = p.get("protocol").and_then(Value::as_str).unwrap_or("TCP");
                            match p.get("nodePort").and_then(Value::as_i64) {
                                Some(np) => format!("{}:{np}/{proto}", int(p, "/port")),
                                None => format!("{}/{proto}", int(p, "/port")),
                            }
                        })
                        .collect()
                })
                .unwrap_or_default();
            let ext = obj
                .pointer("/status/loadBalancer/ingress/0/ip")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| {
                    if str_at(obj, "/spec/type") == "LoadBalancer" {
                        "<pending>".into()
                    } else {
                        "<none>".into()
                    }
                });
            vec![
                name,
                json!(str_at(obj, "/spec/type")),
                json!(str_at(obj, "/spec/clusterIP")),
                json!(ext),
                none_if_empty(ports.join(",")),
                age,
                none_if_empty(selector_string(obj.pointer("/spec/selector"))),
            ]
        }
        ("", "configmaps") => {
            let n = obj.get("data").and_then(Value::as_object).map_or(0, |m| m.len())
                + obj
                    .get("binaryData")
                    .and_then(Value::as_object)
                    .map_or(0, |m| m.len());
            vec![name, json!(n), age]
        }
        ("", "serviceaccounts") => vec![
            name,
            json!(obj.get("secrets").and_then(Value::as_array).map_or(0, Vec::len)),
            age,
        ],
        ("apps", "deployments") => {
            let (c, i) = containers_and_images(obj.pointer("/spec/template/spec"));
            vec![
                name,
                json!(format!(
                    "{}/{}",
                    int(obj, "/status/readyReplicas"),
                    int(obj, "/spec/replicas")
                )),
                json!(int(obj, "/status/updatedReplicas")),
                json!(int(obj, "/status/availableReplicas")),
                age,
                json!(c),
                json!(i),
                json!(selector_string(obj.pointer("/spec/selector/matchLabels"))),
            ]
        }
        ("apps", "replicasets") => {
            let (c, i) = containers_and_images(obj.pointer("/spec/template/spec"));
            vec![
                name,
                json!(int(obj, "/spec/replicas")),
                json!(int(obj, "/status/replicas")),
                json!(int(obj, "/status/readyReplicas")),
                age,
                json!(c),
                json!(i),
                json!(selector_string(obj.pointer("/spec/selector/matchLabels"))),
            ]
        }
        ("apps", "statefulsets") => {
            let (c, i) = containers_and_images(obj.pointer("/spec/template/spec"));
            vec![
                name,
                json!(format!(
                    "{}/{}",
                    int(obj, "/status/readyReplicas"),
                    int(obj, "/spec/replicas")
                )),
                age,
                json!(c),
                json!(i),
            ]
        }
        ("apps", "daemonsets") => vec![
            name,
            json!(int(obj, "/status/desiredNumberScheduled")),
            json!(int(obj, "/status/currentNumberScheduled")),
            json!(int(obj, "/status/numberReady")),
            json!(int(obj, "/status/updatedNumberScheduled")),
            json!(int(obj, "/status/numberAvailable")),
            none_if_empty(selector_string(obj.pointer("/spec/template/spec/nodeSelector"))),
            age,
        ],
        ("batch", "jobs") => {
            let succeeded = int(obj, "/status/succeeded");
            let completions = obj
                .pointer("/spec/completions")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            let status = if succeeded >= completions {
                "Complete"
            } else {
                "Running"
            };
            vec![
                name,
                json!(status),
                json!(format!("{succeeded}/{completions}")),
                json!(""),
                age,
            ]
        }
        ("batch", "cronjobs") => vec![
            name,
            json!(str_at(obj, "/spec/schedule")),
            none_if_empty(str_at(obj, "/spec/timeZone").to_string()),
            json!(
                obj.pointer("/spec/suspend")
                    .and_then(Value::as_bool)
                    .unwrap_or(false)
                    .to_string()
            ),
            json!(
                obj.pointer("/status/active")
                    .and_then(Value::as_array)
                    .map_or(0, Vec::len)
            ),
            none_if_empty(str_at(obj, "/status/lastScheduleTime").to_string()),
            age,
        ],
        ("", "nodes") => vec![name, json!("Ready"), json!("<none>"), age, json!("v1.32.0")],
        ("apiextensions.k8s.io", "customresourcedefinitions") => {
            vec![name, json!(str_at(obj, "/metadata/creationTimestamp"))]
        }
        _ => vec![name, age],
    }
}

fn pod_cells(obj: &Value, name: Value, age: Value) -> Vec<Value> {
    let total = obj
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    let statuses = obj
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let ready = statuses
        .iter()
        .filter(|s| s.get("ready") == Some(&Value::Bool(true)))
        .count();
    let restarts: i64 = statuses.iter().map(|s| int(s, "/restartCount")).sum();
    let mut reason = obj
        .pointer("/status/reason")
        .and_then(Value::as_str)
        .unwrap_or_else(|| {
            obj.pointer("/status/phase")
                .and_then(Value::as_str)
                .unwrap_or("Pending")
        })
        .to_string();
    for s in &statuses {
        if let Some(r) = s.pointer("/state/waiting/reason").and_then(Value::as_str) {
            reason = r.to_string();
        } else if let Some(r) = s.pointer("/state/terminated/reason").and_then(Value::as_str) {
            reason = r.to_string();
        }
    }
    if obj.pointer("/metadata/deletionTimestamp").is_some() {
        reason = "Terminating".into();
    }
    let gates = obj
        .pointer("/spec/readinessGates")
        .and_then(Value::as_array)
        .filter(|g| !g.is_empty())
        .map(|g| format!("0/{}", g.len()))
        .unwrap_or_else(|| "<none>".into());
    vec![
        name,
        json!(format!("{ready}/{total}")),
        json!(reason),
        json!(restarts.to_string()),
        age,
        none_if_empty(str_at(obj, "/status/podIP").to_string()),
        none_if_empty(str_at(obj, "/spec/nodeName").to_string()),
        none_if_empty(str_at(obj, "/status/nominatedNodeName").to_string()),
        json!(gates),
    ]
}

/// Evaluates the simple JSONPath forms CRD printer columns use: `.a.b`, `.a[0].b`.
pub(crate) fn eval_json_path(obj: &Value, path: &str) -> Option<Value> {
    let mut cur = obj;
    for seg in path.trim_start_matches('.').split('.').filter(|s| !s.is_empty()) {
        let (field, idx) = match seg.split_once('[') {
            Some((f, rest)) => (f, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (seg, None),
        };
        if !field.is_empty() {
            cur = cur.get(field)?;
        }
        if let Some(i) = idx {
            cur = cur.get(i)?;
        }
    }
    Some(cur.clone())
}

/// The `object` of a table row for `includeObject`.
pub(crate) fn row_object(obj: &Value, include: &str) -> Value {
    match include {
        "None" => Value::Null,
        "Object" => obj.clone(),
        _ => metadata_only(obj),
    }
}

/// `PartialObjectMetadata` of an object.
pub(crate) fn metadata_only(obj: &Value) -> Value {
    json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj.get("metadata").cloned().unwrap_or(json!({}))})
}
