//! One oracle per clause. An oracle reads the trace, nothing else: what the probes saw, at
//! the simulated times they saw it. It never asks the system under test how it decided.

mod deadline;
mod form;
mod mail;
pub mod network;
mod ugem_desk;
mod update;

use jiff::Timestamp;
use qaqpa_reports::{Evidence, Judgement, Verdict};
use qaqpa_sim::calendar::BusinessCalendar;
use qaqpa_sim::clock;
use qaqpa_sim::trace::{Channel, DocKind, Document, Observation, Trace};

pub use deadline::AnswerDeadline;
pub use form::FormCheck;
pub use mail::{NothingLost, OnlyThroughGateway, RelayOnlyConnected, TrafficGuard};
pub use ugem_desk::{ConnectedThenFlows, Disconnection, RejectionAndResubmission};
pub use update::CompletionAfterCheck;

pub struct OracleCtx<'a> {
    pub calendar: &'a BusinessCalendar,
    pub scenario: &'a str,
    /// The scenario's last instant: a deadline after it cannot be judged.
    pub end: Timestamp,
}

pub trait Oracle: Sync {
    fn clause(&self) -> &'static str;
    /// What the oracle checks, in one sentence, for `qaqpa explain`.
    fn describe(&self) -> &'static str;
    fn judge(&self, ctx: &OracleCtx<'_>, trace: &Trace) -> Judgement;
}

const ELIGIBLE_MAIL_APPLICANTS: &[&str] = &[
    "state-body",
    "local-self-government",
    "state-legal-entity",
    "quasi-public",
    "critical-ict-owner",
];

fn ineligible_connected(application: &Document, answer: &Document) -> Option<String> {
    let kind = application
        .fields
        .get("applicant-kind")
        .map(String::as_str)
        .unwrap_or("(not stated)");
    (answer.doc == DocKind::ConnectionNotice && !ELIGIBLE_MAIL_APPLICANTS.contains(&kind)).then(
        || {
            format!(
                "connected an applicant of kind `{kind}`, which the rules (ugem-2) do not cover"
            )
        },
    )
}

static ORACLES: &[&dyn Oracle] = &[
    &FormCheck {
        clause: "eint-app4",
        describe: "a test act (for publication or connection) lacking a datum of Appendix 4 is never agreed, and the return names what is missing",
        applications: &[DocKind::PublicationTestAct, DocKind::ConnectionTestAct],
        required: &[
            "participants",
            "systems",
            "service-name",
            "service-key",
            "conclusion",
            "test-scenario",
            "decision",
            "is-test-act",
            "production-date",
        ],
        rules: &[],
        channels: &[],
        grant: DocKind::CheckPassed,
        refusal_names_missing: true,
    },
    &FormCheck {
        clause: "ugia-app1",
        describe: "a channel application that does not ask for both a main and a reserve channel in whole Gbit/s of at least 1 never receives technical specifications",
        applications: &[DocKind::ChannelApplication],
        required: &["main-channel-gbps", "reserve-channel-gbps"],
        rules: &[
            ("main-channel-gbps", form::whole_gbits),
            ("reserve-channel-gbps", form::whole_gbits),
        ],
        channels: &[],
        grant: DocKind::TechnicalSpecifications,
        refusal_names_missing: false,
    },
    &network::AppliedInForce {
        paperwork: AnswerDeadline {
            clause: "ugia-16",
            describe: "every access application (category and address lists) is applied, and the User told, within 10 working days of receipt, or refused with reasons",
            trigger: DocKind::AccessApplication,
            answers: &[DocKind::PolicyApplied, DocKind::Rejection],
            settled_elsewhere: &[],
            working_days: 10,
            needs_reasons: &[DocKind::Rejection],
            check: None,
        },
    },
    &FormCheck {
        clause: "ugia-15-2",
        describe: "an access request (VPN included) that is not EDS-signed or does not come through the APS is never applied",
        applications: &[DocKind::AccessApplication],
        required: &["eds-signature"],
        rules: &[],
        channels: &[Channel::Aps],
        grant: DocKind::PolicyApplied,
        refusal_names_missing: false,
    },
    &AnswerDeadline {
        clause: "ugia-17",
        describe: "every WAF application is answered within 10 working days of receipt: the resource connected, or a refusal with reasons",
        trigger: DocKind::WafApplication,
        answers: &[DocKind::ConnectionNotice, DocKind::Rejection],
        settled_elsewhere: &[],
        working_days: 10,
        needs_reasons: &[DocKind::Rejection],
        check: None,
    },
    &AnswerDeadline {
        clause: "ugia-18",
        describe: "every defacement-protection application is answered within 10 working days of receipt: the resource connected, or a refusal with reasons",
        trigger: DocKind::DefacementApplication,
        answers: &[DocKind::ConnectionNotice, DocKind::Rejection],
        settled_elsewhere: &[],
        working_days: 10,
        needs_reasons: &[DocKind::Rejection],
        check: None,
    },
    &FormCheck {
        clause: "ugia-app3",
        describe: "a WAF application lacking a datum of Appendix 3 (domain, IP, telecom operator, web server with its version, DBMS, CMS, contacts) is never connected",
        applications: &[DocKind::WafApplication],
        required: &[
            "domain",
            "ip",
            "telecom-operator",
            "web-server",
            "dbms",
            "cms",
            "contacts",
        ],
        rules: &[("web-server", form::names_a_version)],
        channels: &[],
        grant: DocKind::ConnectionNotice,
        refusal_names_missing: false,
    },
    &FormCheck {
        clause: "ugia-app4",
        describe: "a defacement-protection application lacking a datum of Appendix 4 (as Appendix 3, plus FTP/SSH access to the root directory and its credentials) is never connected",
        applications: &[DocKind::DefacementApplication],
        required: &[
            "domain",
            "ip",
            "telecom-operator",
            "web-server",
            "dbms",
            "cms",
            "contacts",
            "root-access",
            "credentials",
        ],
        rules: &[("web-server", form::names_a_version)],
        channels: &[],
        grant: DocKind::ConnectionNotice,
        refusal_names_missing: false,
    },
    &network::DefaultBlocking,
    &network::VpnChannelExact,
    &network::ExemptionYear,
    &network::TlsInspection,
    &network::CatalogueBlock,
    &network::ExemptionScope,
    &RelayOnlyConnected,
    &NothingLost,
    &TrafficGuard,
    &OnlyThroughGateway,
    &AnswerDeadline {
        clause: "ugia-6",
        describe: "every channel application answered with technical specifications gets them within 10 working days of receipt; an application left unanswered by then fails",
        trigger: DocKind::ChannelApplication,
        answers: &[DocKind::TechnicalSpecifications],
        settled_elsewhere: &[DocKind::Rejection],
        working_days: 10,
        needs_reasons: &[],
        check: None,
    },
    &AnswerDeadline {
        clause: "ugia-10",
        describe: "every channel application the STS refuses is refused within 10 working days of receipt, with reasons",
        trigger: DocKind::ChannelApplication,
        answers: &[DocKind::Rejection],
        settled_elsewhere: &[DocKind::TechnicalSpecifications],
        working_days: 10,
        needs_reasons: &[DocKind::Rejection],
        check: None,
    },
    &AnswerDeadline {
        clause: "ugem-8",
        describe: "every mail-connection application is decided (connected or refused) within 5 working days of receipt, and an applicant of a kind the rules do not cover is never connected",
        trigger: DocKind::MailConnectionApplication,
        answers: &[DocKind::ConnectionNotice, DocKind::Rejection],
        settled_elsewhere: &[],
        working_days: 5,
        needs_reasons: &[],
        check: Some(ineligible_connected),
    },
    &ConnectedThenFlows {
        deadline: AnswerDeadline {
            clause: "ugem-9",
            describe: "every mail system the STS connects is connected, and the applicant notified, within 5 working days of receipt",
            trigger: DocKind::MailConnectionApplication,
            answers: &[DocKind::ConnectionNotice],
            settled_elsewhere: &[DocKind::Rejection],
            working_days: 5,
            needs_reasons: &[],
            check: None,
        },
    },
    &RejectionAndResubmission {
        deadline: AnswerDeadline {
            clause: "ugem-10",
            describe: "every mail-connection application the STS refuses is refused within 5 working days of receipt, with reasons",
            trigger: DocKind::MailConnectionApplication,
            answers: &[DocKind::Rejection],
            settled_elsewhere: &[DocKind::ConnectionNotice],
            working_days: 5,
            needs_reasons: &[DocKind::Rejection],
            check: None,
        },
    },
    &FormCheck {
        clause: "ugem-7",
        describe: "a mail-connection application that arrives other than through the APS or by official letter is never answered with a connection",
        applications: &[DocKind::MailConnectionApplication],
        required: &[],
        rules: &[],
        channels: &[Channel::Aps, Channel::OfficialLetter],
        grant: DocKind::ConnectionNotice,
        refusal_names_missing: false,
    },
    &FormCheck {
        clause: "ugem-app",
        describe: "a mail-connection application missing the mail domain, the domain's owner, the mail server's IP address or the technical contacts is never connected, and its refusal names each missing field",
        applications: &[DocKind::MailConnectionApplication],
        required: &["domain", "domain-owner", "server-ip", "contacts"],
        rules: &[],
        channels: &[],
        grant: DocKind::ConnectionNotice,
        refusal_names_missing: true,
    },
    &Disconnection,
    &AnswerDeadline {
        clause: "eint-45-10",
        describe: "every service-update application is checked within 3 working days of receipt: passed, or returned for rework with reasons",
        trigger: DocKind::ServiceUpdateApplication,
        answers: &[
            DocKind::CheckPassed,
            DocKind::ReturnedForRework,
            DocKind::UpdateCompleted,
        ],
        settled_elsewhere: &[],
        working_days: 3,
        needs_reasons: &[DocKind::ReturnedForRework],
        check: None,
    },
    &CompletionAfterCheck {
        clause: "eint-45-11",
        describe: "every service update whose check passed is carried out within 10 working days: of the announced positive check, else of receipt (a warning when only the last day of the 3-day check makes it in time)",
        trigger: DocKind::ServiceUpdateApplication,
        completions: &[DocKind::UpdateCompleted],
        check_working_days: 3,
        working_days: 10,
    },
    &AnswerDeadline {
        clause: "eint-45-14",
        describe: "every connection-update application is checked within 3 working days of receipt: passed, or returned for rework with reasons",
        trigger: DocKind::ConnectionUpdateApplication,
        answers: &[
            DocKind::CheckPassed,
            DocKind::ReturnedForRework,
            DocKind::UpdateCompleted,
        ],
        settled_elsewhere: &[],
        working_days: 3,
        needs_reasons: &[DocKind::ReturnedForRework],
        check: None,
    },
    &CompletionAfterCheck {
        clause: "eint-45-15",
        describe: "every connection update whose check passed is carried out within 10 working days: of the announced positive check, else of receipt (a warning when only the last day of the 3-day check makes it in time)",
        trigger: DocKind::ConnectionUpdateApplication,
        completions: &[DocKind::UpdateCompleted],
        check_working_days: 3,
        working_days: 10,
    },
    &CompletionAfterCheck {
        clause: "eint-27",
        describe: "after the operator agrees a publication test act, the service passport is published and production access granted within 10 working days",
        trigger: DocKind::PublicationTestAct,
        completions: &[DocKind::PassportPublished, DocKind::ProductionAccessGranted],
        check_working_days: 0,
        working_days: 10,
    },
    &CompletionAfterCheck {
        clause: "eint-45",
        describe: "after the operator agrees a connection test act, the initiator gets production access within 10 working days",
        trigger: DocKind::ConnectionTestAct,
        completions: &[DocKind::ProductionAccessGranted],
        check_working_days: 0,
        working_days: 10,
    },
];

pub fn all() -> &'static [&'static dyn Oracle] {
    ORACLES
}

