//! The single-producer single-consumer ring.
//!
//! Lamport's ring with cached indices (as in rigtorp's `SPSCQueue`), over
//! variable-length records of whole slots:
//!
//! * `head` (sender-owned line) and `tail` (receiver-owned line) are
//!   monotonic 64-bit slot positions; a position `p` lives in slot
//!   `p & (slot_count - 1)`, and `tail <= head <= tail + slot_count`.
//! * The sender writes a record's payload, then its 16-byte header, then
//!   stores the new head with Release (`SYNC: head-publish`). The receiver
//!   Acquire-loads head, reads the records below it, then stores the new
//!   tail with Release (`SYNC: tail-publish`), which the sender
//!   Acquire-loads before reusing those slots.
//! * Each side keeps the last index it read of the other and reloads it only
//!   when that copy says it must wait, so the other side's line is touched
//!   once per batch rather than once per message.
//! * A record never wraps: the sender fills the end of the ring with a
//!   padding record first. So every message of up to the whole ring
//!   (`capacity()`) is one contiguous slice the receiver reads in place.
//!
//! Every index and header read from the segment is checked before use; a
//! violation is a [`CorruptedError`], and the handle refuses further work.

use std::sync::Arc;

use crate::error::{CorruptedError, OpenError, Role, Stop};
use crate::frag::{self, Reassembly, Step};
use crate::layout::{Config, Kind, RECORD_HEADER, RecordHeader};
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

