//! Games: each rule names the nDPI dissector (or the published protocol description) it
//! re-implements. Shared networking layers (Source Engine queries, Photon,
//! netcode.io, Steam's datagram protocol) and per-title handshakes; RakNet is [`super::raknet`].

use super::super::classify::{Detection, Input};
use super::super::proto::find;
use super::super::sigs::Class;
use super::{app, be16, be32};

/// The games family's per-flow state.
#[derive(Debug, Default)]
pub struct State {
    /// LoL: Wild Rift's 69-byte opening was seen.
    wildrift: bool,
    /// The opening magic's first byte of an Activision-style handshake (0x0c or 0x0d) and
    /// the direction it came from (bit 7: responder to initiator).
    act_open: u8,
    /// The opening word of an Epic Online Services handshake, which the peer's reply repeats.
    epic_word: u32,
    /// Half-Life 2's connectionless request was seen: 1 + the direction it came from.
    hl2: u8,
    /// Dofus 1.x: a login opening was seen.
    dofus: bool,
    /// Warcraft III / Battle.net messages that walked to the packet's end.
    w3: u8,
    /// An Xbox Live datagram of the port-3074 forms was seen.
    xbox: bool,
}

/// Titles whose dissectors nDPI added one by one: each rule names its dissector. UDP.
pub fn titles_udp(st: &mut State, i: &Input<'_>) -> Option<Detection> {
    let b = i.b;
    let hit = |g| Some(app(Class::Game, g));
    // Genshin Impact (genshin_impact.c): the flow's first datagram, a KCP-style handshake
    // 0x000000ff 0x00000000 … 0x499602d2 0xffffffff
    if i.n == 1
        && b.len() >= 20
        && be32(b, 0) == Some(0xff)
        && be32(b, 4) == Some(0)
        && be32(b, 12) == Some(0x4996_02d2)
        && be32(b, 16) == Some(0xffff_ffff)
    {
        return hit("genshin-impact");
    }
    // i3D's game-server hosting (i3d.c): two fixed openings of 74 bytes or more
    if b.len() >= 74
        && (matches!(be32(b, 0), Some(0x0001_0046 | 0x0002_0046))
            && be32(b, 4) == Some(0x0003_cfa8)
            || matches!(be16(b, 0), Some(0x9078 | 0x9067))
                && be32(b, 8) == Some(0x0003_cfa9)
                && be32(b, 12) == Some(0xbede_0003))
    {
        return hit("i3d");
    }
    // NetEase Games (netease_games.c): the client's 12-byte hello, Lost Light's and Naraka:
    // Bladepoint's openings
    if b.len() == 12
        && i.c2s
        && b[0] == 0x01
        && u16::from_le_bytes([b[2], b[3]]) == 0x1d0
        && u32::from_le_bytes([b[8], b[9], b[10], b[11]]) == 0x0101_0100
        || b.len() >= 30 && be32(b, 0) == Some(0xb3af_8de8)
        || b.len() > 30 && u32::from_le_bytes([b[0], b[1], b[2], b[3]]) == 0x0c08_0807
    {
        return hit("netease-games");
    }
    // Steam Datagram Relay (steam_datagram_relay.c): a ping of 100 bytes or more naming
    // `sdping` at offset 2
    if b.len() >= 100 && &b[2..8] == b"sdping" {
        return hit("steam-datagram-relay");
    }
    // Armagetron Advanced (armagetron.c): a login request (0x000b0000, a 16-bit word count
    // that sizes the datagram, 0x0008, a zero last word), a sync message, or a net_sync
    if armagetron(b) {
        return hit("armagetron");
    }
    // Half-Life 2 and its mods (halflife2_and_mods.c): a connectionless 0xffffffff request
    // ending "000\0" answered in kind from the other side
    if b.len() >= 20 && b[..4] == [0xff; 4] && b.ends_with(b"000\0") {
        let dir = 1 + u8::from(!i.c2s);
        if st.hl2 == 0 {
            st.hl2 = dir;
        } else if st.hl2 != dir {
            return hit("halflife2");
        }
    }
    // Xbox Live (xbox.c): a zero word, 0x58 at 5, three zero bytes from 7 and one of five
    // (type, length) pairs; the port-3074 forms need two datagrams and that port (nDPI's
    // own condition: they are too short to stand alone)
    if b.len() > 12
        && be32(b, 0) == Some(0)
        && b[5] == 0x58
        && b[7..10] == [0, 0, 0]
        && matches!(
            (b[4], b[6]),
            (0x0c, 0x76) | (0x02, 0x18) | (0x0b, 0x80) | (0x03, 0x40) | (0x06, 0x4e)
        )
    {
        return hit("xbox");
    }
    if i.ports().contains(&3074) && xbox_3074(b) {
        if st.xbox {
            return hit("xbox");
        }
        st.xbox = true;
    }
    None
}

