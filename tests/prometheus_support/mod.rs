//! A real Prometheus for tests: Debian's `prometheus` package (binaries `prometheus` and
//! `promtool`), found through `KUBECTL_MTLS_PROMETHEUS_DIR` (a directory holding them, or an
//! unpacked package root with `usr/bin`) or `PATH`. Series are written as OpenMetrics
//! (timestamps in seconds relative to now, `# EOF` last), backfilled with `promtool tsdb
//! create-blocks-from openmetrics`, and served by a `prometheus` process on a free local port.
//! Without the binaries a test skips with one line; with `CI=true` it fails.

#![allow(dead_code)]

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Where the binaries are.
pub fn binaries() -> Option<(PathBuf, PathBuf)> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Some(d) = std::env::var_os("KUBECTL_MTLS_PROMETHEUS_DIR") {
        let d = PathBuf::from(d);
        dirs.push(d.join("usr/bin"));
        dirs.push(d.join("bin"));
        dirs.push(d);
    }
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    dirs.into_iter().find_map(|d| {
        let (p, t) = (d.join("prometheus"), d.join("promtool"));
        (p.is_file() && t.is_file()).then_some((p, t))
    })
}

/// The binaries, or `None` after one visible line (a failure when `CI=true`).
pub fn require(test: &str) -> Option<(PathBuf, PathBuf)> {
    if let Some(b) = binaries() {
        return Some(b);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("prometheus and promtool are required when CI=true ({test}); set KUBECTL_MTLS_PROMETHEUS_DIR");
    }
    eprintln!("SKIPPED {test}: prometheus/promtool not found (set KUBECTL_MTLS_PROMETHEUS_DIR)");
    None
}

/// One counter series: labels and (seconds before now, value) points.
#[derive(Clone, Debug)]
pub struct Series {
    pub metric: String,
    pub labels: Vec<(String, String)>,
    pub points: Vec<(u64, f64)>,
}

/// Labels of an Istio series reported by the destination.
pub fn istio_labels(
    reporter: &str,
    source: Option<(&str, &str)>,
    dest: (&str, &str),
    security: &str,
) -> Vec<(String, String)> {
    let (sns, swl) = source.unwrap_or(("unknown", "unknown"));
    let principal = match source {
        Some((ns, wl)) => format!("spiffe://cluster.local/ns/{ns}/sa/{wl}"),
        None => "unknown".into(),
    };
    [
        ("reporter", reporter.to_string()),
        ("source_workload", swl.to_string()),
        ("source_workload_namespace", sns.to_string()),
        ("source_principal", principal),
        ("destination_workload", dest.1.to_string()),
        ("destination_workload_namespace", dest.0.to_string()),
        (
            "destination_service",
            format!("{}.{}.svc.cluster.local", dest.1, dest.0),
        ),
        ("connection_security_policy", security.to_string()),
        ("response_code", "200".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// A counter that grows linearly by `total` between `from` and `to` seconds before now (first
/// point 0), sampled every 15 s, and stays flat afterwards until now.
pub fn counter(metric: &str, labels: Vec<(String, String)>, total: f64, from: u64, to: u64) -> Series {
    let mut points = Vec::new();
    let mut t = from;
    loop {
        let v = if t <= to {
            total
        } else {
            total * (from - t) as f64 / (from - to) as f64
        };
        points.push((t, v));
        if t < 15 {
            break;
        }
        t -= 15;
    }
    Series {
        metric: metric.into(),
        labels,
        points,
    }
}

/// The OpenMetrics text of the series, timestamps relative to `now` (seconds since epoch).
pub fn openmetrics(series: &[Series], now: u64) -> String {
    let mut by_metric: std::collections::BTreeMap<&str, Vec<&Series>> = Default::default();
    for s in series {
        by_metric.entry(s.metric.as_str()).or_default().push(s);
    }
    let mut out = String::new();
    for (metric, list) in by_metric {
        let family = metric.strip_suffix("_total").unwrap_or(metric);
        writeln!(out, "# TYPE {family} counter").unwrap();
        for s in list {
            let labels: Vec<String> = s
                .labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")))
                .collect();
            for (ago, v) in &s.points {
                writeln!(out, "{metric}{{{}}} {v} {}", labels.join(","), now - ago).unwrap();
            }
        }
    }
    out.push_str("# EOF\n");
    out
}

/// A running Prometheus, stopped (by its pid) and its data removed on drop.
pub struct Prometheus {
    child: Child,
    dir: PathBuf,
    pub url: String,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    let code = buf.split_whitespace().nth(1)?.parse().ok()?;
    Some((code, buf))
}

impl Prometheus {
    /// Backfills `series` and starts Prometheus on them.
    pub fn start(bins: &(PathBuf, PathBuf), series: &[Series]) -> Prometheus {
        let (prometheus, promtool) = bins;
        let dir = std::env::temp_dir().join(format!(
            "kubectl-mtls-prom-{}-{}",
            std::process::id(),
            free_port()
        ));
        let data = dir.join("data");
        std::fs::create_dir_all(&data).unwrap();
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
        let input = dir.join("series.om");
        std::fs::write(&input, openmetrics(series, now)).unwrap();
        if !series.is_empty() {
            let out = Command::new(promtool)
                .args(["tsdb", "create-blocks-from", "openmetrics"])
                .arg(&input)
                .arg(&data)
                .output()
                .expect("run promtool");
            assert!(
                out.status.success(),
                "promtool failed:\n{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let config = dir.join("minimal.yml");
        std::fs::write(&config, "global:\n  scrape_interval: 1h\n").unwrap();
        let port = free_port();
        let child = Command::new(prometheus)
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg(format!("--config.file={}", config.display()))
            .arg("--storage.tsdb.retention.time=30d")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("prometheus.log")).unwrap())
            .spawn()
            .expect("start prometheus");
        let p = Prometheus {
            child,
            dir,
            url: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some((200, _)) = http_get(port, "/-/ready") {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "prometheus not ready after 60s:\n{}",
                std::fs::read_to_string(p.dir.join("prometheus.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        p
    }

    pub fn port(&self) -> u16 {
        self.url.rsplit(':').next().unwrap().parse().unwrap()
    }

    pub fn data_dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
