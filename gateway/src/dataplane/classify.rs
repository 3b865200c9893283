//! Flow classification from a flow's own bytes: protocol grammars (handshakes, magic
//! numbers, message structure) first, then the names those handshakes carry (TLS SNI, DNS
//! question, HTTP Host) against the signature lists, then addresses against the IP lists.
//! Port numbers alone never decide a class.

use super::packet::{
    PROTO_AH, PROTO_ESP, PROTO_GRE, PROTO_ICMP, PROTO_ICMPV6, PROTO_IGMP, PROTO_TCP, PROTO_UDP,
    Packet,
};
use super::proto::{self, CertScan, TlsStart};
use super::sigs::{Class, Label, Signatures};

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

/// [`Dpi::seen`]: a NoMachine media datagram, a RakNet frame set, a STUN message, a DTLS
/// ClientHello without an SNI (the server's certificate is awaited), LoL: Wild Rift's
/// 69-byte opening, a RakNet message that is not plausible (RakNet ruled out).
const SEEN_NOMACHINE: u8 = 1;
const SEEN_RAKNET: u8 = 2;
const SEEN_STUN: u8 = 4;
const SEEN_DTLS: u8 = 8;
const SEEN_WILDRIFT: u8 = 16;
const SEEN_NOT_RAKNET: u8 = 32;
const SEEN_EDONKEY: u8 = 64;

/// Marks [`Dpi::hs_word`] as an Epic Online Services opening word.
const EPIC_TAG: u64 = 1 << 63;

/// Per-flow classifier state; small, and allocates only to reassemble a ClientHello that
/// spans segments.
#[derive(Debug, Default)]
pub struct Dpi {
    pub payload_pkts: u8,
    c2s: u8,
    s2c: u8,
    ovpn_sid: [u64; 2],
    ovpn_hits: [u8; 2],
    ovpn_ops: [u16; 2],
    ovpn_reset: bool,
    /// A TLS session whose server certificate is read before deciding (no SNI, or a
    /// certificate fingerprint list is loaded).
    srv: Option<Box<SrvTls>>,
    /// A QUIC connection's client Initial packets, while its ClientHello is incomplete.
    quic: Option<Box<super::quic::Crypto>>,
    quic_pkts: u8,
    utp_hits: u8,
    wg_hits: u8,
    /// Grammars that need a second datagram: [`SEEN_NOMACHINE`], [`SEEN_RAKNET`], [`SEEN_EDONKEY`].
    seen: u8,
    /// The opening magic's first byte of an Activision-style handshake (0x0c or 0x0d) and
    /// the direction it came from (bit 7: responder to initiator).
    act_open: u8,
    /// A word the peer's reply must repeat: the reserved bytes and sender index of a
    /// Cloudflare WARP response (top byte clear), or the opening word of an Epic Online
    /// Services handshake (tagged with [`EPIC_TAG`]).
    hs_word: u64,
    /// The client's stream while a ClientHello is being reassembled.
    stream: Option<Box<Reasm>>,
}

#[derive(Debug)]
struct Reasm {
    next_seq: u32,
    buf: Vec<u8>,
    join: Vec<u8>,
}

/// The server's side of a TLS session while its Certificate message is awaited: the
/// detection the ClientHello gave, and the server's stream (bounded by [`MAX_HELLO`]).
#[derive(Debug, Default)]
struct SrvTls {
    pending: Detection,
    /// What a client-fingerprint (JA3) list says about the ClientHello.
    fp: Label,
    no_sni: bool,
    /// The direction the ClientHello travelled (`c2s` of its packet).
    hello_c2s: bool,
    started: bool,
    next_seq: u32,
    buf: Vec<u8>,
    join: Vec<u8>,
}

/// A fingerprint list's label on a detection: its class and category, when it has them.
fn with_fp(mut d: Detection, fp: Label) -> Detection {
    if fp.class.is_some() {
        d.class = fp.class;
    }
    if fp.category.is_some() {
        d.category = fp.category;
    }
    d
}

pub enum Step {
    /// Decided: classification stops.
    Done(Detection),
    /// Look at more packets.
    More,
}

