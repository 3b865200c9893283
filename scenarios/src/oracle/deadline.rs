//! "Within N working days of receipt, the desk answers so": the shape of most workflow
//! clauses.

use qaqpa_reports::{Judgement, Verdict};
use qaqpa_sim::trace::{DocKind, Trace};

use super::{CaseVerdict, Oracle, OracleCtx, answers_in_case, computed, judge_applications, seen};

pub struct AnswerDeadline {
    pub clause: &'static str,
    pub obligation: &'static str,
    pub describe: &'static str,
    /// The application that starts the count, as received at the desk.
    pub trigger: DocKind,
    /// The answers this clause judges.
    pub answers: &'static [DocKind],
    /// Answers that settle the case under a sibling clause (specifications vs. a refusal):
    /// the case is then outside this clause.
    pub settled_elsewhere: &'static [DocKind],
    pub working_days: u32,
}

impl Oracle for AnswerDeadline {
    oracle_names!();

    fn judge(&self, ctx: &OracleCtx<'_>, trace: &Trace) -> Judgement {
        judge_applications(self.clause, trace, &[self.trigger], |docs, i, obs, app| {
            let mut evidence = vec![seen(ctx, obs, app)];
            let deadline = match ctx.calendar.deadline_end(obs.at, self.working_days) {
                Ok(d) => d,
                Err(e) => {
                    return CaseVerdict {
                        verdict: Verdict::NotTested,
                        finding: format!("case {}: cannot compute the deadline: {e}", app.case),
                        evidence,
                    };
                }
            };
            evidence.push(computed(
                ctx,
                deadline,
                &app.case,
                format!(
                    "deadline: end of the {}th working day after receipt",
                    self.working_days
                ),
            ));
            let answer = answers_in_case(docs, i, self.trigger).find(|(_, d)| {
                self.answers.contains(&d.doc) || self.settled_elsewhere.contains(&d.doc)
            });
            let case = &app.case;
            match answer {
                None if ctx.end < deadline => CaseVerdict {
                    verdict: Verdict::NotTested,
                    finding: format!(
                        "case {case}: the scenario ended before the deadline, unanswered"
                    ),
                    evidence,
                },
                None => CaseVerdict {
                    verdict: Verdict::Fail,
                    finding: format!(
                        "case {case}: no {} within {} working days",
                        words(self.answers),
                        self.working_days
                    ),
                    evidence,
                },
                Some((o, d)) => {
                    evidence.push(seen(ctx, o, d));
                    if self.settled_elsewhere.contains(&d.doc) {
                        CaseVerdict {
                            verdict: Verdict::NotTested,
                            finding: format!(
                                "case {case} was answered with {}, which {} does not judge",
                                d.doc.as_str(),
                                self.clause
                            ),
                            evidence,
                        }
                    } else {
                        let mut faults = Vec::new();
                        if o.at > deadline {
                            let late = ctx
                                .calendar
                                .working_days_between(
                                    deadline_date(deadline),
                                    o.at.to_zoned(qaqpa_sim::calendar::almaty()).date(),
                                )
                                .unwrap_or(0);
                            faults.push(format!(
                                "{} arrived {} working day(s) after the {}-working-day deadline",
                                d.doc.as_str(),
                                late,
                                self.working_days
                            ));
                        }
                        if faults.is_empty() {
                            CaseVerdict {
                                verdict: Verdict::Pass,
                                finding: format!("case {case}: {} in time", d.doc.as_str()),
                                evidence,
                            }
                        } else {
                            CaseVerdict {
                                verdict: Verdict::Fail,
                                finding: format!("case {case}: {}", faults.join(", ")),
                                evidence,
                            }
                        }
                    }
                }
            }
        })
    }
}

fn deadline_date(t: jiff::Timestamp) -> jiff::civil::Date {
    t.to_zoned(qaqpa_sim::calendar::almaty()).date()
}

fn words(kinds: &[DocKind]) -> String {
    kinds
        .iter()
        .map(|k| k.as_str())
        .collect::<Vec<_>>()
        .join(" or ")
}
