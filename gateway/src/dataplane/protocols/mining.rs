//! Cryptocurrency mining (nDPI's mining.c): the Stratum pool protocol's JSON-RPC methods
//! (`mining.subscribe`, `mining.authorize`, `mining.notify`), the Monero-style pools'
//! `login` with an `agent`, and Ethereum pools' `eth_submitLogin`.

use super::super::classify::{Detection, Input};
use super::super::proto::find;
use super::super::sigs::Class;
use super::app;

pub fn stratum(i: &Input<'_>) -> Option<Detection> {
    let b = i.b;
    (b.first() == Some(&b'{')
        && (find(b, b"\"mining.subscribe\"").is_some()
            || find(b, b"\"mining.authorize\"").is_some()
            || find(b, b"\"mining.notify\"").is_some()
            || (find(b, b"\"method\":\"login\"").is_some()
                || find(b, b"\"method\": \"login\"").is_some())
                && find(b, b"\"agent\"").is_some()
            || find(b, b"\"method\":\"eth_submitLogin\"").is_some()
            || find(b, b"\"method\": \"eth_submitLogin\"").is_some()))
    .then(|| app(Class::Malicious, "mining"))
}
