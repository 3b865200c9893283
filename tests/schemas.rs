//! The published JSON Schemas (`schemas/`) hold for what the harness writes and reads: every
//! trace line of a standard run fits `trace.schema.json`, the examples of
//! `docs/trace-format.md` fit it and are read by `qaqpa judge`'s reader, and lines the reader
//! refuses the schema refuses too (a vendor whose evidence passes the schema is not then
//! surprised by the reader).

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use jsonschema::Validator;
use qaqpa_sim::trace::Trace;
use serde_json::Value;

fn repo_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A draft 2020-12 validator for `schemas/<name>`, with `format` checked, not only annotated.
fn validator(name: &str) -> Validator {
    let path = repo_file(&format!("schemas/{name}"));
    let schema: Value = serde_json::from_str(&read(&path))
        .unwrap_or_else(|e| panic!("{}: not JSON: {e}", path.display()));
    assert_eq!(
        schema["$schema"], "https://json-schema.org/draft/2020-12/schema",
        "{name} declares draft 2020-12"
    );
    jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap_or_else(|e| panic!("{}: not a valid schema: {e}", path.display()))
}

/// Every schema error of one instance, one per line, with where in the instance it is.
fn errors(v: &Validator, instance: &Value) -> Vec<String> {
    v.iter_errors(instance)
        .map(|e| format!("at {}: {e}", e.instance_path()))
        .collect()
}

