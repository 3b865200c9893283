//! The bus operator's desk: publication and connection test acts (eint-27, eint-45) and
//! service and connection updates (eint-45-8 to eint-45-15).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use jiff::Timestamp;
use qaqpa_sim::clock;
use qaqpa_sim::target::{Clerk, Defect, Desk, DeskEnv};
use qaqpa_sim::trace::{Channel, DocKind, Document};

pub const DEFECTS: &[Defect] = &[
    Defect {
        id: "bus-desk-refuses-everything",
        system: "bus",
        description: "the operator returns every application and test act for rework, complete ones too, with boilerplate for reasons",
        clauses: &["eint-27", "eint-45-10", "eint-45-14", "eint-app4"],
        warns: &[],
    },
    Defect {
        id: "bus-check-late",
        system: "bus",
        description: "the operator's desk reports its completeness check of update applications on the 4th working day after receipt",
        clauses: &["eint-45-10", "eint-45-14"],
        warns: &[],
    },
    Defect {
        id: "bus-return-without-reasons",
        system: "bus",
        description: "the operator's desk returns incomplete applications and test acts without saying what is wrong",
        clauses: &[
            "eint-27",
            "eint-45-10",
            "eint-45-14",
            "eint-app3",
            "eint-app4",
            "eint-app5",
        ],
        warns: &[],
    },
    Defect {
        id: "bus-update-late",
        system: "bus",
        description: "the operator's desk performs service and connection updates on the 11th working day after its positive check",
        clauses: &["eint-45-11", "eint-45-15"],
        warns: &[],
    },
    Defect {
        id: "bus-passport-late",
        system: "bus",
        description: "the operator publishes a service passport on the 11th working day after agreeing the test act",
        clauses: &["eint-27"],
        warns: &[],
    },
    Defect {
        id: "bus-access-late",
        system: "bus",
        description: "the operator grants production access on the 12th working day after agreeing the test act",
        clauses: &["eint-27", "eint-45"],
        warns: &[],
    },
    Defect {
        id: "bus-silent-check",
        system: "bus",
        description: "the operator's desk never announces a positive check and carries updates out on the 12th working day after receipt",
        clauses: &["eint-45-10", "eint-45-14"],
        warns: &["eint-45-11", "eint-45-15"],
    },
    Defect {
        id: "bus-suspension-late",
        system: "bus",
        description: "the operator suspends a system whose test act was revoked on the 2nd working day after the revocation reached it",
        clauses: &["eint-65"],
        warns: &[],
    },
    Defect {
        id: "bus-suspension-silent",
        system: "bus",
        description: "the operator suspends a system whose test act was revoked without telling anyone",
        clauses: &["eint-65"],
        warns: &[],
    },
    Defect {
        id: "bus-break-announced-late",
        system: "bus",
        description: "the operator announces its technological break one working day before it starts",
        clauses: &["eint-app7-5.4", "eint-app7-5.2"],
        warns: &[],
    },
    Defect {
        id: "bus-unplanned-outage",
        system: "bus",
        description: "the bus is down six hours on a working day, outside any announced break (its published index counts it)",
        clauses: &["eint-app7-5.4", "eint-app7-1", "eint-app7-5.2"],
        warns: &[],
    },
    Defect {
        id: "bus-reboot-unannounced",
        system: "bus",
        description: "the operator reboots the bus at 02:00 on the first working day of an availability period, two hours down, without telling anyone",
        clauses: &[
            "eint-app7-1",
            "eint-app7-5.1",
            "eint-app7-5.2",
            "eint-app7-5.4",
            "eint-app7-5.6",
        ],
        warns: &[],
    },
    Defect {
        id: "bus-switch-off-not-applied",
        system: "bus",
        description: "the operator announces that it switched off a service whose error its owner did not fix, but the bus keeps routing calls to it",
        clauses: &["eint-app7-5.7"],
        warns: &[],
    },
    Defect {
        id: "bus-switch-off-reporter-only",
        system: "bus",
        description: "the operator tells only the participant that reported the error that it switched the service off, not its owner or the other initiators",
        clauses: &["eint-app7-5.7"],
        warns: &[],
    },
    Defect {
        id: "bus-index-flattering",
        system: "bus",
        description: "the operator publishes an availability index of 100 % whatever its breaks and outages",
        clauses: &["eint-app7-7"],
        warns: &[],
    },
    Defect {
        id: "bus-update-any-channel",
        system: "bus",
        description: "the operator's desk carries out update applications whatever channel they came by, e-mail included, not only through the portal after authorisation",
        clauses: &["eint-45-9", "eint-45-13"],
        warns: &[],
    },
    Defect {
        id: "bus-publication-form-unchecked",
        system: "bus",
        description: "the operator accepts publication applications on their service key alone, whatever else of Appendix 3 is missing (the NCA transport certificate, the interaction mode)",
        clauses: &["eint-app3"],
        warns: &[],
    },
    Defect {
        id: "bus-connection-form-unchecked",
        system: "bus",
        description: "the operator accepts connection applications on their service key alone, whatever else of Appendix 5 is missing (the basis of connection, the message sending mode), and opens the test contour to the initiator",
        clauses: &["eint-app5", "eint-33"],
        warns: &[],
    },
    Defect {
        id: "bus-testing-overrun",
        system: "bus",
        description: "the operator keeps the testing of a service or a connection open for its full quarter and agrees the positive test act only 3 months and a week after it accepted the application",
        clauses: &["eint-21"],
        warns: &[],
    },
    Defect {
        id: "bus-xsd-not-checked",
        system: "bus",
        description: "the operator publishes a service whose request and response samples do not validate against its XSD",
        clauses: &["eint-14"],
        warns: &[],
    },
    Defect {
        id: "bus-test-act-unchecked",
        system: "bus",
        description: "the operator agrees test acts on their conclusion alone, whatever else of Appendix 4 is missing",
        clauses: &["eint-app4"],
        warns: &[],
    },
];

