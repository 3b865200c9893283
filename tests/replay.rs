//! `qaqpa replay` and `qaqpa ndpi-score` from the command line, on the shared corpus.

use std::path::PathBuf;
use std::process::Command;

fn corpus() -> PathBuf {
    std::env::var_os("QAQPA_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"))
        .join("corpus/ndpi")
}

fn qaqpa(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_qaqpa"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("qaqpa runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn replay_prints_a_json_line_per_flow_and_the_summary_last() {
    let c = corpus();
    let vpn = c.join("vpn/openvpn.pcap");
    let tls = c.join("tls_sni/443-curl.pcap");
    let (code, out, err) = qaqpa(&[
        "replay",
        "--json",
        vpn.to_str().unwrap(),
        tls.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let (summary, flows) = lines.split_last().unwrap();
    let s = &summary["summary"];
    for k in ["packets", "bytes", "flows", "mpps", "gbps"] {
        assert!(s[k].is_number(), "summary has {k}: {summary}");
    }
    assert_eq!(s["flows"].as_u64().unwrap() as usize, flows.len());
    for f in flows {
        for k in [
            "src", "dst", "sport", "dport", "proto", "class", "verdict", "clause", "reason",
        ] {
            assert!(!f[k].is_null(), "{k} in {f}");
        }
    }
    let openvpn: Vec<_> = flows.iter().filter(|f| f["class"] == "vpn").collect();
    assert!(openvpn.len() >= 9, "{flows:?}");
    assert!(
        openvpn
            .iter()
            .all(|f| f["verdict"] == "block" && f["clause"] == "ureq-134-1")
    );
    let curl = flows
        .iter()
        .find(|f| f["sni"] == "www.ntop.org")
        .expect("the curl session's SNI");
    assert_eq!(curl["verdict"], "inspect");
    assert_eq!(curl["clause"], "ugia-20");
}

#[test]
fn a_policy_file_exempts_exactly_what_it_names() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("replay-policy");
    std::fs::create_dir_all(&dir).unwrap();
    let policy = dir.join("policy.toml");
    std::fs::write(
        &policy,
        r#"
[catalogue]
lab = ["172.16.0.0/12", "127.0.0.0/8"]

[[exemption]]
organisation = "lab"
class = "remote-access"
from = "1970-01-01T00:00:00Z"
until = "2100-01-01T00:00:00Z"
"#,
    )
    .unwrap();
    let ssh = corpus().join("remote_access/ssh.pcap");
    let (code, out, err) = qaqpa(&[
        "replay",
        "--json",
        "--policy",
        policy.to_str().unwrap(),
        ssh.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let flows: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|v: &serde_json::Value| v.get("summary").is_none())
        .collect();
    assert!(!flows.is_empty());
    for f in &flows {
        assert_eq!(
            (
                f["class"].as_str(),
                f["verdict"].as_str(),
                f["clause"].as_str()
            ),
            (Some("remote-access"), Some("allow"), Some("ugia-15-1")),
            "{f}"
        );
    }
    // a VPN exemption must name its channel exactly
    std::fs::write(
        &policy,
        "[[exemption]]\norganisation = \"lab\"\nclass = \"vpn\"\nfrom = \"2025-01-01T00:00:00Z\"\n",
    )
    .unwrap();
    let (code, _, err) = qaqpa(&[
        "replay",
        "--policy",
        policy.to_str().unwrap(),
        ssh.to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("ureq-133.4"), "{err}");
}

#[test]
fn a_broken_capture_is_a_clear_error() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("replay-broken");
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.pcap");
    std::fs::write(&bad, b"not a capture").unwrap();
    let (code, _, err) = qaqpa(&["replay", bad.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(
        err.contains("bad.pcap") && err.contains("not a pcap"),
        "{err}"
    );
}

#[test]
fn ndpi_score_prints_the_table() {
    let (code, out, err) = qaqpa(&["ndpi-score", corpus().to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    for c in [
        "| vpn |",
        "| remote-access |",
        "| p2p |",
        "| game |",
        "| malicious |",
        "SNI exact match",
    ] {
        assert!(out.contains(c), "{c} in\n{out}");
    }
}
