//! Queues: creating, opening and inspecting them, and attaching their ends.

use std::sync::Arc;
use std::time::Duration;

use crate::channel::{Receiver, Sender};
use crate::error::OpenError;
use crate::layout::Config;
use crate::peer;
use crate::segment::{self, Region};
use crate::spsc::{Consumer, Producer};
use crate::sync::Ordering::Relaxed;
use crate::wait::WaitStrategy;

/// Default slot size: a 64-byte message and its 16-byte record header fit
/// in one slot.
pub const DEFAULT_SLOT_SIZE: usize = 128;
/// Default number of slots.
pub const DEFAULT_SLOTS: usize = 4096;
/// Default largest message (64 MiB).
pub const DEFAULT_MAX_MESSAGE_SIZE: u64 = 64 << 20;
/// Default file mode of a new queue: owner read and write only.
pub const DEFAULT_MODE: u32 = 0o600;
/// Default time an opener waits for a queue's creator to finish.
pub const DEFAULT_OPEN_TIMEOUT: Duration = Duration::from_secs(1);

/// Settings for creating or opening a queue; ends in [`create`],
/// [`open`] or [`open_or_create`].
///
/// [`create`]: QueueBuilder::create
/// [`open`]: QueueBuilder::open
/// [`open_or_create`]: QueueBuilder::open_or_create
///
/// # Examples
///
/// ```no_run
/// # fn main() -> Result<(), shmq::OpenError> {
/// let queue = shmq::Queue::builder("prices")
///     .slot_size(256)
///     .slots(1024)
///     .max_message_size(1 << 20)
///     .open_or_create()?;
/// assert_eq!(queue.slot_count(), 1024);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct QueueBuilder {
    name: Option<String>,
    slot_size: usize,
    slots: usize,
    max_message_size: u64,
    mode: u32,
    open_timeout: Duration,
    wait: WaitStrategy,
}

impl QueueBuilder {
    /// Settings for the queue called `name` (1-64 characters of
    /// `[A-Za-z0-9._-]`, not starting with `.`), with the defaults.
    pub fn new(name: impl Into<String>) -> Self {
        QueueBuilder {
            name: Some(name.into()),
            ..Self::in_process()
        }
    }

    /// Settings for a queue on the heap of this process, with no name and
    /// no file: for tests and for threads of one program. Only
    /// [`create`](Self::create) applies; the ring code is the same.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let queue = shmq::QueueBuilder::in_process().slots(8).create()?;
    /// let (mut tx, mut rx) = (queue.sender()?, queue.receiver()?);
    /// tx.send(b"hi")?;
    /// assert_eq!(rx.recv()?, b"hi");
    /// # Ok(()) }
    /// ```
    pub fn in_process() -> Self {
        QueueBuilder {
            name: None,
            slot_size: DEFAULT_SLOT_SIZE,
            slots: DEFAULT_SLOTS,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            mode: DEFAULT_MODE,
            open_timeout: DEFAULT_OPEN_TIMEOUT,
            wait: WaitStrategy::default(),
        }
    }

    /// Bytes per slot: a multiple of 64 from 64 to 16 MiB. Each record
    /// takes a 16-byte header plus its payload, rounded up to whole slots.
    pub fn slot_size(mut self, bytes: usize) -> Self {
        self.slot_size = bytes;
        self
    }

    /// Number of slots: a power of two from 2 to 2^24.
    pub fn slots(mut self, count: usize) -> Self {
        self.slots = count;
        self
    }

