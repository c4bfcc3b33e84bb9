//! Running a command in a pod's container through the API server (`pods/exec` over a
//! WebSocket, kube-rs [`Api::exec`]), collecting stdout, stderr and the exit status the way
//! `kubectl exec` reports it.
//!
//! The command is an argv: it is never handed to a shell, so nothing a user types is
//! interpreted.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Status;
use kube::api::{Api, AttachParams};
use tokio::io::AsyncReadExt;

use crate::client::Cluster;
use crate::error::{Error, chain};

/// How an exec ended.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum ExitStatus {
    /// The process ran and exited with this code.
    Exited {
        /// Exit code (0 is success).
        code: i32,
    },
    /// The process could not be started (the runtime's message, e.g. "executable file not
    /// found in $PATH"), or the server ended the stream with a failure without exit code.
    Failed {
        /// The server's message.
        message: String,
    },
}

impl ExitStatus {
    /// The exit code, when the process ran.
    pub fn code(&self) -> Option<i32> {
        match self {
            ExitStatus::Exited { code } => Some(*code),
            ExitStatus::Failed { .. } => None,
        }
    }
}

/// What a command printed and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutput {
    /// Standard output, lossily decoded.
    pub stdout: String,
    /// Standard error, lossily decoded.
    pub stderr: String,
    /// The exit status.
    pub status: ExitStatus,
}

impl ExecOutput {
    /// The exit code for interpreting a tool's result: the process's own code, or 127 with
    /// the server's message appended to stderr when it could not be started at all (what a
    /// shell reports for a missing command).
    pub fn code_and_stderr(&self) -> (i32, String) {
        match &self.status {
            ExitStatus::Exited { code } => (*code, self.stderr.clone()),
            ExitStatus::Failed { message } => {
                let mut stderr = self.stderr.clone();
                if !stderr.is_empty() && !stderr.ends_with('\n') {
                    stderr.push('\n');
                }
                stderr.push_str(message);
                let code = if tool_missing(0, message) { 127 } else { 1 };
                (code, stderr)
            }
        }
    }
}

/// Reads the exit status from the `Status` the server sends on the error channel, as
/// `kubectl exec` does: `Success` is 0; `Failure` with reason `NonZeroExitCode` carries the
/// code in a cause of reason `ExitCode`; any other failure could not run the command. No
/// status at all (the stream closed) counts as success, as in client-go.
pub fn exit_status(status: Option<&Status>) -> ExitStatus {
    let Some(s) = status else {
        return ExitStatus::Exited { code: 0 };
    };
    if s.status.as_deref() == Some("Success") {
        return ExitStatus::Exited { code: 0 };
    }
    if s.reason.as_deref() == Some("NonZeroExitCode") {
        let code = s
            .details
            .as_ref()
            .and_then(|d| d.causes.as_ref())
            .and_then(|causes| {
                causes
                    .iter()
                    .find(|c| c.reason.as_deref() == Some("ExitCode"))
                    .and_then(|c| c.message.as_deref())
                    .and_then(|m| m.trim().parse::<i32>().ok())
            });
        if let Some(code) = code {
            return ExitStatus::Exited { code };
        }
    }
    ExitStatus::Failed {
        message: s.message.clone().filter(|m| !m.is_empty()).unwrap_or_else(|| {
            format!(
                "the command failed ({})",
                s.reason.as_deref().unwrap_or("no reason")
            )
        }),
    }
}

/// The hint added to a refused exec: which right is missing, and how to check it.
pub fn exec_forbidden_hint(namespace: &str) -> String {
    format!(
        "probing needs the `create` permission on `pods/exec` in namespace \"{namespace}\" \
         (check with: kubectl auth can-i create pods/exec -n {namespace})"
    )
}

