//! Topics: one publisher broadcasts to many subscribers.
//!
//! A topic `NAME` is a ring (a queue segment of the topic flavour, one
//! lane) that the [`Publisher`] writes each message into once, and a
//! subscriber table `NAME.subs` with one line per [`Subscriber`]: its
//! owner word, its tail and its counters, and one control line with the
//! settings, the futex word sleeping subscribers share, and the *mark*.
//! Every subscriber reads every message in place in the ring, from its
//! own tail; nobody copies a message per subscriber.
//!
//! The ring, its records, fragments, the publisher's ownership and
//! takeover, and the wait strategies are the queue's own (`spsc.rs`,
//! `wait.rs`, `peer.rs`); see `gate` for the publisher's hooks and
//! `subscriber` for the reader.
//!
//! # Two modes
//!
//! | | lossless (default) | lossy ([`TopicBuilder::lossy`]) |
//! | --- | --- | --- |
//! | publisher | waits for the slowest live subscriber | never waits |
//! | slow subscriber | holds the publisher up (or, with a [`lag_limit`](TopicBuilder::lag_limit), is cut loose after it) | is overrun: `Lagged(n)`, then goes on from the oldest message still in the ring |
//! | dead subscriber | released within about 100 ms | costs nothing |
//! | reads | in place (zero-copy) | copied out with atomic loads, then checked |
//!
//! # Example
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let name = format!("doc-topic-{}", std::process::id());
//! let topic = shmq::Topic::builder(&name).subscribers(8).open_or_create()?;
//! let mut publisher = topic.publisher()?;
//! // In any process (up to 8 at a time):
//! let mut subscriber = shmq::Topic::open(&name)?.subscriber()?;
//! publisher.send(b"price 101.5")?;
//! assert_eq!(subscriber.recv()?, b"price 101.5");
//! # drop((publisher, subscriber, topic));
//! # shmq::Topic::remove(&name)?;
//! # Ok(()) }
//! ```

mod gate;
mod publisher;
pub(crate) mod shared;
mod subscriber;

use std::sync::Arc;
use std::time::Duration;

pub(crate) use gate::Gate;
pub use publisher::Publisher;
pub use shared::MAX_SUBSCRIBERS;
pub(crate) use shared::Shared;

use crate::error::{
    OpenError, OpenErrorKind, Stop, TopicRecvError, TopicRecvTimeoutError, TopicTryRecvError,
};
use crate::layout::{Config, Flavour};
use crate::queue::{
    DEFAULT_MAX_MESSAGE_SIZE, DEFAULT_MODE, DEFAULT_OPEN_TIMEOUT, DEFAULT_SLOT_SIZE, DEFAULT_SLOTS,
    EndState,
};
use crate::segment::Region;
use crate::spsc::Producer;
use crate::sync::Ordering::Relaxed;
use crate::wait::{Deadline, WaitStrategy};
use shared::{SPEC, Settings, SubTable};
use subscriber::Reader;

/// Default maximum number of subscribers of a topic.
pub const DEFAULT_SUBSCRIBERS: usize = 8;

/// Settings for creating or opening a [`Topic`].
///
/// # Examples
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let topic = shmq::TopicBuilder::in_process()
///     .slots(1024)
///     .subscribers(16)
///     .lossy(true)
///     .history(10)
///     .create()?;
/// assert!(topic.is_lossy());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct TopicBuilder {
    name: Option<String>,
    slot_size: usize,
    slots: usize,
    max_message_size: u64,
    subscribers: usize,
    lossy: bool,
    history: usize,
    lag_limit: Option<Duration>,
    mode: u32,
    open_timeout: Duration,
    wait: WaitStrategy,
}

impl TopicBuilder {
    /// Settings for the topic called `name` (the rules of queue names),
    /// with the defaults.
    pub fn new(name: impl Into<String>) -> Self {
        TopicBuilder {
            name: Some(name.into()),
            ..Self::in_process()
        }
    }

