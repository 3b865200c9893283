//! The harness's TLS ends (a workstation inside, an origin outside) against the reference's
//! inspection relay, pumped in memory with no stack between them: what each end records of a
//! session the gateway inspects, of one it passes untouched, and of a workstation without the
//! UGIA root.

use std::sync::{Arc, Mutex};

use base64::Engine;
use qaqpa_gateway::inspect::{AuthorityFaults, Bump, BumpConfig, InspectionAuthority, Keys};
use qaqpa_scenarios::tls::{self, HarnessTls, OriginSite, PublicCa, SessionPlan, TlsClient};
use qaqpa_sim::jiff::Timestamp;
use qaqpa_sim::stream::{StreamApp, StreamRelay};
use qaqpa_sim::trace::{Event, TlsClientSeen, TlsOriginSeen, TlsOutcome};

fn t0() -> Timestamp {
    "2025-06-02T05:00:00Z".parse().unwrap()
}

/// Runs one connection to its end: the workstation's bytes go to the origin directly
/// (`relay` none: the gateway passes it) or through the relay, FINs follow each end's
/// `finished`, a failed relay resets both sides.
fn run(
    client: &mut dyn StreamApp,
    origin: &mut dyn StreamApp,
    mut relay: Option<&mut Bump>,
) -> (Vec<Event>, Vec<Event>) {
    let t = t0();
    let mut to_relay_or_origin = client.on_open(t);
    let mut origin_open = false;
    let (mut client_closed, mut origin_closed) = (false, false);
    let (mut client_fin, mut origin_fin) = (false, false);
    for _ in 0..10_000 {
        let mut moved = false;
        let mut for_origin = Vec::new();
        let mut for_client = Vec::new();
        if !to_relay_or_origin.is_empty() {
            moved = true;
            let bytes = std::mem::take(&mut to_relay_or_origin);
            match relay.as_deref_mut() {
                Some(r) => r.from_client(t, &bytes),
                None => for_origin = bytes,
            }
        }
        if let Some(r) = relay.as_deref_mut() {
            for_origin.extend(r.to_origin());
        }
        if !for_origin.is_empty() && !origin_closed {
            moved = true;
            if !origin_open {
                origin_open = true;
                let first = origin.on_open(t);
                assert!(first.is_empty(), "an origin waits for the client");
            }
            let back = origin.on_data(t, &for_origin);
            match relay.as_deref_mut() {
                Some(r) => r.from_origin(t, &back),
                None => for_client = back,
            }
        }
        if let Some(r) = relay.as_deref_mut() {
            for_client.extend(r.to_client());
            if r.failed().is_some() {
                if !client_closed {
                    client.on_close(t, true);
                    client_closed = true;
                }
                if origin_open && !origin_closed {
                    origin.on_close(t, true);
                    origin_closed = true;
                }
            }
        }
        if !for_client.is_empty() && !client_closed {
            moved = true;
            to_relay_or_origin = client.on_data(t, &for_client);
        }
        if !moved {
            // FINs: each end's close reaches the other once it has nothing more to send.
            if client.finished() && !client_fin {
                client_fin = true;
                moved = true;
                if origin_open && !origin_closed {
                    origin.on_close(t, false);
                    origin_closed = true;
                }
            }
            if origin.finished() && !origin_fin {
                origin_fin = true;
                moved = true;
                if !client_closed {
                    client.on_close(t, false);
                    client_closed = true;
                }
            }
            if !origin_open && client_fin && !client_closed {
                client.on_close(t, true);
                client_closed = true;
                moved = true;
            }
        }
        if !moved {
            break;
        }
    }
    (client.observations(), origin.observations())
}

struct World {
    /// The roots the STS announced, as the operator passed them on.
    book: tls::RootBook,
    shared: HarnessTls,
    ca: PublicCa,
    site: OriginSite,
    gateway: BumpConfig,
}

fn world(name: &str) -> World {
    let shared = HarnessTls::default();
    let mut ca = PublicCa::new(11, t0()).unwrap();
    let site = OriginSite::new(name, &mut ca, &shared, 3000).unwrap();
    let authority = Arc::new(Mutex::new(InspectionAuthority::new(
        Keys::Seeded(12),
        AuthorityFaults::default(),
    )));
    let gateway = BumpConfig::new(authority, &[ca.root().to_vec()], true).unwrap();
    let book = tls::RootBook::default();
    gateway.authority().lock().unwrap().root_der(t0()).unwrap();
    for (at, doc) in gateway.authority().lock().unwrap().take_notices() {
        book.add_notice(at, &doc);
    }
    World {
        book,
        shared,
        ca,
        site,
        gateway,
    }
}

fn ugia_root(w: &World) -> Vec<u8> {
    w.gateway
        .authority()
        .lock()
        .unwrap()
        .root_der(t0())
        .unwrap()
        .to_vec()
}

fn client(w: &World, session: &str, with_root: bool) -> TlsClient {
    TlsClient::new(
        SessionPlan {
            workstation: "ws".into(),
            session: session.into(),
            server_name: w.site.name.clone(),
            dst: "203.0.113.47".into(),
            dport: 443,
            trusted: vec![w.ca.root().to_vec()],
            ugia_roots: with_root.then(|| w.book.clone()),
        },
        &w.shared,
    )
}

