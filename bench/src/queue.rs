//! shmq as a transport: two queues, `ping` (parent to peer) and `pong`
//! (peer to parent), used the way the library's documentation suggests.
//!
//! Sending is [`shmq::Sender::send`] from the caller's buffer (one copy
//! into the ring). Receiving is [`shmq::Receiver::recv_with`], copying the
//! message out of the ring into the caller's reused buffer, so neither side
//! allocates per message. Both ends of both queues use the transport's
//! wait strategy.
//!
//! Ring shapes (128-byte slots, so a 64-byte message and its 16-byte record
//! header take one slot): for latency, enough slots that the ring holds
//! two messages in one piece each, at least 64 (an 8 KiB ring); for
//! throughput the `ping` ring has as many bytes as the floor's ring
//! (`ring::ring_bytes`).
//!
//! **Mailboxes** ([`Lanes`]): `ping` (and, for round trips, `pong`) can be
//! a mailbox of several sender lanes, each lane a ring of the shape above.
//! With [`Lanes::Idle`] the sending process attaches one sender that does
//! all the sending and holds every other lane with a sender that sends
//! nothing, so the receiver serves one busy lane among idle ones; the
//! parent holds the idle senders of `ping`, the peer those of `pong`.
//! With [`Lanes::Pair`], `ping` has two lanes whose senders are two
//! threads of the parent sending at once (see `measure`), and the peer's
//! receiver tells their messages apart by lane; `pong` is a plain queue
//! for the acknowledgements. The two threads share the parent's CPU and
//! take turns, a burst each (see `Baton`); the lanes are eight times the
//! plain ring, so each holds many bursts.

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use shmq::{Queue, QueueBuilder, Receiver, Sender, TrySendError, WaitStrategy};

use super::error::{Context, Error, Result};
use super::measure::{
    self, BlockLatency, BlockTime, FromTwo, LatencyCounts, Line, Next, PairSender, PeerLine,
    StreamCounts,
};
use super::peer::Liveness;
use super::ring;
use super::transport::{Blocks, Endpoint, Mode, SleepCounters};

/// Bytes per slot.
pub const SLOT_SIZE: usize = 128;
/// Bytes of a record header in the ring (see the library's layout).
const RECORD_HEADER: usize = 16;

/// Slots of a latency queue for `size`-byte messages: a power of two, at
/// least 64, with room for two messages in one piece.
pub fn latency_slots(size: usize) -> usize {
    (2 * size + RECORD_HEADER)
        .div_ceil(SLOT_SIZE)
        .max(64)
        .next_power_of_two()
}

/// Slots of the streaming queue: the floor ring's bytes.
fn stream_slots(size: usize) -> usize {
    (ring::ring_bytes(size) / SLOT_SIZE).max(latency_slots(size))
}

/// Each lane of [`Lanes::Pair`] holds this many times the plain queue's
/// ring.
const PAIR_DEPTH: usize = 8;

/// The sender lanes of a transport's queues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lanes {
    /// A plain queue (one lane).
    One,
    /// A mailbox of this many lanes, one sending and the rest attached
    /// and idle.
    Idle(usize),
    /// A mailbox of two lanes, both sending at once (throughput only).
    Pair,
}

impl Lanes {
    /// The lanes of `ping`.
    fn count(self) -> usize {
        match self {
            Lanes::One => 1,
            Lanes::Idle(lanes) => lanes,
            Lanes::Pair => 2,
        }
    }
}

/// The two queues of one measurement.
#[derive(Debug)]
pub struct Queues {
    ping: Queue,
    pong: Queue,
    /// Names still in `/dev/shm` that we created and must remove.
    names: Vec<String>,
}

impl Queues {
    /// Creates `<base>-ping` and `<base>-pong` (the parent): `ping` with
    /// `lanes`, and `pong` with as many for round trips (a plain queue for
    /// the acknowledgements of a stream).
    pub fn create(
        base: &str,
        size: usize,
        mode: Mode,
        wait: WaitStrategy,
        lanes: Lanes,
    ) -> Result<Self> {
        let ping_slots = match (mode, lanes) {
            (Mode::Latency, _) => latency_slots(size),
            // Deep lanes for two senders taking turns on one CPU: a lane
            // holds many bursts (see `Baton`).
            (Mode::Throughput, Lanes::Pair) => stream_slots(size) * PAIR_DEPTH,
            (Mode::Throughput, _) => stream_slots(size),
        };
        let pong_lanes = match mode {
            Mode::Latency => lanes.count(),
            Mode::Throughput => 1,
        };
        let mut names = Vec::new();
        let mut create = |suffix: &str, slots: usize, lanes: usize| -> Result<Queue> {
            let name = format!("{base}-{suffix}");
            let queue = QueueBuilder::new(&name)
                .slot_size(SLOT_SIZE)
                .slots(slots)
                .senders(lanes)
                .max_message_size(size.max(64) as u64)
                .wait_strategy(wait)
                .create()
                .with_context(|| format!("shmq: create queue {name}"))?;
            names.push(name);
            Ok(queue)
        };
        // On an early return, `Queues` is not built yet: remove by hand.
        let queues = create("ping", ping_slots, lanes.count()).and_then(|ping| {
            let pong = create("pong", latency_slots(size), pong_lanes)?;
            Ok((ping, pong))
        });
        match queues {
            Ok((ping, pong)) => Ok(Queues { ping, pong, names }),
            Err(e) => {
                for name in &names {
                    let _ = Queue::remove(name);
                }
                Err(e)
            }
        }
    }

