//! PeerAuthentication policies and DestinationRules as plain data.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Created, Labels, ObjectKey, PolicyMode, TlsMode, meta_name, meta_namespace};
use crate::resources::{DestinationRule, PeerAuthentication, TrafficPolicy};

/// One PeerAuthentication.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Creation time (second precision).
    pub created: Created,
    /// `selector.matchLabels`; empty when there is no selector or `matchLabels` is empty
    /// (Istio treats both alike: namespace- or mesh-wide).
    pub selector: Labels,
    /// `mtls.mode`; UNSET when `mtls` or `mode` is missing.
    pub mode: PolicyMode,
    /// `portLevelMtls` with numeric keys (UNSET for `{}` entries).
    pub port_level: BTreeMap<u32, PolicyMode>,
    /// `portLevelMtls` keys that are not port numbers in 1-65535 (reported, ignored).
    pub invalid_ports: Vec<String>,
    /// Unknown fields and values (from [`PeerAuthentication::unknowns`]).
    pub unknowns: Vec<String>,
}

impl Policy {
    /// A policy built by hand.
    pub fn new(
        namespace: impl Into<String>,
        name: impl Into<String>,
        created: Created,
        mode: PolicyMode,
    ) -> Self {
        Policy {
            namespace: namespace.into(),
            name: name.into(),
            created,
            selector: Labels::new(),
            mode,
            port_level: BTreeMap::new(),
            invalid_ports: Vec::new(),
            unknowns: Vec::new(),
        }
    }

    /// Sets the selector (builder style).
    pub fn with_selector(mut self, selector: Labels) -> Self {
        self.selector = selector;
        self
    }

    /// Adds a port-level setting (builder style).
    pub fn with_port(mut self, port: u32, mode: PolicyMode) -> Self {
        self.port_level.insert(port, mode);
        self
    }

    /// `namespace/name`.
    pub fn key(&self) -> ObjectKey {
        ObjectKey::new(&self.namespace, &self.name)
    }

    /// Whether the policy has a non-empty selector.
    pub fn has_selector(&self) -> bool {
        !self.selector.is_empty()
    }

    /// Istio's order: creation time, then name, then namespace (oldest first).
    pub fn order_key(&self) -> (Created, &str, &str) {
        (self.created, &self.name, &self.namespace)
    }

    /// Whether the selector matches a pod's labels: every selector label is present with the
    /// same value. An empty selector matches every pod.
    pub fn selects(&self, labels: &Labels) -> bool {
        self.selector.iter().all(|(k, v)| labels.get(k) == Some(v))
    }
}

impl From<&PeerAuthentication> for Policy {
    fn from(pa: &PeerAuthentication) -> Self {
        let spec = &pa.spec;
        let mut port_level = BTreeMap::new();
        let mut invalid_ports = Vec::new();
        for (k, m) in spec.port_level_mtls.iter().flatten() {
            match k.trim().parse::<u32>() {
                Ok(p) if (1..=65535).contains(&p) => {
                    port_level.insert(p, m.mode());
                }
                _ => invalid_ports.push(k.clone()),
            }
        }
        Policy {
            namespace: meta_namespace(&pa.metadata),
            name: meta_name(&pa.metadata),
            created: Created::from_time(pa.metadata.creation_timestamp.as_ref()),
            selector: spec
                .selector
                .as_ref()
                .and_then(|s| s.match_labels.clone())
                .unwrap_or_default(),
            mode: spec.mtls.as_ref().map(|m| m.mode()).unwrap_or_default(),
            port_level,
            invalid_ports,
            unknowns: pa.unknowns(),
        }
    }
}

/// One TLS setting of a DestinationRule: where it is (subset, port) and the mode.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrTlsSetting {
    /// Subset name, `None` for the rule-level traffic policy.
    pub subset: Option<String>,
    /// Subset labels (empty for the rule level).
    pub subset_labels: Labels,
    /// Service port of a `portLevelSettings` entry, `None` for all ports.
    pub port: Option<u32>,
    /// `tls.mode`; a `tls` block without mode is DISABLE (the enum's zero value), which
    /// Istio honours as plaintext, like an explicit DISABLE.
    pub mode: TlsMode,
}

/// One DestinationRule, reduced to what matters for mTLS.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DestinationRuleInfo {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Creation time.
    pub created: Created,
    /// `host` as written.
    pub host: String,
    /// `exportTo` (empty: all namespaces).
    pub export_to: Vec<String>,
    /// `workloadSelector.matchLabels` (empty: every client in scope).
    pub workload_selector: Labels,
    /// Every `tls` block of the rule.
    pub tls: Vec<DrTlsSetting>,
    /// Unknown fields and values.
    pub unknowns: Vec<String>,
}

impl DestinationRuleInfo {
    /// `namespace/name`.
    pub fn key(&self) -> ObjectKey {
        ObjectKey::new(&self.namespace, &self.name)
    }
}

