//! Fault injection: what a real API server does to its clients on a bad day, armed by a test.
//!
//! ```no_run
//! # use kube_sim::{Fault, FaultRule, Scenario, SimServer};
//! # use std::time::Duration;
//! let server = SimServer::start_background(Scenario::lab()).unwrap();
//! // The next two pod lists are throttled, the third one is served.
//! server.faults().arm(FaultRule::new(Fault::TooManyRequests { retry_after: Some(1) }).verb("list").resource("pods").times(2));
//! // Every request waits 50 ms.
//! server.faults().arm(FaultRule::new(Fault::Latency(Duration::from_millis(50))).always());
//! ```
//!
//! A request takes the first armed rule that matches it (its method, path glob, verb and
//! resource); each rule fires `times` times (1 unless told) and is then spent. The request log
//! ([`crate::RequestRecord::fault`]) names the fault each request met.

use std::sync::Mutex;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::json;

use crate::server::{RequestRecord, parse_query, parse_target};

/// The message kube-apiserver's etcd3 store sends when a `continue` token outlived etcd
/// compaction (`compactedContinue` in k8s.io/apiserver, reason `Expired`, code 410).
pub const EXPIRED_CONTINUE_MESSAGE: &str = "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.";

/// What an armed fault does to the request it meets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The request waits this long, then is served normally.
    Latency(Duration),
    /// 429 `TooManyRequests` (API Priority and Fairness rejecting the request before it runs),
    /// with a `Retry-After` header and `details.retryAfterSeconds` when given.
    TooManyRequests {
        /// Seconds the client is asked to wait.
        retry_after: Option<u64>,
    },
    /// A server error before the request runs: 500 `InternalError`, 503 `ServiceUnavailable`
    /// (an API server shutting down or a missing aggregated API), 504 `Timeout`, or any other
    /// code (reason `InternalError`).
    ServerError {
        /// The HTTP status code.
        code: u16,
        /// Seconds in a `Retry-After` header, when given.
        retry_after: Option<u64>,
    },
    /// 410 `Expired` with the real message, on a list that carries a `continue` token (rules
    /// with this fault only match such requests). The Status carries the same token as the
    /// "inconsistent continuation" a real server offers.
    ExpireContinue,
    /// The request is served, then the connection closes after half of the response body
    /// (status and headers already sent): a server or proxy dying mid-answer.
    CloseMidBody,
    /// The connection closes before any byte of the response: a reset.
    Disconnect,
    /// `pods/exec`: the command's output and exit status arrive this much later.
    ExecSlow(Duration),
    /// `pods/exec`: the stream drops after the first half of stdout, without exit status or
    /// WebSocket close.
    ExecDrop,
}

impl Fault {
    /// A short name for the request log.
    pub fn name(&self) -> String {
        match self {
            Fault::Latency(d) => format!("latency {}ms", d.as_millis()),
            Fault::TooManyRequests { .. } => "429".into(),
            Fault::ServerError { code, .. } => code.to_string(),
            Fault::ExpireContinue => "410 expired continue".into(),
            Fault::CloseMidBody => "close mid-body".into(),
            Fault::Disconnect => "disconnect".into(),
            Fault::ExecSlow(d) => format!("slow exec {}ms", d.as_millis()),
            Fault::ExecDrop => "dropped exec".into(),
        }
    }
}

/// A fault plus the requests it applies to.
#[derive(Clone, Debug)]
pub struct FaultRule {
    fault: Fault,
    method: Option<String>,
    path: Option<String>,
    verb: Option<String>,
    resource: Option<String>,
    times: usize,
}

impl From<Fault> for FaultRule {
    fn from(fault: Fault) -> Self {
        FaultRule::new(fault)
    }
}

impl FaultRule {
    /// Any request, once.
    pub fn new(fault: Fault) -> Self {
        FaultRule {
            fault,
            method: None,
            path: None,
            verb: None,
            resource: None,
            times: 1,
        }
    }
    /// Only this HTTP method (`GET`, `PATCH`, ...).
    pub fn method(mut self, method: &str) -> Self {
        self.method = Some(method.to_ascii_uppercase());
        self
    }
    /// Only paths matching this glob (`*` and `?`), e.g. `/api/v1/pods` or `/apis/*`.
    pub fn path(mut self, glob: &str) -> Self {
        self.path = Some(glob.to_string());
        self
    }
    /// Only this Kubernetes verb (`get`, `list`, `watch`, `create`, `patch`, ...; non-resource
    /// URLs have the lower-cased method).
    pub fn verb(mut self, verb: &str) -> Self {
        self.verb = Some(verb.to_string());
        self
    }
    /// Only this resource (plural, e.g. `pods`; `pods/exec` for a subresource).
    pub fn resource(mut self, resource: &str) -> Self {
        self.resource = Some(resource.to_string());
        self
    }
    /// Fires this many times, then is spent.
    pub fn times(mut self, n: usize) -> Self {
        self.times = n;
        self
    }
    /// Never spent.
    pub fn always(self) -> Self {
        self.times(usize::MAX)
    }

