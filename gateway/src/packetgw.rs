//! The reference dataplane behind the harness's `PacketGateway` interface: policy acts
//! become the engine's policy, frames go through [`Engine::process`].

use std::net::IpAddr;

use jiff::Timestamp;
use qaqpa_sim::calendar::BusinessCalendar;
use qaqpa_sim::packetnet::{Egress, PacketGateway, PolicyAct};

use crate::dataplane::packet::to_ip;
use crate::dataplane::policy::micros;
use crate::dataplane::{Class, Config, Disposition, Engine, Faults, Policy, Signatures};

pub struct ReferencePacketGateway {
    engine: Engine,
    calendar: BusinessCalendar,
    /// Defect `ugia-tls-never-inspected`: what the policy sends to inspection leaves as it came.
    inspection_skipped: bool,
}

impl ReferencePacketGateway {
    pub fn new(defects: &[&str]) -> Self {
        let sigs = Signatures::builtin();
        let mut policy = Policy::new(&sigs);
        let on = |d: &str| defects.contains(&d);
        policy.faults = Faults {
            vpn_tcp443_missed: on("ugia-vpn-tcp443-missed"),
            exemption_never_expires: on("ugia-exemption-never-expires"),
            banking_inspected: on("ugia-banking-sni-inspected"),
            catalogue_ignored: on("ugia-catalogue-ignored"),
            vpn_exemption_wider: on("ugia-vpn-exemption-wider"),
            unknown_allowed: on("ugia-unknown-application-allowed"),
            exemption_for_everyone: on("ugia-exemption-for-everyone"),
            notice_ipv4_only: on("ugia-notice-ipv4-only"),
            block_outlives_update: on("ugia-block-outlives-update"),
            blocks_before_term: on("ugia-blocks-before-term"),
            exemption_ignores_sources: on("ugia-exemption-ignores-addresses"),
        };
        ReferencePacketGateway {
            engine: Engine::new(
                sigs,
                policy,
                Config {
                    max_flows: 1 << 16,
                    records: false,
                    ..Config::default()
                },
            ),
            calendar: BusinessCalendar::kazakhstan(),
            inspection_skipped: on("ugia-tls-never-inspected"),
        }
    }
}

impl ReferencePacketGateway {
    /// ugia-13: the STS e-mails the operator every source it saw outside the catalogue; each
    /// is blocked from the end of the operator's 5 working days after its first notice,
    /// while it stays outside.
    fn catalogue_notice(&mut self, at: Timestamp) -> Result<PolicyAct, String> {
        let faults = self.engine.policy.faults;
        let block_from = if faults.blocks_before_term {
            micros(at)
        } else {
            let deadline = self
                .calendar
                .deadline_end(at, 5)
                .map_err(|e| e.to_string())?;
            micros(deadline) + 1
        };
        let listed: Vec<_> = self
            .engine
            .uncatalogued_sources()
            .into_iter()
            .filter(|a| !(faults.notice_ipv4_only && matches!(to_ip(a), IpAddr::V6(_))))
            .collect();
        for a in &listed {
            self.engine.policy.noticed.entry(*a).or_insert(block_from);
        }
        Ok(PolicyAct::CatalogueNotice {
            sources: listed.iter().map(|a| to_ip(a).to_string()).collect(),
        })
    }
}

impl PacketGateway for ReferencePacketGateway {
    fn apply(&mut self, at: Timestamp, act: &PolicyAct) -> Result<PolicyAct, String> {
        let p = &mut self.engine.policy;
        match act {
            PolicyAct::Catalogue {
                organisation,
                prefixes,
            } => {
                for x in prefixes {
                    p.add_catalogue(organisation, x)?;
                }
            }
            PolicyAct::CatalogueNotice { .. } => return self.catalogue_notice(at),
            PolicyAct::Exemption {
                organisation,
                class,
                sources,
            } => {
                let c = Class::parse(class)
                    .ok_or_else(|| format!("exemption class `{class}` is not a policy class"))?;
                if c == Class::Vpn {
                    return Err("a VPN exemption is a declared channel (vpn-channel), never a whole class (ureq-133.4)".into());
                }
                p.add_exemption(organisation, c, sources, at, None)?;
            }
            PolicyAct::VpnChannel {
                organisation,
                src,
                dst,
                port,
                proto,
            } => {
                p.add_vpn(Some(organisation), src, dst, *port, proto, at, None)?;
            }
        }
        Ok(act.clone())
    }

    fn offer(&mut self, at: Timestamp, link: u32, frame: &[u8]) -> Egress {
        match self.engine.process(micros(at), link, frame) {
            Disposition::Forward | Disposition::Skipped(_) => Egress::Forwarded,
            Disposition::Inspect if self.inspection_skipped => Egress::Forwarded,
            Disposition::Inspect => Egress::Inspected,
            Disposition::Drop => Egress::Dropped,
        }
    }
}
