//! OpenSMTPD's regress session scripts (`smtpscript` language): `test-case { … }` blocks of
//! `writeln "…"`, `expect smtp [ok|helo|permfail|tempfail]`, `expect disconnect`, `call proc`,
//! `starttls`. A runner plays them against an SMTP listener and counts, per expectation,
//! whether the reply class agrees.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use crate::loopback::connect_from;
use crate::wire::{BoxIo, LineError, LineReader, read_reply};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stmt {
    Writeln(String),
    ExpectSmtp(Option<String>),
    ExpectDisconnect,
    Call(String),
    StartTls,
    Other(String),
}

#[derive(Debug, Clone)]
pub struct Case {
    pub name: String,
    pub line: usize,
    pub body: Vec<Stmt>,
}

#[derive(Debug, Default)]
pub struct Script {
    pub procs: BTreeMap<String, Vec<Stmt>>,
    pub cases: Vec<Case>,
}

fn unquote(s: &str) -> String {
    let s = s.trim();
    let inner = s
        .strip_prefix('"')
        .and_then(|x| x.strip_suffix('"'))
        .unwrap_or(s);
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('r') => out.push('\r'),
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some(o) => out.push(o),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn statement(line: &str) -> Result<Stmt, String> {
    let (word, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    Ok(match word {
        "writeln" => Stmt::Writeln(unquote(rest)),
        "expect" => {
            let mut w = rest.split_whitespace();
            match w.next() {
                Some("smtp") => Stmt::ExpectSmtp(w.next().map(str::to_string)),
                Some("disconnect") => Stmt::ExpectDisconnect,
                _ => return Err(format!("unknown expectation `{rest}`")),
            }
        }
        "call" => Stmt::Call(rest.trim().to_string()),
        "starttls" => Stmt::StartTls,
        _ => Stmt::Other(line.to_string()),
    })
}

/// Parses a script; errors name the line.
pub fn parse(text: &str, origin: &str) -> Result<Script, String> {
    let mut script = Script::default();
    let mut current: Option<(bool, String, usize, Vec<Stmt>)> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let n = i + 1;
        if let Some((is_proc, name, at, body)) = current.as_mut() {
            if line == "}" {
                let body = std::mem::take(body);
                if *is_proc {
                    script.procs.insert(name.clone(), body);
                } else {
                    script.cases.push(Case {
                        name: name.clone(),
                        line: *at,
                        body,
                    });
                }
                current = None;
                continue;
            }
            let (times, line) = match line.strip_prefix("repeat ") {
                Some(r) => {
                    let (k, rest) = r.trim().split_once(char::is_whitespace).unwrap_or((r, ""));
                    let k: usize = k.parse().map_err(|_| {
                        format!("{origin}:{n}: `repeat` needs a count, found `{k}`")
                    })?;
                    (k, rest.trim())
                }
                None => (1, line),
            };
            let stmt = statement(line).map_err(|e| format!("{origin}:{n}: {e}"))?;
            for _ in 1..times {
                body.push(stmt.clone());
            }
            body.push(stmt);
            continue;
        }
        let Some(head) = line.strip_suffix('{') else {
            return Err(format!(
                "{origin}:{n}: expected `test-case {{` or `proc NAME {{`, found `{line}`"
            ));
        };
        let head = head.trim();
        if let Some(name) = head.strip_prefix("proc ") {
            current = Some((true, name.trim().to_string(), n, Vec::new()));
        } else if let Some(rest) = head.strip_prefix("test-case") {
            let name = rest
                .trim()
                .strip_prefix("name")
                .map(unquote)
                .unwrap_or_else(|| format!("line {n}"));
            current = Some((false, name, n, Vec::new()));
        } else {
            return Err(format!("{origin}:{n}: unknown block `{head}`"));
        }
    }
    if current.is_some() {
        return Err(format!("{origin}: a block is not closed"));
    }
    Ok(script)
}

/// One expectation's outcome.
#[derive(Debug, Clone)]
pub struct Check {
    pub case: String,
    pub command: String,
    pub expected: String,
    /// The reply code, or 0 for a disconnect, or `None` if it timed out.
    pub got: Option<u16>,
    pub agrees: bool,
}

#[derive(Debug, Default)]
pub struct CaseOutcome {
    pub name: String,
    pub checks: Vec<Check>,
    /// Expectations not played: the case stopped at a disagreement, or needed TLS.
    pub skipped: usize,
    pub note: Option<String>,
}

fn class_agrees(expected: Option<&str>, code: u16) -> bool {
    match expected {
        None => true,
        Some("ok") => matches!(code / 100, 2 | 3),
        Some("helo") => code / 100 == 2,
        Some("permfail") => code / 100 == 5,
        Some("tempfail") => code / 100 == 4,
        Some(_) => false,
    }
}

fn flatten(script: &Script, body: &[Stmt], out: &mut Vec<Stmt>, depth: usize) {
    for s in body {
        match s {
            Stmt::Call(p) if depth < 8 => {
                if let Some(b) = script.procs.get(p) {
                    flatten(script, b, out, depth + 1);
                }
            }
            other => out.push(other.clone()),
        }
    }
}

/// Plays one case against `server`, connecting from `src`; `tls` (the client side, and the
/// server's name) lets `starttls` upgrade the session.
pub async fn run_case(
    script: &Script,
    case: &Case,
    src: [u8; 4],
    server: SocketAddr,
    tls: Option<(std::sync::Arc<rustls::ClientConfig>, String)>,
) -> CaseOutcome {
    let mut stmts = Vec::new();
    flatten(script, &case.body, &mut stmts, 0);
    let mut out = CaseOutcome {
        name: case.name.clone(),
        ..Default::default()
    };
    let expects = |s: &[Stmt]| {
        s.iter()
            .filter(|x| matches!(x, Stmt::ExpectSmtp(_) | Stmt::ExpectDisconnect))
            .count()
    };
    let Ok(c) = connect_from(src, server).await else {
        out.skipped = expects(&stmts);
        out.note = Some("no connection".into());
        return out;
    };
    let mut c: LineReader<BoxIo> = LineReader::new(Box::new(c.into_inner()));
    let t = Duration::from_secs(5);
    let mut last_cmd = "(connect)".to_string();
    for (i, s) in stmts.iter().enumerate() {
        match s {
            Stmt::Writeln(l) => {
                last_cmd = l.clone();
                if c.write(format!("{l}\r\n").as_bytes()).await.is_err() {
                    out.skipped = expects(&stmts[i..]);
                    out.note = Some("connection closed before a write".into());
                    return out;
                }
            }
            Stmt::ExpectSmtp(class) => {
                let got = match read_reply(&mut c, t).await {
                    Ok(r) => Some(r.code),
                    Err(LineError::Eof) => Some(0),
                    Err(_) => None,
                };
                let agrees = got.is_some_and(|g| g != 0 && class_agrees(class.as_deref(), g));
                out.checks.push(Check {
                    case: case.name.clone(),
                    command: last_cmd.clone(),
                    expected: class.clone().unwrap_or_else(|| "any reply".into()),
                    got,
                    agrees,
                });
                if !agrees {
                    out.skipped = expects(&stmts[i + 1..]);
                    return out;
                }
            }
            Stmt::ExpectDisconnect => {
                let got = match read_reply(&mut c, t).await {
                    Err(LineError::Eof) | Err(LineError::Io(_)) => Some(0),
                    Ok(r) => Some(r.code),
                    Err(_) => None,
                };
                out.checks.push(Check {
                    case: case.name.clone(),
                    command: last_cmd.clone(),
                    expected: "disconnect".into(),
                    got,
                    agrees: got == Some(0),
                });
            }
            Stmt::StartTls => {
                let Some((cfg, name)) = tls.clone() else {
                    out.skipped = expects(&stmts[i + 1..]);
                    out.note = Some("needs TLS, and no client configuration was given".into());
                    return out;
                };
                let Ok(server_name) = rustls::pki_types::ServerName::try_from(name) else {
                    out.note = Some("bad TLS server name".into());
                    return out;
                };
                let connector = tokio_rustls::TlsConnector::from(cfg);
                match connector.connect(server_name, c.into_inner()).await {
                    Ok(s) => c = LineReader::new(Box::new(s)),
                    Err(e) => {
                        out.skipped = expects(&stmts[i + 1..]);
                        out.note = Some(format!("TLS handshake failed: {e}"));
                        return out;
                    }
                }
            }
            Stmt::Call(_) | Stmt::Other(_) => {}
        }
    }
    out
}
