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
        let expected = if step.args.get(1) == Some(&"diff") { 1 } else { 0 };
        assert_eq!(
            *code,
            expected,
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
    let last = text.rsplit("── 10.").next().unwrap();
    assert!(last.contains("istioinaction   PERMISSIVE"), "rolled back: {last}");
}
