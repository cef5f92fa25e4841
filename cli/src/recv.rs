//! `shmq recv`: a queue to standard output.
//!
//! Messages are taken in batches ([`shmq::Receiver::recv_batch`]): a batch
//! is written out and flushed before it is released, so a recv killed at
//! any point has freed only messages that reached standard output. The
//! next receiver gets the rest, and repeats at most the batch this one was
//! writing.

use std::io::{self, BufWriter, Write};
use std::time::Duration;

use shmq::{Batch, Departure, Receiver, RecvError, RecvTimeoutError};

use crate::args::{EndOptions, Format};
use crate::status::Failure;

/// Bytes of messages taken into one batch: once a batch has written this
/// many, the rest wait for the next one. It bounds what a killed recv
/// repeats.
const BATCH_BYTES: usize = 64 << 10;

/// Size of the standard output buffer: a batch and its last message
/// usually fit, so a batch is one write.
const OUTPUT_BUFFER: usize = 2 * BATCH_BYTES;

/// Attaches a receiver to `name` (creating the queue unless `--no-create`)
/// and writes its messages to standard output in `format` until the
/// sender it has seen leaves, `count` messages were written, or `timeout`
/// passes without a message.
pub fn run(
    name: &str,
    format: Format,
    from: bool,
    count: Option<u64>,
    timeout: Option<Duration>,
    options: &EndOptions,
) -> Result<(), Failure> {
    let queue = options.queue(name)?;
    let mut rx = queue.receiver().map_err(|e| Failure::open(name, e))?;
    let mut out = BufWriter::with_capacity(OUTPUT_BUFFER, io::stdout().lock());
    let output = Output { format, from };
    let result = copy(&mut rx, &mut out, output, count, timeout, name);
    // Every batch was flushed before it was released; this writes nothing
    // unless a failure came between.
    let flushed = out.flush().map_err(Failure::stdout);
    result.and(flushed)
}

/// How messages are written: the format, and whether each is preceded by
/// its sender's pid (`--from`).
#[derive(Debug, Clone, Copy)]
struct Output {
    format: Format,
    from: bool,
}

fn copy(
    rx: &mut Receiver,
    out: &mut impl Write,
    output: Output,
    count: Option<u64>,
    timeout: Option<Duration>,
    name: &str,
) -> Result<(), Failure> {
    let corrupted = |e: &dyn std::fmt::Display| Failure::error(format_args!("queue {name:?}: {e}"));
    let mut written = 0u64;
    loop {
        let left = match count {
            Some(count) if written >= count => return Ok(()),
            Some(count) => count - written,
            None => u64::MAX,
        };
        let batch = match timeout {
            None => match rx.recv_batch() {
                Ok(batch) => batch,
                Err(RecvError::Disconnected) => break,
                Err(e) => return Err(corrupted(&e)),
            },
            Some(timeout) => match rx.recv_batch_timeout(timeout) {
                Ok(batch) => batch,
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => return Err(Failure::timed_out()),
                Err(e) => return Err(corrupted(&e)),
            },
        };
        written += write_batch(batch, out, output, left)?;
    }
    // The senders are gone and every message they committed was written.
    match rx.last_departure() {
        Some(Departure::Died { pid }) => Err(Failure::peer_died(format_args!(
            "queue {name:?}: the sender's process (pid {pid}) died"
        ))),
        _ => Ok(()),
    }
}

/// Writes up to `left` messages of `batch` (and about `BATCH_BYTES`) to
/// `out` and flushes it, then releases them; returns how many. On a write
/// error the batch is dropped unreleased: its messages stay in the queue.
fn write_batch(
    mut batch: Batch<'_>,
    out: &mut impl Write,
    output: Output,
    left: u64,
) -> Result<u64, Failure> {
    // A batch holds one sender's messages.
    let pid = output.from.then(|| batch.sender().pid().unwrap_or(0));
    let mut taken = 0;
    let mut bytes = 0;
    while taken < left && bytes < BATCH_BYTES {
        let Some(msg) = batch.next() else { break };
        write_message(out, output.format, pid, msg).map_err(Failure::stdout)?;
        bytes += msg.len() + 1;
        taken += 1;
    }
    out.flush().map_err(Failure::stdout)?;
    batch.release();
    Ok(taken)
}

/// Writes one message in `format`, after its sender's pid if `from` says
/// (`PID: ` in the line format, a 4-byte little-endian pid before the
/// frame length in the framed one; 0 if the segment did not name it).
fn write_message(
    out: &mut impl Write,
    format: Format,
    from: Option<u32>,
    bytes: &[u8],
) -> io::Result<()> {
    match (format, from) {
        (Format::Lines, Some(pid)) => write!(out, "{pid}: ")?,
        (Format::Framed, Some(pid)) => out.write_all(&pid.to_le_bytes())?,
        // `--from` conflicts with `--raw`.
        _ => {}
    }
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
