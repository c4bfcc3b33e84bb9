//! Who is in the mesh (actual state) and who should be (intent).
//!
//! Membership decides enforcement; intent only explains a gap ("restart needed").

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::model::{AmbientRedirection, Labels, PodInfo, SidecarKind};

/// Namespace label enabling injection for the default revision.
pub const INJECTION_LABEL: &str = "istio-injection";
/// Namespace or pod label selecting a control-plane revision.
pub const REV_LABEL: &str = "istio.io/rev";
/// Pod label opting in or out of injection.
pub const INJECT_POD_LABEL: &str = "sidecar.istio.io/inject";
/// Pod or namespace label for ambient mode.
pub const DATAPLANE_MODE_LABEL: &str = "istio.io/dataplane-mode";

/// Namespaces the injector never injects into (its `ignoredNamespaces` default).
pub const IGNORED_NAMESPACES: &[&str] = &["kube-system", "kube-public"];

/// The actual mesh state of a pod.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Membership {
    /// A classic sidecar.
    Sidecar,
    /// A native sidecar (restartable init container).
    NativeSidecar,
    /// Captured by ztunnel.
    Ambient,
    /// Nothing enforces policy on this pod.
    None,
}

impl Membership {
    /// Whether a proxy enforces PeerAuthentication for the pod.
    pub fn is_meshed(self) -> bool {
        self != Membership::None
    }

    /// `sidecar`, `native-sidecar`, `ambient`, `none`.
    pub fn as_str(self) -> &'static str {
        match self {
            Membership::Sidecar => "sidecar",
            Membership::NativeSidecar => "native-sidecar",
            Membership::Ambient => "ambient",
            Membership::None => "none",
        }
    }
}

impl fmt::Display for Membership {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the labels ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Intent {
    /// Sidecar injection is enabled for the pod.
    Sidecar,
    /// Ambient capture is enabled for the pod.
    Ambient,
    /// Neither.
    None,
}

/// Membership, intent, and what to do about a gap.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodMesh {
    /// Actual state.
    pub membership: Membership,
    /// Intended state.
    pub intent: Intent,
    /// Why the intent is what it is (`namespace label istio-injection=enabled` ...).
    pub intent_reason: String,
    /// Sidecar intended but absent: the pod predates the label and must be restarted.
    pub restart_needed: bool,
    /// Ambient intended but not captured (`pending` or not yet processed).
    pub ambient_not_captured: bool,
    /// `ambient.istio.io/redirection: pending`.
    pub ambient_pending: bool,
}

/// The actual membership from the pod's facts. A pod with a sidecar or `hostNetwork` is never
/// captured by ambient, whatever its annotation says.
pub fn membership(pod: &PodInfo) -> Membership {
    match pod.sidecar {
        SidecarKind::Classic => Membership::Sidecar,
        SidecarKind::Native => Membership::NativeSidecar,
        SidecarKind::None if pod.host_network == Some(true) => Membership::None,
        SidecarKind::None if pod.ambient == AmbientRedirection::Enabled => Membership::Ambient,
        SidecarKind::None => Membership::None,
    }
}

/// Injection and ambient intent from the namespace's and the pod's labels.
///
/// Sidecar: pod label `sidecar.istio.io/inject=false` (or, without the label, the old
/// annotation; `n`/`no` too) opts out; `kube-system` and `kube-public` are never injected;
/// namespace `istio-injection=disabled`
/// blocks everything; namespace `istio-injection=enabled`, or namespace `istio.io/rev=<rev>`
/// without `istio-injection`, enables; pod `sidecar.istio.io/inject=true` or pod
/// `istio.io/rev` opts in. Ambient: pod or namespace `istio.io/dataplane-mode=ambient`, pod
/// `none` opts out; a sidecar intent wins, and `hostNetwork` pods are never injected nor
/// captured.
pub fn intent(namespace_labels: &Labels, pod: &PodInfo) -> (Intent, String) {
    if pod.host_network == Some(true) {
        return (Intent::None, "hostNetwork pod".into());
    }
    let ns = |k: &str| namespace_labels.get(k).map(String::as_str);
    let pl = |k: &str| pod.labels.get(k).map(String::as_str);
    // The injector reads the label, else the old annotation: false/n/no opt out.
    let pod_inject = pl(INJECT_POD_LABEL).or(pod.inject_annotation.as_deref());
    let opted_out =
        pod_inject.is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "false" | "n" | "no"));
    let sidecar = match (ns(INJECTION_LABEL), pl(INJECT_POD_LABEL)) {
        _ if opted_out => None,
        _ if IGNORED_NAMESPACES.contains(&pod.namespace.as_str()) => None,
        (Some("disabled"), _) => None,
        (Some("enabled"), _) => Some(format!("namespace label {INJECTION_LABEL}=enabled")),
        (None, _) if ns(REV_LABEL).is_some() => Some(format!(
            "namespace label {REV_LABEL}={}",
            ns(REV_LABEL).unwrap_or_default()
        )),
        (_, Some("true")) => Some(format!("pod label {INJECT_POD_LABEL}=true")),
        (_, _) if pl(REV_LABEL).is_some() => Some(format!(
            "pod label {REV_LABEL}={}",
            pl(REV_LABEL).unwrap_or_default()
        )),
        _ => None,
    };
    if let Some(reason) = sidecar {
        return (Intent::Sidecar, reason);
    }
    match (pl(DATAPLANE_MODE_LABEL), ns(DATAPLANE_MODE_LABEL)) {
        (Some("ambient"), _) => (
            Intent::Ambient,
            format!("pod label {DATAPLANE_MODE_LABEL}=ambient"),
        ),
        (Some("none"), _) => (Intent::None, format!("pod label {DATAPLANE_MODE_LABEL}=none")),
        (_, Some("ambient")) => (
            Intent::Ambient,
            format!("namespace label {DATAPLANE_MODE_LABEL}=ambient"),
        ),
        _ => (Intent::None, "no injection or ambient label".into()),
    }
}

