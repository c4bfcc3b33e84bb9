//! The HTTP front end: authentication, impersonation, RBAC, discovery, the
//! REST verbs, content negotiation (JSON, Table, PartialObjectMetadata),
//! watch streams, exec over WebSocket, and the request log.

use axum::body::{Body, Bytes};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::cluster::{Cluster, ObjKey, WriteOpts, present};
use crate::exec::{ExecConfig, ExecRequest};
use crate::resources::{self, ResourceType};
use crate::scenario::User;
use crate::selector::{FieldSelector, LabelSelector};
use crate::status::ApiError;
use crate::table;
use crate::util;

/// One request as the server saw it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RequestRecord {
    /// HTTP method.
    pub method: String,
    /// URL path.
    pub path: String,
    /// Raw query string ("" when none).
    pub query: String,
    /// Effective user (after impersonation); "" when authentication failed.
    pub user: String,
    /// Kubernetes verb (get, list, watch, create, update, patch, delete,
    /// deletecollection) or the lower-cased method for non-resource URLs.
    pub verb: String,
    /// API group of a resource request.
    pub api_group: String,
    /// Resource (plural) of a resource request; "" otherwise.
    pub resource: String,
    /// Subresource (exec, status...).
    pub subresource: String,
    /// Namespace of the request.
    pub namespace: String,
    /// Object name.
    pub name: String,
    /// Whether `dryRun=All` was set.
    pub dry_run: bool,
    /// Response status code (0 when the connection was dropped without an answer).
    pub status: u16,
    /// The client's User-Agent.
    pub user_agent: String,
    /// The Accept header (tells Table, PartialObjectMetadata and plain JSON requests apart).
    pub accept: String,
    /// The Content-Type of the body (patch type for PATCH).
    pub content_type: String,
    /// The injected fault this request met ([`crate::Fault::name`]); "" when none.
    pub fault: String,
    /// Whether the request carried an `Authorization` header (credentials).
    pub authorization: bool,
}

impl RequestRecord {
    /// Whether this request could have changed the cluster (a non-dry-run write that succeeded).
    pub fn is_persisted_write(&self) -> bool {
        matches!(
            self.verb.as_str(),
            "create" | "update" | "patch" | "delete" | "deletecollection"
        ) && !self.dry_run
            && (200..300).contains(&self.status)
            && !matches!(self.subresource.as_str(), "exec" | "portforward")
    }
    /// Query parameter value (first occurrence, decoded).
    pub fn query_param(&self, key: &str) -> Option<String> {
        parse_query(&self.query)
            .into_iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }
}

pub(crate) struct App {
    pub cluster: Cluster,
    pub users: Vec<User>,
    pub exec: ExecConfig,
    pub log: Mutex<Vec<RequestRecord>>,
    pub faults: crate::faults::Faults,
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match u8::from_str_radix(&s[i + 1..i + 3], 16) {
                Ok(v) => {
                    out.push(v);
                    i += 2;
                }
                Err(_) => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub(crate) fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (percent_decode(k), percent_decode(v)),
            None => (percent_decode(p), String::new()),
        })
        .collect()
}

pub(crate) struct Query(pub(crate) Vec<(String, String)>);

impl Query {
    pub(crate) fn get(&self, k: &str) -> Option<&str> {
        self.0.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str())
    }
    pub(crate) fn all(&self, k: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .collect()
    }
    pub(crate) fn flag(&self, k: &str) -> bool {
        matches!(self.get(k), Some("true" | "1" | ""))
    }
}

/// A parsed resource URL.
#[derive(Debug, Default, Clone)]
pub(crate) struct Target {
    pub(crate) group: String,
    pub(crate) version: String,
    pub(crate) namespace: Option<String>,
    pub(crate) plural: String,
    pub(crate) name: Option<String>,
    pub(crate) sub: Option<String>,
}

pub(crate) fn parse_target(path: &str) -> Option<Target> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match parts.as_slice() {
        ["api", v, rest @ ..] => (String::new(), v.to_string(), rest),
        ["apis", g, v, rest @ ..] => (g.to_string(), v.to_string(), rest),
        _ => return None,
    };
    let mut t = Target {
        group,
        version,
        ..Default::default()
    };
    match rest {
        [] => return None,
        ["namespaces", ns, plural, tail @ ..]
            if !(tail.is_empty() && matches!(*plural, "status" | "finalize")) =>
        {
            t.namespace = Some(ns.to_string());
            t.plural = plural.to_string();
            t.name = tail.first().map(|s| s.to_string());
            t.sub = tail.get(1).map(|s| s.to_string());
            if tail.len() > 2 {
                return None;
            }
        }
        [plural, tail @ ..] => {
            t.plural = plural.to_string();
            t.name = tail.first().map(|s| s.to_string());
            t.sub = tail.get(1).map(|s| s.to_string());
            if tail.len() > 2 {
                return None;
            }
        }
    }
    Some(t)
}

fn json_response(code: u16, v: &Value) -> Response {
    bytes_response(
        code,
        "application/json",
        serde_json::to_vec(v).unwrap_or_default(),
    )
}

fn bytes_response(code: u16, content_type: &str, body: Vec<u8>) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(content_type).unwrap_or(HeaderValue::from_static("application/json")),
    );
    r
}

pub(crate) fn error_response(e: &ApiError) -> Response {
    json_response(e.code, &e.to_json())
}

pub(crate) fn not_found_page() -> ApiError {
    ApiError {
        code: 404,
        reason: "NotFound",
        message: "the server could not find the requested resource".into(),
        details: Some(json!({})),
    }
}

/// The identity a request runs as.
#[derive(Clone, Debug)]
pub(crate) struct Identity {
    name: String,
    admin: bool,
    rules: Vec<crate::scenario::Rule>,
}

