//! The road from an application to production on the bus (eint-33, eint-21, eint-app7-5.5):
//! who may call at all, the testing that must end within 3 months, and the test contour it
//! runs on. Who applied, for what, and whether the application was complete comes from the
//! harness's own applications as sent (and the world it laid out); the operator's answers
//! only give the instant from which the rules oblige the bus; what the bus did comes from the
//! harness's clients and provider endpoints.

use jiff::Timestamp;
use qaqpa_reports::{Evidence, Judgement, Verdict};
use qaqpa_sim::clock;
use qaqpa_sim::trace::{DocKind, Document, Event, Observation, Trace};

use super::bus::{call_evidence, calls, doc_evidence, notes};
use super::bus_agreement::SOUND_PROVIDER_SECONDS;
use super::form::{self, CONNECTION_APPLICATION, PUBLICATION_APPLICATION, TEST_ACT};
use super::{CaseVerdict, Oracle, OracleCtx, combine};

/// The harness's own applications of `kind` that its form finds complete, as the operator's
/// inbox received them.
fn complete_applications(trace: &Trace, kind: DocKind) -> Vec<(&Observation, &Document)> {
    let form = if kind == DocKind::ConnectionApplication {
        &CONNECTION_APPLICATION
    } else {
        &PUBLICATION_APPLICATION
    };
    trace
        .documents()
        .filter(|(o, d)| d.doc == kind && o.probe.starts_with("inbox:"))
        .filter(|(o, d)| form::complete(form, trace, o, d))
        .collect()
}

fn service_of(d: &Document) -> Option<&String> {
    d.fields.get("service-key").or(d.fields.get("service-id"))
}

/// The operator's first answer in `app`'s case, to its sender, of one of `kinds`.
fn operator_answer<'t>(
    trace: &'t Trace,
    app: &Document,
    kinds: &[DocKind],
) -> Option<(&'t Observation, &'t Document)> {
    trace
        .documents()
        .find(|(_, d)| d.case == app.case && d.to == app.from && kinds.contains(&d.doc))
}

/// Whether the world the harness laid out holds a connection of `initiator` to `service`
/// (one that existed before the scenario, granted or awaiting its grant).
fn world_connection(trace: &Trace, initiator: &str, service: &str) -> bool {
    notes(trace, "bus-connection").any(|f| {
        f.get("initiator").map(String::as_str) == Some(initiator)
            && f.get("service").map(String::as_str) == Some(service)
    })
}

/// eint-33 `connection-only-with-application`: a system that neither had a connection to a
/// service in the world the harness laid out nor sent a complete Appendix 5 application for
/// it reaches the service on neither contour.
pub struct ConnectionOnlyWithApplication;

impl Oracle for ConnectionOnlyWithApplication {
    fn clause(&self) -> &'static str {
        "eint-33"
    }
    fn obligation(&self) -> &'static str {
        "connection-only-with-application"
    }
    fn describe(&self) -> &'static str {
        "every call, in production or on the test contour, from a system of the harness that had no connection to the service in the world the harness laid out and had sent no complete Appendix 5 application for it (a deficient one is none) is refused"
    }
    fn judge(&self, ctx: &OracleCtx<'_>, trace: &Trace) -> Judgement {
        let applied = complete_applications(trace, DocKind::ConnectionApplication);
        let owners: Vec<(String, String)> = notes(trace, "bus-service")
            .filter_map(|f| Some((f.get("service")?.clone(), f.get("owner")?.clone())))
            .collect();
        let cases = calls(trace)
            .into_iter()
            .filter(|(_, c)| !owners.iter().any(|(s, o)| s == &c.service && o == &c.from))
            .filter(|(_, c)| !world_connection(trace, &c.from, &c.service))
            .filter(|(_, c)| {
                !applied.iter().any(|(o, d)| {
                    d.from == c.from && service_of(d) == Some(&c.service) && o.at <= c.sent
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
                        "call {} of {}, which never applied to connect to {}, {}{}",
                        c.label,
                        c.from,
                        c.service,
                        if c.contour.is_some() {
                            "on the test contour "
                        } else {
                            ""
                        },
                        if accepted {
                            "was carried"
                        } else {
                            "was refused"
                        }
                    ),
                    evidence: vec![call_evidence(ctx, o, c)],
                }
            })
            .collect();
        combine("eint-33", cases)
    }
}

