//! The benchmark's errors: [`Error`], a measurement's, which gathers
//! context on its way up, and [`RunError`], a whole run's.
//!
//! A failed measurement is not fatal: the driver reports the transport as
//! skipped with the error's message as the reason, so it must say what
//! failed (`uds: connect: No such file or directory`), and it carries the
//! peer process's standard error when that explains more. A run fails only
//! on invalid options, when the report cannot be written, or (the peer's
//! side) when the peer cannot serve its group.

use std::fmt;

/// What went wrong in a measurement, as one line: the transport is then
/// reported as skipped with this as the reason.
#[derive(Debug)]
pub struct Error(String);

/// A result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error with this message: lowercase, one line, saying what
    /// failed (`iceoryx2: send: ...`).
    pub fn new(message: impl fmt::Display) -> Self {
        Error(message.to_string())
    }
}

impl std::error::Error for Error {}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<std::io::Error> for Error {
    fn from(error: std::io::Error) -> Self {
        Error(error.to_string())
    }
}

/// Prefixes an error with what was being done: `what: error`.
///
/// # Examples
///
/// ```
/// use shmq_bench::Context;
///
/// let missing = std::fs::read("/nonexistent").context("read the config");
/// assert!(missing.unwrap_err().to_string().starts_with("read the config: "));
/// ```
pub trait Context<T> {
    /// `what: error`.
    fn context(self, what: &str) -> Result<T>;
    /// Like [`context`](Context::context), formatting the prefix only on error.
    fn with_context<D: fmt::Display>(self, what: impl FnOnce() -> D) -> Result<T>;
}

impl<T, E: fmt::Display> Context<T> for Result<T, E> {
    fn context(self, what: &str) -> Result<T> {
        self.map_err(|e| Error(format!("{what}: {e}")))
    }

    fn with_context<D: fmt::Display>(self, what: impl FnOnce() -> D) -> Result<T> {
        self.map_err(|e| Error(format!("{}: {e}", what())))
    }
}

/// Why a run ([`Bench::run`](crate::Bench::run) or
/// [`Bench::run_peer`](crate::Bench::run_peer)) failed; a command-line
/// tool exits with [`exit_code`](RunError::exit_code).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RunError {
    /// An invalid option value or combination (`--sizes 4`, an unknown
    /// transport): a usage error, as clap's own.
    Usage(String),
    /// The run failed: the report could not be written, or the peer could
    /// not serve its group.
    Failed(String),
    /// Standard output was closed (a broken pipe): stop quietly.
    StdoutClosed,
}

impl RunError {
    /// The exit status a command-line tool gives: 2 for a usage error (as
    /// clap's), 1 for a failure, 141 for a closed standard output (128 +
    /// SIGPIPE, as a shell reports a program killed by it).
    pub fn exit_code(&self) -> u8 {
        match self {
            RunError::Usage(_) => 2,
            RunError::Failed(_) => 1,
            RunError::StdoutClosed => 141,
        }
    }

    /// A failed write to standard output: quiet for a closed pipe.
    pub(crate) fn stdout(error: std::io::Error) -> Self {
        if error.kind() == std::io::ErrorKind::BrokenPipe {
            RunError::StdoutClosed
        } else {
            RunError::Failed(format!("cannot write to standard output: {error}"))
        }
    }
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Usage(message) | RunError::Failed(message) => f.write_str(message),
            RunError::StdoutClosed => f.write_str("standard output was closed"),
        }
    }
}

impl std::error::Error for RunError {}
