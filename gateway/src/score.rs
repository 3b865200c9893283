//! Scores the classifier against a third party: nDPI's expected per-flow results shipped
//! with the corpus captures (`X.pcap.flows.jsonl`), read as the harness reads them
//! ([`qaqpa_sim::ndpi`]). Flows match on the unordered 5-tuple.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use qaqpa_sim::ndpi::{self, NdpiFlow};

use crate::dataplane::capture;
use crate::dataplane::packet::{Addr, from_ip};
use crate::dataplane::sigs::Class;
use crate::dataplane::{Config, Engine, FlowRecord, Policy, Signatures};

/// The classes scored: the ones ureq-134-1 blocks by name.
pub const SCORED: [Class; 5] = [
    Class::Vpn,
    Class::RemoteAccess,
    Class::P2p,
    Class::Game,
    Class::Malicious,
];

/// Whether nDPI read the name from a TLS, DTLS or QUIC ClientHello.
pub fn sni_expected(f: &NdpiFlow) -> Option<&str> {
    match f.master() {
        "TLS" | "DTLS" | "QUIC" => f.sni.as_deref().filter(|s| !s.is_empty()),
        _ => None,
    }
}

fn endpoint(s: &str) -> Option<(Addr, u16)> {
    let (ip, port) = ndpi::endpoint(s)?;
    Some((from_ip(ip), port))
}

type Tuple = (Addr, u16, Addr, u16, u8);

fn tuple(a: (Addr, u16), b: (Addr, u16), proto: u8) -> Tuple {
    let (a, b) = if a <= b { (a, b) } else { (b, a) };
    let ports = matches!(proto, 6 | 17);
    if ports {
        (a.0, a.1, b.0, b.1, proto)
    } else {
        (a.0, 0, b.0, 0, proto)
    }
}

#[derive(Debug, Clone, Default)]
pub struct Counts {
    pub tp: u64,
    pub fp: u64,
    pub fn_: u64,
}

impl Counts {
    pub fn precision(&self) -> Option<f64> {
        let d = self.tp + self.fp;
        (d > 0).then(|| self.tp as f64 / d as f64)
    }
    pub fn recall(&self) -> Option<f64> {
        let d = self.tp + self.fn_;
        (d > 0).then(|| self.tp as f64 / d as f64)
    }
}

#[derive(Debug, Clone, Default)]
pub struct Score {
    pub captures: usize,
    pub flows_scored: u64,
    pub dont_care: u64,
    pub unmatched: u64,
    pub per_class: BTreeMap<Class, Counts>,
    pub sni_total: u64,
    pub sni_exact: u64,
    pub errors: Vec<String>,
    /// (capture, nDPI flow, truth, ours, our app) for every disagreement on a scored class.
    pub misses: Vec<String>,
}

impl Score {
    pub fn sni_rate(&self) -> Option<f64> {
        (self.sni_total > 0).then(|| self.sni_exact as f64 / self.sni_total as f64)
    }

    pub fn table(&self) -> String {
        let f = |x: Option<f64>| x.map(|v| format!("{v:.3}")).unwrap_or_else(|| "-".into());
        let mut s = String::new();
        s.push_str(&format!(
            "captures {}, flows scored {}, don't-care {}, unmatched {}\n\n",
            self.captures, self.flows_scored, self.dont_care, self.unmatched
        ));
        s.push_str("| class | nDPI flows | ours | TP | FP | FN | precision | recall |\n|---|---:|---:|---:|---:|---:|---:|---:|\n");
        for c in SCORED {
            let k = self.per_class.get(&c).cloned().unwrap_or_default();
            s.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
                c.as_str(),
                k.tp + k.fn_,
                k.tp + k.fp,
                k.tp,
                k.fp,
                k.fn_,
                f(k.precision()),
                f(k.recall())
            ));
        }
        s.push_str(&format!(
            "\nSNI exact match: {}/{} = {}\n",
            self.sni_exact,
            self.sni_total,
            f(self.sni_rate())
        ));
        s
    }
}

/// The user's lists nDPI's expected results were made with (`ndpiReader -c categories.txt
/// -S sha1_fingerprints.csv -j ja3_fingerprints.csv`, `_context/tests/do.sh.in`), those
/// present under `dir/_context/example`. The `-G` list folder and `-p protos.txt` are not
/// among them: the former is not shipped with the corpus, the latter names nDPI's own
/// protocols.
pub fn context_lists(dir: &Path) -> Vec<PathBuf> {
    [
        "categories.txt",
        "sha1_fingerprints.csv",
        "ja3_fingerprints.csv",
    ]
    .iter()
    .map(|f| dir.join("_context/example").join(f))
    .filter(|p| p.is_file())
    .collect()
}

