//! Postfix (Debian's package) configured as a UGEM and certified live: the standard UGEM
//! suite's mail episodes run against it on loopback, and it earns the verdicts a real MTA
//! earns. Its configuration lives in a folder of its own (`postfix -c DIR`); nothing of the
//! system's mail setup is touched.
//!
//! What Postfix passes, and why:
//! - ugem-3 `relays-only-connected`: `mynetworks` names the connected systems' servers,
//!   `relay_domains` the connected domains, and `reject_unauth_destination` refuses the
//!   rest; a restriction class per connected server lets it send only as its own domain,
//!   and a server that is not registered may not claim a connected domain.
//! - ugem-6 `nothing-lost-across-faults` (fixed and drawn faults, `kill -9` of every Postfix
//!   process and a restart among them): Postfix's cleanup fsyncs the queue file before it
//!   answers 250 to DATA, the queue is on disk, and `maximal_queue_lifetime` (90 s here, as
//!   the scenarios scale the retry period) bounces what cannot be delivered with the
//!   original message attached.
//!
//! What it fails, and why (ugem-12, a connected system's spam burst): stock Postfix has no
//! suspension on abnormal traffic. It relays the whole burst, so
//! - `gateway-never-listed` fails: its outbound address hits ten spam traps and the
//!   blocklist model lists it;
//! - `offender-suspended` fails: every message of the burst is accepted;
//! - `owner-notified` fails: nobody tells the offending system's owner.
//!
//! `others-keep-flowing` passes: the other ministry's mail is accepted and delivered
//! throughout (Postfix slows no one down either).

mod livekit;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use livekit::{CONNECTED, EXTERNAL, Layout, per_scenario, sh, table, wait_for_greeting};
use qaqpa::cli::{RunArgs, run_to_disk};
use qaqpa_reports::Verdict;
use qaqpa_sim::calendar::BusinessCalendar;

const POSTFIX: &str = "/usr/sbin/postfix";

/// A Postfix instance in a folder of its own.
struct Postfix {
    dir: PathBuf,
}

