//! criterion benchmarks of the UGIA dataplane on one core: (a) the corpus captures replayed
//! from memory in a loop, (b) synthetic 64-byte, IMIX and 1518-byte traffic over 100k flows.
//! Throughput is reported per frame (elements) and in bytes; the 10GbE ratios are printed by
//! `examples/throughput.rs` and `scripts/bench-dataplane`.

use std::path::PathBuf;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use qaqpa_gateway::bench::{self, Traffic};
use qaqpa_gateway::dataplane::engine::BATCH;
use qaqpa_gateway::dataplane::{Config, Disposition, Engine, Policy, Signatures};

fn engine(max_flows: usize) -> Engine {
    let sigs = Signatures::builtin();
    let policy = Policy::new(&sigs);
    Engine::new(
        sigs,
        policy,
        Config {
            max_flows,
            records: false,
            ..Config::default()
        },
    )
}

fn feed(e: &mut Engine, t: &Traffic, shift: u64) {
    let mut out = [Disposition::Forward; BATCH];
    let mut batch: Vec<(u64, u32, &[u8])> = Vec::with_capacity(BATCH);
    let mut i = 0;
    while i < t.frames.len() {
        batch.clear();
        for j in i..(i + BATCH).min(t.frames.len()) {
            let (ts, link, f) = t.frame(j);
            batch.push((ts + shift, link, f));
        }
        e.process_batch(&batch, &mut out);
        std::hint::black_box(&out);
        i += BATCH;
    }
}

fn corpus_dir() -> PathBuf {
    std::env::var_os("QAQPA_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared"))
        .join("corpus/ndpi")
}

fn dataplane(c: &mut Criterion) {
    let mut g = c.benchmark_group("dataplane");
    let corpus = bench::corpus(&corpus_dir());
    let cases = [
        ("corpus", corpus),
        ("64B-100k-flows", bench::synthetic(1 << 20, 100_000, |_| 60)),
        (
            "imix-100k-flows",
            bench::synthetic(1 << 20, 100_000, bench::imix),
        ),
        (
            "1518B-100k-flows",
            bench::synthetic(1 << 18, 100_000, |_| 1514),
        ),
    ];
    for (name, t) in &cases {
        if t.frames.is_empty() {
            continue;
        }
        g.throughput(Throughput::Elements(t.frames.len() as u64));
        let mut e = engine(1 << 20);
        feed(&mut e, t, 0);
        // the same frames again: every flow is known and decided (the steady state)
        g.bench_function(*name, |b| {
            b.iter(|| {
                feed(&mut e, t, 0);
            })
        });
    }
    // classification included: every flow new each round
    let corpus = &cases[0].1;
    if !corpus.frames.is_empty() {
        g.throughput(Throughput::Elements(corpus.frames.len() as u64));
        g.bench_function("corpus-cold", |b| {
            b.iter(|| {
                let mut e = engine(1 << 13);
                feed(&mut e, corpus, 0);
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(4));
    targets = dataplane
}
criterion_main!(benches);
