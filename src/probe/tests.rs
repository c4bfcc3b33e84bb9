//! Unit tests of probe's pure stages.

use std::time::Duration;

use super::*;
use crate::model::Mode as M;

#[test]
fn targets_parse_in_every_form() {
    let t = parse_target("web-api.istioinaction:8080/health").unwrap();
    assert_eq!(
        t,
        Target {
            service: "web-api".into(),
            namespace: Some("istioinaction".into()),
            port: Some(PortSpec::Number(8080)),
            path: "/health".into()
        }
    );
    let t = parse_target("http://web-api.istioinaction.svc.cluster.local:8080/").unwrap();
    assert_eq!(
        (t.service.as_str(), t.namespace.as_deref(), t.port),
        ("web-api", Some("istioinaction"), Some(PortSpec::Number(8080)))
    );
    let t = parse_target("web-api").unwrap();
    assert_eq!(
        (t.namespace.as_deref(), t.port.clone(), t.path.as_str()),
        (None, None, "/")
    );
    assert_eq!(t.url("default", 80), "http://web-api.default:80/");
    // A Service port name.
    let t = parse_target("web-api.istioinaction:http/health").unwrap();
    assert_eq!(t.port, Some(PortSpec::Name("http".into())));
    assert_eq!(t.path, "/health");
}

#[test]
fn bad_targets_are_usage_errors() {
    for bad in [
        "https://web-api",
        "ftp://x",
        "web-api:0",
        "web-api:99999",
        "http://web-api:http/",
        "web-api:HTTP",
        "web-api:a-very-long-port-name",
        "web-api:80a0-",
        "Web_Api",
        "a.b.c.d",
        "",
        "web-api/{a,b}",
        "web-api/a b",
        "http://web-api/[1-9]",
    ] {
        let err = parse_target(bad).unwrap_err();
        assert_eq!(err.exit_code(), 2, "{bad}");
        assert!(err.to_string().starts_with("invalid probe target"), "{err}");
    }
}

#[test]
fn commands_are_argv_without_a_shell() {
    let argv = command(Tool::Curl, "http://x.y:80/$(reboot)", Duration::from_secs(5));
    assert_eq!(argv[0], "curl");
    assert_eq!(argv.last().unwrap(), "http://x.y:80/$(reboot)");
    assert!(argv.windows(2).any(|w| w[0] == "--max-time" && w[1] == "5"));
    let argv = command(Tool::Wget, "http://x.y:80/", Duration::from_millis(200));
    assert!(argv.windows(2).any(|w| w[0] == "-T" && w[1] == "1"));
}

#[test]
fn curl_gets_the_timeout_exactly_wget_rounded_up() {
    let max_time = |d: Duration| {
        let argv = command(Tool::Curl, "http://x.y:80/", d);
        let i = argv.iter().position(|a| a == "--max-time").unwrap();
        argv[i + 1].clone()
    };
    assert_eq!(max_time(Duration::from_millis(500)), "0.5");
    assert_eq!(max_time(Duration::from_millis(1500)), "1.5");
    assert_eq!(max_time(Duration::from_millis(1001)), "1.001");
    assert_eq!(max_time(Duration::from_secs(120)), "120");
    assert_eq!(max_time(Duration::from_nanos(1)), "0.000000001");
    assert_eq!(wget_seconds(Duration::from_millis(1500)), "2");
    assert_eq!(wget_seconds(Duration::from_secs(3)), "3");
}

#[test]
fn curl_results_are_read() {
    assert_eq!(
        interpret_curl(0, "200", "", false),
        Outcome::Accepted { status: 200 }
    );
    assert_eq!(
        interpret_curl(0, "404", "", true),
        Outcome::Accepted { status: 404 }
    );
    assert!(matches!(
        interpret_curl(0, "503", "", true),
        Outcome::Rejected { .. }
    ));
    assert_eq!(
        interpret_curl(0, "503", "", false),
        Outcome::Accepted { status: 503 }
    );
    assert!(
        matches!(interpret_curl(56, "000", "curl: (56) Recv failure: Connection reset by peer", false),
        Outcome::Rejected { detail } if detail.contains("reset"))
    );
    assert!(matches!(
        interpret_curl(52, "000", "", false),
        Outcome::Rejected { .. }
    ));
    assert!(matches!(
        interpret_curl(35, "000", "", false),
        Outcome::Rejected { .. }
    ));
    assert_eq!(interpret_curl(7, "000", "", false), Outcome::Refused);
    assert_eq!(interpret_curl(28, "000", "", false), Outcome::Timeout);
    assert_eq!(interpret_curl(6, "000", "", false), Outcome::Dns);
    assert_eq!(
        interpret_curl(127, "", "sh: curl: not found", false),
        Outcome::NoClientTool
    );
    assert!(matches!(
        interpret_curl(3, "", "curl: (3) URL malformed", false),
        Outcome::Error { exit: 3, .. }
    ));
}

