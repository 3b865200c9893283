//! Frame parsing: link layer (Ethernet, 802.1Q/QinQ, Linux cooked v1/v2, raw IP), IPv4 and
//! IPv6 (with extension headers), TCP and UDP. Zero-copy and allocation-free: a parsed packet
//! borrows its payload from the frame.

/// pcap link types this parser understands.
pub mod linktype {
    pub const NULL: u32 = 0;
    pub const ETHERNET: u32 = 1;
    pub const RAW: u32 = 101;
    pub const LOOP: u32 = 108;
    pub const LINUX_SLL: u32 = 113;
    pub const IPV4: u32 = 228;
    pub const IPV6: u32 = 229;
    pub const LINUX_SLL2: u32 = 276;
}

pub const PROTO_ICMP: u8 = 1;
pub const PROTO_IGMP: u8 = 2;
pub const PROTO_TCP: u8 = 6;
pub const PROTO_UDP: u8 = 17;
pub const PROTO_GRE: u8 = 47;
pub const PROTO_ESP: u8 = 50;
pub const PROTO_AH: u8 = 51;
pub const PROTO_ICMPV6: u8 = 58;

/// Why a frame was not turned into a packet: counted, never a panic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Skip {
    /// The link type is not one this parser reads.
    LinkType,
    /// Not IP (ARP, LLDP, STP, …).
    NotIp,
    /// The frame ends before a header does.
    Truncated,
    /// A header's fields contradict each other (bad IHL, version, lengths).
    Malformed,
    /// A non-first IP fragment: no transport header to key a flow on.
    Fragment,
}

impl Skip {
    pub const ALL: [Skip; 5] = [
        Skip::LinkType,
        Skip::NotIp,
        Skip::Truncated,
        Skip::Malformed,
        Skip::Fragment,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Skip::LinkType => "link-type",
            Skip::NotIp => "not-ip",
            Skip::Truncated => "truncated",
            Skip::Malformed => "malformed",
            Skip::Fragment => "fragment",
        }
    }
}

/// An IP address as 16 bytes: IPv4 addresses are stored v4-mapped (`::ffff:a.b.c.d`).
pub type Addr = [u8; 16];

pub fn v4_mapped(a: [u8; 4]) -> Addr {
    let mut x = [0u8; 16];
    x[10] = 0xff;
    x[11] = 0xff;
    x[12..].copy_from_slice(&a);
    x
}

pub fn is_v4(a: &Addr) -> bool {
    a[..10] == [0u8; 10] && a[10] == 0xff && a[11] == 0xff
}

pub fn to_ip(a: &Addr) -> std::net::IpAddr {
    if is_v4(a) {
        std::net::IpAddr::V4(std::net::Ipv4Addr::new(a[12], a[13], a[14], a[15]))
    } else {
        std::net::IpAddr::V6(std::net::Ipv6Addr::from(*a))
    }
}

pub fn from_ip(ip: std::net::IpAddr) -> Addr {
    match ip {
        std::net::IpAddr::V4(v) => v4_mapped(v.octets()),
        std::net::IpAddr::V6(v) => v.octets(),
    }
}

/// One parsed packet.
#[derive(Debug, Clone, Copy)]
pub struct Packet<'a> {
    pub src: Addr,
    pub dst: Addr,
    pub proto: u8,
    pub sport: u16,
    pub dport: u16,
    /// TCP flags (0 for other protocols).
    pub tcp_flags: u8,
    /// TCP sequence number (0 for other protocols).
    pub seq: u32,
    /// The transport payload as captured (may be shorter than on the wire).
    pub payload: &'a [u8],
    /// A first fragment of a fragmented datagram.
    pub fragment: bool,
}

pub const TCP_FIN: u8 = 0x01;
pub const TCP_SYN: u8 = 0x02;
pub const TCP_RST: u8 = 0x04;
pub const TCP_ACK: u8 = 0x10;

#[inline]
fn be16(b: &[u8], i: usize) -> u16 {
    u16::from_be_bytes([b[i], b[i + 1]])
}

