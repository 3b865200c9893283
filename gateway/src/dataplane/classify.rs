//! Flow classification from a flow's own bytes: protocol grammars (handshakes, magic
//! numbers, message structure) first, then the names those handshakes carry (TLS SNI, DNS
//! question, HTTP Host) against the signature lists, then addresses against the IP lists.
//! Port numbers alone never decide a class.
//!
//! This module is the dispatcher: it keeps the per-flow state of every protocol family
//! ([`super::protocols`]) and decides only the order in which their recognisers are asked.
//! The order matters where grammars overlap: a handshake that names its service (TLS, HTTP,
//! DNS) is read before the opaque binary grammars, and the weakest grammars come last.

use super::packet::{
    PROTO_AH, PROTO_ESP, PROTO_GRE, PROTO_ICMP, PROTO_ICMPV6, PROTO_IGMP, PROTO_TCP, PROTO_UDP,
    Packet, TCP_SYN,
};
use super::protocols::{app, games, mining, network, p2p, raknet, remote, tls, tunnel, vpn, web};
use super::sigs::{Class, Signatures};

/// How many packets with payload the classifier looks at before it gives up and calls the
/// flow an unknown application.
pub const MAX_DPI_PACKETS: u8 = 10;
/// The longest client stream prefix kept to reassemble a ClientHello.
pub const MAX_HELLO: usize = 16 * 1024;

/// What the classifier decided about a flow.
#[derive(Debug, Clone, Default)]
pub struct Detection {
    pub class: Option<Class>,
    /// The application protocol recognised (`tls`, `openvpn`, `bittorrent`, …).
    pub app: &'static str,
    pub category: Option<u16>,
    /// SNI (TLS, DTLS), Host (HTTP) or question (DNS).
    pub name: Option<Box<str>>,
    /// The name came from a TLS ClientHello (an SNI).
    pub sni: bool,
    /// A TLS (or DTLS) session: the inspect / pass-through decision applies.
    pub tls: bool,
}

pub enum Step {
    /// Decided: classification stops.
    Done(Detection),
    /// Look at more packets.
    More,
}

/// What one recogniser says about one packet.
pub enum Seen {
    /// Not this protocol (or not yet): ask the next recogniser.
    Next,
    /// This protocol's handshake is under way: ask no other recogniser about this packet.
    Wait,
    /// Decided.
    Done(Detection),
}

impl From<Option<Detection>> for Seen {
    fn from(d: Option<Detection>) -> Seen {
        d.map_or(Seen::Next, Seen::Done)
    }
}

/// One packet with payload as the recognisers see it.
pub struct Input<'a> {
    pub p: &'a Packet<'a>,
    /// The transport payload.
    pub b: &'a [u8],
    /// From the flow's initiator to its responder.
    pub c2s: bool,
    /// The first packet with payload in its direction.
    pub first: bool,
    /// Packets with payload so far, this one included.
    pub n: u8,
    /// Packets with payload from the initiator so far, this one included if it is one.
    pub c2s_n: u8,
    pub sigs: &'a Signatures,
}

impl Input<'_> {
    pub fn ports(&self) -> [u16; 2] {
        [self.p.sport, self.p.dport]
    }
}

/// Per-flow classifier state: each family's own; small, and allocates only to reassemble a
/// ClientHello that spans segments.
#[derive(Debug, Default)]
pub struct Dpi {
    pub payload_pkts: u8,
    c2s: u8,
    s2c: u8,
    pub(crate) tls: tls::State,
    pub(crate) net: network::State,
    pub(crate) vpn: vpn::State,
    pub(crate) remote: remote::State,
    pub(crate) games: games::State,
    pub(crate) p2p: p2p::State,
    pub(crate) raknet: raknet::State,
    pub(crate) tunnel: tunnel::State,
}

