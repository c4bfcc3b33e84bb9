//! Field management for server-side apply: field sets in the `fieldsV1`
//! format, ownership per manager, conflicts and the merge itself.
//!
//! Simplifications compared to structured-merge-diff: every list is atomic
//! (owned as a whole), which is what CRDs without list-type markers get.

use serde_json::{Map, Value, json};
use std::collections::BTreeSet;

/// A path of field names from the object root.
pub(crate) type Path = Vec<String>;

/// A set of owned leaf paths.
pub(crate) type FieldSet = BTreeSet<Path>;

const SKIP_META: &[&str] = &[
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "managedFields",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "selfLink",
    "generateName",
];

/// Leaf paths of an object as a field set (apiVersion, kind, status and
/// server-set metadata are not owned fields). With `keyed`, lists whose
/// elements carry a merge key (built-in kinds: containers, env, ports,
/// volumes...) are associative: each element is a member `k:{"name":"x"}`
/// and its fields are owned separately; otherwise lists are atomic.
pub(crate) fn leaf_paths(obj: &Value, keyed: bool) -> FieldSet {
    let mut out = FieldSet::new();
    if let Some(m) = obj.as_object() {
        for (k, v) in m {
            match k.as_str() {
                "apiVersion" | "kind" | "status" => {}
                "metadata" => {
                    if let Some(meta) = v.as_object() {
                        for (mk, mv) in meta {
                            if !SKIP_META.contains(&mk.as_str()) {
                                walk(mv, vec!["metadata".into(), mk.clone()], keyed, &mut out);
                            }
                        }
                    }
                }
                _ => walk(v, vec![k.clone()], keyed, &mut out),
            }
        }
    }
    out
}

/// The segment of a keyed list element: `k:{"name":"x"}`.
pub(crate) fn element_segment(key: &str, item: &Value) -> Option<String> {
    item.get(key).map(|v| format!("k:{}", json!({ key: v })))
}

fn is_element(seg: &str) -> bool {
    seg.starts_with("k:{")
}

fn walk(v: &Value, path: Path, keyed: bool, out: &mut FieldSet) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, c) in m {
                let mut p = path.clone();
                p.push(k.clone());
                walk(c, p, keyed, out);
            }
        }
        Value::Array(items) if keyed && merge_key(items).is_some() => {
            let key = merge_key(items).expect("checked");
            for item in items {
                let Some(seg) = element_segment(key, item) else {
                    continue;
                };
                let mut p = path.clone();
                p.push(seg);
                out.insert(p.clone());
                walk(item, p, keyed, out);
            }
        }
        _ => {
            out.insert(path);
        }
    }
}

/// The value at a path.
pub(crate) fn value_at<'a>(v: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter()
        .try_fold(v, |cur, k| match k.strip_prefix("k:").filter(|_| is_element(k)) {
            Some(key) => {
                let want: Map<String, Value> = serde_json::from_str(key).ok()?;
                cur.as_array()?
                    .iter()
                    .find(|item| want.iter().all(|(wk, wv)| item.get(wk) == Some(wv)))
            }
            None => cur.get(k),
        })
}

/// `.spec.mtls.mode`
/// `.spec.mtls.mode`, `.spec.containers[name="app"].image`
pub(crate) fn path_string(p: &[String]) -> String {
    p.iter()
        .map(|s| {
            match s
                .strip_prefix("k:")
                .and_then(|k| serde_json::from_str::<Map<String, Value>>(k).ok())
            {
                Some(key) => {
                    let parts: Vec<String> = key.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    format!("[{}]", parts.join(","))
                }
                None => format!(".{s}"),
            }
        })
        .collect()
}

/// Whether one path is a prefix of the other (they overlap).
pub(crate) fn overlaps(a: &[String], b: &[String]) -> bool {
    let n = a.len().min(b.len());
    a[..n] == b[..n]
}

