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
    // by removing the policy
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
    // The rollback removes the policy (`--inherit`): Istio's default decides again.
    assert!(
        text.contains("peerauthentication.security.istio.io/default deleted\n"),
        "{text}"
    );
    let back = text
        .rfind("Mesh-wide default")
        .map(|i| &text[i..])
        .unwrap_or_else(|| panic!("{text}"));
    assert!(back.contains("istioinaction   PERMISSIVE   -"), "{back}");
    // Readiness from traffic before STRICT: the caller outside the mesh (which Istio can only
    // name `unknown`) is seen, and enable refuses to cut it until --force.
    assert!(text.contains("no (plaintext from 1 unknown source)"), "{text}");
    // The lab's traffic keeps flowing (one round every 2 s), so the counts are not fixed.
    assert!(text.contains(" (unknown)"), "{text}");
    assert!(text.contains("unknown -> istioinaction/web-api: "), "{text}");
    assert!(
        text.contains("plaintext requests since the proxy started; these will fail"),
        "{text}"
    );
    assert!(text.contains("(exit 1: refused, nothing written)"), "{text}");
    // The graph before STRICT: the plaintext caller (default/sleep, outside the mesh, which
    // Istio reports as `unknown`) would be cut; after, it is rejected and in-mesh edges are
    // mTLS. Each picture is written to the file the tour names.
    let step = |n: usize| {
        let start = format!("── {n}. ");
        let from = text
            .find(&start)
            .unwrap_or_else(|| panic!("no step {n}:\n{text}"));
        let rest = &text[from..];
        let end = rest[start.len()..]
            .find("\n── ")
            .map_or(rest.len(), |e| e + start.len());
        rest[..end].to_string()
    };
    let row = |block: &str, src: &str, dst: &str| -> Vec<String> {
        block
            .lines()
            .map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>())
            .find(|w| w.len() >= 7 && w[0] == src && w[1] == dst)
            .unwrap_or_else(|| panic!("no edge {src} -> {dst} in:\n{block}"))
    };
    // Steps by title, so adding a step does not renumber the assertions.
    let nth = |prefix: &str| {
        1 + kube_sim::tour::STEPS
            .iter()
            .position(|s| s.title.starts_with(prefix))
            .unwrap_or_else(|| panic!("no step titled {prefix:?}"))
    };
    let before = step(nth("Who talks to whom"));
    assert_eq!(
        row(&before, "unknown", "istioinaction/web-api")[4..],
        ["0%", "PERMISSIVE", "breaks-under-strict"]
    );
    assert_eq!(
        row(&before, "istioinaction/sleep", "istioinaction/web-api")[6],
        "mtls"
    );
    let after = step(nth("The graph after STRICT"));
    assert_eq!(
        row(&after, "unknown", "istioinaction/web-api")[4..],
        ["0%", "STRICT", "rejected"]
    );
    for dst in ["istioinaction/recommendation", "istioinaction/history"] {
        assert_eq!(row(&after, "istioinaction/web-api", dst)[6], "mtls");
    }
    for (n, file, plaintext) in [
        (nth("The same graph as a picture"), "graph-before.svg", 1),
        (nth("... and as a picture"), "graph-after.svg", 1),
    ] {
        let path = kube_sim::tour::graph_dir().join(file);
        assert!(
            step(n).contains(&format!("(wrote {}", path.display())),
            "{}",
            step(n)
        );
        let svg = std::fs::read_to_string(&path).unwrap();
        let doc = roxmltree::Document::parse(&svg).expect("the tour's SVG");
        let count = |c: &str| {
            doc.descendants()
                .filter(|x| x.attribute("class") == Some(c))
                .count()
        };
        assert_eq!(
            (count("edge mtls"), count("lock"), count("edge plaintext")),
            (3, 3, plaintext),
            "{file}"
        );
    }
    let last_step = format!("── {}.", kube_sim::tour::STEPS.len());
    let last = text.rsplit(last_step.as_str()).next().unwrap();
    assert!(last.contains("istioinaction   PERMISSIVE"), "rolled back: {last}");
}
