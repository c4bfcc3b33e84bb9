//! Wire-level checks with a tiny HTTP/1.1 client: discovery shapes, Table
//! options, Status objects for protocol errors. The client speaks plain HTTP, so these run
//! against a plain-HTTP sim (the wire format is the same over HTTPS).

use kube_sim::{ADMIN_TOKEN, Scenario, SimServer};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpStream;

struct Reply {
    status: u16,
    headers: String,
    body: Value,
}

fn request(server: &SimServer, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Reply {
    let addr = server.url().trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, rest) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        dechunk(rest)
    } else {
        rest.to_string()
    };
    Reply {
        status,
        headers: head.to_ascii_lowercase(),
        body: serde_json::from_str(&body).unwrap_or(Value::String(body)),
    }
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        s = &rest[n + 2..];
    }
    out
}

const AUTH: (&str, &str) = ("Authorization", "Bearer kube-sim-admin-token");

#[test]
fn discovery_documents() {
    assert_eq!(ADMIN_TOKEN, "kube-sim-admin-token");
    let server = SimServer::start_plain_http(Scenario::lab()).unwrap();
    let legacy = request(&server, "GET", "/api/v1", &[AUTH], "").body;
    let pods = legacy["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "pods")
        .unwrap();
    assert_eq!(pods["shortNames"], serde_json::json!(["po"]));
    assert_eq!(pods["categories"], serde_json::json!(["all"]));
    assert!(
        legacy["resources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["name"] == "pods/exec" && r["kind"] == "PodExecOptions")
    );
    let sec = request(&server, "GET", "/apis/security.istio.io/v1", &[AUTH], "").body;
    let pa = sec["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "peerauthentications")
        .unwrap();
    assert_eq!(
        (
            pa["name"].as_str(),
            pa["shortNames"][0].as_str(),
            pa["namespaced"].as_bool()
        ),
        (Some("peerauthentications"), Some("pa"), Some(true))
    );
    let accept = (
        "Accept",
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json",
    );
    let agg = request(&server, "GET", "/apis", &[AUTH, accept], "");
    assert!(
        agg.headers
            .contains("content-type: application/json;g=apidiscovery.k8s.io;v=v2;as=apigroupdiscoverylist")
    );
    let net = agg.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["metadata"]["name"] == "networking.istio.io")
        .unwrap();
    let versions: Vec<&str> = net["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_str().unwrap())
        .collect();
    assert_eq!(versions, ["v1", "v1beta1", "v1alpha3"]);
    let groups = request(&server, "GET", "/apis", &[AUTH], "").body;
    assert_eq!(groups["kind"], "APIGroupList");
    let version = request(&server, "GET", "/version", &[AUTH], "").body;
    assert_eq!(version["major"], "1");
}

#[test]
fn tables_honour_include_object_and_paginate() {
    let server = SimServer::start_plain_http(Scenario::lab()).unwrap();
    let table = (
        "Accept",
        "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
    );
    let t = request(
        &server,
        "GET",
        "/api/v1/namespaces/istioinaction/pods?limit=3&includeObject=None",
        &[AUTH, table],
        "",
    )
    .body;
    assert_eq!(t["kind"], "Table");
    let cols: Vec<&str> = t["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        cols,
        [
            "Name",
            "Ready",
            "Status",
            "Restarts",
            "Age",
            "IP",
            "Node",
            "Nominated Node",
            "Readiness Gates"
        ]
    );
    assert_eq!(t["rows"].as_array().unwrap().len(), 3);
    assert!(t["rows"][0]["object"].is_null());
    assert_eq!(t["rows"][0]["cells"][1], "2/2");
    let cont = t["metadata"]["continue"].as_str().unwrap().to_string();
    let rest = request(
        &server,
        "GET",
        &format!("/api/v1/namespaces/istioinaction/pods?limit=3&continue={cont}&includeObject=Object"),
        &[AUTH, table],
        "",
    )
    .body;
    assert_eq!(rest["rows"].as_array().unwrap().len(), 1);
    assert_eq!(rest["rows"][0]["object"]["kind"], "Pod");
    assert!(rest["metadata"].get("continue").is_none());
    let svc = request(
        &server,
        "GET",
        "/api/v1/namespaces/istioinaction/services/web-api",
        &[AUTH, table],
        "",
    )
    .body;
    assert_eq!(svc["rows"][0]["cells"][1], "ClusterIP");
    assert_eq!(svc["rows"][0]["cells"][4], "8080/TCP");
    assert_eq!(svc["rows"][0]["object"]["kind"], "PartialObjectMetadata");
}

#[test]
fn protocol_errors_are_status_objects() {
    let server = SimServer::start_plain_http(Scenario::lab()).unwrap();
    let r = request(
        &server,
        "GET",
        "/api/v1/pods",
        &[("Authorization", "Bearer wrong")],
        "",
    );
    assert_eq!(
        (r.status, r.body["reason"].as_str(), r.body["message"].as_str()),
        (401, Some("Unauthorized"), Some("Unauthorized"))
    );
    let r = request(
        &server,
        "POST",
        "/api/v1/namespaces/default/pods/x",
        &[AUTH, ("Content-Type", "application/json")],
        "{}",
    );
    assert_eq!(
        (r.status, r.body["reason"].as_str()),
        (405, Some("MethodNotAllowed"))
    );
    let r = request(
        &server,
        "PATCH",
        "/api/v1/namespaces/istioinaction/services/web-api",
        &[AUTH, ("Content-Type", "text/plain")],
        "x",
    );
    assert_eq!(
        (r.status, r.body["reason"].as_str()),
        (415, Some("UnsupportedMediaType"))
    );
    let r = request(&server, "GET", "/apis/nope.example.com/v1/things", &[AUTH], "");
    assert_eq!((r.status, r.body["kind"].as_str()), (404, Some("Status")));
    let r = request(
        &server,
        "GET",
        "/api/v1/pods?labelSelector=app%20in%20web",
        &[AUTH],
        "",
    );
    assert_eq!((r.status, r.body["reason"].as_str()), (400, Some("BadRequest")));
    let r = request(
        &server,
        "GET",
        "/api/v1/pods?fieldSelector=spec.bogus%3D1",
        &[AUTH],
        "",
    );
    assert_eq!(r.body["message"], "field label not supported: spec.bogus");
    let r = request(&server, "GET", "/api/v1/pods?limit=1&continue=zz", &[AUTH], "");
    assert_eq!(r.status, 400);
    // Objects named like subresources are still plain objects.
    let cm = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"exec"},"data":{"a":"b"}}"#;
    let r = request(
        &server,
        "POST",
        "/api/v1/namespaces/default/configmaps",
        &[AUTH, ("Content-Type", "application/json")],
        cm,
    );
    assert_eq!(r.status, 201, "{:?}", r.body);
    let r = request(
        &server,
        "GET",
        "/api/v1/namespaces/default/configmaps/exec",
        &[AUTH],
        "",
    );
    assert_eq!((r.status, r.body["data"]["a"].as_str()), (200, Some("b")));
    // No credentials: 401, whatever the path looks like (tokens travel in the header only).
    let r = request(
        &server,
        "GET",
        "/_token/kube-sim-admin-token/api/v1/namespaces/default",
        &[],
        "",
    );
    assert_eq!((r.status, r.body["reason"].as_str()), (401, Some("Unauthorized")));
    let last = server.requests().pop().unwrap();
    assert_eq!(
        (last.user.as_str(), last.authorization, last.status),
        ("", false, 401)
    );
}

/// A merge patch to `/status` changes the status (and only the status), as on a real server.
#[test]
fn merge_patch_of_the_status_subresource_changes_the_status() {
    let server = SimServer::start_plain_http(Scenario::lab()).unwrap();
    let pod = server
        .cluster()
        .list("v1", "Pod", Some("default"))
        .into_iter()
        .next()
        .expect("default/sleep");
    let name = pod["metadata"]["name"].as_str().unwrap().to_string();
    let path = format!("/api/v1/namespaces/default/pods/{name}/status");
    let r = request(
        &server,
        "PATCH",
        &path,
        &[
            ("Content-Type", "application/merge-patch+json"),
            ("Authorization", &format!("Bearer {ADMIN_TOKEN}")),
        ],
        r#"{"status":{"phase":"Pending"},"metadata":{"labels":{"ignored":"yes"}}}"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let after = server.cluster().get("v1", "Pod", "default", &name).unwrap();
    assert_eq!(after["status"]["phase"], "Pending");
    assert!(
        after["metadata"]["labels"].get("ignored").is_none(),
        "only status changes through /status"
    );
}
