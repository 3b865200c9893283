//! `qaqpa serve bus`: the reference bus as a real process, for stock SOAP clients (zeep, a
//! SHEP client library) and for the benchmark.

use std::path::PathBuf;
use std::sync::Arc;

use qaqpa_esb::bus::{Gateway, Registry, Settings, Shared};

#[derive(clap::Args)]
pub struct ServeBusArgs {
    /// The address to listen on, `host:port` (`127.0.0.1:0` picks a free port; the address
    /// is printed on standard error).
    #[arg(long)]
    pub listen: String,
    /// The registry: systems, services and connections (TOML; see docs/bus.md). Without it
    /// the bus knows nobody and refuses every call with an ErrorInfo fault.
    #[arg(long)]
    pub registry: Option<PathBuf>,
    /// Which gateway this process is: `inner` (ЭҮШ) or `external` (ЭҮСШ).
    #[arg(long, default_value = "inner", value_parser = ["inner", "external"])]
    pub gateway: String,
    /// Also serve the external gateway ЭҮСШ on this address, `host:port`, over the same
    /// registry and store (the `--listen` address is then ЭҮШ's, whatever `--gateway` says).
    #[arg(long)]
    pub external_listen: Option<String>,
    /// Serving threads (each with its own runtime and provider connections).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub threads: u16,
    /// The seed of the bus's identifiers (message and session GUIDs), to repeat a session's
    /// identifiers exactly; by default the start time, so a restarted bus never hands out
    /// the identifiers of its previous run again.
    #[arg(long)]
    pub seed: Option<u64>,
    /// The CA root (PEM or DER) transport certificates must chain to (the NCA RK's). With it,
    /// every message must carry its sender's WS-Security signature made with the certificate
    /// the registry names for it (docs/bus.md); without it, signatures are not required.
    #[arg(long)]
    pub ca_root: Option<PathBuf>,
}

pub fn serve_bus(args: &ServeBusArgs) -> Result<(), String> {
    let registry = match &args.registry {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
            let dir = p.parent().unwrap_or(std::path::Path::new(""));
            qaqpa_esb::config::read_registry_in(&text, &p.display().to_string(), dir)?
        }
        None => Registry::default(),
    };
    let gateway = if args.gateway == "external" && args.external_listen.is_none() {
        Gateway::External
    } else {
        Gateway::Inner
    };
    let trust = match &args.ca_root {
        Some(p) => {
            let bytes = std::fs::read(p).map_err(|e| format!("--ca-root {}: {e}", p.display()))?;
            Some(Arc::new(qaqpa_esb::wssec::Trust::from_file_bytes(
                &bytes,
                &format!("--ca-root {}", p.display()),
            )?))
        }
        None => None,
    };
    let signatures = if trust.is_some() {
        "signatures required"
    } else {
        "signatures not required (no --ca-root)"
    };
    let listener = std::net::TcpListener::bind(&args.listen)
        .map_err(|e| format!("--listen {}: {e}", args.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    eprintln!(
        "qaqpa: bus ({} gateway) listening on {addr}: http://{addr}/SyncChannel/v10?wsdl, http://{addr}/AsyncChannel/v10?wsdl; {} services, {} systems; {signatures}",
        gateway.as_str(),
        registry.services.len(),
        registry.systems.len()
    );
    let shared = Shared::new(
        registry,
        Settings {
            trust,
            ..Settings::default()
        },
        args.seed.unwrap_or_else(|| {
            let t = jiff::Timestamp::now();
            (t.as_second() as u64) ^ u64::from(t.subsec_nanosecond().unsigned_abs()).rotate_left(32)
        }),
        Arc::new(jiff::Timestamp::now),
    );
    let threads = usize::from(args.threads);
    let external = match &args.external_listen {
        Some(a) => {
            let l = std::net::TcpListener::bind(a)
                .map_err(|e| format!("--external-listen {a}: {e}"))?;
            let ext = l.local_addr().map_err(|e| e.to_string())?;
            eprintln!(
                "qaqpa: bus (external gateway ЭҮСШ) listening on {ext}: http://{ext}/SyncChannel/v10?wsdl, http://{ext}/AsyncChannel/v10?wsdl"
            );
            let shared = shared.clone();
            Some((
                ext,
                std::thread::spawn(move || qaqpa_esb::external::serve_tcp(shared, l, threads)),
            ))
        }
        None => None,
    };
    qaqpa_esb::http::serve_tcp(shared, gateway, listener, threads)
        .map_err(|e| format!("serving on {addr}: {e}"))?;
    if let Some((ext, h)) = external {
        h.join()
            .map_err(|_| format!("serving on {ext}: the thread panicked"))?
            .map_err(|e| format!("serving on {ext}: {e}"))?;
    }
    Ok(())
}
