//! The UGEM relay: an SMTP server that accepts mail between connected departmental domains
//! and external mail (never anything else), spools it durably, and delivers it with retries,
//! bounces and the ugem-12 guard.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use smtp_proto::{Error as ProtoError, Request};
use tokio::sync::Notify;

use crate::guard::{Guard, GuardConfig, Registry, Suspension, System};
use crate::spool::{Disk, Entry};
use crate::wire::{
    BoxIo, LineError, LineReader, Net, Reply, domain_of, dot_stuff, read_reply, unstuff_line,
};

/// The reference's switches for named defects that live in the relay.
#[derive(Debug, Clone, Copy, Default)]
pub struct RelayDefects {
    /// Relays for anyone to anywhere.
    pub open_relay: bool,
    /// Answers 250 to DATA before the message is on disk: it spools in batches every 30 s.
    pub ack_before_disk: bool,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub hostname: String,
    pub registry: Registry,
    /// Mail exchangers of external domains; `*` is the default route.
    pub routes: BTreeMap<String, SocketAddr>,
    /// Port of the connected systems' servers.
    pub system_port: u16,
    pub max_size: usize,
    pub max_rcpts: usize,
    pub command_timeout: Duration,
    pub connect_timeout: Duration,
    /// First retry delay; doubles up to `retry_max`.
    pub retry_first: Duration,
    pub retry_max: Duration,
    /// After this long undelivered, a message bounces.
    pub retry_period: Duration,
    pub queue_poll: Duration,
    pub max_parallel_deliveries: usize,
    pub guard: GuardConfig,
    pub defects: RelayDefects,
    /// STARTTLS is offered when set.
    pub tls: Option<std::sync::Arc<rustls::ServerConfig>>,
}

impl Config {
    pub fn new(hostname: &str, registry: Registry) -> Self {
        Config {
            hostname: hostname.to_string(),
            registry,
            routes: BTreeMap::new(),
            system_port: 25,
            max_size: 10 * 1024 * 1024,
            max_rcpts: 100,
            command_timeout: Duration::from_secs(300),
            connect_timeout: Duration::from_secs(10),
            retry_first: Duration::from_secs(5),
            retry_max: Duration::from_secs(60),
            retry_period: Duration::from_secs(5 * 24 * 3600),
            queue_poll: Duration::from_secs(1),
            max_parallel_deliveries: 64,
            guard: GuardConfig::default(),
            defects: RelayDefects::default(),
            tls: None,
        }
    }
}

struct State {
    guard: Guard,
    boot: u64,
    counter: u64,
    /// Queue index: id → when it is due.
    due: BTreeMap<String, u64>,
    in_flight: BTreeSet<String>,
    /// Accepted but not yet on disk (the ack-before-disk defect only).
    unsynced: Vec<Entry>,
}

struct Inner<N: Net> {
    net: N,
    cfg: Config,
    disk: Disk,
    state: RefCell<State>,
    wake: Notify,
}

/// A relay instance: one boot of the gateway's software over its disk.
#[derive(Clone)]
pub struct Relay<N: Net> {
    inner: Rc<Inner<N>>,
}

const MAX_COMMAND_LINE: usize = 2048;
/// RFC 5322 2.1.1: 998 characters and CRLF.
const MAX_DATA_LINE: usize = 1000;

impl<N: Net> Relay<N> {
    /// Boots over `disk`: reloads the queue left by the previous boot.
    pub fn boot(net: N, cfg: Config, disk: Disk) -> Self {
        let boot = disk
            .get("boot")
            .and_then(|b| String::from_utf8(b).ok()?.trim().parse::<u64>().ok())
            .unwrap_or(0)
            + 1;
        let _ = disk.put("boot", boot.to_string().as_bytes());
        let mut due = BTreeMap::new();
        for name in disk.list() {
            if let Some(id) = name.strip_prefix("q-")
                && let Some(e) = disk.get(&name).and_then(|b| Entry::decode(&b))
            {
                due.insert(id.to_string(), e.next_ms);
            }
        }
        let guard = Guard::new(cfg.guard);
        Relay {
            inner: Rc::new(Inner {
                net,
                cfg,
                disk,
                state: RefCell::new(State {
                    guard,
                    boot,
                    counter: 0,
                    due,
                    in_flight: BTreeSet::new(),
                    unsynced: Vec::new(),
                }),
                wake: Notify::new(),
            }),
        }
    }

    /// Messages on the queue (on disk or, under the defect, in memory).
    pub fn queued(&self) -> usize {
        self.inner.state.borrow().due.len()
    }

