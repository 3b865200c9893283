//! The four renderings of a report. All are byte-stable: same report, same bytes.
//!
//! - JSON: the report as it is (`schemas/report.schema.json` describes it).
//! - Markdown: the run, a summary by system, every clause with its legal reference and its
//!   obligations, and the evidence of failing and warning clauses.
//! - HTML ([`html`]): the same for a browser, self-contained, with a filter and timelines.
//! - JUnit XML: one test case per clause (the unit of conformance), classname
//!   `qaqpa.<system>`; its obligations are listed in the case's properties and output.
//!   Failing clauses fail; warning clauses pass with a `WARNING` output and a `verdict`
//!   property, or fail with type `clause-warns` under `--warnings-fail`; waived clauses are
//!   skipped with a message `WAIVED: ...` naming the waiver (never a pass: JUnit has no
//!   other state that is neither), counted in `skipped=` and `waived=`; not-tested,
//!   not-applicable and not-machine-checkable clauses are skipped, counted in `skipped=`.
//!   With waivers, a suite `qaqpa.waivers` has one case per waiver: an expired one that
//!   covers a failure fails (`waiver-expired`), a stale one passes with a `WARNING` output
//!   or fails (`waiver-stale`) under `--warnings-fail`, one not judged is skipped.
//!   Every case has `time="0.000"`: a report is byte-identical for a seed, so it carries no
//!   wall-clock times (the CI log has those).

mod html;
mod timeline;

use std::fmt::Write as _;
use std::time::Duration;

use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};

use crate::catalogue::Catalogue;
use crate::report::{ClauseResult, ObligationResult, Outcome, Report};
use crate::verdict::Verdict;
use crate::waiver::{WaiverNote, WaiverStatus};

pub fn json(report: &Report) -> String {
    let mut s = serde_json::to_string_pretty(report).expect("a report always serialises");
    s.push('\n');
    s
}

/// Where a report comes from, beyond what `report.json` records: the run's date and the
/// commit qaqpa was built from. Kept out of the JSON and Markdown so that their snapshots stay
/// fixed; the HTML shows both. Same provenance, same bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provenance {
    /// The run date in words (from `SOURCE_DATE_EPOCH`), or why there is none.
    pub run_date: String,
    /// The qaqpa commit, or why it is unknown.
    pub commit: String,
}

impl Provenance {
    /// The run date from `SOURCE_DATE_EPOCH` (the reproducible-builds convention: whole
    /// seconds since 1970, set by the caller, e.g. `SOURCE_DATE_EPOCH=$(date +%s) qaqpa run`),
    /// and the commit given by the build. Never the wall clock: two runs of one seed must give
    /// byte-identical reports.
    pub fn new(source_date_epoch: Option<&str>, commit: Option<&str>) -> Provenance {
        let run_date = match source_date_epoch.map(str::trim) {
            None | Some("") => {
                "not recorded (set SOURCE_DATE_EPOCH to the run's Unix time to record it)"
                    .to_string()
            }
            Some(s) => match s
                .parse::<i64>()
                .ok()
                .and_then(|n| qaqpa_sim::jiff::Timestamp::from_second(n).ok())
            {
                Some(t) => format!(
                    "{} UTC ({} Asia/Almaty)",
                    t.strftime("%Y-%m-%d %H:%M:%S"),
                    qaqpa_sim::clock::local(t).strftime("%Y-%m-%d %H:%M:%S")
                ),
                None => format!(
                    "not recorded: SOURCE_DATE_EPOCH `{s}` is not whole seconds since 1970-01-01"
                ),
            },
        };
        let commit = match commit.map(str::trim) {
            Some(c) if !c.is_empty() => c.to_string(),
            _ => "unknown (built outside a git checkout)".to_string(),
        };
        Provenance { run_date, commit }
    }

    /// The provenance of this process: `SOURCE_DATE_EPOCH` from the environment and the
    /// commit the caller was built from.
    pub fn from_env(commit: Option<&str>) -> Provenance {
        let epoch = std::env::var("SOURCE_DATE_EPOCH").ok();
        Provenance::new(epoch.as_deref(), commit)
    }
}

/// How the JUnit report treats warnings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JunitOptions {
    /// Warning clauses become failures (`--warnings-fail`).
    pub warnings_fail: bool,
}

