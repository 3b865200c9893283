//! One smoltcp interface with its sockets, driven by explicit time and fed IP packets by
//! hand: the harness's endpoints on each side of the device, and the reference gateway's
//! terminating proxy, are each one of these. smoltcp does the TCP (handshakes, windows,
//! retransmission, checksums); this module only moves packets in and out.
//!
//! The interface runs with `Medium::Ip` and in any-IP mode: it answers for every address,
//! so one interface stands for many hosts (all the User workstations of a scenario, or the
//! whole Internet), each socket bound to the address its host has. Ethernet framing is the
//! wire's business ([`crate::packetnet::ethernet`]): the harness, like a traffic generator,
//! knows the station of every host it runs and needs no ARP or neighbour discovery.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};

use jiff::Timestamp;
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{self, ChecksumCapabilities, DeviceCapabilities, Medium};
use smoltcp::socket::{tcp, udp};
use smoltcp::time::{Duration as SmolDuration, Instant};
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr, IpEndpoint, Ipv4Address, Ipv6Address};

/// Buffer sizes of one TCP socket, each way.
pub const TCP_BUFFER: usize = 64 * 1024;
/// The largest IP packet the wires carry (an Ethernet payload).
pub const MTU: usize = 1500;

/// The packets waiting to go into the interface and those it sent.
#[derive(Default)]
struct Queues {
    rx: VecDeque<Vec<u8>>,
    tx: Vec<Vec<u8>>,
}

struct Rx(Vec<u8>);
struct Tx<'a>(&'a mut Vec<Vec<u8>>);

impl phy::RxToken for Rx {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl phy::TxToken for Tx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut buf = vec![0; len];
        let r = f(&mut buf);
        self.0.push(buf);
        r
    }
}

impl phy::Device for Queues {
    type RxToken<'a> = Rx;
    type TxToken<'a> = Tx<'a>;

    fn receive(&mut self, _t: Instant) -> Option<(Rx, Tx<'_>)> {
        let p = self.rx.pop_front()?;
        Some((Rx(p), Tx(&mut self.tx)))
    }

    fn transmit(&mut self, _t: Instant) -> Option<Tx<'_>> {
        Some(Tx(&mut self.tx))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut c = DeviceCapabilities::default();
        c.medium = Medium::Ip;
        c.max_transmission_unit = MTU;
        // every checksum computed on the way out and verified on the way in: a frame a real
        // stack would drop is dropped here too
        c.checksum = ChecksumCapabilities::default();
        c
    }
}

/// The interface's own addresses: documentation addresses, never a host's, so that the
/// any-IP default route has an own address as its next hop.
const OWN_V4: Ipv4Address = Ipv4Address::new(192, 0, 2, 254);
const OWN_V6: Ipv6Address = Ipv6Address::new(0x2001, 0xdb8, 0xffff, 0xffff, 0, 0, 0, 0xfe);

pub struct IpStack {
    iface: Interface,
    pub sockets: SocketSet<'static>,
    dev: Queues,
    epoch: Timestamp,
}

impl IpStack {
    /// A stack whose clock starts at `epoch`; `seed` draws its initial sequence numbers.
    pub fn new(seed: u64, epoch: Timestamp) -> IpStack {
        let mut dev = Queues::default();
        let mut cfg = Config::new(HardwareAddress::Ip);
        cfg.random_seed = seed;
        let mut iface = Interface::new(cfg, &mut dev, Instant::from_micros(0));
        iface.set_any_ip(true);
        iface.update_ip_addrs(|a| {
            // capacity 2 (smoltcp's default): one of each family
            let _ = a.push(IpCidr::new(IpAddress::Ipv4(OWN_V4), 32));
            let _ = a.push(IpCidr::new(IpAddress::Ipv6(OWN_V6), 128));
        });
        // Infallible with two free route slots; a failure would leave the stack unable to
        // answer anyone, which the first test of any world shows at once.
        let _ = iface.routes_mut().add_default_ipv4_route(OWN_V4);
        let _ = iface.routes_mut().add_default_ipv6_route(OWN_V6);
        IpStack {
            iface,
            sockets: SocketSet::new(Vec::new()),
            dev,
            epoch,
        }
    }

    fn instant(&self, at: Timestamp) -> Instant {
        Instant::from_micros(at.duration_since(self.epoch).as_micros() as i64)
    }

    fn timestamp(&self, i: Instant) -> Timestamp {
        self.epoch + jiff::SignedDuration::from_micros(i.total_micros())
    }

    /// An IP packet for the stack; it is processed at the next [`poll`](Self::poll).
    pub fn input(&mut self, packet: Vec<u8>) {
        self.dev.rx.push_back(packet);
    }

