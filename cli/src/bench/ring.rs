//! The throughput floor: a minimal single-producer single-consumer ring of
//! fixed slots in shared memory (Lamport's ring with cached indices, as in
//! rigtorp's `SPSCQueue`).
//!
//! ```text
//!  0     head: u64, written by the producer only (own 128-byte region)
//!  128   tail: u64, written by the consumer only (own 128-byte region)
//!  4096  slot 0 | slot 1 | ... | slot N-1   (slot = message size rounded up to 64)
//! ```
//!
//! `head` and `tail` are monotonic message counts; message `i` lives in
//! slot `i & (N - 1)`. The producer copies a message into the slot at its
//! head and publishes `head + 1` with Release, once per message; the
//! consumer Acquire-loads `head`, copies the message out and publishes its
//! tail with Release, once per message. Each side keeps its last reading of
//! the other's index and reloads it only when that copy says the ring is
//! full (producer) or empty (consumer). No headers, no padding, no wake-up
//! protocol, no liveness words: the least a ring between two processes can
//! do per message, for shmq's rings to be compared with.

use std::sync::atomic::Ordering::{Acquire, Release};

use super::error::{Error, Result};
use super::peer::{Liveness, spin_until};
use super::shm::{SharedMemory, round_up};
use super::transport::Endpoint;

const HEAD: usize = 0;
const TAIL: usize = 128;
const SLOTS: usize = 4096;

/// Bytes of ring memory for a stream of `size`-byte messages; shmq's
/// throughput queues get the same (see `queue`).
pub fn ring_bytes(size: usize) -> usize {
    (4 * size).max(256 << 10).next_power_of_two()
}

/// Slot size and count for `size`-byte messages.
#[derive(Debug, Clone, Copy)]
struct Shape {
    stride: usize,
    slots: u64,
}

impl Shape {
    fn new(size: usize) -> Self {
        let stride = round_up(size.max(8), 64);
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

/// Creates the ring's shared memory for `size`-byte messages.
pub fn create(name: &str, size: usize) -> Result<SharedMemory> {
    SharedMemory::create(&format!("{name}.ring"), Shape::new(size).bytes())
}

/// Opens the parent's ring at `path`.
pub fn open(path: &str, size: usize) -> Result<SharedMemory> {
    SharedMemory::open(path, Shape::new(size).bytes())
}

/// The producing side (the parent).
#[derive(Debug)]
pub struct Producer {
    memory: SharedMemory,
    shape: Shape,
    head: u64,
    cached_tail: u64,
    live: Liveness,
}

impl Producer {
    pub fn new(memory: SharedMemory, size: usize, live: Liveness) -> Self {
        Producer {
            memory,
            shape: Shape::new(size),
            head: 0,
            cached_tail: 0,
            live,
        }
    }
}

impl Endpoint for Producer {
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
        // SAFETY: head - tail < slots, so the consumer is not reading this
        // slot, and it reads it only after our Release of head below.
        unsafe { self.memory.write(self.shape.offset(self.head), msg) };
        self.head += 1;
        self.memory.word(HEAD).store(self.head, Release);
        Ok(())
    }

    fn recv(&mut self, _: &mut [u8]) -> Result<()> {
        Err(Error::new("the ring carries messages one way"))
    }
}

/// The consuming side (the peer).
#[derive(Debug)]
pub struct Consumer {
    memory: SharedMemory,
    shape: Shape,
    tail: u64,
    cached_head: u64,
    live: Liveness,
}

impl Consumer {
    pub fn new(memory: SharedMemory, size: usize, live: Liveness) -> Self {
        Consumer {
            memory,
            shape: Shape::new(size),
            tail: 0,
            cached_head: 0,
            live,
        }
    }
}

impl Endpoint for Consumer {
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
        // SAFETY: tail < head, so this slot is published, and the producer
        // overwrites it only after our Release of the new tail below.
        unsafe { self.memory.read(self.shape.offset(self.tail), buf) };
        self.tail += 1;
        self.memory.word(TAIL).store(self.tail, Release);
        Ok(())
    }
}
