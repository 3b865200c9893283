//! Plays one scenario against a target's desk on the business calendar, recording what the
//! harness's probes observe.

use jiff::Timestamp;
use qaqpa_sim::agenda::Agenda;
use qaqpa_sim::calendar::{BusinessCalendar, CalendarError};
use qaqpa_sim::clock;
use qaqpa_sim::target::{Desk, DeskEnv, Target, TargetError};
use qaqpa_sim::trace::{CaseKnowledge, Document, Event, Subject, SubjectKind, Trace};

use crate::oracle::network::replay::Wires;
use crate::scenario::{Action, Scenario, ScenarioError, When};

#[derive(Debug, thiserror::Error)]
pub enum PlayError {
    /// The scenario's times do not fit: out of the clock's range, a step outside
    /// `start`..`until`. Found before anything runs, with the file, line and column.
    #[error(transparent)]
    Schedule(#[from] ScenarioError),
    #[error("{file}: {source}")]
    Target { file: String, source: TargetError },
    #[error("{file}: replay: {message}")]
    Replay { file: String, message: String },
    #[error("{file}: signing: {source}")]
    Eds {
        file: String,
        source: qaqpa_sim::eds::EdsError,
    },
}

/// The scenario's wires with the target's packet device between them, set up on first use
/// at `now`: the harness installs its public web CA in the device's trust store for origins
/// (a note in the trace says which), and what the device's operator sends meanwhile (the
/// first root notice) reaches its inbox.
fn packet_wires<'g>(
    slot: &'g mut Option<Wires>,
    target: &dyn Target,
    seed: u64,
    now: Timestamp,
    agenda: &mut Agenda<Happening>,
    file: &str,
) -> Result<&'g mut Wires, PlayError> {
    if slot.is_none() {
        let err = |message: String| PlayError::Replay {
            file: file.to_string(),
            message,
        };
        let dev = target
            .packet_device(seed)
            .map_err(|source| PlayError::Target {
                file: file.to_string(),
                source,
            })?;
        let mut w = Wires::new(dev, seed, now).map_err(err)?;
        let trust = w.origin_trust();
        device(&mut w)
            .and_then(|d| d.apply(now, &trust))
            .map_err(|e| {
                err(format!(
                    "installing the harness's public CA in the device's trust store: {e}"
                ))
            })?;
        let mut fields = std::collections::BTreeMap::new();
        fields.insert(
            "certificate".to_string(),
            crate::tls::sha256_hex(w.web.ca.root()),
        );
        agenda.schedule(
            now,
            Happening::Seen(Box::new(crate::mail::Seen {
                at: now,
                probe: HARNESS.into(),
                subject: Subject {
                    kind: SubjectKind::Host,
                    id: "ugia".into(),
                },
                event: Event::Network(qaqpa_sim::trace::NetworkNote {
                    what: "origin-trust-installed".into(),
                    fields,
                }),
            })),
        );
        *slot = Some(w);
    }
    let w = slot.as_mut().expect("just set");
    deliver_notices(w, agenda);
    Ok(w)
}

/// The documents the device's operator sent (root notices) reach their addressee's inbox,
/// and the telecom operator passes each root on to its Users.
fn deliver_notices(w: &mut Wires, agenda: &mut Agenda<Happening>) {
    let Some(d) = w.device.as_mut() else {
        return;
    };
    for (at, doc) in d.notices() {
        w.web.roots.add_notice(at, &doc);
        agenda.schedule(at, Happening::Deliver(doc));
    }
}

fn device(
    w: &mut Wires,
) -> Result<&mut (dyn qaqpa_sim::packetnet::PacketDevice + 'static), String> {
    match w.device.as_mut() {
        Some(d) => Ok(d.as_mut()),
        None => Err("the device was lost by an earlier episode".to_string()),
    }
}

enum Happening {
    Step(usize),
    Deliver(Document),
    Wake,
    /// The desk's own act on its packet gateway.
    Apply(qaqpa_sim::packetnet::PolicyAct),
    /// An observation a mail episode's probe made, at its simulated instant.
    Seen(Box<crate::mail::Seen>),
    /// The `k`-th repetition of bus step `i` (probes over a period).
    BusAgain(usize, u32),
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
    let start = scenario.start.value;
    let (date, time) = match when {
        When::At(dt) => return clock::instant(dt),
        When::WorkingDay(n, t) => (calendar.add_working_days(start.date(), n)?, t),
        When::Day(n, t) => (calendar.add_calendar_days(start.date(), i64::from(n))?, t),
    };
    match (time, end_of_day) {
        (Some(t), _) => clock::instant(date.to_datetime(t)),
        (None, true) => clock::end_of_day(date),
        (None, false) => clock::instant(date.to_datetime(start.time())),
    }
}

