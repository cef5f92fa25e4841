//! What a topic's publisher and subscribers share besides the ring: the
//! settings, the mark and the join point, and the seqlocks that read them.
//!
//! # Reading memory the publisher may overwrite
//!
//! In a topic whose subscribers can be overrun (lossy, or with a lag
//! limit) a subscriber may read a record while the publisher writes over
//! it. Every access to the ring's bytes is then atomic: the publisher
//! stores the payload and the record header with relaxed atomic stores
//! (`SlotMemory::store_words`, `word32`, `word64`) and the subscriber
//! copies them out with relaxed atomic loads (`load_words`), so there is
//! no data race in Rust's memory model, only values that may be stale or
//! torn across words. (Volatile copies would be a data race all the same:
//! volatile says nothing about concurrency.) Whether they were torn is
//! decided afterwards, seqlock-style, by the mark:
//!
//! - the publisher, before it writes any slot that holds an older
//!   position, moves the mark past that position, then issues
//!   `fence(Release)`, then writes (SYNC: mark-cover);
//! - the subscriber copies the record, issues `fence(Acquire)`, and loads
//!   the mark: if the mark is still at or below the record's position, no
//!   byte it copied was overwritten (had it read a byte stored after the
//!   publisher's fence, its fence would make the newer mark visible to
//!   that load); otherwise it drops the copy and reports the loss.
//!
//! In a strict lossless topic (no lag limit, no history) the publisher never writes
//! below the slowest live subscriber's tail, so subscribers read records
//! in place, as a queue's receiver does.

use std::sync::Arc;
use std::time::Duration;

use crate::error::{OpenError, OpenErrorKind};
use crate::layout::{ProducerLine, SubscriberLine, TOPIC_MAGIC, TopicControl};
use crate::segment::Region;
use crate::sync::Ordering::{Acquire, Relaxed, Release};
use crate::sync::fence;
use crate::table::{Spec, Table};

/// Most subscribers a topic can have at once.
pub const MAX_SUBSCRIBERS: usize = 64;

/// The subscriber table's kind.
pub(crate) const SPEC: Spec = Spec {
    magic: TOPIC_MAGIC,
    version: 1,
    kind: "topic subscriber table",
    max_count: MAX_SUBSCRIBERS,
    count_error: "subscribers out of range (1 to 64)",
};

/// A topic's subscriber table.
pub(crate) type SubTable = Table<TopicControl, SubscriberLine>;

/// The name of topic `name`'s subscriber table.
pub(crate) fn table_name(name: &str) -> String {
    format!("{name}.subs")
}

/// Everything a topic's handles share: its ring and its table.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) region: Arc<Region>,
    pub(crate) table: SubTable,
    pub(crate) settings: Settings,
}

impl Shared {
    pub(crate) fn control(&self) -> &TopicControl {
        self.table.control()
    }

    pub(crate) fn producer_line(&self) -> &ProducerLine {
        &self.region.lane(0).header().producer
    }
}

/// The settings a topic was created with (read once, checked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Settings {
    pub(crate) lossy: bool,
    pub(crate) history: usize,
    pub(crate) lag_limit: Option<Duration>,
}

impl Settings {
    /// Whether subscribers can be overrun, and so read by copying and
    /// validating (see the module docs): in a lossy topic, one with a lag
    /// limit, and one with history (whose late subscribers read messages
    /// from before they joined, which the publisher does not wait for).
    /// The publisher then keeps the mark.
    #[inline]
    pub(crate) fn copies(&self) -> bool {
        self.lossy || self.lag_limit.is_some() || self.history > 0
    }

    /// Writes the settings into a fresh table's control line.
    pub(crate) fn initialise(&self, control: &TopicControl) {
        control.lossy.store(u32::from(self.lossy), Relaxed);
        control.history.store(self.history as u32, Relaxed);
        let ms = self
            .lag_limit
            .map_or(0, |d| d.as_millis().clamp(1, u32::MAX as u128) as u32);
        control.lag_limit_ms.store(ms, Relaxed);
    }

    /// Reads and checks the settings of an opened table whose ring has
    /// `slots` slots.
    pub(crate) fn read(control: &TopicControl, slots: usize) -> Result<Settings, OpenError> {
        let lossy = match control.lossy.load(Relaxed) {
            0 => false,
            1 => true,
            _ => {
                return Err(
                    OpenErrorKind::BadHeader("topic mode is neither lossless nor lossy").into(),
                );
            }
        };
        let history = control.history.load(Relaxed) as usize;
        if history >= slots {
            return Err(OpenErrorKind::BadHeader("topic history longer than its ring").into());
        }
        let ms = control.lag_limit_ms.load(Relaxed);
        let lag_limit = (ms != 0).then(|| Duration::from_millis(ms.into()));
        if lossy && lag_limit.is_some() {
            return Err(OpenErrorKind::BadHeader("lossy topic with a lag limit").into());
        }
        Ok(Settings {
            lossy,
            history,
            lag_limit,
        })
    }
}

