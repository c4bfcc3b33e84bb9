//! `pods/portforward` over WebSocket with kube-rs 5's `Api::<Pod>::portforward`.

use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use kube_sim::{Rule, Scenario, SimServer, User};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const WEB_API: &str = "web-api-7c8d9f6b4d-x2k8p";

async fn client(server: &SimServer, user: &str) -> Client {
    let kc = Kubeconfig::from_yaml(&server.kubeconfig_yaml(user)).expect("kubeconfig");
    let config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .expect("config");
    Client::try_from(config).expect("client")
}

/// A local HTTP server answering every request with `body` (one request per connection), and
/// the request lines it received.
async fn http_server(body: &'static str) -> (String, tokio::sync::mpsc::UnboundedReceiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut req = Vec::new();
                let mut buf = [0u8; 1024];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&req);
                let _ = tx.send(text.lines().next().unwrap_or("").to_string());
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(answer.as_bytes()).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    (addr, rx)
}

/// 4 MiB of text.
fn big_body() -> &'static str {
    static BODY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BODY.get_or_init(|| (0..4 * 1024 * 1024 / 64).map(|i| format!("{i:063}\n")).collect())
}

/// Sends one HTTP request through a forwarded stream and reads the whole answer.
async fn get<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(stream: &mut S, path: &str) -> String {
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(std::time::Duration::from_secs(10), stream.read_to_end(&mut out))
        .await
        .expect("answer in time")
        .unwrap();
    String::from_utf8(out).unwrap()
}

#[tokio::test]
async fn kube_rs_reaches_a_local_server_behind_a_pod_port() {
    let server = SimServer::start(Scenario::lab()).await.unwrap();
    let (addr, mut seen) = http_server("prometheus says hi").await;
    server
        .cluster()
        .forward_pod_port("istioinaction", "web-api-*", 9090, addr);
    let pods: Api<Pod> = Api::namespaced(client(&server, "admin").await, "istioinaction");
    let mut pf = pods.portforward(WEB_API, &[9090]).await.unwrap();
    let mut stream = pf.take_stream(9090).unwrap();
    let answer = get(&mut stream, "/api/v1/query?query=up").await;
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(answer.ends_with("\r\n\r\nprometheus says hi"), "{answer}");
    assert_eq!(seen.recv().await.unwrap(), "GET /api/v1/query?query=up HTTP/1.1");
    drop(stream);
    let (big_addr, _) = http_server(big_body()).await;
    server
        .cluster()
        .forward_pod_port("istioinaction", "web-api-*", 9091, big_addr);
    let mut big = pods.portforward(WEB_API, &[9091]).await.unwrap();
    let mut big_stream = big.take_stream(9091).unwrap();
    let started = std::time::Instant::now();
    let answer = get(&mut big_stream, "/big").await;
    eprintln!(
        "kube-rs portforward: {} bytes in {:?}",
        answer.len(),
        started.elapsed()
    );
    assert!(answer.ends_with(big_body()), "{} bytes", answer.len());
    drop(big_stream);
    drop(big);
    // The server ends the WebSocket once the target closed its connection (as the kubelet does);
    // kube-rs then fails to send its own Close (SendAfterClosing), so only the end is awaited.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), pf.join())
        .await
        .expect("the forward ends");
    let rec = server
        .requests()
        .into_iter()
        .find(|r| r.subresource == "portforward")
        .unwrap();
    assert_eq!(
        (
            rec.verb.as_str(),
            rec.namespace.as_str(),
            rec.name.as_str(),
            rec.status
        ),
        ("create", "istioinaction", WEB_API, 101)
    );
    assert!(!rec.is_persisted_write());
}

