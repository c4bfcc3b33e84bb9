//! kube-rs 5 against the simulated API server.

use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{
    Api, ApiResource, AttachParams, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch,
    PatchParams, PostParams,
};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use kube_sim::{ExecResponse, Rule, Scenario, SimServer, User};
use serde_json::json;
use tokio::io::AsyncReadExt;

async fn client(server: &SimServer, user: &str) -> Client {
    let kc = Kubeconfig::from_yaml(&server.kubeconfig_yaml(user)).expect("kubeconfig");
    let config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .expect("config");
    Client::try_from(config).expect("client")
}

fn pa_api(client: &Client, ns: &str, version: &str) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("security.istio.io", version, "PeerAuthentication"),
        "peerauthentications",
    );
    Api::namespaced_with(client.clone(), ns, &ar)
}

fn pa(name: &str, mode: &str) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
        "metadata": {"name": name, "namespace": "istioinaction"},
        "spec": {"mtls": {"mode": mode}}
    }))
    .unwrap()
}

#[tokio::test]
async fn typed_get_list_and_dynamic_crud() {
    let server = SimServer::start(Scenario::lab()).await.unwrap();
    let client = client(&server, "admin").await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "istioinaction");
    let list = pods
        .list(&ListParams::default().labels("app in (web-api,history)"))
        .await
        .unwrap();
    let names: Vec<String> = list
        .items
        .iter()
        .map(|p| p.metadata.name.clone().unwrap())
        .collect();
    assert_eq!(names, ["history-5f6c7d8b9c-q7w4z", "web-api-7c8d9f6b4d-x2k8p"]);
    let web = pods.get("web-api-7c8d9f6b4d-x2k8p").await.unwrap();
    let containers: Vec<&str> = web
        .spec
        .as_ref()
        .unwrap()
        .containers
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(containers, ["web-api", "istio-proxy"]);
    assert_eq!(
        web.metadata.labels.as_ref().unwrap()["security.istio.io/tlsMode"],
        "istio"
    );
    assert_eq!(web.status.unwrap().phase.as_deref(), Some("Running"));
    let ns: Api<Namespace> = Api::all(client.clone());
    let istioinaction = ns.get("istioinaction").await.unwrap();
    assert_eq!(
        istioinaction.metadata.labels.unwrap()["istio-injection"],
        "enabled"
    );

    let api = pa_api(&client, "istioinaction", "v1");
    let created = api
        .create(&PostParams::default(), &pa("default", "STRICT"))
        .await
        .unwrap();
    assert!(created.metadata.uid.is_some() && created.metadata.resource_version.is_some());
    let err = api
        .create(&PostParams::default(), &pa("default", "STRICT"))
        .await
        .unwrap_err();
    let kube::Error::Api(status) = err else {
        panic!("{err:?}")
    };
    assert_eq!((status.code, status.reason.as_str()), (409, "AlreadyExists"));
    assert_eq!(
        status.message,
        "peerauthentications.security.istio.io \"default\" already exists"
    );
    let v1beta1 = pa_api(&client, "istioinaction", "v1beta1")
        .get("default")
        .await
        .unwrap();
    assert_eq!(v1beta1.types.unwrap().api_version, "security.istio.io/v1beta1");
    api.delete("default", &DeleteParams::default()).await.unwrap();
    let err = api.get("default").await.unwrap_err();
    let kube::Error::Api(status) = err else {
        panic!("{err:?}")
    };
    assert_eq!(status.code, 404);
    assert_eq!(
        status.message,
        "peerauthentications.security.istio.io \"default\" not found"
    );
}

#[tokio::test]
async fn update_with_a_stale_resource_version_conflicts() {
    let server = SimServer::start(Scenario::lab()).await.unwrap();
    let client = client(&server, "admin").await;
    let api = pa_api(&client, "istioinaction", "v1");
    let created = api
        .create(&PostParams::default(), &pa("default", "STRICT"))
        .await
        .unwrap();
    let mut newer = created.clone();
    newer.data["spec"]["mtls"]["mode"] = json!("PERMISSIVE");
    let updated = api
        .replace("default", &PostParams::default(), &newer)
        .await
        .unwrap();
    assert_eq!(updated.metadata.generation, Some(2));
    let mut stale = created;
    stale.data["spec"]["mtls"]["mode"] = json!("DISABLE");
    let err = api
        .replace("default", &PostParams::default(), &stale)
        .await
        .unwrap_err();
    let kube::Error::Api(status) = err else {
        panic!("{err:?}")
    };
    assert_eq!(status.code, 409);
    assert_eq!(
        status.message,
        "Operation cannot be fulfilled on peerauthentications.security.istio.io \"default\": the object has been modified; please apply your changes to the latest version and try again"
    );
}