fn tls_settings(tp: &TrafficPolicy, subset: Option<(&str, &Labels)>, out: &mut Vec<DrTlsSetting>) {
    let sub = || subset.map(|(n, _)| n.to_string());
    let labels = || subset.map(|(_, l)| l.clone()).unwrap_or_default();
    if let Some(t) = &tp.tls {
        out.push(DrTlsSetting {
            subset: sub(),
            subset_labels: labels(),
            port: None,
            mode: t.mode.clone().unwrap_or(TlsMode::Disable),
        });
    }
    for p in &tp.port_level_settings {
        if let Some(t) = &p.tls {
            out.push(DrTlsSetting {
                subset: sub(),
                subset_labels: labels(),
                port: p.port.as_ref().and_then(|p| p.number),
                mode: t.mode.clone().unwrap_or(TlsMode::Disable),
            });
        }
    }
}

impl From<&DestinationRule> for DestinationRuleInfo {
    fn from(dr: &DestinationRule) -> Self {
        let spec = &dr.spec;
        let mut tls = Vec::new();
        if let Some(tp) = &spec.traffic_policy {
            tls_settings(tp, None, &mut tls);
        }
        for s in &spec.subsets {
            if let Some(tp) = &s.traffic_policy {
                tls_settings(tp, Some((&s.name, &s.labels)), &mut tls);
            }
        }
        DestinationRuleInfo {
            namespace: meta_namespace(&dr.metadata),
            name: meta_name(&dr.metadata),
            created: Created::from_time(dr.metadata.creation_timestamp.as_ref()),
            host: spec.host.clone(),
            export_to: spec.export_to.clone(),
            workload_selector: spec
                .workload_selector
                .as_ref()
                .and_then(|s| s.match_labels.clone())
                .unwrap_or_default(),
            tls,
            unknowns: dr.unknowns(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn policy_from_peer_authentication() {
        let pa = PeerAuthentication::from_value(json!({
            "metadata": {"name": "p", "namespace": "ns", "creationTimestamp": "2026-01-01T00:00:09Z"},
            "spec": {"selector": {"matchLabels": {"app": "a"}}, "mtls": {"mode": "STRICT"},
                     "portLevelMtls": {"8080": {"mode": "DISABLE"}, "9090": {}, "0": {"mode": "STRICT"},
                                       "http": {"mode": "STRICT"}}}
        }))
        .unwrap();
        let p = Policy::from(&pa);
        assert_eq!(p.key().to_string(), "ns/p");
        assert_eq!(p.mode, PolicyMode::Strict);
        assert_eq!(p.port_level[&8080], PolicyMode::Disable);
        assert_eq!(p.port_level[&9090], PolicyMode::Unset);
        assert_eq!(p.invalid_ports, vec!["0".to_string(), "http".to_string()]);
        assert_eq!(p.created.to_string(), "2026-01-01T00:00:09Z");
        assert!(p.has_selector());
    }

    #[test]
    fn missing_mtls_and_empty_selector() {
        let pa = PeerAuthentication::from_value(json!({
            "metadata": {"name": "p", "namespace": "ns"},
            "spec": {"selector": {"matchLabels": {}}}
        }))
        .unwrap();
        let p = Policy::from(&pa);
        assert_eq!(p.mode, PolicyMode::Unset);
        assert!(!p.has_selector());
        assert!(p.selects(&Labels::new()));
    }

    #[test]
    fn selector_needs_every_label_with_equal_value() {
        let p = Policy::new("ns", "p", Created(0), PolicyMode::Strict)
            .with_selector([("app".into(), "a".into()), ("tier".into(), "web".into())].into());
        let l = |kv: &[(&str, &str)]| kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        assert!(p.selects(&l(&[("app", "a"), ("tier", "web"), ("x", "y")])));
        assert!(!p.selects(&l(&[("app", "a")])));
        assert!(!p.selects(&l(&[("app", "a"), ("tier", "db")])));
        // An empty value must still be present.
        let e = Policy::new("ns", "e", Created(0), PolicyMode::Strict).with_selector(l(&[("k", "")]));
        assert!(!e.selects(&Labels::new()));
        assert!(e.selects(&l(&[("k", "")])));
    }

    #[test]
    fn destination_rule_tls_settings() {
        let dr = DestinationRule::from_value(json!({
            "metadata": {"name": "dr", "namespace": "ns"},
            "spec": {"host": "web", "workloadSelector": {"matchLabels": {"role": "client"}},
                     "trafficPolicy": {"tls": {"mode": "DISABLE"},
                                       "portLevelSettings": [{"port": {"number": 80}, "tls": {"mode": "ISTIO_MUTUAL"}}]},
                     "subsets": [{"name": "v2", "labels": {"v": "2"}, "trafficPolicy": {"tls": {"mode": "SIMPLE"}}},
                                 {"name": "v3", "labels": {"v": "3"}, "trafficPolicy": {"tls": {"sni": "x"}}}]}
        }))
        .unwrap();
        let d = DestinationRuleInfo::from(&dr);
        assert_eq!(d.tls.len(), 4);
        // A tls block without mode is DISABLE.
        assert_eq!(
            (d.tls[3].subset.as_deref(), d.tls[3].mode.clone()),
            (Some("v3"), TlsMode::Disable)
        );
        assert_eq!((d.tls[0].port, d.tls[0].mode.clone()), (None, TlsMode::Disable));
        assert_eq!(
            (d.tls[1].port, d.tls[1].mode.clone()),
            (Some(80), TlsMode::IstioMutual)
        );
        assert_eq!(d.tls[2].subset.as_deref(), Some("v2"));
        assert_eq!(d.tls[2].subset_labels["v"], "2");
        assert_eq!(d.workload_selector["role"], "client");
    }
}
