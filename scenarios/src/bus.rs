//! The harness's side of the bus: information systems that call it (SHEP v10 SOAP clients),
//! owners' provider endpoints and receivers' push interfaces that it relays to, all playing in
//! a turmoil episode around the target's bus, and recording what they sent and received.
//!
//! The SOAP here is the harness's own, written from the contract (shared/rules/BUS-CONTRACT.md),
//! never the reference's: the same clients judge a vendor's bus.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use jiff::Timestamp;
use qaqpa_sim::busnet::{
    ASYNC_PATH, BUS_PORT, BusConnection, BusService, BusSystem, BusWorld, SYNC_PATH,
};
use qaqpa_sim::eds::{TestPki, Transport, TransportCertificate};
use qaqpa_sim::episode::Episode;
use qaqpa_sim::target::{Target, TargetError};
use qaqpa_sim::trace::{BusCall, BusReceived, Event, NetworkNote, Subject, SubjectKind};
use qaqpa_sim::wssec::Forgery;
use serde::Deserialize;

use crate::ftw::Answer;
use crate::mail::Seen;
use crate::web::exchange;

pub mod live;

pub const SOAP_ENV: &str = "http://schemas.xmlsoap.org/soap/envelope/";
pub const SYNC_TYPES: &str = "http://bip.bee.kz/SyncChannel/v10/Types";
pub const ASYNC_TYPES: &str = "http://bip.bee.kz/AsyncChannel/v10/Types";

/// The hosts the target's gateways run as.
pub const INNER_HOST: &str = "shep";
pub const EXTERNAL_HOST: &str = "vshep";
/// The port of every harness system's HTTP endpoints (provider and push interface).
const SYSTEM_PORT: u16 = 8080;
/// After the last call the episode runs this long for late answers and pushes.
pub const CLOSING_GRACE_SECS: u64 = 120;
/// How long a harness client waits for the bus's answer: past the minute the bus has, so a
/// late answer is measured, not cut off.
const CLIENT_WAIT: Duration = Duration::from_secs(100);

