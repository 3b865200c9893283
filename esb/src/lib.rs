//! The e-government gateway bus (ЭҮШ "SHEP") and its external gateway (ЭҮСШ): the reference.

pub mod desk;

pub use desk::DEFECTS;
