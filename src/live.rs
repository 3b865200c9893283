//! A live target: a product on real sockets, as its target file describes it, behind the
//! `Target` interface. Its mail and bus episodes run on the wall clock
//! (`qaqpa_scenarios::mail::live`, `qaqpa_scenarios::bus::live`); it has no desk, so scenarios
//! of the desks' workflows (the bus operator's grants, removals, suspensions and breaks among
//! them) are judged from recorded evidence or reported not-tested.

use std::collections::BTreeMap;
use std::io::Read;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use qaqpa_scenarios::scenario::Action;
use qaqpa_scenarios::{Scenario, SystemName};
use qaqpa_sim::busnet::{BusSigning, LiveBus, RegistryLoader};
use qaqpa_sim::mailnet::{ControlAction, ControlOutcome, GatewayControl, LiveMail};
use qaqpa_sim::target::{Desk, DeskKind, Target, TargetError, TargetInfo};

use crate::cli::RunArgs;
use crate::error::CliError;
use crate::target_file::{Bus, Control, TargetFile, Ugem};

pub struct LiveTarget {
    name: String,
    version: Option<String>,
    mail: Option<LiveMail>,
    bus: Option<LiveBus>,
}

impl LiveTarget {
    /// The target of `file`; `dir` is the file's folder, which relative paths in it start
    /// from. An error names the file, the field and the path (the bus's PEM files).
    pub fn new(file: &TargetFile, dir: &Path, origin: &str) -> Result<LiveTarget, String> {
        Ok(LiveTarget {
            name: file.display_name(),
            version: file.version.clone(),
            mail: file
                .ugem
                .as_ref()
                .map(|u| live_mail(&file.display_name(), u)),
            bus: match &file.bus {
                Some(b) => Some(live_bus(&file.display_name(), b, dir, origin)?),
                None => None,
            },
        })
    }

    /// The systems the file describes (and a live run can drive).
    pub fn systems(&self) -> Vec<SystemName> {
        let mut s = Vec::new();
        if self.mail.is_some() {
            s.push(SystemName::Ugem);
        }
        if self.bus.is_some() {
            s.push(SystemName::Bus);
        }
        s
    }

    pub fn mail(&self) -> Option<&LiveMail> {
        self.mail.as_ref()
    }

    pub fn bus(&self) -> Option<&LiveBus> {
        self.bus.as_ref()
    }
}

fn live_bus(name: &str, b: &Bus, dir: &Path, origin: &str) -> Result<LiveBus, String> {
    Ok(LiveBus {
        name: name.to_string(),
        sync_url: b.sync_url.clone(),
        async_url: b.async_url.clone(),
        external_sync_url: b.external_sync_url.clone(),
        external_async_url: b.external_async_url.clone(),
        endpoints: b.endpoints,
        registry: Arc::new(ShellRegistry {
            command: b.registry_command.clone(),
            timeout: Duration::from_secs(b.registry_timeout_seconds),
        }),
        call_timeout: Duration::from_secs(b.call_timeout_seconds),
        ready_timeout: Duration::from_secs(b.ready_timeout_seconds),
        signing: Some(read_signing(b, dir, origin)?),
        tls_roots: read_tls_roots(b, dir, origin)?,
    })
}

/// The roots for the bus's `https://` URLs (`tls-root`, else `ca-root`), read and checked as
/// the TLS client takes them; `None` when every URL is plain HTTP.
pub fn read_tls_roots(b: &Bus, dir: &Path, origin: &str) -> Result<Option<Vec<u8>>, String> {
    let urls = [
        Some(&b.sync_url),
        Some(&b.async_url),
        b.external_sync_url.as_ref(),
        b.external_async_url.as_ref(),
    ];
    if !urls
        .into_iter()
        .flatten()
        .any(|u| qaqpa_scenarios::bus::live::is_https(u))
    {
        return Ok(None);
    }
    let (field, path) = match &b.tls_root {
        Some(p) => ("bus.tls-root", p),
        None => ("bus.ca-root", &b.ca_root),
    };
    let (full, bytes) = read_named_file(field, path, dir, origin)?;
    qaqpa_scenarios::bus::live::tls_client(&bytes).map_err(|e| {
        format!(
            "{origin}: {field} = {}: the roots for the bus's https:// URLs: {e}",
            full.display()
        )
    })?;
    Ok(Some(bytes))
}

