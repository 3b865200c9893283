//! The STS desk for the additional protection services: the web-application firewall
//! (ugia-17, Appendix 3) and web-page defacement protection (ugia-18, Appendix 4).

use std::collections::BTreeMap;

use jiff::Timestamp;
use qaqpa_sim::clock;
use qaqpa_sim::target::{Clerk, Defect, Desk, DeskEnv};
use qaqpa_sim::trace::{Channel, DocKind, Document};

pub const DEFECTS: &[Defect] = &[
    Defect {
        id: "ugia-protection-early-resubmission-processed",
        system: "ugia",
        description: "the STS protection desk takes up an application resubmitted less than 30 calendar days after its refusal as a new one",
        clauses: &["ugia-17", "ugia-18"],
        warns: &[],
    },
    Defect {
        id: "ugia-defacement-connection-late",
        system: "ugia",
        description: "the STS protection desk connects defacement protection on the 11th working day after receipt",
        clauses: &["ugia-18"],
        warns: &[],
    },
    Defect {
        id: "ugia-protection-desk-refuses-everything",
        system: "ugia",
        description: "the STS protection desk refuses every WAF and defacement-protection application, complete ones too, with boilerplate for reasons",
        clauses: &["ugia-17", "ugia-18", "ugia-app3", "ugia-app4"],
        warns: &[],
    },
    Defect {
        id: "ugia-waf-connection-late",
        system: "ugia",
        description: "the STS connects resources to the WAF on the 11th working day after the application",
        clauses: &["ugia-17"],
        warns: &[],
    },
    Defect {
        id: "ugia-protection-rejection-without-reasons",
        system: "ugia",
        description: "the STS refuses WAF and defacement-protection applications without giving reasons",
        clauses: &["ugia-17", "ugia-18"],
        warns: &[],
    },
    Defect {
        id: "ugia-waf-version-unchecked",
        system: "ugia",
        description: "the STS accepts a WAF application whose web server is named without its version",
        clauses: &["ugia-app3"],
        warns: &[],
    },
    Defect {
        id: "ugia-defacement-access-unchecked",
        system: "ugia",
        description: "the STS connects defacement protection without FTP/SSH access to the resource's root directory",
        clauses: &["ugia-app4"],
        warns: &[],
    },
];

