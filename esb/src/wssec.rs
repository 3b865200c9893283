//! Sender authentication: the WS-Security signature over the SOAP Body (BUS-CONTRACT.md,
//! "Signing"). A message is accepted only when
//! - its Header holds one `wsse:Security` with one `ds:Signature` whose SignedInfo uses
//!   exclusive canonicalisation, ECDSA- or RSA-SHA256 and SHA-256, and whose one Reference
//!   names, by `wsu:Id`, the very Body the bus processes (no other element, no Id held twice in
//!   the document: the signature-wrapping attacks);
//! - the signature verifies (libxmlsec1 through the `xmlsec` crate, on libxml2's parse of the
//!   same bytes: the canonicalisation is libxml2's, not ours) with the key of the certificate
//!   the message carries (a `wsse:BinarySecurityToken` the KeyInfo references, or an
//!   `X509Data`);
//! - that certificate chains to the configured root (the NCA RK's, or the harness's stand-in),
//!   is within its validity at the bus's clock instant, and is the one registered for the
//!   message's `senderId`.
//!
//! Every refusal is an `ErrorInfo`: `SHEP-206` for the signature and its binding to the
//! sender, `SHEP-208` for a certificate that does not chain or is out of validity.

use std::collections::BTreeMap;
use std::sync::{Mutex, Once};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use jiff::Timestamp;
use qaqpa_sim::target::Defect;
use xmlsec::{XmlSecKey, XmlSecKeyFormat, XmlSecSignatureContext};

use crate::bus::Settings;
use crate::contract::Envelope;
use crate::errors::{ErrorCode, ErrorInfo};
use crate::xml::Element;

pub const WSSE_NS: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";
pub const WSU_NS: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd";
pub const DS_NS: &str = "http://www.w3.org/2000/09/xmldsig#";
const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";
const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";
const SIGNATURE_METHODS: [&str; 2] = [
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
];
const X509V3: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509v3";

/// The bus's named defects in sender authentication: each fails eint-app5's network obligations
/// (the transport EDS certificate the connection form registers is what the bus checks).
pub const DEFECTS: &[Defect] = &[
    Defect {
        id: "bus-signature-not-checked",
        system: "bus",
        description: "the bus never checks WS-Security signatures: unsigned, altered and replayed messages are relayed",
        clauses: &["eint-app5"],
        warns: &[],
    },
    Defect {
        id: "bus-certificate-not-bound-to-sender",
        system: "bus",
        description: "the bus accepts a good signature with any certificate of the NCA RK, not only the one registered for the senderId",
        clauses: &["eint-app5"],
        warns: &[],
    },
    Defect {
        id: "bus-expired-certificate-accepted",
        system: "bus",
        description: "the bus accepts signatures made with a transport certificate whose validity has ended",
        clauses: &["eint-app5"],
        warns: &[],
    },
    Defect {
        id: "bus-untrusted-ca-accepted",
        system: "bus",
        description: "the bus accepts transport certificates that do not chain to the NCA RK root (a foreign root bearing its name)",
        clauses: &["eint-app5"],
        warns: &[],
    },
    Defect {
        id: "bus-wrapping-accepted",
        system: "bus",
        description: "the bus verifies the signature it finds without checking that it covers the Body it processes: signature-wrapping attacks (a signed Body moved under the Header, a Reference to another element, an Id held twice) get through",
        clauses: &["eint-app5"],
        warns: &[],
    },
];

/// The most elements a `ds:Signature` may hold: a good one has about a dozen.
const MAX_SIGNATURE_ELEMENTS: usize = 64;
/// Certificates whose chain and validity the bus remembers (they repeat call after call).
const CACHE_LIMIT: usize = 4096;

/// The root the bus trusts, and what it learnt of certificates it has seen.
pub struct Trust {
    root_der: Vec<u8>,
    seen: Mutex<BTreeMap<Vec<u8>, Result<Facts, String>>>,
}

