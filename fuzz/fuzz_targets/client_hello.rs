//! The TLS, DTLS, QUIC, DNS and HTTP parsers on arbitrary bytes, certificates and JA3 included.
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
    let mut join = Vec::new();
    let _ = proto::server_certificate(data, &mut join);
    if let Some(cert) = proto::dtls_server_certificate(data) {
        proto::cert_names(cert, |_| false);
    }
    proto::cert_names(data, |_| false);
    let mut ja3 = Vec::new();
    let _ = proto::ja3_string(data, &mut ja3);
    let mut join = Vec::new();
    let _ = proto::client_hello_body(data, &mut join);
    let mut q = [0u8; 256];
    let _ = proto::dns_question(data, &mut q);
    let _ = proto::http_request(data);
    let _ = proto::http_header(data, b"Host");
    let mut c = quic::Crypto::default();
    let _ = c.datagram(data);
    let _ = c.datagram(data);
});
