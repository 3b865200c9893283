//! The harness side of the packet path: a `replay` step offers a User network's traffic
//! (corpus captures, or flows the scenario synthesises) to the target's packet gateway,
//! and the taps record, flow by flow, where its frames left. What a flow IS comes from the
//! third party's labels (nDPI's `.flows.jsonl` beside each capture) or from the scenario,
//! never from the gateway under test. A `policy` step hands the STS's acts to the gateway.
//!
//! The harness keys flows with its own small parser, independent of any gateway's.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use jiff::{SignedDuration, Timestamp};
use qaqpa_sim::ndpi::{NdpiFlow, endpoint};
use qaqpa_sim::packetnet::{Egress, PacketGateway, PolicyAct};
use qaqpa_sim::trace::FlowSeen;
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
    /// How many frames of a flow a gateway may forward while it classifies it.
    #[serde(default = "default_window")]
    pub window: u64,
}

fn default_window() -> u64 {
    10
}

/// A flow the harness synthesises: a handshake of the named kind, then data.
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
    #[serde(default = "default_packets")]
    pub packets: u32,
}

fn default_packets() -> u32 {
    24
}

/// The most frames one synthetic flow may have: enough to show a block well beyond any
/// classification window, few enough that a typo cannot stall a run.
pub const MAX_PACKETS: u32 = 10_000;

pub const KINDS: &[&str] = &[
    "tls",
    "http",
    "wireguard",
    "ssh",
    "bittorrent",
    "opaque",
    "opaque-udp",
];

fn udp_kind(kind: &str) -> bool {
    matches!(kind, "wireguard" | "opaque-udp")
}

