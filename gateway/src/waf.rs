//! UGIA's web-application firewall (ugia-17): ModSecurity v3 (Debian's libmodsecurity, through
//! the `modsecurity` crate) with the OWASP Core Rule Set, in front of a User's web resource as
//! a reverse proxy (hyper). The rule engine is ModSecurity's; this module only wires requests
//! into it and acts on its interventions.
//!
//! The same proxy runs in the simulated network (turmoil) and as a real process
//! (`qaqpa serve waf`): the accept loop and the upstream connector are the only differences.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use modsecurity::{ModSecurity, Rules};
use qaqpa_sim::target::Defect;
use tokio::io::{AsyncRead, AsyncWrite};

pub const DEFECTS: &[Defect] = &[
    Defect {
        id: "ugia-waf-detection-only",
        system: "ugia",
        description: "the WAF runs ModSecurity in detection-only mode: attacks are logged and passed to the protected resource",
        clauses: &["ugia-17"],
        warns: &[],
    },
    Defect {
        id: "ugia-waf-sqli-rules-off",
        system: "ugia",
        description: "the WAF runs the Core Rule Set with its SQL-injection family (942) switched off",
        clauses: &["ugia-17"],
        warns: &[],
    },
    Defect {
        id: "ugia-waf-fail-open",
        system: "ugia",
        description: "when the WAF's engine cannot inspect a request (an error), the request is passed to the protected resource uninspected",
        clauses: &["ugia-17"],
        warns: &[],
    },
];

/// The largest request body the WAF buffers and inspects (ModSecurity's own default limit).
pub const REQUEST_BODY_LIMIT: usize = 13_107_200;
/// The largest response body the WAF inspects; larger responses are refused (fail closed).
pub const RESPONSE_BODY_LIMIT: usize = 1_048_576;
/// How long a client may take to send its request head, and then its body.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the protected resource may take to answer.
pub const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest request head the proxy reads before refusing (hyper's buffer).
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

/// Where the Core Rule Set is and how the WAF runs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WafConfig {
    /// `rules/` of a Core Rule Set release (its `*.conf` files load in name order).
    pub rules_dir: PathBuf,
    /// The release's `crs-setup.conf.example`, read in place.
    pub setup: PathBuf,
    /// The CRS blocking paranoia level, 1 to 4.
    pub paranoia: u8,
    /// The CRS inbound anomaly score threshold (the rule set's default is 5).
    pub inbound_threshold: u32,
    /// `true`: ModSecurity only logs (`SecRuleEngine DetectionOnly`).
    pub detection_only: bool,
    /// Rule families (the hundreds of the rule id, e.g. 942) removed after loading.
    pub families_off: Vec<u32>,
    /// `true`: a request the engine failed to inspect is forwarded anyway.
    pub fail_open: bool,
}

impl WafConfig {
    /// The Core Rule Set of a corpus folder (`coreruleset/` with `rules/` and
    /// `crs-setup.conf.example`) at paranoia level 1 and the default threshold.
    pub fn crs(crs_dir: &Path) -> WafConfig {
        WafConfig {
            rules_dir: crs_dir.join("rules"),
            setup: crs_dir.join("crs-setup.conf.example"),
            paranoia: 1,
            inbound_threshold: 5,
            detection_only: false,
            families_off: Vec::new(),
            fail_open: false,
        }
    }

    /// The reference's configuration under the named defects.
    pub fn with_defects(mut self, defects: &[&str]) -> WafConfig {
        if defects.contains(&"ugia-waf-detection-only") {
            self.detection_only = true;
        }
        if defects.contains(&"ugia-waf-sqli-rules-off") {
            self.families_off.push(942);
        }
        if defects.contains(&"ugia-waf-fail-open") {
            self.fail_open = true;
        }
        self
    }

