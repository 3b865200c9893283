//! How the STS desks verify a legal entity's electronic digital signature (EDS) on an
//! application (ugia-15-2): the signature verifies over the application as received, the
//! signer's certificate chains to the national certification authority's root the desk was
//! configured with, is valid at the instant of receipt, is an end entity's, and names the
//! applicant's BIN.
//!
//! What is signed, and where the signature and certificate travel, is
//! [`qaqpa_sim::eds::signed_content`] and its fields. Certificates are read with x509-parser
//! and signatures checked with ring; nothing here parses DER by hand.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use jiff::Timestamp;
use qaqpa_sim::eds::{BIN_FIELD, BIN_PREFIX, CERTIFICATE_FIELD, SIGNATURE_FIELD, signed_content};
use qaqpa_sim::trace::Document;
use x509_parser::certificate::X509Certificate;
use x509_parser::oid_registry::OID_SIG_ED25519;
use x509_parser::time::ASN1Time;

/// A certificate, decoded and parsed whole (trailing bytes are a fault too).
fn parse(der: &[u8]) -> Result<X509Certificate<'_>, String> {
    match x509_parser::parse_x509_certificate(der) {
        Ok(([], cert)) => Ok(cert),
        Ok((rest, _)) => Err(format!("{} bytes after the certificate", rest.len())),
        Err(e) => Err(e.to_string()),
    }
}

fn instant(t: &ASN1Time) -> String {
    Timestamp::from_second(t.timestamp())
        .map(|t| t.to_string())
        .unwrap_or_else(|_| t.to_string())
}

