//! Material nobody here wrote, run through the relay on loopback: OpenSMTPD's session
//! scripts (reply-class agreement), mail-parser's messages and the SMTP sessions inside
//! suricata-verify's captures (each relayed byte-identical, or refused with a reason).
//!
//! The corpus is read in place (`qaqpa_sim::shared` says where); nothing of it is copied into
//! the repository.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::guard::{Baseline, Registry, System};
use crate::loopback::{Sink, start_relay, strip_received, submit};
use crate::relay::Config;
use crate::smtpscript;

/// The shared corpus directory (see `qaqpa_sim::shared` for where it is looked for).
pub fn corpus_dir() -> PathBuf {
    qaqpa_sim::shared::dir().join("corpus")
}

const CLIENT: [u8; 4] = [127, 0, 0, 2];
const SYSTEM_SERVER: [u8; 4] = [127, 0, 0, 9];

fn files(dir: &Path, pred: &dyn Fn(&Path) -> bool, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, pred, out);
        } else if pred(&p) {
            out.push(p);
        }
    }
}

// ------------------------------------------------------------------ OpenSMTPD scripts

#[derive(Debug, Default)]
pub struct ScriptFigures {
    pub file: String,
    pub cases: usize,
    pub cases_agreeing: usize,
    pub checks: usize,
    pub agreeing: usize,
    pub skipped: usize,
    pub disagreements: Vec<String>,
    /// The script could not be read (the error is among `disagreements`).
    pub unreadable: bool,
}

/// Plays every `test.*` script under `dir` against a fresh relay for which `localhost` is
/// a connected domain (OpenSMTPD's scripts mail `…@localhost`), from an external client.
pub async fn opensmtpd(dir: &Path) -> Result<Vec<ScriptFigures>, String> {
    let sink = Sink::default();
    let mx = sink
        .start([127, 0, 0, 3])
        .await
        .map_err(|e| e.to_string())?;
    let registry = Registry {
        systems: vec![System {
            id: "localhost".into(),
            domain: "localhost".into(),
            servers: vec![SYSTEM_SERVER.into()],
            owner: "postmaster@localhost".into(),
            baseline: Baseline::default(),
        }],
    };
    let mut cfg = Config::new("ugem.test", registry);
    cfg.routes.insert("*".into(), mx);
    cfg.system_port = mx.port();
    let pki = crate::tls::TestPki::new("ugem.test")?;
    cfg.tls = Some(pki.server.clone());
    let client_tls = Some((pki.client(), "ugem.test".to_string()));
    let relay = start_relay(cfg, [127, 0, 0, 1], None)
        .await
        .map_err(|e| e.to_string())?;
    let mut paths = Vec::new();
    files(
        dir,
        &|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("test."))
        },
        &mut paths,
    );
    paths.sort();
    let mut out = Vec::new();
    for p in paths {
        let text = std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
        let name = p
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        let mut f = ScriptFigures {
            file: name.clone(),
            ..Default::default()
        };
        // a script that cannot be read is reported (file and line) and the others still run
        let script = match smtpscript::parse(&text, &name) {
            Ok(s) => s,
            Err(e) => {
                f.disagreements.push(format!("unreadable: {e}"));
                f.unreadable = true;
                out.push(f);
                continue;
            }
        };
        for case in &script.cases {
            let o = smtpscript::run_case(&script, case, CLIENT, relay, client_tls.clone()).await;
            f.cases += 1;
            f.skipped += o.skipped;
            let ok = o.checks.iter().all(|c| c.agrees) && o.skipped == 0 && o.note.is_none();
            f.cases_agreeing += usize::from(ok);
            for c in &o.checks {
                f.checks += 1;
                if c.agrees {
                    f.agreeing += 1;
                } else {
                    f.disagreements.push(format!(
                        "{} / `{}`: expected {}, got {}",
                        c.case,
                        c.command,
                        c.expected,
                        c.got
                            .map(|g| if g == 0 {
                                "disconnect".to_string()
                            } else {
                                g.to_string()
                            })
                            .unwrap_or_else(|| "no reply".into())
                    ));
                }
            }
            if let Some(n) = o.note {
                f.disagreements.push(format!("{}: {n}", o.name));
            }
        }
        out.push(f);
    }
    Ok(out)
}

// ------------------------------------------------------------------ messages through the relay

#[derive(Debug, Default)]
pub struct FeedFigures {
    pub source: String,
    pub messages: usize,
    pub intact: usize,
    /// Refusals by reply (code and text).
    pub refused: Vec<(String, String)>,
    /// Relayed, but not byte-identical, or accepted and never delivered.
    pub damaged: Vec<String>,
    /// Sessions whose client never got an answer (the relay hung or died).
    pub crashed: Vec<String>,
}

