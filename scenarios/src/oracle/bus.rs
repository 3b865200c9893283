//! The bus's network obligations, judged by the harness's own SOAP clients and endpoints: what
//! a call got (a response, an ErrorInfo fault, nothing) and when, and what reached a provider.
//! Who a call is for and what it waits on comes from the harness's records (its test acts and
//! requests as sent, the world it laid out), never from what the bus says of itself; the
//! operator's notices only give the instant from which the rules oblige the bus.

use jiff::Timestamp;
use qaqpa_reports::{Evidence, Judgement, Verdict};
use qaqpa_sim::clock;
use qaqpa_sim::trace::{BusCall, DocKind, Document, Event, Observation, Trace};

use super::{CaseVerdict, Oracle, OracleCtx, combine};
use crate::interpreter::HARNESS;

pub(super) fn calls(trace: &Trace) -> Vec<(&Observation, &BusCall)> {
    trace
        .observations()
        .iter()
        .filter_map(|o| match &o.event {
            Event::BusCall(c) => Some((o, c)),
            _ => None,
        })
        .collect()
}

/// The harness's notes of the world of its bus episodes: `what` and each note's fields.
pub(super) fn notes<'t>(
    trace: &'t Trace,
    what: &'t str,
) -> impl Iterator<Item = &'t std::collections::BTreeMap<String, String>> {
    trace
        .observations()
        .iter()
        .filter_map(move |o| match &o.event {
            Event::Network(n) if o.probe == HARNESS && n.what == what => Some(&n.fields),
            _ => None,
        })
}

pub(super) fn call_evidence(ctx: &OracleCtx<'_>, o: &Observation, c: &BusCall) -> Evidence {
    let got = match c.outcome.as_str() {
        "accepted" => "accepted".to_string(),
        "fault" => format!(
            "refused with {} ({})",
            c.error_code.as_deref().unwrap_or("no errorCode"),
            c.error
        ),
        _ => format!("no answer ({})", c.error),
    };
    Evidence {
        scenario: ctx.scenario.to_string(),
        at: clock::display(o.at),
        probe: o.probe.clone(),
        subject: format!("call {}", c.label),
        text: format!(
            "{} called {} on the {} gateway ({}), sent {}: {got}",
            c.from,
            c.service,
            c.gateway,
            c.channel,
            clock::display(c.sent)
        ),
        seq: Some(o.seq),
    }
}

pub(super) fn doc_evidence(ctx: &OracleCtx<'_>, o: &Observation, d: &Document) -> Evidence {
    super::seen(ctx, o, d)
}

/// The operator's document of `kind` in `case`, the first one, with when it was observed.
pub(super) fn operator_doc<'t>(
    docs: &[(&'t Observation, &'t Document)],
    case: &str,
    kind: DocKind,
    to: &str,
) -> Option<(&'t Observation, &'t Document)> {
    docs.iter()
        .find(|(_, d)| d.case == case && d.doc == kind && d.to == to)
        .copied()
}

/// A call judged against an instant from which it must succeed (`must_succeed_from`) and
/// before which it must not (`refused_before`).
fn judge_call(
    ctx: &OracleCtx<'_>,
    o: &Observation,
    c: &BusCall,
    from: Option<(Timestamp, Evidence)>,
    refused_before: bool,
) -> Option<CaseVerdict> {
    let accepted = c.outcome == "accepted";
    let mut evidence = vec![call_evidence(ctx, o, c)];
    match from {
        Some((t, ev)) if c.sent >= t => {
            evidence.push(ev);
            Some(CaseVerdict {
                verdict: if accepted {
                    Verdict::Pass
                } else {
                    Verdict::Fail
                },
                finding: if accepted {
                    format!("call {} after the grant succeeded", c.label)
                } else {
                    format!("call {} after the grant did not succeed", c.label)
                },
                evidence,
            })
        }
        Some((t, ev)) if o.at < t && refused_before => {
            evidence.push(ev);
            Some(before(c, accepted, evidence))
        }
        None if refused_before => Some(before(c, accepted, evidence)),
        _ => None, // in flight at the grant: either is allowed
    }
}

