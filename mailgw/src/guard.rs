//! Connected mail systems (the ugem-app registration) and the abnormal-traffic guard of
//! ugem-12.
//!
//! Signals, each over a sliding window of ten minutes, against the system's baseline (its
//! registered expected traffic):
//! - **volume**: messages accepted from the system > `factor` × the baseline's messages;
//! - **fan-out**: distinct external recipients > `factor` × the baseline's recipients;
//! - **recipients per message**: one message with more than `max_rcpts_per_message`;
//! - **bounce rate**: of at least 10 delivery attempts of the system's mail in the window,
//!   more than 30 % refused permanently by the receiving servers.
//!
//! A signal suspends that system only: its server's MAIL FROM is refused with 550 5.7.1,
//! its owner is told by mail, and every other system keeps flowing.

use std::collections::{BTreeMap, VecDeque};
use std::net::IpAddr;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct System {
    pub id: String,
    pub domain: String,
    pub servers: Vec<IpAddr>,
    /// The owner's mailbox, told of a suspension.
    pub owner: String,
    pub baseline: Baseline,
}

/// A system's expected traffic per ten minutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Baseline {
    pub messages: u32,
    pub recipients: u32,
}

impl Default for Baseline {
    fn default() -> Self {
        Baseline {
            messages: 10,
            recipients: 10,
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct GuardConfig {
    pub window_ms: u64,
    pub factor: u32,
    pub max_rcpts_per_message: usize,
    pub min_bounce_sample: usize,
    pub max_bounce_percent: usize,
    /// Off: the "no guard" defect.
    pub enabled: bool,
    /// On: the "suspends everyone" defect.
    pub suspend_everyone: bool,
}

impl Default for GuardConfig {
    fn default() -> Self {
        GuardConfig {
            window_ms: 10 * 60 * 1000,
            factor: 3,
            max_rcpts_per_message: 20,
            min_bounce_sample: 10,
            max_bounce_percent: 30,
            enabled: true,
            suspend_everyone: false,
        }
    }
}

/// The registry of connected systems.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    pub systems: Vec<System>,
}

impl Registry {
    pub fn by_ip(&self, ip: IpAddr) -> Option<&System> {
        self.systems.iter().find(|s| s.servers.contains(&ip))
    }

    /// The system whose domain (or a subdomain of it) `domain` is.
    pub fn by_domain(&self, domain: &str) -> Option<&System> {
        self.systems.iter().find(|s| {
            domain == s.domain
                || domain
                    .strip_suffix(&s.domain)
                    .is_some_and(|p| p.ends_with('.'))
        })
    }
}

#[derive(Default)]
struct Window {
    messages: VecDeque<u64>,
    recipients: BTreeMap<String, u64>,
    deliveries: VecDeque<(u64, bool)>,
}

/// Why a system was suspended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suspension {
    pub system: String,
    pub signal: String,
}

pub struct Guard {
    pub config: GuardConfig,
    windows: BTreeMap<String, Window>,
    suspended: BTreeMap<String, Suspension>,
}

impl Guard {
    pub fn new(config: GuardConfig) -> Self {
        Guard {
            config,
            windows: BTreeMap::new(),
            suspended: BTreeMap::new(),
        }
    }

    pub fn suspended(&self, system: &str) -> Option<&Suspension> {
        self.suspended.get(system).or_else(|| {
            // defect ugem-guard-suspends-everyone: one offender closes the gateway to all
            self.config
                .suspend_everyone
                .then(|| self.suspended.values().next())
                .flatten()
        })
    }

    fn prune(&mut self, system: &str, now: u64) -> &mut Window {
        let horizon = now.saturating_sub(self.config.window_ms);
        let w = self.windows.entry(system.to_string()).or_default();
        while w.messages.front().is_some_and(|&t| t < horizon) {
            w.messages.pop_front();
        }
        while w.deliveries.front().is_some_and(|&(t, _)| t < horizon) {
            w.deliveries.pop_front();
        }
        w.recipients.retain(|_, t| *t >= horizon);
        w
    }

