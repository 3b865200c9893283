//! The flow table: bidirectional flows keyed on the unordered 5-tuple, in a fixed-size open
//! addressing table (linear probing, backward-shift deletion). It never grows: when every
//! slot of its capacity holds a live flow, a new flow is refused and counted, and the
//! engine fails closed for that packet.

use super::classify::Dpi;
use super::packet::{Addr, Packet};
use super::sigs::Class;

/// The unordered 5-tuple: endpoint `a` is the smaller (address, port) pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct FlowKey {
    pub a: Addr,
    pub b: Addr,
    pub pa: u16,
    pub pb: u16,
    pub proto: u8,
}

impl FlowKey {
    /// The key and whether the packet travels from `a` to `b`.
    #[inline]
    pub fn of(p: &Packet<'_>) -> (FlowKey, bool) {
        if (p.src, p.sport) <= (p.dst, p.dport) {
            (
                FlowKey {
                    a: p.src,
                    b: p.dst,
                    pa: p.sport,
                    pb: p.dport,
                    proto: p.proto,
                },
                true,
            )
        } else {
            (
                FlowKey {
                    a: p.dst,
                    b: p.src,
                    pa: p.dport,
                    pb: p.sport,
                    proto: p.proto,
                },
                false,
            )
        }
    }

    #[inline]
    pub fn hash(&self) -> u64 {
        #[inline]
        fn w(x: &[u8; 16]) -> (u64, u64) {
            (
                u64::from_le_bytes(x[..8].try_into().expect("8")),
                u64::from_le_bytes(x[8..].try_into().expect("8")),
            )
        }
        let (a0, a1) = w(&self.a);
        let (b0, b1) = w(&self.b);
        let p = (u64::from(self.pa) << 24) | (u64::from(self.pb) << 8) | u64::from(self.proto);
        const K: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut h = (a0 ^ a1.rotate_left(17)).wrapping_mul(K);
        h = (h ^ b0 ^ b1.rotate_left(29)).wrapping_mul(K);
        h = (h ^ p).wrapping_mul(K);
        h ^ (h >> 32)
    }
}

/// What the policy decided for a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Verdict {
    Allow,
    Block,
    Inspect,
    PassThrough,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Allow => "allow",
            Verdict::Block => "block",
            Verdict::Inspect => "inspect",
            Verdict::PassThrough => "pass-through",
        }
    }
}

/// The part of a flow the fast path touches, one cache line: the key, the verdict, the
/// packet counters and the time of the last packet.
#[derive(Debug, Clone, Copy, Default)]
#[repr(C, align(64))]
pub struct Hot {
    pub key: FlowKey,
    pub last_us: u64,
    /// Packets from the client, from the server.
    pub pkts: [u32; 2],
    /// Index of the flow's [`Cold`] part; `u32::MAX` marks an empty slot.
    pub cold: u32,
    /// 0 while undecided, else 1 + [`Verdict`] as u8.
    pub verdict: u8,
    /// The initiator (the first packet's source) is endpoint `a`.
    pub client_is_a: bool,
    pub fin: bool,
}

pub const EMPTY: u32 = u32::MAX;

impl Hot {
    #[inline]
    pub fn decided(&self) -> bool {
        self.verdict != 0
    }
    #[inline]
    pub fn verdict(&self) -> Option<Verdict> {
        match self.verdict {
            1 => Some(Verdict::Allow),
            2 => Some(Verdict::Block),
            3 => Some(Verdict::Inspect),
            4 => Some(Verdict::PassThrough),
            _ => None,
        }
    }
    pub fn set_verdict(&mut self, v: Verdict) {
        self.verdict = 1 + v as u8;
    }
}

/// The rest of a flow: what classification needs while the flow is undecided, and what
/// its record reports. The fast path does not touch it unless records are kept.
#[derive(Debug, Default)]
pub struct Cold {
    pub first_us: u64,
    pub bytes: [u64; 2],
    /// Packets forwarded, inspected, dropped before the decision.
    pub early: [u32; 3],
    /// Packets seen when the flow was decided.
    pub pkts_at_decision: u32,
    pub class: Option<Class>,
    pub app: &'static str,
    pub category: Option<u16>,
    pub name: Option<Box<str>>,
    pub sni: bool,
    pub tls: bool,
    pub clause: &'static str,
    pub reason: &'static str,
    pub flagged_uncatalogued: bool,
    pub dpi: Dpi,
}

