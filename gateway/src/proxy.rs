//! The reference gateway's transparent terminating proxy for TCP to port 443, on smoltcp.
//!
//! The proxy answers the inside client as if it were the origin (one stack facing inside,
//! any-IP, standing for every origin address), holds the client's opening bytes while the
//! dataplane's engine classifies the flow from the same frames, and then, by the policy's
//! verdict: blocked → resets the client (nothing reaches outside); pass → [`Splice`] (bytes
//! cross unchanged); inspect → the relay the [`RelayFactory`] builds. It opens its own
//! connection to the origin from the client's address and port (a second stack facing
//! outside) when the relay first has bytes for the origin, and moves bytes through the relay
//! both ways.

use std::collections::VecDeque;
use std::net::SocketAddr;

use jiff::{SignedDuration, Timestamp};
use qaqpa_sim::ipstack::{self, IpStack};
use qaqpa_sim::stream::StreamRelay;
use smoltcp::iface::SocketHandle;
use smoltcp::socket::tcp::State;

/// The port the proxy terminates.
pub const HTTPS: u16 = 443;

/// How long the proxy holds a client's bytes waiting for the engine's verdict; a session
/// still undecided then is reset (nothing the policy could judge reaches outside).
pub const DECISION_PATIENCE: SignedDuration = SignedDuration::from_secs(10);

/// What the gateway knows of a session when its policy says inspect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterceptInfo {
    /// The server name the client's ClientHello asked for, as the engine read it.
    pub sni: Option<String>,
    /// The inside client and the origin it connected to.
    pub client: SocketAddr,
    pub server: SocketAddr,
    /// When the verdict was reached.
    pub at: Timestamp,
}

/// Builds the relay for a session the policy inspects. See
/// [`crate::device::ReferenceDevice::with_inspection`] for how one is plugged in.
pub type RelayFactory = Box<dyn FnMut(&InterceptInfo) -> Box<dyn StreamRelay>>;

/// The pass-through relay: bytes cross unchanged both ways (ugia-20's exempt sites, and
/// every session the policy lets through uninspected).
#[derive(Debug, Default)]
pub struct Splice {
    to_client: Vec<u8>,
    to_origin: Vec<u8>,
}

impl StreamRelay for Splice {
    fn from_client(&mut self, _at: Timestamp, data: &[u8]) {
        self.to_origin.extend_from_slice(data);
    }
    fn from_origin(&mut self, _at: Timestamp, data: &[u8]) {
        self.to_client.extend_from_slice(data);
    }
    fn to_client(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.to_client)
    }
    fn to_origin(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.to_origin)
    }
    fn failed(&self) -> Option<String> {
        None
    }
}

/// The placeholder inspection until the TLS bump is plugged in: it splices. Named so that
/// nobody mistakes it for inspection: an auditor's ugia-20 oracle sees identical bytes on
/// both ports and fails the session as uninspected, as it must.
pub fn placeholder_inspection() -> RelayFactory {
    Box::new(|_: &InterceptInfo| Box::new(Splice::default()) as Box<dyn StreamRelay>)
}

/// What the policy said of a session, as the proxy acts on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Block,
    Pass,
    Inspect,
}

/// How the policy is asked: for the session from `client` to `server`, with the client's
/// stream bytes the proxy now shows the classifier (none when it has nothing new to show);
/// the answer is the verdict (`None` while undecided) and the name read.
pub type Decide<'a> =
    dyn FnMut(SocketAddr, SocketAddr, Option<&[u8]>) -> Option<(Decision, Option<String>)> + 'a;

/// Whether the client's opening bytes are ready to show the classifier: a TLS handshake once
/// its first handshake message (the ClientHello) is complete, across as many records and
/// segments as it came in (up to [`crate::dataplane::classify::MAX_HELLO`]); anything else
/// at once, as it is.
pub fn opening_ready(held: &[u8]) -> bool {
    if held.is_empty() {
        return false;
    }
    if held[0] != 0x16 || held.len() >= crate::dataplane::classify::MAX_HELLO {
        return true;
    }
    let mut hs: Vec<u8> = Vec::new();
    let mut i = 0;
    while i + 5 <= held.len() {
        if held[i] != 0x16 {
            return true; // a record of another type before the hello ended: show it
        }
        let len = usize::from(u16::from_be_bytes([held[i + 3], held[i + 4]]));
        if i + 5 + len > held.len() {
            return false;
        }
        hs.extend_from_slice(&held[i + 5..i + 5 + len]);
        i += 5 + len;
        if hs.len() >= 4 {
            let need =
                4 + (usize::from(hs[1]) << 16 | usize::from(hs[2]) << 8 | usize::from(hs[3]));
            if hs.len() >= need {
                return true;
            }
        }
    }
    false
}

enum Phase {
    /// Holding the client's bytes until the engine decides; how many it was shown.
    Deciding(Vec<u8>, usize),
    Relaying(Box<dyn StreamRelay>),
    Over,
}

