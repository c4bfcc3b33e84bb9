//! The resource registry: which groups, versions and resources the server serves.
//!
//! Built-in kinds are declared here; custom resources come from the
//! CustomResourceDefinition objects in the store (the Istio ones ship in
//! `crds/istio.yaml`).

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The verbs every ordinary resource supports.
pub(crate) const STD_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// A subresource as discovery shows it.
#[derive(Clone, Debug)]
pub(crate) struct SubResource {
    pub name: String,
    pub kind: String,
    pub verbs: Vec<String>,
}

/// An additional printer column of a CRD (or a built-in table column).
#[derive(Clone, Debug)]
pub(crate) struct PrinterColumn {
    pub name: String,
    pub type_: String,
    pub format: String,
    pub description: String,
    pub priority: i64,
    pub json_path: String,
}

/// One served resource type.
#[derive(Clone, Debug)]
pub(crate) struct ResourceType {
    pub group: String,
    /// Served versions, highest priority first.
    pub versions: Vec<String>,
    pub storage_version: String,
    pub kind: String,
    pub list_kind: String,
    pub plural: String,
    pub singular: String,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    pub namespaced: bool,
    pub subresources: Vec<SubResource>,
    /// CRD printer columns (None for built-ins, which have their own table code).
    pub columns: Option<Vec<PrinterColumn>>,
    /// The `openAPIV3Schema` of a CRD.
    pub schema: Option<Arc<Value>>,
    /// The same schema compiled for CEL evaluation.
    pub compiled: Option<Arc<kube_cel::CompiledSchema>>,
    /// Whether this is a CRD-defined resource.
    pub custom: bool,
    /// Verbs discovery lists.
    pub verbs: &'static [&'static str],
}

impl ResourceType {
    /// `plural` or `plural.group`, as used in error messages.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }
    /// `group/version` or `version`.
    pub fn api_version(&self, version: &str) -> String {
        if self.group.is_empty() {
            version.to_string()
        } else {
            format!("{}/{}", self.group, version)
        }
    }
    pub fn key(&self) -> ResKey {
        (self.group.clone(), self.plural.clone())
    }
}

/// Identifies a resource type in the store: (group, plural).
pub(crate) type ResKey = (String, String);

/// All served resource types.
#[derive(Clone, Debug, Default)]
pub(crate) struct Registry {
    pub types: Vec<Arc<ResourceType>>,
}

fn builtin(
    group: &str,
    kind: &str,
    plural: &str,
    short: &[&str],
    categories: &[&str],
    namespaced: bool,
    subs: &[(&str, &str, &[&str])],
) -> ResourceType {
    ResourceType {
        group: group.into(),
        versions: vec!["v1".into()],
        storage_version: "v1".into(),
        kind: kind.into(),
        list_kind: format!("{kind}List"),
        plural: plural.into(),
        singular: kind.to_lowercase(),
        short_names: short.iter().map(|s| s.to_string()).collect(),
        categories: categories.iter().map(|s| s.to_string()).collect(),
        namespaced,
        subresources: subs
            .iter()
            .map(|(n, k, v)| SubResource {
                name: n.to_string(),
                kind: k.to_string(),
                verbs: v.iter().map(|s| s.to_string()).collect(),
            })
            .collect(),
        columns: None,
        schema: None,
        compiled: None,
        custom: false,
        verbs: STD_VERBS,
    }
}

fn create_only(group: &str, kind: &str, plural: &str) -> ResourceType {
    let mut t = builtin(group, kind, plural, &[], &[], false, &[]);
    t.verbs = &["create"];
    t
}

const STATUS_VERBS: &[&str] = &["get", "patch", "update"];

