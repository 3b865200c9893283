//! The renderings' structure, over a report of the whole standard catalogue with a failing, a
//! warning, a passing and a half-judged clause: every clause present, failing and warning
//! clauses first, the filter's controls, obligations, links to scenarios and traces, legal
//! references, unofficial translations marked, evidence in time order. Not byte snapshots:
//! these hold whatever the styling.

use qaqpa_reports::catalogue::Catalogue;
use qaqpa_reports::render::{self, JunitOptions, Provenance};
use qaqpa_reports::report::{CalendarInfo, RunIdentity};
use qaqpa_reports::{Evidence, Judgement, Judgements, Report, Verdict};

fn ev(scenario: &str, at: &str, probe: &str, case: &str, text: &str, seq: Option<u64>) -> Evidence {
    Evidence {
        scenario: scenario.into(),
        at: at.into(),
        probe: probe.into(),
        subject: format!("case {case}"),
        text: text.into(),
        seq,
    }
}

fn judged(
    j: &mut Judgements,
    clause: &str,
    obligation: &str,
    scenario: &str,
    verdict: Verdict,
    evidence: Vec<Evidence>,
) {
    let cat = Catalogue::standard();
    assert!(
        cat.obligation(clause, obligation).is_some(),
        "{clause}/{obligation} is in the catalogue"
    );
    j.entry(clause.into())
        .or_default()
        .entry(obligation.into())
        .or_default()
        .by_scenario
        .push((
            scenario.into(),
            Judgement {
                verdict,
                finding: format!("{verdict} in {scenario}"),
                evidence,
            },
        ));
}

fn first_obligation(clause: &str) -> String {
    Catalogue::standard().get(clause).unwrap().obligations[0]
        .id
        .clone()
}

/// ugia-6 fails, eint-45-11 warns, ugem-8 passes; the rest of the catalogue is not judged.
fn report() -> Report {
    let mut j = Judgements::new();
    // Evidence given out of time order: the renderings put it in order.
    judged(
        &mut j,
        "ugia-6",
        &first_obligation("ugia-6"),
        "ugia-late",
        Verdict::Fail,
        vec![
            ev(
                "ugia-late",
                "2025-04-09T12:00:00+05:00",
                "inbox:operator",
                "C-1",
                "SPECS-ARRIVED",
                Some(1),
            ),
            ev(
                "ugia-late",
                "2025-03-20T18:30:00+05:00",
                "inbox:STS",
                "C-1",
                "APPLICATION-RECEIVED",
                Some(0),
            ),
            ev(
                "ugia-late",
                "2025-04-08T23:59:59+05:00",
                "oracle",
                "C-1",
                "DEADLINE-COMPUTED",
                None,
            ),
        ],
    );
    judged(
        &mut j,
        "eint-45-11",
        &first_obligation("eint-45-11"),
        "bus-slow",
        Verdict::Warning,
        vec![ev(
            "bus-slow",
            "2025-05-21T15:12:00+05:00",
            "inbox:owner",
            "U-1",
            "update-completed",
            Some(2),
        )],
    );
    for ob in &Catalogue::standard().get("ugem-8").unwrap().obligations {
        judged(&mut j, "ugem-8", &ob.id, "ugem-ok", Verdict::Pass, vec![]);
    }
    let run = RunIdentity {
        suite_version: "0.1.0".into(),
        seed: 3,
        target: qaqpa_sim::target::TargetInfo {
            kind: "reference".into(),
            name: "test".into(),
            version: None,
            defects: vec![],
        },
        systems: vec!["ugia".into(), "ugem".into(), "bus".into()],
        calendar: CalendarInfo {
            sources: vec!["cal".into()],
            first_year: 2020,
            last_year: 2027,
            provisional_years: vec![],
            sha256: "0".repeat(64),
        },
    };
    Report::assemble(Catalogue::standard(), run, vec![], &j)
}

fn html() -> String {
    render::html(
        &report(),
        Catalogue::standard(),
        &Provenance::new(Some("1742470200"), Some("cafe0123")),
    )
}

/// The order in which clause articles appear in the page.
fn article_ids(html: &str) -> Vec<String> {
    html.match_indices("<article class=\"clause")
        .map(|(i, _)| {
            let rest = &html[i..];
            let at = rest.find(" id=\"clause-").unwrap() + " id=\"clause-".len();
            rest[at..at + rest[at..].find('"').unwrap()].to_string()
        })
        .collect()
}

