//! Coverage from the catalogue, not from the sample: every protocol nDPI knows in a category
//! the rules block (VPN, remote access, games, peer-to-peer file sharing, mining) has a
//! recogniser here, proven on a flow generated from its published grammar, or an exception
//! with its reason in `gateway/data/catalogue-exceptions.tsv`. Then every recogniser is
//! shown its near misses: random bytes of the same lengths, the next protocol's opening,
//! the same bytes on other ports.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use qaqpa_gateway::dataplane::protocols::grammar::{self, Rng, Sample, classify};
use qaqpa_gateway::dataplane::{Class, Signatures};

fn catalogue_dir() -> PathBuf {
    std::env::var_os("QAQPA_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared"))
        .join("corpus/ndpi/_context/catalogue")
}

/// The policy class a blocked catalogue category maps to; `None`: not a blocked category.
fn class_of(category: &str) -> Option<Class> {
    Some(match category {
        "VPN" => Class::Vpn,
        "REMOTE_ACCESS" => Class::RemoteAccess,
        "GAME" => Class::Game,
        "DOWNLOAD_FT" => Class::P2p,
        // nDPI's Mining category: the rules' malicious software and resources
        "MINING" => Class::Malicious,
        _ => return None,
    })
}

struct Row {
    name: String,
    category: String,
    dissectors: String,
}

fn tsv(path: &PathBuf) -> Vec<(usize, Vec<String>)> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|(i, l)| (i + 1, l.split('\t').map(str::to_owned).collect()))
        .collect()
}

fn protocols() -> Vec<Row> {
    let path = catalogue_dir().join("protocols.tsv");
    let rows = tsv(&path);
    assert_eq!(rows[0].1[0], "name", "{}: a header line", path.display());
    rows.into_iter()
        .skip(1)
        .map(|(line, f)| {
            assert!(
                f.len() >= 6,
                "{}:{line}: expected 7 columns",
                path.display()
            );
            Row {
                name: f[0].clone(),
                category: f[1].clone(),
                dissectors: f[5].clone(),
            }
        })
        .collect()
}

/// `gateway/data/catalogue-exceptions.tsv`: protocol and reason.
fn exceptions() -> BTreeMap<String, String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/catalogue-exceptions.tsv");
    let mut out = BTreeMap::new();
    for (line, f) in tsv(&path) {
        assert!(
            f.len() == 2 && !f[0].is_empty() && f[1].trim().len() > 20,
            "{}:{line}: expected `protocol<TAB>reason` with the reason spelled out",
            path.display()
        );
        assert!(
            out.insert(f[0].clone(), f[1].clone()).is_none(),
            "{}:{line}: `{}` listed twice",
            path.display(),
            f[0]
        );
    }
    out
}

/// nDPI's host-name patterns per protocol (`hosts.tsv`).
fn host_patterns() -> BTreeMap<String, Vec<String>> {
    let path = catalogue_dir().join("hosts.tsv");
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (_, f) in tsv(&path).into_iter().skip(1) {
        out.entry(f[1].clone()).or_default().push(f[0].clone());
    }
    out
}

const SEEDS: [u64; 4] = [1, 2, 3, 0x5eed];

#[test]
fn every_protocol_of_the_blocked_categories_is_recognised_or_excepted() {
    let sigs = Signatures::builtin();
    let exc = exceptions();
    let hosts = host_patterns();
    let by_seed: Vec<Vec<Sample>> = SEEDS.iter().map(|&s| grammar::catalogue(s)).collect();
    let mut gaps = Vec::new();
    let mut covered: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut blocked = BTreeSet::new();
    for row in protocols() {
        let Some(want) = class_of(&row.category) else {
            continue;
        };
        blocked.insert(row.name.clone());
        let tally = covered.entry(row.category.clone()).or_default();
        tally.1 += 1;
        if exc.contains_key(&row.name) {
            continue;
        }
        if row.dissectors == "-" {
            // nDPI itself knows it by host names only: so must the lists
            let patterns: Vec<&String> = hosts
                .get(&row.name)
                .map(|v| v.iter().filter(|p| !p.ends_with('.')).collect())
                .unwrap_or_default();
            if patterns.is_empty() {
                gaps.push(format!(
                    "{}: names only, and no whole host name to list",
                    row.name
                ));
                continue;
            }
            for p in patterns {
                if exc.contains_key(&format!("{}:{p}", row.name)) {
                    continue;
                }
                let got = sigs.name(p.as_bytes()).class;
                if got != Some(want) {
                    gaps.push(format!(
                        "{}: host `{p}` is {got:?} in the lists, not {want:?}",
                        row.name
                    ));
                }
            }
            tally.0 += 1;
            continue;
        }
        let mut found = false;
        for (seed, samples) in SEEDS.iter().zip(&by_seed) {
            for s in samples.iter().filter(|s| s.ndpi == row.name) {
                found = true;
                assert_eq!(s.class, want, "{}: the generator's class", row.name);
                let d = s.detect(&sigs);
                if d.class != Some(want) || d.app != s.app {
                    gaps.push(format!(
                        "{} (seed {seed}): generated flow classified {:?} `{}`, want {want:?} `{}`",
                        row.name, d.class, d.app, s.app
                    ));
                }
            }
        }
        if found {
            tally.0 += 1;
        } else {
            gaps.push(format!(
                "{} ({}, dissector {}): no recogniser and no exception",
                row.name, row.category, row.dissectors
            ));
        }
    }
    for name in exc.keys() {
        // `Protocol:host` excepts one host pattern of a protocol known by names
        let proto = name.split(':').next().unwrap_or(name);
        if !blocked.contains(proto) {
            gaps.push(format!(
                "exception `{name}` names no protocol of a blocked category"
            ));
        }
    }
    for (cat, (n, total)) in &covered {
        println!("{cat}: {n} of {total} recognised");
    }
    assert!(gaps.is_empty(), "{}", gaps.join("\n"));
    // the catalogue has these categories: an empty walk proves nothing
    assert!(covered.len() == 5 && covered.values().map(|c| c.1).sum::<usize>() >= 60);
}