    /// Settings for a topic on the heap of this process, with no name: for
    /// tests and threads of one program. Only [`create`](Self::create)
    /// applies.
    pub fn in_process() -> Self {
        TopicBuilder {
            name: None,
            slot_size: DEFAULT_SLOT_SIZE,
            slots: DEFAULT_SLOTS,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            subscribers: DEFAULT_SUBSCRIBERS,
            lossy: false,
            history: 0,
            lag_limit: None,
            mode: DEFAULT_MODE,
            open_timeout: DEFAULT_OPEN_TIMEOUT,
            wait: WaitStrategy::default(),
        }
    }

    /// Bytes per slot, as for a queue
    /// ([`QueueBuilder::slot_size`](crate::QueueBuilder::slot_size)).
    pub fn slot_size(mut self, bytes: usize) -> Self {
        self.slot_size = bytes;
        self
    }

    /// Number of slots of the ring: a power of two from 2 to 2^24.
    pub fn slots(mut self, count: usize) -> Self {
        self.slots = count;
        self
    }

    /// Longest message the topic carries (longer than the ring, messages
    /// travel in fragments).
    pub fn max_message_size(mut self, bytes: u64) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// Most subscribers at once, 1 to [`MAX_SUBSCRIBERS`] (default
    /// [`DEFAULT_SUBSCRIBERS`]). A lossless publisher looks at each one's
    /// line when its ring is full.
    pub fn subscribers(mut self, count: usize) -> Self {
        self.subscribers = count;
        self
    }

    /// Lossy (`true`): the publisher never waits, and a subscriber that
    /// falls more than a ring behind is told how many messages it missed
    /// ([`TopicRecvError::Lagged`]). Lossless (`false`, the default): the
    /// publisher waits for the slowest live subscriber.
    pub fn lossy(mut self, lossy: bool) -> Self {
        self.lossy = lossy;
        self
    }

    /// Keeps up to `messages` of the latest messages for subscribers that
    /// join late and ask for them ([`Topic::subscriber_with_history`]), as
    /// far as the ring holds them (fewer than the slot count). Default 0.
    pub fn history(mut self, messages: usize) -> Self {
        self.history = messages;
        self
    }

    /// In a lossless topic: how long the publisher waits for a subscriber
    /// that holds it up before it cuts it loose. The subscriber then gets
    /// [`TopicRecvError::Lagged`] with the number of messages it missed,
    /// and goes on from the oldest message still in the ring. Default:
    /// never (the publisher waits as long as the subscriber lives).
    pub fn lag_limit(mut self, limit: Duration) -> Self {
        self.lag_limit = Some(limit);
        self
    }

