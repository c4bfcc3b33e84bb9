//! Typed Istio resources: `PeerAuthentication` (security.istio.io) and `DestinationRule`
//! (networking.istio.io).
//!
//! The types are serde models of the parts of the Istio API the plugin reads. They are built to
//! survive a newer Istio than the one they were written against:
//! - unknown fields are kept (in `extra` maps) instead of failing the parse, and serialized back
//!   unchanged;
//! - unknown enum values are kept as `Unknown(String)` variants;
//! - [`PeerAuthentication::unknowns`] / [`DestinationRule::unknowns`] list both, so a command can
//!   turn them into findings;
//! - a malformed object (say `spec.mtls` is a string) fails alone through
//!   [`PeerAuthentication::from_value`], with a [`ParseProblem`] naming the object, instead of
//!   failing a whole list.
//!
//! The served API version is picked at run time by discovery (PeerAuthentication is served as `v1`
//! and `v1beta1`, DestinationRule as `v1`, `v1beta1` and `v1alpha3`, all with the same schema),
//! so both types implement [`kube::Resource`] with `DynamicType = ApiResource`: build the
//! `ApiResource` with [`PeerAuthentication::api_resource`] and use
//! `kube::Api::namespaced_with(client, ns, &ar)`.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::core::{ApiResource, DynamicResourceScope, GroupVersionKind, TypeMeta};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;

/// Unknown fields of an object, kept verbatim.
pub type Extra = BTreeMap<String, Value>;

// ---------------------------------------------------------------------------------------------
// Enums tolerant of values a newer Istio may add
// ---------------------------------------------------------------------------------------------

/// `PeerAuthentication` `mtls.mode`, as written in a policy.
///
/// Serialized as Istio's upper-case names. A value this version does not know is kept in
/// [`MtlsMode::Unknown`] (protobuf JSON also allows the enum number: 0..=3 are mapped).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum MtlsMode {
    /// `UNSET`: inherit from the parent scope.
    #[default]
    Unset,
    /// `DISABLE`: plaintext only.
    Disable,
    /// `PERMISSIVE`: mTLS and plaintext.
    Permissive,
    /// `STRICT`: mTLS only.
    Strict,
    /// A value this version of the plugin does not know.
    Unknown(String),
}

impl MtlsMode {
    /// The Istio name (`UNSET`, `DISABLE`, `PERMISSIVE`, `STRICT`, or the unknown value as is).
    pub fn as_str(&self) -> &str {
        match self {
            MtlsMode::Unset => "UNSET",
            MtlsMode::Disable => "DISABLE",
            MtlsMode::Permissive => "PERMISSIVE",
            MtlsMode::Strict => "STRICT",
            MtlsMode::Unknown(s) => s,
        }
    }

    /// Parses an Istio name; never fails (unknown values become [`MtlsMode::Unknown`]).
    pub fn parse(s: &str) -> Self {
        match s {
            "UNSET" => MtlsMode::Unset,
            "DISABLE" => MtlsMode::Disable,
            "PERMISSIVE" => MtlsMode::Permissive,
            "STRICT" => MtlsMode::Strict,
            other => MtlsMode::Unknown(other.to_string()),
        }
    }

    fn from_number(n: i64) -> Self {
        match n {
            0 => MtlsMode::Unset,
            1 => MtlsMode::Disable,
            2 => MtlsMode::Permissive,
            3 => MtlsMode::Strict,
            other => MtlsMode::Unknown(other.to_string()),
        }
    }
}

impl fmt::Display for MtlsMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `DestinationRule` `tls.mode` (client side).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TlsMode {
    /// `DISABLE`: plaintext to the upstream (turns off automatic mTLS).
    Disable,
    /// `SIMPLE`: one-way TLS.
    Simple,
    /// `MUTUAL`: mutual TLS with user-provided certificates.
    Mutual,
    /// `ISTIO_MUTUAL`: mutual TLS with Istio certificates.
    IstioMutual,
    /// A value this version of the plugin does not know.
    Unknown(String),
}

impl TlsMode {
    /// The Istio name.
    pub fn as_str(&self) -> &str {
        match self {
            TlsMode::Disable => "DISABLE",
            TlsMode::Simple => "SIMPLE",
            TlsMode::Mutual => "MUTUAL",
            TlsMode::IstioMutual => "ISTIO_MUTUAL",
            TlsMode::Unknown(s) => s,
        }
    }

