//! The policy's decisions on flows the test builds: exemptions last one calendar year, VPN
//! channels open exactly their tuple, exempt categories pass through, the catalogue blocks
//! after its deadline, and the flow table's bound is kept and counted.

use qaqpa_gateway::dataplane::policy::micros;
use qaqpa_gateway::dataplane::{Class, Config, Disposition, Engine, Policy, Signatures, Verdict};

fn ipv4_udp(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let total = 28 + payload.len();
    let mut p = vec![
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        0,
        0,
        0,
        0,
        64,
        17,
        0,
        0,
    ];
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    p.extend_from_slice(&sport.to_be_bytes());
    p.extend_from_slice(&dport.to_be_bytes());
    p.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(payload);
    p
}

fn ipv4_tcp(
    src: [u8; 4],
    dst: [u8; 4],
    sport: u16,
    dport: u16,
    seq: u32,
    payload: &[u8],
) -> Vec<u8> {
    let total = 40 + payload.len();
    let mut p = vec![
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        0,
        0,
        0,
        0,
        64,
        6,
        0,
        0,
    ];
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    p.extend_from_slice(&sport.to_be_bytes());
    p.extend_from_slice(&dport.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&[0, 0, 0, 0, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0]);
    p.extend_from_slice(payload);
    p
}

fn wg_init() -> Vec<u8> {
    let mut b = vec![1, 0, 0, 0];
    b.resize(148, 0x5a);
    b
}

fn hello(sni: &str) -> Vec<u8> {
    let n = sni.as_bytes();
    let mut ext = vec![0, 0];
    ext.extend_from_slice(&((n.len() + 5) as u16).to_be_bytes());
    ext.extend_from_slice(&((n.len() + 3) as u16).to_be_bytes());
    ext.push(0);
    ext.extend_from_slice(&(n.len() as u16).to_be_bytes());
    ext.extend_from_slice(n);
    let mut body = vec![3, 3];
    body.extend_from_slice(&[1; 32]);
    body.extend_from_slice(&[0, 0, 2, 0x13, 1, 1, 0]);
    body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    body.extend_from_slice(&ext);
    let mut r = vec![
        0x16,
        3,
        1,
        0,
        0,
        1,
        0,
        (body.len() >> 8) as u8,
        body.len() as u8,
    ];
    let l = body.len() + 4;
    r[3] = (l >> 8) as u8;
    r[4] = l as u8;
    r.extend_from_slice(&body);
    r
}

fn at(s: &str) -> u64 {
    micros(s.parse().unwrap())
}

fn engine(p: impl FnOnce(&mut Policy)) -> Engine {
    let sigs = Signatures::builtin();
    let mut policy = Policy::new(&sigs);
    p(&mut policy);
    Engine::new(
        sigs,
        policy,
        Config {
            max_flows: 1024,
            ..Config::default()
        },
    )
}

#[test]
fn a_remote_access_exemption_lasts_one_calendar_year() {
    let mut e = engine(|p| {
        p.add_catalogue("ministry", "10.1.0.0/16").unwrap();
        p.add_exemption(
            "ministry",
            Class::RemoteAccess,
            &[],
            "2025-03-01T05:00:00Z".parse().unwrap(),
            None,
        )
        .unwrap();
    });
    let ssh = ipv4_tcp(
        [10, 1, 0, 5],
        [198, 51, 100, 1],
        40000,
        22,
        1,
        b"SSH-2.0-OpenSSH_9.2\r\n",
    );
    assert_eq!(
        e.process(at("2026-02-28T05:00:00Z"), 101, &ssh),
        Disposition::Forward
    );
    let other_org = ipv4_tcp(
        [10, 9, 0, 5],
        [198, 51, 100, 1],
        40001,
        22,
        1,
        b"SSH-2.0-OpenSSH_9.2\r\n",
    );
    assert_eq!(
        e.process(at("2026-02-28T05:00:00Z"), 101, &other_org),
        Disposition::Drop
    );
    let late = ipv4_tcp(
        [10, 1, 0, 5],
        [198, 51, 100, 1],
        40002,
        22,
        1,
        b"SSH-2.0-OpenSSH_9.2\r\n",
    );
    assert_eq!(
        e.process(at("2026-03-01T05:00:01Z"), 101, &late),
        Disposition::Drop
    );
    let r = e.finish();
    assert_eq!(
        r.iter()
            .filter(|f| f.verdict == Verdict::Allow && f.clause == "ugia-15-1")
            .count(),
        1
    );
}

#[test]
fn a_vpn_channel_opens_exactly_its_tuple() {
    let t0 = "2025-05-01T05:00:00Z".parse().unwrap();
    let mut e = engine(|p| {
        p.add_vpn(None, "10.2.0.5", "198.51.100.7", 51820, "udp", t0, None)
            .unwrap()
    });
    let now = at("2025-06-01T05:00:00Z");
    let exact = ipv4_udp([10, 2, 0, 5], [198, 51, 100, 7], 5000, 51820, &wg_init());
    let other_port = ipv4_udp([10, 2, 0, 5], [198, 51, 100, 7], 5001, 443, &wg_init());
    let other_peer = ipv4_udp([10, 2, 0, 5], [198, 51, 100, 8], 5002, 51820, &wg_init());
    assert_eq!(e.process(now, 101, &exact), Disposition::Forward);
    assert_eq!(e.process(now, 101, &other_port), Disposition::Drop);
    assert_eq!(e.process(now, 101, &other_peer), Disposition::Drop);
}