fn xbox_3074(b: &[u8]) -> bool {
    match b.len() {
        24 => b[0] == 0,
        42 => b[0] == 0x4f && b[2] == 0x0a,
        80 => be16(b, 0) == Some(0x50bc) && b[2] == 0x45,
        40 => be32(b, 0) == Some(0xcf5f_3202),
        38 => be32(b, 0) == Some(0xc145_7f03),
        28 => be32(b, 0) == Some(0x015f_2c00),
        _ => false,
    }
}

/// Armagetron Advanced's messages (armagetron.c).
fn armagetron(b: &[u8]) -> bool {
    let n = b.len();
    if n <= 10 || b[n - 2..] != [0, 0] {
        return false;
    }
    let words = |o| be16(b, o).map(usize::from);
    if be32(b, 0) == Some(0x000b_0000) {
        return words(4).is_some_and(|w| w > 0 && w * 2 + 8 == n) && be16(b, 6) == Some(8);
    }
    if n == 16 && be16(b, 0) == Some(0x001c) && be16(b, 2) != Some(0) {
        return words(4) == Some(4)
            && be32(b, 6) == Some(0x0000_0500)
            && be32(b, 10) == Some(0x0001_0000);
    }
    if n > 50 && be16(b, 0) == Some(0x0018) && be16(b, 2) != Some(0) {
        let Some(w) = words(4) else { return false };
        if w == 0 || w * 2 + 8 > n || be16(b, 8) != be16(b, 12) {
            return false;
        }
        let Some(v) = words(14) else { return false };
        let o = 6 + 10 + v;
        return o + 4 < n && matches!(be32(b, o), Some(0x0001_0000 | 0x0000_0001));
    }
    false
}

/// Titles whose dissectors nDPI added one by one: each rule names its dissector. TCP.
pub fn titles_tcp(st: &mut State, i: &Input<'_>) -> Option<Detection> {
    let b = i.b;
    let n = b.len();
    let hit = |g| Some(app(Class::Game, g));
    // Guild Wars (guildwars.c): three fixed client messages
    if n == 64 && be16(b, 1) == Some(0x050c) && &b[50..54] == b"@2&P"
        || n == 16
            && be16(b, 1) == Some(0x040c)
            && be16(b, 4) == Some(0xa672)
            && b[8] == 1
            && b[12] == 4
        || n == 21 && be16(b, 0) == Some(0x0100) && be32(b, 5) == Some(0xf100_1000) && b[9] == 1
    {
        return hit("guildwars");
    }
    // MapleStory (maplestory.c): the 16-byte login handshake
    if n == 16
        && matches!(be32(b, 0), Some(0x0e00_3a00 | 0x0e00_3b00 | 0x0e00_4200))
        && be16(b, 4) == Some(0x0100)
        && matches!(b[6], 0x32 | 0x33)
    {
        return hit("maplestory");
    }
    // World of Kung Fu (world_of_kung_fu.c): a fixed 16-byte message
    if n == 16
        && be32(b, 0) == Some(0x0c00_0000)
        && be32(b, 4) == Some(0xd200_0c00)
        && b[9] == 0x16
        && be16(b, 10) == Some(0)
        && be16(b, 14) == Some(0)
    {
        return hit("world-of-kung-fu");
    }
    // The Elder Scrolls Online (teso.c): a login of 600 bytes or more whose 32-bit length
    // prefix sizes it, naming `eso.live` or carrying the zlib stream 0x8b789c01
    if n >= 600
        && be32(b, 0).is_some_and(|l| l as usize == n - 4)
        && (find(b, b"eso.live").is_some() || find(b, &[0x8b, 0x78, 0x9c, 0x01]).is_some())
    {
        return hit("teso");
    }
    if dofus(st, b) {
        return hit("dofus");
    }
    None
}

