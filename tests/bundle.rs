//! The certification bundle through the program as a user runs it: a run's folder bundled and
//! verified; one byte changed in one trace, a bundle signed with another key, a file added or
//! taken out: each rejected (exit 1) naming what is wrong; a file that is not a bundle is
//! exit 2. No private key ever enters a bundle: the bundles made here are searched for PEM
//! private-key blocks and for the signing key's own bytes.

use std::path::{Path, PathBuf};
use std::process::Command;

fn tmp(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn qaqpa(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_qaqpa"))
        .current_dir(dir)
        .args(args)
        .env("SOURCE_DATE_EPOCH", "1748779200")
        .output()
        .expect("qaqpa runs");
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// A folder with a small run (`run/`, a failure of ugia-6 waived) and a key pair (`key`,
/// `key.pub`).
fn setup(name: &str) -> PathBuf {
    let d = tmp(name);
    std::fs::write(
        d.join("waivers.toml"),
        "[[waiver]]\nclause = \"ugia-6\"\nreason = \"desk staffed from Q3\"\napprover = \"A. Seitkali\"\nexpires = 2025-12-31\n",
    )
    .unwrap();
    let (code, _, err) = qaqpa(
        &d,
        &[
            "run",
            "--clause",
            "ugia-6",
            "--defect",
            "ugia-specs-late",
            "--waivers",
            "waivers.toml",
            "--out",
            "run",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = qaqpa(&d, &["keygen", "--out", "key"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("fingerprint: sha256:"), "{out}");
    d
}

fn bundle(d: &Path, run: &str, key: &str, out: &str) -> (i32, String, String) {
    qaqpa(d, &["bundle", run, "--key", key, "--out", out])
}

fn verify(d: &Path, file: &str, pubkey: &str) -> (i32, String, String) {
    qaqpa(d, &["verify", file, "--pubkey", pubkey])
}

/// Every entry of a tar: name and bytes.
fn entries(tar_bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut a = tar::Archive::new(tar_bytes);
    a.entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let name = e.path().unwrap().to_str().unwrap().to_string();
            let mut buf = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut buf).unwrap();
            (name, buf)
        })
        .collect()
}

/// A tar of these entries, as any tar writer would make it.
fn repack(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, bytes) in entries {
        let mut h = tar::Header::new_ustar();
        h.set_mode(0o644);
        h.set_size(bytes.len() as u64);
        b.append_data(&mut h, name, &bytes[..]).unwrap();
    }
    b.into_inner().unwrap()
}

/// The 32 private bytes of a PKCS#8 Ed25519 key file, read independently of qaqpa: the
/// OCTET STRING (04 20) inside the privateKey OCTET STRING (04 22).
fn private_bytes(key_file: &Path) -> Vec<u8> {
    let p = pem::parse(std::fs::read(key_file).unwrap()).unwrap();
    assert_eq!(p.tag(), "PRIVATE KEY");
    let der = p.contents();
    let at = der
        .windows(4)
        .position(|w| w == [0x04, 0x22, 0x04, 0x20])
        .unwrap()
        + 4;
    der[at..at + 32].to_vec()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// What a bundle must never hold: any PEM private-key block, and the signing key in any of
/// its forms.
fn assert_no_private_key(bundle: &[u8], key_file: &Path) {
    assert!(
        !contains(bundle, b"PRIVATE KEY-----"),
        "a PEM private-key block"
    );
    assert!(
        !contains(bundle, &private_bytes(key_file)),
        "the key's private bytes"
    );
    let file = std::fs::read(key_file).unwrap();
    assert!(!contains(bundle, &file), "the key file");
    let body = String::from_utf8(file).unwrap();
    let b64 = body.lines().nth(1).unwrap();
    assert!(!contains(bundle, b64.as_bytes()), "the key file's base64");
}

#[test]
fn a_bundle_verifies_and_carries_the_run() {
    let d = setup("bundle-round-trip");
    let (code, out, err) = bundle(&d, "run", "key", "run.tar");
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("reference: "),
        "no target file: reference is noted: {out}"
    );
    let (code, out, err) = verify(&d, "run.tar", "key.pub");
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("OK: the signature verifies"), "{out}");
    assert!(out.contains("outcome pass-with-waivers"), "{out}");

    let bytes = std::fs::read(d.join("run.tar")).unwrap();
    assert_no_private_key(&bytes, &d.join("key"));
    let es = entries(&bytes);
    let names: Vec<&str> = es.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names[..2], ["manifest.json", "manifest.sig"]);
    for f in [
        "report.json",
        "report.md",
        "report.html",
        "report.xml",
        "waivers.toml",
        "provenance.json",
    ] {
        assert!(names.contains(&f), "{f} in {names:?}");
    }
    // Every trace of the run, byte for byte.
    for e in std::fs::read_dir(d.join("run/traces")).unwrap() {
        let p = e.unwrap().path();
        let name = format!("traces/{}", p.file_name().unwrap().to_str().unwrap());
        let (_, b) = es.iter().find(|(n, _)| *n == name).expect(&name);
        assert_eq!(*b, std::fs::read(&p).unwrap(), "{name}");
    }
    let manifest: serde_json::Value = serde_json::from_slice(&es[0].1).unwrap();
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("run/report.json")).unwrap()).unwrap();
    assert_eq!(manifest["seed"], report["seed"]);
    assert_eq!(manifest["suite_version"], report["suite_version"]);
    assert_eq!(manifest["calendar"]["sha256"], report["calendar"]["sha256"]);
    assert_eq!(manifest["target"]["file"], serde_json::Value::Null);
    assert_eq!(manifest["waivers"]["checked_on"], "2025-06-01");
    assert_eq!(manifest["files"].as_array().unwrap().len(), es.len() - 2);
    let provenance: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("run/provenance.json")).unwrap())
            .unwrap();
    assert_eq!(
        manifest["qaqpa_commit"],
        match &provenance["qaqpa_commit"] {
            serde_json::Value::Null => "unknown".into(),
            c => c.clone(),
        },
        "the commit that wrote the run"
    );
    assert_eq!(manifest["run_date"], "2025-06-01T12:00:00Z");
    // The same folder and key give the same bytes.
    let (code, _, err) = bundle(&d, "run", "key", "again.tar");
    assert_eq!(code, 0, "{err}");
    assert!(std::fs::read(d.join("again.tar")).unwrap() == bytes);
}