    /// Parses an Istio name; never fails.
    pub fn parse(s: &str) -> Self {
        match s {
            "DISABLE" => TlsMode::Disable,
            "SIMPLE" => TlsMode::Simple,
            "MUTUAL" => TlsMode::Mutual,
            "ISTIO_MUTUAL" => TlsMode::IstioMutual,
            other => TlsMode::Unknown(other.to_string()),
        }
    }

    fn from_number(n: i64) -> Self {
        match n {
            0 => TlsMode::Disable,
            1 => TlsMode::Simple,
            2 => TlsMode::Mutual,
            3 => TlsMode::IstioMutual,
            other => TlsMode::Unknown(other.to_string()),
        }
    }
}

impl fmt::Display for TlsMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

macro_rules! string_enum_serde {
    ($t:ty, $what:literal) => {
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl Visitor<'_> for V {
                    type Value = $t;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($what)
                    }
                    fn visit_str<E: de::Error>(self, v: &str) -> Result<$t, E> {
                        Ok(<$t>::parse(v))
                    }
                    fn visit_i64<E: de::Error>(self, v: i64) -> Result<$t, E> {
                        Ok(<$t>::from_number(v))
                    }
                    fn visit_u64<E: de::Error>(self, v: u64) -> Result<$t, E> {
                        Ok(<$t>::from_number(i64::try_from(v).unwrap_or(i64::MAX)))
                    }
                }
                d.deserialize_any(V)
            }
        }
    };
}

string_enum_serde!(MtlsMode, "an mTLS mode name (UNSET, DISABLE, PERMISSIVE, STRICT)");
string_enum_serde!(TlsMode, "a TLS mode name (DISABLE, SIMPLE, MUTUAL, ISTIO_MUTUAL)");

// ---------------------------------------------------------------------------------------------
// Shared pieces
// ---------------------------------------------------------------------------------------------

/// `selector` / `workloadSelector`: `matchLabels`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadSelector {
    /// Labels a pod must all carry, with the same values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_labels: Option<BTreeMap<String, String>>,
    /// Unknown fields.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A per-object parse failure: the object is skipped and reported, the list still loads.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{kind} {namespace}/{name}: {message}")]
pub struct ParseProblem {
    /// Kind of the object (`PeerAuthentication`, `DestinationRule`).
    pub kind: String,
    /// Namespace, when it could be read.
    pub namespace: String,
    /// Name, when it could be read.
    pub name: String,
    /// What is wrong (serde's message, with the path).
    pub message: String,
}

fn parse_object<T: serde::de::DeserializeOwned>(kind: &str, value: Value) -> Result<T, ParseProblem> {
    let meta = value.get("metadata");
    let field = |f: &str| {
        meta.and_then(|m| m.get(f))
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_string()
    };
    let (namespace, name) = (field("namespace"), field("name"));
    parse_with_path(value).map_err(|message| ParseProblem {
        kind: kind.to_string(),
        namespace,
        name,
        message,
    })
}

/// Deserializes and, on failure, says where (`spec.mtls: invalid type ...`).
fn parse_with_path<T: serde::de::DeserializeOwned>(value: Value) -> Result<T, String> {
    // serde_json's error for a Value does not carry a path; find the first failing top-level
    // field by retrying on `spec` alone, which covers what users write by hand.
    match serde_json::from_value::<T>(value.clone()) {
        Ok(t) => Ok(t),
        Err(e) => {
            let mut msg = e.to_string();
            if let Some(spec) = value.get("spec").and_then(Value::as_object) {
                for (k, v) in spec {
                    let mut probe = value.clone();
                    if let Some(s) = probe.get_mut("spec").and_then(Value::as_object_mut) {
                        s.retain(|kk, _| kk == k);
                    }
                    if serde_json::from_value::<T>(probe).is_err() {
                        msg = format!("spec.{k}: {msg} (value: {})", compact(v));
                        break;
                    }
                }
            }
            Err(msg)
        }
    }
}

fn compact(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 60 {
        let cut: String = s.chars().take(57).collect();
        format!("{cut}...")
    } else {
        s
    }
}

fn api_resource(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
}

