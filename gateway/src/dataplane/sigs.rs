//! Signature data: domain and IP lists per class and per category. The lists are data
//! files (`gateway/data/domains/*.txt`, `gateway/data/ips/*.txt`), shipped as defaults and
//! extended or replaced by the user's own files; nothing about which site belongs where is
//! in code.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::path::Path;

use super::packet::{Addr, from_ip};

/// The policy classes of ureq-134-1 and ugia-20.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Class {
    Vpn,
    RemoteAccess,
    P2p,
    Game,
    Malicious,
    UnknownApplication,
    Other,
    /// Tunnels and proxies (SOCKS, HTTP CONNECT, DNS and ICMP tunnels, TCP encrypted from
    /// the first byte): traffic carrying other traffic past classification. Blocked by
    /// default as a VPN is, and opened only by a declared channel
    /// ([`super::protocols::tunnel`]).
    Tunnel,
}

impl Class {
    pub const ALL: [Class; 8] = [
        Class::Vpn,
        Class::RemoteAccess,
        Class::P2p,
        Class::Game,
        Class::Malicious,
        Class::UnknownApplication,
        Class::Other,
        Class::Tunnel,
    ];
    /// The classes ureq-134-1 blocks by default.
    pub const BLOCKED: [Class; 7] = [
        Class::Vpn,
        Class::RemoteAccess,
        Class::P2p,
        Class::Game,
        Class::Malicious,
        Class::UnknownApplication,
        Class::Tunnel,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Vpn => "vpn",
            Class::RemoteAccess => "remote-access",
            Class::P2p => "p2p",
            Class::Game => "game",
            Class::Malicious => "malicious",
            Class::UnknownApplication => "unknown-application",
            Class::Other => "other",
            Class::Tunnel => "tunnel",
        }
    }
    pub fn parse(s: &str) -> Option<Class> {
        Class::ALL.into_iter().find(|c| c.as_str() == s)
    }
    pub fn blocked_by_default(self) -> bool {
        self != Class::Other
    }
}

/// A small deterministic hasher (FNV-1a) for the name tables: no random state, so lookups
/// behave the same in every run.
#[derive(Default)]
pub struct Fnv(u64);
impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf29ce484222325
        } else {
            self.0
        };
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x100000001b3);
        }
        self.0 = h;
    }
}
pub type FnvMap<K, V> = HashMap<K, V, BuildHasherDefault<Fnv>>;

/// What a list says about a name or an address.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Label {
    pub class: Option<Class>,
    /// Index into [`Signatures::categories`].
    pub category: Option<u16>,
}

impl Label {
    fn merge(&mut self, o: Label) {
        if o.class.is_some() {
            self.class = o.class;
        }
        if o.category.is_some() {
            self.category = o.category;
        }
    }
}

/// A binary prefix trie over 128-bit addresses (IPv4 v4-mapped): longest match wins.
#[derive(Debug, Clone, Default)]
pub struct PrefixTrie<V: Copy> {
    nodes: Vec<([u32; 2], Option<V>)>,
}

impl<V: Copy> PrefixTrie<V> {
    pub fn new() -> Self {
        PrefixTrie {
            nodes: vec![([0, 0], None)],
        }
    }
    pub fn is_empty(&self) -> bool {
        self.nodes.len() <= 1 && self.nodes.first().is_none_or(|n| n.1.is_none())
    }
    fn bit(a: &Addr, i: usize) -> usize {
        usize::from((a[i / 8] >> (7 - i % 8)) & 1)
    }
    /// Inserts `addr/len` (len counted on the 128-bit form).
    pub fn insert(&mut self, addr: &Addr, len: u8, v: V) {
        if self.nodes.is_empty() {
            self.nodes.push(([0, 0], None));
        }
        let mut n = 0usize;
        for i in 0..usize::from(len.min(128)) {
            let b = Self::bit(addr, i);
            let c = self.nodes[n].0[b];
            n = if c == 0 {
                self.nodes.push(([0, 0], None));
                let id = self.nodes.len() - 1;
                self.nodes[n].0[b] = id as u32;
                id
            } else {
                c as usize
            };
        }
        self.nodes[n].1 = Some(v);
    }
    pub fn lookup(&self, addr: &Addr) -> Option<V> {
        let mut n = 0usize;
        let mut best = self.nodes.first()?.1;
        for i in 0..128 {
            let c = self.nodes[n].0[Self::bit(addr, i)];
            if c == 0 {
                break;
            }
            n = c as usize;
            if let Some(v) = self.nodes[n].1 {
                best = Some(v);
            }
        }
        best
    }
}

