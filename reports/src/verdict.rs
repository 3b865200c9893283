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
    /// A failure covered by a signed-off waiver that has not expired (`--waivers`): never a
    /// pass, but not failing the run either.
    Waived,
    /// The clause binds a system this run does not certify.
    NotApplicable,
    /// Checkable, but nothing in this run exercised it.
    NotTested,
    /// Paper, seals, signatures: outside what a network or a trace can show.
    NotMachineCheckable,
}

impl Verdict {
    pub const ALL: [Verdict; 7] = [
        Verdict::Pass,
        Verdict::Fail,
        Verdict::Warning,
        Verdict::Waived,
        Verdict::NotApplicable,
        Verdict::NotTested,
        Verdict::NotMachineCheckable,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Warning => "warning",
            Verdict::Waived => "waived",
            Verdict::NotApplicable => "not-applicable",
            Verdict::NotTested => "not-tested",
            Verdict::NotMachineCheckable => "not-machine-checkable",
        }
    }

    /// Whether an oracle judged it (passed, failed or warned; a waived failure was judged
    /// too), as opposed to the verdicts of what nobody judged.
    pub fn judged(self) -> bool {
        matches!(
            self,
            Verdict::Pass | Verdict::Fail | Verdict::Warning | Verdict::Waived
        )
    }

    /// How verdicts of one clause over several scenarios combine: the worst observed wins;
    /// a scenario that found nothing to judge does not dilute one that did. Oracles never
    /// give `waived` (waivers are applied to a finished report, see [`crate::waiver`]); it
    /// ranks below an unwaived warning, which still needs someone's attention.
    pub fn severity(self) -> u8 {
        match self {
            Verdict::Fail => 6,
            Verdict::Warning => 5,
            Verdict::Waived => 4,
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
