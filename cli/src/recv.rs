//! `shmq recv`: a queue, or a subscription to a topic, to standard output.
//!
//! A queue's messages are taken in batches
//! ([`shmq::Receiver::recv_batch`]): a batch is written out and flushed
//! before it is released, so a recv killed at any point has freed only
//! messages that reached standard output. The next receiver gets the rest,
//! and repeats at most the batch this one was writing.
//!
//! A topic's subscriber ([`shmq::Subscriber`]) receives every message
//! published from the moment it joins (or, with `--from-history`, from the
//! last ones the topic keeps); output is flushed whenever no message is
//! waiting. What it misses in a lossy topic is reported on standard error,
//! one "lagged, N messages missed" line each time, and it goes on.

use std::io::{self, BufWriter, Write};
use std::time::Duration;

use shmq::{
    Batch, Departure, EndState, OpenErrorKind, Receiver, RecvError, RecvTimeoutError, Subscriber,
    Topic, TopicRecvError, TopicRecvTimeoutError,
};

use crate::args::{EndOptions, Format, Target};
use crate::status::{self, Failure};

/// Bytes of messages taken into one batch: once a batch has written this
/// many, the rest wait for the next one. It bounds what a killed recv
/// repeats.
const BATCH_BYTES: usize = 64 << 10;

/// Size of the standard output buffer: a batch and its last message
/// usually fit, so a batch is one write.
const OUTPUT_BUFFER: usize = 2 * BATCH_BYTES;

/// What `recv` was asked for besides the name and the end options.
#[derive(Debug, Clone, Copy)]
pub struct Request {
    pub format: Format,
    /// `--from`: each message after its sender's pid (queues only).
    pub from: bool,
    /// `--from-history`: start with what the topic keeps (topics only).
    pub from_history: bool,
    /// `--count`: stop after this many messages.
    pub count: Option<u64>,
    /// `--timeout`: give up when no message came for this long.
    pub timeout: Option<Duration>,
}

/// Attaches a receiver to `name` (creating the queue unless `--no-create`),
/// or subscribes if `name` is a topic, and writes its messages to standard
/// output in `format` until the sender (publisher) it has seen leaves,
/// `count` messages were written, or `timeout` passes without a message.
pub fn run(name: &str, request: Request, options: &EndOptions) -> Result<(), Failure> {
    let target = if request.from_history {
        // Only a topic has history: find one, create nothing.
        let topic = options
            .topic_builder(name)
            .open()
            .map_err(|e| match e.kind() {
                OpenErrorKind::WrongKind { found, .. } => Failure::usage(format_args!(
                    "--from-history is for topics, and {name:?} is a {found}"
                )),
                _ => Failure::open_topic(name, e),
            })?;
        Target::Topic(topic)
    } else {
        options.open(name)?
    };
    let mut out = BufWriter::with_capacity(OUTPUT_BUFFER, io::stdout().lock());
    let result = match target {
        Target::Queue(queue) => {
            let mut rx = queue.receiver().map_err(|e| Failure::open(name, e))?;
            let output = Output {
                format: request.format,
                from: request.from,
            };
            copy(
                &mut rx,
                &mut out,
                output,
                request.count,
                request.timeout,
                name,
            )
        }
        Target::Topic(_) if request.from => {
            return Err(Failure::usage(format_args!(
                "--from is for queues: {name:?} is a topic, whose messages all come from its \
                 one publisher (`shmq stat {name}` shows it)"
            )));
        }
        Target::Topic(topic) => subscribe(&topic, request, &mut out, name),
    };
    // Every batch was flushed before it was released; this writes nothing
    // unless a failure came between.
    let flushed = out.flush().map_err(Failure::stdout);
    result.and(flushed)
}

/// Why a topic receive did not give a message.
enum Missed {
    Lagged(u64),
    Disconnected,
    Timeout,
    Failed(String),
}

impl From<TopicRecvError> for Missed {
    fn from(e: TopicRecvError) -> Self {
        match e {
            TopicRecvError::Lagged(n) => Missed::Lagged(n),
            TopicRecvError::Disconnected => Missed::Disconnected,
            e => Missed::Failed(e.to_string()),
        }
    }
}

impl From<TopicRecvTimeoutError> for Missed {
    fn from(e: TopicRecvTimeoutError) -> Self {
        match e {
            TopicRecvTimeoutError::Lagged(n) => Missed::Lagged(n),
            TopicRecvTimeoutError::Disconnected => Missed::Disconnected,
            TopicRecvTimeoutError::Timeout => Missed::Timeout,
            e => Missed::Failed(e.to_string()),
        }
    }
}

/// Subscribes to `topic` and writes what it publishes to `out` until the
/// publisher it has seen leaves (and everything it published was
/// written), `count` messages were written, or `timeout` passes without
/// one. Each loss is a line on standard error, after the messages before
/// it were flushed.
fn subscribe(
    topic: &Topic,
    request: Request,
    out: &mut impl Write,
    name: &str,
) -> Result<(), Failure> {
    if request.from_history && topic.history() == 0 {
        status::warn(format_args!(
            "topic {name:?} keeps no history (create --topic --history N): \
             starting with the next message"
        ));
    }
    let mut sub: Subscriber = if request.from_history {
        topic.subscriber_with_history()
    } else {
        topic.subscriber()
    }
    .map_err(|e| Failure::open_topic(name, e))?;
    let format = request.format;
    let mut written = 0u64;
    loop {
        if request.count.is_some_and(|count| written >= count) {
            return Ok(());
        }
        // Nothing waiting: the receive may wait, so out goes what was
        // written so far.
        if sub.is_empty() {
            out.flush().map_err(Failure::stdout)?;
        }
        let write = |bytes: &[u8]| write_message(out, format, None, bytes);
        let got = match request.timeout {
            None => sub.recv_with(write).map_err(Missed::from),
            Some(timeout) => sub.recv_with_timeout(timeout, write).map_err(Missed::from),
        };
        match got {
            Ok(result) => {
                result.map_err(Failure::stdout)?;
                written += 1;
            }
            Err(Missed::Lagged(n)) => {
                out.flush().map_err(Failure::stdout)?;
                status::note(format_args!("lagged, {n} messages missed"));
            }
            Err(Missed::Disconnected) => break,
            Err(Missed::Timeout) => return Err(Failure::timed_out()),
            Err(Missed::Failed(e)) => {
                return Err(Failure::error(format_args!("topic {name:?}: {e}")));
            }
        }
    }
    // The publisher is gone and everything it published was written.
    match topic.stats().publisher {
        EndState::Dead { pid } => Err(Failure::peer_died(format_args!(
            "topic {name:?}: the publisher's process (pid {pid}) died"
        ))),
        _ => Ok(()),
    }
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
