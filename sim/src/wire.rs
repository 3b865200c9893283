//! The packet world: the device under test between two harness-owned sides, on the world's
//! clock. Inside stand the User networks' hosts (workstations, departmental servers), outside
//! the Internet (web origins, mail exchangers, the peers of replayed flows); each side is one
//! smoltcp stack in any-IP mode ([`crate::ipstack`]), so one stack stands for every address
//! of its side and each connection's socket is bound to the address of the host it belongs
//! to. (One interface per host would give each its own stack state for nothing the oracles
//! read, and cost a poll per host per event.) Wires run from the sides to the device's three
//! ports; a tap on each port records every frame in either direction.
//!
//! What the harness learns comes only from its own ends: what each endpoint observed (a
//! connection opened, bytes received, a reset, nothing: [`StreamSeen`]) and what the taps
//! saw. The event loop is deterministic: no wall clock, no OS randomness; the seed draws the
//! stacks' initial sequence numbers, and the caller draws ports and start times from it.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};

use jiff::{SignedDuration, Timestamp};
use smoltcp::iface::SocketHandle;
use smoltcp::socket::tcp::State;

use crate::ipstack::{self, IpStack};
use crate::packetnet::{self, PacketDevice, PolicyAct, Port, ROUTER_MAC};
use crate::stream::StreamApp;
use crate::trace::{Event, StreamSeen};

/// One end of a UDP exchange (a harness client inside or its peer outside), sans-IO like
/// [`StreamApp`].
pub trait DatagramApp {
    /// The exchange starts (the client's first datagrams; a server returns none).
    fn on_start(&mut self, at: Timestamp) -> Vec<Vec<u8>>;
    /// A datagram arrived; the datagrams to send in answer.
    fn on_datagram(&mut self, at: Timestamp, data: &[u8]) -> Vec<Vec<u8>>;
    /// The instant [`wake_at`](Self::wake_at) asked for has come.
    fn on_timer(&mut self, at: Timestamp) -> Vec<Vec<u8>>;
    fn wake_at(&self) -> Option<Timestamp>;
}

/// A flow of raw IP packets the harness replays as recorded (ESP, GRE, ICMP: protocols no
/// socket carries): the client's packets leave inside at their offsets; the server's are sent
/// from outside only once one of the client's has arrived there, in answer to it.
pub struct RawFlow {
    pub proto: u8,
    pub client: IpAddr,
    pub server: IpAddr,
    /// (offset from the start, IP packet).
    pub from_client: Vec<(SignedDuration, Vec<u8>)>,
    pub from_server: Vec<(SignedDuration, Vec<u8>)>,
}

/// A scheduled act of the harness on the world.
enum Act {
    Connect {
        local: SocketAddr,
        remote: SocketAddr,
        app: Box<dyn StreamApp>,
        label: String,
    },
    Datagrams {
        local: SocketAddr,
        remote: SocketAddr,
    },
    Raw(usize),
    RawSend {
        outside: bool,
        packet: Vec<u8>,
    },
    Carrier(Port, bool),
    Restart,
    Policy(PolicyAct),
}

/// A TCP connection one of the harness's ends holds.
struct Conn {
    handle: SocketHandle,
    outside: bool,
    local: SocketAddr,
    remote: SocketAddr,
    label: String,
    app: Box<dyn StreamApp>,
    pending: Vec<u8>,
    opened: bool,
    closing: bool,
    done: bool,
    reset: bool,
    sent: u64,
    received: u64,
    first: Timestamp,
}

impl Conn {
    /// A connection just set up on either side (an inside client's connect, an outside
    /// listener's accept): nothing sent, received or closed yet.
    fn new(
        handle: SocketHandle,
        outside: bool,
        local: SocketAddr,
        remote: SocketAddr,
        label: String,
        app: Box<dyn StreamApp>,
        first: Timestamp,
    ) -> Conn {
        Conn {
            handle,
            outside,
            local,
            remote,
            label,
            app,
            pending: Vec::new(),
            opened: false,
            closing: false,
            done: false,
            reset: false,
            sent: 0,
            received: 0,
            first,
        }
    }
}

struct UdpEnd {
    handle: SocketHandle,
    outside: bool,
    local: SocketAddr,
    /// Apps by peer; a client's single peer is its server.
    apps: BTreeMap<SocketAddr, (String, Box<dyn DatagramApp>)>,
    /// Datagrams sent and received by peer.
    counts: BTreeMap<SocketAddr, (u64, u64, u64, u64)>,
}

type ServerFactory = Box<dyn FnMut(SocketAddr) -> Option<(String, Box<dyn StreamApp>)>>;

/// A frame a tap saw: when, on which port, and the Ethernet bytes. `to_device` tells the
/// direction (the harness put it on the wire towards the device, or the device emitted it).
#[derive(Debug, Clone)]
pub struct TapFrame {
    pub at: Timestamp,
    pub port: Port,
    pub to_device: bool,
    pub frame: Vec<u8>,
}