/// eint-app7-5.5 `test-contour-reachable`: a call to the test contour from a system entitled
/// to test (a connection in the world the harness laid out, or a complete connection
/// application the operator accepted before the call) to a service with a sound provider is
/// answered, and reaches the provider's test endpoint.
pub struct TestContourAnswers;

impl Oracle for TestContourAnswers {
    fn clause(&self) -> &'static str {
        "eint-app7-5.5"
    }
    fn obligation(&self) -> &'static str {
        "test-contour-reachable"
    }
    fn describe(&self) -> &'static str {
        "every call to the bus's test contour from a system entitled to test (a connection the harness laid out, or a complete Appendix 5 application the operator accepted before the call) to a service the harness laid out with a sound provider is accepted, and the provider's test endpoint (not its production one) received it"
    }
    fn judge(&self, ctx: &OracleCtx<'_>, trace: &Trace) -> Judgement {
        let accepted_apps: Vec<(String, String, Timestamp, Evidence)> =
            complete_applications(trace, DocKind::ConnectionApplication)
                .into_iter()
                .filter_map(|(_, d)| {
                    let (ao, ad) = operator_answer(trace, d, &[DocKind::CheckPassed])?;
                    Some((
                        d.from.clone(),
                        service_of(d)?.clone(),
                        ao.at,
                        doc_evidence(ctx, ao, ad),
                    ))
                })
                .collect();
        let mut cases = Vec::new();
        for (o, c) in calls(trace) {
            if c.contour.as_deref() != Some("test") {
                continue;
            }
            let sound = notes(trace, "bus-service").any(|f| {
                let is = |k: &str, v: &str| f.get(k).map(String::as_str) == Some(v);
                f.get("service") == Some(&c.service)
                    && is("faulty", "false")
                    && is("personal-data", "false")
                    && is("mode", &c.channel)
                    && f.get("published")
                        .is_some_and(|p| p.split(' ').any(|g| g == c.gateway))
                    && f.get("delay-seconds")
                        .and_then(|d| d.parse::<f64>().ok())
                        .is_some_and(|d| d <= SOUND_PROVIDER_SECONDS)
            });
            let gateway_ok = notes(trace, "bus-system").any(|f| {
                f.get("system") == Some(&c.from)
                    && (f.get("state").map(String::as_str) == Some("true")
                        || c.gateway == "external")
            });
            let mut evidence = vec![call_evidence(ctx, o, c)];
            let entitled = if world_connection(trace, &c.from, &c.service) {
                true
            } else if let Some((_, _, _, ev)) = accepted_apps
                .iter()
                .find(|(f, s, at, _)| f == &c.from && s == &c.service && *at <= c.sent)
            {
                evidence.push(ev.clone());
                true
            } else {
                false
            };
            if !(sound && gateway_ok && entitled) {
                continue;
            }
            let reached_test = trace.observations().iter().any(|r| match &r.event {
                Event::BusReceived(b) => {
                    b.endpoint == "provider-test"
                        && b.message_id == c.message_id
                        && b.service == c.service
                }
                _ => false,
            });
            let (verdict, finding) = match (c.outcome == "accepted", reached_test) {
                (true, true) => (
                    Verdict::Pass,
                    format!(
                        "test call {} was answered by the provider's test endpoint",
                        c.label
                    ),
                ),
                (true, false) => (
                    Verdict::Fail,
                    format!(
                        "test call {} was answered, but the provider's test endpoint never received it",
                        c.label
                    ),
                ),
                (false, _) => (
                    Verdict::Fail,
                    format!(
                        "test call {} of {} to {} was not accepted",
                        c.label, c.from, c.service
                    ),
                ),
            };
            cases.push(CaseVerdict {
                verdict,
                finding,
                evidence,
            });
        }
        combine("eint-app7-5.5", cases)
    }
}

