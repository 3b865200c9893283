//! The command line: `run`, `calendar`, `clauses`, `explain`, `defects`.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use qaqpa_reports::catalogue::Catalogue;
use qaqpa_reports::render;
use qaqpa_scenarios::suite::{self, RunConfig, RunOutcome, Suite};
use qaqpa_scenarios::{SystemName, oracle};
use qaqpa_sim::calendar::BusinessCalendar;

use crate::calendar_cmd;
use crate::reference::{self, Reference};

#[derive(Parser)]
#[command(
    name = "qaqpa",
    version,
    about = "Conformance harness for the Kazakhstan e-government gateways (UGIA, UGEM, the SHEP bus)"
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
    /// Is a date a Kazakhstan working day, and what date is N days after it?
    Calendar(calendar_cmd::CalendarArgs),
    /// List the clauses of the catalogue.
    Clauses {
        #[arg(long)]
        json: bool,
    },
    /// Show one clause: its text, the scenarios that exercise it, the defects that break it.
    Explain { id: String },
    /// List the reference's named defects and the clauses each should break.
    Defects {
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
    /// Run a reference service as a real process (`serve waf --listen ADDR --upstream URL`).
    Serve(crate::waf_cmd::ServeArgs),
}

#[derive(clap::Args)]
pub struct RunArgs {
    /// Systems to certify (all when none is given).
    #[arg(long = "system", value_parser = ["ugia", "ugem", "bus"])]
    systems: Vec<String>,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[arg(long, default_value = "qaqpa-out")]
    out: PathBuf,
    /// Switch on a named defect of the reference (see `qaqpa defects`).
    #[arg(long = "defect")]
    defects: Vec<String>,
    /// Further scenario files: every *.yaml under DIR joins the standard suite.
    #[arg(long = "suite")]
    suites: Vec<PathBuf>,
    /// A calendar file that extends or overrides the built-in Kazakhstan calendar.
    #[arg(long)]
    calendar: Option<PathBuf>,
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

/// Exit codes: 0 no clause fails, 1 a clause fails, 2 bad usage or input.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut stdout = QuietWhenClosed(std::io::stdout().lock());
    let result = match cli.command {
        Command::Run(args) => return finish(run_to_disk(&args), &args.out),
        Command::Judge(args) => return finish(crate::judge_cmd::judge(&args), args.out()),
        Command::Calendar(args) => calendar_cmd::run(&args, &mut stdout).map_err(|e| e.to_string()),
        Command::Clauses { json } => clauses(json, &mut stdout),
        Command::Explain { id } => explain(&id, &mut stdout),
        Command::Defects { json } => defects(json, &mut stdout),
        Command::Replay(args) => crate::replay_cmd::replay(&args, &mut stdout),
        Command::NdpiScore(args) => crate::replay_cmd::ndpi_score(&args, &mut stdout),
        Command::WafScore(args) => crate::waf_cmd::waf_score(&args, &mut stdout),
        Command::Serve(args) => crate::waf_cmd::serve(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("qaqpa: {e}");
            ExitCode::from(2)
        }
    }
}

fn finish(result: Result<RunOutcome, String>, out: &Path) -> ExitCode {
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
            if r.failed() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("qaqpa: {e}");
            ExitCode::from(2)
        }
    }
}

/// The main job: load, run, judge, write. Separate from `run` so tests drive it in process.
pub fn run_to_disk(args: &RunArgs) -> Result<RunOutcome, String> {
    let calendar = load_calendar(args.calendar.as_deref())?;
    let target = Reference::with_defects(&args.defects).map_err(|e| e.to_string())?;
    let mut suite = Suite::standard().map_err(|e| e.to_string())?;
    for dir in &args.suites {
        suite.add_dir(dir).map_err(|e| e.to_string())?;
    }
    let systems = if args.systems.is_empty() {
        SystemName::ALL.to_vec()
    } else {
        let mut s: Vec<SystemName> = args
            .systems
            .iter()
            .filter_map(|s| SystemName::parse(s))
            .collect();
        s.sort();
        s.dedup();
        s
    };
    let config = RunConfig {
        seed: args.seed,
        systems,
        calendar: &calendar,
    };
    let outcome = with_progress(|progress| suite::run(&suite, &target, &config, progress))
        .map_err(|e| e.to_string())?;
    write_reports(&args.out, &outcome).map_err(|e| format!("{}: {e}", args.out.display()))?;
    Ok(outcome)
}

impl RunArgs {
    pub fn new(out: PathBuf, seed: u64) -> RunArgs {
        RunArgs {
            systems: vec![],
            seed,
            out,
            defects: vec![],
            suites: vec![],
            calendar: None,
        }
    }

    pub fn defect(mut self, id: &str) -> RunArgs {
        self.defects.push(id.to_string());
        self
    }

    pub fn system(mut self, s: &str) -> RunArgs {
        self.systems.push(s.to_string());
        self
    }

    pub fn suite(mut self, dir: PathBuf) -> RunArgs {
        self.suites.push(dir);
        self
    }
}

pub fn load_calendar(path: Option<&Path>) -> Result<BusinessCalendar, String> {
    let cal = BusinessCalendar::kazakhstan();
    match path {
        None => Ok(cal),
        Some(p) => cal.with_override_file(p).map_err(|e| e.to_string()),
    }
}

fn with_progress<T>(
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

pub fn write_reports(out: &Path, outcome: &RunOutcome) -> std::io::Result<()> {
    let traces = out.join("traces");
    std::fs::create_dir_all(&traces)?;
    let r = &outcome.report;
    std::fs::write(out.join("report.json"), render::json(r))?;
    std::fs::write(out.join("report.md"), render::markdown(r))?;
    std::fs::write(
        out.join("report.html"),
        render::html(r, Catalogue::standard()),
    )?;
    std::fs::write(out.join("report.xml"), render::junit(r))?;
    for (id, trace) in &outcome.traces {
        let mut f =
            std::io::BufWriter::new(std::fs::File::create(traces.join(format!("{id}.jsonl")))?);
        trace.write_jsonl(&mut f)?;
        f.flush()?;
    }
    Ok(())
}

fn clauses(json: bool, out: &mut dyn Write) -> Result<(), String> {
    let cat = Catalogue::standard();
    let io = |e: std::io::Error| e.to_string();
    if json {
        serde_json::to_writer_pretty(&mut *out, cat.clauses()).map_err(|e| e.to_string())?;
        writeln!(out).map_err(io)?;
        return Ok(());
    }
    for c in cat.clauses() {
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

fn explain(id: &str, out: &mut dyn Write) -> Result<(), String> {
    let cat = Catalogue::standard();
    let c = cat
        .get(id)
        .ok_or_else(|| format!("explain {id}: no such clause (see `qaqpa clauses`)"))?;
    let doc = cat.document(&c.document);
    let io = |e: std::io::Error| e.to_string();
    writeln!(out, "{} — {}", c.id, c.summary).map_err(io)?;
    if let Some(d) = doc {
        writeln!(
            out,
            "source: {} (seed {}), clause {}",
            d.order, d.seed_file, c.number
        )
        .map_err(io)?;
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
        writeln!(out, "\ntext (en, unofficial):\n  {en}").map_err(io)?;
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
    let suite = Suite::standard().map_err(|e| e.to_string())?;
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

fn defects(json: bool, out: &mut dyn Write) -> Result<(), String> {
    let io = |e: std::io::Error| e.to_string();
    if json {
        let all: Vec<_> = reference::defects().collect();
        serde_json::to_writer_pretty(&mut *out, &all).map_err(|e| e.to_string())?;
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
