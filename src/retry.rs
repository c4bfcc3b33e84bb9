//! Retrying idempotent reads, as client-go does: a tower layer around kube's client stack that
//! re-sends a GET (never a write, a watch or an exec) when the server throttles it (429), fails
//! with a retryable 5xx, or the connection resets or closes mid-response; with bounded
//! exponential backoff and jitter, honouring `Retry-After`, and never past `--request-timeout`.
//!
//! Writes are not retried: a write that failed with a transport error may or may not have
//! happened, and only re-reading the object could tell; the plugin reports the failure instead.

use std::fmt;
use std::future::poll_fn;
use std::hash::{BuildHasher, Hasher};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Either, Full};
use kube::client::Body;

/// Errors flowing through the client stack.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How often and how long to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Attempts in all, the first one included.
    pub max_attempts: u32,
    /// Wait before the first retry; doubles with each retry.
    pub base: Duration,
    /// Longest computed wait (a server's `Retry-After` may ask for more, up to [`Policy::max_retry_after`]).
    pub max_backoff: Duration,
    /// Longest `Retry-After` honoured; a server asking for more is not retried.
    pub max_retry_after: Duration,
    /// The time one logical request may take, retries and waits included (`--request-timeout`).
    pub budget: Option<Duration>,
}

impl Default for Policy {
    /// 7 attempts, 200 ms doubling to at most 5 s (about 11 s of waiting at worst without
    /// `Retry-After`), `Retry-After` honoured up to 60 s, no overall budget.
    fn default() -> Self {
        Policy {
            max_attempts: 7,
            base: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
            max_retry_after: Duration::from_secs(60),
            budget: None,
        }
    }
}

impl Policy {
    /// The wait before retry number `retry` (1 for the first): exponential, capped, with "equal
    /// jitter" (half fixed, half random) so that clients throttled together do not come back
    /// together.
    pub fn backoff(&self, retry: u32, random: u64) -> Duration {
        let exp = self
            .base
            .saturating_mul(1u32.checked_shl(retry.saturating_sub(1)).unwrap_or(u32::MAX))
            .min(self.max_backoff);
        let half = exp / 2;
        let span = half.as_millis().max(1) as u64;
        half + Duration::from_millis(random % span)
    }
}

/// Whether a status code is worth retrying for a read: 429 and the 5xx a restarting or
/// overloaded server (or a proxy in front of it) answers. 501 (not implemented) is final.
pub fn retryable_status(code: StatusCode) -> bool {
    code == StatusCode::TOO_MANY_REQUESTS || matches!(code.as_u16(), 500 | 502 | 503 | 504)
}

/// `Retry-After` in seconds (client-go reads only the integer form).
pub fn retry_after(headers: &http::HeaderMap) -> Option<Duration> {
    let v = headers.get(header::RETRY_AFTER)?.to_str().ok()?;
    v.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// Whether a request is an idempotent read that may be sent again: a GET or HEAD that is not a
/// watch, not a streaming log, and not a connection upgrade (exec, attach, port-forward).
pub fn is_idempotent_read<B>(req: &Request<B>) -> bool {
    if !matches!(*req.method(), http::Method::GET | http::Method::HEAD) {
        return false;
    }
    if req.headers().contains_key(header::UPGRADE) {
        return false;
    }
    let query = req.uri().query().unwrap_or("");
    let streaming = query.split('&').any(|kv| {
        matches!(
            kv,
            "watch=true" | "watch=1" | "watch" | "follow=true" | "follow=1" | "follow"
        )
    });
    !streaming
}

/// Whether a transport error is a reset or an unfinished response, which a retry may cure
/// (client-go retries connection resets on GETs). Refused connections, DNS failures, TLS
/// failures and timeouts are not: retrying would only delay the same error.
pub fn is_connection_reset(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(h) = e.downcast_ref::<hyper::Error>()
            && (h.is_incomplete_message() || h.is_canceled())
        {
            return true;
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            return matches!(
                io.kind(),
                ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof
            );
        }
        cur = e.source();
    }
    false
}

/// The tower layer.
#[derive(Debug, Clone, Copy)]
pub struct RetryLayer {
    /// The retry policy.
    pub policy: Policy,
    /// `-v` level: at 6 and above each retry is logged to stderr.
    pub verbose: u8,
}

impl<S> tower::Layer<S> for RetryLayer {
    type Service = RetryService<S>;
    fn layer(&self, inner: S) -> RetryService<S> {
        RetryService {
            inner: Arc::new(tokio::sync::Mutex::new(inner)),
            policy: self.policy,
            verbose: self.verbose,
        }
    }
}

/// The service [`RetryLayer`] wraps around the client stack.
pub struct RetryService<S> {
    inner: Arc<tokio::sync::Mutex<S>>,
    policy: Policy,
    verbose: u8,
}

