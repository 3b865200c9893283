//! Mail episodes: the harness lays out a simulated mail network around the target's e-mail
//! gateway (connected departmental servers, external mail exchangers, strangers, a blocklist),
//! plays scripted traffic and faults in turmoil, and records what its probes see: the replies
//! its SMTP clients get, the messages its mailboxes receive, the blocklist's answers.
//!
//! Everything here is the harness's own: it shares no code with the reference gateway.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use jiff::Timestamp;
use qaqpa_sim::episode::Episode;
use qaqpa_sim::mailnet::{ConnectedSystem, MailWorld};
use qaqpa_sim::target::{Target, TargetError};
use qaqpa_sim::trace::{
    BlocklistStatus, Event, MailDelivered, NetworkNote, SmtpReply, Subject, SubjectKind,
};
use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use turmoil::net::{TcpListener, TcpStream};

/// The gateway's address in every episode (TEST-NET-1) and its name.
pub const GATEWAY_IP: &str = "192.0.2.25";
pub const GATEWAY_HOST: &str = "ugem.sts.kz";
/// The blocklist model lists an address after this many spam-trap hits within an hour.
pub const BLOCKLIST_THRESHOLD: usize = 10;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct MailSpec {
    /// Simulated seconds the episode lasts.
    pub seconds: u64,
    /// How long the gateway retries before it bounces (scaled down from days).
    #[serde(default = "default_retry")]
    pub retry_period: u64,
    pub systems: Vec<SystemSpec>,
    #[serde(default)]
    pub external: Vec<ExternalSpec>,
    pub flows: Vec<FlowSpec>,
    #[serde(default)]
    pub faults: Vec<FaultSpec>,
    /// What may go wrong; each seed draws its own plan from it, beside the fixed `faults`.
    #[serde(default)]
    pub fault_budget: Option<crate::faultplan::FaultBudget>,
}

