//! The two ends of a queue: [`Sender`] and [`Receiver`].

use std::marker::PhantomData;
use std::time::{Duration, Instant};

use crate::error::{
    RecvError, RecvTimeoutError, SendError, SendTimeoutError, Stop, TryRecvError, TrySendError,
};
use crate::peer::Departure;
use crate::segment::Lane;
use crate::spsc::{BatchStart, Consumer, Origin, Producer};
use crate::sync::Ordering::Relaxed;
use crate::wait::{Deadline, WaitStrategy};

/// Slots of `lane` holding records not yet received, from the shared
/// indices.
fn slots_used(lane: &Lane) -> u64 {
    let h = lane.header();
    let tail = h.consumer.tail.load(Relaxed);
    let head = h.producer.head.load(Relaxed);
    head.saturating_sub(tail)
}

/// Messages queued in `lanes`: sent minus received, from the shared
/// counters.
fn messages_queued(lanes: &[Lane]) -> usize {
    let queued: u64 = lanes
        .iter()
        .map(|lane| {
            let h = lane.header();
            let sent = h.producer.counters.messages.load(Relaxed);
            let received = h.consumer.counters.messages.load(Relaxed);
            sent.saturating_sub(received)
        })
        .sum();
    usize::try_from(queued).unwrap_or(usize::MAX)
}

/// Who sent a message: the sender lane it came on and the process that
/// held the lane when it sent it. From [`Receiver::recv_from`],
/// [`Receiver::recv_with_from`] and [`Receiver::last_sender`].
///
/// On a plain queue the lane is always 0; on a mailbox
/// ([`QueueBuilder::senders`](crate::QueueBuilder::senders)) each sender
/// has its own ([`Sender::lane`]), and a lane can pass to another process
/// once its holder has left, so the pid tells the holders apart.
///
/// # Examples
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let queue = shmq::QueueBuilder::in_process().create()?;
/// let (mut tx, mut rx) = (queue.sender()?, queue.receiver()?);
/// tx.send(b"x")?;
/// let (from, _) = rx.recv_from()?;
/// assert_eq!(from.to_string(), format!("pid {} (lane 0)", std::process::id()));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SenderId {
    lane: usize,
    token: u64,
}

impl SenderId {
    /// The sender lane (0 on a plain queue).
    pub fn lane(&self) -> usize {
        self.lane
    }

    /// The process id of the sender; `None` only if the segment did not say
    /// (a corrupt or foreign segment).
    pub fn pid(&self) -> Option<u32> {
        match crate::peer::token_pid(self.token) {
            0 => None,
            pid => Some(pid),
        }
    }
}

impl From<Origin> for SenderId {
    fn from(origin: Origin) -> Self {
        SenderId {
            lane: origin.lane,
            token: origin.token,
        }
    }
}

impl std::fmt::Display for SenderId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.pid() {
            Some(pid) => write!(f, "pid {pid} (lane {})", self.lane),
            None => write!(f, "unknown sender (lane {})", self.lane),
        }
    }
}

/// The sending end of a queue. Attach one with [`Queue::sender`]; one live
/// process holds it at a time. Dropping it detaches: the receiver drains
/// what was sent and then sees [`RecvError::Disconnected`].
///
/// # Disconnection
///
/// Sends fail with `Disconnected` once the receiver this sender has seen
/// (attached when the sender attached, or attached since) has detached or
/// died, and [`last_departure`](Sender::last_departure) says which. A queue
/// is persistent: while no receiver has been seen, messages wait in the
/// ring for the next one (and `send` waits for room when it is full: bound
/// it with [`send_timeout`](Sender::send_timeout) or
/// [`try_send`](Sender::try_send)). A receiver that detaches is noticed on
/// the next send; one that dies without detaching (`kill -9`) within about
/// 100 ms, by the next send whether or not the ring is full (the receiver's
/// process is looked for once every 40 ms; in a burst of sends, within the
/// tick of the coarse clock, the clock itself is read once every 32
/// sends, so up to 32 sends of a burst may go into the ring before the
/// sender notices). Messages already in the ring
/// stay there for a receiver that takes over, and sends work again once
/// one has attached.
///
/// Sending copies the message into the ring (no allocation, no system call
/// unless the receiver is asleep). [`reserve`](Sender::reserve) lets you
/// build the message in the ring instead.
///
/// [`Queue::sender`]: crate::Queue::sender
#[derive(Debug)]
pub struct Sender {
    inner: Producer,
    /// `!Sync`: one thread sends at a time (`&mut self`), but the end may
    /// move between threads.
    _not_sync: PhantomData<std::cell::Cell<()>>,
}

impl Sender {
    pub(crate) fn new(inner: Producer) -> Self {
        Sender {
            inner,
            _not_sync: PhantomData,
        }
    }

