//! The harness's endpoints of a mail episode, written once for both networks: the SMTP
//! clients of departmental servers, external exchangers and strangers, the mailboxes that
//! receive, and the blocklist model. They run over turmoil's simulated sockets in a simulated
//! episode and over real sockets (tokio) on the wall clock in a live one: [`HarnessNet`] is
//! the only difference.
//!
//! Everything here is the harness's own: it shares no code with the reference gateway.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use qaqpa_sim::trace::{BlocklistStatus, Event, MailDelivered, SmtpReply, Subject, SubjectKind};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};

use super::{BLOCKLIST_THRESHOLD, FlowSpec};

/// The sockets and the clock the harness's endpoints run on.
pub(crate) trait HarnessNet: 'static {
    type Stream: AsyncRead + AsyncWrite + Unpin + 'static;
    type Listener: 'static;
    fn bind(&self, addr: SocketAddr) -> impl Future<Output = io::Result<Self::Listener>>;
    fn accept(
        &self,
        l: &Self::Listener,
    ) -> impl Future<Output = io::Result<(Self::Stream, SocketAddr)>>;
    /// A connection from the harness host whose address on this network is `from`.
    fn connect(
        &self,
        from: IpAddr,
        to: SocketAddr,
    ) -> impl Future<Output = io::Result<Self::Stream>>;
    /// Time since the episode began, on this network's clock.
    fn elapsed(&self) -> Duration;
    /// Called before the harness host `host` (its address in the scenario) sends on its link
    /// with the gateway: waits out any latency the scenario put on the link, and fails when
    /// the link is cut. The simulation models links itself, so there it returns at once.
    fn link(&self, host: IpAddr) -> impl Future<Output = io::Result<()>>;
    /// Whether the link between `host` and the gateway is cut now (a live network's
    /// emulation; never in the simulation, which cuts links itself).
    fn cut(&self, _host: IpAddr) -> bool {
        false
    }
}

/// turmoil's simulated sockets and clock: each host is its own address, links are turmoil's.
pub(crate) struct SimNet;

impl HarnessNet for SimNet {
    type Stream = turmoil::net::TcpStream;
    type Listener = turmoil::net::TcpListener;
    async fn bind(&self, addr: SocketAddr) -> io::Result<Self::Listener> {
        turmoil::net::TcpListener::bind(addr).await
    }
    async fn accept(&self, l: &Self::Listener) -> io::Result<(Self::Stream, SocketAddr)> {
        l.accept().await
    }
    async fn connect(&self, _from: IpAddr, to: SocketAddr) -> io::Result<Self::Stream> {
        // The client runs on its own simulated host, whose address is `from` already.
        turmoil::net::TcpStream::connect(to).await
    }
    fn elapsed(&self) -> Duration {
        turmoil::elapsed()
    }
    async fn link(&self, _host: IpAddr) -> io::Result<()> {
        Ok(())
    }
}

/// One host the harness plays in an episode: a departmental server, an external exchanger or
/// a stranger.
pub(crate) struct HostPlan {
    /// Its name in the trace: a system id, `external:<domain>`, `stranger:<ip>`.
    pub name: String,
    /// Its address in the scenario (links are cut and slowed by it).
    pub host: IpAddr,
    /// The address its clients connect from on the network the episode runs on.
    pub source: IpAddr,
    /// Where its mailbox listens, and how it answers; `None` when nothing listens.
    pub mailbox: Option<(SocketAddr, MailboxPlan)>,
    /// Its flows, each with the address its client submits to.
    pub flows: Vec<(FlowSpec, SocketAddr)>,
}

#[derive(Clone, Copy)]
pub(crate) struct MailboxPlan {
    /// Answers each command after three seconds.
    pub slow: bool,
}

type Seen = (Duration, String, Subject, Event);

