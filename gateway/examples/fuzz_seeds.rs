//! Writes the grammar generators' flows (`dataplane::protocols::grammar`) as seeds for the
//! fuzz targets, so fuzzing starts from every recogniser's valid grammar rather than from
//! nothing:
//! `cargo run -p qaqpa-gateway --example fuzz_seeds -- fuzz/corpus [SEEDS]`
//!
//! - `packet/`: one file per frame, `[1]` (the target's index for link type RAW) then the
//!   IPv4 frame;
//! - `client_hello/`: each payload (the target runs every application parser on it);
//! - `capture/`: one pcap per generated flow.

use std::path::PathBuf;

use qaqpa_gateway::dataplane::protocols::grammar;

fn main() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let out = PathBuf::from(args.next().unwrap_or_else(|| "fuzz/corpus".into()));
    let seeds: u64 = match args.next() {
        Some(s) => s
            .parse()
            .map_err(|_| format!("SEEDS: expected a number of seeds, found `{s}`"))?,
        None => 3,
    };
    let mut written = 0;
    for target in ["packet", "client_hello", "capture"] {
        let d = out.join(target);
        std::fs::create_dir_all(&d).map_err(|e| format!("{}: {e}", d.display()))?;
    }
    let write = |path: PathBuf, bytes: &[u8]| -> Result<(), String> {
        std::fs::write(&path, bytes).map_err(|e| format!("{}: {e}", path.display()))
    };
    for seed in 1..=seeds {
        let mut samples = grammar::catalogue(seed);
        samples.extend(grammar::tunnels(seed));
        for s in &samples {
            let name: String = s
                .ndpi
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
                .collect();
            let stem = format!("{name}-{seed}");
            for (k, f) in s.frames(40000).iter().enumerate() {
                let mut b = vec![1u8];
                b.extend_from_slice(f);
                write(out.join("packet").join(format!("{stem}-{k}")), &b)?;
                written += 1;
            }
            for (k, (_, p)) in s.packets.iter().enumerate() {
                write(out.join("client_hello").join(format!("{stem}-{k}")), p)?;
                written += 1;
            }
            write(
                out.join("capture").join(format!("{stem}.pcap")),
                &grammar::pcap(std::slice::from_ref(s)),
            )?;
            written += 1;
        }
    }
    println!("{written} seeds under {}", out.display());
    Ok(())
}
