//! Low-latency message queues between processes over shared memory.
//!
//! A named queue is a ring of fixed-size slots in a memory-mapped segment
//! (`/dev/shm/shmq.<name>`). One process attaches the [`Sender`], another
//! the [`Receiver`], and messages of any size up to the queue's limit go
//! from one to the other in order, exactly once, whole.
//!
//! # Guarantees
//!
//! - **No system call, lock or allocation per message** while both ends are
//!   awake: sending is a copy into the ring and one Release store; receiving
//!   with [`Receiver::recv_with`] reads the message in place. A futex wake
//!   is made only when the other end has registered as asleep.
//! - **Any size.** A message up to the ring's [`capacity`](Queue::capacity)
//!   is one contiguous slice in the ring; a longer one (up to the queue's
//!   `max_message_size`) is streamed in fragments and reassembled.
//! - **Crash safety.** If either process dies (even `kill -9`), the other
//!   notices within about 100 ms, gets `Disconnected` (after draining every
//!   committed message) and never sees a torn or partial message. Pid reuse
//!   is detected. A new process can then take over the dead one's end.
//! - **Ends that come and go.** A queue outlives its users. A receiver
//!   with no live sender receives what earlier senders left, then waits for
//!   one; it reports `Disconnected` once the sender it has seen leaves or
//!   dies, and [`Receiver::wait_for_sender`] waits for the next. A sender
//!   with no receiver fills the ring for the next one. Each end can say how
//!   its peer left ([`Departure`]); [`Queue::inspect`] shows who holds each
//!   end (or held it and died) without attaching, and [`Queue::stale`]
//!   finds queues nobody uses.
//! - **Nothing lost when the receiver dies**, with
//!   [`Receiver::recv_batch`]: messages are freed only when the program
//!   says it is done with them, so the next receiver gets them again
//!   (at-least-once).
//! - **Untrusted memory.** Everything read from the segment is checked
//!   before use; a corrupt segment gives an [`OpenError`] or
//!   [`CorruptedError`], never a panic, undefined behaviour or an endless
//!   wait.
//! - **What blocks:** [`Sender::send`] waits while the ring is full,
//!   [`Receiver::recv`] while it is empty, each as its [`WaitStrategy`]
//!   says (by default: spin briefly, then sleep on a futex). `try_*` calls
//!   never wait; `*_timeout` calls wait at most that long.
//!
//! # Example: two processes
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // The producer process:
//! let queue = shmq::Queue::builder("ticks").slots(1024).open_or_create()?;
//! let mut tx = queue.sender()?;
//! tx.send(b"tick 1")?;
//! tx.flush()?; // wait until the receiver has it (it may start later)
//! drop(tx); // the receiver drains "tick 1", then sees Disconnected
//!
//! // The consumer process:
//! let mut rx = shmq::Queue::builder("ticks").open_or_create()?.receiver()?;
//! for msg in rx.iter() {
//!     println!("{}", String::from_utf8_lossy(&msg));
//! }
//! shmq::Queue::remove("ticks")?;
//! # Ok(()) }
//! ```
//!
//! Within one process (for tests, or between threads), a queue can live on
//! the heap with the same code: [`QueueBuilder::in_process`].
//!
//! # Implementation details
//!
//! The segment is a header, one 384-byte lane header per sender lane (one
//! for a plain queue; see [`QueueBuilder::senders`] for mailboxes), then
//! each lane's slots:
//!
//! ```text
//!  0    Meta          magic "SHMQRING", version, flavour, slot size and
//!                     count, lanes, max message size, segment size, ready
//!  128  ReceiverLine  rx futex word (the doorbell), receiver owner token,
//!                     ready-lanes bitmap
//!  256  lane 0:  ProducerLine  head (u64 slot position), sender counters
//!  384           ConsumerLine  tail (u64 slot position), receiver counters
//!  512           LaneControl   tx futex word, sender owner token
//!  640  lane 1 ... (or, with one lane, slot 0 | slot 1 | ... | slot N-1)
//! ```
//!
//! Each 128-byte region is written by one side only (two cache lines, so
//! the adjacent-line prefetcher cannot make them share). `head` and `tail`
//! are monotonic slot positions (`tail <= head < tail + N`, position `p` in
//! slot `p & (N - 1)`); the sender caches the receiver's tail and reloads it
//! only when it has to wait (rigtorp's SPSCQueue). A record is a 16-byte
//! header (`len`, commit word, `total`) and its payload, over as many whole
//! slots as it needs; one that would wrap is preceded by a padding record
//! to the end of the ring, which is how every message up to the ring's size
//! less one slot is contiguous:
//!
//! ```text
//!  slot:   0        1        2        3        4        5        6        7
//!        [hdr|msg ][hdr|a long message ......][hdr|pad ............ pad ]
//!                                    tail^                   head^ (wrap next)
//! ```
//!
//! The commit word (`kind | position << 8`, 0 while nothing is there) is
//! what publishes a record: the receiver polls the word of the record at its
//! tail, so a message moves only its own cache lines between the cores
//! (Aeron's frame length, the turn counters of Vyukov's queue). The sender
//! zeroes the next record's word before committing, so a stale header or
//! payload left from an earlier lap never looks committed; it therefore
//! keeps one slot free.
//!
//! Memory orderings, each Release paired with one Acquire:
//!
//! - *commit-publish*: the sender zeroes the next record's commit word
//!   (*commit-clear*), writes the payload and header, then stores the
//!   record's commit word with Release; the receiver loads it with Acquire
//!   before reading. The sender then stores `head` (*head-publish*, read by
//!   a sender that takes the end over, by statistics, and as a hint by a
//!   receiver in a stream of records longer than a slot).
//! - *tail-publish*: the receiver stores `tail` with Release after reading;
//!   the sender loads it with Acquire before overwriting those slots.
//! - *sleep-register*: a waiter swaps 1 into its futex word, issues the
//!   heavy half of a barrier pair (`membarrier(GLOBAL_EXPEDITED)`), re-checks
//!   and sleeps; a publisher stores its commit word or index, issues the light half (a
//!   compiler barrier) and wakes only if the word is 1. A Dekker pair: no
//!   lost wake-up, and no system call while nobody sleeps. Where membarrier
//!   is unavailable both halves are `fence(SeqCst)`.
//! - *ready-publish*, *attach*/*detach*, *epoch*: header initialisation and
//!   end ownership (see `segment.rs` and `peer.rs`).
//!
//! Module map: `segment` (files, naming, mapping, validation), `layout`
//! (the `repr(C)` header and record format), `spsc` (the ring), `frag`
//! (fragmentation), `wait` (spin and futex sleep), `peer` (ownership and
//! liveness), `sync` (the atomics facade loom swaps in), `sys` (platform
//! calls), `error`, `queue` and `channel` (the public API),
//! [`service`] (request/response, made of queues), and the cross-process
//! synchronisation primitives [`Semaphore`] (`semaphore`) and [`Barrier`]
//! (`barrier`), each a `table` (a small segment of owner-token words)
//! waited on through `wait`'s many-waiter event.

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs, missing_debug_implementations)]
#![warn(clippy::undocumented_unsafe_blocks)]
// Under loom only the heap-backed segment exists; the file-backed half of
// `segment` and `sys` is compiled but unused there.
#![cfg_attr(shmq_loom, allow(dead_code, unused_imports))]

