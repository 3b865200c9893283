//! Hostile and broken calls against the bus over real sockets: each gets an ErrorInfo fault
//! naming what is wrong (or, for a request that never finishes, a closed connection) within a
//! bounded time, and the bus keeps serving afterwards.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use qaqpa_esb::bus::{Gateway, Registry, Settings, Shared};

fn start() -> SocketAddr {
    let reg = qaqpa_esb::config::read_registry(
        r#"
[[system]]
id = "fund"
state = true
[[service]]
id = "S"
owner = "fund"
provider = "http://127.0.0.1:9/none"
mode = "sync"
published = ["inner"]
"#,
        "test",
    )
    .unwrap();
    let _: &Registry = &reg;
    let settings = Settings {
        head_timeout: Duration::from_secs(1),
        body_timeout: Duration::from_secs(1),
        ..Settings::default()
    };
    let shared = Shared::new(reg, settings, 1, Arc::new(jiff::Timestamp::now));
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || qaqpa_esb::http::serve_tcp(shared, Gateway::Inner, l, 1));
    addr
}

/// Sends `head` and `body`, reads until the server closes or 10 s pass; returns what came
/// and how long it took.
fn raw(addr: SocketAddr, bytes: &[u8]) -> (String, Duration) {
    let t = Instant::now();
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = s.write_all(bytes);
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                out.extend_from_slice(&buf[..n]);
                // One response is enough: stop once its body is complete.
                let text = String::from_utf8_lossy(&out);
                if let Some(i) = text.find("\r\n\r\n")
                    && let Some(len) = text[..i].lines().find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length: ")
                            .map(|v| v.trim().parse::<usize>().unwrap())
                    })
                    && out.len() >= i + 4 + len
                {
                    break;
                }
            }
        }
    }
    (String::from_utf8_lossy(&out).into_owned(), t.elapsed())
}

