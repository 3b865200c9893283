//! The application forms of the rules' appendices, as the harness knows them, and the oracles
//! that hold a desk's answers to them:
//! - [`FormCheck`]: an application that lacks a datum of its form, or comes by a channel the
//!   rules do not accept, is never granted (ugia-app1, app3, app4, ugia-15-2, ugem-7, ugem-app,
//!   eint-app4); where the rules want it, the refusal names each missing datum.
//! - [`CompleteNotRefused`]: a complete application, which the harness knows no ground to
//!   refuse, is not refused: a desk that refuses everything fails.
//! - [`ReasonedRefusal`]: a refusal or return names every ground the harness knows of (the
//!   missing or faulty data, the wrong channel, the applicant's kind, the technical
//!   impossibility the scenario states); "any non-empty text" is not a reason.
//!
//! What is wrong with an application comes from what the harness sent and what its scenario
//! states, never from the desk's answer.
//!
//! A signature is judged by the harness's record of how it signed ([`EDS_SIGNATURE`]), never
//! by the field's presence: text in `eds-signature` proves nothing.

use qaqpa_reports::{Judgement, Verdict};
use qaqpa_sim::eds::SignatureKind;
use qaqpa_sim::trace::{Channel, DocKind, Document, Event, Observation, Trace};

use super::{CaseVerdict, Oracle, OracleCtx, answers_in_case, judge_applications, seen};

/// What is wrong with a datum's value, or `None` if nothing is.
pub type Rule = fn(&str) -> Option<String>;

/// The legal entity's EDS over the application (ugia-15-2). As a required datum of a form it
/// is given only when the harness's record says it signed the application validly: with a
/// certificate the NCA RK stand-in issued to the applicant's BIN, valid when sent, over the
/// application as sent. Unsigned, altered after signing, signed with an expired certificate,
/// a foreign CA's or another legal entity's: the datum is lacking, whatever the field says.
pub const EDS_SIGNATURE: &str = qaqpa_sim::eds::SIGNATURE_FIELD;

/// How the harness signed `app`, observed at `obs`: its record of the case made after the
/// sender's previous document in the case and before this one (the harness records it just
/// before sending); `None`, unsigned.
pub fn harness_signature(
    trace: &Trace,
    obs: &Observation,
    app: &Document,
) -> Option<SignatureKind> {
    let earlier = trace
        .observations()
        .iter()
        .filter(|o| o.seq < obs.seq)
        .rev();
    for o in earlier {
        match &o.event {
            Event::Known(k) if k.case == app.case => return k.signature,
            Event::Document(d) if d.case == app.case && d.from == app.from => {
                return None;
            }
            _ => {}
        }
    }
    None
}

/// Whether the application lacks the required datum `f`: an empty or absent field, or for
/// [`EDS_SIGNATURE`] a signature the harness did not make validly.
fn lacks(f: &str, app: &Document, signature: Option<SignatureKind>) -> bool {
    if f == EDS_SIGNATURE {
        return !signature.is_some_and(SignatureKind::is_valid);
    }
    app.fields.get(f).is_none_or(|v| v.trim().is_empty())
}

/// What the harness knows is wrong with the signature of an application lacking it.
fn signature_fault(signature: Option<SignatureKind>) -> String {
    match signature.and_then(SignatureKind::fault) {
        Some(fault) => format!("an invalid {EDS_SIGNATURE} ({fault})"),
        None => format!("no {EDS_SIGNATURE} (the harness did not sign it)"),
    }
}

/// Appendices 3 and 4: a product "with indication of the version": a product name followed
/// by a version of at least two numeric components (`nginx 1.24.0`, `nginx/1.24.0`,
/// `Apache 2.4`, `IIS 10.0`). A bare number, a year alone or a digit inside a name is not one.
pub fn names_a_version(value: &str) -> Option<String> {
    let v = value.trim();
    let split = v.rfind([' ', '/']);
    let (product, version) = match split {
        Some(i) => (&v[..i], &v[i + 1..]),
        None => ("", v),
    };
    let version = version.trim_start_matches(['v', 'V']);
    let parts: Vec<&str> = version.split('.').collect();
    let numeric = parts.len() >= 2
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 6 && p.chars().all(|c| c.is_ascii_digit()));
    let named = product.chars().any(|c| c.is_alphabetic());
    (!(numeric && named))
        .then(|| "does not name a product with its version (e.g. `nginx 1.24.0`)".to_string())
}

