//! The shared-memory layout: the segment header and the record format.
//!
//! A queue has one receiver and `lanes` sender lanes (1 for a plain queue,
//! up to [`MAX_LANES`] for a mailbox). Each lane is a complete SPSC ring of
//! its own: head and tail lines, owner word, futex for the sender, and
//! `slot_count` slots. What the lanes share is the receiver: its owner word
//! and the one futex word it sleeps on for all of them (the *doorbell*).
//!
//! ```text
//! offset 0     +--------------------------------------------------------+
//!              | Meta (128 B, written once by the creator)              |
//!              |   magic u64 | version u32 | flavour u32                |
//!              |   header_size u32 | slot_size u32 | slot_count u32     |
//!              |   lanes u32 | max_message_size u64 | segment_size u64  |
//!              |   ready u32                                            |
//! offset 128   +--------------------------------------------------------+
//!              | ReceiverLine (128 B, written only on sleep and attach) |
//!              |   rx: sleeping u32 (futex, the doorbell), waker_cpu u32|
//!              |   receiver: token u64, epoch u32 | symmetric u32      |
//!              |   sender_events u32                                    |
//!              |   ready_lanes u64 (bitmap) | sleeps u64               |
//! offset 256   +--------------------------------------------------------+
//!              | lane 0: LaneHeader (384 B)                             |
//!              |   ProducerLine (128 B, written by its sender per record)|
//!              |     head u64 | counters: messages, records, sleeps, wakes|
//!              |   ConsumerLine (128 B, written by the receiver)        |
//!              |     tail u64 | counters (4 x u64) | sender_token u64   |
//!              |   LaneControl (128 B, written only on sleep and attach)|
//!              |     tx: sleeping u32 (futex), waker_cpu u32            |
//!              |     sender: token u64, epoch u32                       |
//! offset 640   +--------------------------------------------------------+
//!              | lane 1 ... lane L-1                                    |
//! header_size  +--------------------------------------------------------+
//! = 256+384 L  | lane 0's slots: slot 0 | ... | slot N-1  (N x slot_size)|
//!              | lane 1's slots ...                                     |
//!              +--------------------------------------------------------+
//! ```
//!
//! Every field is an atomic, so that reading what another (possibly hostile)
//! process writes is never a data race in Rust's memory model; nothing read
//! from the header is used before `segment::validate_header` checks it.
//!
//! A *record* starts at a slot boundary with a 16-byte [`RecordHeader`] and
//! its payload follows contiguously, spilling into as many following slots as
//! it needs. A record never wraps: when it would, the sender first writes a
//! padding record that fills the ring to its end.
//!
//! ```text
//! record at position p (slot p & (N-1)):
//!   0    len u32      payload bytes in this record
//!   4    commit u32   0 = nothing here yet; else kind | (p as u32) << 8
//!   8    total u64    whole message length (fragments), len, or 0 (padding)
//!   16   payload ...  (on into the following slots)
//! ```
//!
//! The commit word is what publishes a record: the sender writes it last,
//! with Release, and the receiver polls the commit word of the record at its
//! tail (so a hop moves the record's own cache lines and nothing else). It is
//! stamped with the low 24 bits of the record's position, so a record left
//! from an earlier lap is told apart from a new one. Before publishing a
//! record the sender zeroes the commit word of the position after it, so
//! the receiver, having read this record, finds `0` there rather than stale
//! bytes (an old header or payload) until the next record is committed. That
//! is why the sender keeps one slot free and a record holds at most
//! `N - 1` slots.

use crate::sync::{AtomicU32, AtomicU64, FutexWord};