impl ReplaySpec {
    pub fn validate(&self) -> Result<(), String> {
        if self.captures.is_empty() && self.flows.is_empty() {
            return Err("a replay needs `captures` or `flows`".into());
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
            if f.kind == "tls" && f.name.is_none() {
                return Err("a tls flow needs its `name` (the SNI)".into());
            }
            if f.packets > MAX_PACKETS {
                return Err(format!(
                    "flow {} → {}: packets is {}, expected at most {MAX_PACKETS}",
                    f.src, f.dst, f.packets
                ));
            }
        }
        if self.window == 0 {
            return Err("window must be at least 1 frame".into());
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

fn frame_key(link: u32, f: &[u8]) -> Option<(Ep, Ep, u8)> {
    let be = |b: &[u8], i: usize| -> Option<u16> {
        Some(u16::from_be_bytes([*b.get(i)?, *b.get(i + 1)?]))
    };
    let mut ip = match link {
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
    let (src, dst, mut proto);
    match ip.first()? >> 4 {
        4 => {
            let ihl = usize::from(ip.first()? & 15) * 4;
            if be(ip, 6)? & 0x1fff != 0 {
                return None; // a later fragment: no ports
            }
            proto = *ip.get(9)?;
            let s: [u8; 4] = ip.get(12..16)?.try_into().ok()?;
            let d: [u8; 4] = ip.get(16..20)?.try_into().ok()?;
            src = IpAddr::from(s);
            dst = IpAddr::from(d);
            ip = ip.get(ihl..)?;
        }
        6 => {
            proto = *ip.get(6)?;
            let s: [u8; 16] = ip.get(8..24)?.try_into().ok()?;
            let d: [u8; 16] = ip.get(24..40)?.try_into().ok()?;
            src = IpAddr::from(s);
            dst = IpAddr::from(d);
            ip = ip.get(40..)?;
            for _ in 0..4 {
                if matches!(proto, 0 | 43 | 60 | 44) {
                    let len = if proto == 44 {
                        8
                    } else {
                        (usize::from(*ip.get(1)?) + 1) * 8
                    };
                    proto = *ip.first()?;
                    ip = ip.get(len..)?;
                }
            }
        }
        _ => return None,
    }
    let (sp, dp) = if proto == 6 || proto == 17 {
        (be(ip, 0)?, be(ip, 2)?)
    } else {
        (0, 0)
    };
    Some(((src, sp), (dst, dp), proto))
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
    class: Option<String>,
    app: Option<String>,
    category: Option<String>,
    tls: bool,
    sni: Option<String>,
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
                class: f.class().map(str::to_string),
                app: Some(format!("ndpi:{}", f.proto)),
                category: None,
                tls,
                sni: f.sni.clone().filter(|_| tls),
            },
        );
    }
    Ok(out)
}

#[derive(Default)]
struct Tally {
    src: Option<Ep>,
    dst: Option<Ep>,
    offered: u64,
    forwarded: u64,
    inspected: u64,
    dropped: u64,
    after: u64,
    first: Option<Timestamp>,
    last: Option<Timestamp>,
}

impl Tally {
    fn count(&mut self, at: Timestamp, e: Egress, window: u64, src: Ep, dst: Ep) {
        if self.src.is_none() {
            self.src = Some(src);
            self.dst = Some(dst);
            self.first = Some(at);
        }
        self.last = Some(at);
        self.offered += 1;
        match e {
            Egress::Forwarded => self.forwarded += 1,
            Egress::Inspected => self.inspected += 1,
            Egress::Dropped => self.dropped += 1,
        }
        if e != Egress::Dropped && self.offered > window {
            self.after += 1;
        }
    }
}

fn seen(
    source: &str,
    user: &str,
    proto: u8,
    t: &Tally,
    truth: Option<&Truth>,
    window: u64,
) -> FlowSeen {
    let (s, d) = (t.src.expect("counted"), t.dst.expect("counted"));
    FlowSeen {
        source: source.to_string(),
        user: user.to_string(),
        proto: proto_name(proto),
        src: s.0.to_string(),
        sport: s.1,
        dst: d.0.to_string(),
        dport: d.1,
        truth_class: truth.and_then(|x| x.class.clone()),
        truth_app: truth.and_then(|x| x.app.clone()),
        truth_category: truth.and_then(|x| x.category.clone()),
        tls: truth.is_some_and(|x| x.tls),
        sni: truth.and_then(|x| x.sni.clone()),
        offered: t.offered,
        forwarded: t.forwarded,
        inspected: t.inspected,
        dropped: t.dropped,
        passed_after_window: t.after,
        window,
        first: t.first.expect("counted"),
        last: t.last.expect("counted"),
    }
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

/// Plays a `policy` step: every act reaches the gateway at `now`. Returns the acts as the
/// gateway carried them out (a catalogue notice with the sources it listed).
pub fn apply(
    gw: &mut dyn PacketGateway,
    now: Timestamp,
    acts: &[PolicyAct],
) -> Result<Vec<PolicyAct>, String> {
    acts.iter().map(|a| gw.apply(now, a)).collect()
}

/// Plays a `replay` step from `now`; returns what the taps saw, flow by flow. `seed` (the
/// step's) draws what the scenario leaves open in its synthetic flows: the client's ephemeral
/// port, the initial sequence numbers, an opaque application's bytes; so each seed offers the
/// gateway other flows of the same kinds.
pub fn run(
    gw: &mut dyn PacketGateway,
    now: Timestamp,
    spec: &ReplaySpec,
    seed: u64,
) -> Result<Vec<FlowSeen>, String> {
    let mut out = Vec::new();
    let mut start = now;
    for c in &spec.captures {
        let path = corpus().join(c);
        let frames = read_capture(&path)?;
        let truth = labels(&path)?;
        let t0 = frames.first().map(|f| f.0).unwrap_or(0);
        let mut flows: BTreeMap<Key, Tally> = BTreeMap::new();
        let mut order: Vec<Key> = Vec::new();
        let mut end = start;
        for (ts, link, f) in &frames {
            let at = start + SignedDuration::from_micros(ts.saturating_sub(t0) as i64);
            end = end.max(at);
            let e = gw.offer(at, *link, f);
            if let Some((s, d, p)) = frame_key(*link, f) {
                let (k, _) = key(s, d, p);
                let t = flows.entry(k).or_insert_with(|| {
                    order.push(k);
                    Tally::default()
                });
                t.count(at, e, spec.window, s, d);
            }
        }
        for k in order {
            out.push(seen(
                c,
                &spec.user,
                k.proto,
                &flows[&k],
                truth.get(&k),
                spec.window,
            ));
        }
        start = end + SignedDuration::from_secs(1);
    }
    for (i, f) in spec.flows.iter().enumerate() {
        let variant = Variant::of(seed, i);
        let frames = synthesise(f, &variant);
        let mut t = Tally::default();
        let src: IpAddr = f
            .src
            .parse()
            .map_err(|_| format!("`{}` is not an IP address", f.src))?;
        let dst: IpAddr = f
            .dst
            .parse()
            .map_err(|_| format!("`{}` is not an IP address", f.dst))?;
        let sport = f.sport.unwrap_or(variant.sport);
        let proto = if udp_kind(&f.kind) { 17 } else { 6 };
        for (n, (to_server, frame)) in frames.iter().enumerate() {
            let at = start + SignedDuration::from_millis(10 * n as i64);
            let e = gw.offer(at, 101, frame);
            let (s, d) = if *to_server {
                ((src, sport), (dst, f.dport))
            } else {
                ((dst, f.dport), (src, sport))
            };
            t.count(at, e, spec.window, s, d);
        }
        let truth = Truth {
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
        };
        out.push(seen(
            "synthetic",
            &spec.user,
            proto,
            &t,
            Some(&truth),
            spec.window,
        ));
        start += SignedDuration::from_secs(1);
    }
    Ok(out)
}

// ---- synthetic flows: raw IP frames (link type 101) built by the harness ----

fn ip_packet(src: IpAddr, dst: IpAddr, proto: u8, l4: &[u8]) -> Vec<u8> {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let total = 20 + l4.len();
            let mut p = vec![
                0x45,
                0,
                (total >> 8) as u8,
                total as u8,
                0,
                0,
                0x40,
                0,
                64,
                proto,
                0,
                0,
            ];
            p.extend_from_slice(&s.octets());
            p.extend_from_slice(&d.octets());
            p.extend_from_slice(l4);
            p
        }
        _ => {
            let to16 = |a: IpAddr| match a {
                IpAddr::V4(v) => v.to_ipv6_mapped().octets(),
                IpAddr::V6(v) => v.octets(),
            };
            let mut p = vec![
                0x60,
                0,
                0,
                0,
                (l4.len() >> 8) as u8,
                l4.len() as u8,
                proto,
                64,
            ];
            p.extend_from_slice(&to16(src));
            p.extend_from_slice(&to16(dst));
            p.extend_from_slice(l4);
            p
        }
    }
}

