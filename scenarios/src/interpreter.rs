//! Plays one scenario against a target's desk on the business calendar, recording what the
//! harness's probes observe.

use jiff::Timestamp;
use qaqpa_sim::agenda::Agenda;
use qaqpa_sim::calendar::{BusinessCalendar, CalendarError};
use qaqpa_sim::clock;
use qaqpa_sim::target::{Desk, DeskEnv, Target, TargetError};
use qaqpa_sim::trace::{CaseKnowledge, Document, Event, Subject, SubjectKind, Trace};

use crate::scenario::{Action, Scenario, When};

#[derive(Debug, thiserror::Error)]
pub enum PlayError {
    #[error("{file}: {source}")]
    Calendar { file: String, source: CalendarError },
    #[error("{file}: {source}")]
    Target { file: String, source: TargetError },
    #[error("{file}: replay: {message}")]
    Replay { file: String, message: String },
}

/// The scenario's packet gateway, asked of the target on first use.
fn packet_gw<'g>(
    slot: &'g mut Option<Box<dyn qaqpa_sim::packetnet::PacketGateway>>,
    target: &dyn Target,
    seed: u64,
) -> Result<&'g mut Box<dyn qaqpa_sim::packetnet::PacketGateway>, TargetError> {
    if slot.is_none() {
        *slot = Some(target.packet_gateway(seed)?);
    }
    Ok(slot.as_mut().expect("just set"))
}

enum Happening {
    Step(usize),
    Deliver(Document),
    Wake,
    /// The desk's own act on its packet gateway.
    Apply(qaqpa_sim::packetnet::PolicyAct),
    /// An observation a mail episode's probe made, at its simulated instant.
    Seen(Box<crate::mail::Seen>),
}

/// The probe name of the harness's own records (what it sent and knows), as opposed to what
/// it observed of the system under test.
pub const HARNESS: &str = "harness";

/// The probe at a party's inbox: where the harness sees a document arrive.
pub fn inbox(party: &str) -> String {
    format!("inbox:{party}")
}

/// The instant a scenario's time expression names; without a time of day, the start's time
/// of day, or the end of the day when `end_of_day`.
pub fn instant_of(
    calendar: &BusinessCalendar,
    scenario: &Scenario,
    when: When,
    end_of_day: bool,
) -> Result<Timestamp, CalendarError> {
    let start = scenario.start;
    let (date, time) = match when {
        When::At(dt) => return Ok(clock::instant(dt)),
        When::WorkingDay(n, t) => (calendar.add_working_days(start.date(), n)?, t),
        When::Day(n, t) => (calendar.add_calendar_days(start.date(), n as i32), t),
    };
    Ok(match (time, end_of_day) {
        (Some(t), _) => clock::instant(date.to_datetime(t)),
        (None, true) => clock::end_of_day(date),
        (None, false) => clock::instant(date.to_datetime(start.time())),
    })
}

/// The scenario's last instant: observations after it are not made, deadlines after it are
/// not judged.
pub fn scenario_end(
    calendar: &BusinessCalendar,
    scenario: &Scenario,
) -> Result<Timestamp, PlayError> {
    instant_of(calendar, scenario, scenario.until, true).map_err(|source| PlayError::Calendar {
        file: scenario.file.clone(),
        source,
    })
}