/// `b"SHMQRING"` read as a little-endian `u64`.
pub(crate) const MAGIC: u64 = u64::from_le_bytes(*b"SHMQRING");
/// `b"SHMQSEMA"` read as a little-endian `u64`: a semaphore's segment
/// (`semaphore.rs`).
pub(crate) const SEMAPHORE_MAGIC: u64 = u64::from_le_bytes(*b"SHMQSEMA");
/// `b"SHMQBARR"` read as a little-endian `u64`: a barrier's segment
/// (`barrier.rs`).
pub(crate) const BARRIER_MAGIC: u64 = u64::from_le_bytes(*b"SHMQBARR");
/// `b"SHMQTOPC"` read as a little-endian `u64`: a topic's subscriber table
/// (`NAME.subs`, see `topic`); the topic's ring is a queue segment of
/// flavour [`Flavour::Topic`].
pub(crate) const TOPIC_MAGIC: u64 = u64::from_le_bytes(*b"SHMQTOPC");

/// What kind of shmq segment the magic `magic` starts, if any.
pub(crate) fn kind_of_magic(magic: u64) -> Option<&'static str> {
    match magic {
        MAGIC => Some("queue"),
        SEMAPHORE_MAGIC => Some("semaphore"),
        BARRIER_MAGIC => Some("barrier"),
        TOPIC_MAGIC => Some("topic subscriber table"),
        _ => None,
    }
}

/// The error for a ready segment that does not start with the magic of
/// the kind `expected`: [`OpenErrorKind::WrongKind`] if it is another kind
/// of shmq segment, else [`OpenErrorKind::BadMagic`].
///
/// [`OpenErrorKind::WrongKind`]: crate::OpenErrorKind::WrongKind
/// [`OpenErrorKind::BadMagic`]: crate::OpenErrorKind::BadMagic
pub(crate) fn wrong_magic(magic: u64, expected: &'static str) -> crate::OpenError {
    match kind_of_magic(magic) {
        Some(found) => crate::OpenErrorKind::WrongKind { found, expected }.into(),
        None => crate::OpenErrorKind::BadMagic { found: magic }.into(),
    }
}

/// Layout version; bumped on any incompatible change to this file.
/// Version 3 added sender lanes and the `Hello` record; version 4 the
/// topic flavour and the message-number words of [`ProducerLine`].
pub(crate) const VERSION: u32 = 4;
/// Value of [`Meta::ready`] once the creator has initialised the header.
pub(crate) const READY: u32 = u32::from_le_bytes(*b"REDY");
/// Size of the part of the header every queue has (`Meta` and
/// `ReceiverLine`); the lane headers follow it.
pub(crate) const HEADER_SIZE: usize = 256;
/// Size of one lane's header.
pub(crate) const LANE_HEADER_SIZE: usize = 384;
/// Offset of lane `lane`'s header in the segment.
pub(crate) const fn lane_header_offset(lane: usize) -> usize {
    HEADER_SIZE + lane * LANE_HEADER_SIZE
}
/// Largest header: the fixed part and [`MAX_LANES`] lane headers.
pub(crate) const MAX_HEADER_SIZE: usize = lane_header_offset(MAX_LANES);
/// Most sender lanes a queue can have (one bit each in
/// [`ReceiverLine::ready_lanes`]).
pub(crate) const MAX_LANES: usize = 64;
/// Size of a record header.
pub(crate) const RECORD_HEADER: usize = 16;
/// Offset of the commit word in a record header.
pub(crate) const COMMIT_OFFSET: usize = 4;

/// Slot sizes are multiples of this (one cache line pair).
pub(crate) const SLOT_ALIGN: usize = 64;
/// Smallest slot size.
pub(crate) const MIN_SLOT_SIZE: usize = 64;
/// Largest slot size.
pub(crate) const MAX_SLOT_SIZE: usize = 16 << 20;
/// Fewest slots.
pub(crate) const MIN_SLOTS: usize = 2;
/// Most slots.
pub(crate) const MAX_SLOTS: usize = 1 << 24;
/// Largest ring (slot_size x slot_count), so record lengths fit in a `u32`.
pub(crate) const MAX_RING_BYTES: usize = 1 << 32;
/// Largest total of all lanes' rings.
pub(crate) const MAX_SEGMENT_RING_BYTES: usize = 1 << 36;
/// Largest `max_message_size` a queue may declare (1 TiB).
pub(crate) const MAX_MESSAGE_LIMIT: u64 = 1 << 40;