/// Many calls judged alike (probes over a month): when none fails, one line says how many
/// passed (with the first one's evidence); otherwise the failing ones, each on its own.
pub(super) fn collapse(cases: Vec<CaseVerdict>, what: &str) -> Vec<CaseVerdict> {
    if cases.len() <= 3 || cases.iter().any(|c| c.verdict != Verdict::Pass) {
        return cases;
    }
    let n = cases.len();
    let mut first = cases.into_iter().next().expect("more than three");
    first.finding = format!("{n} {what}");
    vec![first]
}

fn before(c: &BusCall, accepted: bool, evidence: Vec<Evidence>) -> CaseVerdict {
    CaseVerdict {
        verdict: if accepted {
            Verdict::Fail
        } else {
            Verdict::Pass
        },
        finding: if accepted {
            format!("call {} before any grant succeeded", c.label)
        } else {
            format!("call {} before the grant was refused", c.label)
        },
        evidence,
    }
}

/// eint-27 and eint-45 `production-calls-succeed`: from the operator's grant of production
/// access on, the initiator's calls succeed, and not before.
pub struct ProductionCallsSucceed {
    pub clause: &'static str,
    pub obligation: &'static str,
    pub describe: &'static str,
    /// The harness's test act whose grant opens the calls: a publication act (the service's
    /// waiting initiators) or a connection act (its sender).
    pub act: DocKind,
}

impl Oracle for ProductionCallsSucceed {
    oracle_names!();

    fn judge(&self, ctx: &OracleCtx<'_>, trace: &Trace) -> Judgement {
        let docs: Vec<_> = trace.documents().collect();
        // The waiting connections the harness laid out: (initiator, service).
        let waiting: Vec<(String, String)> = notes(trace, "bus-connection")
            .filter(|f| f.get("granted").map(String::as_str) == Some("false"))
            .filter_map(|f| Some((f.get("initiator")?.clone(), f.get("service")?.clone())))
            .collect();
        let mut cases = Vec::new();
        for (ao, act) in docs
            .iter()
            .filter(|(o, d)| d.doc == self.act && o.probe != HARNESS)
        {
            // Only the harness's own acts, as sent (the desk's inbox saw them arrive).
            if !ao.probe.starts_with("inbox:") || act.to == act.from {
                continue;
            }
            let Some(service) = act
                .fields
                .get("service-key")
                .or(act.fields.get("service-id"))
            else {
                continue;
            };
            let grant = operator_doc(
                &docs,
                &act.case,
                DocKind::ProductionAccessGranted,
                &act.from,
            )
            .map(|(o, d)| (o.at, doc_evidence(ctx, o, d)));
            for (o, c) in calls(trace) {
                let ours = &c.service == service
                    && c.sent >= ao.at
                    && match self.act {
                        DocKind::ConnectionTestAct => c.from == act.from,
                        _ => waiting.iter().any(|(i, s)| i == &c.from && s == service),
                    };
                if !ours {
                    continue;
                }
                if let Some(v) = judge_call(ctx, o, c, grant.clone(), true) {
                    cases.push(v);
                }
            }
        }
        combine(self.clause, cases)
    }
}

/// eint-7 `removed-not-routable`: after the operator carried out a removal the harness asked
/// for, no call to the service succeeds, and nothing reaches its provider.
pub struct RemovedNotRoutable;

