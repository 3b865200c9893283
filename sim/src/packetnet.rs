//! The packet path of an Internet access gateway (UGIA) as the harness drives it: the STS's
//! policy acts reach the gateway, and frames from a User network are offered to it one by
//! one. The harness's taps see where each frame leaves: towards the Internet side, diverted
//! to the TLS inspection engine, or nowhere (dropped). A vendor's gateway stands behind the
//! same trait with real ports and capture taps.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// Where a frame left the gateway, as the harness's taps saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Egress {
    /// Forwarded unchanged towards its destination (the Internet side for a User's packets).
    Forwarded,
    /// Diverted to the TLS inspection engine (the gateway will mint a certificate).
    Inspected,
    /// Not forwarded at all.
    Dropped,
}

/// An act of the STS that changes what the gateway lets through, with the time it takes
/// effect (the step's instant).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "act", rename_all = "kebab-case", deny_unknown_fields)]
pub enum PolicyAct {
    /// ugia-13: the telecom operator's IP-address catalogue names these prefixes for an
    /// organisation.
    Catalogue {
        organisation: String,
        prefixes: Vec<String>,
    },
    /// ugia-13: the STS e-mails the operator the sources it saw outside the catalogue; the
    /// operator has 5 working days to update it, after which those sources are blocked. A
    /// scenario asks for the notice; `sources` is what the gateway's notice listed, as the
    /// gateway returned it from [`PacketGateway::apply`].
    CatalogueNotice {
        #[serde(default)]
        sources: Vec<String>,
    },
    /// ugia-15-1, ureq-134-2: on an organisation's signed request, a default-blocked class
    /// is opened for it for one calendar year.
    /// `sources` limits it to the User's listed addresses (ugia-15); empty, the whole
    /// organisation's catalogued network.
    Exemption {
        organisation: String,
        class: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        sources: Vec<String>,
    },
    /// ureq-133.4: a VPN channel declared with its exact source, destination, port and
    /// protocol, opened for one calendar year.
    VpnChannel {
        organisation: String,
        src: String,
        dst: String,
        port: u16,
        proto: String,
    },
}

/// A packet gateway under test.
pub trait PacketGateway {
    /// The STS applies `act` at `at`; returns the act as carried out (a catalogue notice
    /// with the sources it listed).
    fn apply(&mut self, at: Timestamp, act: &PolicyAct) -> Result<PolicyAct, String>;
    /// A frame of pcap link type `link` reaches the gateway at `at`; where did it leave?
    fn offer(&mut self, at: Timestamp, link: u32, frame: &[u8]) -> Egress;
}