/// Which protocol the segment's ring speaks; recorded so later flavours
/// (multi-producer, broadcast) can share the segment code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum Flavour {
    /// A queue: one receiver, one sender per lane (a mailbox has several
    /// lanes).
    Spsc = 1,
    /// A topic's ring: one lane, whose publisher gates on the subscribers
    /// of the topic's subscriber table rather than on a receiver.
    Topic = 2,
}

impl Flavour {
    /// The flavour numbered `v`, if any.
    pub(crate) fn from_u32(v: u32) -> Option<Self> {
        match v {
            1 => Some(Flavour::Spsc),
            2 => Some(Flavour::Topic),
            _ => None,
        }
    }

    /// What a user calls a segment of this flavour.
    pub(crate) fn kind(self) -> &'static str {
        match self {
            Flavour::Spsc => "queue",
            Flavour::Topic => "topic",
        }
    }
}

/// Immutable configuration, written by the creator before `ready`.
#[repr(C, align(128))]
#[derive(Debug, Default)]
pub(crate) struct Meta {
    pub(crate) magic: AtomicU64,
    pub(crate) version: AtomicU32,
    pub(crate) flavour: AtomicU32,
    pub(crate) header_size: AtomicU32,
    pub(crate) slot_size: AtomicU32,
    pub(crate) slot_count: AtomicU32,
    /// Sender lanes, 1 to [`MAX_LANES`].
    pub(crate) lanes: AtomicU32,
    pub(crate) max_message_size: AtomicU64,
    pub(crate) segment_size: AtomicU64,
    /// `READY` once every other field is written. SYNC: ready-publish
    /// (Release by the creator, Acquire by openers).
    pub(crate) ready: AtomicU32,
}

/// Owner and statistics words of one side (sender or receiver).
#[repr(C)]
#[derive(Debug, Default)]
pub(crate) struct Owner {
    /// `0` when detached, else the owner's liveness token (see `peer.rs`).
    pub(crate) token: AtomicU64,
    /// Number of attaches so far; `0` means the side never attached.
    pub(crate) epoch: AtomicU32,
    pub(crate) _reserved: AtomicU32,
}

/// Counters kept by one side, for `shmq stat`. Relaxed; advisory only.
#[repr(C)]
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// Whole messages sent or received.
    pub(crate) messages: AtomicU64,
    /// Records (whole messages, fragments, padding) written or read.
    pub(crate) records: AtomicU64,
    /// Times this side registered as asleep on the futex (about to sleep).
    pub(crate) sleeps: AtomicU64,
    /// Futex wake calls this side made for the other.
    pub(crate) wakes: AtomicU64,
}

/// The sender-owned cache line pair.
#[repr(C, align(128))]
#[derive(Debug, Default)]
pub(crate) struct ProducerLine {
    /// Position (in slots) one past the last committed record. Monotonic.
    /// Records are published by their commit words; head is stored after
    /// each commit. SYNC: head-publish (Release by the sender after the
    /// commit; Acquire by a sender taking the end over, and by a receiver
    /// that reads it as a hint in a stream of long records).
    pub(crate) head: AtomicU64,
    pub(crate) counters: Counters,
    /// Topics only: a seqlock over (`head`, `next_seq`), odd while the
    /// publisher changes them, so that a joining subscriber reads a
    /// consistent pair. SYNC: join-point (Release by the publisher after
    /// the pair, Acquire by a joining subscriber before it).
    pub(crate) seq_guard: AtomicU64,
    /// Topics only: the number of the next message to start at or after
    /// `head` (messages are numbered from 0 by the publishers, in order).
    pub(crate) next_seq: AtomicU64,
}

