//! `Bump`: the gateway's hold on a TLS session it inspects (ugia-20). Towards the inside client
//! it is a TLS server presenting a certificate the UGIA authority minted for the name the
//! ClientHello asked for; towards the origin it is a TLS client that verifies the origin's
//! chain against the gateway's trust store; plaintext is relayed both ways.
//!
//! The origin is verified first: the client's ClientHello is held (rustls's `Acceptor`) until
//! the origin's handshake completes, so a client is never given a minted certificate for an
//! origin the gateway could not verify, and the session the client sees negotiates the
//! application protocol (ALPN) the origin chose. Anything wrong (a ClientHello that does not
//! parse or names no server, an origin that fails verification, a TLS alert from either side,
//! buffers past their bound) ends in [`StreamRelay::failed`], never a panic: the proxy resets
//! both sides.
//!
//! Sans-IO: bytes in, bytes out, time explicit. The simulated gateway's stack and the
//! real-socket proxy (`qaqpa serve tls-inspect`) drive the same code.

use std::io::{Read, Write};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use jiff::Timestamp;
use qaqpa_sim::stream::StreamRelay;
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::{Accepted, Acceptor, ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::time_provider::TimeProvider;
use rustls::{ClientConfig, ClientConnection, Connection, RootCertStore, ServerConfig};

use super::InspectionAuthority;

/// Bytes a relay may hold for one connection (both directions, ciphertext and plaintext)
/// before it gives up: a peer that sends faster than the other side takes is stopped here.
pub const BUFFER_LIMIT: usize = 32 << 20;

/// The clock rustls reads while a relay works: the instant of the call in simulation (so
/// certificate validity follows the simulated clock), the wall clock over real sockets.
#[derive(Debug)]
pub struct RelayClock {
    /// Microseconds since the Unix epoch of the last call; `None` for the wall clock.
    micros: Option<AtomicI64>,
}

impl RelayClock {
    fn set(&self, at: Timestamp) {
        if let Some(m) = &self.micros {
            m.store(at.as_microsecond(), Ordering::Relaxed);
        }
    }
}

impl TimeProvider for RelayClock {
    fn current_time(&self) -> Option<UnixTime> {
        let d = match &self.micros {
            Some(m) => {
                std::time::Duration::from_micros(u64::try_from(m.load(Ordering::Relaxed)).ok()?)
            }
            None => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .ok()?,
        };
        Some(UnixTime::since_unix_epoch(d))
    }
}

/// What every relay of one gateway shares: the authority, the trust store origins are
/// verified against, the TLS settings of both sides.
#[derive(Clone)]
pub struct BumpConfig {
    authority: Arc<Mutex<InspectionAuthority>>,
    clock: Arc<RelayClock>,
    /// Towards origins.
    client: Arc<ClientConfig>,
    /// Towards inside clients, without a certificate (each session gets its own).
    server: Arc<ServerConfig>,
}

/// Presents the one certificate minted for this session.
#[derive(Debug)]
struct Minted(Arc<CertifiedKey>);

impl ResolvesServerCert for Minted {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
}

impl BumpConfig {
    /// `origin_roots`: the certificate authorities the gateway trusts for origins (DER).
    /// `simulated`: time comes from each call's instant; otherwise from the wall clock.
    pub fn new(
        authority: Arc<Mutex<InspectionAuthority>>,
        origin_roots: &[Vec<u8>],
        simulated: bool,
    ) -> Result<BumpConfig, String> {
        // In simulation a seeded authority's gateway also draws its TLS randomness (hello
        // randoms, key shares) from the seed, so the same seed gives the same ciphertext.
        let seed = authority.lock().unwrap_or_else(|e| e.into_inner()).seed();
        let provider: Arc<CryptoProvider> = match seed {
            Some(seed) if simulated => qaqpa_sim::seeded_tls::provider(seed, "ugia-inspection"),
            _ => Arc::new(rustls::crypto::ring::default_provider()),
        };
        let clock = Arc::new(RelayClock {
            micros: simulated.then(|| AtomicI64::new(0)),
        });
        let mut roots = RootCertStore::empty();
        for r in origin_roots {
            roots
                .add(CertificateDer::from(r.clone()))
                .map_err(|e| format!("the gateway's trust store: {e}"))?;
        }
        let verifier =
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .map_err(|e| format!("the gateway's trust store: {e}"))?;
        let client = ClientConfig::builder_with_details(provider.clone(), clock.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_webpki_verifier(verifier)
            .with_no_client_auth();
        // A placeholder resolver: each session's config carries its own minted certificate.
        let server = ServerConfig::builder_with_details(provider, clock.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(rustls::server::ResolvesServerCertUsingSni::new()));
        Ok(BumpConfig {
            authority,
            clock,
            client: Arc::new(client),
            server: Arc::new(server),
        })
    }

    pub fn authority(&self) -> &Arc<Mutex<InspectionAuthority>> {
        &self.authority
    }
}

enum Phase {
    /// Collecting the client's ClientHello.
    Hello(Box<Acceptor>),
    /// The client's ClientHello is held while the gateway's own session with the origin
    /// completes its handshake.
    Origin {
        accepted: Box<Accepted>,
        origin: Box<Connection>,
        name: String,
    },
    /// Both sessions are up: plaintext is relayed.
    Relay {
        client: Box<Connection>,
        origin: Box<Connection>,
    },
    Failed,
}

/// One inspected connection (see the module's documentation).
pub struct Bump {
    config: BumpConfig,
    phase: Phase,
    /// TLS bytes for the client and for the origin, not yet taken.
    out_client: Vec<u8>,
    out_origin: Vec<u8>,
    /// Client bytes that came while its ClientHello was held.
    held: Vec<u8>,
    /// Plaintext read from one side, not yet taken by the other's TLS session.
    plain_to_origin: Vec<u8>,
    plain_to_client: Vec<u8>,
    /// A side sent close_notify: the other side is told once its plaintext is through.
    client_closed: bool,
    origin_closed: bool,
    failed: Option<String>,
}

impl Bump {
    pub fn new(config: &BumpConfig) -> Bump {
        Bump {
            config: config.clone(),
            phase: Phase::Hello(Box::default()),
            out_client: Vec::new(),
            out_origin: Vec::new(),
            held: Vec::new(),
            plain_to_origin: Vec::new(),
            plain_to_client: Vec::new(),
            client_closed: false,
            origin_closed: false,
            failed: None,
        }
    }

    /// The server name the client asked for, once its ClientHello is read.
    pub fn server_name(&self) -> Option<&str> {
        match &self.phase {
            Phase::Origin { name, .. } => Some(name),
            _ => None,
        }
    }

    fn fail(&mut self, why: String) {
        if self.failed.is_none() {
            self.failed = Some(why);
        }
        self.phase = Phase::Failed;
        self.held.clear();
        self.plain_to_client.clear();
        self.plain_to_origin.clear();
    }

    fn held_bytes(&self) -> usize {
        self.out_client.len()
            + self.out_origin.len()
            + self.held.len()
            + self.plain_to_client.len()
            + self.plain_to_origin.len()
    }

    /// Reads the client's bytes until its ClientHello is complete, then opens the gateway's
    /// session with the origin.
    fn hello(&mut self, mut acceptor: Box<Acceptor>, mut data: &[u8]) {
        loop {
            match acceptor.read_tls(&mut data) {
                Ok(_) => {}
                Err(e) => return self.fail(format!("client: {e}")),
            }
            match acceptor.accept() {
                Ok(None) if data.is_empty() => {
                    self.phase = Phase::Hello(acceptor);
                    return;
                }
                Ok(None) => continue,
                Ok(Some(accepted)) => {
                    self.held.extend_from_slice(data);
                    return self.open_origin(Box::new(accepted));
                }
                Err((e, mut alert)) => {
                    let _ = alert.write_all(&mut self.out_client);
                    return self.fail(format!("client: {e}"));
                }
            }
        }
    }

    fn open_origin(&mut self, accepted: Box<Accepted>) {
        let hello = accepted.client_hello();
        let Some(name) = hello.server_name().map(str::to_string) else {
            return self.fail("client: the ClientHello names no server (no SNI)".into());
        };
        let alpn: Vec<Vec<u8>> = hello
            .alpn()
            .map(|a| a.map(<[u8]>::to_vec).collect())
            .unwrap_or_default();
        let server_name = match ServerName::try_from(name.clone()) {
            Ok(n) => n,
            Err(e) => return self.fail(format!("client: SNI `{name}`: {e}")),
        };
        let config = if alpn.is_empty() {
            self.config.client.clone()
        } else {
            let mut c = (*self.config.client).clone();
            c.alpn_protocols = alpn;
            Arc::new(c)
        };
        match ClientConnection::new(config, server_name) {
            Ok(mut origin) => {
                if let Err(e) = origin.write_tls(&mut self.out_origin) {
                    return self.fail(format!("origin {name}: {e}"));
                }
                self.phase = Phase::Origin {
                    accepted,
                    origin: Box::new(origin.into()),
                    name,
                };
            }
            Err(e) => self.fail(format!("origin {name}: {e}")),
        }
    }

    /// The origin's handshake completed: the client's session gets a certificate minted for
    /// the name it asked for, valid at `at`.
    fn accept_client(
        &mut self,
        at: Timestamp,
        accepted: Box<Accepted>,
        origin: Box<Connection>,
        name: String,
    ) {
        let minted = {
            let mut authority = self
                .config
                .authority
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            authority.leaf(at, &name)
        };
        let minted = match minted {
            Ok(m) => m,
            Err(e) => return self.fail(format!("minting for {name}: {e}")),
        };
        let mut server = (*self.config.server).clone();
        server.cert_resolver = Arc::new(Minted(minted));
        server.alpn_protocols = origin
            .alpn_protocol()
            .map(|p| vec![p.to_vec()])
            .unwrap_or_default();
        let client = match accepted.into_connection(Arc::new(server)) {
            Ok(c) => c,
            Err((e, mut alert)) => {
                let _ = alert.write_all(&mut self.out_client);
                return self.fail(format!("client {name}: {e}"));
            }
        };
        self.phase = Phase::Relay {
            client: Box::new(client.into()),
            origin,
        };
        let held = std::mem::take(&mut self.held);
        self.relay_in(true, &held);
    }

    /// Feeds TLS bytes from the client (`from_client`) or the origin into its session and
    /// relays what is then readable.
    fn relay_in(&mut self, from_client: bool, mut data: &[u8]) {
        let Phase::Relay { client, origin } = &mut self.phase else {
            return;
        };
        let (conn, side) = if from_client {
            (client, "client")
        } else {
            (origin, "origin")
        };
        let mut result = Ok(());
        while !data.is_empty() {
            if let Err(e) = conn.read_tls(&mut data) {
                result = Err(format!("{side}: {e}"));
                break;
            }
            if let Err(e) = conn.process_new_packets() {
                // rustls queued an alert for the side that erred.
                let out = if from_client {
                    &mut self.out_client
                } else {
                    &mut self.out_origin
                };
                let _ = conn.write_tls(out);
                result = Err(format!("{side}: {e}"));
                break;
            }
            let (plain, closed) = if from_client {
                (&mut self.plain_to_origin, &mut self.client_closed)
            } else {
                (&mut self.plain_to_client, &mut self.origin_closed)
            };
            if let Err(e) = drain_plaintext(conn, plain, closed) {
                result = Err(format!("{side}: {e}"));
                break;
            }
        }
        match result {
            Err(why) => self.fail(why),
            Ok(()) => self.pump(),
        }
    }

    /// Moves plaintext into the other side's session and that session's TLS bytes out.
    fn pump(&mut self) {
        let Phase::Relay { client, origin } = &mut self.phase else {
            return;
        };
        let mut result = Ok(());
        for (conn, plain, peer_closed, out, side) in [
            (
                &mut **origin,
                &mut self.plain_to_origin,
                self.client_closed,
                &mut self.out_origin,
                "origin",
            ),
            (
                &mut **client,
                &mut self.plain_to_client,
                self.origin_closed,
                &mut self.out_client,
                "client",
            ),
        ] {
            loop {
                let mut progress = false;
                if !plain.is_empty() {
                    match conn.writer().write(plain) {
                        Ok(n) if n > 0 => {
                            plain.drain(..n);
                            progress = true;
                        }
                        Ok(_) => {}
                        Err(e) => {
                            result = Err(format!("{side}: {e}"));
                            break;
                        }
                    }
                }
                if plain.is_empty() && peer_closed {
                    conn.send_close_notify();
                }
                while conn.wants_write() {
                    match conn.write_tls(out) {
                        Ok(0) => break,
                        Ok(_) => progress = true,
                        Err(e) => {
                            result = Err(format!("{side}: {e}"));
                            break;
                        }
                    }
                }
                if !progress || result.is_err() {
                    break;
                }
            }
        }
        if let Err(why) = result {
            self.fail(why);
        } else if self.held_bytes() > BUFFER_LIMIT {
            self.fail(format!(
                "the relay holds more than {BUFFER_LIMIT} bytes: one side sends faster than the other takes"
            ));
        }
    }
}

/// Reads every byte of plaintext the session has decrypted into `plain`; `closed` when the
/// peer sent close_notify.
fn drain_plaintext(
    conn: &mut Connection,
    plain: &mut Vec<u8>,
    closed: &mut bool,
) -> std::io::Result<()> {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match conn.reader().read(&mut buf) {
            Ok(0) => {
                *closed = true;
                return Ok(());
            }
            Ok(n) => plain.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) => return Err(e),
        }
    }
}