    /// Sends a message, waiting while the ring is full. A message longer
    /// than the ring is streamed in fragments.
    ///
    /// # Errors
    ///
    /// [`SendError::Disconnected`] if the receiver has detached or died,
    /// [`SendError::TooLarge`] beyond the queue's `max_message_size`,
    /// [`SendError::Corrupted`] if the segment broke the protocol.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let queue = shmq::QueueBuilder::in_process().create()?;
    /// let (mut tx, mut rx) = (queue.sender()?, queue.receiver()?);
    /// tx.send(b"hello")?;
    /// assert_eq!(rx.recv()?, b"hello");
    /// # Ok(()) }
    /// ```
    #[inline]
    pub fn send(&mut self, msg: &[u8]) -> Result<(), SendError> {
        self.inner
            .send(msg, Deadline::Never)
            .map_err(Stop::into_send)
    }

    /// Sends a message if the ring has room for it now; never waits.
    ///
    /// # Errors
    ///
    /// [`TrySendError::Full`] if there is no room now;
    /// [`TrySendError::TooLarge`] for a message longer than the ring
    /// ([`capacity`](Self::capacity)), which only the waiting sends can
    /// stream; otherwise as for [`send`](Self::send).
    #[inline]
    pub fn try_send(&mut self, msg: &[u8]) -> Result<(), TrySendError> {
        self.inner
            .send(msg, Deadline::Now)
            .map_err(Stop::into_try_send)
    }

    /// Sends `head` and `body` as one message if the send's fast path
    /// takes it (it fits one slot and there is room now); `None` if not.
    #[inline]
    pub(crate) fn try_send_parts_fast(
        &mut self,
        head: &[u8],
        body: &[u8],
    ) -> Option<Result<(), TrySendError>> {
        self.inner
            .send_parts_fast(head, body)
            .map(|r| r.map_err(Stop::into_try_send))
    }

    /// Sends a message, waiting at most `timeout` for room.
    ///
    /// If a message longer than the ring times out part way, the fragments
    /// already sent are discarded by the receiver; it never sees part of a
    /// message.
    ///
    /// # Errors
    ///
    /// [`SendTimeoutError::Timeout`], otherwise as for [`send`](Self::send).
    pub fn send_timeout(&mut self, msg: &[u8], timeout: Duration) -> Result<(), SendTimeoutError> {
        self.inner
            .send(msg, Deadline::after(timeout))
            .map_err(Stop::into_send_timeout)
    }

    /// Sends a message, waiting until `deadline` at most for room.
    ///
    /// # Errors
    ///
    /// As for [`send_timeout`](Self::send_timeout).
    pub fn send_deadline(&mut self, msg: &[u8], deadline: Instant) -> Result<(), SendTimeoutError> {
        self.inner
            .send(msg, Deadline::At(deadline))
            .map_err(Stop::into_send_timeout)
    }

    /// Sends a message and waits until the receiver has taken it (returned
    /// it from a receive call): synchronous message passing.
    ///
    /// # Errors
    ///
    /// As for [`send`](Self::send); `Disconnected` also if the receiver
    /// detaches before taking the message.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let queue = shmq::QueueBuilder::in_process().create()?;
    /// let (mut tx, mut rx) = (queue.sender()?, queue.receiver()?);
    /// let reader = std::thread::spawn(move || rx.recv());
    /// tx.send_sync(b"handed over")?; // returns once the thread has it
    /// assert!(tx.is_empty());
    /// assert_eq!(reader.join().unwrap()?, b"handed over");
    /// # Ok(()) }
    /// ```
    pub fn send_sync(&mut self, msg: &[u8]) -> Result<(), SendError> {
        self.send(msg)?;
        self.flush()
    }

    /// Waits until the receiver has taken every message sent so far.
    ///
    /// # Errors
    ///
    /// [`SendError::Disconnected`] if the receiver detaches first.
    pub fn flush(&mut self) -> Result<(), SendError> {
        self.inner.flush(Deadline::Never).map_err(Stop::into_send)
    }

    /// Like [`flush`](Self::flush), waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`SendTimeoutError::Timeout`], otherwise as for `flush`.
    pub fn flush_timeout(&mut self, timeout: Duration) -> Result<(), SendTimeoutError> {
        self.inner
            .flush(Deadline::after(timeout))
            .map_err(Stop::into_send_timeout)
    }

