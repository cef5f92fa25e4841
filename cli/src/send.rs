//! `shmq send`: standard input to a queue, or published to a topic.

use std::io::{self, BufRead, BufReader, Read};

use shmq::{Departure, Publisher, SendError, Sender};

use crate::args::{EndOptions, Format, Target};
use crate::status::{self, Failure};

/// Size of the standard input buffer.
const INPUT_BUFFER: usize = 64 << 10;

/// Attaches a sender to `name` (creating the queue unless `--no-create`),
/// or its publisher if `name` is a topic, and sends standard input in
/// `format`; with `flush`, then waits until the receiver (every live
/// subscriber) has taken every message. The sender is dropped, so the
/// receiver sees the disconnect, before this returns.
pub fn run(name: &str, format: Format, flush: bool, options: &EndOptions) -> Result<(), Failure> {
    let tx = match options.open(name)? {
        Target::Queue(queue) => End::Queue(queue.sender().map_err(|e| Failure::open(name, e))?),
        Target::Topic(topic) => End::Topic(
            topic
                .publisher()
                .map_err(|e| Failure::open_topic(name, e))?,
        ),
    };
    let mut tx = Messages { tx, name, sent: 0 };
    let mut input = BufReader::with_capacity(INPUT_BUFFER, io::stdin().lock());
    match format {
        Format::Lines => send_lines(&mut input, &mut tx),
        Format::Raw => send_raw(&mut input, &mut tx),
        Format::Framed => send_frames(&mut input, &mut tx),
    }?;
    if flush {
        tx.flush()?;
    }
    Ok(())
}

/// The sending end: a queue's sender or a topic's publisher.
enum End {
    Queue(Sender),
    Topic(Publisher),
}

/// The sender, with what error messages need.
struct Messages<'a> {
    tx: End,
    name: &'a str,
    sent: u64,
}

impl Messages<'_> {
    fn max(&self) -> u64 {
        match &self.tx {
            End::Queue(tx) => tx.max_message_size(),
            End::Topic(tx) => tx.max_message_size(),
        }
    }

    /// "queue" or "topic", for messages.
    fn noun(&self) -> &'static str {
        match self.tx {
            End::Queue(_) => "queue",
            End::Topic(_) => "topic",
        }
    }

    fn send(&mut self, msg: &[u8]) -> Result<(), Failure> {
        let sent = match &mut self.tx {
            End::Queue(tx) => tx.send(msg),
            End::Topic(tx) => tx.send(msg),
        };
        match sent {
            Ok(()) => {
                self.sent += 1;
                Ok(())
            }
            Err(e) => Err(self.failure(e, "")),
        }
    }

    /// Waits until the receiver (every live subscriber) has taken every
    /// message.
    fn flush(&mut self) -> Result<(), Failure> {
        let flushed = match &mut self.tx {
            End::Queue(tx) => tx.flush(),
            End::Topic(tx) => tx.flush(),
        };
        flushed.map_err(|e| self.failure(e, " before taking every message"))
    }

    /// The failure for `error`; `when` completes "the receiver detached".
    fn failure(&self, error: SendError, when: &str) -> Failure {
        let (SendError::Disconnected, End::Queue(tx)) = (&error, &self.tx) else {
            // A publisher has no receiver to lose.
            return Failure::error(format_args!("{} {:?}: {error}", self.noun(), self.name));
        };
        // What the receiver did not take (a receiver killed while writing
        // out a batch has taken none of it) stays in the queue.
        let fate = format!(
            "{} sent; {} left in the queue for the next receiver",
            status::count(self.sent, "message"),
            tx.len()
        );
        match tx.last_departure() {
            Some(Departure::Died { pid }) => Failure::peer_died(format_args!(
                "queue {:?}: the receiver's process (pid {pid}) died{when} ({fate})",
                self.name
            )),
            _ => Failure::error(format_args!(
                "queue {:?}: the receiver detached{when} ({fate})",
                self.name
            )),
        }
    }

    fn too_large(&self, what: impl std::fmt::Display) -> Failure {
        Failure::error(format_args!(
            "{what} is larger than the maximum message size of {} {:?} ({} bytes)",
            self.noun(),
            self.name,
            self.max()
        ))
    }
}

/// One message per line, without its "\n". A last line without "\n" is a
/// message too; empty input sends nothing.
fn send_lines(input: &mut impl BufRead, tx: &mut Messages) -> Result<(), Failure> {
    let max = tx.max();
    let mut line = Vec::new();
    for number in 1u64.. {
        line.clear();
        // At most `max` bytes and the newline, plus one to tell a line that
        // is too long.
        let read = input
            .take(max.saturating_add(2))
            .read_until(b'\n', &mut line)
            .map_err(Failure::stdin)?;
        if read == 0 {
            break;
        }
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        if line.len() as u64 > max {
            return Err(tx.too_large(format_args!("line {number}")));
        }
        tx.send(&line)?;
    }
    Ok(())
}

/// All of standard input as one message.
fn send_raw(input: &mut impl Read, tx: &mut Messages) -> Result<(), Failure> {
    let max = tx.max();
    let mut msg = Vec::new();
    input
        .take(max.saturating_add(1))
        .read_to_end(&mut msg)
        .map_err(Failure::stdin)?;
    if msg.len() as u64 > max {
        return Err(tx.too_large("standard input"));
    }
    tx.send(&msg)
}

/// Frames of a 4-byte little-endian length and that many bytes. Input that
/// ends inside a frame is an error, after the complete frames were sent.
fn send_frames(input: &mut impl Read, tx: &mut Messages) -> Result<(), Failure> {
    let max = tx.max();
    let mut msg = Vec::new();
    for number in 1u64.. {
        let more = read_frame(input, number, max, &mut msg, |len| {
            tx.too_large(format_args!("frame {number} ({len} bytes)"))
        })?;
        if !more {
            break;
        }
        tx.send(&msg)?;
    }
    Ok(())
}

/// Reads frame `number` of standard input (a 4-byte little-endian length,
/// then that many bytes) into `buf`. `Ok(false)` if the input ended before
/// it (between frames); a frame longer than `max` fails with
/// `too_large(len)`, one the input ends inside of with a message saying
/// where.
pub fn read_frame(
    input: &mut impl Read,
    number: u64,
    max: u64,
    buf: &mut Vec<u8>,
    too_large: impl FnOnce(u64) -> Failure,
) -> Result<bool, Failure> {
    let mut prefix = [0; 4];
    let got = read_full(input, &mut prefix).map_err(Failure::stdin)?;
    if got == 0 {
        return Ok(false);
    }
    if got < prefix.len() {
        return Err(Failure::error(format_args!(
            "frame {number} is truncated: standard input ends {got} bytes into its 4-byte length"
        )));
    }
    let len = u64::from(u32::from_le_bytes(prefix));
    if len > max {
        return Err(too_large(len));
    }
    buf.clear();
    let got = input.take(len).read_to_end(buf).map_err(Failure::stdin)?;
    if (got as u64) < len {
        return Err(Failure::error(format_args!(
            "frame {number} is truncated: its length is {len} bytes but standard input ends after {got}"
        )));
    }
    Ok(true)
}

/// Reads until `buf` is full or the input ends; returns the bytes read.
pub fn read_full(input: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}
