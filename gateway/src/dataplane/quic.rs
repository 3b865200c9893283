//! The SNI of a QUIC connection: IETF QUIC (v1, v2, draft-29) Initial packets are decrypted
//! with the keys every observer can derive from the client's Destination Connection ID
//! (RFC 9001 §5), and the ClientHello is read from the CRYPTO frames, reassembled across
//! packets; Google QUIC (Q0xx) carries its CHLO in the clear, with an `SNI` tag.

use aes::Aes128;
use aes::cipher::{BlockEncrypt, KeyInit, generic_array::GenericArray};
use aes_gcm::aead::AeadInPlace;
use aes_gcm::{Aes128Gcm, Nonce};
use hkdf::Hkdf;
use sha2::Sha256;

use super::proto;

const SALT_V1: [u8; 20] = [
    0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17, 0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad,
    0xcc, 0xbb, 0x7f, 0x0a,
];
const SALT_V2: [u8; 20] = [
    0x0d, 0xed, 0xe3, 0xde, 0xf7, 0x00, 0xa6, 0xdb, 0x81, 0x93, 0x81, 0xbe, 0x6e, 0x26, 0x9d, 0xcb,
    0xf9, 0xbd, 0x2e, 0xd9,
];
const SALT_D29: [u8; 20] = [
    0xaf, 0xbf, 0xec, 0x28, 0x99, 0x93, 0xd2, 0x4c, 0x9e, 0x97, 0x86, 0xf1, 0x9c, 0x61, 0x11, 0xe0,
    0x43, 0x90, 0xa8, 0x99,
];

/// The CRYPTO stream of a connection's client Initial packets, reassembled.
#[derive(Debug, Default)]
pub struct Crypto {
    buf: Vec<u8>,
    have: Vec<bool>,
}

/// What one datagram told about the SNI.
#[derive(Debug, PartialEq, Eq)]
pub enum QuicSni {
    /// Not an Initial (or gQUIC CHLO) this reader understands.
    NotInitial,
    /// The ClientHello continues in a later packet.
    More,
    /// The ClientHello is complete; its SNI, if it has one.
    Done(Option<Box<str>>),
}

fn varint(b: &[u8], i: &mut usize) -> Option<u64> {
    let first = *b.get(*i)?;
    let len = 1usize << (first >> 6);
    let bytes = b.get(*i..*i + len)?;
    let mut v = u64::from(first & 0x3f);
    for &x in &bytes[1..] {
        v = (v << 8) | u64::from(x);
    }
    *i += len;
    Some(v)
}

fn expand_label(hk: &Hkdf<Sha256>, label: &[u8], out: &mut [u8]) -> Option<()> {
    let mut info = [0u8; 64];
    let full = 6 + label.len();
    info[0] = 0;
    info[1] = out.len() as u8;
    info[2] = full as u8;
    info[3..9].copy_from_slice(b"tls13 ");
    info[9..9 + label.len()].copy_from_slice(label);
    info[9 + label.len()] = 0;
    hk.expand(&info[..10 + label.len()], out).ok()
}

/// Google QUIC's plaintext client hello: the `SNI` tag's value.
fn gquic_chlo(b: &[u8]) -> Option<Box<str>> {
    let at = proto::find(&b[..b.len().min(64)], b"CHLO")?;
    let m = &b[at + 4..];
    let n = usize::from(u16::from_le_bytes([*m.first()?, *m.get(1)?]));
    let table = m.get(4..4 + n * 8)?;
    let values = &m[4 + n * 8..];
    let mut start = 0usize;
    for e in table.chunks_exact(8) {
        let end = u32::from_le_bytes([e[4], e[5], e[6], e[7]]) as usize;
        if &e[..4] == b"SNI\0" {
            let v = values.get(start..end)?;
            return std::str::from_utf8(v)
                .ok()
                .map(|s| s.to_ascii_lowercase().into_boxed_str());
        }
        start = end;
    }
    None
}

impl Crypto {
    /// Reads one client datagram.
    pub fn datagram(&mut self, b: &[u8]) -> QuicSni {
        if b.len() < 7 {
            return QuicSni::NotInitial;
        }
        if b[0] & 0x80 == 0 || b[1] == b'Q' {
            // Google QUIC public header (Q0xx): the CHLO is in the clear
            if let Some(sni) = gquic_chlo(b) {
                return QuicSni::Done(Some(sni));
            }
            if proto::find(&b[..b.len().min(64)], b"CHLO").is_some() {
                return QuicSni::Done(None);
            }
            if b[0] & 0x80 == 0 {
                return QuicSni::NotInitial;
            }
        }
        let version = u32::from_be_bytes([b[1], b[2], b[3], b[4]]);
        let (salt, v2) = match version {
            1 => (&SALT_V1, false),
            0x6b33_43cf => (&SALT_V2, true),
            0xff00_001d => (&SALT_D29, false),
            _ => return QuicSni::NotInitial,
        };
        let ptype = (b[0] >> 4) & 3;
        if ptype != if v2 { 1 } else { 0 } {
            return QuicSni::NotInitial;
        }
        self.initial(b, salt, v2).unwrap_or(QuicSni::NotInitial)
    }

