//! Remote access: SSH (RFC 4253 §4.2's identification string; nDPI's ssh.c), NoMachine NX
//! (nDPI's nomachine.c), VNC (RFC 6143 §7.1.1's ProtocolVersion), RDP (TPKT + X.224,
//! MS-RDPBCGR §2.2.1.1; MS-RDPEUDP; nDPI's rdp.c), TeamViewer (nDPI's teamviewer.c), XDMCP
//! (the X Display Manager Control Protocol; nDPI's xdmcp.c), the BSD r-services (nDPI's
//! rsh.c), Radmin (nDPI's radmin.c), Telnet option negotiation (RFC 854, RFC 855; nDPI's
//! telnet.c), VMware's remote console (nDPI's vmware.c).

use super::super::classify::{Detection, Input};
use super::super::sigs::Class;
use super::{app, be16, be32};

/// The remote-access family's per-flow state.
#[derive(Debug, Default)]
pub struct State {
    /// A NoMachine media datagram was seen; a second decides.
    nx_media: bool,
    /// Radmin: the client's 10-byte hello, or a first 14-byte keep-alive, was seen.
    radmin: bool,
    /// Telnet: packets that were nothing but option negotiation so far.
    telnet: u8,
}

/// Radmin (nDPI's radmin.c): the client's 10-byte hello (0x01000000, 0x01, 0x0808 at 8)
/// answered by the server's 46-byte reply (0x01000000, 0x25, 0x02120802 at 7, 0x0a at 13);
/// or two 14-byte keep-alives (0x01000000, 0x05, 0x2727 at 8).
pub fn radmin(st: &mut State, i: &Input<'_>) -> Option<Detection> {
    let b = i.b;
    let head = be32(b, 0) == Some(0x0100_0000);
    if !head {
        return None;
    }
    if i.c2s && b.len() == 10 && !st.radmin && b[4] == 1 && be16(b, 8) == Some(0x0808) {
        st.radmin = true;
        return None;
    }
    if !i.c2s
        && b.len() == 46
        && st.radmin
        && b[4] == 0x25
        && be32(b, 7) == Some(0x0212_0802)
        && b[13] == 0x0a
    {
        return Some(app(Class::RemoteAccess, "radmin"));
    }
    if b.len() == 14 && b[4] == 5 && be16(b, 8) == Some(0x2727) {
        if st.radmin {
            return Some(app(Class::RemoteAccess, "radmin"));
        }
        st.radmin = true;
    }
    None
}

/// Telnet (nDPI's telnet.c): a packet of option negotiation opens with IAC and a command
/// WILL/WONT/DO/DONT/SB (0xfa–0xfe) and an option code below 0x28; every later IAC is
/// followed by a command 0xf0–0xfa, or by WILL–DONT and an option ≤ 0x28. Three such packets
/// decide (a server's opening negotiation and the client's answers).
pub fn telnet(st: &mut State, i: &Input<'_>) -> Option<Detection> {
    if !telnet_negotiation(i.b) {
        return None;
    }
    st.telnet = st.telnet.saturating_add(1);
    (st.telnet >= 3).then(|| app(Class::RemoteAccess, "telnet"))
}

fn telnet_negotiation(b: &[u8]) -> bool {
    if b.len() < 3 || b[0] != 0xff || b[1] <= 0xf9 || b[1] == 0xff || b[2] >= 0x28 {
        return false;
    }
    let mut a = 3;
    while a + 2 < b.len() {
        if b[a] == 0xff {
            let cmd = b[a + 1];
            let ok =
                (0xf0..=0xfa).contains(&cmd) || (0xfb..=0xfe).contains(&cmd) && b[a + 2] <= 0x28;
            if !ok {
                return false;
            }
        }
        a += 1;
    }
    true
}

/// VMware's remote console over UDP (nDPI's vmware.c): a 66-byte datagram opening 0xa4, to
/// its documented port 902. One byte and a length are too little to decide on: here, as in
/// nDPI, the port is part of the signature (it narrows the grammar, never decides alone).
pub fn vmware(i: &Input<'_>) -> Option<Detection> {
    let b = i.b;
    (b.len() == 66 && b[0] == 0xa4 && i.p.dport == 902 && i.c2s)
        .then(|| app(Class::RemoteAccess, "vmware"))
}

pub fn ssh(i: &Input<'_>) -> Option<Detection> {
    i.b.starts_with(b"SSH-")
        .then(|| app(Class::RemoteAccess, "ssh"))
}

pub fn nomachine_banner(i: &Input<'_>) -> Option<Detection> {
    nx_banner(i.b).then(|| app(Class::RemoteAccess, "nomachine"))
}

/// NoMachine's media datagrams: two must agree.
pub fn nomachine_udp(st: &mut State, i: &Input<'_>) -> Option<Detection> {
    if nx_media(i.b) {
        if st.nx_media {
            return Some(app(Class::RemoteAccess, "nomachine"));
        }
        st.nx_media = true;
    }
    None
}

pub fn vnc(i: &Input<'_>) -> Option<Detection> {
    (i.b.starts_with(b"RFB 00") && i.b.len() == 12).then(|| app(Class::RemoteAccess, "vnc"))
}

