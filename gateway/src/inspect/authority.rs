//! The UGIA inspection authority (ugia-21): the STS generates the UGIA root, keeps it valid,
//! generates a new one on its own act, and announces every root to the telecom operators
//! before the gateway mints a certificate under it. The inspection engine asks it for a leaf
//! per server name, minted on the fly (and cached) and valid at the instant of the session.
//!
//! In simulation every key descends from the scenario's seed (Ed25519, whose signatures are
//! deterministic, as `qaqpa_sim::eds` does for the NCA RK stand-in) and every date from the
//! simulated clock, so a root and every leaf are byte-identical run to run. Over real sockets
//! (the benchmark) the keys are ECDSA P-256 from the operating system's randomness, the kind a
//! deployed proxy uses and the one Squid can sign with too.

use std::collections::BTreeMap;
use std::sync::Arc;

use jiff::Timestamp;
use qaqpa_sim::trace::{Channel, DocKind, Document, ROOT_CERTIFICATE_FIELD};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SerialNumber,
};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::sign::CertifiedKey;

/// How long a root is valid, in days from the day before it is generated.
pub const ROOT_DAYS: i64 = 730;
/// A root with fewer days than this left is replaced (and the new one announced) before the
/// next certificate is minted: the STS keeps the root valid.
pub const RENEW_DAYS: i64 = 30;
/// How long a minted leaf is valid, in days from the day before it is minted (clamped to its
/// root's validity).
pub const LEAF_DAYS: i64 = 30;
/// The party the root notice is addressed to.
pub const OPERATORS: &str = "telecom-operator";
/// At most this many leaves are kept; a full cache is emptied (leaves are cheap to remint).
const LEAF_CACHE: usize = 4096;

/// Where the authority's keys come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keys {
    /// Ed25519 keys derived from a seed: deterministic certificates (simulation).
    Seeded(u64),
    /// ECDSA P-256 keys from the operating system's randomness (real sockets).
    Random,
}

