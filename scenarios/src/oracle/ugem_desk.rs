//! The UGEM desk's clauses beyond deadlines and forms: resubmission after a rejection
//! (ugem-10), disconnection (ugem-11), and a connection that lets mail flow (ugem-9).

use qaqpa_reports::Evidence;
use qaqpa_reports::{Judgement, Verdict};
use qaqpa_sim::clock;
use qaqpa_sim::trace::{DocKind, Observation, SmtpReply, Trace};

use super::{
    AnswerDeadline, CaseVerdict, Oracle, OracleCtx, answers_in_case, combine, computed, mail, seen,
};

fn first_answer<'t>(
    docs: &[(
        &'t qaqpa_sim::trace::Observation,
        &'t qaqpa_sim::trace::Document,
    )],
    i: usize,
) -> Option<(
    &'t qaqpa_sim::trace::Observation,
    &'t qaqpa_sim::trace::Document,
)> {
    answers_in_case(docs, i, DocKind::MailConnectionApplication)
        .find(|(_, d)| matches!(d.doc, DocKind::ConnectionNotice | DocKind::Rejection))
}

/// ugem-10: the reasoned refusal within 5 working days, and no resubmission processed as new
/// within 30 calendar days of the refusal.
pub struct RejectionAndResubmission {
    pub deadline: AnswerDeadline,
}

impl Oracle for RejectionAndResubmission {
    fn clause(&self) -> &'static str {
        self.deadline.clause
    }

    fn describe(&self) -> &'static str {
        "every mail-connection application the STS refuses is refused within 5 working days of receipt, with reasons; an application resubmitted less than 30 calendar days after the applicant's rejection is not connected"
    }

    fn judge(&self, ctx: &OracleCtx<'_>, trace: &Trace) -> Judgement {
        let first = self.deadline.judge(ctx, trace);
        let docs: Vec<_> = trace.documents().collect();
        let mut cases = Vec::new();
        for (i, (o, app)) in docs.iter().enumerate() {
            if app.doc != DocKind::MailConnectionApplication {
                continue;
            }
            let earlier = docs[..i]
                .iter()
                .rev()
                .find(|(_, d)| d.doc == DocKind::Rejection && d.to == app.from);
            let Some((ro, rd)) = earlier else { continue };
            let since = clock::local(ro.at).date();
            // 30 days after a rejection at the very end of the calendar's range is no date:
            // every resubmission then comes early.
            let allowed = match ctx.calendar.add_calendar_days(since, 30) {
                Ok(d) if clock::local(o.at).date() >= d => continue,
                Ok(d) => d.to_string(),
                Err(_) => format!("{since} + 30 days"),
            };
            let case = &app.case;
            let mut evidence = vec![
                seen(ctx, ro, rd),
                seen(ctx, o, app),
                computed(
                    ctx,
                    o.at,
                    case,
                    format!(
                        "resubmission allowed from {allowed} (30 calendar days after the rejection of {since})"
                    ),
                ),
            ];
            cases.push(match first_answer(&docs, i) {
                Some((a, d)) if d.doc == DocKind::ConnectionNotice => {
                    evidence.push(seen(ctx, a, d));
                    CaseVerdict {
                        verdict: Verdict::Fail,
                        finding: format!("case {case}: resubmitted before {allowed} and processed into a connection"),
                        evidence,
                    }
                }
                Some((a, d)) => {
                    evidence.push(seen(ctx, a, d));
                    CaseVerdict {
                        verdict: Verdict::Pass,
                        finding: format!("case {case}: early resubmission refused"),
                        evidence,
                    }
                }
                None => CaseVerdict {
                    verdict: Verdict::NotTested,
                    finding: format!("case {case}: early resubmission unanswered in the scenario"),
                    evidence,
                },
            });
        }
        if cases.is_empty() {
            return first;
        }
        merge(first, combine(self.clause(), cases))
    }
}

/// Two judgements of one clause: the worse decides; equal ones join their findings.
fn merge(first: Judgement, second: Judgement) -> Judgement {
    let (a, b) = if second.verdict.severity() > first.verdict.severity() {
        (second, first)
    } else {
        (first, second)
    };
    let mut out = a;
    if b.verdict == out.verdict {
        out.finding = format!("{}; {}", out.finding, b.finding);
        out.evidence.extend(b.evidence);
    }
    out
}

