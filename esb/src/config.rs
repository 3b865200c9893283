//! The registry file of a real bus process (`qaqpa serve bus --registry FILE`): the systems,
//! services and connections it routes by, in TOML. Every key is checked; an error names the
//! file, the entry and what was expected.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::bus::{Connection, Mode, Placement, Registry, ServiceEntry, SystemEntry};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct File {
    /// The consent service for personal-data services.
    #[serde(default)]
    consent: Option<String>,
    #[serde(default)]
    system: Vec<SystemFile>,
    #[serde(default)]
    service: Vec<ServiceFile>,
    #[serde(default)]
    connection: Vec<ConnectionFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct SystemFile {
    id: String,
    /// A state body's system; `false` for a non-state one.
    state: bool,
    #[serde(default)]
    push: Option<String>,
    /// `inner` (the default), `outer` or `internet`: where the system sits.
    #[serde(default)]
    placement: Option<String>,
    /// The system's transport certificate (PEM or DER file, relative to the registry file's
    /// folder): with `--ca-root`, the only certificate its messages may be signed with.
    #[serde(default)]
    certificate: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct ServiceFile {
    id: String,
    owner: String,
    provider: String,
    /// The provider's test-environment endpoint (the test contour relays there).
    #[serde(default)]
    provider_test: Option<String>,
    mode: String,
    /// `inner` (ЭҮШ) and/or `external` (ЭҮСШ).
    published: Vec<String>,
    #[serde(default)]
    personal_data: bool,
    #[serde(default)]
    route_key: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct ConnectionFile {
    initiator: String,
    service: String,
}

/// Reads a registry file's text; `origin` names it in errors. Certificate files are read
/// relative to the current folder.
pub fn read_registry(text: &str, origin: &str) -> Result<Registry, String> {
    read_registry_in(text, origin, std::path::Path::new(""))
}

/// Reads a registry file's text, its certificate files relative to `dir`.
pub fn read_registry_in(
    text: &str,
    origin: &str,
    dir: &std::path::Path,
) -> Result<Registry, String> {
    let f: File = toml::from_str(text).map_err(|e| format!("{origin}: {e}"))?;
    let mut reg = Registry::default();
    if let Some(c) = &f.consent {
        crate::http::split_url(c).map_err(|e| format!("{origin}: consent: {e}"))?;
    }
    reg.consent = f.consent;
    for s in f.system {
        if let Some(p) = &s.push {
            crate::http::split_url(p)
                .map_err(|e| format!("{origin}: system `{}`: push: {e}", s.id))?;
        }
        let id = s.id.clone();
        let placement = match s.placement.as_deref() {
            None => Placement::Inner,
            Some(p) => Placement::parse(p).ok_or_else(|| {
                format!(
                    "{origin}: system `{id}`: placement `{p}` (expected inner, outer or internet)"
                )
            })?,
        };
        let certificate = match &s.certificate {
            None => None,
            Some(f) => {
                let path = dir.join(f);
                let bytes = std::fs::read(&path).map_err(|e| {
                    format!(
                        "{origin}: system `{id}`: certificate {}: {e}",
                        path.display()
                    )
                })?;
                let der = crate::wssec::der_of(&bytes, &path.display().to_string())
                    .map_err(|e| format!("{origin}: system `{id}`: {e}"))?;
                x509_parser::parse_x509_certificate(&der).map_err(|e| {
                    format!(
                        "{origin}: system `{id}`: certificate {} is not an X.509 certificate: {e}",
                        path.display()
                    )
                })?;
                Some(der)
            }
        };
        if reg
            .systems
            .insert(
                id.clone(),
                SystemEntry {
                    id: s.id,
                    state: s.state,
                    push: s.push,
                    placement,
                    suspended_from: None,
                    certificate,
                },
            )
            .is_some()
        {
            return Err(format!("{origin}: system `{id}` is listed twice"));
        }
    }
    let mut services = BTreeMap::new();
    for s in f.service {
        let at = |m: String| format!("{origin}: service `{}`: {m}", s.id);
        let mode = match s.mode.as_str() {
            "sync" => Mode::Sync,
            "async" => Mode::Async,
            other => return Err(at(format!("mode `{other}` (expected sync or async)"))),
        };
        let mut inner = false;
        let mut external = false;
        for g in &s.published {
            match g.as_str() {
                "inner" => inner = true,
                "external" => external = true,
                other => {
                    return Err(at(format!(
                        "published `{other}` (expected inner and/or external)"
                    )));
                }
            }
        }
        if !reg.systems.contains_key(&s.owner) {
            return Err(at(format!("owner `{}` is not a listed system", s.owner)));
        }
        crate::http::split_url(&s.provider).map_err(|e| at(format!("provider: {e}")))?;
        if let Some(t) = &s.provider_test {
            crate::http::split_url(t).map_err(|e| at(format!("provider-test: {e}")))?;
        }
        let entry = ServiceEntry {
            id: s.id.clone(),
            owner: s.owner,
            provider: s.provider,
            provider_test: s.provider_test,
            mode,
            inner,
            external,
            personal_data: s.personal_data,
            route_key: s.route_key,
            from: None,
            until: None,
        };
        if services.insert(s.id.clone(), entry).is_some() {
            return Err(at("listed twice".into()));
        }
    }
    reg.services = services;
    for c in f.connection {
        if !reg.systems.contains_key(&c.initiator) {
            return Err(format!(
                "{origin}: connection of `{}` to `{}`: the initiator is not a listed system",
                c.initiator, c.service
            ));
        }
        if !reg.services.contains_key(&c.service) {
            return Err(format!(
                "{origin}: connection of `{}` to `{}`: the service is not listed",
                c.initiator, c.service
            ));
        }
        reg.connections.push(Connection {
            initiator: c.initiator,
            service: c.service,
            from: None,
            until: None,
            test_from: None,
        });
    }
    Ok(reg)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[[system]]
id = "fund"
state = true
[[system]]
id = "gbdfl"
state = true
[[service]]
id = "GBDFL_PERSON_INFO_v4"
owner = "gbdfl"
provider = "http://127.0.0.1:9001/provider"
mode = "sync"
published = ["inner", "external"]
personal-data = true
[[connection]]
initiator = "fund"
service = "GBDFL_PERSON_INFO_v4"
"#;

    #[test]
    fn a_registry_file_reads_and_its_errors_name_the_entry() {
        let r = read_registry(GOOD, "reg.toml").unwrap();
        assert!(r.services["GBDFL_PERSON_INFO_v4"].personal_data);
        assert_eq!(r.connections.len(), 1);
        for (from, to, says) in [
            ("mode = \"sync\"", "mode = \"push\"", "mode `push`"),
            ("owner = \"gbdfl\"", "owner = \"nobody\"", "owner `nobody`"),
            (
                "initiator = \"fund\"",
                "initiator = \"x\"",
                "initiator is not",
            ),
            ("provider = \"http://", "provider = \"ftp://", "provider:"),
            (
                "state = true\n[[service]]",
                "stat = true\n[[service]]",
                "unknown field",
            ),
            (
                "state = true\n[[service]]",
                "state = true\nplacement = \"moon\"\n[[service]]",
                "placement `moon` (expected inner, outer or internet)",
            ),
            (
                "mode = \"sync\"",
                "mode = \"sync\"\nprovider-test = \"gopher://x\"",
                "provider-test:",
            ),
        ] {
            let e = read_registry(&GOOD.replacen(from, to, 1), "reg.toml").unwrap_err();
            assert!(e.starts_with("reg.toml") && e.contains(says), "{to}: {e}");
        }
    }
}
