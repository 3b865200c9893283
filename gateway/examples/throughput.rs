//! The dataplane's throughput on one core, as ratios to 10GbE line rate: the corpus mix
//! replayed from memory, and synthetic 64-byte, IMIX and 1518-byte traffic over many flows.
//! `cargo run --release -p qaqpa-gateway --example throughput -- [CORPUS_DIR] [--json]`

use std::path::PathBuf;
use std::time::Instant;

use qaqpa_gateway::bench::{self, Traffic};
use qaqpa_gateway::dataplane::engine::BATCH;
use qaqpa_gateway::dataplane::{Config, Disposition, Engine, Policy, Signatures};

fn run(t: &Traffic, rounds: usize, fresh: bool) -> (f64, f64) {
    let sigs = Signatures::builtin();
    let policy = Policy::new(&sigs);
    let cfg = Config {
        max_flows: 1 << 20,
        records: false,
        ..Config::default()
    };
    let mut e = Engine::new(sigs.clone(), policy.clone(), cfg);
    // warm-up round: flows classified, caches warm
    for i in 0..t.frames.len() {
        let (ts, link, f) = t.frame(i);
        e.process(ts, link, f);
    }
    let span = t.frames.last().map(|f| f.0 + 1).unwrap_or(1);
    let start = Instant::now();
    for r in 0..rounds {
        if fresh {
            e = Engine::new(
                sigs.clone(),
                policy.clone(),
                Config {
                    max_flows: 1 << 13,
                    ..cfg
                },
            );
        }
        // warm: the same frames again, every flow known and decided; fresh: a new table
        let shift = if fresh { (r as u64 + 1) * span } else { 0 };
        let mut out = [Disposition::Forward; BATCH];
        let mut batch: Vec<(u64, u32, &[u8])> = Vec::with_capacity(BATCH);
        for chunk in (0..t.frames.len()).collect::<Vec<_>>().chunks(BATCH) {
            batch.clear();
            batch.extend(chunk.iter().map(|&i| {
                let (ts, link, f) = t.frame(i);
                (ts + shift, link, f)
            }));
            e.process_batch(&batch, &mut out);
            std::hint::black_box(&out);
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let pkts = (t.frames.len() * rounds) as f64;
    (pkts / secs, t.wire_bits() as f64 * rounds as f64 / secs)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let json = args.iter().any(|a| a == "--json");
    let dir = args
        .first()
        .filter(|a| !a.starts_with("--"))
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("../shared/corpus/ndpi"));
    let corpus = bench::corpus(&dir);
    let n = 2_000_000;
    let cases: Vec<(&str, Traffic, usize, Option<u64>, bool)> = vec![
        ("corpus (flows decided)", corpus.clone(), 20, None, false),
        ("corpus (fresh table each round)", corpus, 5, None, true),
        (
            "64 B, 100k flows",
            bench::synthetic(n, 100_000, |_| 60),
            5,
            Some(64),
            false,
        ),
        (
            "IMIX, 100k flows",
            bench::synthetic(n, 100_000, bench::imix),
            5,
            None,
            false,
        ),
        (
            "1518 B, 100k flows",
            bench::synthetic(n / 4, 100_000, |_| 1514),
            10,
            Some(1518),
            false,
        ),
    ];
    let only = args
        .iter()
        .position(|a| a == "--case")
        .and_then(|i| args.get(i + 1))
        .cloned();
    {
        let e = Engine::new(
            Signatures::builtin(),
            Policy::new(&Signatures::builtin()),
            Config {
                max_flows: 1 << 20,
                records: false,
                ..Config::default()
            },
        );
        let per = e.table().bytes_per_flow();
        println!(
            "flow table: {} bytes per flow of capacity (hot line {} B × 2 slots, cold part {} B, free list 4 B); {:.2} M flows per GiB",
            per,
            std::mem::size_of::<qaqpa_gateway::dataplane::flow::Hot>(),
            std::mem::size_of::<qaqpa_gateway::dataplane::flow::Cold>(),
            (1u64 << 30) as f64 / per as f64 / 1e6
        );
    }
    for (name, t, rounds, size, fresh) in cases {
        if only.as_deref().is_some_and(|o| !name.contains(o)) {
            continue;
        }
        let (pps, bps) = run(&t, rounds, fresh);
        let line = size.map(bench::line_rate_pps);
        if json {
            println!(
                "{}",
                serde_json::json!({"case": name, "packets": t.frames.len(), "mpps": pps / 1e6, "gbps_wire": bps / 1e9, "line_rate_ratio_pps": line.map(|l| pps / l), "line_rate_ratio_bps": bps / 10e9})
            );
        } else {
            println!(
                "{name:<34} {:>9} frames  {:>7.2} Mpps  {:>7.2} Gbit/s on the wire  = {:.2}× 10GbE{}",
                t.frames.len(),
                pps / 1e6,
                bps / 1e9,
                bps / 10e9,
                line.map(|l| format!(" ({:.2}× line-rate pps of {:.0})", pps / l, l))
                    .unwrap_or_default()
            );
        }
    }
}