#[test]
fn one_changed_byte_in_one_trace_is_rejected_naming_the_trace() {
    let d = setup("bundle-tampered");
    assert_eq!(bundle(&d, "run", "key", "run.tar").0, 0);
    let mut bytes = std::fs::read(d.join("run.tar")).unwrap();
    let es = entries(&bytes);
    let (name, content) = es
        .iter()
        .find(|(n, _)| n.starts_with("traces/"))
        .unwrap()
        .clone();
    // The trace's bytes where they lie in the archive; one byte in their middle changes.
    let at = bytes
        .windows(content.len())
        .position(|w| w == &content[..])
        .unwrap();
    bytes[at + content.len() / 2] ^= 0x01;
    std::fs::write(d.join("tampered.tar"), &bytes).unwrap();
    let (code, _, err) = verify(&d, "tampered.tar", "key.pub");
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("REJECTED"), "{err}");
    assert!(
        err.contains(&format!("{name}: changed")),
        "names the trace: {err}"
    );
    assert_eq!(err.matches(": changed").count(), 1, "and only it: {err}");
}

#[test]
fn a_bundle_signed_with_another_key_is_rejected() {
    let d = setup("bundle-other-key");
    let (code, _, err) = qaqpa(&d, &["keygen", "--out", "other"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(bundle(&d, "run", "other", "run.tar").0, 0);
    let (code, _, err) = verify(&d, "run.tar", "key.pub");
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("does not verify with key.pub"), "{err}");
    assert!(
        err.contains("signed by the key sha256:"),
        "says whose it is: {err}"
    );
    // The manifest re-signed with another key does not pass as the first key's either.
    assert_eq!(verify(&d, "run.tar", "other.pub").0, 0);
}

#[test]
fn an_added_or_missing_file_is_rejected_naming_it() {
    let d = setup("bundle-extra");
    assert_eq!(bundle(&d, "run", "key", "run.tar").0, 0);
    let es = entries(&std::fs::read(d.join("run.tar")).unwrap());

    let mut added = es.clone();
    added.push(("traces/extra.jsonl".into(), b"{}\n".to_vec()));
    std::fs::write(d.join("added.tar"), repack(&added)).unwrap();
    let (code, _, err) = verify(&d, "added.tar", "key.pub");
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("traces/extra.jsonl: added"), "{err}");

    let dropped: Vec<_> = es
        .iter()
        .filter(|(n, _)| n != "report.xml")
        .cloned()
        .collect();
    std::fs::write(d.join("dropped.tar"), repack(&dropped)).unwrap();
    let (code, _, err) = verify(&d, "dropped.tar", "key.pub");
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("report.xml: missing"), "{err}");

    // The untouched entries repacked by another writer still verify: the check is of the
    // signed manifest and the files, not of the archive's bytes.
    std::fs::write(d.join("repacked.tar"), repack(&es)).unwrap();
    assert_eq!(verify(&d, "repacked.tar", "key.pub").0, 0);

    // Bytes hidden after the end of the archive are found too.
    let mut hidden = std::fs::read(d.join("run.tar")).unwrap();
    hidden.extend_from_slice(b"not zeros");
    std::fs::write(d.join("hidden.tar"), &hidden).unwrap();
    let (code, _, err) = verify(&d, "hidden.tar", "key.pub");
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("after the end of the archive"), "{err}");
}

