//! Oracles of the Internet access gateway's packet path (ureq-134-1, ureq-134-2, ureq-133.4,
//! ugia-13, ugia-15-1, ugia-16), and of its channels and restarts (ugia-4, ugia-9,
//! ugia-app2, in [`channels`]). They read what the taps on the device's ports saw of each
//! flow and what the harness's script for it held (`Event::Flow`), what the harness's ends
//! observed (`Event::Stream`), the STS's policy acts (`Event::PolicyAct`) and the ground truth
//! carried with each flow; never the gateway's own account.
//!
//! A flow is **blocked** when no more than the classification budget ([`BUDGET_PACKETS`]
//! packets and [`BUDGET_BYTES`] bytes of the client's payload) reached the outside ports; a
//! flow whose script holds no more client payload than that is no evidence of a block. A flow
//! **passed** when the whole of its client's half reached the outside ports and the whole of
//! its server's half came back in to the client.

pub mod channels;
pub mod replay;

/// The classification budget: a gateway needs the first packets of a flow to classify it,
/// so this much of the client's payload may reach the outside port of a flow it then blocks.
/// The reference's engine decides within 10 payload packets of both directions (nDPI's own
/// default is 24), each at most one segment of 1460 bytes.
pub const BUDGET_PACKETS: u64 = 10;
pub const BUDGET_BYTES: u64 = 16 * 1024;

/// Whether what reached the outside ports of `f` stays within the classification budget.
pub fn within_budget(f: &FlowSeen) -> bool {
    let (n, b) = f.client_outside();
    n <= BUDGET_PACKETS && b <= BUDGET_BYTES
}

/// Whether the flow's script holds more client payload than the budget: only then can the
/// taps tell a block from a short flow.
pub fn judgeable(f: &FlowSeen) -> bool {
    f.script.client_messages > BUDGET_PACKETS || f.script.client_bytes > BUDGET_BYTES
}

/// Whether the whole conversation crossed: the client's half out, the server's half in.
pub fn crossed(f: &FlowSeen) -> bool {
    f.client_outside().1 >= f.script.client_bytes
        && f.on(Port::Inside).server_bytes >= f.script.server_bytes
}

use std::net::IpAddr;

use jiff::Timestamp;
use qaqpa_reports::{Evidence, Judgement, Verdict};
use qaqpa_sim::clock;
use qaqpa_sim::packetnet::{PolicyAct, Port};
use qaqpa_sim::trace::{DocKind, Event, FlowSeen, Observation, Trace};

use super::{Oracle, OracleCtx};

/// The classes ureq-134-1 names. An unknown application's ground truth comes only from flows
/// the harness builds itself from bytes of no published grammar: a corpus flow a third party
/// could not name is don't-care, since it may be an application the gateway knows.
pub const BLOCKED_CLASSES: &[&str] = &[
    "vpn",
    "remote-access",
    "p2p",
    "game",
    "malicious",
    "unknown-application",
];

/// The categories whose encrypted traffic ugia-20 exempts from inspection.
pub const UGIA20_EXEMPT: &[&str] = &[
    "finance",
    "government",
    "health",
    "privacy",
    "video-conferencing",
    "av-updates",
    "os-updates",
];

/// The probe name of the taps around the packet gateway.
pub const TAP: &str = "tap:ugia";

fn flows(trace: &Trace) -> impl Iterator<Item = (&Observation, &FlowSeen)> {
    trace.observations().iter().filter_map(|o| match &o.event {
        Event::Flow(f) => Some((o, f)),
        _ => None,
    })
}

/// The flow's true class when it is default-blocked and an organisation's exemption can open
/// it (ureq-134-2): VPN opens only by a declared channel (ureq-133.4), malicious never.
fn exemptable_class(f: &FlowSeen) -> Option<&str> {
    f.truth_class
        .as_deref()
        .filter(|c| BLOCKED_CLASSES.contains(c) && *c != "vpn" && *c != "malicious")
}

