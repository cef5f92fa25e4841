//! Shared code of the shmq fuzz targets.
//!
//! * [`RingInput`] and [`RecordsInput`]: structured inputs (via
//!   `arbitrary`) that build the arguments of `shmq::fuzz::drain_ring`,
//!   biased towards plausible record headers so that the fuzzer reaches the
//!   receiver's deep paths (padding, fragments, reassembly, orphans).
//! * [`model_drain`]: an independent reference model of what
//!   `drain_ring` must return for the same arguments, written from the
//!   protocol as `layout.rs`, `spsc.rs` and `frag.rs` describe it. The
//!   targets assert that the library and the model agree, so the fuzzer
//!   finds wrong answers (a message delivered that should not be, a valid
//!   one refused), not only panics.
//! * [`model_header`]: the same for `shmq::fuzz::check_header`.
//!
//! Nothing here depends on `shmq`, so it builds without `cfg(fuzzing)` and
//! its unit tests run with a plain `cargo test`.

use arbitrary::Arbitrary;

/// Size of the segment header.
pub const HEADER_SIZE: usize = 512;
/// Size of a record header.
pub const RECORD_HEADER: usize = 16;
/// Largest position the receiver accepts from the segment.
pub const MAX_POSITION: u64 = 1 << 62;
/// Largest `max_message_size` a queue may declare.
pub const MAX_MESSAGE_LIMIT: u64 = 1 << 40;
/// `drain_ring` refuses rings larger than this (returns 0).
pub const DRAIN_RING_LIMIT: usize = 1 << 20;

/// Record kinds.
pub const MESSAGE: u32 = 1;
/// Padding to the end of the ring.
pub const PADDING: u32 = 2;
/// First fragment.
pub const FIRST: u32 = 3;
/// Middle fragment.
pub const MIDDLE: u32 = 4;
/// Last fragment.
pub const LAST: u32 = 5;

/// The arguments of `shmq::fuzz::drain_ring`, minus the ring bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Params {
    pub slot_size: usize,
    pub slot_count: usize,
    pub max_message_size: u64,
    pub head: u64,
    pub tail: u64,
}

/// Mirror of `Config::check`: the first impossible setting, if any.
pub fn config_error(slot_size: usize, slot_count: usize, max: u64) -> Option<&'static str> {
    if !(64..=16 << 20).contains(&slot_size) {
        return Some("slot size out of range");
    }
    if !slot_size.is_multiple_of(64) {
        return Some("slot size not a multiple of 64");
    }
    if !slot_count.is_power_of_two() {
        return Some("slot count not a power of two");
    }
    if !(2..=1 << 24).contains(&slot_count) {
        return Some("slot count out of range");
    }
    if (slot_size as u128) * (slot_count as u128) > 1 << 32 {
        return Some("ring larger than 4 GiB");
    }
    if max > MAX_MESSAGE_LIMIT {
        return Some("max message size larger than 1 TiB");
    }
    None
}

/// Largest payload of one record.
pub fn capacity(slot_size: usize, slot_count: usize) -> usize {
    slot_size * slot_count - RECORD_HEADER
}

/// Payload of one fragment as the real sender cuts it.
pub fn fragment_size(slot_size: usize, slot_count: usize) -> usize {
    (slot_count / 2).max(1) * slot_size - RECORD_HEADER
}

/// Slots taken by a record of `len` payload bytes.
pub fn slots_for(len: u64, slot_size: usize) -> u64 {
    (RECORD_HEADER as u64 + len).div_ceil(slot_size as u64)
}