/// A bus episode: the systems around the bus, the registry as the scenario's operator found
/// it, and the calls the systems make.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct BusSpec {
    /// How long the calls take, in seconds (the last call at most this far in).
    #[serde(default = "sixty")]
    pub seconds: u64,
    pub systems: Vec<SystemSpec>,
    #[serde(default)]
    pub services: Vec<ServiceSpec>,
    #[serde(default)]
    pub connections: Vec<ConnectionSpec>,
    pub calls: Vec<CallSpec>,
    /// The consents the harness's consent service holds (eint-app7-6.5): which subject let
    /// which initiator reach which personal-data service.
    #[serde(default)]
    pub consents: Vec<ConsentSpec>,
    /// Probes: the same episode again every `every-hours`, `times` times in all (instants on
    /// the business calendar; each a short episode, never the hours between inside one).
    #[serde(default)]
    pub repeat: Option<RepeatSpec>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ConsentSpec {
    pub subject: String,
    pub service: String,
    pub initiator: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RepeatSpec {
    pub every_hours: f64,
    pub times: u32,
}

impl RepeatSpec {
    /// The offset of the `k`-th episode from the first.
    pub fn offset(&self, k: u32) -> jiff::SignedDuration {
        jiff::SignedDuration::from_secs_f64(self.every_hours * 3600.0 * f64::from(k))
    }
}

fn sixty() -> u64 {
    60
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SystemSpec {
    /// The system's id (its `senderId`); a scenario party's key when the party owns it.
    pub id: String,
    /// A state body's system (`false`: a non-state one).
    pub state: bool,
    /// The system runs a push interface (AsyncChannel Client) for asynchronous delivery.
    #[serde(default)]
    pub push: bool,
    /// Seconds the push interface takes to answer (a slow receiver).
    #[serde(default)]
    pub push_delay_seconds: f64,
    /// Where the system sits, as the harness registers it: `inner` (the default), `outer`
    /// (the outer-circuit segment of systems interacting over the Internet) or `internet`.
    #[serde(default = "inner")]
    pub placement: String,
    /// The transport certificate the test CA issued the system and the bus has registered
    /// for it: `valid` (the default), `expired`, or `foreign-ca` (a root bearing the NCA RK's
    /// name but not its key).
    #[serde(default)]
    pub certificate: TransportCertificate,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ServiceSpec {
    pub id: String,
    pub owner: String,
    /// `sync` or `async`.
    pub mode: String,
    /// `inner` (ЭҮШ) and/or `external` (ЭҮСШ).
    pub published: Vec<String>,
    #[serde(default)]
    pub personal_data: bool,
    /// In the registry when the scenario began (`false`: its test act is in the scenario).
    #[serde(default = "yes")]
    pub registered: bool,
    /// Seconds the provider takes to answer.
    #[serde(default)]
    pub delay_seconds: f64,
    /// The provider answers with a fault of its own.
    #[serde(default)]
    pub faulty: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ConnectionSpec {
    pub initiator: String,
    pub service: String,
    /// Production access existed when the scenario began (`false`: its grant is awaited).
    #[serde(default = "yes")]
    pub granted: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct CallSpec {
    pub label: String,
    pub from: String,
    pub service: String,
    /// The gateway called: `inner` (ЭҮШ, the default) or `external` (ЭҮСШ).
    #[serde(default = "inner")]
    pub via: String,
    /// `sync` or `async`; by default the service's mode.
    #[serde(default)]
    pub channel: Option<String>,
    #[serde(default)]
    pub at_seconds: f64,
    /// The personal-data subject (an IIN) the call names, as its `subject` property.
    #[serde(default)]
    pub subject: Option<String>,
    /// `production` (the default) or `test`: the bus's test contour (eint-app7-5.5), under
    /// the channel's path prefixed with [`TEST_PREFIX`].
    #[serde(default = "production")]
    pub contour: String,
    /// How the message is signed: `valid` (the default: WS-Security over the Body with the
    /// sender's registered certificate) or a forgery the bus must refuse: `unsigned`,
    /// `tampered`, `other-system`, `wrapped`, `reference-elsewhere`, `duplicate-id`,
    /// `replayed` (`qaqpa_sim::wssec::Forgery`).
    #[serde(default)]
    pub signature: Forgery,
}

fn production() -> String {
    "production".into()
}

/// The path prefix of the bus's test contour (docs/bus.md).
pub const TEST_PREFIX: &str = "/test";

fn inner() -> String {
    "inner".into()
}

fn id_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

impl BusSpec {
    pub fn validate(&self) -> Result<(), String> {
        if self.calls.is_empty() {
            return Err("a bus step needs `calls`".into());
        }
        if let Some(r) = &self.repeat
            && !(r.every_hours * 3600.0 > self.episode_seconds() as f64
                && r.every_hours <= 24.0 * 31.0
                && r.times >= 1
                && r.times <= 2000)
        {
            return Err(format!(
                "repeat: every-hours {} and times {} (expected episodes that do not overlap, at most a month apart, 1 to 2000 of them)",
                r.every_hours, r.times
            ));
        }
        if self.seconds == 0 || self.seconds > 600 {
            return Err(format!(
                "seconds {} (expected 1 to 600: an episode is minutes, never days)",
                self.seconds
            ));
        }
        if self.systems.len() > 12 {
            return Err(format!(
                "{} systems (at most 12: each is a simulated host)",
                self.systems.len()
            ));
        }
        let mut ids = Vec::new();
        for s in &self.systems {
            if !id_ok(&s.id) {
                return Err(format!(
                    "system id `{}` (expected letters, digits, - and _, at most 64)",
                    s.id
                ));
            }
            if ids.contains(&s.id.as_str()) {
                return Err(format!("system `{}` is listed twice", s.id));
            }
            if !["inner", "outer", "internet"].contains(&s.placement.as_str()) {
                return Err(format!(
                    "system `{}`: placement `{}` (expected inner, outer or internet)",
                    s.id, s.placement
                ));
            }
            if !(s.push_delay_seconds >= 0.0 && s.push_delay_seconds <= 600.0) {
                return Err(format!(
                    "system `{}`: push-delay-seconds out of 0..=600",
                    s.id
                ));
            }
            ids.push(&s.id);
        }
        let system = |id: &str, what: &str| {
            if ids.contains(&id) {
                Ok(())
            } else {
                Err(format!(
                    "{what} `{id}` is not among `systems` ({})",
                    ids.join(", ")
                ))
            }
        };
        for s in &self.services {
            system(&s.owner, &format!("service `{}`: owner", s.id))?;
            if s.mode != "sync" && s.mode != "async" {
                return Err(format!(
                    "service `{}`: mode `{}` (expected sync or async)",
                    s.id, s.mode
                ));
            }
            if s.published.is_empty() || s.published.iter().any(|g| g != "inner" && g != "external")
            {
                return Err(format!(
                    "service `{}`: published {:?} (expected inner and/or external)",
                    s.id, s.published
                ));
            }
            if !(s.delay_seconds >= 0.0 && s.delay_seconds <= 600.0) {
                return Err(format!("service `{}`: delay-seconds out of 0..=600", s.id));
            }
        }
        for c in &self.connections {
            system(&c.initiator, "connection: initiator")?;
            if !self.services.iter().any(|s| s.id == c.service) {
                return Err(format!(
                    "connection: service `{}` is not among `services`",
                    c.service
                ));
            }
        }
        for c in &self.calls {
            system(&c.from, &format!("call `{}`: from", c.label))?;
            if c.via != "inner" && c.via != "external" {
                return Err(format!(
                    "call `{}`: via `{}` (expected inner or external)",
                    c.label, c.via
                ));
            }
            if c.contour != "production" && c.contour != "test" {
                return Err(format!(
                    "call `{}`: contour `{}` (expected production or test)",
                    c.label, c.contour
                ));
            }
            if let Some(ch) = &c.channel
                && ch != "sync"
                && ch != "async"
            {
                return Err(format!(
                    "call `{}`: channel `{ch}` (expected sync or async)",
                    c.label
                ));
            }
            if !(c.at_seconds >= 0.0 && c.at_seconds <= self.seconds as f64) {
                return Err(format!(
                    "call `{}`: at-seconds {} (expected 0 to seconds {})",
                    c.label, c.at_seconds, self.seconds
                ));
            }
        }
        Ok(())
    }

    /// How long the episode lasts, closing grace included.
    pub fn episode_seconds(&self) -> u64 {
        self.seconds.saturating_add(CLOSING_GRACE_SECS)
    }

    fn channel_of(&self, c: &CallSpec) -> String {
        c.channel.clone().unwrap_or_else(|| {
            self.services
                .iter()
                .find(|s| s.id == c.service)
                .map(|s| s.mode.clone())
                .unwrap_or_else(|| "sync".into())
        })
    }

    fn world(&self, at: Timestamp, pki: &Credentials) -> BusWorld {
        BusWorld {
            ca_root: Some(pki.root.clone()),
            inner: INNER_HOST.into(),
            external: EXTERNAL_HOST.into(),
            systems: self
                .systems
                .iter()
                .map(|s| BusSystem {
                    id: s.id.clone(),
                    state: s.state,
                    placement: s.placement.clone(),
                    push: s
                        .push
                        .then(|| format!("http://{}:{SYSTEM_PORT}/client", host_of(&s.id))),
                    certificate: pki.of.get(&s.id).map(|t| t.cert_der.clone()),
                })
                .collect(),
            services: self
                .services
                .iter()
                .map(|s| BusService {
                    id: s.id.clone(),
                    owner: s.owner.clone(),
                    provider: format!(
                        "http://{}:{SYSTEM_PORT}/provider/{}",
                        host_of(&s.owner),
                        s.id
                    ),
                    provider_test: Some(format!(
                        "http://{}:{SYSTEM_PORT}/provider-test/{}",
                        host_of(&s.owner),
                        s.id
                    )),
                    mode: s.mode.clone(),
                    inner: s.published.iter().any(|g| g == "inner"),
                    external: s.published.iter().any(|g| g == "external"),
                    personal_data: s.personal_data,
                    registered: s.registered,
                })
                .collect(),
            connections: self
                .connections
                .iter()
                .map(|c| BusConnection {
                    initiator: c.initiator.clone(),
                    service: c.service.clone(),
                    granted: c.granted,
                })
                .collect(),
            consent: Some(format!("http://{CONSENT_HOST}:{SYSTEM_PORT}/consent")),
            at,
        }
    }
}

/// The harness's consent service host.
const CONSENT_HOST: &str = "consent";

fn host_of(system: &str) -> String {
    format!("sys-{system}")
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The transport credentials of an episode's systems, issued by the scenario's test CA (the
/// NCA RK stand-in), and its root.
pub struct Credentials {
    pub root: Vec<u8>,
    pub of: BTreeMap<String, Transport>,
    /// The systems whose certificate is valid (the others' the bus must not trust).
    pub trusted: Vec<String>,
    /// A credential of a system the bus does not know, for `other-system` when the episode
    /// has a single system.
    pub stranger: Transport,
}

impl Credentials {
    pub fn issue(spec: &BusSpec, seed: u64, at: Timestamp) -> Result<Credentials, String> {
        let e = |e: qaqpa_sim::eds::EdsError| format!("the test CA: {e}");
        let mut pki = TestPki::new(seed, at).map_err(e)?;
        let mut of = BTreeMap::new();
        let trusted = spec
            .systems
            .iter()
            .filter(|s| s.certificate == TransportCertificate::Valid)
            .map(|s| s.id.clone())
            .collect();
        for s in &spec.systems {
            of.insert(
                s.id.clone(),
                pki.transport(&s.id, s.certificate, at).map_err(e)?,
            );
        }
        let stranger = pki
            .transport("unregistered-system", TransportCertificate::Valid, at)
            .map_err(e)?;
        Ok(Credentials {
            root: pki.nca_root_der().to_vec(),
            of,
            trusted,
            stranger,
        })
    }

    /// The message `from` sends for `body` the way `signature` says (`decoy`: another
    /// message of its own, what the forgeries that reuse a real signature took it from).
    pub fn sign(
        &self,
        from: &str,
        signature: Forgery,
        body: &str,
        decoy: &str,
    ) -> Result<String, String> {
        let own = self.of.get(from).unwrap_or(&self.stranger);
        // Another registered system whose certificate is sound: only the binding to the
        // sender is wrong.
        let other = self
            .trusted
            .iter()
            .find(|id| id.as_str() != from)
            .and_then(|id| self.of.get(id))
            .unwrap_or(&self.stranger);
        qaqpa_sim::wssec::forge(signature, body, decoy, own, other)
            .map_err(|e| format!("signing the message of `{from}`: {e}"))
    }
}

/// The SOAP request a harness system sends for a call, unsigned.
pub fn request(
    channel: &str,
    message_id: &str,
    from: &str,
    service: &str,
    date: Timestamp,
    subject: Option<&str>,
) -> String {
    qaqpa_sim::wssec::envelope(&request_body(
        channel, message_id, from, service, date, subject, message_id,
    ))
}

/// The Body's content of a call's request; `data` is its business query.
pub fn request_body(
    channel: &str,
    message_id: &str,
    from: &str,
    service: &str,
    date: Timestamp,
    subject: Option<&str>,
    data: &str,
) -> String {
    let props = subject
        .map(|s| {
            format!(
                "<properties><key>subject</key><value>{}</value></properties>",
                escape(s)
            )
        })
        .unwrap_or_default();
    if channel == "async" {
        format!(
            "<t:sendMessage xmlns:t=\"{ASYNC_TYPES}\"><request><messageInfo><serviceId>{}</serviceId><messageType>REQUEST</messageType><messageDate>{date}</messageDate><sender><senderId>{}</senderId></sender>{props}</messageInfo><messageData><data><q:query xmlns:q=\"urn:qaqpa:harness\">{}</q:query></data></messageData></request></t:sendMessage>",
            escape(service),
            escape(from),
            escape(data)
        )
    } else {
        format!(
            "<t:SendMessage xmlns:t=\"{SYNC_TYPES}\"><request><requestInfo><messageId>{}</messageId><serviceId>{}</serviceId><messageDate>{date}</messageDate><sender><senderId>{}</senderId></sender>{props}</requestInfo><requestData><data><q:query xmlns:q=\"urn:qaqpa:harness\">{}</q:query></data></requestData></request></t:SendMessage>",
            escape(message_id),
            escape(service),
            escape(from),
            escape(data)
        )
    }
}

/// What a SOAP answer says, read with a real XML parser: the Body's first element (namespace,
/// local name), and a fault's `errorCode` and `errorMessage` when it is one.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SoapReading {
    pub body_element: Option<(String, String)>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    /// Texts of unqualified leaf elements by local name (first occurrence): `messageId`,
    /// `serviceId`, `senderId`.
    pub fields: BTreeMap<String, String>,
}

impl SoapReading {
    pub fn is_fault(&self) -> bool {
        self.body_element
            .as_ref()
            .is_some_and(|(ns, n)| ns == SOAP_ENV && n == "Fault")
    }
}

/// Reads a SOAP envelope's gist; `None` when it is not well-formed XML or has no Body.
pub fn read_soap(xml: &[u8]) -> Option<SoapReading> {
    use quick_xml::events::Event as X;
    use quick_xml::name::ResolveResult;
    let mut r = quick_xml::reader::NsReader::from_reader(xml);
    let mut out = SoapReading::default();
    let mut path: Vec<(String, String)> = Vec::new();
    let mut in_body = false;
    let mut saw_body = false;
    let mut text = String::new();
    loop {
        let (res, ev) = r.read_resolved_event().ok()?;
        let ns = match res {
            ResolveResult::Bound(n) => String::from_utf8_lossy(n.0).into_owned(),
            _ => String::new(),
        };
        match ev {
            X::Start(ref e) | X::Empty(ref e) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                if in_body && out.body_element.is_none() {
                    out.body_element = Some((ns.clone(), name.clone()));
                }
                if ns == SOAP_ENV && name == "Body" {
                    in_body = true;
                    saw_body = true;
                }
                text.clear();
                if matches!(ev, X::Start(_)) {
                    path.push((ns, name));
                    if path.len() > 256 {
                        return None;
                    }
                }
            }
            X::End(_) => {
                let (ns, name) = path.pop()?;
                if ns == SOAP_ENV && name == "Body" {
                    in_body = false;
                }
                if ns.is_empty() && !text.trim().is_empty() {
                    let t = text.trim().to_string();
                    match name.as_str() {
                        "errorCode" if out.error_code.is_none() => out.error_code = Some(t),
                        "errorMessage" if out.error_message.is_none() => {
                            out.error_message = Some(t)
                        }
                        _ => {
                            out.fields.entry(name).or_insert(t);
                        }
                    }
                }
                text.clear();
            }
            X::Text(t) => text.push_str(&t.decode().ok()?),
            X::CData(t) => text.push_str(&t.decode().ok()?),
            X::GeneralRef(g) => {
                if g.is_char_ref() {
                    if let Some(c) = g.resolve_char_ref().ok()? {
                        text.push(c);
                    }
                } else {
                    let name = g.decode().ok()?;
                    text.push_str(quick_xml::escape::resolve_predefined_entity(&name)?);
                }
            }
            X::DocType(_) => return None,
            X::Eof => break,
            _ => {}
        }
    }
    saw_body.then_some(out)
}

/// A consent query's subject, service and initiator.
fn read_query(body: &[u8]) -> Option<(String, String, String)> {
    let mut r = quick_xml::reader::Reader::from_reader(body);
    let mut cur = String::new();
    let (mut s, mut v, mut i) = (None, None, None);
    loop {
        match r.read_event().ok()? {
            quick_xml::events::Event::Start(e) => {
                cur = String::from_utf8_lossy(e.local_name().as_ref()).into_owned()
            }
            quick_xml::events::Event::Text(t) => {
                let t = t.decode().ok()?.trim().to_string();
                match cur.as_str() {
                    "subject" => s = Some(t),
                    "service" => v = Some(t),
                    "initiator" => i = Some(t),
                    _ => {}
                }
            }
            quick_xml::events::Event::Eof => break,
            _ => {}
        }
    }
    Some((s?, v?, i?))
}

/// What one harness system's endpoints received, with when (episode clock).
#[derive(Default)]
pub(crate) struct Inbox {
    pub(crate) got: Vec<(Duration, BusReceived)>,
}

pub(crate) type SharedInbox = Rc<RefCell<Inbox>>;

/// The episode's clock as an endpoint reads it: turmoil's in a simulation, the wall clock's
/// since the episode began in a live one.
pub(crate) type Clock = Rc<dyn Fn() -> Duration>;

/// Serves one connection to a harness system's endpoints: `/provider/<service>` answers
/// SendMessage (after the service's delay, or with its fault), `/client` takes pushes.
async fn serve_system<IO>(
    io: IO,
    system: String,
    services: Rc<Vec<ServiceSpec>>,
    push_delay: f64,
    inbox: SharedInbox,
) where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + 'static,
{
    let clock: Clock = Rc::new(turmoil::elapsed);
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let system = system.clone();
        let services = services.clone();
        let inbox = inbox.clone();
        let clock = clock.clone();
        async move {
            let path = req.uri().path().to_string();
            Ok::<_, Infallible>(
                endpoint(req, &path, &system, &services, push_delay, &inbox, &clock).await,
            )
        }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(io), service)
        .await;
}

fn soap_response(status: u16, body: String) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "text/xml; charset=utf-8")
        .body(Full::new(Bytes::from(format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><soap:Envelope xmlns:soap=\"{SOAP_ENV}\"><soap:Body>{body}</soap:Body></soap:Envelope>"
        ))))
        .expect("a valid response")
}

/// A harness system's endpoint answering `req`; `path` is the request's path below the
/// system's own root (`/provider/<service>` or `/client`).
pub(crate) async fn endpoint(
    req: Request<Incoming>,
    path: &str,
    system: &str,
    services: &[ServiceSpec],
    push_delay: f64,
    inbox: &SharedInbox,
    clock: &Clock,
) -> Response<Full<Bytes>> {
    let body = Limited::new(req.into_body(), 4 << 20)
        .collect()
        .await
        .map(|b| b.to_bytes().to_vec())
        .unwrap_or_default();
    let reading = read_soap(&body).unwrap_or_default();
    // The provider's test-environment endpoint answers as its production one does; what
    // reached which is recorded apart (eint-app7-5.5).
    let (test, provider_path) = match path.strip_prefix("/provider-test/") {
        Some(id) => (true, format!("/provider/{id}")),
        None => (false, path.to_string()),
    };
    let path = provider_path;
    let (endpoint, delay) = if path == "/client" {
        ("push", push_delay)
    } else {
        let svc = path
            .strip_prefix("/provider/")
            .and_then(|id| services.iter().find(|s| s.id == id));
        (
            if test { "provider-test" } else { "provider" },
            svc.map_or(0.0, |s| s.delay_seconds),
        )
    };
    let field = |k: &str| reading.fields.get(k).cloned().unwrap_or_default();
    inbox.borrow_mut().got.push((
        clock(),
        BusReceived {
            system: system.to_string(),
            endpoint: endpoint.into(),
            operation: reading
                .body_element
                .as_ref()
                .map(|(_, n)| n.clone())
                .unwrap_or_default(),
            service: field("serviceId"),
            sender: field("senderId"),
            message_id: field("messageId"),
        },
    ));
    if delay > 0.0 {
        tokio::time::sleep(Duration::from_secs_f64(delay)).await;
    }
    if endpoint == "push" {
        let op = reading
            .body_element
            .map(|(_, n)| n)
            .unwrap_or_else(|| "sendMessage".into());
        return soap_response(200, format!("<t:{op}Response xmlns:t=\"{ASYNC_TYPES}\"/>"));
    }
    let svc = path
        .strip_prefix("/provider/")
        .and_then(|id| services.iter().find(|s| s.id == id));
    if svc.is_none_or(|s| s.faulty) {
        return soap_response(
            500,
            format!(
                "<soap:Fault><faultcode>soap:Server</faultcode><faultstring>provider error</faultstring><detail><t:SendMessageFault1_SendMessageFault xmlns:t=\"{SYNC_TYPES}\"><errorCode>PROVIDER-1</errorCode><errorMessage>the provider failed</errorMessage><errorDate>2025-01-01T00:00:00Z</errorDate></t:SendMessageFault1_SendMessageFault></detail></soap:Fault>"
            ),
        );
    }
    soap_response(
        200,
        format!(
            "<t:SendMessageResponse xmlns:t=\"{SYNC_TYPES}\"><response><responseInfo><messageId>{system}-answer</messageId><correlationId>{}</correlationId><responseDate>2025-01-01T00:00:00Z</responseDate><status><code>OK</code><message>done</message></status></responseInfo><responseData><data><q:answer xmlns:q=\"urn:qaqpa:harness\">ok</q:answer></data></responseData></response></t:SendMessageResponse>",
            escape(&field("messageId"))
        ),
    )
}

/// The consents the harness's consent service holds: (subject, service, initiator).
pub(crate) type Consents = Rc<Vec<(String, String, String)>>;

pub(crate) fn consents(spec: &BusSpec) -> Consents {
    Rc::new(
        spec.consents
            .iter()
            .map(|c| (c.subject.clone(), c.service.clone(), c.initiator.clone()))
            .collect(),
    )
}

/// The harness's consent service: 200 when the subject consented to that initiator's access
/// to that service, 403 otherwise.
pub(crate) async fn consent_answer(
    req: Request<Incoming>,
    consents: &Consents,
) -> Response<Full<Bytes>> {
    let body = Limited::new(req.into_body(), 64 * 1024)
        .collect()
        .await
        .map(|b| b.to_bytes().to_vec())
        .unwrap_or_default();
    let q = read_query(&body);
    let yes = q.is_some_and(|(s, v, i)| consents.iter().any(|c| c.0 == s && c.1 == v && c.2 == i));
    Response::builder()
        .status(if yes { 200 } else { 403 })
        .body(Full::new(Bytes::from_static(b"")))
        .expect("a valid response")
}

/// Runs the episode and returns what the harness's systems saw, in time order.
pub fn run_episode(
    spec: &BusSpec,
    target: &dyn Target,
    seed: u64,
    start: Timestamp,
    label: &str,
) -> Result<Vec<Seen>, TargetError> {
    if let Some(product) = target.live_bus() {
        return live::run_episode(spec, &product, seed, start, label).map_err(|message| {
            TargetError::Live {
                target: target.info().name,
                message,
            }
        });
    }
    let bus = target.bus_gateway(seed)?;
    let mut ep = Episode::new(
        start,
        seed,
        label,
        Duration::from_secs(spec.episode_seconds()),
    );
    ep.tick = Duration::from_millis(10);
    let creds = Credentials::issue(spec, seed, start).map_err(|message| TargetError::Bus {
        target: target.info().name,
        message,
    })?;
    let world = spec.world(start, &creds);
    let mut b = ep.builder();
    b.min_message_latency(Duration::from_millis(1))
        .max_message_latency(Duration::from_millis(5));
    let mut sim = b.build();
    bus.install(&mut sim, &world);
    let services = Rc::new(spec.services.clone());
    let mut inboxes: Vec<SharedInbox> = Vec::new();
    for s in &spec.systems {
        let inbox: SharedInbox = Rc::default();
        inboxes.push(inbox.clone());
        let id = s.id.clone();
        let services = services.clone();
        let delay = s.push_delay_seconds;
        sim.host(host_of(&s.id), move || {
            let inbox = inbox.clone();
            let id = id.clone();
            let services = services.clone();
            async move {
                let l = turmoil::net::TcpListener::bind(("0.0.0.0", SYSTEM_PORT)).await?;
                loop {
                    let (s, _) = l.accept().await?;
                    tokio::task::spawn_local(serve_system(
                        s,
                        id.clone(),
                        services.clone(),
                        delay,
                        inbox.clone(),
                    ));
                }
            }
        });
    }
    // The state service for access control to personal data, as the harness plays it.
    let consents = consents(spec);
    sim.host(CONSENT_HOST, move || {
        let consents = consents.clone();
        async move {
            let l = turmoil::net::TcpListener::bind(("0.0.0.0", SYSTEM_PORT)).await?;
            loop {
                let (s, _) = l.accept().await?;
                let consents = consents.clone();
                tokio::task::spawn_local(async move {
                    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                        let consents = consents.clone();
                        async move { Ok::<_, Infallible>(consent_answer(req, &consents).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .keep_alive(true)
                        .serve_connection(TokioIo::new(s), service)
                        .await;
                });
            }
        }
    });
    // One client per calling system, its calls in time order.
    type Got = (usize, Duration, Duration, Answer);
    let answers: Rc<RefCell<Vec<Got>>> = Rc::default();
    let mut by_system: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, c) in spec.calls.iter().enumerate() {
        by_system.entry(c.from.clone()).or_default().push(i);
    }
    for (system, mut calls) in by_system {
        calls.sort_by(|a, b| {
            spec.calls[*a]
                .at_seconds
                .total_cmp(&spec.calls[*b].at_seconds)
        });
        let reqs: Vec<(usize, f64, String, String, String)> = calls
            .iter()
            .map(|&i| {
                let c = &spec.calls[i];
                let channel = spec.channel_of(c);
                let when = ep.instant(Duration::from_secs_f64(c.at_seconds));
                let path = if channel == "async" {
                    ASYNC_PATH
                } else {
                    SYNC_PATH
                };
                let path = if c.contour == "test" {
                    format!("{TEST_PREFIX}{path}")
                } else {
                    path.to_string()
                };
                let host = if c.via == "external" {
                    EXTERNAL_HOST
                } else {
                    INNER_HOST
                };
                let body = |data: &str| {
                    request_body(
                        &channel,
                        &c.label,
                        &c.from,
                        &c.service,
                        when,
                        c.subject.as_deref(),
                        data,
                    )
                };
                // The decoy: a message the sender really signed, with other business data.
                let xml = creds
                    .sign(
                        &c.from,
                        c.signature,
                        &body(&c.label),
                        &body(&format!("{}-signed", c.label)),
                    )
                    .map_err(|message| TargetError::Bus {
                        target: target.info().name,
                        message,
                    })?;
                let http = http_post(&path, host, &xml);
                Ok((i, c.at_seconds, host.to_string(), http, String::new()))
            })
            .collect::<Result<_, TargetError>>()?;
        let got = answers.clone();
        // The client runs on the system's own host, beside its endpoints.
        sim.client(format!("{}-client", host_of(&system)), async move {
            let mut pending = Vec::new();
            for (i, at, host, http, _) in reqs {
                tokio::time::sleep(Duration::from_secs_f64(at).saturating_sub(turmoil::elapsed()))
                    .await;
                let got = got.clone();
                // Calls do not wait for each other: a slow answer must not delay the next.
                pending.push(tokio::task::spawn_local(async move {
                    let sent = turmoil::elapsed();
                    let ans =
                        match turmoil::net::TcpStream::connect((host.as_str(), BUS_PORT)).await {
                            Ok(s) => exchange(s, http.as_bytes(), CLIENT_WAIT).await,
                            Err(e) => Answer::NoResponse(format!("connect: {e}")),
                        };
                    got.borrow_mut().push((i, sent, turmoil::elapsed(), ans));
                }));
            }
            for p in pending {
                let _ = p.await;
            }
            Ok(())
        });
    }
    if let Err(e) = sim.run() {
        return Err(TargetError::Bus {
            target: target.info().name,
            message: e.to_string(),
        });
    }
    let answers: Vec<Answered> = answers
        .borrow_mut()
        .drain(..)
        .map(|(i, sent, answered, ans)| (i, ep.instant(sent), ep.instant(answered), ans))
        .collect();
    let received: Vec<(Timestamp, BusReceived)> = inboxes
        .iter()
        .flat_map(|inbox| {
            inbox
                .borrow()
                .got
                .iter()
                .map(|(at, r)| (ep.instant(*at), r.clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    Ok(observations(spec, start, &answers, received))
}

/// The request text of a SOAP call to `path` on `host`.
pub(crate) fn http_post(path: &str, host: &str, xml: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: text/xml; charset=utf-8\r\nSOAPAction: \"\"\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{xml}",
        xml.len()
    )
}

/// A call's answer: the call's index, when it was sent and answered, and what came.
pub(crate) type Answered = (usize, Timestamp, Timestamp, Answer);

/// What the harness records of an episode, in time order: its notes of the world it laid out,
/// each call's outcome as its client got it, and what reached its systems' endpoints.
pub(crate) fn observations(
    spec: &BusSpec,
    start: Timestamp,
    answers: &[Answered],
    received: Vec<(Timestamp, BusReceived)>,
) -> Vec<Seen> {
    let mut seen = Vec::new();
    let note = |what: &str, fields: &[(&str, String)]| Seen {
        at: start,
        probe: crate::interpreter::HARNESS.into(),
        subject: Subject {
            kind: SubjectKind::Service,
            id: "bus".into(),
        },
        event: Event::Network(NetworkNote {
            what: what.into(),
            fields: fields
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        }),
    };
    // The harness's own record of the world: which systems are state ones, which services
    // and connections it laid out and whether their grant was still awaited.
    for s in &spec.systems {
        seen.push(note(
            "bus-system",
            &[
                ("system", s.id.clone()),
                ("state", s.state.to_string()),
                ("placement", s.placement.clone()),
            ],
        ));
    }
    for s in &spec.services {
        seen.push(note(
            "bus-service",
            &[
                ("service", s.id.clone()),
                ("owner", s.owner.clone()),
                ("mode", s.mode.clone()),
                ("registered", s.registered.to_string()),
                ("personal-data", s.personal_data.to_string()),
                ("delay-seconds", s.delay_seconds.to_string()),
                ("published", s.published.join(" ")),
                ("faulty", s.faulty.to_string()),
            ],
        ));
    }
    // What the harness signed otherwise than well: a forged message, or a system's
    // certificate the bus must not trust.
    for c in &spec.calls {
        let cert = spec
            .systems
            .iter()
            .find(|s| s.id == c.from)
            .map(|s| s.certificate)
            .unwrap_or_default();
        if c.signature != Forgery::Valid || cert != TransportCertificate::Valid {
            seen.push(note(
                "bus-signed",
                &[
                    ("label", c.label.clone()),
                    ("from", c.from.clone()),
                    ("signature", c.signature.as_str().to_string()),
                    ("certificate", cert.as_str().to_string()),
                ],
            ));
        }
    }
    for c in &spec.consents {
        seen.push(note(
            "bus-consent",
            &[
                ("subject", c.subject.clone()),
                ("service", c.service.clone()),
                ("initiator", c.initiator.clone()),
            ],
        ));
    }
    for c in &spec.connections {
        seen.push(note(
            "bus-connection",
            &[
                ("initiator", c.initiator.clone()),
                ("service", c.service.clone()),
                ("granted", c.granted.to_string()),
            ],
        ));
    }
    for (i, sent, answered, ans) in answers {
        let c = &spec.calls[*i];
        let channel = spec.channel_of(c);
        let (outcome, status, code, error) = match ans {
            Answer::Response { status, body, .. } => match read_soap(body) {
                Some(r) if r.is_fault() => (
                    "fault",
                    Some(*status),
                    r.error_code.clone(),
                    r.error_message.clone().unwrap_or_default(),
                ),
                Some(r) if *status == 200 && r.body_element.is_some() => {
                    ("accepted", Some(*status), None, String::new())
                }
                _ => (
                    "no-answer",
                    Some(*status),
                    None,
                    format!("HTTP {status} without a SOAP answer"),
                ),
            },
            Answer::NoResponse(why) => ("no-answer", None, None, why.clone()),
        };
        seen.push(Seen {
            at: *answered,
            probe: format!("client:{}", c.from),
            subject: Subject {
                kind: SubjectKind::Service,
                id: c.service.clone(),
            },
            event: Event::BusCall(BusCall {
                label: c.label.clone(),
                from: c.from.clone(),
                service: c.service.clone(),
                gateway: c.via.clone(),
                channel: channel.clone(),
                contour: (c.contour == "test").then(|| "test".to_string()),
                operation: if channel == "async" {
                    "sendMessage"
                } else {
                    "SendMessage"
                }
                .into(),
                message_id: c.label.clone(),
                subject: c.subject.clone(),
                sent: *sent,
                outcome: outcome.into(),
                status,
                error_code: code,
                error,
            }),
        });
    }
    for (at, r) in received {
        seen.push(Seen {
            at,
            probe: format!("{}:{}", r.endpoint, r.system),
            subject: Subject {
                kind: SubjectKind::Service,
                id: r.service.clone(),
            },
            event: Event::BusReceived(r),
        });
    }
    seen.sort_by_key(|s| s.at);
    seen
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_harness_reads_faults_and_answers_with_its_own_parser() {
        let fault = format!(
            "<s:Envelope xmlns:s=\"{SOAP_ENV}\"><s:Body><s:Fault><faultcode>s:Client</faultcode><detail><t:X xmlns:t=\"urn:t\"><errorCode>SHEP-202</errorCode><errorMessage>no &amp; access</errorMessage></t:X></detail></s:Fault></s:Body></s:Envelope>"
        );
        let r = read_soap(fault.as_bytes()).unwrap();
        assert!(r.is_fault());
        assert_eq!(r.error_code.as_deref(), Some("SHEP-202"));
        let req = request(
            "sync",
            "m-1",
            "fund",
            "S&1",
            "2025-03-18T05:00:00Z".parse().unwrap(),
            Some("900101300123"),
        );
        let r = read_soap(req.as_bytes()).unwrap();
        assert_eq!(
            r.body_element,
            Some((SYNC_TYPES.to_string(), "SendMessage".to_string()))
        );
        assert_eq!(r.fields["serviceId"], "S&1");
        assert_eq!(r.fields["value"], "900101300123");
        assert!(!r.is_fault());
        assert!(read_soap(b"<a>").is_none());
        assert!(read_soap(b"<a/>").is_none(), "no Body");
    }
}
