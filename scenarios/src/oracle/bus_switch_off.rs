//! eint-app7-5.7: a service whose technical errors of interaction are not fixed is switched off
//! by the operator, informing the participants. That the error is real and stays unfixed is
//! the harness's own knowledge: its provider answers faults (the world it laid out) and no
//! fix was reported in the case. Who the participants are comes from that world too (the
//! service's owner and every initiator connected to it), never from the operator's notice.

use qaqpa_reports::{Evidence, Judgement, Verdict};
use qaqpa_sim::clock;
use qaqpa_sim::trace::{DocKind, Document, Event, Observation, Trace};

use super::bus::{call_evidence, calls, doc_evidence, notes};
use super::{CaseVerdict, Oracle, OracleCtx, combine};

/// The harness's error reports about a service its world lays out with a faulty provider,
/// with no fix reported afterwards in the case: (report observation, report, service).
fn unfixed_reports(trace: &Trace) -> Vec<(&Observation, &Document, String)> {
    let faulty: Vec<String> = notes(trace, "bus-service")
        .filter(|f| f.get("faulty").map(String::as_str) == Some("true"))
        .filter_map(|f| f.get("service").cloned())
        .collect();
    let docs: Vec<_> = trace.documents().collect();
    docs.iter()
        .filter(|(o, d)| d.doc == DocKind::TechnicalErrorReport && o.probe.starts_with("inbox:"))
        .filter(|(_, d)| d.fields.get("fixed").is_none_or(|v| v.trim() != "yes"))
        .filter_map(|(o, d)| {
            let service = d.fields.get("service-id")?.clone();
            let fixed_later = docs.iter().any(|(fo, f)| {
                f.case == d.case
                    && f.doc == DocKind::TechnicalErrorReport
                    && fo.probe.starts_with("inbox:")
                    && fo.seq > o.seq
                    && f.fields.get("fixed").is_some_and(|v| v.trim() == "yes")
            });
            (faulty.contains(&service) && !fixed_later).then_some((*o, *d, service))
        })
        .collect()
}

/// The operator's switch-off notices in `case`: (observation, notice).
fn switch_offs<'t>(trace: &'t Trace, case: &str) -> Vec<(&'t Observation, &'t Document)> {
    trace
        .documents()
        .filter(|(_, d)| d.case == case && d.doc == DocKind::ServiceSwitchedOff)
        .collect()
}

/// `switched-off-after-unfixed-error`: from the first switch-off notice in the case of an
/// unfixed error the harness reported, no call to the service succeeds and nothing reaches
/// its provider.
pub struct SwitchedOff;

