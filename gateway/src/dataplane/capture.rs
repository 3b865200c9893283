//! Captures read into memory: pcap and pcapng through pcap-file. A malformed or truncated
//! capture gives an error naming the file and what was read before it, never a panic.

use std::path::Path;

use pcap_file::DataLink;
use pcap_file::pcap::PcapParser;
use pcap_file::pcapng::{Block, PcapNgParser};

/// One frame: its capture time, link type and bytes (an offset into [`Capture::data`]).
#[derive(Debug, Clone, Copy)]
pub struct Frame {
    pub ts_us: u64,
    pub link: u32,
    pub start: u32,
    pub len: u32,
}

/// A capture loaded into one buffer.
#[derive(Debug, Default, Clone)]
pub struct Capture {
    pub data: Vec<u8>,
    pub frames: Vec<Frame>,
    /// Set when the file ended in the middle of a record or had a bad block: the frames
    /// before it are kept.
    pub truncated: Option<Truncation>,
}

/// Where and why a capture stopped early.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Truncation {
    /// Bytes of the file read as whole records (headers included) before the bad one.
    pub bytes_read: usize,
    /// The file's size.
    pub file_size: usize,
    /// What was wrong with the record at `bytes_read`.
    pub reason: String,
}

impl std::fmt::Display for Truncation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} of {} bytes read: {}",
            self.bytes_read, self.file_size, self.reason
        )
    }
}

impl Capture {
    pub fn frame(&self, f: &Frame) -> &[u8] {
        &self.data[f.start as usize..(f.start + f.len) as usize]
    }

    pub fn iter(&self) -> impl Iterator<Item = (u64, u32, &[u8])> {
        self.frames.iter().map(|f| (f.ts_us, f.link, self.frame(f)))
    }

    fn push(&mut self, ts_us: u64, link: u32, bytes: &[u8]) {
        let start = self.data.len() as u32;
        self.data.extend_from_slice(bytes);
        self.frames.push(Frame {
            ts_us,
            link,
            start,
            len: bytes.len() as u32,
        });
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("{file}: {source}")]
    Io {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}: not a pcap or pcapng capture ({message})")]
    Format { file: String, message: String },
}

fn link_number(l: DataLink) -> u32 {
    u32::from(l)
}

pub fn read(path: &Path) -> Result<Capture, CaptureError> {
    let file = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| CaptureError::Io {
        file: file.clone(),
        source,
    })?;
    parse(&bytes).map_err(|message| CaptureError::Format { file, message })
}

/// Parses a capture held in memory. The parsers work on the slice itself, so a record that
/// fails is located by the bytes left after the last good one.
pub fn parse(bytes: &[u8]) -> Result<Capture, String> {
    if bytes.len() >= 4 && bytes[..4] == [0x0a, 0x0d, 0x0d, 0x0a] {
        return pcapng(bytes);
    }
    let (mut rest, r) = PcapParser::new(bytes).map_err(|e| e.to_string())?;
    let link = link_number(r.header().datalink);
    let mut c = Capture::default();
    while !rest.is_empty() {
        match r.next_packet(rest) {
            Ok((after, p)) => {
                // pcap-file scales nanosecond captures into the Duration itself.
                let ts = p.timestamp;
                let us = ts.as_secs() * 1_000_000 + u64::from(ts.subsec_micros());
                c.push(us, link, &p.data);
                rest = after;
            }
            Err(e) => {
                c.truncated = Some(truncation(bytes, rest, e));
                break;
            }
        }
    }
    Ok(c)
}

fn truncation(bytes: &[u8], rest: &[u8], e: pcap_file::PcapError) -> Truncation {
    Truncation {
        bytes_read: bytes.len() - rest.len(),
        file_size: bytes.len(),
        reason: e.to_string(),
    }
}

