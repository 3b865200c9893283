//! TLS, DTLS and QUIC: the handshakes that name their service. The ClientHello's SNI (RFC
//! 6066 §3) names the flow against the lists; without one, the server's certificate does
//! (RFC 5246 §7.4.2; nDPI's tls.c reads the same fields). Tor relays' made-up names and
//! AnyDesk's certificate (nDPI's tls.c) are recognised here too, since only the TLS
//! handshake shows them.

use super::super::classify::{Detection, Input, MAX_HELLO, Seen, named};
use super::super::proto::{self, CertScan, TlsStart};
use super::super::quic::{Crypto, QuicSni};
use super::super::sigs::{Class, Label, Signatures};

/// The TLS family's per-flow state.
#[derive(Debug, Default)]
pub struct State {
    /// The client's stream while a ClientHello is being reassembled.
    pub(crate) stream: Option<Box<Reasm>>,
    /// A TLS session whose server certificate is read before deciding (no SNI, or a
    /// certificate fingerprint list is loaded).
    srv: Option<Box<SrvTls>>,
    /// A QUIC connection's client Initial packets, while its ClientHello is incomplete.
    quic: Option<Box<Crypto>>,
    quic_pkts: u8,
    /// A DTLS ClientHello without an SNI was seen: the server's certificate is awaited.
    dtls: bool,
}

#[derive(Debug)]
pub(crate) struct Reasm {
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

impl State {
    /// Classification ended: the reassembly buffers go.
    pub(crate) fn clear(&mut self) {
        self.stream = None;
        self.srv = None;
    }

    /// The flow ended undecided: what the handshake said so far.
    pub(crate) fn give_up(&self) -> Option<Detection> {
        if let Some(s) = &self.srv {
            Some(with_fp(s.pending.clone(), s.fp))
        } else if self.dtls {
            Some(dtls_detection(None))
        } else {
            None
        }
    }
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

/// A TCP segment: the server's flight while its certificate is awaited, else the client's
/// ClientHello (which normally opens the client's stream; a capture that starts late or a
/// reversed first packet still shows it later or from the other side).
pub fn tcp(st: &mut State, i: &Input<'_>) -> Seen {
    if let Some(s) = &st.srv {
        // the client's further bytes are not looked at; the server's are its certificate
        if i.c2s == s.hello_c2s {
            return Seen::Wait;
        }
        return match st.server_tls(i) {
            Some(d) => Seen::Done(d),
            None => Seen::Wait,
        };
    }
    if st.stream.is_some() || i.b.first() == Some(&0x16) {
        if let Some(d) = st.client(i) {
            return Seen::Done(d);
        }
        if st.stream.is_some() || st.srv.is_some() {
            return Seen::Wait;
        }
    }
    Seen::Next
}

impl State {
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
    fn server_tls(&mut self, i: &Input<'_>) -> Option<Detection> {
        let (p, b, sigs) = (i.p, i.b, i.sigs);
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

    fn client(&mut self, i: &Input<'_>) -> Option<Detection> {
        let (p, b, c2s, sigs) = (i.p, i.b, i.c2s, i.sigs);
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
}

/// DTLS (RFC 6347): the ClientHello's SNI names the flow; without one, the server's
/// certificate, when its flight comes unfragmented.
pub fn dtls(st: &mut State, i: &Input<'_>) -> Seen {
    if let Some(h) = proto::dtls_hello(i.b) {
        if let Some(s) = h.sni {
            return Seen::Done(named(i.sigs, "dtls", s, true, true));
        }
        // no SNI: the server's certificate names the service
        st.dtls = true;
        return Seen::Wait;
    }
    if st.dtls {
        if let Some(cert) = proto::dtls_server_certificate(i.b) {
            return Seen::Done(cert_detection(i.sigs, cert, true, &dtls_detection(None)));
        }
        return Seen::Wait;
    }
    Seen::Next
}

/// QUIC (RFC 9000 long header, and Google QUIC's `Q0xx` versions): the client's Initial
/// packets are decrypted ([`super::super::quic`]) for the ClientHello's SNI.
pub fn quic(st: &mut State, i: &Input<'_>) -> Seen {
    let b = i.b;
    if !(i.c2s && (st.quic.is_some() || quic_long(b) || gquic(b))) {
        return Seen::Next;
    }
    let q = st.quic.get_or_insert_with(Default::default);
    st.quic_pkts += 1;
    match q.datagram(b) {
        QuicSni::Done(Some(sni)) => {
            st.quic = None;
            Seen::Done(named(i.sigs, "quic", sni.as_bytes(), true, true))
        }
        QuicSni::More if st.quic_pkts < 4 => Seen::Wait,
        QuicSni::NotInitial if st.quic_pkts == 1 && !quic_long(b) => {
            st.quic = None;
            Seen::Next
        }
        _ => {
            st.quic = None;
            Seen::Done(Detection {
                class: Some(Class::Other),
                app: "quic",
                tls: true,
                ..Default::default()
            })
        }
    }
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
pub(crate) fn tor_like(sni: &[u8]) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tor_like_names() {
        assert!(tor_like(b"www.gkx3e7mvqk.com"));
        assert!(!tor_like(b"www.facebook.com"));
        assert!(!tor_like(b"www.example2.com"));
    }
}
