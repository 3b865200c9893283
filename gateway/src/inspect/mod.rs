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