fn pcapng(bytes: &[u8]) -> Result<Capture, String> {
    let (mut rest, mut r) = PcapNgParser::new(bytes).map_err(|e| e.to_string())?;
    let mut c = Capture::default();
    let mut links: Vec<u32> = r
        .interfaces()
        .iter()
        .map(|i| link_number(i.linktype))
        .collect();
    while !rest.is_empty() {
        let b = r.next_block(rest).map(|(after, b)| {
            rest = after;
            b
        });
        match b {
            // A new section numbers its interfaces from 0 again.
            Ok(Block::SectionHeader(_)) => links.clear(),
            Ok(Block::InterfaceDescription(i)) => {
                links.push(link_number(i.linktype));
            }
            Ok(Block::EnhancedPacket(p)) => {
                let link = links
                    .get(p.interface_id as usize)
                    .copied()
                    .unwrap_or(u32::MAX);
                let us = p.timestamp.as_micros() as u64;
                c.push(us, link, &p.data);
            }
            Ok(Block::SimplePacket(p)) => {
                let link = links.first().copied().unwrap_or(u32::MAX);
                c.push(0, link, &p.data);
            }
            Ok(Block::Packet(p)) => {
                let link = links
                    .get(usize::from(p.interface_id))
                    .copied()
                    .unwrap_or(u32::MAX);
                let us = p.timestamp;
                c.push(us, link, &p.data);
            }
            Ok(_) => {}
            Err(e) => {
                c.truncated = Some(truncation(bytes, rest, e));
                break;
            }
        }
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One little-endian pcapng block: type, total length, body padded to 4, total length.
    fn block(kind: u32, body: &[u8]) -> Vec<u8> {
        let pad = (4 - body.len() % 4) % 4;
        let len = (12 + body.len() + pad) as u32;
        let mut v = kind.to_le_bytes().to_vec();
        v.extend_from_slice(&len.to_le_bytes());
        v.extend_from_slice(body);
        v.extend(std::iter::repeat_n(0u8, pad));
        v.extend_from_slice(&len.to_le_bytes());
        v
    }

    fn section() -> Vec<u8> {
        let mut body = 0x1a2b_3c4du32.to_le_bytes().to_vec();
        body.extend_from_slice(&1u16.to_le_bytes());
        body.extend_from_slice(&0u16.to_le_bytes());
        body.extend_from_slice(&(-1i64).to_le_bytes());
        block(0x0a0d_0d0a, &body)
    }

    fn interface(linktype: u16) -> Vec<u8> {
        let mut body = linktype.to_le_bytes().to_vec();
        body.extend_from_slice(&0u16.to_le_bytes());
        body.extend_from_slice(&65535u32.to_le_bytes());
        block(1, &body)
    }

    fn packet(interface: u32, data: &[u8]) -> Vec<u8> {
        let mut body = interface.to_le_bytes().to_vec();
        body.extend_from_slice(&0u32.to_le_bytes());
        body.extend_from_slice(&1u32.to_le_bytes());
        body.extend_from_slice(&(data.len() as u32).to_le_bytes());
        body.extend_from_slice(&(data.len() as u32).to_le_bytes());
        body.extend_from_slice(data);
        block(6, &body)
    }

    #[test]
    fn each_pcapng_section_numbers_its_interfaces_anew() {
        // Section 1: interface 0 is Ethernet (1). Section 2: interface 0 is raw IP (101).
        let mut bytes = section();
        bytes.extend(interface(1));
        bytes.extend(packet(0, &[0xaa; 14]));
        bytes.extend(section());
        bytes.extend(interface(101));
        bytes.extend(packet(0, &[0x45; 20]));
        let c = parse(&bytes).unwrap();
        assert!(c.truncated.is_none(), "{:?}", c.truncated);
        let links: Vec<u32> = c.iter().map(|(_, link, _)| link).collect();
        assert_eq!(links, vec![1, 101]);
    }

    /// A little-endian microsecond pcap (Ethernet) with one record per payload.
    fn pcap(payloads: &[&[u8]]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        v.extend_from_slice(&2u16.to_le_bytes());
        v.extend_from_slice(&4u16.to_le_bytes());
        v.extend_from_slice(&0i32.to_le_bytes());
        v.extend_from_slice(&0u32.to_le_bytes());
        v.extend_from_slice(&65535u32.to_le_bytes());
        v.extend_from_slice(&1u32.to_le_bytes());
        for (i, p) in payloads.iter().enumerate() {
            v.extend_from_slice(&(1_700_000_000u32 + i as u32).to_le_bytes());
            v.extend_from_slice(&0u32.to_le_bytes());
            v.extend_from_slice(&(p.len() as u32).to_le_bytes());
            v.extend_from_slice(&(p.len() as u32).to_le_bytes());
            v.extend_from_slice(p);
        }
        v
    }

    #[test]
    fn a_cut_record_is_located_by_the_bytes_before_it() {
        let whole = pcap(&[&[0xaa; 60], &[0xbb; 60]]);
        let c = parse(&whole).unwrap();
        assert_eq!((c.frames.len(), c.truncated.clone()), (2, None));
        // 24-byte header + a 76-byte record are read; the second record is cut after 10 of
        // its bytes.
        let cut = &whole[..24 + 76 + 10];
        let c = parse(cut).unwrap();
        assert_eq!(c.frames.len(), 1);
        let t = c.truncated.expect("the cut is reported");
        assert_eq!((t.bytes_read, t.file_size), (100, 110));
        assert!(t.to_string().starts_with("100 of 110 bytes read: "), "{t}");
        // A header alone is a capture of no frames, not a truncated one.
        let c = parse(&whole[..24]).unwrap();
        assert!(c.frames.is_empty() && c.truncated.is_none());
    }
}