macro_rules! dynamic_resource {
    ($t:ty) => {
        impl kube::Resource for $t {
            type DynamicType = ApiResource;
            type Scope = DynamicResourceScope;

            fn kind(dt: &ApiResource) -> Cow<'_, str> {
                dt.kind.as_str().into()
            }
            fn group(dt: &ApiResource) -> Cow<'_, str> {
                dt.group.as_str().into()
            }
            fn version(dt: &ApiResource) -> Cow<'_, str> {
                dt.version.as_str().into()
            }
            fn api_version(dt: &ApiResource) -> Cow<'_, str> {
                dt.api_version.as_str().into()
            }
            fn plural(dt: &ApiResource) -> Cow<'_, str> {
                dt.plural.as_str().into()
            }
            fn meta(&self) -> &ObjectMeta {
                &self.metadata
            }
            fn meta_mut(&mut self) -> &mut ObjectMeta {
                &mut self.metadata
            }
        }
    };
}

fn unknown_keys(prefix: &str, extra: &Extra, out: &mut Vec<String>) {
    for k in extra.keys() {
        out.push(format!("unknown field {prefix}{k}"));
    }
}

// ---------------------------------------------------------------------------------------------
// PeerAuthentication
// ---------------------------------------------------------------------------------------------

/// `security.istio.io` `PeerAuthentication`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PeerAuthentication {
    /// `apiVersion` and `kind`, when present (lists and requests carry them).
    #[serde(flatten, default)]
    pub types: Option<TypeMeta>,
    /// Standard object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The policy.
    #[serde(default)]
    pub spec: PeerAuthenticationSpec,
    /// Any other top-level field (`status` ...), kept verbatim.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `PeerAuthentication.spec`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PeerAuthenticationSpec {
    /// Workload selector; absent or empty `matchLabels` means namespace- or mesh-wide.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<WorkloadSelector>,
    /// The mTLS setting of the scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtls: Option<PeerMtls>,
    /// Per-port settings keyed by the workload port number (as a string, JSON map keys).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port_level_mtls: Option<BTreeMap<String, PeerMtls>>,
    /// Unknown spec fields (a newer Istio).
    #[serde(flatten)]
    pub extra: Extra,
}

/// `{ mode: ... }` of `mtls` and of each `portLevelMtls` entry.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PeerMtls {
    /// The mode; absent means UNSET.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<MtlsMode>,
    /// Unknown fields.
    #[serde(flatten)]
    pub extra: Extra,
}

impl PeerMtls {
    /// The mode, with absent meaning UNSET.
    pub fn mode(&self) -> MtlsMode {
        self.mode.clone().unwrap_or_default()
    }
}

impl PeerAuthentication {
    /// API group.
    pub const GROUP: &'static str = "security.istio.io";
    /// Kind.
    pub const KIND: &'static str = "PeerAuthentication";
    /// Plural (resource) name.
    pub const PLURAL: &'static str = "peerauthentications";
    /// Served versions, preferred first.
    pub const VERSIONS: &'static [&'static str] = &["v1", "v1beta1"];

    /// The `ApiResource` for a served version (`v1` or `v1beta1`).
    pub fn api_resource(version: &str) -> ApiResource {
        api_resource(Self::GROUP, version, Self::KIND, Self::PLURAL)
    }

    /// A new object (with `apiVersion`/`kind` set for `version`), ready to be applied.
    pub fn new(namespace: &str, name: &str, version: &str, spec: PeerAuthenticationSpec) -> Self {
        let ar = Self::api_resource(version);
        PeerAuthentication {
            types: Some(TypeMeta {
                api_version: ar.api_version,
                kind: ar.kind,
            }),
            metadata: ObjectMeta {
                name: Some(name.to_string()),
                namespace: Some(namespace.to_string()),
                ..ObjectMeta::default()
            },
            spec,
            extra: Extra::new(),
        }
    }

    /// Parses one object from a list; a malformed object gives a [`ParseProblem`].
    pub fn from_value(value: Value) -> Result<Self, ParseProblem> {
        parse_object(Self::KIND, value)
    }

    /// Unknown enum values and unknown spec fields, one line each (empty when all is known).
    pub fn unknowns(&self) -> Vec<String> {
        let mut out = Vec::new();
        unknown_keys("spec.", &self.spec.extra, &mut out);
        if let Some(m) = &self.spec.mtls {
            unknown_keys("spec.mtls.", &m.extra, &mut out);
            if let Some(MtlsMode::Unknown(v)) = &m.mode {
                out.push(format!("unknown value spec.mtls.mode: {v}"));
            }
        }
        if let Some(s) = &self.spec.selector {
            unknown_keys("spec.selector.", &s.extra, &mut out);
        }
        for (port, m) in self.spec.port_level_mtls.iter().flatten() {
            if let Some(MtlsMode::Unknown(v)) = &m.mode {
                out.push(format!("unknown value spec.portLevelMtls.{port}.mode: {v}"));
            }
            unknown_keys(&format!("spec.portLevelMtls.{port}."), &m.extra, &mut out);
        }
        out
    }
}

