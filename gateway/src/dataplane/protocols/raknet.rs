//! RakNet, the game networking library many titles share (Minecraft Bedrock and others):
//! nDPI's raknet.c after wiki.vg's Raknet_Protocol. Offline (unconnected) messages by their
//! fixed layouts and magic, connected frame sets and ACK/NACKs by a structure that must
//! account for the whole datagram.

use super::super::classify::{Detection, Input};
use super::super::sigs::Class;
use super::app;

/// RakNet's per-flow state.
#[derive(Debug, Default)]
pub struct State {
    /// A frame set was seen (a frame set alone is too easily imitated: two decide).
    frames: bool,
    /// An offline message did not fit its layout: RakNet ruled out for the offline test.
    not_raknet: bool,
}

/// RakNet: the offline message magic anywhere in the first bytes, or a connected datagram
/// (an ACK/NACK decides; a frame set needs a second).
pub fn connected(st: &mut State, i: &Input<'_>) -> Option<Detection> {
    let b = i.b;
    if raknet_magic(b) {
        return Some(app(Class::Game, "raknet"));
    }
    match raknet_datagram(b) {
        Some(true) => return Some(app(Class::Game, "raknet")),
        Some(false) => {
            if st.frames {
                return Some(app(Class::Game, "raknet"));
            }
            st.frames = true;
        }
        None => {}
    }
    None
}

/// A flow of offline messages: each must fit its type's fixed layout; enough of them decide.
pub fn offline_session(st: &mut State, i: &Input<'_>) -> Option<Detection> {
    let b = i.b;
    // RakNet's offline messages (nDPI's raknet.c, wiki.vg Raknet_Protocol): each message
    // of the flow must fit its type's fixed layout; enough of them decide
    if !st.not_raknet {
        match raknet_offline(b) {
            Some(need) if i.n >= need => {
                return Some(app(Class::Game, "raknet"));
            }
            Some(_) => {}
            None => st.not_raknet = true,
        }
    }
    None
}

const RAKNET_MAGIC: [u8; 16] = [
    0x00, 0xff, 0xff, 0x00, 0xfe, 0xfe, 0xfe, 0xfe, 0xfd, 0xfd, 0xfd, 0xfd, 0x12, 0x34, 0x56, 0x78,
];

fn raknet_magic(b: &[u8]) -> bool {
    b.len() >= 17 && b.len() <= 1600 && b.windows(16).take(20).any(|w| w == RAKNET_MAGIC)
}

/// RakNet's offline (unconnected) messages and handshake (nDPI's raknet.c after
/// wiki.vg's Raknet_Protocol): the message id and the layout it fixes. `Some(n)`: a
/// plausible message, RakNet once the flow has `n` datagrams; `None`: not RakNet.
/// Connected frame sets and ACKs are [`raknet_datagram`]'s.
fn raknet_offline(b: &[u8]) -> Option<u8> {
    let ip = |o: usize| match b.get(o) {
        Some(4) => Some(4usize),
        Some(6) => Some(16),
        _ => None,
    };
    let mtu_ok = |o: usize| {
        b.get(o..o + 2)
            .is_some_and(|m| u16::from_be_bytes([m[0], m[1]]) <= 1500)
    };
    if b.len() < 7 {
        return None;
    }
    match b[0] {
        0x00 if b.len() == 8 => Some(6),                 // connected ping
        0x01 | 0x02 if b.len() == 32 => Some(6),         // unconnected ping
        0x03 if b.len() == 16 => Some(6),                // connected pong
        0x05 if b.len() >= 18 && b[17] <= 10 => Some(6), // open connection request 1
        0x06 if b.len() == 28 && b[25] <= 1 && mtu_ok(26) => Some(4),
        0x07 => {
            let a = ip(17)?;
            (b.len() == 18 + a + 2 + 2 + 8 && mtu_ok(20 + a)).then_some(3)
        }
        0x08 => {
            let a = ip(25)?;
            (b.len() == 26 + a + 2 + 2 + 1 && mtu_ok(28 + a)).then_some(3)
        }
        0x09 if b.len() == 16 => Some(6), // connection request
        0x10 | 0x13 => {
            // as nDPI reads it: an address type at offset 0 (the id itself, so none)
            let mut o = 4 + ip(0).unwrap_or(0);
            if b[0] == 0x10 {
                o += 2;
            }
            for _ in 0..10 {
                o += 3 + ip(o).unwrap_or(0);
            }
            (o + 16 == b.len()).then_some(3)
        }
        0x19 if b.len() == 25 && b[17] <= 10 => Some(3), // incompatible protocol
        // unconnected pong: the server's MOTD, its 16-bit length fitting the datagram
        0x1c if b.len() >= 35 => {
            let l = usize::from(u16::from_be_bytes([b[33], b[34]]));
            (l > 0 && l + 35 == b.len()).then_some(3)
        }
        0x80..=0x8d | 0xa0 | 0xc0 => Some(u8::MAX),
        _ => None,
    }
}

