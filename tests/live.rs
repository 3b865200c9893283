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
    same_verdicts(
        &live_v,
        &sim_v,
        &[
            "ugem-queue-survives-drawn-faults",
            "ugem-queue-survives-faults",
            "ugem-relay-not-open",
            "ugem-spam-burst",
        ],
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

// ---------------------------------------------------------------------------------------------
// The bus, live.

/// The bus's target-file section for a product at `inner` (and `external`, if any), the
/// harness's systems at `endpoints`, its registry loaded with `registry_command`; the PEM
/// files are written beside the target file (the harness reads and checks them; the
/// messages are not signed yet).
fn bus_target(
    layout: &Layout,
    inner: &str,
    external: Option<&str>,
    endpoints: &str,
    registry_command: &str,
    call_timeout: u32,
) -> PathBuf {
    let block = |tag: &str| format!("-----BEGIN {tag}-----\nMAMCAQI=\n-----END {tag}-----\n");
    layout.write("ca.pem", &block("CERTIFICATE"));
    layout.write("harness.pem", &block("CERTIFICATE"));
    layout.write("harness.key", &block("PRIVATE KEY"));
    let mut t = format!(
        "kind = \"live\"\nname = \"bus product\"\nversion = \"1\"\n\n[bus]\nsync-url = \"http://{inner}/SyncChannel/v10\"\nasync-url = \"http://{inner}/AsyncChannel/v10\"\nendpoints = \"{endpoints}\"\nregistry-command = {}\ncall-timeout-seconds = {call_timeout}\nready-timeout-seconds = 20\nca-root = \"ca.pem\"\nsigning-certificate = \"harness.pem\"\nsigning-key = \"harness.key\"\n",
        livekit::toml_string(registry_command)
    );
    if let Some(e) = external {
        t.push_str(&format!(
            "external-sync-url = \"http://{e}/SyncChannel/v10\"\nexternal-async-url = \"http://{e}/AsyncChannel/v10\"\n"
        ));
    }
    layout.write("target.toml", &t)
}

/// A bus scenario with no desk, so a live run plays it whole: before any operator's
/// decision, a non-state system reaches a service only through ЭҮСШ (eint-4), a personal-data
/// service only with the subject's consent (eint-app7-6.5), and both channels answer within
/// the minute (eint-app7-5.3), a push interface taking what the async channel delivers.
fn bus_suite(layout: &Layout) -> PathBuf {
    let dir = layout.dir.join("bus-suite");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("routing.yaml"),
        "\
id: live-bus-routing
title: Before any desk decision, non-state systems only through ЭҮСШ and personal data only with consent
system: bus
start: 2025-06-02T10:00
until: day 0
parties: {}
steps:
  - at: day 0 10:00
    bus:
      seconds: 8
      systems:
        - { id: health, state: true }
        - { id: fund, state: true, push: true }
        - { id: bank, state: false }
      services:
        - { id: MZ_PATIENT_v2, owner: health, mode: sync, published: [inner, external], personal-data: true }
        - { id: MZ_CLINICS_v1, owner: health, mode: sync, published: [inner, external] }
        - { id: FUND_NOTICES_v1, owner: fund, mode: async, published: [inner] }
      consents:
        - { subject: \"900101300123\", service: MZ_PATIENT_v2, initiator: fund }
      connections:
        - { initiator: fund, service: MZ_PATIENT_v2 }
        - { initiator: fund, service: MZ_CLINICS_v1 }
        - { initiator: bank, service: MZ_CLINICS_v1 }
        - { initiator: health, service: FUND_NOTICES_v1 }
      calls:
        - { label: fund-patient, from: fund, service: MZ_PATIENT_v2, subject: \"900101300123\", at-seconds: 1 }
        - { label: fund-patient-no-consent, from: fund, service: MZ_PATIENT_v2, subject: \"850505400111\", at-seconds: 2 }
        - { label: fund-clinics, from: fund, service: MZ_CLINICS_v1, at-seconds: 3 }
        - { label: bank-clinics-inner, from: bank, service: MZ_CLINICS_v1, via: inner, at-seconds: 4 }
        - { label: bank-clinics-external, from: bank, service: MZ_CLINICS_v1, via: external, at-seconds: 5 }
        - { label: notice, from: health, service: FUND_NOTICES_v1, at-seconds: 6 }
expect:
  - clause: eint-4
  - clause: eint-app7-6.5
  - clause: eint-app7-5.3
",
    )
    .unwrap();
    dir
}

/// `qaqpa serve bus` as two processes, the inner gateway (ЭҮШ) and the external one (ЭҮСШ),
/// and the registry command that restarts both with an episode's registry (the reference
/// reads its registry when it starts). Dropping it ends both.
struct ServedBus {
    dir: PathBuf,
    target: PathBuf,
}

impl ServedBus {
    fn start(layout: &Layout) -> ServedBus {
        let inner = format!("{}:8700", layout.ip(0, 1));
        let external = format!("{}:8701", layout.ip(0, 2));
        let endpoints = format!("{}:9100", layout.ip(0, 9));
        let d = layout.dir.display().to_string();
        // The copy first: the harness removes its file once the command has returned, and
        // the bus reads it only when it has started.
        let script = format!(
            "#!/bin/sh\nset -e\ncp \"$1\" {d}/registry.toml\nfor g in inner external; do\n  if [ -f {d}/bus-$g.pid ]; then\n    pid=$(cat {d}/bus-$g.pid)\n    kill $pid 2>/dev/null || true\n    n=0; while kill -0 $pid 2>/dev/null && [ $n -lt 100 ]; do sleep 0.05; n=$((n+1)); done\n  fi\ndone\nnohup {q} serve bus --listen {inner} --gateway inner --registry {d}/registry.toml >> {d}/bus.log 2>&1 &\necho $! > {d}/bus-inner.pid\nnohup {q} serve bus --listen {external} --gateway external --registry {d}/registry.toml >> {d}/bus.log 2>&1 &\necho $! > {d}/bus-external.pid\n",
            q = env!("CARGO_BIN_EXE_qaqpa"),
        );
        let reload = layout.write("reload-registry.sh", &script);
        let empty = layout.write("empty-registry.toml", "");
        sh(&format!("sh {} {}", reload.display(), empty.display()));
        for addr in [&inner, &external] {
            let addr: std::net::SocketAddr = addr.parse().unwrap();
            let began = Instant::now();
            while std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err() {
                assert!(
                    began.elapsed() < Duration::from_secs(20),
                    "the served bus does not listen on {addr}"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        let target = bus_target(
            layout,
            &inner,
            Some(&external),
            &endpoints,
            &format!("sh {} {{registry}}", reload.display()),
            100,
        );
        ServedBus {
            dir: layout.dir.clone(),
            target,
        }
    }
}

impl Drop for ServedBus {
    fn drop(&mut self) {
        kill_pid_file(&self.dir.join("bus-inner.pid"));
        kill_pid_file(&self.dir.join("bus-external.pid"));
    }
}

/// `qaqpa serve bus`, judged live through the bus scenarios a live run plays (those without
/// a desk: the standard suite's acceptance-time and external-gateway, and the routing scenario
/// above), earns the verdicts its simulation earns, obligation by obligation; the desk's
/// scenarios are not-tested, saying why.
#[test]
fn the_served_bus_earns_its_simulated_verdicts() {
    let layout = Layout::new("live-bus-serve-vs-sim", 81);
    let served = ServedBus::start(&layout);
    let suite_dir = bus_suite(&layout);
    let calendar = BusinessCalendar::kazakhstan();
    let began = Instant::now();
    let live = run_to_disk(
        &RunArgs::new(layout.dir.join("live"), 1)
            .system("bus")
            .suite(suite_dir.clone())
            .target(served.target.clone()),
    )
    .unwrap();
    let took = began.elapsed();
    let sim = run_to_disk(
        &RunArgs::new(layout.dir.join("sim"), 1)
            .suite(suite_dir.clone())
            .scenario("bus-acceptance-time")
            .scenario("bus-external-gateway")
            .scenario("live-bus-routing"),
    )
    .unwrap();
    let mut suite = qaqpa_scenarios::Suite::standard().unwrap();
    suite.add_dir(&suite_dir).unwrap();
    let live_v = livekit::per_scenario_in(&live, &calendar, &suite);
    let mut sim_v = livekit::per_scenario_in(&sim, &calendar, &suite);
    sim_v.retain(|k, _| live_v.contains_key(k));
    println!(
        "live run of the bus scenarios took {took:?}\n{}",
        table(&live_v)
    );
    same_verdicts(
        &live_v,
        &sim_v,
        &[
            "bus-acceptance-time",
            "bus-external-gateway",
            "live-bus-routing",
        ],
    );
    // Beneath the verdicts, every call got the same answer, live and simulated: accepted, or
    // refused with the same ErrorInfo code.
    let answers = |o: &qaqpa_scenarios::RunOutcome, id: &str| {
        o.traces
            .iter()
            .find(|(s, _)| s == id)
            .expect("the scenario was played")
            .1
            .observations()
            .iter()
            .filter_map(|ob| match &ob.event {
                qaqpa_sim::trace::Event::BusCall(c) => Some((
                    c.label.clone(),
                    c.outcome.clone(),
                    c.error_code.clone().unwrap_or_default(),
                )),
                _ => None,
            })
            .collect::<std::collections::BTreeSet<_>>()
    };
    for id in ["bus-acceptance-time", "live-bus-routing"] {
        let (l, s) = (answers(&live, id), answers(&sim, id));
        println!("{id}: {l:?}");
        assert_eq!(l, s, "{id}: the calls' answers, live and simulated");
    }
    assert_eq!(answers(&live, "live-bus-routing").len(), 6);

    // And what they are: the reference passes each of them, on calls that happened.
    for (s, c, o) in [
        (
            "bus-acceptance-time",
            "eint-app7-5.3",
            "sync-accepted-within-a-minute",
        ),
        (
            "bus-acceptance-time",
            "eint-app7-5.3",
            "async-accepted-within-a-minute",
        ),
        (
            "live-bus-routing",
            "eint-app7-5.3",
            "sync-accepted-within-a-minute",
        ),
        (
            "live-bus-routing",
            "eint-app7-5.3",
            "async-accepted-within-a-minute",
        ),
        (
            "live-bus-routing",
            "eint-4",
            "non-state-only-via-external-gateway",
        ),
        ("live-bus-routing", "eint-app7-6.5", "consent-required"),
    ] {
        let (v, f) = &live_v[&(s.to_string(), c.to_string(), o.to_string())];
        assert_eq!(*v, Verdict::Pass, "{s} {c}/{o}: {f}");
    }
    // The calls the harness made reached the real processes: the providers and the push
    // interface on real sockets saw the relayed calls.
    let trace =
        std::fs::read_to_string(layout.dir.join("live/traces/live-bus-routing.jsonl")).unwrap();
    for expected in [
        "\"endpoint\":\"provider\"",
        "\"endpoint\":\"push\"",
        "\"what\":\"bus-live\"",
        "\"error_code\":\"SHEP-207\"",
    ] {
        assert!(
            trace.contains(expected),
            "`{expected}` missing from the live trace"
        );
    }
    // The desk's scenarios were not played, and say why.
    let r = &live.report;
    let eint7 = r.clauses.iter().find(|c| c.id == "eint-7").unwrap();
    assert!(
        eint7
            .obligations
            .iter()
            .all(|o| o.verdict == Verdict::NotTested && o.finding.contains("not played")),
        "{:?}",
        eint7.obligations
    );
    drop(served);
}

/// A bus that misbehaves on purpose at `addr`: after reading a request it never answers,
/// closes the connection, or answers with something that is not SOAP. Counts the requests.
fn misbehaving_bus(addr: &str, how: &'static str) -> Arc<AtomicUsize> {
    use std::io::Read;
    let l = TcpListener::bind(addr).unwrap();
    let seen = Arc::new(AtomicUsize::new(0));
    let count = seen.clone();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { return };
            let count = count.clone();
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 64 * 1024];
                let n = s.read(&mut buf).unwrap_or(0);
                if n == 0 {
                    return; // a readiness probe: connected and left
                }
                count.fetch_add(1, Ordering::SeqCst);
                match how {
                    "hangs" => {
                        // Hold the connection; never answer.
                        while s.read(&mut buf).is_ok_and(|n| n > 0) {}
                    }
                    "closes" => drop(s),
                    _ => {
                        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 13\r\nConnection: close\r\n\r\n<html></html>");
                    }
                }
            });
        }
    });
    seen
}

