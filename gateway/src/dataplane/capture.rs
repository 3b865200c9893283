//! Captures read into memory: pcap and pcapng through pcap-file. A malformed or truncated
//! capture gives an error naming the file and what was read before it, never a panic.

use std::path::Path;

use pcap_file::DataLink;
use pcap_file::pcap::PcapReader;
use pcap_file::pcapng::{Block, PcapNgReader};

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
    pub truncated: Option<String>,
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

/// Parses a capture held in memory.
pub fn parse(bytes: &[u8]) -> Result<Capture, String> {
    if bytes.len() >= 4 && bytes[..4] == [0x0a, 0x0d, 0x0d, 0x0a] {
        return pcapng(bytes);
    }
    let mut r = PcapReader::new(bytes).map_err(|e| e.to_string())?;
    let link = link_number(r.header().datalink);
    let nanos = matches!(
        r.header().ts_resolution,
        pcap_file::TsResolution::NanoSecond
    );
    let mut c = Capture::default();
    while let Some(p) = r.next_packet() {
        match p {
            Ok(p) => {
                let ts = p.timestamp;
                let us = ts.as_secs() * 1_000_000 + u64::from(ts.subsec_micros());
                let _ = nanos;
                c.push(us, link, &p.data);
            }
            Err(e) => {
                c.truncated = Some(e.to_string());
                break;
            }
        }
    }
    Ok(c)
}

fn pcapng(bytes: &[u8]) -> Result<Capture, String> {
    let mut r = PcapNgReader::new(bytes).map_err(|e| e.to_string())?;
    let mut c = Capture::default();
    let mut links: Vec<u32> = r
        .interfaces()
        .iter()
        .map(|i| link_number(i.linktype))
        .collect();
    while let Some(b) = r.next_block() {
        match b {
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
                c.truncated = Some(e.to_string());
                break;
            }
        }
    }
    Ok(c)
}
