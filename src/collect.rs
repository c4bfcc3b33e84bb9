//! Reading the cluster: paged lists (metadata-only where that is enough) and partial answers
//! when RBAC forbids part of what a command wants to read.

use std::fmt::Debug;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, Service};
use kube::api::{Api, DynamicObject, ListParams, ObjectList, PartialObjectMeta};
use kube::core::ApiResource;
use serde::de::DeserializeOwned;

use crate::client::{Cluster, IstioApis, discover_istio};
use crate::error::Error;
use crate::model::mesh::mesh_configmap_name;
use crate::model::{MeshSettings, NamespaceInfo, PodInfo, ServiceInfo, Snapshot};

/// Page size of every list: what kubectl uses by default (`--chunk-size=500`).
pub const PAGE_SIZE: u32 = 500;

/// Something a command could not read, and how that limits its answer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Gap {
    /// What could not be read (`pods in namespace "shop"`).
    pub what: String,
    /// The server's reason, verbatim.
    pub reason: String,
    /// How that limits the result.
    pub effect: String,
}

const MESH_CONFIG_GAP: &str = "the mesh config ";

impl Gap {
    fn covers(&self, resource: &str, namespace: &str) -> bool {
        self.what == format!("{resource} cluster-wide")
            || self.what == format!("{resource} {}", scope_words(Some(namespace)))
    }

    /// Whether this gap hides the pods of `namespace` (membership and counts unknown there).
    pub fn hides_pods_of(&self, namespace: &str) -> bool {
        self.covers("pods", namespace)
    }

    /// Whether this gap hides PeerAuthentications that decide modes in `namespace` (its own,
    /// or the root namespace's mesh-wide ones).
    pub fn hides_policies_of(&self, namespace: &str, root: &str) -> bool {
        self.covers("peerauthentications", namespace) || self.covers("peerauthentications", root)
    }

    /// Whether this gap hides the mesh-wide level: the root namespace's PeerAuthentications, or
    /// the mesh config that names the root namespace.
    pub fn hides_mesh_level(&self, root: &str) -> bool {
        self.hides_policies_of(root, root) || self.is_mesh_config()
    }

    /// The gap of a mesh config that exists but could not be read: the root namespace (and so
    /// the mesh-wide level) is unknown.
    pub fn mesh_config(istio_namespace: &str, name: &str, reason: String) -> Gap {
        Gap {
            what: format!("{MESH_CONFIG_GAP}{istio_namespace}/{name}"),
            reason,
            effect: "the root namespace is unknown, so is every mode the mesh-wide level decides".to_string(),
        }
    }

    /// Whether this is the gap of an unreadable mesh config.
    pub fn is_mesh_config(&self) -> bool {
        self.what.starts_with(MESH_CONFIG_GAP)
    }

    /// Whether this gap hides something a server-side mode depends on (pods or
    /// PeerAuthentications); DestinationRules, Services and namespace labels do not decide what
    /// a server accepts.
    pub fn hides_enforcement(&self) -> bool {
        self.what.starts_with("pods ")
            || self.what.starts_with("peerauthentications ")
            || self.is_mesh_config()
    }
}

impl std::fmt::Display for Gap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "could not read {}: {}; {}",
            self.what, self.reason, self.effect
        )
    }
}