fn named(sigs: &Signatures, app: &'static str, name: &[u8], sni: bool, tls: bool) -> Detection {
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

fn app(class: Class, app: &'static str) -> Detection {
    Detection {
        class: Some(class),
        app,
        ..Default::default()
    }
}

impl Dpi {
    /// Looks at one packet of an undecided flow. `c2s`: the packet goes from the flow's
    /// initiator to its responder.
    pub fn inspect(&mut self, p: &Packet<'_>, c2s: bool, sigs: &Signatures) -> Step {
        match p.proto {
            PROTO_ESP | PROTO_AH => return Step::Done(app(Class::Vpn, "ipsec")),
            PROTO_GRE => return Step::Done(app(Class::Vpn, "gre")),
            PROTO_ICMP | PROTO_ICMPV6 => return Step::Done(app(Class::Other, "icmp")),
            PROTO_IGMP => return Step::Done(app(Class::Other, "igmp")),
            PROTO_TCP | PROTO_UDP => {}
            _ => return Step::Done(app(Class::UnknownApplication, "ip")),
        }
        let b = p.payload;
        if b.is_empty() {
            return Step::More;
        }
        self.payload_pkts = self.payload_pkts.saturating_add(1);
        let first_dir = if c2s { self.c2s == 0 } else { self.s2c == 0 };
        if c2s {
            self.c2s = self.c2s.saturating_add(1);
        } else {
            self.s2c = self.s2c.saturating_add(1);
        }
        let r = if p.proto == PROTO_TCP {
            self.tcp(p, b, c2s, first_dir, sigs)
        } else {
            self.udp(p, b, c2s, first_dir, sigs)
        };
        match r {
            Some(d) => {
                self.stream = None;
                self.srv = None;
                Step::Done(d)
            }
            None if self.payload_pkts >= MAX_DPI_PACKETS => {
                self.stream = None;
                let d = self.give_up();
                self.srv = None;
                Step::Done(d)
            }
            None => Step::More,
        }
    }

    /// The flow ended (or was evicted) undecided.
    pub fn give_up(&self) -> Detection {
        if let Some(s) = &self.srv {
            with_fp(s.pending.clone(), s.fp)
        } else if self.seen & SEEN_DTLS != 0 {
            dtls_detection(None)
        } else if self.seen & SEEN_STUN != 0 {
            app(Class::Other, "stun")
        } else if self.payload_pkts == 0 {
            app(Class::Other, "no-payload")
        } else {
            app(Class::UnknownApplication, "unknown")
        }
    }

    /// A ClientHello was read (`raw`: the client's stream from its start). Decides now, or
    /// waits for the server's certificate when the hello has no SNI or a certificate
    /// fingerprint list is loaded.
    fn hello_seen(
        &mut self,
        sigs: &Signatures,
        raw: &[u8],
        h: &proto::Hello<'_>,
        c2s: bool,
    ) -> Option<Detection> {
        let d = tls_hello(sigs, h);
        let mut fp = Label::default();
        if sigs.has_ja3() {
            let mut join = Vec::new();
            let mut text = Vec::new();
            if let Some(body) = proto::client_hello_body(raw, &mut join)
                && proto::ja3_string(body, &mut text).is_some()
            {
                use md5::Digest;
                let sum: [u8; 16] = md5::Md5::digest(&text).into();
                fp = sigs.ja3(&sum).unwrap_or_default();
            }
        }
        let no_sni = h.sni.is_none();
        if d.class != Some(Class::Malicious) && (no_sni || sigs.has_cert_sha1()) {
            self.srv = Some(Box::new(SrvTls {
                pending: d,
                fp,
                no_sni,
                hello_c2s: c2s,
                ..Default::default()
            }));
            return None;
        }
        Some(with_fp(d, fp))
    }

    /// A server packet while its certificate is awaited.
    fn server_tls(&mut self, p: &Packet<'_>, b: &[u8], sigs: &Signatures) -> Option<Detection> {
        let s = self.srv.as_mut()?;
        if !s.started {
            s.started = true;
            s.next_seq = p.seq;
        }
        if p.seq != s.next_seq {
            return None; // a retransmission or a gap: the budget ends the wait
        }
        s.next_seq = s.next_seq.wrapping_add(b.len() as u32);
        let take = b.len().min(MAX_HELLO - s.buf.len());
        s.buf.extend_from_slice(&b[..take]);
        let SrvTls {
            buf,
            join,
            pending,
            no_sni,
            fp,
            ..
        } = &mut **s;
        let d = match proto::server_certificate(buf, join) {
            CertScan::Found(cert) => cert_detection(sigs, cert, *no_sni, pending),
            CertScan::More if take == b.len() => return None,
            _ => std::mem::take(pending),
        };
        Some(with_fp(d, *fp))
    }

    fn tls_client(
        &mut self,
        p: &Packet<'_>,
        b: &[u8],
        c2s: bool,
        sigs: &Signatures,
    ) -> Option<Detection> {
        // continue a reassembly
        if let Some(mut r) = self.stream.take() {
            if p.seq == r.next_seq && r.buf.len() + b.len() <= MAX_HELLO {
                r.buf.extend_from_slice(b);
                r.next_seq = r.next_seq.wrapping_add(b.len() as u32);
            } else if p.seq != r.next_seq {
                self.stream = Some(r);
                return None; // out of order or retransmission: wait for the missing bytes
            } else {
                return Some(tls_detection(sigs, None));
            }
            let Reasm { buf, join, .. } = &mut *r;
            let h = match proto::tls_start(buf) {
                TlsStart::Hello(h) => h,
                TlsStart::NeedsJoin => proto::join_records(buf, join),
                TlsStart::Partial { .. } => {
                    self.stream = Some(r);
                    return None;
                }
                _ => return Some(tls_detection(sigs, None)),
            };
            return self.hello_seen(sigs, buf, &h, c2s);
        }
        match proto::tls_start(b) {
            TlsStart::NotTls => None,
            TlsStart::Hello(h) => self.hello_seen(sigs, b, &h, c2s),
            TlsStart::OtherHandshake => Some(tls_detection(sigs, None)),
            TlsStart::NeedsJoin => {
                let mut join = Vec::new();
                let h = proto::join_records(b, &mut join);
                self.hello_seen(sigs, b, &h, c2s)
            }
            TlsStart::Partial { .. } => {
                let mut buf = Vec::with_capacity(4096);
                buf.extend_from_slice(b);
                self.stream = Some(Box::new(Reasm {
                    next_seq: p.seq.wrapping_add(b.len() as u32),
                    buf,
                    join: Vec::new(),
                }));
                None
            }
        }
    }

    fn tcp(
        &mut self,
        p: &Packet<'_>,
        b: &[u8],
        c2s: bool,
        first: bool,
        sigs: &Signatures,
    ) -> Option<Detection> {
        if let Some(s) = &self.srv {
            // the client's further bytes are not looked at; the server's are its certificate
            if c2s == s.hello_c2s {
                return None;
            }
            return self.server_tls(p, b, sigs);
        }
        // the ClientHello normally opens the client's stream; a capture that starts late
        // or a reversed first packet still shows it later or from the other side
        if self.stream.is_some() || b.first() == Some(&0x16) {
            if let Some(d) = self.tls_client(p, b, c2s, sigs) {
                return Some(d);
            }
            if self.stream.is_some() || self.srv.is_some() {
                return None;
            }
        }
        if let Some((method, target)) = proto::http_request(b) {
            return Some(http(sigs, method, target, b));
        }
        if b.starts_with(b"SSH-") {
            return Some(app(Class::RemoteAccess, "ssh"));
        }
        if nomachine_banner(b) {
            return Some(app(Class::RemoteAccess, "nomachine"));
        }
        if b.starts_with(b"RFB 00") && b.len() == 12 {
            return Some(app(Class::RemoteAccess, "vnc"));
        }
        if b.len() >= 20 && b[0] == 19 && &b[1..20] == b"BitTorrent protocol" {
            return Some(app(Class::P2p, "bittorrent"));
        }
        if b.starts_with(b"GNUTELLA") || b.starts_with(b"GIV ") || gnutella_message(b) {
            return Some(app(Class::P2p, "gnutella"));
        }
        if edonkey_tcp(b) {
            return Some(app(Class::P2p, "edonkey"));
        }
        if b.len() >= 8 && b[..4] == [0x2e, 0xa7, 0xd9, 0x0b] {
            return Some(app(Class::P2p, "syncthing"));
        }
        if rdp(b) {
            return Some(app(Class::RemoteAccess, "rdp"));
        }
        if teamviewer_tcp(b) {
            return Some(app(Class::RemoteAccess, "teamviewer"));
        }
        if pptp(b) {
            return Some(app(Class::Vpn, "pptp"));
        }
        if stratum(b) {
            return Some(app(Class::Malicious, "mining"));
        }
        if let Some(g) = game_tcp(b, c2s, p.dport) {
            return Some(app(Class::Game, g));
        }
        // UltraSurf (nDPI's ultrasurf.c): the server's stream opens with a fixed 8-byte magic
        if b.len() >= 8 && b[..8] == [0xcc, 0x1c, 0x30, 0x41, 0x5b, 0xa4, 0x38, 0x66] {
            return Some(app(Class::Vpn, "ultrasurf"));
        }
        if b.len() >= 4
            && usize::from(u16::from_be_bytes([b[0], b[1]])) == b.len() - 2
            && let Some(d) = self.openvpn(&b[2..], c2s)
        {
            return Some(d);
        }
        if c2s && first && rsh(b, p.dport) {
            return Some(app(Class::RemoteAccess, "rsh"));
        }
        if b.len() >= 8 && b[0] == 0 && &b[4..8] == b"WoW\0" {
            return Some(app(Class::Game, "wow"));
        }
        if !c2s && first && server_banner(b) {
            return Some(app(Class::Other, "mail-or-ftp"));
        }
        None
    }

    fn udp(
        &mut self,
        p: &Packet<'_>,
        b: &[u8],
        c2s: bool,
        first: bool,
        sigs: &Signatures,
    ) -> Option<Detection> {
        let ports = [p.sport, p.dport];
        // DNS, mDNS, LLMNR: the question names the flow
        let mut q = [0u8; 256];
        if let Some(n) = proto::dns_question(b, &mut q) {
            let mut d = named(sigs, "dns", &q[..n], false, false);
            // a lookup is name resolution, whatever the name: the flow it prepares is judged
            // on its own
            d.class = Some(Class::Other);
            if ports.contains(&53) || ports.contains(&5353) || ports.contains(&5355) || n > 0 {
                return Some(d);
            }
        }
        // RDP over UDP (MS-RDPEUDP): the SYN datagram is padded to 1232 bytes, its
        // snSourceAck is -1 and its flags carry RDPUDP_FLAG_SYN
        if b.len() == 1232 && b[..4] == [0xff; 4] && b[7] & 0x01 != 0 || rdpeudp_data(b) {
            return Some(app(Class::RemoteAccess, "rdp-udp"));
        }
        if let Some(h) = proto::dtls_hello(b) {
            if let Some(s) = h.sni {
                return Some(named(sigs, "dtls", s, true, true));
            }
            // no SNI: the server's certificate names the service
            self.seen |= SEEN_DTLS;
            return None;
        }
        if self.seen & SEEN_DTLS != 0 {
            if let Some(cert) = proto::dtls_server_certificate(b) {
                return Some(cert_detection(sigs, cert, true, &dtls_detection(None)));
            }
            return None;
        }
        // STUN (RFC 8489): the magic cookie; ICE sessions go on to DTLS (WebRTC), whose
        // certificate may name the service, or to media: look no further than that
        if b.len() >= 20 && b[4..8] == [0x21, 0x12, 0xa4, 0x42] && b[0] & 0xc0 == 0 {
            self.seen |= SEEN_STUN;
            return None;
        }
        if self.seen & SEEN_STUN != 0 {
            return Some(app(Class::Other, "stun"));
        }
        if c2s && (self.quic.is_some() || quic_long(b) || gquic(b)) {
            let q = self.quic.get_or_insert_with(Default::default);
            self.quic_pkts += 1;
            match q.datagram(b) {
                super::quic::QuicSni::Done(Some(sni)) => {
                    self.quic = None;
                    return Some(named(sigs, "quic", sni.as_bytes(), true, true));
                }
                super::quic::QuicSni::More if self.quic_pkts < 4 => return None,
                super::quic::QuicSni::NotInitial if self.quic_pkts == 1 && !quic_long(b) => {
                    self.quic = None;
                }
                _ => {
                    self.quic = None;
                    return Some(Detection {
                        class: Some(Class::Other),
                        app: "quic",
                        tls: true,
                        ..Default::default()
                    });
                }
            }
        }
        if let Some(d) = self.wireguard(b, c2s) {
            return Some(d);
        }
        if ike(b) {
            return Some(app(Class::Vpn, "ike"));
        }
        if raknet(b) {
            return Some(app(Class::Game, "raknet"));
        }
        match raknet_datagram(b) {
            Some(true) => return Some(app(Class::Game, "raknet")),
            Some(false) => {
                // a frame set alone is too easily imitated (RTP starts 0x80): wait for two
                if self.seen & SEEN_RAKNET != 0 {
                    return Some(app(Class::Game, "raknet"));
                }
                self.seen |= SEEN_RAKNET;
            }
            None => {}
        }
        if let Some(g) = game_udp(b) {
            return Some(app(Class::Game, g));
        }
        if let Some(g) = game_datagram(b, ports, self.payload_pkts == 1) {
            return Some(app(Class::Game, g));
        }
        if blizzard_udp(b, ports) {
            return Some(app(Class::Game, "blizzard"));
        }
        if let Some(d) = self.game_handshake(b, c2s, first) {
            return Some(d);
        }
        if let Some(d) = self.openvpn(b, c2s) {
            return Some(d);
        }
        if bencode_dht(b) {
            return Some(app(Class::P2p, "bittorrent-dht"));
        }
        if b.len() >= 3 && &b[..3] == b"GND" && b.len() >= 8 || gnutella_message(b) {
            return Some(app(Class::P2p, "gnutella"));
        }
        if b.len() > 13 && b[0] == 0 && b[11] == 0x17 && b[12] == 0x24 {
            return Some(app(Class::RemoteAccess, "teamviewer"));
        }
        if xdmcp(b) {
            return Some(app(Class::RemoteAccess, "xdmcp"));
        }
        if softether_udp(b) {
            return Some(app(Class::Vpn, "softether"));
        }
        if nomachine_udp(b) {
            if self.seen & SEEN_NOMACHINE != 0 {
                return Some(app(Class::RemoteAccess, "nomachine"));
            }
            self.seen |= SEEN_NOMACHINE;
        }
        if b.starts_with(b"BT-SEARCH * HTTP/1.1") {
            return Some(app(Class::P2p, "bittorrent-lsd"));
        }
        // two bytes of grammar match one random datagram in ~250: a second must agree
        if edonkey_udp(b) {
            if self.seen & SEEN_EDONKEY != 0 {
                return Some(app(Class::P2p, "edonkey"));
            }
            self.seen |= SEEN_EDONKEY;
        }
        if b.len() >= 8 && b[..4] == [0x2e, 0xa7, 0xd9, 0x0b] {
            return Some(app(Class::P2p, "syncthing"));
        }
        if utp(b) {
            self.utp_hits += 1;
            if self.utp_hits >= 2 {
                return Some(app(Class::P2p, "utp"));
            }
        }
        if b.starts_with(b"M-SEARCH ") || b.starts_with(b"NOTIFY * ") {
            return Some(app(Class::Other, "ssdp"));
        }
        if dhcp(b) {
            return Some(app(Class::Other, "dhcp"));
        }
        if ntp(b, ports) {
            return Some(app(Class::Other, "ntp"));
        }
        if netbios(b, ports) {
            return Some(app(Class::Other, "netbios"));
        }
        None
    }

    /// Game handshakes whose shape shows only across the two directions' first datagrams.
    fn game_handshake(&mut self, b: &[u8], c2s: bool, first: bool) -> Option<Detection> {
        let dir = if c2s { 0 } else { 0x80 };
        // Activision's (Call of Duty) connection handshake (nDPI's activision.c): the two
        // sides open with the magics 0x0c02 and 0x0d02, one each
        if first && b.len() >= 18 && matches!(b[0], 0x0c | 0x0d) && b[1] == 0x02 {
            if self.act_open == 0 {
                self.act_open = b[0] | dir;
            } else if self.act_open & 0x80 != dir && self.act_open & 0x7f == b[0] ^ 0x01 {
                return Some(app(Class::Game, "activision"));
            }
        }
        // Epic Online Services (nDPI's epicgames.c): the first datagram is a 32-bit word
        // with bit 3 clear and 24 zero bytes from offset 10; the peer's first reply
        // repeats the word with bit 3 set
        if self.payload_pkts == 1
            && b.len() >= 34
            && b[3] & 0x08 == 0
            && b[10..34].iter().all(|&x| x == 0)
        {
            let w = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
            if w != 0 {
                self.hs_word = EPIC_TAG | u64::from(w);
            }
        }
        // the reply is the other side's first datagram, within the flow's first four
        if first
            && self.hs_word & EPIC_TAG != 0
            && (2..=4).contains(&self.payload_pkts)
            && b.len() > 4
        {
            let w = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
            if u64::from(w) == (self.hs_word & 0xffff_ffff) | 0x08 {
                return Some(app(Class::Game, "epicgames"));
            }
            self.hs_word = 0;
        }
        // League of Legends: Wild Rift (nDPI's lol_wild_rift.c): a 69-byte datagram opening
        // 0x04000000 answered by a 359-byte one opening 0x10000000
        if b.len() == 69 && b[..4] == [4, 0, 0, 0] {
            self.seen |= SEEN_WILDRIFT;
        } else if self.seen & SEEN_WILDRIFT != 0 && b.len() == 359 && b[..4] == [0x10, 0, 0, 0] {
            return Some(app(Class::Game, "lol-wild-rift"));
        }
        // Call of Duty: Mobile (nDPI's cod_mobile.c): within the first four datagrams, one
        // over 350 bytes opening 0xce that names the loadout strings of the game's lobby
        if self.payload_pkts <= 4
            && b.len() > 350
            && b[0] == 0xce
            && proto::find(b, b"LOC_PREFAB_LOADOUTNAME_1").is_some()
        {
            return Some(app(Class::Game, "cod-mobile"));
        }
        // RakNet's offline messages (nDPI's raknet.c, wiki.vg Raknet_Protocol): each message
        // of the flow must fit its type's fixed layout; enough of them decide
        if self.seen & SEEN_NOT_RAKNET == 0 {
            match raknet_offline(b) {
                Some(need) if self.payload_pkts >= need => {
                    return Some(app(Class::Game, "raknet"));
                }
                Some(_) => {}
                None => self.seen |= SEEN_NOT_RAKNET,
            }
        }
        None
    }

    /// OpenVPN (UDP, or TCP after the 2-byte length): a control packet's opcode and key id,
    /// then an 8-byte session id that repeats across the control packets of one direction;
    /// the hard-reset handshake is recognised from its first packet.
    fn openvpn(&mut self, b: &[u8], c2s: bool) -> Option<Detection> {
        if b.len() < 14 {
            return None;
        }
        let op = b[0] >> 3;
        let key = b[0] & 7;
        // hard reset client v2/v3 starts the session with key id 0 and message-id 0
        if (op == 7 || op == 10) && key == 0 && c2s && self.c2s <= 1 {
            if hard_reset(b) {
                return Some(app(Class::Vpn, "openvpn"));
            }
            self.ovpn_reset = true;
        }
        if !matches!(op, 3..=10) || op == 6 || op == 9 {
            return None;
        }
        let sid = u64::from_be_bytes(b[1..9].try_into().ok()?);
        if sid == 0 {
            return None;
        }
        let d = usize::from(!c2s);
        if self.ovpn_sid[d] == sid {
            self.ovpn_hits[d] += 1;
        } else {
            self.ovpn_sid[d] = sid;
            self.ovpn_hits[d] = 1;
            self.ovpn_ops[d] = 0;
        }
        self.ovpn_ops[d] |= 1 << op;
        // a server's hard reset acknowledges the client's session id
        if op == 8 && !c2s && self.ovpn_sid[0] != 0 {
            let want = self.ovpn_sid[0].to_be_bytes();
            if proto::find(&b[9..], &want).is_some() {
                return Some(app(Class::Vpn, "openvpn"));
            }
        }
        // a session shows control and acknowledgement packets (different opcodes) under one
        // session id; a protocol with a constant 9-byte prefix does not
        if (self.ovpn_hits[d] >= 3 && self.ovpn_ops[d].count_ones() >= 2)
            || (self.ovpn_reset && self.ovpn_hits[0] >= 2 && self.ovpn_ops[0].count_ones() >= 2)
        {
            return Some(app(Class::Vpn, "openvpn"));
        }
        None
    }

    /// WireGuard: message types 1–4 with three zero reserved bytes and the fixed sizes of the
    /// handshake messages; transport data is a multiple of 16 bytes after its header.
    fn wireguard(&mut self, b: &[u8], c2s: bool) -> Option<Detection> {
        if b.len() < 32 {
            return None;
        }
        // Cloudflare WARP's WireGuard (nDPI's cloudflare_warp.c documents it): message types
        // 0xc1–0xc4 and the reserved bytes used after the first message. As in WireGuard,
        // a transport message's receiver index is the responder's sender index: the
        // client's 0xc4 repeats the reserved bytes and index of the server's 0xc2.
        if b[0] == 0xc2 && !c2s {
            self.hs_word = u64::from_be_bytes(b[..8].try_into().ok()?) & 0x00ff_ffff_ffff_ffff;
            return None;
        }
        if b[0] == 0xc4 && c2s && self.hs_word != 0 && self.hs_word & EPIC_TAG == 0 {
            let v = u64::from_be_bytes(b[..8].try_into().ok()?) & 0x00ff_ffff_ffff_ffff;
            let counter = u64::from_le_bytes(b[8..16].try_into().ok()?);
            return (v == self.hs_word && counter < 1 << 32)
                .then(|| app(Class::Vpn, "cloudflare-warp"));
        }
        if b[1..4] != [0, 0, 0] {
            return None;
        }
        let ok = match b[0] {
            1 => b.len() == 148,
            2 => b.len() == 92,
            3 => b.len() == 64,
            4 => (b.len() - 16).is_multiple_of(16),
            _ => false,
        };
        if !ok {
            return None;
        }
        if b[0] == 1 || b[0] == 2 {
            return Some(app(Class::Vpn, "wireguard"));
        }
        self.wg_hits += 1;
        (self.wg_hits >= 3).then(|| app(Class::Vpn, "wireguard"))
    }
}

fn tls_hello(sigs: &Signatures, h: &proto::Hello<'_>) -> Detection {
    let mut d = tls_detection(sigs, h.sni);
    if d.class == Some(Class::Other) && h.alpn.is_none() && h.sni.is_some_and(tor_like) {
        d.class = Some(Class::Vpn);
        d.app = "tor";
    }
    d
}

/// Tor relays' TLS: no ALPN and a made-up `www.<random>.com|net` name of base32-like
/// characters (a digit among them, a long consonant run: not a word).
fn tor_like(sni: &[u8]) -> bool {
    let Some(rest) = sni.strip_prefix(b"www.") else {
        return false;
    };
    let Some(label) = rest
        .strip_suffix(b".com")
        .or_else(|| rest.strip_suffix(b".net"))
    else {
        return false;
    };
    if !(8..=20).contains(&label.len())
        || !label
            .iter()
            .all(|c| c.is_ascii_lowercase() || (b'2'..=b'7').contains(c))
    {
        return false;
    }
    let digit = label.iter().any(u8::is_ascii_digit);
    let mut run = 0;
    let mut longest = 0;
    for c in label {
        if c.is_ascii_lowercase() && !b"aeiouy".contains(c) {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    digit && longest >= 4
}

fn dtls_detection(sni: Option<&[u8]>) -> Detection {
    Detection {
        class: Some(Class::Other),
        app: "dtls",
        tls: true,
        sni: sni.is_some(),
        ..Default::default()
    }
}

/// The decision from a server certificate (DER, whole): without an SNI, the first of its
/// names (subject CN, subjectAltNames, organisations) a list knows names the flow; a
/// certificate fingerprint list (SHA-1, nDPI's sha1_fingerprints.csv) may label it.
fn cert_detection(sigs: &Signatures, cert: &[u8], no_sni: bool, pending: &Detection) -> Detection {
    let mut d = pending.clone();
    if no_sni {
        let mut hit: Option<(&[u8], Label)> = None;
        let mut first: Option<&[u8]> = None;
        proto::cert_names(cert, |n| {
            let n = n.strip_prefix(b"*.").unwrap_or(n);
            first.get_or_insert(n);
            let l = sigs.name(n);
            if l.class.is_some() || l.category.is_some() {
                hit = Some((n, l));
                return true;
            }
            false
        });
        if let Some(n) = hit.map(|h| h.0).or(first) {
            let app = d.app;
            d = named(sigs, app, n, false, true);
            d.class.get_or_insert(Class::Other);
        }
    }
    if sigs.has_cert_sha1() {
        use sha1::Digest;
        let sum: [u8; 20] = sha1::Sha1::digest(cert).into();
        if let Some(l) = sigs.cert_sha1(&sum) {
            d = with_fp(d, l);
        }
    }
    d
}

fn tls_detection(sigs: &Signatures, sni: Option<&[u8]>) -> Detection {
    match sni {
        Some(s) => {
            let mut d = named(sigs, "tls", s, true, true);
            d.class.get_or_insert(Class::Other);
            d
        }
        None => Detection {
            class: Some(Class::Other),
            app: "tls",
            tls: true,
            ..Default::default()
        },
    }
}

fn http(sigs: &Signatures, method: &[u8], target: &[u8], b: &[u8]) -> Detection {
    let host = proto::http_header(b, b"Host").map(proto::host_only);
    let mut d = match host {
        Some(h) if !h.is_empty() => named(sigs, "http", h, false, false),
        _ => Detection {
            app: "http",
            ..Default::default()
        },
    };
    let ua = proto::http_header(b, b"User-Agent").unwrap_or(b"");
    let p2p = (target.starts_with(b"/announce") || target.starts_with(b"/scrape"))
        && proto::find(target, b"info_hash=").is_some()
        || target.starts_with(b"/uri-res/")
        || proto::http_header(b, b"X-Gnutella-Content-URN").is_some()
        || proto::http_header(b, b"X-Queue").is_some()
        || [
            "BitTorrent",
            "uTorrent",
            "Transmission",
            "qBittorrent",
            "Azureus",
            "libtorrent",
            "eMule",
            "Shareaza",
            "LimeWire",
            "FrostWire",
        ]
        .iter()
        .any(|c| proto::find(ua, c.as_bytes()).is_some());
    if p2p {
        d.class = Some(Class::P2p);
        d.app = "p2p-http";
    } else if target.starts_with(b"/vpnsvc/") {
        d.class = Some(Class::Vpn);
        d.app = "softether";
    } else if method == b"CONNECT" {
        d.app = "http-connect";
    }
    d.class.get_or_insert(Class::Other);
    d
}

fn hard_reset(b: &[u8]) -> bool {
    // opcode(1) session(8) [hmac(h) packet-id(4) time(4)] ack-len(1)=0 message-id(4)=0
    for h in [0usize, 16, 20, 32, 64] {
        let p = if h == 0 { 9 } else { 9 + h + 8 };
        if b.len() >= p + 5 && b[p] == 0 && b[p + 1..p + 5] == [0, 0, 0, 0] {
            // and nothing implausible after it: a TLS ClientHello or nothing (v2)
            let rest = &b[p + 5..];
            if rest.is_empty() || rest[0] == 0x16 || b[0] >> 3 == 10 {
                return true;
            }
        }
    }
    false
}

fn ike(b: &[u8]) -> bool {
    // optional non-ESP marker (UDP 4500)
    let b = if b.len() >= 4 && b[..4] == [0, 0, 0, 0] {
        &b[4..]
    } else {
        b
    };
    if b.len() < 28 {
        return false;
    }
    let ver = b[17];
    let exch = b[18];
    let len = u32::from_be_bytes([b[24], b[25], b[26], b[27]]) as usize;
    b[..8] != [0; 8]
        && (ver == 0x10 || ver == 0x20)
        && matches!(exch, 1..=6 | 32..=37)
        && len == b.len()
}

fn bencode_dht(b: &[u8]) -> bool {
    b.len() > 12
        && b.starts_with(b"d1:")
        && b.ends_with(b"e")
        && (proto::find(b, b"1:y1:q").is_some()
            || proto::find(b, b"1:y1:r").is_some()
            || proto::find(b, b"1:y1:e").is_some()
            || proto::find(b, b"2:id20:").is_some())
}

fn utp(b: &[u8]) -> bool {
    // type(4 bits, 0..=4) version(4 bits)=1, extension, connection id, timestamp,
    // timestamp diff, window, seq, ack: 20 bytes
    if b.len() < 20 || b[0] & 0x0f != 1 || b[0] >> 4 > 4 {
        return false;
    }
    let mut ext = b[1];
    let mut i = 20;
    let mut guard = 0;
    while ext != 0 {
        if ext > 4 || guard > 4 || b.len() < i + 2 {
            return false;
        }
        ext = b[i];
        let l = usize::from(b[i + 1]);
        i += 2 + l;
        guard += 1;
    }
    // ST_STATE and ST_SYN carry no data
    let t = b[0] >> 4;
    i <= b.len() && !(t == 2 || t == 4) || i == b.len()
}

const RAKNET_MAGIC: [u8; 16] = [
    0x00, 0xff, 0xff, 0x00, 0xfe, 0xfe, 0xfe, 0xfe, 0xfd, 0xfd, 0xfd, 0xfd, 0x12, 0x34, 0x56, 0x78,
];

fn raknet(b: &[u8]) -> bool {
    b.len() >= 17 && b.len() <= 1600 && b.windows(16).take(20).any(|w| w == RAKNET_MAGIC)
}

fn source_engine(b: &[u8]) -> bool {
    // connectionless packets: 0xFFFFFFFF then an A2S/A2A query character
    b.len() >= 5
        && b[..4] == [0xff, 0xff, 0xff, 0xff]
        && (b[4..].starts_with(b"TSource Engine Query")
            || matches!(
                b[4],
                b'U' | b'V' | b'W' | b'q' | b'A' | b'I' | b'E' | b'D' | b'j' | b'k' | b'i'
            ) && b.len() <= 1400)
}

/// Blizzard's UDP game transport (Heroes of the Storm; nDPI's hots.c), on the ports
/// Blizzard documents for its games (1119, 1120, 3724, 6113): bytes 14–15 are 0x4000 and
/// the header before them is either all zero or carries 0x0300 / 0x3400 at offset 2.
fn blizzard_udp(b: &[u8], ports: [u16; 2]) -> bool {
    (20..=122).contains(&b.len())
        && ports.iter().any(|p| matches!(p, 1119 | 1120 | 3724 | 6113))
        && b[14..16] == [0x40, 0x00]
        && (b[2..4] == [0x03, 0x00] || b[2..4] == [0x34, 0x00] || b[..14].iter().all(|&x| x == 0))
}

/// RakNet's offline (unconnected) messages and handshake (nDPI's raknet.c after
/// wiki.vg's Raknet_Protocol): the message id and the layout it fixes. `Some(n)`: a
/// plausible message, RakNet once the flow has `n` datagrams; `None`: not RakNet.
/// Connected frame sets and ACKs are [`raknet_datagram`]'s.
fn raknet_offline(b: &[u8]) -> Option<u8> {
    let ip = |o: usize| match b.get(o) {
        Some(4) => Some(4usize),
        Some(6) => Some(16),
        _ => None,
    };
    let mtu_ok = |o: usize| {
        b.get(o..o + 2)
            .is_some_and(|m| u16::from_be_bytes([m[0], m[1]]) <= 1500)
    };
    if b.len() < 7 {
        return None;
    }
    match b[0] {
        0x00 if b.len() == 8 => Some(6),                 // connected ping
        0x01 | 0x02 if b.len() == 32 => Some(6),         // unconnected ping
        0x03 if b.len() == 16 => Some(6),                // connected pong
        0x05 if b.len() >= 18 && b[17] <= 10 => Some(6), // open connection request 1
        0x06 if b.len() == 28 && b[25] <= 1 && mtu_ok(26) => Some(4),
        0x07 => {
            let a = ip(17)?;
            (b.len() == 18 + a + 2 + 2 + 8 && mtu_ok(20 + a)).then_some(3)
        }
        0x08 => {
            let a = ip(25)?;
            (b.len() == 26 + a + 2 + 2 + 1 && mtu_ok(28 + a)).then_some(3)
        }
        0x09 if b.len() == 16 => Some(6), // connection request
        0x10 | 0x13 => {
            // as nDPI reads it: an address type at offset 0 (the id itself, so none)
            let mut o = 4 + ip(0).unwrap_or(0);
            if b[0] == 0x10 {
                o += 2;
            }
            for _ in 0..10 {
                o += 3 + ip(o).unwrap_or(0);
            }
            (o + 16 == b.len()).then_some(3)
        }
        0x19 if b.len() == 25 && b[17] <= 10 => Some(3), // incompatible protocol
        // unconnected pong: the server's MOTD, its 16-bit length fitting the datagram
        0x1c if b.len() >= 35 => {
            let l = usize::from(u16::from_be_bytes([b[33], b[34]]));
            (l > 0 && l + 35 == b.len()).then_some(3)
        }
        0x80..=0x8d | 0xa0 | 0xc0 => Some(u8::MAX),
        _ => None,
    }
}

/// Game signatures of one datagram from nDPI's dissectors (cited per rule). `first`: the
/// flow's first datagram.
fn game_datagram(b: &[u8], ports: [u16; 2], first: bool) -> Option<&'static str> {
    let be32 = |o: usize| {
        b.get(o..o + 4)
            .map(|x| u32::from_be_bytes([x[0], x[1], x[2], x[3]]))
    };
    // Among Us (nDPI's among_us.c): the handshake's first 8 bytes are fixed
    if b.len() > 9 && b[..8] == [0x08, 0x00, 0x01, 0x00, 0x80, 0xd9, 0x02, 0x03] {
        return Some("among-us");
    }
    // Gaijin Entertainment (nDPI's gaijin_entertainment.c): a 52-byte 0x8fff00 / 0x82ff0001
    // hello, or the game's plain-text telemetry events
    if b.len() == 52 && b[..3] == [0x8f, 0xff, 0] && be32(4) == Some(0x82ff_0001) {
        return Some("gaijin");
    }
    if b.len() > 100
        && (b.starts_with(b"embeddedupdater.")
            || b.starts_with(b"app.start")
            || b.starts_with(b"app.stage"))
    {
        return Some("gaijin");
    }
    // LoL: Wild Rift (nDPI's lol_wild_rift.c): a 22-byte datagram opening 0x0102c841 and
    // ending "A0B1"
    if b.len() == 22 && be32(0) == Some(0x0102_c841) && b.ends_with(b"A0B1") {
        return Some("lol-wild-rift");
    }
    // Call of Duty: Mobile (nDPI's cod_mobile.c): the 12-byte "ping" on its port 7500
    if b.len() == 12 && ports.contains(&7500) && &b[8..12] == b"ping" {
        return Some("cod-mobile");
    }
    // Riot Games (nDPI's riotgames.c): a 53-byte datagram with a fixed 8-byte trailer
    if b.len() == 53 && b.ends_with(&[0x3c, 0xb1, 0x1f, 0x2d, 0xea, 0x23, 0x46, 0x0c]) {
        return Some("riotgames");
    }
    // Toca Boca's Photon traffic (nDPI's toca_boca.c): a ping of 0x7d bytes, the first
    // datagram's connect command, an acknowledgement command of 20 bytes
    if b.len() >= 13 && b[..8] == [0x7d; 8] {
        return Some("tocaboca");
    }
    if first && b.len() >= 24 && be32(0) == Some(0xffff_0001) && be32(12) == Some(0x02ff_0104) {
        return Some("tocaboca");
    }
    if b.len() >= 32
        && matches!(u16::from_be_bytes([b[2], b[3]]), 1..=3)
        && matches!(be32(12), Some(0x01ff_0000 | 0x0100_0000))
        && be32(16) == Some(0x14)
    {
        return Some("tocaboca");
    }
    // Blizzard's Warcraft Rumble (nDPI's blizzard.c): the client's fixed 23-byte hello
    if b.len() == 23
        && b[..23]
            == [
                0xff, 0xff, 0xff, 0xff, 0xa3, 0x1f, 0xb6, 0x1e, 0, 0, 0x40, 1, 0, 0, 0, 0, 0, 0, 0,
                4, 3, 2, 1,
            ]
    {
        return Some("blizzard");
    }
    None
}

/// Game signatures of a TCP segment from nDPI's dissectors (cited per rule).
fn game_tcp(b: &[u8], c2s: bool, dport: u16) -> Option<&'static str> {
    let be32 = |o: usize| {
        b.get(o..o + 4)
            .map(|x| u32::from_be_bytes([x[0], x[1], x[2], x[3]]))
    };
    // Tencent Games (nDPI's tencent_games.c): four framings of its game protocol
    if b.len() > 50
        && (be32(0) == Some(0x3366_000b) && b[4..6] == [0, 0x0b]
            || be32(0) == Some(0x4366_aa00) && be32(12) == Some(0x10e6_8601)
            || be32(0) == Some(0xaa00_0000) && be32(10) == Some(0x10e6_8601)
            || b[..2] == [0, 0]
                && usize::from(u16::from_be_bytes([b[2], b[3]])) == b.len() - 4
                && b[4..6] == [0x78, 0x01])
    {
        return Some("tencent-games");
    }
    // Path of Exile (nDPI's pathofexile.c): the login packet's fixed fields around the
    // character's name, and Path of Exile 2's 19-byte variant
    if b.len() == 19
        && b[0] == 0
        && b[1..3] == [3, 0]
        && b[7..9] == [2, 0]
        && be32(15) == Some(0x40)
    {
        return Some("path-of-exile");
    }
    if (26..50).contains(&b.len())
        && b[0] == 0
        && b[6] == 0
        && b[1..3] == [3, 0]
        && b[7..9] == [2, 0]
        && be32(b.len() - 8) == Some(0)
        && be32(b.len() - 4) == Some(0x4000_0001)
    {
        return Some("path-of-exile");
    }
    // Battle.net (nDPI's blizzard.c, starcraft.c): the client's first message to
    // Blizzard's documented game port 1119
    if c2s
        && dport == 1119
        && (b.starts_with(&[0x41, 0, 0, 0x0a, 0x66, 0x52, 0xed, 0xc6])
            || b.starts_with(&[0x4a, 0, 0, 0x0a, 0x66, 0x02, 0x0a, 0xed, 0x2d, 0x66])
            || b.starts_with(&[0x49, 0, 0, 0x0a, 0x66, 0x02, 0x0a, 0xed, 0x2d, 0x66]))
    {
        return Some("battle.net");
    }
    // World of Warcraft (nDPI's blizzard.c): the connection's greeting string
    if b.starts_with(b"WORLD OF WARCRAFT CONNECTION") {
        return Some("wow");
    }
    None
}

/// Game networking protocols shared by many titles, recognised from their framing.
fn game_udp(b: &[u8]) -> Option<&'static str> {
    if source_engine(b) {
        return Some("source-engine");
    }
    // CryEngine's network layer (nDPI's crynet.c): the first byte is the datagram's length
    // less 10, with fixed fields 0x01 at 16, 0x07 at 20 and 0x0307 at 24
    if b.len() >= 26
        && usize::from(b[0]) + 10 == b.len()
        && b[16] == 0x01
        && b[20] == 0x07
        && b[24..26] == [0x03, 0x07]
    {
        return Some("crynet");
    }
    // Riot Games' UDP game protocol (nDPI's riotgames.c): every datagram ends with the
    // 8-byte trailer 0xaaaaaaaa 0xbbbbbbbb
    if b.len() > 8 && b.ends_with(&[0xaa, 0xaa, 0xaa, 0xaa, 0xbb, 0xbb, 0xbb, 0xbb]) {
        return Some("riotgames");
    }
    // Nintendo's Pia peer-to-peer library: a fixed 4-byte magic
    if b.len() >= 16 && b[..4] == [0x32, 0xab, 0x98, 0x64] {
        return Some("nintendo-pia");
    }
    // netcode.io (yojimbo): a connection request carries the protocol's version string
    if b.len() >= 14 && b[0] == 0 && &b[1..13] == b"NETCODE 1.02" {
        return Some("netcode");
    }
    // Steam's datagram protocol
    if b.len() >= 20 && (&b[..4] == b"VS01" || &b[4..8] == b"VS01") {
        return Some("steam");
    }
    // Photon (Exit Games): peer id, flags, command count, time, challenge; then commands
    // of type 1–12 with a 4-byte length that fits the datagram
    if b.len() >= 24 && b[3] >= 1 && b[3] <= 32 && (1..=12).contains(&b[12]) && b[15] <= 4 {
        let l = u32::from_be_bytes([b[16], b[17], b[18], b[19]]) as usize;
        if l >= 12 && l <= b.len() - 12 && (b[3] > 1 || l == b.len() - 12) {
            return Some("photon");
        }
    }
    None
}

