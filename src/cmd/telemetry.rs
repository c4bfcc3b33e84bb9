//! The telemetry flags of `status`, `enable` and `diff` turned into a telemetry request, and
//! the read (with one warning line per thing that could not be read).

use std::time::Duration;

use crate::cli::{TelemetryArg, TelemetryArgs};
use crate::client::Cluster;
use crate::engine::Analysis;
use crate::error::Error;
use crate::model::Traffic;
use crate::telemetry::{self, Mode, Request};

/// Time allowed per Prometheus query or per proxy read when `--request-timeout` is not set.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The request the flags ask for; inconsistent flags are usage errors (exit 2).
pub fn request(
    args: &TelemetryArgs,
    istio_namespace: &str,
    namespaces: Option<Vec<String>>,
    timeout: Option<Duration>,
) -> Result<Request, Error> {
    let mode = match args.source() {
        TelemetryArg::Auto => Mode::Auto,
        TelemetryArg::Prometheus => Mode::Prometheus,
        TelemetryArg::Proxies => Mode::Proxies,
        TelemetryArg::Off => Mode::Off,
    };
    if let Some(url) = &args.prometheus {
        match mode {
            Mode::Off | Mode::Proxies => {
                return Err(Error::Usage(format!(
                    "--prometheus cannot be combined with --telemetry {}",
                    if mode == Mode::Off { "off" } else { "proxies" }
                )));
            }
            Mode::Auto | Mode::Prometheus => {
                telemetry::http::Endpoint::parse(url).map_err(Error::Usage)?;
            }
        }
    }
    Ok(Request {
        mode,
        prometheus: args.prometheus.clone(),
        window: args.since,
        namespaces,
        istio_namespace: istio_namespace.to_string(),
        timeout: timeout.unwrap_or(DEFAULT_TIMEOUT),
    })
}

/// The destination namespaces a change's telemetry check needs: the changed policy's namespace,
/// or every namespace for a mesh-wide change.
pub fn scope_of(target: &crate::change::Target, namespace: &str) -> Option<Vec<String>> {
    match target {
        crate::change::Target::Mesh => None,
        _ => Some(vec![namespace.to_string()]),
    }
}

/// Reads the telemetry for `analysis` (proxies mode reads its meshed pods in the request's
/// namespaces) and prints each error as a warning on stderr.
pub async fn read(cluster: &Cluster, req: &Request, analysis: &Analysis) -> Traffic {
    let pods = if req.mode == Mode::Proxies {
        telemetry::proxy_pods(analysis, req.namespaces.as_deref())
    } else {
        Vec::new()
    };
    let traffic = telemetry::read(cluster, req, &pods).await;
    for e in &traffic.errors {
        eprintln!("Warning: telemetry: {e}");
    }
    traffic
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(source: TelemetryArg, prometheus: Option<&str>) -> TelemetryArgs {
        TelemetryArgs {
            telemetry: source,
            telemetry_from: None,
            prometheus: prometheus.map(str::to_string),
            since: Duration::from_secs(3600),
        }
    }

    #[test]
    fn flags_become_a_request() {
        let r = request(
            &args(TelemetryArg::Auto, Some("http://prom:9090")),
            "istio-system",
            None,
            None,
        )
        .unwrap();
        assert_eq!(r.mode, Mode::Auto);
        assert_eq!(r.timeout, DEFAULT_TIMEOUT);
        assert_eq!(r.window, Duration::from_secs(3600));
        let mut a = args(TelemetryArg::Auto, None);
        a.telemetry_from = Some(crate::cli::TelemetryFrom::Proxies);
        let r = request(
            &a,
            "istio-system",
            Some(vec!["x".into()]),
            Some(Duration::from_secs(5)),
        )
        .unwrap();
        assert_eq!((r.mode, r.timeout), (Mode::Proxies, Duration::from_secs(5)));
        for (source, url, msg) in [
            (TelemetryArg::Off, "http://p:1", "--telemetry off"),
            (TelemetryArg::Proxies, "http://p:1", "--telemetry proxies"),
            (TelemetryArg::Prometheus, "p:1", "invalid Prometheus URL"),
        ] {
            let e = request(&args(source, Some(url)), "istio-system", None, None).unwrap_err();
            assert!(matches!(e, Error::Usage(_)), "{e}");
            assert!(e.to_string().contains(msg), "{e}");
        }
    }
}