#[test]
fn banking_passes_through_and_other_tls_is_inspected() {
    let mut e = engine(|_| {});
    let now = at("2025-06-01T05:00:00Z");
    let bank = ipv4_tcp(
        [10, 3, 0, 1],
        [203, 0, 113, 1],
        40000,
        443,
        1,
        &hello("online.homebank.kz"),
    );
    let news = ipv4_tcp(
        [10, 3, 0, 1],
        [203, 0, 113, 2],
        40001,
        443,
        1,
        &hello("www.bbc.com"),
    );
    assert_eq!(e.process(now, 101, &bank), Disposition::Forward);
    assert_eq!(e.process(now, 101, &news), Disposition::Inspect);
    let r = e.finish();
    let b = r
        .iter()
        .find(|f| f.name.as_deref() == Some("online.homebank.kz"))
        .unwrap();
    assert_eq!(
        (b.verdict, b.category.as_deref()),
        (Verdict::PassThrough, Some("finance"))
    );
}

#[test]
fn uncatalogued_sources_are_flagged_then_blocked_after_the_term() {
    let mut e = engine(|p| {
        p.add_catalogue("ministry", "10.4.0.0/16").unwrap();
        p.uncatalogued_block_from_us = Some(at("2025-09-08T19:00:00Z"));
    });
    let req = b"GET / HTTP/1.1\r\nHost: www.bbc.com\r\n\r\n";
    let before = ipv4_tcp([10, 99, 0, 7], [203, 0, 113, 9], 40000, 80, 1, req);
    let after = ipv4_tcp([10, 99, 0, 7], [203, 0, 113, 9], 40001, 80, 1, req);
    let listed = ipv4_tcp([10, 4, 0, 7], [203, 0, 113, 9], 40002, 80, 1, req);
    assert_eq!(
        e.process(at("2025-09-03T05:00:00Z"), 101, &before),
        Disposition::Forward
    );
    assert_eq!(
        e.process(at("2025-09-10T05:00:00Z"), 101, &after),
        Disposition::Drop
    );
    assert_eq!(
        e.process(at("2025-09-10T05:00:00Z"), 101, &listed),
        Disposition::Forward
    );
    assert_eq!(e.stats.uncatalogued_flows, 2);
}

#[test]
fn a_full_flow_table_drops_new_flows_and_counts_them() {
    let sigs = Signatures::builtin();
    let mut e = Engine::new(
        sigs.clone(),
        Policy::new(&sigs),
        Config {
            max_flows: 8,
            ..Config::default()
        },
    );
    for port in 0..20u16 {
        e.process(
            1,
            101,
            &ipv4_udp([10, 5, 0, 1], [198, 51, 100, 1], 1000 + port, 9999, b"x"),
        );
    }
    assert_eq!(e.table().len(), 8);
    assert_eq!(e.stats.table_full, 12);
    // once the idle timeout has passed, old flows make room again
    let later = 1 + e.cfg.udp_idle_us + 1;
    assert_ne!(
        e.process(
            later,
            101,
            &ipv4_udp([10, 5, 0, 2], [198, 51, 100, 1], 7, 9999, b"x")
        ),
        Disposition::Drop
    );
}

/// Precedence (issue 14): a name listed with a blocked class is never passed through
/// because it (or its parent) is also in an exempt category: vpn-api.proton.me is VPN
/// though proton.me is privacy, which ugia-20 passes through untouched.
#[test]
fn a_blocked_class_outranks_an_exempt_category() {
    let sigs = Signatures::builtin();
    let privacy = sigs.category_id("privacy").expect("a privacy list");
    let mail = sigs.name(b"mail.proton.me");
    assert_eq!((mail.class, mail.category), (None, Some(privacy)));
    let vpn = sigs.name(b"vpn-api.proton.me");
    assert_eq!((vpn.class, vpn.category), (Some(Class::Vpn), Some(privacy)));
    let mut e = engine(|_| {});
    let now = at("2025-06-01T05:00:00Z");
    let mail = ipv4_tcp(
        [10, 3, 0, 1],
        [203, 0, 113, 7],
        40010,
        443,
        1,
        &hello("mail.proton.me"),
    );
    let api = ipv4_tcp(
        [10, 3, 0, 1],
        [203, 0, 113, 8],
        40011,
        443,
        1,
        &hello("vpn-api.proton.me"),
    );
    assert_eq!(e.process(now, 101, &mail), Disposition::Forward);
    assert_eq!(e.process(now, 101, &api), Disposition::Drop);
    let r = e.finish();
    let v = r
        .iter()
        .find(|f| f.name.as_deref() == Some("vpn-api.proton.me"))
        .unwrap();
    assert_eq!((v.class, v.verdict), (Class::Vpn, Verdict::Block));
}

/// Tunnels and proxies are blocked by default: a SOCKS 5 session on any port.
#[test]
fn a_socks5_session_is_a_blocked_tunnel() {
    let mut e = engine(|_| {});
    let now = at("2025-06-01T05:00:00Z");
    let (c, s) = ([10, 3, 0, 9], [203, 0, 113, 9]);
    e.process(now, 101, &ipv4_tcp(c, s, 40020, 7000, 1, &[5, 1, 0]));
    let d = e.process(now, 101, &ipv4_tcp(s, c, 7000, 40020, 1, &[5, 0]));
    assert_eq!(d, Disposition::Drop);
    let r = e.finish();
    assert_eq!(
        (r[0].class, r[0].app, r[0].verdict),
        (Class::Tunnel, "socks5", Verdict::Block)
    );
}