/// Parses `a.b.c.d[/n]`, `v6[/n]` or `[v6][/n]`; returns the 128-bit form and length.
pub fn parse_prefix(s: &str) -> Option<(Addr, u8)> {
    let s = s.trim();
    let (a, l) = match s.rsplit_once('/') {
        Some((a, l)) => (a, Some(l.parse::<u8>().ok()?)),
        None => (s, None),
    };
    let a = a.trim_start_matches('[').trim_end_matches(']');
    let ip: std::net::IpAddr = a.parse().ok()?;
    let (addr, full, base) = match ip {
        std::net::IpAddr::V4(_) => (from_ip(ip), 32u8, 96u8),
        std::net::IpAddr::V6(_) => (from_ip(ip), 128, 0),
    };
    let l = l.unwrap_or(full);
    if l > full {
        return None;
    }
    Some((addr, base + l))
}

/// The signature lists in force.
#[derive(Debug, Clone, Default)]
pub struct Signatures {
    names: FnvMap<Box<str>, Label>,
    ips: PrefixTrie<Label>,
    /// TLS server certificates by SHA-1 fingerprint (nDPI's `sha1_fingerprints.csv`).
    cert_sha1: FnvMap<[u8; 20], Label>,
    /// TLS clients by JA3 fingerprint (MD5, nDPI's `ja3_fingerprints.csv`).
    ja3: FnvMap<[u8; 16], Label>,
    /// Category names, indexed by [`Label::category`].
    pub categories: Vec<String>,
}

/// The lists shipped with the reference (`gateway/data/`).
const DEFAULT_DOMAINS: &[(&str, &str)] = &[
    ("vpn", include_str!("../../data/domains/vpn.txt")),
    (
        "remote-access",
        include_str!("../../data/domains/remote-access.txt"),
    ),
    ("p2p", include_str!("../../data/domains/p2p.txt")),
    ("game", include_str!("../../data/domains/game.txt")),
    (
        "malicious",
        include_str!("../../data/domains/malicious.txt"),
    ),
    ("finance", include_str!("../../data/domains/finance.txt")),
    (
        "government",
        include_str!("../../data/domains/government.txt"),
    ),
    ("health", include_str!("../../data/domains/health.txt")),
    ("privacy", include_str!("../../data/domains/privacy.txt")),
    (
        "video-conferencing",
        include_str!("../../data/domains/video-conferencing.txt"),
    ),
    (
        "av-updates",
        include_str!("../../data/domains/av-updates.txt"),
    ),
    (
        "os-updates",
        include_str!("../../data/domains/os-updates.txt"),
    ),
];

const DEFAULT_IPS: &[(&str, &str)] = &[
    ("vpn", include_str!("../../data/ips/vpn.txt")),
    ("malicious", include_str!("../../data/ips/malicious.txt")),
];

#[derive(Debug, thiserror::Error)]
pub enum SigError {
    #[error("{file}:{line}: {message}")]
    Line {
        file: String,
        line: usize,
        message: String,
    },
    #[error("{file}: {source}")]
    Io {
        file: String,
        source: std::io::Error,
    },
}

impl Signatures {
    /// The shipped lists.
    pub fn builtin() -> Signatures {
        let mut s = Signatures {
            ips: PrefixTrie::new(),
            ..Default::default()
        };
        for (label, text) in DEFAULT_DOMAINS {
            s.add_domains(label, text, label)
                .expect("shipped domain lists parse");
        }
        for (label, text) in DEFAULT_IPS {
            s.add_ips(label, text, label)
                .expect("shipped IP lists parse");
        }
        s
    }

    fn label_of(&mut self, label: &str) -> Label {
        match Class::parse(label) {
            Some(c) => Label {
                class: Some(c),
                category: None,
            },
            None => {
                let i = match self.categories.iter().position(|c| c == label) {
                    Some(i) => i,
                    None => {
                        self.categories.push(label.to_string());
                        self.categories.len() - 1
                    }
                };
                Label {
                    class: None,
                    category: Some(i as u16),
                }
            }
        }
    }

