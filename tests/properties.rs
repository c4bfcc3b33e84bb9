//! Property tests for every decoder of cluster data: whatever a cluster (or a file a user
//! passes) holds, the plugin answers with a clear error or a finding, never a panic.
//!
//! Inputs are both arbitrary text and structured values built from the words the decoders
//! look for (so the generators reach past the first "not valid" check). 256 cases each.

use std::collections::BTreeMap;

use base64::Engine as _;
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kubectl_mtls::certs::{self, Expectation, Secrets};
use kubectl_mtls::model::{MeshSettings, NamespaceInfo, PodInfo, ServiceInfo, Snapshot};
use kubectl_mtls::resources::{DestinationRule, PeerAuthentication};
use proptest::prelude::*;
use serde_json::{Value, json};

fn config() -> ProptestConfig {
    ProptestConfig {
        // PROPTEST_CASES=5000 for a deeper run by hand.
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(256),
        // Regressions are fixed in the code and pinned by an ordinary test, not kept in files.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Generators

/// Words the decoders look for, plus a few that break them.
const WORDS: &[&str] = &[
    "apiVersion",
    "kind",
    "metadata",
    "name",
    "namespace",
    "labels",
    "annotations",
    "spec",
    "selector",
    "matchLabels",
    "mtls",
    "mode",
    "portLevelMtls",
    "host",
    "trafficPolicy",
    "tls",
    "portLevelSettings",
    "port",
    "number",
    "subsets",
    "exportTo",
    "workloadSelector",
    "items",
    "List",
    "PeerAuthentication",
    "DestinationRule",
    "security.istio.io/v1",
    "security.istio.io/v1beta1",
    "networking.istio.io/v1",
    "STRICT",
    "PERMISSIVE",
    "DISABLE",
    "UNSET",
    "ISTIO_MUTUAL",
    "MUTUAL",
    "SIMPLE",
    "rootNamespace",
    "trustDomain",
    "enableAutoMtls",
    "istio-system",
    "cluster.local",
    "*",
    "",
    "8080",
    "-1",
    "4294967296",
    "null",
    "true",
    "~",
    "0x1F",
    "1e400",
    "é∂",
];

fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::sample::select(WORDS).prop_map(str::to_string),
        1 => any::<String>(),
    ]
}

/// Arbitrary JSON whose keys and strings are mostly the decoders' own words.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        word().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(word(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Mostly a plausible value, sometimes anything at all.
fn or_wild(plausible: impl Strategy<Value = Value> + 'static) -> impl Strategy<Value = Value> {
    prop_oneof![4 => plausible, 1 => json_value()]
}

fn string_map() -> impl Strategy<Value = Value> {
    prop::collection::btree_map(word(), word(), 0..3).prop_map(|m| json!(m))
}

fn mode() -> impl Strategy<Value = Value> {
    or_wild(word().prop_map(Value::String))
}

fn port_key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => (0u32..70_000).prop_map(|p| p.to_string()),
        1 => word(),
    ]
}

/// A PeerAuthentication- or DestinationRule-shaped object, each part plausible or arbitrary.
fn istio_object(kind: &'static str) -> impl Strategy<Value = Value> {
    let pa_spec = (
        or_wild(string_map().prop_map(|m| json!({"matchLabels": m}))),
        or_wild(mode().prop_map(|m| json!({"mode": m}))),
        or_wild(
            prop::collection::btree_map(port_key(), mode().prop_map(|m| json!({"mode": m})), 0..3)
                .prop_map(|m| json!(m)),
        ),
    )
        .prop_map(
            |(selector, mtls, ports)| json!({"selector": selector, "mtls": mtls, "portLevelMtls": ports}),
        );
    let port_setting = (or_wild((0i64..70_000).prop_map(|n| json!({"number": n}))), mode())
        .prop_map(|(port, m)| json!({"port": port, "tls": {"mode": m}}));
    let dr_spec = (
        or_wild(word().prop_map(Value::String)),
        mode(),
        or_wild(prop::collection::vec(port_setting, 0..3).prop_map(Value::Array)),
        or_wild(prop::collection::vec(word(), 0..2).prop_map(|v| json!(v))),
    )
        .prop_map(|(host, m, ports, export)| {
            json!({"host": host, "trafficPolicy": {"tls": {"mode": m}, "portLevelSettings": ports}, "exportTo": export})
        });
    let spec = if kind == "PeerAuthentication" {
        pa_spec.boxed()
    } else {
        dr_spec.boxed()
    };
    (
        or_wild(word().prop_map(Value::String)),
        or_wild(prop::sample::select(vec!["shop", "istio-system", ""]).prop_map(|s| json!(s))),
        or_wild(string_map()),
        or_wild(spec),
    )
        .prop_map(move |(name, ns, labels, spec)| {
            json!({
                "apiVersion": if kind == "PeerAuthentication" { "security.istio.io/v1" } else { "networking.istio.io/v1" },
                "kind": kind,
                "metadata": {"name": name, "namespace": ns, "labels": labels, "creationTimestamp": "2024-01-01T00:00:00Z"},
                "spec": spec,
            })
        })
}

