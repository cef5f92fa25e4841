//! The two ends of a queue: [`Sender`] and [`Receiver`].

use std::marker::PhantomData;
use std::time::{Duration, Instant};

use crate::error::{
    RecvError, RecvTimeoutError, SendError, SendTimeoutError, Stop, TryRecvError, TrySendError,
};
use crate::spsc::{Consumer, Producer};
use crate::sync::Ordering::Relaxed;
use crate::wait::{Deadline, WaitStrategy};

/// Slots holding records not yet received, from the shared indices.
fn slots_used(region: &crate::segment::Region) -> u64 {
    let h = region.header();
    let tail = h.consumer.tail.load(Relaxed);
    let head = h.producer.head.load(Relaxed);
    head.saturating_sub(tail)
}

/// Messages queued: sent minus received, from the shared counters.
fn messages_queued(region: &crate::segment::Region) -> usize {
    let h = region.header();
    let sent = h.producer.counters.messages.load(Relaxed);
    let received = h.consumer.counters.messages.load(Relaxed);
    usize::try_from(sent.saturating_sub(received)).unwrap_or(usize::MAX)
}

/// The sending end of a queue. Attach one with [`Queue::sender`]; one live
/// process holds it at a time. Dropping it detaches: the receiver drains
/// what was sent and then sees [`RecvError::Disconnected`].
///
/// # Disconnection
///
/// Sends fail with `Disconnected` once the receiver this sender has seen
/// (attached when the sender attached, or attached since) has detached or
/// died. A queue is persistent: while no receiver has been seen, messages
/// wait in the ring for the next one. A receiver that detaches cleanly is
/// noticed on the next send; one that dies without detaching (`kill -9`) is
/// noticed by a send that has to wait for room (within about 40 ms of
/// sleeping) or by `try_send` on a full ring (within 40 ms); until then,
/// messages that fit are written to the ring, where a receiver that takes
/// over the dead one's end will find them.
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

    /// Messages sent and not yet received (a snapshot).
    pub fn len(&self) -> usize {
        messages_queued(self.inner.region())
    }

    /// Whether the receiver has taken everything sent (a snapshot).
    pub fn is_empty(&self) -> bool {
        slots_used(self.inner.region()) == 0
    }

    /// Whether the ring has no room for another record right now (a
    /// snapshot): every slot is in use but the one the sender always keeps
    /// free (see [`Queue::capacity`](crate::Queue::capacity)).
    pub fn is_full(&self) -> bool {
        slots_used(self.inner.region()) + 1 >= self.inner.geometry().slots
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
/// # Disconnection
///
/// Once a sender has ever attached, a receiver that finds the ring empty
/// and no live sender reports `Disconnected` (so `send` then `recv` in two
/// runs of a program works: the receiver drains and ends). Before any sender
/// has attached it waits for one. A sender that dies without detaching is
/// noticed within about 40 ms by a waiting receive, and by `try_recv` on an
/// empty ring once 40 ms have passed since its last check. A new sender may
/// attach later; receiving then goes on.
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

    /// Messages sent and not yet received (a snapshot).
    pub fn len(&self) -> usize {
        messages_queued(self.inner.region())
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

    /// How this end waits for messages.
    pub fn wait_strategy(&self) -> WaitStrategy {
        self.inner.strategy
    }

    /// Changes how this end waits for messages.
    pub fn set_wait_strategy(&mut self, wait: WaitStrategy) {
        self.inner.strategy = wait;
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