#[tokio::test]
async fn server_side_apply_conflicts_force_and_dry_run() {
    let server = SimServer::start(Scenario::lab()).await.unwrap();
    let client = client(&server, "admin").await;
    let api = pa_api(&client, "istioinaction", "v1");
    server.clear_requests();
    let dry = api
        .patch(
            "default",
            &PatchParams::apply("mtls-tool").dry_run(),
            &Patch::Apply(pa("default", "STRICT")),
        )
        .await
        .unwrap();
    assert_eq!(dry.data["spec"]["mtls"]["mode"], "STRICT");
    assert!(
        server
            .cluster()
            .get(
                "security.istio.io/v1",
                "PeerAuthentication",
                "istioinaction",
                "default"
            )
            .is_none()
    );
    assert!(server.requests().iter().all(|r| !r.is_persisted_write()));

    api.patch(
        "default",
        &PatchParams::apply("mtls-tool"),
        &Patch::Apply(pa("default", "STRICT")),
    )
    .await
    .unwrap();
    let err = api
        .patch(
            "default",
            &PatchParams::apply("other-tool"),
            &Patch::Apply(pa("default", "DISABLE")),
        )
        .await
        .unwrap_err();
    let kube::Error::Api(status) = err else {
        panic!("{err:?}")
    };
    assert_eq!((status.code, status.reason.as_str()), (409, "Conflict"));
    assert_eq!(
        status.message,
        "Apply failed with 1 conflict: conflict with \"mtls-tool\": .spec.mtls.mode"
    );
    // Same value: shared ownership, no conflict.
    api.patch(
        "default",
        &PatchParams::apply("other-tool"),
        &Patch::Apply(pa("default", "STRICT")),
    )
    .await
    .unwrap();
    let forced = api
        .patch(
            "default",
            &PatchParams::apply("other-tool").force(),
            &Patch::Apply(pa("default", "DISABLE")),
        )
        .await
        .unwrap();
    assert_eq!(forced.data["spec"]["mtls"]["mode"], "DISABLE");
    let managers: Vec<String> = forced
        .metadata
        .managed_fields
        .unwrap()
        .iter()
        .map(|m| m.manager.clone().unwrap())
        .collect();
    assert_eq!(
        managers,
        ["other-tool"],
        "the forced field left mtls-tool, which then owns nothing"
    );
    // Missing field manager on apply is rejected like the real server does.
    let err = api
        .patch(
            "default",
            &PatchParams::default(),
            &Patch::Apply(pa("default", "STRICT")),
        )
        .await
        .unwrap_err();
    let kube::Error::Api(status) = err else {
        panic!("{err:?}")
    };
    assert_eq!(status.code, 422);
    assert_eq!(
        status.message,
        "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch"
    );
}

#[tokio::test]
async fn invalid_policy_is_422_with_causes() {
    let server = SimServer::start(Scenario::lab()).await.unwrap();
    let client = client(&server, "admin").await;
    let api = pa_api(&client, "istioinaction", "v1");
    let mut bad = pa("ports", "STRICT");
    bad.data["spec"]["portLevelMtls"] = json!({"8080": {"mode": "DISABLE"}});
    let err = api.create(&PostParams::default(), &bad).await.unwrap_err();
    let kube::Error::Api(status) = err else {
        panic!("{err:?}")
    };
    assert_eq!((status.code, status.reason.as_str()), (422, "Invalid"));
    assert_eq!(
        status.message,
        "PeerAuthentication.security.istio.io \"ports\" is invalid: spec: Invalid value: portLevelMtls requires selector"
    );
    let details = status.details.unwrap();
    assert_eq!(
        (
            details.name.as_str(),
            details.group.as_str(),
            details.kind.as_str()
        ),
        ("ports", "security.istio.io", "PeerAuthentication")
    );
    assert_eq!(details.causes[0].field, "spec");
    assert_eq!(details.causes[0].reason, "FieldValueInvalid");
    let mut wildcard = pa("wild", "STRICT");
    wildcard.data["spec"]["selector"] = json!({"matchLabels": {"app.kubernetes.io/name": "web-*"}});
    let Err(kube::Error::Api(status)) = api.create(&PostParams::default(), &wildcard).await else {
        panic!()
    };
    assert_eq!(
        status.message,
        "PeerAuthentication.security.istio.io \"wild\" is invalid: spec.selector.matchLabels[app.kubernetes.io/name]: Invalid value: \"string\": wildcard not allowed in label value match"
    );
    wildcard.data["spec"]["selector"] = json!({"matchLabels": {"app*": "web"}});
    let Err(kube::Error::Api(status)) = api.create(&PostParams::default(), &wildcard).await else {
        panic!()
    };
    assert_eq!(
        status.details.unwrap().causes[0].field,
        "spec.selector.matchLabels"
    );
    assert!(
        status
            .message
            .ends_with("Invalid value: wildcard not allowed in label key match")
    );
    bad.data["spec"]["selector"] = json!({"matchLabels": {"app": "web-api"}});
    api.create(&PostParams::default(), &bad).await.unwrap();
}

