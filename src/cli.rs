//! The command line: `run`, `judge`, `calendar`, `clauses`, `explain`, `defects`, `replay`,
//! `ndpi-score`, `bundle`, `verify`, `keygen`. Exit codes are in [`crate::error`].

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use qaqpa_reports::Verdict;
use qaqpa_reports::catalogue::Catalogue;
use qaqpa_scenarios::suite::{self, RunConfig, RunOutcome, Suite};
use qaqpa_scenarios::{Scenario, SystemName, interpreter, oracle};
use qaqpa_sim::calendar::BusinessCalendar;

use crate::calendar_cmd;
use crate::error::CliError;
use crate::ids;
use crate::output;
use crate::reference::{self, Reference};

#[derive(Parser)]
#[command(
    name = "qaqpa",
    version,
    about = "Conformance harness for the Kazakhstan e-government gateways (UGIA, UGEM, the SHEP bus)",
    after_help = "Exit codes: 0 no clause fails (a waived failure does not), 1 a clause fails or `verify` rejects a bundle, 2 bad usage or input (nothing to judge included), 3 the output could not be written."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the conformance suite against the reference and write the reports.
    Run(RunArgs),
    /// Judge recorded traces with the suite's oracles and write the reports.
    Judge(crate::judge_cmd::JudgeArgs),
    /// Run the suite over many seeds (sharded, in parallel) and unite the reports.
    Campaign(crate::campaign_cmd::CampaignArgs),
    /// Unite campaign shards' folders into one report, as an unsharded campaign would give.
    Merge(crate::campaign_cmd::MergeArgs),
    /// Is a date a Kazakhstan working day, and what date is N days after it?
    Calendar(calendar_cmd::CalendarArgs),
    /// List the clauses of the catalogue: id, systems, kinds, whether an oracle judges it.
    Clauses {
        /// Only the clauses that bind this system.
        #[arg(long, value_enum, ignore_case = true)]
        system: Option<SystemArg>,
        /// Print the clauses as a JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one clause: its text, the scenarios that exercise it, the defects that break it.
    Explain {
        /// The clause's id, as `qaqpa clauses` lists it (case does not matter).
        id: String,
    },
    /// List the reference's named defects and the clauses each should break.
    Defects {
        /// Print the defects as a JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Replay captures through the reference UGIA dataplane: a verdict per flow, throughput.
    Replay(crate::replay_cmd::ReplayArgs),
    /// Score the UGIA classifier against nDPI's expected results in the corpus.
    NdpiScore(crate::replay_cmd::ScoreArgs),
    /// Run go-ftw-format WAF tests against the reference WAF or a WAF at a URL, judged by
    /// the responses (go-ftw's cloud mode); scores per rule family.
    WafScore(crate::waf_cmd::WafScoreArgs),
    /// Run a reference service as a real process (`serve waf --listen ADDR --upstream URL`,
    /// `serve tls-inspect --listen ADDR --origin-ca PEM`, `serve bus --listen ADDR`,
    /// `serve ugem --listen ADDR --spool DIR --config FILE`).
    Serve(crate::waf_cmd::ServeArgs),
    /// Pack a run's folder into a certification bundle signed with an Ed25519 key.
    Bundle(crate::bundle::BundleArgs),
    /// Check a certification bundle offline: its signature and every file's SHA-256.
    Verify(crate::bundle::VerifyArgs),
    /// Make an Ed25519 key pair for signing bundles (KEY and KEY.pub).
    Keygen(crate::bundle::KeygenArgs),
}

/// A system the suite certifies, as the command line names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SystemArg {
    /// The Unified Internet Access Gateway.
    Ugia,
    /// The e-government E-mail Gateway.
    Ugem,
    /// The integration bus (SHEP) and its external gateway.
    Bus,
}

impl SystemArg {
    fn system(self) -> SystemName {
        match self {
            SystemArg::Ugia => SystemName::Ugia,
            SystemArg::Ugem => SystemName::Ugem,
            SystemArg::Bus => SystemName::Bus,
        }
    }

    fn parse(s: &str) -> Option<SystemArg> {
        <SystemArg as clap::ValueEnum>::from_str(s, true).ok()
    }
}

