//! The STS desk that opens Internet access on UGIA at Users' request: the yearly lists of
//! resource categories and network addresses (ugia-15), requests for VPN and other risky
//! services as EDS-signed APS applications (ugia-15-2), applied within 10 working days
//! (ugia-16).

use jiff::Timestamp;
use qaqpa_sim::clock;
use qaqpa_sim::packetnet::PolicyAct;
use qaqpa_sim::target::{Clerk, Defect, Desk, DeskEnv};
use qaqpa_sim::trace::{Channel, DocKind, Document};

use crate::dataplane::Class;
use crate::dataplane::sigs::parse_prefix;

pub const DEFECTS: &[Defect] = &[
    Defect {
        id: "ugia-access-desk-refuses-everything",
        system: "ugia",
        description: "the STS access desk refuses every access application, signed and complete ones too, with boilerplate for reasons",
        clauses: &["ugia-15-2", "ugia-16"],
        warns: &[],
    },
    Defect {
        id: "ugia-policy-late",
        system: "ugia",
        description: "the STS applies requested access policies and tells the User on the 11th working day after receipt",
        clauses: &["ugia-16"],
        warns: &[],
    },
    Defect {
        id: "ugia-unsigned-request-granted",
        system: "ugia",
        description: "the STS opens access on requests that are not EDS-signed or do not come through the APS",
        clauses: &["ugia-15-2"],
        warns: &[],
    },
    Defect {
        id: "ugia-notice-before-policy",
        system: "ugia",
        description: "the STS tells the User its access is applied, but opens it on the gateway only 3 working days later",
        clauses: &["ugia-16"],
        warns: &[],
    },
];

/// The default-blocked classes an application's category list asks to open (ureq-134-2).
/// Site categories are open anyway; a VPN opens only as a declared channel (ureq-133.4), and
/// malicious resources never.
fn exempted_classes(app: &Document) -> Vec<Class> {
    app.fields
        .get("categories")
        .map(|v| {
            v.split([';', ','])
                .filter_map(|c| Class::parse(c.trim()))
                .filter(|c| c.blocked_by_default() && !matches!(c, Class::Vpn | Class::Malicious))
                .collect()
        })
        .unwrap_or_default()
}

pub struct AccessDesk {
    clerk: Clerk,
}

impl AccessDesk {
    pub fn new(seed: u64, defects: &[&'static str]) -> Self {
        AccessDesk {
            clerk: Clerk::new(seed, "ugia-access-desk", defects),
        }
    }

    fn problems(&self, app: &Document) -> Vec<String> {
        let mut problems: Vec<String> = ["categories", "addresses"]
            .iter()
            .filter(|f| app.fields.get(**f).is_none_or(|v| v.trim().is_empty()))
            .map(|f| format!("the application gives no {f} (ugia-15)"))
            .collect();
        if !self.clerk.has("ugia-unsigned-request-granted") {
            if app
                .fields
                .get("eds-signature")
                .is_none_or(|v| v.trim().is_empty())
            {
                problems.push(
                    "eds-signature is missing: the application is not signed with the legal entity's EDS (ugia-15-2)".into(),
                );
            }
            if app.channel != Channel::Aps {
                problems
                    .push("access requests are accepted only through the APS (ugia-15-2)".into());
            }
        }
        problems
    }

    /// Opens on the gateway what the notice sent at `at` says is applied: the classes asked
    /// for, from the addresses listed.
    fn open(&mut self, at: Timestamp, app: &Document, env: &mut DeskEnv<'_>) {
        let opened = if self.clerk.has("ugia-notice-before-policy") {
            env.answer_at(&mut self.clerk, clock::local(at).date(), 3)
        } else {
            Some(at)
        };
        let Some(opened) = opened else {
            return;
        };
        let sources: Vec<String> = app
            .fields
            .get("addresses")
            .map(|a| {
                a.split([';', ',', ' '])
                    .filter(|p| parse_prefix(p).is_some())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        for class in exempted_classes(app) {
            env.apply_at(
                opened,
                PolicyAct::Exemption {
                    organisation: app.from.clone(),
                    class: class.as_str().to_string(),
                    sources: sources.clone(),
                },
            );
        }
    }
}

impl Desk for AccessDesk {
    fn party(&self) -> &str {
        "STS"
    }

    fn receive(&mut self, now: Timestamp, app: &Document, env: &mut DeskEnv<'_>) {
        if app.doc != DocKind::AccessApplication {
            return;
        }
        let mut problems = self.problems(app);
        self.clerk
            .refuse_anyway("ugia-access-desk-refuses-everything", &mut problems);
        let working_days = if problems.is_empty() && self.clerk.has("ugia-policy-late") {
            11
        } else {
            self.clerk.draw(2..=10)
        };
        let Some(at) = env.answer_at(&mut self.clerk, clock::local(now).date(), working_days)
        else {
            return; // no calendar for that year: the desk cannot plan, and the oracle says why
        };
        let (doc, reasons) = if problems.is_empty() {
            (DocKind::PolicyApplied, Vec::new())
        } else {
            (DocKind::Rejection, problems)
        };
        let fields = ["categories", "addresses"]
            .iter()
            .filter_map(|k| app.fields.get(*k).map(|v| (k.to_string(), v.clone())))
            .collect();
        env.send_at(at, app.answer(doc, Channel::Aps, fields, reasons));
        if doc == DocKind::PolicyApplied {
            self.open(at, app, env);
        }
    }
}
