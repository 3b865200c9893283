//! Application-protocol parsers the classifier uses: the TLS/DTLS ClientHello (SNI, ALPN),
//! the DNS question, the HTTP request line and Host. All bounds-checked, allocation-free:
//! names are returned as slices of the input.

/// What a ClientHello says.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Hello<'a> {
    pub sni: Option<&'a [u8]>,
    /// The first ALPN protocol offered.
    pub alpn: Option<&'a [u8]>,
}

/// The outcome of looking at the start of a TLS stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsStart<'a> {
    /// Not a TLS handshake record.
    NotTls,
    /// A TLS ClientHello whose record is longer than the bytes at hand: `need` bytes in all.
    Partial {
        need: usize,
    },
    Hello(Hello<'a>),
    /// A TLS handshake record that is not a ClientHello (e.g. a ServerHello).
    OtherHandshake,
    /// A whole ClientHello spread over several records: join them with [`join_records`].
    NeedsJoin,
}

struct Rd<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Rd<'a> {
    fn new(b: &'a [u8]) -> Self {
        Rd { b, i: 0 }
    }
    fn u8(&mut self) -> Option<u8> {
        let v = *self.b.get(self.i)?;
        self.i += 1;
        Some(v)
    }
    fn u16(&mut self) -> Option<u16> {
        let s = self.take(2)?;
        Some(u16::from_be_bytes([s[0], s[1]]))
    }
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.i.checked_add(n)?;
        let s = self.b.get(self.i..end)?;
        self.i = end;
        Some(s)
    }
    fn rest(&self) -> &'a [u8] {
        self.b.get(self.i..).unwrap_or(&[])
    }
}

/// Looks at bytes from the start of a TCP stream (client side).
///
/// A ClientHello may span several TLS records and several TCP segments; the caller
/// reassembles the stream and calls again with more bytes when told `Partial`.
pub fn tls_start(b: &[u8]) -> TlsStart<'_> {
    if b.len() < 6 || b[0] != 0x16 || b[1] != 0x03 || b[2] > 0x04 {
        return TlsStart::NotTls;
    }
    let rec_len = usize::from(u16::from_be_bytes([b[3], b[4]]));
    if rec_len == 0 || rec_len > 18432 {
        return TlsStart::NotTls;
    }
    if b[5] != 0x01 {
        return TlsStart::OtherHandshake;
    }
    // handshake message length, possibly spanning several records
    if b.len() < 9 {
        return TlsStart::Partial { need: 9 };
    }
    let hs_len = (usize::from(b[6]) << 16) | (usize::from(b[7]) << 8) | usize::from(b[8]);
    if hs_len > 1 << 17 {
        return TlsStart::NotTls;
    }
    // collect the handshake body out of consecutive records, without allocating when it
    // fits in the first record (the common case)
    if 4 + hs_len <= rec_len {
        if b.len() < 5 + 4 + hs_len {
            return TlsStart::Partial {
                need: 5 + 4 + hs_len,
            };
        }
        return TlsStart::Hello(client_hello(&b[9..9 + hs_len]).unwrap_or_default());
    }
    // the ClientHello spans records: the bytes needed are every record header on the way
    let mut need = 5 + rec_len;
    let mut have_body = rec_len - 4;
    while have_body < hs_len {
        if b.len() < need + 5 {
            return TlsStart::Partial { need: need + 5 };
        }
        let l = usize::from(u16::from_be_bytes([b[need + 3], b[need + 4]]));
        if b[need] != 0x16 || l == 0 {
            return TlsStart::Hello(Hello::default());
        }
        need += 5 + l;
        have_body += l;
    }
    if b.len() < need {
        return TlsStart::Partial { need };
    }
    TlsStart::NeedsJoin
}

/// Joins the handshake bodies of consecutive TLS records into `out` (the caller's reusable
/// buffer) and parses the ClientHello from it.
pub fn join_records<'o>(b: &[u8], out: &'o mut Vec<u8>) -> Hello<'o> {
    out.clear();
    let mut i = 0;
    while i + 5 <= b.len() && b[i] == 0x16 {
        let l = usize::from(u16::from_be_bytes([b[i + 3], b[i + 4]]));
        let end = (i + 5 + l).min(b.len());
        out.extend_from_slice(&b[i + 5..end]);
        i = end;
    }
    if out.len() < 4 || out[0] != 1 {
        return Hello::default();
    }
    let hs_len = (usize::from(out[1]) << 16) | (usize::from(out[2]) << 8) | usize::from(out[3]);
    let end = (4 + hs_len).min(out.len());
    client_hello(&out[4..end]).unwrap_or_default()
}

