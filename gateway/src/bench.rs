//! Traffic for the dataplane benchmarks: the corpus captures held in memory, and synthetic
//! frames of fixed sizes (64 B, 1518 B) or the IMIX mix over many flows.

use std::path::Path;

use crate::dataplane::capture;
use crate::dataplane::packet::linktype;

/// Frames held in one buffer: (timestamp µs, link type, start, len).
#[derive(Default, Clone)]
pub struct Traffic {
    pub data: Vec<u8>,
    pub frames: Vec<(u64, u32, u32, u32)>,
    pub bytes: u64,
}

impl Traffic {
    pub fn frame(&self, i: usize) -> (u64, u32, &[u8]) {
        let (ts, link, s, l) = self.frames[i];
        (ts, link, &self.data[s as usize..(s + l) as usize])
    }
    fn push(&mut self, ts: u64, link: u32, f: &[u8]) {
        let s = self.data.len() as u32;
        self.data.extend_from_slice(f);
        self.frames.push((ts, link, s, f.len() as u32));
        self.bytes += f.len() as u64;
    }
    /// Bits on the wire for the frames: each frame plus its 4-byte FCS (captures omit it),
    /// plus 20 bytes of preamble, start delimiter and inter-frame gap.
    pub fn wire_bits(&self) -> u64 {
        self.frames
            .iter()
            .map(|f| (u64::from(f.3) + 4 + 20) * 8)
            .sum()
    }
}

/// Every capture under `dir` (the nDPI corpus), back to back, with timestamps made
/// monotonic across files.
pub fn corpus(dir: &Path) -> Traffic {
    let mut t = Traffic::default();
    let mut base = 0u64;
    for p in crate::score::captures(dir) {
        let Ok(c) = capture::read(&p) else { continue };
        let t0 = c.frames.first().map(|f| f.ts_us).unwrap_or(0);
        let mut last = base;
        for (ts, link, f) in c.iter() {
            let at = base + ts.saturating_sub(t0);
            last = last.max(at);
            t.push(at, link, f);
        }
        base = last + 1_000_000;
    }
    t
}

/// `n` frames of Ethernet/IPv4/UDP (or TCP every fourth flow) spread over `flows` flows;
/// `size(i)` is frame i's length without FCS (≥ 60).
pub fn synthetic(n: usize, flows: u32, size: impl Fn(usize) -> usize) -> Traffic {
    let mut t = Traffic::default();
    let mut f = [0u8; 1514];
    for i in 0..n {
        let len = size(i).clamp(60, 1514);
        let flow = (i as u32).wrapping_mul(2_654_435_761) % flows;
        let tcp = flow.is_multiple_of(4);
        f[..len].fill(0);
        f[12] = 0x08;
        f[13] = 0x00;
        let ip = &mut f[14..];
        let total = (len - 14) as u16;
        ip[0] = 0x45;
        ip[2..4].copy_from_slice(&total.to_be_bytes());
        ip[8] = 64;
        ip[9] = if tcp { 6 } else { 17 };
        ip[12..16].copy_from_slice(&[10, (flow >> 16) as u8, (flow >> 8) as u8, flow as u8]);
        ip[16..20].copy_from_slice(&[198, 51, 100, (flow % 200) as u8]);
        let l4 = &mut ip[20..];
        l4[0..2].copy_from_slice(&(1024 + (flow % 60000) as u16).to_be_bytes());
        l4[2..4].copy_from_slice(&443u16.to_be_bytes());
        if tcp {
            l4[12] = 0x50;
            l4[13] = 0x18;
        } else {
            l4[4..6].copy_from_slice(&(total - 20).to_be_bytes());
        }
        t.push(i as u64, linktype::ETHERNET, &f[..len]);
    }
    t
}

/// The simple IMIX: 7 × 64 B, 4 × 594 B, 1 × 1518 B (sizes with FCS).
pub fn imix(i: usize) -> usize {
    match i % 12 {
        0..=6 => 60,
        7..=10 => 590,
        _ => 1514,
    }
}

/// 10GbE line rate in frames per second for frames of `frame_len` bytes with FCS.
pub fn line_rate_pps(frame_len_with_fcs: u64) -> f64 {
    10e9 / ((frame_len_with_fcs + 20) * 8) as f64
}
