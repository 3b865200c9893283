//! Any bytes through the bus's SOAP envelope reader and every message reader of the SHEP v10
//! contract: no input may panic, and a request that reads must write back to a document that
//! reads to the same fields. Every envelope that reads also goes through sender authentication
//! (`esb::wssec`: the WS-Security checks, libxml2's parse and libxmlsec1's verification) with a
//! test root and the Fund's registered certificate; seeds: `bus_credentials seeds`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qaqpa_esb::contract::{
    self, AsyncMessage, DeliveryNotification, GetMessageStatus, GetMessages, SyncRequest,
    SyncResponse,
};
use qaqpa_esb::errors::ErrorInfo;
use qaqpa_esb::wssec::Trust;
use qaqpa_sim::eds::{TestPki, TransportCertificate};

/// The test root and the Fund's certificate, made once (seed 1, as the seeds were).
fn trust() -> &'static (Trust, Vec<u8>, jiff::Timestamp) {
    static T: std::sync::OnceLock<(Trust, Vec<u8>, jiff::Timestamp)> = std::sync::OnceLock::new();
    T.get_or_init(|| {
        let at: jiff::Timestamp = "2025-03-18T05:00:00Z".parse().expect("an instant");
        let mut pki = TestPki::new(1, at).expect("the test CA");
        let fund = pki
            .transport("fund", TransportCertificate::Valid, at)
            .expect("a certificate");
        let trust = Trust::new(pki.nca_root_der().to_vec()).expect("the root parses");
        (trust, fund.cert_der, at)
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(env) = contract::read_envelope(data) else {
        return;
    };
    let Ok(op) = env.operation() else {
        return;
    };
    let (trust, cert, at) = trust();
    let _ = qaqpa_esb::wssec::authenticate(
        &env,
        data,
        "fund",
        Some(cert),
        trust,
        *at,
        &qaqpa_esb::bus::Settings::default(),
    );
    if let Ok(r) = SyncRequest::read(op, data) {
        let again = contract::envelope(&r.write());
        let env2 = contract::read_envelope(again.as_bytes()).expect("a written request reads");
        let r2 = SyncRequest::read(env2.operation().expect("one operation"), again.as_bytes())
            .expect("a written request reads");
        assert_eq!(r2.info, r.info);
    }
    if let Ok(r) = SyncResponse::read(op, data) {
        let again = contract::envelope(&r.write());
        assert!(contract::read_envelope(again.as_bytes()).is_ok());
    }
    if let Ok(m) = AsyncMessage::read(op, data) {
        let mut xml = String::new();
        m.write(&mut xml, "request");
        let wrapped = contract::envelope(&format!(
            "<t:sendMessage xmlns:t=\"{}\">{xml}</t:sendMessage>",
            contract::ASYNC_TYPES
        ));
        let env2 = contract::read_envelope(wrapped.as_bytes()).expect("a written message reads");
        let m2 = AsyncMessage::read(env2.operation().expect("one operation"), wrapped.as_bytes())
            .expect("a written message reads");
        assert_eq!(m2.info, m.info);
    }
    let _ = GetMessages::read(op);
    let _ = GetMessageStatus::read(op);
    let _ = DeliveryNotification::read(op);
    for e in op.descendants() {
        let info = ErrorInfo::from_element(e);
        let _ = info.content_xml();
    }
});