/// Records a forbidden read as a [`Gap`] and carries on; any other error stops the command.
pub fn tolerate_forbidden<T>(
    res: Result<T, Error>,
    gaps: &mut Vec<Gap>,
    what: impl Into<String>,
    effect: impl Into<String>,
) -> Result<Option<T>, Error> {
    match res {
        Ok(v) => Ok(Some(v)),
        Err(Error::Forbidden(reason)) => {
            gaps.push(Gap {
                what: what.into(),
                reason,
                effect: effect.into(),
            });
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Lists every object through `api` in pages of [`PAGE_SIZE`], turning each page's items into
/// what `keep` keeps (pushed onto `out`) as they arrive, so only that stays in memory. Returns
/// the number of requests made.
///
/// When the server expires the list's `continue` token (410 `Expired`, a list that outlived
/// etcd compaction), what was kept from this list is dropped from `out` and the list is made
/// again in one request without paging, as client-go's pager does: the answer is one
/// consistent list, never pages from two points in time.
pub async fn list_paged<K, T>(
    cluster: &Cluster,
    api: &Api<K>,
    label_selector: Option<&str>,
    out: &mut Vec<T>,
    mut keep: impl FnMut(K) -> Option<T>,
) -> Result<usize, Error>
where
    K: Clone + DeserializeOwned + Debug,
{
    paged(
        cluster,
        label_selector,
        out,
        |lp| async move { api.list(&lp).await },
        |page: ObjectList<K>, out: &mut Vec<T>| {
            let token = page.metadata.continue_.clone();
            out.extend(page.items.into_iter().filter_map(&mut keep));
            token
        },
    )
    .await
}

/// Like [`list_paged`] but asks for metadata only (`PartialObjectMetadataList`): the server
/// sends names, labels, annotations and owners, not specs and statuses.
pub async fn list_metadata_paged<K, T>(
    cluster: &Cluster,
    api: &Api<K>,
    label_selector: Option<&str>,
    out: &mut Vec<T>,
    mut keep: impl FnMut(PartialObjectMeta<K>) -> Option<T>,
) -> Result<usize, Error>
where
    K: Clone + DeserializeOwned + Debug,
{
    paged(
        cluster,
        label_selector,
        out,
        |lp| async move { api.list_metadata(&lp).await },
        |page: ObjectList<PartialObjectMeta<K>>, out: &mut Vec<T>| {
            let token = page.metadata.continue_.clone();
            out.extend(page.items.into_iter().filter_map(&mut keep));
            token
        },
    )
    .await
}

async fn paged<P, T, F, Fut>(
    cluster: &Cluster,
    label_selector: Option<&str>,
    out: &mut Vec<T>,
    mut fetch: F,
    mut consume: impl FnMut(P, &mut Vec<T>) -> Option<String>,
) -> Result<usize, Error>
where
    F: FnMut(ListParams) -> Fut,
    Fut: std::future::Future<Output = Result<P, kube::Error>>,
{
    let mut lp = ListParams::default().limit(PAGE_SIZE);
    if let Some(sel) = label_selector {
        lp = lp.labels(sel);
    }
    let mark = out.len();
    let mut requests = 0;
    let mut restarted = false;
    loop {
        requests += 1;
        let page = match fetch(lp.clone()).await {
            Ok(page) => page,
            Err(kube::Error::Api(s)) if s.code == 410 && lp.continue_token.is_some() && !restarted => {
                restarted = true;
                out.truncate(mark);
                lp.continue_token = None;
                lp.limit = None;
                if cluster.verbose >= 6 {
                    eprintln!(
                        "I the list's continue token expired (410 {}): listing again from the start in one request",
                        s.reason
                    );
                }
                continue;
            }
            Err(e) => return Err(cluster.err(e)),
        };
        match consume(page, out) {
            Some(token) if !token.is_empty() => lp = lp.continue_token(&token),
            _ => return Ok(requests),
        }
    }
}

/// An API handle for a dynamic resource, cluster-wide or in one namespace.
pub fn dynamic_api(cluster: &Cluster, ar: &ApiResource, namespace: Option<&str>) -> Api<DynamicObject> {
    match namespace {
        Some(ns) => Api::namespaced_with(cluster.client.clone(), ns, ar),
        None => Api::all_with(cluster.client.clone(), ar),
    }
}

/// An API handle for a typed namespaced resource, cluster-wide or in one namespace.
pub fn typed_api<K>(cluster: &Cluster, namespace: Option<&str>) -> Api<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
    <K as kube::Resource>::DynamicType: Default,
{
    match namespace {
        Some(ns) => Api::namespaced(cluster.client.clone(), ns),
        None => Api::all(cluster.client.clone()),
    }
}

/// Describes a namespace scope for messages: `cluster-wide` or `in namespace "x"`.
pub fn scope_words(namespace: Option<&str>) -> String {
    match namespace {
        Some(ns) => format!("in namespace \"{ns}\""),
        None => "cluster-wide".to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// The cluster snapshot every command resolves against.

/// Which namespaces a command looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every namespace (`-A`): one cluster-wide list per kind.
    All,
    /// These namespaces: per-namespace reads (plus the root namespace's policies).
    Namespaces(Vec<String>),
}

/// What to read besides the scope.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// The namespace istiod runs in.
    pub istio_namespace: String,
    /// The Istio revision whose mesh config to read.
    pub revision: Option<String>,
    /// Only pods matching this label selector.
    pub pod_selector: Option<String>,
}

/// A snapshot and what limits it.
#[derive(Debug, Clone)]
pub struct ClusterRead {
    /// Everything the engine needs.
    pub snapshot: Snapshot,
    /// The mesh settings used (root namespace, trust domain).
    pub mesh: MeshSettings,
    /// Reads RBAC refused, and what that means for the answer.
    pub gaps: Vec<Gap>,
    /// Other things worth saying (mesh config fallback, ...).
    pub warnings: Vec<String>,
    /// The Istio APIs found by discovery.
    pub apis: IstioApis,
    /// Why the mesh config could not be read, when it could not (the root namespace is then
    /// assumed, not confirmed).
    pub mesh_unread: Option<String>,
    /// When the mesh config exists but could not be read (RBAC, or not parseable), the root
    /// namespace is unknown: [`Gap::hides_mesh_level`] then treats the mesh-wide level as hidden.
    /// (A missing ConfigMap is not a gap: istiod itself then uses its own namespace.)
    pub mesh_gap: Option<Gap>,
}

fn push_namespace(
    snapshot: &mut Snapshot,
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) {
    snapshot.namespaces.push(NamespaceInfo::from(meta));
}

impl ClusterRead {
    /// The gaps and warnings of a report that resolves modes (status): an unreadable mesh
    /// config is a gap there (the mesh-wide level is unknown), said once, instead of the
    /// warning that the root namespace was assumed.
    pub fn report_gaps(&self) -> (Vec<Gap>, Vec<String>) {
        let mut gaps = self.gaps.clone();
        let mut warnings = self.warnings.clone();
        if let Some(g) = &self.mesh_gap {
            warnings.retain(|w| !w.contains(ASSUMED_ROOT));
            gaps.push(g.clone());
        }
        (gaps, warnings)
    }
}

/// The words of the warning that the root namespace was assumed.
const ASSUMED_ROOT: &str = "; assuming the root namespace is the Istio namespace";

/// Reads the mesh config: the `istio[-REV]` ConfigMap in the Istio namespace. When it cannot be
/// read, falls back to the Istio namespace as root namespace and says why.
async fn read_mesh(
    cluster: &Cluster,
    opts: &ReadOptions,
    warnings: &mut Vec<String>,
    unread: &mut Option<String>,
    gap: &mut Option<Gap>,
) -> Result<MeshSettings, Error> {
    let name = mesh_configmap_name(opts.revision.as_deref());
    let api: Api<ConfigMap> = Api::namespaced(cluster.client.clone(), &opts.istio_namespace);
    let mut fallback = |why: String, warnings: &mut Vec<String>| {
        *unread = Some(why.clone());
        warnings.push(format!("{why}{ASSUMED_ROOT} \"{}\"", opts.istio_namespace));
        MeshSettings::defaults(&opts.istio_namespace)
    };
    match api.get_opt(&name).await.map_err(|e| cluster.err(e)) {
        Ok(Some(cm)) => match MeshSettings::from_configmap(&cm) {
            Ok(mut mesh) => {
                mesh.istio_namespace = opts.istio_namespace.clone();
                Ok(mesh)
            }
            Err(e) => {
                *gap = Some(Gap::mesh_config(&opts.istio_namespace, &name, e.to_string()));
                Ok(fallback(
                    format!(
                        "the mesh config {}/{name} is unreadable ({e})",
                        opts.istio_namespace
                    ),
                    warnings,
                ))
            }
        },
        Ok(None) => Ok(fallback(
            format!(
                "the mesh config ConfigMap {}/{name} does not exist",
                opts.istio_namespace
            ),
            warnings,
        )),
        Err(Error::Forbidden(msg)) => {
            *gap = Some(Gap::mesh_config(&opts.istio_namespace, &name, msg.clone()));
            Ok(fallback(format!("cannot read the mesh config: {msg}"), warnings))
        }
        Err(e) => Err(e),
    }
}

/// Reads everything a command needs to resolve mTLS in `scope`, with a fixed number of
/// requests for `-A` (discovery, the mesh ConfigMap, and one paged list each of namespaces,
/// pods (metadata only), services, PeerAuthentications and DestinationRules).
pub async fn read_snapshot(
    cluster: &Cluster,
    scope: &Scope,
    opts: &ReadOptions,
) -> Result<ClusterRead, Error> {
    let apis = discover_istio(cluster).await?;
    let Some(pa_ar) = apis.peer_authentication.clone() else {
        return Err(Error::IstioMissing);
    };
    let mut gaps = Vec::new();
    let mut warnings = Vec::new();
    let mut mesh_unread = None;
    let mut mesh_gap = None;
    let mesh = read_mesh(cluster, opts, &mut warnings, &mut mesh_unread, &mut mesh_gap).await?;
    let mut snapshot = Snapshot::new(&mesh);
    let root = mesh.root_namespace.clone();

    // Namespaces.
    match scope {
        Scope::All => {
            let api: Api<Namespace> = Api::all(cluster.client.clone());
            let res = list_metadata_paged(cluster, &api, None, &mut snapshot.namespaces, |ns| {
                Some(NamespaceInfo::from(&ns.metadata))
            })
            .await;
            if let Err(Error::Forbidden(msg)) = &res {
                return Err(Error::Forbidden(format!(
                    "{msg}; -A needs the right to list namespaces cluster-wide: name the namespaces to inspect instead (kubectl mtls status NAMESPACE...)"
                )));
            }
            res?;
        }
        Scope::Namespaces(names) => {
            let api: Api<Namespace> = Api::all(cluster.client.clone());
            for name in names {
                match api.get_metadata_opt(name).await.map_err(|e| cluster.err(e)) {
                    Ok(Some(ns)) => push_namespace(&mut snapshot, &ns.metadata),
                    Ok(None) => {
                        return Err(Error::Api {
                            code: 404,
                            reason: "NotFound".into(),
                            message: format!("namespaces \"{name}\" not found"),
                        });
                    }
                    Err(Error::Forbidden(reason)) => {
                        gaps.push(Gap {
                            what: format!("namespace \"{name}\""),
                            reason,
                            effect: "its injection labels are unknown, so missing sidecars cannot be flagged there".into(),
                        });
                        snapshot
                            .namespaces
                            .push(NamespaceInfo::new(name.clone(), Default::default()));
                    }
                    Err(e) => return Err(e),
                }
            }
        }
    }

    // The namespaces whose objects are read one namespace at a time.
    let per_ns: Vec<Option<String>> = match scope {
        Scope::All => vec![None],
        Scope::Namespaces(names) => names.iter().cloned().map(Some).collect(),
    };

    // Pods, metadata only.
    for ns in &per_ns {
        let api: Api<Pod> = typed_api(cluster, ns.as_deref());
        let res = list_metadata_paged(
            cluster,
            &api,
            opts.pod_selector.as_deref(),
            &mut snapshot.pods,
            |p| Some(PodInfo::from(&p)),
        )
        .await;
        tolerate_forbidden(
            res,
            &mut gaps,
            format!("pods {}", scope_words(ns.as_deref())),
            "mesh membership is unknown there: modes are shown, pod counts and readiness are not",
        )?;
    }

    // Services (selectors and ports, for DestinationRule hosts and probe targets).
    for ns in &per_ns {
        let api: Api<Service> = typed_api(cluster, ns.as_deref());
        let res = list_paged(cluster, &api, None, &mut snapshot.services, |s| {
            Some(ServiceInfo::from(&s))
        })
        .await;
        tolerate_forbidden(
            res,
            &mut gaps,
            format!("services {}", scope_words(ns.as_deref())),
            "DestinationRule hosts cannot be matched to workloads there",
        )?;
    }

    // PeerAuthentications: the scope plus the root namespace (mesh-wide policies).
    let mut pa_scopes = per_ns.clone();
    if !matches!(scope, Scope::All) && !pa_scopes.contains(&Some(root.clone())) {
        pa_scopes.push(Some(root.clone()));
    }
    for ns in &pa_scopes {
        let api = dynamic_api(cluster, &pa_ar, ns.as_deref());
        let mut values = Vec::new();
        let res = list_paged(cluster, &api, None, &mut values, Some).await;
        let effect = if ns.as_deref() == Some(root.as_str()) || ns.is_none() {
            "mesh-wide policies are unknown: modes may be wrong everywhere"
        } else {
            "that namespace's policies are unknown: its modes may be wrong"
        };
        if tolerate_forbidden(
            res,
            &mut gaps,
            format!("peerauthentications {}", scope_words(ns.as_deref())),
            effect,
        )?
        .is_some()
        {
            for o in values {
                snapshot.push_policy_value(serde_json::to_value(o).unwrap_or_default());
            }
        }
    }

    // DestinationRules: any namespace's rule may target hosts in scope, so try cluster-wide.
    if let Some(dr_ar) = &apis.destination_rule {
        let mut values = Vec::new();
        let all = list_paged(
            cluster,
            &dynamic_api(cluster, dr_ar, None),
            None,
            &mut values,
            Some,
        )
        .await;
        match all {
            Ok(_) => {}
            Err(Error::Forbidden(reason)) if !matches!(scope, Scope::All) => {
                gaps.push(Gap {
                    what: "destinationrules cluster-wide".into(),
                    reason,
                    effect: "only the rules in the namespaces in scope and the root namespace were checked"
                        .into(),
                });
                for ns in &pa_scopes {
                    let res = list_paged(
                        cluster,
                        &dynamic_api(cluster, dr_ar, ns.as_deref()),
                        None,
                        &mut values,
                        Some,
                    )
                    .await;
                    tolerate_forbidden(
                        res,
                        &mut gaps,
                        format!("destinationrules {}", scope_words(ns.as_deref())),
                        "rules there that break traffic cannot be found",
                    )?;
                }
            }
            Err(e) => {
                tolerate_forbidden(
                    Err::<(), _>(e),
                    &mut gaps,
                    "destinationrules cluster-wide",
                    "rules that break traffic cannot be found",
                )?;
            }
        }
        for o in values {
            snapshot.push_destination_rule_value(serde_json::to_value(o).unwrap_or_default());
        }
    }

    Ok(ClusterRead {
        snapshot,
        mesh,
        gaps,
        warnings,
        apis,
        mesh_unread,
        mesh_gap,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forbidden_reads_become_gaps_and_other_errors_stop() {
        let mut gaps = Vec::new();
        let r: Result<u8, Error> = Err(Error::Forbidden(
            "pods is forbidden: User \"x\" cannot list".into(),
        ));
        assert_eq!(
            tolerate_forbidden(r, &mut gaps, "pods cluster-wide", "membership unknown").unwrap(),
            None
        );
        assert_eq!(gaps.len(), 1);
        assert!(
            gaps[0]
                .to_string()
                .starts_with("could not read pods cluster-wide: pods is forbidden")
        );
        let r: Result<u8, Error> = Err(Error::Other("boom".into()));
        assert!(tolerate_forbidden(r, &mut gaps, "x", "y").is_err());
        let r: Result<u8, Error> = Ok(3);
        assert_eq!(tolerate_forbidden(r, &mut gaps, "x", "y").unwrap(), Some(3));
        assert_eq!(gaps.len(), 1);
    }

    #[test]
    fn scope_words_name_the_namespace() {
        assert_eq!(scope_words(None), "cluster-wide");
        assert_eq!(scope_words(Some("a")), "in namespace \"a\"");
    }
}
