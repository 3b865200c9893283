//! Recorded evidence: the traces a run writes, judged again by the same oracles, give the
//! same verdicts; evidence edited to show a late answer fails the clause.

mod common;

use qaqpa::judge_cmd::{JudgeArgs, judge};
use qaqpa_reports::Verdict;

#[test]
fn judging_a_runs_own_traces_gives_its_verdicts() {
    let run = common::run("recorded-source", 1, |a| a);
    let out = run.dir.with_file_name("recorded-judged");
    let judged = judge(&JudgeArgs::new(vec![run.dir.join("traces")], out.clone())).unwrap();
    assert_eq!(judged.report.target.kind, "recorded");
    let verdicts = |r: &qaqpa_reports::Report| {
        r.clauses
            .iter()
            .map(|c| (c.id.clone(), c.verdict))
            .collect::<Vec<_>>()
    };
    assert_eq!(verdicts(&judged.report), verdicts(&run.report));
    assert!(out.join("report.json").is_file());
}

#[test]
fn a_late_answer_in_the_evidence_fails_the_clause() {
    let run = common::run("recorded-late", 1, |a| a.system("ugia"));
    let file = run
        .dir
        .join("traces/ugia-channel-application-before-nauryz.jsonl");
    let text = std::fs::read_to_string(&file).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let specs = lines
        .iter()
        .position(|l| l.contains("technical-specifications"))
        .expect("the specifications were observed");
    let mut obs: serde_json::Value = serde_json::from_str(&lines[specs]).unwrap();
    // 2025-04-09 is the 11th working day after receipt on 2025-03-20.
    obs["at"] = "2025-04-09T06:00:00Z".into();
    lines[specs] = obs.to_string();
    let dir = run.dir.join("tampered");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("ugia-channel-application-before-nauryz.jsonl"),
        lines.join("\n"),
    )
    .unwrap();
    let judged = judge(&JudgeArgs::new(vec![dir], run.dir.join("tampered-out"))).unwrap();
    let c = judged
        .report
        .clauses
        .iter()
        .find(|c| c.id == "ugia-6")
        .unwrap();
    assert_eq!(c.verdict, Verdict::Fail, "{}", c.finding);
    assert!(
        c.finding.contains("1 working day(s) after"),
        "{}",
        c.finding
    );
    assert_eq!(
        common::verdict(&judged.report, "ugem-9"),
        Verdict::NotApplicable,
        "only ugia was recorded"
    );
}

#[test]
fn broken_evidence_is_refused_naming_file_and_line() {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("recorded-broken");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("ugia-channel-application-before-nauryz.jsonl"),
        "{\"seq\":0}\n",
    )
    .unwrap();
    let err = judge(&JudgeArgs::new(vec![dir.clone()], dir.join("out")))
        .err()
        .unwrap();
    assert!(
        err.contains("ugia-channel-application-before-nauryz.jsonl:1:"),
        "{err}"
    );
    std::fs::write(dir.join("ugia-channel-application-before-nauryz.jsonl"), "").unwrap();
    std::fs::write(dir.join("no-such-scenario.jsonl"), "").unwrap();
    let err = judge(&JudgeArgs::new(vec![dir.clone()], dir.join("out")))
        .err()
        .unwrap();
    assert!(err.contains("no-such-scenario"), "{err}");
}
