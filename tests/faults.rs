//! Faults a real API server inflicts, injected by kube-sim: throttling (429 with Retry-After),
//! server errors, expired list continuations (410), connections cut mid-answer or reset,
//! latency, and slow or dropped exec streams. Each ends in the right answer, or in one clear
//! `error:` line and no partial answer; the request log shows what the plugin did about it.

mod common;
mod probe_support;

use std::time::{Duration, Instant};

use kube_sim::{Fault, FaultRule, Scenario, SimServer};
use probe_support::*;

/// The requests for one resource, as (status, query, fault).
fn requests_for(lab: &Lab, resource: &str) -> Vec<(u16, String, String)> {
    lab.requests()
        .into_iter()
        .filter(|r| r.resource == resource && r.subresource.is_empty())
        .map(|r| (r.status, r.query, r.fault))
        .collect()
}

/// What `status -A -o json` says when nothing goes wrong: the answer a fault must not change.
fn clean_answer(lab: &Lab) -> serde_json::Value {
    let run = lab.plugin(&["status", "-A", "--telemetry", "off", "-o", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.json()
}

fn one_error_line(run: &Run) -> String {
    assert_eq!(run.code, 1, "stdout: {}\nstderr: {}", run.stdout, run.stderr);
    assert_eq!(run.stderr.lines().count(), 1, "one line: {}", run.stderr);
    assert!(run.stderr.starts_with("error: "), "{}", run.stderr);
    assert!(run.stdout.is_empty(), "no partial answer: {}", run.stdout);
    run.stderr.trim_end().to_string()
}

#[test]
fn throttled_lists_are_retried_after_the_servers_retry_after() {
    let lab = Lab::start(Scenario::lab());
    let want = clean_answer(&lab);
    lab.sim().clear_requests();
    lab.sim().faults().arm(
        FaultRule::new(Fault::TooManyRequests { retry_after: Some(1) })
            .verb("list")
            .resource("pods")
            .times(2),
    );
    let start = Instant::now();
    let run = lab.plugin(&["status", "-A", "--telemetry", "off", "-o", "json", "-v"]);
    let took = start.elapsed();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.json(), want, "the same answer as without throttling");
    let pods = requests_for(&lab, "pods");
    let codes: Vec<u16> = pods.iter().map(|p| p.0).collect();
    assert_eq!(
        codes,
        [429, 429, 200],
        "two throttled lists, then the answer: {pods:?}"
    );
    assert!(
        took >= Duration::from_secs(2),
        "Retry-After: 1 was waited twice ({took:?})"
    );
    let retries: Vec<&str> = run.stderr.lines().filter(|l| l.starts_with("I retry ")).collect();
    assert_eq!(retries.len(), 2, "-v shows each retry:\n{}", run.stderr);
    assert!(
        retries[0].starts_with("I retry 1 of 6 for GET ")
            && retries[0].contains("/api/v1/pods?")
            && retries[0].ends_with("in 1000 milliseconds: 429 Too Many Requests, Retry-After 1s"),
        "{}",
        retries[0]
    );
    assert_eq!(lab.sim().faults().pending(), 0);
}

#[test]
fn server_errors_on_discovery_and_gets_are_retried_with_backoff() {
    let lab = Lab::start(Scenario::lab());
    let want = clean_answer(&lab);
    lab.sim().clear_requests();
    let faults = lab.sim().faults();
    faults.arm(
        FaultRule::new(Fault::ServerError {
            code: 503,
            retry_after: None,
        })
        .path("/apis"),
    );
    faults.arm(
        FaultRule::new(Fault::ServerError {
            code: 500,
            retry_after: None,
        })
        .verb("get")
        .resource("configmaps"),
    );
    faults.arm(
        FaultRule::new(Fault::ServerError {
            code: 504,
            retry_after: None,
        })
        .verb("list")
        .resource("services"),
    );
    let run = lab.plugin(&["status", "-A", "--telemetry", "off", "-o", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.json(), want);
    let reqs = lab.requests();
    let apis: Vec<u16> = reqs
        .iter()
        .filter(|r| r.path == "/apis")
        .map(|r| r.status)
        .collect();
    assert_eq!(apis, [503, 200], "discovery retried once");
    let cms: Vec<u16> = requests_for(&lab, "configmaps").iter().map(|r| r.0).collect();
    assert_eq!(cms, [500, 200], "the mesh config get retried once");
    let svcs: Vec<u16> = requests_for(&lab, "services").iter().map(|r| r.0).collect();
    assert_eq!(svcs, [504, 200], "the services list retried once");
    assert!(
        run.stderr.is_empty(),
        "retries are quiet without -v: {}",
        run.stderr
    );
}

#[test]
fn a_server_that_keeps_failing_ends_in_one_error_line_within_the_request_timeout() {
    let lab = Lab::start(Scenario::lab());
    lab.sim().faults().arm(
        FaultRule::new(Fault::ServerError {
            code: 503,
            retry_after: Some(1),
        })
        .verb("list")
        .resource("pods")
        .always(),
    );
    let start = Instant::now();
    let run = lab.plugin(&["status", "-A", "--telemetry", "off", "--request-timeout", "2s"]);
    let took = start.elapsed();
    let line = one_error_line(&run);
    assert!(
        line.starts_with(
            "error: the server is currently unable to handle the request (gave up after 2 attempts in 1."
        ) && line.ends_with("s; --request-timeout leaves no time to wait)"),
        "{line}"
    );
    assert_eq!(
        requests_for(&lab, "pods").len(),
        2,
        "two tries fit in 2s with Retry-After: 1"
    );
    assert!(took < Duration::from_secs(10), "bounded: {took:?}");

    // Without --request-timeout the attempts are bounded instead: 7 in all.
    lab.sim().clear_requests();
    lab.sim().faults().clear();
    lab.sim().faults().arm(
        FaultRule::new(Fault::TooManyRequests { retry_after: None })
            .verb("list")
            .resource("pods")
            .always(),
    );
    let run = lab.plugin(&["status", "-A", "--telemetry", "off"]);
    let line = one_error_line(&run);
    assert!(
        line.starts_with("error: Too many requests, please try again later. (gave up after 7 attempts in "),
        "{line}"
    );
    assert_eq!(requests_for(&lab, "pods").len(), 7);
}

#[test]
fn an_expired_continue_restarts_the_list_once_from_scratch() {
    // 1,200 pods: three pages of 500.
    let lab = Lab::start(Scenario::scale(6, 1_200, 11));
    let want = clean_answer(&lab);
    lab.sim().clear_requests();
    lab.sim()
        .faults()
        .arm(FaultRule::new(Fault::ExpireContinue).resource("pods").times(1));
    let run = lab.plugin(&["status", "-A", "--telemetry", "off", "-o", "json", "-v"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let doc = run.json();
    assert_eq!(doc, want, "no pod counted twice, none missing");
    let pods = requests_for(&lab, "pods");
    assert_eq!(pods.len(), 3, "{pods:#?}");
    assert_eq!(pods[0].0, 200);
    assert!(pods[0].1.contains("limit=500") && !pods[0].1.contains("continue="));
    assert_eq!((pods[1].0, pods[1].2.as_str()), (410, "410 expired continue"));
    assert!(pods[1].1.contains("continue="));
    assert_eq!(pods[2].0, 200);
    assert!(
        !pods[2].1.contains("continue=") && !pods[2].1.contains("limit="),
        "exactly one restarted list, in full as client-go's pager does: {}",
        pods[2].1
    );
    assert!(
        run.stderr.contains(
            "I the list's continue token expired (410 Expired): listing again from the start in one request"
        ),
        "{}",
        run.stderr
    );
}

#[test]
fn the_expired_status_is_the_one_kube_apiserver_sends() {
    // Raw HTTP/1.1, so a sim serving plain HTTP.
    let lab = Lab::from_sim(
        SimServer::start_plain_http(Scenario::scale(1, 5, 1)).expect("start kube-sim"),
        "expired",
    );
    lab.sim().faults().arm(Fault::ExpireContinue);
    let url = format!("{}/api/v1/pods?limit=2&continue=abc", lab.sim().url());
    let token = lab.sim().token("admin").unwrap();
    let body = http_get(&url, token).expect("an answer");
    assert_eq!(body.0, 410);
    let v: serde_json::Value = serde_json::from_str(&body.1).unwrap();
    assert_eq!(v["kind"], "Status");
    assert_eq!(v["reason"], "Expired");
    assert_eq!(v["code"], 410);
    assert_eq!(v["message"], kube_sim::EXPIRED_CONTINUE_MESSAGE);
    assert_eq!(v["metadata"]["continue"], "abc");
}

/// A bare HTTP/1.1 GET (status, body) over a TCP stream: no client library in between.
fn http_get(url: &str, token: &str) -> std::io::Result<(u16, String)> {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").expect("http URL");
    let (host, path) = rest.split_once('/').expect("a path");
    let mut s = std::net::TcpStream::connect(host)?;
    let req = format!(
        "GET /{path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes())?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((code, body))
}

#[test]
fn a_connection_cut_mid_body_or_reset_is_retried() {
    let lab = Lab::start(Scenario::lab());
    let want = clean_answer(&lab);
    lab.sim().clear_requests();
    lab.sim()
        .faults()
        .arm(FaultRule::new(Fault::CloseMidBody).verb("list").resource("pods"));
    lab.sim().faults().arm(
        FaultRule::new(Fault::Disconnect)
            .verb("list")
            .resource("services"),
    );
    let run = lab.plugin(&["status", "-A", "--telemetry", "off", "-o", "json", "-v"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.json(), want);
    let pods = requests_for(&lab, "pods");
    assert_eq!(pods.len(), 2, "{pods:?}");
    assert_eq!(pods[0].2, "close mid-body");
    assert_eq!(pods[1].2, "");
    let svcs = requests_for(&lab, "services");
    assert_eq!(svcs.len(), 2, "{svcs:?}");
    assert_eq!(svcs[0].2, "disconnect");
    let retries: Vec<&str> = run.stderr.lines().filter(|l| l.starts_with("I retry ")).collect();
    assert_eq!(retries.len(), 2, "{}", run.stderr);
    assert!(
        retries
            .iter()
            .any(|l| l.contains("the connection closed in the middle of the response (200 OK)")),
        "{retries:?}"
    );
}

#[test]
fn a_connection_that_keeps_breaking_is_one_error_line() {
    let lab = Lab::start(Scenario::lab());
    lab.sim().faults().arm(
        FaultRule::new(Fault::CloseMidBody)
            .verb("list")
            .resource("pods")
            .always(),
    );
    let run = lab.plugin(&["status", "-A", "--telemetry", "off"]);
    let line = one_error_line(&run);
    assert!(
        line.starts_with("error: the connection to the Kubernetes API server at https://127.0.0.1:")
            && line.contains(" kept failing: GET /api/v1/pods?")
            && line.contains("the connection closed in the middle of the response (200 OK)")
            && line.contains("(gave up after 7 attempts in "),
        "{line}"
    );
    assert_eq!(requests_for(&lab, "pods").len(), 7);
}

#[test]
fn a_write_is_never_retried() {
    let lab = Lab::start(Scenario::lab());
    for fault in [
        Fault::TooManyRequests { retry_after: Some(1) },
        Fault::ServerError {
            code: 503,
            retry_after: None,
        },
        Fault::Disconnect,
    ] {
        lab.sim().clear_requests();
        lab.sim()
            .faults()
            .arm(FaultRule::new(fault.clone()).verb("patch").always());
        let run = lab.plugin(&["enable", "istioinaction", "--strict"]);
        assert_eq!(run.code, 1, "{fault:?}: {}{}", run.stdout, run.stderr);
        let errors: Vec<&str> = run.stderr.lines().filter(|l| l.starts_with("error: ")).collect();
        assert_eq!(errors.len(), 1, "{fault:?}: {}", run.stderr);
        assert_eq!(
            run.stderr.lines().last(),
            errors.first().copied(),
            "the error comes last"
        );
        let patches: Vec<_> = lab.requests().into_iter().filter(|r| r.verb == "patch").collect();
        assert_eq!(
            patches.len(),
            1,
            "{fault:?}: the write was sent once: {patches:?}"
        );
        let persisted: Vec<_> = lab
            .requests()
            .into_iter()
            .filter(|r| r.is_persisted_write())
            .collect();
        assert!(persisted.is_empty(), "{fault:?}: {persisted:#?}");
        lab.sim().faults().clear();
    }
    assert!(
        lab.sim()
            .cluster()
            .get(
                "security.istio.io/v1",
                "PeerAuthentication",
                "istioinaction",
                "default"
            )
            .is_none(),
        "nothing was written"
    );
}

#[test]
fn latency_is_waited_for_and_past_the_request_timeout_is_an_error() {
    let lab = Lab::start(Scenario::lab());
    let want = clean_answer(&lab);
    lab.sim()
        .faults()
        .arm(FaultRule::new(Fault::Latency(Duration::from_millis(150))).always());
    let run = lab.plugin(&[
        "status",
        "-A",
        "--telemetry",
        "off",
        "-o",
        "json",
        "--request-timeout",
        "5s",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.json(), want);

    lab.sim().faults().clear();
    lab.sim().clear_requests();
    lab.sim().faults().arm(
        FaultRule::new(Fault::Latency(Duration::from_secs(4)))
            .verb("list")
            .resource("pods"),
    );
    let run = lab.plugin(&["status", "-A", "--telemetry", "off", "--request-timeout", "1s"]);
    let line = one_error_line(&run);
    assert!(line.contains("timed out"), "{line}");
    // The fault fires once: had the timed-out list been retried, the retry would have
    // succeeded. (The sim logs a request when it answers; this one was abandoned.)
    assert_eq!(lab.sim().faults().pending(), 0);
}

#[test]
fn a_slow_exec_stream_is_waited_for() {
    let lab = Lab::start(Scenario::lab().exec_handler(mesh_handler));
    lab.put_yaml(&peer_authentication("istioinaction", "default", "STRICT", None));
    lab.sim()
        .faults()
        .arm(FaultRule::new(Fault::ExecSlow(Duration::from_secs(2))).times(2));
    let run = lab.plugin(&["probe", "web-api.istioinaction:8080", "-o", "json"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let doc = run.json();
    let results = doc["results"].as_array().expect("results");
    assert_eq!(results.len(), 2);
    assert_eq!(lab.sim().faults().pending(), 0, "both execs were slow");
    let faults: Vec<String> = lab
        .requests()
        .into_iter()
        .filter(|r| r.subresource == "exec")
        .map(|r| r.fault)
        .collect();
    assert_eq!(faults, ["slow exec 2000ms", "slow exec 2000ms"]);
}

#[test]
fn a_dropped_exec_stream_is_that_clients_inconclusive_result_never_a_pass() {
    let lab = Lab::start(Scenario::lab().exec_handler(mesh_handler));
    lab.put_yaml(&peer_authentication("istioinaction", "default", "STRICT", None));
    lab.sim()
        .faults()
        .arm(FaultRule::new(Fault::ExecDrop).path(&format!("*/pods/{MESH_SLEEP}/exec")));
    let run = lab.plugin(&["probe", "web-api.istioinaction:8080", "-o", "json"]);
    assert_eq!(
        run.code, 1,
        "an inconclusive probe fails: {}{}",
        run.stdout, run.stderr
    );
    let doc = run.json();
    let results = doc["results"].as_array().expect("results");
    let dropped = results
        .iter()
        .find(|r| r["pod"] == MESH_SLEEP)
        .expect("the meshed client's result");
    assert_eq!(dropped["verdict"], "inconclusive", "{dropped:#}");
    let text = dropped.to_string();
    assert!(
        text.contains("exec failed: ") && text.contains("broke off"),
        "the result says the exec broke off: {dropped:#}"
    );
    let other = results
        .iter()
        .find(|r| r["pod"] == PLAIN_SLEEP)
        .expect("the plain client's result");
    assert_eq!(other["verdict"], "pass", "{other:#}");
    assert!(
        lab.requests().iter().filter(|r| r.subresource == "exec").count() == 2,
        "an exec is not retried"
    );
}

#[test]
fn kubectl_itself_retries_the_sims_throttling() {
    if !have_kubectl("kubectl_itself_retries_the_sims_throttling") {
        return;
    }
    let lab = Lab::start(Scenario::lab());
    lab.sim().faults().arm(
        FaultRule::new(Fault::TooManyRequests { retry_after: Some(1) })
            .verb("list")
            .resource("pods"),
    );
    let run = lab.kubectl(&["get", "pods", "-A", "-o", "name"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("pod/"), "{}", run.stdout);
    let codes: Vec<u16> = requests_for(&lab, "pods").iter().map(|r| r.0).collect();
    assert_eq!(
        codes,
        [429, 200],
        "client-go understands the sim's 429 as a real one"
    );
}