/// Appendix 1: bandwidth "in units of 1 Gbit/s, minimum 1 Gbit/s".
pub fn whole_gbits(value: &str) -> Option<String> {
    match value.trim().parse::<u32>() {
        Ok(n) if n >= 1 => None,
        _ => Some("is not a whole number of Gbit/s of at least 1".to_string()),
    }
}

/// ugem-2: the kinds of applicant the e-mail gateway serves.
pub const ELIGIBLE_MAIL_APPLICANTS: &[&str] = &[
    "state-body",
    "local-self-government",
    "state-legal-entity",
    "quasi-public",
    "critical-ict-owner",
];

/// ugem-2, as a rule on the `applicant-kind` datum.
pub fn eligible_mail_applicant(value: &str) -> Option<String> {
    (!ELIGIBLE_MAIL_APPLICANTS.contains(&value.trim())).then(|| {
        format!(
            "is not a kind the rules cover (ugem-2: {})",
            ELIGIBLE_MAIL_APPLICANTS.join(", ")
        )
    })
}

/// One form of the rules: the data it makes mandatory, the rules on their values, and the
/// channels it may arrive by (empty where the rules name none).
pub struct Form {
    pub applications: &'static [DocKind],
    /// Whether the rules let a refused applicant resubmit only after 30 calendar days
    /// (ugia-17, ugia-18, ugem-10): an earlier resubmission is then a ground to refuse.
    pub resubmission_wait: bool,
    pub required: &'static [&'static str],
    pub rules: &'static [(&'static str, Rule)],
    pub channels: &'static [Channel],
}

/// Appendix 1 (UGIA): the telecom operator's channel application; ugia-5 wants both channels.
pub const CHANNEL_APPLICATION: Form = Form {
    applications: &[DocKind::ChannelApplication],
    resubmission_wait: false,
    required: &[
        "main-channel-gbps",
        "reserve-channel-gbps",
        "connection-point",
    ],
    rules: &[
        ("main-channel-gbps", whole_gbits),
        ("reserve-channel-gbps", whole_gbits),
    ],
    channels: &[],
};

/// Appendix 3 (UGIA): the WAF application.
pub const WAF_DATA: &[&str] = &[
    "domain",
    "ip",
    "telecom-operator",
    "web-server",
    "dbms",
    "cms",
    "contacts",
];

pub const WAF_APPLICATION: Form = Form {
    applications: &[DocKind::WafApplication],
    resubmission_wait: true,
    required: WAF_DATA,
    rules: &[("web-server", names_a_version)],
    channels: &[Channel::Aps],
};

/// Appendix 4 (UGIA): the defacement-protection application: Appendix 3 plus access to the
/// root directory and its credentials.
pub const DEFACEMENT_DATA: &[&str] = &[
    "domain",
    "ip",
    "telecom-operator",
    "web-server",
    "dbms",
    "cms",
    "contacts",
    "root-access",
    "credentials",
];

pub const DEFACEMENT_APPLICATION: Form = Form {
    applications: &[DocKind::DefacementApplication],
    resubmission_wait: true,
    required: DEFACEMENT_DATA,
    rules: &[("web-server", names_a_version)],
    channels: &[Channel::Aps],
};

/// ugia-15, ugia-15-2: the User's EDS-signed access application through the APS.
pub const ACCESS_APPLICATION: Form = Form {
    applications: &[DocKind::AccessApplication],
    resubmission_wait: false,
    required: &[EDS_SIGNATURE, "categories"],
    rules: &[],
    channels: &[Channel::Aps],
};

/// The UGEM appendix and ugem-2, ugem-7: the mail-connection application.
pub const MAIL_CONNECTION_DATA: &[&str] = &["domain", "domain-owner", "server-ip", "contacts"];

