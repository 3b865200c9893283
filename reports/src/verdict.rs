//! Verdicts and the evidence behind them.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Pass,
    Fail,
    /// A SHOULD, or a deadline the rules leave unclear and the observation only meets on the
    /// lenient reading.
    Warning,
    /// The clause binds a system this run does not certify.
    NotApplicable,
    /// Checkable, but nothing in this run exercised it.
    NotTested,
    /// Paper, seals, signatures: outside what a network or a trace can show.
    NotMachineCheckable,
}

impl Verdict {
    pub const ALL: [Verdict; 6] = [
        Verdict::Pass,
        Verdict::Fail,
        Verdict::Warning,
        Verdict::NotApplicable,
        Verdict::NotTested,
        Verdict::NotMachineCheckable,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Warning => "warning",
            Verdict::NotApplicable => "not-applicable",
            Verdict::NotTested => "not-tested",
            Verdict::NotMachineCheckable => "not-machine-checkable",
        }
    }

    /// How verdicts of one clause over several scenarios combine: the worst observed wins;
    /// a scenario that found nothing to judge does not dilute one that did.
    pub fn severity(self) -> u8 {
        match self {
            Verdict::Fail => 5,
            Verdict::Warning => 4,
            Verdict::Pass => 3,
            Verdict::NotTested => 2,
            Verdict::NotApplicable => 1,
            Verdict::NotMachineCheckable => 0,
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One thing observed (or one deadline computed) that a verdict rests on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    pub scenario: String,
    /// Simulated time, Asia/Almaty, RFC 3339 with offset.
    pub at: String,
    /// The probe that observed it, or `oracle` for a computed fact such as a deadline.
    pub probe: String,
    pub subject: String,
    pub text: String,
    /// The trace observation this rests on, when it rests on one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
}

/// An oracle's judgement of one clause in one scenario.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Judgement {
    pub verdict: Verdict,
    /// One line a reader understands without the evidence.
    pub finding: String,
    pub evidence: Vec<Evidence>,
}
