//! The throughput floors: a minimal single-producer single-consumer ring of
//! fixed slots in shared memory (Lamport's ring with cached indices, as in
//! rigtorp's `SPSCQueue`), with bare slots (`ring`, the `floor`'s stream)
//! or slots laid out as shmq's records (`ring-record`, `floor-record`'s).
//!
//! ```text
//!  0     head: u64, written by the producer only (own 128-byte region)
//!  128   tail: u64, written by the consumer only (own 128-byte region)
//!  256   ack:  u64, written by the consumer only (own 128-byte region)
//!  4096  slot 0 | slot 1 | ... | slot N-1
//!
//!  ring:         slot = the message, rounded up to 64 bytes
//!                [message bytes 0..size]
//!  ring-record:  slot = 16-byte header + the message, rounded up to 128
//!                [position + 1 | length | message bytes 0..size]
//! ```
//!
//! `head` and `tail` are monotonic message counts; message `i` lives in
//! slot `i & (N - 1)`. The producer copies a message into the slot at its
//! head and publishes `head + 1` with Release, once per message; the
//! consumer Acquire-loads `head`, copies the message out and publishes its
//! tail with Release, once per message. Each side keeps its last reading of
//! the other's index and reloads it only when that copy says the ring is
//! full (producer) or empty (consumer). No padding, no wake-up protocol, no
//! liveness words: the least a ring between two processes can do per
//! message, for shmq's rings to be compared with.
//!
//! `ring`: a 64-byte message is one cache line per slot, which no queue that
//! frames its messages can match. `ring-record`: the slot of a shmq record,
//! 128 bytes with a 16-byte header (a commit-like word, here the message's
//! position plus one, then the length; the consumer checks both) before the
//! payload, so a 64-byte message spans two cache lines as shmq's does. The
//! two differ only in that layout.
//!
//! `ack` is the benchmark's back channel (see `measure`): after the last
//! message of a block the consumer stores the block's number there, and the
//! producer waits for it before it moves on. It is outside the timed part.

use std::sync::atomic::Ordering::{Acquire, Release};

use super::error::{Error, Result};
use super::peer::{Liveness, spin_until};
use super::shm::{SharedMemory, round_up};
use super::transport::Endpoint;

const HEAD: usize = 0;
const TAIL: usize = 128;
const ACK: usize = 256;
const SLOTS: usize = 4096;

/// `ring`'s slot layout: the message alone.
pub const LINE: usize = 0;
/// `ring-record`'s slot layout: a 16-byte header before the message.
pub const RECORD: usize = 16;

/// Bytes of ring memory for a stream of `size`-byte messages; shmq's
/// throughput queues get the same (see `queue`).
pub fn ring_bytes(size: usize) -> usize {
    (4 * size).max(256 << 10).next_power_of_two()
}

/// Slot size and count for `size`-byte messages with a `header`-byte
/// header.
#[derive(Debug, Clone, Copy)]
struct Shape {
    stride: usize,
    slots: u64,
}

impl Shape {
    fn new(size: usize, header: usize) -> Self {
        let stride = if header == LINE {
            round_up(size.max(8), 64)
        } else {
            round_up(size + header, 128)
        };
        let slots = (ring_bytes(size) / stride).max(2).next_power_of_two();
        Shape {
            stride,
            slots: slots as u64,
        }
    }

    fn bytes(self) -> usize {
        SLOTS + self.stride * self.slots as usize
    }

    #[inline]
    fn offset(self, position: u64) -> usize {
        SLOTS + (position & (self.slots - 1)) as usize * self.stride
    }
}

/// Creates the ring's shared memory for `size`-byte messages in
/// `HEADER`'s layout.
pub fn create<const HEADER: usize>(name: &str, size: usize) -> Result<SharedMemory> {
    SharedMemory::create(&format!("{name}.ring"), Shape::new(size, HEADER).bytes())
}

/// Opens the parent's ring at `path`.
pub fn open<const HEADER: usize>(path: &str, size: usize) -> Result<SharedMemory> {
    SharedMemory::open(path, Shape::new(size, HEADER).bytes())
}

/// The producing side (the parent), slots in `HEADER`'s layout ([`LINE`]
/// or [`RECORD`]).
#[derive(Debug)]
pub struct Producer<const HEADER: usize> {
    memory: SharedMemory,
    shape: Shape,
    head: u64,
    cached_tail: u64,
    last_ack: u64,
    live: Liveness,
}

impl<const HEADER: usize> Producer<HEADER> {
    const LAYOUT_OK: () = assert!(HEADER == LINE || HEADER == RECORD, "no such ring layout");

