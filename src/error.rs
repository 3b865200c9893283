//! What a command that could not do its job tells the user, and the exit code it leaves.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | the run judged scenarios and no clause fails (other commands: done) |
//! | 1 | a clause fails (under `--warnings-fail`, or warns, or a waiver is stale); `verify`: the bundle is rejected |
//! | 2 | bad usage or input: an unknown id, a malformed file, nothing to judge |
//! | 3 | the output could not be written (the message names the file) |

use std::fmt;

/// Exit code of a run in which a clause fails, and of a bundle that does not verify.
pub const FAILED: u8 = 1;
/// Exit code for bad usage or input.
pub const BAD_INPUT: u8 = 2;
/// Exit code when the output could not be written.
pub const OUTPUT: u8 = 3;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError {
    pub code: u8,
    pub message: String,
}

impl CliError {
    /// Bad usage or input (exit 2).
    pub fn input(message: impl Into<String>) -> CliError {
        CliError {
            code: BAD_INPUT,
            message: message.into(),
        }
    }

    /// The output could not be written (exit 3).
    pub fn output(message: impl Into<String>) -> CliError {
        CliError {
            code: OUTPUT,
            message: message.into(),
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CliError {}

/// The message itself, so callers can search it (`err.contains("file.jsonl:1:")`).
impl std::ops::Deref for CliError {
    type Target = str;

    fn deref(&self) -> &str {
        &self.message
    }
}

impl From<String> for CliError {
    fn from(message: String) -> CliError {
        CliError::input(message)
    }
}
