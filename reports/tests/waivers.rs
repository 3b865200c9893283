//! Waivers applied to a report: a failure in force is waived (never passed), an expired
//! waiver leaves the failure standing, a waiver over what no longer fails is stale (a warning),
//! one over what was not judged says so; taking waivers off gives the report back; shards
//! unite on their verdicts before waivers.

use qaqpa_reports::catalogue::Catalogue;
use qaqpa_reports::render::{self, JunitOptions, Provenance};
use qaqpa_reports::report::{CalendarInfo, RunIdentity};
use qaqpa_reports::waiver::{Waiver, WaiverStatus};
use qaqpa_reports::{Judgement, Judgements, Outcome, Report, Verdict};
use qaqpa_sim::jiff::civil::{Date, date};

fn judge(j: &mut Judgements, clause: &str, obligation: &str, verdict: Verdict) {
    assert!(
        Catalogue::standard()
            .obligation(clause, obligation)
            .is_some(),
        "{clause}/{obligation} is in the catalogue"
    );
    j.entry(clause.into())
        .or_default()
        .entry(obligation.into())
        .or_default()
        .by_scenario
        .push((
            format!("{clause}-scenario"),
            Judgement {
                verdict,
                finding: format!("{clause}/{obligation} {verdict} as judged"),
                evidence: vec![],
            },
        ));
}

/// A clause of the catalogue with at least two machine-checkable obligations, and those two.
fn two_obligation_clause() -> (String, String, String) {
    let c = Catalogue::standard()
        .clauses()
        .iter()
        .find(|c| {
            c.obligations
                .iter()
                .filter(|o| o.machine_checkable())
                .count()
                >= 2
        })
        .expect("a clause with two checkable obligations");
    let mut obs = c.obligations.iter().filter(|o| o.machine_checkable());
    let a = obs.next().unwrap().id.clone();
    let b = obs.next().unwrap().id.clone();
    (c.id.clone(), a, b)
}

fn every_obligation(j: &mut Judgements, clause: &str, verdict: Verdict) {
    for o in &Catalogue::standard().get(clause).unwrap().obligations {
        if o.machine_checkable() {
            judge(j, clause, &o.id, verdict);
        }
    }
}

/// ugia-6 fails on every obligation; ugem-8 passes; the two-obligation clause fails on its
/// first obligation and passes its second.
fn judgements() -> Judgements {
    let mut j = Judgements::new();
    every_obligation(&mut j, "ugia-6", Verdict::Fail);
    every_obligation(&mut j, "ugem-8", Verdict::Pass);
    let (c, a, b) = two_obligation_clause();
    judge(&mut j, &c, &a, Verdict::Fail);
    judge(&mut j, &c, &b, Verdict::Pass);
    j
}

fn assemble(j: &Judgements) -> Report {
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
    Report::assemble(Catalogue::standard(), run, vec![], j)
}

fn waiver(line: usize, clause: &str, obligation: Option<&str>, expires: Date) -> Waiver {
    Waiver {
        at: format!("waivers.toml:{line}"),
        clause: clause.into(),
        obligation: obligation.map(String::from),
        reason: format!("vendor fix scheduled for {clause}"),
        approver: "A. Seitkali, certification board".into(),
        expires,
    }
}

fn clause<'a>(r: &'a Report, id: &str) -> &'a qaqpa_reports::ClauseResult {
    r.clauses.iter().find(|c| c.id == id).unwrap()
}

const TODAY: Date = date(2025, 6, 1);

#[test]
fn a_waiver_in_force_waives_the_failure_and_the_run_no_longer_fails() {
    let j = judgements();
    let (two, a, _) = two_obligation_clause();
    let mut r = assemble(&j);
    assert_eq!(r.outcome, Outcome::Fail);
    r.apply_waivers(
        "waivers.toml",
        TODAY,
        &[
            waiver(1, "ugia-6", None, date(2025, 12, 31)),
            // Holds through its last day.
            waiver(7, &two, Some(&a), TODAY),
        ],
    );
    let c = clause(&r, "ugia-6");
    assert_eq!(c.verdict, Verdict::Waived);
    assert!(
        c.obligations
            .iter()
            .all(|o| o.verdict == Verdict::Waived && o.waiver.as_ref().is_some_and(|w| !w.expired))
    );
    assert!(c.finding.contains("waived"), "{}", c.finding);
    let c = clause(&r, &two);
    assert_eq!(c.verdict, Verdict::Waived, "{}", c.finding);
    assert_eq!(
        c.obligations.iter().find(|o| o.id == a).unwrap().verdict,
        Verdict::Waived
    );
    assert_eq!(r.outcome, Outcome::PassWithWaivers);
    assert!(!r.failed());
    assert_eq!(r.totals[&Verdict::Fail], 0);
    assert_eq!(r.totals[&Verdict::Waived], 2);
    assert_eq!(
        r.totals[&Verdict::Pass],
        1,
        "ugem-8 only: waived is never pass"
    );
    let w = r.waivers.as_ref().unwrap();
    assert_eq!(w.checked_on, TODAY);
    assert!(w.waivers.iter().all(|w| w.status == WaiverStatus::Applied));
    assert_eq!(w.waivers[1].covers, [format!("{two}/{a}")]);
}

