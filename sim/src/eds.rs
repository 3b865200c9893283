//! The harness's stand-in for Kazakhstan's national PKI (the National Certification Authority,
//! NCA RK): a root, legal-entity signing certificates issued under it, and a second, foreign
//! root. The harness signs what a scenario's parties send with these keys (ugia-15-2: "an
//! application signed with the electronic digital signature of a legal entity"), so that a
//! desk is held to verifying a real signature, not to seeing a non-empty field.
//!
//! Everything descends from the scenario's seed: keys are Ed25519 from derived 32-byte seeds
//! (Ed25519 signatures are deterministic), serial numbers are counted, validity periods are
//! taken from the simulated clock. Nothing draws OS randomness, so the same seed gives the same
//! certificates and signatures byte for byte.
//!
//! The real NCA RK signs with GOST 34.310 or RSA keys; Ed25519 stands in for them. What the
//! rules ask of a desk is the same: the signature verifies over what was received, the
//! certificate chains to the NCA RK root, is valid when the application arrives, and names
//! the applicant (its subject's `OU` carries `BIN` and the 12 digits, as NCA RK certificates
//! of legal entities do).
//!
//! # What is signed
//! [`signed_content`] is the one definition both sides use: the RFC 8785 (JCS) serialisation
//! of `{"case", "document", "fields", "from"}`, the fields without [`SIGNATURE_FIELD`] and
//! [`CERTIFICATE_FIELD`]. The signature ([`SIGNATURE_FIELD`]) is the base64 of the 64-byte
//! Ed25519 signature over those bytes; the signer's certificate ([`CERTIFICATE_FIELD`]) is the
//! base64 of its DER.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use jiff::Timestamp;
use rand::RngCore;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SerialNumber, SigningKey,
};
use serde::{Deserialize, Serialize};

use crate::trace::Document;

/// The application's field that carries the signature (base64).
pub const SIGNATURE_FIELD: &str = "eds-signature";
/// The application's field that carries the signer's certificate (base64 DER).
pub const CERTIFICATE_FIELD: &str = "eds-certificate";
/// The application's field that names the applicant's business identification number: the
/// certificate's subject must carry the same.
pub const BIN_FIELD: &str = "bin";
/// The prefix of the subject's `OU` in an NCA RK legal-entity certificate (`OU=BIN…`).
pub const BIN_PREFIX: &str = "BIN";

/// How the harness signed an application. Only [`SignatureKind::Valid`] is a signature a desk
/// may accept; an application without any is unsigned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SignatureKind {
    /// Signed by the applicant, with a certificate the NCA RK root issued to its BIN, valid
    /// when the application is sent.
    Valid,
    /// Signed as `Valid`, but one datum of the application was altered after signing.
    Tampered,
    /// Signed by the applicant with an NCA RK certificate whose validity ended before the
    /// application was sent.
    Expired,
    /// Signed by the applicant with a certificate from a foreign root that bears the NCA RK
    /// root's name but not its key.
    ForeignCa,
    /// Signed with a valid NCA RK certificate of another legal entity (another BIN).
    WrongSigner,
}

impl SignatureKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SignatureKind::Valid => "valid",
            SignatureKind::Tampered => "tampered",
            SignatureKind::Expired => "expired",
            SignatureKind::ForeignCa => "foreign-ca",
            SignatureKind::WrongSigner => "wrong-signer",
        }
    }

    pub fn is_valid(self) -> bool {
        self == SignatureKind::Valid
    }

    /// What is wrong with the signature, for a report's reader; `None` for a valid one.
    pub fn fault(self) -> Option<&'static str> {
        match self {
            SignatureKind::Valid => None,
            SignatureKind::Tampered => Some("the application was altered after it was signed"),
            SignatureKind::Expired => Some("made with a certificate that had expired"),
            SignatureKind::ForeignCa => {
                Some("made with a foreign CA's certificate, not the NCA RK's")
            }
            SignatureKind::WrongSigner => Some("made by another legal entity, not the applicant"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EdsError {
    #[error(
        "the signature needs the application's `{BIN_FIELD}` field (the applicant's BIN, 12 digits) to issue the signer's certificate"
    )]
    NoBin,
    #[error("`{BIN_FIELD}: {0}` is not a BIN (expected 12 digits)")]
    BadBin(String),
    #[error(
        "the test certification authority cannot issue a certificate valid around {around}: X.509 dates run from year 1 to 9999"
    )]
    OutOfRange { around: String },
    #[error("the test certification authority: {0}")]
    Rcgen(#[from] rcgen::Error),
}

