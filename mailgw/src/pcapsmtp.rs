//! SMTP sessions out of packet captures: the client's side of each TCP stream to an SMTP
//! port, reassembled, and the mail transactions in it (envelope and message).

use std::collections::BTreeMap;

use pcap_file::DataLink;
use pcap_file::pcap::PcapReader;

const SMTP_PORTS: &[u16] = &[25, 465, 587, 2525];

/// A TCP flow's key: source and destination addresses (16 bytes each) and ports.
type FlowKey = [u8; 36];
/// A flow's initial sequence number (if its SYN was seen) and its segments.
type Segments = (Option<u32>, Vec<(u32, Vec<u8>)>);

/// The client-to-server byte streams of the SMTP connections in a capture, in the order
/// their first packet appears.
pub fn client_streams(bytes: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let mut r = PcapReader::new(bytes).map_err(|e| format!("not a pcap file: {e}"))?;
    let link = r.header().datalink;
    let mut order: Vec<(u64, FlowKey)> = Vec::new();
    let mut segs: BTreeMap<FlowKey, Segments> = BTreeMap::new();
    while let Some(p) = r.next_packet() {
        let Ok(p) = p else { break };
        let Some((key, seq, syn, payload)) = tcp(link, &p.data) else {
            continue;
        };
        let e = segs.entry(key).or_insert_with(|| {
            order.push((order.len() as u64, key));
            (None, Vec::new())
        });
        if syn {
            e.0 = Some(seq.wrapping_add(1));
        }
        if !payload.is_empty() {
            e.1.push((seq, payload.to_vec()));
        }
    }
    let mut out = Vec::new();
    for (_, key) in order {
        let (isn, mut v) = segs.remove(&key).unwrap_or_default();
        if v.is_empty() {
            continue;
        }
        let base = isn.unwrap_or_else(|| v.iter().map(|(s, _)| *s).min().unwrap_or(0));
        v.sort_by_key(|(s, _)| s.wrapping_sub(base));
        let mut stream = Vec::new();
        let mut next = 0u32;
        for (s, data) in v {
            let off = s.wrapping_sub(base);
            let end = off.wrapping_add(data.len() as u32);
            if end <= next {
                continue; // retransmission
            }
            let skip = next.saturating_sub(off) as usize;
            stream.extend_from_slice(&data[skip.min(data.len())..]);
            next = end;
        }
        out.push(stream);
    }
    Ok(out)
}

/// (flow key, seq, SYN, payload) of a TCP segment from a client to an SMTP port.
fn tcp(link: DataLink, frame: &[u8]) -> Option<(FlowKey, u32, bool, &[u8])> {
    let ip = match link {
        DataLink::ETHERNET => {
            let mut off = 14;
            let mut et = u16::from_be_bytes([*frame.get(12)?, *frame.get(13)?]);
            while et == 0x8100 || et == 0x88a8 {
                et = u16::from_be_bytes([*frame.get(off + 2)?, *frame.get(off + 3)?]);
                off += 4;
            }
            frame.get(off..)?
        }
        DataLink::RAW | DataLink::IPV4 | DataLink::IPV6 => frame,
        DataLink::LINUX_SLL => frame.get(16..)?,
        DataLink::NULL | DataLink::LOOP => frame.get(4..)?,
        _ => return None,
    };
    let (src, dst, proto, l4): (Vec<u8>, Vec<u8>, u8, &[u8]) = match ip.first()? >> 4 {
        4 => {
            let ihl = usize::from(ip[0] & 0x0f) * 4;
            let total = usize::from(u16::from_be_bytes([*ip.get(2)?, *ip.get(3)?]));
            let end = total.min(ip.len()).max(ihl);
            (
                ip.get(12..16)?.to_vec(),
                ip.get(16..20)?.to_vec(),
                *ip.get(9)?,
                ip.get(ihl..end)?,
            )
        }
        6 => {
            let plen = usize::from(u16::from_be_bytes([*ip.get(4)?, *ip.get(5)?]));
            let end = (40 + plen).min(ip.len());
            (
                ip.get(8..24)?.to_vec(),
                ip.get(24..40)?.to_vec(),
                *ip.get(6)?,
                ip.get(40..end)?,
            )
        }
        _ => return None,
    };
    if proto != 6 {
        return None;
    }
    let sport = u16::from_be_bytes([*l4.first()?, *l4.get(1)?]);
    let dport = u16::from_be_bytes([*l4.get(2)?, *l4.get(3)?]);
    if !SMTP_PORTS.contains(&dport) {
        return None;
    }
    let seq = u32::from_be_bytes([*l4.get(4)?, *l4.get(5)?, *l4.get(6)?, *l4.get(7)?]);
    let doff = usize::from(l4.get(12)? >> 4) * 4;
    let syn = l4.get(13)? & 0x02 != 0;
    let mut key = [0u8; 36];
    key[..src.len()].copy_from_slice(&src);
    key[16..16 + dst.len()].copy_from_slice(&dst);
    key[32..34].copy_from_slice(&sport.to_be_bytes());
    key[34..36].copy_from_slice(&dport.to_be_bytes());
    Some((key, seq, syn, l4.get(doff..).unwrap_or(&[])))
}