    /// Serves SMTP on `listener` and runs the queue, forever. Must run inside a `LocalSet`.
    pub async fn run(&self, listener: N::Listener) -> std::io::Result<()> {
        let q = self.clone();
        tokio::task::spawn_local(async move { q.queue_runner().await });
        if self.inner.cfg.defects.ack_before_disk {
            let s = self.clone();
            tokio::task::spawn_local(async move {
                loop {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    let batch = std::mem::take(&mut s.inner.state.borrow_mut().unsynced);
                    for e in batch {
                        if s.inner.state.borrow().due.contains_key(&e.id) {
                            let _ = s.inner.disk.put(&format!("q-{}", e.id), &e.encode());
                        }
                    }
                }
            });
        }
        loop {
            let (stream, peer) = self.inner.net.accept(&listener).await?;
            let s = self.clone();
            tokio::task::spawn_local(async move { s.session(stream, peer).await });
        }
    }

    fn next_id(&self) -> String {
        let mut st = self.inner.state.borrow_mut();
        st.counter += 1;
        format!("{:04}{:07}", st.boot, st.counter)
    }

    fn store(&self, e: Entry) -> std::io::Result<()> {
        let inner = &self.inner;
        if inner.cfg.defects.ack_before_disk && !e.from.starts_with("postmaster@") {
            let mut st = inner.state.borrow_mut();
            st.due.insert(e.id.clone(), e.next_ms);
            st.unsynced.push(e);
        } else {
            inner.disk.put(&format!("q-{}", e.id), &e.encode())?;
            inner.state.borrow_mut().due.insert(e.id.clone(), e.next_ms);
        }
        inner.wake.notify_one();
        Ok(())
    }

    /// Stores a newly accepted message; on a real disk the write and its sync run on the
    /// blocking pool, so concurrent sessions' syncs overlap (group commit by the filesystem).
    async fn store_durably(&self, e: Entry) -> std::io::Result<()> {
        let inner = &self.inner;
        match &inner.disk {
            Disk::Dir(dir) if !inner.cfg.defects.ack_before_disk => {
                let dir = dir.clone();
                let name = format!("q-{}", e.id);
                let bytes = e.encode();
                let (id, next) = (e.id.clone(), e.next_ms);
                let put = tokio::task::spawn_blocking(move || Disk::Dir(dir).put(&name, &bytes));
                put.await.map_err(std::io::Error::other)??;
                inner.state.borrow_mut().due.insert(id, next);
                inner.wake.notify_one();
                Ok(())
            }
            _ => self.store(e),
        }
    }

    fn load(&self, id: &str) -> Option<Entry> {
        if let Some(e) = self.inner.disk.get(&format!("q-{id}")) {
            return Entry::decode(&e);
        }
        self.inner
            .state
            .borrow()
            .unsynced
            .iter()
            .find(|e| e.id == id)
            .cloned()
    }

    fn received(&self, helo: &str, ip: IpAddr, id: &str, rcpt: &str) -> String {
        let now = self.inner.net.now_ms();
        format!(
            "Received: from {helo} ([{ip}])\r\n\tby {} (UGEM) with ESMTP id {id}\r\n\tfor <{rcpt}>; {}\r\n",
            self.inner.cfg.hostname,
            rfc2822(now)
        )
    }

    // ---------------------------------------------------------------- the SMTP server

