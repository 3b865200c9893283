//! Grammar generators: for each recogniser, a flow built field by field from the published
//! structure it re-implements (never copied from a capture), with the fields a real
//! implementation varies (identifiers, keys, lengths, names) drawn from a seeded generator.
//! The catalogue-coverage and near-miss tests (`gateway/tests/catalogue.rs`) run them, and
//! `cargo run -p qaqpa-gateway --example fuzz_seeds` writes them out as the fuzz targets'
//! seeds.

use super::super::classify::{Detection, Dpi, Step};
use super::super::packet::{PROTO_ICMP, PROTO_TCP, PROTO_UDP, Packet};
use super::super::sigs::{Class, Signatures};

/// One generated flow.
#[derive(Debug, Clone)]
pub struct Sample {
    /// The protocol's name in nDPI's catalogue (`protocols.tsv`), or the tunnel's.
    pub ndpi: &'static str,
    pub class: Class,
    /// The app our recogniser reports.
    pub app: &'static str,
    pub proto: u8,
    /// The responder's port the flow is generated on.
    pub port: u16,
    /// Why the recogniser needs this port too, where its published grammar is too weak
    /// to stand alone (nDPI's own dissector keys on the same port).
    pub port_bound: Option<&'static str>,
    /// (from the initiator, payload) in order.
    pub packets: Vec<(bool, Vec<u8>)>,
}

/// xorshift64*: the same fields for the same seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next_u64() as u8).collect()
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
    /// Lower-case letters and digits.
    pub fn name(&mut self, n: usize) -> String {
        const A: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
        (0..n)
            .map(|_| A[self.below(A.len() as u64) as usize] as char)
            .collect()
    }
}

/// Runs a flow through a fresh classifier on the given ports: what it decided, or what it
/// says when the flow ends undecided.
pub fn classify(
    proto: u8,
    sport: u16,
    dport: u16,
    packets: &[(bool, Vec<u8>)],
    sigs: &Signatures,
) -> Detection {
    let mut d = Dpi::default();
    let mut seq = [1000u32, 5000u32];
    if proto == PROTO_TCP {
        // the handshake's SYN opens the flow
        let syn = Packet {
            src: [1; 16],
            dst: [2; 16],
            proto,
            sport,
            dport,
            tcp_flags: 0x02,
            seq: 999,
            payload: &[],
            fragment: false,
        };
        let _ = d.inspect(&syn, true, sigs);
    }
    for (c2s, b) in packets {
        let dir = usize::from(!*c2s);
        let (s, t) = if *c2s { (sport, dport) } else { (dport, sport) };
        let p = Packet {
            src: if *c2s { [1; 16] } else { [2; 16] },
            dst: if *c2s { [2; 16] } else { [1; 16] },
            proto,
            sport: s,
            dport: t,
            tcp_flags: 0x18,
            seq: seq[dir],
            payload: b,
            fragment: false,
        };
        seq[dir] = seq[dir].wrapping_add(b.len() as u32);
        if let Step::Done(det) = d.inspect(&p, *c2s, sigs) {
            return det;
        }
    }
    d.give_up()
}

impl Sample {
    /// The flow on its own port, from an ephemeral client port.
    pub fn detect(&self, sigs: &Signatures) -> Detection {
        classify(self.proto, 49152, self.port, &self.packets, sigs)
    }
}

fn le16(v: usize) -> [u8; 2] {
    (v as u16).to_le_bytes()
}

fn be16(v: usize) -> [u8; 2] {
    (v as u16).to_be_bytes()
}

/// A TLS 1.2/1.3 ClientHello record (RFC 8446 §4.1.2): random, a session id, three
/// suites, the server_name extension (RFC 6066 §3) when `sni` is given, ALPN when `alpn`.
pub fn client_hello(r: &mut Rng, sni: Option<&str>, alpn: Option<&str>) -> Vec<u8> {
    let mut ext = Vec::new();
    if let Some(name) = sni {
        let name = name.as_bytes();
        let mut sn = be16(name.len() + 3).to_vec();
        sn.push(0);
        sn.extend_from_slice(&be16(name.len()));
        sn.extend_from_slice(name);
        ext.extend_from_slice(&[0, 0]);
        ext.extend_from_slice(&be16(sn.len()));
        ext.extend_from_slice(&sn);
    }
    if let Some(p) = alpn {
        let mut l = vec![p.len() as u8];
        l.extend_from_slice(p.as_bytes());
        let mut a = be16(l.len()).to_vec();
        a.extend_from_slice(&l);
        ext.extend_from_slice(&[0, 16]);
        ext.extend_from_slice(&be16(a.len()));
        ext.extend_from_slice(&a);
    }
    let mut body = vec![3, 3];
    body.extend(r.bytes(32));
    body.push(32);
    body.extend(r.bytes(32));
    body.extend_from_slice(&[0, 6, 0x13, 0x01, 0x13, 0x02, 0xc0, 0x2f, 1, 0]);
    body.extend_from_slice(&be16(ext.len()));
    body.extend_from_slice(&ext);
    handshake_record(1, &body)
}