/// Text that looks like YAML: indented `key: value` lines and list items made of the
/// decoders' words, with the odd stray character.
fn yaml_like() -> impl Strategy<Value = String> {
    prop::collection::vec(
        (
            0usize..4,
            any::<bool>(),
            word(),
            prop::option::of(word()),
            prop::sample::select(vec![
                "", ":", "\t", "'", "\"", "{", "[", "&a", "*a", "!!str", "|", ">", "---", "#",
            ]),
        ),
        0..14,
    )
    .prop_map(|lines| {
        lines
            .into_iter()
            .map(|(indent, dash, key, value, stray)| {
                let pad = "  ".repeat(indent);
                let dash = if dash { "- " } else { "" };
                match value {
                    Some(v) => format!("{pad}{dash}{key}: {v}{stray}"),
                    None => format!("{pad}{dash}{key}:{stray}"),
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    })
}

/// A real workload certificate (rcgen), made once: the base for mutated certificates.
fn real_cert_der() -> &'static Vec<u8> {
    static CERT: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    CERT.get_or_init(|| {
        let key = rcgen::KeyPair::generate().expect("key");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params.subject_alt_names = vec![rcgen::SanType::URI(
            "spiffe://cluster.local/ns/shop/sa/web".try_into().expect("uri"),
        )];
        params.self_signed(&key).expect("self-signed").der().to_vec()
    })
}

/// DER bytes: a real certificate, random bytes, or a real certificate with a few bytes changed
/// or cut short.
fn der_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        1 => Just(real_cert_der().clone()),
        1 => prop::collection::vec(any::<u8>(), 0..600),
        3 => (
            prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
            prop::option::of(any::<prop::sample::Index>()),
        )
            .prop_map(|(edits, cut)| {
                let mut der = real_cert_der().clone();
                for (at, b) in edits {
                    let i = at.index(der.len());
                    der[i] = b;
                }
                if let Some(cut) = cut {
                    der.truncate(cut.index(der.len()));
                }
                der
            }),
    ]
}

fn pem_of(der: &[u8], label: &str) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    format!("-----BEGIN {label}-----\n{b64}\n-----END {label}-----\n")
}

/// What a secret's `inline_bytes` may hold: base64 of DER, of PEM, of garbage; or not base64.
fn inline_bytes() -> impl Strategy<Value = String> {
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    prop_oneof![
        2 => Just(b64(pem_of(real_cert_der(), "CERTIFICATE").as_bytes())),
        1 => Just(b64(real_cert_der())),
        1 => der_bytes().prop_map(move |d| b64(&d)),
        1 => (der_bytes(), prop::sample::select(vec!["CERTIFICATE", "PRIVATE KEY", "X"]))
            .prop_map(move |(d, l)| b64(pem_of(&d, l).as_bytes())),
        1 => (der_bytes(), der_bytes()).prop_map(move |(a, b)| {
            b64(format!("{}{}", pem_of(&a, "CERTIFICATE"), pem_of(&b, "CERTIFICATE")).as_bytes())
        }),
        1 => any::<String>().prop_map(move |s| b64(format!("-----BEGIN{s}").as_bytes())),
        1 => any::<String>(),
    ]
}