/// What a certificate's check does not need to repeat: whether it chains, and its validity.
#[derive(Clone)]
struct Facts {
    chained: bool,
    not_before: i64,
    not_after: i64,
    /// The subject public key (SubjectPublicKeyInfo, DER) xmlsec verifies with.
    spki: Vec<u8>,
}

impl Trust {
    /// Trust in `root_der` (a DER certificate), checked to parse.
    pub fn new(root_der: Vec<u8>) -> Result<Trust, String> {
        x509_parser::parse_x509_certificate(&root_der)
            .map_err(|e| format!("the CA root certificate does not parse: {e}"))?;
        init();
        Ok(Trust {
            root_der,
            seen: Mutex::new(BTreeMap::new()),
        })
    }

    /// Reads a root from PEM or DER bytes; `origin` names the file in errors.
    pub fn from_file_bytes(bytes: &[u8], origin: &str) -> Result<Trust, String> {
        Trust::new(der_of(bytes, origin)?).map_err(|e| format!("{origin}: {e}"))
    }

    fn facts(&self, der: &[u8]) -> Result<Facts, String> {
        if let Some(f) = self.seen.lock().expect("trust").get(der) {
            return f.clone();
        }
        let f = (|| {
            let (_, cert) = x509_parser::parse_x509_certificate(der)
                .map_err(|e| format!("the certificate does not parse: {e}"))?;
            let (_, root) = x509_parser::parse_x509_certificate(&self.root_der)
                .map_err(|e| format!("the root does not parse: {e}"))?;
            let chained = cert.issuer().as_raw() == root.subject().as_raw()
                && cert.verify_signature(Some(root.public_key())).is_ok();
            Ok(Facts {
                chained,
                not_before: cert.validity().not_before.timestamp(),
                not_after: cert.validity().not_after.timestamp(),
                spki: cert.public_key().raw.to_vec(),
            })
        })();
        let mut seen = self.seen.lock().expect("trust");
        if seen.len() >= CACHE_LIMIT {
            seen.clear();
        }
        seen.insert(der.to_vec(), f.clone());
        f
    }
}

/// A certificate file's DER: PEM (`-----BEGIN CERTIFICATE-----`) or DER as it is.
pub fn der_of(bytes: &[u8], origin: &str) -> Result<Vec<u8>, String> {
    if bytes.starts_with(b"-----BEGIN") || bytes.iter().take(64).all(|b| b.is_ascii()) {
        let text = std::str::from_utf8(bytes).map_err(|_| format!("{origin}: not UTF-8 PEM"))?;
        let b64: String = text
            .lines()
            .skip_while(|l| !l.starts_with("-----BEGIN CERTIFICATE-----"))
            .skip(1)
            .take_while(|l| !l.starts_with("-----END"))
            .collect();
        if b64.is_empty() {
            return Err(format!(
                "{origin}: no `-----BEGIN CERTIFICATE-----` block (expected a PEM or DER X.509 certificate)"
            ));
        }
        return B64
            .decode(b64.trim())
            .map_err(|e| format!("{origin}: the PEM block is not base64: {e}"));
    }
    Ok(bytes.to_vec())
}

/// libxml2 and libxmlsec1 set up once per process, before any worker thread uses them;
/// xmlsec's own printing of errors is off (the fault says what failed).
pub fn init() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        unsafe extern "C" {
            fn xmlSecErrorsDefaultCallbackEnableOutput(enabled: std::os::raw::c_int);
        }
        unsafe { libxml::bindings::xmlInitParser() };
        drop(XmlSecSignatureContext::new());
        unsafe { xmlSecErrorsDefaultCallbackEnableOutput(0) };
    });
}

fn refuse(message: impl Into<String>) -> ErrorInfo {
    ErrorInfo::new(ErrorCode::SignatureInvalid, message)
}

fn untrusted(message: impl Into<String>) -> ErrorInfo {
    ErrorInfo::new(ErrorCode::CertificateUntrusted, message)
}

