//! `qaqpa serve tls-inspect`: the reference's TLS inspection over real sockets (the
//! benchmark's subject, `scripts/bench-tls-inspect`).

use std::path::Path;
use std::sync::{Arc, Mutex};

use qaqpa_gateway::inspect::{
    AuthorityFaults, BumpConfig, InspectionAuthority, Keys, pem_certificates, serve,
};
use qaqpa_sim::trace::ROOT_CERTIFICATE_FIELD;

pub fn serve(listen: &str, origin_ca: &Path, root_out: Option<&Path>) -> Result<(), String> {
    let text = std::fs::read(origin_ca).map_err(|e| format!("{}: {e}", origin_ca.display()))?;
    let roots = pem_certificates(&text).map_err(|e| format!("{}: {e}", origin_ca.display()))?;
    let mut authority = InspectionAuthority::new(Keys::Random, AuthorityFaults::default());
    authority
        .root_der(qaqpa_sim::jiff::Timestamp::now())
        .map_err(|e| e.to_string())?;
    if let Some(out) = root_out {
        let notice = authority
            .take_notices()
            .into_iter()
            .next()
            .ok_or("the authority announced no root")?;
        let pem = &notice.1.fields[ROOT_CERTIFICATE_FIELD];
        crate::output::write_atomically(out, pem.as_bytes())
            .map_err(|e| format!("{}: {e}", out.display()))?;
    }
    let config = BumpConfig::new(Arc::new(Mutex::new(authority)), &roots, false)?;
    let listener =
        std::net::TcpListener::bind(listen).map_err(|e| format!("--listen {listen}: {e}"))?;
    eprintln!(
        "qaqpa: TLS inspection listening on {}",
        listener.local_addr().map_err(|e| e.to_string())?
    );
    serve::serve_tcp(config, listener).map_err(|e| e.to_string())
}