/// The receiver-owned cache line pair.
#[repr(C, align(128))]
#[derive(Debug, Default)]
pub(crate) struct ConsumerLine {
    /// Position (in slots) one past the last consumed record. Monotonic,
    /// `tail <= head < tail + slot_count` (head can lag one record behind
    /// the commits while a sender dies between its two stores).
    /// SYNC: tail-publish (Release by the receiver after reading a record;
    /// Acquire by the sender before overwriting its slots).
    pub(crate) tail: AtomicU64,
    pub(crate) counters: Counters,
    /// The token of the sender whose records start at `tail`: from the
    /// last `Hello` record the receiver freed (stored before the tail that
    /// frees it), so a receiver that takes over knows who sent what it
    /// finds before the next `Hello`. 0 if none was read yet.
    pub(crate) sender_token: AtomicU64,
}

/// One direction's sleep/wake words.
#[repr(C)]
#[derive(Debug, Default)]
pub(crate) struct WakeSlot {
    /// `1` while the waiting side is (about to be) asleep on this futex.
    pub(crate) sleeping: FutexWord,
    /// CPU the waker ran on when it last woke the sleeper: a sleeper that
    /// wakes up on the same CPU shares it with its peer, and then spinning
    /// only delays the peer.
    pub(crate) waker_cpu: AtomicU32,
}

/// A futex word that any number of waiters, in any process, sleep on (the
/// semaphore's and the barrier's), and the flag that says whether one may
/// be asleep: see `wait::wait_event` and `wait::notify`.
#[repr(C)]
#[derive(Debug, Default)]
pub(crate) struct Event {
    /// Bumped (with Release) by a notifier that found `sleeping` set; a
    /// waiter sleeps while it holds the value read before registering.
    /// SYNC: event-seq.
    pub(crate) seq: FutexWord,
    /// Set to 1 by every waiter before it sleeps, swapped to 0 by the
    /// notifier that wakes them all. Never cleared by a waiter, so one
    /// that leaves (or dies) costs at most one needless wake-up call.
    pub(crate) sleeping: AtomicU32,
}

/// The receiver's futex word (the doorbell every sender rings), its owner
/// word and the barrier mode: written only when the receiver goes to sleep,
/// is woken or attaches, so the per-message reads of it by the senders (is
/// the receiver asleep? still there?) hit a line that stays shared.
#[repr(C, align(128))]
#[derive(Debug, Default)]
pub(crate) struct ReceiverLine {
    /// The receiver waiting for data, on any lane (the doorbell).
    pub(crate) rx: WakeSlot,
    /// Who holds the receiving end.
    pub(crate) receiver: Owner,
    /// Non-zero once a process that cannot take part in the asymmetric
    /// barrier (see `sync::barrier`) has attached: from then on every
    /// publisher uses a full fence. Sticky.
    pub(crate) symmetric: AtomicU32,
    /// Bumped by every sender after it attaches to a lane and after it
    /// detaches, so a mailbox's receiver waiting for messages looks at the
    /// lanes' owner words only when one changed (or when it checks
    /// liveness). SYNC: sender-events (Release by the sender after its
    /// attach or detach, Acquire by the receiver before it reads the owner
    /// words).
    pub(crate) sender_events: AtomicU32,
    /// Bit `i` set: lane `i` rang the doorbell since the receiver last
    /// looked. Set by a sender only when it finds the receiver asleep (and
    /// only if clear: a load before the `fetch_or`), taken by the receiver
    /// after it wakes, to look at those lanes first. A hint: the receiver's
    /// re-check before it sleeps looks at every lane.
    pub(crate) ready_lanes: AtomicU64,
    /// Times the receiver registered as asleep.
    pub(crate) sleeps: AtomicU64,
}

/// One lane's futex word and owner: written only when its sender goes to
/// sleep, is woken, attaches or detaches.
#[repr(C, align(128))]
#[derive(Debug, Default)]
pub(crate) struct LaneControl {
    /// The lane's sender waiting for room (or for the receiver, in `flush`).
    pub(crate) tx: WakeSlot,
    /// Who holds the lane's sending end.
    pub(crate) sender: Owner,
}