/// The departmental systems of the mail episodes whose domain is `domain`.
fn systems_of(trace: &Trace, domain: &str) -> Vec<String> {
    mail::notes(trace, "system")
        .filter(|n| {
            n.fields
                .get("domain")
                .is_some_and(|d| d.eq_ignore_ascii_case(domain))
        })
        .filter_map(|n| n.fields.get("id").cloned())
        .collect()
}

/// The final (or refusing) replies the gateway gave to `systems`' ordinary mail after `after`.
fn outcomes_after<'t>(
    trace: &'t Trace,
    systems: &[String],
    after: jiff::Timestamp,
) -> Vec<(
    &'t qaqpa_sim::trace::Observation,
    &'t qaqpa_sim::trace::SmtpReply,
)> {
    let gw = mail::gateway_ip(trace)
        .map(|g| format!("{g}:25"))
        .unwrap_or_default();
    mail::replies(trace)
        .filter(|(o, r)| {
            o.at > after
                && systems.contains(&r.client)
                && r.server == gw
                && r.flow_kind == "normal"
                && (mail::is_final(r) || r.code / 100 == 5)
        })
        .collect()
}

type Outcome<'t> = (&'t Observation, &'t SmtpReply);

/// For each `notice` that names a domain, after which the harness saw that domain's systems
/// talk to the gateway: `judge` gets the case, the domain, the SMTP replies seen after the
/// notice, and the evidence so far (the notice and what it `promise`s from then on).
fn judge_mail_after_notices<'t>(
    ctx: &OracleCtx<'_>,
    trace: &'t Trace,
    notice: DocKind,
    promise: impl Fn(&str) -> String,
    mut judge: impl FnMut(&str, &str, &[Outcome<'t>], Vec<Evidence>) -> CaseVerdict,
) -> Vec<CaseVerdict> {
    let mut cases = Vec::new();
    for (o, d) in trace.documents() {
        if d.doc != notice {
            continue;
        }
        let Some(domain) = d.fields.get("domain") else {
            continue;
        };
        let seen_after = outcomes_after(trace, &systems_of(trace, domain), o.at);
        if seen_after.is_empty() {
            continue;
        }
        let evidence = vec![
            seen(ctx, o, d),
            computed(ctx, o.at, &d.case, promise(domain)),
        ];
        cases.push(judge(&d.case, domain, &seen_after, evidence));
    }
    cases
}

/// ugem-9: within 5 working days the STS connects and notifies; once the connection notice
/// is out, the system's mail flows through UGEM.
pub struct ConnectedThenFlows {
    pub deadline: AnswerDeadline,
}

impl Oracle for ConnectedThenFlows {
    fn clause(&self) -> &'static str {
        self.deadline.clause
    }

    fn describe(&self) -> &'static str {
        "every mail system the STS connects is connected, and the applicant notified, within 5 working days of receipt; in mail episodes after the connection notice, the connected domain's ordinary mail is accepted by the gateway"
    }

    fn judge(&self, ctx: &OracleCtx<'_>, trace: &Trace) -> Judgement {
        let first = self.deadline.judge(ctx, trace);
        let cases = judge_mail_after_notices(
            ctx,
            trace,
            DocKind::ConnectionNotice,
            |domain| format!("from here on, mail of {domain} must flow through UGEM"),
            |case, domain, seen_after, mut evidence| {
                let accepted = seen_after
                    .iter()
                    .find(|(_, r)| mail::is_final(r) && r.code / 100 == 2);
                match accepted {
                    Some((ro, r)) => {
                        evidence.push(mail::reply_ev(ctx, ro, r));
                        CaseVerdict {
                            verdict: Verdict::Pass,
                            finding: format!(
                                "case {case}: mail of {domain} flows after the connection"
                            ),
                            evidence,
                        }
                    }
                    None => {
                        let (ro, r) = seen_after[0];
                        evidence.push(mail::reply_ev(ctx, ro, r));
                        CaseVerdict {
                            verdict: Verdict::Fail,
                            finding: format!(
                                "case {case}: connected on paper, but the gateway refuses mail of {domain} ({} {})",
                                r.code, r.text
                            ),
                            evidence,
                        }
                    }
                }
            },
        );
        if cases.is_empty() {
            return first;
        }
        merge(first, combine(self.clause(), cases))
    }
}

