//! The STS desk that connects departmental mail systems to UGEM (ugem-7 to ugem-11).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::rc::Rc;

use jiff::Timestamp;
use qaqpa_sim::clock;
use qaqpa_sim::target::{Clerk, Desk, DeskEnv};
use qaqpa_sim::trace::{Channel, DocKind, Document};

/// The applicant kinds ugem-2 names.
const ELIGIBLE: &[&str] = &[
    "state-body",
    "local-self-government",
    "state-legal-entity",
    "quasi-public",
    "critical-ict-owner",
];

/// What the desk configured on the relay: a mail system connected from an instant, and
/// disconnected from another. The relay of the same scenario reads it (the reference's
/// operator and its gateway share it; the harness never sees it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registered {
    pub domain: String,
    pub server: IpAddr,
    pub owner: String,
    pub from: Timestamp,
    pub until: Option<Timestamp>,
}

pub type Ledger = Rc<RefCell<Vec<Registered>>>;

/// One ledger per scenario (by its seed), for the life of one run of the reference.
#[derive(Debug, Clone, Default)]
pub struct Ledgers(Rc<RefCell<BTreeMap<u64, Ledger>>>);

impl Ledgers {
    pub fn get(&self, seed: u64) -> Ledger {
        self.0.borrow_mut().entry(seed).or_default().clone()
    }
}

/// The owner's mailbox: the first e-mail address among the contacts, else postmaster.
fn owner_of(app: &Document, domain: &str) -> String {
    app.fields
        .get("contacts")
        .and_then(|c| {
            c.split(|ch: char| ch.is_whitespace() || ch == ',' || ch == ';')
                .find(|w| w.contains('@'))
                .map(|w| {
                    w.trim_matches(|ch: char| "<>()\"'".contains(ch))
                        .to_string()
                })
        })
        .unwrap_or_else(|| format!("postmaster@{domain}"))
}

pub struct ConnectionDesk {
    clerk: Clerk,
    /// When each applicant was last refused (ugem-10: resubmission after 30 calendar days).
    refused: BTreeMap<String, Timestamp>,
    ledger: Ledger,
}

/// The Appendix form's fields (ugem-app): the mail domain, its owner, the mail server's IP
/// address, and the technical specialists' contacts.
pub const FORM_FIELDS: &[&str] = &["domain", "domain-owner", "server-ip", "contacts"];

impl ConnectionDesk {
    pub fn new(seed: u64, defects: &[&'static str]) -> Self {
        ConnectionDesk {
            clerk: Clerk::new(seed, "ugem-connection-desk", defects),
            refused: BTreeMap::new(),
            ledger: Ledger::default(),
        }
    }

    /// Registers connections in (and removes disconnections from) `ledger`, which the
    /// scenario's relay reads.
    pub fn with_ledger(mut self, ledger: Ledger) -> Self {
        self.ledger = ledger;
        self
    }

    fn problems(&self, now: Timestamp, app: &Document) -> Vec<String> {
        let mut problems = Vec::new();
        if !matches!(app.channel, Channel::Aps | Channel::OfficialLetter)
            && !self.clerk.has("ugem-accepts-any-channel")
        {
            problems.push(format!(
                "the application came by {}; applications arrive through the APS (support.sts.kz) or by official letter (ugem-7)",
                match app.channel {
                    Channel::Email => "e-mail",
                    Channel::Portal => "the portal",
                    _ => "another channel",
                }
            ));
        }
        if let Some(&at) = self.refused.get(&app.from)
            && !self.clerk.has("ugem-early-resubmission-processed")
        {
            let since = clock::local(at).date();
            let today = clock::local(now).date();
            let days = (today - since).get_days();
            if today
                < since
                    .checked_add(jiff::Span::new().days(30))
                    .unwrap_or(since)
            {
                problems.push(format!(
                    "resubmitted {days} calendar day(s) after the rejection of {since}; an application may be resubmitted after 30 calendar days (ugem-10)"
                ));
            }
        }
        if !self.clerk.has("ugem-accepts-incomplete-form") {
            for field in FORM_FIELDS {
                if app.fields.get(*field).is_none_or(|v| v.trim().is_empty()) {
                    problems.push(format!(
                        "{field} is missing from the application (Appendix)"
                    ));
                }
            }
            if let Some(ip) = app.fields.get("server-ip")
                && !ip.trim().is_empty()
                && ip.trim().parse::<IpAddr>().is_err()
            {
                problems.push(format!("server-ip `{ip}` is not an IP address"));
            }
        }
        if !self.clerk.has("ugem-skips-eligibility-check") {
            let kind = app
                .fields
                .get("applicant-kind")
                .map(String::as_str)
                .unwrap_or("");
            if !ELIGIBLE.contains(&kind) {
                problems.push(format!("the applicant's kind `{kind}` is not one UGEM serves (state bodies, local self-government, state legal entities, quasi-public sector, critical ICT owners)"));
            }
        }
        problems
    }
}

impl Desk for ConnectionDesk {
    fn party(&self) -> &str {
        "STS"
    }

