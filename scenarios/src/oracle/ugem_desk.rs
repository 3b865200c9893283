//! The UGEM desk's obligations beyond deadlines and forms: no early resubmission processed
//! (ugem-10), a connection that lets mail flow (ugem-9), and a disconnection in the agreed
//! period after which nothing is relayed (ugem-11).
//!
//! Which domain a connection or a disconnection concerns comes from the harness's own
//! application or request in the case, never from the desk's notice: a notice that leaves the
//! domain out, or names another, changes nothing of what is judged.

use jiff::Timestamp;
use qaqpa_reports::Evidence;
use qaqpa_reports::{Judgement, Verdict};
use qaqpa_sim::trace::{DocKind, Document, Observation, SmtpReply, Trace};

use super::{
    AGREED_WORKING_DAYS, CaseVerdict, Oracle, OracleCtx, answers_in_case, combine, computed,
    early_resubmission, judge_applications, mail, seen,
};

/// "The User may resubmit after 30 calendar days" (ugem-10, ugia-17, ugia-18): an application
/// resubmitted less than 30 calendar days after the applicant's rejection is not granted.
pub struct ResubmissionWait {
    pub clause: &'static str,
    pub obligation: &'static str,
    pub application: DocKind,
    pub grant: DocKind,
}

impl Oracle for ResubmissionWait {
    fn clause(&self) -> &'static str {
        self.clause
    }

    fn obligation(&self) -> &'static str {
        self.obligation
    }

    fn describe(&self) -> &'static str {
        "an application resubmitted less than 30 calendar days after the applicant's rejection is not granted"
    }

    fn judge(&self, ctx: &OracleCtx<'_>, trace: &Trace) -> Judgement {
        let docs: Vec<_> = trace.documents().collect();
        let mut cases = Vec::new();
        for (i, (o, app)) in docs.iter().enumerate() {
            if app.doc != self.application {
                continue;
            }
            let Some(early) = early_resubmission(&docs, i) else {
                continue;
            };
            let (ro, rd) = early.rejection;
            let since = early.since;
            let allowed = match early.allowed {
                Some(d) => d.to_string(),
                None => format!("{since} + 30 days"),
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
            let first = answers_in_case(&docs, i, self.application).next();
            cases.push(match first {
                Some((a, d)) if d.doc == self.grant => {
                    evidence.push(seen(ctx, a, d));
                    CaseVerdict {
                        verdict: Verdict::Fail,
                        finding: format!(
                            "case {case}: resubmitted before {allowed} and granted ({})",
                            d.doc.as_str()
                        ),
                        evidence,
                    }
                }
                Some((a, d)) => {
                    evidence.push(seen(ctx, a, d));
                    CaseVerdict {
                        verdict: Verdict::Pass,
                        finding: format!("case {case}: early resubmission not granted"),
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
        combine(self.clause, cases)
    }
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

type Outcome<'t> = (&'t Observation, &'t SmtpReply);

/// The final (or refusing) replies the gateway gave to `systems`' ordinary mail after `after`.
fn outcomes_after<'t>(trace: &'t Trace, systems: &[String], after: Timestamp) -> Vec<Outcome<'t>> {
    let gw = mail::gateway_ip(trace)
        .map(|g| mail::gateway_listener(trace, &g))
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

/// The domain the harness's own document in a case names.
fn harness_domain(d: &Document) -> Option<&str> {
    d.fields
        .get("domain")
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
}

/// ugem-9, on the network: once the connection notice is out, the domain the harness applied
/// for has its ordinary mail accepted by the gateway.
pub struct MailFlowsAfterConnection;

impl Oracle for MailFlowsAfterConnection {
    fn clause(&self) -> &'static str {
        "ugem-9"
    }

    fn obligation(&self) -> &'static str {
        "mail-flows-after-notice"
    }

    fn describe(&self) -> &'static str {
        "in mail episodes after the connection notice, the ordinary mail of the domain the application named is accepted by the gateway"
    }

    fn judge(&self, ctx: &OracleCtx<'_>, trace: &Trace) -> Judgement {
        judge_applications(
            self.clause(),
            trace,
            &[DocKind::MailConnectionApplication],
            |docs, i, o, app| {
                let case = &app.case;
                let mut evidence = vec![seen(ctx, o, app)];
                let notice = answers_in_case(docs, i, app.doc)
                    .find(|(_, d)| d.doc == DocKind::ConnectionNotice);
                let (Some(domain), Some((no, nd))) = (harness_domain(app), notice) else {
                    return CaseVerdict {
                        verdict: Verdict::NotTested,
                        finding: format!("case {case}: not connected, or no domain applied for"),
                        evidence,
                    };
                };
                evidence.push(seen(ctx, no, nd));
                let after = outcomes_after(trace, &systems_of(trace, domain), no.at);
                if after.is_empty() {
                    return CaseVerdict {
                        verdict: Verdict::NotTested,
                        finding: format!(
                            "case {case}: no mail of {domain} after the connection notice"
                        ),
                        evidence,
                    };
                }
                evidence.push(computed(
                    ctx,
                    no.at,
                    case,
                    format!("from here on, mail of {domain} must flow through UGEM"),
                ));
                match after
                    .iter()
                    .find(|(_, r)| mail::is_final(r) && r.code / 100 == 2)
                {
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
                        let (ro, r) = after[0];
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
        )
    }
}

/// The agreed period of a disconnection request: its `agreed-working-days`, else the default.
fn agreed_days(req: &Document) -> u32 {
    req.fields
        .get("agreed-working-days")
        .and_then(|v| v.trim().parse::<u32>().ok())
        .unwrap_or(AGREED_WORKING_DAYS)
}

/// ugem-11, on paper: the disconnection notice within the agreed period.
pub struct DisconnectedInTime;

impl Oracle for DisconnectedInTime {
    fn clause(&self) -> &'static str {
        "ugem-11"
    }

    fn obligation(&self) -> &'static str {
        "disconnected-in-time"
    }

    fn describe(&self) -> &'static str {
        "every disconnection request of a User no longer eligible is answered with a disconnection notice within the agreed number of working days (5 when the request states none)"
    }

    fn judge(&self, ctx: &OracleCtx<'_>, trace: &Trace) -> Judgement {
        judge_applications(
            self.clause(),
            trace,
            &[DocKind::DisconnectionRequest],
            |docs, i, o, req| {
                let case = &req.case;
                let agreed = agreed_days(req);
                let mut evidence = vec![seen(ctx, o, req)];
                let deadline = match ctx.calendar.deadline_end(o.at, agreed) {
                    Ok(d) => d,
                    Err(e) => {
                        return CaseVerdict {
                            verdict: Verdict::NotTested,
                            finding: format!("case {case}: cannot compute the deadline: {e}"),
                            evidence,
                        };
                    }
                };
                evidence.push(computed(
                    ctx,
                    deadline,
                    case,
                    format!("agreed period: end of the {agreed}th working day after receipt"),
                ));
                let answer = answers_in_case(docs, i, DocKind::DisconnectionRequest)
                    .find(|(_, d)| d.doc == DocKind::DisconnectionNotice);
                match answer {
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
                        finding: format!(
                            "case {case}: the scenario ended before the agreed period"
                        ),
                        evidence,
                    },
                    None => CaseVerdict {
                        verdict: Verdict::Fail,
                        finding: format!(
                            "case {case}: not disconnected within the agreed {agreed} working days"
                        ),
                        evidence,
                    },
                }
            },
        )
    }
}