fn acts(trace: &Trace) -> Vec<(Timestamp, &PolicyAct)> {
    trace
        .observations()
        .iter()
        .filter_map(|o| match &o.event {
            Event::PolicyAct(a) => Some((o.at, a)),
            _ => None,
        })
        .collect()
}

/// One calendar year after `t`, Almaty time (ugia-15-1).
pub fn year_after(t: Timestamp) -> Timestamp {
    let z = t.to_zoned(jiff::tz::TimeZone::get("Asia/Almaty").unwrap_or(jiff::tz::TimeZone::UTC));
    z.checked_add(jiff::Span::new().years(1))
        .map(|z| z.timestamp())
        .unwrap_or(t)
}

fn in_force(granted: Timestamp, t: Timestamp) -> bool {
    granted <= t && t < year_after(granted)
}

/// An opening of a default-blocked class for one organisation (ureq-134-2, ugia-15-1): a
/// policy act the scenario had the STS apply, or the STS's notice to the User that the
/// requested lists are applied (ugia-16). `sources` limits it to the notice's addresses.
struct Grant {
    at: Timestamp,
    organisation: String,
    class: String,
    sources: Vec<String>,
    /// Told to the User in a notice (ugia-16), rather than a scenario's act.
    notified: bool,
}

impl Grant {
    fn covers(&self, f: &FlowSeen, class: &str) -> bool {
        self.organisation == f.user
            && self.class == class
            && self.at <= f.first
            && (self.sources.is_empty()
                || f.src
                    .parse()
                    .is_ok_and(|ip| self.sources.iter().any(|p| prefix_contains(p, ip))))
    }
}

/// The classes an access application's category list opens: the default-blocked ones an exemption can open.
fn listed_classes(categories: &str) -> Vec<String> {
    categories
        .split([';', ','])
        .map(|c| c.trim().to_ascii_lowercase())
        .filter(|c| BLOCKED_CLASSES.contains(&c.as_str()) && c != "vpn" && c != "malicious")
        .collect()
}

/// The openings in the trace: the scenario's own exemption acts, and every access
/// application the STS said it applied. The scope of the latter is the application's, as the
/// harness sent it (its organisation, categories and addresses), never the notice's: a notice
/// that claims more, or leaves the addresses out, opens nothing wider.
fn grants(trace: &Trace) -> Vec<Grant> {
    let docs: Vec<_> = trace.documents().collect();
    let mut out = Vec::new();
    for o in trace.observations() {
        match &o.event {
            Event::PolicyAct(PolicyAct::Exemption {
                organisation,
                class,
                sources,
            }) => out.push(Grant {
                at: o.at,
                organisation: organisation.clone(),
                class: class.clone(),
                sources: sources.clone(),
                notified: false,
            }),
            Event::Document(d) if d.doc == DocKind::PolicyApplied => {
                let application = docs.iter().rev().find(|(ao, a)| {
                    a.doc == DocKind::AccessApplication
                        && a.case == d.case
                        && a.from == d.to
                        && ao.seq < o.seq
                });
                let Some((_, app)) = application else {
                    continue;
                };
                let sources: Vec<String> = app
                    .fields
                    .get("addresses")
                    .map(|a| {
                        a.split([';', ',', ' '])
                            .filter(|p| !p.is_empty())
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default();
                if sources.is_empty() {
                    // An application without addresses opens nothing the harness could
                    // hold the gateway to.
                    continue;
                }
                let categories = app.fields.get("categories").map_or("", String::as_str);
                for class in listed_classes(categories) {
                    out.push(Grant {
                        at: o.at,
                        organisation: app.from.clone(),
                        class,
                        sources: sources.clone(),
                        notified: true,
                    });
                }
            }
            _ => {}
        }
    }
    out
}

/// The latest grant before the flow that covers its class.
fn exemption_at(grants: &[Grant], f: &FlowSeen, class: &str) -> Option<Timestamp> {
    grants
        .iter()
        .rev()
        .find(|g| g.covers(f, class))
        .map(|g| g.at)
}

fn vpn_channel(acts: &[(Timestamp, &PolicyAct)], f: &FlowSeen) -> Option<Timestamp> {
    acts.iter().rev().find_map(|(at, a)| match a {
        PolicyAct::VpnChannel {
            organisation,
            src,
            dst,
            port,
            proto,
        } if *organisation == f.user
            && *src == f.src
            && *dst == f.dst
            && *port == f.dport
            && proto.eq_ignore_ascii_case(&f.proto)
            && in_force(*at, f.first) =>
        {
            Some(*at)
        }
        _ => None,
    })
}

fn prefix_contains(prefix: &str, ip: IpAddr) -> bool {
    let (a, len) = match prefix.split_once('/') {
        Some((a, l)) => (a, l.parse::<u32>().ok()),
        None => (prefix, None),
    };
    let Ok(net) = a.parse::<IpAddr>() else {
        return false;
    };
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) => {
            let l = len.unwrap_or(32).min(32);
            let mask = if l == 0 { 0 } else { u32::MAX << (32 - l) };
            u32::from(n) & mask == u32::from(i) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(i)) => {
            let l = len.unwrap_or(128).min(128);
            let mask = if l == 0 { 0 } else { u128::MAX << (128 - l) };
            u128::from(n) & mask == u128::from(i) & mask
        }
        _ => false,
    }
}

