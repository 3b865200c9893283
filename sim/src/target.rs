//! The interfaces through which the suite drives and observes a system under test.
//!
//! The suite never sees what stands behind them: the reference in simulation, a vendor's
//! product, or recorded evidence. It hands documents to a [`Desk`] and observes what comes
//! back, with the simulated time at which it arrives.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::calendar::BusinessCalendar;
use crate::trace::Document;

/// An operator's desk: the people and ticket system that answer applications.
pub trait Desk {
    /// The party the desk speaks for in documents (`STS`, `operator`).
    fn party(&self) -> &str;
    /// A document reaches the desk at `now`.
    fn receive(&mut self, now: Timestamp, doc: &Document, env: &mut DeskEnv<'_>);
    /// The desk asked to act at `now` (see [`DeskEnv::wake_at`]).
    fn wake(&mut self, _now: Timestamp, _env: &mut DeskEnv<'_>) {}
}

/// What a desk may use and do while it acts.
pub struct DeskEnv<'a> {
    pub calendar: &'a BusinessCalendar,
    /// The root certificate (DER) of the national certification authority whose certificates
    /// the desk accepts for EDS signatures (in simulation, the harness's NCA RK stand-in,
    /// [`crate::eds::TestPki`]); `None` where the world has none. A vendor's live desk is
    /// configured with the same root.
    pub eds_root: Option<&'a [u8]>,
    sends: Vec<(Timestamp, Document)>,
    wakeups: Vec<Timestamp>,
    acts: Vec<(Timestamp, crate::packetnet::PolicyAct)>,
}

impl<'a> DeskEnv<'a> {
    pub fn new(calendar: &'a BusinessCalendar) -> Self {
        DeskEnv {
            calendar,
            eds_root: None,
            sends: Vec::new(),
            wakeups: Vec::new(),
            acts: Vec::new(),
        }
    }

    /// The world's national certification authority root, which the desk trusts.
    pub fn with_eds_root(mut self, root_der: &'a [u8]) -> Self {
        self.eds_root = Some(root_der);
        self
    }

    /// The document leaves the desk at `at` and reaches its addressee then.
    pub fn send_at(&mut self, at: Timestamp, doc: Document) {
        self.sends.push((at, doc));
    }

    pub fn wake_at(&mut self, at: Timestamp) {
        self.wakeups.push(at);
    }

    /// The desk's people configure their own packet gateway at `at` (the STS opening access
    /// it granted). The harness does not record the act: oracles judge what the User is
    /// told and what the taps see, as they must for a vendor's desk too.
    pub fn apply_at(&mut self, at: Timestamp, act: crate::packetnet::PolicyAct) {
        self.acts.push((at, act));
    }

    /// An instant within office hours (10:00 + `minutes`, Almaty) of `date`: desks answer
    /// when people are at work. `None` on a date at the very end of the clock's range.
    pub fn office_time(&self, date: jiff::civil::Date, minutes: u32) -> Option<Timestamp> {
        // 10:00 plus at most seven hours stays within the day, so only the conversion to an
        // instant can fail.
        let dt = date
            .at(10, 0, 0, 0)
            .checked_add(jiff::SignedDuration::from_mins(i64::from(
                minutes.min(7 * 60),
            )));
        crate::clock::instant(dt.ok()?).ok()
    }

    /// When a clerk answers: a time in office hours on the `working_days`-th working day after
    /// `from`. `None` when the calendar has no data for that year: the desk cannot plan, and
    /// the oracle says why.
    pub fn answer_at(
        &self,
        clerk: &mut Clerk,
        from: jiff::civil::Date,
        working_days: u32,
    ) -> Option<Timestamp> {
        let day = self.calendar.add_working_days(from, working_days).ok()?;
        self.office_time(day, clerk.draw(0..=7 * 60 - 1))
    }

    pub fn take(self) -> DeskOutput {
        DeskOutput {
            sends: self.sends,
            wakeups: self.wakeups,
            acts: self.acts,
        }
    }
}

/// What a desk did while it acted: documents to deliver, wake-ups, and acts on its gateway.
pub struct DeskOutput {
    pub sends: Vec<(Timestamp, Document)>,
    pub wakeups: Vec<Timestamp>,
    pub acts: Vec<(Timestamp, crate::packetnet::PolicyAct)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeskKind {
    /// The STS desk connecting telecom operators' channels to UGIA (ugia-5..11).
    UgiaConnection,
    /// The STS desk connecting mail systems to UGEM (ugem-7..11).
    UgemConnection,
    /// The STS desk for the WAF and defacement-protection services (ugia-17, ugia-18).
    UgiaProtection,
    /// The STS desk opening Internet access on Users' signed requests (ugia-15, 15-2, 16).
    UgiaAccess,
    /// The bus operator's desk: test acts, publication, connection and updates (eint-27..45-15).
    BusOperator,
}

impl DeskKind {
    pub const ALL: [DeskKind; 5] = [
        DeskKind::UgiaConnection,
        DeskKind::UgiaProtection,
        DeskKind::UgiaAccess,
        DeskKind::UgemConnection,
        DeskKind::BusOperator,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeskKind::UgiaConnection => "ugia-connection",
            DeskKind::UgemConnection => "ugem-connection",
            DeskKind::UgiaProtection => "ugia-protection",
            DeskKind::UgiaAccess => "ugia-access",
            DeskKind::BusOperator => "bus-operator",
        }
    }