impl App {
    fn authenticate(&self, headers: &HeaderMap) -> Result<Identity, ApiError> {
        let unauthorized = || ApiError::new(401, "Unauthorized", "Unauthorized");
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(unauthorized)?
            .strip_prefix("Bearer ")
            .ok_or_else(unauthorized)?
            .trim();
        let user = self
            .users
            .iter()
            .find(|u| u.token == token)
            .ok_or_else(unauthorized)?;
        let me = Identity {
            name: user.name.clone(),
            admin: user.is_admin(),
            rules: user.rules.clone(),
        };
        let Some(target) = headers.get("impersonate-user").and_then(|v| v.to_str().ok()) else {
            return Ok(me);
        };
        let may = me.admin || me.rules.iter().any(|r| r.allows("impersonate", "", "users", ""));
        if !may {
            return Err(ApiError::forbidden(
                "",
                "users",
                target,
                format!(
                    "User {:?} cannot impersonate resource \"users\" in API group \"\" at the cluster scope",
                    me.name
                ),
            ));
        }
        let groups: Vec<String> = headers
            .get_all("impersonate-group")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::to_string)
            .collect();
        let known = self.users.iter().find(|u| u.name == target);
        Ok(Identity {
            name: target.to_string(),
            admin: groups.iter().any(|g| g == "system:masters")
                || (groups.is_empty() && known.is_some_and(User::is_admin)),
            rules: known.map(|u| u.rules.clone()).unwrap_or_default(),
        })
    }
}

pub(crate) fn authorize(
    id: &Identity,
    verb: &str,
    group: &str,
    resource: &str,
    sub: Option<&str>,
    ns: &str,
    name: &str,
) -> Result<(), ApiError> {
    let full = match sub {
        Some(s) => format!("{resource}/{s}"),
        None => resource.to_string(),
    };
    if id.admin || id.rules.iter().any(|r| r.allows(verb, group, &full, ns)) {
        return Ok(());
    }
    let scope = if ns.is_empty() {
        "at the cluster scope".to_string()
    } else {
        format!("in the namespace {ns:?}")
    };
    let reason = format!(
        "User {:?} cannot {verb} resource {full:?} in API group {group:?} {scope}",
        id.name
    );
    Err(ApiError::forbidden(group, resource, name, reason))
}

/// The field manager kube-apiserver records for a write that names none: the User-Agent up to
/// its first `/`, without unprintable characters, at most 128 bytes; `unknown` when that leaves
/// nothing (no User-Agent, or one starting with `/`).
pub(crate) fn manager_from_user_agent(user_agent: &str) -> String {
    let mut out = String::new();
    for c in user_agent.split('/').next().unwrap_or("").chars() {
        // Go's unicode.IsPrint: no control characters, and no spaces but ' '.
        if c.is_control() || (c.is_whitespace() && c != ' ') {
            continue;
        }
        if out.len() + c.len_utf8() > 128 {
            break;
        }
        out.push(c);
    }
    if out.is_empty() {
        out.push_str("unknown");
    }
    out
}

