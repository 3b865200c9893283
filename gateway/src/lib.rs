//! UGIA, the Unified Internet Access Gateway: the reference implementation.

pub mod access;
pub mod bench;
pub mod dataplane;
pub mod defacement;
pub mod desk;
pub mod device;
pub mod eds;
pub mod inspect;
pub mod protection;
pub mod proxy;
pub mod score;
pub mod waf;

use qaqpa_sim::target::Defect;

/// The named defects of the UGIA dataplane; its desks list their own (`desk`, `access`,
/// `protection`).
pub const DEFECTS: &[Defect] = &[
    Defect {
        id: "ugia-vpn-tcp443-missed",
        system: "ugia",
        description: "the dataplane does not recognise VPN over TCP/443 (OpenVPN and TLS-wrapped VPNs on the HTTPS port pass as web traffic)",
        clauses: &["ureq-134-1"],
        warns: &[],
    },
    Defect {
        id: "ugia-exemption-never-expires",
        system: "ugia",
        description: "exemptions granted on an organisation's request stay in force after their calendar year",
        clauses: &["ugia-15-1", "ureq-134-1"],
        warns: &[],
    },
    Defect {
        id: "ugia-catalogue-ignored",
        system: "ugia",
        description: "sources outside the IP-address catalogue are flagged but never blocked, even after the operator's term",
        clauses: &["ugia-13"],
        warns: &[],
    },
    Defect {
        id: "ugia-unknown-application-allowed",
        system: "ugia",
        description: "flows the dataplane cannot name after its classification window are let through as ordinary traffic instead of blocked as unknown applications",
        clauses: &["ureq-134-1"],
        warns: &[],
    },
    Defect {
        id: "ugia-notice-ipv4-only",
        system: "ugia",
        description: "the STS's notice to the telecom operator lists only IPv4 sources outside the catalogue; IPv6 ones are never notified, so never blocked",
        clauses: &["ugia-13"],
        warns: &[],
    },
    Defect {
        id: "ugia-block-outlives-update",
        system: "ugia",
        description: "a source blocked after the operator's term stays blocked after the operator adds it to the catalogue",
        clauses: &["ugia-13"],
        warns: &[],
    },
    Defect {
        id: "ugia-blocks-before-term",
        system: "ugia",
        description: "sources listed in the notice to the operator are blocked at once, without waiting the operator's 5 working days",
        clauses: &["ugia-13"],
        warns: &[],
    },
    Defect {
        id: "ugia-exempt-sites-blocked",
        system: "ugia",
        description: "TLS to the categories exempt from inspection (banks, government, health, updates) is reset instead of passed through untouched",
        clauses: &["ugia-20"],
        warns: &[],
    },
    Defect {
        id: "ugia-smtp-egress-open",
        system: "ugia",
        description: "UGIA lets departmental mail servers open SMTP connections to the Internet, so mail can bypass UGEM (the device's SMTP egress rule is off)",
        clauses: &["ureq-128.6"],
        warns: &[],
    },
    Defect {
        id: "ugia-inner-circuit-routed",
        system: "ugia",
        description: "UGIA forwards traffic from the inner-circuit LANs the STS configured to the Internet like any other User's (the device's inner-circuit rule is off)",
        clauses: &["ureq-139.8"],
        warns: &[],
    },
    Defect {
        id: "ugia-no-failover",
        system: "ugia",
        description: "when the main channel's carrier goes down the device keeps sending on it instead of moving to the backup channel",
        clauses: &["ugia-app2", "ugia-4"],
        warns: &[],
    },
    Defect {
        id: "ugia-exemptions-lost-on-restart",
        system: "ugia",
        description: "exemptions are kept in memory only: after a power cycle the device boots with the catalogue and VPN channels but without them",
        clauses: &["ugia-4"],
        warns: &[],
    },
    Defect {
        id: "ugia-exemption-ignores-addresses",
        system: "ugia",
        description: "an exemption granted for the addresses a User listed opens its class for the organisation's whole network",
        clauses: &["ureq-134-2", "ureq-134-1"],
        warns: &[],
    },
    Defect {
        id: "ugia-exemption-for-everyone",
        system: "ugia",
        description: "an exemption granted to one organisation opens its class for every organisation",
        clauses: &["ureq-134-2", "ureq-134-1"],
        warns: &[],
    },
    Defect {
        id: "ugia-vpn-exemption-wider",
        system: "ugia",
        description: "a declared VPN channel opens every VPN flow from its source address, whatever the destination, port or protocol",
        clauses: &["ureq-133.4", "ureq-134-1"],
        warns: &[],
    },
    // ---- TLS inspection (ugia-20, 21, 23), at the wire ----
    Defect {
        id: "ugia-tls-never-inspected",
        system: "ugia",
        description: "TLS the policy should inspect is spliced through as it came: workstations are shown the origins' own certificates on sites of every category",
        clauses: &["ugia-20"],
        warns: &[],
    },
    Defect {
        id: "ugia-banking-sni-inspected",
        system: "ugia",
        description: "the policy sends TLS to banking and finance sites to inspection: workstations are shown a minted certificate for their bank, and a User without the UGIA root gets a certificate error there",
        clauses: &["ugia-20", "ugia-23"],
        warns: &[],
    },
    Defect {
        id: "ugia-exempt-resigned",
        system: "ugia",
        description: "the policy passes an exempt site through, but the terminating proxy re-signs it anyway under the UGIA root instead of splicing it",
        clauses: &["ugia-20", "ugia-23"],
        warns: &[],
    },
    Defect {
        id: "ugia-root-expired",
        system: "ugia",
        description: "the STS's UGIA root expired before the scenario began and is never renewed; certificates are still minted under it, valid at the instant",
        clauses: &["ugia-21"],
        warns: &[],
    },
    Defect {
        id: "ugia-root-rotated-unannounced",
        system: "ugia",
        description: "the STS rotates the UGIA root without telling the telecom operators: certificates minted after the rotation chain to a root nobody announced, and workstations that installed every announced root refuse them",
        clauses: &["ugia-20", "ugia-21", "ugia-23"],
        warns: &[],
    },
];
