//! What `kubectl exec` runs: scripted answers decided by the test.

use serde::Deserialize;
use std::sync::Arc;

use crate::cluster::Cluster;
use crate::util::glob_match;

/// One exec call as the container would see it.
#[derive(Clone, Debug, PartialEq)]
pub struct ExecRequest {
    /// Namespace of the pod.
    pub namespace: String,
    /// Pod name.
    pub pod: String,
    /// Container the command runs in.
    pub container: String,
    /// argv.
    pub command: Vec<String>,
    /// Everything the client wrote to stdin (when stdin was requested).
    pub stdin: Vec<u8>,
    /// Whether a TTY was requested.
    pub tty: bool,
    /// The user who ran it.
    pub user: String,
}

/// What the command printed and how it exited.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExecResponse {
    /// Bytes written to stdout.
    #[serde(default)]
    pub stdout: String,
    /// Bytes written to stderr.
    #[serde(default)]
    pub stderr: String,
    /// Exit code (0 = success).
    #[serde(default)]
    pub exit_code: i32,
}

impl ExecResponse {
    /// Success with this stdout.
    pub fn ok(stdout: impl Into<String>) -> Self {
        ExecResponse {
            stdout: stdout.into(),
            stderr: String::new(),
            exit_code: 0,
        }
    }
    /// A failure with stderr and an exit code.
    pub fn fail(exit_code: i32, stderr: impl Into<String>) -> Self {
        ExecResponse {
            stdout: String::new(),
            stderr: stderr.into(),
            exit_code,
        }
    }
    /// What a container answers for a command it does not have.
    pub fn not_found(argv0: &str) -> Self {
        Self::fail(127, format!("sh: {argv0}: command not found\n"))
    }
}

/// A table rule: when every given pattern matches, answer with `response`.
///
/// In YAML (a document `apiVersion: kube-sim/v1`, `kind: ExecRules`, `rules: [...]`):
/// ```yaml
/// - namespace: istioinaction    # glob, optional
///   pod: "sleep-*"              # glob, optional
///   container: sleep            # glob, optional
///   command: [curl, "-s*", "http://web-api*"]  # one glob per argument
///   prefix: false               # true: argv only has to start with `command`
///   stdout: "hello\n"
///   stderr: ""
///   exitCode: 0
/// ```
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExecRule {
    /// Namespace glob.
    #[serde(default)]
    pub namespace: Option<String>,
    /// Pod name glob.
    #[serde(default)]
    pub pod: Option<String>,
    /// Container glob.
    #[serde(default)]
    pub container: Option<String>,
    /// One glob per argument.
    pub command: Vec<String>,
    /// Match argv by prefix instead of exactly.
    #[serde(default)]
    pub prefix: bool,
    /// stdout of a match.
    #[serde(default)]
    pub stdout: String,
    /// stderr of a match.
    #[serde(default)]
    pub stderr: String,
    /// Exit code of a match.
    #[serde(default)]
    pub exit_code: i32,
}

impl ExecRule {
    /// A rule for this argv (globs) answering `stdout` with exit code 0.
    pub fn new<S: Into<String>>(command: impl IntoIterator<Item = S>, stdout: impl Into<String>) -> Self {
        ExecRule {
            command: command.into_iter().map(Into::into).collect(),
            stdout: stdout.into(),
            ..Default::default()
        }
    }

    /// Whether the rule applies to a request.
    pub fn matches(&self, req: &ExecRequest) -> bool {
        let opt = |p: &Option<String>, v: &str| p.as_deref().is_none_or(|p| glob_match(p, v));
        if !(opt(&self.namespace, &req.namespace)
            && opt(&self.pod, &req.pod)
            && opt(&self.container, &req.container))
        {
            return false;
        }
        if self.prefix {
            self.command.len() <= req.command.len()
                && self
                    .command
                    .iter()
                    .zip(&req.command)
                    .all(|(p, a)| glob_match(p, a))
        } else {
            self.command.len() == req.command.len()
                && self
                    .command
                    .iter()
                    .zip(&req.command)
                    .all(|(p, a)| glob_match(p, a))
        }
    }

    /// The answer of the rule.
    pub fn response(&self) -> ExecResponse {
        ExecResponse {
            stdout: self.stdout.clone(),
            stderr: self.stderr.clone(),
            exit_code: self.exit_code,
        }
    }
}

/// A handler closure: answers a request, or `None` to let the next handler
/// (then the rule table) decide. It can read the cluster's objects.
pub type ExecHandlerFn = Arc<dyn Fn(&ExecRequest, &Cluster) -> Option<ExecResponse> + Send + Sync>;

/// Handlers first (in the order added), then rules (first match), then
/// "command not found" (exit 127).
#[derive(Clone, Default)]
pub(crate) struct ExecConfig {
    pub handlers: Vec<ExecHandlerFn>,
    pub rules: Vec<ExecRule>,
}

impl ExecConfig {
    pub(crate) fn run(&self, req: &ExecRequest, cluster: &Cluster) -> ExecResponse {
        for h in &self.handlers {
            if let Some(r) = h(req, cluster) {
                return r;
            }
        }
        if let Some(rule) = self.rules.iter().find(|r| r.matches(req)) {
            return rule.response();
        }
        ExecResponse::not_found(req.command.first().map_or("", String::as_str))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(cmd: &[&str]) -> ExecRequest {
        ExecRequest {
            namespace: "ns".into(),
            pod: "sleep-1".into(),
            container: "sleep".into(),
            command: cmd.iter().map(|s| s.to_string()).collect(),
            stdin: vec![],
            tty: false,
            user: "admin".into(),
        }
    }

    #[test]
    fn rule_matching() {
        let mut r = ExecRule::new(["curl", "-s", "http://*"], "ok");
        assert!(r.matches(&req(&["curl", "-s", "http://web:8080/"])));
        assert!(!r.matches(&req(&["curl", "-s", "http://web", "-v"])));
        r.prefix = true;
        assert!(r.matches(&req(&["curl", "-s", "http://web", "-v"])));
        r.pod = Some("web-*".into());
        assert!(!r.matches(&req(&["curl", "-s", "http://web"])));
    }
}