fn describe(f: &FlowSeen) -> String {
    let truth = match (&f.truth_class, &f.truth_category) {
        (Some(c), Some(cat)) => format!("{c}, category {cat}"),
        (Some(c), None) => c.clone(),
        (None, _) => "don't-care".into(),
    };
    let name = f
        .sni
        .as_deref()
        .map(|s| format!(" SNI {s}"))
        .unwrap_or_default();
    let (n, b) = f.client_outside();
    let ports: Vec<String> = Port::OUTSIDE
        .into_iter()
        .filter(|p| f.on(*p).client_frames + f.on(*p).server_frames > 0)
        .map(|p| p.to_string())
        .collect();
    format!(
        "{} {}:{} → {}:{} of {} ({}; truth: {}{}, {}): the script's client half {} message(s), {} bytes; its server half {} bytes; on the outside ports ({}) {} client packet(s), {} bytes; {} bytes of the answer reached the client's side (budget {} packets, {} bytes)",
        f.proto,
        f.src,
        f.sport,
        f.dst,
        f.dport,
        f.user,
        f.source,
        truth,
        name,
        f.truth_app.as_deref().unwrap_or("-"),
        f.script.client_messages,
        f.script.client_bytes,
        f.script.server_bytes,
        if ports.is_empty() {
            "none".to_string()
        } else {
            ports.join(", ")
        },
        n,
        b,
        f.on(Port::Inside).server_bytes,
        BUDGET_PACKETS,
        BUDGET_BYTES
    )
}

fn tap(ctx: &OracleCtx<'_>, o: &Observation, f: &FlowSeen) -> Evidence {
    Evidence {
        scenario: ctx.scenario.to_string(),
        at: clock::display(o.at),
        probe: o.probe.clone(),
        subject: format!(
            "flow {} {}:{} → {}:{}",
            f.proto, f.src, f.sport, f.dst, f.dport
        ),
        text: describe(f),
        seq: Some(o.seq),
    }
}

fn computed(ctx: &OracleCtx<'_>, at: Timestamp, subject: &str, text: String) -> Evidence {
    Evidence {
        scenario: ctx.scenario.to_string(),
        at: clock::display(at),
        probe: "oracle".into(),
        subject: subject.to_string(),
        text,
        seq: None,
    }
}