/// Dofus (dofus.c): 1.x's fixed 13-byte message, its login openings (`HG`, `HC`, `Ax`,
/// `Af`, `Ad`, NUL-terminated) followed by `AT`/`Ak`; 2.0's framed messages whose lengths
/// chain to the end.
fn dofus(st: &mut State, b: &[u8]) -> bool {
    let n = b.len();
    let end16 = |v| n >= 2 && be16(b, n - 2) == Some(v);
    if n == 13 && be16(b, 1) == Some(0x0508) && be16(b, 5) == Some(0x04a0) && end16(0x0194) {
        return true;
    }
    let z = n > 2 && b[n - 1] == 0;
    if !st.dofus
        && z
        && (n == 3 && b.starts_with(b"HG")
            || n == 35 && b.starts_with(b"HC")
            || b[0] == b'A' && matches!(b[1], b'x' | b'X')
            || n == 12 && b.starts_with(b"Af")
            || b.starts_with(b"Ad"))
    {
        st.dofus = true;
        return false;
    }
    if st.dofus
        && (n == 11 && b.starts_with(b"AT") && b[10] == 0
            || n == 5 && b[0] == b'A' && b[4] == 0 && matches!(b[1], b'T' | b'k'))
    {
        return true;
    }
    // 2.0
    if matches!(n, 11 | 13 | 49)
        && be32(b, 0) == Some(0x0005_0800)
        && be16(b, 4) == Some(5)
        && be16(b, 8) == Some(5)
        && b[10] == 0x18
    {
        return match n {
            13 => end16(0x0194),
            49 => be16(b, 15).is_some_and(|l| usize::from(l) + 17 == n),
            _ => true,
        };
    }
    if n >= 41 && be16(b, 0) == Some(0x01b9) && b[2] == 0x26 {
        let Some(l) = be16(b, 3).map(usize::from) else {
            return false;
        };
        if l + 7 > n {
            return false;
        }
        return be16(b, 5 + l).is_some_and(|l2| 5 + l + 2 + usize::from(l2) == n);
    }
    if n == 56 && b[..10] == [0x00, 0x11, 0x35, 0x02, 0x03, 0x00, 0x93, 0x96, 0x01, 0x00] {
        let Some(l) = be16(b, 10).map(usize::from) else {
            return false;
        };
        if l + 14 > n {
            return false;
        }
        let Some(l2) = be16(b, 12 + l).map(usize::from) else {
            return false;
        };
        let end = 12 + l + 2 + l2;
        return end + 1 == n && b[end] == 0x01;
    }
    false
}

/// Warcraft III and Battle.net's classic framing (warcraft3.c): messages of a class byte
/// (0xf7 game, 0xff Battle.net), an id and a little-endian 16-bit length that includes the
/// header, chained to the end of the packet. Two such packets decide (nDPI waits for the
/// flow's third packet).
pub fn warcraft3(st: &mut State, i: &Input<'_>) -> Option<Detection> {
    let b = i.b;
    if b.len() < 4 || !matches!(b[0], 0xf7 | 0xff) {
        return None;
    }
    let mut l = usize::from(u16::from_le_bytes([b[2], b[3]]));
    if l < 4 {
        return None;
    }
    while l + 4 <= b.len() {
        if b[l] != 0xf7 {
            break;
        }
        let m = usize::from(u16::from_le_bytes([b[l + 2], b[l + 3]]));
        if m <= 2 || m > 1500 {
            break;
        }
        l += m;
    }
    if l != b.len() {
        return None;
    }
    st.w3 = st.w3.saturating_add(1);
    (st.w3 >= 2).then(|| app(Class::Game, "warcraft3"))
}