/// Renders a field set as `fieldsV1`. `dot_parents` marks created parent maps
/// with `.` as Update operations record them.
pub(crate) fn to_fields_v1(set: &FieldSet, dot_parents: &BTreeSet<Path>) -> Value {
    let mut root = Map::new();
    for p in set {
        insert_path(&mut root, p, 0);
    }
    for p in dot_parents
        .iter()
        .chain(set.iter().filter(|p| p.last().is_some_and(|s| is_element(s))))
    {
        mark_dot(&mut root, p);
    }
    Value::Object(root)
}

fn mark_dot(node: &mut Map<String, Value>, p: &[String]) {
    match p.split_first() {
        None => {
            if !node.is_empty() {
                node.insert(".".into(), json!({}));
            }
        }
        Some((first, rest)) => {
            if let Some(next) = node.get_mut(&fields_key(first)).and_then(Value::as_object_mut) {
                mark_dot(next, rest);
            }
        }
    }
}

fn fields_key(seg: &str) -> String {
    if is_element(seg) {
        seg.to_string()
    } else {
        format!("f:{seg}")
    }
}

fn insert_path(node: &mut Map<String, Value>, p: &[String], i: usize) {
    if i == p.len() {
        return;
    }
    let child = node.entry(fields_key(&p[i])).or_insert_with(|| json!({}));
    if let Some(m) = child.as_object_mut() {
        insert_path(m, p, i + 1);
    }
}

/// Parses `fieldsV1` back to leaf paths (members: empty objects or `.` markers).
pub(crate) fn from_fields_v1(v: &Value) -> FieldSet {
    let mut out = FieldSet::new();
    fn rec(v: &Value, path: &mut Path, out: &mut FieldSet) {
        let Some(m) = v.as_object() else { return };
        let children: Vec<(&String, &Value)> = m.iter().filter(|(k, _)| k.as_str() != ".").collect();
        if children.is_empty() && !path.is_empty() {
            out.insert(path.clone());
            return;
        }
        for (k, c) in children {
            let seg = if is_element(k) {
                k.clone()
            } else {
                k.strip_prefix("f:").unwrap_or(k).to_string()
            };
            path.push(seg);
            // A list element is a member of the set itself.
            if is_element(path.last().expect("pushed")) {
                out.insert(path.clone());
            }
            rec(c, path, out);
            path.pop();
        }
    }
    rec(v, &mut Vec::new(), &mut out);
    out
}

/// One `managedFields` entry, parsed.
#[derive(Clone, Debug)]
pub(crate) struct Manager {
    pub manager: String,
    pub operation: String,
    pub api_version: String,
    pub time: String,
    pub subresource: String,
    pub fields: FieldSet,
    /// Parents that carry a `.` marker (Update entries).
    pub dots: BTreeSet<Path>,
}

