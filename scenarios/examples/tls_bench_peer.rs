//! The harness's ends of the TLS inspection benchmark (`scripts/bench-tls-inspect`), over real
//! sockets: an origin serving a small page (`GET /`) or N bytes (`GET /bytes/N`) under a
//! certificate from its own CA, and a load client that opens sessions through an explicit
//! proxy (`CONNECT`), trusting the proxy's root, and counts what completes.
//!
//! ```text
//! tls_bench_peer origin --listen 127.0.0.1:0 --ca-out ca.pem --port-out port
//! tls_bench_peer load --proxy 127.0.0.1:3128 --target localhost:PORT --trust root.pem \
//!     --connections 32 --seconds 10 [--bytes N]
//! ```
//! Keys are ECDSA P-256 (the kind both proxies sign with). The load client never resumes a
//! session: every connection is a full handshake on both sides of the proxy.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::rustls::pki_types::{
    CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName,
};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore, ServerConfig};

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn need(args: &[String], name: &str) -> String {
    arg(args, name).unwrap_or_else(|| {
        eprintln!("tls_bench_peer: {name} is required");
        std::process::exit(2)
    })
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let r = match args.get(1).map(String::as_str) {
        Some("origin") => rt.block_on(origin(&args)),
        Some("load") => rt.block_on(load(&args)),
        _ => Err("usage: tls_bench_peer origin|load ...".into()),
    };
    if let Err(e) = r {
        eprintln!("tls_bench_peer: {e}");
        std::process::exit(1);
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

async fn origin(args: &[String]) -> Result<(), String> {
    let e = |x: rcgen::Error| x.to_string();
    let ca_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(e)?;
    let mut ca = CertificateParams::default();
    ca.distinguished_name
        .push(DnType::CommonName, "qaqpa bench public CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).map_err(e)?;
    std::fs::write(need(args, "--ca-out"), ca_cert.pem()).map_err(|x| x.to_string())?;
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(e)?;
    // Both names a proxy may check the certificate against: the SNI the client sends and the
    // address it asks to CONNECT to.
    let params = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .map_err(e)?;
    let cert = params.signed_by(&key, &issuer).map_err(e)?;
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|x| x.to_string())?
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .map_err(|x| x.to_string())?;
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind(need(args, "--listen"))
        .await
        .map_err(|x| x.to_string())?;
    let port = listener.local_addr().map_err(|x| x.to_string())?.port();
    std::fs::write(need(args, "--port-out"), port.to_string()).map_err(|x| x.to_string())?;
    let local = tokio::task::LocalSet::new();
    local
        .run_until(async move {
            loop {
                let Ok((s, _)) = listener.accept().await else {
                    continue;
                };
                let _ = s.set_nodelay(true);
                let acceptor = acceptor.clone();
                tokio::task::spawn_local(async move {
                    let Ok(mut tls) = acceptor.accept(s).await else {
                        return;
                    };
                    let mut head = Vec::new();
                    let mut buf = [0u8; 4096];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 8192 {
                        match tls.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let line = String::from_utf8_lossy(&head);
                    let n: usize = line
                        .split_whitespace()
                        .nth(1)
                        .and_then(|p| p.strip_prefix("/bytes/"))
                        .and_then(|n| n.parse().ok())
                        .unwrap_or(1024);
                    let hdr = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {n}\r\nConnection: close\r\n\r\n"
                    );
                    if tls.write_all(hdr.as_bytes()).await.is_err() {
                        return;
                    }
                    let chunk = vec![b'x'; 64 * 1024];
                    let mut left = n;
                    while left > 0 {
                        let k = left.min(chunk.len());
                        if tls.write_all(&chunk[..k]).await.is_err() {
                            return;
                        }
                        left -= k;
                    }
                    let _ = tls.shutdown().await;
                });
            }
        })
        .await;
    Ok(())
}

/// One session through the proxy; the body bytes read.
async fn session(
    proxy: &str,
    target: &str,
    path: &str,
    connector: &tokio_rustls::TlsConnector,
) -> Result<u64, String> {
    let mut s = TcpStream::connect(proxy).await.map_err(|e| e.to_string())?;
    let _ = s.set_nodelay(true);
    s.write_all(format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n").as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut b).await.map_err(|e| e.to_string())? == 0 {
            return Err("the proxy closed".into());
        }
        head.push(b[0]);
    }
    if !head.starts_with(b"HTTP/1.1 200") && !head.starts_with(b"HTTP/1.0 200") {
        return Err(format!("CONNECT: {}", String::from_utf8_lossy(&head)));
    }
    let name = ServerName::try_from("localhost").expect("a name");
    let mut tls = connector
        .connect(name, s)
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    // The Host names the origin's port too: a proxy that forwards by Host (Squid does, once
    // it has bumped the session) must reach the same origin the CONNECT named.
    let port = target.rsplit(':').next().unwrap_or("443");
    tls.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: localhost:{port}\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
    .await
    .map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    let mut first = Vec::new();
    loop {
        match tls.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => {
                total += n as u64;
                if first.len() < 12 {
                    first.extend_from_slice(&buf[..n.min(12)]);
                }
            }
            // An origin or proxy that closes without close_notify: the bytes are counted.
            Err(_) => break,
        }
    }
    if !first.starts_with(b"HTTP/1.1 200") {
        return Err(format!("answer: {:?}", String::from_utf8_lossy(&first)));
    }
    Ok(total)
}