/// Flow-by-flow outcomes folded into one judgement: any failing flow fails the clause; the
/// finding counts and names a few; evidence shows up to a dozen flows and the rule applied.
struct Tally<'a> {
    clause: &'static str,
    rule: String,
    fails: Vec<(&'a Observation, &'a FlowSeen, String)>,
    passes: Vec<(&'a Observation, &'a FlowSeen)>,
    untested: usize,
    last: Option<Timestamp>,
}

impl<'a> Tally<'a> {
    fn new(clause: &'static str, rule: impl Into<String>) -> Self {
        Tally {
            clause,
            rule: rule.into(),
            fails: vec![],
            passes: vec![],
            untested: 0,
            last: None,
        }
    }
    fn pass(&mut self, o: &'a Observation, f: &'a FlowSeen) {
        self.last = Some(o.at);
        self.passes.push((o, f));
    }
    fn fail(&mut self, o: &'a Observation, f: &'a FlowSeen, why: String) {
        self.last = Some(o.at);
        self.fails.push((o, f, why));
    }
    /// The flow must be blocked: no more than the budget of its client's payload outside.
    /// One whose script is within the budget cannot be judged. `why` words the failure.
    fn expect_blocked(
        &mut self,
        o: &'a Observation,
        f: &'a FlowSeen,
        why: impl FnOnce() -> String,
    ) {
        if !judgeable(f) {
            self.untested += 1;
        } else if !within_budget(f) {
            self.fail(o, f, why());
        } else {
            self.pass(o, f);
        }
    }
    /// The flow must pass: the whole conversation crossed. `why` words the failure.
    fn expect_passed(&mut self, o: &'a Observation, f: &'a FlowSeen, why: impl FnOnce() -> String) {
        if !crossed(f) {
            self.fail(o, f, why());
        } else {
            self.pass(o, f);
        }
    }
    fn judge(self, ctx: &OracleCtx<'_>) -> Judgement {
        let at = self.last.unwrap_or(ctx.end);
        let total = self.fails.len() + self.passes.len();
        if total == 0 {
            return Judgement {
                verdict: Verdict::NotTested,
                finding: format!(
                    "the trace holds no flow that {} applies to ({} flows could not be judged)",
                    self.clause, self.untested
                ),
                evidence: vec![],
            };
        }
        let mut evidence = vec![computed(ctx, at, "rule", self.rule.clone())];
        if self.fails.is_empty() {
            evidence.extend(self.passes.iter().take(6).map(|(o, f)| tap(ctx, o, f)));
            return Judgement {
                verdict: Verdict::Pass,
                finding: format!(
                    "{} flow(s) judged, all as the clause requires ({} not judgeable)",
                    self.passes.len(),
                    self.untested
                ),
                evidence,
            };
        }
        let shown: Vec<String> = self
            .fails
            .iter()
            .take(3)
            .map(|(_, _, w)| w.clone())
            .collect();
        let more = if self.fails.len() > 3 {
            format!("; and {} more", self.fails.len() - 3)
        } else {
            String::new()
        };
        for (o, f, why) in self.fails.iter().take(12) {
            evidence.push(tap(ctx, o, f));
            evidence.push(computed(
                ctx,
                o.at,
                &format!("flow {}:{} → {}:{}", f.src, f.sport, f.dst, f.dport),
                why.clone(),
            ));
        }
        Judgement {
            verdict: Verdict::Fail,
            finding: format!(
                "{} of {} flow(s) break {}: {}{}",
                self.fails.len(),
                total,
                self.clause,
                shown.join("; "),
                more
            ),
            evidence,
        }
    }
}

fn flow_id(f: &FlowSeen) -> String {
    format!(
        "{} {}:{} → {}:{} ({})",
        f.proto, f.src, f.sport, f.dst, f.dport, f.source
    )
}

/// ureq-134-1: default blocking of the named classes.
pub struct DefaultBlocking;

