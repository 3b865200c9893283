//! UGEM, the e-government e-mail gateway: the reference implementation.

pub mod desk;

pub use desk::DEFECTS;
