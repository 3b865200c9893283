//! Fault budgets: a scenario says what may go wrong (which links may be cut, the gateway
//! crashed and restarted, for how long, how often, within which seconds of an episode), and
//! each seed draws its own plan from it, so that many seeds explore many schedules of faults
//! (as FoundationDB's simulation and TigerBeetle's VOPR do) while one seed replays exactly.
//!
//! ```yaml
//! fault-budget:
//!   window: [5, 150]          # faults start within these seconds of the episode
//!   partitions: { peers: ["external:partner.example"], count: [0, 2], seconds: [3, 40] }
//!   crashes: { count: [1, 2], down-seconds: [1, 12] }
//!   spikes: { peers: ["external:partner.example"], count: [0, 3], seconds: [2, 20], millis: [200, 5000] }
//! ```

use rand::Rng;
use serde::Deserialize;

use crate::mail::{FaultAction, FaultSpec};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FaultBudget {
    /// Faults start within `[from, to]` seconds of the episode.
    pub window: (f64, f64),
    #[serde(default)]
    pub partitions: Option<PartitionBudget>,
    #[serde(default)]
    pub crashes: Option<CrashBudget>,
    #[serde(default)]
    pub spikes: Option<SpikeBudget>,
}

/// Latency spikes on the link between the gateway and one of `peers`: messages take up to
/// `millis` for `seconds`, then the link is ordinary again.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SpikeBudget {
    pub peers: Vec<String>,
    pub count: (u32, u32),
    pub seconds: (f64, f64),
    pub millis: (u64, u64),
}

/// Cuts between the gateway and one of `peers`, each healed after `seconds`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PartitionBudget {
    /// A system's id or `external:<domain>`, as in a fixed fault's `peer`.
    pub peers: Vec<String>,
    /// How many cuts, at least and at most.
    pub count: (u32, u32),
    /// How long each lasts, at least and at most.
    pub seconds: (f64, f64),
}

/// Crashes of the gateway, each followed by a restart after `down-seconds`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct CrashBudget {
    pub count: (u32, u32),
    pub down_seconds: (f64, f64),
}

/// The most faults of one kind an episode may draw: a budget is a schedule, not a flood.
const MAX_COUNT: u32 = 20;

impl FaultBudget {
    /// What is wrong with the budget, named by field; `peer_ok` checks a peer's name.
    pub fn validate(&self, peer_ok: &dyn Fn(&str) -> Result<(), String>) -> Result<(), String> {
        let (from, to) = self.window;
        if !(from.is_finite() && to.is_finite() && 0.0 <= from && from < to) {
            return Err(format!(
                "fault-budget.window [{from}, {to}]: expected 0 <= from < to seconds"
            ));
        }
        let range = |what: &str, (lo, hi): (f64, f64)| {
            if lo.is_finite() && hi.is_finite() && 0.0 < lo && lo <= hi {
                Ok(())
            } else {
                Err(format!(
                    "fault-budget.{what} [{lo}, {hi}]: expected 0 < min <= max seconds"
                ))
            }
        };
        let count = |what: &str, (lo, hi): (u32, u32)| {
            if lo <= hi && hi <= MAX_COUNT {
                Ok(())
            } else {
                Err(format!(
                    "fault-budget.{what}.count [{lo}, {hi}]: expected min <= max <= {MAX_COUNT}"
                ))
            }
        };
        if let Some(p) = &self.partitions {
            count("partitions", p.count)?;
            range("partitions.seconds", p.seconds)?;
            if p.peers.is_empty() {
                return Err("fault-budget.partitions.peers: expected at least one peer".into());
            }
            for peer in &p.peers {
                peer_ok(peer).map_err(|e| format!("fault-budget.partitions.peers: {e}"))?;
            }
        }
        if let Some(c) = &self.crashes {
            count("crashes", c.count)?;
            range("crashes.down-seconds", c.down_seconds)?;
        }
        if let Some(sp) = &self.spikes {
            count("spikes", sp.count)?;
            range("spikes.seconds", sp.seconds)?;
            let (lo, hi) = sp.millis;
            if !(40 <= lo && lo <= hi && hi <= crate::mail::MAX_SPIKE_MILLIS) {
                return Err(format!(
                    "fault-budget.spikes.millis [{lo}, {hi}]: expected 40 <= min <= max <= {}",
                    crate::mail::MAX_SPIKE_MILLIS
                ));
            }
            if sp.peers.is_empty() {
                return Err("fault-budget.spikes.peers: expected at least one peer".into());
            }
            for peer in &sp.peers {
                peer_ok(peer).map_err(|e| format!("fault-budget.spikes.peers: {e}"))?;
            }
        }
        if self.partitions.is_none() && self.crashes.is_none() && self.spikes.is_none() {
            return Err("fault-budget: expected `partitions`, `crashes` or `spikes`".into());
        }
        Ok(())
    }

