//! The cluster I/O of a change: reading what it is judged against, the live object, and the
//! server-side apply (also as a dry run).

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, Preconditions};
use kube::core::ApiResource;
use serde_json::Value;

use crate::client::Cluster;
use crate::collect::{self, ClusterRead, ReadOptions, read_snapshot};
use crate::engine::membership;
use crate::error::Error;
use crate::model::{PodInfo, Policy, Snapshot};

use super::*;

// ---------------------------------------------------------------------------------------------
// I/O shared by enable and diff.

/// An object to write, with its live state.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The PeerAuthentication API at the served version.
    pub ar: ApiResource,
    /// The target chosen.
    pub chosen: Chosen,
    /// The live object (with managed fields), if it exists.
    pub live: Option<Value>,
    /// The server-side apply body.
    pub body: Value,
}

/// The dynamic API for PeerAuthentications in a namespace.
pub fn pa_api(cluster: &Cluster, ar: &ApiResource, namespace: &str) -> Api<DynamicObject> {
    collect::dynamic_api(cluster, ar, Some(namespace))
}

/// Reads the live object.
pub async fn get_live(
    cluster: &Cluster,
    ar: &ApiResource,
    namespace: &str,
    name: &str,
) -> Result<Option<Value>, Error> {
    let o = pa_api(cluster, ar, namespace)
        .get_opt(name)
        .await
        .map_err(|e| cluster.err(e))?;
    Ok(o.map(|o| serde_json::to_value(o).unwrap_or_default()))
}

/// Chooses the object, reads it, and builds the apply body (no write).
pub async fn prepare(
    cluster: &Cluster,
    read: &ClusterRead,
    req: &Request,
    namespace: &str,
    manager: &str,
) -> Result<Prepared, Error> {
    let ar = read.apis.peer_authentication.clone().ok_or(Error::IstioMissing)?;
    let chosen = choose(&read.snapshot, req, namespace)?;
    let live = get_live(cluster, &ar, &chosen.namespace, &chosen.name).await?;
    let body = apply_body(&ar.api_version, &chosen, req, live.as_ref(), manager);
    Ok(Prepared {
        ar,
        chosen,
        live,
        body,
    })
}

/// How a server-side apply went.
#[derive(Debug)]
pub enum ApplyResult {
    /// The server's object.
    Ok(Value),
    /// 409: fields owned by another manager.
    Conflict(Box<kube::core::Status>),
}

/// Server-side apply that takes over fields held only by kubectl's own managers (without
/// `force`, a conflict with them is retried forced, as `kubectl apply --server-side` migrates
/// client-side-apply ownership); a conflict naming any other manager stays a conflict. Returns
/// the result and the `(manager, field)` pairs taken over.
pub async fn apply_over_kubectl(
    cluster: &Cluster,
    ar: &ApiResource,
    body: &Value,
    manager: &str,
    force: bool,
    dry_run: bool,
) -> Result<(ApplyResult, Vec<(String, String)>), Error> {
    match apply(cluster, ar, body, manager, force, dry_run).await? {
        ApplyResult::Conflict(status) => {
            let fields = super::object::conflict_fields(&status);
            if !fields.is_empty() && fields.iter().all(|(m, _)| super::object::is_kubectl_manager(m)) {
                let result = apply(cluster, ar, body, manager, true, dry_run).await?;
                Ok((result, fields))
            } else {
                Ok((ApplyResult::Conflict(status), Vec::new()))
            }
        }
        ok => Ok((ok, Vec::new())),
    }
}

/// Server-side apply (`dry_run`: `dryRun=All`, nothing persisted).
pub async fn apply(
    cluster: &Cluster,
    ar: &ApiResource,
    body: &Value,
    manager: &str,
    force: bool,
    dry_run: bool,
) -> Result<ApplyResult, Error> {
    let ns = body
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("");
    let name = body
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let mut pp = PatchParams::apply(manager);
    if force {
        pp = pp.force();
    }
    if dry_run {
        pp = pp.dry_run();
    }
    match pa_api(cluster, ar, ns)
        .patch(name, &pp, &Patch::Apply(body))
        .await
    {
        Ok(o) => Ok(ApplyResult::Ok(serde_json::to_value(o).unwrap_or_default())),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(ApplyResult::Conflict(s)),
        Err(e) => Err(cluster.err(e)),
    }
}