    /// The engine directives loaded before the rule set: what a connector's
    /// `modsecurity.conf` holds. Written here (not copied from ModSecurity's recommended
    /// file) and shared with any other ModSecurity the harness drives, so both run the same
    /// configuration.
    pub fn engine_directives(&self) -> String {
        let engine = if self.detection_only {
            "DetectionOnly"
        } else {
            "On"
        };
        format!(
            "SecRuleEngine {engine}\n\
             SecRequestBodyAccess On\n\
             SecRequestBodyLimit {REQUEST_BODY_LIMIT}\n\
             SecRequestBodyNoFilesLimit 131072\n\
             SecRequestBodyLimitAction Reject\n\
             SecRequestBodyJsonDepthLimit 512\n\
             SecArgumentsLimit 1000\n\
             SecPcreMatchLimit 1000\n\
             SecPcreMatchLimitRecursion 1000\n\
             SecResponseBodyAccess On\n\
             SecResponseBodyMimeType text/plain text/html text/xml\n\
             SecResponseBodyLimit {RESPONSE_BODY_LIMIT}\n\
             SecResponseBodyLimitAction ProcessPartial\n\
             SecAuditEngine Off\n\
             SecRule REQUEST_HEADERS:Content-Type \"@rx (?:application(?:/soap\\+|/)|text/)xml\" \"id:200000,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=XML\"\n\
             SecRule REQUEST_HEADERS:Content-Type \"@rx application/json\" \"id:200001,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=JSON\"\n\
             SecRule REQBODY_ERROR \"!@eq 0\" \"id:200002,phase:2,t:none,log,deny,status:400,msg:'Failed to parse request body'\"\n\
             SecRule MULTIPART_STRICT_ERROR \"!@eq 0\" \"id:200003,phase:2,t:none,log,deny,status:400,msg:'Multipart request body failed strict validation'\"\n"
        )
    }

    /// What follows `crs-setup.conf.example` and precedes the rules: the paranoia level and
    /// the anomaly threshold, as the setup file's own commented examples (900000, 900110)
    /// would set them.
    pub fn crs_settings(&self) -> String {
        format!(
            "SecAction \"id:900000,phase:1,pass,t:none,nolog,setvar:tx.blocking_paranoia_level={}\"\n\
             SecAction \"id:900110,phase:1,pass,t:none,nolog,setvar:tx.inbound_anomaly_score_threshold={},setvar:tx.outbound_anomaly_score_threshold=4\"\n",
            self.paranoia, self.inbound_threshold
        )
    }

    /// The rule files of the set, in load order.
    pub fn rule_files(&self) -> Result<Vec<PathBuf>, WafError> {
        let dir = std::fs::read_dir(&self.rules_dir).map_err(|e| WafError::Rules {
            file: self.rules_dir.display().to_string(),
            message: e.to_string(),
        })?;
        let mut files: Vec<PathBuf> = dir
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "conf"))
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(WafError::Rules {
                file: self.rules_dir.display().to_string(),
                message: "no *.conf rule files".into(),
            });
        }
        Ok(files)
    }

    /// What follows the rules: families switched off.
    pub fn after_rules(&self) -> String {
        self.families_off
            .iter()
            .map(|f| format!("SecRuleRemoveById {}-{}\n", f * 1000, f * 1000 + 999))
            .collect()
    }

    /// The whole configuration as one ModSecurity include file (for a connector such as
    /// nginx's), reading the rule set in place.
    pub fn main_conf(&self) -> Result<String, WafError> {
        let mut s = self.engine_directives();
        s.push_str(&format!("Include {}\n", self.setup.display()));
        s.push_str(&self.crs_settings());
        for f in self.rule_files()? {
            s.push_str(&format!("Include {}\n", f.display()));
        }
        s.push_str(&self.after_rules());
        Ok(s)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WafError {
    #[error("{file}: {message}")]
    Rules { file: String, message: String },
}

/// What the WAF decided about one request (or its response).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Pass,
    /// ModSecurity intervened: the status to answer with, and its log line.
    Refuse {
        status: u16,
        log: String,
    },
    /// The engine failed: the request could not be inspected.
    EngineError(String),
}