/// A whole flow, as it leaves the table.
#[derive(Debug, Default)]
pub struct Flow {
    pub hot: Hot,
    pub cold: Cold,
}

impl Flow {
    /// Packets forwarded, inspected, dropped.
    pub fn out(&self) -> [u32; 3] {
        let mut o = self.cold.early;
        let later =
            (self.hot.pkts[0] + self.hot.pkts[1]).saturating_sub(self.cold.pkts_at_decision);
        match self.hot.verdict() {
            Some(Verdict::Allow) | Some(Verdict::PassThrough) => o[0] += later,
            Some(Verdict::Inspect) => o[1] += later,
            Some(Verdict::Block) => o[2] += later,
            None => {}
        }
        o
    }
}

/// Open addressing over [`Hot`] entries (linear probing, backward-shift deletion); the
/// [`Cold`] parts live in a slab of exactly `max_flows` entries.
pub struct FlowTable {
    hot: Vec<Hot>,
    cold: Vec<Cold>,
    free: Vec<u32>,
    mask: usize,
    len: usize,
    max: usize,
    sweep: usize,
}

impl FlowTable {
    /// A table for at most `max_flows` live flows (the slot array is twice that, rounded up
    /// to a power of two, so probes stay short).
    pub fn new(max_flows: usize) -> FlowTable {
        let max_flows = max_flows.clamp(1, u32::MAX as usize - 1);
        let cap = (max_flows * 2).next_power_of_two();
        let empty = Hot {
            cold: EMPTY,
            ..Hot::default()
        };
        let mut cold = Vec::with_capacity(max_flows);
        cold.resize_with(max_flows, Cold::default);
        FlowTable {
            hot: vec![empty; cap],
            cold,
            free: (0..max_flows as u32).rev().collect(),
            mask: cap - 1,
            len: 0,
            max: max_flows,
            sweep: 0,
        }
    }

    /// Bytes of table memory per flow of capacity.
    pub fn bytes_per_flow(&self) -> usize {
        (self.hot.len() * std::mem::size_of::<Hot>()
            + self.cold.len() * std::mem::size_of::<Cold>()
            + self.max * 4)
            / self.max
    }

    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub fn capacity(&self) -> usize {
        self.max
    }
    pub fn slots(&self) -> usize {
        self.hot.len()
    }
    pub fn is_full(&self) -> bool {
        self.len >= self.max
    }

    /// Where `key`'s probe starts: touching it early lets the memory system fetch several
    /// flows' lines at once (see `Engine::process_batch`).
    #[inline]
    pub fn home(&self, hash: u64) -> usize {
        hash as usize & self.mask
    }

    #[inline]
    pub fn touch(&self, hash: u64) -> u64 {
        self.hot[hash as usize & self.mask].last_us
    }

    /// The slot holding `key`, or the empty slot where it would go.
    #[inline]
    pub fn find(&self, key: &FlowKey) -> (usize, bool) {
        self.find_hashed(key, key.hash())
    }

    #[inline]
    pub fn find_hashed(&self, key: &FlowKey, hash: u64) -> (usize, bool) {
        let mut i = hash as usize & self.mask;
        loop {
            let h = &self.hot[i];
            if h.cold == EMPTY {
                return (i, false);
            }
            if h.key == *key {
                return (i, true);
            }
            i = (i + 1) & self.mask;
        }
    }

    #[inline]
    pub fn hot_mut(&mut self, i: usize) -> &mut Hot {
        &mut self.hot[i]
    }

    #[inline]
    pub fn get_mut(&mut self, i: usize) -> (&mut Hot, &mut Cold) {
        let h = &mut self.hot[i];
        let c = &mut self.cold[h.cold as usize];
        (h, c)
    }

    /// Puts a new flow into the empty slot `i` found by [`find`]; the table must not be full.
    pub fn insert_at(&mut self, i: usize, mut hot: Hot, cold: Cold) -> (&mut Hot, &mut Cold) {
        debug_assert_eq!(self.hot[i].cold, EMPTY);
        let c = self.free.pop().expect("insert_at on a full table");
        self.cold[c as usize] = cold;
        hot.cold = c;
        self.hot[i] = hot;
        self.len += 1;
        self.get_mut(i)
    }

