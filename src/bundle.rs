//! The certification bundle: a run's evidence packed so that anyone can check offline that
//! nothing in it changed since the holder of a key signed it.
//!
//! - `qaqpa keygen --out KEY` writes an Ed25519 key: `KEY` (PKCS#8 in PEM, as ring generates
//!   it; mode 0600) and `KEY.pub` (the public key as an X.509 SubjectPublicKeyInfo in PEM).
//! - `qaqpa bundle RUN_DIR --key KEY --out FILE` packs a folder `qaqpa run --out` (or `judge`,
//!   `campaign`, `merge`) wrote: its reports, traces (captures included), the waivers file, the
//!   provenance, and the target file with its secrets redacted ([`crate::redact`]), behind a
//!   manifest of every file's SHA-256 and the run's identity, signed with the key.
//! - `qaqpa verify FILE --pubkey PUB` checks the signature, then every file against the
//!   manifest: a changed, missing or added file is named (exit 1); a file that is not a bundle
//!   is exit 2.
//!
//! The format is a plain POSIX tar (`docs/bundle-format.md`): `manifest.json`,
//! `manifest.sig` (the 64-byte Ed25519 signature of `manifest.json`'s bytes), then the files
//! under their paths in the run's folder, so an unpacked bundle is a run folder again
//! (`qaqpa judge traces/` reads it) and `tar`, `sha256sum` and `openssl` can check it without
//! qaqpa. Same folder and key, same bytes: entries are in path order with zero times and
//! owners, and Ed25519 signatures are deterministic.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use qaqpa_reports::Report;
use ring::signature::{self, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{CliError, FAILED};
use crate::output;
use crate::redact;

/// The manifest's `format`.
pub const FORMAT: &str = "qaqpa-bundle";
/// The manifest's `format_version`; `docs/bundle-format.md` describes it.
pub const FORMAT_VERSION: u32 = 1;
/// The signed manifest and its signature: the first two entries of a bundle.
pub const MANIFEST: &str = "manifest.json";
pub const SIGNATURE: &str = "manifest.sig";
/// The redacted target file's name in a run folder and in a bundle.
pub const TARGET: &str = "target.toml";
/// What a campaign's folder holds besides the reports.
const CAMPAIGN_FILES: &[&str] = &["seeds.jsonl", "summary.json", "summary.md"];

/// DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410): SEQUENCE { SEQUENCE { OID
/// 1.3.101.112 }, BIT STRING (0 unused bits) }, then the 32 bytes of the key.
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

#[derive(clap::Args)]
pub struct KeygenArgs {
    /// Where the private key goes (PKCS#8 PEM, mode 0600); the public key goes to FILE.pub.
    /// Existing files are never overwritten.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

#[derive(clap::Args)]
pub struct BundleArgs {
    /// A folder `qaqpa run --out` wrote (or `judge`, `campaign`, `merge`): it holds report.json.
    #[arg(value_name = "RUN_DIR")]
    run_dir: PathBuf,
    /// The Ed25519 private key that signs the manifest (`qaqpa keygen`; PKCS#8 PEM).
    #[arg(long, value_name = "KEY")]
    key: PathBuf,
    /// The bundle to write (a tar file); an existing file is replaced.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// The target file the run was made with, when RUN_DIR does not hold it as target.toml.
    #[arg(long, value_name = "FILE")]
    target: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct VerifyArgs {
    /// The bundle to check.
    #[arg(value_name = "FILE")]
    bundle: PathBuf,
    /// The signer's public key (`qaqpa keygen` writes it as KEY.pub; SubjectPublicKeyInfo PEM).
    #[arg(long, value_name = "PUB")]
    pubkey: PathBuf,
}

impl BundleArgs {
    pub fn new(run_dir: PathBuf, key: PathBuf, out: PathBuf) -> BundleArgs {
        BundleArgs {
            run_dir,
            key,
            out,
            target: None,
        }
    }
}

impl VerifyArgs {
    pub fn new(bundle: PathBuf, pubkey: PathBuf) -> VerifyArgs {
        VerifyArgs { bundle, pubkey }
    }
}

/// The signed description of a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: String,
    pub format_version: u32,
    pub suite_version: String,
    /// The qaqpa commit that wrote the run (its `provenance.json`), or `unknown`.
    pub qaqpa_commit: String,
    /// The qaqpa commit that made the bundle.
    pub bundled_by_commit: String,
    /// The run date from `SOURCE_DATE_EPOCH` at run time, when it was set.
    pub run_date: Option<String>,
    pub seed: u64,
    pub campaign: Option<qaqpa_reports::report::CampaignSeeds>,
    pub outcome: String,
    pub systems: Vec<String>,
    pub target: TargetEntry,
    pub calendar: CalendarEntry,
    pub waivers: Option<WaiversEntry>,
    pub signer: Signer,
    /// Every file of the bundle but the manifest and its signature, in path order.
    pub files: Vec<FileEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetEntry {
    pub kind: String,
    pub name: String,
    pub defects: Vec<String>,
    /// `target.toml` when the bundle holds the redacted target file.
    pub file: Option<String>,
    /// The dotted names of the target file's fields whose values were redacted.
    pub redacted: Vec<String>,
    pub note: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarEntry {
    /// `report.json`'s `calendar.sha256`: the days every deadline rested on.
    pub sha256: String,
    pub sources: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaiversEntry {
    pub file: String,
    pub checked_on: String,
    pub count: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signer {
    pub algorithm: String,
    /// SHA-256 of the public key's SubjectPublicKeyInfo DER (`openssl pkey -pubin -in PUB
    /// -outform DER | sha256sum`).
    pub public_key_sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    pub path: String,
    pub sha256: String,
    pub bytes: u64,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn sha256(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn input_err(path: &Path, what: impl std::fmt::Display) -> CliError {
    CliError::input(format!("{}: {what}", path.display()))
}

fn rejected(message: impl Into<String>) -> CliError {
    CliError {
        code: FAILED,
        message: message.into(),
    }
}

/// An Ed25519 public key as a SubjectPublicKeyInfo DER.
fn spki_der(raw: &[u8]) -> Vec<u8> {
    [&ED25519_SPKI_PREFIX[..], raw].concat()
}

fn fingerprint(raw_public: &[u8]) -> String {
    sha256(&spki_der(raw_public))
}

fn pem_lf(tag: &str, der: &[u8]) -> String {
    pem::encode_config(
        &pem::Pem::new(tag, der),
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}

/// A signing key and what identifies it, kept to search the bundle for it.
struct SigningKey {
    pair: Ed25519KeyPair,
    /// The key file's bytes, its PKCS#8 DER, and the 32-byte private seed: none may be in a
    /// bundle.
    secrets: Vec<(&'static str, Vec<u8>)>,
}

/// The 32-byte seed in a PKCS#8 Ed25519 key (v1 or v2): the OCTET STRING inside the
/// privateKey OCTET STRING (`04 22 04 20` then the seed).
fn seed_of(pkcs8: &[u8]) -> Option<Vec<u8>> {
    let at = redact::find(pkcs8, &[0x04, 0x22, 0x04, 0x20])? + 4;
    pkcs8.get(at..at + 32).map(<[u8]>::to_vec)
}

fn load_signing_key(path: &Path) -> Result<SigningKey, CliError> {
    let bytes =
        std::fs::read(path).map_err(|e| input_err(path, format!("cannot read the key: {e}")))?;
    let parsed = pem::parse(&bytes).map_err(|e| {
        input_err(
            path,
            format!("not a PEM private key ({e}); `qaqpa keygen --out KEY` writes one"),
        )
    })?;
    if parsed.tag() != "PRIVATE KEY" {
        return Err(input_err(
            path,
            format!(
                "a PEM `{}` block, expected `PRIVATE KEY` (an unencrypted PKCS#8 Ed25519 key as `qaqpa keygen` or `openssl genpkey -algorithm ed25519` writes)",
                parsed.tag()
            ),
        ));
    }
    let der = parsed.contents().to_vec();
    // A v2 document (ring's) carries the public key, checked against the private one; a v1
    // document (OpenSSL's) does not.
    let pair = Ed25519KeyPair::from_pkcs8(&der)
        .or_else(|_| Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der))
        .map_err(|e| input_err(path, format!("not an Ed25519 PKCS#8 private key: {e}")))?;
    // The first line of the key file's base64, found even where the file was pasted into
    // another with its line breaks escaped.
    let first_line = String::from_utf8_lossy(&bytes)
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with("-----"))
        .map(|l| l.as_bytes().to_vec());
    let mut secrets = vec![
        ("the key file", bytes),
        ("the key's PKCS#8 DER", der.clone()),
    ];
    if let Some(l) = first_line.filter(|l| l.len() >= 32) {
        secrets.push(("the key file's base64", l));
    }
    if let Some(seed) = seed_of(&der) {
        secrets.push(("the key's private bytes", seed));
    }
    Ok(SigningKey { pair, secrets })
}

/// The 32 bytes of an Ed25519 public key from its SubjectPublicKeyInfo PEM.
fn load_public_key(path: &Path) -> Result<Vec<u8>, CliError> {
    let bytes = std::fs::read(path)
        .map_err(|e| input_err(path, format!("cannot read the public key: {e}")))?;
    let parsed = pem::parse(&bytes).map_err(|e| {
        input_err(
            path,
            format!("not a PEM public key ({e}); `qaqpa keygen --out KEY` writes KEY.pub"),
        )
    })?;
    let der = parsed.contents();
    if parsed.tag() != "PUBLIC KEY" || der.len() != 44 || der[..12] != ED25519_SPKI_PREFIX {
        return Err(input_err(
            path,
            format!(
                "expected an Ed25519 `PUBLIC KEY` (SubjectPublicKeyInfo, 44 bytes of DER), found a PEM `{}` block of {} bytes",
                parsed.tag(),
                der.len()
            ),
        ));
    }
    Ok(der[12..].to_vec())
}

/// Writes a new file, never replacing one; `mode` on Unix.
fn create_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), CliError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut f = options.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            CliError::input(format!(
                "{}: already exists; a key is never overwritten (choose another --out or remove it yourself)",
                path.display()
            ))
        } else {
            CliError::output(format!("cannot write {}: {e}", path.display()))
        }
    })?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .map_err(|e| CliError::output(format!("cannot write {}: {e}", path.display())))
}

/// `qaqpa keygen`: a new Ed25519 key pair from the operating system's randomness (a key is
/// outside the simulated world: nothing about it needs to repeat).
pub fn keygen(args: &KeygenArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let public_path = PathBuf::from(format!("{}.pub", args.out.display()));
    for p in [&args.out, &public_path] {
        if p.exists() {
            return Err(CliError::input(format!(
                "{}: already exists; a key is never overwritten",
                p.display()
            )));
        }
    }
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng)
        .map_err(|_| CliError::output("the system's random number generator failed"))?;
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("ring reads what it generated");
    let raw = pair.public_key().as_ref();
    create_new(
        &args.out,
        pem_lf("PRIVATE KEY", pkcs8.as_ref()).as_bytes(),
        0o600,
    )?;
    create_new(
        &public_path,
        pem_lf("PUBLIC KEY", &spki_der(raw)).as_bytes(),
        0o644,
    )?;
    writeln!(
        out,
        "private key: {} (keep it secret, outside any run folder)\npublic key:  {} (give it to whoever verifies)\nfingerprint: sha256:{}",
        args.out.display(),
        public_path.display(),
        fingerprint(raw)
    )
    .map_err(|e| CliError::output(format!("cannot write to standard output: {e}")))
}

/// Whether a path inside a bundle is one the format allows: relative, `/`-separated, each
/// part of letters, digits, `.`, `_`, `-`, none `.` or `..`.
pub fn valid_path(p: &str) -> bool {
    !p.is_empty()
        && p.len() <= 1024
        && p.split('/').all(|part| {
            !part.is_empty()
                && part != "."
                && part != ".."
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        })
}

/// Every regular file under `dir`, as paths relative to `root`, in order; anything else is an
/// error (a bundle holds regular files only, and a link could point outside the run).
fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) -> Result<(), CliError> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| input_err(dir, format!("cannot list it: {e}")))?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(|e| input_err(dir, format!("cannot list it: {e}")))?;
    entries.sort();
    for p in entries {
        let meta = std::fs::symlink_metadata(&p)
            .map_err(|e| input_err(&p, format!("cannot read it: {e}")))?;
        if meta.is_dir() {
            walk(root, &p, out)?;
        } else if meta.is_file() {
            out.push(relative(root, &p)?);
        } else {
            return Err(input_err(
                &p,
                "is not a regular file (a link or a device): a bundle holds regular files only",
            ));
        }
    }
    Ok(())
}