/// Deletes the object reviewed, `live`, on the condition that it is still that object (its
/// uid and resourceVersion as DeleteOptions preconditions): a concurrent change or re-creation
/// is a conflict error, never a blind delete. `dry_run`: `dryRun=All`, nothing deleted.
pub async fn delete_reviewed(
    cluster: &Cluster,
    ar: &ApiResource,
    live: &Value,
    dry_run: bool,
) -> Result<(), Error> {
    let at = |p: &str| live.pointer(p).and_then(Value::as_str).map(str::to_string);
    let ns = at("/metadata/namespace").unwrap_or_default();
    let name = at("/metadata/name").unwrap_or_default();
    let dp = DeleteParams {
        dry_run,
        preconditions: Some(Preconditions {
            resource_version: at("/metadata/resourceVersion"),
            uid: at("/metadata/uid"),
        }),
        ..DeleteParams::default()
    };
    let object = super::object_ref(&name);
    match pa_api(cluster, ar, &ns).delete(&name, &dp).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 409 => Err(Error::Other(format!(
            "{object} changed since it was reviewed ({}); nothing was deleted: run the command again to review the object as it is now",
            s.message.trim()
        ))),
        Err(kube::Error::Api(s)) if s.code == 404 => Err(Error::Other(format!(
            "{object} was deleted by someone else since it was reviewed ({}); nothing was deleted by this command",
            s.message.trim()
        ))),
        Err(e) => Err(cluster.err(e)),
    }
}

/// Pods outside the mesh in the whole cluster, except those `skip` accepts and Kubernetes'
/// own namespaces (one paged metadata-only list; a 403 is reported, not fatal).
pub async fn unmeshed_pods_cluster_wide(
    cluster: &Cluster,
    skip: impl Fn(&PodInfo) -> bool,
) -> Result<Outside, Error> {
    let api: Api<Pod> = Api::all(cluster.client.clone());
    let mut pods = Vec::new();
    let res = collect::list_metadata_paged(cluster, &api, None, &mut pods, |p| {
        let info = PodInfo::from(&p);
        (!membership(&info).is_meshed()
            && !skip(&info)
            && !SYSTEM_NAMESPACES.contains(&info.namespace.as_str()))
        .then(|| format!("{}/{}", info.namespace, info.name))
    })
    .await;
    match res {
        Ok(_) => Ok(Outside::Pods(pods)),
        Err(Error::Forbidden(m)) => Ok(Outside::Forbidden(m)),
        Err(e) => Err(e),
    }
}

/// The snapshot a change is judged against: the target namespace (plus the root namespace's
/// policies), or the whole cluster for a mesh-wide change. Returns it with the namespace the
/// target lives in. A namespace-wide target in the root namespace becomes [`Target::Mesh`].
///
/// A mesh-wide change needs a confirmed root namespace: when the mesh config cannot be read it
/// is refused unless `--root-namespace` names it, and a `--root-namespace` the mesh config
/// contradicts is refused (Istio would not honour a policy there).
pub async fn read_for(
    cluster: &Cluster,
    req: &mut Request,
    opts: &ReadOptions,
) -> Result<(ClusterRead, String), Error> {
    let wanted_ns = match &req.target {
        Target::Mesh => None,
        Target::Namespace(ns) | Target::Selector { namespace: ns, .. } => {
            let ns = ns.clone().unwrap_or_else(|| cluster.namespace.clone());
            check_namespace(&ns)?;
            Some(ns)
        }
    };
    let read = match &wanted_ns {
        None => read_all(cluster, opts).await?,
        Some(ns) => read_snapshot(cluster, &collect::Scope::Namespaces(vec![ns.clone()]), opts).await?,
    };
    let root = read.mesh.root_namespace.clone();
    match (&req.target, wanted_ns) {
        (Target::Mesh, _) | (_, None) => {
            let mut read = read;
            let root = confirm_root(&mut read, req, opts, true)?;
            Ok((read, root))
        }
        (Target::Selector { .. }, Some(ns)) if ns == root => Err(Error::Usage(format!(
            "{ns} is the root namespace: Istio ignores policies with a selector there; target the workload's own namespace"
        ))),
        (Target::Namespace(_), Some(ns)) if ns == root => {
            // The namespace-wide policy of the root namespace is the mesh-wide one: its
            // effect is cluster-wide.
            let mut read = read_all(cluster, opts).await?;
            confirm_root(&mut read, req, opts, false)?;
            req.target = Target::Mesh;
            Ok((read, ns))
        }
        (_, Some(ns)) => Ok((read, ns)),
    }
}