fn md_cell(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace('\n', " ")
}

fn target_line(report: &Report) -> String {
    let t = &report.target;
    let defects = if t.defects.is_empty() {
        "none".to_string()
    } else {
        t.defects.join(", ")
    };
    format!("{} ({}), defects: {}", t.name, t.kind, defects)
}

/// The outcome in one sentence: the word `report.json` carries, and what it rests on.
fn outcome_sentence(report: &Report) -> String {
    let n = |v: Verdict| report.clauses.iter().filter(|c| c.verdict == v).count();
    let word = report.outcome.as_str();
    // Waived clauses and stale waivers are said only when there are any, so that a report
    // judged without waivers reads as it always did.
    let waived = match n(Verdict::Waived) {
        0 => String::new(),
        k => format!(", {k} waived"),
    };
    let stale = match report.stale_waivers().count() {
        0 => String::new(),
        1 => "; 1 waiver is stale".to_string(),
        k => format!("; {k} waivers are stale"),
    };
    match report.outcome {
        Outcome::Fail => format!(
            "{word}: {} clause(s) fail, {} warn{waived}, {} pass, {} not tested{stale}",
            n(Verdict::Fail),
            n(Verdict::Warning),
            n(Verdict::Pass),
            n(Verdict::NotTested)
        ),
        Outcome::PassWithWarnings => format!(
            "{word}: no clause fails; {} warn{waived}, {} pass, {} not tested{stale}",
            n(Verdict::Warning),
            n(Verdict::Pass),
            n(Verdict::NotTested)
        ),
        Outcome::PassWithWaivers => format!(
            "{word}: no clause fails or warns; {} waived, {} pass, {} not tested",
            n(Verdict::Waived),
            n(Verdict::Pass),
            n(Verdict::NotTested)
        ),
        Outcome::Pass => format!(
            "{word}: no clause fails or warns; {} pass, {} not tested",
            n(Verdict::Pass),
            n(Verdict::NotTested)
        ),
        Outcome::NothingJudged => {
            format!("{word}: no clause was judged pass, fail or warning")
        }
    }
}

/// The clauses whose evidence a reader must see: failures, warnings and waived failures.
fn flagged(report: &Report) -> impl Iterator<Item = &ClauseResult> {
    report.clauses.iter().filter(|c| {
        matches!(
            c.verdict,
            Verdict::Fail | Verdict::Warning | Verdict::Waived
        )
    })
}

fn judged_count(c: &ClauseResult) -> usize {
    c.obligations.iter().filter(|o| o.verdict.judged()).count()
}

/// A waiver as one line: who, until when, why; and whether it had expired.
fn waiver_line(w: &WaiverNote) -> String {
    if w.expired {
        format!(
            "waiver EXPIRED on {} (approved by {}, {}): {}",
            w.expires, w.approver, w.at, w.reason
        )
    } else {
        format!(
            "waived until {} by {} ({}): {}",
            w.expires, w.approver, w.at, w.reason
        )
    }
}

/// An obligation's finding with the waiver that covers it, if one does.
fn finding_with_waiver(ob: &ObligationResult) -> String {
    match &ob.waiver {
        Some(w) => format!("{} [{}]", ob.finding, waiver_line(w)),
        None => ob.finding.clone(),
    }
}

/// The waivers section's lines, shared by the Markdown and the JUnit output.
fn waiver_rows(report: &Report) -> Vec<(String, WaiverStatus, String, &crate::waiver::Waiver)> {
    report
        .waivers
        .iter()
        .flat_map(|s| s.waivers.iter())
        .map(|w| (w.waiver.scope(), w.status, w.finding.clone(), &w.waiver))
        .collect()
}

