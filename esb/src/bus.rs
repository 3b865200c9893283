//! The bus itself: the registry it routes by, the synchronous relay to providers, the
//! asynchronous store with pull and push delivery, and the answers it gives.
//!
//! One `Bus` serves one gateway (ЭҮШ, the inner one, or ЭҮСШ, the external one); both gateways
//! of a deployment share the registry and the asynchronous store (`Shared`).

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;
use rand::RngCore;

use crate::contract::{
    self, ASYNC_TYPES, AsyncMessage, DeliveryNotification, GetMessageStatus, GetMessages,
    MessageState, MessageType, ReceiveStatus, SYNC_TYPES, SyncRequest, SyncResponse,
};
use crate::errors::{ErrorCode, ErrorInfo};
use crate::xml::escape;

/// Which gateway an endpoint is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Gateway {
    /// ЭҮШ: the bus between systems inside the state bodies' transport environment.
    Inner,
    /// ЭҮСШ: the external gateway, the only way in for systems outside it.
    External,
}

impl Gateway {
    pub fn as_str(self) -> &'static str {
        match self {
            Gateway::Inner => "inner",
            Gateway::External => "external",
        }
    }
}

/// Where a system sits, as its application registered it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Placement {
    /// The inner-circuit LAN, inside the state bodies' unified transport environment.
    #[default]
    Inner,
    /// The dedicated outer-circuit segment of systems that interact over the Internet.
    Outer,
    /// On the Internet.
    Internet,
}

impl Placement {
    pub fn parse(s: &str) -> Option<Placement> {
        match s {
            "inner" => Some(Placement::Inner),
            "outer" => Some(Placement::Outer),
            "internet" => Some(Placement::Internet),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Placement::Inner => "inner",
            Placement::Outer => "outer",
            Placement::Internet => "internet",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Sync,
    Async,
}

/// A system known to the bus: an owner's or an initiator's information system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemEntry {
    pub id: String,
    /// A state body's system (false: a non-state one, which reaches state services only
    /// through ЭҮСШ, eint-4).
    pub state: bool,
    /// The system's push interface (AsyncChannel Client), `http://host:port/path`.
    pub push: Option<String>,
    /// Where the system sits (ureq-139.10, 139.11).
    pub placement: Placement,
    /// From this instant every interaction of the system is suspended (eint-65, app7-5.7).
    pub suspended_from: Option<Timestamp>,
    /// The system's registered transport certificate (DER): the only one its messages may be
    /// signed with.
    pub certificate: Option<Vec<u8>>,
}

/// A service passport, as far as routing needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceEntry {
    pub id: String,
    /// The owner's system id.
    pub owner: String,
    /// The provider's endpoint, `http://host:port/path`.
    pub provider: String,
    /// The provider's test-environment endpoint, which the test contour relays to (the
    /// production one when the passport names none).
    pub provider_test: Option<String>,
    pub mode: Mode,
    /// Published on ЭҮШ.
    pub inner: bool,
    /// Published on ЭҮСШ.
    pub external: bool,
    pub personal_data: bool,
    pub route_key: Option<String>,
    /// Routable from (the passport's publication) and until (its removal).
    pub from: Option<Timestamp>,
    pub until: Option<Timestamp>,
}

/// An initiator's access to a service: on the test contour from `test_from` (its connection
/// application accepted, eint-33), in production from `from` (its grant, eint-45), both
/// until `until` (its disconnection).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub initiator: String,
    pub service: String,
    pub from: Option<Timestamp>,
    pub until: Option<Timestamp>,
    pub test_from: Option<Timestamp>,
}

fn within(now: Timestamp, from: Option<Timestamp>, until: Option<Timestamp>) -> bool {
    from.is_none_or(|f| f <= now) && until.is_none_or(|u| now < u)
}

/// What the bus routes by.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Registry {
    pub systems: BTreeMap<String, SystemEntry>,
    pub services: BTreeMap<String, ServiceEntry>,
    pub connections: Vec<Connection>,
    /// The state service for access control to personal data (eint-app7-6.5), `http://…`:
    /// asked before a personal-data service is called.
    pub consent: Option<String>,
}

impl Registry {
    fn system(&self, id: &str) -> Result<&SystemEntry, ErrorInfo> {
        self.systems.get(id).ok_or_else(|| {
            ErrorInfo::new(
                ErrorCode::SenderUnknown,
                format!("sender.senderId `{id}` is not a system registered on the bus"),
            )
        })
    }

