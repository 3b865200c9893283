//! `qaqpa waf-score`: go-ftw-format tests (and the libinjection payload lists) sent through a
//! WAF, the reference in process or any WAF at a URL, judged in go-ftw's cloud mode by the
//! responses alone. `qaqpa serve waf`: the reference WAF as a real reverse proxy.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use qaqpa_gateway::waf::{self, WafConfig};
use qaqpa_scenarios::ftw::{self, Answer, Test, TestFile, Want};
use qaqpa_scenarios::web;

#[derive(clap::Args)]
pub struct WafScoreArgs {
    /// A folder of go-ftw test files (searched recursively) or one file; by default the
    /// corpus's Core Rule Set regression tests.
    pub tests: Option<PathBuf>,
    /// Score the WAF at this URL (`http://host:port`) instead of the reference in process.
    #[arg(long)]
    pub target: Option<String>,
    /// The paranoia level the WAF runs at (the reference is started with it; for a target,
    /// the level it claims). Tests that expect only rules above it are not run.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=4))]
    pub paranoia: u8,
    /// The Core Rule Set release (`rules/`, `crs-setup.conf.example`); by default the corpus's.
    #[arg(long)]
    pub crs: Option<PathBuf>,
    /// Also score the libinjection payload lists in DIR (attacks detected, benign passed).
    #[arg(long)]
    pub libinjection: Option<PathBuf>,
    /// Only the tests whose id (`942100-3`) contains one of these strings.
    #[arg(long = "only")]
    pub only: Vec<String>,
    /// The status of the WAF's refusal (go-ftw's cloud mode expects 403).
    #[arg(long, default_value_t = 403)]
    pub block_status: u16,
    /// How long to wait for each read of a response, in milliseconds.
    #[arg(long, default_value_t = 3000)]
    pub read_timeout_ms: u64,
    /// Print the scores as JSON (per family, and the tests not run with the reason).
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args)]
pub struct ServeArgs {
    #[command(subcommand)]
    pub what: Serve,
}

#[derive(clap::Subcommand)]
pub enum Serve {
    /// The reference WAF: ModSecurity with the Core Rule Set as a reverse proxy.
    Waf {
        /// The address to listen on, `host:port` (loopback unless you mean otherwise).
        #[arg(long, required_unless_present = "print_conf")]
        listen: Option<String>,
        /// The protected resource, `http://host:port`.
        #[arg(long, required_unless_present = "print_conf")]
        upstream: Option<String>,
        /// The Core Rule Set's paranoia level, 1 to 4.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=4))]
        paranoia: u8,
        /// The Core Rule Set release (`rules/`, `crs-setup.conf.example`); by default the
        /// corpus's.
        #[arg(long)]
        crs: Option<PathBuf>,
        /// Print the ModSecurity configuration the WAF loads (engine directives, the rule
        /// set's setup, paranoia level, rules) as one file for another connector (nginx's),
        /// and exit.
        #[arg(long)]
        print_conf: bool,
    },
    /// The reference's TLS inspection (ugia-20) as an explicit proxy: `CONNECT host:port`, then
    /// the session is terminated under a UGIA root minted at start (ECDSA P-256) and the
    /// origin verified against `--origin-ca`. One thread.
    TlsInspect {
        /// The address to listen on, `host:port`.
        #[arg(long)]
        listen: String,
        /// PEM file of the certificate authorities origins are verified against.
        #[arg(long)]
        origin_ca: PathBuf,
        /// Write the UGIA root (PEM) here, as the STS's notice to the operators carries it,
        /// for clients to trust.
        #[arg(long)]
        root_out: Option<PathBuf>,
    },
    /// The reference bus (ЭҮШ / ЭҮСШ): SHEP v10 SOAP at /SyncChannel/v10 and
    /// /AsyncChannel/v10, their WSDLs at ?wsdl.
    Bus(crate::bus_cmd::ServeBusArgs),
    /// The reference e-mail gateway (UGEM): SMTP relay, durable spool on disk, abnormal-traffic
    /// guard, configured from a relay file (connected systems, routes, outbound address).
    Ugem {
        /// The address to listen on for SMTP, `host:port`.
        #[arg(long)]
        listen: String,
        /// The directory of the durable queue (created if missing): a restart, or a crash and
        /// a restart, delivers what it holds.
        #[arg(long)]
        spool: PathBuf,
        /// The relay file (TOML): host name, outbound address, retry timings, connected
        /// systems and routes to external exchangers (see the README).
        #[arg(long)]
        config: PathBuf,
    },
}

