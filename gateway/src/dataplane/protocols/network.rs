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
    if super::tunnel::dns_tunnel(&q[..n], super::tunnel::dns_qtype(i.b).unwrap_or(0)) {
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

pub fn netbios(i: &Input<'_>) -> Option<Detection> {
    let ports = i.ports();
    ((ports.contains(&137) || ports.contains(&138)) && i.b.len() >= 12)
        .then(|| app(Class::Other, "netbios"))
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
