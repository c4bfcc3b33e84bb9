//! Readiness from observed traffic: joins [`Traffic`] samples to the analysis's workloads,
//! counts what each received over mTLS and in plaintext, adds telemetry reasons to the
//! namespaces' STRICT readiness, and finds the plaintext callers a change to STRICT would cut.
//! Pure.
//!
//! Istio names the destination workload as the pods' workload (the Deployment's name for its
//! pods), so a sample joins the workload of the same namespace and name, whatever its kind.
//! What the telemetry could not read is unknown, never zero: a workload with an unread pod has
//! no counts, and a namespace whose verdict depends on it is not `yes`.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::analysis::{Analysis, StrictReady, WorkloadView};
use super::findings::{plural, short_list};
use super::whatif::Effects;
use super::workload::WorkloadRef;
use crate::model::traffic::human_duration;
use crate::model::{Mode, Peer, Protocol, Security, TelemetrySource, Traffic};

/// A caller that sent plaintext to a workload.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PlaintextCaller {
    /// Who (`unknown` for callers outside the mesh).
    pub source: Peer,
    /// Its SPIFFE principal when known.
    pub principal: Option<String>,
    /// HTTP requests or TCP connections.
    pub protocol: Protocol,
    /// Requests (HTTP) or connections (TCP) in the window.
    pub requests: u64,
}

/// What one workload received.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkloadTraffic {
    /// Requests and connections received over mutual TLS.
    pub mtls_requests: u64,
    /// Requests and connections received in plaintext.
    pub plaintext_requests: u64,
    /// Who sent the plaintext, most first.
    pub plaintext_callers: Vec<PlaintextCaller>,
}

/// A caller as counted: who, its principal, the protocol.
type CallerKey = (Peer, Option<String>, Protocol);

/// Whether what a workload received is known: every pod is in the mesh (only a proxy reports
/// what it receives) and its counters were read.
fn workload_covered(a: &Analysis, w: &WorkloadView, traffic: &Traffic) -> bool {
    w.pod_indices.iter().all(|&i| {
        let p = &a.pods[i];
        p.mesh.membership.is_meshed() && traffic.covers_pod(&p.namespace, &p.name)
    })
}

/// Requests per (caller, principal, protocol) toward one workload.
type CallerCounts = BTreeMap<CallerKey, u64>;

/// Per workload of `a.workloads` (same order): what it received, or `None` when unknown (no
/// telemetry, a pod outside the mesh that no proxy reports for, or a pod whose counters could
/// not be read).
pub fn workload_traffic(a: &Analysis, traffic: &Traffic) -> Vec<Option<WorkloadTraffic>> {
    let mut by_name: BTreeMap<(&str, &str), Vec<usize>> = BTreeMap::new();
    for (i, w) in a.workloads.iter().enumerate() {
        by_name
            .entry((w.workload.namespace.as_str(), w.workload.name.as_str()))
            .or_default()
            .push(i);
    }
    let mut out: Vec<Option<WorkloadTraffic>> = a
        .workloads
        .iter()
        .map(|w| workload_covered(a, w, traffic).then(WorkloadTraffic::default))
        .collect();
    let mut callers: Vec<CallerCounts> = vec![BTreeMap::new(); out.len()];
    for s in &traffic.samples {
        let Some(idx) = by_name.get(&(s.destination_namespace.as_str(), s.destination_workload.as_str()))
        else {
            continue;
        };
        for &i in idx {
            let Some(w) = out[i].as_mut() else { continue };
            match s.security {
                Security::MutualTls => w.mtls_requests = w.mtls_requests.saturating_add(s.count),
                Security::Plaintext => {
                    w.plaintext_requests = w.plaintext_requests.saturating_add(s.count);
                    let c = callers[i]
                        .entry((s.source.clone(), s.source_principal.clone(), s.protocol))
                        .or_default();
                    *c = c.saturating_add(s.count);
                }
            }
        }
    }
    for (w, c) in out.iter_mut().zip(callers) {
        if let Some(w) = w {
            let mut list: Vec<PlaintextCaller> = c
                .into_iter()
                .map(|((source, principal, protocol), requests)| PlaintextCaller {
                    source,
                    principal,
                    protocol,
                    requests,
                })
                .collect();
            list.sort_by(|x, y| y.requests.cmp(&x.requests).then_with(|| x.cmp(y)));
            w.plaintext_callers = list;
        }
    }
    out
}