impl StreamRelay for Bump {
    fn from_client(&mut self, at: Timestamp, data: &[u8]) {
        self.config.clock.set(at);
        match std::mem::replace(&mut self.phase, Phase::Failed) {
            Phase::Hello(acceptor) => self.hello(acceptor, data),
            p @ Phase::Origin { .. } => {
                self.phase = p;
                self.held.extend_from_slice(data);
                if self.held_bytes() > BUFFER_LIMIT {
                    self.fail(
                        "the client sent more than a relay holds before its handshake".into(),
                    );
                }
            }
            p @ Phase::Relay { .. } => {
                self.phase = p;
                self.relay_in(true, data);
            }
            Phase::Failed => {}
        }
    }

    fn from_origin(&mut self, at: Timestamp, mut data: &[u8]) {
        self.config.clock.set(at);
        match std::mem::replace(&mut self.phase, Phase::Failed) {
            Phase::Hello(_) => {
                if !data.is_empty() {
                    self.fail("origin: sent bytes before the gateway opened its session".into());
                }
            }
            Phase::Origin {
                accepted,
                mut origin,
                name,
            } => {
                while !data.is_empty() && origin.is_handshaking() {
                    let step = origin
                        .read_tls(&mut data)
                        .map_err(|e| e.to_string())
                        .and_then(|_| origin.process_new_packets().map_err(|e| e.to_string()));
                    if let Err(e) = step {
                        let _ = origin.write_tls(&mut self.out_origin);
                        return self.fail(format!("origin {name}: {e}"));
                    }
                }
                if let Err(e) = origin.write_tls(&mut self.out_origin) {
                    return self.fail(format!("origin {name}: {e}"));
                }
                if origin.is_handshaking() {
                    self.phase = Phase::Origin {
                        accepted,
                        origin,
                        name,
                    };
                } else {
                    // What the origin sent with the end of its handshake waits in its session;
                    // what came after it is relayed once the client's session is up.
                    if let Err(e) = drain_plaintext(
                        &mut origin,
                        &mut self.plain_to_client,
                        &mut self.origin_closed,
                    ) {
                        return self.fail(format!("origin {name}: {e}"));
                    }
                    self.accept_client(at, accepted, origin, name);
                    self.relay_in(false, data);
                }
            }
            p @ Phase::Relay { .. } => {
                self.phase = p;
                self.relay_in(false, data);
            }
            Phase::Failed => {}
        }
    }