    fn initial(&mut self, b: &[u8], salt: &[u8; 20], v2: bool) -> Option<QuicSni> {
        let mut i = 5;
        let dcid_len = usize::from(*b.get(i)?);
        let dcid = b.get(i + 1..i + 1 + dcid_len)?;
        i += 1 + dcid_len;
        let scid_len = usize::from(*b.get(i)?);
        i += 1 + scid_len;
        let token = varint(b, &mut i)? as usize;
        i += token;
        let length = varint(b, &mut i)? as usize;
        let pn_off = i;
        let end = pn_off.checked_add(length)?;
        if end > b.len() || length < 20 {
            return None;
        }
        let (l_key, l_iv, l_hp): (&[u8], &[u8], &[u8]) = if v2 {
            (b"quicv2 key", b"quicv2 iv", b"quicv2 hp")
        } else {
            (b"quic key", b"quic iv", b"quic hp")
        };
        let (initial, _) = Hkdf::<Sha256>::extract(Some(salt), dcid);
        let hk = Hkdf::<Sha256>::from_prk(&initial).ok()?;
        let mut client = [0u8; 32];
        expand_label(&hk, b"client in", &mut client)?;
        let ck = Hkdf::<Sha256>::from_prk(&client).ok()?;
        let (mut key, mut iv, mut hp) = ([0u8; 16], [0u8; 12], [0u8; 16]);
        expand_label(&ck, l_key, &mut key)?;
        expand_label(&ck, l_iv, &mut iv)?;
        expand_label(&ck, l_hp, &mut hp)?;
        // header protection
        let sample = b.get(pn_off + 4..pn_off + 20)?;
        let mut mask = GenericArray::clone_from_slice(sample);
        Aes128::new(GenericArray::from_slice(&hp)).encrypt_block(&mut mask);
        let first = b[0] ^ (mask[0] & 0x0f);
        let pn_len = usize::from(first & 3) + 1;
        let mut header = Vec::with_capacity(pn_off + pn_len);
        header.extend_from_slice(&b[..pn_off + pn_len]);
        header[0] = first;
        let mut pn = 0u64;
        for k in 0..pn_len {
            header[pn_off + k] ^= mask[1 + k];
            pn = (pn << 8) | u64::from(header[pn_off + k]);
        }
        let mut nonce = iv;
        for (k, x) in pn.to_be_bytes().iter().enumerate() {
            nonce[4 + k] ^= x;
        }
        let mut payload = b.get(pn_off + pn_len..end)?.to_vec();
        if payload.len() < 16 {
            return None;
        }
        let tag_at = payload.len() - 16;
        let tag = GenericArray::clone_from_slice(&payload[tag_at..]);
        payload.truncate(tag_at);
        Aes128Gcm::new(GenericArray::from_slice(&key))
            .decrypt_in_place_detached(Nonce::from_slice(&nonce), &header, &mut payload, &tag)
            .ok()?;
        self.frames(&payload)?;
        Some(self.hello())
    }

    fn frames(&mut self, p: &[u8]) -> Option<()> {
        let mut i = 0;
        while i < p.len() {
            let t = varint(p, &mut i)?;
            match t {
                0x00 | 0x01 => {}
                0x02 | 0x03 => {
                    varint(p, &mut i)?;
                    varint(p, &mut i)?;
                    let n = varint(p, &mut i)?;
                    varint(p, &mut i)?;
                    for _ in 0..n.min(256) {
                        varint(p, &mut i)?;
                        varint(p, &mut i)?;
                    }
                    if t == 0x03 {
                        for _ in 0..3 {
                            varint(p, &mut i)?;
                        }
                    }
                }
                0x06 => {
                    let off = varint(p, &mut i)? as usize;
                    let len = varint(p, &mut i)? as usize;
                    let data = p.get(i..i.checked_add(len)?)?;
                    i += len;
                    let end = off.checked_add(len)?;
                    if end > 64 * 1024 {
                        return None;
                    }
                    if self.buf.len() < end {
                        self.buf.resize(end, 0);
                        self.have.resize(end, false);
                    }
                    self.buf[off..end].copy_from_slice(data);
                    self.have[off..end].iter_mut().for_each(|h| *h = true);
                }
                _ => break,
            }
        }
        Some(())
    }

    fn hello(&self) -> QuicSni {
        let contiguous = self.have.iter().position(|h| !h).unwrap_or(self.have.len());
        let b = &self.buf[..contiguous];
        if b.len() < 4 {
            return QuicSni::More;
        }
        if b[0] != 1 {
            return QuicSni::Done(None);
        }
        let len = (usize::from(b[1]) << 16) | (usize::from(b[2]) << 8) | usize::from(b[3]);
        if b.len() < 4 + len {
            return QuicSni::More;
        }
        let sni = proto::client_hello(&b[4..4 + len])
            .and_then(|h| h.sni)
            .and_then(|s| std::str::from_utf8(s).ok())
            .map(|s| s.to_ascii_lowercase().into_boxed_str());
        QuicSni::Done(sni)
    }
}
