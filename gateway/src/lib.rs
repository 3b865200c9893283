//! UGIA, the Unified Internet Access Gateway: the reference implementation.

pub mod desk;

pub use desk::DEFECTS;