pub fn default_crs() -> PathBuf {
    qaqpa_sim::shared::corpus("coreruleset")
}

/// `http://host:port[/…]` → the address to connect to.
pub fn parse_target(url: &str) -> Result<SocketAddr, String> {
    let rest = url.strip_prefix("http://").ok_or_else(|| {
        format!("{url}: expected an http:// URL (the harness's client speaks plain HTTP)")
    })?;
    let hostport = rest.split('/').next().unwrap_or(rest);
    let with_port = if hostport.contains(':') && !hostport.ends_with(']') {
        hostport.to_string()
    } else {
        format!("{hostport}:80")
    };
    with_port
        .to_socket_addrs()
        .map_err(|e| format!("{url}: {e}"))?
        .next()
        .ok_or_else(|| format!("{url}: the name resolves to no address"))
}

pub fn serve(args: &ServeArgs) -> Result<(), String> {
    let (listen, upstream, paranoia, crs, print_conf) = match &args.what {
        Serve::Waf {
            listen,
            upstream,
            paranoia,
            crs,
            print_conf,
        } => (listen, upstream, paranoia, crs, print_conf),
        Serve::TlsInspect {
            listen,
            origin_ca,
            root_out,
        } => return crate::inspect_cmd::serve(listen, origin_ca, root_out.as_deref()),
        Serve::Bus(bus) => return crate::bus_cmd::serve_bus(bus),
        Serve::Ugem {
            listen,
            spool,
            config,
        } => return crate::mail_cmd::serve(listen, spool, config),
    };
    let crs = crs.clone().unwrap_or_else(default_crs);
    let crs = std::fs::canonicalize(&crs).map_err(|e| format!("{}: {e}", crs.display()))?;
    let mut config = WafConfig::crs(&crs);
    config.paranoia = *paranoia;
    if *print_conf {
        print!("{}", config.main_conf().map_err(|e| e.to_string())?);
        return Ok(());
    }
    let w = waf::Waf::load(config).map_err(|e| e.to_string())?;
    let (Some(listen), Some(upstream)) = (listen, upstream) else {
        return Err("serve waf needs --listen and --upstream".into());
    };
    let upstream = parse_target(upstream)?;
    let listener =
        std::net::TcpListener::bind(listen).map_err(|e| format!("--listen {listen}: {e}"))?;
    eprintln!(
        "qaqpa: WAF listening on {} for {upstream}",
        listener.local_addr().map_err(|e| e.to_string())?
    );
    waf::serve_tcp(Arc::new(w), listener, upstream).map_err(|e| e.to_string())
}

/// Starts the harness's origin on loopback (a thread of its own); returns its address.
pub fn start_origin() -> Result<SocketAddr, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let local = tokio::task::LocalSet::new();
        local.block_on(&rt, async move {
            let l = tokio::net::TcpListener::from_std(listener).expect("a listener");
            let site: web::SharedSite = Default::default();
            while let Ok((s, _)) = l.accept().await {
                let site = site.clone();
                // Keep no record: the origin serves a score run, nobody judges it.
                site.borrow_mut().received.clear();
                tokio::task::spawn_local(web::serve_origin(s, site));
            }
        });
    });
    Ok(addr)
}

/// Starts the reference WAF on loopback in front of `origin`; returns its address.
pub fn start_reference(config: WafConfig, origin: SocketAddr) -> Result<SocketAddr, String> {
    let w = Arc::new(waf::Waf::load(config).map_err(|e| e.to_string())?);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    std::thread::spawn(move || {
        let _ = waf::serve_tcp(w, listener, origin);
    });
    Ok(addr)
}

#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct FamilyScore {
    pub tests: u64,
    pub run: u64,
    pub expected_blocked: u64,
    pub blocked: u64,
    pub expected_passed: u64,
    pub passed: u64,
    /// Tests that state only a status, a text or an error.
    pub other: u64,
    pub other_met: u64,
    pub not_run: u64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Miss {
    pub test: String,
    pub wanted: String,
    pub got: String,
}

#[derive(Debug, Default, serde::Serialize)]
pub struct Score {
    pub target: String,
    pub paranoia: u8,
    pub families: BTreeMap<u64, FamilyScore>,
    /// Test id → why it was not run.
    pub not_run: BTreeMap<String, String>,
    pub misses: Vec<Miss>,
    pub requests: u64,
    pub seconds: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub libinjection: Option<BTreeMap<String, PayloadScore>>,
}