pub fn udp(i: &Input<'_>) -> Option<Detection> {
    framing_of(i.b).map(|g| app(Class::Game, g))
}

pub fn datagram(i: &Input<'_>) -> Option<Detection> {
    datagram_of(i.b, i.ports(), i.n == 1).map(|g| app(Class::Game, g))
}

pub fn blizzard_udp(i: &Input<'_>) -> Option<Detection> {
    blizzard_datagram(i.b, i.ports()).then(|| app(Class::Game, "blizzard"))
}

pub fn tcp(i: &Input<'_>) -> Option<Detection> {
    segment_of(i.b, i.c2s, i.p.dport).map(|g| app(Class::Game, g))
}

/// World of Warcraft's authentication (nDPI's world_of_warcraft.c): a zero opcode and the
/// game name `WoW` at offset 4.
pub fn wow_tcp(i: &Input<'_>) -> Option<Detection> {
    let b = i.b;
    (b.len() >= 8 && b[0] == 0 && &b[4..8] == b"WoW\0").then(|| app(Class::Game, "wow"))
}

pub fn handshake(st: &mut State, i: &Input<'_>) -> Option<Detection> {
    st.handshake_at(i.b, i.c2s, i.first, i.n)
}

impl State {
    /// Game handshakes whose shape shows only across the two directions' first datagrams.
    pub(crate) fn handshake_at(
        &mut self,
        b: &[u8],
        c2s: bool,
        first: bool,
        n: u8,
    ) -> Option<Detection> {
        let dir = if c2s { 0 } else { 0x80 };
        // Activision's (Call of Duty) connection handshake (nDPI's activision.c): the two
        // sides open with the magics 0x0c02 and 0x0d02, one each
        if first && b.len() >= 18 && matches!(b[0], 0x0c | 0x0d) && b[1] == 0x02 {
            if self.act_open == 0 {
                self.act_open = b[0] | dir;
            } else if self.act_open & 0x80 != dir && self.act_open & 0x7f == b[0] ^ 0x01 {
                return Some(app(Class::Game, "activision"));
            }
        }
        // Epic Online Services (nDPI's epicgames.c): the first datagram is a 32-bit word
        // with bit 3 clear and 24 zero bytes from offset 10; the peer's first reply
        // repeats the word with bit 3 set
        if n == 1 && b.len() >= 34 && b[3] & 0x08 == 0 && b[10..34].iter().all(|&x| x == 0) {
            let w = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
            if w != 0 {
                self.epic_word = w;
            }
        }
        // the reply is the other side's first datagram, within the flow's first four
        if first && self.epic_word != 0 && (2..=4).contains(&n) && b.len() > 4 {
            let w = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
            if w == self.epic_word | 0x08 {
                return Some(app(Class::Game, "epicgames"));
            }
            self.epic_word = 0;
        }
        // League of Legends: Wild Rift (nDPI's lol_wild_rift.c): a 69-byte datagram opening
        // 0x04000000 answered by a 359-byte one opening 0x10000000
        if b.len() == 69 && b[..4] == [4, 0, 0, 0] {
            self.wildrift = true;
        } else if self.wildrift && b.len() == 359 && b[..4] == [0x10, 0, 0, 0] {
            return Some(app(Class::Game, "lol-wild-rift"));
        }
        // Call of Duty: Mobile (nDPI's cod_mobile.c): within the first four datagrams, one
        // over 350 bytes opening 0xce that names the loadout strings of the game's lobby
        if n <= 4 && b.len() > 350 && b[0] == 0xce && find(b, b"LOC_PREFAB_LOADOUTNAME_1").is_some()
        {
            return Some(app(Class::Game, "cod-mobile"));
        }
        None
    }
}

