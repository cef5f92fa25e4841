//! The latency floors: a cache-line ping-pong between the two processes,
//! carrying the message, bare (`floor`) or laid out as a queue's record
//! (`floor-record`).
//!
//! Each direction has a ring of [`regions`] regions, each 128-byte aligned
//! in a shared mapping of our own (see `shm`); message `k` of a direction
//! goes to its region `k mod n`. A region holds an atomic sequence word,
//! for `floor-record` an 8-byte record header (the message's length), then
//! the rest of the message:
//!
//! ```text
//!  floor:         0     8                   128 (or the size rounded up to 128)
//!                 [seq | message bytes 8..size]       parent -> child, region k mod n
//!                 ...
//!                 [seq | message bytes 8..size]       child -> parent, region k mod n
//!
//!  floor-record:  0     8      16                 128 (or size + 8 rounded up)
//!                 [seq | len  | message bytes 8..size] parent -> child
//!                 ...
//! ```
//!
//! Why a ring and not one region reused: the time a line takes to move
//! between two cores depends on its physical address (which slice of the
//! last-level cache, and so which point of the on-die mesh, keeps its
//! directory entry). Measured here (2026-12-03, `examples/floor_addresses.rs`:
//! two threads pinned as the benchmark pins them, ping-pongs at 8 places
//! in memory, a median of 200 blocks each): one reused line per direction
//! took 307-335, 309-378 and 323-343 ns per round trip by place in three
//! runs, so a run's floor depended on where its one page happened to land,
//! and ratios to it moved by up to 0.2 between runs of the same build; a
//! ring of 64 lines per direction took 294-316, 327-330 and 327-328 ns.
//! shmq's own ring moves to the next slot with each message as well, so
//! it samples many addresses the same way.

//! Every message of this benchmark starts with its 8-byte sequence number,
//! so the word *is* the message's first 8 bytes (one bit flipped on odd
//! laps of the ring, see [`LAP_BIT`]): the sender copies the payload (bytes
//! 8..) into its region, writes the header if there is one, then stores the
//! word with Release; the receiver spins on the word with Acquire loads
//! until it changes, then reads and checks the header and copies the
//! payload out. Both sides spin; nothing sleeps.
//!
//! `floor`: a 64-byte message is exactly one cache line each way, the least
//! any transport can move: a queue needs at least the same bytes plus a way
//! to say they are there, so nothing built on this hardware beats this.
//!
//! `floor-record`: the layout of a shmq record, a 16-byte header (the
//! commit word at offset 0, lengths at 8..16) before the payload, with the
//! word polled at the record's start; a 64-byte message then takes 80
//! bytes, two cache lines each way. Its ratio to `floor` is the price of
//! the header's second line in a bare ping-pong, with no ring, no checks
//! and no wake-up protocol.
//!
//! One message per direction is in flight at a time, which is all a ping-
//! pong needs: a side writes a region again only after the reply to its
//! last message arrived, which the peer sends only after it copied that
//! message out (and a region comes round again only every `n` messages).

use std::sync::atomic::Ordering::{Acquire, Release};

use super::error::{Error, Result};
use super::peer::{Liveness, spin_until};
use super::shm::{REGION_ALIGN, SharedMemory, round_up};
use super::transport::Endpoint;

/// `floor`'s header: none, the payload follows the sequence word.
pub const LINE: usize = 0;
/// `floor-record`'s header between the sequence word and the payload: the
/// message's length as a `u64`, making a 16-byte record header as shmq's.
pub const RECORD: usize = 8;

/// Bytes of one region, with a `header`-byte header.
fn region(size: usize, header: usize) -> usize {
    round_up((size + header).max(8), REGION_ALIGN)
}

/// Most regions a direction's ring has.
const MAX_REGIONS: usize = 64;

/// Bytes a direction's ring of small regions spans at most.
const RING_BYTES: usize = 64 << 10;

