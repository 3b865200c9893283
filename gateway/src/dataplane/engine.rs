//! The dataplane engine: frames in, a disposition per frame out (to the Internet side, to
//! the inspection engine, or dropped), and a record per finished flow.
//!
//! The hot path allocates nothing per packet: a decided flow costs a parse, a hash probe
//! and a few counter updates. Classification runs only until a flow is decided.

use super::classify::{Detection, Step};
use super::flow::{Cold, Flow, FlowKey, FlowTable, Hot, Verdict};
use super::packet::{self, Addr, Packet, Skip, TCP_FIN, TCP_RST};
use super::policy::Policy;
use super::sigs::{Class, Signatures};

/// Where a frame went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Forwarded towards its destination (the Internet side for a User's packets).
    Forward,
    /// Diverted to the TLS inspection engine.
    Inspect,
    Drop,
    /// Not an IP packet the dataplane keys flows on: counted, forwarded untouched (ARP and
    /// the like) or dropped (malformed). See [`Stats::skipped`].
    Skipped(Skip),
}

#[derive(Debug, Clone, Copy)]
pub struct Config {
    pub max_flows: usize,
    pub tcp_idle_us: u64,
    pub tcp_closed_us: u64,
    pub udp_idle_us: u64,
    /// Keep a record of every finished flow (replay, scenarios); off for benchmarks.
    pub records: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_flows: 1 << 20,
            tcp_idle_us: 300_000_000,
            tcp_closed_us: 10_000_000,
            udp_idle_us: 120_000_000,
            records: true,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub frames: u64,
    pub packets: u64,
    /// Bytes of the frames as captured.
    pub bytes: u64,
    pub flows: u64,
    pub skipped: [u64; 5],
    /// First fragments seen (later fragments are counted under `skipped`).
    pub fragments: u64,
    /// New flows refused because the table was full; their packets are dropped.
    pub table_full: u64,
    pub expired: u64,
    pub uncatalogued_flows: u64,
    /// Flows from uncatalogued sources left out of the next notice because
    /// [`MAX_UNCATALOGUED_SEEN`] sources were already remembered.
    pub uncatalogued_unremembered: u64,
}

/// A finished (or, at the end of a replay, still open) flow.
#[derive(Debug, Clone)]
pub struct FlowRecord {
    pub client: Addr,
    pub server: Addr,
    pub cport: u16,
    pub sport: u16,
    pub proto: u8,
    pub class: Class,
    pub app: &'static str,
    pub category: Option<String>,
    pub name: Option<Box<str>>,
    pub sni: bool,
    pub verdict: Verdict,
    pub clause: &'static str,
    pub reason: &'static str,
    pub packets: [u32; 2],
    pub bytes: [u64; 2],
    /// Packets forwarded, inspected, dropped.
    pub out: [u32; 3],
    pub first_us: u64,
    pub last_us: u64,
    pub uncatalogued: bool,
}

pub struct Engine {
    pub sigs: Signatures,
    pub policy: Policy,
    pub cfg: Config,
    table: FlowTable,
    pub stats: Stats,
    records: Vec<FlowRecord>,
    now_us: u64,
    uncatalogued_seen: std::collections::BTreeSet<Addr>,
}

/// The most uncatalogued sources the engine remembers for the STS's next notice (ugia-13);
/// later ones are counted in [`Stats::uncatalogued_unremembered`].
pub const MAX_UNCATALOGUED_SEEN: usize = 1 << 16;

/// Frames handed to [`Engine::process_batch`] at once: enough independent flow lookups in
/// flight to hide memory latency.
pub const BATCH: usize = 32;

impl Engine {
    pub fn new(sigs: Signatures, policy: Policy, cfg: Config) -> Engine {
        Engine {
            table: FlowTable::new(cfg.max_flows),
            sigs,
            policy,
            cfg,
            stats: Stats::default(),
            records: Vec::new(),
            now_us: 0,
            uncatalogued_seen: Default::default(),
        }
    }

    /// Back to a new engine's state with the same signatures, policy and configuration,
    /// keeping the flow table's memory: a replay loop classifies every flow again without
    /// a second table allocated beside the first (the policy is never changed by traffic).
    pub fn reset(&mut self) {
        self.table.clear();
        self.stats = Stats::default();
        self.records.clear();
        self.now_us = 0;
        self.uncatalogued_seen.clear();
    }

    /// The sources outside the IP-address catalogue that flows came from and that are still
    /// outside it: what the STS's notice to the operator lists (ugia-13).
    pub fn uncatalogued_sources(&self) -> Vec<Addr> {
        self.uncatalogued_seen
            .iter()
            .filter(|a| self.policy.uncatalogued(a))
            .copied()
            .collect()
    }

