//! What is timed, and how: one block at a time.
//!
//! Every message carries its sequence number (from 1, counted per
//! endpoint) in its first 8 bytes, little-endian, and the low byte of it in
//! its last byte; the rest is a fixed pattern. The side that receives a
//! message checks both stamps, so a message that was skipped, repeated,
//! reordered or cut short is an error, and neither the compiler nor a
//! transport can skip the copies. Two sequence numbers are reserved:
//! [`SWITCH`] ends a block (the peer moves to its next endpoint) and
//! [`STOP`] ends the run.
//!
//! The peer serves several endpoints in turn, single-threaded (see
//! `schedule`): it plays its role on one until a switch message, answers
//! that, and waits on the next, so the two processes always agree on which
//! endpoint is in use, and the parent can run a block on a transport right
//! after a block on the floor, in the same two processes.
//!
//! **Latency block** ([`latency_block`], peer: [`echo_block`]): the parent
//! stamps its message and sends it; the peer receives it into its own
//! buffer and sends that buffer back; the parent receives the echo into a
//! third buffer and checks it. The parent's send and receive are one
//! [`Endpoint::round_trip`]: a request/response transport's call. First `warmup` round trips (discarded), then
//! `timed` round trips, each between two `Instant::now()` reads (the
//! monotonic clock, through the vDSO) and kept as a sample, then a batch of
//! `batch` round trips timed as a whole, whose mean carries no clock
//! overhead. The samples include one clock read each (about 25 ns on the
//! machines we measured). Then the switch message, which the peer echoes
//! before it moves on.
//!
//! **Idle-peer latency block** (the same functions with a gap): before each
//! round trip (warm-up included) the parent waits a fixed gap, untimed,
//! longer than shmq's default spin budget, so the peer has been waiting
//! that long when the message comes: a spinning peer is still polling, a
//! spin-then-block one has given up and sleeps on its futex, a socket
//! reader sleeps in the kernel. The parent busy-waits the gap on
//! `Instant::now()` rather than sleeping: then only the peer is idle, the
//! parent's CPU stays awake and warm (a sleeping parent would let its
//! virtual CPU halt too, and the measured send would start on a CPU just
//! woken by a timer), and the gap is exact instead of stretched by timer
//! slack. The wait loop only reads the clock, without a spin-loop hint (see
//! the loop). There is no untimed batch (it would contain the gaps), so the
//! mean is that of the timed samples.
//!
//! **Throughput block** ([`stream_block`], peer: [`receive_block`]): the
//! parent sends `warmup + messages` stamped messages back to back, then the
//! switch message, and waits for the peer's acknowledgement on the
//! endpoint's back channel ([`Endpoint::recv_ack`]), so the next block
//! starts with this one fully drained. The peer receives and checks each
//! message, reads the clock after the last warm-up message and after the
//! last message, and keeps the difference; it reports every block's time
//! when the run stops. The rate is `messages` over that time: the steady
//! state of the slower side, without the start-up and without the
//! acknowledgement.
//!
//! **Two senders at once** ([`stream_pair_block`], peer:
//! [`receive_pair_block`]): the parent's block is two streams, each from a
//! thread of its own with its own sender and sequence numbers, both on the
//! parent's CPU (taking turns there, see `queue`); each ends with its
//! switch, and the peer acknowledges once it has both. The peer checks each sender's sequence separately (by the
//! lane the message came on) and times the contended part: from the moment
//! both senders have had `warmup` messages taken to the moment one of them
//! has had its last, counting each one's messages in between. The share
//! of each is its count over both.
//!
//! **memcpy block** ([`Copier`]): one thread of the parent copying a buffer
//! of the message size into another, as a reference for what moving the
//! bytes costs at all.

use std::hint::black_box;
use std::time::{Duration, Instant};

use super::error::{Error, Result};
use super::transport::Endpoint;

/// Sequence number of the stop message.
pub(crate) const STOP: u64 = u64::MAX;
/// Sequence number of the switch message (the end of a block).
pub(crate) const SWITCH: u64 = u64::MAX - 1;

/// A message of `size` bytes with the fixed pattern (stamps not yet set).
fn pattern(size: usize) -> Vec<u8> {
    (0..size).map(|i| (i % 251) as u8).collect()
}

