//! The bus over HTTP (hyper): its two channels and their WSDLs for callers, and a pooled
//! HTTP client to providers and receivers. The same code serves a simulated episode
//! (turmoil's sockets) and a real process (tokio's), through [`Dialer`].

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::bus::{ASYNC_PATH, Answer, Bus, Gateway, Outbound, SYNC_PATH, Shared, TIMED_OUT};
use crate::contract::MAX_BODY;
use crate::errors::{ErrorCode, ErrorInfo};

/// The largest request head.
const MAX_HEAD: usize = 64 * 1024;

/// How the bus opens a connection to `host:port`.
pub trait Dialer: 'static {
    type Io: AsyncRead + AsyncWrite + Unpin + 'static;
    fn dial(&self, authority: &str) -> Pin<Box<dyn Future<Output = std::io::Result<Self::Io>>>>;
}

/// Real TCP.
pub struct TcpDialer;

impl Dialer for TcpDialer {
    type Io = tokio::net::TcpStream;
    fn dial(&self, authority: &str) -> Pin<Box<dyn Future<Output = std::io::Result<Self::Io>>>> {
        let a = authority.to_string();
        Box::pin(async move {
            let s = tokio::net::TcpStream::connect(a).await?;
            s.set_nodelay(true)?;
            Ok(s)
        })
    }
}

/// The simulation's TCP (turmoil).
pub struct SimDialer;

impl Dialer for SimDialer {
    type Io = turmoil::net::TcpStream;
    fn dial(&self, authority: &str) -> Pin<Box<dyn Future<Output = std::io::Result<Self::Io>>>> {
        let a = authority.to_string();
        Box::pin(async move { turmoil::net::TcpStream::connect(a).await })
    }
}

/// `http://authority/path` → (authority, path).
pub fn split_url(url: &str) -> Result<(String, String), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("`{url}` is not an http:// URL"))?;
    let (auth, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if auth.is_empty() {
        return Err(format!("`{url}` names no host"));
    }
    let auth = if auth.contains(':') && !auth.ends_with(']') {
        auth.to_string()
    } else {
        format!("{auth}:80")
    };
    Ok((auth, path.to_string()))
}

/// The bus's outbound HTTP side: one pool of idle connections per endpoint.
pub struct HttpOut<D: Dialer> {
    dialer: D,
    idle: RefCell<BTreeMap<String, Vec<SendRequest<Full<Bytes>>>>>,
    me: Weak<HttpOut<D>>,
}

impl<D: Dialer> HttpOut<D> {
    pub fn new(dialer: D) -> Rc<HttpOut<D>> {
        Rc::new_cyclic(|me| HttpOut {
            dialer,
            idle: RefCell::new(BTreeMap::new()),
            me: me.clone(),
        })
    }

    async fn exchange(&self, url: &str, body: String) -> Result<(u16, Vec<u8>), String> {
        let (auth, path) = split_url(url)?;
        let pooled = {
            let mut idle = self.idle.borrow_mut();
            let list = idle.entry(auth.clone()).or_default();
            let mut found = None;
            while let Some(s) = list.pop() {
                if !s.is_closed() {
                    found = Some(s);
                    break;
                }
            }
            found
        };
        let mut sender = match pooled {
            Some(s) => s,
            None => {
                let io = self
                    .dialer
                    .dial(&auth)
                    .await
                    .map_err(|e| format!("connecting to {auth}: {e}"))?;
                let (s, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
                    .await
                    .map_err(|e| format!("HTTP with {auth}: {e}"))?;
                tokio::task::spawn_local(async move {
                    let _ = conn.await;
                });
                s
            }
        };
        sender
            .ready()
            .await
            .map_err(|e| format!("HTTP with {auth}: {e}"))?;
        let req = Request::post(path)
            .header("host", auth.as_str())
            .header("content-type", "text/xml; charset=utf-8")
            .header("soapaction", "\"\"")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| format!("HTTP with {auth}: {e}"))?;
        let status = resp.status().as_u16();
        let body = Limited::new(resp.into_body(), MAX_BODY)
            .collect()
            .await
            .map_err(|e| format!("reading the answer of {auth}: {e}"))?
            .to_bytes()
            .to_vec();
        if !sender.is_closed() {
            self.idle.borrow_mut().entry(auth).or_default().push(sender);
        }
        Ok((status, body))
    }
}

impl<D: Dialer> Outbound for HttpOut<D> {
    fn post(
        &self,
        url: &str,
        body: String,
        timeout: Duration,
    ) -> Pin<Box<dyn Future<Output = Result<(u16, Vec<u8>), String>> + '_>> {
        let url = url.to_string();
        Box::pin(async move {
            match tokio::time::timeout(timeout, self.exchange(&url, body)).await {
                Ok(r) => r,
                Err(_) => Err(TIMED_OUT.to_string()),
            }
        })
    }

    fn spawn(&self, f: Pin<Box<dyn Future<Output = ()> + 'static>>) {
        tokio::task::spawn_local(f);
    }

    fn handle(&self) -> Rc<dyn Outbound> {
        self.me
            .upgrade()
            .expect("the outbound side is alive while used")
    }
}