/// A decision of the operator that the bus routes by, from the instant its notice leaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The service's passport is in the registry (eint-27).
    Published { service: String, at: Timestamp },
    /// Production access to the service: for the initiator named, or (after a publication
    /// act) for every initiator whose connection waited on the service's publication.
    Granted {
        service: String,
        initiator: Option<String>,
        at: Timestamp,
    },
    /// The service is removed from the registry (eint-7).
    Removed { service: String, at: Timestamp },
    /// The initiator is disconnected from the service (eint-7).
    Disconnected {
        initiator: String,
        service: String,
        at: Timestamp,
    },
    /// Every interaction of the system is suspended (eint-65).
    Suspended { system: String, at: Timestamp },
    /// The service is switched off over a technical error its owner did not fix
    /// (eint-app7-5.7).
    SwitchedOff { service: String, at: Timestamp },
    /// The initiator's connection application was accepted: it may call the service on the
    /// test contour (eint-33, eint-app7-5.5); production waits for its grant.
    Testing {
        service: String,
        initiator: String,
        at: Timestamp,
    },
    /// The bus does not serve between `from` and `until`: an announced technological break
    /// (`planned`: it answers a Maintenance fault) or an outage (it takes no connection).
    Outage {
        from: Timestamp,
        until: Timestamp,
        planned: bool,
    },
}

pub type Ledger = Rc<RefCell<Vec<Decision>>>;

/// One ledger per scenario (by its seed), for the life of one run of the reference: the
/// scenario's desk writes it, the scenario's bus routes by it.
#[derive(Debug, Clone, Default)]
pub struct Ledgers(Rc<RefCell<BTreeMap<u64, Ledger>>>);

impl Ledgers {
    pub fn get(&self, seed: u64) -> Ledger {
        self.0.borrow_mut().entry(seed).or_default().clone()
    }
}