/// Named defects of the authority (the reference's defect list names them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AuthorityFaults {
    /// The STS's root had expired before the scenario began and is never renewed; leaves are
    /// still minted valid at the instant (`ugia-root-expired`).
    pub root_expired: bool,
    /// A rotation on the STS's act generates and uses the new root without telling the
    /// telecom operators (`ugia-root-rotated-unannounced`).
    pub rotation_unannounced: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum AuthorityError {
    #[error("the inspection authority cannot issue a certificate: {0}")]
    Rcgen(#[from] rcgen::Error),
    #[error("the inspection authority: {0}")]
    Date(#[from] qaqpa_sim::eds::EdsError),
    #[error("the inspection authority cannot use its minted key: {0}")]
    Tls(#[from] rustls::Error),
    #[error("`{0}` is not a name a certificate can carry (a DNS name or an IP address)")]
    Name(String),
}

/// One UGIA root: its key (as an issuer), its certificate and validity.
struct Root {
    generation: u32,
    issuer: Issuer<'static, KeyPair>,
    der: CertificateDer<'static>,
    not_before: Timestamp,
    not_after: Timestamp,
}

struct Leaf {
    certified: Arc<CertifiedKey>,
    not_after: Timestamp,
}

pub struct InspectionAuthority {
    keys: Keys,
    faults: AuthorityFaults,
    provider: Arc<CryptoProvider>,
    root: Option<Root>,
    generations: u32,
    next_serial: u64,
    leaves: BTreeMap<String, Leaf>,
    notices: Vec<(Timestamp, Document)>,
}

/// Midnight UTC `days` after `at`'s UTC date: the day (year, month, day) as rcgen takes it,
/// and the instant.
fn day(at: Timestamp, days: i64) -> Result<((i32, u8, u8), Timestamp), AuthorityError> {
    let (y, m, d) = qaqpa_sim::eds::day_from(at, days)?;
    let out = || {
        AuthorityError::Date(qaqpa_sim::eds::EdsError::OutOfRange {
            around: at.to_string(),
        })
    };
    let instant = jiff::civil::Date::new(i16::try_from(y).map_err(|_| out())?, m as i8, d as i8)
        .and_then(|date| date.to_zoned(jiff::tz::TimeZone::UTC))
        .map(|z| z.timestamp())
        .map_err(|_| out())?;
    Ok(((y, m, d), instant))
}

/// Sets a certificate's validity to run from day `from` to day `to`.
fn set_days(params: &mut CertificateParams, from: (i32, u8, u8), to: (i32, u8, u8)) {
    params.not_before = rcgen::date_time_ymd(from.0, from.1, from.2);
    params.not_after = rcgen::date_time_ymd(to.0, to.1, to.2);
}

impl InspectionAuthority {
    pub fn new(keys: Keys, faults: AuthorityFaults) -> Self {
        InspectionAuthority {
            keys,
            faults,
            provider: Arc::new(rustls::crypto::ring::default_provider()),
            root: None,
            generations: 0,
            next_serial: 0x1000,
            leaves: BTreeMap::new(),
            notices: Vec::new(),
        }
    }

    /// The seed the authority's keys come from, when they do (simulation).
    pub fn seed(&self) -> Option<u64> {
        match self.keys {
            Keys::Seeded(seed) => Some(seed),
            Keys::Random => None,
        }
    }

    fn key(&self, label: &str) -> Result<KeyPair, AuthorityError> {
        Ok(match self.keys {
            Keys::Seeded(seed) => qaqpa_sim::eds::key(seed, label)?,
            Keys::Random => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?,
        })
    }

    fn serial(&mut self) -> SerialNumber {
        let s = self.next_serial;
        self.next_serial += 1;
        SerialNumber::from(s.to_be_bytes().to_vec())
    }

    /// Generates the next root, valid `days` around `at`, and announces it unless `quiet`.
    fn generate(
        &mut self,
        at: Timestamp,
        days: (i64, i64),
        quiet: bool,
    ) -> Result<(), AuthorityError> {
        let generation = self.generations + 1;
        let key = self.key(&format!("ugia-inspection-root:{generation}"))?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CountryName, "KZ");
        dn.push(DnType::OrganizationName, "STS (qaqpa reference UGIA)");
        dn.push(
            DnType::CommonName,
            format!("UGIA inspection root {generation}"),
        );
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.serial_number = Some(self.serial());
        let (nb, not_before) = day(at, days.0)?;
        let (na, not_after) = day(at, days.1)?;
        set_days(&mut params, nb, na);
        let cert = params.self_signed(&key)?;
        let pem = cert.pem();
        let der = cert.der().clone();
        self.generations = generation;
        self.root = Some(Root {
            generation,
            issuer: Issuer::new(params, key),
            der,
            not_before,
            not_after,
        });
        self.leaves.clear();
        if !quiet {
            self.notices.push((
                at,
                Document {
                    case: format!("UGIA-ROOT-{generation}"),
                    doc: DocKind::RootCertificateNotice,
                    from: "STS".into(),
                    to: OPERATORS.into(),
                    channel: Channel::OfficialLetter,
                    fields: BTreeMap::from([(ROOT_CERTIFICATE_FIELD.to_string(), pem)]),
                    reasons: Vec::new(),
                },
            ));
        }
        Ok(())
    }

    /// The root in force at `at`: the first is generated (and announced) on first use; one
    /// about to expire is replaced first.
    fn ensure_root(&mut self, at: Timestamp) -> Result<(), AuthorityError> {
        match &self.root {
            None if self.faults.root_expired => self.generate(at, (-ROOT_DAYS, -1), false),
            None => self.generate(at, (-1, ROOT_DAYS), false),
            Some(r)
                if !self.faults.root_expired
                    && r.not_after
                        < at.saturating_add(jiff::SignedDuration::from_hours(24 * RENEW_DAYS))
                            .unwrap_or(Timestamp::MAX) =>
            {
                self.generate(at, (-1, ROOT_DAYS), false)
            }
            Some(_) => Ok(()),
        }
    }

    /// The STS's act: a new root replaces the current one from `at` and is announced first.
    pub fn rotate(&mut self, at: Timestamp) -> Result<(), AuthorityError> {
        if self.root.is_none() {
            self.ensure_root(at)?;
        }
        self.generate(at, (-1, ROOT_DAYS), self.faults.rotation_unannounced)
    }

    /// The current root's certificate (DER), generating the first at `at`.
    pub fn root_der(&mut self, at: Timestamp) -> Result<CertificateDer<'static>, AuthorityError> {
        self.ensure_root(at)?;
        Ok(self.root.as_ref().expect("ensured").der.clone())
    }

    /// The notices to the telecom operators the STS sent since the last call, with the
    /// instants it sent them.
    pub fn take_notices(&mut self) -> Vec<(Timestamp, Document)> {
        std::mem::take(&mut self.notices)
    }

    /// A certificate for `name` (a DNS name or an IP address) under the current root, valid
    /// at `at`, with its key: from the cache while it stays valid a day longer, minted
    /// otherwise.
    pub fn leaf(&mut self, at: Timestamp, name: &str) -> Result<Arc<CertifiedKey>, AuthorityError> {
        self.ensure_root(at)?;
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        let margin = at
            .saturating_add(jiff::SignedDuration::from_hours(24))
            .unwrap_or(Timestamp::MAX);
        if let Some(l) = self.leaves.get(&name)
            && l.not_after > margin
        {
            return Ok(l.certified.clone());
        }
        if self.leaves.len() >= LEAF_CACHE {
            self.leaves.clear();
        }
        let root = self.root.as_ref().expect("ensured");
        let generation = root.generation;
        let key = self.key(&format!("ugia-inspection-leaf:{generation}:{name}"))?;
        let mut params = CertificateParams::new(vec![name.clone()])
            .map_err(|_| AuthorityError::Name(name.clone()))?;
        params
            .distinguished_name
            .push(DnType::CommonName, name.as_str());
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        params.serial_number = Some(self.serial());
        let (mut nb, not_before) = day(at, -1)?;
        let (mut na, mut not_after) = day(at, LEAF_DAYS)?;
        let root = self.root.as_ref().expect("ensured");
        // A careful authority never issues beyond its root; the expired-root defect mints as
        // if its root were still good.
        if !self.faults.root_expired {
            if not_before < root.not_before {
                (nb, _) = day(root.not_before, 0)?;
            }
            if not_after > root.not_after {
                (na, not_after) = day(root.not_after, 0)?;
            }
        }
        set_days(&mut params, nb, na);
        let cert = params.signed_by(&key, &root.issuer)?;
        let certified = Arc::new(CertifiedKey::from_der(
            vec![cert.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            &self.provider,
        )?);
        self.leaves.insert(
            name,
            Leaf {
                certified: certified.clone(),
                not_after,
            },
        );
        Ok(certified)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use x509_parser::prelude::*;

    fn t0() -> Timestamp {
        "2025-06-02T05:00:00Z".parse().unwrap()
    }

    fn later(days: i64) -> Timestamp {
        t0().checked_add(jiff::SignedDuration::from_hours(24 * days))
            .unwrap()
    }

    fn validity(der: &[u8]) -> (i64, i64) {
        let (_, c) = parse_x509_certificate(der).unwrap();
        (
            c.validity().not_before.timestamp(),
            c.validity().not_after.timestamp(),
        )
    }

    fn leaf_der(a: &mut InspectionAuthority, at: Timestamp, name: &str) -> Vec<u8> {
        a.leaf(at, name).unwrap().cert[0].to_vec()
    }

    fn notice_root(d: &Document) -> Vec<u8> {
        let pem = &d.fields[ROOT_CERTIFICATE_FIELD];
        let (_, p) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).unwrap();
        p.contents
    }

    #[test]
    fn the_same_seed_gives_the_same_root_and_leaves() {
        let run = |seed| {
            let mut a = InspectionAuthority::new(Keys::Seeded(seed), AuthorityFaults::default());
            (
                a.root_der(t0()).unwrap().to_vec(),
                leaf_der(&mut a, t0(), "www.bbc.com"),
            )
        };
        assert_eq!(run(1), run(1));
        assert_ne!(run(1).0, run(2).0);
    }

    #[test]
    fn the_first_root_is_announced_before_any_leaf_and_leaves_chain_to_it() {
        let mut a = InspectionAuthority::new(Keys::Seeded(1), AuthorityFaults::default());
        let leaf = leaf_der(&mut a, t0(), "WWW.BBC.COM.");
        let notices = a.take_notices();
        assert_eq!(notices.len(), 1, "one root, one notice");
        let (at, doc) = &notices[0];
        assert_eq!(*at, t0());
        assert_eq!(doc.doc, DocKind::RootCertificateNotice);
        assert_eq!(doc.to, OPERATORS);
        let root = notice_root(doc);
        assert_eq!(root, a.root_der(t0()).unwrap().to_vec());
        let (_, r) = parse_x509_certificate(&root).unwrap();
        let (_, l) = parse_x509_certificate(&leaf).unwrap();
        assert!(r.is_ca());
        l.verify_signature(Some(r.public_key())).unwrap();
        // Valid at the instant, and never outside the root's validity.
        let now = t0().as_second();
        let (lb, la) = validity(&leaf);
        let (rb, ra) = validity(&root);
        assert!(lb <= now && now < la && rb <= lb && la <= ra);
        // The name is folded to its canonical form.
        assert!(l.subject().to_string().contains("www.bbc.com"));
        // A second session gets the cached leaf; nothing more is announced.
        assert_eq!(leaf_der(&mut a, t0(), "www.bbc.com"), leaf);
        assert!(a.take_notices().is_empty());
    }

    #[test]
    fn a_rotation_is_announced_and_later_leaves_chain_to_the_new_root() {
        let mut a = InspectionAuthority::new(Keys::Seeded(1), AuthorityFaults::default());
        let old = a.root_der(t0()).unwrap().to_vec();
        let before = leaf_der(&mut a, t0(), "www.bbc.com");
        a.take_notices();
        a.rotate(later(1)).unwrap();
        let notices = a.take_notices();
        assert_eq!(notices.len(), 1);
        let new = notice_root(&notices[0].1);
        assert_ne!(new, old);
        let after = leaf_der(&mut a, later(1), "www.bbc.com");
        assert_ne!(after, before, "the cache does not outlive the root");
        let (_, r) = parse_x509_certificate(&new).unwrap();
        let (_, l) = parse_x509_certificate(&after).unwrap();
        l.verify_signature(Some(r.public_key())).unwrap();
    }

    #[test]
    fn a_root_near_its_end_is_replaced_and_announced_before_minting() {
        let mut a = InspectionAuthority::new(Keys::Seeded(1), AuthorityFaults::default());
        let first = a.root_der(t0()).unwrap().to_vec();
        a.take_notices();
        let late = later(ROOT_DAYS - RENEW_DAYS + 2);
        let leaf = leaf_der(&mut a, late, "www.bbc.com");
        let notices = a.take_notices();
        assert_eq!(notices.len(), 1, "the successor is announced");
        let second = notice_root(&notices[0].1);
        assert_ne!(first, second);
        let (_, r) = parse_x509_certificate(&second).unwrap();
        let (_, l) = parse_x509_certificate(&leaf).unwrap();
        l.verify_signature(Some(r.public_key())).unwrap();
    }

    #[test]
    fn the_defects_mint_under_an_expired_root_or_rotate_quietly() {
        let mut a = InspectionAuthority::new(
            Keys::Seeded(1),
            AuthorityFaults {
                root_expired: true,
                ..Default::default()
            },
        );
        let leaf = leaf_der(&mut a, t0(), "www.bbc.com");
        let root = notice_root(&a.take_notices()[0].1);
        let now = t0().as_second();
        assert!(validity(&root).1 < now, "the root had expired");
        let (lb, la) = validity(&leaf);
        assert!(lb <= now && now < la, "the leaf looks valid at the instant");

        let mut a = InspectionAuthority::new(
            Keys::Seeded(1),
            AuthorityFaults {
                rotation_unannounced: true,
                ..Default::default()
            },
        );
        a.root_der(t0()).unwrap();
        assert_eq!(a.take_notices().len(), 1, "the first root is announced");
        a.rotate(later(1)).unwrap();
        assert!(a.take_notices().is_empty(), "the rotation is not");
    }

    #[test]
    fn names_a_certificate_cannot_carry_are_errors() {
        let mut a = InspectionAuthority::new(Keys::Seeded(1), AuthorityFaults::default());
        assert!(matches!(
            a.leaf(t0(), "bücher.example"),
            Err(AuthorityError::Name(_))
        ));
        // An IP address is carried as one.
        let der = leaf_der(&mut a, t0(), "203.0.113.7");
        let (_, l) = parse_x509_certificate(&der).unwrap();
        let san = l.subject_alternative_name().unwrap().unwrap();
        assert!(matches!(
            san.value.general_names[0],
            GeneralName::IPAddress(&[203, 0, 113, 7])
        ));
    }

    #[test]
    fn random_keys_mint_ecdsa_certificates() {
        let mut a = InspectionAuthority::new(Keys::Random, AuthorityFaults::default());
        let der = leaf_der(&mut a, t0(), "www.bbc.com");
        let (_, l) = parse_x509_certificate(&der).unwrap();
        assert_eq!(
            l.signature_algorithm.algorithm,
            x509_parser::oid_registry::OID_SIG_ECDSA_WITH_SHA256
        );
    }
}
