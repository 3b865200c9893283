//! Frames of every supported link type through the parser and the whole dataplane
//! (classification included): no input may panic.
#![no_main]

use std::sync::Mutex;

use libfuzzer_sys::fuzz_target;
use qaqpa_gateway::dataplane::sigs::{FINGERPRINT_LABEL, Fingerprint};
use qaqpa_gateway::dataplane::{Config, Engine, Policy, Signatures, packet};

static ENGINE: Mutex<Option<Engine>> = Mutex::new(None);

fuzz_target!(|data: &[u8]| {
    if data.is_empty() {
        return;
    }
    let links = [
        packet::linktype::ETHERNET,
        packet::linktype::RAW,
        packet::linktype::LINUX_SLL,
        packet::linktype::LINUX_SLL2,
        packet::linktype::NULL,
    ];
    let link = links[usize::from(data[0]) % links.len()];
    let frame = &data[1..];
    let _ = packet::parse(link, frame);
    let mut g = ENGINE.lock().unwrap();
    let e = g.get_or_insert_with(|| {
        // fingerprint lists make TLS flows wait for, and read, the server's certificate
        let mut sigs = Signatures::builtin();
        let sha1 = "2022-07-02 07:02:11,3784422d67a6ae0c82d60eeaf3850960a9896cb2,fuzz";
        let ja3 = "b386946a5a44d1ddcc843bc75336dfce,2017-07-14,2019-07-27,fuzz";
        sigs.add_fingerprints(Fingerprint::CertSha1, FINGERPRINT_LABEL, sha1, "fuzz")
            .expect("a valid line");
        sigs.add_fingerprints(Fingerprint::Ja3, FINGERPRINT_LABEL, ja3, "fuzz")
            .expect("a valid line");
        let policy = Policy::new(&sigs);
        Engine::new(sigs, policy, Config { max_flows: 256, ..Config::default() })
    });
    // the same frame a few times, so flows reach their later classification steps
    for t in 0..4 {
        e.process(t, link, frame);
    }
});