fn post(addr: SocketAddr, path: &str, body: &str) -> (String, Duration) {
    raw(
        addr,
        format!(
            "POST {path} HTTP/1.1\r\nHost: bus\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )
}

fn code(resp: &str) -> Option<String> {
    let i = resp.find("<errorCode>")? + "<errorCode>".len();
    let j = resp[i..].find('<')? + i;
    Some(resp[i..j].to_string())
}

const GOOD: &str = r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><t:SendMessage xmlns:t="http://bip.bee.kz/SyncChannel/v10/Types"><request><requestInfo><messageId>m</messageId><serviceId>S</serviceId><messageDate>2025-03-18T10:00:00Z</messageDate><sender><senderId>fund</senderId></sender></requestInfo><requestData/></request></t:SendMessage></s:Body></s:Envelope>"#;

#[test]
fn every_kind_of_bad_input_gets_its_fault_in_bounded_time() {
    let addr = start();
    let laughs = format!(
        r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">{}]><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>&lol9;</s:Body></s:Envelope>"#,
        (1..10)
            .map(|i| format!(
                "<!ENTITY lol{i} \"{}\">",
                format!(
                    "&lol{};",
                    if i == 1 {
                        String::new()
                    } else {
                        (i - 1).to_string()
                    }
                )
                .repeat(10)
            ))
            .collect::<String>()
    );
    let deep = GOOD.replace(
        "<requestData/>",
        &format!(
            "<requestData><data>{}{}</data></requestData>",
            "<x>".repeat(100_000),
            "</x>".repeat(100_000)
        ),
    );
    let cases: Vec<(&str, String, &str, &str)> = vec![
        (
            "malformed XML",
            GOOD.replace("</request>", ""),
            "/SyncChannel/v10",
            "SHEP-100",
        ),
        (
            "not XML at all",
            "hello".into(),
            "/SyncChannel/v10",
            "SHEP-100",
        ),
        (
            "a SOAP 1.2 envelope",
            GOOD.replace(
                "http://schemas.xmlsoap.org/soap/envelope/",
                "http://www.w3.org/2003/05/soap-envelope",
            ),
            "/SyncChannel/v10",
            "SHEP-104",
        ),
        (
            "the operation in the wrong namespace",
            GOOD.replace("SyncChannel/v10/Types", "AsyncChannel/v10/Types"),
            "/SyncChannel/v10",
            "SHEP-105",
        ),
        (
            "a sync operation on the async channel",
            GOOD.to_string(),
            "/AsyncChannel/v10",
            "SHEP-105",
        ),
        (
            "a missing serviceId",
            GOOD.replace("<serviceId>S</serviceId>", ""),
            "/SyncChannel/v10",
            "SHEP-106",
        ),
        (
            "a missing sender",
            GOOD.replace("<sender><senderId>fund</senderId></sender>", ""),
            "/SyncChannel/v10",
            "SHEP-106",
        ),
        (
            "a bad date",
            GOOD.replace("2025-03-18T10:00:00Z", "soon"),
            "/SyncChannel/v10",
            "SHEP-107",
        ),
        ("deep nesting", deep, "/SyncChannel/v10", "SHEP-103"),
        (
            "entity expansion (billion laughs)",
            laughs,
            "/SyncChannel/v10",
            "SHEP-101",
        ),
        (
            "an external entity",
            r#"<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>"#.into(),
            "/SyncChannel/v10",
            "SHEP-101",
        ),
        (
            "an undeclared entity",
            GOOD.replace("<messageId>m", "<messageId>&e;m"),
            "/SyncChannel/v10",
            "SHEP-101",
        ),
        (
            "a wrong path",
            GOOD.to_string(),
            "/SyncChannel/v9",
            "SHEP-108",
        ),
    ];
    for (what, body, path, want) in cases {
        let (resp, took) = post(addr, path, &body);
        assert!(took < Duration::from_secs(5), "{what}: took {took:?}");
        assert_eq!(
            code(&resp).as_deref(),
            Some(want),
            "{what}: {}",
            &resp[..resp.len().min(400)]
        );
        assert!(resp.contains("soap:Fault"), "{what}");
    }

    // A declared body over the limit is refused before it is read.
    let (resp, took) = raw(
        addr,
        b"POST /SyncChannel/v10 HTTP/1.1\r\nHost: bus\r\nContent-Length: 104857600\r\n\r\n<s:Envelope",
    );
    assert!(
        resp.starts_with("HTTP/1.1 413") && code(&resp).as_deref() == Some("SHEP-102"),
        "{resp}"
    );
    assert!(took < Duration::from_secs(5));
    // A chunked body that grows past it is cut off at the limit.
    let mut chunked =
        b"POST /SyncChannel/v10 HTTP/1.1\r\nHost: bus\r\nTransfer-Encoding: chunked\r\n\r\n"
            .to_vec();
    let chunk = vec![b' '; 1 << 20];
    for _ in 0..6 {
        chunked.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        chunked.extend_from_slice(&chunk);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let (resp, _) = raw(addr, &chunked);
    assert_eq!(
        code(&resp).as_deref(),
        Some("SHEP-102"),
        "{}",
        &resp[..resp.len().min(300)]
    );

    // A body that never finishes: the connection is closed, without an answer, once the
    // body timeout (1 s here) is over.
    let (resp, took) = raw(
        addr,
        b"POST /SyncChannel/v10 HTTP/1.1\r\nHost: bus\r\nContent-Length: 1000\r\n\r\n<s:Envelope",
    );
    assert!(resp.is_empty(), "{resp}");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "{took:?}"
    );
    // A head that never finishes likewise (hyper answers 408 or closes).
    let (resp, took) = raw(addr, b"POST /SyncChannel/v10 HTTP/1.1\r\nHost: bu");
    assert!(
        resp.is_empty() || resp.starts_with("HTTP/1.1 408"),
        "{resp}"
    );
    assert!(took < Duration::from_secs(5), "{took:?}");

    // Still serving: the WSDL and a well-formed call (its provider is down: a fault saying so).
    let (resp, _) = raw(
        addr,
        b"GET /SyncChannel/v10?wsdl HTTP/1.1\r\nHost: bus\r\nConnection: close\r\n\r\n",
    );
    assert!(resp.starts_with("HTTP/1.1 200") && resp.contains("wsdl:definitions"));
    let (resp, _) = post(addr, "/SyncChannel/v10", GOOD);
    assert_eq!(
        code(&resp).as_deref(),
        Some("SHEP-202"),
        "fund has no connection to S: {resp}"
    );
}
