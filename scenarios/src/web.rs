//! The harness's HTTP side: a client that sends a request's exact bytes (go-ftw tests break
//! HTTP on purpose, so no library may tidy them) and reads whatever comes back, and an origin
//! server that plays a User's web resource and records every request it receives.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::ftw::Answer;

/// The most of a response the client reads: enough for any page the suite serves.
const MAX_RESPONSE: usize = 4 * 1024 * 1024;

/// Sends `request` as it is and reads one response. Each read waits at most `read_timeout`.
pub async fn exchange<S>(mut stream: S, request: &[u8], read_timeout: Duration) -> Answer
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    if let Err(e) = stream.write_all(request).await {
        return Answer::NoResponse(format!("sending failed: {e}"));
    }
    let _ = stream.flush().await;
    let head_only = request.starts_with(b"HEAD ");
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 16 * 1024];
    // The head.
    let head_end = loop {
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > 256 * 1024 {
            return Answer::NoResponse("the response head never ended".into());
        }
        match tokio::time::timeout(read_timeout, stream.read(&mut chunk)).await {
            Err(_) => return Answer::NoResponse("timed out waiting for a response".into()),
            Ok(Err(e)) => return Answer::NoResponse(format!("connection error: {e}")),
            Ok(Ok(0)) => {
                return Answer::NoResponse(if buf.is_empty() {
                    "the connection was closed without a response".into()
                } else {
                    "the connection was closed inside the response head".into()
                });
            }
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let (Some(proto), Some(code)) = (parts.next(), parts.next()) else {
        return Answer::NoResponse(format!("not an HTTP status line: {status_line:?}"));
    };
    let Some(status) = code
        .parse::<u16>()
        .ok()
        .filter(|_| proto.starts_with("HTTP/"))
    else {
        return Answer::NoResponse(format!("not an HTTP status line: {status_line:?}"));
    };
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let get = |k: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.to_ascii_lowercase())
    };
    let mut body = buf[head_end..].to_vec();
    let no_body = head_only || status < 200 || status == 204 || status == 304;
    if !no_body {
        let chunked = get("transfer-encoding").is_some_and(|v| v.contains("chunked"));
        let length = get("content-length").and_then(|v| v.parse::<usize>().ok());
        loop {
            let done = if chunked {
                dechunk(&body).is_some()
            } else if let Some(n) = length {
                body.len() >= n
            } else {
                false
            };
            if done || body.len() > MAX_RESPONSE {
                break;
            }
            match tokio::time::timeout(read_timeout, stream.read(&mut chunk)).await {
                Ok(Ok(n)) if n > 0 => body.extend_from_slice(&chunk[..n]),
                // Closed or quiet: the body is what arrived (a close-delimited body ends so).
                _ => break,
            }
        }
        if chunked {
            body = dechunk(&body).unwrap_or(body);
        } else if let Some(n) = length {
            body.truncate(n);
        }
    } else {
        body.clear();
    }
    Answer::Response {
        status,
        headers,
        body,
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A complete chunked body decoded; `None` while incomplete.
fn dechunk(b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        let line_end = i + find(&b[i..], b"\r\n")?;
        let size_text = std::str::from_utf8(&b[i..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        i = line_end + 2;
        if size == 0 {
            return Some(out);
        }
        if b.len() < i + size + 2 {
            return None;
        }
        out.extend_from_slice(&b[i..i + size]);
        i += size + 2;
    }
}

/// A request as the harness's origin received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub method: String,
    /// The request target as received (path and query).
    pub target: String,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }
}

/// The web resource the harness plays: the pages it serves and what it received.
#[derive(Debug, Default)]
pub struct Site {
    /// Path → page body; a path not listed answers 200 with a short fixed page, as an
    /// application answers any query.
    pub pages: BTreeMap<String, Vec<u8>>,
    pub received: Vec<Received>,
    /// When each request arrived (the episode's clock; none outside a simulation).
    pub arrivals: Vec<Duration>,
    pub clock: Option<fn() -> Duration>,
    /// The owner's publications through the content-management system, in order: the path
    /// and the SHA-256 (hex) of what was published.
    pub journal: Vec<(String, String)>,
}

