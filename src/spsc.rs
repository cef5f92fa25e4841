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

use std::sync::Arc;

use crate::error::{CorruptedError, OpenError, OpenErrorKind, Role, Stop};
use crate::frag::{self, Reassembly, Step};
use crate::layout::{Config, Kind, RECORD_HEADER, RecordHeader, stamp, unstamp};
use crate::peer;
use crate::segment::Region;
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
    fn new(config: Config) -> Self {
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
    fn offset(&self, position: u64) -> usize {
        (position & self.mask) as usize * self.config.slot_size
    }
}

/// Whether this process may publish with the light barrier; if it cannot
/// take part in the asymmetric pair, marks the segment symmetric first.
fn barrier_ready(control: &crate::layout::ControlLine) -> bool {
    let ready = crate::sync::barrier::asymmetric_available();
    if !ready {
        // Before this process ever sleeps or publishes: the fence orders the
        // store before our first handshake, so publishers that load the word
        // after it use full fences (one mid-publish can only delay a wake-up
        // by a slice, see `wait_until`).
        control.symmetric.store(1, Relaxed);
        crate::sync::fence(crate::sync::Ordering::SeqCst);
    }
    ready
}

/// Where the receiver sleeps, waiting for a record or for a sender.
fn receiver_bed(header: &crate::layout::Header) -> wait::Bed<'_> {
    wait::Bed {
        slot: &header.control.rx,
        symmetric: &header.control.symmetric,
        sleeps: &header.consumer.counters.sleeps,
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
const MAX_POSITION: u64 = 1 << 62;

/// Loads the receiver's tail into `cached`, checking it against our head.
#[inline]
fn load_tail(
    region: &Region,
    head: u64,
    slots: u64,
    cached: &mut u64,
) -> Result<u64, CorruptedError> {
    // SYNC: tail-publish (Acquire side): the receiver is done reading every
    // slot below this tail, so we may overwrite them.
    let tail = region.header().consumer.tail.load(Acquire);
    check_indices(tail, head, slots)?;
    *cached = tail;
    Ok(tail)
}

/// Checks the record at `position` whose commit word, Acquire-loaded, is the
/// non-zero `commit`, and reads its header.
#[inline]
fn parse_record(
    region: &Region,
    geo: &Geometry,
    position: u64,
    commit: u32,
) -> Result<Record, CorruptedError> {
    let kind = unstamp(commit, position).map_err(CorruptedError::new)?;
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
    // SAFETY: the slot is in the ring; the acquired commit word says its
    // header is written, and the sender leaves it alone until our tail has
    // passed it.
    let header = unsafe {
        region
            .slots()
            .read(offset, RECORD_HEADER, RecordHeader::from_bytes)
    };
    let len = header.len as usize;
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
        total: header.total,
        slots,
    })
}

/// The head a sender starts from when it attaches: the head its predecessor
/// stored, moved past the one record the predecessor may have committed
/// without storing the head after it (it died between the two stores at the
/// end of `Producer::commit`). The commit word there is 0 otherwise: it was
/// zeroed before the record that ends at head was committed.
fn recover_head(region: &Region, geo: &Geometry) -> Result<u64, OpenError> {
    // SYNC: head-publish (Acquire side, for the previous sender's head).
    let head = region.header().producer.head.load(Acquire);
    if head > MAX_POSITION {
        return Err(OpenErrorKind::BadHeader("head and tail indices out of range").into());
    }
    // SYNC: commit-publish (Acquire side): a record committed there is
    // completely written.
    let commit = region.slots().commit_word(head).load(Acquire);
    if commit == 0 {
        return Ok(head);
    }
    match parse_record(region, geo, head, commit) {
        Ok(record) => Ok(head + record.slots),
        Err(_) => Err(OpenErrorKind::BadHeader("corrupt record at head").into()),
    }
}

