//! UGIA's web-page defacement protection (ugia-18): a guard that keeps a known-good copy of
//! each protected resource's pages, checks them at the detection interval the STS declares in
//! its connection notice, and restores a page changed outside the owner's channel.
//!
//! How the guard reaches the pages: through the access to the root directory the User's
//! Appendix 4 application grants (`root-access`, `credentials`). In the simulated network
//! that access is the origin's content-management interface (see
//! [`qaqpa_sim::webnet::WebResource::root_access`]), used with the account the application
//! names (`sts-monitor`).
//!
//! How the guard tells a defacement from the owner's own update: the owner's declared channel
//! is its content-management system's publication, which journals every page it publishes
//! (path and SHA-256 of the content). A page whose content differs from the known-good copy
//! is the owner's update when the journal's latest publication of that path has exactly
//! that content: the copy takes it. Anything else is a defacement: the guard writes the
//! known-good copy back and notifies the owner.
//!
//! How the owner is notified: a document (`defacement-notice`) from the STS to the User
//! through the APS, in the case of the defacement-protection application, naming the page,
//! when the change was found and whether the page was restored. A new page that no
//! publication accounts for is reported the same way; it has no known-good copy to restore.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use jiff::Timestamp;
use qaqpa_sim::target::Defect;
use qaqpa_sim::trace::{Channel, DocKind, Document};
use qaqpa_sim::webnet::{WebFront, WebWorld};
use sha2::{Digest, Sha256};

pub const DEFECTS: &[Defect] = &[
    Defect {
        id: "ugia-defacement-never-restores",
        system: "ugia",
        description: "the defacement guard detects a changed page and notifies the owner but never writes the known-good copy back",
        clauses: &["ugia-18"],
        warns: &[],
    },
    Defect {
        id: "ugia-defacement-reverts-owner-update",
        system: "ugia",
        description: "the defacement guard ignores the owner's publication journal and restores its old copy over the owner's legitimate update",
        clauses: &["ugia-18"],
        warns: &[],
    },
    Defect {
        id: "ugia-defacement-front-page-only",
        system: "ugia",
        description: "the defacement guard checks only the front page (`/`, `/index.*`); a change to any other page is never detected",
        clauses: &["ugia-18"],
        warns: &[],
    },
];

/// The detection interval the reference declares in its connection notice
/// (`check-interval-seconds`): how often the guard compares the pages with its copy.
pub const CHECK_INTERVAL: Duration = Duration::from_secs(30);
/// The notice field that declares it.
pub const CHECK_INTERVAL_FIELD: &str = "check-interval-seconds";
/// The account the reference's Appendix 4 access uses (what the application's
/// `credentials` name).
pub const MONITOR_ACCOUNT: &str = "sts-monitor";
/// How long one request to the content-management interface may take.
const CMS_TIMEOUT: Duration = Duration::from_secs(5);

/// A resource connected to defacement protection, as the STS desk recorded it: the guard of
/// the same scenario reads it (the reference's desk and its guard share it; the harness never
/// sees it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Protected {
    pub domain: String,
    /// The application's case and the User it came from: where notices go.
    pub case: String,
    pub user: String,
    /// From when the resource is protected (the connection notice's instant).
    pub from: Timestamp,
    pub interval: Duration,
}

pub type Ledger = Rc<RefCell<Vec<Protected>>>;

/// One ledger per scenario (by its seed), for the life of one run of the reference.
#[derive(Debug, Clone, Default)]
pub struct Ledgers(Rc<RefCell<BTreeMap<u64, Ledger>>>);

impl Ledgers {
    pub fn get(&self, seed: u64) -> Ledger {
        self.0.borrow_mut().entry(seed).or_default().clone()
    }
}

/// What the guard does; the defects switch parts off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GuardConfig {
    pub restores: bool,
    pub reads_journal: bool,
    pub all_pages: bool,
}