/// Parses a ClientHello body (after the 4-byte handshake header).
pub fn client_hello(body: &[u8]) -> Option<Hello<'_>> {
    let mut r = Rd::new(body);
    r.take(2 + 32)?; // version, random
    let sid = r.u8()?;
    r.take(usize::from(sid))?;
    let cs = r.u16()?;
    r.take(usize::from(cs))?;
    let cm = r.u8()?;
    r.take(usize::from(cm))?;
    extensions(r.rest())
}

/// Parses a DTLS ClientHello body (it has a cookie after the session id).
pub fn dtls_client_hello(body: &[u8]) -> Option<Hello<'_>> {
    let mut r = Rd::new(body);
    r.take(2 + 32)?;
    let sid = r.u8()?;
    r.take(usize::from(sid))?;
    let cookie = r.u8()?;
    r.take(usize::from(cookie))?;
    let cs = r.u16()?;
    r.take(usize::from(cs))?;
    let cm = r.u8()?;
    r.take(usize::from(cm))?;
    extensions(r.rest())
}

fn extensions(b: &[u8]) -> Option<Hello<'_>> {
    let mut h = Hello::default();
    let mut r = Rd::new(b);
    let Some(total) = r.u16() else {
        return Some(h);
    };
    let ext = r.take(usize::from(total)).unwrap_or(r.rest());
    let mut r = Rd::new(ext);
    while let (Some(t), Some(l)) = (r.u16(), r.u16()) {
        let Some(data) = r.take(usize::from(l)) else {
            break;
        };
        match t {
            0 => h.sni = server_name(data),
            16 => {
                let mut a = Rd::new(data);
                if a.u16().is_some()
                    && let Some(n) = a.u8()
                {
                    h.alpn = a.take(usize::from(n));
                }
            }
            _ => {}
        }
    }
    Some(h)
}

fn server_name(data: &[u8]) -> Option<&[u8]> {
    let mut r = Rd::new(data);
    let list = r.u16()?;
    let list = r.take(usize::from(list))?;
    let mut r = Rd::new(list);
    while let Some(kind) = r.u8() {
        let l = r.u16()?;
        let name = r.take(usize::from(l))?;
        if kind == 0 && !name.is_empty() && name.iter().all(|c| c.is_ascii_graphic()) {
            return Some(name);
        }
    }
    None
}

/// A DTLS record carrying a ClientHello (first fragment): its SNI.
pub fn dtls_hello(b: &[u8]) -> Option<Hello<'_>> {
    // record: type(1) version(2) epoch(2) seq(6) length(2); handshake: type(1) len(3)
    // message_seq(2) fragment_offset(3) fragment_length(3)
    if b.len() < 25 || b[0] != 0x16 || b[1] != 0xfe {
        return None;
    }
    if b[13] != 0x01 {
        return None;
    }
    let frag_off = (usize::from(b[19]) << 16) | (usize::from(b[20]) << 8) | usize::from(b[21]);
    if frag_off != 0 {
        return None;
    }
    let flen = (usize::from(b[22]) << 16) | (usize::from(b[23]) << 8) | usize::from(b[24]);
    let end = (25 + flen).min(b.len());
    dtls_client_hello(&b[25..end])
}

/// The first question's name of a DNS message, written into `out` as dotted text.
/// Returns the name's length, or `None` when the bytes are not a plausible DNS message.
pub fn dns_question(b: &[u8], out: &mut [u8; 256]) -> Option<usize> {
    if b.len() < 17 {
        return None;
    }
    let flags = u16::from_be_bytes([b[2], b[3]]);
    let opcode = (flags >> 11) & 0x0f;
    let qd = u16::from_be_bytes([b[4], b[5]]);
    if qd != 1 || opcode > 5 || b[3] & 0x40 != 0 {
        return None;
    }
    let an = u16::from_be_bytes([b[6], b[7]]);
    let ns = u16::from_be_bytes([b[8], b[9]]);
    if an > 256 || ns > 256 {
        return None;
    }
    let mut i = 12;
    let mut n = 0;
    loop {
        let l = usize::from(*b.get(i)?);
        if l == 0 {
            i += 1;
            break;
        }
        if l > 63 {
            return None; // compression pointers do not occur in the first question
        }
        let label = b.get(i + 1..i + 1 + l)?;
        if n + l + 1 > out.len() {
            return None;
        }
        if n > 0 {
            out[n] = b'.';
            n += 1;
        }
        for &c in label {
            if !(c.is_ascii_alphanumeric() || c == b'-' || c == b'_' || c == b'*') {
                return None;
            }
            out[n] = c.to_ascii_lowercase();
            n += 1;
        }
        i += 1 + l;
    }
    // QTYPE and QCLASS follow
    let qclass = u16::from_be_bytes([*b.get(i + 2)?, *b.get(i + 3)?]) & 0x7fff;
    if qclass != 1 && qclass != 255 && qclass != 3 {
        return None;
    }
    Some(n)
}

