//! Mail episodes against a live product: the harness's endpoints of [`super::endpoints`] on
//! real sockets (tokio) and the wall clock, at the addresses the target file gives, around an
//! e-mail gateway that runs as its vendor ships it.
//!
//! What the simulation does to the network, the harness does here on its own side of each
//! link, since it cannot reach into the product: a cut link (`partition`) makes the harness's
//! mailbox behind it close new connections at once and drop open ones at their next reply,
//! and its clients wait for the link (as a dropped SYN is retransmitted) up to their connect
//! timeout; a latency spike (`slow`) delays each of the harness's writes on that link by a
//! seeded draw up to the spike's bound. Crashes, stops and restarts run the product's own
//! commands from the target file.
//!
//! Every step is bounded: each client waits 10 s for a connection and 30 s for each reply
//! line, each mailbox 60 s for the gateway's next line, each command its own time limit; the
//! episode ends after its `seconds` whatever the product does.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use qaqpa_sim::mailnet::{ControlAction, ControlOutcome, LiveMail};
use rand::{Rng, SeedableRng};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use super::endpoints::{Endpoints, HarnessNet};
use super::{
    CLOSING_GRACE_SECS, FaultAction, FaultSpec, MailSpec, Seen, finish, layout_notes, push_notes,
};

/// How the scenario's hosts sit on the real network: each host's address there, and where
/// its mailbox listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// A scenario address → the address the harness uses for that host.
    pub sources: BTreeMap<IpAddr, IpAddr>,
    /// A connected system's id → where the harness's mail server of that system listens.
    pub systems: BTreeMap<String, SocketAddr>,
    /// An external domain (lowercase) → where its exchanger listens (also when the scenario
    /// says it is `down`: the product's relay map points there, and nothing answers).
    pub external: BTreeMap<String, SocketAddr>,
}

/// Places the scenario's hosts at the product's addresses; an error says which host the
/// target file does not place, and where in the file to add it.
pub fn layout(spec: &MailSpec, product: &LiveMail) -> Result<Layout, String> {
    let mut out = Layout {
        sources: BTreeMap::new(),
        systems: BTreeMap::new(),
        external: BTreeMap::new(),
    };
    for s in &spec.systems {
        if !s.registered {
            return Err(format!(
                "system `{}` ({}) is `registered: false`: whether the gateway relays for it is up to the target's desk, which a live run does not drive",
                s.id, s.domain
            ));
        }
        let domain = s.domain.to_ascii_lowercase();
        let at = product.connected.get(&domain).ok_or_else(|| {
            format!(
                "the scenario's connected system `{}` ({domain}) has no address in the target file: add it under [[ugem.connected]] (and to the product's relay configuration)",
                s.id
            )
        })?;
        out.sources.insert(s.server, at.ip());
        out.systems.insert(s.id.clone(), *at);
    }
    for e in &spec.external {
        let domain = e.domain.to_ascii_lowercase();
        let at = product.external.get(&domain).ok_or_else(|| {
            format!(
                "the scenario's external domain `{domain}` has no exchanger address in the target file: add it under [[ugem.external]] (and to the product's transport map)"
            )
        })?;
        out.sources.insert(e.mx, at.ip());
        out.external.insert(domain, *at);
    }
    let strangers = spec.strangers();
    if strangers.len() > product.strangers.len() {
        return Err(format!(
            "the scenario plays {} stranger(s) ({}) but the target file gives {} address(es) in ugem.strangers",
            strangers.len(),
            strangers
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            product.strangers.len()
        ));
    }
    for (s, live) in strangers.iter().zip(&product.strangers) {
        out.sources.insert(*s, *live);
    }
    for f in &spec.faults_needing_control() {
        let action = control_of(*f).expect("only control faults are listed");
        if product.control.command(action).is_none() {
            return Err(format!(
                "the scenario's `{}` fault needs the product's `{}` command: set ugem.control.{}",
                f.as_str(),
                action.as_str(),
                action.as_str()
            ));
        }
    }
    Ok(out)
}

