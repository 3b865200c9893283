//! The reference gateway placed into the harness's simulated mail network (turmoil).

use std::net::SocketAddr;
use std::time::Duration;

use qaqpa_sim::mailnet::{MailGateway, MailWorld};

use crate::guard::{Baseline, Registry, System};
use crate::relay::{Config, Relay};
use crate::spool::Disk;
use crate::wire::SimNet;

/// The reference UGEM with its named defects switched on.
pub struct SimGateway {
    defects: Vec<&'static str>,
    ledger: crate::desk::Ledger,
}

impl SimGateway {
    pub fn new(defects: &[&'static str]) -> Self {
        SimGateway {
            defects: defects.to_vec(),
            ledger: Default::default(),
        }
    }

    /// The registrations the scenario's STS desk made: systems connected at the episode's
    /// start are relayed for, besides those the world lists.
    pub fn with_ledger(mut self, ledger: crate::desk::Ledger) -> Self {
        self.ledger = ledger;
        self
    }

    /// The relay's configuration for a world.
    pub fn config(&self, world: &MailWorld) -> Config {
        let registry = Registry {
            systems: world
                .systems
                .iter()
                .map(|s| System {
                    id: s.id.clone(),
                    domain: s.domain.to_ascii_lowercase(),
                    servers: vec![s.server],
                    owner: s.owner.clone(),
                    baseline: Baseline {
                        messages: s.baseline.0,
                        recipients: s.baseline.1,
                    },
                })
                .collect(),
        };
        let mut registry = registry;
        for (i, r) in self.ledger.borrow().iter().enumerate() {
            let active = r.from <= world.at && r.until.is_none_or(|u| u > world.at);
            if active && registry.by_domain(&r.domain).is_none() {
                registry.systems.push(System {
                    id: format!("desk-{i}-{}", r.domain),
                    domain: r.domain.clone(),
                    servers: vec![r.server],
                    owner: r.owner.clone(),
                    baseline: Baseline::default(),
                });
            }
        }
        let mut cfg = Config::new(&world.hostname, registry);
        cfg.routes = world.mx.clone();
        cfg.retry_period = Duration::from_secs(world.retry_period_secs);
        cfg.retry_first = Duration::from_secs(5);
        cfg.retry_max = Duration::from_secs(20);
        cfg.connect_timeout = Duration::from_secs(5);
        cfg.command_timeout = Duration::from_secs(60);
        cfg.defects.open_relay = crate::has(&self.defects, "ugem-open-relay");
        cfg.defects.ack_before_disk = crate::has(&self.defects, "ugem-acks-before-disk");
        cfg.guard.enabled = !crate::has(&self.defects, "ugem-no-traffic-guard");
        cfg.guard.suspend_everyone = crate::has(&self.defects, "ugem-guard-suspends-everyone");
        cfg
    }
}

impl MailGateway for SimGateway {
    fn install(&self, sim: &mut turmoil::Sim<'_>, world: &MailWorld) {
        let cfg = self.config(world);
        // The disk outlives the host's software: a crash and restart keeps it.
        let disk = Disk::default();
        let addr = SocketAddr::from(([0, 0, 0, 0], 25));
        let admin_port_open = crate::has(&self.defects, "ugem-admin-port-open");
        sim.host(world.gateway, move || {
            let cfg = cfg.clone();
            let disk = disk.clone();
            async move {
                if admin_port_open {
                    // the defect: a console nobody declared, accepting whoever connects
                    let console =
                        turmoil::net::TcpListener::bind(SocketAddr::from(([0, 0, 0, 0], 8025)))
                            .await?;
                    tokio::task::spawn_local(async move {
                        while let Ok((s, _)) = console.accept().await {
                            drop(s);
                        }
                    });
                }
                let listener = turmoil::net::TcpListener::bind(addr).await?;
                let relay = Relay::boot(SimNet, cfg, disk);
                relay.run(listener).await?;
                Ok(())
            }
        });
    }
}
