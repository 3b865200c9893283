//! The harness side of the packet path: a `replay` step runs one episode of the packet world
//! ([`qaqpa_sim::wire`]) with the target's device between the harness's wires. Captured flows
//! become reactive, as application-replay tools make them: the client's half of each flow is
//! sent from inside by a harness end, and its server's half is sent from outside only in
//! answer to what actually came through. The harness's own flows (`flows:`) are built the
//! same way. What a flow IS comes from the third party's labels (nDPI's `.flows.jsonl` beside
//! each capture) or from the scenario, never from the gateway under test. A `policy` step
//! hands the STS's acts to the device.
//!
//! The harness keys flows with its own small parser, independent of any gateway's.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use jiff::{SignedDuration, Timestamp};
use qaqpa_sim::ndpi::{NdpiFlow, endpoint};
use qaqpa_sim::packetnet::{PacketDevice, PolicyAct, Port};
use qaqpa_sim::stream::StreamApp;
use qaqpa_sim::trace::{FlowScript, FlowSeen};
use qaqpa_sim::wire::{self, DatagramApp, PacketWorld, RawFlow, TapFrame};
use serde::Deserialize;

/// A `replay` step.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ReplaySpec {
    /// The User organisation whose network the traffic comes from.
    pub user: String,
    /// Captures under the shared corpus's `ndpi/` folder, labelled by nDPI's results.
    #[serde(default)]
    pub captures: Vec<String>,
    /// Flows the harness builds itself, labelled by the scenario.
    #[serde(default)]
    pub flows: Vec<SyntheticFlow>,
    /// The harness's acts on the wires during the episode: cutting or plugging a channel's
    /// cable, power-cycling the device.
    #[serde(default)]
    pub wire: Vec<WireAct>,
    /// The workstations (by address) whose Users did not install the UGIA root; every other
    /// workstation's User installed each root the telecom operator passed on (ugia-23).
    #[serde(default)]
    pub without_ugia_root: Vec<String>,
}

/// An act on the wires at an offset into the episode.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct WireAct {
    /// Seconds after the episode's start.
    pub after: f64,
    /// Cut this port's cable.
    #[serde(default)]
    pub cut: Option<String>,
    /// Plug this port's cable back.
    #[serde(default)]
    pub plug: Option<String>,
    /// Power-cycle the device.
    #[serde(default)]
    pub restart: bool,
}

/// A flow the harness synthesises: an opening of the named kind, then data both ways.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SyntheticFlow {
    /// `tls`, `http`, `wireguard`, `ssh`, `bittorrent`, or `opaque` / `opaque-udp`: an
    /// application no list names, whose bytes follow no published grammar.
    pub kind: String,
    pub src: String,
    pub dst: String,
    pub dport: u16,
    #[serde(default)]
    pub sport: Option<u16>,
    /// The SNI (tls) or Host (http).
    #[serde(default)]
    pub name: Option<String>,
    /// The site category the scenario asserts (ugia-20's `finance`, …).
    #[serde(default)]
    pub category: Option<String>,
    /// What the client host is, when a clause turns on it: `departmental-mail-server` or
    /// `mail-gateway` (ureq-128.6), `inner-circuit` or `outer-circuit` (ureq-139.8).
    #[serde(default)]
    pub role: Option<String>,
    /// Messages in the conversation, both ways together (the client speaks first).
    #[serde(default = "default_packets")]
    pub packets: u32,
    /// Seconds after the episode's start at which the client starts.
    #[serde(default)]
    pub after: f64,
    /// The same flow again, `count` times in all, `every` seconds apart (each from its own
    /// ephemeral port): a workstation opening session after session.
    #[serde(default = "one")]
    pub count: u32,
    #[serde(default)]
    pub every: f64,
}

fn default_packets() -> u32 {
    24
}

fn one() -> u32 {
    1
}

/// The most messages one synthetic flow may have: enough to show a block well beyond any
/// classification budget, few enough that a typo cannot stall a run.
pub const MAX_PACKETS: u32 = 10_000;
/// The most repetitions of one synthetic flow.
pub const MAX_COUNT: u32 = 1_000;

pub const KINDS: &[&str] = &[
    "tls",
    "http",
    "wireguard",
    "ssh",
    "bittorrent",
    "opaque",
    "opaque-udp",
    "smtp",
];

/// The client roles a scenario may state.
pub const ROLES: &[&str] = &[
    "departmental-mail-server",
    "mail-gateway",
    "inner-circuit",
    "outer-circuit",
];

fn udp_kind(kind: &str) -> bool {
    matches!(kind, "wireguard" | "opaque-udp")
}

/// How long an episode runs after its last client started: enough for a blocked TCP
/// client's stack to give up (20 s) and a UDP client to send its whole script.
pub const LINGER: SignedDuration = SignedDuration::from_secs(45);

/// A UDP client that heard nothing back goes on with its next datagram after this long, as
/// real UDP protocols retransmit and carry on.
pub const UDP_PATIENCE: SignedDuration = SignedDuration::from_millis(200);

impl WireAct {
    fn validate(&self) -> Result<(), String> {
        let n = usize::from(self.cut.is_some())
            + usize::from(self.plug.is_some())
            + usize::from(self.restart);
        if n != 1 {
            return Err("a wire act needs exactly one of `cut`, `plug`, `restart: true`".into());
        }
        for p in [&self.cut, &self.plug].into_iter().flatten() {
            if Port::parse(p).is_none() {
                return Err(format!(
                    "port `{p}`: expected one of inside, outside-main, outside-backup"
                ));
            }
        }
        if !(self.after.is_finite() && (0.0..=3600.0).contains(&self.after)) {
            return Err(format!(
                "after: {} is not between 0 and 3600 seconds",
                self.after
            ));
        }
        Ok(())
    }
}