impl Oracle for SwitchedOff {
    fn clause(&self) -> &'static str {
        "eint-app7-5.7"
    }
    fn obligation(&self) -> &'static str {
        "switched-off-after-unfixed-error"
    }
    fn describe(&self) -> &'static str {
        "after the operator's first notice that it switched off a service whose technical error the harness reported and never fixed (its provider answers faults), every call to the service is refused and nothing reaches its provider; without a notice by the scenario's end it is not judged (the rules set no term)"
    }
    fn judge(&self, ctx: &OracleCtx<'_>, trace: &Trace) -> Judgement {
        let mut cases = Vec::new();
        for (ro, rd, service) in unfixed_reports(trace) {
            let Some((no, nd)) = switch_offs(trace, &rd.case).into_iter().next() else {
                cases.push(CaseVerdict {
                    verdict: Verdict::NotTested,
                    finding: format!(
                        "no switch-off of {service} was announced by the scenario's end"
                    ),
                    evidence: vec![doc_evidence(ctx, ro, rd)],
                });
                continue;
            };
            for (o, c) in calls(trace) {
                if c.service != service || c.sent < no.at {
                    continue;
                }
                // The provider's own fault comes back as a fault too: refused means the bus
                // kept the call from the provider.
                let reached = trace.observations().iter().any(|r| {
                    matches!(&r.event, Event::BusReceived(b)
                        if b.endpoint.starts_with("provider") && b.message_id == c.message_id && b.service == service)
                });
                let carried = c.outcome == "accepted" || reached;
                cases.push(CaseVerdict {
                    verdict: if carried {
                        Verdict::Fail
                    } else {
                        Verdict::Pass
                    },
                    finding: format!(
                        "call {} to switched-off {service} {}",
                        c.label,
                        if carried {
                            "was carried to the provider"
                        } else {
                            "was refused by the bus"
                        }
                    ),
                    evidence: vec![
                        doc_evidence(ctx, ro, rd),
                        doc_evidence(ctx, no, nd),
                        call_evidence(ctx, o, c),
                    ],
                });
            }
            for o in trace.observations() {
                if let Event::BusReceived(r) = &o.event
                    && r.endpoint.starts_with("provider")
                    && r.service == service
                    && o.at >= no.at
                {
                    cases.push(CaseVerdict {
                        verdict: Verdict::Fail,
                        finding: format!(
                            "a call from {} reached the provider of switched-off {service}",
                            r.sender
                        ),
                        evidence: vec![
                            doc_evidence(ctx, no, nd),
                            Evidence {
                                scenario: ctx.scenario.to_string(),
                                at: clock::display(o.at),
                                probe: o.probe.clone(),
                                subject: format!("service {service}"),
                                text: format!(
                                    "{} received {} from {}",
                                    r.system, r.operation, r.sender
                                ),
                                seq: Some(o.seq),
                            },
                        ],
                    });
                }
            }
        }
        combine("eint-app7-5.7", cases)
    }
}

/// `participants-informed`: when the operator switches a service off, its notice reaches
/// every participant of the service the harness's world knows: the owner and each initiator
/// connected to it.
pub struct SwitchOffAnnounced;

impl Oracle for SwitchOffAnnounced {
    fn clause(&self) -> &'static str {
        "eint-app7-5.7"
    }
    fn obligation(&self) -> &'static str {
        "participants-informed"
    }
    fn describe(&self) -> &'static str {
        "when the operator switches off a service over an error the harness reported, its switch-off notice reaches the service's owner and every initiator connected to it in the world the harness laid out"
    }
    fn judge(&self, ctx: &OracleCtx<'_>, trace: &Trace) -> Judgement {
        let mut cases = Vec::new();
        for (ro, rd, service) in unfixed_reports(trace) {
            let notices = switch_offs(trace, &rd.case);
            let Some(&(first, _)) = notices.first() else {
                continue;
            };
            let mut participants: Vec<String> = notes(trace, "bus-service")
                .filter(|f| f.get("service") == Some(&service))
                .filter_map(|f| f.get("owner").cloned())
                .collect();
            participants.extend(
                notes(trace, "bus-connection")
                    .filter(|f| f.get("service") == Some(&service))
                    .filter_map(|f| f.get("initiator").cloned()),
            );
            participants.sort();
            participants.dedup();
            for p in participants {
                let got = notices
                    .iter()
                    .find(|(o, d)| d.to == p && o.probe == format!("inbox:{p}"));
                let mut evidence = vec![doc_evidence(ctx, ro, rd)];
                let (verdict, finding) = match got {
                    Some((o, d)) => {
                        evidence.push(doc_evidence(ctx, o, d));
                        (
                            Verdict::Pass,
                            format!("{p} was told of the switch-off of {service}"),
                        )
                    }
                    None => {
                        evidence.push(doc_evidence(ctx, first, notices[0].1));
                        (
                            Verdict::Fail,
                            format!(
                                "{p}, a participant of {service}, was never told of its switch-off"
                            ),
                        )
                    }
                };
                cases.push(CaseVerdict {
                    verdict,
                    finding,
                    evidence,
                });
            }
        }
        combine("eint-app7-5.7", cases)
    }
}