pub fn markdown(report: &Report, catalogue: &Catalogue) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# qaqpa conformance report\n");
    let _ = writeln!(o, "| run | |\n|---|---|");
    let _ = writeln!(
        o,
        "| outcome | **{}** |",
        md_cell(&outcome_sentence(report))
    );
    let _ = writeln!(o, "| target | {} |", md_cell(&target_line(report)));
    let _ = writeln!(o, "| systems certified | {} |", report.systems.join(", "));
    let _ = writeln!(o, "| suite version | {} |", report.suite_version);
    let _ = writeln!(o, "| seed | {} |", report.seed);
    let _ = writeln!(
        o,
        "| business calendar | {} |",
        md_cell(&report.calendar.describe())
    );
    let _ = writeln!(o, "| scenarios | {} |", report.scenarios.len());
    if let Some(w) = &report.waivers {
        let _ = writeln!(
            o,
            "| waivers | {} waiver(s) from `{}`, expiry checked on {} |",
            w.waivers.len(),
            md_cell(&w.file),
            w.checked_on
        );
    }
    let _ = writeln!(o, "| report schema | version {} |\n", report.schema_version);

    if report.waivers.is_some() {
        let _ = writeln!(
            o,
            "## Waivers\n\n| waiver | scope | status | approver | expires | reason | what became of it |\n|---|---|---|---|---|---|---|"
        );
        for (scope, status, finding, w) in waiver_rows(report) {
            let shown = match status {
                WaiverStatus::Stale => "**stale (warning)**".to_string(),
                WaiverStatus::Expired => "**expired (failure stands)**".to_string(),
                s => format!("**{s}**"),
            };
            let _ = writeln!(
                o,
                "| {} | `{}` | {shown} | {} | {} | {} | {} |",
                md_cell(&w.at),
                md_cell(&scope),
                md_cell(&w.approver),
                w.expires,
                md_cell(&w.reason),
                md_cell(&finding)
            );
        }
        o.push('\n');
    }

    let _ = write!(o, "## Summary by system\n\n| system |");
    for v in html::VERDICT_ORDER {
        let _ = write!(o, " {v} |");
    }
    let _ = write!(o, " clauses |\n|---|");
    for _ in html::VERDICT_ORDER {
        o.push_str("---:|");
    }
    o.push_str("---:|\n");
    for s in crate::catalogue::System::ALL {
        let cs: Vec<&ClauseResult> = report
            .clauses
            .iter()
            .filter(|c| c.systems.iter().any(|x| x == s.as_str()))
            .collect();
        if cs.is_empty() {
            continue;
        }
        let _ = write!(o, "| {} |", s.as_str());
        for v in html::VERDICT_ORDER {
            let _ = write!(o, " {} |", cs.iter().filter(|c| c.verdict == v).count());
        }
        let _ = writeln!(o, " {} |", cs.len());
    }
    let _ = write!(o, "| all |");
    for v in html::VERDICT_ORDER {
        let _ = write!(o, " {} |", report.totals.get(&v).copied().unwrap_or(0));
    }
    let _ = writeln!(o, " {} |", report.clauses.len());
    let _ = writeln!(o, "\nA clause binding two systems counts in both rows.");

    let _ = writeln!(
        o,
        "\n## Clauses\n\n| clause | verdict | obligations judged | systems | kind | finding |\n|---|---|---:|---|---|---|"
    );
    for c in &report.clauses {
        let _ = writeln!(
            o,
            "| [{id}](#{id}) | **{}** | {} of {} | {} | {} | {} |",
            c.verdict,
            judged_count(c),
            c.obligations.len(),
            c.systems.join(", "),
            c.kinds.join(", "),
            md_cell(&c.finding),
            id = c.id,
        );
    }

    let _ = writeln!(
        o,
        "\n## Clauses in detail\n\nFailing and warning clauses first, then the rest in catalogue order."
    );
    for c in html::reading_order(report) {
        let _ = writeln!(o, "\n### {} — {}\n", c.id, c.verdict);
        if let Some(cl) = catalogue.get(&c.id) {
            let _ = writeln!(o, "*{}*\n", md_cell(&catalogue.citation(cl).to_string()));
        }
        let _ = writeln!(o, "{}\n", md_cell(&c.summary));
        if !c.obligations.is_empty() {
            let _ = writeln!(
                o,
                "| obligation | kind | verdict | what must hold | finding |\n|---|---|---|---|---|"
            );
            for ob in &c.obligations {
                let _ = writeln!(
                    o,
                    "| `{}/{}` | {} | **{}** | {} | {} |",
                    c.id,
                    ob.id,
                    ob.kind,
                    ob.verdict,
                    md_cell(&ob.text),
                    md_cell(&finding_with_waiver(ob))
                );
            }
            o.push('\n');
        }
        if !c.scenarios.is_empty() {
            let links: Vec<String> = c
                .scenarios
                .iter()
                .map(|s| format!("[{s}](traces/{s}.jsonl)"))
                .collect();
            let _ = writeln!(o, "Scenarios: {}\n", links.join(", "));
        }
    }

    let mut any = false;
    for c in flagged(report) {
        if !any {
            let _ = writeln!(o, "\n## Evidence of failing, warning and waived clauses");
            any = true;
        }
        let _ = writeln!(o, "\n### Evidence: {} — {}\n", c.id, c.verdict);
        let _ = writeln!(
            o,
            "| time (Asia/Almaty) | scenario | probe | subject | observation |\n|---|---|---|---|---|"
        );
        // In time order (the oracles give it obligation by obligation).
        let mut evidence: Vec<&crate::verdict::Evidence> = c.evidence.iter().collect();
        evidence.sort_by_key(|e| {
            e.at.parse::<qaqpa_sim::jiff::Timestamp>()
                .unwrap_or(qaqpa_sim::jiff::Timestamp::MIN)
        });
        for e in evidence {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} |",
                e.at,
                md_cell(&e.scenario),
                md_cell(&e.probe),
                md_cell(&e.subject),
                md_cell(&e.text)
            );
        }
    }

    let _ = writeln!(
        o,
        "\n## Scenarios\n\n| scenario | file | system | clauses | observations | trace SHA-256 |\n|---|---|---|---|---:|---|"
    );
    for s in &report.scenarios {
        let _ = writeln!(
            o,
            "| [{id}](traces/{id}.jsonl) | {} | {} | {} | {} | `{}` |",
            md_cell(&s.file),
            s.system,
            s.clauses.join(", "),
            s.observations,
            &s.trace_sha256[..16.min(s.trace_sha256.len())],
            id = md_cell(&s.id),
        );
    }

    let _ = writeln!(o, "\n## Documents cited\n");
    for d in catalogue.documents() {
        if !report.clauses.iter().any(|c| c.document == d.key) {
            continue;
        }
        let _ = writeln!(
            o,
            "- `{}`: {} of {}, {}: {}.",
            d.key,
            md_cell(&d.order),
            d.date,
            d.registration(),
            md_cell(&d.title)
        );
        for (i, a) in d.appendices.iter().enumerate() {
            let _ = writeln!(o, "  - Appendix {}: {}", i + 1, md_cell(a));
        }
    }
    o
}

