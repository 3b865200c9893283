//! Shared by the end-to-end tests: runs of the suite against the reference, in process.
#![allow(dead_code)] // each test binary uses its own part of these helpers

use std::path::PathBuf;

use qaqpa::cli::{RunArgs, run_to_disk};
use qaqpa_reports::{Report, Verdict};

pub struct Run {
    pub report: Report,
    pub dir: PathBuf,
}

/// Runs the suite into a fresh directory under the target dir; `configure` adds flags.
pub fn run(name: &str, seed: u64, configure: impl FnOnce(RunArgs) -> RunArgs) -> Run {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    let args = configure(RunArgs::new(dir.clone(), seed));
    let outcome = run_to_disk(&args).unwrap_or_else(|e| panic!("run {name}: {e}"));
    Run {
        report: outcome.report,
        dir,
    }
}

pub fn verdict(report: &Report, clause: &str) -> Verdict {
    report
        .clauses
        .iter()
        .find(|c| c.id == clause)
        .unwrap_or_else(|| panic!("{clause} missing from the report"))
        .verdict
}