#[derive(clap::Args)]
pub struct RunArgs {
    /// Systems to certify (all when none is given); the others' clauses are not-applicable.
    #[arg(long = "system", value_name = "SYSTEM", value_enum, ignore_case = true)]
    pub(crate) systems: Vec<SystemArg>,
    /// Only these scenarios (ids as the reports list them; repeatable). With --clause, the
    /// scenarios named here and those that exercise the clauses run.
    #[arg(long = "scenario", value_name = "ID")]
    pub(crate) scenarios: Vec<String>,
    /// Only the scenarios that exercise these clauses (repeatable).
    #[arg(long = "clause", value_name = "ID")]
    pub(crate) clauses: Vec<String>,
    /// The run's seed: every random choice descends from it, so a seed repeats a run exactly.
    #[arg(long, default_value_t = 1)]
    pub(crate) seed: u64,
    /// The folder for the reports and traces. An earlier run's traces and reports in it are
    /// removed first; a non-empty folder that is not qaqpa's output is refused.
    #[arg(long, value_name = "DIR", default_value = "qaqpa-out")]
    pub(crate) out: PathBuf,
    /// Switch on a named defect of the reference (see `qaqpa defects`; repeatable).
    #[arg(long = "defect", value_name = "ID")]
    pub(crate) defects: Vec<String>,
    /// Further scenario files: every *.yaml under DIR joins the standard suite (repeatable).
    #[arg(long = "suite", value_name = "DIR")]
    pub(crate) suites: Vec<PathBuf>,
    /// A calendar file (the format of sim/data/calendar-kz.toml) that extends or overrides the
    /// built-in Kazakhstan calendar.
    #[arg(long, value_name = "FILE")]
    pub(crate) calendar_file: Option<PathBuf>,
    /// Treat warning clauses and stale waivers as failing: exit 1, and failures in report.xml.
    #[arg(long)]
    pub(crate) warnings_fail: bool,
    /// What to certify: a target file (TOML) naming a live product and how to reach it, or
    /// the reference (see "Certifying your product" in the README). Without it, the
    /// simulated reference.
    #[arg(long, value_name = "FILE")]
    pub(crate) target: Option<PathBuf>,
    /// Recorded traces (`<scenario-id>.jsonl`, the format `judge` reads) for the scenarios a
    /// live run cannot play, such as the desks' workflows over weeks: they are judged in
    /// their place. Needs a live --target.
    #[arg(long, value_name = "DIR")]
    pub(crate) evidence: Vec<PathBuf>,
    /// Print what a live run would send where (the harness's listeners, each flow's source,
    /// destination and envelope, each fault's command) and exit without sending anything.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Expected failures signed off until a date (TOML, see the README's "Waivers"): a
    /// failure a waiver in force covers is reported `waived` and does not fail the run.
    #[arg(long, value_name = "FILE")]
    pub(crate) waivers: Option<PathBuf>,
}

/// Standard output that stops quietly when its reader goes away (`qaqpa clauses | head`),
/// as Unix tools do, instead of reporting the closed pipe as an error.
struct QuietWhenClosed<W: Write>(W);

impl<W: Write> Write for QuietWhenClosed<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self.0.write(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(buf.len()),
            other => other,
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self.0.flush() {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            other => other,
        }
    }
}

/// Runs the command line; see [`crate::error`] for the exit codes.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut stdout = QuietWhenClosed(std::io::stdout().lock());
    let result: Result<(), CliError> = match cli.command {
        Command::Run(args) if args.dry_run => crate::live::dry_run(&args, &mut stdout),
        Command::Run(args) => return finish(run_to_disk(&args), &args.out, args.warnings_fail),
        Command::Judge(args) => {
            return finish(
                crate::judge_cmd::judge(&args),
                args.out(),
                args.warnings_fail(),
            );
        }
        Command::Campaign(args) => return finish_campaign(crate::campaign_cmd::campaign(&args)),
        Command::Merge(args) => return finish_campaign(crate::campaign_cmd::merge(&args)),
        Command::Calendar(args) => calendar_cmd::run(&args, &mut stdout).map_err(|e| {
            if e.is_bad_input() {
                CliError::input(e.to_string())
            } else {
                CliError::output(e.to_string())
            }
        }),
        Command::Clauses { system, json } => clauses(system, json, &mut stdout),
        Command::Explain { id } => explain(&id, &mut stdout),
        Command::Defects { json } => defects(json, &mut stdout),
        Command::Replay(args) => {
            crate::replay_cmd::replay(&args, &mut stdout).map_err(CliError::from)
        }
        Command::NdpiScore(args) => {
            crate::replay_cmd::ndpi_score(&args, &mut stdout).map_err(CliError::from)
        }
        Command::WafScore(args) => {
            crate::waf_cmd::waf_score(&args, &mut stdout).map_err(CliError::from)
        }
        Command::Serve(args) => crate::waf_cmd::serve(&args).map_err(CliError::from),
        Command::Bundle(args) => crate::bundle::bundle(&args, &mut stdout),
        Command::Verify(args) => crate::bundle::verify(&args, &mut stdout),
        Command::Keygen(args) => crate::bundle::keygen(&args, &mut stdout),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("qaqpa: {e}");
            ExitCode::from(e.code)
        }
    }
}

