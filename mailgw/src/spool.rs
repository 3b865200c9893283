//! The durable queue. A message is on the spool (the simulated disk, or a directory) before
//! the relay answers 250 to its DATA; a restart reloads the spool and loses nothing accepted.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::rc::Rc;

/// The disk the spool lives on. `Memory` is the simulated disk: it survives a simulated
/// crash of the host because it is owned outside the host's software.
#[derive(Clone)]
pub enum Disk {
    Memory(Rc<RefCell<BTreeMap<String, Vec<u8>>>>),
    /// A real directory; every write is synced before it returns.
    Dir(PathBuf),
}

impl Default for Disk {
    fn default() -> Self {
        Disk::Memory(Rc::default())
    }
}

impl Disk {
    pub fn put(&self, name: &str, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Disk::Memory(m) => {
                m.borrow_mut().insert(name.to_string(), bytes.to_vec());
                Ok(())
            }
            Disk::Dir(d) => {
                let tmp = d.join(format!("{name}.tmp"));
                let mut f = std::fs::File::create(&tmp)?;
                f.write_all(bytes)?;
                f.sync_data()?;
                std::fs::rename(tmp, d.join(name))
            }
        }
    }

    pub fn remove(&self, name: &str) {
        match self {
            Disk::Memory(m) => {
                m.borrow_mut().remove(name);
            }
            Disk::Dir(d) => {
                let _ = std::fs::remove_file(d.join(name));
            }
        }
    }

    pub fn get(&self, name: &str) -> Option<Vec<u8>> {
        match self {
            Disk::Memory(m) => m.borrow().get(name).cloned(),
            Disk::Dir(d) => std::fs::read(d.join(name)).ok(),
        }
    }

    /// File names, sorted.
    pub fn list(&self) -> Vec<String> {
        match self {
            Disk::Memory(m) => m.borrow().keys().cloned().collect(),
            Disk::Dir(d) => {
                let mut v: Vec<String> = std::fs::read_dir(d)
                    .into_iter()
                    .flatten()
                    .flatten()
                    .filter_map(|e| e.file_name().into_string().ok())
                    .filter(|n| !n.ends_with(".tmp"))
                    .collect();
                v.sort();
                v
            }
        }
    }
}

/// One queued message: its envelope, the recipients still to be delivered, and its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub id: String,
    pub from: String,
    pub pending: Vec<String>,
    /// The connected system that submitted it (`None`: external mail, or the gateway's own).
    pub system: Option<String>,
    pub attempts: u32,
    pub first_ms: u64,
    pub next_ms: u64,
    /// Per-recipient last error, for the bounce.
    pub errors: BTreeMap<String, String>,
    pub data: Vec<u8>,
}

impl Entry {
    pub fn encode(&self) -> Vec<u8> {
        let mut h = String::new();
        h.push_str(&format!("id {}\nfrom {}\n", self.id, self.from));
        for r in &self.pending {
            h.push_str(&format!("rcpt {r}\n"));
        }
        if let Some(s) = &self.system {
            h.push_str(&format!("system {s}\n"));
        }
        h.push_str(&format!(
            "attempts {}\nfirst {}\nnext {}\n",
            self.attempts, self.first_ms, self.next_ms
        ));
        for (r, e) in &self.errors {
            h.push_str(&format!("error {r} {}\n", e.replace('\n', " ")));
        }
        h.push('\n');
        let mut out = h.into_bytes();
        out.extend_from_slice(&self.data);
        out
    }

    pub fn decode(bytes: &[u8]) -> Option<Entry> {
        let split = bytes.windows(2).position(|w| w == b"\n\n")?;
        let head = std::str::from_utf8(&bytes[..split]).ok()?;
        let mut e = Entry {
            id: String::new(),
            from: String::new(),
            pending: vec![],
            system: None,
            attempts: 0,
            first_ms: 0,
            next_ms: 0,
            errors: BTreeMap::new(),
            data: bytes[split + 2..].to_vec(),
        };
        for line in head.lines() {
            let (k, v) = line.split_once(' ').unwrap_or((line, ""));
            match k {
                "id" => e.id = v.into(),
                "from" => e.from = v.into(),
                "rcpt" => e.pending.push(v.into()),
                "system" => e.system = Some(v.into()),
                "attempts" => e.attempts = v.parse().ok()?,
                "first" => e.first_ms = v.parse().ok()?,
                "next" => e.next_ms = v.parse().ok()?,
                "error" => {
                    let (r, m) = v.split_once(' ').unwrap_or((v, ""));
                    e.errors.insert(r.into(), m.into());
                }
                _ => return None,
            }
        }
        Some(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_through_the_disk() {
        let e = Entry {
            id: "q1".into(),
            from: "".into(),
            pending: vec!["a@x.kz".into(), "b@y.com".into()],
            system: Some("mof".into()),
            attempts: 2,
            first_ms: 5,
            next_ms: 9,
            errors: BTreeMap::from([("b@y.com".into(), "451 try later".into())]),
            data: b"Subject: s\r\n\r\n\n\nbody\r\n".to_vec(),
        };
        let disk = Disk::default();
        disk.put("q1", &e.encode()).unwrap();
        let back = Entry::decode(&disk.get("q1").unwrap()).unwrap();
        assert_eq!(back, e);
    }
}
