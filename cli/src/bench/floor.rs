//! The latency floor: a cache-line ping-pong between the two processes,
//! carrying the message.
//!
//! One region per direction, each 128-byte aligned in a shared mapping of
//! our own (see `shm`). A region holds an atomic sequence word followed by
//! the rest of the message:
//!
//! ```text
//!  0               128 (or the message size rounded up to 128)
//!  [seq | message bytes 8..size] parent -> child
//!  [seq | message bytes 8..size] child -> parent
//! ```
//!
//! Every message of this benchmark starts with its 8-byte sequence number,
//! so the word *is* the message's first 8 bytes: the sender copies the
//! payload (bytes 8..) into its region, then stores the sequence number
//! with Release; the receiver spins on the word with Acquire loads until it
//! changes, then copies the payload out. A 64-byte message is exactly one
//! cache line each way, the least any transport can move: a queue needs at
//! least the same bytes plus a way to say they are there, so nothing built
//! on this hardware beats this. Both sides spin; nothing sleeps.
//!
//! One message per direction is in flight at a time, which is all a ping-
//! pong needs: a side writes its region again only after the reply to its
//! last message arrived, which the peer sends only after it copied that
//! message out.

use std::sync::atomic::Ordering::{Acquire, Release};

use super::error::Result;
use super::peer::{Liveness, spin_until};
use super::shm::{REGION_ALIGN, SharedMemory, round_up};
use super::transport::Endpoint;

/// Bytes of one direction's region.
fn region(size: usize) -> usize {
    round_up(size.max(8), REGION_ALIGN)
}

/// Creates the shared memory for `size`-byte messages.
pub fn create(name: &str, size: usize) -> Result<SharedMemory> {
    SharedMemory::create(&format!("{name}.floor"), 2 * region(size))
}

/// Opens the parent's shared memory at `path`.
pub fn open(path: &str, size: usize) -> Result<SharedMemory> {
    SharedMemory::open(path, 2 * region(size))
}

/// One side of the ping-pong.
#[derive(Debug)]
pub struct End {
    memory: SharedMemory,
    /// Offset of the region we write.
    outgoing: usize,
    /// Offset of the region we read.
    incoming: usize,
    /// Last sequence number seen on the incoming word (0: none yet).
    last_seen: u64,
    live: Liveness,
}

impl End {
    /// The parent's side: writes the first region, reads the second.
    pub fn parent(memory: SharedMemory, size: usize, live: Liveness) -> Self {
        End {
            memory,
            outgoing: 0,
            incoming: region(size),
            last_seen: 0,
            live,
        }
    }

    /// The peer's side.
    pub fn child(memory: SharedMemory, size: usize, live: Liveness) -> Self {
        End {
            memory,
            outgoing: region(size),
            incoming: 0,
            last_seen: 0,
            live,
        }
    }
}

impl Endpoint for End {
    #[inline]
    fn send(&mut self, msg: &[u8]) -> Result<()> {
        let seq = u64::from_le_bytes(msg[..8].try_into().expect("at least 8 bytes"));
        // SAFETY: the peer reads our region only between seeing a new
        // sequence word and replying, and we only send after its reply to
        // our previous message (strict ping-pong, see the module docs).
        unsafe { self.memory.write(self.outgoing + 8, &msg[8..]) };
        // Release: the payload above is visible to the peer's Acquire load
        // that sees this sequence number.
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
        buf[..8].copy_from_slice(&seq.to_le_bytes());
        // SAFETY: we acquired the word the peer published after writing
        // these bytes, and it writes them again only after our reply.
        unsafe { self.memory.read(self.incoming + 8, &mut buf[8..]) };
        Ok(())
    }
}
