//! Bus episodes against a live product: the harness's information systems of [`super`] (its
//! SOAP initiators, the owners' providers, the receivers' push interfaces and the consent
//! service) on real sockets (tokio, hyper) and the wall clock, around a bus that runs as its
//! vendor ships it.
//!
//! The harness cannot reach into the product's registry; it hands the product the episode's
//! registry through the product's own means, the target file's registry command, as a file in
//! the reference's registry format (`docs/bus.md`): the systems, the services as published
//! before the scenario (a service whose test act is still in the scenario is left out), the
//! connections whose production access already existed, and the harness's consent service.
//! Every provider, push interface and the consent service is a path on the one address the
//! harness listens on (`endpoints`): `/sys/<system>/provider/<service>`, `/sys/<system>/client`,
//! `/consent`.
//!
//! The calls go over plain HTTP or, to an `https://` URL, TLS (rustls, ring) with the product's
//! certificate checked against the target file's roots; the harness's own endpoints are plain
//! HTTP. The target file's signing material is carried in [`LiveBus`]; the envelopes are not
//! signed yet (the bus's WS-Security is being built beside this).
//!
//! Every step is bounded: the registry command by its own limit, the product's readiness after
//! it by `ready-timeout-seconds`, each call by 10 s to connect (and as much to shake hands) and
//! `call-timeout-seconds` in all; the episode ends [`LIVE_GRACE`] after its last answer (at most its `seconds` and the
//! closing grace of the simulation), whatever the product does.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use jiff::Timestamp;
use qaqpa_sim::busnet::LiveBus;
use qaqpa_sim::mailnet::ControlOutcome;
use qaqpa_sim::trace::{Event, NetworkNote, Subject, SubjectKind};

use super::{
    Answered, BusSpec, CallSpec, Clock, Consents, SharedInbox, consent_answer, consents, endpoint,
    http_post, observations, request,
};
use crate::ftw::Answer;
use crate::mail::Seen;

/// How long the episode goes on after the last call was answered, for the bus's pushes and
/// delivery notices.
pub const LIVE_GRACE: Duration = Duration::from_secs(15);
/// The most a call waits for its connection to the bus.
const CONNECT_WAIT: Duration = Duration::from_secs(10);

/// Whether the harness speaks TLS to `url`.
pub fn is_https(url: &str) -> bool {
    url.starts_with("https://")
}

/// An `http://` or `https://` URL taken apart: (authority with its port, path).
pub fn split_url(url: &str) -> Result<(String, String), String> {
    let (rest, default_port) = if let Some(r) = url.strip_prefix("http://") {
        (r, 80)
    } else if let Some(r) = url.strip_prefix("https://") {
        (r, 443)
    } else {
        return Err(format!("`{url}` is not an http:// or https:// URL"));
    };
    let (auth, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if auth.is_empty() || auth.contains(['@', ' ']) {
        return Err(format!(
            "`{url}` names no host (expected http://host:port/path)"
        ));
    }
    let has_port = match auth.rfind(':') {
        Some(i) => !auth.ends_with(']') && auth[i + 1..].parse::<u16>().is_ok(),
        None => false,
    };
    if auth.contains(':') && !has_port && !auth.ends_with(']') {
        return Err(format!("`{url}`: the port is not a number from 0 to 65535"));
    }
    let auth = if has_port {
        auth.to_string()
    } else {
        format!("{auth}:{default_port}")
    };
    Ok((auth, path.to_string()))
}

/// The host of an authority (`host:port`, `[v6]:port`), as a TLS server name.
fn server_name(auth: &str) -> Result<rustls::pki_types::ServerName<'static>, String> {
    let host = auth.rsplit_once(':').map_or(auth, |(h, _)| h);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    rustls::pki_types::ServerName::try_from(host.to_string())
        .map_err(|e| format!("`{host}` is not a TLS server name: {e}"))
}

