//! `qaqpa campaign`: the suite over many seeds, each exploring its own schedule of faults and
//! timings, sharded the way CI matrices and Kubernetes Indexed Jobs shard work; and
//! `qaqpa merge`: shard outputs united into one report, the same as an unsharded run's.
//!
//! A campaign's folder holds `seeds.jsonl` (one line per seed: outcome, failing obligations,
//! mail counts, the traces' hash), `summary.json` and `summary.md` (counts, failures by
//! clause, the command that replays each failing seed) and the united report in every format
//! (`report.json`, `.md`, `.html`, `.xml`: per obligation the worst verdict of any seed, with
//! the lowest such seed's finding and evidence).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use qaqpa_reports::catalogue::Catalogue;
use qaqpa_reports::{Report, Verdict, render};
use qaqpa_scenarios::SystemName;
use qaqpa_scenarios::suite::{self, RunConfig, RunOutcome, Suite};
use qaqpa_sim::trace::{Event, Trace};
use serde::{Deserialize, Serialize};

use crate::error::CliError;
use crate::reference::Reference;

#[derive(clap::Args)]
pub struct CampaignArgs {
    /// Seeds to run: `A..B` (B excluded) or `A..=B`.
    #[arg(long, value_parser = parse_seeds)]
    seeds: (u64, u64),
    /// Systems to certify (all when none is given).
    #[arg(long = "system", value_name = "SYSTEM", value_enum, ignore_case = true)]
    systems: Vec<crate::cli::SystemArg>,
    /// Switch on a named defect of the reference in every seed (see `qaqpa defects`).
    #[arg(long = "defect")]
    defects: Vec<String>,
    /// How many seeds run at once, one thread each.
    #[arg(long, default_value_t = 1)]
    jobs: usize,
    /// This shard's share of the seeds: `slice:K/N` (the K-th of N contiguous blocks) or
    /// `hash:K/N` (the seeds whose hash falls in bucket K), K from 1 to N. Without it,
    /// JOB_COMPLETION_INDEX and JOB_COMPLETION_COUNT (a Kubernetes Indexed Job) give
    /// `slice:INDEX+1/COUNT` when both are set; otherwise every seed.
    #[arg(long)]
    partition: Option<String>,
    /// Run every seed twice and fail on any difference between the two runs' traces.
    #[arg(long)]
    check_determinism: bool,
    /// The campaign's folder: seeds.jsonl, summary.json, summary.md and the united report.
    #[arg(long, default_value = "qaqpa-campaign")]
    out: PathBuf,
    /// Expected failures signed off until a date (TOML, see the README's "Waivers"), applied
    /// to every seed and to the united report.
    #[arg(long, value_name = "FILE")]
    waivers: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct MergeArgs {
    /// Campaign folders (shards) to unite; each holds report.json and seeds.jsonl.
    #[arg(required = true)]
    dirs: Vec<PathBuf>,
    /// Where the united report and summary go.
    #[arg(long, default_value = "qaqpa-merged")]
    out: PathBuf,
    /// Judge the united report with these waivers instead of the shards' own (TOML, see the
    /// README's "Waivers"); without it, the shards' waivers (which must agree) apply.
    #[arg(long, value_name = "FILE")]
    waivers: Option<PathBuf>,
}

fn parse_seeds(s: &str) -> Result<(u64, u64), String> {
    let bad = || format!("`{s}`: expected seeds as `A..B` (B excluded) or `A..=B`");
    let (a, b, inclusive) = match s.split_once("..=") {
        Some((a, b)) => (a, b, true),
        None => {
            let (a, b) = s.split_once("..").ok_or_else(bad)?;
            (a, b, false)
        }
    };
    let a: u64 = a.trim().parse().map_err(|_| bad())?;
    let b: u64 = b.trim().parse().map_err(|_| bad())?;
    let end = if inclusive {
        b.checked_add(1).ok_or_else(bad)?
    } else {
        b
    };
    if end <= a {
        return Err(format!("`{s}`: the range holds no seed"));
    }
    Ok((a, end))
}

/// Which seeds of `[first, end)` belong to shard `k` of `n` (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Partition {
    All,
    Slice { k: u64, n: u64 },
    Hash { k: u64, n: u64 },
}

