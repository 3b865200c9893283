//! Mail episodes: the harness lays out a mail network around the target's e-mail gateway
//! (connected departmental servers, external mail exchangers, strangers, a blocklist), plays
//! scripted traffic and faults, and records what its probes see: the replies its SMTP clients
//! get, the messages its mailboxes receive, the blocklist's answers.
//!
//! The episode runs in turmoil around a simulated gateway, or on real sockets on the wall
//! clock around a live product ([`live`]); the endpoints are the same code on both
//! ([`endpoints`]). Everything here is the harness's own: it shares no code with the
//! reference gateway.

pub(crate) mod endpoints;
pub mod live;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use jiff::Timestamp;
use qaqpa_sim::episode::Episode;
use qaqpa_sim::mailnet::{ConnectedSystem, MailWorld};
use qaqpa_sim::target::{Target, TargetError};
use qaqpa_sim::trace::{BlocklistStatus, Event, NetworkNote, Subject, SubjectKind};
use serde::Deserialize;

use endpoints::{Endpoints, SimNet, subject};

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
    /// A TCP connect scan of the gateway host (ureq-139.13).
    #[serde(default)]
    pub port_scan: Option<PortScanSpec>,
}

/// The most ports one simulated scan may try: every attempt takes one of the scanner host's
/// 16,384 ephemeral ports in the simulation, and an exhausted host would stop the episode.
const MAX_SCAN_PORTS: u32 = 16_000;

/// ureq-139.13: a harness host outside connects to every port of a range on the gateway's
/// address; a port that accepts is open. `declared` is what the scenario says the product's
/// documentation declares (for the reference: its SMTP listener), never what the gateway says.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PortScanSpec {
    /// Seconds into the episode.
    pub at: f64,
    /// The scanner's address: a host of its own, like a stranger.
    pub from: IpAddr,
    /// The first and last port scanned.
    pub ports: (u16, u16),
    /// The ports of the gateway's declared services.
    pub declared: Vec<u16>,
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
    /// `crash`, `stop` or `restart` the gateway, `partition` / `repair` the link between the
    /// gateway and a host, or `slow` / `restore` it.
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
    /// The gateway stops abruptly (power cut, `kill -9`).
    Crash,
    /// The gateway shuts down in an orderly way (its operator stops it). In the simulation
    /// this is a crash: the reference keeps nothing in memory that an orderly stop would save.
    Stop,
    /// The gateway starts again after a crash or a stop.
    Restart,
    Partition,
    Repair,
    /// A latency spike on the link between the gateway and `peer`, up to `millis`.
    Slow,
    /// The link's latency back to the episode's ordinary 10–40 ms.
    Restore,
}

