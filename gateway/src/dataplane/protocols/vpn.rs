//! VPN and tunnelling protocols: OpenVPN (nDPI's openvpn.c; OpenVPN's ssl_pkt.h opcodes),
//! WireGuard (the WireGuard paper §5.4; nDPI's wireguard.c) and Cloudflare WARP (nDPI's
//! cloudflare_warp.c), IKE (RFC 7296, RFC 3948's non-ESP marker; nDPI's ipsec.c), PPTP
//! (RFC 2637; nDPI's pptp.c), SoftEther (nDPI's softether.c), UltraSurf (nDPI's
//! ultrasurf.c), Cisco VPN's UDP encapsulation (nDPI's ciscovpn.c), Tailscale's DISCO
//! messages (nDPI's tailscale.c after tailscale's disco/disco.go), tinc's meta protocol
//! (nDPI's tinc.c after tinc's protocol documentation).

use super::super::classify::{Detection, Input};
use super::super::proto;
use super::super::sigs::Class;
use super::app;

/// The VPN family's per-flow state.
#[derive(Debug, Default)]
pub struct State {
    ovpn_sid: [u64; 2],
    ovpn_hits: [u8; 2],
    /// The control opcodes (3–10) seen per direction, bit `op - 3`.
    ovpn_ops: [u8; 2],
    ovpn_reset: bool,
    wg_hits: u8,
    /// The reserved bytes and sender index of a Cloudflare WARP response, which the
    /// client's transport messages repeat.
    warp_word: u64,
    /// tinc's meta protocol: ID messages (0, 1) then METAKEY messages (2, 3) seen.
    tinc: u8,
}

/// OpenVPN over TCP: each packet after a 2-byte length.
pub fn openvpn_tcp(st: &mut State, i: &Input<'_>) -> Option<Detection> {
    let b = i.b;
    if b.len() >= 4 && usize::from(u16::from_be_bytes([b[0], b[1]])) == b.len() - 2 {
        return openvpn(st, &b[2..], i.c2s, i.c2s_n);
    }
    None
}

/// OpenVPN (UDP, or TCP after the 2-byte length): a control packet's opcode and key id,
/// then an 8-byte session id that repeats across the control packets of one direction;
/// the hard-reset handshake is recognised from its first packet. `c2s_n`: the initiator's
/// packets with payload so far.
pub fn openvpn(st: &mut State, b: &[u8], c2s: bool, c2s_n: u8) -> Option<Detection> {
    if b.len() < 14 {
        return None;
    }
    let op = b[0] >> 3;
    let key = b[0] & 7;
    // hard reset client v2/v3 starts the session with key id 0 and message-id 0
    if (op == 7 || op == 10) && key == 0 && c2s && c2s_n <= 1 {
        if hard_reset(b) {
            return Some(app(Class::Vpn, "openvpn"));
        }
        st.ovpn_reset = true;
    }
    if !matches!(op, 3..=10) || op == 6 || op == 9 {
        return None;
    }
    let sid = u64::from_be_bytes(b[1..9].try_into().ok()?);
    if sid == 0 {
        return None;
    }
    let d = usize::from(!c2s);
    if st.ovpn_sid[d] == sid {
        st.ovpn_hits[d] = st.ovpn_hits[d].saturating_add(1);
    } else {
        st.ovpn_sid[d] = sid;
        st.ovpn_hits[d] = 1;
        st.ovpn_ops[d] = 0;
    }
    st.ovpn_ops[d] |= 1 << (op - 3);
    // a server's hard reset acknowledges the client's session id
    if op == 8 && !c2s && st.ovpn_sid[0] != 0 {
        let want = st.ovpn_sid[0].to_be_bytes();
        if proto::find(&b[9..], &want).is_some() {
            return Some(app(Class::Vpn, "openvpn"));
        }
    }
    // a session shows control and acknowledgement packets (different opcodes) under one
    // session id; a protocol with a constant 9-byte prefix does not
    if (st.ovpn_hits[d] >= 3 && st.ovpn_ops[d].count_ones() >= 2)
        || (st.ovpn_reset && st.ovpn_hits[0] >= 2 && st.ovpn_ops[0].count_ones() >= 2)
    {
        return Some(app(Class::Vpn, "openvpn"));
    }
    None
}

