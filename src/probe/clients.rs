//! Client choice: which pods to probe from (given with --from, or one in the mesh and one
//! outside it, picked automatically).

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};

use crate::client::Cluster;
use crate::engine::{Membership, membership};
use crate::error::Error;
use crate::model::PodInfo;

use super::*;

/// The annotation naming the container `kubectl exec` uses by default.
pub const DEFAULT_CONTAINER_ANNOTATION: &str = "kubectl.kubernetes.io/default-container";

/// The container to run the client in: the `kubectl.kubernetes.io/default-container`
/// annotation when it names an application container, else the first container that is not
/// `istio-proxy`. Never `istio-proxy`: its own traffic bypasses interception and would leave
/// as plaintext, proving nothing.
pub fn app_container(pod: &k8s_openapi::api::core::v1::Pod) -> Option<String> {
    use crate::model::pod::PROXY_CONTAINER;
    let containers = pod
        .spec
        .as_ref()
        .map(|s| s.containers.as_slice())
        .unwrap_or_default();
    let annotated = pod
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(DEFAULT_CONTAINER_ANNOTATION))
        .filter(|c| c.as_str() != PROXY_CONTAINER && containers.iter().any(|k| &k.name == *c));
    annotated.cloned().or_else(|| {
        containers
            .iter()
            .find(|c| c.name != PROXY_CONTAINER)
            .map(|c| c.name.clone())
    })
}

/// Whether a pod is Running and, when it reports a Ready condition, ready.
pub fn pod_is_running(pod: &k8s_openapi::api::core::v1::Pod) -> bool {
    let Some(status) = &pod.status else {
        return false;
    };
    if status.phase.as_deref() != Some("Running") || pod.metadata.deletion_timestamp.is_some() {
        return false;
    }
    match status
        .conditions
        .as_ref()
        .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
    {
        Some(ready) => ready.status == "True",
        None => true,
    }
}

/// How much a pod looks like a client made for probing (higher is better; 0 = usable but
/// nothing special): `app`/`name` labels or names of the usual curl pods.
pub fn client_score(name: &str, labels: &crate::model::Labels) -> u8 {
    const CLIENT_NAMES: &[&str] = &["sleep", "curl", "netshoot", "client", "toolbox"];
    let label_hit = ["app", "app.kubernetes.io/name", "name", "run"].iter().any(|k| {
        labels
            .get(*k)
            .is_some_and(|v| CLIENT_NAMES.iter().any(|c| v == c))
    });
    if label_hit {
        2
    } else if CLIENT_NAMES.iter().any(|c| name.contains(c)) {
        1
    } else {
        0
    }
}

/// A client to probe from.
#[derive(Debug, Clone)]
pub struct Client {
    pub pod: Pod,
    pub container: String,
    pub mesh: Membership,
    pub origin: Origin,
}

impl Client {
    pub fn new(pod: Pod, origin: Origin) -> Result<Client, Error> {
        let container = app_container(&pod).ok_or_else(|| {
            Error::Other(format!(
                "pod {}/{} has no application container to run curl in (never istio-proxy: its traffic bypasses the sidecar)",
                pod_ns(&pod),
                pod_name(&pod)
            ))
        })?;
        let mesh = membership(&PodInfo::from(&pod));
        Ok(Client {
            pod,
            container,
            mesh,
            origin,
        })
    }

    pub fn key(&self) -> String {
        format!("{}/{}", pod_ns(&self.pod), pod_name(&self.pod))
    }
}