fn relative(root: &Path, p: &Path) -> Result<String, CliError> {
    let rel = p.strip_prefix(root).expect("walked from the root");
    let parts: Option<Vec<&str>> = rel.components().map(|c| c.as_os_str().to_str()).collect();
    let s = parts
        .map(|v| v.join("/"))
        .ok_or_else(|| input_err(p, "its name is not UTF-8"))?;
    if !valid_path(&s) {
        return Err(input_err(
            p,
            "its name has characters a bundle does not carry (letters, digits, `.`, `_`, `-`)",
        ));
    }
    Ok(s)
}

/// The run's `report.json`, refusing a folder that is not a qaqpa run's.
fn read_run(dir: &Path) -> Result<Report, CliError> {
    let shown = dir.display();
    if !dir.is_dir() {
        return Err(CliError::input(format!(
            "{shown}: not a folder; name the folder `qaqpa run --out` wrote"
        )));
    }
    let path = dir.join("report.json");
    if !path.is_file() || !output::holds_a_qaqpa_report(dir) {
        return Err(CliError::input(format!(
            "{shown} is not a folder `qaqpa run --out` wrote: it holds no qaqpa report.json"
        )));
    }
    let text = std::fs::read_to_string(&path).map_err(|e| input_err(&path, e))?;
    let version = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v["schema_version"].as_u64());
    serde_json::from_str(&text).map_err(|e| {
        input_err(
            &path,
            format!(
                "not a report this qaqpa reads (schema_version {}, this qaqpa writes {}): {e}; bundle a run of this version",
                version.map_or("missing".to_string(), |v| v.to_string()),
                qaqpa_reports::report::SCHEMA_VERSION
            ),
        )
    })
}

