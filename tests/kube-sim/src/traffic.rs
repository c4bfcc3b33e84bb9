//! Steady simulated traffic, like the workshop's load loop: a list of [`TrafficFlow`]s that a
//! test runs a fixed number of rounds ([`Cluster::simulate_flows`], deterministic) or that a
//! background ticker repeats for the interactive lab ([`Cluster::start_traffic`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::cluster::{Cluster, SimError};

/// Requests from one pod to one URL, `requests` of them per round.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrafficFlow {
    /// Namespace of the calling pod.
    pub namespace: String,
    /// The calling pod's name (a glob; the first running match by name calls).
    pub pod: String,
    /// What it calls (`http://SERVICE[.NAMESPACE][:PORT][/PATH]`).
    pub url: String,
    /// Requests per round.
    pub requests: u64,
}

impl TrafficFlow {
    /// `requests` per round from `namespace`/`pod` (a glob) to `url`.
    pub fn new(namespace: &str, pod: &str, url: &str, requests: u64) -> TrafficFlow {
        TrafficFlow {
            namespace: namespace.into(),
            pod: pod.into(),
            url: url.into(),
            requests,
        }
    }

    /// The lab's traffic ([`crate::Scenario::lab`]), per round: `default/sleep` (outside the
    /// mesh, so plaintext) and `istioinaction/sleep` (mTLS) each call web-api twice, and web-api
    /// calls recommendation and history once per request it got (mTLS).
    pub fn lab() -> Vec<TrafficFlow> {
        vec![
            TrafficFlow::new("default", "sleep-*", "http://web-api.istioinaction:8080/", 2),
            TrafficFlow::new(
                "istioinaction",
                "sleep-*",
                "http://web-api.istioinaction:8080/",
                2,
            ),
            TrafficFlow::new(
                "istioinaction",
                "web-api-*",
                "http://recommendation.istioinaction:8080/",
                4,
            ),
            TrafficFlow::new(
                "istioinaction",
                "web-api-*",
                "http://history.istioinaction:8080/",
                4,
            ),
        ]
    }
}

impl Cluster {
    /// Runs `rounds` rounds of `flows` now (see [`Cluster::simulate_traffic`]). A flow whose pod
    /// does not exist is an error; failed connections (STRICT resets) are traffic too.
    pub fn simulate_flows(&self, flows: &[TrafficFlow], rounds: u64) -> Result<(), SimError> {
        for f in flows {
            self.simulate_traffic(&f.namespace, &f.pod, &f.url, f.requests * rounds)?;
        }
        Ok(())
    }

    /// Repeats one round of `flows` every `every` on a background thread until the returned
    /// [`TrafficTicker`] is dropped or stopped. Flows whose pod is gone are skipped.
    pub fn start_traffic(&self, flows: Vec<TrafficFlow>, every: Duration) -> TrafficTicker {
        let every = every.max(Duration::from_millis(1));
        let stop = Arc::new(AtomicBool::new(false));
        let cluster = self.clone();
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("kube-sim-traffic".into())
            .spawn(move || {
                let tick = Duration::from_millis(20).min(every);
                while !flag.load(Ordering::SeqCst) {
                    for f in &flows {
                        let _ = cluster.simulate_traffic(&f.namespace, &f.pod, &f.url, f.requests);
                    }
                    let mut waited = Duration::ZERO;
                    while waited < every && !flag.load(Ordering::SeqCst) {
                        std::thread::sleep(tick);
                        waited += tick;
                    }
                }
            })
            .ok();
        TrafficTicker { stop, thread }
    }
}

/// Background traffic started by [`Cluster::start_traffic`]; dropping it stops the traffic.
#[derive(Debug)]
pub struct TrafficTicker {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TrafficTicker {
    /// Stops the traffic and waits for the current round to end.
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for TrafficTicker {
    fn drop(&mut self) {
        self.halt();
    }
}