/// Regions in each direction's ring for `size`-byte messages behind a
/// `header`-byte header: as many as fit in [`RING_BYTES`], at most 64 and
/// at least one (64 at 64 bytes, 56-64 at 1 KiB, one from 64 KiB on: a
/// message of many lines samples many addresses by itself).
pub fn regions(size: usize, header: usize) -> usize {
    (RING_BYTES / region(size, header)).clamp(1, MAX_REGIONS)
}

/// Bytes of the mapping: both directions' rings.
fn mapping(size: usize, header: usize) -> usize {
    2 * regions(size, header) * region(size, header)
}

/// Creates the shared memory for `size`-byte messages behind a
/// `HEADER`-byte header ([`LINE`] or [`RECORD`]).
pub fn create<const HEADER: usize>(name: &str, size: usize) -> Result<SharedMemory> {
    SharedMemory::create(&format!("{name}.floor"), mapping(size, HEADER))
}

/// Opens the parent's shared memory at `path`.
pub fn open<const HEADER: usize>(path: &str, size: usize) -> Result<SharedMemory> {
    SharedMemory::open(path, mapping(size, HEADER))
}

/// One direction's ring of regions, as one side sees it.
#[derive(Debug)]
struct Ring {
    /// Offset of region 0.
    base: usize,
    /// Bytes per region.
    stride: usize,
    /// The region of the next message.
    next: usize,
    /// Which lap of the ring `next` is on, as a salt for the sequence word:
    /// [`LAP_BIT`] on odd laps, 0 on even ones.
    lap: u64,
    /// Per region, the word it held when we last looked (0: none yet): a
    /// reader waits for it to change.
    seen: Vec<u64>,
}

/// The bit a ring's region word is flipped in on odd laps. A reader waits
/// for the word of the next region to change, so two messages a lap apart
/// must never leave the same word: a sequence number is below 2^62 or one
/// of the two reserved ones (`u64::MAX - 1`, `u64::MAX`), and with this bit
/// flipped every other lap the word differs from the last lap's whatever
/// the two messages were (the reserved ones have bit 62 set, the others
/// clear, and bit 63 tells them apart).
const LAP_BIT: u64 = 1 << 62;

impl Ring {
    fn new(direction: usize, size: usize, header: usize) -> Self {
        let (n, stride) = (regions(size, header), region(size, header));
        Ring {
            base: direction * n * stride,
            stride,
            next: 0,
            lap: 0,
            seen: vec![0; n],
        }
    }

    /// The offset of the next message's region, and its index.
    #[inline]
    fn current(&self) -> (usize, usize) {
        (self.base + self.next * self.stride, self.next)
    }

    /// Moves on to the next region.
    #[inline]
    fn advance(&mut self) {
        self.next += 1;
        if self.next == self.seen.len() {
            self.next = 0;
            self.lap ^= LAP_BIT;
        }
    }
}

/// One side of the ping-pong, with a `HEADER`-byte header ([`LINE`] or
/// [`RECORD`]) between the sequence word and the payload.
#[derive(Debug)]
pub struct End<const HEADER: usize> {
    memory: SharedMemory,
    /// The ring we write.
    outgoing: Ring,
    /// The ring we read.
    incoming: Ring,
    live: Liveness,
}

impl<const HEADER: usize> End<HEADER> {
    /// Offset of the payload (the message's bytes 8..) in a region.
    const PAYLOAD: usize = {
        assert!(HEADER == LINE || HEADER == RECORD, "no such floor layout");
        8 + HEADER
    };

    /// The parent's side: writes the first ring, reads the second.
    pub fn parent(memory: SharedMemory, size: usize, live: Liveness) -> Self {
        End {
            memory,
            outgoing: Ring::new(0, size, HEADER),
            incoming: Ring::new(1, size, HEADER),
            live,
        }
    }