    async fn session(&self, stream: N::Stream, peer: SocketAddr) {
        let mut r: LineReader<BoxIo> = LineReader::new(Box::new(stream));
        let mut secure = false;
        let cfg = &self.inner.cfg;
        let ip = peer.ip();
        let client: Option<System> = cfg.registry.by_ip(ip).cloned();
        let mut out = format!(
            "220 {} ESMTP UGEM e-government mail gateway\r\n",
            cfg.hostname
        )
        .into_bytes();
        let mut helo: Option<String> = None;
        let mut tx: Option<Tx> = None;
        loop {
            if !out.is_empty() && !r.has_buffered_line() {
                if r.write(&out).await.is_err() || r.flush().await.is_err() {
                    return;
                }
                out.clear();
            }
            let line = match r.line(MAX_COMMAND_LINE, cfg.command_timeout).await {
                Ok(l) => l,
                Err(LineError::TooLong) => {
                    reply(&mut out, 500, "5.5.2", "Line too long");
                    continue;
                }
                Err(LineError::Timeout) => {
                    reply(&mut out, 421, "4.4.2", "Timeout, closing connection");
                    let _ = r.write(&out).await;
                    return;
                }
                Err(_) => return,
            };
            let line = normalise_path(line);
            match Request::parse(&mut line.iter()) {
                Err(e) => {
                    let (code, enh, text) = proto_error(&e);
                    reply(&mut out, code, enh, &text);
                }
                Ok(Request::Ehlo { host }) => {
                    helo = Some(host.to_string());
                    tx = None;
                    let mut lines = vec![
                        format!("{} greets {host}", cfg.hostname),
                        format!("SIZE {}", cfg.max_size),
                        "8BITMIME".into(),
                        "PIPELINING".into(),
                        "ENHANCEDSTATUSCODES".into(),
                    ];
                    if cfg.tls.is_some() && !secure {
                        lines.push("STARTTLS".into());
                    }
                    for (i, l) in lines.iter().enumerate() {
                        let sep = if i + 1 == lines.len() { ' ' } else { '-' };
                        out.extend_from_slice(format!("250{sep}{l}\r\n").as_bytes());
                    }
                }
                Ok(Request::Helo { host }) => {
                    helo = Some(host.to_string());
                    tx = None;
                    out.extend_from_slice(format!("250 {}\r\n", cfg.hostname).as_bytes());
                }
                Ok(Request::Mail { from }) => {
                    if helo.is_none() {
                        reply(&mut out, 503, "5.5.1", "Send EHLO or HELO first");
                    } else if tx.is_some() {
                        reply(&mut out, 503, "5.5.1", "Nested MAIL command");
                    } else if !from.address.is_empty() && !well_formed(&from.address) {
                        reply(
                            &mut out,
                            501,
                            "5.1.7",
                            "Bad sender address syntax: a mailbox needs a local part and a domain",
                        );
                    } else if from.size > cfg.max_size {
                        reply(
                            &mut out,
                            552,
                            "5.3.4",
                            "Message size exceeds fixed maximum message size",
                        );
                    } else {
                        match self.check_sender(client.as_ref(), ip, &from.address) {
                            Ok(()) => {
                                tx = Some(Tx {
                                    from: from.address.to_string(),
                                    rcpts: Vec::new(),
                                });
                                reply(&mut out, 250, "2.1.0", "Ok");
                            }
                            Err((code, enh, text)) => reply(&mut out, code, enh, &text),
                        }
                    }
                }
                Ok(Request::Rcpt { to }) => match tx.as_mut() {
                    None => reply(&mut out, 503, "5.5.1", "Need MAIL command"),
                    Some(t) if t.rcpts.len() >= cfg.max_rcpts => {
                        reply(&mut out, 452, "4.5.3", "Too many recipients")
                    }
                    Some(_) if !well_formed(&to.address) => reply(
                        &mut out,
                        501,
                        "5.1.3",
                        "Bad recipient address syntax: a mailbox needs a local part and a domain",
                    ),
                    Some(t) => match self.check_recipient(client.as_ref(), &to.address) {
                        Ok(()) => {
                            t.rcpts.push(to.address.to_string());
                            reply(&mut out, 250, "2.1.5", "Ok");
                        }
                        Err((code, enh, text)) => reply(&mut out, code, enh, &text),
                    },
                },
                Ok(Request::Data) => {
                    let Some(t) = tx.take() else {
                        reply(&mut out, 503, "5.5.1", "Need MAIL command");
                        continue;
                    };
                    if t.rcpts.is_empty() {
                        reply(&mut out, 554, "5.5.1", "No valid recipients");
                        continue;
                    }
                    reply(&mut out, 354, "", "End data with <CR><LF>.<CR><LF>");
                    if r.write(&out).await.is_err() || r.flush().await.is_err() {
                        return;
                    }
                    out.clear();
                    let data = match self.read_data(&mut r).await {
                        Ok(d) => d,
                        Err(DataError::Gone) => return,
                        Err(DataError::Refused(code, enh, text)) => {
                            reply(&mut out, code, enh, &text);
                            continue;
                        }
                    };
                    let helo_name = helo.clone().unwrap_or_default();
                    match self.accept(client.as_ref(), ip, &helo_name, t, data) {
                        Ok(e) => {
                            let id = e.id.clone();
                            match self.store_durably(e).await {
                                Ok(()) => {
                                    reply(&mut out, 250, "2.0.0", &format!("Ok: queued as {id}"))
                                }
                                Err(err) => reply(
                                    &mut out,
                                    451,
                                    "4.3.0",
                                    &format!("Queue write failed: {err}"),
                                ),
                            }
                        }
                        Err((code, enh, text)) => reply(&mut out, code, enh, &text),
                    }
                }
                Ok(Request::Rset) => {
                    tx = None;
                    reply(&mut out, 250, "2.0.0", "Ok");
                }
                Ok(Request::Noop { .. }) => reply(&mut out, 250, "2.0.0", "Ok"),
                Ok(Request::Vrfy { .. }) => reply(
                    &mut out,
                    252,
                    "2.5.0",
                    "Cannot VRFY user, but will accept message",
                ),
                Ok(Request::Help { .. }) => reply(
                    &mut out,
                    214,
                    "2.0.0",
                    "See RFC 5321; UGEM relays for connected systems only",
                ),
                Ok(Request::Quit) => {
                    reply(&mut out, 221, "2.0.0", "Bye");
                    let _ = r.write(&out).await;
                    let _ = r.flush().await;
                    return;
                }
                Ok(Request::Lhlo { .. }) => reply(&mut out, 500, "5.5.1", "This is SMTP, not LMTP"),
                Ok(Request::StartTls) => match (&cfg.tls, secure) {
                    (None, _) => reply(&mut out, 502, "5.5.1", "STARTTLS not offered"),
                    (Some(_), true) => reply(&mut out, 503, "5.5.1", "TLS already active"),
                    (Some(tls), false) => {
                        reply(&mut out, 220, "2.0.0", "Ready to start TLS");
                        if r.write(&out).await.is_err() || r.flush().await.is_err() {
                            return;
                        }
                        out.clear();
                        let acceptor = tokio_rustls::TlsAcceptor::from(tls.clone());
                        let accept = acceptor.accept(r.into_inner());
                        match tokio::time::timeout(cfg.command_timeout, accept).await {
                            Ok(Ok(s)) => {
                                r = LineReader::new(Box::new(s));
                                secure = true;
                                helo = None;
                                tx = None;
                            }
                            _ => return,
                        }
                    }
                },
                Ok(
                    Request::Auth { .. }
                    | Request::Expn { .. }
                    | Request::Bdat { .. }
                    | Request::Etrn { .. }
                    | Request::Atrn { .. }
                    | Request::Burl { .. },
                ) => reply(&mut out, 502, "5.5.1", "Command not implemented"),
            }
        }
    }

