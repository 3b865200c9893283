//! The reference device between the harness's wires: what crosses it, judged at the taps
//! and at the harness's ends, never from the device's account (its counters are read only to
//! show that bad input was counted, not carried).

use std::net::SocketAddr;

use jiff::{SignedDuration, Timestamp};
use qaqpa_gateway::device::{BOOT_TIME, ReferenceDevice};
use qaqpa_sim::ipstack::{self, IpStack};
use qaqpa_sim::packetnet::{self, PacketDevice, PolicyAct, Port, ROUTER_MAC};
use qaqpa_sim::stream::StreamApp;
use qaqpa_sim::trace::{Event, StreamSeen};
use qaqpa_sim::wire::{self, PacketWorld, TapFrame};

fn t0() -> Timestamp {
    "2025-06-02T05:00:00Z".parse().unwrap()
}

/// A TLS ClientHello record naming `sni` (RFC 8446 §4.1.2 layout, one server_name).
fn client_hello(sni: &str) -> Vec<u8> {
    let name = sni.as_bytes();
    let mut sn = Vec::new();
    sn.extend_from_slice(&((name.len() + 3) as u16).to_be_bytes());
    sn.push(0);
    sn.extend_from_slice(&(name.len() as u16).to_be_bytes());
    sn.extend_from_slice(name);
    let mut ext = vec![0, 0];
    ext.extend_from_slice(&(sn.len() as u16).to_be_bytes());
    ext.extend_from_slice(&sn);
    let mut body = vec![3, 3];
    body.extend_from_slice(&[0x5a; 32]);
    body.push(0);
    body.extend_from_slice(&[0, 4, 0x13, 0x01, 0xc0, 0x2f, 1, 0]);
    body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    body.extend_from_slice(&ext);
    let mut hs = vec![1, 0, (body.len() >> 8) as u8, body.len() as u8];
    hs.extend_from_slice(&body);
    let mut rec = vec![0x16, 3, 1, (hs.len() >> 8) as u8, hs.len() as u8];
    rec.extend_from_slice(&hs);
    rec
}

/// Says its lines one at a time, each after hearing `wait` more bytes from the peer.
struct Script {
    lines: Vec<Vec<u8>>,
    next: usize,
    wait: usize,
    heard: usize,
    server: bool,
}

impl Script {
    fn client(lines: Vec<Vec<u8>>, wait: usize) -> Box<dyn StreamApp> {
        Box::new(Script {
            lines,
            next: 0,
            wait,
            heard: 0,
            server: false,
        })
    }
    fn server(lines: Vec<Vec<u8>>, wait: usize) -> Box<dyn StreamApp> {
        Box::new(Script {
            lines,
            next: 0,
            wait,
            heard: 0,
            server: true,
        })
    }
    /// Every line whose turn has come (with `wait` 0, all of them at once).
    fn take(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        while self.next < self.lines.len() && self.heard >= self.next * self.wait {
            self.next += 1;
            out.extend_from_slice(&self.lines[self.next - 1]);
        }
        out
    }
}

impl StreamApp for Script {
    fn on_open(&mut self, _: Timestamp) -> Vec<u8> {
        if self.server { Vec::new() } else { self.take() }
    }
    fn on_data(&mut self, _: Timestamp, data: &[u8]) -> Vec<u8> {
        self.heard += data.len();
        if self.server {
            // a server answers each `wait` bytes it heard with its next line
            if self.heard >= (self.next + 1) * self.wait && self.next < self.lines.len() {
                self.next += 1;
                return self.lines[self.next - 1].clone();
            }
            return Vec::new();
        }
        self.take()
    }
    fn on_close(&mut self, _: Timestamp, _: bool) {}
    fn finished(&self) -> bool {
        self.next >= self.lines.len() && (self.server || self.heard >= self.lines.len() * self.wait)
    }
}

struct Run {
    streams: Vec<StreamSeen>,
    taps: Vec<TapFrame>,
}

impl Run {
    fn stream(&self, end: &str, flow: &str) -> Option<&StreamSeen> {
        self.streams.iter().find(|s| s.end == end && s.flow == flow)
    }
}

