//! eint-45-11: "if the check is positive, the operator performs the update within 10 working
//! days". The rules do not say whether the 10 days run from receipt or from the check, and
//! a positive check need not be announced. The strict reading (from receipt) passes; the
//! lenient one (from the check, at the latest the last day of the 3-day check) warns.

use qaqpa_reports::{Judgement, Verdict};
use qaqpa_sim::trace::{DocKind, Trace};

use super::{CaseVerdict, Oracle, OracleCtx, answers_in_case, combine, computed, seen};

pub struct UpdateAfterCheck {
    pub clause: &'static str,
    pub trigger: DocKind,
    pub check_working_days: u32,
    pub update_working_days: u32,
}

impl Oracle for UpdateAfterCheck {
    fn clause(&self) -> &'static str {
        self.clause
    }

    fn describe(&self) -> &'static str {
        "every service-update application whose check passed is carried out within 10 working days: of the announced positive check, else of receipt (a warning when only the latest permissible check day makes it in time)"
    }

    fn judge(&self, ctx: &OracleCtx<'_>, trace: &Trace) -> Judgement {
        let docs: Vec<_> = trace.documents().collect();
        let mut cases = Vec::new();
        for (i, (obs, app)) in docs.iter().enumerate() {
            if app.doc != self.trigger {
                continue;
            }
            let case = &app.case;
            let mut evidence = vec![seen(ctx, obs, app)];
            let answers: Vec<_> = answers_in_case(&docs, i, self.trigger).collect();
            let returned = answers
                .iter()
                .find(|(_, d)| d.doc == DocKind::ReturnedForRework);
            let passed = answers.iter().find(|(_, d)| d.doc == DocKind::CheckPassed);
            let done = answers
                .iter()
                .find(|(_, d)| d.doc == DocKind::UpdateCompleted);
            if let Some((o, d)) = returned
                && done.is_none_or(|(od, _)| od.at > o.at)
            {
                evidence.push(seen(ctx, o, d));
                cases.push(CaseVerdict { verdict: Verdict::NotTested, finding: format!("case {case} was returned for rework; the update count starts with a resubmission"), evidence });
                continue;
            }
            let deadlines = (|| -> Result<_, qaqpa_sim::calendar::CalendarError> {
                Ok(match passed {
                    Some((o, _)) => (
                        ctx.calendar.deadline_end(o.at, self.update_working_days)?,
                        None,
                    ),
                    None => (
                        ctx.calendar
                            .deadline_end(obs.at, self.update_working_days)?,
                        Some(ctx.calendar.deadline_end(
                            obs.at,
                            self.check_working_days + self.update_working_days,
                        )?),
                    ),
                })
            })();
            let (strict, lenient) = match deadlines {
                Ok(d) => d,
                Err(e) => {
                    cases.push(CaseVerdict {
                        verdict: Verdict::NotTested,
                        finding: format!("case {case}: cannot compute the deadline: {e}"),
                        evidence,
                    });
                    continue;
                }
            };
            if let Some((o, d)) = passed {
                evidence.push(seen(ctx, o, d));
                evidence.push(computed(
                    ctx,
                    strict,
                    case,
                    format!(
                        "deadline: end of the {}th working day after the positive check",
                        self.update_working_days
                    ),
                ));
            } else {
                evidence.push(computed(
                    ctx,
                    strict,
                    case,
                    format!(
                        "deadline (strict reading): end of the {}th working day after receipt",
                        self.update_working_days
                    ),
                ));
            }
            if let Some(l) = lenient {
                evidence.push(computed(ctx, l, case, format!("deadline (lenient reading): {} working days after the last day of the check", self.update_working_days)));
            }
            let last = lenient.unwrap_or(strict);
            let verdict = match done {
                None if ctx.end < last => CaseVerdict {
                    verdict: Verdict::NotTested,
                    finding: format!("case {case}: the scenario ended before the update deadline"),
                    evidence,
                },
                None => CaseVerdict {
                    verdict: Verdict::Fail,
                    finding: format!("case {case}: no update-completed by the deadline"),
                    evidence,
                },
                Some((o, d)) => {
                    evidence.push(seen(ctx, o, d));
                    if o.at <= strict {
                        CaseVerdict {
                            verdict: Verdict::Pass,
                            finding: format!("case {case}: update completed in time"),
                            evidence,
                        }
                    } else if o.at <= last {
                        CaseVerdict {
                            verdict: Verdict::Warning,
                            finding: format!(
                                "case {case}: update completed more than {} working days after receipt, with no positive check announced; in time only if the count starts at the end of the check period",
                                self.update_working_days
                            ),
                            evidence,
                        }
                    } else {
                        CaseVerdict {
                            verdict: Verdict::Fail,
                            finding: format!("case {case}: update completed after the deadline"),
                            evidence,
                        }
                    }
                }
            };
            cases.push(verdict);
        }
        combine(self.clause, cases)
    }
}