    async fn read_data(&self, r: &mut LineReader<BoxIo>) -> Result<Vec<u8>, DataError> {
        let cfg = &self.inner.cfg;
        let mut data = Vec::new();
        let mut too_long = false;
        let mut too_big = false;
        loop {
            let line = match r.line(MAX_DATA_LINE, cfg.command_timeout).await {
                Ok(l) => l,
                Err(LineError::TooLong) => {
                    too_long = true;
                    continue;
                }
                Err(_) => return Err(DataError::Gone),
            };
            let Some(l) = unstuff_line(&line) else { break };
            if data.len() + l.len() > cfg.max_size {
                too_big = true;
            } else if !too_big {
                data.extend_from_slice(l);
            }
        }
        if too_big {
            return Err(DataError::Refused(
                552,
                "5.3.4",
                "Message size exceeds fixed maximum message size".into(),
            ));
        }
        if too_long {
            return Err(DataError::Refused(
                550,
                "5.6.0",
                "Message has a line longer than 998 characters (RFC 5322 2.1.1)".into(),
            ));
        }
        Ok(data)
    }

    /// MAIL FROM: a connected system's server sends only for its own domain; a server that
    /// is not registered may not claim a connected domain.
    fn check_sender(&self, client: Option<&System>, ip: IpAddr, from: &str) -> Result<(), Refusal> {
        let cfg = &self.inner.cfg;
        if cfg.defects.open_relay {
            return Ok(());
        }
        let domain = domain_of(from);
        match (client, domain) {
            (Some(sys), _) => {
                if let Some(s) = self.inner.state.borrow().guard.suspended(&sys.id) {
                    return Err((
                        550,
                        "5.7.1",
                        format!(
                            "Relaying for {} is suspended: abnormal traffic ({}); the owner has been notified",
                            sys.domain, s.signal
                        ),
                    ));
                }
                match domain_of(from) {
                    None => Ok(()),
                    Some(d) if cfg.registry.by_domain(&d).is_some_and(|s| s.id == sys.id) => Ok(()),
                    Some(d) => Err((
                        550,
                        "5.7.1",
                        format!(
                            "Sender domain {d} is not the domain of the connected system {}",
                            sys.domain
                        ),
                    )),
                }
            }
            (None, Some(d)) if cfg.registry.by_domain(&d).is_some() => Err((
                550,
                "5.7.1",
                format!("{ip} is not a registered mail server of the connected domain {d}"),
            )),
            (None, _) => Ok(()),
        }
    }