/// Runs `argv` in `container` of pod `namespace/pod`, waiting at most `timeout` for it to end.
///
/// A refused exec (403) becomes [`Error::Forbidden`] naming the missing `pods/exec` right.
pub async fn exec(
    cluster: &Cluster,
    namespace: &str,
    pod: &str,
    container: &str,
    argv: &[String],
    timeout: Duration,
) -> Result<ExecOutput, Error> {
    let api: Api<Pod> = Api::namespaced(cluster.client.clone(), namespace);
    let params = AttachParams {
        container: Some(container.to_string()),
        stdin: false,
        stdout: true,
        stderr: true,
        tty: false,
        max_stdout_buf_size: Some(64 * 1024),
        max_stderr_buf_size: Some(64 * 1024),
        ..AttachParams::default()
    };
    let run = async {
        let mut process = api
            .exec(pod, argv.to_vec(), &params)
            .await
            .map_err(|e| match cluster.err(e) {
                Error::Forbidden(msg) => {
                    Error::Forbidden(format!("{msg}; {}", exec_forbidden_hint(namespace)))
                }
                other => other,
            })?;
        let mut out_reader = process.stdout();
        let mut err_reader = process.stderr();
        let status = process.take_status();
        let read_out = async {
            let mut buf = Vec::new();
            if let Some(r) = out_reader.as_mut() {
                r.read_to_end(&mut buf).await?;
            }
            Ok::<_, std::io::Error>(buf)
        };
        let read_err = async {
            let mut buf = Vec::new();
            if let Some(r) = err_reader.as_mut() {
                r.read_to_end(&mut buf).await?;
            }
            Ok::<_, std::io::Error>(buf)
        };
        let (out, err) = tokio::join!(read_out, read_err);
        let io_err = |e: std::io::Error| {
            Error::Other(format!(
                "exec in {namespace}/{pod} ({container}): reading the output failed: {e}"
            ))
        };
        let (out, err) = (out.map_err(io_err)?, err.map_err(io_err)?);
        let status = match status {
            Some(s) => s.await,
            None => None,
        };
        process.join().await.map_err(|e| {
            Error::Other(format!(
                "exec in {namespace}/{pod} ({container}) broke off: {}",
                chain(&e)
            ))
        })?;
        Ok(ExecOutput {
            stdout: String::from_utf8_lossy(&out).into_owned(),
            stderr: String::from_utf8_lossy(&err).into_owned(),
            status: exit_status(status.as_ref()),
        })
    };
    match tokio::time::timeout(timeout, run).await {
        Ok(r) => r,
        Err(_) => Err(Error::Other(format!(
            "exec in {namespace}/{pod} ({container}) did not finish within {}s",
            timeout.as_secs()
        ))),
    }
}

/// Whether an exec result means the tool itself is missing from the image.
pub fn tool_missing(exit: i32, stderr: &str) -> bool {
    let s = stderr.to_ascii_lowercase();
    exit == 127
        || exit == 126
        || s.contains("executable file not found")
        || s.contains("no such file or directory") && s.contains("exec")
        || s.contains("command not found")
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{StatusCause, StatusDetails};

    fn failure(reason: &str, message: &str, causes: Vec<(&str, &str)>) -> Status {
        Status {
            status: Some("Failure".into()),
            reason: Some(reason.into()),
            message: Some(message.into()),
            details: Some(StatusDetails {
                causes: Some(
                    causes
                        .into_iter()
                        .map(|(r, m)| StatusCause {
                            reason: Some(r.into()),
                            message: Some(m.into()),
                            ..Default::default()
                        })
                        .collect(),
                ),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn exit_codes_are_read_like_kubectl() {
        let ok = Status {
            status: Some("Success".into()),
            ..Default::default()
        };
        assert_eq!(exit_status(Some(&ok)), ExitStatus::Exited { code: 0 });
        assert_eq!(exit_status(None), ExitStatus::Exited { code: 0 });
        let s = failure(
            "NonZeroExitCode",
            "command terminated with non-zero exit code: error executing command [curl], exit code 56",
            vec![("ExitCode", "56")],
        );
        assert_eq!(exit_status(Some(&s)), ExitStatus::Exited { code: 56 });
        let s = failure(
            "InternalError",
            "OCI runtime exec failed: exec: \"curl\": executable file not found in $PATH: unknown",
            vec![],
        );
        let status = exit_status(Some(&s));
        assert_eq!(status.code(), None);
        let out = ExecOutput {
            stdout: String::new(),
            stderr: String::new(),
            status,
        };
        let (code, stderr) = out.code_and_stderr();
        assert_eq!(code, 127);
        assert!(stderr.contains("executable file not found"), "{stderr}");
    }

    #[test]
    fn the_forbidden_hint_names_the_permission() {
        let h = exec_forbidden_hint("default");
        assert!(h.contains("`create` permission on `pods/exec`"), "{h}");
        assert!(
            h.contains("kubectl auth can-i create pods/exec -n default"),
            "{h}"
        );
    }
}
