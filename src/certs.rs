//! Workload certificates, without I/O: decode the SDS secrets of an Envoy config dump
//! (`pilot-agent request GET 'config_dump?mask=dynamic_active_secrets'`), parse the X.509
//! chain and root, and judge them the way an operator would (expiry, rotation, identity,
//! chain of trust).

use base64::Engine as _;
use serde::Serialize;
use x509_parser::prelude::*;

/// Istio rotates a workload certificate once this fraction of its lifetime has passed
/// (`SECRET_GRACE_PERIOD_RATIO`, default 0.5).
pub const ROTATION_RATIO: f64 = 0.5;
/// Istio adds up to this much jitter to the rotation point (`SECRET_GRACE_PERIOD_RATIO_JITTER`).
pub const ROTATION_JITTER: f64 = 0.01;
/// Extra time allowed after the rotation point before calling rotation stuck.
pub const ROTATION_GRACE_SECS: i64 = 300;

/// Why certificates could not be read at all.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CertError {
    /// The dump is not the JSON Envoy produces.
    #[error("the proxy's config dump is not valid JSON: {0}")]
    NotJson(String),
    /// The dump has no workload certificate (`default` secret).
    #[error(
        "the proxy holds no workload certificate (no active `default` secret); is it connected to istiod?"
    )]
    NoWorkloadSecret,
    /// A secret's bytes are not base64 or not PEM/DER certificates.
    #[error("the `{secret}` secret does not hold readable certificates: {reason}")]
    Unreadable {
        /// Secret name.
        secret: String,
        /// What failed.
        reason: String,
    },
}

/// The two secrets Istio's proxy uses for mTLS, as DER certificates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Secrets {
    /// `default`: the workload certificate chain, leaf first.
    pub chain: Vec<Vec<u8>>,
    /// `ROOTCA`: the trusted roots.
    pub roots: Vec<Vec<u8>>,
}

fn find_secret_bytes<'a>(dump: &'a serde_json::Value, name: &str) -> Option<(&'a str, &'a str)> {
    let configs = dump.get("configs")?.as_array()?;
    for config in configs {
        for key in ["dynamic_active_secrets", "dynamic_warming_secrets"] {
            let Some(secrets) = config.get(key).and_then(|s| s.as_array()) else {
                continue;
            };
            for s in secrets {
                if s.get("name").and_then(|n| n.as_str()) != Some(name) {
                    continue;
                }
                let secret = s.get("secret")?;
                if let Some(b) = secret.pointer("/tls_certificate/certificate_chain/inline_bytes") {
                    return Some(("certificate_chain", b.as_str()?));
                }
                if let Some(b) = secret.pointer("/validation_context/trusted_ca/inline_bytes") {
                    return Some(("trusted_ca", b.as_str()?));
                }
            }
        }
    }
    None
}

/// Decodes `inline_bytes` (base64 of PEM text, or of DER) into DER certificates.
fn decode_certs(secret: &str, b64: &str) -> Result<Vec<Vec<u8>>, CertError> {
    let unreadable = |reason: String| CertError::Unreadable {
        secret: secret.to_string(),
        reason,
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|e| unreadable(format!("not base64: {e}")))?;
    if bytes.starts_with(b"-----BEGIN") {
        let mut out = Vec::new();
        for pem in Pem::iter_from_buffer(&bytes) {
            let pem = pem.map_err(|e| unreadable(format!("bad PEM: {e}")))?;
            if pem.label == "CERTIFICATE" {
                out.push(pem.contents);
            }
        }
        if out.is_empty() {
            return Err(unreadable("no CERTIFICATE block".into()));
        }
        Ok(out)
    } else {
        parse_x509_certificate(&bytes).map_err(|e| unreadable(format!("not a certificate: {e}")))?;
        Ok(vec![bytes])
    }
}

/// Reads the `default` and `ROOTCA` secrets out of an Envoy secrets config dump.
pub fn parse_secrets_dump(text: &str) -> Result<Secrets, CertError> {
    let dump: serde_json::Value =
        serde_json::from_str(text).map_err(|e| CertError::NotJson(e.to_string()))?;
    let (_, chain_b64) = find_secret_bytes(&dump, "default").ok_or(CertError::NoWorkloadSecret)?;
    let chain = decode_certs("default", chain_b64)?;
    let roots = match find_secret_bytes(&dump, "ROOTCA") {
        Some((_, b64)) => decode_certs("ROOTCA", b64)?,
        None => Vec::new(),
    };
    Ok(Secrets { chain, roots })
}

