//! Reading the cluster: paged lists (metadata-only where that is enough) and partial answers
//! when RBAC forbids part of what a command wants to read.

use std::collections::BTreeMap;
use std::fmt::Debug;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};
use kube::api::{Api, DynamicObject, ListParams, PartialObjectMeta};
use kube::core::ApiResource;
use serde::Deserialize;
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
    keep: impl FnMut(K) -> Option<T>,
) -> Result<usize, Error>
where
    K: kube::Resource + Clone + DeserializeOwned + Debug,
{
    paged(cluster, api.resource_url(), false, label_selector, out, keep).await
}

/// Like [`list_paged`] but asks for metadata only (`PartialObjectMetadataList`): the server
/// sends names, labels, annotations and owners, not specs and statuses. Each item is decoded
/// lean ([`LeanObject`]: name, namespace, creation time, labels, annotations and owner
/// references; `managedFields` and the rest are skipped without being built).
pub async fn list_metadata_paged<K, T>(
    cluster: &Cluster,
    api: &Api<K>,
    label_selector: Option<&str>,
    out: &mut Vec<T>,
    mut keep: impl FnMut(PartialObjectMeta<K>) -> Option<T>,
) -> Result<usize, Error>
where
    K: kube::Resource + Clone + DeserializeOwned + Debug,
{
    paged(
        cluster,
        api.resource_url(),
        true,
        label_selector,
        out,
        |o: LeanObject| {
            keep(PartialObjectMeta {
                types: None,
                metadata: o.metadata.into(),
                _phantom: std::marker::PhantomData,
            })
        },
    )
    .await
}

/// An object of a metadata-only list, with only the metadata resolution reads.
#[derive(Debug, Default, Deserialize)]
pub struct LeanObject {
    /// The object's metadata (other fields of the item are skipped).
    #[serde(default)]
    pub metadata: LeanMeta,
}

/// The parts of `ObjectMeta` the plugin reads. Unlike `ObjectMeta` it skips `managedFields`
/// (often most of a metadata-only item's bytes on a real API server) instead of building it.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LeanMeta {
    /// `metadata.name`.
    pub name: Option<String>,
    /// `metadata.namespace`.
    pub namespace: Option<String>,
    /// `metadata.creationTimestamp`.
    pub creation_timestamp: Option<Time>,
    /// `metadata.labels`.
    pub labels: Option<BTreeMap<String, String>>,
    /// `metadata.annotations`.
    pub annotations: Option<BTreeMap<String, String>>,
    /// `metadata.ownerReferences`.
    pub owner_references: Option<Vec<OwnerReference>>,
}

impl From<LeanMeta> for ObjectMeta {
    fn from(m: LeanMeta) -> ObjectMeta {
        ObjectMeta {
            name: m.name,
            namespace: m.namespace,
            creation_timestamp: m.creation_timestamp,
            labels: m.labels,
            annotations: m.annotations,
            owner_references: m.owner_references,
            ..ObjectMeta::default()
        }
    }
}

/// A Service of a list, with only what [`ServiceInfo`] reads: lean metadata, the selector and
/// the ports.
#[derive(Debug, Default, Deserialize)]
pub struct LeanService {
    /// The Service's metadata.
    #[serde(default)]
    pub metadata: LeanMeta,
    /// `spec.selector` and `spec.ports`.
    pub spec: Option<LeanServiceSpec>,
}

/// The parts of a `ServiceSpec` the plugin reads.
#[derive(Debug, Default, Deserialize)]
pub struct LeanServiceSpec {
    /// `spec.selector`.
    pub selector: Option<BTreeMap<String, String>>,
    /// `spec.ports`.
    pub ports: Option<Vec<ServicePort>>,
}

impl From<LeanService> for Service {
    fn from(s: LeanService) -> Service {
        Service {
            metadata: s.metadata.into(),
            spec: s.spec.map(|spec| ServiceSpec {
                selector: spec.selector,
                ports: spec.ports,
                ..ServiceSpec::default()
            }),
            status: None,
        }
    }
}

