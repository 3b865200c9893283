//! How a bus participant signs what it sends: a WS-Security header (OASIS WSS 1.0, X.509
//! token profile) holding the sender's transport certificate and an enveloped XML signature
//! (XMLDSig, exclusive canonicalisation, SHA-256) over the SOAP Body, as BUS-CONTRACT.md's
//! "Signing" says real SHEP clients do. The signature is made by Debian's libxmlsec1 (OpenSSL
//! backend) through the `xmlsec` crate, on a document parsed by libxml2: no canonicalisation
//! here is our own.
//!
//! The signer takes the key and certificate as inputs ([`Transport`]), so a live run signs
//! with the files its target file names, and a simulated one with what [`crate::eds`] issued.
//!
//! [`Forgery`] builds what a careless or hostile sender sends instead: the messages a bus must
//! refuse (no signature, an altered Body, another system's certificate, a signed Body moved
//! under the Header with a second unsigned one, a signature over another element, two elements
//! with the same `wsu:Id`, a signature replayed from another message).
//!
//! The ECDSA signature value is OpenSSL's, whose nonce is random: the signature bytes differ run
//! to run (the key, certificate and everything the bus decides do not; no report carries them).

use std::sync::Once;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use libxml::parser::Parser;
use libxml::tree::SaveOptions;
use serde::{Deserialize, Serialize};
use xmlsec::{XmlSecKey, XmlSecKeyFormat, XmlSecSignatureContext};

use crate::eds::Transport;

pub const SOAP_ENV: &str = "http://schemas.xmlsoap.org/soap/envelope/";
pub const WSSE_NS: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";
pub const WSU_NS: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd";
pub const DS_NS: &str = "http://www.w3.org/2000/09/xmldsig#";
pub const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
pub const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";
pub const ECDSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256";
pub const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
pub const X509V3: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509v3";
pub const BASE64_BINARY: &str = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary";

/// The `wsu:Id` a signed message's Body carries, and its certificate token's.
pub const BODY_ID: &str = "Body-1";
pub const TOKEN_ID: &str = "X509-1";

#[derive(Debug, thiserror::Error)]
pub enum WssecError {
    #[error("the transport key is not a PKCS#8 (DER) P-256 or RSA private key libxmlsec1 can load")]
    Key,
    #[error("libxml2 could not parse the envelope to sign: {0}")]
    Parse(String),
    #[error("libxmlsec1 could not sign the envelope (key and signature method disagree?)")]
    Sign,
}

/// libxml2 and libxmlsec1 set up once per process: the parser initialised before any thread
/// uses it, xmlsec's own error printing off (the caller reports what failed).
pub fn init() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        unsafe extern "C" {
            fn xmlSecErrorsDefaultCallbackEnableOutput(enabled: std::os::raw::c_int);
        }
        unsafe {
            libxml::bindings::xmlInitParser();
        }
        // Creating a context runs xmlsec's (and its OpenSSL backend's) initialisation.
        drop(XmlSecSignatureContext::new());
        unsafe { xmlSecErrorsDefaultCallbackEnableOutput(0) };
    });
}

/// The signature method for a key: ECDSA for an id-ecPublicKey key, RSA otherwise.
fn method_of(key_pkcs8: &[u8]) -> &'static str {
    const EC_OID: [u8; 9] = [0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
    if key_pkcs8.windows(EC_OID.len()).any(|w| w == EC_OID) {
        ECDSA_SHA256
    } else {
        RSA_SHA256
    }
}

/// The first PEM block labelled `label` in `text`, decoded; `what` names the input in errors.
fn pem_block(text: &[u8], label: &str, what: &str) -> Result<Vec<u8>, String> {
    let text = std::str::from_utf8(text).map_err(|_| format!("{what}: not PEM text"))?;
    let begin = format!("-----BEGIN {label}-----");
    let b64: String = text
        .lines()
        .skip_while(|l| l.trim() != begin)
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    if b64.is_empty() {
        return Err(format!("{what}: no `{begin}` block"));
    }
    B64.decode(b64.trim())
        .map_err(|e| format!("{what}: the PEM block is not base64: {e}"))
}

/// A transport credential from PEM files' contents: a `CERTIFICATE` and an unencrypted
/// PKCS#8 `PRIVATE KEY` (P-256 or RSA), as a live target file names them.
pub fn transport_from_pem(cert: &[u8], key: &[u8]) -> Result<Transport, String> {
    Ok(Transport {
        cert_der: pem_block(cert, "CERTIFICATE", "the signing certificate")?,
        key_pkcs8: pem_block(key, "PRIVATE KEY", "the signing key (unencrypted PKCS#8)")?,
    })
}