impl Oracle for DefaultBlocking {
    fn clause(&self) -> &'static str {
        "ureq-134-1"
    }
    fn obligation(&self) -> &'static str {
        "blocked-by-default"
    }
    fn describe(&self) -> &'static str {
        "no flow that the ground truth puts in a default-blocked class (VPN, remote access, p2p, gaming, malicious, unknown application) gets frames past the gateway beyond its first classification window, unless an exemption or a declared VPN channel in force covers it"
    }
    fn judge(&self, ctx: &OracleCtx<'_>, trace: &Trace) -> Judgement {
        let acts = acts(trace);
        let grants = grants(trace);
        let mut t = Tally::new(
            self.clause(),
            "a default-blocked flow may have at most the classification budget of its client's payload (10 packets, 16 KiB) leave on the outside ports while the gateway classifies it; a flow whose script holds no more than that is not judged",
        );
        for (o, f) in flows(trace) {
            let Some(class) = f
                .truth_class
                .as_deref()
                .filter(|c| BLOCKED_CLASSES.contains(c))
            else {
                continue;
            };
            let exempt = (class != "vpn"
                && class != "malicious"
                && exemption_at(&grants, f, class).is_some_and(|g| in_force(g, f.first)))
                || (class == "vpn" && vpn_channel(&acts, f).is_some());
            if exempt {
                continue;
            }
            t.expect_blocked(o, f, || {
                let (n, b) = f.client_outside();
                format!(
                    "{class} flow {} had {n} client packet(s), {b} bytes leave on the outside ports, beyond the budget",
                    flow_id(f)
                )
            });
        }
        t.judge(ctx)
    }
}

/// ureq-133.4: a VPN channel is opened as exactly its declared tuple.
pub struct VpnChannelExact;

impl Oracle for VpnChannelExact {
    fn clause(&self) -> &'static str {
        "ureq-133.4"
    }
    fn obligation(&self) -> &'static str {
        "exactly-the-declared-channel"
    }
    fn describe(&self) -> &'static str {
        "a VPN flow that matches a declared channel (source, destination, port, protocol) passes; a VPN flow of the same organisation that differs in any of them stays blocked"
    }
    fn judge(&self, ctx: &OracleCtx<'_>, trace: &Trace) -> Judgement {
        let acts = acts(trace);
        let mut t = Tally::new(
            self.clause(),
            "the exemption is exactly the declared (source, destination, port, protocol) set: matching flows pass without drops, others keep the default block",
        );
        for (o, f) in flows(trace) {
            if f.truth_class.as_deref() != Some("vpn") {
                continue;
            }
            let declares = acts.iter().any(|(at, a)| matches!(a, PolicyAct::VpnChannel { organisation, .. } if *organisation == f.user && in_force(*at, f.first)));
            if !declares {
                continue;
            }
            if vpn_channel(&acts, f).is_some() {
                t.expect_passed(o, f, || {
                    format!(
                        "declared VPN channel {} did not carry its whole conversation",
                        flow_id(f)
                    )
                });
            } else {
                t.expect_blocked(o, f, || format!("VPN flow {} is outside the declared channels yet {} bytes of it left on the outside ports", flow_id(f), f.client_outside().1));
            }
        }
        t.judge(ctx)
    }
}

/// ugia-15-1: an exemption opens a class for one calendar year, then closes.
pub struct ExemptionYear;

impl Oracle for ExemptionYear {
    fn clause(&self) -> &'static str {
        "ugia-15-1"
    }
    fn obligation(&self) -> &'static str {
        "open-for-one-calendar-year"
    }
    fn describe(&self) -> &'static str {
        "a class exempted for an organisation passes for that organisation within one calendar year of the grant, and is blocked again after it unless renewed"
    }
    fn judge(&self, ctx: &OracleCtx<'_>, trace: &Trace) -> Judgement {
        let grants = grants(trace);
        let mut t = Tally::new(
            self.clause(),
            "within a year of the grant the exempted class passes without drops; after the year it is blocked beyond the classification window",
        );
        for (o, f) in flows(trace) {
            let Some(class) = exemptable_class(f) else {
                continue;
            };
            let Some(granted) = exemption_at(&grants, f, class) else {
                continue;
            };
            let until = year_after(granted);
            if f.first < until {
                t.expect_passed(o, f, || format!("{class} flow {} within the year of the exemption granted {} did not carry its whole conversation", flow_id(f), clock::display(granted)));
            } else {
                t.expect_blocked(o, f, || {
                    format!(
                        "{class} flow {} at {} still passes: the exemption granted {} ended {}",
                        flow_id(f),
                        clock::display(f.first),
                        clock::display(granted),
                        clock::display(until)
                    )
                });
            }
        }
        t.judge(ctx)
    }
}