impl<S> Clone for RetryService<S> {
    fn clone(&self) -> Self {
        RetryService {
            inner: self.inner.clone(),
            policy: self.policy,
            verbose: self.verbose,
        }
    }
}

/// A read that kept failing: the last failure and how hard the plugin tried.
#[derive(Debug)]
pub struct GaveUp {
    /// How many times the request was sent.
    pub attempts: u32,
    /// How long it all took.
    pub elapsed: Duration,
    /// The last failure, phrased.
    pub last: String,
}

impl fmt::Display for GaveUp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (gave up after {} attempt{} in {:.1}s)",
            self.last,
            self.attempts,
            if self.attempts == 1 { "" } else { "s" },
            self.elapsed.as_secs_f64()
        )
    }
}

impl std::error::Error for GaveUp {}

fn clone_request(req: &Request<Body>) -> Option<Request<Body>> {
    let body = req.body().try_clone()?;
    let mut out = Request::new(body);
    *out.method_mut() = req.method().clone();
    *out.uri_mut() = req.uri().clone();
    *out.version_mut() = req.version();
    *out.headers_mut() = req.headers().clone();
    *out.extensions_mut() = req.extensions().clone();
    Some(out)
}

fn random_u64() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    h.finish()
}

/// Appends the retry summary to the `message` of a JSON `Status` body (other bodies are kept).
fn annotate_status(body: Bytes, note: &str) -> Bytes {
    let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return body;
    };
    if v.get("kind").and_then(|k| k.as_str()) != Some("Status") {
        return body;
    }
    match v.get_mut("message") {
        Some(serde_json::Value::String(m)) => m.push_str(note),
        _ => return body,
    }
    serde_json::to_vec(&v).map(Bytes::from).unwrap_or(body)
}

/// What one attempt came to, when it did not succeed outright.
enum Failure {
    /// A retryable status; the body is kept to hand back if the retries run out.
    Status(http::response::Parts, Bytes, Option<Duration>),
    /// A reset or a response cut short.
    Transport(String),
}

type RespBody<B> = Either<Full<Bytes>, B>;