impl Partition {
    fn parse(s: &str) -> Result<Partition, String> {
        let bad =
            || format!("--partition `{s}`: expected `slice:K/N` or `hash:K/N` with 1 <= K <= N");
        let (kind, kn) = s.split_once(':').ok_or_else(bad)?;
        let (k, n) = kn.split_once('/').ok_or_else(bad)?;
        let k: u64 = k.parse().map_err(|_| bad())?;
        let n: u64 = n.parse().map_err(|_| bad())?;
        if k == 0 || k > n {
            return Err(bad());
        }
        match kind {
            "slice" => Ok(Partition::Slice { k, n }),
            "hash" => Ok(Partition::Hash { k, n }),
            _ => Err(bad()),
        }
    }

    /// The partition a Kubernetes Indexed Job gives, if its variables are set.
    fn from_env() -> Result<Option<Partition>, String> {
        let get = |v: &str| std::env::var(v).ok().filter(|s| !s.is_empty());
        match (get("JOB_COMPLETION_INDEX"), get("JOB_COMPLETION_COUNT")) {
            (Some(i), Some(n)) => {
                let i: u64 = i
                    .parse()
                    .map_err(|_| format!("JOB_COMPLETION_INDEX `{i}` is not a number"))?;
                Partition::parse(&format!("slice:{}/{n}", i + 1)).map(Some)
            }
            (None, None) => Ok(None),
            _ => Err("JOB_COMPLETION_INDEX and JOB_COMPLETION_COUNT must be set together".into()),
        }
    }

    fn seeds(self, first: u64, end: u64) -> Vec<u64> {
        let all = first..end;
        match self {
            Partition::All => all.collect(),
            Partition::Slice { k, n } => {
                let len = end - first;
                let lo = first + len * (k - 1) / n;
                let hi = first + len * k / n;
                (lo..hi).collect()
            }
            Partition::Hash { k, n } => all
                .filter(|s| qaqpa_sim::seed::derive(*s, "partition") % n == k - 1)
                .collect(),
        }
    }

    fn describe(self) -> String {
        match self {
            Partition::All => "all".into(),
            Partition::Slice { k, n } => format!("slice:{k}/{n}"),
            Partition::Hash { k, n } => format!("hash:{k}/{n}"),
        }
    }
}

/// One seed's line in `seeds.jsonl`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeedLine {
    pub seed: u64,
    /// `pass`, `pass-with-warnings`, `fail`, `nothing-judged`, or `nondeterministic`.
    pub outcome: String,
    /// `clause/obligation` of every failing obligation (a waived one is not failing).
    #[serde(default)]
    pub failing: Vec<String>,
    #[serde(default)]
    pub warning: Vec<String>,
    /// `clause/obligation` of every failure a waiver in force covers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub waived: Vec<String>,
    /// Mail episodes: messages the gateway accepted, delivered, bounced, and lost (accepted
    /// and neither delivered nor bounced by the episode's end).
    pub mail: MailCounts,
    /// SHA-256 over the scenarios' trace hashes: two runs of a seed agree iff these agree.
    pub traces_sha256: String,
    /// The command that replays this seed.
    pub replay: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailCounts {
    pub accepted: u64,
    pub delivered: u64,
    pub bounced: u64,
    pub lost: u64,
}

impl MailCounts {
    fn of(traces: &[(String, Trace)]) -> MailCounts {
        let mut c = MailCounts::default();
        for (_, t) in traces {
            let mut accepted = std::collections::BTreeSet::new();
            let mut delivered = std::collections::BTreeSet::new();
            let mut bounced = std::collections::BTreeSet::new();
            for o in t.observations() {
                match &o.event {
                    Event::SmtpReply(r)
                        if r.command.starts_with("end of data") && r.code / 100 == 2 =>
                    {
                        accepted.extend(r.message.clone());
                    }
                    Event::MailDelivered(d) => {
                        delivered.extend(d.message_id.clone());
                        bounced.extend(d.mentions.iter().cloned());
                    }
                    _ => {}
                }
            }
            let accepted_n = accepted.len() as u64;
            let delivered_n = accepted.intersection(&delivered).count() as u64;
            let bounced_n = accepted
                .iter()
                .filter(|m| !delivered.contains(*m) && bounced.contains(*m))
                .count() as u64;
            c.accepted += accepted_n;
            c.delivered += delivered_n;
            c.bounced += bounced_n;
            c.lost += accepted_n - delivered_n - bounced_n;
        }
        c
    }
}

