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