impl Oracle for RemovedNotRoutable {
    fn clause(&self) -> &'static str {
        "eint-7"
    }
    fn obligation(&self) -> &'static str {
        "removed-not-routable"
    }
    fn describe(&self) -> &'static str {
        "after the operator reports the removal of a service the harness asked to remove, every call to it is refused and no message reaches its provider"
    }
    fn judge(&self, ctx: &OracleCtx<'_>, trace: &Trace) -> Judgement {
        let docs: Vec<_> = trace.documents().collect();
        let mut cases = Vec::new();
        for (_, req) in docs.iter().filter(|(o, d)| {
            d.doc == DocKind::ServiceRemovalRequest && o.probe.starts_with("inbox:")
        }) {
            let Some(service) = req.fields.get("service-id") else {
                continue;
            };
            let Some((ro, rd)) =
                operator_doc(&docs, &req.case, DocKind::UpdateCompleted, &req.from)
            else {
                continue;
            };
            for (o, c) in calls(trace) {
                if &c.service != service || c.sent < ro.at {
                    continue;
                }
                let accepted = c.outcome == "accepted";
                cases.push(CaseVerdict {
                    verdict: if accepted {
                        Verdict::Fail
                    } else {
                        Verdict::Pass
                    },
                    finding: format!(
                        "call {} to removed service {service} {}",
                        c.label,
                        if accepted { "succeeded" } else { "was refused" }
                    ),
                    evidence: vec![doc_evidence(ctx, ro, rd), call_evidence(ctx, o, c)],
                });
            }
            for o in trace.observations() {
                if let Event::BusReceived(r) = &o.event
                    && r.endpoint == "provider"
                    && &r.service == service
                    && o.at >= ro.at
                {
                    cases.push(CaseVerdict {
                        verdict: Verdict::Fail,
                        finding: format!(
                            "a call from {} reached the provider of removed service {service}",
                            r.sender
                        ),
                        evidence: vec![
                            doc_evidence(ctx, ro, rd),
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
        combine("eint-7", cases)
    }
}

/// eint-7 `disconnected-initiator-refused`: after the operator reports the disconnection the
/// harness asked for, the initiator's calls to that service are refused.
pub struct DisconnectedRefused;

impl Oracle for DisconnectedRefused {
    fn clause(&self) -> &'static str {
        "eint-7"
    }
    fn obligation(&self) -> &'static str {
        "disconnected-initiator-refused"
    }
    fn describe(&self) -> &'static str {
        "after the operator reports the disconnection of an initiator the harness asked for, every call of that initiator to the service is refused"
    }
    fn judge(&self, ctx: &OracleCtx<'_>, trace: &Trace) -> Judgement {
        let docs: Vec<_> = trace.documents().collect();
        let mut cases = Vec::new();
        for (_, req) in docs.iter().filter(|(o, d)| {
            d.doc == DocKind::InitiatorDisconnectionRequest && o.probe.starts_with("inbox:")
        }) {
            let (Some(service), Some(initiator)) =
                (req.fields.get("service-id"), req.fields.get("initiator"))
            else {
                continue;
            };
            let Some((no, nd)) =
                operator_doc(&docs, &req.case, DocKind::DisconnectionNotice, &req.from)
            else {
                continue;
            };
            for (o, c) in calls(trace) {
                if &c.service != service || &c.from != initiator || c.sent < no.at {
                    continue;
                }
                let accepted = c.outcome == "accepted";
                cases.push(CaseVerdict {
                    verdict: if accepted {
                        Verdict::Fail
                    } else {
                        Verdict::Pass
                    },
                    finding: format!(
                        "call {} of disconnected {initiator} to {service} {}",
                        c.label,
                        if accepted { "succeeded" } else { "was refused" }
                    ),
                    evidence: vec![doc_evidence(ctx, no, nd), call_evidence(ctx, o, c)],
                });
            }
        }
        combine("eint-7", cases)
    }
}

/// eint-4: a non-state system's call that does not come through ЭҮСШ is refused.
pub struct NonStateOnlyViaExternal;

impl Oracle for NonStateOnlyViaExternal {
    fn clause(&self) -> &'static str {
        "eint-4"
    }
    fn obligation(&self) -> &'static str {
        "non-state-only-via-external-gateway"
    }
    fn describe(&self) -> &'static str {
        "every call a non-state system (as the harness laid it out) makes to the inner gateway (ЭҮШ) is refused"
    }
    fn judge(&self, ctx: &OracleCtx<'_>, trace: &Trace) -> Judgement {
        let non_state: Vec<&String> = notes(trace, "bus-system")
            .filter(|f| f.get("state").map(String::as_str) == Some("false"))
            .filter_map(|f| f.get("system"))
            .collect();
        let cases = calls(trace)
            .into_iter()
            .filter(|(_, c)| c.gateway == "inner" && non_state.contains(&&c.from))
            .map(|(o, c)| {
                let accepted = c.outcome == "accepted";
                CaseVerdict {
                    verdict: if accepted {
                        Verdict::Fail
                    } else {
                        Verdict::Pass
                    },
                    finding: format!(
                        "non-state {}'s call {} to the inner gateway {}",
                        c.from,
                        c.label,
                        if accepted {
                            "was relayed"
                        } else {
                            "was refused"
                        }
                    ),
                    evidence: vec![call_evidence(ctx, o, c)],
                }
            })
            .collect();
        combine("eint-4", cases)
    }
}