/// What one certificate says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CertSummary {
    /// Serial number, colon-separated hex.
    pub serial: String,
    /// Subject DN (empty for Istio workload certificates).
    pub subject: String,
    /// Issuer DN.
    pub issuer: String,
    /// The SPIFFE ID from the URI SAN, if any.
    pub spiffe_id: Option<String>,
    /// Not valid before (RFC 3339).
    pub not_before: String,
    /// Not valid after (RFC 3339).
    pub not_after: String,
    /// Whether it is a CA certificate.
    pub is_ca: bool,
    #[serde(skip)]
    not_before_unix: i64,
    #[serde(skip)]
    not_after_unix: i64,
}

fn rfc3339(unix: i64) -> String {
    jiff::Timestamp::from_second(unix)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| unix.to_string())
}

fn summarize(cert: &X509Certificate<'_>) -> CertSummary {
    let spiffe_id = cert.subject_alternative_name().ok().flatten().and_then(|san| {
        san.value.general_names.iter().find_map(|n| match n {
            GeneralName::URI(u) if u.starts_with("spiffe://") => Some(u.to_string()),
            _ => None,
        })
    });
    let nb = cert.validity().not_before.timestamp();
    let na = cert.validity().not_after.timestamp();
    CertSummary {
        serial: cert.raw_serial_as_string(),
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        spiffe_id,
        not_before: rfc3339(nb),
        not_after: rfc3339(na),
        is_ca: cert.is_ca(),
        not_before_unix: nb,
        not_after_unix: na,
    }
}

/// Whom the certificate should identify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expectation {
    /// The pod's namespace.
    pub namespace: String,
    /// The pod's service account.
    pub service_account: String,
    /// The mesh trust domain, when known (else any trust domain is accepted).
    pub trust_domain: Option<String>,
}

impl Expectation {
    /// The SPIFFE ID Istio issues: `spiffe://<td>/ns/<ns>/sa/<sa>`.
    pub fn spiffe_id(&self, trust_domain: &str) -> String {
        format!(
            "spiffe://{trust_domain}/ns/{}/sa/{}",
            self.namespace, self.service_account
        )
    }

    fn matches(&self, id: &str) -> bool {
        let Some(rest) = id.strip_prefix("spiffe://") else {
            return false;
        };
        let Some((td, path)) = rest.split_once('/') else {
            return false;
        };
        let path_ok = path == format!("ns/{}/sa/{}", self.namespace, self.service_account);
        path_ok && self.trust_domain.as_deref().is_none_or(|t| t == td)
    }
}

/// Every certificate finding code and its severity (docs/probe.md lists the same; a test
/// compares them).
pub const CERT_CODES: &[(&str, &str)] = &[
    ("CertNotYetValid", "error"),
    ("CertExpired", "error"),
    ("RotationOverdue", "warning"),
    ("SpiffeIdMismatch", "error"),
    ("NoSpiffeId", "error"),
    ("ChainDoesNotVerify", "error"),
    ("NotInMesh", "error"),
    ("AmbientCertificatesInZtunnel", "warning"),
];

/// A problem with the certificates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertFinding {
    /// `error` or `warning`.
    pub severity: &'static str,
    /// Stable code.
    pub code: &'static str,
    /// One line for a person.
    pub message: String,
}

impl CertFinding {
    /// A finding of one of [`CERT_CODES`], with that code's severity.
    pub fn new(code: &'static str, message: String) -> CertFinding {
        let severity = CERT_CODES
            .iter()
            .find(|(c, _)| *c == code)
            .map_or("error", |(_, s)| *s);
        debug_assert!(
            CERT_CODES.iter().any(|(c, _)| *c == code),
            "{code} is not in CERT_CODES"
        );
        CertFinding {
            severity,
            code,
            message,
        }
    }
}

/// The judgement of a workload's certificates at one moment.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CertReport {
    /// The workload (leaf) certificate.
    pub leaf: CertSummary,
    /// Further certificates of the chain (intermediates, and the root when the chain carries it).
    pub chain: Vec<CertSummary>,
    /// The trusted roots (`ROOTCA`).
    pub roots: Vec<CertSummary>,
    /// Total lifetime in seconds.
    pub lifetime_seconds: i64,
    /// Seconds until expiry (negative once expired).
    pub remaining_seconds: i64,
    /// How far through its lifetime the leaf is (0.0 to 1.0 and beyond).
    pub elapsed_fraction: f64,
    /// When Istio should rotate it (RFC 3339).
    pub rotation_due: String,
    /// Whether the chain verifies up to one of the roots.
    pub chain_verifies: bool,
    /// Why it does not verify, if it does not.
    pub verify_error: Option<String>,
    /// Problems found.
    pub findings: Vec<CertFinding>,
}

