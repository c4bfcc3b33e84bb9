//! Findings: what deserves the user's attention, each with a stable code.

use std::fmt;

use serde::{Deserialize, Serialize};

/// How bad a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Traffic fails or a policy does not do what it says.
    Error,
    /// Probably not what was meant.
    Warning,
    /// Worth knowing.
    Info,
}

impl Severity {
    /// `error`, `warning`, `info`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

macro_rules! codes {
    ($($(#[$doc:meta])* $name:ident = $sev:ident,)*) => {
        /// Stable finding codes (their names never change; scripts may match on them).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum FindingCode {
            $($(#[$doc])* $name,)*
        }

        impl FindingCode {
            /// Every code.
            pub const ALL: &'static [FindingCode] = &[$(FindingCode::$name,)*];

            /// The code's name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(FindingCode::$name => stringify!($name),)*
                }
            }

            /// The severity findings of this code have.
            pub fn severity(self) -> Severity {
                match self {
                    $(FindingCode::$name => Severity::$sev,)*
                }
            }
        }
    };
}

codes! {
    /// A newer mesh-wide policy is ignored: only the oldest counts.
    IgnoredMeshPolicy = Warning,
    /// A newer namespace-wide policy is ignored: only the oldest counts.
    IgnoredNamespacePolicy = Warning,
    /// A policy with a selector in the root namespace: Istio ignores it.
    RootSelectorPolicyIgnored = Warning,
    /// Several workload policies select one workload: the oldest wins.
    MultipleWorkloadPolicies = Warning,
    /// A workload policy whose selector matches no pod.
    SelectorMatchesNoPod = Warning,
    /// `portLevelMtls` on a policy without selector: ignored.
    PortLevelWithoutSelector = Warning,
    /// A `portLevelMtls` key that is not a port number in 1-65535: ignored.
    InvalidPortLevelKey = Warning,
    /// A port-level setting on a port the sidecar does not intercept: it has no effect.
    PortLevelOnBypassedPort = Info,
    /// A STRICT or DISABLE scope contains pods outside the mesh: nothing enforces it there.
    UnenforcedPods = Warning,
    /// A DestinationRule sends plaintext to workloads that require mTLS: requests fail.
    DestinationRuleDisablesTls = Error,
    /// A DestinationRule sends plaintext to meshed workloads (they accept it today).
    DestinationRulePlaintext = Info,
    /// A DestinationRule host with a dot but not fully qualified: Istio matches it literally.
    DestinationRuleHostNotFqdn = Warning,
    /// A workload-level DISABLE: mTLS clients keep sending mTLS and fail.
    WorkloadDisableWithMtlsClients = Error,
    /// DISABLE on ambient workloads: ambient does not support it.
    AmbientDisableUnsupported = Warning,
    /// Injection is enabled but the pod has no sidecar: restart needed.
    SidecarMissing = Warning,
    /// Ambient is enabled but the pod is not captured (yet).
    AmbientNotCaptured = Warning,
    /// A mode value this version does not know: treated as UNSET.
    UnknownMode = Warning,
    /// Fields this version does not know: ignored.
    UnknownField = Info,
    /// `enableAutoMtls: false`: clients send plaintext to STRICT workloads unless a
    /// DestinationRule asks for mTLS.
    AutoMtlsDisabled = Warning,
    /// A PeerAuthentication that could not be read: ignored.
    MalformedPolicy = Error,
    /// A DestinationRule that could not be read: ignored.
    MalformedDestinationRule = Error,
}

impl fmt::Display for FindingCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The object a finding is about.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ObjectRef {
    /// Kind (`PeerAuthentication`, `Deployment`, `Namespace` ...).
    pub kind: String,
    /// Namespace (empty for a namespace itself).
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl ObjectRef {
    /// Builds a reference.
    pub fn new(kind: &str, namespace: &str, name: &str) -> Self {
        ObjectRef {
            kind: kind.into(),
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    /// A Namespace.
    pub fn namespace(name: &str) -> Self {
        ObjectRef::new("Namespace", "", name)
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.namespace.is_empty() {
            write!(f, "{} {}", self.kind, self.name)
        } else {
            write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
        }
    }
}

/// One finding.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Finding {
    /// Severity (from the code).
    pub severity: Severity,
    /// Stable code.
    pub code: FindingCode,
    /// The object concerned.
    pub object: ObjectRef,
    /// One line.
    pub message: String,
}

impl Finding {
    /// A finding with its code's severity.
    pub fn new(code: FindingCode, object: ObjectRef, message: impl Into<String>) -> Self {
        Finding {
            severity: code.severity(),
            code,
            object,
            message: message.into(),
        }
    }

    /// The order findings are listed in: severity, code, object, message.
    pub fn sort(findings: &mut [Finding]) {
        findings.sort_by(|a, b| {
            (a.severity, a.code, &a.object, &a.message).cmp(&(b.severity, b.code, &b.object, &b.message))
        });
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {}: {}",
            self.severity, self.code, self.object, self.message
        )
    }
}

/// "1 pod", "3 pods".
pub(crate) fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// A short list: `a, b, c and 4 more` (never "and 1 more": that one is shown instead).
pub(crate) fn short_list<T: fmt::Display>(items: &[T], max: usize) -> String {
    let max = if items.len() == max + 1 { items.len() } else { max };
    let shown: Vec<String> = items.iter().take(max).map(ToString::to_string).collect();
    let mut s = shown.join(", ");
    if items.len() > max {
        s.push_str(&format!(" and {} more", items.len() - max));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable_names() {
        assert_eq!(
            FindingCode::IgnoredNamespacePolicy.as_str(),
            "IgnoredNamespacePolicy"
        );
        assert_eq!(
            serde_json::to_value(FindingCode::DestinationRuleDisablesTls).unwrap(),
            "DestinationRuleDisablesTls"
        );
        let f = Finding::new(
            FindingCode::SidecarMissing,
            ObjectRef::new("Deployment", "ns", "web"),
            "m",
        );
        assert_eq!(f.severity, Severity::Warning);
        assert_eq!(f.to_string(), "warning SidecarMissing Deployment ns/web: m");
        assert_eq!(ObjectRef::namespace("x").to_string(), "Namespace x");
        // Every code has a distinct name.
        let names: std::collections::HashSet<_> = FindingCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(names.len(), FindingCode::ALL.len());
    }

    #[test]
    fn helpers() {
        assert_eq!(plural(1, "pod"), "1 pod");
        assert_eq!(plural(2, "pod"), "2 pods");
        assert_eq!(short_list(&["a", "b", "c"], 2), "a, b, c");
        assert_eq!(short_list(&["a", "b", "c", "d"], 2), "a, b and 2 more");
        assert_eq!(short_list(&["a"], 2), "a");
    }
}