/// ModSecurity with a loaded rule set; shared by every connection.
pub struct Waf {
    ms: ModSecurity,
    rules: Rules,
    config: WafConfig,
}

/// A request as the proxy hands it to the engine.
pub struct Inspected<'a> {
    pub client: SocketAddr,
    pub server: SocketAddr,
    pub method: &'a str,
    pub uri: &'a str,
    /// `1.0`, `1.1`.
    pub version: &'a str,
    pub headers: Vec<(&'a str, &'a [u8])>,
    pub body: &'a [u8],
}

impl Waf {
    /// Loads the rule set; an error names the file ModSecurity refused and why.
    pub fn load(config: WafConfig) -> Result<Waf, WafError> {
        let ms = ModSecurity::builder()
            .with_connector_info("qaqpa-ugia-waf")
            .map_err(|e| WafError::Rules {
                file: "connector".into(),
                message: e.to_string(),
            })?
            // Matched rules are reported through the transaction's log callback (none is
            // set: the WAF's decision is its intervention), not printed.
            .with_log_callbacks()
            .build();
        let mut rules = Rules::new();
        let plain = |rules: &mut Rules, what: &str, text: &str| {
            rules.add_plain(text).map_err(|e| WafError::Rules {
                file: what.into(),
                message: e.to_string(),
            })
        };
        plain(&mut rules, "engine directives", &config.engine_directives())?;
        let file = |rules: &mut Rules, p: &Path| {
            rules.add_file(p).map_err(|e| WafError::Rules {
                file: p.display().to_string(),
                message: e.to_string(),
            })
        };
        file(&mut rules, &config.setup)?;
        plain(&mut rules, "CRS settings", &config.crs_settings())?;
        for f in config.rule_files()? {
            file(&mut rules, &f)?;
        }
        let after = config.after_rules();
        if !after.is_empty() {
            plain(&mut rules, "rule removals", &after)?;
        }
        Ok(Waf { ms, rules, config })
    }

    pub fn config(&self) -> &WafConfig {
        &self.config
    }

    /// Runs the request phases (connection, URI, headers, body) over one request.
    pub fn inspect_request(&self, req: &Inspected<'_>, tx_id: &str) -> Decision {
        match self.request_phases(req, tx_id) {
            Ok(d) => d,
            Err(e) => Decision::EngineError(e),
        }
    }

    fn request_phases(&self, req: &Inspected<'_>, tx_id: &str) -> Result<Decision, String> {
        let err = |what: &str, e: modsecurity::ModSecurityError| format!("{what}: {e}");
        let mut tx = self
            .ms
            .transaction_builder()
            .with_rules(&self.rules)
            .with_id(tx_id)
            .build()
            .map_err(|e| err("transaction", e))?;
        tx.process_connection(
            &req.client.ip().to_string(),
            i32::from(req.client.port()),
            &req.server.ip().to_string(),
            i32::from(req.server.port()),
        )
        .map_err(|e| err("connection", e))?;
        tx.process_uri(req.uri, req.method, req.version)
            .map_err(|e| err("request line", e))?;
        for (name, value) in &req.headers {
            // The binding takes header values as text: a value that is not UTF-8 cannot be
            // handed to the engine, so the request cannot be inspected.
            let value = std::str::from_utf8(value)
                .map_err(|_| format!("header {name}: the value is not UTF-8 text"))?;
            tx.add_request_header(name, value)
                .map_err(|e| err("header", e))?;
        }
        tx.process_request_headers()
            .map_err(|e| err("request headers", e))?;
        if let Some(d) = refusal(&mut tx) {
            return Ok(d);
        }
        if !req.body.is_empty() {
            tx.append_request_body(req.body)
                .map_err(|e| err("request body", e))?;
        }
        tx.process_request_body()
            .map_err(|e| err("request body", e))?;
        if let Some(d) = refusal(&mut tx) {
            return Ok(d);
        }
        let _ = tx.process_logging();
        Ok(Decision::Pass)
    }

