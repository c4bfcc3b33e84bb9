//! The preview both `enable` and `diff` show before anything is written: the effect of the
//! changed objects on workloads and ports, whether anything differs, and the names the diff is
//! headed with.

use serde_json::Value;

use crate::engine::{Effects, PolicyChange, what_if};
use crate::error::Error;
use crate::model::{Created, ObjectKey, Policy, Snapshot};

use super::{PortException, clean, policy_of, port_exceptions};

/// kubectl's file name for an object: `security.istio.io.v1.PeerAuthentication.NS.NAME`.
pub fn file_name(api_version: &str, namespace: &str, name: &str) -> String {
    format!(
        "{}.PeerAuthentication.{namespace}.{name}",
        api_version.replace('/', ".")
    )
}

/// The effect of changed objects (each as the apply would leave it) on the snapshot.
#[derive(Debug, Clone)]
pub struct Effect {
    /// The changed policies, one per object, in the order given.
    pub policies: Vec<Policy>,
    /// The same as engine changes.
    pub changes: Vec<PolicyChange>,
    /// Workloads and ports whose mode changes, findings created and resolved.
    pub effects: Effects,
}

impl Effect {
    /// Resolves the snapshot with `results` (applied objects) in place of their live versions.
    pub fn of(snapshot: &Snapshot, results: &[&Value]) -> Result<Effect, Error> {
        let mut policies = Vec::new();
        for r in results {
            policies.push(policy_of(r, Created::now())?);
        }
        let changes: Vec<PolicyChange> = policies.iter().cloned().map(PolicyChange::Upsert).collect();
        let effects = what_if(snapshot, &changes);
        Ok(Effect {
            policies,
            changes,
            effects,
        })
    }

    /// The effect of removing the policy `key`: what each workload's mode becomes once the
    /// level above (or the next policy of the scope) decides.
    pub fn of_removal(snapshot: &Snapshot, key: &ObjectKey) -> Effect {
        let changes = vec![PolicyChange::Delete(key.clone())];
        let effects = what_if(snapshot, &changes);
        Effect {
            policies: Vec::new(),
            changes,
            effects,
        }
    }

    /// Ports that keep a mode of their own while their workload's mode changes.
    pub fn ports(&self, snapshot: &Snapshot) -> Vec<PortException> {
        port_exceptions(snapshot, &self.changes, &self.effects)
    }
}

/// Whether applying gives something other than the live object (server-set fields aside).
pub fn differs(live: Option<&Value>, result: &Value) -> bool {
    live.map(clean) != Some(clean(result))
}
