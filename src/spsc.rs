//! The single-producer single-consumer ring.
//!
//! A ring of variable-length records of whole slots, published record by
//! record through a commit word in each record's header (as Aeron's frame
//! length, or the turn counters of Vyukov's and rigtorp's queues), with the
//! receiver's index cached by the sender (rigtorp's `SPSCQueue`):
//!
//! * `head` (sender-owned line) and `tail` (receiver-owned line) are
//!   monotonic 64-bit slot positions; a position `p` lives in slot
//!   `p & (slot_count - 1)`, and `tail <= head < tail + slot_count`.
//! * The sender zeroes the commit word of the position after the record
//!   (`SYNC: commit-clear`), writes the payload, `len` and `total`, then
//!   stores the record's commit word with Release (`SYNC: commit-publish`),
//!   and then its head (read by the sender's successor, by stats, and as a
//!   hint by a receiver in a stream of long records).
//!   The receiver Acquire-loads the commit word at its tail, reads the
//!   record, and stores the new tail with Release (`SYNC: tail-publish`),
//!   which the sender Acquire-loads before reusing those slots. A hop thus
//!   moves the record's own cache lines and nothing else: the receiver
//!   spins on the line it is about to read. (In a stream of records longer
//!   than a slot, the receiver goes by head first; see
//!   `Consumer::next_record`.)
//! * The sender keeps the last tail it read and reloads it only when that
//!   copy says it must wait, so the receiver's line is touched once per
//!   batch rather than once per message.
//! * A record never wraps: the sender fills the end of the ring with a
//!   padding record first. So every message of up to the ring less one slot
//!   (`capacity()`) is one contiguous slice the receiver reads in place.
//!
//! Every index and header read from the segment is checked before use; a
//! violation is a [`CorruptedError`], and the handle refuses further work.

use std::ptr::NonNull;
use std::sync::Arc;

use crate::error::{CorruptedError, OpenError, OpenErrorKind, Role, Stop};
use crate::frag::{self, Reassembly, Step};
use crate::layout::{Config, Kind, RECORD_HEADER, RecordHeader, stamp, unstamp};
use crate::peer;
use crate::segment::{Lane, Region};
use crate::sync::Ordering::{Acquire, Relaxed, Release};
use crate::wait::{self, Deadline, WaitState, WaitStrategy};

/// Copy of the validated configuration with the derived numbers each side
/// needs on every message.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Geometry {
    pub(crate) config: Config,
    pub(crate) mask: u64,
    pub(crate) slots: u64,
    pub(crate) capacity: usize,
    pub(crate) fragment: usize,
    /// Longest message that goes in a record of one slot:
    /// `slot_size - RECORD_HEADER`, at most `max_message_size`.
    pub(crate) one_slot: usize,
    /// `log2(slot_size)` when the slot size is a power of two (the usual
    /// case), so `slots_for` is a shift rather than a division.
    slot_shift: Option<u32>,
}

impl Geometry {
    pub(crate) fn new(config: Config) -> Self {
        Geometry {
            config,
            mask: config.slot_count as u64 - 1,
            slots: config.slot_count as u64,
            capacity: config.capacity(),
            fragment: config.fragment_size(),
            one_slot: (config.slot_size - RECORD_HEADER)
                .min(usize::try_from(config.max_message_size).unwrap_or(usize::MAX)),
            slot_shift: config
                .slot_size
                .is_power_of_two()
                .then(|| config.slot_size.trailing_zeros()),
        }
    }

    /// Slots taken by a record with `len` payload bytes (`len` is at most
    /// the ring's capacity, so the sum cannot overflow).
    #[inline]
    fn slots_for(&self, len: usize) -> u64 {
        let bytes = RECORD_HEADER + len;
        let slots = match self.slot_shift {
            Some(shift) => (bytes + (1 << shift) - 1) >> shift,
            None => bytes.div_ceil(self.config.slot_size),
        };
        debug_assert_eq!(slots, self.config.slots_for(len));
        slots as u64
    }

    #[inline]
    pub(crate) fn offset(&self, position: u64) -> usize {
        (position & self.mask) as usize * self.config.slot_size
    }
}

/// Whether this process may publish with the light barrier; if it cannot
/// take part in the asymmetric pair, marks the segment symmetric first.
pub(crate) fn barrier_ready(line: &crate::layout::ReceiverLine) -> bool {
    let ready = crate::sync::barrier::asymmetric_available();
    if !ready {
        // Before this process ever sleeps or publishes: the fence orders the
        // store before our first handshake, so publishers that load the word
        // after it use full fences (one mid-publish can only delay a wake-up
        // by a slice, see `wait_until`).
        line.symmetric.store(1, Relaxed);
        crate::sync::fence(crate::sync::Ordering::SeqCst);
    }
    ready
}

/// Where the receiver sleeps, waiting for a record on any lane or for a
/// sender: the doorbell.
fn receiver_bed(header: &crate::layout::Header) -> wait::Bed<'_> {
    wait::Bed {
        slot: &header.receiver.rx,
        symmetric: &header.receiver.symmetric,
        sleeps: &header.receiver.sleeps,
    }
}

/// Checks an index pair read from the segment.
#[inline]
fn check_indices(tail: u64, head: u64, slots: u64) -> Result<(), CorruptedError> {
    // The sender always keeps one slot free: `head - tail < slots`.
    if head < tail || head - tail >= slots {
        return Err(CorruptedError::new("head and tail indices out of range"));
    }
    if head > MAX_POSITION {
        return Err(CorruptedError::new("index beyond 2^62"));
    }
    Ok(())
}

/// Largest position we accept from the segment. Positions grow by at most
/// one ring per record from there, so arithmetic on them cannot overflow
/// (2^62 slots at a billion per second is over a century).
pub(crate) const MAX_POSITION: u64 = 1 << 62;

/// Loads the receiver's tail of `lane` into `cached`, checking it against
/// our head.
#[inline]
fn load_tail(lane: &Lane, head: u64, slots: u64, cached: &mut u64) -> Result<u64, CorruptedError> {
    // SYNC: tail-publish (Acquire side): the receiver is done reading every
    // slot below this tail, so we may overwrite them.
    let tail = lane.header().consumer.tail.load(Acquire);
    check_indices(tail, head, slots)?;
    *cached = tail;
    Ok(tail)
}

/// Checks the record at `position` whose commit word, Acquire-loaded, is the
/// non-zero `commit`, and reads its header.
#[inline]
pub(crate) fn parse_record(
    lane: &Lane,
    geo: &Geometry,
    position: u64,
    commit: u32,
) -> Result<Record, CorruptedError> {
    let kind = unstamp(commit, position).map_err(CorruptedError::new)?;
    if kind == Kind::Padding {
        return check_record(geo, position, kind, 0, 0);
    }
    // SAFETY: the slot is in the ring; the acquired commit word says its
    // header is written, and the sender leaves it alone until our tail has
    // passed it.
    let header = unsafe {
        lane.slots().read(
            geo.offset(position),
            RECORD_HEADER,
            RecordHeader::from_bytes,
        )
    };
    check_record(geo, position, kind, header.len, header.total)
}

/// Checks the header (`len`, `total`) of a `kind` record at `position`,
/// read from the segment, and says where its payload lies.
#[inline]
pub(crate) fn check_record(
    geo: &Geometry,
    position: u64,
    kind: Kind,
    len: u32,
    total: u64,
) -> Result<Record, CorruptedError> {
    let index = position & geo.mask;
    let offset = geo.offset(position);
    if kind == Kind::Padding {
        if index == 0 {
            return Err(CorruptedError::new("padding at the start of the ring"));
        }
        return Ok(Record {
            kind,
            offset,
            len: 0,
            total: 0,
            slots: geo.slots - index,
        });
    }
    let len = len as usize;
    if kind == Kind::Hello && len != 0 {
        return Err(CorruptedError::new("hello record with a payload"));
    }
    if len > geo.capacity {
        return Err(CorruptedError::new("record longer than the ring"));
    }
    let slots = geo.slots_for(len);
    if index + slots > geo.slots {
        return Err(CorruptedError::new("record wraps around the ring"));
    }
    if kind == Kind::Message && len as u64 > geo.config.max_message_size {
        return Err(CorruptedError::new("message longer than max_message_size"));
    }
    Ok(Record {
        kind,
        offset: offset + RECORD_HEADER,
        len,
        total,
        slots,
    })
}

/// The head a sender starts from when it attaches: the head its predecessor
/// stored, moved past the one record the predecessor may have committed
/// without storing the head after it (it died between the two stores at the
/// end of `Producer::commit`). The commit word there is 0 otherwise: it was
/// zeroed before the record that ends at head was committed.
fn recover_head(lane: &Lane, geo: &Geometry) -> Result<(u64, Option<Kind>), OpenError> {
    // SYNC: head-publish (Acquire side, for the previous sender's head).
    let head = lane.header().producer.head.load(Acquire);
    if head > MAX_POSITION {
        return Err(OpenErrorKind::BadHeader("head and tail indices out of range").into());
    }
    // SYNC: commit-publish (Acquire side): a record committed there is
    // completely written.
    let commit = lane.slots().commit_word(head).load(Acquire);
    if commit == 0 {
        return Ok((head, None));
    }
    match parse_record(lane, geo, head, commit) {
        Ok(record) => Ok((head + record.slots, Some(record.kind))),
        Err(_) => Err(OpenErrorKind::BadHeader("corrupt record at head").into()),
    }
}