/// An Envoy secrets config dump with arbitrary secrets.
fn config_dump() -> impl Strategy<Value = String> {
    (
        inline_bytes(),
        inline_bytes(),
        prop::sample::select(vec!["default", "default", "ROOTCA", "other"]),
        any::<bool>(),
        json_value(),
    )
        .prop_map(|(chain, root, name, warming, noise)| {
            let list = if warming { "dynamic_warming_secrets" } else { "dynamic_active_secrets" };
            json!({"configs": [
                {"@type": "type.googleapis.com/envoy.admin.v3.SecretsConfigDump", list: [
                    {"name": name, "secret": {"tls_certificate": {"certificate_chain": {"inline_bytes": chain}}}},
                    {"name": "ROOTCA", "secret": {"validation_context": {"trusted_ca": {"inline_bytes": root}}}},
                    {"name": "default", "secret": noise},
                ]}
            ]})
            .to_string()
        })
}

fn expectation() -> Expectation {
    Expectation {
        namespace: "shop".into(),
        service_account: "web".into(),
        trust_domain: Some("cluster.local".into()),
    }
}

// ---------------------------------------------------------------------------------------------
// Envoy config dumps, SDS secrets and certificates

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_text_as_a_config_dump_is_an_error_or_secrets(text in any::<String>()) {
        let _ = certs::parse_secrets_dump(&text);
    }

    #[test]
    fn any_secrets_in_a_config_dump_are_judged_or_refused(dump in config_dump(), now in 0i64..8_000_000_000) {
        if let Ok(secrets) = certs::parse_secrets_dump(&dump) {
            match certs::analyse(&secrets, &expectation(), now) {
                Ok(report) => prop_assert!(!report.leaf.not_after.is_empty()),
                Err(e) => prop_assert!(!e.to_string().is_empty()),
            }
        }
    }

    #[test]
    fn any_der_certificates_are_judged_or_refused(
        chain in prop::collection::vec(der_bytes(), 0..3),
        roots in prop::collection::vec(der_bytes(), 0..3),
        now in 0i64..8_000_000_000,
    ) {
        let secrets = Secrets { chain, roots };
        if let Ok(report) = certs::analyse(&secrets, &expectation(), now) {
            // An accepted chain was read in full: the findings say what is wrong with it.
            prop_assert!(report.chain_verifies || report.findings.iter().any(|f| f.code == "ChainDoesNotVerify"));
        }
    }
}

#[test]
fn the_real_certificate_is_read_whole() {
    // The base of the mutations is itself readable, so mutations start from a good input.
    let secrets = Secrets {
        chain: vec![real_cert_der().clone()],
        roots: vec![real_cert_der().clone()],
    };
    let report = certs::analyse(&secrets, &expectation(), 1_900_000_000).expect("readable");
    assert_eq!(
        report.leaf.spiffe_id.as_deref(),
        Some("spiffe://cluster.local/ns/shop/sa/web")
    );
}

// ---------------------------------------------------------------------------------------------
// The mesh config

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_mesh_config_text_is_settings_or_an_error(text in prop_oneof![any::<String>(), yaml_like()]) {
        match MeshSettings::from_mesh_yaml("istio-system", &text) {
            Ok(m) => {
                prop_assert!(!m.root_namespace.is_empty());
                prop_assert!(!m.trust_domain.is_empty());
            }
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }

    #[test]
    fn any_mesh_configmap_is_settings_or_an_error(
        data in prop::option::of(prop::collection::btree_map(word(), prop_oneof![any::<String>(), yaml_like()], 0..3)),
        json_mesh in json_value(),
    ) {
        let mut data = data;
        if let Some(d) = data.as_mut() {
            // JSON is YAML too: a mesh document of arbitrary structure.
            d.entry("mesh".to_string()).or_insert_with(|| json_mesh.to_string());
        }
        let cm = ConfigMap {
            metadata: ObjectMeta {
                name: Some("istio".into()),
                namespace: Some("istio-system".into()),
                ..Default::default()
            },
            data,
            ..Default::default()
        };
        let _ = MeshSettings::from_configmap(&cm);
    }
}

// ---------------------------------------------------------------------------------------------
// PeerAuthentication, DestinationRule, pods and services, through the whole analysis