fn attr<'a>(e: &'a Element, ns: Option<&str>, name: &str) -> Option<&'a str> {
    e.attrs
        .iter()
        .find(|(n, l, _)| n.as_deref() == ns && l == name)
        .map(|(_, _, v)| v.as_str())
}

fn children<'a, 'b>(
    e: &'a Element,
    ns: &'b str,
    name: &'b str,
) -> impl Iterator<Item = &'a Element> + use<'a, 'b> {
    e.children.iter().filter(move |c| c.is(ns, name))
}

fn one<'a>(e: &'a Element, ns: &str, name: &str, what: &str) -> Result<&'a Element, ErrorInfo> {
    let mut it = children(e, ns, name);
    match (it.next(), it.next()) {
        (Some(c), None) => Ok(c),
        (None, _) => Err(refuse(format!("{what}: no {name} element"))),
        _ => Err(refuse(format!("{what}: more than one {name} element"))),
    }
}

/// Every element of the tree, without recursion.
fn walk(root: &Element) -> Vec<&Element> {
    let mut out = Vec::new();
    let mut stack = vec![root];
    while let Some(e) = stack.pop() {
        out.push(e);
        stack.extend(e.children.iter().rev());
    }
    out
}

/// The `senderId` the message names (the first `sender/senderId` in the operation).
pub fn sender_of(op: &Element) -> Option<String> {
    walk(op)
        .into_iter()
        .find(|e| e.name == "sender" && e.ns.is_none())
        .and_then(|s| s.text_of("senderId"))
}