/// The sending side of one lane's ring.
#[derive(Debug)]
pub(crate) struct Producer {
    region: Arc<Region>,
    /// Our lane's index.
    lane: usize,
    /// Our lane, in `region` (see `lane()`): looked up once, not on every
    /// access (the bounds-checked index cost about 30 instructions a
    /// message, measured under callgrind).
    lane_ptr: NonNull<Lane>,
    geo: Geometry,
    token: u64,
    /// Our head (we are its only writer while attached).
    head: u64,
    /// Last tail read from the receiver's line; `<=` the real tail.
    cached_tail: u64,
    /// A position past head whose commit word we zeroed ahead of time (see
    /// `commit`); 0 for none (no record ends at position 0).
    precleared: u64,
    /// Messages shorter than this may take `send`'s fast path: one more
    /// than `geo.one_slot`, or 0 while our `Hello` record is not written
    /// yet (the ring was full when we attached).
    fast_below: usize,
    /// Set once the segment broke the protocol.
    poisoned: Option<CorruptedError>,
    /// Which receivers count as our peer (see `peer::Session`).
    receiver: peer::Session,
    /// Liveness and CPU-sharing memory of our waits.
    wait: WaitState,
    /// Whether this process can use the light half of the wake barrier.
    asymmetric: bool,
    pub(crate) strategy: WaitStrategy,
    /// A topic's publisher: what it gates on and how it publishes (see
    /// `topic::gate`); `None` for a queue's sender.
    topic: Option<Box<crate::topic::Gate>>,
}

// SAFETY: `lane_ptr` is a shared reference into `region` (a `Region` is
// `Send + Sync`), kept alive by the `Arc` beside it; everything else in a
// producer is `Send`.
unsafe impl Send for Producer {}