pub fn find(clause: &str) -> Option<&'static dyn Oracle> {
    ORACLES.iter().copied().find(|o| o.clause() == clause)
}

// ---- shared by the oracles ----

fn describe_doc(d: &Document) -> String {
    let mut s = format!(
        "{} → {}: {} (case {}, via {})",
        d.from,
        d.to,
        d.doc.as_str(),
        d.case,
        d.channel.as_str()
    );
    if !d.reasons.is_empty() {
        s.push_str(&format!("; reasons: {}", d.reasons.join("; ")));
    }
    s
}

fn seen(ctx: &OracleCtx<'_>, o: &Observation, d: &Document) -> Evidence {
    Evidence {
        scenario: ctx.scenario.to_string(),
        at: clock::display(o.at),
        probe: o.probe.clone(),
        subject: format!("case {}", d.case),
        text: describe_doc(d),
        seq: Some(o.seq),
    }
}

fn computed(ctx: &OracleCtx<'_>, at: Timestamp, case: &str, text: String) -> Evidence {
    Evidence {
        scenario: ctx.scenario.to_string(),
        at: clock::display(at),
        probe: "oracle".into(),
        subject: format!("case {case}"),
        text,
        seq: None,
    }
}

/// One case's outcome under one clause.
struct CaseVerdict {
    verdict: Verdict,
    finding: String,
    evidence: Vec<Evidence>,
}