/// eint-app7-5.3: every message on the channel is answered within a minute, measured at the
/// harness's client from the request's sending to the answer's arrival.
pub struct AcceptedWithinAMinute {
    pub obligation: &'static str,
    pub describe: &'static str,
    pub channel: &'static str,
}

/// The bus's minute.
const ACCEPTANCE: jiff::SignedDuration = jiff::SignedDuration::from_secs(60);

impl Oracle for AcceptedWithinAMinute {
    fn clause(&self) -> &'static str {
        "eint-app7-5.3"
    }
    fn obligation(&self) -> &'static str {
        self.obligation
    }
    fn describe(&self) -> &'static str {
        self.describe
    }
    fn judge(&self, ctx: &OracleCtx<'_>, trace: &Trace) -> Judgement {
        let cases = calls(trace)
            .into_iter()
            .filter(|(_, c)| c.channel == self.channel)
            .map(|(o, c)| {
                let took = o.at.duration_since(c.sent);
                let answered = c.outcome != "no-answer";
                let ok = answered && took <= ACCEPTANCE;
                CaseVerdict {
                    verdict: if ok { Verdict::Pass } else { Verdict::Fail },
                    finding: if answered {
                        format!(
                            "call {} answered after {:.1} s",
                            c.label,
                            took.as_secs_f64()
                        )
                    } else {
                        format!(
                            "call {} got no answer ({:.1} s waited)",
                            c.label,
                            took.as_secs_f64()
                        )
                    },
                    evidence: vec![call_evidence(ctx, o, c)],
                }
            })
            .collect();
        combine(
            "eint-app7-5.3",
            collapse(
                cases,
                &format!(
                    "calls on the {} channel were all answered within 60 s",
                    self.channel
                ),
            ),
        )
    }
}

/// eint-65 `suspended-within-a-working-day`: from the end of the first working day after a
/// revocation (the harness's own notice) reached the operator, no call from the system or to
/// a service it owns succeeds, and nothing reaches its endpoints.
pub struct SuspendedWithinAWorkingDay;

/// The systems whose test acts the harness revoked: (system, receipt, deadline, evidence).
fn revocations<'t>(
    ctx: &OracleCtx<'_>,
    trace: &'t Trace,
) -> Vec<(String, &'t Observation, &'t Document, Option<Timestamp>)> {
    trace
        .documents()
        .filter(|(o, d)| d.doc == DocKind::TestActRevocation && o.probe.starts_with("inbox:"))
        .filter_map(|(o, d)| {
            let system = d.fields.get("system")?.clone();
            Some((system, o, d, ctx.calendar.deadline_end(o.at, 1).ok()))
        })
        .collect()
}

