//! The reference bus placed among the harness's information systems in a simulated episode
//! (turmoil): ЭҮШ and ЭҮСШ as two hosts sharing one registry and one asynchronous store, the
//! registry built from what the world says existed before the scenario and what the
//! scenario's operator desk decided since (its ledger).

use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use qaqpa_sim::busnet::{BUS_PORT, BusGateway, BusWorld};
use qaqpa_sim::target::Defect;

use crate::bus::{
    Bus, Connection, Gateway, Mode, Outbound, Placement, Registry, ServiceEntry, Settings, Shared,
    SystemEntry,
};
use crate::desk::{Decision, Ledger};
use crate::http::{HttpOut, SimDialer, serve_connection};

pub const DEFECTS: &[Defect] = &[
    Defect {
        id: "bus-routes-before-grant",
        system: "bus",
        description: "the bus routes a service, and an initiator's calls to it, as soon as its test act is in, before the operator publishes the passport and grants access (a service the operator refused, its samples not keeping its XSD, too)",
        clauses: &["eint-14", "eint-27", "eint-45"],
        warns: &[],
    },
    Defect {
        id: "bus-grant-not-applied",
        system: "bus",
        description: "the operator's grants of production access never reach the bus's routing: the initiator's calls stay refused after the grant",
        clauses: &["eint-27", "eint-45"],
        warns: &[],
    },
    Defect {
        id: "bus-removal-not-applied",
        system: "bus",
        description: "a service the operator removed from the registry stays routable on the bus",
        clauses: &["eint-7"],
        warns: &[],
    },
    Defect {
        id: "bus-disconnection-not-applied",
        system: "bus",
        description: "an initiator the operator disconnected keeps reaching the service",
        clauses: &["eint-7"],
        warns: &[],
    },
    Defect {
        id: "bus-inner-admits-non-state",
        system: "bus",
        description: "the inner gateway (ЭҮШ) relays non-state systems' calls instead of sending them to the external gateway",
        clauses: &["eint-4"],
        warns: &[],
    },
    Defect {
        id: "bus-ignores-consent",
        system: "bus",
        description: "the bus relays calls to personal-data services without asking for the subject's consent",
        clauses: &["eint-app7-6.5"],
        warns: &[],
    },
    Defect {
        id: "bus-external-closed-at-night",
        system: "bus",
        description: "the external gateway (ЭҮСШ) answers every call from 21:00 to 06:00 (Almaty) with a maintenance fault, though no works were announced",
        clauses: &["eint-app7-5.1"],
        warns: &[],
    },
    Defect {
        id: "bus-inner-ignores-placement",
        system: "bus",
        description: "the inner gateway (ЭҮШ) admits a state body's system wherever it sits: systems in the outer-circuit segment and on the Internet reach inner-circuit services directly, not only through ЭҮСШ",
        clauses: &["ureq-139.10", "ureq-139.11"],
        warns: &[],
    },
    Defect {
        id: "bus-routes-unconnected",
        system: "bus",
        description: "the bus takes the absence of any connection record as open access: a system that never applied to connect reaches every published service",
        clauses: &["eint-33"],
        warns: &[],
    },
    Defect {
        id: "bus-test-contour-down",
        system: "bus",
        description: "the bus's test contour answers every call with a maintenance fault, so no participant can test",
        clauses: &["eint-app7-5.5"],
        warns: &[],
    },
    Defect {
        id: "bus-sync-waits-for-provider",
        system: "bus",
        description: "the synchronous channel waits for a slow provider however long it takes, so its caller is not answered within the minute",
        clauses: &["eint-app7-5.3"],
        warns: &[],
    },
    Defect {
        id: "bus-async-waits-for-delivery",
        system: "bus",
        description: "the asynchronous channel answers sendMessage only after pushing the message to its receiver, so a slow receiver keeps the sender waiting past the minute",
        clauses: &["eint-app7-5.3"],
        warns: &[],
    },
];