    fn suspended(&self, id: &str, now: Timestamp) -> bool {
        self.systems
            .get(id)
            .and_then(|s| s.suspended_from)
            .is_some_and(|t| t <= now)
    }

    /// The service `id` if routable now: in production from its publication, on the test
    /// contour from the start (a service is tested before its passport is published).
    fn service(&self, id: &str, now: Timestamp, test: bool) -> Result<&ServiceEntry, ErrorInfo> {
        self.services
            .get(id)
            .filter(|s| within(now, if test { None } else { s.from }, s.until))
            .ok_or_else(|| {
                ErrorInfo::new(
                    ErrorCode::ServiceNotFound,
                    format!("serviceId `{id}` is not a service of the registry"),
                )
            })
    }

    /// Whether `initiator` may call `service` now, in production or on the test contour. A
    /// connection exists only where one was applied for (eint-33): no record, no access.
    fn connected(
        &self,
        initiator: &str,
        service: &str,
        now: Timestamp,
        test: bool,
        defects: &Settings,
    ) -> bool {
        let mut records = self
            .connections
            .iter()
            .filter(|c| c.initiator == initiator && c.service == service)
            .peekable();
        if records.peek().is_none() {
            return defects.has("bus-routes-unconnected");
        }
        records.any(|c| {
            if test {
                within(now, c.test_from.min(c.from), c.until)
            } else {
                within(now, c.from, c.until)
            }
        })
    }
}

/// The bus's configuration beyond its registry.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How long the bus waits for a synchronous provider: below the minute in which it must
    /// answer (eint-app7-5.3), so that a slow provider still gets its caller a fault in time.
    pub provider_timeout: Duration,
    /// Push delivery: attempts and the wait before each retry.
    pub push_attempts: u32,
    pub push_backoff: Duration,
    /// The most asynchronous messages the store keeps; the oldest settled ones go first.
    pub store_limit: usize,
    /// How long a caller may take to send its request head, and its whole body: a request
    /// that never finishes has its connection closed then.
    pub head_timeout: Duration,
    pub body_timeout: Duration,
    /// An announced technological break: until then every call gets a Maintenance fault.
    pub maintenance_until: Option<Timestamp>,
    /// The root transport certificates must chain to: with one, every message must carry the
    /// sender's WS-Security signature (`crate::wssec`); without, signatures are not required.
    pub trust: Option<Arc<crate::wssec::Trust>>,
    pub defects: Vec<&'static str>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            provider_timeout: Duration::from_secs(50),
            push_attempts: 3,
            push_backoff: Duration::from_secs(5),
            store_limit: 100_000,
            head_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            maintenance_until: None,
            trust: None,
            defects: Vec::new(),
        }
    }
}

impl Settings {
    pub fn has(&self, defect: &str) -> bool {
        self.defects.contains(&defect)
    }
}

/// One asynchronous message in the store.
#[derive(Debug, Clone)]
pub struct Stored {
    pub message: AsyncMessage,
    pub receiver: String,
    pub state: MessageState,
    pub state_date: Timestamp,
}

/// A chain of asynchronous messages: who started it and for which service.
#[derive(Debug, Clone)]
struct Chain {
    initiator: String,
    owner: String,
}

#[derive(Default)]
struct Store {
    messages: BTreeMap<String, Stored>,
    order: VecDeque<String>,
    chains: BTreeMap<String, Chain>,
}

/// What both gateways of one deployment share.
pub struct Shared {
    pub registry: Mutex<Registry>,
    store: Mutex<Store>,
    rng: Mutex<rand_chacha::ChaCha8Rng>,
    pub settings: Settings,
    /// The bus's clock: the simulation's in an episode, the wall clock in a real process.
    pub clock: Arc<dyn Fn() -> Timestamp + Send + Sync>,
}

impl Shared {
    pub fn new(
        registry: Registry,
        settings: Settings,
        seed: u64,
        clock: Arc<dyn Fn() -> Timestamp + Send + Sync>,
    ) -> Arc<Shared> {
        use rand::SeedableRng;
        Arc::new(Shared {
            registry: Mutex::new(registry),
            store: Mutex::new(Store::default()),
            rng: Mutex::new(rand_chacha::ChaCha8Rng::seed_from_u64(seed)),
            settings,
            clock,
        })
    }

    /// A fresh GUID (version 4 layout) from the bus's seeded randomness.
    pub fn guid(&self) -> String {
        let mut b = [0u8; 16];
        self.rng.lock().expect("rng").fill_bytes(&mut b);
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        let h: Vec<String> = b.iter().map(|x| format!("{x:02x}")).collect();
        format!(
            "{}-{}-{}-{}-{}",
            h[0..4].concat(),
            h[4..6].concat(),
            h[6..8].concat(),
            h[8..10].concat(),
            h[10..16].concat()
        )
    }