/// The harness's TLS client for `https://` URLs, trusting the roots in `roots_pem` only (the
/// CA the product's certificate chains to); an error says what is wrong with them.
pub fn tls_client(roots_pem: &[u8]) -> Result<tokio_rustls::TlsConnector, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(roots_pem) {
        let c = c.map_err(|e| format!("not a PEM certificate: {e}"))?;
        roots
            .add(c)
            .map_err(|e| format!("not a root certificate the TLS client takes: {e}"))?;
    }
    if roots.is_empty() {
        return Err("holds no certificate".into());
    }
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(std::sync::Arc::new(
        config,
    )))
}

/// The URL the episode's call goes to, with the target file's field that gives it.
fn url_of<'p>(product: &'p LiveBus, via: &str, channel: &str) -> (&'static str, Option<&'p str>) {
    match (via, channel) {
        ("external", "async") => (
            "bus.external-async-url",
            product.external_async_url.as_deref(),
        ),
        ("external", _) => (
            "bus.external-sync-url",
            product.external_sync_url.as_deref(),
        ),
        (_, "async") => ("bus.async-url", Some(product.async_url.as_str())),
        _ => ("bus.sync-url", Some(product.sync_url.as_str())),
    }
}

/// Checks that the product as the target file describes it can play the episode; an error
/// says what is missing and which field to set.
pub fn layout(spec: &BusSpec, product: &LiveBus) -> Result<(), String> {
    if let Some(r) = &spec.repeat {
        return Err(format!(
            "its bus probes repeat every {} h, {} times: a live run cannot wait the hours between them (and back to back they would not measure availability); supply its recorded trace with --evidence DIR",
            r.every_hours, r.times
        ));
    }
    if product.registry.command().is_none() {
        return Err(
            "the episode's systems, services and connections must be in the product's registry: set bus.registry-command (a command that loads the registry file the harness writes, `{registry}` standing for its path)"
                .into(),
        );
    }
    if let Some(why) = needs_external_gateway(spec, product) {
        return Err(why);
    }
    Ok(())
}

/// Why a live run cannot play the episode's sender-authentication cases: they need every
/// system's transport certificate issued by the harness's test CA and registered in the
/// product (an expired one, one under a foreign root, another system's for a forgery), while
/// a live run holds only the target file's one signing key, and its calls go unsigned until
/// live signing lands. `None` when the episode has no such case.
pub fn needs_harness_certificates(spec: &BusSpec) -> Option<String> {
    use qaqpa_sim::eds::TransportCertificate;
    use qaqpa_sim::wssec::Forgery;
    let forged = spec.calls.iter().find(|c| c.signature != Forgery::Valid);
    let certified = spec
        .systems
        .iter()
        .find(|s| s.certificate != TransportCertificate::Valid);
    match (forged, certified) {
        (Some(c), _) => Some(format!(
            "its call `{}` is a signature forgery, which needs the harness's test-CA certificates registered in the product; a live run signs with the target file's key alone; supply its recorded trace with --evidence DIR",
            c.label
        )),
        (None, Some(s)) => Some(format!(
            "its system `{}` holds a transport certificate of the harness's test CA that is not valid, which a live product would have to register; supply its recorded trace with --evidence DIR",
            s.id
        )),
        (None, None) => None,
    }
}

/// Why the product as its target file describes it offers no gateway a call of the episode
/// goes through (ЭҮСШ, whose URLs a target file may leave out: a product without an external
/// gateway), or `None` when it offers every one. Such an episode is not played.
pub fn needs_external_gateway(spec: &BusSpec, product: &LiveBus) -> Option<String> {
    spec.calls.iter().find_map(|c| {
        let channel = spec.channel_of(c);
        let (field, url) = url_of(product, &c.via, &channel);
        url.is_none().then(|| {
            format!(
                "call `{}` goes through the external gateway (ЭҮСШ) on the {channel} channel, which the target file does not name (set {field})",
                c.label
            )
        })
    })
}

