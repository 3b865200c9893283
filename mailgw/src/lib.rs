//! UGEM, the e-government e-mail gateway: the reference implementation.
//!
//! - [`relay`]: the SMTP relay (server, durable queue, delivery with retries and bounces);
//! - [`guard`]: the registry of connected systems and the ugem-12 abnormal-traffic guard;
//! - [`spool`]: the durable queue's disk;
//! - [`wire`]: SMTP lines, replies and dot-stuffing, and the sockets (turmoil or tokio);
//! - [`sim`]: the gateway placed into the harness's simulated mail network;
//! - [`desk`]: the STS desk (ugem-7 to ugem-11).

pub mod corpus;
pub mod desk;
pub mod guard;
pub mod loopback;
pub mod pcapsmtp;
pub mod relay;
pub mod sim;
pub mod smtpscript;
pub mod spool;
pub mod tls;
pub mod wire;

use qaqpa_sim::target::Defect;

/// Every named defect of the UGEM reference.
pub const DEFECTS: &[Defect] = &[
    Defect {
        id: "ugem-rejection-late",
        system: "ugem",
        description: "the STS desk sends its refusals on the 6th working day after receipt",
        clauses: &["ugem-8", "ugem-10"],
        warns: &[],
    },
    Defect {
        id: "ugem-admin-port-open",
        system: "ugem",
        description: "the gateway host leaves an administration console listening on TCP 8025, a service nobody declared or uses",
        clauses: &["ureq-139.13"],
        warns: &[],
    },
    Defect {
        id: "ugem-guard-suspends-everyone",
        system: "ugem",
        description: "on abnormal traffic from one mail system the guard suspends every connected system, not just the offender",
        clauses: &["ugem-12"],
        warns: &[],
    },
    Defect {
        id: "ugem-desk-refuses-everything",
        system: "ugem",
        description: "the STS desk refuses every mail-connection application, complete ones of eligible applicants too, with boilerplate for reasons",
        clauses: &["ugem-7", "ugem-10", "ugem-app"],
        warns: &[],
    },
    Defect {
        id: "ugem-connection-late",
        system: "ugem",
        description: "the STS desk connects mail systems on the 6th working day after receipt",
        clauses: &["ugem-8", "ugem-9"],
        warns: &[],
    },
    Defect {
        id: "ugem-rejection-without-reasons",
        system: "ugem",
        description: "the STS desk refuses mail-connection applications without giving reasons",
        clauses: &["ugem-10", "ugem-app"],
        warns: &[],
    },
    Defect {
        id: "ugem-skips-eligibility-check",
        system: "ugem",
        description: "the STS desk never checks the applicant's kind and connects anyone technically possible",
        clauses: &["ugem-8"],
        warns: &[],
    },
    Defect {
        id: "ugem-accepts-any-channel",
        system: "ugem",
        description: "the STS desk processes connection applications that arrive by e-mail, outside the APS and official letters",
        clauses: &["ugem-7"],
        warns: &[],
    },
    Defect {
        id: "ugem-accepts-incomplete-form",
        system: "ugem",
        description: "the STS desk never checks the application form: a missing domain, owner, server IP or contact goes unnoticed",
        clauses: &["ugem-app"],
        warns: &[],
    },
    Defect {
        id: "ugem-early-resubmission-processed",
        system: "ugem",
        description: "the STS desk processes an application resubmitted less than 30 calendar days after its rejection as a new one",
        clauses: &["ugem-10"],
        warns: &[],
    },
    Defect {
        id: "ugem-never-disconnects",
        system: "ugem",
        description: "the STS desk ignores requests to disconnect a mail system whose owner is no longer eligible",
        clauses: &["ugem-11"],
        warns: &[],
    },
    Defect {
        id: "ugem-desk-does-not-configure",
        system: "ugem",
        description: "the STS desk notifies the applicant of the connection but never registers its mail system on the relay, so its mail is refused",
        clauses: &["ugem-9"],
        warns: &[],
    },
    Defect {
        id: "ugem-disconnects-on-paper-only",
        system: "ugem",
        description: "the STS desk sends the disconnection notice but leaves the mail system registered on the relay, which keeps relaying its mail",
        clauses: &["ugem-11"],
        warns: &[],
    },
    Defect {
        id: "ugem-open-relay",
        system: "ugem",
        description: "the relay accepts mail from anyone to anywhere, and lets unregistered servers claim connected domains",
        clauses: &["ugem-3", "ugem-11"],
        warns: &[],
    },
    Defect {
        id: "ugem-acks-before-disk",
        system: "ugem",
        description: "the relay answers 250 to DATA before the message is on disk (it spools in batches every 30 s), so a crash loses accepted mail",
        clauses: &["ugem-6"],
        warns: &[],
    },
    Defect {
        id: "ugem-no-traffic-guard",
        system: "ugem",
        description: "the relay has no abnormal-traffic guard: a connected system's spam burst flows out until the gateway's address is blocklisted",
        clauses: &["ugem-12"],
        warns: &[],
    },
];

/// Whether defect `id` is among `on`.
pub fn has(on: &[&str], id: &str) -> bool {
    on.contains(&id)
}
