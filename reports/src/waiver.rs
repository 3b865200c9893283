//! Waivers: failures a vendor or an operator expects and someone with the authority has signed
//! off, each until a date.
//!
//! A waiver names a clause (every obligation of it) or one obligation of a clause. Applied to
//! a finished report, it turns the failures it covers into `waived`: never a pass, but not
//! failing the run. What becomes of each waiver is part of the report:
//!
//! - `applied`: it covers at least one failure, and it holds on the day the report was judged.
//! - `expired`: it covers a failure, but its last day is before the day the report was
//!   judged; the failure stays a failure (the obligation shows the expired waiver).
//! - `stale`: what it covers was judged and nothing of it fails any more (it passes or only
//!   warns): the waiver should go. A stale waiver is a warning (`--warnings-fail` fails it).
//! - `not-judged`: nothing it covers was judged in this run (another system, a narrowed run).
//!
//! Reading and checking the waivers file (ids, fields, dates) is the command line's job; this
//! module takes waivers whose clause and obligation are known ids.

use serde::{Deserialize, Serialize};

use qaqpa_sim::jiff::civil::Date;

use crate::report::Report;
use crate::verdict::Verdict;

/// One waiver as written in the waivers file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Waiver {
    /// Where it is written: `file:line`.
    pub at: String,
    pub clause: String,
    /// One obligation of the clause; none waives every obligation of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub obligation: Option<String>,
    /// Why the failure is accepted.
    pub reason: String,
    /// Who signed it off.
    pub approver: String,
    /// The last day it holds, in Asia/Almaty.
    pub expires: Date,
}

impl Waiver {
    /// `clause` or `clause/obligation`.
    pub fn scope(&self) -> String {
        match &self.obligation {
            Some(o) => format!("{}/{o}", self.clause),
            None => self.clause.clone(),
        }
    }

    /// Whether it has expired on `day`: it holds through its `expires` day.
    pub fn expired_on(&self, day: Date) -> bool {
        self.expires < day
    }

    fn note(&self, expired: bool) -> WaiverNote {
        WaiverNote {
            at: self.at.clone(),
            reason: self.reason.clone(),
            approver: self.approver.clone(),
            expires: self.expires,
            expired,
        }
    }
}

/// What became of a waiver in a report (see the module's documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WaiverStatus {
    Applied,
    Expired,
    Stale,
    NotJudged,
}

impl WaiverStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            WaiverStatus::Applied => "applied",
            WaiverStatus::Expired => "expired",
            WaiverStatus::Stale => "stale",
            WaiverStatus::NotJudged => "not-judged",
        }
    }
}

impl std::fmt::Display for WaiverStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One waiver of a report with what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaiverResult {
    #[serde(flatten)]
    pub waiver: Waiver,
    pub status: WaiverStatus,
    /// `clause/obligation` of what decided the status: the failures it waives (applied) or
    /// would have waived (expired), the judged obligations that no longer fail (stale).
    pub covers: Vec<String>,
    /// The status in one line a reader understands.
    pub finding: String,
}

/// The waivers a report was judged with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaiverSection {
    /// The waivers file as given on the command line.
    pub file: String,
    /// The day expiry was judged against, in Asia/Almaty: from `SOURCE_DATE_EPOCH` when it is
    /// set, else the day the report was made.
    pub checked_on: Date,
    pub waivers: Vec<WaiverResult>,
}

impl WaiverSection {
    /// The waivers as written, to apply again.
    pub fn definitions(&self) -> Vec<Waiver> {
        self.waivers.iter().map(|w| w.waiver.clone()).collect()
    }

