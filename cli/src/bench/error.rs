//! The benchmark's error: a message that gathers context on its way up.
//!
//! A failed measurement is not fatal: the driver reports the transport as
//! skipped with this message as the reason, so it must say what failed
//! (`uds: connect: No such file or directory`), and it carries the peer
//! process's standard error when that explains more.

use std::fmt;

/// What went wrong, as one line.
#[derive(Debug)]
pub struct Error(String);

/// A result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error with this message.
    pub fn new(message: impl fmt::Display) -> Self {
        Error(message.to_string())
    }
}

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

/// Prefixes an error with what was being done.
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