    /// File mode of a newly created topic's files (default `0o600`).
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = mode & 0o777;
        self
    }

    /// How long `open` waits for a creator that is still initialising
    /// (default 1 s).
    pub fn open_timeout(mut self, timeout: Duration) -> Self {
        self.open_timeout = timeout;
        self
    }

    /// Wait strategy given to the ends attached through the topic.
    pub fn wait_strategy(mut self, wait: WaitStrategy) -> Self {
        self.wait = wait;
        self
    }

    fn config(&self) -> Config {
        Config {
            slot_size: self.slot_size,
            slot_count: self.slots,
            max_message_size: self.max_message_size,
            lanes: 1,
            flavour: Flavour::Topic,
        }
    }

    fn settings(&self) -> Result<Settings, OpenError> {
        if self.lossy && self.lag_limit.is_some() {
            return Err(OpenErrorKind::InvalidOptions(
                "a lag limit is for lossless topics (a lossy one never waits)",
            )
            .into());
        }
        if self.history >= self.slots {
            return Err(
                OpenErrorKind::InvalidOptions("history must be shorter than the ring").into(),
            );
        }
        if self.subscribers == 0 || self.subscribers > MAX_SUBSCRIBERS {
            return Err(OpenErrorKind::InvalidOptions("subscribers out of range (1 to 64)").into());
        }
        Ok(Settings {
            lossy: self.lossy,
            history: self.history,
            lag_limit: self.lag_limit,
        })
    }

    fn finish(&self, region: Region, table: SubTable, settings: Settings) -> Topic {
        Topic {
            shared: Arc::new(Shared {
                region: Arc::new(region),
                table,
                settings,
            }),
            name: self.name.clone(),
            wait: self.wait,
        }
    }

    /// Creates the topic; fails if it exists.
    ///
    /// # Errors
    ///
    /// [`OpenErrorKind::InvalidName`], [`OpenErrorKind::InvalidOptions`],
    /// [`OpenErrorKind::AlreadyExists`], or [`OpenErrorKind::Io`].
    pub fn create(&self) -> Result<Topic, OpenError> {
        self.create_inner()
            .map_err(|e| e.on_object("topic", self.name.as_deref()))
    }

    fn create_inner(&self) -> Result<Topic, OpenError> {
        let config = self.config();
        config
            .check()
            .map_err(|e| OpenError::from(OpenErrorKind::InvalidOptions(e)))?;
        let settings = self.settings()?;
        match &self.name {
            None => {
                let table = SubTable::heap(self.subscribers);
                settings.initialise(table.control());
                Ok(self.finish(Region::heap(config), table, settings))
            }
            #[cfg(not(shmq_loom))]
            Some(name) => {
                crate::segment::validate_name(name)?;
                let subs = shared::table_name(name);
                crate::segment::validate_name(&subs)?;
                // The table first: the ring, made last, is what says the
                // topic exists (an opener finds the table ready then).
                let table = match SubTable::create(&subs, SPEC, self.subscribers, self.mode, |t| {
                    settings.initialise(t.control())
                }) {
                    Err(e) if matches!(e.kind(), OpenErrorKind::AlreadyExists) => {
                        if crate::segment::path_of(name).exists() {
                            return Err(OpenErrorKind::AlreadyExists.into());
                        }
                        // Left by a creator that died before the ring.
                        let _ = crate::segment::remove(&subs);
                        SubTable::create(&subs, SPEC, self.subscribers, self.mode, |t| {
                            settings.initialise(t.control())
                        })?
                    }
                    other => other?,
                };
                match Region::create(name, config, self.mode) {
                    Ok(region) => Ok(self.finish(region, table, settings)),
                    Err(e) => {
                        // Kept only if the name is a topic's (a creator
                        // racing us made its ring): a queue's name would
                        // keep an orphan `NAME.subs` nothing removes.
                        let topic_ring = matches!(e.kind(), OpenErrorKind::AlreadyExists)
                            && crate::segment::HeaderView::open(name)
                                .is_ok_and(|view| view.config().flavour == Flavour::Topic);
                        if !topic_ring {
                            let _ = crate::segment::remove(&subs);
                        }
                        Err(e)
                    }
                }
            }
            #[cfg(shmq_loom)]
            Some(_) => Err(OpenErrorKind::InvalidOptions(
                "named topics are not modelled under loom",
            )
            .into()),
        }
    }

    /// Opens an existing topic (its own settings are used).
    ///
    /// # Errors
    ///
    /// [`OpenErrorKind::NotFound`], [`OpenErrorKind::WrongKind`] for a
    /// queue, or the error naming the first header check that failed.
    pub fn open(&self) -> Result<Topic, OpenError> {
        self.open_inner()
            .map_err(|e| e.on_object("topic", self.name.as_deref()))
    }

    fn open_inner(&self) -> Result<Topic, OpenError> {
        match &self.name {
            None => {
                Err(OpenErrorKind::InvalidOptions("an in-process topic can only be created").into())
            }
            #[cfg(not(shmq_loom))]
            Some(name) => {
                let region = Region::open(name, self.open_timeout, Flavour::Topic)?;
                let table = SubTable::open(&shared::table_name(name), SPEC, self.open_timeout)?;
                let settings = Settings::read(table.control(), region.config().slot_count)?;
                Ok(self.finish(region, table, settings))
            }
            #[cfg(shmq_loom)]
            Some(_) => Err(OpenErrorKind::InvalidOptions(
                "named topics are not modelled under loom",
            )
            .into()),
        }
    }

    /// Opens the topic if it exists, else creates it with these settings.
    ///
    /// # Errors
    ///
    /// As for [`create`](Self::create) and [`open`](Self::open).
    pub fn open_or_create(&self) -> Result<Topic, OpenError> {
        if self.name.is_none() {
            return self.create();
        }
        crate::table::open_or_create(|| self.open(), || self.create())
    }
}