fn source_engine(b: &[u8]) -> bool {
    // connectionless packets: 0xFFFFFFFF then an A2S/A2A query character
    b.len() >= 5
        && b[..4] == [0xff, 0xff, 0xff, 0xff]
        && (b[4..].starts_with(b"TSource Engine Query")
            || matches!(
                b[4],
                b'U' | b'V' | b'W' | b'q' | b'A' | b'I' | b'E' | b'D' | b'j' | b'k' | b'i'
            ) && b.len() <= 1400)
}

/// Blizzard's UDP game transport (Heroes of the Storm; nDPI's hots.c), on the ports
/// Blizzard documents for its games (1119, 1120, 3724, 6113): bytes 14–15 are 0x4000 and
/// the header before them is either all zero or carries 0x0300 / 0x3400 at offset 2.
fn blizzard_datagram(b: &[u8], ports: [u16; 2]) -> bool {
    (20..=122).contains(&b.len())
        && ports.iter().any(|p| matches!(p, 1119 | 1120 | 3724 | 6113))
        && b[14..16] == [0x40, 0x00]
        && (b[2..4] == [0x03, 0x00] || b[2..4] == [0x34, 0x00] || b[..14].iter().all(|&x| x == 0))
}

/// Game signatures of one datagram from nDPI's dissectors (cited per rule). `first`: the
/// flow's first datagram.
fn datagram_of(b: &[u8], ports: [u16; 2], first: bool) -> Option<&'static str> {
    let be32 = |o: usize| {
        b.get(o..o + 4)
            .map(|x| u32::from_be_bytes([x[0], x[1], x[2], x[3]]))
    };
    // Among Us (nDPI's among_us.c): the handshake's first 8 bytes are fixed
    if b.len() > 9 && b[..8] == [0x08, 0x00, 0x01, 0x00, 0x80, 0xd9, 0x02, 0x03] {
        return Some("among-us");
    }
    // Gaijin Entertainment (nDPI's gaijin_entertainment.c): a 52-byte 0x8fff00 / 0x82ff0001
    // hello, or the game's plain-text telemetry events
    if b.len() == 52 && b[..3] == [0x8f, 0xff, 0] && be32(4) == Some(0x82ff_0001) {
        return Some("gaijin");
    }
    if b.len() > 100
        && (b.starts_with(b"embeddedupdater.")
            || b.starts_with(b"app.start")
            || b.starts_with(b"app.stage"))
    {
        return Some("gaijin");
    }
    // LoL: Wild Rift (nDPI's lol_wild_rift.c): a 22-byte datagram opening 0x0102c841 and
    // ending "A0B1"
    if b.len() == 22 && be32(0) == Some(0x0102_c841) && b.ends_with(b"A0B1") {
        return Some("lol-wild-rift");
    }
    // Call of Duty: Mobile (nDPI's cod_mobile.c): the 12-byte "ping" on its port 7500
    if b.len() == 12 && ports.contains(&7500) && &b[8..12] == b"ping" {
        return Some("cod-mobile");
    }
    // Riot Games (nDPI's riotgames.c): a 53-byte datagram with a fixed 8-byte trailer
    if b.len() == 53 && b.ends_with(&[0x3c, 0xb1, 0x1f, 0x2d, 0xea, 0x23, 0x46, 0x0c]) {
        return Some("riotgames");
    }
    // Toca Boca's Photon traffic (nDPI's toca_boca.c): a ping of 0x7d bytes, the first
    // datagram's connect command, an acknowledgement command of 20 bytes
    if b.len() >= 13 && b[..8] == [0x7d; 8] {
        return Some("tocaboca");
    }
    if first && b.len() >= 24 && be32(0) == Some(0xffff_0001) && be32(12) == Some(0x02ff_0104) {
        return Some("tocaboca");
    }
    if b.len() >= 32
        && matches!(u16::from_be_bytes([b[2], b[3]]), 1..=3)
        && matches!(be32(12), Some(0x01ff_0000 | 0x0100_0000))
        && be32(16) == Some(0x14)
    {
        return Some("tocaboca");
    }
    // Blizzard's Warcraft Rumble (nDPI's blizzard.c): the client's fixed 23-byte hello
    if b.len() == 23
        && b[..23]
            == [
                0xff, 0xff, 0xff, 0xff, 0xa3, 0x1f, 0xb6, 0x1e, 0, 0, 0x40, 1, 0, 0, 0, 0, 0, 0, 0,
                4, 3, 2, 1,
            ]
    {
        return Some("blizzard");
    }
    None
}

