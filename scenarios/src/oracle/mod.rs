//! One oracle per obligation of a clause. An oracle reads the trace, nothing else: what the
//! probes saw, at the simulated times they saw it, and what the harness itself sent and knew.
//! It never asks the system under test how it decided.

/// The accessors of an oracle whose clause, obligation and description are its fields.
macro_rules! oracle_names {
    () => {
        fn clause(&self) -> &'static str {
            self.clause
        }

        fn obligation(&self) -> &'static str {
            self.obligation
        }

        fn describe(&self) -> &'static str {
            self.describe
        }
    };
}

mod bus;
mod bus_admission;
mod bus_agreement;
mod bus_switch_off;
mod bus_topology;
mod bus_wssec;
mod bus_xsd;
mod deadline;
mod defacement;
pub mod form;
mod inspection;
mod mail;
pub mod network;
mod ports;
mod ugem_desk;
mod update;
mod web;

use jiff::Timestamp;
use qaqpa_reports::{Evidence, Judgement, Verdict};
use qaqpa_sim::calendar::BusinessCalendar;
use qaqpa_sim::clock;
use qaqpa_sim::trace::{Channel, DocKind, Document, Observation, Trace};

pub use deadline::AnswerDeadline;
pub use form::{CompleteNotRefused, FormCheck, ReasonedRefusal};
pub use mail::{GuardPart, NothingLost, RelayOnlyConnected, TrafficGuard};
pub use ugem_desk::{MailFlowsAfterConnection, NothingRelayedAfterDisconnection, ResubmissionWait};
pub use update::CompletionAfterCheck;

pub struct OracleCtx<'a> {
    pub calendar: &'a BusinessCalendar,
    pub scenario: &'a str,
    /// The scenario's last instant: a deadline after it cannot be judged.
    pub end: Timestamp,
}

