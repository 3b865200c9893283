//! The harness's TLS endpoints around an Internet access gateway (ugia-20, 21, 23): a
//! "public" certificate authority standing in for the web PKI, origins outside that serve a
//! simple HTTP answer under a certificate from it, and Users' workstations inside whose trust
//! store holds the public CA and, when the User installed it, the UGIA root the STS announced.
//!
//! Each end is a [`StreamApp`]: the packet world's TCP stack hands it bytes, it answers bytes.
//! What each end observes goes into the trace: the chain a workstation was shown (every
//! certificate, DER), whether its trust store accepted it and with what error, the plaintext
//! each side sent and received (digests), and, for an origin, whether the TCP bytes it received
//! were exactly those one of the harness's workstations sent (a session that crossed the
//! gateway untouched): the harness holds both ends, so it compares them itself.
//!
//! Every key comes from the scenario's seed (Ed25519) and every date from the simulated
//! clock, so the certificates are the same run to run; the TLS sessions' own randomness
//! (key shares, randoms) comes from the operating system, so ciphertext differs run to run
//! and nothing in the trace depends on it. The session keys of every end are written in the
//! NSS key-log format ([`KeyLogLines`]) so that Wireshark decrypts the captures.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine;
use jiff::Timestamp;
use qaqpa_sim::stream::StreamApp;
use qaqpa_sim::trace::{Event, StreamDigest, TlsClientSeen, TlsOriginSeen, TlsOutcome};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SerialNumber,
};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::time_provider::TimeProvider;
use rustls::{
    ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, ServerConfig,
    ServerConnection, SignatureScheme,
};
use sha2::{Digest, Sha256};

/// The `what` of the harness's note (`Event::Network`) that places a site outside: fields
/// `site` (its name), `address`, `category` (the scenario's statement of what the site is) and
/// `certificate` (SHA-256 of the origin's own certificate). The oracles take a site's category
/// from here, never from the gateway.
pub const SITE_NOTE: &str = "tls-site";

/// The harness's note placing `site` at `address` with the scenario's `category`.
pub fn site_note(
    site: &OriginSite,
    address: &str,
    category: &str,
) -> qaqpa_sim::trace::NetworkNote {
    qaqpa_sim::trace::NetworkNote {
        what: SITE_NOTE.into(),
        fields: BTreeMap::from([
            ("site".to_string(), site.name.clone()),
            ("address".to_string(), address.to_string()),
            ("category".to_string(), category.to_string()),
            (
                "certificate".to_string(),
                site.chain.first().cloned().unwrap_or_default(),
            ),
        ]),
    }
}

/// The most of an answer a workstation takes in; more is a failed session.
const MAX_ANSWER: u64 = 64 << 20;
/// The most of a request an origin reads before it answers anyway.
const MAX_REQUEST: usize = 64 * 1024;

/// SHA-256 of `bytes`, lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The clock the harness's TLS sessions read: the instant of the stack's last call.
#[derive(Debug, Default)]
pub struct HarnessClock(AtomicI64);

impl HarnessClock {
    pub fn set(&self, at: Timestamp) {
        self.0.store(at.as_microsecond(), Ordering::Relaxed);
    }
}

impl TimeProvider for HarnessClock {
    fn current_time(&self) -> Option<UnixTime> {
        let us = u64::try_from(self.0.load(Ordering::Relaxed)).ok()?;
        Some(UnixTime::since_unix_epoch(
            std::time::Duration::from_micros(us),
        ))
    }
}

/// Session secrets in the NSS key-log format, one line each, shared by every harness end of a
/// scenario: `traces/<scenario>.keylog`.
#[derive(Debug, Default, Clone)]
pub struct KeyLogLines(Arc<Mutex<String>>);

