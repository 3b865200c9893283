//! One oracle per clause. An oracle reads the trace, nothing else: what the probes saw, at
//! the simulated times they saw it. It never asks the system under test how it decided.

mod deadline;
mod update;

use jiff::Timestamp;
use qaqpa_reports::{Evidence, Judgement, Verdict};
use qaqpa_sim::calendar::BusinessCalendar;
use qaqpa_sim::clock;
use qaqpa_sim::trace::{DocKind, Document, Observation, Trace};

pub use deadline::AnswerDeadline;
pub use update::UpdateAfterCheck;

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
    &AnswerDeadline {
        clause: "ugem-9",
        describe: "every mail system the STS connects is connected, and the applicant notified, within 5 working days of receipt",
        trigger: DocKind::MailConnectionApplication,
        answers: &[DocKind::ConnectionNotice],
        settled_elsewhere: &[DocKind::Rejection],
        working_days: 5,
        needs_reasons: &[],
        check: None,
    },
    &AnswerDeadline {
        clause: "ugem-10",
        describe: "every mail-connection application the STS refuses is refused within 5 working days of receipt, with reasons",
        trigger: DocKind::MailConnectionApplication,
        answers: &[DocKind::Rejection],
        settled_elsewhere: &[DocKind::ConnectionNotice],
        working_days: 5,
        needs_reasons: &[DocKind::Rejection],
        check: None,
    },
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
    &UpdateAfterCheck {
        clause: "eint-45-11",
        trigger: DocKind::ServiceUpdateApplication,
        check_working_days: 3,
        update_working_days: 10,
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
        channel_word(d)
    );
    if !d.reasons.is_empty() {
        s.push_str(&format!("; reasons: {}", d.reasons.join("; ")));
    }
    s
}

fn channel_word(d: &Document) -> &'static str {
    use qaqpa_sim::trace::Channel::*;
    match d.channel {
        Aps => "APS",
        OfficialLetter => "official letter",
        Email => "e-mail",
        Portal => "portal",
    }
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
    let finding = deciding.iter().map(|c| c.finding.as_str()).collect::<Vec<_>>().join("; ");
    let mut evidence: Vec<Evidence> = deciding.into_iter().flat_map(|c| c.evidence).collect();
    evidence.sort_by_key(|e| e.at.parse::<jiff::Timestamp>().ok());
    Judgement { verdict: worst, finding, evidence }
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
