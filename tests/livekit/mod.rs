//! Shared by the live tests: a layout of loopback addresses for the standard UGEM suite, the
//! target files that describe a product at them, and per-scenario verdicts of a run.
#![allow(dead_code)] // each test binary uses its own part of these helpers

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use qaqpa_reports::Verdict;
use qaqpa_scenarios::interpreter::scenario_end;
use qaqpa_scenarios::oracle::{self, OracleCtx};
use qaqpa_scenarios::{RunOutcome, Suite};
use qaqpa_sim::calendar::BusinessCalendar;

/// The connected systems of the standard UGEM suite's mail episodes: (id, domain, owner,
/// last octet of the harness's server address). Owners are what the scenarios register.
pub const CONNECTED: &[(&str, &str, &str, u8)] = &[
    ("mof", "minfin.gov.kz", "it@minfin.gov.kz", 10),
    ("mvd", "mvd.gov.kz", "noc@mvd.gov.kz", 20),
];

/// The external domains of the standard UGEM suite's mail episodes.
pub const EXTERNAL: &[&str] = &[
    "partner.example",
    "other.example",
    "slow.example",
    "gone.example",
    "mail.example",
];

/// Where a test's hosts live: everything in 127.`net`.0.0/16, so tests that run at once
/// never share an address.
#[derive(Clone)]
pub struct Layout {
    pub net: u8,
    pub dir: PathBuf,
}

/// The port every harness endpoint listens on (each on its own address).
pub const HARNESS_PORT: u16 = 10025;

impl Layout {
    pub fn new(name: &str, net: u8) -> Layout {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Layout { net, dir }
    }

    pub fn ip(&self, c: u8, d: u8) -> String {
        format!("127.{}.{c}.{d}", self.net)
    }

    pub fn listen(&self) -> SocketAddr {
        format!("{}:2525", self.ip(0, 1)).parse().unwrap()
    }

    pub fn outbound(&self) -> String {
        self.ip(0, 25)
    }

    pub fn server(&self, octet: u8) -> String {
        format!("{}:{HARNESS_PORT}", self.ip(10, octet))
    }

    pub fn exchanger(&self, i: usize) -> String {
        format!("{}:{HARNESS_PORT}", self.ip(20, i as u8 + 1))
    }

    /// A target file for a product at this layout, with its control commands.
    pub fn target_toml(&self, name: &str, version: &str, control: &[(&str, String)]) -> String {
        let mut t = format!(
            "kind = \"live\"\nname = \"{name}\"\nversion = \"{version}\"\n\n[ugem]\nlisten = \"{}\"\noutbound = [\"{}\"]\nstrangers = [\"{}\", \"{}\"]\n\n[ugem.control]\n",
            self.listen(),
            self.outbound(),
            self.ip(66, 1),
            self.ip(66, 2)
        );
        for (k, v) in control {
            t.push_str(&format!("{k} = {}\n", toml_string(v)));
        }
        for (_, domain, _, octet) in CONNECTED {
            t.push_str(&format!(
                "\n[[ugem.connected]]\ndomain = \"{domain}\"\nserver = \"{}\"\n",
                self.server(*octet)
            ));
        }
        for (i, domain) in EXTERNAL.iter().enumerate() {
            t.push_str(&format!(
                "\n[[ugem.external]]\ndomain = \"{domain}\"\nexchanger = \"{}\"\n",
                self.exchanger(i)
            ));
        }
        t
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }
}

/// A TOML basic string.
pub fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Runs a shell command to its end; panics with its output when it fails.
pub fn sh(cmd: &str) -> String {
    let out = Command::new("sh").arg("-c").arg(cmd).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "`{cmd}` failed: {text}");
    text
}

