//! The report of one run: every catalogue clause with its verdict, and the run's identity.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::catalogue::{Catalogue, Clause};
use crate::verdict::{Evidence, Judgement, Verdict};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub suite_version: String,
    pub seed: u64,
    pub target: qaqpa_sim::target::TargetInfo,
    /// The systems this run certifies (`ugia`, `ugem`, `bus`).
    pub systems: Vec<String>,
    /// The business calendar every deadline was computed with.
    pub calendar: CalendarInfo,
    pub scenarios: Vec<ScenarioRun>,
    pub totals: BTreeMap<Verdict, usize>,
    pub clauses: Vec<ClauseResult>,
}

/// What identifies a run in its report: the suite, the seed, what was tested, and the
/// calendar its deadlines were computed with.
pub struct RunIdentity {
    pub suite_version: String,
    pub seed: u64,
    pub target: qaqpa_sim::target::TargetInfo,
    /// The systems the run certifies (`ugia`, `ugem`, `bus`).
    pub systems: Vec<String>,
    pub calendar: CalendarInfo,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CalendarInfo {
    /// The calendar files, built-in data first, then overrides in the order applied.
    pub sources: Vec<String>,
    pub first_year: i16,
    pub last_year: i16,
    /// Years whose transfers of days off were not yet decided when the data was written.
    pub provisional_years: Vec<i16>,
}

impl CalendarInfo {
    pub fn of(calendar: &qaqpa_sim::calendar::BusinessCalendar) -> CalendarInfo {
        let years = calendar.covered_years();
        CalendarInfo {
            sources: calendar.origins().to_vec(),
            first_year: *years.start(),
            last_year: *years.end(),
            provisional_years: years.filter(|y| calendar.is_provisional(*y)).collect(),
        }
    }

    pub fn describe(&self) -> String {
        let mut s = format!(
            "{}–{} from {}",
            self.first_year,
            self.last_year,
            self.sources.join(" + ")
        );
        if !self.provisional_years.is_empty() {
            let ys: Vec<String> = self
                .provisional_years
                .iter()
                .map(|y| y.to_string())
                .collect();
            s.push_str(&format!("; provisional: {}", ys.join(", ")));
        }
        s
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScenarioRun {
    pub id: String,
    pub title: String,
    pub file: String,
    pub system: String,
    pub clauses: Vec<String>,
    pub observations: usize,
    /// SHA-256 of the scenario's trace as JSON lines: two runs agree iff these agree.
    pub trace_sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClauseResult {
    pub id: String,
    pub number: String,
    pub document: String,
    pub systems: Vec<String>,
    pub kinds: Vec<String>,
    pub summary: String,
    pub verdict: Verdict,
    pub finding: String,
    pub scenarios: Vec<String>,
    pub evidence: Vec<Evidence>,
}

/// The judgements of one clause, scenario by scenario, before they are combined.
#[derive(Debug, Default)]
pub struct ClauseJudgements {
    pub by_scenario: Vec<(String, Judgement)>,
}

impl ClauseResult {
    /// Combines a clause's judgements: the worst verdict observed, with the findings and the
    /// evidence of the scenarios that gave it.
    pub fn combine(
        clause: &Clause,
        in_scope: bool,
        judged: Option<&ClauseJudgements>,
    ) -> ClauseResult {
        let scenarios: Vec<String> = judged
            .map(|j| j.by_scenario.iter().map(|(s, _)| s.clone()).collect())
            .unwrap_or_default();
        let (verdict, finding, evidence) = if !clause.machine_checkable() {
            (
                Verdict::NotMachineCheckable,
                "not checkable from a network or a trace".to_string(),
                vec![],
            )
        } else if !in_scope {
            (
                Verdict::NotApplicable,
                "binds a system this run does not certify".to_string(),
                vec![],
            )
        } else {
            match judged.filter(|j| !j.by_scenario.is_empty()) {
                None => (
                    Verdict::NotTested,
                    "no scenario of this run exercises it".to_string(),
                    vec![],
                ),
                Some(j) => {
                    let worst = j
                        .by_scenario
                        .iter()
                        .map(|(_, jd)| jd.verdict)
                        .max_by_key(|v| v.severity())
                        .unwrap_or(Verdict::NotTested);
                    let finding = j
                        .by_scenario
                        .iter()
                        .filter(|(_, jd)| jd.verdict == worst)
                        .map(|(s, jd)| format!("{s}: {}", jd.finding))
                        .collect::<Vec<_>>()
                        .join("; ");
                    let evidence = j
                        .by_scenario
                        .iter()
                        .filter(|(_, jd)| jd.verdict == worst)
                        .flat_map(|(_, jd)| jd.evidence.iter().cloned())
                        .collect();
                    (worst, finding, evidence)
                }
            }
        };
        ClauseResult {
            id: clause.id.clone(),
            number: clause.number.clone(),
            document: clause.document.clone(),
            systems: clause
                .systems
                .iter()
                .map(|s| s.as_str().to_string())
                .collect(),
            kinds: clause
                .kinds
                .iter()
                .map(|k| k.as_str().to_string())
                .collect(),
            summary: clause.summary.clone(),
            verdict,
            finding,
            scenarios,
            evidence,
        }
    }
}

impl Report {
    /// Builds the report over the whole catalogue, so every clause appears whatever was run.
    pub fn assemble(
        catalogue: &Catalogue,
        run: RunIdentity,
        scenarios: Vec<ScenarioRun>,
        judgements: &BTreeMap<String, ClauseJudgements>,
    ) -> Report {
        let RunIdentity {
            suite_version,
            seed,
            target,
            systems,
            calendar,
        } = run;
        let clauses: Vec<ClauseResult> = catalogue
            .clauses()
            .iter()
            .map(|c| {
                let in_scope = c
                    .systems
                    .iter()
                    .any(|s| systems.iter().any(|x| x == s.as_str()));
                ClauseResult::combine(c, in_scope, judgements.get(&c.id))
            })
            .collect();
        let mut totals: BTreeMap<Verdict, usize> = Verdict::ALL.iter().map(|v| (*v, 0)).collect();
        for c in &clauses {
            *totals.entry(c.verdict).or_default() += 1;
        }
        Report {
            suite_version,
            seed,
            target,
            systems,
            calendar,
            scenarios,
            totals,
            clauses,
        }
    }

    pub fn failed(&self) -> bool {
        self.clauses.iter().any(|c| c.verdict == Verdict::Fail)
    }
}