    /// Opens the parent's queues (the peer).
    pub fn open(base: &str, wait: WaitStrategy) -> Result<Self> {
        let open = |suffix: &str| {
            let name = format!("{base}-{suffix}");
            QueueBuilder::new(&name)
                .wait_strategy(wait)
                .open()
                .with_context(|| format!("shmq: open queue {name}"))
        };
        Ok(Queues {
            ping: open("ping")?,
            pong: open("pong")?,
            names: Vec::new(),
        })
    }

    /// Queues another pattern is made of (a service's request mailbox,
    /// `ping`, and reply queue, `pong`), held for their counters only:
    /// their names are not ours to remove.
    pub fn watch(ping: Queue, pong: Queue) -> Self {
        Queues {
            ping,
            pong,
            names: Vec::new(),
        }
    }

    /// Removes the queues' names; both processes keep their mappings.
    pub fn unlink(&mut self) {
        for name in self.names.drain(..) {
            let _ = Queue::remove(&name);
        }
    }

    /// The parent's end for `size`-byte messages: sends on `ping` (from two
    /// threads for [`Lanes::Pair`]), receives on `pong`.
    pub fn parent_end(&self, lanes: Lanes, size: usize) -> Result<ParentEnd> {
        let rx = self.pong.receiver().context("shmq: attach the receiver")?;
        if lanes == Lanes::Pair {
            let baton = Arc::new(Baton::default());
            let pair = |me| -> Result<SendOnly> {
                Ok(SendOnly {
                    tx: sender(&self.ping)?,
                    me,
                    baton: Arc::clone(&baton),
                    burst: 0,
                    live: None,
                })
            };
            return Ok(ParentEnd::Pair(Box::new(Pair {
                senders: [pair(0)?, pair(1)?],
                baton: Arc::clone(&baton),
                lines: [Line::new(size), Line::new(size)],
                back: AckOnly(rx),
            })));
        }
        let tx = sender(&self.ping)?;
        Ok(ParentEnd::One(Box::new(End {
            tx,
            rx,
            _idle: idle(&self.ping)?,
        })))
    }

    /// The peer's end: receives on `ping`, sends on `pong`; for a mailbox
    /// of round trips, also holds the idle lanes of `pong`.
    pub fn child_end(&self, lanes: Lanes) -> Result<Box<dyn Blocks>> {
        let rx = self.ping.receiver().context("shmq: attach the receiver")?;
        let tx = sender(&self.pong)?;
        Ok(match lanes {
            Lanes::Pair => Box::new(Shares {
                rx,
                tx,
                expected: [1, 1],
            }),
            Lanes::One | Lanes::Idle(_) => Box::new(End {
                tx,
                rx,
                _idle: idle(&self.pong)?,
            }),
        })
    }
}

impl SleepCounters for Queues {
    /// Futex sleeps per received message, both receivers together, from
    /// the queues' counters.
    fn sleeps_per_message(&self) -> Option<f64> {
        let (ping, pong) = (self.ping.stats(), self.pong.stats());
        let messages = ping.receiver.messages + pong.receiver.messages;
        let sleeps = ping.receiver.sleeps + pong.receiver.sleeps;
        (messages > 0).then(|| sleeps as f64 / messages as f64)
    }
}

impl Drop for Queues {
    fn drop(&mut self) {
        self.unlink();
    }
}

/// Attaches a sender to `queue` (the first free lane).
fn sender(queue: &Queue) -> Result<Sender> {
    queue.sender().context("shmq: attach the sender")
}

/// Attaches a sender to every lane of `queue` still free, to hold them
/// idle (none for a plain queue).
fn idle(queue: &Queue) -> Result<Vec<Sender>> {
    let free = queue.senders().saturating_sub(1);
    (0..free)
        .map(|_| queue.sender().context("shmq: attach an idle sender"))
        .collect()
}

/// One side's sender and receiver, and on a mailbox the idle senders of
/// the other lanes, which send nothing.
#[derive(Debug)]
pub struct End {
    tx: Sender,
    rx: Receiver,
    _idle: Vec<Sender>,
}