impl Manager {
    pub fn parse_all(obj: &Value) -> Vec<Manager> {
        obj.pointer("/metadata/managedFields")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|e| {
                        let s = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("").to_string();
                        let fv = e.get("fieldsV1").cloned().unwrap_or_else(|| json!({}));
                        Manager {
                            manager: s("manager"),
                            operation: s("operation"),
                            api_version: s("apiVersion"),
                            time: s("time"),
                            subresource: s("subresource"),
                            fields: from_fields_v1(&fv),
                            dots: dot_paths(&fv),
                        }
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn to_json(&self) -> Value {
        let mut e = json!({
            "manager": self.manager,
            "operation": self.operation,
            "apiVersion": self.api_version,
            "fieldsType": "FieldsV1",
            "fieldsV1": to_fields_v1(&self.fields, &self.dots),
        });
        if !self.time.is_empty() {
            e["time"] = json!(self.time);
        }
        if !self.subresource.is_empty() {
            e["subresource"] = json!(self.subresource);
        }
        e
    }

    /// How the API server names a manager in conflict messages.
    pub fn display(&self) -> String {
        let mut s = format!("{:?}", self.manager);
        if !self.subresource.is_empty() {
            s = format!("{s} with subresource {:?}", self.subresource);
        }
        if self.operation == "Update" {
            s = format!("{s} using {}", self.api_version);
        }
        s
    }
}

fn dot_paths(v: &Value) -> BTreeSet<Path> {
    let mut out = BTreeSet::new();
    fn rec(v: &Value, path: &mut Path, out: &mut BTreeSet<Path>) {
        let Some(m) = v.as_object() else { return };
        if m.contains_key(".") && !path.is_empty() {
            out.insert(path.clone());
        }
        for (k, c) in m {
            let seg = if is_element(k) {
                Some(k.as_str())
            } else {
                k.strip_prefix("f:")
            };
            if let Some(seg) = seg {
                path.push(seg.to_string());
                rec(c, path, out);
                path.pop();
            }
        }
    }
    rec(v, &mut Vec::new(), &mut out);
    out
}

/// Writes managers back into the object (empty ones dropped), in kube-apiserver's order:
/// operation (Apply first), time (whole seconds), manager, apiVersion, subresource.
pub(crate) fn store_managers(obj: &mut Value, managers: &[Manager]) {
    let mut kept: Vec<&Manager> = managers.iter().filter(|m| !m.fields.is_empty()).collect();
    kept.sort_by_key(|m| {
        (
            m.operation.clone(),
            crate::util::parse_rfc3339(&m.time).unwrap_or(0),
            m.manager.clone(),
            m.api_version.clone(),
            m.subresource.clone(),
        )
    });
    let list: Vec<Value> = kept.into_iter().map(Manager::to_json).collect();
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        if list.is_empty() {
            meta.remove("managedFields");
        } else {
            meta.insert("managedFields".into(), Value::Array(list));
        }
    }
}

/// Records an Update operation by `manager`: the fields that changed between
/// `old` and `new` become its own and leave every other manager.
pub(crate) fn record_update(
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    api_version: &str,
    now: &str,
    keyed: bool,
) {
    // A request that rewrites managedFields itself (kubectl's migration of
    // client-side-apply ownership does) sets the base the update builds on.
    let explicit = new.pointer("/metadata/managedFields");
    let mut managers = match explicit {
        Some(mf) if old.and_then(|o| o.pointer("/metadata/managedFields")) != Some(mf) => {
            Manager::parse_all(new)
        }
        _ => old.map(Manager::parse_all).unwrap_or_default(),
    };
    // kube-apiserver tracks no managers on an update of an object that has none (stored before
    // server-side apply existed, or stripped with `managedFields: [{}]`) until its first apply.
    if old.is_some() && managers.is_empty() {
        if let Some(meta) = new.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("managedFields");
        }
        return;
    }
    let new_paths = leaf_paths(new, keyed);
    let old_paths = old.map(|o| leaf_paths(o, keyed)).unwrap_or_default();
    // A list element changes owner only when it is created; its fields when they change.
    let changed: FieldSet = new_paths
        .iter()
        .filter(|p| match p.last() {
            Some(seg) if is_element(seg) => old.and_then(|o| value_at(o, p)).is_none(),
            _ => old.and_then(|o| value_at(o, p)) != value_at(new, p),
        })
        .cloned()
        .collect();
    // Fields removed by this update leave every manager.
    let removed: Vec<&Path> = old_paths.iter().filter(|p| !new_paths.contains(*p)).collect();
    for m in managers.iter_mut() {
        m.fields.retain(|p| !removed.iter().any(|r| r == &p));
    }
    if changed.is_empty() {
        store_managers(new, &managers);
        return;
    }
    for m in managers.iter_mut() {
        if !(m.manager == manager && m.operation == "Update") {
            m.fields.retain(|p| !changed.iter().any(|c| overlaps(c, p)));
        }
    }
    let mut dots = BTreeSet::new();
    // Parent maps that did not exist before get a `.` marker (top-level
    // fields other than metadata count too).
    for p in &changed {
        if p.len() > 1 && p[0] != "metadata" && old.and_then(|o| value_at(o, &p[..1])).is_none() {
            dots.insert(p[..1].to_vec());
        }
    }
    for p in &changed {
        for i in 2..p.len() {
            let parent = &p[..i];
            if old.and_then(|o| value_at(o, parent)).is_none() {
                dots.insert(parent.to_vec());
            }
        }
    }
    match managers
        .iter_mut()
        .find(|m| m.manager == manager && m.operation == "Update")
    {
        Some(m) => {
            m.fields.extend(changed);
            m.dots.extend(dots);
            m.api_version = api_version.to_string();
            m.time = now.to_string();
        }
        None => managers.push(Manager {
            manager: manager.to_string(),
            operation: "Update".into(),
            api_version: api_version.to_string(),
            time: now.to_string(),
            subresource: String::new(),
            fields: changed,
            dots,
        }),
    }
    store_managers(new, &managers);
}