impl FaultAction {
    pub fn as_str(self) -> &'static str {
        match self {
            FaultAction::Crash => "crash",
            FaultAction::Stop => "stop",
            FaultAction::Restart => "restart",
            FaultAction::Partition => "partition",
            FaultAction::Repair => "repair",
            FaultAction::Slow => "slow",
            FaultAction::Restore => "restore",
        }
    }
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
        if let Some(scan) = &self.port_scan {
            place(scan.from, "the port scanner".into())?;
            let secs = self.seconds as f64;
            if !(scan.at >= 0.0 && scan.at <= secs) {
                return Err(format!(
                    "port-scan: at must be 0 to {secs} (the episode's seconds), found {}",
                    scan.at
                ));
            }
            if scan.ports.0 == 0 || scan.ports.0 > scan.ports.1 {
                return Err(format!(
                    "port-scan: ports must be [first, last] with 1 <= first <= last <= 65535, found [{}, {}]",
                    scan.ports.0, scan.ports.1
                ));
            }
            let n = u32::from(scan.ports.1) - u32::from(scan.ports.0) + 1;
            if n > MAX_SCAN_PORTS {
                return Err(format!(
                    "port-scan: ports [{}, {}] are {n} ports; a simulated scanner has {MAX_SCAN_PORTS} connections to spend (its host's ephemeral ports)",
                    scan.ports.0, scan.ports.1
                ));
            }
            if let Some(p) = scan.declared.iter().find(|p| **p == 0) {
                return Err(format!("port-scan: declared port {p} is not a TCP port"));
            }
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

/// One observation made during an episode, at its instant on the scenario's calendar.
pub struct Seen {
    pub at: Timestamp,
    pub probe: String,
    pub subject: Subject,
    pub event: Event,
}

/// An episode runs this long after its `seconds`, so mail in flight lands and is observed.
pub const CLOSING_GRACE_SECS: u64 = 30;

/// The harness's notes of an episode's layout, at its start: the gateway, each system and
/// each external domain as the scenario places them; `place` gives each host's address on
/// the network the episode runs on (the scenario's own in the simulation).
pub(crate) fn layout_notes(
    spec: &MailSpec,
    gateway: BTreeMap<String, String>,
    system_fields: &dyn Fn(&SystemSpec) -> BTreeMap<String, String>,
    external_fields: &dyn Fn(&ExternalSpec) -> BTreeMap<String, String>,
) -> Vec<(String, BTreeMap<String, String>)> {
    let mut notes = vec![("gateway".to_string(), gateway)];
    for s in &spec.systems {
        let mut fields = BTreeMap::from([
            ("id".to_string(), s.id.clone()),
            ("domain".to_string(), s.domain.clone()),
            ("owner".to_string(), s.owner.clone()),
            (
                "registered".to_string(),
                if s.registered {
                    "by the harness".to_string()
                } else {
                    "as the target's desk left it".to_string()
                },
            ),
        ]);
        fields.extend(system_fields(s));
        notes.push(("system".into(), fields));
    }
    for e in &spec.external {
        let mut fields = BTreeMap::from([("domain".to_string(), e.domain.clone())]);
        fields.extend(external_fields(e));
        notes.push(("external".into(), fields));
    }
    notes
}

/// Records the layout notes at the episode's start.
pub(crate) fn push_notes<N: endpoints::HarnessNet>(
    eps: &Endpoints<N>,
    notes: Vec<(String, BTreeMap<String, String>)>,
) {
    for (what, fields) in notes {
        eps.push(
            Duration::ZERO,
            "topology",
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
        );
    }
}

/// Runs one mail episode starting at `start` and returns what the probes saw: in the
/// simulation around the target's gateway, or, when the target is a live product, on real
/// sockets on the wall clock ([`live`]).
pub fn run_episode(
    spec: &MailSpec,
    target: &dyn Target,
    seed: u64,
    start: Timestamp,
    label: &str,
) -> Result<Vec<Seen>, TargetError> {
    if let Some(product) = target.live_mail() {
        return live::run_episode(spec, &product, seed, start, label).map_err(|message| {
            TargetError::Live {
                target: target.info().name,
                message,
            }
        });
    }
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
    let eps = Endpoints::new(SimNet, vec![gw_ip], None);
    let end = Duration::from_secs(spec.seconds);

    push_notes(
        &eps,
        layout_notes(
            spec,
            BTreeMap::from([
                ("ip".to_string(), GATEWAY_IP.to_string()),
                ("host".to_string(), GATEWAY_HOST.to_string()),
            ]),
            &|s| BTreeMap::from([("server".to_string(), s.server.to_string())]),
            &|e| BTreeMap::from([("mx".to_string(), e.mx.to_string())]),
        ),
    );

    gateway.install(&mut sim, &world);

    let gw_addr = SocketAddr::new(gw_ip, 25);
    let mailbox_at = SocketAddr::from((std::net::Ipv4Addr::UNSPECIFIED, 25));
    for plan in spec.host_plans(
        &|ip| ip,
        &|s| Some(SocketAddr::new(s.server, 25)),
        &|e| (!e.down).then_some(SocketAddr::new(e.mx, 25)),
        &|f| {
            if f.direct {
                spec.direct_target(f).expect("validated")
            } else {
                gw_addr
            }
        },
    ) {
        let eps = eps.clone();
        // Every host listens on port 25 of its own simulated address.
        let plan = endpoints::HostPlan {
            mailbox: plan.mailbox.map(|(_, mb)| (mailbox_at, mb)),
            ..plan
        };
        sim.client(plan.host, async move {
            eps.run_host(plan, end).await?;
            Ok(())
        });
    }

    if let Some(scan) = spec.port_scan.clone() {
        let eps = eps.clone();
        sim.client(scan.from, async move {
            eps.port_scan(scan, gw_ip).await;
            Ok(())
        });
    }

    // Faults, in time order, while stepping: the fixed ones and the seed's draw from the budget.
    let faults = spec.fault_schedule(seed, label);
    let mut next = 0;
    let mut fault_notes = Vec::new();
    while sim.elapsed() < end {
        while next < faults.len() && sim.elapsed() >= Duration::from_secs_f64(faults[next].at) {
            let f = &faults[next];
            let mut fields = BTreeMap::from([("host".to_string(), GATEWAY_IP.to_string())]);
            match f.action {
                FaultAction::Crash | FaultAction::Stop => sim.crash(gw_ip),
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
            fault_notes.push((sim.elapsed(), f.action.as_str().to_string(), fields));
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
    Ok(finish(
        &eps,
        fault_notes,
        elapsed,
        GATEWAY_IP,
        &[gw_ip],
        |t| ep.instant(t),
    ))
}

/// The episode's observations in time order, with the fault injector's notes and the
/// blocklist's final answer for each of the gateway's addresses added at `elapsed`.
pub(crate) fn finish<N: endpoints::HarnessNet>(
    eps: &Endpoints<N>,
    fault_notes: Vec<(Duration, String, BTreeMap<String, String>)>,
    elapsed: Duration,
    gateway: &str,
    gateway_ips: &[IpAddr],
    instant: impl Fn(Duration) -> Timestamp,
) -> Vec<Seen> {
    for (t, what, fields) in fault_notes {
        eps.push(
            t,
            "fault-injector",
            subject(SubjectKind::Host, gateway),
            Event::Network(NetworkNote { what, fields }),
        );
    }
    for ip in gateway_ips {
        let listed = eps.listed(*ip);
        eps.push(
            elapsed,
            "blocklist",
            subject(SubjectKind::Host, &ip.to_string()),
            Event::Blocklist(BlocklistStatus {
                ip: ip.to_string(),
                role: "gateway".into(),
                reason: match &listed {
                    Some(_) => format!(
                        "listed: {BLOCKLIST_THRESHOLD} or more spam-trap hits within an hour"
                    ),
                    None => "not listed at the end of the episode".into(),
                },
                listed,
            }),
        );
    }
    let mut seen = eps.take_seen();
    seen.sort_by_key(|(t, ..)| *t);
    seen.into_iter()
        .map(|(t, probe, subject, event)| Seen {
            at: instant(t),
            probe,
            subject,
            event,
        })
        .collect()
}

impl MailSpec {
    /// The fixed faults and the seed's draw from the budget, in time order.
    pub(crate) fn fault_schedule(&self, seed: u64, label: &str) -> Vec<FaultSpec> {
        let mut faults: Vec<FaultSpec> = self.faults.clone();
        if let Some(budget) = &self.fault_budget {
            faults.extend(budget.draw(&mut qaqpa_sim::seed::rng(seed, &format!("{label}/faults"))));
        }
        faults.sort_by(|a, b| a.at.total_cmp(&b.at));
        faults
    }

    /// The hosts the harness plays: every system server, every external exchanger, every
    /// stranger, with their flows. `source` gives a host's address on the network the
    /// episode runs on, `system_box` and `external_box` where its mailbox listens (`None`:
    /// nothing listens), `submit_to` where a flow's client connects.
    pub(crate) fn host_plans(
        &self,
        source: &dyn Fn(IpAddr) -> IpAddr,
        system_box: &dyn Fn(&SystemSpec) -> Option<SocketAddr>,
        external_box: &dyn Fn(&ExternalSpec) -> Option<SocketAddr>,
        submit_to: &dyn Fn(&FlowSpec) -> SocketAddr,
    ) -> Vec<endpoints::HostPlan> {
        let mut hosts: BTreeMap<IpAddr, endpoints::HostPlan> = BTreeMap::new();
        let mailbox = |slow| endpoints::MailboxPlan { slow };
        for s in &self.systems {
            hosts.insert(
                s.server,
                endpoints::HostPlan {
                    name: s.id.clone(),
                    host: s.server,
                    source: source(s.server),
                    mailbox: system_box(s).map(|a| (a, mailbox(false))),
                    flows: vec![],
                },
            );
        }
        for e in &self.external {
            hosts.insert(
                e.mx,
                endpoints::HostPlan {
                    name: format!("external:{}", e.domain),
                    host: e.mx,
                    source: source(e.mx),
                    mailbox: external_box(e).map(|a| (a, mailbox(e.slow))),
                    flows: vec![],
                },
            );
        }
        for f in &self.flows {
            let ip = self.host_of(&f.from).expect("validated");
            hosts
                .entry(ip)
                .or_insert_with(|| endpoints::HostPlan {
                    name: f.from.clone(),
                    host: ip,
                    source: source(ip),
                    mailbox: None,
                    flows: vec![],
                })
                .flows
                .push((f.clone(), submit_to(f)));
        }
        hosts.into_values().collect()
    }

    /// The strangers of the flows, in order of first appearance.
    pub(crate) fn strangers(&self) -> Vec<IpAddr> {
        let mut out: Vec<IpAddr> = Vec::new();
        for f in &self.flows {
            if let Some(ip) = f
                .from
                .strip_prefix("stranger:")
                .and_then(|i| i.parse().ok())
                && !out.contains(&ip)
            {
                out.push(ip);
            }
        }
        out
    }
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

    /// A port scan that could not run in the simulation (a scanner with more connections than
    /// its host has ports, an empty or reversed range, a port 0, a scanner on another host's
    /// address) is refused at its line, naming `port-scan`.
    #[test]
    fn port_scans_that_cannot_run_are_refused() {
        let with =
            |scan: &str| GOOD.replace("expect:", &format!("      port-scan: {scan}\nexpect:"));
        let ok = with("{ at: 5, from: 198.51.100.77, ports: [1, 10000], declared: [25] }");
        assert!(Scenario::parse(&ok, "m.yaml", &any).is_ok());
        for (scan, what) in [
            (
                "{ at: 5, from: 198.51.100.77, ports: [1, 65535], declared: [25] }",
                "connections to spend",
            ),
            (
                "{ at: 5, from: 198.51.100.77, ports: [100, 99], declared: [25] }",
                "first <= last",
            ),
            (
                "{ at: 5, from: 198.51.100.77, ports: [0, 99], declared: [25] }",
                "first <= last",
            ),
            (
                "{ at: 5, from: 198.51.100.77, ports: [1, 99], declared: [0] }",
                "not a TCP port",
            ),
            (
                "{ at: 31, from: 198.51.100.77, ports: [1, 99], declared: [25] }",
                "at must be",
            ),
            (
                "{ at: 5, from: 10.20.0.10, ports: [1, 99], declared: [25] }",
                "port scanner",
            ),
        ] {
            let e = Scenario::parse(&with(scan), "m.yaml", &any).unwrap_err();
            assert!(e.message.contains(what) && e.line == 11, "{scan}: {e}");
        }
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