/// Game signatures of a TCP segment from nDPI's dissectors (cited per rule).
fn segment_of(b: &[u8], c2s: bool, dport: u16) -> Option<&'static str> {
    let be32 = |o: usize| {
        b.get(o..o + 4)
            .map(|x| u32::from_be_bytes([x[0], x[1], x[2], x[3]]))
    };
    // Tencent Games (nDPI's tencent_games.c): four framings of its game protocol
    if b.len() > 50
        && (be32(0) == Some(0x3366_000b) && b[4..6] == [0, 0x0b]
            || be32(0) == Some(0x4366_aa00) && be32(12) == Some(0x10e6_8601)
            || be32(0) == Some(0xaa00_0000) && be32(10) == Some(0x10e6_8601)
            || b[..2] == [0, 0]
                && usize::from(u16::from_be_bytes([b[2], b[3]])) == b.len() - 4
                && b[4..6] == [0x78, 0x01])
    {
        return Some("tencent-games");
    }
    // Path of Exile (nDPI's pathofexile.c): the login packet's fixed fields around the
    // character's name, and Path of Exile 2's 19-byte variant
    if b.len() == 19
        && b[0] == 0
        && b[1..3] == [3, 0]
        && b[7..9] == [2, 0]
        && be32(15) == Some(0x40)
    {
        return Some("path-of-exile");
    }
    if (26..50).contains(&b.len())
        && b[0] == 0
        && b[6] == 0
        && b[1..3] == [3, 0]
        && b[7..9] == [2, 0]
        && be32(b.len() - 8) == Some(0)
        && be32(b.len() - 4) == Some(0x4000_0001)
    {
        return Some("path-of-exile");
    }
    // Battle.net (nDPI's blizzard.c, starcraft.c): the client's first message to
    // Blizzard's documented game port 1119
    if c2s
        && dport == 1119
        && (b.starts_with(&[0x41, 0, 0, 0x0a, 0x66, 0x52, 0xed, 0xc6])
            || b.starts_with(&[0x4a, 0, 0, 0x0a, 0x66, 0x02, 0x0a, 0xed, 0x2d, 0x66])
            || b.starts_with(&[0x49, 0, 0, 0x0a, 0x66, 0x02, 0x0a, 0xed, 0x2d, 0x66]))
    {
        return Some("battle.net");
    }
    // World of Warcraft (nDPI's blizzard.c): the connection's greeting string
    if b.starts_with(b"WORLD OF WARCRAFT CONNECTION") {
        return Some("wow");
    }
    None
}

