//! Oracles over mail episodes: what the harness's SMTP clients were answered, what its
//! mailboxes received, what the blocklist said. Never the gateway's own account.

use std::collections::{BTreeMap, BTreeSet};

use qaqpa_reports::{Evidence, Judgement, Verdict};
use qaqpa_sim::clock;
use qaqpa_sim::trace::{Event, MailDelivered, NetworkNote, Observation, SmtpReply, Trace};

use super::{Oracle, OracleCtx};

/// An SMTP reply the harness's client got, as evidence.
pub(super) fn reply_ev(ctx: &OracleCtx<'_>, o: &Observation, r: &SmtpReply) -> Evidence {
    ev(ctx, o, format!("{} → {} {}", r.command, r.code, r.text))
}

pub(super) fn ev(ctx: &OracleCtx<'_>, o: &Observation, text: String) -> Evidence {
    Evidence {
        scenario: ctx.scenario.to_string(),
        at: clock::display(o.at),
        probe: o.probe.clone(),
        subject: format!("{:?} {}", o.subject.kind, o.subject.id).to_lowercase(),
        text,
        seq: Some(o.seq),
    }
}

pub(super) fn computed(ctx: &OracleCtx<'_>, trace: &Trace, text: String) -> Evidence {
    let at = trace.observations().last().map(|o| o.at).unwrap_or(ctx.end);
    Evidence {
        scenario: ctx.scenario.to_string(),
        at: clock::display(at),
        probe: "oracle".into(),
        subject: "mail episode".into(),
        text,
        seq: None,
    }
}

pub(super) fn replies(trace: &Trace) -> impl Iterator<Item = (&Observation, &SmtpReply)> {
    trace.observations().iter().filter_map(|o| match &o.event {
        Event::SmtpReply(r) => Some((o, r)),
        _ => None,
    })
}

pub(super) fn deliveries(trace: &Trace) -> impl Iterator<Item = (&Observation, &MailDelivered)> {
    trace.observations().iter().filter_map(|o| match &o.event {
        Event::MailDelivered(d) => Some((o, d)),
        _ => None,
    })
}

pub(super) fn notes<'t>(
    trace: &'t Trace,
    what: &'t str,
) -> impl Iterator<Item = &'t NetworkNote> + 't {
    trace
        .observations()
        .iter()
        .filter_map(move |o| match &o.event {
            Event::Network(n) if n.what == what => Some(n),
            _ => None,
        })
}

pub(super) fn gateway_ip(trace: &Trace) -> Option<String> {
    notes(trace, "gateway").find_map(|n| n.fields.get("ip").cloned())
}

/// Every address the gateway's outbound mail may come from: its `ip`, and a live product's
/// further `outbound` addresses (comma-separated).
pub(super) fn gateway_ips(trace: &Trace) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for n in notes(trace, "gateway") {
        out.extend(n.fields.get("ip").cloned());
        if let Some(list) = n.fields.get("outbound") {
            out.extend(
                list.split(',')
                    .map(|a| a.trim().to_string())
                    .filter(|a| !a.is_empty()),
            );
        }
    }
    out
}

/// Where the harness's clients reach the gateway: a live product's `listen` address, or port
/// 25 of its address in the simulation.
pub(super) fn gateway_listener(trace: &Trace, ip: &str) -> String {
    notes(trace, "gateway")
        .find_map(|n| n.fields.get("listen").cloned())
        .unwrap_or_else(|| format!("{ip}:25"))
}

pub(super) fn is_final(r: &SmtpReply) -> bool {
    r.command.starts_with("end of data")
}

/// The recipients an accepted submission carried, from the harness's command text.
fn accepted_rcpts(r: &SmtpReply) -> Vec<String> {
    r.command
        .split_whitespace()
        .filter_map(|w| w.strip_prefix('<')?.strip_suffix('>'))
        .map(str::to_ascii_lowercase)
        .collect()
}

fn finish(verdict: Verdict, finding: String, evidence: Vec<Evidence>) -> Judgement {
    Judgement {
        verdict,
        finding,
        evidence,
    }
}

/// ugem-3: the gateway relays only between connected departmental domains and external mail:
/// every probe (open-relay attempt, a stranger claiming a connected domain, a system sending
/// as another's domain) is refused, and ordinary mail arrives through the gateway.
pub struct RelayOnlyConnected;

