//! Oracles of TLS inspection (ugia-20, ugia-21, ugia-23), judged from what the harness's own
//! TLS ends saw across the gateway: the chain each workstation was shown (every certificate,
//! parsed and its signatures checked here, never the gateway's word), whether its trust store
//! took it, what each origin received and from whom, and the root certificates the STS's
//! notices carried to the telecom operators' inbox. Which category a site belongs to is the
//! scenario's statement (the harness's `tls-site` note), never the gateway's.
//!
//! A session is classified by its chain alone:
//! - **own**: the leaf is the origin's own certificate (the harness issued it, so it knows it);
//! - **minted**: the chain ends at a root some `root-certificate-notice` carried;
//! - **foreign**: anything else (a root nobody announced);
//! - **none**: the session ended before any certificate was shown.

use std::collections::BTreeMap;

use base64::Engine;
use jiff::Timestamp;
use qaqpa_reports::{Evidence, Judgement, Verdict};
use qaqpa_sim::clock;
use qaqpa_sim::trace::{
    DocKind, Event, Observation, ROOT_CERTIFICATE_FIELD, TlsClientSeen, TlsOriginSeen, TlsOutcome,
    Trace,
};
use x509_parser::prelude::{ASN1Time, FromDer, X509Certificate};

use super::network::UGIA20_EXEMPT;
use super::{Oracle, OracleCtx};
use crate::tls::{SITE_NOTE, sha256_hex};

/// A UGIA root as a notice to the telecom operators carried it.
struct Announced {
    der: Vec<u8>,
    fingerprint: String,
    /// When the notice reached the operators' inbox.
    at: Timestamp,
    seq: u64,
    name: String,
}

/// Every root certificate the STS's notices carried, in order of arrival; a notice whose
/// certificate does not parse announces nothing.
fn announced(trace: &Trace) -> Vec<Announced> {
    trace
        .documents()
        .filter(|(o, d)| d.doc == DocKind::RootCertificateNotice && o.probe.starts_with("inbox:"))
        .filter_map(|(o, d)| {
            let pem = d.fields.get(ROOT_CERTIFICATE_FIELD)?;
            let (_, p) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).ok()?;
            let (_, c) = X509Certificate::from_der(&p.contents).ok()?;
            let name = c.subject().to_string();
            Some(Announced {
                fingerprint: sha256_hex(&p.contents),
                der: p.contents.clone(),
                at: o.at,
                seq: o.seq,
                name,
            })
        })
        .collect()
}

/// A site outside, as the scenario states it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Site {
    pub category: Option<String>,
    /// SHA-256 of the origin's own certificate.
    pub certificate: Option<String>,
}

fn sites(trace: &Trace) -> BTreeMap<String, Site> {
    let mut out = BTreeMap::new();
    for o in trace.observations() {
        if let Event::Network(n) = &o.event
            && n.what == SITE_NOTE
            && let Some(name) = n.fields.get("site")
        {
            out.insert(
                name.to_ascii_lowercase(),
                Site {
                    category: n.fields.get("category").cloned(),
                    certificate: n.fields.get("certificate").cloned(),
                },
            );
        }
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chain {
    Own,
    /// Index into the announced roots.
    Minted(usize),
    Foreign,
    None,
}

/// One workstation session with what the oracles need of it.
struct Session<'t> {
    o: &'t Observation,
    c: &'t TlsClientSeen,
    ders: Vec<Vec<u8>>,
    chain: Chain,
    site: Site,
}

impl Session<'_> {
    fn exempt(&self) -> Option<bool> {
        self.site
            .category
            .as_deref()
            .map(|c| UGIA20_EXEMPT.contains(&c))
    }

    fn category(&self) -> &str {
        self.site.category.as_deref().unwrap_or("unstated")
    }

    fn describe(&self) -> String {
        format!(
            "session {} of {} to {} ({})",
            self.c.session,
            self.c.workstation,
            self.c.server_name,
            self.category()
        )
    }

    /// The leaf's subject and issuer, for a finding.
    fn leaf_names(&self) -> String {
        self.ders
            .first()
            .and_then(|d| X509Certificate::from_der(d).ok())
            .map(|(_, c)| format!("subject {}, issuer {}", c.subject(), c.issuer()))
            .unwrap_or_else(|| "no certificate".into())
    }
}

