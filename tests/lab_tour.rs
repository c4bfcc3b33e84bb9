//! The workshop tour (`cargo run -p kube-sim -- lab`) end to end: every step runs through the
//! real kubectl against the simulated lab with its simulated mesh, and traffic follows policy.

mod common;

use std::path::Path;

#[test]
fn the_tour_walks_through_the_whole_lab() {
    if !common::have_kubectl("the_tour_walks_through_the_whole_lab") {
        return;
    }
    let plugin_dir = Path::new(common::PLUGIN).parent().expect("binary directory");
    let env = kube_sim::tour::prepare(plugin_dir).expect("start the lab");
    let mut out = Vec::new();
    let codes = env.tour(&mut out).expect("run the tour");
    let text = String::from_utf8(out).unwrap();
    assert_eq!(codes.len(), kube_sim::tour::STEPS.len());
    for (i, (code, step)) in codes.iter().zip(kube_sim::tour::STEPS).enumerate() {
        assert_eq!(
            *code,
            step.exit,
            "step {} `kubectl {}`:\n{text}",
            i + 1,
            step.args.join(" ")
        );
    }
    // before: PERMISSIVE; after enable: created; plaintext rejected, mTLS accepted; rollback
    assert!(text.contains("istioinaction         PERMISSIVE"), "{text}");
    assert!(
        text.contains("peerauthentication.security.istio.io/default created (dry run)"),
        "{text}"
    );
    assert!(
        text.contains("peerauthentication.security.istio.io/default created\n"),
        "{text}"
    );
    assert!(
        text.contains("rejected (connection reset by peer, curl exit 56)"),
        "{text}"
    );
    assert!(text.contains("accepted (HTTP 200)"), "{text}");
    assert!(
        text.contains("SPIFFE ID:  spiffe://cluster.local/ns/istioinaction/sa/web-api"),
        "{text}"
    );
    assert!(text.contains("Chain: verifies against the root"), "{text}");
    assert!(
        text.contains("peerauthentication.security.istio.io/default configured"),
        "{text}"
    );
    // Readiness from traffic before STRICT: the caller outside the mesh (which Istio can only
    // name `unknown`) is seen, and enable refuses to cut it until --force.
    assert!(text.contains("no (plaintext from 1 unknown source)"), "{text}");
    assert!(text.contains("20 (unknown)"), "{text}");
    assert!(
        text.contains(
            "unknown -> istioinaction/web-api: 20 plaintext requests since the proxy started; these will fail"
        ),
        "{text}"
    );
    assert!(text.contains("(exit 1: refused, nothing written)"), "{text}");
    let last_step = format!("── {}.", kube_sim::tour::STEPS.len());
    let last = text.rsplit(last_step.as_str()).next().unwrap();
    assert!(last.contains("istioinaction   PERMISSIVE"), "rolled back: {last}");
}