pub(crate) async fn handle(State(app): State<Arc<App>>, req: Request) -> Response {
    let (mut parts, body) = req.into_parts();
    let mut rec = RequestRecord {
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().unwrap_or("").to_string(),
        user_agent: parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string(),
        accept: accept(&parts.headers),
        content_type: header_str(&parts.headers, header::CONTENT_TYPE),
        authorization: parts.headers.contains_key(header::AUTHORIZATION),
        ..Default::default()
    };
    let query = Query(parse_query(&rec.query));
    rec.dry_run = query.all("dryRun").iter().any(|v| v == "All");
    let response = match app.authenticate(&parts.headers) {
        Err(e) => error_response(&e),
        Ok(id) => 'served: {
            rec.user = id.name.clone();
            let fault = app.faults.take(parts.method.as_str(), &mut rec);
            if let Some(early) = fault.before().await {
                break 'served early;
            }
            let is_exec = parse_target(&rec.path).is_some_and(|t| {
                t.group.is_empty()
                    && t.plural == "pods"
                    && matches!(t.sub.as_deref(), Some("exec" | "attach"))
            });
            let is_portforward = parse_target(&rec.path).is_some_and(|t| {
                t.group.is_empty() && t.plural == "pods" && t.sub.as_deref() == Some("portforward")
            });
            let response = if is_exec {
                exec_request(&app, &id, &mut parts, &query, &mut rec, fault.exec()).await
            } else if is_portforward {
                crate::portforward::request(&app, &id, &mut parts, &query, &mut rec).await
            } else {
                let body = axum::body::to_bytes(body, 64 << 20).await.unwrap_or_default();
                route(&app, &id, &parts.method, &parts.headers, &query, body, &mut rec).await
            };
            fault.after(response).await
        }
    };
    // A connection dropped by an injected fault got no answer at all.
    rec.status = if rec.fault == crate::Fault::Disconnect.name() {
        0
    } else {
        response.status().as_u16()
    };
    app.log.lock().unwrap_or_else(|e| e.into_inner()).push(rec);
    response
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> String {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

fn accept(headers: &HeaderMap) -> String {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

async fn route(
    app: &Arc<App>,
    id: &Identity,
    method: &Method,
    headers: &HeaderMap,
    query: &Query,
    body: Bytes,
    rec: &mut RequestRecord,
) -> Response {
    let path = rec.path.clone();
    let accept = accept(headers);
    let reg = app.cluster.registry();
    // Non-resource URLs.
    let non_resource = match path.trim_end_matches('/') {
        "/version" => Some(json_response(200, &version_info())),
        "/healthz" | "/livez" | "/readyz" => Some(bytes_response(200, "text/plain", b"ok".to_vec())),
        "/api" => Some(if accept.contains("as=APIGroupDiscoveryList") {
            discovery_v2(&reg, true)
        } else {
            json_response(
                200,
                &json!({"kind": "APIVersions", "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:443"}]}),
            )
        }),
        "/apis" => Some(if accept.contains("as=APIGroupDiscoveryList") {
            discovery_v2(&reg, false)
        } else {
            json_response(
                200,
                &json!({"kind": "APIGroupList", "apiVersion": "v1",
                "groups": reg.groups().iter().map(|(g, vs)| group_json(g, vs)).collect::<Vec<_>>()}),
            )
        }),
        "/api/v1" => Some(json_response(
            200,
            &json!({"kind": "APIResourceList", "groupVersion": "v1",
            "resources": resources::api_resources(&reg.in_group_version("", "v1"))}),
        )),
        "/openapi/v3" => Some(json_response(200, &openapi_index(&reg))),
        p if p.starts_with("/openapi/v3/") => Some(openapi_gv(&reg, p)),
        p if p.starts_with("/apis/") && p.matches('/').count() <= 3 => {
            let segs: Vec<&str> = p.trim_start_matches("/apis/").split('/').collect();
            let groups = reg.groups();
            Some(match segs.as_slice() {
                [g] => match groups.iter().find(|(name, _)| name == g) {
                    Some((g, vs)) => json_response(200, &{
                        let mut v = group_json(g, vs);
                        v["kind"] = json!("APIGroup");
                        v["apiVersion"] = json!("v1");
                        v
                    }),
                    None => error_response(&not_found_page()),
                },
                [g, v] => {
                    let types = reg.in_group_version(g, v);
                    if types.is_empty() {
                        error_response(&not_found_page())
                    } else {
                        json_response(
                            200,
                            &json!({"kind": "APIResourceList", "apiVersion": "v1",
                            "groupVersion": format!("{g}/{v}"), "resources": resources::api_resources(&types)}),
                        )
                    }
                }
                _ => error_response(&not_found_page()),
            })
        }
        _ => None,
    };
    if let Some(r) = non_resource {
        rec.verb = method.as_str().to_lowercase();
        return r;
    }
    let Some(target) = parse_target(&path) else {
        rec.verb = method.as_str().to_lowercase();
        return error_response(&not_found_page());
    };
    rec.api_group = target.group.clone();
    rec.resource = target.plural.clone();
    rec.subresource = target.sub.clone().unwrap_or_default();
    rec.namespace = target.namespace.clone().unwrap_or_default();
    rec.name = target.name.clone().unwrap_or_default();
    let watch = query.flag("watch");
    let verb = match (method.as_str(), target.name.is_some()) {
        ("GET", true) => "get",
        ("GET", false) if watch => "watch",
        ("GET", false) => "list",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", true) => "delete",
        ("DELETE", false) => "deletecollection",
        _ => "unknown",
    };
    rec.verb = verb.to_string();
    let Some(t) = reg.lookup(&target.group, &target.version, &target.plural) else {
        return error_response(&not_found_page());
    };
    if let Some(sub) = &target.sub
        && !t.subresources.iter().any(|s| &s.name == sub)
    {
        return error_response(&not_found_page());
    }
    let ns = target.namespace.clone().unwrap_or_default();
    if !t.namespaced && target.namespace.is_some() {
        return error_response(&not_found_page());
    }
    if t.group == "authorization.k8s.io" {
        return match verb {
            "create" => self_subject_review(
                id,
                &t,
                &body,
                headers
                    .get(header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or(""),
            ),
            _ => error_response(&ApiError::method_not_allowed(
                "the server does not allow this method on the requested resource",
            )),
        };
    }
    // The RBAC authorizer sees a request for one namespace object as made in that namespace
    // (a RoleBinding there grants `get` on it), as kube-apiserver does.
    let authz_ns = match (t.group.as_str(), t.plural.as_str(), target.name.as_deref()) {
        ("", "namespaces", Some(name)) => name.to_string(),
        _ => ns.clone(),
    };
    if let Err(e) = authorize(
        id,
        verb,
        &t.group,
        &t.plural,
        target.sub.as_deref(),
        &authz_ns,
        target.name.as_deref().unwrap_or(""),
    ) {
        return error_response(&e);
    }
    // Like the real API server, a server-side apply that would create the object also needs
    // the `create` verb (found by tests/kube-sim/tests/fidelity.rs against kube-apiserver).
    let is_apply = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/apply-patch"));
    if verb == "patch"
        && is_apply
        && let Some(name) = target.name.as_deref()
        && target.sub.is_none()
        && app.cluster.get_obj(&t, &ns, name).is_none()
        && let Err(e) = authorize(id, "create", &t.group, &t.plural, None, &ns, name)
    {
        return error_response(&e);
    }
    // dryRun accepts only "All" (kube-apiserver validates the options of every write).
    let bad_dry_run: Vec<String> = query
        .all("dryRun")
        .iter()
        .filter(|v| v.as_str() != "All")
        .map(|v| v.to_string())
        .collect();
    let options = match verb {
        "create" => Some("CreateOptions"),
        "update" => Some("UpdateOptions"),
        "patch" => Some("PatchOptions"),
        "delete" | "deletecollection" => Some("DeleteOptions"),
        _ => None,
    };
    if let (Some(kind), false) = (options, bad_dry_run.is_empty()) {
        return error_response(&ApiError::invalid(
            kind,
            "meta.k8s.io",
            "",
            vec![crate::status::Cause {
                reason: "FieldValueNotSupported",
                message: format!("Unsupported value: {bad_dry_run:?}: supported values: \"All\""),
                field: "dryRun".into(),
            }],
        ));
    }
    let result = resource_request(app, &t, &target, verb, headers, query, &body, &accept, rec).await;
    match result {
        Ok(r) => r,
        Err(e) => error_response(&e),
    }
}

/// SelfSubjectAccessReview / SelfSubjectRulesReview (`kubectl auth can-i`).
fn self_subject_review(id: &Identity, t: &ResourceType, body: &[u8], ct: &str) -> Response {
    let mut review: Value = match parse_body(body, ct) {
        Ok(v) => v,
        Err(e) => return error_response(&e),
    };
    if t.plural == "selfsubjectaccessreviews" {
        let attrs = review
            .pointer("/spec/resourceAttributes")
            .cloned()
            .unwrap_or(json!({}));
        let s = |k: &str| attrs.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let (allowed, reason) = if review.pointer("/spec/nonResourceAttributes").is_some() {
            (
                true,
                "RBAC: allowed by ClusterRoleBinding \"system:discovery\"".to_string(),
            )
        } else {
            let sub = s("subresource");
            let ok = authorize(
                id,
                &s("verb"),
                &s("group"),
                &s("resource"),
                (!sub.is_empty()).then_some(sub.as_str()),
                &s("namespace"),
                &s("name"),
            )
            .is_ok();
            let reason = match (ok, id.admin) {
                (true, true) => "RBAC: allowed by ClusterRoleBinding \"cluster-admin\" of ClusterRole \"cluster-admin\" to Group \"system:masters\"".to_string(),
                (true, false) => format!("RBAC: allowed by kube-sim rules of User {:?}", id.name),
                (false, _) => String::new(),
            };
            (ok, reason)
        };
        review["status"] = json!({"allowed": allowed});
        if !reason.is_empty() {
            review["status"]["reason"] = json!(reason);
        }
    } else {
        let ns = review
            .pointer("/spec/namespace")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let rules: Vec<Value> = if id.admin {
            vec![json!({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]})]
        } else {
            id.rules
                .iter()
                .filter(|r| r.namespaces.as_ref().is_none_or(|n| n.iter().any(|x| x == &ns || x == "*")))
                .map(|r| json!({"verbs": r.verbs, "apiGroups": r.api_groups.clone().unwrap_or_else(|| vec!["*".into()]), "resources": r.resources}))
                .collect()
        };
        review["status"] = json!({"resourceRules": rules,
            "nonResourceRules": [{"verbs": ["get"], "nonResourceURLs": ["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*", "/readyz", "/version", "/version/"]}],
            "incomplete": false});
    }
    review["metadata"] = json!({"creationTimestamp": null});
    json_response(201, &review)
}

