//! The conformance suite: scenario files, their interpreter, and one oracle per clause.
//!
//! This crate must not depend on the reference systems (`gateway`, `mailgw`, `esb`): the same
//! oracles judge a vendor's product. `tests/independence.rs` holds it to that.

pub mod bus;
pub mod faultplan;
pub mod ftw;
pub mod interpreter;
pub mod mail;
pub mod oracle;
pub mod scenario;
pub mod suite;
pub mod tls;
pub mod web;

pub use scenario::{Scenario, ScenarioError, SystemName};
pub use suite::{RunConfig, RunOutcome, Suite, SuiteError};
