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
    // RFC 8446 §5.1 lets a handshake message be cut anywhere between records, its 4-byte
    // header included: a first record of 1–3 bytes carries only part of that header
    if rec_len < 4 {
        return split_header(b);
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

/// A ClientHello whose 4-byte handshake header is itself spread over records of fewer than
/// four bytes: the header is read across the records (each a TLS handshake record of the
/// same framing), then the body is counted out as in [`tls_start`].
fn split_header(b: &[u8]) -> TlsStart<'_> {
    let mut hdr = [0u8; 4];
    let mut got = 0;
    let mut i = 0;
    let mut body = 0usize;
    while got < 4 {
        // what is at hand of the next record's header must already be a handshake record's
        let hdr_at_hand = b.get(i..).unwrap_or(&[]);
        if hdr_at_hand.first().is_some_and(|&t| t != 0x16)
            || hdr_at_hand.get(1).is_some_and(|&v| v != 0x03)
            || hdr_at_hand.get(2).is_some_and(|&m| m > 0x04)
        {
            return TlsStart::NotTls;
        }
        if b.len() < i + 5 {
            return TlsStart::Partial { need: i + 5 };
        }
        let l = usize::from(u16::from_be_bytes([b[i + 3], b[i + 4]]));
        if l == 0 {
            return TlsStart::NotTls;
        }
        if b.len() < i + 5 + l {
            return TlsStart::Partial { need: i + 5 + l };
        }
        for &x in &b[i + 5..i + 5 + l] {
            if got < 4 {
                hdr[got] = x;
                got += 1;
            }
        }
        body += l;
        i += 5 + l;
    }
    if hdr[0] != 0x01 {
        return TlsStart::OtherHandshake;
    }
    let hs_len = (usize::from(hdr[1]) << 16) | (usize::from(hdr[2]) << 8) | usize::from(hdr[3]);
    if hs_len > 1 << 17 {
        return TlsStart::NotTls;
    }
    // `body` counts the header's 4 bytes, which are not the message's
    let mut have_body = body - 4;
    let mut need = i;
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

/// What a TLS server's stream shows of its certificate so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertScan<'a> {
    /// The first certificate of the Certificate message, whole (DER).
    Found(&'a [u8]),
    /// The Certificate message has not arrived whole yet.
    More,
    /// No plaintext certificate will come: a record other than a handshake (TLS 1.3's
    /// encrypted flight, a resumed session's ChangeCipherSpec, an alert), a ServerHelloDone
    /// first, or bytes that are not TLS records.
    Absent,
}

fn u24(b: &[u8]) -> usize {
    (usize::from(b[0]) << 16) | (usize::from(b[1]) << 8) | usize::from(b[2])
}

/// The first certificate of a TLS ≤ 1.2 server's Certificate message (RFC 5246 §7.4.2),
/// from the server's stream as reassembled so far: the handshake bodies of consecutive
/// records are joined into `join` (the caller's reusable buffer), then the handshake
/// messages walked.
pub fn server_certificate<'j>(b: &[u8], join: &'j mut Vec<u8>) -> CertScan<'j> {
    join.clear();
    let mut i = 0;
    while i + 5 <= b.len() {
        if b[i] != 0x16 || b[i + 1] != 3 {
            return CertScan::Absent;
        }
        let l = usize::from(u16::from_be_bytes([b[i + 3], b[i + 4]]));
        let end = (i + 5 + l).min(b.len());
        join.extend_from_slice(&b[i + 5..end]);
        i += 5 + l;
    }
    let hs: &'j [u8] = join;
    let mut j = 0;
    while j + 4 <= hs.len() {
        let (t, ml) = (hs[j], u24(&hs[j + 1..j + 4]));
        match t {
            // read once the whole message is at hand, as nDPI reads it (a chain cut short
            // by the capture is not a certificate to trust the names of)
            11 => {
                if hs.len() < j + 4 + ml {
                    return CertScan::More;
                }
                // certificate_list's length, then the first certificate's
                let Some(h) = hs.get(j + 7..j + 10).filter(|_| ml >= 6) else {
                    return CertScan::Absent;
                };
                let cl = u24(h);
                if cl == 0 || cl + 6 > ml {
                    return CertScan::Absent;
                }
                return match hs.get(j + 10..j + 10 + cl) {
                    Some(c) => CertScan::Found(c),
                    None => CertScan::More,
                };
            }
            // ServerHello, HelloVerifyRequest, NewSessionTicket: the certificate may follow
            2..=4 => j += 4 + ml,
            _ => return CertScan::Absent,
        }
    }
    CertScan::More
}