/// Whether switching its namespace to STRICT could change what a workload accepts: it has
/// pods in the mesh and is not STRICT on every pod and port already.
fn could_become_strict(w: &WorkloadView) -> bool {
    let all_strict = w.modes.iter().all(|r| r.mode == Mode::Strict)
        && w.ports.values().flatten().all(|r| r.mode == Mode::Strict);
    w.meshed_pods > 0 && !all_strict
}

/// The telemetry reason of a set of plaintext callers: `plaintext from default/sleep, 1 unknown
/// source`. Unknown sources count once per workload they reached.
pub fn plaintext_reason<'a>(received: impl IntoIterator<Item = &'a WorkloadTraffic>) -> Option<String> {
    let mut known: BTreeSet<String> = BTreeSet::new();
    let mut unknown = 0;
    for w in received {
        let mut any_unknown = false;
        for c in &w.plaintext_callers {
            match &c.source {
                Peer::Unknown => any_unknown = true,
                p => {
                    known.insert(p.to_string());
                }
            }
        }
        if any_unknown {
            unknown += 1;
        }
    }
    let unknown_words = plural(unknown, "unknown source");
    match (known.is_empty(), unknown) {
        (true, 0) => None,
        (true, _) => Some(format!("plaintext from {unknown_words}")),
        (false, 0) => Some(format!(
            "plaintext from {}",
            short_list(&known.into_iter().collect::<Vec<_>>(), 3)
        )),
        (false, _) => Some(format!(
            "plaintext from {}, {unknown_words}",
            short_list(&known.into_iter().collect::<Vec<_>>(), 3)
        )),
    }
}

/// Adds telemetry to every namespace's STRICT readiness and returns the per-workload traffic
/// ([`workload_traffic`]).
///
/// - No telemetry: readiness stays as configuration decides (the report says so).
/// - Plaintext seen toward a workload that is not STRICT everywhere yet: `no`, the telemetry
///   reason first.
/// - Such a workload unknown (an unread pod, a failed query) and nothing else against: unknown,
///   never `yes`; with configuration reasons already against: `no`, plus a reason saying the
///   telemetry is incomplete.
pub fn apply_telemetry(a: &mut Analysis, traffic: &Traffic) -> Vec<Option<WorkloadTraffic>> {
    let per_workload = workload_traffic(a, traffic);
    if traffic.source == TelemetrySource::None && traffic.errors.is_empty() {
        return per_workload;
    }
    for ns in &mut a.namespaces {
        if ns.strict_ready == StrictReady::NoPods {
            continue;
        }
        let relevant: Vec<usize> = a
            .workloads
            .iter()
            .enumerate()
            .filter(|(_, w)| w.workload.namespace == ns.name && could_become_strict(w))
            .map(|(i, _)| i)
            .collect();
        let unknown = relevant.iter().filter(|&&i| per_workload[i].is_none()).count();
        let reason = plaintext_reason(relevant.iter().filter_map(|&i| per_workload[i].as_ref()));
        let incomplete = (unknown > 0).then(|| {
            if traffic.source == TelemetrySource::None || traffic.errors.len() > traffic.unread_pods.len() {
                "telemetry could not be read".to_string()
            } else {
                format!("telemetry incomplete ({} not read)", plural(unknown, "workload"))
            }
        });
        let mut config = match &ns.strict_ready {
            StrictReady::No { reasons } => reasons.clone(),
            _ => Vec::new(),
        };
        ns.strict_ready = match (reason, incomplete) {
            (Some(r), inc) => {
                let mut reasons = vec![r];
                reasons.append(&mut config);
                reasons.extend(inc);
                StrictReady::No { reasons }
            }
            (None, Some(inc)) if !config.is_empty() => {
                config.push(inc);
                StrictReady::No { reasons: config }
            }
            (None, Some(inc)) => StrictReady::Unknown { reasons: vec![inc] },
            (None, None) => ns.strict_ready.clone(),
        };
    }
    per_workload
}

/// Plaintext a change to STRICT would cut: one caller into one workload becoming STRICT.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Blocker {
    /// The caller.
    pub source: Peer,
    /// The workload becoming STRICT.
    pub destination: WorkloadRef,
    /// HTTP requests or TCP connections.
    pub protocol: Protocol,
    /// How many in the window.
    pub count: u64,
}