dynamic_resource!(PeerAuthentication);

// ---------------------------------------------------------------------------------------------
// DestinationRule
// ---------------------------------------------------------------------------------------------

/// `networking.istio.io` `DestinationRule`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DestinationRule {
    /// `apiVersion` and `kind`, when present.
    #[serde(flatten, default)]
    pub types: Option<TypeMeta>,
    /// Standard object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The rule.
    #[serde(default)]
    pub spec: DestinationRuleSpec,
    /// Any other top-level field, kept verbatim.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `DestinationRule.spec`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DestinationRuleSpec {
    /// Destination host (short name, FQDN or wildcard).
    #[serde(default)]
    pub host: String,
    /// Traffic policy for the whole host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic_policy: Option<TrafficPolicy>,
    /// Named subsets, each with an optional traffic policy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subsets: Vec<Subset>,
    /// Namespaces the rule is visible to (`*` or absent: all; `.`: its own).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub export_to: Vec<String>,
    /// Client workloads the rule applies to (absent: all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload_selector: Option<WorkloadSelector>,
    /// Unknown spec fields.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `trafficPolicy` (only TLS is modelled; everything else is kept in `extra`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrafficPolicy {
    /// Client TLS settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<ClientTls>,
    /// Per-port overrides.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub port_level_settings: Vec<PortTrafficPolicy>,
    /// Other settings (load balancer, connection pool ...).
    #[serde(flatten)]
    pub extra: Extra,
}

/// One `portLevelSettings` entry.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortTrafficPolicy {
    /// The (Service) port it applies to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<PortSelector>,
    /// Client TLS settings for that port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<ClientTls>,
    /// Other settings.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `port: { number: N }`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PortSelector {
    /// Port number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<u32>,
    /// Unknown fields.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Client-side `tls` settings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ClientTls {
    /// The mode as written. Absent is the enum's zero value, DISABLE: a `tls` block without
    /// mode turns automatic mTLS off (only an absent `tls` block leaves it on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<TlsMode>,
    /// Certificates, SNI ... kept verbatim.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A named subset.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subset {
    /// Subset name.
    #[serde(default)]
    pub name: String,
    /// Labels selecting the subset's endpoints.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Traffic policy overriding the rule's for this subset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic_policy: Option<TrafficPolicy>,
    /// Unknown fields.
    #[serde(flatten)]
    pub extra: Extra,
}

impl DestinationRule {
    /// API group.
    pub const GROUP: &'static str = "networking.istio.io";
    /// Kind.
    pub const KIND: &'static str = "DestinationRule";
    /// Plural (resource) name.
    pub const PLURAL: &'static str = "destinationrules";
    /// Served versions, preferred first.
    pub const VERSIONS: &'static [&'static str] = &["v1", "v1beta1", "v1alpha3"];

    /// The `ApiResource` for a served version.
    pub fn api_resource(version: &str) -> ApiResource {
        api_resource(Self::GROUP, version, Self::KIND, Self::PLURAL)
    }

    /// Parses one object from a list; a malformed object gives a [`ParseProblem`].
    pub fn from_value(value: Value) -> Result<Self, ParseProblem> {
        parse_object(Self::KIND, value)
    }

    /// Unknown TLS mode values and unknown spec fields, one line each.
    pub fn unknowns(&self) -> Vec<String> {
        let mut out = Vec::new();
        unknown_keys("spec.", &self.spec.extra, &mut out);
        let tp = |path: &str, tp: &TrafficPolicy, out: &mut Vec<String>| {
            if let Some(TlsMode::Unknown(v)) = tp.tls.as_ref().and_then(|t| t.mode.as_ref()) {
                out.push(format!("unknown value {path}.tls.mode: {v}"));
            }
            for (i, p) in tp.port_level_settings.iter().enumerate() {
                if let Some(TlsMode::Unknown(v)) = p.tls.as_ref().and_then(|t| t.mode.as_ref()) {
                    out.push(format!(
                        "unknown value {path}.portLevelSettings[{i}].tls.mode: {v}"
                    ));
                }
            }
        };
        if let Some(t) = &self.spec.traffic_policy {
            tp("spec.trafficPolicy", t, &mut out);
        }
        for (i, s) in self.spec.subsets.iter().enumerate() {
            if let Some(t) = &s.traffic_policy {
                tp(&format!("spec.subsets[{i}].trafficPolicy"), t, &mut out);
            }
        }
        out
    }
}

