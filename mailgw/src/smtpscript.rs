//! OpenSMTPD's regress session scripts (`smtpscript` language): procedures and test cases of
//! `writeln "…"`, `expect smtp [ok|helo|permfail|tempfail]`, `expect disconnect`, `call proc`,
//! `starttls`, `repeat N stmt`, `repeat N { … }` and nested blocks (the grammar is below). A
//! runner plays them against an SMTP listener and counts, per expectation, whether the reply
//! class agrees.

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
    /// `repeat N stmt` or `repeat N { … }`: the body N times.
    Repeat(usize, Vec<Stmt>),
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

// The language, as its published description (the smtpscript README: procedures, named
// test cases, `call`, `writeln`, `expect smtp <class>`, comments; "TLS, randomization and
// loops") and the scripts themselves show it. OpenSMTPD's own grammar (parse.y) lives only
// in its regress/ test folder, which is not read here; the forms below are the documented
// ones, and anything else is an error naming the file and line:
//
//   script    := { proc | test-case }
//   proc      := "proc" NAME block
//   test-case := "test-case" [ "name" STRING ] block
//   block     := "{" { stmt } "}"
//   stmt      := "writeln" STRING
//              | "expect" "smtp" [ "ok" | "helo" | "permfail" | "tempfail" ]
//              | "expect" "disconnect"
//              | "call" NAME
//              | "starttls"
//              | "repeat" NUMBER stmt        (a block is a statement)
//              | block
//
// Tokens are separated by white space and line ends alike; `#` starts a comment to the end
// of the line (a `#!` first line included); STRING is double-quoted with the escapes \r
// \n \t \\ \"; NAME is letters, digits and `-_.`.

/// The most a `repeat` may multiply its body by: a script is a test, not a load generator.
const MAX_REPEAT: usize = 10_000;

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    Open,
    Close,
}

fn tokens(text: &str, origin: &str) -> Result<Vec<(Tok, usize)>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let mut chars = line.chars().peekable();
        while let Some(&c) = chars.peek() {
            match c {
                '#' => break,
                c if c.is_whitespace() => {
                    chars.next();
                }
                '{' => {
                    chars.next();
                    out.push((Tok::Open, n));
                }
                '}' => {
                    chars.next();
                    out.push((Tok::Close, n));
                }
                '"' => {
                    chars.next();
                    let mut s = String::new();
                    let mut closed = false;
                    while let Some(c) = chars.next() {
                        match c {
                            '"' => {
                                closed = true;
                                break;
                            }
                            '\\' => match chars.next() {
                                Some('r') => s.push('\r'),
                                Some('n') => s.push('\n'),
                                Some('t') => s.push('\t'),
                                Some('\\') => s.push('\\'),
                                Some('"') => s.push('"'),
                                Some(o) => {
                                    return Err(format!(
                                        "{origin}:{n}: unknown escape `\\{o}` in a string"
                                    ));
                                }
                                None => break,
                            },
                            c => s.push(c),
                        }
                    }
                    if !closed {
                        return Err(format!("{origin}:{n}: a string is not closed on its line"));
                    }
                    out.push((Tok::Str(s), n));
                }
                _ => {
                    let mut w = String::new();
                    while let Some(&c) = chars.peek() {
                        if c.is_whitespace() || matches!(c, '{' | '}' | '"' | '#') {
                            break;
                        }
                        w.push(c);
                        chars.next();
                    }
                    if !w
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                    {
                        return Err(format!("{origin}:{n}: unexpected `{w}`"));
                    }
                    out.push((Tok::Word(w), n));
                }
            }
        }
    }
    Ok(out)
}

struct Parser<'a> {
    toks: Vec<(Tok, usize)>,
    at: usize,
    origin: &'a str,
    /// Calls to check once every procedure is known: (procedure, line).
    calls: Vec<(String, usize)>,
}