/// What one side of the world said or saw, for the trace: (instant, probe, event).
pub type Seen = (Timestamp, String, Event);

pub struct PacketWorld {
    now: Timestamp,
    device: Box<dyn PacketDevice>,
    inside: IpStack,
    internet: IpStack,
    carrier: BTreeMap<Port, bool>,
    acts: BTreeMap<(Timestamp, u64), Act>,
    next_act: u64,
    conns: Vec<Conn>,
    listeners: BTreeMap<SocketAddr, Vec<SocketHandle>>,
    servers: BTreeMap<SocketAddr, ServerFactory>,
    udp: Vec<UdpEnd>,
    raw: Vec<(RawFlow, Timestamp, bool)>,
    /// The outside port an inside host's traffic last left on: where the Internet sends its
    /// answers (the device's active channel, as the Internet's routing learns it).
    return_port: BTreeMap<IpAddr, Port>,
    taps: Vec<TapFrame>,
    seen: Vec<Seen>,
    /// The acts on the device the harness carried out, with the device's answer.
    pub applied: Vec<(Timestamp, Result<PolicyAct, String>)>,
    /// Frames the harness's ends refused: (instant, side, why). Never a panic.
    pub refused: Vec<(Timestamp, &'static str, String)>,
    /// Told of every document the device's operator sends (a root notice), as it arrives,
    /// before the harness's ends are driven again.
    on_document: Option<Box<dyn FnMut(Timestamp, &crate::trace::Document)>>,
}

fn addr_pair(h: &ipstack::Headers<'_>) -> (SocketAddr, SocketAddr) {
    (
        SocketAddr::new(h.src, h.sport),
        SocketAddr::new(h.dst, h.dport),
    )
}

impl PacketWorld {
    /// A world starting at `start` with `device` between its sides, all carriers up.
    pub fn new(device: Box<dyn PacketDevice>, start: Timestamp, seed: u64) -> PacketWorld {
        PacketWorld {
            now: start,
            device,
            inside: IpStack::new(crate::seed::derive(seed, "inside-stack"), start),
            internet: IpStack::new(crate::seed::derive(seed, "internet-stack"), start),
            carrier: Port::ALL.into_iter().map(|p| (p, true)).collect(),
            acts: BTreeMap::new(),
            next_act: 0,
            conns: Vec::new(),
            listeners: BTreeMap::new(),
            servers: BTreeMap::new(),
            udp: Vec::new(),
            raw: Vec::new(),
            return_port: BTreeMap::new(),
            taps: Vec::new(),
            seen: Vec::new(),
            applied: Vec::new(),
            refused: Vec::new(),
            on_document: None,
        }
    }

    /// `hook` is told of each document the device's operator sends, as it arrives (the
    /// harness's operator passing a root notice on to its Users).
    pub fn on_document(&mut self, hook: Box<dyn FnMut(Timestamp, &crate::trace::Document)>) {
        self.on_document = Some(hook);
    }

    /// The documents the device's operator sent: into the addressee's inbox.
    fn take_notices(&mut self) {
        for (at, doc) in self.device.notices() {
            if let Some(h) = &mut self.on_document {
                h(at, &doc);
            }
            self.seen
                .push((at, format!("inbox:{}", doc.to), Event::Document(doc)));
        }
    }

    pub fn now(&self) -> Timestamp {
        self.now
    }

    fn schedule(&mut self, at: Timestamp, act: Act) {
        self.acts.insert((at.max(self.now), self.next_act), act);
        self.next_act += 1;
    }

    /// An outside server at `addr`: each connection to it gets the app `factory` makes for
    /// the client's address (`None`: the server resets that connection). The label names
    /// the connection in the trace.
    pub fn serve(&mut self, addr: SocketAddr, factory: ServerFactory) {
        self.servers.insert(addr, factory);
    }

    /// An inside client connects from `local` to `remote` at `at`, running `app`.
    pub fn connect_at(
        &mut self,
        at: Timestamp,
        local: SocketAddr,
        remote: SocketAddr,
        label: impl Into<String>,
        app: Box<dyn StreamApp>,
    ) {
        let label = label.into();
        self.schedule(
            at,
            Act::Connect {
                local,
                remote,
                app,
                label,
            },
        );
    }