/// Game networking protocols shared by many titles, recognised from their framing.
fn framing_of(b: &[u8]) -> Option<&'static str> {
    if source_engine(b) {
        return Some("source-engine");
    }
    // CryEngine's network layer (nDPI's crynet.c): the first byte is the datagram's length
    // less 10, with fixed fields 0x01 at 16, 0x07 at 20 and 0x0307 at 24
    if b.len() >= 26
        && usize::from(b[0]) + 10 == b.len()
        && b[16] == 0x01
        && b[20] == 0x07
        && b[24..26] == [0x03, 0x07]
    {
        return Some("crynet");
    }
    // Riot Games' UDP game protocol (nDPI's riotgames.c): every datagram ends with the
    // 8-byte trailer 0xaaaaaaaa 0xbbbbbbbb
    if b.len() > 8 && b.ends_with(&[0xaa, 0xaa, 0xaa, 0xaa, 0xbb, 0xbb, 0xbb, 0xbb]) {
        return Some("riotgames");
    }
    // Nintendo's Pia peer-to-peer library: a fixed 4-byte magic
    if b.len() >= 16 && b[..4] == [0x32, 0xab, 0x98, 0x64] {
        return Some("nintendo-pia");
    }
    // netcode.io (yojimbo): a connection request carries the protocol's version string
    if b.len() >= 14 && b[0] == 0 && &b[1..13] == b"NETCODE 1.02" {
        return Some("netcode");
    }
    // Steam's datagram protocol
    if b.len() >= 20 && (&b[..4] == b"VS01" || &b[4..8] == b"VS01") {
        return Some("steam");
    }
    // Photon (Exit Games): peer id, flags, command count, time, challenge; then commands
    // of type 1–12 with a 4-byte length that fits the datagram
    if b.len() >= 24 && b[3] >= 1 && b[3] <= 32 && (1..=12).contains(&b[12]) && b[15] <= 4 {
        let l = u32::from_be_bytes([b[16], b[17], b[18], b[19]]) as usize;
        if l >= 12 && l <= b.len() - 12 && (b[3] > 1 || l == b.len() - 12) {
            return Some("photon");
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn game_grammars() {
        let mut c = vec![60, 0, 0, 0x0b, 0xf6];
        c.resize(70, 0);
        c[16] = 1;
        c[20] = 7;
        c[24] = 3;
        c[25] = 7;
        assert_eq!(framing_of(&c), Some("crynet"));
        c.push(0);
        assert_eq!(framing_of(&c), None);
        let mut h = vec![0xe6, 0x5d, 0x34, 0, 0x97, 0x27];
        h.resize(24, 0x11);
        h[14] = 0x40;
        h[15] = 0;
        assert!(blizzard_datagram(&h, [54598, 3724]));
        assert!(!blizzard_datagram(&h, [54598, 3725]));
        h[15] = 1;
        assert!(!blizzard_datagram(&h, [54598, 3724]));
        let mut r = vec![0x2b; 28];
        r.extend_from_slice(&[0xaa, 0xaa, 0xaa, 0xaa, 0xbb, 0xbb, 0xbb, 0xbb]);
        assert_eq!(framing_of(&r), Some("riotgames"));
        // Activision: 0x0d02 one way, 0x0c02 the other
        let mut d = State::default();
        let n = 0u8;
        let mut o = vec![0x0d, 0x02, 0, 0xc4];
        o.resize(29, 0x11);
        assert!(d.handshake_at(&o, true, true, n).is_none());
        assert!(d.handshake_at(&o, false, true, n).is_none());
        o[0] = 0x0c;
        assert!(State::default().handshake_at(&o, false, true, 0).is_none());
        let mut d = State::default();
        d.handshake_at(&[&[0x0d, 2][..], &[0; 20]].concat(), true, true, n);
        assert!(d.handshake_at(&o, false, true, n).is_some());
        // Epic: the reply repeats the opening word with bit 3 set
        let mut d = State::default();
        let mut e = vec![0x47, 0x1a, 0x20, 0x00, 8, 0x98];
        e.resize(54, 0);
        let mut n = 1;
        assert!(d.handshake_at(&e, true, true, n).is_none());
        n = 2;
        e[3] = 0x08;
        e[20] = 0x40;
        assert!(d.handshake_at(&e, false, true, n).is_some());
    }
    #[test]
    fn ndpi_game_datagrams() {
        let p = [40000, 22023];
        let mut au = vec![0x08, 0x00, 0x01, 0x00, 0x80, 0xd9, 0x02, 0x03];
        au.extend_from_slice(b"AAAAAAA");
        assert_eq!(datagram_of(&au, p, true), Some("among-us"));
        au[5] = 0xd8;
        assert_eq!(datagram_of(&au, p, true), None);
        let mut g = vec![0x8f, 0xff, 0, 1, 0x82, 0xff, 0, 1];
        g.resize(52, 0);
        assert_eq!(datagram_of(&g, p, true), Some("gaijin"));
        g.push(0);
        assert_eq!(datagram_of(&g, p, true), None);
        let mut w = vec![0x01, 0x02, 0xc8, 0x41];
        w.resize(18, 0);
        w.extend_from_slice(b"A0B1");
        assert_eq!(datagram_of(&w, p, true), Some("lol-wild-rift"));
        w[21] = b'2';
        assert_eq!(datagram_of(&w, p, true), None);
        let ping: Vec<u8> = vec![
            0xbb, 0xb6, 0x53, 0xea, 0x96, 0xfd, 0xbb, 0x03, b'p', b'i', b'n', b'g',
        ];
        assert_eq!(datagram_of(&ping, [40282, 7500], false), Some("cod-mobile"));
        assert_eq!(datagram_of(&ping, [40282, 7501], false), None);
        let mut t = vec![0x7d; 12];
        t.push(0x12);
        assert_eq!(datagram_of(&t, p, false), Some("tocaboca"));
        t[7] = 0x7c;
        assert_eq!(datagram_of(&t, p, false), None);
        let mut r = vec![0u8; 45];
        r.extend_from_slice(&[0x3c, 0xb1, 0x1f, 0x2d, 0xea, 0x23, 0x46, 0x0c]);
        assert_eq!(datagram_of(&r, p, false), Some("riotgames"));
        r.push(0);
        assert_eq!(datagram_of(&r, p, false), None);
    }
    #[test]
    fn ndpi_game_segments() {
        let mut t = vec![0x33, 0x66, 0x00, 0x0b, 0x00, 0x0b];
        t.resize(76, 0);
        assert_eq!(segment_of(&t, true, 65010), Some("tencent-games"));
        t[5] = 0x0c;
        assert_eq!(segment_of(&t, true, 65010), None);
        let mut poe = vec![0, 3, 0, 0x37, 0x75, 0x60, 0, 2, 0];
        poe.extend_from_slice(b"\x09nDPI_Test\xec\x8f");
        poe.resize(23, 0x11);
        poe.extend_from_slice(&[0, 0, 0, 0, 0x40, 0, 0, 1]);
        assert_eq!(segment_of(&poe, true, 6112), Some("path-of-exile"));
        let n = poe.len();
        poe[n - 1] = 2;
        assert_eq!(segment_of(&poe, true, 6112), None);
        let mut bn = vec![0x4a, 0, 0, 0x0a, 0x66, 0x02, 0x0a, 0xed, 0x2d, 0x66];
        bn.resize(102, 0x20);
        assert_eq!(segment_of(&bn, true, 1119), Some("battle.net"));
        assert_eq!(segment_of(&bn, true, 1120), None);
        assert_eq!(segment_of(&bn, false, 1119), None);
    }
    #[test]
    fn ndpi_game_handshakes() {
        // Wild Rift: 69 bytes opening 0x04000000, then 359 bytes opening 0x10000000
        let mut d = State::default();
        let mut a = vec![4, 0, 0, 0];
        a.resize(69, 0x21);
        let mut b = vec![0x10, 0, 0, 0];
        b.resize(359, 0x22);
        let mut n = 1;
        assert!(d.handshake_at(&a, true, true, n).is_none());
        n = 2;
        assert!(d.handshake_at(&b, false, true, n).is_some());
        let mut d = State::default();
        let n = 2u8;
        assert!(d.handshake_at(&b, false, true, n).is_none());
        // Epic: the reply may come after further datagrams of the opener
        let mut d = State::default();
        let mut e = vec![0x47, 0x1a, 0x20, 0x00, 8, 0x98];
        e.resize(50, 0);
        let mut n = 1;
        assert!(d.handshake_at(&e, true, true, n).is_none());
        n = 3;
        assert!(d.handshake_at(&e, true, false, n).is_none());
        e[3] = 0x08;
        n = 4;
        assert!(d.handshake_at(&e, false, true, n).is_some());
    }
}