impl Oracle for SuspendedWithinAWorkingDay {
    fn clause(&self) -> &'static str {
        "eint-65"
    }
    fn obligation(&self) -> &'static str {
        "suspended-within-a-working-day"
    }
    fn describe(&self) -> &'static str {
        "after the end of the first working day following the revocation of a system's test act, every call from that system or to a service it owns is refused, and nothing reaches its endpoints"
    }
    fn judge(&self, ctx: &OracleCtx<'_>, trace: &Trace) -> Judgement {
        let owned: Vec<(String, String)> = notes(trace, "bus-service")
            .filter_map(|f| Some((f.get("service")?.clone(), f.get("owner")?.clone())))
            .collect();
        let mut cases = Vec::new();
        for (system, ro, rd, deadline) in revocations(ctx, trace) {
            let Some(deadline) = deadline else {
                cases.push(CaseVerdict {
                    verdict: Verdict::NotTested,
                    finding: format!("the calendar has no data for the revocation of {system}"),
                    evidence: vec![doc_evidence(ctx, ro, rd)],
                });
                continue;
            };
            let term = Evidence {
                scenario: ctx.scenario.to_string(),
                at: clock::display(deadline),
                probe: "oracle".into(),
                subject: format!("system {system}"),
                text: format!(
                    "the suspension of {system} is due by the end of the first working day after the revocation reached the operator"
                ),
                seq: None,
            };
            for (o, c) in calls(trace) {
                let to_it = owned.iter().any(|(s, w)| s == &c.service && w == &system);
                if c.sent <= deadline || !(c.from == system || to_it) {
                    continue;
                }
                let accepted = c.outcome == "accepted";
                cases.push(CaseVerdict {
                    verdict: if accepted {
                        Verdict::Fail
                    } else {
                        Verdict::Pass
                    },
                    finding: format!(
                        "call {} {} {system} after the term {}",
                        c.label,
                        if c.from == system { "from" } else { "to" },
                        if accepted { "succeeded" } else { "was refused" }
                    ),
                    evidence: vec![
                        doc_evidence(ctx, ro, rd),
                        term.clone(),
                        call_evidence(ctx, o, c),
                    ],
                });
            }
            for o in trace.observations() {
                if let Event::BusReceived(r) = &o.event
                    && o.at > deadline
                    && (r.system == system || r.sender == system)
                {
                    cases.push(CaseVerdict {
                        verdict: Verdict::Fail,
                        finding: format!(
                            "a message of suspended {system} was carried after the term"
                        ),
                        evidence: vec![
                            doc_evidence(ctx, ro, rd),
                            term.clone(),
                            Evidence {
                                scenario: ctx.scenario.to_string(),
                                at: clock::display(o.at),
                                probe: o.probe.clone(),
                                subject: format!("system {system}"),
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
        combine("eint-65", cases)
    }
}

/// eint-65 `parties-informed`: the operator tells the parties of the suspension, by the same
/// term (the requester of the revocation, here).
pub struct SuspensionAnnounced;

impl Oracle for SuspensionAnnounced {
    fn clause(&self) -> &'static str {
        "eint-65"
    }
    fn obligation(&self) -> &'static str {
        "parties-informed"
    }
    fn describe(&self) -> &'static str {
        "after a revocation the harness sent, the operator's suspension notice reaches the requester by the end of the first working day after receipt"
    }
    fn judge(&self, ctx: &OracleCtx<'_>, trace: &Trace) -> Judgement {
        let docs: Vec<_> = trace.documents().collect();
        let mut cases = Vec::new();
        for (system, ro, rd, deadline) in revocations(ctx, trace) {
            let Some(deadline) = deadline else {
                continue;
            };
            let notice = operator_doc(&docs, &rd.case, DocKind::SuspensionNotice, &rd.from);
            let mut evidence = vec![doc_evidence(ctx, ro, rd)];
            let (verdict, finding) = match notice {
                Some((no, nd)) if no.at <= deadline => {
                    evidence.push(doc_evidence(ctx, no, nd));
                    (
                        Verdict::Pass,
                        format!("the suspension of {system} was announced in time"),
                    )
                }
                Some((no, nd)) => {
                    evidence.push(doc_evidence(ctx, no, nd));
                    (
                        Verdict::Fail,
                        format!("the suspension of {system} was announced late"),
                    )
                }
                None if ctx.end > deadline => (
                    Verdict::Fail,
                    format!("the suspension of {system} was never announced"),
                ),
                None => (
                    Verdict::NotTested,
                    format!(
                        "the scenario ends before the term for announcing the suspension of {system}"
                    ),
                ),
            };
            cases.push(CaseVerdict {
                verdict,
                finding,
                evidence,
            });
        }
        combine("eint-65", cases)
    }
}

/// The harness's availability agreements: (service, set index, period start, period end, the
/// document and its observation).
fn agreements<'t>(
    trace: &'t Trace,
) -> Vec<(
    String,
    Option<f64>,
    Timestamp,
    Timestamp,
    &'t Observation,
    &'t Document,
)> {
    trace
        .documents()
        .filter(|(o, d)| d.doc == DocKind::AvailabilityAgreement && o.probe.starts_with("inbox:"))
        .filter_map(|(o, d)| {
            let date = |k: &str| d.fields.get(k)?.parse::<jiff::civil::Date>().ok();
            let from =
                clock::instant(date("period-start")?.to_datetime(jiff::civil::Time::midnight()))
                    .ok()?;
            let until = clock::end_of_day(date("period-end")?).ok()?;
            let set = d
                .fields
                .get("availability-index")
                .and_then(|v| v.trim().trim_end_matches('%').parse().ok());
            Some((d.fields.get("service-id")?.clone(), set, from, until, o, d))
        })
        .collect()
}

/// The index the harness observed for `service` over `[from, until]`: each probe stands for
/// the time until the next one (the last until `until`); a probe not accepted counts its
/// span as unavailable. Returns (index, resolution in percentage points, probes) or `None`
/// without probes.
fn observed(
    trace: &Trace,
    service: &str,
    from: Timestamp,
    until: Timestamp,
) -> Option<(f64, f64, usize)> {
    let probes: Vec<(Timestamp, bool)> = calls(trace)
        .into_iter()
        .filter(|(_, c)| c.service == service && c.sent >= from && c.sent <= until)
        .map(|(_, c)| (c.sent, c.outcome == "accepted"))
        .collect();
    let first = probes.first()?.0;
    let total = until.duration_since(from).as_secs_f64();
    let mut down = 0.0;
    let mut widest: f64 = first.duration_since(from).as_secs_f64();
    for (i, (t, ok)) in probes.iter().enumerate() {
        let next = probes.get(i + 1).map_or(until, |p| p.0);
        let span = next.duration_since(*t).as_secs_f64();
        widest = widest.max(span);
        if !ok {
            down += span;
        }
    }
    // Time before the first probe is unknown: counted as available, and in the resolution.
    Some((
        (total - down) / total * 100.0,
        widest / total * 100.0,
        probes.len(),
    ))
}

/// The operator's published index in the agreement's case.
fn published<'t>(
    trace: &'t Trace,
    case: &str,
    to: &str,
) -> Option<(&'t Observation, &'t Document, f64)> {
    trace.documents().find_map(|(o, d)| {
        (d.case == case && d.doc == DocKind::AvailabilityReport && d.to == to)
            .then(|| {
                d.fields
                    .get("index")?
                    .trim()
                    .trim_end_matches('%')
                    .parse()
                    .ok()
                    .map(|v| (o, d, v))
            })
            .flatten()
    })
}

/// eint-app7-7: the published index is not better than (T − P) / T × 100 % as the harness's
/// probes observed it, within the probes' resolution.
pub struct IndexByFormula;

impl Oracle for IndexByFormula {
    fn clause(&self) -> &'static str {
        "eint-app7-7"
    }
    fn obligation(&self) -> &'static str {
        "index-computed-by-formula"
    }
    fn describe(&self) -> &'static str {
        "the index the operator publishes for a period of an availability agreement is not higher than (T − P) / T × 100 % computed from the harness's own probes of the service (a probe not accepted counts the time to the next probe as unavailable), within one probe interval"
    }
    fn judge(&self, ctx: &OracleCtx<'_>, trace: &Trace) -> Judgement {
        let mut cases = Vec::new();
        for (service, _, from, until, ao, ad) in agreements(trace) {
            let Some((index, resolution, n)) = observed(trace, &service, from, until) else {
                continue;
            };
            let Some((po, pd, value)) = published(trace, &ad.case, &ad.from) else {
                if ctx.end > until {
                    cases.push(CaseVerdict {
                        verdict: Verdict::Fail,
                        finding: format!("no index was published for {service}"),
                        evidence: vec![doc_evidence(ctx, ao, ad)],
                    });
                }
                continue;
            };
            let ok = value <= index + resolution;
            cases.push(CaseVerdict {
                verdict: if ok { Verdict::Pass } else { Verdict::Fail },
                finding: format!(
                    "{service}: published {value:.2} %, observed {index:.2} % from {n} probes (± {resolution:.2})"
                ),
                evidence: vec![doc_evidence(ctx, ao, ad), doc_evidence(ctx, po, pd)],
            });
        }
        combine("eint-app7-7", cases)
    }
}