#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct PayloadScore {
    pub files: u64,
    pub payloads: u64,
    /// Attacks refused (attack lists) or benign inputs passed (false-positive lists).
    pub as_expected: u64,
    /// No usable answer (connection error, timeout).
    pub no_answer: u64,
}

struct Runner {
    target: SocketAddr,
    read_timeout: Duration,
    block_status: u16,
    rt: tokio::runtime::Runtime,
    requests: u64,
}

impl Runner {
    fn send(&mut self, request: &[u8]) -> Answer {
        self.requests += 1;
        let target = self.target;
        let rt = self.read_timeout;
        self.rt.block_on(async move {
            match tokio::time::timeout(
                Duration::from_secs(3),
                tokio::net::TcpStream::connect(target),
            )
            .await
            {
                Ok(Ok(s)) => {
                    let _ = s.set_nodelay(true);
                    web::exchange(s, request, rt).await
                }
                Ok(Err(e)) => Answer::NoResponse(format!("connect: {e}")),
                Err(_) => Answer::NoResponse("connect timed out".into()),
            }
        })
    }
}

/// Puts a header line right after the request line (a saved cookie).
fn with_header(req: &[u8], line: &str) -> Vec<u8> {
    match req.windows(2).position(|w| w == b"\r\n") {
        Some(i) => {
            let mut out = req[..i + 2].to_vec();
            out.extend_from_slice(line.as_bytes());
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(&req[i + 2..]);
            out
        }
        None => req.to_vec(),
    }
}

/// Replaces the request line's target (following a redirect).
fn with_target(req: &[u8], location: &str) -> Vec<u8> {
    let path = location
        .strip_prefix("http://")
        .or_else(|| location.strip_prefix("https://"))
        .map(|r| r.find('/').map(|i| &r[i..]).unwrap_or("/"))
        .unwrap_or(location);
    let end = req
        .windows(2)
        .position(|w| w == b"\r\n")
        .unwrap_or(req.len());
    let line = String::from_utf8_lossy(&req[..end]).to_string();
    let mut parts: Vec<&str> = line.splitn(3, ' ').collect();
    if parts.len() == 3 {
        parts[1] = path;
    }
    let mut out = parts.join(" ").into_bytes();
    out.extend_from_slice(&req[end..]);
    out
}

fn run_test(
    runner: &mut Runner,
    test: &Test,
    level_of: &dyn Fn(u64) -> Option<u8>,
    paranoia: u8,
) -> Result<(Want, bool, String), String> {
    if let Some(why) = &test.unrunnable {
        return Err(why.clone());
    }
    let mut wants = Vec::new();
    for (i, s) in test.stages.iter().enumerate() {
        if s.tls {
            return Err(format!(
                "stage {}: asks for https; the harness client speaks plain HTTP to the target",
                i + 1
            ));
        }
        let w = s.expect.want(level_of, paranoia).ok_or_else(|| {
            let levels: Vec<String> = s
                .expect
                .fire
                .iter()
                .map(|id| format!("{id} is PL{}", level_of(*id).unwrap_or(1)))
                .collect();
            format!(
                "stage {}: expects only rules above paranoia level {paranoia} to fire ({})",
                i + 1,
                levels.join(", ")
            )
        })?;
        wants.push(w);
    }
    let want = if wants.contains(&Want::Blocked) {
        Want::Blocked
    } else if wants.contains(&Want::Passed) {
        Want::Passed
    } else {
        Want::Other
    };
    let mut cookie: Option<String> = None;
    let mut last: Option<Answer> = None;
    for (i, (s, w)) in test.stages.iter().zip(&wants).enumerate() {
        for req in &s.requests {
            let mut req = req.clone();
            if s.follow_redirect {
                let loc = last
                    .as_ref()
                    .and_then(|a| a.header("location"))
                    .map(str::to_string)
                    .ok_or_else(|| {
                        format!(
                            "stage {}: follows a redirect the previous stage did not get",
                            i + 1
                        )
                    })?;
                req = with_target(&req, &loc);
            }
            if let Some(c) = &cookie {
                req = with_header(&req, &format!("Cookie: {c}"));
            }
            let ans = runner.send(&req);
            if !ftw::meets(&s.expect, *w, &ans, runner.block_status) {
                return Ok((want, false, format!("stage {}: {}", i + 1, ans.describe())));
            }
            if s.save_cookie
                && let Some(c) = ans.header("set-cookie")
            {
                cookie = Some(c.split(';').next().unwrap_or(c).to_string());
            }
            last = Some(ans);
        }
    }
    Ok((want, true, String::new()))
}