/// Connection attempts of a port scan in flight at once, as a connect scan's default does.
const SCAN_PARALLEL: usize = 512;
/// How long a scanned port may stay silent before it counts as not open (filtered).
const SCAN_TIMEOUT: Duration = Duration::from_secs(3);

/// The endpoints' shared state: the network, what the probes recorded, the blocklist.
pub(crate) struct Endpoints<N: HarnessNet> {
    pub net: N,
    seen: RefCell<Vec<Seen>>,
    blocklist: RefCell<Blocklist>,
    /// The addresses the gateway's outbound mail comes from: the blocklist's `gateway` role.
    gateway_ips: Vec<IpAddr>,
    /// Appended to the harness's Message-IDs: a live run's products keep queues across
    /// episodes, and a message left over from an earlier one must not pass for this one's.
    id_tag: Option<String>,
}

impl<N: HarnessNet> Endpoints<N> {
    pub fn new(net: N, gateway_ips: Vec<IpAddr>, id_tag: Option<String>) -> Rc<Self> {
        Rc::new(Endpoints {
            net,
            seen: RefCell::default(),
            blocklist: RefCell::default(),
            gateway_ips,
            id_tag,
        })
    }

    /// An observation at `at` into the episode (the harness's notes of layout and faults).
    pub fn push(&self, at: Duration, probe: &str, subject: Subject, event: Event) {
        self.seen
            .borrow_mut()
            .push((at, probe.to_string(), subject, event));
    }

    /// An observation now.
    fn record(&self, probe: &str, subject: Subject, event: Event) {
        self.push(self.net.elapsed(), probe, subject, event);
    }

    /// Everything recorded so far, in the order recorded.
    pub fn take_seen(&self) -> Vec<Seen> {
        std::mem::take(&mut *self.seen.borrow_mut())
    }

    /// The blocklist's answer for `ip`: the 127.0.0.x code when listed.
    pub fn listed(&self, ip: IpAddr) -> Option<String> {
        self.blocklist.borrow().listed.get(&ip).cloned()
    }

    /// Runs a host: its mailbox (in the background) and its flows, until `end` into the
    /// episode.
    pub async fn run_host(self: Rc<Self>, plan: HostPlan, end: Duration) -> io::Result<()> {
        if let Some((addr, mb)) = plan.mailbox {
            let l = self.net.bind(addr).await?;
            let me = self.clone();
            let name = plan.name.clone();
            let host = plan.host;
            tokio::task::spawn_local(async move {
                while let Ok((s, peer)) = me.net.accept(&l).await {
                    let me = me.clone();
                    let name = name.clone();
                    tokio::task::spawn_local(async move {
                        let _ = me.mailbox_session(s, peer, host, &name, mb).await;
                    });
                }
            });
        }
        for (f, to) in plan.flows.clone() {
            let me = self.clone();
            let name = plan.name.clone();
            let (host, source) = (plan.host, plan.source);
            tokio::task::spawn_local(async move {
                me.run_flow(&f, &name, host, source, to).await;
            });
        }
        let now = self.net.elapsed();
        tokio::time::sleep(end.saturating_sub(now)).await;
        Ok(())
    }

