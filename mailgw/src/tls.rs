//! STARTTLS: a test certificate authority (rcgen), the relay's server configuration and a
//! client configuration trusting that CA (rustls, ring provider), with a clock that reads
//! the simulated time inside turmoil.
//!
//! Key generation draws OS randomness, so certificates and ciphertext differ from run to
//! run: the suite compares events and plaintext, never TLS bytes.

use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, UnixTime};
use rustls::time_provider::TimeProvider;
use rustls::{ClientConfig, RootCertStore, ServerConfig};

/// The wall clock, or the simulated one inside turmoil (certificate validity follows it).
#[derive(Debug)]
pub struct NetClock;

impl TimeProvider for NetClock {
    fn current_time(&self) -> Option<UnixTime> {
        let d = if turmoil::in_simulation() {
            turmoil::since_epoch()?
        } else {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .ok()?
        };
        Some(UnixTime::since_unix_epoch(d))
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A test CA and a server certificate it issued for `hostname`.
pub struct TestPki {
    pub ca: CertificateDer<'static>,
    pub server: Arc<ServerConfig>,
}

impl TestPki {
    pub fn new(hostname: &str) -> Result<TestPki, String> {
        let err = |e: rcgen::Error| format!("test CA: {e}");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "qaqpa test CA for UGEM");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_key = KeyPair::generate().map_err(err)?;
        let ca = CertifiedIssuer::self_signed(ca_params, ca_key).map_err(err)?;
        let leaf_key = KeyPair::generate().map_err(err)?;
        let mut leaf_params = CertificateParams::new(vec![hostname.to_string()]).map_err(err)?;
        leaf_params
            .distinguished_name
            .push(DnType::CommonName, hostname);
        let leaf = leaf_params.signed_by(&leaf_key, &ca).map_err(err)?;
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
        let server = ServerConfig::builder_with_details(provider(), Arc::new(NetClock))
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_no_client_auth()
            .with_single_cert(vec![leaf.der().clone(), ca.der().clone()], key)
            .map_err(|e| e.to_string())?;
        Ok(TestPki {
            ca: ca.der().clone(),
            server: Arc::new(server),
        })
    }

    /// A client that trusts only this test CA.
    pub fn client(&self) -> Arc<ClientConfig> {
        let mut roots = RootCertStore::empty();
        roots
            .add(self.ca.clone())
            .expect("the test CA is a valid certificate");
        Arc::new(
            ClientConfig::builder_with_details(provider(), Arc::new(NetClock))
                .with_safe_default_protocol_versions()
                .expect("ring supports the default versions")
                .with_root_certificates(roots)
                .with_no_client_auth(),
        )
    }
}