fn group_json(g: &str, vs: &[String]) -> Value {
    json!({
        "name": g,
        "versions": vs.iter().map(|v| json!({"groupVersion": format!("{g}/{v}"), "version": v})).collect::<Vec<_>>(),
        "preferredVersion": {"groupVersion": format!("{g}/{}", vs[0]), "version": vs[0]},
    })
}

fn version_info() -> Value {
    json!({"major": "1", "minor": "33", "emulationMajor": "1", "emulationMinor": "33",
        "minCompatibilityMajor": "1", "minCompatibilityMinor": "32", "gitVersion": "v1.33.0",
        "gitCommit": "60a317eadfcb839692a68eab88b2096f4d708f4f", "gitTreeState": "clean",
        "buildDate": "2025-04-23T13:00:00Z", "goVersion": "go1.24.2", "compiler": "gc", "platform": "linux/amd64"})
}

fn discovery_v2(reg: &resources::Registry, core: bool) -> Response {
    let items: Vec<Value> = if core {
        vec![
            json!({"metadata": {"creationTimestamp": null}, "versions": [{"version": "v1",
            "resources": reg.in_group_version("", "v1").iter().map(|t| resources::discovery_v2_resource(t, "v1")).collect::<Vec<_>>(),
            "freshness": "Current"}]}),
        ]
    } else {
        reg.groups()
            .iter()
            .map(|(g, vs)| {
                json!({"metadata": {"name": g, "creationTimestamp": null}, "versions": vs.iter().map(|v| json!({
                    "version": v,
                    "resources": reg.in_group_version(g, v).iter().map(|t| resources::discovery_v2_resource(t, v)).collect::<Vec<_>>(),
                    "freshness": "Current",
                })).collect::<Vec<_>>()})
            })
            .collect()
    };
    let body = json!({"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {}, "items": items});
    bytes_response(
        200,
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList",
        serde_json::to_vec(&body).unwrap_or_default(),
    )
}

fn gv_path(g: &str, v: &str) -> String {
    if g.is_empty() {
        format!("api/{v}")
    } else {
        format!("apis/{g}/{v}")
    }
}

fn openapi_index(reg: &resources::Registry) -> Value {
    let mut paths = serde_json::Map::new();
    let mut gvs = vec![(String::new(), "v1".to_string())];
    for (g, vs) in reg.groups() {
        for v in vs {
            gvs.push((g.clone(), v));
        }
    }
    for (g, v) in gvs {
        let p = gv_path(&g, &v);
        paths.insert(
            p.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{p}?hash=kube-sim")}),
        );
    }
    json!({"paths": paths})
}

/// A minimal OpenAPI v3 document per group/version: enough for kubectl to see
/// that PATCH supports `fieldValidation` (server-side field validation).
fn openapi_gv(reg: &resources::Registry, path: &str) -> Response {
    let rest = path.trim_start_matches("/openapi/v3/");
    let (g, v) = match rest.split('/').collect::<Vec<_>>().as_slice() {
        ["api", v] => (String::new(), v.to_string()),
        ["apis", g, v] => (g.to_string(), v.to_string()),
        _ => return error_response(&not_found_page()),
    };
    let types = reg.in_group_version(&g, &v);
    if types.is_empty() {
        return error_response(&not_found_page());
    }
    let mut paths = serde_json::Map::new();
    let mut schemas = serde_json::Map::new();
    let params = json!([
        {"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
        {"name": "fieldManager", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
        {"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
        {"name": "force", "in": "query", "schema": {"type": "boolean", "uniqueItems": true}},
    ]);
    for t in types {
        let gvk = json!({"group": t.group, "version": v, "kind": t.kind});
        let base = if t.namespaced {
            format!("/{}/namespaces/{{namespace}}/{}", gv_path(&g, &v), t.plural)
        } else {
            format!("/{}/{}", gv_path(&g, &v), t.plural)
        };
        let op = |action: &str| {
            json!({"x-kubernetes-action": action, "x-kubernetes-group-version-kind": gvk, "parameters": params,
            "responses": {"200": {"description": "OK"}}})
        };
        paths.insert(base.clone(), json!({"post": op("post"), "get": op("list")}));
        paths.insert(
            format!("{base}/{{name}}"),
            json!({"get": op("get"), "put": op("put"), "patch": op("patch"), "delete": op("delete")}),
        );
        let schema_name = if t.group.is_empty() {
            format!("io.k8s.api.core.{v}.{}", t.kind)
        } else {
            let rev: Vec<&str> = t.group.split('.').rev().collect();
            format!("{}.{v}.{}", rev.join("."), t.kind)
        };
        let mut schema = t
            .schema
            .as_deref()
            .cloned()
            .unwrap_or_else(|| json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}));
        schema["x-kubernetes-group-version-kind"] = json!([gvk]);
        schemas.insert(schema_name, schema);
    }
    json_response(
        200,
        &json!({"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.33.0"},
        "paths": paths, "components": {"schemas": schemas}}),
    )
}

#[derive(serde::Serialize, serde::Deserialize)]
struct ContinueToken {
    ns: String,
    name: String,
    rv: u64,
}

fn decode_continue(s: &str) -> Result<ObjKey, ApiError> {
    let bad = || {
        ApiError::bad_request(
            "continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)",
        )
    };
    let bytes = util::hex_decode(s).ok_or_else(bad)?;
    let t: ContinueToken = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    Ok((t.ns, t.name))
}

fn encode_continue(k: &ObjKey, rv: u64) -> String {
    util::hex_encode(
        &serde_json::to_vec(&ContinueToken {
            ns: k.0.clone(),
            name: k.1.clone(),
            rv,
        })
        .unwrap_or_default(),
    )
}

#[allow(clippy::too_many_arguments)]
async fn resource_request(
    app: &Arc<App>,
    t: &Arc<ResourceType>,
    target: &Target,
    verb: &str,
    headers: &HeaderMap,
    query: &Query,
    body: &Bytes,
    accept: &str,
    rec: &mut RequestRecord,
) -> Result<Response, ApiError> {
    let cluster = &app.cluster;
    let ns = target.namespace.as_deref();
    let ns_str = ns.unwrap_or("");
    let version = target.version.as_str();
    let name = target.name.as_deref().unwrap_or("");
    let status_only = target.sub.as_deref() == Some("status");
    let field_validation = query.get("fieldValidation").unwrap_or("");
    if !matches!(field_validation, "" | "Ignore" | "Warn" | "Strict") {
        return Err(ApiError::bad_request(format!(
            "fieldValidation must be one of \"Ignore\", \"Warn\", \"Strict\", got {field_validation:?}"
        )));
    }
    let opts = WriteOpts {
        dry_run: rec.dry_run,
        field_manager: Some(
            query
                .get("fieldManager")
                .filter(|m| !m.is_empty())
                .map(str::to_string)
                .unwrap_or_else(|| manager_from_user_agent(&rec.user_agent)),
        ),
        strict: field_validation == "Strict",
        keep_meta: false,
    };
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    match verb {
        "get" if target.sub.as_deref() == Some("log") => pod_log(app, t, ns_str, name, query),
        "get" => {
            let obj = cluster
                .get_obj(t, ns_str, name)
                .ok_or_else(|| ApiError::not_found(t, name))?;
            let obj = present(&obj, t, version);
            if accept.contains("as=Table") {
                let include = query.get("includeObject").unwrap_or("Metadata");
                return Ok(json_response(
                    200,
                    &json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1",
                    "metadata": {"resourceVersion": util::str_at(&obj, "/metadata/resourceVersion")},
                    "columnDefinitions": table::columns(t),
                    "rows": [{"cells": table::cells(t, &obj), "object": table::row_object(&obj, include)}]}),
                ));
            }
            if accept.contains("as=PartialObjectMetadata") {
                return Ok(json_response(200, &table::metadata_only(&obj)));
            }
            Ok(json_response(200, &obj))
        }
        "list" => list(app, t, target, query, accept),
        "watch" => watch(app, t, target, query, accept),
        "create" => {
            if target.name.is_some() {
                return Err(ApiError::method_not_allowed(
                    "the server does not allow this method on the requested resource",
                ));
            }
            let obj = parse_body(body, &ct)?;
            let w = cluster.create(t, version, ns, obj, &opts)?;
            Ok(write_response(201, &present(&w.object, t, version), &w.warnings))
        }
        "update" => {
            let obj = parse_body(body, &ct)?;
            let w = cluster.update(t, version, ns, name, obj, &opts, status_only)?;
            Ok(write_response(200, &present(&w.object, t, version), &w.warnings))
        }
        "patch" => {
            if ct.starts_with("application/apply-patch+yaml")
                || ct.starts_with("application/apply-patch+cbor")
            {
                let manager = query.get("fieldManager").unwrap_or("");
                if manager.is_empty() {
                    return Err(ApiError::invalid(
                        "PatchOptions",
                        "meta.k8s.io",
                        "",
                        vec![crate::status::Cause {
                            reason: "FieldValueRequired",
                            message: "Required value: is required for apply patch".into(),
                            field: "fieldManager".into(),
                        }],
                    ));
                }
                let text = std::str::from_utf8(body)
                    .map_err(|_| ApiError::bad_request("apply patch is not UTF-8"))?;
                let applied: Value = serde_saphyr::from_str(text)
                    .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?;
                if !applied.is_object() {
                    return Err(ApiError::bad_request(
                        "error decoding YAML: the applied object is not a map",
                    ));
                }
                let force = query.flag("force");
                let w = cluster.apply(t, version, ns, name, applied, manager, force, &opts)?;
                return Ok(write_response(
                    if w.created { 201 } else { 200 },
                    &present(&w.object, t, version),
                    &w.warnings,
                ));
            }
            if query.get("force").is_some() {
                return Err(ApiError::invalid(
                    "PatchOptions",
                    "meta.k8s.io",
                    "",
                    vec![crate::status::Cause {
                        reason: "FieldValueForbidden",
                        message: "Forbidden: may not be specified for non-apply patch".into(),
                        field: "force".into(),
                    }],
                ));
            }
            if !(ct.starts_with("application/merge-patch+json")
                || ct.starts_with("application/strategic-merge-patch+json")
                || ct.starts_with("application/json-patch+json"))
            {
                return Err(ApiError::new(
                    415,
                    "UnsupportedMediaType",
                    "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
                ));
            }
            let w = cluster.patch(t, version, ns, name, &ct, body, &opts, status_only)?;
            Ok(write_response(200, &present(&w.object, t, version), &w.warnings))
        }
        "delete" => {
            // DeleteOptions may come in the body (client-go and kube-rs send them there):
            // `dryRun` and `preconditions` are honoured as kube-apiserver does.
            let options = delete_options(body)?;
            if let Some(values) = options.get("dryRun").and_then(Value::as_array) {
                let bad: Vec<String> = values
                    .iter()
                    .map(|v| v.as_str().unwrap_or("").to_string())
                    .filter(|v| v != "All")
                    .collect();
                if !bad.is_empty() {
                    return Err(ApiError::invalid(
                        "DeleteOptions",
                        "meta.k8s.io",
                        "",
                        vec![crate::status::Cause {
                            reason: "FieldValueNotSupported",
                            message: format!("Unsupported value: {bad:?}: supported values: \"All\""),
                            field: "dryRun".into(),
                        }],
                    ));
                }
                if !values.is_empty() {
                    rec.dry_run = true;
                }
            }
            let preconditions = options.get("preconditions").cloned().unwrap_or(Value::Null);
            let obj = cluster.delete_checked(t, ns_str, name, rec.dry_run, &preconditions)?;
            // kube-apiserver answers an immediate deletion with a Status (pods and namespaces
            // are deleted gracefully there and answer with the object).
            if !(t.group.is_empty() && matches!(t.plural.as_str(), "pods" | "namespaces")) {
                let uid = util::str_at(&obj, "/metadata/uid").to_string();
                let mut details = json!({"name": name, "kind": t.plural, "uid": uid});
                if !t.group.is_empty() {
                    details["group"] = json!(t.group);
                }
                return Ok(json_response(
                    200,
                    &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                        "details": details}),
                ));
            }
            Ok(json_response(200, &present(&obj, t, version)))
        }
        "deletecollection" => {
            let sel = LabelSelector::parse(query.get("labelSelector").unwrap_or(""))?;
            let (items, _, _) = cluster.list_page(t, ns, None, None, |o| sel.matches(o));
            let mut deleted = Vec::new();
            for item in items {
                let n = util::str_at(&item.index, "/metadata/name").to_string();
                let ins = util::str_at(&item.index, "/metadata/namespace").to_string();
                if let Ok(o) = cluster.delete_obj(t, &ins, &n, rec.dry_run) {
                    deleted.push(present(&o, t, version));
                }
            }
            Ok(json_response(
                200,
                &json!({"kind": t.list_kind, "apiVersion": t.api_version(version),
                "metadata": {"resourceVersion": cluster.resource_version().to_string()}, "items": deleted}),
            ))
        }
        _ => Err(ApiError::method_not_allowed(
            "the server does not allow this method on the requested resource",
        )),
    }
}