/// A topic: one publisher's messages, broadcast to every subscriber. See
/// the [module docs](crate::topic) for the two modes and the layout.
#[derive(Debug, Clone)]
pub struct Topic {
    shared: Arc<Shared>,
    name: Option<String>,
    wait: WaitStrategy,
}

impl Topic {
    /// Settings for the topic called `name`; see [`TopicBuilder`].
    pub fn builder(name: impl Into<String>) -> TopicBuilder {
        TopicBuilder::new(name)
    }

    /// Opens the existing topic `name`.
    ///
    /// # Errors
    ///
    /// As for [`TopicBuilder::open`].
    pub fn open(name: &str) -> Result<Topic, OpenError> {
        TopicBuilder::new(name).open()
    }

    /// Creates the topic `name` with default settings (lossless).
    ///
    /// # Errors
    ///
    /// As for [`TopicBuilder::create`].
    pub fn create(name: &str) -> Result<Topic, OpenError> {
        TopicBuilder::new(name).create()
    }

    /// Removes the topic `name` (its ring and its subscriber table).
    /// Processes that have it open keep working with it.
    ///
    /// # Errors
    ///
    /// [`OpenErrorKind::NotFound`] if there is no ring of that name,
    /// [`OpenErrorKind::WrongKind`] if it is not a topic's, or
    /// [`OpenErrorKind::Io`].
    pub fn remove(name: &str) -> Result<(), OpenError> {
        Self::remove_inner(name).map_err(|e| e.on_object("topic", Some(name)))
    }

    fn remove_inner(name: &str) -> Result<(), OpenError> {
        crate::segment::validate_name(name)?;
        #[cfg(not(shmq_loom))]
        match crate::segment::HeaderView::open(name) {
            Ok(view) if view.config().flavour != Flavour::Topic => {
                return Err(OpenErrorKind::WrongKind {
                    found: view.config().flavour.kind(),
                    expected: "topic",
                }
                .into());
            }
            Err(e) if matches!(e.kind(), OpenErrorKind::NotFound) => {
                // Only a table left (a creator that died): remove it.
                let _ = crate::segment::remove(&shared::table_name(name));
                return Err(e);
            }
            // Another kind of segment (a semaphore's, a barrier's): not
            // ours to remove.
            Err(e)
                if matches!(
                    e.kind(),
                    OpenErrorKind::WrongKind { .. } | OpenErrorKind::BadMagic { .. }
                ) =>
            {
                return Err(e);
            }
            // A topic, or junk of ours (never ready, another version):
            // removed with its table.
            _ => {}
        }
        crate::segment::remove(name)?;
        match crate::segment::remove(&shared::table_name(name)) {
            Err(e) if !matches!(e.kind(), OpenErrorKind::NotFound) => Err(e),
            _ => Ok(()),
        }
    }

    /// Attaches the publisher (one live one at a time; a dead one's place
    /// is taken over).
    ///
    /// # Errors
    ///
    /// [`OpenErrorKind::AlreadyAttached`] if a live process publishes, or
    /// [`OpenErrorKind::BadHeader`] for a corrupt segment.
    pub fn publisher(&self) -> Result<Publisher, OpenError> {
        Producer::attach_topic(Arc::clone(&self.shared), self.wait)
            .map(Publisher::new)
            .map_err(|e| e.on_object("topic", self.name.as_deref()))
    }

