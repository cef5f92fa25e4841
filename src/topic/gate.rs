//! The publisher's side of a topic: which tail it may write up to (the
//! slowest live subscriber's, the mark), and the mark it moves.
//!
//! `Gate` lives in the `spsc::Producer` of a topic's ring (its
//! `topic` field): the ring code is the queue's, and only these hooks
//! differ:
//!
//! - *room*: where a queue's sender reads its receiver's tail, a topic's
//!   publisher takes the minimum over the live subscribers' tails
//!   ([`Gate::tail`], only when its cached tail says the ring is full);
//!   a lossy publisher takes none and moves the mark instead, and a
//!   publisher with a lag limit stops waiting for subscribers that held
//!   it up longer than the limit by moving the mark past them;
//! - *commit*: the first record of each message is numbered
//!   ([`Gate::on_start`]), the join point is published with the head, and
//!   sleeping subscribers are woken with one call (`wait::ring_event`).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use super::shared::{self, Mark, Shared};
use crate::error::{CorruptedError, OpenError, OpenErrorKind};
use crate::peer;
use crate::sync::Ordering::{Acquire, Relaxed};
use crate::wait::Look;

/// The publisher's topic state.
#[derive(Debug)]
pub(crate) struct Gate {
    pub(crate) shared: Arc<Shared>,
    /// Number of the next message to start.
    pub(crate) next_seq: u64,
    /// Position and number of each message started at or after the mark
    /// (only kept when the mark is: see `Settings::keeps_mark`).
    starts: VecDeque<(u64, u64)>,
    /// The mark as we last published it.
    mark: u64,
    /// When the current wait for room began (the lag limit counts from
    /// it); `None` while there is room.
    blocked_since: Option<Instant>,
    /// Subscribers found dead and released, for the statistics.
    pub(crate) released: u64,
}

impl Gate {
    /// The gate of a publisher that attached with its head at `head`
    /// (`started` is true if the record its predecessor committed last,
    /// without publishing it, started a message: see `recover_head`).
    pub(crate) fn attach(shared: Arc<Shared>, head: u64, started: bool) -> Result<Gate, OpenError> {
        let slots = shared.region.config().slot_count as u64;
        let line = shared.producer_line();
        let (_, seq) = shared::load_join_point(line)
            .ok_or(OpenErrorKind::BadHeader("topic join point never settles"))?;
        // Every message starts at a position of its own: never more
        // messages than positions.
        if seq > head {
            return Err(OpenErrorKind::BadHeader("topic message number beyond head").into());
        }
        let next_seq = seq + u64::from(started);
        let control = shared.control();
        let mut mark = 0;
        if shared.settings.copies() {
            // A predecessor's mark: torn only if it died storing it, when
            // the words it stored are all valid anyway.
            mark = control.mark.load(Acquire);
            if mark > head || head - mark >= slots {
                return Err(OpenErrorKind::BadHeader("topic mark out of range").into());
            }
            // Republished whole (a predecessor may have died with the
            // seqlock odd), with the resume point at our head: we do not
            // know where its messages start.
            shared::store_mark(
                control,
                Mark {
                    mark,
                    resume_pos: head,
                    resume_seq: next_seq,
                },
            );
        }
        shared::store_join_point(line, head, next_seq);
        let keep = if shared.settings.copies() {
            (slots as usize).min(4096)
        } else {
            0
        };
        Ok(Gate {
            shared,
            next_seq,
            starts: VecDeque::with_capacity(keep),
            mark,
            blocked_since: None,
            released: 0,
        })
    }

    /// Notes that the record about to be committed at `at` starts a
    /// message (a whole one, or the first fragment of a long one).
    #[inline(always)]
    pub(crate) fn on_start(&mut self, at: u64) {
        if self.shared.settings.copies() {
            self.starts.push_back((at, self.next_seq));
        }
        self.next_seq += 1;
    }

    /// Whether overwriting must be covered by the mark and payloads are
    /// written with atomic stores (see `shared`).
    #[inline(always)]
    pub(crate) fn copies(&self) -> bool {
        self.shared.settings.copies()
    }

    /// Moves the mark up to `to` (at most `head`) and publishes it, with
    /// the oldest message that starts at or after it as the resume point.
    fn advance(&mut self, to: u64, head: u64) {
        let to = to.min(head);
        if to <= self.mark {
            return;
        }
        while self.starts.front().is_some_and(|&(pos, _)| pos < to) {
            self.starts.pop_front();
        }
        let (resume_pos, resume_seq) = self
            .starts
            .front()
            .copied()
            .unwrap_or((head, self.next_seq));
        self.mark = to;
        shared::store_mark(
            self.shared.control(),
            Mark {
                mark: to,
                resume_pos,
                resume_seq,
            },
        );
    }