    /// Runs the response phases over the protected resource's answer to a request that
    /// passed (data-leakage rules).
    pub fn inspect_response(
        &self,
        req: &Inspected<'_>,
        tx_id: &str,
        status: u16,
        headers: &[(&str, &[u8])],
        body: &[u8],
    ) -> Decision {
        let run = || -> Result<Decision, String> {
            let err = |what: &str, e: modsecurity::ModSecurityError| format!("{what}: {e}");
            let mut tx = self
                .ms
                .transaction_builder()
                .with_rules(&self.rules)
                .with_id(tx_id)
                .build()
                .map_err(|e| err("transaction", e))?;
            tx.process_uri(req.uri, req.method, req.version)
                .map_err(|e| err("request line", e))?;
            for (name, value) in &req.headers {
                if let Ok(v) = std::str::from_utf8(value) {
                    tx.add_request_header(name, v)
                        .map_err(|e| err("header", e))?;
                }
            }
            tx.process_request_headers()
                .map_err(|e| err("request headers", e))?;
            tx.process_request_body()
                .map_err(|e| err("request body", e))?;
            for (name, value) in headers {
                let v = String::from_utf8_lossy(value);
                tx.add_response_header(name, &v)
                    .map_err(|e| err("response header", e))?;
            }
            tx.process_response_headers(i32::from(status), "HTTP 1.1")
                .map_err(|e| err("response headers", e))?;
            if let Some(d) = refusal(&mut tx) {
                return Ok(d);
            }
            tx.append_response_body(body)
                .map_err(|e| err("response body", e))?;
            tx.process_response_body()
                .map_err(|e| err("response body", e))?;
            if let Some(d) = refusal(&mut tx) {
                return Ok(d);
            }
            let _ = tx.process_logging();
            Ok(Decision::Pass)
        };
        run().unwrap_or_else(Decision::EngineError)
    }
}

fn refusal(tx: &mut modsecurity::Transaction<'_>) -> Option<Decision> {
    let i = tx.intervention()?;
    if !i.disruptive() {
        return None;
    }
    let status = u16::try_from(i.status())
        .ok()
        .filter(|s| (400..600).contains(s))
        .unwrap_or(403);
    Some(Decision::Refuse {
        status,
        log: i.log().unwrap_or_default().to_string(),
    })
}

/// Loaded rule sets, by configuration: loading the Core Rule Set takes a second, and every
/// episode of a run uses one of a few configurations.
pub fn shared(config: &WafConfig) -> Result<Arc<Waf>, Arc<WafError>> {
    use std::sync::{Mutex, OnceLock};
    type Cache = Mutex<Vec<(WafConfig, Result<Arc<Waf>, Arc<WafError>>)>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(Vec::new()));
    let mut c = cache.lock().expect("WAF cache lock");
    if let Some((_, w)) = c.iter().find(|(k, _)| k == config) {
        return w.clone();
    }
    let w = Waf::load(config.clone()).map(Arc::new).map_err(Arc::new);
    c.push((config.clone(), w.clone()));
    w
}

// ---- the reverse proxy ----

/// Opens a connection to the protected resource (the origin).
pub trait Upstream: 'static {
    type Io: AsyncRead + AsyncWrite + Unpin + 'static;
    /// `host` is the request's `Host`: a front for several resources routes by it.
    fn connect(&self, host: &str) -> Pin<Box<dyn Future<Output = std::io::Result<Self::Io>>>>;
}

/// An upstream reached over real TCP.
pub struct TcpUpstream(pub SocketAddr);