impl Producer {
    /// Attaches a sender to the first lane no live holder has (taking over
    /// a lane whose holder died), and writes its `Hello` record.
    pub(crate) fn attach(region: Arc<Region>, strategy: WaitStrategy) -> Result<Self, OpenError> {
        let lanes = region.lanes().len();
        let mut last = None;
        for lane in 0..lanes {
            match Self::attach_lane(Arc::clone(&region), lane, strategy, None) {
                Ok(producer) => return Ok(producer),
                Err(e) if matches!(e.kind(), OpenErrorKind::AlreadyAttached { .. }) => {
                    last = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(match last {
            Some(e) if lanes == 1 => e,
            _ => OpenErrorKind::TooManySenders { limit: lanes }.into(),
        })
    }

    /// Attaches the publisher of the topic `shared` (taking over from a
    /// dead one), and writes its `Hello` record.
    pub(crate) fn attach_topic(
        shared: Arc<crate::topic::Shared>,
        strategy: WaitStrategy,
    ) -> Result<Self, OpenError> {
        Self::attach_lane(Arc::clone(&shared.region), 0, strategy, Some(shared))
    }

    fn attach_lane(
        region: Arc<Region>,
        index: usize,
        strategy: WaitStrategy,
        topic: Option<Arc<crate::topic::Shared>>,
    ) -> Result<Self, OpenError> {
        let header = region.header();
        let lane = region.lane(index);
        let owner = &lane.header().control.sender;
        let token = peer::claim(owner, Role::Sender)?;
        let geo = Geometry::new(*region.config());
        // Our own index first: nobody else writes it while we hold the end,
        // so the tail read after it can only have moved towards it.
        let (head, recovered) = match recover_head(lane, &geo) {
            Ok(found) => found,
            Err(e) => {
                peer::detach(owner, token);
                return Err(e);
            }
        };
        let (tail, topic) = match topic {
            None => {
                // SYNC: tail-publish (Acquire side).
                (lane.header().consumer.tail.load(Acquire), None)
            }
            Some(shared) => {
                let started = matches!(recovered, Some(Kind::Message | Kind::First));
                let gate =
                    crate::topic::Gate::attach(shared, head, started).and_then(|mut gate| {
                        let look = wait::Look::thorough(false);
                        match gate.tail(head, 0, geo.slots, look, true) {
                            Ok(tail) => Ok((tail, Some(Box::new(gate)))),
                            Err(_) => {
                                Err(OpenErrorKind::BadHeader("subscriber tail out of range").into())
                            }
                        }
                    });
                match gate {
                    Ok(found) => found,
                    Err(e) => {
                        peer::detach(owner, token);
                        return Err(e);
                    }
                }
            }
        };
        if check_indices(tail, head, geo.slots).is_err() {
            peer::detach(owner, token);
            return Err(OpenErrorKind::BadHeader("head and tail indices out of range").into());
        }
        peer::announce(owner);
        // SYNC: sender-events (Release): a mailbox's waiting receiver that
        // sees the new count sees our claim.
        header.receiver.sender_events.fetch_add(1, Release);
        let receiver = peer::Session::start(&header.receiver.receiver);
        let asymmetric = barrier_ready(&header.receiver);
        let mut producer = Producer {
            lane: index,
            lane_ptr: NonNull::from(lane),
            geo,
            token,
            head,
            cached_tail: tail,
            precleared: 0,
            fast_below: 0,
            poisoned: None,
            receiver,
            wait: WaitState::new(),
            asymmetric,
            strategy,
            region,
            topic,
        };
        if producer.has_room(1) {
            producer.write_hello();
        }
        // A receiver asleep in `wait_for_sender` waits for the epoch we
        // just raised. Full fence (not the light barrier): this is the slow
        // path, and the receiver may be asleep with its heavy half done.
        let header = producer.region.header();
        wait::ring_doorbell(
            &header.receiver,
            index,
            false,
            &producer.region.lane(index).header().producer.counters.wakes,
        );
        Ok(producer)
    }

    /// Our lane.
    #[inline(always)]
    fn lane(&self) -> &Lane {
        // SAFETY: `lane_ptr` points into the lanes of `self.region`, which
        // this producer keeps alive and which never move or change.
        unsafe { self.lane_ptr.as_ref() }
    }

    /// The lane this sender holds.
    pub(crate) fn lane_index(&self) -> usize {
        self.lane
    }

    /// Writes our `Hello` record at head, which must have room for it: it
    /// tells the receiver who sends the records that follow.
    fn write_hello(&mut self) {
        let at = self.head;
        self.commit(at, Kind::Hello, 0, self.token, 1);
        self.fast_below = self.geo.one_slot + 1;
    }

    pub(crate) fn region(&self) -> &Arc<Region> {
        &self.region
    }

    pub(crate) fn geometry(&self) -> &Geometry {
        &self.geo
    }

    /// A topic publisher's gate.
    pub(crate) fn topic_gate(&self) -> Option<&crate::topic::Gate> {
        self.topic.as_deref()
    }

    /// Fails if the receiver has detached or died, or the segment is
    /// poisoned. Whether the receiver's process still lives is asked once a
    /// liveness slice (a `/proc` read every 40 ms at most; see
    /// `wait::send_liveness_due` for how often the clock is read): so a
    /// sender learns of a killed receiver on its next send, whether or not
    /// the ring is full (in a burst of sends, within 32 sends).
    #[inline]
    fn check_usable(&mut self) -> Result<(), Stop> {
        if let Some(e) = self.poisoned {
            return Err(Stop::Corrupted(e));
        }
        let liveness = wait::send_liveness_due(&mut self.wait);
        if self
            .receiver
            .gone(&self.region.header().receiver.receiver, liveness)
        {
            return Err(Stop::Disconnected);
        }
        Ok(())
    }

    fn poison<T>(&mut self, e: CorruptedError) -> Result<T, Stop> {
        self.poisoned = Some(e);
        Err(Stop::Corrupted(e))
    }

    /// Reloads the receiver's tail.
    #[inline]
    fn load_tail(&mut self) -> Result<u64, CorruptedError> {
        // SAFETY: as in `lane()`; a borrow independent of `self`, whose
        // `cached_tail` is written.
        let lane = unsafe { self.lane_ptr.as_ref() };
        load_tail(lane, self.head, self.geo.slots, &mut self.cached_tail)
    }

    /// Waits until a record of `slots` slots can be written at head: those
    /// slots and the one after it (whose commit word `commit` zeroes) are
    /// free.
    #[inline]
    fn ensure_space(&mut self, slots: u64, deadline: Deadline) -> Result<(), Stop> {
        if self.has_room(slots) {
            return Ok(());
        }
        self.wait_for_space(self.geo.slots - slots - 1, deadline)
    }

    /// Whether, by the cached tail, a record of `slots` slots can be written
    /// at head now (as `ensure_space` requires), without reloading the tail.
    #[inline(always)]
    fn has_room(&self, slots: u64) -> bool {
        debug_assert!(slots >= 1 && slots < self.geo.slots);
        self.head - self.cached_tail < self.geo.slots - slots
    }

    /// The slow path of `ensure_space`: reloads the tail, and waits for it
    /// if there is still too little room (`head - tail <= limit`).
    #[cold]
    #[inline(never)]
    fn wait_for_space(&mut self, limit: u64, deadline: Deadline) -> Result<(), Stop> {
        if self.topic.is_some() {
            return self.wait_for_subscribers(self.head.saturating_sub(limit), deadline, true);
        }
        match self.load_tail() {
            Ok(tail) if self.head - tail <= limit => return Ok(()),
            Ok(_) => {}
            Err(e) => return self.poison(e),
        }
        let head = self.head;
        self.wait_for_tail(deadline, true, |tail| head - tail <= limit)
    }

    /// Waits, as the strategy says, until `ready(tail)` holds for the
    /// receiver's tail; fails if the receiver goes first. Shared by the wait
    /// for room (which `backoff`s, see `wait::wait_until`) and `flush`.
    /// Poisons the handle on a corrupt tail.
    fn wait_for_tail(
        &mut self,
        deadline: Deadline,
        backoff: bool,
        ready: impl Fn(u64) -> bool,
    ) -> Result<(), Stop> {
        let (region, head, slots) = (&*self.region, self.head, self.geo.slots);
        // SAFETY: as in `lane()` (a borrow of the field, not of `self`,
        // so the fields below can be borrowed mutably beside it).
        let lane = unsafe { self.lane_ptr.as_ref() };
        let cached = &mut self.cached_tail;
        let state = &mut self.wait;
        let receiver = &mut self.receiver;
        let header = region.header();
        let result = wait::wait_until(
            self.strategy,
            deadline,
            wait::Bed {
                slot: &lane.header().control.tx,
                symmetric: &header.receiver.symmetric,
                sleeps: &lane.header().producer.counters.sleeps,
            },
            state,
            backoff,
            |look| match load_tail(lane, head, slots, cached) {
                Err(e) => Some(Err(Stop::Corrupted(e))),
                Ok(tail) if ready(tail) => Some(Ok(())),
                Ok(_) if receiver.gone(&header.receiver.receiver, look.liveness) => {
                    Some(Err(Stop::Disconnected))
                }
                Ok(_) => None,
            },
        );
        if let Err(Stop::Corrupted(e)) = result {
            self.poisoned = Some(e);
        }
        result
    }

    /// A topic publisher's wait for room (`room`), until the gate's tail
    /// (see `topic::Gate::tail`) is at least `need`, or `flush`'s wait
    /// (`!room`) until every live subscriber's is. Sleeps, if it must, on
    /// the lane's futex, which each subscriber's tail store wakes as a
    /// queue receiver's does.
    #[cold]
    #[inline(never)]
    fn wait_for_subscribers(
        &mut self,
        need: u64,
        deadline: Deadline,
        room: bool,
    ) -> Result<(), Stop> {
        let (region, head, slots) = (&*self.region, self.head, self.geo.slots);
        // SAFETY: as in `lane()` (a borrow of the field, not of `self`).
        let lane = unsafe { self.lane_ptr.as_ref() };
        let gate = self.topic.as_deref_mut().expect("a topic's publisher");
        let cached = &mut self.cached_tail;
        let mut look_now =
            |gate: &mut crate::topic::Gate, look| match gate.tail(head, need, slots, look, room) {
                Err(e) => Some(Err(Stop::Corrupted(e))),
                Ok(tail) => {
                    if check_indices(tail, head, slots).is_err() {
                        return Some(Err(Stop::Corrupted(CorruptedError::new(
                            "topic gate out of range",
                        ))));
                    }
                    if room {
                        // A flush's tail ignores the mark: never room.
                        *cached = tail;
                    }
                    (tail >= need).then_some(Ok(()))
                }
            };
        let result = match look_now(gate, wait::Look::thorough(false)) {
            Some(done) => done,
            None => {
                if room {
                    gate.blocked();
                }
                let header = region.header();
                wait::wait_until(
                    self.strategy,
                    deadline,
                    wait::Bed {
                        slot: &lane.header().control.tx,
                        symmetric: &header.receiver.symmetric,
                        sleeps: &lane.header().producer.counters.sleeps,
                    },
                    &mut self.wait,
                    // A flush waits for the last slots: no backoff.
                    room,
                    |look| look_now(gate, look),
                )
            }
        };
        match result {
            Ok(()) => gate.unblocked(),
            Err(Stop::Corrupted(e)) => self.poisoned = Some(e),
            Err(_) => {}
        }
        result
    }

    /// Publishes the record of `slots` slots at position `at` (its payload
    /// already written): zeroes the next record's commit word, writes the
    /// header and commits it.
    #[inline(always)]
    fn commit(&mut self, at: u64, kind: Kind, len: usize, total: u64, slots: u64) {
        // SAFETY: as in `lane()`; a borrow independent of `self`, whose
        // fields are written below.
        let lane = unsafe { self.lane_ptr.as_ref() };
        let memory = lane.slots();
        let next = at + slots;
        if next != self.precleared {
            // SYNC: commit-clear. Relaxed: ordered before the receiver's
            // reading of `next` by the Release below (the receiver acquires
            // this record before it looks at `next`), so it finds 0 there,
            // not the stale bytes of an earlier lap, until we commit `next`.
            // `ensure_space` left that slot free.
            memory.commit_word(next).store(0, Relaxed);
        }
        let offset = self.geo.offset(at);
        let copies = match self.topic.as_deref_mut() {
            None => false,
            Some(gate) => {
                if matches!(kind, Kind::Message | Kind::First) {
                    gate.on_start(at);
                }
                gate.copies()
            }
        };
        if copies {
            // Subscribers may be reading these bytes (see `topic::shared`).
            memory.word32(offset).store(len as u32, Relaxed);
            memory.word64(offset + 8).store(total, Relaxed);
        } else {
            // SAFETY: the record's slots are free (ensured by the caller),
            // so the receiver is not reading them; `len` and `total` (bytes
            // 0..4 and 8..16) fit in a slot and do not overlap the commit
            // word.
            unsafe {
                memory.write(offset, 4, |dst| {
                    dst.copy_from_slice(&(len as u32).to_le_bytes());
                });
                memory.write(offset + 8, 8, |dst| {
                    dst.copy_from_slice(&total.to_le_bytes());
                });
            }
        }
        // SYNC: commit-publish. Release: the payload and header written above
        // (and the commit-clear of `next`) are visible to the receiver that
        // Acquire-loads this word.
        memory.commit_word(at).store(stamp(kind, at), Release);
        self.head = next;
        let shared = lane.header();
        match self.topic.as_deref() {
            None => {
                // SYNC: head-publish. Release: pairs with the Acquire in
                // `recover_head` of a sender that takes our end over, and
                // with the receiver's in `next_record`, which reads head as
                // a hint.
                shared.producer.head.store(self.head, Release);
                shared.producer.counters.records.bump();
                wait::ring_doorbell(
                    &self.region.header().receiver,
                    self.lane,
                    self.asymmetric,
                    &shared.producer.counters.wakes,
                );
            }
            Some(gate) => {
                // The head with the number of the next message, for
                // subscribers that join (head-publish as above, inside).
                crate::topic::shared::store_join_point(&shared.producer, self.head, gate.next_seq);
                shared.producer.counters.records.bump();
                let control = gate.shared.control();
                wait::ring_event(
                    &control.event,
                    &self.region.header().receiver.symmetric,
                    self.asymmetric,
                    &control.wakes,
                );
            }
        }
        // SYNC: commit-clear, done ahead of time for the record after the
        // next if the next takes one slot: zero the word one past the new
        // head now, while we wait for our next message, rather than in front
        // of the next commit, where the store (and the fetch of its line,
        // which the receiver still holds from the last lap) would delay the
        // commit (measured: up to a third of a round trip at p50, more at
        // p99). The next record's Release orders it before the receiver's
        // reading, as above. Only if that slot is free; nothing else writes
        // the word until a record covers it, and then `next` moves past it.
        let ahead = next + 1;
        if ahead - self.cached_tail < self.geo.slots {
            memory.commit_word(ahead).store(0, Relaxed);
            self.precleared = ahead;
        }
    }

    /// Reserves room for a record of `len` payload bytes at head, writing a
    /// padding record first if it would wrap. Returns the position and the
    /// number of slots the record takes.
    #[inline]
    fn reserve_record(&mut self, len: usize, deadline: Deadline) -> Result<(u64, u64), Stop> {
        if self.fast_below == 0 {
            self.send_hello(deadline)?;
        }
        let slots = self.geo.slots_for(len);
        debug_assert!(slots < self.geo.slots);
        let index = self.head & self.geo.mask;
        if index + slots > self.geo.slots {
            self.pad(index, deadline)?;
        }
        self.ensure_space(slots, deadline)?;
        Ok((self.head, slots))
    }

    /// Writes the `Hello` record that did not fit when we attached.
    #[cold]
    #[inline(never)]
    fn send_hello(&mut self, deadline: Deadline) -> Result<(), Stop> {
        self.ensure_space(1, deadline)?;
        self.write_hello();
        Ok(())
    }

    /// Fills the ring from head (at slot `index`) to its end with a padding
    /// record, so that the next record starts at slot 0.
    #[cold]
    #[inline(never)]
    fn pad(&mut self, index: u64, deadline: Deadline) -> Result<(), Stop> {
        let pad = self.geo.slots - index;
        self.ensure_space(pad, deadline)?;
        let at = self.head;
        self.commit(at, Kind::Padding, 0, 0, pad);
        Ok(())
    }

    /// Writes one record of `kind` carrying `bytes`.
    #[inline(always)]
    fn write_record(
        &mut self,
        kind: Kind,
        bytes: &[u8],
        total: u64,
        deadline: Deadline,
    ) -> Result<(), Stop> {
        let (at, slots) = self.reserve_record(bytes.len(), deadline)?;
        self.write_at(at, slots, kind, bytes, total);
        Ok(())
    }

    /// Copies `bytes` into the record of `slots` slots at `at`, and commits
    /// it. The caller has made those slots (and the one after) free and
    /// contiguous, and `bytes` fits in them after the header.
    #[inline(always)]
    fn write_at(&mut self, at: u64, slots: u64, kind: Kind, bytes: &[u8], total: u64) {
        debug_assert!(self.geo.slots_for(bytes.len()) <= slots);
        let offset = self.geo.offset(at) + RECORD_HEADER;
        if self.topic.as_deref().is_some_and(|gate| gate.copies()) {
            // Subscribers may be reading these bytes (see `topic::shared`).
            self.lane().slots().store_words(offset, bytes);
        } else {
            // SAFETY: the caller made `slots` slots from `at` free and
            // contiguous, and the payload fits in them after the header.
            unsafe {
                self.lane()
                    .slots()
                    .write(offset, bytes.len(), |dst| dst.copy_from_slice(bytes));
            }
        }
        self.commit(at, kind, bytes.len(), total, slots);
    }

    /// Sends one message, fragmenting it if it is longer than the ring.
    #[inline(always)]
    pub(crate) fn send(&mut self, msg: &[u8], deadline: Deadline) -> Result<(), Stop> {
        // The common case, inline and without the general path's layers: a
        // message that fits in one slot (so it never wraps and needs no
        // padding), with room for it without a look at the tail. Measured:
        // `try_send` + `try_recv_with` of 64 bytes on one thread from 15.7
        // to 11.6 ns (criterion `fast_path`), and a 64-byte stream from
        // 0.79-0.83x of the raw ring to 1.1-1.3x in side-by-side runs (the
        // receiver reads the lines of a sender that is done with them
        // sooner).
        if msg.len() < self.fast_below && self.has_room(1) {
            self.check_usable()?;
            self.write_at(self.head, 1, Kind::Message, msg, msg.len() as u64);
            self.lane().header().producer.counters.messages.bump();
            return Ok(());
        }
        self.send_slow(msg, deadline)
    }

    /// `send`'s fast path for a message in two parts (`head`, then
    /// `body`), written straight into the slot: `None` if the message is
    /// not for the fast path (the caller sends it another way).
    ///
    /// The body is copied first and the head after it (the head ends in
    /// the record's first line, next to the commit word). Measured
    /// with a service's 64-byte calls (`shmq bench --quick --sizes 64
    /// --transports shmq-spin,shmq-service-spin --mode latency`, two runs
    /// each, 2026-12-03): head first 1.88x the plain queue's round trip,
    /// body first 1.15-1.16x.
    #[inline(always)]
    pub(crate) fn send_parts_fast(&mut self, head: &[u8], body: &[u8]) -> Option<Result<(), Stop>> {
        let len = head.len() + body.len();
        if len >= self.fast_below || !self.has_room(1) {
            return None;
        }
        if let Err(e) = self.check_usable() {
            return Some(Err(e));
        }
        let at = self.head;
        let offset = self.geo.offset(at) + RECORD_HEADER;
        // SAFETY: `has_room(1)`: the slot at head (and the one after) is
        // free, and `len` fits in one slot after the header.
        unsafe {
            self.lane().slots().write(offset, len, |dst| {
                let (h, b) = dst.split_at_mut(head.len());
                b.copy_from_slice(body);
                h.copy_from_slice(head);
            });
        }
        self.commit(at, Kind::Message, len, len as u64, 1);
        self.lane().header().producer.counters.messages.bump();
        Some(Ok(()))
    }

    /// `send` for every message its fast path does not take: longer ones,
    /// a ring that may be full, a poisoned or disconnected handle.
    #[inline(never)]
    fn send_slow(&mut self, msg: &[u8], deadline: Deadline) -> Result<(), Stop> {
        self.check_usable()?;
        let max = self.geo.config.max_message_size;
        if msg.len() as u64 > max {
            return Err(Stop::TooLarge {
                len: msg.len(),
                max: max as usize,
            });
        }
        if msg.len() <= self.geo.capacity {
            self.write_record(Kind::Message, msg, msg.len() as u64, deadline)?;
        } else {
            if deadline == Deadline::Now {
                // A message longer than the ring cannot go in one step.
                return Err(Stop::TooLarge {
                    len: msg.len(),
                    max: self.geo.capacity,
                });
            }
            for (kind, range) in frag::plan(msg.len(), self.geo.fragment) {
                self.write_record(kind, &msg[range], msg.len() as u64, deadline)?;
            }
        }
        self.lane().header().producer.counters.messages.bump();
        Ok(())
    }

    /// Reserves `len` contiguous payload bytes for a zero-copy write.
    /// Returns the pointer to them and the record's position and slot count.
    pub(crate) fn reserve(
        &mut self,
        len: usize,
        deadline: Deadline,
    ) -> Result<(*mut u8, u64, u64), Stop> {
        self.check_usable()?;
        let max = self
            .geo
            .capacity
            .min(self.geo.config.max_message_size as usize);
        if len > max {
            return Err(Stop::TooLarge { len, max });
        }
        let (at, slots) = self.reserve_record(len, deadline)?;
        if slots > 1 {
            // The caller's bytes cover the start of the slot after `at`, the
            // word `commit` zeroed ahead of time, and may stay there if the
            // guard is dropped uncommitted: zero it again at the next commit.
            self.precleared = 0;
        }
        // SAFETY: the reserved slots are free and contiguous; the payload
        // fits in them.
        let ptr = unsafe {
            self.lane()
                .slots()
                .write_ptr(self.geo.offset(at) + RECORD_HEADER, len)
        };
        Ok((ptr, at, slots))
    }

    /// Publishes a record reserved with [`reserve`](Self::reserve).
    pub(crate) fn commit_reserved(&mut self, at: u64, slots: u64, len: usize) {
        debug_assert_eq!(at, self.head, "one reservation at a time");
        self.commit(at, Kind::Message, len, len as u64, slots);
        self.lane().header().producer.counters.messages.bump();
    }

    /// Waits until the receiver has consumed everything published so far.
    pub(crate) fn flush(&mut self, deadline: Deadline) -> Result<(), Stop> {
        if let Some(e) = self.poisoned {
            return Err(Stop::Corrupted(e));
        }
        let target = self.head;
        if self.cached_tail >= target {
            return Ok(());
        }
        if let Some(gate) = self.topic.as_deref() {
            if gate.shared.settings.lossy {
                return Ok(());
            }
            return self.wait_for_subscribers(target, deadline, false);
        }
        self.wait_for_tail(deadline, false, |tail| tail >= target)
    }

    /// Whether the receiver has detached or died (reads `/proc`).
    pub(crate) fn is_disconnected(&self) -> bool {
        // A copy: what it learns is not noted, as a send would note it.
        let mut receiver = self.receiver;
        receiver.gone(&self.region.header().receiver.receiver, true)
    }

    /// How the receiver left, once a call has found it gone.
    pub(crate) fn last_departure(&self) -> Option<peer::Departure> {
        self.receiver.last_departure()
    }

    /// Loom models only: the death of this sender's process, as its peers
    /// see it: the lane's owner word keeps a token whose process is dead
    /// (Release: what it wrote before dying is visible to whoever finds it
    /// dead, as the kernel's teardown of a process makes it), and nothing
    /// is detached or cleaned up.
    #[cfg(shmq_loom)]
    pub(crate) fn die(mut self) {
        self.die_in_place();
    }

    /// [`die`](Self::die) for a handle its owner drops later (its drop
    /// then detaches nothing).
    #[cfg(shmq_loom)]
    pub(crate) fn die_in_place(&mut self) {
        let owner = &self.lane().header().control.sender;
        owner.token.store(peer::LOOM_DEAD_TOKEN, Release);
        // Our drop's detach then finds another token and changes nothing.
        self.token = 0;
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        if crate::sync::LOOM && std::thread::panicking() {
            // A failing loom model is unwinding: touching loom objects now
            // would abort the test binary and hide the failure report.
            return;
        }
        let lane = self.lane().header();
        peer::detach(&lane.control.sender, self.token);
        // SYNC: sender-events (Release), as in `attach_lane`: after the
        // detach, which a receiver that sees the new count then sees.
        let events = &self.region.header().receiver.sender_events;
        events.fetch_add(1, Release);
        // A receiver asleep waiting for data must learn that none will come.
        wait::ring_doorbell(
            &self.region.header().receiver,
            self.lane,
            false,
            &lane.producer.counters.wakes,
        );
        if let Some(gate) = self.topic.as_deref() {
            // And so must a topic's subscribers.
            wait::notify(&gate.shared.control().event);
        }
    }
}

/// How a batch started (see `Consumer::batch_start`).
#[derive(Debug, Clone, Copy)]
pub(crate) enum BatchStart {
    /// Messages held in the ring from position `from` on; the first one's
    /// payload is at `first` (offset and length).
    Held { from: u64, first: (usize, usize) },
    /// One message longer than the ring, in the reassembly buffer; its
    /// records are freed already.
    Assembled,
}

/// A record the consumer found below head.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Record {
    pub(crate) kind: Kind,
    /// Offset of the payload in the slot array.
    pub(crate) offset: usize,
    pub(crate) len: usize,
    pub(crate) total: u64,
    pub(crate) slots: u64,
}

/// A whole message found by `Consumer::find_message`.
#[derive(Debug, Clone, Copy)]
enum Found {
    /// In the ring, at the lane's tail: read it in place, then free it.
    InRing(Record),
    /// In the lane's reassembly buffer (its records are freed already).
    Assembled,
}

/// Messages a mailbox's receiver takes in a row from one lane that has
/// more before it looks at the next (`Receiver::set_lane_quantum`).
pub(crate) const DEFAULT_LANE_QUANTUM: u32 = 32;

/// Polls that a receiver waiting after a record of several slots spends
/// watching `head` before it watches the next commit word (see
/// `Consumer::next_record`): about 100 ns of pauses here, time for the
/// sender to finish writing a long record.
const HEAD_POLLS: u32 = 4;

/// A mailbox receiver that spins looks at every lane once every this many
/// polls, and at the lane it served last on the others (see
/// `Consumer::wait_any`).
const SCAN_EVERY: u32 = 8;

/// The receiver's state of one lane.
#[derive(Debug)]
struct LaneReader {
    /// Our tail (we are its only writer while attached).
    tail: u64,
    /// Last head read from the sender's line: the records below it are
    /// committed. A hint (see `next_record`).
    cached_head: u64,
    /// Slots of the last record read, padding aside.
    last_slots: u64,
    /// Whether the last record read had to be waited for, by this call or
    /// by earlier calls that found nothing (see `wait_for_commit`).
    waited: bool,
    /// Whether a call has found nothing since the last record read.
    missed: bool,
    assembly: Reassembly,
    /// Which senders of this lane count as our peer (see `peer::Session`).
    sender: peer::Session,
    /// Token of the sender whose records are at our tail (from its
    /// `Hello`); 0 if unknown.
    from: u64,
}

/// Who sent a message: the lane it came on and the token of the process
/// that held the lane then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Origin {
    pub(crate) lane: usize,
    pub(crate) token: u64,
}

/// The receiving side: one reader per sender lane, served round-robin.
#[derive(Debug)]
pub(crate) struct Consumer {
    region: Arc<Region>,
    /// The lanes of `region` (see `lane`): indexed without going through
    /// the `Arc` on every access (measured under callgrind: the lookups
    /// through it cost 18 instructions a message).
    table: NonNull<[Lane]>,
    geo: Geometry,
    token: u64,
    lanes: Box<[LaneReader]>,
    /// The lane to look at first: the one after the last lane served, so a
    /// busy sender cannot starve the others.
    next_lane: usize,
    /// Messages served in a row from lane `next_lane`; at `quantum` the
    /// receiver moves on to the next lane.
    run: u32,
    /// Messages a lane may be served in a row while it has more, before
    /// the receiver looks at the next lane (see `served`).
    pub(crate) quantum: u32,
    /// The lane of the last message received (and of a batch in progress).
    current: usize,
    /// Whether a message has been received (or a batch started) yet.
    served: bool,
    poisoned: Option<CorruptedError>,
    /// Records a batch has read past the published tail of lane `current`
    /// (our tail is ahead of it); 0 outside a batch.
    held_records: u64,
    /// How the last sender found gone left (mailboxes; a single lane keeps
    /// it in its session).
    last_departure: Option<peer::Departure>,
    /// Liveness and CPU-sharing memory of our waits.
    wait: WaitState,
    /// Whether this process can use the light half of the wake barrier.
    asymmetric: bool,
    pub(crate) strategy: WaitStrategy,
}

// SAFETY: `table` is a shared view of the lanes of `region` (a `Region` is
// `Send + Sync`), kept alive by the `Arc` beside it; everything else in a
// consumer is `Send`.
unsafe impl Send for Consumer {}

/// Lane `i` of `table`.
///
/// # Safety
/// `table` must point into the lanes of a region that stays alive for `'a`.
#[inline(always)]
unsafe fn lane_in<'a>(table: NonNull<[Lane]>, i: usize) -> &'a Lane {
    // SAFETY: the caller's promise; the index is bounds-checked.
    unsafe { &table.as_ref()[i] }
}

impl Consumer {
    /// Lane `i`.
    #[inline(always)]
    fn lane(&self, i: usize) -> &Lane {
        // SAFETY: `table` points into `self.region`, which `self` keeps
        // alive at least as long as the returned borrow of `self`.
        unsafe { lane_in(self.table, i) }
    }