    /// Removes the flow in slot `i`, shifting later members of its probe run back.
    pub fn remove(&mut self, i: usize) -> Option<Flow> {
        let hot = self.hot[i];
        if hot.cold == EMPTY {
            return None;
        }
        let cold = std::mem::take(&mut self.cold[hot.cold as usize]);
        self.free.push(hot.cold);
        self.hot[i].cold = EMPTY;
        self.len -= 1;
        let mut hole = i;
        let mut j = (i + 1) & self.mask;
        while self.hot[j].cold != EMPTY {
            let home = (self.hot[j].key.hash() as usize) & self.mask;
            let dist_hole = hole.wrapping_sub(home) & self.mask;
            let dist_j = j.wrapping_sub(home) & self.mask;
            if dist_hole < dist_j {
                self.hot[hole] = self.hot[j];
                self.hot[j].cold = EMPTY;
                hole = j;
            }
            j = (j + 1) & self.mask;
        }
        Some(Flow { hot, cold })
    }

    /// Examines up to `n` slots from the sweep cursor and removes the flows `expired` says
    /// are over, handing each to `done`.
    pub fn sweep(&mut self, n: usize, expired: impl Fn(&Hot) -> bool, done: &mut impl FnMut(Flow)) {
        let mut examined = 0;
        while examined < n.min(self.hot.len()) {
            let i = self.sweep;
            let h = &self.hot[i];
            if h.cold != EMPTY && expired(h) {
                if let Some(f) = self.remove(i) {
                    done(f);
                }
                // a flow may have shifted into slot i: look at it again
            } else {
                self.sweep = (self.sweep + 1) & self.mask;
                examined += 1;
            }
        }
    }

    /// Empties the table as [`FlowTable::new`] leaves it, keeping its memory: no second
    /// table is allocated while this one is alive.
    pub fn clear(&mut self) {
        let empty = Hot {
            cold: EMPTY,
            ..Hot::default()
        };
        self.hot.fill(empty);
        self.cold.fill_with(Cold::default);
        self.free.clear();
        self.free.extend((0..self.max as u32).rev());
        self.len = 0;
        self.sweep = 0;
    }

    /// Removes every flow, in slot order.
    pub fn drain(&mut self, done: &mut impl FnMut(Flow)) {
        for i in 0..self.hot.len() {
            let h = self.hot[i];
            if h.cold != EMPTY {
                let cold = std::mem::take(&mut self.cold[h.cold as usize]);
                self.free.push(h.cold);
                self.hot[i].cold = EMPTY;
                done(Flow { hot: h, cold });
            }
        }
        self.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u16) -> FlowKey {
        FlowKey {
            pa: n,
            pb: 80,
            proto: 6,
            ..Default::default()
        }
    }

    #[test]
    fn insert_find_remove_keep_every_other_flow_reachable() {
        let mut t = FlowTable::new(64);
        for n in 0..64 {
            let (i, found) = t.find(&key(n));
            assert!(!found);
            t.insert_at(
                i,
                Hot {
                    key: key(n),
                    ..Default::default()
                },
                Cold::default(),
            );
        }
        assert!(t.is_full());
        for n in (0..64).step_by(3) {
            let (i, found) = t.find(&key(n));
            assert!(found);
            t.remove(i);
        }
        for n in 0..64 {
            assert_eq!(t.find(&key(n)).1, n % 3 != 0, "{n}");
        }
    }

    #[test]
    fn sweep_removes_only_expired_flows() {
        let mut t = FlowTable::new(16);
        for n in 0..16 {
            let (i, _) = t.find(&key(n));
            t.insert_at(
                i,
                Hot {
                    key: key(n),
                    last_us: u64::from(n),
                    ..Default::default()
                },
                Cold::default(),
            );
        }
        let mut gone = Vec::new();
        t.sweep(1000, |f| f.last_us < 8, &mut |f| gone.push(f.hot.key.pa));
        assert_eq!(std::mem::size_of::<Hot>(), 64);
        gone.sort();
        assert_eq!(gone, (0..8).collect::<Vec<_>>());
        assert_eq!(t.len(), 8);
    }
}

#[cfg(test)]
mod size_tests {
    use super::*;

    /// The table's memory per flow of capacity: every family's per-flow state lives in
    /// [`Cold`] for every slot, so a recogniser's state is paid a million times over.
    #[test]
    fn per_flow_memory_stays_bounded() {
        let t = FlowTable::new(1 << 12);
        println!(
            "Hot {} Cold {} Dpi {} bytes/flow {}",
            std::mem::size_of::<Hot>(),
            std::mem::size_of::<Cold>(),
            std::mem::size_of::<Dpi>(),
            t.bytes_per_flow()
        );
        assert!(t.bytes_per_flow() <= 340, "{}", t.bytes_per_flow());
    }
}