fn reader_accepts(line: &str) -> Result<(), String> {
    Trace::read_jsonl(line.as_bytes(), "line")
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[test]
fn every_trace_of_a_standard_run_fits_the_trace_schema() {
    let schema = validator("trace.schema.json");
    let run = common::run("schemas-standard", 1, |a| a);
    let mut problems = Vec::new();
    let mut lines = 0;
    let mut kinds = BTreeSet::new();
    // the JSON-lines traces (the taps' pcaps lie beside them)
    let mut files: Vec<PathBuf> = std::fs::read_dir(run.dir.join("traces"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    files.sort();
    assert_eq!(
        files.len(),
        run.report.scenarios.len(),
        "one trace per scenario"
    );
    for f in &files {
        for (i, line) in read(f).lines().enumerate() {
            let v: Value = serde_json::from_str(line).unwrap();
            kinds.insert(v["event"]["kind"].as_str().unwrap_or("?").to_string());
            for e in errors(&schema, &v) {
                problems.push(format!("{}:{}: {e}", f.display(), i + 1));
            }
            lines += 1;
        }
    }
    assert!(
        problems.is_empty(),
        "{} schema error(s):\n{}",
        problems.len(),
        problems[..problems.len().min(20)].join("\n")
    );
    assert!(lines > 100, "only {lines} observations were checked");
    // The standard suite exercises every kind of event, so the schema of each is checked
    // against real output, not only against the examples.
    let all: BTreeSet<String> = [
        "document",
        "smtp-reply",
        "mail-delivered",
        "blocklist",
        "network",
        "policy-act",
        "flow",
        "stream",
        "known",
        "http-sent",
        "http-received",
        "page-written",
        "page-served",
        "tls-client",
        "tls-origin",
        "bus-call",
        "bus-received",
    ]
    .map(String::from)
    .into();
    assert_eq!(kinds, all, "event kinds seen in the standard run");
}

/// The lines of every ```jsonl block of the trace format's documentation.
fn documented_examples() -> Vec<Vec<String>> {
    let doc = read(&repo_file("docs/trace-format.md"));
    let mut blocks = Vec::new();
    let mut current: Option<Vec<String>> = None;
    for line in doc.lines() {
        match (&mut current, line.trim()) {
            (None, "```jsonl") => current = Some(Vec::new()),
            (Some(_), "```") => blocks.push(current.take().unwrap()),
            (Some(b), l) => b.push(l.to_string()),
            (None, _) => {}
        }
    }
    blocks
}

#[test]
fn the_documented_examples_fit_the_schema_and_the_reader() {
    let schema = validator("trace.schema.json");
    let blocks = documented_examples();
    assert!(blocks.len() >= 2, "the documentation shows examples");
    let mut kinds = BTreeSet::new();
    for block in &blocks {
        for line in block {
            let v: Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON: {e}\n{line}"));
            kinds.insert(v["event"]["kind"].as_str().unwrap().to_string());
            let errs = errors(&schema, &v);
            assert!(errs.is_empty(), "{line}\n{}", errs.join("\n"));
        }
        Trace::read_jsonl(block.join("\n").as_bytes(), "example")
            .unwrap_or_else(|e| panic!("the reader refuses a documented example: {e}"));
    }
    assert_eq!(kinds.len(), 9, "an example of every event kind: {kinds:?}");
}

/// Edits a dishonest or careless recorder might make: each must be refused by the schema and
/// by the reader alike.
#[test]
fn the_schema_refuses_what_the_reader_refuses() {
    let schema = validator("trace.schema.json");
    let blocks = documented_examples();
    let document: Value = serde_json::from_str(&blocks[0][0]).unwrap();
    let flow: Value = blocks
        .iter()
        .flatten()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|v| v["event"]["kind"] == "flow")
        .unwrap();
    let policy: Value = blocks
        .iter()
        .flatten()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|v| v["event"]["kind"] == "policy-act")
        .unwrap();
    type Edit = fn(&mut Value);
    let cases: Vec<(&str, Value, Edit)> = vec![
        ("an unknown top-level field", document.clone(), |v| {
            v["verdict"] = "pass".into()
        }),
        ("an unknown event field", document.clone(), |v| {
            v["event"]["granted"] = "yes".into()
        }),
        ("a misspelt document kind", document.clone(), |v| {
            v["event"]["document"] = "rejektion".into()
        }),
        ("an unknown channel", document.clone(), |v| {
            v["event"]["channel"] = "fax".into()
        }),
        ("no case", document.clone(), |v| {
            v["event"].as_object_mut().unwrap().remove("case");
        }),
        ("a time without an offset", document.clone(), |v| {
            v["at"] = "2025-03-20T13:30:00".into()
        }),
        ("a date for a time", document.clone(), |v| {
            v["at"] = "2025-03-20".into()
        }),
        ("a negative seq", document.clone(), |v| {
            v["seq"] = (-1).into()
        }),
        (
            "a field value that is not a string",
            document.clone(),
            |v| v["event"]["fields"]["main-channel-gbps"] = 10.into(),
        ),
        ("an unknown subject kind", document.clone(), |v| {
            v["subject"]["kind"] = "person".into()
        }),
        ("an unknown event kind", document.clone(), |v| {
            v["event"]["kind"] = "verdict".into()
        }),
        ("a port beyond 65535", flow.clone(), |v| {
            v["event"]["dport"] = 70000.into()
        }),
        ("a frame count below zero", flow.clone(), |v| {
            v["event"]["taps"]["inside"]["client_frames"] = (-3).into()
        }),
        (
            "a tap on a port the device does not have",
            flow.clone(),
            |v| v["event"]["taps"]["outside"] = v["event"]["taps"]["inside"].clone(),
        ),
        ("a flow without its script", flow.clone(), |v| {
            v["event"].as_object_mut().unwrap().remove("script");
        }),
        ("the old frame counts of a flow", flow.clone(), |v| {
            v["event"]["dropped"] = 3.into()
        }),
        ("a policy act of no known kind", policy.clone(), |v| {
            v["event"]["act"] = "allow-everything".into()
        }),
        (
            "an exemption without its organisation",
            policy.clone(),
            |v| {
                v["event"].as_object_mut().unwrap().remove("organisation");
            },
        ),
        ("a field of another policy act", policy.clone(), |v| {
            v["event"]["port"] = 443.into()
        }),
    ];
    let mut problems = Vec::new();
    for (what, mut v, edit) in cases {
        // Alone in its file, the line is the first: the reader must refuse it for the edit,
        // not for its place.
        v["seq"] = 0.into();
        edit(&mut v);
        let line = v.to_string();
        let schema_refuses = !schema.is_valid(&v);
        let reader_refuses = reader_accepts(&line).is_err();
        if !(schema_refuses && reader_refuses) {
            problems.push(format!(
                "{what}: schema refuses {schema_refuses}, reader refuses {reader_refuses}: {line}"
            ));
        }
    }
    // And what both accept: optional fields left out, a port count left out, an offset
    // other than Z, a fraction of a second.
    let accepted: Vec<(&str, Value, Edit)> = vec![
        ("no fields", document.clone(), |v| {
            v["event"].as_object_mut().unwrap().remove("fields");
        }),
        (
            "a port the flow never crossed, left out",
            flow.clone(),
            |v| {
                v["event"]["taps"]
                    .as_object_mut()
                    .unwrap()
                    .remove("outside-backup");
            },
        ),
        ("a port count without its streams", flow.clone(), |v| {
            let c = v["event"]["taps"]["inside"].as_object_mut().unwrap();
            c.remove("client_stream");
            c.remove("server_stream");
        }),
        ("an Almaty offset with a fraction", document.clone(), |v| {
            v["at"] = "2025-03-20T18:30:00.250+05:00".into()
        }),
        ("not TLS, said by leaving it out", flow.clone(), |v| {
            v["event"].as_object_mut().unwrap().remove("tls");
        }),
    ];
    for (what, mut v, edit) in accepted {
        v["seq"] = 0.into();
        edit(&mut v);
        let line = v.to_string();
        let errs = errors(&schema, &v);
        if !errs.is_empty() {
            problems.push(format!("{what}: the schema refuses: {}", errs.join("; ")));
        }
        if let Err(e) = reader_accepts(&line) {
            problems.push(format!("{what}: the reader refuses: {e}"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn report_json_fits_the_report_schema_whatever_the_outcome() {
    let schema = validator("report.schema.json");
    let standard = common::run("schemas-report-standard", 1, |a| a);
    // A failing and warning run: the schema must hold for fail and warning verdicts and the
    // evidence they carry, not only for a green run.
    let broken = common::run("schemas-report-defect", 1, |a| {
        a.defect("bus-silent-check").defect("ugia-specs-late")
    });
    // Waivers of every status: applied (ugia-6), expired (eint-45-10 fails on), stale (ugem-8
    // passes), not judged (a clause of a system the run does not certify is not-applicable).
    let waivers = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("schemas-waivers.toml");
    let waiver = |clause: &str, expires: &str| {
        format!(
            "[[waiver]]\nclause = \"{clause}\"\nreason = \"r\"\napprover = \"a\"\nexpires = {expires}\n"
        )
    };
    std::fs::write(
        &waivers,
        [
            waiver("ugia-6", "2999-12-31"),
            waiver("eint-45-10", "2000-01-01"),
            waiver("ugem-8", "2999-12-31"),
            waiver("ugem-12", "2999-12-31"),
        ]
        .concat(),
    )
    .unwrap();
    let waived = common::run("schemas-report-waivers", 1, |a| {
        a.system("ugia")
            .system("ugem")
            .system("bus")
            .defect("bus-silent-check")
            .defect("ugia-specs-late")
            .waivers(waivers.clone())
    });
    let statuses: BTreeSet<String> = waived
        .report
        .waivers
        .as_ref()
        .unwrap()
        .waivers
        .iter()
        .map(|w| w.status.to_string())
        .collect();
    assert!(
        statuses.is_superset(&["applied", "expired", "stale"].map(String::from).into()),
        "{statuses:?}"
    );
    let only_waived = common::run("schemas-report-waived", 1, |a| {
        a.system("ugia")
            .defect("ugia-specs-late")
            .waivers(waivers.clone())
    });
    let mut seen_outcomes = BTreeSet::new();
    for run in [&standard, &broken, &waived, &only_waived] {
        let path = run.dir.join("report.json");
        let v: Value = serde_json::from_str(&read(&path)).unwrap();
        let errs = errors(&schema, &v);
        assert!(
            errs.is_empty(),
            "{}: {} schema error(s):\n{}",
            path.display(),
            errs.len(),
            errs[..errs.len().min(20)].join("\n")
        );
        seen_outcomes.insert(v["outcome"].as_str().unwrap().to_string());
    }
    assert_eq!(
        seen_outcomes,
        ["fail", "pass", "pass-with-waivers"]
            .map(String::from)
            .into(),
        "the runs differ in outcome"
    );

    // Edits that break the contract are refused.
    let good: Value = serde_json::from_str(&read(&broken.dir.join("report.json"))).unwrap();
    type Edit = fn(&mut Value);
    let edits: Vec<(&str, Edit)> = vec![
        ("an unknown outcome", |v| {
            v["outcome"] = "mostly-fine".into()
        }),
        ("another schema version", |v| v["schema_version"] = 1.into()),
        ("a misspelt verdict", |v| {
            v["clauses"][0]["verdict"] = "passed".into()
        }),
        ("a clause without obligations", |v| {
            v["clauses"][0]
                .as_object_mut()
                .unwrap()
                .remove("obligations");
        }),
        ("an obligation without a verdict", |v| {
            v["clauses"][0]["obligations"][0]
                .as_object_mut()
                .unwrap()
                .remove("verdict");
        }),
        ("a total of no verdict", |v| v["totals"]["maybe"] = 1.into()),
        ("a short trace hash", |v| {
            v["scenarios"][0]["trace_sha256"] = "abc".into()
        }),
        ("an unknown system", |v| v["systems"][0] = "dns".into()),
        ("a calendar without its digest", |v| {
            v["calendar"].as_object_mut().unwrap().remove("sha256");
        }),
    ];
    for (what, edit) in edits {
        let mut v = good.clone();
        edit(&mut v);
        assert!(!schema.is_valid(&v), "the schema accepts {what}");
    }
    let good: Value = serde_json::from_str(&read(&waived.dir.join("report.json"))).unwrap();
    let edits: Vec<(&str, Edit)> = vec![
        ("an unknown waiver status", |v| {
            v["waivers"]["waivers"][0]["status"] = "forgiven".into()
        }),
        ("a waiver without an approver", |v| {
            v["waivers"]["waivers"][0]
                .as_object_mut()
                .unwrap()
                .remove("approver");
        }),
        ("an expiry that is not a date", |v| {
            v["waivers"]["waivers"][0]["expires"] = "soon".into()
        }),
    ];
    for (what, edit) in edits {
        let mut v = good.clone();
        edit(&mut v);
        assert!(!schema.is_valid(&v), "the schema accepts {what}");
    }
}