/// A campaign exits 1 when a seed failed, 2 on bad usage or input, 3 when its output could
/// not be written.
fn finish_campaign(result: Result<bool, CliError>) -> ExitCode {
    match result {
        Ok(false) => ExitCode::SUCCESS,
        Ok(true) => ExitCode::from(crate::error::FAILED),
        Err(e) => {
            eprintln!("qaqpa: {e}");
            ExitCode::from(e.code)
        }
    }
}

/// The exit code of `run` and `judge`: 1 when a clause fails (or, with `--warnings-fail`,
/// warns).
fn finish(result: Result<RunOutcome, CliError>, out: &Path, warnings_fail: bool) -> ExitCode {
    match result {
        Ok(outcome) => {
            let r = &outcome.report;
            let totals: Vec<String> = r
                .totals
                .iter()
                .filter(|(_, n)| **n > 0)
                .map(|(v, n)| format!("{n} {v}"))
                .collect();
            eprintln!(
                "qaqpa: {} scenarios, {} clauses: {}; reports in {}",
                r.scenarios.len(),
                r.clauses.len(),
                totals.join(", "),
                out.display()
            );
            tell_waivers(r);
            ExitCode::from(verdict_exit_code(r, warnings_fail))
        }
        Err(e) => {
            eprintln!("qaqpa: {e}");
            ExitCode::from(e.code)
        }
    }
}

/// 1 when a clause fails (a failure under an expired waiver included), or under
/// `--warnings-fail` when a clause warns or a waiver is stale; else 0. A waived clause does
/// not fail.
pub fn verdict_exit_code(report: &qaqpa_reports::Report, warnings_fail: bool) -> u8 {
    let warned = report.clauses.iter().any(|c| c.verdict == Verdict::Warning)
        || report.stale_waivers().next().is_some();
    u8::from(report.failed() || (warnings_fail && warned))
}

/// What became of the waivers that need someone's attention, on standard error: stale ones
/// (a warning) and expired ones whose failure stands.
pub fn tell_waivers(report: &qaqpa_reports::Report) {
    use qaqpa_reports::waiver::WaiverStatus;
    for w in report.waivers.iter().flat_map(|s| s.waivers.iter()) {
        match w.status {
            WaiverStatus::Stale => eprintln!(
                "qaqpa: warning: stale waiver at {} ({}): {}",
                w.waiver.at,
                w.waiver.scope(),
                w.finding
            ),
            WaiverStatus::Expired => eprintln!(
                "qaqpa: waiver at {} ({}) {}",
                w.waiver.at,
                w.waiver.scope(),
                w.finding
            ),
            WaiverStatus::Applied | WaiverStatus::NotJudged => {}
        }
    }
}

/// The main job: load, select, check, run, judge, write. Separate from `main` so tests drive
/// it in process.
pub fn run_to_disk(args: &RunArgs) -> Result<RunOutcome, CliError> {
    let file = match &args.target {
        Some(path) => {
            Some(crate::target_file::TargetFile::load(path).map_err(|e| CliError::input(e.0))?)
        }
        None => None,
    };
    if let Some(f) = &file
        && f.kind == crate::target_file::Kind::Live
    {
        return crate::live::run(args, f);
    }
    if args.dry_run || !args.evidence.is_empty() {
        return Err(CliError::input(
            "--dry-run and --evidence describe a live run: give a --target file of `kind = \"live\"`",
        ));
    }
    let calendar = load_calendar(args.calendar_file.as_deref())?;
    let waivers = load_waivers(args.waivers.as_deref())?;
    let mut suite = load_suite(&args.suites)?;
    let systems = chosen_systems(&args.systems);
    let selected = select_scenarios(&suite, &systems, &args.scenarios, &args.clauses)?;
    suite.scenarios.retain(|s| selected.contains(&s.id));
    let mut given_defects = args.defects.clone();
    given_defects.extend(file.iter().flat_map(|f| f.defects.iter().cloned()));
    let defects = resolve_defects(&given_defects, &suite, &systems)?;
    check_schedules(&suite.scenarios, &calendar)?;
    let target = Reference::with_defects(&defects).map_err(|e| CliError::input(e.to_string()))?;
    output::prepare(&args.out)?;
    let config = RunConfig {
        seed: args.seed,
        systems,
        calendar: &calendar,
    };
    let mut outcome = with_progress(|progress| suite::run(&suite, &target, &config, progress))
        .map_err(|e| CliError::input(e.to_string()))?;
    apply_waivers(&mut outcome.report, waivers.as_ref());
    output::write_judged(&args.out, &outcome, args.warnings_fail, waivers.as_ref())?;
    Ok(outcome)
}