    /// A UDP exchange: `client` inside at `local`, `server` outside at `remote`; the client
    /// starts at `at`.
    pub fn datagrams_at(
        &mut self,
        at: Timestamp,
        local: SocketAddr,
        remote: SocketAddr,
        label: impl Into<String>,
        client: Box<dyn DatagramApp>,
        server: Box<dyn DatagramApp>,
    ) -> Result<(), String> {
        let label: String = label.into();
        let srv = match self.udp.iter().position(|u| u.outside && u.local == remote) {
            Some(i) => i,
            None => {
                let handle = self.internet.bind_udp(remote)?;
                self.udp.push(UdpEnd {
                    handle,
                    outside: true,
                    local: remote,
                    apps: BTreeMap::new(),
                    counts: BTreeMap::new(),
                });
                self.udp.len() - 1
            }
        };
        self.udp[srv].apps.insert(local, (label.clone(), server));
        match self.udp.iter_mut().find(|u| !u.outside && u.local == local) {
            Some(u) => {
                u.apps.insert(remote, (label, client));
            }
            None => {
                let handle = self.inside.bind_udp(local)?;
                let mut apps = BTreeMap::new();
                apps.insert(remote, (label, client));
                self.udp.push(UdpEnd {
                    handle,
                    outside: false,
                    local,
                    apps,
                    counts: BTreeMap::new(),
                });
            }
        }
        self.schedule(at, Act::Datagrams { local, remote });
        Ok(())
    }

    /// A raw IP flow replayed from `at`.
    pub fn raw_at(&mut self, at: Timestamp, flow: RawFlow) {
        self.raw.push((flow, at, false));
        let i = self.raw.len() - 1;
        self.schedule(at, Act::Raw(i));
    }

    /// The cables' state the world starts with (the harness's, carried from an earlier
    /// episode of the scenario): the device already knows it.
    pub fn with_carrier(mut self, carrier: &BTreeMap<Port, bool>) -> Self {
        for (p, up) in carrier {
            self.carrier.insert(*p, *up);
        }
        self
    }

    /// The cables' state now.
    pub fn carrier(&self) -> &BTreeMap<Port, bool> {
        &self.carrier
    }

    /// The harness cuts (`up` false) or plugs the cable of `port` at `at`.
    pub fn carrier_at(&mut self, at: Timestamp, port: Port, up: bool) {
        self.schedule(at, Act::Carrier(port, up));
    }

    /// The device is power-cycled at `at`.
    pub fn restart_at(&mut self, at: Timestamp) {
        self.schedule(at, Act::Restart);
    }

    /// The STS applies `act` to the device at `at`.
    pub fn policy_at(&mut self, at: Timestamp, act: PolicyAct) {
        self.schedule(at, Act::Policy(act));
    }

    /// Runs the world until `end`; returns what the harness's ends saw, in time order.
    pub fn run_until(&mut self, end: Timestamp) -> Vec<Seen> {
        loop {
            let mut next: Option<Timestamp> = self.acts.keys().next().map(|k| k.0);
            let mut consider = |t: Option<Timestamp>| {
                if let Some(t) = t {
                    next = Some(next.map_or(t, |n| n.min(t)));
                }
            };
            consider(self.device.next_wake());
            consider(self.inside.next_wake(self.now));
            consider(self.internet.next_wake(self.now));
            for u in &self.udp {
                for (_, a) in u.apps.values() {
                    consider(a.wake_at());
                }
            }
            let Some(t) = next else { break };
            if t > end {
                break;
            }
            self.now = t.max(self.now);
            self.step();
        }
        self.now = self.now.max(end);
        std::mem::take(&mut self.seen)
    }

    /// Ends the world: every connection still open is reported as it stands. Returns what
    /// the ends saw, the taps' frames, and the device (which lives on: the next episode of
    /// the scenario puts it between new wires).
    pub fn finish(mut self) -> (Vec<Seen>, Vec<TapFrame>, Box<dyn PacketDevice>) {
        let now = self.now;
        for i in 0..self.conns.len() {
            if !self.conns[i].done {
                self.report(i, now, "open");
            }
        }
        for u in &self.udp {
            for (peer, (label, _)) in &u.apps {
                let (sent, recvd, sb, rb) = u.counts.get(peer).copied().unwrap_or_default();
                self.seen.push((
                    now,
                    endpoint_probe(u.outside, u.local.ip()),
                    Event::Stream(StreamSeen {
                        flow: label.clone(),
                        end: if u.outside { "server" } else { "client" }.into(),
                        transport: "udp".into(),
                        local: u.local.to_string(),
                        remote: peer.to_string(),
                        opened: None,
                        sent: sb,
                        received: rb,
                        datagrams_sent: sent,
                        datagrams_received: recvd,
                        how: "datagrams".into(),
                    }),
                ));
            }
        }
        (self.seen, self.taps, self.device)
    }

    fn step(&mut self) {
        let now = self.now;
        while let Some(entry) = self.acts.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let act = entry.remove();
            self.act(now, act);
        }
        self.take_notices();
        // exchange frames until the wires are quiet at this instant
        // (the stacks take in what was delivered at their next poll, and the ends see the
        // result only after it: so a round ends with the ends driven)
        for _ in 0..10_000 {
            let moved = self.exchange(now);
            self.take_notices();
            let changed = self.drive_apps(now);
            if !moved && !changed {
                break;
            }
        }
    }

