//! The web network of an episode, as the harness lays it out, and the interface through which
//! a target places its protection front (UGIA's WAF, ugia-17) into it.
//!
//! The harness runs the User's web resources (origin servers that record every request) and
//! the Internet's clients. A protected resource's name resolves to the target's front, as a
//! WAF service is deployed: clients connect to `front` on port 80 and name the resource in
//! `Host`; the front reaches the resource's origin at the address given here.

/// One User web resource in the episode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebResource {
    /// The resource's domain (what clients put in `Host`).
    pub domain: String,
    /// Where its origin listens in the simulation (`host:port`).
    pub origin: String,
    /// Where the origin's content-management interface listens (`host:port`): the access to
    /// the root directory a defacement-protection application grants (Appendix 4), as the
    /// harness lays it out. HTTP: `GET /content` lists the pages one path a line,
    /// `GET /content<path>` reads one, `PUT /content<path>` writes one, `GET /journal` lists
    /// the owner's publications (`<seq> <path> <sha256>` a line). Requests carry
    /// `Authorization: Bearer <account>`; the account the application names
    /// (`sts-monitor`) may read and write, and its writes are not publications.
    pub root_access: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebWorld {
    /// The host the target's front must run as; it listens for HTTP on port 80.
    pub front: String,
    pub resources: Vec<WebResource>,
    /// The instant the episode starts (the business calendar's).
    pub at: jiff::Timestamp,
}

impl WebWorld {
    /// The origin of the resource a request names in `Host` (port and case ignored).
    pub fn origin_of(&self, host: &str) -> Option<&str> {
        let name = host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host);
        self.resources
            .iter()
            .find(|r| r.domain.eq_ignore_ascii_case(name))
            .map(|r| r.origin.as_str())
    }
}

/// A protection front under test.
pub trait WebFront {
    /// Adds the front's host at `world.front` to the simulation.
    fn install(&self, sim: &mut turmoil::Sim<'_>, world: &WebWorld);
    /// The documents the front's services sent to Users during the episode (a defacement
    /// notice), with the simulated time since the episode's start at which each left. Called
    /// once the episode has run.
    fn documents(&self) -> Vec<(std::time::Duration, crate::trace::Document)> {
        Vec::new()
    }
}