/// Whether `child` names `parent` as its issuer and carries its signature.
fn signed_by(child: &X509Certificate<'_>, parent: &X509Certificate<'_>) -> bool {
    child.issuer() == parent.subject() && child.verify_signature(Some(parent.public_key())).is_ok()
}

/// Which announced root the presented chain ends at: each certificate signed by the next, the
/// last one an announced root itself or signed by one.
fn chain_root(ders: &[Vec<u8>], roots: &[Announced]) -> Option<usize> {
    let certs: Vec<X509Certificate<'_>> = ders
        .iter()
        .map(|d| X509Certificate::from_der(d).map(|(_, c)| c))
        .collect::<Result<_, _>>()
        .ok()?;
    for pair in certs.windows(2) {
        if !signed_by(&pair[0], &pair[1]) {
            return None;
        }
    }
    let last = certs.last()?;
    let last_fp = sha256_hex(ders.last()?);
    // The first announcement of that root: a root announced twice counts from the first.
    roots.iter().position(|r| {
        r.fingerprint == last_fp
            || X509Certificate::from_der(&r.der)
                .map(|(_, root)| signed_by(last, &root))
                .unwrap_or(false)
    })
}

fn sessions<'t>(trace: &'t Trace, roots: &[Announced]) -> Vec<Session<'t>> {
    let sites = sites(trace);
    let b64 = base64::engine::general_purpose::STANDARD;
    trace
        .observations()
        .iter()
        .filter_map(|o| match &o.event {
            Event::TlsClient(c) => Some((o, c)),
            _ => None,
        })
        .map(|(o, c)| {
            let ders: Vec<Vec<u8>> = c
                .chain
                .iter()
                .map(|b| b64.decode(b).unwrap_or_default())
                .collect();
            let site = sites
                .get(&c.server_name.to_ascii_lowercase())
                .cloned()
                .unwrap_or_default();
            let chain = match ders.first() {
                None => Chain::None,
                Some(leaf) if site.certificate.as_deref() == Some(&sha256_hex(leaf)) => Chain::Own,
                Some(_) => chain_root(&ders, roots).map_or(Chain::Foreign, Chain::Minted),
            };
            Session {
                o,
                c,
                ders,
                chain,
                site,
            }
        })
        .collect()
}

fn origins(trace: &Trace) -> Vec<(&Observation, &TlsOriginSeen)> {
    trace
        .observations()
        .iter()
        .filter_map(|o| match &o.event {
            Event::TlsOrigin(t) => Some((o, t)),
            _ => None,
        })
        .collect()
}

fn evidence(ctx: &OracleCtx<'_>, s: &Session<'_>) -> Evidence {
    let c = s.c;
    let outcome = match c.outcome {
        TlsOutcome::Completed => "completed".to_string(),
        TlsOutcome::CertificateError => format!("certificate error: {}", c.error),
        TlsOutcome::Failed => format!("failed: {}", c.error),
    };
    let chain = match s.chain {
        Chain::None => "no certificate shown".to_string(),
        Chain::Own => "the origin's own certificate".to_string(),
        Chain::Minted(_) => format!(
            "a chain ending at an announced UGIA root ({})",
            s.leaf_names()
        ),
        Chain::Foreign => format!("a chain ending at no announced root ({})", s.leaf_names()),
    };
    Evidence {
        scenario: ctx.scenario.to_string(),
        at: clock::display(s.o.at),
        probe: s.o.probe.clone(),
        subject: format!("tls session {}", c.session),
        text: format!(
            "{} to {}:{} ({}), opened {}: shown {chain}; {outcome}; {} root(s) trusted; received {} bytes",
            c.workstation,
            c.server_name,
            c.dport,
            s.category(),
            clock::display(c.started),
            c.trusted.len(),
            c.received.bytes
        ),
        seq: Some(s.o.seq),
    }
}

fn rule(ctx: &OracleCtx<'_>, at: Timestamp, text: &str) -> Evidence {
    Evidence {
        scenario: ctx.scenario.to_string(),
        at: clock::display(at),
        probe: "oracle".into(),
        subject: "rule".into(),
        text: text.to_string(),
        seq: None,
    }
}