/// The first certificate of a DTLS server flight's Certificate message when it travels
/// unfragmented in one datagram (RFC 6347 §4.2.2: a 13-byte record header, a 12-byte
/// handshake header with message_seq, fragment_offset 0 and fragment_length = length).
pub fn dtls_server_certificate(b: &[u8]) -> Option<&[u8]> {
    let mut i = 0;
    while i + 13 <= b.len() {
        let l = usize::from(u16::from_be_bytes([b[i + 11], b[i + 12]]));
        let body = b.get(i + 13..i + 13 + l)?;
        if b[i] == 0x16 && b[i + 1] == 0xfe && body.len() >= 18 && body[0] == 11 {
            let len = u24(&body[1..4]);
            if u24(&body[6..9]) != 0 || u24(&body[9..12]) != len {
                return None;
            }
            let cl = u24(&body[15..18]);
            return body.get(18..18 + cl).filter(|_| cl > 0);
        }
        i += 13 + l;
    }
    None
}

/// A whole DER element: (tag, contents, rest); `None` when the bytes stop short of it.
fn der_whole(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (t, body, rest) = der(b)?;
    let hdr = b.len() - body.len() - rest.len();
    let len = if hdr == 2 {
        usize::from(b[1])
    } else {
        b[2..hdr].iter().fold(0, |a, &x| (a << 8) | usize::from(x))
    };
    (body.len() == len).then_some((t, body, rest))
}

/// The values of the attributes `oid` of an X.501 Name, in order, as printable text.
fn dn_values<'a>(name: &'a [u8], oid: &[u8], f: &mut impl FnMut(&'a [u8]) -> bool) -> bool {
    let mut rdns = name;
    while let Some((_, set, rest)) = der(rdns) {
        let mut atvs = set;
        while let Some((_, atv, more)) = der(atvs) {
            if let Some((6, o, r2)) = der(atv)
                && o == oid
                && let Some((_, v, _)) = der(r2)
                && !v.is_empty()
                && v.iter().all(|c| c.is_ascii_graphic() || *c == b' ')
                && f(v)
            {
                return true;
            }
            atvs = more;
        }
        rdns = rest;
    }
    false
}

/// The names a whole certificate (DER) gives its holder, in the order they identify it:
/// the subject's common names, the subjectAltName dNSNames, the subject's organisation,
/// the issuer's organisation (RFC 5280 §4.1, §4.2.1.6). `f` returns true to stop.
pub fn cert_names<'a>(cert: &'a [u8], mut f: impl FnMut(&'a [u8]) -> bool) {
    const CN: [u8; 3] = [0x55, 0x04, 0x03];
    const O: [u8; 3] = [0x55, 0x04, 0x0a];
    let Some((0x30, c, _)) = der_whole(cert) else {
        return;
    };
    let Some((_, tbs, _)) = der(c) else { return };
    let mut r = tbs;
    if r.first() == Some(&0xa0) {
        let Some(x) = der(r) else { return };
        r = x.2;
    }
    let mut fields = [&[][..]; 6];
    for slot in &mut fields {
        let Some((_, v, rest)) = der(r) else { break };
        *slot = v;
        r = rest;
    }
    // serial, signature, issuer, validity, subject, subjectPublicKeyInfo; then [1], [2], [3]
    let (issuer, subject) = (fields[2], fields[4]);
    if dn_values(subject, &CN, &mut f) {
        return;
    }
    while let Some((t, v, rest)) = der(r) {
        if t == 0xa3 {
            let mut exts = der(v).map(|x| x.1).unwrap_or(&[]);
            while let Some((_, ext, more)) = der(exts) {
                if let Some((6, oid, r2)) = der(ext)
                    && oid == [0x55, 0x1d, 0x11]
                {
                    let r2 = match der(r2) {
                        Some((1, _, r3)) => r3, // critical
                        _ => r2,
                    };
                    if let Some((4, os, _)) = der(r2)
                        && let Some((0x30, names, _)) = der(os)
                    {
                        let mut n = names;
                        while let Some((t, v, more)) = der(n) {
                            if t == 0x82
                                && !v.is_empty()
                                && v.iter().all(u8::is_ascii_graphic)
                                && f(v)
                            {
                                return;
                            }
                            n = more;
                        }
                    }
                }
                exts = more;
            }
        }
        r = rest;
    }
    if dn_values(subject, &O, &mut f) {
        return;
    }
    dn_values(issuer, &O, &mut f);
}