impl ReplaySpec {
    pub fn validate(&self) -> Result<(), String> {
        if self.captures.is_empty() && self.flows.is_empty() {
            return Err("a replay needs `captures` or `flows`".into());
        }
        for w in &self.wire {
            w.validate()?;
        }
        for a in &self.without_ugia_root {
            a.parse::<IpAddr>()
                .map_err(|_| format!("without-ugia-root: `{a}` is not an IP address"))?;
        }
        for f in &self.flows {
            if !KINDS.contains(&f.kind.as_str()) {
                return Err(format!(
                    "flow kind `{}`: expected one of {}",
                    f.kind,
                    KINDS.join(", ")
                ));
            }
            for a in [&f.src, &f.dst] {
                a.parse::<IpAddr>()
                    .map_err(|_| format!("`{a}` is not an IP address"))?;
            }
            if let Some(r) = &f.role
                && !ROLES.contains(&r.as_str())
            {
                return Err(format!("role `{r}`: expected one of {}", ROLES.join(", ")));
            }
            if f.kind == "tls" && f.name.is_none() {
                return Err("a tls flow needs its `name` (the SNI)".into());
            }
            if f.packets > MAX_PACKETS {
                return Err(format!(
                    "flow {} → {}: packets is {}, expected at most {MAX_PACKETS}",
                    f.src, f.dst, f.packets
                ));
            }
            if f.count == 0 || f.count > MAX_COUNT {
                return Err(format!(
                    "flow {} → {}: count is {}, expected 1 to {MAX_COUNT}",
                    f.src, f.dst, f.count
                ));
            }
            for (what, v) in [("after", f.after), ("every", f.every)] {
                if !(v.is_finite() && (0.0..=3600.0).contains(&v)) {
                    return Err(format!(
                        "flow {} → {}: {what} is {v}, expected 0 to 3600 seconds",
                        f.src, f.dst
                    ));
                }
            }
        }
        Ok(())
    }
}

/// The nDPI corpus folder (see `qaqpa_sim::shared` for where it is looked for).
pub fn corpus() -> PathBuf {
    qaqpa_sim::shared::corpus("ndpi")
}

// ---- the harness's own frame reader: just enough to key flows ----

type Ep = (IpAddr, u16);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    a: Ep,
    b: Ep,
    proto: u8,
}

fn key(src: Ep, dst: Ep, proto: u8) -> (Key, bool) {
    if src <= dst {
        (
            Key {
                a: src,
                b: dst,
                proto,
            },
            true,
        )
    } else {
        (
            Key {
                a: dst,
                b: src,
                proto,
            },
            false,
        )
    }
}

/// One captured packet as the harness reads it: the IP packet, its 5-tuple, TCP sequence
/// number and flags, and the transport payload's place in the packet.
struct Captured<'a> {
    ip: &'a [u8],
    src: Ep,
    dst: Ep,
    proto: u8,
    seq: u32,
    flags: u8,
    payload: &'a [u8],
}

fn read_frame(link: u32, f: &[u8]) -> Option<Captured<'_>> {
    let be = |b: &[u8], i: usize| -> Option<u16> {
        Some(u16::from_be_bytes([*b.get(i)?, *b.get(i + 1)?]))
    };
    let ip = match link {
        1 => {
            let mut et = be(f, 12)?;
            let mut off = 14;
            while et == 0x8100 || et == 0x88a8 {
                et = be(f, off + 2)?;
                off += 4;
            }
            if et != 0x0800 && et != 0x86dd {
                return None;
            }
            f.get(off..)?
        }
        113 => f.get(16..)?,
        276 => f.get(20..)?,
        0 | 108 => f.get(4..)?,
        101 | 228 | 229 => f,
        _ => return None,
    };
    // trim link-layer padding: the IP packet is as long as its header says
    let ip = match ip.first()? >> 4 {
        4 => ip.get(..usize::from(be(ip, 2)?))?,
        6 => ip.get(..40 + usize::from(be(ip, 4)?))?,
        _ => return None,
    };
    let (src, dst, mut proto, mut l4);
    match ip.first()? >> 4 {
        4 => {
            let ihl = usize::from(ip[0] & 15) * 4;
            if be(ip, 6)? & 0x1fff != 0 {
                return None; // a later fragment: no ports
            }
            proto = *ip.get(9)?;
            let s: [u8; 4] = ip.get(12..16)?.try_into().ok()?;
            let d: [u8; 4] = ip.get(16..20)?.try_into().ok()?;
            src = IpAddr::from(s);
            dst = IpAddr::from(d);
            l4 = ip.get(ihl..)?;
        }
        _ => {
            proto = *ip.get(6)?;
            let s: [u8; 16] = ip.get(8..24)?.try_into().ok()?;
            let d: [u8; 16] = ip.get(24..40)?.try_into().ok()?;
            src = IpAddr::from(s);
            dst = IpAddr::from(d);
            l4 = ip.get(40..)?;
            for _ in 0..4 {
                if matches!(proto, 0 | 43 | 60 | 44) {
                    let len = if proto == 44 {
                        8
                    } else {
                        (usize::from(*l4.get(1)?) + 1) * 8
                    };
                    proto = *l4.first()?;
                    l4 = l4.get(len..)?;
                }
            }
        }
    }
    let (sp, dp, seq, flags, payload) = match proto {
        6 => {
            let off = usize::from(*l4.get(12)? >> 4) * 4;
            (
                be(l4, 0)?,
                be(l4, 2)?,
                u32::from_be_bytes(l4.get(4..8)?.try_into().ok()?),
                *l4.get(13)?,
                l4.get(off..)?,
            )
        }
        17 => (be(l4, 0)?, be(l4, 2)?, 0, 0, l4.get(8..)?),
        _ => (0, 0, 0, 0, l4),
    };
    Some(Captured {
        ip,
        src: (src, sp),
        dst: (dst, dp),
        proto,
        seq,
        flags,
        payload,
    })
}

fn proto_name(p: u8) -> String {
    match p {
        6 => "tcp".into(),
        17 => "udp".into(),
        1 => "icmp".into(),
        58 => "icmpv6".into(),
        50 => "esp".into(),
        51 => "ah".into(),
        47 => "gre".into(),
        n => n.to_string(),
    }
}

struct Truth {
    role: Option<String>,
    class: Option<String>,
    app: Option<String>,
    category: Option<String>,
    tls: bool,
    sni: Option<String>,
    /// The initiator as nDPI saw it.
    client: Option<Ep>,
}