#[test]
fn an_expired_waiver_leaves_the_failure_standing() {
    let mut r = assemble(&judgements());
    r.apply_waivers(
        "waivers.toml",
        TODAY,
        &[waiver(3, "ugia-6", None, date(2025, 5, 31))],
    );
    let c = clause(&r, "ugia-6");
    assert_eq!(c.verdict, Verdict::Fail);
    assert!(
        c.obligations
            .iter()
            .all(|o| o.verdict == Verdict::Fail && o.waiver.as_ref().is_some_and(|w| w.expired)),
        "the obligation shows the expired waiver"
    );
    assert_eq!(r.outcome, Outcome::Fail);
    let w = &r.waivers.as_ref().unwrap().waivers[0];
    assert_eq!(w.status, WaiverStatus::Expired);
    assert!(w.finding.contains("expired on 2025-05-31"), "{}", w.finding);
}

#[test]
fn a_waiver_over_what_passes_is_stale_and_a_warning() {
    let mut j = Judgements::new();
    every_obligation(&mut j, "ugem-8", Verdict::Pass);
    let (two, a, b) = two_obligation_clause();
    judge(&mut j, &two, &a, Verdict::Fail);
    judge(&mut j, &two, &b, Verdict::Pass);
    let mut r = assemble(&j);
    r.apply_waivers(
        "waivers.toml",
        TODAY,
        &[
            waiver(1, "ugia-6", None, date(2026, 1, 1)),
            waiver(5, "ugem-8", None, date(2026, 1, 1)),
            waiver(9, &two, Some(&b), date(2026, 1, 1)),
        ],
    );
    let ws = &r.waivers.as_ref().unwrap().waivers;
    assert_eq!(
        ws[0].status,
        WaiverStatus::NotJudged,
        "ugia-6 was not judged"
    );
    assert_eq!(ws[1].status, WaiverStatus::Stale);
    assert!(
        ws[1].finding.contains("no longer fail"),
        "{}",
        ws[1].finding
    );
    assert_eq!(
        ws[2].status,
        WaiverStatus::Stale,
        "a waiver of the passing obligation does not waive its failing sibling"
    );
    assert_eq!(clause(&r, &two).verdict, Verdict::Fail);
    assert_eq!(r.stale_waivers().count(), 2);

    // Without the failing clause, the stale waivers alone make the run warn.
    let mut j = Judgements::new();
    every_obligation(&mut j, "ugem-8", Verdict::Pass);
    let mut r = assemble(&j);
    assert_eq!(r.outcome, Outcome::Pass);
    r.apply_waivers(
        "waivers.toml",
        TODAY,
        &[waiver(5, "ugem-8", None, date(2026, 1, 1))],
    );
    assert_eq!(r.outcome, Outcome::PassWithWarnings);
    assert_eq!(clause(&r, "ugem-8").verdict, Verdict::Pass);
}

#[test]
fn waivers_come_off_and_apply_again_to_the_same_report() {
    let original = assemble(&judgements());
    let mut r = original.clone();
    let ws = [waiver(1, "ugia-6", None, date(2025, 12, 31))];
    r.apply_waivers("waivers.toml", TODAY, &ws);
    let once = r.clone();
    r.apply_waivers("waivers.toml", TODAY, &ws);
    assert_eq!(r, once, "applying twice is applying once");
    r.clear_waivers();
    assert_eq!(
        r, original,
        "taking them off restores every verdict and finding"
    );
}