/// A checked waivers file and the day its expiries are judged against, read before anything
/// runs so that a bad file costs no run.
pub struct Waivers {
    pub file: crate::waivers::WaiverFile,
    pub checked_on: qaqpa_sim::jiff::civil::Date,
}

pub fn load_waivers(path: Option<&Path>) -> Result<Option<Waivers>, CliError> {
    let Some(path) = path else {
        return Ok(None);
    };
    let file = crate::waivers::load(path)?;
    let checked_on = crate::waivers::checked_on_from_env()?;
    Ok(Some(Waivers { file, checked_on }))
}

pub fn apply_waivers(report: &mut qaqpa_reports::Report, waivers: Option<&Waivers>) {
    if let Some(w) = waivers {
        report.apply_waivers(&w.file.file, w.checked_on, &w.file.waivers);
    }
}

/// The standard suite and the scenarios of every `--suite` folder; a folder without any
/// scenario file is an error (it is almost always the wrong folder).
pub fn load_suite(dirs: &[PathBuf]) -> Result<Suite, CliError> {
    let mut suite = Suite::standard().map_err(|e| CliError::input(e.to_string()))?;
    for dir in dirs {
        let added = suite
            .add_dir(dir)
            .map_err(|e| CliError::input(e.to_string()))?;
        if added == 0 {
            return Err(CliError::input(format!(
                "--suite {}: no scenario files (*.yaml, *.yml) in this folder or below it",
                dir.display()
            )));
        }
    }
    Ok(suite)
}

pub(crate) fn given_systems(args: &RunArgs) -> Vec<SystemName> {
    let mut s: Vec<SystemName> = args.systems.iter().map(|a| a.system()).collect();
    s.sort();
    s.dedup();
    s
}

pub(crate) fn chosen_systems(args: &[SystemArg]) -> Vec<SystemName> {
    if args.is_empty() {
        return SystemName::ALL.to_vec();
    }
    let mut s: Vec<SystemName> = args.iter().map(|a| a.system()).collect();
    s.sort();
    s.dedup();
    s
}

