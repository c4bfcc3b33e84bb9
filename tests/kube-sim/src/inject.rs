//! What the cluster adds to pods: Istio's sidecar injection (the mutating
//! webhook) and a Running status (scheduler and kubelet).

use serde_json::{Value, json};

use crate::util;

/// Injects the classic sidecar (`istio-init` + `istio-proxy`) when the
/// namespace asks for it, the pod does not opt out and is not injected yet.
pub(crate) fn maybe_inject(pod: &mut Value, namespace: Option<&Value>) {
    let ns_label =
        |k: &str| namespace.and_then(|n| n.pointer(&format!("/metadata/labels/{}", k.replace('/', "~1"))));
    let injection = ns_label("istio-injection").and_then(Value::as_str);
    let rev = ns_label("istio.io/rev").and_then(Value::as_str);
    let pod_label = pod
        .pointer("/metadata/labels/sidecar.istio.io~1inject")
        .and_then(Value::as_str);
    let pod_annotation = pod
        .pointer("/metadata/annotations/sidecar.istio.io~1inject")
        .and_then(Value::as_str);
    let wanted = match (injection, rev) {
        (Some("disabled"), _) => false,
        (Some("enabled"), _) | (_, Some(_)) => true,
        _ => pod_label == Some("true"),
    };
    if !wanted
        || pod_label == Some("false")
        || pod_annotation == Some("false")
        || pod
            .pointer("/metadata/annotations/sidecar.istio.io~1status")
            .is_some()
        || pod.pointer("/spec/hostNetwork") == Some(&Value::Bool(true))
    {
        return;
    }
    inject(pod, rev.unwrap_or("default"));
}