fn run(device: ReferenceDevice, setup: impl FnOnce(&mut PacketWorld), secs: i64) -> Run {
    let mut w = PacketWorld::new(Box::new(device), t0(), 5);
    setup(&mut w);
    let mut seen = w.run_until(t0() + SignedDuration::from_secs(secs));
    let (rest, taps, _) = w.finish();
    seen.extend(rest);
    Run {
        streams: seen
            .into_iter()
            .filter_map(|(_, _, e)| match e {
                Event::Stream(s) => Some(s),
                _ => None,
            })
            .collect(),
        taps,
    }
}

const CLIENT: &str = "10.50.0.11:50001";

fn tls_flow(w: &mut PacketWorld, sni: &str, server: &str, rounds: usize) {
    let server: SocketAddr = server.parse().unwrap();
    let mut lines = vec![client_hello(sni)];
    lines.extend((1..rounds).map(|k| vec![k as u8; 700]));
    w.serve(
        server,
        Box::new(move |_| {
            Some((
                "tls".to_string(),
                Script::server(vec![vec![0x16; 900]; rounds], 1),
            ))
        }),
    );
    w.connect_at(
        t0(),
        CLIENT.parse().unwrap(),
        server,
        "tls",
        Script::client(lines, 900),
    );
}

fn counts(r: &Run, server: &str) -> std::collections::BTreeMap<Port, wire::PortCount> {
    wire::count_flow(
        &r.taps,
        ipstack::TCP,
        CLIENT.parse().unwrap(),
        server.parse().unwrap(),
    )
}

#[test]
fn an_exempt_bank_is_spliced_byte_for_byte() {
    let r = run(
        ReferenceDevice::new(&[], 1),
        |w| tls_flow(w, "online.homebank.kz", "203.0.113.40:443", 4),
        60,
    );
    let client = r.stream("client", "tls").expect("the client reported");
    let server = r.stream("server", "tls").expect("the origin was reached");
    let hello = client_hello("online.homebank.kz").len() as u64;
    assert_eq!(server.received, hello + 3 * 700, "{r:?}", r = r.streams);
    assert_eq!(client.received, 4 * 900);
    let c = counts(&r, "203.0.113.40:443");
    assert_eq!(
        c[&Port::Inside].client_bytes,
        c[&Port::OutsideMain].client_bytes
    );
    assert_eq!(c[&Port::OutsideBackup], wire::PortCount::default());
}

#[test]
fn a_vpn_name_on_443_is_reset_and_nothing_reaches_outside() {
    let r = run(
        ReferenceDevice::new(&[], 1),
        |w| tls_flow(w, "vpn-api.proton.me", "203.0.113.41:443", 4),
        60,
    );
    let client = r.stream("client", "tls").unwrap();
    assert_eq!(client.how, "reset", "{client:?}");
    assert!(r.stream("server", "tls").is_none(), "no origin connection");
    let c = counts(&r, "203.0.113.41:443");
    assert_eq!(c[&Port::OutsideMain].client_frames, 0);
    assert_eq!(c[&Port::OutsideBackup].client_frames, 0);
}

fn ssh(w: &mut PacketWorld, src: &str) {
    let server: SocketAddr = "203.0.113.22:22".parse().unwrap();
    let mut lines = vec![b"SSH-2.0-OpenSSH_9.2\r\n".to_vec()];
    lines.extend((1..30).map(|k| vec![k as u8; 500]));
    w.serve(
        server,
        Box::new(|_| {
            Some((
                "ssh".to_string(),
                Script::server(
                    std::iter::once(b"SSH-2.0-OpenSSH_9.2\r\n".to_vec())
                        .chain((1..30).map(|_| vec![7; 300]))
                        .collect(),
                    1,
                ),
            ))
        }),
    );
    w.connect_at(
        t0(),
        src.parse().unwrap(),
        server,
        "ssh",
        Script::client(lines, 0),
    );
}