/// WireGuard: message types 1–4 with three zero reserved bytes and the fixed sizes of the
/// handshake messages; transport data is a multiple of 16 bytes after its header.
pub fn wireguard(st: &mut State, i: &Input<'_>) -> Option<Detection> {
    let (b, c2s) = (i.b, i.c2s);
    if b.len() < 32 {
        return None;
    }
    // Cloudflare WARP's WireGuard (nDPI's cloudflare_warp.c documents it): message types
    // 0xc1–0xc4 and the reserved bytes used after the first message. As in WireGuard,
    // a transport message's receiver index is the responder's sender index: the
    // client's 0xc4 repeats the reserved bytes and index of the server's 0xc2.
    if b[0] == 0xc2 && !c2s {
        st.warp_word = u64::from_be_bytes(b[..8].try_into().ok()?) & 0x00ff_ffff_ffff_ffff;
        return None;
    }
    if b[0] == 0xc4 && c2s && st.warp_word != 0 {
        let v = u64::from_be_bytes(b[..8].try_into().ok()?) & 0x00ff_ffff_ffff_ffff;
        let counter = u64::from_le_bytes(b[8..16].try_into().ok()?);
        return (v == st.warp_word && counter < 1 << 32)
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
    st.wg_hits = st.wg_hits.saturating_add(1);
    (st.wg_hits >= 3).then(|| app(Class::Vpn, "wireguard"))
}

pub fn ike(i: &Input<'_>) -> Option<Detection> {
    ike_message(i.b).then(|| app(Class::Vpn, "ike"))
}

pub fn pptp(i: &Input<'_>) -> Option<Detection> {
    pptp_control(i.b).then(|| app(Class::Vpn, "pptp"))
}

/// UltraSurf (nDPI's ultrasurf.c): the server's stream opens with a fixed 8-byte magic.
pub fn ultrasurf(i: &Input<'_>) -> Option<Detection> {
    let b = i.b;
    (b.len() >= 8 && b[..8] == [0xcc, 0x1c, 0x30, 0x41, 0x5b, 0xa4, 0x38, 0x66])
        .then(|| app(Class::Vpn, "ultrasurf"))
}

/// Cisco VPN client's UDP encapsulation (nDPI's ciscovpn.c): the datagram opens with the
/// 4-byte magic 0xfe577e2b. nDPI also requires both ports to be 10000; the magic alone
/// decides here (one random datagram in 2^32 matches it).
pub fn ciscovpn(i: &Input<'_>) -> Option<Detection> {
    let b = i.b;
    (b.len() >= 8 && b[..4] == [0xfe, 0x57, 0x7e, 0x2b]).then(|| app(Class::Vpn, "ciscovpn"))
}

/// Tailscale's DISCO messages (disco.go): the magic `TS💬` (0x54 0x53 0xf0 0x9f 0x92 0xac),
/// then the sender's 32-byte public key and a 24-byte nonce before the sealed message.
/// nDPI also requires its port 41641; the 6-byte magic and the fixed header decide here.
pub fn tailscale(i: &Input<'_>) -> Option<Detection> {
    let b = i.b;
    (b.len() > 6 + 32 + 24 && b[..6] == [0x54, 0x53, 0xf0, 0x9f, 0x92, 0xac])
        .then(|| app(Class::Vpn, "tailscale"))
}

/// tinc's meta protocol over TCP (nDPI's tinc.c): each side's ID message `0 <name> 17\n`
/// (request 0, protocol version 17), then each side's METAKEY `1 <n> <n> <n> <n> <HEX>\n`
/// (request 1, four numbers, the encrypted key in upper-case hex); four messages decide.
pub fn tinc(st: &mut State, i: &Input<'_>) -> Option<Detection> {
    let b = i.b;
    match st.tinc {
        0 | 1 if tinc_id(b) => st.tinc += 1,
        2 | 3 if tinc_metakey(b) => st.tinc += 1,
        _ => return None,
    }
    (st.tinc >= 4).then(|| app(Class::Vpn, "tinc"))
}

fn tinc_id(b: &[u8]) -> bool {
    let Some(rest) = b.strip_prefix(b"0 ") else {
        return false;
    };
    let Some(sp) = rest.iter().position(|&c| c == b' ') else {
        return false;
    };
    sp > 0 && &rest[sp + 1..] == b"17\n"
}

fn tinc_metakey(b: &[u8]) -> bool {
    let Some(mut rest) = b.strip_prefix(b"1 ") else {
        return false;
    };
    for _ in 0..4 {
        let n = rest.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 || rest.get(n) != Some(&b' ') {
            return false;
        }
        rest = &rest[n + 1..];
    }
    let Some(key) = rest.strip_suffix(b"\n") else {
        return false;
    };
    !key.is_empty()
        && key
            .iter()
            .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
}

pub fn softether_udp(i: &Input<'_>) -> Option<Detection> {
    softether_datagram(i.b).then(|| app(Class::Vpn, "softether"))
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

fn ike_message(b: &[u8]) -> bool {
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

fn pptp_control(b: &[u8]) -> bool {
    b.len() >= 16
        && usize::from(u16::from_be_bytes([b[0], b[1]])) == b.len()
        && b[2..4] == [0, 1]
        && b[4..8] == [0x1a, 0x2b, 0x3c, 0x4d]
}

/// SoftEther VPN's UDP acceleration / NAT traversal (nDPI's softether.c): the server's
/// `IP=<address>,PORT=<port>` reply, or a message in SoftEther's PACK serialisation.
fn softether_datagram(b: &[u8]) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wireguard_handshake_is_vpn() {
        let sigs = crate::dataplane::Signatures::builtin();
        let mut b = vec![1, 0, 0, 0];
        b.resize(148, 0xaa);
        let p = crate::dataplane::protocols::testing::udp(&b);
        let i = crate::dataplane::protocols::testing::input(&p, true, &sigs);
        assert!(wireguard(&mut State::default(), &i).is_some());
        b[0] = 5;
        let p = crate::dataplane::protocols::testing::udp(&b);
        let i = crate::dataplane::protocols::testing::input(&p, true, &sigs);
        assert!(wireguard(&mut State::default(), &i).is_none());
    }

    #[test]
    fn softether_grammars() {
        assert!(softether_datagram(b"IP=90.186.132.133,PORT=51381"));
        assert!(!softether_datagram(b"IP=example.org,PORT=x"));
        let mut p = vec![0, 0, 0, 2, 0, 0, 0, 10];
        p.extend_from_slice(b"host_name");
        p.extend_from_slice(&[0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 3]);
        p.extend_from_slice(b"vpn");
        p.extend_from_slice(&[0, 0, 0, 6]);
        p.extend_from_slice(b"my_ip");
        p.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1]);
        p.resize(120, 0);
        assert!(softether_datagram(&p));
        p[19] = 9;
        assert!(!softether_datagram(&p));
    }
}