impl Upstream for TcpUpstream {
    type Io = tokio::net::TcpStream;
    fn connect(&self, _host: &str) -> Pin<Box<dyn Future<Output = std::io::Result<Self::Io>>>> {
        let addr = self.0;
        Box::pin(async move {
            let s = tokio::net::TcpStream::connect(addr).await?;
            s.set_nodelay(true)?;
            Ok(s)
        })
    }
}

/// The resources of a simulated web episode, reached by the name in `Host`.
pub struct SimUpstream(pub qaqpa_sim::webnet::WebWorld);

impl Upstream for SimUpstream {
    type Io = turmoil::net::TcpStream;
    fn connect(&self, host: &str) -> Pin<Box<dyn Future<Output = std::io::Result<Self::Io>>>> {
        let addr = self.0.origin_of(host).map(str::to_string);
        Box::pin(async move {
            let addr = addr.ok_or_else(|| {
                std::io::Error::new(std::io::ErrorKind::NotFound, "no such protected resource")
            })?;
            turmoil::net::TcpStream::connect(addr).await
        })
    }
}

/// The reference's WAF front in a simulated web episode (ugia-17).
pub struct SimWafFront {
    waf: Arc<Waf>,
}

impl SimWafFront {
    pub fn new(config: &WafConfig) -> Result<SimWafFront, Arc<WafError>> {
        Ok(SimWafFront {
            waf: shared(config)?,
        })
    }
}

impl qaqpa_sim::webnet::WebFront for SimWafFront {
    fn install(&self, sim: &mut turmoil::Sim<'_>, world: &qaqpa_sim::webnet::WebWorld) {
        let waf = self.waf.clone();
        let world = world.clone();
        sim.host(world.front.clone(), move || {
            let waf = waf.clone();
            let upstream = Rc::new(SimUpstream(world.clone()));
            async move {
                let l = turmoil::net::TcpListener::bind("0.0.0.0:80").await?;
                let server = l.local_addr()?;
                loop {
                    let (s, client) = l.accept().await?;
                    tokio::task::spawn_local(serve_connection(
                        s,
                        client,
                        server,
                        waf.clone(),
                        upstream.clone(),
                    ));
                }
            }
        });
    }
}

struct Proxy {
    waf: Arc<Waf>,
    /// Transaction ids: the connection's number and the request's within it.
    next_tx: std::cell::Cell<u64>,
}

/// Serves one client connection: every request is inspected before it reaches the upstream
/// and every answer after it leaves. Malformed or oversized heads and slow clients get
/// hyper's refusal or a closed connection, never a crash.
pub async fn serve_connection<IO, U>(
    io: IO,
    client: SocketAddr,
    server: SocketAddr,
    waf: Arc<Waf>,
    upstream: Rc<U>,
) where
    IO: AsyncRead + AsyncWrite + Unpin + 'static,
    U: Upstream,
{
    let proxy = Rc::new(Proxy {
        waf,
        next_tx: std::cell::Cell::new(0),
    });
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let proxy = proxy.clone();
        let upstream = upstream.clone();
        async move {
            let n = proxy.next_tx.get();
            proxy.next_tx.set(n + 1);
            Ok::<_, Infallible>(handle(&proxy, &*upstream, req, client, server, n).await)
        }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(CLIENT_TIMEOUT)
        .max_buf_size(MAX_HEAD_BYTES)
        .keep_alive(true)
        .serve_connection(TokioIo::new(io), service)
        .await;
}

/// The answer the WAF gives instead of the resource's.
pub fn refusal_response(status: u16, why: &str) -> Response<Full<Bytes>> {
    let body = format!(
        "<html><body><h1>{status}</h1><p>The request was refused by the web-application firewall. {why}</p></body></html>\n"
    );
    Response::builder()
        .status(status)
        .header("content-type", "text/html; charset=utf-8")
        .header("connection", "close")
        .body(Full::new(Bytes::from(body)))
        .expect("a valid response")
}

const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