/// The bytes a signature covers: the JCS (RFC 8785) serialisation of the document's kind,
/// case, sender and fields, without the signature and certificate fields. Every value is a
/// string, so JCS is the compact JSON object with keys sorted by UTF-16 code units and
/// strings escaped as ECMAScript's `JSON.stringify` does (which is what serde_json does).
pub fn signed_content(doc: &Document) -> Vec<u8> {
    content_of(&doc.case, doc.doc.as_str(), &doc.from, &doc.fields)
}

fn content_of(case: &str, kind: &str, from: &str, fields: &BTreeMap<String, String>) -> Vec<u8> {
    let s = |v: &str| serde_json::to_string(v).expect("a string serialises");
    let mut keys: Vec<&String> = fields
        .keys()
        .filter(|k| *k != SIGNATURE_FIELD && *k != CERTIFICATE_FIELD)
        .collect();
    keys.sort_by(|a, b| a.encode_utf16().cmp(b.encode_utf16()));
    let fields: Vec<String> = keys
        .iter()
        .map(|k| format!("{}:{}", s(k), s(&fields[*k])))
        .collect();
    format!(
        "{{\"case\":{},\"document\":{},\"fields\":{{{}}},\"from\":{}}}",
        s(case),
        s(kind),
        fields.join(","),
        s(from)
    )
    .into_bytes()
}

/// Whether `bin` is a business identification number's shape: 12 digits.
pub fn is_bin(bin: &str) -> bool {
    bin.len() == 12 && bin.bytes().all(|b| b.is_ascii_digit())
}

/// A certification authority: its key, the parameters it issues under, its certificate.
struct Authority {
    key: KeyPair,
    params: CertificateParams,
    der: Vec<u8>,
}

/// The scenario's certification authorities and the legal entities' keys.
pub struct TestPki {
    seed: u64,
    nca: Authority,
    foreign: Authority,
    next_serial: u64,
}

/// The subject both roots bear: the foreign one claims the NCA RK's name, so only its key
/// tells it apart (a desk that trusts names accepts it).
fn root_name() -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CountryName, "KZ");
    dn.push(DnType::OrganizationName, "qaqpa test PKI");
    dn.push(
        DnType::CommonName,
        "ҰЛТТЫҚ КУӘЛАНДЫРУШЫ ОРТАЛЫҚ (NCA RK stand-in root)",
    );
    dn
}

