//! Any bytes through the bus's SOAP envelope reader and every message reader of the SHEP v10
//! contract: no input may panic, and a request that reads must write back to a document that
//! reads to the same fields.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qaqpa_esb::contract::{
    self, AsyncMessage, DeliveryNotification, GetMessageStatus, GetMessages, SyncRequest,
    SyncResponse,
};
use qaqpa_esb::errors::ErrorInfo;

fuzz_target!(|data: &[u8]| {
    let Ok(env) = contract::read_envelope(data) else {
        return;
    };
    let Ok(op) = env.operation() else {
        return;
    };
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