fn tcp(sport: u16, dport: u16, seq: u32, ack: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut t = Vec::with_capacity(20 + payload.len());
    t.extend_from_slice(&sport.to_be_bytes());
    t.extend_from_slice(&dport.to_be_bytes());
    t.extend_from_slice(&seq.to_be_bytes());
    t.extend_from_slice(&ack.to_be_bytes());
    t.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    t.extend_from_slice(payload);
    t
}

fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let l = 8 + payload.len();
    let mut u = vec![0; 8];
    u[..2].copy_from_slice(&sport.to_be_bytes());
    u[2..4].copy_from_slice(&dport.to_be_bytes());
    u[4..6].copy_from_slice(&(l as u16).to_be_bytes());
    u.extend_from_slice(payload);
    u
}

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
    client_isn: u32,
    server_isn: u32,
    /// Seeds the opaque application's byte streams.
    stream: u64,
}

impl Variant {
    fn of(seed: u64, flow: usize) -> Variant {
        let v = qaqpa_sim::seed::derive(seed, &format!("flow-{flow}"));
        Variant {
            sport: 49152 + (v % 16384) as u16,
            client_isn: (v >> 16) as u32,
            server_isn: (v >> 32) as u32 ^ 0x5a5a_5a5a,
            stream: v,
        }
    }
}

