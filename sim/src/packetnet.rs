//! The Internet access gateway (UGIA) as the harness holds it: a box between harness-owned
//! wires, as in firewall benchmarking (RFC 2544, RFC 3511). Frames go in on a port at an
//! instant; the device emits frames on its ports; the harness taps every port. The device
//! says nothing about itself: no verdict, class or label crosses this interface, only
//! Ethernet frames, carrier changes, restarts, and the STS's policy acts (the configuration
//! the STS applies, as its people would).
//!
//! Nothing in-process is assumed: time is explicit (the device is asked what it emits by an
//! instant and when it next wants to be asked), frames are Ethernet bytes, and the device's
//! only state the harness sees is what it emits. So a vendor's product stands behind the same
//! trait through an adapter that writes frames into Linux TAP devices or veth pairs and reads
//! what comes out (see the README's "A vendor's device on the wire").

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// A port of the device, and the wire the harness runs to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Port {
    /// Towards the User networks (the harness's workstations and departmental servers).
    Inside,
    /// The main channel to the Internet (ugia-app2).
    OutsideMain,
    /// The backup channel to the Internet (ugia-app2).
    OutsideBackup,
}

impl Port {
    pub const ALL: [Port; 3] = [Port::Inside, Port::OutsideMain, Port::OutsideBackup];
    pub const OUTSIDE: [Port; 2] = [Port::OutsideMain, Port::OutsideBackup];

    pub fn as_str(self) -> &'static str {
        match self {
            Port::Inside => "inside",
            Port::OutsideMain => "outside-main",
            Port::OutsideBackup => "outside-backup",
        }
    }

    pub fn parse(s: &str) -> Option<Port> {
        Port::ALL.into_iter().find(|p| p.as_str() == s)
    }

    pub fn is_outside(self) -> bool {
        self != Port::Inside
    }
}

impl std::fmt::Display for Port {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
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
    /// scenario asks for the notice; `sources` is what the STS's notice listed (a document
    /// the operator receives), as returned from [`PacketDevice::apply`].
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
    /// ureq-128.6: the e-mail gateway's (UGEM's) addresses: the only sources inside from
    /// which SMTP may reach the Internet.
    MailGateway { addresses: Vec<String> },
    /// ureq-139.8: the prefixes of the inner-circuit LANs behind the device, which are never
    /// connected to the Internet: nothing from them may leave on an outside port.
    InnerCircuit { prefixes: Vec<String> },
    /// ureq-133.4: a VPN channel declared with its exact source, destination, port and
    /// protocol, opened for one calendar year.
    VpnChannel {
        organisation: String,
        src: String,
        dst: String,
        port: u16,
        proto: String,
    },
    /// ugia-21: the STS generates a new UGIA root and puts it in force; it must announce it
    /// to the telecom operators (a document, see [`PacketDevice::notices`]) before the
    /// gateway mints a certificate under it.
    RootRotation,
    /// The certificate authorities (PEM) the gateway's TLS inspection trusts for the origins
    /// it connects to: its trust store, as the STS's people install it. The harness installs
    /// its own "public" web CA this way when it sets up the wires.
    OriginTrust { certificates: Vec<String> },
}

/// A frame the device put on one of its ports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Emitted {
    pub port: Port,
    /// Ethernet II bytes, without the frame check sequence.
    pub frame: Vec<u8>,
}

/// A packet gateway under test: a box with three ports.
///
/// The harness drives it in time order: every call carries the instant it happens at, never
/// earlier than the previous call's. Between calls the device does nothing on its own; it
/// says when it next wants time to pass ([`next_wake`](Self::next_wake)), and the harness
/// calls [`poll`](Self::poll) at that instant at the latest.
pub trait PacketDevice {
    /// The STS applies `act` at `at` (its people configuring their gateway). Returns the act
    /// as carried out: a catalogue notice with the sources the STS listed in it, which is a
    /// document the operator receives, not a report on any frame.
    fn apply(&mut self, at: Timestamp, act: &PolicyAct) -> Result<PolicyAct, String>;
    /// An Ethernet frame arrives on `port` at `at`.
    fn receive(&mut self, at: Timestamp, port: Port, frame: &[u8]);
    /// Time has reached `at`: the frames the device emits by then, in order.
    fn poll(&mut self, at: Timestamp) -> Vec<Emitted>;
    /// The latest instant at which the harness must call [`poll`](Self::poll) again when no
    /// frame arrives before it; `None` when the device waits for frames only.
    fn next_wake(&self) -> Option<Timestamp>;
    /// The carrier on `port` went up or down at `at` (the harness plugged or cut the cable;
    /// it carries no frame on a port whose carrier is down, in either direction).
    fn carrier(&mut self, at: Timestamp, port: Port, up: bool);
    /// The device is power-cycled at `at`: everything it keeps in memory is lost; what it put
    /// on its own durable storage (the policy in force, if it persists it) survives. The
    /// device is back when it says so by emitting and accepting frames again.
    fn restart(&mut self, at: Timestamp);
    /// The documents the STS sent about its device since the last call, each with the instant
    /// it reached its addressee: the notices announcing a UGIA root to the telecom operators
    /// (ugia-21). The harness's inboxes receive them; a vendor's adapter reads them from the
    /// operators' mailbox. None by default.
    fn notices(&mut self) -> Vec<(Timestamp, crate::trace::Document)> {
        Vec::new()
    }
}

