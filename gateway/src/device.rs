//! The reference UGIA as a device between the harness's wires: a bump in the wire (a
//! transparent bridge) over the dataplane [`Engine`] and its policy, the same classifier and
//! policy `qaqpa replay` runs. Frames from inside leave on the outside port of the channel in
//! use when the policy permits their flow, answers come back inside, everything else is
//! dropped; TCP to port 443 is terminated by the [`Proxy`] and relayed per the policy's
//! verdict. Main and backup channels: the main while its carrier is up, else the backup.
//! A restart loses everything in memory; the policy in force is persisted on every act and
//! loaded at boot.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use jiff::{SignedDuration, Timestamp};
use qaqpa_sim::calendar::BusinessCalendar;
use qaqpa_sim::ipstack;
use qaqpa_sim::packetnet::{self, Emitted, PacketDevice, PolicyAct, Port};

use crate::dataplane::packet::{from_ip, to_ip};
use crate::dataplane::policy::micros;
use crate::dataplane::sigs::{self, PrefixTrie};
use crate::dataplane::{Class, Config, Disposition, Engine, Faults, Policy, Signatures, Verdict};
use crate::proxy::{self, Decision, Proxy, RelayFactory};

/// How long the device takes to come back after a power cycle.
pub const BOOT_TIME: SignedDuration = SignedDuration::from_secs(20);

/// What the device counted of what it could not or would not carry (its own log; the
/// harness never reads it, tests do).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Frames too short for an Ethernet header, or IP packets whose headers contradict
    /// themselves: dropped.
    pub malformed: u64,
    /// Frames of flows the policy blocks: dropped.
    pub blocked: u64,
    /// Frames that arrived while the device was booting: lost.
    pub while_down: u64,
    /// Frames with no channel up to leave on: dropped.
    pub no_channel: u64,
}

pub struct ReferenceDevice {
    engine: Engine,
    calendar: BusinessCalendar,
    /// The policy as last written to the device's storage: what a restart loads.
    stored: Policy,
    faults: Faults,
    seed: u64,
    proxy: Proxy,
    inspection: RelayFactory,
    /// Defect `ugia-tls-never-inspected`: what the policy inspects is spliced instead.
    inspection_skipped: bool,
    /// Defect `ugia-exempt-sites-blocked`: what the policy passes through is reset.
    exempt_blocked: bool,
    /// Defect `ugia-exempt-resigned`: what the policy passes through untouched is inspected.
    exempt_resigned: bool,
    /// The TLS inspection plugged in with [`Self::with_tls_inspection`]: its authority
    /// announces roots and takes the STS's acts on them.
    tls: Option<std::rc::Rc<std::cell::RefCell<crate::inspect::Inspection>>>,
    /// Defect `ugia-smtp-egress-open`: the SMTP egress rule (ureq-128.6) is not applied.
    smtp_open: bool,
    /// ureq-128.6: the e-mail gateway's addresses, as the STS configured them (in memory and
    /// on storage alike).
    mail_gateways: Vec<IpAddr>,
    /// Defect `ugia-inner-circuit-routed`: the inner-circuit rule (ureq-139.8) is not applied.
    inner_routed: bool,
    /// ureq-139.8: the inner-circuit LANs' prefixes, as the STS configured them (in memory and
    /// on storage alike, like every act of the STS's configuration).
    inner_circuit: PrefixTrie<()>,
    /// Defect `ugia-no-failover`: traffic stays on the main channel whatever its carrier.
    no_failover: bool,
    /// Defect `ugia-exemptions-lost-on-restart`: exemptions are kept in memory only.
    exemptions_volatile: bool,
    carrier: BTreeMap<Port, bool>,
    up_at: Option<Timestamp>,
    out: Vec<Emitted>,
    /// Stations learned from inside frames: an inside host's Ethernet address, and the next
    /// hop its frames are addressed to (the Internet router). The proxy's own frames use
    /// them, so the device stays transparent.
    stations: BTreeMap<IpAddr, [u8; 6]>,
    router: Option<[u8; 6]>,
    /// When the proxy's stacks next need time, as of the last poll.
    proxy_wake: Option<Timestamp>,
    pub counters: Counters,
}

/// SMTP submission and relay ports (RFC 5321 relay, RFC 8314 implicit TLS, RFC 6409
/// submission).
const SMTP_PORTS: [u16; 3] = [25, 465, 587];