impl Oracle for RelayOnlyConnected {
    fn clause(&self) -> &'static str {
        "ugem-3"
    }

    fn obligation(&self) -> &'static str {
        "relays-only-connected"
    }

    fn describe(&self) -> &'static str {
        "in mail episodes, every probe message (open-relay attempts, unregistered servers claiming a connected domain, a system sending as another domain) is refused before it is accepted, and ordinary mail between connected and external domains is accepted (not refused, not left unanswered) and reaches its mailbox from the gateway's address"
    }

    fn judge(&self, ctx: &OracleCtx<'_>, trace: &Trace) -> Judgement {
        let Some(gw) = gateway_ip(trace) else {
            return finish(
                Verdict::NotTested,
                "the trace holds no mail episode".into(),
                vec![],
            );
        };
        let gws = gateway_ips(trace);
        let mut evidence = Vec::new();
        let mut faults = Vec::new();
        let mut probes = BTreeSet::new();
        for (o, r) in replies(trace).filter(|(_, r)| r.flow_kind == "probe") {
            let m = r.message.clone().unwrap_or_default();
            probes.insert(m.clone());
            if is_final(r) && r.code / 100 == 2 {
                faults.push(format!(
                    "probe {m} of flow `{}` from {} was accepted ({} {})",
                    r.flow, r.client, r.code, r.text
                ));
                evidence.push(reply_ev(ctx, o, r));
            }
        }
        let mut relayed = 0;
        let normal: BTreeSet<String> = replies(trace)
            .filter(|(_, r)| r.flow_kind == "normal" && is_final(r) && r.code / 100 == 2)
            .filter_map(|(_, r)| r.message.clone())
            .collect();
        // Ordinary mail the gateway never accepted, with the last reply it got: refused, or
        // no reply at all (a gateway that hangs or drops the connection relays nothing).
        let mut last_reply: BTreeMap<String, (&Observation, &SmtpReply)> = BTreeMap::new();
        for (o, r) in replies(trace).filter(|(_, r)| r.flow_kind == "normal") {
            if let Some(m) = &r.message {
                last_reply.insert(m.clone(), (o, r));
            }
        }
        let refused: Vec<(&Observation, &SmtpReply)> = last_reply
            .iter()
            .filter(|(m, _)| !normal.contains(*m))
            .map(|(_, v)| *v)
            .collect();
        for (o, r) in refused.iter().take(5) {
            faults.push(format!(
                "ordinary message {} of flow `{}` from {} was never accepted: {}",
                r.message.clone().unwrap_or_default(),
                r.flow,
                r.client,
                if r.code == 0 {
                    format!("{} got {}", r.command, r.text)
                } else {
                    format!("{} → {} {}", r.command, r.code, r.text)
                }
            ));
            evidence.push(reply_ev(ctx, o, r));
        }
        if refused.len() > 5 {
            faults.push(format!(
                "and {} more ordinary message(s)",
                refused.len() - 5
            ));
        }
        for (o, d) in deliveries(trace) {
            let Some(id) = &d.message_id else { continue };
            if probes.contains(id) {
                faults.push(format!("probe {id} reached mailbox {}", d.mailbox));
                evidence.push(ev(
                    ctx,
                    o,
                    format!("{id} delivered to {} from {}", d.mailbox, d.peer),
                ));
            }
            if normal.contains(id) {
                if gws.contains(&d.peer) {
                    relayed += 1;
                } else {
                    faults.push(format!(
                        "{id} reached {} from {}, not from the gateway {gw}",
                        d.mailbox, d.peer
                    ));
                    evidence.push(ev(ctx, o, format!("{id} delivered from {}", d.peer)));
                }
            }
        }
        if probes.is_empty() && relayed == 0 && refused.is_empty() {
            return finish(
                Verdict::NotTested,
                "the episode sent neither probes nor ordinary mail".into(),
                vec![],
            );
        }
        let summary = format!(
            "{} probe message(s) tried, {} ordinary message(s) relayed through the gateway {gw}",
            probes.len(),
            relayed
        );
        if faults.is_empty() {
            if relayed == 0 {
                return finish(
                    Verdict::NotTested,
                    format!("{summary}; no ordinary mail to show relaying works"),
                    vec![computed(ctx, trace, summary.clone())],
                );
            }
            finish(
                Verdict::Pass,
                format!("{summary}; every probe refused"),
                vec![computed(ctx, trace, summary)],
            )
        } else {
            evidence.insert(0, computed(ctx, trace, summary));
            finish(Verdict::Fail, faults.join("; "), evidence)
        }
    }
}

