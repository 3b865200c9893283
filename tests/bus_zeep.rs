//! A stock SOAP client (Python's zeep, installed by scripts/setup) loads the bus's WSDLs from
//! `qaqpa serve bus` and calls both channels: scripts/zeep-bus-check does the calling and
//! checks each answer; this test runs it and demands it judged something and passed.

#[test]
fn zeep_loads_the_wsdls_and_calls_the_bus() {
    let root = env!("CARGO_MANIFEST_DIR");
    let probe = std::process::Command::new("python3")
        .args(["-c", "import zeep"])
        .output()
        .expect("python3 runs");
    assert!(
        probe.status.success(),
        "Python's zeep is not installed: run scripts/setup (pip install zeep)"
    );
    let out = std::process::Command::new("python3")
        .arg(format!("{root}/scripts/zeep-bus-check"))
        .arg(env!("CARGO_BIN_EXE_qaqpa"))
        .output()
        .expect("the check runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}\n{err}");
    let last = text.lines().last().unwrap_or_default();
    assert!(
        last.ends_with("passed, 0 failed") && !last.starts_with("0 passed"),
        "{text}"
    );
}
