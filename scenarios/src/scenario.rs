//! The scenario file: scripted parties, the steps they take at business times, the desk of
//! the target that answers them, and the clauses the scenario exercises.

use std::collections::BTreeMap;

use jiff::civil::{DateTime, Time};
use qaqpa_sim::target::DeskKind;
use qaqpa_sim::trace::{Channel, DocKind};
use serde::Deserialize;
use serde_saphyr::Spanned;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Scenario {
    pub id: String,
    pub title: String,
    pub system: SystemName,
    /// The target's desk that plays the counter-party of the scripted parties; needed by
    /// `send` steps.
    #[serde(default)]
    pub desk: Option<DeskKind>,
    /// Local time, Asia/Almaty: the instant the scenario's clock starts.
    pub start: Spanned<DateTime>,
    /// When the scenario ends; without a time of day, at the end of that day. Every step
    /// falls between `start` and `until` (checked against the calendar before a run).
    pub until: Spanned<When>,
    pub parties: BTreeMap<String, Party>,
    pub steps: Vec<Step>,
    pub expect: Vec<Expectation>,
    /// Where the scenario came from, for reports and errors; set by the loader.
    #[serde(skip)]
    pub file: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SystemName {
    Ugia,
    Ugem,
    Bus,
}

impl SystemName {
    pub const ALL: [SystemName; 3] = [SystemName::Ugia, SystemName::Ugem, SystemName::Bus];

    pub fn as_str(self) -> &'static str {
        match self {
            SystemName::Ugia => "ugia",
            SystemName::Ugem => "ugem",
            SystemName::Bus => "bus",
        }
    }

    pub fn parse(s: &str) -> Option<SystemName> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Party {
    pub name: String,
    /// What the party is in the rules' terms: telecom-operator, state-body, service-owner, …
    pub role: String,
}

/// One thing the harness does at a business time. Exactly one action field is set: each kind
/// of action is an optional field, so a new kind is a new field and old files keep parsing.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Step {
    pub at: Spanned<When>,
    #[serde(default)]
    pub send: Option<Send>,
    /// A mail episode: traffic and faults through the target's e-mail gateway, in turmoil.
    #[serde(default)]
    pub mail: Option<Spanned<crate::mail::MailSpec>>,
    /// The STS's acts on the packet gateway's policy (catalogue, exemptions, VPN channels).
    #[serde(default)]
    pub policy: Option<Spanned<Vec<qaqpa_sim::packetnet::PolicyAct>>>,
    /// A User network's traffic offered to the packet gateway (captures, synthetic flows).
    #[serde(default)]
    pub replay: Option<Spanned<crate::oracle::network::replay::ReplaySpec>>,
    /// HTTP traffic from the Internet to User web resources through the target's protection
    /// front (ugia-17).
    #[serde(default)]
    pub web: Option<Spanned<crate::web::WebSpec>>,
    /// Information systems calling the target's bus (SHEP v10 SOAP) in a turmoil episode.
    #[serde(default)]
    pub bus: Option<Spanned<crate::bus::BusSpec>>,
}