#[tokio::test]
async fn list_metadata_pages_through_pods() {
    let server = SimServer::start(Scenario::scale(8, 1200, 3)).await.unwrap();
    let client = client(&server, "admin").await;
    let pods: Api<Pod> = Api::all(client);
    let mut names = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut lp = ListParams::default().limit(250);
        if let Some(t) = &token {
            lp = lp.continue_token(t);
        }
        let page = pods.list_metadata(&lp).await.unwrap();
        pages += 1;
        assert!(page.items.len() <= 250);
        names.extend(page.items.iter().map(|p| {
            assert!(p.metadata.labels.as_ref().is_some_and(|l| l.contains_key("app")));
            p.metadata.name.clone().unwrap()
        }));
        match page.metadata.continue_ {
            Some(c) if !c.is_empty() => token = Some(c),
            _ => break,
        }
    }
    assert_eq!(names.len(), 1201);
    assert_eq!(pages, 5);
    let reqs = server.requests();
    assert!(
        reqs.iter()
            .filter(|r| r.resource == "pods")
            .all(|r| r.query_param("limit").as_deref() == Some("250"))
    );
    assert!(
        reqs.iter()
            .filter(|r| r.resource == "pods")
            .all(|r| r.accept.contains("as=PartialObjectMetadataList"))
    );
}