async fn load(args: &[String]) -> Result<(), String> {
    let proxy = need(args, "--proxy");
    let target = need(args, "--target");
    let pem = std::fs::read(need(args, "--trust")).map_err(|e| e.to_string())?;
    let mut roots = RootCertStore::empty();
    for p in x509_parser::pem::Pem::iter_from_buffer(&pem) {
        let p = p.map_err(|e| e.to_string())?;
        roots
            .add(CertificateDer::from(p.contents))
            .map_err(|e| e.to_string())?;
    }
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.resumption = rustls::client::Resumption::disabled();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let conns: usize = arg(args, "--connections")
        .and_then(|c| c.parse().ok())
        .unwrap_or(16);
    let secs: f64 = arg(args, "--seconds")
        .and_then(|c| c.parse().ok())
        .unwrap_or(5.0);
    let path = match arg(args, "--bytes") {
        Some(n) => format!("/bytes/{n}"),
        None => "/".into(),
    };
    let done = Arc::new(AtomicU64::new(0));
    let bytes = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let first_error = Arc::new(std::sync::Mutex::new(String::new()));
    let start = Instant::now();
    let until = start + Duration::from_secs_f64(secs);
    let local = tokio::task::LocalSet::new();
    local
        .run_until(async {
            let mut tasks = Vec::new();
            for _ in 0..conns {
                let (proxy, target, path, connector) = (
                    proxy.clone(),
                    target.clone(),
                    path.clone(),
                    connector.clone(),
                );
                let (done, bytes, errors, first_error) = (
                    done.clone(),
                    bytes.clone(),
                    errors.clone(),
                    first_error.clone(),
                );
                tasks.push(tokio::task::spawn_local(async move {
                    while Instant::now() < until {
                        match session(&proxy, &target, &path, &connector).await {
                            Ok(n) => {
                                done.fetch_add(1, Ordering::Relaxed);
                                bytes.fetch_add(n, Ordering::Relaxed);
                            }
                            Err(e) => {
                                errors.fetch_add(1, Ordering::Relaxed);
                                let mut f = first_error.lock().unwrap();
                                if f.is_empty() {
                                    *f = e;
                                }
                            }
                        }
                    }
                }));
            }
            for t in tasks {
                let _ = t.await;
            }
        })
        .await;
    let elapsed = start.elapsed().as_secs_f64();
    let n = done.load(Ordering::Relaxed);
    let b = bytes.load(Ordering::Relaxed);
    println!(
        "{{\"sessions\":{n},\"seconds\":{elapsed:.3},\"per_second\":{:.1},\"bytes\":{b},\"gbps\":{:.3},\"errors\":{},\"first_error\":{:?}}}",
        n as f64 / elapsed,
        b as f64 * 8.0 / elapsed / 1e9,
        errors.load(Ordering::Relaxed),
        first_error.lock().unwrap().as_str()
    );
    Ok(())
}