/// Why the model's drain stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Stop {
    /// `drain_ring` returns 0 before attaching a receiver.
    Rejected(&'static str),
    /// The receiver refused to attach (bad indices).
    AttachFailed(&'static str),
    /// Tail reached head: `WouldBlock`.
    Empty,
    /// `drain_ring`'s loop bound was reached (should not happen: every
    /// delivered message takes at least one slot).
    LoopLimit,
    /// The receiver reported `Corrupted` for this reason.
    Corrupted(&'static str),
}

/// What the model's drain did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Messages delivered (what `drain_ring` returns).
    pub delivered: usize,
    /// Why it stopped (`None` only before the drain).
    pub stop: Option<Stop>,
    /// Padding records skipped.
    pub padding: usize,
    /// Fragment records accepted into a reassembly.
    pub fragments: usize,
    /// Continuation fragments skipped because no message was in progress.
    pub orphans: usize,
    /// Partly assembled messages dropped (by a `Message` or a new `First`).
    pub abandoned: usize,
    /// Messages delivered from the reassembly buffer.
    pub reassembled: usize,
}

fn ring_byte(ring: &[u8], i: usize) -> u8 {
    if ring.is_empty() {
        0
    } else {
        ring[i % ring.len()]
    }
}

fn read_u32(ring: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(std::array::from_fn(|i| ring_byte(ring, at + i)))
}

fn read_u64(ring: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(std::array::from_fn(|i| ring_byte(ring, at + i)))
}

/// Reference model of `shmq::fuzz::drain_ring(p..., ring)`.
///
/// The slot array is `ring` repeated (zeros if empty), as `drain_ring`
/// fills it. Written from the protocol description rather than copied from
/// the code: the checks a receiver must make on each record header, the
/// reassembly rules, and `drain_ring`'s own loop.
pub fn model_drain(p: &Params, ring: &[u8]) -> Outcome {
    let mut out = Outcome::default();
    if let Some(why) = config_error(p.slot_size, p.slot_count, p.max_message_size) {
        out.stop = Some(Stop::Rejected(why));
        return out;
    }
    let (ss, n) = (p.slot_size, p.slot_count);
    if ss * n > DRAIN_RING_LIMIT {
        out.stop = Some(Stop::Rejected("ring larger than drain_ring allows"));
        return out;
    }
    let slots = n as u64;
    let (mut tail, head) = (p.tail, p.head);
    if head < tail || head - tail > slots {
        out.stop = Some(Stop::AttachFailed("head and tail out of range"));
        return out;
    }
    if head > MAX_POSITION {
        out.stop = Some(Stop::AttachFailed("index beyond 2^62"));
        return out;
    }
    let cap = capacity(ss, n) as u64;
    let max = p.max_message_size;
    // (total, bytes so far) of the message being reassembled.
    let mut assembly: Option<(u64, u64)> = None;

    let stop = 'drain: {
        for _ in 0..4 * n {
            // One receive: loops over records until it delivers a message.
            loop {
                if tail == head {
                    break 'drain Stop::Empty;
                }
                let available = head - tail;
                let index = tail & (slots - 1);
                let at = index as usize * ss;
                let len = u64::from(read_u32(ring, at));
                let kind = read_u32(ring, at + 4);
                let total = read_u64(ring, at + 8);
                let corrupt = |why| Stop::Corrupted(why);
                if !(MESSAGE..=LAST).contains(&kind) {
                    break 'drain corrupt("unknown record kind");
                }
                if kind == PADDING {
                    if index == 0 {
                        break 'drain corrupt("padding at the start of the ring");
                    }
                    if slots - index > available {
                        break 'drain corrupt("padding runs past head");
                    }
                    tail += slots - index;
                    out.padding += 1;
                    continue;
                }
                if len > cap {
                    break 'drain corrupt("record longer than the ring");
                }
                let taken = slots_for(len, ss);
                if taken > available {
                    break 'drain corrupt("record runs past head");
                }
                if index + taken > slots {
                    break 'drain corrupt("record wraps around the ring");
                }
                match kind {
                    MESSAGE => {
                        if len > max {
                            break 'drain corrupt("message longer than max_message_size");
                        }
                        if assembly.take().is_some() {
                            out.abandoned += 1;
                        }
                        tail += taken;
                        out.delivered += 1;
                        break;
                    }
                    FIRST => {
                        if total > max {
                            break 'drain corrupt("message longer than max_message_size");
                        }
                        if len >= total {
                            break 'drain corrupt("first fragment holds the whole message");
                        }
                        if assembly.replace((total, len)).is_some() {
                            out.abandoned += 1;
                        }
                        out.fragments += 1;
                        tail += taken;
                    }
                    _ => {
                        let Some((expected, have)) = assembly else {
                            out.orphans += 1;
                            tail += taken;
                            continue;
                        };
                        let have = have + len;
                        if have > expected {
                            break 'drain corrupt("fragments longer than the message");
                        }
                        if kind == MIDDLE && have == expected {
                            break 'drain corrupt("message completed without a last fragment");
                        }
                        if kind == LAST && have != expected {
                            break 'drain corrupt("last fragment leaves the message short");
                        }
                        out.fragments += 1;
                        tail += taken;
                        if kind == LAST {
                            assembly = None;
                            out.delivered += 1;
                            out.reassembled += 1;
                            break;
                        }
                        assembly = Some((expected, have));
                    }
                }
            }
        }
        Stop::LoopLimit
    };
    out.stop = Some(stop);
    out
}