mod barrier;
mod channel;
mod error;
mod frag;
mod layout;
mod peer;
mod queue;
mod segment;
mod semaphore;
pub mod service;
mod spsc;
mod sync;
mod sys;
mod table;
pub mod topic;
mod wait;

#[cfg(fuzzing)]
pub mod fuzz;

/// The README's Rust example, compiled as a doctest so it cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

pub use barrier::{Barrier, BarrierMember, BarrierWaitResult, MAX_MEMBERS};
pub use channel::{Batch, Iter, Receiver, SendGuard, Sender, SenderId, TryIter};
pub use error::{
    AcquireTimeoutError, BarrierError, BarrierWaitTimeoutError, CallError, CorruptedError,
    OpenError, OpenErrorKind, RecvError, RecvTimeoutError, ReplyError, Role, SendError,
    SendTimeoutError, TopicRecvError, TopicRecvTimeoutError, TopicTryRecvError, TryAcquireError,
    TryRecvError, TrySendError,
};
pub use peer::Departure;
pub use queue::{
    DEFAULT_MAX_MESSAGE_SIZE, DEFAULT_MODE, DEFAULT_OPEN_TIMEOUT, DEFAULT_SLOT_SIZE, DEFAULT_SLOTS,
    EndState, LaneStats, MAX_SENDERS, Queue, QueueBuilder, SideStats, Stats,
};
pub use service::{
    Client, ClientStats, Request, RequestId, RequestRef, Server, ServerStats, Service,
    ServiceBuilder,
};

/// The `bytemuck` crate, re-exported for typed messages
/// ([`Sender::send_pod`], [`Receiver::recv_pod`]), so they need no
/// dependency line of their own. Its derives then need to be told where
/// the crate is:
///
/// ```
/// use shmq::bytemuck;
///
/// #[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
/// #[bytemuck(crate = "shmq::bytemuck")]
/// #[repr(C)]
/// struct Tick {
///     price: f64,
///     qty: u32,
///     venue: u32,
/// }
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let queue = shmq::QueueBuilder::in_process().create()?;
/// let (mut tx, mut rx) = (queue.sender()?, queue.receiver()?);
/// tx.send_pod(&Tick { price: 101.5, qty: 3, venue: 7 })?;
/// assert_eq!(rx.recv_pod::<Tick>()?.qty, 3);
/// # Ok(()) }
/// ```
pub use bytemuck;
pub use segment::MAX_NAME_LEN;
pub use semaphore::{MAX_PERMITS, Semaphore, SemaphorePermit};
pub use topic::{
    DEFAULT_SUBSCRIBERS, MAX_SUBSCRIBERS, Publisher, Subscriber, SubscriberStats, Topic,
    TopicBuilder, TopicStats,
};
pub use wait::{DEFAULT_SPIN, WaitStrategy};