    /// Attaches a subscriber: it receives every message published from
    /// now on.
    ///
    /// # Errors
    ///
    /// [`OpenErrorKind::TooManySubscribers`] if every entry is held by a
    /// live process, or [`OpenErrorKind::BadHeader`].
    pub fn subscriber(&self) -> Result<Subscriber, OpenError> {
        self.attach(false)
    }

    /// Attaches a subscriber that first receives the last
    /// [`history`](TopicBuilder::history) messages still in the ring,
    /// then every message published from now on. Like
    /// [`subscriber`](Self::subscriber) on a topic without history.
    ///
    /// # Errors
    ///
    /// As for [`subscriber`](Self::subscriber).
    pub fn subscriber_with_history(&self) -> Result<Subscriber, OpenError> {
        self.attach(true)
    }

    fn attach(&self, history: bool) -> Result<Subscriber, OpenError> {
        Reader::attach(Arc::clone(&self.shared), self.wait, history)
            .map(|reader| Subscriber { reader })
            .map_err(|e| e.on_object("topic", self.name.as_deref()))
    }

    /// The topic's name (`None` in process).
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Whether the topic is lossy.
    pub fn is_lossy(&self) -> bool {
        self.shared.settings.lossy
    }

    /// Messages kept for late subscribers.
    pub fn history(&self) -> usize {
        self.shared.settings.history
    }

    /// The lag limit of a lossless topic, if it has one.
    pub fn lag_limit(&self) -> Option<Duration> {
        self.shared.settings.lag_limit
    }

    /// Most subscribers at once.
    pub fn max_subscribers(&self) -> usize {
        self.shared.table.count()
    }

    /// Bytes per slot.
    pub fn slot_size(&self) -> usize {
        self.shared.region.config().slot_size
    }

    /// Number of slots.
    pub fn slot_count(&self) -> usize {
        self.shared.region.config().slot_count
    }

    /// Longest message that travels in one piece.
    pub fn capacity(&self) -> usize {
        self.shared.region.config().capacity()
    }

    /// Longest message.
    pub fn max_message_size(&self) -> u64 {
        self.shared.region.config().max_message_size
    }

    /// A snapshot of the topic: the publisher, and each subscriber with its
    /// position and lag (reads `/proc` for each holder).
    pub fn stats(&self) -> TopicStats {
        let lane = self.shared.region.lane(0).header();
        let published = shared::load_join_point(&lane.producer).map_or(0, |(_, seq)| seq);
        let head = lane.producer.head.load(Relaxed);
        let subscribers = self
            .shared
            .table
            .entries()
            .iter()
            .enumerate()
            .filter_map(|(entry, line)| {
                let state = crate::queue::end_state(&line.owner);
                let pid = match state {
                    EndState::Attached { pid } => pid,
                    _ => return None,
                };
                let next = line.next_seq.load(Relaxed);
                let tail = line.tail.load(Relaxed);
                Some(SubscriberStats {
                    entry,
                    pid,
                    position: tail,
                    lag: published.saturating_sub(next),
                    slots_behind: head.saturating_sub(tail.min(head)),
                    received: line.received.load(Relaxed),
                    lagged: line.lagged.load(Relaxed),
                    cut: line.cut.load(Relaxed) != 0,
                })
            })
            .collect();
        TopicStats {
            lossy: self.shared.settings.lossy,
            history: self.shared.settings.history,
            lag_limit: self.shared.settings.lag_limit,
            slot_size: self.slot_size(),
            slot_count: self.slot_count(),
            max_subscribers: self.max_subscribers(),
            published,
            head,
            publisher: crate::queue::end_state(&lane.control.sender),
            subscribers,
            subscriber_sleeps: self.shared.control().sleeps.load(Relaxed),
            wakes: self.shared.control().wakes.load(Relaxed),
        }
    }
}