impl KeyLogLines {
    pub fn text(&self) -> String {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl rustls::KeyLog for KeyLogLines {
    fn log(&self, label: &str, client_random: &[u8], secret: &[u8]) {
        let line = format!("{label} {} {}\n", hex(client_random), hex(secret));
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_str(&line);
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HarnessTlsError {
    #[error("the harness's public CA: {0}")]
    Rcgen(#[from] rcgen::Error),
    #[error("the harness's public CA: {0}")]
    Eds(#[from] qaqpa_sim::eds::EdsError),
    #[error("the harness's TLS settings: {0}")]
    Tls(#[from] rustls::Error),
    #[error("`{0}` is not a server name a certificate can carry")]
    Name(String),
}

/// The harness's stand-in for the public web PKI: one root, and a certificate for each origin.
pub struct PublicCa {
    seed: u64,
    issuer: Issuer<'static, KeyPair>,
    der: CertificateDer<'static>,
    pem: String,
    next_serial: u64,
    start: Timestamp,
}

impl PublicCa {
    /// A root valid from a year before `start` to ten years after.
    pub fn new(seed: u64, start: Timestamp) -> Result<PublicCa, HarnessTlsError> {
        let key = qaqpa_sim::eds::key(seed, "public-web-ca")?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, "qaqpa harness");
        dn.push(DnType::CommonName, "qaqpa public web CA");
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.serial_number = Some(SerialNumber::from_slice(&[1]));
        set_days(&mut params, start, -365, 3653)?;
        let cert = params.self_signed(&key)?;
        let der = cert.der().clone();
        Ok(PublicCa {
            seed,
            issuer: Issuer::new(params, key),
            der,
            pem: cert.pem(),
            next_serial: 0x100,
            start,
        })
    }

    /// The root (DER) workstations and the gateway trust for origins.
    pub fn root(&self) -> &[u8] {
        &self.der
    }

    /// The root as PEM, as the gateway's people install it in its trust store.
    pub fn root_pem(&self) -> &str {
        &self.pem
    }

    /// An origin's chain (its certificate, DER) and key, for `name`, valid for a year around
    /// the scenario's start.
    pub fn issue(
        &mut self,
        name: &str,
    ) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), HarnessTlsError> {
        let key = qaqpa_sim::eds::key(self.seed, &format!("public-web-origin:{name}"))?;
        let mut params = CertificateParams::new(vec![name.to_string()])
            .map_err(|_| HarnessTlsError::Name(name.to_string()))?;
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        params.serial_number = Some(SerialNumber::from(self.next_serial.to_be_bytes().to_vec()));
        self.next_serial += 1;
        set_days(&mut params, self.start, -180, 185)?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok((
            vec![cert.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        ))
    }
}

fn set_days(
    params: &mut CertificateParams,
    around: Timestamp,
    from: i64,
    to: i64,
) -> Result<(), HarnessTlsError> {
    let (y, m, d) = qaqpa_sim::eds::day_from(around, from)?;
    params.not_before = rcgen::date_time_ymd(y, m, d);
    let (y, m, d) = qaqpa_sim::eds::day_from(around, to)?;
    params.not_after = rcgen::date_time_ymd(y, m, d);
    Ok(())
}

/// What the harness's ends of one scenario share: the clock, the key log, and the raw TCP
/// streams the workstations sent (for the origins to compare theirs with).
#[derive(Clone, Default)]
pub struct HarnessTls {
    pub clock: Arc<HarnessClock>,
    pub keylog: KeyLogLines,
    sent: Arc<Mutex<BTreeMap<String, Sha256>>>,
    /// The scenario's seed: every TLS end of the harness draws its randomness from it, so the
    /// same seed puts the same ciphertext on the wires.
    seed: u64,
}

impl HarnessTls {
    pub fn new(seed: u64) -> HarnessTls {
        HarnessTls {
            seed,
            ..HarnessTls::default()
        }
    }

    /// The crypto of one harness TLS end, named by `end` (unique in the scenario).
    fn provider(&self, end: &str) -> Arc<CryptoProvider> {
        qaqpa_sim::seeded_tls::provider(self.seed, &format!("harness:{end}"))
    }

    fn record_sent(&self, session: &str, bytes: &[u8]) {
        let mut sent = self.sent.lock().unwrap_or_else(|e| e.into_inner());
        sent.entry(session.to_string()).or_default().update(bytes);
    }

    /// The workstation session whose TCP bytes, so far, are exactly `received`'s.
    fn sender_of(&self, received: &Sha256) -> Option<String> {
        let digest = received.clone().finalize();
        let sent = self.sent.lock().unwrap_or_else(|e| e.into_inner());
        sent.iter()
            .find(|(_, h)| (*h).clone().finalize() == digest)
            .map(|(s, _)| s.clone())
    }
}

/// A stream's digest, built as bytes pass.
#[derive(Default, Clone)]
struct Tally {
    bytes: u64,
    hash: Sha256,
}

impl Tally {
    fn add(&mut self, b: &[u8]) {
        self.bytes += b.len() as u64;
        self.hash.update(b);
    }

    fn digest(&self) -> StreamDigest {
        StreamDigest {
            bytes: self.bytes,
            sha256: hex(&self.hash.clone().finalize()),
        }
    }
}

/// The page an origin serves: known bytes, the same for every connection to the site.
pub fn page(site: &str, bytes: usize) -> Vec<u8> {
    let line = format!("qaqpa harness origin {site}: this page is what the origin sent.\n");
    line.as_bytes()
        .iter()
        .copied()
        .cycle()
        .take(bytes.max(1))
        .collect()
}

/// The answer an origin sends: an HTTP/1.1 200 with [`page`] as its body.
pub fn answer(site: &str, bytes: usize) -> Vec<u8> {
    let body = page(site, bytes);
    let mut out = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(&body);
    out
}

/// One site outside: its name, its certificate from the public CA, the page it serves.
#[derive(Clone)]
pub struct OriginSite {
    pub name: String,
    config: Arc<ServerConfig>,
    chain: Vec<String>,
    page_bytes: usize,
}

impl OriginSite {
    pub fn new(
        name: &str,
        ca: &mut PublicCa,
        shared: &HarnessTls,
        page_bytes: usize,
    ) -> Result<OriginSite, HarnessTlsError> {
        let (chain, key) = ca.issue(name)?;
        let fingerprints = chain.iter().map(|c| sha256_hex(c)).collect();
        let mut config = ServerConfig::builder_with_details(
            shared.provider(&format!("origin:{name}")),
            shared.clock.clone(),
        )
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
        config.key_log = Arc::new(shared.keylog.clone());
        Ok(OriginSite {
            name: name.to_string(),
            config: Arc::new(config),
            chain: fingerprints,
            page_bytes,
        })
    }

    /// SHA-256 of the origin's own certificates, leaf first.
    pub fn chain(&self) -> &[String] {
        &self.chain
    }

    /// The end for one accepted connection, named `connection`.
    pub fn accept(&self, connection: String, shared: &HarnessTls) -> TlsOrigin {
        TlsOrigin {
            site: self.clone(),
            connection,
            shared: shared.clone(),
            conn: ServerConnection::new(self.config.clone()).map_err(|e| e.to_string()),
            raw_in: Tally::default(),
            plain_in: Tally::default(),
            plain_out: Tally::default(),
            request: Vec::new(),
            answered: false,
            finished: false,
            error: String::new(),
            handshake: false,
            server_name: None,
            report: None,
            reported: false,
        }
    }
}

/// A harness origin's end of one connection.
pub struct TlsOrigin {
    site: OriginSite,
    connection: String,
    shared: HarnessTls,
    conn: Result<ServerConnection, String>,
    raw_in: Tally,
    plain_in: Tally,
    plain_out: Tally,
    request: Vec<u8>,
    answered: bool,
    finished: bool,
    error: String,
    handshake: bool,
    server_name: Option<String>,
    report: Option<TlsOriginSeen>,
    reported: bool,
}

impl TlsOrigin {
    fn fail(&mut self, why: String) {
        if self.error.is_empty() {
            self.error = why;
        }
        self.finished = true;
    }

    fn seen(&self) -> TlsOriginSeen {
        let request = self
            .request
            .split(|b| *b == b'\n')
            .next()
            .map(|l| String::from_utf8_lossy(l).trim_end().to_string())
            .unwrap_or_default();
        TlsOriginSeen {
            origin: self.site.name.clone(),
            connection: self.connection.clone(),
            server_name: self.server_name.clone(),
            chain: self.site.chain.clone(),
            handshake: self.handshake,
            error: self.error.clone(),
            request,
            received: self.plain_in.digest(),
            sent: self.plain_out.digest(),
            unchanged_from: self.shared.sender_of(&self.raw_in.hash),
        }
    }
}

impl StreamApp for TlsOrigin {
    fn on_open(&mut self, at: Timestamp) -> Vec<u8> {
        self.shared.clock.set(at);
        if let Err(e) = &self.conn {
            let e = e.clone();
            self.fail(e);
        }
        Vec::new()
    }

    fn on_data(&mut self, at: Timestamp, mut data: &[u8]) -> Vec<u8> {
        self.shared.clock.set(at);
        self.raw_in.add(data);
        let mut out = Vec::new();
        if self.finished {
            return out;
        }
        let Ok(conn) = &mut self.conn else {
            return out;
        };
        let mut failure = None;
        while !data.is_empty() {
            if let Err(e) = conn.read_tls(&mut data) {
                failure = Some(e.to_string());
                break;
            }
            if let Err(e) = conn.process_new_packets() {
                failure = Some(e.to_string());
                break;
            }
            if self.server_name.is_none() {
                self.server_name = conn.server_name().map(str::to_string);
            }
            let mut buf = [0u8; 16 * 1024];
            loop {
                match conn.reader().read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        self.plain_in.add(&buf[..n]);
                        if self.request.len() < MAX_REQUEST {
                            self.request.extend_from_slice(&buf[..n]);
                        }
                    }
                    Err(_) => break,
                }
            }
        }
        self.handshake |= !conn.is_handshaking();
        let complete =
            self.request.windows(4).any(|w| w == b"\r\n\r\n") || self.request.len() >= MAX_REQUEST;
        if failure.is_none() && complete && !self.answered {
            let answer = answer(&self.site.name, self.site.page_bytes);
            conn.set_buffer_limit(None);
            match conn.writer().write_all(&answer) {
                Ok(()) => {
                    self.plain_out.add(&answer);
                    conn.send_close_notify();
                    self.answered = true;
                }
                Err(e) => failure = Some(e.to_string()),
            }
        }
        // An alert for a failure goes out too.
        while conn.wants_write() {
            if conn.write_tls(&mut out).is_err() {
                break;
            }
        }
        if let Some(e) = failure {
            self.fail(e);
        } else if self.answered {
            self.finished = true;
        }
        out
    }

    fn on_close(&mut self, at: Timestamp, reset: bool) {
        self.shared.clock.set(at);
        if !self.answered && self.error.is_empty() {
            self.error = if reset {
                "the connection was reset before a request came".into()
            } else {
                "the connection was closed before a request came".into()
            };
        }
        self.finished = true;
        if self.report.is_none() {
            self.report = Some(self.seen());
        }
    }

    fn finished(&self) -> bool {
        self.finished
    }

    /// One observation per connection, once it is closed: only then is it known whether all
    /// its bytes came from one workstation.
    fn observations(&mut self) -> Vec<Event> {
        match (&self.report, self.reported) {
            (Some(r), false) => {
                self.reported = true;
                vec![Event::TlsOrigin(r.clone())]
            }
            _ => Vec::new(),
        }
    }
}

/// A workstation's verifier: records the chain it is shown, then asks the web PKI verifier.
#[derive(Debug)]
struct Recording {
    inner: Arc<WebPkiServerVerifier>,
    shown: Arc<Mutex<Vec<CertificateDer<'static>>>>,
}

impl ServerCertVerifier for Recording {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let mut shown = self.shown.lock().unwrap_or_else(|e| e.into_inner());
        *shown = std::iter::once(end_entity)
            .chain(intermediates)
            .map(|c| c.clone().into_owned())
            .collect();
        drop(shown);
        self.inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// What a workstation's session is: who opens it, to where, trusting what.
pub struct SessionPlan {
    pub workstation: String,
    /// Unique in the scenario.
    pub session: String,
    pub server_name: String,
    pub dst: String,
    pub dport: u16,
    /// The workstation's trust store (DER) besides the UGIA roots: the public CA.
    pub trusted: Vec<Vec<u8>>,
    /// The UGIA roots its User installed: every root the telecom operator passed on before
    /// the session opened; `None` for a User who installed none.
    pub ugia_roots: Option<RootBook>,
}

/// The UGIA roots the telecom operator received in the STS's notices and passed on to its
/// Users (ugia-22, the harness's part), with the instant each arrived.
#[derive(Debug, Clone, Default)]
pub struct RootBook(Arc<Mutex<Vec<(Timestamp, Vec<u8>)>>>);

impl RootBook {
    /// A root certificate notice arrived at `at`: its certificate (PEM) joins the book; a
    /// notice without a readable certificate passes nothing on.
    pub fn add_notice(&self, at: Timestamp, doc: &qaqpa_sim::trace::Document) {
        if doc.doc != qaqpa_sim::trace::DocKind::RootCertificateNotice {
            return;
        }
        let Some(pem) = doc.fields.get(qaqpa_sim::trace::ROOT_CERTIFICATE_FIELD) else {
            return;
        };
        if let Ok((_, p)) = x509_parser::pem::parse_x509_pem(pem.as_bytes()) {
            self.0
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((at, p.contents));
        }
    }

    /// The roots passed on at or before `at`.
    pub fn before(&self, at: Timestamp) -> Vec<Vec<u8>> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|(t, _)| *t <= at)
            .map(|(_, d)| d.clone())
            .collect()
    }
}

/// A workstation's end of one TLS session: it sends `GET /` for its server name and reads the
/// answer to the end.
pub struct TlsClient {
    plan: SessionPlan,
    shared: HarnessTls,
    conn: Result<ClientConnection, String>,
    /// The trust store this session used (DER), fixed when it opened.
    trust: Vec<Vec<u8>>,
    shown: Arc<Mutex<Vec<CertificateDer<'static>>>>,
    outcome: Option<TlsOutcome>,
    error: String,
    requested: bool,
    plain_out: Tally,
    plain_in: Tally,
    finished: bool,
    reported: bool,
    started: Option<Timestamp>,
}

impl TlsClient {
    pub fn new(plan: SessionPlan, shared: &HarnessTls) -> TlsClient {
        TlsClient {
            plan,
            shared: shared.clone(),
            conn: Err("the session has not opened".into()),
            trust: Vec::new(),
            shown: Arc::new(Mutex::new(Vec::new())),
            outcome: None,
            error: String::new(),
            requested: false,
            plain_out: Tally::default(),
            plain_in: Tally::default(),
            finished: false,
            reported: false,
            started: None,
        }
    }

    fn connect(
        plan: &SessionPlan,
        trust: &[Vec<u8>],
        shared: &HarnessTls,
        shown: &Arc<Mutex<Vec<CertificateDer<'static>>>>,
    ) -> Result<ClientConnection, HarnessTlsError> {
        let mut roots = RootCertStore::empty();
        for r in trust {
            roots.add(CertificateDer::from(r.clone()))?;
        }
        let provider = shared.provider(&format!("workstation:{}", plan.session));
        let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .map_err(|e| rustls::Error::General(e.to_string()))?;
        let mut config = ClientConfig::builder_with_details(provider, shared.clock.clone())
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Recording {
                inner,
                shown: shown.clone(),
            }))
            .with_no_client_auth();
        // Every session shows its certificate: no resumption.
        config.resumption = rustls::client::Resumption::disabled();
        config.key_log = Arc::new(shared.keylog.clone());
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let name = ServerName::try_from(plan.server_name.clone())
            .map_err(|_| HarnessTlsError::Name(plan.server_name.clone()))?;
        Ok(ClientConnection::new(Arc::new(config), name)?)
    }

    fn end(&mut self, outcome: TlsOutcome, error: String) {
        if self.outcome.is_none() {
            self.outcome = Some(outcome);
            self.error = error;
        }
        self.finished = true;
    }

    fn send(&mut self, out: Vec<u8>) -> Vec<u8> {
        if !out.is_empty() {
            self.shared.record_sent(&self.plan.session, &out);
        }
        out
    }

    fn flush(conn: &mut ClientConnection) -> Vec<u8> {
        let mut out = Vec::new();
        while conn.wants_write() {
            if conn.write_tls(&mut out).is_err() {
                break;
            }
        }
        out
    }
}

impl StreamApp for TlsClient {
    fn on_open(&mut self, at: Timestamp) -> Vec<u8> {
        self.shared.clock.set(at);
        self.started.get_or_insert(at);
        // The trust store as the User has it now: the public CA, and the UGIA roots passed
        // on so far if the User installs them.
        self.trust = self.plan.trusted.clone();
        if let Some(book) = &self.plan.ugia_roots {
            for r in book.before(at) {
                if !self.trust.contains(&r) {
                    self.trust.push(r);
                }
            }
        }
        self.conn = Self::connect(&self.plan, &self.trust, &self.shared, &self.shown)
            .map_err(|e| e.to_string());
        let out = match &mut self.conn {
            Ok(conn) => Self::flush(conn),
            Err(e) => {
                let e = format!("the workstation could not start its session: {e}");
                self.end(TlsOutcome::Failed, e);
                Vec::new()
            }
        };
        self.send(out)
    }

