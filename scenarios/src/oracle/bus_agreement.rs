//! The Appendix 7 agreement's obligations on running services (eint-app7-5.1, 5.6), judged by
//! the harness's own SOAP probes: which calls the bus had to carry comes from the world the
//! harness laid out (its systems, services, connections and providers), when works were
//! declared from the operator's notices as the harness's parties received them, and whether a
//! call was carried from what the harness's client got back.

use jiff::Timestamp;
use qaqpa_reports::{Evidence, Judgement, Verdict};
use qaqpa_sim::calendar::DayReason;
use qaqpa_sim::clock;
use qaqpa_sim::trace::{BusCall, DocKind, Observation, Trace};

use super::bus::{breaks, call_evidence, calls, collapse, doc_evidence, notes};
use super::{CaseVerdict, Oracle, OracleCtx, combine};

/// How long a provider the harness laid out may take and still count as sound: the bus has
/// its minute, and gives a provider 50 s of it.
pub(super) const SOUND_PROVIDER_SECONDS: f64 = 40.0;

/// The calls the bus had to carry, as the harness laid out their world: the sender is one of
/// its systems calling through the gateway its kind allows (a non-state system through ЭҮСШ
/// only), the service is registered, published on that gateway, of the call's channel, without
/// personal data (consent is eint-app7-6.5's matter), with a sound provider (no fault, an
/// answer well within the minute), the connection was granted, and no test act of a party was
/// revoked in the scenario.
pub(super) fn carried_calls(trace: &Trace) -> Vec<(&Observation, &BusCall)> {
    let revoked: Vec<String> = trace
        .documents()
        .filter(|(o, d)| d.doc == DocKind::TestActRevocation && o.probe.starts_with("inbox:"))
        .filter_map(|(_, d)| d.fields.get("system").cloned())
        .collect();
    calls(trace)
        .into_iter()
        .filter(|(_, c)| {
            let system_ok = notes(trace, "bus-system").any(|f| {
                f.get("system") == Some(&c.from)
                    && (f.get("state").map(String::as_str) == Some("true")
                        || c.gateway == "external")
            });
            let service =
                notes(trace, "bus-service").find(|f| f.get("service") == Some(&c.service));
            let service_ok = service.is_some_and(|f| {
                let is = |k: &str, v: &str| f.get(k).map(String::as_str) == Some(v);
                is("registered", "true")
                    && is("faulty", "false")
                    && is("personal-data", "false")
                    && is("mode", &c.channel)
                    && f.get("published")
                        .is_some_and(|p| p.split(' ').any(|g| g == c.gateway))
                    && f.get("delay-seconds")
                        .and_then(|d| d.parse::<f64>().ok())
                        .is_some_and(|d| d <= SOUND_PROVIDER_SECONDS)
                    && f.get("owner").is_none_or(|o| !revoked.contains(o))
            });
            let connected = notes(trace, "bus-connection").any(|f| {
                f.get("initiator") == Some(&c.from)
                    && f.get("service") == Some(&c.service)
                    && f.get("granted").map(String::as_str) == Some("true")
            });
            system_ok && service_ok && connected && !revoked.contains(&c.from)
        })
        .collect()
}

/// The works the operator declared, as the harness's parties received the notices: (start,
/// end, when the notice was observed, its evidence).
fn declared(
    ctx: &OracleCtx<'_>,
    trace: &Trace,
) -> Vec<(Timestamp, Timestamp, Timestamp, Evidence)> {
    breaks(trace)
        .into_iter()
        .map(|(s, e, o, d)| (s, e, o.at, doc_evidence(ctx, o, d)))
        .collect()
}

/// eint-app7-5.1 `messages-accepted-24-7`: outside the works the operator declared, every
/// call the bus had to carry is carried, at night, on weekends and on public holidays as on a
/// working afternoon; a run whose probes do not reach all of these says which it missed.
pub struct AcceptedAroundTheClock;