pub(crate) fn systems_text(systems: &[SystemName]) -> String {
    systems
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The ids of the scenarios to run: those of the chosen systems, narrowed by `--scenario`
/// and `--clause` when either is given (their union). Unknown ids, and filters that leave
/// nothing to run, are errors that say why.
pub(crate) fn select_scenarios(
    suite: &Suite,
    systems: &[SystemName],
    scenario_ids: &[String],
    clause_ids: &[String],
) -> Result<Vec<String>, CliError> {
    let in_systems = |s: &Scenario| systems.contains(&s.system);
    let mut chosen: Vec<String> = Vec::new();
    for given in scenario_ids {
        let id = ids::resolve(
            "scenario",
            given,
            suite.scenarios.iter().map(|s| s.id.as_str()),
            "the scenarios of `qaqpa explain CLAUSE` or of a report",
        )
        .map_err(|e| CliError::input(format!("--scenario: {e}")))?;
        let s = suite
            .scenarios
            .iter()
            .find(|s| s.id == id)
            .expect("resolved against the suite");
        if !in_systems(s) {
            return Err(CliError::input(format!(
                "--scenario {id} runs against {}, which this run does not certify (--system {}); add --system {}",
                s.system.as_str(),
                systems_text(systems),
                s.system.as_str()
            )));
        }
        chosen.push(id.to_string());
    }
    let cat = Catalogue::standard();
    for given in clause_ids {
        let id = ids::resolve(
            "clause",
            given,
            cat.clauses().iter().map(|c| c.id.as_str()),
            "`qaqpa clauses`",
        )
        .map_err(|e| CliError::input(format!("--clause: {e}")))?;
        let exercising: Vec<&Scenario> = suite
            .scenarios
            .iter()
            .filter(|s| s.clauses().iter().any(|c| c == id))
            .collect();
        if exercising.is_empty() {
            let why = if oracle::for_clause(id).next().is_none() {
                "no oracle judges it yet"
            } else {
                "no scenario of the suite names it in `expect`"
            };
            return Err(CliError::input(format!(
                "--clause {id}: no scenario exercises it ({why}); see `qaqpa explain {id}`"
            )));
        }
        let runnable: Vec<&&Scenario> = exercising.iter().filter(|s| in_systems(s)).collect();
        if runnable.is_empty() {
            let mut theirs: Vec<&str> = exercising.iter().map(|s| s.system.as_str()).collect();
            theirs.sort_unstable();
            theirs.dedup();
            return Err(CliError::input(format!(
                "--clause {id} is exercised only by scenarios of {}, which this run does not certify (--system {})",
                theirs.join(", "),
                systems_text(systems)
            )));
        }
        chosen.extend(runnable.iter().map(|s| s.id.clone()));
    }
    if scenario_ids.is_empty() && clause_ids.is_empty() {
        chosen = suite
            .scenarios
            .iter()
            .filter(|s| in_systems(s))
            .map(|s| s.id.clone())
            .collect();
    }
    chosen.sort();
    chosen.dedup();
    if chosen.is_empty() {
        return Err(CliError::input(format!(
            "no scenario to run: the suite has none for {}",
            systems_text(systems)
        )));
    }
    Ok(chosen)
}

/// The defects' ids as the reference spells them. A defect of a system no chosen scenario
/// runs against would change nothing: that run would look like a clean one, so it is refused.
pub(crate) fn resolve_defects(
    given: &[String],
    suite: &Suite,
    systems: &[SystemName],
) -> Result<Vec<String>, CliError> {
    let mut out = Vec::new();
    for g in given {
        let id = ids::resolve(
            "defect",
            g,
            reference::defects().map(|d| d.id),
            "`qaqpa defects`",
        )
        .map_err(|e| CliError::input(format!("--defect: {e}")))?;
        let d = reference::defects()
            .find(|d| d.id == id)
            .expect("resolved against the defects");
        let certified = systems.iter().any(|s| s.as_str() == d.system);
        if !certified {
            return Err(CliError::input(format!(
                "--defect {id} is a defect of {}, which this run does not certify (--system {}): it would change nothing; add --system {}",
                d.system,
                systems_text(systems),
                d.system
            )));
        }
        if !suite
            .scenarios
            .iter()
            .any(|s| s.system.as_str() == d.system)
        {
            return Err(CliError::input(format!(
                "--defect {id} is a defect of {}, but none of the chosen scenarios runs against {}: it would change nothing",
                d.system, d.system
            )));
        }
        out.push(id.to_string());
    }
    Ok(out)
}

/// Every scenario's times against the calendar, before anything runs: a step after `until`
/// or a date out of range is a load error naming the file and line.
pub fn check_schedules(
    scenarios: &[Scenario],
    calendar: &BusinessCalendar,
) -> Result<(), CliError> {
    for s in scenarios {
        interpreter::schedule(calendar, s).map_err(|e| CliError::input(e.to_string()))?;
    }
    Ok(())
}

impl RunArgs {
    pub fn new(out: PathBuf, seed: u64) -> RunArgs {
        RunArgs {
            systems: vec![],
            scenarios: vec![],
            clauses: vec![],
            seed,
            out,
            defects: vec![],
            suites: vec![],
            calendar_file: None,
            warnings_fail: false,
            waivers: None,
            target: None,
            evidence: vec![],
            dry_run: false,
        }
    }

    pub fn waivers(mut self, file: PathBuf) -> RunArgs {
        self.waivers = Some(file);
        self
    }

    /// Certifies what the target file describes.
    pub fn target(mut self, file: PathBuf) -> RunArgs {
        self.target = Some(file);
        self
    }

    /// Recorded traces for what a live run cannot play.
    pub fn evidence(mut self, dir: PathBuf) -> RunArgs {
        self.evidence.push(dir);
        self
    }

    pub fn defect(mut self, id: &str) -> RunArgs {
        self.defects.push(id.to_string());
        self
    }

    /// Adds a system by name (case ignored); an unknown name panics: this is for tests.
    pub fn system(mut self, s: &str) -> RunArgs {
        self.systems
            .push(SystemArg::parse(s).unwrap_or_else(|| panic!("no system `{s}`")));
        self
    }

    pub fn warnings_fail(mut self) -> RunArgs {
        self.warnings_fail = true;
        self
    }

    pub fn suite(mut self, dir: PathBuf) -> RunArgs {
        self.suites.push(dir);
        self
    }

    pub fn scenario(mut self, id: &str) -> RunArgs {
        self.scenarios.push(id.to_string());
        self
    }

    pub fn clause(mut self, id: &str) -> RunArgs {
        self.clauses.push(id.to_string());
        self
    }

    pub fn calendar_file(mut self, path: PathBuf) -> RunArgs {
        self.calendar_file = Some(path);
        self
    }

    pub fn out(&self) -> &Path {
        &self.out
    }
}

pub fn load_calendar(path: Option<&Path>) -> Result<BusinessCalendar, CliError> {
    let cal = BusinessCalendar::kazakhstan();
    match path {
        None => Ok(cal),
        Some(p) => cal
            .with_override_file(p)
            .map_err(|e| CliError::input(format!("--calendar-file: {e}"))),
    }
}

pub(crate) fn with_progress<T>(
    f: impl FnOnce(&mut dyn FnMut(usize, usize, &qaqpa_scenarios::Scenario)) -> T,
) -> T {
    if std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}")
                .expect("a valid template"),
        );
        let result = f(&mut |i, n, s| {
            bar.set_length(n as u64);
            bar.set_position(i as u64);
            bar.set_message(s.id.clone());
        });
        bar.finish_and_clear();
        result
    } else {
        f(&mut |i, n, s| eprintln!("[{}/{}] {} ({})", i + 1, n, s.id, s.file))
    }
}