    /// ureq-139.13: connects from `source` to every port of the scan's range on `target`, at
    /// most [`SCAN_PARALLEL`] at a time, each given [`SCAN_TIMEOUT`]; a port that accepts is
    /// open (the connection is closed at once), one that refuses or stays silent is not. The
    /// finding is the scanner's note: what it scanned, what it found open, and what the
    /// scenario says is declared.
    pub async fn port_scan(self: Rc<Self>, scan: super::PortScanSpec, target: IpAddr) {
        let start = Duration::from_secs_f64(scan.at);
        tokio::time::sleep(start.saturating_sub(self.net.elapsed())).await;
        let open: Rc<RefCell<Vec<u16>>> = Rc::default();
        let ports: Vec<u16> = (scan.ports.0..=scan.ports.1).collect();
        for batch in ports.chunks(SCAN_PARALLEL) {
            let mut tasks = Vec::with_capacity(batch.len());
            for &port in batch {
                let (me, open) = (self.clone(), open.clone());
                tasks.push(tokio::task::spawn_local(async move {
                    let to = SocketAddr::new(target, port);
                    if let Ok(Ok(_stream)) =
                        tokio::time::timeout(SCAN_TIMEOUT, me.net.connect(scan.from, to)).await
                    {
                        open.borrow_mut().push(port);
                    }
                }));
            }
            for t in tasks {
                let _ = t.await;
            }
        }
        let mut open = open.take();
        open.sort_unstable();
        let list = |ports: &[u16]| {
            ports
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(",")
        };
        self.record(
            "scanner",
            subject(SubjectKind::Host, &target.to_string()),
            Event::Network(qaqpa_sim::trace::NetworkNote {
                what: "port-scan".into(),
                fields: BTreeMap::from([
                    ("host".to_string(), target.to_string()),
                    ("from".to_string(), scan.from.to_string()),
                    (
                        "scanned".to_string(),
                        format!("{}-{}", scan.ports.0, scan.ports.1),
                    ),
                    ("open".to_string(), list(&open)),
                    ("declared".to_string(), list(&scan.declared)),
                ]),
            }),
        );
    }

    fn message(&self, f: &FlowSpec, n: u32, rcpts: &[String]) -> (String, Vec<u8>) {
        let id = match &self.id_tag {
            None => format!("<{}.{n}@{HARNESS_DOMAIN}>", f.id),
            Some(tag) => format!("<{}.{n}.{tag}@{HARNESS_DOMAIN}>", f.id),
        };
        let text = format!(
            "From: <{}>\r\nTo: {}\r\nSubject: {} {n}\r\nMessage-ID: {id}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nСәлеметсіз бе! Message {n} of flow {}.\r\n.A line that starts with a dot.\r\n..and one with two.\r\n\r\n-- \r\nqaqpa\r\n",
            f.mail_from,
            rcpts
                .iter()
                .map(|r| format!("<{r}>"))
                .collect::<Vec<_>>()
                .join(", "),
            f.id,
            f.id,
        );
        (id, text.into_bytes())
    }