/// Reads a file a target-file field names (relative to the target file's folder): its full
/// path and bytes, or an error naming the field and the path.
fn read_named_file(
    field: &str,
    path: &Path,
    dir: &Path,
    origin: &str,
) -> Result<(std::path::PathBuf, Vec<u8>), String> {
    let full = if path.is_absolute() {
        path.to_path_buf()
    } else {
        dir.join(path)
    };
    let bytes = std::fs::read(&full).map_err(|e| {
        format!(
            "{origin}: {field} = {}: cannot read it: {e}",
            full.display()
        )
    })?;
    Ok((full, bytes))
}

/// Reads the bus's PEM files: the CA root and the signing certificate must hold a
/// certificate, the signing key a private key. An error names the field and the path.
pub fn read_signing(b: &Bus, dir: &Path, origin: &str) -> Result<BusSigning, String> {
    let read = |field: &str, path: &Path, want: &dyn Fn(&str) -> bool, expected: &str| {
        let (full, bytes) = read_named_file(field, path, dir, origin)?;
        let blocks = pem::parse_many(&bytes).map_err(|e| {
            format!(
                "{origin}: {field} = {}: not a PEM file: {e}",
                full.display()
            )
        })?;
        if !blocks.iter().any(|p| want(p.tag())) {
            return Err(format!(
                "{origin}: {field} = {}: holds no {expected} (found {})",
                full.display(),
                if blocks.is_empty() {
                    "no PEM block".to_string()
                } else {
                    blocks
                        .iter()
                        .map(|p| format!("`{}`", p.tag()))
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            ));
        }
        Ok(bytes)
    };
    let certificate = |t: &str| t == "CERTIFICATE";
    Ok(BusSigning {
        ca_root: read(
            "bus.ca-root",
            &b.ca_root,
            &certificate,
            "-----BEGIN CERTIFICATE----- block",
        )?,
        certificate: read(
            "bus.signing-certificate",
            &b.signing_certificate,
            &certificate,
            "-----BEGIN CERTIFICATE----- block",
        )?,
        key: read(
            "bus.signing-key",
            &b.signing_key,
            &|t: &str| t.ends_with("PRIVATE KEY"),
            "private key (-----BEGIN PRIVATE KEY----- or an EC/RSA one)",
        )?,
    })
}

/// The registry command of the target file, run with `sh -c`, `{registry}` replaced by the
/// file's path (quoted for the shell).
pub struct ShellRegistry {
    command: Option<String>,
    timeout: Duration,
}

impl RegistryLoader for ShellRegistry {
    fn command(&self) -> Option<String> {
        self.command.clone()
    }

    fn load(&self, path: &Path) -> ControlOutcome {
        let quoted = format!("'{}'", path.display().to_string().replace('\'', "'\\''"));
        let command = self
            .command
            .as_deref()
            .unwrap_or_default()
            .replace("{registry}", &quoted);
        if command.is_empty() {
            return ControlOutcome {
                command,
                millis: 0,
                error: Some("the target file gives no bus.registry-command".into()),
            };
        }
        run_shell(&command, self.timeout)
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
    fn live_bus(&self) -> Option<LiveBus> {
        self.bus.clone()
    }

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
        let command = self.command(action).unwrap_or_default();
        if command.is_empty() {
            return ControlOutcome {
                command,
                millis: 0,
                error: Some(format!(
                    "the target file gives no `{}` command",
                    action.as_str()
                )),
            };
        }
        run_shell(&command, self.timeout)
    }
}

/// Runs `command` with `sh -c` to its end or `timeout`, whichever comes first.
fn run_shell(command: &str, timeout: Duration) -> ControlOutcome {
    let began = Instant::now();
    let command = command.to_string();
    let outcome = |error: Option<String>| ControlOutcome {
        command: command.clone(),
        millis: began.elapsed().as_millis() as u64,
        error,
    };
    let log = std::env::temp_dir().join(format!(
        "qaqpa-control-{}-{}.log",
        std::process::id(),
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
            Ok(None) if began.elapsed() >= timeout => {
                // Ours to end: the shell we started, by its id.
                let _ = child.kill();
                let _ = child.wait();
                break Err(format!(
                    "still running after {} s: ended by the harness",
                    timeout.as_secs()
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

/// Checks, before a live run, that the scenarios it plays find every host they need in the
/// target file; an error names the scenario, the host and the field to add.
pub fn check_layout(
    scenarios: &[&Scenario],
    target: &LiveTarget,
    origin: &str,
) -> Result<(), String> {
    for s in scenarios {
        for step in &s.steps {
            let checked = match step.action() {
                Action::Mail(spec) => match target.mail() {
                    Some(mail) => qaqpa_scenarios::mail::live::layout(spec, mail).map(drop),
                    None => Err("its mail steps need a [ugem] section".into()),
                },
                Action::Bus(spec) => match target.bus() {
                    Some(bus) => qaqpa_scenarios::bus::live::layout(spec, bus),
                    None => Err("its bus steps need a [bus] section".into()),
                },
                _ => Ok(()),
            };
            checked.map_err(|e| format!("{origin}: scenario `{}` ({}): {e}", s.id, s.file))?;
        }
    }
    Ok(())
}

/// Checks, before a live run, that the product answers and that the harness can take every
/// address the target file gives it: an error names the file, the field and the address.
pub fn preflight(file: &TargetFile, origin: &str) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the harness's network runtime: {e}"))?;
    if let Some(b) = &file.bus {
        for (field, url) in [
            ("bus.sync-url", Some(&b.sync_url)),
            ("bus.async-url", Some(&b.async_url)),
            ("bus.external-sync-url", b.external_sync_url.as_ref()),
            ("bus.external-async-url", b.external_async_url.as_ref()),
        ] {
            let Some(url) = url else { continue };
            rt.block_on(qaqpa_scenarios::bus::live::reachable(
                url,
                Duration::from_secs(5),
            ))
            .map_err(|why| {
                format!(
                    "{origin}: {field} = {url}: the product accepts no connection there ({why}): start it, or correct the URL"
                )
            })?;
        }
        std::net::TcpListener::bind(b.endpoints)
            .map(drop)
            .map_err(|e| {
                format!(
                    "{origin}: bus.endpoints = {}: the harness cannot listen there: {e}",
                    b.endpoints
                )
            })?;
    }
    let Some(u) = &file.ugem else { return Ok(()) };
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

/// The lines `--dry-run` prints for a scenario's mail and bus steps.
pub fn describe(
    scenario: &Scenario,
    target: &LiveTarget,
    scenario_seed: u64,
) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for (i, step) in scenario.steps.iter().enumerate() {
        let lines = match (step.action(), target.mail(), target.bus()) {
            (Action::Mail(spec), Some(mail), _) => qaqpa_scenarios::mail::live::describe(
                spec,
                mail,
                scenario_seed,
                &format!("mail-step-{i}"),
            )?,
            (Action::Bus(spec), _, Some(bus)) => qaqpa_scenarios::bus::live::describe(spec, bus)?,
            _ => continue,
        };
        out.push(format!("  step {}: ", i + 1));
        let last = out.len() - 1;
        let mut it = lines.into_iter();
        if let Some(first) = it.next() {
            out[last].push_str(&first);
        }
        out.extend(it.map(|l| format!("    {l}")));
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
        if let Err(why) = s.live_playable() {
            return Some(why);
        }
        let bus = self.target.bus()?;
        s.steps.iter().find_map(|step| match step.action() {
            Action::Bus(spec) => qaqpa_scenarios::bus::live::needs_harness_certificates(spec)
                .or_else(|| qaqpa_scenarios::bus::live::needs_external_gateway(spec, bus)),
            _ => None,
        })
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
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    if !args.defects.is_empty() {
        return Err(CliError::input(format!(
            "--defect switches on faults of the simulated reference; {origin} is a live target"
        )));
    }
    let target = LiveTarget::new(file, &dir, &origin).map_err(CliError::input)?;
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
    check_layout(&played, &run.target, &run.origin).map_err(CliError::input)?;
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
        let text =
            std::fs::read(path).map_err(|e| CliError::input(format!("{}: {e}", path.display())))?;
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
    if let Some(bus) = live.target.bus() {
        writeln!(
            out,
            "bus: the product's inner gateway at {} and {}{}; the harness's systems listen on {}; each episode's registry is loaded with `{}`",
            bus.sync_url,
            bus.async_url,
            match (&bus.external_sync_url, &bus.external_async_url) {
                (Some(s), Some(a)) => format!(", its external gateway at {s} and {a}"),
                _ => String::new(),
            },
            bus.endpoints,
            bus.registry.command().unwrap_or_else(|| "(no bus.registry-command)".into())
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
        let seed = qaqpa_sim::seed::derive(args.seed, &s.id);
        for line in describe(s, &live.target, seed).map_err(CliError::input)? {
            writeln!(out, "{line}").map_err(io)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// Every bus step of the standard suite gives a registry the reference itself reads (the
    /// format of docs/bus.md), holding the world before the scenario: its systems, the
    /// services already published and routing to the harness, the access already granted.
    #[test]
    fn episode_registries_are_read_by_the_reference() {
        let suite = crate::cli::load_suite(&[]).unwrap();
        let endpoints: std::net::SocketAddr = "127.0.0.9:9100".parse().unwrap();
        let mut steps = 0;
        for s in &suite.scenarios {
            for step in &s.steps {
                let Action::Bus(spec) = step.action() else {
                    continue;
                };
                steps += 1;
                let text = qaqpa_scenarios::bus::live::registry(spec, endpoints);
                let r = qaqpa_esb::config::read_registry(&text, &s.id)
                    .unwrap_or_else(|e| panic!("{e}\n{text}"));
                assert_eq!(r.systems.len(), spec.systems.len(), "{}", s.id);
                let published: Vec<&str> = spec
                    .services
                    .iter()
                    .filter(|v| v.registered)
                    .map(|v| v.id.as_str())
                    .collect();
                assert_eq!(
                    r.services.keys().map(String::as_str).collect::<Vec<_>>(),
                    {
                        let mut p = published.clone();
                        p.sort();
                        p
                    },
                    "{}",
                    s.id
                );
                for v in r.services.values() {
                    assert_eq!(
                        v.provider,
                        format!("http://{endpoints}/sys/{}/provider/{}", v.owner, v.id)
                    );
                }
                let granted = spec
                    .connections
                    .iter()
                    .filter(|c| c.granted && published.contains(&c.service.as_str()))
                    .count();
                assert_eq!(r.connections.len(), granted, "{}", s.id);
                assert_eq!(r.consent.as_deref(), Some("http://127.0.0.9:9100/consent"));
            }
        }
        assert!(steps >= 8, "only {steps} bus steps in the suite");
    }

    fn pem_file(dir: &Path, name: &str, tag: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(
            &p,
            pem::encode(&pem::Pem::new(tag, vec![0x30, 0x03, 1, 2, 3])),
        )
        .unwrap();
        p
    }

    /// The bus's PEM files are read from the target file's folder; a missing, unreadable or
    /// wrong one is named by its field and path.
    #[test]
    fn signing_files_are_named_when_they_cannot_be_used() {
        let dir = std::env::temp_dir().join(format!("qaqpa-signing-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        pem_file(&dir, "ca.pem", "CERTIFICATE");
        pem_file(&dir, "c.pem", "CERTIFICATE");
        pem_file(&dir, "k.pem", "PRIVATE KEY");
        pem_file(&dir, "ec.pem", "EC PRIVATE KEY");
        std::fs::write(dir.join("junk.pem"), "hello").unwrap();
        let text = |ca: &str, cert: &str, key: &str| {
            format!(
                "kind = \"live\"\nname = \"b\"\n[bus]\nsync-url = \"http://127.0.0.1:1/s\"\nasync-url = \"http://127.0.0.1:1/a\"\nendpoints = \"127.0.0.9:9100\"\nca-root = \"{ca}\"\nsigning-certificate = \"{cert}\"\nsigning-key = \"{key}\"\n"
            )
        };
        let bus = |t: String| TargetFile::parse(&t, "t.toml").unwrap().bus.unwrap();
        let s = read_signing(&bus(text("ca.pem", "c.pem", "k.pem")), &dir, "t.toml").unwrap();
        assert!(s.key.starts_with(b"-----BEGIN PRIVATE KEY-----"));
        assert!(s.ca_root.starts_with(b"-----BEGIN CERTIFICATE-----"));
        assert!(read_signing(&bus(text("ca.pem", "c.pem", "ec.pem")), &dir, "t.toml").is_ok());
        let e = read_signing(&bus(text("none.pem", "c.pem", "k.pem")), &dir, "t.toml").unwrap_err();
        assert!(
            e.starts_with("t.toml: bus.ca-root = ")
                && e.contains("none.pem")
                && e.contains("cannot read it"),
            "{e}"
        );
        let e = read_signing(&bus(text("ca.pem", "k.pem", "k.pem")), &dir, "t.toml").unwrap_err();
        assert!(
            e.contains("bus.signing-certificate")
                && e.contains("holds no -----BEGIN CERTIFICATE")
                && e.contains("`PRIVATE KEY`"),
            "{e}"
        );
        let e = read_signing(&bus(text("ca.pem", "c.pem", "c.pem")), &dir, "t.toml").unwrap_err();
        assert!(
            e.contains("bus.signing-key") && e.contains("private key"),
            "{e}"
        );
        let e =
            read_signing(&bus(text("ca.pem", "c.pem", "junk.pem")), &dir, "t.toml").unwrap_err();
        assert!(
            e.contains("bus.signing-key") && e.contains("no PEM block"),
            "{e}"
        );
        let abs = dir.join("c.pem").display().to_string();
        assert!(
            read_signing(
                &bus(text("ca.pem", &abs, "k.pem")),
                Path::new("/nonexistent"),
                "t.toml"
            )
            .is_err()
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The roots for https:// URLs come from `tls-root`, else `ca-root`, and must be
    /// certificates the TLS client takes; plain HTTP needs none.
    #[test]
    fn https_roots_are_read_and_named_when_unusable() {
        let dir = std::env::temp_dir().join(format!("qaqpa-tls-roots-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // A PEM block that is no certificate.
        pem_file(&dir, "ca.pem", "CERTIFICATE");
        let ca = qaqpa_scenarios::tls::PublicCa::new(3, jiff::Timestamp::now()).unwrap();
        std::fs::write(dir.join("web-root.pem"), ca.root_pem()).unwrap();
        let bus = |scheme: &str, tls_root: &str| {
            TargetFile::parse(
                &format!(
                    "kind = \"live\"\nname = \"b\"\n[bus]\nsync-url = \"{scheme}://127.0.0.1:1/s\"\nasync-url = \"http://127.0.0.1:1/a\"\nendpoints = \"127.0.0.9:9100\"\nca-root = \"ca.pem\"\nsigning-certificate = \"c.pem\"\nsigning-key = \"k.pem\"\n{tls_root}"
                ),
                "t.toml",
            )
            .unwrap()
            .bus
            .unwrap()
        };
        assert_eq!(
            read_tls_roots(&bus("http", ""), &dir, "t.toml").unwrap(),
            None
        );
        let e = read_tls_roots(&bus("https", ""), &dir, "t.toml").unwrap_err();
        assert!(
            e.starts_with("t.toml: bus.ca-root = ") && e.contains("https://"),
            "{e}"
        );
        let roots = read_tls_roots(
            &bus("https", "tls-root = \"web-root.pem\"\n"),
            &dir,
            "t.toml",
        )
        .unwrap();
        assert_eq!(roots.as_deref(), Some(ca.root_pem().as_bytes()));
        let e =
            read_tls_roots(&bus("https", "tls-root = \"none.pem\"\n"), &dir, "t.toml").unwrap_err();
        assert!(
            e.starts_with("t.toml: bus.tls-root = ") && e.contains("cannot read it"),
            "{e}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The registry command gets the file's path quoted for the shell, and is bounded.
    #[test]
    fn the_registry_command_gets_the_path_and_its_limit() {
        let dir = std::env::temp_dir().join(format!("qaqpa-registry-cmd {}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let reg = dir.join("it's.toml");
        std::fs::write(&reg, "x = 1\n").unwrap();
        let copy = dir.join("copy.toml");
        let loader = ShellRegistry {
            command: Some(format!("cp {{registry}} '{}'", copy.display())),
            timeout: Duration::from_secs(5),
        };
        let o = loader.load(&reg);
        assert!(o.error.is_none(), "{o:?}");
        assert_eq!(std::fs::read_to_string(&copy).unwrap(), "x = 1\n");
        let slow = ShellRegistry {
            command: Some("sleep 30; cat {registry}".into()),
            timeout: Duration::from_secs(1),
        };
        let began = Instant::now();
        let o = slow.load(&reg);
        assert!(o.error.unwrap().contains("still running after 1 s"));
        assert!(began.elapsed() < Duration::from_secs(5));
        let _ = std::fs::remove_dir_all(&dir);
    }

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