impl<S, B> tower::Service<Request<Body>> for RetryService<S>
where
    S: tower::Service<Request<Body>, Response = Response<B>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<RespBody<B>>;
    type Error = BoxError;
    type Future = Pin<Box<dyn std::future::Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        // Readiness is awaited per attempt, inside the future.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        let inner = self.inner.clone();
        let policy = self.policy;
        let verbose = self.verbose;
        Box::pin(async move {
            let send = |req: Request<Body>| {
                let inner = inner.clone();
                async move {
                    let fut = {
                        let mut svc = inner.lock().await;
                        poll_fn(|cx| svc.poll_ready(cx)).await.map_err(Into::into)?;
                        svc.call(req)
                    };
                    fut.await.map_err(Into::into)
                }
            };
            if !is_idempotent_read(&req) {
                return send(req).await.map(|r: Response<B>| r.map(Either::Right));
            }
            let Some(mut next) = clone_request(&req) else {
                return send(req).await.map(|r: Response<B>| r.map(Either::Right));
            };
            let line = format!("{} {}", req.method(), req.uri());
            let start = Instant::now();
            let mut attempt = 1u32;
            loop {
                let this = next;
                next = clone_request(&req).expect("a clonable request stays clonable");
                let failure = match send(this).await {
                    Ok(resp) => {
                        let status = resp.status();
                        let (parts, body) = resp.into_parts();
                        match body.collect().await {
                            Ok(c) => {
                                let bytes = c.to_bytes();
                                if !retryable_status(status) {
                                    return Ok(Response::from_parts(parts, Either::Left(Full::new(bytes))));
                                }
                                let after = retry_after(&parts.headers);
                                Failure::Status(parts, bytes, after)
                            }
                            Err(e) => {
                                let e: BoxError = e.into();
                                if !is_connection_reset(&*e) {
                                    return Err(e);
                                }
                                Failure::Transport(format!(
                                    "the connection closed in the middle of the response ({status}): {}",
                                    crate::error::chain(&*e)
                                ))
                            }
                        }
                    }
                    Err(e) => {
                        if !is_connection_reset(&*e) {
                            return Err(e);
                        }
                        Failure::Transport(crate::error::chain(&*e))
                    }
                };
                let (why, server_wait) = match &failure {
                    Failure::Status(parts, _, after) => {
                        let mut why = parts.status.to_string();
                        if let Some(a) = after {
                            why.push_str(&format!(", Retry-After {}s", a.as_secs()));
                        }
                        (why, *after)
                    }
                    Failure::Transport(msg) => (msg.clone(), None),
                };
                let wait = server_wait.unwrap_or_else(|| policy.backoff(attempt, random_u64()));
                let elapsed = start.elapsed();
                let over_budget = policy.budget.is_some_and(|b| elapsed + wait > b);
                let too_long = server_wait.is_some_and(|w| w > policy.max_retry_after);
                if attempt >= policy.max_attempts || over_budget || too_long {
                    let mut note = format!(
                        " (gave up after {attempt} attempt{} in {:.1}s",
                        if attempt == 1 { "" } else { "s" },
                        elapsed.as_secs_f64()
                    );
                    if over_budget {
                        note.push_str("; --request-timeout leaves no time to wait");
                    } else if too_long {
                        note.push_str(&format!("; the server asked to wait {}s", wait.as_secs()));
                    }
                    note.push(')');
                    return match failure {
                        Failure::Status(parts, bytes, _) => Ok(Response::from_parts(
                            parts,
                            Either::Left(Full::new(annotate_status(bytes, &note))),
                        )),
                        Failure::Transport(msg) => Err(Box::new(GaveUp {
                            attempts: attempt,
                            elapsed,
                            last: format!("{line}: {msg}"),
                        }) as BoxError),
                    };
                }
                if verbose >= 6 {
                    eprintln!(
                        "I retry {} of {} for {line} in {} milliseconds: {why}",
                        attempt,
                        policy.max_attempts - 1,
                        wait.as_millis()
                    );
                }
                tokio::time::sleep(wait).await;
                attempt += 1;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_is_capped_and_jittered_within_bounds() {
        let p = Policy::default();
        for retry in 1..20 {
            for random in [0, 1, 12345, u64::MAX] {
                let d = p.backoff(retry, random);
                let exp = p.base.saturating_mul(1 << (retry - 1).min(20)).min(p.max_backoff);
                assert!(d >= exp / 2 && d <= exp, "retry {retry}: {d:?} vs {exp:?}");
            }
        }
        assert!(p.backoff(1, 0) >= Duration::from_millis(100));
        assert!(p.backoff(30, u64::MAX) <= p.max_backoff);
    }

    #[test]
    fn only_plain_reads_are_retried() {
        let get = |uri: &str| Request::get(uri).body(()).unwrap();
        assert!(is_idempotent_read(&get("/api/v1/pods?limit=500")));
        assert!(!is_idempotent_read(&get("/api/v1/pods?watch=true")));
        assert!(!is_idempotent_read(&get(
            "/api/v1/namespaces/a/pods/p/log?follow=true"
        )));
        let exec = Request::get("/api/v1/namespaces/a/pods/p/exec?command=ls")
            .header(header::UPGRADE, "websocket")
            .body(())
            .unwrap();
        assert!(!is_idempotent_read(&exec));
        for m in [
            http::Method::POST,
            http::Method::PATCH,
            http::Method::PUT,
            http::Method::DELETE,
        ] {
            let r = Request::builder().method(m).uri("/api/v1/pods").body(()).unwrap();
            assert!(!is_idempotent_read(&r));
        }
    }

    #[test]
    fn statuses_and_retry_after_are_read_like_client_go() {
        assert!(retryable_status(StatusCode::TOO_MANY_REQUESTS));
        assert!(retryable_status(StatusCode::SERVICE_UNAVAILABLE));
        assert!(retryable_status(StatusCode::INTERNAL_SERVER_ERROR));
        assert!(!retryable_status(StatusCode::NOT_IMPLEMENTED));
        assert!(!retryable_status(StatusCode::GONE));
        assert!(!retryable_status(StatusCode::FORBIDDEN));
        let mut h = http::HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert(header::RETRY_AFTER, "3".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(3)));
        h.insert(
            header::RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn resets_are_retried_and_refusals_are_not() {
        let reset = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset by peer");
        assert!(is_connection_reset(&reset));
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert!(!is_connection_reset(&refused));
        let timeout = std::io::Error::new(std::io::ErrorKind::TimedOut, "timed out");
        assert!(!is_connection_reset(&timeout));
    }

    #[test]
    fn the_servers_message_keeps_its_words_and_gains_the_summary() {
        let body = Bytes::from_static(
            br#"{"kind":"Status","apiVersion":"v1","status":"Failure","message":"Too many requests, please try again later.","reason":"TooManyRequests","code":429}"#,
        );
        let out = annotate_status(body, " (gave up after 7 attempts in 6.0s)");
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            v["message"],
            "Too many requests, please try again later. (gave up after 7 attempts in 6.0s)"
        );
        let other = Bytes::from_static(b"<html>bad gateway</html>");
        assert_eq!(annotate_status(other.clone(), " x"), other);
    }
}