impl Blocker {
    /// `default/sleep -> istioinaction/web-api: 120 plaintext requests in 1h; these will fail`.
    /// `period` is `in 1h` (Prometheus) or `since the proxy started` (proxies).
    pub fn message(&self, period: &str) -> String {
        let what = match self.protocol {
            Protocol::Http => "request",
            Protocol::Tcp => "connection",
        };
        let n = usize::try_from(self.count).unwrap_or(usize::MAX);
        format!(
            "{} -> {}/{}: {} {period}; these will fail",
            self.source,
            self.destination.namespace,
            self.destination.name,
            plural(n, &format!("plaintext {what}"))
        )
    }
}

/// What the review knows about plaintext into workloads a change makes STRICT.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StrictReview {
    /// Plaintext callers that would be cut, most first.
    pub blockers: Vec<Blocker>,
    /// Workloads becoming STRICT whose received traffic is unknown.
    pub unknown: Vec<WorkloadRef>,
}

/// The workloads a change makes STRICT (on the workload or one of its ports) where some pod
/// is in the mesh and was not STRICT before.
pub fn becoming_strict(effects: &Effects) -> Vec<WorkloadRef> {
    let set: BTreeSet<WorkloadRef> = effects
        .changes
        .iter()
        .filter(|c| {
            c.meshed_pods > 0
                && c.to.iter().any(|r| r.mode == Mode::Strict)
                && c.from.iter().any(|r| r.mode != Mode::Strict)
        })
        .map(|c| c.workload.clone())
        .collect();
    set.into_iter().collect()
}

/// The plaintext callers of workloads the change makes STRICT (`before` is the analysis of the
/// cluster as it is, which the traffic was observed on).
pub fn review_strict(before: &Analysis, effects: &Effects, traffic: &Traffic) -> StrictReview {
    let targets = becoming_strict(effects);
    let per_workload = workload_traffic(before, traffic);
    let mut review = StrictReview::default();
    for t in targets {
        let Some(i) = before.workloads.iter().position(|w| w.workload == t) else {
            continue;
        };
        match &per_workload[i] {
            None => review.unknown.push(t),
            Some(w) => {
                for c in &w.plaintext_callers {
                    match review
                        .blockers
                        .iter_mut()
                        .find(|b| b.source == c.source && b.destination == t && b.protocol == c.protocol)
                    {
                        Some(b) => b.count = b.count.saturating_add(c.requests),
                        None => review.blockers.push(Blocker {
                            source: c.source.clone(),
                            destination: t.clone(),
                            protocol: c.protocol,
                            count: c.requests,
                        }),
                    }
                }
            }
        }
    }
    review.blockers.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then_with(|| a.destination.cmp(&b.destination))
            .then_with(|| a.source.cmp(&b.source))
    });
    review
}