#[derive(Deserialize)]
struct Provenance {
    qaqpa_commit: Option<String>,
    run_date: Option<String>,
}

/// The file that would go into a bundle: its path in the bundle and its bytes.
struct Item {
    path: String,
    bytes: Vec<u8>,
}

/// `qaqpa bundle`.
pub fn bundle(args: &BundleArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let dir = &args.run_dir;
    let report = read_run(dir)?;
    let key = load_signing_key(&args.key)?;

    // What the folder holds that qaqpa wrote; anything else is left out and said.
    let mut names: Vec<String> = Vec::new();
    let mut skipped: Vec<String> = Vec::new();
    let mut top: Vec<(String, std::fs::Metadata)> = Vec::new();
    for e in std::fs::read_dir(dir).map_err(|e| input_err(dir, format!("cannot list it: {e}")))? {
        let e = e.map_err(|e| input_err(dir, format!("cannot list it: {e}")))?;
        let name = e.file_name().to_string_lossy().into_owned();
        let meta = std::fs::symlink_metadata(e.path()).map_err(|x| input_err(&e.path(), x))?;
        top.push((name, meta));
    }
    top.sort_by(|a, b| a.0.cmp(&b.0));
    let ours = |n: &str| {
        output::REPORT_FILES.contains(&n)
            || CAMPAIGN_FILES.contains(&n)
            || [output::WAIVERS, output::PROVENANCE].contains(&n)
    };
    for (name, meta) in &top {
        let p = dir.join(name);
        if name == output::TRACES {
            if !meta.is_dir() {
                return Err(input_err(&p, "is not a folder"));
            }
            walk(dir, &p, &mut names)?;
        } else if ours(name) {
            if !meta.is_file() {
                return Err(input_err(
                    &p,
                    "is not a regular file (a link?): a bundle holds regular files only",
                ));
            }
            names.push(name.clone());
        } else if name != TARGET {
            skipped.push(name.clone());
        }
    }

    let mut items: Vec<Item> = Vec::new();
    for n in &names {
        let p = dir.join(n);
        let bytes = std::fs::read(&p).map_err(|e| input_err(&p, format!("cannot read it: {e}")))?;
        items.push(Item {
            path: n.clone(),
            bytes,
        });
    }
    check_traces(dir, &report, &items)?;

    // The target file, redacted.
    let in_dir = dir.join(TARGET);
    let target_source = match (&args.target, in_dir.is_file()) {
        (Some(_), true) => {
            return Err(CliError::input(format!(
                "{} holds the run's target file already; --target is for a run folder without one",
                in_dir.display()
            )));
        }
        (Some(t), false) => Some(t.clone()),
        (None, true) => Some(in_dir),
        (None, false) => None,
    };
    let (target_file, redacted, note) = match &target_source {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| input_err(path, format!("cannot read the target file: {e}")))?;
            let r = redact::redact_target(&text, &path.display().to_string())?;
            items.push(Item {
                path: TARGET.into(),
                bytes: r.text.into_bytes(),
            });
            let note = format!(
                "{}: the target file, with {} field(s) redacted",
                report.target.kind,
                r.fields.len()
            );
            (Some(TARGET.to_string()), r.fields, note)
        }
        None if report.target.kind == "live" => {
            return Err(CliError::input(format!(
                "{}: report.json says the target was live ({}), but the folder has no {TARGET}: pass the target file with --target FILE",
                dir.display(),
                report.target.name
            )));
        }
        None => {
            let note = match report.target.kind.as_str() {
                "reference" => "reference: the suite's own reference systems, run in process; there is no target file".to_string(),
                "recorded" => format!("recorded: traces recorded elsewhere and judged ({}); there is no target file", report.target.name),
                other => format!("{other}: there is no target file"),
            };
            (None, vec![], note)
        }
    };

    if let Some(w) = &report.waivers
        && !items.iter().any(|i| i.path == output::WAIVERS)
    {
        return Err(CliError::input(format!(
            "{}: report.json was judged with the waivers of {} but the folder has no {}: a bundle carries the waivers that were signed off",
            dir.display(),
            w.file,
            output::WAIVERS
        )));
    }

    // No private key, of any kind, and not the signing key in any form.
    for item in &items {
        if redact::holds_pem_private_key(&item.bytes) {
            return Err(CliError::input(format!(
                "refusing to bundle {}: it holds a PEM private-key block; a bundle never carries a private key",
                dir.join(&item.path).display()
            )));
        }
        for (what, secret) in &key.secrets {
            if redact::find(&item.bytes, secret).is_some() {
                return Err(CliError::input(format!(
                    "refusing to bundle {}: it holds {what} of the signing key",
                    dir.join(&item.path).display()
                )));
            }
        }
    }

    items.sort_by(|a, b| a.path.cmp(&b.path));
    let provenance: Option<Provenance> = items
        .iter()
        .find(|i| i.path == output::PROVENANCE)
        .map(|i| {
            serde_json::from_slice(&i.bytes).map_err(|e| {
                input_err(
                    &dir.join(output::PROVENANCE),
                    format!("not qaqpa's provenance: {e}"),
                )
            })
        })
        .transpose()?;
    let raw_public = key.pair.public_key().as_ref().to_vec();
    let manifest = Manifest {
        format: FORMAT.into(),
        format_version: FORMAT_VERSION,
        suite_version: report.suite_version.clone(),
        qaqpa_commit: provenance
            .as_ref()
            .and_then(|p| p.qaqpa_commit.clone())
            .unwrap_or_else(|| "unknown".into()),
        bundled_by_commit: crate::cli::COMMIT.unwrap_or("unknown").to_string(),
        run_date: provenance.and_then(|p| p.run_date),
        seed: report.seed,
        campaign: report.campaign,
        outcome: report.outcome.as_str().to_string(),
        systems: report.systems.clone(),
        target: TargetEntry {
            kind: report.target.kind.clone(),
            name: report.target.name.clone(),
            defects: report.target.defects.clone(),
            file: target_file,
            redacted,
            note,
        },
        calendar: CalendarEntry {
            sha256: report.calendar.sha256.clone(),
            sources: report.calendar.sources.clone(),
        },
        waivers: report.waivers.as_ref().map(|w| WaiversEntry {
            file: output::WAIVERS.into(),
            checked_on: w.checked_on.to_string(),
            count: w.waivers.len(),
        }),
        signer: Signer {
            algorithm: "ed25519".into(),
            public_key_sha256: fingerprint(&raw_public),
        },
        files: items
            .iter()
            .map(|i| FileEntry {
                path: i.path.clone(),
                sha256: sha256(&i.bytes),
                bytes: i.bytes.len() as u64,
            })
            .collect(),
    };
    let manifest_bytes = serde_json::to_string_pretty(&manifest).expect("JSON") + "\n";
    let signature = key.pair.sign(manifest_bytes.as_bytes());

    let packed = pack(&manifest_bytes, signature.as_ref(), &items)
        .map_err(|e| CliError::input(format!("cannot pack the bundle: {e}")))?;
    output::write_atomically(&args.out, &packed)?;
    let mut said = format!(
        "bundle: {} ({} files, {} bytes), signed by sha256:{}\n",
        args.out.display(),
        items.len(),
        packed.len(),
        manifest.signer.public_key_sha256
    );
    said.push_str(&format!("target: {}\n", manifest.target.note));
    if !skipped.is_empty() {
        said.push_str(&format!(
            "not bundled (not written by qaqpa): {}\n",
            skipped.join(", ")
        ));
    }
    out.write_all(said.as_bytes())
        .map_err(|e| CliError::output(format!("cannot write to standard output: {e}")))
}