    /// Processes what came in and lets the sockets send: the IP packets sent, in order.
    pub fn poll(&mut self, at: Timestamp) -> Vec<Vec<u8>> {
        let now = self.instant(at);
        self.iface.poll(now, &mut self.dev, &mut self.sockets);
        std::mem::take(&mut self.dev.tx)
    }

    /// When the stack next wants to be polled (a retransmission, a delayed ACK, a timeout).
    pub fn next_wake(&mut self, at: Timestamp) -> Option<Timestamp> {
        if !self.dev.rx.is_empty() {
            return Some(at);
        }
        let now = self.instant(at);
        self.iface
            .poll_at(now, &self.sockets)
            .map(|i| self.timestamp(i).max(at))
    }

    /// A new TCP socket listening on `local` (any-IP: the address is whichever host the
    /// stack stands for).
    pub fn listen(&mut self, local: SocketAddr) -> Result<SocketHandle, String> {
        let mut s = new_tcp();
        s.listen(endpoint(local))
            .map_err(|e| format!("listen on {local}: {e}"))?;
        Ok(self.sockets.add(s))
    }

    /// A new TCP socket connecting from `local` to `remote`.
    pub fn connect(
        &mut self,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> Result<SocketHandle, String> {
        let mut s = new_tcp();
        s.connect(self.iface.context(), endpoint(remote), endpoint(local))
            .map_err(|e| format!("connect {local} → {remote}: {e}"))?;
        Ok(self.sockets.add(s))
    }

    /// A UDP socket bound to `local`.
    pub fn bind_udp(&mut self, local: SocketAddr) -> Result<SocketHandle, String> {
        let rx = udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; 64], vec![0; TCP_BUFFER]);
        let tx = udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; 64], vec![0; TCP_BUFFER]);
        let mut s = udp::Socket::new(rx, tx);
        s.bind(endpoint(local))
            .map_err(|e| format!("bind {local}: {e}"))?;
        Ok(self.sockets.add(s))
    }

    pub fn tcp(&mut self, h: SocketHandle) -> &mut tcp::Socket<'static> {
        self.sockets.get_mut::<tcp::Socket>(h)
    }

    pub fn udp(&mut self, h: SocketHandle) -> &mut udp::Socket<'static> {
        self.sockets.get_mut::<udp::Socket>(h)
    }

    pub fn remove(&mut self, h: SocketHandle) {
        self.sockets.remove(h);
    }
}

fn new_tcp() -> tcp::Socket<'static> {
    let mut s = tcp::Socket::new(
        tcp::SocketBuffer::new(vec![0; TCP_BUFFER]),
        tcp::SocketBuffer::new(vec![0; TCP_BUFFER]),
    );
    // a connection that gets nowhere for this long is given up (the stack resets it); the
    // harness's endpoints report that as what they observed
    s.set_timeout(Some(SmolDuration::from_secs(20)));
    s.set_nagle_enabled(false);
    s
}

pub fn address(ip: IpAddr) -> IpAddress {
    match ip {
        IpAddr::V4(a) => IpAddress::Ipv4(a),
        IpAddr::V6(a) => IpAddress::Ipv6(a),
    }
}

pub fn endpoint(a: SocketAddr) -> IpEndpoint {
    IpEndpoint::new(address(a.ip()), a.port())
}

pub fn socket_addr(e: IpEndpoint) -> SocketAddr {
    let ip: IpAddr = match e.addr {
        IpAddress::Ipv4(a) => IpAddr::V4(a),
        IpAddress::Ipv6(a) => IpAddr::V6(a),
    };
    SocketAddr::new(ip, e.port)
}

// ---- the few header fields the wires need to read ----

/// What the wires read of an IP packet: addresses, protocol, ports, TCP flags and the
/// transport payload. `None` for anything that is not a well-formed IPv4 or IPv6 packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Headers<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub proto: u8,
    pub sport: u16,
    pub dport: u16,
    /// TCP flags and sequence number (0 for other protocols).
    pub flags: u8,
    pub seq: u32,
    pub payload: &'a [u8],
}

pub const TCP: u8 = 6;
pub const UDP: u8 = 17;
pub const SYN: u8 = 0x02;
pub const RST: u8 = 0x04;
pub const FIN: u8 = 0x01;
pub const ACK: u8 = 0x10;

