//! Main and backup channels and restarts (ugia-4, ugia-app2), judged from the harness's
//! side: the faults are the harness's own acts on its wires (`Event::Network` notes: a cable
//! cut or plugged, the device power-cycled), the sessions are the harness's flows with what
//! the taps saw of them. Nothing is asked of the device.

use jiff::{SignedDuration, Timestamp};
use qaqpa_reports::Judgement;
use qaqpa_sim::packetnet::Port;
use qaqpa_sim::trace::{Event, FlowSeen, Trace};

use super::{Tally, crossed, flow_id, flows, judgeable, within_budget};
use crate::oracle::{Oracle, OracleCtx};

/// How long after the main channel's cable is cut new sessions may still fail: the time a
/// device takes to notice the loss of carrier and move to the backup channel. The rules ask
/// for no loss of service; the harness allows link-loss detection this long.
pub const FAILOVER_WITHIN: SignedDuration = SignedDuration::from_secs(5);

/// How long after a power cycle new sessions may still fail: the device's boot.
pub const RESTART_WITHIN: SignedDuration = SignedDuration::from_secs(60);

/// A fault the harness injected, from its own notes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    Cut(Port),
    Plug(Port),
    Restart,
}

/// The harness's faults in time order.
pub fn faults(trace: &Trace) -> Vec<(Timestamp, Fault)> {
    trace
        .observations()
        .iter()
        .filter_map(|o| match &o.event {
            Event::Network(n) => {
                let port = n.fields.get("port").and_then(|p| Port::parse(p));
                let f = match (n.what.as_str(), port) {
                    ("cable cut", Some(p)) => Fault::Cut(p),
                    ("cable plugged", Some(p)) => Fault::Plug(p),
                    ("device power-cycled", _) => Fault::Restart,
                    _ => return None,
                };
                Some((o.at, f))
            }
            _ => None,
        })
        .collect()
}

/// Whether `port`'s cable is cut over the whole of `[from, to]`: cut at or before `from` and
/// not plugged again before `to`.
fn down_throughout(
    faults: &[(Timestamp, Fault)],
    port: Port,
    from: Timestamp,
    to: Timestamp,
) -> bool {
    let mut down = false;
    for (at, f) in faults {
        if *at > to {
            break;
        }
        match f {
            Fault::Cut(p) if *p == port => down = *at <= from,
            Fault::Plug(p) if *p == port => down = false,
            _ => {}
        }
    }
    down
}

/// Traffic the harness expects to cross: permitted flows (the ground truth says ordinary
/// traffic, and no catalogue term applies in the fault scenarios).
fn ordinary(f: &FlowSeen) -> bool {
    f.truth_class.as_deref() == Some("other")
}

/// ugia-app2: losing the main channel moves traffic to the backup without loss of service.
pub struct Failover;

impl Oracle for Failover {
    fn clause(&self) -> &'static str {
        "ugia-app2"
    }
    fn obligation(&self) -> &'static str {
        "failover-without-loss"
    }
    fn describe(&self) -> &'static str {
        "while the main channel's cable is cut, every session a User starts more than 5 s after the cut carries its whole conversation over the backup channel, and nothing of it leaves on the main channel (the 10 Gbit/s rate is not measured in simulation)"
    }
    fn judge(&self, ctx: &OracleCtx<'_>, trace: &Trace) -> Judgement {
        let faults = faults(trace);
        let mut t = Tally::new(
            self.clause(),
            "sessions started from 5 s after the main channel's cut until it is plugged again must cross whole, on the backup channel only",
        );
        for (o, f) in flows(trace) {
            if !ordinary(f) {
                continue;
            }
            let Some(cut) = faults
                .iter()
                .rev()
                .find(|(at, x)| *x == Fault::Cut(Port::OutsideMain) && *at <= f.first)
                .map(|x| x.0)
            else {
                continue;
            };
            // judged over the session's own life: from its start to its last frame
            let end = f.last_frame().unwrap_or(f.first);
            if !down_throughout(&faults, Port::OutsideMain, f.first, end) {
                continue;
            }
            if f.first < cut + FAILOVER_WITHIN {
                continue;
            }
            let main = f.on(Port::OutsideMain);
            if main.client_frames > 0 {
                t.fail(
                    o,
                    f,
                    format!(
                        "session {} sent {} frame(s) onto the main channel, whose cable was cut at {}",
                        flow_id(f),
                        main.client_frames,
                        qaqpa_sim::clock::display(cut)
                    ),
                );
            } else if !crossed(f) {
                t.fail(
                    o,
                    f,
                    format!(
                        "session {} started {} s after the main channel's cut did not carry its conversation over the backup",
                        flow_id(f),
                        f.first.duration_since(cut).as_secs()
                    ),
                );
            } else {
                t.pass(o, f);
            }
        }
        t.judge(ctx)
    }
}