pub const MAIL_CONNECTION_APPLICATION: Form = Form {
    applications: &[DocKind::MailConnectionApplication],
    resubmission_wait: true,
    required: MAIL_CONNECTION_DATA,
    rules: &[("applicant-kind", eligible_mail_applicant)],
    channels: &[Channel::Aps, Channel::OfficialLetter],
};

/// Appendix 3 of the integration rules: the publication application's mandatory data (the
/// owner's system with its NCA transport certificate and IS test act; the service with its
/// key, interaction mode, publication flags, URLs, and eint-14's XSD and samples).
pub const PUBLICATION_APPLICATION_DATA: &[&str] = &[
    "owner",
    "bin",
    "system-name",
    "transport-certificate",
    "is-test-act",
    "service-name",
    "service-description",
    "service-key",
    "interaction-mode",
    "publish-external",
    "publish-inner",
    "personal-data",
    "routing-flag",
    "url-test",
    "url-production",
    "xsd",
    "request-sample",
    "response-sample",
];

pub const PUBLICATION_APPLICATION: Form = Form {
    applications: &[DocKind::PublicationApplication],
    resubmission_wait: false,
    required: PUBLICATION_APPLICATION_DATA,
    rules: &[],
    channels: &[],
};

/// Appendix 5 of the integration rules: the connection application's mandatory data (the
/// initiator, the basis of connection, the responsible person, the initiator's system with
/// its NCA transport certificate, IS test act and interaction contour; the service's key,
/// interaction mode and message sending mode).
pub const CONNECTION_APPLICATION_DATA: &[&str] = &[
    "owner",
    "initiator",
    "initiator-bin",
    "basis",
    "responsible-person",
    "system-name",
    "transport-certificate",
    "is-test-act",
    "interaction-contour",
    "service-key",
    "interaction-mode",
    "message-sending-mode",
];

pub const CONNECTION_APPLICATION: Form = Form {
    applications: &[DocKind::ConnectionApplication],
    resubmission_wait: false,
    required: CONNECTION_APPLICATION_DATA,
    rules: &[],
    channels: &[],
};

/// Whether the harness's application `app` (observed at `obs`) is complete on `form`: no
/// datum lacking, no rule broken, a channel the form accepts.
pub fn complete(form: &Form, trace: &Trace, obs: &Observation, app: &Document) -> bool {
    let signature = harness_signature(trace, obs, app);
    grounds_of(form.required, form.rules, form.channels, app, signature).is_empty()
}

/// Appendix 4 of the integration rules: the test and commissioning act.
pub const TEST_ACT_DATA: &[&str] = &[
    "participants",
    "systems",
    "service-name",
    "service-key",
    "conclusion",
    "test-scenario",
    "decision",
    "is-test-act",
    "production-date",
];

pub const TEST_ACT: Form = Form {
    applications: &[DocKind::PublicationTestAct, DocKind::ConnectionTestAct],
    resubmission_wait: false,
    required: TEST_ACT_DATA,
    rules: &[("conclusion", positive_conclusion)],
    channels: &[],
};

/// A test act whose conclusion is not positive is returned for rework (eint-27, eint-45).
pub fn positive_conclusion(value: &str) -> Option<String> {
    (value.trim() != "positive").then(|| "is not positive".to_string())
}

/// Appendix 8 of the integration rules (eint-45-9; XSD and samples as eint-14 wants them).
pub const SERVICE_UPDATE_APPLICATION: Form = Form {
    applications: &[DocKind::ServiceUpdateApplication],
    resubmission_wait: false,
    required: &[
        "service-id",
        "owner",
        "change-description",
        "xsd",
        "request-sample",
        "response-sample",
    ],
    rules: &[],
    channels: &[Channel::Portal],
};

/// Appendix 9 of the integration rules (eint-45-13).
pub const CONNECTION_UPDATE_APPLICATION: Form = Form {
    applications: &[DocKind::ConnectionUpdateApplication],
    resubmission_wait: false,
    required: &[
        "service-id",
        "initiator",
        "change-description",
        "addresses",
        "message-sending-mode",
    ],
    rules: &[],
    channels: &[Channel::Portal],
};