/// The fixed part of the segment header.
#[repr(C, align(128))]
#[derive(Debug, Default)]
pub(crate) struct Header {
    pub(crate) meta: Meta,
    pub(crate) receiver: ReceiverLine,
}

/// One sender lane's header: a whole SPSC ring's indices and owner.
#[repr(C, align(128))]
#[derive(Debug, Default)]
pub(crate) struct LaneHeader {
    pub(crate) producer: ProducerLine,
    pub(crate) consumer: ConsumerLine,
    pub(crate) control: LaneControl,
}

#[cfg(not(shmq_loom))]
const _: () = {
    use std::mem::{align_of, offset_of, size_of};
    assert!(size_of::<Header>() == HEADER_SIZE);
    assert!(align_of::<Header>() == 128);
    assert!(offset_of!(Header, meta) == 0);
    assert!(offset_of!(Header, receiver) == 128);
    assert!(size_of::<LaneHeader>() == LANE_HEADER_SIZE);
    assert!(align_of::<LaneHeader>() == 128);
    assert!(offset_of!(LaneHeader, producer) == 0);
    assert!(offset_of!(LaneHeader, consumer) == 128);
    assert!(offset_of!(LaneHeader, control) == 256);
    assert!(offset_of!(Meta, lanes) == 28);
    assert!(offset_of!(Meta, magic) == 0);
    assert!(offset_of!(Meta, version) == 8);
    assert!(offset_of!(Meta, flavour) == 12);
    assert!(offset_of!(Meta, header_size) == 16);
    assert!(offset_of!(Meta, slot_size) == 20);
    assert!(offset_of!(Meta, slot_count) == 24);
    assert!(offset_of!(Meta, max_message_size) == 32);
    assert!(offset_of!(Meta, segment_size) == 40);
    assert!(offset_of!(Meta, ready) == 48);
    assert!(offset_of!(ProducerLine, head) == 0);
    assert!(offset_of!(ProducerLine, counters) == 8);
    assert!(offset_of!(ProducerLine, seq_guard) == 40);
    assert!(offset_of!(ProducerLine, next_seq) == 48);
    assert!(offset_of!(ConsumerLine, tail) == 0);
    assert!(offset_of!(ConsumerLine, counters) == 8);
    assert!(offset_of!(ConsumerLine, sender_token) == 40);
    assert!(size_of::<ProducerLine>() == 128);
    assert!(size_of::<ConsumerLine>() == 128);
    assert!(size_of::<ReceiverLine>() == 128);
    assert!(size_of::<LaneControl>() == 128);
    assert!(size_of::<WakeSlot>() == 8);
    assert!(offset_of!(WakeSlot, sleeping) == 0);
    assert!(offset_of!(WakeSlot, waker_cpu) == 4);
    assert!(size_of::<Event>() == 8);
    assert!(offset_of!(Event, seq) == 0);
    assert!(offset_of!(Event, sleeping) == 4);
    assert!(offset_of!(ReceiverLine, rx) == 0);
    assert!(offset_of!(ReceiverLine, receiver) == 8);
    assert!(offset_of!(ReceiverLine, symmetric) == 24);
    assert!(offset_of!(ReceiverLine, sender_events) == 28);
    assert!(offset_of!(ReceiverLine, ready_lanes) == 32);
    assert!(offset_of!(ReceiverLine, sleeps) == 40);
    assert!(offset_of!(LaneControl, tx) == 0);
    assert!(offset_of!(LaneControl, sender) == 8);
    // One bit per lane in `ready_lanes`.
    assert!(MAX_LANES <= 64);
    assert!(size_of::<Owner>() == 16);
    assert!(size_of::<RecordHeader>() == RECORD_HEADER);
    assert!(offset_of!(RecordHeader, commit) == COMMIT_OFFSET);
    assert!(offset_of!(RecordHeader, total) == 8);
    // Slot starts are 64-byte aligned, so every commit word is 4-aligned.
    assert!(SLOT_ALIGN % 64 == 0 && COMMIT_OFFSET % align_of::<u32>() == 0);
    assert!(HEADER_SIZE % 128 == 0 && LANE_HEADER_SIZE % 128 == 0);
};

