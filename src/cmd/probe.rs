//! `kubectl mtls probe`: prove enforcement with real traffic, and inspect workload certificates.
//!
//! Traffic: resolve the target Service, its port and the pods behind it; resolve the mode those
//! pods enforce on the target port with the engine; run curl (else wget) as an argv through
//! `pods/exec` in the application container of a client in the mesh and one outside it; compare
//! what happened with what the policy predicts.
//!
//! Certificates: run `pilot-agent request GET config_dump?mask=dynamic_active_secrets` in the
//! pod's `istio-proxy` container and judge the workload certificate (`crate::certs`).

use std::time::Duration;

use crate::certs::{self, CertFinding, Expectation as CertExpectation};
use crate::cli::{GlobalArgs, ProbeArgs, ProbeOutput};
use crate::client::{Cluster, connect};
use crate::engine::{Membership, membership};
use crate::error::Error;
use crate::exec::exec;
use crate::model::PodInfo;
use crate::model::pod::PROXY_CONTAINER;
use crate::probe::*;
use crate::render;
use crate::style::{Role, paint};

/// Runs `kubectl mtls probe` and returns the exit code.
pub async fn run(global: &GlobalArgs, args: ProbeArgs) -> Result<i32, Error> {
    super::check_istio_flags(&args.istio_namespace, None)?;
    if let Some(ns) = &args.from_namespace {
        crate::validate::namespace("--from-namespace", ns)?;
    }
    let cluster = connect(&super::connect_options(global)).await?;
    match &args.certs {
        Some(pod) => run_certs(&cluster, pod, &args).await,
        None => run_traffic(&cluster, &args).await,
    }
}

/// The probe options the flags ask for.
fn options(args: &ProbeArgs) -> Options {
    Options {
        from: args.from.clone(),
        from_namespace: args.from_namespace.clone(),
        image: args.image.clone(),
        timeout: args.timeout,
        start_timeout: args.start_timeout,
        istio_namespace: args.istio_namespace.clone(),
    }
}

/// wget's `-T` takes whole seconds: when it ran with a sub-second timeout, say it was rounded up.
fn note_wget_rounding(report: &mut TrafficReport, timeout: Duration) {
    if timeout.subsec_nanos() != 0 && report.results.iter().any(|r| r.tool == Some(Tool::Wget)) {
        report.notes.push(format!(
            "wget takes whole seconds: its timeout was {}s where curl's would be {}s",
            wget_seconds(timeout),
            curl_seconds(timeout)
        ));
    }
}

/// Prints the report and the messages that go to stderr; returns the exit code.
fn finish_traffic(report: &TrafficReport, out: ProbeOutput) -> Result<i32, Error> {
    for n in &report.notes {
        eprintln!("note: {n}");
    }
    if report.results.is_empty() {
        return Err(Error::Other(
            "no client pod to probe from: use --from POD or --create-clients".into(),
        ));
    }
    print!(
        "{}",
        render::probe::render_traffic(report, out == ProbeOutput::Json)?
    );
    for f in &report.findings {
        // Not `error:`: that prefix is kept for the one line saying why the command failed.
        eprintln!("finding: {} {} {}: {}", f.severity, f.code, f.object, f.message);
    }
    for r in &report.results {
        match r.verdict {
            Verdict::PlaintextAccepted => eprintln!(
                "{}",
                paint(
                    &format!(
                        "SECURITY: plaintext from {}/{} (outside the mesh) was ACCEPTED by {}.{}:{} where STRICT is in force: mTLS is NOT enforced",
                        r.namespace,
                        r.pod,
                        report.target.service,
                        report.target.namespace,
                        report.target.port
                    ),
                    Role::Bad
                )
            ),
            Verdict::Mismatch => eprintln!(
                "mismatch: from {}/{} the policy predicts {} but the request was {}",
                r.namespace,
                r.pod,
                match r.expected {
                    Some(Expected::Accept) => "acceptance",
                    _ => "rejection",
                },
                r.observed.words()
            ),
            Verdict::Inconclusive if r.observed == Outcome::NoClientTool => eprintln!(
                "inconclusive: neither curl nor wget runs in container {} of {}/{}: use --from with a pod that has one, or --create-clients",
                r.container, r.namespace, r.pod
            ),
            Verdict::Inconclusive => eprintln!(
                "inconclusive: from {}/{} the request {}{}",
                r.namespace,
                r.pod,
                r.observed.words(),
                if r.stderr.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", r.stderr)
                }
            ),
            Verdict::Pass => {}
        }
    }
    if !report.ok {
        let failed = report.results.iter().filter(|r| r.verdict.fails()).count();
        eprintln!(
            "error: {} of {} did not pass (see above)",
            failed,
            render::count(report.results.len(), "probe")
        );
    }
    Ok(if report.ok { 0 } else { 1 })
}