/// ugem-6: nothing accepted is lost: every recipient of every message the gateway accepted
/// (250 after DATA) ends at its mailbox, or in a bounce that names the message, by the end of
/// the episode, across the faults injected.
pub struct NothingLost;

impl Oracle for NothingLost {
    fn clause(&self) -> &'static str {
        "ugem-6"
    }

    fn obligation(&self) -> &'static str {
        "nothing-lost-across-faults"
    }

    fn describe(&self) -> &'static str {
        "in mail episodes with faults (partition, crash and restart, slow and dead receivers), every recipient of every message the gateway accepted with 250 after DATA is delivered, or bounced to the sender with a notice naming the message, by the end of the episode"
    }

    fn judge(&self, ctx: &OracleCtx<'_>, trace: &Trace) -> Judgement {
        if gateway_ip(trace).is_none() {
            return finish(
                Verdict::NotTested,
                "the trace holds no mail episode".into(),
                vec![],
            );
        }
        // message → (accepted recipients, observation index)
        let mut accepted: BTreeMap<String, (Vec<String>, &Observation)> = BTreeMap::new();
        for (o, r) in replies(trace) {
            if is_final(r)
                && r.code / 100 == 2
                && let Some(m) = &r.message
            {
                accepted
                    .entry(m.clone())
                    .or_insert((accepted_rcpts(r), o))
                    .0
                    .extend(accepted_rcpts(r));
            }
        }
        if accepted.is_empty() {
            return finish(
                Verdict::NotTested,
                "the gateway accepted no message".into(),
                vec![],
            );
        }
        let mut got: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut bounced: BTreeSet<String> = BTreeSet::new();
        for (_, d) in deliveries(trace) {
            if let Some(id) = &d.message_id {
                got.entry(id.clone())
                    .or_default()
                    .extend(d.rcpts.iter().map(|r| r.to_ascii_lowercase()));
            }
            bounced.extend(d.mentions.iter().cloned());
        }
        // A fault whose injection failed (a live product's command that did not work) is
        // no fault the gateway went through.
        let mut faults_seen: Vec<String> = Vec::new();
        let mut not_injected: Vec<String> = Vec::new();
        for o in trace
            .observations()
            .iter()
            .filter(|o| o.probe == "fault-injector")
        {
            if let Event::Network(n) = &o.event {
                let what = format!("{} at {}", n.what, clock::display(o.at));
                match n.fields.get("error") {
                    None => faults_seen.push(what),
                    Some(e) => not_injected.push(format!("{what} ({e})")),
                }
            }
        }
        let mut lost = Vec::new();
        let mut evidence = Vec::new();
        let (mut n_delivered, mut n_bounced) = (0, 0);
        for (id, (rcpts, o)) in &accepted {
            let rs: BTreeSet<&String> = rcpts.iter().collect();
            let have = got.get(id);
            let missing: Vec<&&String> = rs
                .iter()
                .filter(|r| have.is_none_or(|h| !h.contains(**r)))
                .collect();
            if missing.is_empty() {
                n_delivered += 1;
            } else if bounced.contains(id) {
                n_bounced += 1;
            } else {
                lost.push(format!(
                    "{id} (to {})",
                    missing
                        .iter()
                        .map(|r| r.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
                if evidence.len() < 6 {
                    evidence.push(ev(
                        ctx,
                        o,
                        format!(
                            "{id} accepted; neither delivered to {} nor bounced",
                            missing
                                .iter()
                                .map(|r| r.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ));
                }
            }
        }
        let mut summary = format!(
            "{} message(s) accepted: {n_delivered} delivered, {n_bounced} bounced, {} lost; faults: {}",
            accepted.len(),
            lost.len(),
            if faults_seen.is_empty() {
                "none".to_string()
            } else {
                faults_seen.join(", ")
            }
        );
        if !not_injected.is_empty() {
            summary.push_str(&format!("; not injected: {}", not_injected.join(", ")));
        }
        evidence.insert(0, computed(ctx, trace, summary.clone()));
        if lost.is_empty() && faults_seen.is_empty() {
            // A fault-free episode shows nothing of keeping mail across faults.
            finish(
                Verdict::NotTested,
                format!("{summary}: an episode without faults does not judge ugem-6"),
                vec![],
            )
        } else if lost.is_empty() {
            finish(Verdict::Pass, summary, evidence)
        } else {
            let shown: Vec<&str> = lost.iter().take(5).map(String::as_str).collect();
            finish(
                Verdict::Fail,
                format!(
                    "{summary}; lost: {}{}",
                    shown.join("; "),
                    if lost.len() > 5 { "; …" } else { "" }
                ),
                evidence,
            )
        }
    }
}

/// ugem-12: in a spam burst from one connected system, no gateway address is ever listed by
/// the blocklist, the offending system is cut off, its owner is told, and the other systems'
/// mail is delivered.
pub struct TrafficGuard(pub GuardPart);

/// The obligations of ugem-12, judged apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuardPart {
    GatewayNeverListed,
    OffenderSuspended,
    OwnerNotified,
    OthersKeepFlowing,
}

impl Oracle for TrafficGuard {
    fn clause(&self) -> &'static str {
        "ugem-12"
    }

    fn obligation(&self) -> &'static str {
        match self.0 {
            GuardPart::GatewayNeverListed => "gateway-never-listed",
            GuardPart::OffenderSuspended => "offender-suspended",
            GuardPart::OwnerNotified => "owner-notified",
            GuardPart::OthersKeepFlowing => "others-keep-flowing",
        }
    }

    fn describe(&self) -> &'static str {
        match self.0 {
            GuardPart::GatewayNeverListed => {
                "in spam-burst episodes, the blocklist never lists the gateway's address"
            }
            GuardPart::OffenderSuspended => {
                "in spam-burst episodes, the offending system's later submissions are refused (suspended), and stay refused"
            }
            GuardPart::OwnerNotified => {
                "in spam-burst episodes, a notice reaches the offending system's owner's mailbox"
            }
            GuardPart::OthersKeepFlowing => {
                "in spam-burst episodes, every ordinary message the other systems had accepted is delivered, and none of theirs is refused"
            }
        }
    }

    fn judge(&self, ctx: &OracleCtx<'_>, trace: &Trace) -> Judgement {
        let offenders: BTreeSet<String> = replies(trace)
            .filter(|(_, r)| r.flow_kind == "spam")
            .map(|(_, r)| r.client.clone())
            .collect();
        if offenders.is_empty() {
            return finish(
                Verdict::NotTested,
                "no spam burst in the trace".into(),
                vec![],
            );
        }
        let part = self.0;
        let mut faults = Vec::new();
        let mut evidence = Vec::new();
        let mut final_status = false;
        for o in trace.observations() {
            if let Event::Blocklist(b) = &o.event
                && b.role == "gateway"
            {
                final_status = true;
                if part == GuardPart::GatewayNeverListed
                    && let Some(code) = &b.listed
                {
                    faults.push(format!(
                        "the blocklist lists the gateway's address {} ({code}: {})",
                        b.ip, b.reason
                    ));
                    evidence.push(ev(ctx, o, format!("{} listed {code}", b.ip)));
                }
            }
        }
        if !final_status {
            return finish(
                Verdict::NotTested,
                "the blocklist was never asked about the gateway".into(),
                vec![],
            );
        }
        let owners: BTreeMap<String, String> = notes(trace, "system")
            .filter_map(|n| {
                Some((
                    n.fields.get("id")?.clone(),
                    n.fields.get("owner")?.to_ascii_lowercase(),
                ))
            })
            .collect();
        for sys in &offenders {
            if part == GuardPart::OffenderSuspended {
                suspended(ctx, trace, sys, &mut faults, &mut evidence);
            }
            if part == GuardPart::OwnerNotified {
                owner_told(ctx, trace, sys, owners.get(sys), &mut faults, &mut evidence);
            }
        }
        if part == GuardPart::OthersKeepFlowing {
            bystanders_flow(ctx, trace, &offenders, &mut faults, &mut evidence);
        }
        let bystanders = replies(trace)
            .filter(|(_, r)| {
                r.flow_kind == "normal"
                    && !offenders.contains(&r.client)
                    && is_final(r)
                    && r.code / 100 == 2
            })
            .count();
        let summary = format!(
            "offender(s): {}; {bystanders} ordinary message(s) of other systems accepted",
            offenders.iter().cloned().collect::<Vec<_>>().join(", ")
        );
        evidence.insert(0, computed(ctx, trace, summary.clone()));
        if faults.is_empty() {
            finish(
                Verdict::Pass,
                format!("{summary}; {}", self.describe()),
                evidence,
            )
        } else {
            finish(Verdict::Fail, faults.join("; "), evidence)
        }
    }
}