    /// Reserves `len` bytes in the ring for a message written in place,
    /// waiting for room. Nothing is sent until [`SendGuard::commit`];
    /// dropping the guard sends nothing.
    ///
    /// # Errors
    ///
    /// [`SendError::TooLarge`] if `len` exceeds [`capacity`](Self::capacity)
    /// or the queue's `max_message_size` (a reserved message must fit in the
    /// ring in one piece); otherwise as for [`send`](Self::send).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let queue = shmq::QueueBuilder::in_process().create()?;
    /// let (mut tx, mut rx) = (queue.sender()?, queue.receiver()?);
    /// let mut slot = tx.reserve(4)?;
    /// slot.copy_from_slice(&42u32.to_le_bytes());
    /// slot.commit();
    /// assert_eq!(rx.recv()?, 42u32.to_le_bytes());
    /// # Ok(()) }
    /// ```
    #[inline]
    pub fn reserve(&mut self, len: usize) -> Result<SendGuard<'_>, SendError> {
        let (ptr, at, slots) = self
            .inner
            .reserve(len, Deadline::Never)
            .map_err(Stop::into_send)?;
        Ok(SendGuard {
            sender: self,
            ptr,
            len,
            at,
            slots,
        })
    }

    /// Like [`reserve`](Self::reserve), but never waits.
    ///
    /// # Errors
    ///
    /// [`TrySendError::Full`] if there is no room now, otherwise as for
    /// `reserve`.
    #[inline]
    pub fn try_reserve(&mut self, len: usize) -> Result<SendGuard<'_>, TrySendError> {
        let (ptr, at, slots) = self
            .inner
            .reserve(len, Deadline::Now)
            .map_err(Stop::into_try_send)?;
        Ok(SendGuard {
            sender: self,
            ptr,
            len,
            at,
            slots,
        })
    }

    /// Sends a plain-data value as its bytes (native endianness).
    ///
    /// # Errors
    ///
    /// As for [`send`](Self::send).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// #[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
    /// #[repr(C)]
    /// struct Tick { price: f64, qty: u32, venue: u32 }
    ///
    /// let queue = shmq::QueueBuilder::in_process().create()?;
    /// let (mut tx, mut rx) = (queue.sender()?, queue.receiver()?);
    /// tx.send_pod(&Tick { price: 101.5, qty: 3, venue: 7 })?;
    /// assert_eq!(rx.recv_pod::<Tick>()?, Tick { price: 101.5, qty: 3, venue: 7 });
    /// # Ok(()) }
    /// ```
    pub fn send_pod<T: bytemuck::NoUninit>(&mut self, value: &T) -> Result<(), SendError> {
        self.send(bytemuck::bytes_of(value))
    }

    /// Messages sent and not yet received (a snapshot; on a mailbox, those
    /// of this sender's lane).
    pub fn len(&self) -> usize {
        messages_queued(std::slice::from_ref(self.own_lane()))
    }

    /// Whether the receiver has taken everything sent (a snapshot).
    pub fn is_empty(&self) -> bool {
        slots_used(self.own_lane()) == 0
    }

    /// The lane this sender holds: 0 on a plain queue, `0..senders` on a
    /// mailbox ([`QueueBuilder::senders`](crate::QueueBuilder::senders));
    /// the receiver sees it in [`SenderId::lane`].
    pub fn lane(&self) -> usize {
        self.inner.lane_index()
    }

    /// Loom models only: the death of this sender's process (killed in the
    /// middle of whatever it was doing), as the other ends see it.
    #[cfg(shmq_loom)]
    #[doc(hidden)]
    pub fn loom_die(self) {
        self.inner.die();
    }

    /// [`loom_die`](Self::loom_die) for a sender its owner drops later.
    #[cfg(shmq_loom)]
    pub(crate) fn loom_die_in_place(&mut self) {
        self.inner.die_in_place();
    }

    fn own_lane(&self) -> &Lane {
        self.inner.region().lane(self.inner.lane_index())
    }

    /// Whether the ring has no room for another record right now (a
    /// snapshot): every slot is in use but the one the sender always keeps
    /// free (see [`Queue::capacity`](crate::Queue::capacity)).
    pub fn is_full(&self) -> bool {
        slots_used(self.own_lane()) + 1 >= self.inner.geometry().slots
    }

    /// Longest message that travels in one piece (and can be reserved).
    pub fn capacity(&self) -> usize {
        self.inner.geometry().capacity
    }

    /// Longest message the queue carries.
    pub fn max_message_size(&self) -> u64 {
        self.inner.geometry().config.max_message_size
    }

    /// Whether the receiver has detached or its process died. Goes stale
    /// at once: a new receiver may attach right after.
    pub fn is_disconnected(&self) -> bool {
        self.inner.is_disconnected()
    }

    /// How the receiver left (detached, or its process died), once a call
    /// has failed with `Disconnected`; `None` before. It keeps the last
    /// answer after a new receiver attaches.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let queue = shmq::QueueBuilder::in_process().create()?;
    /// let (mut tx, rx) = (queue.sender()?, queue.receiver()?);
    /// drop(rx);
    /// assert_eq!(tx.send(b"anyone?"), Err(shmq::SendError::Disconnected));
    /// assert_eq!(tx.last_departure(), Some(shmq::Departure::Detached));
    /// # Ok(()) }
    /// ```
    pub fn last_departure(&self) -> Option<Departure> {
        self.inner.last_departure()
    }

    /// The receiving end's owner word as it is now: its epoch (how many
    /// times it has been attached) and its token (0 when detached). For
    /// services, which tell a server that died or was replaced from the
    /// one a request was sent to; no `/proc` read.
    pub(crate) fn receiver_owner(&self) -> (u32, u64) {
        let owner = &self.inner.region().header().receiver.receiver;
        // SYNC: epoch (Acquire side): read before the token, as in
        // `peer::Session::start`.
        let epoch = owner.epoch.load(crate::sync::Ordering::Acquire);
        let token = owner.token.load(crate::sync::Ordering::Acquire);
        (epoch, token)
    }

    /// How this end waits for room.
    pub fn wait_strategy(&self) -> WaitStrategy {
        self.inner.strategy
    }

    /// Changes how this end waits for room.
    pub fn set_wait_strategy(&mut self, wait: WaitStrategy) {
        self.inner.strategy = wait;
    }
}