/// An Ed25519 private key as PKCS#8 v1 (RFC 8410): the fixed prefix and the 32-byte seed.
fn ed25519_pkcs8(seed: [u8; 32]) -> Vec<u8> {
    const PREFIX: [u8; 16] = [
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    let mut der = PREFIX.to_vec();
    der.extend_from_slice(&seed);
    der
}

/// The Ed25519 key a `label` of the scenario's PKI holds. Also what the harness's public web
/// CA and the reference's inspection authority draw their keys from: a seeded Ed25519 key
/// makes a certificate byte-identical run to run.
pub fn key(seed: u64, label: &str) -> Result<KeyPair, EdsError> {
    let mut bytes = [0u8; 32];
    crate::seed::rng(seed, label).fill_bytes(&mut bytes);
    Ok(KeyPair::try_from(ed25519_pkcs8(bytes).as_slice())?)
}

/// Midnight UTC of the day `days` after `at`'s UTC date, as rcgen wants it: checked against
/// the years an X.509 date can carry, so that rcgen's date never panics.
pub fn day_from(at: Timestamp, days: i64) -> Result<(i32, u8, u8), EdsError> {
    let out = || EdsError::OutOfRange {
        around: at.to_string(),
    };
    let date = at
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
        .checked_add(jiff::Span::new().days(days))
        .map_err(|_| out())?;
    if date.year() < 1 {
        return Err(out());
    }
    Ok((i32::from(date.year()), date.month() as u8, date.day() as u8))
}

/// Sets a certificate's validity to the days `from`..`to` around `at`.
fn set_validity(
    params: &mut CertificateParams,
    at: Timestamp,
    (from, to): (i64, i64),
) -> Result<(), EdsError> {
    let (y, m, d) = day_from(at, from)?;
    params.not_before = rcgen::date_time_ymd(y, m, d);
    let (y, m, d) = day_from(at, to)?;
    params.not_after = rcgen::date_time_ymd(y, m, d);
    Ok(())
}

impl TestPki {
    /// The authorities of a scenario whose clock starts at `start`: both roots valid from ten
    /// years before it to twenty years after.
    pub fn new(seed: u64, start: Timestamp) -> Result<TestPki, EdsError> {
        let root = |label: &str, serial: u8| -> Result<Authority, EdsError> {
            let key = key(seed, label)?;
            let mut params = CertificateParams::default();
            params.distinguished_name = root_name();
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
            params.serial_number = Some(SerialNumber::from_slice(&[serial]));
            set_validity(&mut params, start, (-3653, 7305))?;
            let der = params.self_signed(&key)?.der().to_vec();
            Ok(Authority { key, params, der })
        };
        Ok(TestPki {
            seed,
            nca: root("eds-nca-root", 1)?,
            foreign: root("eds-foreign-root", 2)?,
            next_serial: 0x1000,
        })
    }

    /// The root a desk must trust: the NCA RK stand-in's certificate, DER.
    pub fn nca_root_der(&self) -> &[u8] {
        &self.nca.der
    }

    /// The foreign root's certificate, DER (a desk must not trust it).
    pub fn foreign_root_der(&self) -> &[u8] {
        &self.foreign.der
    }

    /// A BIN other than `bin`: the legal entity that signs in `bin`'s stead.
    fn other_bin(&self, bin: &str) -> String {
        let n = crate::seed::derive(self.seed, "eds-wrong-signer") % 1_000_000_000_000;
        let mut other = format!("{n:012}");
        if other == bin {
            other = format!("{:012}", (n + 1) % 1_000_000_000_000);
        }
        other
    }

    /// Issues a legal-entity signing certificate to `bin` (`name` its organisation) under
    /// the NCA RK stand-in or the foreign root, valid `from`..`to` days around `at`.
    fn issue(
        &mut self,
        bin: &str,
        name: &str,
        foreign: bool,
        at: Timestamp,
        validity: (i64, i64),
    ) -> Result<(KeyPair, Vec<u8>), EdsError> {
        let key = key(self.seed, &format!("eds-legal-entity:{bin}"))?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CountryName, "KZ");
        dn.push(DnType::OrganizationName, name);
        dn.push(DnType::OrganizationalUnitName, format!("{BIN_PREFIX}{bin}"));
        dn.push(DnType::CommonName, name);
        params.distinguished_name = dn;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::ContentCommitment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::EmailProtection];
        params.use_authority_key_identifier_extension = true;
        params.serial_number = Some(SerialNumber::from(self.next_serial.to_be_bytes().to_vec()));
        self.next_serial += 1;
        set_validity(&mut params, at, validity)?;
        let ca = if foreign { &self.foreign } else { &self.nca };
        let issuer = Issuer::from_params(&ca.params, &ca.key);
        let der = params.signed_by(&key, &issuer)?.der().to_vec();
        Ok((key, der))
    }

    /// Signs `doc`, sent at `at` by the organisation `name`, the way `kind` says, and puts
    /// the signature and the signer's certificate into its fields. The applicant's BIN is the
    /// document's `bin` field.
    pub fn sign(
        &mut self,
        doc: &mut Document,
        name: &str,
        kind: SignatureKind,
        at: Timestamp,
    ) -> Result<(), EdsError> {
        let bin = doc
            .fields
            .get(BIN_FIELD)
            .map(|b| b.trim().to_string())
            .ok_or(EdsError::NoBin)?;
        if !is_bin(&bin) {
            return Err(EdsError::BadBin(bin));
        }
        // An NCA RK certificate of a legal entity is valid for a year: this one from a month
        // before the signature; the expired one ended a month before it.
        const VALID: (i64, i64) = (-30, 335);
        const EXPIRED: (i64, i64) = (-395, -30);
        let (key, cert) = match kind {
            SignatureKind::Valid | SignatureKind::Tampered => {
                self.issue(&bin, name, false, at, VALID)?
            }
            SignatureKind::Expired => self.issue(&bin, name, false, at, EXPIRED)?,
            SignatureKind::ForeignCa => self.issue(&bin, name, true, at, VALID)?,
            SignatureKind::WrongSigner => {
                let other = self.other_bin(&bin);
                self.issue(&other, "Unrelated legal entity", false, at, VALID)?
            }
        };
        let content = if kind == SignatureKind::Tampered {
            // What the signer signed lacked the first datum: it was put in after signing.
            let mut signed = doc.fields.clone();
            let first = signed
                .keys()
                .find(|k| *k != SIGNATURE_FIELD && *k != CERTIFICATE_FIELD)
                .cloned();
            if let Some(k) = first {
                signed.remove(&k);
            }
            content_of(&doc.case, doc.doc.as_str(), &doc.from, &signed)
        } else {
            signed_content(doc)
        };
        let signature = key.sign(&content)?;
        doc.fields
            .insert(SIGNATURE_FIELD.to_string(), B64.encode(signature));
        doc.fields
            .insert(CERTIFICATE_FIELD.to_string(), B64.encode(cert));
        Ok(())
    }
}