/// Session-by-session outcomes folded into one judgement, as the packet oracles fold flows.
struct Tally<'s, 't> {
    clause: &'static str,
    rule: &'static str,
    fails: Vec<(&'s Session<'t>, String, Vec<Evidence>)>,
    passes: Vec<&'s Session<'t>>,
    untested: usize,
    /// A pass needs at least one session of this kind; otherwise the obligation was not
    /// exercised, whatever else passed.
    needed: Option<&'static str>,
    needed_seen: bool,
}

impl<'s, 't> Tally<'s, 't> {
    fn new(clause: &'static str, rule: &'static str) -> Self {
        Tally {
            clause,
            rule,
            fails: Vec::new(),
            passes: Vec::new(),
            untested: 0,
            needed: None,
            needed_seen: false,
        }
    }

    fn fail(&mut self, s: &'s Session<'t>, why: String) {
        self.fails.push((s, why, Vec::new()));
    }

    fn judge(self, ctx: &OracleCtx<'_>) -> Judgement {
        let total = self.fails.len() + self.passes.len();
        let last = self
            .fails
            .iter()
            .map(|(s, _, _)| s.o.at)
            .chain(self.passes.iter().map(|s| s.o.at))
            .max()
            .unwrap_or(ctx.end);
        if total == 0 || (self.fails.is_empty() && self.needed.is_some() && !self.needed_seen) {
            let why = match self.needed {
                Some(n) if total > 0 => format!(
                    "{total} session(s) judged, but none {n}: the obligation was not exercised"
                ),
                _ => format!(
                    "the trace holds no TLS session that {} applies to ({} could not be judged)",
                    self.clause, self.untested
                ),
            };
            return Judgement {
                verdict: Verdict::NotTested,
                finding: why,
                evidence: vec![],
            };
        }
        let mut ev = vec![rule(ctx, last, self.rule)];
        if self.fails.is_empty() {
            ev.extend(self.passes.iter().take(8).map(|s| evidence(ctx, s)));
            return Judgement {
                verdict: Verdict::Pass,
                finding: format!(
                    "{} TLS session(s) judged, all as the clause requires ({} not judgeable)",
                    self.passes.len(),
                    self.untested
                ),
                evidence: ev,
            };
        }
        let shown: Vec<&str> = self
            .fails
            .iter()
            .take(3)
            .map(|(_, w, _)| w.as_str())
            .collect();
        let more = if self.fails.len() > 3 {
            format!("; and {} more", self.fails.len() - 3)
        } else {
            String::new()
        };
        for (s, why, extra) in self.fails.iter().take(12) {
            ev.push(evidence(ctx, s));
            ev.extend(extra.iter().cloned());
            ev.push(Evidence {
                scenario: ctx.scenario.to_string(),
                at: clock::display(s.o.at),
                probe: "oracle".into(),
                subject: format!("tls session {}", s.c.session),
                text: why.clone(),
                seq: None,
            });
        }
        ev.sort_by_key(|e| e.at.parse::<Timestamp>().ok());
        Judgement {
            verdict: Verdict::Fail,
            finding: format!(
                "{} of {} TLS session(s) break {}: {}{}",
                self.fails.len(),
                total,
                self.clause,
                shown.join("; "),
                more
            ),
            evidence: ev,
        }
    }
}

/// ugia-20: a session to an exempt site shows the origin's own certificate inside, and the
/// origin received exactly the workstation's bytes and sent exactly what it received.
pub struct ExemptPassedThrough;