/// Reference model of `shmq::fuzz::check_header(image)`: `Ok` or the
/// reason it must fail.
pub fn model_header(image: &[u8]) -> Result<(), &'static str> {
    if image.len() < HEADER_SIZE {
        return Err("shorter than a header");
    }
    let u32_at = |at: usize| u32::from_le_bytes(image[at..at + 4].try_into().unwrap());
    let u64_at = |at: usize| u64::from_le_bytes(image[at..at + 8].try_into().unwrap());
    if u64_at(0) != u64::from_le_bytes(*b"SHMQRING") {
        return Err("magic");
    }
    if u32_at(8) != 1 {
        return Err("version");
    }
    if u32_at(12) != 1 {
        return Err("flavour");
    }
    if u32_at(16) != HEADER_SIZE as u32 {
        return Err("header size");
    }
    let (ss, n, max) = (u32_at(20) as usize, u32_at(24) as usize, u64_at(32));
    if let Some(why) = config_error(ss, n, max) {
        return Err(why);
    }
    let expected = (HEADER_SIZE + ss * n) as u64;
    if u64_at(40) != expected {
        return Err("segment size field");
    }
    if image.len() as u64 != expected {
        return Err("file size");
    }
    Ok(())
}

/// A valid header image for a segment of `slot_size` x `slot_count`
/// (header only: append the ring to make a whole segment).
pub fn header_image(slot_size: u32, slot_count: u32, max: u64) -> [u8; HEADER_SIZE] {
    let mut h = [0u8; HEADER_SIZE];
    h[0..8].copy_from_slice(b"SHMQRING");
    h[8..12].copy_from_slice(&1u32.to_le_bytes());
    h[12..16].copy_from_slice(&1u32.to_le_bytes());
    h[16..20].copy_from_slice(&(HEADER_SIZE as u32).to_le_bytes());
    h[20..24].copy_from_slice(&slot_size.to_le_bytes());
    h[24..28].copy_from_slice(&slot_count.to_le_bytes());
    h[32..40].copy_from_slice(&max.to_le_bytes());
    let size = HEADER_SIZE as u64 + u64::from(slot_size) * u64::from(slot_count);
    h[40..48].copy_from_slice(&size.to_le_bytes());
    h[48..52].copy_from_slice(b"REDY");
    h
}

// ---------------------------------------------------------------------------
// Choices biased towards the boundaries the receiver checks.

/// A small adjustment around a boundary.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum Delta {
    Zero,
    PlusOne,
    MinusOne,
    Plus(u8),
    Minus(u8),
}

impl Delta {
    pub fn apply(self, v: u64) -> u64 {
        match self {
            Delta::Zero => v,
            Delta::PlusOne => v.wrapping_add(1),
            Delta::MinusOne => v.wrapping_sub(1),
            Delta::Plus(d) => v.wrapping_add(d.into()),
            Delta::Minus(d) => v.wrapping_sub(d.into()),
        }
    }

    /// As `apply`, clamped to `u32` (a record's `len` field).
    pub fn apply_u32(self, v: u64) -> u32 {
        match self {
            Delta::MinusOne | Delta::Minus(_) if v == 0 => 0,
            _ => self.apply(v).min(u32::MAX.into()) as u32,
        }
    }
}

#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum SlotSize {
    B64,
    B128,
    B192,
    B256,
    B1024,
    /// Often invalid (not a multiple of 64, out of range, too large).
    Raw(u32),
}

impl SlotSize {
    pub fn get(self) -> usize {
        match self {
            SlotSize::B64 => 64,
            SlotSize::B128 => 128,
            SlotSize::B192 => 192,
            SlotSize::B256 => 256,
            SlotSize::B1024 => 1024,
            SlotSize::Raw(v) => v as usize,
        }
    }
}

