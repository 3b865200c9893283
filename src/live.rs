//! A live target: a product on real sockets, as its target file describes it, behind the
//! `Target` interface. Its mail episodes run on the wall clock (`qaqpa_scenarios::mail::live`);
//! it has no desk, so scenarios of the desks' workflows are judged from recorded evidence or
//! reported not-tested.

use std::collections::BTreeMap;
use std::io::Read;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use qaqpa_scenarios::scenario::Action;
use qaqpa_scenarios::{Scenario, SystemName};
use qaqpa_sim::mailnet::{ControlAction, ControlOutcome, GatewayControl, LiveMail};
use qaqpa_sim::target::{Desk, DeskKind, Target, TargetError, TargetInfo};

use crate::cli::RunArgs;
use crate::error::CliError;
use crate::target_file::{Control, TargetFile, Ugem};

pub struct LiveTarget {
    name: String,
    version: Option<String>,
    mail: Option<LiveMail>,
}

impl LiveTarget {
    pub fn new(file: &TargetFile) -> LiveTarget {
        LiveTarget {
            name: file.display_name(),
            version: file.version.clone(),
            mail: file
                .ugem
                .as_ref()
                .map(|u| live_mail(&file.display_name(), u)),
        }
    }

    /// The systems the file describes (and a live run can drive).
    pub fn systems(&self) -> Vec<SystemName> {
        let mut s = Vec::new();
        if self.mail.is_some() {
            s.push(SystemName::Ugem);
        }
        s
    }

    pub fn mail(&self) -> Option<&LiveMail> {
        self.mail.as_ref()
    }
}

fn live_mail(name: &str, u: &Ugem) -> LiveMail {
    LiveMail {
        name: name.to_string(),
        listen: u.listen,
        outbound: u.outbound.clone(),
        connected: u
            .connected
            .iter()
            .map(|c| (c.domain.trim().to_ascii_lowercase(), c.server))
            .collect(),
        external: u
            .external
            .iter()
            .map(|e| (e.domain.trim().to_ascii_lowercase(), e.exchanger))
            .collect(),
        strangers: u.strangers.clone(),
        control: Arc::new(ShellControl::new(&u.control)),
        start_timeout: Duration::from_secs(u.control.start_timeout_seconds),
    }
}

impl Target for LiveTarget {
    fn info(&self) -> TargetInfo {
        TargetInfo {
            kind: "live".into(),
            name: self.name.clone(),
            version: self.version.clone(),
            defects: vec![],
        }
    }

    fn desk(&self, kind: DeskKind, _seed: u64) -> Result<Box<dyn Desk>, TargetError> {
        Err(TargetError::NoSuchDesk {
            target: self.name.clone(),
            desk: kind.as_str(),
        })
    }

    fn live_mail(&self) -> Option<LiveMail> {
        self.mail.clone()
    }
}

/// The product's commands, run with `sh -c`, each within its time limit. Their output goes
/// to a file, not a pipe: a command that starts a daemon leaves it holding its standard
/// output, and a pipe would never close.
pub struct ShellControl {
    commands: BTreeMap<ControlAction, String>,
    timeout: Duration,
}

impl ShellControl {
    pub fn new(c: &Control) -> ShellControl {
        let mut commands = BTreeMap::new();
        for (a, cmd) in [
            (ControlAction::Stop, &c.stop),
            (ControlAction::Kill, &c.kill),
            (ControlAction::Start, &c.start),
        ] {
            if let Some(cmd) = cmd {
                commands.insert(a, cmd.clone());
            }
        }
        ShellControl {
            commands,
            timeout: Duration::from_secs(c.timeout_seconds),
        }
    }
}

/// The most of a command's output a trace note keeps.
const OUTPUT_KEPT: usize = 600;

impl GatewayControl for ShellControl {
    fn command(&self, action: ControlAction) -> Option<String> {
        self.commands.get(&action).cloned()
    }