impl Postfix {
    /// Writes main.cf, master.cf and the maps for `layout`. The folder is under the system's
    /// temporary directory: Postfix's daemons must be able to reach it after they drop root.
    fn configure(layout: &Layout) -> Postfix {
        let dir = std::env::temp_dir().join(format!("qaqpa-postfix-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("data")).unwrap();
        std::fs::create_dir_all(dir.join("queue")).unwrap();
        let d = dir.display();
        let listen = layout.listen();
        let servers: Vec<String> = CONNECTED
            .iter()
            .map(|(_, _, _, o)| format!("{}/32", layout.ip(10, *o)))
            .collect();
        let domains: Vec<&str> = CONNECTED.iter().map(|(_, d, _, _)| *d).collect();
        let classes: Vec<String> = CONNECTED
            .iter()
            .map(|(id, ..)| format!("from_{id}"))
            .collect();
        let mut main = format!(
            "\
# Postfix as a UGEM, for qaqpa's live test. Everything lives in {d}.
compatibility_level = 3.6
queue_directory = {d}/queue
data_directory = {d}/data
mail_owner = postfix
setgid_group = postdrop
myhostname = ugem.postfix.test
mydomain = postfix.test
myorigin = $myhostname
# Postfix knows its own addresses by the interfaces' (lo has 127.0.0.1); the listener of
# master.cf binds the test's loopback address all the same.
inet_interfaces = loopback-only
inet_protocols = ipv4
maillog_file = {d}/maillog
maillog_file_prefixes = {d}
# The gateway delivers nothing locally: every domain is relayed.
mydestination =
local_recipient_maps =
local_transport = error:5.1.1 the gateway delivers nothing locally
alias_maps =
alias_database =
# Its outbound mail leaves from one address (the target file's ugem.outbound).
smtp_bind_address = {outbound}
# The connected systems: their servers may relay out, their domains are relayed in.
mynetworks = {servers}
relay_domains = {domains}
relay_recipient_maps =
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
# A connected server sends only as its own domain; nobody else may claim a connected one.
smtpd_restriction_classes = {classes}
smtpd_sender_restrictions = check_client_access cidr:{d}/clients, check_sender_access texthash:{d}/claimed
# Routes: connected domains to their servers, external domains to the harness's
# exchangers, nothing else anywhere (no DNS).
transport_maps = texthash:{d}/transport
default_transport = error:5.1.2 no route to this destination
smtp_dns_support_level = disabled
smtp_host_lookup = native
# Retries scaled as the scenarios scale them (retry-period: 90).
queue_run_delay = 5s
minimal_backoff_time = 5s
maximal_backoff_time = 20s
maximal_queue_lifetime = 90s
bounce_queue_lifetime = 90s
delay_warning_time = 0h
smtp_connect_timeout = 5s
smtp_tls_security_level = none
smtpd_tls_security_level = none
smtputf8_enable = no
in_flow_delay = 0s
biff = no
",
            outbound = layout.outbound(),
            servers = servers.join(" "),
            domains = domains.join(" "),
            classes = classes.join(", "),
        );
        let mut clients = String::new();
        let mut claimed = String::new();
        let mut transport = String::new();
        for (id, domain, _, octet) in CONNECTED {
            main.push_str(&format!(
                "from_{id} = check_sender_access texthash:{d}/senders-{id}, reject\n"
            ));
            std::fs::write(
                dir.join(format!("senders-{id}")),
                format!("{domain} OK\n<> OK\n"),
            )
            .unwrap();
            clients.push_str(&format!("{}/32 from_{id}\n", layout.ip(10, *octet)));
            claimed.push_str(&format!(
                "{domain} REJECT 5.7.1 {domain} is a connected domain: it sends only from its registered server\n"
            ));
            transport.push_str(&format!(
                "{domain} smtp:[{}]:{}\n",
                layout.ip(10, *octet),
                livekit::HARNESS_PORT
            ));
        }
        for (i, domain) in EXTERNAL.iter().enumerate() {
            transport.push_str(&format!(
                "{domain} smtp:[{}]:{}\n",
                layout.ip(20, i as u8 + 1),
                livekit::HARNESS_PORT
            ));
        }
        std::fs::write(dir.join("main.cf"), main).unwrap();
        std::fs::write(dir.join("clients"), clients).unwrap();
        std::fs::write(dir.join("claimed"), claimed).unwrap();
        std::fs::write(dir.join("transport"), transport).unwrap();
        // Only the services a relay needs; no chroot, no local delivery, no pickup.
        let master = format!(
            "\
{listen} inet n - n - - smtpd
cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
verify unix - - n - 1 verify
flush unix n - n 1000? 0 flush
proxymap unix - - n - - proxymap
smtp unix - - n - - smtp
relay unix - - n - - smtp
showq unix n - n - - showq
error unix - - n - - error
retry unix - - n - - error
discard unix - - n - - discard
anvil unix - - n - 1 anvil
scache unix - - n - 1 scache
postlog unix-dgram n - n - 1 postlogd
"
        );
        std::fs::write(dir.join("master.cf"), master).unwrap();
        sh(&format!("chown postfix {d}/data"));
        Postfix { dir }
    }

    fn start_command(&self) -> String {
        format!("{POSTFIX} -c {} start", self.dir.display())
    }

    fn stop_command(&self) -> String {
        format!("{POSTFIX} -c {} stop", self.dir.display())
    }

    /// Every process of the instance at once: the master leads its own process group. (No
    /// `--`: dash's `kill` takes it for a process id.)
    fn kill_command(&self) -> String {
        format!(
            "kill -9 -$(tr -d ' ' < {}/queue/pid/master.pid)",
            self.dir.display()
        )
    }

    fn version() -> String {
        sh("postconf -dh mail_version").trim().to_string()
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        let _ = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "{} || {}",
                self.stop_command(),
                self.kill_command()
            ))
            .status();
        if std::env::var_os("QAQPA_KEEP_POSTFIX").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn postfix_present() -> bool {
    if Path::new(POSTFIX).exists() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{POSTFIX} is missing, and CI must run this test: scripts/setup installs Debian's `postfix`"
    );
    false
}

/// The live UGEM suite against Postfix (about eleven minutes: the episodes run on the wall
/// clock). See the module's comment for each verdict and why.
#[test]
fn postfix_as_ugem_earns_a_real_mtas_verdicts() {
    if !postfix_present() {
        eprintln!(
            "SKIPPED: {POSTFIX} is not installed (Debian's `postfix`; scripts/setup installs it)"
        );
        return;
    }
    let layout = Layout::new("live-postfix", 77);
    let pf = Postfix::configure(&layout);
    let target = layout.write(
        "postfix.toml",
        &layout.target_toml(
            "Postfix as UGEM",
            &Postfix::version(),
            &[
                ("stop", pf.stop_command()),
                ("kill", pf.kill_command()),
                ("start", pf.start_command()),
            ],
        ),
    );
    sh(&pf.start_command());
    wait_for_greeting(layout.listen(), Duration::from_secs(30));
    let began = Instant::now();
    let outcome = run_to_disk(
        &RunArgs::new(layout.dir.join("out"), 1)
            .system("ugem")
            .target(target),
    )
    .unwrap_or_else(|e| panic!("the live run: {e}"));
    let took = began.elapsed();
    let v = per_scenario(&outcome, &BusinessCalendar::kazakhstan());
    println!(
        "live run of the UGEM suite against Postfix took {took:?}\n{}",
        table(&v)
    );
    let verdict = |s: &str, c: &str, o: &str| {
        v.get(&(s.into(), c.into(), o.into()))
            .unwrap_or_else(|| panic!("{s} {c}/{o} not judged:\n{}", table(&v)))
            .clone()
    };
    for (s, c, o, want) in [
        (
            "ugem-relay-not-open",
            "ugem-3",
            "relays-only-connected",
            Verdict::Pass,
        ),
        (
            "ugem-queue-survives-faults",
            "ugem-6",
            "nothing-lost-across-faults",
            Verdict::Pass,
        ),
        (
            "ugem-queue-survives-drawn-faults",
            "ugem-6",
            "nothing-lost-across-faults",
            Verdict::Pass,
        ),
        (
            "ugem-spam-burst",
            "ugem-12",
            "gateway-never-listed",
            Verdict::Fail,
        ),
        (
            "ugem-spam-burst",
            "ugem-12",
            "offender-suspended",
            Verdict::Fail,
        ),
        (
            "ugem-spam-burst",
            "ugem-12",
            "owner-notified",
            Verdict::Fail,
        ),
        (
            "ugem-spam-burst",
            "ugem-12",
            "others-keep-flowing",
            Verdict::Pass,
        ),
    ] {
        let (got, finding) = verdict(s, c, o);
        assert_eq!(got, want, "{s} {c}/{o}: {finding}\n{}", table(&v));
    }
    // The reasons are the ones the module's comment gives.
    assert!(
        verdict("ugem-spam-burst", "ugem-12", "gateway-never-listed")
            .1
            .contains(&format!(
                "lists the gateway's address {}",
                layout.outbound()
            ))
    );
    assert!(
        verdict("ugem-spam-burst", "ugem-12", "offender-suspended")
            .1
            .contains("never suspended")
    );
    assert!(
        verdict("ugem-spam-burst", "ugem-12", "owner-notified")
            .1
            .contains("was not told")
    );
    let faults = verdict(
        "ugem-queue-survives-faults",
        "ugem-6",
        "nothing-lost-across-faults",
    )
    .1;
    assert!(
        faults.contains("crash") && faults.contains("restart") && faults.contains("0 lost"),
        "{faults}"
    );
    assert!(
        !faults.contains(", 0 bounced"),
        "the dead receiver's mail bounces: {faults}"
    );
    let c12 = outcome
        .report
        .clauses
        .iter()
        .find(|c| c.id == "ugem-12")
        .unwrap();
    assert_eq!(c12.verdict, Verdict::Fail);
    // Every crash killed every Postfix process, and every restart brought it back: each
    // command worked, and the listener greeted again.
    let traces = layout.dir.join("out/traces");
    livekit::assert_faults_injected(&traces.join("ugem-queue-survives-faults.jsonl"), 1);
    livekit::assert_faults_injected(&traces.join("ugem-queue-survives-drawn-faults.jsonl"), 1);
    // The crash had something to lose: mail accepted before it and delivered after.
    let held = livekit::held_across_crash(&traces.join("ugem-queue-survives-faults.jsonl"));
    assert!(
        held >= 3,
        "only {held} message(s) were in the queue across the crash"
    );
}