#[test]
fn every_clause_is_listed_once_failing_and_warning_first() {
    let r = report();
    let html = html();
    let ids = article_ids(&html);
    let catalogue: Vec<&str> = Catalogue::standard()
        .clauses()
        .iter()
        .map(|c| c.id.as_str())
        .collect();
    let mut sorted = ids.clone();
    sorted.sort();
    let mut expected: Vec<String> = catalogue.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(sorted, expected, "every clause of the catalogue, once");
    assert_eq!(ids[0], "ugia-6", "the failing clause leads");
    assert_eq!(ids[1], "eint-45-11", "then the warning one");
    // The rest keep catalogue order.
    let rest: Vec<&str> = catalogue
        .iter()
        .copied()
        .filter(|id| !["ugia-6", "eint-45-11"].contains(id))
        .collect();
    assert_eq!(ids[2..], rest[..]);
    assert_eq!(r.clauses.len(), ids.len());
}

#[test]
fn the_filter_has_a_control_for_every_verdict_and_system() {
    let html = html();
    assert!(html.contains("<form id=\"filter\""));
    for v in Verdict::ALL {
        assert!(
            html.contains(&format!("name=\"verdict\" value=\"{v}\"")),
            "a control for {v}"
        );
    }
    for s in ["ugia", "ugem", "bus"] {
        assert!(
            html.contains(&format!("name=\"system\" value=\"{s}\"")),
            "{s}"
        );
    }
    // Each article carries what the filter reads.
    let articles = html.matches("<article class=\"clause").count();
    assert_eq!(html.matches(" data-verdict=\"").count(), articles);
    assert_eq!(html.matches(" data-systems=\"").count(), articles);
    assert!(html.contains("data-verdict=\"fail\" data-systems=\"ugia\""));
    // Self-contained: no external script, style or image.
    assert!(!html.contains("src=") && !html.contains("<link"));
}

#[test]
fn the_summary_comes_first_with_a_row_per_system() {
    let html = html();
    let summary = html.find("id=\"summary\"").unwrap();
    let clauses = html.find("id=\"clauses\"").unwrap();
    assert!(summary < clauses);
    let matrix = &html[summary..clauses];
    for s in ["ugia", "ugem", "bus", "*"] {
        assert!(
            matrix.contains(&format!("data-filter-system=\"{s}\"")),
            "matrix row {s}"
        );
    }
    assert!(matrix.contains("data-filter-verdict=\"fail\" data-filter-system=\"ugia\">1</a>"));
    assert!(matrix.contains("data-filter-verdict=\"warning\" data-filter-system=\"bus\">1</a>"));
    // One square per clause and system in the strips.
    let squares = matrix.matches("<a class=\"").count();
    let bindings: usize = Catalogue::standard()
        .clauses()
        .iter()
        .map(|c| c.systems.len())
        .sum();
    assert_eq!(squares, bindings);
}

fn article<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html.find(&format!(" id=\"clause-{id}\"")).unwrap();
    let end = html[start..].find("</article>").unwrap();
    &html[start..start + end]
}

#[test]
fn a_clause_shows_its_obligations_legal_reference_scenarios_and_traces() {
    let html = html();
    let a = article(&html, "ugia-6");
    let ob = first_obligation("ugia-6");
    assert!(a.contains(&format!("<code>ugia-6/{ob}</code>")), "{a}");
    assert!(a.contains("Obligations: 1 of 1 judged"));
    assert!(a.contains("registered with the Ministry of Justice on 2020-10-15 under No. 21436"));
    assert!(a.contains(
        "Appendix 1 (Rules for functioning of the Unified Internet Access Gateway), clause 6"
    ));
    assert!(a.contains("href=\"#scenario-ugia-late\""));
    assert!(a.contains("href=\"traces/ugia-late.jsonl\""));
    // ugem-6 is clause 6 of the other appendix.
    let b = article(&html, "ugem-6");
    assert!(b.contains("Appendix 2 (Rules for functioning of the Unified E-mail Gateway"));
    // A clause some of whose obligations were not judged says so.
    let half = report()
        .clauses
        .iter()
        .find(|c| c.obligations.len() > 1 && c.verdict == Verdict::NotTested)
        .map(|c| c.id.clone())
        .unwrap();
    let n = Catalogue::standard().get(&half).unwrap().obligations.len();
    assert!(article(&html, &half).contains(&format!("Obligations: 0 of {n} judged")));
}