/// Picks one client in the mesh and one outside it among `candidates`, preferring pods that
/// look like curl clients, then the earlier namespaces of `ns_order`, then by name.
///
/// With `clients_only`, only pods that look like clients (`client_score` above 0) count: a
/// cluster-wide search must not pick, say, istiod.
pub fn pick_clients(
    candidates: &[Pod],
    backing: &BTreeSet<String>,
    ns_order: &[String],
    clients_only: bool,
) -> Vec<Client> {
    let mut usable: Vec<Client> = candidates
        .iter()
        .filter(|p| pod_is_running(p))
        .filter(|p| !clients_only || client_score(&pod_name(p), &labels_of(p)) > 0)
        .filter(|p| !backing.contains(&format!("{}/{}", pod_ns(p), pod_name(p))))
        .filter(|p| p.spec.as_ref().and_then(|s| s.host_network) != Some(true))
        .filter(|p| !["kube-system", "kube-public"].contains(&pod_ns(p).as_str()))
        .filter_map(|p| Client::new(p.clone(), Origin::Auto).ok())
        .collect();
    let rank = |c: &Client| {
        let ns = pod_ns(&c.pod);
        (
            std::cmp::Reverse(client_score(&pod_name(&c.pod), &labels_of(&c.pod))),
            ns_order.iter().position(|n| *n == ns).unwrap_or(usize::MAX),
            ns,
            pod_name(&c.pod),
        )
    };
    usable.sort_by_key(rank);
    let mut out = Vec::new();
    if let Some(c) = usable.iter().find(|c| c.mesh.is_meshed()) {
        out.push(c.clone());
    }
    if let Some(c) = usable.iter().find(|c| !c.mesh.is_meshed()) {
        out.push(c.clone());
    }
    out
}

pub async fn auto_clients(
    cluster: &Cluster,
    args: &Options,
    target: &Resolved,
    notes: &mut Vec<String>,
) -> Result<Vec<Client>, Error> {
    let mut ns_order: Vec<String> = Vec::new();
    match &args.from_namespace {
        Some(ns) => ns_order.push(ns.clone()),
        None => {
            ns_order.push(target.view.namespace.clone());
            if cluster.namespace != target.view.namespace {
                ns_order.push(cluster.namespace.clone());
            }
        }
    }
    let mut candidates: Vec<Pod> = Vec::new();
    for ns in &ns_order {
        if *ns == target.view.namespace {
            candidates.extend(target.namespace_pods.iter().cloned());
            continue;
        }
        let api: Api<Pod> = Api::namespaced(cluster.client.clone(), ns);
        match api.list(&ListParams::default()).await.map_err(|e| cluster.err(e)) {
            Ok(l) => candidates.extend(l.items),
            Err(Error::Forbidden(m)) => notes.push(format!("cannot list pods in namespace \"{ns}\": {m}")),
            Err(e) => return Err(e),
        }
    }
    let mut picked = pick_clients(&candidates, &target.backing, &ns_order, false);
    let has = |p: &[Client], meshed: bool| p.iter().any(|c| c.mesh.is_meshed() == meshed);
    if args.from_namespace.is_none() && !(has(&picked, true) && has(&picked, false)) {
        // Look cluster-wide for the missing kind.
        let api: Api<Pod> = Api::all(cluster.client.clone());
        match api.list(&ListParams::default()).await.map_err(|e| cluster.err(e)) {
            Ok(l) => {
                // Keep what the namespaces in order gave; add the missing kind from elsewhere.
                let more = pick_clients(&l.items, &target.backing, &ns_order, true);
                for c in more {
                    if !has(&picked, c.mesh.is_meshed()) {
                        picked.push(c);
                    }
                }
            }
            Err(Error::Forbidden(_)) => notes.push(
                "cannot list pods cluster-wide to find more clients: use --from or --create-clients".into(),
            ),
            Err(e) => return Err(e),
        }
    }
    if !has(&picked, true) {
        notes.push(
            "no running client pod in the mesh found: use --from POD or --create-clients to probe as an mTLS client"
                .into(),
        );
    }
    if !has(&picked, false) {
        notes.push(
            "no running client pod outside the mesh found: use --from POD or --create-clients to probe as a plaintext client"
                .into(),
        );
    }
    Ok(picked)
}
