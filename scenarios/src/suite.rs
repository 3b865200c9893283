//! The suite: scenarios loaded and checked, run against a target, judged, reported.

use std::path::Path;

use qaqpa_reports::catalogue::Catalogue;
use qaqpa_reports::report::{CalendarInfo, RunIdentity};
use qaqpa_reports::{Judgements, Report, ScenarioRun};
use qaqpa_sim::calendar::BusinessCalendar;
use qaqpa_sim::seed;
use qaqpa_sim::target::{Target, TargetInfo};
use qaqpa_sim::trace::Trace;
use sha2::{Digest, Sha256};

use crate::interpreter::{PlayError, play, scenario_end};
use crate::oracle::{self, OracleCtx};
use crate::scenario::{Scenario, ScenarioError, SystemName};

include!(concat!(env!("OUT_DIR"), "/standard_suite.rs"));

pub const SUITE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Checks that a clause a scenario names is in the catalogue and has an oracle.
pub fn clause_is_judged(clause: &str) -> Result<(), String> {
    if Catalogue::standard().get(clause).is_none() {
        return Err(format!(
            "`{clause}` is not a clause of the catalogue (see `qaqpa clauses`)"
        ));
    }
    if oracle::for_clause(clause).next().is_none() {
        let judged: Vec<&str> = oracle::all().iter().map(|o| o.clause()).collect();
        return Err(format!(
            "no oracle judges `{clause}` yet (judged: {})",
            judged.join(", ")
        ));
    }
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum SuiteError {
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: scenario id `{id}` is already used by {other}")]
    DuplicateId {
        path: String,
        id: String,
        other: String,
    },
    #[error(transparent)]
    Play(#[from] PlayError),
    #[error(
        "no scenario `{id}` in the suite (a recorded trace is judged by the scenario it was recorded for)"
    )]
    UnknownScenario { id: String },
}

#[derive(Debug, Clone)]
pub struct Suite {
    pub scenarios: Vec<Scenario>,
}

impl Suite {
    /// The suite shipped with qaqpa.
    pub fn standard() -> Result<Suite, SuiteError> {
        let mut suite = Suite {
            scenarios: Vec::new(),
        };
        for (file, text) in STANDARD_SUITE {
            suite.add(Scenario::parse(text, file, &clause_is_judged)?)?;
        }
        Ok(suite)
    }

    /// Adds every `*.yaml` under `dir` (sorted by path); the first bad file stops the load
    /// with its name, line and column, and nothing of the suite already loaded is lost.
    pub fn add_dir(&mut self, dir: &Path) -> Result<usize, SuiteError> {
        let mut files = Vec::new();
        walk(dir, &mut files).map_err(|source| SuiteError::Io {
            path: dir.display().to_string(),
            source,
        })?;
        files.sort();
        let before = self.scenarios.len();
        for f in files {
            let path = f.display().to_string();
            let text = std::fs::read_to_string(&f).map_err(|source| SuiteError::Io {
                path: path.clone(),
                source,
            })?;
            self.add(Scenario::parse(&text, &path, &clause_is_judged)?)?;
        }
        Ok(self.scenarios.len() - before)
    }

    fn add(&mut self, s: Scenario) -> Result<(), SuiteError> {
        if let Some(other) = self.scenarios.iter().find(|o| o.id == s.id) {
            return Err(SuiteError::DuplicateId {
                path: s.file.clone(),
                id: s.id.clone(),
                other: other.file.clone(),
            });
        }
        self.scenarios.push(s);
        Ok(())
    }

    pub fn for_systems(&self, systems: &[SystemName]) -> Vec<&Scenario> {
        self.scenarios
            .iter()
            .filter(|s| systems.contains(&s.system))
            .collect()
    }
}

fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) -> std::io::Result<()> {
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        if p.is_dir() {
            walk(&p, out)?;
        } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
            out.push(p);
        }
    }
    Ok(())
}

pub struct RunConfig<'a> {
    pub seed: u64,
    pub systems: Vec<SystemName>,
    pub calendar: &'a BusinessCalendar,
}

pub struct RunOutcome {
    pub report: Report,
    /// Each scenario's trace, by scenario id, in run order.
    pub traces: Vec<(String, Trace)>,
}

/// Plays every scenario of the selected systems, judges each expected clause on its trace,
/// and reports over the whole catalogue. `progress` hears of each scenario as it starts.
pub fn run(
    suite: &Suite,
    target: &dyn Target,
    config: &RunConfig<'_>,
    progress: &mut dyn FnMut(usize, usize, &Scenario),
) -> Result<RunOutcome, SuiteError> {
    run_planned(suite, target, config, &mut |_| Plan::Play, progress)
}

