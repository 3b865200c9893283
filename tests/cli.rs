//! The command line as a user meets it: exit codes, machine output, errors.

use std::process::Command;

fn qaqpa(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_qaqpa"))
        .args(args)
        .output()
        .expect("qaqpa runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn tmp(name: &str) -> String {
    let d = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&d);
    d.display().to_string()
}

#[test]
fn run_exit_codes_follow_the_verdicts() {
    let (code, _, err) = qaqpa(&["run", "--out", &tmp("cli-pass")]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = qaqpa(&[
        "run",
        "--system",
        "ugia",
        "--defect",
        "ugia-specs-late",
        "--out",
        &tmp("cli-fail"),
    ]);
    assert_eq!(code, 1, "{err}");
    let (code, _, err) = qaqpa(&[
        "run",
        "--defect",
        "no-such-defect",
        "--out",
        &tmp("cli-bad"),
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains("no-such-defect") && err.contains("ugia-specs-late"),
        "names the known defects: {err}"
    );
    let (code, _, _) = qaqpa(&["run", "--system", "dns"]);
    assert_eq!(code, 2);
}

#[test]
fn a_single_system_run_marks_the_others_not_applicable() {
    let out = tmp("cli-ugem");
    let (code, _, err) = qaqpa(&["run", "--system", "ugem", "--out", &out]);
    assert_eq!(code, 0, "{err}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{out}/report.json")).unwrap())
            .unwrap();
    let clause = |id: &str| {
        json["clauses"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .cloned()
            .unwrap()
    };
    assert_eq!(clause("ugem-9")["verdict"], "pass");
    assert_eq!(clause("ugia-6")["verdict"], "not-applicable");
    assert_eq!(json["target"]["kind"], "reference");
    assert!(json["seed"].is_u64() && json["suite_version"].is_string());
}

#[test]
fn defects_json_lists_ids_and_clauses() {
    let (code, out, _) = qaqpa(&["defects", "--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let all = v.as_array().unwrap();
    assert!(
        all.iter()
            .any(|d| d["id"] == "ugem-skips-eligibility-check" && d["clauses"][0] == "ugem-8"),
        "{out}"
    );
    assert!(
        all.iter()
            .all(|d| d["id"].is_string() && d["clauses"].is_array())
    );
}

#[test]
fn explain_shows_the_seed_text_scenarios_and_defects() {
    let (code, out, err) = qaqpa(&["explain", "ugem-10"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("өтінімді қабылдамау туралы хабарлама жібереді"),
        "quotes the Kazakh text: {out}"
    );
    assert!(
        out.contains("ugem-ineligible-and-incomplete-refused"),
        "{out}"
    );
    assert!(out.contains("ugem-rejection-without-reasons"), "{out}");
    let (code, _, err) = qaqpa(&["explain", "ugia-99"]);
    assert_eq!(code, 2);
    assert!(err.contains("ugia-99"), "{err}");
}

#[test]
fn a_malformed_scenario_is_refused_with_file_line_and_column() {
    let dir = std::path::PathBuf::from(tmp("cli-bad-suite"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("typo.yaml"),
        "id: x\ntitle: x\nsystem: ugia\ndesk: ugia-conection\n",
    )
    .unwrap();
    let (code, _, err) = qaqpa(&[
        "run",
        "--suite",
        dir.to_str().unwrap(),
        "--out",
        &tmp("cli-bad-suite-out"),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("typo.yaml:4:"), "{err}");
    assert!(
        err.contains("ugia-connection"),
        "says what was expected: {err}"
    );
}

#[test]
fn calendar_answers_in_json() {
    let (code, out, err) = qaqpa(&["calendar", "2025-03-21", "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["working"], false);
    assert!(
        v["reason"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("nauryz"),
        "{out}"
    );
    let (code, out, _) = qaqpa(&[
        "calendar",
        "2025-03-20",
        "--add",
        "10",
        "--working",
        "--json",
    ]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["working"], true);
    // 21–23 March Nauryz, 22–23 fall on a weekend and carry over to 24–25 March.
    assert_eq!(v["result"], "2025-04-08", "{out}");
    let (code, _, err) = qaqpa(&["calendar", "2025-13-40"]);
    assert_eq!(code, 2);
    assert!(err.contains("YYYY-MM-DD"), "{err}");
}

#[test]
fn a_reader_that_stops_early_is_no_error() {
    use std::io::Read;
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_qaqpa"))
        .args(["clauses", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("qaqpa runs");
    let mut first = [0u8; 16];
    child
        .stdout
        .as_mut()
        .unwrap()
        .read_exact(&mut first)
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(String::from_utf8_lossy(&first).starts_with('['));
    assert!(
        out.status.success(),
        "{:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json_len = qaqpa(&["clauses", "--json"]).1.len();
    assert!(
        json_len > 1 << 17,
        "the output ({json_len} bytes) outgrows a pipe's buffer, so the pipe really closes under it"
    );
}