/// Waits until something greets on `addr` with SMTP's 220.
pub fn wait_for_greeting(addr: SocketAddr, within: Duration) {
    use std::io::{BufRead, BufReader};
    let began = Instant::now();
    while began.elapsed() < within {
        if let Ok(s) = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)) {
            s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            let mut line = String::new();
            if BufReader::new(&s).read_line(&mut line).is_ok() && line.starts_with("220") {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("nothing greets on {addr} after {within:?}");
}

/// (scenario, clause, obligation) → (verdict, finding), each scenario's trace judged on its
/// own by the oracles of its clauses.
pub type PerScenario = BTreeMap<(String, String, String), (Verdict, String)>;

pub fn per_scenario(outcome: &RunOutcome, calendar: &BusinessCalendar) -> PerScenario {
    per_scenario_in(outcome, calendar, &Suite::standard().unwrap())
}

/// As [`per_scenario`], the scenarios looked up in `suite`.
pub fn per_scenario_in(
    outcome: &RunOutcome,
    calendar: &BusinessCalendar,
    suite: &Suite,
) -> PerScenario {
    let mut out = BTreeMap::new();
    for (id, trace) in &outcome.traces {
        let s = suite.scenarios.iter().find(|s| &s.id == id).unwrap();
        let ctx = OracleCtx {
            calendar,
            scenario: id,
            end: scenario_end(calendar, s).unwrap(),
        };
        for clause in s.clauses() {
            for o in oracle::for_clause(&clause) {
                let j = o.judge(&ctx, trace);
                out.insert(
                    (id.clone(), clause.clone(), o.obligation().to_string()),
                    (j.verdict, j.finding),
                );
            }
        }
    }
    out
}

/// The verdicts as a table, for a test's output.
pub fn table(v: &PerScenario) -> String {
    v.iter()
        .map(|((s, c, o), (v, f))| format!("{s} {c}/{o}: {v} — {f}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Ends a process this test started, by its id (from a pid file), and waits until it is gone.
pub fn kill_pid_file(path: &Path) {
    if let Ok(pid) = std::fs::read_to_string(path) {
        let pid = pid.trim();
        if !pid.is_empty() {
            let _ = Command::new("kill").arg("-9").arg(pid).status();
        }
    }
}

/// Every crash and restart of a live trace ran its command without error, and the product
/// greeted again after each restart; at least `crashes` crashes happened.
pub fn assert_faults_injected(trace: &Path, crashes: usize) {
    let text = std::fs::read_to_string(trace).unwrap();
    let mut seen = 0;
    for line in text.lines() {
        let o: serde_json::Value = serde_json::from_str(line).unwrap();
        if o["probe"] != "fault-injector" {
            continue;
        }
        let what = o["event"]["what"].as_str().unwrap_or_default();
        let fields = &o["event"]["fields"];
        if !matches!(what, "crash" | "restart" | "stop") {
            continue;
        }
        assert!(
            fields.get("error").is_none() && fields.get("not-ready").is_none(),
            "{}: the {what} did not work: {fields}",
            trace.display()
        );
        if what == "restart" {
            assert!(fields.get("ready-after-ms").is_some(), "{fields}");
        }
        seen += usize::from(what == "crash");
    }
    assert!(seen >= crashes, "{}: {seen} crash(es)", trace.display());
}

/// How many messages the product had accepted (250 after DATA) before the trace's first
/// crash and delivered only after it: what the crash could have lost.
pub fn held_across_crash(trace: &Path) -> usize {
    let text = std::fs::read_to_string(trace).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let Some(crash) = lines
        .iter()
        .position(|o| o["probe"] == "fault-injector" && o["event"]["what"] == "crash")
    else {
        return 0;
    };
    let accepted_before: std::collections::BTreeSet<&str> = lines[..crash]
        .iter()
        .filter(|o| {
            let e = &o["event"];
            e["kind"] == "smtp-reply"
                && e["command"]
                    .as_str()
                    .is_some_and(|c| c.starts_with("end of data"))
                && e["code"].as_u64().is_some_and(|c| (200..300).contains(&c))
        })
        .filter_map(|o| o["event"]["message"].as_str())
        .collect();
    let delivered_before: std::collections::BTreeSet<&str> = lines[..crash]
        .iter()
        .filter(|o| o["event"]["kind"] == "mail-delivered")
        .filter_map(|o| o["event"]["message_id"].as_str())
        .collect();
    let delivered_after: std::collections::BTreeSet<&str> = lines[crash..]
        .iter()
        .filter(|o| o["event"]["kind"] == "mail-delivered")
        .filter_map(|o| o["event"]["message_id"].as_str())
        .collect();
    accepted_before
        .iter()
        .filter(|m| !delivered_before.contains(*m) && delivered_after.contains(*m))
        .count()
}