    fn on_data(&mut self, at: Timestamp, mut data: &[u8]) -> Vec<u8> {
        self.shared.clock.set(at);
        let Ok(conn) = &mut self.conn else {
            return Vec::new();
        };
        if self.finished {
            return Vec::new();
        }
        let mut ended = None;
        while !data.is_empty() && ended.is_none() {
            if let Err(e) = conn.read_tls(&mut data) {
                ended = Some((TlsOutcome::Failed, e.to_string()));
                break;
            }
            match conn.process_new_packets() {
                Err(e @ rustls::Error::InvalidCertificate(_)) => {
                    ended = Some((TlsOutcome::CertificateError, e.to_string()));
                }
                Err(e) => ended = Some((TlsOutcome::Failed, e.to_string())),
                Ok(_) => {}
            }
            let mut buf = [0u8; 16 * 1024];
            loop {
                match conn.reader().read(&mut buf) {
                    Ok(0) => {
                        // The origin's close_notify: the answer is whole.
                        conn.send_close_notify();
                        ended.get_or_insert((TlsOutcome::Completed, String::new()));
                        break;
                    }
                    Ok(n) => {
                        self.plain_in.add(&buf[..n]);
                        if self.plain_in.bytes > MAX_ANSWER {
                            ended = Some((
                                TlsOutcome::Failed,
                                format!("the answer ran past {MAX_ANSWER} bytes"),
                            ));
                            break;
                        }
                    }
                    Err(_) => break,
                }
            }
        }
        if ended.is_none() && !conn.is_handshaking() && !self.requested {
            let request = format!(
                "GET / HTTP/1.1\r\nHost: {}\r\nUser-Agent: qaqpa-workstation\r\nConnection: close\r\n\r\n",
                self.plan.server_name
            );
            if conn.writer().write_all(request.as_bytes()).is_ok() {
                self.plain_out.add(request.as_bytes());
            }
            self.requested = true;
        }
        let out = Self::flush(conn);
        if let Some((outcome, error)) = ended {
            // A session whose handshake completed stays completed whatever broke after it.
            let outcome = if outcome == TlsOutcome::Failed && !conn.is_handshaking() {
                TlsOutcome::Completed
            } else {
                outcome
            };
            self.end(outcome, error);
        }
        self.send(out)
    }