    /// What the engine holds of the flow from `client` to `server` (protocol `proto`):
    /// its verdict (`None` while undecided) and the name it read (SNI, Host). `None` when
    /// no such flow is in the table. A terminating proxy asks this once the engine has seen
    /// the client's opening bytes.
    pub fn flow_verdict(
        &mut self,
        client: std::net::SocketAddr,
        server: std::net::SocketAddr,
        proto: u8,
    ) -> Option<(Option<Verdict>, Option<String>)> {
        let (c, s) = (packet::from_ip(client.ip()), packet::from_ip(server.ip()));
        let key = if (c, client.port()) <= (s, server.port()) {
            FlowKey {
                a: c,
                b: s,
                pa: client.port(),
                pb: server.port(),
                proto,
            }
        } else {
            FlowKey {
                a: s,
                b: c,
                pa: server.port(),
                pb: client.port(),
                proto,
            }
        };
        let (i, found) = self.table.find(&key);
        if !found {
            return None;
        }
        let (h, c) = self.table.get_mut(i);
        Some((h.verdict(), c.name.as_deref().map(str::to_string)))
    }

    pub fn table(&self) -> &FlowTable {
        &self.table
    }

    /// One frame of link type `link`, captured at `ts_us` (microseconds).
    #[inline]
    pub fn process(&mut self, ts_us: u64, link: u32, frame: &[u8]) -> Disposition {
        self.stats.frames += 1;
        self.stats.bytes += frame.len() as u64;
        let p = match packet::parse(link, frame) {
            Ok(p) => p,
            Err(s) => {
                self.stats.skipped[s as usize] += 1;
                return Disposition::Skipped(s);
            }
        };
        let (key, a_to_b) = FlowKey::of(&p);
        self.packet(ts_us, &p, key, a_to_b, key.hash(), frame.len())
    }