    /// The tail the publisher may write up to now, its head being `head`,
    /// when it needs one of at least `need`: the slowest live subscriber's
    /// (lossless), or the mark, moved as far as `need` allows (and further
    /// for a lossy topic, see below). Called when the cached tail says the
    /// ring is full, and on each poll of the wait for room. With
    /// `look.liveness`, subscribers holding the publisher back are asked
    /// whether their process lives, and dead ones are released.
    ///
    /// A lossy publisher moves the mark an eighth of the ring further than
    /// it needs, so it stores the mark once per eighth of a lap rather than
    /// on every record; a subscriber less than that far ahead of the
    /// overwritten slots is reported overrun a little early (the counts
    /// stay exact).
    ///
    /// Without `room` (a lossless publisher's `flush`), only the slowest
    /// live subscriber's tail: the mark stays (history is kept) and nobody
    /// is cut loose; the answer is no room to write into.
    pub(crate) fn tail(
        &mut self,
        head: u64,
        need: u64,
        slots: u64,
        look: Look,
        room: bool,
    ) -> Result<u64, CorruptedError> {
        let settings = self.shared.settings;
        if settings.lossy {
            if self.mark < need {
                self.advance(need + slots / 8, head);
            }
            return Ok(self.mark);
        }
        let cut = match (settings.lag_limit, self.blocked_since) {
            (Some(limit), Some(since)) => room && look.thorough && since.elapsed() >= limit,
            _ => false,
        };
        // SYNC: join (publisher's half): orders our last join-point store
        // before the loads of the subscribers' tails below; pairs with the
        // fence of a joining subscriber (`Reader::join`): either we see its
        // tail, or it sees a head at least as new as ours, and we overwrite
        // nothing below that head before our next look.
        crate::sync::fence(crate::sync::Ordering::SeqCst);
        let mut min = head;
        // One pass's answers only: a process found alive on an earlier
        // look may have died since.
        let mut liveness = peer::Liveness::default();
        // Lowest tail we may report: no room at all.
        let floor = head.saturating_sub(slots - 1);
        for line in self.shared.table.entries() {
            let token = line.owner.token.load(Acquire);
            if token == 0 {
                continue;
            }
            // SYNC: cut (Acquire side): a subscriber that cleared its cut
            // word stored its new tail first.
            if line.cut.load(Acquire) != 0 {
                // Cut loose: it catches up by itself, from the mark.
                continue;
            }
            // SYNC: tail-publish (Acquire side): the subscriber is done
            // reading every slot below this tail.
            let tail = line.tail.load(Acquire);
            if tail > head {
                // Not holding anything yet (a subscriber that is joining
                // stores `u64::MAX` first), or garbage: its own reads are
                // what it breaks.
                continue;
            }
            if tail < need && look.liveness && !liveness.alive(token) {
                // Its process died without detaching: release its entry.
                peer::detach(&line.owner, token);
                self.released += 1;
                continue;
            }
            if cut && tail < need {
                // Held us up longer than the lag limit: stop waiting for
                // it. The mark moves past its tail below, before we
                // overwrite anything there; it finds that out on its next
                // read (`Lagged`).
                line.cut.store(1, Relaxed);
                continue;
            }
            // A tail more than a lap behind (a joiner's first store) is
            // no room at all, not a wrap-around.
            min = min.min(tail.max(floor));
        }
        if !settings.copies() || !room {
            return Ok(min);
        }
        if self.mark < need && min >= need {
            self.advance(need, head);
        }
        // Nothing below the mark may be overwritten before it moves.
        Ok(min.min(self.mark))
    }

    /// Notes that the publisher found no room and will wait (the lag
    /// limit counts from the first such look).
    pub(crate) fn blocked(&mut self) {
        if self.blocked_since.is_none() && self.shared.settings.lag_limit.is_some() {
            self.blocked_since = Some(Instant::now());
        }
    }

    /// Notes that the publisher found room.
    #[inline]
    pub(crate) fn unblocked(&mut self) {
        self.blocked_since = None;
    }

    /// Live subscribers (reads `/proc` for each held entry).
    pub(crate) fn subscribers(&self) -> usize {
        self.shared
            .table
            .entries()
            .iter()
            .filter(|line| peer::is_alive(line.owner.token.load(Relaxed)))
            .count()
    }
}