#[test]
fn evidence_is_in_time_order_and_on_a_timeline_with_a_legend() {
    let html = html();
    let a = article(&html, "ugia-6");
    let pos = |s: &str| a.find(s).unwrap_or_else(|| panic!("{s} missing"));
    // The table, after the chart: application, deadline, answer.
    let table = a.find("<table class=\"evidence\"").unwrap();
    let t = &a[table..];
    let (p1, p2, p3) = (
        t.find("APPLICATION-RECEIVED").unwrap(),
        t.find("DEADLINE-COMPUTED").unwrap(),
        t.find("SPECS-ARRIVED").unwrap(),
    );
    assert!(p1 < p2 && p2 < p3, "evidence in time order");
    assert!(pos("<svg class=\"timeline\"") < table);
    assert!(a.contains("observed by a harness probe"));
    assert!(a.contains("computed by the oracle"));
    assert!(
        a.contains("class=\"row\">case C-1</text>"),
        "a labelled row per case"
    );
    assert!(a.contains("class=\"tick\">"), "a time axis with ticks");
    // Trace lines link to the trace file (seq 0 is line 1).
    assert!(t.contains("<a href=\"traces/ugia-late.jsonl\">1</a>"));
}

#[test]
fn english_texts_say_whose_translation_they_are() {
    let html = html();
    let ours = article(&html, "eint-45-11");
    assert!(ours.contains("unofficial translation by the qaqpa project"));
    assert!(!ours.contains("published with the order"));
    let theirs = article(&html, "ugia-6");
    assert!(theirs.contains("unofficial translation</span> published with the order"));
    assert!(!theirs.contains("by the qaqpa project"));
}

#[test]
fn the_run_date_and_commit_are_shown() {
    let html = html();
    assert!(html.contains("2025-03-20 11:30:00 UTC"));
    assert!(html.contains("cafe0123"));
    assert!(html.contains("Outcome: fail"));
}

#[test]
fn markdown_lists_obligations_and_legal_references_per_clause() {
    let md = render::markdown(&report(), Catalogue::standard());
    for c in Catalogue::standard().clauses() {
        assert!(md.contains(&format!("\n### {} — ", c.id)), "{}", c.id);
        for ob in &c.obligations {
            assert!(
                md.contains(&format!("`{}/{}`", c.id, ob.id)),
                "{}/{}",
                c.id,
                ob.id
            );
        }
    }
    assert!(md.find("### ugia-6 — fail").unwrap() < md.find("### ugia-2 — ").unwrap());
    assert!(md.contains("under No. 33737"));
    let evidence = md.find("### Evidence: ugia-6").unwrap();
    let (a, b, c) = (
        md[evidence..].find("APPLICATION-RECEIVED").unwrap(),
        md[evidence..].find("DEADLINE-COMPUTED").unwrap(),
        md[evidence..].find("SPECS-ARRIVED").unwrap(),
    );
    assert!(a < b && b < c, "evidence in time order");
}

#[test]
fn junit_reports_warnings_and_counts_skips() {
    let r = report();
    let xml = render::junit(&r, JunitOptions::default());
    let skipped = r
        .clauses
        .iter()
        .filter(|c| {
            matches!(
                c.verdict,
                Verdict::NotTested | Verdict::NotApplicable | Verdict::NotMachineCheckable
            )
        })
        .count();
    let attr_sum = |name: &str| -> usize {
        xml.match_indices(&format!(" {name}=\""))
            .filter(|(i, _)| {
                xml[..*i]
                    .rfind('<')
                    .is_some_and(|s| xml[s..].starts_with("<testsuite "))
            })
            .map(|(i, m)| {
                let v = &xml[i + m.len()..];
                v[..v.find('"').unwrap()].parse::<usize>().unwrap()
            })
            .sum()
    };
    assert_eq!(attr_sum("skipped"), skipped);
    assert_eq!(attr_sum("failures"), 1);
    assert_eq!(attr_sum("warnings"), 1);
    assert_eq!(xml.matches("<testcase ").count(), r.clauses.len());
    let untimed: Vec<&str> = xml
        .match_indices("<testcase ")
        .map(|(i, _)| &xml[i..i + xml[i..].find('>').unwrap()])
        .filter(|tag| !tag.contains(" time=\""))
        .collect();
    assert!(
        untimed.is_empty(),
        "every test case has a time: {untimed:?}"
    );
    let strict = render::junit(
        &r,
        JunitOptions {
            warnings_fail: true,
        },
    );
    assert_eq!(strict.matches("<failure").count(), 2);
}
