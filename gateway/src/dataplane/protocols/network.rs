//! Network services that carry no application of a blocked class: DNS (RFC 1035), STUN
//! (RFC 8489), SSDP, DHCP (RFC 2131), NTP (RFC 5905), NetBIOS (RFC 1002), and the greeting
//! banners of mail and FTP servers.

use super::super::classify::{Detection, Input, Seen, named};
use super::super::proto;
use super::super::sigs::Class;
use super::app;

/// The network family's per-flow state.
#[derive(Debug, Default)]
pub struct State {
    /// A STUN message was seen: ICE sessions go on to DTLS or to media.
    stun: bool,
}

impl State {
    pub(crate) fn give_up(&self) -> Option<Detection> {
        self.stun.then(|| app(Class::Other, "stun"))
    }
}

/// DNS, mDNS, LLMNR: the question names the flow. A lookup is name resolution, whatever the
/// name: the flow it prepares is judged on its own.
pub fn dns(i: &Input<'_>) -> Option<Detection> {
    let ports = i.ports();
    let mut q = [0u8; 256];
    let n = proto::dns_question(i.b, &mut q)?;
    let mut d = named(i.sigs, "dns", &q[..n], false, false);
    d.class = Some(Class::Other);
    // a name the lists know (a service's own encoded lookups, e.g. an antivirus's hash
    // queries) is not judged by its labels; a NULL query is a tunnel whatever the name
    let qtype = super::tunnel::dns_qtype(i.b).unwrap_or(0);
    let known = d.category.is_some() || i.sigs.name(&q[..n]).class.is_some();
    if (qtype == super::tunnel::DNS_NULL || !known) && super::tunnel::dns_tunnel(&q[..n], qtype) {
        d.class = Some(Class::Tunnel);
        d.app = "dns-tunnel";
    }
    (ports.contains(&53) || ports.contains(&5353) || ports.contains(&5355) || n > 0).then_some(d)
}

/// STUN (RFC 8489): the magic cookie; ICE sessions go on to DTLS (WebRTC), whose
/// certificate may name the service, or to media: look no further than that.
pub fn stun(st: &mut State, i: &Input<'_>) -> Seen {
    let b = i.b;
    if b.len() >= 20 && b[4..8] == [0x21, 0x12, 0xa4, 0x42] && b[0] & 0xc0 == 0 {
        st.stun = true;
        return Seen::Wait;
    }
    if st.stun {
        return Seen::Done(app(Class::Other, "stun"));
    }
    Seen::Next
}

pub fn ssdp(i: &Input<'_>) -> Option<Detection> {
    (i.b.starts_with(b"M-SEARCH ") || i.b.starts_with(b"NOTIFY * "))
        .then(|| app(Class::Other, "ssdp"))
}

pub fn dhcp(i: &Input<'_>) -> Option<Detection> {
    let b = i.b;
    (b.len() >= 240 && matches!(b[0], 1 | 2) && b[236..240] == [0x63, 0x82, 0x53, 0x63])
        .then(|| app(Class::Other, "dhcp"))
}

pub fn ntp(i: &Input<'_>) -> Option<Detection> {
    let b = i.b;
    (b.len() == 48
        && i.ports().contains(&123)
        && matches!((b[0] >> 3) & 7, 1..=4)
        && matches!(b[0] & 7, 1..=5))
    .then(|| app(Class::Other, "ntp"))
}

