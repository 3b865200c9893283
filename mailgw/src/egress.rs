//! A minimal stand-in for UGIA's Internet egress rule, as far as mail goes (ureq-128.6): hosts
//! of the connected departmental networks may not open SMTP connections to the Internet; only
//! the e-mail gateway's address may. It sits behind `Target::internet_egress`, so the full UGIA
//! policy engine can take its place.

use std::net::IpAddr;

use qaqpa_sim::mailnet::{EgressFilter, MailWorld};

const SMTP_PORTS: &[u16] = &[25, 465, 587];

pub struct MailEgress {
    gateway: IpAddr,
    user_hosts: Vec<IpAddr>,
    /// The `ugia-smtp-egress-open` defect: the rule is not applied.
    open: bool,
}

impl MailEgress {
    pub fn new(world: &MailWorld, defects: &[&str]) -> Self {
        MailEgress {
            gateway: world.gateway,
            user_hosts: world.systems.iter().map(|s| s.server).collect(),
            open: crate::has(defects, "ugia-smtp-egress-open"),
        }
    }
}

impl EgressFilter for MailEgress {
    fn permits(&self, src: IpAddr, _dst: IpAddr, port: u16) -> bool {
        self.open
            || src == self.gateway
            || !SMTP_PORTS.contains(&port)
            || !self.user_hosts.contains(&src)
    }
}