/// The offender's submissions are refused from some point on, and stay refused.
fn suspended(
    ctx: &OracleCtx<'_>,
    trace: &Trace,
    sys: &str,
    faults: &mut Vec<String>,
    evidence: &mut Vec<Evidence>,
) {
    let mine: Vec<_> = replies(trace).filter(|(_, r)| r.client == sys).collect();
    let first_refusal = mine
        .iter()
        .position(|(_, r)| r.code / 100 == 5 && (r.command.starts_with("MAIL") || is_final(r)));
    let Some(i) = first_refusal else {
        faults.push(format!(
            "system {sys} was never suspended: all its burst was accepted"
        ));
        if let Some((o, r)) = mine.iter().rev().find(|(_, r)| is_final(r)) {
            evidence.push(ev(
                ctx,
                o,
                format!(
                    "{sys}'s last submission still accepted: {} {}",
                    r.code, r.text
                ),
            ));
        }
        return;
    };
    let (o, r) = mine[i];
    evidence.push(ev(
        ctx,
        o,
        format!("{sys} suspended: {} {}", r.code, r.text),
    ));
    if let Some((o2, r2)) = mine[i..]
        .iter()
        .find(|(_, r)| is_final(r) && r.code / 100 == 2)
    {
        faults.push(format!(
            "system {sys} was refused once but later accepted again ({})",
            r2.message.clone().unwrap_or_default()
        ));
        evidence.push(ev(ctx, o2, "accepted after the suspension".into()));
    }
}

