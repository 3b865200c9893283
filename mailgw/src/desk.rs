//! The STS desk that connects departmental mail systems to UGEM (ugem-7 to ugem-11).

use std::collections::BTreeMap;
use std::net::IpAddr;

use jiff::Timestamp;
use qaqpa_sim::clock;
use qaqpa_sim::target::{Defect, Desk, DeskEnv};
use qaqpa_sim::trace::{Channel, DocKind, Document};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

pub const DEFECTS: &[Defect] = &[
    Defect {
        id: "ugem-connection-late",
        system: "ugem",
        description: "the STS desk connects mail systems on the 6th working day after receipt",
        clauses: &["ugem-9"],
    },
    Defect {
        id: "ugem-rejection-without-reasons",
        system: "ugem",
        description: "the STS desk refuses mail-connection applications without giving reasons",
        clauses: &["ugem-10"],
    },
    Defect {
        id: "ugem-skips-eligibility-check",
        system: "ugem",
        description: "the STS desk never checks the applicant's kind and connects anyone technically possible",
        clauses: &["ugem-8"],
    },
];

/// The applicant kinds ugem-2 names.
const ELIGIBLE: &[&str] = &[
    "state-body",
    "local-self-government",
    "state-legal-entity",
    "quasi-public",
    "critical-ict-owner",
];

pub struct ConnectionDesk {
    rng: ChaCha8Rng,
    defects: Vec<&'static str>,
}

impl ConnectionDesk {
    pub fn new(seed: u64, defects: &[&'static str]) -> Self {
        ConnectionDesk {
            rng: qaqpa_sim::seed::rng(seed, "ugem-connection-desk"),
            defects: defects.to_vec(),
        }
    }

    fn has(&self, defect: &str) -> bool {
        self.defects.contains(&defect)
    }

    fn problems(&self, app: &Document) -> Vec<String> {
        let mut problems = Vec::new();
        for field in ["domain", "domain-owner", "server-ip"] {
            if app.fields.get(field).is_none_or(|v| v.trim().is_empty()) {
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
        if !self.has("ugem-skips-eligibility-check") {
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
        if app.doc != DocKind::MailConnectionApplication {
            return;
        }
        let problems = self.problems(app);
        let refuse = !problems.is_empty();
        let working_days = if !refuse && self.has("ugem-connection-late") {
            6
        } else {
            self.rng.random_range(1..=5)
        };
        let Ok(day) = env
            .calendar
            .add_working_days(clock::local(now).date(), working_days)
        else {
            return;
        };
        let at = env.office_time(day, self.rng.random_range(0..7 * 60));
        let (doc, fields, reasons) = if refuse {
            (
                DocKind::Rejection,
                BTreeMap::new(),
                if self.has("ugem-rejection-without-reasons") {
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
            (DocKind::ConnectionNotice, fields, Vec::new())
        };
        env.send_at(
            at,
            Document {
                case: app.case.clone(),
                doc,
                from: "STS".into(),
                to: app.from.clone(),
                channel: Channel::Aps,
                fields,
                reasons,
            },
        );
    }
}