/// The commit qaqpa was built from (`build.rs`), shown in the HTML report.
pub const COMMIT: Option<&str> = option_env!("QAQPA_COMMIT");

fn io(e: std::io::Error) -> CliError {
    CliError::output(format!("cannot write to standard output: {e}"))
}

fn clauses(system: Option<SystemArg>, json: bool, out: &mut dyn Write) -> Result<(), CliError> {
    let cat = Catalogue::standard();
    let wanted = |c: &&qaqpa_reports::catalogue::Clause| {
        system.is_none_or(|s| c.systems.iter().any(|x| x.as_str() == s.system().as_str()))
    };
    let chosen: Vec<_> = cat.clauses().iter().filter(wanted).collect();
    if json {
        serde_json::to_writer_pretty(&mut *out, &chosen).map_err(|e| io(e.into()))?;
        writeln!(out).map_err(io)?;
        return Ok(());
    }
    for c in chosen {
        let systems: Vec<&str> = c.systems.iter().map(|s| s.as_str()).collect();
        let kinds: Vec<&str> = c.kinds.iter().map(|k| k.as_str()).collect();
        // How many of the clause's checkable obligations have an oracle.
        let checkable = c
            .obligations
            .iter()
            .filter(|o| o.machine_checkable())
            .count();
        let with_oracle = oracle::for_clause(&c.id).count();
        let judged = if checkable == 0 {
            String::new()
        } else {
            format!("{with_oracle}/{checkable}")
        };
        writeln!(
            out,
            "{:<22} {:<10} {:<28} {:<6} {}",
            c.id,
            systems.join(","),
            kinds.join(","),
            judged,
            c.summary
        )
        .map_err(io)?;
    }
    Ok(())
}