    /// Adds a domain list: one domain per line; `#` comments; a name matches itself and
    /// every subdomain (label boundaries only).
    pub fn add_domains(&mut self, label: &str, text: &str, file: &str) -> Result<usize, SigError> {
        let l = self.label_of(label);
        let mut n = 0;
        for (i, line) in text.lines().enumerate() {
            let d = line.split('#').next().unwrap_or("").trim();
            if d.is_empty() {
                continue;
            }
            let d = d
                .trim_start_matches("*.")
                .trim_start_matches('.')
                .to_ascii_lowercase();
            if d.contains(|c: char| c.is_whitespace() && c != ' ') || d.is_empty() {
                return Err(SigError::Line {
                    file: file.into(),
                    line: i + 1,
                    message: format!("`{d}` is not a domain name"),
                });
            }
            self.names.entry(d.into()).or_default().merge(l);
            n += 1;
        }
        Ok(n)
    }

    /// Adds an IP list: one address or prefix per line. Lines in nDPI's category-file form
    /// (`name<TAB>id`) are read too: id 100 (malware) and 99 (mining) count as malicious.
    pub fn add_ips(&mut self, label: &str, text: &str, file: &str) -> Result<usize, SigError> {
        let l = self.label_of(label);
        let mut n = 0;
        for (i, line) in text.lines().enumerate() {
            let t = line.split('#').next().unwrap_or("").trim();
            if t.is_empty() {
                continue;
            }
            let first = t.split_whitespace().next().unwrap_or("");
            let Some((a, len)) = parse_prefix(first) else {
                return Err(SigError::Line {
                    file: file.into(),
                    line: i + 1,
                    message: format!("`{first}` is not an IP address or prefix"),
                });
            };
            let mut cur = self.ips.lookup_exact(&a, len).unwrap_or_default();
            cur.merge(l);
            self.ips.insert(&a, len, cur);
            n += 1;
        }
        Ok(n)
    }