/// eint-app7-1: the index observed over the agreement's period is at least the index it set.
pub struct IndexKept;

impl Oracle for IndexKept {
    fn clause(&self) -> &'static str {
        "eint-app7-1"
    }
    fn obligation(&self) -> &'static str {
        "index-kept"
    }
    fn describe(&self) -> &'static str {
        "the availability index the harness's probes observe over an agreement's period is at least the index the agreement set, within one probe interval"
    }
    fn judge(&self, ctx: &OracleCtx<'_>, trace: &Trace) -> Judgement {
        let mut cases = Vec::new();
        for (service, set, from, until, ao, ad) in agreements(trace) {
            let (Some(set), Some((index, resolution, n))) =
                (set, observed(trace, &service, from, until))
            else {
                continue;
            };
            let ok = index + resolution >= set;
            let last = calls(trace)
                .into_iter()
                .filter(|(_, c)| c.service == service && c.sent <= until)
                .last();
            let mut evidence = vec![doc_evidence(ctx, ao, ad)];
            if let Some((o, c)) = last {
                evidence.push(call_evidence(ctx, o, c));
            }
            cases.push(CaseVerdict {
                verdict: if ok { Verdict::Pass } else { Verdict::Fail },
                finding: format!("{service}: observed {index:.2} % from {n} probes (± {resolution:.2}) against {set:.2} % set"),
                evidence,
            });
        }
        combine("eint-app7-1", cases)
    }
}