/// Runs `scenario` with `seed` (the scenario's own, derived from the run's) and returns the
/// trace of everything observed until the scenario's end.
pub fn play(
    scenario: &Scenario,
    calendar: &BusinessCalendar,
    target: &dyn Target,
    seed: u64,
) -> Result<Trace, PlayError> {
    let file = || scenario.file.clone();
    let cal_err = |source| PlayError::Calendar {
        file: file(),
        source,
    };
    let mut desk: Option<Box<dyn Desk>> = match scenario.desk {
        Some(kind) => Some(
            target
                .desk(kind, seed)
                .map_err(|source| PlayError::Target {
                    file: file(),
                    source,
                })?,
        ),
        None => None,
    };
    let start = clock::instant(scenario.start);
    let end = scenario_end(calendar, scenario)?;

    let mut agenda = Agenda::starting_at(start);
    for (i, step) in scenario.steps.iter().enumerate() {
        agenda.schedule(
            instant_of(calendar, scenario, step.at.value, false).map_err(cal_err)?,
            Happening::Step(i),
        );
    }

    let mut trace = Trace::new();
    let mut gateway: Option<Box<dyn qaqpa_sim::packetnet::PacketGateway>> = None;
    let desk_party = desk
        .as_ref()
        .map(|d| d.party().to_string())
        .unwrap_or_default();
    while let Some((now, happening)) = agenda.pop_until(end) {
        let mut env = DeskEnv::new(calendar);
        match happening {
            Happening::Step(i) => match scenario.steps[i].action() {
                Action::Send(send) => {
                    let desk = desk
                        .as_mut()
                        .expect("Scenario::parse demands a desk for send steps");
                    let doc = Document {
                        case: send.case.clone(),
                        doc: send.document,
                        from: send.from.value.clone(),
                        to: desk_party.clone(),
                        channel: send.channel,
                        fields: send.fields.clone(),
                        reasons: Vec::new(),
                    };
                    if let Some(inf) = &send.infeasible {
                        trace.record(
                            now,
                            HARNESS,
                            Subject::case(&doc.case),
                            Event::Known(CaseKnowledge {
                                case: doc.case.clone(),
                                infeasible: inf.fields.clone(),
                                because: inf.because.clone(),
                            }),
                        );
                    }
                    trace.record(
                        now,
                        inbox(&desk_party),
                        Subject::case(&doc.case),
                        Event::Document(doc.clone()),
                    );
                    desk.receive(now, &doc, &mut env);
                }
                Action::Policy(acts) => {
                    let gw = packet_gw(&mut gateway, target, seed).map_err(|source| {
                        PlayError::Target {
                            file: file(),
                            source,
                        }
                    })?;
                    let done = crate::oracle::network::replay::apply(gw.as_mut(), now, acts)
                        .map_err(|message| PlayError::Replay {
                            file: file(),
                            message,
                        })?;
                    // The trace keeps the act as the harness asked for it: the scope of an
                    // exemption or a catalogue entry is what was requested, whatever the
                    // gateway says it did. Only a notice is the gateway's own output.
                    let recorded = acts.iter().zip(done).map(|(asked, did)| match asked {
                        qaqpa_sim::packetnet::PolicyAct::CatalogueNotice { .. } => did,
                        other => other.clone(),
                    });
                    for a in recorded {
                        trace.record(
                            now,
                            crate::oracle::network::TAP,
                            Subject {
                                kind: SubjectKind::Host,
                                id: "ugia".into(),
                            },
                            Event::PolicyAct(a),
                        );
                    }
                }
                Action::Replay(spec) => {
                    let gw = packet_gw(&mut gateway, target, seed).map_err(|source| {
                        PlayError::Target {
                            file: file(),
                            source,
                        }
                    })?;
                    let seen = crate::oracle::network::replay::run(gw.as_mut(), now, spec)
                        .map_err(|message| PlayError::Replay {
                            file: file(),
                            message,
                        })?;
                    for f in seen {
                        let id =
                            format!("{} {}:{} > {}:{}", f.proto, f.src, f.sport, f.dst, f.dport);
                        trace.record(
                            now,
                            crate::oracle::network::TAP,
                            Subject {
                                kind: SubjectKind::Flow,
                                id,
                            },
                            Event::Flow(f),
                        );
                    }
                }
                Action::Web(spec) => {
                    let label = format!("web-step-{i}");
                    let seen = crate::web::run_episode(spec, target, seed, now, &label).map_err(
                        |source| PlayError::Target {
                            file: file(),
                            source,
                        },
                    )?;
                    for s in seen {
                        agenda.schedule(s.at, Happening::Seen(Box::new(s)));
                    }
                }
                Action::Mail(spec) => {
                    let label = format!("mail-step-{i}");
                    let seen = crate::mail::run_episode(spec, target, seed, now, &label).map_err(
                        |source| PlayError::Target {
                            file: file(),
                            source,
                        },
                    )?;
                    for s in seen {
                        agenda.schedule(s.at, Happening::Seen(Box::new(s)));
                    }
                }
            },
            Happening::Seen(s) => {
                let s = *s;
                trace.record(now, s.probe, s.subject, s.event);
            }
            Happening::Deliver(doc) => {
                trace.record(
                    now,
                    inbox(&doc.to),
                    Subject::case(&doc.case),
                    Event::Document(doc),
                );
            }
            Happening::Wake => {
                if let Some(d) = desk.as_mut() {
                    d.wake(now, &mut env);
                }
            }
            Happening::Apply(act) => {
                let gw =
                    packet_gw(&mut gateway, target, seed).map_err(|source| PlayError::Target {
                        file: file(),
                        source,
                    })?;
                gw.apply(now, &act).map_err(|message| PlayError::Replay {
                    file: file(),
                    message: format!("the desk's own policy act: {message}"),
                })?;
            }
        }
        let out = env.take();
        for (at, doc) in out.sends {
            agenda.schedule(at, Happening::Deliver(doc));
        }
        for at in out.wakeups {
            agenda.schedule(at, Happening::Wake);
        }
        for (at, act) in out.acts {
            agenda.schedule(at, Happening::Apply(act));
        }
    }
    Ok(trace)
}