/// Writes `seq` into the message's stamps.
#[inline]
fn stamp(msg: &mut [u8], seq: u64) {
    msg[..8].copy_from_slice(&seq.to_le_bytes());
    if msg.len() > 8 {
        let last = msg.len() - 1;
        msg[last] = seq as u8;
    }
}

/// The sequence number in a message.
#[inline]
fn sequence(msg: &[u8]) -> u64 {
    u64::from_le_bytes(msg[..8].try_into().expect("messages have at least 8 bytes"))
}

/// Checks that `msg` carries `seq` in both stamps.
#[inline]
fn check(msg: &[u8], seq: u64) -> Result<()> {
    let found = sequence(msg);
    let last_ok = msg.len() <= 8 || msg[msg.len() - 1] == seq as u8;
    if found == seq && last_ok {
        Ok(())
    } else {
        Err(Error::new(format!(
            "message {seq} arrived as {found}{}",
            if last_ok {
                ""
            } else {
                " with a wrong last byte"
            }
        )))
    }
}

/// Round trips of one latency block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LatencyCounts {
    /// Untimed, discarded.
    pub warmup: u64,
    /// Each timed and kept.
    pub timed: u64,
    /// Timed as a whole (0 in idle-peer blocks).
    pub batch: u64,
}

/// Messages of one throughput block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamCounts {
    /// Received before the clock starts (at least 1).
    pub warmup: u64,
    /// Received with the clock running.
    pub messages: u64,
}

/// The parent's state on one endpoint, kept from block to block: its
/// buffers and where its sequence numbers are.
#[derive(Debug)]
pub struct Line {
    msg: Vec<u8>,
    reply: Vec<u8>,
    /// Last sequence number sent.
    seq: u64,
    /// Throughput blocks acknowledged.
    blocks: u64,
}

impl Line {
    /// For `size`-byte messages.
    pub fn new(size: usize) -> Self {
        Line {
            msg: pattern(size),
            reply: vec![0; size],
            seq: 0,
            blocks: 0,
        }
    }

    /// One checked round trip with the next sequence number.
    #[inline(always)]
    fn round_trip<E: Endpoint>(&mut self, end: &mut E) -> Result<()> {
        self.seq += 1;
        stamp(&mut self.msg, self.seq);
        end.round_trip(&self.msg, &mut self.reply)?;
        check(&self.reply, self.seq)
    }

    /// Sends the stop message: the peer exits (it is waiting on this
    /// endpoint).
    pub fn stop<E: Endpoint>(&mut self, end: &mut E) -> Result<()> {
        stamp(&mut self.msg, STOP);
        end.send(&self.msg)
    }
}

/// What a latency block found.
#[derive(Debug)]
pub struct BlockLatency {
    /// Round-trip times in nanoseconds, sorted.
    pub samples: Vec<u64>,
    /// Mean round trip of the untimed batch (idle-peer: of the timed
    /// samples), in nanoseconds.
    pub mean_ns: f64,
}

/// The median of sorted samples, in nanoseconds.
pub fn median(sorted: &[u64]) -> f64 {
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2] as f64,
        n => (sorted[n / 2 - 1] + sorted[n / 2]) as f64 / 2.0,
    }
}

/// Busy-waits `gap` (idle-peer blocks).
#[inline(always)]
fn idle(gap: Option<Duration>) {
    if let Some(gap) = gap {
        let idle = Instant::now();
        // No spin-loop hint: on a VM a long PAUSE loop can make the
        // hypervisor take the CPU away (pause-loop exiting).
        while idle.elapsed() < gap {}
    }
}