/// The breaks the operator announced: (start, end, observation, notice).
pub(super) fn breaks(trace: &Trace) -> Vec<(Timestamp, Timestamp, &Observation, &Document)> {
    trace
        .documents()
        .filter(|(_, d)| d.doc == DocKind::MaintenanceNotice)
        .filter_map(|(o, d)| {
            let t = |k: &str| d.fields.get(k)?.parse::<Timestamp>().ok();
            Some((t("start")?, t("end")?, o, d))
        })
        .collect()
}

/// Whether a break's notice came at least 3 working days before its start (the day of the
/// notice is day 0, the break's day at least day 3).
fn agreed_in_advance(ctx: &OracleCtx<'_>, notice: Timestamp, start: Timestamp) -> bool {
    ctx.calendar
        .add_working_days(clock::local(notice).date(), 3)
        .is_ok_and(|d| d <= clock::local(start).date())
}

/// Whether `[start, end]` lies in the default hours: 21:00–06:00, or a non-working day.
fn default_hours(ctx: &OracleCtx<'_>, start: Timestamp, end: Timestamp) -> bool {
    let mut t = start;
    while t < end {
        let l = clock::local(t);
        let night = l.hour() >= 21 || l.hour() < 6;
        let off = !ctx.calendar.is_working_day(l.date()).unwrap_or(true);
        if !(night || off) {
            return false;
        }
        t = match t.checked_add(jiff::SignedDuration::from_mins(15)) {
            Ok(n) => n,
            Err(_) => break,
        };
    }
    true
}

/// eint-app7-5.4 `breaks-agreed-in-advance`.
pub struct BreaksAgreedInAdvance;

impl Oracle for BreaksAgreedInAdvance {
    fn clause(&self) -> &'static str {
        "eint-app7-5.4"
    }
    fn obligation(&self) -> &'static str {
        "breaks-agreed-in-advance"
    }
    fn describe(&self) -> &'static str {
        "every technological break the operator announces reaches the parties at least 3 working days before it starts; one outside 21:00–06:00 and working days is a warning (the default the rules set, unless agreed otherwise)"
    }
    fn judge(&self, ctx: &OracleCtx<'_>, trace: &Trace) -> Judgement {
        let cases = breaks(trace)
            .into_iter()
            .map(|(start, end, o, d)| {
                let ahead = agreed_in_advance(ctx, o.at, start);
                let night = default_hours(ctx, start, end);
                let (verdict, finding) = match (ahead, night) {
                    (false, _) => (
                        Verdict::Fail,
                        format!(
                            "the break from {} was announced less than 3 working days ahead",
                            clock::display(start)
                        ),
                    ),
                    (true, false) => (
                        Verdict::Warning,
                        format!(
                            "the break from {} falls outside the default hours",
                            clock::display(start)
                        ),
                    ),
                    (true, true) => (
                        Verdict::Pass,
                        format!(
                            "the break from {} was announced in time, at night or on a day off",
                            clock::display(start)
                        ),
                    ),
                };
                CaseVerdict {
                    verdict,
                    finding,
                    evidence: vec![doc_evidence(ctx, o, d)],
                }
            })
            .collect();
        combine("eint-app7-5.4", cases)
    }
}