    fn act(&mut self, now: Timestamp, act: Act) {
        match act {
            Act::Connect {
                local,
                remote,
                app,
                label,
            } => match self.inside.connect(local, remote) {
                Ok(handle) => self
                    .conns
                    .push(Conn::new(handle, false, local, remote, label, app, now)),
                Err(e) => self.refused.push((now, "inside", e)),
            },
            Act::Datagrams { local, remote, .. } => {
                if let Some(u) = self.udp.iter_mut().find(|u| !u.outside && u.local == local)
                    && let Some((_, app)) = u.apps.get_mut(&remote)
                {
                    let out = app.on_start(now);
                    send_datagrams(&mut self.inside, u, remote, out);
                }
            }
            Act::Raw(i) => {
                let (flow, start, _) = &self.raw[i];
                let start = *start;
                let packets: Vec<_> = flow.from_client.clone();
                for (off, p) in packets {
                    self.schedule(
                        start + off,
                        Act::RawSend {
                            outside: false,
                            packet: p,
                        },
                    );
                }
            }
            Act::RawSend { outside, packet } => self.emit_from_side(now, outside, packet),
            Act::Carrier(port, up) => {
                self.carrier.insert(port, up);
                self.device.carrier(now, port, up);
            }
            Act::Restart => self.device.restart(now),
            Act::Policy(a) => {
                let r = self.device.apply(now, &a);
                self.applied.push((now, r));
            }
        }
    }

    /// A packet from one of the harness's sides onto its wire (tapped, then carried to the
    /// device if the cable is up).
    fn emit_from_side(&mut self, now: Timestamp, outside: bool, ip: Vec<u8>) {
        let Some(h) = ipstack::headers(&ip) else {
            self.refused
                .push((now, side(outside), "a malformed packet of its own".into()));
            return;
        };
        let (port, frame) = if outside {
            // the Internet answers over the channel the inside host's traffic last came from,
            // while that channel's cable is up; else over whichever is up
            let up = |p: &Port| self.carrier[p];
            let port = self
                .return_port
                .get(&h.dst)
                .copied()
                .filter(up)
                .or_else(|| Port::OUTSIDE.into_iter().find(up));
            let Some(port) = port else {
                return; // both channels cut: the Internet cannot reach the device at all
            };
            (
                port,
                packetnet::ethernet(packetnet::mac_of(h.dst), ROUTER_MAC, &ip),
            )
        } else {
            (
                Port::Inside,
                packetnet::ethernet(ROUTER_MAC, packetnet::mac_of(h.src), &ip),
            )
        };
        if !self.carrier[&port] {
            return; // a cut cable carries nothing, and its tap sees nothing from this side
        }
        self.taps.push(TapFrame {
            at: now,
            port,
            to_device: true,
            frame: frame.clone(),
        });
        self.device.receive(now, port, &frame);
    }

    /// Moves every packet the stacks and the device have for each other; whether any moved.
    fn exchange(&mut self, now: Timestamp) -> bool {
        let mut moved = false;
        for p in self.inside.poll(now) {
            moved = true;
            self.emit_from_side(now, false, p);
        }
        for p in self.internet.poll(now) {
            moved = true;
            self.emit_from_side(now, true, p);
        }
        for e in self.device.poll(now) {
            moved = true;
            self.taps.push(TapFrame {
                at: now,
                port: e.port,
                to_device: false,
                frame: e.frame.clone(),
            });
            if !self.carrier[&e.port] {
                continue; // the cable is cut: the frame goes nowhere
            }
            self.deliver(now, e.port, &e.frame);
        }
        moved
    }

    /// A frame the device emitted reaches the harness's side behind `port`.
    fn deliver(&mut self, now: Timestamp, port: Port, frame: &[u8]) {
        let outside = port.is_outside();
        let Some((ip, dst_mac, _)) = packetnet::ip_of_ethernet(frame) else {
            self.refused
                .push((now, side(outside), "a frame that is not IP".into()));
            return;
        };
        let Some(h) = ipstack::headers(ip) else {
            self.refused
                .push((now, side(outside), "a malformed IP packet".into()));
            return;
        };
        // a station takes only frames addressed to it
        let station = if outside {
            ROUTER_MAC
        } else {
            packetnet::mac_of(h.dst)
        };
        if dst_mac != station {
            self.refused.push((
                now,
                side(outside),
                format!("a frame for another station ({dst_mac:02x?})"),
            ));
            return;
        }
        if outside {
            self.return_port.insert(h.src, port);
        }
        // raw flows are the harness's own peers, not the stack's
        if h.proto != ipstack::TCP && h.proto != ipstack::UDP {
            for i in 0..self.raw.len() {
                let (f, _, answered) = &self.raw[i];
                let matches = if outside {
                    f.proto == h.proto && f.client == h.src && f.server == h.dst
                } else {
                    f.proto == h.proto && f.client == h.dst && f.server == h.src
                };
                if matches {
                    if outside && !answered {
                        self.raw[i].2 = true;
                        let packets = self.raw[i].0.from_server.clone();
                        let start = self.raw[i].1;
                        for (off, p) in packets {
                            let at = (start + off).max(now);
                            self.schedule(
                                at,
                                Act::RawSend {
                                    outside: true,
                                    packet: p,
                                },
                            );
                        }
                    }
                    return;
                }
            }
        }
        let (src, dst) = addr_pair(&h);
        if h.proto == ipstack::TCP {
            if h.flags & ipstack::RST != 0
                && let Some(c) = self
                    .conns
                    .iter_mut()
                    .find(|c| c.outside == outside && c.local == dst && c.remote == src && !c.done)
            {
                c.reset = true;
            }
            if outside && h.flags & (ipstack::SYN | ipstack::ACK) == ipstack::SYN {
                self.ensure_listener(dst);
            }
        }
        let stack = if outside {
            &mut self.internet
        } else {
            &mut self.inside
        };
        stack.input(ip.to_vec());
    }