    async fn run_flow(
        &self,
        f: &FlowSpec,
        client: &str,
        host: IpAddr,
        source: IpAddr,
        gw: SocketAddr,
    ) {
        let first = Duration::from_secs_f64(f.start);
        let now = self.net.elapsed();
        tokio::time::sleep(first.saturating_sub(now)).await;
        for n in 0..f.count {
            let at = first + Duration::from_secs_f64(f.every * f64::from(n));
            let now = self.net.elapsed();
            tokio::time::sleep(at.saturating_sub(now)).await;
            let rcpts = recipients(f, n);
            let (id, data) = self.message(f, n, &rcpts);
            // A departmental server queues and retries like an MTA: a temporary failure or no
            // answer is tried again; a permanent refusal ends it.
            for _attempt in 0..8 {
                match self
                    .submit(gw, client, host, source, f, &id, &rcpts, &data)
                    .await
                {
                    Attempt::Done => break,
                    Attempt::Retry => tokio::time::sleep(Duration::from_secs(5)).await,
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn submit(
        &self,
        gw: SocketAddr,
        client: &str,
        host: IpAddr,
        source: IpAddr,
        f: &FlowSpec,
        id: &str,
        rcpts: &[String],
        data: &[u8],
    ) -> Attempt {
        let note = |command: &str, code: u16, text: &str| {
            self.record(
                &format!("smtp-client:{client}"),
                subject(SubjectKind::Message, id),
                Event::SmtpReply(SmtpReply {
                    client: client.to_string(),
                    server: gw.to_string(),
                    flow: f.id.clone(),
                    flow_kind: f.kind.as_str().to_string(),
                    message: Some(id.to_string()),
                    command: command.to_string(),
                    code,
                    text: text.to_string(),
                }),
            )
        };
        let connect = async {
            // A cut link drops the connection attempt: it waits for the link, as a SYN is
            // retransmitted, until the connect timeout.
            while self.net.cut(host) {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            self.net.connect(source, gw).await
        };
        let stream = match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
            Ok(Ok(s)) => s,
            _ => {
                note("CONNECT", 0, "no connection to the gateway");
                return Attempt::Retry;
            }
        };
        let mut c = Client {
            r: BufReader::new(stream),
        };
        let lost = |command: &str| {
            note(command, 0, "no reply (connection lost or timed out)");
            Attempt::Retry
        };
        let Some((code, text)) = c.reply().await else {
            return lost("CONNECT");
        };
        if code / 100 != 2 {
            note("CONNECT", code, &text);
            return if code / 100 == 4 {
                Attempt::Retry
            } else {
                Attempt::Done
            };
        }
        let helo = format!("EHLO {}\r\n", client.replace(':', "-"));
        if c.cmd(&self.net, host, helo.as_bytes()).await.is_none() {
            return lost("EHLO");
        }
        let Some((code, text)) = c
            .cmd(
                &self.net,
                host,
                format!("MAIL FROM:<{}>\r\n", f.mail_from).as_bytes(),
            )
            .await
        else {
            return lost("MAIL");
        };
        note(&format!("MAIL FROM:<{}>", f.mail_from), code, &text);
        if code / 100 != 2 {
            let _ = c.cmd(&self.net, host, b"QUIT\r\n").await;
            return if code / 100 == 4 {
                Attempt::Retry
            } else {
                Attempt::Done
            };
        }
        let mut accepted = Vec::new();
        let mut temp = false;
        for r in rcpts {
            let Some((code, text)) = c
                .cmd(&self.net, host, format!("RCPT TO:<{r}>\r\n").as_bytes())
                .await
            else {
                return lost("RCPT");
            };
            note(&format!("RCPT TO:<{r}>"), code, &text);
            if code / 100 == 2 {
                accepted.push(r.clone());
            }
            temp |= code / 100 == 4;
        }
        if accepted.is_empty() {
            let _ = c.cmd(&self.net, host, b"QUIT\r\n").await;
            return if temp { Attempt::Retry } else { Attempt::Done };
        }
        let Some((code, text)) = c.cmd(&self.net, host, b"DATA\r\n").await else {
            return lost("DATA");
        };
        if code != 354 {
            note("DATA", code, &text);
            return if code / 100 == 4 {
                Attempt::Retry
            } else {
                Attempt::Done
            };
        }
        let Some((code, text)) = c.cmd(&self.net, host, &stuff(data)).await else {
            return lost("end of data");
        };
        let command = format!(
            "end of data for {}",
            accepted
                .iter()
                .map(|r| format!("<{r}>"))
                .collect::<Vec<_>>()
                .join(" ")
        );
        note(&command, code, &text);
        let _ = c.cmd(&self.net, host, b"QUIT\r\n").await;
        if code / 100 == 4 {
            Attempt::Retry
        } else {
            Attempt::Done
        }
    }

    /// A harness mailbox: accepts everything (except `nouser*` recipients) and records it.
    async fn mailbox_session(
        &self,
        s: N::Stream,
        peer: SocketAddr,
        host: IpAddr,
        name: &str,
        plan: MailboxPlan,
    ) -> io::Result<()> {
        let mut r = BufReader::new(s);
        let pause = || async move {
            if plan.slow {
                tokio::time::sleep(Duration::from_secs(3)).await;
            }
        };
        self.net.link(host).await?;
        r.get_mut().write_all(b"220 mailbox ESMTP\r\n").await?;
        let mut from = String::new();
        let mut rcpts: Vec<String> = Vec::new();
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(MAILBOX_READ_TIMEOUT, r.read_line(&mut line))
                .await
                .map_err(|_| io::Error::other("timeout"))??;
            if n == 0 {
                return Ok(());
            }
            let upper = line.to_ascii_uppercase();
            pause().await;
            self.net.link(host).await?;
            let w = r.get_mut();
            if upper.starts_with("EHLO") {
                w.write_all(b"250-mailbox\r\n250-8BITMIME\r\n250 PIPELINING\r\n")
                    .await?;
            } else if upper.starts_with("HELO") {
                w.write_all(b"250 mailbox\r\n").await?;
            } else if upper.starts_with("MAIL FROM:") {
                from = angle(&line[10..]);
                rcpts.clear();
                w.write_all(b"250 2.1.0 ok\r\n").await?;
            } else if upper.starts_with("RCPT TO:") {
                let a = angle(&line[8..]);
                if a.to_ascii_lowercase().starts_with("nouser") {
                    w.write_all(b"550 5.1.1 no such user\r\n").await?;
                } else {
                    rcpts.push(a);
                    w.write_all(b"250 2.1.5 ok\r\n").await?;
                }
            } else if upper.starts_with("DATA") {
                w.write_all(b"354 go ahead\r\n").await?;
                let mut data = Vec::new();
                loop {
                    let mut l = Vec::new();
                    let n = tokio::time::timeout(MAILBOX_READ_TIMEOUT, r.read_until(b'\n', &mut l))
                        .await
                        .map_err(|_| io::Error::other("timeout"))??;
                    if n == 0 {
                        return Ok(());
                    }
                    if l == b".\r\n" || l == b".\n" {
                        break;
                    }
                    data.extend_from_slice(l.strip_prefix(b".").unwrap_or(&l));
                }
                pause().await;
                self.net.link(host).await?;
                self.delivered(peer, name, &from, std::mem::take(&mut rcpts), &data);
                r.get_mut().write_all(b"250 2.0.0 stored\r\n").await?;
            } else if upper.starts_with("QUIT") {
                w.write_all(b"221 2.0.0 bye\r\n").await?;
                return Ok(());
            } else if upper.starts_with("RSET") {
                rcpts.clear();
                w.write_all(b"250 2.0.0 ok\r\n").await?;
            } else {
                w.write_all(b"502 5.5.1 not here\r\n").await?;
            }
        }
    }

    /// A message reached a mailbox: spam-trap hits count against the sending address, and
    /// the delivery is recorded.
    fn delivered(&self, peer: SocketAddr, name: &str, from: &str, rcpts: Vec<String>, data: &[u8]) {
        let (message_id, subject_line, mentions) = inspect(data);
        for rc in &rcpts {
            if rc.to_ascii_lowercase().starts_with("trap") {
                let listed = self
                    .blocklist
                    .borrow_mut()
                    .trap_hit(peer.ip(), self.net.elapsed());
                if listed {
                    self.record(
                        "blocklist",
                        subject(SubjectKind::Host, &peer.ip().to_string()),
                        Event::Blocklist(BlocklistStatus {
                            ip: peer.ip().to_string(),
                            role: if self.gateway_ips.contains(&peer.ip()) {
                                "gateway".into()
                            } else {
                                "other".into()
                            },
                            listed: Some("127.0.0.2".into()),
                            reason: format!("{BLOCKLIST_THRESHOLD} spam-trap hits within an hour"),
                        }),
                    );
                }
            }
        }
        self.record(
            &format!("mailbox:{name}"),
            subject(
                SubjectKind::Message,
                message_id.as_deref().unwrap_or("(no Message-ID)"),
            ),
            Event::MailDelivered(MailDelivered {
                mailbox: name.to_string(),
                peer: peer.ip().to_string(),
                mail_from: from.to_string(),
                rcpts,
                message_id,
                subject: subject_line,
                mentions,
            }),
        );
    }
}

/// How long a harness client waits for a connection, and for each reply line.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a harness mailbox waits for the gateway's next line.
const MAILBOX_READ_TIMEOUT: Duration = Duration::from_secs(60);

pub(crate) fn subject(kind: SubjectKind, id: &str) -> Subject {
    Subject {
        kind,
        id: id.to_string(),
    }
}

/// The blocklist model: counts spam-trap hits per sending address.
#[derive(Default)]
struct Blocklist {
    hits: BTreeMap<IpAddr, Vec<Duration>>,
    listed: BTreeMap<IpAddr, String>,
}

impl Blocklist {
    fn trap_hit(&mut self, ip: IpAddr, now: Duration) -> bool {
        let v = self.hits.entry(ip).or_default();
        v.push(now);
        v.retain(|t| now.saturating_sub(*t) <= Duration::from_secs(3600));
        if v.len() >= BLOCKLIST_THRESHOLD && !self.listed.contains_key(&ip) {
            self.listed.insert(ip, "127.0.0.2".into());
            return true;
        }
        false
    }
}

pub(crate) const HARNESS_DOMAIN: &str = "qaqpa.test";

pub(crate) fn recipients(f: &FlowSpec, n: u32) -> Vec<String> {
    if let Some(d) = &f.to_many {
        (0..f.rcpts_per_message)
            .map(|k| {
                let i = n * f.rcpts_per_message + k;
                let local = if i % 4 == 3 {
                    format!("trap{i}")
                } else if i % 5 == 4 {
                    format!("nouser{i}")
                } else {
                    format!("user{i}")
                };
                format!("{local}@{d}")
            })
            .collect()
    } else {
        f.to.clone()
    }
}

enum Attempt {
    Done,
    Retry,
}

struct Client<S> {
    r: BufReader<S>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    async fn reply(&mut self) -> Option<(u16, String)> {
        let mut text = Vec::new();
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(REPLY_TIMEOUT, self.r.read_line(&mut line))
                .await
                .ok()?
                .ok()?;
            if n == 0 || line.len() < 3 {
                return None;
            }
            let code: u16 = line.get(..3)?.parse().ok()?;
            text.push(line.get(4..).unwrap_or("").trim_end().to_string());
            if line.as_bytes().get(3) != Some(&b'-') {
                return Some((code, text.join(" / ")));
            }
        }
    }

    async fn cmd<N: HarnessNet>(
        &mut self,
        net: &N,
        host: IpAddr,
        line: &[u8],
    ) -> Option<(u16, String)> {
        net.link(host).await.ok()?;
        self.r.get_mut().write_all(line).await.ok()?;
        self.reply().await
    }
}

/// Dot-stuffing and the final dot (the harness's own, independent of the gateway's).
pub(crate) fn stuff(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 8);
    for line in data.split_inclusive(|&b| b == b'\n') {
        if line.starts_with(b".") {
            out.push(b'.');
        }
        out.extend_from_slice(line);
    }
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

fn angle(s: &str) -> String {
    let s = s.trim();
    let inner = s
        .strip_prefix('<')
        .and_then(|x| x.split_once('>'))
        .map(|(a, _)| a)
        .unwrap_or(s);
    inner.to_string()
}

/// The Message-ID and Subject of a received message, and the harness Message-IDs its body
/// quotes.
fn inspect(data: &[u8]) -> (Option<String>, Option<String>, Vec<String>) {
    let text = String::from_utf8_lossy(data);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .or_else(|| text.split_once("\n\n"))
        .unwrap_or((&text, ""));
    let header = |name: &str| {
        head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    };
    let id = header("Message-ID");
    let mut mentions = Vec::new();
    let mut rest = body;
    while let Some(i) = rest.find('<') {
        let Some(j) = rest[i..].find('>') else { break };
        let cand = &rest[i..i + j + 1];
        if cand.ends_with(&format!("@{HARNESS_DOMAIN}>")) && !mentions.iter().any(|m| m == cand) {
            mentions.push(cand.to_string());
        }
        rest = &rest[i + j + 1..];
    }
    (id, header("Subject"), mentions)
}