/// Judges one obligation of one clause over a scenario's trace.
pub trait Oracle: Sync {
    fn clause(&self) -> &'static str;
    /// The obligation of the clause's catalogue entry that this oracle judges.
    fn obligation(&self) -> &'static str;
    /// What the oracle checks, in one sentence, for `qaqpa explain`.
    fn describe(&self) -> &'static str;
    fn judge(&self, ctx: &OracleCtx<'_>, trace: &Trace) -> Judgement;
}

/// What every refusal's reasons are held to.
const REASONS: &str = "every refusal or return names each ground the harness knows of (missing or faulty data, wrong channel, applicant kind, the impossibility the scenario states); a refusal of an application the harness knows complete and feasible fails";

/// The working days of an agreed period when the request states none (ugem-11).
pub const AGREED_WORKING_DAYS: u32 = 5;

static ORACLES: &[&dyn Oracle] = &[
    // ---- ugia: channels (Appendix 1, 2) ----
    &AnswerDeadline {
        clause: "ugia-6",
        obligation: "specifications-in-time",
        describe: "every channel application answered with technical specifications gets them within 10 working days of receipt; an application left unanswered by then fails",
        trigger: DocKind::ChannelApplication,
        answers: &[DocKind::TechnicalSpecifications],
        settled_elsewhere: &[DocKind::Rejection],
        working_days: 10,
    },
    &AnswerDeadline {
        clause: "ugia-10",
        obligation: "refused-in-time",
        describe: "every channel application the STS refuses is refused within 10 working days of receipt",
        trigger: DocKind::ChannelApplication,
        answers: &[DocKind::Rejection],
        settled_elsewhere: &[DocKind::TechnicalSpecifications],
        working_days: 10,
    },
    &ReasonedRefusal {
        clause: "ugia-10",
        obligation: "reasons-name-the-cause",
        describe: REASONS,
        form: &form::CHANNEL_APPLICATION,
    },
    &FormCheck {
        clause: "ugia-app1",
        obligation: "deficient-never-granted",
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
    &CompleteNotRefused {
        clause: "ugia-app1",
        obligation: "complete-not-refused",
        describe: "a complete channel application for a point the harness knows UGIA reaches is not refused",
        form: &form::CHANNEL_APPLICATION,
    },
    // ---- ugia: access lists (15-1, 15-2, 16) ----
    &FormCheck {
        clause: "ugia-15-2",
        obligation: "unsigned-never-applied",
        describe: "an access request (VPN included) that the harness did not sign validly (unsigned, altered after signing, an expired certificate, a foreign CA's, another legal entity's) or that does not come through the APS is never applied",
        applications: &[DocKind::AccessApplication],
        required: &[form::EDS_SIGNATURE],
        rules: &[],
        channels: &[Channel::Aps],
        grant: DocKind::PolicyApplied,
        refusal_names_missing: false,
    },
    &CompleteNotRefused {
        clause: "ugia-15-2",
        obligation: "signed-not-refused",
        describe: "an access request through the APS with its category list, which the harness signed validly (the applicant's NCA RK certificate, valid when sent, over the application as sent), is not refused",
        form: &form::ACCESS_APPLICATION,
    },
    &AnswerDeadline {
        clause: "ugia-16",
        obligation: "applied-in-time",
        describe: "every access application (category and address lists) is applied, and the User told, within 10 working days of receipt, or refused",
        trigger: DocKind::AccessApplication,
        answers: &[DocKind::PolicyApplied, DocKind::Rejection],
        settled_elsewhere: &[],
        working_days: 10,
    },
    &ReasonedRefusal {
        clause: "ugia-16",
        obligation: "reasons-name-the-cause",
        describe: REASONS,
        form: &form::ACCESS_APPLICATION,
    },
    &network::PolicyInForce,
    &network::ExemptionYear,
    // ---- ugia: protection services (17, 18, Appendices 3, 4) ----
    &AnswerDeadline {
        clause: "ugia-17",
        obligation: "answered-in-time",
        describe: "every WAF application is answered within 10 working days of receipt: the resource connected, or a refusal",
        trigger: DocKind::WafApplication,
        answers: &[DocKind::ConnectionNotice, DocKind::Rejection],
        settled_elsewhere: &[],
        working_days: 10,
    },
    &ReasonedRefusal {
        clause: "ugia-17",
        obligation: "reasons-name-the-cause",
        describe: REASONS,
        form: &form::WAF_APPLICATION,
    },
    &ResubmissionWait {
        clause: "ugia-17",
        obligation: "resubmission-not-before-30-days",
        application: DocKind::WafApplication,
        grant: DocKind::ConnectionNotice,
    },
    &web::AttacksBlocked,
    &AnswerDeadline {
        clause: "ugia-18",
        obligation: "answered-in-time",
        describe: "every defacement-protection application is answered within 10 working days of receipt: the resource connected, or a refusal",
        trigger: DocKind::DefacementApplication,
        answers: &[DocKind::ConnectionNotice, DocKind::Rejection],
        settled_elsewhere: &[],
        working_days: 10,
    },
    &ReasonedRefusal {
        clause: "ugia-18",
        obligation: "reasons-name-the-cause",
        describe: REASONS,
        form: &form::DEFACEMENT_APPLICATION,
    },
    &ResubmissionWait {
        clause: "ugia-18",
        obligation: "resubmission-not-before-30-days",
        application: DocKind::DefacementApplication,
        grant: DocKind::ConnectionNotice,
    },
    &defacement::PageRestored,
    &FormCheck {
        clause: "ugia-app3",
        obligation: "deficient-never-granted",
        describe: "a WAF application lacking a datum of Appendix 3 (domain, IP, telecom operator, web server with its version, DBMS, CMS, contacts) is never connected",
        applications: &[DocKind::WafApplication],
        required: form::WAF_DATA,
        rules: &[("web-server", form::names_a_version)],
        channels: &[],
        grant: DocKind::ConnectionNotice,
        refusal_names_missing: false,
    },
    &CompleteNotRefused {
        clause: "ugia-app3",
        obligation: "complete-not-refused",
        describe: "a complete WAF application for a resource the harness knows is reached through UGIA is not refused",
        form: &form::WAF_APPLICATION,
    },
    &FormCheck {
        clause: "ugia-app4",
        obligation: "deficient-never-granted",
        describe: "a defacement-protection application lacking a datum of Appendix 4 (as Appendix 3, plus FTP/SSH access to the root directory and its credentials) is never connected",
        applications: &[DocKind::DefacementApplication],
        required: form::DEFACEMENT_DATA,
        rules: &[("web-server", form::names_a_version)],
        channels: &[],
        grant: DocKind::ConnectionNotice,
        refusal_names_missing: false,
    },
    &CompleteNotRefused {
        clause: "ugia-app4",
        obligation: "complete-not-refused",
        describe: "a complete defacement-protection application for a resource the harness knows is reached through UGIA is not refused",
        form: &form::DEFACEMENT_APPLICATION,
    },
    // ---- ugia: the packet path ----
    &network::DefaultBlocking,
    &network::VpnChannelExact,
    // ---- ugia: TLS inspection (20, 21, 23), from the harness's TLS ends ----
    &inspection::ExemptPassedThrough,
    &inspection::OtherInspected,
    &inspection::RootValidAndAnnounced,
    &inspection::RootInstalled,
    &network::CatalogueBlock(network::CataloguePart::NoticeListsSources),
    &network::CatalogueBlock(network::CataloguePart::AccessKeptUntilTerm),
    &network::CatalogueBlock(network::CataloguePart::BlockedAfterTerm),
    &network::CatalogueBlock(network::CataloguePart::UnblockedAfterUpdate),
    &network::ExemptionScope,
    &network::channels::Failover,
    &network::channels::AvailableUnderFaults,
    &network::channels::PolicyKeptAcrossRestart,
    // ---- ugem ----
    &RelayOnlyConnected,
    &NothingLost,
    &TrafficGuard(GuardPart::GatewayNeverListed),
    &TrafficGuard(GuardPart::OffenderSuspended),
    &TrafficGuard(GuardPart::OwnerNotified),
    &TrafficGuard(GuardPart::OthersKeepFlowing),
    &network::KeptOffTheInternet {
        clause: "ureq-128.6",
        obligation: "no-direct-external-smtp",
        describe: "no frame of a departmental mail server's SMTP session to an Internet exchanger reaches an outside port; the e-mail gateway's own SMTP sessions carry their whole conversation",
        kept: (
            "departmental-mail-server",
            "the departmental mail server's SMTP session",
        ),
        crosses: ("mail-gateway", "the e-mail gateway's own SMTP session"),
    },
    &ports::OnlyDeclaredPortsOpen,
    &network::KeptOffTheInternet {
        clause: "ureq-139.8",
        obligation: "inner-never-on-internet",
        describe: "no frame of any flow from an inner-circuit LAN, of any protocol, reaches an outside port; flows from an outer-circuit LAN cross whole",
        kept: ("inner-circuit", "the inner-circuit LAN's flow"),
        crosses: ("outer-circuit", "the outer-circuit LAN's flow"),
    },
    &FormCheck {
        clause: "ugem-7",
        obligation: "other-channels-never-connected",
        describe: "a mail-connection application that arrives other than through the APS or by official letter is never answered with a connection",
        applications: &[DocKind::MailConnectionApplication],
        required: &[],
        rules: &[],
        channels: &[Channel::Aps, Channel::OfficialLetter],
        grant: DocKind::ConnectionNotice,
        refusal_names_missing: false,
    },
    &CompleteNotRefused {
        clause: "ugem-7",
        obligation: "complete-not-refused",
        describe: "a complete mail-connection application of an eligible applicant, through the APS or by official letter, is not refused",
        form: &form::MAIL_CONNECTION_APPLICATION,
    },
    &AnswerDeadline {
        clause: "ugem-8",
        obligation: "decided-in-time",
        describe: "every mail-connection application is decided (connected or refused) within 5 working days of receipt",
        trigger: DocKind::MailConnectionApplication,
        answers: &[DocKind::ConnectionNotice, DocKind::Rejection],
        settled_elsewhere: &[],
        working_days: 5,
    },
    &FormCheck {
        clause: "ugem-8",
        obligation: "ineligible-never-connected",
        describe: "an applicant of a kind the rules do not cover (ugem-2) is never connected",
        applications: &[DocKind::MailConnectionApplication],
        required: &["applicant-kind"],
        rules: &[("applicant-kind", form::eligible_mail_applicant)],
        channels: &[],
        grant: DocKind::ConnectionNotice,
        refusal_names_missing: false,
    },
    &AnswerDeadline {
        clause: "ugem-9",
        obligation: "connected-in-time",
        describe: "every mail system the STS connects is connected, and the applicant notified, within 5 working days of receipt",
        trigger: DocKind::MailConnectionApplication,
        answers: &[DocKind::ConnectionNotice],
        settled_elsewhere: &[DocKind::Rejection],
        working_days: 5,
    },
    &MailFlowsAfterConnection,
    &AnswerDeadline {
        clause: "ugem-10",
        obligation: "refused-in-time",
        describe: "every mail-connection application the STS refuses is refused within 5 working days of receipt",
        trigger: DocKind::MailConnectionApplication,
        answers: &[DocKind::Rejection],
        settled_elsewhere: &[DocKind::ConnectionNotice],
        working_days: 5,
    },
    &ReasonedRefusal {
        clause: "ugem-10",
        obligation: "reasons-name-the-cause",
        describe: REASONS,
        form: &form::MAIL_CONNECTION_APPLICATION,
    },
    &ResubmissionWait {
        clause: "ugem-10",
        obligation: "resubmission-not-before-30-days",
        application: DocKind::MailConnectionApplication,
        grant: DocKind::ConnectionNotice,
    },
    &FormCheck {
        clause: "ugem-app",
        obligation: "deficient-never-connected",
        describe: "a mail-connection application missing the mail domain, the domain's owner, the mail server's IP address or the technical contacts is never connected, and its refusal names each missing field",
        applications: &[DocKind::MailConnectionApplication],
        required: form::MAIL_CONNECTION_DATA,
        rules: &[],
        channels: &[],
        grant: DocKind::ConnectionNotice,
        refusal_names_missing: true,
    },
    &CompleteNotRefused {
        clause: "ugem-app",
        obligation: "complete-not-refused",
        describe: "a complete mail-connection application of an eligible applicant, through the APS or by official letter, is not refused",
        form: &form::MAIL_CONNECTION_APPLICATION,
    },
    &ugem_desk::DisconnectedInTime,
    &NothingRelayedAfterDisconnection,
    // ---- eint: the bus operator ----
    &CompletionAfterCheck {
        clause: "eint-27",
        obligation: "published-in-time",
        describe: "after the operator agrees a publication test act, the service passport is published and production access granted within 10 working days",
        trigger: DocKind::PublicationTestAct,
        completions: &[DocKind::PassportPublished, DocKind::ProductionAccessGranted],
        check_working_days: 0,
        working_days: 10,
    },
    &ReasonedRefusal {
        clause: "eint-27",
        obligation: "returned-with-reasons",
        describe: REASONS,
        form: &form::TEST_ACT,
    },
    &bus::ProductionCallsSucceed {
        clause: "eint-27",
        obligation: "production-calls-succeed",
        describe: "calls to a service whose publication test act the harness sent, from the initiators the harness laid out as waiting for it, are refused until the operator's grant of production access and succeed from it on",
        act: DocKind::PublicationTestAct,
    },
    &bus::ProductionCallsSucceed {
        clause: "eint-45",
        obligation: "production-calls-succeed",
        describe: "an initiator's calls to the service of its connection test act are refused until the operator's grant of production access and succeed from it on",
        act: DocKind::ConnectionTestAct,
    },
    &bus::RemovedNotRoutable,
    &bus::DisconnectedRefused,
    &bus::NonStateOnlyViaExternal,
    &bus::SuspendedWithinAWorkingDay,
    &bus::SuspensionAnnounced,
    &bus::ConsentRequired,
    &bus::IndexKept,
    &bus::IndexByFormula,
    &bus::BreaksAgreedInAdvance,
    &bus::NoOutageOutsideBreaks {
        clause: "eint-app7-5.4",
        obligation: "other-outage-unavailable",
        describe: "every probe of a service under an availability agreement, sent outside the breaks announced 3 working days ahead, is accepted (the harness's providers and connections are sound, so a refusal or silence is the bus's outage)",
    },
    &bus::NoOutageOutsideBreaks {
        clause: "eint-app7-5.2",
        obligation: "bus-accepts-round-the-clock",
        describe: "the bus accepts the harness's probes round the clock, nights and days off included, outside the technological breaks announced 3 working days ahead",
    },
    &bus_agreement::AcceptedAroundTheClock,
    &bus_agreement::RebootsAnnounced,
    &bus_xsd::SamplesValidAgainstXsd,
    &bus_wssec::ForgedRefused {
        clause: "eint-app5",
        obligation: "unauthenticated-refused",
        describe: "every message the harness sent unsigned, altered after signing, signed with another system's certificate, with a signature replayed from another message, or signed with a certificate that is expired or not the NCA RK root's, is answered with a fault and reaches no provider",
        wrapping: false,
    },
    &bus_wssec::ForgedRefused {
        clause: "eint-app5",
        obligation: "wrapped-signature-refused",
        describe: "every message whose good signature covers another element than the Body the bus would process (a signed Body moved under the Header beside a second one, a Reference to a header element, an Id held twice) is answered with a fault and reaches no provider",
        wrapping: true,
    },
    &bus::AcceptedWithinAMinute {
        obligation: "sync-accepted-within-a-minute",
        describe: "every call on the synchronous channel is answered (a response or an ErrorInfo fault) within 60 s of its sending, measured at the harness's client",
        channel: "sync",
    },
    &bus::AcceptedWithinAMinute {
        obligation: "async-accepted-within-a-minute",
        describe: "every sendMessage on the asynchronous channel is answered within 60 s of its sending, measured at the harness's client",
        channel: "async",
    },
    &CompletionAfterCheck {
        clause: "eint-45",
        obligation: "access-in-time",
        describe: "after the operator agrees a connection test act, the initiator gets production access within 10 working days",
        trigger: DocKind::ConnectionTestAct,
        completions: &[DocKind::ProductionAccessGranted],
        check_working_days: 0,
        working_days: 10,
    },
    &AnswerDeadline {
        clause: "eint-45-10",
        obligation: "checked-in-time",
        describe: "every service-update application is checked within 3 working days of receipt: passed, or returned for rework",
        trigger: DocKind::ServiceUpdateApplication,
        answers: &[
            DocKind::CheckPassed,
            DocKind::ReturnedForRework,
            DocKind::UpdateCompleted,
        ],
        settled_elsewhere: &[],
        working_days: 3,
    },
    &ReasonedRefusal {
        clause: "eint-45-10",
        obligation: "reasons-name-the-cause",
        describe: REASONS,
        form: &form::SERVICE_UPDATE_APPLICATION,
    },
    &FormCheck {
        clause: "eint-45-9",
        obligation: "update-through-portal",
        describe: "a service-update application that does not come through the portal, or lacks a datum of the Appendix 8 form, never passes the operator's check",
        applications: &[DocKind::ServiceUpdateApplication],
        required: form::SERVICE_UPDATE_APPLICATION.required,
        rules: &[],
        channels: &[Channel::Portal],
        grant: DocKind::CheckPassed,
        refusal_names_missing: false,
    },
    &FormCheck {
        clause: "eint-45-13",
        obligation: "update-through-portal",
        describe: "a connection-update application that does not come through the portal, or lacks a datum of the Appendix 9 form, never passes the operator's check",
        applications: &[DocKind::ConnectionUpdateApplication],
        required: form::CONNECTION_UPDATE_APPLICATION.required,
        rules: &[],
        channels: &[Channel::Portal],
        grant: DocKind::CheckPassed,
        refusal_names_missing: false,
    },
    &CompletionAfterCheck {
        clause: "eint-45-11",
        obligation: "updated-in-time",
        describe: "every service update whose check passed is carried out within 10 working days: of the announced positive check, else of receipt (a warning when only the last day of the 3-day check makes it in time)",
        trigger: DocKind::ServiceUpdateApplication,
        completions: &[DocKind::UpdateCompleted],
        check_working_days: 3,
        working_days: 10,
    },
    &AnswerDeadline {
        clause: "eint-45-14",
        obligation: "checked-in-time",
        describe: "every connection-update application is checked within 3 working days of receipt: passed, or returned for rework",
        trigger: DocKind::ConnectionUpdateApplication,
        answers: &[
            DocKind::CheckPassed,
            DocKind::ReturnedForRework,
            DocKind::UpdateCompleted,
        ],
        settled_elsewhere: &[],
        working_days: 3,
    },
    &ReasonedRefusal {
        clause: "eint-45-14",
        obligation: "reasons-name-the-cause",
        describe: REASONS,
        form: &form::CONNECTION_UPDATE_APPLICATION,
    },
    &CompletionAfterCheck {
        clause: "eint-45-15",
        obligation: "updated-in-time",
        describe: "every connection update whose check passed is carried out within 10 working days: of the announced positive check, else of receipt (a warning when only the last day of the 3-day check makes it in time)",
        trigger: DocKind::ConnectionUpdateApplication,
        completions: &[DocKind::UpdateCompleted],
        check_working_days: 3,
        working_days: 10,
    },
    &FormCheck {
        clause: "eint-app4",
        obligation: "deficient-never-agreed",
        describe: "a test act (for publication or connection) lacking a datum of Appendix 4 is never agreed, and the return names what is missing",
        applications: &[DocKind::PublicationTestAct, DocKind::ConnectionTestAct],
        required: form::TEST_ACT_DATA,
        rules: &[],
        channels: &[],
        grant: DocKind::CheckPassed,
        refusal_names_missing: true,
    },
    &CompleteNotRefused {
        clause: "eint-app4",
        obligation: "complete-not-refused",
        describe: "a complete test act with a positive conclusion is not returned",
        form: &form::TEST_ACT,
    },
    &FormCheck {
        clause: "eint-app3",
        obligation: "deficient-never-published",
        describe: "a publication application lacking a datum of Appendix 3 (the NCA transport certificate, the service key, the interaction mode among them) is never accepted, so its service never goes to testing and publication; the return names what is missing",
        applications: &[DocKind::PublicationApplication],
        required: form::PUBLICATION_APPLICATION_DATA,
        rules: &[],
        channels: &[],
        grant: DocKind::CheckPassed,
        refusal_names_missing: true,
    },
    &FormCheck {
        clause: "eint-app5",
        obligation: "deficient-never-connected",
        describe: "a connection application lacking a datum of Appendix 5 (the basis of connection, the message sending mode among them) is never accepted, so the initiator is never connected, not even for testing; the return names what is missing",
        applications: &[DocKind::ConnectionApplication],
        required: form::CONNECTION_APPLICATION_DATA,
        rules: &[],
        channels: &[],
        grant: DocKind::CheckPassed,
        refusal_names_missing: true,
    },
    &bus_topology::OnlyThroughExternalGateway {
        clause: "ureq-139.10",
        obligation: "internet-systems-via-external-gateway",
        describe: "a system the harness placed in the outer-circuit segment (one that interacts over the Internet) reaches an inner-circuit service through ЭҮСШ (its call carried to the provider), and its direct calls to the inner gateway are refused; both must be seen",
        placement: "outer",
    },
    &bus_topology::OnlyThroughExternalGateway {
        clause: "ureq-139.11",
        obligation: "direct-calls-fail",
        describe: "a system the harness placed on the Internet, state or not, gets every direct call to the inner gateway refused, and the same call through ЭҮСШ carried to the provider; both must be seen",
        placement: "internet",
    },
    &bus_switch_off::SwitchedOff,
    &bus_switch_off::SwitchOffAnnounced,
    &bus_admission::ConnectionOnlyWithApplication,
    &bus_admission::TestingWithinThreeMonths,
    &bus_admission::TestContourAnswers,
];

pub fn all() -> &'static [&'static dyn Oracle] {
    ORACLES
}

/// The oracles of one clause's obligations, in registry order.
pub fn for_clause(clause: &str) -> impl Iterator<Item = &'static dyn Oracle> + '_ {
    ORACLES
        .iter()
        .copied()
        .filter(move |o| o.clause() == clause)
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

/// The resources the STS connected to a protection service: each connection notice with the
/// domain (lower case) that the harness's own application of `kind` in its case named, never
/// the notice's.
fn connected_domains(trace: &Trace, kind: DocKind) -> Vec<(&Observation, &Document, String)> {
    let docs: Vec<_> = trace.documents().collect();
    let mut out = Vec::new();
    for (o, d) in &docs {
        if d.doc != DocKind::ConnectionNotice {
            continue;
        }
        let app = docs
            .iter()
            .filter(|(ao, a)| a.case == d.case && ao.seq < o.seq && a.to == d.from)
            .find(|(_, a)| a.doc == kind);
        if let Some((_, a)) = app
            && let Some(domain) = a.fields.get("domain")
        {
            out.push((*o, *d, domain.to_ascii_lowercase()));
        }
    }
    out
}

/// The latest rejection of the same service to the same applicant before application
/// `docs[i]`, when the application came less than 30 calendar days after it: the wait the rules
/// set before a resubmission (ugem-10, ugia-17, ugia-18).
struct EarlyResubmission<'t> {
    rejection: (&'t Observation, &'t Document),
    /// The day of the rejection.
    since: jiff::civil::Date,
    /// The first day a resubmission was allowed; `None` when 30 days after the rejection is
    /// past the calendar's range (every resubmission is then early).
    allowed: Option<jiff::civil::Date>,
}

fn early_resubmission<'t>(
    docs: &[(&'t Observation, &'t Document)],
    i: usize,
) -> Option<EarlyResubmission<'t>> {
    let (o, app) = docs[i];
    let (ro, rd) = *docs[..i].iter().rev().find(|(ro, d)| {
        d.doc == DocKind::Rejection
            && d.to == app.from
            && application_of_case(docs, &d.case, ro.seq) == Some(app.doc)
    })?;
    let since = clock::local(ro.at).date();
    let allowed = since.checked_add(jiff::Span::new().days(30)).ok();
    if allowed.is_some_and(|a| clock::local(o.at).date() >= a) {
        return None;
    }
    Some(EarlyResubmission {
        rejection: (ro, rd),
        since,
        allowed,
    })
}