fn seen(events: (Vec<Event>, Vec<Event>)) -> (TlsClientSeen, Option<TlsOriginSeen>) {
    let (c, o) = events;
    let [Event::TlsClient(c)] = c.as_slice() else {
        panic!("one client observation: {c:?}")
    };
    let o = match o.as_slice() {
        [Event::TlsOrigin(o)] => Some(o.clone()),
        [] => None,
        other => panic!("{other:?}"),
    };
    (c.clone(), o)
}

fn der(b64: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap()
}

#[test]
fn an_inspected_session_shows_a_minted_chain_and_relays_the_page() {
    let w = world("www.bbc.com");
    let mut c = client(&w, "ws/1", true);
    let mut o = w.site.accept("www.bbc.com/1".into(), &w.shared);
    let mut bump = Bump::new(&w.gateway);
    let (c, o) = seen(run(&mut c, &mut o, Some(&mut bump)));
    assert_eq!(c.outcome, TlsOutcome::Completed, "{}", c.error);
    assert!(bump.failed().is_none(), "{:?}", bump.failed());
    // The leaf shown was minted under the UGIA root, not the origin's own.
    let leaf = der(&c.chain[0]);
    assert_ne!(tls::sha256_hex(&leaf), w.site.chain()[0]);
    let root = ugia_root(&w);
    let (_, r) = x509_parser::parse_x509_certificate(&root).unwrap();
    let (_, l) = x509_parser::parse_x509_certificate(&leaf).unwrap();
    l.verify_signature(Some(r.public_key())).unwrap();
    assert!(c.trusted.contains(&tls::sha256_hex(&root)));
    // The page went through whole, and the origin got the request.
    let page = tls::answer("www.bbc.com", 3000);
    assert_eq!(c.received.bytes, page.len() as u64);
    assert_eq!(c.received.sha256, tls::sha256_hex(&page));
    let o = o.expect("the origin served the gateway's session");
    assert_eq!(o.request, "GET / HTTP/1.1");
    assert_eq!(
        o.received, c.sent,
        "the origin got the workstation's request unchanged"
    );
    assert_eq!(o.server_name.as_deref(), Some("www.bbc.com"));
    // Its TCP bytes were the gateway's own session, not the workstation's.
    assert_eq!(o.unchanged_from, None);
    assert!(w.shared.keylog.text().contains("CLIENT_TRAFFIC_SECRET_0 "));
}

#[test]
fn a_passed_session_shows_the_origins_own_chain_and_its_bytes_arrive_unchanged() {
    let w = world("online.homebank.kz");
    for with_root in [true, false] {
        let mut c = client(&w, if with_root { "ws/1" } else { "ws/2" }, with_root);
        let mut o = w.site.accept("homebank/1".into(), &w.shared);
        let (c, o) = seen(run(&mut c, &mut o, None));
        assert_eq!(c.outcome, TlsOutcome::Completed, "{}", c.error);
        assert_eq!(tls::sha256_hex(&der(&c.chain[0])), w.site.chain()[0]);
        let o = o.unwrap();
        assert_eq!(o.unchanged_from.as_deref(), Some(c.session.as_str()));
        assert_eq!(o.sent, c.received);
    }
}

#[test]
fn a_workstation_without_the_root_gets_a_certificate_error_on_an_inspected_site() {
    let w = world("www.bbc.com");
    let mut c = client(&w, "ws/1", false);
    let mut o = w.site.accept("bbc/1".into(), &w.shared);
    let mut bump = Bump::new(&w.gateway);
    let (c, o) = seen(run(&mut c, &mut o, Some(&mut bump)));
    assert_eq!(c.outcome, TlsOutcome::CertificateError);
    assert!(c.error.contains("UnknownIssuer"), "{}", c.error);
    assert_eq!(c.received.bytes, 0);
    assert!(!c.chain.is_empty(), "the chain it refused is recorded");
    // The gateway verified the origin first, so the origin saw a handshake but no request.
    let o = o.unwrap();
    assert!(o.handshake && o.request.is_empty(), "{o:?}");
}

#[test]
fn the_same_seeds_give_the_same_observations() {
    let once = || {
        let w = world("www.bbc.com");
        let mut c = client(&w, "ws/1", true);
        let mut o = w.site.accept("bbc/1".into(), &w.shared);
        let mut bump = Bump::new(&w.gateway);
        run(&mut c, &mut o, Some(&mut bump))
    };
    assert_eq!(once(), once());
}

#[test]
fn a_workstation_refuses_garbage_with_a_failed_session_not_a_panic() {
    let w = world("www.bbc.com");
    let mut c = client(&w, "ws/1", true);
    let _ = c.on_open(t0());
    let back = c.on_data(t0(), b"HTTP/1.1 400 Bad Request\r\n\r\n");
    let _ = back;
    c.on_close(t0(), false);
    let (c, _) = seen((c.observations(), vec![]));
    assert_eq!(c.outcome, TlsOutcome::Failed);
    assert!(!c.error.is_empty());
    // An origin given garbage records why.
    let mut o = w.site.accept("bbc/1".into(), &w.shared);
    let _ = o.on_open(t0());
    let _ = o.on_data(t0(), &[0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5]);
    o.on_close(t0(), false);
    let seen: [Event; 1] = o.observations().try_into().unwrap();
    let [Event::TlsOrigin(o)] = seen else {
        panic!("{seen:?}")
    };
    assert!(!o.handshake && !o.error.is_empty(), "{o:?}");
}