/// A Gnutella 0.6 message: 16-byte GUID, function, TTL, hops, little-endian payload size
/// that accounts for the rest of the datagram.
fn gnutella_message(b: &[u8]) -> bool {
    b.len() >= 23
        && matches!(
            b[16],
            0x00 | 0x01 | 0x02 | 0x31 | 0x32 | 0x40 | 0x44 | 0x80 | 0x81
        )
        && b[17] <= 16
        && b[18] <= 16
        && u32::from_le_bytes([b[19], b[20], b[21], b[22]]) as usize == b.len() - 23
}

/// NoMachine's NX handshake (nDPI's nomachine.c): before its TLS, the client sends
/// `NXSH-<version>` and the server `NXD-<version>`, one line each.
fn nomachine_banner(b: &[u8]) -> bool {
    let v = b.strip_prefix(b"NXSH-").or_else(|| b.strip_prefix(b"NXD-"));
    (11..=16).contains(&b.len())
        && v.and_then(|v| v.strip_suffix(b"\n")).is_some_and(|v| {
            v.first().is_some_and(u8::is_ascii_digit)
                && v.iter().all(|c| c.is_ascii_digit() || *c == b'.')
        })
}

/// NoMachine's media datagrams (nDPI's nomachine.c): a little-endian 16-bit field 1 at
/// offset 2, the datagram's own length at offset 4, zero at offset 8.
fn nomachine_udp(b: &[u8]) -> bool {
    b.len() >= 10
        && b[2..4] == [1, 0]
        && usize::from(u16::from_le_bytes([b[4], b[5]])) == b.len()
        && b[8..10] == [0, 0]
}