impl Oracle for ExemptPassedThrough {
    fn clause(&self) -> &'static str {
        "ugia-20"
    }
    fn obligation(&self) -> &'static str {
        "exempt-categories-passed-through"
    }
    fn describe(&self) -> &'static str {
        "a TLS session to a site of an exempt category (finance, government, health, privacy, video conferencing, AV and OS updates; the scenario states each site's category) shows the workstation the origin's own certificate, and the origin receives the workstation's TCP bytes unchanged and answers it exactly"
    }
    fn judge(&self, ctx: &OracleCtx<'_>, trace: &Trace) -> Judgement {
        let roots = announced(trace);
        let all = sessions(trace, &roots);
        let origins = origins(trace);
        let mut t = Tally::new(
            self.clause(),
            "an exempt site's session: the origin's own certificate inside; an origin connection that received the workstation's TCP bytes byte for byte, whose plaintext answer is what the workstation received",
        );
        for s in &all {
            if s.exempt() != Some(true) {
                continue;
            }
            match s.chain {
                Chain::None => t.fail(
                    s,
                    format!(
                        "{}: no certificate reached the workstation ({})",
                        s.describe(),
                        s.c.error
                    ),
                ),
                Chain::Minted(_) | Chain::Foreign => t.fail(
                    s,
                    format!(
                        "{}: re-signed instead of passed through (shown {}, not the origin's own certificate)",
                        s.describe(),
                        s.leaf_names()
                    ),
                ),
                Chain::Own => {
                    let through = origins
                        .iter()
                        .find(|(_, o)| o.unchanged_from.as_deref() == Some(s.c.session.as_str()));
                    match through {
                        None => t.fail(
                            s,
                            format!(
                                "{}: no origin connection received the workstation's TCP bytes unchanged",
                                s.describe()
                            ),
                        ),
                        Some((_, o)) if o.sent != s.c.received || o.received != s.c.sent => t.fail(
                            s,
                            format!(
                                "{}: the plaintext differs between the two sides (workstation sent {} B, origin received {} B; origin sent {} B, workstation received {} B)",
                                s.describe(),
                                s.c.sent.bytes,
                                o.received.bytes,
                                o.sent.bytes,
                                s.c.received.bytes
                            ),
                        ),
                        Some(_) => t.passes.push(s),
                    }
                }
            }
        }
        t.untested = all.iter().filter(|s| s.exempt().is_none()).count();
        t.judge(ctx)
    }
}

/// ugia-20: a session to any other site shows a chain ending at an announced UGIA root.
pub struct OtherInspected;

impl Oracle for OtherInspected {
    fn clause(&self) -> &'static str {
        "ugia-20"
    }
    fn obligation(&self) -> &'static str {
        "other-tls-inspected"
    }
    fn describe(&self) -> &'static str {
        "a TLS session to a site of a category outside the exempt ones shows the workstation a chain that ends at a UGIA root the STS announced (not the origin's own certificate)"
    }
    fn judge(&self, ctx: &OracleCtx<'_>, trace: &Trace) -> Judgement {
        let roots = announced(trace);
        let all = sessions(trace, &roots);
        let mut t = Tally::new(
            self.clause(),
            "a non-exempt site's session: the chain shown ends at a root carried by a root-certificate notice",
        );
        for s in &all {
            if s.exempt() != Some(false) {
                t.untested += usize::from(s.exempt().is_none());
                continue;
            }
            match s.chain {
                Chain::Minted(_) => t.passes.push(s),
                Chain::Own => t.fail(
                    s,
                    format!(
                        "{}: not inspected (the workstation was shown the origin's own certificate)",
                        s.describe()
                    ),
                ),
                Chain::Foreign => t.fail(
                    s,
                    format!(
                        "{}: the chain shown ({}) ends at no root the STS announced",
                        s.describe(),
                        s.leaf_names()
                    ),
                ),
                // A session that ended before a certificate shows nothing of inspection.
                Chain::None => t.untested += 1,
            }
        }
        t.judge(ctx)
    }
}

fn valid_at(der: &[u8], t: Timestamp) -> Option<(bool, String)> {
    let (_, c) = X509Certificate::from_der(der).ok()?;
    let at = ASN1Time::from_timestamp(t.as_second()).ok()?;
    let v = c.validity();
    Some((
        v.is_valid_at(at),
        format!("{} to {}", v.not_before, v.not_after),
    ))
}

/// ugia-21: every certificate the gateway minted chains to a root announced to the operators
/// before the session, valid then.
pub struct RootValidAndAnnounced;

