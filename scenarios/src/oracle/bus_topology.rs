//! ureq-139.10 and 139.11: systems outside the inner circuit reach inner-circuit systems only
//! through ЭҮСШ. Where a system sits is the harness's statement about the system it laid out
//! (its `placement`), never the bus's; whether a call was carried is what the harness's client
//! got back and what the harness's provider received.

use qaqpa_reports::Judgement;
use qaqpa_reports::Verdict;
use qaqpa_sim::trace::{BusCall, Event, Observation, Trace};

use super::bus::{call_evidence, calls, notes};
use super::bus_agreement::SOUND_PROVIDER_SECONDS;
use super::{CaseVerdict, Oracle, OracleCtx, combine};

/// Calls from systems the harness placed at `placement` to a service it laid out as sound and
/// routable for them (registered, published on the gateway called, of the call's channel,
/// without personal data, a sound provider, a granted connection).
fn placed_calls<'t>(trace: &'t Trace, placement: &str) -> Vec<(&'t Observation, &'t BusCall)> {
    calls(trace)
        .into_iter()
        .filter(|(_, c)| {
            notes(trace, "bus-system").any(|f| {
                f.get("system") == Some(&c.from)
                    && f.get("placement").map(String::as_str) == Some(placement)
            })
        })
        .filter(|(_, c)| {
            notes(trace, "bus-service").any(|f| {
                let is = |k: &str, v: &str| f.get(k).map(String::as_str) == Some(v);
                f.get("service") == Some(&c.service)
                    && is("registered", "true")
                    && is("faulty", "false")
                    && is("personal-data", "false")
                    && is("mode", &c.channel)
                    && f.get("published")
                        .is_some_and(|p| p.split(' ').any(|g| g == c.gateway))
                    && f.get("delay-seconds")
                        .and_then(|d| d.parse::<f64>().ok())
                        .is_some_and(|d| d <= SOUND_PROVIDER_SECONDS)
            }) && notes(trace, "bus-connection").any(|f| {
                f.get("initiator") == Some(&c.from)
                    && f.get("service") == Some(&c.service)
                    && f.get("granted").map(String::as_str) == Some("true")
            })
        })
        .filter(|(_, c)| c.contour.is_none())
        .collect()
}

/// Only through ЭҮСШ: every call of a system placed at `placement` to the inner gateway is
/// refused and reaches no provider, and its calls through ЭҮСШ are carried to the provider.
/// Both halves must be seen.
pub struct OnlyThroughExternalGateway {
    pub clause: &'static str,
    pub obligation: &'static str,
    pub describe: &'static str,
    /// The harness's `placement` of the systems the clause is about.
    pub placement: &'static str,
}

impl Oracle for OnlyThroughExternalGateway {
    oracle_names!();

    fn judge(&self, ctx: &OracleCtx<'_>, trace: &Trace) -> Judgement {
        let mut cases = Vec::new();
        let (mut direct, mut through) = (false, false);
        for (o, c) in placed_calls(trace, self.placement) {
            let reached = trace.observations().iter().any(|r| {
                matches!(&r.event, Event::BusReceived(b)
                    if b.endpoint == "provider" && b.message_id == c.message_id && b.service == c.service)
            });
            let external = c.gateway == "external";
            let carried = c.outcome == "accepted" && reached;
            let (verdict, finding) = if external {
                through = true;
                if carried {
                    (
                        Verdict::Pass,
                        format!(
                            "{}'s call {} through ЭҮСШ reached the provider",
                            c.from, c.label
                        ),
                    )
                } else {
                    (
                        Verdict::Fail,
                        format!(
                            "{}'s call {} through ЭҮСШ was not carried to the provider",
                            c.from, c.label
                        ),
                    )
                }
            } else {
                direct = true;
                if c.outcome == "accepted" || reached {
                    (
                        Verdict::Fail,
                        format!(
                            "{}'s direct call {} to the inner gateway was carried",
                            c.from, c.label
                        ),
                    )
                } else {
                    (
                        Verdict::Pass,
                        format!(
                            "{}'s direct call {} to the inner gateway was refused",
                            c.from, c.label
                        ),
                    )
                }
            };
            cases.push(CaseVerdict {
                verdict,
                finding,
                evidence: vec![call_evidence(ctx, o, c)],
            });
        }
        if !cases.is_empty() {
            for (seen, what) in [
                (direct, "a direct call to the inner gateway"),
                (through, "the same call through ЭҮСШ"),
            ] {
                if !seen {
                    cases.push(CaseVerdict {
                        verdict: Verdict::NotTested,
                        finding: format!("no {} system made {what}", self.placement),
                        evidence: vec![],
                    });
                }
            }
        }
        combine(self.clause, cases)
    }
}
