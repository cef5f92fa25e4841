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

use shmq::{Queue, QueueBuilder, Receiver, Sender, WaitStrategy};

use super::error::{Context, Error, Result};
use super::ring;
use super::transport::{Endpoint, Mode};

/// Bytes per slot.
const SLOT_SIZE: usize = 128;
/// Bytes of a record header in the ring (see the library's layout).
const RECORD_HEADER: usize = 16;

/// Slots of a latency queue for `size`-byte messages: a power of two, at
/// least 64, with room for two messages in one piece.
fn latency_slots(size: usize) -> usize {
    (2 * size + RECORD_HEADER)
        .div_ceil(SLOT_SIZE)
        .max(64)
        .next_power_of_two()
}

/// Slots of the streaming queue: the floor ring's bytes.
fn stream_slots(size: usize) -> usize {
    (ring::ring_bytes(size) / SLOT_SIZE).max(latency_slots(size))
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
    /// Creates `<base>-ping` and `<base>-pong` (the parent).
    pub fn create(base: &str, size: usize, mode: Mode, wait: WaitStrategy) -> Result<Self> {
        let ping_slots = match mode {
            Mode::Latency => latency_slots(size),
            Mode::Throughput => stream_slots(size),
        };
        let mut names = Vec::new();
        let mut create = |suffix: &str, slots: usize| -> Result<Queue> {
            let name = format!("{base}-{suffix}");
            let queue = QueueBuilder::new(&name)
                .slot_size(SLOT_SIZE)
                .slots(slots)
                .max_message_size(size.max(64) as u64)
                .wait_strategy(wait)
                .create()
                .with_context(|| format!("shmq: create queue {name}"))?;
            names.push(name);
            Ok(queue)
        };
        // On an early return, `Queues` is not built yet: remove by hand.
        let queues = create("ping", ping_slots).and_then(|ping| {
            let pong = create("pong", latency_slots(size))?;
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

    /// Removes the queues' names; both processes keep their mappings.
    pub fn unlink(&mut self) {
        for name in self.names.drain(..) {
            let _ = Queue::remove(&name);
        }
    }

    /// The parent's end: sends on `ping`, receives on `pong`.
    pub fn parent_end(&self) -> Result<End> {
        Ok(End {
            tx: self.ping.sender().context("shmq: attach the sender")?,
            rx: self.pong.receiver().context("shmq: attach the receiver")?,
        })
    }

    /// The peer's end: receives on `ping`, sends on `pong`.
    pub fn child_end(&self) -> Result<End> {
        Ok(End {
            tx: self.pong.sender().context("shmq: attach the sender")?,
            rx: self.ping.receiver().context("shmq: attach the receiver")?,
        })
    }

    /// Futex sleeps per received message, both receivers together, from
    /// the queues' counters.
    pub fn sleeps_per_message(&self) -> Option<f64> {
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

/// One side's sender and receiver.
#[derive(Debug)]
pub struct End {
    tx: Sender,
    rx: Receiver,
}

impl Endpoint for End {
    #[inline]
    fn send(&mut self, msg: &[u8]) -> Result<()> {
        self.tx.send(msg).context("shmq: send")
    }

    #[inline]
    fn recv(&mut self, buf: &mut [u8]) -> Result<()> {
        let len = self
            .rx
            .recv_with(|bytes| {
                if bytes.len() == buf.len() {
                    buf.copy_from_slice(bytes);
                }
                bytes.len()
            })
            .context("shmq: receive")?;
        if len == buf.len() {
            Ok(())
        } else {
            Err(Error::new(format!(
                "shmq: received {len} bytes, expected {}",
                buf.len()
            )))
        }
    }
}
