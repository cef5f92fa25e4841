//! The segment and record layout, as the reference model knows it (written
//! from the protocol, not taken from the library).

/// Size of the segment header.
pub const HEADER_SIZE: usize = 512;
/// Layout version in the segment header (2: commit words in the records).
pub const LAYOUT_VERSION: u32 = 2;
/// Size of a record header.
pub const RECORD_HEADER: usize = 16;
/// Largest tail the receiver accepts when it attaches.
pub const MAX_POSITION: u64 = 1 << 62;
/// Largest `max_message_size` a queue may declare.
pub const MAX_MESSAGE_LIMIT: u64 = 1 << 40;
/// `drain_ring` refuses rings larger than this (returns 0).
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
    /// Passed to `drain_ring`; a v2 receiver must not look at it.
    pub head: u64,
    pub tail: u64,
}

/// Mirror of `Config::check`: the first impossible setting, if any.
pub fn config_error(slot_size: usize, slot_count: usize, max: u64) -> Option<&'static str> {
    if !(64..=16 << 20).contains(&slot_size) {
        return Some("slot size out of range");
    }
    if !slot_size.is_multiple_of(64) {
        return Some("slot size not a multiple of 64");
    }
    if !slot_count.is_power_of_two() {
        return Some("slot count not a power of two");
    }
    if !(2..=1 << 24).contains(&slot_count) {
        return Some("slot count out of range");
    }
    if (slot_size as u128) * (slot_count as u128) > 1 << 32 {
        return Some("ring larger than 4 GiB");
    }
    if max > MAX_MESSAGE_LIMIT {
        return Some("max message size larger than 1 TiB");
    }
    None
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