/// Room for one message in the ring, from [`Sender::reserve`]. Write the
/// message through `DerefMut<Target = [u8]>`, then [`commit`]; dropping the
/// guard instead publishes nothing.
///
/// The bytes start out holding whatever the slot held before.
///
/// [`commit`]: SendGuard::commit
#[derive(Debug)]
pub struct SendGuard<'a> {
    sender: &'a mut Sender,
    ptr: *mut u8,
    len: usize,
    at: u64,
    slots: u64,
}

impl SendGuard<'_> {
    /// Publishes the message.
    #[inline]
    pub fn commit(self) {
        self.sender
            .inner
            .commit_reserved(self.at, self.slots, self.len);
    }
}

impl std::ops::Deref for SendGuard<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: `ptr..ptr + len` lies in slots reserved for this guard,
        // which the receiver cannot read until commit; the guard borrows the
        // sender, so no other reservation or send overlaps it.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl std::ops::DerefMut for SendGuard<'_> {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `deref`, and `&mut self` makes this the only view.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }
}

/// The receiving end of a queue. Attach one with [`Queue::receiver`]; one
/// live process holds it at a time.
///
/// Messages arrive in order, each exactly once and whole. When the sender
/// detaches or dies, every message it committed is still delivered before
/// [`RecvError::Disconnected`].
///
/// # Senders that come and go
///
/// | when | a receive |
/// | --- | --- |
/// | no sender is live as the receiver attaches (none came yet, or the last one left or died) | returns what earlier senders left, then waits for a sender |
/// | the sender it has seen (live when it attached, or attached since) detaches or dies | returns every message that sender committed, then `Disconnected` |
/// | after that `Disconnected`, until a new sender attaches | `Disconnected` again, at once |
/// | a new sender has attached | goes on with its messages |
///
/// [`wait_for_sender`](Receiver::wait_for_sender) blocks, without
/// spinning, until a new sender attaches: a server that outlives its
/// clients calls it after `Disconnected`.
/// [`last_departure`](Receiver::last_departure) says whether the sender
/// detached or died. A sender killed without detaching (`kill -9`) is
/// noticed within about 100 ms (its process is looked for once every
/// 40 ms), by a waiting receive and by `try_recv` alike; its partial
/// message, if any, is dropped. Waiting for a sender that never comes is
/// bounded only by the `*_timeout` calls.
///
/// # Batches: nothing lost if the receiver dies
///
/// A message is freed in the ring as soon as a receive returns it, so a
/// receiver killed after that but before it has acted on the message loses
/// it. [`recv_batch`](Receiver::recv_batch) reads messages in place and
/// frees them only when [`Batch::release`] is called: a receiver that dies
/// first leaves them to the next receiver, which receives them again
/// (at-least-once).
///
/// # Examples
///
/// A server that serves one sender after another:
///
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut rx = shmq::Queue::builder("requests").open_or_create()?.receiver()?;
/// loop {
///     for msg in rx.iter() {
///         println!("{}", String::from_utf8_lossy(&msg));
///     }
///     // The sender left (how: `rx.last_departure()`); wait for the next.
///     rx.wait_for_sender()?;
/// }
/// # }
/// ```
///
/// [`Queue::receiver`]: crate::Queue::receiver
#[derive(Debug)]
pub struct Receiver {
    inner: Consumer,
    _not_sync: PhantomData<std::cell::Cell<()>>,
}

impl Receiver {
    pub(crate) fn new(inner: Consumer) -> Self {
        Receiver {
            inner,
            _not_sync: PhantomData,
        }
    }

    /// Receives a message into a new `Vec`, waiting for one.
    ///
    /// # Errors
    ///
    /// [`RecvError::Disconnected`] once the sender is gone and every
    /// message it sent was received; [`RecvError::Corrupted`] if the
    /// segment broke the protocol.
    pub fn recv(&mut self) -> Result<Vec<u8>, RecvError> {
        self.recv_with(<[u8]>::to_vec)
    }

    /// Receives a message if one is waiting; never waits.
    ///
    /// # Errors
    ///
    /// [`TryRecvError::Empty`], otherwise as for [`recv`](Self::recv).
    pub fn try_recv(&mut self) -> Result<Vec<u8>, TryRecvError> {
        self.try_recv_with(<[u8]>::to_vec)
    }

    /// Receives a message, waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`RecvTimeoutError::Timeout`], otherwise as for [`recv`](Self::recv).
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<Vec<u8>, RecvTimeoutError> {
        self.recv_with_timeout(timeout, <[u8]>::to_vec)
    }

    /// Receives a message, waiting until `deadline` at most.
    ///
    /// # Errors
    ///
    /// As for [`recv_timeout`](Self::recv_timeout).
    pub fn recv_deadline(&mut self, deadline: Instant) -> Result<Vec<u8>, RecvTimeoutError> {
        self.inner
            .recv_with(Deadline::At(deadline), <[u8]>::to_vec)
            .map_err(Stop::into_recv_timeout)
    }