/// One mail transaction a client sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    pub from: String,
    pub rcpts: Vec<String>,
    /// The message, dot-unstuffed (DATA) or concatenated (BDAT).
    pub data: Vec<u8>,
    /// Whether the stream ended before the message did.
    pub truncated: bool,
}

fn path(arg: &str) -> String {
    let a = arg.trim();
    match a.find('<') {
        Some(i) => a[i + 1..].split('>').next().unwrap_or("").to_string(),
        None => a.split_whitespace().next().unwrap_or("").to_string(),
    }
}

/// The transactions of a client stream (commands are read as the server would; a TLS
/// upgrade ends what can be read).
pub fn transactions(stream: &[u8]) -> Vec<Transaction> {
    let mut out = Vec::new();
    let mut cur: Option<Transaction> = None;
    let mut i = 0;
    while i < stream.len() {
        let end = stream[i..]
            .iter()
            .position(|&b| b == b'\n')
            .map(|p| i + p + 1)
            .unwrap_or(stream.len());
        let line = &stream[i..end];
        i = end;
        let text = String::from_utf8_lossy(line);
        let up = text.trim_start().to_ascii_uppercase();
        if up.starts_with("MAIL FROM:") {
            cur = Some(Transaction {
                from: path(&text.trim_start()[10..]),
                rcpts: vec![],
                data: vec![],
                truncated: false,
            });
        } else if up.starts_with("RCPT TO:") {
            if let Some(t) = cur.as_mut() {
                t.rcpts.push(path(&text.trim_start()[8..]));
            }
        } else if up.starts_with("STARTTLS") {
            break;
        } else if up.starts_with("RSET") {
            cur = None;
        } else if up.trim_end() == "DATA" {
            let Some(mut t) = cur.take() else { continue };
            let mut done = false;
            while i < stream.len() {
                let e = stream[i..]
                    .iter()
                    .position(|&b| b == b'\n')
                    .map(|p| i + p + 1)
                    .unwrap_or(stream.len());
                let l = &stream[i..e];
                i = e;
                match crate::wire::unstuff_line(l) {
                    Some(x) => t.data.extend_from_slice(x),
                    None => {
                        done = true;
                        break;
                    }
                }
            }
            t.truncated = !done;
            out.push(t);
        } else if up.starts_with("BDAT ") {
            let mut w = up.split_whitespace().skip(1);
            let n: usize = w.next().and_then(|x| x.parse().ok()).unwrap_or(0);
            let last = w.next() == Some("LAST");
            let take = n.min(stream.len() - i);
            if let Some(t) = cur.as_mut() {
                t.data.extend_from_slice(&stream[i..i + take]);
                if take < n {
                    t.truncated = true;
                }
            }
            i += take;
            if last && let Some(t) = cur.take() {
                out.push(t);
            }
        }
    }
    if let Some(mut t) = cur
        && !t.data.is_empty()
    {
        t.truncated = true;
        out.push(t);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transactions_of_a_pipelined_stream() {
        let s = b"EHLO x\r\nMAIL FROM:<a@b.kz> SIZE=10\r\nRCPT TO:<c@d.com>\r\nDATA\r\nSubject: s\r\n\r\n..dot\r\n.\r\nMAIL FROM:<>\r\nRCPT TO:<e@f>\r\nBDAT 5 LAST\r\nhello";
        let t = transactions(s);
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].from, "a@b.kz");
        assert_eq!(t[0].data, b"Subject: s\r\n\r\n.dot\r\n");
        assert_eq!(t[1].data, b"hello");
        assert!(!t[1].truncated);
    }
}