    /// RCPT TO: from a connected system, anywhere; from outside, only to connected domains.
    fn check_recipient(&self, client: Option<&System>, to: &str) -> Result<(), Refusal> {
        let cfg = &self.inner.cfg;
        let Some(d) = domain_of(to) else {
            return Err((550, "5.1.3", format!("Recipient <{to}> has no domain")));
        };
        if client.is_some() || cfg.defects.open_relay || cfg.registry.by_domain(&d).is_some() {
            Ok(())
        } else {
            Err((
                550,
                "5.7.1",
                format!(
                    "Relaying denied: {d} is not a connected domain and you are not a connected mail server"
                ),
            ))
        }
    }

    fn accept(
        &self,
        client: Option<&System>,
        ip: IpAddr,
        helo: &str,
        t: Tx,
        data: Vec<u8>,
    ) -> Result<Entry, Refusal> {
        let cfg = &self.inner.cfg;
        let now = self.inner.net.now_ms();
        if let Some(sys) = client {
            let external: Vec<String> = t
                .rcpts
                .iter()
                .filter(|r| domain_of(r).is_none_or(|d| cfg.registry.by_domain(&d).is_none()))
                .cloned()
                .collect();
            let was = self.inner.state.borrow().guard.suspended(&sys.id).is_some();
            let fired =
                self.inner
                    .state
                    .borrow_mut()
                    .guard
                    .on_message(sys, &external, t.rcpts.len(), now);
            if let Some(s) = fired {
                if !was {
                    self.notify_owner(sys, &s);
                }
                return Err((
                    550,
                    "5.7.1",
                    format!(
                        "Relaying for {} suspended: abnormal traffic ({}); the owner has been notified",
                        sys.domain, s.signal
                    ),
                ));
            }
        }
        // RFC 5322 through mail-parser: a message must at least have a header section.
        let parsed = mail_parser::MessageParser::default().parse_headers(&data);
        if parsed.as_ref().is_none_or(|m| m.headers().is_empty()) {
            return Err((
                554,
                "5.6.0",
                "Message has no RFC 5322 header section".into(),
            ));
        }
        let id = self.next_id();
        let mut msg = self
            .received(
                helo,
                ip,
                &id,
                t.rcpts.first().map(String::as_str).unwrap_or(""),
            )
            .into_bytes();
        msg.extend_from_slice(&data);
        let e = Entry {
            id: id.clone(),
            from: t.from,
            pending: t.rcpts,
            system: client.map(|s| s.id.clone()),
            attempts: 0,
            first_ms: now,
            next_ms: now,
            errors: BTreeMap::new(),
            data: msg,
        };
        Ok(e)
    }

    fn notify_owner(&self, sys: &System, s: &Suspension) {
        let cfg = &self.inner.cfg;
        let now = self.inner.net.now_ms();
        let id = self.next_id();
        let data = format!(
            "From: UGEM postmaster <postmaster@{host}>\r\nTo: <{owner}>\r\nSubject: UGEM: relaying for {domain} suspended (abnormal traffic)\r\nDate: {date}\r\nMessage-ID: <{id}.suspension@{host}>\r\nAuto-Submitted: auto-generated\r\n\r\nRelaying through UGEM for the mail system {sid} ({domain}) was suspended\r\nbecause of abnormal traffic: {signal}.\r\nThis keeps the gateway's addresses out of public blocklists (ugem-12).\r\nContact the STS duty service to have it resumed.\r\n",
            host = cfg.hostname,
            owner = sys.owner,
            domain = sys.domain,
            date = rfc2822(now),
            sid = sys.id,
            signal = s.signal,
        );
        let e = Entry {
            id: id.clone(),
            from: format!("postmaster@{}", cfg.hostname),
            pending: vec![sys.owner.clone()],
            system: None,
            attempts: 0,
            first_ms: now,
            next_ms: now,
            errors: BTreeMap::new(),
            data: data.into_bytes(),
        };
        let _ = self.store(e);
    }

    // ---------------------------------------------------------------- the queue

    async fn queue_runner(&self) {
        let inner = &self.inner;
        loop {
            let now = inner.net.now_ms();
            let due: Vec<String> = {
                let st = inner.state.borrow();
                let room = inner
                    .cfg
                    .max_parallel_deliveries
                    .saturating_sub(st.in_flight.len());
                st.due
                    .iter()
                    .filter(|(id, t)| **t <= now && !st.in_flight.contains(*id))
                    .map(|(id, _)| id.clone())
                    .take(room)
                    .collect()
            };
            for id in due {
                inner.state.borrow_mut().in_flight.insert(id.clone());
                let s = self.clone();
                tokio::task::spawn_local(async move {
                    s.deliver(&id).await;
                    s.inner.state.borrow_mut().in_flight.remove(&id);
                    s.inner.wake.notify_one();
                });
            }
            tokio::select! {
                biased;
                _ = inner.wake.notified() => {}
                _ = tokio::time::sleep(inner.cfg.queue_poll) => {}
            }
        }
    }