/// The JA3 string of a ClientHello body (after the handshake header): the client's version,
/// cipher suites, extension types, supported groups and EC point formats, in decimal,
/// GREASE values (RFC 8701) left out (Salesforce's JA3 definition).
pub fn ja3_string(body: &[u8], out: &mut Vec<u8>) -> Option<()> {
    use std::io::Write;
    let grease = |v: u16| v & 0x0f0f == 0x0a0a && v >> 8 == v & 0xff;
    let list = |out: &mut Vec<u8>, vals: &mut dyn Iterator<Item = u16>| {
        let mut first = true;
        for v in vals.filter(|v| !grease(*v)) {
            if !first {
                out.push(b'-');
            }
            first = false;
            let _ = write!(out, "{v}");
        }
    };
    let pairs = |b: &[u8]| -> Vec<u16> {
        b.chunks_exact(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]))
            .collect()
    };
    out.clear();
    let mut r = Rd::new(body);
    let version = r.u16()?;
    r.take(32)?;
    let sid = r.u8()?;
    r.take(usize::from(sid))?;
    let cs = r.u16()?;
    let ciphers = r.take(usize::from(cs))?;
    let cm = r.u8()?;
    r.take(usize::from(cm))?;
    let _ = write!(out, "{version},");
    list(out, &mut pairs(ciphers).into_iter());
    out.push(b',');
    let (mut types, mut groups, mut formats) = (Vec::new(), Vec::new(), Vec::new());
    if let Some(total) = r.u16() {
        let mut e = Rd::new(r.take(usize::from(total)).unwrap_or(r.rest()));
        while let (Some(t), Some(l)) = (e.u16(), e.u16()) {
            let Some(data) = e.take(usize::from(l)) else {
                break;
            };
            types.push(t);
            match t {
                10 if data.len() >= 2 => groups = pairs(&data[2..]),
                11 if !data.is_empty() => {
                    formats = data[1..].iter().map(|&x| u16::from(x)).collect()
                }
                _ => {}
            }
        }
    }
    list(out, &mut types.into_iter());
    out.push(b',');
    list(out, &mut groups.into_iter());
    out.push(b',');
    list(out, &mut formats.into_iter());
    Some(())
}