/// What is wrong with `app`'s EDS when received at `at`, against the trusted `root` (DER):
/// one reason per fault, each naming the `eds-signature` field; empty when the signature is
/// the applicant's, valid and intact.
pub fn faults(app: &Document, root: Option<&[u8]>, at: Timestamp) -> Vec<String> {
    let field = |name: &str| {
        app.fields
            .get(name)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    };
    let Some(signature) = field(SIGNATURE_FIELD) else {
        return vec![format!(
            "{SIGNATURE_FIELD} is missing: the application is not signed with the legal entity's EDS (ugia-15-2)"
        )];
    };
    let Some(certificate) = field(CERTIFICATE_FIELD) else {
        return vec![format!(
            "{SIGNATURE_FIELD} comes without the signer's certificate ({CERTIFICATE_FIELD}): it cannot be verified (ugia-15-2)"
        )];
    };
    let Ok(signature) = B64.decode(signature) else {
        return vec![format!(
            "{SIGNATURE_FIELD} is not a signature (not base64): the application is not signed with an EDS (ugia-15-2)"
        )];
    };
    let der = match B64.decode(certificate) {
        Ok(der) => der,
        Err(_) => {
            return vec![format!(
                "{SIGNATURE_FIELD}: the signer's certificate ({CERTIFICATE_FIELD}) is not base64 (ugia-15-2)"
            )];
        }
    };
    let cert = match parse(&der) {
        Ok(c) => c,
        Err(e) => {
            return vec![format!(
                "{SIGNATURE_FIELD}: the signer's certificate ({CERTIFICATE_FIELD}) is not an X.509 certificate: {e} (ugia-15-2)"
            )];
        }
    };
    let mut out = Vec::new();
    let when = ASN1Time::from_timestamp(at.as_second());
    match root.map(parse) {
        None => out.push(format!(
            "{SIGNATURE_FIELD}: the desk has no NCA RK root certificate to verify the signer's certificate against (ugia-15-2)"
        )),
        Some(Err(e)) => out.push(format!(
            "{SIGNATURE_FIELD}: the desk's NCA RK root certificate cannot be read: {e}"
        )),
        Some(Ok(root)) => {
            if cert.issuer().as_raw() != root.subject().as_raw() {
                out.push(format!(
                    "{SIGNATURE_FIELD}: the signer's certificate was issued by `{}`, not by the NCA RK root `{}` (ugia-15-2)",
                    cert.issuer(),
                    root.subject()
                ));
            } else if cert.verify_signature(Some(root.public_key())).is_err() {
                out.push(format!(
                    "{SIGNATURE_FIELD}: the signer's certificate names the NCA RK root as issuer but its signature does not verify with the root's key: a foreign CA (ugia-15-2)"
                ));
            } else if let Ok(when) = when
                && !root.validity().is_valid_at(when)
            {
                out.push(format!(
                    "{SIGNATURE_FIELD}: the NCA RK root certificate is not valid at {at} (ugia-15-2)"
                ));
            }
        }
    }
    match when {
        Ok(when) if cert.validity().is_valid_at(when) => {}
        _ => out.push(format!(
            "{SIGNATURE_FIELD}: the signer's certificate is not valid at receipt, {at} (valid from {} to {}): expired or not yet valid (ugia-15-2)",
            instant(&cert.validity().not_before),
            instant(&cert.validity().not_after)
        )),
    }
    if cert.is_ca() {
        out.push(format!(
            "{SIGNATURE_FIELD}: the signer's certificate is a CA's, not a legal entity's signing certificate (ugia-15-2)"
        ));
    }
    if let Ok(Some(ku)) = cert.key_usage()
        && !(ku.value.digital_signature() || ku.value.non_repudiation())
    {
        out.push(format!(
            "{SIGNATURE_FIELD}: the signer's certificate is not for signing (its key usage has neither digitalSignature nor nonRepudiation) (ugia-15-2)"
        ));
    }
    let cert_bins: Vec<&str> = cert
        .subject()
        .iter_organizational_unit()
        .filter_map(|ou| ou.as_str().ok())
        .filter_map(|ou| ou.strip_prefix(BIN_PREFIX))
        .collect();
    match (field(BIN_FIELD), cert_bins.as_slice()) {
        (_, []) => out.push(format!(
            "{SIGNATURE_FIELD}: the signer's certificate names no BIN: it is not a legal entity's (ugia-15-2)"
        )),
        (None, _) => out.push(format!(
            "{SIGNATURE_FIELD} cannot be matched to the applicant: the application gives no {BIN_FIELD} (ugia-15-2)"
        )),
        (Some(bin), bins) if !bins.contains(&bin) => out.push(format!(
            "{SIGNATURE_FIELD}: signed by the legal entity with BIN {}, not by the applicant (BIN {bin}) (ugia-15-2)",
            bins.join(", ")
        )),
        _ => {}
    }
    let spki = cert.public_key();
    if spki.algorithm.algorithm != OID_SIG_ED25519 {
        out.push(format!(
            "{SIGNATURE_FIELD}: the signer's key is of algorithm {}, which the desk does not verify (Ed25519 expected) (ugia-15-2)",
            spki.algorithm.algorithm
        ));
    } else {
        let key = ring::signature::UnparsedPublicKey::new(
            &ring::signature::ED25519,
            &spki.subject_public_key.data,
        );
        if key.verify(&signed_content(app), &signature).is_err() {
            out.push(format!(
                "{SIGNATURE_FIELD} does not verify over the application as received: it was altered after signing, or signed with another key than the certificate's (ugia-15-2)"
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use qaqpa_sim::eds::{SignatureKind, TestPki};
    use qaqpa_sim::trace::{Channel, DocKind};

    use super::*;

    fn t0() -> Timestamp {
        "2025-03-18T05:00:00Z".parse().unwrap()
    }

    fn signed(kind: SignatureKind) -> (TestPki, Document) {
        let mut pki = TestPki::new(11, t0()).unwrap();
        let mut d = Document {
            case: "STS-ACC-1".into(),
            doc: DocKind::AccessApplication,
            from: "ministry".into(),
            to: "STS".into(),
            channel: Channel::Aps,
            fields: BTreeMap::from([
                ("bin".into(), "000740000123".into()),
                ("categories".into(), "video-conferencing".into()),
                ("addresses".into(), "91.201.214.0/26".into()),
            ]),
            reasons: vec![],
        };
        pki.sign(&mut d, "Ministry", kind, t0()).unwrap();
        (pki, d)
    }

    fn check(kind: SignatureKind) -> Vec<String> {
        let (pki, d) = signed(kind);
        faults(&d, Some(pki.nca_root_der()), t0())
    }

    fn one_fault_saying(faults: &[String], words: &str) {
        assert_eq!(faults.len(), 1, "{faults:?}");
        assert!(faults[0].contains(words), "{faults:?}");
        assert!(faults[0].contains("eds-signature"), "{faults:?}");
    }

    #[test]
    fn a_valid_signature_passes_and_an_altered_field_fails() {
        let (pki, mut d) = signed(SignatureKind::Valid);
        assert_eq!(
            faults(&d, Some(pki.nca_root_der()), t0()),
            Vec::<String>::new()
        );
        d.fields
            .insert("addresses".into(), "91.201.214.0/24".into());
        one_fault_saying(
            &faults(&d, Some(pki.nca_root_der()), t0()),
            "does not verify",
        );
        // The case and the sender are signed too.
        let (pki, mut d) = signed(SignatureKind::Valid);
        d.case = "STS-ACC-2".into();
        one_fault_saying(
            &faults(&d, Some(pki.nca_root_der()), t0()),
            "does not verify",
        );
    }

    #[test]
    fn each_wrong_kind_is_refused_for_what_it_is() {
        one_fault_saying(&check(SignatureKind::Tampered), "does not verify");
        one_fault_saying(&check(SignatureKind::Expired), "not valid at receipt");
        one_fault_saying(&check(SignatureKind::ForeignCa), "foreign CA");
        one_fault_saying(&check(SignatureKind::WrongSigner), "not by the applicant");
    }

    #[test]
    fn validity_is_judged_at_the_simulated_instant_of_receipt() {
        // Valid from 30 days before signing to 335 after (by UTC date): a year on, expired;
        // forty days before, not yet valid.
        let (pki, d) = signed(SignatureKind::Valid);
        let root = Some(pki.nca_root_der());
        let later = t0()
            .checked_add(jiff::SignedDuration::from_hours(24 * 340))
            .unwrap();
        one_fault_saying(&faults(&d, root, later), "not valid at receipt");
        let earlier = t0()
            .checked_sub(jiff::SignedDuration::from_hours(24 * 40))
            .unwrap();
        one_fault_saying(&faults(&d, root, earlier), "not valid at receipt");
        let inside = t0()
            .checked_add(jiff::SignedDuration::from_hours(24 * 300))
            .unwrap();
        assert!(faults(&d, root, inside).is_empty());
    }

    #[test]
    fn only_the_configured_root_is_trusted() {
        let (pki, d) = signed(SignatureKind::Valid);
        // A desk that trusted the foreign root would refuse the NCA RK's own certificates.
        one_fault_saying(
            &faults(&d, Some(pki.foreign_root_der()), t0()),
            "foreign CA",
        );
        one_fault_saying(&faults(&d, None, t0()), "no NCA RK root");
        // Another scenario's NCA RK stand-in is another root.
        let other = TestPki::new(12, t0()).unwrap();
        one_fault_saying(&faults(&d, Some(other.nca_root_der()), t0()), "foreign CA");
    }

    #[test]
    fn free_text_and_missing_parts_are_refused_with_the_field_named() {
        let (pki, mut d) = signed(SignatureKind::Valid);
        let root = Some(pki.nca_root_der());
        let mut text = d.clone();
        text.fields.insert(
            SIGNATURE_FIELD.into(),
            "RSA legal-entity EDS of BIN 000740000123".into(),
        );
        one_fault_saying(&faults(&text, root, t0()), "not base64");
        d.fields.remove(CERTIFICATE_FIELD);
        one_fault_saying(&faults(&d, root, t0()), "without the signer's certificate");
        d.fields.remove(SIGNATURE_FIELD);
        one_fault_saying(&faults(&d, root, t0()), "missing");
        let (_, mut d) = signed(SignatureKind::Valid);
        d.fields
            .insert(CERTIFICATE_FIELD.into(), B64.encode(b"not DER"));
        one_fault_saying(&faults(&d, root, t0()), "not an X.509 certificate");
        let (_, mut d) = signed(SignatureKind::Valid);
        d.fields.remove(BIN_FIELD);
        let f = faults(&d, root, t0());
        // The BIN is signed content too: without it, neither the match nor the signature holds.
        assert!(f.iter().any(|r| r.contains("gives no bin")), "{f:?}");
    }
}