/// pcap's link type for raw IP packets, what [`segment`] builds.
const LINK_RAW_IP: u32 = 101;

/// A TCP segment from `client` to `server` carrying `payload`, as the engine reads it (no
/// checksums: it never leaves the device).
fn segment(client: SocketAddr, server: SocketAddr, payload: &[u8]) -> Vec<u8> {
    let mut tcp = Vec::with_capacity(20 + payload.len());
    tcp.extend_from_slice(&client.port().to_be_bytes());
    tcp.extend_from_slice(&server.port().to_be_bytes());
    tcp.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0]);
    tcp.extend_from_slice(payload);
    let mut p = match (client.ip(), server.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let total = (20 + tcp.len()).min(usize::from(u16::MAX)) as u16;
            let mut p = vec![0x45, 0];
            p.extend_from_slice(&total.to_be_bytes());
            p.extend_from_slice(&[0, 0, 0x40, 0, 64, ipstack::TCP, 0, 0]);
            p.extend_from_slice(&s.octets());
            p.extend_from_slice(&d.octets());
            p
        }
        (s, d) => {
            let v6 = |a: IpAddr| match a {
                IpAddr::V4(v) => v.to_ipv6_mapped().octets(),
                IpAddr::V6(v) => v.octets(),
            };
            let mut p = vec![0x60, 0, 0, 0];
            p.extend_from_slice(&(tcp.len().min(usize::from(u16::MAX)) as u16).to_be_bytes());
            p.extend_from_slice(&[ipstack::TCP, 64]);
            p.extend_from_slice(&v6(s));
            p.extend_from_slice(&v6(d));
            p
        }
    };
    p.extend_from_slice(&tcp);
    p
}

fn engine(policy: Policy) -> Engine {
    Engine::new(
        Signatures::builtin(),
        policy,
        Config {
            max_flows: 1 << 16,
            records: false,
            ..Config::default()
        },
    )
}

impl ReferenceDevice {
    pub fn new(defects: &[&str], seed: u64) -> Self {
        // the proxy's stacks count time from the Unix epoch: any fixed origin will do
        let epoch = Timestamp::UNIX_EPOCH;
        let sigs = Signatures::builtin();
        let mut policy = Policy::new(&sigs);
        let on = |d: &str| defects.contains(&d);
        policy.faults = Faults {
            vpn_tcp443_missed: on("ugia-vpn-tcp443-missed"),
            exemption_never_expires: on("ugia-exemption-never-expires"),
            banking_inspected: on("ugia-banking-sni-inspected"),
            catalogue_ignored: on("ugia-catalogue-ignored"),
            vpn_exemption_wider: on("ugia-vpn-exemption-wider"),
            unknown_allowed: on("ugia-unknown-application-allowed"),
            exemption_for_everyone: on("ugia-exemption-for-everyone"),
            notice_ipv4_only: on("ugia-notice-ipv4-only"),
            block_outlives_update: on("ugia-block-outlives-update"),
            blocks_before_term: on("ugia-blocks-before-term"),
            exemption_ignores_sources: on("ugia-exemption-ignores-addresses"),
        };
        ReferenceDevice {
            faults: policy.faults,
            stored: policy.clone(),
            engine: Engine::new(
                sigs,
                policy,
                Config {
                    max_flows: 1 << 16,
                    records: false,
                    ..Config::default()
                },
            ),
            calendar: BusinessCalendar::kazakhstan(),
            seed,
            proxy: Proxy::new(seed, epoch),
            inspection: proxy::placeholder_inspection(),
            inspection_skipped: on("ugia-tls-never-inspected"),
            exempt_blocked: on("ugia-exempt-sites-blocked"),
            exempt_resigned: on("ugia-exempt-resigned"),
            tls: None,
            smtp_open: on("ugia-smtp-egress-open"),
            mail_gateways: Vec::new(),
            inner_routed: on("ugia-inner-circuit-routed"),
            inner_circuit: PrefixTrie::new(),
            no_failover: on("ugia-no-failover"),
            exemptions_volatile: on("ugia-exemptions-lost-on-restart"),
            carrier: Port::ALL.into_iter().map(|p| (p, true)).collect(),
            up_at: None,
            out: Vec::new(),
            stations: BTreeMap::new(),
            router: None,
            proxy_wake: None,
            counters: Counters::default(),
        }
    }