pub fn junit(report: &Report, options: JunitOptions) -> String {
    let mut junit = quick_junit::Report::new("qaqpa");
    let mut suites: Vec<TestSuite> = Vec::new();
    for c in &report.clauses {
        let system = c.systems.first().cloned().unwrap_or_else(|| "other".into());
        let mut details = String::new();
        for ob in &c.obligations {
            let _ = writeln!(
                details,
                "{}/{} [{}] {} — {}",
                c.id,
                ob.id,
                ob.verdict,
                ob.text,
                finding_with_waiver(ob)
            );
        }
        let evidence = || {
            let mut d = details.clone();
            for e in &c.evidence {
                let _ = writeln!(
                    d,
                    "{} [{}] {} {}: {}",
                    e.at, e.scenario, e.probe, e.subject, e.text
                );
            }
            d
        };
        let status = match c.verdict {
            Verdict::Pass => TestCaseStatus::success(),
            Verdict::Warning if !options.warnings_fail => TestCaseStatus::success(),
            Verdict::Fail | Verdict::Warning => {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                s.set_message(c.finding.clone());
                s.set_type(if c.verdict == Verdict::Fail {
                    "clause-fails"
                } else {
                    "clause-warns"
                });
                s.set_description(evidence());
                s
            }
            Verdict::Waived => {
                let mut s = TestCaseStatus::skipped();
                let waivers: Vec<String> = c
                    .obligations
                    .iter()
                    .filter(|o| o.verdict == Verdict::Waived)
                    .filter_map(|o| {
                        o.waiver
                            .as_ref()
                            .map(|w| format!("{}: {}", o.id, waiver_line(w)))
                    })
                    .collect();
                s.set_message(format!("WAIVED: {}; {}", c.finding, waivers.join("; ")));
                s.set_type("clause-waived");
                s
            }
            Verdict::NotApplicable | Verdict::NotTested | Verdict::NotMachineCheckable => {
                let mut s = TestCaseStatus::skipped();
                s.set_message(format!("{}: {}", c.verdict, c.finding));
                s
            }
        };
        let mut case = TestCase::new(c.id.clone(), status);
        case.set_classname(format!("qaqpa.{system}"));
        case.set_time(Duration::ZERO);
        case.add_property(("verdict", c.verdict.as_str()));
        for ob in &c.obligations {
            case.add_property((
                format!("obligation {}/{}", c.id, ob.id).as_str(),
                ob.verdict.as_str(),
            ));
        }
        if c.verdict == Verdict::Warning && !options.warnings_fail {
            case.set_system_out(format!("WARNING: {}\n{}", c.finding, evidence()));
        } else if c.verdict == Verdict::Waived {
            case.set_system_out(format!("WAIVED: {}\n{}", c.finding, evidence()));
        } else if !details.is_empty() {
            case.set_system_out(details);
        }
        match suites.iter_mut().find(|s| s.name.as_str() == system) {
            Some(s) => {
                s.add_test_case(case);
            }
            None => {
                let mut s = TestSuite::new(system.clone());
                s.add_property(("seed", report.seed.to_string().as_str()));
                s.add_property(("target", target_line(report).as_str()));
                s.add_property(("suite-version", report.suite_version.as_str()));
                s.add_property(("outcome", report.outcome.as_str()));
                s.add_test_case(case);
                suites.push(s);
            }
        }
    }
    if report.waivers.is_some() {
        suites.push(waivers_suite(report, options));
    }
    for s in &mut suites {
        // quick-junit counts skipped cases as `disabled`; JUnit readers look for `skipped`.
        let skipped = std::mem::take(&mut s.disabled);
        s.extra
            .insert("skipped".into(), skipped.to_string().as_str().into());
        let warnings = s
            .test_cases
            .iter()
            .filter(|t| {
                t.properties
                    .iter()
                    .any(|p| p.name.as_str() == "verdict" && p.value.as_str() == "warning")
            })
            .count();
        s.extra
            .insert("warnings".into(), warnings.to_string().as_str().into());
        if report.waivers.is_some() {
            let waived = s
                .test_cases
                .iter()
                .filter(|t| {
                    t.properties
                        .iter()
                        .any(|p| p.name.as_str() == "verdict" && p.value.as_str() == "waived")
                })
                .count();
            s.extra
                .insert("waived".into(), waived.to_string().as_str().into());
        }
        s.set_time(Duration::ZERO);
    }
    junit.set_time(Duration::ZERO);
    junit.add_test_suites(suites);
    junit.to_string().expect("a JUnit report always serialises")
}

