//! Tests of probe's cluster side on kube-sim: waiting for created clients, selectors, the
//! created pods.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::api::{Api, PostParams};

use crate::client::{Cluster, connect};

use super::*;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

/// A cluster on kube-sim holding one pod `p` in `default` with the given phase.
async fn sim_with_pod(phase: &str) -> (kube_sim::SimServer, Cluster, std::path::PathBuf) {
    let server = kube_sim::SimServer::start_background(kube_sim::Scenario::empty()).expect("sim");
    server
        .cluster()
        .put(serde_json::json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "namespace": "default"},
            "spec": {"containers": [{"name": "c", "image": "i"}]},
            "status": {"phase": phase}
        }))
        .expect("put pod");
    let path = std::env::temp_dir().join(format!("kubectl-mtls-wait-{}-{phase}", std::process::id()));
    server.write_kubeconfig(&path, "admin").expect("kubeconfig");
    let global = crate::client::ConnectOptions {
        kubeconfig: Some(path.clone()),
        ..Default::default()
    };
    let cluster = connect(&global).await.expect("connect");
    (server, cluster, path)
}

#[tokio::test]
async fn waiting_for_clients_times_out_and_sees_them_start() {
    let (server, cluster, path) = sim_with_pod("Pending").await;
    let names = ["p".to_string()];
    let err = wait_running(&cluster, "default", &names, Duration::from_millis(700))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("client pods did not become ready within 700ms: p (Pending)"),
        "{err}"
    );
    // The pod starts while the command waits.
    let api: Api<Pod> = Api::namespaced(cluster.client.clone(), "default");
    let starter = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(600)).await;
        // PUT .../status (kube-sim's PATCH .../status keeps the old status).
        let mut pod = api.get("p").await.expect("get pod");
        pod.status = Some(k8s_openapi::api::core::v1::PodStatus {
            phase: Some("Running".into()),
            ..Default::default()
        });
        api.replace_status("p", &PostParams::default(), &pod)
            .await
            .expect("replace status");
    });
    let pods = wait_running(&cluster, "default", &names, Duration::from_secs(10))
        .await
        .expect("pod runs");
    starter.await.expect("starter");
    assert_eq!(pods.len(), 1);
    let gets = server
        .requests()
        .iter()
        .filter(|r| r.resource == "pods" && r.verb == "get" && r.name == "p")
        .count();
    assert!(gets >= 3, "polled {gets} times");
    let _ = std::fs::remove_file(path);
}

#[tokio::test]
async fn a_client_that_ended_is_an_error_at_once() {
    let (_server, cluster, path) = sim_with_pod("Failed").await;
    let err = wait_running(&cluster, "default", &["p".to_string()], Duration::from_secs(10))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("ended (Failed)"), "{err}");
    let _ = std::fs::remove_file(path);
}

#[test]
fn deployment_selectors_become_label_selectors() {
    let sel = LabelSelector {
        match_labels: Some([("app".to_string(), "sleep".to_string())].into()),
        match_expressions: Some(vec![
            LabelSelectorRequirement {
                key: "tier".into(),
                operator: "In".into(),
                values: Some(vec!["a".into(), "b".into()]),
            },
            LabelSelectorRequirement {
                key: "canary".into(),
                operator: "DoesNotExist".into(),
                values: None,
            },
        ]),
    };
    assert_eq!(selector_string(&sel), "app=sleep,tier in (a,b),!canary");
}

#[test]
fn created_clients_ask_for_and_against_a_sidecar() {
    let p = client_pod("mtls-probe-mesh-1", "curlimages/curl:8.11.1", true);
    let labels = p.metadata.labels.unwrap();
    assert_eq!(labels["sidecar.istio.io/inject"], "true");
    assert_eq!(labels[CREATED_LABEL], "true");
    let p = client_pod("mtls-probe-plain-1", "img", false);
    assert_eq!(p.metadata.labels.unwrap()["sidecar.istio.io/inject"], "false");
    let spec = p.spec.unwrap();
    assert_eq!(spec.containers[0].image.as_deref(), Some("img"));
    assert_eq!(spec.termination_grace_period_seconds, Some(0));
}