/// Validated queue configuration, copied out of the header once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Config {
    pub(crate) slot_size: usize,
    /// Slots of each lane.
    pub(crate) slot_count: usize,
    pub(crate) max_message_size: u64,
    /// Sender lanes.
    pub(crate) lanes: usize,
    /// What the ring is part of: a queue, or a topic (one lane).
    pub(crate) flavour: Flavour,
}

impl Config {
    /// Checks the settings, naming the first one that is impossible.
    pub(crate) fn check(&self) -> Result<(), &'static str> {
        if self.slot_size < MIN_SLOT_SIZE || self.slot_size > MAX_SLOT_SIZE {
            return Err("slot size out of range (64 B to 16 MiB)");
        }
        if self.slot_size % SLOT_ALIGN != 0 {
            return Err("slot size is not a multiple of 64");
        }
        if !self.slot_count.is_power_of_two() {
            return Err("slot count is not a power of two");
        }
        if self.slot_count < MIN_SLOTS || self.slot_count > MAX_SLOTS {
            return Err("slot count out of range (2 to 2^24)");
        }
        if self.slot_size * self.slot_count > MAX_RING_BYTES {
            return Err("ring larger than 4 GiB");
        }
        if self.lanes == 0 || self.lanes > MAX_LANES {
            return Err("sender lanes out of range (1 to 64)");
        }
        if self.flavour == Flavour::Topic && self.lanes != 1 {
            return Err("a topic's ring has one lane");
        }
        if self.slot_size * self.slot_count * self.lanes > MAX_SEGMENT_RING_BYTES {
            return Err("lanes x ring larger than 64 GiB");
        }
        if self.max_message_size > MAX_MESSAGE_LIMIT {
            return Err("max message size larger than 1 TiB");
        }
        if usize::try_from(self.max_message_size).is_err() {
            return Err("max message size does not fit in memory");
        }
        Ok(())
    }

    /// Bytes of one lane's ring (all its slots).
    pub(crate) fn ring_bytes(&self) -> usize {
        self.slot_size * self.slot_count
    }

    /// Bytes of the header, lane headers included; the first lane's slots
    /// start here.
    pub(crate) fn header_size(&self) -> usize {
        lane_header_offset(self.lanes)
    }

    /// Offset of lane `lane`'s slots in the segment.
    pub(crate) fn ring_offset(&self, lane: usize) -> usize {
        self.header_size() + lane * self.ring_bytes()
    }

    /// Total segment size: header plus every lane's slots.
    pub(crate) fn segment_size(&self) -> usize {
        self.ring_offset(self.lanes)
    }

    /// Largest payload of one record: a record may fill the whole ring but
    /// one slot (the sender keeps the slot after its newest record free, see
    /// the module docs).
    pub(crate) fn capacity(&self) -> usize {
        (self.slot_count - 1) * self.slot_size - RECORD_HEADER
    }

    /// Largest payload of one fragment of a message larger than the ring:
    /// half the ring, so the sender fills one half while the receiver drains
    /// the other; at least one slot.
    pub(crate) fn fragment_size(&self) -> usize {
        (self.slot_count / 2).max(1) * self.slot_size - RECORD_HEADER
    }

    /// Slots taken by a record with `len` payload bytes.
    #[inline]
    pub(crate) fn slots_for(&self, len: usize) -> usize {
        (RECORD_HEADER + len).div_ceil(self.slot_size)
    }

    /// Writes the configuration into a zeroed header and publishes `ready`.
    pub(crate) fn initialise(&self, header: &Header) {
        use crate::sync::Ordering::{Relaxed, Release};
        let meta = &header.meta;
        meta.magic.store(MAGIC, Relaxed);
        meta.version.store(VERSION, Relaxed);
        meta.flavour.store(self.flavour as u32, Relaxed);
        meta.header_size.store(self.header_size() as u32, Relaxed);
        meta.slot_size.store(self.slot_size as u32, Relaxed);
        meta.slot_count.store(self.slot_count as u32, Relaxed);
        meta.lanes.store(self.lanes as u32, Relaxed);
        meta.max_message_size.store(self.max_message_size, Relaxed);
        meta.segment_size.store(self.segment_size() as u64, Relaxed);
        // SYNC: ready-publish. Release: every store above is visible to an
        // opener that Acquire-loads READY.
        meta.ready.store(READY, Release);
    }
}

