//! nDPI's expected per-flow results shipped beside each corpus capture
//! (`X.pcap.flows.jsonl`), read by the corpus README's method: nDPI's category maps to a
//! policy class, and flows nDPI itself left `Unknown` or matched only by port or address are
//! don't-care. The harness's replay takes them as ground truth and the reference's scoring
//! as the third party to agree with: one reading serves both.

use std::net::IpAddr;

use serde::Deserialize;

/// One line of a `.flows.jsonl` file.
#[derive(Debug, Clone, Deserialize)]
pub struct NdpiFlow {
    pub l4: String,
    pub src: String,
    pub dst: String,
    pub proto: String,
    pub category: Option<String>,
    pub sni: Option<String>,
    pub confidence: String,
}

impl NdpiFlow {
    /// The master protocol: `TLS` of `91.232/TLS.Pastebin`.
    pub fn master(&self) -> &str {
        self.proto
            .split('/')
            .nth(1)
            .unwrap_or("")
            .split('.')
            .next()
            .unwrap_or("")
    }

    /// nDPI's verdict as a policy class (`vpn`, `remote-access`, `p2p`, `game`,
    /// `malicious`, `other`); `None` when nDPI itself does not know or guessed by port or
    /// address. Download (nDPI's file-sharing category) is p2p unless the flow is plain HTTP:
    /// a web download is not peer-to-peer.
    pub fn class(&self) -> Option<&'static str> {
        if matches!(
            self.confidence.as_str(),
            "Unknown" | "Match by port" | "Match by IP"
        ) {
            return None;
        }
        let cat = self.category.as_deref()?.split('/').next().unwrap_or("");
        let http = self.master() == "HTTP";
        Some(match cat {
            "VPN" => "vpn",
            "RemoteAccess" => "remote-access",
            "Game" => "game",
            "Malware" | "Mining" => "malicious",
            // a P2P application nDPI recognised inside HTTP (e.g. `HTTP.Gnutella`) is p2p
            // whatever its category
            _ if http
                && [".Gnutella", ".BitTorrent", ".eDonkey"]
                    .iter()
                    .any(|a| self.proto.contains(a)) =>
            {
                "p2p"
            }
            "Download" if !http => "p2p",
            _ => "other",
        })
    }

    /// The IP protocol number of `l4` (0 when nDPI names one not listed here).
    pub fn ip_proto(&self) -> u8 {
        match self.l4.as_str() {
            "TCP" => 6,
            "UDP" => 17,
            "ICMP" => 1,
            "IGMP" => 2,
            "GRE" => 47,
            "ESP" => 50,
            "AH" => 51,
            "ICMPV6" => 58,
            _ => 0,
        }
    }
}

/// `a.b.c.d:port` or `[v6]:port`, as nDPI writes endpoints.
pub fn endpoint(s: &str) -> Option<(IpAddr, u16)> {
    let (a, p) = s.rsplit_once(':')?;
    let a = a.trim_start_matches('[').trim_end_matches(']');
    Some((a.parse().ok()?, p.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow(proto: &str, category: Option<&str>, confidence: &str) -> NdpiFlow {
        NdpiFlow {
            l4: "TCP".into(),
            src: "10.0.0.1:1".into(),
            dst: "10.0.0.2:2".into(),
            proto: proto.into(),
            category: category.map(str::to_string),
            sni: None,
            confidence: confidence.into(),
        }
    }

    #[test]
    fn categories_map_to_policy_classes() {
        assert_eq!(
            flow("91.384/TLS.PrivateInternetAccess", Some("VPN/2"), "DPI").class(),
            Some("vpn")
        );
        assert_eq!(
            flow("37/BitTorrent", Some("Download/7"), "DPI").class(),
            Some("p2p")
        );
        assert_eq!(
            flow("7/HTTP", Some("Download/7"), "DPI").class(),
            Some("other")
        );
        assert_eq!(
            flow("7.35/HTTP.Gnutella", Some("Web/5"), "DPI").class(),
            Some("p2p")
        );
        assert_eq!(
            flow("37/BitTorrent", Some("Download/7"), "Match by port").class(),
            None
        );
        assert_eq!(flow("0/Unknown", None, "DPI").class(), None);
        assert_eq!(flow("91.232/TLS.Pastebin", None, "DPI").master(), "TLS");
    }

    #[test]
    fn endpoints_of_both_families() {
        assert_eq!(
            endpoint("[2001:db8::1]:443"),
            Some(("2001:db8::1".parse().unwrap(), 443))
        );
        assert_eq!(
            endpoint("10.0.0.1:80"),
            Some(("10.0.0.1".parse().unwrap(), 80))
        );
        assert_eq!(endpoint("10.0.0.1"), None);
    }
}