/// MS-RDPEUDP after the SYN exchange: RDPUDP_FEC_HEADER (snSourceAck, uReceiveWindowSize,
/// uFlags with ACK and DATA, no SYN/FIN/FEC), RDPUDP_ACK_VECTOR_HEADER (uAckVectorSize,
/// elements, padding to 4 bytes), optionally RDPUDP_ACK_OF_ACKVECTOR_HEADER, then
/// RDPUDP_SOURCE_PAYLOAD_HEADER whose snCoded equals snSourceStart for a source packet, and
/// the payload is the channel's TLS (or DTLS) record.
fn rdpeudp_data(b: &[u8]) -> bool {
    if b.len() < 32 {
        return false;
    }
    let flags = u16::from_be_bytes([b[6], b[7]]);
    if flags & 0x000c != 0x000c || flags & 0x0013 != 0 {
        return false;
    }
    let n = usize::from(u16::from_be_bytes([b[8], b[9]]));
    if n > 2048 {
        return false;
    }
    let mut o = (10 + n + 3) & !3;
    if flags & 0x0100 != 0 {
        o += 4;
    }
    if b.len() < o + 13 || b[o..o + 4] != b[o + 4..o + 8] {
        return false;
    }
    let r = &b[o + 8..];
    let tls = matches!(r[0], 0x14..=0x17) && r[1] == 3 && r[2] <= 4;
    let dtls = matches!(r[0], 0x14..=0x17) && r[1] == 0xfe && r[2] >= 0xfd;
    let len = usize::from(u16::from_be_bytes([r[3], r[4]]));
    tls && len > 0 && len + 5 <= r.len() || dtls
}