fn reply(a: Answer, close: bool) -> Response<Full<Bytes>> {
    let mut r = Response::builder()
        .status(a.status)
        .header("content-type", "text/xml; charset=utf-8");
    if close {
        r = r.header("connection", "close");
    }
    r.body(Full::new(Bytes::from(a.body)))
        .expect("a valid response")
}

/// Why a request's connection is closed instead of answered.
#[derive(Debug)]
struct Abandon(&'static str);

impl std::fmt::Display for Abandon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for Abandon {}

async fn answer(
    bus: &Bus,
    out: &dyn Outbound,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Abandon> {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let channel = path.trim_end_matches('/');
    let host = parts
        .headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost")
        .to_string();
    let wants_wsdl = parts
        .uri
        .query()
        .is_some_and(|q| q.split('&').any(|p| p.eq_ignore_ascii_case("wsdl")));
    if parts.method == hyper::Method::GET && wants_wsdl {
        return Ok(match bus.wsdl(channel, &host) {
            Some(w) => reply(Answer { status: 200, body: w }, false),
            None => reply(
                bus.fault(
                    channel,
                    None,
                    ErrorInfo::new(
                        ErrorCode::BadRequest,
                        format!("no channel at {path}: WSDLs are at {SYNC_PATH}?wsdl and {ASYNC_PATH}?wsdl"),
                    ),
                ),
                false,
            ),
        });
    }
    // The test contour serves the same channels under its prefix (eint-app7-5.5).
    let production = channel
        .strip_prefix(crate::bus::TEST_PREFIX)
        .filter(|c| c.starts_with('/'))
        .unwrap_or(channel);
    if parts.method != hyper::Method::POST || (production != SYNC_PATH && production != ASYNC_PATH)
    {
        let mut a = bus.fault(
            channel,
            None,
            ErrorInfo::new(
                ErrorCode::BadRequest,
                format!(
                    "{} {path}: the bus takes SOAP calls by POST at {SYNC_PATH} and {ASYNC_PATH} (the test contour under {}), and WSDLs by GET with ?wsdl",
                    parts.method,
                    crate::bus::TEST_PREFIX
                ),
            ),
        );
        a.status = if parts.method == hyper::Method::POST {
            404
        } else {
            405
        };
        return Ok(reply(a, false));
    }
    let declared = parts
        .headers
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let too_large = || {
        ErrorInfo::new(
            ErrorCode::TooLarge,
            format!("the body is larger than the {MAX_BODY} bytes the bus accepts"),
        )
    };
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        let mut a = bus.fault(channel, None, too_large());
        a.status = 413;
        return Ok(reply(a, true));
    }
    let body = match tokio::time::timeout(
        bus.shared.settings.body_timeout,
        Limited::new(body, MAX_BODY).collect(),
    )
    .await
    {
        Ok(Ok(b)) => b.to_bytes(),
        Ok(Err(e)) => {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                let mut a = bus.fault(channel, None, too_large());
                a.status = 413;
                return Ok(reply(a, true));
            }
            return Err(Abandon("the request body broke off"));
        }
        Err(_) => return Err(Abandon("the request body did not arrive in time")),
    };
    Ok(reply(bus.call(channel, &body, out).await, false))
}

/// Serves one caller's connection.
pub async fn serve_connection<IO>(io: IO, bus: Rc<Bus>, out: Rc<dyn Outbound>)
where
    IO: AsyncRead + AsyncWrite + Unpin + 'static,
{
    let head_timeout = bus.shared.settings.head_timeout;
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let bus = bus.clone();
        let out = out.clone();
        async move { answer(&bus, &*out, req).await }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(head_timeout)
        .max_buf_size(MAX_HEAD)
        .keep_alive(true)
        .serve_connection(TokioIo::new(io), service)
        .await;
}

/// The bus as a real process: `threads` threads accept on `listener`, each with its own
/// runtime and provider connections, all sharing the registry and the asynchronous store.
/// Returns when a thread's listener fails.
pub fn serve_tcp(
    shared: Arc<Shared>,
    gateway: Gateway,
    listener: std::net::TcpListener,
    threads: usize,
) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    let mut handles = Vec::new();
    for _ in 0..threads.max(1) {
        let l = listener.try_clone()?;
        let shared = shared.clone();
        handles.push(std::thread::spawn(move || -> std::io::Result<()> {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let local = tokio::task::LocalSet::new();
            local.block_on(&rt, async move {
                let l = tokio::net::TcpListener::from_std(l)?;
                let bus = Rc::new(Bus::new(shared, gateway));
                let out: Rc<dyn Outbound> = HttpOut::new(TcpDialer);
                loop {
                    let (s, _) = l.accept().await?;
                    let _ = s.set_nodelay(true);
                    tokio::task::spawn_local(serve_connection(s, bus.clone(), out.clone()));
                }
            })
        }));
    }
    for h in handles {
        match h.join() {
            Ok(r) => r?,
            Err(_) => return Err(std::io::Error::other("a serving thread panicked")),
        }
    }
    Ok(())
}
