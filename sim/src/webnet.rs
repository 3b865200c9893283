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
}