pub fn score(
    files: &[TestFile],
    target: SocketAddr,
    target_name: &str,
    args: &WafScoreArgs,
    levels: &BTreeMap<u64, u8>,
) -> Result<Score, String> {
    let mut runner = Runner {
        target,
        read_timeout: Duration::from_millis(args.read_timeout_ms),
        block_status: args.block_status,
        rt: tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?,
        requests: 0,
    };
    let level_of = |id: u64| levels.get(&id).copied();
    let mut s = Score {
        target: target_name.to_string(),
        paranoia: args.paranoia,
        ..Score::default()
    };
    let started = Instant::now();
    for f in files {
        for t in &f.tests {
            if !args.only.is_empty() && !args.only.iter().any(|o| t.id.contains(o.as_str())) {
                continue;
            }
            let fam = s.families.entry(t.family()).or_default();
            fam.tests += 1;
            match run_test(&mut runner, t, &level_of, args.paranoia) {
                Err(why) => {
                    s.families.entry(t.family()).or_default().not_run += 1;
                    s.not_run.insert(t.id.clone(), why);
                }
                Ok((want, met, got)) => {
                    let fam = s.families.entry(t.family()).or_default();
                    fam.run += 1;
                    let (n, ok) = match want {
                        Want::Blocked => (&mut fam.expected_blocked, &mut fam.blocked),
                        Want::Passed => (&mut fam.expected_passed, &mut fam.passed),
                        Want::Other => (&mut fam.other, &mut fam.other_met),
                    };
                    *n += 1;
                    if met {
                        *ok += 1;
                    } else {
                        s.misses.push(Miss {
                            test: t.id.clone(),
                            wanted: format!("{want:?}").to_lowercase(),
                            got,
                        });
                    }
                }
            }
        }
    }
    if let Some(dir) = &args.libinjection {
        s.libinjection = Some(score_payloads(&mut runner, dir)?);
    }
    s.requests = runner.requests;
    s.seconds = started.elapsed().as_secs_f64();
    Ok(s)
}

/// Each line of a libinjection list is one input, sent as a query parameter's value
/// (percent-encoded). Files named `sqli-*`/`xss-*` are attacks, `false_positives*` benign.
fn score_payloads(
    runner: &mut Runner,
    dir: &Path,
) -> Result<BTreeMap<String, PayloadScore>, String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    files.sort();
    let mut out: BTreeMap<String, PayloadScore> = BTreeMap::new();
    for f in files {
        let name = f.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let (group, attack) = if name.starts_with("sqli") {
            ("sqli", true)
        } else if name.starts_with("xss") {
            ("xss", true)
        } else if name.starts_with("false_positives") {
            ("benign", false)
        } else {
            continue;
        };
        let bytes = std::fs::read(&f).map_err(|e| format!("{}: {e}", f.display()))?;
        let g = out.entry(group.to_string()).or_default();
        g.files += 1;
        for line in bytes.split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.iter().all(|b| b.is_ascii_whitespace()) {
                continue;
            }
            let mut q = String::new();
            for &b in line {
                match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                        q.push(b as char)
                    }
                    _ => q.push_str(&format!("%{b:02X}")),
                }
            }
            let req = format!(
                "GET /search?q={q} HTTP/1.1\r\nHost: www.example.kz\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\nAccept: text/html\r\nConnection: close\r\n\r\n"
            );
            let ans = runner.send(req.as_bytes());
            let g = out.get_mut(group).expect("inserted");
            g.payloads += 1;
            match ans.status() {
                None => g.no_answer += 1,
                Some(st) if (st == runner.block_status) == attack => g.as_expected += 1,
                Some(_) => {}
            }
        }
    }
    Ok(out)
}

fn pct(a: u64, b: u64) -> String {
    if b == 0 {
        "-".into()
    } else {
        format!("{:.1}%", 100.0 * a as f64 / b as f64)
    }
}