#[tokio::test]
async fn restricted_user_is_forbidden() {
    let scenario = Scenario::lab().user(User::new("viewer", "viewer-token").allow(
        Rule::new(&["get", "list", "watch"], &["peerauthentications"]).in_groups(&["security.istio.io"]),
    ));
    let server = SimServer::start(scenario).await.unwrap();
    let client = client(&server, "viewer").await;
    assert!(
        pa_api(&client, "istioinaction", "v1")
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let err = pa_api(&client, "istioinaction", "v1")
        .create(&PostParams::default(), &pa("x", "STRICT"))
        .await
        .unwrap_err();
    let kube::Error::Api(status) = err else {
        panic!("{err:?}")
    };
    assert_eq!(status.code, 403);
    assert_eq!(
        status.message,
        "peerauthentications.security.istio.io is forbidden: User \"viewer\" cannot create resource \"peerauthentications\" in API group \"security.istio.io\" in the namespace \"istioinaction\""
    );
    let pods: Api<Pod> = Api::namespaced(client, "default");
    let err = pods.get("sleep-6c9f8b7d5c-pwz6q").await.unwrap_err();
    let kube::Error::Api(status) = err else {
        panic!("{err:?}")
    };
    assert_eq!(
        status.message,
        "pods \"sleep-6c9f8b7d5c-pwz6q\" is forbidden: User \"viewer\" cannot get resource \"pods\" in API group \"\" in the namespace \"default\""
    );
    assert!(
        server
            .requests()
            .iter()
            .any(|r| r.status == 403 && r.user == "viewer" && r.verb == "get")
    );
}

#[tokio::test]
async fn exec_returns_stdout_and_exit_status() {
    let scenario = Scenario::lab().exec_handler(|req, _| match req.command.first().map(String::as_str) {
        Some("curl") => Some(ExecResponse::ok("200\n")),
        Some("cat") => Some(ExecResponse::ok(String::from_utf8_lossy(&req.stdin).into_owned())),
        Some("false") => Some(ExecResponse::fail(3, "boom\n")),
        _ => None,
    });
    let server = SimServer::start(scenario).await.unwrap();
    let client = client(&server, "admin").await;
    let pods: Api<Pod> = Api::namespaced(client, "istioinaction");
    let pod = "sleep-84c7d5f9b6-h5t2v";

    let mut p = pods
        .exec(
            pod,
            ["curl", "-s", "http://web-api:8080/"],
            &AttachParams::default().container("sleep"),
        )
        .await
        .unwrap();
    let mut out = String::new();
    p.stdout().unwrap().read_to_string(&mut out).await.unwrap();
    let status = p.take_status().unwrap().await.unwrap();
    assert_eq!(out, "200\n");
    assert_eq!(status.status.as_deref(), Some("Success"));

    let mut p = pods
        .exec(
            pod,
            ["false"],
            &AttachParams::default().container("sleep").stderr(true),
        )
        .await
        .unwrap();
    let mut err = String::new();
    p.stderr().unwrap().read_to_string(&mut err).await.unwrap();
    let status = p.take_status().unwrap().await.unwrap();
    assert_eq!(err, "boom\n");
    assert_eq!(status.reason.as_deref(), Some("NonZeroExitCode"));
    assert_eq!(
        status.details.unwrap().causes.unwrap()[0].message.as_deref(),
        Some("3")
    );
    assert_eq!(
        status.message.as_deref(),
        Some("command terminated with non-zero exit code: error executing command [false], exit code 3")
    );

    let mut p = pods
        .exec(
            pod,
            ["cat"],
            &AttachParams::default().container("sleep").stdin(true),
        )
        .await
        .unwrap();
    {
        use tokio::io::AsyncWriteExt;
        let mut stdin = p.stdin().unwrap();
        stdin.write_all(b"piped input").await.unwrap();
        stdin.shutdown().await.unwrap();
    }
    let mut out = String::new();
    p.stdout().unwrap().read_to_string(&mut out).await.unwrap();
    assert_eq!(out, "piped input");
    assert_eq!(
        p.take_status().unwrap().await.unwrap().status.as_deref(),
        Some("Success")
    );

    let Err(err) = pods
        .exec(pod, ["ls"], &AttachParams::default().container("nope"))
        .await
    else {
        panic!("exec into a missing container succeeded")
    };
    assert!(
        err.to_string()
            .contains("container nope is not valid for pod sleep-84c7d5f9b6-h5t2v"),
        "{err}"
    );
}

#[tokio::test]
async fn watch_metadata_and_exec_into_a_pending_pod() {
    use futures_util::StreamExt;
    use kube::api::WatchParams;
    use kube::core::WatchEvent;
    let server = SimServer::start(Scenario::lab()).await.unwrap();
    let client = client(&server, "admin").await;
    let api = pa_api(&client, "istioinaction", "v1");
    let list = api.list(&ListParams::default()).await.unwrap();
    let rv = list.metadata.resource_version.unwrap();
    let mut stream = api
        .watch(&WatchParams::default().timeout(5), &rv)
        .await
        .unwrap()
        .boxed();
    api.create(&PostParams::default(), &pa("default", "STRICT"))
        .await
        .unwrap();
    match stream.next().await.unwrap().unwrap() {
        WatchEvent::Added(o) => assert_eq!(o.metadata.name.as_deref(), Some("default")),
        other => panic!("unexpected {other:?}"),
    }
    api.delete("default", &DeleteParams::default()).await.unwrap();
    match stream.next().await.unwrap().unwrap() {
        WatchEvent::Deleted(o) => assert_eq!(o.data["spec"]["mtls"]["mode"], "STRICT"),
        other => panic!("unexpected {other:?}"),
    }

    // Watch-list (streaming lists): initial state, then the end bookmark.
    let pods: Api<Pod> = Api::namespaced(client.clone(), "istioinaction");
    let mut stream = pods
        .watch(&WatchParams::streaming_lists().timeout(5), "0")
        .await
        .unwrap()
        .boxed();
    let mut added = 0;
    loop {
        match stream.next().await.unwrap().unwrap() {
            WatchEvent::Added(_) => added += 1,
            WatchEvent::Bookmark(b) => {
                assert_eq!(b.metadata.annotations["k8s.io/initial-events-end"], "true");
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(added, 4);

    let meta = pods.get_metadata("web-api-7c8d9f6b4d-x2k8p").await.unwrap();
    assert_eq!(meta.metadata.labels.unwrap()["app"], "web-api");

    server
        .cluster()
        .put(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "pending", "namespace": "istioinaction"},
            "spec": {"containers": [{"name": "app", "image": "x"}]}, "status": {"phase": "Pending"}}))
        .unwrap();
    let Err(err) = pods
        .exec("pending", ["true"], &AttachParams::default().container("app"))
        .await
    else {
        panic!("exec into a pending pod succeeded")
    };
    assert!(err.to_string().contains("container not found (\"app\")"), "{err}");
}

#[tokio::test]
async fn destination_rules_are_validated_too() {
    let server = SimServer::start(Scenario::lab()).await.unwrap();
    let client = client(&server, "admin").await;
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("networking.istio.io", "v1", "DestinationRule"),
        "destinationrules",
    );
    let api: Api<DynamicObject> = Api::namespaced_with(client, "istioinaction", &ar);
    let dr = |spec: serde_json::Value| -> DynamicObject {
        serde_json::from_value(
            json!({"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
            "metadata": {"name": "web-api"}, "spec": spec}),
        )
        .unwrap()
    };
    let message = |r: Result<DynamicObject, kube::Error>| match r {
        Err(kube::Error::Api(s)) => s.message,
        other => panic!("expected an API error, got {other:?}"),
    };
    assert_eq!(
        message(
            api.create(
                &PostParams::default(),
                &dr(json!({"host": "web-api", "trafficPolicy": {"tls": {"mode": "FOO"}}}))
            )
            .await
        ),
        "DestinationRule.networking.istio.io \"web-api\" is invalid: spec.trafficPolicy.tls.mode: Unsupported value: \"FOO\": supported values: \"DISABLE\", \"SIMPLE\", \"MUTUAL\", \"ISTIO_MUTUAL\""
    );
    assert_eq!(
        message(
            api.create(&PostParams::default(), &dr(json!({"trafficPolicy": {}})))
                .await
        ),
        "DestinationRule.networking.istio.io \"web-api\" is invalid: spec.host: Required value"
    );
    let timeout = dr(
        json!({"host": "web-api", "trafficPolicy": {"connectionPool": {"tcp": {"connectTimeout": "0s"}}}}),
    );
    assert!(
        message(api.create(&PostParams::default(), &timeout).await)
            .ends_with("must be a valid duration greater than 1ms"),
    );
    let ok = dr(
        json!({"host": "web-api", "trafficPolicy": {"tls": {"mode": "ISTIO_MUTUAL"},
        "portLevelSettings": [{"port": {"number": 8080}, "tls": {"mode": "DISABLE"}}]}}),
    );
    let created = api.create(&PostParams::default(), &ok).await.unwrap();
    assert_eq!(
        created.data["spec"]["trafficPolicy"]["portLevelSettings"][0]["tls"]["mode"],
        "DISABLE"
    );
}