    /// What the waivers say, without where they were written: two sections describe the same
    /// set iff these agree.
    pub fn describe_set(&self) -> String {
        self.waivers
            .iter()
            .map(|w| {
                let v = &w.waiver;
                format!(
                    "{} ({}; {}; until {})",
                    v.scope(),
                    v.reason,
                    v.approver,
                    v.expires
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The waiver an obligation's verdict rests on, shown with the obligation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaiverNote {
    /// Where the waiver is written: `file:line`.
    pub at: String,
    pub reason: String,
    pub approver: String,
    pub expires: Date,
    /// The waiver had expired when the report was judged, so the failure stands.
    pub expired: bool,
}

impl Report {
    /// Judges the report with `waivers` (from `file`) on `checked_on`: every failing
    /// obligation a waiver in force covers becomes `waived`; the clauses, totals and outcome
    /// are derived again, and the report records each waiver with what became of it. Waivers
    /// applied earlier are taken off first, so applying is idempotent.
    pub fn apply_waivers(&mut self, file: &str, checked_on: Date, waivers: &[Waiver]) {
        self.clear_waivers();
        let mut results = Vec::with_capacity(waivers.len());
        for w in waivers {
            let expired = w.expired_on(checked_on);
            let mut failing = Vec::new();
            let mut judged = Vec::new();
            for c in self.clauses.iter_mut().filter(|c| c.id == w.clause) {
                let mut touched = false;
                for o in c
                    .obligations
                    .iter_mut()
                    .filter(|o| w.obligation.as_ref().is_none_or(|x| *x == o.id))
                {
                    let id = format!("{}/{}", c.id, o.id);
                    match o.verdict {
                        Verdict::Fail if o.waiver.is_none() => {
                            o.waiver = Some(w.note(expired));
                            if !expired {
                                o.verdict = Verdict::Waived;
                            }
                            touched = true;
                            failing.push(id);
                        }
                        // Covered by an earlier waiver of the file (the command line refuses
                        // overlapping waivers; a report assembled elsewhere may not).
                        Verdict::Fail | Verdict::Waived => failing.push(id),
                        Verdict::Pass | Verdict::Warning => judged.push(id),
                        _ => {}
                    }
                }
                if touched {
                    c.rederive();
                }
            }
            let (status, covers, finding) = if !failing.is_empty() && expired {
                let f = format!(
                    "expired on {} (checked on {checked_on}): {} still fail{}",
                    w.expires,
                    failing.join(", "),
                    if failing.len() == 1 { "s" } else { "" }
                );
                (WaiverStatus::Expired, failing, f)
            } else if !failing.is_empty() {
                let f = format!("waives {}", failing.join(", "));
                (WaiverStatus::Applied, failing, f)
            } else if !judged.is_empty() {
                let f = format!(
                    "stale: {} no longer fail{}; remove the waiver",
                    judged.join(", "),
                    if judged.len() == 1 { "s" } else { "" }
                );
                (WaiverStatus::Stale, judged, f)
            } else {
                (
                    WaiverStatus::NotJudged,
                    vec![],
                    format!("{} was not judged in this run", w.scope()),
                )
            };
            results.push(WaiverResult {
                waiver: w.clone(),
                status,
                covers,
                finding,
            });
        }
        self.waivers = Some(WaiverSection {
            file: file.to_string(),
            checked_on,
            waivers: results,
        });
        self.recount();
    }

    /// Takes the waivers off: every waived obligation fails again, and the clauses, totals
    /// and outcome are derived again. Returns the waivers the report was judged with.
    pub fn clear_waivers(&mut self) -> Option<WaiverSection> {
        let section = self.waivers.take();
        let mut changed = section.is_some();
        for c in &mut self.clauses {
            let mut touched = false;
            for o in &mut c.obligations {
                if o.waiver.take().is_some() {
                    touched = true;
                }
                if o.verdict == Verdict::Waived {
                    o.verdict = Verdict::Fail;
                    touched = true;
                }
            }
            if touched {
                c.rederive();
                changed = true;
            }
        }
        if changed {
            self.recount();
        }
        section
    }

    /// The waivers whose failures no longer happen.
    pub fn stale_waivers(&self) -> impl Iterator<Item = &WaiverResult> {
        self.waivers
            .iter()
            .flat_map(|s| s.waivers.iter())
            .filter(|w| w.status == WaiverStatus::Stale)
    }
}