/// The product command a fault runs, for the faults that run one.
fn control_of(f: FaultAction) -> Option<ControlAction> {
    match f {
        FaultAction::Crash => Some(ControlAction::Kill),
        FaultAction::Stop => Some(ControlAction::Stop),
        FaultAction::Restart => Some(ControlAction::Start),
        _ => None,
    }
}

impl MailSpec {
    /// The kinds of fault the episode may inject that need a product command (fixed ones and
    /// any a fault budget may draw).
    fn faults_needing_control(&self) -> Vec<FaultAction> {
        let mut out: Vec<FaultAction> = self
            .faults
            .iter()
            .map(|f| f.action)
            .filter(|a| control_of(*a).is_some())
            .collect();
        if self
            .fault_budget
            .as_ref()
            .and_then(|b| b.crashes.as_ref())
            .is_some_and(|c| c.count.1 > 0)
        {
            out.extend([FaultAction::Crash, FaultAction::Restart]);
        }
        out.sort_by_key(|a| a.as_str());
        out.dedup();
        out
    }
}

/// What a live episode would do, line by line, without doing it (`qaqpa run --dry-run`).
pub fn describe(
    spec: &MailSpec,
    product: &LiveMail,
    seed: u64,
    label: &str,
) -> Result<Vec<String>, String> {
    let layout = layout(spec, product)?;
    let mut lines = vec![format!(
        "a mail episode of {} s on the wall clock against the product's listener {}",
        spec.seconds, product.listen
    )];
    for s in &spec.systems {
        lines.push(format!(
            "the harness listens on {} as {}'s mail server ({})",
            layout.systems[&s.id], s.id, s.domain
        ));
    }
    for e in &spec.external {
        let at = layout.external[&e.domain.to_ascii_lowercase()];
        if e.down {
            lines.push(format!(
                "nothing listens on {at}, the exchanger of {} (down)",
                e.domain
            ));
        } else {
            lines.push(format!(
                "the harness listens on {at} as the exchanger of {}{}",
                e.domain,
                if e.slow {
                    ", answering each command after 3 s"
                } else {
                    ""
                }
            ));
        }
    }
    for f in &spec.flows {
        let from = spec.host_of(&f.from).expect("validated");
        let to = if f.direct {
            let d = spec.direct_target(f).expect("validated");
            SocketAddr::new(layout.sources[&d.ip()], live_port(&layout, spec, d.ip()))
        } else {
            product.listen
        };
        let rcpts = if let Some(d) = &f.to_many {
            format!(
                "{} generated recipient(s) of {d} each (some spam traps, some unknown users)",
                f.rcpts_per_message
            )
        } else {
            f.to.iter()
                .map(|r| format!("<{r}>"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let when = if f.count == 1 {
            format!("at {} s", f.start)
        } else {
            format!("the first at {} s, then every {} s", f.start, f.every)
        };
        lines.push(format!(
            "flow `{}` ({}): {} message(s) from {} ({}) to {to}, MAIL FROM:<{}>, RCPT TO: {rcpts}; {when}",
            f.id,
            f.kind.as_str(),
            f.count,
            layout.sources[&from],
            f.from,
            f.mail_from,
        ));
    }
    for f in spec.fault_schedule(seed, label) {
        let what = match control_of(f.action) {
            Some(a) => format!(
                "runs the product's {} command `{}`",
                a.as_str(),
                product.control.command(a).unwrap_or_default()
            ),
            None => {
                let peer = f.peer.as_deref().unwrap_or_default();
                let ip = spec.host_of(peer).expect("validated");
                let live = layout.sources[&ip];
                match f.action {
                    FaultAction::Partition => format!("cuts the link to {peer} ({live})"),
                    FaultAction::Repair => format!("restores the link to {peer} ({live})"),
                    FaultAction::Slow => format!(
                        "delays the harness's writes on the link to {peer} ({live}) by up to {} ms",
                        f.millis.unwrap_or_default()
                    ),
                    _ => format!("ends the delays on the link to {peer} ({live})"),
                }
            }
        };
        lines.push(format!("at {} s: {} ({what})", f.at, f.action.as_str()));
    }
    Ok(lines)
}

/// The port of the live address that stands for the scenario host `ip` (an exchanger's).
fn live_port(layout: &Layout, spec: &MailSpec, ip: IpAddr) -> u16 {
    spec.external
        .iter()
        .find(|e| e.mx == ip)
        .and_then(|e| layout.external.get(&e.domain.to_ascii_lowercase()))
        .map_or(25, |a| a.port())
}

/// The state of the harness's side of each link with the gateway, by scenario address.
#[derive(Default, Clone, Copy)]
struct Link {
    cut: bool,
    /// The most each write on the link is delayed.
    spike: Option<Duration>,
}

/// Real sockets and the wall clock, with the harness's emulation of its links.
struct LiveNet {
    start: Instant,
    links: RefCell<BTreeMap<IpAddr, Link>>,
    rng: RefCell<rand::rngs::SmallRng>,
}

impl HarnessNet for LiveNet {
    type Stream = tokio::net::TcpStream;
    type Listener = tokio::net::TcpListener;

    async fn bind(&self, addr: SocketAddr) -> io::Result<Self::Listener> {
        tokio::net::TcpListener::bind(addr).await
    }

    async fn accept(&self, l: &Self::Listener) -> io::Result<(Self::Stream, SocketAddr)> {
        let (s, peer) = l.accept().await?;
        s.set_nodelay(true)?;
        Ok((s, peer))
    }

    async fn connect(&self, from: IpAddr, to: SocketAddr) -> io::Result<Self::Stream> {
        let sock = match to {
            SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
            SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
        };
        // The product knows the harness's hosts by their addresses: a connected system's
        // server must come from its registered address.
        sock.bind(SocketAddr::new(from, 0))?;
        let s = sock.connect(to).await?;
        s.set_nodelay(true)?;
        Ok(s)
    }

    fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    async fn link(&self, host: IpAddr) -> io::Result<()> {
        let link = self.links.borrow().get(&host).copied().unwrap_or_default();
        if link.cut {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "the harness cut this link",
            ));
        }
        if let Some(max) = link.spike {
            let ms = self
                .rng
                .borrow_mut()
                .random_range(0..=max.as_millis() as u64);
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        Ok(())
    }

    fn cut(&self, host: IpAddr) -> bool {
        self.links.borrow().get(&host).is_some_and(|l| l.cut)
    }
}

/// Whether the product's listener answers with an SMTP greeting within `wait`, trying every
/// half second; the time it took when it does.
pub async fn greets(listen: SocketAddr, wait: Duration) -> Result<Duration, String> {
    let began = Instant::now();
    let mut last = String::from("no attempt");
    while began.elapsed() < wait {
        let attempt = async {
            let s = tokio::net::TcpStream::connect(listen)
                .await
                .map_err(|e| e.to_string())?;
            let mut r = BufReader::new(s);
            let mut line = String::new();
            r.read_line(&mut line).await.map_err(|e| e.to_string())?;
            if !line.starts_with("220") {
                return Err(format!("greeted with `{}`", line.trim_end()));
            }
            let _ = r.get_mut().write_all(b"QUIT\r\n").await;
            Ok(())
        };
        match tokio::time::timeout(Duration::from_secs(5), attempt).await {
            Ok(Ok(())) => return Ok(began.elapsed()),
            Ok(Err(e)) => last = e,
            Err(_) => last = "no greeting within 5 s".into(),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Err(last)
}

/// Runs one episode against the live product and returns what the probes saw, stamped on the
/// scenario's calendar: `start` plus the wall-clock time elapsed since the episode began
/// (the real start is in the gateway's topology note).
pub fn run_episode(
    spec: &MailSpec,
    product: &LiveMail,
    seed: u64,
    start: Timestamp,
    label: &str,
) -> Result<Vec<Seen>, String> {
    let layout = layout(spec, product)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the harness's network runtime: {e}"))?;
    let local = tokio::task::LocalSet::new();
    let wall = Timestamp::now();
    let result = local.block_on(
        &rt,
        episode(spec, product, &layout, seed, label, start, wall),
    );
    // A command still running past its limit must not keep the run: the control's own time
    // limit ends it.
    rt.shutdown_timeout(Duration::from_secs(1));
    result
}

async fn episode(
    spec: &MailSpec,
    product: &LiveMail,
    layout: &Layout,
    seed: u64,
    label: &str,
    start: Timestamp,
    wall: Timestamp,
) -> Result<Vec<Seen>, String> {
    let net = LiveNet {
        start: Instant::now(),
        links: RefCell::default(),
        rng: RefCell::new(rand::rngs::SmallRng::seed_from_u64(
            qaqpa_sim::seed::derive(seed, &format!("{label}/links")),
        )),
    };
    let tag = format!("l{:x}", wall.as_millisecond());
    let eps = Endpoints::new(net, product.outbound.clone(), Some(tag));
    let end = Duration::from_secs(spec.seconds);
    let listen = product.listen.to_string();
    let outbound = product
        .outbound
        .iter()
        .map(|ip| ip.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    push_notes(
        &eps,
        layout_notes(
            spec,
            BTreeMap::from([
                (
                    "ip".to_string(),
                    product
                        .outbound
                        .first()
                        .map(|ip| ip.to_string())
                        .unwrap_or_default(),
                ),
                ("host".to_string(), product.name.clone()),
                ("listen".to_string(), listen.clone()),
                ("outbound".to_string(), outbound),
                ("live-since".to_string(), wall.to_string()),
            ]),
            &|s| {
                let at = layout.systems[&s.id];
                BTreeMap::from([
                    ("server".to_string(), at.ip().to_string()),
                    ("mailbox".to_string(), at.to_string()),
                ])
            },
            &|e| {
                BTreeMap::from([(
                    "mx".to_string(),
                    layout.external[&e.domain.to_ascii_lowercase()].to_string(),
                )])
            },
        ),
    );

    let mut fault_notes: Vec<(Duration, String, BTreeMap<String, String>)> = Vec::new();
    // The product must be up when the episode starts: an earlier episode (or the operator)
    // may have left it down.
    if let Err(why) = greets(product.listen, Duration::from_secs(5)).await {
        let mut fields = BTreeMap::from([
            ("host".to_string(), listen.clone()),
            ("why".to_string(), why.clone()),
        ]);
        if product.control.command(ControlAction::Start).is_some() {
            let (outcome, ready) = start_product(product).await;
            fields.extend(outcome_fields(&outcome));
            fields.extend(ready);
        }
        let answers = greets(product.listen, Duration::from_secs(1)).await.is_ok();
        // The harness's finding, not a fault it injected.
        eps.push(
            eps.net.elapsed(),
            "topology",
            super::endpoints::subject(qaqpa_sim::trace::SubjectKind::Host, &listen),
            qaqpa_sim::trace::Event::Network(qaqpa_sim::trace::NetworkNote {
                what: "gateway-down-at-start".into(),
                fields,
            }),
        );
        if !answers {
            return Err(format!(
                "the product does not answer on {listen} at the start of the episode ({why}), and could not be started"
            ));
        }
    }

    // Every listening address first, so that one the harness cannot take is an error now,
    // not an episode of silence.
    let plans = spec.host_plans(
        &|ip| layout.sources[&ip],
        &|s| Some(layout.systems[&s.id]),
        &|e| (!e.down).then(|| layout.external[&e.domain.to_ascii_lowercase()]),
        &|f| {
            if f.direct {
                let d = spec.direct_target(f).expect("validated");
                SocketAddr::new(layout.sources[&d.ip()], live_port(layout, spec, d.ip()))
            } else {
                product.listen
            }
        },
    );
    for p in &plans {
        if let Some((addr, _)) = p.mailbox {
            std::net::TcpListener::bind(addr).map_err(|e| {
                format!(
                    "the harness cannot listen on {addr} as {}'s mail server: {e}",
                    p.name
                )
            })?;
        }
    }
    let failures: Rc<RefCell<Vec<String>>> = Rc::default();
    for plan in plans {
        let eps = eps.clone();
        let failures = failures.clone();
        let name = plan.name.clone();
        tokio::task::spawn_local(async move {
            if let Err(e) = eps.run_host(plan, end).await {
                failures.borrow_mut().push(format!("{name}: {e}"));
            }
        });
    }

    for f in spec.fault_schedule(seed, label) {
        let at = Duration::from_secs_f64(f.at);
        tokio::time::sleep(at.saturating_sub(eps.net.elapsed())).await;
        let when = eps.net.elapsed();
        let fields = inject(&eps.net, product, spec, layout, &f, &listen).await;
        fault_notes.push((when, f.action.as_str().to_string(), fields));
    }
    tokio::time::sleep(end.saturating_sub(eps.net.elapsed())).await;
    let elapsed = eps.net.elapsed();
    if let Some(e) = failures.borrow().first() {
        return Err(format!("the harness's endpoint failed: {e}"));
    }
    let last = Duration::from_secs(spec.seconds + CLOSING_GRACE_SECS);
    Ok(finish(
        &eps,
        fault_notes,
        elapsed,
        &listen,
        &product.outbound,
        |t| {
            // Observations stay within the episode's slot in the scenario's schedule.
            let t = jiff::SignedDuration::try_from(t.min(last)).unwrap_or_default();
            start.checked_add(t).unwrap_or(start)
        },
    ))
}

/// Injects one fault; returns the fault injector's note fields.
async fn inject(
    net: &LiveNet,
    product: &LiveMail,
    spec: &MailSpec,
    layout: &Layout,
    f: &FaultSpec,
    listen: &str,
) -> BTreeMap<String, String> {
    let mut fields = BTreeMap::from([("host".to_string(), listen.to_string())]);
    match f.action {
        FaultAction::Crash | FaultAction::Stop => {
            let action = control_of(f.action).expect("a control fault");
            fields.extend(outcome_fields(&control(product, action).await));
        }
        FaultAction::Restart => {
            let (outcome, ready) = start_product(product).await;
            fields.extend(outcome_fields(&outcome));
            fields.extend(ready);
        }
        FaultAction::Partition | FaultAction::Repair | FaultAction::Slow | FaultAction::Restore => {
            let peer = f.peer.as_deref().unwrap_or_default();
            let ip = spec.host_of(peer).expect("validated");
            fields.insert("peer".into(), format!("{peer} ({})", layout.sources[&ip]));
            let mut links = net.links.borrow_mut();
            let link = links.entry(ip).or_default();
            match f.action {
                FaultAction::Partition => link.cut = true,
                FaultAction::Repair => link.cut = false,
                FaultAction::Slow => {
                    let ms = f.millis.unwrap_or_default();
                    fields.insert("max-latency-ms".into(), ms.to_string());
                    link.spike = Some(Duration::from_millis(ms));
                }
                _ => link.spike = None,
            }
            fields.insert(
                "emulated".into(),
                "on the harness's side of the link".into(),
            );
        }
    }
    fields
}

/// Runs a product command off the event loop.
async fn control(product: &LiveMail, action: ControlAction) -> ControlOutcome {
    let c = product.control.clone();
    match tokio::task::spawn_blocking(move || c.run(action)).await {
        Ok(o) => o,
        Err(e) => ControlOutcome {
            command: product.control.command(action).unwrap_or_default(),
            millis: 0,
            error: Some(format!("the command's thread failed: {e}")),
        },
    }
}

/// Starts the product and waits for its listener to greet again.
async fn start_product(product: &LiveMail) -> (ControlOutcome, BTreeMap<String, String>) {
    let outcome = control(product, ControlAction::Start).await;
    let ready = match greets(product.listen, product.start_timeout).await {
        Ok(t) => BTreeMap::from([("ready-after-ms".to_string(), t.as_millis().to_string())]),
        Err(why) => BTreeMap::from([(
            "not-ready".to_string(),
            format!(
                "no greeting within {} s of the start ({why})",
                product.start_timeout.as_secs()
            ),
        )]),
    };
    (outcome, ready)
}

fn outcome_fields(o: &ControlOutcome) -> BTreeMap<String, String> {
    let mut f = BTreeMap::from([
        ("command".to_string(), o.command.clone()),
        ("millis".to_string(), o.millis.to_string()),
    ]);
    if let Some(e) = &o.error {
        f.insert("error".into(), e.clone());
    }
    f
}