    fn to_client(&mut self) -> Vec<u8> {
        self.pump();
        std::mem::take(&mut self.out_client)
    }

    fn to_origin(&mut self) -> Vec<u8> {
        self.pump();
        std::mem::take(&mut self.out_origin)
    }

    fn failed(&self) -> Option<String> {
        self.failed.clone()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::inspect::{AuthorityFaults, Keys};
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    use rustls::{ServerConnection, StreamOwned};

    pub(crate) fn t0() -> Timestamp {
        "2025-06-02T05:00:00Z".parse().unwrap()
    }

    /// A test CA standing in for the public web PKI, and an origin certificate it issued.
    pub(crate) struct Origins {
        pub ca: CertificateDer<'static>,
        issuer: Issuer<'static, KeyPair>,
    }

    impl Origins {
        pub fn new(label: &str) -> Origins {
            let key = qaqpa_sim::eds::key(7, label).unwrap();
            let mut p = CertificateParams::default();
            p.distinguished_name.push(DnType::CommonName, label);
            p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            p.not_before = rcgen::date_time_ymd(2020, 1, 1);
            p.not_after = rcgen::date_time_ymd(2030, 1, 1);
            let ca = p.self_signed(&key).unwrap().der().clone();
            Origins {
                ca,
                issuer: Issuer::new(p, key),
            }
        }

        pub fn server(&self, name: &str, alpn: &[&str]) -> Arc<ServerConfig> {
            let key = qaqpa_sim::eds::key(7, name).unwrap();
            let mut p = CertificateParams::new(vec![name.to_string()]).unwrap();
            p.not_before = rcgen::date_time_ymd(2020, 1, 1);
            p.not_after = rcgen::date_time_ymd(2030, 1, 1);
            let cert = p.signed_by(&key, &self.issuer).unwrap().der().clone();
            let mut c = ServerConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            )
            .unwrap();
            c.alpn_protocols = alpn.iter().map(|a| a.as_bytes().to_vec()).collect();
            Arc::new(c)
        }
    }