/// The manager kube-apiserver gives the fields of an object without managedFields at its first
/// server-side apply.
pub(crate) const BEFORE_FIRST_APPLY: &str = "before-first-apply";

/// A conflict found by apply.
#[derive(Clone, Debug)]
pub(crate) struct Conflict {
    pub manager: String,
    pub path: Path,
}

/// The apply merge. Returns the merged object with updated managedFields, or
/// the conflicts.
#[allow(clippy::too_many_arguments)]
pub(crate) fn apply(
    current: &Value,
    applied: &Value,
    manager: &str,
    api_version: &str,
    force: bool,
    now: &str,
    keyed: bool,
) -> Result<Value, Vec<Conflict>> {
    // An object without any managedFields: kube-apiserver first records every field it has as
    // an Update by `before-first-apply`, so the first apply conflicts with what it changes.
    let with_owner;
    let current = if Manager::parse_all(current).is_empty() && current.pointer("/metadata/uid").is_some() {
        let mut owned = current.clone();
        record_update(None, &mut owned, BEFORE_FIRST_APPLY, api_version, now, keyed);
        with_owner = owned;
        &with_owner
    } else {
        current
    };
    let mut managers = Manager::parse_all(current);
    let applied_set = leaf_paths(applied, keyed);
    // Only values conflict: list elements themselves are shared freely.
    let differs =
        |p: &Path| !p.last().is_some_and(|s| is_element(s)) && value_at(current, p) != value_at(applied, p);
    let mut conflicts = Vec::new();
    for m in &managers {
        if m.manager == manager && m.operation == "Apply" {
            continue;
        }
        for p in &applied_set {
            for owned in &m.fields {
                if overlaps(p, owned) && !owned.last().is_some_and(|s| is_element(s)) && differs(p) {
                    conflicts.push(Conflict {
                        manager: m.display(),
                        path: p.clone(),
                    });
                }
            }
        }
    }
    conflicts.dedup_by(|a, b| a.manager == b.manager && a.path == b.path);
    if !conflicts.is_empty() && !force {
        return Err(conflicts);
    }
    if force {
        for m in managers.iter_mut() {
            if !(m.manager == manager && m.operation == "Apply") {
                m.fields.retain(|owned| {
                    !applied_set.iter().any(|p| {
                        overlaps(p, owned) && !owned.last().is_some_and(|s| is_element(s)) && differs(p)
                    })
                });
            }
        }
    }
    let previous: FieldSet = managers
        .iter()
        .find(|m| m.manager == manager && m.operation == "Apply")
        .map(|m| m.fields.clone())
        .unwrap_or_default();
    let mut merged = current.clone();
    merge_into(&mut merged, applied, keyed);
    // Fields this manager stopped applying and nobody else owns are removed.
    for p in previous.iter().filter(|p| !applied_set.contains(*p)) {
        let still_applied = applied_set.iter().any(|a| overlaps(a, p));
        let owned_elsewhere = managers
            .iter()
            .filter(|m| !(m.manager == manager && m.operation == "Apply"))
            .any(|m| m.fields.iter().any(|o| overlaps(o, p)));
        if !still_applied && !owned_elsewhere {
            remove_path(&mut merged, p);
        }
    }
    // An apply that changes no value leaves the time as it was (none for a new entry).
    let without_managers = |v: &Value| {
        let mut v = v.clone();
        if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("managedFields");
        }
        v
    };
    let changed = without_managers(&merged) != without_managers(current);
    match managers
        .iter_mut()
        .find(|m| m.manager == manager && m.operation == "Apply")
    {
        Some(m) => {
            m.fields = applied_set;
            m.dots.clear();
            m.api_version = api_version.to_string();
            if changed {
                m.time = now.to_string();
            }
        }
        None => managers.insert(
            0,
            Manager {
                manager: manager.to_string(),
                operation: "Apply".into(),
                api_version: api_version.to_string(),
                time: if changed { now.to_string() } else { String::new() },
                subresource: String::new(),
                fields: applied_set,
                dots: BTreeSet::new(),
            },
        ),
    }
    store_managers(&mut merged, &managers);
    Ok(merged)
}

