//! The target file (`qaqpa run --target FILE`): what is under test and what the harness needs
//! to reach it. TOML; every table refuses fields it does not know, and every error names the
//! file and the field. The README's "Certifying your product" documents it field by field.
//!
//! One file describes every system a product offers: `[ugem]` and `[bus]` (implemented) and
//! `[ugia]` (its shape is fixed here and documented; a run refuses it until UGIA's two-port
//! interface can be driven over TAP or veth devices).

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TargetFile {
    /// `live`: a product on real sockets; `reference`: the simulated reference (the default
    /// without `--target`).
    pub kind: Kind,
    /// What the reports call the product.
    #[serde(default)]
    pub name: Option<String>,
    /// The product's version, as its vendor states it.
    #[serde(default)]
    pub version: Option<String>,
    /// Named defects of the reference to switch on (`reference` only).
    #[serde(default)]
    pub defects: Vec<String>,
    #[serde(default)]
    pub ugem: Option<Ugem>,
    #[serde(default)]
    pub bus: Option<Bus>,
    #[serde(default)]
    pub ugia: Option<Ugia>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Live,
    Reference,
}

/// The e-mail gateway (UGEM) under test.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Ugem {
    /// The product's SMTP listener, `IP:PORT`: where connected systems, external exchangers
    /// and strangers submit.
    pub listen: SocketAddr,
    /// The addresses the product's outbound mail comes from (at least one).
    pub outbound: Vec<IpAddr>,
    /// Connected departmental mail systems: the product relays for them.
    #[serde(default)]
    pub connected: Vec<Connected>,
    /// External domains: the product's transport map sends their mail to the harness.
    #[serde(default)]
    pub external: Vec<External>,
    /// Addresses the harness's strangers (neither connected nor external) connect from.
    #[serde(default)]
    pub strangers: Vec<IpAddr>,
    /// How the harness stops, kills and starts the product (fault scenarios).
    #[serde(default)]
    pub control: Control,
}

/// A connected system, as the product is configured for it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Connected {
    /// The system's mail domain (the scenarios name systems by domain).
    pub domain: String,
    /// Where the harness plays the system's mail server, `IP:PORT`: it submits to the product
    /// from this IP and receives the system's mail on this address (the product's relay map
    /// points here).
    pub server: SocketAddr,
}

/// An external domain, as the product's transport map routes it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct External {
    pub domain: String,
    /// Where the harness plays the domain's mail exchanger, `IP:PORT`; its own mail to the
    /// product comes from this IP.
    pub exchanger: SocketAddr,
}

/// Shell commands (`sh -c`) the harness may run to stop, kill and start the product.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Control {
    /// An orderly shutdown (the `stop` fault).
    #[serde(default)]
    pub stop: Option<String>,
    /// An abrupt end of every process of the product, as `kill -9` (the `crash` fault).
    #[serde(default)]
    pub kill: Option<String>,
    /// Start it; may return before it listens (the `restart` fault).
    #[serde(default)]
    pub start: Option<String>,
    /// The most each command may take, in seconds (default 60).
    #[serde(default = "sixty")]
    pub timeout_seconds: u64,
    /// The most the listener may take to greet again after `start`, in seconds (default 30).
    #[serde(default = "thirty")]
    pub start_timeout_seconds: u64,
}

fn sixty() -> u64 {
    60
}
fn thirty() -> u64 {
    30
}