/// SoftEther VPN's UDP acceleration / NAT traversal (nDPI's softether.c): the server's
/// `IP=<address>,PORT=<port>` reply, or a message in SoftEther's PACK serialisation.
fn softether_udp(b: &[u8]) -> bool {
    if (12..30).contains(&b.len())
        && let Some(rest) = b.strip_prefix(b"IP=")
        && let Some(i) = proto::find(rest, b",PORT=")
    {
        let (ip, port) = (&rest[..i], &rest[i + 6..]);
        return !ip.is_empty()
            && ip
                .iter()
                .all(|c| c.is_ascii_hexdigit() || *c == b'.' || *c == b':')
            && (1..=5).contains(&port.len())
            && port.iter().all(u8::is_ascii_digit);
    }
    softether_pack(b)
}

/// SoftEther's PACK (Pack.c): a big-endian element count, then per element its name
/// (length counting a terminator, then the name), a value type 0–4 (int, data, str,
/// unistr, int64) and a value count, then the values. The first elements must walk.
fn softether_pack(b: &[u8]) -> bool {
    let be = |i: usize| -> Option<usize> {
        Some(u32::from_be_bytes(b.get(i..i + 4)?.try_into().ok()?) as usize)
    };
    if b.len() < 99 {
        return false;
    }
    let Some(count) = be(0) else { return false };
    if !(1..=4096).contains(&count) {
        return false;
    }
    let mut o = 4;
    for _ in 0..count.min(3) {
        let Some(nl) = be(o) else { return false };
        if !(2..=64).contains(&nl) {
            return false;
        }
        let Some(name) = b.get(o + 4..o + 3 + nl) else {
            return false;
        };
        if !name
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'.' || *c == b'-')
        {
            return false;
        }
        o += 3 + nl;
        let (Some(t), Some(n)) = (be(o), be(o + 4)) else {
            return false;
        };
        if t > 4 || !(1..=64).contains(&n) {
            return false;
        }
        o += 8;
        for _ in 0..n {
            o += match t {
                0 => 4,
                4 => 8,
                _ => match be(o) {
                    Some(l) if l <= b.len() => 4 + l,
                    _ => return false,
                },
            };
            if o > b.len() {
                return false;
            }
        }
    }
    true
}