/// A sending system's transport credential for the bus (WS-Security): its private key as
/// PKCS#8 DER and its certificate, DER. The harness's signer (`crate::wssec`) takes these as
/// inputs, so a live run can sign with a key and certificate read from files instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transport {
    pub key_pkcs8: Vec<u8>,
    pub cert_der: Vec<u8>,
}

/// Which transport certificate the test CA issues a bus system.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum TransportCertificate {
    /// Issued by the NCA RK stand-in, valid from a month before the episode for a year.
    #[default]
    Valid,
    /// Issued by the NCA RK stand-in; its validity ended a month before the episode.
    Expired,
    /// Issued by the foreign root that bears the NCA RK root's name but not its key.
    ForeignCa,
}

impl TransportCertificate {
    pub fn as_str(self) -> &'static str {
        match self {
            TransportCertificate::Valid => "valid",
            TransportCertificate::Expired => "expired",
            TransportCertificate::ForeignCa => "foreign-ca",
        }
    }
}

/// A P-256 private key drawn from the seed under `label`, as PKCS#8 v1 DER (with its public
/// key, as ring wants it). XML Signature 1.x, which libxmlsec1 1.2 implements, has no Ed25519,
/// so the bus's transport keys are ECDSA P-256: a 32-byte scalar from the seeded generator
/// (drawn again in the negligible case it is zero or not below the group order), its public
/// point and PKCS#8 encoding computed by the `p256` crate. Same seed, same key.
pub fn p256_key(seed: u64, label: &str) -> Vec<u8> {
    use p256::pkcs8::EncodePrivateKey;
    let mut rng = crate::seed::rng(seed, label);
    loop {
        let mut bytes = [0u8; 32];
        rng.fill_bytes(&mut bytes);
        if let Ok(sk) = p256::SecretKey::from_bytes(&bytes.into()) {
            return sk
                .to_pkcs8_der()
                .expect("a P-256 key encodes as PKCS#8")
                .as_bytes()
                .to_vec();
        }
    }
}

