//! Malformed and truncated captures give a clear error or a counted skip, never a panic:
//! every corpus capture cut short at many points and with bytes flipped (deterministically)
//! goes through the capture reader and the dataplane.

use std::path::PathBuf;

use qaqpa_gateway::dataplane::{Config, Engine, Policy, Signatures, capture, packet, proto};
use qaqpa_gateway::score;

fn corpus() -> PathBuf {
    std::env::var_os("QAQPA_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared"))
        .join("corpus/ndpi")
}

/// xorshift: the same "random" damage every run.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn replay(bytes: &[u8], sigs: &Signatures) -> Result<u64, String> {
    let cap = capture::parse(bytes)?;
    let mut e = Engine::new(
        sigs.clone(),
        Policy::new(sigs),
        Config {
            max_flows: 1024,
            ..Config::default()
        },
    );
    for (ts, link, f) in cap.iter() {
        e.process(ts, link, f);
    }
    let _ = e.finish();
    Ok(e.stats.frames)
}

#[test]
fn damaged_captures_never_panic() {
    let sigs = Signatures::builtin();
    let files = score::captures(&corpus());
    assert!(!files.is_empty());
    let mut rng = Rng(0x9e3779b97f4a7c15);
    let (mut errors, mut replayed) = (0, 0);
    for path in files.iter().take(40) {
        let bytes = std::fs::read(path).unwrap();
        let bytes = &bytes[..bytes.len().min(64 * 1024)];
        for cut in [
            0,
            3,
            24,
            40,
            bytes.len() / 3,
            bytes.len() / 2,
            bytes.len().saturating_sub(7),
        ] {
            match replay(&bytes[..cut.min(bytes.len())], &sigs) {
                Ok(_) => replayed += 1,
                Err(e) => {
                    assert!(!e.is_empty());
                    errors += 1;
                }
            }
        }
        for _ in 0..8 {
            let mut b = bytes.to_vec();
            for _ in 0..16 {
                let i = (rng.next() as usize) % b.len();
                b[i] ^= (rng.next() as u8) | 1;
            }
            match replay(&b, &sigs) {
                Ok(_) => replayed += 1,
                Err(_) => errors += 1,
            }
        }
    }
    assert!(
        replayed > 0 && errors > 0,
        "{replayed} replayed, {errors} refused"
    );
}

#[test]
fn random_frames_and_hellos_never_panic() {
    let sigs = Signatures::builtin();
    let mut e = Engine::new(
        sigs.clone(),
        Policy::new(&sigs),
        Config {
            max_flows: 64,
            ..Config::default()
        },
    );
    let mut rng = Rng(42);
    let mut buf = vec![0u8; 1600];
    for n in 0..20_000 {
        let len = (rng.next() as usize) % buf.len();
        for x in &mut buf[..len] {
            *x = rng.next() as u8;
        }
        // a plausible start half of the time, so parsing reaches the deeper layers
        if n % 2 == 0 && len > 40 {
            buf[12] = 0x08;
            buf[13] = 0;
            buf[14] = 0x45;
            buf[23] = if n % 4 == 0 { 6 } else { 17 };
            buf[54] = 0x16;
            buf[55] = 3;
        }
        for link in [
            packet::linktype::ETHERNET,
            packet::linktype::RAW,
            packet::linktype::LINUX_SLL2,
        ] {
            e.process(n, link, &buf[..len]);
        }
        let _ = proto::tls_start(&buf[..len]);
        let _ = proto::client_hello(&buf[..len]);
        let _ = proto::dtls_hello(&buf[..len]);
        let _ = proto::server_cert_name(&buf[..len]);
        let mut q = qaqpa_gateway::dataplane::quic::Crypto::default();
        let _ = q.datagram(&buf[..len]);
    }
    assert!(e.stats.frames == 60_000);
    assert!(e.stats.skipped.iter().sum::<u64>() > 0, "skips are counted");
    assert!(e.table().len() <= 64, "the table stays within its bound");
    assert!(e.stats.table_full > 0, "a full table is counted");
}

