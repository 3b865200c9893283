//! The reference dataplane behind the harness's `PacketGateway` interface: policy acts
//! become the engine's policy, frames go through [`Engine::process`].

use jiff::Timestamp;
use qaqpa_sim::calendar::BusinessCalendar;
use qaqpa_sim::packetnet::{Egress, PacketGateway, PolicyAct};

use crate::dataplane::policy::micros;
use crate::dataplane::{Class, Config, Disposition, Engine, Faults, Policy, Signatures};

pub struct ReferencePacketGateway {
    engine: Engine,
    calendar: BusinessCalendar,
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
            unknown_allowed: false,
            exemption_for_everyone: on("ugia-exemption-for-everyone"),
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
        }
    }
}

impl PacketGateway for ReferencePacketGateway {
    fn apply(&mut self, at: Timestamp, act: &PolicyAct) -> Result<(), String> {
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
            PolicyAct::CatalogueNotice => {
                // the operator has 5 working days; then the STS blocks what is still missing
                let deadline = self
                    .calendar
                    .deadline_end(at, 5)
                    .map_err(|e| e.to_string())?;
                p.uncatalogued_block_from_us = Some(micros(deadline) + 1);
            }
            PolicyAct::Exemption {
                organisation,
                class,
            } => {
                let c = Class::parse(class)
                    .ok_or_else(|| format!("exemption class `{class}` is not a policy class"))?;
                if c == Class::Vpn {
                    return Err("a VPN exemption is a declared channel (vpn-channel), never a whole class (ureq-133.4)".into());
                }
                p.add_exemption(organisation, c, at, None);
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
        Ok(())
    }

    fn offer(&mut self, at: Timestamp, link: u32, frame: &[u8]) -> Egress {
        match self.engine.process(micros(at), link, frame) {
            Disposition::Forward | Disposition::Skipped(_) => Egress::Forwarded,
            Disposition::Inspect => Egress::Inspected,
            Disposition::Drop => Egress::Dropped,
        }
    }
}