/// eint-app7-5.4 `other-outage-unavailable` and eint-app7-5.2: outside the breaks agreed in
/// advance, the bus accepts the harness's probes; one it does not accept there is
/// unavailability the rules do not allow.
pub struct NoOutageOutsideBreaks {
    pub clause: &'static str,
    pub obligation: &'static str,
    pub describe: &'static str,
}

impl Oracle for NoOutageOutsideBreaks {
    oracle_names!();

    fn judge(&self, ctx: &OracleCtx<'_>, trace: &Trace) -> Judgement {
        let agreed: Vec<(Timestamp, Timestamp)> = breaks(trace)
            .into_iter()
            .filter(|(s, _, o, _)| agreed_in_advance(ctx, o.at, *s))
            .map(|(s, e, _, _)| (s, e))
            .collect();
        let mut cases = Vec::new();
        for (service, _, from, until, ao, ad) in agreements(trace) {
            for (o, c) in calls(trace) {
                if c.service != service || c.sent < from || c.sent > until {
                    continue;
                }
                if agreed.iter().any(|(s, e)| c.sent >= *s && c.sent < *e) {
                    continue;
                }
                let ok = c.outcome == "accepted";
                cases.push(CaseVerdict {
                    verdict: if ok { Verdict::Pass } else { Verdict::Fail },
                    finding: if ok {
                        format!("{service}: every probe outside the agreed breaks was accepted")
                    } else {
                        format!(
                            "{service}: probe {} sent {} outside any agreed break was not accepted",
                            c.label,
                            clock::display(c.sent)
                        )
                    },
                    evidence: vec![doc_evidence(ctx, ao, ad), call_evidence(ctx, o, c)],
                });
            }
        }
        combine(
            self.clause,
            collapse(cases, "probes outside the agreed breaks were all accepted"),
        )
    }
}

/// eint-app7-6.5: a call to a personal-data service without the subject's consent (as the
/// harness's consent service holds it) is refused.
pub struct ConsentRequired;

impl Oracle for ConsentRequired {
    fn clause(&self) -> &'static str {
        "eint-app7-6.5"
    }
    fn obligation(&self) -> &'static str {
        "consent-required"
    }
    fn describe(&self) -> &'static str {
        "every call to a service the harness laid out as carrying personal data, whose subject gave the caller no consent in the harness's consent service (or that names no subject), is refused"
    }
    fn judge(&self, ctx: &OracleCtx<'_>, trace: &Trace) -> Judgement {
        let personal: Vec<String> = notes(trace, "bus-service")
            .filter(|f| f.get("personal-data").map(String::as_str) == Some("true"))
            .filter_map(|f| f.get("service").cloned())
            .collect();
        let consents: Vec<(String, String, String)> = notes(trace, "bus-consent")
            .filter_map(|f| {
                Some((
                    f.get("subject")?.clone(),
                    f.get("service")?.clone(),
                    f.get("initiator")?.clone(),
                ))
            })
            .collect();
        let cases = calls(trace)
            .into_iter()
            .filter(|(_, c)| personal.contains(&c.service))
            .filter(|(_, c)| {
                !c.subject.as_ref().is_some_and(|s| {
                    consents
                        .iter()
                        .any(|k| &k.0 == s && k.1 == c.service && k.2 == c.from)
                })
            })
            .map(|(o, c)| {
                let accepted = c.outcome == "accepted";
                CaseVerdict {
                    verdict: if accepted {
                        Verdict::Fail
                    } else {
                        Verdict::Pass
                    },
                    finding: format!(
                        "call {} to {} without the subject's consent {}",
                        c.label,
                        c.service,
                        if accepted {
                            "was relayed"
                        } else {
                            "was refused"
                        }
                    ),
                    evidence: vec![call_evidence(ctx, o, c)],
                }
            })
            .collect();
        combine("eint-app7-6.5", cases)
    }
}