    pub(crate) fn attach(region: Arc<Region>, strategy: WaitStrategy) -> Result<Self, OpenError> {
        let header = region.header();
        let owner = &header.receiver.receiver;
        let token = peer::claim(owner, Role::Receiver)?;
        let geo = Geometry::new(*region.config());
        let mut lanes = Vec::with_capacity(region.lanes().len());
        for lane in region.lanes() {
            let line = &lane.header().consumer;
            // SYNC: tail-publish (Acquire side, for the previous receiver's
            // tail, and the sender token it stored before it).
            let tail = line.tail.load(Acquire);
            // The sender's head is not ours to check: we follow commit words.
            if tail > MAX_POSITION {
                peer::detach(owner, token);
                return Err(OpenErrorKind::BadHeader("tail index beyond 2^62").into());
            }
            lanes.push(LaneReader {
                tail,
                cached_head: tail,
                last_slots: 1,
                waited: false,
                missed: false,
                assembly: Reassembly::default(),
                sender: peer::Session::start(&lane.header().control.sender),
                from: line.sender_token.load(Relaxed),
            });
        }
        peer::announce(owner);
        let asymmetric = barrier_ready(&header.receiver);
        Ok(Consumer {
            table: NonNull::from(region.lanes()),
            region,
            geo,
            token,
            lanes: lanes.into_boxed_slice(),
            next_lane: 0,
            run: 0,
            quantum: DEFAULT_LANE_QUANTUM,
            current: 0,
            served: false,
            poisoned: None,
            held_records: 0,
            last_departure: None,
            wait: WaitState::new(),
            asymmetric,
            strategy,
        })
    }