impl Parser<'_> {
    fn line(&self) -> usize {
        self.toks
            .get(self.at)
            .or(self.toks.last())
            .map_or(0, |t| t.1)
    }
    fn err(&self, msg: impl std::fmt::Display) -> String {
        format!("{}:{}: {msg}", self.origin, self.line())
    }
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at).map(|t| &t.0)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.at).map(|t| t.0.clone());
        self.at += 1;
        t
    }
    fn word(&mut self, what: &str) -> Result<String, String> {
        match self.peek() {
            Some(Tok::Word(w)) => {
                let w = w.clone();
                self.at += 1;
                Ok(w)
            }
            Some(t) => Err(self.err(format!("expected {what}, found {}", show(t)))),
            None => Err(self.err(format!("expected {what}, found the end of the script"))),
        }
    }
    fn string(&mut self, what: &str) -> Result<String, String> {
        match self.peek() {
            Some(Tok::Str(s)) => {
                let s = s.clone();
                self.at += 1;
                Ok(s)
            }
            Some(t) => Err(self.err(format!(
                "expected {what} (a quoted string), found {}",
                show(t)
            ))),
            None => Err(self.err(format!("expected {what}, found the end of the script"))),
        }
    }

    fn block(&mut self) -> Result<Vec<Stmt>, String> {
        match self.next() {
            Some(Tok::Open) => {}
            Some(t) => {
                self.at -= 1;
                return Err(self.err(format!("expected `{{`, found {}", show(&t))));
            }
            None => return Err(self.err("expected `{`, found the end of the script")),
        }
        let mut body = Vec::new();
        loop {
            match self.peek() {
                Some(Tok::Close) => {
                    self.at += 1;
                    return Ok(body);
                }
                None => return Err(self.err("a block is not closed: `}` expected")),
                _ => self.stmt(&mut body)?,
            }
        }
    }

    fn stmt(&mut self, body: &mut Vec<Stmt>) -> Result<(), String> {
        if self.peek() == Some(&Tok::Open) {
            let inner = self.block()?;
            body.extend(inner);
            return Ok(());
        }
        let at = self.line();
        let w = self.word("a statement")?;
        match w.as_str() {
            "writeln" => body.push(Stmt::Writeln(self.string("the line to write")?)),
            "expect" => match self.word("`smtp` or `disconnect` after `expect`")?.as_str() {
                "smtp" => {
                    let class = match self.peek() {
                        Some(Tok::Word(c))
                            if matches!(c.as_str(), "ok" | "helo" | "permfail" | "tempfail") =>
                        {
                            let c = c.clone();
                            self.at += 1;
                            Some(c)
                        }
                        _ => None,
                    };
                    body.push(Stmt::ExpectSmtp(class));
                }
                "disconnect" => body.push(Stmt::ExpectDisconnect),
                other => {
                    self.at -= 1;
                    return Err(self.err(format!(
                        "expected `smtp` or `disconnect` after `expect`, found `{other}`"
                    )));
                }
            },
            "call" => {
                let p = self.word("a procedure's name")?;
                self.calls.push((p.clone(), at));
                body.push(Stmt::Call(p));
            }
            "starttls" => body.push(Stmt::StartTls),
            "repeat" => {
                let k = self.word("a count after `repeat`")?;
                let n: usize = k.parse().map_err(|_| {
                    self.at -= 1;
                    self.err(format!("`repeat` needs a count, found `{k}`"))
                })?;
                if n > MAX_REPEAT {
                    self.at -= 1;
                    return Err(self.err(format!("`repeat {n}`: at most {MAX_REPEAT}")));
                }
                let mut inner = Vec::new();
                if self.peek().is_none() || self.peek() == Some(&Tok::Close) {
                    return Err(self.err("`repeat` needs a statement or a block to repeat"));
                }
                self.stmt(&mut inner)?;
                body.push(Stmt::Repeat(n, inner));
            }
            other => {
                self.at -= 1;
                return Err(self.err(format!("unknown statement `{other}`")));
            }
        }
        Ok(())
    }
}

