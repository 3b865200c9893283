//! Sender authentication on the bus (BUS-CONTRACT.md "Signing"; the transport EDS certificate
//! of eint-app5's connection form): a message the harness signed otherwise than well must be
//! refused. What was sent comes from the harness's own `bus-signed` notes (the forgery it
//! built, the certificate its test CA issued the sender); whether it was refused comes from
//! what the harness's client got back and what its providers received, never from the bus's
//! word about itself.

use qaqpa_reports::{Evidence, Judgement, Verdict};
use qaqpa_sim::clock;
use qaqpa_sim::trace::{Event, Trace};

use super::{CaseVerdict, Oracle, OracleCtx, combine};
use crate::interpreter::HARNESS;

/// The forgeries that sign something else than the Body processed.
const WRAPPING: [&str; 3] = ["wrapped", "reference-elsewhere", "duplicate-id"];

/// What a forged or untrusted message must get: a fault at the client, and nothing at the
/// provider. `wrapping` selects the signature-wrapping forgeries, otherwise every other
/// forgery and every untrusted certificate.
pub struct ForgedRefused {
    pub clause: &'static str,
    pub obligation: &'static str,
    pub describe: &'static str,
    pub wrapping: bool,
}

impl Oracle for ForgedRefused {
    oracle_names!();

    fn judge(&self, ctx: &OracleCtx<'_>, trace: &Trace) -> Judgement {
        let mut cases = Vec::new();
        for o in trace.observations() {
            let Event::Network(n) = &o.event else {
                continue;
            };
            if o.probe != HARNESS || n.what != "bus-signed" {
                continue;
            }
            let get = |k: &str| n.fields.get(k).map(String::as_str).unwrap_or("");
            let (label, from, signature, certificate) = (
                get("label"),
                get("from"),
                get("signature"),
                get("certificate"),
            );
            let wrapped = WRAPPING.contains(&signature);
            if wrapped != self.wrapping {
                continue;
            }
            let how = match (signature, certificate) {
                ("valid", c) => format!("signed well, with a certificate that is {c}"),
                (s, "valid") => format!("sent {s}"),
                (s, c) => format!("sent {s}, with a certificate that is {c}"),
            };
            // The call as the harness's client saw it answered.
            let Some((co, call)) = trace.observations().iter().find_map(|x| match &x.event {
                Event::BusCall(c) if c.label == label && c.from == from => Some((x, c)),
                _ => None,
            }) else {
                continue;
            };
            let reached: Vec<&qaqpa_sim::trace::Observation> = trace
                .observations()
                .iter()
                .filter(|x| match &x.event {
                    Event::BusReceived(r) => {
                        r.endpoint == "provider" && r.message_id == label && r.sender == from
                    }
                    _ => false,
                })
                .collect();
            let refused = call.outcome == "fault" && reached.is_empty();
            let got = match call.outcome.as_str() {
                "accepted" => "accepted".to_string(),
                "fault" => format!(
                    "refused with {} ({})",
                    call.error_code.as_deref().unwrap_or("no errorCode"),
                    call.error
                ),
                _ => format!("no answer ({})", call.error),
            };
            let mut evidence = vec![Evidence {
                scenario: ctx.scenario.to_string(),
                at: clock::display(co.at),
                probe: co.probe.clone(),
                subject: format!("call {label}"),
                text: format!(
                    "{from} called {} on the {} gateway, its message {how}: {got}",
                    call.service, call.gateway
                ),
                seq: Some(co.seq),
            }];
            for r in &reached {
                if let Event::BusReceived(b) = &r.event {
                    evidence.push(Evidence {
                        scenario: ctx.scenario.to_string(),
                        at: clock::display(r.at),
                        probe: r.probe.clone(),
                        subject: format!("service {}", b.service),
                        text: format!(
                            "the provider {} received message {label} of {from}",
                            b.system
                        ),
                        seq: Some(r.seq),
                    });
                }
            }
            cases.push(CaseVerdict {
                verdict: if refused {
                    Verdict::Pass
                } else {
                    Verdict::Fail
                },
                finding: if refused {
                    format!("call {label} ({how}) was refused")
                } else if call.outcome == "fault" {
                    format!("call {label} ({how}) got a fault, yet reached the provider")
                } else {
                    format!("call {label} ({how}) was not refused: {got}")
                },
                evidence,
            });
        }
        combine(self.clause, cases)
    }
}
