//! The gateway's policy: the IP-address catalogue (ugia-13), default blocking of the
//! ureq-134-1 classes, per-organisation exemptions for one calendar year (ureq-134-2,
//! ugia-15-1), declared VPN channels as exactly their 5-tuples (ureq-133.4), and the TLS
//! decision of ugia-20.

use serde::Deserialize;

use super::classify::Detection;
use super::flow::Verdict;
use super::packet::{Addr, PROTO_TCP, PROTO_UDP};
use super::sigs::{Class, PrefixTrie, Signatures, parse_prefix};

/// The categories of ugia-20 whose encrypted traffic is not inspected.
pub const UGIA20_EXEMPT: &[&str] = &[
    "finance",
    "government",
    "health",
    "privacy",
    "video-conferencing",
    "av-updates",
    "os-updates",
];

/// Named faults of the reference dataplane (see `qaqpa defects`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Faults {
    pub vpn_tcp443_missed: bool,
    pub exemption_never_expires: bool,
    pub banking_inspected: bool,
    pub catalogue_ignored: bool,
    pub vpn_exemption_wider: bool,
    pub unknown_allowed: bool,
    pub exemption_for_everyone: bool,
    /// The notice to the operator lists IPv4 sources only.
    pub notice_ipv4_only: bool,
    /// A source blocked after the operator's term stays blocked once it is catalogued.
    pub block_outlives_update: bool,
    /// Noticed sources are blocked at once, without the operator's 5 working days.
    pub blocks_before_term: bool,
    /// An exemption limited to listed addresses opens the whole organisation.
    pub exemption_ignores_sources: bool,
}

#[derive(Debug, Clone)]
pub struct Exemption {
    pub org: u16,
    pub class: Class,
    /// The listed source prefixes it is limited to; empty, the whole organisation.
    pub sources: PrefixTrie<()>,
    pub from_us: u64,
    pub until_us: u64,
}

#[derive(Debug, Clone)]
pub struct VpnChannel {
    pub org: Option<u16>,
    pub src: Addr,
    pub dst: Addr,
    pub port: u16,
    pub proto: u8,
    pub from_us: u64,
    pub until_us: u64,
}

#[derive(Debug, Clone, Default)]
pub struct Policy {
    orgs: PrefixTrie<u16>,
    pub org_names: Vec<String>,
    /// Every uncatalogued source is blocked from this instant (a policy file's
    /// `block-uncatalogued-from`, for replaying captures outside the notice workflow).
    pub uncatalogued_block_from_us: Option<u64>,
    /// Sources the STS's notices listed, each blocked from the end of the operator's
    /// 5-working-day term after its first notice while it stays outside the catalogue.
    pub noticed: std::collections::BTreeMap<Addr, u64>,
    pub exemptions: Vec<Exemption>,
    pub vpn: Vec<VpnChannel>,
    /// Category ids (of the signatures in force) whose TLS is passed through.
    pub exempt_categories: Vec<u16>,
    pub faults: Faults,
}

