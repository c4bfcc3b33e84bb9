//! HTTP/1.1 GETs to a Prometheus: straight to a URL (`--prometheus`), or over a stream the API
//! server forwards to a pod (no local port is opened).

use std::time::Duration;

use http::{Request, Uri, header};
use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};

/// Largest answer read (a query result for a big mesh is well below this).
const MAX_BODY: usize = 64 * 1024 * 1024;

/// One answer: HTTP status and body.
pub type Answer = (u16, Bytes);

/// A base URL split into what a request needs, credentials kept apart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// `http` or `https`.
    pub scheme: String,
    /// `host[:port]`.
    pub authority: String,
    /// Path prefix without trailing `/` (empty for the root).
    pub prefix: String,
    /// `user:password` from the URL, sent as Basic authentication.
    pub userinfo: Option<String>,
}

impl Endpoint {
    /// Parses `http[s]://[user[:password]@]host[:port][/prefix]`.
    pub fn parse(url: &str) -> Result<Endpoint, String> {
        let (scheme, rest) = url.split_once("://").ok_or_else(|| {
            format!(
                "invalid Prometheus URL {:?}: expected http://HOST[:PORT]",
                redact_url(url)
            )
        })?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return Err(format!(
                "invalid Prometheus URL {:?}: the scheme must be http or https",
                redact_url(url)
            ));
        }
        let (authority_part, path) = match rest.find(['/', '?', '#']) {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if path.contains(['?', '#']) {
            return Err(format!(
                "invalid Prometheus URL {:?}: no query or fragment expected",
                redact_url(url)
            ));
        }
        let (userinfo, authority) = match authority_part.rsplit_once('@') {
            Some((u, a)) => (Some(u.to_string()), a),
            None => (None, authority_part),
        };
        if authority.is_empty() || authority.parse::<http::uri::Authority>().is_err() {
            return Err(format!("invalid Prometheus URL {:?}: bad host", redact_url(url)));
        }
        Ok(Endpoint {
            scheme,
            authority: authority.to_string(),
            prefix: path.trim_end_matches('/').to_string(),
            userinfo,
        })
    }

    /// The URL for a path and query under the prefix.
    pub fn uri(&self, path_and_query: &str) -> Result<Uri, String> {
        format!(
            "{}://{}{}{}",
            self.scheme, self.authority, self.prefix, path_and_query
        )
        .parse::<Uri>()
        .map_err(|e| format!("invalid request URL: {e}"))
    }
}

/// The URL with any password replaced by `xxxxx` (as Go's `URL.Redacted`, which kubectl uses).
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:xxxxx@{host}{tail}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

fn basic(userinfo: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(userinfo.as_bytes())
    )
}

async fn read(resp: http::Response<hyper::body::Incoming>) -> Result<Answer, String> {
    let status = resp.status().as_u16();
    let body = Limited::new(resp.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|e| format!("reading the answer failed: {e}"))?
        .to_bytes();
    Ok((status, body))
}

fn describe(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        let m = s.to_string();
        if !out.contains(&m) {
            out.push_str(": ");
            out.push_str(&m);
        }
        src = s.source();
    }
    out
}

/// GETs each path (with query) from a URL endpoint, in order, within `timeout` each.
pub async fn get_url(
    endpoint: &Endpoint,
    paths: &[String],
    timeout: Duration,
) -> Result<Vec<Answer>, String> {
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_native_roots()
        .map_err(|e| format!("no TLS roots: {e}"))?
        .https_or_http()
        .enable_http1()
        .build();
    let client: hyper_util::client::legacy::Client<_, Empty<Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build(connector);
    let mut out = Vec::new();
    for p in paths {
        let mut req = Request::get(endpoint.uri(p)?).header(header::ACCEPT, "application/json");
        if let Some(u) = &endpoint.userinfo {
            req = req.header(header::AUTHORIZATION, basic(u));
        }
        let req = req.body(Empty::new()).map_err(|e| e.to_string())?;
        let fut = async { read(client.request(req).await.map_err(|e| describe(&e))?).await };
        out.push(
            tokio::time::timeout(timeout, fut)
                .await
                .map_err(|_| format!("no answer within {}s", timeout.as_secs()))??,
        );
    }
    Ok(out)
}

/// GETs each path over one HTTP/1.1 connection on an already open stream (a port-forward),
/// within `timeout` in all.
pub async fn get_over<S>(
    stream: S,
    host: &str,
    paths: &[String],
    timeout: Duration,
) -> Result<Vec<Answer>, String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let run = async {
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(TokioIo::new(stream))
                .await
                .map_err(|e| describe(&e))?;
        let driver = tokio::spawn(conn);
        let mut out = Vec::new();
        for p in paths {
            sender.ready().await.map_err(|e| describe(&e))?;
            let req = Request::get(p.as_str())
                .header(header::HOST, host)
                .header(header::ACCEPT, "application/json")
                .body(Empty::new())
                .map_err(|e| e.to_string())?;
            let resp = sender.send_request(req).await.map_err(|e| describe(&e))?;
            out.push(read(resp).await?);
        }
        drop(sender);
        driver.abort();
        Ok(out)
    };
    tokio::time::timeout(timeout, run)
        .await
        .map_err(|_| format!("no answer within {}s", timeout.as_secs()))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse_and_redact() {
        let e = Endpoint::parse("http://prom.example:9090/prometheus/").unwrap();
        assert_eq!(e.scheme, "http");
        assert_eq!(e.authority, "prom.example:9090");
        assert_eq!(e.prefix, "/prometheus");
        assert_eq!(e.userinfo, None);
        assert_eq!(
            e.uri("/api/v1/query?query=up").unwrap().to_string(),
            "http://prom.example:9090/prometheus/api/v1/query?query=up"
        );
        let e = Endpoint::parse("https://admin:s3cret@prom:443").unwrap();
        assert_eq!(e.userinfo.as_deref(), Some("admin:s3cret"));
        assert_eq!(e.prefix, "");
        assert_eq!(basic("admin:s3cret"), "Basic YWRtaW46czNjcmV0");
        assert_eq!(
            redact_url("https://admin:s3cret@prom:443/x"),
            "https://admin:xxxxx@prom:443/x"
        );
        assert_eq!(redact_url("http://prom:9090"), "http://prom:9090");
        for bad in [
            "prom:9090",
            "ftp://prom",
            "http://",
            "http://a b",
            "http://p/x?y=1",
        ] {
            let err = Endpoint::parse(bad).unwrap_err();
            assert!(err.starts_with("invalid Prometheus URL"), "{bad}: {err}");
        }
        let err = Endpoint::parse("ftp://u:pw@prom").unwrap_err();
        assert!(!err.contains("pw"), "{err}");
    }
}