    pub(crate) fn client_config(
        roots: &[CertificateDer<'static>],
        alpn: &[&str],
    ) -> Arc<ClientConfig> {
        let mut store = RootCertStore::empty();
        for r in roots {
            store.add(r.clone()).unwrap();
        }
        let mut c = ClientConfig::builder_with_details(
            Arc::new(rustls::crypto::ring::default_provider()),
            Arc::new(RelayClock {
                micros: Some(AtomicI64::new(t0().as_microsecond())),
            }),
        )
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(store)
        .with_no_client_auth();
        c.alpn_protocols = alpn.iter().map(|a| a.as_bytes().to_vec()).collect();
        Arc::new(c)
    }

    pub(crate) fn gateway(origins: &Origins, faults: AuthorityFaults) -> BumpConfig {
        let authority = Arc::new(Mutex::new(InspectionAuthority::new(
            Keys::Seeded(42),
            faults,
        )));
        BumpConfig::new(authority, &[origins.ca.to_vec()], true).unwrap()
    }

    fn ugia_root(cfg: &BumpConfig) -> CertificateDer<'static> {
        cfg.authority().lock().unwrap().root_der(t0()).unwrap()
    }

    /// Moves bytes between a client, the relay and an origin until nothing moves, `chunk`
    /// bytes at a time.
    pub(crate) fn pump(
        bump: &mut Bump,
        client: &mut ClientConnection,
        origin: &mut ServerConnection,
        chunk: usize,
    ) -> Result<Vec<u8>, String> {
        let mut plain = Vec::new();
        for _ in 0..1000 {
            let mut moved = false;
            let mut buf = Vec::new();
            client.write_tls(&mut buf).unwrap();
            for c in buf.chunks(chunk) {
                bump.from_client(t0(), c);
                moved = true;
            }
            let to_origin = bump.to_origin();
            if !to_origin.is_empty() {
                moved = true;
                let mut rd = to_origin.as_slice();
                while !rd.is_empty() {
                    origin.read_tls(&mut rd).map_err(|e| e.to_string())?;
                    origin
                        .process_new_packets()
                        .map_err(|e| format!("origin: {e}"))?;
                }
            }
            let mut buf = Vec::new();
            origin.write_tls(&mut buf).unwrap();
            for c in buf.chunks(chunk) {
                bump.from_origin(t0(), c);
                moved = true;
            }
            let to_client = bump.to_client();
            if !to_client.is_empty() {
                moved = true;
                let mut rd = to_client.as_slice();
                while !rd.is_empty() {
                    client.read_tls(&mut rd).map_err(|e| e.to_string())?;
                    client
                        .process_new_packets()
                        .map_err(|e| format!("client: {e}"))?;
                    plain.extend(read_all(&mut client.reader()));
                }
            }
            if !moved {
                return Ok(plain);
            }
        }
        Err("the exchange never settled".into())
    }