#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum SlotCount {
    /// `1 << (1 + k % 6)`: 2 to 64.
    Pow(u8),
    /// Often invalid (0, 1, not a power of two, too many).
    Raw(u32),
}

impl SlotCount {
    pub fn get(self) -> usize {
        match self {
            SlotCount::Pow(k) => 1 << (1 + k % 6),
            SlotCount::Raw(v) => v as usize,
        }
    }
}

#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum MaxSize {
    Zero,
    Small(u16),
    /// Around the ring's capacity.
    Capacity(Delta),
    /// Around the fragment size.
    Fragment(Delta),
    /// Around `k` rings.
    Rings(u8, Delta),
    /// Around the 1 TiB limit.
    Limit(Delta),
    Raw(u64),
}

impl MaxSize {
    pub fn get(self, slot_size: usize, slot_count: usize) -> u64 {
        let ring = (slot_size as u64).wrapping_mul(slot_count as u64);
        match self {
            MaxSize::Zero => 0,
            MaxSize::Small(v) => v.into(),
            MaxSize::Capacity(d) => d.apply(ring.wrapping_sub(16)),
            MaxSize::Fragment(d) => {
                let frag = ((slot_count as u64) / 2)
                    .max(1)
                    .wrapping_mul(slot_size as u64)
                    .wrapping_sub(16);
                d.apply(frag)
            }
            MaxSize::Rings(k, d) => d.apply(ring.wrapping_mul(k.into())),
            MaxSize::Limit(d) => d.apply(MAX_MESSAGE_LIMIT),
            MaxSize::Raw(v) => v,
        }
    }
}

#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum Tail {
    Zero,
    /// `laps` whole rings plus `index` slots.
    Laps(u16, u8),
    /// Just below the largest accepted position.
    BelowLimit(u8),
    /// Above it.
    AboveLimit(u8),
    /// Near `u64::MAX`.
    NearMax(u8),
    Raw(u64),
}

impl Tail {
    pub fn get(self, slot_count: usize) -> u64 {
        let n = slot_count as u64;
        match self {
            Tail::Zero => 0,
            Tail::Laps(laps, index) => u64::from(laps)
                .wrapping_mul(n)
                .wrapping_add(u64::from(index) % n.max(1)),
            Tail::BelowLimit(d) => MAX_POSITION - u64::from(d),
            Tail::AboveLimit(d) => MAX_POSITION + u64::from(d),
            Tail::NearMax(d) => u64::MAX - u64::from(d),
            Tail::Raw(v) => v,
        }
    }
}

#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum Head {
    /// `tail + k % (slot_count + 1)`: in range.
    Ahead(u8),
    /// A full ring.
    Full,
    Empty,
    /// More than a ring ahead.
    Over(u8),
    /// Behind the tail.
    Behind(u8),
    Raw(u64),
}

impl Head {
    pub fn get(self, tail: u64, slot_count: usize) -> u64 {
        let n = slot_count as u64;
        match self {
            Head::Ahead(k) => tail.wrapping_add(u64::from(k) % n.saturating_add(1)),
            Head::Full => tail.wrapping_add(n),
            Head::Empty => tail,
            Head::Over(k) => tail.wrapping_add(n).wrapping_add(1 + u64::from(k)),
            Head::Behind(k) => tail.wrapping_sub(1 + u64::from(k)),
            Head::Raw(v) => v,
        }
    }
}

#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum KindSel {
    Message,
    Padding,
    First,
    Middle,
    Last,
    /// Usually an unknown kind (0, 6, ...).
    Raw(u32),
}

impl KindSel {
    pub fn get(self) -> u32 {
        match self {
            KindSel::Message => MESSAGE,
            KindSel::Padding => PADDING,
            KindSel::First => FIRST,
            KindSel::Middle => MIDDLE,
            KindSel::Last => LAST,
            KindSel::Raw(v) => v,
        }
    }
}

/// Where a record header is, for lengths chosen relative to it.
#[derive(Clone, Copy, Debug)]
pub struct Spot {
    pub slot_size: usize,
    pub slot_count: usize,
    /// Slot index of the record.
    pub index: u64,
    /// Published slots from the record to head (may be wild).
    pub available: u64,
    pub max: u64,
}

