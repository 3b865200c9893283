//! `qaqpa serve ugem`: the reference e-mail gateway as a real process on real sockets, its
//! queue in a spool directory on disk, configured from a relay file the way a product is
//! configured from its own (Postfix's main.cf and transport map): the connected systems, the
//! routes to external exchangers, the outbound address. A live run then judges it as it
//! judges any product.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use qaqpa_mailgw::guard::{Baseline, Registry, System};
use qaqpa_mailgw::relay::{Config, Relay};
use qaqpa_mailgw::spool::Disk;
use qaqpa_mailgw::wire::BoundNet;
use serde::Deserialize;

/// The relay file of `qaqpa serve ugem --config FILE`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RelayFile {
    /// The gateway's host name (greeting, `Received:`, notices and bounces).
    pub hostname: String,
    /// The address outbound connections leave from; the system's choice when absent.
    #[serde(default)]
    pub bind: Option<IpAddr>,
    /// How long an undelivered message is retried before it bounces (default five days).
    #[serde(default = "five_days")]
    pub retry_period_seconds: u64,
    /// The first retry's delay; each further one doubles up to `retry-max-seconds`.
    #[serde(default = "five")]
    pub retry_first_seconds: u64,
    #[serde(default = "twenty")]
    pub retry_max_seconds: u64,
    /// The connected departmental systems: the gateway relays for them.
    #[serde(default)]
    pub connected: Vec<ConnectedSystem>,
    /// Where each external domain's mail goes (`*`: every other domain).
    #[serde(default)]
    pub route: Vec<Route>,
}

fn five_days() -> u64 {
    5 * 24 * 3600
}
fn five() -> u64 {
    5
}
fn twenty() -> u64 {
    20
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ConnectedSystem {
    pub id: String,
    pub domain: String,
    /// The registered mail server: it submits from this address's IP and receives here.
    pub server: SocketAddr,
    /// The owner's mailbox, told of a suspension (ugem-12).
    pub owner: String,
    /// Expected messages per ten minutes (the guard's baseline; default 10).
    #[serde(default = "ten")]
    pub baseline_messages: u32,
    /// Expected distinct external recipients per ten minutes (default 10).
    #[serde(default = "ten")]
    pub baseline_recipients: u32,
}

fn ten() -> u32 {
    10
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Route {
    pub domain: String,
    pub to: SocketAddr,
}

impl RelayFile {
    pub fn load(path: &Path) -> Result<RelayFile, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("{}: cannot read the relay file: {e}", path.display()))?;
        let f: RelayFile = toml::from_str(&text)
            .map_err(|e| format!("{}: {}", path.display(), e.to_string().trim_end()))?;
        for (i, c) in f.connected.iter().enumerate() {
            if !c.owner.contains('@') {
                return Err(format!(
                    "{}: connected[{i}].owner: `{}` is not a mailbox",
                    path.display(),
                    c.owner
                ));
            }
        }
        Ok(f)
    }

    /// The relay's configuration: the sim's timings for sessions, this file's for retries.
    pub fn config(&self) -> Config {
        let registry = Registry {
            systems: self
                .connected
                .iter()
                .map(|c| System {
                    id: c.id.clone(),
                    domain: c.domain.trim().to_ascii_lowercase(),
                    servers: vec![c.server.ip()],
                    owner: c.owner.clone(),
                    baseline: Baseline {
                        messages: c.baseline_messages,
                        recipients: c.baseline_recipients,
                    },
                })
                .collect(),
        };
        let mut cfg = Config::new(&self.hostname, registry);
        let mut routes: BTreeMap<String, SocketAddr> = self
            .route
            .iter()
            .map(|r| (r.domain.trim().to_ascii_lowercase(), r.to))
            .collect();
        for c in &self.connected {
            routes.insert(c.domain.trim().to_ascii_lowercase(), c.server);
        }
        cfg.routes = routes;
        cfg.retry_period = Duration::from_secs(self.retry_period_seconds);
        cfg.retry_first = Duration::from_secs(self.retry_first_seconds);
        cfg.retry_max = Duration::from_secs(self.retry_max_seconds);
        cfg.connect_timeout = Duration::from_secs(5);
        cfg.command_timeout = Duration::from_secs(60);
        cfg
    }
}

/// Serves until killed.
pub fn serve(listen: &str, spool: &Path, config: &Path) -> Result<(), String> {
    let file = RelayFile::load(config)?;
    std::fs::create_dir_all(spool)
        .map_err(|e| format!("--spool {}: cannot create it: {e}", spool.display()))?;
    let listener =
        std::net::TcpListener::bind(listen).map_err(|e| format!("--listen {listen}: {e}"))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| format!("--listen {listen}: {e}"))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let local = tokio::task::LocalSet::new();
    let spool: PathBuf = spool.to_path_buf();
    local.block_on(&rt, async move {
        let listener = tokio::net::TcpListener::from_std(listener)
            .map_err(|e| format!("--listen {listen}: {e}"))?;
        eprintln!(
            "qaqpa: UGEM reference listening on {} (spool {}, {} connected systems, {} routes)",
            listener.local_addr().map_err(|e| e.to_string())?,
            spool.display(),
            file.connected.len(),
            file.route.len()
        );
        let relay = Relay::boot(
            BoundNet { source: file.bind },
            file.config(),
            Disk::Dir(spool),
        );
        relay.run(listener).await.map_err(|e| e.to_string())
    })
}