/// The answers that refuse what was asked.
const REFUSALS: &[DocKind] = &[DocKind::Rejection, DocKind::ReturnedForRework];

/// One ground the harness knows for refusing an application, and the words that name it.
struct Ground {
    what: String,
    /// A refusal names the ground when its reasons mention any of these (case-insensitive,
    /// `-` read as a space).
    names: Vec<String>,
}

/// What is wrong with an application under `required`, `rules` and `channels`, given how
/// the harness signed it.
fn grounds_of(
    required: &[&str],
    rules: &[(&str, Rule)],
    channels: &[Channel],
    app: &Document,
    signature: Option<SignatureKind>,
) -> Vec<Ground> {
    let mut out = Vec::new();
    for f in required {
        if lacks(f, app, signature) {
            out.push(Ground {
                what: if *f == EDS_SIGNATURE {
                    signature_fault(signature)
                } else {
                    format!("no {f}")
                },
                names: vec![f.to_string()],
            });
        }
    }
    for (f, rule) in rules {
        if let Some(v) = app.fields.get(*f).filter(|v| !v.trim().is_empty())
            && let Some(fault) = rule(v)
        {
            out.push(Ground {
                what: format!("{f} `{v}` {fault}"),
                names: vec![f.to_string(), v.trim().to_string()],
            });
        }
    }
    if !channels.is_empty() && !channels.contains(&app.channel) {
        let accepted: Vec<&str> = channels.iter().map(|c| c.as_str()).collect();
        out.push(Ground {
            what: format!(
                "arrival by {} instead of {}",
                app.channel.as_str(),
                accepted.join(" or ")
            ),
            names: vec!["channel".into(), app.channel.as_str().to_string()]
                .into_iter()
                .chain(accepted.iter().map(|c| c.to_string()))
                .collect(),
        });
    }
    out
}

/// The infeasibility the harness recorded for `case` before sending it.
fn infeasible_grounds(trace: &Trace, case: &str, app: &Document) -> Vec<Ground> {
    trace
        .observations()
        .iter()
        .filter_map(|o| match &o.event {
            Event::Known(k) if k.case == case => Some(k),
            _ => None,
        })
        .flat_map(|k| {
            k.infeasible.iter().map(move |f| {
                let mut names = vec![f.clone()];
                if let Some(v) = app.fields.get(f).filter(|v| !v.trim().is_empty()) {
                    names.push(v.trim().to_string());
                }
                Ground {
                    what: format!("{f} makes it impossible ({})", k.because),
                    names,
                }
            })
        })
        .collect()
}

fn normalise(s: &str) -> String {
    s.to_lowercase().replace(['-', '_'], " ")
}

fn named_in(ground: &Ground, reasons: &[String]) -> bool {
    ground.names.iter().any(|n| mentions(reasons, n))
}

/// Whether the reasons mention `name` (case-insensitive, `-` and `_` read as spaces).
fn mentions(reasons: &[String], name: &str) -> bool {
    !name.trim().is_empty() && normalise(&reasons.join(" ")).contains(&normalise(name))
}

fn describe_grounds(gs: &[Ground]) -> String {
    gs.iter()
        .map(|g| g.what.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Never granted when deficient (see the module documentation).
pub struct FormCheck {
    pub clause: &'static str,
    pub obligation: &'static str,
    pub describe: &'static str,
    /// The kinds of application that use this form.
    pub applications: &'static [DocKind],
    /// Data the clause makes mandatory.
    pub required: &'static [&'static str],
    /// Rules on the values of data that are given: `(datum, rule)`.
    pub rules: &'static [(&'static str, Rule)],
    /// The channels the rules accept the application by; empty where they name none.
    pub channels: &'static [Channel],
    /// The answer that grants what was asked.
    pub grant: DocKind,
    /// Whether a refusal must name each missing datum (so the applicant can mend the form).
    pub refusal_names_missing: bool,
}