/// Deep-merges `patch` into `target`: maps merge, keyed lists (with `keyed`)
/// merge by element, everything else replaces.
pub(crate) fn merge_into(target: &mut Value, patch: &Value, keyed: bool) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                match t.get_mut(k) {
                    Some(existing)
                        if (existing.is_object() && v.is_object())
                            || (keyed && existing.is_array() && v.is_array()) =>
                    {
                        merge_into(existing, v, keyed)
                    }
                    _ => {
                        t.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (Value::Array(t), Value::Array(p)) if keyed => {
            let all: Vec<Value> = t.iter().chain(p.iter()).cloned().collect();
            match merge_key(&all) {
                Some(key) => {
                    for item in p {
                        match t.iter_mut().find(|c| c.get(key) == item.get(key)) {
                            Some(existing) => merge_into(existing, item, keyed),
                            None => t.push(item.clone()),
                        }
                    }
                }
                None => *t = p.clone(),
            }
        }
        (t, p) => *t = p.clone(),
    }
}

/// Removes a path (list elements by key), then parents left empty.
pub(crate) fn remove_path(v: &mut Value, p: &[String]) {
    let Some((first, rest)) = p.split_first() else {
        return;
    };
    if is_element(first) {
        let Some(items) = v.as_array_mut() else { return };
        let Ok(want) = serde_json::from_str::<Map<String, Value>>(&first[2..]) else {
            return;
        };
        let Some(i) = items
            .iter()
            .position(|item| want.iter().all(|(k, w)| item.get(k) == Some(w)))
        else {
            return;
        };
        if rest.is_empty() {
            items.remove(i);
        } else {
            remove_path(&mut items[i], rest);
        }
        return;
    }
    if rest.is_empty() {
        if let Some(m) = v.as_object_mut() {
            m.remove(first);
        }
        return;
    }
    if let Some(child) = v.get_mut(first) {
        remove_path(child, rest);
        let empty =
            child.as_object().is_some_and(Map::is_empty) || child.as_array().is_some_and(Vec::is_empty);
        if empty && let Some(m) = v.as_object_mut() {
            m.remove(first);
        }
    }
}

