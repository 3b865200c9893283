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
        err.contains("no defect `no-such-defect`") && err.contains("`qaqpa defects`"),
        "says where the known defects are listed: {err}"
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
        "--working-days",
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

// ---------------------------------------------------------------------------------------------
// Nothing judged is not success; bad input is exit 2 with its cause named.

fn dir(name: &str) -> std::path::PathBuf {
    let d = std::path::PathBuf::from(tmp(name));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A one-step scenario on the UGIA connection desk; `step` is the step's time.
fn scenario_file(id: &str, step: &str) -> String {
    format!(
        "id: {id}
title: t
system: ugia
desk: ugia-connection
start: 2025-03-20T10:00
until: working-day 12
parties:
  operator: {{ name: Op, role: telecom-operator }}
steps:
  - at: {step}
    send:
      from: operator
      document: channel-application
      case: C-1
      channel: aps
expect:
  - clause: ugia-6
"
    )
}

#[test]
fn judge_refuses_an_empty_folder_and_an_empty_trace() {
    let empty = dir("cli-judge-empty");
    let (code, _, err) = qaqpa(&[
        "judge",
        empty.to_str().unwrap(),
        "--out",
        &tmp("cli-judge-empty-out"),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("no recorded traces") && err.contains("cli-judge-empty"),
        "{err}"
    );

    let traces = dir("cli-judge-empty-trace");
    let f = traces.join("ugia-channel-application-before-nauryz.jsonl");
    std::fs::write(&f, "").unwrap();
    let (code, _, err) = qaqpa(&[
        "judge",
        f.to_str().unwrap(),
        "--out",
        &tmp("cli-judge-empty-trace-out"),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("the trace is empty") && err.contains(f.to_str().unwrap()),
        "{err}"
    );

    let (code, _, err) = qaqpa(&[
        "judge",
        "/nonexistent/qaqpa-traces",
        "--out",
        &tmp("cli-judge-missing-out"),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("/nonexistent/qaqpa-traces"), "{err}");
}

#[test]
fn judge_reads_scenario_ids_without_regard_to_case_and_suggests_near_misses() {
    let out = tmp("cli-judge-case-src");
    let (code, _, err) = qaqpa(&[
        "run",
        "--scenario",
        "ugia-channel-application-before-nauryz",
        "--out",
        &out,
    ]);
    assert_eq!(code, 0, "{err}");
    let traces = dir("cli-judge-case");
    let text = std::fs::read_to_string(format!(
        "{out}/traces/ugia-channel-application-before-nauryz.jsonl"
    ))
    .unwrap();
    std::fs::write(
        traces.join("UGIA-Channel-Application-Before-Nauryz.jsonl"),
        &text,
    )
    .unwrap();
    let (code, _, err) = qaqpa(&[
        "judge",
        traces.to_str().unwrap(),
        "--out",
        &tmp("cli-judge-case-out"),
    ]);
    assert_eq!(code, 0, "{err}");
    std::fs::remove_file(traces.join("UGIA-Channel-Application-Before-Nauryz.jsonl")).unwrap();
    std::fs::write(
        traces.join("ugia-channel-application-before-nauruz.jsonl"),
        &text,
    )
    .unwrap();
    let (code, _, err) = qaqpa(&[
        "judge",
        traces.to_str().unwrap(),
        "--out",
        &tmp("cli-judge-case-out"),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("did you mean `ugia-channel-application-before-nauryz`"),
        "{err}"
    );
    // Judging a run's traces into the same folder would delete them when it starts clean.
    let (code, _, err) = qaqpa(&["judge", &format!("{out}/traces"), "--out", &out]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("another --out"), "{err}");
}

#[test]
fn a_suite_folder_without_scenarios_is_refused() {
    let empty = dir("cli-suite-empty");
    std::fs::write(empty.join("README.txt"), "not a scenario").unwrap();
    let (code, _, err) = qaqpa(&[
        "run",
        "--suite",
        empty.to_str().unwrap(),
        "--out",
        &tmp("cli-suite-empty-out"),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("no scenario files") && err.contains("cli-suite-empty"),
        "{err}"
    );
}

#[test]
fn a_defect_no_chosen_system_has_is_refused() {
    let (code, _, err) = qaqpa(&[
        "run",
        "--system",
        "ugia",
        "--defect",
        "ugem-skips-eligibility-check",
        "--out",
        &tmp("cli-defect-elsewhere"),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("ugem-skips-eligibility-check") && err.contains("does not certify"),
        "{err}"
    );
    let (code, _, err) = qaqpa(&[
        "run",
        "--defect",
        "ugia-spec-late",
        "--out",
        &tmp("cli-defect-typo"),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("did you mean `ugia-specs-late`"), "{err}");
}

#[test]
fn a_step_after_until_is_a_load_error_with_file_and_line() {
    let suite = dir("cli-late-step");
    std::fs::write(
        suite.join("late.yaml"),
        scenario_file("cli-late-step", "working-day 13 10:00"),
    )
    .unwrap();
    let (code, _, err) = qaqpa(&[
        "run",
        "--suite",
        suite.to_str().unwrap(),
        "--out",
        &tmp("cli-late-step-out"),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("late.yaml:10:"), "{err}");
    assert!(
        err.contains("after the scenario's `until: working-day 12`"),
        "{err}"
    );
    assert!(
        !std::path::Path::new(&tmp("cli-late-step-out"))
            .join("report.json")
            .exists()
    );
}

#[test]
fn dates_out_of_range_are_errors_naming_the_limit_never_panics() {
    for (step, limit) in [
        ("day 99999999", "9999-12-31"),
        ("day 4294967295", "9999-12-31"),
        ("9999-12-31T23:59", "Asia/Almaty"),
    ] {
        let suite = dir("cli-far-step");
        std::fs::write(suite.join("far.yaml"), scenario_file("cli-far-step", step)).unwrap();
        let (code, _, err) = qaqpa(&[
            "run",
            "--suite",
            suite.to_str().unwrap(),
            "--out",
            &tmp("cli-far-step-out"),
        ]);
        assert_eq!(code, 2, "{step}: {err}");
        assert!(
            err.contains("far.yaml:10:") && err.contains(limit),
            "{step}: {err}"
        );
    }
    let suite = dir("cli-far-start");
    std::fs::write(
        suite.join("far.yaml"),
        scenario_file("cli-far-start", "day 0").replace("2025-03-20T10:00", "-009999-01-01T00:00"),
    )
    .unwrap();
    let (code, _, err) = qaqpa(&[
        "run",
        "--suite",
        suite.to_str().unwrap(),
        "--out",
        &tmp("cli-far-start-out"),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("far.yaml:5:") && err.contains("out of range"),
        "{err}"
    );

    for (n, unit) in [
        ("7304485", "--calendar-days"),
        ("3000000", "--calendar-days"),
    ] {
        let (code, out, err) = qaqpa(&["calendar", "2025-03-20", "--add", n, unit]);
        assert_eq!(code, 2, "{n}: {out}{err}");
        assert!(err.contains("9999-12-31") && err.contains(n), "{err}");
    }
}

// ---------------------------------------------------------------------------------------------
// The command line: names, filters, ids, the output folder.

#[test]
fn run_filters_by_clause_and_scenario() {
    let out = tmp("cli-clause-filter");
    let (code, _, err) = qaqpa(&["run", "--clause", "UGIA-6", "--out", &out]);
    assert_eq!(code, 0, "{err}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{out}/report.json")).unwrap())
            .unwrap();
    let ran: Vec<&str> = json["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    // The two scenarios whose `expect` names ugia-6 (scenarios/suite/ugia/channel-*.yaml).
    assert_eq!(
        ran,
        [
            "ugia-channel-application-before-nauryz",
            "ugia-channel-applications-refused"
        ]
    );
    let traces: Vec<_> = std::fs::read_dir(format!("{out}/traces"))
        .unwrap()
        .collect();
    assert_eq!(traces.len(), 2);

    let (code, _, err) = qaqpa(&[
        "run",
        "--clause",
        "ugia-66",
        "--out",
        &tmp("cli-clause-bad"),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no clause `ugia-66`"), "{err}");
    let (code, _, err) = qaqpa(&[
        "run",
        "--scenario",
        "no-such-scenario",
        "--out",
        &tmp("cli-scenario-bad"),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no scenario `no-such-scenario`"), "{err}");
}

#[test]
fn out_starts_clean_and_refuses_a_foreign_folder() {
    let out = dir("cli-out-clean");
    std::fs::create_dir_all(out.join("traces")).unwrap();
    std::fs::write(
        out.join("traces/a-scenario-of-an-earlier-run.jsonl"),
        "{}\n",
    )
    .unwrap();
    std::fs::write(
        out.join("report.json"),
        r#"{"suite_version": "0.0.1", "clauses": []}"#,
    )
    .unwrap();
    let (code, _, err) = qaqpa(&[
        "run",
        "--scenario",
        "ugia-channel-application-before-nauryz",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let names: Vec<String> = std::fs::read_dir(out.join("traces"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["ugia-channel-application-before-nauryz.jsonl"]);

    let foreign = dir("cli-out-foreign");
    std::fs::write(foreign.join("budget.xlsx"), "numbers").unwrap();
    let (code, _, err) = qaqpa(&[
        "run",
        "--scenario",
        "ugia-channel-application-before-nauryz",
        "--out",
        foreign.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("budget.xlsx") && err.contains("refusing"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_dir(&foreign).unwrap().count(),
        1,
        "left untouched"
    );
}

#[test]
fn write_errors_name_the_file_and_exit_3() {
    let out = dir("cli-out-unwritable");
    // A folder where a report goes: it can be neither removed as a file nor replaced.
    std::fs::create_dir_all(out.join("report.md/x")).unwrap();
    let (code, _, err) = qaqpa(&[
        "run",
        "--scenario",
        "ugia-channel-application-before-nauryz",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains(&out.join("report.md").display().to_string()),
        "{err}"
    );
}

#[test]
fn clauses_filter_by_system_and_explain_ignores_case() {
    let (code, out, err) = qaqpa(&["clauses", "--system", "UGEM", "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let all = v.as_array().unwrap();
    assert!(all.iter().any(|c| c["id"] == "ugem-10"));
    assert!(
        all.iter()
            .all(|c| c["systems"].as_array().unwrap().iter().any(|s| s == "ugem")),
        "{out}"
    );
    let (_, every, _) = qaqpa(&["clauses", "--json"]);
    let every: serde_json::Value = serde_json::from_str(&every).unwrap();
    assert!(every.as_array().unwrap().len() > all.len());

    let (code, out, err) = qaqpa(&["explain", "UGEM-10"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("ugem-10 — "), "{out}");
    let (code, _, err) = qaqpa(&["explain", "ugme-10"]);
    assert_eq!(code, 2);
    assert!(err.contains("did you mean `ugem-10`"), "{err}");
}

#[test]
fn the_calendar_file_has_one_name() {
    let (code, out, _) = qaqpa(&["run", "--help"]);
    assert_eq!(code, 0);
    for opt in [
        "--calendar-file",
        "--clause",
        "--scenario",
        "--system",
        "--out",
    ] {
        assert!(out.contains(opt), "{opt} in\n{out}");
    }
    let (code, _, err) = qaqpa(&["run", "--calendar", "x.toml"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("--calendar-file"),
        "suggests the one name: {err}"
    );
    let (code, _, err) = qaqpa(&[
        "calendar",
        "2025-03-20",
        "--calendar-file",
        "/nonexistent/cal.toml",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("/nonexistent/cal.toml"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Captures that end early.

/// A little-endian microsecond pcap of Ethernet frames (each a minimal IPv4/UDP datagram).
fn pcap(frames: usize) -> Vec<u8> {
    let mut v = Vec::new();
    for x in [
        0xa1b2_c3d4u32.to_le_bytes().as_slice(),
        &2u16.to_le_bytes(),
        &4u16.to_le_bytes(),
        &0i32.to_le_bytes(),
        &0u32.to_le_bytes(),
        &65535u32.to_le_bytes(),
        &1u32.to_le_bytes(),
    ] {
        v.extend_from_slice(x);
    }
    for i in 0..frames {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x08, 0x00]);
        f.extend_from_slice(&[
            0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ]);
        f.extend_from_slice(&[0x30, 0x39, 0x00, 0x35, 0, 8, 0, 0]);
        v.extend_from_slice(&(1_700_000_000u32 + i as u32).to_le_bytes());
        v.extend_from_slice(&0u32.to_le_bytes());
        v.extend_from_slice(&(f.len() as u32).to_le_bytes());
        v.extend_from_slice(&(f.len() as u32).to_le_bytes());
        v.extend_from_slice(&f);
    }
    v
}

#[test]
fn a_capture_that_ends_early_is_refused_unless_allowed() {
    let d = dir("cli-truncated");
    let whole = pcap(3);
    let record = (whole.len() - 24) / 3;
    let cut = d.join("cut.pcap");
    // Two whole records and 5 bytes of the third.
    std::fs::write(&cut, &whole[..24 + 2 * record + 5]).unwrap();
    let (code, _, err) = qaqpa(&["replay", cut.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    let read = 24 + 2 * record;
    assert!(
        err.contains("after 2 frames")
            && err.contains(&format!("{read} of {} bytes read", read + 5)),
        "{err}"
    );
    assert!(err.contains("--allow-truncated"), "{err}");
    let (code, out, err) = qaqpa(&[
        "replay",
        "--allow-truncated",
        "--json",
        cut.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("warning") && err.contains("after 2 frames"),
        "{err}"
    );
    let summary: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(summary["summary"]["packets"], 2, "{out}");

    // Nothing to replay is never success, allowed or not.
    let header = d.join("header-only.pcap");
    std::fs::write(&header, &whole[..24]).unwrap();
    let (code, _, err) = qaqpa(&["replay", "--allow-truncated", header.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no frames"), "{err}");
    let first_cut = d.join("first-cut.pcap");
    std::fs::write(&first_cut, &whole[..24 + 10]).unwrap();
    let (code, _, err) = qaqpa(&["replay", "--allow-truncated", first_cut.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("after 0 frames") && err.contains("24 of 34 bytes read"),
        "{err}"
    );
}