/// The frames of one synthetic flow: (towards the server?, frame).
fn synthesise(f: &SyntheticFlow, variant: &Variant) -> Vec<(bool, Vec<u8>)> {
    let src: IpAddr = f.src.parse().expect("validated");
    let dst: IpAddr = f.dst.parse().expect("validated");
    let sport = f.sport.unwrap_or(variant.sport);
    let dport = f.dport;
    let mut out = Vec::new();
    let n = f.packets.max(4) as usize;
    if f.kind == "wireguard" {
        let mut init = vec![1, 0, 0, 0];
        init.extend((0..144).map(|k| (k * 7 + 3) as u8));
        out.push((true, ip_packet(src, dst, 17, &udp(sport, dport, &init))));
        let mut resp = vec![2, 0, 0, 0];
        resp.extend((0..88).map(|k| (k * 5 + 1) as u8));
        out.push((false, ip_packet(dst, src, 17, &udp(dport, sport, &resp))));
        for k in 2..n {
            let mut data = vec![4, 0, 0, 0];
            data.extend((0..(12 + 16 * 8)).map(|x| (x as u8).wrapping_mul(k as u8)));
            let (to, s, d, sp, dp) = if k % 2 == 0 {
                (true, src, dst, sport, dport)
            } else {
                (false, dst, src, dport, sport)
            };
            out.push((to, ip_packet(s, d, 17, &udp(sp, dp, &data))));
        }
        return out;
    }
    if f.kind == "opaque-udp" {
        let mut bytes = Opaque::new(variant.stream);
        for k in 0..n {
            let data = bytes.take(200 + (k % 5) * 100);
            let to = k % 2 == 0;
            let (s, d, sp, dp) = if to {
                (src, dst, sport, dport)
            } else {
                (dst, src, dport, sport)
            };
            out.push((to, ip_packet(s, d, 17, &udp(sp, dp, &data))));
        }
        return out;
    }
    let (c_isn, s_isn) = (variant.client_isn, variant.server_isn);
    out.push((
        true,
        ip_packet(src, dst, 6, &tcp(sport, dport, c_isn, 0, 0x02, &[])),
    ));
    out.push((
        false,
        ip_packet(dst, src, 6, &tcp(dport, sport, s_isn, c_isn + 1, 0x12, &[])),
    ));
    out.push((
        true,
        ip_packet(
            src,
            dst,
            6,
            &tcp(sport, dport, c_isn + 1, s_isn + 1, 0x10, &[]),
        ),
    ));
    let first: Vec<u8> = match f.kind.as_str() {
        "tls" => client_hello(f.name.as_deref().unwrap_or("")),
        "http" => format!(
            "GET / HTTP/1.1\r\nHost: {}\r\nUser-Agent: qaqpa\r\n\r\n",
            f.name.as_deref().unwrap_or("example.org")
        )
        .into_bytes(),
        "ssh" => b"SSH-2.0-OpenSSH_9.2\r\n".to_vec(),
        "opaque" => Opaque::new(variant.stream).take(300),
        _ => {
            let mut h = vec![19];
            h.extend_from_slice(b"BitTorrent protocol");
            h.extend_from_slice(&[0; 8]);
            h.extend_from_slice(&[0x11; 40]);
            h
        }
    };
    let mut cseq = c_isn + 1;
    let mut sseq = s_isn + 1;
    let mut opaque = Opaque::new(variant.stream ^ 0x8000);
    out.push((
        true,
        ip_packet(src, dst, 6, &tcp(sport, dport, cseq, sseq, 0x18, &first)),
    ));
    cseq += first.len() as u32;
    for k in 4..n {
        let data = if f.kind == "opaque" {
            opaque.take(600)
        } else {
            vec![(k as u8).wrapping_mul(13); 600]
        };
        if k % 2 == 0 {
            out.push((
                false,
                ip_packet(dst, src, 6, &tcp(dport, sport, sseq, cseq, 0x18, &data)),
            ));
            sseq += data.len() as u32;
        } else {
            out.push((
                true,
                ip_packet(src, dst, 6, &tcp(sport, dport, cseq, sseq, 0x18, &data)),
            ));
            cseq += data.len() as u32;
        }
    }
    out
}

/// The bytes of an application no list knows: an xorshift stream drawn from the step's seed,
/// so that one seed offers the same frames on every run and each seed other ones.
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