/// HTTP request methods this parser accepts at the start of a client's stream.
const METHODS: &[&[u8]] = &[
    b"GET ",
    b"POST ",
    b"HEAD ",
    b"PUT ",
    b"DELETE ",
    b"OPTIONS ",
    b"CONNECT ",
    b"PATCH ",
    b"PROPFIND ",
    b"TRACE ",
];

/// Whether `b` starts like an HTTP request; the request target is returned.
pub fn http_request(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let m = METHODS.iter().find(|m| b.starts_with(m))?;
    let rest = &b[m.len()..];
    let end = rest.iter().position(|&c| c == b' ' || c == b'\r')?;
    Some((&m[..m.len() - 1], &rest[..end]))
}

/// A header's value in an HTTP head (case-insensitive name), trimmed.
pub fn http_header<'a>(b: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    let head_end = find(b, b"\r\n\r\n").unwrap_or(b.len());
    let head = &b[..head_end];
    for line in head.split(|&c| c == b'\n') {
        if line.len() > name.len()
            && line[name.len()] == b':'
            && line[..name.len()].eq_ignore_ascii_case(name)
        {
            let v = &line[name.len() + 1..];
            let v = trim(v);
            return Some(v);
        }
    }
    None
}

fn trim(mut v: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = v {
        if first.is_ascii_whitespace() {
            v = rest;
        } else {
            break;
        }
    }
    while let [rest @ .., last] = v {
        if last.is_ascii_whitespace() {
            v = rest;
        } else {
            break;
        }
    }
    v
}

/// The host of an HTTP `Host` value (without the port).
pub fn host_only(v: &[u8]) -> &[u8] {
    if v.first() == Some(&b'[') {
        return v;
    }
    match v.iter().rposition(|&c| c == b':') {
        Some(i) if v[i + 1..].iter().all(u8::is_ascii_digit) => &v[..i],
        _ => v,
    }
}

pub fn find(h: &[u8], n: &[u8]) -> Option<usize> {
    if n.is_empty() || h.len() < n.len() {
        return None;
    }
    h.windows(n.len()).position(|w| w == n)
}

/// A DER element: (tag, contents, rest). Contents may be cut short by the capture: the
/// caller only walks as far as the bytes go.
fn der(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let tag = *b.first()?;
    let l0 = *b.get(1)?;
    let (len, hdr) = match l0 {
        0..=0x7f => (usize::from(l0), 2),
        0x81 => (usize::from(*b.get(2)?), 3),
        0x82 => ((usize::from(*b.get(2)?) << 8) | usize::from(*b.get(3)?), 4),
        0x83 => (
            (usize::from(*b.get(2)?) << 16)
                | (usize::from(*b.get(3)?) << 8)
                | usize::from(*b.get(4)?),
            5,
        ),
        _ => return None,
    };
    let body = b.get(hdr..)?;
    let end = len.min(body.len());
    Some((tag, &body[..end], &body[end..]))
}

/// The subject common name of the first certificate of a TLS 1.2 server flight (a
/// Certificate handshake message in the bytes at hand), for sessions without an SNI.
pub fn server_cert_name(b: &[u8]) -> Option<&[u8]> {
    let mut i = 0;
    while i + 5 <= b.len() && b[i] == 0x16 && b[i + 1] == 3 {
        let l = usize::from(u16::from_be_bytes([b[i + 3], b[i + 4]]));
        let end = (i + 5 + l).min(b.len());
        let body = &b[i + 5..end];
        let mut j = 0;
        while j + 4 <= body.len() {
            let t = body[j];
            let ml = (usize::from(body[j + 1]) << 16)
                | (usize::from(body[j + 2]) << 8)
                | usize::from(body[j + 3]);
            if t == 11 {
                let certs = body.get(j + 4 + 6..)?; // list length, first certificate's length
                return cert_subject_cn(certs);
            }
            j += 4 + ml;
        }
        i = end;
    }
    None
}