/// NetBIOS over TCP/IP's UDP services (RFC 1002), from their grammar alone (the ports
/// 137/138 decide nothing: any datagram there used to pass as NetBIOS):
/// - the name service (§4.2.1): a DNS-style header whose opcode is query (0), registration
///   (5), release (6), WACK (7) or refresh (8), at most a few records, and a first name
///   that is a NetBIOS name in first-level encoding (§4.1: length 32, then 32 characters
///   'A'–'P');
/// - the datagram service (§4.4): message type 0x10–0x16 with its layout: a source name in
///   that encoding at offset 14 (datagrams), a destination name at 10 (queries), or an
///   error code (error).
pub fn netbios(i: &Input<'_>) -> Option<Detection> {
    let b = i.b;
    let encoded = |o: usize| {
        b.get(o) == Some(&0x20)
            && b.get(o + 1..o + 33)
                .is_some_and(|n| n.iter().all(|c| (b'A'..=b'P').contains(c)))
    };
    let ns = b.len() >= 12 + 33 && {
        let opcode = (b[2] >> 3) & 0x0f;
        let counts = [4, 6, 8, 10].map(|o| u16::from_be_bytes([b[o], b[o + 1]]));
        matches!(opcode, 0 | 5 | 6 | 7 | 8)
            && counts.iter().all(|&c| c <= 4)
            && counts.iter().any(|&c| c > 0)
            && encoded(12)
    };
    let dgm = !b.is_empty()
        && match b[0] {
            // direct unique, direct group, broadcast: the source name after the 14-byte header
            0x10..=0x12 => encoded(14),
            // error: the 10-byte header and an error code
            0x13 => b.len() == 11 && matches!(b[10], 0x82..=0x84),
            // query request, positive and negative query response: the destination name
            0x14..=0x16 => encoded(10),
            _ => false,
        };
    (ns || dgm).then(|| app(Class::Other, "netbios"))
}

/// A server that speaks first: SMTP, FTP (`220`), IMAP (`* OK`), POP3 (`+OK`).
pub fn server_banner(i: &Input<'_>) -> Option<Detection> {
    let b = i.b;
    (!i.c2s
        && i.first
        && (b.starts_with(b"220 ")
            || b.starts_with(b"220-")
            || b.starts_with(b"* OK")
            || b.starts_with(b"+OK")))
    .then(|| app(Class::Other, "mail-or-ftp"))
}

#[cfg(test)]
mod tests {
    use super::super::super::classify::{Dpi, Step};
    use super::super::super::packet::{PROTO_UDP, Packet};
    use super::super::super::sigs::Signatures;
    use super::super::testing;
    use super::*;

    /// "WORKGROUP" padded with spaces, first-level encoded (RFC 1002 §4.1): each nibble
    /// plus 'A'.
    fn encoded(name: &str, suffix: u8) -> Vec<u8> {
        let mut n = name.as_bytes().to_vec();
        n.resize(15, b' ');
        n.push(suffix);
        let mut out = vec![0x20];
        for c in n {
            out.push(b'A' + (c >> 4));
            out.push(b'A' + (c & 0x0f));
        }
        out.push(0);
        out
    }

    #[test]
    fn netbios_is_its_grammar_not_its_port() {
        let sigs = Signatures::builtin();
        // a direct group datagram (§4.4.2): type, flags, id, source address and port,
        // length, offset, source and destination names, then SMB
        let mut dgm = vec![0x11, 0x0a, 0x81, 0x27, 192, 0, 2, 7, 0, 138, 0, 180, 0, 0];
        dgm.extend(encoded("HOST", 0x20));
        dgm.extend(encoded("WORKGROUP", 0x1d));
        dgm.extend_from_slice(b"\xffSMB%");
        dgm.resize(200, 0);
        let p = testing::udp(&dgm);
        assert!(netbios(&testing::input(&p, true, &sigs)).is_some());
        // a name registration (§4.2.2): opcode 5, one question and one additional record
        let mut reg = vec![0x12, 0x34, 0x29, 0x10, 0, 1, 0, 0, 0, 0, 0, 1];
        reg.extend(encoded("HOST", 0));
        reg.extend_from_slice(&[0, 0x20, 0, 1]);
        let p = testing::udp(&reg);
        assert!(netbios(&testing::input(&p, true, &sigs)).is_some());
        // the same bytes with the name's encoding broken, and random bytes: not NetBIOS,
        // on NetBIOS's own ports too
        dgm[20] = b'z';
        reg[13] = b'Q';
        let noise: Vec<u8> = (0..120u32)
            .map(|k| (k.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        for b in [&dgm, &reg, &noise] {
            for port in [137, 138] {
                let p = Packet {
                    dport: port,
                    sport: port,
                    ..testing::udp(b)
                };
                assert_eq!(p.proto, PROTO_UDP);
                assert!(netbios(&testing::input(&p, true, &sigs)).is_none());
                let app = match Dpi::default().inspect(&p, true, &sigs) {
                    Step::Done(d) => d.app,
                    Step::More => "undecided",
                };
                assert_ne!(app, "netbios", "{b:02x?}");
            }
        }
    }
}