/// RakNet's connected datagrams (wiki.vg Raknet_Protocol): a frame set (0x80–0x8d, 24-bit
/// sequence number, frames of flags, bit length and the reliability's extra fields) or an
/// ACK/NACK (0xc0/0xa0, record count, records single or ranged), whose structure must
/// account for the whole datagram. `Some(true)`: an ACK/NACK; `Some(false)`: a frame set.
fn raknet_datagram(b: &[u8]) -> Option<bool> {
    if b.len() < 7 {
        return None;
    }
    match b[0] {
        0x80..=0x8d => {
            let mut o = 4;
            let mut frames = 0;
            while o + 3 <= b.len() {
                let f = b[o];
                if f & 0x0f != 0 {
                    return None;
                }
                let bits = usize::from(u16::from_be_bytes([b[o + 1], b[o + 2]]));
                if bits == 0 || bits % 8 != 0 {
                    return None;
                }
                let rel = f >> 5;
                o += 3;
                if (2..=4).contains(&rel) {
                    o += 3;
                }
                if rel == 1 || rel == 4 {
                    o += 3;
                }
                if rel == 3 || rel == 7 {
                    o += 4;
                }
                if f & 0x10 != 0 {
                    o += 10;
                }
                o += bits / 8;
                frames += 1;
            }
            (frames > 0 && o == b.len()).then_some(false)
        }
        0xa0 | 0xc0 => {
            let count = usize::from(u16::from_be_bytes([b[1], b[2]]));
            let mut o = 3;
            for _ in 0..count {
                o += match b.get(o) {
                    Some(0) => 7,
                    Some(1) => 4,
                    _ => return None,
                };
            }
            (count > 0 && o == b.len()).then_some(true)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raknet_datagrams() {
        let ack = [0xc0, 0, 2, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 5];
        assert_eq!(raknet_datagram(&ack), Some(true));
        assert_eq!(raknet_datagram(&ack[..13]), None);
        // frame set: seq, one unreliable frame of 17 bytes
        let mut f = vec![0x84, 2, 0, 0, 0, 0, 0x88];
        f.resize(24, 0x33);
        assert_eq!(raknet_datagram(&f), Some(false));
        f.push(0);
        assert_eq!(raknet_datagram(&f), None);
    }
    #[test]
    fn label_defaults() {
        assert!(raknet_magic(
            &[&[0x01][..], &[0; 8], &RAKNET_MAGIC].concat()
        ));
        assert!(!raknet_magic(&[0x01; 40]));
    }
    #[test]
    fn offline_sessions() {
        let sigs = crate::dataplane::Signatures::builtin();
        // RakNet unconnected pong: MOTD length fits the datagram; three of them decide
        let mut pong = vec![0x1c];
        pong.extend_from_slice(&[0x11; 32]);
        pong.extend_from_slice(&[0, 2, b'A', b'A']);
        assert_eq!(raknet_offline(&pong), Some(3));
        let mut bad = pong.clone();
        bad[34] = 3;
        assert_eq!(raknet_offline(&bad), None);
        let mut d = State::default();
        for n in 1..=3u8 {
            let p = crate::dataplane::protocols::testing::udp(&pong);
            let mut i = crate::dataplane::protocols::testing::input(&p, true, &sigs);
            i.n = n;
            i.first = n == 1;
            let r = offline_session(&mut d, &i);
            assert_eq!(r.is_some(), n == 3, "{n}");
        }
    }
}