/// The archive: the manifest, its signature, then the files in path order; every entry a
/// regular file of mode 0644 owned by 0:0 at time 0, so the same input gives the same bytes.
fn pack(manifest: &str, signature: &[u8], items: &[Item]) -> std::io::Result<Vec<u8>> {
    let mut tar = tar::Builder::new(Vec::new());
    let mut append = |path: &str, bytes: &[u8]| -> std::io::Result<()> {
        let mut h = tar::Header::new_ustar();
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_size(bytes.len() as u64);
        h.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut h, path, bytes)
    };
    append(MANIFEST, manifest.as_bytes())?;
    append(SIGNATURE, signature)?;
    for i in items {
        append(&i.path, &i.bytes)?;
    }
    tar.into_inner()
}

/// Each trace of a single run must be the one `report.json` hashed: a trace edited after the
/// run is refused before anyone signs it.
fn check_traces(dir: &Path, report: &Report, items: &[Item]) -> Result<(), CliError> {
    if report.campaign.is_some() {
        return Ok(());
    }
    for s in &report.scenarios {
        let path = format!("{}/{}.jsonl", output::TRACES, s.id);
        let Some(item) = items.iter().find(|i| i.path == path) else {
            return Err(CliError::input(format!(
                "{}: missing; report.json judged scenario `{}` from it",
                dir.join(&path).display(),
                s.id
            )));
        };
        if sha256(&item.bytes) != s.trace_sha256 {
            return Err(CliError::input(format!(
                "{}: its SHA-256 is not the one report.json records ({}): the trace changed after the run; bundle the run as it was written",
                dir.join(&path).display(),
                s.trace_sha256
            )));
        }
    }
    Ok(())
}

