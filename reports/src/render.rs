//! The four renderings of a report. All are byte-stable: same report, same bytes.

use std::fmt::Write as _;

use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};

use crate::catalogue::Catalogue;
use crate::report::{ClauseResult, Report};
use crate::verdict::Verdict;

pub fn json(report: &Report) -> String {
    let mut s = serde_json::to_string_pretty(report).expect("a report always serialises");
    s.push('\n');
    s
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

/// The clauses whose evidence a reader must see: failures and warnings.
fn flagged(report: &Report) -> impl Iterator<Item = &ClauseResult> {
    report
        .clauses
        .iter()
        .filter(|c| matches!(c.verdict, Verdict::Fail | Verdict::Warning))
}

pub fn markdown(report: &Report) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# qaqpa conformance report\n");
    let _ = writeln!(o, "| run | |\n|---|---|");
    let _ = writeln!(o, "| suite version | {} |", report.suite_version);
    let _ = writeln!(o, "| seed | {} |", report.seed);
    let _ = writeln!(o, "| target | {} |", md_cell(&target_line(report)));
    let _ = writeln!(o, "| systems certified | {} |", report.systems.join(", "));
    let _ = writeln!(
        o,
        "| business calendar | {} |",
        md_cell(&report.calendar.describe())
    );
    let _ = writeln!(o, "| scenarios | {} |", report.scenarios.len());
    let _ = writeln!(
        o,
        "| outcome | {} |\n",
        if report.failed() {
            "FAIL: at least one clause fails"
        } else {
            "no clause fails"
        }
    );

    let _ = writeln!(o, "## Totals\n\n| verdict | clauses |\n|---|---:|");
    for (v, n) in &report.totals {
        let _ = writeln!(o, "| {v} | {n} |");
    }

    let _ = writeln!(
        o,
        "\n## Clauses\n\n| clause | document | systems | kind | verdict | finding |\n|---|---|---|---|---|---|"
    );
    for c in &report.clauses {
        let _ = writeln!(
            o,
            "| {} | {} §{} | {} | {} | **{}** | {} |",
            c.id,
            c.document,
            md_cell(&c.number),
            c.systems.join(", "),
            c.kinds.join(", "),
            c.verdict,
            md_cell(&c.finding)
        );
    }

    let mut any = false;
    for c in flagged(report) {
        if !any {
            let _ = writeln!(o, "\n## Evidence of failing and warning clauses");
            any = true;
        }
        let _ = writeln!(
            o,
            "\n### {} — {}\n\n{}\n",
            c.id,
            c.verdict,
            md_cell(&c.summary)
        );
        let _ = writeln!(
            o,
            "| time (Asia/Almaty) | scenario | probe | subject | observation |\n|---|---|---|---|---|"
        );
        for e in &c.evidence {
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
            "| {} | {} | {} | {} | {} | `{}` |",
            md_cell(&s.id),
            md_cell(&s.file),
            s.system,
            s.clauses.join(", "),
            s.observations,
            &s.trace_sha256[..16.min(s.trace_sha256.len())]
        );
    }
    o
}