fn builtins() -> Vec<ResourceType> {
    vec![
        builtin(
            "",
            "Namespace",
            "namespaces",
            &["ns"],
            &[],
            false,
            &[
                ("finalize", "Namespace", &["update"]),
                ("status", "Namespace", STATUS_VERBS),
            ],
        ),
        builtin(
            "",
            "Pod",
            "pods",
            &["po"],
            &["all"],
            true,
            &[
                ("attach", "PodAttachOptions", &["create", "get"]),
                ("exec", "PodExecOptions", &["create", "get"]),
                ("log", "Pod", &["get"]),
                ("portforward", "PodPortForwardOptions", &["create", "get"]),
                ("status", "Pod", STATUS_VERBS),
            ],
        ),
        builtin(
            "",
            "Service",
            "services",
            &["svc"],
            &["all"],
            true,
            &[("status", "Service", STATUS_VERBS)],
        ),
        builtin("", "ConfigMap", "configmaps", &["cm"], &[], true, &[]),
        builtin("", "ServiceAccount", "serviceaccounts", &["sa"], &[], true, &[]),
        builtin("", "Event", "events", &["ev"], &[], true, &[]),
        builtin(
            "",
            "Node",
            "nodes",
            &["no"],
            &[],
            false,
            &[("status", "Node", STATUS_VERBS)],
        ),
        builtin(
            "apps",
            "Deployment",
            "deployments",
            &["deploy"],
            &["all"],
            true,
            &[
                ("scale", "Scale", STATUS_VERBS),
                ("status", "Deployment", STATUS_VERBS),
            ],
        ),
        builtin(
            "apps",
            "ReplicaSet",
            "replicasets",
            &["rs"],
            &["all"],
            true,
            &[
                ("scale", "Scale", STATUS_VERBS),
                ("status", "ReplicaSet", STATUS_VERBS),
            ],
        ),
        builtin(
            "apps",
            "StatefulSet",
            "statefulsets",
            &["sts"],
            &["all"],
            true,
            &[
                ("scale", "Scale", STATUS_VERBS),
                ("status", "StatefulSet", STATUS_VERBS),
            ],
        ),
        builtin(
            "apps",
            "DaemonSet",
            "daemonsets",
            &["ds"],
            &["all"],
            true,
            &[("status", "DaemonSet", STATUS_VERBS)],
        ),
        builtin(
            "batch",
            "Job",
            "jobs",
            &[],
            &["all"],
            true,
            &[("status", "Job", STATUS_VERBS)],
        ),
        builtin(
            "batch",
            "CronJob",
            "cronjobs",
            &["cj"],
            &["all"],
            true,
            &[("status", "CronJob", STATUS_VERBS)],
        ),
        builtin(
            "apiextensions.k8s.io",
            "CustomResourceDefinition",
            "customresourcedefinitions",
            &["crd", "crds"],
            &["api-extensions"],
            false,
            &[("status", "CustomResourceDefinition", STATUS_VERBS)],
        ),
        create_only(
            "authorization.k8s.io",
            "SelfSubjectAccessReview",
            "selfsubjectaccessreviews",
        ),
        create_only(
            "authorization.k8s.io",
            "SelfSubjectRulesReview",
            "selfsubjectrulesreviews",
        ),
    ]
}

/// Kubernetes version ordering: GA before beta before alpha, higher numbers first.
pub(crate) fn version_priority(v: &str) -> (u8, i64, i64) {
    let Some(rest) = v.strip_prefix('v') else {
        return (0, 0, 0);
    };
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let Ok(major) = digits.parse::<i64>() else {
        return (0, 0, 0);
    };
    let tail = &rest[digits.len()..];
    if tail.is_empty() {
        return (3, major, 0);
    }
    for (prefix, rank) in [("beta", 2u8), ("alpha", 1u8)] {
        if let Some(n) = tail.strip_prefix(prefix)
            && let Ok(minor) = n.parse::<i64>()
        {
            return (rank, major, minor);
        }
    }
    (0, 0, 0)
}

/// Sorts versions highest priority first.
pub(crate) fn sort_versions(vs: &mut [String]) {
    vs.sort_by(|a, b| {
        version_priority(b)
            .cmp(&version_priority(a))
            .then_with(|| a.cmp(b))
    });
}

