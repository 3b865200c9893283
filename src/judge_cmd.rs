//! `qaqpa judge`: the suite's oracles over recorded evidence instead of a live run.

use std::path::{Path, PathBuf};

use qaqpa_scenarios::SystemName;
use qaqpa_scenarios::suite::{self, RunConfig, RunOutcome};
use qaqpa_sim::target::TargetInfo;
use qaqpa_sim::trace::Trace;

use crate::error::CliError;
use crate::{ids, output};

#[derive(clap::Args)]
pub struct JudgeArgs {
    /// Recorded traces: `<scenario-id>.jsonl` files, or folders of them (such as the
    /// `traces/` a run writes). Each is judged by the suite's scenario of that id.
    #[arg(required = true, value_name = "TRACE")]
    traces: Vec<PathBuf>,
    /// The folder for the reports. An earlier run's traces and reports in it are removed
    /// first; a non-empty folder that is not qaqpa's output is refused.
    #[arg(long, value_name = "DIR", default_value = "qaqpa-out")]
    out: PathBuf,
    /// Further scenario files: every *.yaml under DIR joins the standard suite (repeatable).
    #[arg(long = "suite", value_name = "DIR")]
    suites: Vec<PathBuf>,
    /// A calendar file (the format of sim/data/calendar-kz.toml) that extends or overrides the
    /// built-in Kazakhstan calendar.
    #[arg(long, value_name = "FILE")]
    calendar_file: Option<PathBuf>,
    /// Treat warning clauses and stale waivers as failing: exit 1, and failures in report.xml.
    #[arg(long)]
    warnings_fail: bool,
    /// Expected failures signed off until a date (TOML, see the README's "Waivers").
    #[arg(long, value_name = "FILE")]
    waivers: Option<PathBuf>,
}

impl JudgeArgs {
    pub fn out(&self) -> &Path {
        &self.out
    }

    pub fn warnings_fail(&self) -> bool {
        self.warnings_fail
    }

    pub fn new(traces: Vec<PathBuf>, out: PathBuf) -> JudgeArgs {
        JudgeArgs {
            traces,
            out,
            suites: vec![],
            calendar_file: None,
            warnings_fail: false,
            waivers: None,
        }
    }

    pub fn with_waivers(mut self, file: PathBuf) -> JudgeArgs {
        self.waivers = Some(file);
        self
    }
}

pub fn judge(args: &JudgeArgs) -> Result<RunOutcome, CliError> {
    let calendar = crate::cli::load_calendar(args.calendar_file.as_deref())?;
    let waivers = crate::cli::load_waivers(args.waivers.as_deref())?;
    let suite = crate::cli::load_suite(&args.suites)?;
    let recorded = read_traces(&args.traces, &suite, Some(&args.out))?;
    let mut systems: Vec<SystemName> = recorded
        .iter()
        .filter_map(|(id, _)| suite.scenarios.iter().find(|s| s.id == *id))
        .map(|s| s.system)
        .collect();
    crate::cli::check_schedules(
        &suite
            .scenarios
            .iter()
            .filter(|s| recorded.iter().any(|(id, _)| *id == s.id))
            .cloned()
            .collect::<Vec<_>>(),
        &calendar,
    )?;
    systems.sort();
    systems.dedup();
    let config = RunConfig {
        seed: 0,
        systems: if systems.is_empty() {
            SystemName::ALL.to_vec()
        } else {
            systems
        },
        calendar: &calendar,
    };
    let name = args
        .traces
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let target = TargetInfo {
        kind: "recorded".into(),
        name,
        version: None,
        defects: vec![],
    };
    output::prepare(&args.out)?;
    let mut outcome = suite::judge_recorded(&suite, recorded, &config, target)
        .map_err(|e| CliError::input(e.to_string()))?;
    crate::cli::apply_waivers(&mut outcome.report, waivers.as_ref());
    output::write_judged(&args.out, &outcome, args.warnings_fail, waivers.as_ref())?;
    Ok(outcome)
}

/// Reads recorded traces: `<scenario-id>.jsonl` files, or folders of them, each paired with
/// the suite's scenario of that id. A folder without traces, an unknown scenario, a second
/// trace for one scenario, a malformed line or an empty trace is an error naming the file;
/// so is a trace inside `out`, which a run starts clean.
pub(crate) fn read_traces(
    paths: &[PathBuf],
    suite: &suite::Suite,
    out: Option<&Path>,
) -> Result<Vec<(String, Trace)>, CliError> {
    let mut files = Vec::new();
    for p in paths {
        let before = files.len();
        collect(p, &mut files)
            .map_err(|e| CliError::input(format!("{}: cannot read it: {e}", p.display())))?;
        if files.len() == before {
            return Err(CliError::input(format!(
                "{}: no recorded traces (<scenario-id>.jsonl) in this folder: nothing to judge",
                p.display()
            )));
        }
    }
    files.sort();
    files.dedup();
    if let Some(out) = out {
        refuse_inputs_inside_out(&files, out)?;
    }
    let mut recorded = Vec::new();
    for f in &files {
        let stem = f
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_string();
        let id = ids::resolve(
            "scenario",
            &stem,
            suite.scenarios.iter().map(|s| s.id.as_str()),
            "a report's scenarios",
        )
        .map_err(|e| {
            CliError::input(format!(
                "{}: {e}: name a recorded trace after the scenario it was recorded for",
                f.display()
            ))
        })?;
        if recorded.iter().any(|(r, _): &(String, Trace)| r == id) {
            return Err(CliError::input(format!(
                "{}: a second trace for scenario `{id}`",
                f.display()
            )));
        }
        let input = std::fs::File::open(f)
            .map_err(|e| CliError::input(format!("{}: cannot read it: {e}", f.display())))?;
        let trace = Trace::read_jsonl(std::io::BufReader::new(input), &f.display().to_string())
            .map_err(|e| CliError::input(e.to_string()))?;
        if trace.is_empty() {
            return Err(CliError::input(format!(
                "{}: the trace is empty: nothing was observed, so there is nothing to judge",
                f.display()
            )));
        }
        recorded.push((id.to_string(), trace));
    }
    Ok(recorded)
}

/// Starting `out` clean removes its `traces/`: judging those very traces into it would delete
/// the evidence, so that is refused.
fn refuse_inputs_inside_out(files: &[PathBuf], out: &Path) -> Result<(), CliError> {
    let Ok(traces) = out.join(output::TRACES).canonicalize() else {
        return Ok(());
    };
    for f in files {
        if f.canonicalize().is_ok_and(|c| c.starts_with(&traces)) {
            return Err(CliError::input(format!(
                "{}: the trace is in the --out folder {}, which is started clean: judge it into another --out",
                f.display(),
                out.display()
            )));
        }
    }
    Ok(())
}

fn collect(p: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if p.is_dir() {
        for e in std::fs::read_dir(p)? {
            let f = e?.path();
            if f.extension().is_some_and(|x| x == "jsonl") {
                out.push(f);
            }
        }
    } else {
        std::fs::metadata(p)?;
        out.push(p.to_path_buf());
    }
    Ok(())
}