/// DER as a PEM block labelled `label`.
pub fn pem(label: &str, der: &[u8]) -> String {
    let b64 = B64.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// The unsigned envelope around a Body's content.
pub fn envelope(body: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><soap:Envelope xmlns:soap=\"{SOAP_ENV}\"><soap:Body>{body}</soap:Body></soap:Envelope>"
    )
}

/// The envelope of `body`, signed with `cred`: the Body carries `wsu:Id` [`BODY_ID`], the one
/// Reference names it.
pub fn sign(body: &str, cred: &Transport) -> Result<String, WssecError> {
    sign_parts(body, Some(BODY_ID), "", BODY_ID, cred)
}

/// Signs a template: `header_extra` goes into the Header before the Security header, the Body
/// carries `body_id` when given, and the signature's one Reference names `#reference`.
fn sign_parts(
    body: &str,
    body_id: Option<&str>,
    header_extra: &str,
    reference: &str,
    cred: &Transport,
) -> Result<String, WssecError> {
    init();
    let method = method_of(&cred.key_pkcs8);
    let token = B64.encode(&cred.cert_der);
    let body_attr = body_id
        .map(|id| format!(" wsu:Id=\"{id}\""))
        .unwrap_or_default();
    let template = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
<soap:Envelope xmlns:soap=\"{SOAP_ENV}\" xmlns:wsse=\"{WSSE_NS}\" xmlns:wsu=\"{WSU_NS}\">\
<soap:Header>{header_extra}<wsse:Security soap:mustUnderstand=\"1\">\
<wsse:BinarySecurityToken EncodingType=\"{BASE64_BINARY}\" ValueType=\"{X509V3}\" wsu:Id=\"{TOKEN_ID}\">{token}</wsse:BinarySecurityToken>\
<ds:Signature xmlns:ds=\"{DS_NS}\"><ds:SignedInfo>\
<ds:CanonicalizationMethod Algorithm=\"{EXC_C14N}\"/>\
<ds:SignatureMethod Algorithm=\"{method}\"/>\
<ds:Reference URI=\"#{reference}\"><ds:Transforms><ds:Transform Algorithm=\"{EXC_C14N}\"/></ds:Transforms>\
<ds:DigestMethod Algorithm=\"{SHA256}\"/><ds:DigestValue></ds:DigestValue></ds:Reference>\
</ds:SignedInfo><ds:SignatureValue></ds:SignatureValue>\
<ds:KeyInfo><wsse:SecurityTokenReference><wsse:Reference URI=\"#{TOKEN_ID}\" ValueType=\"{X509V3}\"/></wsse:SecurityTokenReference></ds:KeyInfo>\
</ds:Signature></wsse:Security></soap:Header>\
<soap:Body{body_attr}>{body}</soap:Body></soap:Envelope>"
    );
    let doc = Parser::default()
        .parse_string_with_options(
            &template,
            libxml::parser::ParserOptions {
                recover: false,
                no_net: true,
                ..libxml::parser::ParserOptions::default()
            },
        )
        .map_err(|e| WssecError::Parse(format!("{e:?}")))?;
    register_ids(&doc);
    let key = XmlSecKey::from_memory(&cred.key_pkcs8, XmlSecKeyFormat::Der, None)
        .map_err(|_| WssecError::Key)?;
    let mut ctx = XmlSecSignatureContext::new();
    ctx.insert_key(key);
    ctx.sign_document(&doc).map_err(|_| WssecError::Sign)?;
    Ok(doc.to_string_with_options(SaveOptions {
        format: false,
        ..SaveOptions::default()
    }))
}

/// Tells libxml2 that `wsu:Id` attributes are IDs (the first of equal values wins), so that
/// xmlsec resolves `URI="#…"` references.
fn register_ids(doc: &libxml::tree::Document) {
    let Ok(ctx) = libxml::xpath::Context::new(doc) else {
        return;
    };
    let _ = ctx.register_namespace("wsu", WSU_NS);
    let Ok(found) = ctx.evaluate("//@wsu:Id") else {
        return;
    };
    for attr in found.get_nodes_as_vec() {
        let Ok(value) = std::ffi::CString::new(attr.get_content()) else {
            continue;
        };
        unsafe {
            let existing = libxml::bindings::xmlGetID(doc.doc_ptr(), value.as_ptr() as *const u8);
            if existing.is_null() {
                libxml::bindings::xmlAddID(
                    std::ptr::null_mut(),
                    doc.doc_ptr(),
                    value.as_ptr() as *const u8,
                    attr.node_ptr() as *mut libxml::bindings::_xmlAttr,
                );
            }
        }
    }
}