    pub(crate) fn region(&self) -> &Arc<Region> {
        &self.region
    }

    pub(crate) fn geometry(&self) -> &Geometry {
        &self.geo
    }

    /// Whether this is a mailbox (more than one sender lane).
    #[inline(always)]
    fn is_mailbox(&self) -> bool {
        self.lanes.len() > 1
    }

    /// Who sent the records at lane `current`'s tail.
    fn origin(&self) -> Origin {
        Origin {
            lane: self.current,
            token: self.lanes[self.current].from,
        }
    }

    /// Who sent the messages of the batch in progress.
    pub(crate) fn batch_origin(&self) -> Origin {
        self.origin()
    }

    /// Who sent the last message received (or the batch in progress).
    pub(crate) fn last_origin(&self) -> Option<Origin> {
        self.served.then(|| self.origin())
    }

    /// Waits for the record at lane `i`'s tail to be committed and checks
    /// it.
    ///
    /// The receiver watches the commit word itself, which lies in the
    /// record's first cache line: a record then arrives in the line
    /// transfers of the record alone. One refinement, measured:
    ///
    /// After a record of several slots the next one is likely long too, and
    /// a receiver that watched its first line would keep taking that line
    /// from the sender while the sender writes the rest (1 KiB throughput
    /// fell to 0.55-0.8x the raw ring). So in a stream of long records the
    /// receiver goes by `head`, which the sender stores after each commit:
    /// records below the last head it read are committed and taken without
    /// looking at any line the sender is writing, and when it has caught up
    /// it watches `head` for the first [`HEAD_POLLS`] polls of its wait, and
    /// only then the commit word. Small records, where latency counts most
    /// and a record is written in one go, are watched by their commit word
    /// from the first look (reading `head` there as well cost 64-byte
    /// throughput a quarter: it is one more line the sender writes per
    /// message).
    ///
    /// `head` is only a hint: a record is read only once its own commit word
    /// says so, so a wrong `head` costs speed, never correctness.
    #[inline]
    fn next_record(&mut self, i: usize, deadline: Deadline) -> Result<Record, Stop> {
        // SAFETY: `table` points into `self.region`, alive while `self` is
        // (a borrow apart from `self.lanes`, which is updated beside it).
        let lane = unsafe { lane_in(self.table, i) };
        let (tail, long, mut commit) = {
            let reader = &mut self.lanes[i];
            let tail = reader.tail;
            // A stream of long records (see above).
            let long = reader.last_slots > 1;
            if long && reader.cached_head <= tail {
                // SYNC: head-publish (Acquire side): every record below this
                // head is committed.
                reader.cached_head = lane.header().producer.head.load(Acquire);
            }
            let mut commit = 0;
            if !long || reader.cached_head > tail {
                // SYNC: commit-publish (Acquire side): the record whose stamp
                // we read is completely written, and so is the zeroing of the
                // commit word after it.
                commit = lane.slots().commit_word(tail).load(Acquire);
            }
            (tail, long, commit)
        };
        let waited = commit == 0;
        if waited {
            commit = match self.wait_for_commit(i, deadline, long) {
                Ok(commit) => commit,
                Err(e) => {
                    // Found nothing (a non-blocking call, or a timeout):
                    // the record this call looked for will have been
                    // waited for, by the caller's loop if not by us.
                    self.lanes[i].missed = true;
                    return Err(e);
                }
            };
        }
        let reader = &mut self.lanes[i];
        reader.waited = waited || std::mem::take(&mut reader.missed);
        let record = parse_record(lane, &self.geo, tail, commit)?;
        if record.kind != Kind::Padding && record.kind != Kind::Hello {
            reader.last_slots = record.slots;
        }
        Ok(record)
    }

