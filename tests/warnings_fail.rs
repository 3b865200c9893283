//! `--warnings-fail`: a warning clause makes `run` and `judge` exit 1 and fails its JUnit test
//! case; without the flag it exits 0 and the case passes with its warning shown.

mod common;

use qaqpa::cli::verdict_exit_code;
use qaqpa_reports::Verdict;

#[test]
fn warnings_fail_only_when_asked() {
    let run = common::run("warnings-fail", 1, |a| a.system("bus"));
    assert_eq!(
        verdict_exit_code(&run.report, false),
        0,
        "the reference passes"
    );
    assert_eq!(verdict_exit_code(&run.report, true), 0, "and does not warn");

    let mut warned = run.report.clone();
    let c = warned
        .clauses
        .iter_mut()
        .find(|c| c.verdict == Verdict::Pass)
        .expect("a passing clause");
    c.verdict = Verdict::Warning;
    assert_eq!(verdict_exit_code(&warned, false), 0);
    assert_eq!(verdict_exit_code(&warned, true), 1);

    let mut failed = run.report.clone();
    failed.clauses[0].verdict = Verdict::Fail;
    assert_eq!(verdict_exit_code(&failed, false), 1);
}

#[test]
fn the_flag_reaches_the_junit_report() {
    let plain = common::run("warnings-plain", 1, |a| {
        a.system("bus").defect("bus-silent-check")
    });
    let strict = common::run("warnings-strict", 1, |a| {
        a.system("bus").defect("bus-silent-check").warnings_fail()
    });
    let warnings = plain
        .report
        .clauses
        .iter()
        .filter(|c| c.verdict == Verdict::Warning)
        .count();
    let fails = plain
        .report
        .clauses
        .iter()
        .filter(|c| c.verdict == Verdict::Fail)
        .count();
    assert!(
        warnings > 0 && fails > 0,
        "the defect both breaks and warns"
    );
    let xml = |r: &common::Run| std::fs::read_to_string(r.dir.join("report.xml")).unwrap();
    assert_eq!(xml(&plain).matches("<failure").count(), fails);
    assert_eq!(xml(&strict).matches("<failure").count(), fails + warnings);
    assert!(xml(&plain).contains("WARNING: "));
}