impl TestPki {
    /// Issues the bus system `system` its transport certificate for an episode starting at
    /// `at` (subject `CN=<system>`), with its deterministic P-256 key.
    pub fn transport(
        &mut self,
        system: &str,
        kind: TransportCertificate,
        at: Timestamp,
    ) -> Result<Transport, EdsError> {
        let key_pkcs8 = p256_key(self.seed, &format!("bus-transport:{system}"));
        let key = KeyPair::try_from(key_pkcs8.as_slice())?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CountryName, "KZ");
        dn.push(DnType::OrganizationName, "qaqpa test bus participant");
        dn.push(DnType::CommonName, system);
        params.distinguished_name = dn;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::ContentCommitment,
        ];
        params.use_authority_key_identifier_extension = true;
        params.serial_number = Some(SerialNumber::from(self.next_serial.to_be_bytes().to_vec()));
        self.next_serial += 1;
        let validity = match kind {
            TransportCertificate::Expired => (-395, -30),
            _ => (-30, 335),
        };
        set_validity(&mut params, at, validity)?;
        let ca = if kind == TransportCertificate::ForeignCa {
            &self.foreign
        } else {
            &self.nca
        };
        let issuer = Issuer::from_params(&ca.params, &ca.key);
        let cert_der = params.signed_by(&key, &issuer)?.der().to_vec();
        Ok(Transport {
            key_pkcs8,
            cert_der,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::{Channel, DocKind};

    fn app() -> Document {
        Document {
            case: "STS-ACC-1".into(),
            doc: DocKind::AccessApplication,
            from: "ministry".into(),
            to: "STS".into(),
            channel: Channel::Aps,
            fields: BTreeMap::from([
                ("bin".into(), "000740000123".into()),
                ("categories".into(), "vpn; \"quoted\"\n".into()),
            ]),
            reasons: vec![],
        }
    }

    fn t0() -> Timestamp {
        "2025-03-18T05:00:00Z".parse().unwrap()
    }

    #[test]
    fn the_signed_content_is_jcs_of_kind_case_sender_and_fields() {
        let mut d = app();
        d.fields.insert(SIGNATURE_FIELD.into(), "x".into());
        d.fields.insert(CERTIFICATE_FIELD.into(), "y".into());
        // Written out by hand from RFC 8785: sorted keys, no spaces, JSON string escapes.
        let expected = r#"{"case":"STS-ACC-1","document":"access-application","fields":{"bin":"000740000123","categories":"vpn; \"quoted\"\n"},"from":"ministry"}"#;
        assert_eq!(String::from_utf8(signed_content(&d)).unwrap(), expected);
    }

    #[test]
    fn jcs_sorts_keys_by_utf16_code_units() {
        // U+FB01 sorts after U+10000 in UTF-8 byte order but before it in UTF-16.
        let fields = BTreeMap::from([
            ("\u{10000}".to_string(), "a".to_string()),
            ("\u{fb01}".to_string(), "b".to_string()),
        ]);
        let s = String::from_utf8(content_of("c", "k", "f", &fields)).unwrap();
        assert!(
            s.find('\u{10000}').unwrap() < s.find('\u{fb01}').unwrap(),
            "{s}"
        );
    }

    #[test]
    fn the_same_seed_gives_the_same_roots_certificates_and_signatures() {
        let sign = |seed: u64| {
            let mut pki = TestPki::new(seed, t0()).unwrap();
            let mut d = app();
            pki.sign(&mut d, "Ministry", SignatureKind::Valid, t0())
                .unwrap();
            (pki.nca_root_der().to_vec(), d.fields)
        };
        assert_eq!(sign(7), sign(7));
        assert_ne!(sign(7).0, sign(8).0);
        assert_ne!(sign(7).1[SIGNATURE_FIELD], sign(8).1[SIGNATURE_FIELD]);
    }

    #[test]
    fn the_two_roots_share_a_name_but_not_a_key() {
        let pki = TestPki::new(1, t0()).unwrap();
        assert_ne!(pki.nca_root_der(), pki.foreign_root_der());
        // The subject (and issuer) name is the same DER in both: find the common name.
        let cn = "NCA RK stand-in root".as_bytes();
        for der in [pki.nca_root_der(), pki.foreign_root_der()] {
            assert!(der.windows(cn.len()).any(|w| w == cn));
        }
    }

    #[test]
    fn signing_needs_a_bin_and_puts_base64_into_the_fields() {
        let mut pki = TestPki::new(1, t0()).unwrap();
        let mut d = app();
        d.fields.remove("bin");
        let e = pki
            .sign(&mut d, "M", SignatureKind::Valid, t0())
            .unwrap_err();
        assert!(matches!(e, EdsError::NoBin), "{e}");
        d.fields.insert("bin".into(), "12345".into());
        let e = pki
            .sign(&mut d, "M", SignatureKind::Valid, t0())
            .unwrap_err();
        assert!(e.to_string().contains("12345"), "{e}");

        let mut d = app();
        pki.sign(&mut d, "M", SignatureKind::Valid, t0()).unwrap();
        let sig = B64.decode(&d.fields[SIGNATURE_FIELD]).unwrap();
        assert_eq!(sig.len(), 64, "an Ed25519 signature");
        let cert = B64.decode(&d.fields[CERTIFICATE_FIELD]).unwrap();
        assert_eq!(cert[0], 0x30, "a DER SEQUENCE");
        assert!(
            cert.windows(15).any(|w| w == b"BIN000740000123"),
            "the subject carries the BIN"
        );
    }

    #[test]
    fn out_of_range_dates_are_errors_not_panics() {
        let end: Timestamp = "9999-12-30T00:00:00Z".parse().unwrap();
        let e = TestPki::new(1, end)
            .err()
            .expect("a root valid for 20 more years");
        assert!(e.to_string().contains("9999"), "{e}");
    }

    #[test]
    fn transport_credentials_are_p256_deterministic_and_chain_to_their_root() {
        let issue = |seed: u64, kind| {
            let mut pki = TestPki::new(seed, t0()).unwrap();
            pki.transport("fund", kind, t0()).unwrap()
        };
        let a = issue(7, TransportCertificate::Valid);
        assert_eq!(a, issue(7, TransportCertificate::Valid));
        assert_ne!(a.key_pkcs8, issue(8, TransportCertificate::Valid).key_pkcs8);
        // id-ecPublicKey and prime256v1 in the key's algorithm identifier (RFC 5480).
        let ec = [0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
        let p256 = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
        for oid in [&ec[..], &p256[..]] {
            assert!(a.key_pkcs8.windows(oid.len()).any(|w| w == oid));
            assert!(a.cert_der.windows(oid.len()).any(|w| w == oid));
        }
        assert!(a.cert_der.windows(4).any(|w| w == b"fund"), "CN=fund");
        assert_ne!(a.cert_der, issue(7, TransportCertificate::Expired).cert_der);
        assert_eq!(
            a.key_pkcs8,
            issue(7, TransportCertificate::ForeignCa).key_pkcs8
        );
    }
}