/// Relays one message from a connected system's server (`CLIENT`, sending for
/// `sender_domain`) to a sink; compares what arrives with what was sent.
async fn relay_one(
    figures: &mut FeedFigures,
    name: &str,
    from: &str,
    rcpts: &[String],
    data: &[u8],
) {
    let sender_domain = crate::wire::domain_of(from).unwrap_or_else(|| "corpus.invalid".into());
    let sink = Sink::default();
    // The sink also stands for the connected system's own server (mail to its own domain).
    let Ok(mx) = sink.start(CLIENT).await else {
        figures.crashed.push(format!("{name}: sink did not start"));
        return;
    };
    let registry = Registry {
        systems: vec![System {
            id: "corpus".into(),
            domain: sender_domain,
            servers: vec![CLIENT.into()],
            owner: "postmaster@corpus.invalid".into(),
            baseline: Baseline {
                messages: 1000,
                recipients: 1000,
            },
        }],
    };
    let mut cfg = Config::new("ugem.test", registry);
    cfg.routes.insert("*".into(), mx);
    cfg.system_port = mx.port();
    cfg.queue_poll = std::time::Duration::from_millis(5);
    let Ok(relay) = start_relay(cfg, [127, 0, 0, 1], None).await else {
        figures.crashed.push(format!("{name}: relay did not start"));
        return;
    };
    figures.messages += 1;
    let rcpts: Vec<String> = if rcpts.is_empty() {
        vec!["nobody@corpus.example".into()]
    } else {
        rcpts.to_vec()
    };
    let sent = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        submit(CLIENT, relay, from, &rcpts, data),
    )
    .await;
    let s = match sent {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            figures
                .crashed
                .push(format!("{name}: session failed: {e:?}"));
            return;
        }
        Err(_) => {
            figures
                .crashed
                .push(format!("{name}: no answer within 30 s"));
            return;
        }
    };
    if !s.accepted {
        figures.refused.push((
            name.to_string(),
            format!("{} at {}: {}", s.last.code, s.stage, s.last.text()),
        ));
        return;
    }
    for _ in 0..400 {
        if !sink.got.borrow().is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let got = sink.got.borrow();
    match got.first() {
        None => figures
            .damaged
            .push(format!("{name}: accepted but not delivered")),
        Some(r) => {
            let body = strip_received(&r.data);
            // A message not ending in a line break gets one on the wire (RFC 5321 4.1.1.4).
            let mut expect = data.to_vec();
            if !expect.is_empty() && !expect.ends_with(b"\n") {
                expect.extend_from_slice(b"\r\n");
            }
            if body == expect.as_slice() {
                figures.intact += 1;
            } else {
                figures.damaged.push(format!(
                    "{name}: delivered {} bytes, sent {}",
                    body.len(),
                    expect.len()
                ));
            }
        }
    }
}

/// mail-parser's RFC, malformed and third-party messages.
pub async fn mail_parser(dir: &Path) -> FeedFigures {
    let mut paths = Vec::new();
    files(
        dir,
        &|p| p.extension().is_some_and(|x| x == "eml"),
        &mut paths,
    );
    paths.sort();
    let mut f = FeedFigures {
        source: "mail-parser/eml".into(),
        ..Default::default()
    };
    for p in paths {
        let Ok(data) = std::fs::read(&p) else {
            continue;
        };
        let name = p.strip_prefix(dir).unwrap_or(&p).display().to_string();
        relay_one(
            &mut f,
            &name,
            "sender@mail-parser.example",
            &["rcpt@external.example".into()],
            &data,
        )
        .await;
    }
    f
}

/// The SMTP transactions inside suricata-verify's captures.
pub async fn suricata(dir: &Path) -> FeedFigures {
    let mut paths = Vec::new();
    files(
        dir,
        &|p| {
            p.extension().is_some_and(|x| x == "pcap" || x == "pcapng")
                && p.parent()
                    .and_then(|d| d.file_name())
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.contains("smtp"))
        },
        &mut paths,
    );
    paths.sort();
    let mut f = FeedFigures {
        source: "suricata-verify SMTP captures".into(),
        ..Default::default()
    };
    for p in paths {
        let name = p.strip_prefix(dir).unwrap_or(&p).display().to_string();
        let Ok(bytes) = std::fs::read(&p) else {
            continue;
        };
        let streams = match crate::pcapsmtp::client_streams(&bytes) {
            Ok(s) => s,
            Err(e) => {
                f.refused.push((name, format!("capture not read: {e}")));
                continue;
            }
        };
        for (si, s) in streams.iter().enumerate() {
            for (ti, t) in crate::pcapsmtp::transactions(s).into_iter().enumerate() {
                let label = format!("{name}#{si}.{ti}");
                if t.truncated {
                    f.messages += 1;
                    f.refused.push((
                        label,
                        "the capture ends inside the message (not replayed)".into(),
                    ));
                    continue;
                }
                relay_one(&mut f, &label, &t.from, &t.rcpts, &t.data).await;
            }
        }
    }
    f
}

pub fn render_scripts(figs: &[ScriptFigures]) -> String {
    let mut s = String::new();
    let (mut c, mut a) = (0, 0);
    for f in figs {
        c += f.checks;
        a += f.agreeing;
        let _ = writeln!(
            s,
            "{:<14} {:>2} cases ({} fully agree), {:>3}/{:<3} reply classes agree, {} not played",
            f.file, f.cases, f.cases_agreeing, f.agreeing, f.checks, f.skipped
        );
        for d in &f.disagreements {
            let _ = writeln!(s, "    {d}");
        }
    }
    let _ = writeln!(
        s,
        "total: {a}/{c} reply classes agree ({:.1} %)",
        100.0 * a as f64 / c.max(1) as f64
    );
    s
}

pub fn render_feed(f: &FeedFigures) -> String {
    let mut s = format!(
        "{}: {} message(s): {} relayed byte-identical, {} refused with a reason, {} damaged, {} crashed/hung\n",
        f.source,
        f.messages,
        f.intact,
        f.refused.len(),
        f.damaged.len(),
        f.crashed.len()
    );
    for (n, r) in &f.refused {
        let _ = writeln!(s, "    refused {n}: {r}");
    }
    for d in f.damaged.iter().chain(&f.crashed) {
        let _ = writeln!(s, "    BAD {d}");
    }
    s
}

/// Runs a future on a current-thread runtime inside a `LocalSet` (the relay is single-threaded).
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    tokio::task::LocalSet::new().block_on(&rt, f)
}
