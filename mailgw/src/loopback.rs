//! The relay on real loopback sockets (outside turmoil), with a sink exchanger that keeps
//! what it receives: for the corpus runs and the benchmark. Everything runs on one thread
//! inside a `LocalSet`.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpSocket, TcpStream};

use crate::relay::{Config, Relay};
use crate::spool::Disk;
use crate::wire::{LineError, LineReader, Reply, TokioNet, dot_stuff, read_reply, unstuff_line};

/// A message as the sink received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub from: String,
    pub rcpts: Vec<String>,
    pub data: Vec<u8>,
}

#[derive(Clone, Default)]
pub struct Sink {
    pub got: Rc<RefCell<Vec<Received>>>,
    /// Keep only a count (benchmark).
    pub count_only: bool,
    pub count: Rc<RefCell<usize>>,
}

impl Sink {
    /// Listens on `ip:0`; returns the address. Must run inside a `LocalSet`.
    pub async fn start(&self, ip: [u8; 4]) -> std::io::Result<SocketAddr> {
        self.start_at(SocketAddr::from((ip, 0))).await
    }

    /// Listens on `addr`; returns the address bound. Must run inside a `LocalSet`.
    pub async fn start_at(&self, addr: SocketAddr) -> std::io::Result<SocketAddr> {
        let l = TcpListener::bind(addr).await?;
        let addr = l.local_addr()?;
        let me = self.clone();
        tokio::task::spawn_local(async move {
            while let Ok((s, _)) = l.accept().await {
                let me = me.clone();
                tokio::task::spawn_local(async move {
                    let _ = s.set_nodelay(true);
                    let _ = me.session(s).await;
                });
            }
        });
        Ok(addr)
    }

    /// Serves one connection (any stream: a loopback socket or a turmoil one).
    pub async fn session<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
        &self,
        s: S,
    ) -> Result<(), LineError> {
        let mut r = LineReader::new(s);
        r.write(b"220 sink ESMTP\r\n").await?;
        let (mut from, mut rcpts) = (String::new(), Vec::new());
        let t = Duration::from_secs(60);
        let mut out = Vec::new();
        loop {
            if !out.is_empty() && !r.has_buffered_line() {
                r.write(&out).await?;
                out.clear();
            }
            let line = r.line(4096, t).await?;
            let up = String::from_utf8_lossy(&line).to_ascii_uppercase();
            if up.starts_with("EHLO") {
                out.extend_from_slice(b"250-sink\r\n250-8BITMIME\r\n250 PIPELINING\r\n");
            } else if up.starts_with("HELO") {
                out.extend_from_slice(b"250 sink\r\n");
            } else if up.starts_with("MAIL FROM:") {
                from = addr(&String::from_utf8_lossy(&line[10..]));
                rcpts.clear();
                out.extend_from_slice(b"250 ok\r\n");
            } else if up.starts_with("RCPT TO:") {
                rcpts.push(addr(&String::from_utf8_lossy(&line[8..])));
                out.extend_from_slice(b"250 ok\r\n");
            } else if up.starts_with("DATA") {
                out.extend_from_slice(b"354 go\r\n");
                r.write(&out).await?;
                out.clear();
                let mut data = Vec::new();
                loop {
                    let l = r.line(1 << 20, t).await?;
                    match unstuff_line(&l) {
                        Some(x) => data.extend_from_slice(x),
                        None => break,
                    }
                }
                if self.count_only {
                    *self.count.borrow_mut() += 1;
                } else {
                    self.got.borrow_mut().push(Received {
                        from: from.clone(),
                        rcpts: std::mem::take(&mut rcpts),
                        data,
                    });
                }
                out.extend_from_slice(b"250 stored\r\n");
            } else if up.starts_with("QUIT") {
                out.extend_from_slice(b"221 bye\r\n");
                r.write(&out).await?;
                return Ok(());
            } else {
                out.extend_from_slice(b"250 ok\r\n");
            }
        }
    }
}