/// ugem-11: the STS disconnects a User that is no longer eligible within the period agreed
/// with it (the request's `agreed-working-days`, 5 when none is stated).
pub struct Disconnection;

impl Oracle for Disconnection {
    fn clause(&self) -> &'static str {
        "ugem-11"
    }

    fn describe(&self) -> &'static str {
        "every disconnection request of a User no longer eligible is answered with a disconnection notice within the agreed number of working days (5 when the request states none)"
    }

    fn judge(&self, ctx: &OracleCtx<'_>, trace: &Trace) -> Judgement {
        let docs: Vec<_> = trace.documents().collect();
        let mut cases = Vec::new();
        for (i, (o, req)) in docs.iter().enumerate() {
            if req.doc != DocKind::DisconnectionRequest {
                continue;
            }
            let case = &req.case;
            let agreed = req
                .fields
                .get("agreed-working-days")
                .and_then(|v| v.trim().parse::<u32>().ok())
                .unwrap_or(5);
            let mut evidence = vec![seen(ctx, o, req)];
            let deadline = match ctx.calendar.deadline_end(o.at, agreed) {
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
            evidence.push(computed(
                ctx,
                deadline,
                case,
                format!("agreed period: end of the {agreed}th working day after receipt"),
            ));
            let answer = answers_in_case(&docs, i, DocKind::DisconnectionRequest)
                .find(|(_, d)| d.doc == DocKind::DisconnectionNotice);
            cases.push(match answer {
                Some((a, d)) if a.at <= deadline => {
                    evidence.push(seen(ctx, a, d));
                    CaseVerdict {
                        verdict: Verdict::Pass,
                        finding: format!("case {case}: disconnected in time"),
                        evidence,
                    }
                }
                Some((a, d)) => {
                    evidence.push(seen(ctx, a, d));
                    CaseVerdict {
                        verdict: Verdict::Fail,
                        finding: format!(
                            "case {case}: disconnected after the agreed {agreed} working days"
                        ),
                        evidence,
                    }
                }
                None if ctx.end < deadline => CaseVerdict {
                    verdict: Verdict::NotTested,
                    finding: format!("case {case}: the scenario ended before the agreed period"),
                    evidence,
                },
                None => CaseVerdict {
                    verdict: Verdict::Fail,
                    finding: format!(
                        "case {case}: not disconnected within the agreed {agreed} working days"
                    ),
                    evidence,
                },
            });
        }
        let first = combine(self.clause(), cases);
        let net = judge_mail_after_notices(
            ctx,
            trace,
            DocKind::DisconnectionNotice,
            |domain| format!("from here on, UGEM relays nothing for {domain}"),
            |case, domain, seen_after, mut evidence| {
                let relayed: Vec<_> = seen_after
                    .iter()
                    .filter(|(_, r)| mail::is_final(r) && r.code / 100 == 2)
                    .collect();
                if relayed.is_empty() {
                    let (ro, r) = seen_after[0];
                    evidence.push(mail::reply_ev(ctx, ro, r));
                    CaseVerdict {
                        verdict: Verdict::Pass,
                        finding: format!(
                            "case {case}: mail of {domain} refused after the disconnection"
                        ),
                        evidence,
                    }
                } else {
                    for (ro, r) in relayed.iter().take(3) {
                        evidence.push(mail::reply_ev(ctx, ro, r));
                    }
                    CaseVerdict {
                        verdict: Verdict::Fail,
                        finding: format!(
                            "case {case}: disconnected on paper, but the gateway still relayed {} message(s) of {domain}",
                            relayed.len()
                        ),
                        evidence,
                    }
                }
            },
        );
        if net.is_empty() {
            return first;
        }
        merge(first, combine(self.clause(), net))
    }
}