    /// Plugs in the relay that inspects TLS sessions the policy sends to inspection.
    ///
    /// How to plug a relay in: write a type implementing
    /// [`qaqpa_sim::stream::StreamRelay`] (it receives the client's bytes from the first,
    /// the ClientHello, on, and the origin's; it emits bytes for each side; `failed` makes
    /// the proxy reset both sides), then build the device with a factory that makes one per
    /// session from its [`proxy::InterceptInfo`] (SNI, client, server, instant):
    ///
    /// ```ignore
    /// let device = ReferenceDevice::new(defects, seed)
    ///     .with_inspection(Box::new(move |info| Box::new(Bump::new(&ca, info))));
    /// ```
    ///
    /// `src/reference.rs` (`Target::packet_device`) is where the reference target builds
    /// its device. Until a relay is plugged in, inspected sessions are spliced by
    /// [`proxy::placeholder_inspection`] (and fail ugia-20 at the wire, as they should).
    /// The `ugia-tls-never-inspected` defect splices whatever factory is plugged in.
    pub fn with_inspection(mut self, factory: RelayFactory) -> Self {
        self.inspection = factory;
        self
    }

    /// Plugs in the reference's TLS inspection ([`crate::inspect`]): each inspected session
    /// gets a [`crate::inspect::Bump`]; the STS's `root-rotation` and `origin-trust` acts
    /// reach its authority; its root notices come out of [`PacketDevice::notices`].
    pub fn with_tls_inspection(mut self, inspection: crate::inspect::Inspection) -> Self {
        let tls = std::rc::Rc::new(std::cell::RefCell::new(inspection));
        let relays = tls.clone();
        self.inspection = Box::new(move |_: &proxy::InterceptInfo| relays.borrow().relay());
        self.tls = Some(tls);
        self
    }

    /// The STS's root exists from the device's first instant on.
    fn wake_tls(&mut self, at: Timestamp) {
        if let Some(t) = &self.tls {
            // A root the authority cannot issue (a date out of range) leaves inspection
            // without one: sessions fail, nothing panics.
            let _ = t.borrow_mut().wake(at);
        }
    }

    /// What the proxy counted (its own log; tests read it).
    pub fn proxy_counters(&self) -> proxy::ProxyCounters {
        self.proxy.counters
    }

    /// The channel outbound traffic leaves on now.
    fn channel(&self) -> Option<Port> {
        if self.no_failover || self.carrier[&Port::OutsideMain] {
            Some(Port::OutsideMain)
        } else if self.carrier[&Port::OutsideBackup] {
            Some(Port::OutsideBackup)
        } else {
            None
        }
    }

    fn booting(&mut self, at: Timestamp) -> bool {
        match self.up_at {
            Some(t) if at < t => true,
            Some(_) => {
                self.up_at = None;
                false
            }
            None => false,
        }
    }

    fn emit(&mut self, port: Option<Port>, frame: Vec<u8>) {
        match port {
            Some(port) => self.out.push(Emitted { port, frame }),
            None => self.counters.no_channel += 1,
        }
    }

    /// Writes the policy in force to storage (every act does).
    fn persist(&mut self) {
        self.stored = self.engine.policy.clone();
        if self.exemptions_volatile {
            self.stored.exemptions.clear();
        }
    }

    /// ugia-13: the STS e-mails the operator every source it saw outside the catalogue; each
    /// is blocked from the end of the operator's 5 working days after its first notice,
    /// while it stays outside.
    fn catalogue_notice(&mut self, at: Timestamp) -> Result<PolicyAct, String> {
        let faults = self.engine.policy.faults;
        let block_from = if faults.blocks_before_term {
            micros(at)
        } else {
            let deadline = self
                .calendar
                .deadline_end(at, 5)
                .map_err(|e| e.to_string())?;
            micros(deadline) + 1
        };
        let listed: Vec<_> = self
            .engine
            .uncatalogued_sources()
            .into_iter()
            .filter(|a| !(faults.notice_ipv4_only && matches!(to_ip(a), IpAddr::V6(_))))
            .collect();
        for a in &listed {
            self.engine.policy.noticed.entry(*a).or_insert(block_from);
        }
        Ok(PolicyAct::CatalogueNotice {
            sources: listed.iter().map(|a| to_ip(a).to_string()).collect(),
        })
    }