fn default_retry() -> u64 {
    120
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SystemSpec {
    pub id: String,
    pub domain: String,
    pub server: IpAddr,
    pub owner: String,
    /// Expected messages and distinct external recipients per ten minutes.
    #[serde(default = "default_baseline")]
    pub baseline: (u32, u32),
    /// Whether the harness hands the system to the gateway as connected. `false`: the host
    /// exists, and whether the gateway relays for it is up to what the target's desk
    /// registered (ugem-9: mail flows after the connection; ugem-11: not after disconnection).
    #[serde(default = "yes")]
    pub registered: bool,
}

fn yes() -> bool {
    true
}

fn default_baseline() -> (u32, u32) {
    (10, 10)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ExternalSpec {
    pub domain: String,
    pub mx: IpAddr,
    /// The exchanger answers each command after three seconds.
    #[serde(default)]
    pub slow: bool,
    /// Nothing listens at the exchanger: deliveries fail until the gateway bounces.
    #[serde(default)]
    pub down: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FlowKind {
    /// Ordinary mail: must get through.
    Normal,
    /// A spam burst: the gateway should cut its system off (ugem-12).
    Spam,
    /// A probe the gateway must refuse (open relay, spoofed sender).
    Probe,
}

impl FlowKind {
    fn as_str(self) -> &'static str {
        match self {
            FlowKind::Normal => "normal",
            FlowKind::Spam => "spam",
            FlowKind::Probe => "probe",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FlowSpec {
    pub id: String,
    /// A system's id, `external:<domain>` (its exchanger sends) or `stranger:<ip>`.
    pub from: String,
    pub kind: FlowKind,
    pub mail_from: String,
    /// Fixed recipients.
    #[serde(default)]
    pub to: Vec<String>,
    /// Generated recipients in this domain (a spammer's list: some are spam traps, some do
    /// not exist).
    #[serde(default)]
    pub to_many: Option<String>,
    #[serde(default = "one")]
    pub rcpts_per_message: u32,
    #[serde(default = "one")]
    pub count: u32,
    /// Seconds into the episode of the first message, and between messages.
    #[serde(default = "one_f")]
    pub start: f64,
    #[serde(default = "one_f")]
    pub every: f64,
    /// The sending server bypasses the gateway and connects straight to the exchanger of the
    /// first recipient's domain. The mail world has no access gateway between departmental
    /// servers and the Internet: whether UGIA stops such a session (ureq-128.6) is judged in
    /// the packet world (a `replay` flow of kind `smtp`).
    #[serde(default)]
    pub direct: bool,
}

fn one() -> u32 {
    1
}
fn one_f() -> f64 {
    1.0
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FaultSpec {
    /// Seconds into the episode.
    pub at: f64,
    /// `crash` or `restart` the gateway, or `partition` / `repair` the gateway and a host.
    pub action: FaultAction,
    /// For partition/repair and slow/restore: a system's id or `external:<domain>`.
    #[serde(default)]
    pub peer: Option<String>,
    /// For `slow`: the most a message between the gateway and the peer may take, in ms.
    #[serde(default)]
    pub millis: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultAction {
    Crash,
    Restart,
    Partition,
    Repair,
    /// A latency spike on the link between the gateway and `peer`, up to `millis`.
    Slow,
    /// The link's latency back to the episode's ordinary 10–40 ms.
    Restore,
}

/// The most a latency spike may add: beyond a minute it is a partition, not a spike.
pub const MAX_SPIKE_MILLIS: u64 = 60_000;
/// The episodes' ordinary link latency bounds.
const LATENCY_MIN_MS: u64 = 10;
const LATENCY_MAX_MS: u64 = 40;

impl MailSpec {
    /// Checks the references inside the spec; the message names the field.
    pub fn validate(&self) -> Result<(), String> {
        if self.seconds == 0 || self.seconds > 900 {
            return Err(format!(
                "mail.seconds is {}: an episode lasts 1 to 900 simulated seconds",
                self.seconds
            ));
        }
        let gateway: IpAddr = GATEWAY_IP.parse().expect("a literal address");
        let mut hosts: BTreeMap<IpAddr, String> = BTreeMap::new();
        let mut place = |ip: IpAddr, who: String| -> Result<(), String> {
            if ip == gateway {
                return Err(format!("{who} uses {ip}, the gateway's address"));
            }
            if let Some(other) = hosts.insert(ip, who.clone())
                && other != who
            {
                return Err(format!("{who} and {other} both use {ip}"));
            }
            Ok(())
        };
        for s in &self.systems {
            place(s.server, format!("system `{}`", s.id))?;
        }
        for e in &self.external {
            place(e.mx, format!("external `{}`", e.domain))?;
        }
        for f in &self.flows {
            if let Some(ip) = f
                .from
                .strip_prefix("stranger:")
                .and_then(|i| i.parse().ok())
            {
                place(ip, f.from.clone())?;
            }
        }
        for f in &self.flows {
            self.host_of(&f.from)
                .map_err(|e| format!("flow `{}`: from: {e}", f.id))?;
            if f.to.is_empty() && f.to_many.is_none() {
                return Err(format!("flow `{}` has neither `to` nor `to-many`", f.id));
            }
            if f.direct && self.direct_target(f).is_none() {
                return Err(format!(
                    "flow `{}` is `direct` but its first recipient's domain is not in `external`",
                    f.id
                ));
            }
            // Written so that NaN fails too; the bounds keep `start + every * n` a duration
            // (an infinite or huge one panics in `Duration::from_secs_f64`).
            let secs = self.seconds as f64;
            if !(f.start >= 0.0 && f.start <= secs && f.every > 0.0 && f.every <= secs) {
                return Err(format!(
                    "flow `{}`: start must be 0 to {secs} and every above 0 up to {secs} (the episode's seconds); found start {} and every {}",
                    f.id, f.start, f.every
                ));
            }
            // Recipient numbers count up to count × rcpts-per-message.
            if f.rcpts_per_message == 0 || f.count.checked_mul(f.rcpts_per_message).is_none() {
                return Err(format!(
                    "flow `{}`: rcpts-per-message must be at least 1, and count × rcpts-per-message at most {}",
                    f.id,
                    u32::MAX
                ));
            }
        }
        if let Some(b) = &self.fault_budget {
            b.validate(&|p| self.host_of(p).map(|_| ()))?;
        }
        for f in &self.faults {
            // NaN fails this too; a fault outside the episode would never happen.
            let secs = self.seconds as f64;
            if !(f.at >= 0.0 && f.at <= secs) {
                return Err(format!(
                    "a fault's `at` must be 0 to {secs} (the episode's seconds), found {}",
                    f.at
                ));
            }
            match f.action {
                FaultAction::Partition
                | FaultAction::Repair
                | FaultAction::Slow
                | FaultAction::Restore => {
                    let p = f.peer.as_deref().ok_or_else(|| {
                        "a partition, repair, slow or restore fault needs `peer`".to_string()
                    })?;
                    self.host_of(p).map_err(|e| format!("fault peer: {e}"))?;
                }
                _ => {}
            }
            match (f.action, f.millis) {
                (FaultAction::Slow, Some(ms))
                    if (LATENCY_MAX_MS..=MAX_SPIKE_MILLIS).contains(&ms) => {}
                (FaultAction::Slow, _) => {
                    return Err(format!(
                        "a slow fault needs `millis` from {LATENCY_MAX_MS} to {MAX_SPIKE_MILLIS}"
                    ));
                }
                (_, Some(_)) => return Err("only a slow fault takes `millis`".into()),
                _ => {}
            }
        }
        Ok(())
    }

    fn direct_target(&self, f: &FlowSpec) -> Option<SocketAddr> {
        let d =
            f.to.first()
                .and_then(|r| r.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase()))
                .or_else(|| f.to_many.clone())?;
        self.external
            .iter()
            .find(|e| e.domain.eq_ignore_ascii_case(&d))
            .map(|e| SocketAddr::new(e.mx, 25))
    }

    fn host_of(&self, name: &str) -> Result<IpAddr, String> {
        if let Some(d) = name.strip_prefix("external:") {
            return self
                .external
                .iter()
                .find(|e| e.domain == d)
                .map(|e| e.mx)
                .ok_or_else(|| format!("`{name}`: no external domain `{d}` in `external`"));
        }
        if let Some(ip) = name.strip_prefix("stranger:") {
            return ip
                .parse()
                .map_err(|_| format!("`{name}`: `{ip}` is not an IP address"));
        }
        self.systems
            .iter()
            .find(|s| s.id == name)
            .map(|s| s.server)
            .ok_or_else(|| {
                format!("`{name}` is not a system id, `external:<domain>` or `stranger:<ip>`")
            })
    }
}

/// One observation made during an episode, at its simulated time.
pub struct Seen {
    pub at: Timestamp,
    pub probe: String,
    pub subject: Subject,
    pub event: Event,
}

#[derive(Default)]
struct Recorder {
    seen: Vec<(Duration, String, Subject, Event)>,
}

type Rec = Rc<RefCell<Recorder>>;

fn record(rec: &Rec, probe: &str, subject: Subject, event: Event) {
    rec.borrow_mut()
        .seen
        .push((turmoil::elapsed(), probe.to_string(), subject, event));
}

fn subject(kind: SubjectKind, id: &str) -> Subject {
    Subject {
        kind,
        id: id.to_string(),
    }
}

/// The blocklist model: counts spam-trap hits per sending address.
#[derive(Default)]
struct Blocklist {
    hits: BTreeMap<IpAddr, Vec<Duration>>,
    listed: BTreeMap<IpAddr, String>,
}

impl Blocklist {
    fn trap_hit(&mut self, ip: IpAddr, now: Duration) -> bool {
        let v = self.hits.entry(ip).or_default();
        v.push(now);
        v.retain(|t| now.saturating_sub(*t) <= Duration::from_secs(3600));
        if v.len() >= BLOCKLIST_THRESHOLD && !self.listed.contains_key(&ip) {
            self.listed.insert(ip, "127.0.0.2".into());
            return true;
        }
        false
    }
}

/// An episode runs this long after its `seconds`, so mail in flight lands and is observed.
pub const CLOSING_GRACE_SECS: u64 = 30;

/// Runs one mail episode starting at `start` and returns what the probes saw.
pub fn run_episode(
    spec: &MailSpec,
    target: &dyn Target,
    seed: u64,
    start: Timestamp,
    label: &str,
) -> Result<Vec<Seen>, TargetError> {
    let gateway = target.mail_gateway(seed)?;
    let gw_ip: IpAddr = GATEWAY_IP.parse().expect("a literal address");
    let mut ep = Episode::new(
        start,
        seed,
        label,
        Duration::from_secs(spec.seconds + CLOSING_GRACE_SECS),
    );
    // Mail works in seconds: a 10 ms tick keeps an episode of minutes cheap.
    ep.tick = Duration::from_millis(10);
    let world = MailWorld {
        gateway: gw_ip,
        hostname: GATEWAY_HOST.into(),
        systems: spec
            .systems
            .iter()
            .filter(|s| s.registered)
            .map(|s| ConnectedSystem {
                id: s.id.clone(),
                domain: s.domain.clone(),
                server: s.server,
                owner: s.owner.clone(),
                baseline: s.baseline,
            })
            .collect(),
        mx: spec
            .external
            .iter()
            .map(|e| (e.domain.to_ascii_lowercase(), SocketAddr::new(e.mx, 25)))
            .collect(),
        retry_period_secs: spec.retry_period,
        at: start,
    };
    let mut b = ep.builder();
    b.min_message_latency(Duration::from_millis(LATENCY_MIN_MS))
        .max_message_latency(Duration::from_millis(LATENCY_MAX_MS));
    let mut sim = b.build();
    let rec: Rec = Rc::default();
    let bl: Rc<RefCell<Blocklist>> = Rc::default();
    let end = Duration::from_secs(spec.seconds);

    // The harness's notes of the layout, at the start.
    let mut notes = vec![(
        "gateway".to_string(),
        BTreeMap::from([
            ("ip".to_string(), GATEWAY_IP.to_string()),
            ("host".to_string(), GATEWAY_HOST.to_string()),
        ]),
    )];
    for s in &spec.systems {
        notes.push((
            "system".into(),
            BTreeMap::from([
                ("id".to_string(), s.id.clone()),
                ("domain".to_string(), s.domain.clone()),
                ("server".to_string(), s.server.to_string()),
                ("owner".to_string(), s.owner.clone()),
                (
                    "registered".to_string(),
                    if s.registered {
                        "by the harness".to_string()
                    } else {
                        "as the target's desk left it".to_string()
                    },
                ),
            ]),
        ));
    }
    for e in &spec.external {
        notes.push((
            "external".into(),
            BTreeMap::from([
                ("domain".to_string(), e.domain.clone()),
                ("mx".to_string(), e.mx.to_string()),
            ]),
        ));
    }
    for (what, fields) in notes {
        rec.borrow_mut().seen.push((
            Duration::ZERO,
            "topology".into(),
            subject(
                SubjectKind::Host,
                fields
                    .get("ip")
                    .or(fields.get("id"))
                    .or(fields.get("domain"))
                    .map(String::as_str)
                    .unwrap_or(""),
            ),
            Event::Network(NetworkNote { what, fields }),
        ));
    }

    gateway.install(&mut sim, &world);

    let gw_addr = SocketAddr::new(gw_ip, 25);
    // Hosts: every system server, every external exchanger, every stranger.
    let mut hosts: BTreeMap<IpAddr, HostPlan> = BTreeMap::new();
    for s in &spec.systems {
        hosts.insert(
            s.server,
            HostPlan {
                name: s.id.clone(),
                mailbox: Some(MailboxPlan { slow: false }),
                flows: vec![],
            },
        );
    }
    for e in &spec.external {
        hosts.insert(
            e.mx,
            HostPlan {
                name: format!("external:{}", e.domain),
                mailbox: (!e.down).then_some(MailboxPlan { slow: e.slow }),
                flows: vec![],
            },
        );
    }
    for f in &spec.flows {
        let ip = spec.host_of(&f.from).expect("validated");
        hosts
            .entry(ip)
            .or_insert_with(|| HostPlan {
                name: f.from.clone(),
                mailbox: None,
                flows: vec![],
            })
            .flows
            .push((
                f.clone(),
                if f.direct {
                    spec.direct_target(f).expect("validated")
                } else {
                    gw_addr
                },
            ));
    }
    for (ip, plan) in hosts {
        let rec = rec.clone();
        let bl = bl.clone();
        sim.client(ip, async move {
            if let Some(mb) = plan.mailbox {
                let l = TcpListener::bind((std::net::Ipv4Addr::UNSPECIFIED, 25)).await?;
                let rec = rec.clone();
                let name = plan.name.clone();
                tokio::task::spawn_local(async move {
                    while let Ok((s, peer)) = l.accept().await {
                        let rec = rec.clone();
                        let bl = bl.clone();
                        let name = name.clone();
                        tokio::task::spawn_local(async move {
                            let _ = mailbox_session(s, peer, &name, mb, &rec, &bl).await;
                        });
                    }
                });
            }
            let mut tasks = Vec::new();
            for (f, to) in plan.flows.clone() {
                let rec = rec.clone();
                let name = plan.name.clone();
                tasks.push(tokio::task::spawn_local(async move {
                    run_flow(&f, &name, to, &rec).await;
                }));
            }
            let now = turmoil::elapsed();
            tokio::time::sleep(end.saturating_sub(now)).await;
            Ok(())
        });
    }

    // Faults, in time order, while stepping: the fixed ones and the seed's draw from the budget.
    let mut faults: Vec<FaultSpec> = spec.faults.clone();
    if let Some(budget) = &spec.fault_budget {
        faults.extend(budget.draw(&mut qaqpa_sim::seed::rng(seed, &format!("{label}/faults"))));
    }
    faults.sort_by(|a, b| a.at.total_cmp(&b.at));
    let mut next = 0;
    let mut fault_notes = Vec::new();
    while sim.elapsed() < end {
        while next < faults.len() && sim.elapsed() >= Duration::from_secs_f64(faults[next].at) {
            let f = &faults[next];
            let mut fields = BTreeMap::from([("host".to_string(), GATEWAY_IP.to_string())]);
            match f.action {
                FaultAction::Crash => sim.crash(gw_ip),
                FaultAction::Restart => sim.bounce(gw_ip),
                FaultAction::Partition
                | FaultAction::Repair
                | FaultAction::Slow
                | FaultAction::Restore => {
                    let peer = f.peer.as_deref().unwrap_or_default();
                    let ip = spec.host_of(peer).expect("validated");
                    fields.insert("peer".into(), format!("{peer} ({ip})"));
                    match f.action {
                        FaultAction::Partition => sim.partition(gw_ip, ip),
                        FaultAction::Repair => sim.repair(gw_ip, ip),
                        FaultAction::Slow => {
                            let ms = f.millis.unwrap_or(LATENCY_MAX_MS);
                            fields.insert("max-latency-ms".into(), ms.to_string());
                            sim.set_link_max_message_latency(gw_ip, ip, Duration::from_millis(ms));
                        }
                        _ => sim.set_link_max_message_latency(
                            gw_ip,
                            ip,
                            Duration::from_millis(LATENCY_MAX_MS),
                        ),
                    }
                }
            }
            let what = match f.action {
                FaultAction::Crash => "crash",
                FaultAction::Restart => "restart",
                FaultAction::Partition => "partition",
                FaultAction::Repair => "repair",
                FaultAction::Slow => "slow",
                FaultAction::Restore => "restore",
            };
            fault_notes.push((sim.elapsed(), what.to_string(), fields));
            next += 1;
        }
        match sim.step() {
            Ok(true) => break,
            Ok(false) => {}
            Err(e) => {
                // A host's software failed: the episode ends here, and the trace says why.
                fault_notes.push((
                    sim.elapsed(),
                    "episode-ended".to_string(),
                    BTreeMap::from([("error".to_string(), e.to_string())]),
                ));
                break;
            }
        }
    }
    let elapsed = sim.elapsed();
    drop(sim);

    let mut rec = Rc::try_unwrap(rec)
        .map(RefCell::into_inner)
        .unwrap_or_else(|r| Recorder {
            seen: std::mem::take(&mut r.borrow_mut().seen),
        });
    for (t, what, fields) in fault_notes {
        rec.seen.push((
            t,
            "fault-injector".into(),
            subject(SubjectKind::Host, GATEWAY_IP),
            Event::Network(NetworkNote { what, fields }),
        ));
    }
    // The blocklist's final answer for the gateway's address.
    let listed = bl.borrow().listed.get(&gw_ip).cloned();
    rec.seen.push((
        elapsed,
        "blocklist".into(),
        subject(SubjectKind::Host, GATEWAY_IP),
        Event::Blocklist(BlocklistStatus {
            ip: GATEWAY_IP.into(),
            role: "gateway".into(),
            reason: match &listed {
                Some(_) => {
                    format!("listed: {BLOCKLIST_THRESHOLD} or more spam-trap hits within an hour")
                }
                None => "not listed at the end of the episode".into(),
            },
            listed,
        }),
    ));
    rec.seen.sort_by_key(|(t, ..)| *t);
    Ok(rec
        .seen
        .into_iter()
        .map(|(t, probe, subject, event)| Seen {
            at: ep.instant(t),
            probe,
            subject,
            event,
        })
        .collect())
}

struct HostPlan {
    name: String,
    mailbox: Option<MailboxPlan>,
    flows: Vec<(FlowSpec, SocketAddr)>,
}

#[derive(Clone, Copy)]
struct MailboxPlan {
    slow: bool,
}

const HARNESS_DOMAIN: &str = "qaqpa.test";

fn message(f: &FlowSpec, n: u32, rcpts: &[String]) -> (String, Vec<u8>) {
    let id = format!("<{}.{n}@{HARNESS_DOMAIN}>", f.id);
    let text = format!(
        "From: <{}>\r\nTo: {}\r\nSubject: {} {n}\r\nMessage-ID: {id}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nСәлеметсіз бе! Message {n} of flow {}.\r\n.A line that starts with a dot.\r\n..and one with two.\r\n\r\n-- \r\nqaqpa\r\n",
        f.mail_from,
        rcpts
            .iter()
            .map(|r| format!("<{r}>"))
            .collect::<Vec<_>>()
            .join(", "),
        f.id,
        f.id,
    );
    (id, text.into_bytes())
}

fn recipients(f: &FlowSpec, n: u32) -> Vec<String> {
    if let Some(d) = &f.to_many {
        (0..f.rcpts_per_message)
            .map(|k| {
                let i = n * f.rcpts_per_message + k;
                let local = if i % 4 == 3 {
                    format!("trap{i}")
                } else if i % 5 == 4 {
                    format!("nouser{i}")
                } else {
                    format!("user{i}")
                };
                format!("{local}@{d}")
            })
            .collect()
    } else {
        f.to.clone()
    }
}

async fn run_flow(f: &FlowSpec, client: &str, gw: SocketAddr, rec: &Rec) {
    let first = Duration::from_secs_f64(f.start);
    let now = turmoil::elapsed();
    tokio::time::sleep(first.saturating_sub(now)).await;
    for n in 0..f.count {
        let at = first + Duration::from_secs_f64(f.every * f64::from(n));
        let now = turmoil::elapsed();
        tokio::time::sleep(at.saturating_sub(now)).await;
        let rcpts = recipients(f, n);
        let (id, data) = message(f, n, &rcpts);
        // A departmental server queues and retries like an MTA: a temporary failure or no
        // answer is tried again; a permanent refusal ends it.
        for _attempt in 0..8 {
            match submit(gw, client, f, &id, &rcpts, &data, rec).await {
                Attempt::Done => break,
                Attempt::Retry => tokio::time::sleep(Duration::from_secs(5)).await,
            }
        }
    }
}

enum Attempt {
    Done,
    Retry,
}

struct Client {
    r: BufReader<TcpStream>,
}

impl Client {
    async fn reply(&mut self) -> Option<(u16, String)> {
        let mut text = Vec::new();
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(Duration::from_secs(30), self.r.read_line(&mut line))
                .await
                .ok()?
                .ok()?;
            if n == 0 || line.len() < 3 {
                return None;
            }
            let code: u16 = line.get(..3)?.parse().ok()?;
            text.push(line.get(4..).unwrap_or("").trim_end().to_string());
            if line.as_bytes().get(3) != Some(&b'-') {
                return Some((code, text.join(" / ")));
            }
        }
    }

    async fn cmd(&mut self, line: &[u8]) -> Option<(u16, String)> {
        self.r.get_mut().write_all(line).await.ok()?;
        self.reply().await
    }
}

#[allow(clippy::too_many_arguments)]
async fn submit(
    gw: SocketAddr,
    client: &str,
    f: &FlowSpec,
    id: &str,
    rcpts: &[String],
    data: &[u8],
    rec: &Rec,
) -> Attempt {
    let note = |command: &str, code: u16, text: &str| {
        record(
            rec,
            &format!("smtp-client:{client}"),
            subject(SubjectKind::Message, id),
            Event::SmtpReply(SmtpReply {
                client: client.to_string(),
                server: gw.to_string(),
                flow: f.id.clone(),
                flow_kind: f.kind.as_str().to_string(),
                message: Some(id.to_string()),
                command: command.to_string(),
                code,
                text: text.to_string(),
            }),
        )
    };
    let stream = match tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(gw)).await {
        Ok(Ok(s)) => s,
        _ => {
            note("CONNECT", 0, "no connection to the gateway");
            return Attempt::Retry;
        }
    };
    let mut c = Client {
        r: BufReader::new(stream),
    };
    let lost = |command: &str| {
        note(command, 0, "no reply (connection lost or timed out)");
        Attempt::Retry
    };
    let Some((code, text)) = c.reply().await else {
        return lost("CONNECT");
    };
    if code / 100 != 2 {
        note("CONNECT", code, &text);
        return if code / 100 == 4 {
            Attempt::Retry
        } else {
            Attempt::Done
        };
    }
    let helo = format!("EHLO {}\r\n", client.replace(':', "-"));
    if c.cmd(helo.as_bytes()).await.is_none() {
        return lost("EHLO");
    }
    let Some((code, text)) = c
        .cmd(format!("MAIL FROM:<{}>\r\n", f.mail_from).as_bytes())
        .await
    else {
        return lost("MAIL");
    };
    note(&format!("MAIL FROM:<{}>", f.mail_from), code, &text);
    if code / 100 != 2 {
        let _ = c.cmd(b"QUIT\r\n").await;
        return if code / 100 == 4 {
            Attempt::Retry
        } else {
            Attempt::Done
        };
    }
    let mut accepted = Vec::new();
    let mut temp = false;
    for r in rcpts {
        let Some((code, text)) = c.cmd(format!("RCPT TO:<{r}>\r\n").as_bytes()).await else {
            return lost("RCPT");
        };
        note(&format!("RCPT TO:<{r}>"), code, &text);
        if code / 100 == 2 {
            accepted.push(r.clone());
        }
        temp |= code / 100 == 4;
    }
    if accepted.is_empty() {
        let _ = c.cmd(b"QUIT\r\n").await;
        return if temp { Attempt::Retry } else { Attempt::Done };
    }
    let Some((code, text)) = c.cmd(b"DATA\r\n").await else {
        return lost("DATA");
    };
    if code != 354 {
        note("DATA", code, &text);
        return if code / 100 == 4 {
            Attempt::Retry
        } else {
            Attempt::Done
        };
    }
    let Some((code, text)) = c.cmd(&stuff(data)).await else {
        return lost("end of data");
    };
    let command = format!(
        "end of data for {}",
        accepted
            .iter()
            .map(|r| format!("<{r}>"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    note(&command, code, &text);
    let _ = c.cmd(b"QUIT\r\n").await;
    if code / 100 == 4 {
        Attempt::Retry
    } else {
        Attempt::Done
    }
}

/// Dot-stuffing and the final dot (the harness's own, independent of the gateway's).
fn stuff(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 8);
    for line in data.split_inclusive(|&b| b == b'\n') {
        if line.starts_with(b".") {
            out.push(b'.');
        }
        out.extend_from_slice(line);
    }
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

/// A harness mailbox: accepts everything (except `nouser*` recipients) and records it.
async fn mailbox_session(
    s: TcpStream,
    peer: SocketAddr,
    name: &str,
    plan: MailboxPlan,
    rec: &Rec,
    bl: &Rc<RefCell<Blocklist>>,
) -> std::io::Result<()> {
    let mut r = BufReader::new(s);
    let pause = || async move {
        if plan.slow {
            tokio::time::sleep(Duration::from_secs(3)).await;
        }
    };
    r.get_mut().write_all(b"220 mailbox ESMTP\r\n").await?;
    let mut from = String::new();
    let mut rcpts: Vec<String> = Vec::new();
    loop {
        let mut line = String::new();
        let n = tokio::time::timeout(Duration::from_secs(60), r.read_line(&mut line))
            .await
            .map_err(|_| std::io::Error::other("timeout"))??;
        if n == 0 {
            return Ok(());
        }
        let upper = line.to_ascii_uppercase();
        pause().await;
        let w = r.get_mut();
        if upper.starts_with("EHLO") {
            w.write_all(b"250-mailbox\r\n250-8BITMIME\r\n250 PIPELINING\r\n")
                .await?;
        } else if upper.starts_with("HELO") {
            w.write_all(b"250 mailbox\r\n").await?;
        } else if upper.starts_with("MAIL FROM:") {
            from = angle(&line[10..]);
            rcpts.clear();
            w.write_all(b"250 2.1.0 ok\r\n").await?;
        } else if upper.starts_with("RCPT TO:") {
            let a = angle(&line[8..]);
            if a.to_ascii_lowercase().starts_with("nouser") {
                w.write_all(b"550 5.1.1 no such user\r\n").await?;
            } else {
                rcpts.push(a);
                w.write_all(b"250 2.1.5 ok\r\n").await?;
            }
        } else if upper.starts_with("DATA") {
            w.write_all(b"354 go ahead\r\n").await?;
            let mut data = Vec::new();
            loop {
                let mut l = Vec::new();
                let n = tokio::time::timeout(Duration::from_secs(60), r.read_until(b'\n', &mut l))
                    .await
                    .map_err(|_| std::io::Error::other("timeout"))??;
                if n == 0 {
                    return Ok(());
                }
                if l == b".\r\n" || l == b".\n" {
                    break;
                }
                data.extend_from_slice(l.strip_prefix(b".").unwrap_or(&l));
            }
            pause().await;
            let (message_id, subject_line, mentions) = inspect(&data);
            for rc in &rcpts {
                if rc.to_ascii_lowercase().starts_with("trap") {
                    let listed = bl.borrow_mut().trap_hit(peer.ip(), turmoil::elapsed());
                    if listed {
                        record(
                            rec,
                            "blocklist",
                            subject(SubjectKind::Host, &peer.ip().to_string()),
                            Event::Blocklist(BlocklistStatus {
                                ip: peer.ip().to_string(),
                                role: if peer.ip().to_string() == GATEWAY_IP {
                                    "gateway".into()
                                } else {
                                    "other".into()
                                },
                                listed: Some("127.0.0.2".into()),
                                reason: format!(
                                    "{BLOCKLIST_THRESHOLD} spam-trap hits within an hour"
                                ),
                            }),
                        );
                    }
                }
            }
            record(
                rec,
                &format!("mailbox:{name}"),
                subject(
                    SubjectKind::Message,
                    message_id.as_deref().unwrap_or("(no Message-ID)"),
                ),
                Event::MailDelivered(MailDelivered {
                    mailbox: name.to_string(),
                    peer: peer.ip().to_string(),
                    mail_from: from.clone(),
                    rcpts: std::mem::take(&mut rcpts),
                    message_id,
                    subject: subject_line,
                    mentions,
                }),
            );
            r.get_mut().write_all(b"250 2.0.0 stored\r\n").await?;
        } else if upper.starts_with("QUIT") {
            w.write_all(b"221 2.0.0 bye\r\n").await?;
            return Ok(());
        } else if upper.starts_with("RSET") {
            rcpts.clear();
            w.write_all(b"250 2.0.0 ok\r\n").await?;
        } else {
            w.write_all(b"502 5.5.1 not here\r\n").await?;
        }
    }
}

fn angle(s: &str) -> String {
    let s = s.trim();
    let inner = s
        .strip_prefix('<')
        .and_then(|x| x.split_once('>'))
        .map(|(a, _)| a)
        .unwrap_or(s);
    inner.to_string()
}

/// The Message-ID and Subject of a received message, and the harness Message-IDs its body
/// quotes.
fn inspect(data: &[u8]) -> (Option<String>, Option<String>, Vec<String>) {
    let text = String::from_utf8_lossy(data);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .or_else(|| text.split_once("\n\n"))
        .unwrap_or((&text, ""));
    let header = |name: &str| {
        head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    };
    let id = header("Message-ID");
    let mut mentions = Vec::new();
    let mut rest = body;
    while let Some(i) = rest.find('<') {
        let Some(j) = rest[i..].find('>') else { break };
        let cand = &rest[i..i + j + 1];
        if cand.ends_with(&format!("@{HARNESS_DOMAIN}>")) && !mentions.iter().any(|m| m == cand) {
            mentions.push(cand.to_string());
        }
        rest = &rest[i + j + 1..];
    }
    (id, header("Subject"), mentions)
}

#[cfg(test)]
mod tests {
    use crate::scenario::Scenario;

    const GOOD: &str = "\
id: m
title: m
system: ugem
start: 2025-06-03T10:00
until: working-day 0 18:00
parties:
  mof: { name: MoF, role: state-body }
steps:
  - at: working-day 0 10:00
    mail:
      seconds: 30
      systems:
        - { id: mof, domain: minfin.gov.kz, server: 10.20.0.10, owner: it@minfin.gov.kz }
      external:
        - { domain: partner.example, mx: 203.0.113.25 }
      flows:
        - { id: f, from: mof, kind: normal, mail-from: a@minfin.gov.kz, to: [b@partner.example] }
expect:
  - clause: ugem-6
";

    fn any(_: &str) -> Result<(), String> {
        Ok(())
    }

    /// Found by mutating scenario files: each of these passed the checks and panicked when
    /// the episode ran (`Duration::from_secs_f64` of NaN or 1e308, u32 recipient numbers).
    #[test]
    fn times_and_counts_that_cannot_run_are_refused() {
        let flow = "mail-from: a@minfin.gov.kz, to: [b@partner.example] }";
        for (extra, what) in [
            ("start: .nan, ", "start"),
            ("every: .inf, ", "every"),
            ("start: 1e308, ", "start"),
            ("start: 31, ", "start"),
            ("every: 0, ", "every"),
            (
                "count: 4294967295, rcpts-per-message: 2, ",
                "rcpts-per-message",
            ),
            ("rcpts-per-message: 0, ", "rcpts-per-message"),
        ] {
            let bad = GOOD.replace(flow, &format!("{extra}{flow}"));
            let e = Scenario::parse(&bad, "m.yaml", &any).unwrap_err();
            assert!(e.message.contains(what) && e.line == 11, "{extra}: {e}");
        }
        let ok = GOOD.replace(flow, &format!("start: 30, every: 30, {flow}"));
        assert!(Scenario::parse(&ok, "m.yaml", &any).is_ok());
        for at in ["1e308", ".nan", "-1", "31"] {
            let bad = GOOD.replace(
                "expect:",
                &format!("      faults:\n        - {{ at: {at}, action: crash }}\nexpect:"),
            );
            let e = Scenario::parse(&bad, "m.yaml", &any).unwrap_err();
            assert!(e.message.contains("fault's `at`"), "{at}: {e}");
        }
    }

    #[test]
    fn a_mail_step_parses_and_bad_ones_are_named() {
        let s = Scenario::parse(GOOD, "m.yaml", &any).unwrap();
        assert!(s.steps[0].mail.is_some());

        let bad = GOOD.replace("from: mof,", "from: mfo,");
        let e = Scenario::parse(&bad, "m.yaml", &any).unwrap_err();
        assert_eq!((e.file.as_str(), e.line), ("m.yaml", 11), "{e}");
        assert!(
            e.message.contains("flow `f`") && e.message.contains("mfo"),
            "{e}"
        );

        let bad = GOOD.replace("seconds: 30", "seconds: 3600");
        let e = Scenario::parse(&bad, "m.yaml", &any).unwrap_err();
        assert!(e.message.contains("mail.seconds"), "{e}");

        let bad = GOOD.replace("kind: normal", "kind: weird");
        let e = Scenario::parse(&bad, "m.yaml", &any).unwrap_err();
        assert!(e.message.contains("weird"), "{e}");
        assert!(e.line >= 17, "{e}");

        let bad = GOOD.replace("mx: 203.0.113.25", "mx: 10.20.0.10");
        let e = Scenario::parse(&bad, "m.yaml", &any).unwrap_err();
        assert!(e.message.contains("both use 10.20.0.10"), "{e}");

        let bad = GOOD.replace("server: 10.20.0.10", "server: ten");
        assert!(Scenario::parse(&bad, "m.yaml", &any).is_err());
    }
}