impl Oracle for FormCheck {
    oracle_names!();

    fn judge(&self, ctx: &OracleCtx<'_>, trace: &Trace) -> Judgement {
        judge_applications(
            self.clause,
            trace,
            self.applications,
            |docs, i, obs, app| {
                let case = &app.case;
                let signature = harness_signature(trace, obs, app);
                let wrong = grounds_of(self.required, self.rules, self.channels, app, signature);
                let mut evidence = vec![seen(ctx, obs, app)];
                if wrong.is_empty() {
                    return CaseVerdict {
                        verdict: Verdict::NotTested,
                        finding: format!("case {case}: a complete application, outside this check"),
                        evidence,
                    };
                }
                let Some((o, d)) = answers_in_case(docs, i, app.doc).next() else {
                    return CaseVerdict {
                        verdict: Verdict::NotTested,
                        finding: format!("case {case}: no answer observed"),
                        evidence,
                    };
                };
                evidence.push(seen(ctx, o, d));
                let unnamed: Vec<&str> = self
                    .required
                    .iter()
                    .copied()
                    .filter(|f| lacks(f, app, signature))
                    .filter(|f| !mentions(&d.reasons, f))
                    .collect();
                let (verdict, finding) = if d.doc == self.grant {
                    (
                        Verdict::Fail,
                        format!(
                            "case {case}: {} although the application has {}",
                            d.doc.as_str(),
                            describe_grounds(&wrong)
                        ),
                    )
                } else if self.refusal_names_missing && !unnamed.is_empty() {
                    (
                        Verdict::Fail,
                        format!(
                            "case {case}: the refusal does not name the missing {}",
                            unnamed.join(", ")
                        ),
                    )
                } else {
                    (
                        Verdict::Pass,
                        format!(
                            "case {case}: the deficient application ({}) was not granted",
                            describe_grounds(&wrong)
                        ),
                    )
                };
                CaseVerdict {
                    verdict,
                    finding,
                    evidence,
                }
            },
        )
    }
}

/// Every ground the harness knows for refusing `app`: its form's faults, the scenario's
/// stated infeasibility, and a resubmission sooner than the rules allow.
fn known_grounds(
    form: &Form,
    trace: &Trace,
    docs: &[(&Observation, &Document)],
    i: usize,
) -> Vec<Ground> {
    let (obs, app) = docs[i];
    let signature = harness_signature(trace, obs, app);
    let mut g = grounds_of(form.required, form.rules, form.channels, app, signature);
    g.extend(infeasible_grounds(trace, &app.case, app));
    if form.resubmission_wait {
        // "The User may resubmit after 30 calendar days" (ugem-10, ugia-17, ugia-18)
        g.extend(
            super::early_resubmission(docs, i)
                .and_then(|e| Some((e.since, e.allowed?)))
                .map(|(since, allowed)| Ground {
                    what: format!(
                        "resubmitted before {allowed}, 30 calendar days after the rejection of {since}"
                    ),
                    names: vec!["resubmi".into(), "30 calendar days".into()],
                }),
        );
    }
    g
}

/// The first answer of the case that decides it: a refusal, or anything else.
fn first_answer<'t>(
    docs: &[(&'t Observation, &'t Document)],
    i: usize,
) -> Option<(&'t Observation, &'t Document)> {
    answers_in_case(docs, i, docs[i].1.doc).next()
}

/// A complete application the harness knows no ground to refuse is not refused.
pub struct CompleteNotRefused {
    pub clause: &'static str,
    pub obligation: &'static str,
    pub describe: &'static str,
    pub form: &'static Form,
}

impl Oracle for CompleteNotRefused {
    oracle_names!();