/// The account the owner's editors publish with on the content-management interface.
pub const OWNER_ACCOUNT: &str = "owner";
/// The account the Appendix 4 application grants the STS (its `credentials`).
pub const MONITOR_ACCOUNT: &str = "sts-monitor";

pub fn sha256_hex(b: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

/// Serves one connection to the origin's content-management interface: the access to the
/// root directory a defacement-protection application grants (see
/// `qaqpa_sim::webnet::WebResource::root_access` for the protocol). A write by the owner's
/// account is a publication and goes into the journal; a write by the monitor account (a
/// restore) is not. Other accounts are refused.
pub async fn serve_cms<IO>(io: IO, site: SharedSite)
where
    IO: AsyncRead + AsyncWrite + Unpin + 'static,
{
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let site = site.clone();
        async move { Ok::<_, Infallible>(cms_answer(req, &site).await) }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(io), service)
        .await;
}

async fn cms_answer(req: Request<Incoming>, site: &SharedSite) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes().to_vec())
        .unwrap_or_default();
    let reply = |status: u16, body: Vec<u8>| {
        Response::builder()
            .status(status)
            .header("content-type", "text/plain; charset=utf-8")
            .body(Full::new(Bytes::from(body)))
            .expect("a valid response")
    };
    let account = parts
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_string();
    if account != OWNER_ACCOUNT && account != MONITOR_ACCOUNT {
        return reply(401, b"unknown account\n".to_vec());
    }
    let path = parts.uri.path().to_string();
    let mut s = site.borrow_mut();
    match (parts.method.as_str(), path.as_str()) {
        ("GET", "/content") => {
            let list: String = s.pages.keys().map(|k| format!("{k}\n")).collect();
            reply(200, list.into_bytes())
        }
        ("GET", "/journal") => {
            let list: String = s
                .journal
                .iter()
                .enumerate()
                .map(|(i, (p, d))| format!("{} {p} {d}\n", i + 1))
                .collect();
            reply(200, list.into_bytes())
        }
        ("GET", p) if p.starts_with("/content/") => match s.pages.get(&p["/content".len()..]) {
            Some(b) => reply(200, b.clone()),
            None => reply(404, b"no such page\n".to_vec()),
        },
        ("PUT", p) if p.starts_with("/content/") => {
            let page = p["/content".len()..].to_string();
            if account == OWNER_ACCOUNT {
                s.journal.push((page.clone(), sha256_hex(&body)));
            }
            s.pages.insert(page, body);
            reply(204, Vec::new())
        }
        _ => reply(404, b"no such operation\n".to_vec()),
    }
}

pub type SharedSite = Rc<RefCell<Site>>;

/// Serves one connection to the origin.
pub async fn serve_origin<IO>(io: IO, site: SharedSite)
where
    IO: AsyncRead + AsyncWrite + Unpin + 'static,
{
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let site = site.clone();
        async move { Ok::<_, Infallible>(answer(req, &site).await) }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(io), service)
        .await;
}

