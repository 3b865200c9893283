//! `qaqpa serve tls-inspect`: the inspection relay over real sockets, as an explicit proxy.
//! A client asks `CONNECT host:port`, the proxy connects there, answers 200, and from then on
//! drives the same [`Bump`] the simulated gateway runs: bytes from each socket in, bytes for
//! each socket out, the wall clock for time. One thread, one core (a current-thread runtime).

use std::net::SocketAddr;
use std::time::Duration;

use jiff::Timestamp;
use qaqpa_sim::stream::StreamRelay;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{Bump, BumpConfig};

/// The most a CONNECT request's head may hold.
const MAX_HEAD: usize = 8 * 1024;
/// How long a client has to send its CONNECT request, and the origin to accept.
const SETUP_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves CONNECT requests on `listener` until it fails.
pub fn serve_tcp(config: BumpConfig, listener: std::net::TcpListener) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        loop {
            let (stream, _) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            let config = config.clone();
            tokio::task::spawn_local(async move {
                // A client that goes wrong ends its own connection, nothing else.
                let _ = connection(stream, config).await;
            });
        }
    })
}

/// Reads `CONNECT host:port HTTP/1.x` and its headers; the target and any bytes after the head.
async fn connect_request(client: &mut TcpStream) -> Result<(String, Vec<u8>), String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 2048];
    let end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > MAX_HEAD {
            return Err("the request head is too long".into());
        }
        let n = client.read(&mut chunk).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("closed before a request".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..end]);
    let line = head.lines().next().unwrap_or_default();
    let mut parts = line.split_whitespace();
    match (parts.next(), parts.next(), parts.next()) {
        (Some("CONNECT"), Some(target), Some(v)) if v.starts_with("HTTP/1.") => {
            Ok((target.to_string(), buf[end..].to_vec()))
        }
        _ => Err(format!("not a CONNECT request: {line:?}")),
    }
}

async fn connection(mut client: TcpStream, config: BumpConfig) -> Result<(), String> {
    let (target, early) = tokio::time::timeout(SETUP_TIMEOUT, connect_request(&mut client))
        .await
        .map_err(|_| "no request in time".to_string())??;
    let addr: SocketAddr =
        match tokio::time::timeout(SETUP_TIMEOUT, tokio::net::lookup_host(target.as_str())).await {
            Ok(Ok(mut a)) => a.next().ok_or("no address")?,
            _ => {
                let _ = client
                    .write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
                    .await;
                return Err(format!("{target}: no address"));
            }
        };
    let origin = match tokio::time::timeout(SETUP_TIMEOUT, TcpStream::connect(addr)).await {
        Ok(Ok(s)) => s,
        _ => {
            let _ = client
                .write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
                .await;
            return Err(format!("{target}: cannot connect"));
        }
    };
    let _ = origin.set_nodelay(true);
    client
        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .await
        .map_err(|e| e.to_string())?;
    let mut bump = Bump::new(&config);
    if !early.is_empty() {
        bump.from_client(Timestamp::now(), &early);
    }
    relay(&mut bump, client, origin).await
}

/// Moves bytes between the two sockets through the relay until either side closes or the
/// relay fails (then both are dropped: the kernel resets what is unread).
async fn relay(bump: &mut Bump, client: TcpStream, origin: TcpStream) -> Result<(), String> {
    let (mut cr, mut cw) = client.into_split();
    let (mut or, mut ow) = origin.into_split();
    let mut cbuf = vec![0u8; 64 * 1024];
    let mut obuf = vec![0u8; 64 * 1024];
    let (mut client_open, mut origin_open) = (true, true);
    loop {
        let out = bump.to_origin();
        if !out.is_empty() {
            ow.write_all(&out).await.map_err(|e| e.to_string())?;
        }
        let out = bump.to_client();
        if !out.is_empty() {
            cw.write_all(&out).await.map_err(|e| e.to_string())?;
        }
        if let Some(why) = bump.failed() {
            return Err(why);
        }
        if !client_open && !origin_open {
            return Ok(());
        }
        tokio::select! {
            biased;
            r = or.read(&mut obuf), if origin_open => match r {
                Ok(0) | Err(_) => {
                    origin_open = false;
                    let _ = cw.shutdown().await;
                }
                Ok(n) => bump.from_origin(Timestamp::now(), &obuf[..n]),
            },
            r = cr.read(&mut cbuf), if client_open => match r {
                Ok(0) | Err(_) => {
                    client_open = false;
                    let _ = ow.shutdown().await;
                }
                Ok(n) => bump.from_client(Timestamp::now(), &cbuf[..n]),
            },
        }
    }
}
