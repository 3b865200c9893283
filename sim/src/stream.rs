//! Byte-stream ends of the packet world, sans-IO: what runs on one end of a TCP connection once
//! a stack (the harness's smoltcp endpoints, a gateway's terminating proxy) has reassembled it.
//! The stack owns segments, windows and timers; these own bytes. Time is explicit, so the same
//! code runs in simulation and over real sockets.

use jiff::Timestamp;

use crate::trace::Event;

/// One end of a TCP connection as an application sees it: a harness client inside or a
/// harness server outside (a web origin, an SMTP exchanger, the peer of a replayed flow).
pub trait StreamApp {
    /// The connection is established; the bytes to send first (empty for an end that waits).
    fn on_open(&mut self, at: Timestamp) -> Vec<u8>;
    /// `data` arrived in order; the bytes to send in answer (possibly empty).
    fn on_data(&mut self, at: Timestamp, data: &[u8]) -> Vec<u8>;
    /// The peer closed its half (`reset` false) or reset the connection (`reset` true), or the
    /// connection never opened (the stack gave up); nothing more will arrive.
    fn on_close(&mut self, at: Timestamp, reset: bool);
    /// Nothing more to send: the stack closes this end once its send buffer drains.
    fn finished(&self) -> bool;
    /// What this end observed, for the trace (drained: each event is returned once).
    fn observations(&mut self) -> Vec<Event> {
        Vec::new()
    }
}

/// A middlebox's hold on one connection it terminated on both sides (a transparent proxy):
/// bytes from the inside client and from the origin go in, bytes for each side come out. The
/// proxy's stack opens the origin side when `to_origin` first has bytes.
pub trait StreamRelay {
    fn from_client(&mut self, at: Timestamp, data: &[u8]);
    fn from_origin(&mut self, at: Timestamp, data: &[u8]);
    /// Bytes to send to the inside client now (drained).
    fn to_client(&mut self) -> Vec<u8>;
    /// Bytes to send to the origin now (drained).
    fn to_origin(&mut self) -> Vec<u8>;
    /// The relay gave up (a TLS alert, an origin certificate that failed verification):
    /// the proxy resets both sides. The reason is for the gateway's own log, never the trace.
    fn failed(&self) -> Option<String>;
}
