//! Mesh configuration: the root namespace (and trust domain) from istiod's mesh ConfigMap.
//!
//! istiod reads the ConfigMap `istio` (or `istio-<revision>` for a revision other than empty or
//! `default`) in its own namespace, key `mesh`, a YAML document. When `rootNamespace` is absent
//! the root namespace is istiod's namespace.

use k8s_openapi::api::core::v1::ConfigMap;
use serde::{Deserialize, Serialize};

/// Istio's built-in namespace.
pub const DEFAULT_ISTIO_NAMESPACE: &str = "istio-system";

/// What the plugin reads from the mesh config.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeshSettings {
    /// The namespace istiod runs in (where the ConfigMap was read).
    pub istio_namespace: String,
    /// The root namespace: mesh-wide policies live there.
    pub root_namespace: String,
    /// The trust domain (`cluster.local` by default), for certificate checks.
    pub trust_domain: String,
    /// `enableAutoMtls` (default true): clients pick mTLS by themselves.
    pub enable_auto_mtls: bool,
}

impl MeshSettings {
    /// Istio's defaults for an installation in `istio_namespace`.
    pub fn defaults(istio_namespace: &str) -> Self {
        MeshSettings {
            istio_namespace: istio_namespace.to_string(),
            root_namespace: istio_namespace.to_string(),
            trust_domain: "cluster.local".to_string(),
            enable_auto_mtls: true,
        }
    }

    /// Parses the `mesh` YAML document; absent fields keep Istio's defaults.
    pub fn from_mesh_yaml(istio_namespace: &str, yaml: &str) -> Result<Self, MeshConfigError> {
        #[derive(Deserialize, Default)]
        #[serde(rename_all = "camelCase")]
        struct Raw {
            root_namespace: Option<String>,
            trust_domain: Option<String>,
            enable_auto_mtls: Option<bool>,
        }
        let raw: Option<Raw> = if yaml.trim().is_empty() {
            None
        } else {
            serde_saphyr::from_str(yaml).map_err(|e| MeshConfigError::Yaml(e.to_string()))?
        };
        let raw = raw.unwrap_or_default();
        let mut out = MeshSettings::defaults(istio_namespace);
        if let Some(r) = raw.root_namespace.filter(|r| !r.is_empty()) {
            out.root_namespace = r;
        }
        if let Some(t) = raw.trust_domain.filter(|t| !t.is_empty()) {
            out.trust_domain = t;
        }
        if let Some(a) = raw.enable_auto_mtls {
            out.enable_auto_mtls = a;
        }
        Ok(out)
    }

    /// Reads the mesh ConfigMap (its namespace is the Istio namespace).
    pub fn from_configmap(cm: &ConfigMap) -> Result<Self, MeshConfigError> {
        let ns = cm
            .metadata
            .namespace
            .as_deref()
            .unwrap_or(DEFAULT_ISTIO_NAMESPACE);
        let yaml = cm
            .data
            .as_ref()
            .and_then(|d| d.get("mesh"))
            .ok_or_else(|| MeshConfigError::MissingKey(cm.metadata.name.clone().unwrap_or_default()))?;
        MeshSettings::from_mesh_yaml(ns, yaml)
    }
}

/// The name of the mesh ConfigMap for a control-plane revision.
pub fn mesh_configmap_name(revision: Option<&str>) -> String {
    match revision {
        None | Some("") | Some("default") => "istio".to_string(),
        Some(rev) => format!("istio-{rev}"),
    }
}

/// Why the mesh config could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MeshConfigError {
    /// The ConfigMap has no `mesh` key.
    #[error("ConfigMap {0} has no `mesh` key")]
    MissingKey(String),
    /// The `mesh` value is not valid YAML for a mesh config.
    #[error("invalid mesh config: {0}")]
    Yaml(String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn cm(ns: &str, mesh: Option<&str>) -> ConfigMap {
        ConfigMap {
            metadata: ObjectMeta {
                name: Some("istio".into()),
                namespace: Some(ns.into()),
                ..Default::default()
            },
            data: mesh.map(|m| [("mesh".to_string(), m.to_string())].into()),
            ..Default::default()
        }
    }

    #[test]
    fn root_namespace_from_mesh_config() {
        let yaml = "defaultConfig:\n  discoveryAddress: istiod.istio-system.svc:15012\nrootNamespace: mesh-root\ntrustDomain: example.org\n";
        let m = MeshSettings::from_configmap(&cm("istio-system", Some(yaml))).unwrap();
        assert_eq!(m.root_namespace, "mesh-root");
        assert_eq!(m.istio_namespace, "istio-system");
        assert_eq!(m.trust_domain, "example.org");
        assert!(m.enable_auto_mtls);
    }

    #[test]
    fn absent_root_namespace_is_the_istio_namespace() {
        let m = MeshSettings::from_configmap(&cm("istio-prod", Some("enableAutoMtls: false\n"))).unwrap();
        assert_eq!(m.root_namespace, "istio-prod");
        assert_eq!(m.trust_domain, "cluster.local");
        assert!(!m.enable_auto_mtls);
        let empty = MeshSettings::from_mesh_yaml("istio-x", "").unwrap();
        assert_eq!(empty.root_namespace, "istio-x");
    }

    #[test]
    fn bad_mesh_config_is_an_error() {
        assert!(matches!(
            MeshSettings::from_configmap(&cm("istio-system", None)),
            Err(MeshConfigError::MissingKey(_))
        ));
        assert!(matches!(
            MeshSettings::from_mesh_yaml("istio-system", "rootNamespace: [a, b]\n"),
            Err(MeshConfigError::Yaml(_))
        ));
    }

    #[test]
    fn revisioned_configmap_name() {
        assert_eq!(mesh_configmap_name(None), "istio");
        assert_eq!(mesh_configmap_name(Some("default")), "istio");
        assert_eq!(mesh_configmap_name(Some("")), "istio");
        assert_eq!(mesh_configmap_name(Some("1-24")), "istio-1-24");
    }
}
