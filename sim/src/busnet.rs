//! The bus network of an episode, as the harness lays it out, and the interface through which a
//! target places its bus (ЭҮШ and its external gateway ЭҮСШ) into it.
//!
//! The harness runs every information system around the bus: initiators that call it, the
//! owners' provider endpoints it relays to (SHEP SyncChannel v10 `SendMessage`), and the
//! receivers' push interfaces (AsyncChannel v10 Client). The target adds the two gateway
//! hosts, each serving `/SyncChannel/v10` and `/AsyncChannel/v10` over HTTP on port 80.

/// An information system on the bus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusSystem {
    /// The system's id: the `senderId` it sends as.
    pub id: String,
    /// A state body's system; non-state systems reach state services only through ЭҮСШ.
    pub state: bool,
    /// The system's push interface, `http://host:port/path`, when it has one.
    pub push: Option<String>,
    /// Where the system sits: `inner` (the inner-circuit LAN, in the state bodies' transport
    /// environment), `outer` (the dedicated outer-circuit segment of systems that interact
    /// over the Internet) or `internet` (placed on the Internet); the last two reach
    /// inner-circuit systems only through ЭҮСШ (ureq-139.10, 139.11).
    pub placement: String,
    /// The transport certificate (DER) the system registered with the bus: the one its
    /// messages are signed with.
    pub certificate: Option<Vec<u8>>,
}

/// An integration service as its passport describes it (eint-app3's technical data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusService {
    pub id: String,
    /// The owner's system id.
    pub owner: String,
    /// The provider's production endpoint, `http://host:port/path`.
    pub provider: String,
    /// The provider's test-environment endpoint (eint-app7-5.5), when it has one.
    pub provider_test: Option<String>,
    /// `sync` or `async`.
    pub mode: String,
    /// Published on ЭҮШ (inner) and on ЭҮСШ (external).
    pub inner: bool,
    pub external: bool,
    pub personal_data: bool,
    /// In the registry when the episode's scenario began; a service the scenario's operator
    /// is still to publish (its test act in the scenario) is not.
    pub registered: bool,
}

/// An initiator's connection to a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusConnection {
    pub initiator: String,
    pub service: String,
    /// Production access existed when the scenario began; otherwise the connection waits
    /// for the operator's grant in the scenario.
    pub granted: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusWorld {
    /// The host the target's inner gateway (ЭҮШ) runs as.
    pub inner: String,
    /// The host the target's external gateway (ЭҮСШ) runs as.
    pub external: String,
    pub systems: Vec<BusSystem>,
    pub services: Vec<BusService>,
    pub connections: Vec<BusConnection>,
    /// The harness's state service for access control to personal data (eint-app7-6.5):
    /// `POST` of `<consentQuery><subject/><service/><initiator/></consentQuery>` answers 200
    /// when the subject consented to that initiator's access to that service, 403 otherwise.
    pub consent: Option<String>,
    /// The instant the episode starts (the business calendar's).
    pub at: jiff::Timestamp,
    /// The root (DER) transport certificates are issued under: the NCA RK stand-in's.
    pub ca_root: Option<Vec<u8>>,
}

/// The HTTP port of both gateways.
pub const BUS_PORT: u16 = 80;
/// The paths of the two channels.
pub const SYNC_PATH: &str = "/SyncChannel/v10";
pub const ASYNC_PATH: &str = "/AsyncChannel/v10";

/// A bus under test.
pub trait BusGateway {
    /// Adds the gateway hosts at `world.inner` and `world.external` to the simulation. The
    /// registry the bus routes by is its own: what the world says existed before the
    /// scenario, and what its operator's desk decided since.
    fn install(&self, sim: &mut turmoil::Sim<'_>, world: &BusWorld);
}

/// A bus as a live product on real sockets, as its target file describes it: bus episodes then
/// run on the wall clock against it instead of in the simulation.
#[derive(Clone)]
pub struct LiveBus {
    /// What the target file calls the product (for the trace's notes).
    pub name: String,
    /// The inner gateway's (ЭҮШ) SyncChannel and AsyncChannel URLs, `http://host:port/path`.
    pub sync_url: String,
    pub async_url: String,
    /// The external gateway's (ЭҮСШ), when the product offers one.
    pub external_sync_url: Option<String>,
    pub external_async_url: Option<String>,
    /// Where the harness's information systems listen (their providers, push interfaces
    /// and the consent service, told apart by path): the registry the harness loads into
    /// the product routes there.
    pub endpoints: std::net::SocketAddr,
    /// How the harness loads an episode's registry into the product.
    pub registry: std::sync::Arc<dyn RegistryLoader>,
    /// The most a call waits for the bus's answer.
    pub call_timeout: std::time::Duration,
    /// The most the product may take to accept connections again after its registry was
    /// loaded.
    pub ready_timeout: std::time::Duration,
    /// The harness's signing material, as read from the target file's PEM files (the
    /// signing of requests is the business of the bus's WS-Security; carried here so the
    /// live client has it when it signs).
    pub signing: Option<BusSigning>,
    /// The roots (PEM) the harness trusts for the product's `https://` URLs.
    pub tls_roots: Option<Vec<u8>>,
}

/// The target file's PEM files for the bus, read and checked.
#[derive(Clone)]
pub struct BusSigning {
    /// The CA root the product trusts (PEM).
    pub ca_root: Vec<u8>,
    /// The harness's signing certificate (PEM).
    pub certificate: Vec<u8>,
    /// The harness's signing key (PEM). A secret: never written to a trace or report.
    pub key: Vec<u8>,
}

/// The key never shows in a debug print.
impl std::fmt::Debug for BusSigning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BusSigning")
            .field("ca_root", &format!("{} bytes", self.ca_root.len()))
            .field("certificate", &format!("{} bytes", self.certificate.len()))
            .field("key", &"(secret)")
            .finish()
    }
}

impl std::fmt::Debug for LiveBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveBus")
            .field("name", &self.name)
            .field("sync_url", &self.sync_url)
            .field("async_url", &self.async_url)
            .field("external_sync_url", &self.external_sync_url)
            .field("external_async_url", &self.external_async_url)
            .field("endpoints", &self.endpoints)
            .finish_non_exhaustive()
    }
}

/// How the harness hands a live bus the registry of an episode (the systems, services and
/// connections as the scenario's operator found them, in the reference's registry format of
/// `docs/bus.md`): the product's own means, a command the target file gives.
pub trait RegistryLoader: Send + Sync {
    /// The command, with `{registry}` standing for the file's path; `None` when the target
    /// file gives none.
    fn command(&self) -> Option<String>;
    /// Runs it for the registry file at `path`, to its end or its time limit.
    fn load(&self, path: &std::path::Path) -> crate::mailnet::ControlOutcome;
}
