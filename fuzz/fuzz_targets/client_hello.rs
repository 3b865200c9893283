//! The TLS, DTLS, QUIC, DNS and HTTP parsers on arbitrary bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qaqpa_gateway::dataplane::{proto, quic};

fuzz_target!(|data: &[u8]| {
    let _ = proto::tls_start(data);
    let mut buf = Vec::new();
    let _ = proto::join_records(data, &mut buf);
    let _ = proto::client_hello(data);
    let _ = proto::dtls_hello(data);
    let _ = proto::server_cert_name(data);
    let mut q = [0u8; 256];
    let _ = proto::dns_question(data, &mut q);
    let _ = proto::http_request(data);
    let _ = proto::http_header(data, b"Host");
    let mut c = quic::Crypto::default();
    let _ = c.datagram(data);
    let _ = c.datagram(data);
});