    pub fn system(self) -> &'static str {
        match self {
            DeskKind::UgiaConnection => "ugia",
            DeskKind::UgemConnection => "ugem",
            DeskKind::UgiaProtection | DeskKind::UgiaAccess => "ugia",
            DeskKind::BusOperator => "bus",
        }
    }
}

/// What stands behind the interfaces, as a report names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetInfo {
    /// `reference`, `live` or `recorded`.
    pub kind: String,
    pub name: String,
    /// The product's version, as a live target file states it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Named defects switched on (reference only).
    #[serde(default)]
    pub defects: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("target {target} has no {desk} desk")]
    NoSuchDesk { target: String, desk: &'static str },
    #[error("target {target} has no e-mail gateway to place in the simulated network")]
    NoMailGateway { target: String },
    #[error("target {target} has no packet gateway to replay traffic through")]
    NoPacketGateway { target: String },
    #[error(
        "target {target} has no web protection front to place before the harness's web resources"
    )]
    NoWebFront { target: String },
    #[error("target {target}: the web protection front cannot start: {message}")]
    WebFront { target: String, message: String },
    #[error("target {target} has no bus to place among the harness's information systems")]
    NoBus { target: String },
    #[error("target {target}: the bus episode failed: {message}")]
    Bus { target: String, message: String },
    #[error("target {target}: {message}")]
    Live { target: String, message: String },
}

/// A system under test: it hands out the desks (and, later, network endpoints) the suite
/// talks to. `seed` is the scenario's, so a reference desk's choices are reproducible.
pub trait Target {
    fn info(&self) -> TargetInfo;
    fn desk(&self, kind: DeskKind, seed: u64) -> Result<Box<dyn Desk>, TargetError>;
    /// The e-mail gateway (UGEM) to place into a simulated mail network; `seed` is the
    /// episode's.
    fn mail_gateway(
        &self,
        _seed: u64,
    ) -> Result<Box<dyn crate::mailnet::MailGateway>, TargetError> {
        Err(TargetError::NoMailGateway {
            target: self.info().name,
        })
    }
    /// The e-mail gateway as a live product on real sockets, when the target is one: mail
    /// episodes then run on the wall clock against it instead of in the simulation.
    fn live_mail(&self) -> Option<crate::mailnet::LiveMail> {
        None
    }
    /// The Internet access gateway (UGIA) as a device between the harness's wires, fresh
    /// for one scenario; `seed` is the scenario's.
    fn packet_device(
        &self,
        _seed: u64,
    ) -> Result<Box<dyn crate::packetnet::PacketDevice>, TargetError> {
        Err(TargetError::NoPacketGateway {
            target: self.info().name,
        })
    }
    /// UGIA's protection front (the WAF, ugia-17) to place before the harness's web
    /// resources in a simulated web episode; `seed` is the scenario's.
    fn web_front(&self, _seed: u64) -> Result<Box<dyn crate::webnet::WebFront>, TargetError> {
        Err(TargetError::NoWebFront {
            target: self.info().name,
        })
    }
    /// The bus (ЭҮШ and ЭҮСШ) to place among the harness's systems in a simulated episode;
    /// `seed` is the scenario's, so the bus routes by what that scenario's desk decided.
    fn bus_gateway(&self, _seed: u64) -> Result<Box<dyn crate::busnet::BusGateway>, TargetError> {
        Err(TargetError::NoBus {
            target: self.info().name,
        })
    }
    /// The bus as a live product on real sockets, when the target is one: bus episodes then
    /// run on the wall clock against it instead of in the simulation.
    fn live_bus(&self) -> Option<crate::busnet::LiveBus> {
        None
    }
}

/// The people behind a reference desk: how long they take, drawn from the scenario's seed,
/// and the named defects they were run with.
pub struct Clerk {
    rng: rand_chacha::ChaCha8Rng,
    defects: Vec<&'static str>,
}

impl Clerk {
    /// `desk` names the desk, so two desks of one scenario draw independent numbers.
    pub fn new(seed: u64, desk: &str, defects: &[&'static str]) -> Clerk {
        Clerk {
            rng: crate::seed::rng(seed, desk),
            defects: defects.to_vec(),
        }
    }

    pub fn has(&self, defect: &str) -> bool {
        self.defects.contains(&defect)
    }

    /// Under the named "refuses everything" defect, a desk refuses even what it finds nothing
    /// wrong with, with the boilerplate a careless desk writes: what the oracles of complete
    /// applications and of reasoned refusals must catch.
    pub fn refuse_anyway(&self, defect: &str, problems: &mut Vec<String>) {
        if problems.is_empty() && self.has(defect) {
            problems.push("the application does not meet the requirements".into());
        }
    }

    /// A whole number in `range`: working days a task takes, minutes into office hours.
    pub fn draw(&mut self, range: std::ops::RangeInclusive<u32>) -> u32 {
        use rand::Rng;
        self.rng.random_range(range)
    }
}

/// A deliberate fault the reference can be run with, to prove that the oracles of the
/// clauses it names can fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Defect {
    pub id: &'static str,
    pub system: &'static str,
    pub description: &'static str,
    /// The clauses whose oracles must fail when the defect is on.
    pub clauses: &'static [&'static str],
    /// The clauses whose oracles must warn when the defect is on: the behaviour meets only a
    /// lenient reading of the rules.
    pub warns: &'static [&'static str],
}