/// Membership plus intent of a pod.
pub fn pod_mesh(namespace_labels: &Labels, pod: &PodInfo) -> PodMesh {
    let m = membership(pod);
    let (i, reason) = intent(namespace_labels, pod);
    PodMesh {
        membership: m,
        intent: i,
        intent_reason: reason,
        restart_needed: i == Intent::Sidecar && m == Membership::None,
        ambient_not_captured: i == Intent::Ambient && m == Membership::None,
        ambient_pending: m == Membership::None && pod.ambient == AmbientRedirection::Pending,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(kv: &[(&str, &str)]) -> Labels {
        kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn pod(l: &[(&str, &str)]) -> PodInfo {
        PodInfo::new("ns", "p", labels(l))
    }

    #[test]
    fn membership_from_facts() {
        let mut p = pod(&[]);
        assert_eq!(membership(&p), Membership::None);
        p.ambient = AmbientRedirection::Enabled;
        assert_eq!(membership(&p), Membership::Ambient);
        p.ambient = AmbientRedirection::Pending;
        assert_eq!(membership(&p), Membership::None);
        p.sidecar = SidecarKind::Native;
        p.ambient = AmbientRedirection::Enabled;
        assert_eq!(membership(&p), Membership::NativeSidecar);
        p.sidecar = SidecarKind::Classic;
        assert_eq!(membership(&p), Membership::Sidecar);
        let mut h = pod(&[]);
        h.ambient = AmbientRedirection::Enabled;
        h.host_network = Some(true);
        assert_eq!(membership(&h), Membership::None);
        assert!(!Membership::None.is_meshed() && Membership::Ambient.is_meshed());
    }

    #[test]
    fn injection_intent_rules() {
        let enabled = labels(&[(INJECTION_LABEL, "enabled")]);
        let rev = labels(&[(REV_LABEL, "canary")]);
        let both = labels(&[(INJECTION_LABEL, "enabled"), (REV_LABEL, "canary")]);
        let disabled = labels(&[(INJECTION_LABEL, "disabled"), (REV_LABEL, "canary")]);
        let none = Labels::new();
        assert_eq!(intent(&enabled, &pod(&[])).0, Intent::Sidecar);
        let (i, why) = intent(&rev, &pod(&[]));
        assert_eq!(
            (i, why.as_str()),
            (Intent::Sidecar, "namespace label istio.io/rev=canary")
        );
        assert_eq!(
            intent(&both, &pod(&[])).1,
            "namespace label istio-injection=enabled"
        );
        assert_eq!(intent(&disabled, &pod(&[])).0, Intent::None);
        assert_eq!(
            intent(&disabled, &pod(&[(INJECT_POD_LABEL, "true")])).0,
            Intent::None
        );
        assert_eq!(
            intent(&enabled, &pod(&[(INJECT_POD_LABEL, "false")])).0,
            Intent::None
        );
        assert_eq!(
            intent(&none, &pod(&[(INJECT_POD_LABEL, "true")])).0,
            Intent::Sidecar
        );
        assert_eq!(intent(&none, &pod(&[(REV_LABEL, "canary")])).0, Intent::Sidecar);
        assert_eq!(intent(&none, &pod(&[])).0, Intent::None);
    }

    #[test]
    fn ambient_intent_rules() {
        let amb = labels(&[(DATAPLANE_MODE_LABEL, "ambient")]);
        assert_eq!(intent(&amb, &pod(&[])).0, Intent::Ambient);
        assert_eq!(
            intent(&amb, &pod(&[(DATAPLANE_MODE_LABEL, "none")])).0,
            Intent::None
        );
        assert_eq!(
            intent(&Labels::new(), &pod(&[(DATAPLANE_MODE_LABEL, "ambient")])).0,
            Intent::Ambient
        );
        // Sidecar intent wins over ambient.
        let both = labels(&[(DATAPLANE_MODE_LABEL, "ambient"), (INJECTION_LABEL, "enabled")]);
        assert_eq!(intent(&both, &pod(&[])).0, Intent::Sidecar);
        let mut h = pod(&[]);
        h.host_network = Some(true);
        assert_eq!(intent(&amb, &h).0, Intent::None);
    }

    #[test]
    fn gaps_between_intent_and_state() {
        let enabled = labels(&[(INJECTION_LABEL, "enabled")]);
        let m = pod_mesh(&enabled, &pod(&[]));
        assert!(m.restart_needed && !m.ambient_not_captured);
        let mut injected = pod(&[]);
        injected.sidecar = SidecarKind::Classic;
        assert!(!pod_mesh(&enabled, &injected).restart_needed);
        let amb = labels(&[(DATAPLANE_MODE_LABEL, "ambient")]);
        let mut pending = pod(&[]);
        pending.ambient = AmbientRedirection::Pending;
        let m = pod_mesh(&amb, &pending);
        assert!(m.ambient_not_captured && m.ambient_pending && !m.restart_needed);
    }
}