/// RakNet's connected datagrams (wiki.vg Raknet_Protocol): a frame set (0x80–0x8d, 24-bit
/// sequence number, frames of flags, bit length and the reliability's extra fields) or an
/// ACK/NACK (0xc0/0xa0, record count, records single or ranged), whose structure must
/// account for the whole datagram. `Some(true)`: an ACK/NACK; `Some(false)`: a frame set.
fn raknet_datagram(b: &[u8]) -> Option<bool> {
    if b.len() < 7 {
        return None;
    }
    match b[0] {
        0x80..=0x8d => {
            let mut o = 4;
            let mut frames = 0;
            while o + 3 <= b.len() {
                let f = b[o];
                if f & 0x0f != 0 {
                    return None;
                }
                let bits = usize::from(u16::from_be_bytes([b[o + 1], b[o + 2]]));
                if bits == 0 || bits % 8 != 0 {
                    return None;
                }
                let rel = f >> 5;
                o += 3;
                if (2..=4).contains(&rel) {
                    o += 3;
                }
                if rel == 1 || rel == 4 {
                    o += 3;
                }
                if rel == 3 || rel == 7 {
                    o += 4;
                }
                if f & 0x10 != 0 {
                    o += 10;
                }
                o += bits / 8;
                frames += 1;
            }
            (frames > 0 && o == b.len()).then_some(false)
        }
        0xa0 | 0xc0 => {
            let count = usize::from(u16::from_be_bytes([b[1], b[2]]));
            let mut o = 3;
            for _ in 0..count {
                o += match b.get(o) {
                    Some(0) => 7,
                    Some(1) => 4,
                    _ => return None,
                };
            }
            (count > 0 && o == b.len()).then_some(true)
        }
        _ => None,
    }
}

/// XDMCP: version 1, an opcode of the protocol, and a length that matches.
fn xdmcp(b: &[u8]) -> bool {
    b.len() >= 6
        && b[..2] == [0, 1]
        && b[2] == 0
        && (1..=15).contains(&b[3])
        && usize::from(u16::from_be_bytes([b[4], b[5]])) == b.len() - 6
}

