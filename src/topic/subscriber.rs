//! A topic's subscriber: reads the publisher's ring from its own tail.
//!
//! The ring code is the queue's (records, commit words, padding, `Hello`,
//! fragments, `spsc::parse_record`); what differs from a queue's receiver
//! is where the tail lives (the subscriber's line in the table), where it
//! sleeps (the topic's event, shared by all subscribers), how it joins,
//! and, in a topic whose subscribers can be overrun, how it reads: by
//! copying with atomic loads and checking the mark afterwards (see
//! `shared`), going on from the resume point when it was overrun.

use std::sync::Arc;

use super::shared::{self, Shared};
use crate::error::{CorruptedError, OpenError, OpenErrorKind, Role, Stop};
use crate::frag::{Reassembly, Step};
use crate::layout::{Kind, SubscriberLine, unstamp};
use crate::peer;
use crate::spsc::{Geometry, Record, barrier_ready, check_record, parse_record};
use crate::sync::Ordering::{Acquire, Relaxed, Release, SeqCst};
use crate::sync::fence;
use crate::wait::{self, Deadline, WaitState, WaitStrategy};

/// A whole message found by `Reader::find`.
#[derive(Debug, Clone, Copy)]
enum Found {
    /// In the ring at our tail (strict topics): read in place.
    InRing(Record),
    /// In `scratch` (copied out and checked), its record at our tail.
    Copied(Record),
    /// In the reassembly buffer (its records are freed already).
    Assembled,
}

/// The subscriber's end of a topic.
#[derive(Debug)]
pub(crate) struct Reader {
    pub(crate) shared: Arc<Shared>,
    /// Our entry in the subscriber table.
    pub(crate) entry: usize,
    token: u64,
    geo: Geometry,
    /// Our position: we have read every record below it.
    tail: u64,
    /// Number of the next message to start at or after `tail`.
    seq: u64,
    /// Number of the message being reassembled, if one is.
    pending: Option<u64>,
    /// Number of the first message published after we joined: losses of
    /// messages before it (history) are not reported.
    joined: u64,
    /// Messages numbered below this are skipped (history beyond what
    /// was asked for).
    deliver_from: u64,
    /// The tail we published at join; we publish nothing lower (we read
    /// history below it without holding the publisher back).
    floor: u64,
    assembly: Reassembly,
    /// Where a copying subscriber copies a record before checking it.
    scratch: Vec<u8>,
    /// Which publishers count as our peer (see `peer::Session`).
    publisher: peer::Session,
    /// Messages missed so far, in all.
    pub(crate) lagged: u64,
    /// Whether the last record had to be waited for (a ping-pong rhythm):
    /// the wait for the next then prefetches its second line, as a queue's
    /// receiver does (see `Consumer::wait_for_commit`).
    waited: bool,
    poisoned: Option<CorruptedError>,
    wait: WaitState,
    asymmetric: bool,
    pub(crate) strategy: WaitStrategy,
}