/// The parent's side of a latency block on `end`, each round trip after
/// `gap` if given; ends with the switch.
pub fn latency_block<E: Endpoint>(
    end: &mut E,
    line: &mut Line,
    counts: LatencyCounts,
    gap: Option<Duration>,
) -> Result<BlockLatency> {
    let LatencyCounts {
        warmup,
        timed,
        batch,
    } = counts;
    for _ in 0..warmup {
        idle(gap);
        line.round_trip(end)?;
    }
    let mut samples = Vec::with_capacity(timed as usize);
    for _ in 0..timed {
        idle(gap);
        line.seq += 1;
        stamp(&mut line.msg, line.seq);
        let start = Instant::now();
        end.round_trip(&line.msg, &mut line.reply)?;
        let elapsed = start.elapsed();
        check(&line.reply, line.seq)?;
        samples.push(elapsed.as_nanos() as u64);
    }
    let start = Instant::now();
    for _ in 0..batch {
        line.round_trip(end)?;
    }
    let batch_ns = start.elapsed().as_nanos() as f64;
    stamp(&mut line.msg, SWITCH);
    end.round_trip(&line.msg, &mut line.reply)?;
    check(&line.reply, SWITCH)?;
    samples.sort_unstable();
    let mean_ns = if batch > 0 {
        batch_ns / batch as f64
    } else {
        samples.iter().sum::<u64>() as f64 / samples.len().max(1) as f64
    };
    Ok(BlockLatency { samples, mean_ns })
}

/// The parent's side of a throughput block on `end`: the stream, the
/// switch, and the wait for the peer's acknowledgement.
pub fn stream_block<E: Endpoint>(end: &mut E, line: &mut Line, counts: StreamCounts) -> Result<()> {
    send_stream(end, line, counts)?;
    wait_ack(end, line)
}

/// A block's stream and its switch.
fn send_stream<E: Endpoint>(end: &mut E, line: &mut Line, counts: StreamCounts) -> Result<()> {
    for _ in 0..counts.warmup + counts.messages {
        line.seq += 1;
        stamp(&mut line.msg, line.seq);
        end.send(&line.msg)?;
    }
    stamp(&mut line.msg, SWITCH);
    end.send(&line.msg)
}

/// Waits for the acknowledgement of the next block of `line` on `back`.
fn wait_ack<E: Endpoint>(back: &mut E, line: &mut Line) -> Result<()> {
    line.blocks += 1;
    let acked = back.recv_ack()?;
    if acked == line.blocks {
        Ok(())
    } else {
        Err(Error::new(format!(
            "the peer acknowledged block {acked}, expected {}",
            line.blocks
        )))
    }
}

/// One of two senders of a block sent at once (see [`stream_pair_block`]).
pub trait PairSender: Endpoint + Send {
    /// Its thread calls this before its first message of a block...
    fn begin(&mut self);
    /// ...and this after its last (or after an error).
    fn end(&mut self);
}

/// The parent's side of a throughput block from two senders at once: each
/// sends its stream and its switch from a thread of its own, with its own
/// line (sequence numbers), between [`PairSender::begin`] and
/// [`PairSender::end`]; then `back` waits for the peer's acknowledgement
/// of the block (counted on `line`). The threads run on the parent's CPU,
/// which the parent is pinned to.
pub fn stream_pair_block<E: PairSender, B: Endpoint>(
    senders: &mut [E; 2],
    lines: &mut [Line; 2],
    back: &mut B,
    line: &mut Line,
    counts: StreamCounts,
) -> Result<()> {
    std::thread::scope(|scope| {
        let threads: Vec<_> = senders
            .iter_mut()
            .zip(lines.iter_mut())
            .map(|(end, line)| {
                scope.spawn(move || {
                    end.begin();
                    let sent = send_stream(end, line, counts);
                    end.end();
                    sent
                })
            })
            .collect();
        threads.into_iter().try_for_each(|thread| {
            thread
                .join()
                .unwrap_or_else(|_| Err(Error::new("a sender thread panicked")))
        })
    })?;
    wait_ack(back, line)
}

/// How a block ended on the peer's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// The switch message: go on with the next endpoint.
    Switch,
    /// The stop message.
    Stop,
}

/// The peer's state on one endpoint, kept from block to block.
#[derive(Debug)]
pub struct PeerLine {
    buf: Vec<u8>,
    /// Next sequence number expected.
    expected: u64,
    /// Throughput blocks received.
    blocks: u64,
}

impl PeerLine {
    /// For `size`-byte messages.
    pub fn new(size: usize) -> Self {
        PeerLine {
            buf: vec![0; size],
            expected: 1,
            blocks: 0,
        }
    }
}

/// The peer's side of a latency block: echoes every message, including
/// the switch.
pub fn echo_block<E: Endpoint>(end: &mut E, line: &mut PeerLine) -> Result<Next> {
    loop {
        end.recv(&mut line.buf)?;
        match sequence(&line.buf) {
            STOP => return Ok(Next::Stop),
            SWITCH => {
                end.send(&line.buf)?;
                return Ok(Next::Switch);
            }
            _ => {
                check(&line.buf, line.expected)?;
                line.expected += 1;
                end.send(&line.buf)?;
            }
        }
    }
}