fn handshake_record(t: u8, body: &[u8]) -> Vec<u8> {
    let mut hs = vec![t, 0, (body.len() >> 8) as u8, body.len() as u8];
    hs.extend_from_slice(body);
    let mut rec = vec![0x16, 3, 3];
    rec.extend_from_slice(&be16(hs.len()));
    rec.extend_from_slice(&hs);
    rec
}

fn tlv(t: u8, v: &[u8]) -> Vec<u8> {
    let mut o = vec![t];
    if v.len() < 128 {
        o.push(v.len() as u8);
    } else {
        o.extend_from_slice(&[0x82, (v.len() >> 8) as u8, v.len() as u8]);
    }
    o.extend_from_slice(v);
    o
}

/// A self-signed X.509 certificate (RFC 5280 §4.1) whose subject and issuer are both
/// `CN=<cn>`; the signature is not a real one (only the structure is read).
pub fn certificate(r: &mut Rng, cn: &str) -> Vec<u8> {
    let name = tlv(
        0x30,
        &tlv(
            0x31,
            &tlv(
                0x30,
                &[tlv(6, &[0x55, 4, 3]), tlv(0x0c, cn.as_bytes())].concat(),
            ),
        ),
    );
    let alg = tlv(
        0x30,
        &tlv(6, &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 1, 1, 11]),
    );
    let tbs = tlv(
        0x30,
        &[
            tlv(0xa0, &tlv(2, &[2])),
            tlv(2, &r.bytes(8)),
            alg.clone(),
            name.clone(),
            tlv(0x30, &[]),
            name,
            tlv(0x30, &[]),
        ]
        .concat(),
    );
    tlv(
        0x30,
        &[tbs, alg, tlv(3, &[&[0][..], &r.bytes(64)].concat())].concat(),
    )
}

/// A TLS 1.2 server flight: ServerHello, then Certificate with `cert`.
pub fn server_flight(r: &mut Rng, cert: &[u8]) -> Vec<u8> {
    let mut sh = vec![3, 3];
    sh.extend(r.bytes(32));
    sh.push(0);
    sh.extend_from_slice(&[0xc0, 0x2f, 0]);
    let mut out = handshake_record(2, &sh);
    let mut list = vec![0, (cert.len() >> 8) as u8, cert.len() as u8];
    list.extend_from_slice(cert);
    let mut cm = vec![0, (list.len() >> 8) as u8, list.len() as u8];
    cm.extend_from_slice(&list);
    out.extend(handshake_record(11, &cm));
    out
}

fn udp(ndpi: &'static str, class: Class, app: &'static str, port: u16) -> Sample {
    Sample {
        ndpi,
        class,
        app,
        proto: PROTO_UDP,
        port,
        port_bound: None,
        packets: Vec::new(),
    }
}

fn tcp(ndpi: &'static str, class: Class, app: &'static str, port: u16) -> Sample {
    Sample {
        proto: PROTO_TCP,
        ..udp(ndpi, class, app, port)
    }
}