#[test]
fn garbage_is_not_a_capture() {
    let e = capture::parse(b"this is not a capture at all").unwrap_err();
    assert!(!e.is_empty());
    let e = capture::read(std::path::Path::new("/nonexistent/x.pcap"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("/nonexistent/x.pcap"), "{e}");
}

/// Crashers the `client_hello` fuzz target found: a TLS Certificate message too short to
/// hold its certificate list's length.
#[test]
fn fuzz_crashers_stay_fixed() {
    use qaqpa_gateway::dataplane::proto::{CertScan, server_certificate};
    let crashers: [&[u8]; 2] = [
        &[0x16, 0x03, 0x00, 0xfd, 0x0b, 0x0b, 0, 0, 0, 0x7a, 0x52, 0],
        &[
            0x16, 0x03, 0x2b, 0xfd, 0x0b, 0x0b, 0, 0, 0, 0x0b, 0x5f, 0x5f, 0x5f, 0,
        ],
    ];
    let mut join = Vec::new();
    for c in crashers {
        assert!(
            matches!(server_certificate(c, &mut join), CertScan::Absent),
            "{c:02x?}"
        );
    }
}

/// Issue 14: a TLS handshake record of 1–3 bytes (legal: RFC 8446 §5.1 lets the handshake
/// header itself be split between records) made `tls_start` subtract 4 from the record
/// length: a panic in debug builds, and in release a wrapped count that called the flow TLS.
/// The 9-byte payload below is one such record (`01`) followed by three bytes that are no
/// TLS record header; on any port it is not TLS, and never a panic.
#[test]
fn a_tls_record_shorter_than_a_handshake_header_is_not_an_underflow() {
    use qaqpa_gateway::dataplane::classify::{Dpi, Step};
    use qaqpa_gateway::dataplane::packet::{PROTO_TCP, Packet};
    use qaqpa_gateway::dataplane::proto::TlsStart;
    let payload = [0x16, 0x03, 0x01, 0x00, 0x01, 0x01, 0x00, 0x00, 0x10];
    assert_eq!(proto::tls_start(&payload), TlsStart::NotTls);
    // every length of that first record that leaves the header short
    for rec_len in 1..=3u8 {
        let mut b = vec![0x16, 0x03, 0x01, 0x00, rec_len];
        b.resize(5 + usize::from(rec_len), 0x01);
        b.extend_from_slice(&[0x00, 0x00, 0x10, 0x00]);
        assert_eq!(proto::tls_start(&b), TlsStart::NotTls, "{b:02x?}");
        // cut short: more bytes are awaited, or it is not TLS; never a panic
        for n in 0..b.len() {
            let _ = proto::tls_start(&b[..n]);
        }
    }
    let sigs = Signatures::builtin();
    for dport in [443, 80, 5000, 40000] {
        let p = Packet {
            src: [0; 16],
            dst: [1; 16],
            proto: PROTO_TCP,
            sport: 50123,
            dport,
            tcp_flags: 0x18,
            seq: 1,
            payload: &payload,
            fragment: false,
        };
        let mut d = Dpi::default();
        let det = match d.inspect(&p, true, &sigs) {
            Step::Done(det) => det,
            Step::More => d.give_up(),
        };
        assert!(!det.tls, "port {dport}: {det:?}");
        assert_ne!(det.app, "tls", "port {dport}");
    }
}

/// The same framing done right: a ClientHello whose handshake header is split over a
/// 2-byte and a 2-byte record, the body in a third, is still read (its SNI found).
#[test]
fn a_handshake_header_split_between_records_is_joined() {
    use qaqpa_gateway::dataplane::proto::TlsStart;
    // a ClientHello body: version, random, no session id, one suite, null compression,
    // one extension: server_name "a.kz"
    let name = b"a.kz";
    let mut sn = vec![0, (name.len() + 3) as u8, 0, 0, name.len() as u8];
    sn.extend_from_slice(name);
    let mut ext = vec![0, 0, 0, sn.len() as u8];
    ext.extend_from_slice(&sn);
    let mut body = vec![3, 3];
    body.extend_from_slice(&[7; 32]);
    body.extend_from_slice(&[0, 0, 2, 0x13, 0x01, 1, 0]);
    body.extend_from_slice(&[0, ext.len() as u8]);
    body.extend_from_slice(&ext);
    let hdr = [1, 0, 0, body.len() as u8];
    let mut s = Vec::new();
    for part in [&hdr[..2], &hdr[2..], &body[..]] {
        s.extend_from_slice(&[0x16, 3, 1, 0, part.len() as u8]);
        s.extend_from_slice(part);
    }
    assert_eq!(proto::tls_start(&s), TlsStart::NeedsJoin);
    let mut join = Vec::new();
    assert_eq!(proto::join_records(&s, &mut join).sni, Some(&name[..]));
    // every prefix asks for more, or is the whole
    for n in 6..s.len() {
        assert!(
            matches!(proto::tls_start(&s[..n]), TlsStart::Partial { need } if need > n),
            "{n}"
        );
    }
}