async fn answer(req: Request<Incoming>, site: &SharedSite) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes().to_vec())
        .unwrap_or_default();
    let target = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| parts.uri.to_string());
    let received = Received {
        method: parts.method.as_str().to_string(),
        target: target.clone(),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.as_bytes().to_vec()))
            .collect(),
        body,
    };
    let mut s = site.borrow_mut();
    s.received.push(received);
    let now = s.clock.map(|c| c()).unwrap_or_default();
    s.arrivals.push(now);
    let path = target.split('?').next().unwrap_or("/").to_string();
    let page = s
        .pages
        .get(&path)
        .cloned()
        .unwrap_or_else(|| b"<html><body>ok</body></html>\n".to_vec());
    Response::builder()
        .status(200)
        .header("content-type", "text/html; charset=utf-8")
        .body(Full::new(Bytes::from(page)))
        .expect("a valid response")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_bodies_are_decoded_once_complete() {
        assert_eq!(
            dechunk(b"3\r\nabc\r\n0\r\n\r\n").as_deref(),
            Some(&b"abc"[..])
        );
        assert_eq!(dechunk(b"3\r\nab"), None);
    }

    #[test]
    fn only_the_owners_writes_are_journaled_and_strangers_are_refused() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let local = tokio::task::LocalSet::new();
        local.block_on(&rt, async {
            let site: SharedSite = Default::default();
            let put = |account: &str, body: &str| {
                format!(
                    "PUT /content/index.html HTTP/1.1\r\nHost: cms\r\nAuthorization: Bearer {account}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
            };
            let mut statuses = Vec::new();
            for (account, body) in [("owner", "v2"), ("sts-monitor", "v1"), ("intruder", "x")] {
                let (a, b) = tokio::io::duplex(64 * 1024);
                tokio::task::spawn_local(serve_cms(b, site.clone()));
                match exchange(a, put(account, body).as_bytes(), Duration::from_secs(1)).await {
                    Answer::Response { status, .. } => statuses.push(status),
                    other => panic!("{other:?}"),
                }
            }
            assert_eq!(statuses, [204, 204, 401]);
            let s = site.borrow();
            assert_eq!(s.pages["/index.html"], b"v1", "the monitor's restore is in place");
            assert_eq!(
                s.journal,
                [("/index.html".to_string(), sha256_hex(b"v2"))],
                "only the owner's publication is journaled"
            );
        });
    }

    #[test]
    fn the_client_reads_a_response_and_the_origin_records_the_request() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let local = tokio::task::LocalSet::new();
        local.block_on(&rt, async {
            let (a, b) = tokio::io::duplex(64 * 1024);
            let site: SharedSite = Default::default();
            site.borrow_mut()
                .pages
                .insert("/index.html".into(), b"<h1>home</h1>".to_vec());
            tokio::task::spawn_local(serve_origin(b, site.clone()));
            let ans = exchange(
                a,
                b"POST /index.html?x=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc",
                Duration::from_secs(1),
            )
            .await;
            match ans {
                Answer::Response { status, body, .. } => {
                    assert_eq!(status, 200);
                    assert_eq!(body, b"<h1>home</h1>");
                }
                other => panic!("{other:?}"),
            }
            let s = site.borrow();
            assert_eq!(s.received.len(), 1);
            assert_eq!(s.received[0].target, "/index.html?x=1");
            assert_eq!(s.received[0].body, b"abc");
        });
    }
}

// ---- web episodes: Internet clients and User web resources around the target's front ----

pub use episode::{PageChangeSpec, PublicSpec, WebRequestSpec, WebSpec, run_episode};

mod episode {
    use std::collections::BTreeMap;
    use std::rc::Rc;
    use std::time::Duration;

    use jiff::Timestamp;
    use qaqpa_sim::episode::Episode;
    use qaqpa_sim::target::{Target, TargetError};
    use qaqpa_sim::trace::{
        Event, HttpReceived, HttpSent, PageServed, PageWritten, Subject, SubjectKind,
    };
    use qaqpa_sim::webnet::{WebResource, WebWorld};
    use serde::Deserialize;

    use super::{OWNER_ACCOUNT, SharedSite, Site, exchange, serve_cms, serve_origin};
    use crate::ftw::Answer;
    use crate::mail::Seen;

    /// The host the target's front runs as: protected resources' names resolve to it.
    pub const FRONT_HOST: &str = "ugia-front";
    /// Simulated time between two requests of the episode.
    const PACE: Duration = Duration::from_millis(500);

    /// A web episode: Internet clients send requests to User web resources through the
    /// target's protection front.
    #[derive(Debug, Clone, Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "kebab-case")]
    pub struct WebSpec {
        /// The resources (domains) whose origins the harness runs.
        pub resources: Vec<String>,
        #[serde(default)]
        pub requests: Vec<WebRequestSpec>,
        /// The pages of each resource (domain → path → content): its origin serves them and
        /// its content-management interface holds them (ugia-18).
        #[serde(default)]
        pub pages: BTreeMap<String, BTreeMap<String, String>>,
        /// Changes the harness makes to pages during the episode, as the intruder or the
        /// owner.
        #[serde(default)]
        pub changes: Vec<PageChangeSpec>,
        /// The public: it fetches every page of `pages` through the resource's name.
        #[serde(default)]
        pub public: Option<PublicSpec>,
    }

