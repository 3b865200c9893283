//! HTTP/1.x requests (RFC 9112): the Host names the flow; a peer-to-peer client's request
//! (tracker announce, Gnutella's URN and queue headers, the clients' User-Agents: nDPI's
//! bittorrent.c, gnutella.c, edonkey.c) and SoftEther's `/vpnsvc/` (nDPI's softether.c)
//! are their classes, and so are MapleStory's patcher requests (nDPI's maplestory.c).

use super::super::classify::{Detection, Input, named};
use super::super::proto;
use super::super::sigs::Class;

pub fn http(i: &Input<'_>) -> Option<Detection> {
    let (method, target) = proto::http_request(i.b)?;
    let (sigs, b) = (i.sigs, i.b);
    let host = proto::http_header(b, b"Host").map(proto::host_only);
    let mut d = match host {
        Some(h) if !h.is_empty() => named(sigs, "http", h, false, false),
        _ => Detection {
            app: "http",
            ..Default::default()
        },
    };
    let ua = proto::http_header(b, b"User-Agent").unwrap_or(b"");
    let p2p = (target.starts_with(b"/announce") || target.starts_with(b"/scrape"))
        && proto::find(target, b"info_hash=").is_some()
        || target.starts_with(b"/uri-res/")
        || proto::http_header(b, b"X-Gnutella-Content-URN").is_some()
        || proto::http_header(b, b"X-Queue").is_some()
        || [
            "BitTorrent",
            "uTorrent",
            "Transmission",
            "qBittorrent",
            "Azureus",
            "libtorrent",
            "eMule",
            "Shareaza",
            "LimeWire",
            "FrostWire",
        ]
        .iter()
        .any(|c| proto::find(ua, c.as_bytes()).is_some());
    if p2p {
        d.class = Some(Class::P2p);
        d.app = "p2p-http";
    } else if maplestory(target, ua, host.unwrap_or(b"")) {
        d.class = Some(Class::Game);
        d.app = "maplestory";
    } else if target.starts_with(b"/vpnsvc/") {
        d.class = Some(Class::Vpn);
        d.app = "softether";
    } else if method == b"CONNECT" {
        d.app = "http-connect";
    }
    d.class.get_or_insert(Class::Other);
    super::tunnel::http_connect(&mut d);
    Some(d)
}

/// MapleStory's updates (nDPI's maplestory.c): `GET /maple/patch…` from the `Patcher`
/// agent to a `patch.` host, or `GET /maplestory/…` from the `AspINet` agent.
fn maplestory(target: &[u8], ua: &[u8], host: &[u8]) -> bool {
    target.starts_with(b"/maple/patch") && ua == b"Patcher" && host.starts_with(b"patch.")
        || target.starts_with(b"/maplestory/") && ua == b"AspINet"
}
