//! UGIA's packet dataplane: frames → flows → class → policy verdict, as a pure engine (no
//! simulated network in the loop). `qaqpa replay`, the scenarios' packet gateway and the
//! benchmarks all drive [`Engine`].

pub mod capture;
pub mod classify;
pub mod engine;
pub mod flow;
pub mod packet;
pub mod policy;
pub mod proto;
pub mod protocols;
pub mod quic;
pub mod sigs;

pub use engine::{Config, Disposition, Engine, FlowRecord, Stats};
pub use flow::Verdict;
pub use policy::{Faults, Policy};
pub use sigs::{Class, Signatures};