async fn handle<U: Upstream>(
    proxy: &Proxy,
    upstream: &U,
    req: Request<Incoming>,
    client: SocketAddr,
    server: SocketAddr,
    n: u64,
) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let body = match tokio::time::timeout(
        CLIENT_TIMEOUT,
        Limited::new(body, REQUEST_BODY_LIMIT).collect(),
    )
    .await
    {
        Ok(Ok(b)) => b.to_bytes(),
        Ok(Err(_)) => return refusal_response(413, "The request body is too large or broken."),
        Err(_) => return refusal_response(408, "The request body did not arrive in time."),
    };
    let version = match parts.version {
        hyper::Version::HTTP_10 => "1.0",
        hyper::Version::HTTP_09 => "0.9",
        _ => "1.1",
    };
    let uri = parts.uri.to_string();
    let method = parts.method.as_str().to_string();
    let headers: Vec<(&str, &[u8])> = parts
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_bytes()))
        .collect();
    let inspected = Inspected {
        client,
        server,
        method: &method,
        uri: &uri,
        version,
        headers,
        body: &body,
    };
    let tx_id = format!("{}-{}-{n}", client.ip(), client.port());
    match proxy.waf.inspect_request(&inspected, &tx_id) {
        Decision::Pass => {}
        Decision::Refuse { status, .. } => {
            return refusal_response(status, "It matched the rules protecting this resource.");
        }
        Decision::EngineError(e) => {
            if !proxy.waf.config.fail_open {
                // Failing closed: what the engine could not inspect is refused as an attack is.
                return refusal_response(
                    403,
                    &format!("It could not be inspected ({e}), so it was not passed on."),
                );
            }
        }
    }
    // Forward the request as it came, less the hop-by-hop headers.
    let mut fwd = Request::builder()
        .method(parts.method.clone())
        .uri(parts.uri.clone());
    for (k, v) in parts.headers.iter() {
        if !HOP_BY_HOP.contains(&k.as_str()) {
            fwd = fwd.header(k, v);
        }
    }
    let Ok(fwd) = fwd.body(Full::new(body.clone())) else {
        return refusal_response(400, "The request could not be passed on.");
    };
    let host = parts
        .headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .or(parts.uri.host())
        .unwrap_or_default()
        .to_string();
    let answer = async {
        let io = upstream.connect(&host).await.ok()?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .ok()?;
        tokio::task::spawn_local(async move {
            let _ = conn.await;
        });
        let resp = sender.send_request(fwd).await.ok()?;
        let (rp, rb) = resp.into_parts();
        let rb = Limited::new(rb, RESPONSE_BODY_LIMIT)
            .collect()
            .await
            .ok()?
            .to_bytes();
        Some((rp, rb))
    };
    let Ok(Some((rp, rb))) = tokio::time::timeout(UPSTREAM_TIMEOUT, answer).await else {
        return Response::builder()
            .status(502)
            .body(Full::new(Bytes::from_static(
                b"The protected resource did not answer.\n",
            )))
            .expect("a valid response");
    };
    let rheaders: Vec<(&str, &[u8])> = rp
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_bytes()))
        .collect();
    match proxy
        .waf
        .inspect_response(&inspected, &tx_id, rp.status.as_u16(), &rheaders, &rb)
    {
        Decision::Refuse { status, .. } => {
            return refusal_response(status, "The resource's answer matched the leakage rules.");
        }
        Decision::EngineError(_) if !proxy.waf.config.fail_open => {
            return refusal_response(502, "The resource's answer could not be inspected.");
        }
        _ => {}
    }
    let mut out = Response::builder().status(rp.status);
    for (k, v) in rp.headers.iter() {
        if !HOP_BY_HOP.contains(&k.as_str()) && k != "content-length" {
            out = out.header(k, v);
        }
    }
    out.body(Full::new(rb))
        .unwrap_or_else(|_| refusal_response(502, "The resource's answer could not be passed on."))
}

