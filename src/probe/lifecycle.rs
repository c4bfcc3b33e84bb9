//! The client-pod lifecycle of `--create-clients`: create a pod in the mesh and one outside
//! it, wait for them to run, probe, and always delete them (also on error or Ctrl-C).

use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, Pod, PodSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, PostParams};

use crate::client::Cluster;
use crate::error::Error;
use crate::model::Labels;

use super::*;

/// The pod label that opts a pod in or out of sidecar injection.
pub const INJECT_LABEL: &str = "sidecar.istio.io/inject";

/// The label every created client carries (`kubectl delete pod -l` cleans up by hand).
pub const CREATED_LABEL: &str = "kubectl-mtls/probe-client";

pub fn client_pod(name: &str, image: &str, inject: bool) -> Pod {
    let labels: Labels = [
        ("app".to_string(), "mtls-probe".to_string()),
        (CREATED_LABEL.to_string(), "true".to_string()),
        (INJECT_LABEL.to_string(), inject.to_string()),
    ]
    .into();
    Pod {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            labels: Some(labels),
            annotations: Some(
                [(
                    crate::probe::DEFAULT_CONTAINER_ANNOTATION.to_string(),
                    "client".to_string(),
                )]
                .into(),
            ),
            ..Default::default()
        },
        spec: Some(PodSpec {
            containers: vec![Container {
                name: "client".into(),
                image: Some(image.to_string()),
                command: Some(vec!["sleep".into(), "3600".into()]),
                ..Default::default()
            }],
            restart_policy: Some("Never".into()),
            termination_grace_period_seconds: Some(0),
            // A safety net should the deletion never happen (the process killed hard).
            active_deadline_seconds: Some(3600),
            ..Default::default()
        }),
        status: None,
    }
}

pub fn unique_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{:05x}", (nanos ^ std::process::id()) & 0xfffff)
}

pub async fn wait_running(
    cluster: &Cluster,
    ns: &str,
    names: &[String],
    limit: Duration,
) -> Result<Vec<Pod>, Error> {
    let api: Api<Pod> = Api::namespaced(cluster.client.clone(), ns);
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let mut ready = Vec::new();
        let mut waiting = Vec::new();
        for n in names {
            let p = api.get(n).await.map_err(|e| cluster.err(e))?;
            let phase = p
                .status
                .as_ref()
                .and_then(|s| s.phase.clone())
                .unwrap_or_default();
            if phase == "Failed" || phase == "Succeeded" {
                return Err(Error::Other(format!(
                    "client pod {ns}/{n} ended ({phase}) before it could be used"
                )));
            }
            if pod_is_running(&p) {
                ready.push(p);
            } else {
                waiting.push(format!(
                    "{n} ({})",
                    if phase.is_empty() { "Pending" } else { &phase }
                ));
            }
        }
        if waiting.is_empty() {
            return Ok(ready);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(Error::Other(format!(
                "client pods did not become ready within {limit:?}: {} (raise --start-timeout, or check the image can be pulled)",
                waiting.join(", ")
            )));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

pub async fn with_created_clients(
    cluster: &Cluster,
    args: &Options,
    target: &Resolved,
    ns: &str,
    notes: &mut Vec<String>,
) -> Result<Option<Vec<ProbeResult>>, Error> {
    let suffix = unique_suffix();
    let names = [
        format!("mtls-probe-mesh-{suffix}"),
        format!("mtls-probe-plain-{suffix}"),
    ];
    let api: Api<Pod> = Api::namespaced(cluster.client.clone(), ns);
    let work = async {
        for (name, inject) in names.iter().zip([true, false]) {
            api.create(&PostParams::default(), &client_pod(name, &args.image, inject))
                .await
                .map_err(|e| match cluster.err(e) {
                    Error::Forbidden(m) => Error::Forbidden(format!(
                        "{m}; --create-clients needs the `create` and `delete` permissions on pods in namespace \"{ns}\""
                    )),
                    other => other,
                })?;
        }
        eprintln!(
            "created client pods {ns}/{} and {ns}/{}; waiting for them to run",
            names[0], names[1]
        );
        let pods = wait_running(cluster, ns, &names, args.start_timeout).await?;
        let mut clients = Vec::new();
        for p in pods {
            let c = Client::new(p, Origin::Created)?;
            if pod_name(&c.pod) == names[0] && !c.mesh.is_meshed() {
                notes.push(format!(
                    "the client {ns}/{} was created with sidecar.istio.io/inject=true but got no sidecar (is injection disabled in namespace \"{ns}\", or the injector down?): it probes as a plaintext client",
                    names[0]
                ));
            }
            clients.push(c);
        }
        probe_all(cluster, args, target, &clients).await
    };
    let interrupted = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let outcome = tokio::select! {
        r = work => Some(r),
        _ = interrupted => None,
    };
    // Always delete, whatever happened.
    let mut leftovers = Vec::new();
    for n in &names {
        match api.delete(n, &DeleteParams::default().grace_period(0)).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => leftovers.push(format!("{n}: {}", cluster.err(e))),
        }
    }
    if leftovers.is_empty() {
        eprintln!("deleted client pods {ns}/{} and {ns}/{}", names[0], names[1]);
    } else {
        eprintln!(
            "warning: could not delete client pods ({}); delete them with: kubectl delete pod -n {ns} -l {CREATED_LABEL}=true",
            leftovers.join("; ")
        );
    }
    match outcome {
        None => {
            eprintln!("interrupted");
            Ok(None)
        }
        Some(Err(e)) => Err(e),
        Some(Ok(results)) => Ok(Some(results)),
    }
}