#[test]
fn shards_unite_before_waivers() {
    let (two, a, b) = two_obligation_clause();
    let ws = [waiver(1, &two, Some(&a), date(2025, 12, 31))];
    // Seed 1 fails the obligation (waived), seed 2 only warns on it.
    let mut j1 = Judgements::new();
    judge(&mut j1, &two, &a, Verdict::Fail);
    judge(&mut j1, &two, &b, Verdict::Pass);
    let mut j2 = Judgements::new();
    judge(&mut j2, &two, &a, Verdict::Warning);
    judge(&mut j2, &two, &b, Verdict::Pass);
    let mut s1 = assemble(&j1);
    s1.seed = 1;
    let mut s2 = assemble(&j2);
    s2.seed = 2;
    let mut s1 = s1.as_campaign_member();
    let mut s2 = s2.as_campaign_member();
    s1.apply_waivers("waivers.toml", TODAY, &ws);
    s2.apply_waivers("waivers.toml", TODAY, &ws);
    assert_eq!(
        s2.waivers.as_ref().unwrap().waivers[0].status,
        WaiverStatus::Stale
    );
    let u = Report::union(s1.clone(), s2.clone()).unwrap();
    let ob = clause(&u, &two)
        .obligations
        .iter()
        .find(|o| o.id == a)
        .unwrap();
    assert_eq!(ob.verdict, Verdict::Waived, "the failure of seed 1, waived");
    assert_eq!(
        u.waivers.as_ref().unwrap().waivers[0].status,
        WaiverStatus::Applied
    );
    assert_eq!(u.outcome, Outcome::PassWithWaivers);
    // Without waivers the same union fails.
    let mut bare = Report::union(s1.clone(), s2.clone()).unwrap();
    bare.clear_waivers();
    assert_eq!(bare.outcome, Outcome::Fail);
    // Shards judged with other waivers do not unite.
    let mut other = s2.clone();
    other.apply_waivers(
        "waivers.toml",
        TODAY,
        &[waiver(1, &two, Some(&a), date(2026, 1, 1))],
    );
    let e = Report::union(s1, other).unwrap_err();
    assert_eq!(e.what, "waivers");
}

#[test]
fn every_rendering_says_waived_and_none_says_pass() {
    let mut r = assemble(&judgements());
    r.apply_waivers(
        "waivers.toml",
        TODAY,
        &[
            waiver(1, "ugia-6", None, date(2025, 12, 31)),
            waiver(5, "ugem-8", None, date(2025, 12, 31)),
        ],
    );
    let json: serde_json::Value = serde_json::from_str(&render::json(&r)).unwrap();
    let c = json["clauses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "ugia-6")
        .unwrap();
    assert_eq!(c["verdict"], "waived");
    assert_eq!(
        c["obligations"][0]["waiver"]["approver"],
        "A. Seitkali, certification board"
    );
    assert_eq!(json["totals"]["waived"], 1);
    assert_eq!(json["waivers"]["waivers"][1]["status"], "stale");

    let md = render::markdown(&r, Catalogue::standard());
    assert!(md.contains("### ugia-6 — waived"), "{md}");
    assert!(
        md.contains("waived until 2025-12-31 by A. Seitkali"),
        "the waiver's who and when"
    );
    assert!(md.contains("vendor fix scheduled for ugia-6"), "and why");
    assert!(md.contains("**stale (warning)**"));
    assert!(!md.contains("### ugia-6 — pass"));

    let html = render::html(&r, Catalogue::standard(), &Provenance::new(None, None));
    assert!(html.contains("class=\"clause is-waived\" id=\"clause-ugia-6\""));
    assert!(html.contains("<span class=\"v waived\""));
    assert!(html.contains(".waived{"), "its own colour");
    assert!(html.contains("Waived</b> until 2025-12-31 by A. Seitkali"));
    assert!(html.contains("<section id=\"waivers\">"));

    let xml = render::junit(&r, JunitOptions::default());
    let case = &xml[xml.find("<testcase name=\"ugia-6\"").unwrap()..];
    let case = &case[..case.find("</testcase>").unwrap()];
    assert!(
        case.contains("<skipped") && case.contains("WAIVED: "),
        "{case}"
    );
    assert!(!case.contains("<failure"), "{case}");
    assert!(case.contains("name=\"verdict\" value=\"waived\""), "{case}");
    assert!(xml.contains("waived=\"1\""), "{xml}");
    assert!(xml.contains("waiver ugem-8"), "one case per waiver");
    let strict = render::junit(
        &r,
        JunitOptions {
            warnings_fail: true,
        },
    );
    assert!(strict.contains("type=\"waiver-stale\""), "{strict}");
}