/// Copies a message out of the ring into `buf`, checking its length.
#[inline(always)]
pub fn copy_out(bytes: &[u8], buf: &mut [u8]) -> usize {
    if bytes.len() == buf.len() {
        buf.copy_from_slice(bytes);
    }
    bytes.len()
}

/// Receives one message into `buf`, which it must fill exactly.
#[inline]
fn recv_exact(rx: &mut Receiver, buf: &mut [u8]) -> Result<()> {
    let len = rx
        .recv_with(|bytes| copy_out(bytes, buf))
        .context("shmq: receive")?;
    if len == buf.len() {
        Ok(())
    } else {
        Err(wrong_length(len, buf.len()))
    }
}

/// The error of a message of `len` bytes where `expected` were due.
pub fn wrong_length(len: usize, expected: usize) -> Error {
    Error::new(format!("shmq: received {len} bytes, expected {expected}"))
}

impl Endpoint for End {
    #[inline]
    fn send(&mut self, msg: &[u8]) -> Result<()> {
        self.tx.send(msg).context("shmq: send")
    }

    #[inline]
    fn recv(&mut self, buf: &mut [u8]) -> Result<()> {
        recv_exact(&mut self.rx, buf)
    }
}

/// The parent's end of a transport, as created before the peer starts.
#[derive(Debug)]
pub enum ParentEnd {
    /// One sender (and idle ones, on a mailbox).
    One(Box<End>),
    /// Two senders at once.
    Pair(Box<Pair>),
}

impl ParentEnd {
    /// The end, for the driver, once the peer (`live`) is connected.
    pub fn connected(self, live: &Liveness) -> Box<dyn Blocks> {
        match self {
            ParentEnd::One(end) => end,
            ParentEnd::Pair(mut pair) => {
                for sender in &mut pair.senders {
                    sender.live = Some(live.clone());
                }
                pair
            }
        }
    }
}

/// Whose turn it is to send, of the two senders of a [`Pair`], which
/// share the parent's CPU: each sends a burst of at most [`BURST`]
/// messages (fewer if its lane fills up), then hands the turn, and the
/// CPU, to the other and sleeps until it comes back. Left to the
/// scheduler, one thread would keep the CPU for a whole time slice
/// (milliseconds) while the other's lane ran dry and the receiver served
/// one lane only; taking turns every few tens of microseconds keeps both
/// lanes full (each holds several bursts), so the receiver always has
/// both to choose from and the shares are its own doing.
#[derive(Debug, Default)]
struct Baton {
    /// The sender whose turn it is, and which senders are done with the
    /// block.
    state: Mutex<(usize, [bool; 2])>,
    turn: Condvar,
}

/// Messages a [`Pair`]'s sender sends before it hands the turn over.
const BURST: u32 = 1024;
/// How long a sender whose lane is full, and whose partner is done,
/// sleeps before it tries again.
const NAP: Duration = Duration::from_micros(20);
/// Naps between liveness checks.
const NAPS_PER_CHECK: u32 = 1 << 8;

impl Baton {
    fn lock(&self) -> std::sync::MutexGuard<'_, (usize, [bool; 2])> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A new block: sender 0 first, neither done.
    fn reset(&self) {
        *self.lock() = (0, [false, false]);
    }

    /// Waits until it is `me`'s turn, or the other is done; says whether
    /// the other is done.
    fn wait(&self, me: usize) -> bool {
        let mut state = self.lock();
        while state.0 != me && !state.1[1 - me] {
            state = self
                .turn
                .wait(state)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        state.1[1 - me]
    }

    /// Hands the turn to the other (and, with `done`, says `me` is done).
    fn pass(&self, me: usize, done: bool) {
        let mut state = self.lock();
        state.0 = 1 - me;
        state.1[me] |= done;
        self.turn.notify_all();
    }
}

/// One of the two senders of a [`Pair`], each on a thread of its own,
/// taking turns with the other (see [`Baton`]).
#[derive(Debug)]
pub struct SendOnly {
    tx: Sender,
    /// Its index in the pair.
    me: usize,
    baton: Arc<Baton>,
    /// Messages sent in this turn.
    burst: u32,
    /// The peer's, once connected.
    live: Option<Liveness>,
}

impl SendOnly {
    /// Hands the turn over and waits for it again; returns whether the
    /// other is done (then the turn does not come back).
    fn hand_over(&mut self) -> bool {
        self.burst = 0;
        self.baton.pass(self.me, false);
        self.baton.wait(self.me)
    }
}

impl PairSender for SendOnly {
    fn begin(&mut self) {
        self.burst = 0;
        self.baton.wait(self.me);
    }