fn pod_meta() -> impl Strategy<Value = ObjectMeta> {
    let keys = prop::sample::select(vec![
        "sidecar.istio.io/status",
        "security.istio.io/tlsMode",
        "ambient.istio.io/redirection",
        "traffic.sidecar.istio.io/includeInboundPorts",
        "traffic.sidecar.istio.io/excludeInboundPorts",
        "sidecar.istio.io/inject",
        "app",
    ]);
    let values = prop_oneof![
        word(),
        Just(r#"{"initContainers":["istio-init","istio-proxy"]}"#.to_string()),
        Just("8080,*,-1,65536, 80 ".to_string()),
        json_value().prop_map(|v| v.to_string()),
    ];
    (
        prop::collection::btree_map(keys.clone().prop_map(str::to_string), values.clone(), 0..5),
        prop::collection::btree_map(keys.prop_map(str::to_string), values, 0..4),
        word(),
        prop::sample::select(vec!["shop", "istio-system", ""]),
    )
        .prop_map(|(annotations, labels, name, ns)| ObjectMeta {
            name: Some(name),
            namespace: Some(ns.to_string()),
            annotations: Some(annotations),
            labels: Some(labels),
            ..Default::default()
        })
}

fn service() -> impl Strategy<Value = Option<Service>> {
    (json_value(), json_value()).prop_map(|(ports, selector)| {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"ports": ports, "selector": selector},
        }))
        .ok()
    })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_peer_authentication_is_an_object_or_a_problem(v in prop_oneof![json_value(), istio_object("PeerAuthentication")]) {
        match PeerAuthentication::from_value(v) {
            Ok(pa) => {
                let _ = pa.spec.mtls.as_ref().map(|m| m.mode());
                let _ = pa.unknowns();
            }
            Err(p) => prop_assert!(!p.message.is_empty()),
        }
    }

    #[test]
    fn any_destination_rule_is_an_object_or_a_problem(v in prop_oneof![json_value(), istio_object("DestinationRule")]) {
        match DestinationRule::from_value(v) {
            Ok(dr) => {
                let _ = dr.unknowns();
            }
            Err(p) => prop_assert!(!p.message.is_empty()),
        }
    }

    #[test]
    fn any_cluster_contents_are_analysed_into_findings(
        pas in prop::collection::vec(prop_oneof![json_value(), istio_object("PeerAuthentication")], 0..4),
        drs in prop::collection::vec(prop_oneof![json_value(), istio_object("DestinationRule")], 0..3),
        pods in prop::collection::vec(pod_meta(), 0..4),
        services in prop::collection::vec(service(), 0..2),
    ) {
        let mesh = MeshSettings::defaults("istio-system");
        let mut snapshot = Snapshot::new(&mesh);
        for ns in ["shop", "istio-system", ""] {
            snapshot.namespaces.push(NamespaceInfo::new(ns, BTreeMap::from([("istio-injection".to_string(), "enabled".to_string())])));
        }
        let (n_pa, n_dr) = (pas.len(), drs.len());
        for v in pas {
            snapshot.push_policy_value(v);
        }
        for v in drs {
            snapshot.push_destination_rule_value(v);
        }
        // Every object is either understood or kept as a problem, never dropped.
        prop_assert_eq!(
            snapshot.policies.len() + snapshot.destination_rules.len() + snapshot.problems.len(),
            n_pa + n_dr
        );
        for meta in &pods {
            snapshot.pods.push(PodInfo::from_metadata(meta));
        }
        for s in services.iter().flatten() {
            snapshot.services.push(ServiceInfo::from(s));
        }
        let analysis = kubectl_mtls::engine::analyze(&snapshot);
        let _ = kubectl_mtls::engine::require(&analysis, kubectl_mtls::model::Mode::Strict);
    }
}

// ---------------------------------------------------------------------------------------------
// Kubeconfigs, read the way the plugin reads them