    /// Receives a message and hands `f` its bytes without copying them: in
    /// place in the ring (the slots are freed when `f` returns), or from the
    /// reassembly buffer for a message longer than the ring.
    ///
    /// The bytes are shared memory: a misbehaving sender process could
    /// change them while `f` runs. Copy before validating if the sender is
    /// not trusted.
    ///
    /// # Errors
    ///
    /// As for [`recv`](Self::recv).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let queue = shmq::QueueBuilder::in_process().create()?;
    /// let (mut tx, mut rx) = (queue.sender()?, queue.receiver()?);
    /// tx.send(b"count me")?;
    /// let len = rx.recv_with(|bytes| bytes.len())?;
    /// assert_eq!(len, 8);
    /// # Ok(()) }
    /// ```
    #[inline]
    pub fn recv_with<R>(&mut self, f: impl FnOnce(&[u8]) -> R) -> Result<R, RecvError> {
        self.inner
            .recv_with(Deadline::Never, f)
            .map_err(Stop::into_recv)
    }

    /// Like [`recv_with`](Self::recv_with), but never waits.
    ///
    /// # Errors
    ///
    /// As for [`try_recv`](Self::try_recv).
    #[inline]
    pub fn try_recv_with<R>(&mut self, f: impl FnOnce(&[u8]) -> R) -> Result<R, TryRecvError> {
        self.inner
            .recv_with(Deadline::Now, f)
            .map_err(Stop::into_try_recv)
    }

    /// Like [`recv_with`](Self::recv_with), waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// As for [`recv_timeout`](Self::recv_timeout).
    pub fn recv_with_timeout<R>(
        &mut self,
        timeout: Duration,
        f: impl FnOnce(&[u8]) -> R,
    ) -> Result<R, RecvTimeoutError> {
        self.inner
            .recv_with(Deadline::after(timeout), f)
            .map_err(Stop::into_recv_timeout)
    }

    /// Receives a message and says who sent it: on a mailbox
    /// ([`QueueBuilder::senders`](crate::QueueBuilder::senders)), which
    /// sender lane and which process. Waits for one, as
    /// [`recv`](Self::recv).
    ///
    /// # Errors
    ///
    /// As for [`recv`](Self::recv); a mailbox is `Disconnected` once every
    /// sender it has seen is gone, none holds a lane, and everything sent
    /// was received.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let mailbox = shmq::QueueBuilder::in_process().senders(2).create()?;
    /// let mut rx = mailbox.receiver()?;
    /// let mut tx = mailbox.sender()?;
    /// tx.send(b"hello")?;
    /// let (from, msg) = rx.recv_from()?;
    /// assert_eq!(from.pid(), Some(std::process::id()));
    /// assert_eq!(from.lane(), tx.lane());
    /// assert_eq!(msg, b"hello");
    /// # Ok(()) }
    /// ```
    pub fn recv_from(&mut self) -> Result<(SenderId, Vec<u8>), RecvError> {
        self.inner
            .recv_from_with(Deadline::Never, |bytes, from| (from.into(), bytes.to_vec()))
            .map_err(Stop::into_recv)
    }

    /// Like [`recv_from`](Self::recv_from), but never waits.
    ///
    /// # Errors
    ///
    /// As for [`try_recv`](Self::try_recv).
    pub fn try_recv_from(&mut self) -> Result<(SenderId, Vec<u8>), TryRecvError> {
        self.inner
            .recv_from_with(Deadline::Now, |bytes, from| (from.into(), bytes.to_vec()))
            .map_err(Stop::into_try_recv)
    }

    /// Like [`recv_from`](Self::recv_from), waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// As for [`recv_timeout`](Self::recv_timeout).
    pub fn recv_from_timeout(
        &mut self,
        timeout: Duration,
    ) -> Result<(SenderId, Vec<u8>), RecvTimeoutError> {
        self.inner
            .recv_from_with(Deadline::after(timeout), |bytes, from| {
                (from.into(), bytes.to_vec())
            })
            .map_err(Stop::into_recv_timeout)
    }

    /// Like [`recv_with`](Self::recv_with) (the bytes in place), also
    /// handing `f` who sent them.
    ///
    /// # Errors
    ///
    /// As for [`recv`](Self::recv).
    #[inline]
    pub fn recv_with_from<R>(
        &mut self,
        f: impl FnOnce(&[u8], SenderId) -> R,
    ) -> Result<R, RecvError> {
        self.inner
            .recv_from_with(Deadline::Never, |bytes, from| f(bytes, from.into()))
            .map_err(Stop::into_recv)
    }

    /// Loom models only: the death of this receiver's process, as the
    /// senders see it; the handle's drop later detaches nothing.
    #[cfg(shmq_loom)]
    pub(crate) fn loom_die_in_place(&mut self) {
        self.inner.die_in_place();
    }