fn labels(capture: &Path) -> Result<BTreeMap<Key, Truth>, String> {
    let name = capture.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let path = capture.with_file_name(format!("{name}.flows.jsonl"));
    let text = std::fs::read_to_string(&path).map_err(|e| missing(&path, e))?;
    let mut out = BTreeMap::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let f: NdpiFlow =
            serde_json::from_str(line).map_err(|e| format!("{}:{}: {e}", path.display(), i + 1))?;
        let (Some(a), Some(b)) = (endpoint(&f.src), endpoint(&f.dst)) else {
            continue;
        };
        let p = f.ip_proto();
        let (a, b) = if matches!(p, 6 | 17) {
            (a, b)
        } else {
            ((a.0, 0), (b.0, 0))
        };
        let tls = f.master() == "TLS";
        out.insert(
            key(a, b, p).0,
            Truth {
                role: None,
                class: f.class().map(str::to_string),
                app: Some(format!("ndpi:{}", f.proto)),
                category: None,
                tls,
                sni: f.sni.clone().filter(|_| tls),
                client: Some(a),
            },
        );
    }
    Ok(out)
}

/// A shared file that cannot be read: say where shared material is looked for.
fn missing(path: &Path, e: std::io::Error) -> String {
    if e.kind() == std::io::ErrorKind::NotFound {
        format!("{}: {e} ({})", path.display(), qaqpa_sim::shared::WHERE)
    } else {
        format!("{}: {e}", path.display())
    }
}