impl Oracle for AcceptedAroundTheClock {
    fn clause(&self) -> &'static str {
        "eint-app7-5.1"
    }
    fn obligation(&self) -> &'static str {
        "messages-accepted-24-7"
    }
    fn describe(&self) -> &'static str {
        "every call the harness's world makes routable (its system through the gateway its kind allows, a registered service published there, a granted connection, a sound provider), sent outside every span of works an operator's notice declared, is accepted; the probes must include a night (21:00–06:00), a weekend and a public holiday, or the missing part is not-tested"
    }
    fn judge(&self, ctx: &OracleCtx<'_>, trace: &Trace) -> Judgement {
        let works = declared(ctx, trace);
        let mut cases = Vec::new();
        let (mut night, mut weekend, mut holiday) = (false, false, false);
        for (o, c) in carried_calls(trace) {
            if works.iter().any(|(s, e, _, _)| c.sent >= *s && c.sent < *e) {
                continue;
            }
            let local = clock::local(c.sent);
            night |= local.hour() >= 21 || local.hour() < 6;
            match ctx.calendar.day(local.date()).map(|d| d.reason) {
                Ok(DayReason::Weekend) => weekend = true,
                Ok(DayReason::Holiday { .. } | DayReason::HolidayCarryOver { .. }) => {
                    holiday = true
                }
                _ => {}
            }
            let ok = c.outcome == "accepted";
            cases.push(CaseVerdict {
                verdict: if ok { Verdict::Pass } else { Verdict::Fail },
                finding: if ok {
                    format!(
                        "call {} sent {} was accepted",
                        c.label,
                        clock::display(c.sent)
                    )
                } else {
                    format!(
                        "call {} sent {} outside any declared works was not accepted",
                        c.label,
                        clock::display(c.sent)
                    )
                },
                evidence: vec![call_evidence(ctx, o, c)],
            });
        }
        let covered = !cases.is_empty();
        let mut cases = collapse(cases, "probes outside declared works were all accepted");
        if covered {
            for (seen, what) in [
                (night, "at night (21:00–06:00)"),
                (weekend, "on a weekend"),
                (holiday, "on a public holiday"),
            ] {
                if !seen {
                    cases.push(CaseVerdict {
                        verdict: Verdict::NotTested,
                        finding: format!("no probe outside declared works was sent {what}"),
                        evidence: vec![],
                    });
                }
            }
        }
        combine("eint-app7-5.1", cases)
    }
}

/// eint-app7-5.6 `reboots-announced`: whenever a gateway of the bus took no call at all (the
/// harness's client got no answer: the host was down, rebooting), a notice giving the time of
/// the works had reached the harness's parties before, and its span covers that instant.
pub struct RebootsAnnounced;

impl Oracle for RebootsAnnounced {
    fn clause(&self) -> &'static str {
        "eint-app7-5.6"
    }
    fn obligation(&self) -> &'static str {
        "reboots-announced"
    }
    fn describe(&self) -> &'static str {
        "every call a gateway of the bus did not answer at all (no connection or no reply: the bus was down) was sent inside the start and end of works an operator's notice gave, and that notice reached the harness before the call"
    }
    fn judge(&self, ctx: &OracleCtx<'_>, trace: &Trace) -> Judgement {
        let works = declared(ctx, trace);
        let cases = calls(trace)
            .into_iter()
            .filter(|(_, c)| c.outcome == "no-answer")
            .map(|(o, c)| {
                let notice = works
                    .iter()
                    .find(|(s, e, seen, _)| *seen <= c.sent && c.sent >= *s && c.sent < *e);
                let mut evidence = vec![call_evidence(ctx, o, c)];
                match notice {
                    Some((s, e, _, ev)) => {
                        evidence.push(ev.clone());
                        CaseVerdict {
                            verdict: Verdict::Pass,
                            finding: format!(
                                "the bus was down at {} within works announced for {} to {}",
                                clock::display(c.sent),
                                clock::display(*s),
                                clock::display(*e)
                            ),
                            evidence,
                        }
                    }
                    None => CaseVerdict {
                        verdict: Verdict::Fail,
                        finding: format!(
                            "the bus was down at {} (call {}) and no notice had given works then",
                            clock::display(c.sent),
                            c.label
                        ),
                        evidence,
                    },
                }
            })
            .collect();
        combine("eint-app7-5.6", cases)
    }
}
