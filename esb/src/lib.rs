//! The e-government gateway bus (ЭҮШ "SHEP") and its external gateway (ЭҮСШ): the reference.
//!
//! `contract` is the SHEP v10 message contract, `xml` the bounded reader under it, `wsdl` the
//! channels' WSDLs, `bus` the registry, routing and the asynchronous store, `external` the
//! external gateway ЭҮСШ (who may come through which gateway), `http` the bus over HTTP
//! (simulated and real sockets), `desk` the operator's desk.

pub mod bus;
pub mod config;
pub mod contract;
pub mod desk;
pub mod errors;
pub mod external;
pub mod http;
pub mod sim;
pub mod wsdl;
pub mod wssec;
pub mod xml;
pub mod xsd;

pub use desk::DEFECTS;

/// Every named defect of the bus: its operator's desk and the bus itself.
pub fn defects() -> impl Iterator<Item = &'static qaqpa_sim::target::Defect> {
    desk::DEFECTS
        .iter()
        .chain(sim::DEFECTS)
        .chain(wssec::DEFECTS)
}
