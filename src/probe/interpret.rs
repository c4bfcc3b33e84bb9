//! Interpretation: the client command (an argv, never a shell string) and what curl or wget
//! reported.

use std::time::Duration;

use serde::Serialize;

use super::*;

/// The HTTP client a probe runs in the client container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Tool {
    /// curl.
    Curl,
    /// wget (busybox or GNU), the fallback.
    Wget,
}

/// `timeout` in seconds exactly as curl reads `--max-time` (decimals, no rounding): `5`, `0.5`,
/// `1.25`.
pub fn curl_seconds(timeout: Duration) -> String {
    let nanos = timeout.subsec_nanos();
    if nanos == 0 {
        timeout.as_secs().to_string()
    } else {
        let frac = format!("{nanos:09}");
        format!("{}.{}", timeout.as_secs(), frac.trim_end_matches('0'))
    }
}

/// `timeout` in whole seconds for wget's `-T` (busybox reads an integer): rounded up, at least 1.
pub fn wget_seconds(timeout: Duration) -> String {
    (timeout.as_secs() + u64::from(timeout.subsec_nanos() > 0))
        .max(1)
        .to_string()
}

/// The argv to exec: no shell, the URL is one argument.
pub fn command(tool: Tool, url: &str, timeout: Duration) -> Vec<String> {
    let secs = match tool {
        Tool::Curl => curl_seconds(timeout),
        Tool::Wget => wget_seconds(timeout),
    };
    match tool {
        Tool::Curl => [
            "curl",
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            &secs,
            url,
        ]
        .map(str::to_string)
        .to_vec(),
        Tool::Wget => ["wget", "-q", "-S", "-O", "/dev/null", "-T", &secs, url]
            .map(str::to_string)
            .to_vec(),
    }
}

/// What the client saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "camelCase")]
pub enum Outcome {
    /// The server accepted the connection and answered with this HTTP status.
    Accepted {
        /// HTTP status code.
        status: u16,
    },
    /// The connection was rejected (reset, empty reply, failed handshake, or the client's
    /// sidecar could not connect upstream).
    Rejected {
        /// Why, in words.
        detail: String,
    },
    /// Nothing listens on the port.
    Refused,
    /// No answer within the timeout.
    Timeout,
    /// The host name does not resolve.
    Dns,
    /// Neither curl nor wget is in the client container.
    NoClientTool,
    /// Something else failed.
    Error {
        /// Exit code.
        exit: i32,
        /// What the tool printed.
        detail: String,
    },
}

impl Outcome {
    /// A short phrase for tables.
    pub fn words(&self) -> String {
        match self {
            Outcome::Accepted { status } => format!("accepted (HTTP {status})"),
            Outcome::Rejected { detail } => format!("rejected ({detail})"),
            Outcome::Refused => "connection refused (nothing listens on the port)".into(),
            Outcome::Timeout => "timed out".into(),
            Outcome::Dns => "host not found (DNS)".into(),
            Outcome::NoClientTool => "no curl or wget in the client container".into(),
            Outcome::Error { exit, detail } => format!("failed (exit {exit}: {detail})"),
        }
    }
}

/// Reads curl's exit code and `-w '%{http_code}'` output. `client_in_mesh` matters: a client
/// with a sidecar talks plaintext to its own proxy, so a rejection by the server comes back as
/// HTTP 503 from that proxy rather than as a reset.
pub fn interpret_curl(exit: i32, stdout: &str, stderr: &str, client_in_mesh: bool) -> Outcome {
    let code: u16 = stdout.trim().parse().unwrap_or(0);
    let first = stderr.lines().next().unwrap_or("").trim().to_string();
    match exit {
        0 if client_in_mesh && code == 503 => Outcome::Rejected {
            detail: "HTTP 503 from the client's sidecar: upstream connect error".into(),
        },
        0 if code > 0 => Outcome::Accepted { status: code },
        56 => Outcome::Rejected {
            detail: "connection reset by peer, curl exit 56".into(),
        },
        52 => Outcome::Rejected {
            detail: "empty reply from server, curl exit 52".into(),
        },
        35 => Outcome::Rejected {
            detail: "TLS handshake failed, curl exit 35".into(),
        },
        7 => Outcome::Refused,
        28 => Outcome::Timeout,
        6 => Outcome::Dns,
        e if tool_missing(e, stderr) => Outcome::NoClientTool,
        e => Outcome::Error {
            exit: e,
            detail: if first.is_empty() {
                "no output".into()
            } else {
                first
            },
        },
    }
}

/// Reads wget's exit code and its `-S` header dump on stderr (busybox and GNU wording).
pub fn interpret_wget(exit: i32, stderr: &str, client_in_mesh: bool) -> Outcome {
    let lower = stderr.to_ascii_lowercase();
    let status = stderr
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            let rest = l.strip_prefix("HTTP/").or_else(|| l.split("HTTP/").nth(1))?;
            rest.split_whitespace().nth(1)?.parse::<u16>().ok()
        })
        .next_back();
    if lower.contains("reset by peer") {
        return Outcome::Rejected {
            detail: "connection reset by peer (wget)".into(),
        };
    }
    if lower.contains("connection refused") {
        return Outcome::Refused;
    }
    if lower.contains("timed out") {
        return Outcome::Timeout;
    }
    if lower.contains("bad address")
        || lower.contains("unable to resolve")
        || lower.contains("name or service")
    {
        return Outcome::Dns;
    }
    match status {
        Some(503) if client_in_mesh => Outcome::Rejected {
            detail: "HTTP 503 from the client's sidecar: upstream connect error".into(),
        },
        Some(code) => Outcome::Accepted { status: code },
        None if exit == 0 => Outcome::Accepted { status: 200 },
        None if tool_missing(exit, stderr) => Outcome::NoClientTool,
        None if lower.contains("error getting response") || lower.contains("empty") => Outcome::Rejected {
            detail: "no response (wget)".into(),
        },
        None => Outcome::Error {
            exit,
            detail: stderr.lines().next().unwrap_or("no output").trim().to_string(),
        },
    }
}
