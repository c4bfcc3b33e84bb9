//! Errors shown to the user: one line on stderr starting `error:`, exit 1 for runtime
//! failures and 2 for usage errors.

use std::error::Error as StdError;

/// Everything that can stop a command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The command line is wrong in a way clap cannot see (exit 2).
    #[error("{0}")]
    Usage(String),

    /// The kubeconfig cannot be read or does not name what was asked for.
    #[error("{0}")]
    Kubeconfig(String),

    /// The API server cannot be reached at all.
    #[error("cannot reach the Kubernetes API server at {server}: {reason}")]
    Unreachable {
        /// The server URL from the kubeconfig.
        server: String,
        /// What went wrong, in a few words, with a hint.
        reason: String,
    },

    /// The server rejected the credentials (401).
    #[error(
        "the server at {server} rejected the credentials{who} (401 Unauthorized): they may have expired; log in again or refresh the kubeconfig"
    )]
    Unauthorized {
        /// The server URL.
        server: String,
        /// ` of user "x"` when known.
        who: String,
    },

    /// The client could not obtain credentials (exec plugin, token file, ...).
    #[error("cannot get credentials{who}: {reason}")]
    Credentials {
        /// ` for user "x"` when known.
        who: String,
        /// The underlying failure.
        reason: String,
    },

    /// RBAC forbids the request; the message is the server's own.
    #[error("{0}")]
    Forbidden(String),

    /// The server answered with an error Status; the message is the server's own.
    #[error("{message}")]
    Api {
        /// HTTP status code.
        code: u16,
        /// The server's reason (NotFound, Invalid, Conflict, ...).
        reason: String,
        /// The server's message.
        message: String,
    },

    /// Istio's PeerAuthentication CRD is not served.
    #[error("PeerAuthentication is not served by this cluster; is Istio installed?")]
    IstioMissing,

    /// A subcommand that is not built yet.
    #[error("`{0}` is not implemented yet")]
    NotImplemented(&'static str),

    /// Anything else, already phrased for the user.
    #[error("{0}")]
    Other(String),
}

impl Error {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) => 2,
            _ => 1,
        }
    }

    /// The API error reason (`NotFound`, `Conflict`, ...) when the server answered with one.
    pub fn api_reason(&self) -> Option<&str> {
        match self {
            Error::Api { reason, .. } => Some(reason),
            Error::Forbidden(_) => Some("Forbidden"),
            _ => None,
        }
    }

    /// Turns a kube-rs error into a user-facing one, naming the server and user involved.
    pub fn from_kube(err: kube::Error, server: &str, user: Option<&str>) -> Error {
        let who = |prep: &str| user.map(|u| format!(" {prep} user \"{u}\"")).unwrap_or_default();
        match err {
            kube::Error::Api(status) => {
                let code = status.code;
                let message = if status.message.is_empty() {
                    format!("the server answered {code} {}", status.reason)
                } else {
                    status.message.clone()
                };
                match code {
                    401 => Error::Unauthorized {
                        server: server.to_string(),
                        who: who("of"),
                    },
                    403 => Error::Forbidden(message),
                    _ => Error::Api {
                        code,
                        reason: status.reason.clone(),
                        message,
                    },
                }
            }
            kube::Error::Auth(e) => Error::Credentials {
                who: who("for"),
                reason: chain(&e),
            },
            kube::Error::InferKubeconfig(e) => {
                Error::Kubeconfig(format!("invalid kubeconfig: {}", chain(&e)))
            }
            kube::Error::SerdeError(e) => {
                Error::Other(format!("unexpected response from the server at {server}: {e}"))
            }
            kube::Error::HyperError(_) | kube::Error::Service(_) => {
                let text = chain(&err);
                Error::Unreachable {
                    server: server.to_string(),
                    reason: transport_reason(&text),
                }
            }
            other => Error::Other(chain(&other)),
        }
    }
}

/// All messages of an error's source chain, joined, without repeats.
pub fn chain(err: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = cur {
        let msg = e.to_string();
        if !parts.iter().any(|p| p.contains(&msg)) {
            parts.push(msg);
        }
        cur = e.source();
    }
    parts.join(": ")
}

/// Phrases a transport failure (connection refused, DNS, timeout, TLS) for a person.
fn transport_reason(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    if lower.contains("connection refused") {
        "connection refused (is the cluster running? check --context and --kubeconfig)".into()
    } else if lower.contains("dns error")
        || lower.contains("failed to lookup")
        || lower.contains("name or service")
    {
        "the host name does not resolve (check the cluster's server URL in the kubeconfig)".into()
    } else if lower.contains("timed out") || lower.contains("elapsed") || lower.contains("timeout") {
        "the request timed out (raise --request-timeout, or check the network path to the cluster)".into()
    } else if lower.contains("certificate") || lower.contains("tls") || lower.contains("handshake") {
        format!(
            "TLS failed: {text} (check the cluster's certificate-authority; --insecure-skip-tls-verify skips the check)"
        )
    } else {
        text.to_string()
    }
}

/// Prints a runtime error as one `error:` line and returns its exit code.
pub fn report(err: &Error) -> i32 {
    // Server messages and transport errors may quote URLs: never print their credentials.
    let msg = crate::redact::redact_text(&err.to_string());
    eprintln!("error: {}", one_line(&msg));
    err.exit_code()
}