    fn on_close(&mut self, at: Timestamp, reset: bool) {
        self.shared.clock.set(at);
        // A connection that never opened ends at the instant the stack gave up.
        self.started.get_or_insert(at);
        let handshake_done = self.conn.as_ref().is_ok_and(|c| !c.is_handshaking());
        if handshake_done {
            self.end(TlsOutcome::Completed, String::new());
        } else {
            self.end(
                TlsOutcome::Failed,
                if reset {
                    "the connection was reset before the handshake completed".into()
                } else {
                    "the connection was closed before the handshake completed".into()
                },
            );
        }
    }

    fn finished(&self) -> bool {
        self.finished
    }

    fn observations(&mut self) -> Vec<Event> {
        if !self.finished || self.reported {
            return Vec::new();
        }
        self.reported = true;
        let b64 = base64::engine::general_purpose::STANDARD;
        let chain = self
            .shown
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|c| b64.encode(c))
            .collect();
        vec![Event::TlsClient(TlsClientSeen {
            workstation: self.plan.workstation.clone(),
            session: self.plan.session.clone(),
            started: self.started.unwrap_or(jiff::Timestamp::UNIX_EPOCH),
            server_name: self.plan.server_name.clone(),
            dst: self.plan.dst.clone(),
            dport: self.plan.dport,
            trusted: self.trust.iter().map(|c| sha256_hex(c)).collect(),
            chain,
            outcome: self.outcome.unwrap_or(TlsOutcome::Failed),
            error: self.error.clone(),
            sent: self.plain_out.digest(),
            received: self.plain_in.digest(),
        })]
    }
}