/// Checks an index pair read from the segment.
#[inline]
fn check_indices(tail: u64, head: u64, slots: u64) -> Result<(), CorruptedError> {
    if head < tail || head - tail > slots {
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

/// Loads the sender's head into `cached`, checking it against our tail.
#[inline]
fn load_head(
    region: &Region,
    tail: u64,
    slots: u64,
    cached: &mut u64,
) -> Result<u64, CorruptedError> {
    // SYNC: head-publish (Acquire side): every record below this head is
    // fully written.
    let head = region.header().producer.head.load(Acquire);
    check_indices(tail, head, slots)?;
    *cached = head;
    Ok(head)
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
        let token = peer::attach(&header.control.sender, Role::Sender)?;
        // Our own index first: nobody else writes it while we hold the end,
        // so the tail read after it can only have moved towards it.
        // SYNC: head-publish (Acquire side, for the previous sender's head).
        let head = header.producer.head.load(Acquire);
        // SYNC: tail-publish (Acquire side).
        let tail = header.consumer.tail.load(Acquire);
        let geo = Geometry::new(*region.config());
        if check_indices(tail, head, geo.slots).is_err() {
            peer::detach(&header.control.sender, token);
            return Err(OpenError::BadHeader("head and tail indices out of range"));
        }
        let receiver = peer::Session::start(&header.control.receiver);
        let asymmetric = barrier_ready(&header.control);
        Ok(Producer {
            region,
            geo,
            token,
            head,
            cached_tail: tail,
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

    /// Fails if the receiver has detached or the segment is poisoned.
    #[inline]
    fn check_usable(&self) -> Result<(), Stop> {
        if let Some(e) = self.poisoned {
            return Err(Stop::Corrupted(e));
        }
        if self
            .receiver
            .is_gone(&self.region.header().control.receiver, false)
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

    /// Waits until `slots` slots from head on are free.
    fn ensure_space(&mut self, slots: u64, deadline: Deadline) -> Result<(), Stop> {
        debug_assert!(slots >= 1 && slots <= self.geo.slots);
        let limit = self.geo.slots - slots;
        if self.head - self.cached_tail <= limit {
            return Ok(());
        }
        match self.load_tail() {
            Ok(tail) if self.head - tail <= limit => return Ok(()),
            Ok(_) => {}
            Err(e) => return self.poison(e),
        }
        let head = self.head;
        self.wait_for_tail(deadline, |tail| head - tail <= limit)
    }

    /// Waits, as the strategy says, until `ready(tail)` holds for the
    /// receiver's tail; fails if the receiver goes first. Shared by the wait
    /// for room and `flush`. Poisons the handle on a corrupt tail.
    fn wait_for_tail(
        &mut self,
        deadline: Deadline,
        ready: impl Fn(u64) -> bool,
    ) -> Result<(), Stop> {
        let (region, head, slots) = (&*self.region, self.head, self.geo.slots);
        let cached = &mut self.cached_tail;
        let state = &mut self.wait;
        let receiver = &self.receiver;
        let header = region.header();
        let result = wait::wait_until(
            self.strategy,
            deadline,
            &header.control.tx,
            &header.control.symmetric,
            &header.producer.counters.sleeps,
            state,
            |liveness| match load_tail(region, head, slots, cached) {
                Err(e) => Some(Err(Stop::Corrupted(e))),
                Ok(tail) if ready(tail) => Some(Ok(())),
                Ok(_) if receiver.is_gone(&header.control.receiver, liveness) => {
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

    /// Writes the record header at position `at` and publishes `head`.
    #[inline]
    fn commit(&mut self, at: u64, header: RecordHeader, slots: u64) {
        let offset = self.geo.offset(at);
        // SAFETY: `at` is below head + free space (ensured by the caller), so
        // the receiver is not reading this slot; the header fits in a slot.
        unsafe {
            self.region.slots().write(offset, RECORD_HEADER, |dst| {
                dst.copy_from_slice(&header.to_bytes());
            });
        }
        self.head = at + slots;
        let shared = self.region.header();
        // SYNC: head-publish. Release: the payload and header written above
        // are visible to the receiver that Acquire-loads this head.
        shared.producer.head.store(self.head, Release);
        shared.producer.counters.records.bump();
        wait::wake_peer(
            &shared.control,
            &shared.control.rx,
            self.asymmetric,
            &shared.producer.counters.wakes,
        );
    }

    /// Reserves room for a record of `len` payload bytes at head, writing a
    /// padding record first if it would wrap. Returns the position and the
    /// number of slots the record takes.
    fn reserve_record(&mut self, len: usize, deadline: Deadline) -> Result<(u64, u64), Stop> {
        let slots = self.geo.slots_for(len);
        debug_assert!(slots <= self.geo.slots);
        let index = self.head & self.geo.mask;
        if index + slots > self.geo.slots {
            let pad = self.geo.slots - index;
            self.ensure_space(pad, deadline)?;
            let at = self.head;
            self.commit(
                at,
                RecordHeader {
                    len: 0,
                    kind: Kind::Padding as u32,
                    total: 0,
                },
                pad,
            );
        }
        self.ensure_space(slots, deadline)?;
        Ok((self.head, slots))
    }

    /// Writes one record of `kind` carrying `bytes`.
    fn write_record(
        &mut self,
        kind: Kind,
        bytes: &[u8],
        total: u64,
        deadline: Deadline,
    ) -> Result<(), Stop> {
        let (at, slots) = self.reserve_record(bytes.len(), deadline)?;
        let offset = self.geo.offset(at) + RECORD_HEADER;
        // SAFETY: `reserve_record` made `slots` slots from `at` free and
        // contiguous; the payload fits in them.
        unsafe {
            self.region
                .slots()
                .write(offset, bytes.len(), |dst| dst.copy_from_slice(bytes));
        }
        self.commit(
            at,
            RecordHeader {
                len: bytes.len() as u32,
                kind: kind as u32,
                total,
            },
            slots,
        );
        Ok(())
    }

    /// Sends one message, fragmenting it if it is longer than the ring.
    pub(crate) fn send(&mut self, msg: &[u8], deadline: Deadline) -> Result<(), Stop> {
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
        self.commit(
            at,
            RecordHeader {
                len: len as u32,
                kind: Kind::Message as u32,
                total: len as u64,
            },
            slots,
        );
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
        self.wait_for_tail(deadline, |tail| tail >= target)
    }

    /// Whether the receiver has detached or died (reads `/proc`).
    pub(crate) fn is_disconnected(&self) -> bool {
        self.receiver
            .is_gone(&self.region.header().control.receiver, true)
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

/// The receiving side of the ring.
#[derive(Debug)]
pub(crate) struct Consumer {
    region: Arc<Region>,
    geo: Geometry,
    token: u64,
    /// Our tail (we are its only writer while attached).
    tail: u64,
    /// Last head read from the sender's line; `<=` the real head.
    cached_head: u64,
    poisoned: Option<CorruptedError>,
    assembly: Reassembly,
    /// Liveness and CPU-sharing memory of our waits.
    wait: WaitState,
    /// Whether this process can use the light half of the wake barrier.
    asymmetric: bool,
    pub(crate) strategy: WaitStrategy,
}

impl Consumer {
    pub(crate) fn attach(region: Arc<Region>, strategy: WaitStrategy) -> Result<Self, OpenError> {
        let header = region.header();
        let token = peer::attach(&header.control.receiver, Role::Receiver)?;
        // Own index first, as in `Producer::attach`.
        // SYNC: tail-publish (Acquire side, for the previous receiver's tail).
        let tail = header.consumer.tail.load(Acquire);
        // SYNC: head-publish (Acquire side).
        let head = header.producer.head.load(Acquire);
        let geo = Geometry::new(*region.config());
        if check_indices(tail, head, geo.slots).is_err() {
            peer::detach(&header.control.receiver, token);
            return Err(OpenError::BadHeader("head and tail indices out of range"));
        }
        let asymmetric = barrier_ready(&header.control);
        Ok(Consumer {
            region,
            geo,
            token,
            tail,
            cached_head: head,
            poisoned: None,
            assembly: Reassembly::default(),
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

    /// Reloads the sender's head.
    #[inline]
    fn load_head(&mut self) -> Result<u64, CorruptedError> {
        load_head(
            &self.region,
            self.tail,
            self.geo.slots,
            &mut self.cached_head,
        )
    }

    /// Waits for the next record and validates its header.
    fn next_record(&mut self, deadline: Deadline) -> Result<Record, Stop> {
        if self.tail == self.cached_head {
            self.load_head()?;
        }
        if self.tail == self.cached_head {
            let (region, tail, slots) = (&*self.region, self.tail, self.geo.slots);
            let cached = &mut self.cached_head;
            let state = &mut self.wait;
            let header = region.header();
            wait::wait_until(
                self.strategy,
                deadline,
                &header.control.rx,
                &header.control.symmetric,
                &header.consumer.counters.sleeps,
                state,
                |liveness| {
                    // Whether the sender is gone is read *before* head: its
                    // last head store happened before it detached (or died),
                    // so a receiver that then finds no new record has
                    // drained every committed message.
                    let gone = peer::is_gone(&header.control.sender, liveness);
                    match load_head(region, tail, slots, cached) {
                        Err(e) => Some(Err(Stop::Corrupted(e))),
                        Ok(head) if head != tail => Some(Ok(())),
                        Ok(_) if gone => Some(Err(Stop::Disconnected)),
                        Ok(_) => None,
                    }
                },
            )?;
        }
        self.read_record()
    }

    /// Reads and checks the header of the record at tail (which is below
    /// the cached head).
    fn read_record(&self) -> Result<Record, Stop> {
        let available = self.cached_head - self.tail;
        debug_assert!(available > 0);
        let index = self.tail & self.geo.mask;
        let offset = self.geo.offset(self.tail);
        // SAFETY: tail < cached head, so the slot at tail is published and
        // ours to read until we advance tail.
        let header = unsafe {
            self.region
                .slots()
                .read(offset, RECORD_HEADER, RecordHeader::from_bytes)
        };
        let Some(kind) = Kind::from_u32(header.kind) else {
            return Err(CorruptedError::new("unknown record kind").into());
        };
        if kind == Kind::Padding {
            if index == 0 {
                return Err(CorruptedError::new("padding at the start of the ring").into());
            }
            let slots = self.geo.slots - index;
            if slots > available {
                return Err(CorruptedError::new("padding runs past head").into());
            }
            return Ok(Record {
                kind,
                offset,
                len: 0,
                total: 0,
                slots,
            });
        }
        let len = header.len as usize;
        if len > self.geo.capacity {
            return Err(CorruptedError::new("record longer than the ring").into());
        }
        let slots = self.geo.slots_for(len);
        if slots > available {
            return Err(CorruptedError::new("record runs past head").into());
        }
        if index + slots > self.geo.slots {
            return Err(CorruptedError::new("record wraps around the ring").into());
        }
        if kind == Kind::Message && len as u64 > self.geo.config.max_message_size {
            return Err(CorruptedError::new("message longer than max_message_size").into());
        }
        Ok(Record {
            kind,
            offset: offset + RECORD_HEADER,
            len,
            total: header.total,
            slots,
        })
    }

    /// Frees the slots of the record at tail.
    #[inline]
    fn release(&mut self, slots: u64) {
        self.tail += slots;
        let shared = self.region.header();
        // SYNC: tail-publish. Release: our reads of the freed slots happen
        // before the sender, Acquire-loading this tail, overwrites them.
        shared.consumer.tail.store(self.tail, Release);
        shared.consumer.counters.records.bump();
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
                    // SAFETY: the record lies below the acquired head and
                    // within the ring (checked by `read_record`).
                    let out = unsafe { self.region.slots().read(record.offset, record.len, f) };
                    self.release(record.slots);
                    self.count_message();
                    return Ok(out);
                }
                Kind::First | Kind::Middle | Kind::Last => {
                    let max = self.geo.config.max_message_size;
                    let assembly = &mut self.assembly;
                    // SAFETY: as above.
                    let step = unsafe {
                        self.region
                            .slots()
                            .read(record.offset, record.len, |bytes| {
                                assembly.feed(record.kind, record.total, bytes, max)
                            })
                    }?;
                    self.release(record.slots);
                    if step == Step::Complete {
                        self.count_message();
                        return Ok(f(self.assembly.message()));
                    }
                }
            }
        }
    }

    fn count_message(&self) {
        self.region.header().consumer.counters.messages.bump();
    }

    /// Whether the sender has detached or died (reads `/proc`).
    pub(crate) fn is_disconnected(&self) -> bool {
        peer::is_gone(&self.region.header().control.sender, true)
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