/// The action of a step, once checked that there is exactly one.
pub enum Action<'a> {
    Send(&'a Send),
    Mail(&'a crate::mail::MailSpec),
    Policy(&'a [qaqpa_sim::packetnet::PolicyAct]),
    Replay(&'a crate::oracle::network::replay::ReplaySpec),
    Web(&'a crate::web::WebSpec),
    Bus(&'a crate::bus::BusSpec),
}

impl Step {
    pub fn action(&self) -> Action<'_> {
        if let Some(p) = &self.policy {
            return Action::Policy(&p.value);
        }
        if let Some(r) = &self.replay {
            return Action::Replay(&r.value);
        }
        if let Some(w) = &self.web {
            return Action::Web(&w.value);
        }
        if let Some(b) = &self.bus {
            return Action::Bus(&b.value);
        }
        match (&self.send, &self.mail) {
            (Some(s), _) => Action::Send(s),
            (None, Some(m)) => Action::Mail(&m.value),
            (None, None) => unreachable!("Scenario::parse refuses a step without an action"),
        }
    }

    fn actions_set(&self) -> usize {
        usize::from(self.send.is_some())
            + usize::from(self.mail.is_some())
            + usize::from(self.policy.is_some())
            + usize::from(self.replay.is_some())
            + usize::from(self.web.is_some())
            + usize::from(self.bus.is_some())
    }
}

/// A scripted party hands a document to the desk.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Send {
    pub from: Spanned<String>,
    pub document: DocKind,
    pub case: String,
    pub channel: Channel,
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
    /// What the harness knows makes the application impossible to satisfy; never sent to the
    /// desk, recorded in the trace for the oracles (a refusal must name these fields).
    #[serde(default)]
    pub infeasible: Option<Infeasible>,
    /// How the harness signs the document with its test PKI (`valid`, `tampered`, `expired`,
    /// `foreign-ca`, `wrong-signer`); absent, it is unsigned. The signer's BIN is the
    /// document's `bin` field.
    #[serde(default)]
    pub signature: Option<Spanned<qaqpa_sim::eds::SignatureKind>>,
}

/// The grounds, known to the harness, on which an application cannot be satisfied.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Infeasible {
    /// The application's fields whose values make it impossible.
    pub fields: Vec<String>,
    /// Why, for the reader of the report.
    pub because: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Expectation {
    pub clause: Spanned<String>,
    #[serde(default)]
    pub note: Option<String>,
}

/// A business time relative to the scenario's start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// `working-day N [HH:MM]`: the N-th working day after the start day (0: the start day).
    WorkingDay(u32, Option<Time>),
    /// `day N [HH:MM]`: N calendar days after the start day.
    Day(u32, Option<Time>),
    /// `YYYY-MM-DDTHH:MM`: an absolute local time.
    At(DateTime),
}

impl std::fmt::Display for When {
    /// The expression as a scenario file writes it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hhmm = |t: &Option<Time>| {
            t.map(|t| format!(" {}", t.strftime("%H:%M")))
                .unwrap_or_default()
        };
        match self {
            When::WorkingDay(n, t) => write!(f, "working-day {n}{}", hhmm(t)),
            When::Day(n, t) => write!(f, "day {n}{}", hhmm(t)),
            When::At(dt) => write!(f, "{dt}"),
        }
    }
}

const WHEN_FORMS: &str = "`working-day N [HH:MM]`, `day N [HH:MM]` or `YYYY-MM-DDTHH:MM`";

impl std::str::FromStr for When {
    type Err = String;

    fn from_str(s: &str) -> Result<When, String> {
        let words: Vec<&str> = s.split_whitespace().collect();
        let time = |w: Option<&&str>| -> Result<Option<Time>, String> {
            w.map(|t| {
                t.parse::<Time>()
                    .map_err(|_| format!("`{t}` is not a time of day HH:MM"))
            })
            .transpose()
        };
        let count = |w: &str| -> Result<u32, String> {
            w.parse::<u32>()
                .map_err(|_| format!("`{w}` is not a whole number of days"))
        };
        match words.as_slice() {
            ["working-day", n] | ["working-day", n, _] => {
                Ok(When::WorkingDay(count(n)?, time(words.get(2))?))
            }
            ["day", n] | ["day", n, _] => Ok(When::Day(count(n)?, time(words.get(2))?)),
            [dt] => dt
                .parse::<DateTime>()
                .map(When::At)
                .map_err(|_| format!("`{s}` is not one of {WHEN_FORMS}")),
            _ => Err(format!("`{s}` is not one of {WHEN_FORMS}")),
        }
    }
}