/// What every seed of a campaign shares: loaded and checked once.
struct Setup {
    suite: Suite,
    calendar: qaqpa_sim::calendar::BusinessCalendar,
    systems: Vec<SystemName>,
    defects: Vec<String>,
    waivers: Option<crate::cli::Waivers>,
}

impl Setup {
    fn replay(&self, seed: u64) -> String {
        let mut cmd = format!("qaqpa run --seed {seed}");
        for s in &self.systems {
            cmd.push_str(&format!(" --system {}", s.as_str()));
        }
        for d in &self.defects {
            cmd.push_str(&format!(" --defect {d}"));
        }
        if let Some(w) = &self.waivers {
            cmd.push_str(&format!(" --waivers {}", w.file.file));
        }
        cmd.push_str(&format!(" --out qaqpa-seed-{seed}"));
        cmd
    }

    fn run(&self, seed: u64) -> Result<RunOutcome, String> {
        // A reference per seed: it keeps what its desks registered during the run.
        let target = Reference::with_defects(&self.defects).map_err(|e| e.to_string())?;
        let config = RunConfig {
            seed,
            systems: self.systems.clone(),
            calendar: &self.calendar,
        };
        let mut outcome = suite::run(&self.suite, &target, &config, &mut |_, _, _| {})
            .map_err(|e| e.to_string())?;
        crate::cli::apply_waivers(&mut outcome.report, self.waivers.as_ref());
        Ok(outcome)
    }
}

fn traces_hash(report: &Report) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for s in &report.scenarios {
        h.update(s.id.as_bytes());
        h.update(s.trace_sha256.as_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn obligations_with(report: &Report, v: Verdict) -> Vec<String> {
    report
        .clauses
        .iter()
        .flat_map(|c| {
            c.obligations
                .iter()
                .filter(move |o| o.verdict == v)
                .map(move |o| format!("{}/{}", c.id, o.id))
        })
        .collect()
}

/// Exit codes as `run`'s: 0 no seed fails, 1 one does, 2 bad usage or nothing to run.
pub fn campaign(args: &CampaignArgs) -> Result<bool, CliError> {
    let partition = match &args.partition {
        Some(p) => Partition::parse(p)?,
        None => Partition::from_env()?.unwrap_or(Partition::All),
    };
    let seeds = partition.seeds(args.seeds.0, args.seeds.1);
    if seeds.is_empty() {
        return Err(CliError::input(format!(
            "partition {} of seeds {}..{} holds no seed: nothing would be judged",
            partition.describe(),
            args.seeds.0,
            args.seeds.1
        )));
    }
    if args.jobs == 0 {
        return Err(CliError::input("--jobs 0: expected at least one"));
    }
    // Loaded and checked once, before any thread starts, as `run` checks them.
    let waivers = crate::cli::load_waivers(args.waivers.as_deref())?;
    let suite = crate::cli::load_suite(&[])?;
    let systems = crate::cli::chosen_systems(&args.systems);
    let defects = crate::cli::resolve_defects(&args.defects, &suite, &systems)?;
    let calendar = crate::cli::load_calendar(None)?;
    crate::cli::check_schedules(&suite.scenarios, &calendar)?;
    let setup = Setup {
        suite,
        calendar,
        systems,
        defects,
        waivers,
    };

    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(u64, Result<(SeedLine, Report), String>)>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..args.jobs.min(seeds.len()) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&seed) = seeds.get(i) else { break };
                    let r = run_seed(&setup, seed, args.check_determinism);
                    eprintln!(
                        "qaqpa campaign: seed {seed}: {}",
                        r.as_ref()
                            .map_or_else(|e| format!("error: {e}"), |(l, _)| l.outcome.clone())
                    );
                    results
                        .lock()
                        .expect("no thread panics holding it")
                        .push((seed, r));
                }
            });
        }
    });
    let mut results = results.into_inner().expect("threads joined");
    results.sort_by_key(|(s, _)| *s);
    let mut lines = Vec::new();
    let mut united: Option<Report> = None;
    for (seed, r) in results {
        let (line, report) = r.map_err(|e| format!("seed {seed}: {e}"))?;
        lines.push(line);
        let member = report.as_campaign_member();
        united = Some(match united {
            None => member,
            Some(u) => Report::union(u, member).map_err(|e| e.to_string())?,
        });
    }
    let united = united.expect("at least one seed");
    write_campaign(
        &args.out,
        &lines,
        &united,
        &partition.describe(),
        setup.waivers.as_ref().map(|w| w.file.text.as_str()),
    )?;
    Ok(lines
        .iter()
        .any(|l| l.outcome == "fail" || l.outcome == "nondeterministic"))
}

