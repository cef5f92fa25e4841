//! Fragmentation: messages larger than the ring.
//!
//! A message that fits in the ring travels as one `Message` record. A longer
//! one (up to the queue's `max_message_size`) is streamed as a `First`
//! record carrying the total length, any number of `Middle` records and a
//! `Last` record, each at most half the ring so the two sides overlap
//! (Aeron's fragment flags, reassembled into a buffer the receiver reuses).
//!
//! The receiver trusts nothing it reads: the total must be within its own
//! limit, every fragment must fit what remains, and `Last` must complete the
//! message exactly. A `Message` or `First` that arrives in the middle of a
//! message means the sender gave up on it (timed out, or died and was
//! replaced): the partial message is dropped, never delivered. Continuation
//! fragments with no `First` before them (a receiver that took over in the
//! middle of a message) are skipped.

use crate::error::CorruptedError;
use crate::layout::Kind;

/// Splits a message of `len` bytes into fragments of at most `fragment`
/// bytes: yields `(kind, range)` pairs.
pub(crate) fn plan(
    len: usize,
    fragment: usize,
) -> impl Iterator<Item = (Kind, std::ops::Range<usize>)> {
    debug_assert!(fragment > 0 && len > fragment);
    let count = len.div_ceil(fragment);
    (0..count).map(move |i| {
        let start = i * fragment;
        let end = (start + fragment).min(len);
        let kind = match i {
            0 => Kind::First,
            i if i + 1 == count => Kind::Last,
            _ => Kind::Middle,
        };
        (kind, start..end)
    })
}

/// What the receiver should do after feeding a fragment.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// Keep reading.
    More,
    /// The buffer holds a whole message.
    Complete,
}

/// The receiver's reassembly buffer, reused across messages so that only a
/// message longer than any before it allocates.
#[derive(Debug, Default)]
pub(crate) struct Reassembly {
    buf: Vec<u8>,
    /// Total length of the message being assembled, if one is.
    total: Option<usize>,
}

impl Reassembly {
    /// Whether a message is partly assembled.
    #[cfg(test)]
    pub(crate) fn in_progress(&self) -> bool {
        self.total.is_some()
    }

    /// Drops a partly assembled message.
    pub(crate) fn abandon(&mut self) {
        self.total = None;
        self.buf.clear();
    }

    /// The completed message.
    pub(crate) fn message(&self) -> &[u8] {
        &self.buf
    }

    /// Appends fragment bytes, reporting an allocation failure as an error
    /// rather than aborting the process.
    fn append(&mut self, bytes: &[u8]) -> Result<(), CorruptedError> {
        if self.buf.try_reserve(bytes.len()).is_err() {
            self.abandon();
            return Err(CorruptedError::new("cannot allocate the message"));
        }
        self.buf.extend_from_slice(bytes);
        Ok(())
    }

    /// Feeds one fragment record (`kind` is `First`, `Middle` or `Last`)
    /// whose header declared `total` and whose payload is `bytes`.
    pub(crate) fn feed(
        &mut self,
        kind: Kind,
        total: u64,
        bytes: &[u8],
        max_message_size: u64,
    ) -> Result<Step, CorruptedError> {
        match kind {
            Kind::First => {
                if total > max_message_size {
                    return Err(CorruptedError::new("message longer than max_message_size"));
                }
                let total = total as usize; // <= max_message_size, which fits usize
                if bytes.len() >= total {
                    return Err(CorruptedError::new(
                        "first fragment holds the whole message",
                    ));
                }
                self.abandon();
                // The buffer grows with the fragments that actually arrive,
                // not with the announced total: a lying total cannot make
                // us allocate what no sender wrote.
                self.append(bytes)?;
                self.total = Some(total);
                Ok(Step::More)
            }
            Kind::Middle | Kind::Last => {
                let Some(expected) = self.total else {
                    // Orphan continuation: skip it.
                    return Ok(Step::More);
                };
                let have = self.buf.len() + bytes.len();
                if have > expected {
                    return Err(CorruptedError::new("fragments longer than the message"));
                }
                if kind == Kind::Middle && have == expected {
                    return Err(CorruptedError::new(
                        "message completed without a last fragment",
                    ));
                }
                if kind == Kind::Last && have != expected {
                    return Err(CorruptedError::new(
                        "last fragment leaves the message short",
                    ));
                }
                self.append(bytes)?;
                if kind == Kind::Last {
                    self.total = None;
                    Ok(Step::Complete)
                } else {
                    Ok(Step::More)
                }
            }
            Kind::Message | Kind::Padding | Kind::Hello => {
                debug_assert!(false, "not a fragment");
                Err(CorruptedError::new("not a fragment"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_covers_the_message() {
        let parts: Vec<_> = plan(10, 4).collect();
        assert_eq!(
            parts,
            vec![
                (Kind::First, 0..4),
                (Kind::Middle, 4..8),
                (Kind::Last, 8..10)
            ]
        );
        let parts: Vec<_> = plan(8, 4).collect();
        assert_eq!(parts, vec![(Kind::First, 0..4), (Kind::Last, 4..8)]);
    }

    #[test]
    fn reassembles_and_rejects_lies() {
        let mut r = Reassembly::default();
        assert_eq!(r.feed(Kind::First, 6, b"ab", 100), Ok(Step::More));
        assert_eq!(r.feed(Kind::Middle, 0, b"cd", 100), Ok(Step::More));
        assert_eq!(r.feed(Kind::Last, 0, b"ef", 100), Ok(Step::Complete));
        assert_eq!(r.message(), b"abcdef");
        assert!(!r.in_progress());

        assert!(r.feed(Kind::First, 101, b"x", 100).is_err());
        assert!(r.feed(Kind::First, 1, b"x", 100).is_err());
        r.feed(Kind::First, 3, b"x", 100).unwrap();
        assert!(r.feed(Kind::Middle, 0, b"yz", 100).is_err());
        r.feed(Kind::First, 3, b"x", 100).unwrap();
        assert!(r.feed(Kind::Last, 0, b"y", 100).is_err());
        r.feed(Kind::First, 3, b"x", 100).unwrap();
        assert!(r.feed(Kind::Last, 0, b"yzw", 100).is_err());

        let mut fresh = Reassembly::default();
        assert_eq!(fresh.feed(Kind::Last, 0, b"orphan", 100), Ok(Step::More));
        assert!(fresh.message().is_empty());
    }
}
