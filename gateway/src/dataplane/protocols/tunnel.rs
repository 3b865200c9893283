//! Tunnels and proxies: traffic that carries other traffic past the gateway's
//! classification. They get their own policy class, [`Class::Tunnel`], which the policy
//! blocks by default as it blocks a VPN (ureq-134-1: a tunnel is a VPN in all but name)
//! and opens only for a declared channel (ureq-133.4). Recognised here:
//!
//! - SOCKS 4/4a (the SOCKS 4 protocol note, and its 4A extension) and SOCKS 5 (RFC 1928):
//!   the client's request or method selection, confirmed by the server's reply.
//! - HTTP CONNECT (RFC 9110 §9.3.6) to any port: [`super::web`] reads the request line,
//!   this module decides its class.
//! - DNS tunnels (iodine, dnscat2, dns2tcp): queries for the experimental NULL type (RFC
//!   1035 §3.3.10: no resolver needs it), or names whose labels carry encoded data (a long
//!   label of base32/base64-like characters with many digits and no word structure).
//! - ICMP tunnels: an echo whose data is an IPv4 packet (icmptunnel), ptunnel's magic
//!   0xd5200880, hans's `hanc`/`hans` magic, or a large echo of high-entropy data that is
//!   none of the ping programs' fill patterns.
//! - TCP encrypted from the first byte with no known grammar (Shadowsocks, VMess without
//!   TLS, obfs4): the client's first segment fails every exemption of the published
//!   fully-encrypted-traffic heuristic (Wu et al., "How the Great Firewall of China Detects
//!   and Blocks Fully Encrypted Traffic", USENIX Security 2023, §4): average set bits per
//!   byte within 3.4–4.6, the first six bytes not all printable, at most half printable, no
//!   run of more than 20 printable bytes. It is decided only when no grammar claimed the
//!   flow within the classifier's budget, so it never preempts a protocol recognised later.

use super::super::classify::{Detection, Input};
use super::super::sigs::Class;
use super::app;

/// The tunnel family's per-flow state.
#[derive(Debug, Default)]
pub struct State {
    /// A SOCKS request or method selection from the client: 4 or 5.
    socks: u8,
    /// The methods a SOCKS 5 client offered (bit n: method n < 16; bit 15: any other).
    socks5_methods: u16,
    /// The client's first TCP segment looked fully encrypted.
    pub(crate) opaque: bool,
    /// The client's first TCP segment has been looked at.
    first_seen: bool,
    /// The flow's SYN was seen: its first segment is the stream's first bytes (a capture
    /// that starts mid-stream shows the middle of some protocol, not its opening).
    pub(crate) syn_seen: bool,
}

impl State {
    /// The flow ended undecided: a fully encrypted TCP stream is a tunnel.
    pub(crate) fn give_up(&self) -> Option<Detection> {
        self.opaque.then(|| app(Class::Tunnel, "fully-encrypted"))
    }
}

/// SOCKS over TCP. The client speaks first; its request decides only once the server's
/// reply fits (a 3-byte SOCKS 5 greeting alone is too little grammar).
pub fn socks(st: &mut State, i: &Input<'_>) -> Option<Detection> {
    let b = i.b;
    if i.c2s && i.first {
        if socks4_request(b) {
            st.socks = 4;
        } else if let Some(m) = socks5_greeting(b) {
            st.socks = 5;
            st.socks5_methods = m;
        }
        return None;
    }
    if i.c2s || !i.first {
        return None;
    }
    match st.socks {
        // VN 0, CD 90–93 (granted, rejected, identd failures), port and address
        4 if b.len() == 8 && b[0] == 0 && (90..=93).contains(&b[1]) => {
            Some(app(Class::Tunnel, "socks4"))
        }
        // VER 5 and one of the offered methods, or 0xff (none acceptable)
        5 if b.len() == 2 && b[0] == 5 => {
            let m = b[1];
            let offered = if m < 15 {
                st.socks5_methods & (1 << m) != 0
            } else {
                m == 0xff || st.socks5_methods & (1 << 15) != 0
            };
            offered.then(|| app(Class::Tunnel, "socks5"))
        }
        _ => None,
    }
}

/// SOCKS 4: VN 4, CD 1 (CONNECT) or 2 (BIND), DSTPORT, DSTIP, a NUL-terminated USERID; in
/// 4a a DSTIP of 0.0.0.x (x ≠ 0) and a NUL-terminated host name after the USERID.
fn socks4_request(b: &[u8]) -> bool {
    if b.len() < 9 || b[0] != 4 || !matches!(b[1], 1 | 2) || b[b.len() - 1] != 0 {
        return false;
    }
    let user = &b[8..];
    let Some(end) = user.iter().position(|&c| c == 0) else {
        return false;
    };
    let printable = |s: &[u8]| s.iter().all(|c| (0x20..0x7f).contains(c));
    if !printable(&user[..end]) {
        return false;
    }
    let rest = &user[end + 1..];
    let v4a = b[4..7] == [0, 0, 0] && b[7] != 0;
    if v4a {
        // the host name, NUL-terminated, ends the request
        rest.len() >= 2 && rest[rest.len() - 1] == 0 && printable(&rest[..rest.len() - 1])
    } else {
        rest.is_empty()
    }
}