/// One page of a list. Decoded directly rather than through kube's `ObjectList`, whose
/// flattened type fields make serde buffer the whole page as an untyped tree before decoding it
/// a second time.
#[derive(Deserialize)]
#[serde(bound(deserialize = "K: Deserialize<'de>"))]
struct Page<K> {
    #[serde(default = "Vec::new", deserialize_with = "null_as_empty")]
    items: Vec<K>,
}

fn null_as_empty<'de, D, K>(d: D) -> Result<Vec<K>, D::Error>
where
    D: serde::Deserializer<'de>,
    K: Deserialize<'de>,
{
    Ok(Option::<Vec<K>>::deserialize(d)?.unwrap_or_default())
}

/// The `metadata.continue` of a list page, read without decoding its items: the API server
/// writes `metadata` before `items`, so the read stops there (if another server put it after
/// the items, they are skipped unbuilt and it is still found).
fn continue_token(text: &str) -> Result<Option<String>, serde_json::Error> {
    use serde::de::{DeserializeSeed, Error as _, IgnoredAny, MapAccess, Visitor};

    #[derive(Deserialize)]
    struct ListMetaHead {
        #[serde(rename = "continue")]
        continue_: Option<String>,
    }
    struct Head<'a>(&'a mut Option<Option<String>>);
    const FOUND: &str = "kubectl-mtls: list metadata found";
    impl<'de> DeserializeSeed<'de> for Head<'_> {
        type Value = ();
        fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_map(self)
        }
    }
    impl<'de> Visitor<'de> for Head<'_> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a list object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            while let Some(key) = map.next_key::<String>()? {
                if key == "metadata" {
                    let meta: Option<ListMetaHead> = map.next_value()?;
                    *self.0 = Some(meta.and_then(|m| m.continue_));
                    // Stop here: the items need not be scanned for the token.
                    return Err(A::Error::custom(FOUND));
                }
                map.next_value::<IgnoredAny>()?;
            }
            Ok(())
        }
    }
    let mut found = None;
    let mut de = serde_json::Deserializer::from_str(text);
    match Head(&mut found).deserialize(&mut de) {
        Ok(()) => Ok(found.flatten()),
        Err(_) if found.is_some() => Ok(found.flatten()),
        Err(e) => Err(e),
    }
}

/// A list request in flight, as its own task so that it proceeds while the previous page is
/// decoded; aborted if the list stops early.
struct InFlight(tokio::task::JoinHandle<Result<String, kube::Error>>);

impl InFlight {
    fn start(cluster: &Cluster, url: &str, metadata_only: bool, lp: &ListParams) -> InFlight {
        let client = cluster.client.clone();
        let request = kube::core::Request::new(url);
        let req = if metadata_only {
            request.list_metadata(lp)
        } else {
            request.list(lp)
        };
        InFlight(tokio::spawn(async move {
            let mut req = req.map_err(kube::Error::BuildRequest)?;
            req.extensions_mut()
                .insert(if metadata_only { "list_metadata" } else { "list" });
            client.request_text(req).await
        }))
    }