/// Checks that each certificate is signed by the next and the last by one of the roots.
fn verify_chain(chain: &[X509Certificate<'_>], roots: &[X509Certificate<'_>]) -> Result<(), String> {
    if roots.is_empty() {
        return Err("no root certificate (ROOTCA) to verify against".into());
    }
    for pair in chain.windows(2) {
        let (child, parent) = (&pair[0], &pair[1]);
        child.verify_signature(Some(parent.public_key())).map_err(|e| {
            format!(
                "certificate {} is not signed by {}: {e}",
                child.raw_serial_as_string(),
                parent.subject()
            )
        })?;
    }
    let last = chain.last().ok_or("empty chain")?;
    let anchored = roots.iter().any(|root| {
        let same = root.as_ref() == last.as_ref();
        same || last.verify_signature(Some(root.public_key())).is_ok()
    });
    if anchored {
        Ok(())
    } else {
        Err(format!(
            "the chain ends at \"{}\", which no trusted root (ROOTCA) signed",
            last.issuer()
        ))
    }
}

fn parse_all<'a>(name: &str, ders: &'a [Vec<u8>]) -> Result<Vec<X509Certificate<'a>>, CertError> {
    ders.iter()
        .map(|d| {
            parse_x509_certificate(d)
                .map(|(_, c)| c)
                .map_err(|e| CertError::Unreadable {
                    secret: name.to_string(),
                    reason: e.to_string(),
                })
        })
        .collect()
}

/// Judges the secrets at time `now` (Unix seconds).
pub fn analyse(secrets: &Secrets, expected: &Expectation, now: i64) -> Result<CertReport, CertError> {
    let chain = parse_all("default", &secrets.chain)?;
    let roots = parse_all("ROOTCA", &secrets.roots)?;
    let leaf_cert = chain.first().ok_or(CertError::NoWorkloadSecret)?;
    let leaf = summarize(leaf_cert);

    let lifetime = (leaf.not_after_unix - leaf.not_before_unix).max(1);
    let remaining = leaf.not_after_unix - now;
    let elapsed_fraction = (now - leaf.not_before_unix) as f64 / lifetime as f64;
    let rotation_at = leaf.not_before_unix + (lifetime as f64 * ROTATION_RATIO) as i64;
    let stuck_after = leaf.not_before_unix
        + (lifetime as f64 * (ROTATION_RATIO + ROTATION_JITTER)) as i64
        + ROTATION_GRACE_SECS;

    let verification = verify_chain(&chain, &roots);
    let mut findings = Vec::new();
    let mut add = |code, message: String| findings.push(CertFinding::new(code, message));
    if now < leaf.not_before_unix {
        add(
            "CertNotYetValid",
            format!("the certificate is not valid before {}", leaf.not_before),
        );
    }
    if now >= leaf.not_after_unix {
        add(
            "CertExpired",
            format!("the certificate expired at {}", leaf.not_after),
        );
    } else if now > stuck_after {
        add(
            "RotationOverdue",
            format!(
                "the certificate is {:.0}% through its lifetime; Istio rotates at {:.0}% ({}): is rotation stuck?",
                elapsed_fraction * 100.0,
                ROTATION_RATIO * 100.0,
                rfc3339(rotation_at)
            ),
        );
    }
    match &leaf.spiffe_id {
        Some(id) if expected.matches(id) => {}
        Some(id) => add(
            "SpiffeIdMismatch",
            format!(
                "the certificate identifies {id}, but the pod runs as {}",
                expected.spiffe_id(expected.trust_domain.as_deref().unwrap_or("<trust-domain>"))
            ),
        ),
        None => add(
            "NoSpiffeId",
            "the certificate carries no spiffe:// URI SAN".to_string(),
        ),
    }
    if let Err(e) = &verification {
        add(
            "ChainDoesNotVerify",
            format!("the certificate chain does not verify: {e}"),
        );
    }

    Ok(CertReport {
        leaf,
        chain: chain.iter().skip(1).map(summarize).collect(),
        roots: roots.iter().map(summarize).collect(),
        lifetime_seconds: lifetime,
        remaining_seconds: remaining,
        elapsed_fraction,
        rotation_due: rfc3339(rotation_at),
        chain_verifies: verification.is_ok(),
        verify_error: verification.err(),
        findings,
    })
}