dynamic_resource!(DestinationRule);

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use kube::Resource;
    use serde_json::json;

    #[test]
    fn peer_authentication_full_round_trip() {
        let v = json!({
            "apiVersion": "security.istio.io/v1",
            "kind": "PeerAuthentication",
            "metadata": {"name": "p", "namespace": "ns", "creationTimestamp": "2026-01-02T03:04:05Z"},
            "spec": {
                "selector": {"matchLabels": {"app": "a"}},
                "mtls": {"mode": "STRICT"},
                "portLevelMtls": {"8080": {"mode": "DISABLE"}, "9090": {}}
            }
        });
        let pa = PeerAuthentication::from_value(v.clone()).unwrap();
        assert_eq!(pa.spec.mtls.as_ref().unwrap().mode(), MtlsMode::Strict);
        let ports = pa.spec.port_level_mtls.as_ref().unwrap();
        assert_eq!(ports["8080"].mode(), MtlsMode::Disable);
        assert_eq!(ports["9090"].mode(), MtlsMode::Unset);
        assert_eq!(
            pa.spec.selector.as_ref().unwrap().match_labels.as_ref().unwrap()["app"],
            "a"
        );
        assert!(pa.unknowns().is_empty());
        // apiVersion/kind land in `types`, not in `extra`.
        assert!(pa.extra.is_empty(), "{:?}", pa.extra);
        assert_eq!(pa.types.as_ref().unwrap().kind, "PeerAuthentication");
        assert_eq!(serde_json::to_value(&pa).unwrap(), v);
    }

    #[test]
    fn unknown_fields_and_values_are_kept_and_reported() {
        let v = json!({
            "metadata": {"name": "p", "namespace": "ns"},
            "spec": {"mtls": {"mode": "QUANTUM", "future": 1}, "newThing": {"a": 1},
                     "portLevelMtls": {"80": {"mode": "OTHER"}}},
            "status": {"x": 1}
        });
        let pa = PeerAuthentication::from_value(v.clone()).unwrap();
        assert_eq!(
            pa.spec.mtls.as_ref().unwrap().mode(),
            MtlsMode::Unknown("QUANTUM".into())
        );
        let u = pa.unknowns();
        assert!(u.contains(&"unknown field spec.newThing".to_string()), "{u:?}");
        assert!(u.contains(&"unknown field spec.mtls.future".to_string()), "{u:?}");
        assert!(
            u.contains(&"unknown value spec.mtls.mode: QUANTUM".to_string()),
            "{u:?}"
        );
        assert!(
            u.contains(&"unknown value spec.portLevelMtls.80.mode: OTHER".to_string()),
            "{u:?}"
        );
        assert_eq!(u.len(), 4);
        // Nothing is lost on the way back.
        assert_eq!(serde_json::to_value(&pa).unwrap(), v);
    }

    #[test]
    fn enum_numbers_are_accepted() {
        let m: MtlsMode = serde_json::from_value(json!(3)).unwrap();
        assert_eq!(m, MtlsMode::Strict);
        let m: MtlsMode = serde_json::from_value(json!(7)).unwrap();
        assert_eq!(m, MtlsMode::Unknown("7".into()));
        let t: TlsMode = serde_json::from_value(json!("ISTIO_MUTUAL")).unwrap();
        assert_eq!(t, TlsMode::IstioMutual);
    }

    #[test]
    fn malformed_object_is_a_per_object_problem() {
        let bad = json!({"metadata": {"name": "bad", "namespace": "ns"}, "spec": {"mtls": "STRICT"}});
        let err = PeerAuthentication::from_value(bad).unwrap_err();
        assert_eq!((err.namespace.as_str(), err.name.as_str()), ("ns", "bad"));
        assert!(err.message.starts_with("spec.mtls:"), "{}", err.message);
        assert!(
            err.to_string()
                .starts_with("PeerAuthentication ns/bad: spec.mtls:")
        );
        // A list with one bad item still yields the good ones.
        let list = [
            json!({"metadata": {"name": "good", "namespace": "ns"}, "spec": {}}),
            json!({"metadata": {"name": "bad2"}, "spec": {"portLevelMtls": [1, 2]}}),
        ];
        let (ok, bad): (Vec<_>, Vec<_>) = list
            .into_iter()
            .map(PeerAuthentication::from_value)
            .partition(Result::is_ok);
        assert_eq!((ok.len(), bad.len()), (1, 1));
    }

    #[test]
    fn destination_rule_parses_tls_everywhere() {
        let v = json!({
            "metadata": {"name": "dr", "namespace": "ns"},
            "spec": {
                "host": "reviews",
                "exportTo": ["."],
                "trafficPolicy": {
                    "loadBalancer": {"simple": "ROUND_ROBIN"},
                    "tls": {"mode": "ISTIO_MUTUAL"},
                    "portLevelSettings": [{"port": {"number": 9080}, "tls": {"mode": "DISABLE"}}]
                },
                "subsets": [{"name": "v1", "labels": {"version": "v1"},
                             "trafficPolicy": {"tls": {"mode": "NEWMODE"}}}]
            }
        });
        let dr = DestinationRule::from_value(v.clone()).unwrap();
        let tp = dr.spec.traffic_policy.as_ref().unwrap();
        assert_eq!(tp.tls.as_ref().unwrap().mode, Some(TlsMode::IstioMutual));
        assert_eq!(
            tp.port_level_settings[0].port.as_ref().unwrap().number,
            Some(9080)
        );
        assert_eq!(
            tp.port_level_settings[0].tls.as_ref().unwrap().mode,
            Some(TlsMode::Disable)
        );
        assert_eq!(dr.spec.subsets[0].labels["version"], "v1");
        assert_eq!(
            dr.unknowns(),
            vec!["unknown value spec.subsets[0].trafficPolicy.tls.mode: NEWMODE".to_string()]
        );
        assert_eq!(serde_json::to_value(&dr).unwrap(), v);
    }

    #[test]
    fn api_resources_follow_the_served_version() {
        let ar = PeerAuthentication::api_resource("v1beta1");
        assert_eq!(ar.api_version, "security.istio.io/v1beta1");
        assert_eq!(ar.plural, "peerauthentications");
        assert_eq!(
            PeerAuthentication::url_path(&ar, Some("ns")),
            "/apis/security.istio.io/v1beta1/namespaces/ns/peerauthentications"
        );
        let ar = DestinationRule::api_resource("v1alpha3");
        assert_eq!(
            DestinationRule::url_path(&ar, None),
            "/apis/networking.istio.io/v1alpha3/destinationrules"
        );
        let pa = PeerAuthentication::new("ns", "default", "v1", PeerAuthenticationSpec::default());
        let v = serde_json::to_value(&pa).unwrap();
        assert_eq!(v["apiVersion"], "security.istio.io/v1");
        assert_eq!(v["kind"], "PeerAuthentication");
        assert_eq!(v["metadata"]["name"], "default");
    }

    /// The schema in Istio's real CRD file names the fields modelled here.
    #[test]
    fn crd_schema_names_the_modelled_fields() {
        let Some(text) = crate::resources::tests::shared_file("istio/crd-all.gen.yaml") else {
            return;
        };
        for needle in [
            "portLevelMtls",
            "matchLabels",
            "portLevelSettings",
            "workloadSelector",
            "exportTo",
        ] {
            assert!(text.contains(needle), "{needle} missing from the CRDs");
        }
        for mode in ["UNSET", "DISABLE", "PERMISSIVE", "STRICT", "ISTIO_MUTUAL"] {
            assert!(
                text.contains(&format!("- {mode}")),
                "{mode} missing from the CRD enums"
            );
            let _ = MtlsMode::parse(mode);
        }
    }

    /// Reads a file of the shared reference data (see COMMON rules); `None` (with a message)
    /// when it is absent outside CI, panics when absent in CI.
    pub(crate) fn shared_file(rel: &str) -> Option<String> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut candidates = vec![root.join("../shared")];
        if let Ok(p) = std::env::var("KUBECTL_MTLS_SHARED") {
            candidates.push(p.into());
        }
        candidates.push("/work/shared".into());
        for c in candidates {
            let p = c.join(rel);
            if let Ok(t) = std::fs::read_to_string(&p) {
                return Some(t);
            }
        }
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("reference file {rel} is missing (CI=true)");
        }
        eprintln!("skipping: reference file {rel} not found");
        None
    }
}
