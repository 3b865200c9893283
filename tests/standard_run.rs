//! The standard run: every clause of the catalogue reported, nothing failing, snapshots of
//! the Markdown and JSON reports, and byte-identical output for the same seed.

mod common;

use qaqpa_reports::Verdict;
use qaqpa_reports::catalogue::Catalogue;

const SEED: u64 = 1;

#[test]
fn reports_every_clause_and_fails_none() {
    let run = common::run("standard", SEED, |a| a);
    let ids: Vec<&str> = run.report.clauses.iter().map(|c| c.id.as_str()).collect();
    let catalogue: Vec<&str> = Catalogue::standard()
        .clauses()
        .iter()
        .map(|c| c.id.as_str())
        .collect();
    assert_eq!(
        ids, catalogue,
        "the report lists the whole catalogue, in its order"
    );
    let failing: Vec<_> = run
        .report
        .clauses
        .iter()
        .filter(|c| c.verdict == Verdict::Fail)
        .map(|c| (&c.id, &c.finding))
        .collect();
    assert!(failing.is_empty(), "the reference fails {failing:?}");
    for clause in [
        "ugia-6",
        "ugia-10",
        "ugem-8",
        "ugem-9",
        "ugem-10",
        "eint-45-10",
        "eint-45-11",
    ] {
        assert_eq!(
            common::verdict(&run.report, clause),
            Verdict::Pass,
            "{clause}"
        );
    }
    for f in ["report.md", "report.html", "report.json", "report.xml"] {
        assert!(run.dir.join(f).is_file(), "{f} written");
    }
    for s in &run.report.scenarios {
        assert!(
            run.dir
                .join("traces")
                .join(format!("{}.jsonl", s.id))
                .is_file()
        );
    }
}

#[test]
fn snapshots_of_the_markdown_and_json_reports() {
    let run = common::run("snapshot", SEED, |a| a);
    insta::assert_snapshot!(
        "report.md",
        std::fs::read_to_string(run.dir.join("report.md")).unwrap()
    );
    insta::assert_snapshot!(
        "report.json",
        std::fs::read_to_string(run.dir.join("report.json")).unwrap()
    );
}

#[test]
fn same_seed_gives_byte_identical_reports() {
    let a = common::run("determinism-a", SEED, |a| a);
    let b = common::run("determinism-b", SEED, |a| a);
    for f in ["report.json", "report.md", "report.html", "report.xml"] {
        let x = std::fs::read(a.dir.join(f)).unwrap();
        let y = std::fs::read(b.dir.join(f)).unwrap();
        assert!(x == y, "{f} differs between two runs with seed {SEED}");
    }
    // every trace too: the JSON lines, the taps' captures frame for frame (the harness's TLS
    // ends and the reference's inspection draw their randomness from the seed, so even the
    // ciphertext is the same) and the TLS key logs
    let (mut pcaps, mut keylogs) = (0, 0);
    for e in std::fs::read_dir(a.dir.join("traces")).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap();
        let x = std::fs::read(&p).unwrap();
        let y = std::fs::read(b.dir.join("traces").join(name)).unwrap();
        if p.extension().is_some_and(|x| x == "pcap") {
            if let Err(e) = same_capture(&x, &y) {
                panic!("{name:?} differs between two runs with seed {SEED}: {e}");
            }
            pcaps += 1;
        } else {
            assert!(x == y, "{name:?} differs between two runs with seed {SEED}");
            keylogs += usize::from(p.extension().is_some_and(|x| x == "keylog"));
        }
    }
    assert!(
        pcaps >= 3 * 7,
        "every packet scenario writes one capture per port: {pcaps}"
    );
    assert!(
        keylogs >= 1,
        "the TLS inspection scenario writes its key log"
    );
}

/// Two captures are the same byte for byte; if not, which frame differs first and how.
fn same_capture(x: &[u8], y: &[u8]) -> Result<(), String> {
    if x.len() < 24 || x[..24] != y[..24.min(y.len())] {
        return Err("the file headers differ".into());
    }
    // the magic number tells the byte order of the record headers
    let be = x[..4] == [0xa1, 0xb2, 0xc3, 0xd4] || x[..4] == [0xa1, 0xb2, 0x3c, 0x4d];
    let (mut i, mut n) = (24, 0);
    while i + 16 <= x.len() {
        let raw: [u8; 4] = x[i + 8..i + 12].try_into().unwrap();
        let len = if be {
            u32::from_be_bytes(raw)
        } else {
            u32::from_le_bytes(raw)
        } as usize;
        if i + 16 + len > x.len() {
            return Err(format!("frame {n} runs past the end of the file"));
        }
        if y.len() < i + 16 + len || x[i..i + 16] != y[i..i + 16] {
            return Err(format!(
                "frame {n}: its record header (instant or length) differs"
            ));
        }
        if x[i + 16..i + 16 + len] != y[i + 16..i + 16 + len] {
            return Err(format!("frame {n}: its bytes differ"));
        }
        i += 16 + len;
        n += 1;
    }
    if x.len() != y.len() {
        return Err(format!("{} bytes against {}", x.len(), y.len()));
    }
    Ok(())
}

/// ureq-134-1's evidence covers every default-blocked class: the default-blocking scenario
/// carries, for each, flows whose script holds more client payload than the classification
/// budget, so a block is seen and not assumed (the class comes from the corpus's labels or
/// the harness's own flows).
#[test]
fn every_default_blocked_class_has_flows_long_enough_to_judge() {
    use qaqpa_scenarios::oracle::network::{BLOCKED_CLASSES, judgeable};
    use qaqpa_sim::trace::{Event, Trace};
    let run = common::run("blocked-classes", SEED, |a| a);
    let path = run.dir.join("traces/ugia-packet-default-blocking.jsonl");
    let trace = Trace::read_jsonl(std::fs::read(&path).unwrap().as_slice(), "trace").unwrap();
    for class in BLOCKED_CLASSES {
        let n = trace
            .observations()
            .iter()
            .filter(|o| match &o.event {
                Event::Flow(f) => f.truth_class.as_deref() == Some(class) && judgeable(f),
                _ => false,
            })
            .count();
        assert!(
            n > 0,
            "no {class} flow long enough to judge in {}",
            path.display()
        );
    }
}

#[test]
fn another_seed_changes_only_what_randomness_decides() {
    let a = common::run("seed-1", 1, |a| a);
    let b = common::run("seed-2", 2, |a| a);
    let verdicts = |r: &qaqpa_reports::Report| {
        r.clauses
            .iter()
            .map(|c| (c.id.clone(), c.verdict))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        verdicts(&a.report),
        verdicts(&b.report),
        "verdicts do not depend on the seed"
    );
    let hashes = |r: &qaqpa_reports::Report| {
        r.scenarios
            .iter()
            .map(|s| s.trace_sha256.clone())
            .collect::<Vec<_>>()
    };
    assert_ne!(
        hashes(&a.report),
        hashes(&b.report),
        "the desks' answer times are drawn from the seed"
    );
}