/// A duration for people: `23h58m`, `12m`, `-3h2m` (expired).
pub fn human_duration(secs: i64) -> String {
    let sign = if secs < 0 { "-" } else { "" };
    let s = secs.unsigned_abs();
    let (d, h, m) = (s / 86_400, (s % 86_400) / 3600, (s % 3600) / 60);
    match (d, h) {
        (0, 0) => format!("{sign}{m}m"),
        // Up to two days in hours, as kubectl shows ages: a 24 h certificate reads `24h0m`.
        (0 | 1, _) => format!("{sign}{}h{m}m", d * 24 + h),
        _ => format!("{sign}{d}d{h}h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, SanType};

    const HOUR: i64 = 3600;

    struct Ca {
        params: CertificateParams,
        key: KeyPair,
        pem: String,
    }

    fn ca(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::OrganizationName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.not_before =
            ::time::OffsetDateTime::from_unix_timestamp(1_700_000_000 - 365 * 24 * HOUR).unwrap();
        params.not_after =
            ::time::OffsetDateTime::from_unix_timestamp(1_700_000_000 + 3650 * 24 * HOUR).unwrap();
        let key = KeyPair::generate().unwrap();
        let pem = params.self_signed(&key).unwrap().pem();
        Ca { params, key, pem }
    }

    /// A workload certificate the way istiod issues one: empty subject, URI SAN, 24 h, backdated 2 min.
    fn leaf(issuer: &Ca, spiffe: &str, not_before: i64) -> String {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.subject_alt_names = vec![SanType::URI(spiffe.try_into().unwrap())];
        params.not_before = ::time::OffsetDateTime::from_unix_timestamp(not_before).unwrap();
        params.not_after = ::time::OffsetDateTime::from_unix_timestamp(not_before + 24 * HOUR).unwrap();
        let key = KeyPair::generate().unwrap();
        let issuer = Issuer::from_params(&issuer.params, &issuer.key);
        params.signed_by(&key, &issuer).unwrap().pem()
    }

    fn dump(chain_pem: &str, root_pem: &str) -> String {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        serde_json::json!({
            "configs": [{
                "@type": "type.googleapis.com/envoy.admin.v3.SecretsConfigDump",
                "dynamic_active_secrets": [
                    {"name": "default", "secret": {"name": "default", "tls_certificate": {
                        "certificate_chain": {"inline_bytes": b64(chain_pem)},
                        "private_key": {"inline_bytes": "W3JlZGFjdGVkXQ=="}}}},
                    {"name": "ROOTCA", "secret": {"name": "ROOTCA", "validation_context": {
                        "trusted_ca": {"inline_bytes": b64(root_pem)}}}}
                ]
            }]
        })
        .to_string()
    }

    fn web_api() -> Expectation {
        Expectation {
            namespace: "istioinaction".into(),
            service_account: "web-api".into(),
            trust_domain: Some("cluster.local".into()),
        }
    }

    const ID: &str = "spiffe://cluster.local/ns/istioinaction/sa/web-api";
    const T0: i64 = 1_700_000_000;

    fn codes(r: &CertReport) -> Vec<&'static str> {
        r.findings.iter().map(|f| f.code).collect()
    }

    #[test]
    fn a_fresh_istio_certificate_has_no_findings() {
        let root = ca("cluster.local");
        let chain = format!("{}{}", leaf(&root, ID, T0 - 120), root.pem);
        let secrets = parse_secrets_dump(&dump(&chain, &root.pem)).unwrap();
        assert_eq!(secrets.chain.len(), 2);
        assert_eq!(secrets.roots.len(), 1);
        let r = analyse(&secrets, &web_api(), T0 + HOUR).unwrap();
        assert!(r.findings.is_empty(), "{:?}", r.findings);
        assert!(r.chain_verifies);
        assert_eq!(r.leaf.spiffe_id.as_deref(), Some(ID));
        assert_eq!(r.leaf.subject, "");
        assert_eq!(r.lifetime_seconds, 24 * HOUR);
        assert_eq!(r.remaining_seconds, 23 * HOUR - 120);
        assert!((r.elapsed_fraction - (HOUR + 120) as f64 / (24 * HOUR) as f64).abs() < 1e-9);
        assert_eq!(r.rotation_due, rfc3339(T0 - 120 + 12 * HOUR));
    }

    #[test]
    fn expired_and_not_yet_valid_certificates_are_errors() {
        let root = ca("cluster.local");
        let secrets = parse_secrets_dump(&dump(&leaf(&root, ID, T0), &root.pem)).unwrap();
        let r = analyse(&secrets, &web_api(), T0 + 25 * HOUR).unwrap();
        assert_eq!(codes(&r), vec!["CertExpired"]);
        assert!(r.remaining_seconds < 0);
        let r = analyse(&secrets, &web_api(), T0 - HOUR).unwrap();
        assert_eq!(codes(&r), vec!["CertNotYetValid"]);
    }

    #[test]
    fn a_certificate_past_its_rotation_point_is_flagged() {
        let root = ca("cluster.local");
        let secrets = parse_secrets_dump(&dump(&leaf(&root, ID, T0), &root.pem)).unwrap();
        // 12 h is the rotation point; within jitter and grace it is fine
        assert!(
            analyse(&secrets, &web_api(), T0 + 12 * HOUR + 60)
                .unwrap()
                .findings
                .is_empty()
        );
        let r = analyse(&secrets, &web_api(), T0 + 18 * HOUR).unwrap();
        assert_eq!(codes(&r), vec!["RotationOverdue"]);
        assert!(r.findings[0].message.contains("75%"), "{}", r.findings[0].message);
    }

    #[test]
    fn a_wrong_spiffe_id_is_an_error() {
        let root = ca("cluster.local");
        let other = "spiffe://cluster.local/ns/default/sa/sleep";
        let secrets = parse_secrets_dump(&dump(&leaf(&root, other, T0), &root.pem)).unwrap();
        let r = analyse(&secrets, &web_api(), T0 + HOUR).unwrap();
        assert_eq!(codes(&r), vec!["SpiffeIdMismatch"]);
        assert!(r.findings[0].message.contains(ID));
        // another trust domain is a mismatch only when the trust domain is known
        let td = "spiffe://other.domain/ns/istioinaction/sa/web-api";
        let secrets = parse_secrets_dump(&dump(&leaf(&root, td, T0), &root.pem)).unwrap();
        assert_eq!(
            codes(&analyse(&secrets, &web_api(), T0 + HOUR).unwrap()),
            vec!["SpiffeIdMismatch"]
        );
        let any_td = Expectation {
            trust_domain: None,
            ..web_api()
        };
        assert!(analyse(&secrets, &any_td, T0 + HOUR).unwrap().findings.is_empty());
    }

    #[test]
    fn a_chain_signed_by_another_ca_does_not_verify() {
        let root = ca("cluster.local");
        let rogue = ca("rogue");
        let secrets = parse_secrets_dump(&dump(&leaf(&rogue, ID, T0), &root.pem)).unwrap();
        let r = analyse(&secrets, &web_api(), T0 + HOUR).unwrap();
        assert!(!r.chain_verifies);
        assert_eq!(codes(&r), vec!["ChainDoesNotVerify"]);
        // a chain whose intermediate does not sign the leaf breaks inside the chain
        let chain = format!("{}{}", leaf(&rogue, ID, T0), root.pem);
        let secrets = parse_secrets_dump(&dump(&chain, &root.pem)).unwrap();
        let r = analyse(&secrets, &web_api(), T0 + HOUR).unwrap();
        assert!(r.verify_error.unwrap().contains("is not signed by"));
    }

    #[test]
    fn unreadable_dumps_get_clear_errors() {
        assert!(matches!(
            parse_secrets_dump("not json"),
            Err(CertError::NotJson(_))
        ));
        assert_eq!(
            parse_secrets_dump(r#"{"configs":[]}"#),
            Err(CertError::NoWorkloadSecret)
        );
        let bad = serde_json::json!({"configs":[{"dynamic_active_secrets":[{"name":"default","secret":{
            "tls_certificate":{"certificate_chain":{"inline_bytes":"%%%"}}}}]}]});
        let err = parse_secrets_dump(&bad.to_string()).unwrap_err();
        assert!(err.to_string().contains("`default` secret"), "{err}");
        // missing ROOTCA: readable, but the chain cannot be verified
        let root = ca("cluster.local");
        let only_chain = serde_json::json!({"configs":[{"dynamic_active_secrets":[{"name":"default","secret":{
            "tls_certificate":{"certificate_chain":{"inline_bytes":
                base64::engine::general_purpose::STANDARD.encode(leaf(&root, ID, T0))}}}}]}]});
        let secrets = parse_secrets_dump(&only_chain.to_string()).unwrap();
        let r = analyse(&secrets, &web_api(), T0 + HOUR).unwrap();
        assert!(r.verify_error.unwrap().contains("no root certificate"));
    }

    #[test]
    fn durations_read_like_kubectl_ages() {
        assert_eq!(human_duration(23 * HOUR + 58 * 60), "23h58m");
        assert_eq!(human_duration(12 * 60), "12m");
        assert_eq!(human_duration(-(3 * HOUR + 120)), "-3h2m");
        assert_eq!(human_duration(24 * HOUR), "24h0m");
        assert_eq!(human_duration(47 * HOUR + 60), "47h1m");
        assert_eq!(human_duration(50 * HOUR), "2d2h");
    }
}