/// A bus that hangs mid-call, closes the connection or answers with no SOAP fails the
/// minute with the reason in its evidence; the run ends within its time limits and never
/// panics. An address where nothing listens is an error naming the field and the URL.
#[test]
fn a_bus_that_hangs_hangs_up_or_speaks_no_soap_fails_with_the_reason() {
    for (net, how, why) in [
        (
            82u8,
            "hangs",
            "no answer (timed out waiting for a response)",
        ),
        (83, "closes", "the connection was closed without a response"),
        (84, "html", "HTTP 200 without a SOAP answer"),
    ] {
        let layout = Layout::new(&format!("live-bus-misbehaving-{how}"), net);
        let inner = format!("{}:8700", layout.ip(0, 1));
        let requests = misbehaving_bus(&inner, how);
        let target = bus_target(
            &layout,
            &inner,
            None,
            &format!("{}:9100", layout.ip(0, 9)),
            "test -s {registry}",
            3,
        );
        let dir = layout.dir.join("suite");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("one.yaml"),
            "id: live-bus-one-call\ntitle: One call\nsystem: bus\nstart: 2025-06-02T10:00\nuntil: day 0\nparties: {}\nsteps:\n  - at: day 0 10:00\n    bus:\n      seconds: 2\n      systems:\n        - { id: a, state: true }\n        - { id: b, state: true }\n      services:\n        - { id: B_v1, owner: b, mode: sync, published: [inner] }\n      connections:\n        - { initiator: a, service: B_v1 }\n      calls:\n        - { label: one, from: a, service: B_v1, at-seconds: 1 }\n        - { label: two, from: a, service: B_v1, at-seconds: 2 }\nexpect:\n  - clause: eint-app7-5.3\n",
        )
        .unwrap();
        let began = Instant::now();
        let outcome = run_to_disk(
            &RunArgs::new(layout.dir.join("out"), 1)
                .target(target)
                .suite(dir)
                .scenario("live-bus-one-call"),
        )
        .unwrap();
        let took = began.elapsed();
        assert!(took < Duration::from_secs(40), "{how}: took {took:?}");
        let o = &outcome
            .report
            .clauses
            .iter()
            .find(|c| c.id == "eint-app7-5.3")
            .unwrap()
            .obligations
            .iter()
            .find(|o| o.id == "sync-accepted-within-a-minute")
            .unwrap();
        assert_eq!(o.verdict, Verdict::Fail, "{how}: {}", o.finding);
        assert!(o.finding.contains("got no answer"), "{how}: {}", o.finding);
        assert!(
            o.evidence.iter().any(|e| e.text.contains(why)),
            "{how}: `{why}` not in {:?}",
            o.evidence
        );
        assert_eq!(
            requests.load(Ordering::SeqCst),
            2,
            "{how}: both calls were sent"
        );
    }
    // A registry command that fails ends the run with its output, naming the field.
    let layout = Layout::new("live-bus-registry-fails", 87);
    let inner = format!("{}:8700", layout.ip(0, 1));
    let requests = misbehaving_bus(&inner, "html");
    let target = bus_target(
        &layout,
        &inner,
        None,
        &format!("{}:9100", layout.ip(0, 9)),
        "echo cannot reach the admin API of {registry} >&2; exit 4",
        3,
    );
    let (code, _, err) = qaqpa(&[
        "run",
        "--target",
        &target.display().to_string(),
        "--scenario",
        "bus-acceptance-time",
        "--out",
        &layout.dir.join("out").display().to_string(),
    ]);
    assert_ne!(code, 0, "{err}");
    assert!(
        err.contains("bus.registry-command")
            && err.contains("exit status: 4")
            && err.contains("cannot reach the admin API of"),
        "{err}"
    );
    assert_eq!(requests.load(Ordering::SeqCst), 0, "no call was sent");

    // Nothing listens at the product's URL: refused before anything is sent (exit 2),
    // naming the field and the URL.
    let layout = Layout::new("live-bus-unreachable", 85);
    let target = bus_target(
        &layout,
        &format!("{}:8700", layout.ip(0, 1)),
        None,
        &format!("{}:9100", layout.ip(0, 9)),
        "true {registry}",
        3,
    );
    let (code, _, err) = qaqpa(&[
        "run",
        "--target",
        &target.display().to_string(),
        "--scenario",
        "bus-acceptance-time",
        "--out",
        &layout.dir.join("out").display().to_string(),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("bus.sync-url = http://127.85.0.1:8700/SyncChannel/v10")
            && err.contains("accepts no connection"),
        "{err}"
    );
    // A missing PEM file is named by its field.
    std::fs::remove_file(layout.dir.join("harness.key")).unwrap();
    let (code, _, err) = qaqpa(&[
        "run",
        "--target",
        &target.display().to_string(),
        "--dry-run",
        "--out",
        &layout.dir.join("out").display().to_string(),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("bus.signing-key = ")
            && err.contains("harness.key")
            && err.contains("cannot read it"),
        "{err}"
    );
}

/// `--dry-run` of a live bus says what goes where (the registry command, the providers, every
/// call with its URL), sends nothing, and names the scenarios it does not play and why.
#[test]
fn a_bus_dry_run_describes_and_sends_nothing() {
    let layout = Layout::new("live-bus-dry-run", 86);
    let inner = format!("{}:8700", layout.ip(0, 1));
    let watcher = TcpListener::bind(&inner).unwrap();
    watcher.set_nonblocking(true).unwrap();
    let target = bus_target(
        &layout,
        &inner,
        None,
        &format!("{}:9100", layout.ip(0, 9)),
        "load-it {registry}",
        100,
    );
    let (code, stdout, err) = qaqpa(&[
        "run",
        "--target",
        &target.display().to_string(),
        "--dry-run",
        "--out",
        &layout.dir.join("out").display().to_string(),
    ]);
    assert_eq!(code, 0, "{err}");
    for expected in [
        "bus: the product's inner gateway at http://127.86.0.1:8700/SyncChannel/v10",
        "scenario bus-acceptance-time (",
        "played live",
        "goes through the external gateway (ЭҮСШ) on the sync channel, which the target file does not name (set bus.external-sync-url)",
        "the harness loads its registry (2 system(s), 3 service(s), 3 connection(s)) with `load-it {registry}`, then listens on 127.86.0.9:9100",
        "provider of KGD_ARCHIVE_v1 (sync) at http://127.86.0.9:9100/sys/kgd/provider/KGD_ARCHIVE_v1, answering after 90 s",
        "push interface of fund at http://127.86.0.9:9100/sys/fund/client",
        "connections in the registry: fund → KGD_TAXPAYER_DEBT_v2, fund → KGD_ARCHIVE_v1, kgd → FUND_NOTICES_v1; left out (access or publication still awaited): none",
        "call `notice`: kgd sends sendMessage for FUND_NOTICES_v1 to http://127.86.0.1:8700/AsyncChannel/v10 at 3 s",
        "scenario bus-registry-changes",
        "not played: its workflow at the bus-operator desk",
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
    // A desk scenario's recorded trace stands in for it: the live run judges it, and says so.
    let recorded = layout.dir.join("recorded");
    run_to_disk(&RunArgs::new(recorded.clone(), 1).scenario("bus-registry-changes")).unwrap();
    let evidence = layout.dir.join("evidence");
    std::fs::create_dir_all(&evidence).unwrap();
    std::fs::copy(
        recorded.join("traces/bus-registry-changes.jsonl"),
        evidence.join("bus-registry-changes.jsonl"),
    )
    .unwrap();
    let (code, stdout, err) = qaqpa(&[
        "run",
        "--target",
        &target.display().to_string(),
        "--dry-run",
        "--evidence",
        &evidence.display().to_string(),
        "--out",
        &layout.dir.join("out").display().to_string(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        stdout.contains("scenario bus-registry-changes (")
            && stdout.contains("judged from its recorded trace"),
        "{stdout}"
    );
}

/// The live run played exactly `played` and earned, obligation by obligation, the verdicts
/// the simulated run earned on the same scenarios.
fn same_verdicts(live_v: &livekit::PerScenario, sim_v: &livekit::PerScenario, played: &[&str]) {
    assert_eq!(
        live_v
            .keys()
            .map(|(s, ..)| s.as_str())
            .collect::<std::collections::BTreeSet<_>>(),
        played.iter().copied().collect()
    );
    let verdicts = |v: &livekit::PerScenario| {
        v.iter()
            .map(|(k, (verdict, _))| (k.clone(), *verdict))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        verdicts(live_v),
        verdicts(sim_v),
        "live:\n{}\nsimulated:\n{}",
        table(live_v),
        table(sim_v)
    );
}