/// The ClientHello body (after the 4-byte handshake header) from the start of a client's
/// stream, its records' handshake bodies joined into `join`.
pub fn client_hello_body<'j>(b: &[u8], join: &'j mut Vec<u8>) -> Option<&'j [u8]> {
    join.clear();
    let mut i = 0;
    while i + 5 <= b.len() && b[i] == 0x16 {
        let l = usize::from(u16::from_be_bytes([b[i + 3], b[i + 4]]));
        let end = (i + 5 + l).min(b.len());
        join.extend_from_slice(&b[i + 5..end]);
        i = end;
    }
    let hs: &'j [u8] = join;
    if hs.len() < 4 || hs[0] != 1 {
        return None;
    }
    hs.get(4..4 + u24(&hs[1..4]))
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

    /// A minimal certificate (not signed: only its structure is read) with a subject CN, an
    /// organisation and a subjectAltName.
    fn cert(cn: &str, org: &str, san: &str) -> Vec<u8> {
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
        let atv = |oid: &[u8], v: &str| {
            tlv(
                0x31,
                &tlv(0x30, &[tlv(6, oid), tlv(0x0c, v.as_bytes())].concat()),
            )
        };
        let subject = tlv(
            0x30,
            &[atv(&[0x55, 4, 10], org), atv(&[0x55, 4, 3], cn)].concat(),
        );
        let issuer = tlv(0x30, &atv(&[0x55, 4, 3], "Test CA"));
        let san = tlv(
            0x30,
            &[
                tlv(6, &[0x55, 0x1d, 0x11]),
                tlv(4, &tlv(0x30, &tlv(0x82, san.as_bytes()))),
            ]
            .concat(),
        );
        let tbs = tlv(
            0x30,
            &[
                tlv(0xa0, &tlv(2, &[2])),
                tlv(2, &[1]),
                tlv(0x30, &tlv(6, &[0x2a])),
                issuer,
                tlv(0x30, &[]),
                subject,
                tlv(0x30, &[]),
                tlv(0xa3, &tlv(0x30, &san)),
            ]
            .concat(),
        );
        tlv(
            0x30,
            &[tbs, tlv(0x30, &tlv(6, &[0x2a])), tlv(3, &[0, 1])].concat(),
        )
    }

    #[test]
    fn certificate_names_and_server_flight() {
        let c = cert("sni.example.net", "Example VPN", "vpn.example.org");
        let mut names = Vec::new();
        cert_names(&c, |n| {
            names.push(String::from_utf8_lossy(n).into_owned());
            false
        });
        assert_eq!(names, ["sni.example.net", "vpn.example.org", "Example VPN"]);
        // ServerHello, then the Certificate message in a second record
        let mut msg = vec![11, 0, 0, 0];
        let l = c.len() + 3;
        msg.extend_from_slice(&[(l >> 16) as u8, (l >> 8) as u8, l as u8]);
        msg.extend_from_slice(&[(c.len() >> 16) as u8, (c.len() >> 8) as u8, c.len() as u8]);
        msg.extend_from_slice(&c);
        let ml = msg.len() - 4;
        msg[1..4].copy_from_slice(&[(ml >> 16) as u8, (ml >> 8) as u8, ml as u8]);
        let mut flight = vec![0x16, 3, 3, 0, 6, 2, 0, 0, 2, 3, 3];
        flight.extend_from_slice(&[0x16, 3, 3, (msg.len() >> 8) as u8, msg.len() as u8]);
        flight.extend_from_slice(&msg);
        let mut join = Vec::new();
        assert_eq!(
            server_certificate(&flight, &mut join),
            CertScan::Found(&c[..])
        );
        // one byte short of the whole Certificate message: wait
        assert_eq!(
            server_certificate(&flight[..flight.len() - 1], &mut join),
            CertScan::More
        );
        // TLS 1.3: ChangeCipherSpec, then encrypted records
        let mut tls13 = flight[..11].to_vec();
        tls13.extend_from_slice(&[0x14, 3, 3, 0, 1, 1]);
        assert_eq!(server_certificate(&tls13, &mut join), CertScan::Absent);
        // a certificate cut short names nothing
        let mut cut = Vec::new();
        cert_names(&c[..c.len() - 1], |n| {
            cut.push(n.to_vec());
            false
        });
        assert!(cut.is_empty());
    }

    #[test]
    fn ja3_of_a_hello() {
        let h = hello("example.org");
        let mut join = Vec::new();
        let body = client_hello_body(&h, &mut join).unwrap();
        let mut out = Vec::new();
        ja3_string(body, &mut out).unwrap();
        assert_eq!(out, b"771,4865,0,,");
        // GREASE values are left out
        let mut g = h.clone();
        let i = FIRST_SUITE;
        g[i..i + 2].copy_from_slice(&[0x1a, 0x1a]);
        let body = client_hello_body(&g, &mut join).unwrap();
        ja3_string(body, &mut out).unwrap();
        assert_eq!(out, b"771,,0,,");
    }

    /// The offset of the first cipher suite in [`hello`]'s output.
    const FIRST_SUITE: usize = 5 + 4 + 2 + 32 + 1 + 2;

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