/// The peer's side of a throughput block: receives and checks the stream,
/// acknowledges the switch, and returns the time from the last warm-up
/// message to the last message in nanoseconds (`None` at the stop
/// message).
pub fn receive_block<E: Endpoint>(
    end: &mut E,
    line: &mut PeerLine,
    counts: StreamCounts,
) -> Result<Option<u64>> {
    let StreamCounts { warmup, messages } = counts;
    if warmup == 0 || messages == 0 {
        return Err(Error::new("a stream needs warm-up and timed messages"));
    }
    let total = warmup + messages;
    let mut received = 0u64;
    let mut start = Instant::now();
    let mut finish = start;
    loop {
        end.recv(&mut line.buf)?;
        match sequence(&line.buf) {
            STOP if received == 0 => return Ok(None),
            SWITCH if received == total => {
                line.blocks += 1;
                end.send_ack(line.blocks)?;
                return Ok(Some(finish.duration_since(start).as_nanos() as u64));
            }
            seq @ (STOP | SWITCH) => {
                return Err(Error::new(format!(
                    "{} after {received} of {total} messages",
                    if seq == STOP { "stop" } else { "switch" }
                )));
            }
            _ => {
                check(&line.buf, line.expected)?;
                line.expected += 1;
                received += 1;
                if received == warmup {
                    start = Instant::now();
                } else if received == total {
                    finish = Instant::now();
                }
            }
        }
    }
}

/// What the peer measured of a throughput block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockTime {
    /// The timed part, in nanoseconds.
    pub ns: u64,
    /// Two senders at once: the messages of each (lane 0, lane 1) in the
    /// timed part.
    pub lanes: Option<[u64; 2]>,
}

impl BlockTime {
    /// A block of one sender.
    pub fn alone(ns: u64) -> Self {
        BlockTime { ns, lanes: None }
    }

    /// How the peer reports it: `ns`, or `ns/a/b` for two senders.
    pub fn token(self) -> String {
        match self.lanes {
            None => self.ns.to_string(),
            Some([a, b]) => format!("{}/{a}/{b}", self.ns),
        }
    }

    /// The block of a `token`.
    pub fn parse(token: &str) -> Option<Self> {
        let mut fields = token.split('/').map(str::parse::<u64>);
        let ns = fields.next()?.ok()?;
        match (fields.next(), fields.next(), fields.next()) {
            (None, _, _) => Some(BlockTime::alone(ns)),
            (Some(Ok(a)), Some(Ok(b)), None) => Some(BlockTime {
                ns,
                lanes: Some([a, b]),
            }),
            _ => None,
        }
    }

    /// Messages in the timed part of a block that sent `messages` timed
    /// messages per sender.
    pub fn messages(self, messages: u64) -> u64 {
        self.lanes.map_or(messages, |[a, b]| a + b)
    }
}

/// A receiver that says which of two senders (lanes 0 and 1) each message
/// came from.
pub trait FromTwo {
    /// Waits for the next message, copies it into `buf` (exactly its
    /// length), and returns its sender's lane.
    fn recv_from(&mut self, buf: &mut [u8]) -> Result<usize>;
    /// The acknowledgement of a block, as [`Endpoint::send_ack`].
    fn send_ack(&mut self, block: u64) -> Result<()>;
}