/// What a run does with one scenario.
#[derive(Debug)]
pub enum Plan {
    /// Play it against the target.
    Play,
    /// Judge this trace, recorded elsewhere, in its place (a live run's `--evidence`).
    Recorded(Trace),
    /// Neither: every obligation the scenario would judge is not-tested, for this reason.
    Skip(String),
}

/// Like [`run`], with `plan` deciding for each scenario whether it is played, judged from a
/// recorded trace, or left out with a reason (a live run leaves out what it cannot play).
pub fn run_planned(
    suite: &Suite,
    target: &dyn Target,
    config: &RunConfig<'_>,
    plan: &mut dyn FnMut(&Scenario) -> Plan,
    progress: &mut dyn FnMut(usize, usize, &Scenario),
) -> Result<RunOutcome, SuiteError> {
    let selected = suite.for_systems(&config.systems);
    let mut judged = Judged::default();
    for (i, scenario) in selected.iter().enumerate() {
        progress(i, selected.len(), scenario);
        match plan(scenario) {
            Plan::Play => {
                let scenario_seed = seed::derive(config.seed, &scenario.id);
                let trace = play(scenario, config.calendar, target, scenario_seed)?;
                judged.judge(scenario, trace, config.calendar)?;
            }
            Plan::Recorded(trace) => judged.judge(scenario, trace, config.calendar)?,
            Plan::Skip(reason) => judged.skip(scenario, &reason),
        }
    }
    Ok(judged.report(config, target.info()))
}

/// Judges traces recorded elsewhere (a previous run, a vendor's test bench, ticket logs
/// converted to observations) with the same oracles: `recorded` pairs a scenario id of the
/// suite with its trace.
pub fn judge_recorded(
    suite: &Suite,
    recorded: Vec<(String, Trace)>,
    config: &RunConfig<'_>,
    target: TargetInfo,
) -> Result<RunOutcome, SuiteError> {
    let mut judged = Judged::default();
    for (id, trace) in recorded {
        let scenario = suite
            .scenarios
            .iter()
            .find(|s| s.id == id)
            .ok_or_else(|| SuiteError::UnknownScenario { id: id.clone() })?;
        judged.judge(scenario, trace, config.calendar)?;
    }
    Ok(judged.report(config, target))
}

#[derive(Default)]
struct Judged {
    judgements: Judgements,
    runs: Vec<ScenarioRun>,
    traces: Vec<(String, Trace)>,
}

impl Judged {
    /// A scenario the run did not play: its obligations are not-tested, saying why. It has
    /// no trace, so it is not among the report's scenarios.
    fn skip(&mut self, scenario: &Scenario, reason: &str) {
        for clause in scenario.clauses() {
            for oracle in oracle::for_clause(&clause) {
                self.judgements
                    .entry(clause.clone())
                    .or_default()
                    .entry(oracle.obligation().to_string())
                    .or_default()
                    .by_scenario
                    .push((
                        scenario.id.clone(),
                        qaqpa_reports::Judgement {
                            verdict: qaqpa_reports::Verdict::NotTested,
                            finding: format!("not played: {reason}"),
                            evidence: vec![],
                        },
                    ));
            }
        }
    }

    fn judge(
        &mut self,
        scenario: &Scenario,
        trace: Trace,
        calendar: &BusinessCalendar,
    ) -> Result<(), SuiteError> {
        let end = scenario_end(calendar, scenario)?;
        let ctx = OracleCtx {
            calendar,
            scenario: &scenario.id,
            end,
        };
        for clause in scenario.clauses() {
            for oracle in oracle::for_clause(&clause) {
                let judgement = oracle.judge(&ctx, &trace);
                self.judgements
                    .entry(clause.clone())
                    .or_default()
                    .entry(oracle.obligation().to_string())
                    .or_default()
                    .by_scenario
                    .push((scenario.id.clone(), judgement));
            }
        }
        let mut jsonl = Vec::new();
        trace.write_jsonl(&mut jsonl).expect("writing to memory");
        self.runs.push(ScenarioRun {
            id: scenario.id.clone(),
            title: scenario.title.clone(),
            file: scenario.file.clone(),
            system: scenario.system.as_str().to_string(),
            clauses: scenario.clauses(),
            observations: trace.len(),
            trace_sha256: hex(&Sha256::digest(&jsonl)),
        });
        self.traces.push((scenario.id.clone(), trace));
        Ok(())
    }

    fn report(self, config: &RunConfig<'_>, target: TargetInfo) -> RunOutcome {
        let systems: Vec<String> = config
            .systems
            .iter()
            .map(|s| s.as_str().to_string())
            .collect();
        let identity = RunIdentity {
            suite_version: SUITE_VERSION.to_string(),
            seed: config.seed,
            target,
            systems,
            calendar: CalendarInfo::of(config.calendar),
        };
        let report = Report::assemble(Catalogue::standard(), identity, self.runs, &self.judgements);
        RunOutcome {
            report,
            traces: self.traces,
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
