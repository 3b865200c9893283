//! The reference systems behind the `Target` interfaces, with their named defects.

use qaqpa_sim::target::{Defect, Desk, DeskKind, Target, TargetError, TargetInfo};

/// Every named defect of the reference, system by system.
pub fn defects() -> impl Iterator<Item = &'static Defect> {
    qaqpa_gateway::desk::DEFECTS
        .iter()
        .chain(qaqpa_gateway::DEFECTS)
        .chain(qaqpa_gateway::protection::DEFECTS)
        .chain(qaqpa_gateway::access::DEFECTS)
        .chain(qaqpa_gateway::waf::DEFECTS)
        .chain(qaqpa_gateway::defacement::DEFECTS)
        .chain(qaqpa_mailgw::DEFECTS)
        .chain(qaqpa_esb::defects())
}

pub fn defects_breaking(clause: &str) -> Vec<&'static Defect> {
    defects().filter(|d| d.clauses.contains(&clause)).collect()
}

#[derive(Debug, Clone, Default)]
pub struct Reference {
    defects: Vec<&'static str>,
    /// What the UGEM desk registered on the relay, per scenario: the desk and the gateway of
    /// one scenario share it.
    mail_ledgers: qaqpa_mailgw::desk::Ledgers,
    /// What the protection desk connected to defacement protection, per scenario: the desk
    /// and the guard of one scenario share it.
    defacement_ledgers: qaqpa_gateway::defacement::Ledgers,
    /// What the bus operator's desk decided (publications, grants, removals), per scenario:
    /// the desk and the bus of one scenario share it.
    bus_ledgers: qaqpa_esb::desk::Ledgers,
}

#[derive(Debug, thiserror::Error)]
#[error("--defect {given}: no such defect (known: {known})")]
pub struct UnknownDefect {
    pub given: String,
    pub known: String,
}

impl Reference {
    /// The reference with `ids` switched on; an unknown id is refused, naming the known ones.
    pub fn with_defects(ids: &[String]) -> Result<Reference, UnknownDefect> {
        let mut on = Vec::new();
        for id in ids {
            let d = defects()
                .find(|d| d.id == id)
                .ok_or_else(|| UnknownDefect {
                    given: id.clone(),
                    known: defects().map(|d| d.id).collect::<Vec<_>>().join(", "),
                })?;
            if !on.contains(&d.id) {
                on.push(d.id);
            }
        }
        on.sort_unstable();
        Ok(Reference {
            defects: on,
            mail_ledgers: Default::default(),
            defacement_ledgers: Default::default(),
            bus_ledgers: Default::default(),
        })
    }
}

impl Target for Reference {
    fn info(&self) -> TargetInfo {
        TargetInfo {
            kind: "reference".into(),
            name: "qaqpa reference".into(),
            version: None,
            defects: self.defects.iter().map(|d| d.to_string()).collect(),
        }
    }

    fn desk(&self, kind: DeskKind, seed: u64) -> Result<Box<dyn Desk>, TargetError> {
        Ok(match kind {
            DeskKind::UgiaConnection => Box::new(qaqpa_gateway::desk::ConnectionDesk::new(
                seed,
                &self.defects,
            )),
            DeskKind::UgemConnection => Box::new(
                qaqpa_mailgw::desk::ConnectionDesk::new(seed, &self.defects)
                    .with_ledger(self.mail_ledgers.get(seed)),
            ),
            DeskKind::UgiaProtection => Box::new(
                qaqpa_gateway::protection::ProtectionDesk::new(seed, &self.defects)
                    .with_ledger(self.defacement_ledgers.get(seed)),
            ),
            DeskKind::UgiaAccess => {
                Box::new(qaqpa_gateway::access::AccessDesk::new(seed, &self.defects))
            }
            DeskKind::BusOperator => Box::new(
                qaqpa_esb::desk::OperatorDesk::new(seed, &self.defects)
                    .with_ledger(self.bus_ledgers.get(seed)),
            ),
        })
    }

    fn packet_device(
        &self,
        seed: u64,
    ) -> Result<Box<dyn qaqpa_sim::packetnet::PacketDevice>, TargetError> {
        use qaqpa_gateway::inspect::{AuthorityFaults, Inspection, Keys};
        let on = |d: &str| self.defects.contains(&d);
        let inspection = Inspection::new(
            Keys::Seeded(qaqpa_sim::seed::derive(seed, "ugia-inspection-authority")),
            AuthorityFaults {
                root_expired: on("ugia-root-expired"),
                rotation_unannounced: on("ugia-root-rotated-unannounced"),
            },
        );
        Ok(Box::new(
            qaqpa_gateway::device::ReferenceDevice::new(&self.defects, seed)
                .with_tls_inspection(inspection),
        ))
    }

    fn web_front(&self, seed: u64) -> Result<Box<dyn qaqpa_sim::webnet::WebFront>, TargetError> {
        let config = qaqpa_gateway::waf::WafConfig::crs(&qaqpa_sim::shared::corpus("coreruleset"))
            .with_defects(&self.defects);
        let waf =
            qaqpa_gateway::waf::SimWafFront::new(&config).map_err(|e| TargetError::WebFront {
                target: self.info().name,
                message: e.to_string(),
            })?;
        // The defacement guard runs beside the WAF for the resources the desk connected.
        Ok(Box::new(qaqpa_gateway::defacement::GuardedFront::new(
            Box::new(waf),
            self.defacement_ledgers.get(seed),
            qaqpa_gateway::defacement::GuardConfig::with_defects(&self.defects),
        )))
    }

    fn bus_gateway(
        &self,
        seed: u64,
    ) -> Result<Box<dyn qaqpa_sim::busnet::BusGateway>, TargetError> {
        Ok(Box::new(qaqpa_esb::sim::SimBus::new(
            seed,
            &self.defects,
            self.bus_ledgers.get(seed),
        )))
    }

    fn mail_gateway(
        &self,
        seed: u64,
    ) -> Result<Box<dyn qaqpa_sim::mailnet::MailGateway>, TargetError> {
        Ok(Box::new(
            qaqpa_mailgw::sim::SimGateway::new(&self.defects)
                .with_ledger(self.mail_ledgers.get(seed)),
        ))
    }
}