fn run_seed(setup: &Setup, seed: u64, twice: bool) -> Result<(SeedLine, Report), String> {
    let outcome = setup.run(seed)?;
    let hash = traces_hash(&outcome.report);
    let mut line = SeedLine {
        seed,
        outcome: outcome.report.outcome.as_str().to_string(),
        failing: obligations_with(&outcome.report, Verdict::Fail),
        warning: obligations_with(&outcome.report, Verdict::Warning),
        waived: obligations_with(&outcome.report, Verdict::Waived),
        mail: MailCounts::of(&outcome.traces),
        traces_sha256: hash.clone(),
        replay: setup.replay(seed),
    };
    if twice {
        let again = setup.run(seed)?;
        let differ: Vec<String> = outcome
            .report
            .scenarios
            .iter()
            .zip(&again.report.scenarios)
            .filter(|(a, b)| a.trace_sha256 != b.trace_sha256)
            .map(|(a, _)| a.id.clone())
            .collect();
        if !differ.is_empty() || traces_hash(&again.report) != hash {
            line.outcome = "nondeterministic".into();
            line.failing
                .extend(differ.into_iter().map(|s| format!("determinism/{s}")));
        }
    }
    Ok((line, outcome.report))
}

/// The summary of a campaign's seed lines.
#[derive(Debug, Serialize)]
struct Summary<'a> {
    seeds: usize,
    first: u64,
    last: u64,
    partition: &'a str,
    outcomes: BTreeMap<&'a str, usize>,
    /// `clause/obligation` → the seeds that fail it.
    failures: BTreeMap<&'a str, Vec<u64>>,
    mail: MailCounts,
    replay: Vec<&'a str>,
}

fn summarise<'a>(lines: &'a [SeedLine], partition: &'a str) -> Summary<'a> {
    let mut outcomes: BTreeMap<&str, usize> = BTreeMap::new();
    let mut failures: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    let mut mail = MailCounts::default();
    let mut replay = Vec::new();
    for l in lines {
        *outcomes.entry(l.outcome.as_str()).or_default() += 1;
        for f in &l.failing {
            failures.entry(f.as_str()).or_default().push(l.seed);
        }
        mail.accepted += l.mail.accepted;
        mail.delivered += l.mail.delivered;
        mail.bounced += l.mail.bounced;
        mail.lost += l.mail.lost;
        if !l.failing.is_empty() {
            replay.push(l.replay.as_str());
        }
    }
    Summary {
        seeds: lines.len(),
        first: lines.first().map_or(0, |l| l.seed),
        last: lines.last().map_or(0, |l| l.seed),
        partition,
        outcomes,
        failures,
        mail,
        replay,
    }
}

