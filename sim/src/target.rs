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
    sends: Vec<(Timestamp, Document)>,
    wakeups: Vec<Timestamp>,
}

impl<'a> DeskEnv<'a> {
    pub fn new(calendar: &'a BusinessCalendar) -> Self {
        DeskEnv {
            calendar,
            sends: Vec::new(),
            wakeups: Vec::new(),
        }
    }

    /// The document leaves the desk at `at` and reaches its addressee then.
    pub fn send_at(&mut self, at: Timestamp, doc: Document) {
        self.sends.push((at, doc));
    }

    pub fn wake_at(&mut self, at: Timestamp) {
        self.wakeups.push(at);
    }

    /// An instant within office hours (10:00 + `minutes`, Almaty) of `date`: desks answer
    /// when people are at work.
    pub fn office_time(&self, date: jiff::civil::Date, minutes: u32) -> Timestamp {
        let t = jiff::civil::Time::constant(10, 0, 0, 0);
        let dt = date
            .to_datetime(t)
            .checked_add(jiff::SignedDuration::from_mins(i64::from(
                minutes.min(7 * 60),
            )))
            .expect("within a day");
        crate::clock::instant(dt)
    }

    pub fn take(self) -> (Vec<(Timestamp, Document)>, Vec<Timestamp>) {
        (self.sends, self.wakeups)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeskKind {
    /// The STS desk connecting telecom operators' channels to UGIA (ugia-5..11).
    UgiaConnection,
    /// The STS desk connecting mail systems to UGEM (ugem-7..11).
    UgemConnection,
    /// The bus operator's desk for integration-service updates (eint-45-8..11).
    BusServiceUpdate,
}

impl DeskKind {
    pub const ALL: [DeskKind; 3] = [
        DeskKind::UgiaConnection,
        DeskKind::UgemConnection,
        DeskKind::BusServiceUpdate,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeskKind::UgiaConnection => "ugia-connection",
            DeskKind::UgemConnection => "ugem-connection",
            DeskKind::BusServiceUpdate => "bus-service-update",
        }
    }

    pub fn system(self) -> &'static str {
        match self {
            DeskKind::UgiaConnection => "ugia",
            DeskKind::UgemConnection => "ugem",
            DeskKind::BusServiceUpdate => "bus",
        }
    }
}

/// What stands behind the interfaces, as a report names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetInfo {
    /// `reference`, `live` or `recorded`.
    pub kind: String,
    pub name: String,
    /// Named defects switched on (reference only).
    #[serde(default)]
    pub defects: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("target {target} has no {desk} desk")]
    NoSuchDesk { target: String, desk: &'static str },
}

/// A system under test: it hands out the desks (and, later, network endpoints) the suite
/// talks to. `seed` is the scenario's, so a reference desk's choices are reproducible.
pub trait Target {
    fn info(&self) -> TargetInfo;
    fn desk(&self, kind: DeskKind, seed: u64) -> Result<Box<dyn Desk>, TargetError>;
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
}