fn explain(given: &str, out: &mut dyn Write) -> Result<(), CliError> {
    let cat = Catalogue::standard();
    let id = ids::resolve(
        "clause",
        given,
        cat.clauses().iter().map(|c| c.id.as_str()),
        "`qaqpa clauses`",
    )
    .map_err(|e| CliError::input(format!("explain: {e}")))?;
    let c = cat.get(id).expect("resolved against the catalogue");
    let doc = cat.document(&c.document);
    writeln!(out, "{} — {}", c.id, c.summary).map_err(io)?;
    if let Some(d) = doc {
        writeln!(out, "source: {} (seed {})", cat.citation(c), d.seed_file).map_err(io)?;
    }
    let kinds: Vec<&str> = c.kinds.iter().map(|k| k.as_str()).collect();
    writeln!(
        out,
        "kind: {}; actors: {}",
        kinds.join(", "),
        c.actors.join(", ")
    )
    .map_err(io)?;
    if let Some(d) = &c.deadline {
        writeln!(out, "deadline: {d}").map_err(io)?;
    }
    writeln!(out, "\ntext (kk):\n  {}", c.text_kk).map_err(io)?;
    if let Some(en) = &c.text_en {
        writeln!(
            out,
            "\ntext (en, unofficial translation published with it):\n  {en}"
        )
        .map_err(io)?;
    }
    if let Some(en) = &c.text_en_ours {
        writeln!(
            out,
            "\ntext (en, unofficial translation by qaqpa; no official English exists):\n  {en}"
        )
        .map_err(io)?;
    }
    writeln!(out, "\ncheck: {}", c.check).map_err(io)?;
    writeln!(out, "\nobligations:").map_err(io)?;
    for ob in &c.obligations {
        writeln!(out, "  {} ({}): {}", ob.id, ob.kind, ob.text).map_err(io)?;
        let judged_by = oracle::for_clause(id).find(|o| o.obligation() == ob.id);
        match judged_by {
            Some(o) => writeln!(out, "    oracle: {}", o.describe()).map_err(io)?,
            None if ob.machine_checkable() => {
                writeln!(out, "    oracle: none yet; reported not-tested").map_err(io)?
            }
            None => writeln!(out, "    not machine-checkable").map_err(io)?,
        }
    }
    let suite = Suite::standard().map_err(|e| CliError::input(e.to_string()))?;
    writeln!(out, "\nscenarios:").map_err(io)?;
    let mut any = false;
    for s in suite
        .scenarios
        .iter()
        .filter(|s| s.clauses().iter().any(|x| x == id))
    {
        writeln!(out, "  {} ({}): {}", s.id, s.file, s.title).map_err(io)?;
        any = true;
    }
    if !any {
        writeln!(out, "  none").map_err(io)?;
    }
    writeln!(out, "\ndefects that break it:").map_err(io)?;
    let ds = reference::defects_breaking(id);
    if ds.is_empty() {
        writeln!(out, "  none").map_err(io)?;
    }
    for d in ds {
        writeln!(out, "  {}: {}", d.id, d.description).map_err(io)?;
    }
    let warning: Vec<_> = reference::defects()
        .filter(|d| d.warns.contains(&id))
        .collect();
    if !warning.is_empty() {
        writeln!(out, "\ndefects that make it warn:").map_err(io)?;
        for d in warning {
            writeln!(out, "  {}: {}", d.id, d.description).map_err(io)?;
        }
    }
    Ok(())
}

