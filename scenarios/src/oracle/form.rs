//! "The application must carry these data" (and come by this channel): an application that
//! does not must never be granted (ugia-app3, ugia-app4, ugia-15-2).

use qaqpa_reports::{Judgement, Verdict};
use qaqpa_sim::trace::{Channel, DocKind, Document, Trace};

use super::{CaseVerdict, Oracle, OracleCtx, answers_in_case, judge_applications, seen};

pub struct FormCheck {
    pub clause: &'static str,
    pub describe: &'static str,
    pub application: DocKind,
    /// Data the form makes mandatory.
    pub required: &'static [&'static str],
    /// Data that must name a version ("Apache 2.4.62", not "Apache").
    pub versioned: &'static [&'static str],
    /// The only channel the application may come by, where the rules name one.
    pub channel: Option<Channel>,
    /// The answer that grants what was asked.
    pub grant: DocKind,
}

impl FormCheck {
    fn defects(&self, app: &Document) -> Vec<String> {
        let mut out: Vec<String> = self
            .required
            .iter()
            .filter(|f| app.fields.get(**f).is_none_or(|v| v.trim().is_empty()))
            .map(|f| format!("no {f}"))
            .collect();
        for f in self.versioned {
            if let Some(v) = app.fields.get(*f)
                && !v.trim().is_empty()
                && !v.chars().any(|c| c.is_ascii_digit())
            {
                out.push(format!("{f} `{v}` without a version"));
            }
        }
        if let Some(c) = self.channel
            && app.channel != c
        {
            out.push(format!(
                "arrival by {} instead of {}",
                app.channel.as_str(),
                c.as_str()
            ));
        }
        out
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
        judge_applications(self.clause, trace, self.application, |docs, i, obs, app| {
            let case = &app.case;
            let lacks = self.defects(app);
            let mut evidence = vec![seen(ctx, obs, app)];
            let answer = answers_in_case(docs, i, self.application).next();
            match answer {
                None => CaseVerdict {
                    verdict: Verdict::NotTested,
                    finding: format!("case {case}: no answer observed"),
                    evidence,
                },
                Some((o, d)) => {
                    evidence.push(seen(ctx, o, d));
                    match (lacks.is_empty(), d.doc == self.grant) {
                        (false, true) => CaseVerdict {
                            verdict: Verdict::Fail,
                            finding: format!(
                                "case {case}: {} although the application has {}",
                                d.doc.as_str(),
                                lacks.join(", ")
                            ),
                            evidence,
                        },
                        (false, false) => CaseVerdict {
                            verdict: Verdict::Pass,
                            finding: format!(
                                "case {case}: the deficient application ({}) was not granted",
                                lacks.join(", ")
                            ),
                            evidence,
                        },
                        (true, _) => CaseVerdict {
                            verdict: Verdict::Pass,
                            finding: format!(
                                "case {case}: complete application, answered {}",
                                d.doc.as_str()
                            ),
                            evidence,
                        },
                    }
                }
            }
        })
    }
}