/// ugia-13: detection → notice → the operator's term → block → unblock after the update,
/// one obligation per step.
pub struct CatalogueBlock(pub CataloguePart);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CataloguePart {
    /// The STS's notice to the operator lists every source the taps saw outside the catalogue.
    NoticeListsSources,
    /// A listed source keeps its access until the end of the operator's 5th working day.
    AccessKeptUntilTerm,
    /// After the term, a source still outside the catalogue is blocked.
    BlockedAfterTerm,
    /// Once the operator catalogues it, the source passes again.
    UnblockedAfterUpdate,
}

/// When the catalogue first covers `ip` at or before `t`, by the operator's acts.
fn catalogued_at(acts: &[(Timestamp, &PolicyAct)], ip: IpAddr, t: Timestamp) -> Option<Timestamp> {
    acts.iter().find_map(|(at, a)| match a {
        PolicyAct::Catalogue { prefixes, .. }
            if *at <= t && prefixes.iter().any(|p| prefix_contains(p, ip)) =>
        {
            Some(*at)
        }
        _ => None,
    })
}

impl Oracle for CatalogueBlock {
    fn clause(&self) -> &'static str {
        "ugia-13"
    }
    fn obligation(&self) -> &'static str {
        match self.0 {
            CataloguePart::NoticeListsSources => "notice-lists-every-source",
            CataloguePart::AccessKeptUntilTerm => "access-kept-until-term",
            CataloguePart::BlockedAfterTerm => "blocked-after-term",
            CataloguePart::UnblockedAfterUpdate => "unblocked-after-update",
        }
    }
    fn describe(&self) -> &'static str {
        match self.0 {
            CataloguePart::NoticeListsSources => {
                "the STS's notice to the operator lists every source the taps saw outside the catalogue before it"
            }
            CataloguePart::AccessKeptUntilTerm => {
                "a source the notice lists keeps its access until the end of the 5th working day after the notice"
            }
            CataloguePart::BlockedAfterTerm => {
                "a listed source still outside the catalogue after the operator's term is blocked"
            }
            CataloguePart::UnblockedAfterUpdate => {
                "a listed source the operator catalogues passes again from then on"
            }
        }
    }
    fn judge(&self, ctx: &OracleCtx<'_>, trace: &Trace) -> Judgement {
        let acts = acts(trace);
        let mut t = Tally::new(
            self.clause(),
            "deadline: the end of the 5th working day after the first notice listing a source; an uncatalogued flow (its source outside the catalogue when it starts) is judged against the notices before it",
        );
        let mut notices = Vec::new();
        for (at, a) in &acts {
            if let PolicyAct::CatalogueNotice { sources } = a {
                let deadline = match ctx.calendar.deadline_end(*at, 5) {
                    Ok(d) => d,
                    Err(e) => {
                        return Judgement {
                            verdict: Verdict::NotTested,
                            finding: format!("cannot compute the ugia-13 deadline: {e}"),
                            evidence: vec![],
                        };
                    }
                };
                let listed: Vec<IpAddr> = sources.iter().filter_map(|s| s.parse().ok()).collect();
                notices.push((*at, deadline, listed));
            }
        }
        if notices.is_empty() {
            return t.judge(ctx);
        }
        let flows: Vec<_> = flows(trace)
            .filter_map(|(o, f)| Some((o, f, f.src.parse::<IpAddr>().ok()?)))
            .collect();
        if self.0 == CataloguePart::NoticeListsSources {
            // each notice lists every source still outside that flows came from
            for (at, _, listed) in &notices {
                let mut judged: Vec<IpAddr> = Vec::new();
                for (o, f, src) in &flows {
                    if f.first >= *at
                        || catalogued_at(&acts, *src, *at).is_some()
                        || judged.contains(src)
                    {
                        continue;
                    }
                    judged.push(*src);
                    if listed.contains(src) {
                        t.pass(o, f);
                    } else {
                        t.fail(
                            o,
                            f,
                            format!(
                                "the notice to the operator at {} does not list {src}, outside the catalogue since its flow at {}",
                                clock::display(*at),
                                clock::display(f.first)
                            ),
                        );
                    }
                }
            }
            return t.judge(ctx);
        }
        for (o, f, src) in &flows {
            let noticed = notices
                .iter()
                .find(|(at, _, listed)| *at <= f.first && listed.contains(src));
            let Some((notice, deadline, _)) = noticed else {
                continue;
            };
            let update = catalogued_at(&acts, *src, f.first);
            if update.is_none() && f.first > *deadline {
                if self.0 == CataloguePart::BlockedAfterTerm {
                    t.expect_blocked(o, f, || {
                        format!(
                            "flow {} from uncatalogued {src} at {} passed, after the deadline {}",
                            flow_id(f),
                            clock::display(f.first),
                            clock::display(*deadline)
                        )
                    });
                }
                continue;
            }
            // a flow of a default-blocked class is blocked for its class, not its source
            if f.truth_class.as_deref() != Some("other") {
                continue;
            }
            match (update, self.0) {
                (Some(u), CataloguePart::UnblockedAfterUpdate) => t.expect_passed(o, f, || {
                    format!(
                        "flow {} did not carry its whole conversation although the operator catalogued {src} at {}",
                        flow_id(f),
                        clock::display(u)
                    )
                }),
                (None, CataloguePart::AccessKeptUntilTerm) => t.expect_passed(o, f, || {
                    format!(
                        "flow {} from {src} did not carry its whole conversation at {}, before the operator's term after the notice of {} ended ({})",
                        flow_id(f),
                        clock::display(f.first),
                        clock::display(*notice),
                        clock::display(*deadline)
                    )
                }),
                _ => {}
            }
        }
        t.judge(ctx)
    }
}