/// The root namespace of a mesh-wide change, confirmed by the mesh config or named by
/// `--root-namespace` (then set in the read); an unconfirmed or contradicted one is an error.
/// `mesh_flag`: the target came from `--mesh` (else from naming the assumed root namespace).
pub fn confirm_root(
    read: &mut ClusterRead,
    req: &Request,
    opts: &ReadOptions,
    mesh_flag: bool,
) -> Result<String, Error> {
    let assumed = read.mesh.root_namespace.clone();
    match (&read.mesh_unread, &req.root_namespace) {
        (None, None) => Ok(assumed),
        (None, Some(given)) if *given == assumed => Ok(assumed),
        (None, Some(given)) => Err(Error::Other(format!(
            "--root-namespace {given} disagrees with the mesh config {}/{}, which makes {assumed} the root namespace: Istio would not honour a mesh-wide policy in {given}",
            opts.istio_namespace,
            crate::model::mesh::mesh_configmap_name(opts.revision.as_deref())
        ))),
        (Some(why), None) => Err(Error::Other(format!(
            "{why}, so the root namespace (where Istio honours mesh-wide policies) cannot be confirmed{}: pass --root-namespace NS{}",
            if mesh_flag {
                String::new()
            } else {
                format!(" and {assumed} may not be it")
            },
            if mesh_flag { "" } else { " with --mesh" }
        ))),
        (Some(why), Some(given)) => {
            let why = why.clone();
            read.warnings.retain(|w| !w.starts_with(&why));
            read.warnings.push(format!(
                "{why}; using the root namespace given by --root-namespace: \"{given}\""
            ));
            read.mesh.root_namespace = given.clone();
            read.snapshot.root_namespace = given.clone();
            Ok(given.clone())
        }
    }
}

/// Reads the whole cluster for a mesh-wide change, explaining a refusal in this command's terms.
pub async fn read_all(cluster: &Cluster, opts: &ReadOptions) -> Result<ClusterRead, Error> {
    match read_snapshot(cluster, &collect::Scope::All, opts).await {
        Err(Error::Forbidden(msg)) => {
            let msg = msg.split("; -A needs").next().unwrap_or(&msg).to_string();
            Err(Error::Forbidden(format!(
                "{msg}; a mesh-wide policy affects every namespace, so showing its effect needs the right to list namespaces, pods, services and policies cluster-wide"
            )))
        }
        other => other,
    }
}

/// Pods outside the mesh in other namespaces than the changed policy's: possible plaintext
/// clients of what becomes STRICT (the istio and root namespaces are left out).
pub async fn outside_clients(
    cluster: &Cluster,
    snapshot: &Snapshot,
    changed: &Policy,
) -> Result<Outside, Error> {
    let istio_ns = snapshot.istio_namespace.clone();
    let root = snapshot.root_namespace.clone();
    let sel = changed.clone();
    unmeshed_pods_cluster_wide(cluster, move |p| {
        p.namespace == istio_ns
            || p.namespace == root
            || (p.namespace == sel.namespace && (!sel.has_selector() || sel.selects(&p.labels)))
    })
    .await
}