    fn ensure_listener(&mut self, at: SocketAddr) {
        if !self.servers.contains_key(&at) {
            return; // no server there: the stack answers with a reset
        }
        let list = self.listeners.entry(at).or_default();
        let listening = list
            .iter()
            .any(|h| self.internet.tcp(*h).state() == State::Listen);
        if !listening && let Ok(h) = self.internet.listen(at) {
            list.push(h);
        }
    }

    /// Lets every end read and write; whether anything changed.
    fn drive_apps(&mut self, now: Timestamp) -> bool {
        let mut changed = false;
        // listeners that took a connection become connections with the server's app
        let mut taken = Vec::new();
        for (addr, list) in &mut self.listeners {
            list.retain(|h| {
                let s = self.internet.tcp(*h);
                if s.state() == State::Listen {
                    return true;
                }
                if let Some(r) = s.remote_endpoint() {
                    taken.push((*addr, *h, ipstack::socket_addr(r)));
                } else {
                    // back to closed before it had a peer: nothing to keep
                    self.internet.remove(*h);
                }
                false
            });
        }
        for (addr, h, remote) in taken {
            changed = true;
            match self.servers.get_mut(&addr).and_then(|f| f(remote)) {
                Some((label, app)) => self
                    .conns
                    .push(Conn::new(h, true, addr, remote, label, app, now)),
                None => self.internet.tcp(h).abort(),
            }
        }
        for i in 0..self.conns.len() {
            changed |= self.drive_conn(i, now);
        }
        for u in 0..self.udp.len() {
            changed |= self.drive_udp(u, now);
        }
        changed
    }

    fn drive_conn(&mut self, i: usize, now: Timestamp) -> bool {
        let c = &mut self.conns[i];
        if c.done {
            return false;
        }
        let stack = if c.outside {
            &mut self.internet
        } else {
            &mut self.inside
        };
        let s = stack.tcp(c.handle);
        let mut changed = false;
        if !c.opened && s.state() == State::Established {
            c.opened = true;
            changed = true;
            let out = c.app.on_open(now);
            c.pending.extend(out);
        }
        let mut buf = [0u8; 16 * 1024];
        while c.opened && s.can_recv() {
            match s.recv_slice(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    changed = true;
                    c.received += n as u64;
                    let out = c.app.on_data(now, &buf[..n]);
                    c.pending.extend(out);
                }
            }
        }
        if !c.pending.is_empty()
            && s.can_send()
            && let Ok(n) = s.send_slice(&c.pending)
        {
            changed |= n > 0;
            c.sent += n as u64;
            c.pending.drain(..n);
        }
        if c.opened && !c.closing && c.pending.is_empty() && c.app.finished() {
            s.close();
            c.closing = true;
            changed = true;
        }
        let peer_done = c.opened && !s.may_recv();
        let state = s.state();
        let over = matches!(state, State::Closed | State::TimeWait)
            || (peer_done && matches!(state, State::CloseWait | State::LastAck));
        if peer_done || over {
            let how = if c.reset {
                "reset"
            } else if !c.opened {
                "never-opened"
            } else if state == State::Closed && !peer_done {
                "timeout"
            } else {
                "fin"
            };
            if over || c.reset {
                let reset = c.reset;
                c.app.on_close(now, reset || !c.opened);
                self.report(i, now, how);
                return true;
            }
        }
        let obs = self.conns[i].app.observations();
        let probe = endpoint_probe(self.conns[i].outside, self.conns[i].local.ip());
        for e in obs {
            self.seen.push((now, probe.clone(), e));
        }
        changed
    }

    fn report(&mut self, i: usize, now: Timestamp, how: &str) {
        let c = &mut self.conns[i];
        c.done = true;
        let probe = endpoint_probe(c.outside, c.local.ip());
        for e in c.app.observations() {
            self.seen.push((now, probe.clone(), e));
        }
        let _ = c.first;
        self.seen.push((
            now,
            probe,
            Event::Stream(StreamSeen {
                flow: c.label.clone(),
                end: if c.outside { "server" } else { "client" }.into(),
                transport: "tcp".into(),
                local: c.local.to_string(),
                remote: c.remote.to_string(),
                opened: Some(c.opened),
                sent: c.sent,
                received: c.received,
                datagrams_sent: 0,
                datagrams_received: 0,
                how: how.into(),
            }),
        ));
        let stack = if c.outside {
            &mut self.internet
        } else {
            &mut self.inside
        };
        let h = c.handle;
        if stack.tcp(h).state() == State::Closed {
            stack.remove(h);
        }
    }

    fn drive_udp(&mut self, u: usize, now: Timestamp) -> bool {
        let end = &mut self.udp[u];
        let stack = if end.outside {
            &mut self.internet
        } else {
            &mut self.inside
        };
        let mut changed = false;
        let mut buf = vec![0u8; 65536];
        let mut answers = Vec::new();
        loop {
            let s = stack.udp(end.handle);
            let Ok((n, meta)) = s.recv_slice(&mut buf) else {
                break;
            };
            changed = true;
            let peer = ipstack::socket_addr(meta.endpoint);
            let cnt = end.counts.entry(peer).or_default();
            cnt.1 += 1;
            cnt.3 += n as u64;
            if let Some((_, app)) = end.apps.get_mut(&peer) {
                answers.push((peer, app.on_datagram(now, &buf[..n])));
            }
        }
        for (peer, app) in end.apps.iter_mut() {
            if app.1.wake_at().is_some_and(|t| t <= now) {
                answers.push((*peer, app.1.on_timer(now)));
            }
        }
        for (peer, out) in answers {
            if !out.is_empty() {
                changed = true;
            }
            send_datagrams(stack, end, peer, out);
        }
        changed
    }
}