/// The policy file (`--policy FILE`, TOML).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PolicyFile {
    /// The IP-address catalogue: organisation → its prefixes.
    #[serde(default)]
    pub catalogue: std::collections::BTreeMap<String, Vec<String>>,
    /// RFC 3339 instant from which uncatalogued sources are blocked.
    #[serde(default)]
    pub block_uncatalogued_from: Option<jiff::Timestamp>,
    #[serde(default)]
    pub exemption: Vec<ExemptionFile>,
    #[serde(default)]
    pub vpn: Vec<VpnFile>,
    /// Further lists (`NAME.domains`, `NAME.ips`, nDPI category files).
    #[serde(default)]
    pub signatures: Vec<std::path::PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ExemptionFile {
    pub organisation: String,
    pub class: String,
    /// Limits the exemption to these source prefixes (the User's listed addresses).
    #[serde(default)]
    pub sources: Vec<String>,
    pub from: jiff::Timestamp,
    /// Defaults to one calendar year after `from` (ugia-15-1).
    #[serde(default)]
    pub until: Option<jiff::Timestamp>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct VpnFile {
    #[serde(default)]
    pub organisation: Option<String>,
    pub src: String,
    pub dst: String,
    pub port: u16,
    pub proto: String,
    pub from: jiff::Timestamp,
    #[serde(default)]
    pub until: Option<jiff::Timestamp>,
}

pub fn micros(t: jiff::Timestamp) -> u64 {
    u64::try_from(t.as_microsecond()).unwrap_or(0)
}

/// One calendar year after `t` in Almaty time (ugia-15-1), as the exemption's end.
pub fn one_year_after(t: jiff::Timestamp) -> jiff::Timestamp {
    let z = t.to_zoned(jiff::tz::TimeZone::get("Asia/Almaty").unwrap_or(jiff::tz::TimeZone::UTC));
    z.checked_add(jiff::Span::new().years(1))
        .map(|z| z.timestamp())
        .unwrap_or(t)
}

pub fn proto_number(s: &str) -> Option<u8> {
    match s.to_ascii_lowercase().as_str() {
        "tcp" => Some(PROTO_TCP),
        "udp" => Some(PROTO_UDP),
        "esp" => Some(50),
        "ah" => Some(51),
        "gre" => Some(47),
        n => n.parse().ok(),
    }
}

impl Policy {
    /// The default policy: no catalogue, no exemptions, ugia-20's exempt categories.
    pub fn new(sigs: &Signatures) -> Policy {
        Policy {
            orgs: PrefixTrie::new(),
            exempt_categories: UGIA20_EXEMPT
                .iter()
                .filter_map(|c| sigs.category_id(c))
                .collect(),
            ..Default::default()
        }
    }

    pub fn org_id(&mut self, name: &str) -> u16 {
        match self.org_names.iter().position(|o| o == name) {
            Some(i) => i as u16,
            None => {
                self.org_names.push(name.to_string());
                (self.org_names.len() - 1) as u16
            }
        }
    }

    pub fn add_catalogue(&mut self, org: &str, prefix: &str) -> Result<(), String> {
        let (a, l) =
            parse_prefix(prefix).ok_or_else(|| format!("`{prefix}` is not an IP prefix"))?;
        let id = self.org_id(org);
        self.orgs.insert(&a, l, id);
        Ok(())
    }

    pub fn has_catalogue(&self) -> bool {
        !self.orgs.is_empty()
    }

    pub fn org_of(&self, a: &Addr) -> Option<u16> {
        self.orgs.lookup(a)
    }

    pub fn add_exemption(
        &mut self,
        org: &str,
        class: Class,
        sources: &[String],
        from: jiff::Timestamp,
        until: Option<jiff::Timestamp>,
    ) -> Result<(), String> {
        let mut trie = PrefixTrie::new();
        for s in sources {
            let (a, l) = parse_prefix(s).ok_or_else(|| {
                format!("exemption source `{s}`: expected an address or prefix (a.b.c.d/n, v6/n)")
            })?;
            trie.insert(&a, l, ());
        }
        let org = self.org_id(org);
        self.exemptions.push(Exemption {
            org,
            class,
            sources: trie,
            from_us: micros(from),
            until_us: micros(until.unwrap_or_else(|| one_year_after(from))),
        });
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    pub fn add_vpn(
        &mut self,
        org: Option<&str>,
        src: &str,
        dst: &str,
        port: u16,
        proto: &str,
        from: jiff::Timestamp,
        until: Option<jiff::Timestamp>,
    ) -> Result<(), String> {
        let ip = |s: &str| -> Result<Addr, String> {
            match parse_prefix(s) {
                Some((a, 128)) => Ok(a),
                _ => Err(format!(
                    "`{s}` is not one IP address (a VPN channel names exact addresses)"
                )),
            }
        };
        let org = org.map(|o| self.org_id(o));
        self.vpn.push(VpnChannel {
            org,
            src: ip(src)?,
            dst: ip(dst)?,
            port,
            proto: proto_number(proto).ok_or_else(|| format!("`{proto}` is not a protocol"))?,
            from_us: micros(from),
            until_us: micros(until.unwrap_or_else(|| one_year_after(from))),
        });
        Ok(())
    }

    pub fn from_file(pf: &PolicyFile, sigs: &Signatures) -> Result<Policy, String> {
        let mut p = Policy::new(sigs);
        for (org, prefixes) in &pf.catalogue {
            for x in prefixes {
                p.add_catalogue(org, x)?;
            }
        }
        p.uncatalogued_block_from_us = pf.block_uncatalogued_from.map(micros);
        for e in &pf.exemption {
            let class = Class::parse(&e.class).ok_or_else(|| format!("exemption class `{}`: expected one of vpn, remote-access, p2p, game, malicious, unknown-application", e.class))?;
            if matches!(class, Class::Vpn | Class::Tunnel) {
                return Err(format!(
                    "a {} exemption names its channels exactly: use [[vpn]] with src, dst, port and proto (ureq-133.4)",
                    class.as_str()
                ));
            }
            p.add_exemption(&e.organisation, class, &e.sources, e.from, e.until)?;
        }
        for v in &pf.vpn {
            p.add_vpn(
                v.organisation.as_deref(),
                &v.src,
                &v.dst,
                v.port,
                &v.proto,
                v.from,
                v.until,
            )?;
        }
        Ok(p)
    }

    /// Decisions from addresses alone, before any payload: the catalogue and the IP lists.
    pub fn pre(
        &self,
        client: &Addr,
        server: &Addr,
        now_us: u64,
        sigs: &Signatures,
    ) -> Option<(Verdict, &'static str, &'static str, Option<Class>)> {
        if self.uncatalogued_blocked(client, now_us) {
            return Some((
                Verdict::Block,
                "ugia-13",
                "source address outside the IP-address catalogue after the operator's update term",
                None,
            ));
        }
        if sigs.ip(server).class == Some(Class::Malicious)
            || sigs.ip(client).class == Some(Class::Malicious)
        {
            return Some((
                Verdict::Block,
                "ureq-134-1",
                "address on a malicious-IP list",
                Some(Class::Malicious),
            ));
        }
        None
    }

    pub fn uncatalogued(&self, client: &Addr) -> bool {
        self.has_catalogue() && self.org_of(client).is_none()
    }

    fn uncatalogued_blocked(&self, client: &Addr, now_us: u64) -> bool {
        if self.faults.catalogue_ignored {
            return false;
        }
        let uncatalogued = self.uncatalogued(client);
        let term_over = |t: &u64| now_us >= *t;
        (uncatalogued
            && self
                .uncatalogued_block_from_us
                .as_ref()
                .is_some_and(term_over))
            || ((uncatalogued || self.faults.block_outlives_update)
                && self.noticed.get(client).is_some_and(term_over))
    }

    /// The verdict for a classified flow.
    #[allow(clippy::too_many_arguments)]
    pub fn decide(
        &self,
        client: &Addr,
        server: &Addr,
        dport: u16,
        proto: u8,
        det: &Detection,
        now_us: u64,
        sigs: &Signatures,
    ) -> (Verdict, &'static str, &'static str) {
        if let Some((v, c, r, _)) = self.pre(client, server, now_us, sigs) {
            return (v, c, r);
        }
        let mut class = det.class.unwrap_or(Class::UnknownApplication);
        if self.faults.vpn_tcp443_missed
            && class == Class::Vpn
            && proto == PROTO_TCP
            && dport == 443
        {
            class = Class::Other;
        }
        if self.faults.unknown_allowed && class == Class::UnknownApplication {
            class = Class::Other;
        }
        let org = self.org_of(client);
        if matches!(
            class,
            Class::Vpn | Class::Tunnel | Class::UnknownApplication
        ) && self.vpn_declared(org, client, server, dport, proto, now_us)
        {
            return (
                Verdict::Allow,
                "ureq-133.4",
                "declared VPN channel (source, destination, port, protocol) in force",
            );
        }
        if class == Class::Malicious {
            return (
                Verdict::Block,
                "ureq-134-1",
                "malicious software or resource",
            );
        }
        if class.blocked_by_default() {
            if !matches!(class, Class::Vpn | Class::Tunnel)
                && let Some(org) = org.or(self.faults.exemption_for_everyone.then_some(u16::MAX))
                && self.exempt(org, client, class, now_us)
            {
                return (
                    Verdict::Allow,
                    "ugia-15-1",
                    "class exempted for the organisation on its request, within the year",
                );
            }
            return (
                Verdict::Block,
                "ureq-134-1",
                match class {
                    Class::Vpn => "VPN is blocked by default; no declared channel covers this flow",
                    Class::RemoteAccess => "remote access is blocked by default",
                    Class::P2p => "p2p is blocked by default",
                    Class::Game => "gaming resources are blocked by default",
                    Class::Tunnel => {
                        "a tunnel or proxy is blocked by default as a VPN; no declared channel covers this flow"
                    }
                    _ => "unknown application: not in the category list",
                },
            );
        }
        if det.tls {
            let exempt = det.category.is_some_and(|c| {
                self.exempt_categories.contains(&c)
                    && !(self.faults.banking_inspected && sigs.category_name(c) == "finance")
            });
            return if exempt {
                (
                    Verdict::PassThrough,
                    "ugia-20",
                    "encrypted traffic of an exempt category passes untouched",
                )
            } else {
                (
                    Verdict::Inspect,
                    "ugia-20",
                    "encrypted traffic is inspected",
                )
            };
        }
        (Verdict::Allow, "", "no rule restricts this class")
    }

    fn vpn_declared(
        &self,
        org: Option<u16>,
        client: &Addr,
        server: &Addr,
        dport: u16,
        proto: u8,
        now_us: u64,
    ) -> bool {
        self.vpn.iter().any(|v| {
            let when =
                now_us >= v.from_us && (now_us < v.until_us || self.faults.exemption_never_expires);
            let who = v.org.is_none() || v.org == org;
            if self.faults.vpn_exemption_wider {
                when && who && v.src == *client
            } else {
                when && who
                    && v.src == *client
                    && v.dst == *server
                    && v.port == dport
                    && v.proto == proto
            }
        })
    }

    fn exempt(&self, org: u16, client: &Addr, class: Class, now_us: u64) -> bool {
        self.exemptions.iter().any(|e| {
            (e.org == org || self.faults.exemption_for_everyone)
                && e.class == class
                && (e.sources.is_empty()
                    || self.faults.exemption_ignores_sources
                    || e.sources.lookup(client).is_some())
                && now_us >= e.from_us
                && (now_us < e.until_us || self.faults.exemption_never_expires)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exemptions_last_one_calendar_year() {
        let t: jiff::Timestamp = "2025-03-01T05:00:00Z".parse().unwrap();
        assert_eq!(one_year_after(t).to_string(), "2026-03-01T05:00:00Z");
    }
}