/// The container a `pods/exec` or `pods/log` request names, checked against the pod: the
/// `container` parameter, else the only container; the API server's messages otherwise.
fn pick_container(pod: &Value, query: &Query, name: &str) -> Result<String, ApiError> {
    let names = |key: &str| -> Vec<String> {
        pod.pointer(&format!("/spec/{key}"))
            .and_then(Value::as_array)
            .map(|cs| cs.iter().map(|c| util::str_at(c, "/name").to_string()).collect())
            .unwrap_or_default()
    };
    let (containers, inits) = (names("containers"), names("initContainers"));
    let container = match query.get("container").filter(|c| !c.is_empty()) {
        Some(c) => c.to_string(),
        None if containers.len() == 1 => containers[0].clone(),
        None => {
            let mut msg = format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                containers.join(" ")
            );
            if !inits.is_empty() {
                msg.push_str(&format!(" or one of the init containers: [{}]", inits.join(" ")));
            }
            return Err(ApiError::bad_request(msg));
        }
    };
    if !containers.contains(&container) && !inits.contains(&container) {
        return Err(ApiError::bad_request(format!(
            "container {container} is not valid for pod {name}"
        )));
    }
    Ok(container)
}

/// `pods/log`: the scripted text for the container.
fn pod_log(app: &App, t: &ResourceType, ns: &str, name: &str, query: &Query) -> Result<Response, ApiError> {
    let pod = app
        .cluster
        .get_obj(t, ns, name)
        .ok_or_else(|| ApiError::not_found(t, name))?;
    let container = pick_container(&pod, query, name)?;
    let text = app
        .exec
        .logs
        .iter()
        .find(|l| l.matches(ns, name, &container))
        .map_or("", |l| l.text.as_str());
    Ok(bytes_response(200, "text/plain", text.as_bytes().to_vec()))
}

