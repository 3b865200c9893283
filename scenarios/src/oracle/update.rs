//! "After a positive check, the operator does X within N working days" (eint-27, eint-45,
//! eint-45-11, eint-45-15). The rules do not always say when the check ends, and a positive
//! check need not be announced. When it is announced, the term runs from it. When it is not,
//! the strict reading (from receipt) passes and, where the rules give the check its own term,
//! the lenient one (from the last day of that term) warns.

use qaqpa_reports::{Judgement, Verdict};
use qaqpa_sim::trace::{DocKind, Trace};

use super::{CaseVerdict, Oracle, OracleCtx, answers_in_case, computed, judge_applications, seen};

pub struct CompletionAfterCheck {
    pub clause: &'static str,
    pub obligation: &'static str,
    pub describe: &'static str,
    pub trigger: DocKind,
    /// Everything the operator must have done; the case completes with the last of them.
    pub completions: &'static [DocKind],
    /// The check's own term in working days, or 0 where the rules give it none.
    pub check_working_days: u32,
    pub working_days: u32,
}

impl Oracle for CompletionAfterCheck {
    oracle_names!();

    fn judge(&self, ctx: &OracleCtx<'_>, trace: &Trace) -> Judgement {
        judge_applications(self.clause, trace, &[self.trigger], |docs, i, obs, app| {
            let case = &app.case;
            let mut evidence = vec![seen(ctx, obs, app)];
            let answers: Vec<_> = answers_in_case(docs, i, self.trigger).collect();
            let returned = answers
                .iter()
                .find(|(_, d)| d.doc == DocKind::ReturnedForRework);
            let passed = answers.iter().find(|(_, d)| d.doc == DocKind::CheckPassed);
            let done: Vec<_> = self
                .completions
                .iter()
                .map(|k| answers.iter().find(|(_, d)| d.doc == *k))
                .collect();
            let first_done = done.iter().flatten().map(|(o, _)| o.at).min();
            if let Some((o, d)) = returned
                && first_done.is_none_or(|t| t > o.at)
            {
                evidence.push(seen(ctx, o, d));
                return CaseVerdict {
                    verdict: Verdict::NotTested,
                    finding: format!(
                        "case {case} was returned for rework; the count starts again with the resubmission"
                    ),
                    evidence,
                };
            }
            let deadlines =
                (|| -> Result<_, qaqpa_sim::calendar::CalendarError> {
                    Ok(match passed {
                        Some((o, _)) => (ctx.calendar.deadline_end(o.at, self.working_days)?, None),
                        None if self.check_working_days == 0 => {
                            (ctx.calendar.deadline_end(obs.at, self.working_days)?, None)
                        }
                        None => (
                            ctx.calendar.deadline_end(obs.at, self.working_days)?,
                            Some(ctx.calendar.deadline_end(
                                obs.at,
                                self.check_working_days + self.working_days,
                            )?),
                        ),
                    })
                })();
            let (strict, lenient) = match deadlines {
                Ok(d) => d,
                Err(e) => {
                    return CaseVerdict {
                        verdict: Verdict::NotTested,
                        finding: format!("case {case}: cannot compute the deadline: {e}"),
                        evidence,
                    };
                }
            };
            match passed {
                    Some((o, d)) => {
                        evidence.push(seen(ctx, o, d));
                        evidence.push(computed(ctx, strict, case, format!("deadline: end of the {}th working day after the positive check", self.working_days)));
                    }
                    None => evidence.push(computed(ctx, strict, case, format!("deadline: end of the {}th working day after receipt (no positive check announced)", self.working_days))),
                }
            if let Some(l) = lenient {
                evidence.push(computed(ctx, l, case, format!("deadline (lenient reading): {} working days after the last day of the check", self.working_days)));
            }
            let last = lenient.unwrap_or(strict);
            let missing: Vec<&str> = self
                .completions
                .iter()
                .zip(&done)
                .filter(|(_, d)| d.is_none())
                .map(|(k, _)| k.as_str())
                .collect();
            for (o, d) in done.iter().flatten() {
                evidence.push(seen(ctx, o, d));
            }
            let completed = done.iter().flatten().map(|(o, _)| o.at).max();
            match completed {
                _ if !missing.is_empty() && ctx.end < last => CaseVerdict {
                    verdict: Verdict::NotTested,
                    finding: format!("case {case}: the scenario ended before the deadline"),
                    evidence,
                },
                _ if !missing.is_empty() => CaseVerdict {
                    verdict: Verdict::Fail,
                    finding: format!("case {case}: no {} by the deadline", missing.join(" or ")),
                    evidence,
                },
                Some(t) if t <= strict => CaseVerdict {
                    verdict: Verdict::Pass,
                    finding: format!("case {case}: completed in time"),
                    evidence,
                },
                Some(t) if t <= last => CaseVerdict {
                    verdict: Verdict::Warning,
                    finding: format!(
                        "case {case}: completed more than {} working days after receipt, with no positive check announced; in time only if the count starts at the end of the check period",
                        self.working_days
                    ),
                    evidence,
                },
                _ => CaseVerdict {
                    verdict: Verdict::Fail,
                    finding: format!("case {case}: completed after the deadline"),
                    evidence,
                },
            }
        })
    }
}