impl<'de> Deserialize<'de> for When {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<When, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{file}:{line}:{column}: {message}")]
pub struct ScenarioError {
    pub file: String,
    pub line: u64,
    pub column: u64,
    pub message: String,
}

impl Scenario {
    /// Parses and checks a scenario. `known_clause` says whether a clause id is in the
    /// catalogue and has an oracle; the error names the file, line and column.
    pub fn parse(
        text: &str,
        file: &str,
        has_oracle: &dyn Fn(&str) -> Result<(), String>,
    ) -> Result<Scenario, ScenarioError> {
        let mut s: Scenario = serde_saphyr::from_str(text).map_err(|e| {
            let (line, column) = e
                .location()
                .map(|l| (l.line(), l.column()))
                .unwrap_or((0, 0));
            ScenarioError {
                file: file.to_string(),
                line,
                column,
                message: first_line(&e.to_string()),
            }
        })?;
        s.file = file.to_string();
        let at = |loc: &serde_saphyr::Location, message: String| ScenarioError {
            file: file.to_string(),
            line: loc.line(),
            column: loc.column(),
            message,
        };
        for step in &s.steps {
            if step.actions_set() != 1 {
                return Err(at(
                    &step.at.referenced,
                    "a step needs exactly one action (expected one of: send, mail, policy, replay, web, bus)"
                        .into(),
                ));
            }
            let send = match step.action() {
                Action::Send(send) => send,
                Action::Mail(spec) => {
                    let loc = &step.mail.as_ref().expect("a mail step").referenced;
                    spec.validate().map_err(|m| at(loc, format!("mail: {m}")))?;
                    continue;
                }
                Action::Policy(_) => continue,
                Action::Web(spec) => {
                    let loc = &step.web.as_ref().expect("a web step").referenced;
                    spec.validate().map_err(|m| at(loc, format!("web: {m}")))?;
                    continue;
                }
                Action::Bus(spec) => {
                    let loc = &step.bus.as_ref().expect("a bus step").referenced;
                    spec.validate().map_err(|m| at(loc, format!("bus: {m}")))?;
                    continue;
                }
                Action::Replay(spec) => {
                    let loc = &step.replay.as_ref().expect("a replay step").referenced;
                    spec.validate()
                        .map_err(|m| at(loc, format!("replay: {m}")))?;
                    continue;
                }
            };
            if s.desk.is_none() {
                return Err(at(&step.at.referenced, "a `send` step needs the scenario's `desk` (ugia-connection, ugia-protection, ugia-access, ugem-connection, bus-operator)".into()));
            }
            let from = &send.from;
            if !s.parties.contains_key(&from.value) {
                let known: Vec<&str> = s.parties.keys().map(String::as_str).collect();
                return Err(at(
                    &from.referenced,
                    format!(
                        "`from: {}` names no party of this scenario (expected one of: {})",
                        from.value,
                        known.join(", ")
                    ),
                ));
            }
            if let Some(sig) = &send.signature {
                check_signable(send).map_err(|m| at(&sig.referenced, m))?;
            }
        }
        if s.expect.is_empty() {
            return Err(ScenarioError {
                file: file.to_string(),
                line: 1,
                column: 1,
                message: "`expect` names no clause: a scenario must exercise at least one".into(),
            });
        }
        for e in &s.expect {
            has_oracle(&e.clause.value).map_err(|m| at(&e.clause.referenced, m))?;
        }
        Ok(s)
    }

    pub fn clauses(&self) -> Vec<String> {
        self.expect.iter().map(|e| e.clause.value.clone()).collect()
    }