fn cert_subject_cn(der_bytes: &[u8]) -> Option<&[u8]> {
    let (_, cert, _) = der(der_bytes)?;
    let (_, tbs, _) = der(cert)?;
    let mut r = tbs;
    if r.first() == Some(&0xa0) {
        r = der(r)?.2;
    }
    let (_, _, r) = der(r)?; // serial
    let (_, _, r) = der(r)?; // signature algorithm
    let (_, _, r) = der(r)?; // issuer
    let (_, _, r) = der(r)?; // validity
    let (_, subject, _) = der(r)?;
    let mut cn = None;
    let mut rdns = subject;
    while let Some((_, set, rest)) = der(rdns) {
        if let Some((_, atv, _)) = der(set)
            && let Some((6, oid, rest2)) = der(atv)
            && oid == [0x55, 0x04, 0x03]
            && let Some((_, v, _)) = der(rest2)
        {
            cn = Some(v);
        }
        rdns = rest;
    }
    cn.filter(|v| !v.is_empty() && v.iter().all(|c| c.is_ascii_graphic() || *c == b' '))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal ClientHello with an SNI (built here, not copied from anywhere).
    pub fn hello(sni: &str) -> Vec<u8> {
        let name = sni.as_bytes();
        let mut sn = Vec::new();
        sn.extend_from_slice(&((name.len() + 3) as u16).to_be_bytes());
        sn.push(0);
        sn.extend_from_slice(&(name.len() as u16).to_be_bytes());
        sn.extend_from_slice(name);
        let mut ext = Vec::new();
        ext.extend_from_slice(&0u16.to_be_bytes());
        ext.extend_from_slice(&(sn.len() as u16).to_be_bytes());
        ext.extend_from_slice(&sn);
        let mut body = vec![3, 3];
        body.extend_from_slice(&[7; 32]);
        body.push(0);
        body.extend_from_slice(&[0, 2, 0x13, 0x01, 1, 0]);
        body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
        body.extend_from_slice(&ext);
        let mut hs = vec![1, 0, (body.len() >> 8) as u8, body.len() as u8];
        hs.extend_from_slice(&body);
        let mut rec = vec![0x16, 3, 1, (hs.len() >> 8) as u8, hs.len() as u8];
        rec.extend_from_slice(&hs);
        rec
    }

    #[test]
    fn sni_from_a_whole_hello_and_partial_when_cut() {
        let h = hello("halykbank.kz");
        match tls_start(&h) {
            TlsStart::Hello(x) => assert_eq!(x.sni, Some(&b"halykbank.kz"[..])),
            other => panic!("{other:?}"),
        }
        for n in 0..h.len() {
            match tls_start(&h[..n]) {
                TlsStart::Partial { need } => assert!(need > n),
                TlsStart::NotTls => assert!(n < 6),
                other => panic!("{n}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_hello_split_over_two_records_is_joined() {
        let h = hello("example.org");
        let hs = &h[5..];
        let (a, b) = hs.split_at(20);
        let mut two = vec![0x16, 3, 1, 0, a.len() as u8];
        two.extend_from_slice(a);
        two.extend_from_slice(&[0x16, 3, 1, (b.len() >> 8) as u8, b.len() as u8]);
        two.extend_from_slice(b);
        assert_eq!(tls_start(&two), TlsStart::NeedsJoin);
        let mut buf = Vec::new();
        assert_eq!(join_records(&two, &mut buf).sni, Some(&b"example.org"[..]));
    }

    #[test]
    fn dns_and_http() {
        let mut q = vec![0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        q.extend_from_slice(b"\x03www\x07example\x03com\x00\x00\x01\x00\x01");
        let mut out = [0u8; 256];
        let n = dns_question(&q, &mut out).unwrap();
        assert_eq!(&out[..n], b"www.example.com");
        let r = b"GET /x HTTP/1.1\r\nhost: Example.org:8080\r\n\r\n";
        assert_eq!(http_request(r).unwrap().1, b"/x");
        assert_eq!(host_only(http_header(r, b"Host").unwrap()), b"Example.org");
    }
}