    async fn text(&mut self) -> Result<String, kube::Error> {
        match (&mut self.0).await {
            Ok(res) => res,
            Err(e) => Err(kube::Error::Service(Box::new(e))),
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The paging loop: the request for page N+1 is sent (its `continue` token read from page N's
/// head) before page N's items are decoded, so the server works on the next page while this
/// process decodes the last one; each page's text is dropped once decoded.
async fn paged<K, T>(
    cluster: &Cluster,
    url: &str,
    metadata_only: bool,
    label_selector: Option<&str>,
    out: &mut Vec<T>,
    mut keep: impl FnMut(K) -> Option<T>,
) -> Result<usize, Error>
where
    K: DeserializeOwned,
{
    let mut lp = ListParams::default().limit(PAGE_SIZE);
    if let Some(sel) = label_selector {
        lp = lp.labels(sel);
    }
    let mark = out.len();
    let mut requests = 1;
    let mut restarted = false;
    let mut in_flight = InFlight::start(cluster, url, metadata_only, &lp);
    loop {
        let text = match in_flight.text().await {
            Ok(text) => text,
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
                requests += 1;
                in_flight = InFlight::start(cluster, url, metadata_only, &lp);
                continue;
            }
            Err(e) => return Err(cluster.err(e)),
        };
        let decode_err = |e: serde_json::Error| cluster.err(kube::Error::SerdeError(e));
        let next = match continue_token(&text).map_err(decode_err)? {
            Some(token) if !token.is_empty() => {
                lp = lp.continue_token(&token);
                requests += 1;
                Some(InFlight::start(cluster, url, metadata_only, &lp))
            }
            _ => None,
        };
        let page: Page<K> = serde_json::from_str(&text).map_err(decode_err)?;
        drop(text);
        out.extend(page.items.into_iter().filter_map(&mut keep));
        match next {
            Some(next) => in_flight = next,
            None => return Ok(requests),
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
///
/// The reads that do not depend on each other run at the same time: namespaces, pods and
/// services from the start, alongside discovery and the mesh config, which decide the
/// PeerAuthentication and DestinationRule reads (those two then also run together). The results
/// are taken in one fixed order, so gaps, warnings and the error reported when several reads
/// fail are the same as if the reads had been made one after the other.
pub async fn read_snapshot(
    cluster: &Cluster,
    scope: &Scope,
    opts: &ReadOptions,
) -> Result<ClusterRead, Error> {
    // The namespaces whose objects are read one namespace at a time.
    let per_ns: Vec<Option<String>> = match scope {
        Scope::All => vec![None],
        Scope::Namespaces(names) => names.iter().cloned().map(Some).collect(),
    };

    let istio = async {
        let apis = discover_istio(cluster).await?;
        let Some(pa_ar) = apis.peer_authentication.clone() else {
            return Err(Error::IstioMissing);
        };
        let mut warnings = Vec::new();
        let mut mesh_unread = None;
        let mut mesh_gap = None;
        let mesh = read_mesh(cluster, opts, &mut warnings, &mut mesh_unread, &mut mesh_gap).await?;
        let root = mesh.root_namespace.clone();
        // PeerAuthentications: the scope plus the root namespace (mesh-wide policies).
        let mut pa_scopes = per_ns.clone();
        if !matches!(scope, Scope::All) && !pa_scopes.contains(&Some(root.clone())) {
            pa_scopes.push(Some(root.clone()));
        }
        let (policies, rules) = futures::join!(
            read_policies(cluster, &pa_ar, &pa_scopes, &root),
            read_destination_rules(cluster, apis.destination_rule.as_ref(), scope, &pa_scopes),
        );
        let mesh_read = MeshRead {
            mesh,
            warnings,
            unread: mesh_unread,
            gap: mesh_gap,
        };
        Ok((apis, mesh_read, policies, rules))
    };
    let (istio, namespaces, pods, services) = futures::join!(
        istio,
        read_namespaces(cluster, scope),
        read_pods(cluster, &per_ns, opts.pod_selector.as_deref()),
        read_services(cluster, &per_ns),
    );

    let (
        apis,
        MeshRead {
            mesh,
            warnings,
            unread: mesh_unread,
            gap: mesh_gap,
        },
        policies,
        rules,
    ) = istio?;
    let mut snapshot = Snapshot::new(&mesh);
    let mut gaps = Vec::new();
    let (list, more) = namespaces?;
    snapshot.namespaces = list;
    gaps.extend(more);
    let (list, more) = pods?;
    snapshot.pods = list;
    gaps.extend(more);
    let (list, more) = services?;
    snapshot.services = list;
    gaps.extend(more);
    let (values, more) = policies?;
    for v in values {
        snapshot.push_policy_value(v);
    }
    gaps.extend(more);
    let (values, more) = rules?;
    for v in values {
        snapshot.push_destination_rule_value(v);
    }
    gaps.extend(more);

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

/// What reading the mesh config gave (see [`read_mesh`]).
struct MeshRead {
    mesh: MeshSettings,
    warnings: Vec<String>,
    unread: Option<String>,
    gap: Option<Gap>,
}

/// What one part of the snapshot read gave: the objects, and the reads RBAC refused.
type Part<T> = Result<(Vec<T>, Vec<Gap>), Error>;

async fn read_namespaces(cluster: &Cluster, scope: &Scope) -> Part<NamespaceInfo> {
    let mut out = Vec::new();
    let mut gaps = Vec::new();
    let api: Api<Namespace> = Api::all(cluster.client.clone());
    match scope {
        Scope::All => {
            let res = list_metadata_paged(cluster, &api, None, &mut out, |ns| {
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
            for name in names {
                match api.get_metadata_opt(name).await.map_err(|e| cluster.err(e)) {
                    Ok(Some(ns)) => out.push(NamespaceInfo::from(&ns.metadata)),
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
                        out.push(NamespaceInfo::new(name.clone(), Default::default()));
                    }
                    Err(e) => return Err(e),
                }
            }
        }
    }
    Ok((out, gaps))
}

/// Pods, metadata only.
async fn read_pods(cluster: &Cluster, per_ns: &[Option<String>], selector: Option<&str>) -> Part<PodInfo> {
    let mut out = Vec::new();
    let mut gaps = Vec::new();
    for ns in per_ns {
        let api: Api<Pod> = typed_api(cluster, ns.as_deref());
        let res = list_metadata_paged(cluster, &api, selector, &mut out, |p| Some(PodInfo::from(&p))).await;
        tolerate_forbidden(
            res,
            &mut gaps,
            format!("pods {}", scope_words(ns.as_deref())),
            "mesh membership is unknown there: modes are shown, pod counts and readiness are not",
        )?;
    }
    Ok((out, gaps))
}

/// Services (selectors and ports, for DestinationRule hosts and probe targets).
async fn read_services(cluster: &Cluster, per_ns: &[Option<String>]) -> Part<ServiceInfo> {
    let mut out = Vec::new();
    let mut gaps = Vec::new();
    for ns in per_ns {
        let api: Api<Service> = typed_api(cluster, ns.as_deref());
        let res = paged(
            cluster,
            api.resource_url(),
            false,
            None,
            &mut out,
            |s: LeanService| Some(ServiceInfo::from(&Service::from(s))),
        )
        .await;
        tolerate_forbidden(
            res,
            &mut gaps,
            format!("services {}", scope_words(ns.as_deref())),
            "DestinationRule hosts cannot be matched to workloads there",
        )?;
    }
    Ok((out, gaps))
}

/// PeerAuthentications in each of `scopes`, as JSON values for the model to parse.
async fn read_policies(
    cluster: &Cluster,
    pa_ar: &ApiResource,
    scopes: &[Option<String>],
    root: &str,
) -> Part<serde_json::Value> {
    let mut out = Vec::new();
    let mut gaps = Vec::new();
    for ns in scopes {
        let api = dynamic_api(cluster, pa_ar, ns.as_deref());
        let mut values = Vec::new();
        let res = list_paged(cluster, &api, None, &mut values, Some).await;
        let effect = if ns.as_deref() == Some(root) || ns.is_none() {
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
            out.extend(
                values
                    .into_iter()
                    .map(|o| serde_json::to_value(o).unwrap_or_default()),
            );
        }
    }
    Ok((out, gaps))
}

/// DestinationRules: any namespace's rule may target hosts in scope, so cluster-wide first;
/// when that is forbidden (and the scope is not `-A`), each of `scopes`.
async fn read_destination_rules(
    cluster: &Cluster,
    dr_ar: Option<&ApiResource>,
    scope: &Scope,
    scopes: &[Option<String>],
) -> Part<serde_json::Value> {
    let mut values = Vec::new();
    let mut gaps = Vec::new();
    let Some(dr_ar) = dr_ar else {
        return Ok((Vec::new(), gaps));
    };
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
            for ns in scopes {
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
    let out = values
        .into_iter()
        .map(|o| serde_json::to_value(o).unwrap_or_default())
        .collect();
    Ok((out, gaps))
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
    fn the_continue_token_is_read_from_the_head_of_a_page() {
        let page = r#"{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"7","continue":"abc"},"items":[{"metadata":{"name":"a"}}]}"#;
        assert_eq!(continue_token(page).unwrap().as_deref(), Some("abc"));
        // The items after the head are not read: even a broken tail does not matter.
        let cut = r#"{"kind":"PodList","metadata":{"continue":"abc"},"items":[{"metadata":"#;
        assert_eq!(continue_token(cut).unwrap().as_deref(), Some("abc"));
        // Metadata after the items (another server's order) is still found.
        let late = r#"{"items":[{"metadata":{"name":"a"}}],"metadata":{"continue":"x"}}"#;
        assert_eq!(continue_token(late).unwrap().as_deref(), Some("x"));
        let last = r#"{"kind":"PodList","metadata":{"resourceVersion":"7"},"items":[]}"#;
        assert_eq!(continue_token(last).unwrap(), None);
        assert_eq!(continue_token(r#"{"metadata":null,"items":null}"#).unwrap(), None);
        assert_eq!(continue_token(r#"{"items":[]}"#).unwrap(), None);
        assert!(continue_token("<html>").is_err());
        assert!(continue_token(r#"{"metadata":{"continue":7}}"#).is_err());
    }

    #[test]
    fn lean_pages_keep_what_resolution_reads_and_skip_managed_fields() {
        let page = r#"{"kind":"PartialObjectMetadataList","apiVersion":"meta.k8s.io/v1","metadata":{"continue":""},"items":[
          {"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1","metadata":{
            "name":"web-1","namespace":"shop","uid":"u1","resourceVersion":"9",
            "creationTimestamp":"2026-01-02T03:04:05Z",
            "labels":{"app":"web"},
            "annotations":{"sidecar.istio.io/status":"{\"initContainers\":[\"istio-proxy\"]}"},
            "ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"web-5d","uid":"r1","controller":true}],
            "managedFields":[{"manager":"kubectl","operation":"Update","apiVersion":"v1","fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{"f:labels":{".":{},"f:app":{}}}}}]}},
          {"metadata":{"name":"bare","namespace":"shop","labels":null}}]}"#;
        let lean: Page<LeanObject> = serde_json::from_str(page).unwrap();
        let metas: Vec<ObjectMeta> = lean.items.into_iter().map(|o| o.metadata.into()).collect();
        let full: kube::api::ObjectList<PartialObjectMeta<Pod>> = serde_json::from_str(page).unwrap();
        for (lean, full) in metas.iter().zip(&full.items) {
            let want = ObjectMeta {
                managed_fields: None,
                uid: None,
                resource_version: None,
                ..full.metadata.clone()
            };
            assert_eq!(lean, &want);
            assert_eq!(
                PodInfo::from_metadata(lean),
                PodInfo::from_metadata(&full.metadata),
                "the same pod for the engine"
            );
        }
        assert_eq!(metas.len(), 2);
        assert!(full.items[0].metadata.managed_fields.is_some());
        let empty: Page<LeanObject> = serde_json::from_str(r#"{"metadata":{},"items":null}"#).unwrap();
        assert!(empty.items.is_empty());
    }

    #[test]
    fn lean_services_give_the_engine_the_same_service() {
        let page = r#"{"kind":"ServiceList","metadata":{},"items":[
          {"metadata":{"name":"web","namespace":"shop","managedFields":[{"manager":"x","fieldsV1":{"f:spec":{}}}]},
           "spec":{"clusterIP":"10.0.0.1","selector":{"app":"web"},"type":"ClusterIP",
             "ports":[{"name":"http","port":80,"targetPort":8080,"protocol":"TCP"},{"port":9090,"targetPort":"metrics"},{"port":7}]},
           "status":{"loadBalancer":{}}},
          {"metadata":{"name":"external","namespace":"shop"},"spec":{"type":"ExternalName","externalName":"example.com"}},
          {"metadata":{"name":"bare","namespace":"shop"}}]}"#;
        let lean: Page<LeanService> = serde_json::from_str(page).unwrap();
        let full: kube::api::ObjectList<Service> = serde_json::from_str(page).unwrap();
        let lean: Vec<ServiceInfo> = lean
            .items
            .into_iter()
            .map(|s| ServiceInfo::from(&Service::from(s)))
            .collect();
        let full: Vec<ServiceInfo> = full.items.iter().map(ServiceInfo::from).collect();
        assert_eq!(lean, full);
        assert_eq!(lean.len(), 3);
    }

    #[test]
    fn scope_words_name_the_namespace() {
        assert_eq!(scope_words(None), "cluster-wide");
        assert_eq!(scope_words(Some("a")), "in namespace \"a\"");
    }
}
