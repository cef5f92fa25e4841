//! `shmq recv`: a queue to standard output.

use std::io::{self, BufWriter, Write};
use std::time::Duration;

use shmq::{Receiver, RecvError, RecvTimeoutError, TryRecvError};

use crate::args::{EndOptions, Format};
use crate::status::Failure;

/// Size of the standard output buffer.
const OUTPUT_BUFFER: usize = 64 << 10;

/// What waiting for the next message gave.
enum Next {
    /// A message, and what writing it out gave.
    Written(io::Result<()>),
    /// Nothing within `--timeout`.
    TimedOut,
    /// The sender is gone and every message was received.
    Disconnected,
}

/// Attaches a receiver to `name` (creating the queue unless `--no-create`)
/// and writes its messages to standard output in `format` until the
/// sender disconnects, `count` messages were written, or `timeout` passes
/// without a message.
pub fn run(
    name: &str,
    format: Format,
    count: Option<u64>,
    timeout: Option<Duration>,
    options: &EndOptions,
) -> Result<(), Failure> {
    let queue = options.queue(name)?;
    let mut rx = queue.receiver().map_err(|e| Failure::open(name, e))?;
    let mut out = BufWriter::with_capacity(OUTPUT_BUFFER, io::stdout().lock());
    let result = copy(&mut rx, &mut out, format, count, timeout, name);
    // Whatever stopped the copy, what was received gets written out.
    let flushed = out.flush().map_err(Failure::stdout);
    result.and(flushed)
}

fn copy(
    rx: &mut Receiver,
    out: &mut impl Write,
    format: Format,
    count: Option<u64>,
    timeout: Option<Duration>,
    name: &str,
) -> Result<(), Failure> {
    let corrupted = |e: &dyn std::fmt::Display| Failure::error(format_args!("queue {name:?}: {e}"));
    let mut written = 0u64;
    while count.is_none_or(|count| written < count) {
        let write = |bytes: &[u8]| write_message(out, format, bytes);
        // Take what is waiting without a system call; flush the batch to
        // the reader before waiting, so an interactive reader sees each
        // message promptly and a bulk transfer still writes in big blocks.
        let next = match rx.try_recv_with(write) {
            Ok(result) => Next::Written(result),
            Err(TryRecvError::Disconnected) => Next::Disconnected,
            Err(TryRecvError::Empty) => {
                out.flush().map_err(Failure::stdout)?;
                let write = |bytes: &[u8]| write_message(out, format, bytes);
                match timeout {
                    None => match rx.recv_with(write) {
                        Ok(result) => Next::Written(result),
                        Err(RecvError::Disconnected) => Next::Disconnected,
                        Err(e) => return Err(corrupted(&e)),
                    },
                    Some(timeout) => match rx.recv_with_timeout(timeout, write) {
                        Ok(result) => Next::Written(result),
                        Err(RecvTimeoutError::Timeout) => Next::TimedOut,
                        Err(RecvTimeoutError::Disconnected) => Next::Disconnected,
                        Err(e) => return Err(corrupted(&e)),
                    },
                }
            }
            Err(e) => return Err(corrupted(&e)),
        };
        match next {
            Next::Written(result) => result.map_err(Failure::stdout)?,
            Next::TimedOut => return Err(Failure::timed_out()),
            Next::Disconnected => break,
        }
        written += 1;
    }
    Ok(())
}

/// Writes one message in `format`.
fn write_message(out: &mut impl Write, format: Format, bytes: &[u8]) -> io::Result<()> {
    match format {
        Format::Lines => {
            out.write_all(bytes)?;
            out.write_all(b"\n")
        }
        Format::Raw => out.write_all(bytes),
        Format::Framed => {
            let len = u32::try_from(bytes.len()).map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "a message of {} bytes is too long for a 4-byte frame length",
                        bytes.len()
                    ),
                )
            })?;
            out.write_all(&len.to_le_bytes())?;
            out.write_all(bytes)
        }
    }
}