/// RFC 7386 JSON merge patch (strategic merge is treated the same way).
pub(crate) fn merge_patch(target: &mut Value, patch: &Value) {
    if let Value::Object(p) = patch {
        if !target.is_object() {
            *target = json!({});
        }
        let t = target.as_object_mut().expect("object");
        for (k, v) in p {
            if v.is_null() {
                t.remove(k);
            } else {
                merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    } else {
        *target = patch.clone();
    }
}

/// The merge key of a list, guessed from its elements the way the built-in
/// types declare them (containers/env/volumes by name, ports by port number,
/// volume mounts by path).
fn merge_key(items: &[Value]) -> Option<&'static str> {
    ["name", "containerPort", "port", "mountPath", "ip"]
        .into_iter()
        .find(|k| !items.is_empty() && items.iter().all(|i| i.get(*k).is_some()))
}

/// Strategic merge patch for built-in kinds: like a merge patch, but lists of
/// objects merge element-wise by their merge key, and the `$patch`,
/// `$setElementOrder/`, `$deleteFromPrimitiveList/` and `$retainKeys`
/// directives are honoured.
pub(crate) fn strategic_merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    match p.get("$patch").and_then(Value::as_str) {
        Some("replace") => {
            let mut v = patch.clone();
            strip_directives(&mut v);
            *target = v;
            return;
        }
        Some("delete") => {
            *target = Value::Null;
            return;
        }
        _ => {}
    }
    if !target.is_object() {
        *target = json!({});
    }
    let t = target.as_object_mut().expect("object");
    for (k, v) in p {
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(list)), Some(remove)) = (t.get_mut(field), v.as_array()) {
                list.retain(|x| !remove.contains(x));
            }
            continue;
        }
        if k.starts_with('$') {
            continue;
        }
        if v.is_null() {
            t.remove(k);
            continue;
        }
        match (t.get_mut(k), v) {
            (Some(Value::Array(cur)), Value::Array(items)) => {
                let all: Vec<Value> = cur.iter().chain(items.iter()).cloned().collect();
                if let Some(key) = merge_key(&all) {
                    for item in items {
                        let id = item.get(key).cloned();
                        let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
                        match cur.iter().position(|c| c.get(key) == id.as_ref()) {
                            Some(i) if delete => {
                                cur.remove(i);
                            }
                            Some(i) => strategic_merge_patch(&mut cur[i], item),
                            None if delete => {}
                            None => {
                                let mut n = item.clone();
                                strip_directives(&mut n);
                                cur.push(n);
                            }
                        }
                    }
                    if let Some(order) = p.get(&format!("$setElementOrder/{k}")).and_then(Value::as_array) {
                        let ids: Vec<Option<&Value>> = order.iter().map(|o| o.get(key)).collect();
                        cur.sort_by_key(|c| {
                            ids.iter().position(|id| *id == c.get(key)).unwrap_or(usize::MAX)
                        });
                    }
                } else {
                    let mut n = v.clone();
                    strip_directives(&mut n);
                    *cur = n.as_array().cloned().unwrap_or_default();
                }
            }
            (Some(existing @ Value::Object(_)), Value::Object(_)) => {
                strategic_merge_patch(existing, v);
                if existing.is_null() {
                    t.remove(k);
                }
            }
            _ => {
                let mut n = v.clone();
                strip_directives(&mut n);
                t.insert(k.clone(), n);
            }
        }
    }
}

fn strip_directives(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|k, _| !k.starts_with('$'));
            m.values_mut().for_each(strip_directives);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_directives),
        _ => {}
    }
}

