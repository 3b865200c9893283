//! The simulated world: business calendar, clocks, seeded randomness, the trace of
//! observations, network episodes and the `Target` interfaces.

pub mod agenda;
pub mod busnet;
pub mod calendar;
pub mod clock;
pub mod eds;
pub mod episode;
pub mod ipstack;
pub mod mailnet;
pub mod ndpi;
pub mod packetnet;
pub mod seed;
pub mod seeded_tls;
pub mod shared;
pub mod stream;
pub mod target;
pub mod trace;
pub mod webnet;
pub mod wire;
pub mod wssec;

pub use jiff;