/// SOCKS 5's method selection: VER 5, NMETHODS ≥ 1, that many method octets and nothing
/// more. The methods offered, as a bit set.
fn socks5_greeting(b: &[u8]) -> Option<u16> {
    if b.len() < 3 || b[0] != 5 || b[1] == 0 || usize::from(b[1]) + 2 != b.len() {
        return None;
    }
    let mut set = 0u16;
    for &m in &b[2..] {
        // IANA's registry: 0x00–0x09 assigned, 0x0a–0x7f unassigned, 0x80–0xfe private
        if (0x0a..0x80).contains(&m) || m == 0xff {
            return None;
        }
        set |= if m < 15 { 1 << m } else { 1 << 15 };
    }
    Some(set)
}

/// The client's first TCP segment: noted when it looks fully encrypted.
pub fn opaque_tcp(st: &mut State, i: &Input<'_>) -> Option<Detection> {
    if i.c2s && !st.first_seen {
        st.first_seen = true;
        st.opaque = st.syn_seen && fully_encrypted(i.b);
    }
    None
}

/// The fully-encrypted-traffic heuristic's exemptions (see the module's note); `true` when
/// none applies.
pub fn fully_encrypted(b: &[u8]) -> bool {
    if b.len() < 16 {
        return false;
    }
    let bits: u32 = b.iter().map(|x| x.count_ones()).sum();
    let avg = f64::from(bits) / b.len() as f64;
    if avg <= 3.4 || avg >= 4.6 {
        return false;
    }
    let printable = |c: &u8| (0x20..=0x7e).contains(c);
    if b[..6].iter().all(printable) {
        return false;
    }
    let n = b.iter().filter(|c| printable(c)).count();
    if n * 2 > b.len() {
        return false;
    }
    let mut run = 0;
    for c in b {
        if printable(c) {
            run += 1;
            if run > 20 {
                return false;
            }
        } else {
            run = 0;
        }
    }
    true
}

/// An HTTP CONNECT request (`http-connect` from [`super::web`]) opens a tunnel to any
/// port; a plain proxy's absolute-form GET does not (the proxy still sees the requests).
pub fn http_connect(d: &mut Detection) {
    if d.app == "http-connect" && matches!(d.class, Some(Class::Other) | None) {
        d.class = Some(Class::Tunnel);
    }
}

/// QTYPE NULL (RFC 1035 §3.3.10).
pub const DNS_NULL: u16 = 10;

/// A DNS query that tunnels data: `name` is its question (dotted, lower case), `qtype` its
/// type. NULL queries tunnel; so do names whose labels carry encoded data.
pub fn dns_tunnel(name: &[u8], qtype: u16) -> bool {
    if qtype == DNS_NULL && !name.is_empty() {
        return true;
    }
    // the data labels: all but the last two (the tunnel's own domain)
    let labels: Vec<&[u8]> = name.split(|&c| c == b'.').collect();
    if labels.len() < 3 {
        return false;
    }
    let data = &labels[..labels.len() - 2];
    let data_len: usize = data.iter().map(|l| l.len()).sum();
    let longest = data.iter().map(|l| l.len()).max().unwrap_or(0);
    // encoded data: a long label (or many) of letters and digits, digits well mixed in (a
    // host name's labels are words; base32 of random bytes has a digit in every fifth
    // place or so, hex in more than half) and no word-like repetition (hex of random bytes
    // has close to 4 bits per character, base32 close to 5)
    if longest < 32 && data_len < 60 {
        return false;
    }
    let chars: Vec<u8> = data.iter().flat_map(|l| l.iter().copied()).collect();
    let digits = chars.iter().filter(|c| c.is_ascii_digit()).count();
    let alnum = chars.iter().filter(|c| c.is_ascii_alphanumeric()).count();
    alnum * 10 >= chars.len() * 9 && digits * 12 >= chars.len() && entropy(&chars) >= 3.5
}

/// The QTYPE of a DNS query's first question (after the 12-byte header and the name).
pub fn dns_qtype(b: &[u8]) -> Option<u16> {
    let mut i = 12;
    loop {
        let l = usize::from(*b.get(i)?);
        if l == 0 {
            i += 1;
            break;
        }
        if l > 63 {
            return None;
        }
        i += 1 + l;
    }
    Some(u16::from_be_bytes([*b.get(i)?, *b.get(i + 1)?]))
}