type Recogniser = fn(&mut Dpi, &Input<'_>) -> Seen;

/// TCP: the TLS handshake (either side), HTTP, then the binary grammars.
const TCP: &[Recogniser] = &[
    |d, i| tunnel::opaque_tcp(&mut d.tunnel, i).into(),
    |d, i| tls::tcp(&mut d.tls, i),
    |_, i| web::http(i).into(),
    |d, i| tunnel::socks(&mut d.tunnel, i).into(),
    |_, i| remote::ssh(i).into(),
    |_, i| remote::nomachine_banner(i).into(),
    |_, i| remote::vnc(i).into(),
    |_, i| p2p::bittorrent(i).into(),
    |_, i| p2p::gnutella_tcp(i).into(),
    |_, i| p2p::edonkey_tcp(i).into(),
    |_, i| p2p::syncthing(i).into(),
    |_, i| remote::rdp(i).into(),
    |_, i| remote::teamviewer_tcp(i).into(),
    |_, i| vpn::pptp(i).into(),
    |_, i| mining::stratum(i).into(),
    |_, i| games::tcp(i).into(),
    |_, i| vpn::ultrasurf(i).into(),
    |d, i| vpn::openvpn_tcp(&mut d.vpn, i).into(),
    |_, i| remote::rsh(i).into(),
    |_, i| games::wow_tcp(i).into(),
    |d, i| vpn::tinc(&mut d.vpn, i).into(),
    |d, i| remote::radmin(&mut d.remote, i).into(),
    |d, i| remote::telnet(&mut d.remote, i).into(),
    |d, i| games::titles_tcp(&mut d.games, i).into(),
    |d, i| games::warcraft3(&mut d.games, i).into(),
    |_, i| network::server_banner(i).into(),
];

/// UDP: name-carrying handshakes (DNS, DTLS, QUIC) first, then the binary grammars, the
/// weakest (one or two bytes of structure, confirmed on a second datagram) last.
const UDP: &[Recogniser] = &[
    |_, i| network::dns(i).into(),
    |_, i| remote::rdp_udp(i).into(),
    |d, i| tls::dtls(&mut d.tls, i),
    |d, i| network::stun(&mut d.net, i),
    |d, i| tls::quic(&mut d.tls, i),
    |d, i| vpn::wireguard(&mut d.vpn, i).into(),
    |_, i| vpn::ike(i).into(),
    |d, i| raknet::connected(&mut d.raknet, i).into(),
    |_, i| games::udp(i).into(),
    |_, i| games::datagram(i).into(),
    |_, i| games::blizzard_udp(i).into(),
    |d, i| games::handshake(&mut d.games, i).into(),
    |d, i| raknet::offline_session(&mut d.raknet, i).into(),
    |d, i| vpn::openvpn(&mut d.vpn, i.b, i.c2s, i.c2s_n).into(),
    |_, i| p2p::bencode_dht(i).into(),
    |_, i| p2p::gnutella_udp(i).into(),
    |_, i| remote::teamviewer_udp(i).into(),
    |_, i| remote::xdmcp(i).into(),
    |_, i| vpn::softether_udp(i).into(),
    |d, i| remote::nomachine_udp(&mut d.remote, i).into(),
    |_, i| p2p::bittorrent_lsd(i).into(),
    |d, i| p2p::edonkey_udp(&mut d.p2p, i).into(),
    |_, i| p2p::syncthing(i).into(),
    |d, i| p2p::utp(&mut d.p2p, i).into(),
    |_, i| vpn::ciscovpn(i).into(),
    |_, i| vpn::tailscale(i).into(),
    |_, i| remote::vmware(i).into(),
    |d, i| games::titles_udp(&mut d.games, i).into(),
    |d, i| games::warcraft3(&mut d.games, i).into(),
    |_, i| network::ssdp(i).into(),
    |_, i| network::dhcp(i).into(),
    |_, i| network::ntp(i).into(),
    |_, i| network::netbios(i).into(),
];

impl Dpi {
    /// Looks at one packet of an undecided flow. `c2s`: the packet goes from the flow's
    /// initiator to its responder.
    pub fn inspect(&mut self, p: &Packet<'_>, c2s: bool, sigs: &Signatures) -> Step {
        match p.proto {
            PROTO_ESP | PROTO_AH => return Step::Done(app(Class::Vpn, "ipsec")),
            PROTO_GRE => return Step::Done(app(Class::Vpn, "gre")),
            PROTO_ICMP | PROTO_ICMPV6 => {
                let d = match tunnel::icmp_tunnel(p.payload, p.proto == PROTO_ICMPV6) {
                    Some(t) => app(Class::Tunnel, t),
                    None => app(Class::Other, "icmp"),
                };
                return Step::Done(d);
            }
            PROTO_IGMP => return Step::Done(app(Class::Other, "igmp")),
            PROTO_TCP | PROTO_UDP => {}
            _ => return Step::Done(app(Class::UnknownApplication, "ip")),
        }
        let b = p.payload;
        if p.proto == PROTO_TCP && p.tcp_flags & TCP_SYN != 0 {
            // the stream's first bytes will be seen: the fully-encrypted test may apply
            self.tunnel.syn_seen = true;
        }
        if b.is_empty() {
            return Step::More;
        }
        self.payload_pkts = self.payload_pkts.saturating_add(1);
        let first = if c2s { self.c2s == 0 } else { self.s2c == 0 };
        if c2s {
            self.c2s = self.c2s.saturating_add(1);
        } else {
            self.s2c = self.s2c.saturating_add(1);
        }
        let i = Input {
            p,
            b,
            c2s,
            first,
            n: self.payload_pkts,
            c2s_n: self.c2s,
            sigs,
        };
        let table = if p.proto == PROTO_TCP { TCP } else { UDP };
        let mut r = None;
        for rec in table {
            match rec(self, &i) {
                Seen::Next => {}
                Seen::Wait => break,
                Seen::Done(d) => {
                    r = Some(d);
                    break;
                }
            }
        }
        match r {
            Some(d) => {
                self.tls.clear();
                Step::Done(d)
            }
            None if self.payload_pkts >= MAX_DPI_PACKETS => {
                self.tls.stream = None;
                let d = self.give_up();
                self.tls.clear();
                Step::Done(d)
            }
            None => Step::More,
        }
    }

    /// The flow ended (or was evicted) undecided.
    pub fn give_up(&self) -> Detection {
        if let Some(d) = self.tls.give_up() {
            d
        } else if let Some(d) = self.net.give_up() {
            d
        } else if let Some(d) = self.tunnel.give_up() {
            d
        } else if self.payload_pkts == 0 {
            app(Class::Other, "no-payload")
        } else {
            app(Class::UnknownApplication, "unknown")
        }
    }
}

/// A detection named by what a list says about `name` (an SNI, Host or DNS question).
pub(crate) fn named(
    sigs: &Signatures,
    app: &'static str,
    name: &[u8],
    sni: bool,
    tls: bool,
) -> Detection {
    let l = sigs.name(name);
    let name = std::str::from_utf8(name)
        .ok()
        .map(|s| s.to_ascii_lowercase().into_boxed_str());
    Detection {
        class: l.class,
        app,
        category: l.category,
        name,
        sni,
        tls,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkt(proto: u8, payload: &[u8]) -> Packet<'_> {
        Packet {
            src: [0; 16],
            dst: [0; 16],
            proto,
            sport: 50000,
            dport: 443,
            tcp_flags: 0,
            seq: 1,
            payload,
            fragment: false,
        }
    }

    fn class_of(s: Step) -> Option<Class> {
        match s {
            Step::Done(d) => d.class,
            Step::More => None,
        }
    }

    #[test]
    fn ultrasurf_and_stun_then_dtls() {
        let sigs = Signatures::builtin();
        let mut us = vec![0xcc, 0x1c, 0x30, 0x41, 0x5b, 0xa4, 0x38, 0x66];
        us.resize(200, 0x99);
        let d = Dpi::default().inspect(&pkt(PROTO_TCP, &us), false, &sigs);
        assert_eq!(class_of(d), Some(Class::Vpn));
        us[7] = 0x67;
        let d = Dpi::default().inspect(&pkt(PROTO_TCP, &us), false, &sigs);
        assert_eq!(class_of(d), None);
        // STUN, then a datagram that is not DTLS: a media stream, not looked into
        let mut d = Dpi::default();
        let mut stun = vec![0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42];
        stun.resize(20, 7);
        assert!(matches!(
            d.inspect(&pkt(PROTO_UDP, &stun), true, &sigs),
            Step::More
        ));
        assert_eq!(d.give_up().app, "stun");
        let rtp = [0x80u8; 40];
        let Step::Done(det) = d.inspect(&pkt(PROTO_UDP, &rtp), true, &sigs) else {
            panic!("decided")
        };
        assert_eq!((det.class, det.app), (Some(Class::Other), "stun"));
        assert_eq!(Dpi::default().give_up().app, "no-payload");
    }

    #[test]
    fn edonkey_udp_needs_two_datagrams() {
        let sigs = Signatures::builtin();
        // a Kad request; random bytes would match this two-byte grammar one time in ~250
        let mut kad = vec![0xe4, 0x21];
        kad.resize(35, 0x5c);
        let mut d = Dpi::default();
        assert!(matches!(
            d.inspect(&pkt(PROTO_UDP, &kad), true, &sigs),
            Step::More
        ));
        let Step::Done(det) = d.inspect(&pkt(PROTO_UDP, &kad), false, &sigs) else {
            panic!("decided")
        };
        assert_eq!((det.class, det.app), (Some(Class::P2p), "edonkey"));
        let other = [0x17u8; 35];
        let mut d = Dpi::default();
        assert!(matches!(
            d.inspect(&pkt(PROTO_UDP, &kad), true, &sigs),
            Step::More
        ));
        let det = d.inspect(&pkt(PROTO_UDP, &other), false, &sigs);
        assert_ne!(class_of(det), Some(Class::P2p));
    }

    #[test]
    fn warp_data_repeats_the_response_index() {
        let sigs = Signatures::builtin();
        let mut resp = vec![0xc2, 2, 0x78, 0, 0x68, 0x84, 0xee, 0];
        resp.resize(100, 0x55);
        let mut data = vec![
            0xc4, 2, 0x78, 0, 0x68, 0x84, 0xee, 0, 1, 0, 0, 0, 0, 0, 0, 0,
        ];
        data.resize(84, 0x77);
        let mut d = Dpi::default();
        assert!(matches!(
            d.inspect(&pkt(PROTO_UDP, &resp), false, &sigs),
            Step::More
        ));
        assert_eq!(
            class_of(d.inspect(&pkt(PROTO_UDP, &data), true, &sigs)),
            Some(Class::Vpn)
        );
        let mut d = Dpi::default();
        d.inspect(&pkt(PROTO_UDP, &resp), false, &sigs);
        data[5] = 0;
        assert_ne!(
            class_of(d.inspect(&pkt(PROTO_UDP, &data), true, &sigs)),
            Some(Class::Vpn)
        );
    }
}