/// Checks the message's signature and certificate for `sender`, whose registered certificate
/// is `registered` (DER). `src` is the message as received, `env` its parse.
pub fn authenticate(
    env: &Envelope,
    src: &[u8],
    sender: &str,
    registered: Option<&[u8]>,
    trust: &Trust,
    now: Timestamp,
    settings: &Settings,
) -> Result<(), ErrorInfo> {
    if settings.has("bus-signature-not-checked") {
        return Ok(());
    }
    let strict = !settings.has("bus-wrapping-accepted");
    let header = env.header().ok_or_else(|| {
        refuse("the message carries no soap:Header with a wsse:Security signature: the sending system signs the Body with its transport key")
    })?;
    let security = one(header, WSSE_NS, "Security", "soap:Header")?;
    let signature = one(security, DS_NS, "Signature", "wsse:Security")?;
    if walk(signature).len() > MAX_SIGNATURE_ELEMENTS {
        return Err(refuse(format!(
            "the ds:Signature holds more than {MAX_SIGNATURE_ELEMENTS} elements"
        )));
    }
    let info = one(signature, DS_NS, "SignedInfo", "ds:Signature")?;
    let algorithm = |e: &Element, name: &str| -> Result<String, ErrorInfo> {
        let m = one(e, DS_NS, name, &format!("ds:{}", e.name))?;
        attr(m, None, "Algorithm")
            .map(str::to_string)
            .ok_or_else(|| refuse(format!("ds:{name} has no Algorithm")))
    };
    let c14n = algorithm(info, "CanonicalizationMethod")?;
    if c14n != EXC_C14N {
        return Err(refuse(format!(
            "ds:CanonicalizationMethod `{c14n}` is not accepted: the bus takes exclusive canonicalisation ({EXC_C14N})"
        )));
    }
    let method = algorithm(info, "SignatureMethod")?;
    if !SIGNATURE_METHODS.contains(&method.as_str()) {
        return Err(refuse(format!(
            "ds:SignatureMethod `{method}` is not accepted: the bus takes {}",
            SIGNATURE_METHODS.join(", ")
        )));
    }
    let references: Vec<&Element> = children(info, DS_NS, "Reference").collect();
    if references.is_empty() || (strict && references.len() != 1) {
        return Err(refuse(format!(
            "ds:SignedInfo holds {} references: the bus takes exactly one, to the soap:Body",
            references.len()
        )));
    }
    for r in &references {
        let uri = attr(r, None, "URI").unwrap_or("");
        if !uri.starts_with('#') || uri.len() < 2 {
            return Err(refuse(format!(
                "ds:Reference URI `{uri}` is not a same-document reference by Id (`#…`)"
            )));
        }
        if let Some(t) = children(r, DS_NS, "Transforms").next() {
            for x in t.children.iter() {
                let a = attr(x, None, "Algorithm").unwrap_or("");
                if !x.is(DS_NS, "Transform") || a != EXC_C14N {
                    return Err(refuse(format!(
                        "ds:Transform `{a}` is not accepted: the bus takes exclusive canonicalisation only"
                    )));
                }
            }
        }
        let digest = algorithm(r, "DigestMethod")?;
        if digest != SHA256 {
            return Err(refuse(format!(
                "ds:DigestMethod `{digest}` is not accepted: the bus takes SHA-256 ({SHA256})"
            )));
        }
    }
    if strict {
        // The Reference must name the Body the bus goes on to process, and that name must be
        // unambiguous in the whole document.
        let body_id = attr(env.body(), Some(WSU_NS), "Id").ok_or_else(|| {
            refuse("the soap:Body carries no wsu:Id: the signature cannot name it")
        })?;
        let uri = attr(references[0], None, "URI").unwrap_or("");
        if uri[1..] != *body_id {
            return Err(refuse(format!(
                "the signature's Reference names `{uri}`, not the soap:Body (`#{body_id}`): what is signed is not what would be processed"
            )));
        }
        // The Ids a same-document reference resolves against: the `wsu:Id`s the bus registers
        // and the `xml:id`s libxml2 knows by itself (a payload's own `id` attributes are data).
        let mut ids = std::collections::BTreeSet::new();
        for e in walk(&env.root) {
            for (ns, name, value) in &e.attrs {
                let is_id = matches!(
                    (ns.as_deref(), name.as_str()),
                    (Some(WSU_NS), "Id") | (Some(XML_NS), "id")
                );
                if is_id && !ids.insert(value.as_str()) {
                    return Err(refuse(format!(
                        "two elements carry the Id `{value}`: a reference to it is ambiguous"
                    )));
                }
            }
        }
    }
    let cert = certificate(signature, security)?;
    let facts = trust
        .facts(&cert)
        .map_err(|e| untrusted(format!("the signer's certificate: {e}")))?;
    if !facts.chained && !settings.has("bus-untrusted-ca-accepted") {
        return Err(untrusted(
            "the signer's certificate was not issued by the configured root (NCA RK)",
        ));
    }
    let t = now.as_second();
    if !(facts.not_before <= t && t <= facts.not_after)
        && !settings.has("bus-expired-certificate-accepted")
    {
        return Err(untrusted(format!(
            "the signer's certificate is not valid at {now}: expired or not yet valid"
        )));
    }
    if registered != Some(cert.as_slice()) && !settings.has("bus-certificate-not-bound-to-sender") {
        return Err(refuse(format!(
            "the signer's certificate is not the transport certificate registered for senderId `{sender}`"
        )));
    }
    if verify(src, &cert, &facts.spki, strict)? {
        Ok(())
    } else {
        Err(refuse(
            "the signature does not verify: the signed content was changed, or signed with another key",
        ))
    }
}

