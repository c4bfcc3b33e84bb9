//! Redaction of everything printed: URLs lose their userinfo and token-like path segments and
//! query values. Pure text functions, used by the error report and the request log.

/// What a masked part of a URL is replaced with.
pub const MASK: &str = "***";

/// Path segments after which the next segment is a credential (`/_token/SECRET/api`).
const SECRET_PATH_NAMES: &[&str] = &[
    "token",
    "_token",
    "access_token",
    "id_token",
    "bearer",
    "password",
    "apikey",
    "api_key",
];

/// Query parameters whose value is a credential.
const SECRET_QUERY_NAMES: &[&str] = &[
    "token",
    "access_token",
    "id_token",
    "password",
    "secret",
    "apikey",
    "api_key",
    "api-key",
    "key",
    "sig",
    "signature",
    "x-amz-signature",
    "x-amz-credential",
    "x-amz-security-token",
    "auth",
];

fn is_in(list: &[&str], name: &str) -> bool {
    list.contains(&name.to_ascii_lowercase().as_str())
}

/// Whether a path segment looks like a credential by itself: a JWT (`eyJ...` with two dots) or
/// a long run of letters and digits (32+ characters, both present, base64/hex alphabet) that no
/// Kubernetes name looks like (those are lower-case words joined by `-` and `.`).
fn looks_like_token(segment: &str) -> bool {
    if segment.starts_with("eyJ") && segment.matches('.').count() == 2 {
        return true;
    }
    let long = segment.len() >= 32;
    let alphabet = segment
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '+' | '/' | '='));
    let digits = segment.chars().any(|c| c.is_ascii_digit());
    let letters = segment.chars().any(|c| c.is_ascii_alphabetic());
    let upper = segment.chars().any(|c| c.is_ascii_uppercase());
    let words = segment.split('-').all(|w| w.len() < 16);
    long && alphabet && digits && letters && (upper || !words)
}

/// Redacts one URL: the userinfo (`user:password@`) and token-like path segments and query
/// values are replaced by `***`. Text that is not a URL comes back unchanged.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let authority = match authority.rsplit_once('@') {
        Some((_, host)) => format!("{MASK}@{host}"),
        None => authority.to_string(),
    };
    let (path_and_query, fragment) = match tail.split_once('#') {
        Some((p, f)) => (p, Some(f)),
        None => (tail, None),
    };
    let (path, query) = match path_and_query.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path_and_query, None),
    };
    let mut segments: Vec<String> = Vec::new();
    let mut after_secret_name = false;
    for seg in path.split('/') {
        if after_secret_name && !seg.is_empty() {
            segments.push(MASK.to_string());
            after_secret_name = false;
            continue;
        }
        after_secret_name = is_in(SECRET_PATH_NAMES, seg);
        segments.push(if looks_like_token(seg) {
            MASK.to_string()
        } else {
            seg.to_string()
        });
    }
    let mut out = format!("{scheme}://{authority}{}", segments.join("/"));
    if let Some(q) = query {
        let pairs: Vec<String> = q
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, v)) if is_in(SECRET_QUERY_NAMES, k) || looks_like_token(v) => format!("{k}={MASK}"),
                _ => pair.to_string(),
            })
            .collect();
        out.push('?');
        out.push_str(&pairs.join("&"));
    }
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    out
}

/// Redacts every `http://` and `https://` URL inside a message.
pub fn redact_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = ["https://", "http://"].iter().filter_map(|p| rest.find(p)).min() {
        out.push_str(&rest[..start]);
        let url_len = rest[start..]
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '`' | ')' | ','))
            .unwrap_or(rest.len() - start);
        out.push_str(&redact_url(&rest[start..start + url_len]));
        rest = &rest[start + url_len..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_and_token_segments_are_masked() {
        assert_eq!(
            redact_url("https://alice:s3cret@k8s.example.com:6443/api"),
            "https://***@k8s.example.com:6443/api"
        );
        assert_eq!(
            redact_url("http://127.0.0.1:8080/_token/kube-sim-admin-token/api/v1/pods"),
            "http://127.0.0.1:8080/_token/***/api/v1/pods"
        );
        assert_eq!(
            redact_url("https://proxy/k8s/eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl/api"),
            "https://proxy/k8s/***/api"
        );
        assert_eq!(
            redact_url(
                "https://proxy/clusters/9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08/api"
            ),
            "https://proxy/clusters/***/api"
        );
        assert_eq!(
            redact_url("https://h/api?watch=1&access_token=abc&labelSelector=app%3Dweb"),
            "https://h/api?watch=1&access_token=***&labelSelector=app%3Dweb"
        );
    }

    #[test]
    fn kubernetes_paths_stay_readable() {
        for url in [
            "https://127.0.0.1:6443/api/v1/namespaces/istioinaction/pods/web-api-7d9f8b6c5d-x2k4p",
            "https://h/apis/security.istio.io/v1/namespaces/istio-system/peerauthentications/default",
            "https://h/apis/authentication.k8s.io/v1/selfsubjectreviews",
            "https://h/api/v1/namespaces/kube-system/configmaps/extension-apiserver-authentication",
            "https://h/api/v1/namespaces/a/pods/a-very-long-deployment-name-for-a-service-1234-abcde",
        ] {
            assert_eq!(redact_url(url), url);
        }
    }

    #[test]
    fn urls_inside_messages_are_masked() {
        assert_eq!(
            redact_text("cannot reach the Kubernetes API server at https://u:p@h:6443: refused"),
            "cannot reach the Kubernetes API server at https://***@h:6443: refused"
        );
        assert_eq!(
            redact_text("I GET http://h/_token/abc/api 200 (\"http://x:y@z\")"),
            "I GET http://h/_token/***/api 200 (\"http://***@z\")"
        );
        assert_eq!(redact_text("no url here"), "no url here");
    }
}