/// The reference bus with its named defects switched on, routing by one scenario's ledger.
pub struct SimBus {
    defects: Vec<&'static str>,
    ledger: Ledger,
    seed: u64,
}

impl SimBus {
    pub fn new(seed: u64, defects: &[&'static str], ledger: Ledger) -> SimBus {
        SimBus {
            defects: defects.to_vec(),
            ledger,
            seed,
        }
    }

    fn has(&self, d: &str) -> bool {
        self.defects.contains(&d)
    }

    /// The outage the bus is in at `at`, if any: (planned, until).
    fn outage_at(&self, at: Timestamp) -> Option<(bool, Timestamp)> {
        self.ledger.borrow().iter().find_map(|d| match d {
            Decision::Outage {
                from,
                until,
                planned,
            } if *from <= at && at < *until => Some((*planned, *until)),
            _ => None,
        })
    }

    /// The registry the bus routes by in an episode of `world`: decisions are instants, so
    /// one taken during the episode applies from then on.
    pub fn registry(&self, world: &BusWorld) -> Registry {
        let mut reg = Registry {
            consent: world.consent.clone(),
            ..Registry::default()
        };
        for s in &world.systems {
            reg.systems.insert(
                s.id.clone(),
                SystemEntry {
                    id: s.id.clone(),
                    state: s.state || self.has("bus-inner-admits-non-state"),
                    push: s.push.clone(),
                    placement: if self.has("bus-inner-ignores-placement") {
                        Placement::Inner
                    } else {
                        Placement::parse(&s.placement).unwrap_or_default()
                    },
                    suspended_from: None,
                    certificate: s.certificate.clone(),
                },
            );
        }
        let early = self.has("bus-routes-before-grant");
        let never = Some(Timestamp::MAX);
        for s in &world.services {
            reg.services.insert(
                s.id.clone(),
                ServiceEntry {
                    id: s.id.clone(),
                    owner: s.owner.clone(),
                    provider: s.provider.clone(),
                    provider_test: s.provider_test.clone(),
                    mode: if s.mode == "async" {
                        Mode::Async
                    } else {
                        Mode::Sync
                    },
                    inner: s.inner,
                    external: s.external,
                    personal_data: s.personal_data,
                    route_key: None,
                    from: if s.registered || early { None } else { never },
                    until: None,
                },
            );
        }
        for c in &world.connections {
            reg.connections.push(Connection {
                initiator: c.initiator.clone(),
                service: c.service.clone(),
                from: if c.granted || early { None } else { never },
                until: None,
                test_from: None,
            });
        }
        for d in self.ledger.borrow().iter() {
            match d {
                Decision::Published { service, at } if !self.has("bus-grant-not-applied") => {
                    if let Some(s) = reg.services.get_mut(service) {
                        // `None` is "since before the scenario": a later decision does not narrow it.
                        s.from = s.from.map(|f| f.min(*at));
                    }
                }
                Decision::Granted {
                    service,
                    initiator,
                    at,
                } if !self.has("bus-grant-not-applied") => {
                    // A connection granted before the service's own publication notice
                    // waits for it: a grant opens the route of a published service.
                    if let Some(s) = reg.services.get_mut(service)
                        && s.from == never
                    {
                        s.from = Some(*at);
                    }
                    for c in reg.connections.iter_mut().filter(|c| {
                        &c.service == service
                            && initiator.as_ref().is_none_or(|i| &c.initiator == i)
                    }) {
                        c.from = c.from.map(|f| f.min(*at));
                    }
                    if let Some(i) = initiator
                        && !reg
                            .connections
                            .iter()
                            .any(|c| &c.initiator == i && &c.service == service)
                    {
                        reg.connections.push(Connection {
                            initiator: i.clone(),
                            service: service.clone(),
                            from: Some(*at),
                            until: None,
                            test_from: Some(*at),
                        });
                    }
                }
                Decision::SwitchedOff { service, at } => {
                    if let Some(s) = reg.services.get_mut(service) {
                        s.until = Some(s.until.map_or(*at, |u| u.min(*at)));
                    }
                }
                Decision::Removed { service, at } if !self.has("bus-removal-not-applied") => {
                    if let Some(s) = reg.services.get_mut(service) {
                        s.until = Some(*at);
                    }
                }
                Decision::Disconnected {
                    initiator,
                    service,
                    at,
                } if !self.has("bus-disconnection-not-applied") => {
                    for c in reg
                        .connections
                        .iter_mut()
                        .filter(|c| &c.service == service && &c.initiator == initiator)
                    {
                        c.until = Some(*at);
                    }
                }
                Decision::Testing {
                    service,
                    initiator,
                    at,
                } => {
                    // Test access from the acceptance of the connection application; production
                    // waits for the grant.
                    match reg
                        .connections
                        .iter_mut()
                        .find(|c| &c.service == service && &c.initiator == initiator)
                    {
                        Some(c) => c.test_from = c.test_from.map(|f| f.min(*at)),
                        None => reg.connections.push(Connection {
                            initiator: initiator.clone(),
                            service: service.clone(),
                            from: never,
                            until: None,
                            test_from: Some(*at),
                        }),
                    }
                }
                Decision::Suspended { system, at } => {
                    if let Some(s) = reg.systems.get_mut(system) {
                        s.suspended_from = Some(s.suspended_from.map_or(*at, |f| f.min(*at)));
                    }
                }
                _ => {}
            }
        }
        reg
    }
}

impl BusGateway for SimBus {
    fn install(&self, sim: &mut turmoil::Sim<'_>, world: &BusWorld) {
        let at = world.at;
        let outage = self.outage_at(at);
        let settings = Settings {
            defects: self.defects.clone(),
            maintenance_until: outage.filter(|o| o.0).map(|o| o.1),
            // Minutes-long episodes: a failed push is retried within seconds.
            push_backoff: Duration::from_secs(2),
            trust: world
                .ca_root
                .clone()
                .and_then(|r| crate::wssec::Trust::new(r).ok())
                .map(Arc::new),
            ..Settings::default()
        };
        let shared = Shared::new(
            self.registry(world),
            settings,
            qaqpa_sim::seed::derive(self.seed, &format!("bus-{}", at.as_second())),
            Arc::new(move || {
                at.checked_add(
                    jiff::SignedDuration::try_from(turmoil::elapsed()).unwrap_or_default(),
                )
                .unwrap_or(at)
            }),
        );
        for (host, gateway) in [
            (world.inner.clone(), Gateway::Inner),
            (world.external.clone(), Gateway::External),
        ] {
            let mut shared = shared.clone();
            let hour = qaqpa_sim::clock::local(at).hour();
            if gateway == Gateway::External
                && self.has("bus-external-closed-at-night")
                && !(6..21).contains(&hour)
            {
                // Its own store and registry: a gateway closed for the night.
                shared = Shared::new(
                    self.registry(world),
                    Settings {
                        maintenance_until: Some(
                            at.saturating_add(jiff::SignedDuration::from_hours(12))
                                .unwrap_or(at),
                        ),
                        ..shared.settings.clone()
                    },
                    0,
                    shared.clock.clone(),
                );
            }
            if outage.is_some_and(|o| !o.0) {
                // Down: the host is there and takes no connection.
                sim.host(host, || async {
                    std::future::pending::<()>().await;
                    Ok(())
                });
                continue;
            }
            sim.host(host, move || {
                let shared = shared.clone();
                async move {
                    let l = turmoil::net::TcpListener::bind(("0.0.0.0", BUS_PORT)).await?;
                    let bus = Rc::new(Bus::new(shared, gateway));
                    let out: Rc<dyn Outbound> = HttpOut::new(SimDialer);
                    loop {
                        let (s, _) = l.accept().await?;
                        tokio::task::spawn_local(serve_connection(s, bus.clone(), out.clone()));
                    }
                }
            });
        }
    }
}
