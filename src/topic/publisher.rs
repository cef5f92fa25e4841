//! A topic's publisher: a queue sender (`spsc::Producer`) whose gate is
//! the topic's subscribers (see `gate`).

use std::time::Duration;

use crate::error::{SendError, SendTimeoutError, TrySendError};
use crate::spsc::Producer;
use crate::wait::{Deadline, WaitStrategy};

/// The sending end of a [`Topic`](crate::Topic): every message it sends is
/// written once into the topic's ring and read there by every
/// [`Subscriber`](crate::Subscriber). One live publisher at a time; a dead
/// one's place is taken over.
///
/// In a lossless topic a send waits (as the wait strategy says) while the
/// slowest live subscriber has not made room; in a lossy one it never
/// waits. With no subscriber at all, messages go nowhere (subscribers
/// see messages published after they joined).
///
/// # Examples
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let topic = shmq::TopicBuilder::in_process().slots(64).create()?;
/// let mut publisher = topic.publisher()?;
/// let (mut a, mut b) = (topic.subscriber()?, topic.subscriber()?);
/// publisher.send(b"tick")?;
/// assert_eq!(a.recv()?, b"tick");
/// assert_eq!(b.recv()?, b"tick");
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Publisher {
    inner: Producer,
}

impl Publisher {
    pub(crate) fn new(inner: Producer) -> Self {
        Publisher { inner }
    }

    /// Publishes `msg`, waiting for room as long as it takes (lossless
    /// topics). A message longer than the ring is sent in fragments.
    ///
    /// # Errors
    ///
    /// [`SendError::TooLarge`] over the topic's maximum message size, or
    /// [`SendError::Corrupted`].
    pub fn send(&mut self, msg: &[u8]) -> Result<(), SendError> {
        self.inner
            .send(msg, Deadline::Never)
            .map_err(|e| e.into_send())
    }

    /// Publishes `msg` if there is room now.
    ///
    /// # Errors
    ///
    /// [`TrySendError::Full`] if the slowest live subscriber has not made
    /// room (never in a lossy topic), and as for [`send`](Self::send); a
    /// message longer than the ring cannot be sent without waiting
    /// ([`TrySendError::TooLarge`]).
    pub fn try_send(&mut self, msg: &[u8]) -> Result<(), TrySendError> {
        self.inner
            .send(msg, Deadline::Now)
            .map_err(|e| e.into_try_send())
    }

    /// Publishes `msg`, waiting at most `timeout` for room.
    ///
    /// # Errors
    ///
    /// [`SendTimeoutError::Timeout`], and as for [`send`](Self::send).
    pub fn send_timeout(&mut self, msg: &[u8], timeout: Duration) -> Result<(), SendTimeoutError> {
        self.inner
            .send(msg, Deadline::after(timeout))
            .map_err(|e| e.into_send_timeout())
    }

    /// Publishes the bytes of `value` (read back with
    /// [`Subscriber::recv_pod`](crate::Subscriber::recv_pod)).
    ///
    /// # Errors
    ///
    /// As for [`send`](Self::send).
    pub fn send_pod<T: bytemuck::NoUninit>(&mut self, value: &T) -> Result<(), SendError> {
        self.send(bytemuck::bytes_of(value))
    }

    /// Waits until every live subscriber has read everything published so
    /// far (at once in a lossy topic).
    ///
    /// # Errors
    ///
    /// [`SendError::Corrupted`].
    pub fn flush(&mut self) -> Result<(), SendError> {
        self.inner.flush(Deadline::Never).map_err(|e| e.into_send())
    }

    /// [`flush`](Self::flush), waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`SendTimeoutError::Timeout`], or [`SendTimeoutError::Corrupted`].
    pub fn flush_timeout(&mut self, timeout: Duration) -> Result<(), SendTimeoutError> {
        self.inner
            .flush(Deadline::after(timeout))
            .map_err(|e| e.into_send_timeout())
    }

    /// Number of messages published on the topic so far (by this
    /// publisher and those before it).
    pub fn published(&self) -> u64 {
        self.inner.topic_gate().map_or(0, |gate| gate.next_seq)
    }

    /// Number of subscribers whose process is alive (reads `/proc`).
    pub fn subscribers(&self) -> usize {
        self.inner.topic_gate().map_or(0, |gate| gate.subscribers())
    }

    /// Dead subscribers this publisher found holding it up and released.
    pub fn released_subscribers(&self) -> u64 {
        self.inner.topic_gate().map_or(0, |gate| gate.released)
    }

    /// Longest message that travels in one piece (longer ones are sent in
    /// fragments).
    pub fn capacity(&self) -> usize {
        self.inner.geometry().capacity
    }

    /// Longest message the topic carries.
    pub fn max_message_size(&self) -> u64 {
        self.inner.geometry().config.max_message_size
    }

    /// This publisher's wait strategy.
    pub fn wait_strategy(&self) -> WaitStrategy {
        self.inner.strategy
    }

    /// Changes how this publisher waits for room.
    pub fn set_wait_strategy(&mut self, wait: WaitStrategy) {
        self.inner.strategy = wait;
    }

    /// Loom models only: the death of the publisher's process (see
    /// `Producer::die`).
    #[cfg(shmq_loom)]
    #[doc(hidden)]
    pub fn loom_die(self) {
        self.inner.die();
    }
}