/// One test case per waiver: an expired waiver over a failure fails, a stale one warns (or
/// fails under `--warnings-fail`), an applied one passes, one not judged is skipped.
fn waivers_suite(report: &Report, options: JunitOptions) -> TestSuite {
    let mut suite = TestSuite::new("qaqpa.waivers");
    if let Some(w) = &report.waivers {
        suite.add_property(("waivers-file", w.file.as_str()));
        suite.add_property(("checked-on", w.checked_on.to_string().as_str()));
    }
    for (scope, status, finding, w) in waiver_rows(report) {
        let text = format!(
            "{} {scope}: approved by {}, expires {}: {}\n{finding}",
            w.at, w.approver, w.expires, w.reason
        );
        let st = match status {
            WaiverStatus::Applied => TestCaseStatus::success(),
            WaiverStatus::Stale if !options.warnings_fail => TestCaseStatus::success(),
            WaiverStatus::Expired | WaiverStatus::Stale => {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                s.set_message(finding.clone());
                s.set_type(if status == WaiverStatus::Expired {
                    "waiver-expired"
                } else {
                    "waiver-stale"
                });
                s.set_description(text.clone());
                s
            }
            WaiverStatus::NotJudged => {
                let mut s = TestCaseStatus::skipped();
                s.set_message(finding.clone());
                s
            }
        };
        let mut case = TestCase::new(format!("waiver {scope} ({})", w.at), st);
        case.set_classname("qaqpa.waivers");
        case.set_time(Duration::ZERO);
        case.add_property(("status", status.as_str()));
        if status == WaiverStatus::Stale && !options.warnings_fail {
            case.add_property(("verdict", "warning"));
            case.set_system_out(format!("WARNING: {text}"));
        } else {
            case.set_system_out(text);
        }
        suite.add_test_case(case);
    }
    suite
}

fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            _ => o.push(ch),
        }
    }
    o
}

/// The report as one self-contained page (see the module [`html`]).
pub fn html(report: &Report, catalogue: &Catalogue, provenance: &Provenance) -> String {
    html::page(report, catalogue, provenance)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::ScenarioRun;
    use crate::verdict::Evidence;
    use std::collections::BTreeMap;

    fn evidence(at: &str, probe: &str, text: &str) -> Evidence {
        Evidence {
            scenario: "s1".into(),
            at: at.into(),
            probe: probe.into(),
            subject: "case C".into(),
            text: text.into(),
            seq: None,
        }
    }

    fn report() -> Report {
        let clause = |id: &str, verdict, evidence: Vec<Evidence>| ClauseResult {
            id: id.into(),
            number: "6".into(),
            document: "order-386".into(),
            systems: vec!["ugia".into()],
            kinds: vec!["workflow".into()],
            summary: "a <b>summary</b> | with a pipe".into(),
            verdict,
            finding: "late & <unreasoned> | split".into(),
            scenarios: vec!["s1".into()],
            evidence: evidence.clone(),
            obligations: vec![crate::report::ObligationResult {
                id: "specifications-in-time".into(),
                kind: "workflow".into(),
                text: "in time".into(),
                verdict,
                finding: "late & <unreasoned> | split".into(),
                scenarios: vec!["s1".into()],
                evidence,
                seeds: None,
                waiver: None,
            }],
        };
        let ev = vec![
            evidence("2025-03-20T18:30:00+05:00", "inbox:STS", "application"),
            evidence("2025-04-08T23:59:59+05:00", "oracle", "deadline"),
            evidence(
                "2024-02-29T12:00:00+06:00",
                "inbox:operator",
                "<script>alert(1)</script>",
            ),
        ];
        Report {
            schema_version: crate::report::SCHEMA_VERSION,
            outcome: crate::report::Outcome::Fail,
            suite_version: "0.0.0".into(),
            seed: 7,
            campaign: None,
            target: qaqpa_sim::target::TargetInfo {
                kind: "reference".into(),
                name: "ref".into(),
                version: None,
                defects: vec!["d1".into()],
            },
            systems: vec!["ugia".into()],
            calendar: crate::report::CalendarInfo {
                sources: vec!["cal.toml".into()],
                first_year: 2020,
                last_year: 2027,
                provisional_years: vec![2027],
                sha256: "cd".repeat(32),
            },
            scenarios: vec![ScenarioRun {
                id: "s1".into(),
                title: "t".into(),
                file: "f.yaml".into(),
                system: "ugia".into(),
                clauses: vec!["ugia-6".into()],
                observations: 3,
                trace_sha256: "ab".repeat(32),
            }],
            totals: BTreeMap::from([
                (Verdict::Fail, 1),
                (Verdict::Pass, 1),
                (Verdict::Warning, 1),
            ]),
            clauses: vec![
                clause("ugia-6", Verdict::Fail, ev),
                clause("ugia-10", Verdict::Pass, vec![]),
                clause("eint-45-11", Verdict::Warning, vec![]),
            ],
            waivers: None,
        }
    }

    #[test]
    fn html_escapes_everything_and_draws_each_failing_observation() {
        let html = html(
            &report(),
            Catalogue::standard(),
            &Provenance::new(None, None),
        );
        assert_eq!(
            html.matches("<script").count(),
            1,
            "the filter's own script only; observations are escaped"
        );
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("late &amp; &lt;unreasoned&gt; | split"));
        assert_eq!(
            html.matches("<circle class=\"observed\" cx").count(),
            2 + 1,
            "two observations of the failing clause, and the legend's mark"
        );
        assert_eq!(
            html.matches("<path class=\"computed\"").count(),
            1 + 1,
            "the computed deadline, and the legend's mark"
        );
        assert!(
            !html.contains("src=") && !html.contains("href=\"http"),
            "self-contained"
        );
    }

    #[test]
    fn provenance_comes_from_the_environment_never_the_clock() {
        let p = Provenance::new(Some("1742470200"), Some("0123abcd"));
        assert_eq!(
            p.run_date,
            "2025-03-20 11:30:00 UTC (2025-03-20 16:30:00 Asia/Almaty)"
        );
        assert_eq!(p.commit, "0123abcd");
        assert!(
            Provenance::new(None, None)
                .run_date
                .starts_with("not recorded")
        );
        let bad = Provenance::new(Some("yesterday"), Some(" "));
        assert!(bad.run_date.contains("`yesterday`"), "{}", bad.run_date);
        assert!(bad.commit.starts_with("unknown"));
        let a = html(&report(), Catalogue::standard(), &p);
        assert!(a.contains("2025-03-20 11:30:00 UTC") && a.contains("0123abcd"));
        assert_eq!(a, html(&report(), Catalogue::standard(), &p), "byte-stable");
    }

    #[test]
    fn markdown_cells_cannot_break_the_table() {
        let md = markdown(&report(), Catalogue::standard());
        let row = md.lines().find(|l| l.starts_with("| [ugia-6]")).unwrap();
        let bars = row
            .char_indices()
            .filter(|(i, c)| *c == '|' && !row[..*i].ends_with('\\'))
            .count();
        assert_eq!(bars, 7, "six cells: {row}");
        assert!(
            md.contains("### Evidence: ugia-6 — fail") && !md.contains("### Evidence: ugia-10"),
            "evidence only for failing clauses"
        );
        assert!(md.contains("a <b>summary</b> \\| with a pipe"));
    }

    #[test]
    fn markdown_shows_obligations_and_legal_references() {
        let md = markdown(&report(), Catalogue::standard());
        assert!(md.contains("| `ugia-6/specifications-in-time` | workflow | **fail** |"));
        assert!(md.contains(
            "Appendix 1 (Rules for functioning of the Unified Internet Access Gateway), clause 6"
        ));
        assert!(md.contains("under No. 21436"));
        // Failing clauses come first in the detail.
        let fail = md.find("### ugia-6 — fail").unwrap();
        let pass = md.find("### ugia-10 — pass").unwrap();
        assert!(fail < pass);
    }

    #[test]
    fn junit_has_one_case_per_clause_and_fails_the_failing_one() {
        let xml = junit(&report(), JunitOptions::default());
        assert_eq!(xml.matches("<testcase ").count(), 3);
        assert_eq!(xml.matches("<failure").count(), 1);
        assert!(
            xml.contains("tests=\"3\"") && xml.contains("failures=\"1\""),
            "{xml}"
        );
        assert_eq!(
            xml.matches("time=\"0.000\"").count(),
            3 + 1 + 1,
            "every case, the suite and the report have a time: {xml}"
        );
        assert!(xml.contains("WARNING: "), "the warning is visible: {xml}");
        assert!(xml.contains("warnings=\"1\""), "{xml}");
        assert!(
            xml.contains("name=\"obligation ugia-6/specifications-in-time\" value=\"fail\""),
            "{xml}"
        );
    }

    #[test]
    fn warnings_fail_makes_warning_clauses_failures() {
        let xml = junit(
            &report(),
            JunitOptions {
                warnings_fail: true,
            },
        );
        assert_eq!(xml.matches("<failure").count(), 2, "{xml}");
        assert!(xml.contains("type=\"clause-warns\""), "{xml}");
        assert!(!xml.contains("WARNING: "));
    }

    #[test]
    fn junit_counts_skipped_cases_as_skipped() {
        let mut r = report();
        r.clauses[1].verdict = Verdict::NotTested;
        let xml = junit(&r, JunitOptions::default());
        assert!(xml.contains("skipped=\"1\""), "{xml}");
        assert!(xml.contains("disabled=\"0\""), "{xml}");
        assert_eq!(xml.matches("<skipped").count(), 1, "{xml}");
    }

    #[test]
    fn json_keeps_the_fields_users_script_against() {
        let v: serde_json::Value = serde_json::from_str(&json(&report())).unwrap();
        for k in [
            "schema_version",
            "outcome",
            "suite_version",
            "seed",
            "target",
            "clauses",
        ] {
            assert!(v.get(k).is_some(), "{k}");
        }
        assert_eq!(v["clauses"][0]["verdict"], "fail");
        assert_eq!(
            v["clauses"][0]["obligations"][0]["id"],
            "specifications-in-time"
        );
        assert_eq!(v["totals"]["pass"], 1);
    }
}
