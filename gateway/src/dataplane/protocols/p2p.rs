//! Peer-to-peer file sharing: BitTorrent (BEP 3's handshake, BEP 5's DHT, BEP 29's uTP,
//! BEP 14's local service discovery; nDPI's bittorrent.c), Gnutella 0.6 (nDPI's
//! gnutella.c), eDonkey / Kademlia (nDPI's edonkey.c), Syncthing (its Block Exchange
//! Protocol's hello magic; nDPI's syncthing.c).

use super::super::classify::{Detection, Input};
use super::super::proto;
use super::super::sigs::Class;
use super::app;

/// The peer-to-peer family's per-flow state.
#[derive(Debug, Default)]
pub struct State {
    utp_hits: u8,
    /// The connection id of the first uTP packet (BEP 29; set once `utp_hits` > 0), which
    /// the flow's later packets must repeat or step by one.
    utp_conn: u16,
    /// An eDonkey datagram was seen; a second decides.
    edonkey: bool,
}

/// BitTorrent's peer handshake: pstrlen 19, "BitTorrent protocol".
pub fn bittorrent(i: &Input<'_>) -> Option<Detection> {
    let b = i.b;
    (b.len() >= 20 && b[0] == 19 && &b[1..20] == b"BitTorrent protocol")
        .then(|| app(Class::P2p, "bittorrent"))
}

pub fn gnutella_tcp(i: &Input<'_>) -> Option<Detection> {
    let b = i.b;
    (b.starts_with(b"GNUTELLA") || b.starts_with(b"GIV ") || gnutella_message(b))
        .then(|| app(Class::P2p, "gnutella"))
}

pub fn gnutella_udp(i: &Input<'_>) -> Option<Detection> {
    let b = i.b;
    (b.len() >= 3 && &b[..3] == b"GND" && b.len() >= 8 || gnutella_message(b))
        .then(|| app(Class::P2p, "gnutella"))
}

pub fn edonkey_tcp(i: &Input<'_>) -> Option<Detection> {
    edonkey_segment(i.b).then(|| app(Class::P2p, "edonkey"))
}

/// Two bytes of grammar match one random datagram in ~250: a second must agree.
pub fn edonkey_udp(st: &mut State, i: &Input<'_>) -> Option<Detection> {
    if edonkey_datagram(i.b) {
        if st.edonkey {
            return Some(app(Class::P2p, "edonkey"));
        }
        st.edonkey = true;
    }
    None
}

/// Syncthing's Block Exchange Protocol: the hello's magic 0x2EA7D90B.
pub fn syncthing(i: &Input<'_>) -> Option<Detection> {
    let b = i.b;
    (b.len() >= 8 && b[..4] == [0x2e, 0xa7, 0xd9, 0x0b]).then(|| app(Class::P2p, "syncthing"))
}

pub fn bencode_dht(i: &Input<'_>) -> Option<Detection> {
    dht_message(i.b).then(|| app(Class::P2p, "bittorrent-dht"))
}

pub fn bittorrent_lsd(i: &Input<'_>) -> Option<Detection> {
    i.b.starts_with(b"BT-SEARCH * HTTP/1.1")
        .then(|| app(Class::P2p, "bittorrent-lsd"))
}

/// uTP (BEP 29): two packets must fit the header and agree on the connection: the
/// initiator's SYN carries its receive id X and its later packets X + 1, the responder's
/// X; so every packet's connection id is within one of the first's. (A one-packet header
/// check alone also fits other protocols' datagrams whose first byte is 0x01 or 0x41.)
pub fn utp(st: &mut State, i: &Input<'_>) -> Option<Detection> {
    if !utp_packet(i.b) {
        return None;
    }
    let id = u16::from_be_bytes([i.b[2], i.b[3]]);
    if st.utp_hits == 0 {
        st.utp_conn = id;
        st.utp_hits = 1;
    } else if matches!(id.wrapping_sub(st.utp_conn), 0 | 1 | u16::MAX) {
        st.utp_hits = st.utp_hits.saturating_add(1);
    }
    (st.utp_hits >= 2).then(|| app(Class::P2p, "utp"))
}

fn dht_message(b: &[u8]) -> bool {
    b.len() > 12
        && b.starts_with(b"d1:")
        && b.ends_with(b"e")
        && (proto::find(b, b"1:y1:q").is_some()
            || proto::find(b, b"1:y1:r").is_some()
            || proto::find(b, b"1:y1:e").is_some()
            || proto::find(b, b"2:id20:").is_some())
}

fn utp_packet(b: &[u8]) -> bool {
    // type(4 bits, 0..=4) version(4 bits)=1, extension, connection id, timestamp,
    // timestamp diff, window, seq, ack: 20 bytes
    if b.len() < 20 || b[0] & 0x0f != 1 || b[0] >> 4 > 4 {
        return false;
    }
    let mut ext = b[1];
    let mut i = 20;
    let mut guard = 0;
    while ext != 0 {
        if ext > 4 || guard > 4 || b.len() < i + 2 {
            return false;
        }
        ext = b[i];
        let l = usize::from(b[i + 1]);
        i += 2 + l;
        guard += 1;
    }
    // ST_STATE and ST_SYN carry no data
    let t = b[0] >> 4;
    i <= b.len() && !(t == 2 || t == 4) || i == b.len()
}

/// A Gnutella 0.6 message: 16-byte GUID, function, TTL, hops, little-endian payload size
/// that accounts for the rest of the datagram.
fn gnutella_message(b: &[u8]) -> bool {
    b.len() >= 23
        && matches!(
            b[16],
            0x00 | 0x01 | 0x02 | 0x31 | 0x32 | 0x40 | 0x44 | 0x80 | 0x81
        )
        && b[17] <= 16
        && b[18] <= 16
        && u32::from_le_bytes([b[19], b[20], b[21], b[22]]) as usize == b.len() - 23
}

fn edonkey_segment(b: &[u8]) -> bool {
    b.len() >= 6
        && matches!(b[0], 0xe3 | 0xc5 | 0xd4)
        && u32::from_le_bytes([b[1], b[2], b[3], b[4]]) as usize == b.len() - 5
        && matches!(
            b[5],
            0x01 | 0x4c | 0x38 | 0x58 | 0x60 | 0x46 | 0x47 | 0x4b | 0x15
        )
}

fn edonkey_datagram(b: &[u8]) -> bool {
    // eDonkey / Kademlia UDP: protocol byte, then an opcode of the server or Kad ranges
    b.len() >= 18
        && b.len() <= 1500
        && matches!(
            (b[0], b[1]),
            (0xe3, 0x96..=0x9b) | (0xc5, 0x90..=0x9b) | (0xe4, 0x00..=0x6a) | (0xe5, 0x00..=0x6a)
        )
}