#[test]
fn remote_access_is_blocked_after_its_first_bytes_and_passes_when_exempted() {
    let blocked = run(ReferenceDevice::new(&[], 1), |w| ssh(w, CLIENT), 60);
    let c = counts(&blocked, "203.0.113.22:22");
    assert!(c[&Port::Inside].client_bytes > 10_000, "{c:?}");
    assert!(
        c[&Port::OutsideMain].client_bytes < 1_000,
        "only the banner may pass: {c:?}"
    );
    let exempt = run(
        ReferenceDevice::new(&[], 1),
        |w| {
            w.policy_at(
                t0(),
                PolicyAct::Catalogue {
                    organisation: "ministry".into(),
                    prefixes: vec!["10.50.0.0/16".into()],
                },
            );
            w.policy_at(
                t0(),
                PolicyAct::Exemption {
                    organisation: "ministry".into(),
                    class: "remote-access".into(),
                    sources: vec![],
                },
            );
            ssh(w, CLIENT)
        },
        60,
    );
    let server = exempt.stream("server", "ssh").unwrap();
    assert_eq!(server.received, 21 + 29 * 500);
}

/// Exempted, then restarted: the exemption is still in force afterwards; with the
/// `ugia-exemptions-lost-on-restart` defect it is not.
#[test]
fn a_restart_keeps_the_policy_unless_the_defect_loses_exemptions() {
    for (defects, passes) in [
        (&[][..], true),
        (&["ugia-exemptions-lost-on-restart"][..], false),
    ] {
        let r = run(
            ReferenceDevice::new(defects, 1),
            |w| {
                w.policy_at(
                    t0(),
                    PolicyAct::Exemption {
                        organisation: "ministry".into(),
                        class: "remote-access".into(),
                        sources: vec![],
                    },
                );
                w.policy_at(
                    t0(),
                    PolicyAct::Catalogue {
                        organisation: "ministry".into(),
                        prefixes: vec!["10.50.0.0/16".into()],
                    },
                );
                w.restart_at(t0() + SignedDuration::from_secs(1));
                let server: SocketAddr = "203.0.113.22:22".parse().unwrap();
                let mut lines = vec![b"SSH-2.0-OpenSSH_9.2\r\n".to_vec()];
                lines.extend((1..30).map(|k| vec![k as u8; 500]));
                w.serve(
                    server,
                    Box::new(|_| {
                        Some(("ssh".to_string(), Script::server(vec![vec![7; 300]; 30], 1)))
                    }),
                );
                w.connect_at(
                    t0() + BOOT_TIME + SignedDuration::from_secs(2),
                    CLIENT.parse().unwrap(),
                    server,
                    "ssh",
                    Script::client(lines, 1),
                );
            },
            90,
        );
        let got = r.stream("server", "ssh").map_or(0, |s| s.received);
        assert_eq!(got == 21 + 29 * 500, passes, "{defects:?}: {got}");
    }
}

#[test]
fn with_main_cut_sessions_leave_on_backup_and_the_no_failover_defect_keeps_to_main() {
    for (defects, backup) in [(&[][..], true), (&["ugia-no-failover"][..], false)] {
        let r = run(
            ReferenceDevice::new(defects, 1),
            |w| {
                w.carrier_at(t0(), Port::OutsideMain, false);
                tls_flow(w, "online.homebank.kz", "203.0.113.40:443", 2);
            },
            60,
        );
        let c = counts(&r, "203.0.113.40:443");
        assert_eq!(
            c[&Port::OutsideBackup].client_bytes > 0,
            backup,
            "{defects:?}"
        );
        assert_eq!(r.stream("server", "tls").is_some(), backup);
    }
}