#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum LenSel {
    Zero,
    Small(u8),
    /// Exactly fills `1 + k % slot_count` slots, adjusted.
    Slots(u8, Delta),
    /// Around the ring's capacity.
    Capacity(Delta),
    /// Around the sender's fragment size.
    Fragment(Delta),
    /// Exactly reaches the end of the ring, adjusted.
    ToEnd(Delta),
    /// Exactly reaches head, adjusted.
    ToHead(Delta),
    /// Around max_message_size.
    Max(Delta),
    Raw(u32),
}

impl LenSel {
    pub fn get(self, s: &Spot) -> u32 {
        let ss = s.slot_size as u64;
        let n = s.slot_count as u64;
        let fill = |k: u64| k.wrapping_mul(ss).saturating_sub(RECORD_HEADER as u64);
        match self {
            LenSel::Zero => 0,
            LenSel::Small(v) => v.into(),
            LenSel::Slots(k, d) => d.apply_u32(fill(1 + u64::from(k) % n.max(1))),
            LenSel::Capacity(d) => d.apply_u32(fill(n)),
            LenSel::Fragment(d) => d.apply_u32(fill((n / 2).max(1))),
            LenSel::ToEnd(d) => d.apply_u32(fill(n.saturating_sub(s.index))),
            LenSel::ToHead(d) => d.apply_u32(fill(s.available.min(n))),
            LenSel::Max(d) => d.apply_u32(s.max),
            LenSel::Raw(v) => v,
        }
    }
}

#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum TotalSel {
    /// Equal to the record's own length.
    Len,
    Zero,
    /// The sum of the lengths of this record and the fragments after it up
    /// to the next `Last` (what a consistent `First` declares), adjusted.
    Exact(Delta),
    /// Around max_message_size.
    Max(Delta),
    Raw(u64),
}

/// One record header the fuzzer places in the ring.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub struct Rec {
    pub kind: KindSel,
    pub len: LenSel,
    pub total: TotalSel,
    /// Where the next record goes.
    pub step: StepSel,
}

#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum StepSel {
    /// Right after this record, as the receiver will look for it.
    Natural,
    /// `1 + k % slot_count` slots on (misplaced, or overlapping).
    Slots(u8),
}

#[derive(Arbitrary, Clone, Debug)]
pub enum Body {
    /// The ring is these bytes, repeated.
    Raw(Vec<u8>),
    /// Record headers placed from tail on over `fill` (repeated) bytes.
    Records { records: Vec<Rec>, fill: Vec<u8> },
}

/// The `ring` target's input.
#[derive(Arbitrary, Clone, Debug)]
pub struct RingInput {
    pub slot_size: SlotSize,
    pub slot_count: SlotCount,
    pub max: MaxSize,
    pub tail: Tail,
    pub head: Head,
    pub body: Body,
}

impl RingInput {
    /// The `drain_ring` arguments this input describes.
    pub fn build(&self) -> (Params, Vec<u8>) {
        let slot_size = self.slot_size.get();
        let slot_count = self.slot_count.get();
        let max_message_size = self.max.get(slot_size, slot_count);
        let tail = self.tail.get(slot_count);
        let head = self.head.get(tail, slot_count);
        let p = Params {
            slot_size,
            slot_count,
            max_message_size,
            head,
            tail,
        };
        let ring = match &self.body {
            Body::Raw(bytes) => bytes.clone(),
            Body::Records { records, fill } => {
                let usable = config_error(slot_size, slot_count, 0).is_none()
                    && slot_size * slot_count <= DRAIN_RING_LIMIT;
                if usable {
                    place_records(&p, records, fill)
                } else {
                    fill.clone()
                }
            }
        };
        (p, ring)
    }
}

