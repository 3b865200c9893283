//! "The application must carry these data, and come by these channels": an application that
//! does not must never be granted (ugia-app3, ugia-app4, ugia-15-2, ugem-7, ugem-app).

use qaqpa_reports::{Judgement, Verdict};
use qaqpa_sim::trace::{Channel, DocKind, Document, Trace};

use super::{CaseVerdict, Oracle, OracleCtx, answers_in_case, judge_applications, seen};

/// What is wrong with a datum's value, or `None` if nothing is.
pub type Rule = fn(&str) -> Option<String>;

/// Appendices 3 and 4: a product "with indication of the version" ("Apache 2.4.62").
pub fn names_a_version(value: &str) -> Option<String> {
    (!value.chars().any(|c| c.is_ascii_digit())).then(|| "without a version".to_string())
}

/// Appendix 1: bandwidth "in units of 1 Gbit/s, minimum 1 Gbit/s".
pub fn whole_gbits(value: &str) -> Option<String> {
    match value.trim().parse::<u32>() {
        Ok(n) if n >= 1 => None,
        _ => Some("is not a whole number of Gbit/s of at least 1".to_string()),
    }
}

pub struct FormCheck {
    pub clause: &'static str,
    pub describe: &'static str,
    /// The kinds of application that use this form.
    pub applications: &'static [DocKind],
    /// Data the form makes mandatory.
    pub required: &'static [&'static str],
    /// Rules on the values of data that are given: `(datum, rule)`, where the rule says what is
    /// wrong with a value, if anything.
    pub rules: &'static [(&'static str, Rule)],
    /// The channels the rules accept the application by; empty where they name none.
    pub channels: &'static [Channel],
    /// The answer that grants what was asked.
    pub grant: DocKind,
    /// Whether a refusal must name each missing datum (so the applicant can mend the form).
    pub refusal_names_missing: bool,
}

/// What is wrong with an application: the data it lacks, and the other faults.
struct Deficiency {
    missing: Vec<&'static str>,
    faults: Vec<String>,
}

impl Deficiency {
    fn is_empty(&self) -> bool {
        self.missing.is_empty() && self.faults.is_empty()
    }

    fn describe(&self) -> String {
        let mut all: Vec<String> = self.missing.iter().map(|f| format!("no {f}")).collect();
        all.extend(self.faults.iter().cloned());
        all.join(", ")
    }
}

impl FormCheck {
    fn deficiency(&self, app: &Document) -> Deficiency {
        let missing = self
            .required
            .iter()
            .copied()
            .filter(|f| app.fields.get(*f).is_none_or(|v| v.trim().is_empty()))
            .collect();
        let mut faults = Vec::new();
        for (f, rule) in self.rules {
            if let Some(v) = app.fields.get(*f).filter(|v| !v.trim().is_empty())
                && let Some(fault) = rule(v)
            {
                faults.push(format!("{f} `{v}` {fault}"));
            }
        }
        if !self.channels.is_empty() && !self.channels.contains(&app.channel) {
            let accepted: Vec<&str> = self.channels.iter().map(|c| c.as_str()).collect();
            faults.push(format!(
                "arrival by {} instead of {}",
                app.channel.as_str(),
                accepted.join(" or ")
            ));
        }
        Deficiency { missing, faults }
    }
}

impl Oracle for FormCheck {
    fn clause(&self) -> &'static str {
        self.clause
    }

    fn describe(&self) -> &'static str {
        self.describe
    }

    fn judge(&self, ctx: &OracleCtx<'_>, trace: &Trace) -> Judgement {
        judge_applications(
            self.clause,
            trace,
            self.applications,
            |docs, i, obs, app| {
                let case = &app.case;
                let wrong = self.deficiency(app);
                let mut evidence = vec![seen(ctx, obs, app)];
                let Some((o, d)) = answers_in_case(docs, i, app.doc).next() else {
                    return CaseVerdict {
                        verdict: Verdict::NotTested,
                        finding: format!("case {case}: no answer observed"),
                        evidence,
                    };
                };
                evidence.push(seen(ctx, o, d));
                let unnamed: Vec<&str> = wrong
                    .missing
                    .iter()
                    .copied()
                    .filter(|f| !d.reasons.iter().any(|r| r.contains(f)))
                    .collect();
                let (verdict, finding) = if wrong.is_empty() {
                    (
                        Verdict::Pass,
                        format!(
                            "case {case}: a proper application, answered {}",
                            d.doc.as_str()
                        ),
                    )
                } else if d.doc == self.grant {
                    (
                        Verdict::Fail,
                        format!(
                            "case {case}: {} although the application has {}",
                            d.doc.as_str(),
                            wrong.describe()
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
                            wrong.describe()
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