fn toml_str(s: &str) -> String {
    let mut out = String::from("\"");
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The episode's registry, in the reference's registry format (`docs/bus.md`), routing to the
/// harness's endpoints at `endpoints`.
pub fn registry(spec: &BusSpec, endpoints: SocketAddr) -> String {
    let base = format!("http://{endpoints}");
    let mut t = format!(
        "# The registry of a qaqpa bus episode: the world as the scenario's operator found it.\nconsent = {}\n",
        toml_str(&format!("{base}/consent"))
    );
    for s in &spec.systems {
        t.push_str(&format!(
            "\n[[system]]\nid = {}\nstate = {}\nplacement = {}\n",
            toml_str(&s.id),
            s.state,
            toml_str(&s.placement)
        ));
        if s.push {
            t.push_str(&format!(
                "push = {}\n",
                toml_str(&format!("{base}/sys/{}/client", s.id))
            ));
        }
    }
    // A service whose test act is still in the scenario is not in the registry yet.
    for s in spec.services.iter().filter(|s| s.registered) {
        t.push_str(&format!(
            "\n[[service]]\nid = {}\nowner = {}\nprovider = {}\nmode = {}\npublished = [{}]\npersonal-data = {}\n",
            toml_str(&s.id),
            toml_str(&s.owner),
            toml_str(&format!("{base}/sys/{}/provider/{}", s.owner, s.id)),
            toml_str(&s.mode),
            s.published
                .iter()
                .map(|g| toml_str(g))
                .collect::<Vec<_>>()
                .join(", "),
            s.personal_data
        ));
    }
    for c in loaded_connections(spec) {
        t.push_str(&format!(
            "\n[[connection]]\ninitiator = {}\nservice = {}\n",
            toml_str(&c.initiator),
            toml_str(&c.service)
        ));
    }
    t
}

/// The connections the episode's registry holds: production access that already existed, to
/// a service already published (access still awaited is no connection yet).
fn loaded_connections(spec: &BusSpec) -> impl Iterator<Item = &super::ConnectionSpec> {
    spec.connections.iter().filter(|c| {
        c.granted
            && spec
                .services
                .iter()
                .any(|s| s.id == c.service && s.registered)
    })
}

/// What a live episode would do, line by line, without doing it (`qaqpa run --dry-run`).
pub fn describe(spec: &BusSpec, product: &LiveBus) -> Result<Vec<String>, String> {
    layout(spec, product)?;
    let mut lines = vec![format!(
        "a bus episode on the wall clock: the harness loads its registry ({} system(s), {} service(s), {} connection(s)) with `{}`, then listens on {} for the bus's relays and pushes",
        spec.systems.len(),
        spec.services.iter().filter(|s| s.registered).count(),
        loaded_connections(spec).count(),
        product.registry.command().unwrap_or_default(),
        product.endpoints
    )];
    let pairs = |cs: Vec<&super::ConnectionSpec>| {
        let p: Vec<String> = cs
            .iter()
            .map(|c| format!("{} → {}", c.initiator, c.service))
            .collect();
        if p.is_empty() {
            "none".to_string()
        } else {
            p.join(", ")
        }
    };
    let loaded: Vec<&super::ConnectionSpec> = loaded_connections(spec).collect();
    let left_out: Vec<&super::ConnectionSpec> = spec
        .connections
        .iter()
        .filter(|c| !loaded.iter().any(|l| std::ptr::eq(*l, *c)))
        .collect();
    lines.push(format!(
        "connections in the registry: {}; left out (access or publication still awaited): {}",
        pairs(loaded.clone()),
        pairs(left_out)
    ));
    for s in spec.services.iter().filter(|s| s.registered) {
        lines.push(format!(
            "provider of {} ({}) at http://{}/sys/{}/provider/{}{}{}",
            s.id,
            s.mode,
            product.endpoints,
            s.owner,
            s.id,
            if s.delay_seconds > 0.0 {
                format!(", answering after {} s", s.delay_seconds)
            } else {
                String::new()
            },
            if s.faulty { ", with a fault" } else { "" }
        ));
    }
    for s in spec.systems.iter().filter(|s| s.push) {
        lines.push(format!(
            "push interface of {} at http://{}/sys/{}/client",
            s.id, product.endpoints, s.id
        ));
    }
    for c in &spec.calls {
        let channel = spec.channel_of(c);
        let (_, url) = url_of(product, &c.via, &channel);
        lines.push(format!(
            "call `{}`: {} sends {} for {} to {} at {} s{}",
            c.label,
            c.from,
            if channel == "async" {
                "sendMessage"
            } else {
                "SendMessage"
            },
            c.service,
            url.unwrap_or_default(),
            c.at_seconds,
            c.subject
                .as_deref()
                .map(|s| format!(", naming subject {s}"))
                .unwrap_or_default()
        ));
    }
    Ok(lines)
}

/// Whether something accepts TCP connections at `url`'s address within `wait`, trying every
/// half second.
pub async fn reachable(url: &str, wait: Duration) -> Result<(), String> {
    let (auth, _) = split_url(url)?;
    let began = Instant::now();
    loop {
        let last = match tokio::time::timeout(
            Duration::from_secs(2),
            tokio::net::TcpStream::connect(&auth),
        )
        .await
        {
            Ok(Ok(_)) => return Ok(()),
            Ok(Err(e)) => e.to_string(),
            Err(_) => "no connection within 2 s".to_string(),
        };
        if began.elapsed() >= wait {
            return Err(last);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Runs one episode against the live bus and returns what the harness's systems saw, stamped
/// on the scenario's calendar: `start` plus the wall-clock time since the episode began (the
/// real start is in the harness's `bus-live` note).
pub fn run_episode(
    spec: &BusSpec,
    product: &LiveBus,
    // A bus episode draws nothing at random: its calls go at their instants, as in the
    // simulation (the seed is the simulated bus's, for its identifiers).
    _seed: u64,
    start: Timestamp,
    label: &str,
) -> Result<Vec<Seen>, String> {
    layout(spec, product)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the harness's network runtime: {e}"))?;
    let local = tokio::task::LocalSet::new();
    let result = local.block_on(&rt, episode(spec, product, start, label));
    // Endpoints still holding a connection the bus left open must not keep the run.
    rt.shutdown_timeout(Duration::from_secs(1));
    result
}

/// Loads the episode's registry into the product with its command, off the event loop.
async fn load_registry(
    spec: &BusSpec,
    product: &LiveBus,
    label: &str,
) -> Result<ControlOutcome, String> {
    let dir = std::env::temp_dir().join(format!(
        "qaqpa-bus-registry-{}-{}",
        std::process::id(),
        Timestamp::now().as_nanosecond()
    ));
    std::fs::create_dir_all(&dir).map_err(|e| {
        format!(
            "cannot write the episode's registry in {}: {e}",
            dir.display()
        )
    })?;
    let path = dir.join(format!("{label}.toml"));
    std::fs::write(&path, registry(spec, product.endpoints)).map_err(|e| {
        format!(
            "cannot write the episode's registry {}: {e}",
            path.display()
        )
    })?;
    let loader = product.registry.clone();
    let p = path.clone();
    let outcome = tokio::task::spawn_blocking(move || loader.load(&p))
        .await
        .map_err(|e| format!("the registry command's thread failed: {e}"))?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(outcome)
}

async fn episode(
    spec: &BusSpec,
    product: &LiveBus,
    start: Timestamp,
    label: &str,
) -> Result<Vec<Seen>, String> {
    let wall = Timestamp::now();
    let loaded = load_registry(spec, product, label).await?;
    if let Some(e) = &loaded.error {
        return Err(format!(
            "bus.registry-command `{}` could not load the episode's registry: {e}",
            loaded.command
        ));
    }
    // The product may restart to take its registry: wait until every gateway the episode
    // calls accepts connections again.
    let mut urls: Vec<(&str, &str)> = Vec::new();
    for c in &spec.calls {
        let (field, url) = url_of(product, &c.via, &spec.channel_of(c));
        let url = url.expect("checked by layout");
        if !urls.iter().any(|(_, u)| *u == url) {
            urls.push((field, url));
        }
    }
    for (field, url) in &urls {
        reachable(url, product.ready_timeout).await.map_err(|why| {
            format!(
                "{field} = {url}: the product accepts no connection there within {} s of loading the episode's registry ({why})",
                product.ready_timeout.as_secs()
            )
        })?;
    }

    let began = Instant::now();
    let clock: Clock = Rc::new(move || began.elapsed());
    let listener = tokio::net::TcpListener::bind(product.endpoints)
        .await
        .map_err(|e| {
            format!(
                "bus.endpoints = {}: the harness cannot listen there for its systems' endpoints: {e}",
                product.endpoints
            )
        })?;
    let inboxes: BTreeMap<String, SharedInbox> = spec
        .systems
        .iter()
        .map(|s| (s.id.clone(), SharedInbox::default()))
        .collect();
    let world = Rc::new(World {
        spec: spec.clone(),
        services: Rc::new(spec.services.clone()),
        inboxes: inboxes.clone(),
        consents: consents(spec),
        clock: clock.clone(),
    });
    {
        let world = world.clone();
        tokio::task::spawn_local(async move {
            // Bounded by the episode: the runtime ends with it.
            while let Ok((s, _)) = listener.accept().await {
                let _ = s.set_nodelay(true);
                let world = world.clone();
                tokio::task::spawn_local(async move {
                    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                        let world = world.clone();
                        async move { Ok::<_, Infallible>(world.answer(req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .keep_alive(true)
                        .serve_connection(TokioIo::new(s), service)
                        .await;
                });
            }
        });
    }

    let tls = match &product.tls_roots {
        Some(pem) if urls.iter().any(|(_, u)| is_https(u)) => Some(
            tls_client(pem).map_err(|e| format!("the roots for the bus's https:// URLs: {e}"))?,
        ),
        _ => None,
    };
    // The calls, each at its instant; none waits for another.
    type Got = (usize, Duration, Duration, Answer);
    let answers: Rc<RefCell<Vec<Got>>> = Rc::default();
    let mut order: Vec<usize> = (0..spec.calls.len()).collect();
    order.sort_by(|a, b| {
        spec.calls[*a]
            .at_seconds
            .total_cmp(&spec.calls[*b].at_seconds)
    });
    let mut pending = Vec::new();
    for i in order {
        let c: &CallSpec = &spec.calls[i];
        let channel = spec.channel_of(c);
        let (_, url) = url_of(product, &c.via, &channel);
        let url = url.expect("checked by layout");
        let (auth, path) = split_url(url)?;
        let tls = if is_https(url) {
            Some(tls.clone().ok_or_else(|| {
                format!("{url}: an https:// URL, and no roots to check the product's certificate against (bus.tls-root or bus.ca-root)")
            })?)
        } else {
            None
        };
        let at = Duration::from_secs_f64(c.at_seconds);
        let when = start
            .checked_add(jiff::SignedDuration::try_from(at).unwrap_or_default())
            .unwrap_or(start);
        let xml = request(
            &channel,
            &c.label,
            &c.from,
            &c.service,
            when,
            c.subject.as_deref(),
        );
        let http = http_post(&path, &auth, &xml);
        tokio::time::sleep(at.saturating_sub(began.elapsed())).await;
        let got = answers.clone();
        let wait = product.call_timeout;
        pending.push(tokio::task::spawn_local(async move {
            let sent = began.elapsed();
            let ans = call(&auth, tls, http.as_bytes(), wait).await;
            got.borrow_mut().push((i, sent, began.elapsed(), ans));
        }));
    }
    // Every call is bounded by its own time limits; the episode's end bounds them again.
    let last_call = Duration::from_secs(spec.seconds) + CONNECT_WAIT + product.call_timeout;
    for p in pending {
        let left = last_call.saturating_sub(began.elapsed());
        let _ = tokio::time::timeout(left, p).await;
    }
    let cap = Duration::from_secs(spec.seconds)
        + last_call.max(Duration::from_secs(super::CLOSING_GRACE_SECS));
    let quiet_until = (began.elapsed() + LIVE_GRACE)
        .max(Duration::from_secs(spec.seconds))
        .min(cap);
    tokio::time::sleep(quiet_until.saturating_sub(began.elapsed())).await;

    let instant = |d: Duration| {
        start
            .checked_add(jiff::SignedDuration::try_from(d).unwrap_or_default())
            .unwrap_or(start)
    };
    let answered: Vec<Answered> = answers
        .borrow()
        .iter()
        .map(|(i, sent, at, ans)| (*i, instant(*sent), instant(*at), ans.clone()))
        .collect();
    // A call whose task the episode's end cut short got no answer within the episode.
    let mut answered = answered;
    for i in 0..spec.calls.len() {
        if !answered.iter().any(|a| a.0 == i) {
            let at = Duration::from_secs_f64(spec.calls[i].at_seconds);
            answered.push((
                i,
                instant(at),
                instant(began.elapsed()),
                Answer::NoResponse("no answer before the episode ended".into()),
            ));
        }
    }
    let mut received = Vec::new();
    for inbox in inboxes.values() {
        received.extend(
            inbox
                .borrow()
                .got
                .iter()
                .map(|(at, r)| (instant(*at), r.clone())),
        );
    }
    received.sort_by_key(|(at, _)| *at);
    let mut seen = observations(spec, start, &answered, received);
    let mut fields = BTreeMap::from([
        ("product".to_string(), product.name.clone()),
        ("sync-url".to_string(), product.sync_url.clone()),
        ("async-url".to_string(), product.async_url.clone()),
        ("endpoints".to_string(), product.endpoints.to_string()),
        ("live-since".to_string(), wall.to_string()),
        ("registry-command".to_string(), loaded.command.clone()),
        ("registry-loaded-ms".to_string(), loaded.millis.to_string()),
        // What the harness's client sends today: the signing material is read and carried,
        // the envelope is not yet signed.
        ("signed".to_string(), "false".to_string()),
    ]);
    for (k, v) in [
        ("external-sync-url", &product.external_sync_url),
        ("external-async-url", &product.external_async_url),
    ] {
        if let Some(v) = v {
            fields.insert(k.to_string(), v.clone());
        }
    }
    seen.insert(
        0,
        Seen {
            at: start,
            probe: crate::interpreter::HARNESS.into(),
            subject: Subject {
                kind: SubjectKind::Service,
                id: "bus".into(),
            },
            event: Event::Network(NetworkNote {
                what: "bus-live".into(),
                fields,
            }),
        },
    );
    Ok(seen)
}

/// One call: a fresh connection to `auth` (TLS over it when `tls` is given, the product's
/// certificate checked against its roots), the request, and the answer, all within `wait`
/// (10 s of it at most for the connection, as much again for the handshake).
pub async fn call(
    auth: &str,
    tls: Option<tokio_rustls::TlsConnector>,
    request: &[u8],
    wait: Duration,
) -> Answer {
    let began = Instant::now();
    let stream =
        match tokio::time::timeout(CONNECT_WAIT.min(wait), tokio::net::TcpStream::connect(auth))
            .await
        {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Answer::NoResponse(format!("connect to {auth}: {e}")),
            Err(_) => {
                return Answer::NoResponse(format!(
                    "connect to {auth}: no connection within {} s",
                    CONNECT_WAIT.min(wait).as_secs()
                ));
            }
        };
    let _ = stream.set_nodelay(true);
    let left = wait.saturating_sub(began.elapsed());
    let exchanged = match tls {
        None => tokio::time::timeout(left, crate::web::exchange(stream, request, left)).await,
        Some(connector) => {
            let name = match server_name(auth) {
                Ok(n) => n,
                Err(e) => return Answer::NoResponse(e),
            };
            let hand = CONNECT_WAIT.min(left);
            let stream = match tokio::time::timeout(hand, connector.connect(name, stream)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => return Answer::NoResponse(format!("TLS with {auth}: {e}")),
                Err(_) => {
                    return Answer::NoResponse(format!(
                        "TLS with {auth}: no handshake within {} s",
                        hand.as_secs()
                    ));
                }
            };
            let left = wait.saturating_sub(began.elapsed());
            tokio::time::timeout(left, crate::web::exchange(stream, request, left)).await
        }
    };
    match exchanged {
        Ok(a) => a,
        Err(_) => Answer::NoResponse(format!(
            "no complete answer within {} s",
            wait.as_secs_f64()
        )),
    }
}

/// The harness's systems as one HTTP server: each system's endpoints below `/sys/<id>`, the
/// consent service at `/consent`.
struct World {
    spec: BusSpec,
    services: Rc<Vec<super::ServiceSpec>>,
    inboxes: BTreeMap<String, SharedInbox>,
    consents: Consents,
    clock: Clock,
}

impl World {
    async fn answer(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let path = req.uri().path().to_string();
        if path == "/consent" {
            return consent_answer(req, &self.consents).await;
        }
        let routed = path.strip_prefix("/sys/").and_then(|rest| {
            let (system, below) = rest.split_at(rest.find('/')?);
            let s = self.spec.systems.iter().find(|s| s.id == system)?;
            Some((s, below.to_string()))
        });
        let Some((system, below)) = routed else {
            return Response::builder()
                .status(404)
                .body(Full::new(Bytes::from_static(b"no such harness endpoint")))
                .expect("a valid response");
        };
        endpoint(
            req,
            &below,
            &system.id,
            &self.services,
            system.push_delay_seconds,
            &self.inboxes[&system.id],
            &self.clock,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_taken_apart_or_refused_with_the_reason() {
        assert_eq!(
            split_url("http://127.0.0.1:8700/SyncChannel/v10").unwrap(),
            ("127.0.0.1:8700".into(), "/SyncChannel/v10".into())
        );
        assert_eq!(
            split_url("http://bus.example.kz/x").unwrap(),
            ("bus.example.kz:80".into(), "/x".into())
        );
        assert_eq!(
            split_url("http://[::1]:81").unwrap(),
            ("[::1]:81".into(), "/".into())
        );
        assert_eq!(
            split_url("https://bus.example.kz/x").unwrap(),
            ("bus.example.kz:443".into(), "/x".into())
        );
        assert!(
            split_url("ftp://x/")
                .unwrap_err()
                .contains("not an http:// or https:// URL")
        );
        assert!(
            split_url("http:///x")
                .unwrap_err()
                .contains("names no host")
        );
        assert!(split_url("http://h:99999/x").unwrap_err().contains("port"));
    }

    /// A product's https:// endpoint: its certificate checked against the roots the target
    /// file gives, the call refused with the reason when it does not chain to them.
    #[test]
    fn https_calls_check_the_products_certificate() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let start = Timestamp::now();
        let mut ca = crate::tls::PublicCa::new(7, start).unwrap();
        let (chain, key) = ca.issue("127.0.0.1").unwrap();
        let other = crate::tls::PublicCa::new(8, start).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let auth = l.local_addr().unwrap().to_string();
            tokio::spawn(async move {
                while let Ok((s, _)) = l.accept().await {
                    let acceptor = acceptor.clone();
                    tokio::spawn(async move {
                        let Ok(mut s) = acceptor.accept(s).await else { return };
                        let mut buf = vec![0u8; 8192];
                        let _ = s.read(&mut buf).await;
                        let body = format!(
                            "<s:Envelope xmlns:s=\"{}\"><s:Body><t:SendMessageResponse xmlns:t=\"{}\"/></s:Body></s:Envelope>",
                            super::super::SOAP_ENV,
                            super::super::SYNC_TYPES
                        );
                        let _ = s
                            .write_all(
                                format!(
                                    "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                                    body.len()
                                )
                                .as_bytes(),
                            )
                            .await;
                        let _ = s.shutdown().await;
                    });
                }
            });
            let req = http_post("/SyncChannel/v10", &auth, "<x/>");
            let good = tls_client(ca.root_pem().as_bytes()).unwrap();
            match call(&auth, Some(good), req.as_bytes(), Duration::from_secs(10)).await {
                Answer::Response { status, body, .. } => {
                    assert_eq!(status, 200);
                    assert!(super::super::read_soap(&body).is_some_and(|r| !r.is_fault()));
                }
                other => panic!("{other:?}"),
            }
            let wrong = tls_client(other.root_pem().as_bytes()).unwrap();
            match call(&auth, Some(wrong), req.as_bytes(), Duration::from_secs(10)).await {
                Answer::NoResponse(why) => assert!(
                    why.starts_with(&format!("TLS with {auth}: ")) && why.contains("certificate"),
                    "{why}"
                ),
                other => panic!("{other:?}"),
            }
            // Plain HTTP to a TLS port gets no HTTP answer: a reason, not a hang.
            match call(&auth, None, req.as_bytes(), Duration::from_secs(3)).await {
                Answer::NoResponse(_) => {}
                other => panic!("{other:?}"),
            }
        });
        assert!(
            tls_client(b"not pem")
                .err()
                .unwrap()
                .contains("no certificate")
        );
    }

    fn spec(yaml: &str) -> BusSpec {
        let s: BusSpec = serde_saphyr::from_str(yaml).unwrap();
        s.validate().unwrap();
        s
    }

    /// The registry holds what existed before the scenario and routes to the harness: a
    /// service still to be published and access still to be granted are left out.
    #[test]
    fn the_registry_is_the_world_before_the_scenario() {
        let s = spec(
            "systems:\n  - { id: fund, state: true, push: true }\n  - { id: bank, state: false }\n  - { id: mj, state: true }\nservices:\n  - { id: A_v1, owner: mj, mode: sync, published: [inner, external], personal-data: true }\n  - { id: B_v1, owner: mj, mode: async, published: [inner], registered: false }\nconnections:\n  - { initiator: fund, service: A_v1 }\n  - { initiator: bank, service: A_v1, granted: false }\n  - { initiator: fund, service: B_v1 }\ncalls:\n  - { label: x, from: fund, service: A_v1 }\n",
        );
        let t = registry(&s, "127.0.0.9:9100".parse().unwrap());
        // The reference reading this very text is `tests` of the qaqpa crate (src/live.rs);
        // here, what is in it and what is not.
        assert!(
            t.contains("consent = \"http://127.0.0.9:9100/consent\""),
            "{t}"
        );
        assert_eq!(t.matches("[[system]]").count(), 3, "{t}");
        assert!(
            t.contains(
                "id = \"fund\"\nstate = true\nplacement = \"inner\"\npush = \"http://127.0.0.9:9100/sys/fund/client\"\n"
            ),
            "{t}"
        );
        assert!(
            t.contains("id = \"bank\"\nstate = false\nplacement = \"inner\"\n\n"),
            "{t}"
        );
        assert_eq!(
            t.matches("[[service]]").count(),
            1,
            "B_v1 is not published yet: {t}"
        );
        assert!(t.contains("provider = \"http://127.0.0.9:9100/sys/mj/provider/A_v1\"\nmode = \"sync\"\npublished = [\"inner\", \"external\"]\npersonal-data = true\n"), "{t}");
        assert_eq!(
            t.matches("[[connection]]").count(),
            1,
            "only fund's granted access to a published service: {t}"
        );
        assert!(
            t.contains("[[connection]]\ninitiator = \"fund\"\nservice = \"A_v1\"\n"),
            "{t}"
        );
    }
}
