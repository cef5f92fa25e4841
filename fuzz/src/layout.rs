//! The segment and record layout, as the reference model knows it (written
//! from the protocol, layout version 4, not taken from the library).
//!
//! ```text
//! 0             Meta (128 B): magic u64 @0, version u32 @8, flavour u32 @12,
//!               header_size u32 @16, slot_size u32 @20, slot_count u32 @24,
//!               lanes u32 @28, max_message_size u64 @32, segment_size u64 @40,
//!               ready u32 @48
//! 128           ReceiverLine (128 B): rx futex, receiver token u64 @136,
//!               epoch u32 @144, symmetric u32 @152, ready_lanes u64 @160, ...
//! 256 + 384 i   lane i's LaneHeader: head u64 @+0, tail u64 @+128,
//!               sender_token u64 @+168, tx futex @+256, sender token u64
//!               @+264, epoch u32 @+272
//! header_size   lane 0's slots, lane 1's slots, ... (header_size = 256 + 384 L)
//! ```

/// Size of the fixed part of the header (`Meta` and `ReceiverLine`); a file
/// shorter than this is not even looked at.
pub const HEADER_SIZE: usize = 256;
/// Size of one lane's header.
pub const LANE_HEADER_SIZE: usize = 384;
/// Most sender lanes a queue can have.
pub const MAX_LANES: usize = 64;
/// Layout version in the segment header (3: sender lanes and `Hello`; 4:
/// the topic flavour and the join point in the producer line).
pub const LAYOUT_VERSION: u32 = 4;
/// The flavour number of an SPSC (and mailbox) queue.
pub const FLAVOUR_SPSC: u32 = 1;
/// The flavour number of a topic's ring, which a queue's open refuses.
pub const FLAVOUR_TOPIC: u32 = 2;
/// `b"SHMQRING"` read as a little-endian `u64`.
pub const MAGIC: u64 = u64::from_le_bytes(*b"SHMQRING");

/// Offsets of the `Meta` fields.
pub mod meta {
    pub const MAGIC: usize = 0;
    pub const VERSION: usize = 8;
    pub const FLAVOUR: usize = 12;
    pub const HEADER_SIZE: usize = 16;
    pub const SLOT_SIZE: usize = 20;
    pub const SLOT_COUNT: usize = 24;
    pub const LANES: usize = 28;
    pub const MAX_MESSAGE_SIZE: usize = 32;
    pub const SEGMENT_SIZE: usize = 40;
    pub const READY: usize = 48;
    /// End of the last field.
    pub const END: usize = 52;
}

/// Offsets of the words of a lane header, from its start.
pub mod lane {
    pub const HEAD: usize = 0;
    pub const TAIL: usize = 128;
    pub const SENDER_TOKEN: usize = 128 + 40;
    pub const TX_FUTEX: usize = 256;
    pub const OWNER_TOKEN: usize = 256 + 8;
    pub const OWNER_EPOCH: usize = 256 + 16;
}

/// Size of a record header.
pub const RECORD_HEADER: usize = 16;
/// Largest tail the receiver accepts when it attaches.
pub const MAX_POSITION: u64 = 1 << 62;
/// Largest `max_message_size` a queue may declare.
pub const MAX_MESSAGE_LIMIT: u64 = 1 << 40;
/// Largest ring of one lane.
pub const MAX_RING_BYTES: u128 = 1 << 32;
/// Largest total of all lanes' rings.
pub const MAX_SEGMENT_RING_BYTES: u128 = 1 << 36;
/// `drain_ring` and `drain_lanes` refuse queues whose rings (all lanes)
/// take more than this (they return 0).
pub const DRAIN_RING_LIMIT: usize = 1 << 20;
/// Offset of the commit word in a record header.
pub const COMMIT_OFFSET: usize = 4;
/// The bits of a position that a commit word keeps (its stamp).
pub const STAMP_MASK: u64 = 0xFF_FFFF;

