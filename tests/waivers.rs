//! `--waivers` end to end, through the program as a user runs it: a defect's failing clause
//! waived exits 0 and shows `waived` in every report format (never `pass`); the same waiver
//! expired exits 1; a waiver over a passing clause is stale (a warning, exit 1 under
//! `--warnings-fail`); an unknown clause is bad input with a suggestion. The day expiry is
//! judged against comes from `SOURCE_DATE_EPOCH`, so the reports are byte-identical.

use std::path::{Path, PathBuf};
use std::process::Command;

/// 2025-06-01 12:00 UTC.
const EPOCH: &str = "1748779200";

fn tmp(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// The run that fails ugia-6 alone (the STS desk late with specifications), with `waivers`.
fn run(name: &str, waivers: &str, extra: &[&str]) -> (i32, String, PathBuf) {
    let out = tmp(name);
    std::fs::create_dir_all(&out).unwrap();
    // Named relative to the working folder, as the report records it: two runs with the same
    // file in different folders give the same bytes.
    let input = tmp(&format!("{name}-input"));
    std::fs::create_dir_all(&input).unwrap();
    std::fs::write(input.join("waivers.toml"), waivers).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_qaqpa"))
        .current_dir(&input)
        .args(["run", "--clause", "ugia-6", "--defect", "ugia-specs-late"])
        .args(["--waivers", "waivers.toml"])
        .arg("--out")
        .arg(&out)
        .args(extra)
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .output()
        .expect("qaqpa runs");
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stderr).into_owned(),
        out,
    )
}

fn waiver(clause: &str, expires: &str) -> String {
    format!(
        "[[waiver]]\nclause = \"{clause}\"\nreason = \"desk staffing fixed in Q3\"\napprover = \"A. Seitkali, certification board\"\nexpires = {expires}\n"
    )
}