#[tokio::test]
async fn several_ports_in_one_connection_and_a_port_nothing_listens_on() {
    let server = SimServer::start(Scenario::lab()).await.unwrap();
    let (a, _) = http_server("first").await;
    let (b, _) = http_server("second").await;
    let cluster = server.cluster();
    cluster.forward_pod_port("istioinaction", WEB_API, 8080, a);
    cluster.forward_pod_port("istioinaction", WEB_API, 15020, b);
    let pods: Api<Pod> = Api::namespaced(client(&server, "admin").await, "istioinaction");
    let mut pf = pods.portforward(WEB_API, &[8080, 15020, 7777]).await.unwrap();
    let mut first = pf.take_stream(8080).unwrap();
    let mut second = pf.take_stream(15020).unwrap();
    let refused = pf.take_error(7777).unwrap();
    let (x, y) = tokio::join!(get(&mut first, "/a"), get(&mut second, "/b"));
    assert!(x.ends_with("first"), "{x}");
    assert!(y.ends_with("second"), "{y}");
    let error = tokio::time::timeout(std::time::Duration::from_secs(10), refused)
        .await
        .unwrap()
        .expect("an error for the port nothing listens on");
    assert!(
        error.starts_with("error forwarding port 7777 to pod ")
            && error.ends_with("dial tcp4 127.0.0.1:7777: connect: connection refused"),
        "{error}"
    );
    // A target that goes away: the error channel says the connection was refused.
    let gone = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gone_addr = gone.local_addr().unwrap();
    drop(gone);
    cluster.forward_pod_port("istioinaction", WEB_API, 8080, gone_addr.to_string());
    let mut pf2 = pods.portforward(WEB_API, &[8080]).await.unwrap();
    let err = tokio::time::timeout(std::time::Duration::from_secs(10), pf2.take_error(8080).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(err.contains("error forwarding port 8080"), "{err}");
    drop(pf2);
    drop(pf);
}

#[tokio::test]
async fn rbac_needs_create_on_pods_portforward() {
    let scenario = Scenario::lab()
        .user(User::new("viewer", "viewer-token").allow(Rule::new(&["get", "list"], &["pods"])))
        .user(
            User::new("forwarder", "forwarder-token")
                .allow(Rule::new(&["create"], &["pods/portforward"]).in_namespaces(&["istioinaction"])),
        );
    let server = SimServer::start(scenario).await.unwrap();
    let (addr, _) = http_server("ok").await;
    server.cluster().forward_pod_port("*", "*", 9090, addr);

    let viewer: Api<Pod> = Api::namespaced(client(&server, "viewer").await, "istioinaction");
    let err = match viewer.portforward(WEB_API, &[9090]).await {
        Ok(_) => panic!("port-forward without pods/portforward succeeded"),
        Err(e) => e,
    };
    let text = err.to_string();
    assert!(
        text.contains(
            "pods \"web-api-7c8d9f6b4d-x2k8p\" is forbidden: User \"viewer\" cannot create resource \"pods/portforward\" in API group \"\" in the namespace \"istioinaction\""
        ),
        "{text}"
    );
    let denied = server
        .requests()
        .into_iter()
        .find(|r| r.subresource == "portforward")
        .unwrap();
    assert_eq!((denied.user.as_str(), denied.status), ("viewer", 403));

    let forwarder: Api<Pod> = Api::namespaced(client(&server, "forwarder").await, "istioinaction");
    let mut pf = forwarder.portforward(WEB_API, &[9090]).await.unwrap();
    let mut s = pf.take_stream(9090).unwrap();
    assert!(get(&mut s, "/").await.ends_with("ok"));
    drop(s);
    drop(pf);
    let elsewhere: Api<Pod> = Api::namespaced(client(&server, "forwarder").await, "default");
    let sleep = server.cluster().list("v1", "Pod", Some("default"))[0]["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(elsewhere.portforward(&sleep, &[9090]).await.is_err());
}

#[tokio::test]
async fn missing_pods_and_plain_requests_get_api_errors() {
    let server = SimServer::start(Scenario::lab()).await.unwrap();
    let pods: Api<Pod> = Api::namespaced(client(&server, "admin").await, "istioinaction");
    let err = pods
        .portforward("nope", &[80])
        .await
        .err()
        .expect("a missing pod");
    assert!(err.to_string().contains("pods \"nope\" not found"), "{err}");

    // Without a WebSocket upgrade the server says what it speaks, as a Status (asked in raw
    // HTTP/1.1, so of a sim serving plain HTTP).
    let plain = tokio::task::spawn_blocking(|| SimServer::start_plain_http(Scenario::lab()))
        .await
        .unwrap()
        .unwrap();
    let addr = plain.url().trim_start_matches("http://").to_string();
    let mut sock = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let request = format!(
        "GET /api/v1/namespaces/istioinaction/pods/{WEB_API}/portforward?ports=80 HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
        kube_sim::ADMIN_TOKEN
    );
    sock.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    sock.read_to_end(&mut out).await.unwrap();
    let answer = String::from_utf8_lossy(&out);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(
        answer.contains("\"reason\":\"BadRequest\"") && answer.contains("over WebSocket"),
        "{answer}"
    );
}

fn kubectl_available(test: &str) -> bool {
    if std::path::Path::new("/usr/bin/kubectl").exists() {
        return true;
    }
    assert_ne!(
        std::env::var("CI").as_deref(),
        Ok("true"),
        "/usr/bin/kubectl is required when CI=true"
    );
    eprintln!("SKIPPED {test}: /usr/bin/kubectl not found");
    false
}

/// Reads kubectl's "Forwarding from 127.0.0.1:PORT -> N" line.
fn forwarded_port(stdout: &mut std::process::ChildStdout) -> u16 {
    use std::io::BufRead;
    let mut line = String::new();
    std::io::BufReader::new(stdout).read_line(&mut line).unwrap();
    line.strip_prefix("Forwarding from 127.0.0.1:")
        .and_then(|r| r.split(' ').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("unexpected kubectl output: {line:?}"))
}

#[tokio::test]
async fn the_real_kubectl_port_forward_tunnels_spdy_over_websocket() {
    if !kubectl_available("the_real_kubectl_port_forward_tunnels_spdy_over_websocket") {
        return;
    }
    let server = SimServer::start(Scenario::lab()).await.unwrap();
    let (addr, mut seen) = http_server("through kubectl").await;
    server
        .cluster()
        .forward_pod_port("istioinaction", "web-api-*", 9090, addr);
    let dir = std::env::temp_dir().join(format!("kube-sim-pf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let kubeconfig = dir.join("kubeconfig");
    server.write_kubeconfig(&kubeconfig, "admin").unwrap();
    let mut child = std::process::Command::new("/usr/bin/kubectl")
        .args([
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
            "port-forward",
            "-n",
            "istioinaction",
        ])
        .args([WEB_API, ":9090", ":7777"])
        .env("KUBECACHEDIR", dir.join("cache"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let (local, stdout) = tokio::task::spawn_blocking(move || (forwarded_port(&mut stdout), stdout))
        .await
        .unwrap();
    for path in ["/first", "/second"] {
        let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", local))
            .await
            .unwrap();
        let answer = get(&mut conn, path).await;
        assert!(
            answer.starts_with("HTTP/1.1 200 OK") && answer.ends_with("through kubectl"),
            "{answer}"
        );
        assert_eq!(seen.recv().await.unwrap(), format!("GET {path} HTTP/1.1"));
    }
    // A large answer (a Prometheus query result can be megabytes) arrives whole.
    let (big_addr, _) = http_server(big_body()).await;
    server
        .cluster()
        .forward_pod_port("istioinaction", "web-api-*", 9090, big_addr);
    let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", local))
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let answer = get(&mut conn, "/big").await;
    eprintln!(
        "kubectl port-forward: {} bytes in {:?}",
        answer.len(),
        started.elapsed()
    );
    assert!(answer.ends_with(big_body()), "{} bytes", answer.len());
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    drop(stdout);
    let _ = std::fs::remove_dir_all(&dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("error"), "{stderr}");
    let rec = server
        .requests()
        .into_iter()
        .find(|r| r.subresource == "portforward" && r.status == 101)
        .expect("an upgraded port-forward request");
    assert_eq!((rec.verb.as_str(), rec.user.as_str()), ("create", "admin"));
}

#[tokio::test]
async fn kubectl_port_forward_reports_a_port_nothing_listens_on() {
    if !kubectl_available("kubectl_port_forward_reports_a_port_nothing_listens_on") {
        return;
    }
    let server = SimServer::start(Scenario::lab()).await.unwrap();
    let dir = std::env::temp_dir().join(format!("kube-sim-pf2-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let kubeconfig = dir.join("kubeconfig");
    server.write_kubeconfig(&kubeconfig, "admin").unwrap();
    let mut child = std::process::Command::new("/usr/bin/kubectl")
        .args([
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
            "port-forward",
            "-n",
            "istioinaction",
        ])
        .args([WEB_API, ":7777"])
        .env("KUBECACHEDIR", dir.join("cache"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let (local, _stdout) = tokio::task::spawn_blocking(move || (forwarded_port(&mut stdout), stdout))
        .await
        .unwrap();
    let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", local))
        .await
        .unwrap();
    let _ = conn.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), conn.read_to_end(&mut out)).await;
    assert!(
        out.is_empty(),
        "nothing answers: {}",
        String::from_utf8_lossy(&out)
    );
    // kubectl 1.32 ends port-forward when a port's error stream reports a failure.
    let status = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        tokio::task::spawn_blocking(move || child.wait_with_output()),
    )
    .await
    .expect("kubectl ends")
    .unwrap()
    .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let stderr = String::from_utf8_lossy(&status.stderr);
    assert!(
        stderr.contains("error forwarding port 7777 to pod") && stderr.contains("connection refused"),
        "{stderr}"
    );
}