#[test]
fn what_is_not_a_bundle_is_exit_2() {
    let d = setup("bundle-malformed");
    assert_eq!(bundle(&d, "run", "key", "run.tar").0, 0);
    let bytes = std::fs::read(d.join("run.tar")).unwrap();
    let es = entries(&bytes);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty.tar", vec![], "not a qaqpa bundle"),
        (
            "text.tar",
            b"hello, this is not a tar archive at all".repeat(20),
            "not a qaqpa bundle",
        ),
        ("cut.tar", bytes[..700].to_vec(), "not a qaqpa bundle"),
        (
            "nosig.tar",
            repack(
                &es.iter()
                    .filter(|(n, _)| n != "manifest.sig")
                    .cloned()
                    .collect::<Vec<_>>(),
            ),
            "no manifest.sig",
        ),
        ("nomanifest.tar", repack(&es[1..]), "no manifest.json"),
    ];
    for (name, content, says) in cases {
        std::fs::write(d.join(name), content).unwrap();
        let (code, _, err) = verify(&d, name, "key.pub");
        assert_eq!(code, 2, "{name}: {err}");
        assert!(err.contains(says), "{name}: {err}");
    }
    let (code, _, err) = verify(&d, "run.tar", "key");
    assert_eq!(code, 2, "a private key is no public key: {err}");
    assert!(err.contains("PUBLIC KEY"), "{err}");
}

#[test]
fn no_private_key_enters_a_bundle() {
    let d = setup("bundle-no-key");
    // The signing key dropped among the traces.
    std::fs::copy(d.join("key"), d.join("run/traces/key.pem")).unwrap();
    let (code, _, err) = bundle(&d, "run", "key", "run.tar");
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("traces/key.pem") && err.contains("private key"),
        "{err}"
    );
    assert!(!d.join("run.tar").exists());
    std::fs::remove_file(d.join("run/traces/key.pem")).unwrap();
    // The key's bytes without the PEM armour, pasted into a trace.
    std::fs::write(d.join("run/traces/raw.bin"), private_bytes(&d.join("key"))).unwrap();
    let (code, _, err) = bundle(&d, "run", "key", "run.tar");
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("traces/raw.bin") && err.contains("signing key"),
        "{err}"
    );
    std::fs::remove_file(d.join("run/traces/raw.bin")).unwrap();
    // Another key inside the target file: redacted, so the bundle holds none.
    let other = std::fs::read_to_string(d.join("key")).unwrap();
    std::fs::write(
        d.join("run/target.toml"),
        format!("kind = \"live\"\nname = \"X\"\n[bus]\nnotes = \"\"\"\n{other}\"\"\"\n"),
    )
    .unwrap();
    let (code, _, err) = bundle(&d, "run", "key", "run.tar");
    assert_eq!(code, 0, "{err}");
    let bytes = std::fs::read(d.join("run.tar")).unwrap();
    assert_no_private_key(&bytes, &d.join("key"));
    assert_eq!(verify(&d, "run.tar", "key.pub").0, 0);
}