/// The certificate the signature's KeyInfo names: a BinarySecurityToken of the Security header
/// referenced by Id, or an X509Data/X509Certificate in the KeyInfo itself.
fn certificate(signature: &Element, security: &Element) -> Result<Vec<u8>, ErrorInfo> {
    let info = one(signature, DS_NS, "KeyInfo", "ds:Signature")?;
    let b64 = if let Some(str_) = children(info, WSSE_NS, "SecurityTokenReference").next() {
        let r = one(str_, WSSE_NS, "Reference", "wsse:SecurityTokenReference")?;
        let uri = attr(r, None, "URI").unwrap_or("");
        let id = uri.strip_prefix('#').ok_or_else(|| {
            refuse(format!(
                "wsse:Reference URI `{uri}` does not name a token of the message"
            ))
        })?;
        let mut tokens = children(security, WSSE_NS, "BinarySecurityToken")
            .filter(|t| attr(t, Some(WSU_NS), "Id") == Some(id));
        let token = match (tokens.next(), tokens.next()) {
            (Some(t), None) => t,
            _ => {
                return Err(refuse(format!(
                    "wsse:Reference `{uri}` names no single wsse:BinarySecurityToken of the Security header"
                )));
            }
        };
        if attr(token, None, "ValueType") != Some(X509V3) {
            return Err(refuse(format!(
                "the wsse:BinarySecurityToken is not an X.509 v3 certificate (ValueType {X509V3})"
            )));
        }
        token.text.clone()
    } else if let Some(data) = children(info, DS_NS, "X509Data").next() {
        one(data, DS_NS, "X509Certificate", "ds:X509Data")?
            .text
            .clone()
    } else {
        return Err(refuse(
            "the ds:KeyInfo names no X.509 certificate (a wsse:SecurityTokenReference or ds:X509Data)",
        ));
    };
    let clean: String = b64.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    B64.decode(clean)
        .map_err(|e| refuse(format!("the signer's certificate is not base64: {e}")))
}

thread_local! {
    /// Keys already loaded, per certificate: OpenSSL 3.0 decodes a key slowly, and the same
    /// few certificates sign call after call. Per thread: an xmlsec key is not shared across
    /// threads; a duplicate (a reference to the same OpenSSL key) goes to each verification.
    static KEYS: std::cell::RefCell<BTreeMap<Vec<u8>, XmlSecKey>> =
        const { std::cell::RefCell::new(BTreeMap::new()) };
}

fn key_of(cert: &[u8], spki: &[u8]) -> Result<XmlSecKey, ErrorInfo> {
    KEYS.with(|keys| {
        let mut keys = keys.borrow_mut();
        if let Some(k) = keys.get(cert) {
            return Ok(k.clone());
        }
        let key = XmlSecKey::from_memory(cert, XmlSecKeyFormat::CertDer, None)
            .or_else(|_| XmlSecKey::from_memory(spki, XmlSecKeyFormat::Der, None))
            .map_err(|_| refuse("libxmlsec1 cannot use the signer's certificate's key"))?;
        if keys.len() >= CACHE_LIMIT {
            keys.clear();
        }
        keys.insert(cert.to_vec(), key.clone());
        Ok(key)
    })
}

/// libxmlsec1's verdict on the signature at Header/Security/Signature of `src`, with the key of
/// `cert`. Ids are registered for every `wsu:Id` (the strict checks made sure they are unique;
/// a lax bus lets the first of equal Ids win, as libxml2 does).
fn verify(src: &[u8], cert: &[u8], spki: &[u8], strict: bool) -> Result<bool, ErrorInfo> {
    use libxml::parser::{Parser, ParserOptions};
    init();
    let doc = Parser::default()
        .parse_string_with_options(
            src,
            ParserOptions {
                // libxml's default recovers from errors: a message must be well-formed.
                recover: false,
                no_net: true,
                no_error: true,
                no_warning: true,
                ..ParserOptions::default()
            },
        )
        .map_err(|e| {
            refuse(format!(
                "libxml2 could not parse the message to verify it: {e:?}"
            ))
        })?;
    let ctx = libxml::xpath::Context::new(&doc)
        .map_err(|_| ErrorInfo::new(ErrorCode::Internal, "libxml2: no XPath context"))?;
    for (p, ns) in [
        ("soap", crate::contract::SOAP_ENV),
        ("wsse", WSSE_NS),
        ("wsu", WSU_NS),
        ("ds", DS_NS),
    ] {
        let _ = ctx.register_namespace(p, ns);
    }
    if let Ok(found) = ctx.evaluate("//@wsu:Id") {
        for a in found.get_nodes_as_vec() {
            let Ok(value) = std::ffi::CString::new(a.get_content()) else {
                return Err(refuse("an Id holds a NUL character"));
            };
            unsafe {
                let v = value.as_ptr() as *const u8;
                if libxml::bindings::xmlGetID(doc.doc_ptr(), v).is_null() {
                    libxml::bindings::xmlAddID(
                        std::ptr::null_mut(),
                        doc.doc_ptr(),
                        v,
                        a.node_ptr() as *mut libxml::bindings::_xmlAttr,
                    );
                }
            }
        }
    }
    let path = if strict {
        "/soap:Envelope/soap:Header/wsse:Security/ds:Signature"
    } else {
        "//ds:Signature"
    };
    let sig = ctx
        .evaluate(path)
        .ok()
        .and_then(|o| o.get_nodes_as_vec().into_iter().next())
        .ok_or_else(|| refuse("libxml2 finds no ds:Signature in the Security header"))?;
    let key = key_of(cert, spki)?;
    let mut dsig = XmlSecSignatureContext::new();
    dsig.insert_key(key);
    unsafe {
        // Same-document references only: never a file or a URL.
        (*dsig.as_ptr()).enabledReferenceUris =
            xmlsec::bindings::xmlSecTransformUriTypeSameDocument as _;
    }
    match dsig.verify_node(&sig) {
        Ok(ok) => Ok(ok),
        Err(_) => Ok(false),
    }
}