    /// Reads a user's list file: `<label>.domains`, `<label>.ips`, an nDPI category file
    /// (`name<TAB>category-id`, with names and addresses mixed), or an nDPI fingerprint list
    /// (abuse.ch SSLBL CSV): `date,sha1,reason` certificates or `ja3,first,last,reason`
    /// clients, recognised from their first entry.
    pub fn add_file(&mut self, path: &Path) -> Result<usize, SigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| SigError::Io {
            file: file.clone(),
            source,
        })?;
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        let ext = path.extension().and_then(|s| s.to_str()).unwrap_or("");
        match ext {
            "domains" => self.add_domains(stem, &text, &file),
            "ips" => self.add_ips(stem, &text, &file),
            _ => match fingerprint_kind(&text) {
                Some(kind) => self.add_fingerprints(kind, FINGERPRINT_LABEL, &text, &file),
                None => self.add_ndpi_categories(&text, &file),
            },
        }
    }

    /// Adds a fingerprint list in nDPI's CSV forms: [`Fingerprint::CertSha1`] lines are
    /// `listing-date,sha1-hex,reason`, [`Fingerprint::Ja3`] lines `ja3-md5-hex,first-seen,
    /// last-seen,reason`; `#` comments. Every entry takes `label`.
    pub fn add_fingerprints(
        &mut self,
        kind: Fingerprint,
        label: &str,
        text: &str,
        file: &str,
    ) -> Result<usize, SigError> {
        let l = self.label_of(label);
        let mut n = 0;
        for (i, line) in text.lines().enumerate() {
            let t = line.split('#').next().unwrap_or("").trim();
            if t.is_empty() {
                continue;
            }
            let fields: Vec<&str> = t.split(',').map(str::trim).collect();
            let err = |message: String| SigError::Line {
                file: file.into(),
                line: i + 1,
                message,
            };
            match kind {
                Fingerprint::CertSha1 => {
                    let Some(h) = fields.get(1).and_then(|f| hex::<20>(f)) else {
                        return Err(err(format!(
                            "`{t}`: expected `listing-date,sha1 (40 hex digits),reason`"
                        )));
                    };
                    self.cert_sha1.insert(h, l);
                }
                Fingerprint::Ja3 => {
                    let Some(h) = fields.first().and_then(|f| hex::<16>(f)) else {
                        return Err(err(format!(
                            "`{t}`: expected `ja3 (32 hex digits),first-seen,last-seen,reason`"
                        )));
                    };
                    self.ja3.insert(h, l);
                }
            }
            n += 1;
        }
        Ok(n)
    }

    pub fn has_cert_sha1(&self) -> bool {
        !self.cert_sha1.is_empty()
    }

    pub fn has_ja3(&self) -> bool {
        !self.ja3.is_empty()
    }

    /// What the certificate lists say about a server certificate's SHA-1.
    pub fn cert_sha1(&self, h: &[u8; 20]) -> Option<Label> {
        self.cert_sha1.get(h).copied()
    }

    /// What the client-fingerprint lists say about a ClientHello's JA3 (MD5).
    pub fn ja3(&self, h: &[u8; 16]) -> Option<Label> {
        self.ja3.get(h).copied()
    }

    /// nDPI's category file: `name-or-address<TAB>id`; ids 99 and 100 are malicious.
    pub fn add_ndpi_categories(&mut self, text: &str, file: &str) -> Result<usize, SigError> {
        let mut n = 0;
        for (i, line) in text.lines().enumerate() {
            let t = line.split('#').next().unwrap_or("").trim();
            if t.is_empty() {
                continue;
            }
            let mut parts = t.split_whitespace();
            let (Some(name), Some(id)) = (parts.next(), parts.next()) else {
                return Err(SigError::Line {
                    file: file.into(),
                    line: i + 1,
                    message: "expected `name<TAB>category-id`".into(),
                });
            };
            if !matches!(id, "99" | "100") {
                continue;
            }
            if parse_prefix(name).is_some() {
                self.add_ips("malicious", name, file)?;
            } else {
                self.add_domains("malicious", name, file)?;
            }
            n += 1;
        }
        Ok(n)
    }

    /// What the lists say about a host name: the longest listed suffix on a label boundary.
    pub fn name(&self, host: &[u8]) -> Label {
        let mut buf = [0u8; 256];
        if host.is_empty() || host.len() > buf.len() {
            return Label::default();
        }
        for (o, &c) in buf.iter_mut().zip(host) {
            *o = c.to_ascii_lowercase();
        }
        let h = &buf[..host.len()];
        let h = h.strip_suffix(b".").unwrap_or(h);
        let Ok(s) = std::str::from_utf8(h) else {
            return Label::default();
        };
        // the most specific entry that gives a class gives the class, and the most specific
        // that gives a category the category: a blocked class listed for a domain is not
        // lost because a subdomain (or the same name) is also listed in an exempt category
        // (vpn-api.proton.me is VPN, whatever proton.me's privacy category says)
        let mut out = Label::default();
        let mut rest = s;
        loop {
            if let Some(l) = self.names.get(rest) {
                if out.class.is_none() {
                    out.class = l.class;
                }
                if out.category.is_none() {
                    out.category = l.category;
                }
                if out.class.is_some() && out.category.is_some() {
                    return out;
                }
            }
            match rest.find('.') {
                Some(i) => rest = &rest[i + 1..],
                None => return out,
            }
        }
    }

    pub fn ip(&self, a: &Addr) -> Label {
        self.ips.lookup(a).unwrap_or_default()
    }

    pub fn category_name(&self, i: u16) -> &str {
        self.categories
            .get(usize::from(i))
            .map(String::as_str)
            .unwrap_or("")
    }

    pub fn category_id(&self, name: &str) -> Option<u16> {
        self.categories
            .iter()
            .position(|c| c == name)
            .map(|i| i as u16)
    }
}

/// The fingerprint lists' forms (nDPI's `-S` and `-j` files).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fingerprint {
    CertSha1,
    Ja3,
}

/// The label fingerprint-list entries take. nDPI, whose lists these are, raises a risk on a
/// match (`NDPI_MALICIOUS_SHA1_CERTIFICATE`, `NDPI_MALICIOUS_JA3`) and keeps the flow's
/// protocol and category: a JA3 is shared by every client built on the same TLS library. So
/// a match is recorded as this category (the TLS session is inspected, never passed through)
/// and leaves the class to the flow's own signatures.
pub const FINGERPRINT_LABEL: &str = "malicious-fingerprint";

/// Recognises an nDPI fingerprint list from its first entry.
pub fn fingerprint_kind(text: &str) -> Option<Fingerprint> {
    let first = text
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .find(|l| !l.is_empty())?;
    let f: Vec<&str> = first.split(',').map(str::trim).collect();
    if f.len() >= 2 && hex::<20>(f[1]).is_some() {
        Some(Fingerprint::CertSha1)
    } else if hex::<16>(f[0]).is_some() {
        Some(Fingerprint::Ja3)
    } else {
        None
    }
}