    /// [`recv_with_from`](Self::recv_with_from) with any deadline, for
    /// the crate's own patterns (services).
    pub(crate) fn recv_with_from_deadline<R>(
        &mut self,
        deadline: Deadline,
        f: impl FnOnce(&[u8], SenderId) -> R,
    ) -> Result<R, Stop> {
        self.inner
            .recv_from_with(deadline, |bytes, from| f(bytes, from.into()))
    }

    /// How many messages in a row a mailbox's receiver takes from one
    /// sender lane that has more, before it serves the next lane
    /// (default 32). Lanes are served round-robin by such quanta: with two
    /// busy senders each gets half the messages, in runs of this many; a
    /// busy sender delays the others by at most this many messages per
    /// round; and a receiver with one busy sender among many idle lanes
    /// looks at the idle ones once per quantum, not once per message. 1 is
    /// strict message-by-message alternation; 0 counts as 1. No effect on
    /// a plain queue.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let mailbox = shmq::QueueBuilder::in_process().senders(2).create()?;
    /// let mut rx = mailbox.receiver()?;
    /// rx.set_lane_quantum(1);
    /// let (mut a, mut b) = (mailbox.sender()?, mailbox.sender()?);
    /// for i in 0..2u8 {
    ///     a.send(&[i])?;
    ///     b.send(&[i])?;
    /// }
    /// let lanes: Vec<usize> = (0..4).map(|_| rx.recv_from().map(|(s, _)| s.lane())).collect::<Result<_, _>>()?;
    /// assert_eq!(lanes, [a.lane(), b.lane(), a.lane(), b.lane()]);
    /// # Ok(()) }
    /// ```
    pub fn set_lane_quantum(&mut self, messages: u32) {
        self.inner.quantum = messages.max(1);
    }

    /// The lane quantum ([`set_lane_quantum`](Self::set_lane_quantum)).
    pub fn lane_quantum(&self) -> u32 {
        self.inner.quantum
    }

    /// Who sent the last message this receiver received (by any call), or
    /// the messages of the batch it holds: a [`Batch`] holds one sender's
    /// messages. `None` before the first.
    pub fn last_sender(&self) -> Option<SenderId> {
        self.inner.last_origin().map(SenderId::from)
    }

    /// Receives a message into `buf` (cleared first, its allocation
    /// reused) and returns its length.
    ///
    /// # Errors
    ///
    /// As for [`recv`](Self::recv).
    pub fn recv_into(&mut self, buf: &mut Vec<u8>) -> Result<usize, RecvError> {
        self.recv_with(|bytes| {
            buf.clear();
            buf.extend_from_slice(bytes);
            bytes.len()
        })
    }

    /// Receives a plain-data value sent with [`Sender::send_pod`].
    ///
    /// # Errors
    ///
    /// [`RecvError::WrongSize`] if the message is not exactly
    /// `size_of::<T>()` bytes (the message is consumed); otherwise as for
    /// [`recv`](Self::recv).
    pub fn recv_pod<T: bytemuck::AnyBitPattern>(&mut self) -> Result<T, RecvError> {
        self.inner
            .recv_with(Deadline::Never, read_pod::<T>)
            .map_err(Stop::into_recv)?
            .map_err(Stop::into_recv)
    }

    /// Like [`recv_pod`](Self::recv_pod), but never waits.
    ///
    /// # Errors
    ///
    /// [`TryRecvError::Empty`], otherwise as for `recv_pod`.
    pub fn try_recv_pod<T: bytemuck::AnyBitPattern>(&mut self) -> Result<T, TryRecvError> {
        self.inner
            .recv_with(Deadline::Now, read_pod::<T>)
            .map_err(Stop::into_try_recv)?
            .map_err(Stop::into_try_recv)
    }