/// The harness's web around a gateway for one scenario: the public CA and its origins, what
/// the ends share, and the roots the telecom operator passes on.
pub struct HarnessWeb {
    pub ca: PublicCa,
    pub shared: HarnessTls,
    pub roots: RootBook,
    sites: BTreeMap<String, OriginSite>,
    sessions: BTreeMap<String, u32>,
}

/// The page an origin of the packet world serves.
pub const PAGE_BYTES: usize = 2000;

impl HarnessWeb {
    pub fn new(seed: u64, start: Timestamp) -> Result<HarnessWeb, HarnessTlsError> {
        Ok(HarnessWeb {
            ca: PublicCa::new(seed, start)?,
            shared: HarnessTls::new(seed),
            roots: RootBook::default(),
            sites: BTreeMap::new(),
            sessions: BTreeMap::new(),
        })
    }

    /// The origin for `name`, its certificate issued on first use.
    pub fn site(&mut self, name: &str) -> Result<OriginSite, HarnessTlsError> {
        if let Some(s) = self.sites.get(name) {
            return Ok(s.clone());
        }
        let s = OriginSite::new(name, &mut self.ca, &self.shared, PAGE_BYTES)?;
        self.sites.insert(name.to_string(), s.clone());
        Ok(s)
    }

    /// The next session's name for `workstation`.
    pub fn session_name(&mut self, workstation: &str) -> String {
        let n = self.sessions.entry(workstation.to_string()).or_default();
        *n += 1;
        format!("{workstation}/{n}")
    }
}