/// Shannon entropy of the bytes, in bits per byte.
fn entropy(b: &[u8]) -> f64 {
    if b.is_empty() {
        return 0.0;
    }
    let mut n = [0u32; 256];
    for &x in b {
        n[usize::from(x)] += 1;
    }
    let len = b.len() as f64;
    n.iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / len;
            -p * p.log2()
        })
        .sum()
}

/// An ICMP (or ICMPv6) message that tunnels data. `b`: the ICMP message from its type.
pub fn icmp_tunnel(b: &[u8], v6: bool) -> Option<&'static str> {
    // echo request / reply: type, code 0, checksum, identifier, sequence, data
    let echo = if v6 {
        matches!(b.first(), Some(128 | 129))
    } else {
        matches!(b.first(), Some(0 | 8))
    };
    if !echo || b.len() < 8 || b[1] != 0 {
        return None;
    }
    let data = &b[8..];
    // ptunnel's header magic
    if data.len() >= 28 && data[..4] == [0xd5, 0x20, 0x08, 0x80] {
        return Some("ptunnel");
    }
    // hans: a 4-byte magic, client `hanc`, server `hans`, then a type byte
    if data.len() >= 5 && (data.starts_with(b"hanc") || data.starts_with(b"hans")) {
        return Some("hans");
    }
    // an IPv4 packet inside: version 4, IHL ≥ 5, its total length the data's
    if data.len() >= 20
        && data[0] >> 4 == 4
        && data[0] & 0x0f >= 5
        && usize::from(u16::from_be_bytes([data[2], data[3]])) == data.len()
    {
        return Some("ip-over-icmp");
    }
    // high-entropy data where ping programs send fill patterns (incrementing bytes, the
    // alphabet, zeros) after an optional 8 or 16-byte timestamp
    if data.len() >= 128 && !ping_fill(data) && entropy(data) >= 6.0 {
        return Some("icmp-tunnel");
    }
    None
}

/// The ping programs' echo data: after a timestamp of 0, 8 or 16 bytes, incrementing
/// bytes (iputils, BSD) or a short pattern repeated (Windows' alphabet, `ping -p`).
fn ping_fill(d: &[u8]) -> bool {
    [0usize, 8, 16].iter().any(|&skip| {
        let t = &d[skip.min(d.len())..];
        t.windows(2).all(|w| w[1] == w[0].wrapping_add(1))
            || (1..=32).any(|p| t.iter().enumerate().all(|(k, x)| *x == t[k % p]))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_names_that_carry_data_and_names_that_do_not() {
        // ordinary names, long ones included
        for n in [
            "www.example.com",
            "mail.google.com",
            "d1234abcd5678.cloudfront.net",
            "internal-my-load-balancer-1234567890.us-east-1.elb.amazonaws.com",
            "selector1._domainkey.example.org",
            "the-quick-brown-fox-jumps-over-the-lazy-dog-again.example.org",
        ] {
            assert!(!dns_tunnel(n.as_bytes(), 1), "{n}");
            assert!(!dns_tunnel(n.as_bytes(), 16), "{n}");
        }
        // base32 and hex of random-looking bytes in the labels
        assert!(dns_tunnel(
            b"mfrggzdfmztwq2lknnwg23tpobyxe43uov3ho6dzpjaq2k4r.t.example",
            16
        ));
        assert!(dns_tunnel(
            b"8f3a9c0b2e4d6f81a7c3e5b9d0f2a4c6e8b1d3f5a7c9e0b2d4f6.c2.example",
            5
        ));
        // NULL is a tunnel whatever the name
        assert!(dns_tunnel(b"vaaaakardli.t.example", DNS_NULL));
    }

    #[test]
    fn fully_encrypted_exemptions() {
        // printable openings, half printable, long printable runs, skewed bit counts
        assert!(!fully_encrypted(
            b"GET / HTTP/1.1\r\nHost: example.org\r\n\r\n"
        ));
        assert!(!fully_encrypted(&[0u8; 64]));
        let mut x = 0x1234_5678u32;
        let random: Vec<u8> = (0..256)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        assert!(fully_encrypted(&random));
        let mut opening = b"SSH-2.".to_vec();
        opening.extend_from_slice(&random[6..]);
        assert!(!fully_encrypted(&opening), "six printable bytes first");
    }

    #[test]
    fn ping_fill_is_not_a_tunnel() {
        let mut echo = vec![8, 0, 0, 0, 0, 1, 0, 1];
        echo.extend_from_slice(&[0x11; 8]); // timestamp
        echo.extend((0..1000).map(|k| k as u8)); // iputils' incrementing fill, large -s
        assert_eq!(icmp_tunnel(&echo, false), None);
        let mut win = vec![8, 0, 0, 0, 0, 1, 0, 1];
        win.extend(b"abcdefghijklmnopqrstuvwabcdefghi".repeat(8));
        assert_eq!(icmp_tunnel(&win, false), None);
    }
}
