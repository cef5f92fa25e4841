//! The latency floors: a cache-line ping-pong between the two processes,
//! carrying the message, bare (`floor`) or laid out as a queue's record
//! (`floor-record`).
//!
//! One region per direction, each 128-byte aligned in a shared mapping of
//! our own (see `shm`). A region holds an atomic sequence word, for
//! `floor-record` an 8-byte record header (the message's length), then the
//! rest of the message:
//!
//! ```text
//!  floor:         0     8                   128 (or the size rounded up to 128)
//!                 [seq | message bytes 8..size]       parent -> child
//!                 [seq | message bytes 8..size]       child -> parent
//!
//!  floor-record:  0     8      16                 128 (or size + 8 rounded up)
//!                 [seq | len  | message bytes 8..size] parent -> child
//!                 [seq | len  | message bytes 8..size] child -> parent
//! ```
//!
//! Every message of this benchmark starts with its 8-byte sequence number,
//! so the word *is* the message's first 8 bytes: the sender copies the
//! payload (bytes 8..) into its region, writes the header if there is one,
//! then stores the sequence number with Release; the receiver spins on the
//! word with Acquire loads until it changes, then reads and checks the
//! header and copies the payload out. Both sides spin; nothing sleeps.
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
//! and no wake-up protocol. It is not a strict floor for shmq: it reuses
//! one region, while shmq's ring moves to the next slot each message, and
//! on some host placements that reuse costs more than shmq's whole path.
//!
//! One message per direction is in flight at a time, which is all a ping-
//! pong needs: a side writes its region again only after the reply to its
//! last message arrived, which the peer sends only after it copied that
//! message out.

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

/// Bytes of one direction's region, with a `header`-byte header.
fn region(size: usize, header: usize) -> usize {
    round_up((size + header).max(8), REGION_ALIGN)
}

/// Creates the shared memory for `size`-byte messages behind a
/// `HEADER`-byte header ([`LINE`] or [`RECORD`]).
pub fn create<const HEADER: usize>(name: &str, size: usize) -> Result<SharedMemory> {
    SharedMemory::create(&format!("{name}.floor"), 2 * region(size, HEADER))
}

/// Opens the parent's shared memory at `path`.
pub fn open<const HEADER: usize>(path: &str, size: usize) -> Result<SharedMemory> {
    SharedMemory::open(path, 2 * region(size, HEADER))
}

/// One side of the ping-pong, with a `HEADER`-byte header ([`LINE`] or
/// [`RECORD`]) between the sequence word and the payload.
#[derive(Debug)]
pub struct End<const HEADER: usize> {
    memory: SharedMemory,
    /// Offset of the region we write.
    outgoing: usize,
    /// Offset of the region we read.
    incoming: usize,
    /// Last sequence number seen on the incoming word (0: none yet).
    last_seen: u64,
    live: Liveness,
}

impl<const HEADER: usize> End<HEADER> {
    /// Offset of the payload (the message's bytes 8..) in a region.
    const PAYLOAD: usize = {
        assert!(HEADER == LINE || HEADER == RECORD, "no such floor layout");
        8 + HEADER
    };

    /// The parent's side: writes the first region, reads the second.
    pub fn parent(memory: SharedMemory, size: usize, live: Liveness) -> Self {
        End {
            memory,
            outgoing: 0,
            incoming: region(size, HEADER),
            last_seen: 0,
            live,
        }
    }

    /// The peer's side.
    pub fn child(memory: SharedMemory, size: usize, live: Liveness) -> Self {
        End {
            memory,
            outgoing: region(size, HEADER),
            incoming: 0,
            last_seen: 0,
            live,
        }
    }
}

impl<const HEADER: usize> Endpoint for End<HEADER> {
    #[inline]
    fn send(&mut self, msg: &[u8]) -> Result<()> {
        let seq = u64::from_le_bytes(msg[..8].try_into().expect("at least 8 bytes"));
        // SAFETY: the peer reads our region only between seeing a new
        // sequence word and replying, and we only send after its reply to
        // our previous message (strict ping-pong, see the module docs).
        unsafe { self.memory.write(self.outgoing + Self::PAYLOAD, &msg[8..]) };
        if HEADER == RECORD {
            let len = (msg.len() as u64).to_le_bytes();
            // SAFETY: as for the payload: the peer is done with our region.
            unsafe { self.memory.write(self.outgoing + 8, &len) };
        }
        // Release: the payload and header above are visible to the peer's
        // Acquire load that sees this sequence number.
        self.memory.word(self.outgoing).store(seq, Release);
        Ok(())
    }

    #[inline]
    fn recv(&mut self, buf: &mut [u8]) -> Result<()> {
        let word = self.memory.word(self.incoming);
        let last = self.last_seen;
        // Acquire: pairs with the sender's Release store of the word.
        let seq = spin_until(&self.live, || {
            let seq = word.load(Acquire);
            (seq != last).then_some(seq)
        })?;
        self.last_seen = seq;
        if HEADER == RECORD {
            let mut len = [0; RECORD];
            // SAFETY: we acquired the word the peer published after writing
            // the header, and it writes it again only after our reply.
            unsafe { self.memory.read(self.incoming + 8, &mut len) };
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
        unsafe {
            self.memory
                .read(self.incoming + Self::PAYLOAD, &mut buf[8..])
        };
        Ok(())
    }
}
