//! The recognisers, one module per protocol family, as nDPI keeps `src/lib/protocols/` and
//! smoltcp keeps `wire/`. Each module cites the published structure it re-implements (nDPI's
//! dissector, the protocol's specification) rule by rule, keeps its own per-flow state, and
//! carries its grammar tests. [`super::classify`] only decides the order they are asked in.
//!
//! Port numbers never decide a class on their own: where a published dissector keys on a
//! port, the recogniser here keys on the bytes (and a port only narrows a weak grammar).

pub mod games;
pub mod grammar;
pub mod mining;
pub mod network;
pub mod p2p;
pub mod raknet;
pub mod remote;
pub mod tls;
pub mod tunnel;
pub mod vpn;
pub mod web;

use super::classify::Detection;
use super::sigs::Class;

/// A detection of `class` by the recogniser named `app`.
pub(crate) fn app(class: Class, app: &'static str) -> Detection {
    Detection {
        class: Some(class),
        app,
        ..Default::default()
    }
}

/// Big-endian 16 and 32-bit fields at an offset, `None` past the end.
pub(crate) fn be16(b: &[u8], o: usize) -> Option<u16> {
    let x = b.get(o..o.checked_add(2)?)?;
    Some(u16::from_be_bytes([x[0], x[1]]))
}

pub(crate) fn be32(b: &[u8], o: usize) -> Option<u32> {
    let x = b.get(o..o.checked_add(4)?)?;
    Some(u32::from_be_bytes([x[0], x[1], x[2], x[3]]))
}

/// Packets and inputs for the families' tests.
#[cfg(test)]
pub(crate) mod testing {
    use super::super::classify::Input;
    use super::super::packet::{PROTO_TCP, PROTO_UDP, Packet};
    use super::super::sigs::Signatures;

    pub fn udp(b: &[u8]) -> Packet<'_> {
        pkt(PROTO_UDP, b)
    }

    #[allow(dead_code)]
    pub fn tcp(b: &[u8]) -> Packet<'_> {
        pkt(PROTO_TCP, b)
    }

    fn pkt(proto: u8, payload: &[u8]) -> Packet<'_> {
        Packet {
            src: [0; 16],
            dst: [0; 16],
            proto,
            sport: 50000,
            dport: 443,
            tcp_flags: 0,
            seq: 1,
            payload,
            fragment: false,
        }
    }

    /// The flow's first packet with payload.
    pub fn input<'a>(p: &'a Packet<'a>, c2s: bool, sigs: &'a Signatures) -> Input<'a> {
        Input {
            p,
            b: p.payload,
            c2s,
            first: true,
            n: 1,
            c2s_n: u8::from(c2s),
            sigs,
        }
    }
}
