//! Messages relayed per second through a real SMTP path on loopback (outside turmoil).
//!
//! `smtp_load ugem [--messages N] [--sessions C] [--spool DIR]`: boots the UGEM relay (its spool
//! a directory, each queue file synced before 250) and a sink exchanger, submits N messages
//! over C concurrent sessions from a connected system's address, and prints the rate at which
//! they reach the sink. `smtp_load external HOST:PORT --sink-port P …`: the same load against
//! another relay (Postfix) that forwards to the sink on 127.0.0.1:P.
//!
//! The load and the sink run on one thread, the relay under test on another.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use qaqpa_mailgw::corpus::block_on;
use qaqpa_mailgw::guard::{Baseline, Registry, System};
use qaqpa_mailgw::loopback::{Sink, connect_from, start_relay};
use qaqpa_mailgw::relay::Config;
use qaqpa_mailgw::spool::Disk;
use qaqpa_mailgw::wire::{dot_stuff, read_reply};

const CLIENT: [u8; 4] = [127, 0, 0, 2];

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

fn message(n: usize) -> Vec<u8> {
    let mut m = format!(
        "From: <clerk@bench.gov.kz>\r\nTo: <partner@bench.example>\r\nSubject: load {n}\r\nMessage-ID: <load.{n}@bench.gov.kz>\r\n\r\n"
    )
    .into_bytes();
    for i in 0..40 {
        m.extend_from_slice(
            format!("line {i} of a departmental letter of about three kilobytes, {n}\r\n")
                .as_bytes(),
        );
    }
    m
}

/// Sends `count` messages over one session; returns how many were accepted.
async fn session(to: SocketAddr, first: usize, count: usize) -> usize {
    let t = Duration::from_secs(120);
    let Ok(mut c) = connect_from(CLIENT, to).await else {
        return 0;
    };
    if read_reply(&mut c, t).await.is_err()
        || c.write(b"EHLO load.bench.gov.kz\r\n").await.is_err()
        || read_reply(&mut c, t).await.is_err()
    {
        return 0;
    }
    let mut ok = 0;
    for n in first..first + count {
        // A pipelined envelope (RFC 2920): MAIL, RCPT and DATA in one write.
        let env = b"MAIL FROM:<clerk@bench.gov.kz>\r\nRCPT TO:<partner@bench.example>\r\nDATA\r\n";
        if c.write(env).await.is_err() {
            return ok;
        }
        let (Ok(m), Ok(r), Ok(d)) = (
            read_reply(&mut c, t).await,
            read_reply(&mut c, t).await,
            read_reply(&mut c, t).await,
        ) else {
            return ok;
        };
        if m.class() != 2 || r.class() != 2 || d.code != 354 {
            eprintln!(
                "refused: {} {} / {} {} / {} {}",
                m.code,
                m.text(),
                r.code,
                r.text(),
                d.code,
                d.text()
            );
            return ok;
        }
        if c.write(&dot_stuff(&message(n))).await.is_err() {
            return ok;
        }
        match read_reply(&mut c, t).await {
            Ok(f) if f.class() == 2 => ok += 1,
            Ok(f) => {
                eprintln!("refused: {} {}", f.code, f.text());
                return ok;
            }
            Err(_) => return ok,
        }
    }
    let _ = c.write(b"QUIT\r\n").await;
    ok
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).cloned().unwrap_or_default();
    let messages: usize = arg(&args, "--messages")
        .and_then(|x| x.parse().ok())
        .unwrap_or(5000);
    let sessions: usize = arg(&args, "--sessions")
        .and_then(|x| x.parse().ok())
        .unwrap_or(16)
        .max(1);
    let sink_port: u16 = arg(&args, "--sink-port")
        .and_then(|x| x.parse().ok())
        .unwrap_or(0);
    if mode != "ugem" && mode != "external" {
        eprintln!(
            "usage: smtp_load ugem|external [HOST:PORT] [--messages N] [--sessions C] [--sink-port P] [--spool DIR]"
        );
        std::process::exit(2);
    }

    let (sink_tx, sink_rx) = std::sync::mpsc::channel::<SocketAddr>();
    let (target_tx, target_rx) = std::sync::mpsc::channel::<SocketAddr>();
    let load = std::thread::spawn(move || {
        block_on(async move {
            let sink = Sink {
                count_only: true,
                ..Default::default()
            };
            let addr = sink
                .start_at(SocketAddr::from(([127, 0, 0, 1], sink_port)))
                .await
                .expect("the sink's port is free");
            sink_tx.send(addr).expect("main waits");
            let target = target_rx.recv().expect("main sends the target");
            let start = Instant::now();
            let per = messages.div_ceil(sessions);
            let mut tasks = Vec::new();
            for s in 0..sessions {
                let first = s * per;
                let count = per.min(messages.saturating_sub(first));
                tasks.push(tokio::task::spawn_local(session(target, first, count)));
            }
            let mut accepted = 0;
            for t in tasks {
                accepted += t.await.unwrap_or(0);
            }
            let deadline = Instant::now() + Duration::from_secs(600);
            while *sink.count.borrow() < accepted && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            let delivered = *sink.count.borrow();
            (accepted, delivered, start.elapsed())
        })
    });
    let sink_addr = sink_rx.recv().expect("the sink starts");
    let target: SocketAddr = if mode == "ugem" {
        let spool = arg(&args, "--spool")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| {
                std::env::temp_dir().join(format!("ugem-spool-{}", std::process::id()))
            });
        std::fs::create_dir_all(&spool).expect("a spool directory");
        let (atx, arx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            block_on(async move {
                let registry = Registry {
                    systems: vec![System {
                        id: "bench".into(),
                        domain: "bench.gov.kz".into(),
                        servers: vec![CLIENT.into()],
                        owner: "it@bench.gov.kz".into(),
                        // A departmental server with a high declared baseline: the guard stays quiet.
                        baseline: Baseline {
                            messages: 1 << 24,
                            recipients: 1 << 24,
                        },
                    }],
                };
                let mut cfg = Config::new("ugem.bench", registry);
                cfg.routes.insert("*".into(), sink_addr);
                cfg.queue_poll = Duration::from_millis(2);
                let addr = start_relay(cfg, [127, 0, 0, 1], Some(Disk::Dir(spool)))
                    .await
                    .expect("the relay starts");
                atx.send(addr).expect("main waits");
                std::future::pending::<()>().await;
            })
        });
        arx.recv().expect("the relay starts")
    } else {
        args.get(2)
            .and_then(|a| a.parse().ok())
            .expect("usage: smtp_load external HOST:PORT --sink-port P")
    };
    target_tx.send(target).expect("the load waits");
    let (accepted, delivered, elapsed) = load.join().expect("the load thread ends");
    let rate = delivered as f64 / elapsed.as_secs_f64();
    println!(
        "{mode}: {accepted} accepted, {delivered} delivered in {:.2} s = {rate:.0} msgs/s ({sessions} sessions)",
        elapsed.as_secs_f64()
    );
    std::process::exit(if delivered == messages { 0 } else { 1 });
}