/// Parses one frame of link type `link`.
#[inline]
pub fn parse(link: u32, frame: &[u8]) -> Result<Packet<'_>, Skip> {
    match link {
        linktype::ETHERNET => ethernet(frame),
        linktype::RAW | linktype::IPV4 | linktype::IPV6 => ip(frame),
        linktype::LINUX_SLL => {
            if frame.len() < 16 {
                return Err(Skip::Truncated);
            }
            ether_type(be16(frame, 14), &frame[16..])
        }
        linktype::LINUX_SLL2 => {
            if frame.len() < 20 {
                return Err(Skip::Truncated);
            }
            ether_type(be16(frame, 0), &frame[20..])
        }
        linktype::NULL | linktype::LOOP => {
            if frame.len() < 4 {
                return Err(Skip::Truncated);
            }
            ip(&frame[4..])
        }
        _ => Err(Skip::LinkType),
    }
}

#[inline]
fn ethernet(frame: &[u8]) -> Result<Packet<'_>, Skip> {
    if frame.len() < 14 {
        return Err(Skip::Truncated);
    }
    ether_type(be16(frame, 12), &frame[14..])
}

#[inline]
fn ether_type(mut et: u16, mut rest: &[u8]) -> Result<Packet<'_>, Skip> {
    // up to two VLAN tags (802.1Q, QinQ)
    for _ in 0..2 {
        if et == 0x8100 || et == 0x88a8 || et == 0x9100 {
            if rest.len() < 4 {
                return Err(Skip::Truncated);
            }
            et = be16(rest, 2);
            rest = &rest[4..];
        }
    }
    match et {
        0x0800 | 0x86dd => ip(rest),
        0x8864 => {
            // PPPoE session: 6-byte header, 2-byte PPP protocol
            if rest.len() < 8 {
                return Err(Skip::Truncated);
            }
            match be16(rest, 6) {
                0x0021 | 0x0057 => ip(&rest[8..]),
                _ => Err(Skip::NotIp),
            }
        }
        _ => Err(Skip::NotIp),
    }
}

#[inline]
pub fn ip(b: &[u8]) -> Result<Packet<'_>, Skip> {
    if b.is_empty() {
        return Err(Skip::Truncated);
    }
    match b[0] >> 4 {
        4 => ipv4(b),
        6 => ipv6(b),
        _ => Err(Skip::Malformed),
    }
}

#[inline]
fn ipv4(b: &[u8]) -> Result<Packet<'_>, Skip> {
    if b.len() < 20 {
        return Err(Skip::Truncated);
    }
    let ihl = usize::from(b[0] & 0x0f) * 4;
    if ihl < 20 {
        return Err(Skip::Malformed);
    }
    if b.len() < ihl {
        return Err(Skip::Truncated);
    }
    let total = usize::from(be16(b, 2));
    if total < ihl {
        return Err(Skip::Malformed);
    }
    let flags_frag = be16(b, 6);
    let offset = flags_frag & 0x1fff;
    let more = flags_frag & 0x2000 != 0;
    if offset != 0 {
        return Err(Skip::Fragment);
    }
    let proto = b[9];
    let mut src = [0u8; 4];
    let mut dst = [0u8; 4];
    src.copy_from_slice(&b[12..16]);
    dst.copy_from_slice(&b[16..20]);
    // the captured datagram may be shorter than `total` (snaplen) or padded (Ethernet minimum)
    let end = total.min(b.len());
    transport(v4_mapped(src), v4_mapped(dst), proto, &b[ihl..end], more)
}