/// ureq-134-2: an exemption is per requesting organisation and per category.
pub struct ExemptionScope;

impl Oracle for ExemptionScope {
    fn clause(&self) -> &'static str {
        "ureq-134-2"
    }
    fn obligation(&self) -> &'static str {
        "only-requester-and-category"
    }
    fn describe(&self) -> &'static str {
        "while an exemption is in force for one organisation and one class, that organisation's other default-blocked classes and other organisations' traffic of that class stay blocked"
    }
    fn judge(&self, ctx: &OracleCtx<'_>, trace: &Trace) -> Judgement {
        let grants = grants(trace);
        let mut t = Tally::new(
            self.clause(),
            "an exemption covers only the requester and the class it names: other flows of default-blocked classes are blocked beyond the classification window",
        );
        for (o, f) in flows(trace) {
            let Some(class) = exemptable_class(f) else {
                continue;
            };
            let any_in_force = grants.iter().any(|g| in_force(g.at, f.first));
            let own = exemption_at(&grants, f, class).is_some_and(|g| in_force(g, f.first));
            if !any_in_force || own {
                continue;
            }
            t.expect_blocked(o, f, || {
                format!(
                    "{class} flow {} of {} passed although no exemption of {} covers {class}",
                    flow_id(f),
                    f.user,
                    f.user
                )
            });
        }
        t.judge(ctx)
    }
}

