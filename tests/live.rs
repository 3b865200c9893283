//! Live targets: the target file, live mail episodes on real sockets, and the reference served
//! as a real process (`qaqpa serve ugem`) judged live against its own simulation.
//!
//! Every test keeps to its own 127.N.0.0/16 of loopback (`livekit::Layout`), so they run at
//! once without sharing an address.

mod livekit;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use livekit::{Layout, kill_pid_file, per_scenario, sh, table, wait_for_greeting};
use qaqpa::cli::{RunArgs, run_to_disk};
use qaqpa_reports::Verdict;
use qaqpa_sim::calendar::BusinessCalendar;

fn qaqpa(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_qaqpa"))
        .args(args)
        .output()
        .expect("qaqpa runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A short scenario of ordinary mail and an open-relay probe, `seconds` long, in its own
/// suite folder (the standard episodes last minutes).
fn short_suite(layout: &Layout, seconds: u32) -> PathBuf {
    let dir = layout.dir.join("suite");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("short.yaml"),
        format!(
            "\
id: live-short-relay
title: Ordinary mail out and in, and an open-relay probe, briefly
system: ugem
start: 2025-06-03T10:00
until: working-day 0 18:00
parties:
  mof: {{ name: MoF, role: state-body }}
steps:
  - at: working-day 0 10:00
    mail:
      seconds: {seconds}
      systems:
        - {{ id: mof, domain: minfin.gov.kz, server: 10.20.0.10, owner: it@minfin.gov.kz }}
      external:
        - {{ domain: partner.example, mx: 203.0.113.25 }}
        - {{ domain: other.example, mx: 203.0.113.26 }}
      flows:
        - {{ id: out, from: mof, kind: normal, mail-from: clerk@minfin.gov.kz, to: [buh@partner.example], count: 2, start: 1, every: 2 }}
        - {{ id: in, from: \"external:partner.example\", kind: normal, mail-from: buh@partner.example, to: [clerk@minfin.gov.kz], start: 2 }}
        - {{ id: probe, from: \"stranger:198.51.100.9\", kind: probe, mail-from: x@random.example, to: [victim@other.example], start: 3 }}
expect:
  - clause: ugem-3
"
        ),
    )
    .unwrap();
    dir
}

/// The reference's relay file for a layout: the suite's connected systems and routes.
fn relay_toml(layout: &Layout) -> String {
    let mut t = format!(
        "hostname = \"ugem.reference.test\"\nbind = \"{}\"\nretry-period-seconds = 90\n",
        layout.outbound()
    );
    for (id, domain, owner, octet) in livekit::CONNECTED {
        t.push_str(&format!(
            "\n[[connected]]\nid = \"{id}\"\ndomain = \"{domain}\"\nserver = \"{}\"\nowner = \"{owner}\"\n",
            layout.server(*octet)
        ));
    }
    for (i, domain) in livekit::EXTERNAL.iter().enumerate() {
        t.push_str(&format!(
            "\n[[route]]\ndomain = \"{domain}\"\nto = \"{}\"\n",
            layout.exchanger(i)
        ));
    }
    t
}

/// The reference served as a process at `layout`, with the commands a target file gives to
/// start, stop and kill it. Dropping it ends the process.
struct Served {
    layout: Layout,
    target: PathBuf,
}

impl Served {
    fn start(layout: &Layout) -> Served {
        let relay = layout.write("relay.toml", &relay_toml(layout));
        let pid = layout.dir.join("serve.pid");
        let start = format!(
            "nohup {} serve ugem --listen {} --spool {} --config {} >> {} 2>&1 & echo $! > {}",
            env!("CARGO_BIN_EXE_qaqpa"),
            layout.listen(),
            layout.dir.join("spool").display(),
            relay.display(),
            layout.dir.join("serve.log").display(),
            pid.display()
        );
        let control = [
            ("start", start.clone()),
            ("stop", format!("kill $(cat {})", pid.display())),
            ("kill", format!("kill -9 $(cat {})", pid.display())),
        ];
        let target = layout.write(
            "target.toml",
            &layout.target_toml("qaqpa reference, served", "0.1.0", &control),
        );
        sh(&start);
        wait_for_greeting(layout.listen(), Duration::from_secs(20));
        Served {
            layout: layout.clone(),
            target,
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        kill_pid_file(&self.layout.dir.join("serve.pid"));
    }
}

/// A product that misbehaves on purpose: it greets, then either never answers again or
/// closes the connection at the first command.
fn misbehaving_product(layout: &Layout, hangs: bool) -> Arc<AtomicUsize> {
    let l = TcpListener::bind(layout.listen()).unwrap();
    let sessions = Arc::new(AtomicUsize::new(0));
    let seen = sessions.clone();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { return };
            seen.fetch_add(1, Ordering::SeqCst);
            std::thread::spawn(move || {
                let _ = s.write_all(b"220 misbehaving ESMTP\r\n");
                let mut r = BufReader::new(s.try_clone().unwrap());
                let mut line = String::new();
                let _ = r.read_line(&mut line);
                if hangs {
                    // Never answer; hold the connection until the harness gives up.
                    let mut rest = String::new();
                    while r.read_line(&mut rest).is_ok_and(|n| n > 0) {}
                }
            });
        }
    });
    sessions
}

fn obligation<'r>(
    report: &'r qaqpa_reports::Report,
    clause: &str,
) -> &'r qaqpa_reports::ObligationResult {
    &report
        .clauses
        .iter()
        .find(|c| c.id == clause)
        .unwrap()
        .obligations[0]
}

/// A product that hangs mid-session, or closes the connection, fails ugem-3 with the reason;
/// the run ends on time (every step has its timeout) and never panics.
#[test]
fn a_product_that_hangs_or_hangs_up_fails_with_the_reason() {
    for (net, hangs) in [(71u8, true), (72, false)] {
        let layout = Layout::new(&format!("live-misbehaving-{net}"), net);
        let suite = short_suite(&layout, 40);
        let sessions = misbehaving_product(&layout, hangs);
        let target = layout.write("target.toml", &layout.target_toml("misbehaving", "1", &[]));
        let began = Instant::now();
        let outcome = run_to_disk(
            &RunArgs::new(layout.dir.join("out"), 1)
                .target(target)
                .suite(suite)
                .scenario("live-short-relay"),
        )
        .unwrap();
        let took = began.elapsed();
        assert!(
            took < Duration::from_secs(60),
            "a 40 s episode took {took:?}"
        );
        let o = obligation(&outcome.report, "ugem-3");
        assert_eq!(o.verdict, Verdict::Fail, "{}", o.finding);
        let why = if hangs {
            "EHLO got no reply (connection lost or timed out)"
        } else {
            "got no reply"
        };
        assert!(
            o.finding.contains("was never accepted") && o.finding.contains(why),
            "{}",
            o.finding
        );
        assert!(sessions.load(Ordering::SeqCst) >= 2, "the harness tried");
        assert_eq!(outcome.report.target.kind, "live");
        assert_eq!(outcome.report.target.version.as_deref(), Some("1"));
    }
}

/// Bad target files and runs that cannot be made are refused before anything is sent, with
/// the file and the field (exit 2).
#[test]
fn bad_targets_are_refused_naming_the_file_and_field() {
    let layout = Layout::new("live-bad-targets", 73);
    let out = layout.dir.join("out").display().to_string();
    let good = layout.target_toml("p", "1", &[]);
    let refused = |text: &str, extra: &[&str]| {
        let t = layout.write("t.toml", text);
        let t = t.display().to_string();
        let mut args = vec!["run", "--target", &t, "--out", &out];
        args.extend_from_slice(extra);
        let (code, _, err) = qaqpa(&args);
        assert_eq!(code, 2, "{err}");
        err
    };
    let run = |text: &str, extra: &[&str]| {
        let err = refused(text, extra);
        assert!(err.contains("t.toml"), "names the file: {err}");
        err
    };
    let e = run(&good.replace("strangers =", "stranger ="), &[]);
    assert!(e.contains("unknown field `stranger`"), "{e}");
    // Nothing listens at the product's address.
    let e = run(&good, &["--scenario", "ugem-relay-not-open"]);
    assert!(
        e.contains("ugem.listen") && e.contains("does not answer"),
        "{e}"
    );
    let e = run(&good, &["--system", "bus"]);
    assert!(e.contains("no [bus] section"), "{e}");
    let e = run(
        &format!(
            "{good}\n[ugia]\ninside = \"tap0\"\noutside-main = \"tap1\"\noutside-backup = \"tap2\"\n"
        ),
        &[],
    );
    assert!(
        e.contains("[ugia]") && e.contains("not yet supported"),
        "{e}"
    );
    let e = run(&good, &["--defect", "ugem-open-relay"]);
    assert!(e.contains("--defect"), "{e}");
    // A scenario needs a domain the file does not place.
    let e = run(
        &good.replace("domain = \"mail.example\"", "domain = \"post.example\""),
        &["--scenario", "ugem-spam-burst"],
    );
    assert!(
        e.contains("ugem-spam-burst")
            && e.contains("mail.example")
            && e.contains("[[ugem.external]]"),
        "{e}"
    );
    // A crash needs the kill command.
    let e = run(&good, &["--scenario", "ugem-queue-survives-faults"]);
    assert!(e.contains("ugem.control.kill"), "{e}");
    // Only scenarios a live run cannot play, and no evidence for them.
    let e = refused(&good, &["--scenario", "ugem-state-body-connects"]);
    assert!(
        e.contains("nothing to play or judge") && e.contains("--evidence"),
        "{e}"
    );
}

/// A target file of `kind = "reference"` is the simulated reference, its `defects` switched
/// on as `--defect` switches them on.
#[test]
fn a_reference_target_file_runs_the_simulation() {
    let layout = Layout::new("live-reference-kind", 78);
    let t = layout.write(
        "ref.toml",
        "kind = \"reference\"\ndefects = [\"ugem-no-traffic-guard\"]\n",
    );
    let outcome = run_to_disk(
        &RunArgs::new(layout.dir.join("out"), 1)
            .target(t)
            .scenario("ugem-spam-burst"),
    )
    .unwrap();
    let r = &outcome.report;
    assert_eq!(r.target.kind, "reference");
    assert_eq!(r.target.defects, ["ugem-no-traffic-guard"]);
    let c = r.clauses.iter().find(|c| c.id == "ugem-12").unwrap();
    assert_eq!(c.verdict, Verdict::Fail, "{}", c.finding);
}

/// `--dry-run` says what would go where, and sends nothing: a listener at the product's
/// address sees no connection.
#[test]
fn a_dry_run_describes_and_sends_nothing() {
    let layout = Layout::new("live-dry-run", 74);
    let watcher = TcpListener::bind(layout.listen()).unwrap();
    watcher.set_nonblocking(true).unwrap();
    let t = layout.write(
        "t.toml",
        &layout.target_toml(
            "p",
            "1",
            &[("kill", "false".into()), ("start", "false".into())],
        ),
    );
    let (code, stdout, err) = qaqpa(&[
        "run",
        "--target",
        &t.display().to_string(),
        "--dry-run",
        "--out",
        &layout.dir.join("out").display().to_string(),
    ]);
    assert_eq!(code, 0, "{err}");
    for expected in [
        "scenario ugem-relay-not-open",
        "played live",
        &format!(
            "flow `probe-open-relay` (probe): 1 message(s) from {} (stranger:198.51.100.9) to {}",
            layout.ip(66, 1),
            layout.listen()
        ),
        "at 20 s: crash (runs the product's kill command `false`)",
        &format!(
            "nothing listens on {}, the exchanger of gone.example (down)",
            layout.exchanger(3)
        ),
        "scenario ugem-state-body-connects",
        "not played: its workflow at the ugem-connection desk",
    ] {
        assert!(
            stdout.contains(expected),
            "`{expected}` missing from:\n{stdout}"
        );
    }
    assert!(
        matches!(watcher.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "a dry run connected to the product"
    );
    assert!(
        !layout.dir.join("out").exists(),
        "a dry run writes no reports"
    );
}

/// Recorded evidence stands in for a workflow scenario a live run cannot play; a workflow
/// scenario without evidence is not-tested, saying why.
#[test]
fn evidence_is_judged_and_unplayed_scenarios_say_why() {
    let layout = Layout::new("live-evidence", 75);
    // The evidence: the simulated reference's trace of a desk scenario.
    let recorded = layout.dir.join("recorded");
    run_to_disk(
        &RunArgs::new(recorded.clone(), 1)
            .system("ugem")
            .scenario("ugem-state-body-connects"),
    )
    .unwrap();
    let evidence = layout.dir.join("evidence");
    std::fs::create_dir_all(&evidence).unwrap();
    std::fs::copy(
        recorded.join("traces/ugem-state-body-connects.jsonl"),
        evidence.join("ugem-state-body-connects.jsonl"),
    )
    .unwrap();
    let served = Served::start(&layout);
    let suite = short_suite(&layout, 12);
    let outcome = run_to_disk(
        &RunArgs::new(layout.dir.join("out"), 1)
            .target(served.target.clone())
            .suite(suite)
            .scenario("live-short-relay")
            .scenario("ugem-state-body-connects")
            .scenario("ugem-ineligible-and-incomplete-refused")
            .evidence(evidence),
    )
    .unwrap();
    let r = &outcome.report;
    let clause = |id: &str| r.clauses.iter().find(|c| c.id == id).unwrap();
    assert_eq!(
        clause("ugem-3").verdict,
        Verdict::Pass,
        "{}",
        clause("ugem-3").finding
    );
    // ugem-8's term is judged on the evidence (pass); the other scenario is not played.
    let decided = clause("ugem-8")
        .obligations
        .iter()
        .find(|o| o.id == "decided-in-time")
        .unwrap();
    assert_eq!(decided.verdict, Verdict::Pass, "{}", decided.finding);
    assert!(
        decided.finding.starts_with("ugem-state-body-connects: "),
        "{}",
        decided.finding
    );
    let not_played = r
        .clauses
        .iter()
        .flat_map(|c| &c.obligations)
        .filter(|o| {
            o.scenarios
                .iter()
                .any(|s| s == "ugem-ineligible-and-incomplete-refused")
        })
        .collect::<Vec<_>>();
    assert!(!not_played.is_empty());
    let ugem10 = clause("ugem-10");
    assert!(
        ugem10.obligations.iter().any(|o| o.finding.contains(
            "ugem-ineligible-and-incomplete-refused: not played: a live run does not play this scenario: its workflow at the ugem-connection desk"
        )),
        "{:?}",
        ugem10.obligations
    );
    // The clause, none of whose obligations was judged, gives their reasons.
    assert!(
        ugem10.finding.starts_with("0 of 3 obligations judged: ")
            && ugem10
                .finding
                .contains("not played: a live run does not play this scenario"),
        "{}",
        ugem10.finding
    );
    let ids: Vec<&str> = r.scenarios.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["ugem-state-body-connects", "live-short-relay"]);
    assert!(
        layout
            .dir
            .join("out/traces/live-short-relay.jsonl")
            .exists()
    );
    drop(served);
}

/// `qaqpa serve ugem`, judged live through every mail scenario of the standard UGEM suite,
/// earns the verdicts its simulation earns, scenario by scenario and obligation by
/// obligation (about eleven minutes: the episodes run on the wall clock).
#[test]
fn the_served_reference_earns_its_simulated_verdicts() {
    let layout = Layout::new("live-serve-vs-sim", 76);
    let served = Served::start(&layout);
    let calendar = BusinessCalendar::kazakhstan();
    let began = Instant::now();
    let live = run_to_disk(
        &RunArgs::new(layout.dir.join("live"), 1)
            .system("ugem")
            .target(served.target.clone()),
    )
    .unwrap();
    let took = began.elapsed();
    let sim = run_to_disk(&RunArgs::new(layout.dir.join("sim"), 1).system("ugem")).unwrap();
    let live_v = per_scenario(&live, &calendar);
    let mut sim_v = per_scenario(&sim, &calendar);
    // The live run plays the mail scenarios only; compare those.
    sim_v.retain(|k, _| live_v.contains_key(k));
    println!(
        "live run of the UGEM suite took {took:?}\n{}",
        table(&live_v)
    );
    assert_eq!(
        live_v
            .keys()
            .map(|(s, ..)| s.as_str())
            .collect::<std::collections::BTreeSet<_>>(),
        [
            "ugem-queue-survives-drawn-faults",
            "ugem-queue-survives-faults",
            "ugem-relay-not-open",
            "ugem-spam-burst"
        ]
        .into_iter()
        .collect()
    );
    let verdicts = |v: &livekit::PerScenario| {
        v.iter()
            .map(|(k, (verdict, _))| (k.clone(), *verdict))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        verdicts(&live_v),
        verdicts(&sim_v),
        "live:\n{}\nsimulated:\n{}",
        table(&live_v),
        table(&sim_v)
    );
    // And what they are: the reference passes every network obligation it is judged on.
    let passed = |s: &str, c: &str, o: &str| {
        live_v.get(&(s.into(), c.into(), o.into())).map(|v| v.0) == Some(Verdict::Pass)
    };
    assert!(passed(
        "ugem-relay-not-open",
        "ugem-3",
        "relays-only-connected"
    ));
    assert!(passed(
        "ugem-queue-survives-faults",
        "ugem-6",
        "nothing-lost-across-faults"
    ));
    assert!(passed(
        "ugem-queue-survives-drawn-faults",
        "ugem-6",
        "nothing-lost-across-faults"
    ));
    for o in [
        "gateway-never-listed",
        "offender-suspended",
        "owner-notified",
        "others-keep-flowing",
    ] {
        assert!(passed("ugem-spam-burst", "ugem-12", o), "{o}");
    }
    // The crashes were real kills of the served process, and it came back each time.
    let traces = layout.dir.join("live/traces");
    livekit::assert_faults_injected(&traces.join("ugem-queue-survives-faults.jsonl"), 1);
    livekit::assert_faults_injected(&traces.join("ugem-queue-survives-drawn-faults.jsonl"), 1);
    // The crash had something to lose: mail accepted before it and delivered after.
    let held = livekit::held_across_crash(&traces.join("ugem-queue-survives-faults.jsonl"));
    assert!(
        held >= 3,
        "only {held} message(s) were in the queue across the crash"
    );
    drop(served);
}