async fn run_traffic(cluster: &Cluster, args: &ProbeArgs) -> Result<i32, Error> {
    let opts = options(args);
    let raw = args.target.as_deref().ok_or_else(|| {
        Error::Usage("probe needs a TARGET (SERVICE[.NAMESPACE][:PORT][/PATH]) or --certs POD".into())
    })?;
    let refs: Vec<PodRef> = args
        .from
        .iter()
        .map(|f| parse_pod_ref(f))
        .collect::<Result<_, _>>()?;
    let target = resolve_target(cluster, &opts, raw).await?;
    let from_ns = args
        .from_namespace
        .clone()
        .unwrap_or_else(|| target.view.namespace.clone());
    let mut notes = target.notes.clone();

    if args.create_clients {
        return match with_created_clients(cluster, &opts, &target, &from_ns, &mut notes).await? {
            None => Ok(130),
            Some(results) => {
                let mut report = build_report(&target, results, notes);
                note_wget_rounding(&mut report, args.timeout);
                finish_traffic(&report, args.output)
            }
        };
    }
    let clients = if refs.is_empty() {
        auto_clients(cluster, &opts, &target, &mut notes).await?
    } else {
        let mut v: Vec<Client> = Vec::new();
        // Each pod once, however it was named (twice, or as deploy/NAME and its pod).
        let mut spellings: Vec<Vec<String>> = Vec::new();
        for (r, raw) in refs.iter().zip(&args.from) {
            let pod = resolve_pod(cluster, &from_ns, r).await?;
            let client = Client::new(pod, Origin::From)?;
            match v.iter().position(|c| c.key() == client.key()) {
                Some(i) => spellings[i].push(raw.clone()),
                None => {
                    v.push(client);
                    spellings.push(vec![raw.clone()]);
                }
            }
        }
        for (c, given) in v.iter().zip(&spellings) {
            if given.len() > 1 {
                notes.push(format!(
                    "client {} was given {} times (--from {}): probed once",
                    c.key(),
                    given.len(),
                    given.join(", --from ")
                ));
            }
        }
        v
    };
    for c in &clients {
        if target.backing.contains(&c.key()) {
            notes.push(format!(
                "client {} is itself behind the target Service: its request may be answered by itself",
                c.key()
            ));
        }
    }
    let results = probe_all(cluster, &opts, &target, &clients).await?;
    let mut report = build_report(&target, results, notes);
    note_wget_rounding(&mut report, args.timeout);
    finish_traffic(&report, args.output)
}

async fn run_certs(cluster: &Cluster, raw: &str, args: &ProbeArgs) -> Result<i32, Error> {
    let r = parse_pod_ref(raw)?;
    let ns = cluster.namespace.clone();
    let pod = resolve_pod(cluster, &ns, &r).await?;
    let name = pod_name(&pod);
    let sa = pod
        .spec
        .as_ref()
        .and_then(|s| s.service_account_name.clone())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "default".into());
    let mesh = membership(&PodInfo::from(&pod));
    let mut notes = Vec::new();
    let td = trust_domain(cluster, &args.istio_namespace, &mut notes).await?;
    let expectation = CertExpectation {
        namespace: ns.clone(),
        service_account: sa.clone(),
        trust_domain: td.clone(),
    };
    let mut report = CertsReport {
        namespace: ns.clone(),
        pod: name.clone(),
        service_account: sa,
        mesh,
        expected_spiffe_id: expectation.spiffe_id(td.as_deref().unwrap_or("<trust-domain>")),
        certificates: None,
        findings: Vec::new(),
        notes,
    };
    match mesh {
        Membership::None => report.findings.push(CertFinding::new(
            "NotInMesh",
            format!(
                "pod {ns}/{name} has no sidecar and is not captured by ambient: it is not in the mesh and has no workload certificate"
            ),
        )),
        Membership::Ambient => report.findings.push(CertFinding::new(
            "AmbientCertificatesInZtunnel",
            format!(
                "pod {ns}/{name} is in ambient mode: its certificate lives in the ztunnel on its node (istioctl ztunnel-config certificates)"
            ),
        )),
        Membership::Sidecar | Membership::NativeSidecar => {
            let argv: Vec<String> = ["pilot-agent", "request", "GET", "config_dump?mask=dynamic_active_secrets"]
                .map(str::to_string)
                .to_vec();
            let out = exec(cluster, &ns, &name, PROXY_CONTAINER, &argv, Duration::from_secs(30)).await?;
            let (code, stderr) = out.code_and_stderr();
            if code != 0 {
                return Err(Error::Other(format!(
                    "`pilot-agent request GET config_dump?mask=dynamic_active_secrets` in {PROXY_CONTAINER} of {ns}/{name} failed (exit {code}): {}",
                    stderr.trim()
                )));
            }
            let secrets = certs::parse_secrets_dump(&out.stdout)
                .map_err(|e| Error::Other(format!("pod {ns}/{name}: {e}")))?;
            let now = jiff::Timestamp::now().as_second();
            let analysed = certs::analyse(&secrets, &expectation, now)
                .map_err(|e| Error::Other(format!("pod {ns}/{name}: {e}")))?;
            report.findings = analysed.findings.clone();
            report.certificates = Some(analysed);
        }
    }
    print!(
        "{}",
        render::probe::render_certs(&report, args.output == ProbeOutput::Json)?
    );
    for n in &report.notes {
        eprintln!("note: {n}");
    }
    Ok(if report.findings.iter().any(|f| f.severity == "error") {
        1
    } else {
        0
    })
}