#[tokio::test]
async fn discovery_reflects_the_istio_mode() {
    use kube::discovery::{Discovery, Scope, verbs};
    for (mode, preferred, served) in [
        (kube_sim::IstioApi::V1, Some("v1"), vec!["v1", "v1beta1"]),
        (kube_sim::IstioApi::V1beta1Only, Some("v1beta1"), vec!["v1beta1"]),
        (kube_sim::IstioApi::None, None, vec![]),
    ] {
        let server = SimServer::start(Scenario::lab().istio(mode)).await.unwrap();
        let client = client(&server, "admin").await;
        let discovery = Discovery::new(client).run().await.unwrap();
        let group = discovery.get("security.istio.io");
        assert_eq!(
            group
                .map(|g| g.preferred_version_or_latest().to_string())
                .as_deref(),
            preferred,
            "{mode:?}"
        );
        if let Some(g) = group {
            assert_eq!(g.versions().collect::<Vec<_>>(), served, "{mode:?}");
            let (ar, caps) = g.recommended_kind("PeerAuthentication").unwrap();
            assert_eq!(ar.plural, "peerauthentications");
            assert_eq!(caps.scope, Scope::Namespaced);
            assert!(caps.supports_operation(verbs::PATCH));
        }
        let core = discovery.get("").unwrap();
        assert!(core.recommended_kind("Pod").is_some());
        assert!(
            discovery
                .get("apps")
                .unwrap()
                .recommended_kind("Deployment")
                .is_some()
        );
    }
}