fn send_datagrams(stack: &mut IpStack, end: &mut UdpEnd, peer: SocketAddr, out: Vec<Vec<u8>>) {
    for d in out {
        let meta = smoltcp::socket::udp::UdpMetadata {
            endpoint: ipstack::endpoint(peer),
            local_address: Some(ipstack::address(end.local.ip())),
            meta: Default::default(),
        };
        if stack.udp(end.handle).send_slice(&d, meta).is_ok() {
            let cnt = end.counts.entry(peer).or_default();
            cnt.0 += 1;
            cnt.2 += d.len() as u64;
        }
    }
}

fn side(outside: bool) -> &'static str {
    if outside { "outside" } else { "inside" }
}

/// The probe name of a harness end: `endpoint:inside:10.1.2.3` or `endpoint:outside:…`.
pub fn endpoint_probe(outside: bool, ip: IpAddr) -> String {
    format!("endpoint:{}:{ip}", side(outside))
}

// ---- what the taps saw of one flow ----

/// What the taps saw of one flow on one port, split by direction. Payload is the transport
/// payload (TCP segment data, UDP datagram data, or what follows the IP header); frames and
/// packets count retransmissions too, the streams do not.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortCount {
    /// Frames from the flow's client, those of them carrying payload, the payload bytes.
    pub client_frames: u64,
    pub client_packets: u64,
    pub client_bytes: u64,
    pub server_frames: u64,
    pub server_packets: u64,
    pub server_bytes: u64,
    /// SHA-256 of the client's byte stream as it crossed this port (TCP: in sequence order,
    /// each byte once; UDP and raw IP: the datagrams in order, each behind its length), so
    /// that "the same bytes on both ports" is a comparison of two digests. Absent when no
    /// payload crossed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_stream: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_stream: Option<String>,
    /// When this port saw the flow's first and last frame, either way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<Timestamp>,
}

/// A direction's payload as one port saw it, for the stream digest.
#[derive(Default)]
struct Stream {
    tcp: Vec<(u32, Vec<u8>)>,
    datagrams: Vec<u8>,
}

impl Stream {
    fn add(&mut self, proto: u8, seq: u32, payload: &[u8]) {
        if proto == ipstack::TCP {
            self.tcp.push((seq, payload.to_vec()));
        } else {
            self.datagrams
                .extend_from_slice(&(payload.len() as u32).to_be_bytes());
            self.datagrams.extend_from_slice(payload);
        }
    }

    fn digest(mut self) -> Option<String> {
        use sha2::{Digest, Sha256};
        let bytes = if self.tcp.is_empty() {
            self.datagrams
        } else {
            // offsets from the first segment seen: retransmissions repeat earlier offsets
            let base = self.tcp[0].0;
            self.tcp
                .sort_by_key(|(seq, _)| (seq.wrapping_sub(base) as i32).max(0));
            let mut out: Vec<u8> = Vec::new();
            for (seq, p) in &self.tcp {
                let off = (seq.wrapping_sub(base) as i32).max(0) as usize;
                let have = out.len();
                if off + p.len() <= have {
                    continue; // all seen before
                }
                // a gap (bytes the tap never saw) is left out: the digest then differs
                let skip = have.saturating_sub(off);
                out.extend_from_slice(&p[skip..]);
            }
            out
        };
        if bytes.is_empty() {
            return None;
        }
        Some(
            Sha256::digest(&bytes)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
        )
    }
}