/// The kind of application that opened `case`: its first document, before observation
/// `before`.
fn application_of_case(
    docs: &[(&Observation, &Document)],
    case: &str,
    before: u64,
) -> Option<DocKind> {
    docs.iter()
        .find(|(o, d)| d.case == case && o.seq < before)
        .map(|(_, d)| d.doc)
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

#[cfg(test)]
mod tests {
    use qaqpa_reports::catalogue::Catalogue;

    #[test]
    fn every_oracle_judges_one_catalogued_obligation_and_none_twice() {
        let cat = Catalogue::standard();
        let mut seen = std::collections::BTreeSet::new();
        for o in super::all() {
            let ob = cat
                .obligation(o.clause(), o.obligation())
                .unwrap_or_else(|| {
                    panic!("{}/{} is not in the catalogue", o.clause(), o.obligation())
                });
            assert!(ob.machine_checkable(), "{}/{}", o.clause(), o.obligation());
            assert!(
                ob.not_judged_because.is_none(),
                "{}/{} has an oracle but the catalogue says the harness does not judge it",
                o.clause(),
                o.obligation()
            );
            assert!(
                seen.insert((o.clause(), o.obligation())),
                "{}/{} has two oracles",
                o.clause(),
                o.obligation()
            );
        }
    }
}