fn summary_markdown(s: &Summary<'_>) -> String {
    let mut md = format!(
        "# qaqpa campaign\n\n{} seed(s), {}..={}, partition {}\n\n| outcome | seeds |\n|---|---:|\n",
        s.seeds, s.first, s.last, s.partition
    );
    for (o, n) in &s.outcomes {
        md.push_str(&format!("| {o} | {n} |\n"));
    }
    md.push_str(&format!(
        "\nMail: {} accepted, {} delivered, {} bounced, {} lost.\n",
        s.mail.accepted, s.mail.delivered, s.mail.bounced, s.mail.lost
    ));
    if s.failures.is_empty() {
        md.push_str("\nNo seed fails.\n");
    } else {
        md.push_str("\n## Failures by obligation\n\n| obligation | seeds |\n|---|---|\n");
        for (f, seeds) in &s.failures {
            let list: Vec<String> = seeds.iter().map(u64::to_string).collect();
            md.push_str(&format!("| {f} | {} |\n", list.join(", ")));
        }
        md.push_str("\n## Replay\n\n```sh\n");
        for r in &s.replay {
            md.push_str(r);
            md.push('\n');
        }
        md.push_str("```\n");
    }
    md
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    // written whole to a temporary file beside it, then renamed: never half a report
    let fail = |p: &Path, e: std::io::Error| CliError::output(format!("{}: {e}", p.display()));
    let tmp = path.with_extension("partial");
    let mut f = std::fs::File::create(&tmp).map_err(|e| fail(&tmp, e))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .map_err(|e| fail(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| fail(path, e))
}

fn write_campaign(
    out: &Path,
    lines: &[SeedLine],
    united: &Report,
    partition: &str,
    waivers_text: Option<&str>,
) -> Result<(), CliError> {
    std::fs::create_dir_all(out)
        .map_err(|e| CliError::output(format!("{}: {e}", out.display())))?;
    let mut jsonl = String::new();
    for l in lines {
        jsonl.push_str(&serde_json::to_string(l).expect("a seed line serialises"));
        jsonl.push('\n');
    }
    write(&out.join("seeds.jsonl"), jsonl.as_bytes())?;
    if let Some(text) = waivers_text {
        write(&out.join(crate::output::WAIVERS), text.as_bytes())?;
    }
    write(
        &out.join(crate::output::PROVENANCE),
        crate::output::provenance_json().as_bytes(),
    )?;
    let summary = summarise(lines, partition);
    let json = serde_json::to_string_pretty(&summary).expect("the summary serialises") + "\n";
    write(&out.join("summary.json"), json.as_bytes())?;
    write(
        &out.join("summary.md"),
        summary_markdown(&summary).as_bytes(),
    )?;
    let cat = Catalogue::standard();
    write(&out.join("report.json"), render::json(united).as_bytes())?;
    write(
        &out.join("report.md"),
        render::markdown(united, cat).as_bytes(),
    )?;
    write(
        &out.join("report.html"),
        render::html(
            united,
            cat,
            &render::Provenance::from_env(crate::cli::COMMIT),
        )
        .as_bytes(),
    )?;
    write(
        &out.join("report.xml"),
        render::junit(united, render::JunitOptions::default()).as_bytes(),
    )?;
    eprintln!(
        "qaqpa campaign: {} seed(s): {}; reports in {}",
        summary.seeds,
        summary
            .outcomes
            .iter()
            .map(|(o, n)| format!("{n} {o}"))
            .collect::<Vec<_>>()
            .join(", "),
        out.display()
    );
    crate::cli::tell_waivers(united);
    Ok(())
}

/// Unites shard folders: their reports and seed lines. Returns whether a seed failed.
pub fn merge(args: &MergeArgs) -> Result<bool, CliError> {
    let waivers = crate::cli::load_waivers(args.waivers.as_deref())?;
    let mut united: Option<Report> = None;
    let mut lines: Vec<SeedLine> = Vec::new();
    let mut partitions: Vec<String> = Vec::new();
    for dir in &args.dirs {
        let path = dir.join("report.json");
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let report: Report = serde_json::from_str(&text)
            .map_err(|e| format!("{}: not a qaqpa report: {e}", path.display()))?;
        if report.campaign.is_none() {
            return Err(CliError::input(format!(
                "{}: the report of a single run, not of a campaign (run `qaqpa campaign`)",
                path.display()
            )));
        }
        united = Some(match united {
            None => report,
            Some(u) => Report::union(u, report).map_err(|e| format!("{}: {e}", path.display()))?,
        });
        let path = dir.join("seeds.jsonl");
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        for (i, l) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let line: SeedLine = serde_json::from_str(l)
                .map_err(|e| format!("{}:{}: not a seed line: {e}", path.display(), i + 1))?;
            if lines.iter().any(|x| x.seed == line.seed) {
                return Err(CliError::input(format!(
                    "{}:{}: seed {} is in two shards",
                    path.display(),
                    i + 1,
                    line.seed
                )));
            }
            lines.push(line);
        }
        partitions.push(dir.display().to_string());
    }
    let mut united = united.ok_or_else(|| CliError::input("no shard folder given"))?;
    lines.sort_by_key(|l| l.seed);
    // The waivers file that goes beside the united report: the one given, else the first
    // shard's copy of the waivers the shards agree on.
    let waivers_text = match &waivers {
        Some(w) => {
            crate::cli::apply_waivers(&mut united, Some(w));
            for l in &mut lines {
                l.rewaive(&united, &w.file.file);
            }
            Some(w.file.text.clone())
        }
        None if united.waivers.is_some() => args
            .dirs
            .iter()
            .find_map(|d| std::fs::read_to_string(d.join(crate::output::WAIVERS)).ok()),
        None => None,
    };
    write_campaign(&args.out, &lines, &united, "all", waivers_text.as_deref())?;
    Ok(united.failed() || lines.iter().any(|l| l.outcome == "nondeterministic"))
}

