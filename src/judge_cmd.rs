//! `qaqpa judge`: the suite's oracles over recorded evidence instead of a live run.

use std::path::{Path, PathBuf};

use qaqpa_scenarios::SystemName;
use qaqpa_scenarios::suite::{self, RunConfig, RunOutcome, Suite};
use qaqpa_sim::target::TargetInfo;
use qaqpa_sim::trace::Trace;

#[derive(clap::Args)]
pub struct JudgeArgs {
    /// Recorded traces: `<scenario-id>.jsonl` files, or directories of them (such as the
    /// `traces/` a run writes). Each is judged by the suite's scenario of that id.
    #[arg(required = true)]
    traces: Vec<PathBuf>,
    #[arg(long, default_value = "qaqpa-out")]
    out: PathBuf,
    /// Further scenario files: every *.yaml under DIR joins the standard suite.
    #[arg(long = "suite")]
    suites: Vec<PathBuf>,
    /// A calendar file that extends or overrides the built-in Kazakhstan calendar.
    #[arg(long)]
    calendar: Option<PathBuf>,
    /// Treat warning clauses as failing: exit 1, and failures in report.xml.
    #[arg(long)]
    warnings_fail: bool,
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
            calendar: None,
            warnings_fail: false,
        }
    }
}

pub fn judge(args: &JudgeArgs) -> Result<RunOutcome, String> {
    let calendar = crate::cli::load_calendar(args.calendar.as_deref())?;
    let mut suite = Suite::standard().map_err(|e| e.to_string())?;
    for dir in &args.suites {
        suite.add_dir(dir).map_err(|e| e.to_string())?;
    }
    let mut files = Vec::new();
    for p in &args.traces {
        collect(p, &mut files).map_err(|e| format!("{}: {e}", p.display()))?;
    }
    files.sort();
    let mut recorded = Vec::new();
    let mut systems = Vec::new();
    for f in &files {
        let id = f
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_string();
        let scenario = suite.scenarios.iter().find(|s| s.id == id).ok_or_else(|| {
            format!("{}: no scenario `{id}` in the suite: name a recorded trace after the scenario it was recorded for", f.display())
        })?;
        systems.push(scenario.system);
        let input = std::fs::File::open(f).map_err(|e| format!("{}: {e}", f.display()))?;
        let trace = Trace::read_jsonl(std::io::BufReader::new(input), &f.display().to_string())
            .map_err(|e| e.to_string())?;
        recorded.push((id, trace));
    }
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
        defects: vec![],
    };
    let outcome =
        suite::judge_recorded(&suite, recorded, &config, target).map_err(|e| e.to_string())?;
    let junit = qaqpa_reports::render::JunitOptions {
        warnings_fail: args.warnings_fail,
    };
    crate::cli::write_reports(&args.out, &outcome, junit)
        .map_err(|e| format!("{}: {e}", args.out.display()))?;
    Ok(outcome)
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