// ---- Ethernet framing the harness and the reference share ----

/// The Ethernet address the harness gives an IP host: locally administered (02:…), derived
/// from the address, so every host is a distinct station on the wire and the same address is
/// the same station in every run.
pub fn mac_of(ip: std::net::IpAddr) -> [u8; 6] {
    let bytes: Vec<u8> = match ip {
        std::net::IpAddr::V4(a) => a.octets().to_vec(),
        std::net::IpAddr::V6(a) => a.octets().to_vec(),
    };
    // FNV-1a over the address: stable, and spreads similar addresses apart
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let b = h.to_be_bytes();
    [0x02, b[1], b[2], b[3], b[4], b[5]]
}

/// The Internet routers' Ethernet address: the main and backup channels' routers answer for
/// one virtual router address (as a VRRP pair does), so a User host's next hop is the same
/// station whichever channel carries its traffic.
pub const ROUTER_MAC: [u8; 6] = [0x00, 0x00, 0x5e, 0x00, 0x01, 0x01];

pub const ETHERTYPE_IPV4: u16 = 0x0800;
pub const ETHERTYPE_IPV6: u16 = 0x86dd;

/// An IP packet in an Ethernet II frame; the EtherType follows the IP version nibble.
pub fn ethernet(dst: [u8; 6], src: [u8; 6], ip: &[u8]) -> Vec<u8> {
    let ethertype = if ip.first().is_some_and(|b| b >> 4 == 6) {
        ETHERTYPE_IPV6
    } else {
        ETHERTYPE_IPV4
    };
    let mut f = Vec::with_capacity(14 + ip.len());
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(ip);
    f
}

/// The IP packet an Ethernet II frame carries, with its destination and source stations;
/// `None` for a frame too short or of another EtherType (VLAN tags are not used on these
/// wires).
pub fn ip_of_ethernet(frame: &[u8]) -> Option<(&[u8], [u8; 6], [u8; 6])> {
    if frame.len() < 14 {
        return None;
    }
    let et = u16::from_be_bytes([frame[12], frame[13]]);
    if et != ETHERTYPE_IPV4 && et != ETHERTYPE_IPV6 {
        return None;
    }
    let dst: [u8; 6] = frame[0..6].try_into().ok()?;
    let src: [u8; 6] = frame[6..12].try_into().ok()?;
    Some((&frame[14..], dst, src))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ethernet_round_trip_and_ethertype_from_version() {
        let v4 = [0x45u8, 0, 0, 20];
        let f = ethernet(ROUTER_MAC, [2, 0, 0, 0, 0, 1], &v4);
        assert_eq!(&f[12..14], &[0x08, 0x00]);
        let (ip, dst, src) = ip_of_ethernet(&f).unwrap();
        assert_eq!((ip, dst, src), (&v4[..], ROUTER_MAC, [2, 0, 0, 0, 0, 1]));
        let f6 = ethernet(ROUTER_MAC, ROUTER_MAC, &[0x60, 0, 0, 0]);
        assert_eq!(&f6[12..14], &[0x86, 0xdd]);
        assert!(ip_of_ethernet(&[0; 13]).is_none());
        let mut arp = f.clone();
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        assert!(ip_of_ethernet(&arp).is_none());
    }

    #[test]
    fn stations_are_distinct_and_locally_administered() {
        let a = mac_of("10.0.0.1".parse().unwrap());
        let b = mac_of("10.0.0.2".parse().unwrap());
        assert_ne!(a, b);
        assert_eq!(a[0] & 0x03, 0x02, "locally administered unicast");
        assert_eq!(a, mac_of("10.0.0.1".parse().unwrap()));
    }

    #[test]
    fn port_names_round_trip() {
        for p in Port::ALL {
            assert_eq!(Port::parse(p.as_str()), Some(p));
        }
        assert_eq!(Port::parse("outside"), None);
    }
}