/// RFC 6902 JSON patch.
pub(crate) fn json_patch(target: &mut Value, ops: &Value) -> Result<(), String> {
    let ops = ops
        .as_array()
        .ok_or("json patch must be an array of operations")?;
    for op in ops {
        let kind = op
            .get("op")
            .and_then(Value::as_str)
            .ok_or("operation has no \"op\"")?;
        let path = op
            .get("path")
            .and_then(Value::as_str)
            .ok_or("operation has no \"path\"")?;
        match kind {
            "add" | "replace" => {
                let value = op.get("value").cloned().ok_or("missing value")?;
                if kind == "replace" && target.pointer(path).is_none() {
                    return Err(format!(
                        "replace operation does not apply: doc is missing key: {path}"
                    ));
                }
                set_pointer(target, path, value, kind == "add")?;
            }
            "remove" => {
                remove_pointer(target, path).ok_or(format!(
                    "remove operation does not apply: doc is missing path: {path}"
                ))?;
            }
            "test" => {
                let value = op.get("value").ok_or("missing value")?;
                if target.pointer(path) != Some(value) {
                    return Err(format!("testing value {path} failed: test failed"));
                }
            }
            "move" | "copy" => {
                let from = op.get("from").and_then(Value::as_str).ok_or("missing from")?;
                let v = target.pointer(from).cloned().ok_or(format!(
                    "{kind} operation does not apply: doc is missing from path: {from}"
                ))?;
                if kind == "move" {
                    remove_pointer(target, from);
                }
                set_pointer(target, path, v, true)?;
            }
            other => return Err(format!("Unexpected kind: {other}")),
        }
    }
    Ok(())
}

fn unescape(s: &str) -> String {
    s.replace("~1", "/").replace("~0", "~")
}

fn split_pointer(path: &str) -> Result<(String, String), String> {
    let (parent, last) = path.rsplit_once('/').ok_or(format!("invalid path {path}"))?;
    Ok((parent.to_string(), unescape(last)))
}

fn set_pointer(target: &mut Value, path: &str, value: Value, insert: bool) -> Result<(), String> {
    if path.is_empty() {
        *target = value;
        return Ok(());
    }
    let (parent, last) = split_pointer(path)?;
    let p = target.pointer_mut(&parent).ok_or(format!(
        "add operation does not apply: doc is missing path: \"{path}\""
    ))?;
    match p {
        Value::Object(m) => {
            m.insert(last, value);
        }
        Value::Array(a) => {
            if last == "-" {
                a.push(value);
            } else {
                let i: usize = last.parse().map_err(|_| format!("invalid index {last}"))?;
                if insert && i <= a.len() {
                    a.insert(i, value);
                } else if !insert && i < a.len() {
                    a[i] = value;
                } else {
                    return Err(format!("index out of range: {path}"));
                }
            }
        }
        _ => {
            return Err(format!(
                "add operation does not apply: doc is missing path: \"{path}\""
            ));
        }
    }
    Ok(())
}