    /// One plan drawn from the budget. Crashes fall in disjoint slots of the window, so the
    /// gateway is never crashed while down; cuts may overlap crashes and each other only on
    /// different peers.
    pub fn draw(&self, rng: &mut impl Rng) -> Vec<FaultSpec> {
        let (from, to) = self.window;
        let mut plan = Vec::new();
        if let Some(c) = &self.crashes {
            let n = rng.random_range(c.count.0..=c.count.1);
            let slot = (to - from) / f64::from(n.max(1));
            for i in 0..n {
                let start = from + slot * f64::from(i);
                let down = rng
                    .random_range(c.down_seconds.0..=c.down_seconds.1)
                    .min(slot * 0.5);
                let at = start + rng.random_range(0.0..=(slot - down).max(0.0));
                plan.push(fault(at, FaultAction::Crash, None));
                plan.push(fault(at + down, FaultAction::Restart, None));
            }
        }
        if let Some(p) = &self.partitions {
            let n = rng.random_range(p.count.0..=p.count.1);
            // one cut at a time per peer: each peer's cuts follow one another
            let mut free_from: Vec<f64> = vec![from; p.peers.len()];
            for _ in 0..n {
                let k = rng.random_range(0..p.peers.len());
                let start = rng.random_range(free_from[k]..=to.max(free_from[k]));
                let len = rng.random_range(p.seconds.0..=p.seconds.1);
                let peer = Some(p.peers[k].clone());
                plan.push(fault(start, FaultAction::Partition, peer.clone()));
                plan.push(fault(start + len, FaultAction::Repair, peer));
                free_from[k] = start + len;
            }
        }
        if let Some(sp) = &self.spikes {
            let n = rng.random_range(sp.count.0..=sp.count.1);
            let mut free_from: Vec<f64> = vec![from; sp.peers.len()];
            for _ in 0..n {
                let k = rng.random_range(0..sp.peers.len());
                let start = rng.random_range(free_from[k]..=to.max(free_from[k]));
                let len = rng.random_range(sp.seconds.0..=sp.seconds.1);
                let ms = rng.random_range(sp.millis.0..=sp.millis.1);
                let peer = Some(sp.peers[k].clone());
                let mut slow = fault(start, FaultAction::Slow, peer.clone());
                slow.millis = Some(ms);
                plan.push(slow);
                plan.push(fault(start + len, FaultAction::Restore, peer));
                free_from[k] = start + len;
            }
        }
        // stable: a cut and a spike at the same instant keep their drawing order
        plan.sort_by(|a, b| a.at.total_cmp(&b.at));
        plan
    }
}

fn fault(at: f64, action: FaultAction, peer: Option<String>) -> FaultSpec {
    FaultSpec {
        // to the millisecond, so plans print and compare cleanly
        at: (at * 1000.0).round() / 1000.0,
        action,
        peer,
        millis: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget() -> FaultBudget {
        FaultBudget {
            window: (5.0, 150.0),
            partitions: Some(PartitionBudget {
                peers: vec!["external:a".into(), "external:b".into()],
                count: (0, 3),
                seconds: (3.0, 40.0),
            }),
            crashes: Some(CrashBudget {
                count: (1, 3),
                down_seconds: (1.0, 12.0),
            }),
            spikes: Some(SpikeBudget {
                peers: vec!["external:a".into()],
                count: (0, 2),
                seconds: (1.0, 10.0),
                millis: (200, 3000),
            }),
        }
    }

    #[test]
    fn a_seed_draws_one_plan_and_seeds_draw_different_plans() {
        let b = budget();
        let plan = |s| b.draw(&mut qaqpa_sim::seed::rng(s, "faults"));
        let same = |a: &[FaultSpec], b: &[FaultSpec]| {
            a.len() == b.len()
                && a.iter()
                    .zip(b)
                    .all(|(x, y)| x.at == y.at && x.action == y.action && x.peer == y.peer)
        };
        assert!(same(&plan(7), &plan(7)));
        let distinct = (0..20)
            .map(plan)
            .fold(Vec::<Vec<FaultSpec>>::new(), |mut seen, p| {
                if !seen.iter().any(|q| same(q, &p)) {
                    seen.push(p);
                }
                seen
            });
        assert!(
            distinct.len() >= 15,
            "only {} distinct plans of 20",
            distinct.len()
        );
    }

    #[test]
    fn plans_keep_to_the_budget() {
        let b = budget();
        for s in 0..200 {
            let plan = b.draw(&mut qaqpa_sim::seed::rng(s, "faults"));
            let crashes: Vec<&FaultSpec> = plan
                .iter()
                .filter(|f| f.action == FaultAction::Crash)
                .collect();
            assert!(
                (1..=3).contains(&crashes.len()),
                "seed {s}: {} crashes",
                crashes.len()
            );
            // never crashed while down: crash and restart alternate
            let mut down = false;
            for f in &plan {
                match f.action {
                    FaultAction::Crash => {
                        assert!(!down, "seed {s}: crash while down");
                        down = true;
                    }
                    FaultAction::Restart => {
                        assert!(down, "seed {s}: restart while up");
                        down = false;
                    }
                    _ => {}
                }
                assert!(f.at >= 5.0, "seed {s}: fault before the window at {}", f.at);
            }
            assert!(!down, "seed {s}: left down");
            let cuts = plan
                .iter()
                .filter(|f| f.action == FaultAction::Partition)
                .count();
            let heals = plan
                .iter()
                .filter(|f| f.action == FaultAction::Repair)
                .count();
            assert!(cuts <= 3 && cuts == heals, "seed {s}");
        }
    }

    #[test]
    fn a_bad_budget_is_named_by_field() {
        let ok = |_: &str| Ok(());
        let mut b = budget();
        b.window = (10.0, 5.0);
        assert!(b.validate(&ok).unwrap_err().contains("fault-budget.window"));
        let mut b = budget();
        b.crashes.as_mut().unwrap().count = (3, 1);
        assert!(b.validate(&ok).unwrap_err().contains("crashes.count"));
        let mut b = budget();
        b.partitions.as_mut().unwrap().seconds = (0.0, 1.0);
        assert!(b.validate(&ok).unwrap_err().contains("partitions.seconds"));
        let mut b = budget();
        b.spikes.as_mut().unwrap().millis = (10, 100_000);
        assert!(b.validate(&ok).unwrap_err().contains("spikes.millis"));
        let b = budget();
        let no_such = |p: &str| Err(format!("no host `{p}`"));
        assert!(
            b.validate(&no_such)
                .unwrap_err()
                .contains("partitions.peers")
        );
        assert!(budget().validate(&ok).is_ok());
    }
}