    #[derive(Debug, Clone, Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "kebab-case")]
    pub struct PageChangeSpec {
        /// Seconds after the episode's start.
        pub at_seconds: f64,
        /// `intruder`: the page is changed on the origin directly, not through the owner's
        /// channel. `owner`: the owner publishes it through its declared channel, the
        /// content-management system.
        pub by: String,
        pub resource: String,
        pub page: String,
        pub content: String,
    }

    #[derive(Debug, Clone, Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "kebab-case")]
    pub struct PublicSpec {
        /// Seconds between two rounds of fetches (every page once a round).
        pub every_seconds: f64,
        /// How long the public keeps fetching, in seconds from the episode's start.
        pub for_seconds: f64,
    }

    #[derive(Debug, Clone, Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "kebab-case")]
    pub struct WebRequestSpec {
        pub resource: String,
        /// `attack` or `legitimate`: what the harness knows the request is.
        pub traffic: String,
        pub label: String,
        #[serde(default = "get")]
        pub method: String,
        /// Path and query, sent as written.
        pub target: String,
        /// Extra headers. A value's characters up to U+00FF are sent as single bytes (HTTP's
        /// obs-text), so a scenario can send Latin-1 header values.
        #[serde(default)]
        pub headers: BTreeMap<String, String>,
        #[serde(default)]
        pub body: String,
    }

    fn get() -> String {
        "GET".into()
    }

    impl WebSpec {
        pub fn validate(&self) -> Result<(), String> {
            if self.resources.is_empty() || (self.requests.is_empty() && self.public.is_none()) {
                return Err(
                    "a web step needs `resources`, and `requests` or `public` (or both)".into(),
                );
            }
            for (domain, pages) in &self.pages {
                if !self.resources.contains(domain) {
                    return Err(format!(
                        "pages: resource `{domain}` is not among `resources` ({})",
                        self.resources.join(", ")
                    ));
                }
                for path in pages.keys() {
                    if !path.starts_with('/') || path.contains([' ', '?', '#']) {
                        return Err(format!(
                            "pages of `{domain}`: `{path}` must be a path starting with / (no spaces, query or fragment)"
                        ));
                    }
                }
            }
            if let Some(p) = &self.public {
                if !(p.every_seconds >= 0.1 && p.every_seconds.is_finite()) {
                    return Err(format!(
                        "public: every-seconds {} (expected at least 0.1)",
                        p.every_seconds
                    ));
                }
                if !(p.for_seconds > 0.0 && p.for_seconds <= 3600.0) {
                    return Err(format!(
                        "public: for-seconds {} (expected more than 0, at most 3600)",
                        p.for_seconds
                    ));
                }
                if self.pages.values().all(|p| p.is_empty()) {
                    return Err("public: there are no `pages` to fetch".into());
                }
            }
            for c in &self.changes {
                let Some(p) = &self.public else {
                    return Err(
                        "changes: a change needs `public` to watch what the resource serves".into(),
                    );
                };
                if c.by != "intruder" && c.by != "owner" {
                    return Err(format!(
                        "changes: by `{}` (expected intruder or owner)",
                        c.by
                    ));
                }
                if !self
                    .pages
                    .get(&c.resource)
                    .is_some_and(|p| p.contains_key(&c.page))
                {
                    return Err(format!(
                        "changes: page `{}` of `{}` is not among `pages`",
                        c.page, c.resource
                    ));
                }
                if !(c.at_seconds >= 0.0 && c.at_seconds < p.for_seconds) {
                    return Err(format!(
                        "changes: at-seconds {} of `{}` (expected from 0 to before public's for-seconds {})",
                        c.at_seconds, c.page, p.for_seconds
                    ));
                }
            }
            for r in &self.requests {
                if !self.resources.contains(&r.resource) {
                    return Err(format!(
                        "request `{}` names resource `{}`, which is not among `resources` ({})",
                        r.label,
                        r.resource,
                        self.resources.join(", ")
                    ));
                }
                if r.traffic != "attack" && r.traffic != "legitimate" {
                    return Err(format!(
                        "request `{}`: traffic `{}` (expected attack or legitimate)",
                        r.label, r.traffic
                    ));
                }
                if !r.target.starts_with('/') || r.target.contains(' ') {
                    return Err(format!(
                        "request `{}`: target `{}` must start with / and hold no spaces",
                        r.label, r.target
                    ));
                }
                for (k, v) in &r.headers {
                    if v.chars().any(|c| c as u32 > 0xFF || c == '\r' || c == '\n') {
                        return Err(format!(
                            "request `{}`: header {k} holds a character beyond U+00FF or a line break",
                            r.label
                        ));
                    }
                }
            }
            Ok(())
        }
    }