/// A snapshot of a topic ([`Topic::stats`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TopicStats {
    /// Whether the topic is lossy.
    pub lossy: bool,
    /// Messages kept for late subscribers.
    pub history: usize,
    /// The lag limit of a lossless topic.
    pub lag_limit: Option<Duration>,
    /// Bytes per slot.
    pub slot_size: usize,
    /// Number of slots.
    pub slot_count: usize,
    /// Most subscribers at once.
    pub max_subscribers: usize,
    /// Messages published so far.
    pub published: u64,
    /// The publisher's position (slots).
    pub head: u64,
    /// The publishing end.
    pub publisher: EndState,
    /// Each live subscriber.
    pub subscribers: Vec<SubscriberStats>,
    /// Times a subscriber went to sleep.
    pub subscriber_sleeps: u64,
    /// Wake calls the publishers made (each wakes every sleeper).
    pub wakes: u64,
}

/// One subscriber in [`TopicStats`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SubscriberStats {
    /// Its entry in the table.
    pub entry: usize,
    /// Its process.
    pub pid: u32,
    /// Its position in the ring (slots).
    pub position: u64,
    /// Messages published that it has not taken yet.
    pub lag: u64,
    /// Slots between it and the publisher.
    pub slots_behind: u64,
    /// Messages received.
    pub received: u64,
    /// Messages missed (overrun).
    pub lagged: u64,
    /// Whether the publisher cut it loose (lag limit) and it has not come
    /// back yet.
    pub cut: bool,
}

/// The receiving end of a [`Topic`]: each subscriber receives every
/// message published after it joined, in order (lossless), or all but
/// those it is told it missed (lossy).
///
/// # Examples
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let topic = shmq::TopicBuilder::in_process().lossy(true).slots(4).create()?;
/// let mut publisher = topic.publisher()?;
/// let mut slow = topic.subscriber()?;
/// for i in 0..10u64 {
///     publisher.send_pod(&i)?; // never waits
/// }
/// // The ring held 3 records at most: the rest were overwritten.
/// let missed = match slow.recv_pod::<u64>() {
///     Err(shmq::TopicRecvError::Lagged(n)) => n,
///     other => panic!("{other:?}"),
/// };
/// let mut got = Vec::new();
/// while let Ok(v) = slow.try_recv_pod::<u64>() {
///     got.push(v);
/// }
/// assert_eq!(missed + got.len() as u64, 10);
/// assert_eq!(got.last(), Some(&9));
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Subscriber {
    reader: Reader,
}

impl Subscriber {
    /// Receives the next message, waiting as long as it takes.
    ///
    /// # Errors
    ///
    /// [`TopicRecvError::Lagged`] once after an overrun (the next call
    /// goes on), [`TopicRecvError::Disconnected`] once the publisher is
    /// gone and everything it published has been received, or
    /// [`TopicRecvError::Corrupted`].
    pub fn recv(&mut self) -> Result<Vec<u8>, TopicRecvError> {
        self.recv_with(<[u8]>::to_vec)
    }

    /// Receives the next message if one is there now.
    ///
    /// # Errors
    ///
    /// [`TopicTryRecvError::Empty`], and as for [`recv`](Self::recv).
    pub fn try_recv(&mut self) -> Result<Vec<u8>, TopicTryRecvError> {
        self.try_recv_with(<[u8]>::to_vec)
    }

    /// Receives the next message, waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`TopicRecvTimeoutError::Timeout`], and as for [`recv`](Self::recv).
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<Vec<u8>, TopicRecvTimeoutError> {
        self.recv_with_timeout(timeout, <[u8]>::to_vec)
    }

    /// Receives the next message and calls `f` with its bytes: in place in
    /// the ring in a strict lossless topic (no copy at all), else from the
    /// subscriber's own copy.
    ///
    /// # Errors
    ///
    /// As for [`recv`](Self::recv).
    pub fn recv_with<R>(&mut self, f: impl FnOnce(&[u8]) -> R) -> Result<R, TopicRecvError> {
        self.reader
            .recv_with(Deadline::Never, f)
            .map_err(Stop::into_topic_recv)
    }

