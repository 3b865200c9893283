//! Campaigns: the same seeds run as one shard and as three shard processes, merged, give the
//! same report byte for byte; a failing seed is listed with the command that replays it, and
//! the replay fails the same obligation; a run checked for determinism agrees with itself.

use std::path::PathBuf;
use std::process::Command;

fn qaqpa(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_qaqpa"))
        .args(args)
        .output()
        .expect("the qaqpa binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn dir(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn three_shards_merged_give_the_unsharded_report() {
    let whole = dir("campaign-whole");
    let (code, err) = qaqpa(&[
        "campaign",
        "--seeds",
        "1..=4",
        "--system",
        "ugem",
        "--jobs",
        "2",
        "--out",
        whole.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let mut shards = Vec::new();
    for k in 1..=3 {
        let d = dir(&format!("campaign-shard-{k}"));
        let (code, err) = qaqpa(&[
            "campaign",
            "--seeds",
            "1..=4",
            "--system",
            "ugem",
            "--partition",
            &format!("slice:{k}/3"),
            "--out",
            d.to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "shard {k}: {err}");
        shards.push(d);
    }
    let merged = dir("campaign-merged");
    // shards given out of order: the union does not depend on it
    let (code, err) = qaqpa(&[
        "merge",
        shards[2].to_str().unwrap(),
        shards[0].to_str().unwrap(),
        shards[1].to_str().unwrap(),
        "--out",
        merged.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    for f in [
        "report.json",
        "report.md",
        "report.xml",
        "report.html",
        "seeds.jsonl",
        "summary.json",
    ] {
        let a = std::fs::read(whole.join(f)).unwrap();
        let b = std::fs::read(merged.join(f)).unwrap();
        assert!(
            a == b,
            "{f} differs between the unsharded campaign and the merged shards"
        );
    }
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(whole.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["campaign"]["count"], 4);
    assert_eq!(report["campaign"]["first"], 1);
    // the same shard twice is refused: a seed would count double
    let (code, err) = qaqpa(&[
        "merge",
        shards[0].to_str().unwrap(),
        shards[0].to_str().unwrap(),
        "--out",
        dir("campaign-double").to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("in two shards"), "{err}");
}

#[test]
fn a_failing_seed_is_listed_with_the_command_that_replays_it() {
    let out = dir("campaign-defect");
    let (code, err) = qaqpa(&[
        "campaign",
        "--seeds",
        "3..5",
        "--system",
        "ugem",
        "--defect",
        "ugem-acks-before-disk",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{err}");
    let lines = std::fs::read_to_string(out.join("seeds.jsonl")).unwrap();
    let first: serde_json::Value = serde_json::from_str(lines.lines().next().unwrap()).unwrap();
    assert_eq!(first["seed"], 3);
    assert_eq!(first["outcome"], "fail");
    assert!(first["mail"]["lost"].as_u64().unwrap() > 0, "{first}");
    let replay = first["replay"].as_str().unwrap().to_string();
    assert!(
        replay.starts_with("qaqpa run --seed 3 --system ugem --defect ugem-acks-before-disk"),
        "{replay}"
    );
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(
        summary.contains("| ugem-6/nothing-lost-across-faults | 3, 4 |"),
        "{summary}"
    );
    assert!(summary.contains(&replay), "{summary}");
    // The replay, as printed (its --out moved under the test's folder), fails the same way.
    let replay_out = dir("campaign-replay");
    let mut args: Vec<String> = replay
        .split_whitespace()
        .skip(1)
        .map(String::from)
        .collect();
    let at = args.iter().position(|a| a == "--out").unwrap();
    args[at + 1] = replay_out.to_str().unwrap().to_string();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, err) = qaqpa(&args);
    assert_eq!(code, 1, "{err}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(replay_out.join("report.json")).unwrap()).unwrap();
    let ugem6 = report["clauses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "ugem-6")
        .unwrap();
    assert_eq!(ugem6["verdict"], "fail");
}

#[test]
fn determinism_checked_and_bad_partitions_refused() {
    let out = dir("campaign-determinism");
    let (code, err) = qaqpa(&[
        "campaign",
        "--seeds",
        "7..9",
        "--system",
        "bus",
        "--check-determinism",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let lines = std::fs::read_to_string(out.join("seeds.jsonl")).unwrap();
    assert_eq!(lines.lines().count(), 2);
    assert!(!lines.contains("nondeterministic"), "{lines}");
    for bad in ["slice:0/3", "slice:4/3", "round:1/2", "1/2"] {
        let (code, err) = qaqpa(&[
            "campaign",
            "--seeds",
            "1..3",
            "--partition",
            bad,
            "--out",
            dir("campaign-bad").to_str().unwrap(),
        ]);
        assert_eq!(code, 2, "{bad}: {err}");
        assert!(err.contains("--partition"), "{bad}: {err}");
    }
    // a defect of a system the campaign does not certify would change nothing
    let (code, err) = qaqpa(&[
        "campaign",
        "--seeds",
        "1..3",
        "--system",
        "bus",
        "--defect",
        "ugem-acks-before-disk",
        "--out",
        dir("campaign-foreign-defect").to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("does not certify"), "{err}");
    // more shards than seeds: this shard would judge nothing
    let (code, err) = qaqpa(&[
        "campaign",
        "--seeds",
        "1..3",
        "--partition",
        "slice:1/3",
        "--out",
        dir("campaign-empty").to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("holds no seed"), "{err}");
}

#[test]
fn the_shipped_manifests_use_only_flags_the_command_line_has() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut checked = 0;
    for file in [
        ".github/workflows/campaign.yml",
        "deploy/campaign-job.yaml",
        "Dockerfile",
    ] {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        for (i, line) in text.lines().enumerate() {
            for (sub, rest) in [("campaign", "qaqpa campaign"), ("merge", "qaqpa merge")] {
                let Some(at) = line.find(rest) else { continue };
                let help = Command::new(env!("CARGO_BIN_EXE_qaqpa"))
                    .args([sub, "--help"])
                    .output()
                    .unwrap();
                let help = String::from_utf8_lossy(&help.stdout);
                for flag in line[at..]
                    .split_whitespace()
                    .filter(|w| w.starts_with("--"))
                {
                    assert!(
                        help.contains(flag),
                        "{file}:{}: `qaqpa {sub}` has no {flag}",
                        i + 1
                    );
                    checked += 1;
                }
            }
        }
    }
    assert!(checked >= 6, "only {checked} flags found in the manifests");
}