/// Lays out `records` from tail on in a ring image of the whole ring.
fn place_records(p: &Params, records: &[Rec], fill: &[u8]) -> Vec<u8> {
    let (ss, n) = (p.slot_size, p.slot_count);
    let slots = n as u64;
    let mut ring: Vec<u8> = (0..ss * n).map(|i| ring_byte(fill, i)).collect();
    // First pass: where each record goes, its kind and length.
    let mut placed = Vec::with_capacity(records.len());
    let mut pos = p.tail;
    let mut walked = 0u64;
    for rec in records {
        if walked >= slots {
            break; // A whole lap: further headers would overwrite these.
        }
        let index = pos & (slots - 1);
        let spot = Spot {
            slot_size: ss,
            slot_count: n,
            index,
            available: p.head.wrapping_sub(pos),
            max: p.max_message_size,
        };
        let kind = rec.kind.get();
        let len = rec.len.get(&spot);
        let step = match rec.step {
            StepSel::Natural if kind == PADDING => slots - index,
            StepSel::Natural => slots_for(len.into(), ss).clamp(1, slots),
            StepSel::Slots(k) => 1 + u64::from(k) % slots,
        };
        placed.push((index, kind, len));
        pos = pos.wrapping_add(step);
        walked += step;
    }
    // Second pass: totals, which may depend on the records after.
    for (i, (rec, &(index, kind, len))) in records.iter().zip(&placed).enumerate() {
        let total = match rec.total {
            TotalSel::Len => len.into(),
            TotalSel::Zero => 0,
            TotalSel::Exact(d) => {
                let mut sum = u64::from(len);
                for &(_, k, l) in &placed[i + 1..] {
                    if k == MIDDLE || k == LAST {
                        sum += u64::from(l);
                    }
                    if k != MIDDLE && k != PADDING {
                        break;
                    }
                }
                d.apply(sum)
            }
            TotalSel::Max(d) => d.apply(p.max_message_size),
            TotalSel::Raw(v) => v,
        };
        write_header(&mut ring, index as usize * ss, len, kind, total);
    }
    ring
}

fn write_header(ring: &mut [u8], at: usize, len: u32, kind: u32, total: u64) {
    ring[at..at + 4].copy_from_slice(&len.to_le_bytes());
    ring[at + 4..at + 8].copy_from_slice(&kind.to_le_bytes());
    ring[at + 8..at + 16].copy_from_slice(&total.to_le_bytes());
}

// ---------------------------------------------------------------------------
// The `records` target: a tiny sender that writes well-formed records the
// way the real one does (padding before a record that would wrap,
// fragments carrying the message length), then optional corruptions.

/// One thing the little sender does.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum Op {
    /// A whole message of `len % (capacity + 1)` bytes.
    Message(u16),
    /// A whole message that exactly fills `1 + k % slot_count` slots.
    MessageFilling(u8),
    /// A fragmented message of `total` bytes in pieces of `piece` bytes (at
    /// least 1, at most the fragment size); `cut` abandons it after
    /// `1 + cut % pieces` fragments, as a sender that timed out does.
    Fragmented {
        total: u16,
        piece: u16,
        cut: Option<u8>,
    },
    /// Padding to the end of the ring (if not at its start).
    Pad,
}

/// A continuation fragment at the start of the ring, as a receiver that
/// takes over in the middle of a message finds.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub struct Orphan {
    pub last: bool,
    pub len: u16,
}

/// A corruption applied to the written records.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum Mutation {
    Kind(u8, KindSel),
    Len(u8, LenSel),
    Total(u8, TotalSel),
    /// Moves head by a few slots.
    Head(i8),
    /// Zeroes a whole record header.
    Wipe(u8),
}

/// The `records` target's input.
#[derive(Arbitrary, Clone, Debug)]
pub struct RecordsInput {
    /// `64 * (1 + k % 4)`.
    pub slot_size: u8,
    /// `1 << (1 + k % 6)`.
    pub slot_count: u8,
    pub max: MaxSize,
    pub tail: Tail,
    pub orphans: Vec<Orphan>,
    pub ops: Vec<Op>,
    pub mutations: Vec<Mutation>,
    pub fill: u8,
}

/// A record the little sender wrote.
#[derive(Clone, Copy, Debug)]
pub struct Written {
    pub pos: u64,
    pub len: u32,
    pub kind: u32,
    pub total: u64,
}

/// What [`RecordsInput::build`] made.
#[derive(Clone, Debug)]
pub struct Built {
    pub params: Params,
    pub ring: Vec<u8>,
    pub records: Vec<Written>,
    /// Messages a correct receiver delivers, if no mutation applied.
    pub expected: Option<usize>,
}