fn defects(json: bool, out: &mut dyn Write) -> Result<(), CliError> {
    if json {
        let all: Vec<_> = reference::defects().collect();
        serde_json::to_writer_pretty(&mut *out, &all).map_err(|e| io(e.into()))?;
        writeln!(out).map_err(io)?;
        return Ok(());
    }
    for d in reference::defects() {
        let mut effect = format!("breaks {}", d.clauses.join(","));
        if !d.warns.is_empty() {
            effect.push_str(&format!("; warns {}", d.warns.join(",")));
        }
        writeln!(
            out,
            "{:<34} {:<5} {:<44} {}",
            d.id, d.system, effect, d.description
        )
        .map_err(io)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// Every subcommand and every option says what it is for in `--help`.
    #[test]
    fn every_subcommand_and_option_has_help() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if id == "help" || id == "version" {
                    continue;
                }
                if arg
                    .get_help()
                    .is_none_or(|h| h.to_string().trim().is_empty())
                {
                    missing.push(format!("{path} {id}"));
                }
            }
            for sub in cmd.get_subcommands() {
                let p = format!("{path} {}", sub.get_name());
                if sub
                    .get_about()
                    .is_none_or(|h| h.to_string().trim().is_empty())
                {
                    missing.push(p.clone());
                }
                walk(sub, &p, missing);
            }
        }
        let mut missing = Vec::new();
        let cmd = Cli::command();
        walk(&cmd, "qaqpa", &mut missing);
        assert!(missing.is_empty(), "without help text: {missing:?}");
        // The walk sees real options (it would pass vacuously on an empty command).
        let run = cmd.find_subcommand("run").unwrap();
        assert!(run.get_arguments().any(|a| a.get_id() == "calendar_file"));
    }

    #[test]
    fn one_name_for_the_calendar_file() {
        let cmd = Cli::command();
        for sub in ["run", "judge", "calendar"] {
            let c = cmd.find_subcommand(sub).unwrap();
            let longs: Vec<&str> = c.get_arguments().filter_map(|a| a.get_long()).collect();
            assert!(longs.contains(&"calendar-file"), "{sub}: {longs:?}");
            assert!(!longs.contains(&"calendar"), "{sub}: {longs:?}");
        }
    }

    #[test]
    fn systems_are_read_without_regard_to_case() {
        let cli =
            Cli::try_parse_from(["qaqpa", "run", "--system", "UGEM", "--system", "Bus"]).unwrap();
        let Command::Run(args) = cli.command else {
            panic!("parsed as run")
        };
        assert_eq!(
            chosen_systems(&args.systems),
            [SystemName::Ugem, SystemName::Bus]
        );
        let e = Cli::try_parse_from(["qaqpa", "run", "--system", "ugai"])
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("ugia"), "suggests the near value: {e}");
    }

    fn suite() -> Suite {
        Suite::standard().unwrap()
    }

    #[test]
    fn a_clause_filter_runs_the_scenarios_that_exercise_it() {
        let s = suite();
        let all = SystemName::ALL.to_vec();
        let chosen = select_scenarios(&s, &all, &[], &["UGEM-10".into()]).unwrap();
        let expected: Vec<String> = s
            .scenarios
            .iter()
            .filter(|x| x.clauses().iter().any(|c| c == "ugem-10"))
            .map(|x| x.id.clone())
            .collect();
        assert!(!expected.is_empty());
        let mut expected_sorted = expected.clone();
        expected_sorted.sort();
        assert_eq!(chosen, expected_sorted);
        // --scenario adds to it; its id is case-insensitive too.
        let other = s
            .scenarios
            .iter()
            .find(|x| x.system == SystemName::Ugia)
            .unwrap();
        let both =
            select_scenarios(&s, &all, &[other.id.to_uppercase()], &["ugem-10".into()]).unwrap();
        assert_eq!(both.len(), chosen.len() + 1);
        assert!(both.contains(&other.id));
    }

    #[test]
    fn filters_that_leave_nothing_or_name_nothing_are_errors() {
        let s = suite();
        let e = select_scenarios(&s, &[SystemName::Ugia], &[], &["ugem-10".into()]).unwrap_err();
        assert_eq!(e.code, crate::error::BAD_INPUT);
        assert!(e.contains("ugem") && e.contains("does not certify"), "{e}");
        let e = select_scenarios(&s, &SystemName::ALL, &[], &["ugem-1O".into()]).unwrap_err();
        assert!(e.contains("did you mean `ugem-10`"), "{e}");
        let e = select_scenarios(&s, &SystemName::ALL, &["no-such".into()], &[]).unwrap_err();
        assert!(e.contains("no scenario `no-such`"), "{e}");
        // A catalogue clause no scenario exercises (not machine-checkable, no oracle).
        let unjudged = Catalogue::standard()
            .clauses()
            .iter()
            .find(|c| oracle::for_clause(&c.id).next().is_none())
            .unwrap();
        let e = select_scenarios(
            &s,
            &SystemName::ALL,
            &[],
            std::slice::from_ref(&unjudged.id),
        )
        .unwrap_err();
        assert!(e.contains("no scenario exercises it"), "{e}");
    }

    #[test]
    fn a_defect_of_a_system_not_run_is_refused() {
        let mut s = suite();
        let d = reference::defects().find(|d| d.system == "ugem").unwrap();
        let e = resolve_defects(&[d.id.to_uppercase()], &s, &[SystemName::Ugia]).unwrap_err();
        assert!(e.contains(d.id) && e.contains("does not certify"), "{e}");
        assert_eq!(
            resolve_defects(&[d.id.to_uppercase()], &s, &[SystemName::Ugem]).unwrap(),
            [d.id]
        );
        s.scenarios.retain(|x| x.system == SystemName::Ugia);
        let e = resolve_defects(&[d.id.into()], &s, &SystemName::ALL).unwrap_err();
        assert!(e.contains("none of the chosen scenarios"), "{e}");
    }
}
