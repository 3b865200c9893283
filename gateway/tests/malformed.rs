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