    pub fn now(&self) -> Timestamp {
        (self.clock)()
    }

    /// The state of a stored message (tests, the operator's console).
    pub fn message_state(&self, id: &str) -> Option<MessageState> {
        self.store
            .lock()
            .expect("store")
            .messages
            .get(id)
            .map(|m| m.state)
    }
}

/// What the HTTP layer sends back: status and SOAP text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub body: String,
}

/// A provider's or a receiver's endpoint, as the bus reaches it.
pub trait Outbound {
    /// POSTs a SOAP envelope to `url`; returns the HTTP status and body, or why none came.
    fn post(
        &self,
        url: &str,
        body: String,
        timeout: Duration,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<(u16, Vec<u8>), String>> + '_>>;
    /// Runs `f` in the background of the bus's runtime.
    fn spawn(&self, f: std::pin::Pin<Box<dyn Future<Output = ()> + 'static>>);
    /// An owned handle to the same outbound side, for work that outlives the call.
    fn handle(&self) -> std::rc::Rc<dyn Outbound>;
}

/// The endpoint of one gateway: its paths and its answers.
pub struct Bus {
    pub shared: Arc<Shared>,
    pub gateway: Gateway,
    /// The test contour (eint-app7-5.5): the same channels under [`TEST_PREFIX`], for
    /// services in testing and initiators whose connection is being tested; relayed to the
    /// providers' test endpoints.
    test: bool,
}

pub const SYNC_PATH: &str = "/SyncChannel/v10";
pub const ASYNC_PATH: &str = "/AsyncChannel/v10";
/// The path prefix of the test contour: `/test/SyncChannel/v10`, `/test/AsyncChannel/v10`.
pub const TEST_PREFIX: &str = "/test";

fn stamp(e: &mut ErrorInfo, now: Timestamp, session: Option<&str>) {
    if e.date.is_empty() {
        e.date = now.to_string();
    }
    if e.session_id.is_none() {
        e.session_id = session.map(str::to_string);
    }
}

impl Bus {
    pub fn new(shared: Arc<Shared>, gateway: Gateway) -> Bus {
        Bus {
            shared,
            gateway,
            test: false,
        }
    }

    /// The WSDL of the channel at `path`, its address on `host`.
    pub fn wsdl(&self, path: &str, host: &str) -> Option<String> {
        let location = format!("http://{host}{path}");
        match path.strip_prefix(TEST_PREFIX).unwrap_or(path) {
            SYNC_PATH => Some(crate::wsdl::sync_wsdl(&location)),
            ASYNC_PATH => Some(crate::wsdl::async_wsdl(&location)),
            _ => None,
        }
    }

    /// A fault answer on the channel at `path` for the operation `op` (best known).
    pub fn fault(&self, path: &str, op: Option<&str>, mut e: ErrorInfo) -> Answer {
        stamp(&mut e, self.shared.now(), None);
        let path = path
            .strip_prefix(TEST_PREFIX)
            .filter(|p| p.starts_with('/'))
            .unwrap_or(path);
        let body = if path == ASYNC_PATH {
            let op = op.unwrap_or("sendMessage");
            contract::fault_envelope(ASYNC_TYPES, &format!("{op}Fault1_{op}Fault"), &e)
        } else {
            contract::fault_envelope(SYNC_TYPES, "SendMessageFault1_SendMessageFault", &e)
        };
        Answer { status: 500, body }
    }

    /// Answers one SOAP call on `path`.
    pub async fn call(&self, path: &str, body: &[u8], out: &dyn Outbound) -> Answer {
        if !self.test
            && let Some(channel) = path.strip_prefix(TEST_PREFIX)
            && channel.starts_with('/')
        {
            let test = Bus {
                shared: self.shared.clone(),
                gateway: self.gateway,
                test: true,
            };
            return Box::pin(test.call(channel, body, out)).await;
        }
        let env = match contract::read_envelope(body) {
            Ok(e) => e,
            Err(e) => return self.fault(path, None, e),
        };
        let op = match env.operation() {
            Ok(op) => op,
            Err(e) => return self.fault(path, None, e),
        };
        match path {
            SYNC_PATH => {
                if !op.is(SYNC_TYPES, "SendMessage") {
                    return self.fault(path, None, unknown_op(op, SYNC_TYPES, &["SendMessage"]));
                }
                if let Err(e) = self.authenticated(&env, body, op) {
                    return self.fault(path, None, e);
                }
                match SyncRequest::read(op, body) {
                    Ok(r) => self.send_sync(r, out).await,
                    Err(e) => self.fault(path, None, e),
                }
            }
            ASYNC_PATH => {
                let ops = [
                    "sendMessage",
                    "getMessages",
                    "getMessageStatus",
                    "sendDeliveryNotification",
                ];
                let name = op.name.as_str();
                if op.ns.as_deref() != Some(ASYNC_TYPES) || !ops.contains(&name) {
                    return self.fault(path, None, unknown_op(op, ASYNC_TYPES, &ops));
                }
                if let Err(e) = self.authenticated(&env, body, op) {
                    return self.fault(path, Some(name), e);
                }
                let r = match name {
                    "sendMessage" => match AsyncMessage::read(op, body) {
                        Ok(m) => self.send_async(m, out).await,
                        Err(e) => Err(e),
                    },
                    "getMessages" => GetMessages::read(op).and_then(|g| self.get_messages(g)),
                    "getMessageStatus" => {
                        GetMessageStatus::read(op).and_then(|g| self.get_status(g))
                    }
                    _ => DeliveryNotification::read(op).and_then(|n| self.delivery(n, out)),
                };
                match r {
                    Ok(xml) => Answer {
                        status: 200,
                        body: contract::envelope(&format!(
                            "<typ:{name}Response xmlns:typ=\"{ASYNC_TYPES}\">{xml}</typ:{name}Response>"
                        )),
                    },
                    Err(e) => self.fault(path, Some(name), e),
                }
            }
            _ => self.fault(
                path,
                None,
                ErrorInfo::new(
                    ErrorCode::BadRequest,
                    format!("no channel at {path}: the bus serves {SYNC_PATH} and {ASYNC_PATH}"),
                ),
            ),
        }
    }

    /// Sender authentication (`crate::wssec`), when the bus has a root to trust. A sender the
    /// registry does not know is left to routing (`SenderUnknown`), a missing `senderId` to the
    /// field checks.
    fn authenticated(
        &self,
        env: &contract::Envelope,
        body: &[u8],
        op: &crate::xml::Element,
    ) -> Result<(), ErrorInfo> {
        let Some(trust) = &self.shared.settings.trust else {
            return Ok(());
        };
        let Some(sender) = crate::wssec::sender_of(op) else {
            return Ok(());
        };
        let registered = {
            let reg = self.shared.registry.lock().expect("registry");
            match reg.systems.get(&sender) {
                None => return Ok(()),
                Some(s) => s.certificate.clone(),
            }
        };
        crate::wssec::authenticate(
            env,
            body,
            &sender,
            registered.as_deref(),
            trust,
            self.shared.now(),
            &self.shared.settings,
        )
    }

    /// The checks every call passes before the bus carries it: the sender is known and not
    /// suspended, came through the right gateway, and the service is routable for it.
    fn route(&self, sender: &str, service: &str, mode: Mode) -> Result<ServiceEntry, ErrorInfo> {
        let now = self.shared.now();
        if self.test && self.shared.settings.has("bus-test-contour-down") {
            return Err(ErrorInfo::new(
                ErrorCode::Maintenance,
                "the test contour is not available",
            ));
        }
        if let Some(until) = self.shared.settings.maintenance_until
            && now < until
        {
            return Err(ErrorInfo::new(
                ErrorCode::Maintenance,
                format!("the bus is in an announced technological break until {until}"),
            ));
        }
        let reg = self.shared.registry.lock().expect("registry");
        let sys = reg.system(sender)?;
        if reg.suspended(sender, now) {
            return Err(ErrorInfo::new(
                ErrorCode::SystemSuspended,
                format!("the interactions of system `{sender}` are suspended"),
            ));
        }
        crate::external::admits(self.gateway, sys)?;
        let svc = reg.service(service, now, self.test)?;
        if reg.suspended(&svc.owner, now) {
            return Err(ErrorInfo::new(
                ErrorCode::SystemSuspended,
                format!("the owner system of `{service}` is suspended"),
            ));
        }
        let here = match self.gateway {
            Gateway::Inner => svc.inner,
            Gateway::External => svc.external,
        };
        if !here {
            return Err(ErrorInfo::new(
                ErrorCode::NotPublishedHere,
                format!(
                    "`{service}` is not published on the {} gateway",
                    self.gateway.as_str()
                ),
            ));
        }
        if svc.mode != mode {
            return Err(ErrorInfo::new(
                ErrorCode::WrongChannel,
                format!(
                    "`{service}` is an {} service",
                    if svc.mode == Mode::Sync {
                        "synchronous"
                    } else {
                        "asynchronous"
                    }
                ),
            ));
        }
        if !reg.connected(sender, service, now, self.test, &self.shared.settings) {
            return Err(ErrorInfo::new(
                ErrorCode::AccessDenied,
                format!(
                    "`{sender}` has no {} access to `{service}`",
                    if self.test { "test" } else { "production" }
                ),
            ));
        }
        Ok(svc.clone())
    }

    /// eint-app7-6.5: a personal-data service is called only with the subject's consent,
    /// which the state service for access control to personal data confirms. The subject is
    /// the `subject` property (the person's IIN), agreed with the bus as properties are.
    async fn consent(
        &self,
        svc: &ServiceEntry,
        sender: &str,
        properties: &[crate::contract::Property],
        out: &dyn Outbound,
    ) -> Result<(), ErrorInfo> {
        if !svc.personal_data || self.shared.settings.has("bus-ignores-consent") {
            return Ok(());
        }
        let Some(subject) = properties
            .iter()
            .find(|p| p.key == "subject" && !p.value.trim().is_empty())
        else {
            return Err(ErrorInfo::new(
                ErrorCode::ConsentRequired,
                format!(
                    "`{}` carries personal data: the call must name its subject (property `subject`, the person's IIN)",
                    svc.id
                ),
            ));
        };
        let url = self
            .shared
            .registry
            .lock()
            .expect("registry")
            .consent
            .clone();
        let Some(url) = url else {
            return Err(ErrorInfo::new(
                ErrorCode::ConsentRequired,
                "no consent service is configured: personal-data services cannot be called",
            ));
        };
        let query = format!(
            "<consentQuery><subject>{}</subject><service>{}</service><initiator>{}</initiator></consentQuery>",
            escape(subject.value.trim()),
            escape(&svc.id),
            escape(sender)
        );
        match out.post(&url, query, Duration::from_secs(10)).await {
            Ok((200, _)) => Ok(()),
            Ok((status, _)) => Err(ErrorInfo::new(
                ErrorCode::ConsentRequired,
                format!(
                    "the consent service has no consent of the subject for `{sender}` to `{}` (HTTP {status})",
                    svc.id
                ),
            )),
            Err(why) => Err(ErrorInfo::new(
                ErrorCode::ConsentRequired,
                format!("the consent service could not confirm consent: {why}"),
            )),
        }
    }

    async fn send_sync(&self, mut r: SyncRequest, out: &dyn Outbound) -> Answer {
        let path = SYNC_PATH;
        if r.info.session_id.is_some() {
            return self.fault(
                path,
                None,
                ErrorInfo::new(
                    ErrorCode::InvalidField,
                    "requestInfo.sessionId is set by the bus: leave it empty",
                ),
            );
        }
        let session = self.shared.guid();
        let fail = |mut e: ErrorInfo| {
            stamp(&mut e, self.shared.now(), Some(&session));
            self.fault(path, None, e)
        };
        let svc = match self.route(&r.info.sender.sender_id, &r.info.service_id, Mode::Sync) {
            Ok(s) => s,
            Err(e) => return fail(e),
        };
        if let Err(e) = self
            .consent(&svc, &r.info.sender.sender_id, &r.info.properties, out)
            .await
        {
            return fail(e);
        }
        r.info.session_id = Some(session.clone());
        let envelope = contract::envelope(&r.write());
        let timeout = if self.shared.settings.has("bus-sync-waits-for-provider") {
            Duration::from_secs(3600)
        } else {
            self.shared.settings.provider_timeout
        };
        let provider = match (&svc.provider_test, self.test) {
            (Some(t), true) => t.as_str(),
            _ => svc.provider.as_str(),
        };
        let (status, body) = match out.post(provider, envelope, timeout).await {
            Ok(x) => x,
            Err(why) if why == TIMED_OUT => {
                return fail(ErrorInfo::new(
                    ErrorCode::ProviderTimeout,
                    format!(
                        "the provider of `{}` did not answer within {} s",
                        svc.id,
                        timeout.as_secs()
                    ),
                ));
            }
            Err(why) => {
                return fail(ErrorInfo::new(
                    ErrorCode::ProviderUnavailable,
                    format!("the provider of `{}` could not be reached: {why}", svc.id),
                ));
            }
        };
        let provider_fault = |msg: String, sub: Option<ErrorInfo>| {
            let mut e = ErrorInfo::new(ErrorCode::ProviderFault, msg);
            e.sub_error = sub.map(Box::new);
            fail(e)
        };
        let env = match contract::read_envelope(&body) {
            Ok(e) => e,
            Err(e) => {
                return provider_fault(
                    format!(
                        "the provider of `{}` answered HTTP {status} with something that is not a SOAP envelope",
                        svc.id
                    ),
                    Some(e),
                );
            }
        };
        let Ok(op) = env.operation() else {
            return provider_fault(
                format!("the provider of `{}` answered an empty Body", svc.id),
                None,
            );
        };
        if op.is(contract::SOAP_ENV, "Fault") {
            let sub = op
                .child("detail")
                .and_then(|d| d.children.first())
                .map(ErrorInfo::from_element);
            return provider_fault(
                format!(
                    "the provider of `{}` answered with a fault: {}",
                    svc.id,
                    op.text_of("faultstring").unwrap_or_default()
                ),
                sub,
            );
        }
        if !op.is(SYNC_TYPES, "SendMessageResponse") {
            return provider_fault(
                format!(
                    "the provider of `{}` answered {{{}}}{} instead of SendMessageResponse",
                    svc.id,
                    op.ns.as_deref().unwrap_or(""),
                    op.name
                ),
                None,
            );
        }
        let mut resp = match SyncResponse::read(op, &body) {
            Ok(r) => r,
            Err(e) => {
                return provider_fault(
                    format!(
                        "the provider of `{}` answered an incomplete response",
                        svc.id
                    ),
                    Some(e),
                );
            }
        };
        resp.session_id = Some(session);
        Answer {
            status: 200,
            body: contract::envelope(&resp.write()),
        }
    }

    async fn send_async(
        &self,
        mut m: AsyncMessage,
        out: &dyn Outbound,
    ) -> Result<String, ErrorInfo> {
        let p = "messageInfo";
        if m.info.message_id.is_some() {
            return Err(ErrorInfo::new(
                ErrorCode::InvalidField,
                format!("{p}.messageId is set by the bus: leave it empty"),
            ));
        }
        if m.info.session_id.is_some() {
            return Err(ErrorInfo::new(
                ErrorCode::InvalidField,
                format!("{p}.sessionId is set by the bus: leave it empty"),
            ));
        }
        let sender = m.info.sender.sender_id.clone();
        let service = m.info.service_id.clone();
        let (correlation, receiver) = match m.info.message_type {
            MessageType::Request => {
                if m.info.correlation_id.is_some() {
                    return Err(ErrorInfo::new(
                        ErrorCode::InvalidField,
                        format!("{p}.correlationId of a REQUEST is set by the bus: leave it empty"),
                    ));
                }
                let svc = self.route(&sender, &service, Mode::Async)?;
                self.consent(&svc, &sender, &m.info.properties, out).await?;
                (self.shared.guid(), svc.owner)
            }
            t => {
                let Some(c) = m.info.correlation_id.clone() else {
                    return Err(ErrorInfo::new(
                        ErrorCode::MissingField,
                        format!(
                            "{p}.correlationId is required for a {} (the chain's id)",
                            t.as_str()
                        ),
                    ));
                };
                let chain = self
                    .shared
                    .store
                    .lock()
                    .expect("store")
                    .chains
                    .get(&c)
                    .cloned()
                    .ok_or_else(|| {
                        ErrorInfo::new(
                            ErrorCode::MessageNotFound,
                            format!("{p}.correlationId `{c}` names no chain of the bus"),
                        )
                    })?;
                // The owner answers the initiator; the initiator sends updates to the owner.
                let receiver = if sender == chain.owner {
                    self.check_party(&sender, &service)?;
                    chain.initiator.clone()
                } else if sender == chain.initiator {
                    self.route(&sender, &service, Mode::Async)?;
                    chain.owner.clone()
                } else {
                    return Err(ErrorInfo::new(
                        ErrorCode::MessageNotFound,
                        format!("`{sender}` is not a party of chain `{c}`"),
                    ));
                };
                (c, receiver)
            }
        };
        let now = self.shared.now();
        let id = self.shared.guid();
        let session = self.shared.guid();
        m.info.message_id = Some(id.clone());
        m.info.correlation_id = Some(correlation.clone());
        m.info.session_id = Some(session.clone());
        {
            let mut store = self.shared.store.lock().expect("store");
            if m.info.message_type == MessageType::Request {
                store.chains.insert(
                    correlation.clone(),
                    Chain {
                        initiator: sender.clone(),
                        owner: receiver.clone(),
                    },
                );
            }
            store.messages.insert(
                id.clone(),
                Stored {
                    message: m.clone(),
                    receiver: receiver.clone(),
                    state: MessageState::OnDelivery,
                    state_date: now,
                },
            );
            store.order.push_back(id.clone());
            self.prune(&mut store);
        }
        // The push runs on its own: the sender has its answer at once.
        if let Some(f) = self.push_delivery(&id, out) {
            if self.shared.settings.has("bus-async-waits-for-delivery") {
                f.await;
            } else {
                out.spawn(f);
            }
        }
        Ok(format!(
            "<response><messageId>{}</messageId><correlationId>{}</correlationId><responseDate>{}</responseDate><sessionId>{}</sessionId></response>",
            escape(&id),
            escape(&correlation),
            now,
            escape(&session)
        ))
    }

    /// The owner of a service answering in a chain: known, not suspended, its service routable.
    fn check_party(&self, sender: &str, service: &str) -> Result<(), ErrorInfo> {
        let now = self.shared.now();
        let reg = self.shared.registry.lock().expect("registry");
        reg.system(sender)?;
        if reg.suspended(sender, now) {
            return Err(ErrorInfo::new(
                ErrorCode::SystemSuspended,
                format!("the interactions of system `{sender}` are suspended"),
            ));
        }
        reg.service(service, now, self.test)?;
        Ok(())
    }

    fn prune(&self, store: &mut Store) {
        while store.order.len() > self.shared.settings.store_limit {
            let Some(old) = store.order.pop_front() else {
                break;
            };
            store.messages.remove(&old);
        }
    }

    /// Starts push delivery of a stored message when its receiver has a push interface.
    fn push(&self, id: &str, out: &dyn Outbound) {
        if let Some(f) = self.push_delivery(id, out) {
            out.spawn(f);
        }
    }

    /// The push delivery of a stored message, when its receiver has a push interface.
    fn push_delivery(
        &self,
        id: &str,
        out: &dyn Outbound,
    ) -> Option<std::pin::Pin<Box<dyn Future<Output = ()> + 'static>>> {
        let (url, body) = {
            let store = self.shared.store.lock().expect("store");
            let s = store.messages.get(id)?;
            let reg = self.shared.registry.lock().expect("registry");
            let url = reg.systems.get(&s.receiver).and_then(|r| r.push.clone())?;
            let mut xml = format!("<typ:sendMessage xmlns:typ=\"{ASYNC_TYPES}\">");
            s.message.write(&mut xml, "request");
            xml.push_str("</typ:sendMessage>");
            (url, contract::envelope(&xml))
        };
        let shared = self.shared.clone();
        let id = id.to_string();
        let attempts = shared.settings.push_attempts.max(1);
        let backoff = shared.settings.push_backoff;
        let poster = out.handle();
        Some(Box::pin(async move {
            let mut delivered = false;
            for attempt in 0..attempts {
                if attempt > 0 {
                    tokio::time::sleep(backoff * 2u32.pow(attempt - 1)).await;
                }
                if let Ok((200, _)) = poster.post(&url, body.clone(), PUSH_TIMEOUT).await {
                    delivered = true;
                    break;
                }
            }
            let now = shared.now();
            let (state, notify) = {
                let mut store = shared.store.lock().expect("store");
                let Some(s) = store.messages.get_mut(&id) else {
                    return;
                };
                if s.state != MessageState::OnDelivery {
                    return; // pulled, or settled by a notification meanwhile
                }
                s.state = if delivered {
                    MessageState::Delivered
                } else {
                    MessageState::NotDelivered
                };
                s.state_date = now;
                let reg = shared.registry.lock().expect("registry");
                let notify = reg
                    .systems
                    .get(&s.message.info.sender.sender_id)
                    .and_then(|x| x.push.clone());
                (s.state, notify)
            };
            // The sender hears of the outcome on its own push interface, when it has one.
            if let Some(url) = notify {
                let xml = format!(
                    "<typ:changeMassageStatusNotification xmlns:typ=\"{ASYNC_TYPES}\"><request><notificationId>{}</notificationId><messageId>{}</messageId><notificationDate>{now}</notificationDate><messageState>{}</messageState><status><code>{}</code><message>{}</message></status></request></typ:changeMassageStatusNotification>",
                    shared.guid(),
                    escape(&id),
                    state.as_str(),
                    state.as_str(),
                    if delivered {
                        "delivered to the receiver"
                    } else {
                        "the receiver did not take the message"
                    }
                );
                let _ = poster
                    .post(&url, contract::envelope(&xml), PUSH_TIMEOUT)
                    .await;
            }
        }))
    }

    fn get_messages(&self, g: GetMessages) -> Result<String, ErrorInfo> {
        let now = self.shared.now();
        {
            let reg = self.shared.registry.lock().expect("registry");
            reg.system(&g.sender.sender_id)?;
            if reg.suspended(&g.sender.sender_id, now) {
                return Err(ErrorInfo::new(
                    ErrorCode::SystemSuspended,
                    format!(
                        "the interactions of system `{}` are suspended",
                        g.sender.sender_id
                    ),
                ));
            }
        }
        let amount = g.amount.unwrap_or(100).clamp(1, 1000) as usize;
        let mut store = self.shared.store.lock().expect("store");
        let ids: Vec<String> = store
            .order
            .iter()
            .filter(|id| {
                store.messages.get(*id).is_some_and(|s| {
                    s.receiver == g.sender.sender_id
                        && s.message.info.service_id == g.service_id
                        && s.state == MessageState::OnDelivery
                        && g.message_id
                            .as_ref()
                            .is_none_or(|m| s.message.info.message_id.as_ref() == Some(m))
                        && g.correlation_id
                            .as_ref()
                            .is_none_or(|c| s.message.info.correlation_id.as_ref() == Some(c))
                })
            })
            .take(amount)
            .cloned()
            .collect();
        let mut xml = String::from("<response>");
        for id in ids {
            if let Some(s) = store.messages.get_mut(&id) {
                s.message.write(&mut xml, "messages");
                s.state = MessageState::Delivered;
                s.state_date = now;
            }
        }
        xml.push_str("</response>");
        Ok(xml)
    }

    fn get_status(&self, g: GetMessageStatus) -> Result<String, ErrorInfo> {
        let store = self.shared.store.lock().expect("store");
        let s = store
            .messages
            .get(&g.message_id)
            .filter(|s| {
                s.receiver == g.sender.sender_id
                    || s.message.info.sender.sender_id == g.sender.sender_id
            })
            .ok_or_else(|| {
                ErrorInfo::new(
                    ErrorCode::MessageNotFound,
                    format!(
                        "request.messageId `{}` is not a message sent or received by `{}`",
                        g.message_id, g.sender.sender_id
                    ),
                )
            })?;
        Ok(format!(
            "<response><messageId>{}</messageId><messageState>{}</messageState><statusDate>{}</statusDate></response>",
            escape(&g.message_id),
            s.state.as_str(),
            s.state_date
        ))
    }

    fn delivery(&self, n: DeliveryNotification, out: &dyn Outbound) -> Result<String, ErrorInfo> {
        let now = self.shared.now();
        let resend = {
            let mut store = self.shared.store.lock().expect("store");
            let s = store
                .messages
                .get_mut(&n.message_id)
                .filter(|s| {
                    s.receiver == n.sender.sender_id && s.message.info.service_id == n.service_id
                })
                .ok_or_else(|| {
                    ErrorInfo::new(
                        ErrorCode::MessageNotFound,
                        format!(
                            "request.messageId `{}` of `{}` is not a message received by `{}`",
                            n.message_id, n.service_id, n.sender.sender_id
                        ),
                    )
                })?;
            s.state = match (n.receive_status, n.resend) {
                (ReceiveStatus::Accepted, _) => MessageState::Delivered,
                (ReceiveStatus::NotAccepted, true) => MessageState::OnDelivery,
                (ReceiveStatus::NotAccepted, false) => MessageState::NotDelivered,
            };
            s.state_date = now;
            s.state == MessageState::OnDelivery
        };
        if resend {
            self.push(&n.message_id, out);
        }
        Ok(format!(
            "<response><messageId>{}</messageId></response>",
            escape(&n.message_id)
        ))
    }
}

/// What a timed-out post says, so the bus can tell a slow provider from an absent one.
pub const TIMED_OUT: &str = "timed out";

/// How long a push waits for the receiver's answer.
const PUSH_TIMEOUT: Duration = Duration::from_secs(30);

fn unknown_op(op: &crate::xml::Element, ns: &str, ops: &[&str]) -> ErrorInfo {
    ErrorInfo::new(
        ErrorCode::UnknownOperation,
        format!(
            "the Body holds {{{}}}{}; this channel's operations are {} in namespace {ns}",
            op.ns.as_deref().unwrap_or(""),
            op.name,
            ops.join(", ")
        ),
    )
}
