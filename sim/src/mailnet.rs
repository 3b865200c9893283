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

/// A mail gateway that runs as a real product on real sockets (a live target), as its target
/// file describes it: where it listens, where its outbound mail comes from, where the
/// harness's endpoints must listen because the product's relay map points there, and how the
/// harness may stop, kill and start it for the fault scenarios.
///
/// The harness plays the scenario's hosts at these addresses: a scenario's connected system
/// (by domain) submits from its `connected` address's IP and receives there; an external
/// domain's exchanger listens at its `external` address; the scenario's strangers connect
/// from `strangers`, in order of first appearance.
#[derive(Clone)]
pub struct LiveMail {
    /// What the target file calls the product (for the trace's notes).
    pub name: String,
    /// The product's SMTP listener.
    pub listen: SocketAddr,
    /// The addresses the product's outbound mail comes from: the harness's mailboxes and its
    /// blocklist model know the gateway by them.
    pub outbound: Vec<IpAddr>,
    /// Connected departmental systems, by domain (lowercase): the address the harness's mail
    /// server of that system listens on; it submits from the same IP.
    pub connected: BTreeMap<String, SocketAddr>,
    /// External domains (lowercase) and the address their exchanger listens on.
    pub external: BTreeMap<String, SocketAddr>,
    /// Addresses the harness's strangers (hosts that are neither connected nor external)
    /// connect from.
    pub strangers: Vec<IpAddr>,
    /// How the harness stops, kills and starts the product.
    pub control: std::sync::Arc<dyn GatewayControl>,
    /// The longest a start may take before the listener answers again.
    pub start_timeout: std::time::Duration,
}

impl std::fmt::Debug for LiveMail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveMail")
            .field("name", &self.name)
            .field("listen", &self.listen)
            .field("outbound", &self.outbound)
            .field("connected", &self.connected)
            .field("external", &self.external)
            .field("strangers", &self.strangers)
            .finish_non_exhaustive()
    }
}

/// What the harness may do to a live product for its fault scenarios.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ControlAction {
    /// An orderly shutdown.
    Stop,
    /// An abrupt end, as a power cut or `kill -9` (the `crash` fault).
    Kill,
    /// Start it again (the `restart` fault).
    Start,
}

impl ControlAction {
    pub fn as_str(self) -> &'static str {
        match self {
            ControlAction::Stop => "stop",
            ControlAction::Kill => "kill",
            ControlAction::Start => "start",
        }
    }
}

/// The outcome of one control command: what it printed, how long it took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlOutcome {
    /// The command as run.
    pub command: String,
    pub millis: u64,
    /// `None` when it succeeded; otherwise why not (exit status and output, or a timeout).
    pub error: Option<String>,
}

/// Runs the product's commands. Called off the harness's event loop (a blocking thread), so
/// a slow command never stalls the harness's endpoints; every command has a time limit.
pub trait GatewayControl: Send + Sync {
    /// The command the target gives for `action`, if any.
    fn command(&self, action: ControlAction) -> Option<String>;
    /// Runs it to its end or its time limit.
    fn run(&self, action: ControlAction) -> ControlOutcome;
}