/// `N` bytes written as 2N hex digits (either case).
fn hex<const N: usize>(s: &str) -> Option<[u8; N]> {
    let s = s.as_bytes();
    if s.len() != 2 * N {
        return None;
    }
    let d = |c: u8| (c as char).to_digit(16).map(|v| v as u8);
    let mut out = [0u8; N];
    for (i, o) in out.iter_mut().enumerate() {
        *o = (d(s[2 * i])? << 4) | d(s[2 * i + 1])?;
    }
    Some(out)
}

impl<V: Copy> PrefixTrie<V> {
    fn lookup_exact(&self, addr: &Addr, len: u8) -> Option<V> {
        let mut n = 0usize;
        for i in 0..usize::from(len.min(128)) {
            let c = self.nodes.get(n)?.0[Self::bit(addr, i)];
            if c == 0 {
                return None;
            }
            n = c as usize;
        }
        self.nodes.get(n)?.1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_on_label_boundaries_only() {
        let mut s = Signatures::default();
        s.add_domains("vpn", "nordvpn.com\n# c\n", "t").unwrap();
        s.add_domains("finance", "halykbank.kz", "t").unwrap();
        assert_eq!(s.name(b"api.NordVPN.com").class, Some(Class::Vpn));
        assert_eq!(s.name(b"notnordvpn.com").class, None);
        let fin = s.name(b"online.halykbank.kz").category.unwrap();
        assert_eq!(s.category_name(fin), "finance");
    }

    #[test]
    fn longest_prefix_wins() {
        let mut t = PrefixTrie::new();
        let (a, l) = parse_prefix("10.0.0.0/8").unwrap();
        t.insert(&a, l, 1);
        let (a, l) = parse_prefix("10.1.0.0/16").unwrap();
        t.insert(&a, l, 2);
        assert_eq!(t.lookup(&parse_prefix("10.1.2.3").unwrap().0), Some(2));
        assert_eq!(t.lookup(&parse_prefix("10.2.2.3").unwrap().0), Some(1));
        assert_eq!(t.lookup(&parse_prefix("11.2.2.3").unwrap().0), None);
        assert_eq!(t.lookup(&parse_prefix("::1").unwrap().0), None);
    }

    #[test]
    fn fingerprint_lists_in_ndpi_form() {
        let sha1 = "# Listingdate,SHA1,Listingreason\n\
                    1970-01-01 00:00:00,0DDB34F875632C7E1EC09D75827F82D2336DFEB6, Fake\n";
        assert_eq!(fingerprint_kind(sha1), Some(Fingerprint::CertSha1));
        let ja3 = "# ja3_md5,Firstseen,Lastseen,Listingreason\n\
                   b386946a5a44d1ddcc843bc75336dfce,2017-07-14 18:08:15,2019-07-27 20:42:54,Dridex\n";
        assert_eq!(fingerprint_kind(ja3), Some(Fingerprint::Ja3));
        assert_eq!(fingerprint_kind("internetbadguys.com\t100\n"), None);
        let mut s = Signatures::default();
        s.add_fingerprints(Fingerprint::CertSha1, FINGERPRINT_LABEL, sha1, "t")
            .unwrap();
        s.add_fingerprints(Fingerprint::Ja3, FINGERPRINT_LABEL, ja3, "t")
            .unwrap();
        let h = hex::<20>("0ddb34f875632c7e1ec09d75827f82d2336dfeb6").unwrap();
        let l = s.cert_sha1(&h).unwrap();
        assert_eq!(s.category_name(l.category.unwrap()), FINGERPRINT_LABEL);
        assert_eq!(l.class, None);
        assert!(
            s.ja3(&hex::<16>("b386946a5a44d1ddcc843bc75336dfce").unwrap())
                .is_some()
        );
        assert!(s.ja3(&[0; 16]).is_none());
        let bad = format!("{sha1}2022-07-02 07:02:11,3784422d67a6ae0c82d60eeaf3850960a9896c,X\n");
        let e = s
            .add_fingerprints(Fingerprint::CertSha1, FINGERPRINT_LABEL, &bad, "sha1.csv")
            .unwrap_err();
        assert!(e.to_string().starts_with("sha1.csv:3:"), "{e}");
    }

    #[test]
    fn the_shipped_lists_load() {
        let s = Signatures::builtin();
        for c in [
            "finance",
            "government",
            "health",
            "privacy",
            "video-conferencing",
            "av-updates",
            "os-updates",
        ] {
            assert!(s.category_id(c).is_some(), "{c}");
        }
    }
}