    /// [`recv_with`](Self::recv_with) without waiting.
    ///
    /// # Errors
    ///
    /// As for [`try_recv`](Self::try_recv).
    pub fn try_recv_with<R>(&mut self, f: impl FnOnce(&[u8]) -> R) -> Result<R, TopicTryRecvError> {
        self.reader
            .recv_with(Deadline::Now, f)
            .map_err(Stop::into_topic_try_recv)
    }

    /// [`recv_with`](Self::recv_with), waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// As for [`recv_timeout`](Self::recv_timeout).
    pub fn recv_with_timeout<R>(
        &mut self,
        timeout: Duration,
        f: impl FnOnce(&[u8]) -> R,
    ) -> Result<R, TopicRecvTimeoutError> {
        self.reader
            .recv_with(Deadline::after(timeout), f)
            .map_err(Stop::into_topic_recv_timeout)
    }

    /// Receives a message sent with
    /// [`Publisher::send_pod`](crate::Publisher::send_pod).
    ///
    /// # Errors
    ///
    /// [`TopicRecvError::WrongSize`] if its length is not `T`'s, and as
    /// for [`recv`](Self::recv).
    pub fn recv_pod<T: bytemuck::AnyBitPattern>(&mut self) -> Result<T, TopicRecvError> {
        self.reader
            .recv_with(Deadline::Never, read_pod)
            .and_then(|r| r)
            .map_err(Stop::into_topic_recv)
    }

    /// [`recv_pod`](Self::recv_pod) without waiting.
    ///
    /// # Errors
    ///
    /// As for [`try_recv`](Self::try_recv) and [`recv_pod`](Self::recv_pod).
    pub fn try_recv_pod<T: bytemuck::AnyBitPattern>(&mut self) -> Result<T, TopicTryRecvError> {
        self.reader
            .recv_with(Deadline::Now, read_pod)
            .and_then(|r| r)
            .map_err(Stop::into_topic_try_recv)
    }

    /// Messages this subscriber missed so far (the sum of its `Lagged`
    /// reports).
    pub fn lagged(&self) -> u64 {
        self.reader.lagged
    }

    /// Whether no message is waiting (a snapshot).
    pub fn is_empty(&self) -> bool {
        self.reader.is_empty()
    }

    /// Whether the publisher has detached or died (reads `/proc`).
    pub fn is_disconnected(&self) -> bool {
        self.reader.is_disconnected()
    }

    /// This subscriber's entry in the topic's table (as `shmq stat` shows
    /// it).
    pub fn entry(&self) -> usize {
        self.reader.entry
    }

    /// This subscriber's wait strategy.
    pub fn wait_strategy(&self) -> WaitStrategy {
        self.reader.strategy
    }

    /// Changes how this subscriber waits for messages.
    pub fn set_wait_strategy(&mut self, wait: WaitStrategy) {
        self.reader.strategy = wait;
    }

    /// Loom models only: the death of this subscriber's process, as the
    /// publisher sees it.
    #[cfg(shmq_loom)]
    #[doc(hidden)]
    pub fn loom_die(mut self) {
        self.reader.die_in_place();
    }
}

/// The value of type `T` a message holds, if it has `T`'s length.
fn read_pod<T: bytemuck::AnyBitPattern>(bytes: &[u8]) -> Result<T, Stop> {
    if bytes.len() != std::mem::size_of::<T>() {
        return Err(Stop::WrongSize {
            expected: std::mem::size_of::<T>(),
            found: bytes.len(),
        });
    }
    Ok(bytemuck::pod_read_unaligned(bytes))
}

// Both ends move between threads (and every field of theirs is `Send`
// without an `unsafe impl`): checked at compile time.
const _: () = {
    const fn send<T: Send>() {}
    send::<Publisher>();
    send::<Subscriber>();
    send::<Topic>();
};
