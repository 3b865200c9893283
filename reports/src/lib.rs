//! The clause catalogue, verdicts, evidence and report renderers.

pub mod catalogue;
pub mod render;
pub mod report;
pub mod verdict;

pub use report::{ClauseJudgements, ClauseResult, Report, ScenarioRun};
pub use verdict::{Evidence, Judgement, Verdict};