    fn pump_proxy(&mut self, at: Timestamp) {
        let engine = &mut self.engine;
        let skip = self.inspection_skipped;
        let exempt_blocked = self.exempt_blocked;
        let exempt_resigned = self.exempt_resigned;
        let us = micros(at);
        let mut decide = |client: SocketAddr, server: SocketAddr, show: Option<&[u8]>| {
            if let Some(bytes) = show {
                let _ = engine.process(us, LINK_RAW_IP, &segment(client, server, bytes));
            }
            let (v, name) = engine.flow_verdict(client, server, ipstack::TCP)?;
            let d = match v? {
                Verdict::Block => Decision::Block,
                Verdict::PassThrough if exempt_blocked => Decision::Block,
                Verdict::PassThrough if exempt_resigned => Decision::Inspect,
                Verdict::Allow | Verdict::PassThrough => Decision::Pass,
                Verdict::Inspect if skip => Decision::Pass,
                Verdict::Inspect => Decision::Inspect,
            };
            Some((d, name))
        };
        let (inside, outside) = self.proxy.poll(at, &mut decide, &mut self.inspection);
        let router = self.router.unwrap_or(packetnet::ROUTER_MAC);
        for p in inside {
            let Some(h) = ipstack::headers(&p) else {
                continue;
            };
            let dst = self
                .stations
                .get(&h.dst)
                .copied()
                .unwrap_or_else(|| packetnet::mac_of(h.dst));
            let f = packetnet::ethernet(dst, router, &p);
            self.emit(Some(Port::Inside), f);
        }
        for p in outside {
            let Some(h) = ipstack::headers(&p) else {
                continue;
            };
            let src = self
                .stations
                .get(&h.src)
                .copied()
                .unwrap_or_else(|| packetnet::mac_of(h.src));
            let f = packetnet::ethernet(router, src, &p);
            let ch = self.channel();
            self.emit(ch, f);
        }
    }
}

impl PacketDevice for ReferenceDevice {
    fn apply(&mut self, at: Timestamp, act: &PolicyAct) -> Result<PolicyAct, String> {
        self.wake_tls(at);
        let no_tls = || "this device has no TLS inspection".to_string();
        match act {
            PolicyAct::RootRotation => {
                let t = self.tls.as_ref().ok_or_else(no_tls)?;
                t.borrow_mut().rotate(at)?;
                return Ok(act.clone());
            }
            PolicyAct::OriginTrust { certificates } => {
                let t = self.tls.as_ref().ok_or_else(no_tls)?;
                t.borrow_mut().trust(certificates)?;
                return Ok(act.clone());
            }
            _ => {}
        }
        let p = &mut self.engine.policy;
        let done = match act {
            PolicyAct::Catalogue {
                organisation,
                prefixes,
            } => {
                for x in prefixes {
                    p.add_catalogue(organisation, x)?;
                }
                act.clone()
            }
            PolicyAct::CatalogueNotice { .. } => self.catalogue_notice(at)?,
            PolicyAct::Exemption {
                organisation,
                class,
                sources,
            } => {
                let c = Class::parse(class)
                    .ok_or_else(|| format!("exemption class `{class}` is not a policy class"))?;
                if c == Class::Vpn {
                    return Err("a VPN exemption is a declared channel (vpn-channel), never a whole class (ureq-133.4)".into());
                }
                p.add_exemption(organisation, c, sources, at, None)?;
                act.clone()
            }
            PolicyAct::MailGateway { addresses } => {
                for a in addresses {
                    let ip: IpAddr = a.parse().map_err(|_| {
                        format!("mail-gateway address `{a}`: expected an IP address")
                    })?;
                    if !self.mail_gateways.contains(&ip) {
                        self.mail_gateways.push(ip);
                    }
                }
                act.clone()
            }
            PolicyAct::InnerCircuit { prefixes } => {
                for x in prefixes {
                    let (addr, len) = sigs::parse_prefix(x).ok_or_else(|| {
                        format!("inner-circuit prefix `{x}`: expected an address or address/length")
                    })?;
                    self.inner_circuit.insert(&addr, len, ());
                }
                act.clone()
            }
            PolicyAct::VpnChannel {
                organisation,
                src,
                dst,
                port,
                proto,
            } => {
                p.add_vpn(Some(organisation), src, dst, *port, proto, at, None)?;
                act.clone()
            }
            PolicyAct::RootRotation | PolicyAct::OriginTrust { .. } => act.clone(),
        };
        self.persist();
        Ok(done)
    }