    /// A blocking iterator over messages; it ends when the sender is gone
    /// and everything it sent was received (or on a protocol error, which
    /// the next receive call returns).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let queue = shmq::QueueBuilder::in_process().create()?;
    /// let (mut tx, mut rx) = (queue.sender()?, queue.receiver()?);
    /// for word in ["a", "b", "c"] {
    ///     tx.send(word.as_bytes())?;
    /// }
    /// drop(tx);
    /// let all: Vec<Vec<u8>> = rx.iter().collect();
    /// assert_eq!(all, [b"a", b"b", b"c"]);
    /// # Ok(()) }
    /// ```
    pub fn iter(&mut self) -> Iter<'_> {
        Iter { rx: self }
    }

    /// An iterator over the messages waiting now; never waits.
    pub fn try_iter(&mut self) -> TryIter<'_> {
        TryIter { rx: self }
    }

    /// Messages sent and not yet received (a snapshot; on a mailbox, on all
    /// lanes).
    pub fn len(&self) -> usize {
        messages_queued(self.inner.region().lanes())
    }

    /// Whether nothing is waiting to be received (a snapshot: whether a
    /// record is committed where the next receive will look).
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    /// Longest message that travels in one piece (read in place).
    pub fn capacity(&self) -> usize {
        self.inner.geometry().capacity
    }

    /// Longest message the queue carries.
    pub fn max_message_size(&self) -> u64 {
        self.inner.geometry().config.max_message_size
    }

    /// Whether the sender has detached or its process died. Goes stale at
    /// once: a new sender may attach right after, and messages may still be
    /// waiting.
    pub fn is_disconnected(&self) -> bool {
        self.inner.is_disconnected()
    }

    /// How the sender left (detached, or its process died), once a receive
    /// has found it gone; `None` before. It keeps the last answer after a
    /// new sender attaches.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let queue = shmq::QueueBuilder::in_process().create()?;
    /// let (tx, mut rx) = (queue.sender()?, queue.receiver()?);
    /// drop(tx);
    /// assert_eq!(rx.recv(), Err(shmq::RecvError::Disconnected));
    /// assert_eq!(rx.last_departure(), Some(shmq::Departure::Detached));
    /// # Ok(()) }
    /// ```
    pub fn last_departure(&self) -> Option<Departure> {
        self.inner.last_departure()
    }

    /// Waits until a new sender attaches: one that attached after the
    /// sender this receiver saw leave (or after this receiver attached, if
    /// it has seen none leave). Returns at once if a live sender holds the
    /// end and has not been seen to leave. It sleeps on the futex (no
    /// spinning); the attaching sender wakes it.
    ///
    /// The new sender may have sent and left already: its messages are then
    /// received, and its departure reported, as usual.
    ///
    /// # Errors
    ///
    /// [`RecvError::Corrupted`] if the handle saw the segment break the
    /// protocol.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let queue = shmq::QueueBuilder::in_process().create()?;
    /// let mut rx = queue.receiver()?;
    /// drop(queue.sender()?);
    /// assert_eq!(rx.try_recv(), Err(shmq::TryRecvError::Disconnected));
    /// let next = {
    ///     let queue = queue.clone();
    ///     std::thread::spawn(move || queue.sender().unwrap().send_sync(b"next"))
    /// };
    /// rx.wait_for_sender()?;
    /// assert_eq!(rx.recv()?, b"next");
    /// next.join().unwrap()?;
    /// # Ok(()) }
    /// ```
    pub fn wait_for_sender(&mut self) -> Result<(), RecvError> {
        self.inner
            .wait_for_sender(Deadline::Never)
            .map_err(Stop::into_recv)
    }

    /// Like [`wait_for_sender`](Self::wait_for_sender), waiting at most
    /// `timeout`.
    ///
    /// # Errors
    ///
    /// [`RecvTimeoutError::Timeout`], otherwise as for `wait_for_sender`.
    pub fn wait_for_sender_timeout(&mut self, timeout: Duration) -> Result<(), RecvTimeoutError> {
        self.inner
            .wait_for_sender(Deadline::after(timeout))
            .map_err(Stop::into_recv_timeout)
    }

    /// Waits for a message, then gives a [`Batch`]: that message and every
    /// further one already waiting, read in place, and freed in the ring
    /// only by [`Batch::release`]. Dropping the batch frees nothing: its
    /// messages are received again, by this receiver or, if this process
    /// dies first, by the next one. A program that writes messages out
    /// (to a file, a socket) and releases them only once they are written
    /// loses none if it is killed: at most it repeats some.
    ///
    /// A message longer than the ring's [`capacity`](Self::capacity) cannot
    /// be held in it: it is reassembled (its fragments freed as they
    /// arrive) and comes alone in its batch; such messages are not covered
    /// by the guarantee above.
    ///
    /// # Errors
    ///
    /// As for [`recv`](Self::recv).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::io::Write;
    ///
    /// let queue = shmq::QueueBuilder::in_process().create()?;
    /// let (mut tx, mut rx) = (queue.sender()?, queue.receiver()?);
    /// for line in ["one", "two", "three"] {
    ///     tx.send(line.as_bytes())?;
    /// }
    /// let mut out = Vec::new();
    /// let mut batch = rx.recv_batch()?;
    /// while let Some(msg) = batch.next() {
    ///     out.write_all(msg)?;
    ///     out.write_all(b"\n")?;
    /// }
    /// out.flush()?; // written out: now the ring may forget them
    /// batch.release();
    /// assert_eq!(out, b"one\ntwo\nthree\n");
    /// # Ok(()) }
    /// ```
    pub fn recv_batch(&mut self) -> Result<Batch<'_>, RecvError> {
        self.batch(Deadline::Never).map_err(Stop::into_recv)
    }

    /// Like [`recv_batch`](Self::recv_batch), but never waits.
    ///
    /// # Errors
    ///
    /// [`TryRecvError::Empty`], otherwise as for `recv_batch`.
    pub fn try_recv_batch(&mut self) -> Result<Batch<'_>, TryRecvError> {
        self.batch(Deadline::Now).map_err(Stop::into_try_recv)
    }

    /// Like [`recv_batch`](Self::recv_batch), waiting at most `timeout` for
    /// the first message.
    ///
    /// # Errors
    ///
    /// [`RecvTimeoutError::Timeout`], otherwise as for `recv_batch`.
    pub fn recv_batch_timeout(&mut self, timeout: Duration) -> Result<Batch<'_>, RecvTimeoutError> {
        self.batch(Deadline::after(timeout))
            .map_err(Stop::into_recv_timeout)
    }

    fn batch(&mut self, deadline: Deadline) -> Result<Batch<'_>, Stop> {
        let state = match self.inner.batch_start(deadline)? {
            BatchStart::Held { from, first } => BatchState::Held {
                from,
                first: Some(first),
            },
            BatchStart::Assembled => BatchState::Assembled { taken: false },
        };
        Ok(Batch {
            rx: self,
            state,
            taken: 0,
        })
    }

    /// How this end waits for messages.
    pub fn wait_strategy(&self) -> WaitStrategy {
        self.inner.strategy
    }

    /// Changes how this end waits for messages.
    pub fn set_wait_strategy(&mut self, wait: WaitStrategy) {
        self.inner.strategy = wait;
    }
}