impl Reader {
    /// Joins the topic: claims a free entry (or one whose holder died) and
    /// starts at the next message, or, with `history`, at the oldest of
    /// the last `history` messages still in the ring.
    pub(crate) fn attach(
        shared: Arc<Shared>,
        strategy: WaitStrategy,
        history: bool,
    ) -> Result<Reader, OpenError> {
        let entries = shared.table.entries();
        let mut claimed = None;
        for (i, line) in entries.iter().enumerate() {
            match peer::claim(&line.owner, Role::Receiver) {
                Ok(token) => {
                    claimed = Some((i, token));
                    break;
                }
                Err(e) if matches!(e.kind(), OpenErrorKind::AlreadyAttached { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        let Some((entry, token)) = claimed else {
            return Err(OpenErrorKind::TooManySubscribers {
                limit: entries.len(),
            }
            .into());
        };
        let line = &entries[entry];
        let geo = Geometry::new(*shared.region.config());
        let (head, seq) = match join(&shared, line) {
            Ok(point) => point,
            Err(e) => {
                peer::detach(&line.owner, token);
                return Err(e);
            }
        };
        let (mut tail, mut next, mut deliver_from) = (head, seq, seq);
        let wanted = shared.settings.history as u64;
        if history && wanted > 0 {
            // The oldest message kept: read it and those after it by
            // copying, and skip down to the last `wanted` before `seq`.
            if let Some(mark) = shared::load_mark(shared.control()) {
                if mark.resume_pos <= head
                    && head - mark.resume_pos < geo.slots
                    && mark.resume_seq <= seq
                {
                    tail = mark.resume_pos;
                    next = mark.resume_seq;
                    deliver_from = seq.saturating_sub(wanted).max(next);
                }
            }
        }
        peer::announce(&line.owner);
        line.next_seq.store(next, Relaxed);
        let lane = shared.region.lane(0);
        let publisher = peer::Session::start(&lane.header().control.sender);
        let asymmetric = barrier_ready(&shared.region.header().receiver);
        let scratch = if shared.settings.copies() {
            Vec::with_capacity(geo.capacity.min(1 << 20))
        } else {
            Vec::new()
        };
        Ok(Reader {
            entry,
            token,
            geo,
            tail,
            seq: next,
            pending: None,
            joined: seq,
            deliver_from,
            floor: head,
            assembly: Reassembly::default(),
            scratch,
            publisher,
            lagged: 0,
            waited: false,
            poisoned: None,
            wait: WaitState::new(),
            asymmetric,
            strategy,
            shared,
        })
    }

    fn line(&self) -> &SubscriberLine {
        &self.shared.table.entries()[self.entry]
    }

    /// Receives one message and calls `f` with its bytes: in place in the
    /// ring (strict topics), from the copy (topics whose subscribers can
    /// be overrun), or from the reassembly buffer (messages longer than
    /// the ring). Fails with `Stop::Lagged` after an overrun, having moved
    /// on to the resume point.
    pub(crate) fn recv_with<R>(
        &mut self,
        deadline: Deadline,
        f: impl FnOnce(&[u8]) -> R,
    ) -> Result<R, Stop> {
        if let Some(e) = self.poisoned {
            return Err(Stop::Corrupted(e));
        }
        match self.find(deadline) {
            Ok(found) => Ok(self.deliver(found, f)),
            Err(e) => {
                if let Stop::Corrupted(e) = e {
                    self.poisoned = Some(e);
                }
                Err(e)
            }
        }
    }

    /// Reads records at our tail until a whole message is found.
    fn find(&mut self, deadline: Deadline) -> Result<Found, Stop> {
        loop {
            let commit = self.wait_for_commit(deadline)?;
            if let Some(found) = self.take(commit)? {
                return Ok(found);
            }
        }
    }

    /// Takes the record at our tail whose commit word is `commit` (0: the
    /// wait saw the mark pass our tail): `Some` if it completes a message
    /// to deliver.
    fn take(&mut self, commit: u32) -> Result<Option<Found>, Stop> {
        let copies = self.shared.settings.copies();
        let record = if copies {
            match self.copy_record(commit)? {
                Some(record) => record,
                None => return self.overrun(),
            }
        } else {
            parse_record(self.shared.region.lane(0), &self.geo, self.tail, commit)?
        };
        match record.kind {
            Kind::Padding => self.release(record.slots),
            Kind::Hello => {
                // A new publisher: a message its predecessor was sending
                // in fragments will never end.
                self.abandon();
                self.release(record.slots);
            }
            Kind::Message => {
                self.abandon();
                let number = self.seq;
                self.seq += 1;
                if number < self.deliver_from {
                    self.release(record.slots);
                } else if copies {
                    return Ok(Some(Found::Copied(record)));
                } else {
                    return Ok(Some(Found::InRing(record)));
                }
            }
            Kind::First | Kind::Middle | Kind::Last => {
                if record.kind == Kind::First {
                    self.pending = Some(self.seq);
                    self.seq += 1;
                }
                let max = self.geo.config.max_message_size;
                let step = if copies {
                    self.assembly
                        .feed(record.kind, record.total, &self.scratch, max)
                } else {
                    let assembly = &mut self.assembly;
                    // SAFETY: the record's commit word, acquired at our
                    // tail, says it is written, `parse_record` checked that
                    // it lies within the ring, and the publisher leaves it
                    // alone until our tail passes it (a strict topic).
                    unsafe {
                        self.shared.region.lane(0).slots().read(
                            record.offset,
                            record.len,
                            |bytes| assembly.feed(record.kind, record.total, bytes, max),
                        )
                    }
                }?;
                self.release(record.slots);
                if step == Step::Complete {
                    if let Some(number) = self.pending.take() {
                        if number >= self.deliver_from {
                            return Ok(Some(Found::Assembled));
                        }
                    }
                }
            }
        }
        Ok(None)
    }

    /// Copies the record at our tail (commit word `commit`) into `scratch`
    /// and checks it: `None` if the publisher overwrote it meanwhile (the
    /// mark passed our tail).
    fn copy_record(&mut self, commit: u32) -> Result<Option<Record>, Stop> {
        let tail = self.tail;
        let control = self.shared.control();
        let overrun = |e: &'static str| {
            // SYNC: mark-cover (Acquire side), as in `mark_after_copy`.
            if shared::mark_after_copy(control) > tail {
                Ok(None)
            } else {
                Err(Stop::Corrupted(CorruptedError::new(e)))
            }
        };
        if commit == 0 {
            return overrun("empty commit word");
        }
        let kind = match unstamp(commit, tail) {
            Ok(kind) => kind,
            Err(e) => return overrun(e),
        };
        let memory = self.shared.region.lane(0).slots();
        let offset = self.geo.offset(tail);
        let (len, total) = if kind == Kind::Padding {
            (0, 0)
        } else {
            (
                memory.word32(offset).load(Relaxed),
                memory.word64(offset + 8).load(Relaxed),
            )
        };
        let record = match check_record(&self.geo, tail, kind, len, total) {
            Ok(record) => record,
            Err(e) => return overrun(e.check()),
        };
        self.scratch.clear();
        if record.len > 0 {
            memory.load_words(record.offset, record.len, &mut self.scratch);
        }
        if shared::mark_after_copy(control) > tail {
            return Ok(None);
        }
        Ok(Some(record))
    }

    /// We were overrun: go on from the resume point, and report what we
    /// missed (`Ok(None)` if it was only padding, or history).
    fn overrun(&mut self) -> Result<Option<Found>, Stop> {
        let control = self.shared.control();
        let mark =
            shared::load_mark(control).ok_or(CorruptedError::new("topic mark never settles"))?;
        let oldest = self.pending.unwrap_or(self.seq);
        if mark.resume_pos < mark.mark
            || mark.resume_pos <= self.tail
            || mark.resume_pos > crate::spsc::MAX_POSITION
            || mark.resume_seq < oldest
            || mark.resume_seq > mark.resume_pos
        {
            return Err(CorruptedError::new("topic resume point out of range").into());
        }
        let missed = mark.resume_seq - oldest.max(self.joined).min(mark.resume_seq);
        self.abandon();
        self.tail = mark.resume_pos;
        self.seq = mark.resume_seq;
        let line = self.line();
        line.tail.store(self.tail.max(self.floor), Relaxed);
        // SYNC: cut (Release side): a publisher that sees the word clear
        // sees our new tail.
        line.cut.store(0, Release);
        // SYNC: join (subscriber's half), as in `join`: a publisher that
        // did not see us back overwrites nothing at or above a head we can
        // still read from without our reads finding out (the mark).
        fence(SeqCst);
        line.next_seq.store(self.seq, Relaxed);
        if missed == 0 {
            return Ok(None);
        }
        line.lagged.bump_by(missed);
        line.lag_events.bump();
        self.lagged += missed;
        Err(Stop::Lagged(missed))
    }

    /// Drops a partly assembled message.
    fn abandon(&mut self) {
        self.assembly.abandon();
        self.pending = None;
    }

    /// Calls `f` with the message `found`, and frees its record.
    fn deliver<R>(&mut self, found: Found, f: impl FnOnce(&[u8]) -> R) -> R {
        let out = match found {
            Found::InRing(record) => {
                // SAFETY: the record's commit word, acquired at our tail,
                // says it is written, `parse_record` checked that it lies
                // within the ring, and the publisher leaves it alone until
                // our tail passes it (a strict topic).
                let out = unsafe {
                    self.shared
                        .region
                        .lane(0)
                        .slots()
                        .read(record.offset, record.len, f)
                };
                self.release(record.slots);
                out
            }
            Found::Copied(record) => {
                let out = f(&self.scratch);
                self.release(record.slots);
                out
            }
            Found::Assembled => f(self.assembly.message()),
        };
        self.line().received.bump();
        out
    }

    /// Moves our tail past a record of `slots` slots and publishes it,
    /// waking the publisher if it waits for room.
    #[inline]
    fn release(&mut self, slots: u64) {
        self.tail += slots;
        let line = &self.shared.table.entries()[self.entry];
        line.next_seq.store(self.seq, Relaxed);
        if self.tail > self.floor {
            // SYNC: tail-publish. Release: our reads of the freed slots
            // happen before the publisher, Acquire-loading this tail,
            // overwrites them.
            line.tail.store(self.tail, Release);
        }
        if !self.shared.settings.lossy {
            let lane = self.shared.region.lane(0).header();
            wait::wake_peer(
                &self.shared.region.header().receiver.symmetric,
                &lane.control.tx,
                self.asymmetric,
                &lane.consumer.counters.wakes,
            );
        }
    }

    /// Waits for the record at our tail to be committed; returns its
    /// commit word, or 0 if a copying subscriber saw the mark pass its
    /// tail meanwhile.
    fn wait_for_commit(&mut self, deadline: Deadline) -> Result<u32, Stop> {
        let shared = &*self.shared;
        let lane = shared.region.lane(0);
        let word = lane.slots().commit_word(self.tail);
        // SYNC: commit-publish (Acquire side): a record found committed is
        // completely written, and so is the zeroing of the word after it.
        let commit = word.load(Acquire);
        if commit != 0 {
            self.waited = false;
            return Ok(commit);
        }
        let memory = lane.slots();
        let second_line = self.geo.offset(self.tail) + 64;
        let prefetch = self.waited && self.geo.config.slot_size > 64;
        self.waited = true;
        let tail = self.tail;
        let copies = shared.settings.copies();
        let control = shared.control();
        let owner = &lane.header().control.sender;
        let publisher = &mut self.publisher;
        wait::wait_broadcast(
            self.strategy,
            deadline,
            &control.event,
            &shared.region.header().receiver.symmetric,
            &control.sleeps,
            &mut self.wait,
            |look| {
                if prefetch {
                    // A hint only: nothing is read before the commit word
                    // says so.
                    memory.prefetch(second_line);
                }
                // SYNC: commit-publish (Acquire side), as above.
                match word.load(Acquire) {
                    0 => {}
                    commit => return Some(Ok(commit)),
                }
                if copies && look.thorough && control.mark.load(Relaxed) > tail {
                    return Some(Ok(0));
                }
                if !publisher.gone(owner, look.liveness) {
                    return None;
                }
                // Gone after its last commit: a look now finds it. A word
                // still 0 may be a slot the publisher overwrote (cleared for
                // its next record) after lapping us: overrun, not the end,
                // whether or not this look was thorough.
                match word.load(Acquire) {
                    0 if copies && control.mark.load(Relaxed) > tail => Some(Ok(0)),
                    0 => Some(Err(Stop::Disconnected)),
                    commit => Some(Ok(commit)),
                }
            },
        )
    }

    /// Whether no record is committed at our tail (a snapshot).
    pub(crate) fn is_empty(&self) -> bool {
        let word = self.shared.region.lane(0).slots().commit_word(self.tail);
        word.load(Relaxed) == 0
    }

    /// Whether the publisher has detached or died (reads `/proc`).
    pub(crate) fn is_disconnected(&self) -> bool {
        let mut publisher = self.publisher;
        publisher.gone(&self.shared.region.lane(0).header().control.sender, true)
    }

    /// Loom models only: the death of this subscriber's process, as the
    /// publisher sees it; the drop then detaches nothing.
    #[cfg(shmq_loom)]
    pub(crate) fn die_in_place(&mut self) {
        self.line()
            .owner
            .token
            .store(peer::LOOM_DEAD_TOKEN, Release);
        self.token = 0;
    }
}

/// The join handshake: stores a first tail, then reads the join point
/// (head, next message number) to start from.
///
/// SYNC: join. The subscriber stores a tail no later than the head it
/// will start from, issues `fence(SeqCst)`, then reads the join point; the
/// publisher, before it reads the tails to find room, issues
/// `fence(SeqCst)` after its last join-point store (`Gate::tail`). Either
/// the publisher sees our tail (and waits for us from there), or we see a
/// head at least as new as the one its look was made at, and it
/// overwrites nothing at or above that head before its next look, which
/// sees our tail.
fn join(shared: &Shared, line: &SubscriberLine) -> Result<(u64, u64), OpenError> {
    let producer = shared.producer_line();
    let first = shared::load_join_point(producer)
        .ok_or(OpenErrorKind::BadHeader("topic join point never settles"))?;
    line.cut.store(0, Relaxed);
    line.tail.store(first.0, Relaxed);
    fence(SeqCst);
    let (head, seq) = shared::load_join_point(producer)
        .ok_or(OpenErrorKind::BadHeader("topic join point never settles"))?;
    // Every message starts at a position of its own: never more messages
    // than positions.
    if head < first.0 || head > crate::spsc::MAX_POSITION || seq < first.1 || seq > head {
        return Err(OpenErrorKind::BadHeader("topic join point out of range").into());
    }
    // SYNC: tail-publish (Release), as a tail stored after reading.
    line.tail.store(head, Release);
    // A publisher that found our first tail holding it up may be asleep
    // waiting for it to move: wake it, as `release` does.
    let lane = shared.region.lane(0).header();
    wait::wake_peer(
        &shared.region.header().receiver.symmetric,
        &lane.control.tx,
        false,
        &lane.consumer.counters.wakes,
    );
    Ok((head, seq))
}

impl Drop for Reader {
    fn drop(&mut self) {
        if crate::sync::LOOM && std::thread::panicking() {
            return;
        }
        let line = self.line();
        // A subscriber that died (`die_in_place`, under loom) stores
        // nothing: its publisher must find it dead by its token.
        if self.token != 0 {
            // Not holding anything: a publisher that reads this before it
            // sees the entry free skips it.
            line.tail.store(u64::MAX, Relaxed);
            peer::detach(&line.owner, self.token);
        }
        // A publisher asleep waiting for room may now have it (after a
        // death under loom: the end of its timed sleep, when it looks at
        // our process; see `wait::loom_slice_end`).
        let lane = self.shared.region.lane(0).header();
        wait::wake_peer(
            &self.shared.region.header().receiver.symmetric,
            &lane.control.tx,
            false,
            &lane.consumer.counters.wakes,
        );
    }
}