/// ugia-16, on the network: from the STS's notice that an application is applied, the
/// User's flows of a default-blocked class the application listed, from the addresses it
/// listed, pass the gateway (the scope is the application's, see [`grants`]).
pub struct PolicyInForce;

impl Oracle for PolicyInForce {
    fn clause(&self) -> &'static str {
        "ugia-16"
    }
    fn obligation(&self) -> &'static str {
        "in-force-on-the-wire"
    }
    fn describe(&self) -> &'static str {
        "from the notice that an access application is applied, the User's flows of a default-blocked class the application listed, from the addresses it listed, pass the gateway"
    }
    fn judge(&self, ctx: &OracleCtx<'_>, trace: &Trace) -> Judgement {
        let mut t = Tally::new(
            self.clause(),
            "a class the User applied for, and the STS said is applied, passes for the addresses the application listed from the notice on, for a calendar year",
        );
        let notices: Vec<Grant> = grants(trace).into_iter().filter(|g| g.notified).collect();
        for (o, f) in flows(trace) {
            let Some(class) = exemptable_class(f) else {
                continue;
            };
            let Some(notice) = notices
                .iter()
                .rev()
                .find(|g| g.covers(f, class) && in_force(g.at, f.first))
            else {
                continue;
            };
            t.expect_passed(o, f, || {
                format!(
                    "{class} flow {} did not carry its whole conversation although the STS told {} at {} that its application for {class} was applied",
                    flow_id(f),
                    f.user,
                    clock::display(notice.at)
                )
            });
        }
        t.judge(ctx)
    }
}

/// Clauses of the shape "these sources never reach the Internet, those do": flows whose client
/// the scenario says has role `kept` (`role`, never the gateway's word) are offered to the
/// gateway from inside, and nothing of them may reach an outside port, not even a SYN; flows
/// of role `crosses` must carry their whole conversation, so a gateway that stopped everything
/// fails too.
/// - ureq-128.6: a departmental mail server's SMTP to an Internet exchanger is kept off; the
///   e-mail gateway's own crosses (departmental mail reaches external mail only through it).
/// - ureq-139.8: an inner-circuit LAN's traffic of any protocol is kept off; an
///   outer-circuit LAN's crosses.
pub struct KeptOffTheInternet {
    pub clause: &'static str,
    pub obligation: &'static str,
    pub describe: &'static str,
    /// The role whose flows must put no frame on an outside port, and what to call one.
    pub kept: (&'static str, &'static str),
    /// The role whose flows must cross whole, and what to call one.
    pub crosses: (&'static str, &'static str),
}

impl Oracle for KeptOffTheInternet {
    fn clause(&self) -> &'static str {
        self.clause
    }
    fn obligation(&self) -> &'static str {
        self.obligation
    }
    fn describe(&self) -> &'static str {
        self.describe
    }
    fn judge(&self, ctx: &OracleCtx<'_>, trace: &Trace) -> Judgement {
        let (kept, kept_name) = self.kept;
        let (crosses, crosses_name) = self.crosses;
        let mut t = Tally::new(
            self.clause,
            &format!(
                "{kept_name}: no frame on either outside port; {crosses_name}: the whole conversation crosses"
            ),
        );
        for (o, f) in flows(trace) {
            match f.role.as_deref() {
                Some(r) if r == kept => {
                    let frames: u64 = Port::OUTSIDE.iter().map(|p| f.on(*p).client_frames).sum();
                    if frames == 0 {
                        t.pass(o, f);
                    } else {
                        t.fail(
                            o,
                            f,
                            format!(
                                "{frames} frame(s) of {kept_name} {} reached an outside port ({} bytes of it)",
                                flow_id(f),
                                f.client_outside().1
                            ),
                        );
                    }
                }
                Some(r) if r == crosses => t.expect_passed(o, f, || {
                    format!(
                        "{crosses_name} {} did not carry its conversation",
                        flow_id(f)
                    )
                }),
                _ => {}
            }
        }
        t.judge(ctx)
    }
}
