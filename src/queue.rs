//! Queues: creating, opening and inspecting them, and attaching their ends.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::channel::{Receiver, Sender};
use crate::error::{OpenError, OpenErrorKind};
use crate::layout::{Config, Counters, Header, LaneHeader, Owner};
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
/// Most sender lanes a queue can have ([`QueueBuilder::senders`]).
pub const MAX_SENDERS: usize = crate::layout::MAX_LANES;
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
    strict: bool,
    senders: usize,
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
            strict: false,
            senders: 1,
        }
    }

    /// The same settings for the queue called `name` (a service's reply
    /// queues).
    pub(crate) fn renamed(mut self, name: String) -> Self {
        self.name = Some(name);
        self
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

    /// Number of sender lanes, 1 (the default: a plain queue) to
    /// [`MAX_SENDERS`]. With more than one, the queue is a *mailbox*: each
    /// process (or thread) that calls [`Queue::sender`] gets a lane of its
    /// own, a ring of `slots` slots, and the one receiver takes messages
    /// from all lanes, round-robin, and can tell who sent each
    /// ([`Receiver::recv_from`](crate::Receiver::recv_from)). Messages of
    /// one sender arrive in the order sent; there is no order across
    /// senders. Each lane takes `slots x slot_size` bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let mailbox = shmq::QueueBuilder::in_process().senders(4).slots(64).create()?;
    /// let mut rx = mailbox.receiver()?;
    /// let (mut a, mut b) = (mailbox.sender()?, mailbox.sender()?);
    /// a.send(b"from a")?;
    /// b.send(b"from b")?;
    /// let (from, msg) = rx.recv_from()?;
    /// assert_eq!((from.lane(), msg.as_slice()), (a.lane(), &b"from a"[..]));
    /// assert_eq!(rx.recv_from()?.0.lane(), b.lane());
    /// # Ok(()) }
    /// ```
    pub fn senders(mut self, lanes: usize) -> Self {
        self.senders = lanes;
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

    /// Whether [`open`](Self::open) and [`open_or_create`](Self::open_or_create)
    /// insist that an existing queue has this builder's slot size, slot
    /// count, max message size and number of senders (default `false`: the queue's own
    /// settings are used, whatever the builder says).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let name = format!("doc-strict-{}", std::process::id());
    /// # let _ = shmq::Queue::remove(&name);
    /// let small = shmq::Queue::builder(&name).slots(16).create()?;
    /// let err = shmq::Queue::builder(&name)
    ///     .slots(1024)
    ///     .strict(true)
    ///     .open_or_create()
    ///     .unwrap_err();
    /// assert!(matches!(
    ///     err.kind(),
    ///     shmq::OpenErrorKind::SettingsMismatch { setting: "slot count", requested: 1024, found: 16 }
    /// ));
    /// # drop(small);
    /// shmq::Queue::remove(&name)?;
    /// # Ok(()) }
    /// ```
    pub fn strict(mut self, strict: bool) -> Self {
        self.strict = strict;
        self
    }

    fn config(&self) -> Config {
        Config {
            slot_size: self.slot_size,
            slot_count: self.slots,
            max_message_size: self.max_message_size,
            lanes: self.senders,
            flavour: crate::layout::Flavour::Spsc,
        }
    }

    fn finish(&self, region: Region) -> Queue {
        Queue {
            region: Arc::new(region),
            name: self.name.clone(),
            wait: self.wait,
        }
    }

    /// Fails, in strict mode, if `found` differs from this builder's
    /// settings.
    fn check_strict(&self, found: &Config) -> Result<(), OpenError> {
        if !self.strict {
            return Ok(());
        }
        let asked = self.config();
        let pairs = [
            ("slot size", asked.slot_size as u64, found.slot_size as u64),
            (
                "slot count",
                asked.slot_count as u64,
                found.slot_count as u64,
            ),
            (
                "max message size",
                asked.max_message_size,
                found.max_message_size,
            ),
            ("senders", asked.lanes as u64, found.lanes as u64),
        ];
        match pairs.into_iter().find(|(_, asked, found)| asked != found) {
            Some((setting, requested, found)) => Err(OpenErrorKind::SettingsMismatch {
                setting,
                requested,
                found,
            }
            .into()),
            None => Ok(()),
        }
    }

    /// Creates the queue; fails if it exists.
    ///
    /// # Errors
    ///
    /// [`OpenErrorKind::InvalidName`], [`OpenErrorKind::InvalidOptions`] (naming the
    /// setting), [`OpenErrorKind::AlreadyExists`], or [`OpenErrorKind::Io`].
    pub fn create(&self) -> Result<Queue, OpenError> {
        self.create_inner().map_err(|e| e.on(self.name.as_deref()))
    }

    fn create_inner(&self) -> Result<Queue, OpenError> {
        let config = self.config();
        config
            .check()
            .map_err(|e| OpenError::from(OpenErrorKind::InvalidOptions(e)))?;
        match &self.name {
            None => Ok(self.finish(Region::heap(config))),
            #[cfg(not(shmq_loom))]
            Some(name) => Ok(self.finish(Region::create(name, config, self.mode)?)),
            #[cfg(shmq_loom)]
            Some(_) => Err(OpenErrorKind::InvalidOptions(
                "named queues are not modelled under loom",
            )
            .into()),
        }
    }

    /// Opens an existing queue. The size settings of the builder are not
    /// used, unless [`strict`](Self::strict): the queue's own are read (and
    /// checked) from its segment.
    ///
    /// # Errors
    ///
    /// [`OpenErrorKind::NotFound`], [`OpenErrorKind::NotReady`] if its
    /// creator never finished, [`OpenErrorKind::SettingsMismatch`] in strict
    /// mode, or the error naming the first header check that failed.
    pub fn open(&self) -> Result<Queue, OpenError> {
        self.open_inner().map_err(|e| e.on(self.name.as_deref()))
    }

    fn open_inner(&self) -> Result<Queue, OpenError> {
        match &self.name {
            None => {
                Err(OpenErrorKind::InvalidOptions("an in-process queue can only be created").into())
            }
            #[cfg(not(shmq_loom))]
            Some(name) => {
                let region = Region::open(name, self.open_timeout, crate::layout::Flavour::Spsc)?;
                self.check_strict(region.config())?;
                Ok(self.finish(region))
            }
            #[cfg(shmq_loom)]
            Some(_) => Err(OpenErrorKind::InvalidOptions(
                "named queues are not modelled under loom",
            )
            .into()),
        }
    }

    /// Opens the queue if it exists, else creates it with these settings.
    /// An existing queue keeps its own settings; see [`strict`](Self::strict)
    /// to refuse one whose settings differ.
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
        let mut last = OpenErrorKind::NotFound;
        for _ in 0..8 {
            match self.open() {
                Err(e) if matches!(e.kind(), OpenErrorKind::NotFound) => {}
                other => return other,
            }
            match self.create() {
                Err(e) if matches!(e.kind(), OpenErrorKind::AlreadyExists) => {
                    last = OpenErrorKind::AlreadyExists;
                }
                other => return other,
            }
        }
        Err(OpenError::from(last).on(self.name.as_deref()))
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
    /// the last of them lets go. (A new queue of the same name is a
    /// different queue: the old holders do not see it.)
    ///
    /// # Errors
    ///
    /// [`OpenErrorKind::InvalidName`], [`OpenErrorKind::NotFound`] or
    /// [`OpenErrorKind::Io`].
    pub fn remove(name: &str) -> Result<(), OpenError> {
        segment::remove(name).map_err(|e| e.on(Some(name)))
    }

    /// Names of the shmq queues on this machine, sorted. Every shmq
    /// segment is listed: the names of [`Semaphore`](crate::Semaphore)s
    /// and [`Barrier`](crate::Barrier)s too, which [`Queue::inspect`]
    /// refuses with [`OpenErrorKind::WrongKind`].
    ///
    /// # Errors
    ///
    /// [`OpenErrorKind::Io`] if `/dev/shm` cannot be read.
    pub fn list() -> Result<Vec<String>, OpenError> {
        segment::list()
    }

    /// A snapshot of the queue `name` read from its header alone, without
    /// mapping its slots or attaching to it: cheap for a queue of any size,
    /// and it does not wait for a creator that has not finished.
    ///
    /// # Errors
    ///
    /// [`OpenErrorKind::NotFound`], [`OpenErrorKind::NotReady`] if its
    /// creator has not (yet) finished creating it, or the error naming the
    /// first header check that failed.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let name = format!("doc-inspect-{}", std::process::id());
    /// let queue = shmq::Queue::builder(&name).slots(64).create()?;
    /// let rx = queue.receiver()?;
    /// let stats = shmq::Queue::inspect(&name)?;
    /// assert_eq!(stats.slot_count, 64);
    /// assert_eq!(stats.sender.state, shmq::EndState::NeverAttached);
    /// assert_eq!(stats.receiver.state, shmq::EndState::Attached { pid: std::process::id() });
    /// # drop(rx);
    /// shmq::Queue::remove(&name)?;
    /// # Ok(()) }
    /// ```
    pub fn inspect(name: &str) -> Result<Stats, OpenError> {
        #[cfg(not(shmq_loom))]
        {
            let view = segment::HeaderView::open(name).map_err(|e| e.on(Some(name)))?;
            let lanes: Vec<&LaneHeader> = (0..view.config().lanes).map(|i| view.lane(i)).collect();
            let mut stats = stats_of(view.header(), &lanes, view.config());
            stats.created = Some(view.created());
            Ok(stats)
        }
        #[cfg(shmq_loom)]
        Err(OpenError::from(OpenErrorKind::InvalidOptions(
            "named queues are not modelled under loom",
        ))
        .on(Some(name)))
    }

    /// Names of the queues that nobody uses: neither end is held by a live
    /// process (each was never attached, detached, or its process died), and
    /// the queue was created at least `older_than` ago. A segment whose
    /// creator died before finishing it counts too; one that is not a queue
    /// of this version of shmq does not (another version may be using it).
    ///
    /// This is what `shmq gc` removes, with [`remove_if_stale`].
    ///
    /// [`remove_if_stale`]: Queue::remove_if_stale
    ///
    /// # Errors
    ///
    /// [`OpenErrorKind::Io`] if `/dev/shm` cannot be read.
    pub fn stale(older_than: Duration) -> Result<Vec<String>, OpenError> {
        let mut stale = Vec::new();
        for name in segment::list()? {
            if is_stale(&name, older_than) {
                stale.push(name);
            }
        }
        Ok(stale)
    }

    /// Removes the queue `name` if it is stale (see [`stale`](Queue::stale)),
    /// checking again right before; returns whether it removed it.
    ///
    /// A process that opens the queue between that check and the removal
    /// keeps the removed segment: use an age that no program of yours needs
    /// between creating a queue and attaching to it.
    ///
    /// # Errors
    ///
    /// [`OpenErrorKind::InvalidName`], [`OpenErrorKind::NotFound`] if it is
    /// gone already, or [`OpenErrorKind::Io`].
    pub fn remove_if_stale(name: &str, older_than: Duration) -> Result<bool, OpenError> {
        segment::validate_name(name)?;
        if !is_stale(name, older_than) {
            return Ok(false);
        }
        Queue::remove(name)?;
        Ok(true)
    }

    /// Attaches a sending end: the queue's one, or a free lane of a
    /// mailbox ([`QueueBuilder::senders`]).
    ///
    /// # Errors
    ///
    /// [`OpenErrorKind::AlreadyAttached`] if a live process (this one
    /// included) holds the sending end of a plain queue, and
    /// [`OpenErrorKind::TooManySenders`] if live processes hold every lane
    /// of a mailbox; a holder that died is replaced, its lane taken over at
    /// once (the messages it sent stay first in the lane, reported as its
    /// own).
    /// [`OpenErrorKind::BadHeader`] if the ring indices in the segment are
    /// impossible.
    pub fn sender(&self) -> Result<Sender, OpenError> {
        Producer::attach(Arc::clone(&self.region), self.wait)
            .map(Sender::new)
            .map_err(|e| e.on(self.name()))
    }

    /// Attaches the receiving end.
    ///
    /// # Errors
    ///
    /// As for [`sender`](Self::sender).
    pub fn receiver(&self) -> Result<Receiver, OpenError> {
        Consumer::attach(Arc::clone(&self.region), self.wait)
            .map(Receiver::new)
            .map_err(|e| e.on(self.name()))
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

    /// Number of sender lanes (1 for a plain queue; see
    /// [`QueueBuilder::senders`]).
    pub fn senders(&self) -> usize {
        self.region.config().lanes
    }

    /// A snapshot of the queue's state and counters. Read without
    /// synchronising with either end, so it may be slightly stale.
    /// ([`Queue::inspect`] gives the same by name, and also the queue's
    /// age.)
    pub fn stats(&self) -> Stats {
        let lanes: Vec<&LaneHeader> = self.region.lanes().iter().map(|l| l.header()).collect();
        stats_of(self.region.header(), &lanes, self.region.config())
    }
}

/// Whether the queue `name` is unused and at least `older_than` old; a
/// queue that cannot be judged (gone meanwhile, another version) is not.
fn is_stale(name: &str, older_than: Duration) -> bool {
    #[cfg(not(shmq_loom))]
    {
        let state = segment::HeaderView::open(name);
        let created = match &state {
            Ok(view) => view.created(),
            Err(e) if matches!(e.kind(), OpenErrorKind::NotReady) => {
                match segment::created(name) {
                    Ok(created) => created,
                    // Gone (or finished) meanwhile.
                    Err(_) => return false,
                }
            }
            // Gone meanwhile, or not ours to judge.
            Err(_) => return false,
        };
        let age = SystemTime::now()
            .duration_since(created)
            .unwrap_or(Duration::ZERO);
        if age < older_than {
            return false;
        }
        match state {
            Ok(view) => {
                let h = view.header();
                !end_state(&h.receiver.receiver).is_attached()
                    && (0..view.config().lanes)
                        .all(|i| !end_state(&view.lane(i).control.sender).is_attached())
            }
            Err(_) => true, // Never became ready, and old.
        }
    }
    #[cfg(shmq_loom)]
    {
        let _ = (name, older_than);
        false
    }
}

/// What an owner word says about its end (reads `/proc`).
pub(crate) fn end_state(owner: &Owner) -> EndState {
    // SYNC: epoch (Acquire side): read before the token, see `peer::is_gone`.
    let epoch = owner.epoch.load(crate::sync::Ordering::Acquire);
    match owner.token.load(crate::sync::Ordering::Acquire) {
        0 if epoch == 0 => EndState::NeverAttached,
        0 => EndState::Detached,
        token if peer::is_alive(token) => EndState::Attached {
            pid: peer::token_pid(token),
        },
        token => EndState::Dead {
            pid: peer::token_pid(token),
        },
    }
}

/// One end's statistics from its owner word and counters.
fn side(owner: &Owner, c: &Counters) -> SideStats {
    let state = end_state(owner);
    SideStats {
        pid: match state {
            EndState::Attached { pid } => Some(pid),
            _ => None,
        },
        state,
        attaches: owner.epoch.load(Relaxed),
        messages: c.messages.load(Relaxed),
        records: c.records.load(Relaxed),
        sleeps: c.sleeps.load(Relaxed),
        wakes: c.wakes.load(Relaxed),
    }
}

/// The statistics that `header` and its `lanes` (with the validated
/// `config`) show.
fn stats_of(h: &Header, lanes: &[&LaneHeader], config: &Config) -> Stats {
    let mut receiver = side(&h.receiver.receiver, &Counters::default());
    receiver.sleeps = h.receiver.sleeps.load(Relaxed);
    let lanes: Vec<LaneStats> = lanes
        .iter()
        .enumerate()
        .map(|(index, lane)| {
            let head = lane.producer.head.load(Relaxed);
            let tail = lane.consumer.tail.load(Relaxed);
            let sender = side(&lane.control.sender, &lane.producer.counters);
            let read = &lane.consumer.counters;
            let received = read.messages.load(Relaxed);
            receiver.messages += received;
            receiver.records += read.records.load(Relaxed);
            receiver.wakes += read.wakes.load(Relaxed);
            LaneStats {
                index,
                messages_queued: sender.messages.saturating_sub(received),
                slots_used: head.saturating_sub(tail),
                sender,
            }
        })
        .collect();
    Stats {
        flavour: match (config.flavour, lanes.len()) {
            (crate::layout::Flavour::Topic, _) => "topic",
            (_, 1) => "spsc",
            _ => "mailbox",
        },
        slot_size: config.slot_size,
        slot_count: config.slot_count,
        capacity: config.capacity(),
        max_message_size: config.max_message_size,
        messages_queued: lanes.iter().map(|l| l.messages_queued).sum(),
        slots_used: lanes.iter().map(|l| l.slots_used).sum(),
        created: None,
        sender: senders_summary(&lanes),
        receiver,
        lanes,
    }
}

/// [`Stats::sender`]: the one lane's sender, or for a mailbox every lane's
/// counters added up, with the state of the lane that says most (a live
/// holder, else a dead one, else one that detached).
fn senders_summary(lanes: &[LaneStats]) -> SideStats {
    if let [only] = lanes {
        return only.sender.clone();
    }
    let rank = |state: &EndState| match state {
        EndState::Attached { .. } => 3,
        EndState::Dead { .. } => 2,
        EndState::Detached => 1,
        EndState::NeverAttached => 0,
    };
    let mut sum = SideStats {
        pid: None,
        state: EndState::NeverAttached,
        attaches: 0,
        messages: 0,
        records: 0,
        sleeps: 0,
        wakes: 0,
    };
    for lane in lanes {
        let s = &lane.sender;
        if rank(&s.state) > rank(&sum.state) {
            sum.state = s.state;
            sum.pid = s.pid;
        }
        sum.attaches = sum.attaches.saturating_add(s.attaches);
        sum.messages += s.messages;
        sum.records += s.records;
        sum.sleeps += s.sleeps;
        sum.wakes += s.wakes;
    }
    sum
}

/// A snapshot of a queue, from [`Queue::stats`] or [`Queue::inspect`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Queue flavour: `"spsc"` (one sender lane) or `"mailbox"`; `"topic"`
    /// for a topic's ring ([`Queue::inspect`] reads any ring; see
    /// [`Topic::stats`](crate::Topic::stats) for its subscribers).
    pub flavour: &'static str,
    /// Bytes per slot.
    pub slot_size: usize,
    /// Number of slots (of each sender lane).
    pub slot_count: usize,
    /// Longest message in one piece.
    pub capacity: usize,
    /// Longest message.
    pub max_message_size: u64,
    /// Messages sent but not yet received.
    pub messages_queued: u64,
    /// Slots holding records not yet received.
    pub slots_used: u64,
    /// When the queue's file was created (from [`Queue::inspect`] only;
    /// `None` from [`Queue::stats`]).
    pub created: Option<SystemTime>,
    /// The sending end; for a mailbox, every lane's counters added up, and
    /// the state of a lane with a live holder if there is one (see
    /// [`lanes`](Self::lanes) for each).
    pub sender: SideStats,
    /// The receiving end (its counters over all lanes).
    pub receiver: SideStats,
    /// Each sender lane (one for a plain queue).
    pub lanes: Vec<LaneStats>,
}

/// One sender lane's part of [`Stats`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LaneStats {
    /// The lane's index (as [`SenderId::lane`](crate::SenderId::lane)).
    pub index: usize,
    /// Its sender.
    pub sender: SideStats,
    /// Messages sent on it but not yet received.
    pub messages_queued: u64,
    /// Its slots holding records not yet received.
    pub slots_used: u64,
}