/// A scenario's judgement: the worst case decides, and its evidence is that of the cases
/// that decided it, in time order; a scenario that exercised nothing says so.
fn combine(clause: &str, cases: Vec<CaseVerdict>) -> Judgement {
    let worst = cases.iter().map(|c| c.verdict).max_by_key(|v| v.severity());
    let Some(worst) = worst else {
        return Judgement {
            verdict: Verdict::NotTested,
            finding: format!("the trace holds no case that {clause} applies to"),
            evidence: vec![],
        };
    };
    let deciding: Vec<CaseVerdict> = cases.into_iter().filter(|c| c.verdict == worst).collect();
    let finding = deciding
        .iter()
        .map(|c| c.finding.as_str())
        .collect::<Vec<_>>()
        .join("; ");
    let mut evidence: Vec<Evidence> = deciding.into_iter().flat_map(|c| c.evidence).collect();
    evidence.sort_by_key(|e| e.at.parse::<jiff::Timestamp>().ok());
    Judgement {
        verdict: worst,
        finding,
        evidence,
    }
}

/// Judges every application of the `triggers` kinds in the trace, one case each, and combines them.
/// `judge_case` gets all documents, the index of the application, and the application.
fn judge_applications(
    clause: &str,
    trace: &Trace,
    triggers: &[DocKind],
    mut judge_case: impl FnMut(
        &[(&Observation, &Document)],
        usize,
        &Observation,
        &Document,
    ) -> CaseVerdict,
) -> Judgement {
    let docs: Vec<_> = trace.documents().collect();
    let cases = docs
        .iter()
        .enumerate()
        .filter(|(_, (_, app))| triggers.contains(&app.doc))
        .map(|(i, (obs, app))| judge_case(&docs, i, obs, app))
        .collect();
    combine(clause, cases)
}

/// The documents a desk sent in `case` after observation `after`, up to the case's next
/// application (a resubmission starts a new count).
fn answers_in_case<'t>(
    docs: &[(&'t Observation, &'t Document)],
    after: usize,
    trigger: DocKind,
) -> impl Iterator<Item = (&'t Observation, &'t Document)> {
    let (_, app) = docs[after];
    docs[after + 1..]
        .iter()
        .filter(move |(_, d)| d.case == app.case)
        .take_while(move |(_, d)| !(d.doc == trigger && d.from == app.from))
        .filter(move |(_, d)| d.from == app.to)
        .copied()
}
