//! Third-party material through the relay on loopback: OpenSMTPD's session scripts, mail-parser's
//! messages, the SMTP sessions in suricata-verify's captures. Run with `--nocapture` (or
//! `cargo run -p qaqpa-mailgw --example corpus_report`) to see the figures.

use qaqpa_mailgw::corpus::{self, block_on};

fn corpus() -> std::path::PathBuf {
    let dir = corpus::corpus_dir();
    assert!(
        dir.is_dir(),
        "{} is missing (set QAQPA_SHARED to the directory holding corpus/)",
        dir.display()
    );
    dir
}

#[test]
fn opensmtpd_scripts_agree_on_reply_classes() {
    let dir = corpus().join("opensmtpd/regress/smtp");
    let figs = block_on(corpus::opensmtpd(&dir)).unwrap();
    println!("{}", corpus::render_scripts(&figs));
    assert!(figs.len() >= 4, "the scripts were found: {}", figs.len());
    let checks: usize = figs.iter().map(|f| f.checks).sum();
    let agree: usize = figs.iter().map(|f| f.agreeing).sum();
    assert!(
        checks >= 80,
        "the scripts were played: {checks} expectations"
    );
    // Protocol replies agree; the only allowed differences are policy (see the figures).
    assert!(
        agree * 100 >= checks * 95,
        "{agree}/{checks} reply classes agree"
    );
}

#[test]
fn mail_parser_messages_are_relayed_intact_or_refused_with_a_reason() {
    let f = block_on(corpus::mail_parser(&corpus().join("mail-parser/eml")));
    println!("{}", corpus::render_feed(&f));
    assert!(f.messages >= 30, "{} messages", f.messages);
    assert!(
        f.damaged.is_empty() && f.crashed.is_empty(),
        "{}",
        corpus::render_feed(&f)
    );
    assert!(
        f.refused.iter().all(|(_, r)| r.len() > 12),
        "every refusal gives a reason"
    );
}

#[test]
fn suricata_smtp_sessions_are_relayed_intact_or_refused_with_a_reason() {
    let f = block_on(corpus::suricata(&corpus().join("suricata-verify/tests")));
    println!("{}", corpus::render_feed(&f));
    assert!(f.messages >= 10, "{} messages", f.messages);
    assert!(
        f.damaged.is_empty() && f.crashed.is_empty(),
        "{}",
        corpus::render_feed(&f)
    );
}
