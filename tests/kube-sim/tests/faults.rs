//! Fault injection as a client sees it: kube-rs 5 against armed faults.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, AttachParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use kube_sim::{ExecResponse, Fault, FaultRule, Scenario, SimServer};
use tokio::io::AsyncReadExt;

async fn client(server: &SimServer) -> Client {
    let kc = Kubeconfig::from_yaml(&server.kubeconfig_yaml("admin")).expect("kubeconfig");
    let mut config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .expect("config");
    // Each fault must reach the caller as it is.
    config.default_retry = false;
    Client::try_from(config).expect("client")
}

const POD: &str = "sleep-84c7d5f9b6-h5t2v";

fn long_output() -> Scenario {
    Scenario::lab().exec_handler(|_, _| Some(ExecResponse::ok("0123456789".repeat(100))))
}

#[tokio::test]
async fn a_dropped_exec_stream_ends_without_status_at_once() {
    let server = SimServer::start(long_output()).await.unwrap();
    server
        .faults()
        .arm(FaultRule::new(Fault::ExecDrop).resource("pods/exec"));
    let pods: Api<Pod> = Api::namespaced(client(&server).await, "istioinaction");
    let mut p = pods
        .exec(POD, ["cat", "big"], &AttachParams::default().container("sleep"))
        .await
        .unwrap();
    let status = p.take_status().unwrap();
    // kube-rs leaves the output readers open when the stream breaks: watch the stream itself.
    let joined = tokio::time::timeout(Duration::from_secs(5), p.join())
        .await
        .expect("the drop is seen at once");
    assert!(joined.is_err(), "the stream broke off: {joined:?}");
    assert!(status.await.is_none(), "no exit status");
    assert_eq!(server.requests()[0].fault, "dropped exec");
}

#[tokio::test]
async fn a_slow_exec_stream_arrives_late_and_whole() {
    let server = SimServer::start(long_output()).await.unwrap();
    server
        .faults()
        .arm(FaultRule::new(Fault::ExecSlow(Duration::from_millis(700))));
    let pods: Api<Pod> = Api::namespaced(client(&server).await, "istioinaction");
    let start = Instant::now();
    let mut p = pods
        .exec(POD, ["cat", "big"], &AttachParams::default().container("sleep"))
        .await
        .unwrap();
    let mut out = String::new();
    p.stdout().unwrap().read_to_string(&mut out).await.unwrap();
    assert_eq!(out, "0123456789".repeat(100));
    assert!(start.elapsed() >= Duration::from_millis(700));
}

#[tokio::test]
async fn cut_and_refused_answers_reach_the_client_as_they_are() {
    let server = SimServer::start(Scenario::lab()).await.unwrap();
    let pods: Api<Pod> = Api::all(client(&server).await);
    server
        .faults()
        .arm(FaultRule::new(Fault::CloseMidBody).verb("list"));
    let err = pods.list(&Default::default()).await.expect_err("a cut body");
    assert!(!err.to_string().is_empty());
    server
        .faults()
        .arm(FaultRule::new(Fault::Disconnect).verb("list"));
    let err = pods.list(&Default::default()).await.expect_err("no answer");
    assert!(!err.to_string().is_empty());
    server
        .faults()
        .arm(FaultRule::new(Fault::TooManyRequests { retry_after: Some(3) }).verb("list"));
    match pods.list(&Default::default()).await {
        Err(kube::Error::Api(s)) => {
            assert_eq!((s.code, s.reason.as_str()), (429, "TooManyRequests"));
            assert_eq!(s.details.map(|d| d.retry_after_seconds), Some(3));
        }
        other => panic!("expected a 429: {other:?}"),
    }
    assert_eq!(
        pods.list(&Default::default()).await.unwrap().items.len(),
        server.cluster().count("v1", "Pod")
    );
    let statuses: Vec<(u16, String)> = server
        .requests()
        .into_iter()
        .map(|r| (r.status, r.fault))
        .collect();
    assert_eq!(
        statuses,
        [
            (200, "close mid-body".to_string()),
            (0, "disconnect".to_string()),
            (429, "429".to_string()),
            (200, String::new()),
        ]
    );
}
