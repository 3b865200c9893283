//! Prints the corpus figures: OpenSMTPD reply-class agreement, and the outcome of every
//! mail-parser message and suricata-verify SMTP session relayed through UGEM on loopback.

use qaqpa_mailgw::corpus::{self, block_on};

fn main() {
    let dir = corpus::corpus_dir();
    block_on(async {
        match corpus::opensmtpd(&dir.join("opensmtpd/regress/smtp")).await {
            Ok(f) => print!(
                "OpenSMTPD regress/smtp scripts\n{}",
                corpus::render_scripts(&f)
            ),
            Err(e) => eprintln!("opensmtpd: {e}"),
        }
        print!(
            "{}",
            corpus::render_feed(&corpus::mail_parser(&dir.join("mail-parser/eml")).await)
        );
        print!(
            "{}",
            corpus::render_feed(&corpus::suricata(&dir.join("suricata-verify/tests")).await)
        );
    });
}