#[test]
fn wget_results_are_read() {
    assert_eq!(
        interpret_wget(0, "  HTTP/1.1 200 OK\n", false),
        Outcome::Accepted { status: 200 }
    );
    assert_eq!(
        interpret_wget(1, "wget: server returned error: HTTP/1.1 404 Not Found\n", false),
        Outcome::Accepted { status: 404 }
    );
    assert!(matches!(
        interpret_wget(1, "wget: error getting response: Connection reset by peer", false),
        Outcome::Rejected { .. }
    ));
    assert_eq!(
        interpret_wget(1, "wget: can't connect to remote host: Connection refused", false),
        Outcome::Refused
    );
    assert_eq!(interpret_wget(1, "wget: bad address 'x.y'", false), Outcome::Dns);
    assert_eq!(
        interpret_wget(1, "wget: download timed out", false),
        Outcome::Timeout
    );
    assert!(matches!(
        interpret_wget(0, "HTTP/1.1 503 Service Unavailable", true),
        Outcome::Rejected { .. }
    ));
}

fn enf(mode: M, workload_level: bool) -> Enforcement {
    Enforcement {
        mode,
        workload_level,
        target_in_mesh: true,
        port_bypassed: false,
    }
}

#[test]
fn expectations_follow_the_mode() {
    assert_eq!(expected(enf(M::Strict, false), true).0, Expected::Accept);
    assert_eq!(expected(enf(M::Strict, false), false).0, Expected::Reject);
    assert_eq!(expected(enf(M::Permissive, false), false).0, Expected::Accept);
    assert_eq!(expected(enf(M::Permissive, true), true).0, Expected::Accept);
    assert_eq!(expected(enf(M::Disable, false), true).0, Expected::Accept);
    assert_eq!(expected(enf(M::Disable, false), false).0, Expected::Accept);
    assert_eq!(expected(enf(M::Disable, true), true).0, Expected::Reject);
    assert_eq!(expected(enf(M::Disable, true), false).0, Expected::Accept);
    let unenforced = Enforcement {
        target_in_mesh: false,
        ..enf(M::Strict, false)
    };
    assert_eq!(expected(unenforced, false).0, Expected::Accept);
    let bypassed = Enforcement {
        port_bypassed: true,
        ..enf(M::Strict, false)
    };
    let (e, why) = expected(bypassed, false);
    assert_eq!(e, Expected::Accept);
    assert!(why.contains("excluded from the sidecar's interception"), "{why}");
}

#[test]
fn verdicts_compare_expectation_and_observation() {
    let ok = Outcome::Accepted { status: 200 };
    let rej = Outcome::Rejected {
        detail: "reset".into(),
    };
    assert_eq!(verdict(Expected::Accept, &ok, false), Verdict::Pass);
    assert_eq!(verdict(Expected::Reject, &rej, true), Verdict::Pass);
    assert_eq!(verdict(Expected::Reject, &ok, true), Verdict::PlaintextAccepted);
    assert_eq!(verdict(Expected::Reject, &ok, false), Verdict::Mismatch);
    assert_eq!(verdict(Expected::Accept, &rej, false), Verdict::Mismatch);
    assert_eq!(
        verdict(Expected::Accept, &Outcome::Timeout, false),
        Verdict::Inconclusive
    );
}

#[test]
fn pod_refs_parse() {
    assert_eq!(
        parse_pod_ref("sleep-abc").unwrap(),
        PodRef::Pod("sleep-abc".into())
    );
    assert_eq!(parse_pod_ref("po/x").unwrap(), PodRef::Pod("x".into()));
    assert_eq!(
        parse_pod_ref("deploy/sleep").unwrap(),
        PodRef::Deployment("sleep".into())
    );
    assert_eq!(
        parse_pod_ref("deployments/sleep").unwrap().to_string(),
        "deploy/sleep"
    );
    for bad in ["", "svc/x", "deploy/", "Sleep", "a b"] {
        assert_eq!(parse_pod_ref(bad).unwrap_err().exit_code(), 2, "{bad}");
    }
}

