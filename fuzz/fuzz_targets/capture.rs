//! Whole capture files (pcap, pcapng) through the reader and the dataplane.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qaqpa_gateway::dataplane::{Config, Engine, Policy, Signatures, capture};

fuzz_target!(|data: &[u8]| {
    if let Ok(cap) = capture::parse(data) {
        let sigs = Signatures::builtin();
        let policy = Policy::new(&sigs);
        let mut e = Engine::new(sigs, policy, Config { max_flows: 64, ..Config::default() });
        for (ts, link, f) in cap.iter() {
            e.process(ts, link, f);
        }
        let _ = e.finish();
    }
});