pub fn junit(report: &Report) -> String {
    let mut junit = quick_junit::Report::new("qaqpa");
    let mut suites: Vec<TestSuite> = Vec::new();
    for c in &report.clauses {
        let system = c.systems.first().cloned().unwrap_or_else(|| "other".into());
        let status = match c.verdict {
            Verdict::Pass => TestCaseStatus::success(),
            Verdict::Warning => TestCaseStatus::success(),
            Verdict::Fail => {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                s.set_message(c.finding.clone());
                s.set_type("clause-fails");
                let mut description = String::new();
                for e in &c.evidence {
                    let _ = writeln!(
                        description,
                        "{} [{}] {} {}: {}",
                        e.at, e.scenario, e.probe, e.subject, e.text
                    );
                }
                s.set_description(description);
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
        if c.verdict == Verdict::Warning {
            case.set_system_out(format!("warning: {}", c.finding));
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
                s.add_test_case(case);
                suites.push(s);
            }
        }
    }
    junit.add_test_suites(suites);
    junit.to_string().expect("a JUnit report always serialises")
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

const STYLE: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:72em;color:#1d2329;padding:0 1em}\
h1{font-size:1.6em}table{border-collapse:collapse;width:100%;margin:.6em 0 1.4em}\
th,td{border:1px solid #d0d7de;padding:.3em .5em;text-align:left;vertical-align:top}th{background:#f3f5f7}\
.v{font-weight:600;white-space:nowrap;border-radius:3px;padding:.05em .4em}\
.pass{background:#d8f5dd;color:#135c22}.fail{background:#fde0e0;color:#8a1111}.warning{background:#fff1c7;color:#6b4b00}\
.not-tested{background:#e8eaee;color:#3b4450}.not-applicable{background:#eef0f3;color:#5b6470}.not-machine-checkable{background:#ece6f7;color:#4a2f80}\
details{margin:.2em 0}summary{cursor:pointer}blockquote{margin:.3em 0 .3em 1em;color:#3b4450}\
svg text{font:11px system-ui,sans-serif}code{font-size:.92em}";

/// The report as one self-contained page: no scripts, no external resources.
pub fn html(report: &Report, catalogue: &Catalogue) -> String {
    let mut o = String::new();
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>qaqpa conformance report — seed {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        report.seed
    );
    let _ = writeln!(o, "<h1>qaqpa conformance report</h1>");
    let _ = writeln!(o, "<table><tbody>");
    let rows = [
        ("suite version", report.suite_version.clone()),
        ("seed", report.seed.to_string()),
        ("target", target_line(report)),
        ("systems certified", report.systems.join(", ")),
        ("business calendar", report.calendar.describe()),
        ("scenarios", report.scenarios.len().to_string()),
        (
            "outcome",
            if report.failed() {
                "FAIL: at least one clause fails".into()
            } else {
                "no clause fails".into()
            },
        ),
    ];
    for (k, v) in rows {
        let _ = writeln!(o, "<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(&v));
    }
    let _ = writeln!(o, "</tbody></table>");

    let _ = writeln!(o, "<h2>Totals</h2>\n<p>");
    for (v, n) in &report.totals {
        let _ = write!(o, "<span class=\"v {v}\">{v}: {n}</span> ");
    }
    let _ = writeln!(o, "</p>");

    let _ = writeln!(
        o,
        "<h2>Clauses</h2>\n<table>\n<thead><tr><th>clause</th><th>document</th><th>systems</th><th>kind</th><th>verdict</th><th>finding and text</th></tr></thead>\n<tbody>"
    );
    for c in &report.clauses {
        let _ = write!(
            o,
            "<tr id=\"{id}\"><td><a href=\"#{id}\">{id}</a></td><td>{doc} §{num}</td><td>{sys}</td><td>{kinds}</td><td>{badge}</td><td>{finding}",
            id = esc(&c.id),
            doc = esc(&c.document),
            num = esc(&c.number),
            sys = esc(&c.systems.join(", ")),
            kinds = esc(&c.kinds.join(", ")),
            badge = if matches!(c.verdict, Verdict::Fail | Verdict::Warning) {
                format!(
                    "<a class=\"v {v}\" href=\"#evidence-{id}\">{v}</a>",
                    v = c.verdict,
                    id = esc(&c.id)
                )
            } else {
                format!("<span class=\"v {v}\">{v}</span>", v = c.verdict)
            },
            finding = esc(&c.finding),
        );
        if let Some(clause) = catalogue.get(&c.id) {
            let _ = write!(
                o,
                "<details><summary>{}</summary><blockquote lang=\"kk\">{}</blockquote>",
                esc(&clause.summary),
                esc(&clause.text_kk)
            );
            if let Some(en) = &clause.text_en {
                let _ = write!(o, "<blockquote lang=\"en\">{}</blockquote>", esc(en));
            }
            let _ = write!(o, "</details>");
        }
        let _ = writeln!(o, "</td></tr>");
    }
    let _ = writeln!(o, "</tbody>\n</table>");

    let mut any = false;
    for c in flagged(report) {
        if !any {
            let _ = writeln!(o, "<h2>Evidence of failing and warning clauses</h2>");
            any = true;
        }
        let _ = writeln!(
            o,
            "<h3 id=\"evidence-{id}\">{id} — <span class=\"v {v}\">{v}</span></h3>\n<p>{f}</p>",
            id = esc(&c.id),
            v = c.verdict,
            f = esc(&c.finding)
        );
        o.push_str(&timeline_svg(c));
        let _ = writeln!(
            o,
            "<table>\n<thead><tr><th>time (Asia/Almaty)</th><th>scenario</th><th>probe</th><th>subject</th><th>observation</th></tr></thead>\n<tbody>"
        );
        for e in &c.evidence {
            let _ = writeln!(
                o,
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&e.at),
                esc(&e.scenario),
                esc(&e.probe),
                esc(&e.subject),
                esc(&e.text)
            );
        }
        let _ = writeln!(o, "</tbody>\n</table>");
    }

    let _ = writeln!(
        o,
        "<h2>Scenarios</h2>\n<table>\n<thead><tr><th>scenario</th><th>file</th><th>system</th><th>clauses</th><th>observations</th><th>trace SHA-256</th></tr></thead>\n<tbody>"
    );
    for s in &report.scenarios {
        let _ = writeln!(
            o,
            "<tr><td>{}<br><small>{}</small></td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
            esc(&s.id),
            esc(&s.title),
            esc(&s.file),
            esc(&s.system),
            esc(&s.clauses.join(", ")),
            s.observations,
            esc(&s.trace_sha256)
        );
    }
    let _ = writeln!(o, "</tbody>\n</table>\n</body>\n</html>");
    o
}

/// A horizontal timeline of one clause's evidence, per scenario a lane, in simulated time.
fn timeline_svg(c: &ClauseResult) -> String {
    use qaqpa_sim::jiff::Timestamp;
    let points: Vec<(usize, Timestamp, &crate::verdict::Evidence)> = {
        let mut lanes: Vec<&str> = Vec::new();
        c.evidence
            .iter()
            .filter_map(|e| {
                let t = e.at.parse::<Timestamp>().ok()?;
                let lane = match lanes.iter().position(|l| *l == e.scenario) {
                    Some(i) => i,
                    None => {
                        lanes.push(&e.scenario);
                        lanes.len() - 1
                    }
                };
                Some((lane, t, e))
            })
            .collect()
    };
    let Some(t0) = points.iter().map(|p| p.1).min() else {
        return String::new();
    };
    let t1 = points.iter().map(|p| p.1).max().unwrap_or(t0);
    let span = (t1.as_second() - t0.as_second()).max(1) as f64;
    let lanes = points.iter().map(|p| p.0).max().unwrap_or(0) + 1;
    let (width, left, right, lane_h) = (900.0, 70.0, 70.0, 70.0);
    let height = lanes as f64 * lane_h + 30.0;
    let mut o = String::new();
    let _ = writeln!(
        o,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" role=\"img\" aria-label=\"timeline of {}\">",
        esc(&c.id)
    );
    for lane in 0..lanes {
        let y = 30.0 + lane as f64 * lane_h;
        let _ = writeln!(
            o,
            "<line x1=\"{left}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\" stroke=\"#9aa4ae\"/>",
            width - right
        );
    }
    for (i, (lane, t, e)) in points.iter().enumerate() {
        let x = left + (t.as_second() - t0.as_second()) as f64 / span * (width - left - right);
        let y = 30.0 + *lane as f64 * lane_h;
        let colour = if e.probe == "oracle" {
            "#8a1111"
        } else {
            "#1f5fa8"
        };
        let dy = if i % 2 == 0 { -10.0 } else { 22.0 };
        let _ = writeln!(
            o,
            "<circle cx=\"{x:.1}\" cy=\"{y}\" r=\"5\" fill=\"{colour}\"><title>{} — {}</title></circle><text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            esc(&e.at),
            esc(&e.text),
            y + dy,
            esc(e.at.get(..10).unwrap_or(&e.at))
        );
    }
    let _ = writeln!(
        o,
        "<circle cx=\"{left}\" cy=\"{ly}\" r=\"4\" fill=\"#1f5fa8\"/><text x=\"{}\" y=\"{}\">observed by a probe</text><circle cx=\"{}\" cy=\"{ly}\" r=\"4\" fill=\"#8a1111\"/><text x=\"{}\" y=\"{}\">computed by the oracle (deadline)</text>",
        left + 8.0,
        height - 16.0,
        left + 160.0,
        left + 168.0,
        height - 16.0,
        ly = height - 20.0
    );
    o.push_str("</svg>\n");
    o
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
            target: qaqpa_sim::target::TargetInfo {
                kind: "reference".into(),
                name: "ref".into(),
                defects: vec!["d1".into()],
            },
            systems: vec!["ugia".into()],
            calendar: crate::report::CalendarInfo {
                sources: vec!["cal.toml".into()],
                first_year: 2020,
                last_year: 2027,
                provisional_years: vec![2027],
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
            totals: BTreeMap::from([(Verdict::Fail, 1), (Verdict::Pass, 1)]),
            clauses: vec![
                clause("ugia-6", Verdict::Fail, ev),
                clause("ugia-10", Verdict::Pass, vec![]),
            ],
        }
    }

    #[test]
    fn html_escapes_everything_and_draws_each_failing_observation() {
        let html = html(&report(), Catalogue::standard());
        assert!(!html.contains("<script>"), "observations are escaped");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("late &amp; &lt;unreasoned&gt; | split"));
        assert_eq!(
            html.matches("</circle>").count(),
            3,
            "one point per piece of evidence of the failing clause"
        );
        assert!(
            !html.contains("src=") && !html.contains("href=\"http"),
            "self-contained"
        );
    }

    #[test]
    fn markdown_cells_cannot_break_the_table() {
        let md = markdown(&report());
        let row = md.lines().find(|l| l.starts_with("| ugia-6 |")).unwrap();
        let bars = row
            .char_indices()
            .filter(|(i, c)| *c == '|' && !row[..*i].ends_with('\\'))
            .count();
        assert_eq!(bars, 7, "six cells: {row}");
        assert!(
            md.contains("### ugia-6 — fail") && !md.contains("### ugia-10"),
            "evidence only for failing clauses"
        );
        assert!(md.contains("a <b>summary</b> \\| with a pipe"));
    }

    #[test]
    fn junit_has_one_case_per_clause_and_fails_the_failing_one() {
        let xml = junit(&report());
        assert_eq!(xml.matches("<testcase ").count(), 2);
        assert_eq!(xml.matches("<failure").count(), 1);
        assert!(
            xml.contains("tests=\"2\"") && xml.contains("failures=\"1\""),
            "{xml}"
        );
    }

    #[test]
    fn json_keeps_the_fields_users_script_against() {
        let v: serde_json::Value = serde_json::from_str(&json(&report())).unwrap();
        for k in ["suite_version", "seed", "target", "clauses"] {
            assert!(v.get(k).is_some(), "{k}");
        }
        assert_eq!(v["clauses"][0]["verdict"], "fail");
        assert_eq!(v["totals"]["pass"], 1);
    }
}