/// ugia-4: Internet access stays available across link loss and restarts.
pub struct AvailableUnderFaults;

impl Oracle for AvailableUnderFaults {
    fn clause(&self) -> &'static str {
        "ugia-4"
    }
    fn obligation(&self) -> &'static str {
        "available-under-faults"
    }
    fn describe(&self) -> &'static str {
        "after a fault the harness injects (a channel's cable cut, the device power-cycled), every session a User starts once the allowance has passed (5 s for a cut, 60 s for a restart) carries its whole conversation"
    }
    fn judge(&self, ctx: &OracleCtx<'_>, trace: &Trace) -> Judgement {
        let faults = faults(trace);
        let mut t = Tally::new(
            self.clause(),
            "sessions started after a fault, past its allowance (5 s after a cut, 60 s after a power cycle), must cross whole",
        );
        for (o, f) in flows(trace) {
            if !ordinary(f) {
                continue;
            }
            // the latest fault before the session
            let Some((at, fault)) = faults.iter().rev().find(|(at, _)| *at <= f.first) else {
                continue;
            };
            let allowance = match fault {
                Fault::Cut(_) => FAILOVER_WITHIN,
                Fault::Restart => RESTART_WITHIN,
                Fault::Plug(_) => continue,
            };
            if f.first < *at + allowance {
                continue;
            }
            if crossed(f) {
                t.pass(o, f);
            } else {
                t.fail(
                    o,
                    f,
                    format!(
                        "session {} started {} s after the fault at {} did not carry its conversation",
                        flow_id(f),
                        f.first.duration_since(*at).as_secs(),
                        qaqpa_sim::clock::display(*at)
                    ),
                );
            }
        }
        t.judge(ctx)
    }
}

/// ugia-4: the policy in force is the same after a restart. Each flow after a power cycle is
/// paired with the same flow (user, source, destination, port, protocol, truth) before it:
/// what crossed before must cross after; what was blocked before must stay blocked.
pub struct PolicyKeptAcrossRestart;

fn same_flow(a: &FlowSeen, b: &FlowSeen) -> bool {
    a.user == b.user
        && a.src == b.src
        && a.dst == b.dst
        && a.dport == b.dport
        && a.proto == b.proto
        && a.truth_class == b.truth_class
        && a.truth_app == b.truth_app
}

impl Oracle for PolicyKeptAcrossRestart {
    fn clause(&self) -> &'static str {
        "ugia-4"
    }
    fn obligation(&self) -> &'static str {
        "policy-kept-across-restart"
    }
    fn describe(&self) -> &'static str {
        "the policy in force (catalogue, exemptions, declared VPN channels) is the same after the device is power-cycled: a flow that crossed before the restart crosses after it, and one that was blocked stays blocked"
    }
    fn judge(&self, ctx: &OracleCtx<'_>, trace: &Trace) -> Judgement {
        let restarts: Vec<Timestamp> = faults(trace)
            .into_iter()
            .filter(|(_, f)| *f == Fault::Restart)
            .map(|(at, _)| at)
            .collect();
        let mut t = Tally::new(
            self.clause(),
            "each flow started after a power cycle (past its 60 s allowance) is judged against the same flow before it: crossed before → crosses after; blocked before (beyond the budget) → blocked after",
        );
        let all: Vec<_> = flows(trace).collect();
        for (o, f) in &all {
            let Some(restart) = restarts.iter().rev().find(|r| **r <= f.first).copied() else {
                continue;
            };
            if f.first < restart + RESTART_WITHIN {
                continue;
            }
            let Some((_, before)) = all
                .iter()
                .rev()
                .find(|(_, b)| b.first < restart && same_flow(b, f))
            else {
                continue;
            };
            if crossed(before) {
                if crossed(f) {
                    t.pass(o, f);
                } else {
                    t.fail(
                        o,
                        f,
                        format!(
                            "flow {} crossed before the power cycle at {} but not after it",
                            flow_id(f),
                            qaqpa_sim::clock::display(restart)
                        ),
                    );
                }
            } else if judgeable(before) && within_budget(before) {
                if within_budget(f) {
                    t.pass(o, f);
                } else {
                    t.fail(
                        o,
                        f,
                        format!(
                            "flow {} was blocked before the power cycle at {} but crossed after it",
                            flow_id(f),
                            qaqpa_sim::clock::display(restart)
                        ),
                    );
                }
            }
        }
        t.judge(ctx)
    }
}