pub fn headers(ip: &[u8]) -> Option<Headers<'_>> {
    let (src, dst, proto, l4) = match ip.first()? >> 4 {
        4 => {
            let ihl = usize::from(ip.first()? & 15) * 4;
            let total = usize::from(u16::from_be_bytes([*ip.get(2)?, *ip.get(3)?]));
            if ihl < 20 || total < ihl || total > ip.len() {
                return None;
            }
            let s: [u8; 4] = ip.get(12..16)?.try_into().ok()?;
            let d: [u8; 4] = ip.get(16..20)?.try_into().ok()?;
            let frag = u16::from_be_bytes([*ip.get(6)?, *ip.get(7)?]) & 0x1fff;
            let l4 = if frag != 0 { &[][..] } else { &ip[ihl..total] };
            (IpAddr::from(s), IpAddr::from(d), *ip.get(9)?, l4)
        }
        6 => {
            let plen = usize::from(u16::from_be_bytes([*ip.get(4)?, *ip.get(5)?]));
            if 40 + plen > ip.len() {
                return None;
            }
            let s: [u8; 16] = ip.get(8..24)?.try_into().ok()?;
            let d: [u8; 16] = ip.get(24..40)?.try_into().ok()?;
            (
                IpAddr::from(s),
                IpAddr::from(d),
                *ip.get(6)?,
                &ip[40..40 + plen],
            )
        }
        _ => return None,
    };
    let (sport, dport, flags, seq, payload) = match proto {
        TCP => {
            let off = usize::from(l4.get(12)? >> 4) * 4;
            if off < 20 || off > l4.len() {
                return None;
            }
            (
                u16::from_be_bytes([l4[0], l4[1]]),
                u16::from_be_bytes([l4[2], l4[3]]),
                l4[13],
                u32::from_be_bytes([l4[4], l4[5], l4[6], l4[7]]),
                &l4[off..],
            )
        }
        UDP => {
            if l4.len() < 8 {
                return None;
            }
            (
                u16::from_be_bytes([l4[0], l4[1]]),
                u16::from_be_bytes([l4[2], l4[3]]),
                0,
                0,
                &l4[8..],
            )
        }
        _ => (0, 0, 0, 0, l4),
    };
    Some(Headers {
        src,
        dst,
        proto,
        sport,
        dport,
        flags,
        seq,
        payload,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    fn at(ms: i64) -> Timestamp {
        Timestamp::UNIX_EPOCH + jiff::SignedDuration::from_millis(ms)
    }

    /// Two stacks wired back to back: a client on one connects to a server on the other,
    /// both standing for addresses they were never given (any-IP), and the bytes arrive.
    #[test]
    fn two_any_ip_stacks_talk_tcp_with_valid_checksums() {
        let mut a = IpStack::new(1, at(0));
        let mut b = IpStack::new(2, at(0));
        let client: SocketAddr = "10.1.2.3:40000".parse().unwrap();
        let server: SocketAddr = "203.0.113.5:443".parse().unwrap();
        let l = b.listen(server).unwrap();
        let c = a.connect(client, server).unwrap();
        let mut got = Vec::new();
        let mut sent = false;
        for step in 0..200 {
            let t = at(step);
            for p in a.poll(t) {
                let h = headers(&p).expect("a well-formed packet");
                assert_eq!((h.src, h.dst), (client.ip(), server.ip()));
                b.input(p);
            }
            for p in b.poll(t) {
                a.input(p);
            }
            if !sent && a.tcp(c).can_send() {
                a.tcp(c).send_slice(b"hello").unwrap();
                sent = true;
            }
            while b.tcp(l).can_recv() {
                let mut buf = [0u8; 64];
                let n = b.tcp(l).recv_slice(&mut buf).unwrap();
                got.extend_from_slice(&buf[..n]);
            }
        }
        assert_eq!(got, b"hello");
        assert_eq!(
            b.tcp(l).remote_endpoint().map(socket_addr),
            Some(client),
            "the server saw the client's own address"
        );
    }

    #[test]
    fn a_corrupted_checksum_is_dropped() {
        let mut a = IpStack::new(1, at(0));
        let mut b = IpStack::new(2, at(0));
        let server: SocketAddr = "203.0.113.5:80".parse().unwrap();
        let l = b.listen(server).unwrap();
        a.connect("10.1.2.3:40000".parse().unwrap(), server)
            .unwrap();
        let syn = a.poll(at(0)).remove(0);
        let mut bad = syn.clone();
        let last = bad.len() - 1;
        bad[last - 3] ^= 0xff; // inside the TCP options: the checksum no longer holds
        b.input(bad);
        assert!(b.poll(at(1)).is_empty(), "no SYN-ACK to a corrupted SYN");
        assert_eq!(b.tcp(l).state(), tcp::State::Listen);
        b.input(syn);
        assert_eq!(b.poll(at(2)).len(), 1, "the intact SYN is answered");
    }

    #[test]
    fn headers_refuse_short_and_contradictory_packets() {
        assert!(headers(&[]).is_none());
        assert!(headers(&[0x45, 0, 0, 10]).is_none());
        let mut p = vec![
            0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        p.extend_from_slice(&[0, 53, 0, 54, 0, 8, 0, 0]);
        let h = headers(&p).unwrap();
        assert_eq!((h.proto, h.sport, h.dport), (UDP, 53, 54));
        p[3] = 200; // total length beyond the bytes
        assert!(headers(&p).is_none());
    }
}