/// One end's part of [`Stats`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SideStats {
    /// Process id of the holder, if a live process is attached (the same
    /// as [`EndState::Attached`]).
    pub pid: Option<u32>,
    /// Who holds the end.
    pub state: EndState,
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

/// Who holds one end of a queue, in [`SideStats::state`].
///
/// # Examples
///
/// ```
/// assert_eq!(shmq::EndState::Dead { pid: 42 }.to_string(), "dead (pid 42)");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EndState {
    /// Nobody has ever attached this end.
    NeverAttached,
    /// A live process holds it.
    Attached {
        /// Its process id.
        pid: u32,
    },
    /// It was attached, and its holder let go of it (dropped the end, or
    /// exited normally).
    Detached,
    /// Its holder died without letting go (killed, or crashed); the next
    /// process to attach this end takes it over.
    Dead {
        /// The process id it had.
        pid: u32,
    },
}

impl EndState {
    /// Whether a live process holds the end.
    pub fn is_attached(&self) -> bool {
        matches!(self, EndState::Attached { .. })
    }
}

impl std::fmt::Display for EndState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EndState::NeverAttached => f.write_str("never attached"),
            EndState::Attached { pid } => write!(f, "attached (pid {pid})"),
            EndState::Detached => f.write_str("detached"),
            EndState::Dead { pid } => write!(f, "dead (pid {pid})"),
        }
    }
}