pub fn rdp(i: &Input<'_>) -> Option<Detection> {
    tpkt_x224(i.b).then(|| app(Class::RemoteAccess, "rdp"))
}

/// RDP over UDP (MS-RDPEUDP): the SYN datagram is padded to 1232 bytes, its snSourceAck
/// is -1 and its flags carry RDPUDP_FLAG_SYN; or a data datagram after it.
pub fn rdp_udp(i: &Input<'_>) -> Option<Detection> {
    let b = i.b;
    (b.len() == 1232 && b[..4] == [0xff; 4] && b[7] & 0x01 != 0 || rdpeudp_data(b))
        .then(|| app(Class::RemoteAccess, "rdp-udp"))
}

pub fn teamviewer_tcp(i: &Input<'_>) -> Option<Detection> {
    teamviewer_segment(i.b).then(|| app(Class::RemoteAccess, "teamviewer"))
}

/// TeamViewer's UDP (nDPI's teamviewer.c): the 0x17 0x24 command at offset 11.
pub fn teamviewer_udp(i: &Input<'_>) -> Option<Detection> {
    let b = i.b;
    (b.len() > 13 && b[0] == 0 && b[11] == 0x17 && b[12] == 0x24)
        .then(|| app(Class::RemoteAccess, "teamviewer"))
}

pub fn xdmcp(i: &Input<'_>) -> Option<Detection> {
    xdmcp_message(i.b).then(|| app(Class::RemoteAccess, "xdmcp"))
}

/// The r-services: the client's first bytes of its flow.
pub fn rsh(i: &Input<'_>) -> Option<Detection> {
    (i.c2s && i.first && rsh_opening(i.b, i.p.dport)).then(|| app(Class::RemoteAccess, "rsh"))
}

/// NoMachine's NX handshake (nDPI's nomachine.c): before its TLS, the client sends
/// `NXSH-<version>` and the server `NXD-<version>`, one line each.
fn nx_banner(b: &[u8]) -> bool {
    let v = b.strip_prefix(b"NXSH-").or_else(|| b.strip_prefix(b"NXD-"));
    (11..=16).contains(&b.len())
        && v.and_then(|v| v.strip_suffix(b"\n")).is_some_and(|v| {
            v.first().is_some_and(u8::is_ascii_digit)
                && v.iter().all(|c| c.is_ascii_digit() || *c == b'.')
        })
}

/// NoMachine's media datagrams (nDPI's nomachine.c): a little-endian 16-bit field 1 at
/// offset 2, the datagram's own length at offset 4, zero at offset 8.
fn nx_media(b: &[u8]) -> bool {
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

/// XDMCP: version 1, an opcode of the protocol, and a length that matches.
fn xdmcp_message(b: &[u8]) -> bool {
    b.len() >= 6
        && b[..2] == [0, 1]
        && b[2] == 0
        && (1..=15).contains(&b[3])
        && usize::from(u16::from_be_bytes([b[4], b[5]])) == b.len() - 6
}

/// rsh/rexec/rlogin: the client's first bytes are its stderr port (or nothing) as ASCII
/// digits and a NUL, to the r-services' ports.
fn rsh_opening(b: &[u8], dport: u16) -> bool {
    matches!(dport, 512..=514)
        && (1..=6).contains(&b.len())
        && b[b.len() - 1] == 0
        && b[..b.len() - 1].iter().all(u8::is_ascii_digit)
}

fn tpkt_x224(b: &[u8]) -> bool {
    // TPKT + X.224 connection request (0xE0) or confirm (0xD0)
    b.len() >= 11
        && b[0] == 3
        && b[1] == 0
        && usize::from(u16::from_be_bytes([b[2], b[3]])) == b.len()
        && (b[5] == 0xe0 || b[5] == 0xd0)
        && usize::from(b[4]) + 5 == b.len()
}

fn teamviewer_segment(b: &[u8]) -> bool {
    b.len() >= 6
        && ((b[0] == 0x17 && b[1] == 0x24) || (b[0] == 0x11 && b[1] == 0x30))
        && b[2] <= 0x40
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_access_grammars() {
        assert!(nx_banner(b"NXSH-8.10.1\n"));
        assert!(nx_banner(b"NXD-8.10.1\n"));
        assert!(!nx_banner(b"NXSH-hello!\n"));
        assert!(nx_media(&[1, 0, 1, 0, 10, 0, 0, 0, 0, 0]));
        assert!(!nx_media(&[1, 0, 1, 0, 11, 0, 0, 0, 0, 0]));
        // ACK|DATA, one ack vector element, snCoded = snSourceStart, a TLS record
        let mut b = vec![0x10, 0x97, 0x60, 0x33, 4, 0, 0, 0x0c, 0, 1, 0, 0];
        b.extend_from_slice(&[0xe6, 0x5f, 0x84, 0x6d, 0xe6, 0x5f, 0x84, 0x6d]);
        b.extend_from_slice(&[0x17, 3, 3, 0, 12]);
        b.resize(b.len() + 12, 0xab);
        assert!(rdpeudp_data(&b));
        b[15] ^= 1;
        assert!(!rdpeudp_data(&b));
    }
}