    fn run(&self, action: ControlAction) -> ControlOutcome {
        let began = Instant::now();
        let command = self.command(action).unwrap_or_default();
        let outcome = |error: Option<String>| ControlOutcome {
            command: command.clone(),
            millis: began.elapsed().as_millis() as u64,
            error,
        };
        if command.is_empty() {
            return outcome(Some(format!(
                "the target file gives no `{}` command",
                action.as_str()
            )));
        }
        let log = std::env::temp_dir().join(format!(
            "qaqpa-control-{}-{}-{}.log",
            std::process::id(),
            action.as_str(),
            began.elapsed().as_nanos()
                ^ (std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos())
                    .unwrap_or(0))
        ));
        let spawn = std::fs::File::create(&log).and_then(|out| {
            let err = out.try_clone()?;
            Command::new("sh")
                .arg("-c")
                .arg(&command)
                .stdin(Stdio::null())
                .stdout(out)
                .stderr(err)
                .spawn()
        });
        let mut child = match spawn {
            Ok(c) => c,
            Err(e) => {
                let _ = std::fs::remove_file(&log);
                return outcome(Some(format!("cannot run it: {e}")));
            }
        };
        let status = loop {
            match child.try_wait() {
                Ok(Some(s)) => break Ok(s),
                Ok(None) if began.elapsed() >= self.timeout => {
                    // Ours to end: the shell we started, by its id.
                    let _ = child.kill();
                    let _ = child.wait();
                    break Err(format!(
                        "still running after {} s: ended by the harness",
                        self.timeout.as_secs()
                    ));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(e) => break Err(format!("cannot wait for it: {e}")),
            }
        };
        let mut printed = String::new();
        if let Ok(f) = std::fs::File::open(&log) {
            let _ = f.take(64 * 1024).read_to_string(&mut printed);
        }
        let _ = std::fs::remove_file(&log);
        let printed = printed.trim();
        let tail: String = if printed.len() > OUTPUT_KEPT {
            let cut = printed.len() - OUTPUT_KEPT;
            let cut = (cut..printed.len())
                .find(|i| printed.is_char_boundary(*i))
                .unwrap_or(printed.len());
            format!("…{}", &printed[cut..])
        } else {
            printed.to_string()
        };
        match status {
            Ok(s) if s.success() => outcome(None),
            Ok(s) => outcome(Some(format!(
                "exited with {s}{}",
                if tail.is_empty() {
                    String::new()
                } else {
                    format!(": {tail}")
                }
            ))),
            Err(e) => outcome(Some(e)),
        }
    }
}

/// Checks, before a live run, that the scenarios it plays find every host they need in the
/// target file; an error names the scenario, the host and the field to add.
pub fn check_layout(scenarios: &[&Scenario], mail: &LiveMail, origin: &str) -> Result<(), String> {
    for s in scenarios {
        for step in &s.steps {
            if let Action::Mail(spec) = step.action() {
                qaqpa_scenarios::mail::live::layout(spec, mail)
                    .map_err(|e| format!("{origin}: scenario `{}` ({}): {e}", s.id, s.file))?;
            }
        }
    }
    Ok(())
}

/// Checks, before a live run, that the product answers and that the harness can take every
/// address the target file gives it: an error names the file, the field and the address.
pub fn preflight(file: &TargetFile, origin: &str) -> Result<(), String> {
    let Some(u) = &file.ugem else { return Ok(()) };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the harness's network runtime: {e}"))?;
    rt.block_on(qaqpa_scenarios::mail::live::greets(
        u.listen,
        Duration::from_secs(5),
    ))
    .map_err(|why| {
        format!(
            "{origin}: ugem.listen = {}: the product does not answer there with an SMTP greeting ({why}): start it, or correct the address",
            u.listen
        )
    })?;
    let listen = |addr: SocketAddr, field: String| {
        std::net::TcpListener::bind(addr).map(drop).map_err(|e| {
            format!("{origin}: {field} = {addr}: the harness cannot listen there: {e}")
        })
    };
    let send_from = |ip: IpAddr, field: String| {
        std::net::TcpListener::bind(SocketAddr::new(ip, 0))
            .map(drop)
            .map_err(|e| {
                format!("{origin}: {field} = {ip}: the harness cannot send from this address: {e}")
            })
    };
    for (i, c) in u.connected.iter().enumerate() {
        listen(c.server, format!("ugem.connected[{i}].server"))?;
    }
    for (i, e) in u.external.iter().enumerate() {
        listen(e.exchanger, format!("ugem.external[{i}].exchanger"))?;
    }
    for (i, s) in u.strangers.iter().enumerate() {
        send_from(*s, format!("ugem.strangers[{i}]"))?;
    }
    Ok(())
}

/// The lines `--dry-run` prints for a scenario's mail steps.
pub fn describe(
    scenario: &Scenario,
    mail: &LiveMail,
    scenario_seed: u64,
) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for (i, step) in scenario.steps.iter().enumerate() {
        if let Action::Mail(spec) = step.action() {
            out.push(format!("  step {}: ", i + 1));
            let lines = qaqpa_scenarios::mail::live::describe(
                spec,
                mail,
                scenario_seed,
                &format!("mail-step-{i}"),
            )?;
            let last = out.len() - 1;
            let mut it = lines.into_iter();
            if let Some(first) = it.next() {
                out[last].push_str(&first);
            }
            out.extend(it.map(|l| format!("    {l}")));
        }
    }
    Ok(out)
}

