//! `qaqpa replay`: captures through the reference UGIA dataplane, one line per flow and a
//! throughput summary; `qaqpa ndpi-score`: the classifier scored against nDPI's results.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use qaqpa_gateway::dataplane::packet::{self, to_ip};
use qaqpa_gateway::dataplane::policy::PolicyFile;
use qaqpa_gateway::dataplane::{Config, Engine, FlowRecord, Policy, Signatures, capture};
use qaqpa_gateway::score;

#[derive(clap::Args)]
pub struct ReplayArgs {
    /// pcap or pcapng files, replayed in order through one dataplane.
    #[arg(required = true)]
    pub pcaps: Vec<PathBuf>,
    /// The policy (TOML): catalogue, exemptions, VPN channels, extra signature lists.
    #[arg(long)]
    pub policy: Option<PathBuf>,
    /// Further signature lists: NAME.domains, NAME.ips, or an nDPI category file.
    #[arg(long = "signatures")]
    pub signatures: Vec<PathBuf>,
    /// JSON lines: one object per flow, then {"summary": …}.
    #[arg(long)]
    pub json: bool,
    /// The flow table's capacity.
    #[arg(long, default_value_t = 1 << 20)]
    pub max_flows: usize,
    /// Replay the captures this many times, each time through a fresh dataplane (every flow
    /// classified again), for throughput measurements; flows are printed for the last.
    #[arg(long, default_value_t = 1)]
    pub loops: u32,
    /// Replay the frames before the cut of a capture that ends early (a warning says where),
    /// instead of refusing it.
    #[arg(long)]
    pub allow_truncated: bool,
}

#[derive(clap::Args)]
pub struct ScoreArgs {
    /// The nDPI corpus folder (default: ../shared/corpus/ndpi, or $QAQPA_SHARED/corpus/ndpi).
    pub dir: Option<PathBuf>,
    /// Further signature lists, after the user's lists nDPI's results were made with
    /// (`_context/example`: categories.txt, sha1_fingerprints.csv, ja3_fingerprints.csv),
    /// which are loaded unless --builtin-only.
    #[arg(long = "signatures")]
    pub signatures: Vec<PathBuf>,
    /// Score with the built-in lists (and --signatures) only, not the corpus's own lists.
    #[arg(long)]
    pub builtin_only: bool,
    /// Print every disagreement after the table.
    #[arg(long)]
    pub misses: bool,
}

fn load_sigs(extra: &[PathBuf]) -> Result<Signatures, String> {
    let mut sigs = Signatures::builtin();
    for f in extra {
        sigs.add_file(f).map_err(|e| e.to_string())?;
    }
    Ok(sigs)
}

fn proto_name(p: u8) -> String {
    match p {
        packet::PROTO_TCP => "tcp".into(),
        packet::PROTO_UDP => "udp".into(),
        packet::PROTO_ICMP => "icmp".into(),
        packet::PROTO_ICMPV6 => "icmpv6".into(),
        packet::PROTO_ESP => "esp".into(),
        packet::PROTO_AH => "ah".into(),
        packet::PROTO_GRE => "gre".into(),
        packet::PROTO_IGMP => "igmp".into(),
        n => n.to_string(),
    }
}

fn flow_json(r: &FlowRecord) -> serde_json::Value {
    let mut o = serde_json::json!({
        "src": to_ip(&r.client).to_string(),
        "dst": to_ip(&r.server).to_string(),
        "sport": r.cport,
        "dport": r.sport,
        "proto": proto_name(r.proto),
        "class": r.class.as_str(),
        "app": r.app,
        "verdict": r.verdict.as_str(),
        "clause": r.clause,
        "reason": r.reason,
        "packets": r.packets[0] + r.packets[1],
        "bytes": r.bytes[0] + r.bytes[1],
    });
    if let Some(c) = &r.category {
        o["category"] = c.as_str().into();
    }
    if let Some(n) = &r.name {
        o[if r.sni { "sni" } else { "host" }] = n.as_ref().into();
    }
    if r.uncatalogued {
        o["uncatalogued"] = true.into();
    }
    o
}

fn flow_text(r: &FlowRecord) -> String {
    let name = r
        .name
        .as_deref()
        .map(|n| format!(" {}={n}", if r.sni { "sni" } else { "host" }))
        .unwrap_or_default();
    let cat = r
        .category
        .as_deref()
        .map(|c| format!(" category={c}"))
        .unwrap_or_default();
    let clause = if r.clause.is_empty() {
        String::new()
    } else {
        format!(" [{}]", r.clause)
    };
    format!(
        "{} {}:{} -> {}:{} class={} app={}{}{} verdict={}{} {} ({} pkts)",
        proto_name(r.proto),
        to_ip(&r.client),
        r.cport,
        to_ip(&r.server),
        r.sport,
        r.class.as_str(),
        r.app,
        name,
        cat,
        r.verdict.as_str(),
        clause,
        r.reason,
        r.packets[0] + r.packets[1]
    )
}