/// What a sender puts on a message in place of a good signature.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Forgery {
    /// A good signature over the Body, with the sender's own certificate.
    #[default]
    Valid,
    /// No Security header at all.
    Unsigned,
    /// Signed, then the Body's business data changed.
    Tampered,
    /// A good signature, but with another registered system's certificate.
    OtherSystem,
    /// A message the sender really signed has its signed Body moved under a Header element;
    /// a second, unsigned Body (without an Id) is the one the bus would process.
    Wrapped,
    /// The signature's Reference names a header element (a signed `wsu:Timestamp`), not the
    /// Body, which is unsigned.
    ReferenceElsewhere,
    /// As `Wrapped`, but the processed Body carries the same `wsu:Id` as the moved signed one.
    DuplicateId,
    /// The Security header of another message of the same sender, pasted onto this one.
    Replayed,
}

impl Forgery {
    pub fn as_str(self) -> &'static str {
        match self {
            Forgery::Valid => "valid",
            Forgery::Unsigned => "unsigned",
            Forgery::Tampered => "tampered",
            Forgery::OtherSystem => "other-system",
            Forgery::Wrapped => "wrapped",
            Forgery::ReferenceElsewhere => "reference-elsewhere",
            Forgery::DuplicateId => "duplicate-id",
            Forgery::Replayed => "replayed",
        }
    }

    pub const ALL: [Forgery; 8] = [
        Forgery::Valid,
        Forgery::Unsigned,
        Forgery::Tampered,
        Forgery::OtherSystem,
        Forgery::Wrapped,
        Forgery::ReferenceElsewhere,
        Forgery::DuplicateId,
        Forgery::Replayed,
    ];
}

/// The byte ranges of a serialised signed envelope: its start (declaration and Envelope start
/// tag), the Header's content, and the Body element. The signer writes the prefix `soap`, one
/// Header and one Body, so the tags are found as written.
struct Pieces<'a> {
    start: &'a str,
    header: &'a str,
    body: &'a str,
}

fn pieces(signed: &str) -> Option<Pieces<'_>> {
    let h0 = signed.find("<soap:Header>")?;
    let h1 = signed.find("</soap:Header>")?;
    let b0 = signed.find("<soap:Body")?;
    let b1 = signed.rfind("</soap:Body>")? + "</soap:Body>".len();
    Some(Pieces {
        start: &signed[..h0],
        header: &signed[h0 + "<soap:Header>".len()..h1],
        body: &signed[b0..b1],
    })
}