/// The bus (SHEP: ЭҮШ and its external gateway ЭҮСШ) under test.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Bus {
    /// The inner gateway's (ЭҮШ) SyncChannel v10 endpoint, `http://host:port/path`.
    pub sync_url: String,
    /// Its AsyncChannel v10 endpoint.
    pub async_url: String,
    /// The external gateway's (ЭҮСШ) SyncChannel endpoint, for calls `via: external`.
    #[serde(default)]
    pub external_sync_url: Option<String>,
    /// The external gateway's AsyncChannel endpoint.
    #[serde(default)]
    pub external_async_url: Option<String>,
    /// Where the harness listens, `IP:PORT`, as every information system the bus routes to:
    /// providers at `/sys/<system>/provider/<service>`, push interfaces at
    /// `/sys/<system>/client`, the consent service at `/consent`.
    pub endpoints: SocketAddr,
    /// A shell command that loads an episode's registry into the product, `{registry}`
    /// standing for the path of the file the harness writes (the reference's registry format,
    /// docs/bus.md). Without it no bus episode can be played.
    #[serde(default)]
    pub registry_command: Option<String>,
    /// The most the registry command may take, in seconds (default 60).
    #[serde(default = "sixty")]
    pub registry_timeout_seconds: u64,
    /// The most the product may take to accept connections again after loading a registry,
    /// in seconds (default 30).
    #[serde(default = "thirty")]
    pub ready_timeout_seconds: u64,
    /// The most a call waits for the bus's answer, in seconds (default 100: past the minute
    /// the bus has, so that a late answer is measured, not cut off).
    #[serde(default = "hundred")]
    pub call_timeout_seconds: u64,
    /// The roots (PEM) the harness checks the product's certificate against on `https://`
    /// URLs; without it, `ca-root`. Relative paths are from the target file's folder.
    #[serde(default)]
    pub tls_root: Option<PathBuf>,
    /// The CA root (PEM) the product trusts: the harness's signing certificate chains to it.
    /// Relative paths are from the target file's folder.
    pub ca_root: PathBuf,
    /// The harness's signing certificate (PEM).
    pub signing_certificate: PathBuf,
    /// The harness's signing key (PEM). A secret: never copied into reports or bundles.
    pub signing_key: PathBuf,
}

fn hundred() -> u64 {
    100
}

/// The access gateway (UGIA) under test: not yet run live.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Ugia {
    /// The network interface (TAP or veth) the harness writes the Users' traffic into: the
    /// product's inside port.
    pub inside: String,
    /// The interface on the product's main outside channel, where the harness reads what it
    /// forwards.
    pub outside_main: String,
    /// The interface on its backup outside channel.
    pub outside_backup: String,
}

/// A target file that cannot be used, named with the file and the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetFileError(pub String);

impl std::fmt::Display for TargetFileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl TargetFile {
    /// Reads and checks `path`.
    pub fn load(path: &Path) -> Result<TargetFile, TargetFileError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            TargetFileError(format!(
                "{}: cannot read the target file: {e}",
                path.display()
            ))
        })?;
        TargetFile::parse(&text, &path.display().to_string())
    }

    /// Parses and checks the text of the file `origin`.
    pub fn parse(text: &str, origin: &str) -> Result<TargetFile, TargetFileError> {
        let file: TargetFile = toml::from_str(text).map_err(|e| {
            // toml names the line, the column and the key; keep its message whole.
            TargetFileError(format!("{origin}: {}", e.to_string().trim_end()))
        })?;
        file.check()
            .map_err(|(field, why)| TargetFileError(format!("{origin}: {field}: {why}")))?;
        Ok(file)
    }

    /// The checks a type cannot express; an error names the field.
    fn check(&self) -> Result<(), (String, String)> {
        match self.kind {
            Kind::Reference => {
                for (section, present) in [
                    ("ugem", self.ugem.is_some()),
                    ("bus", self.bus.is_some()),
                    ("ugia", self.ugia.is_some()),
                ] {
                    if present {
                        return Err((
                            section.into(),
                            "a `reference` target is the simulated reference: it takes no system sections (did you mean `kind = \"live\"`?)".into(),
                        ));
                    }
                }
            }
            Kind::Live => {
                if !self.defects.is_empty() {
                    return Err((
                        "defects".into(),
                        "named defects belong to the simulated reference; a live target is what it is".into(),
                    ));
                }
                if self.ugem.is_none() && self.bus.is_none() && self.ugia.is_none() {
                    return Err((
                        "kind".into(),
                        "a live target needs at least one system section: [ugem], [bus] or [ugia]"
                            .into(),
                    ));
                }
                if self.name.as_deref().is_none_or(|n| n.trim().is_empty()) {
                    return Err((
                        "name".into(),
                        "a live target needs a name: the reports say what was tested".into(),
                    ));
                }
            }
        }
        if let Some(u) = &self.ugem {
            u.check()?;
        }
        if let Some(b) = &self.bus {
            b.check()?;
        }
        Ok(())
    }

    /// The name the reports give the target.
    pub fn display_name(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| "qaqpa reference".into())
    }

    /// Refuses sections of systems a live run cannot drive yet, naming them and what they
    /// wait for.
    pub fn refuse_unsupported(&self, origin: &str) -> Result<(), TargetFileError> {
        if self.ugia.is_some() {
            return Err(TargetFileError(format!(
                "{origin}: [ugia]: live runs of UGIA are not yet supported (they wait for the two-port packet interface); remove the section, or run UGIA against the reference"
            )));
        }
        Ok(())
    }
}