/// A message other than the harness's own reaches the offender's owner.
fn owner_told(
    ctx: &OracleCtx<'_>,
    trace: &Trace,
    sys: &str,
    owner: Option<&String>,
    faults: &mut Vec<String>,
    evidence: &mut Vec<Evidence>,
) {
    let Some(owner) = owner else {
        faults.push(format!("the trace does not say who owns {sys}"));
        return;
    };
    let told = deliveries(trace).find(|(_, d)| {
        d.rcpts.iter().any(|r| r.eq_ignore_ascii_case(owner))
            && d.message_id
                .as_deref()
                .is_none_or(|m| !m.ends_with("@qaqpa.test>"))
    });
    match told {
        Some((o, d)) => evidence.push(ev(
            ctx,
            o,
            format!(
                "owner {owner} told: {}",
                d.subject.clone().unwrap_or_default()
            ),
        )),
        None => {
            faults.push(format!("the owner of {sys} ({owner}) was not told"));
            // What obliged the notice: the burst the harness's probe saw accepted.
            if let Some((o, r)) =
                replies(trace).find(|(_, r)| r.client == sys && r.flow_kind == "spam")
            {
                evidence.push(ev(
                    ctx,
                    o,
                    format!("{sys}'s burst began: {} → {} {}", r.command, r.code, r.text),
                ));
            }
        }
    }
}

/// The other systems' ordinary mail is accepted and delivered.
fn bystanders_flow(
    ctx: &OracleCtx<'_>,
    trace: &Trace,
    offenders: &BTreeSet<String>,
    faults: &mut Vec<String>,
    evidence: &mut Vec<Evidence>,
) {
    let got: BTreeSet<String> = deliveries(trace)
        .filter_map(|(_, d)| d.message_id.clone())
        .collect();
    for (o, r) in replies(trace) {
        if r.flow_kind != "normal" || offenders.contains(&r.client) {
            continue;
        }
        if is_final(r) && r.code / 100 == 2 {
            let m = r.message.clone().unwrap_or_default();
            if !got.contains(&m) {
                faults.push(format!(
                    "{m} of {} was accepted but not delivered",
                    r.client
                ));
                evidence.push(ev(ctx, o, format!("{m} accepted, never delivered")));
            }
        } else if r.code / 100 == 5 {
            faults.push(format!(
                "{} of {} refused: {} {}",
                r.message.clone().unwrap_or_default(),
                r.client,
                r.code,
                r.text
            ));
            evidence.push(reply_ev(ctx, o, r));
        }
    }
}