impl Sample {
    fn c(mut self, b: Vec<u8>) -> Sample {
        self.packets.push((true, b));
        self
    }
    fn s(mut self, b: Vec<u8>) -> Sample {
        self.packets.push((false, b));
        self
    }
    fn bound(mut self, why: &'static str) -> Sample {
        self.port_bound = Some(why);
        self
    }
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// The grammar generators of the recognisers for nDPI's catalogue protocols of the blocked
/// categories (VPN, remote access, games, peer-to-peer, mining), one flow each.
pub fn catalogue(seed: u64) -> Vec<Sample> {
    use Class::*;
    let r = &mut Rng::new(seed);
    let mut v = Vec::new();
    // ---- VPN
    v.push(
        udp("CiscoVPN", Vpn, "ciscovpn", 10000).c(cat(&[&[0xfe, 0x57, 0x7e, 0x2b], &r.bytes(36)])),
    );
    {
        // IKEv2 IKE_SA_INIT (RFC 7296 §3.1): SPIi, SPIr 0, next payload SA, version 2.0,
        // exchange 34, flags initiator, message id 0, length; then the SA payload
        let payload = cat(&[&[0, 0], &be16(4 + 36), &r.bytes(36)]);
        let len = 28 + payload.len();
        let mut h = r.bytes(8);
        h[0] |= 1;
        h.extend_from_slice(&[0; 8]);
        h.extend_from_slice(&[33, 0x20, 34, 0x08, 0, 0, 0, 0]);
        h.extend_from_slice(&(len as u32).to_be_bytes());
        v.push(udp("IPSec", Vpn, "ike", 500).c(cat(&[&h, &payload])));
    }
    {
        // P_CONTROL_HARD_RESET_CLIENT_V2 with tls-auth: opcode 7 key 0, session id, HMAC
        // (SHA-1, 20 bytes), packet id, time, ack array length 0, message id 0
        let mut b = vec![7 << 3];
        b.extend(r.bytes(8));
        b.extend(r.bytes(20));
        b.extend_from_slice(&1u32.to_be_bytes());
        b.extend_from_slice(&(1_700_000_000 + r.below(1 << 20) as u32).to_be_bytes());
        b.extend_from_slice(&[0, 0, 0, 0, 0]);
        v.push(udp("OpenVPN", Vpn, "openvpn", 1194).c(b));
    }
    {
        // PPTP Start-Control-Connection-Request (RFC 2637 §2.1): 156 bytes
        let mut b = cat(&[
            &be16(156),
            &[0, 1],
            &[0x1a, 0x2b, 0x3c, 0x4d],
            &[0, 1, 0, 0],
            &[1, 0, 0, 0],
        ]);
        b.extend_from_slice(&[0, 0, 0, 3, 0, 0, 0, 3, 0, 0, 0, 0]);
        let mut host = r.name(10).into_bytes();
        host.resize(64, 0);
        b.extend(host);
        let mut vendor = b"Microsoft".to_vec();
        vendor.resize(64, 0);
        b.extend(vendor);
        v.push(tcp("PPTP", Vpn, "pptp", 1723).c(b));
    }
    v.push(
        udp("Softether", Vpn, "softether", 5555).s(format!(
            "IP={}.{}.{}.{},PORT={}",
            1 + r.below(223),
            r.below(256),
            r.below(256),
            1 + r.below(254),
            1024 + r.below(60000)
        )
        .into_bytes()),
    );
    v.push(udp("Tailscale", Vpn, "tailscale", 41641).c(cat(&[
        &[0x54, 0x53, 0xf0, 0x9f, 0x92, 0xac],
        &r.bytes(32 + 24 + 46),
    ])));
    {
        let key = |r: &mut Rng| {
            (0..64)
                .map(|_| b"0123456789ABCDEF"[r.below(16) as usize])
                .collect::<Vec<u8>>()
        };
        let meta = |r: &mut Rng| cat(&[b"1 94 64 0 0 ", &key(r), b"\n"]);
        v.push(
            tcp("TINC", Vpn, "tinc", 655)
                .c(format!("0 {} 17\n", r.name(6)).into_bytes())
                .s(format!("0 {} 17\n", r.name(7)).into_bytes())
                .c(meta(r))
                .s(meta(r)),
        );
    }
    {
        // a relay's made-up name: base32-like letters with digits, no vowels to speak of
        let label: String = (0..12)
            .map(|k| {
                if k == 3 || k == 9 {
                    (b'2' + r.below(6) as u8) as char
                } else {
                    b"bcdfghjklmnpqrstvwxz"[r.below(20) as usize] as char
                }
            })
            .collect();
        let sni = format!("www.{label}.com");
        v.push(tcp("Tor", Vpn, "tor", 9001).c(client_hello(r, Some(&sni), None)));
    }
    v.push(tcp("UltraSurf", Vpn, "ultrasurf", 443).s(cat(&[
        &[0xcc, 0x1c, 0x30, 0x41, 0x5b, 0xa4, 0x38, 0x66],
        &r.bytes(120),
    ])));
    // WireGuard handshake initiation (the WireGuard paper §5.4.2): 148 bytes
    v.push(udp("WireGuard", Vpn, "wireguard", 51820).c(cat(&[&[1, 0, 0, 0], &r.bytes(144)])));
    // ---- remote access
    {
        // AnyDesk's self-signed certificate names it (nDPI's tls.c); its clients send no SNI
        let c = certificate(r, "AnyDesk Client");
        v.push(
            tcp("AnyDesk", RemoteAccess, "tls", 7070)
                .c(client_hello(r, None, None))
                .s(server_flight(r, &c)),
        );
    }
    v.push(
        tcp("NoMachine", RemoteAccess, "nomachine", 4000).c(format!(
            "NXSH-{}.{}.{}\n",
            1 + r.below(9),
            r.below(20),
            r.below(9)
        )
        .into_bytes()),
    );
    {
        let hello = cat(&[&[1, 0, 0, 0, 1], &r.bytes(3), &[8, 8]]);
        let reply = cat(&[
            &[1, 0, 0, 0, 0x25],
            &r.bytes(2),
            &[2, 0x12, 8, 2],
            &r.bytes(2),
            &[0x0a],
            &r.bytes(32),
        ]);
        v.push(
            tcp("Radmin", RemoteAccess, "radmin", 4899)
                .c(hello)
                .s(reply),
        );
    }
    {
        // TPKT, X.224 Connection Request, routing cookie, RDP_NEG_REQ (MS-RDPBCGR 2.2.1.1)
        let cookie = format!("Cookie: mstshash={}\r\n", r.name(8));
        let x224 = cat(&[
            &[0xe0, 0, 0, 0, 0, 0],
            cookie.as_bytes(),
            &[1, 0, 8, 0, 3, 0, 0, 0],
        ]);
        let b = cat(&[
            &[3, 0],
            &be16(4 + 1 + x224.len()),
            &[x224.len() as u8],
            &x224,
        ]);
        v.push(tcp("RDP", RemoteAccess, "rdp", 3389).c(b));
    }
    v.push(
        tcp("RSH", RemoteAccess, "rsh", 514)
            .c(format!("{}\0", 512 + r.below(512)).into_bytes())
            .bound("a stderr port number and a NUL are a few ASCII digits: nDPI's rsh.c also keys on the r-services' ports"),
    );
    v.push(
        tcp("SSH", RemoteAccess, "ssh", 22).c(format!(
            "SSH-2.0-OpenSSH_{}.{}\r\n",
            7 + r.below(3),
            r.below(9)
        )
        .into_bytes()),
    );
    v.push(
        tcp("TeamViewer", RemoteAccess, "teamviewer", 5938)
            .c(cat(&[&[0x17, 0x24, 0x0a], &r.bytes(20)])),
    );
    v.push(
        tcp("Telnet", RemoteAccess, "telnet", 23)
            .s(vec![
                0xff, 0xfd, 0x18, 0xff, 0xfd, 0x20, 0xff, 0xfd, 0x23, 0xff, 0xfd, 0x27,
            ])
            .c(vec![
                0xff, 0xfb, 0x18, 0xff, 0xfb, 0x20, 0xff, 0xfb, 0x23, 0xff, 0xfb, 0x27,
            ])
            .s(vec![
                0xff, 0xfa, 0x20, 0x01, 0xff, 0xf0, 0xff, 0xfa, 0x23, 0x01, 0xff, 0xf0,
            ]),
    );
    v.push(
        udp("VMware", RemoteAccess, "vmware", 902)
            .c(cat(&[&[0xa4], &r.bytes(65)]))
            .bound("one byte and a length: nDPI's vmware.c also keys on port 902"),
    );
    v.push(tcp("VNC", RemoteAccess, "vnc", 5900).s(b"RFB 003.008\n".to_vec()));
    // XDMCP Query (opcode 2) with no authentication names
    v.push(udp("XDMCP", RemoteAccess, "xdmcp", 177).c(vec![0, 1, 0, 2, 0, 1, 0]));
    // ---- games
    v.push(
        udp("Activision", Game, "activision", 3074)
            .c(cat(&[&[0x0d, 0x02], &r.bytes(27)]))
            .s(cat(&[&[0x0c, 0x02], &r.bytes(27)])),
    );
    v.push(udp("AmongUs", Game, "among-us", 22023).c(cat(&[
        &[0x08, 0x00, 0x01, 0x00, 0x80, 0xd9, 0x02, 0x03],
        &r.bytes(12),
    ])));
    {
        // login request: 0x000b0000, data words, 0x0008, the words, a zero word
        let words = 6usize;
        let mut b = cat(&[&[0, 0x0b, 0, 0], &be16(words), &[0, 8]]);
        b.extend(r.bytes(words * 2 - 2));
        b.extend_from_slice(&[0, 0]);
        v.push(udp("Armagetron", Game, "armagetron", 4534).c(b));
    }
    {
        let mut b = vec![0xce];
        b.extend(r.bytes(100));
        b.extend_from_slice(b"LOC_PREFAB_LOADOUTNAME_1");
        b.extend(r.bytes(260));
        v.push(udp("CoD_Mobile", Game, "cod-mobile", 20000).c(b));
    }
    {
        let mut b = r.bytes(60);
        b[0] = 50;
        b[16] = 1;
        b[20] = 7;
        b[24] = 3;
        b[25] = 7;
        v.push(udp("CryNetwork", Game, "crynet", 64090).c(b));
    }
    v.push(tcp("Dofus", Game, "dofus", 5555).c(cat(&[
        &[0, 5, 8, 0, 0, 5],
        &r.bytes(2),
        &[0, 5, 0x18],
    ])));
    v.push(udp("GaijinEntertainment", Game, "gaijin", 20011).c(cat(&[
        &[0x8f, 0xff, 0, r.next_u64() as u8, 0x82, 0xff, 0, 1],
        &r.bytes(44),
    ])));
    v.push(udp("GenshinImpact", Game, "genshin-impact", 22102).c(cat(&[
        &[0, 0, 0, 0xff, 0, 0, 0, 0],
        &r.bytes(4),
        &[0x49, 0x96, 0x02, 0xd2, 0xff, 0xff, 0xff, 0xff],
    ])));
    v.push(tcp("Guildwars", Game, "guildwars", 6112).c(cat(&[
        &[
            r.next_u64() as u8,
            0x04,
            0x0c,
            r.next_u64() as u8,
            0xa6,
            0x72,
        ],
        &r.bytes(2),
        &[1],
        &r.bytes(3),
        &[4],
        &r.bytes(3),
    ])));
    v.push(
        udp("HalfLife2", Game, "halflife2", 27005)
            .c(cat(&[&[0xff; 4], b"getchallenge", &r.bytes(4), b"000\0"]))
            .s(cat(&[&[0xff; 4], b"challenge ", &r.bytes(6), b"000\0"])),
    );
    {
        let mut h = r.bytes(24);
        h[14] = 0x40;
        h[15] = 0;
        h[2] = 3;
        h[3] = 0;
        v.push(
            udp("Heroes_of_the_Storm", Game, "blizzard", 1119)
                .c(h)
                .bound(
                    "two fixed bytes and a length: nDPI's hots.c keys on Blizzard's game ports too",
                ),
        );
    }
    v.push(
        udp("i3D", Game, "i3d", 7777).c(cat(&[&[0, 1, 0, 0x46, 0, 3, 0xcf, 0xa8], &r.bytes(70)])),
    );
    v.push(udp("LoLWildRift", Game, "lol-wild-rift", 5100).c(cat(&[
        &[1, 2, 0xc8, 0x41],
        &r.bytes(14),
        b"A0B1",
    ])));
    v.push(
        tcp("MapleStory", Game, "maplestory", 8484)
            .c(cat(&[&[0x0e, 0, 0x3a, 0, 1, 0, 0x32], &r.bytes(9)])),
    );
    v.push(udp("NetEaseGames", Game, "netease-games", 30000).c(cat(&[
        &[1, r.next_u64() as u8, 0xd0, 0x01],
        &r.bytes(4),
        &[0, 1, 1, 1],
    ])));
    v.push(
        udp("Nintendo", Game, "nintendo-pia", 49152)
            .c(cat(&[&[0x32, 0xab, 0x98, 0x64], &r.bytes(40)])),
    );
    v.push(tcp("PathofExile", Game, "path-of-exile", 6112).c(cat(&[
        &[0, 3, 0],
        &r.bytes(4),
        &[2, 0],
        &r.bytes(6),
        &[0, 0, 0, 0x40],
    ])));
    {
        // an unconnected ping: id, time, the offline magic, client GUID
        let b = cat(&[
            &[0x01],
            &r.bytes(8),
            &[
                0x00, 0xff, 0xff, 0x00, 0xfe, 0xfe, 0xfe, 0xfe, 0xfd, 0xfd, 0xfd, 0xfd, 0x12, 0x34,
                0x56, 0x78,
            ],
            &r.bytes(8),
        ]);
        v.push(udp("RakNet", Game, "raknet", 19132).c(b));
    }
    v.push(udp("RiotGames", Game, "riotgames", 5000).c(cat(&[
        &r.bytes(40),
        &[0xaa; 4],
        &[0xbb; 4],
    ])));
    v.push(
        udp("Source_Engine", Game, "source-engine", 27015)
            .c(cat(&[&[0xff; 4], b"TSource Engine Query\0"])),
    );
    v.push(
        tcp("Starcraft", Game, "battle.net", 1119)
            .c(cat(&[&[0x4a, 0, 0, 0x0a, 0x66, 0x02, 0x0a, 0xed, 0x2d, 0x66], &r.bytes(60)]))
            .bound("a 10-byte opening nDPI's blizzard.c and starcraft.c read on Blizzard's port 1119 only"),
    );
    v.push(udp("Steam", Game, "steam", 27036).c(cat(&[b"VS01", &r.bytes(36)])));
    v.push(
        udp("SteamDatagramRelay", Game, "steam-datagram-relay", 27015).c(cat(&[
            &r.bytes(2),
            b"sdping",
            &[0; 92],
        ])),
    );
    v.push(
        tcp("TencentGames", Game, "tencent-games", 10012)
            .c(cat(&[&[0x33, 0x66, 0, 0x0b, 0, 0x0b], &r.bytes(64)])),
    );
    {
        let mut body = r.bytes(300);
        body.extend_from_slice(b"eso.live");
        body.extend(r.bytes(320));
        let b = cat(&[&(body.len() as u32).to_be_bytes(), &body]);
        v.push(tcp("TES_Online", Game, "teso", 24100).c(b));
    }
    v.push(udp("TocaBoca", Game, "tocaboca", 5055).c(cat(&[&[0x7d; 8], &r.bytes(16)])));
    {
        // W3GS messages: class 0xf7, id, little-endian length including the header
        let msg =
            |r: &mut Rng, n: usize| cat(&[&[0xf7, r.next_u64() as u8], &le16(n), &r.bytes(n - 4)]);
        let a = cat(&[&msg(r, 12), &msg(r, 20)]);
        let b = msg(r, 30);
        v.push(tcp("Warcraft3", Game, "warcraft3", 6112).c(a).s(b));
    }
    v.push(
        tcp("WorldOfKungFu", Game, "world-of-kung-fu", 7000).c(cat(&[
            &[0x0c, 0, 0, 0, 0xd2, 0, 0x0c, 0],
            &[r.next_u64() as u8, 0x16, 0, 0],
            &r.bytes(2),
            &[0, 0],
        ])),
    );
    v.push(tcp("WorldOfWarcraft", Game, "wow", 3724).c(cat(&[
        &[0, 8],
        &be16(30),
        b"WoW\0",
        &r.bytes(26),
    ])));
    v.push(udp("Xbox", Game, "xbox", 3074).c(cat(&[
        &[0, 0, 0, 0, 0x0c, 0x58, 0x76, 0, 0, 0],
        &r.bytes(20),
    ])));
    v.push(udp("Yojimbo", Game, "netcode", 40000).c(cat(&[&[0], b"NETCODE 1.02\0", &r.bytes(60)])));
    // ---- peer-to-peer
    v.push(tcp("BitTorrent", P2p, "bittorrent", 51413).c(cat(&[
        &[19],
        b"BitTorrent protocol",
        &[0; 8],
        &r.bytes(20),
        b"-qB4650-",
        &r.bytes(12),
    ])));
    {
        // eDonkey Hello: protocol 0xe3, little-endian size, opcode 0x01, then its fields
        let body = cat(&[&[0x01, 16], &r.bytes(16), &r.bytes(6), &[0, 0, 0, 0]]);
        v.push(tcp("eDonkey", P2p, "edonkey", 4662).c(cat(&[
            &[0xe3],
            &(body.len() as u32).to_le_bytes(),
            &body,
        ])));
    }
    v.push(
        tcp("Gnutella", P2p, "gnutella", 6346)
            .c(b"GNUTELLA CONNECT/0.6\r\nUser-Agent: LimeWire/5.5\r\n\r\n".to_vec()),
    );
    v.push(tcp("Syncthing", P2p, "syncthing", 22000).c(cat(&[
        &[0x2e, 0xa7, 0xd9, 0x0b],
        &be16(40),
        &r.bytes(40),
    ])));
    // the same protocols' other recognisers
    v.push(udp("BitTorrent", P2p, "bittorrent-dht", 6881).c(cat(&[
        b"d1:ad2:id20:",
        r.name(20).as_bytes(),
        b"e1:q4:ping1:t2:",
        r.name(2).as_bytes(),
        b"1:y1:qe",
    ])));
    {
        // uTP (BEP 29): ST_SYN with the initiator's receive id, then the peer's ST_STATE
        // sending to that id: 20-byte headers, no extension
        let id = r.below(65535) as u16;
        let hdr = |r: &mut Rng, t: u8| cat(&[&[(t << 4) | 1, 0], &id.to_be_bytes(), &r.bytes(16)]);
        let (syn, state) = (hdr(r, 4), hdr(r, 2));
        v.push(udp("BitTorrent", P2p, "utp", 6881).c(syn).s(state));
    }
    {
        let hash: String = r.bytes(20).iter().map(|x| format!("{x:02x}")).collect();
        let lsd = format!(
            "BT-SEARCH * HTTP/1.1\r\nHost: 239.192.152.143:6771\r\nPort: {}\r\nInfohash: {hash}\r\n\r\n\r\n",
            6881 + r.below(100)
        );
        v.push(udp("BitTorrent", P2p, "bittorrent-lsd", 6771).c(lsd.into_bytes()));
        let pct: String = r.bytes(20).iter().map(|x| format!("%{x:02X}")).collect();
        let announce = format!(
            "GET /announce?info_hash={pct}&peer_id=-TR3000-{}&port=51413 HTTP/1.1\r\nHost: tracker.{}.example\r\n\r\n",
            r.name(12),
            r.name(6)
        );
        v.push(tcp("BitTorrent", P2p, "p2p-http", 80).c(announce.into_bytes()));
    }
    {
        // Kademlia (eMule): protocol 0xe4, KADEMLIA2_REQ and its response
        let a = cat(&[&[0xe4, 0x21], &r.bytes(33)]);
        let b = cat(&[&[0xe4, 0x29], &r.bytes(40)]);
        v.push(udp("eDonkey", P2p, "edonkey", 4672).c(a).s(b));
    }
    v.push(udp("Gnutella", P2p, "gnutella", 6346).c(cat(&[
        b"GND",
        &[0x02, 0, 0x01, 0],
        &r.bytes(20),
    ])));
    {
        // MS-RDPEUDP SYN: snSourceAck -1, receive window, RDPUDP_FLAG_SYN; padded to 1232
        let mut b = cat(&[&[0xff; 4], &[0x00, 0x40], &[0x00, 0x01], &r.bytes(4)]);
        b.resize(1232, 0);
        v.push(udp("RDP", RemoteAccess, "rdp-udp", 3389).c(b));
    }
    {
        let media = |r: &mut Rng, n: usize| {
            cat(&[
                &r.bytes(2),
                &[1, 0],
                &le16(n),
                &r.bytes(2),
                &[0, 0],
                &r.bytes(n - 10),
            ])
        };
        v.push(
            udp("NoMachine", RemoteAccess, "nomachine", 4000)
                .c(media(r, 60))
                .s(media(r, 80)),
        );
    }
    v.push(udp("TeamViewer", RemoteAccess, "teamviewer", 5938).c(cat(&[
        &[0],
        &r.bytes(10),
        &[0x17, 0x24],
        &r.bytes(20),
    ])));
    {
        // OpenVPN over TCP: each packet after its 16-bit length
        let mut hr = vec![7 << 3];
        hr.extend(r.bytes(8));
        hr.extend_from_slice(&[0, 0, 0, 0, 0]);
        v.push(tcp("OpenVPN", Vpn, "openvpn", 1194).c(cat(&[&be16(hr.len()), &hr])));
    }
    // ---- mining
    v.push(
        tcp("Mining", Malicious, "mining", 3333).c(format!(
            "{{\"id\":{},\"method\":\"mining.subscribe\",\"params\":[\"cgminer/4.{}\"]}}\n",
            r.below(100),
            r.below(12)
        )
        .into_bytes()),
    );
    v
}

/// The grammar generators of the tunnels and proxies ([`super::tunnel`]).
pub fn tunnels(seed: u64) -> Vec<Sample> {
    use Class::*;
    let r = &mut Rng::new(seed);
    let mut v = Vec::new();
    let port = (1024 + r.below(60000)) as u16;
    v.push(
        tcp("SOCKS4", Tunnel, "socks4", 1080)
            .c(cat(&[
                &[4, 1],
                &port.to_be_bytes(),
                &r.bytes(4),
                r.name(5).as_bytes(),
                &[0],
            ]))
            .s(cat(&[&[0, 90], &r.bytes(6)])),
    );
    v.push(
        tcp("SOCKS4a", Tunnel, "socks4", 1080)
            .c(cat(&[
                &[4, 1],
                &port.to_be_bytes(),
                &[0, 0, 0, 1],
                &[0],
                format!("{}.example", r.name(8)).as_bytes(),
                &[0],
            ]))
            .s(cat(&[&[0, 90], &r.bytes(6)])),
    );
    v.push(
        tcp("SOCKS5", Tunnel, "socks5", 1080)
            .c(vec![5, 2, 0, 2])
            .s(vec![5, 0]),
    );
    v.push(
        tcp("HTTP_Connect", Tunnel, "http-connect", 3128).c(format!(
            "CONNECT {0}.example:{1} HTTP/1.1\r\nHost: {0}.example:{1}\r\n\r\n",
            r.name(9),
            port
        )
        .into_bytes()),
    );
    {
        // iodine-style: a NULL query for a data label under the tunnel's domain
        let data = r.name(40);
        let q = dns_query(r, &[&data, "t", "example"], 10);
        v.push(udp("DNS tunnel (NULL)", Tunnel, "dns-tunnel", 53).c(q));
        let (a, b) = (r.name(60), r.name(50));
        let q = dns_query(r, &[&a, &b, "t", "example"], 16);
        v.push(udp("DNS tunnel (encoded labels)", Tunnel, "dns-tunnel", 53).c(q));
        // dnscat2-style: hex of the session's bytes in the labels, a TXT or CNAME query
        let hex: String = r.bytes(30).iter().map(|x| format!("{x:02x}")).collect();
        let q = dns_query(r, &[&hex, "c2", "example"], 5);
        v.push(udp("DNS tunnel (hex labels)", Tunnel, "dns-tunnel", 53).c(q));
    }
    {
        let mut ip = vec![0x45, 0, 0, 0];
        ip.extend(r.bytes(16));
        ip.extend(r.bytes(40));
        let l = ip.len();
        ip[2..4].copy_from_slice(&be16(l));
        v.push(icmp(
            "ICMP tunnel (IP inside)",
            "ip-over-icmp",
            cat(&[&[8, 0], &r.bytes(6), &ip]),
        ));
        v.push(icmp(
            "ICMP tunnel (ptunnel)",
            "ptunnel",
            cat(&[
                &[8, 0],
                &r.bytes(6),
                &[0xd5, 0x20, 0x08, 0x80],
                &r.bytes(40),
            ]),
        ));
        v.push(icmp(
            "ICMP tunnel (hans)",
            "hans",
            cat(&[&[8, 0], &r.bytes(6), b"hanc", &[1], &r.bytes(30)]),
        ));
        v.push(icmp(
            "ICMP tunnel (high entropy)",
            "icmp-tunnel",
            cat(&[&[8, 0], &r.bytes(6), &r.bytes(400)]),
        ));
    }
    {
        // Shadowsocks: a salt, then AEAD chunks: nothing but random-looking bytes
        let mut s = tcp("Fully encrypted TCP", Tunnel, "fully-encrypted", 8388);
        loop {
            let n = 200 + r.below(300) as usize;
            let b = r.bytes(n);
            if super::tunnel::fully_encrypted(&b) {
                s = s.c(b);
                break;
            }
        }
        for _ in 0..10 {
            let n = 100 + r.below(900) as usize;
            s = s.s(r.bytes(n));
        }
        v.push(s);
    }
    v
}

fn icmp(ndpi: &'static str, app: &'static str, b: Vec<u8>) -> Sample {
    Sample {
        proto: PROTO_ICMP,
        port: 0,
        ..udp(ndpi, Class::Tunnel, app, 0)
    }
    .c(b)
}

/// A DNS query (RFC 1035 §4.1): id, RD, one question of `labels` and `qtype`, class IN.
pub fn dns_query(r: &mut Rng, labels: &[&str], qtype: u16) -> Vec<u8> {
    let mut b = r.bytes(2);
    b.extend_from_slice(&[1, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    for l in labels {
        b.push(l.len() as u8);
        b.extend_from_slice(l.as_bytes());
    }
    b.push(0);
    b.extend_from_slice(&qtype.to_be_bytes());
    b.extend_from_slice(&[0, 1]);
    b
}

impl Sample {
    /// The flow as raw IPv4 frames (link type RAW): for TCP the client's SYN first, then
    /// each payload with running sequence numbers. Client 10.8.x.y:`cport` (x.y: the port,
    /// so ICMP flows differ too), server 10.9.0.2 on the sample's port.
    pub fn frames(&self, cport: u16) -> Vec<Vec<u8>> {
        let (c, s) = ([10, 8, (cport >> 8) as u8, cport as u8], [10, 9, 0, 2]);
        let mut seq = [1000u32, 5000u32];
        let mut out = Vec::new();
        if self.proto == PROTO_TCP {
            out.push(ipv4(
                c,
                s,
                self.proto,
                &tcp_segment(cport, self.port, 999, 0x02, &[]),
            ));
        }
        for (c2s, b) in &self.packets {
            let (src, dst, sp, dp) = if *c2s {
                (c, s, cport, self.port)
            } else {
                (s, c, self.port, cport)
            };
            let l4 = match self.proto {
                PROTO_TCP => {
                    let d = usize::from(!*c2s);
                    let t = tcp_segment(sp, dp, seq[d], 0x18, b);
                    seq[d] = seq[d].wrapping_add(b.len() as u32);
                    t
                }
                PROTO_UDP => {
                    let mut u = Vec::with_capacity(8 + b.len());
                    u.extend_from_slice(&sp.to_be_bytes());
                    u.extend_from_slice(&dp.to_be_bytes());
                    u.extend_from_slice(&((8 + b.len()) as u16).to_be_bytes());
                    u.extend_from_slice(&[0, 0]);
                    u.extend_from_slice(b);
                    u
                }
                _ => b.clone(),
            };
            out.push(ipv4(src, dst, self.proto, &l4));
        }
        out
    }
}

fn tcp_segment(sport: u16, dport: u16, seq: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut t = Vec::with_capacity(20 + payload.len());
    t.extend_from_slice(&sport.to_be_bytes());
    t.extend_from_slice(&dport.to_be_bytes());
    t.extend_from_slice(&seq.to_be_bytes());
    t.extend_from_slice(&[0, 0, 0, 0, 0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    t.extend_from_slice(payload);
    t
}

fn ipv4(src: [u8; 4], dst: [u8; 4], proto: u8, l4: &[u8]) -> Vec<u8> {
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
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    p.extend_from_slice(l4);
    p
}

/// A classic pcap file (link type RAW) of the samples' flows, one client port each, one
/// millisecond apart.
pub fn pcap(samples: &[Sample]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&65535u32.to_le_bytes());
    out.extend_from_slice(&101u32.to_le_bytes());
    let mut t = 1_700_000_000u64 * 1_000_000;
    for (k, s) in samples.iter().enumerate() {
        for f in s.frames(20000 + k as u16) {
            t += 1000;
            out.extend_from_slice(&((t / 1_000_000) as u32).to_le_bytes());
            out.extend_from_slice(&((t % 1_000_000) as u32).to_le_bytes());
            out.extend_from_slice(&(f.len() as u32).to_le_bytes());
            out.extend_from_slice(&(f.len() as u32).to_le_bytes());
            out.extend_from_slice(&f);
        }
    }
    out
}