struct Session {
    client: SocketAddr,
    server: SocketAddr,
    /// The inside stack's socket (the proxy as the origin).
    inner: SocketHandle,
    /// The outside stack's socket (the proxy as the client), once opened.
    outer: Option<SocketHandle>,
    phase: Phase,
    to_client: VecDeque<u8>,
    to_origin: VecDeque<u8>,
    since: Timestamp,
    origin_closed: bool,
    client_closed: bool,
}

/// What the proxy counted, for the gateway's own log and the tests (never the trace).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProxyCounters {
    pub sessions: u64,
    pub blocked: u64,
    pub passed: u64,
    pub inspected: u64,
    pub undecided: u64,
    pub relay_failures: u64,
}

pub struct Proxy {
    pub inside: IpStack,
    pub outside: IpStack,
    sessions: Vec<Session>,
    pub counters: ProxyCounters,
}

impl Proxy {
    pub fn new(seed: u64, epoch: Timestamp) -> Proxy {
        Proxy {
            inside: IpStack::new(qaqpa_sim::seed::derive(seed, "proxy-inside"), epoch),
            outside: IpStack::new(qaqpa_sim::seed::derive(seed, "proxy-outside"), epoch),
            sessions: Vec::new(),
            counters: ProxyCounters::default(),
        }
    }

    /// Whether a packet from outside belongs to one of the proxy's origin connections.
    pub fn owns_outside(&self, src: SocketAddr, dst: SocketAddr) -> bool {
        self.sessions
            .iter()
            .any(|s| s.outer.is_some() && s.server == src && s.client == dst)
    }

    /// A packet of a client's connection to port 443 from inside; a SYN of a new
    /// connection gets a fresh listening socket standing for the origin.
    pub fn from_inside(&mut self, at: Timestamp, h: &ipstack::Headers<'_>, ip: &[u8]) {
        let client = SocketAddr::new(h.src, h.sport);
        let server = SocketAddr::new(h.dst, h.dport);
        let known = self
            .sessions
            .iter()
            .any(|s| s.client == client && s.server == server && !matches!(s.phase, Phase::Over));
        if !known
            && h.flags & (ipstack::SYN | ipstack::ACK) == ipstack::SYN
            && let Ok(inner) = self.inside.listen(server)
        {
            {
                self.counters.sessions += 1;
                self.sessions.push(Session {
                    client,
                    server,
                    inner,
                    outer: None,
                    phase: Phase::Deciding(Vec::new(), 0),
                    to_client: VecDeque::new(),
                    to_origin: VecDeque::new(),
                    since: at,
                    origin_closed: false,
                    client_closed: false,
                });
            }
        }
        self.inside.input(ip.to_vec());
    }

    pub fn from_outside(&mut self, ip: &[u8]) {
        self.outside.input(ip.to_vec());
    }

    /// When the proxy next needs time to pass.
    pub fn next_wake(&mut self, at: Timestamp) -> Option<Timestamp> {
        let mut t = [self.inside.next_wake(at), self.outside.next_wake(at)]
            .into_iter()
            .flatten()
            .min();
        for s in &self.sessions {
            if matches!(s.phase, Phase::Deciding(..)) {
                let d = s.since + DECISION_PATIENCE;
                t = Some(t.map_or(d, |x| x.min(d)));
            }
        }
        t
    }

