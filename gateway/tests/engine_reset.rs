//! `Engine::reset` (used by `qaqpa replay --loops`): the same engine, reset, classifies a
//! capture exactly as a new one does, with one flow table for both rounds.

use std::path::PathBuf;

use qaqpa_gateway::dataplane::{Config, Engine, Policy, Signatures, capture};
use qaqpa_gateway::score;

fn corpus() -> PathBuf {
    std::env::var_os("QAQPA_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared"))
        .join("corpus/ndpi")
}

fn run(e: &mut Engine, cap: &capture::Capture) -> Vec<String> {
    for (ts, link, f) in cap.iter() {
        e.process(ts, link, f);
    }
    e.finish().iter().map(|r| format!("{r:?}")).collect()
}

#[test]
fn a_reset_engine_classifies_as_a_new_one() {
    let sigs = Signatures::builtin();
    let cfg = Config {
        max_flows: 4096,
        ..Config::default()
    };
    let files = score::captures(&corpus());
    assert!(files.len() > 10);
    let mut reused = Engine::new(sigs.clone(), Policy::new(&sigs), cfg);
    let mut compared = 0;
    for path in files.iter().step_by(7) {
        let cap = capture::read(path).unwrap();
        let mut fresh = Engine::new(sigs.clone(), Policy::new(&sigs), cfg);
        let want = run(&mut fresh, &cap);
        reused.reset();
        let got = run(&mut reused, &cap);
        assert_eq!(got, want, "{}", path.display());
        assert_eq!(reused.stats.frames, fresh.stats.frames);
        compared += want.len();
    }
    assert!(compared > 50, "{compared} flows compared");
}