/// The file's path as errors name it.
pub fn origin(path: &Path) -> String {
    path.display().to_string()
}

/// A live run, worked out and checked before anything is sent.
struct LiveRun {
    origin: String,
    target: LiveTarget,
    suite: qaqpa_scenarios::Suite,
    systems: Vec<SystemName>,
    calendar: qaqpa_sim::calendar::BusinessCalendar,
    /// Recorded traces standing in for scenarios the run does not play, by scenario id.
    evidence: BTreeMap<String, qaqpa_sim::trace::Trace>,
}

impl LiveRun {
    /// Why a chosen scenario is not played, or `None` when it is.
    fn skipped(&self, s: &Scenario) -> Option<String> {
        s.live_playable().err()
    }
}

fn plan(args: &RunArgs, file: &TargetFile) -> Result<LiveRun, CliError> {
    let path = args
        .target
        .as_deref()
        .expect("a live run comes from a target file");
    let origin = origin(path);
    file.refuse_unsupported(&origin)
        .map_err(|e| CliError::input(e.0))?;
    if !args.defects.is_empty() {
        return Err(CliError::input(format!(
            "--defect switches on faults of the simulated reference; {origin} is a live target"
        )));
    }
    let target = LiveTarget::new(file);
    let offered = target.systems();
    let given = crate::cli::given_systems(args);
    let systems = if given.is_empty() {
        offered.clone()
    } else {
        for s in &given {
            if !offered.contains(s) {
                return Err(CliError::input(format!(
                    "--system {}: the target file {origin} has no [{}] section",
                    s.as_str(),
                    s.as_str()
                )));
            }
        }
        given
    };
    let calendar = crate::cli::load_calendar(args.calendar_file.as_deref())?;
    let mut suite = crate::cli::load_suite(&args.suites)?;
    let selected = crate::cli::select_scenarios(&suite, &systems, &args.scenarios, &args.clauses)?;
    suite.scenarios.retain(|s| selected.contains(&s.id));
    crate::cli::check_schedules(&suite.scenarios, &calendar)?;
    let mut run = LiveRun {
        origin,
        target,
        suite,
        systems,
        calendar,
        evidence: BTreeMap::new(),
    };
    if !args.evidence.is_empty() {
        let all = crate::cli::load_suite(&args.suites)?;
        for (id, trace) in crate::judge_cmd::read_traces(&args.evidence, &all, Some(&args.out))? {
            let Some(s) = run.suite.scenarios.iter().find(|s| s.id == id) else {
                return Err(CliError::input(format!(
                    "--evidence: a trace for scenario `{id}`, which this run does not select (see --system, --scenario, --clause)"
                )));
            };
            if run.skipped(s).is_none() {
                return Err(CliError::input(format!(
                    "--evidence: a trace for scenario `{id}`, which this live run plays itself: remove the trace, or leave the scenario out"
                )));
            }
            run.evidence.insert(id, trace);
        }
    }
    let played: Vec<&Scenario> = run
        .suite
        .scenarios
        .iter()
        .filter(|s| run.skipped(s).is_none())
        .collect();
    if played.is_empty() && run.evidence.is_empty() {
        let why: Vec<String> = run
            .suite
            .scenarios
            .iter()
            .filter_map(|s| run.skipped(s).map(|r| format!("{}: {r}", s.id)))
            .collect();
        return Err(CliError::input(format!(
            "nothing to play or judge: none of the chosen scenarios runs live and no --evidence stands in for them ({})",
            why.join("; ")
        )));
    }
    if let Some(mail) = run.target.mail() {
        check_layout(&played, mail, &run.origin).map_err(CliError::input)?;
    }
    Ok(run)
}

/// `qaqpa run --target FILE` for a live target: the scenarios it can play run on the wall
/// clock against the product; recorded evidence is judged for the others; the rest are
/// not-tested, saying why.
pub fn run(args: &RunArgs, file: &TargetFile) -> Result<qaqpa_scenarios::RunOutcome, CliError> {
    let live = plan(args, file)?;
    let waivers = crate::cli::load_waivers(args.waivers.as_deref())?;
    preflight(file, &live.origin).map_err(CliError::input)?;
    crate::output::prepare(&args.out)?;
    let config = qaqpa_scenarios::RunConfig {
        seed: args.seed,
        systems: live.systems.clone(),
        calendar: &live.calendar,
    };
    let mut evidence = live.evidence.clone();
    let mut outcome = crate::cli::with_progress(|progress| {
        qaqpa_scenarios::suite::run_planned(
            &live.suite,
            &live.target,
            &config,
            &mut |s| match (evidence.remove(&s.id), live.skipped(s)) {
                (Some(trace), _) => qaqpa_scenarios::suite::Plan::Recorded(trace),
                (None, None) => qaqpa_scenarios::suite::Plan::Play,
                (None, Some(why)) => qaqpa_scenarios::suite::Plan::Skip(format!(
                    "a live run does not play this scenario: {why}"
                )),
            },
            progress,
        )
    })
    .map_err(|e| CliError::input(e.to_string()))?;
    crate::cli::apply_waivers(&mut outcome.report, waivers.as_ref());
    crate::output::write_judged(&args.out, &outcome, args.warnings_fail, waivers.as_ref())?;
    // The target file as certified, beside the reports: `qaqpa bundle` needs it for a live
    // run and redacts its secrets there.
    if let Some(path) = &args.target {
        let text = std::fs::read(path)
            .map_err(|e| CliError::input(format!("{}: {e}", path.display())))?;
        crate::output::write_atomically(&args.out.join(crate::output::TARGET_FILE), &text)?;
    }
    Ok(outcome)
}

