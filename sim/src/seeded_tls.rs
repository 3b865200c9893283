//! The simulation's TLS randomness, drawn from the scenario's seed.
//!
//! A TLS session draws random bytes for its hello randoms, session ids and tickets, and an
//! ephemeral key share for its key exchange. With the operating system's randomness every run
//! of a TLS scenario puts other ciphertext on the wire, so its pcaps differ byte for byte run
//! to run and an auditor cannot compare two runs of one seed. Here each TLS end of a simulated
//! scenario gets a rustls `CryptoProvider` whose randomness is a ChaCha stream from
//! `seed::rng(seed, label)` and whose only key exchange is X25519 with a secret from the same
//! stream. Everything else (cipher suites, signature verification) is ring's, unchanged.
//!
//! Only for simulation: a live run's TLS ends use the operating system's randomness.

use std::sync::{Arc, Mutex};

use rand::RngCore;
use rand_chacha::ChaCha8Rng;
use rustls::crypto::{
    ActiveKeyExchange, CryptoProvider, GetRandomFailed, SecureRandom, SharedSecret,
    SupportedKxGroup,
};
use rustls::{Error, NamedGroup, PeerMisbehaved};

/// One end's stream of random bytes. Shared by its `SecureRandom` and its key exchange, so one
/// end's draws come in the order that end makes them, whatever the other ends do.
#[derive(Debug)]
struct Stream(Mutex<ChaCha8Rng>);

impl Stream {
    fn fill(&self, buf: &mut [u8]) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .fill_bytes(buf);
    }
}

#[derive(Debug)]
struct SeededRandom(&'static Stream);

impl SecureRandom for SeededRandom {
    fn fill(&self, buf: &mut [u8]) -> Result<(), GetRandomFailed> {
        self.0.fill(buf);
        Ok(())
    }
}

#[derive(Debug)]
struct SeededX25519(&'static Stream);

impl SupportedKxGroup for SeededX25519 {
    fn start(&self) -> Result<Box<dyn ActiveKeyExchange>, Error> {
        let mut secret = [0u8; 32];
        self.0.fill(&mut secret);
        let secret = x25519_dalek::StaticSecret::from(secret);
        let public = x25519_dalek::PublicKey::from(&secret);
        Ok(Box::new(X25519Share { secret, public }))
    }

    fn name(&self) -> NamedGroup {
        NamedGroup::X25519
    }
}

struct X25519Share {
    secret: x25519_dalek::StaticSecret,
    public: x25519_dalek::PublicKey,
}

impl ActiveKeyExchange for X25519Share {
    fn complete(self: Box<Self>, peer: &[u8]) -> Result<SharedSecret, Error> {
        let peer: [u8; 32] = peer
            .try_into()
            .map_err(|_| Error::from(PeerMisbehaved::InvalidKeyShare))?;
        let shared = self
            .secret
            .diffie_hellman(&x25519_dalek::PublicKey::from(peer));
        // RFC 7748 section 6.1: an all-zero result means the peer sent a low-order point.
        if !shared.was_contributory() {
            return Err(PeerMisbehaved::InvalidKeyShare.into());
        }
        Ok(SharedSecret::from(&shared.as_bytes()[..]))
    }

    fn pub_key(&self) -> &[u8] {
        self.public.as_bytes()
    }

    fn group(&self) -> NamedGroup {
        NamedGroup::X25519
    }
}

/// A provider for one simulated TLS end, named by `label` under the scenario's `seed`: two ends
/// with different labels draw independent streams. Each call leaks a few dozen bytes (rustls
/// wants `'static` randomness and groups); a run builds a handful per TLS scenario.
pub fn provider(seed: u64, label: &str) -> Arc<CryptoProvider> {
    let stream: &'static Stream = Box::leak(Box::new(Stream(Mutex::new(crate::seed::rng(
        seed,
        &format!("tls:{label}"),
    )))));
    let random: &'static SeededRandom = Box::leak(Box::new(SeededRandom(stream)));
    let x25519: &'static SeededX25519 = Box::leak(Box::new(SeededX25519(stream)));
    Arc::new(CryptoProvider {
        kx_groups: vec![x25519],
        secure_random: random,
        ..rustls::crypto::ring::default_provider()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn share(p: &CryptoProvider) -> Vec<u8> {
        p.kx_groups[0].start().unwrap().pub_key().to_vec()
    }

    #[test]
    fn same_seed_and_label_same_draws_other_label_other_draws() {
        let (a, b, c) = (provider(7, "x"), provider(7, "x"), provider(7, "y"));
        let sa = share(&a);
        assert_eq!(sa, share(&b));
        assert_ne!(sa, share(&c));
        let (mut r1, mut r2) = ([0u8; 32], [0u8; 32]);
        a.secure_random.fill(&mut r1).unwrap();
        b.secure_random.fill(&mut r2).unwrap();
        assert_eq!(r1, r2);
        assert_ne!(r1, [0u8; 32]);
    }

    /// Both sides of an exchange derive the same secret, and it is RFC 7748's X25519: checked
    /// against the test vector of section 6.1 (Alice's and Bob's keys).
    #[test]
    fn the_exchange_is_rfc_7748_x25519() {
        fn hex(s: &str) -> [u8; 32] {
            let v: Vec<u8> = (0..s.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
                .collect();
            v.try_into().unwrap()
        }
        let alice = hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
        let bob_public = hex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
        let secret = x25519_dalek::StaticSecret::from(alice);
        let share = Box::new(X25519Share {
            public: x25519_dalek::PublicKey::from(&secret),
            secret,
        });
        assert_eq!(
            share.pub_key(),
            hex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
        );
        let shared = share.complete(&bob_public).unwrap();
        assert_eq!(
            shared.secret_bytes(),
            hex("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742")
        );
    }

    #[test]
    fn a_short_or_low_order_peer_share_is_refused() {
        let p = provider(1, "z");
        let kx = p.kx_groups[0].start().unwrap();
        assert!(kx.complete(&[1, 2, 3]).is_err());
        let kx = p.kx_groups[0].start().unwrap();
        assert!(
            kx.complete(&[0u8; 32]).is_err(),
            "the all-zero point is low order"
        );
    }
}
