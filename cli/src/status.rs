//! Exit statuses, and the failures that lead to them.
//!
//! The statuses are listed in the top-level `--help` (see `args`), which a
//! test checks against these constants.

use std::fmt::Display;
use std::io::{self, Write};

use shmq::{OpenError, OpenErrorKind};

/// A general error.
pub const ERROR: u8 = 1;
/// A usage error: an unknown option, or an invalid option value or queue
/// name (the argument parser exits with it too).
pub const USAGE: u8 = 2;
/// `recv --timeout` or `call --timeout` expired.
pub const TIMED_OUT: u8 = 3;
/// The process at the other end of the queue died (recv: the sender,
/// after every message it committed was written; send: the receiver;
/// call: the server, holding the request).
pub const PEER_DIED: u8 = 4;
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
        Failure::with_code(ERROR, message)
    }

    /// A usage error (an invalid option value) with this message.
    pub fn usage(message: impl Display) -> Self {
        Failure::with_code(USAGE, message)
    }

    /// The other end's process died; `message` says which and what
    /// became of the messages.
    pub fn peer_died(message: impl Display) -> Self {
        Failure::with_code(PEER_DIED, message)
    }

    fn with_code(code: u8, message: impl Display) -> Self {
        Failure {
            code,
            message: Some(message.to_string()),
        }
    }

    /// `recv --timeout` expired.
    pub fn timed_out() -> Self {
        Failure::with_code(TIMED_OUT, "timed out")
    }

    /// `call --timeout` expired; `message` says what for.
    pub fn timed_out_with(message: impl Display) -> Self {
        Failure::with_code(TIMED_OUT, message)
    }

    /// An error opening, creating, inspecting or attaching to the queue
    /// `name`. An invalid name or invalid settings are usage errors.
    pub fn open(name: &str, error: OpenError) -> Self {
        let code = match error.kind() {
            OpenErrorKind::InvalidName { .. } | OpenErrorKind::InvalidOptions(_) => USAGE,
            _ => ERROR,
        };
        let message = match error.kind() {
            // Shorter than the library's, whose advice is for programs.
            OpenErrorKind::NotFound => format!("no such queue {name:?}"),
            OpenErrorKind::AlreadyExists => format!("queue {name:?} already exists"),
            // The library's message names the queue (or quotes the name).
            OpenErrorKind::InvalidName { .. } => error.to_string(),
            _ if error.queue().is_some() => error.to_string(),
            kind => format!("queue {name:?}: {kind}"),
        };
        Failure::with_code(code, message)
    }

    /// An error opening, creating or attaching to the topic `name`, in the
    /// words of topics (the library's messages say "queue"). Exit
    /// statuses as for [`open`](Self::open).
    pub fn open_topic(name: &str, error: OpenError) -> Self {
        let code = match error.kind() {
            OpenErrorKind::InvalidName { .. } | OpenErrorKind::InvalidOptions(_) => USAGE,
            _ => ERROR,
        };
        let message = match error.kind() {
            // The name of the subscriber table (NAME.subs) is too long.
            OpenErrorKind::InvalidName {
                name: table,
                reason,
            } if table != name => {
                format!(
                    "invalid topic name {name:?}: a topic's name leaves room for \".subs\" \
                     (its subscriber table {table:?} is {reason})"
                )
            }
            OpenErrorKind::InvalidName { .. } => error.to_string(),
            // The ring is there, its table is not (removed by hand).
            OpenErrorKind::NotFound if shmq::Queue::inspect(name).is_ok() => format!(
                "topic {name:?} has lost its subscriber table {name}.subs (`shmq rm {name}` \
                 removes the topic)"
            ),
            OpenErrorKind::NotFound => format!("no such topic {name:?}"),
            OpenErrorKind::AlreadyExists => format!("{name:?} already exists"),
            OpenErrorKind::InvalidOptions(what) => {
                format!("topic {name:?}: invalid options: {what}")
            }
            OpenErrorKind::AlreadyAttached { pid, .. } => {
                format!("topic {name:?}: a publisher is already attached (pid {pid})")
            }
            kind => format!("topic {name:?}: {kind}"),
        };
        Failure::with_code(code, message)
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

    /// A failed `shmq bench` or `shmq bench-peer`, with the status the
    /// benchmark gives (usage error, error, or a quiet broken pipe).
    pub fn bench(error: shmq_bench::RunError) -> Self {
        match error {
            shmq_bench::RunError::StdoutClosed => Failure {
                code: BROKEN_PIPE,
                message: None,
            },
            other => Failure::with_code(other.exit_code(), other),
        }
    }

    /// A failed read from standard input.
    pub fn stdin(error: io::Error) -> Self {
        Failure::error(format_args!("cannot read standard input: {error}"))
    }
}

/// Prints a warning: one line on standard error, `shmq: warning: ...`.
pub fn warn(message: impl Display) {
    // Nothing better to do if standard error is gone.
    let _ = writeln!(io::stderr(), "shmq: warning: {message}");
}

/// Prints a notice that is not a failure: one line on standard error,
/// `shmq: ...` (`recv` on a lossy topic: "lagged, N messages missed").
pub fn note(message: impl Display) {
    // Nothing better to do if standard error is gone.
    let _ = writeln!(io::stderr(), "shmq: {message}");
}

/// "1 message", "2 messages": `count` and `noun`, plural unless one.
pub fn count(count: u64, noun: &str) -> String {
    if count == 1 {
        format!("{count} {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts() {
        assert_eq!(count(0, "message"), "0 messages");
        assert_eq!(count(1, "message"), "1 message");
        assert_eq!(count(2, "message"), "2 messages");
    }
}
