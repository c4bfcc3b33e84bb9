//! `pods/portforward` over WebSocket, the way kube-rs 5's `Api::<Pod>::portforward` speaks it.
//!
//! The protocol (the API server's WebSocket port-forward, subprotocol `v4.channel.k8s.io`):
//! every forwarded port has two channels, data `2*i` and error `2*i+1` (in the order of the
//! `ports` query parameter). Each message is one binary frame whose first byte is the channel.
//! The server opens each channel with a frame carrying the port as two little-endian bytes;
//! after that, data frames carry bytes to and from the port, and the error channel carries at
//! most one message (the port is then unusable). When every port's connection has ended the
//! server closes the WebSocket.
//!
//! kubectl's SPDY tunnelled through the WebSocket (`SPDY/3.1+portforward.k8s.io`) is handed to
//! [`crate::spdy`].
//!
//! A pod's port reaches a local address a test names with [`Cluster::forward_pod_port`] (a real
//! Prometheus behind a simulated pod, for example); a port with no target behaves like a port
//! nothing listens on: the error channel says the connection was refused.

use axum::extract::FromRequestParts;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::mpsc;

use crate::cluster::Cluster;
use crate::server::{
    App, Identity, Query, RequestRecord, authorize, error_response, not_found_page, parse_target,
};
use crate::spdy;
use crate::status::ApiError;
use crate::util::{self, glob_match};

/// The WebSocket subprotocols served, in order of preference.
const PROTOCOLS: [&str; 2] = ["v4.channel.k8s.io", "channel.k8s.io"];

/// How long a connection to a forwarding target may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// After the client closed, how long the targets get to finish their answers.
const LINGER: Duration = Duration::from_secs(5);

/// Where pod ports lead (see [`Cluster::forward_pod_port`]).
#[derive(Default)]
pub(crate) struct PortForwards {
    rules: Mutex<Vec<ForwardRule>>,
}

#[derive(Clone, Debug)]
struct ForwardRule {
    namespace: String,
    pod: String,
    port: u16,
    target: String,
}

impl PortForwards {
    pub(crate) fn target(&self, namespace: &str, pod: &str, port: u16) -> Option<String> {
        let rules = self.rules.lock().unwrap_or_else(|e| e.into_inner());
        rules
            .iter()
            .rev()
            .find(|r| r.port == port && glob_match(&r.namespace, namespace) && glob_match(&r.pod, pod))
            .map(|r| r.target.clone())
    }
}

impl Cluster {
    /// Makes `port` of the pods matching `pod` (a glob, `*` and `?`) in `namespace` lead to the
    /// local TCP address `target` (e.g. `"127.0.0.1:9090"`) for `pods/portforward`: every
    /// forwarded connection opens a new connection to `target`. The latest matching call wins.
    /// Ports without a target refuse connections, like a port nothing listens on.
    pub fn forward_pod_port(&self, namespace: &str, pod: &str, port: u16, target: impl Into<String>) {
        self.state
            .port_forwards
            .rules
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(ForwardRule {
                namespace: namespace.to_string(),
                pod: pod.to_string(),
                port,
                target: target.into(),
            });
    }

    /// Forgets every [`Cluster::forward_pod_port`] for this port of matching pods (the same
    /// `namespace` and `pod` patterns as given).
    pub fn stop_forwarding_pod_port(&self, namespace: &str, pod: &str, port: u16) {
        self.state
            .port_forwards
            .rules
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|r| !(r.namespace == namespace && r.pod == pod && r.port == port));
    }
}

/// The ports of a request: `ports=80,9090` (kube-rs) or repeated `ports=`/`port=` parameters.
fn requested_ports(query: &Query) -> Result<Vec<u16>, ApiError> {
    let mut ports = Vec::new();
    for value in query.all("ports").into_iter().chain(query.all("port")) {
        for p in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match p.parse::<u16>() {
                Ok(n) if n > 0 => ports.push(n),
                _ => {
                    return Err(ApiError::bad_request(format!(
                        "invalid port {p:?}: must be between 1 and 65535, inclusive"
                    )));
                }
            }
        }
    }
    if ports.is_empty() {
        return Err(ApiError::bad_request("at least one port must be specified"));
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(dup) = ports.iter().find(|p| !seen.insert(**p)) {
        return Err(ApiError::bad_request(format!("duplicate port {dup}")));
    }
    Ok(ports)
}

