//! Exit statuses, and the failures that lead to them.

use std::fmt::Display;
use std::io;

use shmq::OpenError;

/// A general error.
pub const ERROR: u8 = 1;
/// `recv --timeout` expired.
pub const TIMED_OUT: u8 = 3;
/// Standard output was closed under us (128 + SIGPIPE, as a shell reports a
/// program killed by SIGPIPE).
pub const BROKEN_PIPE: u8 = 141;

/// Why a command ends with a non-zero status: the status, and the line to
/// print on standard error (after `shmq: `), if any.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: Option<String>,
}

impl Failure {
    /// A general error with this message.
    pub fn error(message: impl Display) -> Self {
        Failure {
            code: ERROR,
            message: Some(message.to_string()),
        }
    }

    /// `recv --timeout` expired.
    pub fn timed_out() -> Self {
        Failure {
            code: TIMED_OUT,
            message: Some("timed out".to_owned()),
        }
    }

    /// An error opening, creating or attaching to the queue `name`.
    pub fn open(name: &str, error: OpenError) -> Self {
        Failure::error(match error {
            // The library's message already quotes the name.
            OpenError::InvalidName { .. } => error.to_string(),
            OpenError::NotFound => format!("no such queue {name:?}"),
            OpenError::AlreadyExists => format!("queue {name:?} already exists"),
            other => format!("queue {name:?}: {other}"),
        })
    }

    /// A failed write to standard output: quiet for a closed pipe.
    pub fn stdout(error: io::Error) -> Self {
        if error.kind() == io::ErrorKind::BrokenPipe {
            Failure {
                code: BROKEN_PIPE,
                message: None,
            }
        } else {
            Failure::error(format_args!("cannot write to standard output: {error}"))
        }
    }

    /// A failed read from standard input.
    pub fn stdin(error: io::Error) -> Self {
        Failure::error(format_args!("cannot read standard input: {error}"))
    }
}