    fn route(&self, rcpt: &str) -> Option<SocketAddr> {
        let cfg = &self.inner.cfg;
        let d = domain_of(rcpt)?;
        // An explicit route wins: a served gateway's configuration names where each connected
        // system's server receives, which need not be port `system_port` of its address.
        if let Some(to) = cfg.routes.get(&d) {
            return Some(*to);
        }
        if let Some(sys) = cfg.registry.by_domain(&d) {
            return sys
                .servers
                .first()
                .map(|ip| SocketAddr::new(*ip, cfg.system_port));
        }
        cfg.routes.get("*").copied()
    }

    async fn deliver(&self, id: &str) {
        let Some(mut e) = self.load(id) else {
            self.inner.state.borrow_mut().due.remove(id);
            return;
        };
        let cfg = &self.inner.cfg;
        let mut groups: BTreeMap<Option<SocketAddr>, Vec<String>> = BTreeMap::new();
        for r in &e.pending {
            groups.entry(self.route(r)).or_default().push(r.clone());
        }
        let mut still = Vec::new();
        let mut failed: Vec<(String, String)> = Vec::new();
        for (dest, rcpts) in groups {
            let Some(dest) = dest else {
                for r in rcpts {
                    failed.push((
                        r.clone(),
                        "550 5.1.2 No mail exchanger for the recipient's domain".into(),
                    ));
                }
                continue;
            };
            let outcome = self.send(dest, &e.from, &rcpts, &e.data).await;
            for (r, o) in rcpts.into_iter().zip(outcome) {
                match o {
                    Outcome::Delivered => {}
                    Outcome::Temporary(m) => {
                        e.errors.insert(r.clone(), m);
                        still.push(r);
                    }
                    Outcome::Permanent(m) => failed.push((r, m)),
                }
            }
        }
        let now = self.inner.net.now_ms();
        if let Some(sys) = &e.system {
            let refused = !failed.is_empty();
            let fired = self
                .inner
                .state
                .borrow_mut()
                .guard
                .on_delivery(sys, refused, now);
            if let Some(s) = fired
                && let Some(system) = cfg.registry.systems.iter().find(|x| &x.id == sys)
            {
                self.notify_owner(system, &s);
            }
        }
        let expired = now.saturating_sub(e.first_ms) >= cfg.retry_period.as_millis() as u64;
        if expired {
            for r in still.drain(..) {
                let m = e.errors.get(&r).cloned().unwrap_or_default();
                failed.push((
                    r,
                    format!("{m} (retried for {} s)", cfg.retry_period.as_secs()),
                ));
            }
        }
        if !failed.is_empty() {
            self.bounce(&e, &failed);
        }
        if still.is_empty() {
            self.inner.disk.remove(&format!("q-{id}"));
            let mut st = self.inner.state.borrow_mut();
            st.due.remove(id);
            st.unsynced.retain(|x| x.id != id);
        } else {
            e.attempts += 1;
            let backoff = cfg
                .retry_first
                .saturating_mul(1 << e.attempts.min(16).saturating_sub(1))
                .min(cfg.retry_max);
            e.next_ms = now + backoff.as_millis() as u64;
            e.pending = still;
            let on_disk = self.inner.disk.get(&format!("q-{id}")).is_some();
            let mut st = self.inner.state.borrow_mut();
            st.due.insert(id.to_string(), e.next_ms);
            if on_disk || !cfg.defects.ack_before_disk {
                drop(st);
                let _ = self.inner.disk.put(&format!("q-{id}"), &e.encode());
            } else if let Some(x) = st.unsynced.iter_mut().find(|x| x.id == id) {
                *x = e;
            }
        }
    }