    /// Whether a live run can play the scenario on the wall clock: only mail episodes, no
    /// desk. A desk's workflow runs over working days and weeks (applications, answers,
    /// connections); its evidence comes recorded (`--evidence`), not played.
    pub fn live_playable(&self) -> Result<(), String> {
        if let Some(desk) = self.desk {
            return Err(format!(
                "its workflow at the {} desk takes days to weeks (until {}), longer than a live run; supply its recorded trace with --evidence DIR",
                desk.as_str(),
                self.until.value
            ));
        }
        for step in &self.steps {
            match step.action() {
                // A scan would probe every port of the product's host, which runs services its
                // target file does not declare (the harness's own listeners among them).
                Action::Mail(spec) if spec.port_scan.is_some() => {
                    return Err("its port scan would probe the product's whole host, which the target file does not describe; supply its recorded trace with --evidence DIR".into());
                }
                Action::Mail(_) => {}
                Action::Send(_) => {
                    return Err("its applications need the target's desk".into());
                }
                // Probes hours apart cannot be played back to back: they would not measure
                // what they are for (availability over the period).
                Action::Bus(spec) if spec.repeat.is_some() => {
                    return Err("its bus probes repeat hours apart over days, longer than a live run; supply its recorded trace with --evidence DIR".into());
                }
                // Played against the live bus; what each episode needs of the target file is
                // checked before the run (`bus::live::layout`).
                Action::Bus(_) => {}
                Action::Policy(_) | Action::Replay(_) | Action::Web(_) => {
                    return Err(format!(
                        "its {} steps need the target's packet or web path, which a live target does not yet offer; supply its recorded trace with --evidence DIR",
                        self.system.as_str()
                    ));
                }
            }
        }
        if self.steps.is_empty() {
            return Err("it has no steps".into());
        }
        Ok(())
    }
}

/// A document the harness signs names its signer's BIN and leaves the signature to it.
fn check_signable(send: &Send) -> Result<(), String> {
    use qaqpa_sim::eds;
    if let Some(f) = [eds::SIGNATURE_FIELD, eds::CERTIFICATE_FIELD]
        .into_iter()
        .find(|f| send.fields.contains_key(*f))
    {
        return Err(format!(
            "`signature` makes the `{f}` field: remove it from `fields`"
        ));
    }
    match send.fields.get(eds::BIN_FIELD) {
        Some(b) if eds::is_bin(b.trim()) => Ok(()),
        Some(b) => Err(format!(
            "`signature` needs `{}` to be the applicant's BIN, 12 digits, not `{b}`",
            eds::BIN_FIELD
        )),
        None => Err(format!(
            "`signature` needs the document's `{}` field: the applicant's BIN (12 digits), which its certificate names",
            eds::BIN_FIELD
        )),
    }
}

/// serde-saphyr appends a source snippet to its messages; the first line is the message.
fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or(s).to_string()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A well-formed scenario; other modules' tests mutate it.
    pub(crate) const GOOD: &str = "\
id: t
title: t
system: ugia
desk: ugia-connection
start: 2025-03-20T10:00
until: working-day 12
parties:
  operator: { name: Op, role: telecom-operator }
steps:
  - at: working-day 0 18:30
    send:
      from: operator
      document: channel-application
      case: C-1
      channel: aps
expect:
  - clause: ugia-6
";

    fn any_clause(_: &str) -> Result<(), String> {
        Ok(())
    }

    /// A bus scenario without a desk plays live; one whose probes repeat hours apart, or one
    /// with a desk, does not, saying why.
    #[test]
    fn live_bus_scenarios_play_unless_they_wait_for_hours_or_a_desk() {
        let bus = "\
id: b
title: b
system: bus
start: 2025-06-02T10:00
until: day 1
parties: {}
steps:
  - at: day 0 10:00
    bus:
      seconds: 5
      systems:
        - { id: a, state: true }
      calls:
        - { label: x, from: a, service: S, at-seconds: 1 }
expect:
  - clause: eint-app7-5.3
";
        let s = Scenario::parse(bus, "b.yaml", &any_clause).unwrap();
        assert_eq!(s.live_playable(), Ok(()));
        let repeated = bus.replace(
            "      calls:",
            "      repeat: { every-hours: 2, times: 3 }\n      calls:",
        );
        let s = Scenario::parse(&repeated, "b.yaml", &any_clause).unwrap();
        let why = s.live_playable().unwrap_err();
        assert!(
            why.contains("repeat") && why.contains("--evidence"),
            "{why}"
        );
        let desk = bus.replace("system: bus\n", "system: bus\ndesk: bus-operator\n");
        let s = Scenario::parse(&desk, "b.yaml", &any_clause).unwrap();
        assert!(s.live_playable().unwrap_err().contains("bus-operator desk"));
    }