fn kubeconfig_like() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec!["v1", "", "x"]),
        word(),
        word(),
        word(),
        prop::option::of(word()),
        prop::option::of(word()),
        prop::sample::select(vec!["token", "username", "client-certificate-data", "client-key-data", "password", "as"]),
        word(),
        prop::option::of(word()),
    )
        .prop_map(|(api, cluster, user, server, ns, current, cred, secret, ca)| {
            let ca = ca.map(|c| format!("\n    certificate-authority-data: {c:?}")).unwrap_or_default();
            let ns = ns.map(|n| format!("\n    namespace: {n:?}")).unwrap_or_default();
            let current = current.map(|c| format!("current-context: {c:?}\n")).unwrap_or_default();
            format!(
                "apiVersion: {api}\nkind: Config\nclusters:\n- name: {cluster:?}\n  cluster:\n    server: {server:?}{ca}\ncontexts:\n- name: ctx\n  context:\n    cluster: {cluster:?}\n    user: {user:?}{ns}\n{current}users:\n- name: {user:?}\n  user:\n    {cred}: {secret:?}\n"
            )
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..config() })]

    #[test]
    fn any_kubeconfig_file_is_loaded_or_named_in_an_error(
        text in prop_oneof![any::<String>(), yaml_like(), kubeconfig_like()],
    ) {
        let dir = std::env::temp_dir().join(format!("kubectl-mtls-prop-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("config");
        std::fs::write(&path, &text).expect("write");
        match kubectl_mtls::client::load_kubeconfig(Some(&path)) {
            Ok(_) => {
                // A file that parses also gets through the flags and into a client config
                // (no exec credential plugins are generated, so nothing is run).
                let g = kubectl_mtls::client::ConnectOptions {
                    kubeconfig: Some(path.clone()),
                    context: Some("ctx".into()),
                    ..Default::default()
                };
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
                if let Err(e) = rt.block_on(kubectl_mtls::client::config_from_flags(&g)) {
                    prop_assert!(!e.to_string().is_empty());
                }
            }
            Err(e) => {
                let msg = e.to_string();
                prop_assert!(msg.contains(&path.display().to_string()), "the file is named: {}", msg);
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

// ---------------------------------------------------------------------------------------------
// `diff -f` manifests

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_manifest_file_is_manifests_or_one_usage_error(
        text in prop_oneof![
            any::<String>(),
            yaml_like(),
            prop::collection::vec(prop_oneof![istio_object("PeerAuthentication"), json_value()], 1..4)
                .prop_map(|docs| docs.iter().map(Value::to_string).collect::<Vec<_>>().join("\n---\n")),
        ],
    ) {
        match kubectl_mtls::change::manifest::parse_manifests(&text, "policy.yaml") {
            Ok(ms) => prop_assert!(!ms.is_empty()),
            Err(e) => {
                prop_assert_eq!(e.exit_code(), 2);
                let msg = e.to_string();
                prop_assert!(msg.starts_with("policy.yaml"), "{}", msg);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The generators are not vacuous: they reach the decoders' good paths as well as their errors.

fn sample<T: std::fmt::Debug>(strategy: impl Strategy<Value = T>, n: usize) -> Vec<T> {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    (0..n)
        .map(|_| strategy.new_tree(&mut runner).expect("a value").current())
        .collect()
}

#[test]
fn the_generators_reach_good_and_bad_inputs() {
    let split = |oks: usize, n: usize, what: &str| {
        assert!(oks > 0 && oks < n, "{what}: {oks} of {n} accepted");
    };
    let pas = sample(istio_object("PeerAuthentication"), 300);
    let ok = pas
        .into_iter()
        .filter(|v| PeerAuthentication::from_value(v.clone()).is_ok())
        .count();
    split(ok, 300, "PeerAuthentication");
    let drs = sample(istio_object("DestinationRule"), 300);
    let ok = drs
        .into_iter()
        .filter(|v| DestinationRule::from_value(v.clone()).is_ok())
        .count();
    split(ok, 300, "DestinationRule");
    let dumps = sample(config_dump(), 300);
    let ok = dumps
        .iter()
        .filter_map(|d| certs::parse_secrets_dump(d).ok())
        .filter(|s| certs::analyse(s, &expectation(), 1_900_000_000).is_ok())
        .count();
    split(ok, 300, "config dumps analysed");
    let meshes = sample(yaml_like(), 300);
    let ok = meshes
        .iter()
        .filter(|m| MeshSettings::from_mesh_yaml("istio-system", m).is_ok())
        .count();
    split(ok, 300, "mesh config");
    let manifests = sample(
        istio_object("PeerAuthentication").prop_map(|v| v.to_string()),
        300,
    );
    let ok = manifests
        .iter()
        .filter(|m| kubectl_mtls::change::manifest::parse_manifests(m, "f.yaml").is_ok())
        .count();
    split(ok, 300, "diff manifests");
    let dir = std::env::temp_dir().join(format!("kubectl-mtls-prop-gen-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("config");
    let ok = sample(kubeconfig_like(), 100)
        .iter()
        .filter(|k| {
            std::fs::write(&path, k).expect("write");
            kubectl_mtls::client::load_kubeconfig(Some(&path)).is_ok()
        })
        .count();
    split(ok, 100, "kubeconfigs");
    let _ = std::fs::remove_dir_all(&dir);
}