/// A ClientHello in 3-byte segments still reaches a verdict: the exempt bank passes, the
/// VPN name is reset; the origin gets the whole hello in one piece of stream.
#[test]
fn a_client_hello_split_across_many_segments() {
    for (sni, passes) in [("online.homebank.kz", true), ("vpn-api.proton.me", false)] {
        let mut dev = ReferenceDevice::new(&[], 1);
        let mut client = IpStack::new(9, Timestamp::UNIX_EPOCH);
        let mut origin = IpStack::new(10, Timestamp::UNIX_EPOCH);
        let c: SocketAddr = CLIENT.parse().unwrap();
        let s: SocketAddr = "203.0.113.40:443".parse().unwrap();
        let h = client.connect(c, s).unwrap();
        let l = origin.listen(s).unwrap();
        let hello = client_hello(sni);
        let mut sent = 0;
        let mut got = Vec::new();
        let mut reset_seen = false;
        for ms in 0..3000 {
            let at = t0() + SignedDuration::from_millis(ms);
            if client.tcp(h).can_send() && sent < hello.len() && client.tcp(h).send_queue() == 0 {
                let end = (sent + 3).min(hello.len());
                client.tcp(h).send_slice(&hello[sent..end]).unwrap();
                sent = end;
            }
            for p in client.poll(at) {
                let f = packetnet::ethernet(ROUTER_MAC, packetnet::mac_of(c.ip()), &p);
                dev.receive(at, Port::Inside, &f);
            }
            for p in origin.poll(at) {
                let f = packetnet::ethernet(packetnet::mac_of(c.ip()), ROUTER_MAC, &p);
                dev.receive(at, Port::OutsideMain, &f);
            }
            for e in dev.poll(at) {
                let (ip, _, _) = packetnet::ip_of_ethernet(&e.frame).unwrap();
                let hd = ipstack::headers(ip).unwrap();
                if e.port == Port::Inside {
                    reset_seen |= hd.flags & ipstack::RST != 0;
                    client.input(ip.to_vec());
                } else {
                    origin.input(ip.to_vec());
                }
            }
            while origin.tcp(l).can_recv() {
                let mut b = [0u8; 4096];
                let n = origin.tcp(l).recv_slice(&mut b).unwrap();
                got.extend_from_slice(&b[..n]);
            }
        }
        assert_eq!(sent, hello.len(), "{:?}", dev.proxy_counters());
        if passes {
            assert_eq!(got, hello, "{sni}: {:?}", dev.proxy_counters());
        } else {
            assert!(got.is_empty() && reset_seen, "{sni}");
        }
    }
}

/// Garbage on every port: short frames, frames of random bytes, IP headers that lie about
/// their lengths, TCP to 443 with a data offset past the end. Nothing panics, nothing of it
/// is carried, and it is counted.
#[test]
fn garbage_on_every_port_is_counted_and_dropped() {
    let mut dev = ReferenceDevice::new(&[], 1);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut rnd = |n: usize| -> Vec<u8> {
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect()
    };
    let mut frames: Vec<Vec<u8>> = vec![vec![], vec![1, 2, 3], vec![0; 13]];
    for n in [14, 20, 34, 54, 60, 200, 1514] {
        let mut f = rnd(n);
        if n >= 14 {
            f[12] = 0x08;
            f[13] = 0x00; // claims IPv4
        }
        frames.push(f);
    }
    // an IPv4 header whose total length exceeds the frame, and one whose TCP offset lies
    let mut lying = packetnet::ethernet(ROUTER_MAC, [2, 0, 0, 0, 0, 1], &[0u8; 40]);
    lying[14] = 0x45;
    lying[16] = 0x05;
    lying[17] = 0xdc;
    frames.push(lying.clone());
    let mut tcp443 = lying;
    tcp443[16] = 0;
    tcp443[17] = 40;
    tcp443[23] = 6;
    tcp443[14 + 22] = 0x01;
    tcp443[14 + 23] = 0xbb;
    tcp443[14 + 32] = 0xf0; // data offset 60 bytes, beyond the packet
    frames.push(tcp443);
    let mut at = t0();
    for f in &frames {
        for port in Port::ALL {
            dev.receive(at, port, f);
            for e in dev.poll(at) {
                // only non-IP frames may be bridged, and only as they came
                assert!(packetnet::ip_of_ethernet(&e.frame).is_none());
                assert!(frames.contains(&e.frame));
            }
            at += SignedDuration::from_millis(1);
        }
    }
    assert!(dev.counters.malformed >= 3 * 10, "{:?}", dev.counters);
}