    /// Runs the proxy at `at`: `decide` gives the policy's verdict for a session (`None`
    /// while the engine is undecided) and the name it read; `inspect` builds the relay for
    /// an inspected one. Returns the IP packets to send inside and outside.
    pub fn poll(
        &mut self,
        at: Timestamp,
        decide: &mut Decide<'_>,
        inspect: &mut RelayFactory,
    ) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
        let mut to_inside = Vec::new();
        let mut to_outside = Vec::new();
        for _ in 0..64 {
            let a = self.inside.poll(at);
            let b = self.outside.poll(at);
            let moved = !a.is_empty() || !b.is_empty();
            to_inside.extend(a);
            to_outside.extend(b);
            let changed = self.drive(at, decide, inspect);
            if !moved && !changed {
                break;
            }
        }
        self.sessions.retain(|s| !matches!(s.phase, Phase::Over));
        (to_inside, to_outside)
    }

    fn drive(
        &mut self,
        at: Timestamp,
        decide: &mut Decide<'_>,
        inspect: &mut RelayFactory,
    ) -> bool {
        let mut changed = false;
        let mut buf = vec![0u8; 16 * 1024];
        for s in &mut self.sessions {
            if matches!(s.phase, Phase::Over) {
                continue;
            }
            // the client's side: read what it sent
            let inner = self.inside.tcp(s.inner);
            let mut got = Vec::new();
            while inner.can_recv() {
                match inner.recv_slice(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            }
            let client_state = inner.state();
            if !got.is_empty() {
                changed = true;
            }
            // a client that reset or gave up before anything was decided: the session ends
            if matches!(client_state, State::Closed) && !matches!(s.phase, Phase::Relaying(_)) {
                s.phase = Phase::Over;
                self.inside.remove(s.inner);
                changed = true;
                continue;
            }
            if let Phase::Deciding(held, shown) = &mut s.phase {
                held.extend_from_slice(&got);
                got.clear();
                let show = (*shown < held.len() && (*shown > 0 || opening_ready(held)))
                    .then(|| &held[*shown..]);
                if show.is_some() {
                    *shown = held.len();
                }
                let verdict = decide(s.client, s.server, show);
                let verdict = match verdict {
                    None if at >= s.since + DECISION_PATIENCE => {
                        self.counters.undecided += 1;
                        Some((Decision::Block, None))
                    }
                    v => v,
                };
                match verdict {
                    None => continue,
                    Some((Decision::Block, _)) => {
                        self.counters.blocked += 1;
                        self.inside.tcp(s.inner).abort();
                        s.phase = Phase::Over;
                        changed = true;
                        continue;
                    }
                    Some((d, sni)) => {
                        let mut relay: Box<dyn StreamRelay> = if d == Decision::Inspect {
                            self.counters.inspected += 1;
                            inspect(&InterceptInfo {
                                sni,
                                client: s.client,
                                server: s.server,
                                at,
                            })
                        } else {
                            self.counters.passed += 1;
                            Box::new(Splice::default())
                        };
                        let held = std::mem::take(held);
                        if !held.is_empty() {
                            relay.from_client(at, &held);
                        }
                        s.phase = Phase::Relaying(relay);
                        changed = true;
                    }
                }
            }
            let Phase::Relaying(relay) = &mut s.phase else {
                continue;
            };
            if !got.is_empty() {
                relay.from_client(at, &got);
            }
            // the origin's side
            if let Some(o) = s.outer {
                let outer = self.outside.tcp(o);
                let mut from = Vec::new();
                while outer.can_recv() {
                    match outer.recv_slice(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => from.extend_from_slice(&buf[..n]),
                    }
                }
                if !from.is_empty() {
                    changed = true;
                    relay.from_origin(at, &from);
                }
            }
            s.to_origin.extend(relay.to_origin());
            s.to_client.extend(relay.to_client());
            if let Some(why) = relay.failed() {
                let _ = why; // the gateway's own log; the harness sees the resets
                self.counters.relay_failures += 1;
                self.inside.tcp(s.inner).abort();
                if let Some(o) = s.outer {
                    self.outside.tcp(o).abort();
                }
                s.phase = Phase::Over;
                changed = true;
                continue;
            }
            if s.outer.is_none() && !s.to_origin.is_empty() {
                match self.outside.connect(s.client, s.server) {
                    Ok(h) => s.outer = Some(h),
                    Err(_) => {
                        self.inside.tcp(s.inner).abort();
                        s.phase = Phase::Over;
                        continue;
                    }
                }
                changed = true;
            }
            changed |= flush(self.inside.tcp(s.inner), &mut s.to_client);
            if let Some(o) = s.outer {
                changed |= flush(self.outside.tcp(o), &mut s.to_origin);
            }
            // closes and resets cross over
            let inner = self.inside.tcp(s.inner);
            let client_done = !inner.may_recv() && inner.state() != State::SynReceived;
            let client_gone = inner.state() == State::Closed;
            let (origin_done, origin_gone) = match s.outer {
                Some(o) => {
                    let outer = self.outside.tcp(o);
                    (
                        !outer.may_recv()
                            && !matches!(outer.state(), State::SynSent | State::SynReceived),
                        outer.state() == State::Closed,
                    )
                }
                None => (false, false),
            };
            if client_gone && !s.client_closed {
                // the client reset (or its side timed out): so does the origin's
                if let Some(o) = s.outer {
                    self.outside.tcp(o).abort();
                }
                s.phase = Phase::Over;
                changed = true;
                continue;
            }
            if origin_gone && !s.origin_closed {
                self.inside.tcp(s.inner).abort();
                s.phase = Phase::Over;
                changed = true;
                continue;
            }
            if client_done && !s.client_closed && s.to_origin.is_empty() {
                s.client_closed = true;
                if let Some(o) = s.outer {
                    self.outside.tcp(o).close();
                }
                changed = true;
            }
            if origin_done && !s.origin_closed && s.to_client.is_empty() {
                s.origin_closed = true;
                self.inside.tcp(s.inner).close();
                changed = true;
            }
            if s.client_closed && s.origin_closed {
                let a = self.inside.tcp(s.inner).state();
                let b = s.outer.map(|o| self.outside.tcp(o).state());
                if matches!(a, State::Closed | State::TimeWait)
                    && b.is_none_or(|b| matches!(b, State::Closed | State::TimeWait))
                {
                    s.phase = Phase::Over;
                }
            }
        }
        changed
    }
}

fn flush(sock: &mut smoltcp::socket::tcp::Socket<'static>, q: &mut VecDeque<u8>) -> bool {
    if q.is_empty() || !sock.can_send() {
        return false;
    }
    let (a, _) = q.as_slices();
    match sock.send_slice(a) {
        Ok(n) if n > 0 => {
            q.drain(..n);
            true
        }
        _ => false,
    }
}