/// The peer's side of a block from two senders at once (see
/// [`stream_pair_block`]): receives and checks both streams (each lane's
/// sequence numbers in `expected`), acknowledges once both switches are
/// in, and returns the timed part (`None` at the stop message).
///
/// The timed part is the contended one: it opens once both senders have
/// had `counts.warmup` messages taken (both are running by then) and
/// closes when one of them has had its last, so the receiver could take
/// from both throughout; the time and each lane's messages in it are
/// reported. If one sender had all its messages taken before the other
/// had its warm-up, the part runs from the block's first message instead:
/// the share then says how lopsided it was.
pub fn receive_pair_block<R: FromTwo>(
    end: &mut R,
    line: &mut PeerLine,
    expected: &mut [u64; 2],
    counts: StreamCounts,
) -> Result<Option<BlockTime>> {
    let StreamCounts { warmup, messages } = counts;
    if warmup == 0 || messages == 0 {
        return Err(Error::new("a stream needs warm-up and timed messages"));
    }
    let total = warmup + messages;
    let mut got = [0u64; 2];
    let mut switched = [false; 2];
    let mut first = None;
    let mut open: Option<(Instant, [u64; 2])> = None;
    let mut close: Option<(Instant, [u64; 2])> = None;
    loop {
        let lane = end.recv_from(&mut line.buf)?;
        if lane > 1 {
            return Err(Error::new(format!("a message from lane {lane}")));
        }
        match sequence(&line.buf) {
            STOP if got == [0, 0] && switched == [false, false] => return Ok(None),
            SWITCH if got[lane] == total && !switched[lane] => {
                switched[lane] = true;
                if switched == [true, true] {
                    line.blocks += 1;
                    end.send_ack(line.blocks)?;
                    let (t1, c1) = close.expect("a lane had its last message");
                    let (t0, c0) = open.unwrap_or((first.expect("messages came"), [0, 0]));
                    return Ok(Some(BlockTime {
                        ns: t1.duration_since(t0).as_nanos() as u64,
                        lanes: Some([c1[0] - c0[0], c1[1] - c0[1]]),
                    }));
                }
            }
            seq @ (STOP | SWITCH) => {
                return Err(Error::new(format!(
                    "{} from lane {lane} after {} of {total} messages",
                    if seq == STOP { "stop" } else { "switch" },
                    got[lane]
                )));
            }
            _ => {
                check(&line.buf, expected[lane])?;
                expected[lane] += 1;
                got[lane] += 1;
                if first.is_none() {
                    first = Some(Instant::now());
                }
                // A lane's last message closes the part, before it could
                // open on the same message.
                if close.is_none() && got[lane] == total {
                    close = Some((Instant::now(), got));
                } else if open.is_none() && close.is_none() && got[0].min(got[1]) >= warmup {
                    open = Some((Instant::now(), got));
                }
            }
        }
    }
}

/// The memcpy reference: two buffers of the message size in the parent.
#[derive(Debug)]
pub struct Copier {
    source: Vec<u8>,
    target: Vec<u8>,
}

impl Copier {
    /// For `size`-byte messages.
    pub fn new(size: usize) -> Self {
        Copier {
            source: pattern(size),
            target: vec![0; size],
        }
    }

    /// Copies the buffer `counts.warmup` times (untimed), then
    /// `counts.messages` times (timed); returns the timed part's
    /// nanoseconds.
    pub fn block(&mut self, counts: StreamCounts) -> u64 {
        for _ in 0..counts.warmup {
            self.target.copy_from_slice(black_box(&self.source));
            black_box(&mut self.target);
        }
        let start = Instant::now();
        for _ in 0..counts.messages {
            self.target.copy_from_slice(black_box(&self.source));
            black_box(&mut self.target);
        }
        start.elapsed().as_nanos() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps() {
        let mut msg = pattern(64);
        stamp(&mut msg, 300);
        assert_eq!(sequence(&msg), 300);
        assert!(check(&msg, 300).is_ok());
        assert!(check(&msg, 301).is_err());
        msg[63] ^= 1;
        assert!(check(&msg, 300).is_err());
        let mut short = pattern(8);
        stamp(&mut short, 7);
        assert!(check(&short, 7).is_ok());
        stamp(&mut short, SWITCH);
        assert!(check(&short, SWITCH).is_ok());
        assert_ne!(SWITCH, STOP);
    }

    #[test]
    fn block_times_as_the_peer_reports_them() {
        for time in [
            BlockTime::alone(1234),
            BlockTime {
                ns: 99,
                lanes: Some([3, 4]),
            },
        ] {
            assert_eq!(BlockTime::parse(&time.token()), Some(time));
        }
        assert_eq!(BlockTime::parse("5/1/2").unwrap().messages(100), 3);
        assert_eq!(BlockTime::parse("5").unwrap().messages(100), 100);
        for bad in ["", "x", "5/1", "5/1/2/3", "5/a/2"] {
            assert_eq!(BlockTime::parse(bad), None, "{bad:?}");
        }
    }
}