    fn request_bytes(r: &WebRequestSpec) -> Vec<u8> {
        let mut out = format!(
            "{} {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\nAccept: text/html,application/xhtml+xml\r\n",
            r.method, r.target, r.resource
        )
        .into_bytes();
        for (k, v) in &r.headers {
            out.extend_from_slice(k.as_bytes());
            out.extend_from_slice(b": ");
            out.extend(v.chars().map(|c| c as u32 as u8));
            out.extend_from_slice(b"\r\n");
        }
        if !r.body.is_empty() {
            if !r
                .headers
                .keys()
                .any(|k| k.eq_ignore_ascii_case("content-type"))
            {
                out.extend_from_slice(b"Content-Type: application/x-www-form-urlencoded\r\n");
            }
            out.extend_from_slice(format!("Content-Length: {}\r\n", r.body.len()).as_bytes());
        }
        out.extend_from_slice(b"Connection: close\r\n\r\n");
        out.extend_from_slice(r.body.as_bytes());
        out
    }

    /// Runs the episode and returns what the harness's clients and origins saw.
    pub fn run_episode(
        spec: &WebSpec,
        target: &dyn Target,
        seed: u64,
        start: Timestamp,
        label: &str,
    ) -> Result<Vec<Seen>, TargetError> {
        let front = target.web_front(seed)?;
        let watch = spec
            .public
            .as_ref()
            .map(|p| p.for_seconds.ceil() as u64)
            .unwrap_or(0);
        let seconds = (spec.requests.len() as u64 * PACE.as_millis() as u64 / 1000).max(watch) + 30;
        let mut ep = Episode::new(start, seed, label, Duration::from_secs(seconds));
        // Watching pages for minutes: 10 ms ticks keep the run short; requests alone, 5 ms.
        ep.tick = Duration::from_millis(if spec.public.is_some() { 10 } else { 5 });
        let world = WebWorld {
            front: FRONT_HOST.into(),
            resources: spec
                .resources
                .iter()
                .enumerate()
                .map(|(i, d)| WebResource {
                    domain: d.clone(),
                    origin: format!("origin-{i}:80"),
                    root_access: Some(format!("origin-{i}:{CMS_PORT}")),
                })
                .collect(),
            at: start,
        };
        let mut b = ep.builder();
        b.min_message_latency(Duration::from_millis(1))
            .max_message_latency(Duration::from_millis(5));
        let mut sim = b.build();
        front.install(&mut sim, &world);
        let mut sites: Vec<(String, SharedSite)> = Vec::new();
        for (i, d) in spec.resources.iter().enumerate() {
            let pages = spec
                .pages
                .get(d)
                .map(|p| {
                    p.iter()
                        .map(|(k, v)| (k.clone(), v.as_bytes().to_vec()))
                        .collect()
                })
                .unwrap_or_default();
            let site: SharedSite = Rc::new(std::cell::RefCell::new(Site {
                clock: Some(turmoil::elapsed),
                pages,
                ..Site::default()
            }));
            sites.push((d.clone(), site.clone()));
            sim.host(format!("origin-{i}"), move || {
                let site = site.clone();
                async move {
                    let cms = turmoil::net::TcpListener::bind(("0.0.0.0", CMS_PORT)).await?;
                    let cms_site = site.clone();
                    tokio::task::spawn_local(async move {
                        while let Ok((s, _)) = cms.accept().await {
                            tokio::task::spawn_local(serve_cms(s, cms_site.clone()));
                        }
                    });
                    let l = turmoil::net::TcpListener::bind("0.0.0.0:80").await?;
                    loop {
                        let (s, _) = l.accept().await?;
                        tokio::task::spawn_local(serve_origin(s, site.clone()));
                    }
                }
            });
        }
        let written: Rc<std::cell::RefCell<Vec<(Duration, usize)>>> = Rc::default();
        if !spec.changes.is_empty() {
            let mut changes: Vec<(usize, PageChangeSpec)> =
                spec.changes.iter().cloned().enumerate().collect();
            changes.sort_by(|a, b| a.1.at_seconds.total_cmp(&b.1.at_seconds));
            let written = written.clone();
            let sites = sites.clone();
            let cms_of: BTreeMap<String, String> = spec
                .resources
                .iter()
                .enumerate()
                .map(|(i, d)| (d.clone(), format!("origin-{i}:{CMS_PORT}")))
                .collect();
            sim.client("editors", async move {
                for (n, c) in changes {
                    sleep_until_elapsed(secs(c.at_seconds)).await;
                    if c.by == "intruder" {
                        // On the origin directly: no channel, no journal.
                        if let Some((_, site)) = sites.iter().find(|(d, _)| *d == c.resource) {
                            site.borrow_mut()
                                .pages
                                .insert(c.page.clone(), c.content.as_bytes().to_vec());
                            written.borrow_mut().push((turmoil::elapsed(), n));
                        }
                    } else {
                        let cms = &cms_of[&c.resource];
                        let req = format!(
                            "PUT /content{} HTTP/1.1\r\nHost: {cms}\r\nAuthorization: Bearer {OWNER_ACCOUNT}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
                            c.page,
                            c.content.len(),
                            c.content
                        );
                        if let Ok(s) = turmoil::net::TcpStream::connect(cms.as_str()).await
                            && let Answer::Response { status, .. } =
                                exchange(s, req.as_bytes(), Duration::from_secs(5)).await
                            && (200..300).contains(&status)
                        {
                            // Published: recorded when the system acknowledged it.
                            written.borrow_mut().push((turmoil::elapsed(), n));
                        }
                    }
                }
                Ok(())
            });
        }
        type Fetch = (String, String, Duration, Duration, Answer);
        let fetched: Rc<std::cell::RefCell<Vec<Fetch>>> = Rc::default();
        if let Some(p) = &spec.public {
            let every = secs(p.every_seconds);
            let until = secs(p.for_seconds);
            let watched: Vec<(String, String)> = spec
                .pages
                .iter()
                .flat_map(|(d, ps)| ps.keys().map(move |k| (d.clone(), k.clone())))
                .collect();
            let got = fetched.clone();
            sim.client("public", async move {
                let mut round = 0u32;
                loop {
                    let due = every * round;
                    if due > until {
                        break;
                    }
                    sleep_until_elapsed(due).await;
                    for (domain, page) in &watched {
                        let req = format!(
                            "GET {page} HTTP/1.1\r\nHost: {domain}\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\nAccept: text/html,application/xhtml+xml\r\nConnection: close\r\n\r\n"
                        );
                        let sent = turmoil::elapsed();
                        let ans = match turmoil::net::TcpStream::connect((FRONT_HOST, 80)).await {
                            Ok(s) => exchange(s, req.as_bytes(), Duration::from_secs(5)).await,
                            Err(e) => Answer::NoResponse(format!("connect: {e}")),
                        };
                        got.borrow_mut().push((
                            domain.clone(),
                            page.clone(),
                            sent,
                            turmoil::elapsed(),
                            ans,
                        ));
                    }
                    round += 1;
                }
                Ok(())
            });
        }
        let answers: Rc<std::cell::RefCell<Vec<(Duration, Answer)>>> = Rc::default();
        let got = answers.clone();
        let requests: Vec<Vec<u8>> = spec.requests.iter().map(request_bytes).collect();
        sim.client("internet", async move {
            for req in requests {
                tokio::time::sleep(PACE).await;
                let ans = match turmoil::net::TcpStream::connect((FRONT_HOST, 80)).await {
                    Ok(s) => exchange(s, &req, Duration::from_secs(5)).await,
                    Err(e) => Answer::NoResponse(format!("connect: {e}")),
                };
                got.borrow_mut().push((turmoil::elapsed(), ans));
            }
            Ok(())
        });
        if let Err(e) = sim.run() {
            return Err(TargetError::WebFront {
                target: target.info().name,
                message: e.to_string(),
            });
        }
        let mut seen = Vec::new();
        for ((at, ans), r) in answers.borrow().iter().zip(&spec.requests) {
            let (status, error) = match ans {
                Answer::Response { status, .. } => (Some(*status), String::new()),
                Answer::NoResponse(why) => (None, why.clone()),
            };
            seen.push(Seen {
                at: ep.instant(*at),
                probe: format!("client:{}", r.resource),
                subject: Subject {
                    kind: SubjectKind::Service,
                    id: r.resource.clone(),
                },
                event: Event::HttpSent(HttpSent {
                    resource: r.resource.clone(),
                    traffic: r.traffic.clone(),
                    label: r.label.clone(),
                    method: r.method.clone(),
                    target: r.target.clone(),
                    body: r.body.clone(),
                    status,
                    error,
                }),
            });
        }
        for (domain, site) in &sites {
            let s = site.borrow();
            for (rcv, at) in s.received.iter().zip(&s.arrivals) {
                seen.push(Seen {
                    at: ep.instant(*at),
                    probe: format!("origin:{domain}"),
                    subject: Subject {
                        kind: SubjectKind::Service,
                        id: domain.clone(),
                    },
                    event: Event::HttpReceived(HttpReceived {
                        resource: domain.clone(),
                        method: rcv.method.clone(),
                        target: rcv.target.clone(),
                        body: String::from_utf8_lossy(&rcv.body).into_owned(),
                    }),
                });
            }
        }
        for (domain, pages) in &spec.pages {
            for (page, content) in pages {
                seen.push(page_written(
                    &ep,
                    Duration::ZERO,
                    domain,
                    page,
                    "initial",
                    content,
                ));
            }
        }
        for (at, n) in written.borrow().iter() {
            let c = &spec.changes[*n];
            seen.push(page_written(
                &ep,
                *at,
                &c.resource,
                &c.page,
                &c.by,
                &c.content,
            ));
        }
        for (domain, page, sent, answered, ans) in fetched.borrow().iter() {
            let (status, digest, error) = match ans {
                Answer::Response { status, body, .. } => {
                    (Some(*status), super::sha256_hex(body), String::new())
                }
                Answer::NoResponse(why) => (None, String::new(), why.clone()),
            };
            seen.push(Seen {
                at: ep.instant(*answered),
                probe: format!("public:{domain}"),
                subject: Subject {
                    kind: SubjectKind::Service,
                    id: domain.clone(),
                },
                event: Event::PageServed(PageServed {
                    resource: domain.clone(),
                    page: page.clone(),
                    sent: ep.instant(*sent),
                    status,
                    digest,
                    error,
                }),
            });
        }
        for (at, doc) in front.documents() {
            seen.push(Seen {
                at: ep.instant(at),
                probe: crate::interpreter::inbox(&doc.to),
                subject: Subject::case(&doc.case),
                event: Event::Document(doc),
            });
        }
        seen.sort_by_key(|s| s.at);
        Ok(seen)
    }

    /// The port of an origin's content-management interface in the simulation.
    const CMS_PORT: u16 = 8080;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    /// Sleeps until `at` after the simulation's start (by the simulation's own clock).
    async fn sleep_until_elapsed(at: Duration) {
        tokio::time::sleep(at.saturating_sub(turmoil::elapsed())).await;
    }

    fn page_written(
        ep: &Episode,
        at: Duration,
        domain: &str,
        page: &str,
        by: &str,
        content: &str,
    ) -> Seen {
        Seen {
            at: ep.instant(at),
            probe: format!("{}:{domain}", if by == "initial" { "origin" } else { by }),
            subject: Subject {
                kind: SubjectKind::Service,
                id: domain.to_string(),
            },
            event: Event::PageWritten(PageWritten {
                resource: domain.to_string(),
                page: page.to_string(),
                by: by.to_string(),
                digest: super::sha256_hex(content.as_bytes()),
            }),
        }
    }
}