/// When a scenario's parts happen, checked: every time has an instant, `until` is not before
/// `start`, and no step (nor a mail episode's observations) falls after `until`, where it
/// would silently never run.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub start: Timestamp,
    pub end: Timestamp,
    /// Each step's instant, in the file's order.
    pub steps: Vec<Timestamp>,
}

/// Works out and checks the scenario's schedule on `calendar`; an error names the file, the
/// line and column of the offending time and the limit it broke.
pub fn schedule(calendar: &BusinessCalendar, scenario: &Scenario) -> Result<Schedule, PlayError> {
    let at = |loc: &serde_saphyr::Location, message: String| ScenarioError {
        file: scenario.file.clone(),
        line: loc.line(),
        column: loc.column(),
        message,
    };
    let show = clock::display;
    let start_field = &scenario.start;
    let start = clock::instant(start_field.value).map_err(|e| {
        at(
            &start_field.referenced,
            format!("`start: {}`: {e}", start_field.value),
        )
    })?;
    let until = &scenario.until;
    let end = instant_of(calendar, scenario, until.value, true)
        .map_err(|e| at(&until.referenced, format!("`until: {}`: {e}", until.value)))?;
    if end < start {
        return Err(at(
            &until.referenced,
            format!(
                "`until: {}` ({}) is before `start` ({}): the scenario would observe nothing",
                until.value,
                show(end),
                show(start)
            ),
        )
        .into());
    }
    let mut steps = Vec::with_capacity(scenario.steps.len());
    for step in &scenario.steps {
        let loc = &step.at.referenced;
        let when = step.at.value;
        let t = instant_of(calendar, scenario, when, false)
            .map_err(|e| at(loc, format!("`at: {when}`: {e}")))?;
        // A step before `start` would run at another time than the file says.
        if t < start {
            return Err(at(
                loc,
                format!(
                    "`at: {when}` ({}) is before the scenario's `start` ({}): move it after `start` or start earlier",
                    show(t),
                    show(start)
                ),
            )
            .into());
        }
        if t > end {
            return Err(at(
                loc,
                format!(
                    "`at: {when}` ({}) is after the scenario's `until: {}` ({}): the step would never run; move it before `until` or extend `until`",
                    show(t),
                    until.value,
                    show(end)
                ),
            )
            .into());
        }
        let episode = match step.action() {
            Action::Mail(spec) => {
                Some(spec.seconds.saturating_add(crate::mail::CLOSING_GRACE_SECS))
            }
            Action::Bus(spec) => Some(
                spec.repeat
                    .as_ref()
                    .map_or(0, |r| {
                        r.offset(r.times.saturating_sub(1)).as_secs().max(0) as u64
                    })
                    .saturating_add(spec.episode_seconds()),
            ),
            _ => None,
        };
        if let Some(lasts) = episode {
            // turmoil's clock is a SystemTime and refuses an epoch before 1970.
            if t < Timestamp::UNIX_EPOCH {
                return Err(at(
                    loc,
                    format!(
                        "the network episode at `{when}` ({}) starts before 1970-01-01T00:00:00Z, where the network simulation's clock begins",
                        show(t)
                    ),
                )
                .into());
            }
            let episode_end = i64::try_from(lasts)
                .ok()
                .and_then(|secs| t.checked_add(jiff::SignedDuration::from_secs(secs)).ok());
            match episode_end {
                Some(e) if e <= end => {}
                _ => {
                    return Err(at(
                        loc,
                        format!(
                            "the network episode at `{when}` ({}) lasts {} s with its closing grace and would end after the scenario's `until: {}` ({}): its last observations would be lost; start it earlier or extend `until`",
                            show(t),
                            lasts,
                            until.value,
                            show(end)
                        ),
                    )
                    .into());
                }
            }
        }
        steps.push(t);
    }
    Ok(Schedule { start, end, steps })
}