impl RecordsInput {
    pub fn build(&self) -> Built {
        let ss = 64 * (1 + usize::from(self.slot_size % 4));
        let n = 1usize << (1 + self.slot_count % 6);
        let slots = n as u64;
        let cap = capacity(ss, n) as u64;
        let frag = fragment_size(ss, n) as u64;
        let max = self.max.get(ss, n).min(MAX_MESSAGE_LIMIT);
        // A tail the receiver accepts with a whole ring ahead of it.
        let tail = self.tail.get(n).min(MAX_POSITION - slots);

        let mut records: Vec<Written> = Vec::new();
        let mut head = tail;
        let mut delivered = 0;
        // Appends a record if it fits in the ring (after padding if it
        // would wrap); false once the ring is full.
        let emit = |records: &mut Vec<Written>, head: &mut u64, len: u64, kind, total| {
            let need = if kind == PADDING {
                slots - (*head & (slots - 1))
            } else {
                slots_for(len, ss)
            };
            let index = *head & (slots - 1);
            let pad = if kind != PADDING && index + need > slots {
                slots - index
            } else {
                0
            };
            if *head - tail + pad + need > slots {
                return false;
            }
            if pad > 0 {
                records.push(Written {
                    pos: *head,
                    len: 0,
                    kind: PADDING,
                    total: 0,
                });
                *head += pad;
            }
            records.push(Written {
                pos: *head,
                len: len as u32,
                kind,
                total,
            });
            *head += need;
            true
        };

        'ops: {
            for o in self.orphans.iter().take(3) {
                let len = u64::from(o.len) % (frag + 1);
                let kind = if o.last { LAST } else { MIDDLE };
                if !emit(&mut records, &mut head, len, kind, len) {
                    break 'ops;
                }
            }
            for op in &self.ops {
                match *op {
                    Op::Message(len) => {
                        let len = u64::from(len) % (cap + 1);
                        if len > max {
                            continue; // The sender refuses it (TooLarge).
                        }
                        if !emit(&mut records, &mut head, len, MESSAGE, len) {
                            break 'ops;
                        }
                        delivered += 1;
                    }
                    Op::MessageFilling(k) => {
                        let len = (1 + u64::from(k) % slots) * ss as u64 - RECORD_HEADER as u64;
                        if len > max {
                            continue;
                        }
                        if !emit(&mut records, &mut head, len, MESSAGE, len) {
                            break 'ops;
                        }
                        delivered += 1;
                    }
                    Op::Fragmented { total, piece, cut } => {
                        let piece = 1 + u64::from(piece) % frag;
                        let total = u64::from(total).max(piece + 1);
                        if total > max {
                            continue;
                        }
                        let count = total.div_ceil(piece);
                        let sent = match cut {
                            Some(c) => 1 + u64::from(c) % (count - 1),
                            None => count,
                        };
                        for i in 0..sent {
                            let kind = match i {
                                0 => FIRST,
                                i if i + 1 == count => LAST,
                                _ => MIDDLE,
                            };
                            let len = piece.min(total - i * piece);
                            if !emit(&mut records, &mut head, len, kind, total) {
                                break 'ops;
                            }
                        }
                        if sent == count {
                            delivered += 1;
                        }
                    }
                    Op::Pad => {
                        if head & (slots - 1) != 0 && !emit(&mut records, &mut head, 0, PADDING, 0)
                        {
                            break 'ops;
                        }
                    }
                }
            }
        }

        let mut expected = Some(delivered);
        if !records.is_empty() {
            for m in &self.mutations {
                expected = None;
                let count = records.len();
                let pick = |i: u8| usize::from(i) % count;
                match *m {
                    Mutation::Kind(i, k) => records[pick(i)].kind = k.get(),
                    Mutation::Len(i, l) => {
                        let r = &records[pick(i)];
                        let spot = Spot {
                            slot_size: ss,
                            slot_count: n,
                            index: r.pos & (slots - 1),
                            available: head.wrapping_sub(r.pos),
                            max,
                        };
                        records[pick(i)].len = l.get(&spot);
                    }
                    Mutation::Total(i, t) => {
                        let r = records[pick(i)];
                        records[pick(i)].total = match t {
                            TotalSel::Len => r.len.into(),
                            TotalSel::Zero => 0,
                            TotalSel::Exact(d) => d.apply(r.total),
                            TotalSel::Max(d) => d.apply(max),
                            TotalSel::Raw(v) => v,
                        };
                    }
                    Mutation::Head(d) => {
                        head = head.wrapping_add_signed(d.into());
                    }
                    Mutation::Wipe(i) => {
                        let r = &mut records[pick(i)];
                        (r.len, r.kind, r.total) = (0, 0, 0);
                    }
                }
            }
        }