/// `GET .../pods/NAME/portforward?ports=...` with a WebSocket upgrade.
pub(crate) async fn request(
    app: &Arc<App>,
    id: &Identity,
    parts: &mut axum::http::request::Parts,
    query: &Query,
    rec: &mut RequestRecord,
) -> Response {
    let Some(target) = parse_target(&rec.path) else {
        return error_response(&not_found_page());
    };
    rec.api_group = String::new();
    rec.resource = target.plural.clone();
    rec.subresource = target.sub.clone().unwrap_or_default();
    rec.namespace = target.namespace.clone().unwrap_or_default();
    rec.name = target.name.clone().unwrap_or_default();
    rec.verb = "create".into();
    let reg = app.cluster.registry();
    let (Some(t), Some(ns), Some(name)) = (
        reg.lookup(&target.group, &target.version, &target.plural),
        target.namespace.clone(),
        target.name.clone(),
    ) else {
        return error_response(&not_found_page());
    };
    if let Err(e) = authorize(id, "create", "", "pods", Some("portforward"), &ns, &name) {
        return error_response(&e);
    }
    let Some(pod) = app.cluster.get_obj(&t, &ns, &name) else {
        return error_response(&ApiError::not_found(&t, &name));
    };
    let phase = util::str_at(&pod, "/status/phase");
    if phase != "Running" {
        return error_response(&ApiError::bad_request(format!(
            "unable to upgrade connection: pod {name} is not running (phase {phase:?})"
        )));
    }
    let ws = match WebSocketUpgrade::from_request_parts(parts, &()).await {
        Ok(ws) => ws,
        Err(_) => {
            return error_response(&ApiError::bad_request(
                "Upgrade request required: kube-sim serves portforward over WebSocket only (v4.channel.k8s.io, SPDY/3.1+portforward.k8s.io), not as a SPDY upgrade",
            ));
        }
    };
    let offered = parts
        .headers
        .get(axum::http::header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    if offered.split(',').any(|p| p.trim() == spdy::TUNNEL_PROTOCOL) {
        // kubectl: SPDY tunnelled through the WebSocket; the ports come with each stream.
        let pod = spdy::Pod {
            namespace: ns,
            uid: util::str_at(&pod, "/metadata/uid").to_string(),
            name,
        };
        let cluster = app.cluster.clone();
        return ws
            .protocols([spdy::TUNNEL_PROTOCOL])
            .on_upgrade(move |socket| tunnel(socket, cluster, pod))
            .into_response();
    }
    if !offered.is_empty() && !offered.split(',').any(|p| PROTOCOLS.contains(&p.trim())) {
        return error_response(&ApiError::bad_request(format!(
            "unable to upgrade connection: kube-sim serves portforward over WebSocket with {}, {} (offered: {offered})",
            PROTOCOLS.join(", "),
            spdy::TUNNEL_PROTOCOL
        )));
    }
    let ports = match requested_ports(query) {
        Ok(p) => p,
        Err(e) => return error_response(&e),
    };
    let uid = util::str_at(&pod, "/metadata/uid").to_string();
    let targets: Vec<Option<String>> = ports
        .iter()
        .map(|p| app.cluster.state.port_forwards.target(&ns, &name, *p))
        .collect();
    let pod_ref = PodRef {
        namespace: ns,
        name,
        uid,
    };
    ws.protocols(PROTOCOLS)
        .on_upgrade(move |socket| serve(socket, pod_ref, ports, targets))
        .into_response()
}

/// Carries the SPDY byte stream in WebSocket binary messages, both ways.
async fn tunnel(socket: WebSocket, cluster: Cluster, pod: spdy::Pod) {
    let (mut sink, mut stream) = socket.split();
    let (in_tx, in_rx) = mpsc::channel::<Vec<u8>>(64);
    let (out_tx, mut out_rx) = mpsc::channel::<Vec<u8>>(64);
    let writer = tokio::spawn(async move {
        while let Some(bytes) = out_rx.recv().await {
            if sink.send(Message::Binary(bytes.into())).await.is_err() {
                return;
            }
        }
        let _ = sink
            .send(Message::Close(Some(CloseFrame {
                code: 1000,
                reason: "".into(),
            })))
            .await;
    });
    let reader = tokio::spawn(async move {
        while let Some(Ok(m)) = stream.next().await {
            match m {
                Message::Binary(b) if in_tx.send(b.to_vec()).await.is_err() => return,
                Message::Close(_) => return,
                _ => {}
            }
        }
    });
    spdy::serve(cluster, pod, in_rx, out_tx).await;
    reader.abort();
    let _ = tokio::time::timeout(Duration::from_secs(5), writer).await;
}

struct PodRef {
    namespace: String,
    name: String,
    uid: String,
}

fn frame(channel: u8, data: &[u8]) -> Message {
    let mut v = Vec::with_capacity(data.len() + 1);
    v.push(channel);
    v.extend_from_slice(data);
    Message::Binary(v.into())
}

/// What the per-port reader tasks report.
enum Event {
    Frame(Message),
    Ended,
}

fn refused(pod: &PodRef, port: u16, why: &str) -> String {
    format!(
        "error forwarding port {port} to pod {}, uid : failed to connect to localhost:{port} inside namespace \"{}/{}\": {why}",
        pod.uid, pod.namespace, pod.name
    )
}

async fn serve(socket: WebSocket, pod: PodRef, ports: Vec<u16>, targets: Vec<Option<String>>) {
    let (mut sink, mut stream) = socket.split();
    for (i, port) in ports.iter().enumerate() {
        let prefix = port.to_le_bytes();
        let data = (2 * i) as u8;
        if sink.send(frame(data, &prefix)).await.is_err()
            || sink.send(frame(data + 1, &prefix)).await.is_err()
        {
            return;
        }
    }
    let (tx, mut rx) = mpsc::channel::<Event>(64);
    let mut writers: Vec<Option<OwnedWriteHalf>> = Vec::with_capacity(ports.len());
    let mut open = 0usize;
    for (i, (port, target)) in ports.iter().zip(&targets).enumerate() {
        let error_channel = (2 * i + 1) as u8;
        let connected = match target {
            None => Err(format!("dial tcp4 127.0.0.1:{port}: connect: connection refused")),
            Some(addr) => {
                match tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(addr)).await {
                    Ok(Ok(s)) => Ok(s),
                    Ok(Err(e)) => Err(format!("dial tcp4 127.0.0.1:{port}: {e}")),
                    Err(_) => Err(format!("dial tcp4 127.0.0.1:{port}: i/o timeout")),
                }
            }
        };
        match connected {
            Ok(tcp) => {
                let (mut read, write) = tcp.into_split();
                writers.push(Some(write));
                open += 1;
                let tx = tx.clone();
                let data_channel = (2 * i) as u8;
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 32 * 1024];
                    loop {
                        match read.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => {
                                if tx
                                    .send(Event::Frame(frame(data_channel, &buf[..n])))
                                    .await
                                    .is_err()
                                {
                                    return;
                                }
                            }
                        }
                    }
                    let _ = tx.send(Event::Ended).await;
                });
            }
            Err(why) => {
                writers.push(None);
                let msg = refused(&pod, *port, &why);
                if sink.send(frame(error_channel, msg.as_bytes())).await.is_err() {
                    return;
                }
            }
        }
    }
    drop(tx);
    let mut client_closed = false;
    let mut deadline: Option<tokio::time::Instant> = None;
    while open > 0 {
        tokio::select! {
            event = rx.recv() => match event {
                Some(Event::Frame(m)) => {
                    if sink.send(m).await.is_err() {
                        return;
                    }
                }
                Some(Event::Ended) => open -= 1,
                None => break,
            },
            message = stream.next(), if !client_closed => match message {
                Some(Ok(Message::Binary(data))) => {
                    let Some((&channel, payload)) = data.split_first() else { continue };
                    let index = usize::from(channel / 2);
                    if channel % 2 == 0
                        && !payload.is_empty()
                        && let Some(Some(w)) = writers.get_mut(index)
                        && w.write_all(payload).await.is_err()
                    {
                        writers[index] = None;
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                    client_closed = true;
                    for w in writers.iter_mut().flatten() {
                        let _ = w.shutdown().await;
                    }
                    deadline = Some(tokio::time::Instant::now() + LINGER);
                }
                Some(Ok(_)) => {}
            },
            _ = tokio::time::sleep_until(deadline.unwrap_or_else(tokio::time::Instant::now)), if deadline.is_some() => break,
        }
    }
    let _ = sink
        .send(Message::Close(Some(CloseFrame {
            code: 1000,
            reason: "".into(),
        })))
        .await;
    if !client_closed {
        // Drain until the client closes: closing with its input unread would reset the
        // connection and could lose the frames above.
        let _ = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(Ok(m)) = stream.next().await {
                if matches!(m, Message::Close(_)) {
                    break;
                }
            }
        })
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Query {
        Query(crate::server::parse_query(s))
    }

    #[test]
    fn ports_come_comma_separated_or_repeated() {
        assert_eq!(requested_ports(&q("ports=80%2C9090")).unwrap(), [80, 9090]);
        assert_eq!(requested_ports(&q("ports=80&ports=81")).unwrap(), [80, 81]);
        assert_eq!(requested_ports(&q("port=15020")).unwrap(), [15020]);
        assert!(requested_ports(&q("")).is_err());
        assert!(requested_ports(&q("ports=0")).is_err());
        assert!(requested_ports(&q("ports=70000")).is_err());
        assert!(requested_ports(&q("ports=80,80")).is_err());
    }

    #[test]
    fn the_latest_matching_target_wins() {
        let f = PortForwards::default();
        f.rules.lock().unwrap().push(ForwardRule {
            namespace: "ns".into(),
            pod: "prom-*".into(),
            port: 9090,
            target: "127.0.0.1:1".into(),
        });
        f.rules.lock().unwrap().push(ForwardRule {
            namespace: "ns".into(),
            pod: "prom-0".into(),
            port: 9090,
            target: "127.0.0.1:2".into(),
        });
        assert_eq!(f.target("ns", "prom-0", 9090).as_deref(), Some("127.0.0.1:2"));
        assert_eq!(f.target("ns", "prom-1", 9090).as_deref(), Some("127.0.0.1:1"));
        assert_eq!(f.target("ns", "prom-1", 9091), None);
        assert_eq!(f.target("other", "prom-1", 9090), None);
    }
}