    /// Waits for the record at lane `i`'s tail to be committed; returns its
    /// commit word.
    ///
    /// While it waits, the receiver also prefetches the slot's second cache
    /// line with each look at the commit word. A one-slot record of more
    /// than 48 bytes spills into that line, which the receiver would
    /// otherwise fetch only after it has seen the commit: two line transfers
    /// one after the other, where the floor's ping-pong has one. With the
    /// prefetch, the look that finds the commit has the second line on its
    /// way at the same time (measured: 64-byte round trips from 1.5-1.65x
    /// to 1.25-1.45x of the one-line floor). A prefetch is only a hint: it
    /// reads nothing, and the bytes are read only after the commit word
    /// says so.
    ///
    /// It does so only if the last record had to be waited for as well: a
    /// request-reply rhythm. A receiver that catches up with a stream finds
    /// the line still being written, and repeated prefetches take it away
    /// from the sender in the middle (measured: 64-byte throughput fell from
    /// 0.79-0.83x of the raw ring to 0.57-0.69x). In a stream, 98.7% of the
    /// waits came right after a record that was already there.
    ///
    /// A mailbox waits here only without waiting (`Deadline::Now`, to go on
    /// with a fragment chain); it waits for any lane in `wait_any`.
    #[inline(always)]
    fn wait_for_commit(&mut self, i: usize, deadline: Deadline, long: bool) -> Result<u32, Stop> {
        let region = &*self.region;
        let lane = region.lane(i);
        let reader = &mut self.lanes[i];
        let tail = reader.tail;
        let header = region.header();
        let memory = lane.slots();
        let word = memory.commit_word(tail);
        let second_line = self.geo.offset(tail) + 64;
        // Only a slot of more than one line has a second line to prefetch;
        // and only when the last record was waited for too (see above).
        let prefetch = reader.waited && self.geo.config.slot_size > 64;
        // Not for a non-blocking call: its one look must be at the word.
        let mut watch_head = if long && deadline != Deadline::Now {
            HEAD_POLLS
        } else {
            0
        };
        let sender = &mut reader.sender;
        let owner = &lane.header().control.sender;
        let producer = &lane.header().producer;
        wait::wait_until(
            self.strategy,
            deadline,
            receiver_bed(header),
            &mut self.wait,
            false,
            |look| {
                let committed = watch_head == 0 || {
                    watch_head -= 1;
                    // SYNC: head-publish (Acquire side), as above. Also
                    // a valid half of the sleep handshake: the sender
                    // stores head before its barrier, as it does the
                    // commit word.
                    producer.head.load(Acquire) > tail
                };
                if committed {
                    if prefetch {
                        memory.prefetch(second_line);
                    }
                    // SYNC: commit-publish (Acquire side), as above.
                    match word.load(Acquire) {
                        0 => {}
                        commit => return Some(Ok(commit)),
                    }
                }
                if !sender.gone(owner, look.liveness) {
                    return None;
                }
                // The sender is gone, and its last commit happened before
                // it detached (or died): a look at the word *after*
                // seeing it gone finds every record it committed, so a
                // receiver that still finds nothing has drained them all.
                match word.load(Acquire) {
                    0 => Some(Err(Stop::Disconnected)),
                    commit => Some(Ok(commit)),
                }
            },
        )
    }

    /// The commit word at lane `i`'s tail (0: nothing there yet).
    #[inline(always)]
    fn peek(&self, i: usize) -> u32 {
        // SYNC: commit-publish (Acquire side): a record found here is read
        // only after `next_record` loads the word again, with Acquire too.
        self.lane(i)
            .slots()
            .commit_word(self.lanes[i].tail)
            .load(Acquire)
    }

    /// Waits until a record is committed at the tail of some lane (a
    /// mailbox's wait), and returns the first such lane in round-robin
    /// order from `next_lane`; or fails with `Disconnected` once every
    /// sender it has seen is gone and no other holds a lane.
    ///
    /// It sleeps on the doorbell, which every lane's sender rings after a
    /// commit if the receiver registered (`SYNC: sleep-register`, as for one
    /// lane): its re-check after registering looks at *every* lane's commit
    /// word, so a commit on any lane either is seen by it or sees the
    /// registration. The ready bitmap only says which lanes to look at
    /// first.
    ///
    /// While it spins, most polls look at one commit word only: that of
    /// `next_lane`, the lane served last unless its quantum ran out, and the
    /// first in round-robin order. Every [`SCAN_EVERY`]th poll, and every
    /// thorough one (`wait::Look`), looks at all lanes. That lane's wait
    /// also prefetches the record's second line as `wait_for_commit` does,
    /// and on the same condition.
    fn wait_any(&mut self, deadline: Deadline) -> Result<usize, Stop> {
        let region = &*self.region;
        let header = region.header();
        let lanes = &mut self.lanes;
        let last = &mut self.last_departure;
        let start = self.next_lane;
        let (hot_word, hot_memory, second_line) = {
            let memory = region.lane(start).slots();
            let tail = lanes[start].tail;
            (memory.commit_word(tail), memory, self.geo.offset(tail) + 64)
        };
        // As in `wait_for_commit`: a request-reply rhythm on this lane.
        let prefetch = lanes[start].waited && self.geo.config.slot_size > 64;
        let mut polls = 0u32;
        // The sender-events count at the last look at the owner words.
        let mut seen_events = None;
        let found = wait::wait_until(
            self.strategy,
            deadline,
            receiver_bed(header),
            &mut self.wait,
            false,
            |look| {
                polls = polls.wrapping_add(1);
                if !look.thorough && polls % SCAN_EVERY != 0 {
                    if prefetch {
                        hot_memory.prefetch(second_line);
                    }
                    // SYNC: commit-publish (Acquire side), as in `peek`.
                    return (hot_word.load(Acquire) != 0).then_some(Ok(start));
                }
                look_at_all(region, lanes, start, look, &mut seen_events, last)
            },
        );
        if let Ok(i) = found {
            // Its record was waited for (`LaneReader::waited`).
            self.lanes[i].missed = true;
        }
        found
    }

    /// Frees the slots of the record at lane `i`'s tail.
    #[inline]
    fn release(&mut self, i: usize, slots: u64) {
        self.lanes[i].tail += slots;
        self.publish_tail(i, 1);
    }

    /// Publishes lane `i`'s tail, freeing every slot below it for its
    /// sender (and waking the sender if it sleeps); `records` is how many
    /// records that frees, for the statistics.
    #[inline]
    fn publish_tail(&mut self, i: usize, records: u64) {
        let shared = self.lane(i).header();
        // SYNC: tail-publish. Release: our reads of the freed slots happen
        // before the sender, Acquire-loading this tail, overwrites them.
        shared.consumer.tail.store(self.lanes[i].tail, Release);
        shared.consumer.counters.records.bump_by(records);
        wait::wake_peer(
            &self.region.header().receiver.symmetric,
            &shared.control.tx,
            self.asymmetric,
            &shared.consumer.counters.wakes,
        );
    }

    /// Takes the `Hello` record at lane `i`'s tail (and frees it with the
    /// `held` records before it): the records after it are its sender's,
    /// and a fragment chain of the lane's earlier holder will never end.
    fn hello(&mut self, i: usize, record: Record, held: u64) {
        let reader = &mut self.lanes[i];
        reader.from = record.total;
        reader.assembly.abandon();
        reader.tail += record.slots;
        // Published by the tail store after it (tail-publish, Release).
        let line = &self.lane(i).header().consumer;
        line.sender_token.store(record.total, Relaxed);
        self.publish_tail(i, 1 + held);
    }

    /// Reads records at lane `i`'s tail until a whole message is found:
    /// padding and `Hello` records are freed, fragments are reassembled.
    #[inline]
    fn find_message(&mut self, i: usize, deadline: Deadline) -> Result<Found, Stop> {
        loop {
            let record = self.next_record(i, deadline)?;
            match record.kind {
                Kind::Padding => self.release(i, record.slots),
                Kind::Hello => self.hello(i, record, 0),
                Kind::Message => {
                    // A whole message in the middle of a fragmented one: the
                    // sender abandoned that one (timed out, or died).
                    self.lanes[i].assembly.abandon();
                    return Ok(Found::InRing(record));
                }
                Kind::First | Kind::Middle | Kind::Last => {
                    if self.feed(i, record)? == Step::Complete {
                        return Ok(Found::Assembled);
                    }
                }
            }
        }
    }

    /// Notes that a message (or a batch) of lane `i` was served: the next
    /// look starts at lane `i` again until it has been served `quantum`
    /// times in a row, then at the lane after it. Round-robin by quanta
    /// (deficit round-robin with equal shares): with one busy sender among
    /// idle lanes the receiver does not look at every idle lane between two
    /// of its messages, and a busy sender still holds up the others by at
    /// most `quantum` messages each round.
    #[inline]
    fn served_lane(&mut self, i: usize) {
        let n = self.lanes.len();
        self.run = if i == self.next_lane { self.run + 1 } else { 1 };
        if self.run >= self.quantum {
            self.next_lane = if i + 1 == n { 0 } else { i + 1 };
            self.run = 0;
        } else {
            self.next_lane = i;
        }
    }