        let mut ring = vec![self.fill; ss * n];
        for r in &records {
            let at = (r.pos & (slots - 1)) as usize * ss;
            write_header(&mut ring, at, r.len, r.kind, r.total);
        }
        Built {
            params: Params {
                slot_size: ss,
                slot_count: n,
                max_message_size: max,
                head,
                tail,
            },
            ring,
            records,
            expected,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(ss: usize, n: usize, max: u64, tail: u64, head: u64) -> Params {
        Params {
            slot_size: ss,
            slot_count: n,
            max_message_size: max,
            head,
            tail,
        }
    }

    fn ring_of(ss: usize, n: usize, headers: &[(usize, u32, u32, u64)]) -> Vec<u8> {
        let mut ring = vec![0; ss * n];
        for &(slot, len, kind, total) in headers {
            write_header(&mut ring, slot * ss, len, kind, total);
        }
        ring
    }

    #[test]
    fn model_follows_the_protocol() {
        // Two messages, then padding, then a message at slot 0.
        let ring = ring_of(
            64,
            4,
            &[
                (0, 60, MESSAGE, 60), // 2 slots
                (2, 10, MESSAGE, 10),
                (3, 0, PADDING, 0),
            ],
        );
        let o = model_drain(&p(64, 4, 1000, 0, 4), &ring);
        assert_eq!((o.delivered, o.padding, o.stop), (2, 1, Some(Stop::Empty)));
        let o = model_drain(&p(64, 4, 1000, 2, 6), &ring);
        assert_eq!(o.delivered, 2, "{o:?}"); // 10, pad, 60
        // Reassembly.
        let ring = ring_of(
            64,
            4,
            &[
                (0, 5, LAST, 0),
                (1, 10, FIRST, 30),
                (2, 10, MIDDLE, 0),
                (3, 10, LAST, 0),
            ],
        );
        let o = model_drain(&p(64, 4, 30, 0, 4), &ring);
        assert_eq!((o.delivered, o.orphans, o.reassembled), (1, 1, 1));
        let o = model_drain(&p(64, 4, 29, 0, 4), &ring);
        assert_eq!(
            o.stop,
            Some(Stop::Corrupted("message longer than max_message_size"))
        );
        // Bad indices, bad config.
        assert!(matches!(
            model_drain(&p(64, 4, 0, 5, 4), &ring).stop,
            Some(Stop::AttachFailed(_))
        ));
        assert!(matches!(
            model_drain(&p(65, 4, 0, 0, 0), &ring).stop,
            Some(Stop::Rejected(_))
        ));
    }

    #[test]
    fn header_model_accepts_a_valid_header() {
        let mut image = header_image(64, 2, 100).to_vec();
        image.resize(HEADER_SIZE + 128, 0);
        assert_eq!(model_header(&image), Ok(()));
        image.push(0);
        assert_eq!(model_header(&image), Err("file size"));
    }

    #[test]
    fn records_generator_matches_the_model() {
        use arbitrary::Unstructured;
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut bytes = vec![0u8; 512];
        let mut checked = 0;
        for _ in 0..20_000 {
            for b in &mut bytes {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                *b = seed as u8;
            }
            let Ok(input) = RecordsInput::arbitrary(&mut Unstructured::new(&bytes)) else {
                continue;
            };
            let built = input.build();
            if let Some(expected) = built.expected {
                let o = model_drain(&built.params, &built.ring);
                assert_eq!(o.delivered, expected, "{input:?} {o:?}");
                assert_eq!(o.stop, Some(Stop::Empty), "{input:?} {o:?}");
                checked += 1;
            }
        }
        assert!(checked > 100, "only {checked} unmutated inputs");
    }
}