    /// Longest message the queue carries (at most 1 TiB). Longer than the
    /// ring, a message is streamed in fragments and the receiver assembles
    /// it in a buffer of up to this size, so it bounds what a sender can
    /// make a receiver allocate.
    pub fn max_message_size(mut self, bytes: u64) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// File mode of a newly created queue (default `0o600`). The umask does
    /// not apply.
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = mode & 0o777;
        self
    }

    /// How long `open` waits for a creator that is still initialising the
    /// queue (default 1 s).
    pub fn open_timeout(mut self, timeout: Duration) -> Self {
        self.open_timeout = timeout;
        self
    }

    /// Wait strategy given to the ends attached through the queue (default
    /// [`WaitStrategy::default`]); each end can change its own later.
    pub fn wait_strategy(mut self, wait: WaitStrategy) -> Self {
        self.wait = wait;
        self
    }

    fn config(&self) -> Config {
        Config {
            slot_size: self.slot_size,
            slot_count: self.slots,
            max_message_size: self.max_message_size,
        }
    }

    fn finish(&self, region: Region) -> Queue {
        Queue {
            region: Arc::new(region),
            name: self.name.clone(),
            wait: self.wait,
        }
    }

    /// Creates the queue; fails if it exists.
    ///
    /// # Errors
    ///
    /// [`OpenError::InvalidName`], [`OpenError::InvalidOptions`] (naming the
    /// setting), [`OpenError::AlreadyExists`], or [`OpenError::Io`].
    pub fn create(&self) -> Result<Queue, OpenError> {
        let config = self.config();
        config.check().map_err(OpenError::InvalidOptions)?;
        match &self.name {
            None => Ok(self.finish(Region::heap(config))),
            #[cfg(not(shmq_loom))]
            Some(name) => Ok(self.finish(Region::create(name, config, self.mode)?)),
            #[cfg(shmq_loom)]
            Some(_) => Err(OpenError::InvalidOptions(
                "named queues are not modelled under loom",
            )),
        }
    }

    /// Opens an existing queue. The size settings of the builder are not
    /// used: the queue's own are read (and checked) from its segment.
    ///
    /// # Errors
    ///
    /// [`OpenError::NotFound`], [`OpenError::NotReady`] if its creator never
    /// finished, or the error naming the first header check that failed.
    pub fn open(&self) -> Result<Queue, OpenError> {
        match &self.name {
            None => Err(OpenError::InvalidOptions(
                "an in-process queue can only be created",
            )),
            #[cfg(not(shmq_loom))]
            Some(name) => Ok(self.finish(Region::open(name, self.open_timeout)?)),
            #[cfg(shmq_loom)]
            Some(_) => Err(OpenError::InvalidOptions(
                "named queues are not modelled under loom",
            )),
        }
    }

    /// Opens the queue if it exists, else creates it with these settings.
    ///
    /// # Errors
    ///
    /// As for [`create`](Self::create) and [`open`](Self::open).
    pub fn open_or_create(&self) -> Result<Queue, OpenError> {
        if self.name.is_none() {
            return self.create();
        }
        // Another process may create or remove it between our two attempts;
        // a few rounds settle any such race.
        let mut last = OpenError::NotFound;
        for _ in 0..8 {
            match self.open() {
                Err(OpenError::NotFound) => {}
                other => return other,
            }
            match self.create() {
                Err(OpenError::AlreadyExists) => last = OpenError::AlreadyExists,
                other => return other,
            }
        }
        Err(last)
    }
}

/// A queue: a ring in shared memory, by name, or on the heap. Attach its
/// ends with [`sender`](Queue::sender) and [`receiver`](Queue::receiver);
/// each end can be held by one live process at a time.
///
/// # Examples
///
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // Process A
/// let mut tx = shmq::Queue::builder("ticks").open_or_create()?.sender()?;
/// tx.send(b"hello")?;
///
/// // Process B
/// let mut rx = shmq::Queue::open("ticks")?.receiver()?;
/// assert_eq!(rx.recv()?, b"hello");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Queue {
    region: Arc<Region>,
    name: Option<String>,
    wait: WaitStrategy,
}

impl Queue {
    /// Settings for the queue called `name`; see [`QueueBuilder`].
    pub fn builder(name: impl Into<String>) -> QueueBuilder {
        QueueBuilder::new(name)
    }

    /// Opens the existing queue `name`.
    ///
    /// # Errors
    ///
    /// As for [`QueueBuilder::open`].
    pub fn open(name: &str) -> Result<Queue, OpenError> {
        QueueBuilder::new(name).open()
    }

    /// Creates the queue `name` with default settings.
    ///
    /// # Errors
    ///
    /// As for [`QueueBuilder::create`].
    pub fn create(name: &str) -> Result<Queue, OpenError> {
        QueueBuilder::new(name).create()
    }

    /// Removes the queue `name`. Processes that have it open keep working
    /// with it; it can no longer be opened, and its memory is freed when
    /// the last of them lets go.
    ///
    /// # Errors
    ///
    /// [`OpenError::InvalidName`], [`OpenError::NotFound`] or
    /// [`OpenError::Io`].
    pub fn remove(name: &str) -> Result<(), OpenError> {
        segment::remove(name)
    }

