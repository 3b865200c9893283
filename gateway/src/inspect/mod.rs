//! TLS inspection (ugia-20, ugia-21): the UGIA inspection authority, which holds the STS's
//! root and mints a certificate per server name, and [`Bump`], the relay the gateway's
//! terminating proxy runs for a session it inspects.

pub mod authority;
pub mod bump;

pub use authority::{AuthorityFaults, InspectionAuthority, Keys};
pub use bump::{Bump, BumpConfig};