    fn bounce(&self, e: &Entry, failed: &[(String, String)]) {
        let cfg = &self.inner.cfg;
        if e.from.is_empty() || e.from.starts_with("postmaster@") {
            return; // never bounce a bounce or the gateway's own notices
        }
        let now = self.inner.net.now_ms();
        let id = self.next_id();
        let host = &cfg.hostname;
        let boundary = format!("{id}/{host}");
        let headers_end = e
            .data
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map(|p| p + 2)
            .or_else(|| e.data.windows(2).position(|w| w == b"\n\n").map(|p| p + 1))
            .unwrap_or(e.data.len());
        let headers = String::from_utf8_lossy(&e.data[..headers_end]);
        let mut text = String::new();
        let mut status = String::new();
        for (r, m) in failed {
            text.push_str(&format!("<{r}>: {m}\r\n"));
            let code = m
                .split_whitespace()
                .nth(1)
                .filter(|c| c.starts_with('5') || c.starts_with('4'))
                .unwrap_or("5.0.0");
            let code = if code.starts_with('4') { "5.4.7" } else { code };
            status.push_str(&format!(
                "\r\nFinal-Recipient: rfc822; {r}\r\nAction: failed\r\nStatus: {code}\r\nDiagnostic-Code: smtp; {m}\r\n"
            ));
        }
        let data = format!(
            "From: Mail Delivery System <MAILER-DAEMON@{host}>\r\nTo: <{to}>\r\nSubject: Undelivered Mail Returned to Sender\r\nDate: {date}\r\nMessage-ID: <{id}.dsn@{host}>\r\nAuto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"{boundary}\"\r\n\r\n--{boundary}\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nThis is the UGEM e-mail gateway at {host}. Your message {qid} could not be delivered:\r\n{text}\r\n--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; {host}\r\nX-Queue-ID: {qid}\r\n{status}\r\n--{boundary}\r\nContent-Type: text/rfc822-headers\r\n\r\n{headers}\r\n--{boundary}--\r\n",
            to = e.from,
            date = rfc2822(now),
            qid = e.id,
        );
        let b = Entry {
            id,
            from: String::new(),
            pending: vec![e.from.clone()],
            system: None,
            attempts: 0,
            first_ms: now,
            next_ms: now,
            errors: BTreeMap::new(),
            data: data.into_bytes(),
        };
        let _ = self.store(b);
    }

    /// One SMTP transaction to `dest`; one outcome per recipient.
    async fn send(
        &self,
        dest: SocketAddr,
        from: &str,
        rcpts: &[String],
        data: &[u8],
    ) -> Vec<Outcome> {
        let cfg = &self.inner.cfg;
        let all = |o: Outcome| vec![o; rcpts.len()];
        let stream =
            match tokio::time::timeout(cfg.connect_timeout, self.inner.net.connect(dest)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    return all(Outcome::Temporary(format!(
                        "451 4.4.1 connect to {dest}: {e}"
                    )));
                }
                Err(_) => {
                    return all(Outcome::Temporary(format!(
                        "451 4.4.1 connect to {dest}: timed out"
                    )));
                }
            };
        let timeout = Duration::from_secs(60);
        let mut c = LineReader::new(stream);
        let step = async {
            let greet = read_reply(&mut c, timeout).await?;
            if greet.class() != 2 {
                return Ok(Err(greet));
            }
            c.write(format!("EHLO {}\r\n", cfg.hostname).as_bytes())
                .await?;
            let ehlo = read_reply(&mut c, timeout).await?;
            if ehlo.class() != 2 {
                c.write(format!("HELO {}\r\n", cfg.hostname).as_bytes())
                    .await?;
                let h = read_reply(&mut c, timeout).await?;
                if h.class() != 2 {
                    return Ok(Err(h));
                }
            }
            let eight = ehlo
                .lines
                .iter()
                .any(|l| l.eq_ignore_ascii_case("8BITMIME"));
            let body = if eight && data.iter().any(|b| *b >= 0x80) {
                " BODY=8BITMIME"
            } else {
                ""
            };
            c.write(format!("MAIL FROM:<{from}>{body}\r\n").as_bytes())
                .await?;
            let m = read_reply(&mut c, timeout).await?;
            if m.class() != 2 {
                return Ok(Err(m));
            }
            let mut per = Vec::new();
            for r in rcpts {
                c.write(format!("RCPT TO:<{r}>\r\n").as_bytes()).await?;
                per.push(read_reply(&mut c, timeout).await?);
            }
            if per.iter().all(|p| p.class() != 2) {
                let _ = c.write(b"QUIT\r\n").await;
                return Ok(Ok(per.into_iter().map(|p| outcome_of(&p)).collect()));
            }
            c.write(b"DATA\r\n").await?;
            let d = read_reply(&mut c, timeout).await?;
            if d.code != 354 {
                return Ok(Err(d));
            }
            c.write(&dot_stuff(data)).await?;
            let fin = read_reply(&mut c, timeout).await?;
            let _ = c.write(b"QUIT\r\n").await;
            Ok::<_, LineError>(Ok(per
                .into_iter()
                .map(|p| {
                    if p.class() == 2 {
                        outcome_of(&fin)
                    } else {
                        outcome_of(&p)
                    }
                })
                .collect::<Vec<_>>()))
        };
        match step.await {
            Ok(Ok(v)) => v,
            Ok(Err(reply)) => all(outcome_of(&reply)),
            Err(e) => all(Outcome::Temporary(format!(
                "451 4.4.2 session with {dest} failed: {}",
                line_error(&e)
            ))),
        }
    }
}