    pub fn new(memory: SharedMemory, size: usize, live: Liveness) -> Self {
        let () = Self::LAYOUT_OK;
        Producer {
            memory,
            shape: Shape::new(size, HEADER),
            head: 0,
            cached_tail: 0,
            last_ack: 0,
            live,
        }
    }
}

impl<const HEADER: usize> Endpoint for Producer<HEADER> {
    #[inline]
    fn send(&mut self, msg: &[u8]) -> Result<()> {
        if self.head - self.cached_tail == self.shape.slots {
            let (tail, head, slots) = (self.memory.word(TAIL), self.head, self.shape.slots);
            // Acquire: pairs with the consumer's Release of its tail; it is
            // done reading the slots below it.
            self.cached_tail = spin_until(&self.live, || {
                let tail = tail.load(Acquire);
                (head - tail < slots).then_some(tail)
            })?;
        }
        let slot = self.shape.offset(self.head);
        if HEADER == RECORD {
            let mut header = [0u8; RECORD];
            header[..8].copy_from_slice(&(self.head + 1).to_le_bytes());
            header[8..].copy_from_slice(&(msg.len() as u64).to_le_bytes());
            // SAFETY: as for the message below.
            unsafe { self.memory.write(slot, &header) };
        }
        // SAFETY: head - tail < slots, so the consumer is not reading this
        // slot, and it reads it only after our Release of head below.
        unsafe { self.memory.write(slot + HEADER, msg) };
        self.head += 1;
        self.memory.word(HEAD).store(self.head, Release);
        Ok(())
    }

    fn recv(&mut self, _: &mut [u8]) -> Result<()> {
        Err(Error::new("the ring carries messages one way"))
    }

    #[inline]
    fn recv_ack(&mut self) -> Result<u64> {
        let (ack, last) = (self.memory.word(ACK), self.last_ack);
        // Acquire: pairs with the consumer's Release of the ack (nothing
        // is published with it; it only orders the blocks).
        self.last_ack = spin_until(&self.live, || {
            let ack = ack.load(Acquire);
            (ack != last).then_some(ack)
        })?;
        Ok(self.last_ack)
    }
}

/// The consuming side (the peer).
#[derive(Debug)]
pub struct Consumer<const HEADER: usize> {
    memory: SharedMemory,
    shape: Shape,
    tail: u64,
    cached_head: u64,
    live: Liveness,
}

impl<const HEADER: usize> Consumer<HEADER> {
    pub fn new(memory: SharedMemory, size: usize, live: Liveness) -> Self {
        let () = Producer::<HEADER>::LAYOUT_OK;
        Consumer {
            memory,
            shape: Shape::new(size, HEADER),
            tail: 0,
            cached_head: 0,
            live,
        }
    }
}

impl<const HEADER: usize> Endpoint for Consumer<HEADER> {
    fn send(&mut self, _: &[u8]) -> Result<()> {
        Err(Error::new("the ring carries messages one way"))
    }

    #[inline]
    fn recv(&mut self, buf: &mut [u8]) -> Result<()> {
        if self.tail == self.cached_head {
            let (head, tail) = (self.memory.word(HEAD), self.tail);
            // Acquire: pairs with the producer's Release of head; the
            // message below it is fully written.
            self.cached_head = spin_until(&self.live, || {
                let head = head.load(Acquire);
                (head != tail).then_some(head)
            })?;
        }
        let slot = self.shape.offset(self.tail);
        if HEADER == RECORD {
            let mut header = [0u8; RECORD];
            // SAFETY: as for the message below.
            unsafe { self.memory.read(slot, &mut header) };
            let position = u64::from_le_bytes(header[..8].try_into().expect("8 bytes"));
            let len = u64::from_le_bytes(header[8..].try_into().expect("8 bytes"));
            if position != self.tail + 1 || len != buf.len() as u64 {
                return Err(Error::new(format!(
                    "ring-record: record {position} of {len} bytes, expected {} of {}",
                    self.tail + 1,
                    buf.len()
                )));
            }
        }
        // SAFETY: tail < head, so this slot is published, and the producer
        // overwrites it only after our Release of the new tail below.
        unsafe { self.memory.read(slot + HEADER, buf) };
        self.tail += 1;
        self.memory.word(TAIL).store(self.tail, Release);
        Ok(())
    }

    #[inline]
    fn send_ack(&mut self, block: u64) -> Result<()> {
        // Release: pairs with the producer's Acquire in `recv_ack`.
        self.memory.word(ACK).store(block, Release);
        Ok(())
    }
}
