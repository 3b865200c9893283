//! Every named defect of the reference makes the oracles of the clauses it names fail, and
//! every clause that has an oracle has a defect that proves the oracle can fail.

mod common;

use qaqpa::reference;
use qaqpa_reports::Verdict;
use qaqpa_scenarios::oracle;

#[test]
fn each_defect_fails_its_clauses_and_only_in_its_system() {
    for d in reference::defects() {
        // Only the defect's own system: the reference's systems are independent, and the
        // other systems' scenarios would only repeat the standard run.
        let run = common::run(&format!("defect-{}", d.id), 1, |a| {
            a.defect(d.id).system(d.system)
        });
        for clause in d.clauses {
            let c = run.report.clauses.iter().find(|c| c.id == *clause).unwrap();
            assert_eq!(
                c.verdict,
                Verdict::Fail,
                "defect {} should fail {clause}; got {} ({})",
                d.id,
                c.verdict,
                c.finding
            );
            assert!(
                c.evidence.iter().any(|e| e.probe != "oracle"),
                "{clause} under {} rests on something a probe observed",
                d.id
            );
        }
        for clause in d.warns {
            let c = run.report.clauses.iter().find(|c| c.id == *clause).unwrap();
            assert_eq!(
                c.verdict,
                Verdict::Warning,
                "defect {} should make {clause} warn; got {} ({})",
                d.id,
                c.verdict,
                c.finding
            );
        }
        for c in &run.report.clauses {
            if c.verdict == Verdict::Fail {
                assert!(
                    c.systems.iter().any(|s| s == d.system),
                    "defect {} of {} fails {} of {:?}",
                    d.id,
                    d.system,
                    c.id,
                    c.systems
                );
            }
        }
        assert!(run.report.failed());
    }
}

#[test]
fn every_judged_clause_has_a_defect_that_breaks_it() {
    for o in oracle::all() {
        assert!(
            !reference::defects_breaking(o.clause()).is_empty(),
            "no defect proves the oracle of {} can fail",
            o.clause()
        );
    }
}

#[test]
fn the_registration_defect_needs_the_holiday_to_show() {
    // The defect only bites when registration lags receipt: the scenario filed on the eve of
    // Nauryz catches it; the refused applications, filed in office hours, are on time.
    let run = common::run("defect-registration", 1, |a| {
        a.defect("ugia-counts-from-registration")
    });
    let c = run
        .report
        .clauses
        .iter()
        .find(|c| c.id == "ugia-6")
        .unwrap();
    assert_eq!(c.verdict, Verdict::Fail);
    assert!(
        c.finding.contains("ugia-channel-application-before-nauryz"),
        "{}",
        c.finding
    );
    assert!(c.finding.contains("working day(s) after"), "{}", c.finding);
}
