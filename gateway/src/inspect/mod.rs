//! TLS inspection (ugia-20, ugia-21): the UGIA inspection authority, which holds the STS's
//! root and mints a certificate per server name, and [`Bump`], the relay the gateway's
//! terminating proxy runs for a session it inspects.

pub mod authority;
pub mod bump;
pub mod serve;

pub use authority::{AuthorityFaults, InspectionAuthority, Keys};
pub use bump::{Bump, BumpConfig};

/// The certificates (DER) of a PEM text, in order; an error names what is wrong.
pub fn pem_certificates(text: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let mut out = Vec::new();
    for pem in x509_parser::pem::Pem::iter_from_buffer(text) {
        let pem = pem.map_err(|e| format!("not PEM: {e}"))?;
        if pem.label == "CERTIFICATE" {
            out.push(pem.contents);
        }
    }
    if out.is_empty() {
        return Err("no CERTIFICATE in it".into());
    }
    Ok(out)
}

use std::sync::{Arc, Mutex};

use jiff::Timestamp;
use qaqpa_sim::stream::StreamRelay;
use qaqpa_sim::trace::Document;

/// The reference device's TLS inspection: the STS's authority, and the trust store its
/// people installed for origins (`origin-trust`). The authority lives on the device's
/// durable storage: a restart keeps the root in force.
pub struct Inspection {
    authority: Arc<Mutex<InspectionAuthority>>,
    config: Option<BumpConfig>,
    /// Why there is no relay config (no trust store yet, or a bad one).
    missing: String,
}

/// A relay that can only refuse: the gateway has no trust store to verify origins against.
struct Refused(String);

impl StreamRelay for Refused {
    fn from_client(&mut self, _: Timestamp, _: &[u8]) {}
    fn from_origin(&mut self, _: Timestamp, _: &[u8]) {}
    fn to_client(&mut self) -> Vec<u8> {
        Vec::new()
    }
    fn to_origin(&mut self) -> Vec<u8> {
        Vec::new()
    }
    fn failed(&self) -> Option<String> {
        Some(self.0.clone())
    }
}

impl Inspection {
    pub fn new(keys: Keys, faults: AuthorityFaults) -> Inspection {
        Inspection {
            authority: Arc::new(Mutex::new(InspectionAuthority::new(keys, faults))),
            config: None,
            missing: "no trust store for origins is installed".into(),
        }
    }

    fn authority(&self) -> std::sync::MutexGuard<'_, InspectionAuthority> {
        self.authority.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The device's first instant: the STS's root exists from then on (and is announced).
    pub fn wake(&mut self, at: Timestamp) -> Result<(), String> {
        self.authority()
            .root_der(at)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// The STS's act: a new root from `at`.
    pub fn rotate(&mut self, at: Timestamp) -> Result<(), String> {
        self.authority().rotate(at).map_err(|e| e.to_string())
    }

    /// The trust store for origins, from PEM certificates.
    pub fn trust(&mut self, certificates: &[String]) -> Result<(), String> {
        let mut roots = Vec::new();
        for (i, pem) in certificates.iter().enumerate() {
            roots.extend(
                pem_certificates(pem.as_bytes())
                    .map_err(|e| format!("origin-trust certificate {}: {e}", i + 1))?,
            );
        }
        self.config = Some(BumpConfig::new(self.authority.clone(), &roots, true)?);
        Ok(())
    }

    pub fn notices(&mut self) -> Vec<(Timestamp, Document)> {
        self.authority().take_notices()
    }

    /// The relay for one inspected session.
    pub fn relay(&self) -> Box<dyn StreamRelay> {
        match &self.config {
            Some(c) => Box::new(Bump::new(c)),
            None => Box::new(Refused(self.missing.clone())),
        }
    }
}
