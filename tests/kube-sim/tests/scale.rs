//! The benchmark scenario: deterministic, realistic mix, pageable.

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use kube_sim::{Scenario, SimServer};
use std::collections::BTreeSet;

#[test]
fn scale_scenario_is_deterministic_and_mixed() {
    let a = SimServer::start_background(Scenario::scale(40, 2000, 9)).unwrap();
    let b = SimServer::start_background(Scenario::scale(40, 2000, 9)).unwrap();
    let names = |s: &SimServer| -> Vec<String> {
        s.cluster()
            .list("v1", "Pod", None)
            .iter()
            .map(|p| p["metadata"]["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names(&a), names(&b));
    let c = a.cluster();
    let pods = c.list("v1", "Pod", None);
    assert_eq!(pods.len(), 2001);
    let injected = pods
        .iter()
        .filter(|p| p["metadata"]["annotations"]["sidecar.istio.io/status"].is_string())
        .count();
    let ambient = pods
        .iter()
        .filter(|p| p["metadata"]["annotations"]["ambient.istio.io/redirection"] == "enabled")
        .count();
    assert!(injected > pods.len() / 2, "most pods are injected: {injected}");
    assert!(ambient > 0, "some pods are ambient");
    assert!(injected + ambient < pods.len(), "some pods are outside the mesh");
    let namespaces = c.list("v1", "Namespace", None);
    assert!(
        namespaces
            .iter()
            .any(|n| n["metadata"]["labels"]["istio.io/dataplane-mode"] == "ambient")
    );
    let pas = c.list("security.istio.io/v1", "PeerAuthentication", None);
    assert!(
        pas.iter().any(|p| p["metadata"]["namespace"] == "istio-system"),
        "mesh-wide policy"
    );
    assert!(
        pas.iter().any(|p| p["spec"]["selector"].is_object()),
        "workload-level policies"
    );
    assert!(
        !c.list("networking.istio.io/v1", "DestinationRule", None)
            .is_empty()
    );
    // Every pod's ReplicaSet exists and its Deployment too.
    let rs: BTreeSet<(String, String)> = c
        .list("apps/v1", "ReplicaSet", None)
        .iter()
        .map(|r| {
            (
                r["metadata"]["namespace"].as_str().unwrap().into(),
                r["metadata"]["name"].as_str().unwrap().into(),
            )
        })
        .collect();
    for p in &pods {
        let owner = p["metadata"]["ownerReferences"][0]["name"].as_str().unwrap();
        assert!(
            rs.contains(&(p["metadata"]["namespace"].as_str().unwrap().into(), owner.into())),
            "{owner}"
        );
    }
}

#[tokio::test]
async fn pages_through_2000_pods() {
    let server = SimServer::start(Scenario::scale(20, 2000, 1)).await.unwrap();
    let kc = Kubeconfig::from_yaml(&server.kubeconfig_yaml("admin")).unwrap();
    let client = Client::try_from(
        Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
            .await
            .unwrap(),
    )
    .unwrap();
    let pods: Api<Pod> = Api::all(client);
    let started = std::time::Instant::now();
    let mut seen = BTreeSet::new();
    let mut token = String::new();
    loop {
        let page = pods
            .list(&ListParams::default().limit(500).continue_token(&token))
            .await
            .unwrap();
        for p in &page.items {
            assert!(
                seen.insert((
                    p.metadata.namespace.clone().unwrap(),
                    p.metadata.name.clone().unwrap()
                )),
                "duplicate"
            );
        }
        match page.metadata.continue_ {
            Some(c) if !c.is_empty() => token = c,
            _ => break,
        }
    }
    assert_eq!(seen.len(), 2001);
    assert!(
        started.elapsed().as_secs() < 30,
        "paging took {:?}",
        started.elapsed()
    );
    // Selectors apply per page too.
    let ambient = pods
        .list(&ListParams::default().fields("metadata.namespace=app-0003"))
        .await
        .unwrap();
    assert!(
        ambient
            .items
            .iter()
            .all(|p| p.metadata.namespace.as_deref() == Some("app-0003"))
    );
    assert_eq!(ambient.items.len(), 100);
}