fn remove_pointer(target: &mut Value, path: &str) -> Option<Value> {
    let (parent, last) = split_pointer(path).ok()?;
    match target.pointer_mut(&parent)? {
        Value::Object(m) => m.remove(&last),
        Value::Array(a) => {
            let i: usize = last.parse().ok()?;
            (i < a.len()).then(|| a.remove(i))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_v1_roundtrip() {
        let obj = json!({"apiVersion": "v1", "kind": "X", "metadata": {"name": "a", "labels": {"app": "x"}},
            "spec": {"mtls": {"mode": "STRICT"}, "list": [1, 2]}});
        let set = leaf_paths(&obj, false);
        let fv = to_fields_v1(&set, &BTreeSet::new());
        assert_eq!(
            fv,
            json!({"f:metadata": {"f:labels": {"f:app": {}}}, "f:spec": {"f:list": {}, "f:mtls": {"f:mode": {}}}})
        );
        assert_eq!(from_fields_v1(&fv), set);
    }

    #[test]
    fn apply_conflict_and_force() {
        let base =
            json!({"apiVersion": "v1", "kind": "X", "metadata": {"name": "a"}, "spec": {"mode": "STRICT"}});
        let a = apply(
            &json!({"metadata": {"name": "a"}}),
            &base,
            "one",
            "v1",
            false,
            "t",
            false,
        )
        .unwrap();
        let other =
            json!({"apiVersion": "v1", "kind": "X", "metadata": {"name": "a"}, "spec": {"mode": "DISABLE"}});
        let err = apply(&a, &other, "two", "v1", false, "t", false).unwrap_err();
        assert_eq!(err[0].manager, "\"one\"");
        assert_eq!(path_string(&err[0].path), ".spec.mode");
        let forced = apply(&a, &other, "two", "v1", true, "t", false).unwrap();
        assert_eq!(forced["spec"]["mode"], "DISABLE");
        assert_eq!(forced["metadata"]["managedFields"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn apply_removes_dropped_fields() {
        let first = json!({"metadata": {"name": "a"}, "spec": {"a": 1, "b": 2}});
        let m = apply(
            &json!({"metadata": {"name": "a"}}),
            &first,
            "one",
            "v1",
            false,
            "t",
            false,
        )
        .unwrap();
        let second = json!({"metadata": {"name": "a"}, "spec": {"a": 1}});
        let m2 = apply(&m, &second, "one", "v1", false, "t", false).unwrap();
        assert_eq!(m2["spec"], json!({"a": 1}));
    }

    #[test]
    fn strategic_merge_by_name() {
        let mut v = json!({"spec": {"containers": [{"name": "a", "image": "1", "ports": [{"containerPort": 80}]},
            {"name": "b", "image": "2"}]}});
        strategic_merge_patch(
            &mut v,
            &json!({"spec": {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}],
            "containers": [{"name": "a", "image": "3"}, {"name": "b", "$patch": "delete"}]}}),
        );
        assert_eq!(
            v,
            json!({"spec": {"containers": [{"name": "a", "image": "3", "ports": [{"containerPort": 80}]}]}})
        );
    }

    #[test]
    fn keyed_lists_for_built_in_kinds() {
        let base =
            json!({"metadata": {"name": "d"}, "spec": {"containers": [{"name": "app", "image": "a:1"}]}});
        let first = apply(
            &json!({"metadata": {"name": "d"}}),
            &base,
            "one",
            "v1",
            false,
            "t",
            true,
        )
        .unwrap();
        let fv = &first["metadata"]["managedFields"][0]["fieldsV1"];
        assert_eq!(
            fv["f:spec"]["f:containers"]["k:{\"name\":\"app\"}"],
            json!({".": {}, "f:image": {}, "f:name": {}})
        );
        // Another manager adds a sidecar without touching "app": no conflict, both kept.
        let sidecar =
            json!({"metadata": {"name": "d"}, "spec": {"containers": [{"name": "proxy", "image": "p:1"}]}});
        let both = apply(&first, &sidecar, "two", "v1", false, "t", true).unwrap();
        assert_eq!(both["spec"]["containers"].as_array().unwrap().len(), 2);
        // Changing app's image as "two" conflicts with "one" on that field only.
        let change =
            json!({"metadata": {"name": "d"}, "spec": {"containers": [{"name": "app", "image": "a:2"}]}});
        let err = apply(&both, &change, "two", "v1", false, "t", true).unwrap_err();
        assert_eq!(path_string(&err[0].path), ".spec.containers[name=\"app\"].image");
        // "two" stops applying its sidecar: the element goes away.
        let dropped = apply(
            &both,
            &json!({"metadata": {"name": "d"}}),
            "two",
            "v1",
            false,
            "t",
            true,
        )
        .unwrap();
        let names: Vec<&str> = dropped["spec"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["app"]);
        assert_eq!(from_fields_v1(fv), leaf_paths(&base, true));
    }

    #[test]
    fn patches() {
        let mut v = json!({"a": {"b": 1, "c": 2}});
        merge_patch(&mut v, &json!({"a": {"b": null, "d": 3}}));
        assert_eq!(v, json!({"a": {"c": 2, "d": 3}}));
        json_patch(
            &mut v,
            &json!([{"op": "replace", "path": "/a/c", "value": 5}, {"op": "add", "path": "/x", "value": []},
            {"op": "add", "path": "/x/-", "value": 1}, {"op": "remove", "path": "/a/d"}]),
        )
        .unwrap();
        assert_eq!(v, json!({"a": {"c": 5}, "x": [1]}));
    }
}
