//! ureq-139.13 (unused open ports are closed), judged from the harness's own connect scans of
//! a gateway host: which ports accepted a connection from the scanner, against the ports the
//! scenario says the product declares. The gateway never lists its own listeners.

use qaqpa_reports::{Judgement, Verdict};
use qaqpa_sim::trace::{Event, Trace};

use super::mail::ev;
use super::{Oracle, OracleCtx};

pub struct OnlyDeclaredPortsOpen;

/// A note's comma-separated port list; `None` when a field is missing or not a list of ports
/// (a recorded trace written by hand, say): such a scan judges nothing.
fn ports(list: Option<&String>) -> Option<Vec<u16>> {
    let list = list?;
    if list.is_empty() {
        return Some(Vec::new());
    }
    list.split(',').map(|p| p.trim().parse().ok()).collect()
}

impl Oracle for OnlyDeclaredPortsOpen {
    fn clause(&self) -> &'static str {
        "ureq-139.13"
    }
    fn obligation(&self) -> &'static str {
        "only-declared-ports-open"
    }
    fn describe(&self) -> &'static str {
        "every port that accepted a TCP connection from the harness's scanner is a port of the host's declared services"
    }
    fn judge(&self, ctx: &OracleCtx<'_>, trace: &Trace) -> Judgement {
        let mut evidence = Vec::new();
        let mut faults = Vec::new();
        let mut unreadable = Vec::new();
        let mut scans = 0;
        for o in trace.observations() {
            let Event::Network(n) = &o.event else {
                continue;
            };
            if n.what != "port-scan" {
                continue;
            }
            let host = n.fields.get("host").cloned().unwrap_or_default();
            let (Some(open), Some(declared)) =
                (ports(n.fields.get("open")), ports(n.fields.get("declared")))
            else {
                unreadable.push(format!(
                    "the scan of {host} (seq {}) lacks readable `open` and `declared` port lists",
                    o.seq
                ));
                continue;
            };
            scans += 1;
            let scanned = n.fields.get("scanned").cloned().unwrap_or_default();
            let undeclared: Vec<String> = open
                .iter()
                .filter(|p| !declared.contains(p))
                .map(u16::to_string)
                .collect();
            let text = format!(
                "scan of {host} ports {scanned}: open {:?}, declared {:?}",
                open, declared
            );
            evidence.push(ev(ctx, o, text));
            if !undeclared.is_empty() {
                faults.push(format!(
                    "{host} accepts connections on undeclared port(s) {} (scanned {scanned})",
                    undeclared.join(", ")
                ));
            }
        }
        if scans == 0 {
            let finding = if unreadable.is_empty() {
                "no port scan of a gateway host in this scenario".to_string()
            } else {
                unreadable.join("; ")
            };
            return Judgement {
                verdict: Verdict::NotTested,
                finding,
                evidence,
            };
        }
        let (verdict, finding) = if faults.is_empty() {
            (
                Verdict::Pass,
                format!("{scans} port scan(s): every open port is a declared service's"),
            )
        } else {
            (Verdict::Fail, faults.join("; "))
        };
        Judgement {
            verdict,
            finding,
            evidence,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ports;

    #[test]
    fn port_lists_read_or_judge_nothing() {
        assert_eq!(ports(Some(&"25,8025".into())), Some(vec![25, 8025]));
        assert_eq!(ports(Some(&String::new())), Some(vec![]));
        assert_eq!(ports(Some(&"25,x".into())), None);
        assert_eq!(ports(Some(&"70000".into())), None);
        assert_eq!(ports(None), None);
    }
}