impl Bus {
    fn check(&self) -> Result<(), (String, String)> {
        for (field, url) in [
            ("bus.sync-url", Some(&self.sync_url)),
            ("bus.async-url", Some(&self.async_url)),
            ("bus.external-sync-url", self.external_sync_url.as_ref()),
            ("bus.external-async-url", self.external_async_url.as_ref()),
        ] {
            if let Some(url) = url {
                qaqpa_scenarios::bus::live::split_url(url).map_err(|e| (field.to_string(), e))?;
            }
        }
        if self.external_sync_url.is_some() != self.external_async_url.is_some() {
            return Err((
                "bus.external-sync-url".into(),
                "give both of the external gateway's URLs (external-sync-url and external-async-url), or neither".into(),
            ));
        }
        if self.endpoints.ip().is_unspecified() || self.endpoints.port() == 0 {
            return Err((
                "bus.endpoints".into(),
                format!(
                    "{}: the product's registry routes to this address, so it needs a definite IP and port",
                    self.endpoints
                ),
            ));
        }
        if let Some(c) = &self.registry_command {
            if c.trim().is_empty() {
                return Err((
                    "bus.registry-command".into(),
                    "an empty command; leave the field out".into(),
                ));
            }
            if !c.contains("{registry}") {
                return Err((
                    "bus.registry-command".into(),
                    "the command must name the registry file the harness writes as `{registry}`"
                        .into(),
                ));
            }
        }
        for (field, v) in [
            (
                "bus.registry-timeout-seconds",
                self.registry_timeout_seconds,
            ),
            ("bus.ready-timeout-seconds", self.ready_timeout_seconds),
            ("bus.call-timeout-seconds", self.call_timeout_seconds),
        ] {
            if !(1..=600).contains(&v) {
                return Err((field.into(), format!("{v}: expected 1 to 600 seconds")));
            }
        }
        Ok(())
    }
}