    fn receive(&mut self, now: Timestamp, app: &Document, env: &mut DeskEnv<'_>) {
        if app.doc == DocKind::DisconnectionRequest {
            self.disconnect(now, app, env);
            return;
        }
        if app.doc != DocKind::MailConnectionApplication {
            return;
        }
        let mut problems = self.problems(now, app);
        self.clerk
            .refuse_anyway("ugem-desk-refuses-everything", &mut problems);
        let refuse = !problems.is_empty();
        let working_days = if !refuse && self.clerk.has("ugem-connection-late")
            || refuse && self.clerk.has("ugem-rejection-late")
        {
            6
        } else {
            self.clerk.draw(1..=5)
        };
        let Some(at) = env.answer_at(&mut self.clerk, clock::local(now).date(), working_days)
        else {
            return; // no calendar for that year: the desk cannot plan, and the oracle says why
        };
        if refuse {
            self.refused.insert(app.from.clone(), at);
        }
        let (doc, fields, reasons) = if refuse {
            (
                DocKind::Rejection,
                BTreeMap::new(),
                if self.clerk.has("ugem-rejection-without-reasons") {
                    Vec::new()
                } else {
                    problems
                },
            )
        } else {
            let fields = ["domain", "server-ip"]
                .iter()
                .filter_map(|k| app.fields.get(*k).map(|v| (k.to_string(), v.clone())))
                .collect();
            if !self.clerk.has("ugem-desk-does-not-configure")
                && let (Some(domain), Some(Ok(server))) = (
                    app.fields.get("domain"),
                    app.fields
                        .get("server-ip")
                        .map(|ip| ip.trim().parse::<IpAddr>()),
                )
            {
                let domain = domain.trim().to_ascii_lowercase();
                self.ledger.borrow_mut().push(Registered {
                    owner: owner_of(app, &domain),
                    domain,
                    server,
                    from: at,
                    until: None,
                });
            }
            (DocKind::ConnectionNotice, fields, Vec::new())
        };
        env.send_at(at, app.answer(doc, Channel::Aps, fields, reasons));
    }
}

impl ConnectionDesk {
    /// ugem-11: the User is no longer of an eligible kind; the STS disconnects its mail system
    /// within the period agreed with it (`agreed-working-days`, 5 unless agreed otherwise).
    fn disconnect(&mut self, now: Timestamp, req: &Document, env: &mut DeskEnv<'_>) {
        if self.clerk.has("ugem-never-disconnects") {
            return;
        }
        let agreed = req
            .fields
            .get("agreed-working-days")
            .and_then(|v| v.trim().parse::<u32>().ok())
            .unwrap_or(5)
            .max(1);
        let days = self.clerk.draw(1..=agreed);
        let Some(at) = env.answer_at(&mut self.clerk, clock::local(now).date(), days) else {
            return; // no calendar for that year: the desk cannot plan, and the oracle says why
        };
        let fields = ["domain", "server-ip"]
            .iter()
            .filter_map(|k| req.fields.get(*k).map(|v| (k.to_string(), v.clone())))
            .collect();
        if !self.clerk.has("ugem-disconnects-on-paper-only")
            && let Some(domain) = req.fields.get("domain")
        {
            let domain = domain.trim().to_ascii_lowercase();
            for r in self.ledger.borrow_mut().iter_mut() {
                if r.domain == domain && r.until.is_none() {
                    r.until = Some(at);
                }
            }
        }
        env.send_at(
            at,
            req.answer(
                DocKind::DisconnectionNotice,
                Channel::OfficialLetter,
                fields,
                Vec::new(),
            ),
        );
    }
}
