//! The suite judges observations, never the reference: `qaqpa-scenarios` must not depend on
//! the reference crates, directly or through another crate.

use std::process::Command;

#[test]
fn scenarios_do_not_depend_on_the_reference() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "tree",
            "-p",
            "qaqpa-scenarios",
            "--edges",
            "normal,build",
            "--prefix",
            "none",
            "--format",
            "{p}",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "cargo tree: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8(out.stdout).unwrap();
    assert!(
        tree.contains("qaqpa-sim") && tree.contains("qaqpa-reports"),
        "the tree was read: {tree}"
    );
    for forbidden in ["qaqpa-gateway", "qaqpa-mailgw", "qaqpa-esb"] {
        assert!(
            !tree.contains(forbidden),
            "qaqpa-scenarios depends on {forbidden}:\n{tree}"
        );
    }
}
