//! The relay inside turmoil: STARTTLS with a test CA under the simulated clock, a message
//! relayed byte-identical, and certificate validity judged by simulated time.

use std::cell::RefCell;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use qaqpa_mailgw::guard::{Baseline, Registry, System};
use qaqpa_mailgw::loopback::{Sink, strip_received};
use qaqpa_mailgw::relay::{Config, Relay};
use qaqpa_mailgw::spool::Disk;
use qaqpa_mailgw::tls::TestPki;
use qaqpa_mailgw::wire::{BoxIo, LineReader, SimNet, dot_stuff, read_reply};
use qaqpa_sim::episode::Episode;

const GW: [u8; 4] = [10, 0, 0, 1];
const DEPT: [u8; 4] = [10, 0, 0, 2];
const MX: [u8; 4] = [10, 0, 0, 3];

const MESSAGE: &[u8] = b"From: <clerk@minfin.gov.kz>\r\nTo: <buh@partner.example>\r\nSubject: TLS\r\n\r\n.dot line\r\n\xd0\xa1\xd3\x99\xd0\xbb\xd0\xb5\xd0\xbc\r\n";

/// What the client saw: each step's reply code, or the error that ended the session.
fn run(start: &str) -> (Vec<String>, Vec<Vec<u8>>) {
    let ep = Episode::new(start.parse().unwrap(), 7, "tls", Duration::from_secs(60));
    let mut sim = ep.builder().build();
    let pki = TestPki::new("ugem.sts.kz").unwrap();
    let registry = Registry {
        systems: vec![System {
            id: "mof".into(),
            domain: "minfin.gov.kz".into(),
            servers: vec![IpAddr::from(DEPT)],
            owner: "it@minfin.gov.kz".into(),
            baseline: Baseline::default(),
        }],
    };
    let mut cfg = Config::new("ugem.sts.kz", registry);
    cfg.routes.insert("*".into(), SocketAddr::from((MX, 25)));
    cfg.tls = Some(pki.server.clone());
    let disk = Disk::default();
    sim.host(IpAddr::from(GW), move || {
        let (cfg, disk) = (cfg.clone(), disk.clone());
        async move {
            let l = turmoil::net::TcpListener::bind("0.0.0.0:25").await?;
            Relay::boot(SimNet, cfg, disk).run(l).await?;
            Ok(())
        }
    });
    let sink = Sink::default();
    let got = sink.got.clone();
    sim.host(IpAddr::from(MX), move || {
        let sink = sink.clone();
        async move {
            let l = turmoil::net::TcpListener::bind("0.0.0.0:25").await?;
            while let Ok((s, _)) = l.accept().await {
                let sink = sink.clone();
                tokio::task::spawn_local(async move {
                    let _ = sink.session(s).await;
                });
            }
            Ok(())
        }
    });
    let seen = Rc::new(RefCell::new(Vec::new()));
    let log = seen.clone();
    let client = pki.client();
    sim.client(IpAddr::from(DEPT), async move {
        let t = Duration::from_secs(10);
        let note = |s: String| log.borrow_mut().push(s);
        let s = turmoil::net::TcpStream::connect(SocketAddr::from((GW, 25))).await?;
        let mut c: LineReader<BoxIo> = LineReader::new(Box::new(s));
        note(format!(
            "greeting {}",
            read_reply(&mut c, t).await.map(|r| r.code).unwrap_or(0)
        ));
        c.write(b"EHLO mail.minfin.gov.kz\r\n").await?;
        let e = read_reply(&mut c, t).await.expect("EHLO answered");
        note(format!(
            "starttls offered {}",
            e.lines.iter().any(|l| l == "STARTTLS")
        ));
        c.write(b"STARTTLS\r\n").await?;
        note(format!(
            "STARTTLS {}",
            read_reply(&mut c, t).await.map(|r| r.code).unwrap_or(0)
        ));
        let name = rustls::pki_types::ServerName::try_from("ugem.sts.kz").unwrap();
        let tls = tokio_rustls::TlsConnector::from(Arc::clone(&client))
            .connect(name, c.into_inner())
            .await;
        let tls = match tls {
            Ok(s) => s,
            Err(e) => {
                note(format!("handshake failed: {e}"));
                return Ok(());
            }
        };
        let mut c: LineReader<BoxIo> = LineReader::new(Box::new(tls));
        c.write(b"EHLO mail.minfin.gov.kz\r\n").await?;
        let e = read_reply(&mut c, t).await.expect("EHLO under TLS");
        note(format!(
            "starttls offered again {}",
            e.lines.iter().any(|l| l == "STARTTLS")
        ));
        for cmd in [
            "MAIL FROM:<clerk@minfin.gov.kz>\r\n",
            "RCPT TO:<buh@partner.example>\r\n",
            "DATA\r\n",
        ] {
            c.write(cmd.as_bytes()).await?;
            note(format!(
                "{} {}",
                cmd.split(':').next().unwrap().trim(),
                read_reply(&mut c, t).await.map(|r| r.code).unwrap_or(0)
            ));
        }
        c.write(&dot_stuff(MESSAGE)).await?;
        note(format!(
            "end of data {}",
            read_reply(&mut c, t).await.map(|r| r.code).unwrap_or(0)
        ));
        tokio::time::sleep(Duration::from_secs(5)).await;
        Ok(())
    });
    sim.run().unwrap();
    let seen = seen.borrow().clone();
    let got = got.borrow().iter().map(|r| r.data.clone()).collect();
    (seen, got)
}

#[test]
fn starttls_then_a_message_relayed_byte_identical() {
    let (seen, got) = run("2025-06-03T05:00:00Z");
    assert_eq!(
        seen,
        [
            "greeting 220",
            "starttls offered true",
            "STARTTLS 220",
            "starttls offered again false",
            "MAIL FROM 250",
            "RCPT TO 250",
            "DATA 354",
            "end of data 250"
        ],
    );
    assert_eq!(got.len(), 1, "delivered once");
    assert!(got[0].starts_with(b"Received: from mail.minfin.gov.kz"));
    assert_eq!(strip_received(&got[0]), MESSAGE);
}

#[test]
fn certificate_validity_follows_the_simulated_clock() {
    // rcgen's certificates are valid from 1975: a world in 1971 must refuse them.
    let (seen, got) = run("1971-06-01T00:00:00Z");
    assert!(
        seen.last().is_some_and(
            |s| s.contains("handshake failed") && s.contains("not valid yet")
                || s.contains("NotValidYet")
        ),
        "{seen:?}"
    );
    assert!(got.is_empty());
}