/// The period words of a traffic source for messages: `in 1h`, `since the proxies started`.
pub fn period_words(traffic: &Traffic) -> String {
    match (traffic.source, traffic.window) {
        (TelemetrySource::Prometheus, Some(w)) => format!("in {}", human_duration(w)),
        (TelemetrySource::Proxies, _) => "since the proxy started".to_string(),
        _ => "seen".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::engine::{PolicyChange, analyze, effects, what_if};
    use crate::model::{
        Created, Labels, MeshSettings, NamespaceInfo, Owner, PodInfo, Policy, PolicyMode, SidecarKind,
        Snapshot, TrafficSample,
    };

    fn deploy(s: &mut Snapshot, ns: &str, app: &str, n: usize, meshed: bool) {
        for i in 0..n {
            let labels: Labels = [("app", app), ("pod-template-hash", "h1")]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            let mut p = PodInfo::new(ns, format!("{app}-h1-{i}"), labels);
            p.owner = Some(Owner {
                kind: "ReplicaSet".into(),
                name: format!("{app}-h1"),
            });
            if meshed {
                p.sidecar = SidecarKind::Classic;
            }
            s.pods.push(p);
        }
    }

    /// istioinaction (web-api, recommendation; sidecars), default (sleep, outside the mesh),
    /// legacy (db, outside the mesh).
    fn cluster() -> Snapshot {
        let mut s = Snapshot::new(&MeshSettings::defaults("istio-system"));
        for ns in ["istio-system", "istioinaction", "default", "legacy"] {
            s.namespaces.push(NamespaceInfo::new(ns, Labels::new()));
        }
        deploy(&mut s, "istioinaction", "web-api", 2, true);
        deploy(&mut s, "istioinaction", "recommendation", 1, true);
        deploy(&mut s, "default", "sleep", 1, true);
        deploy(&mut s, "legacy", "db", 1, false);
        s
    }

    fn sample(
        src: Option<(&str, &str)>,
        ns: &str,
        wl: &str,
        protocol: Protocol,
        security: Security,
        count: u64,
    ) -> TrafficSample {
        TrafficSample {
            source: match src {
                Some((n, w)) => Peer::Workload {
                    namespace: n.into(),
                    name: w.into(),
                },
                None => Peer::Unknown,
            },
            source_principal: src.map(|(n, w)| format!("spiffe://cluster.local/ns/{n}/sa/{w}")),
            destination_namespace: ns.into(),
            destination_workload: wl.into(),
            destination_service: None,
            protocol,
            security,
            count,
        }
    }

    fn prom(samples: Vec<TrafficSample>) -> Traffic {
        Traffic {
            source: TelemetrySource::Prometheus,
            window: Some(Duration::from_secs(3600)),
            endpoint: Some("http://prom:9090".into()),
            samples,
            ..Traffic::none()
        }
    }

    fn wl<'a>(
        a: &Analysis,
        t: &'a [Option<WorkloadTraffic>],
        ns: &str,
        name: &str,
    ) -> &'a Option<WorkloadTraffic> {
        let i = a
            .workloads
            .iter()
            .position(|w| w.workload.namespace == ns && w.workload.name == name)
            .unwrap();
        &t[i]
    }

    fn ready(a: &Analysis, ns: &str) -> String {
        a.namespace(ns).unwrap().strict_ready.to_string()
    }

    #[test]
    fn mtls_only_traffic_keeps_ready_and_counts() {
        let mut a = analyze(&cluster());
        let t = prom(vec![
            sample(
                Some(("istioinaction", "web-api")),
                "istioinaction",
                "recommendation",
                Protocol::Http,
                Security::MutualTls,
                300,
            ),
            sample(
                Some(("default", "sleep")),
                "istioinaction",
                "web-api",
                Protocol::Http,
                Security::MutualTls,
                50,
            ),
        ]);
        let per = apply_telemetry(&mut a, &t);
        assert_eq!(ready(&a, "istioinaction"), "yes");
        // Nothing reports what a workload outside the mesh receives.
        assert_eq!(wl(&a, &per, "legacy", "db"), &None);
        let rec = wl(&a, &per, "istioinaction", "recommendation").as_ref().unwrap();
        assert_eq!((rec.mtls_requests, rec.plaintext_requests), (300, 0));
        assert!(rec.plaintext_callers.is_empty());
        // Workloads no sample reached received nothing (telemetry complete): zero, not unknown.
        assert_eq!(
            wl(&a, &per, "default", "sleep"),
            &Some(WorkloadTraffic::default())
        );
    }

    #[test]
    fn plaintext_callers_make_the_namespace_not_ready() {
        let mut a = analyze(&cluster());
        let t = prom(vec![
            sample(
                Some(("default", "sleep")),
                "istioinaction",
                "web-api",
                Protocol::Http,
                Security::Plaintext,
                120,
            ),
            sample(
                None,
                "istioinaction",
                "web-api",
                Protocol::Http,
                Security::Plaintext,
                7,
            ),
            sample(
                Some(("istioinaction", "web-api")),
                "istioinaction",
                "recommendation",
                Protocol::Http,
                Security::MutualTls,
                10,
            ),
            sample(
                None,
                "istioinaction",
                "recommendation",
                Protocol::Tcp,
                Security::Plaintext,
                2,
            ),
        ]);
        let per = apply_telemetry(&mut a, &t);
        let StrictReady::No { reasons } = &a.namespace("istioinaction").unwrap().strict_ready else {
            panic!("{}", ready(&a, "istioinaction"))
        };
        assert_eq!(
            reasons,
            &vec!["plaintext from default/sleep, 2 unknown sources".to_string()]
        );
        let web = wl(&a, &per, "istioinaction", "web-api").as_ref().unwrap();
        assert_eq!((web.mtls_requests, web.plaintext_requests), (0, 127));
        assert_eq!(web.plaintext_callers.len(), 2);
        assert_eq!(web.plaintext_callers[0].source.to_string(), "default/sleep");
        assert_eq!(web.plaintext_callers[0].requests, 120);
        assert_eq!(
            web.plaintext_callers[0].principal.as_deref(),
            Some("spiffe://cluster.local/ns/default/sa/sleep")
        );
        assert_eq!(web.plaintext_callers[1].source, Peer::Unknown);
        let rec = wl(&a, &per, "istioinaction", "recommendation").as_ref().unwrap();
        assert_eq!(rec.plaintext_callers[0].protocol, Protocol::Tcp);
        assert_eq!((rec.mtls_requests, rec.plaintext_requests), (10, 2));
    }

    #[test]
    fn telemetry_reasons_come_before_configuration_reasons() {
        let mut s = cluster();
        deploy(&mut s, "istioinaction", "legacy-app", 1, false);
        let mut a = analyze(&s);
        assert_eq!(ready(&a, "istioinaction"), "no (1 pod outside mesh)");
        apply_telemetry(
            &mut a,
            &prom(vec![sample(
                None,
                "istioinaction",
                "web-api",
                Protocol::Http,
                Security::Plaintext,
                1,
            )]),
        );
        let StrictReady::No { reasons } = &a.namespace("istioinaction").unwrap().strict_ready else {
            panic!()
        };
        assert_eq!(
            reasons,
            &vec![
                "plaintext from 1 unknown source".to_string(),
                "1 pod outside mesh".to_string()
            ]
        );
    }

    #[test]
    fn no_telemetry_leaves_configuration_verdicts() {
        let mut a = analyze(&cluster());
        let before = a.clone();
        let per = apply_telemetry(&mut a, &Traffic::none());
        assert_eq!(a, before);
        assert!(per.iter().all(Option::is_none));
        assert_eq!(ready(&a, "istioinaction"), "yes");
    }

    #[test]
    fn unreadable_telemetry_is_unknown_never_yes() {
        let mut a = analyze(&cluster());
        let mut t = prom(vec![]);
        t.errors
            .push("prometheus at http://prom:9090: connection refused".into());
        let per = apply_telemetry(&mut a, &t);
        assert!(per.iter().all(Option::is_none));
        assert_eq!(ready(&a, "istioinaction"), "? (telemetry could not be read)");
        // A namespace already not ready for configuration reasons stays no, saying so.
        let mut s = cluster();
        deploy(&mut s, "istioinaction", "legacy-app", 1, false);
        let mut a = analyze(&s);
        apply_telemetry(&mut a, &t);
        let StrictReady::No { reasons } = &a.namespace("istioinaction").unwrap().strict_ready else {
            panic!()
        };
        assert_eq!(
            reasons,
            &vec![
                "1 pod outside mesh".to_string(),
                "telemetry could not be read".to_string()
            ]
        );
        // Namespaces without meshed workloads that could change do not depend on telemetry.
        assert_eq!(ready(&a, "legacy"), "no (1 pod outside mesh)");
    }

    #[test]
    fn one_unread_pod_makes_only_its_workload_unknown() {
        let mut a = analyze(&cluster());
        let mut t = prom(vec![sample(
            Some(("istioinaction", "web-api")),
            "istioinaction",
            "recommendation",
            Protocol::Http,
            Security::MutualTls,
            5,
        )]);
        t.source = TelemetrySource::Proxies;
        t.window = None;
        t.errors
            .push("istioinaction/web-api-h1-1: cannot read the proxy's counters: timeout".into());
        t.unread_pods.push("istioinaction/web-api-h1-1".into());
        let per = apply_telemetry(&mut a, &t);
        assert_eq!(wl(&a, &per, "istioinaction", "web-api"), &None);
        assert!(wl(&a, &per, "istioinaction", "recommendation").is_some());
        assert_eq!(
            ready(&a, "istioinaction"),
            "? (telemetry incomplete (1 workload not read))"
        );
        assert_eq!(ready(&a, "default"), "yes");
        // Plaintext seen on the readable workload is a no even with another workload unread.
        let mut a = analyze(&cluster());
        t.samples.push(sample(
            None,
            "istioinaction",
            "recommendation",
            Protocol::Http,
            Security::Plaintext,
            3,
        ));
        apply_telemetry(&mut a, &t);
        let StrictReady::No { reasons } = &a.namespace("istioinaction").unwrap().strict_ready else {
            panic!()
        };
        assert_eq!(
            reasons,
            &vec![
                "plaintext from 1 unknown source".to_string(),
                "telemetry incomplete (1 workload not read)".to_string()
            ]
        );
    }

    #[test]
    fn plaintext_to_already_strict_workloads_does_not_count_for_readiness() {
        let mut s = cluster();
        s.policies.push(Policy::new(
            "istioinaction",
            "default",
            Created(1),
            PolicyMode::Strict,
        ));
        let mut a = analyze(&s);
        let per = apply_telemetry(
            &mut a,
            &prom(vec![sample(
                None,
                "istioinaction",
                "web-api",
                Protocol::Http,
                Security::Plaintext,
                4,
            )]),
        );
        assert_eq!(ready(&a, "istioinaction"), "yes");
        // ... but is still reported per workload.
        assert_eq!(
            wl(&a, &per, "istioinaction", "web-api")
                .as_ref()
                .unwrap()
                .plaintext_requests,
            4
        );
    }

    #[test]
    fn samples_join_by_namespace_and_name_only() {
        let a = analyze(&cluster());
        let t = prom(vec![
            sample(None, "other", "web-api", Protocol::Http, Security::Plaintext, 9),
            sample(
                None,
                "istioinaction",
                "gone",
                Protocol::Http,
                Security::Plaintext,
                9,
            ),
        ]);
        let per = workload_traffic(&a, &t);
        assert!(
            per.iter()
                .flatten()
                .all(|w| w.plaintext_requests == 0 && w.mtls_requests == 0)
        );
    }

    #[test]
    fn reasons_list_callers_briefly() {
        let w = |callers: &[Option<&str>]| WorkloadTraffic {
            mtls_requests: 0,
            plaintext_requests: callers.len() as u64,
            plaintext_callers: callers
                .iter()
                .map(|c| PlaintextCaller {
                    source: match c {
                        Some(n) => Peer::Workload {
                            namespace: "ns".into(),
                            name: n.to_string(),
                        },
                        None => Peer::Unknown,
                    },
                    principal: None,
                    protocol: Protocol::Http,
                    requests: 1,
                })
                .collect(),
        };
        assert_eq!(plaintext_reason([&w(&[])]), None);
        let a = w(&[Some("a"), Some("b"), None]);
        let b = w(&[Some("c"), Some("d"), None]);
        assert_eq!(
            plaintext_reason([&a, &b]).unwrap(),
            "plaintext from ns/a, ns/b, ns/c, ns/d, 2 unknown sources"
        );
        let c = w(&[Some("e")]);
        assert_eq!(
            plaintext_reason([&a, &b, &c]).unwrap(),
            "plaintext from ns/a, ns/b, ns/c and 2 more, 2 unknown sources"
        );
    }

    #[test]
    fn the_review_names_callers_a_strict_change_would_cut() {
        let s = cluster();
        let change = PolicyChange::Upsert(Policy::new(
            "istioinaction",
            "default",
            Created(5),
            PolicyMode::Strict,
        ));
        let e = what_if(&s, std::slice::from_ref(&change));
        assert_eq!(becoming_strict(&e).len(), 2);
        let before = analyze(&s);
        let t = prom(vec![
            sample(
                Some(("default", "sleep")),
                "istioinaction",
                "web-api",
                Protocol::Http,
                Security::Plaintext,
                120,
            ),
            sample(
                None,
                "istioinaction",
                "recommendation",
                Protocol::Tcp,
                Security::Plaintext,
                1,
            ),
            sample(
                Some(("istioinaction", "web-api")),
                "istioinaction",
                "recommendation",
                Protocol::Http,
                Security::MutualTls,
                9,
            ),
            sample(None, "default", "sleep", Protocol::Http, Security::Plaintext, 50),
        ]);
        let r = review_strict(&before, &e, &t);
        assert!(r.unknown.is_empty());
        let msgs: Vec<String> = r.blockers.iter().map(|b| b.message(&period_words(&t))).collect();
        assert_eq!(
            msgs,
            vec![
                "default/sleep -> istioinaction/web-api: 120 plaintext requests in 1h; these will fail"
                    .to_string(),
                "unknown -> istioinaction/recommendation: 1 plaintext connection in 1h; these will fail"
                    .to_string(),
            ]
        );
        // Unknown traffic is reported as such, never as no blockers.
        let mut broken = t.clone();
        broken.errors.push("prometheus: down".into());
        let r = review_strict(&before, &e, &broken);
        assert!(r.blockers.is_empty());
        assert_eq!(r.unknown.len(), 2);
        // A change that makes nothing STRICT has nothing to review.
        let after = analyze(&s);
        assert!(
            review_strict(&before, &effects(&before, &after), &t)
                .blockers
                .is_empty()
        );
        // Proxies count since start.
        let mut px = t.clone();
        px.source = TelemetrySource::Proxies;
        assert_eq!(period_words(&px), "since the proxy started");
        assert_eq!(period_words(&Traffic::none()), "seen");
    }
}