    /// Frames in a batch (at most [`BATCH`]): parse and hash all, fetch their flows' table
    /// lines together, then process each. Same results as [`process`] frame by frame.
    pub fn process_batch(&mut self, frames: &[(u64, u32, &[u8])], out: &mut [Disposition]) {
        let n = frames.len().min(BATCH).min(out.len());
        let mut parsed: [Option<(Packet<'_>, FlowKey, bool, u64)>; BATCH] = [None; BATCH];
        for (i, (_, link, f)) in frames[..n].iter().enumerate() {
            match packet::parse(*link, f) {
                Ok(p) => {
                    let (key, a_to_b) = FlowKey::of(&p);
                    parsed[i] = Some((p, key, a_to_b, key.hash()));
                }
                Err(s) => {
                    self.stats.skipped[s as usize] += 1;
                    out[i] = Disposition::Skipped(s);
                }
            }
        }
        // independent loads: the core keeps many cache misses in flight at once
        let mut acc = 0u64;
        for x in parsed[..n].iter().flatten() {
            acc ^= self.table.touch(x.3);
        }
        std::hint::black_box(acc);
        for (i, x) in parsed[..n].iter().enumerate() {
            let (ts, _, f) = frames[i];
            self.stats.frames += 1;
            self.stats.bytes += f.len() as u64;
            if let Some((p, key, a_to_b, h)) = x {
                out[i] = self.packet(ts, p, *key, *a_to_b, *h, f.len());
            }
        }
    }

    #[inline]
    fn packet(
        &mut self,
        ts_us: u64,
        p: &Packet<'_>,
        key: FlowKey,
        a_to_b: bool,
        hash: u64,
        len: usize,
    ) -> Disposition {
        self.now_us = self.now_us.max(ts_us);
        self.stats.packets += 1;
        if p.fragment {
            self.stats.fragments += 1;
        }
        let (mut i, found) = self.table.find_hashed(&key, hash);
        if found {
            let cfg = self.cfg;
            let h = self.table.hot_mut(i);
            if !idle_out(&cfg, h, ts_us) {
                // the fast path: a known flow
                let c2s = a_to_b == h.client_is_a;
                h.pkts[usize::from(!c2s)] += 1;
                h.last_us = ts_us;
                if p.tcp_flags & (TCP_FIN | TCP_RST) != 0 {
                    h.fin = true;
                }
                if h.decided() && !cfg.records {
                    return disposition(h.verdict());
                }
                return self.slow(i, p, c2s, ts_us, len);
            }
            // the same 5-tuple after its idle timeout is a new flow
            if let Some(old) = self.table.remove(i) {
                self.stats.expired += 1;
                if self.cfg.records {
                    self.records.push(record(old, &self.sigs, &self.policy));
                }
            }
        }
        // a new flow; amortised expiry keeps the table clean
        self.expire(16);
        if self.table.is_full() {
            self.expire(self.table.slots());
            if self.table.is_full() {
                self.stats.table_full += 1;
                return Disposition::Drop;
            }
        }
        i = self.table.find_hashed(&key, hash).0;
        self.stats.flows += 1;
        let (client, server) = if a_to_b {
            (key.a, key.b)
        } else {
            (key.b, key.a)
        };
        let uncatalogued = self.policy.uncatalogued(&client);
        if uncatalogued {
            self.stats.uncatalogued_flows += 1;
            if self.uncatalogued_seen.len() < MAX_UNCATALOGUED_SEEN {
                self.uncatalogued_seen.insert(client);
            } else if !self.uncatalogued_seen.contains(&client) {
                self.stats.uncatalogued_unremembered += 1;
            }
        }
        let pre = self.policy.pre(&client, &server, ts_us, &self.sigs);
        let (h, c) = self.table.insert_at(
            i,
            Hot {
                key,
                last_us: ts_us,
                client_is_a: a_to_b,
                pkts: [1, 0],
                fin: p.tcp_flags & (TCP_FIN | TCP_RST) != 0,
                ..Hot::default()
            },
            Cold {
                first_us: ts_us,
                flagged_uncatalogued: uncatalogued,
                ..Cold::default()
            },
        );
        if let Some((v, clause, reason, class)) = pre {
            h.set_verdict(v);
            c.clause = clause;
            c.reason = reason;
            c.class = class;
            c.app = "address";
        }
        self.slow(i, p, true, ts_us, len)
    }

    /// A packet of an undecided flow, or of any flow when records are kept.
    fn slow(&mut self, i: usize, p: &Packet<'_>, c2s: bool, ts_us: u64, len: usize) -> Disposition {
        let (h, c) = self.table.get_mut(i);
        c.bytes[usize::from(!c2s)] += len as u64;
        if !h.decided() {
            if let Step::Done(det) = c.dpi.inspect(p, c2s, &self.sigs) {
                settle(h, c, det, &self.policy, &self.sigs, ts_us);
                c.pkts_at_decision = h.pkts[0] + h.pkts[1] - 1;
            } else {
                c.early[0] += 1;
                return Disposition::Forward;
            }
        }
        disposition(h.verdict())
    }

    fn expire(&mut self, n: usize) {
        let now = self.now_us;
        let cfg = self.cfg;
        let records = self.cfg.records;
        let (out, stats, sigs, policy) =
            (&mut self.records, &mut self.stats, &self.sigs, &self.policy);
        self.table
            .sweep(n, move |h| idle_out(&cfg, h, now), &mut |f| {
                stats.expired += 1;
                if records {
                    out.push(record(f, sigs, policy));
                }
            });
    }

    /// Ends the replay: every open flow becomes a record (undecided ones as what the
    /// classifier has seen so far). Returns all records, in order of first packet.
    pub fn finish(&mut self) -> Vec<FlowRecord> {
        let (out, sigs, policy) = (&mut self.records, &self.sigs, &self.policy);
        self.table.drain(&mut |f| out.push(record(f, sigs, policy)));
        let mut r = std::mem::take(&mut self.records);
        r.sort_by_key(|a| (a.first_us, a.client, a.cport, a.server, a.sport, a.proto));
        r
    }
}

#[inline]
fn disposition(v: Option<Verdict>) -> Disposition {
    match v {
        None | Some(Verdict::Allow) | Some(Verdict::PassThrough) => Disposition::Forward,
        Some(Verdict::Inspect) => Disposition::Inspect,
        Some(Verdict::Block) => Disposition::Drop,
    }
}

fn settle(
    h: &mut Hot,
    c: &mut Cold,
    det: Detection,
    policy: &Policy,
    sigs: &Signatures,
    now_us: u64,
) {
    let (client, server, dport) = if h.client_is_a {
        (h.key.a, h.key.b, h.key.pb)
    } else {
        (h.key.b, h.key.a, h.key.pa)
    };
    let (v, clause, reason) =
        policy.decide(&client, &server, dport, h.key.proto, &det, now_us, sigs);
    h.set_verdict(v);
    c.clause = clause;
    c.reason = reason;
    c.class = det.class;
    c.app = det.app;
    c.category = det.category;
    c.name = det.name;
    c.sni = det.sni;
    c.tls = det.tls;
}

#[inline]
fn idle_out(cfg: &Config, h: &Hot, now: u64) -> bool {
    let idle = match (h.key.proto, h.fin) {
        (packet::PROTO_TCP, true) => cfg.tcp_closed_us,
        (packet::PROTO_TCP, false) => cfg.tcp_idle_us,
        _ => cfg.udp_idle_us,
    };
    now.saturating_sub(h.last_us) > idle
}

fn record(mut f: Flow, sigs: &Signatures, policy: &Policy) -> FlowRecord {
    if !f.hot.decided() {
        let det = f.cold.dpi.give_up();
        let last = f.hot.last_us;
        settle(&mut f.hot, &mut f.cold, det, policy, sigs, last);
        f.cold.pkts_at_decision = f.hot.pkts[0] + f.hot.pkts[1];
    }
    let out = f.out();
    let (h, c) = (f.hot, f.cold);
    let (client, server, cport, sport) = if h.client_is_a {
        (h.key.a, h.key.b, h.key.pa, h.key.pb)
    } else {
        (h.key.b, h.key.a, h.key.pb, h.key.pa)
    };
    FlowRecord {
        client,
        server,
        cport,
        sport,
        proto: h.key.proto,
        class: c.class.unwrap_or(Class::UnknownApplication),
        app: c.app,
        category: c.category.map(|x| sigs.category_name(x).to_string()),
        name: c.name,
        sni: c.sni,
        verdict: h.verdict().unwrap_or(Verdict::Allow),
        clause: c.clause,
        reason: c.reason,
        packets: h.pkts,
        bytes: c.bytes,
        out,
        first_us: c.first_us,
        last_us: h.last_us,
        uncatalogued: c.flagged_uncatalogued,
    }
}
