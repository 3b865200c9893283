//! The mail network of an episode, as the harness lays it out, and the interface through which
//! a target places its e-mail gateway (UGEM) into it.
//!
//! The harness runs everything around the gateway: the connected departmental mail servers
//! (SMTP clients that submit, and mailboxes that receive), the external mail exchangers, and
//! the blocklist. The target only adds its gateway host(s) at `gateway`.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

/// A departmental mail system connected to the gateway (the ugem-app registration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectedSystem {
    pub id: String,
    pub domain: String,
    /// The registered mail server: it submits to the gateway and receives on port 25.
    pub server: IpAddr,
    /// The owner's mailbox (in `domain`): where a suspension notice goes.
    pub owner: String,
    /// Expected traffic per ten minutes (messages, distinct external recipients).
    pub baseline: (u32, u32),
}

// Systems the harness places but does not list in `MailWorld::systems` exist only as hosts:
// whether the gateway relays for them is then up to what its operator's desk registered.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailWorld {
    /// The gateway's address: it listens for SMTP on port 25 and sends from here.
    pub gateway: IpAddr,
    pub hostname: String,
    pub systems: Vec<ConnectedSystem>,
    /// External domains and their mail exchangers (the episode's DNS).
    pub mx: BTreeMap<String, SocketAddr>,
    /// How long the gateway keeps retrying before it bounces; scaled down for episodes of
    /// minutes (the real figure is days).
    pub retry_period_secs: u64,
    /// The instant the episode starts (the business calendar's).
    pub at: jiff::Timestamp,
}

/// A mail gateway under test.
pub trait MailGateway {
    /// Adds the gateway's host at `world.gateway` to the simulation. The harness may crash
    /// and restart that host (`Sim::crash`, `Sim::bounce`): what the gateway keeps across a
    /// restart is what it put on its own durable storage.
    fn install(&self, sim: &mut turmoil::Sim<'_>, world: &MailWorld);
}