/// Messages read in place and not yet freed, from [`Receiver::recv_batch`].
///
/// [`next`](Batch::next) gives the messages one at a time; each stays in the
/// ring (where the sender cannot overwrite it) until
/// [`release`](Batch::release) frees all that `next` gave. Dropping the
/// batch without releasing it frees nothing, and the next receive returns
/// the same messages again. While a batch is held the sender can use only
/// the rest of the ring, so release promptly.
///
/// The bytes are shared memory: see [`Receiver::recv_with`].
#[derive(Debug)]
pub struct Batch<'a> {
    rx: &'a mut Receiver,
    state: BatchState,
    /// Messages `next` has given.
    taken: u64,
}

#[derive(Debug, Clone, Copy)]
enum BatchState {
    /// Held in the ring from position `from` on; `first` is the message
    /// the batch started with, until `next` has given it.
    Held {
        from: u64,
        first: Option<(usize, usize)>,
    },
    /// One message longer than the ring, reassembled.
    Assembled { taken: bool },
    /// Released.
    Done,
}

impl Batch<'_> {
    /// The next message of the batch: the one the batch waited for, then
    /// each that is already waiting (this never waits). `None` at the end
    /// of the batch: nothing more is waiting now, or the next message is
    /// longer than the ring (it starts the next batch).
    #[allow(clippy::should_implement_trait)] // A lending iterator.
    pub fn next(&mut self) -> Option<&[u8]> {
        let consumer = &mut self.rx.inner;
        let bytes = match &mut self.state {
            BatchState::Held { first, .. } => {
                let (offset, len) = match first.take() {
                    Some(first) => first,
                    None => consumer.batch_next()?,
                };
                consumer.held_bytes(offset, len)
            }
            BatchState::Assembled { taken } => {
                if std::mem::replace(taken, true) {
                    return None;
                }
                consumer.assembled()
            }
            BatchState::Done => return None,
        };
        self.taken += 1;
        Some(bytes)
    }

    /// Who sent the batch's messages: a batch holds the messages of one
    /// sender (one lane of a mailbox, and one holder of it).
    pub fn sender(&self) -> SenderId {
        self.rx.inner.batch_origin().into()
    }

    /// How many messages [`next`](Self::next) has given so far.
    pub fn len(&self) -> usize {
        usize::try_from(self.taken).unwrap_or(usize::MAX)
    }

    /// Whether [`next`](Self::next) has given no message yet.
    pub fn is_empty(&self) -> bool {
        self.taken == 0
    }

    /// Frees the messages [`next`](Self::next) has given, for the sender to
    /// reuse their slots; they are received. Messages of the batch that
    /// `next` did not give stay for the next receive.
    pub fn release(mut self) {
        if let BatchState::Held { .. } = self.state {
            self.rx.inner.batch_release(self.taken);
        }
        self.state = BatchState::Done;
    }
}

impl Drop for Batch<'_> {
    fn drop(&mut self) {
        if let BatchState::Held { from, .. } = self.state {
            self.rx.inner.batch_rollback(from);
        }
    }
}

fn read_pod<T: bytemuck::AnyBitPattern>(bytes: &[u8]) -> Result<T, Stop> {
    if bytes.len() == size_of::<T>() {
        Ok(bytemuck::pod_read_unaligned(bytes))
    } else {
        Err(Stop::WrongSize {
            expected: size_of::<T>(),
            found: bytes.len(),
        })
    }
}

/// Blocking iterator from [`Receiver::iter`].
#[derive(Debug)]
pub struct Iter<'a> {
    rx: &'a mut Receiver,
}

impl Iterator for Iter<'_> {
    type Item = Vec<u8>;
    fn next(&mut self) -> Option<Vec<u8>> {
        self.rx.recv().ok()
    }
}

/// Non-blocking iterator from [`Receiver::try_iter`].
#[derive(Debug)]
pub struct TryIter<'a> {
    rx: &'a mut Receiver,
}

impl Iterator for TryIter<'_> {
    type Item = Vec<u8>;
    fn next(&mut self) -> Option<Vec<u8>> {
        self.rx.try_recv().ok()
    }
}

impl<'a> IntoIterator for &'a mut Receiver {
    type Item = Vec<u8>;
    type IntoIter = Iter<'a>;
    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}