/// The corpus captures with nDPI results under `dir` (sorted; `_context` skipped).
pub fn captures(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    fn walk(d: &Path, out: &mut Vec<PathBuf>) {
        let Ok(rd) = std::fs::read_dir(d) else { return };
        for e in rd.flatten() {
            let p = e.path();
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if p.is_dir() {
                if !name.starts_with('_') {
                    walk(&p, out);
                }
            } else if (name.ends_with(".pcap") || name.ends_with(".pcapng"))
                && p.with_file_name(format!("{name}.flows.jsonl")).is_file()
            {
                out.push(p);
            }
        }
    }
    walk(dir, &mut out);
    out.sort();
    out
}

/// Replays one capture through a fresh engine with the default policy.
pub fn replay(path: &Path, sigs: &Signatures) -> Result<Vec<FlowRecord>, String> {
    let cap = capture::read(path).map_err(|e| e.to_string())?;
    let mut e = Engine::new(
        sigs.clone(),
        Policy::new(sigs),
        Config {
            max_flows: 1 << 16,
            ..Config::default()
        },
    );
    for (ts, link, frame) in cap.iter() {
        e.process(ts, link, frame);
    }
    Ok(e.finish())
}

/// Scores the classifier on every capture under `dir`.
pub fn score(dir: &Path, sigs: &Signatures) -> Score {
    let mut s = Score::default();
    for path in captures(dir) {
        let name = path
            .strip_prefix(dir)
            .unwrap_or(&path)
            .display()
            .to_string();
        let records = match replay(&path, sigs) {
            Ok(r) => r,
            Err(e) => {
                s.errors.push(e);
                continue;
            }
        };
        s.captures += 1;
        let mut ours: BTreeMap<Tuple, &FlowRecord> = BTreeMap::new();
        for r in &records {
            let t = tuple((r.client, r.cport), (r.server, r.sport), r.proto);
            // several flows of one tuple (expired and reopened): the first decided wins
            ours.entry(t).or_insert(r);
        }
        let jsonl = path.with_file_name(format!(
            "{}.flows.jsonl",
            path.file_name().and_then(|n| n.to_str()).unwrap_or("")
        ));
        let Ok(text) = std::fs::read_to_string(&jsonl) else {
            s.errors.push(format!("{}: cannot read", jsonl.display()));
            continue;
        };
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let Ok(f) = serde_json::from_str::<NdpiFlow>(line) else {
                s.errors.push(format!("{}: bad line", jsonl.display()));
                continue;
            };
            let (Some(a), Some(b)) = (endpoint(&f.src), endpoint(&f.dst)) else {
                continue;
            };
            let t = tuple(a, b, f.ip_proto());
            let mine = ours.get(&t).copied();
            if let Some(want) = sni_expected(&f) {
                s.sni_total += 1;
                let got = mine.and_then(|r| r.sni.then_some(r.name.as_deref()).flatten());
                if got.is_some_and(|g| g.eq_ignore_ascii_case(want)) {
                    s.sni_exact += 1;
                } else {
                    s.misses.push(format!(
                        "{name}: SNI {} {} {}: nDPI `{want}`, ours {:?}",
                        f.l4, f.src, f.dst, got
                    ));
                }
            }
            let Some(truth) = f.class() else {
                s.dont_care += 1;
                continue;
            };
            s.flows_scored += 1;
            let truth = Class::parse(truth).unwrap_or(Class::Other);
            let pred = match mine {
                Some(r) => r.class,
                None => {
                    s.unmatched += 1;
                    Class::Other
                }
            };
            for c in SCORED {
                let k = s.per_class.entry(c).or_default();
                match (truth == c, pred == c) {
                    (true, true) => k.tp += 1,
                    (false, true) => k.fp += 1,
                    (true, false) => k.fn_ += 1,
                    _ => {}
                }
            }
            if truth != pred && (SCORED.contains(&truth) || SCORED.contains(&pred)) {
                s.misses.push(format!(
                    "{name}: {} {} {} nDPI {} {:?} → {}, ours {} ({} {:?})",
                    f.l4,
                    f.src,
                    f.dst,
                    f.proto,
                    f.category,
                    truth.as_str(),
                    pred.as_str(),
                    mine.map(|r| r.app).unwrap_or("unmatched"),
                    mine.and_then(|r| r.name.clone())
                ));
            }
        }
    }
    s
}