/// Prints a clap error (help and version go to stdout with exit 0; usage errors become one
/// `error:` line with a pointer to `--help`, exit 2).
pub fn report_usage(err: clap::Error, name: &str) -> i32 {
    use clap::error::ErrorKind;
    match err.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = err.print();
            0
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = err.print();
            2
        }
        _ => {
            let rendered = err.render().to_string();
            // The message is everything before the first blank line (clap puts the missing
            // arguments on indented lines below "the following required arguments ...:").
            let message: Vec<&str> = rendered
                .lines()
                .skip_while(|l| l.trim().is_empty())
                .take_while(|l| !l.trim().is_empty())
                .map(str::trim)
                .collect();
            let joined = message.join(" ");
            let first = if joined.is_empty() {
                "invalid arguments"
            } else {
                joined.as_str()
            };
            let first = first.strip_prefix("error: ").unwrap_or(first);
            let path = usage_path(&rendered).unwrap_or_else(|| name.to_string());
            eprintln!(
                "error: {}{}; see '{path} --help'",
                first.trim_end_matches('.'),
                suggestion(&err)
            );
            2
        }
    }
}

/// clap's "did you mean" (a similar subcommand, flag or value), as `; did you mean 'status'?`.
fn suggestion(err: &clap::Error) -> String {
    use clap::error::{ContextKind, ContextValue};
    let names: Vec<String> = [
        ContextKind::SuggestedSubcommand,
        ContextKind::SuggestedArg,
        ContextKind::SuggestedValue,
    ]
    .into_iter()
    .filter_map(|k| err.get(k))
    .flat_map(|v| match v {
        ContextValue::String(s) => vec![s.clone()],
        ContextValue::Strings(v) => v.clone(),
        _ => Vec::new(),
    })
    .map(|s| format!("'{s}'"))
    .collect();
    if names.is_empty() {
        String::new()
    } else {
        format!(" (did you mean {}?)", names.join(" or "))
    }
}

/// The command path the arguments select (`kubectl mtls enable`): the subcommand words among
/// them, so a usage error points to that subcommand's own `--help` even when clap's message
/// has no `Usage:` line.
pub fn command_path(name: &str, cmd: &clap::Command, args: &[std::ffi::OsString]) -> String {
    let mut path = name.to_string();
    let mut cur = cmd;
    for arg in args.iter().skip(1) {
        let Some(word) = arg.to_str() else { continue };
        if word == "--" {
            break;
        }
        if word.starts_with('-') {
            continue;
        }
        if let Some(sub) = cur.find_subcommand(word) {
            path.push(' ');
            path.push_str(sub.get_name());
            cur = sub;
        }
    }
    path
}

/// The command path from clap's `Usage:` line (`kubectl mtls status`), so the hint names the
/// subcommand's help.
fn usage_path(rendered: &str) -> Option<String> {
    let line = rendered.lines().find_map(|l| l.trim().strip_prefix("Usage: "))?;
    let words: Vec<&str> = line
        .split_whitespace()
        .take_while(|w| !w.starts_with(['[', '<', '-']))
        .collect();
    (!words.is_empty()).then(|| words.join(" "))
}

fn one_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::Status;

    fn api_err(code: u16, reason: &str, message: &str) -> kube::Error {
        let mut s = Status::failure(message, reason);
        s.code = code;
        kube::Error::Api(Box::new(s))
    }

    #[test]
    fn api_errors_keep_the_servers_message() {
        let e = Error::from_kube(
            api_err(
                403,
                "Forbidden",
                "pods is forbidden: User \"x\" cannot list resource \"pods\"",
            ),
            "https://k",
            Some("x"),
        );
        assert!(matches!(e, Error::Forbidden(_)));
        assert!(e.to_string().starts_with("pods is forbidden"));
        let e = Error::from_kube(api_err(404, "NotFound", "nope"), "https://k", None);
        assert_eq!(e.api_reason(), Some("NotFound"));
        assert_eq!(e.exit_code(), 1);
    }

    #[test]
    fn unauthorized_says_credentials_may_have_expired() {
        let e = Error::from_kube(
            api_err(401, "Unauthorized", "Unauthorized"),
            "https://k",
            Some("alice"),
        );
        let s = e.to_string();
        assert!(s.contains("rejected the credentials of user \"alice\""), "{s}");
        assert!(s.contains("expired"), "{s}");
    }

    #[test]
    fn transport_failures_are_phrased() {
        assert!(
            transport_reason("client error (Connect): tcp connect error: Connection refused (os error 111)")
                .starts_with("connection refused")
        );
        assert!(transport_reason("dns error: failed to lookup address").contains("does not resolve"));
        assert!(transport_reason("operation timed out").contains("timed out"));
    }

    #[test]
    fn usage_hint_names_the_subcommand() {
        let r =
            "error: unexpected argument '--x' found\n\nUsage: kubectl mtls status [OPTIONS] [NAMESPACE]...\n";
        assert_eq!(usage_path(r).as_deref(), Some("kubectl mtls status"));
        assert_eq!(usage_path("error: x"), None);
        let r = "error: x\n\nUsage: kubectl mtls enable --kubeconfig <PATH> <--strict|--unset> [NAMESPACE]\n";
        assert_eq!(usage_path(r).as_deref(), Some("kubectl mtls enable"));
    }

    #[test]
    fn multi_line_messages_become_one_line() {
        assert_eq!(one_line("a\n\n b \nc"), "a; b; c");
        assert_eq!(Error::Usage("x".into()).exit_code(), 2);
    }
}