/// Record kinds.
pub const MESSAGE: u8 = 1;
/// Padding to the end of the ring.
pub const PADDING: u8 = 2;
/// First fragment.
pub const FIRST: u8 = 3;
/// Middle fragment.
pub const MIDDLE: u8 = 4;
/// Last fragment.
pub const LAST: u8 = 5;
/// A sender's first record on its lane: no payload (`len` 0), its token in
/// `total`. One slot; the receiver frees it and drops the lane's partly
/// assembled message, if any. Not a message.
pub const HELLO: u8 = 6;

/// The commit word a sender stores for a record of `kind` at monotonic
/// slot position `position`: the kind in bits 0..8, the low 24 bits of the
/// position above it.
pub fn commit_word(kind: u8, position: u64) -> u32 {
    u32::from(kind) | ((position & STAMP_MASK) as u32) << 8
}

/// The arguments of `shmq::fuzz::drain_ring`, minus the ring bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Params {
    pub slot_size: usize,
    pub slot_count: usize,
    pub max_message_size: u64,
    /// Passed to `drain_ring`; the receiver must not look at it.
    pub head: u64,
    pub tail: u64,
}

/// Mirror of `Config::check` for a queue of `lanes` sender lanes: the first
/// impossible setting, if any, in the library's words and order.
pub fn config_error(
    slot_size: usize,
    slot_count: usize,
    lanes: usize,
    max: u64,
) -> Option<&'static str> {
    if !(64..=16 << 20).contains(&slot_size) {
        return Some("slot size out of range (64 B to 16 MiB)");
    }
    if !slot_size.is_multiple_of(64) {
        return Some("slot size is not a multiple of 64");
    }
    if !slot_count.is_power_of_two() {
        return Some("slot count is not a power of two");
    }
    if !(2..=1 << 24).contains(&slot_count) {
        return Some("slot count out of range (2 to 2^24)");
    }
    let ring = (slot_size as u128) * (slot_count as u128);
    if ring > MAX_RING_BYTES {
        return Some("ring larger than 4 GiB");
    }
    if !(1..=MAX_LANES).contains(&lanes) {
        return Some("sender lanes out of range (1 to 64)");
    }
    if ring * lanes as u128 > MAX_SEGMENT_RING_BYTES {
        return Some("lanes x ring larger than 64 GiB");
    }
    if max > MAX_MESSAGE_LIMIT {
        return Some("max message size larger than 1 TiB");
    }
    if usize::try_from(max).is_err() {
        return Some("max message size does not fit in memory");
    }
    None
}

/// Size of the header of a queue of `lanes` lanes: the fixed part and one
/// lane header each. Its first lane's slots start there.
pub fn header_size(lanes: u64) -> u64 {
    HEADER_SIZE as u64 + LANE_HEADER_SIZE as u64 * lanes
}

/// Size of a whole segment (wrapping: the caller checked the config, or
/// wants the value a careless writer would store).
pub fn segment_size(slot_size: u64, slot_count: u64, lanes: u64) -> u64 {
    header_size(lanes).wrapping_add(slot_size.wrapping_mul(slot_count).wrapping_mul(lanes))
}

/// Largest payload of one record: the sender always keeps one slot free
/// beyond a record (for the next commit word), so a record spans at most
/// `slot_count - 1` slots.
pub fn capacity(slot_size: usize, slot_count: usize) -> usize {
    (slot_count - 1) * slot_size - RECORD_HEADER
}

/// Payload of one fragment as the real sender cuts it.
pub fn fragment_size(slot_size: usize, slot_count: usize) -> usize {
    (slot_count / 2).max(1) * slot_size - RECORD_HEADER
}

/// Slots taken by a record of `len` payload bytes.
pub fn slots_for(len: u64, slot_size: usize) -> u64 {
    (RECORD_HEADER as u64 + len).div_ceil(slot_size as u64)
}