/// rsh/rexec/rlogin: the client's first bytes are its stderr port (or nothing) as ASCII
/// digits and a NUL, to the r-services' ports.
fn rsh(b: &[u8], dport: u16) -> bool {
    matches!(dport, 512..=514)
        && (1..=6).contains(&b.len())
        && b[b.len() - 1] == 0
        && b[..b.len() - 1].iter().all(u8::is_ascii_digit)
}

fn edonkey_tcp(b: &[u8]) -> bool {
    b.len() >= 6
        && matches!(b[0], 0xe3 | 0xc5 | 0xd4)
        && u32::from_le_bytes([b[1], b[2], b[3], b[4]]) as usize == b.len() - 5
        && matches!(
            b[5],
            0x01 | 0x4c | 0x38 | 0x58 | 0x60 | 0x46 | 0x47 | 0x4b | 0x15
        )
}

fn edonkey_udp(b: &[u8]) -> bool {
    // eDonkey / Kademlia UDP: protocol byte, then an opcode of the server or Kad ranges
    b.len() >= 18
        && b.len() <= 1500
        && matches!(
            (b[0], b[1]),
            (0xe3, 0x96..=0x9b) | (0xc5, 0x90..=0x9b) | (0xe4, 0x00..=0x6a) | (0xe5, 0x00..=0x6a)
        )
}

fn rdp(b: &[u8]) -> bool {
    // TPKT + X.224 connection request (0xE0) or confirm (0xD0)
    b.len() >= 11
        && b[0] == 3
        && b[1] == 0
        && usize::from(u16::from_be_bytes([b[2], b[3]])) == b.len()
        && (b[5] == 0xe0 || b[5] == 0xd0)
        && usize::from(b[4]) + 5 == b.len()
}

fn teamviewer_tcp(b: &[u8]) -> bool {
    b.len() >= 6
        && ((b[0] == 0x17 && b[1] == 0x24) || (b[0] == 0x11 && b[1] == 0x30))
        && b[2] <= 0x40
}

fn pptp(b: &[u8]) -> bool {
    b.len() >= 16
        && usize::from(u16::from_be_bytes([b[0], b[1]])) == b.len()
        && b[2..4] == [0, 1]
        && b[4..8] == [0x1a, 0x2b, 0x3c, 0x4d]
}

fn stratum(b: &[u8]) -> bool {
    b.first() == Some(&b'{')
        && (proto::find(b, b"\"mining.subscribe\"").is_some()
            || proto::find(b, b"\"mining.authorize\"").is_some()
            || proto::find(b, b"\"mining.notify\"").is_some()
            || (proto::find(b, b"\"method\":\"login\"").is_some()
                || proto::find(b, b"\"method\": \"login\"").is_some())
                && proto::find(b, b"\"agent\"").is_some()
            || proto::find(b, b"\"method\":\"eth_submitLogin\"").is_some()
            || proto::find(b, b"\"method\": \"eth_submitLogin\"").is_some())
}

fn server_banner(b: &[u8]) -> bool {
    b.starts_with(b"220 ")
        || b.starts_with(b"220-")
        || b.starts_with(b"* OK")
        || b.starts_with(b"+OK")
}

fn quic_long(b: &[u8]) -> bool {
    b.len() >= 1200 - 100 && b[0] & 0xc0 == 0xc0 && {
        let v = u32::from_be_bytes([b[1], b[2], b[3], b[4]]);
        v == 1
            || v == 0x6b3343cf
            || (v & 0xffffff00) == 0xff000000
            || (v & 0x0f0f0f0f) == 0x0a0a0a0a
            || v == 0x51303530
            || v == 0x51303436
            || v == 0x51303433
    }
}

/// A Google QUIC client packet: public flags with the version bit, then `Q0xx`.
fn gquic(b: &[u8]) -> bool {
    b.len() >= 1000 && b[0] & 0x01 == 0x01 && b[0] & 0x80 == 0 && b.get(9) == Some(&b'Q')
        || b.len() >= 1000 && b[0] & 0xc0 == 0xc0 && b[1] == b'Q'
}

fn dhcp(b: &[u8]) -> bool {
    b.len() >= 240 && matches!(b[0], 1 | 2) && b[236..240] == [0x63, 0x82, 0x53, 0x63]
}

fn ntp(b: &[u8], ports: [u16; 2]) -> bool {
    b.len() == 48
        && ports.contains(&123)
        && matches!((b[0] >> 3) & 7, 1..=4)
        && matches!(b[0] & 7, 1..=5)
}