fn parse_body(body: &[u8], ct: &str) -> Result<Value, ApiError> {
    if ct.contains("protobuf") {
        return crate::proto::decode_object(body).map_err(|e| ApiError::new(415, "UnsupportedMediaType", e));
    }
    if ct.contains("yaml") {
        let text = std::str::from_utf8(body).map_err(|_| ApiError::bad_request("body is not UTF-8"))?;
        return serde_saphyr::from_str(text)
            .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("couldn't get version/kind; json parse error: {e}")))
}

fn write_response(code: u16, obj: &Value, warnings: &[String]) -> Response {
    let mut r = json_response(code, obj);
    for w in warnings {
        if let Ok(v) = HeaderValue::from_str(&format!("299 - {w:?}")) {
            r.headers_mut().append(header::WARNING, v);
        }
    }
    r
}

fn list(
    app: &Arc<App>,
    t: &Arc<ResourceType>,
    target: &Target,
    query: &Query,
    accept: &str,
) -> Result<Response, ApiError> {
    let labels = LabelSelector::parse(query.get("labelSelector").unwrap_or(""))?;
    let fields = FieldSelector::parse(query.get("fieldSelector").unwrap_or(""))?;
    let limit = match query.get("limit") {
        Some(l) if !l.is_empty() => Some(
            l.parse::<usize>()
                .map_err(|_| ApiError::bad_request(format!("invalid limit {l:?}")))?,
        ),
        _ => None,
    }
    .filter(|l| *l > 0);
    let start = match query.get("continue") {
        Some(c) if !c.is_empty() => Some(decode_continue(c)?),
        _ => None,
    };
    let version = target.version.as_str();
    let (items, next, rv) =
        app.cluster
            .list_page(t, target.namespace.as_deref(), start.as_ref(), limit, |o| {
                (labels.is_empty() || labels.matches(o)) && (fields.is_empty() || fields.matches(o))
            });
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if let Some(k) = &next {
        meta["continue"] = json!(encode_continue(k, rv));
    }
    let api_version = t.api_version(version);
    if accept.contains("as=Table") {
        let include = query.get("includeObject").unwrap_or("Metadata");
        let rows: Vec<Value> = items
            .iter()
            .map(|e| {
                let mut obj = e.value();
                obj["apiVersion"] = json!(api_version);
                json!({"cells": table::cells(t, &obj), "object": table::row_object(&obj, include)})
            })
            .collect();
        let body = json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": meta,
            "columnDefinitions": table::columns(t), "rows": rows});
        return Ok(json_response(200, &body));
    }
    let metadata_only = accept.contains("as=PartialObjectMetadataList");
    let (kind, av) = if metadata_only {
        (
            "PartialObjectMetadataList".to_string(),
            "meta.k8s.io/v1".to_string(),
        )
    } else {
        (t.list_kind.clone(), api_version.clone())
    };
    // Copy the stored JSON text straight into the response.
    let mut out = Vec::with_capacity(items.len() * 2048 + 256);
    out.extend_from_slice(format!("{{\"kind\":{kind:?},\"apiVersion\":{av:?},\"metadata\":").as_bytes());
    serde_json::to_writer(&mut out, &meta).map_err(|e| ApiError::new(500, "InternalError", e.to_string()))?;
    out.extend_from_slice(b",\"items\":[");
    for (i, o) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let res = if metadata_only {
            // Items are meta.k8s.io/v1 PartialObjectMetadata, as kube-apiserver sends them.
            serde_json::to_writer(&mut out, &table::metadata_only(&o.value()))
        } else if util::str_at(&o.index, "/apiVersion") == api_version {
            out.extend_from_slice(o.json());
            Ok(())
        } else {
            let mut v = o.value();
            v["apiVersion"] = json!(api_version);
            serde_json::to_writer(&mut out, &v)
        };
        res.map_err(|e| ApiError::new(500, "InternalError", e.to_string()))?;
    }
    out.extend_from_slice(b"]}");
    Ok(bytes_response(200, "application/json", out))
}

