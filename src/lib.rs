//! qaqpa: a deterministic simulation and conformance harness for the Kazakhstan
//! e-government network gateways. This crate is the command line and the wiring of the
//! reference systems behind the suite's `Target` interfaces.

pub mod bundle;
pub mod bus_cmd;
pub mod calendar_cmd;
pub mod campaign_cmd;
pub mod cli;
pub mod error;
pub mod ids;
pub mod inspect_cmd;
pub mod judge_cmd;
pub mod live;
pub mod mail_cmd;
pub mod output;
pub mod redact;
pub mod reference;
pub mod replay_cmd;
pub mod target_file;
pub mod waf_cmd;
pub mod waivers;