/// The mark and the resume point, read together (see `TopicControl`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Mark {
    /// Slots below it may be overwritten.
    pub(crate) mark: u64,
    /// The oldest message starting at or after `mark`: its position...
    pub(crate) resume_pos: u64,
    /// ...and its number.
    pub(crate) resume_seq: u64,
}

/// Publishes a new mark (the publisher's side, SYNC: mark and
/// mark-cover): after this returns, the caller may overwrite slots below
/// `mark.mark`.
pub(crate) fn store_mark(control: &TopicControl, mark: Mark) {
    let guard = control.mark_guard.load(Relaxed);
    // Odd: a reader that sees it, or any store below, retries.
    control.mark_guard.store(guard | 1, Relaxed);
    fence(Release);
    control.mark.store(mark.mark, Relaxed);
    control.resume_pos.store(mark.resume_pos, Relaxed);
    control.resume_seq.store(mark.resume_seq, Relaxed);
    // SYNC: mark (Release side).
    control
        .mark_guard
        .store((guard | 1).wrapping_add(1), Release);
    // SYNC: mark-cover (Release side): the mark above is visible to a
    // subscriber that reads any slot byte we write after this fence and
    // then issues its own Acquire fence.
    fence(Release);
}

/// Reads the mark and resume point consistently (the subscribers' side of
/// the seqlock). Spins while the publisher is in the middle of
/// `store_mark`, which takes a few stores, then (a publisher preempted in
/// the middle) sleeps briefly between tries for up to [`SETTLE_LIMIT`];
/// `None` if the words stay inconsistent that long (a publisher that died
/// in the middle).
pub(crate) fn load_mark(control: &TopicControl) -> Option<Mark> {
    settle(|| {
        // SYNC: mark (Acquire side).
        let before = control.mark_guard.load(Acquire);
        let mark = Mark {
            mark: control.mark.load(Relaxed),
            resume_pos: control.resume_pos.load(Relaxed),
            resume_seq: control.resume_seq.load(Relaxed),
        };
        fence(Acquire);
        (before % 2 == 0 && control.mark_guard.load(Relaxed) == before).then_some(mark)
    })
}

/// How long a seqlock reader waits for a writer that stays in the middle
/// of its stores (preempted, or dead) before it gives up.
#[cfg(not(shmq_loom))]
pub(crate) const SETTLE_LIMIT: Duration = Duration::from_millis(100);

/// Calls `try_read` until it returns `Some`: a thousand times in a row,
/// then (outside loom) with short sleeps in between, for up to
/// [`SETTLE_LIMIT`]: a writer preempted in the middle of a seqlock store
/// keeps the words inconsistent until the scheduler runs it again.
fn settle<T>(mut try_read: impl FnMut() -> Option<T>) -> Option<T> {
    for _ in 0..1000 {
        if let Some(value) = try_read() {
            return Some(value);
        }
        crate::sync::spin_hint();
    }
    #[cfg(not(shmq_loom))]
    {
        let start = std::time::Instant::now();
        while start.elapsed() < SETTLE_LIMIT {
            std::thread::sleep(Duration::from_micros(50));
            if let Some(value) = try_read() {
                return Some(value);
            }
        }
    }
    None
}

/// The mark alone, after a copy of slot bytes (SYNC: mark-cover, Acquire
/// side): if it is at or below the position copied from, no byte of the
/// copy was overwritten.
#[inline]
pub(crate) fn mark_after_copy(control: &TopicControl) -> u64 {
    fence(Acquire);
    control.mark.load(Relaxed)
}

/// Publishes the join point (`head`, `next_seq`) after a commit (the
/// publisher's side of the join-point seqlock).
#[inline]
pub(crate) fn store_join_point(line: &ProducerLine, head: u64, next_seq: u64) {
    let guard = line.seq_guard.load(Relaxed);
    line.seq_guard.store(guard | 1, Relaxed);
    fence(Release);
    // SYNC: head-publish (see `ProducerLine::head`).
    line.head.store(head, Release);
    line.next_seq.store(next_seq, Relaxed);
    // SYNC: join-point (Release side).
    line.seq_guard.store((guard | 1).wrapping_add(1), Release);
}

/// Reads the join point: the head and the number of the next message to
/// start at or after it. `None` as for [`load_mark`].
pub(crate) fn load_join_point(line: &ProducerLine) -> Option<(u64, u64)> {
    settle(|| {
        // SYNC: join-point (Acquire side).
        let before = line.seq_guard.load(Acquire);
        let head = line.head.load(Relaxed);
        let seq = line.next_seq.load(Relaxed);
        fence(Acquire);
        (before % 2 == 0 && line.seq_guard.load(Relaxed) == before).then_some((head, seq))
    })
}
