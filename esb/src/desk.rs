//! The bus operator's desk for integration-service updates (eint-45-8 to eint-45-11).

use jiff::Timestamp;
use qaqpa_sim::clock;
use qaqpa_sim::target::{Defect, Desk, DeskEnv};
use qaqpa_sim::trace::{Channel, DocKind, Document};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

pub const DEFECTS: &[Defect] = &[
    Defect {
        id: "bus-check-late",
        system: "bus",
        description: "the operator's desk reports its completeness check on the 4th working day after receipt",
        clauses: &["eint-45-10"],
    },
    Defect {
        id: "bus-return-without-reasons",
        system: "bus",
        description: "the operator's desk returns incomplete update applications without saying what is wrong",
        clauses: &["eint-45-10"],
    },
    Defect {
        id: "bus-update-late",
        system: "bus",
        description: "the operator's desk performs a service update on the 11th working day after its positive check",
        clauses: &["eint-45-11"],
    },
];

/// Appendix 8 and eint-14: what an update application must carry to be complete.
const REQUIRED: &[&str] = &[
    "service-id",
    "owner",
    "change-description",
    "xsd",
    "request-sample",
    "response-sample",
];

pub struct ServiceUpdateDesk {
    rng: ChaCha8Rng,
    defects: Vec<&'static str>,
}

impl ServiceUpdateDesk {
    pub fn new(seed: u64, defects: &[&'static str]) -> Self {
        ServiceUpdateDesk {
            rng: qaqpa_sim::seed::rng(seed, "bus-service-update-desk"),
            defects: defects.to_vec(),
        }
    }

    fn has(&self, defect: &str) -> bool {
        self.defects.contains(&defect)
    }
}

impl Desk for ServiceUpdateDesk {
    fn party(&self) -> &str {
        "operator"
    }

    fn receive(&mut self, now: Timestamp, app: &Document, env: &mut DeskEnv<'_>) {
        if app.doc != DocKind::ServiceUpdateApplication {
            return;
        }
        let missing: Vec<String> = REQUIRED
            .iter()
            .filter(|f| app.fields.get(**f).is_none_or(|v| v.trim().is_empty()))
            .map(|f| format!("{f} is missing or empty"))
            .collect();
        let check_days = if self.has("bus-check-late") {
            4
        } else {
            self.rng.random_range(1..=3)
        };
        let Ok(check_day) = env
            .calendar
            .add_working_days(clock::local(now).date(), check_days)
        else {
            return;
        };
        let check_at = env.office_time(check_day, self.rng.random_range(0..4 * 60));
        let reply = |doc, reasons| Document {
            case: app.case.clone(),
            doc,
            from: "operator".into(),
            to: app.from.clone(),
            channel: Channel::Portal,
            fields: Default::default(),
            reasons,
        };
        if !missing.is_empty() {
            let reasons = if self.has("bus-return-without-reasons") {
                Vec::new()
            } else {
                missing
            };
            env.send_at(check_at, reply(DocKind::ReturnedForRework, reasons));
            return;
        }
        env.send_at(check_at, reply(DocKind::CheckPassed, Vec::new()));
        let update_days = if self.has("bus-update-late") {
            11
        } else {
            self.rng.random_range(1..=10)
        };
        let Ok(update_day) = env.calendar.add_working_days(check_day, update_days) else {
            return;
        };
        let mut done = reply(DocKind::UpdateCompleted, Vec::new());
        if let Some(id) = app.fields.get("service-id") {
            done.fields.insert("service-id".into(), id.clone());
        }
        env.send_at(
            env.office_time(update_day, 4 * 60 + self.rng.random_range(0..3 * 60)),
            done,
        );
    }
}
