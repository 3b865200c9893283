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

use qaqpa_reports::{Judgement, Verdict};
use qaqpa_sim::trace::{Channel, DocKind, Document, Event, Observation, Trace};

use super::{CaseVerdict, Oracle, OracleCtx, answers_in_case, judge_applications, seen};

/// What is wrong with a datum's value, or `None` if nothing is.
pub type Rule = fn(&str) -> Option<String>;

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
    pub required: &'static [&'static str],
    pub rules: &'static [(&'static str, Rule)],
    pub channels: &'static [Channel],
}

/// Appendix 1 (UGIA): the telecom operator's channel application; ugia-5 wants both channels.
pub const CHANNEL_APPLICATION: Form = Form {
    applications: &[DocKind::ChannelApplication],
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
    required: DEFACEMENT_DATA,
    rules: &[("web-server", names_a_version)],
    channels: &[Channel::Aps],
};

/// ugia-15, ugia-15-2: the User's EDS-signed access application through the APS.
pub const ACCESS_APPLICATION: Form = Form {
    applications: &[DocKind::AccessApplication],
    required: &["eds-signature", "categories"],
    rules: &[],
    channels: &[Channel::Aps],
};

/// The UGEM appendix and ugem-2, ugem-7: the mail-connection application.
pub const MAIL_CONNECTION_DATA: &[&str] = &["domain", "domain-owner", "server-ip", "contacts"];

pub const MAIL_CONNECTION_APPLICATION: Form = Form {
    applications: &[DocKind::MailConnectionApplication],
    required: MAIL_CONNECTION_DATA,
    rules: &[("applicant-kind", eligible_mail_applicant)],
    channels: &[Channel::Aps, Channel::OfficialLetter],
};

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

/// What is wrong with an application under `required`, `rules` and `channels`.
fn grounds_of(
    required: &[&str],
    rules: &[(&str, Rule)],
    channels: &[Channel],
    app: &Document,
) -> Vec<Ground> {
    let mut out = Vec::new();
    for f in required {
        if app.fields.get(*f).is_none_or(|v| v.trim().is_empty()) {
            out.push(Ground {
                what: format!("no {f}"),
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
    let text = normalise(&reasons.join(" "));
    ground
        .names
        .iter()
        .any(|n| !n.trim().is_empty() && text.contains(&normalise(n)))
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
                let wrong = grounds_of(self.required, self.rules, self.channels, app);
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
                    .filter(|f| app.fields.get(*f).is_none_or(|v| v.trim().is_empty()))
                    .filter(|f| {
                        !named_in(
                            &Ground {
                                what: String::new(),
                                names: vec![f.to_string()],
                            },
                            &d.reasons,
                        )
                    })
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
fn known_grounds(form: &Form, trace: &Trace, obs: &Observation, app: &Document) -> Vec<Ground> {
    let mut g = grounds_of(form.required, form.rules, form.channels, app);
    g.extend(infeasible_grounds(trace, &app.case, app));
    g.extend(early_resubmission(trace, obs, app));
    g
}

/// "The User may resubmit after 30 calendar days" (ugem-10, ugia-17, ugia-18): an application
/// sent less than 30 calendar days after a rejection addressed to the same applicant.
fn early_resubmission(trace: &Trace, obs: &Observation, app: &Document) -> Option<Ground> {
    let docs: Vec<_> = trace.documents().collect();
    let (ro, _) = docs
        .iter()
        .filter(|(o, d)| {
            o.seq < obs.seq
                && d.doc == DocKind::Rejection
                && d.to == app.from
                && super::application_of_case(&docs, &d.case, o.seq) == Some(app.doc)
        })
        .last()?;
    let since = qaqpa_sim::clock::local(ro.at).date();
    let allowed = since.checked_add(jiff::Span::new().days(30)).ok()?;
    (qaqpa_sim::clock::local(obs.at).date() < allowed).then(|| Ground {
        what: format!(
            "resubmitted before {allowed}, 30 calendar days after the rejection of {since}"
        ),
        names: vec!["resubmi".into(), "30 calendar days".into()],
    })
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
                let grounds = known_grounds(self.form, trace, obs, app);
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
                let grounds = known_grounds(self.form, trace, obs, app);
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