    /// A message with these external recipients is about to be accepted from `sys`: counts
    /// it, and suspends the system (returning the suspension) if a signal fires.
    pub fn on_message(
        &mut self,
        sys: &System,
        external_rcpts: &[String],
        total_rcpts: usize,
        now: u64,
    ) -> Option<Suspension> {
        if !self.config.enabled {
            return None;
        }
        if let Some(s) = self.suspended(&sys.id) {
            return Some(s.clone());
        }
        let cfg = self.config;
        let w = self.prune(&sys.id, now);
        w.messages.push_back(now);
        for r in external_rcpts {
            w.recipients.insert(r.to_ascii_lowercase(), now);
        }
        let max_msgs = (sys.baseline.messages * cfg.factor) as usize;
        let max_rcpts = (sys.baseline.recipients * cfg.factor) as usize;
        let signal = if total_rcpts > cfg.max_rcpts_per_message {
            Some(format!(
                "a message with {total_rcpts} recipients (limit {})",
                cfg.max_rcpts_per_message
            ))
        } else if w.messages.len() > max_msgs {
            Some(format!(
                "{} messages in 10 minutes (baseline {}, limit {max_msgs})",
                w.messages.len(),
                sys.baseline.messages
            ))
        } else if w.recipients.len() > max_rcpts {
            Some(format!(
                "{} distinct external recipients in 10 minutes (baseline {}, limit {max_rcpts})",
                w.recipients.len(),
                sys.baseline.recipients
            ))
        } else {
            None
        };
        signal.map(|signal| self.suspend(&sys.id, signal))
    }

    /// A delivery of `system`'s mail ended, refused permanently or not.
    pub fn on_delivery(&mut self, system: &str, refused: bool, now: u64) -> Option<Suspension> {
        if !self.config.enabled || self.suspended.contains_key(system) {
            return None;
        }
        let cfg = self.config;
        let w = self.prune(system, now);
        w.deliveries.push_back((now, refused));
        let n = w.deliveries.len();
        let bad = w.deliveries.iter().filter(|(_, r)| *r).count();
        (n >= cfg.min_bounce_sample && bad * 100 > n * cfg.max_bounce_percent).then(|| {
            self.suspend(
                system,
                format!("{bad} of {n} deliveries refused by the receivers in 10 minutes"),
            )
        })
    }

    fn suspend(&mut self, system: &str, signal: String) -> Suspension {
        let s = Suspension {
            system: system.to_string(),
            signal,
        };
        self.suspended.insert(system.to_string(), s.clone());
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sys(id: &str) -> System {
        System {
            id: id.into(),
            domain: format!("{id}.gov.kz"),
            servers: vec![],
            owner: format!("it@{id}.gov.kz"),
            baseline: Baseline::default(),
        }
    }

    #[test]
    fn a_burst_suspends_only_its_system() {
        let mut g = Guard::new(GuardConfig::default());
        let (a, b) = (sys("a"), sys("b"));
        let mut fired = None;
        for i in 0..40u64 {
            let r = vec![format!("u{i}@ext.com")];
            if let Some(s) = g.on_message(&a, &r, 1, i * 1000) {
                fired = Some((i, s));
                break;
            }
        }
        let (i, s) = fired.expect("the burst fires");
        assert!(i <= 31, "{i}");
        assert!(s.signal.contains("10 minutes"), "{s:?}");
        assert!(g.on_message(&b, &["x@ext.com".into()], 1, 50_000).is_none());
        assert!(g.suspended("a").is_some() && g.suspended("b").is_none());
    }

    #[test]
    fn a_slow_steady_flow_never_fires() {
        let mut g = Guard::new(GuardConfig::default());
        let a = sys("a");
        for i in 0..500u64 {
            // one message a minute, to a handful of correspondents
            let r = vec![format!("u{}@ext.com", i % 5)];
            assert!(g.on_message(&a, &r, 1, i * 60_000).is_none(), "{i}");
        }
    }

    #[test]
    fn registry_matches_subdomains_not_lookalikes() {
        let r = Registry {
            systems: vec![sys("mof")],
        };
        assert!(r.by_domain("mof.gov.kz").is_some());
        assert!(r.by_domain("mail.mof.gov.kz").is_some());
        assert!(r.by_domain("xmof.gov.kz").is_none());
    }
}