    fn receive(&mut self, at: Timestamp, port: Port, frame: &[u8]) {
        self.wake_tls(at);
        if self.booting(at) {
            self.counters.while_down += 1;
            return;
        }
        if frame.len() < 14 {
            self.counters.malformed += 1;
            return;
        }
        let Some((ip, dst_mac, src_mac)) = packetnet::ip_of_ethernet(frame) else {
            // not IP (ARP, LLDP): a bridge carries it across unchanged
            let to = if port == Port::Inside {
                self.channel()
            } else {
                Some(Port::Inside)
            };
            self.emit(to, frame.to_vec());
            return;
        };
        let Some(h) = ipstack::headers(ip) else {
            self.counters.malformed += 1;
            return;
        };
        if port == Port::Inside {
            self.stations.insert(h.src, src_mac);
            self.router = Some(dst_mac);
        }
        let us = micros(at);
        // ureq-139.8: an inner-circuit LAN is never connected to the Internet: nothing from
        // it, of any protocol, from its first packet on, leaves on an outside port
        if port == Port::Inside
            && !self.inner_routed
            && self.inner_circuit.lookup(&from_ip(h.src)).is_some()
        {
            self.counters.blocked += 1;
            return;
        }
        if h.proto == ipstack::TCP {
            // ureq-128.6: SMTP leaves for the Internet only from the e-mail gateway; nothing
            // of anyone else's, from the SYN on, reaches the outside
            if port == Port::Inside
                && SMTP_PORTS.contains(&h.dport)
                && !self.smtp_open
                && !self.mail_gateways.contains(&h.src)
            {
                self.counters.blocked += 1;
                return;
            }
            if port == Port::Inside && h.dport == proxy::HTTPS {
                // The proxy terminates the connection; the engine follows the flow from the
                // client's frames without payload (the handshake, the close) and is shown
                // the payload as the proxy reassembled it (`pump_proxy`), so that a
                // ClientHello in many segments is classified whole.
                if h.payload.is_empty() {
                    let _ = self.engine.process(us, 1, frame);
                }
                self.proxy.from_inside(at, &h, ip);
                return;
            }
            if port.is_outside()
                && self.proxy.owns_outside(
                    SocketAddr::new(h.src, h.sport),
                    SocketAddr::new(h.dst, h.dport),
                )
            {
                self.proxy.from_outside(ip);
                return;
            }
        }
        match self.engine.process(us, 1, frame) {
            // TLS on ports the proxy does not terminate crosses as it is
            Disposition::Forward | Disposition::Inspect | Disposition::Skipped(_) => {
                let to = if port == Port::Inside {
                    self.channel()
                } else {
                    Some(Port::Inside)
                };
                self.emit(to, frame.to_vec());
            }
            Disposition::Drop => self.counters.blocked += 1,
        }
    }

    fn poll(&mut self, at: Timestamp) -> Vec<Emitted> {
        self.wake_tls(at);
        if self.booting(at) {
            return Vec::new();
        }
        self.pump_proxy(at);
        self.proxy_wake = self.proxy.next_wake(at);
        let mut out = std::mem::take(&mut self.out);
        // a port whose carrier is down sends nothing (the failover defect still tries)
        if !self.no_failover {
            out.retain(|e| self.carrier[&e.port]);
        }
        out
    }

    fn next_wake(&self) -> Option<Timestamp> {
        if let Some(t) = self.up_at {
            return Some(t);
        }
        self.proxy_wake
    }

    fn notices(&mut self) -> Vec<(Timestamp, qaqpa_sim::trace::Document)> {
        match &self.tls {
            Some(t) => t.borrow_mut().notices(),
            None => Vec::new(),
        }
    }

    fn carrier(&mut self, _at: Timestamp, port: Port, up: bool) {
        self.carrier.insert(port, up);
    }

    fn restart(&mut self, at: Timestamp) {
        // everything in memory is lost: flows, the proxy's sessions, learned stations
        self.engine = engine(self.stored.clone());
        self.engine.policy.faults = self.faults;
        self.proxy = Proxy::new(
            qaqpa_sim::seed::derive(self.seed, &at.to_string()),
            Timestamp::UNIX_EPOCH,
        );
        self.out.clear();
        self.stations.clear();
        self.router = None;
        self.proxy_wake = None;
        self.up_at = Some(at + BOOT_TIME);
    }
}