#[test]
fn the_target_file_goes_in_with_its_secrets_redacted() {
    let d = setup("bundle-target");
    std::fs::write(
        d.join("run/target.toml"),
        "# lab, admin password hunter1\nkind = \"live\"\nname = \"Gateway X\"\n[ugem]\nsmtp = \"127.0.0.1:2525\"\nsmtp_password = \"hunter2\"\n[bus]\nsigning_key = \"/etc/qaqpa/sign.pem\"\napi_token = \"tok-123456\"\n",
    )
    .unwrap();
    std::fs::write(d.join("run/notes.txt"), "mine").unwrap();
    let (code, out, err) = bundle(&d, "run", "key", "run.tar");
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("not bundled (not written by qaqpa): notes.txt"),
        "{out}"
    );
    let es = entries(&std::fs::read(d.join("run.tar")).unwrap());
    let (_, target) = es.iter().find(|(n, _)| n == "target.toml").unwrap();
    let target = String::from_utf8(target.clone()).unwrap();
    for secret in ["hunter1", "hunter2", "tok-123456"] {
        assert!(!target.contains(secret), "{secret}:\n{target}");
    }
    assert!(
        target.contains("/etc/qaqpa/sign.pem"),
        "a path stays:\n{target}"
    );
    assert!(target.contains("127.0.0.1:2525"), "{target}");
    let manifest: serde_json::Value = serde_json::from_slice(&es[0].1).unwrap();
    assert_eq!(manifest["target"]["file"], "target.toml");
    assert_eq!(
        manifest["target"]["redacted"],
        serde_json::json!(["bus.api_token", "ugem.smtp_password"]),
        "in order"
    );
    assert!(!es.iter().any(|(n, _)| n == "notes.txt"));
}

#[test]
fn only_a_run_folder_as_written_is_bundled() {
    let d = setup("bundle-not-a-run");
    std::fs::create_dir_all(d.join("elsewhere")).unwrap();
    std::fs::write(d.join("elsewhere/report.json"), "{\"title\": \"Q3\"}").unwrap();
    let (code, _, err) = bundle(&d, "elsewhere", "key", "x.tar");
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("is not a folder `qaqpa run --out` wrote"),
        "{err}"
    );
    let (code, _, err) = bundle(&d, "no-such-dir", "key", "x.tar");
    assert_eq!(code, 2, "{err}");
    // A trace edited after the run.
    let trace = std::fs::read_dir(d.join("run/traces"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut text = std::fs::read(&trace).unwrap();
    text.push(b'\n');
    std::fs::write(&trace, text).unwrap();
    let (code, _, err) = bundle(&d, "run", "key", "x.tar");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("changed after the run"), "{err}");
    // A live run's folder without its target file.
    let d = setup("bundle-live");
    let path = d.join("run/report.json");
    let text = std::fs::read_to_string(&path).unwrap().replacen(
        "\"kind\": \"reference\"",
        "\"kind\": \"live\"",
        1,
    );
    std::fs::write(&path, text).unwrap();
    let (code, _, err) = bundle(&d, "run", "key", "x.tar");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--target FILE"), "{err}");
    std::fs::write(d.join("lab.toml"), "kind = \"live\"\nname = \"X\"\n").unwrap();
    let (code, _, err) = qaqpa(
        &d,
        &[
            "bundle", "run", "--key", "key", "--out", "x.tar", "--target", "lab.toml",
        ],
    );
    assert_eq!(code, 0, "{err}");
    // Keys are never overwritten.
    let (code, _, err) = qaqpa(&d, &["keygen", "--out", "key"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("already exists"), "{err}");
}