/// eint-21 `testing-within-3-months`: testing runs from the operator's acceptance of the
/// harness's complete application (publication or connection); when the harness sends a
/// complete positive test act for it within the 3 months, the operator agrees it by the end
/// of the 3 months. The harness's own lateness is its part, not judged.
pub struct TestingWithinThreeMonths;

impl Oracle for TestingWithinThreeMonths {
    fn clause(&self) -> &'static str {
        "eint-21"
    }
    fn obligation(&self) -> &'static str {
        "testing-within-3-months"
    }
    fn describe(&self) -> &'static str {
        "from the operator's acceptance of a complete publication or connection application of the harness, testing ends positively (the operator agrees the complete positive test act the harness sent for that service, within the term) no later than the end of the same day 3 calendar months on"
    }
    fn judge(&self, ctx: &OracleCtx<'_>, trace: &Trace) -> Judgement {
        let mut cases = Vec::new();
        for (kind, act_kind) in [
            (DocKind::PublicationApplication, DocKind::PublicationTestAct),
            (DocKind::ConnectionApplication, DocKind::ConnectionTestAct),
        ] {
            for (ao, app) in complete_applications(trace, kind) {
                let Some(service) = service_of(app) else {
                    continue;
                };
                let Some((so, sd)) = operator_answer(trace, app, &[DocKind::CheckPassed]) else {
                    continue;
                };
                let mut evidence = vec![doc_evidence(ctx, ao, app), doc_evidence(ctx, so, sd)];
                let deadline = clock::local(so.at)
                    .date()
                    .checked_add(jiff::Span::new().months(3))
                    .ok()
                    .and_then(|d| clock::end_of_day(d).ok());
                let Some(deadline) = deadline else {
                    continue;
                };
                evidence.push(Evidence {
                    scenario: ctx.scenario.to_string(),
                    at: clock::display(deadline),
                    probe: "oracle".into(),
                    subject: format!("case {}", app.case),
                    text: format!("the testing of {service} that began with the acceptance must end by the end of this day"),
                    seq: None,
                });
                let act = trace.documents().find(|(o, d)| {
                    d.doc == act_kind
                        && o.probe.starts_with("inbox:")
                        && d.from == app.from
                        && service_of(d) == Some(service)
                        && o.at >= so.at
                        && form::complete(&TEST_ACT, trace, o, d)
                });
                let Some((to, td)) = act else {
                    cases.push(CaseVerdict {
                        verdict: Verdict::NotTested,
                        finding: format!(
                            "case {}: the harness sent no positive test act for {service}",
                            app.case
                        ),
                        evidence,
                    });
                    continue;
                };
                evidence.push(doc_evidence(ctx, to, td));
                if to.at > deadline {
                    cases.push(CaseVerdict {
                        verdict: Verdict::NotTested,
                        finding: format!(
                            "case {}: the harness's own test act came after the 3 months",
                            app.case
                        ),
                        evidence,
                    });
                    continue;
                }
                let agreed = operator_answer(
                    trace,
                    td,
                    &[
                        DocKind::CheckPassed,
                        DocKind::PassportPublished,
                        DocKind::ProductionAccessGranted,
                    ],
                );
                let (verdict, finding) = match agreed {
                    Some((go, gd)) => {
                        evidence.push(doc_evidence(ctx, go, gd));
                        if go.at <= deadline {
                            (
                                Verdict::Pass,
                                format!(
                                    "the testing of {service} (case {}) ended positively within 3 months",
                                    app.case
                                ),
                            )
                        } else {
                            (
                                Verdict::Fail,
                                format!(
                                    "the testing of {service} (case {}) ended only after 3 months",
                                    app.case
                                ),
                            )
                        }
                    }
                    None if ctx.end > deadline => (
                        Verdict::Fail,
                        format!(
                            "the testing of {service} (case {}) never ended positively",
                            app.case
                        ),
                    ),
                    None => (
                        Verdict::NotTested,
                        format!(
                            "the scenario ends before the 3 months of the testing of {service}"
                        ),
                    ),
                };
                cases.push(CaseVerdict {
                    verdict,
                    finding,
                    evidence,
                });
            }
        }
        combine("eint-21", cases)
    }
}