fn pod_with(containers: &[&str], annotation: Option<&str>) -> k8s_openapi::api::core::v1::Pod {
    use k8s_openapi::api::core::v1::{Container, Pod, PodSpec};
    Pod {
        metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
            annotations: annotation
                .map(|a| [(DEFAULT_CONTAINER_ANNOTATION.to_string(), a.to_string())].into()),
            ..Default::default()
        },
        spec: Some(PodSpec {
            containers: containers
                .iter()
                .map(|n| Container {
                    name: n.to_string(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }),
        status: None,
    }
}

#[test]
fn the_client_container_is_never_the_proxy() {
    assert_eq!(
        app_container(&pod_with(&["istio-proxy", "sleep"], None)).as_deref(),
        Some("sleep")
    );
    assert_eq!(
        app_container(&pod_with(&["a", "b"], Some("b"))).as_deref(),
        Some("b")
    );
    // an annotation naming the proxy (or a missing container) is not followed
    assert_eq!(
        app_container(&pod_with(&["istio-proxy", "app"], Some("istio-proxy"))).as_deref(),
        Some("app")
    );
    assert_eq!(
        app_container(&pod_with(&["app"], Some("gone"))).as_deref(),
        Some("app")
    );
    assert_eq!(app_container(&pod_with(&["istio-proxy"], None)), None);
}

#[test]
fn running_means_running_and_ready() {
    use k8s_openapi::api::core::v1::{PodCondition, PodStatus};
    let mut p = pod_with(&["app"], None);
    assert!(!pod_is_running(&p));
    p.status = Some(PodStatus {
        phase: Some("Running".into()),
        ..Default::default()
    });
    assert!(pod_is_running(&p));
    p.status.as_mut().unwrap().conditions = Some(vec![PodCondition {
        type_: "Ready".into(),
        status: "False".into(),
        ..Default::default()
    }]);
    assert!(!pod_is_running(&p));
    p.status.as_mut().unwrap().phase = Some("Pending".into());
    assert!(!pod_is_running(&p));
}

#[test]
fn curl_pods_are_preferred_as_clients() {
    let l = |k: &str, v: &str| -> crate::model::Labels { [(k.to_string(), v.to_string())].into() };
    assert_eq!(client_score("sleep-6f8cfb8c8f-x", &l("app", "sleep")), 2);
    assert_eq!(client_score("x", &l("app.kubernetes.io/name", "curl")), 2);
    assert_eq!(client_score("my-curl-box", &l("app", "tools")), 1);
    assert_eq!(client_score("web-api-1", &l("app", "web-api")), 0);
}

#[test]
fn verdict_words_and_exit() {
    assert!(!Verdict::Pass.fails());
    assert!(Verdict::Mismatch.fails() && Verdict::Inconclusive.fails());
    assert!(Verdict::PlaintextAccepted.as_str().starts_with("SECURITY"));
}

fn rule(
    ns: &str,
    name: &str,
    tls: Vec<(Option<u32>, crate::model::TlsMode)>,
) -> crate::model::DestinationRuleInfo {
    crate::model::DestinationRuleInfo {
        namespace: ns.into(),
        name: name.into(),
        created: crate::model::Created(0),
        host: "web-api".into(),
        export_to: vec![],
        workload_selector: Default::default(),
        tls: tls
            .into_iter()
            .map(|(port, mode)| crate::model::DrTlsSetting {
                subset: None,
                subset_labels: Default::default(),
                port,
                mode,
            })
            .collect(),
        unknowns: vec![],
    }
}

#[test]
fn destination_rules_decide_what_a_sidecar_client_sends() {
    use crate::model::TlsMode as T;
    let none = crate::model::Labels::new();
    let tls = |rules: &[crate::model::DestinationRuleInfo], client_ns: &str, auto: bool| {
        client_tls(rules, client_ns, &none, "shop", "istio-system", 8080, auto)
    };
    assert_eq!(tls(&[], "shop", true), None);
    let off = tls(&[], "shop", false).unwrap();
    assert!(off.plaintext && off.why.contains("enableAutoMtls"), "{off:?}");
    let plain = rule("shop", "plain", vec![(None, T::Disable)]);
    let r = tls(std::slice::from_ref(&plain), "other", true).unwrap();
    assert!(r.plaintext && r.why.contains("shop/plain"), "{r:?}");
    // the port-level setting wins over the rule level; another port's does not apply
    let ports = rule(
        "shop",
        "ports",
        vec![(None, T::Disable), (Some(8080), T::IstioMutual)],
    );
    assert!(!tls(std::slice::from_ref(&ports), "shop", true).unwrap().plaintext);
    let other_port = rule("shop", "p", vec![(Some(9090), T::Disable)]);
    assert_eq!(tls(&[other_port], "shop", true), None);
    // the client namespace's own rule wins over the service namespace's
    let own = rule("client", "own", vec![(None, T::IstioMutual)]);
    assert!(!tls(&[plain.clone(), own], "client", true).unwrap().plaintext);
    // exportTo "." hides a rule from other namespaces
    let mut private = plain.clone();
    private.export_to = vec![".".into()];
    assert_eq!(tls(std::slice::from_ref(&private), "client", true), None);
    assert!(tls(&[private], "shop", true).unwrap().plaintext);
    // a workloadSelector that does not select the client
    let mut scoped = plain;
    scoped.workload_selector = [("app".to_string(), "legacy".to_string())].into();
    assert_eq!(tls(&[scoped], "shop", true), None);
}