fn all_samples(seed: u64) -> Vec<Sample> {
    let mut v = grammar::catalogue(seed);
    v.extend(grammar::tunnels(seed));
    v
}

#[test]
fn every_generated_flow_is_recognised_and_its_near_misses_are_not() {
    let sigs = Signatures::builtin();
    let mut failures = Vec::new();
    for seed in SEEDS {
        let samples = all_samples(seed);
        let mut rng = Rng::new(seed ^ 0xdead_beef);
        for (k, s) in samples.iter().enumerate() {
            let d = s.detect(&sigs);
            if d.class != Some(s.class) || d.app != s.app {
                failures.push(format!(
                    "{} (seed {seed}): {:?} `{}`",
                    s.ndpi, d.class, d.app
                ));
            }
            // random bytes of the same lengths, directions and port
            if s.app != "fully-encrypted" {
                let noise: Vec<(bool, Vec<u8>)> = s
                    .packets
                    .iter()
                    .map(|(c, b)| (*c, rng.bytes(b.len())))
                    .collect();
                let d = classify(s.proto, 49152, s.port, &noise, &sigs);
                if d.app == s.app {
                    failures.push(format!(
                        "{} (seed {seed}): random bytes of its lengths match",
                        s.ndpi
                    ));
                }
            }
            // the next protocol's opening on this protocol's port
            let next = &samples[(k + 1) % samples.len()];
            if next.app != s.app && next.proto == s.proto {
                let d = classify(s.proto, 49152, s.port, &next.packets, &sigs);
                if d.app == s.app {
                    failures.push(format!(
                        "{} (seed {seed}): {}'s flow matches it",
                        s.ndpi, next.ndpi
                    ));
                }
            }
            // the same bytes on other ports: the port never decides on its own; where the
            // port is part of a weak signature, elsewhere it does not match
            if s.port != 0 {
                let d = classify(s.proto, 40001, 50001, &s.packets, &sigs);
                match s.port_bound {
                    None if d.app != s.app => failures.push(format!(
                        "{} (seed {seed}): on other ports `{}`, the port decided",
                        s.ndpi, d.app
                    )),
                    Some(_) if d.app == s.app => failures.push(format!(
                        "{} (seed {seed}): port-bound, yet matches on other ports",
                        s.ndpi
                    )),
                    _ => {}
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The length arithmetic of every parser, near its grammar: each generated flow cut at
/// every length and with bytes flipped goes through the classifier (debug builds panic on
/// overflow and out-of-range slicing).
#[test]
fn cut_and_flipped_grammar_flows_never_panic() {
    let sigs = Signatures::builtin();
    let mut rng = Rng::new(99);
    let mut runs = 0;
    for s in all_samples(7) {
        for (k, (_, b)) in s.packets.iter().enumerate() {
            for cut in 0..=b.len().min(96) {
                let mut p = s.packets.clone();
                p[k].1.truncate(cut);
                let _ = classify(s.proto, 49152, s.port, &p, &sigs);
                runs += 1;
            }
            for _ in 0..32 {
                let mut p = s.packets.clone();
                if p[k].1.is_empty() {
                    continue;
                }
                let i = rng.below(p[k].1.len() as u64) as usize;
                p[k].1[i] ^= (rng.next_u64() as u8) | 1;
                let _ = classify(s.proto, 49152, s.port, &p, &sigs);
                runs += 1;
            }
        }
    }
    assert!(runs > 1000, "{runs}");
}

/// The generated flows as a capture through the reader, the packet parser and the whole
/// engine (not just the classifier): each flow comes out with its recogniser's app and a
/// blocked verdict.
#[test]
fn the_generated_flows_as_a_capture_through_the_engine() {
    use qaqpa_gateway::dataplane::{Config, Engine, Policy, Verdict, capture};
    let sigs = Signatures::builtin();
    let samples = all_samples(11);
    let bytes = grammar::pcap(&samples);
    let cap = capture::parse(&bytes).unwrap();
    let mut e = Engine::new(sigs.clone(), Policy::new(&sigs), Config::default());
    for (ts, link, f) in cap.iter() {
        e.process(ts, link, f);
    }
    let records = e.finish();
    let mut wrong = Vec::new();
    for (k, s) in samples.iter().enumerate() {
        let cport = 20000 + k as u16;
        let r = records.iter().find(|r| {
            let a = qaqpa_gateway::dataplane::packet::from_ip(std::net::IpAddr::from([
                10,
                8,
                (cport >> 8) as u8,
                cport as u8,
            ]));
            r.proto == s.proto && (r.client == a || r.server == a)
        });
        match r {
            Some(r) if r.app == s.app && r.class == s.class && r.verdict == Verdict::Block => {}
            Some(r) => wrong.push(format!(
                "{}: {} {:?} {:?}",
                s.ndpi, r.app, r.class, r.verdict
            )),
            None => wrong.push(format!("{}: no flow", s.ndpi)),
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