/// The message a sender sends for `body` the way `forgery` says. `decoy` is another message
/// of the same sender (a different Body content: what it really signed, for the attacks that
/// reuse a real signature); `other` is another registered system's credential.
pub fn forge(
    forgery: Forgery,
    body: &str,
    decoy: &str,
    own: &Transport,
    other: &Transport,
) -> Result<String, WssecError> {
    let broken = || WssecError::Parse("the signed envelope lost its Header or Body".into());
    let assemble = |start: &str, header: &str, body_elem: &str| {
        format!("{start}<soap:Header>{header}</soap:Header>{body_elem}</soap:Envelope>")
    };
    Ok(match forgery {
        Forgery::Valid => sign(body, own)?,
        Forgery::Unsigned => envelope(body),
        Forgery::OtherSystem => sign(body, other)?,
        Forgery::Tampered | Forgery::Replayed => {
            // Tampered: what was signed had the decoy's data and the Body was changed after;
            // replayed: the decoy was an earlier message whose header is reused. Either way the
            // Body the bus reads is not what the signature covers.
            let signed = sign(decoy, own)?;
            let p = pieces(&signed).ok_or_else(broken)?;
            assemble(
                p.start,
                p.header,
                &format!("<soap:Body wsu:Id=\"{BODY_ID}\">{body}</soap:Body>"),
            )
        }
        Forgery::Wrapped | Forgery::DuplicateId => {
            let signed = sign(decoy, own)?;
            let p = pieces(&signed).ok_or_else(broken)?;
            let id = if forgery == Forgery::DuplicateId {
                format!(" wsu:Id=\"{BODY_ID}\"")
            } else {
                String::new()
            };
            let header = format!(
                "<w:Wrapper xmlns:w=\"urn:qaqpa:attacker\">{}</w:Wrapper>{}",
                p.body, p.header
            );
            assemble(
                p.start,
                &header,
                &format!("<soap:Body{id}>{body}</soap:Body>"),
            )
        }
        Forgery::ReferenceElsewhere => sign_parts(
            body,
            Some(BODY_ID),
            "<wsu:Timestamp wsu:Id=\"TS-1\"><wsu:Created>2025-01-01T00:00:00Z</wsu:Created></wsu:Timestamp>",
            "TS-1",
            own,
        )?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eds::{TestPki, TransportCertificate};

    fn creds() -> (Transport, Transport) {
        let t0 = "2025-03-18T05:00:00Z".parse().unwrap();
        let mut pki = TestPki::new(3, t0).unwrap();
        (
            pki.transport("fund", TransportCertificate::Valid, t0)
                .unwrap(),
            pki.transport("kgd", TransportCertificate::Valid, t0)
                .unwrap(),
        )
    }

    #[test]
    fn a_signed_envelope_carries_the_token_signature_and_body_id() {
        let (own, _) = creds();
        let xml = sign("<t:Op xmlns:t=\"urn:t\"><a>1</a></t:Op>", &own).unwrap();
        assert!(
            xml.contains(
                "<soap:Body wsu:Id=\"Body-1\"><t:Op xmlns:t=\"urn:t\"><a>1</a></t:Op></soap:Body>"
            ),
            "{xml}"
        );
        assert!(xml.contains(ECDSA_SHA256));
        assert!(xml.contains(&B64.encode(&own.cert_der)));
        // xmlsec filled the digest and the signature value in.
        assert!(
            !xml.contains("<ds:DigestValue></ds:DigestValue>")
                && !xml.contains("<ds:DigestValue/>"),
            "{xml}"
        );
        assert!(!xml.contains("<ds:SignatureValue/>"), "{xml}");
    }

    #[test]
    fn forgeries_keep_one_body_in_the_envelope_and_move_the_signed_one() {
        let (own, other) = creds();
        let body = "<t:Op xmlns:t=\"urn:t\"><a>real</a></t:Op>";
        let decoy = "<t:Op xmlns:t=\"urn:t\"><a>decoy</a></t:Op>";
        let w = forge(Forgery::Wrapped, body, decoy, &own, &other).unwrap();
        let wrapper = w.find("<w:Wrapper").unwrap();
        assert!(w[wrapper..].find(decoy).unwrap() < w[wrapper..].find(body).unwrap());
        assert!(
            w.ends_with(&format!("<soap:Body>{body}</soap:Body></soap:Envelope>")),
            "{w}"
        );
        let d = forge(Forgery::DuplicateId, body, decoy, &own, &other).unwrap();
        assert_eq!(d.matches("wsu:Id=\"Body-1\"").count(), 2);
        let r = forge(Forgery::ReferenceElsewhere, body, decoy, &own, &other).unwrap();
        assert!(r.contains("URI=\"#TS-1\""));
        let u = forge(Forgery::Unsigned, body, decoy, &own, &other).unwrap();
        assert!(!u.contains("Security"));
        let t = forge(Forgery::Tampered, body, decoy, &own, &other).unwrap();
        assert!(t.contains(body) && !t.contains(decoy));
        let o = forge(Forgery::OtherSystem, body, decoy, &own, &other).unwrap();
        assert!(o.contains(&B64.encode(&other.cert_der)));
    }

    #[test]
    fn pem_files_round_trip_and_their_errors_name_the_input() {
        let (own, _) = creds();
        let back = transport_from_pem(
            pem("CERTIFICATE", &own.cert_der).as_bytes(),
            pem("PRIVATE KEY", &own.key_pkcs8).as_bytes(),
        )
        .unwrap();
        assert_eq!(back, own);
        let e =
            transport_from_pem(b"junk", pem("PRIVATE KEY", &own.key_pkcs8).as_bytes()).unwrap_err();
        assert!(
            e.contains("signing certificate") && e.contains("BEGIN CERTIFICATE"),
            "{e}"
        );
    }

    #[test]
    fn a_key_that_is_not_pkcs8_is_an_error_not_a_panic() {
        let (mut own, _) = creds();
        own.key_pkcs8 = b"not a key".to_vec();
        assert!(matches!(sign("<a/>", &own), Err(WssecError::Key)));
    }
}