/// The sending side of the ring.
#[derive(Debug)]
pub(crate) struct Producer {
    region: Arc<Region>,
    geo: Geometry,
    token: u64,
    /// Our head (we are its only writer while attached).
    head: u64,
    /// Last tail read from the receiver's line; `<=` the real tail.
    cached_tail: u64,
    /// A position past head whose commit word we zeroed ahead of time (see
    /// `commit`); 0 for none (no record ends at position 0).
    precleared: u64,
    /// Set once the segment broke the protocol.
    poisoned: Option<CorruptedError>,
    /// Which receivers count as our peer (see `peer::Session`).
    receiver: peer::Session,
    /// Liveness and CPU-sharing memory of our waits.
    wait: WaitState,
    /// Whether this process can use the light half of the wake barrier.
    asymmetric: bool,
    pub(crate) strategy: WaitStrategy,
}

impl Producer {
    pub(crate) fn attach(region: Arc<Region>, strategy: WaitStrategy) -> Result<Self, OpenError> {
        let header = region.header();
        let token = peer::claim(&header.control.sender, Role::Sender)?;
        let geo = Geometry::new(*region.config());
        // Our own index first: nobody else writes it while we hold the end,
        // so the tail read after it can only have moved towards it.
        let head = match recover_head(&region, &geo) {
            Ok(head) => head,
            Err(e) => {
                peer::detach(&header.control.sender, token);
                return Err(e);
            }
        };
        // SYNC: tail-publish (Acquire side).
        let tail = header.consumer.tail.load(Acquire);
        if check_indices(tail, head, geo.slots).is_err() {
            peer::detach(&header.control.sender, token);
            return Err(OpenErrorKind::BadHeader("head and tail indices out of range").into());
        }
        peer::announce(&header.control.sender);
        // A receiver asleep in `wait_for_sender` waits for the epoch we
        // just raised. Full fence (not the light barrier): this is the slow
        // path, and the receiver may be asleep with its heavy half done.
        wait::wake_peer(
            &header.control,
            &header.control.rx,
            false,
            &header.producer.counters.wakes,
        );
        let receiver = peer::Session::start(&header.control.receiver);
        let asymmetric = barrier_ready(&header.control);
        Ok(Producer {
            region,
            geo,
            token,
            head,
            cached_tail: tail,
            precleared: 0,
            poisoned: None,
            receiver,
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
            .gone(&self.region.header().control.receiver, liveness)
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
        load_tail(
            &self.region,
            self.head,
            self.geo.slots,
            &mut self.cached_tail,
        )
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
        let cached = &mut self.cached_tail;
        let state = &mut self.wait;
        let receiver = &mut self.receiver;
        let header = region.header();
        let result = wait::wait_until(
            self.strategy,
            deadline,
            wait::Bed {
                slot: &header.control.tx,
                symmetric: &header.control.symmetric,
                sleeps: &header.producer.counters.sleeps,
            },
            state,
            backoff,
            |liveness| match load_tail(region, head, slots, cached) {
                Err(e) => Some(Err(Stop::Corrupted(e))),
                Ok(tail) if ready(tail) => Some(Ok(())),
                Ok(_) if receiver.gone(&header.control.receiver, liveness) => {
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

    /// Publishes the record of `slots` slots at position `at` (its payload
    /// already written): zeroes the next record's commit word, writes the
    /// header and commits it.
    #[inline(always)]
    fn commit(&mut self, at: u64, kind: Kind, len: usize, total: u64, slots: u64) {
        let memory = self.region.slots();
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
        // SAFETY: the record's slots are free (ensured by the caller), so the
        // receiver is not reading them; `len` and `total` (bytes 0..4 and
        // 8..16) fit in a slot and do not overlap the commit word.
        unsafe {
            memory.write(offset, 4, |dst| {
                dst.copy_from_slice(&(len as u32).to_le_bytes());
            });
            memory.write(offset + 8, 8, |dst| {
                dst.copy_from_slice(&total.to_le_bytes());
            });
        }
        // SYNC: commit-publish. Release: the payload and header written above
        // (and the commit-clear of `next`) are visible to the receiver that
        // Acquire-loads this word.
        memory.commit_word(at).store(stamp(kind, at), Release);
        self.head = next;
        let shared = self.region.header();
        // SYNC: head-publish. Release: pairs with the Acquire in
        // `recover_head` of a sender that takes our end over, and with the
        // receiver's in `next_record`, which reads head as a hint.
        shared.producer.head.store(self.head, Release);
        shared.producer.counters.records.bump();
        wait::wake_peer(
            &shared.control,
            &shared.control.rx,
            self.asymmetric,
            &shared.producer.counters.wakes,
        );
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
        let slots = self.geo.slots_for(len);
        debug_assert!(slots < self.geo.slots);
        let index = self.head & self.geo.mask;
        if index + slots > self.geo.slots {
            self.pad(index, deadline)?;
        }
        self.ensure_space(slots, deadline)?;
        Ok((self.head, slots))
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
        // SAFETY: the caller made `slots` slots from `at` free and
        // contiguous, and the payload fits in them after the header.
        unsafe {
            self.region
                .slots()
                .write(offset, bytes.len(), |dst| dst.copy_from_slice(bytes));
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
        if msg.len() <= self.geo.one_slot && self.has_room(1) {
            self.check_usable()?;
            self.write_at(self.head, 1, Kind::Message, msg, msg.len() as u64);
            self.region.header().producer.counters.messages.bump();
            return Ok(());
        }
        self.send_slow(msg, deadline)
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
        self.region.header().producer.counters.messages.bump();
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
            self.region
                .slots()
                .write_ptr(self.geo.offset(at) + RECORD_HEADER, len)
        };
        Ok((ptr, at, slots))
    }

    /// Publishes a record reserved with [`reserve`](Self::reserve).
    pub(crate) fn commit_reserved(&mut self, at: u64, slots: u64, len: usize) {
        debug_assert_eq!(at, self.head, "one reservation at a time");
        self.commit(at, Kind::Message, len, len as u64, slots);
        self.region.header().producer.counters.messages.bump();
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
        self.wait_for_tail(deadline, false, |tail| tail >= target)
    }

    /// Whether the receiver has detached or died (reads `/proc`).
    pub(crate) fn is_disconnected(&self) -> bool {
        // A copy: what it learns is not noted, as a send would note it.
        let mut receiver = self.receiver;
        receiver.gone(&self.region.header().control.receiver, true)
    }

    /// How the receiver left, once a call has found it gone.
    pub(crate) fn last_departure(&self) -> Option<peer::Departure> {
        self.receiver.last_departure()
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        if crate::sync::LOOM && std::thread::panicking() {
            // A failing loom model is unwinding: touching loom objects now
            // would abort the test binary and hide the failure report.
            return;
        }
        let header = self.region.header();
        peer::detach(&header.control.sender, self.token);
        // A receiver asleep waiting for data must learn that none will come.
        wait::wake_peer(
            &header.control,
            &header.control.rx,
            false,
            &header.producer.counters.wakes,
        );
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
struct Record {
    kind: Kind,
    /// Offset of the payload in the slot array.
    offset: usize,
    len: usize,
    total: u64,
    slots: u64,
}

/// Polls that a receiver waiting after a record of several slots spends
/// watching `head` before it watches the next commit word (see
/// `Consumer::next_record`): about 100 ns of pauses here, time for the
/// sender to finish writing a long record.
const HEAD_POLLS: u32 = 4;

/// The receiving side of the ring.
#[derive(Debug)]
pub(crate) struct Consumer {
    region: Arc<Region>,
    geo: Geometry,
    token: u64,
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
    poisoned: Option<CorruptedError>,
    assembly: Reassembly,
    /// Which senders count as our peer (see `peer::Session`).
    sender: peer::Session,
    /// Records a batch has read past the published tail (our `tail` is
    /// ahead of it); 0 outside a batch.
    held_records: u64,
    /// Liveness and CPU-sharing memory of our waits.
    wait: WaitState,
    /// Whether this process can use the light half of the wake barrier.
    asymmetric: bool,
    pub(crate) strategy: WaitStrategy,
}

impl Consumer {
    pub(crate) fn attach(region: Arc<Region>, strategy: WaitStrategy) -> Result<Self, OpenError> {
        let header = region.header();
        let token = peer::claim(&header.control.receiver, Role::Receiver)?;
        // SYNC: tail-publish (Acquire side, for the previous receiver's tail).
        let tail = header.consumer.tail.load(Acquire);
        let geo = Geometry::new(*region.config());
        // The sender's head is not ours to check: we follow commit words.
        if tail > MAX_POSITION {
            peer::detach(&header.control.receiver, token);
            return Err(OpenErrorKind::BadHeader("tail index beyond 2^62").into());
        }
        peer::announce(&header.control.receiver);
        let sender = peer::Session::start(&header.control.sender);
        let asymmetric = barrier_ready(&header.control);
        Ok(Consumer {
            region,
            geo,
            token,
            tail,
            cached_head: tail,
            last_slots: 1,
            waited: false,
            missed: false,
            poisoned: None,
            assembly: Reassembly::default(),
            sender,
            held_records: 0,
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

    /// Waits for the record at tail to be committed and checks it.
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
    fn next_record(&mut self, deadline: Deadline) -> Result<Record, Stop> {
        let (region, tail) = (&*self.region, self.tail);
        // A stream of long records (see above).
        let long = self.last_slots > 1;
        if long && self.cached_head <= tail {
            // SYNC: head-publish (Acquire side): every record below this
            // head is committed.
            self.cached_head = region.header().producer.head.load(Acquire);
        }
        let mut commit = 0;
        if !long || self.cached_head > tail {
            // SYNC: commit-publish (Acquire side): the record whose stamp we
            // read is completely written, and so is the zeroing of the
            // commit word after it.
            commit = region.slots().commit_word(tail).load(Acquire);
        }
        let waited = commit == 0;
        if waited {
            commit = match self.wait_for_commit(deadline, long) {
                Ok(commit) => commit,
                Err(e) => {
                    // Found nothing (a non-blocking call, or a timeout):
                    // the record this call looked for will have been
                    // waited for, by the caller's loop if not by us.
                    self.missed = true;
                    return Err(e);
                }
            };
        }
        self.waited = waited || std::mem::take(&mut self.missed);
        let record = parse_record(&self.region, &self.geo, tail, commit)?;
        if record.kind != Kind::Padding {
            self.last_slots = record.slots;
        }
        Ok(record)
    }

    /// Waits for the record at tail to be committed; returns its commit
    /// word.
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
    #[inline(always)]
    fn wait_for_commit(&mut self, deadline: Deadline, long: bool) -> Result<u32, Stop> {
        let (region, tail) = (&*self.region, self.tail);
        let header = region.header();
        let memory = region.slots();
        let word = memory.commit_word(tail);
        let second_line = self.geo.offset(tail) + 64;
        // Only a slot of more than one line has a second line to prefetch;
        // and only when the last record was waited for too (see above).
        let prefetch = self.waited && self.geo.config.slot_size > 64;
        // Not for a non-blocking call: its one look must be at the word.
        let mut watch_head = if long && deadline != Deadline::Now {
            HEAD_POLLS
        } else {
            0
        };
        let sender = &mut self.sender;
        wait::wait_until(
            self.strategy,
            deadline,
            receiver_bed(header),
            &mut self.wait,
            false,
            |liveness| {
                let committed = watch_head == 0 || {
                    watch_head -= 1;
                    // SYNC: head-publish (Acquire side), as above. Also
                    // a valid half of the sleep handshake: the sender
                    // stores head before its barrier, as it does the
                    // commit word.
                    header.producer.head.load(Acquire) > tail
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
                if !sender.gone(&header.control.sender, liveness) {
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

    /// Frees the slots of the record at tail.
    #[inline]
    fn release(&mut self, slots: u64) {
        self.tail += slots;
        self.publish_tail(1);
    }

    /// Publishes our tail, freeing every slot below it for the sender (and
    /// waking the sender if it sleeps); `records` is how many records that
    /// frees, for the statistics.
    #[inline]
    fn publish_tail(&mut self, records: u64) {
        let shared = self.region.header();
        // SYNC: tail-publish. Release: our reads of the freed slots happen
        // before the sender, Acquire-loading this tail, overwrites them.
        shared.consumer.tail.store(self.tail, Release);
        shared.consumer.counters.records.bump_by(records);
        wait::wake_peer(
            &shared.control,
            &shared.control.tx,
            self.asymmetric,
            &shared.consumer.counters.wakes,
        );
    }

    /// Receives one message and calls `f` with its bytes: in place in the
    /// ring for a message that fits it, from the reassembly buffer for a
    /// longer one.
    pub(crate) fn recv_with<R>(
        &mut self,
        deadline: Deadline,
        f: impl FnOnce(&[u8]) -> R,
    ) -> Result<R, Stop> {
        if let Some(e) = self.poisoned {
            return Err(Stop::Corrupted(e));
        }
        let result = self.recv_inner(deadline, f);
        if let Err(Stop::Corrupted(e)) = result {
            self.poisoned = Some(e);
        }
        result
    }

    fn recv_inner<R>(&mut self, deadline: Deadline, f: impl FnOnce(&[u8]) -> R) -> Result<R, Stop> {
        loop {
            let record = self.next_record(deadline)?;
            match record.kind {
                Kind::Padding => self.release(record.slots),
                Kind::Message => {
                    // A whole message in the middle of a fragmented one: the
                    // sender abandoned that one (timed out, or died).
                    self.assembly.abandon();
                    // SAFETY: the record's commit word, acquired at our
                    // tail, says it is completely written, and
                    // `parse_record` checked that it lies within the ring.
                    let out = unsafe { self.region.slots().read(record.offset, record.len, f) };
                    self.release(record.slots);
                    self.count_message();
                    return Ok(out);
                }
                Kind::First | Kind::Middle | Kind::Last => {
                    if self.feed(record)? == Step::Complete {
                        self.count_message();
                        return Ok(f(self.assembly.message()));
                    }
                }
            }
        }
    }

    /// Adds the fragment `record` (at tail) to the reassembly buffer and
    /// frees it.
    fn feed(&mut self, record: Record) -> Result<Step, Stop> {
        let max = self.geo.config.max_message_size;
        let assembly = &mut self.assembly;
        // SAFETY: the record's commit word, acquired at our tail, says it is
        // completely written, and `parse_record` checked that it lies
        // within the ring.
        let step = unsafe {
            self.region
                .slots()
                .read(record.offset, record.len, |bytes| {
                    assembly.feed(record.kind, record.total, bytes, max)
                })
        }?;
        self.release(record.slots);
        Ok(step)
    }

    /// Starts a batch (see `Batch` in `channel.rs`): waits for a message
    /// and reads it without freeing its slots. A message longer than the
    /// ring cannot be held: it is received as by `recv_with`, its records
    /// freed as they stream in, and is the batch's only message.
    pub(crate) fn batch_start(&mut self, deadline: Deadline) -> Result<BatchStart, Stop> {
        if let Some(e) = self.poisoned {
            return Err(Stop::Corrupted(e));
        }
        let result = self.batch_start_inner(deadline);
        if let Err(Stop::Corrupted(e)) = result {
            self.poisoned = Some(e);
        }
        result
    }

    fn batch_start_inner(&mut self, deadline: Deadline) -> Result<BatchStart, Stop> {
        debug_assert_eq!(self.held_records, 0, "one batch at a time");
        let mut from = self.tail;
        loop {
            let record = match self.next_record(deadline) {
                Ok(record) => record,
                Err(e) => {
                    // Free any padding we skipped.
                    self.publish_held();
                    return Err(e);
                }
            };
            match record.kind {
                Kind::Padding => self.hold(record.slots),
                Kind::Message => {
                    self.assembly.abandon();
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
                    let step = self.feed(record)?;
                    self.region
                        .header()
                        .consumer
                        .counters
                        .records
                        .bump_by(padding);
                    if step == Step::Complete {
                        self.count_message();
                        return Ok(BatchStart::Assembled);
                    }
                    from = self.tail;
                }
            }
        }
    }

    /// The next message of a batch in place, if one is committed now and
    /// fits the ring (never waits); its slots stay held. `None` also on a
    /// protocol error, which poisons the handle: the next receive reports
    /// it.
    pub(crate) fn batch_next(&mut self) -> Option<(usize, usize)> {
        loop {
            let record = match self.next_record(Deadline::Now) {
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
                // Left for a receive that can stream it.
                Kind::First | Kind::Middle | Kind::Last => return None,
            }
        }
    }

    /// The payload at `offset`, `len` bytes, of a message held in a batch.
    pub(crate) fn held_bytes(&self, offset: usize, len: usize) -> &[u8] {
        debug_assert!(self.held_records > 0);
        // SAFETY: `batch_start` or `batch_next` returned this range for a
        // record whose commit word they acquired and `parse_record` checked
        // (so it lies within the ring). Its slots are below our local tail
        // but above the published one, so the sender leaves them alone
        // until `batch_release`, which needs `&mut self`: the returned
        // borrow of `self` ends first.
        unsafe { &*self.region.slots().read(offset, len, std::ptr::from_ref) }
    }

    /// The message a batch of one message longer than the ring holds.
    pub(crate) fn assembled(&self) -> &[u8] {
        self.assembly.message()
    }

    /// Frees every record a batch holds; `messages` of them were messages.
    pub(crate) fn batch_release(&mut self, messages: u64) {
        self.region
            .header()
            .consumer
            .counters
            .messages
            .bump_by(messages);
        self.publish_held();
    }

    /// Forgets a batch that held the records from `from` on: they will be
    /// read again.
    pub(crate) fn batch_rollback(&mut self, from: u64) {
        self.tail = from;
        self.held_records = 0;
    }

    /// Moves our tail past a record without freeing it.
    #[inline]
    fn hold(&mut self, slots: u64) {
        self.tail += slots;
        self.held_records += 1;
    }

    /// Frees the records held, if any.
    fn publish_held(&mut self) {
        let records = std::mem::take(&mut self.held_records);
        if records > 0 {
            self.publish_tail(records);
        }
    }

    #[inline]
    fn count_message(&self) {
        self.region.header().consumer.counters.messages.bump();
    }

    /// Whether no record is committed at our tail (a snapshot).
    pub(crate) fn is_empty(&self) -> bool {
        let word = self.region.slots().commit_word(self.tail);
        // Relaxed: nothing is read on the strength of this answer.
        word.load(Relaxed) == 0
    }

    /// Whether the sender has detached or died (reads `/proc`).
    pub(crate) fn is_disconnected(&self) -> bool {
        // A copy: what it learns is not noted, as a receive would note it.
        let mut sender = self.sender;
        sender.gone(&self.region.header().control.sender, true)
    }

    /// How the sender left, once a call has found it gone.
    pub(crate) fn last_departure(&self) -> Option<peer::Departure> {
        self.sender.last_departure()
    }

    /// Waits until a sender has attached since the sender this receiver
    /// saw last left (or since it attached, if it has seen none leave); at
    /// once if a live sender holds the end and has not been seen to leave.
    pub(crate) fn wait_for_sender(&mut self, deadline: Deadline) -> Result<(), Stop> {
        if let Some(e) = self.poisoned {
            return Err(Stop::Corrupted(e));
        }
        let header = self.region.header();
        let owner = &header.control.sender;
        // The baseline first: a sender that attaches after it raises the
        // epoch, so the wait below cannot miss it.
        let baseline = self.sender.baseline();
        if !self.sender.departed() {
            let token = owner.token.load(Acquire);
            if token != 0 && peer::is_alive(token) {
                return Ok(());
            }
        }
        wait::wait_until(
            self.strategy,
            deadline,
            receiver_bed(header),
            &mut self.wait,
            false,
            // SYNC: sleep-register: `Producer::attach` raises the epoch and
            // then wakes us, with a full fence between.
            |_| peer::attached_since(owner, baseline).then_some(Ok(())),
        )
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
        peer::detach(&header.control.receiver, self.token);
        // A sender asleep on a full ring must learn that nobody will read.
        wait::wake_peer(
            &header.control,
            &header.control.tx,
            false,
            &header.consumer.counters.wakes,
        );
    }
}
