//! Credentials handled the way kubectl handles them: never sent over plain `http://`, never
//! printed (every URL shown is redacted), and an exec credential plugin run once per process.

use std::io::IsTerminal as _;
use std::process::{Command, Stdio};

use kube::Config;
use kube::config::ExecInteractiveMode;
use serde::{Deserialize, Serialize};

use crate::error::Error;

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

/// Whether the user's kubeconfig configures credentials of any kind.
fn has_credentials(config: &Config) -> bool {
    let a = &config.auth_info;
    a.token.is_some()
        || a.token_file.is_some()
        || a.username.is_some()
        || a.password.is_some()
        || a.exec.is_some()
        || a.auth_provider.is_some()
        || a.client_certificate.is_some()
        || a.client_certificate_data.is_some()
        || a.client_key.is_some()
        || a.client_key_data.is_some()
}

/// kubectl sends no credentials to a plain `http://` server (anyone on the path could read
/// them); neither does the plugin. Drops them from the configuration and returns the one line
/// that says so, when there were any.
pub fn drop_credentials_over_plain_http(config: &mut Config, user: Option<&str>) -> Option<String> {
    if config.cluster_url.scheme_str() != Some("http") || !has_credentials(config) {
        return None;
    }
    let a = &mut config.auth_info;
    a.token = None;
    a.token_file = None;
    a.username = None;
    a.password = None;
    a.exec = None;
    a.auth_provider = None;
    a.client_certificate = None;
    a.client_certificate_data = None;
    a.client_key = None;
    a.client_key_data = None;
    let who = user.map(|u| format!(" of user \"{u}\"")).unwrap_or_default();
    Some(format!(
        "warning: not sending the credentials{who} to {}: plain http:// is unencrypted (kubectl does not send them either); use the server's https:// address",
        redact_url(config.cluster_url.to_string().trim_end_matches('/'))
    ))
}

/// `client.authentication.k8s.io` ExecCredential, the exec plugin protocol (both directions).
#[derive(Debug, Serialize, Deserialize)]
struct ExecCredential {
    #[serde(rename = "apiVersion", default, skip_serializing_if = "Option::is_none")]
    api_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    spec: Option<ExecSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status: Option<ExecStatus>,
}

#[derive(Debug, Serialize, Deserialize)]
struct ExecSpec {
    interactive: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cluster: Option<kube::config::ExecAuthCluster>,
}

#[derive(Debug, Serialize, Deserialize)]
struct ExecStatus {
    #[serde(default)]
    token: Option<String>,
    #[serde(rename = "clientCertificateData", default)]
    client_certificate_data: Option<String>,
    #[serde(rename = "clientKeyData", default)]
    client_key_data: Option<String>,
}

/// Runs the kubeconfig's exec credential plugin once and puts what it returned (a token or a
/// client certificate) into the configuration in its place. kube-rs would otherwise run the
/// plugin once for the TLS setup and again for the auth layer (a login helper that takes a
/// second then costs seconds per command); a command lasts far less than any credential.
pub fn run_exec_plugin_once(config: &mut Config, user: Option<&str>) -> Result<(), Error> {
    let Some(exec) = config.auth_info.exec.take() else {
        return Ok(());
    };
    let who = user.map(|u| format!(" for user \"{u}\"")).unwrap_or_default();
    let fail = |reason: String| Error::Credentials {
        who: who.clone(),
        reason,
    };
    let Some(program) = exec.command.clone() else {
        return Err(fail("the exec credential plugin names no command".into()));
    };
    let mut cmd = Command::new(&program);
    cmd.args(exec.args.iter().flatten());
    for var in exec.env.iter().flatten() {
        if let (Some(name), Some(value)) = (var.get("name"), var.get("value")) {
            cmd.env(name, value);
        }
    }
    for name in exec.drop_env.iter().flatten() {
        cmd.env_remove(name);
    }
    let interactive = match exec.interactive_mode {
        Some(ExecInteractiveMode::Never) => false,
        Some(ExecInteractiveMode::Always) => true,
        Some(ExecInteractiveMode::IfAvailable) | None => std::io::stdin().is_terminal(),
    };
    let spec = ExecSpec {
        interactive,
        cluster: if exec.provide_cluster_info {
            exec.cluster.clone()
        } else {
            None
        },
    };
    let info = ExecCredential {
        api_version: exec.api_version.clone(),
        kind: Some("ExecCredential".into()),
        spec: Some(spec),
        status: None,
    };
    let info = serde_json::to_string(&info).map_err(|e| fail(e.to_string()))?;
    cmd.env("KUBERNETES_EXEC_INFO", info).stdout(Stdio::piped());
    // An interactive login talks to the user on the terminal; otherwise the plugin's messages
    // are kept for the error line (and a plugin left running holds no pipe of ours open).
    if interactive {
        cmd.stdin(Stdio::inherit()).stderr(Stdio::inherit());
    } else {
        cmd.stdin(Stdio::null()).stderr(Stdio::piped());
    }
    let out = cmd.output().map_err(|e| {
        let hint = exec
            .install_hint
            .as_deref()
            .map(|h| format!(" ({})", h.trim().replace('\n', " ")))
            .unwrap_or_default();
        fail(format!(
            "cannot run the exec credential plugin {program}: {e}{hint}"
        ))
    })?;
    if !out.status.success() {
        let code = out.status.code().map_or_else(
            || "was killed by a signal".to_string(),
            |c| format!("exited with {c}"),
        );
        let said = String::from_utf8_lossy(&out.stderr);
        let said = said.lines().map(str::trim).rfind(|l| !l.is_empty());
        let said = said.map(|l| format!(": {l}")).unwrap_or_default();
        return Err(fail(format!("the exec credential plugin {program} {code}{said}")));
    }
    // client-go decodes the answer with a YAML-tolerant decoder; YAML 1.2 includes JSON.
    let cred: ExecCredential = serde_saphyr::from_slice(&out.stdout).map_err(|e| {
        fail(format!(
            "the exec credential plugin {program} printed no ExecCredential: {e}"
        ))
    })?;
    let status = cred
        .status
        .ok_or_else(|| fail(format!("the exec credential plugin {program} returned no status")))?;
    match (
        status.token,
        status.client_certificate_data,
        status.client_key_data,
    ) {
        (_, Some(cert), Some(key)) => {
            config.auth_info.client_certificate_data = Some(cert);
            config.auth_info.client_key_data = Some(key.into());
        }
        (Some(token), _, _) => config.auth_info.token = Some(token.into()),
        _ => {
            return Err(fail(format!(
                "the exec credential plugin {program} returned neither a token nor a client certificate"
            )));
        }
    }
    Ok(())
}

/// Creates a new directory under the system temp dir that only its owner may enter (0700 on
/// Unix), for files holding cluster data. The name is fresh: an existing path (another
/// process's folder, a planted symlink) is never reused.
pub fn private_temp_dir(prefix: &str) -> std::io::Result<std::path::PathBuf> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("{prefix}-{}-{nanos}-{n}", std::process::id()));
        match builder.create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 1000 => continue,
            Err(e) => return Err(e),
        }
    }
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