impl Ugem {
    fn check(&self) -> Result<(), (String, String)> {
        if self.outbound.is_empty() {
            return Err((
                "ugem.outbound".into(),
                "give at least one address the product's outbound mail comes from".into(),
            ));
        }
        // The product tells connected systems, external exchangers and strangers apart by
        // their addresses, and the harness knows the gateway by its outbound ones: no address
        // may stand for two of them.
        let mut ips: Vec<(IpAddr, String)> = Vec::new();
        let mut place = |ip: IpAddr, field: String| -> Result<(), (String, String)> {
            if let Some((_, other)) = ips.iter().find(|(x, _)| *x == ip) {
                return Err((
                    field,
                    format!("{ip} is already {other}: every host needs an address of its own"),
                ));
            }
            ips.push((ip, field));
            Ok(())
        };
        for (i, ip) in self.outbound.iter().enumerate() {
            place(*ip, format!("ugem.outbound[{i}]"))?;
        }
        let mut domains = BTreeSet::new();
        let mut domain = |d: &str, field: String| -> Result<(), (String, String)> {
            let d = d.trim().to_ascii_lowercase();
            if d.is_empty() || !d.contains('.') || d.contains(['@', ' ']) {
                return Err((
                    field,
                    format!("`{d}` is not a mail domain (expected e.g. minfin.gov.kz)"),
                ));
            }
            if !domains.insert(d.clone()) {
                return Err((field, format!("`{d}` is listed twice")));
            }
            Ok(())
        };
        for (i, c) in self.connected.iter().enumerate() {
            domain(&c.domain, format!("ugem.connected[{i}].domain"))?;
            place(c.server.ip(), format!("ugem.connected[{i}].server"))?;
        }
        for (i, e) in self.external.iter().enumerate() {
            domain(&e.domain, format!("ugem.external[{i}].domain"))?;
            place(e.exchanger.ip(), format!("ugem.external[{i}].exchanger"))?;
        }
        for (i, s) in self.strangers.iter().enumerate() {
            place(*s, format!("ugem.strangers[{i}]"))?;
        }
        for (field, v) in [
            ("ugem.control.timeout-seconds", self.control.timeout_seconds),
            (
                "ugem.control.start-timeout-seconds",
                self.control.start_timeout_seconds,
            ),
        ] {
            if !(1..=600).contains(&v) {
                return Err((field.into(), format!("{v}: expected 1 to 600 seconds")));
            }
        }
        for (field, c) in [
            ("ugem.control.stop", &self.control.stop),
            ("ugem.control.kill", &self.control.kill),
            ("ugem.control.start", &self.control.start),
        ] {
            if c.as_deref().is_some_and(|c| c.trim().is_empty()) {
                return Err((field.into(), "an empty command; leave the field out".into()));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub const GOOD: &str = r#"
kind = "live"
name = "Postfix as UGEM"
version = "3.7.11"

[ugem]
listen = "127.0.0.1:2525"
outbound = ["127.0.0.25"]
strangers = ["127.0.66.1"]

[ugem.control]
kill = "kill -9 1"
start = "true"

[[ugem.connected]]
domain = "minfin.gov.kz"
server = "127.0.10.10:10025"

[[ugem.external]]
domain = "partner.example"
exchanger = "127.0.20.25:10025"
"#;

    fn err(text: &str) -> String {
        TargetFile::parse(text, "t.toml").unwrap_err().0
    }

    #[test]
    fn a_good_file_parses() {
        let f = TargetFile::parse(GOOD, "t.toml").unwrap();
        assert_eq!(f.kind, Kind::Live);
        let u = f.ugem.unwrap();
        assert_eq!(u.listen, "127.0.0.1:2525".parse().unwrap());
        assert_eq!(u.connected[0].server.port(), 10025);
        assert_eq!(u.control.timeout_seconds, 60);
        assert_eq!(u.control.stop, None);
    }

    #[test]
    fn unknown_fields_are_named_with_their_line() {
        let e = err(&GOOD.replace("strangers =", "strangerz ="));
        assert!(e.starts_with("t.toml: ") && e.contains("strangerz"), "{e}");
        assert!(e.contains("line 9"), "{e}");
        let e = err(&GOOD.replace("kill = ", "restart = "));
        assert!(e.contains("restart") && e.contains("line 12"), "{e}");
        let e = err(&GOOD.replace("[[ugem.external]]", "[[ugem.externals]]"));
        assert!(e.contains("externals"), "{e}");
        let e = err(&GOOD.replace("kind = \"live\"", "kind = \"alive\""));
        assert!(e.contains("alive") && e.contains("live"), "{e}");
    }

    #[test]
    fn bad_values_name_the_field() {
        let e = err(&GOOD.replace("127.0.10.10:10025", "127.0.10.10"));
        assert!(e.contains("line 17") && e.contains("socket address"), "{e}");
        let e = err(&GOOD.replace("127.0.20.25:10025", "127.0.10.10:10026"));
        assert!(
            e.contains("ugem.external[0].exchanger") && e.contains("ugem.connected[0].server"),
            "{e}"
        );
        let e = err(&GOOD.replace("127.0.66.1", "127.0.0.25"));
        assert!(
            e.contains("ugem.strangers[0]") && e.contains("outbound"),
            "{e}"
        );
        let e = err(&GOOD.replace("partner.example", "minfin.gov.kz"));
        assert!(
            e.contains("ugem.external[0].domain") && e.contains("twice"),
            "{e}"
        );
        let e = err(&GOOD.replace("outbound = [\"127.0.0.25\"]", "outbound = []"));
        assert!(e.contains("ugem.outbound"), "{e}");
        let e = err(&GOOD.replace("start = \"true\"", "start = \" \""));
        assert!(e.contains("ugem.control.start"), "{e}");
        let e = err(&GOOD.replace("name = \"Postfix as UGEM\"\n", ""));
        assert!(e.contains("t.toml: name:"), "{e}");
    }

    #[test]
    fn kinds_and_sections_must_agree() {
        let e = err(&GOOD.replace("kind = \"live\"", "kind = \"reference\""));
        assert!(
            e.contains("t.toml: ugem:") && e.contains("reference"),
            "{e}"
        );
        let e = err("kind = \"live\"\nname = \"x\"\n");
        assert!(e.contains("at least one system section"), "{e}");
        let e = err(&GOOD.replace("version = \"3.7.11\"", "defects = [\"ugem-open-relay\"]"));
        assert!(e.contains("t.toml: defects:"), "{e}");
        let r = TargetFile::parse(
            "kind = \"reference\"\ndefects = [\"ugem-open-relay\"]\n",
            "r",
        )
        .unwrap();
        assert_eq!(r.defects, ["ugem-open-relay"]);
    }

    const BUS: &str = "\n[bus]\nsync-url = \"http://127.0.0.1:8700/SyncChannel/v10\"\nasync-url = \"http://127.0.0.1:8700/AsyncChannel/v10\"\nendpoints = \"127.0.0.9:9100\"\nregistry-command = \"load {registry}\"\nca-root = \"ca.pem\"\nsigning-certificate = \"c.pem\"\nsigning-key = \"k.pem\"\n";

    #[test]
    fn a_bus_section_is_checked_field_by_field() {
        let bus = format!("{GOOD}{BUS}");
        let f = TargetFile::parse(&bus, "t.toml").unwrap();
        assert!(f.refuse_unsupported("t.toml").is_ok());
        let b = f.bus.unwrap();
        assert_eq!(b.call_timeout_seconds, 100);
        assert_eq!(b.external_sync_url, None);
        let e = err(&bus.replace("signing-key", "signing-keys"));
        assert!(e.contains("signing-keys"), "{e}");
        let e = err(&bus.replace("http://127.0.0.1:8700/Sync", "ftp://127.0.0.1:8700/Sync"));
        assert!(
            e.contains("t.toml: bus.sync-url:") && e.contains("https://"),
            "{e}"
        );
        let tls = TargetFile::parse(
            &bus.replace("http://127.0.0.1:8700/Sync", "https://127.0.0.1:8700/Sync"),
            "t.toml",
        )
        .unwrap();
        assert_eq!(tls.bus.unwrap().tls_root, None);
        let e = err(&bus.replace("http://127.0.0.1:8700/Async", "127.0.0.1:8700/Async"));
        assert!(
            e.contains("t.toml: bus.async-url:") && e.contains("not an http:// or https:// URL"),
            "{e}"
        );
        let e = err(&bus.replace("127.0.0.9:9100", "0.0.0.0:9100"));
        assert!(e.contains("t.toml: bus.endpoints:"), "{e}");
        let e = err(&bus.replace("load {registry}", "load it"));
        assert!(
            e.contains("t.toml: bus.registry-command:") && e.contains("{registry}"),
            "{e}"
        );
        let e = err(&format!("{bus}call-timeout-seconds = 0\n"));
        assert!(e.contains("t.toml: bus.call-timeout-seconds:"), "{e}");
        let e = err(&format!(
            "{bus}external-sync-url = \"http://127.0.0.1:8701/SyncChannel/v10\"\n"
        ));
        assert!(
            e.contains("t.toml: bus.external-sync-url:") && e.contains("both"),
            "{e}"
        );
        let e = err(&bus.replace("endpoints = \"127.0.0.9:9100\"\n", ""));
        assert!(e.contains("endpoints"), "{e}");
    }

    /// The README's example target file is one the harness reads.
    #[test]
    fn the_readme_example_parses() {
        let readme = include_str!("../README.md");
        let section = &readme[readme
            .find("### The target file")
            .expect("the README has it")..];
        let start = section.find("```toml\n").expect("a TOML example") + "```toml\n".len();
        let text = &section[start..start + section[start..].find("```").unwrap()];
        let f = TargetFile::parse(text, "README.md").unwrap();
        let b = f.bus.expect("the example has a [bus] section");
        assert_eq!(b.endpoints, "127.81.0.9:9100".parse().unwrap());
        assert!(b.external_async_url.is_some());
        assert!(f.ugem.is_some());
    }

    #[test]
    fn a_ugia_section_parses_but_is_refused() {
        let ugia = format!(
            "{GOOD}\n[ugia]\ninside = \"tap0\"\noutside-main = \"tap1\"\noutside-backup = \"tap2\"\n"
        );
        let f = TargetFile::parse(&ugia, "t.toml").unwrap();
        let e = f.refuse_unsupported("t.toml").unwrap_err().0;
        assert!(e.contains("[ugia]") && e.contains("two-port"), "{e}");
        assert!(
            TargetFile::parse(GOOD, "t.toml")
                .unwrap()
                .refuse_unsupported("t.toml")
                .is_ok()
        );
    }
}