/// Appendix 3: what a WAF application must give. Balancer and application server are
/// "if available"; the certificate and key only when the resource uses HTTPS.
const WAF_FIELDS: &[&str] = &[
    "domain",
    "ip",
    "telecom-operator",
    "web-server",
    "dbms",
    "cms",
    "contacts",
];
/// Appendix 4 adds access to the root directory and the credentials for it.
const DEFACEMENT_FIELDS: &[&str] = &[
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

/// Telecom operators that bring resources to the Internet through UGIA: protection is only
/// technically possible for those.
const UGIA_OPERATORS: &[&str] = &["Kazakhtelecom", "Transtelecom", "Kcell", "KazTransCom"];

pub struct ProtectionDesk {
    clerk: Clerk,
    /// When each applicant was last refused each service (ugia-17, ugia-18: resubmission
    /// after 30 calendar days).
    refused: BTreeMap<(String, DocKind), Timestamp>,
    /// The resources connected to defacement protection, shared with the guard.
    defacement: crate::defacement::Ledger,
}

impl ProtectionDesk {
    pub fn new(seed: u64, defects: &[&'static str]) -> Self {
        ProtectionDesk {
            clerk: Clerk::new(seed, "ugia-protection-desk", defects),
            refused: BTreeMap::new(),
            defacement: Default::default(),
        }
    }

    /// Shares the desk's record of defacement connections with the guard of the scenario.
    pub fn with_ledger(mut self, ledger: crate::defacement::Ledger) -> Self {
        self.defacement = ledger;
        self
    }

    /// An application of the same service from the same User less than 30 calendar days
    /// after its refusal is not taken up.
    fn early_resubmission(&self, now: Timestamp, app: &Document) -> Option<String> {
        if self
            .clerk
            .has("ugia-protection-early-resubmission-processed")
        {
            return None;
        }
        let at = *self.refused.get(&(app.from.clone(), app.doc))?;
        let since = clock::local(at).date();
        let today = clock::local(now).date();
        let allowed = since.checked_add(jiff::Span::new().days(30)).ok()?;
        (today < allowed).then(|| {
            format!(
                "resubmitted {} calendar day(s) after the rejection of {since}; an application may be resubmitted after 30 calendar days (from {allowed})",
                (today - since).get_days()
            )
        })
    }

    fn problems(&self, app: &Document) -> Vec<String> {
        let fields = if app.doc == DocKind::WafApplication {
            WAF_FIELDS
        } else {
            DEFACEMENT_FIELDS
        };
        let unchecked_access = self.clerk.has("ugia-defacement-access-unchecked");
        let mut problems: Vec<String> = fields
            .iter()
            .filter(|f| !(unchecked_access && matches!(**f, "root-access" | "credentials")))
            .filter(|f| app.fields.get(**f).is_none_or(|v| v.trim().is_empty()))
            .map(|f| format!("{f} is missing from the application"))
            .collect();
        if app.fields.get("https").is_some_and(|v| v == "yes")
            && app
                .fields
                .get("tls-certificate")
                .is_none_or(|v| v.trim().is_empty())
        {
            problems.push("the resource uses HTTPS but no certificate and key are given".into());
        }
        if let Some(ws) = app.fields.get("web-server")
            && !ws.trim().is_empty()
            && !ws.chars().any(|c| c.is_ascii_digit())
            && !self.clerk.has("ugia-waf-version-unchecked")
        {
            problems.push(format!(
                "the web server `{ws}` is named without its version, which the form makes mandatory"
            ));
        }
        if let Some(op) = app.fields.get("telecom-operator")
            && !op.trim().is_empty()
            && !UGIA_OPERATORS.iter().any(|o| op.contains(o))
        {
            problems.push(format!("`{op}` does not connect the resource to the Internet through UGIA, so it cannot be protected there"));
        }
        problems
    }
}

impl Desk for ProtectionDesk {
    fn party(&self) -> &str {
        "STS"
    }

    fn receive(&mut self, now: Timestamp, app: &Document, env: &mut DeskEnv<'_>) {
        if !matches!(
            app.doc,
            DocKind::WafApplication | DocKind::DefacementApplication
        ) {
            return;
        }
        let mut problems = self.problems(app);
        problems.extend(self.early_resubmission(now, app));
        self.clerk
            .refuse_anyway("ugia-protection-desk-refuses-everything", &mut problems);
        let refuse = !problems.is_empty();
        let late = match app.doc {
            DocKind::WafApplication => self.clerk.has("ugia-waf-connection-late"),
            _ => self.clerk.has("ugia-defacement-connection-late"),
        };
        let working_days = if !refuse && late {
            11
        } else {
            self.clerk.draw(2..=10)
        };
        let Some(at) = env.answer_at(&mut self.clerk, clock::local(now).date(), working_days)
        else {
            return; // no calendar for that year: the desk cannot plan, and the oracle says why
        };
        if refuse {
            self.refused.insert((app.from.clone(), app.doc), at);
        }
        let (doc, reasons) = if refuse {
            (
                DocKind::Rejection,
                if self.clerk.has("ugia-protection-rejection-without-reasons") {
                    Vec::new()
                } else {
                    problems
                },
            )
        } else {
            (DocKind::ConnectionNotice, Vec::new())
        };
        let mut fields: BTreeMap<String, String> = app
            .fields
            .get("domain")
            .map(|d| [("domain".to_string(), d.clone())].into())
            .unwrap_or_default();
        if !refuse && app.doc == DocKind::DefacementApplication {
            // The connection notice declares the detection interval the guard keeps.
            let interval = crate::defacement::CHECK_INTERVAL;
            fields.insert(
                crate::defacement::CHECK_INTERVAL_FIELD.to_string(),
                interval.as_secs().to_string(),
            );
            if let Some(domain) = app.fields.get("domain") {
                self.defacement
                    .borrow_mut()
                    .push(crate::defacement::Protected {
                        domain: domain.clone(),
                        case: app.case.clone(),
                        user: app.from.clone(),
                        from: at,
                        interval,
                    });
            }
        }
        env.send_at(at, app.answer(doc, Channel::Aps, fields, reasons));
    }
}
