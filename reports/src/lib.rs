//! The clause catalogue, verdicts, evidence and report renderers.

pub mod catalogue;
pub mod render;
pub mod report;
pub mod verdict;
pub mod waiver;

pub use report::{
    ClauseResult, Judgements, ObligationJudgements, ObligationResult, Outcome, Report, ScenarioRun,
};
pub use verdict::{Evidence, Judgement, Verdict};