    fn judge(&self, ctx: &OracleCtx<'_>, trace: &Trace) -> Judgement {
        judge_applications(
            self.clause,
            trace,
            self.form.applications,
            |docs, i, obs, app| {
                let case = &app.case;
                let mut evidence = vec![seen(ctx, obs, app)];
                let grounds = known_grounds(self.form, trace, docs, i);
                if !grounds.is_empty() {
                    return CaseVerdict {
                        verdict: Verdict::NotTested,
                        finding: format!(
                            "case {case}: the harness knows grounds to refuse it ({})",
                            describe_grounds(&grounds)
                        ),
                        evidence,
                    };
                }
                match first_answer(docs, i) {
                    None => CaseVerdict {
                        verdict: Verdict::NotTested,
                        finding: format!("case {case}: no answer observed"),
                        evidence,
                    },
                    Some((o, d)) => {
                        evidence.push(seen(ctx, o, d));
                        if REFUSALS.contains(&d.doc) {
                            CaseVerdict {
                                verdict: Verdict::Fail,
                                finding: format!(
                                    "case {case}: a complete application was {} ({})",
                                    d.doc.as_str(),
                                    if d.reasons.is_empty() {
                                        "no reasons given".to_string()
                                    } else {
                                        d.reasons.join("; ")
                                    }
                                ),
                                evidence,
                            }
                        } else {
                            CaseVerdict {
                                verdict: Verdict::Pass,
                                finding: format!(
                                    "case {case}: a complete application, answered {}",
                                    d.doc.as_str()
                                ),
                                evidence,
                            }
                        }
                    }
                }
            },
        )
    }
}

/// Every refusal names every ground the harness knows; a refusal with none is unfounded.
pub struct ReasonedRefusal {
    pub clause: &'static str,
    pub obligation: &'static str,
    pub describe: &'static str,
    pub form: &'static Form,
}

impl Oracle for ReasonedRefusal {
    oracle_names!();