/// The flow's frames on every port: counted from the taps, by the 5-tuple the harness gave
/// the flow (client and server address and port, protocol; addresses alone for protocols
/// without ports).
pub fn count_flow(
    taps: &[TapFrame],
    proto: u8,
    client: SocketAddr,
    server: SocketAddr,
) -> BTreeMap<Port, PortCount> {
    let mut out: BTreeMap<Port, PortCount> = Port::ALL
        .into_iter()
        .map(|p| (p, PortCount::default()))
        .collect();
    let mut streams: BTreeMap<(Port, bool), Stream> = BTreeMap::new();
    for t in taps {
        let Some((ip, _, _)) = packetnet::ip_of_ethernet(&t.frame) else {
            continue;
        };
        let Some(h) = ipstack::headers(ip) else {
            continue;
        };
        if h.proto != proto {
            continue;
        }
        let (s, d) = addr_pair(&h);
        let ports = proto == ipstack::TCP || proto == ipstack::UDP;
        let same = |a: SocketAddr, b: SocketAddr| {
            if ports { a == b } else { a.ip() == b.ip() }
        };
        let from_client = if same(s, client) && same(d, server) {
            true
        } else if same(s, server) && same(d, client) {
            false
        } else {
            continue;
        };
        let c = out.get_mut(&t.port).expect("every port");
        let n = h.payload.len() as u64;
        c.first.get_or_insert(t.at);
        c.last = Some(t.at);
        if from_client {
            c.client_frames += 1;
        } else {
            c.server_frames += 1;
        }
        if n == 0 {
            continue;
        }
        if from_client {
            c.client_packets += 1;
            c.client_bytes += n;
        } else {
            c.server_packets += 1;
            c.server_bytes += n;
        }
        let seq = h.seq;
        streams
            .entry((t.port, from_client))
            .or_default()
            .add(proto, seq, h.payload);
    }
    for ((port, from_client), st) in streams {
        let c = out.get_mut(&port).expect("every port");
        if from_client {
            c.client_stream = st.digest();
        } else {
            c.server_stream = st.digest();
        }
    }
    out
}

/// The frames on each port as a pcap file (link type Ethernet, microsecond timestamps).
pub fn pcaps(taps: &[TapFrame]) -> Result<BTreeMap<Port, Vec<u8>>, String> {
    use pcap_file::DataLink;
    use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
    let mut out = BTreeMap::new();
    for port in Port::ALL {
        let header = PcapHeader {
            datalink: DataLink::ETHERNET,
            snaplen: 65535,
            ..PcapHeader::default()
        };
        let mut w = PcapWriter::with_header(Vec::new(), header).map_err(|e| e.to_string())?;
        for t in taps.iter().filter(|t| t.port == port) {
            let since = t.at.duration_since(Timestamp::UNIX_EPOCH);
            let ts = std::time::Duration::from_micros(since.as_micros().max(0) as u64);
            w.write_packet(&PcapPacket::new(ts, t.frame.len() as u32, &t.frame))
                .map_err(|e| e.to_string())?;
        }
        out.insert(port, w.into_writer());
    }
    Ok(out)
}

