//! Development aid: prints the first payload bytes of each flow of a capture.
//! `cargo run -p qaqpa-gateway --example dump -- FILE [PORT]`

use qaqpa_gateway::dataplane::{capture, packet};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let cap = capture::read(std::path::Path::new(&args[1])).expect("capture");
    let port: Option<u16> = args.get(2).and_then(|p| p.parse().ok());
    let mut seen = std::collections::BTreeMap::<String, u32>::new();
    let env = |k: &str, d: usize| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let (per_flow, bytes) = (env("DUMP_N", 3) as u32, env("DUMP_BYTES", 48));
    for (_, link, frame) in cap.iter() {
        let Ok(p) = packet::parse(link, frame) else {
            continue;
        };
        if p.payload.is_empty() || port.is_some_and(|x| p.sport != x && p.dport != x) {
            continue;
        }
        let k = format!(
            "{} {}:{} > {}:{}",
            p.proto,
            packet::to_ip(&p.src),
            p.sport,
            packet::to_ip(&p.dst),
            p.dport
        );
        let n = seen.entry(k.clone()).or_default();
        *n += 1;
        if *n <= per_flow {
            let hex: String = p
                .payload
                .iter()
                .take(bytes)
                .map(|b| format!("{b:02x}"))
                .collect();
            let txt: String = p
                .payload
                .iter()
                .take(bytes)
                .map(|&b| if b.is_ascii_graphic() { b as char } else { '.' })
                .collect();
            println!("{k} len={} {hex} {txt}", p.payload.len());
        }
    }
}