/// `qaqpa verify`: exit 0 when the bundle is intact and signed by `--pubkey`; 1 when it is not
/// (the message names each changed, missing or added file); 2 when it is not a bundle.
pub fn verify(args: &VerifyArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let public = load_public_key(&args.pubkey)?;
    let shown = args.bundle.display().to_string();
    let malformed = |what: String| CliError::input(format!("{shown}: not a qaqpa bundle: {what}"));
    let file = std::fs::File::open(&args.bundle)
        .map_err(|e| CliError::input(format!("{shown}: cannot read it: {e}")))?;
    let mut archive = tar::Archive::new(std::io::BufReader::new(file));
    archive.set_ignore_zeros(false);
    let mut manifest_bytes: Option<Vec<u8>> = None;
    let mut signature: Option<Vec<u8>> = None;
    // Path → (SHA-256, bytes) of every other entry, in archive order.
    let mut found: BTreeMap<String, (String, u64)> = BTreeMap::new();
    let entries = archive
        .entries()
        .map_err(|e| malformed(format!("not a tar archive ({e})")))?;
    let mut count = 0usize;
    for entry in entries {
        let mut entry = entry.map_err(|e| malformed(format!("a broken tar entry ({e})")))?;
        count += 1;
        let path = entry
            .path()
            .map_err(|e| malformed(format!("an entry's name is unreadable ({e})")))?
            .to_str()
            .map(str::to_string)
            .ok_or_else(|| malformed("an entry's name is not UTF-8".into()))?;
        if !valid_path(&path) {
            return Err(malformed(format!(
                "entry `{path}`: a name the format does not allow (relative, letters, digits, `.`, `_`, `-`)"
            )));
        }
        if entry.header().entry_type() != tar::EntryType::Regular {
            return Err(malformed(format!(
                "entry `{path}` is a {:?}, not a regular file",
                entry.header().entry_type()
            )));
        }
        let duplicate = found.contains_key(&path)
            || (path == MANIFEST && manifest_bytes.is_some())
            || (path == SIGNATURE && signature.is_some());
        if duplicate {
            return Err(malformed(format!("`{path}` is in it twice")));
        }
        if path == MANIFEST || path == SIGNATURE {
            let mut buf = Vec::new();
            // The manifest is small; a huge one is not ours.
            (&mut entry)
                .take(64 << 20)
                .read_to_end(&mut buf)
                .map_err(|e| malformed(format!("`{path}` cannot be read ({e})")))?;
            if path == MANIFEST {
                manifest_bytes = Some(buf);
            } else {
                signature = Some(buf);
            }
            continue;
        }
        let mut h = Sha256::new();
        let n = std::io::copy(&mut entry, &mut h)
            .map_err(|e| malformed(format!("`{path}` cannot be read ({e})")))?;
        found.insert(path, (hex(&h.finalize()), n));
    }
    if count == 0 {
        return Err(malformed("an empty archive".into()));
    }
    // Past the end-of-archive blocks only zeros may follow (a writer's padding): bytes there
    // are hidden from tar readers, and a bundle hides nothing.
    let mut rest = Vec::new();
    archive
        .into_inner()
        .read_to_end(&mut rest)
        .map_err(|e| CliError::input(format!("{shown}: cannot read it: {e}")))?;
    let hidden_after_end = rest.iter().any(|b| *b != 0);
    let manifest_bytes = manifest_bytes.ok_or_else(|| malformed(format!("no {MANIFEST}")))?;
    let signature = signature.ok_or_else(|| malformed(format!("no {SIGNATURE}")))?;
    if signature.len() != 64 {
        return Err(malformed(format!(
            "{SIGNATURE} has {} bytes; an Ed25519 signature has 64",
            signature.len()
        )));
    }
    let given = fingerprint(&public);
    if UnparsedPublicKey::new(&signature::ED25519, &public)
        .verify(&manifest_bytes, &signature)
        .is_err()
    {
        // Unverified, the manifest's word on its signer is only a hint.
        let claimed = serde_json::from_slice::<serde_json::Value>(&manifest_bytes)
            .ok()
            .and_then(|v| {
                v["signer"]["public_key_sha256"]
                    .as_str()
                    .map(str::to_string)
            });
        let hint = match claimed {
            Some(c) if c != given => format!(
                "; the manifest says it was signed by the key sha256:{c}, not by {}",
                args.pubkey.display()
            ),
            _ => format!("; {MANIFEST} was changed after it was signed"),
        };
        return Err(rejected(format!(
            "{shown}: REJECTED: the signature of {MANIFEST} does not verify with {} (sha256:{given}){hint}",
            args.pubkey.display()
        )));
    }
    let manifest: Manifest = serde_json::from_slice(&manifest_bytes).map_err(|e| {
        malformed(format!(
            "{MANIFEST} is signed but not a manifest this qaqpa reads: {e}"
        ))
    })?;
    if manifest.format != FORMAT || manifest.format_version != FORMAT_VERSION {
        return Err(malformed(format!(
            "{MANIFEST} is format `{}` version {}, this qaqpa reads `{FORMAT}` version {FORMAT_VERSION}",
            manifest.format, manifest.format_version
        )));
    }
    let mut problems: Vec<String> = Vec::new();
    if manifest.signer.public_key_sha256 != given {
        problems.push(format!(
            "{MANIFEST}: names the signer sha256:{}, but verified with sha256:{given}",
            manifest.signer.public_key_sha256
        ));
    }
    let mut listed: BTreeMap<&str, &FileEntry> = BTreeMap::new();
    for f in &manifest.files {
        if !valid_path(&f.path) || listed.insert(&f.path, f).is_some() {
            return Err(malformed(format!(
                "{MANIFEST} lists `{}` badly or twice",
                f.path
            )));
        }
    }
    for (path, f) in &listed {
        match found.get(*path) {
            None => problems.push(format!(
                "{path}: missing (listed in the manifest, not in the bundle)"
            )),
            Some((sha, n)) if *sha != f.sha256 || *n != f.bytes => problems.push(format!(
                "{path}: changed (SHA-256 {sha}, {n} bytes; the manifest says {}, {} bytes)",
                f.sha256, f.bytes
            )),
            Some(_) => {}
        }
    }
    for path in found.keys() {
        if !listed.contains_key(path.as_str()) {
            problems.push(format!(
                "{path}: added (in the bundle, not in the manifest)"
            ));
        }
    }
    if hidden_after_end {
        problems.push("bytes after the end of the archive (added, hidden from tar readers)".into());
    }
    if !problems.is_empty() {
        return Err(rejected(format!(
            "{shown}: REJECTED: {} problem(s):\n  {}",
            problems.len(),
            problems.join("\n  ")
        )));
    }
    let waivers = manifest.waivers.as_ref().map_or("none".to_string(), |w| {
        format!("{} (checked on {})", w.count, w.checked_on)
    });
    writeln!(
        out,
        "{shown}: OK: the signature verifies with {} (sha256:{given}) and all {} files match the manifest\n\
         suite {} (qaqpa commit {}), seed {}, outcome {}, systems {}\n\
         target: {}\n\
         calendar sha256:{}; waivers: {waivers}",
        args.pubkey.display(),
        manifest.files.len(),
        manifest.suite_version,
        manifest.qaqpa_commit,
        manifest.seed,
        manifest.outcome,
        manifest.systems.join(", "),
        manifest.target.note,
        manifest.calendar.sha256,
    )
    .map_err(|e| CliError::output(format!("cannot write to standard output: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_in_a_bundle_are_plain_and_relative() {
        for ok in [
            "report.json",
            "traces/ugia-6.jsonl",
            "traces/a/b.pcap",
            "target.toml",
        ] {
            assert!(valid_path(ok), "{ok}");
        }
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "traces/../x",
            "a//b",
            "a/./b",
            "a b",
            "a\\b",
            "trailing/",
        ] {
            assert!(!valid_path(bad), "{bad:?}");
        }
    }

    #[test]
    fn the_seed_is_found_in_v1_and_v2_documents() {
        let rng = ring::rand::SystemRandom::new();
        let v2 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let seed = seed_of(v2.as_ref()).unwrap();
        // A v1 document (OpenSSL's layout) of the same seed gives the same public key.
        let v1 = [
            &[
                0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22,
                0x04, 0x20,
            ][..],
            &seed,
        ]
        .concat();
        let a = Ed25519KeyPair::from_pkcs8(v2.as_ref()).unwrap();
        let b = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&v1).unwrap();
        assert_eq!(a.public_key().as_ref(), b.public_key().as_ref());
        assert_eq!(seed_of(&v1).unwrap(), seed);
    }
}