/// ugem-11, on the network: from the disconnection notice, or the end of the agreed period if
/// that comes first, the gateway relays nothing for the domain the harness's request named.
pub struct NothingRelayedAfterDisconnection;

impl Oracle for NothingRelayedAfterDisconnection {
    fn clause(&self) -> &'static str {
        "ugem-11"
    }

    fn obligation(&self) -> &'static str {
        "nothing-relayed-after"
    }

    fn describe(&self) -> &'static str {
        "in mail episodes after the disconnection notice (or after the agreed period, if that ends first), the gateway accepts no ordinary mail of the domain the request named"
    }

    fn judge(&self, ctx: &OracleCtx<'_>, trace: &Trace) -> Judgement {
        judge_applications(
            self.clause(),
            trace,
            &[DocKind::DisconnectionRequest],
            |docs, i, o, req| {
                let case = &req.case;
                let mut evidence: Vec<Evidence> = vec![seen(ctx, o, req)];
                let Some(domain) = harness_domain(req) else {
                    return CaseVerdict {
                        verdict: Verdict::NotTested,
                        finding: format!("case {case}: the request names no domain"),
                        evidence,
                    };
                };
                let notice = answers_in_case(docs, i, req.doc)
                    .find(|(_, d)| d.doc == DocKind::DisconnectionNotice);
                let deadline = ctx.calendar.deadline_end(o.at, agreed_days(req)).ok();
                let from = match (notice.map(|(no, _)| no.at), deadline) {
                    (Some(n), Some(d)) => n.min(d),
                    (Some(n), None) => n,
                    (None, Some(d)) => d,
                    (None, None) => {
                        return CaseVerdict {
                            verdict: Verdict::NotTested,
                            finding: format!("case {case}: no notice and no computable period"),
                            evidence,
                        };
                    }
                };
                if let Some((no, nd)) = notice {
                    evidence.push(seen(ctx, no, nd));
                }
                let after = outcomes_after(trace, &systems_of(trace, domain), from);
                if after.is_empty() {
                    return CaseVerdict {
                        verdict: Verdict::NotTested,
                        finding: format!(
                            "case {case}: no mail of {domain} after the disconnection"
                        ),
                        evidence,
                    };
                }
                evidence.push(computed(
                    ctx,
                    from,
                    case,
                    format!("from here on, UGEM relays nothing for {domain}"),
                ));
                let relayed: Vec<_> = after
                    .iter()
                    .filter(|(_, r)| mail::is_final(r) && r.code / 100 == 2)
                    .collect();
                if relayed.is_empty() {
                    let (ro, r) = after[0];
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
                            "case {case}: disconnected, but the gateway still relayed {} message(s) of {domain}",
                            relayed.len()
                        ),
                        evidence,
                    }
                }
            },
        )
    }
}