fn watch(
    app: &Arc<App>,
    t: &Arc<ResourceType>,
    target: &Target,
    query: &Query,
    accept: &str,
) -> Result<Response, ApiError> {
    let labels = LabelSelector::parse(query.get("labelSelector").unwrap_or(""))?;
    let fields = FieldSelector::parse(query.get("fieldSelector").unwrap_or(""))?;
    let timeout = query
        .get("timeoutSeconds")
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(1800);
    let rv_param = query.get("resourceVersion").unwrap_or("").to_string();
    let mut rx = app.cluster.state.events.subscribe();
    let key = t.key();
    let ns = target.namespace.clone();
    let version = target.version.clone();
    let t2 = t.clone();
    let matches = move |o: &Value| {
        ns.as_deref()
            .is_none_or(|n| util::str_at(o, "/metadata/namespace") == n)
            && (labels.is_empty() || labels.matches(o))
            && (fields.is_empty() || fields.matches(o))
    };
    let mut initial: Vec<(&'static str, Arc<Value>)> = Vec::new();
    let mut last_rv;
    let send_initial = query.flag("sendInitialEvents");
    if rv_param.is_empty() || rv_param == "0" || send_initial {
        let (items, _, rv) = app
            .cluster
            .list_page(t, target.namespace.as_deref(), None, None, &matches);
        initial.extend(items.into_iter().map(|o| ("ADDED", Arc::new(o.value()))));
        last_rv = rv;
    } else {
        let since: u64 = rv_param
            .parse()
            .map_err(|_| ApiError::bad_request(format!("invalid resourceVersion {rv_param:?}")))?;
        last_rv = since;
        match app.cluster.events_since(since) {
            Some(evs) => {
                for e in evs.iter().filter(|e| e.key == key && matches(&e.object)) {
                    initial.push((e.kind, e.object.clone()));
                    last_rv = last_rv.max(e.rv);
                }
                last_rv = last_rv.max(evs.last().map_or(since, |e| e.rv));
            }
            None => {
                let gone = json!({"type": "ERROR", "object": ApiError::new(410, "Expired", format!("too old resource version: {since}")).to_json()});
                let mut line = serde_json::to_vec(&gone).unwrap_or_default();
                line.push(b'\n');
                return Ok(bytes_response(200, "application/json", line));
            }
        }
    }
    let (tx, out_rx) = tokio::sync::mpsc::channel::<Bytes>(256);
    let bookmark_kind = t.kind.clone();
    let bookmark_av = t.api_version(&target.version);
    let as_table = accept.contains("as=Table");
    let include = query.get("includeObject").unwrap_or("Metadata").to_string();
    let mut first = true;
    let mut encode = move |kind: &str, o: &Arc<Value>| -> Bytes {
        let obj = present(o, &t2, &version);
        let object = if as_table {
            // Like the real server: only the first event carries the column definitions.
            let columns = if std::mem::take(&mut first) {
                table::columns(&t2)
            } else {
                Vec::new()
            };
            json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1",
                "metadata": {"resourceVersion": util::str_at(&obj, "/metadata/resourceVersion")},
                "columnDefinitions": columns,
                "rows": [{"cells": table::cells(&t2, &obj), "object": table::row_object(&obj, &include)}]})
        } else {
            obj
        };
        let mut line = serde_json::to_vec(&json!({"type": kind, "object": object})).unwrap_or_default();
        line.push(b'\n');
        Bytes::from(line)
    };
    tokio::spawn(async move {
        for (k, o) in &initial {
            if tx.send(encode(k, o)).await.is_err() {
                return;
            }
        }
        if send_initial {
            // Watch-list: a bookmark marks the end of the initial state.
            let mut line = serde_json::to_vec(&json!({"type": "BOOKMARK", "object": {
                "kind": bookmark_kind, "apiVersion": bookmark_av,
                "metadata": {"resourceVersion": last_rv.to_string(), "annotations": {"k8s.io/initial-events-end": "true"}}}}))
            .unwrap_or_default();
            line.push(b'\n');
            if tx.send(Bytes::from(line)).await.is_err() {
                return;
            }
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
        loop {
            let ev = tokio::select! {
                ev = rx.recv() => ev,
                _ = tokio::time::sleep_until(deadline) => return,
                _ = tx.closed() => return,
            };
            match ev {
                Ok(e) => {
                    if e.key != key || e.rv <= last_rv || !matches(&e.object) {
                        continue;
                    }
                    last_rv = e.rv;
                    if tx.send(encode(e.kind, &e.object)).await.is_err() {
                        return;
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(_) => return,
            }
        }
    });
    let stream = futures_util::stream::unfold(out_rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx))
    });
    let mut r = Response::new(Body::from_stream(stream));
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r.headers_mut()
        .insert(header::TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
    Ok(r)
}