fn show(t: &Tok) -> String {
    match t {
        Tok::Word(w) => format!("`{w}`"),
        Tok::Str(s) => format!("the string \"{s}\""),
        Tok::Open => "`{`".into(),
        Tok::Close => "`}`".into(),
    }
}

/// Parses a script; an error names `origin` and the line. Procedures may be defined after
/// their callers; a call of an unknown procedure, or a procedure that calls itself
/// (directly or not), is an error.
pub fn parse(text: &str, origin: &str) -> Result<Script, String> {
    let mut p = Parser {
        toks: tokens(text, origin)?,
        at: 0,
        origin,
        calls: Vec::new(),
    };
    let mut script = Script::default();
    let mut proc_lines = BTreeMap::new();
    while let Some(t) = p.peek().cloned() {
        let line = p.line();
        match t {
            Tok::Word(w) if w == "proc" => {
                p.at += 1;
                let name = p.word("a procedure's name")?;
                let body = p.block()?;
                if script.procs.insert(name.clone(), body).is_some() {
                    return Err(format!("{origin}:{line}: procedure `{name}` defined twice"));
                }
                proc_lines.insert(name, line);
            }
            Tok::Word(w) if w == "test-case" => {
                p.at += 1;
                let name = if p.peek() == Some(&Tok::Word("name".into())) {
                    p.at += 1;
                    p.string("the test case's name")?
                } else {
                    format!("line {line}")
                };
                let body = p.block()?;
                script.cases.push(Case { name, line, body });
            }
            other => {
                return Err(p.err(format!(
                    "expected `test-case` or `proc NAME`, found {}",
                    show(&other)
                )));
            }
        }
    }
    for (name, line) in &p.calls {
        if !script.procs.contains_key(name) {
            return Err(format!("{origin}:{line}: `call {name}`: no such procedure"));
        }
    }
    for (name, line) in &proc_lines {
        if calls_itself(&script, name, name, 0) {
            return Err(format!("{origin}:{line}: procedure `{name}` calls itself"));
        }
    }
    Ok(script)
}