impl Score {
    pub fn table(&self) -> String {
        let mut s = format!(
            "target: {}; paranoia level {}; judged by the response (go-ftw cloud mode)\n\n",
            self.target, self.paranoia
        );
        s.push_str(&format!(
            "{:<8} {:>6} {:>6} {:>17} {:>17} {:>13} {:>8}\n",
            "family", "tests", "run", "blocked/expected", "passed/expected", "other met", "not run"
        ));
        let mut total = FamilyScore::default();
        let row = |name: String, f: &FamilyScore| {
            format!(
                "{:<8} {:>6} {:>6} {:>17} {:>17} {:>13} {:>8}\n",
                name,
                f.tests,
                f.run,
                format!(
                    "{}/{} {}",
                    f.blocked,
                    f.expected_blocked,
                    pct(f.blocked, f.expected_blocked)
                ),
                format!(
                    "{}/{} {}",
                    f.passed,
                    f.expected_passed,
                    pct(f.passed, f.expected_passed)
                ),
                format!("{}/{}", f.other_met, f.other),
                f.not_run
            )
        };
        for (fam, f) in &self.families {
            s.push_str(&row(fam.to_string(), f));
            total.tests += f.tests;
            total.run += f.run;
            total.expected_blocked += f.expected_blocked;
            total.blocked += f.blocked;
            total.expected_passed += f.expected_passed;
            total.passed += f.passed;
            total.other += f.other;
            total.other_met += f.other_met;
            total.not_run += f.not_run;
        }
        s.push_str(&row("all".into(), &total));
        if !self.not_run.is_empty() {
            // Reasons, grouped: the first words up to the parenthesis say the kind.
            let mut kinds: BTreeMap<String, u64> = BTreeMap::new();
            for why in self.not_run.values() {
                let why = match why.split_once(": ") {
                    Some((stage, rest)) if stage.starts_with("stage ") => rest,
                    _ => why.as_str(),
                };
                let k = why.split(" (").next().unwrap_or(why).trim().to_string();
                *kinds.entry(k).or_default() += 1;
            }
            s.push_str("\nnot run:\n");
            for (k, n) in kinds {
                s.push_str(&format!("  {n:>5}  {k}\n"));
            }
        }
        if let Some(li) = &self.libinjection {
            s.push_str("\nlibinjection payload lists:\n");
            for (g, p) in li {
                let what = if g == "benign" {
                    "passed (false positives: the rest)"
                } else {
                    "blocked (detected)"
                };
                s.push_str(&format!(
                    "  {:<7} {:>3} files {:>6} inputs  {} {}{}\n",
                    g,
                    p.files,
                    p.payloads,
                    pct(p.as_expected, p.payloads),
                    what,
                    if p.no_answer > 0 {
                        format!("; {} without an answer", p.no_answer)
                    } else {
                        String::new()
                    }
                ));
            }
        }
        s.push_str(&format!(
            "\n{} requests in {:.2} s: {:.0} requests/s\n",
            self.requests,
            self.seconds,
            self.requests as f64 / self.seconds.max(1e-9)
        ));
        s
    }
}

pub fn waf_score(args: &WafScoreArgs, out: &mut dyn Write) -> Result<(), String> {
    let crs = args.crs.clone().unwrap_or_else(default_crs);
    let dir = args.tests.clone().unwrap_or_else(|| crs.join("tests"));
    let files = ftw::read_dir(&dir).map_err(|e| e.to_string())?;
    let levels = ftw::paranoia_levels(&crs.join("rules"))
        .map_err(|e| format!("{}: {e}", crs.join("rules").display()))?;
    let (addr, name) = match &args.target {
        Some(url) => (parse_target(url)?, url.clone()),
        None => {
            let origin = start_origin()?;
            let mut config = WafConfig::crs(&crs);
            config.paranoia = args.paranoia;
            (
                start_reference(config, origin)?,
                "the reference WAF (ModSecurity + CRS, in process)".to_string(),
            )
        }
    };
    let s = score(&files, addr, &name, args, &levels)?;
    let total_run: u64 = s.families.values().map(|f| f.run).sum();
    if total_run == 0 && s.libinjection.is_none() {
        return Err(format!(
            "{}: no test could be run ({} not run); nothing was judged",
            dir.display(),
            s.not_run.len()
        ));
    }
    let io = |e: std::io::Error| e.to_string();
    if args.json {
        serde_json::to_writer_pretty(&mut *out, &s).map_err(|e| e.to_string())?;
        writeln!(out).map_err(io)?;
    } else {
        write!(out, "{}", s.table()).map_err(io)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_and_cookies_rewrite_the_request() {
        let r = b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n";
        assert_eq!(
            with_target(r, "http://h/b?x=1"),
            b"GET /b?x=1 HTTP/1.1\r\nHost: h\r\n\r\n"
        );
        assert_eq!(
            with_header(r, "Cookie: s=1"),
            b"GET /a HTTP/1.1\r\nCookie: s=1\r\nHost: h\r\n\r\n"
        );
    }

    #[test]
    fn targets_must_be_http_urls() {
        assert_eq!(
            parse_target("http://127.0.0.1:8080/x").unwrap(),
            "127.0.0.1:8080".parse().unwrap()
        );
        assert!(parse_target("https://x").unwrap_err().contains("http://"));
    }
}