    fn judge(&self, ctx: &OracleCtx<'_>, trace: &Trace) -> Judgement {
        judge_applications(
            self.clause,
            trace,
            self.form.applications,
            |docs, i, obs, app| {
                let case = &app.case;
                let mut evidence = vec![seen(ctx, obs, app)];
                let refusal =
                    answers_in_case(docs, i, app.doc).find(|(_, d)| REFUSALS.contains(&d.doc));
                let Some((o, d)) = refusal else {
                    return CaseVerdict {
                        verdict: Verdict::NotTested,
                        finding: format!("case {case}: not refused"),
                        evidence,
                    };
                };
                evidence.push(seen(ctx, o, d));
                let grounds = known_grounds(self.form, trace, docs, i);
                if grounds.is_empty() {
                    return CaseVerdict {
                        verdict: Verdict::Fail,
                        finding: format!(
                            "case {case}: {} with no ground the harness knows of: the application was complete and feasible",
                            d.doc.as_str()
                        ),
                        evidence,
                    };
                }
                let unnamed: Vec<Ground> = grounds
                    .into_iter()
                    .filter(|g| !named_in(g, &d.reasons))
                    .collect();
                if unnamed.is_empty() {
                    CaseVerdict {
                        verdict: Verdict::Pass,
                        finding: format!("case {case}: the {} names every ground", d.doc.as_str()),
                        evidence,
                    }
                } else {
                    CaseVerdict {
                        verdict: Verdict::Fail,
                        finding: format!(
                            "case {case}: the {}'s reasons ({}) do not name: {}",
                            d.doc.as_str(),
                            if d.reasons.is_empty() {
                                "none".to_string()
                            } else {
                                d.reasons.join("; ")
                            },
                            describe_grounds(&unnamed)
                        ),
                        evidence,
                    }
                }
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A trace in which the harness sent one access application (recording how it signed it,
    /// if `known`), its `eds-signature` field full of text either way, and the STS answered.
    fn access_case(known: Option<SignatureKind>, answer: DocKind) -> Trace {
        use qaqpa_sim::trace::{CaseKnowledge, Subject};
        let t0: jiff::Timestamp = "2025-04-14T05:05:00Z".parse().unwrap();
        let app = Document {
            case: "C-1".into(),
            doc: DocKind::AccessApplication,
            from: "akimat".into(),
            to: "STS".into(),
            channel: Channel::Aps,
            fields: [
                ("categories", "remote-access"),
                ("bin", "000000000003"),
                ("eds-signature", "MEUCIQD..."),
                ("eds-certificate", "MIIB..."),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
            reasons: vec![],
        };
        let mut t = Trace::new();
        if let Some(kind) = known {
            t.record(
                t0,
                "harness",
                Subject::case("C-1"),
                Event::Known(CaseKnowledge {
                    case: "C-1".into(),
                    infeasible: vec![],
                    because: String::new(),
                    signature: Some(kind),
                }),
            );
        }
        let reasons = if answer == DocKind::Rejection {
            vec!["eds-signature: expired".to_string()]
        } else {
            vec![]
        };
        let answer = app.answer(answer, Channel::Aps, Default::default(), reasons);
        t.record(t0, "inbox:STS", Subject::case("C-1"), Event::Document(app));
        let later = t0
            .checked_add(jiff::SignedDuration::from_hours(48))
            .unwrap();
        t.record(
            later,
            "inbox:akimat",
            Subject::case("C-1"),
            Event::Document(answer),
        );
        t
    }

    fn judge(oracle: &dyn Oracle, trace: &Trace) -> Verdict {
        let calendar = qaqpa_sim::calendar::BusinessCalendar::kazakhstan();
        let ctx = OracleCtx {
            calendar: &calendar,
            scenario: "t",
            end: "2025-05-14T00:00:00Z".parse().unwrap(),
        };
        oracle.judge(&ctx, trace).verdict
    }

    /// Two applications of `kind` from one applicant, the first refused before the second was
    /// sent (within 30 days), the second refused for `reasons`.
    fn second_application_refused(
        kind: DocKind,
        fields: &[(&str, &str)],
        reasons: &[&str],
    ) -> Trace {
        use qaqpa_sim::trace::Subject;
        let at = |h: i64| {
            "2025-07-01T05:00:00Z"
                .parse::<jiff::Timestamp>()
                .unwrap()
                .checked_add(jiff::SignedDuration::from_hours(h))
                .unwrap()
        };
        let app = |case: &str| Document {
            case: case.into(),
            doc: kind,
            from: "regional".into(),
            to: "STS".into(),
            channel: Channel::Aps,
            fields: fields
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            reasons: vec![],
        };
        let mut t = Trace::new();
        // the first application lacks `contacts`/`connection-point` and its refusal says so, so
        // that only the second is in question
        let mut first = app("C-1");
        first.fields.remove("contacts");
        first.fields.remove("connection-point");
        t.record(
            at(0),
            "inbox:STS",
            Subject::case("C-1"),
            Event::Document(first.clone()),
        );
        let refusal = first.answer(
            DocKind::Rejection,
            Channel::Aps,
            Default::default(),
            vec!["contacts, connection-point and main-channel-gbps: see the form".into()],
        );
        t.record(
            at(24),
            "inbox:regional",
            Subject::case("C-1"),
            Event::Document(refusal),
        );
        let second = app("C-2");
        t.record(
            at(48),
            "inbox:STS",
            Subject::case("C-2"),
            Event::Document(second.clone()),
        );
        let refusal = second.answer(
            DocKind::Rejection,
            Channel::Aps,
            Default::default(),
            reasons.iter().map(|r| r.to_string()).collect(),
        );
        t.record(
            at(72),
            "inbox:regional",
            Subject::case("C-2"),
            Event::Document(refusal),
        );
        t
    }

    #[test]
    fn an_early_resubmission_is_a_ground_only_where_the_rules_make_it_one() {
        // A channel operator's second application (another point, bandwidth 0.5) refused for
        // its bandwidth alone: the rules set no resubmission wait for channels (seed 31 of a
        // campaign found this oracle asking for one).
        let channel = second_application_refused(
            DocKind::ChannelApplication,
            &[
                ("main-channel-gbps", "0.5"),
                ("reserve-channel-gbps", "1"),
                ("connection-point", "Almaty"),
            ],
            &["main-channel-gbps must be a whole number of Gbit/s"],
        );
        let ugia10 = super::super::for_clause("ugia-10")
            .find(|o| o.obligation() == "reasons-name-the-cause")
            .unwrap();
        assert_eq!(judge(ugia10, &channel), Verdict::Pass);
        // A WAF application resubmitted within 30 days must have that named.
        let waf_fields = [
            ("domain", "a.kz"),
            ("ip", "1.2.3.4"),
            ("telecom-operator", "Kazakhtelecom JSC"),
            ("web-server", "nginx 1.24.0"),
            ("dbms", "none"),
            ("cms", "none"),
            ("contacts", "x@a.kz"),
        ];
        let ugia17 = super::super::for_clause("ugia-17")
            .find(|o| o.obligation() == "reasons-name-the-cause")
            .unwrap();
        let vague = second_application_refused(DocKind::WafApplication, &waf_fields, &["not now"]);
        assert_eq!(judge(ugia17, &vague), Verdict::Fail);
        let named = second_application_refused(
            DocKind::WafApplication,
            &waf_fields,
            &["resubmitted 2 days after the rejection; wait 30 calendar days"],
        );
        assert_eq!(judge(ugia17, &named), Verdict::Pass);
    }

    fn unsigned_never_applied() -> &'static dyn Oracle {
        super::super::for_clause("ugia-15-2")
            .find(|o| o.obligation() == "unsigned-never-applied")
            .unwrap()
    }

    fn signed_not_refused() -> &'static dyn Oracle {
        super::super::for_clause("ugia-15-2")
            .find(|o| o.obligation() == "signed-not-refused")
            .unwrap()
    }

    #[test]
    fn a_signature_is_what_the_harness_made_not_what_the_field_says() {
        // Granted: fails unless the harness signed it validly, whatever the field holds.
        for known in [
            None,
            Some(SignatureKind::Tampered),
            Some(SignatureKind::Expired),
            Some(SignatureKind::ForeignCa),
            Some(SignatureKind::WrongSigner),
        ] {
            let t = access_case(known, DocKind::PolicyApplied);
            assert_eq!(
                judge(unsigned_never_applied(), &t),
                Verdict::Fail,
                "{known:?}"
            );
            // …and it is not a complete application whose grant counts.
            assert_eq!(
                judge(signed_not_refused(), &t),
                Verdict::NotTested,
                "{known:?}"
            );
        }
        let valid = Some(SignatureKind::Valid);
        let t = access_case(valid, DocKind::PolicyApplied);
        assert_eq!(judge(unsigned_never_applied(), &t), Verdict::NotTested);
        assert_eq!(judge(signed_not_refused(), &t), Verdict::Pass);
        // Refusing a validly signed application fails; refusing an expired one passes.
        let t = access_case(valid, DocKind::Rejection);
        assert_eq!(judge(signed_not_refused(), &t), Verdict::Fail);
        let t = access_case(Some(SignatureKind::Expired), DocKind::Rejection);
        assert_eq!(judge(unsigned_never_applied(), &t), Verdict::Pass);
    }

    #[test]
    fn a_version_is_a_product_and_numbered_components() {
        for ok in [
            "nginx 1.24.0",
            "nginx/1.24.0",
            "Apache 2.4",
            "IIS 10.0",
            "Apache httpd v2.4.62",
        ] {
            assert_eq!(names_a_version(ok), None, "{ok}");
        }
        for bad in [
            "Apache",
            "nginx 1",
            "1.24.0",
            "Windows 2019",
            "k8s",
            "nginx latest",
            "",
            "nginx 1..2",
        ] {
            assert!(names_a_version(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn a_ground_is_named_by_its_field_or_value_in_any_case_or_spelling() {
        let g = Ground {
            what: String::new(),
            names: vec!["reserve-channel-gbps".into(), "Aralsk, Abai 12".into()],
        };
        assert!(named_in(&g, &["Reserve channel GBPS is missing".into()]));
        assert!(named_in(&g, &["no equipment at aralsk, abai 12".into()]));
        assert!(!named_in(&g, &["the application is not acceptable".into()]));
        assert!(!named_in(&g, &[]));
    }
}