    #[test]
    fn a_replay_flow_too_long_to_run_is_refused_at_its_line() {
        let replay = "\
id: r
title: r
system: ugia
start: 2025-04-07T10:00
until: day 1
parties:
  ministry: { name: M, role: state-body }
steps:
  - at: day 0 10:00
    replay:
      user: ministry
      flows:
        - { kind: ssh, src: 10.0.0.1, dst: 203.0.113.80, dport: 22, packets: PACKETS }
expect:
  - clause: ureq-134-1
";
        assert!(
            Scenario::parse(&replay.replace("PACKETS", "10000"), "r.yaml", &any_clause).is_ok()
        );
        let e = Scenario::parse(
            &replay.replace("PACKETS", "4294967295"),
            "r.yaml",
            &any_clause,
        )
        .unwrap_err();
        // the replay's body, where its flows are
        assert_eq!(e.line, 11, "{e}");
        assert!(e.message.contains("at most 10000"), "{e}");
    }

    #[test]
    fn a_good_scenario_parses() {
        let s = Scenario::parse(GOOD, "good.yaml", &any_clause).unwrap();
        assert_eq!(
            s.steps[0].at.value,
            When::WorkingDay(0, Some(Time::constant(18, 30, 0, 0)))
        );
        assert_eq!(s.until.value, When::WorkingDay(12, None));
        assert_eq!(s.until.value.to_string(), "working-day 12");
        assert_eq!(s.steps[0].at.value.to_string(), "working-day 0 18:30");
        assert_eq!(s.clauses(), vec!["ugia-6"]);
    }

    #[test]
    fn errors_name_file_line_column_and_what_was_expected() {
        let bad = GOOD.replace("working-day 0 18:30", "workday 0");
        let e = Scenario::parse(&bad, "bad.yaml", &any_clause).unwrap_err();
        assert_eq!((e.file.as_str(), e.line), ("bad.yaml", 10), "{e}");
        assert!(e.message.contains("working-day N"), "{e}");

        let bad = GOOD.replace("channel-application", "chanel-application");
        let e = Scenario::parse(&bad, "bad.yaml", &any_clause).unwrap_err();
        assert_eq!(e.line, 13, "{e}");
        assert!(
            e.message.contains("channel-application"),
            "lists what was expected: {e}"
        );

        let bad = GOOD.replace("from: operator", "from: operater");
        let e = Scenario::parse(&bad, "bad.yaml", &any_clause).unwrap_err();
        assert_eq!((e.line, e.column), (12, 13), "{e}");
        assert!(
            e.message.contains("operater") && e.message.contains("operator"),
            "{e}"
        );

        let e =
            Scenario::parse(GOOD, "x.yaml", &|c| Err(format!("no oracle for {c}"))).unwrap_err();
        assert_eq!(e.line, 17, "{e}");

        let bad = GOOD.replace("title: t\n", "title: t\ncolour: red\n");
        let e = Scenario::parse(&bad, "bad.yaml", &any_clause).unwrap_err();
        assert_eq!(e.line, 3, "{e}");

        let bad = GOOD.replace(
            "      channel: aps\n",
            "      channel: aps\n      signature: valid\n",
        );
        let e = Scenario::parse(&bad, "bad.yaml", &any_clause).unwrap_err();
        assert_eq!(e.line, 16, "{e}");
        assert!(e.message.contains("`bin`"), "{e}");
        let bad = GOOD.replace(
            "      channel: aps\n",
            "      channel: aps\n      signature: forged\n",
        );
        let e = Scenario::parse(&bad, "bad.yaml", &any_clause).unwrap_err();
        assert!(e.message.contains("wrong-signer"), "lists the kinds: {e}");

        let bad = GOOD.replace("desk: ugia-connection\n", "");
        let e = Scenario::parse(&bad, "bad.yaml", &any_clause).unwrap_err();
        assert!(e.message.contains("`desk`"), "{e}");
        assert_eq!(e.line, 9, "{e}");
    }
}