/// What a record holds: the low 8 bits of [`RecordHeader::commit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum Kind {
    /// A whole message.
    Message = 1,
    /// Fills the ring from here to its end; carries no payload.
    Padding = 2,
    /// First fragment of a message larger than the ring; `total` is the
    /// message length.
    First = 3,
    /// A middle fragment.
    Middle = 4,
    /// The last fragment.
    Last = 5,
    /// The first record of a sender that attached to the lane; carries no
    /// payload, and its token in `total`.
    Hello = 6,
}

impl Kind {
    pub(crate) fn from_u32(v: u32) -> Option<Self> {
        Some(match v {
            1 => Self::Message,
            2 => Self::Padding,
            3 => Self::First,
            4 => Self::Middle,
            5 => Self::Last,
            6 => Self::Hello,
            _ => return None,
        })
    }
}

/// The 16 bytes at the start of every record. `len` and `total` are plain
/// data, written before the commit word that publishes them and read after
/// it is acquired; `commit` is only ever written atomically (through
/// `SlotMemory::commit_word`), and the value read here is not used.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub(crate) struct RecordHeader {
    /// Payload bytes in this record.
    pub(crate) len: u32,
    /// The commit word: see [`stamp`].
    pub(crate) commit: u32,
    /// Whole message length (for fragments), `len` (messages), 0 (padding)
    /// or the sender's token (`Hello`).
    pub(crate) total: u64,
}

impl RecordHeader {
    #[inline]
    pub(crate) fn from_bytes(bytes: &[u8]) -> Self {
        bytemuck::pod_read_unaligned(&bytes[..RECORD_HEADER])
    }
}

/// The commit word of a `kind` record at slot position `position`: the kind
/// in the low 8 bits, the low 24 bits of the position above it. Never 0.
#[inline]
pub(crate) fn stamp(kind: Kind, position: u64) -> u32 {
    kind as u32 | (position as u32) << 8
}

/// The kind of a record whose commit word is `commit`, if the word is
/// stamped for `position`; `Err` says what is wrong with it.
#[inline]
pub(crate) fn unstamp(commit: u32, position: u64) -> Result<Kind, &'static str> {
    if commit & !0xff != (position as u32) << 8 {
        return Err("record stamped for another position");
    }
    Kind::from_u32(commit & 0xff).ok_or("unknown record kind")
}

/// A topic's control line, the control line of its subscriber table
/// (`NAME.subs`): the settings the creator chose, the futex word the
/// subscribers sleep on, and the *mark*.
///
/// The mark is a seqlock over three words: `mark`, below which the
/// publisher may overwrite slots (a subscriber whose tail is below it was
/// overrun), and the *resume point* (`resume_pos`, `resume_seq`): the
/// oldest message that starts at or after `mark`, and its number, where
/// an overrun subscriber goes on. Only topics whose subscribers read by
/// copying (lossy ones, and those with a lag limit) and topics with
/// history move it.
#[repr(C, align(128))]
#[derive(Debug, Default)]
pub(crate) struct TopicControl {
    /// 0: lossless; 1: lossy.
    pub(crate) lossy: AtomicU32,
    /// Messages kept for late subscribers that ask for them.
    pub(crate) history: AtomicU32,
    /// Milliseconds a lossless publisher waits for a subscriber before it
    /// cuts it loose; 0 for never.
    pub(crate) lag_limit_ms: AtomicU32,
    pub(crate) _reserved: AtomicU32,
    /// Where subscribers waiting for a message sleep; the publisher wakes
    /// them all with one call after a commit if one registered.
    pub(crate) event: Event,
    /// Odd while the publisher moves the mark. SYNC: mark (Release by the
    /// publisher after its stores, Acquire by a subscriber before its
    /// loads; and the fence pairs of `topic::shared`).
    pub(crate) mark_guard: AtomicU64,
    pub(crate) mark: AtomicU64,
    pub(crate) resume_pos: AtomicU64,
    pub(crate) resume_seq: AtomicU64,
    /// Times a subscriber registered as asleep.
    pub(crate) sleeps: AtomicU64,
    /// Wake calls the publishers made for the subscribers.
    pub(crate) wakes: AtomicU64,
}

