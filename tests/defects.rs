//! Every named defect of the reference fails exactly the clauses it declares (and warns on
//! exactly the ones it declares), only in its own system, on what a probe observed; and every
//! obligation that has an oracle is failed by at least one defect, so no oracle is vacuous.

mod common;

use std::collections::BTreeSet;

use qaqpa::reference;
use qaqpa_reports::Verdict;
use qaqpa_scenarios::oracle;

#[test]
fn each_defect_breaks_exactly_what_it_declares_and_every_obligation_can_fail() {
    let mut failed_obligations: BTreeSet<(String, String)> = BTreeSet::new();
    let mut problems: Vec<String> = Vec::new();
    for d in reference::defects() {
        // Only the defect's own system: the reference's systems are independent, and the
        // other systems' scenarios would only repeat the standard run.
        let run = common::run(&format!("defect-{}", d.id), 1, |a| {
            a.defect(d.id).system(d.system)
        });
        let with = |v: Verdict| -> BTreeSet<&str> {
            run.report
                .clauses
                .iter()
                .filter(|c| c.verdict == v)
                .map(|c| c.id.as_str())
                .collect()
        };
        let declared: BTreeSet<&str> = d.clauses.iter().copied().collect();
        let warned: BTreeSet<&str> = d.warns.iter().copied().collect();
        if with(Verdict::Fail) != declared {
            problems.push(format!(
                "defect {} declares it fails {declared:?} but fails {:?}",
                d.id,
                with(Verdict::Fail)
            ));
        }
        if with(Verdict::Warning) != warned {
            problems.push(format!(
                "defect {} declares it warns on {warned:?} but warns on {:?}",
                d.id,
                with(Verdict::Warning)
            ));
        }
        for c in &run.report.clauses {
            for o in &c.obligations {
                if o.verdict != Verdict::Fail {
                    continue;
                }
                failed_obligations.insert((c.id.clone(), o.id.clone()));
                if !o.evidence.iter().any(|e| e.probe != "oracle") {
                    problems.push(format!(
                        "{}/{} under {} fails on nothing a probe observed",
                        c.id, o.id, d.id
                    ));
                }
            }
            if c.verdict == Verdict::Fail && !c.systems.iter().any(|s| s == d.system) {
                problems.push(format!(
                    "defect {} of {} fails {} of {:?}",
                    d.id, d.system, c.id, c.systems
                ));
            }
        }
        if d.clauses.is_empty() {
            problems.push(format!("defect {} breaks nothing", d.id));
        }
    }
    for o in oracle::all() {
        if !failed_obligations.contains(&(o.clause().to_string(), o.obligation().to_string())) {
            problems.push(format!(
                "no defect proves the oracle of {}/{} can fail",
                o.clause(),
                o.obligation()
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
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