/// The scenario's last instant: observations after it are not made, deadlines after it are
/// not judged.
pub fn scenario_end(
    calendar: &BusinessCalendar,
    scenario: &Scenario,
) -> Result<Timestamp, PlayError> {
    let until = &scenario.until;
    instant_of(calendar, scenario, until.value, true).map_err(|e| {
        PlayError::Schedule(ScenarioError {
            file: scenario.file.clone(),
            line: until.referenced.line(),
            column: until.referenced.column(),
            message: format!("`until: {}`: {e}", until.value),
        })
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
    let Schedule { start, end, steps } = schedule(calendar, scenario)?;
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
    // The scenario's stand-in for the NCA RK: the harness signs with it, and the desk is
    // handed its root (a copy, so that signing can issue certificates meanwhile).
    let eds_err = |source| PlayError::Eds {
        file: file(),
        source,
    };
    let mut pki = match desk {
        Some(_) => Some(
            qaqpa_sim::eds::TestPki::new(qaqpa_sim::seed::derive(seed, "eds-pki"), start)
                .map_err(eds_err)?,
        ),
        None => None,
    };
    let eds_root: Option<Vec<u8>> = pki.as_ref().map(|p| p.nca_root_der().to_vec());

    let mut agenda = Agenda::starting_at(start);
    for (i, at) in steps.into_iter().enumerate() {
        agenda.schedule(at, Happening::Step(i));
    }

    let mut trace = Trace::new();
    let mut wires: Option<Wires> = None;
    let desk_party = desk
        .as_ref()
        .map(|d| d.party().to_string())
        .unwrap_or_default();
    while let Some((now, happening)) = agenda.pop_until(end) {
        let mut env = DeskEnv::new(calendar);
        if let Some(root) = &eds_root {
            env = env.with_eds_root(root);
        }
        match happening {
            Happening::Step(i) => match scenario.steps[i].action() {
                Action::Send(send) => {
                    let desk = desk
                        .as_mut()
                        .expect("Scenario::parse demands a desk for send steps");
                    let mut doc = Document {
                        case: send.case.clone(),
                        doc: send.document,
                        from: send.from.value.clone(),
                        to: desk_party.clone(),
                        channel: send.channel,
                        fields: send.fields.clone(),
                        reasons: Vec::new(),
                    };
                    let signature = send.signature.as_ref().map(|s| s.value);
                    if let Some(kind) = signature {
                        let signer = scenario
                            .parties
                            .get(&send.from.value)
                            .map_or(send.from.value.as_str(), |p| p.name.as_str());
                        pki.as_mut()
                            .expect("a scenario with a desk has a PKI")
                            .sign(&mut doc, signer, kind, now)
                            .map_err(eds_err)?;
                    }
                    if send.infeasible.is_some() || signature.is_some() {
                        let inf = send.infeasible.as_ref();
                        trace.record(
                            now,
                            HARNESS,
                            Subject::case(&doc.case),
                            Event::Known(CaseKnowledge {
                                case: doc.case.clone(),
                                infeasible: inf.map(|i| i.fields.clone()).unwrap_or_default(),
                                because: inf.map(|i| i.because.clone()).unwrap_or_default(),
                                signature,
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
                    let w = packet_wires(&mut wires, target, seed, now, &mut agenda, &file())?;
                    let replay_err = |message| PlayError::Replay {
                        file: file(),
                        message,
                    };
                    let done = crate::oracle::network::replay::apply(
                        device(w).map_err(replay_err)?,
                        now,
                        acts,
                    )
                    .map_err(|message| PlayError::Replay {
                        file: file(),
                        message,
                    })?;
                    // a new root's notice, for one
                    deliver_notices(w, &mut agenda);
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
                    let w = packet_wires(&mut wires, target, seed, now, &mut agenda, &file())?;
                    let step_seed = qaqpa_sim::seed::derive(seed, &format!("replay-step-{i}"));
                    let episode = crate::oracle::network::replay::run(w, now, spec, step_seed)
                        .map_err(|message| PlayError::Replay {
                            file: file(),
                            message,
                        })?;
                    for (at, what, fields) in episode.notes {
                        agenda.schedule(
                            at,
                            Happening::Seen(Box::new(crate::mail::Seen {
                                at,
                                probe: HARNESS.into(),
                                subject: Subject {
                                    kind: SubjectKind::Host,
                                    id: "ugia".into(),
                                },
                                event: Event::Network(qaqpa_sim::trace::NetworkNote {
                                    what,
                                    fields,
                                }),
                            })),
                        );
                    }
                    for (at, probe, event) in episode.seen {
                        let subject = match &event {
                            Event::Stream(s) => Subject {
                                kind: SubjectKind::Flow,
                                id: s.flow.clone(),
                            },
                            Event::Document(d) => Subject::case(&d.case),
                            Event::TlsClient(c) => Subject {
                                kind: SubjectKind::Flow,
                                id: c.session.clone(),
                            },
                            Event::TlsOrigin(o) => Subject {
                                kind: SubjectKind::Flow,
                                id: o.connection.clone(),
                            },
                            _ => Subject {
                                kind: SubjectKind::Flow,
                                id: probe.clone(),
                            },
                        };
                        agenda.schedule(
                            at,
                            Happening::Seen(Box::new(crate::mail::Seen {
                                at,
                                probe,
                                subject,
                                event,
                            })),
                        );
                    }
                    // a flow's tap counts are complete when its episode ends
                    for (_, f) in episode.flows {
                        let id =
                            format!("{} {}:{} > {}:{}", f.proto, f.src, f.sport, f.dst, f.dport);
                        agenda.schedule(
                            f.last,
                            Happening::Seen(Box::new(crate::mail::Seen {
                                at: f.last,
                                probe: crate::oracle::network::TAP.into(),
                                subject: Subject {
                                    kind: SubjectKind::Flow,
                                    id,
                                },
                                event: Event::Flow(f),
                            })),
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
                Action::Bus(spec) => {
                    if let Some(r) = &spec.repeat {
                        for k in 1..r.times {
                            if let Ok(t) = now.checked_add(r.offset(k)) {
                                agenda.schedule(t, Happening::BusAgain(i, k));
                            }
                        }
                    }
                    let label = format!("bus-step-{i}");
                    let seen = crate::bus::run_episode(spec, target, seed, now, &label).map_err(
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
            Happening::BusAgain(i, k) => {
                if let Action::Bus(spec) = scenario.steps[i].action() {
                    let label = format!("bus-step-{i}-{k}");
                    let seen = crate::bus::run_episode(spec, target, seed, now, &label).map_err(
                        |source| PlayError::Target {
                            file: file(),
                            source,
                        },
                    )?;
                    for s in seen {
                        agenda.schedule(s.at, Happening::Seen(Box::new(s)));
                    }
                }
            }
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
                let w = packet_wires(&mut wires, target, seed, now, &mut agenda, &file())?;
                device(w)
                    .and_then(|d| d.apply(now, &act))
                    .map_err(|message| PlayError::Replay {
                        file: file(),
                        message: format!("the desk's own policy act: {message}"),
                    })?;
                deliver_notices(w, &mut agenda);
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
    if let Some(w) = &wires
        && !w.taps.is_empty()
    {
        let pcaps = qaqpa_sim::wire::pcaps(&w.taps).map_err(|message| PlayError::Replay {
            file: file(),
            message: format!("writing the taps' captures: {message}"),
        })?;
        for (port, bytes) in pcaps {
            trace.attach(format!("{port}.pcap"), bytes);
        }
    }
    // The harness's TLS ends' session keys: Wireshark decrypts the captures with them.
    if let Some(w) = &wires {
        let keys = w.web.shared.keylog.text();
        if !keys.is_empty() {
            trace.attach("keylog", keys.into_bytes());
        }
    }
    Ok(trace)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::scenario::tests::GOOD;

    fn scenario(text: &str) -> Scenario {
        Scenario::parse(text, "t.yaml", &|_| Ok(())).unwrap()
    }

    fn schedule_error(text: &str) -> ScenarioError {
        match schedule(&BusinessCalendar::kazakhstan(), &scenario(text)) {
            Err(PlayError::Schedule(e)) => e,
            other => panic!("expected a schedule error, got {other:?}"),
        }
    }

    #[test]
    fn the_good_schedule() {
        let s = schedule(&BusinessCalendar::kazakhstan(), &scenario(GOOD)).unwrap();
        assert_eq!(clock::display(s.start), "2025-03-20T10:00:00+05:00");
        assert_eq!(clock::display(s.steps[0]), "2025-03-20T18:30:00+05:00");
        // 12 working days after Thursday 20 March 2025, across Nauryz (21–25 March off):
        // 26–28 March, 31 March–4 April, 7–10 April.
        assert_eq!(clock::display(s.end), "2025-04-10T23:59:59+05:00");
    }

    /// Found from the command line and by mutating scenario files: each used to panic or to
    /// run at a wrong time. Each is now an error at the line of the time, naming the limit.
    #[test]
    fn times_out_of_range_are_errors_at_their_line() {
        for (from, to, line, limit) in [
            (
                "start: 2025-03-20T10:00",
                "start: 9999-12-31T23:59",
                5,
                "9999-12-31T03:00:00",
            ),
            (
                "start: 2025-03-20T10:00",
                "start: -009999-01-01T00:00",
                5,
                "9999-12-31T03:00:00",
            ),
            (
                "until: working-day 12",
                "until: day 99999999",
                6,
                "9999-12-31",
            ),
            (
                "at: working-day 0 18:30",
                "at: day 99999999",
                10,
                "9999-12-31",
            ),
            (
                "at: working-day 0 18:30",
                "at: day 4294967295",
                10,
                "9999-12-31",
            ),
            (
                "at: working-day 0 18:30",
                "at: working-day 4294967295",
                10,
                "covers 2020–2027",
            ),
            (
                "at: working-day 0 18:30",
                "at: 9999-12-31T12:00",
                10,
                "9999-12-31T03:00:00",
            ),
        ] {
            let text = GOOD.replace(from, to);
            let e = schedule_error(&text);
            assert_eq!((e.file.as_str(), e.line), ("t.yaml", line), "{to}: {e}");
            assert!(e.message.contains(to), "quotes the time: {e}");
            assert!(e.message.contains(limit), "names the limit {limit}: {e}");
        }
    }

    #[test]
    fn a_step_after_until_is_an_error_not_a_silent_drop() {
        let e = schedule_error(&GOOD.replace("working-day 0 18:30", "working-day 13 10:00"));
        assert_eq!(e.line, 10, "{e}");
        assert!(
            e.message
                .contains("after the scenario's `until: working-day 12`")
                && e.message.contains("2025-04-10T23:59:59+05:00"),
            "{e}"
        );
        // The last instant of `until`'s day is still inside.
        let s = scenario(&GOOD.replace("working-day 0 18:30", "working-day 12 23:59"));
        assert!(schedule(&BusinessCalendar::kazakhstan(), &s).is_ok());
        // An absolute time after it too.
        let e = schedule_error(&GOOD.replace("working-day 0 18:30", "2025-04-11T00:00"));
        assert_eq!(e.line, 10, "{e}");
    }

    /// Found by mutating a mail scenario (the former ugem/no-bypass.yaml): turmoil panicked on an epoch before 1970.
    #[test]
    fn a_mail_episode_before_1970_is_an_error() {
        let text = mail_scenario("1969-12-31T23:00");
        let e = schedule_error(&text);
        assert_eq!(e.line, 9, "{e}");
        assert!(e.message.contains("1970-01-01T00:00:00Z"), "{e}");
        assert!(
            schedule(
                &BusinessCalendar::kazakhstan(),
                &scenario(&mail_scenario("1970-01-01T06:00"))
            )
            .is_ok()
        );
    }

    fn mail_scenario(start: &str) -> String {
        format!(
            "\
id: m
title: m
system: ugem
start: {start}
until: day 1
parties:
  mof: {{ name: MoF, role: state-body }}
steps:
  - at: day 0
    mail:
      seconds: 60
      systems:
        - {{ id: mof, domain: minfin.gov.kz, server: 10.1.0.10, owner: it@minfin.gov.kz }}
      flows:
        - {{ id: f, from: mof, kind: normal, mail-from: a@minfin.gov.kz, to: [b@minfin.gov.kz] }}
expect:
  - clause: ugem-6
"
        )
    }

    #[test]
    fn until_before_start_is_an_error() {
        let e = schedule_error(&GOOD.replace("until: working-day 12", "until: 2025-03-19T10:00"));
        assert_eq!(e.line, 6, "{e}");
        assert!(e.message.contains("before `start`"), "{e}");
    }

    #[test]
    fn a_step_before_start_is_an_error_at_its_line() {
        // GOOD starts at 10:00 on 2025-03-20; its one step is at 18:30 on that day.
        let e = schedule_error(&GOOD.replace("working-day 0 18:30", "working-day 0 09:30"));
        assert_eq!(e.line, 10, "{e}");
        assert!(e.message.contains("before the scenario's `start`"), "{e}");
        assert!(schedule_error_free(
            &GOOD.replace("working-day 0 18:30", "working-day 0 10:00")
        ));
    }

    fn schedule_error_free(text: &str) -> bool {
        schedule(&BusinessCalendar::kazakhstan(), &scenario(text)).is_ok()
    }

    #[test]
    fn play_refuses_a_bad_schedule_before_it_asks_the_target() {
        struct NoTarget;
        impl Target for NoTarget {
            fn info(&self) -> qaqpa_sim::target::TargetInfo {
                unreachable!()
            }
            fn desk(
                &self,
                _: qaqpa_sim::target::DeskKind,
                _: u64,
            ) -> Result<Box<dyn Desk>, TargetError> {
                unreachable!("the schedule is checked before the target is asked")
            }
        }
        let s = scenario(&GOOD.replace("working-day 0 18:30", "day 4294967295"));
        let e = play(&s, &BusinessCalendar::kazakhstan(), &NoTarget, 1).unwrap_err();
        assert!(matches!(e, PlayError::Schedule(_)), "{e}");
    }
}