pub fn replay(args: &ReplayArgs, out: &mut dyn Write) -> Result<(), String> {
    let io = |e: std::io::Error| e.to_string();
    let (sigs, policy) = match &args.policy {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
            let pf: PolicyFile =
                toml::from_str(&text).map_err(|e| format!("{}: {e}", p.display()))?;
            let mut extra = args.signatures.clone();
            let base = p.parent().unwrap_or(Path::new("."));
            extra.extend(pf.signatures.iter().map(|s| base.join(s)));
            let sigs = load_sigs(&extra)?;
            let policy =
                Policy::from_file(&pf, &sigs).map_err(|e| format!("{}: {e}", p.display()))?;
            (sigs, policy)
        }
        None => {
            let sigs = load_sigs(&args.signatures)?;
            let policy = Policy::new(&sigs);
            (sigs, policy)
        }
    };
    let caps = read_captures(&args.pcaps, args.allow_truncated)?;
    let cfg = Config {
        max_flows: args.max_flows,
        ..Config::default()
    };
    let mut busy = std::time::Duration::ZERO;
    // one flow table for every loop: reset, not rebuilt (a rebuilt engine was allocated
    // while the previous one was still alive: two tables at the peak)
    let mut engine = Engine::new(sigs, policy, cfg);
    let (mut frames, mut bytes) = (0u64, 0u64);
    for round in 0..args.loops.max(1) {
        if round > 0 {
            engine.reset();
        }
        let t = Instant::now();
        for cap in &caps {
            for (ts, link, frame) in cap.iter() {
                engine.process(ts, link, frame);
            }
        }
        busy += t.elapsed();
        frames += engine.stats.frames;
        bytes += engine.stats.bytes;
    }
    let records = engine.finish();
    for r in &records {
        if args.json {
            writeln!(out, "{}", flow_json(r)).map_err(io)?;
        } else {
            writeln!(out, "{}", flow_text(r)).map_err(io)?;
        }
    }
    let st = &engine.stats;
    let secs = busy.as_secs_f64().max(1e-9);
    let mpps = frames as f64 / secs / 1e6;
    let gbps = bytes as f64 * 8.0 / secs / 1e9;
    let skipped: serde_json::Map<String, serde_json::Value> =
        qaqpa_gateway::dataplane::packet::Skip::ALL
            .iter()
            .map(|s| (s.as_str().to_string(), st.skipped[*s as usize].into()))
            .collect();
    if args.json {
        let s = serde_json::json!({"summary": {
            "packets": st.frames,
            "bytes": st.bytes,
            "flows": st.flows,
            "mpps": (mpps * 1000.0).round() / 1000.0,
            "gbps": (gbps * 1000.0).round() / 1000.0,
            "skipped": skipped,
            "table_full": st.table_full,
            "uncatalogued_flows": st.uncatalogued_flows,
        }});
        writeln!(out, "{s}").map_err(io)?;
    } else {
        let skipped: Vec<String> = skipped
            .iter()
            .filter(|(_, v)| v.as_u64() != Some(0))
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        writeln!(
            out,
            "summary: {} packets, {} bytes, {} flows; {:.3} Mpps, {:.3} Gbit/s (dataplane only, one core){}{}",
            st.frames,
            st.bytes,
            st.flows,
            mpps,
            gbps,
            if skipped.is_empty() { String::new() } else { format!("; skipped: {}", skipped.join(", ")) },
            if st.table_full > 0 { format!("; flow table full: {} packets dropped", st.table_full) } else { String::new() }
        )
        .map_err(io)?;
    }
    Ok(())
}

/// Reads every capture. One that ends early is refused (exit 2) with where it ends, unless
/// `allow_truncated`; one without a single frame is always refused: replaying it would
/// report on nothing.
fn read_captures(
    paths: &[PathBuf],
    allow_truncated: bool,
) -> Result<Vec<capture::Capture>, String> {
    let mut caps = Vec::new();
    for path in paths {
        let cap = capture::read(path).map_err(|e| e.to_string())?;
        let frames = cap.frames.len();
        if let Some(t) = &cap.truncated {
            let whole = format!(
                "{}: the capture ends early after {frames} frame{} ({t})",
                path.display(),
                if frames == 1 { "" } else { "s" }
            );
            if !allow_truncated || frames == 0 {
                let hint = if frames == 0 {
                    String::new()
                } else {
                    "; --allow-truncated replays the frames before the cut".into()
                };
                return Err(format!("{whole}{hint}"));
            }
            eprintln!("qaqpa: warning: {whole}; the frames before the cut are replayed");
        } else if frames == 0 {
            return Err(format!(
                "{}: the capture holds no frames: nothing to replay",
                path.display()
            ));
        }
        caps.push(cap);
    }
    Ok(caps)
}

pub fn default_corpus() -> PathBuf {
    qaqpa_sim::shared::corpus("ndpi")
}

pub fn ndpi_score(args: &ScoreArgs, out: &mut dyn Write) -> Result<(), String> {
    let io = |e: std::io::Error| e.to_string();
    let dir = args.dir.clone().unwrap_or_else(default_corpus);
    if !dir.is_dir() {
        return Err(format!(
            "{}: no such folder (the nDPI corpus; see --help)",
            dir.display()
        ));
    }
    let mut lists = if args.builtin_only {
        Vec::new()
    } else {
        score::context_lists(&dir)
    };
    lists.extend(args.signatures.iter().cloned());
    let sigs = load_sigs(&lists)?;
    writeln!(out, "lists: built-in").map_err(io)?;
    for l in &lists {
        writeln!(out, "lists: {}", l.display()).map_err(io)?;
    }
    writeln!(out).map_err(io)?;
    let s = score::score(&dir, &sigs);
    for e in &s.errors {
        eprintln!("qaqpa: {e}");
    }
    write!(out, "{}", s.table()).map_err(io)?;
    if args.misses {
        writeln!(out).map_err(io)?;
        for m in &s.misses {
            writeln!(out, "{m}").map_err(io)?;
        }
    }
    Ok(())
}