impl GuardConfig {
    pub fn with_defects(defects: &[&str]) -> GuardConfig {
        GuardConfig {
            restores: !defects.contains(&"ugia-defacement-never-restores"),
            reads_journal: !defects.contains(&"ugia-defacement-reverts-owner-update"),
            all_pages: !defects.contains(&"ugia-defacement-front-page-only"),
        }
    }
}

/// The front page: what a guard that checks only it looks at.
fn front_page(path: &str) -> bool {
    path == "/"
        || path
            .strip_prefix("/index.")
            .is_some_and(|x| !x.contains('/'))
}

fn sha256_hex(b: &[u8]) -> String {
    Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

/// The owner's publications as the journal lists them: the latest digest per path.
fn parse_journal(text: &str) -> BTreeMap<String, String> {
    let mut latest = BTreeMap::new();
    for line in text.lines() {
        let mut w = line.split_whitespace();
        if let (Some(_seq), Some(path), Some(digest)) = (w.next(), w.next(), w.next()) {
            latest.insert(path.to_string(), digest.to_ascii_lowercase());
        }
    }
    latest
}

/// One request to a content-management interface; `None` when it did not answer.
async fn cms(addr: &str, method: &str, path: &str, body: Option<Bytes>) -> Option<(u16, Bytes)> {
    let go = async {
        let io = turmoil::net::TcpStream::connect(addr).await.ok()?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .ok()?;
        tokio::task::spawn_local(async move {
            let _ = conn.await;
        });
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", addr)
            .header("authorization", format!("Bearer {MONITOR_ACCOUNT}"))
            .body(Full::new(body.unwrap_or_default()))
            .ok()?;
        let resp = sender.send_request(req).await.ok()?;
        let status = resp.status().as_u16();
        let b = resp.into_body().collect().await.ok()?.to_bytes();
        Some((status, b))
    };
    tokio::time::timeout(CMS_TIMEOUT, go).await.ok().flatten()
}

async fn read_page(addr: &str, page: &str) -> Option<Bytes> {
    match cms(addr, "GET", &format!("/content{page}"), None).await? {
        (200, b) => Some(b),
        _ => None,
    }
}

async fn list_pages(addr: &str) -> Option<Vec<String>> {
    match cms(addr, "GET", "/content", None).await? {
        (200, b) => Some(
            String::from_utf8_lossy(&b)
                .lines()
                .map(str::trim)
                .filter(|l| l.starts_with('/'))
                .map(str::to_string)
                .collect(),
        ),
        _ => None,
    }
}

type Notices = Rc<RefCell<Vec<(Duration, Document)>>>;

/// Guards one resource for the rest of the episode.
async fn guard(root: String, p: Protected, config: GuardConfig, notices: Notices) {
    // The known-good copy, taken when protection starts.
    let mut known: BTreeMap<String, Bytes> = BTreeMap::new();
    if let Some(pages) = list_pages(&root).await {
        for page in pages {
            if let Some(b) = read_page(&root, &page).await {
                known.insert(page, b);
            }
        }
    }
    loop {
        tokio::time::sleep(p.interval).await;
        let Some(mut pages) = list_pages(&root).await else {
            continue; // the access failed this round; the next round tries again
        };
        if !config.all_pages {
            pages.retain(|x| front_page(x));
        }
        let journal = if config.reads_journal {
            match cms(&root, "GET", "/journal", None).await {
                Some((200, b)) => parse_journal(&String::from_utf8_lossy(&b)),
                _ => BTreeMap::new(),
            }
        } else {
            BTreeMap::new()
        };
        for page in pages {
            let Some(now) = read_page(&root, &page).await else {
                continue;
            };
            if known.get(&page) == Some(&now) {
                continue;
            }
            let digest = sha256_hex(&now);
            if journal.get(&page) == Some(&digest) {
                // Published through the owner's channel: the new known-good content.
                known.insert(page, now);
                continue;
            }
            let restored = match known.get(&page) {
                Some(good) if config.restores => matches!(
                    cms(&root, "PUT", &format!("/content{page}"), Some(good.clone())).await,
                    Some((200..=299, _))
                ),
                _ => false,
            };
            let found = turmoil::elapsed();
            let mut fields = BTreeMap::new();
            fields.insert("domain".to_string(), p.domain.clone());
            fields.insert("page".to_string(), page.clone());
            fields.insert(
                "detected-after-seconds".to_string(),
                format!("{:.3}", found.as_secs_f64()),
            );
            fields.insert(
                "restored".to_string(),
                if restored { "yes" } else { "no" }.to_string(),
            );
            notices.borrow_mut().push((
                found,
                Document {
                    case: p.case.clone(),
                    doc: DocKind::DefacementNotice,
                    from: "STS".into(),
                    to: p.user.clone(),
                    channel: Channel::Aps,
                    fields,
                    reasons: vec![format!(
                        "the content of {page} changed without a publication through the content-management system"
                    )],
                },
            ));
        }
    }
}

/// The reference's protection front: the WAF (ugia-17) and, beside it, the defacement guard
/// for the resources connected to it before the episode starts.
pub struct GuardedFront {
    pub inner: Box<dyn WebFront>,
    pub ledger: Ledger,
    pub config: GuardConfig,
    notices: Notices,
}

impl GuardedFront {
    pub fn new(inner: Box<dyn WebFront>, ledger: Ledger, config: GuardConfig) -> GuardedFront {
        GuardedFront {
            inner,
            ledger,
            config,
            notices: Rc::default(),
        }
    }
}

impl WebFront for GuardedFront {
    fn install(&self, sim: &mut turmoil::Sim<'_>, world: &WebWorld) {
        self.inner.install(sim, world);
        let guarded: Vec<(String, Protected)> = world
            .resources
            .iter()
            .filter_map(|r| {
                let root = r.root_access.clone()?;
                let p = self
                    .ledger
                    .borrow()
                    .iter()
                    .filter(|p| p.domain.eq_ignore_ascii_case(&r.domain) && p.from <= world.at)
                    .max_by_key(|p| p.from)
                    .cloned()?;
                Some((root, p))
            })
            .collect();
        if guarded.is_empty() {
            return;
        }
        let config = self.config;
        let notices = self.notices.clone();
        sim.host(format!("{}-guard", world.front), move || {
            let guarded = guarded.clone();
            let notices = notices.clone();
            async move {
                for (root, p) in guarded {
                    tokio::task::spawn_local(guard(root, p, config, notices.clone()));
                }
                std::future::pending::<turmoil::Result>().await
            }
        });
    }

    fn documents(&self) -> Vec<(Duration, Document)> {
        self.notices.borrow().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_journal_gives_the_latest_publication_of_each_page() {
        let j = parse_journal("1 /index.html AA\n2 /news.html bb\n3 /index.html cc\nbroken\n");
        assert_eq!(j.get("/index.html").map(String::as_str), Some("cc"));
        assert_eq!(j.get("/news.html").map(String::as_str), Some("bb"));
        assert_eq!(j.len(), 2);
    }

    #[test]
    fn only_index_pages_at_the_root_are_the_front_page() {
        assert!(front_page("/"));
        assert!(front_page("/index.html"));
        assert!(front_page("/index.php"));
        assert!(!front_page("/news.html"));
        assert!(!front_page("/news/index.html"));
    }

    #[test]
    fn defects_switch_off_their_part() {
        let all = GuardConfig::with_defects(&[]);
        assert!(all.restores && all.reads_journal && all.all_pages);
        assert!(!GuardConfig::with_defects(&["ugia-defacement-never-restores"]).restores);
        assert!(
            !GuardConfig::with_defects(&["ugia-defacement-reverts-owner-update"]).reads_journal
        );
        assert!(!GuardConfig::with_defects(&["ugia-defacement-front-page-only"]).all_pages);
    }
}