    /// Finds the next whole message on any lane, round-robin from the lane
    /// after the last one served. A lane whose sender is in the middle of a
    /// fragmented message is left until its next fragment is there, and
    /// one whose sender left mid-chain is left for good: no lane waits on
    /// another.
    #[inline(always)]
    fn find_any(&mut self, deadline: Deadline) -> Result<(usize, Found), Stop> {
        let n = self.lanes.len();
        loop {
            let mut i = self.next_lane;
            for _ in 0..n {
                let commit = self.peek(i);
                if commit != 0 {
                    if let Some(found) = self.take_from(i, commit)? {
                        return Ok((i, found));
                    }
                }
                i = if i + 1 == n { 0 } else { i + 1 };
            }
            // The first lane in turn with a record: take it at once.
            let i = self.wait_any(deadline)?;
            let commit = self.peek(i);
            if let Some(found) = self.take_from(i, commit)? {
                return Ok((i, found));
            }
        }
    }

    /// Takes the whole message at lane `i`'s tail, where `peek` just found
    /// the commit word `commit` set, if there is one: `None` if there was
    /// only padding or a `Hello`, or a fragment chain not yet complete or
    /// whose sender left in its middle (abandoned: no lane waits on
    /// another).
    ///
    /// A whole message in one record, the common case, is taken straight
    /// from `commit`; the rest goes through `find_message`, which loads the
    /// word again. (Measured: taking every record through `find_message`
    /// cost a mailbox receiver about 140 more instructions per 64-byte
    /// message than a plain queue's, and 64-byte throughput 0.4-0.6x.)
    #[inline(always)]
    fn take_from(&mut self, i: usize, commit: u32) -> Result<Option<Found>, Stop> {
        // SAFETY: as in `next_record`.
        let lane = unsafe { lane_in(self.table, i) };
        let reader = &mut self.lanes[i];
        // `commit` was loaded with Acquire (`peek`): the record is
        // completely written.
        let record = parse_record(lane, &self.geo, reader.tail, commit)?;
        if record.kind == Kind::Message {
            // As `next_record` and `find_message` would note it: it was
            // there at the first look of this call.
            reader.waited = std::mem::take(&mut reader.missed);
            reader.last_slots = record.slots;
            reader.assembly.abandon();
            self.served_lane(i);
            return Ok(Some(Found::InRing(record)));
        }
        match self.find_message(i, Deadline::Now) {
            Ok(found) => {
                self.served_lane(i);
                Ok(Some(found))
            }
            Err(Stop::WouldBlock) => Ok(None),
            Err(Stop::Disconnected) => {
                self.lanes[i].assembly.abandon();
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Receives one message and calls `f` with its bytes: in place in the
    /// ring for a message that fits it, from the reassembly buffer for a
    /// longer one.
    #[inline]
    pub(crate) fn recv_with<R>(
        &mut self,
        deadline: Deadline,
        f: impl FnOnce(&[u8]) -> R,
    ) -> Result<R, Stop> {
        self.recv_from_with(deadline, |bytes, _| f(bytes))
    }

    /// [`recv_with`](Self::recv_with), also telling `f` who sent the
    /// message.
    ///
    /// The plain queue's path and the mailbox's are written out apart, each
    /// with its own copy of `deliver`: the plain one then knows its lane is
    /// lane 0 (measured: 30 fewer instructions per message than with the
    /// two paths joined).
    #[inline]
    pub(crate) fn recv_from_with<R>(
        &mut self,
        deadline: Deadline,
        f: impl FnOnce(&[u8], Origin) -> R,
    ) -> Result<R, Stop> {
        if let Some(e) = self.poisoned {
            return Err(Stop::Corrupted(e));
        }
        if self.is_mailbox() {
            return self.recv_any_with(deadline, f);
        }
        match self.find_message(0, deadline) {
            Ok(found) => Ok(self.deliver(0, found, f)),
            Err(e) => Err(self.note_stop(e)),
        }
    }

    /// A mailbox's [`recv_from_with`](Self::recv_from_with). Not inlined:
    /// with the mailbox's search inlined beside it, the plain queue's path
    /// took 40 more instructions per message.
    #[inline(never)]
    fn recv_any_with<R>(
        &mut self,
        deadline: Deadline,
        f: impl FnOnce(&[u8], Origin) -> R,
    ) -> Result<R, Stop> {
        match self.find_any(deadline) {
            Ok((i, found)) => Ok(self.deliver(i, found, f)),
            Err(e) => Err(self.note_stop(e)),
        }
    }

    /// Notes a failed receive's error: a corrupted segment poisons the
    /// receiver.
    #[cold]
    fn note_stop(&mut self, e: Stop) -> Stop {
        if let Stop::Corrupted(e) = e {
            self.poisoned = Some(e);
        }
        e
    }

    /// Calls `f` with the message `found` on lane `i`, and frees it.
    #[inline(always)]
    fn deliver<R>(&mut self, i: usize, found: Found, f: impl FnOnce(&[u8], Origin) -> R) -> R {
        self.current = i;
        self.served = true;
        let origin = self.origin();
        match found {
            Found::InRing(record) => {
                // SAFETY: the record's commit word, acquired at the lane's
                // tail, says it is completely written, and `parse_record`
                // checked that it lies within the ring.
                let out = unsafe {
                    self.lane(i)
                        .slots()
                        .read(record.offset, record.len, |bytes| f(bytes, origin))
                };
                // Counted before its slots are freed (so is an assembled
                // message, in `feed`): a sender that sees them free sees
                // the count too.
                self.count_message(i, 1);
                self.release(i, record.slots);
                out
            }
            Found::Assembled => f(self.lanes[i].assembly.message(), origin),
        }
    }

    /// Adds the fragment `record` (at lane `i`'s tail) to the lane's
    /// reassembly buffer and frees it.
    fn feed(&mut self, i: usize, record: Record) -> Result<Step, Stop> {
        let max = self.geo.config.max_message_size;
        // SAFETY: as in `next_record`.
        let lane = unsafe { lane_in(self.table, i) };
        let assembly = &mut self.lanes[i].assembly;
        // SAFETY: the record's commit word, acquired at our tail, says it is
        // completely written, and `parse_record` checked that it lies
        // within the ring.
        let step = unsafe {
            lane.slots().read(record.offset, record.len, |bytes| {
                assembly.feed(record.kind, record.total, bytes, max)
            })
        }?;
        if step == Step::Complete {
            // Before the last fragment is freed, as in `deliver`.
            self.count_message(i, 1);
        }
        self.release(i, record.slots);
        Ok(step)
    }

    /// Starts a batch (see `Batch` in `channel.rs`): waits for a message
    /// and reads it without freeing its slots. A message longer than the
    /// ring cannot be held: it is received as by `recv_with`, its records
    /// freed as they stream in, and is the batch's only message. A batch
    /// holds messages of one lane (one sender) only.
    pub(crate) fn batch_start(&mut self, deadline: Deadline) -> Result<BatchStart, Stop> {
        if let Some(e) = self.poisoned {
            return Err(Stop::Corrupted(e));
        }
        let before = self.current;
        let result = if self.is_mailbox() {
            self.batch_start_any(deadline)
        } else {
            self.batch_start_lane(0, deadline)
        };
        match result {
            Ok(_) => self.served = true,
            Err(e) => {
                // `last_sender` goes on naming the last message's sender.
                self.current = before;
                if let Stop::Corrupted(e) = e {
                    self.poisoned = Some(e);
                }
            }
        }
        result
    }

    /// `batch_start` on a mailbox: on the first lane, round-robin, that has
    /// a message.
    fn batch_start_any(&mut self, deadline: Deadline) -> Result<BatchStart, Stop> {
        let n = self.lanes.len();
        loop {
            let mut i = self.next_lane;
            for _ in 0..n {
                if self.peek(i) != 0 {
                    match self.batch_start_lane(i, Deadline::Now) {
                        Ok(start) => {
                            self.served_lane(i);
                            return Ok(start);
                        }
                        Err(Stop::WouldBlock) => {}
                        Err(Stop::Disconnected) => self.lanes[i].assembly.abandon(),
                        Err(e) => return Err(e),
                    }
                }
                i = if i + 1 == n { 0 } else { i + 1 };
            }
            self.wait_any(deadline)?;
        }
    }

    fn batch_start_lane(&mut self, i: usize, deadline: Deadline) -> Result<BatchStart, Stop> {
        debug_assert_eq!(self.held_records, 0, "one batch at a time");
        self.current = i;
        let mut from = self.lanes[i].tail;
        loop {
            let record = match self.next_record(i, deadline) {
                Ok(record) => record,
                Err(e) => {
                    // Free any padding we skipped.
                    self.publish_held();
                    return Err(e);
                }
            };
            match record.kind {
                Kind::Padding => self.hold(record.slots),
                Kind::Hello => {
                    // Freed at once, with any padding held before it: the
                    // tail then stays where the stored sender token is true.
                    let held = std::mem::take(&mut self.held_records);
                    self.hello(i, record, held);
                    from = self.lanes[i].tail;
                }
                Kind::Message => {
                    self.lanes[i].assembly.abandon();
                    self.hold(record.slots);
                    return Ok(BatchStart::Held {
                        from,
                        first: (record.offset, record.len),
                    });
                }
                Kind::First | Kind::Middle | Kind::Last => {
                    // Padding held before it is freed too: `feed` frees the
                    // fragment by publishing the tail past both.
                    let padding = std::mem::take(&mut self.held_records);
                    let step = self.feed(i, record)?;
                    self.lane(i)
                        .header()
                        .consumer
                        .counters
                        .records
                        .bump_by(padding);
                    if step == Step::Complete {
                        return Ok(BatchStart::Assembled);
                    }
                    from = self.lanes[i].tail;
                }
            }
        }
    }

    /// The next message of a batch in place, if one is committed now on
    /// the batch's lane and fits the ring (never waits); its slots stay
    /// held. `None` also on a protocol error, which poisons the handle: the
    /// next receive reports it; and at a `Hello`: a batch holds one
    /// sender's messages.
    pub(crate) fn batch_next(&mut self) -> Option<(usize, usize)> {
        let i = self.current;
        loop {
            let record = match self.next_record(i, Deadline::Now) {
                Ok(record) => record,
                Err(Stop::Corrupted(e)) => {
                    self.poisoned = Some(e);
                    return None;
                }
                Err(_) => return None,
            };
            match record.kind {
                Kind::Padding => self.hold(record.slots),
                Kind::Message => {
                    self.hold(record.slots);
                    return Some((record.offset, record.len));
                }
                // Left for a receive that can stream it, or that starts
                // the next sender's batch.
                Kind::First | Kind::Middle | Kind::Last | Kind::Hello => return None,
            }
        }
    }

    /// The payload at `offset`, `len` bytes, of a message held in a batch.
    pub(crate) fn held_bytes(&self, offset: usize, len: usize) -> &[u8] {
        debug_assert!(self.held_records > 0);
        // SAFETY: `batch_start` or `batch_next` returned this range for a
        // record of the batch's lane whose commit word they acquired and
        // `parse_record` checked (so it lies within the ring). Its slots
        // are below our local tail but above the published one, so the
        // sender leaves them alone until `batch_release`, which needs
        // `&mut self`: the returned borrow of `self` ends first.
        unsafe {
            &*self
                .region
                .lane(self.current)
                .slots()
                .read(offset, len, std::ptr::from_ref)
        }
    }

    /// The message a batch of one message longer than the ring holds.
    pub(crate) fn assembled(&self) -> &[u8] {
        self.lanes[self.current].assembly.message()
    }

    /// Frees every record a batch holds; `messages` of them were messages.
    pub(crate) fn batch_release(&mut self, messages: u64) {
        self.count_message(self.current, messages);
        self.publish_held();
    }

    /// Forgets a batch that held the records from `from` on: they will be
    /// read again.
    pub(crate) fn batch_rollback(&mut self, from: u64) {
        self.lanes[self.current].tail = from;
        self.held_records = 0;
    }

    /// Moves the batch lane's tail past a record without freeing it.
    #[inline]
    fn hold(&mut self, slots: u64) {
        self.lanes[self.current].tail += slots;
        self.held_records += 1;
    }

    /// Frees the records held, if any.
    fn publish_held(&mut self) {
        let records = std::mem::take(&mut self.held_records);
        if records > 0 {
            self.publish_tail(self.current, records);
        }
    }

    #[inline]
    fn count_message(&self, i: usize, messages: u64) {
        let counters = &self.lane(i).header().consumer.counters;
        counters.messages.bump_by(messages);
    }

    /// Whether no record is committed at any lane's tail (a snapshot).
    pub(crate) fn is_empty(&self) -> bool {
        // Relaxed would do (nothing is read on the strength of this
        // answer); `peek` is the one place that loads the word.
        (0..self.lanes.len()).all(|i| self.peek(i) == 0)
    }

    /// Whether every sender has detached or died (reads `/proc`).
    pub(crate) fn is_disconnected(&self) -> bool {
        // Copies: what it learns is not noted, as a receive would note it.
        let mut sessions: Vec<peer::Session> = self.lanes.iter().map(|r| r.sender).collect();
        all_senders_gone(&self.region, sessions.iter_mut(), true, &mut None)
    }

    /// How the last sender found gone left, once a call has found one gone.
    pub(crate) fn last_departure(&self) -> Option<peer::Departure> {
        if self.is_mailbox() {
            self.last_departure
        } else {
            self.lanes[0].sender.last_departure()
        }
    }

    /// Waits until a sender has attached (to any lane) since the sender
    /// this receiver saw last there left (or since it attached, if it has
    /// seen none leave); at once if a live sender holds a lane and has not
    /// been seen to leave.
    pub(crate) fn wait_for_sender(&mut self, deadline: Deadline) -> Result<(), Stop> {
        if let Some(e) = self.poisoned {
            return Err(Stop::Corrupted(e));
        }
        let region = &*self.region;
        let header = region.header();
        // The baselines first: a sender that attaches after them raises an
        // epoch, so the wait below cannot miss it.
        let baselines: Vec<u32> = self.lanes.iter().map(|r| r.sender.baseline()).collect();
        for (reader, lane) in self.lanes.iter().zip(region.lanes()) {
            if !reader.sender.departed() {
                let token = lane.header().control.sender.token.load(Acquire);
                if token != 0 && peer::is_alive(token) {
                    return Ok(());
                }
            }
        }
        wait::wait_until(
            self.strategy,
            deadline,
            receiver_bed(header),
            &mut self.wait,
            false,
            // SYNC: sleep-register: `Producer::attach` raises the epoch and
            // then rings the doorbell, with a full fence between.
            |_| {
                region
                    .lanes()
                    .iter()
                    .zip(&baselines)
                    .any(|(lane, &base)| peer::attached_since(&lane.header().control.sender, base))
                    .then_some(Ok(()))
            },
        )
    }
}

/// The thorough poll of a mailbox's wait (`Consumer::wait_any`): the
/// first lane from `start` with a committed record, looking at the lanes
/// that rang the doorbell first; `Disconnected` once every sender is gone
/// and nothing is left. `seen_events` is the sender-events count at the
/// last look at the owner words.
#[inline(never)]
fn look_at_all(
    region: &Region,
    lanes: &mut [LaneReader],
    start: usize,
    look: wait::Look,
    seen_events: &mut Option<u32>,
    last: &mut Option<peer::Departure>,
) -> Option<Result<usize, Stop>> {
    let header = region.header();
    let ready = header.receiver.ready_lanes.load(Relaxed);
    if ready != 0 {
        // A hint: the bits of lanes that rang since we slept.
        header.receiver.ready_lanes.swap(0, Relaxed);
        if let Some(i) = first_committed(region, lanes, start, ready) {
            return Some(Ok(i));
        }
    }
    if let Some(i) = first_committed(region, lanes, start, u64::MAX) {
        return Some(Ok(i));
    }
    // The owner words of every lane, only if a sender attached or detached
    // since the last look (a death is found by the liveness check): with
    // many idle lanes, reading them all on each poll would slow the poll
    // that finds a message.
    // SYNC: sender-events (Acquire side).
    let events = header.receiver.sender_events.load(Acquire);
    if !look.liveness && *seen_events == Some(events) {
        return None;
    }
    *seen_events = Some(events);
    let sessions = lanes.iter_mut().map(|r| &mut r.sender);
    if !all_senders_gone(region, sessions, look.liveness, last) {
        return None;
    }
    // As in `wait_for_commit`: every sender's last commit happened before
    // it left, so a look after seeing them all gone finds whatever they
    // committed.
    match first_committed(region, lanes, start, u64::MAX) {
        Some(i) => Some(Ok(i)),
        None => Some(Err(Stop::Disconnected)),
    }
}

/// The first lane, looking from lane `start` on, whose bit is set in
/// `mask` and at whose tail a record is committed.
#[inline]
fn first_committed(
    region: &Region,
    lanes: &[LaneReader],
    start: usize,
    mask: u64,
) -> Option<usize> {
    let n = lanes.len();
    let mut i = start;
    for _ in 0..n {
        if mask & (1 << i) != 0 {
            // SYNC: commit-publish (Acquire side), as in `peek`.
            let word = region.lane(i).slots().commit_word(lanes[i].tail);
            if word.load(Acquire) != 0 {
                return Some(i);
            }
        }
        i = if i + 1 == n { 0 } else { i + 1 };
    }
    None
}

/// Whether a mailbox's senders are all gone, given the receiver's session
/// of each lane: at least one that the receiver has seen has left, and no
/// lane has a holder that has not. Notes in `last` how the latest one found
/// gone left.
fn all_senders_gone<'a>(
    region: &Region,
    sessions: impl Iterator<Item = &'a mut peer::Session>,
    liveness: bool,
    last: &mut Option<peer::Departure>,
) -> bool {
    let mut departed = false;
    for (session, lane) in sessions.zip(region.lanes()) {
        let owner = &lane.header().control.sender;
        let was = session.departed();
        if session.gone(owner, liveness) {
            if !was {
                *last = session.last_departure();
            }
            departed = true;
        } else if session.has_peer(owner) {
            return false;
        }
    }
    departed
}

impl Consumer {
    /// Loom models only: the death of the receiver's process, as the
    /// senders see it (see `Producer::die`); the handle's drop later
    /// detaches nothing.
    #[cfg(shmq_loom)]
    pub(crate) fn die_in_place(&mut self) {
        let owner = &self.region.header().receiver.receiver;
        owner.token.store(peer::LOOM_DEAD_TOKEN, Release);
        self.token = 0;
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        if crate::sync::LOOM && std::thread::panicking() {
            // A failing loom model is unwinding: touching loom objects now
            // would abort the test binary and hide the failure report.
            return;
        }
        let header = self.region.header();
        peer::detach(&header.receiver.receiver, self.token);
        // A sender asleep on a full ring must learn that nobody will read.
        for lane in self.region.lanes() {
            wait::wake_peer(
                &header.receiver.symmetric,
                &lane.header().control.tx,
                false,
                &lane.header().consumer.counters.wakes,
            );
        }
    }
}