    /// Names of the shmq queues on this machine, sorted.
    ///
    /// # Errors
    ///
    /// [`OpenError::Io`] if `/dev/shm` cannot be read.
    pub fn list() -> Result<Vec<String>, OpenError> {
        segment::list()
    }

    /// Attaches the sending end.
    ///
    /// # Errors
    ///
    /// [`OpenError::AlreadyAttached`] if a live process (this one included)
    /// holds it; a holder that died is replaced. [`OpenError::BadHeader`] if
    /// the ring indices in the segment are impossible.
    pub fn sender(&self) -> Result<Sender, OpenError> {
        Ok(Sender::new(Producer::attach(
            Arc::clone(&self.region),
            self.wait,
        )?))
    }

    /// Attaches the receiving end.
    ///
    /// # Errors
    ///
    /// As for [`sender`](Self::sender).
    pub fn receiver(&self) -> Result<Receiver, OpenError> {
        Ok(Receiver::new(Consumer::attach(
            Arc::clone(&self.region),
            self.wait,
        )?))
    }

    /// The queue's name; `None` for an in-process queue.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Bytes per slot.
    pub fn slot_size(&self) -> usize {
        self.region.config().slot_size
    }

    /// Number of slots.
    pub fn slot_count(&self) -> usize {
        self.region.config().slot_count
    }

    /// Longest message that travels in one piece and can be read in place:
    /// the ring less one slot (which the sender keeps free, see the crate
    /// docs) and one 16-byte record header, `(slot_count - 1) * slot_size -
    /// 16`.
    pub fn capacity(&self) -> usize {
        self.region.config().capacity()
    }

    /// Longest message the queue carries.
    pub fn max_message_size(&self) -> u64 {
        self.region.config().max_message_size
    }

    /// A snapshot of the queue's state and counters. Read without
    /// synchronising with either end, so it may be slightly stale.
    pub fn stats(&self) -> Stats {
        let h = self.region.header();
        let head = h.producer.head.load(Relaxed);
        let tail = h.consumer.tail.load(Relaxed);
        let sent = h.producer.counters.messages.load(Relaxed);
        let received = h.consumer.counters.messages.load(Relaxed);
        let side = |owner: &crate::layout::Owner, c: &crate::layout::Counters| SideStats {
            pid: peer::holder_pid(owner),
            attaches: owner.epoch.load(Relaxed),
            messages: c.messages.load(Relaxed),
            records: c.records.load(Relaxed),
            sleeps: c.sleeps.load(Relaxed),
            wakes: c.wakes.load(Relaxed),
        };
        Stats {
            flavour: "spsc",
            slot_size: self.slot_size(),
            slot_count: self.slot_count(),
            capacity: self.capacity(),
            max_message_size: self.max_message_size(),
            messages_queued: sent.saturating_sub(received),
            slots_used: head.saturating_sub(tail),
            sender: side(&h.control.sender, &h.producer.counters),
            receiver: side(&h.control.receiver, &h.consumer.counters),
        }
    }
}

/// A snapshot of a queue, from [`Queue::stats`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Queue flavour (`"spsc"`).
    pub flavour: &'static str,
    /// Bytes per slot.
    pub slot_size: usize,
    /// Number of slots.
    pub slot_count: usize,
    /// Longest message in one piece.
    pub capacity: usize,
    /// Longest message.
    pub max_message_size: u64,
    /// Messages sent but not yet received.
    pub messages_queued: u64,
    /// Slots holding records not yet received.
    pub slots_used: u64,
    /// The sending end.
    pub sender: SideStats,
    /// The receiving end.
    pub receiver: SideStats,
}

/// One end's part of [`Stats`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SideStats {
    /// Process id of the holder, if a live process is attached (a holder
    /// that died without detaching shows as `None`).
    pub pid: Option<u32>,
    /// How many times this end has been attached.
    pub attaches: u32,
    /// Whole messages sent or received.
    pub messages: u64,
    /// Records (messages, fragments, padding) written or read.
    pub records: u64,
    /// Times this end slept waiting for the other.
    pub sleeps: u64,
    /// Wake-up system calls this end made for the other.
    pub wakes: u64,
}