/// `qaqpa run --target FILE --dry-run`: what the run would send where, and nothing sent.
pub fn dry_run(args: &RunArgs, out: &mut dyn std::io::Write) -> Result<(), CliError> {
    let Some(path) = &args.target else {
        return Err(CliError::input(
            "--dry-run describes a live run: give a --target file of `kind = \"live\"`",
        ));
    };
    let file = TargetFile::load(path).map_err(|e| CliError::input(e.0))?;
    if file.kind != crate::target_file::Kind::Live {
        return Err(CliError::input(format!(
            "--dry-run describes a live run, and {} is of `kind = \"reference\"`",
            path.display()
        )));
    }
    let live = plan(args, &file)?;
    let io = |e: std::io::Error| CliError::output(format!("cannot write to standard output: {e}"));
    let info = live.target.info();
    writeln!(
        out,
        "target: {}{} (live, {}); certifies {}; seed {}; nothing is sent in a dry run",
        info.name,
        info.version.map(|v| format!(" {v}")).unwrap_or_default(),
        live.origin,
        crate::cli::systems_text(&live.systems),
        args.seed
    )
    .map_err(io)?;
    if let Some(mail) = live.target.mail() {
        writeln!(
            out,
            "ugem: the product listens on {}; its outbound mail comes from {}",
            mail.listen,
            mail.outbound
                .iter()
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )
        .map_err(io)?;
    }
    for s in &live.suite.scenarios {
        if live.evidence.contains_key(&s.id) {
            writeln!(
                out,
                "scenario {} ({}): judged from its recorded trace",
                s.id, s.file
            )
            .map_err(io)?;
            continue;
        }
        if let Some(why) = live.skipped(s) {
            writeln!(out, "scenario {} ({}): not played: {why}", s.id, s.file).map_err(io)?;
            continue;
        }
        writeln!(out, "scenario {} ({}): played live", s.id, s.file).map_err(io)?;
        let mail = live.target.mail().expect("only mail scenarios play live");
        let seed = qaqpa_sim::seed::derive(args.seed, &s.id);
        for line in describe(s, mail, seed).map_err(CliError::input)? {
            writeln!(out, "{line}").map_err(io)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn control(stop: Option<&str>, timeout: u64) -> ShellControl {
        ShellControl::new(&Control {
            stop: stop.map(str::to_string),
            kill: None,
            start: None,
            timeout_seconds: timeout,
            start_timeout_seconds: 30,
        })
    }

    #[test]
    fn a_command_that_fails_says_why_and_what_it_printed() {
        let c = control(Some("echo going down; echo trouble >&2; exit 3"), 5);
        let o = c.run(ControlAction::Stop);
        let e = o.error.unwrap();
        assert!(e.contains("exit status: 3"), "{e}");
        assert!(e.contains("going down") && e.contains("trouble"), "{e}");
        assert_eq!(
            c.run(ControlAction::Kill).error.unwrap(),
            "the target file gives no `kill` command"
        );
        assert!(
            control(Some("true"), 5)
                .run(ControlAction::Stop)
                .error
                .is_none()
        );
    }

    /// A command that hangs is ended at its limit; one that leaves a daemon holding its
    /// output returns as soon as the shell exits.
    #[test]
    fn commands_are_bounded_in_time() {
        let began = Instant::now();
        let o = control(Some("sleep 30"), 1).run(ControlAction::Stop);
        assert!(o.error.unwrap().contains("still running after 1 s"));
        assert!(began.elapsed() < Duration::from_secs(5));
        let began = Instant::now();
        let o = control(Some("sleep 3 & echo started"), 10).run(ControlAction::Stop);
        assert!(o.error.is_none(), "{o:?}");
        assert!(
            began.elapsed() < Duration::from_secs(2),
            "{:?}",
            began.elapsed()
        );
    }
}
