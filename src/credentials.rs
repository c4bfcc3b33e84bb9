//! Credentials handled the way kubectl handles them: never sent over plain `http://`, an exec
//! credential plugin run once per process, files with cluster data in private folders. (Never
//! printing them is [`crate::redact`].)

use std::io::IsTerminal as _;
use std::process::{Command, Stdio};

use kube::Config;
use kube::config::ExecInteractiveMode;
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::redact::redact_url;

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