/// The WAF as a real process: accepts on `listen`, protects `upstream`. Runs on the
/// calling thread (one core) until the listener fails.
pub fn serve_tcp(
    waf: Arc<Waf>,
    listener: std::net::TcpListener,
    upstream: SocketAddr,
) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let server = listener.local_addr()?;
        let upstream = Rc::new(TcpUpstream(upstream));
        loop {
            let (stream, client) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            let waf = waf.clone();
            let upstream = upstream.clone();
            tokio::task::spawn_local(serve_connection(stream, client, server, waf, upstream));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crs() -> PathBuf {
        qaqpa_sim::shared::corpus("coreruleset")
    }

    fn req<'a>(uri: &'a str, headers: Vec<(&'a str, &'a [u8])>) -> Inspected<'a> {
        Inspected {
            client: "192.0.2.10:40000".parse().unwrap(),
            server: "198.51.100.5:80".parse().unwrap(),
            method: "GET",
            uri,
            version: "1.1",
            headers,
            body: b"",
        }
    }

    const UA: (&str, &[u8]) = (
        "User-Agent",
        b"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    );

    fn host() -> (&'static str, &'static [u8]) {
        ("Host", b"www.example.kz")
    }

    #[test]
    fn crs_blocks_sqli_and_xss_and_passes_a_plain_page() {
        let waf = shared(&WafConfig::crs(&crs())).expect("the CRS loads");
        let accept: (&str, &[u8]) = ("Accept", b"text/html");
        let plain = req("/news/2025/index.html?page=2", vec![host(), UA, accept]);
        assert_eq!(waf.inspect_request(&plain, "t1"), Decision::Pass);
        let sqli = req(
            "/news?id=1%27%20UNION%20SELECT%20password%20FROM%20users--",
            vec![host(), UA, accept],
        );
        assert!(matches!(
            waf.inspect_request(&sqli, "t2"),
            Decision::Refuse { status: 403, .. }
        ));
        let xss = req(
            "/search?q=%3Cscript%3Ealert(document.cookie)%3C/script%3E",
            vec![host(), UA, accept],
        );
        assert!(matches!(
            waf.inspect_request(&xss, "t3"),
            Decision::Refuse { status: 403, .. }
        ));
    }

    #[test]
    fn defects_change_what_the_engine_does() {
        let accept: (&str, &[u8]) = ("Accept", b"text/html");
        let sqli = req(
            "/news?id=1%27%20UNION%20SELECT%20password%20FROM%20users--",
            vec![host(), UA, accept],
        );
        let detect =
            shared(&WafConfig::crs(&crs()).with_defects(&["ugia-waf-detection-only"])).unwrap();
        assert_eq!(detect.inspect_request(&sqli, "d1"), Decision::Pass);
        let off =
            shared(&WafConfig::crs(&crs()).with_defects(&["ugia-waf-sqli-rules-off"])).unwrap();
        assert_eq!(off.inspect_request(&sqli, "d2"), Decision::Pass);
        let xss = req(
            "/search?q=%3Cscript%3Ealert(1)%3C/script%3E",
            vec![host(), UA, accept],
        );
        assert!(
            matches!(off.inspect_request(&xss, "d3"), Decision::Refuse { .. }),
            "only 942 is off"
        );
        let latin1: (&str, &[u8]) = ("X-Note", b"caf\xe9");
        let odd = req("/", vec![host(), UA, latin1]);
        assert!(matches!(
            shared(&WafConfig::crs(&crs()))
                .unwrap()
                .inspect_request(&odd, "e1"),
            Decision::EngineError(_)
        ));
    }

    #[test]
    fn a_missing_rule_set_is_named() {
        let mut c = WafConfig::crs(Path::new("/nonexistent/crs"));
        c.paranoia = 1;
        let e = Waf::load(c).err().expect("no rules");
        assert!(e.to_string().contains("/nonexistent/crs"), "{e}");
    }
}