    fn matches(&self, method: &str, path: &str, verb: &str, resource: &str, has_continue: bool) -> bool {
        self.times > 0
            && self.method.as_deref().is_none_or(|m| m == method)
            && self
                .path
                .as_deref()
                .is_none_or(|g| crate::util::glob_match(g, path))
            && self.verb.as_deref().is_none_or(|v| v == verb)
            && self.resource.as_deref().is_none_or(|r| r == resource)
            && (self.fault != Fault::ExpireContinue || has_continue)
            && match self.fault {
                Fault::ExecSlow(_) | Fault::ExecDrop => resource == "pods/exec",
                _ => true,
            }
    }
}

/// The faults armed on a server ([`crate::SimServer::faults`]).
#[derive(Debug, Default)]
pub struct Faults {
    rules: Mutex<Vec<FaultRule>>,
}

impl Faults {
    /// Arms a fault (a [`Fault`] alone applies to the next request, once).
    pub fn arm(&self, rule: impl Into<FaultRule>) {
        self.lock().push(rule.into());
    }
    /// Disarms everything.
    pub fn clear(&self) {
        self.lock().clear();
    }
    /// How many more times the armed faults will fire (`usize::MAX` saturates).
    pub fn pending(&self) -> usize {
        self.lock().iter().fold(0usize, |n, r| n.saturating_add(r.times))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<FaultRule>> {
        self.rules.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Picks (and counts down) the fault for a request, filling in the record's verb and
    /// resource fields so a request answered by the fault alone is still logged fully.
    pub(crate) fn take(&self, method: &str, rec: &mut RequestRecord) -> Armed {
        let mut rules = self.lock();
        if rules.is_empty() {
            return Armed(None);
        }
        let query = parse_query(&rec.query);
        let param = |k: &str| query.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
        let has_continue = param("continue").is_some_and(|c| !c.is_empty());
        let watch = matches!(param("watch"), Some("true" | "1" | ""));
        let (verb, resource) = match parse_target(&rec.path) {
            Some(t) => {
                let verb = match (method, t.name.is_some(), t.sub.as_deref()) {
                    (_, _, Some("exec" | "attach" | "portforward")) => "create",
                    ("GET", true, _) => "get",
                    ("GET", false, _) if watch => "watch",
                    ("GET", false, _) => "list",
                    ("POST", ..) => "create",
                    ("PUT", ..) => "update",
                    ("PATCH", ..) => "patch",
                    ("DELETE", true, _) => "delete",
                    ("DELETE", false, _) => "deletecollection",
                    _ => "unknown",
                };
                let resource = match &t.sub {
                    Some(s) => format!("{}/{s}", t.plural),
                    None => t.plural.clone(),
                };
                rec.api_group = t.group.clone();
                rec.resource = t.plural.clone();
                rec.subresource = t.sub.clone().unwrap_or_default();
                rec.namespace = t.namespace.clone().unwrap_or_default();
                rec.name = t.name.clone().unwrap_or_default();
                (verb.to_string(), resource)
            }
            None => (method.to_ascii_lowercase(), String::new()),
        };
        let Some(i) = rules
            .iter()
            .position(|r| r.matches(method, &rec.path, &verb, &resource, has_continue))
        else {
            return Armed(None);
        };
        let fault = rules[i].fault.clone();
        if rules[i].times != usize::MAX {
            rules[i].times -= 1;
        }
        if rules[i].times == 0 {
            rules.remove(i);
        }
        rec.verb = verb;
        rec.fault = fault.name();
        Armed(Some((fault, param("continue").unwrap_or("").to_string())))
    }
}

/// The fault a request met, if any (and its `continue` token).
pub(crate) struct Armed(Option<(Fault, String)>);

impl Armed {
    /// Runs the part of the fault that comes before the request is served: waits, or answers
    /// in place of the server.
    pub(crate) async fn before(&self) -> Option<Response> {
        let (fault, token) = self.0.as_ref()?;
        match fault {
            Fault::Latency(d) => {
                tokio::time::sleep(*d).await;
                None
            }
            Fault::TooManyRequests { retry_after } => Some(status_response(
                429,
                "TooManyRequests",
                "Too many requests, please try again later.",
                *retry_after,
                None,
            )),
            Fault::ServerError { code, retry_after } => {
                let (reason, message) = match code {
                    503 => (
                        "ServiceUnavailable",
                        "the server is currently unable to handle the request",
                    ),
                    504 => (
                        "Timeout",
                        "the server was unable to return a response in the time allotted, but may still be processing the request",
                    ),
                    _ => (
                        "InternalError",
                        "Internal error occurred: kube-sim injected a server error",
                    ),
                };
                Some(status_response(*code, reason, message, *retry_after, None))
            }
            Fault::ExpireContinue => Some(status_response(
                410,
                "Expired",
                EXPIRED_CONTINUE_MESSAGE,
                None,
                Some(token),
            )),
            Fault::Disconnect => Some(broken_body(Bytes::new())),
            Fault::CloseMidBody | Fault::ExecSlow(_) | Fault::ExecDrop => None,
        }
    }

    /// The exec part of the fault.
    pub(crate) fn exec(&self) -> Option<Fault> {
        match self.0.as_ref() {
            Some((f @ (Fault::ExecSlow(_) | Fault::ExecDrop), _)) => Some(f.clone()),
            _ => None,
        }
    }

    /// The part of the fault that comes after the request was served: cutting the body.
    pub(crate) async fn after(&self, response: Response) -> Response {
        if !matches!(self.0, Some((Fault::CloseMidBody, _))) {
            return response;
        }
        let (mut parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
        let half = bytes.slice(..bytes.len() / 2);
        parts.headers.remove(header::CONTENT_LENGTH);
        let cut = broken_body(half);
        let (_, body) = cut.into_parts();
        Response::from_parts(parts, body)
    }
}

/// A 200 whose body yields `prefix` and then fails, so the server closes the connection
/// without finishing the response.
fn broken_body(prefix: Bytes) -> Response {
    use futures_util::StreamExt;
    let empty = prefix.is_empty();
    let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
        Ok(prefix),
        Err(std::io::Error::other("kube-sim: injected connection close")),
    ];
    // With a prefix, the status, headers and prefix are flushed before the connection goes
    // away; without one, hyper aborts before writing anything.
    let stream = futures_util::stream::iter(chunks).then(move |chunk| async move {
        if chunk.is_err() && !empty {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        chunk
    });
    let mut r = Response::new(Body::from_stream(stream));
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

fn status_response(
    code: u16,
    reason: &str,
    message: &str,
    retry_after: Option<u64>,
    continue_token: Option<&str>,
) -> Response {
    let mut status = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    });
    if let Some(s) = retry_after {
        status["details"] = json!({"retryAfterSeconds": s});
    }
    if let Some(t) = continue_token.filter(|t| !t.is_empty()) {
        status["metadata"]["continue"] = json!(t);
    }
    let mut r = Response::new(Body::from(serde_json::to_vec(&status).unwrap_or_default()));
    *r.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Some(s) = retry_after
        && let Ok(v) = HeaderValue::from_str(&s.to_string())
    {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(method: &str, path: &str, query: &str) -> RequestRecord {
        RequestRecord {
            method: method.into(),
            path: path.into(),
            query: query.into(),
            ..Default::default()
        }
    }

    #[test]
    fn rules_match_verb_and_resource_and_are_spent() {
        let f = Faults::default();
        f.arm(
            FaultRule::new(Fault::TooManyRequests { retry_after: Some(1) })
                .verb("list")
                .resource("pods")
                .times(2),
        );
        let mut r = record("GET", "/api/v1/namespaces/a/pods/x", "");
        assert!(f.take("GET", &mut r).0.is_none(), "a get is not a list");
        for _ in 0..2 {
            let mut r = record("GET", "/api/v1/pods", "limit=500");
            assert!(f.take("GET", &mut r).0.is_some());
            assert_eq!(r.verb, "list");
            assert_eq!(r.fault, "429");
        }
        let mut r = record("GET", "/api/v1/pods", "limit=500");
        assert!(f.take("GET", &mut r).0.is_none());
        assert_eq!(f.pending(), 0);
    }

    #[test]
    fn expiry_only_meets_continued_lists_and_exec_faults_only_exec() {
        let f = Faults::default();
        f.arm(Fault::ExpireContinue);
        f.arm(Fault::ExecDrop);
        let mut r = record("GET", "/api/v1/pods", "limit=2");
        assert!(f.take("GET", &mut r).0.is_none());
        let mut r = record("GET", "/api/v1/pods", "limit=2&continue=abc");
        assert!(matches!(f.take("GET", &mut r).0, Some((Fault::ExpireContinue, ref t)) if t == "abc"));
        let mut r = record("GET", "/api/v1/namespaces/a/pods/p/exec", "command=ls");
        assert_eq!(f.take("GET", &mut r).exec(), Some(Fault::ExecDrop));
        assert_eq!(r.verb, "create");
    }

    #[test]
    fn always_rules_stay_armed() {
        let f = Faults::default();
        f.arm(
            FaultRule::new(Fault::Latency(Duration::from_millis(1)))
                .path("/apis*")
                .always(),
        );
        for _ in 0..5 {
            let mut r = record("GET", "/apis", "");
            assert!(f.take("GET", &mut r).0.is_some());
        }
        assert_eq!(f.pending(), usize::MAX);
        f.clear();
        assert_eq!(f.pending(), 0);
    }
}