/// One subscriber's line in a topic's subscriber table: its owner word,
/// its tail (which a lossless publisher waits for) and its counters.
#[repr(C, align(128))]
#[derive(Debug, Default)]
pub(crate) struct SubscriberLine {
    /// Who holds this entry; 0 when free.
    pub(crate) owner: Owner,
    /// The subscriber's position: it has read every record below it.
    /// SYNC: tail-publish, as a queue's (Release by the subscriber after
    /// reading; Acquire by the publisher before overwriting).
    pub(crate) tail: AtomicU64,
    /// Number of the next message the subscriber will take (for `stat`).
    pub(crate) next_seq: AtomicU64,
    /// Messages received.
    pub(crate) received: AtomicU64,
    /// Messages missed, in all (`Lagged` reports).
    pub(crate) lagged: AtomicU64,
    /// Times it was found overrun.
    pub(crate) lag_events: AtomicU64,
    /// Set by a publisher with a lag limit that cut the subscriber loose
    /// (stopped waiting for it); cleared by the subscriber when it goes on
    /// from the resume point. SYNC: cut (Release by the subscriber after
    /// its new tail, Acquire by the publisher before reading the tail).
    pub(crate) cut: AtomicU32,
    pub(crate) _reserved: AtomicU32,
}

#[cfg(not(shmq_loom))]
const _: () = {
    use std::mem::{align_of, offset_of, size_of};
    assert!(size_of::<TopicControl>() == 128);
    assert!(align_of::<TopicControl>() == 128);
    assert!(offset_of!(TopicControl, lossy) == 0);
    assert!(offset_of!(TopicControl, history) == 4);
    assert!(offset_of!(TopicControl, lag_limit_ms) == 8);
    assert!(offset_of!(TopicControl, event) == 16);
    assert!(offset_of!(TopicControl, mark_guard) == 24);
    assert!(offset_of!(TopicControl, mark) == 32);
    assert!(offset_of!(TopicControl, resume_pos) == 40);
    assert!(offset_of!(TopicControl, resume_seq) == 48);
    assert!(offset_of!(TopicControl, sleeps) == 56);
    assert!(offset_of!(TopicControl, wakes) == 64);
    assert!(size_of::<SubscriberLine>() == 128);
    assert!(align_of::<SubscriberLine>() == 128);
    assert!(offset_of!(SubscriberLine, owner) == 0);
    assert!(offset_of!(SubscriberLine, tail) == 16);
    assert!(offset_of!(SubscriberLine, next_seq) == 24);
    assert!(offset_of!(SubscriberLine, received) == 32);
    assert!(offset_of!(SubscriberLine, lagged) == 40);
    assert!(offset_of!(SubscriberLine, lag_events) == 48);
    assert!(offset_of!(SubscriberLine, cut) == 56);
};

// SAFETY: `repr(C)`, made of the crate's atomics only (and `Event`, also
// atomics), alignment 128; `Default` is all zeros.
unsafe impl crate::table::Shared for TopicControl {}
// SAFETY: as above.
unsafe impl crate::table::Shared for SubscriberLine {}