impl Oracle for RootValidAndAnnounced {
    fn clause(&self) -> &'static str {
        "ugia-21"
    }
    fn obligation(&self) -> &'static str {
        "root-valid-and-announced"
    }
    fn describe(&self) -> &'static str {
        "every chain a workstation was shown other than the origin's own ends at a UGIA root whose root-certificate notice reached the telecom operators before the session opened, and the root and the minted certificate are valid at that instant"
    }
    fn judge(&self, ctx: &OracleCtx<'_>, trace: &Trace) -> Judgement {
        let roots = announced(trace);
        let all = sessions(trace, &roots);
        let mut t = Tally::new(
            self.clause(),
            "a minted chain: its root announced (the notice in the operators' inbox) at or before the session opened; root and leaf valid at that instant",
        );
        let mut used = std::collections::BTreeSet::new();
        for s in &all {
            let opened = s.c.started;
            match s.chain {
                Chain::Own | Chain::None => {}
                Chain::Foreign => t.fail(
                    s,
                    format!(
                        "{}: minted under a root no notice announced ({})",
                        s.describe(),
                        s.leaf_names()
                    ),
                ),
                Chain::Minted(i) => {
                    let r = &roots[i];
                    used.insert(r.fingerprint.clone());
                    let announce = Evidence {
                        scenario: ctx.scenario.to_string(),
                        at: clock::display(r.at),
                        probe: "oracle".into(),
                        subject: "root-certificate notice".into(),
                        text: format!(
                            "{} announced (observation {}), SHA-256 {}",
                            r.name, r.seq, r.fingerprint
                        ),
                        seq: Some(r.seq),
                    };
                    let root_valid = valid_at(&r.der, opened);
                    let leaf_valid = s.ders.first().and_then(|d| valid_at(d, opened));
                    let why = if r.at > opened {
                        Some(format!(
                            "{}: its root {} was announced at {}, after the session opened at {}",
                            s.describe(),
                            r.name,
                            clock::display(r.at),
                            clock::display(opened)
                        ))
                    } else if let Some((false, v)) = root_valid {
                        Some(format!(
                            "{}: its root {} is valid {v}, not when the session opened at {}",
                            s.describe(),
                            r.name,
                            clock::display(opened)
                        ))
                    } else if let Some((false, v)) = leaf_valid {
                        Some(format!(
                            "{}: the minted certificate is valid {v}, not when the session opened at {}",
                            s.describe(),
                            clock::display(opened)
                        ))
                    } else {
                        None
                    };
                    match why {
                        Some(w) => t.fails.push((s, w, vec![announce])),
                        None => t.passes.push(s),
                    }
                }
            }
        }
        let mut j = t.judge(ctx);
        if j.verdict == Verdict::Pass {
            j.finding.push_str(&format!(
                "; minted under {} announced root(s) of {}",
                used.len(),
                roots.len()
            ));
        }
        j
    }
}

/// ugia-23: a workstation with the announced roots installed completes inspected sessions;
/// one without them gets a certificate error on inspected sites and none on exempt sites.
pub struct RootInstalled;