    fn end(&mut self) {
        self.baton.pass(self.me, true);
    }
}

impl Endpoint for SendOnly {
    #[inline]
    fn send(&mut self, msg: &[u8]) -> Result<()> {
        let mut naps = 0u32;
        loop {
            match self.tx.try_send(msg) {
                Ok(()) => break,
                Err(TrySendError::Full) => {
                    if self.hand_over() {
                        // Alone now: wait for room without the partner.
                        std::thread::sleep(NAP);
                        naps = naps.wrapping_add(1);
                        if naps.is_multiple_of(NAPS_PER_CHECK)
                            && self.live.as_ref().is_some_and(|live| !live.peer_alive())
                        {
                            return Err(Error::new("the peer process is gone"));
                        }
                    }
                }
                Err(e) => return Err(Error::new(format!("shmq: send: {e}"))),
            }
        }
        self.burst += 1;
        if self.burst == BURST {
            self.hand_over();
        }
        Ok(())
    }

    fn recv(&mut self, _: &mut [u8]) -> Result<()> {
        Err(Error::new("shmq: this end only sends"))
    }
}

/// A receiver alone, for the acknowledgements of a [`Pair`]'s blocks.
#[derive(Debug)]
pub struct AckOnly(Receiver);

impl Endpoint for AckOnly {
    fn send(&mut self, _: &[u8]) -> Result<()> {
        Err(Error::new("shmq: this end only receives"))
    }

    fn recv(&mut self, buf: &mut [u8]) -> Result<()> {
        recv_exact(&mut self.0, buf)
    }
}

/// The parent's end of a mailbox with two senders sending at once: a
/// block's streams come from two threads (see
/// [`measure::stream_pair_block`]). Streams only.
#[derive(Debug)]
pub struct Pair {
    senders: [SendOnly; 2],
    baton: Arc<Baton>,
    /// Each sender's sequence numbers.
    lines: [Line; 2],
    back: AckOnly,
}

/// Round trips, and the peer's roles, are not what a [`Pair`] or its
/// [`Shares`] do.
fn streams_only() -> Error {
    Error::new("two senders at once: measured in throughput mode only")
}

impl Blocks for Pair {
    fn latency(
        &mut self,
        _: &mut Line,
        _: LatencyCounts,
        _: Option<Duration>,
    ) -> Result<BlockLatency> {
        Err(streams_only())
    }

    fn stream(&mut self, line: &mut Line, counts: StreamCounts) -> Result<()> {
        self.baton.reset();
        measure::stream_pair_block(
            &mut self.senders,
            &mut self.lines,
            &mut self.back,
            line,
            counts,
        )
    }

    fn stop(&mut self, line: &mut Line) -> Result<()> {
        // As if the other were done: the first never waits for its turn.
        self.baton.reset();
        self.baton.pass(1, true);
        line.stop(&mut self.senders[0])
    }

    fn echo(&mut self, _: &mut PeerLine) -> Result<Next> {
        Err(streams_only())
    }

    fn receive(&mut self, _: &mut PeerLine, _: StreamCounts) -> Result<Option<BlockTime>> {
        Err(streams_only())
    }
}

/// The peer's end of a [`Pair`]: receives from both lanes, telling them
/// apart, and acknowledges on `pong`.
#[derive(Debug)]
pub struct Shares {
    rx: Receiver,
    tx: Sender,
    /// Each lane's next sequence number.
    expected: [u64; 2],
}

impl FromTwo for Shares {
    #[inline]
    fn recv_from(&mut self, buf: &mut [u8]) -> Result<usize> {
        let (len, lane) = self
            .rx
            .recv_with_from(|bytes, from| (copy_out(bytes, buf), from.lane()))
            .context("shmq: receive")?;
        if len == buf.len() {
            Ok(lane)
        } else {
            Err(wrong_length(len, buf.len()))
        }
    }

    fn send_ack(&mut self, block: u64) -> Result<()> {
        self.tx.send(&block.to_le_bytes()).context("shmq: send")
    }
}

impl Blocks for Shares {
    fn latency(
        &mut self,
        _: &mut Line,
        _: LatencyCounts,
        _: Option<Duration>,
    ) -> Result<BlockLatency> {
        Err(streams_only())
    }

    fn stream(&mut self, _: &mut Line, _: StreamCounts) -> Result<()> {
        Err(streams_only())
    }

    fn stop(&mut self, _: &mut Line) -> Result<()> {
        Err(streams_only())
    }

    fn echo(&mut self, _: &mut PeerLine) -> Result<Next> {
        Err(streams_only())
    }

    fn receive(&mut self, line: &mut PeerLine, counts: StreamCounts) -> Result<Option<BlockTime>> {
        let mut expected = self.expected;
        let block = measure::receive_pair_block(self, line, &mut expected, counts);
        self.expected = expected;
        block
    }
}