#[inline]
fn ipv6(b: &[u8]) -> Result<Packet<'_>, Skip> {
    if b.len() < 40 {
        return Err(Skip::Truncated);
    }
    let plen = usize::from(be16(b, 4));
    let mut next = b[6];
    let mut src = [0u8; 16];
    let mut dst = [0u8; 16];
    src.copy_from_slice(&b[8..24]);
    dst.copy_from_slice(&b[24..40]);
    let end = (40 + plen).min(b.len());
    let mut rest = &b[40..end];
    let mut fragment = false;
    // extension headers: hop-by-hop, routing, fragment, destination options (bounded)
    for _ in 0..8 {
        match next {
            0 | 43 | 60 => {
                if rest.len() < 8 {
                    return Err(Skip::Truncated);
                }
                let len = (usize::from(rest[1]) + 1) * 8;
                if rest.len() < len {
                    return Err(Skip::Truncated);
                }
                next = rest[0];
                rest = &rest[len..];
            }
            44 => {
                if rest.len() < 8 {
                    return Err(Skip::Truncated);
                }
                let off = be16(rest, 2) >> 3;
                if off != 0 {
                    return Err(Skip::Fragment);
                }
                fragment = be16(rest, 2) & 1 != 0;
                next = rest[0];
                rest = &rest[8..];
            }
            _ => break,
        }
    }
    transport(src, dst, next, rest, fragment)
}

#[inline]
fn transport(
    src: Addr,
    dst: Addr,
    proto: u8,
    b: &[u8],
    fragment: bool,
) -> Result<Packet<'_>, Skip> {
    let mut p = Packet {
        src,
        dst,
        proto,
        sport: 0,
        dport: 0,
        tcp_flags: 0,
        seq: 0,
        payload: &[],
        fragment,
    };
    match proto {
        PROTO_TCP => {
            if b.len() < 20 {
                return Err(Skip::Truncated);
            }
            let off = usize::from(b[12] >> 4) * 4;
            if off < 20 {
                return Err(Skip::Malformed);
            }
            if b.len() < off {
                return Err(Skip::Truncated);
            }
            p.sport = be16(b, 0);
            p.dport = be16(b, 2);
            p.seq = u32::from_be_bytes([b[4], b[5], b[6], b[7]]);
            p.tcp_flags = b[13];
            p.payload = &b[off..];
        }
        PROTO_UDP => {
            if b.len() < 8 {
                return Err(Skip::Truncated);
            }
            p.sport = be16(b, 0);
            p.dport = be16(b, 2);
            let ulen = usize::from(be16(b, 4));
            let end = if ulen >= 8 {
                ulen.min(b.len())
            } else {
                b.len()
            };
            p.payload = &b[8..end];
        }
        _ => {
            p.payload = b;
        }
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eth_ipv4_udp(payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x81, 0x00, 0x00, 0x05, 0x08, 0x00]); // VLAN 5, IPv4
        let total = 20 + 8 + payload.len();
        f.extend_from_slice(&[
            0x45,
            0,
            (total >> 8) as u8,
            total as u8,
            0,
            0,
            0,
            0,
            64,
            17,
            0,
            0,
        ]);
        f.extend_from_slice(&[10, 0, 0, 1, 8, 8, 8, 8]);
        let ulen = 8 + payload.len();
        f.extend_from_slice(&[0x30, 0x39, 0, 53, (ulen >> 8) as u8, ulen as u8, 0, 0]);
        f.extend_from_slice(payload);
        f.extend_from_slice(&[0; 6]); // Ethernet padding must not reach the payload
        f
    }

    #[test]
    fn vlan_tagged_udp_parses_without_padding() {
        let f = eth_ipv4_udp(b"hello");
        let p = parse(linktype::ETHERNET, &f).unwrap();
        assert_eq!((p.sport, p.dport, p.proto), (12345, 53, PROTO_UDP));
        assert_eq!(p.payload, b"hello");
        assert_eq!(to_ip(&p.dst).to_string(), "8.8.8.8");
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let f = eth_ipv4_udp(b"hello");
        for n in 0..f.len() {
            let _ = parse(linktype::ETHERNET, &f[..n]);
            let _ = parse(linktype::LINUX_SLL, &f[..n]);
            let _ = parse(linktype::RAW, &f[..n]);
        }
        assert_eq!(
            parse(linktype::ETHERNET, &f[..20]).unwrap_err(),
            Skip::Truncated
        );
        assert_eq!(parse(999, &f).unwrap_err(), Skip::LinkType);
    }
}