    fn read_all(r: &mut impl Read) -> Vec<u8> {
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match r.read(&mut buf) {
                Ok(0) => return out,
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return out,
                Err(e) => panic!("{e}"),
            }
        }
    }

    fn session(
        name: &str,
        origins: &Origins,
        cfg: &BumpConfig,
        client_alpn: &[&str],
        origin_alpn: &[&str],
        chunk: usize,
    ) -> (
        Bump,
        ClientConnection,
        ServerConnection,
        Result<Vec<u8>, String>,
    ) {
        let root = ugia_root(cfg);
        let mut client = ClientConnection::new(
            client_config(&[root], client_alpn),
            ServerName::try_from(name.to_string()).unwrap(),
        )
        .unwrap();
        let mut origin = ServerConnection::new(origins.server(name, origin_alpn)).unwrap();
        let mut bump = Bump::new(cfg);
        let r = pump(&mut bump, &mut client, &mut origin, chunk);
        (bump, client, origin, r)
    }

    #[test]
    fn a_session_is_bumped_with_a_minted_leaf_and_plaintext_relayed() {
        let origins = Origins::new("harness public CA");
        let cfg = gateway(&origins, AuthorityFaults::default());
        let (mut bump, mut client, mut origin, r) = session(
            "www.bbc.com",
            &origins,
            &cfg,
            &["h2", "http/1.1"],
            &["http/1.1"],
            1 << 20,
        );
        r.unwrap();
        assert!(bump.failed().is_none(), "{:?}", bump.failed());
        assert!(!client.is_handshaking() && !origin.is_handshaking());
        // The client was shown a leaf for its name, issued under the UGIA root, not the
        // origin's own.
        let leaf = &client.peer_certificates().unwrap()[0];
        let (_, x) = x509_parser::parse_x509_certificate(leaf).unwrap();
        let root_der = ugia_root(&cfg);
        let (_, root) = x509_parser::parse_x509_certificate(&root_der).unwrap();
        assert_eq!(x.issuer(), root.subject());
        x.verify_signature(Some(root.public_key())).unwrap();
        assert!(
            x.subject_alternative_name()
                .unwrap()
                .unwrap()
                .value
                .general_names
                .iter()
                .any(|n| matches!(
                    n,
                    x509_parser::extensions::GeneralName::DNSName("www.bbc.com")
                ))
        );
        // ALPN: the client was given what the origin chose.
        assert_eq!(origin.alpn_protocol(), Some(&b"http/1.1"[..]));
        assert_eq!(client.alpn_protocol(), Some(&b"http/1.1"[..]));
        // Plaintext both ways, a large answer included.
        client
            .writer()
            .write_all(b"GET / HTTP/1.1\r\nHost: www.bbc.com\r\n\r\n")
            .unwrap();
        pump(&mut bump, &mut client, &mut origin, 1 << 20).unwrap();
        assert_eq!(
            read_all(&mut origin.reader()),
            b"GET / HTTP/1.1\r\nHost: www.bbc.com\r\n\r\n"
        );
        let body: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        origin.set_buffer_limit(None);
        origin.writer().write_all(&body).unwrap();
        origin.send_close_notify();
        let got = pump(&mut bump, &mut client, &mut origin, 1 << 20).unwrap();
        assert_eq!(got.len(), body.len());
        assert!(got == body);
        // The origin's close_notify reached the client.
        let mut b = [0u8; 1];
        assert_eq!(client.reader().read(&mut b).unwrap(), 0);
        assert!(bump.failed().is_none());
    }

    #[test]
    fn a_client_hello_split_into_single_bytes_is_read_whole() {
        let origins = Origins::new("harness public CA");
        let cfg = gateway(&origins, AuthorityFaults::default());
        let (bump, client, _, r) = session("egov.kz", &origins, &cfg, &[], &[], 1);
        r.unwrap();
        assert!(bump.failed().is_none(), "{:?}", bump.failed());
        assert!(!client.is_handshaking());
    }

    #[test]
    fn an_origin_outside_the_trust_store_fails_before_the_client_sees_a_certificate() {
        let trusted = Origins::new("harness public CA");
        let rogue = Origins::new("a CA nobody trusts");
        let cfg = gateway(&trusted, AuthorityFaults::default());
        let (bump, client, _, r) = session("www.bbc.com", &rogue, &cfg, &[], &[], 1 << 20);
        let why = bump.failed().expect("the relay gives up");
        assert!(
            why.contains("origin www.bbc.com") && why.contains("UnknownIssuer"),
            "{why}"
        );
        assert!(
            client.peer_certificates().is_none(),
            "no certificate went to the client"
        );
        let _ = r;
    }

    fn raw_client_hello(name: Option<&str>) -> Vec<u8> {
        let origins = Origins::new("x");
        let mut cfg = (*client_config(&[origins.ca.clone()], &[])).clone();
        cfg.enable_sni = name.is_some();
        let mut c = ClientConnection::new(
            Arc::new(cfg),
            ServerName::try_from(name.unwrap_or("unnamed.example").to_string()).unwrap(),
        )
        .unwrap();
        let mut out = Vec::new();
        c.write_tls(&mut out).unwrap();
        out
    }

    #[test]
    fn garbage_truncated_records_and_nameless_hellos_fail_without_a_panic() {
        let origins = Origins::new("harness public CA");
        let cfg = gateway(&origins, AuthorityFaults::default());
        let hello = raw_client_hello(Some("www.bbc.com"));
        let mut cases: Vec<(&str, Vec<u8>)> = vec![
            ("garbage", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()),
            ("zeros", vec![0; 64]),
            (
                "an oversized record",
                vec![0x16, 0x03, 0x01, 0xff, 0xff, 1, 2, 3],
            ),
            ("no SNI", raw_client_hello(None)),
        ];
        // A record cut short, then the next record starts where its body should be.
        let mut cut = hello[..hello.len() / 2].to_vec();
        cut.extend_from_slice(&[0x17; 600]);
        cases.push(("a truncated record followed by others", cut));
        // Every bit flip in the ClientHello's first 64 bytes.
        for i in 0..64 {
            let mut h = hello.clone();
            h[i] ^= 0x55;
            cases.push(("a flipped byte", h));
        }
        for (what, bytes) in cases {
            let mut b = Bump::new(&cfg);
            for c in bytes.chunks(7) {
                b.from_client(t0(), c);
            }
            let _ = (b.to_client(), b.to_origin());
            // A flipped byte may leave a ClientHello the relay still accepts, or waits on.
            if what != "a flipped byte" {
                assert!(b.failed().is_some(), "{what} is refused");
            }
        }
        // Garbage from the origin, once the relay has opened its session.
        let mut b = Bump::new(&cfg);
        b.from_client(t0(), &hello);
        assert!(!b.to_origin().is_empty(), "the relay's own ClientHello");
        b.from_origin(t0(), b"HTTP/1.1 400 Bad Request\r\n\r\n");
        assert!(b.failed().is_some());
        // An origin that speaks first.
        let mut b = Bump::new(&cfg);
        b.from_origin(t0(), b"220 smtp ready\r\n");
        assert!(b.failed().is_some());
        // A relay that has failed takes more bytes quietly.
        b.from_client(t0(), &hello);
        b.from_origin(t0(), &hello);
        assert!(b.to_client().is_empty() || b.failed().is_some());
    }

    #[test]
    fn an_alert_from_the_origin_fails_the_relay() {
        let origins = Origins::new("harness public CA");
        let cfg = gateway(&origins, AuthorityFaults::default());
        let mut b = Bump::new(&cfg);
        b.from_client(t0(), &raw_client_hello(Some("www.bbc.com")));
        let _ = b.to_origin();
        // A fatal handshake_failure alert (TLS 1.2 record framing).
        b.from_origin(t0(), &[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28]);
        let why = b.failed().expect("fails");
        assert!(
            why.contains("HandshakeFailure") || why.contains("handshake"),
            "{why}"
        );
    }

    #[test]
    fn a_client_over_a_real_stream_reads_the_origin_through_the_relay() {
        // The same relay under std's Read/Write adapters: the shape `serve tls-inspect` uses.
        let origins = Origins::new("harness public CA");
        let cfg = gateway(&origins, AuthorityFaults::default());
        let (mut bump, client, mut origin, r) = session("kaspi.kz", &origins, &cfg, &[], &[], 5);
        r.unwrap();
        struct Loop<'a> {
            bump: &'a mut Bump,
            origin: &'a mut ServerConnection,
            inbox: Vec<u8>,
        }
        impl Read for Loop<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                if self.inbox.is_empty() {
                    let mut rd = self.bump.to_origin();
                    let mut rd = rd.as_mut_slice() as &[u8];
                    while !rd.is_empty() {
                        self.origin.read_tls(&mut rd)?;
                        self.origin
                            .process_new_packets()
                            .map_err(std::io::Error::other)?;
                    }
                    let req = read_all(&mut self.origin.reader());
                    if !req.is_empty() {
                        self.origin.writer().write_all(b"pong:")?;
                        self.origin.writer().write_all(&req)?;
                    }
                    let mut out = Vec::new();
                    self.origin.write_tls(&mut out)?;
                    self.bump.from_origin(t0(), &out);
                    self.inbox = self.bump.to_client();
                }
                let n = buf.len().min(self.inbox.len());
                buf[..n].copy_from_slice(&self.inbox[..n]);
                self.inbox.drain(..n);
                Ok(n)
            }
        }
        impl Write for Loop<'_> {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.bump.from_client(t0(), buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let mut s = StreamOwned::new(
            client,
            Loop {
                bump: &mut bump,
                origin: &mut origin,
                inbox: Vec::new(),
            },
        );
        s.write_all(b"ping").unwrap();
        s.flush().unwrap();
        let mut got = [0u8; 9];
        s.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"pong:ping");
    }
}