fn calls_itself(script: &Script, target: &str, current: &str, depth: usize) -> bool {
    fn calls(body: &[Stmt], out: &mut Vec<String>) {
        for s in body {
            match s {
                Stmt::Call(p) => out.push(p.clone()),
                Stmt::Repeat(_, b) => calls(b, out),
                _ => {}
            }
        }
    }
    if depth > script.procs.len() {
        return false;
    }
    let mut callees = Vec::new();
    calls(
        script.procs.get(current).map_or(&[][..], Vec::as_slice),
        &mut callees,
    );
    callees
        .iter()
        .any(|c| c == target || calls_itself(script, target, c, depth + 1))
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

fn flatten(script: &Script, body: &[Stmt], out: &mut Vec<Stmt>) {
    for s in body {
        match s {
            // the parser has checked that every procedure exists and none calls itself
            Stmt::Call(p) => {
                if let Some(b) = script.procs.get(p) {
                    flatten(script, b, out);
                }
            }
            Stmt::Repeat(n, b) => {
                for _ in 0..*n {
                    flatten(script, b, out);
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
    flatten(script, &case.body, &mut stmts);
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
            Stmt::Call(_) | Stmt::Repeat(..) => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat(script: &Script, case: usize) -> Vec<Stmt> {
        let mut out = Vec::new();
        flatten(script, &script.cases[case].body, &mut out);
        out
    }

    #[test]
    fn the_documented_forms() {
        let text = r#"#!/usr/bin/env smtpscript
# a procedure every case calls
proc init-helo {
    expect smtp ok
    writeln "HELO regress"
    expect smtp helo
}

test-case name "mailfrom.empty" {
    call init-helo
    writeln "MAIL FROM:<>"   # trailing comment
    expect smtp ok
}

test-case {
    call later
    repeat 2 writeln "NOOP"
    repeat 3 {
        writeln "RSET"
        expect smtp ok
        repeat 2 { writeln "NOOP" expect smtp }
    }
    { starttls }
    writeln "QUIT \"now\"\r"
    expect disconnect
}

proc later { writeln "EHLO x" expect smtp helo }
"#;
        let s = parse(text, "t.script").unwrap();
        assert_eq!(s.cases.len(), 2);
        assert_eq!(s.cases[0].name, "mailfrom.empty");
        assert_eq!(s.cases[1].name, "line 15");
        let a = flat(&s, 0);
        assert_eq!(
            a,
            vec![
                Stmt::ExpectSmtp(Some("ok".into())),
                Stmt::Writeln("HELO regress".into()),
                Stmt::ExpectSmtp(Some("helo".into())),
                Stmt::Writeln("MAIL FROM:<>".into()),
                Stmt::ExpectSmtp(Some("ok".into())),
            ]
        );
        let b = flat(&s, 1);
        // EHLO + helo, 2 NOOP, 3 × (RSET, ok, 2 × (NOOP, any)), STARTTLS, QUIT, disconnect
        assert_eq!(b.len(), 2 + 2 + 3 * (2 + 2 * 2) + 1 + 2);
        assert_eq!(b[0], Stmt::Writeln("EHLO x".into()));
        assert_eq!(b[4], Stmt::Writeln("RSET".into()));
        assert_eq!(b[7], Stmt::ExpectSmtp(None));
        assert_eq!(b[b.len() - 3], Stmt::StartTls);
        assert_eq!(b[b.len() - 2], Stmt::Writeln("QUIT \"now\"\r".into()));
    }

    #[test]
    fn what_it_cannot_read_is_an_error_naming_the_file_and_line() {
        let cases = [
            (
                "test-case {\n  writeln \"x\"\n  randomize 3\n}\n",
                "f:3: unknown statement `randomize`",
            ),
            (
                "test-case {\n  writeln \"x\"\n",
                "f:2: a block is not closed",
            ),
            (
                "test-case {\n writeln \"x\n}\n",
                "f:2: a string is not closed",
            ),
            (
                "test-case {\n call nowhere\n}\n",
                "f:2: `call nowhere`: no such procedure",
            ),
            (
                "proc a { call b }\nproc b {\n call a\n}\n",
                "f:1: procedure `a` calls itself",
            ),
            (
                "test-case {\n repeat many writeln \"x\"\n}\n",
                "f:2: `repeat` needs a count",
            ),
            (
                "test-case {\n repeat 3\n}\n",
                "f:3: `repeat` needs a statement",
            ),
            (
                "test-case {\n expect reply ok\n}\n",
                "f:2: expected `smtp` or `disconnect`",
            ),
            (
                "writeln \"x\"\n",
                "f:1: expected `test-case` or `proc NAME`",
            ),
            ("test-case {\n writeln \"a\\q\"\n}\n", "f:2: unknown escape"),
            (
                "proc p { }\nproc p { }\n",
                "f:2: procedure `p` defined twice",
            ),
            (
                "test-case {\n repeat 99999 writeln \"x\"\n}\n",
                "f:2: `repeat 99999`: at most",
            ),
        ];
        for (text, want) in cases {
            let e = parse(text, "f").unwrap_err();
            assert!(e.starts_with(want), "{text:?}: {e}");
        }
    }

    /// The scripts the corpus ships all read (the runner's own test plays them).
    #[test]
    fn the_corpus_scripts_read() {
        let dir = crate::corpus::corpus_dir().join("opensmtpd/regress/smtp");
        let mut n = 0;
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            let text = std::fs::read_to_string(&p).unwrap();
            let s = parse(&text, &p.display().to_string()).unwrap();
            n += s.cases.len();
        }
        assert!(n >= 40, "{n} cases");
    }
}