/// Builds a resource type from a CustomResourceDefinition object.
pub(crate) fn from_crd(crd: &Value) -> Result<ResourceType, String> {
    let spec = crd.get("spec").ok_or("CustomResourceDefinition has no spec")?;
    let s = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
    let names = spec
        .get("names")
        .ok_or("CustomResourceDefinition has no spec.names")?;
    let group = s(spec.get("group")).ok_or("spec.group is required")?;
    let kind = s(names.get("kind")).ok_or("spec.names.kind is required")?;
    let plural = s(names.get("plural")).ok_or("spec.names.plural is required")?;
    let strs = |v: Option<&Value>| -> Vec<String> {
        v.and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|x| s(Some(x))).collect())
            .unwrap_or_default()
    };
    let mut versions = Vec::new();
    let mut storage = None;
    let mut schema = None;
    let mut columns = Vec::new();
    let mut has_status = false;
    for v in spec
        .get("versions")
        .and_then(Value::as_array)
        .ok_or("spec.versions is required")?
    {
        let name = s(v.get("name")).ok_or("spec.versions[].name is required")?;
        if v.get("served").and_then(Value::as_bool).unwrap_or(false) {
            versions.push(name.clone());
        }
        if v.get("storage").and_then(Value::as_bool).unwrap_or(false)
            || (storage.is_none() && schema.is_none())
        {
            if v.get("storage").and_then(Value::as_bool).unwrap_or(false) {
                storage = Some(name.clone());
            }
            schema = v.pointer("/schema/openAPIV3Schema").cloned();
            columns = v
                .get("additionalPrinterColumns")
                .and_then(Value::as_array)
                .map(|cols| {
                    cols.iter()
                        .map(|c| PrinterColumn {
                            name: s(c.get("name")).unwrap_or_default(),
                            type_: s(c.get("type")).unwrap_or_else(|| "string".into()),
                            format: s(c.get("format")).unwrap_or_default(),
                            description: s(c.get("description")).unwrap_or_default(),
                            priority: c.get("priority").and_then(Value::as_i64).unwrap_or(0),
                            json_path: s(c.get("jsonPath")).unwrap_or_default(),
                        })
                        .collect()
                })
                .unwrap_or_default();
            has_status = v.pointer("/subresources/status").is_some();
        }
    }
    sort_versions(&mut versions);
    let storage = storage
        .or_else(|| versions.first().cloned())
        .ok_or("no served version")?;
    let compiled = schema.as_ref().map(|sc| Arc::new(kube_cel::compile_schema(sc)));
    let mut subresources = Vec::new();
    if has_status {
        subresources.push(SubResource {
            name: "status".into(),
            kind: kind.clone(),
            verbs: STATUS_VERBS.iter().map(|s| s.to_string()).collect(),
        });
    }
    Ok(ResourceType {
        singular: s(names.get("singular")).unwrap_or_else(|| kind.to_lowercase()),
        list_kind: s(names.get("listKind")).unwrap_or_else(|| format!("{kind}List")),
        short_names: strs(names.get("shortNames")),
        categories: strs(names.get("categories")),
        namespaced: spec.get("scope").and_then(Value::as_str) != Some("Cluster"),
        group,
        versions,
        storage_version: storage,
        kind,
        plural,
        subresources,
        columns: Some(columns),
        schema: schema.map(Arc::new),
        compiled,
        custom: true,
        verbs: STD_VERBS,
    })
}

impl Registry {
    /// Built-ins plus one type per CRD object.
    pub fn build(crds: &[Arc<Value>]) -> Registry {
        let mut types: Vec<Arc<ResourceType>> = builtins().into_iter().map(Arc::new).collect();
        for crd in crds {
            if let Ok(t) = from_crd(crd) {
                types.retain(|x| !(x.group == t.group && x.plural == t.plural));
                types.push(Arc::new(t));
            }
        }
        Registry { types }
    }

