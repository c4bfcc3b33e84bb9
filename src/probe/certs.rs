//! `--certs`: the report on a workload certificate and the trust domain it is judged against.

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::Api;
use serde::Serialize;

use crate::certs::{CertFinding, CertReport};
use crate::client::Cluster;
use crate::engine::Membership;
use crate::error::Error;
use crate::model::MeshSettings;
use crate::model::mesh::mesh_configmap_name;

// Certificates

/// `--certs` output.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CertsReport {
    pub namespace: String,
    pub pod: String,
    pub service_account: String,
    pub mesh: Membership,
    /// The SPIFFE ID the pod should carry.
    pub expected_spiffe_id: String,
    /// The certificates, when the pod has a sidecar.
    pub certificates: Option<CertReport>,
    /// Findings (the certificate's, or why there is none).
    pub findings: Vec<CertFinding>,
    pub notes: Vec<String>,
}

/// The trust domain from the mesh config; `None` (any accepted) when it cannot be read.
pub async fn trust_domain(
    cluster: &Cluster,
    istio_ns: &str,
    notes: &mut Vec<String>,
) -> Result<Option<String>, Error> {
    let api: Api<ConfigMap> = Api::namespaced(cluster.client.clone(), istio_ns);
    let name = mesh_configmap_name(None);
    match api.get_opt(&name).await.map_err(|e| cluster.err(e)) {
        Ok(Some(cm)) => match MeshSettings::from_configmap(&cm) {
            Ok(m) => Ok(Some(m.trust_domain)),
            Err(e) => {
                notes.push(format!(
                    "the mesh config {istio_ns}/{name} is unreadable ({e}): any trust domain is accepted"
                ));
                Ok(None)
            }
        },
        Ok(None) => Ok(Some(MeshSettings::defaults(istio_ns).trust_domain)),
        Err(Error::Forbidden(m)) => {
            notes.push(format!(
                "cannot read the mesh config ({m}): any trust domain is accepted"
            ));
            Ok(None)
        }
        Err(e) => Err(e),
    }
}