/// Every address the taps saw a frame from on `port` (for oracles of where traffic left).
pub fn sources_on(taps: &[TapFrame], port: Port) -> BTreeSet<IpAddr> {
    taps.iter()
        .filter(|t| t.port == port)
        .filter_map(|t| {
            let (ip, _, _) = packetnet::ip_of_ethernet(&t.frame)?;
            Some(ipstack::headers(ip)?.src)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packetnet::Emitted;

    /// A plain cable with a switch: inside frames out on the main channel (the backup when
    /// main is down), outside frames in.
    #[derive(Default)]
    struct Cable {
        out: Vec<Emitted>,
        main_down: bool,
    }

    impl PacketDevice for Cable {
        fn apply(&mut self, _: Timestamp, a: &PolicyAct) -> Result<PolicyAct, String> {
            Ok(a.clone())
        }
        fn receive(&mut self, _: Timestamp, port: Port, frame: &[u8]) {
            let to = match port {
                Port::Inside if self.main_down => Port::OutsideBackup,
                Port::Inside => Port::OutsideMain,
                _ => Port::Inside,
            };
            self.out.push(Emitted {
                port: to,
                frame: frame.to_vec(),
            });
        }
        fn poll(&mut self, _: Timestamp) -> Vec<Emitted> {
            std::mem::take(&mut self.out)
        }
        fn next_wake(&self) -> Option<Timestamp> {
            None
        }
        fn carrier(&mut self, _: Timestamp, port: Port, up: bool) {
            if port == Port::OutsideMain {
                self.main_down = !up;
            }
        }
        fn restart(&mut self, _: Timestamp) {}
    }

    /// Sends `say`, then finishes once it has heard `expect` bytes.
    struct Talker {
        say: Vec<u8>,
        expect: usize,
        heard: Vec<u8>,
        closed: Option<bool>,
    }

    impl StreamApp for Talker {
        fn on_open(&mut self, _: Timestamp) -> Vec<u8> {
            self.say.clone()
        }
        fn on_data(&mut self, _: Timestamp, data: &[u8]) -> Vec<u8> {
            self.heard.extend_from_slice(data);
            Vec::new()
        }
        fn on_close(&mut self, _: Timestamp, reset: bool) {
            self.closed = Some(reset);
        }
        fn finished(&self) -> bool {
            self.heard.len() >= self.expect
        }
    }

    fn t0() -> Timestamp {
        "2025-06-02T05:00:00Z".parse().unwrap()
    }

    fn world(seed: u64, cut_main: bool) -> (Vec<Seen>, Vec<TapFrame>) {
        let mut w = PacketWorld::new(Box::new(Cable::default()), t0(), seed);
        let server: SocketAddr = "203.0.113.7:8080".parse().unwrap();
        let client: SocketAddr = "10.9.0.2:50000".parse().unwrap();
        w.serve(
            server,
            Box::new(|_| {
                Some((
                    "f1".to_string(),
                    Box::new(Talker {
                        say: b"pong, and more".to_vec(),
                        expect: 4,
                        heard: vec![],
                        closed: None,
                    }) as Box<dyn StreamApp>,
                ))
            }),
        );
        if cut_main {
            w.carrier_at(t0(), Port::OutsideMain, false);
        }
        w.connect_at(
            t0() + SignedDuration::from_millis(5),
            client,
            server,
            "f1",
            Box::new(Talker {
                say: b"ping".to_vec(),
                expect: 14,
                heard: vec![],
                closed: None,
            }),
        );
        let mut seen = w.run_until(t0() + SignedDuration::from_secs(60));
        let (rest, taps, _) = w.finish();
        seen.extend(rest);
        (seen, taps)
    }

    fn streams(seen: &[Seen]) -> Vec<&StreamSeen> {
        seen.iter()
            .filter_map(|(_, _, e)| match e {
                Event::Stream(s) => Some(s),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_connection_through_a_cable_is_seen_at_both_ends_and_on_the_taps() {
        let (seen, taps) = world(7, false);
        let s = streams(&seen);
        assert_eq!(s.len(), 2, "{s:#?}");
        let client = s.iter().find(|x| x.end == "client").unwrap();
        let server = s.iter().find(|x| x.end == "server").unwrap();
        assert_eq!((client.sent, client.received), (4, 14));
        assert_eq!((server.sent, server.received), (14, 4));
        assert_eq!(client.how, "fin");
        let c = count_flow(
            &taps,
            ipstack::TCP,
            "10.9.0.2:50000".parse().unwrap(),
            "203.0.113.7:8080".parse().unwrap(),
        );
        assert_eq!(c[&Port::Inside].client_bytes, 4);
        assert_eq!(c[&Port::OutsideMain].client_bytes, 4);
        assert_eq!(c[&Port::OutsideMain].server_bytes, 14);
        assert_eq!(c[&Port::OutsideBackup], PortCount::default());
        assert!(c[&Port::Inside].client_stream.is_some());
        assert_eq!(
            c[&Port::Inside].client_stream,
            c[&Port::OutsideMain].client_stream
        );
        assert_ne!(
            c[&Port::Inside].client_stream,
            c[&Port::Inside].server_stream
        );
        // every tapped frame is a valid Ethernet/IP frame
        for t in &taps {
            let (ip, _, _) = packetnet::ip_of_ethernet(&t.frame).unwrap();
            assert!(ipstack::headers(ip).is_some());
        }
        let p = pcaps(&taps).unwrap();
        // the classic pcap magic (microseconds), in either byte order
        assert!(matches!(
            &p[&Port::Inside][..4],
            [0xd4, 0xc3, 0xb2, 0xa1] | [0xa1, 0xb2, 0xc3, 0xd4]
        ));
        let r = pcap_file::pcap::PcapReader::new(&p[&Port::OutsideMain][..]).unwrap();
        assert_eq!(r.header().datalink, pcap_file::DataLink::ETHERNET);
    }

    #[test]
    fn with_main_cut_the_traffic_goes_over_backup_only() {
        let (seen, taps) = world(7, true);
        assert!(streams(&seen).iter().all(|s| s.how == "fin"));
        assert!(taps.iter().all(|t| t.port != Port::OutsideMain));
        assert!(taps.iter().any(|t| t.port == Port::OutsideBackup));
    }

    #[test]
    fn same_seed_same_frames_other_seed_other_sequence_numbers() {
        let frames = |s| {
            world(s, false)
                .1
                .into_iter()
                .map(|t| (t.at, t.port, t.frame))
                .collect::<Vec<_>>()
        };
        assert_eq!(frames(3), frames(3));
        assert_ne!(frames(3), frames(4));
    }
}