impl SeedLine {
    /// The seed's failures split again by the waivers the united report was judged with:
    /// a failure a waiver in force covers is waived, any other is failing. (A merge with its
    /// own `--waivers` has only the shards' seed lines, not their reports.)
    fn rewaive(&mut self, united: &Report, waivers_file: &str) {
        // The replay command judges with the same waivers (`Setup::replay`'s layout).
        if let Some(i) = self.replay.find(" --waivers ") {
            let rest = &self.replay[i + " --waivers ".len()..];
            let end = rest.find(" --out ").unwrap_or(rest.len());
            self.replay = format!("{}{}", &self.replay[..i], &rest[end..]);
        }
        if let Some(i) = self.replay.rfind(" --out ") {
            self.replay
                .insert_str(i, &format!(" --waivers {waivers_file}"));
        }
        let waived_in_united = |id: &str| {
            united.clauses.iter().any(|c| {
                c.obligations.iter().any(|o| {
                    o.waiver.as_ref().is_some_and(|w| !w.expired)
                        && format!("{}/{}", c.id, o.id) == id
                })
            })
        };
        let mut failures: Vec<String> = std::mem::take(&mut self.failing);
        failures.append(&mut self.waived);
        failures.sort();
        failures.dedup();
        let (waived, failing): (Vec<String>, Vec<String>) =
            failures.into_iter().partition(|f| waived_in_united(f));
        self.failing = failing;
        self.waived = waived;
        if self.outcome == "nondeterministic" {
            return;
        }
        self.outcome = if !self.failing.is_empty() {
            "fail"
        } else if !self.warning.is_empty() {
            "pass-with-warnings"
        } else if !self.waived.is_empty() {
            "pass-with-waivers"
        } else if matches!(self.outcome.as_str(), "fail" | "pass-with-waivers") {
            "pass"
        } else {
            return;
        }
        .to_string();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_ranges_and_partitions() {
        assert_eq!(parse_seeds("1..4"), Ok((1, 4)));
        assert_eq!(parse_seeds("1..=4"), Ok((1, 5)));
        assert!(parse_seeds("4..4").is_err());
        assert!(parse_seeds("a..4").is_err());
        assert!(parse_seeds("1..=18446744073709551615").is_err());
        let slices: Vec<Vec<u64>> = (1..=3)
            .map(|k| Partition::Slice { k, n: 3 }.seeds(1, 11))
            .collect();
        assert_eq!(slices.concat(), (1..11).collect::<Vec<_>>());
        let mut hashed: Vec<u64> = (1..=3)
            .flat_map(|k| Partition::Hash { k, n: 3 }.seeds(1, 101))
            .collect();
        hashed.sort();
        assert_eq!(hashed, (1..101).collect::<Vec<_>>());
        assert!(Partition::parse("slice:0/3").is_err());
        assert!(Partition::parse("slice:4/3").is_err());
        assert!(Partition::parse("round:1/3").is_err());
        assert_eq!(
            Partition::parse("hash:2/5"),
            Ok(Partition::Hash { k: 2, n: 5 })
        );
    }
}