impl Oracle for RootInstalled {
    fn clause(&self) -> &'static str {
        "ugia-23"
    }
    fn obligation(&self) -> &'static str {
        "root-installed"
    }
    fn describe(&self) -> &'static str {
        "a workstation whose trust store holds every UGIA root announced before its session completes inspected sessions without a certificate error; one that holds none gets a certificate error on inspected sessions and none on sites of exempt categories"
    }
    fn judge(&self, ctx: &OracleCtx<'_>, trace: &Trace) -> Judgement {
        let roots = announced(trace);
        let all = sessions(trace, &roots);
        let mut t = Tally::new(
            self.clause(),
            "inspected = shown a chain other than the origin's own; with the root = the trust store holds every root announced before the session opened; without = it holds none",
        );
        t.needed = Some("inspected on a workstation with the root installed");
        for s in &all {
            let before: Vec<&str> = roots
                .iter()
                .filter(|r| r.at <= s.c.started)
                .map(|r| r.fingerprint.as_str())
                .collect();
            let holds = |f: &str| s.c.trusted.iter().any(|x| x == f);
            let with_root = !before.is_empty() && before.iter().all(|f| holds(f));
            let without = roots.iter().all(|r| !holds(&r.fingerprint));
            let inspected = matches!(s.chain, Chain::Minted(_) | Chain::Foreign);
            let outcome = s.c.outcome;
            if with_root && inspected {
                t.needed_seen = true;
                if outcome == TlsOutcome::Completed {
                    t.passes.push(s);
                } else {
                    t.fail(
                        s,
                        format!(
                            "{}: with every announced root installed, the workstation could not complete the inspected session ({})",
                            s.describe(),
                            s.c.error
                        ),
                    );
                }
            } else if without && s.exempt() == Some(true) && s.chain != Chain::None {
                // Whatever the gateway did, a User without the root reaches exempt sites.
                if outcome == TlsOutcome::CertificateError {
                    t.fail(
                        s,
                        format!(
                            "{}: a workstation without the UGIA root got a certificate error on an exempt site ({})",
                            s.describe(),
                            s.c.error
                        ),
                    );
                } else {
                    t.passes.push(s);
                }
            } else if without && inspected {
                match outcome {
                    TlsOutcome::CertificateError => t.passes.push(s),
                    TlsOutcome::Completed => t.fail(
                        s,
                        format!(
                            "{}: a workstation without the UGIA root accepted the inspected session's chain ({}): the root is not what its Users need",
                            s.describe(),
                            s.leaf_names()
                        ),
                    ),
                    TlsOutcome::Failed => t.untested += 1,
                }
            } else {
                t.untested += 1;
            }
        }
        t.judge(ctx)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use qaqpa_sim::calendar::BusinessCalendar;
    use qaqpa_sim::trace::{Channel, Document, NetworkNote, StreamDigest, Subject, SubjectKind};
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

    use super::*;

    fn t(min: i64) -> Timestamp {
        "2025-06-02T05:00:00Z"
            .parse::<Timestamp>()
            .unwrap()
            .checked_add(jiff::SignedDuration::from_mins(min))
            .unwrap()
    }

    struct Ca {
        issuer: Issuer<'static, KeyPair>,
        der: Vec<u8>,
        pem: String,
    }

    fn ca(label: &str, years: (i32, i32)) -> Ca {
        let key = qaqpa_sim::eds::key(3, label).unwrap();
        let mut p = CertificateParams::default();
        p.distinguished_name.push(DnType::CommonName, label);
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.not_before = rcgen::date_time_ymd(years.0, 1, 1);
        p.not_after = rcgen::date_time_ymd(years.1, 1, 1);
        let c = p.self_signed(&key).unwrap();
        Ca {
            der: c.der().to_vec(),
            pem: c.pem(),
            issuer: Issuer::new(p, key),
        }
    }

    fn leaf(ca: &Ca, name: &str) -> Vec<u8> {
        let key = qaqpa_sim::eds::key(3, name).unwrap();
        let mut p = CertificateParams::new(vec![name.to_string()]).unwrap();
        p.not_before = rcgen::date_time_ymd(2025, 1, 1);
        p.not_after = rcgen::date_time_ymd(2026, 1, 1);
        p.signed_by(&key, &ca.issuer).unwrap().der().to_vec()
    }

    fn b64(d: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(d)
    }

    fn digest(s: &str) -> StreamDigest {
        StreamDigest {
            bytes: s.len() as u64,
            sha256: sha256_hex(s.as_bytes()),
        }
    }

    /// A trace built as a recorder would write it.
    struct Rec {
        trace: Trace,
        public: Ca,
        n: usize,
    }

    impl Rec {
        fn new() -> Rec {
            let mut r = Rec {
                trace: Trace::new(),
                public: ca("public", (2020, 2030)),
                n: 0,
            };
            for (site, category) in [("bank.kz", "finance"), ("news.com", "news")] {
                let own = sha256_hex(&leaf(&r.public, site));
                r.trace.record(
                    t(0),
                    "topology",
                    Subject {
                        kind: SubjectKind::Host,
                        id: site.into(),
                    },
                    Event::Network(NetworkNote {
                        what: SITE_NOTE.into(),
                        fields: BTreeMap::from([
                            ("site".into(), site.into()),
                            ("category".into(), category.into()),
                            ("certificate".into(), own),
                        ]),
                    }),
                );
            }
            r
        }

        fn announce(&mut self, at: Timestamp, root: &Ca) {
            self.trace.record(
                at,
                "inbox:telecom-operator",
                Subject::case("UGIA-ROOT"),
                Event::Document(Document {
                    case: "UGIA-ROOT".into(),
                    doc: DocKind::RootCertificateNotice,
                    from: "STS".into(),
                    to: "telecom-operator".into(),
                    channel: Channel::OfficialLetter,
                    fields: BTreeMap::from([(ROOT_CERTIFICATE_FIELD.into(), root.pem.clone())]),
                    reasons: vec![],
                }),
            );
        }

        /// A session to `site` shown `chain`, trusting `roots` besides the public CA, with
        /// `outcome`; `unchanged`: an origin connection received its bytes byte for byte.
        fn session(
            &mut self,
            at: Timestamp,
            site: &str,
            chain: Vec<Vec<u8>>,
            roots: &[&Ca],
            outcome: TlsOutcome,
            unchanged: bool,
        ) {
            self.n += 1;
            let session = format!("ws/{}", self.n);
            let mut trusted = vec![sha256_hex(&self.public.der)];
            trusted.extend(roots.iter().map(|r| sha256_hex(&r.der)));
            let done = outcome == TlsOutcome::Completed;
            self.trace.record(
                at,
                "workstation:ws",
                Subject::case(&session),
                Event::TlsClient(TlsClientSeen {
                    workstation: "ws".into(),
                    session: session.clone(),
                    started: at,
                    server_name: site.into(),
                    dst: "203.0.113.1".into(),
                    dport: 443,
                    trusted,
                    chain: chain.iter().map(|c| b64(c)).collect(),
                    outcome,
                    error: if done {
                        String::new()
                    } else {
                        "invalid peer certificate: UnknownIssuer".into()
                    },
                    sent: digest(if done { "GET" } else { "" }),
                    received: digest(if done { "page" } else { "" }),
                }),
            );
            self.trace.record(
                at,
                "origin",
                Subject::case(&session),
                Event::TlsOrigin(TlsOriginSeen {
                    origin: site.into(),
                    connection: format!("{site}/{}", self.n),
                    server_name: Some(site.into()),
                    chain: vec![],
                    handshake: true,
                    error: String::new(),
                    request: "GET / HTTP/1.1".into(),
                    received: digest("GET"),
                    sent: digest("page"),
                    unchanged_from: unchanged.then_some(session),
                }),
            );
        }

        fn own(&self, site: &str) -> Vec<Vec<u8>> {
            vec![leaf(&self.public, site)]
        }

        fn judge(&self, o: &dyn Oracle) -> Judgement {
            let cal = BusinessCalendar::kazakhstan();
            o.judge(
                &OracleCtx {
                    calendar: &cal,
                    scenario: "t",
                    end: t(600),
                },
                &self.trace,
            )
        }
    }

    #[test]
    fn a_faithful_gateway_passes_every_obligation() {
        let root = ca("UGIA root 1", (2025, 2027));
        let mut r = Rec::new();
        r.announce(t(0), &root);
        let own = r.own("bank.kz");
        r.session(
            t(1),
            "bank.kz",
            own.clone(),
            &[&root],
            TlsOutcome::Completed,
            true,
        );
        r.session(t(2), "bank.kz", own, &[], TlsOutcome::Completed, true);
        r.session(
            t(3),
            "news.com",
            vec![leaf(&root, "news.com")],
            &[&root],
            TlsOutcome::Completed,
            false,
        );
        r.session(
            t(4),
            "news.com",
            vec![leaf(&root, "news.com")],
            &[],
            TlsOutcome::CertificateError,
            false,
        );
        for o in [
            &ExemptPassedThrough as &dyn Oracle,
            &OtherInspected,
            &RootValidAndAnnounced,
            &RootInstalled,
        ] {
            let j = r.judge(o);
            assert_eq!(
                j.verdict,
                Verdict::Pass,
                "{}: {}",
                o.obligation(),
                j.finding
            );
        }
    }

    #[test]
    fn a_resigned_exempt_site_fails_ugia_20_and_23_not_21() {
        let root = ca("UGIA root 1", (2025, 2027));
        let mut r = Rec::new();
        r.announce(t(0), &root);
        r.session(
            t(1),
            "bank.kz",
            vec![leaf(&root, "bank.kz")],
            &[&root],
            TlsOutcome::Completed,
            false,
        );
        r.session(
            t(2),
            "bank.kz",
            vec![leaf(&root, "bank.kz")],
            &[],
            TlsOutcome::CertificateError,
            false,
        );
        let j = r.judge(&ExemptPassedThrough);
        assert_eq!(j.verdict, Verdict::Fail);
        assert!(j.finding.contains("re-signed"), "{}", j.finding);
        let j = r.judge(&RootInstalled);
        assert_eq!(j.verdict, Verdict::Fail);
        assert!(j.finding.contains("exempt site"), "{}", j.finding);
        assert_eq!(r.judge(&RootValidAndAnnounced).verdict, Verdict::Pass);
    }

    #[test]
    fn an_exempt_session_whose_bytes_were_not_the_workstations_fails() {
        let mut r = Rec::new();
        let own = r.own("bank.kz");
        r.session(t(1), "bank.kz", own, &[], TlsOutcome::Completed, false);
        let j = r.judge(&ExemptPassedThrough);
        assert_eq!(j.verdict, Verdict::Fail);
        assert!(j.finding.contains("unchanged"), "{}", j.finding);
    }

    #[test]
    fn an_uninspected_or_unannounced_chain_fails_other_tls_inspected() {
        let root = ca("UGIA root 1", (2025, 2027));
        let rogue = ca("UGIA root 2", (2025, 2027));
        let mut r = Rec::new();
        r.announce(t(0), &root);
        let own = r.own("news.com");
        r.session(t(1), "news.com", own, &[&root], TlsOutcome::Completed, true);
        let j = r.judge(&OtherInspected);
        assert_eq!(j.verdict, Verdict::Fail);
        assert!(j.finding.contains("not inspected"), "{}", j.finding);
        // Nothing minted: ugia-21 and ugia-23 were not exercised.
        assert_eq!(r.judge(&RootValidAndAnnounced).verdict, Verdict::NotTested);
        assert_eq!(r.judge(&RootInstalled).verdict, Verdict::NotTested);

        let mut r = Rec::new();
        r.announce(t(0), &root);
        r.session(
            t(1),
            "news.com",
            vec![leaf(&rogue, "news.com")],
            &[&root],
            TlsOutcome::CertificateError,
            false,
        );
        for o in [
            &OtherInspected as &dyn Oracle,
            &RootValidAndAnnounced,
            &RootInstalled,
        ] {
            assert_eq!(r.judge(o).verdict, Verdict::Fail, "{}", o.obligation());
        }
    }

    #[test]
    fn a_root_announced_late_or_expired_fails_ugia_21() {
        let root = ca("UGIA root 1", (2025, 2027));
        let mut r = Rec::new();
        r.session(
            t(1),
            "news.com",
            vec![leaf(&root, "news.com")],
            &[],
            TlsOutcome::CertificateError,
            false,
        );
        r.announce(t(5), &root);
        let j = r.judge(&RootValidAndAnnounced);
        assert_eq!(j.verdict, Verdict::Fail);
        assert!(
            j.finding.contains("after the session opened"),
            "{}",
            j.finding
        );

        let old = ca("UGIA root 0", (2022, 2024));
        let mut r = Rec::new();
        r.announce(t(0), &old);
        r.session(
            t(1),
            "news.com",
            vec![leaf(&old, "news.com")],
            &[&old],
            TlsOutcome::Completed,
            false,
        );
        let j = r.judge(&RootValidAndAnnounced);
        assert_eq!(j.verdict, Verdict::Fail);
        assert!(
            j.finding.contains("not when the session opened"),
            "{}",
            j.finding
        );
        // The workstation took it all the same: ugia-23 holds.
        assert_eq!(r.judge(&RootInstalled).verdict, Verdict::Pass);
    }

    #[test]
    fn a_certificate_error_with_the_root_installed_fails_ugia_23() {
        let root = ca("UGIA root 1", (2025, 2027));
        let mut r = Rec::new();
        r.announce(t(0), &root);
        r.session(
            t(1),
            "news.com",
            vec![leaf(&root, "news.com")],
            &[&root],
            TlsOutcome::CertificateError,
            false,
        );
        let j = r.judge(&RootInstalled);
        assert_eq!(j.verdict, Verdict::Fail, "{}", j.finding);
        // A notice the workstation never got (the operator passed nothing on) is no excuse:
        // with the root missing, the session is the control's, which expects the error.
        let mut r = Rec::new();
        r.announce(t(0), &root);
        r.session(
            t(1),
            "news.com",
            vec![leaf(&root, "news.com")],
            &[],
            TlsOutcome::Completed,
            false,
        );
        let j = r.judge(&RootInstalled);
        assert_eq!(j.verdict, Verdict::Fail, "{}", j.finding);
    }

    #[test]
    fn a_site_without_a_stated_category_is_not_judged_by_ugia_20() {
        let root = ca("UGIA root 1", (2025, 2027));
        let mut r = Rec::new();
        r.announce(t(0), &root);
        r.session(
            t(1),
            "elsewhere.org",
            vec![leaf(&root, "elsewhere.org")],
            &[&root],
            TlsOutcome::Completed,
            false,
        );
        assert_eq!(r.judge(&OtherInspected).verdict, Verdict::NotTested);
        assert_eq!(r.judge(&ExemptPassedThrough).verdict, Verdict::NotTested);
    }
}