/// `MAIL FROM:<@>` is the null path, and a source route (`<@a,@b:user@d>`, RFC 5321 C) is
/// ignored: both rewritten before the command is parsed.
fn normalise_path(line: Vec<u8>) -> Vec<u8> {
    let head = line.get(..10).map(|h| h.to_ascii_uppercase());
    let is_path = head
        .as_deref()
        .is_some_and(|h| h.starts_with(b"MAIL FROM:") || h.starts_with(b"RCPT TO:"));
    if !is_path {
        return line;
    }
    let Some(open) = line.iter().position(|&b| b == b'<') else {
        return line;
    };
    let Some(close) = line[open..]
        .iter()
        .position(|&b| b == b'>')
        .map(|p| open + p)
    else {
        return line;
    };
    let inner = &line[open + 1..close];
    let new_inner: &[u8] = if inner == b"@" {
        b""
    } else if let Some(colon) = inner.iter().rposition(|&b| b == b':') {
        &inner[colon + 1..]
    } else {
        return line;
    };
    let mut out = line[..=open].to_vec();
    out.extend_from_slice(new_inner);
    out.extend_from_slice(&line[close..]);
    out
}

/// A mailbox with a non-empty local part and domain.
fn well_formed(addr: &str) -> bool {
    addr.rsplit_once('@')
        .is_some_and(|(l, d)| !l.trim().is_empty() && !d.trim().is_empty() && !d.contains(' '))
}

fn line_error(e: &LineError) -> String {
    match e {
        LineError::Io(e) => e.to_string(),
        LineError::Eof => "connection closed".into(),
        LineError::TooLong => "reply line too long".into(),
        LineError::Timeout => "timed out".into(),
    }
}

#[derive(Debug, Clone)]
enum Outcome {
    Delivered,
    Temporary(String),
    Permanent(String),
}

fn outcome_of(r: &Reply) -> Outcome {
    match r.class() {
        2 => Outcome::Delivered,
        5 => Outcome::Permanent(format!("{} {}", r.code, r.text())),
        _ => Outcome::Temporary(format!("{} {}", r.code, r.text())),
    }
}

struct Tx {
    from: String,
    rcpts: Vec<String>,
}

type Refusal = (u16, &'static str, String);

enum DataError {
    Gone,
    Refused(u16, &'static str, String),
}

fn reply(out: &mut Vec<u8>, code: u16, enhanced: &str, text: &str) {
    if enhanced.is_empty() {
        out.extend_from_slice(format!("{code} {text}\r\n").as_bytes());
    } else {
        out.extend_from_slice(format!("{code} {enhanced} {text}\r\n").as_bytes());
    }
}

fn proto_error(e: &ProtoError) -> (u16, &'static str, String) {
    match e {
        ProtoError::UnknownCommand => (500, "5.5.1", "Command unrecognized".into()),
        ProtoError::InvalidSenderAddress => (501, "5.1.7", "Bad sender address syntax".into()),
        ProtoError::InvalidRecipientAddress => {
            (501, "5.1.3", "Bad recipient address syntax".into())
        }
        ProtoError::SyntaxError { syntax } => (501, "5.5.4", format!("Syntax: {syntax}")),
        ProtoError::InvalidParameter { param } => {
            (501, "5.5.4", format!("Invalid parameter {param}"))
        }
        ProtoError::UnsupportedParameter { param } => {
            (555, "5.5.4", format!("Unsupported parameter {param}"))
        }
        ProtoError::ResponseTooLong => (500, "5.5.2", "Line too long".into()),
        ProtoError::NeedsMoreData { .. } => (500, "5.5.2", "Incomplete command".into()),
        ProtoError::InvalidResponse { .. } => (500, "5.5.1", "Command unrecognized".into()),
    }
}

/// An RFC 5322 date in UTC.
pub fn rfc2822(ms: u64) -> String {
    jiff::Timestamp::from_millisecond(ms as i64)
        .map(|t| t.strftime("%a, %d %b %Y %H:%M:%S +0000").to_string())
        .unwrap_or_default()
}