fn read_capture(path: &Path) -> Result<Vec<(u64, u32, Vec<u8>)>, String> {
    let bytes = std::fs::read(path).map_err(|e| missing(path, e))?;
    let mut out = Vec::new();
    if bytes.starts_with(&[0x0a, 0x0d, 0x0d, 0x0a]) {
        use pcap_file::pcapng::{Block, PcapNgReader};
        let mut r =
            PcapNgReader::new(&bytes[..]).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut links: Vec<u32> = Vec::new();
        while let Some(b) = r.next_block() {
            match b {
                Ok(Block::InterfaceDescription(i)) => links.push(u32::from(i.linktype)),
                Ok(Block::EnhancedPacket(p)) => {
                    let link = links.get(p.interface_id as usize).copied().unwrap_or(1);
                    out.push((p.timestamp.as_micros() as u64, link, p.data.to_vec()));
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
    } else {
        let mut r = pcap_file::pcap::PcapReader::new(&bytes[..])
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let link = u32::from(r.header().datalink);
        while let Some(p) = r.next_packet() {
            let Ok(p) = p else { break };
            out.push((p.timestamp.as_micros() as u64, link, p.data.to_vec()));
        }
    }
    Ok(out)
}

// ---- a flow's script and the harness ends that play it ----

/// A conversation: messages in order, each from the client (`true`) or the server.
type Script = Vec<(bool, Vec<u8>)>;

/// Raw IP packets of a flow that no socket carries: the client's, then the server's.
type RawPackets = (Vec<Vec<u8>>, Vec<Vec<u8>>);

/// One captured flow as the harness replays it: its key, whether the client is the key's
/// endpoint `a`, its script, and its raw packets (protocols without ports).
type CapturedFlow = (Key, bool, Script, Vec<Vec<u8>>, Vec<Vec<u8>>);

/// The outside servers: by server address, the script for each client.
type ServerTable = Rc<RefCell<BTreeMap<SocketAddr, BTreeMap<SocketAddr, Rc<Script>>>>>;

fn script_of(s: &Script) -> FlowScript {
    let mut f = FlowScript::default();
    for (c, m) in s {
        if *c {
            f.client_messages += 1;
            f.client_bytes += m.len() as u64;
        } else {
            f.server_messages += 1;
            f.server_bytes += m.len() as u64;
        }
    }
    f
}

/// One end of a scripted TCP conversation: it sends each of its messages once it has
/// received every byte the peer says before it, and finishes when it has said everything
/// and heard everything.
struct StreamEnd {
    script: Rc<Script>,
    client: bool,
    next: usize,
    heard: u64,
}

impl StreamEnd {
    fn new(script: Rc<Script>, client: bool) -> Self {
        StreamEnd {
            script,
            client,
            next: 0,
            heard: 0,
        }
    }

    /// Peer bytes before message `i`.
    fn peer_before(&self, i: usize) -> u64 {
        self.script[..i]
            .iter()
            .filter(|(c, _)| *c != self.client)
            .map(|(_, m)| m.len() as u64)
            .sum()
    }

    fn due(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        while self.next < self.script.len() {
            let (c, m) = &self.script[self.next];
            if *c != self.client {
                self.next += 1;
                continue;
            }
            if self.heard < self.peer_before(self.next) {
                break;
            }
            out.extend_from_slice(m);
            self.next += 1;
        }
        out
    }
}

impl StreamApp for StreamEnd {
    fn on_open(&mut self, _at: Timestamp) -> Vec<u8> {
        self.due()
    }
    fn on_data(&mut self, _at: Timestamp, data: &[u8]) -> Vec<u8> {
        self.heard += data.len() as u64;
        self.due()
    }
    fn on_close(&mut self, _at: Timestamp, _reset: bool) {}
    fn finished(&self) -> bool {
        self.next >= self.script.len() && self.heard >= self.peer_before(self.script.len())
    }
}

/// One end of a scripted UDP exchange: a datagram per message, each sent once the peer's
/// datagrams before it arrived; a client that waits longer than [`UDP_PATIENCE`] goes on.
struct DatagramEnd {
    script: Rc<Script>,
    client: bool,
    next: usize,
    heard: usize,
    last: Option<Timestamp>,
}

impl DatagramEnd {
    fn peer_before(&self, i: usize) -> usize {
        self.script[..i]
            .iter()
            .filter(|(c, _)| *c != self.client)
            .count()
    }

    fn due(&mut self, at: Timestamp, impatient: bool) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut forced = impatient;
        while self.next < self.script.len() {
            let (c, m) = &self.script[self.next];
            if *c != self.client {
                self.next += 1;
                continue;
            }
            if self.heard < self.peer_before(self.next) && !forced {
                break;
            }
            forced = false;
            out.push(m.clone());
            self.next += 1;
        }
        if !out.is_empty() {
            self.last = Some(at);
        }
        out
    }
}

impl DatagramApp for DatagramEnd {
    fn on_start(&mut self, at: Timestamp) -> Vec<Vec<u8>> {
        if self.client {
            self.due(at, false)
        } else {
            Vec::new()
        }
    }
    fn on_datagram(&mut self, at: Timestamp, _data: &[u8]) -> Vec<Vec<u8>> {
        self.heard += 1;
        self.due(at, false)
    }
    fn on_timer(&mut self, at: Timestamp) -> Vec<Vec<u8>> {
        self.due(at, true)
    }
    fn wake_at(&self) -> Option<Timestamp> {
        // only the client is impatient; it waits only while it has something left to say
        let left = self.script[self.next.min(self.script.len())..]
            .iter()
            .any(|(c, _)| *c == self.client);
        if self.client && left {
            self.last.map(|t| t + UDP_PATIENCE)
        } else {
            None
        }
    }
}

/// A flow the harness plays, with what it knows of it.
struct Planned {
    source: String,
    proto: u8,
    client: SocketAddr,
    server: SocketAddr,
    start: Timestamp,
    script: FlowScript,
    truth: Option<Truth>,
}

/// The flows of one capture as the harness replays them.
fn capture_flows(
    frames: &[(u64, u32, Vec<u8>)],
    truth: &mut BTreeMap<Key, Truth>,
) -> Vec<CapturedFlow> {
    struct Acc {
        /// The client is endpoint `a` of the key.
        client_is_a: Option<bool>,
        first_is_a: bool,
        script: Script,
        next_seq: [Option<u32>; 2],
        raw: [Vec<Vec<u8>>; 2],
    }
    let mut flows: BTreeMap<Key, Acc> = BTreeMap::new();
    let mut order: Vec<Key> = Vec::new();
    for (_, link, f) in frames {
        let Some(c) = read_frame(*link, f) else {
            continue;
        };
        let (src, dst) = if matches!(c.proto, 6 | 17) {
            (c.src, c.dst)
        } else {
            ((c.src.0, 0), (c.dst.0, 0))
        };
        let (k, a_to_b) = key(src, dst, c.proto);
        let acc = flows.entry(k).or_insert_with(|| {
            order.push(k);
            Acc {
                client_is_a: None,
                first_is_a: a_to_b,
                script: Vec::new(),
                next_seq: [None, None],
                raw: [Vec::new(), Vec::new()],
            }
        });
        if c.proto == 6 && c.flags & 0x12 == 0x02 {
            acc.client_is_a.get_or_insert(a_to_b);
        }
        match c.proto {
            6 => {
                // each byte of the stream once: retransmissions and overlaps are trimmed
                let d = usize::from(!a_to_b);
                let mut data = c.payload;
                let end = c.seq.wrapping_add(data.len() as u32);
                if let Some(next) = acc.next_seq[d] {
                    let behind = next.wrapping_sub(c.seq) as i32;
                    if behind > 0 {
                        data = data.get(behind as usize..).unwrap_or(&[]);
                    }
                }
                if !data.is_empty() {
                    acc.next_seq[d] = Some(end);
                    match acc.script.last_mut() {
                        Some((from_a, m)) if *from_a == a_to_b => m.extend_from_slice(data),
                        _ => acc.script.push((a_to_b, data.to_vec())),
                    }
                } else if acc.next_seq[d].is_none() && c.flags & 0x02 != 0 {
                    acc.next_seq[d] = Some(c.seq.wrapping_add(1));
                }
            }
            17 => {
                if !c.payload.is_empty() {
                    acc.script.push((a_to_b, c.payload.to_vec()));
                }
            }
            _ => acc.raw[usize::from(!a_to_b)].push(c.ip.to_vec()),
        }
    }
    let mut out = Vec::new();
    for k in order {
        let acc = flows.remove(&k).expect("ordered keys are in the map");
        let label_client = truth.get(&k).and_then(|t| t.client).map(|c| c == k.a);
        // A capture that starts mid-flow shows no SYN: then a system port (below 1024, RFC
        // 6335) facing a dynamic or registered one marks the server, before nDPI's reading
        // of the direction and before whoever spoke first.
        let by_port = match (k.a.1 < 1024, k.b.1 < 1024) {
            (true, false) if k.proto == 6 || k.proto == 17 => Some(false),
            (false, true) if k.proto == 6 || k.proto == 17 => Some(true),
            _ => None,
        };
        let client_is_a = acc
            .client_is_a
            .or(by_port)
            .or(label_client)
            .unwrap_or(acc.first_is_a);
        // the script from the client's point of view
        let script: Script = acc
            .script
            .into_iter()
            .map(|(from_a, m)| (from_a == client_is_a, m))
            .collect();
        let [from_a, from_b] = acc.raw;
        let (rc, rs) = if client_is_a {
            (from_a, from_b)
        } else {
            (from_b, from_a)
        };
        out.push((k, client_is_a, script, rc, rs));
    }
    out
}

fn usable(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => {
            !(a.is_unspecified() || a.is_broadcast() || a.is_multicast() || a.octets()[3] == 255)
        }
        IpAddr::V6(a) => !(a.is_unspecified() || a.is_multicast()),
    }
}

/// Plays a `policy` step: every act reaches the device at `now`. Returns the acts as the
/// device carried them out (a catalogue notice with the sources it listed).
pub fn apply(
    device: &mut dyn PacketDevice,
    now: Timestamp,
    acts: &[PolicyAct],
) -> Result<Vec<PolicyAct>, String> {
    acts.iter().map(|a| device.apply(now, a)).collect()
}

/// The harness's wires of one scenario, kept from episode to episode: the device between
/// them, the cables' state, and every frame the taps saw.
pub struct Wires {
    pub device: Option<Box<dyn PacketDevice>>,
    pub carrier: BTreeMap<Port, bool>,
    pub taps: Vec<TapFrame>,
    /// The harness's TLS web around the device: origins, workstations' shared state, the
    /// roots passed on.
    pub web: crate::tls::HarnessWeb,
}

impl Wires {
    /// The wires around `device`, set up at `now`: the harness's public CA (from `seed`) is
    /// installed in the device's trust store for origins, as the STS's people would.
    pub fn new(device: Box<dyn PacketDevice>, seed: u64, now: Timestamp) -> Result<Wires, String> {
        let web = crate::tls::HarnessWeb::new(qaqpa_sim::seed::derive(seed, "public-web-ca"), now)
            .map_err(|e| e.to_string())?;
        Ok(Wires {
            device: Some(device),
            carrier: Port::ALL.into_iter().map(|p| (p, true)).collect(),
            taps: Vec::new(),
            web,
        })
    }

    /// The act that installs the harness's public CA in the device's trust store.
    pub fn origin_trust(&self) -> PolicyAct {
        PolicyAct::OriginTrust {
            certificates: vec![self.web.ca.root_pem().to_string()],
        }
    }
}

/// What one `replay` episode observed: every flow (the harness's script and truth, and the
/// taps' counts) and what the harness's ends saw, each at its instant.
pub struct Episode {
    pub flows: Vec<(Timestamp, FlowSeen)>,
    pub seen: Vec<wire::Seen>,
    pub notes: Vec<(Timestamp, String, BTreeMap<String, String>)>,
}

/// Plays a `replay` step from `now` on `wires`. `seed` (the step's) draws what the scenario
/// leaves open: the clients' ephemeral ports, the stacks' initial sequence numbers, the
/// clients' start jitter, an opaque application's bytes; so each seed offers the gateway
/// other flows of the same kinds.
pub fn run(
    wires: &mut Wires,
    now: Timestamp,
    spec: &ReplaySpec,
    seed: u64,
) -> Result<Episode, String> {
    let device = wires
        .device
        .take()
        .ok_or("the device was lost by an earlier episode")?;
    let mut world = PacketWorld::new(device, now, seed).with_carrier(&wires.carrier);
    let book = wires.web.roots.clone();
    world.on_document(Box::new(move |at, doc| book.add_notice(at, doc)));
    let mut planned: Vec<Planned> = Vec::new();
    let mut notes = Vec::new();
    // the outside servers: by server address, the app for each client
    let servers: ServerTable = Rc::default();
    let jitter = |i: usize| {
        SignedDuration::from_micros(
            (qaqpa_sim::seed::derive(seed, &format!("start-{i}")) % 10_000) as i64,
        )
    };
    let mut start = now;
    // the last TLS session's start (those flows are the harness's TLS ends, not `planned`)
    let mut tls_last = now;
    let mut serial = 0usize;
    let mut add = |world: &mut PacketWorld,
                   planned: &mut Vec<Planned>,
                   source: &str,
                   proto: u8,
                   client: SocketAddr,
                   server: SocketAddr,
                   at: Timestamp,
                   script: Script,
                   raw: Option<RawPackets>,
                   truth: Option<Truth>|
     -> Result<(), String> {
        serial += 1;
        let at = at + jitter(serial);
        let label = format!("{} {client} > {server}", proto_name(proto));
        let fs = script_of(&script);
        let script = Rc::new(script);
        match proto {
            6 => {
                servers
                    .borrow_mut()
                    .entry(server)
                    .or_default()
                    .insert(client, script.clone());
                let table = servers.clone();
                world.serve(
                    server,
                    Box::new(move |peer| {
                        let s = table.borrow().get(&server)?.get(&peer)?.clone();
                        Some((
                            format!("tcp {peer} > {server}"),
                            Box::new(StreamEnd::new(s, false)) as Box<dyn StreamApp>,
                        ))
                    }),
                );
                world.connect_at(
                    at,
                    client,
                    server,
                    label,
                    Box::new(StreamEnd::new(script, true)),
                );
            }
            17 => {
                let end = |c| DatagramEnd {
                    script: script.clone(),
                    client: c,
                    next: 0,
                    heard: 0,
                    last: None,
                };
                world.datagrams_at(
                    at,
                    client,
                    server,
                    label,
                    Box::new(end(true)),
                    Box::new(end(false)),
                )?;
            }
            _ => {
                let (c, s) = raw.unwrap_or_default();
                let gap = SignedDuration::from_millis(20);
                world.raw_at(
                    at,
                    RawFlow {
                        proto,
                        client: client.ip(),
                        server: server.ip(),
                        from_client: c
                            .into_iter()
                            .enumerate()
                            .map(|(i, p)| (gap * i as i32, p))
                            .collect(),
                        from_server: s
                            .into_iter()
                            .enumerate()
                            .map(|(i, p)| (gap * i as i32 + gap / 2, p))
                            .collect(),
                    },
                );
            }
        }
        planned.push(Planned {
            source: source.to_string(),
            proto,
            client,
            server,
            start: at,
            script: fs,
            truth,
        });
        Ok(())
    };
    for c in &spec.captures {
        let path = corpus().join(c);
        let frames = read_capture(&path)?;
        let mut truth = labels(&path)?;
        let mut skipped = 0;
        for (k, client_is_a, script, rc, rs) in capture_flows(&frames, &mut truth) {
            let (client, server) = if client_is_a { (k.a, k.b) } else { (k.b, k.a) };
            let ports = matches!(k.proto, 6 | 17);
            if !usable(client.0)
                || !usable(server.0)
                || client.0.is_ipv4() != server.0.is_ipv4()
                || (ports && (client.1 == 0 || server.1 == 0))
            {
                skipped += 1;
                continue;
            }
            let t = truth.remove(&k);
            let raw = (!ports).then_some((rc, rs));
            add(
                &mut world,
                &mut planned,
                c,
                k.proto,
                SocketAddr::new(client.0, client.1),
                SocketAddr::new(server.0, server.1),
                start,
                script,
                raw,
                t,
            )?;
            start += SignedDuration::from_millis(10);
        }
        if skipped > 0 {
            let mut f = BTreeMap::new();
            f.insert("capture".into(), c.clone());
            f.insert("flows".into(), skipped.to_string());
            notes.push((
                now,
                "replay skipped flows to broadcast, multicast or unspecified addresses".into(),
                f,
            ));
        }
    }
    for (i, f) in spec.flows.iter().enumerate() {
        let src: IpAddr = f
            .src
            .parse()
            .map_err(|_| format!("`{}` is not an IP address", f.src))?;
        let dst: IpAddr = f
            .dst
            .parse()
            .map_err(|_| format!("`{}` is not an IP address", f.dst))?;
        if f.kind == "tls" {
            let last = tls_flow(
                &mut world,
                &mut wires.web,
                spec,
                f,
                src,
                dst,
                start,
                seed,
                i,
                &mut notes,
            )?;
            tls_last = tls_last.max(last);
            start += SignedDuration::from_millis(10);
            continue;
        }
        for n in 0..f.count {
            let variant = Variant::of(seed, i, n);
            let sport = f.sport.map_or(variant.sport, |p| p.wrapping_add(n as u16));
            let at = start
                + SignedDuration::from_secs_f64(f.after)
                + SignedDuration::from_secs_f64(f.every * f64::from(n));
            let truth = Truth {
                role: f.role.clone(),
                class: Some(
                    match f.kind.as_str() {
                        "wireguard" => "vpn",
                        "ssh" => "remote-access",
                        "bittorrent" => "p2p",
                        "opaque" | "opaque-udp" => "unknown-application",
                        _ => "other",
                    }
                    .into(),
                ),
                app: Some(format!("synthetic:{}", f.kind)),
                category: f.category.clone(),
                tls: f.kind == "tls",
                sni: f.name.clone().filter(|_| f.kind == "tls"),
                client: None,
            };
            add(
                &mut world,
                &mut planned,
                "synthetic",
                if udp_kind(&f.kind) { 17 } else { 6 },
                SocketAddr::new(src, sport),
                SocketAddr::new(dst, f.dport),
                at,
                synthesise(f, &variant),
                None,
                Some(truth),
            )?;
        }
        start += SignedDuration::from_millis(10);
    }
    let mut last_start = planned
        .iter()
        .map(|p| p.start)
        .max()
        .unwrap_or(now)
        .max(tls_last);
    for w in &spec.wire {
        let at = now + SignedDuration::from_secs_f64(w.after);
        last_start = last_start.max(at);
        let mut f = BTreeMap::new();
        if let Some(p) = w.cut.as_deref().and_then(Port::parse) {
            world.carrier_at(at, p, false);
            f.insert("port".into(), p.to_string());
            notes.push((at, "cable cut".into(), f));
        } else if let Some(p) = w.plug.as_deref().and_then(Port::parse) {
            world.carrier_at(at, p, true);
            f.insert("port".into(), p.to_string());
            notes.push((at, "cable plugged".into(), f));
        } else if w.restart {
            world.restart_at(at);
            notes.push((at, "device power-cycled".into(), f));
        }
    }
    let end = last_start + LINGER;
    let mut seen = world.run_until(end);
    if let Some((at, why)) = world
        .refused
        .first()
        .map(|(t, s, w)| (*t, format!("{s}: {w}")))
    {
        let mut f = BTreeMap::new();
        f.insert("first".into(), why);
        f.insert("count".into(), world.refused.len().to_string());
        notes.push((at, "the harness's ends refused frames".into(), f));
    }
    wires.carrier = world.carrier().clone();
    let (rest, taps, device) = world.finish();
    seen.extend(rest);
    wires.device = Some(device);
    notes.sort_by_key(|n| n.0);
    let mut flows = Vec::new();
    for p in planned {
        let counts = wire::count_flow(&taps, p.proto, p.client, p.server);
        let truth = p.truth.as_ref();
        flows.push((
            p.start,
            FlowSeen {
                source: p.source,
                user: spec.user.clone(),
                proto: proto_name(p.proto),
                src: p.client.ip().to_string(),
                sport: p.client.port(),
                dst: p.server.ip().to_string(),
                dport: p.server.port(),
                truth_class: truth.and_then(|x| x.class.clone()),
                truth_app: truth.and_then(|x| x.app.clone()),
                truth_category: truth.and_then(|x| x.category.clone()),
                tls: truth.is_some_and(|x| x.tls),
                sni: truth.and_then(|x| x.sni.clone()),
                role: truth.and_then(|x| x.role.clone()),
                script: p.script,
                taps: counts,
                first: p.start,
                last: end,
            },
        ));
    }
    flows.sort_by_key(|f| f.0);
    wires.taps.extend(taps);
    seen.sort_by_key(|s| s.0);
    Ok(Episode { flows, seen, notes })
}

/// A `tls` flow: a workstation at `src` opens real TLS sessions (`crate::tls`) to the
/// origin for the flow's name at `dst`, trusting the public CA and, unless its User is
/// listed in `without-ugia-root`, the UGIA roots passed on. The site's category is the
/// scenario's statement, noted for the oracles. Its frames are on the taps; its
/// observations are the ends' own (`tls-client`, `tls-origin`): a TLS session's bytes differ
/// run to run, so no digest of them enters the trace.
#[allow(clippy::too_many_arguments)]
fn tls_flow(
    world: &mut PacketWorld,
    web: &mut crate::tls::HarnessWeb,
    spec: &ReplaySpec,
    f: &SyntheticFlow,
    src: IpAddr,
    dst: IpAddr,
    start: Timestamp,
    seed: u64,
    i: usize,
    notes: &mut Vec<(Timestamp, String, BTreeMap<String, String>)>,
) -> Result<Timestamp, String> {
    let name = f
        .name
        .clone()
        .ok_or("a tls flow needs its `name` (the SNI)")?;
    let site = web
        .site(&name)
        .map_err(|e| format!("flow to {name}: {e}"))?;
    let server = SocketAddr::new(dst, f.dport);
    let note = crate::tls::site_note(
        &site,
        &server.to_string(),
        f.category.as_deref().unwrap_or(""),
    );
    let mut fields = note.fields;
    if f.category.is_none() {
        fields.remove("category");
    }
    notes.push((start, note.what, fields));
    let shared = web.shared.clone();
    let served = site.clone();
    let mut connections = 0u32;
    world.serve(
        server,
        Box::new(move |peer| {
            connections += 1;
            let label = format!("tls {peer} > {server}");
            let name = format!("{}/{connections}", served.name);
            Some((
                label,
                Box::new(served.accept(name, &shared)) as Box<dyn StreamApp>,
            ))
        }),
    );
    let installs = !spec.without_ugia_root.iter().any(|a| a.parse() == Ok(src));
    let workstation = src.to_string();
    let mut last = start;
    for n in 0..f.count {
        let variant = Variant::of(seed, i, n);
        let sport = f.sport.map_or(variant.sport, |p| p.wrapping_add(n as u16));
        let at = start
            + SignedDuration::from_secs_f64(f.after)
            + SignedDuration::from_secs_f64(f.every * f64::from(n));
        let client = SocketAddr::new(src, sport);
        last = last.max(at);
        let plan = crate::tls::SessionPlan {
            workstation: workstation.clone(),
            session: web.session_name(&workstation),
            server_name: name.clone(),
            dst: dst.to_string(),
            dport: f.dport,
            trusted: vec![web.ca.root().to_vec()],
            ugia_roots: installs.then(|| web.roots.clone()),
        };
        world.connect_at(
            at,
            client,
            server,
            format!("tls {client} > {server}"),
            Box::new(crate::tls::TlsClient::new(plan, &web.shared)),
        );
    }
    Ok(last)
}

// ---- synthetic flows: the harness's own conversations ----

/// A TLS 1.2-style ClientHello record with one SNI.
pub fn client_hello(sni: &str) -> Vec<u8> {
    let name = sni.as_bytes();
    let mut sn = Vec::new();
    sn.extend_from_slice(&((name.len() + 3) as u16).to_be_bytes());
    sn.push(0);
    sn.extend_from_slice(&(name.len() as u16).to_be_bytes());
    sn.extend_from_slice(name);
    let mut ext = vec![0, 0];
    ext.extend_from_slice(&(sn.len() as u16).to_be_bytes());
    ext.extend_from_slice(&sn);
    let mut body = vec![3, 3];
    body.extend_from_slice(&[0x5a; 32]);
    body.push(0);
    body.extend_from_slice(&[0, 4, 0x13, 0x01, 0xc0, 0x2f, 1, 0]);
    body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    body.extend_from_slice(&ext);
    let mut hs = vec![1, 0, (body.len() >> 8) as u8, body.len() as u8];
    hs.extend_from_slice(&body);
    let mut rec = vec![0x16, 3, 1, (hs.len() >> 8) as u8, hs.len() as u8];
    rec.extend_from_slice(&hs);
    rec
}

/// What a seed draws for one synthetic flow.
struct Variant {
    /// The client's ephemeral port (RFC 6335's dynamic range), unless the scenario names one.
    sport: u16,
    /// Seeds the opaque application's byte streams.
    stream: u64,
}

impl Variant {
    fn of(seed: u64, flow: usize, n: u32) -> Variant {
        let v = qaqpa_sim::seed::derive(seed, &format!("flow-{flow}-{n}"));
        Variant {
            sport: 49152 + (v % 16384) as u16,
            stream: v,
        }
    }
}

/// The conversation of one synthetic flow: the kind's opening from the client, then
/// messages alternating from the server and the client, `packets` in all.
fn synthesise(f: &SyntheticFlow, variant: &Variant) -> Script {
    let n = f.packets.max(2) as usize;
    let mut out: Script = Vec::new();
    let mut opaque = Opaque::new(variant.stream);
    match f.kind.as_str() {
        "wireguard" => {
            // WireGuard (the protocol paper, §5.4): initiation 148 bytes, response 92, then
            // transport data messages (type 4)
            let mut init = vec![1, 0, 0, 0];
            init.extend(opaque.take(144));
            out.push((true, init));
            let mut resp = vec![2, 0, 0, 0];
            resp.extend(opaque.take(88));
            out.push((false, resp));
            for k in 2..n {
                let mut data = vec![4, 0, 0, 0];
                data.extend(opaque.take(12 + 16 * 8));
                out.push((k % 2 == 0, data));
            }
            return out;
        }
        "smtp" => {
            // an SMTP transaction (RFC 5321 §3): the server speaks first
            let host = f.name.as_deref().unwrap_or("mx.example.org");
            let lines: [(bool, String); 12] = [
                (false, format!("220 {host} ESMTP\r\n")),
                (true, "EHLO mail.gov.kz\r\n".into()),
                (false, format!("250-{host}\r\n250 8BITMIME\r\n")),
                (true, "MAIL FROM:<clerk@gov.kz>\r\n".into()),
                (false, "250 2.1.0 Ok\r\n".into()),
                (true, "RCPT TO:<buh@partner.example>\r\n".into()),
                (false, "250 2.1.5 Ok\r\n".into()),
                (true, "DATA\r\n".into()),
                (false, "354 End data with <CR><LF>.<CR><LF>\r\n".into()),
                (true, {
                    let mut m = String::from("Subject: report\r\n\r\n");
                    for k in 0..(n.max(12) * 10) {
                        m.push_str(&format!("line {k} of the quarterly report\r\n"));
                    }
                    m.push_str(".\r\n");
                    m
                }),
                (false, "250 2.0.0 Ok: queued\r\n".into()),
                (true, "QUIT\r\n".into()),
            ];
            out.extend(lines.into_iter().map(|(c, l)| (c, l.into_bytes())));
            out.push((false, b"221 2.0.0 Bye\r\n".to_vec()));
            return out;
        }
        "opaque-udp" => {
            for k in 0..n {
                out.push((k % 2 == 0, opaque.take(200 + (k % 5) * 100)));
            }
            return out;
        }
        _ => {}
    }
    let first: Vec<u8> = match f.kind.as_str() {
        "tls" => client_hello(f.name.as_deref().unwrap_or("")),
        "http" => format!(
            "GET / HTTP/1.1\r\nHost: {}\r\nUser-Agent: qaqpa\r\n\r\n",
            f.name.as_deref().unwrap_or("example.org")
        )
        .into_bytes(),
        "ssh" => b"SSH-2.0-OpenSSH_9.2\r\n".to_vec(),
        "opaque" => opaque.take(300),
        _ => {
            let mut h = vec![19];
            h.extend_from_slice(b"BitTorrent protocol");
            h.extend_from_slice(&[0; 8]);
            h.extend_from_slice(&[0x11; 40]);
            h
        }
    };
    out.push((true, first));
    let mut body = Opaque::new(variant.stream ^ 0x8000);
    for k in 1..n {
        let data = if f.kind == "opaque" {
            body.take(600)
        } else {
            vec![(k as u8).wrapping_mul(13); 600]
        };
        out.push((k % 2 == 0, data));
    }
    out
}

/// The bytes of an application no list knows: an xorshift stream drawn from the step's seed,
/// so that one seed offers the same bytes on every run and each seed other ones.
struct Opaque(u64);

impl Opaque {
    fn new(stream: u64) -> Self {
        // xorshift must not start at 0
        Opaque((0x9e37_79b9_7f4a_7c15 ^ stream) | 1)
    }
    fn take(&mut self, n: usize) -> Vec<u8> {
        (0..n)
            .map(|_| {
                self.0 ^= self.0 << 13;
                self.0 ^= self.0 >> 7;
                self.0 ^= self.0 << 17;
                (self.0 >> 24) as u8
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script() -> Rc<Script> {
        Rc::new(vec![
            (true, b"hello".to_vec()),
            (false, b"hi there".to_vec()),
            (true, b"bye".to_vec()),
            (true, b"!".to_vec()),
            (false, b"ok".to_vec()),
        ])
    }

    #[test]
    fn a_stream_end_speaks_only_after_hearing_what_comes_before() {
        let t = Timestamp::UNIX_EPOCH;
        let mut c = StreamEnd::new(script(), true);
        let mut s = StreamEnd::new(script(), false);
        assert_eq!(c.on_open(t), b"hello");
        assert_eq!(s.on_open(t), b"");
        assert_eq!(s.on_data(t, b"hel"), b"", "not all of the hello yet");
        assert_eq!(s.on_data(t, b"lo"), b"hi there");
        assert_eq!(c.on_data(t, b"hi there"), b"bye!");
        assert!(!c.finished(), "the server's last word is still due");
        assert_eq!(s.on_data(t, b"bye!"), b"ok");
        assert!(s.finished());
        assert_eq!(c.on_data(t, b"ok"), b"");
        assert!(c.finished());
    }

    #[test]
    fn a_udp_client_goes_on_after_its_patience_and_a_server_only_answers() {
        let t = Timestamp::UNIX_EPOCH;
        let mut c = DatagramEnd {
            script: script(),
            client: true,
            next: 0,
            heard: 0,
            last: None,
        };
        assert_eq!(c.on_start(t), vec![b"hello".to_vec()]);
        assert_eq!(c.wake_at(), Some(t + UDP_PATIENCE));
        assert_eq!(c.on_timer(t + UDP_PATIENCE), vec![b"bye".to_vec()]);
        let mut s = DatagramEnd {
            script: script(),
            client: false,
            next: 0,
            heard: 0,
            last: None,
        };
        assert!(s.on_start(t).is_empty());
        assert_eq!(s.wake_at(), None, "a server is never impatient");
        assert_eq!(s.on_datagram(t, b"hello"), vec![b"hi there".to_vec()]);
    }

    /// Every cut of a captured frame, and frames of random bytes, read without a panic.
    #[test]
    fn truncated_and_random_frames_never_panic_the_reader() {
        let mut p = vec![
            0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        p.extend_from_slice(&[
            0, 80, 4, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 1, 0, 0, 0, 0, 0,
        ]);
        let mut eth = vec![0u8; 12];
        eth.extend_from_slice(&[0x08, 0x00]);
        eth.extend_from_slice(&p);
        for link in [1, 101, 113, 276, 0, 228] {
            for n in 0..=eth.len() {
                let _ = read_frame(link, &eth[..n]);
                let _ = read_frame(link, &p[..n.min(p.len())]);
            }
        }
        let mut o = Opaque::new(7);
        for n in 0..300 {
            let f = o.take(n);
            for link in [1, 101, 113] {
                let _ = read_frame(link, &f);
            }
        }
        assert!(read_frame(101, &p).is_some(), "the whole packet reads");
    }

    #[test]
    fn captured_tcp_becomes_a_script_without_retransmissions() {
        // client 10.0.0.1:1000 → 10.0.0.2:80: SYN, data "ab", the same again, "cd", answer
        let ip =
            |src: [u8; 4], dst: [u8; 4], sp: u16, dp: u16, seq: u32, flags: u8, data: &[u8]| {
                let mut t = Vec::new();
                t.extend_from_slice(&sp.to_be_bytes());
                t.extend_from_slice(&dp.to_be_bytes());
                t.extend_from_slice(&seq.to_be_bytes());
                t.extend_from_slice(&[0, 0, 0, 0, 0x50, flags, 1, 0, 0, 0, 0, 0]);
                t.extend_from_slice(data);
                let total = (20 + t.len()) as u16;
                let mut p = vec![0x45, 0];
                p.extend_from_slice(&total.to_be_bytes());
                p.extend_from_slice(&[0, 0, 0, 0, 64, 6, 0, 0]);
                p.extend_from_slice(&src);
                p.extend_from_slice(&dst);
                p.extend_from_slice(&t);
                (0u64, 101u32, p)
            };
        let (a, b) = ([10, 0, 0, 2], [10, 0, 0, 1]);
        let frames = vec![
            ip(b, a, 1000, 80, 99, 0x02, b""),
            ip(b, a, 1000, 80, 100, 0x18, b"ab"),
            ip(b, a, 1000, 80, 100, 0x18, b"ab"),
            ip(b, a, 1000, 80, 101, 0x18, b"bcd"),
            ip(a, b, 80, 1000, 5000, 0x18, b"answer"),
        ];
        let flows = capture_flows(&frames, &mut BTreeMap::new());
        assert_eq!(flows.len(), 1);
        let (k, client_is_a, script, _, _) = &flows[0];
        let client = if *client_is_a { k.a } else { k.b };
        assert_eq!(
            client,
            ("10.0.0.1".parse().unwrap(), 1000),
            "the SYN's sender"
        );
        assert_eq!(
            script,
            &vec![(true, b"abcd".to_vec()), (false, b"answer".to_vec())]
        );
    }
}
