//! The STS desk that connects telecom operators' channels to UGIA (ugia-5 to ugia-11).

use std::collections::BTreeMap;

use jiff::Timestamp;
use qaqpa_sim::clock;
use qaqpa_sim::target::{Clerk, Defect, Desk, DeskEnv};
use qaqpa_sim::trace::{Channel, DocKind, Document};

pub const DEFECTS: &[Defect] = &[
    Defect {
        id: "ugia-channel-desk-refuses-everything",
        system: "ugia",
        description: "the STS desk refuses every channel application, complete and feasible ones too, with boilerplate for reasons",
        clauses: &["ugia-10", "ugia-app1"],
        warns: &[],
    },
    Defect {
        id: "ugia-rejection-boilerplate",
        system: "ugia",
        description: "the STS desk's refusals of channel applications give a boilerplate sentence instead of what is wrong",
        clauses: &["ugia-10"],
        warns: &[],
    },
    Defect {
        id: "ugia-specs-late",
        system: "ugia",
        description: "the STS desk sends technical specifications on the 11th working day after receipt",
        clauses: &["ugia-6"],
        warns: &[],
    },
    Defect {
        id: "ugia-counts-from-registration",
        system: "ugia",
        description: "the STS desk counts its 10 working days from the day it registers an application (the next working day when it arrives out of hours or before a holiday), not from the day of receipt, and uses the whole term",
        clauses: &["ugia-6"],
        warns: &[],
    },
    Defect {
        id: "ugia-rejection-without-reasons",
        system: "ugia",
        description: "the STS desk refuses channel applications without giving reasons",
        clauses: &["ugia-10"],
        warns: &[],
    },
    Defect {
        id: "ugia-rejection-late",
        system: "ugia",
        description: "the STS desk sends refusals on the 12th working day after receipt",
        clauses: &["ugia-10"],
        warns: &[],
    },
    Defect {
        id: "ugia-bandwidth-unchecked",
        system: "ugia",
        description: "the STS desk accepts channel bandwidths that are not whole Gbit/s of at least 1",
        clauses: &["ugia-app1"],
        warns: &[],
    },
];

/// Where UGIA has equipment a telecom operator's channel can reach. An application for any
/// other point is technically impossible (ugia-10).
const POINTS_OF_PRESENCE: &[&str] = &["Astana", "Almaty", "Shymkent"];

/// Office hours end at 18:00: an application that arrives later is registered next working day.
const OFFICE_CLOSES_HOUR: i8 = 18;

pub struct ConnectionDesk {
    clerk: Clerk,
}

impl ConnectionDesk {
    pub fn new(seed: u64, defects: &[&'static str]) -> Self {
        ConnectionDesk {
            clerk: Clerk::new(seed, "ugia-connection-desk", defects),
        }
    }

    /// What makes an application impossible to satisfy, in the words the refusal uses.
    fn problems(&self, app: &Document) -> Vec<String> {
        let mut problems = Vec::new();
        let unchecked = self.clerk.has("ugia-bandwidth-unchecked");
        for field in ["main-channel-gbps", "reserve-channel-gbps"] {
            match app.fields.get(field).map(|v| v.trim().parse::<u32>()) {
                None => problems.push(format!("{field} is missing: the application must ask for both a main and a reserve channel (ugia-5)")),
                Some(Err(_)) | Some(Ok(0)) if !unchecked => problems.push(format!("{field} must be a whole number of Gbit/s, at least 1 (Appendix 1)")),
                Some(_) => {}
            }
        }
        match app.fields.get("connection-point") {
            None => problems.push("connection-point is missing".into()),
            Some(p) if !POINTS_OF_PRESENCE.iter().any(|pop| p.starts_with(pop)) => {
                problems.push(format!(
                    "no UGIA equipment at connection point `{p}` (points of presence: {})",
                    POINTS_OF_PRESENCE.join(", ")
                ))
            }
            Some(_) => {}
        }
        problems
    }

    fn specifications(app: &Document) -> BTreeMap<String, String> {
        let mut f = BTreeMap::new();
        for (k, v) in [
            ("interface", "10G"),
            ("duplex", "full-duplex"),
            ("fibre", "single-mode"),
            ("patch-cords", "SC-LC"),
            (
                "channels",
                "main and backup over independent physical channels",
            ),
            ("validity-calendar-days", "60"),
            ("renewal-notice-days", "10"),
        ] {
            f.insert(k.to_string(), v.to_string());
        }
        if let Some(p) = app.fields.get("connection-point") {
            f.insert("connection-point".into(), p.clone());
        }
        f
    }
}

impl Desk for ConnectionDesk {
    fn party(&self) -> &str {
        "STS"
    }

    fn receive(&mut self, now: Timestamp, app: &Document, env: &mut DeskEnv<'_>) {
        if app.doc != DocKind::ChannelApplication {
            return;
        }
        let received = clock::local(now);
        let mut problems = self.problems(app);
        self.clerk
            .refuse_anyway("ugia-channel-desk-refuses-everything", &mut problems);
        let refuse = !problems.is_empty();
        let mut count_from = received.date();
        let working_days = if refuse && self.clerk.has("ugia-rejection-late") {
            12
        } else if !refuse && self.clerk.has("ugia-specs-late") {
            11
        } else if self.clerk.has("ugia-counts-from-registration") {
            let out_of_hours = received.hour() >= OFFICE_CLOSES_HOUR
                || !env.calendar.is_working_day(count_from).unwrap_or(true);
            if out_of_hours && let Ok(next) = env.calendar.add_working_days(count_from, 1) {
                count_from = next;
            }
            10
        } else {
            self.clerk.draw(3..=10)
        };
        let Some(at) = env.answer_at(&mut self.clerk, count_from, working_days) else {
            return; // no calendar for that year: the desk cannot plan, and the oracle says why
        };
        let (doc, fields, reasons) = if refuse {
            let reasons = if self.clerk.has("ugia-rejection-without-reasons") {
                Vec::new()
            } else if self.clerk.has("ugia-rejection-boilerplate") {
                vec!["the application does not meet the requirements of the Rules".into()]
            } else {
                problems
            };
            (DocKind::Rejection, BTreeMap::new(), reasons)
        } else {
            (
                DocKind::TechnicalSpecifications,
                Self::specifications(app),
                Vec::new(),
            )
        };
        env.send_at(at, app.answer(doc, Channel::Aps, fields, reasons));
    }
}