/// Injects unconditionally.
pub(crate) fn inject(pod: &mut Value, revision: &str) {
    let ns = util::str_at(pod, "/metadata/namespace").to_string();
    let labels = pod
        .pointer("/metadata/labels")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let app = labels
        .get("app.kubernetes.io/name")
        .or_else(|| labels.get("app"))
        .and_then(Value::as_str)
        .unwrap_or_else(|| util::str_at(pod, "/metadata/name"))
        .to_string();
    let version = labels
        .get("app.kubernetes.io/version")
        .or_else(|| labels.get("version"))
        .and_then(Value::as_str)
        .unwrap_or("latest")
        .to_string();
    let containers: Vec<Value> = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let app_containers: Vec<&str> = containers
        .iter()
        .filter_map(|c| c.get("name").and_then(Value::as_str))
        .collect();
    let first = app_containers.first().copied().unwrap_or("app").to_string();
    let pod_ports: Vec<Value> = containers
        .iter()
        .flat_map(|c| {
            c.get("ports")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        })
        .map(|p| {
            let mut o = json!({"containerPort": p.get("containerPort").cloned().unwrap_or(json!(0))});
            if let Some(n) = p.get("name") {
                o = json!({"name": n, "containerPort": p["containerPort"]});
            }
            if let Some(proto) = p.get("protocol") {
                o["protocol"] = proto.clone();
            }
            o
        })
        .collect();
    let ports_env = if pod_ports.is_empty() {
        "[\n]".to_string()
    } else {
        let lines: Vec<String> = pod_ports.iter().map(|p| format!("    {p}")).collect();
        format!("[\n{}\n]", lines.join("\n,"))
    };
    let owner = pod
        .pointer("/metadata/ownerReferences/0")
        .map(|o| {
            let kind = util::str_at(o, "/kind");
            let name = util::str_at(o, "/name");
            // The injector names the Deployment when the owner is its ReplicaSet.
            match (kind, name.rsplit_once('-')) {
                ("ReplicaSet", Some((deploy, _))) => {
                    format!("kubernetes://apis/apps/v1/namespaces/{ns}/deployments/{deploy}")
                }
                _ => format!(
                    "kubernetes://apis/v1/namespaces/{ns}/pods/{}",
                    util::str_at(pod, "/metadata/name")
                ),
            }
        })
        .unwrap_or_else(|| {
            format!(
                "kubernetes://apis/v1/namespaces/{ns}/pods/{}",
                util::str_at(pod, "/metadata/name")
            )
        });
    let workload = owner.rsplit('/').next().unwrap_or(&app).to_string();
    let status = json!({
        "initContainers": ["istio-init"],
        "containers": ["istio-proxy"],
        "volumes": ["workload-socket", "credential-socket", "workload-certs", "istio-envoy", "istio-data",
            "istio-podinfo", "istio-token", "istiod-ca-cert", "istio-ca-crl"],
        "imagePullSecrets": null,
        "revision": revision,
    });
    let meta = &mut pod["metadata"];
    for (k, v) in [
        ("istio.io/rev", revision.to_string()),
        ("kubectl.kubernetes.io/default-container", first.clone()),
        ("kubectl.kubernetes.io/default-logs-container", first.clone()),
        ("prometheus.io/path", "/stats/prometheus".into()),
        ("prometheus.io/port", "15020".into()),
        ("prometheus.io/scrape", "true".into()),
        ("sidecar.istio.io/status", status.to_string()),
    ] {
        meta["annotations"][k] = json!(v);
    }
    meta["labels"]["security.istio.io/tlsMode"] = json!("istio");
    meta["labels"]["service.istio.io/canonical-name"] = json!(app);
    meta["labels"]["service.istio.io/canonical-revision"] = json!(version);
    let proxy_image = "docker.io/istio/proxyv2:1.27.1";
    let resources =
        json!({"limits": {"cpu": "2", "memory": "1Gi"}, "requests": {"cpu": "100m", "memory": "128Mi"}});
    let init = json!({
        "name": "istio-init",
        "image": proxy_image,
        "args": ["istio-iptables", "-p", "15001", "-z", "15006", "-u", "1337", "-m", "REDIRECT", "-i", "*", "-x", "",
            "-b", "*", "-d", "15090,15021,15020", "--log_output_level=default:info"],
        "resources": resources,
        "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"add": ["NET_ADMIN", "NET_RAW"], "drop": ["ALL"]},
            "privileged": false, "readOnlyRootFilesystem": false, "runAsGroup": 0, "runAsNonRoot": false, "runAsUser": 0},
    });
    let field_env = |name: &str, path: &str| json!({"name": name, "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": path}}});
    let proxy = json!({
        "name": "istio-proxy",
        "image": proxy_image,
        "args": ["proxy", "sidecar", "--domain", "$(POD_NAMESPACE).svc.cluster.local", "--proxyLogLevel=warning",
            "--proxyComponentLogLevel=misc:error", "--log_output_level=default:info"],
        "env": [
            {"name": "PILOT_CERT_PROVIDER", "value": "istiod"},
            {"name": "CA_ADDR", "value": "istiod.istio-system.svc:15012"},
            field_env("POD_NAME", "metadata.name"),
            field_env("POD_NAMESPACE", "metadata.namespace"),
            field_env("INSTANCE_IP", "status.podIP"),
            field_env("SERVICE_ACCOUNT", "spec.serviceAccountName"),
            field_env("HOST_IP", "status.hostIP"),
            {"name": "ISTIO_CPU_LIMIT", "valueFrom": {"resourceFieldRef": {"divisor": "0", "resource": "limits.cpu"}}},
            {"name": "PROXY_CONFIG", "value": "{}\n"},
            {"name": "ISTIO_META_POD_PORTS", "value": ports_env},
            {"name": "ISTIO_META_APP_CONTAINERS", "value": app_containers.join(",")},
            {"name": "GOMEMLIMIT", "valueFrom": {"resourceFieldRef": {"divisor": "0", "resource": "limits.memory"}}},
            {"name": "ISTIO_META_CLUSTER_ID", "value": "Kubernetes"},
            field_env("ISTIO_META_NODE_NAME", "spec.nodeName"),
            {"name": "ISTIO_META_INTERCEPTION_MODE", "value": "REDIRECT"},
            {"name": "ISTIO_META_WORKLOAD_NAME", "value": workload},
            {"name": "ISTIO_META_OWNER", "value": owner},
            {"name": "ISTIO_META_MESH_ID", "value": "cluster.local"},
            {"name": "TRUST_DOMAIN", "value": "cluster.local"},
        ],
        "ports": [{"containerPort": 15090, "name": "http-envoy-prom", "protocol": "TCP"}],
        "readinessProbe": {"failureThreshold": 4, "httpGet": {"path": "/healthz/ready", "port": 15021, "scheme": "HTTP"},
            "periodSeconds": 15, "successThreshold": 1, "timeoutSeconds": 3},
        "resources": resources,
        "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}, "privileged": false,
            "readOnlyRootFilesystem": true, "runAsGroup": 1337, "runAsNonRoot": true, "runAsUser": 1337},
        "startupProbe": {"failureThreshold": 600, "httpGet": {"path": "/healthz/ready", "port": 15021, "scheme": "HTTP"},
            "periodSeconds": 1, "successThreshold": 1, "timeoutSeconds": 3},
        "volumeMounts": [
            {"mountPath": "/var/run/secrets/workload-spiffe-uds", "name": "workload-socket"},
            {"mountPath": "/var/run/secrets/credential-uds", "name": "credential-socket"},
            {"mountPath": "/var/run/secrets/workload-spiffe-credentials", "name": "workload-certs"},
            {"mountPath": "/var/run/secrets/istio", "name": "istiod-ca-cert"},
            {"mountPath": "/var/run/secrets/istio/crl", "name": "istio-ca-crl"},
            {"mountPath": "/var/lib/istio/data", "name": "istio-data"},
            {"mountPath": "/etc/istio/proxy", "name": "istio-envoy"},
            {"mountPath": "/var/run/secrets/tokens", "name": "istio-token"},
            {"mountPath": "/etc/istio/pod", "name": "istio-podinfo"},
        ],
    });
    let spec = &mut pod["spec"];
    let mut inits = spec
        .get("initContainers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    inits.insert(0, init);
    spec["initContainers"] = Value::Array(inits);
    let mut cs = containers;
    cs.push(proxy);
    spec["containers"] = Value::Array(cs);
    let mut vols = spec
        .get("volumes")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    vols.extend([
        json!({"name": "workload-socket", "emptyDir": {}}),
        json!({"name": "credential-socket", "emptyDir": {}}),
        json!({"name": "workload-certs", "emptyDir": {}}),
        json!({"name": "istio-envoy", "emptyDir": {"medium": "Memory"}}),
        json!({"name": "istio-data", "emptyDir": {}}),
        json!({"name": "istio-podinfo", "downwardAPI": {"defaultMode": 420, "items": [
            {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.labels"}, "path": "labels"},
            {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.annotations"}, "path": "annotations"}]}}),
        json!({"name": "istio-token", "projected": {"defaultMode": 420, "sources": [
            {"serviceAccountToken": {"audience": "istio-ca", "expirationSeconds": 43200, "path": "istio-token"}}]}}),
        json!({"name": "istiod-ca-cert", "configMap": {"defaultMode": 420, "name": "istio-ca-root-cert"}}),
        json!({"name": "istio-ca-crl", "configMap": {"defaultMode": 420, "name": "istio-ca-crl", "optional": true}}),
    ]);
    spec["volumes"] = Value::Array(vols);
}

/// A Running status with every container ready.
pub(crate) fn running_status(pod: &mut Value, ip: &str) {
    let now = util::str_at(pod, "/metadata/creationTimestamp").to_string();
    let now = if now.is_empty() { util::now_rfc3339() } else { now };
    let statuses = |key: &str, done: bool| -> Vec<Value> {
        pod.pointer(&format!("/spec/{key}"))
            .and_then(Value::as_array)
            .map(|cs| {
                cs.iter()
                    .map(|c| {
                        let name = util::str_at(c, "/name");
                        let state = if done {
                            json!({"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": now, "finishedAt": now}})
                        } else {
                            json!({"running": {"startedAt": now}})
                        };
                        json!({"name": name, "image": c.get("image").cloned().unwrap_or(json!("")),
                            "imageID": "", "containerID": format!("containerd://{}", util::new_uid().replace('-', "")),
                            "ready": !done, "restartCount": 0, "started": !done, "state": state})
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let containers = statuses("containers", false);
    let inits = statuses("initContainers", true);
    let cond =
        |t: &str| json!({"type": t, "status": "True", "lastProbeTime": null, "lastTransitionTime": now});
    let mut status = json!({
        "phase": "Running",
        "conditions": [cond("PodReadyToStartContainers"), cond("Initialized"), cond("Ready"), cond("ContainersReady"), cond("PodScheduled")],
        "hostIP": "172.18.0.2",
        "hostIPs": [{"ip": "172.18.0.2"}],
        "podIP": ip,
        "podIPs": [{"ip": ip}],
        "startTime": now,
        "qosClass": "Burstable",
        "containerStatuses": containers,
    });
    if !inits.is_empty() {
        status["initContainerStatuses"] = Value::Array(inits);
    }
    pod["status"] = status;
}