fn netbios(b: &[u8], ports: [u16; 2]) -> bool {
    (ports.contains(&137) || ports.contains(&138)) && b.len() >= 12
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tor_like_names() {
        assert!(tor_like(b"www.gkx3e7mvqk.com"));
        assert!(!tor_like(b"www.facebook.com"));
        assert!(!tor_like(b"www.example2.com"));
    }

    #[test]
    fn a_wireguard_handshake_is_vpn() {
        let mut d = Dpi::default();
        let mut b = vec![1, 0, 0, 0];
        b.resize(148, 0xaa);
        assert!(d.wireguard(&b, true).is_some());
        b[0] = 5;
        assert!(Dpi::default().wireguard(&b, true).is_none());
    }

    #[test]
    fn warp_data_repeats_the_response_index() {
        let mut d = Dpi::default();
        let mut resp = vec![0xc2, 2, 0x78, 0, 0x68, 0x84, 0xee, 0];
        resp.resize(100, 0x55);
        assert!(d.wireguard(&resp, false).is_none());
        let mut data = vec![
            0xc4, 2, 0x78, 0, 0x68, 0x84, 0xee, 0, 1, 0, 0, 0, 0, 0, 0, 0,
        ];
        data.resize(84, 0x77);
        assert!(d.wireguard(&data, true).is_some());
        data[5] = 0;
        assert!(d.wireguard(&data, true).is_none());
    }

    #[test]
    fn remote_access_grammars() {
        assert!(nomachine_banner(b"NXSH-8.10.1\n"));
        assert!(nomachine_banner(b"NXD-8.10.1\n"));
        assert!(!nomachine_banner(b"NXSH-hello!\n"));
        assert!(nomachine_udp(&[1, 0, 1, 0, 10, 0, 0, 0, 0, 0]));
        assert!(!nomachine_udp(&[1, 0, 1, 0, 11, 0, 0, 0, 0, 0]));
        // ACK|DATA, one ack vector element, snCoded = snSourceStart, a TLS record
        let mut b = vec![0x10, 0x97, 0x60, 0x33, 4, 0, 0, 0x0c, 0, 1, 0, 0];
        b.extend_from_slice(&[0xe6, 0x5f, 0x84, 0x6d, 0xe6, 0x5f, 0x84, 0x6d]);
        b.extend_from_slice(&[0x17, 3, 3, 0, 12]);
        b.resize(b.len() + 12, 0xab);
        assert!(rdpeudp_data(&b));
        b[15] ^= 1;
        assert!(!rdpeudp_data(&b));
    }

    #[test]
    fn game_grammars() {
        let mut c = vec![60, 0, 0, 0x0b, 0xf6];
        c.resize(70, 0);
        c[16] = 1;
        c[20] = 7;
        c[24] = 3;
        c[25] = 7;
        assert_eq!(game_udp(&c), Some("crynet"));
        c.push(0);
        assert_eq!(game_udp(&c), None);
        let mut h = vec![0xe6, 0x5d, 0x34, 0, 0x97, 0x27];
        h.resize(24, 0x11);
        h[14] = 0x40;
        h[15] = 0;
        assert!(blizzard_udp(&h, [54598, 3724]));
        assert!(!blizzard_udp(&h, [54598, 3725]));
        h[15] = 1;
        assert!(!blizzard_udp(&h, [54598, 3724]));
        let mut r = vec![0x2b; 28];
        r.extend_from_slice(&[0xaa, 0xaa, 0xaa, 0xaa, 0xbb, 0xbb, 0xbb, 0xbb]);
        assert_eq!(game_udp(&r), Some("riotgames"));
        // Activision: 0x0d02 one way, 0x0c02 the other
        let mut d = Dpi::default();
        let mut o = vec![0x0d, 0x02, 0, 0xc4];
        o.resize(29, 0x11);
        assert!(d.game_handshake(&o, true, true).is_none());
        assert!(d.game_handshake(&o, false, true).is_none());
        o[0] = 0x0c;
        assert!(Dpi::default().game_handshake(&o, false, true).is_none());
        let mut d = Dpi::default();
        d.game_handshake(&[&[0x0d, 2][..], &[0; 20]].concat(), true, true);
        assert!(d.game_handshake(&o, false, true).is_some());
        // Epic: the reply repeats the opening word with bit 3 set
        let mut d = Dpi::default();
        let mut e = vec![0x47, 0x1a, 0x20, 0x00, 8, 0x98];
        e.resize(54, 0);
        d.payload_pkts = 1;
        assert!(d.game_handshake(&e, true, true).is_none());
        d.payload_pkts = 2;
        e[3] = 0x08;
        e[20] = 0x40;
        assert!(d.game_handshake(&e, false, true).is_some());
    }

    #[test]
    fn softether_and_raknet_grammars() {
        assert!(softether_udp(b"IP=90.186.132.133,PORT=51381"));
        assert!(!softether_udp(b"IP=example.org,PORT=x"));
        let mut p = vec![0, 0, 0, 2, 0, 0, 0, 10];
        p.extend_from_slice(b"host_name");
        p.extend_from_slice(&[0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 3]);
        p.extend_from_slice(b"vpn");
        p.extend_from_slice(&[0, 0, 0, 6]);
        p.extend_from_slice(b"my_ip");
        p.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1]);
        p.resize(120, 0);
        assert!(softether_udp(&p));
        p[19] = 9;
        assert!(!softether_udp(&p));
        let ack = [0xc0, 0, 2, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 5];
        assert_eq!(raknet_datagram(&ack), Some(true));
        assert_eq!(raknet_datagram(&ack[..13]), None);
        // frame set: seq, one unreliable frame of 17 bytes
        let mut f = vec![0x84, 2, 0, 0, 0, 0, 0x88];
        f.resize(24, 0x33);
        assert_eq!(raknet_datagram(&f), Some(false));
        f.push(0);
        assert_eq!(raknet_datagram(&f), None);
    }

    #[test]
    fn ndpi_game_datagrams() {
        let p = [40000, 22023];
        let mut au = vec![0x08, 0x00, 0x01, 0x00, 0x80, 0xd9, 0x02, 0x03];
        au.extend_from_slice(b"AAAAAAA");
        assert_eq!(game_datagram(&au, p, true), Some("among-us"));
        au[5] = 0xd8;
        assert_eq!(game_datagram(&au, p, true), None);
        let mut g = vec![0x8f, 0xff, 0, 1, 0x82, 0xff, 0, 1];
        g.resize(52, 0);
        assert_eq!(game_datagram(&g, p, true), Some("gaijin"));
        g.push(0);
        assert_eq!(game_datagram(&g, p, true), None);
        let mut w = vec![0x01, 0x02, 0xc8, 0x41];
        w.resize(18, 0);
        w.extend_from_slice(b"A0B1");
        assert_eq!(game_datagram(&w, p, true), Some("lol-wild-rift"));
        w[21] = b'2';
        assert_eq!(game_datagram(&w, p, true), None);
        let ping: Vec<u8> = vec![
            0xbb, 0xb6, 0x53, 0xea, 0x96, 0xfd, 0xbb, 0x03, b'p', b'i', b'n', b'g',
        ];
        assert_eq!(
            game_datagram(&ping, [40282, 7500], false),
            Some("cod-mobile")
        );
        assert_eq!(game_datagram(&ping, [40282, 7501], false), None);
        let mut t = vec![0x7d; 12];
        t.push(0x12);
        assert_eq!(game_datagram(&t, p, false), Some("tocaboca"));
        t[7] = 0x7c;
        assert_eq!(game_datagram(&t, p, false), None);
        let mut r = vec![0u8; 45];
        r.extend_from_slice(&[0x3c, 0xb1, 0x1f, 0x2d, 0xea, 0x23, 0x46, 0x0c]);
        assert_eq!(game_datagram(&r, p, false), Some("riotgames"));
        r.push(0);
        assert_eq!(game_datagram(&r, p, false), None);
    }

    #[test]
    fn ndpi_game_segments() {
        let mut t = vec![0x33, 0x66, 0x00, 0x0b, 0x00, 0x0b];
        t.resize(76, 0);
        assert_eq!(game_tcp(&t, true, 65010), Some("tencent-games"));
        t[5] = 0x0c;
        assert_eq!(game_tcp(&t, true, 65010), None);
        let mut poe = vec![0, 3, 0, 0x37, 0x75, 0x60, 0, 2, 0];
        poe.extend_from_slice(b"\x09nDPI_Test\xec\x8f");
        poe.resize(23, 0x11);
        poe.extend_from_slice(&[0, 0, 0, 0, 0x40, 0, 0, 1]);
        assert_eq!(game_tcp(&poe, true, 6112), Some("path-of-exile"));
        let n = poe.len();
        poe[n - 1] = 2;
        assert_eq!(game_tcp(&poe, true, 6112), None);
        let mut bn = vec![0x4a, 0, 0, 0x0a, 0x66, 0x02, 0x0a, 0xed, 0x2d, 0x66];
        bn.resize(102, 0x20);
        assert_eq!(game_tcp(&bn, true, 1119), Some("battle.net"));
        assert_eq!(game_tcp(&bn, true, 1120), None);
        assert_eq!(game_tcp(&bn, false, 1119), None);
    }

    #[test]
    fn ndpi_game_handshakes() {
        // Wild Rift: 69 bytes opening 0x04000000, then 359 bytes opening 0x10000000
        let mut d = Dpi::default();
        let mut a = vec![4, 0, 0, 0];
        a.resize(69, 0x21);
        let mut b = vec![0x10, 0, 0, 0];
        b.resize(359, 0x22);
        d.payload_pkts = 1;
        assert!(d.game_handshake(&a, true, true).is_none());
        d.payload_pkts = 2;
        assert!(d.game_handshake(&b, false, true).is_some());
        let mut d = Dpi {
            payload_pkts: 2,
            ..Default::default()
        };
        assert!(d.game_handshake(&b, false, true).is_none());
        // RakNet unconnected pong: MOTD length fits the datagram; three of them decide
        let mut pong = vec![0x1c];
        pong.extend_from_slice(&[0x11; 32]);
        pong.extend_from_slice(&[0, 2, b'A', b'A']);
        assert_eq!(raknet_offline(&pong), Some(3));
        let mut bad = pong.clone();
        bad[34] = 3;
        assert_eq!(raknet_offline(&bad), None);
        let mut d = Dpi::default();
        for n in 1..=3u8 {
            d.payload_pkts = n;
            let r = d.game_handshake(&pong, true, n == 1);
            assert_eq!(r.is_some(), n == 3, "{n}");
        }
        // Epic: the reply may come after further datagrams of the opener
        let mut d = Dpi::default();
        let mut e = vec![0x47, 0x1a, 0x20, 0x00, 8, 0x98];
        e.resize(50, 0);
        d.payload_pkts = 1;
        assert!(d.game_handshake(&e, true, true).is_none());
        d.payload_pkts = 3;
        assert!(d.game_handshake(&e, true, false).is_none());
        e[3] = 0x08;
        d.payload_pkts = 4;
        assert!(d.game_handshake(&e, false, true).is_some());
    }

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

    #[test]
    fn ultrasurf_and_stun_then_dtls() {
        let sigs = Signatures::builtin();
        let mut us = vec![0xcc, 0x1c, 0x30, 0x41, 0x5b, 0xa4, 0x38, 0x66];
        us.resize(200, 0x99);
        let d = Dpi::default().tcp(&pkt(PROTO_TCP, &us), &us, false, true, &sigs);
        assert_eq!(d.and_then(|d| d.class), Some(Class::Vpn));
        us[7] = 0x67;
        let d = Dpi::default().tcp(&pkt(PROTO_TCP, &us), &us, false, true, &sigs);
        assert_eq!(d.and_then(|d| d.class), None);
        // STUN, then a datagram that is not DTLS: a media stream, not looked into
        let mut d = Dpi::default();
        let mut stun = vec![0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42];
        stun.resize(20, 7);
        assert!(
            d.udp(&pkt(PROTO_UDP, &stun), &stun, true, true, &sigs)
                .is_none()
        );
        assert_eq!(d.give_up().app, "stun");
        let rtp = [0x80u8; 40];
        let det = d
            .udp(&pkt(PROTO_UDP, &rtp), &rtp, true, false, &sigs)
            .expect("decided");
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
        assert!(
            d.udp(&pkt(PROTO_UDP, &kad), &kad, true, true, &sigs)
                .is_none()
        );
        let det = d
            .udp(&pkt(PROTO_UDP, &kad), &kad, false, false, &sigs)
            .expect("decided");
        assert_eq!((det.class, det.app), (Some(Class::P2p), "edonkey"));
        let other = [0x17u8; 35];
        let mut d = Dpi::default();
        assert!(
            d.udp(&pkt(PROTO_UDP, &kad), &kad, true, true, &sigs)
                .is_none()
        );
        let det = d.udp(&pkt(PROTO_UDP, &other), &other, false, false, &sigs);
        assert_ne!(det.and_then(|d| d.class), Some(Class::P2p));
    }

    #[test]
    fn label_defaults() {
        assert!(raknet(&[&[0x01][..], &[0; 8], &RAKNET_MAGIC].concat()));
        assert!(!raknet(&[0x01; 40]));
    }
}