async fn exec_request(
    app: &Arc<App>,
    id: &Identity,
    parts: &mut axum::http::request::Parts,
    query: &Query,
    rec: &mut RequestRecord,
    fault: Option<crate::Fault>,
) -> Response {
    let Some(target) = parse_target(&rec.path) else {
        return error_response(&not_found_page());
    };
    rec.api_group = String::new();
    rec.resource = target.plural.clone();
    rec.subresource = target.sub.clone().unwrap_or_default();
    rec.namespace = target.namespace.clone().unwrap_or_default();
    rec.name = target.name.clone().unwrap_or_default();
    rec.verb = "create".into();
    let reg = app.cluster.registry();
    let (Some(t), Some(ns), Some(name)) = (
        reg.lookup(&target.group, &target.version, &target.plural),
        target.namespace.clone(),
        target.name.clone(),
    ) else {
        return error_response(&not_found_page());
    };
    if t.plural != "pods" || !target.group.is_empty() {
        return error_response(&not_found_page());
    }
    if let Err(e) = authorize(id, "create", "", "pods", target.sub.as_deref(), &ns, &name) {
        return error_response(&e);
    }
    let Some(pod) = app.cluster.get_obj(&t, &ns, &name) else {
        return error_response(&ApiError::not_found(&t, &name));
    };
    let container = match pick_container(&pod, query, &name) {
        Ok(c) => c,
        Err(e) => return error_response(&e),
    };
    let phase = util::str_at(&pod, "/status/phase");
    if phase != "Running" {
        return error_response(&ApiError::bad_request(format!(
            "unable to upgrade connection: container not found ({container:?})"
        )));
    }
    let command = query.all("command");
    if command.is_empty() {
        return error_response(&ApiError::bad_request("you must specify at least 1 command"));
    }
    let ws = match WebSocketUpgrade::from_request_parts(parts, &()).await {
        Ok(ws) => ws,
        Err(_) => {
            return error_response(&ApiError::bad_request(
                "Upgrade request required: kube-sim serves exec over WebSocket (v5.channel.k8s.io, v4.channel.k8s.io)",
            ));
        }
    };
    let ws = ws.protocols(["v5.channel.k8s.io", "v4.channel.k8s.io"]);
    let req = ExecRequest {
        namespace: ns,
        pod: name,
        container,
        command,
        stdin: Vec::new(),
        tty: query.flag("tty"),
        user: id.name.clone(),
    };
    let want_stdin = query.flag("stdin");
    let app = app.clone();
    ws.on_upgrade(move |socket| run_exec(app, socket, req, want_stdin, fault))
        .into_response()
}

async fn run_exec(
    app: Arc<App>,
    socket: WebSocket,
    mut req: ExecRequest,
    want_stdin: bool,
    fault: Option<crate::Fault>,
) {
    let v5 = socket.protocol().and_then(|p| p.to_str().ok()) == Some("v5.channel.k8s.io");
    let (mut sink, mut stream) = socket.split();
    if want_stdin {
        loop {
            let next = if v5 {
                stream.next().await
            } else {
                match tokio::time::timeout(Duration::from_millis(300), stream.next()).await {
                    Ok(m) => m,
                    Err(_) => break,
                }
            };
            match next {
                Some(Ok(Message::Binary(data))) => match data.first() {
                    Some(0) => req.stdin.extend_from_slice(&data[1..]),
                    Some(255) if data.get(1) == Some(&0) => break,
                    _ => {}
                },
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                _ => {}
            }
        }
    }
    let cluster = app.cluster.clone();
    let exec = app.exec.clone();
    let r = {
        let req = req.clone();
        tokio::task::spawn_blocking(move || exec.run(&req, &cluster))
            .await
            .unwrap_or_else(|_| crate::exec::ExecResponse::fail(1, "exec handler panicked\n"))
    };
    let frame = |ch: u8, data: &[u8]| {
        let mut v = Vec::with_capacity(data.len() + 1);
        v.push(ch);
        v.extend_from_slice(data);
        Message::Binary(v.into())
    };
    match fault {
        Some(crate::Fault::ExecSlow(d)) => tokio::time::sleep(d).await,
        Some(crate::Fault::ExecDrop) => {
            // Half the output, then the connection goes away: no status, no close frame.
            let half = &r.stdout.as_bytes()[..r.stdout.len() / 2];
            let _ = sink.send(frame(1, half)).await;
            let _ = sink.flush().await;
            return;
        }
        _ => {}
    }
    if !r.stdout.is_empty() {
        let _ = sink.send(frame(1, r.stdout.as_bytes())).await;
    }
    if !r.stderr.is_empty() {
        let _ = sink
            .send(frame(if req.tty { 1 } else { 2 }, r.stderr.as_bytes()))
            .await;
    }
    let status = if r.exit_code == 0 {
        json!({"metadata": {}, "status": "Success"})
    } else {
        json!({"metadata": {}, "status": "Failure",
            "message": format!("command terminated with non-zero exit code: error executing command [{}], exit code {}", req.command.join(" "), r.exit_code),
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": r.exit_code.to_string()}]}})
    };
    let _ = sink
        .send(frame(3, &serde_json::to_vec(&status).unwrap_or_default()))
        .await;
    let _ = sink
        .send(Message::Close(Some(axum::extract::ws::CloseFrame {
            code: 1000,
            reason: "".into(),
        })))
        .await;
    // Drain until the client closes: closing with its input unread would
    // reset the connection and could lose the frames above.
    let _ = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(Ok(m)) = stream.next().await {
            if matches!(m, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
}

/// The DeleteOptions of a DELETE body (`{}` when there is none); not JSON is a 400.
fn delete_options(body: &[u8]) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("error decoding DeleteOptions: {e}")))?;
    Ok(if v.is_object() { v } else { json!({}) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        let t = parse_target("/api/v1/namespaces/ns/pods/web/exec").unwrap();
        assert_eq!(
            (
                t.namespace.as_deref(),
                t.plural.as_str(),
                t.name.as_deref(),
                t.sub.as_deref()
            ),
            (Some("ns"), "pods", Some("web"), Some("exec"))
        );
        let t = parse_target("/api/v1/namespaces/ns").unwrap();
        assert_eq!((t.plural.as_str(), t.name.as_deref()), ("namespaces", Some("ns")));
        let t = parse_target("/api/v1/namespaces/ns/status").unwrap();
        assert_eq!(
            (t.plural.as_str(), t.sub.as_deref()),
            ("namespaces", Some("status"))
        );
        let t = parse_target("/apis/security.istio.io/v1/peerauthentications").unwrap();
        assert_eq!(
            (t.group.as_str(), t.plural.as_str(), t.namespace),
            ("security.istio.io", "peerauthentications", None)
        );
    }

    #[test]
    fn query_decoding() {
        let q = parse_query("labelSelector=app%3Dweb%2Ctier+in+%28a%29&limit=5&watch");
        assert_eq!(q[0].1, "app=web,tier in (a)");
        assert_eq!(q[2], ("watch".to_string(), String::new()));
    }
}