impl std::fmt::Debug for Trust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Trust {{ root: {} bytes }}", self.root_der.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use qaqpa_sim::eds::{TestPki, Transport, TransportCertificate};
    use qaqpa_sim::wssec::{Forgery, forge};

    const SYNC: &str = "http://bip.bee.kz/SyncChannel/v10/Types";

    fn body(data: &str) -> String {
        format!(
            "<t:SendMessage xmlns:t=\"{SYNC}\"><request><requestInfo><messageId>m-1</messageId><serviceId>S</serviceId><messageDate>2025-03-18T05:00:00Z</messageDate><sender><senderId>fund</senderId></sender></requestInfo><requestData><data>{data}</data></requestData></request></t:SendMessage>"
        )
    }

    struct World {
        trust: Trust,
        fund: Transport,
        kgd: Transport,
        expired: Transport,
        foreign: Transport,
        now: Timestamp,
    }

    fn world() -> World {
        let now: Timestamp = "2025-03-18T05:00:00Z".parse().unwrap();
        let mut pki = TestPki::new(11, now).unwrap();
        World {
            fund: pki
                .transport("fund", TransportCertificate::Valid, now)
                .unwrap(),
            kgd: pki
                .transport("kgd", TransportCertificate::Valid, now)
                .unwrap(),
            expired: pki
                .transport("fund", TransportCertificate::Expired, now)
                .unwrap(),
            foreign: pki
                .transport("fund", TransportCertificate::ForeignCa, now)
                .unwrap(),
            trust: Trust::new(pki.nca_root_der().to_vec()).unwrap(),
            now,
        }
    }

    fn check(
        w: &World,
        xml: &str,
        registered: &[u8],
        defects: &[&'static str],
    ) -> Result<(), ErrorInfo> {
        let env = crate::contract::read_envelope(xml.as_bytes()).unwrap();
        let settings = Settings {
            defects: defects.to_vec(),
            ..Settings::default()
        };
        authenticate(
            &env,
            xml.as_bytes(),
            "fund",
            Some(registered),
            &w.trust,
            w.now,
            &settings,
        )
    }

    fn forged(w: &World, f: Forgery, own: &Transport) -> String {
        forge(f, &body("<q>real</q>"), &body("<q>decoy</q>"), own, &w.kgd).unwrap()
    }

    #[test]
    fn a_good_signature_with_the_registered_certificate_is_accepted() {
        let w = world();
        check(
            &w,
            &forged(&w, Forgery::Valid, &w.fund),
            &w.fund.cert_der,
            &[],
        )
        .unwrap();
    }

    #[test]
    fn every_forgery_is_refused_with_its_code() {
        let w = world();
        for f in Forgery::ALL.into_iter().filter(|f| *f != Forgery::Valid) {
            let e = check(&w, &forged(&w, f, &w.fund), &w.fund.cert_der, &[]).unwrap_err();
            assert!(e.is(ErrorCode::SignatureInvalid), "{f:?}: {e:?}");
        }
        // A certificate out of validity, or from a root bearing the NCA RK's name only, even
        // when it is the one registered.
        for cred in [&w.expired, &w.foreign] {
            let e = check(&w, &forged(&w, Forgery::Valid, cred), &cred.cert_der, &[]).unwrap_err();
            assert!(e.is(ErrorCode::CertificateUntrusted), "{e:?}");
        }
    }

    #[test]
    fn each_defect_lets_exactly_its_forgeries_through() {
        let w = world();
        let ok = |f, cred: &Transport, defects: &[&'static str]| {
            check(&w, &forged(&w, f, cred), &cred.cert_der, defects).is_ok()
        };
        // The wrapping defect: a verifier that checks the signature it finds, not what it names.
        for f in [
            Forgery::Wrapped,
            Forgery::DuplicateId,
            Forgery::ReferenceElsewhere,
        ] {
            assert!(!ok(f, &w.fund, &[]), "{f:?}");
            assert!(ok(f, &w.fund, &["bus-wrapping-accepted"]), "{f:?}");
        }
        // ... which still refuses what does not verify.
        for f in [Forgery::Tampered, Forgery::Replayed, Forgery::Unsigned] {
            assert!(!ok(f, &w.fund, &["bus-wrapping-accepted"]), "{f:?}");
            assert!(ok(f, &w.fund, &["bus-signature-not-checked"]), "{f:?}");
        }
        assert!(ok(
            Forgery::OtherSystem,
            &w.fund,
            &["bus-certificate-not-bound-to-sender"]
        ));
        assert!(ok(
            Forgery::Valid,
            &w.expired,
            &["bus-expired-certificate-accepted"]
        ));
        assert!(!ok(
            Forgery::Valid,
            &w.expired,
            &["bus-untrusted-ca-accepted"]
        ));
        assert!(ok(
            Forgery::Valid,
            &w.foreign,
            &["bus-untrusted-ca-accepted"]
        ));
    }

    #[test]
    fn a_payload_s_own_repeated_ids_are_data_not_a_wrapping() {
        let w = world();
        let b = body("<item id=\"1\"/><item id=\"1\"/>");
        let xml = forge(Forgery::Valid, &b, &b, &w.fund, &w.kgd).unwrap();
        check(&w, &xml, &w.fund.cert_der, &[]).unwrap();
    }

    #[test]
    fn unknown_algorithms_and_bloated_signatures_are_faults_not_panics() {
        let w = world();
        let good = forged(&w, Forgery::Valid, &w.fund);
        let cases = [
            good.replace(
                "http://www.w3.org/2001/10/xml-exc-c14n#\"/><ds:SignatureMethod",
                "http://www.w3.org/TR/2001/REC-xml-c14n-20010315\"/><ds:SignatureMethod",
            ),
            good.replace("xmldsig-more#ecdsa-sha256", "xmldsig#hmac-sha1"),
            good.replace("xmlenc#sha256", "xmldsig#sha1"),
            good.replace("URI=\"#Body-1\"", "URI=\"file:///etc/passwd\""),
            good.replace(
                "<ds:SignedInfo>",
                &format!("<ds:SignedInfo>{}", "<ds:Object/>".repeat(100)),
            ),
            good.replace("<ds:SignatureValue>", "<ds:SignatureValue>!!"),
            good.replace(&B64.encode(&w.fund.cert_der)[..40], "AAAA"),
        ];
        for (i, xml) in cases.iter().enumerate() {
            assert_ne!(xml, &good, "case {i} changed nothing");
            let e = check(&w, xml, &w.fund.cert_der, &[]).unwrap_err();
            assert!(
                e.is(ErrorCode::SignatureInvalid) || e.is(ErrorCode::CertificateUntrusted),
                "case {i}: {e:?}"
            );
        }
    }
}