/// What the operator does with one kind of application.
struct Procedure {
    application: DocKind,
    /// The fields the application's form must fill (Appendices 4, 8, 9; eint-14).
    required: &'static [&'static str],
    /// Working days the check may take; `None` where the rules set no term for it.
    check_term: Option<u32>,
    /// What the operator does after a positive check, in order.
    completions: &'static [DocKind],
    /// Working days the completion may take after the check.
    completion_term: u32,
}

/// Appendix 4: the test and commissioning act.
const TEST_ACT: &[&str] = &[
    "participants",
    "systems",
    "service-name",
    "service-key",
    "conclusion",
    "test-scenario",
    "decision",
    "is-test-act",
    "production-date",
];

/// Appendix 3: the publication application, the data the operator cannot publish without.
const PUBLICATION_APPLICATION: &[&str] = &[
    "owner",
    "bin",
    "system-name",
    "transport-certificate",
    "is-test-act",
    "service-name",
    "service-description",
    "service-key",
    "interaction-mode",
    "publish-external",
    "publish-inner",
    "personal-data",
    "routing-flag",
    "url-test",
    "url-production",
    "xsd",
    "request-sample",
    "response-sample",
];

/// Appendix 5: the connection application.
const CONNECTION_APPLICATION: &[&str] = &[
    "owner",
    "initiator",
    "initiator-bin",
    "basis",
    "responsible-person",
    "system-name",
    "transport-certificate",
    "is-test-act",
    "interaction-contour",
    "service-key",
    "interaction-mode",
    "message-sending-mode",
];

const PROCEDURES: &[Procedure] = &[
    // Accepted, an application opens testing with the developers (eint-21), on the test
    // contour for a connection; publication and production access follow the test act.
    Procedure {
        application: DocKind::PublicationApplication,
        required: PUBLICATION_APPLICATION,
        check_term: None,
        completions: &[],
        completion_term: 1,
    },
    Procedure {
        application: DocKind::ConnectionApplication,
        required: CONNECTION_APPLICATION,
        check_term: None,
        completions: &[],
        completion_term: 1,
    },
    Procedure {
        application: DocKind::ServiceUpdateApplication,
        required: &[
            "service-id",
            "owner",
            "change-description",
            "xsd",
            "request-sample",
            "response-sample",
        ],
        check_term: Some(3),
        completions: &[DocKind::UpdateCompleted],
        completion_term: 10,
    },
    Procedure {
        application: DocKind::ConnectionUpdateApplication,
        required: &[
            "service-id",
            "initiator",
            "change-description",
            "addresses",
            "message-sending-mode",
        ],
        check_term: Some(3),
        completions: &[DocKind::UpdateCompleted],
        completion_term: 10,
    },
    Procedure {
        application: DocKind::PublicationTestAct,
        required: TEST_ACT,
        check_term: None,
        completions: &[DocKind::PassportPublished, DocKind::ProductionAccessGranted],
        completion_term: 10,
    },
    Procedure {
        application: DocKind::ConnectionTestAct,
        required: TEST_ACT,
        check_term: None,
        completions: &[DocKind::ProductionAccessGranted],
        completion_term: 10,
    },
    // eint-7 sets no term for removals and disconnections: the desk's own pace.
    Procedure {
        application: DocKind::ServiceRemovalRequest,
        required: &["service-id", "owner", "reason"],
        check_term: None,
        completions: &[DocKind::UpdateCompleted],
        completion_term: 5,
    },
    Procedure {
        application: DocKind::InitiatorDisconnectionRequest,
        required: &["service-id", "initiator", "reason"],
        check_term: None,
        completions: &[DocKind::DisconnectionNotice],
        completion_term: 5,
    },
];