fn read(dir: &Path, f: &str) -> String {
    std::fs::read_to_string(dir.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"))
}

fn clause_json(dir: &Path, id: &str) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_str(&read(dir, "report.json")).unwrap();
    v["clauses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .cloned()
        .unwrap()
}

#[test]
fn a_waived_failure_exits_0_and_shows_waived_in_every_format() {
    // Without the waiver the defect fails the run.
    let (code, err, _) = run("waiver-none", "", &[]);
    assert_eq!(code, 1, "{err}");

    let (code, err, dir) = run("waiver-applied", &waiver("ugia-6", "2025-12-31"), &[]);
    assert_eq!(code, 0, "{err}");
    let c = clause_json(&dir, "ugia-6");
    assert_eq!(c["verdict"], "waived");
    assert_eq!(c["obligations"][0]["verdict"], "waived");
    let report: serde_json::Value = serde_json::from_str(&read(&dir, "report.json")).unwrap();
    assert_eq!(report["outcome"], "pass-with-waivers");
    assert_eq!(report["totals"]["fail"], 0);
    assert_eq!(report["totals"]["waived"], 1);
    assert_eq!(report["waivers"]["checked_on"], "2025-06-01");
    assert_eq!(report["waivers"]["waivers"][0]["status"], "applied");

    let md = read(&dir, "report.md");
    assert!(md.contains("| [ugia-6](#ugia-6) | **waived** |"), "{md}");
    assert!(md.contains("waived until 2025-12-31 by A. Seitkali"));
    assert!(!md.contains("[ugia-6](#ugia-6) | **pass**"));

    let html = read(&dir, "report.html");
    assert!(html.contains("class=\"clause is-waived\" id=\"clause-ugia-6\""));
    assert!(
        html.contains("desk staffing fixed in Q3"),
        "the reason is shown"
    );
    assert!(
        html.contains("A. Seitkali, certification board"),
        "and the approver"
    );

    let xml = read(&dir, "report.xml");
    let case = &xml[xml.find("<testcase name=\"ugia-6\"").unwrap()..];
    let case = &case[..case.find("</testcase>").unwrap()];
    assert!(
        case.contains("<skipped") && case.contains("WAIVED"),
        "{case}"
    );
    assert!(!case.contains("<failure"), "{case}");
    assert!(xml.contains("failures=\"0\""), "{xml}");

    // The waivers file signed off travels with the run.
    assert_eq!(read(&dir, "waivers.toml"), waiver("ugia-6", "2025-12-31"));

    // Same SOURCE_DATE_EPOCH, same bytes.
    let (_, _, again) = run("waiver-applied-again", &waiver("ugia-6", "2025-12-31"), &[]);
    for f in ["report.json", "report.md", "report.xml", "report.html"] {
        assert!(read(&dir, f) == read(&again, f), "{f} differs");
    }
}

#[test]
fn an_expired_waiver_is_a_failure() {
    let (code, err, dir) = run("waiver-expired", &waiver("ugia-6", "2025-05-31"), &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("expired on 2025-05-31"), "{err}");
    let c = clause_json(&dir, "ugia-6");
    assert_eq!(c["verdict"], "fail");
    assert_eq!(c["obligations"][0]["waiver"]["expired"], true);
    // The day of expiry itself still holds.
    let (code, err, _) = run("waiver-last-day", &waiver("ugia-6", "2025-06-01"), &[]);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn a_waiver_over_a_passing_clause_is_stale() {
    let both = format!(
        "{}\n{}",
        waiver("ugia-6", "2025-12-31"),
        waiver("ugia-10", "2025-12-31")
    );
    let (code, err, dir) = run("waiver-stale", &both, &[]);
    assert_eq!(code, 0, "a warning only: {err}");
    assert!(
        err.contains("warning: stale waiver at") && err.contains("ugia-10"),
        "{err}"
    );
    let report: serde_json::Value = serde_json::from_str(&read(&dir, "report.json")).unwrap();
    assert_eq!(report["outcome"], "pass-with-warnings");
    assert_eq!(report["waivers"]["waivers"][1]["status"], "stale");
    assert_eq!(clause_json(&dir, "ugia-10")["verdict"], "pass");
    assert!(read(&dir, "report.md").contains("**stale (warning)**"));
    let (code, err, dir) = run("waiver-stale-strict", &both, &["--warnings-fail"]);
    assert_eq!(code, 1, "{err}");
    assert!(read(&dir, "report.xml").contains("type=\"waiver-stale\""));
}

#[test]
fn an_unknown_clause_is_bad_input_with_a_suggestion() {
    let (code, err, dir) = run("waiver-unknown", &waiver("ugai-6", "2025-12-31"), &[]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("waivers.toml:2:"),
        "names the file and line: {err}"
    );
    assert!(err.contains("did you mean `ugia-6`"), "{err}");
    assert!(!dir.join("report.json").exists(), "nothing ran");
}

/// `qaqpa` in `dir` with SOURCE_DATE_EPOCH fixed: exit code and standard error.
fn qaqpa_in(dir: &Path, args: &[&str]) -> (i32, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_qaqpa"))
        .current_dir(dir)
        .args(args)
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .output()
        .expect("qaqpa runs");
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// A campaign judged with waivers equals its shards run without them and merged with them:
/// every seed's failure of ugia-6 is waived, in the seed lines as in the united report.
#[test]
fn campaigns_and_merges_apply_waivers_to_every_seed() {
    let base = tmp("waiver-campaign");
    std::fs::create_dir_all(&base).unwrap();
    std::fs::write(base.join("waivers.toml"), waiver("ugia-6", "2025-12-31")).unwrap();
    let common = [
        "campaign",
        "--seeds",
        "1..=2",
        "--system",
        "ugia",
        "--defect",
        "ugia-specs-late",
    ];
    let (code, err) = qaqpa_in(
        &base,
        &[
            &common[..],
            &["--waivers", "waivers.toml", "--out", "whole"],
        ]
        .concat(),
    );
    assert_eq!(code, 0, "{err}");
    let lines = read(&base.join("whole"), "seeds.jsonl");
    for l in lines.lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        assert_eq!(v["outcome"], "pass-with-waivers", "{l}");
        assert_eq!(v["failing"], serde_json::json!([]), "{l}");
        assert_eq!(v["waived"][0], "ugia-6/specifications-in-time", "{l}");
    }
    assert!(read(&base.join("whole"), "summary.md").contains("No seed fails."));
    assert_eq!(
        read(&base.join("whole"), "waivers.toml"),
        waiver("ugia-6", "2025-12-31")
    );
    for k in 1..=2 {
        let (code, err) = qaqpa_in(
            &base,
            &[
                &common[..],
                &[
                    "--partition",
                    &format!("slice:{k}/2"),
                    "--out",
                    &format!("shard-{k}"),
                ],
            ]
            .concat(),
        );
        assert_eq!(code, 1, "without waivers the shard fails: {err}");
    }
    let (code, err) = qaqpa_in(
        &base,
        &[
            "merge",
            "shard-1",
            "shard-2",
            "--waivers",
            "waivers.toml",
            "--out",
            "merged",
        ],
    );
    assert_eq!(code, 0, "{err}");
    for f in [
        "report.json",
        "report.md",
        "report.xml",
        "seeds.jsonl",
        "summary.json",
    ] {
        assert!(
            read(&base.join("whole"), f) == read(&base.join("merged"), f),
            "{f} differs between the campaign with waivers and its shards merged with them"
        );
    }
    // Merged without waivers, the shards' failures stand.
    let (code, _) = qaqpa_in(&base, &["merge", "shard-1", "shard-2", "--out", "bare"]);
    assert_eq!(code, 1);
}

/// `judge` takes waivers as `run` does: recorded traces of a failing run, judged with the
/// waiver, exit 0 with the clause waived, and the folder keeps the file.
#[test]
fn judge_applies_waivers_to_recorded_traces() {
    let (code, err, recorded) = run("waiver-recorded", "", &[]);
    assert_eq!(code, 1, "{err}");
    let input = tmp("waiver-judge-input");
    std::fs::create_dir_all(&input).unwrap();
    std::fs::write(input.join("waivers.toml"), waiver("ugia-6", "2025-12-31")).unwrap();
    let traces = recorded.join("traces");
    let (code, err) = qaqpa_in(
        &input,
        &[
            "judge",
            traces.to_str().unwrap(),
            "--waivers",
            "waivers.toml",
            "--out",
            "judged",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let dir = input.join("judged");
    assert_eq!(clause_json(&dir, "ugia-6")["verdict"], "waived");
    assert!(dir.join("waivers.toml").is_file() && dir.join("provenance.json").is_file());
}