fn addr(s: &str) -> String {
    let s = s.trim();
    s.strip_prefix('<')
        .and_then(|x| x.split_once('>'))
        .map(|(a, _)| a.to_string())
        .unwrap_or_else(|| s.split_whitespace().next().unwrap_or("").to_string())
}

/// Boots a relay listening on `ip:0` over an in-memory disk (or `disk`); returns its address.
pub async fn start_relay(
    cfg: Config,
    ip: [u8; 4],
    disk: Option<Disk>,
) -> std::io::Result<SocketAddr> {
    let l = TcpListener::bind((std::net::Ipv4Addr::from(ip), 0)).await?;
    let addr = l.local_addr()?;
    let relay = Relay::boot(TokioNet, cfg, disk.unwrap_or_default());
    tokio::task::spawn_local(async move {
        let _ = relay.run(l).await;
    });
    Ok(addr)
}

/// A client connection from a chosen loopback source address.
pub async fn connect_from(src: [u8; 4], to: SocketAddr) -> std::io::Result<LineReader<TcpStream>> {
    let sock = TcpSocket::new_v4()?;
    sock.bind(SocketAddr::from((src, 0)))?;
    let s = sock.connect(to).await?;
    s.set_nodelay(true)?;
    Ok(LineReader::new(s))
}

/// What one submission got: the reply that ended it.
#[derive(Debug, Clone)]
pub struct Submitted {
    pub accepted: bool,
    pub last: Reply,
    pub stage: &'static str,
}

/// Submits one message over a fresh connection (EHLO, MAIL, RCPT…, DATA, QUIT).
pub async fn submit(
    src: [u8; 4],
    to: SocketAddr,
    from: &str,
    rcpts: &[String],
    data: &[u8],
) -> Result<Submitted, LineError> {
    let t = Duration::from_secs(30);
    let mut c = connect_from(src, to).await?;
    let g = read_reply(&mut c, t).await?;
    if g.class() != 2 {
        return Ok(Submitted {
            accepted: false,
            last: g,
            stage: "greeting",
        });
    }
    c.write(b"EHLO corpus.client\r\n").await?;
    let e = read_reply(&mut c, t).await?;
    if e.class() != 2 {
        return Ok(Submitted {
            accepted: false,
            last: e,
            stage: "EHLO",
        });
    }
    let body = if data.iter().any(|b| *b >= 0x80) {
        " BODY=8BITMIME"
    } else {
        ""
    };
    c.write(format!("MAIL FROM:<{from}>{body}\r\n").as_bytes())
        .await?;
    let m = read_reply(&mut c, t).await?;
    if m.class() != 2 {
        return Ok(Submitted {
            accepted: false,
            last: m,
            stage: "MAIL",
        });
    }
    let mut any = None;
    let mut last = m;
    for r in rcpts {
        c.write(format!("RCPT TO:<{r}>\r\n").as_bytes()).await?;
        let x = read_reply(&mut c, t).await?;
        if x.class() == 2 {
            any = Some(x.clone());
        }
        last = x;
    }
    if any.is_none() {
        return Ok(Submitted {
            accepted: false,
            last,
            stage: "RCPT",
        });
    }
    c.write(b"DATA\r\n").await?;
    let d = read_reply(&mut c, t).await?;
    if d.code != 354 {
        return Ok(Submitted {
            accepted: false,
            last: d,
            stage: "DATA",
        });
    }
    c.write(&dot_stuff(data)).await?;
    let f = read_reply(&mut c, t).await?;
    let _ = c.write(b"QUIT\r\n").await;
    Ok(Submitted {
        accepted: f.class() == 2,
        last: f,
        stage: "end of data",
    })
}

/// The relay's own `Received:` header at the top of a relayed message, removed.
pub fn strip_received(data: &[u8]) -> &[u8] {
    if !data.starts_with(b"Received: ") {
        return data;
    }
    let mut i = 0;
    loop {
        let Some(nl) = data[i..].iter().position(|&b| b == b'\n') else {
            return &data[data.len()..];
        };
        i += nl + 1;
        if !matches!(data.get(i), Some(b' ' | b'\t')) {
            return &data[i..];
        }
    }
}