    /// The peer's side.
    pub fn child(memory: SharedMemory, size: usize, live: Liveness) -> Self {
        End {
            memory,
            outgoing: Ring::new(1, size, HEADER),
            incoming: Ring::new(0, size, HEADER),
            live,
        }
    }
}

impl<const HEADER: usize> Endpoint for End<HEADER> {
    #[inline]
    fn send(&mut self, msg: &[u8]) -> Result<()> {
        let seq = u64::from_le_bytes(msg[..8].try_into().expect("at least 8 bytes"));
        let (at, _) = self.outgoing.current();
        // SAFETY: the peer reads our region only between seeing a new
        // sequence word and replying, and we only send after its reply to
        // our previous message (strict ping-pong, see the module docs).
        unsafe { self.memory.write(at + Self::PAYLOAD, &msg[8..]) };
        if HEADER == RECORD {
            let len = (msg.len() as u64).to_le_bytes();
            // SAFETY: as for the payload: the peer is done with our region.
            unsafe { self.memory.write(at + 8, &len) };
        }
        // Release: the payload and header above are visible to the peer's
        // Acquire load that sees this sequence number.
        self.memory.word(at).store(seq ^ self.outgoing.lap, Release);
        self.outgoing.advance();
        Ok(())
    }

    #[inline]
    fn recv(&mut self, buf: &mut [u8]) -> Result<()> {
        let (at, index) = self.incoming.current();
        let word = self.memory.word(at);
        let last = self.incoming.seen[index];
        // Acquire: pairs with the sender's Release store of the word.
        let stored = spin_until(&self.live, || {
            let stored = word.load(Acquire);
            (stored != last).then_some(stored)
        })?;
        self.incoming.seen[index] = stored;
        let seq = stored ^ self.incoming.lap;
        self.incoming.advance();
        if HEADER == RECORD {
            let mut len = [0; RECORD];
            // SAFETY: we acquired the word the peer published after writing
            // the header, and it writes it again only after our reply.
            unsafe { self.memory.read(at + 8, &mut len) };
            let len = u64::from_le_bytes(len);
            if len != buf.len() as u64 {
                return Err(Error::new(format!(
                    "floor-record: a {len}-byte record, expected {} bytes",
                    buf.len()
                )));
            }
        }
        buf[..8].copy_from_slice(&seq.to_le_bytes());
        // SAFETY: we acquired the word the peer published after writing
        // these bytes, and it writes them again only after our reply.
        unsafe { self.memory.read(at + Self::PAYLOAD, &mut buf[8..]) };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::{STOP, SWITCH};

    /// A region's word on two consecutive laps differs whatever the two
    /// messages were, so a reader never takes the last lap's word for the
    /// next message (which would hang it, or hand it stale bytes): the
    /// claim of [`LAP_BIT`], over every kind of sequence number.
    #[test]
    fn a_regions_word_changes_from_lap_to_lap() {
        let seqs = [1, 2, 63, 64, 65, LAP_BIT - 1, SWITCH, STOP];
        for &earlier in &seqs {
            for &later in &seqs {
                for lap in [0, LAP_BIT] {
                    let next_lap = lap ^ LAP_BIT;
                    assert_ne!(
                        earlier ^ lap,
                        later ^ next_lap,
                        "{earlier} then {later} a lap later leave the same word"
                    );
                }
            }
        }
    }

    /// The ring sizes the docs give, within [`RING_BYTES`] when more than
    /// one.
    #[test]
    fn ring_sizes() {
        assert_eq!(regions(64, LINE), 64);
        assert_eq!(regions(64, RECORD), 64);
        assert_eq!(regions(1024, LINE), 64);
        assert_eq!(regions(1024, RECORD), 56);
        assert_eq!(regions(64 << 10, LINE), 1);
        assert_eq!(regions(1 << 20, RECORD), 1);
        for size in [8, 100, 1000, 4096, 20_000] {
            let n = regions(size, RECORD);
            assert!(n == 1 || n * region(size, RECORD) <= RING_BYTES, "{size}");
        }
    }
}