    /// The type served at `group/version` under `plural`.
    pub fn lookup(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceType>> {
        self.types
            .iter()
            .find(|t| t.group == group && t.plural == plural && t.versions.iter().any(|v| v == version))
            .cloned()
    }

    /// The type for an `apiVersion` + `kind` (manifests).
    pub fn by_kind(&self, api_version: &str, kind: &str) -> Option<(Arc<ResourceType>, String)> {
        let (group, version) = split_api_version(api_version);
        self.types
            .iter()
            .find(|t| t.group == group && t.kind == kind && t.versions.iter().any(|v| v == version))
            .map(|t| (t.clone(), version.to_string()))
    }

    /// Groups (excluding core) with their versions, highest priority first, in
    /// a stable order: built-in groups first, then custom groups by name.
    pub fn groups(&self) -> Vec<(String, Vec<String>)> {
        let mut order: Vec<String> = Vec::new();
        let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for t in &self.types {
            if t.group.is_empty() {
                continue;
            }
            if !order.contains(&t.group) {
                order.push(t.group.clone());
            }
            let e = map.entry(t.group.clone()).or_default();
            for v in &t.versions {
                if !e.contains(v) {
                    e.push(v.clone());
                }
            }
        }
        let (mut builtin, mut custom): (Vec<String>, Vec<String>) = order
            .into_iter()
            .partition(|g| self.types.iter().any(|t| &t.group == g && !t.custom));
        builtin.dedup();
        custom.sort();
        builtin
            .into_iter()
            .chain(custom)
            .map(|g| {
                let mut vs = map.remove(&g).unwrap_or_default();
                sort_versions(&mut vs);
                (g, vs)
            })
            .collect()
    }

    /// Types served at one group/version.
    pub fn in_group_version(&self, group: &str, version: &str) -> Vec<Arc<ResourceType>> {
        self.types
            .iter()
            .filter(|t| t.group == group && t.versions.iter().any(|v| v == version))
            .cloned()
            .collect()
    }
}

/// Splits `group/version` (or `v1`) into (group, version).
pub(crate) fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.rsplit_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    }
}

/// The legacy `APIResource` entries of one group/version (including subresources).
pub(crate) fn api_resources(types: &[Arc<ResourceType>]) -> Vec<Value> {
    let mut out = Vec::new();
    for t in types {
        let mut r = json!({
            "name": t.plural,
            "singularName": t.singular,
            "namespaced": t.namespaced,
            "kind": t.kind,
            "verbs": t.verbs,
        });
        if !t.short_names.is_empty() {
            r["shortNames"] = json!(t.short_names);
        }
        if !t.categories.is_empty() {
            r["categories"] = json!(t.categories);
        }
        out.push(r);
        for s in &t.subresources {
            out.push(json!({
                "name": format!("{}/{}", t.plural, s.name),
                "singularName": "",
                "namespaced": t.namespaced,
                "kind": s.kind,
                "verbs": s.verbs,
            }));
        }
    }
    out
}

/// The aggregated-discovery (apidiscovery.k8s.io/v2) entry of one resource type at a version.
pub(crate) fn discovery_v2_resource(t: &ResourceType, version: &str) -> Value {
    let mut r = json!({
        "resource": t.plural,
        "responseKind": {"group": t.group, "version": version, "kind": t.kind},
        "scope": if t.namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": t.singular,
        "verbs": t.verbs,
    });
    if !t.short_names.is_empty() {
        r["shortNames"] = json!(t.short_names);
    }
    if !t.categories.is_empty() {
        r["categories"] = json!(t.categories);
    }
    if !t.subresources.is_empty() {
        r["subresources"] = Value::Array(
            t.subresources
                .iter()
                .map(|s| {
                    json!({
                        "subresource": s.name,
                        "responseKind": {"group": t.group, "version": version, "kind": s.kind},
                        "verbs": s.verbs,
                    })
                })
                .collect(),
        );
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_order() {
        let mut v: Vec<String> = ["v1alpha3", "v1beta1", "v1", "v2beta1"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        sort_versions(&mut v);
        assert_eq!(v, ["v1", "v2beta1", "v1beta1", "v1alpha3"]);
    }
}