pub struct OperatorDesk {
    clerk: Clerk,
    ledger: Ledger,
    /// Testing under way (eint-21): (service, the applicant, or "" for the owner's
    /// publication) → when the operator accepted the application.
    testing: BTreeMap<(String, String), Timestamp>,
    /// Index reports due: (when, the agreement it answers, period start, period end).
    reports: Vec<(Timestamp, Document, Timestamp, Timestamp)>,
    /// Switch-offs due unless the owner reports the error fixed first: (when, the report).
    switch_offs: Vec<(Timestamp, Document)>,
}

impl OperatorDesk {
    pub fn new(seed: u64, defects: &[&'static str]) -> Self {
        OperatorDesk {
            clerk: Clerk::new(seed, "bus-operator-desk", defects),
            ledger: Ledger::default(),
            testing: BTreeMap::new(),
            reports: Vec::new(),
            switch_offs: Vec::new(),
        }
    }

    /// Records the desk's routing decisions in `ledger`, which the scenario's bus reads.
    pub fn with_ledger(mut self, ledger: Ledger) -> Self {
        self.ledger = ledger;
        self
    }

    /// eint-65: a system's test act was revoked: its interactions are suspended within one
    /// working day, and the requester told so.
    fn revoked(&mut self, now: Timestamp, app: &Document, env: &mut DeskEnv<'_>) {
        let Some(system) = app.fields.get("system").filter(|s| !s.trim().is_empty()) else {
            let at = env.answer_at(&mut self.clerk, clock::local(now).date(), 1);
            if let Some(at) = at {
                env.send_at(
                    at,
                    app.answer(
                        DocKind::ReturnedForRework,
                        Channel::Portal,
                        BTreeMap::new(),
                        vec![
                            "system is missing or empty: which system's test act was revoked"
                                .into(),
                        ],
                    ),
                );
            }
            return;
        };
        let days = if self.clerk.has("bus-suspension-late") {
            2
        } else {
            1
        };
        let Some(at) = env.answer_at(&mut self.clerk, clock::local(now).date(), days) else {
            return;
        };
        self.ledger.borrow_mut().push(Decision::Suspended {
            system: system.clone(),
            at,
        });
        if !self.clerk.has("bus-suspension-silent") {
            env.send_at(
                at,
                app.answer(
                    DocKind::SuspensionNotice,
                    Channel::Portal,
                    [("system".to_string(), system.clone())].into(),
                    Vec::new(),
                ),
            );
        }
    }

    /// eint-app7-1, 5.4, 7: an availability agreement for a period: the operator plans its
    /// technological break in the period (a Saturday night, 23:00 to 03:00, announced at
    /// least 3 working days ahead) and publishes the index of the period after it ends.
    fn agreed(&mut self, now: Timestamp, app: &Document, env: &mut DeskEnv<'_>) {
        let date = |k: &str| {
            app.fields
                .get(k)
                .and_then(|v| v.parse::<jiff::civil::Date>().ok())
        };
        let (Some(first), Some(last)) = (date("period-start"), date("period-end")) else {
            if let Some(at) = env.answer_at(&mut self.clerk, clock::local(now).date(), 1) {
                env.send_at(
                    at,
                    app.answer(
                        DocKind::ReturnedForRework,
                        Channel::Portal,
                        BTreeMap::new(),
                        vec!["period-start and period-end must be dates (YYYY-MM-DD)".into()],
                    ),
                );
            }
            return;
        };
        let (Ok(from), Ok(until)) = (
            clock::instant(first.to_datetime(jiff::civil::Time::midnight())),
            clock::end_of_day(last),
        ) else {
            return;
        };
        let today = clock::local(now).date();
        // The first Saturday at least 4 working days away, inside the period.
        let Ok(earliest) = env.calendar.add_working_days(today, 4) else {
            return;
        };
        let mut day = earliest.max(first);
        while day.weekday() != jiff::civil::Weekday::Saturday {
            let Ok(next) = day.tomorrow() else { return };
            day = next;
        }
        let start = clock::instant(day.at(23, 0, 0, 0));
        let end = day
            .tomorrow()
            .ok()
            .map(|d| clock::instant(d.at(3, 0, 0, 0)));
        if let (Ok(start), Some(Ok(end))) = (start, end)
            && end <= until
        {
            let announce = if self.clerk.has("bus-break-announced-late") {
                env.calendar.add_working_days(day, 0).ok().and_then(|_| {
                    // one working day before the break's day
                    let mut d = day.yesterday().ok()?;
                    while !env.calendar.is_working_day(d).ok()? {
                        d = d.yesterday().ok()?;
                    }
                    env.office_time(d, 60)
                })
            } else {
                env.office_time(today, 60).map(|t| t.max(now))
            };
            if let Some(at) = announce {
                let mut fields = BTreeMap::new();
                fields.insert("start".to_string(), clock::display(start));
                fields.insert("end".to_string(), clock::display(end));
                if let Some(s) = app.fields.get("service-id") {
                    fields.insert("service".to_string(), s.clone());
                }
                env.send_at(
                    at,
                    app.answer(
                        DocKind::MaintenanceNotice,
                        Channel::Portal,
                        fields,
                        Vec::new(),
                    ),
                );
                // The break opens with a reboot of the bus (eint-app7-5.6: announced by the
                // notice that gives the break's time): two hours in which it takes no
                // connection, then maintenance faults until the break ends.
                let reboot_end = start
                    .checked_add(jiff::SignedDuration::from_hours(2))
                    .unwrap_or(end)
                    .min(end);
                let mut ledger = self.ledger.borrow_mut();
                ledger.push(Decision::Outage {
                    from: start,
                    until: reboot_end,
                    planned: false,
                });
                ledger.push(Decision::Outage {
                    from: reboot_end,
                    until: end,
                    planned: true,
                });
            }
        }
        if self.clerk.has("bus-reboot-unannounced") {
            // A reboot at 02:00 on the night of the period's first working day, two hours,
            // that no notice gives.
            let mut d = first;
            while !env.calendar.is_working_day(d).unwrap_or(true) {
                let Ok(next) = d.tomorrow() else { break };
                d = next;
            }
            if let Ok(start) = clock::instant(d.at(2, 0, 0, 0))
                && let Ok(end) = start.checked_add(jiff::SignedDuration::from_hours(2))
            {
                self.ledger.borrow_mut().push(Decision::Outage {
                    from: start,
                    until: end,
                    planned: false,
                });
            }
        }
        if self.clerk.has("bus-unplanned-outage") {
            // Six hours on the period's tenth working day, from 10:00.
            if let Ok(d) = env.calendar.add_working_days(first, 9)
                && let Ok(start) = clock::instant(d.at(10, 0, 0, 0))
                && let Ok(end) = start.checked_add(jiff::SignedDuration::from_hours(6))
            {
                self.ledger.borrow_mut().push(Decision::Outage {
                    from: start,
                    until: end,
                    planned: false,
                });
            }
        }
        if let Some(at) = env
            .calendar
            .add_working_days(last, 1)
            .ok()
            .and_then(|d| env.office_time(d, 30))
        {
            env.wake_at(at);
            self.reports.push((at, app.clone(), from, until));
        }
    }

    /// eint-app7-5.7: a participant reported a technical error of a service. The owner has
    /// five working days to report it fixed; otherwise the operator switches the service off
    /// and tells the reporter, the owner and the participants the report names.
    fn error_reported(&mut self, now: Timestamp, app: &Document, env: &mut DeskEnv<'_>) {
        if app.fields.get("fixed").is_some_and(|v| v.trim() == "yes") {
            self.switch_offs.retain(|(_, r)| r.case != app.case);
            return;
        }
        if app
            .fields
            .get("service-id")
            .is_none_or(|s| s.trim().is_empty())
        {
            if let Some(at) = env.answer_at(&mut self.clerk, clock::local(now).date(), 1) {
                env.send_at(
                    at,
                    app.answer(
                        DocKind::ReturnedForRework,
                        Channel::Portal,
                        BTreeMap::new(),
                        vec!["service-id is missing or empty: which service fails".into()],
                    ),
                );
            }
            return;
        }
        if let Some(at) = env.answer_at(&mut self.clerk, clock::local(now).date(), 5) {
            env.wake_at(at);
            self.switch_offs.push((at, app.clone()));
        }
    }

    fn switch_off(&mut self, now: Timestamp, report: &Document, env: &mut DeskEnv<'_>) {
        let Some(service) = report
            .fields
            .get("service-id")
            .map(|s| s.trim().to_string())
        else {
            return;
        };
        if !self.clerk.has("bus-switch-off-not-applied") {
            self.ledger.borrow_mut().push(Decision::SwitchedOff {
                service: service.clone(),
                at: now,
            });
        }
        let mut told = vec![report.from.clone()];
        if !self.clerk.has("bus-switch-off-reporter-only") {
            let named = report
                .fields
                .get("participants")
                .map(|p| {
                    p.split(',')
                        .map(|s| s.trim().to_string())
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default();
            for p in report.fields.get("owner").cloned().into_iter().chain(named) {
                if !p.is_empty() && !told.contains(&p) {
                    told.push(p);
                }
            }
        }
        let fields: BTreeMap<String, String> = [("service".to_string(), service)].into();
        for to in told {
            let mut doc = report.answer(
                DocKind::ServiceSwitchedOff,
                Channel::Portal,
                fields.clone(),
                Vec::new(),
            );
            doc.to = to;
            env.send_at(now, doc);
        }
    }

    /// The index of `[from, until]`: (T − P) / T × 100, P the hours of every break and
    /// outage the operator's ledger holds within it.
    fn index(&self, from: Timestamp, until: Timestamp) -> f64 {
        let total = until.duration_since(from).as_secs_f64();
        let down: f64 = self
            .ledger
            .borrow()
            .iter()
            .filter_map(|d| match d {
                Decision::Outage {
                    from: a, until: b, ..
                } => {
                    let s = (*a).max(from);
                    let e = (*b).min(until);
                    (e > s).then(|| e.duration_since(s).as_secs_f64())
                }
                _ => None,
            })
            .sum();
        if total <= 0.0 {
            100.0
        } else {
            (total - down) / total * 100.0
        }
    }

    /// What completing `doc` for `app` means for routing, from `at`.
    fn decide(&self, app: &Document, doc: DocKind, at: Timestamp) {
        let Some(service) = app
            .fields
            .get("service-id")
            .or(app.fields.get("service-key"))
            .cloned()
        else {
            return;
        };
        let d = match (app.doc, doc) {
            (_, DocKind::PassportPublished) => Decision::Published { service, at },
            (DocKind::ConnectionTestAct, DocKind::ProductionAccessGranted) => Decision::Granted {
                service,
                initiator: Some(app.from.clone()),
                at,
            },
            (_, DocKind::ProductionAccessGranted) => Decision::Granted {
                service,
                initiator: None,
                at,
            },
            (DocKind::ServiceRemovalRequest, DocKind::UpdateCompleted) => {
                Decision::Removed { service, at }
            }
            (DocKind::InitiatorDisconnectionRequest, DocKind::DisconnectionNotice) => {
                let Some(initiator) = app.fields.get("initiator").cloned() else {
                    return;
                };
                Decision::Disconnected {
                    initiator,
                    service,
                    at,
                }
            }
            _ => return,
        };
        self.ledger.borrow_mut().push(d);
    }

    fn problems(&self, p: &Procedure, app: &Document) -> Vec<String> {
        let is_act = p.required == TEST_ACT;
        let form_unchecked = (is_act && self.clerk.has("bus-test-act-unchecked"))
            || (p.application == DocKind::PublicationApplication
                && self.clerk.has("bus-publication-form-unchecked"))
            || (p.application == DocKind::ConnectionApplication
                && self.clerk.has("bus-connection-form-unchecked"));
        let mut problems: Vec<String> = p
            .required
            .iter()
            .filter(|f| !form_unchecked || **f == "conclusion" || **f == "service-key")
            .filter(|f| app.fields.get(**f).is_none_or(|v| v.trim().is_empty()))
            .map(|f| format!("{f} is missing or empty"))
            .collect();
        // eint-45-9, 45-13: updates are applied for on the portal, after authorisation.
        if p.check_term.is_some()
            && app.channel != Channel::Portal
            && !self.clerk.has("bus-update-any-channel")
        {
            problems.push(format!(
                "the application came by {}: update applications are made on the e-government portal after authorisation",
                app.channel.as_str()
            ));
        }
        // eint-14: the service's XSD comes with request and response samples that keep it.
        if app.doc == DocKind::PublicationTestAct
            && let Some(xsd) = app.fields.get("xsd").filter(|x| !x.trim().is_empty())
            && !self.clerk.has("bus-xsd-not-checked")
        {
            let mut samples = Vec::new();
            for f in ["request-sample", "response-sample"] {
                match app.fields.get(f).filter(|s| !s.trim().is_empty()) {
                    Some(s) => samples.push((f, s.as_str())),
                    None => problems.push(format!(
                        "{f} is missing or empty: the XSD comes with XML examples of request and response (eint-14)"
                    )),
                }
            }
            problems.extend(
                crate::xsd::problems(xsd, &samples)
                    .into_iter()
                    .map(|p| format!("{p} (eint-14)")),
            );
        }
        if p.required.contains(&"conclusion")
            && let Some(c) = app.fields.get("conclusion")
            && !c.trim().is_empty()
            && c.trim() != "positive"
        {
            problems.push(format!(
                "the test act's conclusion is `{c}`, not positive: rework and test again"
            ));
        }
        problems
    }

    /// Working days after the check for each completion, defects included.
    fn completion_days(&mut self, p: &Procedure, doc: DocKind) -> u32 {
        match doc {
            DocKind::UpdateCompleted if self.clerk.has("bus-update-late") => 11,
            DocKind::PassportPublished if self.clerk.has("bus-passport-late") => 11,
            DocKind::ProductionAccessGranted if self.clerk.has("bus-access-late") => 12,
            _ => self.clerk.draw(1..=p.completion_term),
        }
    }
}

/// Whose testing an application or a test act belongs to: (service, the initiator, or ""
/// for the owner's publication).
fn testing_key(app: &Document) -> Option<(String, String)> {
    let service = app
        .fields
        .get("service-key")
        .or(app.fields.get("service-id"))?
        .trim()
        .to_string();
    match app.doc {
        DocKind::PublicationApplication | DocKind::PublicationTestAct => {
            Some((service, String::new()))
        }
        DocKind::ConnectionApplication | DocKind::ConnectionTestAct => {
            Some((service, app.from.clone()))
        }
        _ => None,
    }
}

impl Desk for OperatorDesk {
    fn party(&self) -> &str {
        "operator"
    }

    fn wake(&mut self, now: Timestamp, env: &mut DeskEnv<'_>) {
        let due: Vec<_> = self
            .switch_offs
            .iter()
            .filter(|r| r.0 <= now)
            .cloned()
            .collect();
        self.switch_offs.retain(|r| r.0 > now);
        for (_, report) in due {
            self.switch_off(now, &report, env);
        }
        let due: Vec<_> = self
            .reports
            .iter()
            .filter(|r| r.0 <= now)
            .cloned()
            .collect();
        self.reports.retain(|r| r.0 > now);
        for (_, app, from, until) in due {
            let index = if self.clerk.has("bus-index-flattering") {
                100.0
            } else {
                self.index(from, until)
            };
            let mut fields = BTreeMap::new();
            fields.insert("index".to_string(), format!("{index:.2}"));
            if let Some(s) = app.fields.get("service-id") {
                fields.insert("service".to_string(), s.clone());
            }
            env.send_at(
                now,
                app.answer(
                    DocKind::AvailabilityReport,
                    Channel::Portal,
                    fields,
                    Vec::new(),
                ),
            );
        }
    }

    fn receive(&mut self, now: Timestamp, app: &Document, env: &mut DeskEnv<'_>) {
        if app.doc == DocKind::TestActRevocation {
            self.revoked(now, app, env);
            return;
        }
        if app.doc == DocKind::AvailabilityAgreement {
            self.agreed(now, app, env);
            return;
        }
        if app.doc == DocKind::TechnicalErrorReport {
            self.error_reported(now, app, env);
            return;
        }
        let Some(p) = PROCEDURES.iter().find(|p| p.application == app.doc) else {
            return;
        };
        let service: BTreeMap<String, String> = app
            .fields
            .get("service-id")
            .or(app.fields.get("service-key"))
            .map(|id| [("service".to_string(), id.clone())].into())
            .unwrap_or_default();
        let reply = |doc, reasons| app.answer(doc, Channel::Portal, service.clone(), reasons);
        let check_days = match p.check_term {
            Some(_) if self.clerk.has("bus-check-late") => 4,
            Some(term) => self.clerk.draw(1..=term),
            None => self.clerk.draw(1..=5),
        };
        let Some(mut check_at) =
            env.answer_at(&mut self.clerk, clock::local(now).date(), check_days)
        else {
            return; // no calendar for that year: the desk cannot plan, and the oracle says why
        };
        let key = testing_key(app);
        if let Some(started) = key.as_ref().and_then(|k| self.testing.get(k)).copied()
            && self.clerk.has("bus-testing-overrun")
            && matches!(
                app.doc,
                DocKind::PublicationTestAct | DocKind::ConnectionTestAct
            )
        {
            // The operator keeps the testing open for its full quarter and agrees the act a
            // week after.
            let late = clock::local(started)
                .date()
                .checked_add(jiff::Span::new().months(3).days(7))
                .ok()
                .and_then(|d| env.answer_at(&mut self.clerk, d, 1));
            if let Some(late) = late {
                check_at = check_at.max(late);
            }
        }
        let mut problems = self.problems(p, app);
        self.clerk
            .refuse_anyway("bus-desk-refuses-everything", &mut problems);
        if !problems.is_empty() {
            let reasons = if self.clerk.has("bus-return-without-reasons") {
                Vec::new()
            } else {
                problems
            };
            env.send_at(check_at, reply(DocKind::ReturnedForRework, reasons));
            return;
        }
        if self.clerk.has("bus-silent-check") && p.check_term.is_some() {
            // Nothing to see of the check; the update lands within 13 working days of receipt.
            if let Some(at) = env.answer_at(&mut self.clerk, clock::local(now).date(), 12) {
                env.send_at(at, reply(DocKind::UpdateCompleted, Vec::new()));
            }
            return;
        }
        env.send_at(check_at, reply(DocKind::CheckPassed, Vec::new()));
        if matches!(
            app.doc,
            DocKind::PublicationApplication | DocKind::ConnectionApplication
        ) && let Some(key) = key
        {
            if app.doc == DocKind::ConnectionApplication {
                self.ledger.borrow_mut().push(Decision::Testing {
                    service: key.0.clone(),
                    initiator: key.1.clone(),
                    at: check_at,
                });
            }
            self.testing.entry(key).or_insert(check_at);
        }
        for doc in p.completions {
            let days = self.completion_days(p, *doc);
            let Some(at) = env.answer_at(&mut self.clerk, clock::local(check_at).date(), days)
            else {
                return;
            };
            env.send_at(at, reply(*doc, Vec::new()));
            self.decide(app, *doc, at);
        }
    }
}
