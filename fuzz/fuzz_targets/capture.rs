//! Whole capture files (pcap, pcapng) through the reader and the dataplane.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use qaqpa_gateway::dataplane::{Config, Engine, Policy, Signatures, capture};

/// The signature lists and policy, built once: building them per input (parsing every
/// list) held the target to about 250 inputs per second.
static SET_UP: OnceLock<(Signatures, Policy)> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    if let Ok(cap) = capture::parse(data) {
        let (sigs, policy) = SET_UP.get_or_init(|| {
            let sigs = Signatures::builtin();
            let policy = Policy::new(&sigs);
            (sigs, policy)
        });
        let mut e = Engine::new(
            sigs.clone(),
            policy.clone(),
            Config { max_flows: 64, ..Config::default() },
        );
        for (ts, link, f) in cap.iter() {
            e.process(ts, link, f);
        }
        let _ = e.finish();
    }
});
