//! Grouping pods into workloads from their ownerReferences alone (no extra API calls).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::model::PodInfo;

/// A workload: the top-level controller of a set of pods.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct WorkloadRef {
    /// Namespace.
    pub namespace: String,
    /// Kind: `Deployment`, `StatefulSet`, `DaemonSet`, `Job`, `CronJob`, `ReplicaSet` (bare),
    /// `Pod` (no owner), or any other owner kind as is.
    pub kind: String,
    /// Name.
    pub name: String,
}

impl fmt::Display for WorkloadRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
    }
}

/// The workload of a pod.
///
/// A ReplicaSet named `<deployment>-<pod-template-hash>` (the hash taken from the pod's
/// `pod-template-hash` label) belongs to that Deployment; without the label, a ReplicaSet
/// stays a ReplicaSet. A Job named `<cronjob>-<digits>` is attributed to a CronJob. A pod
/// without owner is its own workload (kind `Pod`).
pub fn workload_of(pod: &PodInfo) -> WorkloadRef {
    let (kind, name) = match &pod.owner {
        None => ("Pod".to_string(), pod.name.clone()),
        Some(o) => match o.kind.as_str() {
            "ReplicaSet" => match pod.labels.get("pod-template-hash") {
                Some(hash) if !hash.is_empty() => match o.name.strip_suffix(hash.as_str()) {
                    Some(d) if d.ends_with('-') && d.len() > 1 => {
                        ("Deployment".to_string(), d[..d.len() - 1].to_string())
                    }
                    _ => ("ReplicaSet".to_string(), o.name.clone()),
                },
                _ => ("ReplicaSet".to_string(), o.name.clone()),
            },
            "Job" => match o.name.rsplit_once('-') {
                Some((cron, digits))
                    if !cron.is_empty()
                        && !digits.is_empty()
                        && digits.bytes().all(|b| b.is_ascii_digit()) =>
                {
                    ("CronJob".to_string(), cron.to_string())
                }
                _ => ("Job".to_string(), o.name.clone()),
            },
            other => (other.to_string(), o.name.clone()),
        },
    };
    WorkloadRef {
        namespace: pod.namespace.clone(),
        kind,
        name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Labels, Owner};

    fn pod(name: &str, owner: Option<(&str, &str)>, labels: &[(&str, &str)]) -> PodInfo {
        let mut p = PodInfo::new(
            "ns",
            name,
            labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<Labels>(),
        );
        p.owner = owner.map(|(k, n)| Owner {
            kind: k.into(),
            name: n.into(),
        });
        p
    }

    fn w(p: &PodInfo) -> (String, String) {
        let r = workload_of(p);
        (r.kind, r.name)
    }

    #[test]
    fn deployment_from_replicaset_and_hash_label() {
        let p = pod(
            "web-7c9d-abcde",
            Some(("ReplicaSet", "web-api-7c9d")),
            &[("pod-template-hash", "7c9d")],
        );
        assert_eq!(w(&p), ("Deployment".into(), "web-api".into()));
        // Without the label, or with a name not ending with it, the ReplicaSet stays.
        let p = pod("x", Some(("ReplicaSet", "web-api-7c9d")), &[]);
        assert_eq!(w(&p), ("ReplicaSet".into(), "web-api-7c9d".into()));
        let p = pod(
            "x",
            Some(("ReplicaSet", "web-api")),
            &[("pod-template-hash", "7c9d")],
        );
        assert_eq!(w(&p), ("ReplicaSet".into(), "web-api".into()));
        assert_eq!(workload_of(&p).to_string(), "ReplicaSet ns/web-api");
    }

    #[test]
    fn other_controllers() {
        assert_eq!(
            w(&pod("db-0", Some(("StatefulSet", "db")), &[])),
            ("StatefulSet".into(), "db".into())
        );
        assert_eq!(
            w(&pod("n-x", Some(("DaemonSet", "node")), &[])),
            ("DaemonSet".into(), "node".into())
        );
        assert_eq!(
            w(&pod("b-28999-x", Some(("Job", "backup-28999440")), &[])),
            ("CronJob".into(), "backup".into())
        );
        assert_eq!(
            w(&pod("m-x", Some(("Job", "migrate")), &[])),
            ("Job".into(), "migrate".into())
        );
        assert_eq!(
            w(&pod("m-x", Some(("Job", "migrate-v2")), &[])),
            ("Job".into(), "migrate-v2".into())
        );
        assert_eq!(w(&pod("bare", None, &[])), ("Pod".into(), "bare".into()));
        assert_eq!(
            w(&pod("r-x", Some(("Rollout", "r")), &[])),
            ("Rollout".into(), "r".into())
        );
    }
}
