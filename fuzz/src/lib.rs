//! Shared code of the shmq fuzz targets.
//!
//! * [`RingInput`] and [`RecordsInput`]: structured inputs (via
//!   `arbitrary`) that build the arguments of `shmq::fuzz::drain_ring`,
//!   biased towards plausible record headers (committed for the right
//!   position) so that the fuzzer reaches the receiver's deep paths
//!   (padding, fragments, reassembly, orphans).
//! * [`model_drain`]: an independent reference model of what
//!   `drain_ring` must return for the same arguments, written from the ring
//!   protocol (v2: the receiver polls a commit word in the record header,
//!   never `head`) and from `drain_ring`'s loop. The targets assert that
//!   the library and the model agree, so the fuzzer finds wrong answers (a
//!   message delivered that should not be, a valid one refused), not only
//!   panics.
//! * [`model_header`]: the same for `shmq::fuzz::check_header`.
//! * [`encode`] and [`seeds`]: the inverse of the `arbitrary` decoding, so
//!   that the seeds in `seeds/` are written from readable descriptions
//!   (`cargo run --example seeds`) instead of being picked from a corpus.
//!
//! Nothing here depends on `shmq`, so it builds without `cfg(fuzzing)` and
//! its unit tests run with a plain `cargo test`.

use arbitrary::Arbitrary;

/// Size of the segment header.
pub const HEADER_SIZE: usize = 512;
/// Layout version in the segment header (2: commit words in the records).
pub const LAYOUT_VERSION: u32 = 2;
/// Size of a record header.
pub const RECORD_HEADER: usize = 16;
/// Largest tail the receiver accepts when it attaches.
pub const MAX_POSITION: u64 = 1 << 62;
/// Largest `max_message_size` a queue may declare.
pub const MAX_MESSAGE_LIMIT: u64 = 1 << 40;
/// `drain_ring` refuses rings larger than this (returns 0).
pub const DRAIN_RING_LIMIT: usize = 1 << 20;
/// Offset of the commit word in a record header.
pub const COMMIT_OFFSET: usize = 4;
/// The bits of a position that a commit word keeps (its stamp).
pub const STAMP_MASK: u64 = 0xFF_FFFF;

/// Record kinds.
pub const MESSAGE: u8 = 1;
/// Padding to the end of the ring.
pub const PADDING: u8 = 2;
/// First fragment.
pub const FIRST: u8 = 3;
/// Middle fragment.
pub const MIDDLE: u8 = 4;
/// Last fragment.
pub const LAST: u8 = 5;

/// The commit word a sender stores for a record of `kind` at monotonic
/// slot position `position`: the kind in bits 0..8, the low 24 bits of the
/// position above it.
pub fn commit_word(kind: u8, position: u64) -> u32 {
    u32::from(kind) | ((position & STAMP_MASK) as u32) << 8
}

/// The arguments of `shmq::fuzz::drain_ring`, minus the ring bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Params {
    pub slot_size: usize,
    pub slot_count: usize,
    pub max_message_size: u64,
    /// Passed to `drain_ring`; a v2 receiver must not look at it.
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

/// Largest payload of one record: the sender always keeps one slot free
/// beyond a record (for the next commit word), so a record spans at most
/// `slot_count - 1` slots.
pub fn capacity(slot_size: usize, slot_count: usize) -> usize {
    (slot_count - 1) * slot_size - RECORD_HEADER
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
    /// The receiver refused to attach (tail beyond 2^62).
    AttachFailed(&'static str),
    /// The commit word at tail is 0: nothing committed there, `WouldBlock`.
    Empty,
    /// `drain_ring`'s loop bound was reached (should not happen: a drain
    /// reads each slot's commit word at most once as a record header).
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
    /// Slots the receiver moved its tail over (may exceed one ring: the
    /// image is read, never consumed, and stamps decide what is valid).
    pub advanced: u64,
}

/// A short name for the paths an outcome reaches, as the seeds are named:
/// the stop, then `+delivered`, `+padding`, ... for each path taken.
pub fn classify(o: &Outcome) -> String {
    let mut s = match o.stop {
        Some(Stop::Rejected(_)) => "rejected".to_string(),
        Some(Stop::AttachFailed(_)) => "attach-failed".to_string(),
        Some(Stop::Corrupted(why)) => format!("corrupted:{}", why.replace(' ', "-")),
        Some(Stop::Empty) => "empty".to_string(),
        Some(Stop::LoopLimit) => "loop-limit".to_string(),
        None => "none".to_string(),
    };
    for (n, what) in [
        (o.delivered, "delivered"),
        (o.padding, "padding"),
        (o.orphans, "orphans"),
        (o.abandoned, "abandoned"),
        (o.reassembled, "reassembled"),
    ] {
        if n > 0 {
            s.push('+');
            s.push_str(what);
        }
    }
    s
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

/// Reference model of `shmq::fuzz::drain_ring(p..., ring)` under ring
/// protocol v2.
///
/// The slot array is `ring` repeated (zeros if empty), as `drain_ring`
/// fills it. Written from the protocol description (spec v2) rather than
/// from the code: the receiver's attach check, the checks on each record
/// header (commit word first), the reassembly rules, and `drain_ring`'s
/// own loop. `p.head` is deliberately unused: a v2 receiver never reads it.
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
    if p.tail > MAX_POSITION {
        out.stop = Some(Stop::AttachFailed("tail index beyond 2^62"));
        return out;
    }
    let slots = n as u64;
    let mut tail = p.tail;
    let cap = capacity(ss, n) as u64;
    let max = p.max_message_size;
    // (total, bytes so far) of the message being reassembled.
    let mut assembly: Option<(u64, u64)> = None;

    let stop = 'drain: {
        for _ in 0..4 * n {
            // One receive: loops over records until it delivers a message.
            loop {
                let index = tail & (slots - 1);
                let at = index as usize * ss;
                let corrupt = |why| Stop::Corrupted(why);
                let commit = read_u32(ring, at + COMMIT_OFFSET);
                if commit == 0 {
                    break 'drain Stop::Empty;
                }
                if u64::from(commit >> 8) != tail & STAMP_MASK {
                    break 'drain corrupt("record stamped for another position");
                }
                let kind = (commit & 0xFF) as u8;
                let len = u64::from(read_u32(ring, at));
                let total = read_u64(ring, at + 8);
                if !(MESSAGE..=LAST).contains(&kind) {
                    break 'drain corrupt("unknown record kind");
                }
                if kind == PADDING {
                    if index == 0 {
                        break 'drain corrupt("padding at the start of the ring");
                    }
                    tail += slots - index;
                    out.advanced += slots - index;
                    out.padding += 1;
                    continue;
                }
                if len > cap {
                    break 'drain corrupt("record longer than the ring");
                }
                let taken = slots_for(len, ss);
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
                        out.advanced += taken;
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
                        out.advanced += taken;
                    }
                    _ => {
                        let Some((expected, have)) = assembly else {
                            out.orphans += 1;
                            tail += taken;
                            out.advanced += taken;
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
                        out.advanced += taken;
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
    if u32_at(8) != LAYOUT_VERSION {
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
    h[8..12].copy_from_slice(&LAYOUT_VERSION.to_le_bytes());
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
    /// Around the ring's capacity (`(slot_count - 1) * slot_size - 16`).
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
        let ss = slot_size as u64;
        let ring = ss.wrapping_mul(slot_count as u64);
        match self {
            MaxSize::Zero => 0,
            MaxSize::Small(v) => v.into(),
            MaxSize::Capacity(d) => d.apply(ring.wrapping_sub(ss).wrapping_sub(16)),
            MaxSize::Fragment(d) => {
                let frag = ((slot_count as u64) / 2)
                    .max(1)
                    .wrapping_mul(ss)
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
    /// `(1 + k) * 2^24 - d`: just below a point where the 24-bit stamp of a
    /// position wraps to 0.
    StampWrap(u8, u8),
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
            Tail::StampWrap(k, d) => ((1 + u64::from(k)) << 24) - u64::from(d),
        }
    }
}

/// The `head` passed to `drain_ring`. Under v2 the receiver must ignore it,
/// so every choice here (in range or wild) must give the same delivery.
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

/// The kind byte of a commit word.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum KindSel {
    Message,
    Padding,
    First,
    Middle,
    Last,
    /// Usually an unknown kind (0, 6, ...).
    Raw(u8),
}

impl KindSel {
    pub fn get(self) -> u8 {
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

/// How a record's commit word is stamped.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum StampSel {
    /// `kind | position << 8` for the record's own position: committed.
    Position,
    /// 0: not committed yet (the receiver stops there, empty).
    Uncommitted,
    /// Stamped for the position adjusted by a delta (`Zero`: committed).
    Near(Delta),
    /// Stamped for the same slot `1 + k` laps earlier: a stale record.
    LapsAgo(u8),
    /// This whole commit word, kind bits included.
    Raw(u32),
}

impl StampSel {
    /// The commit word of a record of `kind` at `position` in a ring of
    /// `slot_count` slots.
    pub fn get(self, kind: u8, position: u64, slot_count: usize) -> u32 {
        match self {
            StampSel::Position => commit_word(kind, position),
            StampSel::Uncommitted => 0,
            StampSel::Near(d) => commit_word(kind, d.apply(position)),
            StampSel::LapsAgo(k) => commit_word(
                kind,
                position.wrapping_sub((1 + u64::from(k)).wrapping_mul(slot_count as u64)),
            ),
            StampSel::Raw(v) => v,
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
    /// Slots from the record to the `head` argument (may be wild; the
    /// receiver does not know it, which is the point of `ToHead`).
    pub available: u64,
    pub max: u64,
}

#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum LenSel {
    Zero,
    Small(u8),
    /// Exactly fills `1 + k % slot_count` slots, adjusted.
    Slots(u8, Delta),
    /// Around the ring's capacity (`slot_count - 1` slots).
    Capacity(Delta),
    /// Around the sender's fragment size.
    Fragment(Delta),
    /// Exactly reaches the end of the ring, adjusted.
    ToEnd(Delta),
    /// Exactly reaches the `head` argument, adjusted.
    ToHead(Delta),
    /// Around max_message_size.
    Max(Delta),
    Raw(u32),
    /// Around a whole ring (`slot_count` slots: the v1 capacity, one slot
    /// more than v2 allows).
    Ring(Delta),
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
            LenSel::Capacity(d) => d.apply_u32(fill(n.saturating_sub(1))),
            LenSel::Fragment(d) => d.apply_u32(fill((n / 2).max(1))),
            LenSel::ToEnd(d) => d.apply_u32(fill(n.saturating_sub(s.index))),
            LenSel::ToHead(d) => d.apply_u32(fill(s.available.min(n))),
            LenSel::Max(d) => d.apply_u32(s.max),
            LenSel::Raw(v) => v,
            LenSel::Ring(d) => d.apply_u32(fill(n)),
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
    pub stamp: StampSel,
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

/// The commit word at the position after the last placed record.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum EndSel {
    /// 0, as the sender leaves it (the drain ends empty).
    Uncommitted,
    /// Whatever the filler bytes say.
    Filler,
    /// A message stamped for the same slot one lap earlier (a stale record
    /// that a sender forgot to clear).
    Stale,
}

#[derive(Arbitrary, Clone, Debug)]
pub enum Body {
    /// The ring is these bytes, repeated.
    Raw(Vec<u8>),
    /// Record headers placed from tail on over `fill` (repeated) bytes.
    Records {
        records: Vec<Rec>,
        end: EndSel,
        fill: Vec<u8>,
    },
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
            Body::Records { records, end, fill } => {
                let usable = config_error(slot_size, slot_count, 0).is_none()
                    && slot_size * slot_count <= DRAIN_RING_LIMIT;
                if usable {
                    place_records(&p, records, *end, fill)
                } else {
                    fill.clone()
                }
            }
        };
        (p, ring)
    }
}

/// Lays out `records` from tail on in a ring image of the whole ring.
fn place_records(p: &Params, records: &[Rec], end: EndSel, fill: &[u8]) -> Vec<u8> {
    let (ss, n) = (p.slot_size, p.slot_count);
    let slots = n as u64;
    let mut ring: Vec<u8> = (0..ss * n).map(|i| ring_byte(fill, i)).collect();
    // First pass: where each record goes, its kind and length.
    let mut placed = Vec::with_capacity(records.len());
    let mut pos = p.tail;
    let mut walked = 0u64;
    for rec in records {
        if walked >= 2 * slots {
            break; // A drain never gets this far (see `Outcome::advanced`).
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
        placed.push((pos, kind, len));
        pos = pos.wrapping_add(step);
        walked += step;
    }
    // The commit word after the last record (written first: a record
    // placed in the same slot, a lap on, overwrites it).
    let at = (pos & (slots - 1)) as usize * ss + COMMIT_OFFSET;
    let word = match end {
        EndSel::Uncommitted => Some(0),
        EndSel::Filler => None,
        EndSel::Stale => Some(commit_word(MESSAGE, pos.wrapping_sub(slots))),
    };
    if let Some(word) = word {
        ring[at..at + 4].copy_from_slice(&word.to_le_bytes());
    }
    // Second pass: totals, which may depend on the records after. Later
    // headers overwrite earlier ones in the same slot.
    for (i, (rec, &(pos, kind, len))) in records.iter().zip(&placed).enumerate() {
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
        let commit = rec.stamp.get(kind, pos, n);
        let at = (pos & (slots - 1)) as usize * ss;
        write_header(&mut ring, at, len, commit, total);
    }
    ring
}

/// Writes a record header (`len`, commit word, `total`) at byte `at`.
pub fn write_header(ring: &mut [u8], at: usize, len: u32, commit: u32, total: u64) {
    ring[at..at + 4].copy_from_slice(&len.to_le_bytes());
    ring[at + 4..at + 8].copy_from_slice(&commit.to_le_bytes());
    ring[at + 8..at + 16].copy_from_slice(&total.to_le_bytes());
}

// ---------------------------------------------------------------------------
// The `records` target: a tiny sender that writes well-formed records the
// way the real one does (padding before a record that would wrap,
// fragments carrying the message length, one slot kept free, the next
// commit word cleared before each commit), then optional corruptions.

/// One thing the little sender does.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum Op {
    /// A whole message of `len % (capacity + 1)` bytes.
    Message(u16),
    /// A whole message that exactly fills `1 + k % (slot_count - 1)` slots.
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
    /// Changes a record's kind (its commit word stays stamped for its
    /// position).
    Kind(u8, KindSel),
    Len(u8, LenSel),
    Total(u8, TotalSel),
    /// Moves head by a few slots. Not a corruption under v2: the receiver
    /// never reads head, so the sender's count must still be delivered
    /// (head behind the records is a sender that died between committing a
    /// record and publishing head).
    Head(i8),
    /// Zeroes a whole record header (commit word included).
    Wipe(u8),
    /// Re-stamps a record's commit word.
    Stamp(u8, StampSel),
}

/// What the slots held before the sender wrote its records.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum History {
    /// `fill` bytes everywhere but the commit word at `tail`, which is 0.
    Filler,
    /// The previous lap: one-slot messages at every position from
    /// `tail - slot_count + 1` to `tail - 1`, stamped for those positions,
    /// and a cleared commit word at `tail` (as a v2 sender leaves a ring).
    PreviousLap,
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
    pub history: History,
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
    pub kind: u8,
    pub commit: u32,
    pub total: u64,
    /// The position after the record, whose commit word the sender
    /// cleared before committing this one.
    pub next: u64,
}

/// What [`RecordsInput::build`] made.
#[derive(Clone, Debug)]
pub struct Built {
    pub params: Params,
    pub ring: Vec<u8>,
    pub records: Vec<Written>,
    /// Messages a correct receiver delivers, if no mutation that changes
    /// the slots applied.
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
        // A tail the receiver accepts.
        let tail = self.tail.get(n).min(MAX_POSITION);

        let mut records: Vec<Written> = Vec::new();
        let mut head = tail;
        let mut delivered = 0;
        // Appends a record if it fits in the ring with one slot to spare
        // (after padding if it would wrap); false once the ring is full.
        let emit = |records: &mut Vec<Written>, head: &mut u64, len: u64, kind, total| {
            let index = *head & (slots - 1);
            let need = if kind == PADDING {
                slots - index
            } else {
                slots_for(len, ss)
            };
            let pad = if kind != PADDING && index + need > slots {
                slots - index
            } else {
                0
            };
            if *head - tail + pad + need + 1 > slots {
                return false;
            }
            let mut push = |pos: u64, len: u64, kind: u8, total: u64, taken: u64| {
                records.push(Written {
                    pos,
                    len: len as u32,
                    kind,
                    commit: commit_word(kind, pos),
                    total,
                    next: pos + taken,
                });
            };
            if pad > 0 {
                push(*head, 0, PADDING, 0, pad);
                *head += pad;
            }
            push(*head, len, kind, total, need);
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
                        let filled = 1 + u64::from(k) % (slots - 1);
                        let len = filled * ss as u64 - RECORD_HEADER as u64;
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
                let count = records.len();
                let pick = |i: u8| usize::from(i) % count;
                match *m {
                    Mutation::Kind(i, k) => {
                        let r = &mut records[pick(i)];
                        r.kind = k.get();
                        r.commit = commit_word(r.kind, r.pos);
                    }
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
                        // Leaves `expected` alone: see `Mutation::Head`.
                        head = head.wrapping_add_signed(d.into());
                        continue;
                    }
                    Mutation::Wipe(i) => {
                        let r = &mut records[pick(i)];
                        (r.len, r.commit, r.total) = (0, 0, 0);
                    }
                    Mutation::Stamp(i, s) => {
                        let r = &mut records[pick(i)];
                        r.commit = s.get(r.kind, r.pos, n);
                    }
                }
                expected = None;
            }
        }

        let mut ring = vec![self.fill; ss * n];
        let header_at = |pos: u64| (pos & (slots - 1)) as usize * ss;
        if let History::PreviousLap = self.history {
            let len = (ss - RECORD_HEADER) as u32;
            for back in 1..slots {
                let pos = tail.wrapping_sub(back);
                let commit = commit_word(MESSAGE, pos);
                write_header(&mut ring, header_at(pos), len, commit, len.into());
            }
        }
        // Whatever came before, a sender left the commit word at tail
        // cleared (or never wrote it).
        let at = header_at(tail) + COMMIT_OFFSET;
        ring[at..at + 4].fill(0);
        for r in &records {
            // As the sender does: clear the next commit word, write the
            // record, then commit it.
            let at = header_at(r.next) + COMMIT_OFFSET;
            ring[at..at + 4].fill(0);
            write_header(&mut ring, header_at(r.pos), r.len, r.commit, r.total);
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

// ---------------------------------------------------------------------------
// Writing inputs: the inverse of `arbitrary`'s decoding (arbitrary 1.5), so
// that seeds can be described as values. The unit tests check that
// decoding an encoded value gives it back, for every variant the fuzzer
// decodes from random bytes.

pub mod encode {
    use super::*;

    /// Bytes that `arbitrary` decodes to the values written, in order.
    #[derive(Default)]
    pub struct Enc(pub Vec<u8>);

    impl Enc {
        pub fn u8(&mut self, v: u8) {
            self.0.push(v);
        }
        pub fn i8(&mut self, v: i8) {
            self.0.extend(v.to_le_bytes());
        }
        pub fn u16(&mut self, v: u16) {
            self.0.extend(v.to_le_bytes());
        }
        pub fn u32(&mut self, v: u32) {
            self.0.extend(v.to_le_bytes());
        }
        pub fn u64(&mut self, v: u64) {
            self.0.extend(v.to_le_bytes());
        }
        pub fn bool(&mut self, v: bool) {
            self.0.push(v.into());
        }
        /// Variant `index` of an enum of `count` variants: derived enums
        /// pick `(u32 * count) >> 32`.
        pub fn variant(&mut self, index: u32, count: u32) {
            assert!(index < count);
            let (i, c) = (u64::from(index), u64::from(count));
            self.u32((i << 32).div_ceil(c) as u32);
        }
        /// A `Vec`: each element after a `true`, then a `false`.
        pub fn seq<T>(&mut self, items: &[T], mut each: impl FnMut(&mut Self, &T)) {
            for item in items {
                self.bool(true);
                each(self, item);
            }
            self.bool(false);
        }
        pub fn bytes(&mut self, items: &[u8]) {
            self.seq(items, |e, &b| e.u8(b));
        }
    }

    /// A value that can be written for `arbitrary` to read back.
    pub trait Encode {
        fn encode(&self, e: &mut Enc);
    }

    /// The bytes of a fuzz input that decodes to `value`.
    pub fn to_bytes(value: &impl Encode) -> Vec<u8> {
        let mut e = Enc::default();
        value.encode(&mut e);
        e.0
    }

    impl Encode for Delta {
        fn encode(&self, e: &mut Enc) {
            match *self {
                Delta::Zero => e.variant(0, 5),
                Delta::PlusOne => e.variant(1, 5),
                Delta::MinusOne => e.variant(2, 5),
                Delta::Plus(d) => {
                    e.variant(3, 5);
                    e.u8(d)
                }
                Delta::Minus(d) => {
                    e.variant(4, 5);
                    e.u8(d)
                }
            }
        }
    }

    impl Encode for SlotSize {
        fn encode(&self, e: &mut Enc) {
            match *self {
                SlotSize::B64 => e.variant(0, 6),
                SlotSize::B128 => e.variant(1, 6),
                SlotSize::B192 => e.variant(2, 6),
                SlotSize::B256 => e.variant(3, 6),
                SlotSize::B1024 => e.variant(4, 6),
                SlotSize::Raw(v) => {
                    e.variant(5, 6);
                    e.u32(v)
                }
            }
        }
    }

    impl Encode for SlotCount {
        fn encode(&self, e: &mut Enc) {
            match *self {
                SlotCount::Pow(k) => {
                    e.variant(0, 2);
                    e.u8(k)
                }
                SlotCount::Raw(v) => {
                    e.variant(1, 2);
                    e.u32(v)
                }
            }
        }
    }

    impl Encode for MaxSize {
        fn encode(&self, e: &mut Enc) {
            match *self {
                MaxSize::Zero => e.variant(0, 7),
                MaxSize::Small(v) => {
                    e.variant(1, 7);
                    e.u16(v)
                }
                MaxSize::Capacity(d) => {
                    e.variant(2, 7);
                    d.encode(e)
                }
                MaxSize::Fragment(d) => {
                    e.variant(3, 7);
                    d.encode(e)
                }
                MaxSize::Rings(k, d) => {
                    e.variant(4, 7);
                    e.u8(k);
                    d.encode(e)
                }
                MaxSize::Limit(d) => {
                    e.variant(5, 7);
                    d.encode(e)
                }
                MaxSize::Raw(v) => {
                    e.variant(6, 7);
                    e.u64(v)
                }
            }
        }
    }

    impl Encode for Tail {
        fn encode(&self, e: &mut Enc) {
            match *self {
                Tail::Zero => e.variant(0, 7),
                Tail::Laps(l, i) => {
                    e.variant(1, 7);
                    e.u16(l);
                    e.u8(i)
                }
                Tail::BelowLimit(d) => {
                    e.variant(2, 7);
                    e.u8(d)
                }
                Tail::AboveLimit(d) => {
                    e.variant(3, 7);
                    e.u8(d)
                }
                Tail::NearMax(d) => {
                    e.variant(4, 7);
                    e.u8(d)
                }
                Tail::Raw(v) => {
                    e.variant(5, 7);
                    e.u64(v)
                }
                Tail::StampWrap(k, d) => {
                    e.variant(6, 7);
                    e.u8(k);
                    e.u8(d)
                }
            }
        }
    }

    impl Encode for Head {
        fn encode(&self, e: &mut Enc) {
            match *self {
                Head::Ahead(k) => {
                    e.variant(0, 6);
                    e.u8(k)
                }
                Head::Full => e.variant(1, 6),
                Head::Empty => e.variant(2, 6),
                Head::Over(k) => {
                    e.variant(3, 6);
                    e.u8(k)
                }
                Head::Behind(k) => {
                    e.variant(4, 6);
                    e.u8(k)
                }
                Head::Raw(v) => {
                    e.variant(5, 6);
                    e.u64(v)
                }
            }
        }
    }

    impl Encode for KindSel {
        fn encode(&self, e: &mut Enc) {
            match *self {
                KindSel::Message => e.variant(0, 6),
                KindSel::Padding => e.variant(1, 6),
                KindSel::First => e.variant(2, 6),
                KindSel::Middle => e.variant(3, 6),
                KindSel::Last => e.variant(4, 6),
                KindSel::Raw(v) => {
                    e.variant(5, 6);
                    e.u8(v)
                }
            }
        }
    }

    impl Encode for StampSel {
        fn encode(&self, e: &mut Enc) {
            match *self {
                StampSel::Position => e.variant(0, 5),
                StampSel::Uncommitted => e.variant(1, 5),
                StampSel::Near(d) => {
                    e.variant(2, 5);
                    d.encode(e)
                }
                StampSel::LapsAgo(k) => {
                    e.variant(3, 5);
                    e.u8(k)
                }
                StampSel::Raw(v) => {
                    e.variant(4, 5);
                    e.u32(v)
                }
            }
        }
    }

    impl Encode for LenSel {
        fn encode(&self, e: &mut Enc) {
            match *self {
                LenSel::Zero => e.variant(0, 10),
                LenSel::Small(v) => {
                    e.variant(1, 10);
                    e.u8(v)
                }
                LenSel::Slots(k, d) => {
                    e.variant(2, 10);
                    e.u8(k);
                    d.encode(e)
                }
                LenSel::Capacity(d) => {
                    e.variant(3, 10);
                    d.encode(e)
                }
                LenSel::Fragment(d) => {
                    e.variant(4, 10);
                    d.encode(e)
                }
                LenSel::ToEnd(d) => {
                    e.variant(5, 10);
                    d.encode(e)
                }
                LenSel::ToHead(d) => {
                    e.variant(6, 10);
                    d.encode(e)
                }
                LenSel::Max(d) => {
                    e.variant(7, 10);
                    d.encode(e)
                }
                LenSel::Raw(v) => {
                    e.variant(8, 10);
                    e.u32(v)
                }
                LenSel::Ring(d) => {
                    e.variant(9, 10);
                    d.encode(e)
                }
            }
        }
    }

    impl Encode for TotalSel {
        fn encode(&self, e: &mut Enc) {
            match *self {
                TotalSel::Len => e.variant(0, 5),
                TotalSel::Zero => e.variant(1, 5),
                TotalSel::Exact(d) => {
                    e.variant(2, 5);
                    d.encode(e)
                }
                TotalSel::Max(d) => {
                    e.variant(3, 5);
                    d.encode(e)
                }
                TotalSel::Raw(v) => {
                    e.variant(4, 5);
                    e.u64(v)
                }
            }
        }
    }

    impl Encode for StepSel {
        fn encode(&self, e: &mut Enc) {
            match *self {
                StepSel::Natural => e.variant(0, 2),
                StepSel::Slots(k) => {
                    e.variant(1, 2);
                    e.u8(k)
                }
            }
        }
    }

    impl Encode for EndSel {
        fn encode(&self, e: &mut Enc) {
            match *self {
                EndSel::Uncommitted => e.variant(0, 3),
                EndSel::Filler => e.variant(1, 3),
                EndSel::Stale => e.variant(2, 3),
            }
        }
    }

    impl Encode for Rec {
        fn encode(&self, e: &mut Enc) {
            self.kind.encode(e);
            self.len.encode(e);
            self.total.encode(e);
            self.stamp.encode(e);
            self.step.encode(e);
        }
    }

    impl Encode for Body {
        fn encode(&self, e: &mut Enc) {
            match self {
                Body::Raw(bytes) => {
                    e.variant(0, 2);
                    e.bytes(bytes)
                }
                Body::Records { records, end, fill } => {
                    e.variant(1, 2);
                    e.seq(records, |e, r| r.encode(e));
                    end.encode(e);
                    e.bytes(fill);
                }
            }
        }
    }

    impl Encode for RingInput {
        fn encode(&self, e: &mut Enc) {
            self.slot_size.encode(e);
            self.slot_count.encode(e);
            self.max.encode(e);
            self.tail.encode(e);
            self.head.encode(e);
            self.body.encode(e);
        }
    }

    impl Encode for Op {
        fn encode(&self, e: &mut Enc) {
            match *self {
                Op::Message(len) => {
                    e.variant(0, 4);
                    e.u16(len)
                }
                Op::MessageFilling(k) => {
                    e.variant(1, 4);
                    e.u8(k)
                }
                Op::Fragmented { total, piece, cut } => {
                    e.variant(2, 4);
                    e.u16(total);
                    e.u16(piece);
                    e.bool(cut.is_some());
                    if let Some(c) = cut {
                        e.u8(c);
                    }
                }
                Op::Pad => e.variant(3, 4),
            }
        }
    }

    impl Encode for Orphan {
        fn encode(&self, e: &mut Enc) {
            e.bool(self.last);
            e.u16(self.len);
        }
    }

    impl Encode for Mutation {
        fn encode(&self, e: &mut Enc) {
            match *self {
                Mutation::Kind(i, k) => {
                    e.variant(0, 6);
                    e.u8(i);
                    k.encode(e)
                }
                Mutation::Len(i, l) => {
                    e.variant(1, 6);
                    e.u8(i);
                    l.encode(e)
                }
                Mutation::Total(i, t) => {
                    e.variant(2, 6);
                    e.u8(i);
                    t.encode(e)
                }
                Mutation::Head(d) => {
                    e.variant(3, 6);
                    e.i8(d)
                }
                Mutation::Wipe(i) => {
                    e.variant(4, 6);
                    e.u8(i)
                }
                Mutation::Stamp(i, s) => {
                    e.variant(5, 6);
                    e.u8(i);
                    s.encode(e)
                }
            }
        }
    }

    impl Encode for History {
        fn encode(&self, e: &mut Enc) {
            match *self {
                History::Filler => e.variant(0, 2),
                History::PreviousLap => e.variant(1, 2),
            }
        }
    }

    impl Encode for RecordsInput {
        fn encode(&self, e: &mut Enc) {
            e.u8(self.slot_size);
            e.u8(self.slot_count);
            self.max.encode(e);
            self.tail.encode(e);
            self.history.encode(e);
            e.seq(&self.orphans, |e, o| o.encode(e));
            e.seq(&self.ops, |e, o| o.encode(e));
            e.seq(&self.mutations, |e, m| m.encode(e));
            e.u8(self.fill);
        }
    }
}

// ---------------------------------------------------------------------------
// Seeds: small inputs, one per receiver path, written to `seeds/<target>/`
// by `cargo run --example seeds`. Each names the outcome the model must
// give (checked by the unit tests, which also check the files are current).

/// One seed file.
pub struct Seed {
    pub target: &'static str,
    pub name: &'static str,
    /// [`classify`] of the model's outcome (for `header`: `ok` or the
    /// rejection reason).
    pub class: &'static str,
    pub bytes: Vec<u8>,
}

/// Shorthand for a record that the fuzzer places naturally, committed.
fn rec(kind: KindSel, len: LenSel, total: TotalSel) -> Rec {
    Rec {
        kind,
        len,
        total,
        stamp: StampSel::Position,
        step: StepSel::Natural,
    }
}

/// A `ring` input of committed records (64-byte slots) ending in a cleared
/// commit word.
fn ring_seed(count: u8, max: MaxSize, tail: Tail, head: Head, records: Vec<Rec>) -> RingInput {
    RingInput {
        slot_size: SlotSize::B64,
        // Pow(k) is 1 << (1 + k % 6).
        slot_count: SlotCount::Pow(count.trailing_zeros() as u8 - 1),
        max,
        tail,
        head,
        body: Body::Records {
            records,
            end: EndSel::Uncommitted,
            fill: vec![0xA5],
        },
    }
}

fn records_seed(
    count: u8,
    tail: Tail,
    history: History,
    orphans: Vec<Orphan>,
    ops: Vec<Op>,
    mutations: Vec<Mutation>,
) -> RecordsInput {
    RecordsInput {
        slot_size: 0, // 64 B
        slot_count: count.trailing_zeros() as u8 - 1,
        max: MaxSize::Rings(4, Delta::Zero),
        tail,
        history,
        orphans,
        ops,
        mutations,
        fill: 0xA5,
    }
}

/// Every seed, for all three targets.
pub fn seeds() -> Vec<Seed> {
    use KindSel as K;
    use LenSel as L;
    use TotalSel as T;
    use encode::to_bytes;
    let big = MaxSize::Rings(4, Delta::Zero);
    let msg = |bytes: u8| rec(K::Message, L::Small(bytes), T::Len);
    let mut out = Vec::new();
    let mut ring = |name, class, input: RingInput| {
        out.push(Seed {
            target: "ring",
            name,
            class,
            bytes: to_bytes(&input),
        })
    };

    // --- ring: deliverable rings.
    ring(
        "messages-then-uncommitted",
        "empty+delivered",
        ring_seed(
            8,
            big,
            Tail::Zero,
            Head::Ahead(4),
            vec![
                msg(10),
                rec(K::Message, L::Slots(1, Delta::Zero), T::Len),
                msg(0),
            ],
        ),
    );
    ring(
        "messages-padding-across-a-lap",
        "empty+delivered+padding",
        // Tail at slot 5 of 8, three laps on: 2 slots, padding at slot 7,
        // then 1 slot and 3 slots from slot 0.
        ring_seed(
            8,
            big,
            Tail::Laps(3, 5),
            Head::Ahead(7),
            vec![
                rec(K::Message, L::Slots(1, Delta::Zero), T::Len),
                rec(K::Padding, L::Zero, T::Zero),
                msg(48),
                rec(K::Message, L::Slots(2, Delta::Zero), T::Len),
            ],
        ),
    );
    ring(
        "fragments-across-a-lap",
        "empty+delivered+reassembled",
        // First at slot 6 of 8, Middle at 7, Last at 0 of the next lap.
        ring_seed(
            8,
            big,
            Tail::Laps(1, 6),
            Head::Behind(3),
            vec![
                rec(K::First, L::Small(40), T::Exact(Delta::Zero)),
                rec(K::Middle, L::Small(48), T::Zero),
                rec(K::Last, L::Fragment(Delta::Zero), T::Zero),
                msg(7),
            ],
        ),
    );
    ring(
        "orphans-padding-fragments",
        "empty+delivered+padding+orphans+reassembled",
        ring_seed(
            16,
            big,
            Tail::Laps(0, 12),
            Head::Raw(0),
            vec![
                rec(K::Middle, L::Small(30), T::Zero),
                rec(K::Last, L::Small(30), T::Zero),
                rec(K::First, L::Small(20), T::Exact(Delta::Zero)),
                rec(K::Padding, L::Raw(u32::MAX), T::Raw(u64::MAX)),
                rec(K::Middle, L::Slots(2, Delta::Zero), T::Zero),
                rec(K::Last, L::Small(1), T::Zero),
            ],
        ),
    );
    ring(
        "abandoned-then-reassembled",
        "empty+delivered+abandoned+reassembled",
        ring_seed(
            8,
            big,
            Tail::Zero,
            Head::Full,
            vec![
                rec(K::First, L::Small(20), T::Raw(1000)),
                rec(K::First, L::Small(20), T::Exact(Delta::Zero)),
                rec(K::Last, L::Small(20), T::Zero),
                rec(K::First, L::Small(5), T::Raw(100)),
                msg(3),
            ],
        ),
    );
    ring(
        "stamp-wraps-24-bits",
        "empty+delivered+padding",
        // Positions 2^24 - 3 .. 2^24 + 1: stamps 0xFFFFFD .. 0x000001.
        ring_seed(
            8,
            big,
            Tail::StampWrap(0, 3),
            Head::Empty,
            vec![
                msg(1),
                msg(1),
                rec(K::Padding, L::Zero, T::Zero),
                msg(1),
                msg(1),
            ],
        ),
    );
    ring(
        "tail-at-the-limit",
        "empty+delivered",
        ring_seed(
            4,
            big,
            Tail::BelowLimit(0),
            Head::Raw(u64::MAX),
            vec![rec(K::Message, L::Capacity(Delta::Zero), T::Len)],
        ),
    );
    ring(
        "more-than-a-lap",
        "corrupted:record-stamped-for-another-position+delivered+padding",
        // Not a ring a sender leaves, but stamped consistently: from slot 2
        // of 4, a message over slots 2-3, a capacity message over slots
        // 0-2, then padding at slot 3 (first seen mid-record), so the drain
        // goes 6 slots, up to slot 0 (stamped a lap earlier).
        ring_seed(
            4,
            big,
            Tail::Laps(9, 2),
            Head::Ahead(1),
            vec![
                rec(K::Message, L::ToEnd(Delta::Zero), T::Len),
                rec(K::Message, L::Capacity(Delta::Zero), T::Len),
                rec(K::Padding, L::Zero, T::Zero),
            ],
        ),
    );

    // --- ring: each way a drain stops early.
    ring(
        "stale-stamp-at-the-end",
        "corrupted:record-stamped-for-another-position+delivered",
        RingInput {
            body: Body::Records {
                records: vec![msg(1), msg(2)],
                end: EndSel::Stale,
                fill: vec![0],
            },
            ..ring_seed(4, big, Tail::Laps(5, 1), Head::Ahead(2), vec![])
        },
    );
    ring(
        "stamped-one-lap-ago",
        "corrupted:record-stamped-for-another-position+delivered",
        ring_seed(
            8,
            big,
            Tail::Laps(2, 3),
            Head::Full,
            vec![
                msg(1),
                Rec {
                    stamp: StampSel::LapsAgo(0),
                    ..msg(1)
                },
            ],
        ),
    );
    ring(
        "stamped-one-position-on",
        "corrupted:record-stamped-for-another-position",
        ring_seed(
            4,
            big,
            Tail::Zero,
            Head::Ahead(1),
            vec![Rec {
                stamp: StampSel::Near(Delta::PlusOne),
                ..msg(1)
            }],
        ),
    );
    ring(
        "uncommitted-in-the-middle",
        "empty+delivered",
        ring_seed(
            8,
            big,
            Tail::Zero,
            Head::Full,
            vec![
                msg(1),
                Rec {
                    stamp: StampSel::Uncommitted,
                    ..msg(1)
                },
                msg(1),
            ],
        ),
    );
    ring(
        "unknown-kind",
        "corrupted:unknown-record-kind+delivered",
        ring_seed(
            4,
            big,
            Tail::Zero,
            Head::Empty,
            vec![msg(1), rec(K::Raw(6), L::Small(1), T::Len)],
        ),
    );
    ring(
        "padding-at-slot-0",
        "corrupted:padding-at-the-start-of-the-ring",
        ring_seed(
            4,
            big,
            Tail::Laps(1, 0),
            Head::Ahead(4),
            vec![rec(K::Padding, L::Zero, T::Zero)],
        ),
    );
    ring(
        "record-of-a-whole-ring",
        "corrupted:record-longer-than-the-ring",
        // The v1 capacity: one slot more than v2 allows.
        ring_seed(
            4,
            big,
            Tail::Zero,
            Head::Full,
            vec![rec(K::Message, L::Ring(Delta::Zero), T::Len)],
        ),
    );
    ring(
        "record-wraps",
        "corrupted:record-wraps-around-the-ring+delivered",
        ring_seed(
            4,
            big,
            Tail::Zero,
            Head::Full,
            vec![
                msg(1),
                msg(1),
                rec(K::Message, L::Slots(2, Delta::Zero), T::Len),
            ],
        ),
    );
    ring(
        "message-over-max",
        "corrupted:message-longer-than-max_message_size",
        ring_seed(
            4,
            MaxSize::Small(100),
            Tail::Zero,
            Head::Full,
            vec![rec(K::Message, L::Max(Delta::PlusOne), T::Len)],
        ),
    );
    ring(
        "first-holds-the-whole-message",
        "corrupted:first-fragment-holds-the-whole-message",
        ring_seed(
            4,
            big,
            Tail::Zero,
            Head::Full,
            vec![rec(K::First, L::Small(10), T::Len), msg(1)],
        ),
    );
    ring(
        "fragments-longer-than-the-message",
        "corrupted:fragments-longer-than-the-message",
        ring_seed(
            8,
            big,
            Tail::Zero,
            Head::Full,
            vec![
                rec(K::First, L::Small(10), T::Exact(Delta::MinusOne)),
                rec(K::Last, L::Small(10), T::Zero),
            ],
        ),
    );
    ring(
        "middle-completes-the-message",
        "corrupted:message-completed-without-a-last-fragment",
        ring_seed(
            8,
            big,
            Tail::Zero,
            Head::Full,
            vec![
                rec(K::First, L::Small(10), T::Raw(20)),
                rec(K::Middle, L::Small(10), T::Zero),
                rec(K::Last, L::Small(10), T::Zero),
            ],
        ),
    );
    ring(
        "last-leaves-the-message-short",
        "corrupted:last-fragment-leaves-the-message-short",
        ring_seed(
            8,
            big,
            Tail::Zero,
            Head::Full,
            vec![
                rec(K::First, L::Small(10), T::Exact(Delta::PlusOne)),
                rec(K::Last, L::Small(10), T::Zero),
            ],
        ),
    );
    ring(
        "tail-beyond-the-limit",
        "attach-failed",
        ring_seed(4, big, Tail::AboveLimit(1), Head::Empty, vec![msg(1)]),
    );
    ring(
        "bad-slot-size",
        "rejected",
        RingInput {
            slot_size: SlotSize::Raw(65),
            ..ring_seed(4, big, Tail::Zero, Head::Empty, vec![msg(1)])
        },
    );
    ring(
        "raw-zeros",
        "empty",
        RingInput {
            body: Body::Raw(vec![]),
            ..ring_seed(2, MaxSize::Zero, Tail::Zero, Head::Full, vec![])
        },
    );

    // --- records: the little sender.
    let mut records = |name, class, input: RecordsInput| {
        out.push(Seed {
            target: "records",
            name,
            class,
            bytes: to_bytes(&input),
        })
    };
    let frag = |total, piece, cut| Op::Fragmented { total, piece, cut };
    records(
        "messages-across-a-lap",
        "empty+delivered+padding",
        records_seed(
            8,
            Tail::Laps(7, 5),
            History::PreviousLap,
            vec![],
            vec![Op::Message(30), Op::MessageFilling(2), Op::Message(30)],
            vec![],
        ),
    );
    records(
        "fragments-across-a-lap",
        "empty+delivered+reassembled",
        records_seed(
            8,
            Tail::Laps(2, 6),
            History::PreviousLap,
            vec![],
            vec![frag(150, 47, None), Op::Message(5)],
            vec![],
        ),
    );
    records(
        "orphans-abandoned-padding",
        "empty+delivered+padding+orphans+abandoned+reassembled",
        records_seed(
            16,
            Tail::Laps(1, 10),
            History::Filler,
            vec![
                Orphan {
                    last: false,
                    len: 40,
                },
                Orphan { last: true, len: 3 },
            ],
            vec![
                frag(200, 47, Some(1)),
                Op::Pad,
                frag(100, 47, None),
                Op::MessageFilling(2),
            ],
            vec![],
        ),
    );
    records(
        "stamp-wraps-24-bits",
        "empty+delivered",
        records_seed(
            8,
            Tail::StampWrap(2, 1),
            History::PreviousLap,
            vec![],
            vec![
                Op::Message(1),
                Op::Message(1),
                Op::Message(1),
                Op::Message(1),
            ],
            vec![],
        ),
    );
    records(
        "head-behind-a-committed-record",
        "empty+delivered",
        // The sender died between committing its last record and
        // publishing head: the receiver (which never reads head) delivers it.
        records_seed(
            8,
            Tail::Laps(4, 1),
            History::PreviousLap,
            vec![],
            vec![Op::Message(1), Op::Message(60)],
            vec![Mutation::Head(-2)],
        ),
    );
    records(
        "restamped-for-the-previous-lap",
        "corrupted:record-stamped-for-another-position+delivered",
        records_seed(
            8,
            Tail::Laps(3, 3),
            History::PreviousLap,
            vec![],
            vec![Op::Message(1), Op::Message(1), Op::Message(1)],
            vec![Mutation::Stamp(1, StampSel::LapsAgo(0))],
        ),
    );
    records(
        "wiped-commit",
        "empty+delivered",
        records_seed(
            8,
            Tail::Zero,
            History::Filler,
            vec![],
            vec![Op::Message(1), Op::Message(1), Op::Message(1)],
            vec![Mutation::Wipe(2)],
        ),
    );
    records(
        "kind-changed-to-padding-at-slot-0",
        "corrupted:padding-at-the-start-of-the-ring+delivered",
        records_seed(
            4,
            Tail::Laps(1, 2),
            History::Filler,
            vec![],
            vec![Op::Message(1), Op::Message(1), Op::Message(1)],
            vec![Mutation::Kind(2, KindSel::Padding)],
        ),
    );
    records(
        "length-over-the-capacity",
        "corrupted:record-longer-than-the-ring",
        records_seed(
            4,
            Tail::Zero,
            History::Filler,
            vec![],
            vec![Op::Message(1)],
            vec![Mutation::Len(0, LenSel::Capacity(Delta::PlusOne))],
        ),
    );
    records(
        "first-total-too-short",
        "corrupted:fragments-longer-than-the-message",
        records_seed(
            8,
            Tail::Zero,
            History::Filler,
            vec![],
            vec![frag(100, 47, None)],
            vec![Mutation::Total(0, TotalSel::Exact(Delta::MinusOne))],
        ),
    );

    // --- header.
    let segment = |ss: u32, n: u32, max: u64| {
        let mut image = header_image(ss, n, max).to_vec();
        image.resize(HEADER_SIZE + (ss * n) as usize, 0);
        image
    };
    let mut header = |name, class, bytes| {
        out.push(Seed {
            target: "header",
            name,
            class,
            bytes,
        })
    };
    header("valid-64x2", "ok", segment(64, 2, 1000));
    header(
        "valid-64x4-max1TiB",
        "ok",
        segment(64, 4, MAX_MESSAGE_LIMIT),
    );
    let mut v1 = segment(64, 2, 1000);
    v1[8..12].copy_from_slice(&1u32.to_le_bytes());
    header("version-1-segment", "version", v1);
    header(
        "file-too-short",
        "file size",
        segment(64, 2, 1000)[..HEADER_SIZE].to_vec(),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use arbitrary::Unstructured;

    fn p(ss: usize, n: usize, max: u64, tail: u64) -> Params {
        Params {
            slot_size: ss,
            slot_count: n,
            max_message_size: max,
            head: 0,
            tail,
        }
    }

    /// A ring with headers `(slot, len, commit, total)`.
    fn ring_of(ss: usize, n: usize, headers: &[(usize, u32, u32, u64)]) -> Vec<u8> {
        let mut ring = vec![0; ss * n];
        for &(slot, len, commit, total) in headers {
            write_header(&mut ring, slot * ss, len, commit, total);
        }
        ring
    }

    fn c(kind: u8, position: u64) -> u32 {
        commit_word(kind, position)
    }

    #[test]
    fn commit_words_follow_the_spec() {
        assert_eq!(c(MESSAGE, 0), 1);
        assert_eq!(c(PADDING, 3), 0x302);
        assert_eq!(c(LAST, 0xFF_FFFF), 0xFFFF_FF05);
        assert_eq!(c(FIRST, 1 << 24), 3); // Only 24 bits of the position.
        assert_eq!(c(MESSAGE, (1 << 62) + 5), 0x501);
    }

    #[test]
    fn model_follows_the_protocol() {
        // Two messages, then padding, then a message at slot 0, then 0.
        let ring = ring_of(
            64,
            8,
            &[
                (4, 60, c(MESSAGE, 4), 60), // 2 slots
                (6, 10, c(MESSAGE, 6), 10),
                (7, 0, c(PADDING, 7), 0),
                (0, 10, c(MESSAGE, 8), 10),
            ],
        );
        let o = model_drain(&p(64, 8, 1000, 4), &ring);
        assert_eq!((o.delivered, o.padding, o.stop), (3, 1, Some(Stop::Empty)));
        assert_eq!(o.advanced, 5);
        // Head is not read: any value gives the same drain.
        for head in [0, 4, 5, u64::MAX, 1 << 63] {
            let q = Params {
                head,
                ..p(64, 8, 1000, 4)
            };
            assert_eq!(model_drain(&q, &ring), o);
        }
        // Stamped for positions 4.., not 12.. (a lap on) nor 0...
        let o = model_drain(&p(64, 8, 1000, 12), &ring);
        assert_eq!(
            (o.delivered, o.stop),
            (
                0,
                Some(Stop::Corrupted("record stamped for another position"))
            )
        );
        // Slot 1 is 0: nothing committed, after the message at position 8.
        let o = model_drain(&p(64, 8, 1000, 8), &ring);
        assert_eq!((o.delivered, o.stop), (1, Some(Stop::Empty)));
        // Stamps are 24 bits: position 4 + 2^24 reads the same words.
        let o = model_drain(&p(64, 8, 1000, 4 + (1 << 24)), &ring);
        assert_eq!(o.delivered, 3);
        // Reassembly.
        let ring = ring_of(
            64,
            8,
            &[
                (0, 5, c(LAST, 0), 0),
                (1, 10, c(FIRST, 1), 30),
                (2, 10, c(MIDDLE, 2), 0),
                (3, 10, c(LAST, 3), 0),
            ],
        );
        let o = model_drain(&p(64, 8, 30, 0), &ring);
        assert_eq!((o.delivered, o.orphans, o.reassembled), (1, 1, 1));
        let o = model_drain(&p(64, 8, 29, 0), &ring);
        assert_eq!(
            o.stop,
            Some(Stop::Corrupted("message longer than max_message_size"))
        );
        // Kinds: a stamped 0 or 6.
        for kind in [0, 6, 0xFF] {
            let ring = ring_of(64, 2, &[(1, 0, c(kind, 1), 0)]);
            let o = model_drain(&p(64, 2, 30, 1), &ring);
            assert_eq!(o.stop, Some(Stop::Corrupted("unknown record kind")));
        }
        // Capacity: (n - 1) slots.
        let ring = ring_of(64, 4, &[(0, 3 * 64 - 16, c(MESSAGE, 0), 0)]);
        assert_eq!(model_drain(&p(64, 4, 1000, 0), &ring).delivered, 1);
        let ring = ring_of(64, 4, &[(0, 3 * 64 - 15, c(MESSAGE, 0), 0)]);
        assert_eq!(
            model_drain(&p(64, 4, 1000, 0), &ring).stop,
            Some(Stop::Corrupted("record longer than the ring"))
        );
        // Attach: only the tail is checked.
        let empty = vec![0; 256];
        assert_eq!(
            model_drain(&p(64, 4, 0, MAX_POSITION), &empty).stop,
            Some(Stop::Empty)
        );
        assert!(matches!(
            model_drain(&p(64, 4, 0, MAX_POSITION + 1), &empty).stop,
            Some(Stop::AttachFailed(_))
        ));
        assert!(matches!(
            model_drain(&p(65, 4, 0, 0), &empty).stop,
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
        image.pop();
        image[8] = 1;
        assert_eq!(model_header(&image), Err("version"));
    }

    /// Pseudo-random byte strings (xorshift).
    fn random_inputs(count: usize, len: usize) -> impl Iterator<Item = Vec<u8>> {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        (0..count).map(move |i| {
            let mut bytes = vec![0u8; 1 + (i * 7919) % len];
            for b in &mut bytes {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                *b = seed as u8;
            }
            bytes
        })
    }

    #[test]
    fn records_generator_matches_the_model() {
        let mut checked = 0;
        let mut delivered = 0;
        for bytes in random_inputs(20_000, 512) {
            let Ok(input) = RecordsInput::arbitrary_take_rest(Unstructured::new(&bytes)) else {
                continue;
            };
            let built = input.build();
            if let Some(expected) = built.expected {
                let o = model_drain(&built.params, &built.ring);
                assert_eq!(o.delivered, expected, "{input:?} {o:?}");
                assert_eq!(o.stop, Some(Stop::Empty), "{input:?} {o:?}");
                // Never more than the slots the sender could fill.
                assert!(o.advanced < built.params.slot_count as u64, "{o:?}");
                checked += 1;
                delivered += usize::from(expected > 0);
            }
        }
        assert!(checked > 100, "only {checked} unmutated inputs");
        assert!(delivered > 50, "only {delivered} unmutated inputs deliver");
    }

    #[test]
    fn model_drains_stop_within_two_laps() {
        // Each lap starts at slot 0, whose commit word can be stamped for
        // one lap only, so a drain never reaches the loop limit.
        for bytes in random_inputs(20_000, 512) {
            let Ok(input) = RingInput::arbitrary_take_rest(Unstructured::new(&bytes)) else {
                continue;
            };
            let (p, ring) = input.build();
            let o = model_drain(&p, &ring);
            assert_ne!(o.stop, Some(Stop::LoopLimit), "{input:?}");
            let n = p.slot_count as u64;
            assert!(o.advanced == 0 || o.advanced < 2 * n, "{input:?} {o:?}");
        }
    }

    #[test]
    fn encoding_round_trips() {
        use encode::to_bytes;
        let (mut rings, mut records) = (0, 0);
        for bytes in random_inputs(5_000, 400) {
            if let Ok(a) = RingInput::arbitrary_take_rest(Unstructured::new(&bytes)) {
                let again = to_bytes(&a);
                let b = RingInput::arbitrary_take_rest(Unstructured::new(&again)).unwrap();
                assert_eq!(format!("{a:?}"), format!("{b:?}"));
                rings += 1;
            }
            if let Ok(a) = RecordsInput::arbitrary_take_rest(Unstructured::new(&bytes)) {
                let again = to_bytes(&a);
                let b = RecordsInput::arbitrary_take_rest(Unstructured::new(&again)).unwrap();
                assert_eq!(format!("{a:?}"), format!("{b:?}"));
                records += 1;
            }
        }
        assert!(rings > 1000 && records > 1000, "{rings} {records}");
    }

    #[test]
    fn seeds_reach_their_paths_and_are_current() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds");
        for seed in seeds() {
            let what = format!("{}/{}", seed.target, seed.name);
            let class = match seed.target {
                "header" => match model_header(&seed.bytes) {
                    Ok(()) => "ok".to_string(),
                    Err(why) => why.to_string(),
                },
                "ring" => {
                    let min = RingInput::size_hint(0).0;
                    assert!(seed.bytes.len() >= min, "{what}: shorter than {min}");
                    let input = RingInput::arbitrary_take_rest(Unstructured::new(&seed.bytes));
                    let (p, ring) = input.unwrap().build();
                    classify(&model_drain(&p, &ring))
                }
                "records" => {
                    let min = RecordsInput::size_hint(0).0;
                    assert!(seed.bytes.len() >= min, "{what}: shorter than {min}");
                    let input = RecordsInput::arbitrary_take_rest(Unstructured::new(&seed.bytes));
                    let built = input.unwrap().build();
                    let o = model_drain(&built.params, &built.ring);
                    if let Some(expected) = built.expected {
                        assert_eq!(o.delivered, expected, "{what}");
                    }
                    classify(&o)
                }
                other => panic!("unknown target {other}"),
            };
            assert_eq!(class, seed.class, "{what}");
            let file = std::fs::read(dir.join(seed.target).join(seed.name));
            assert_eq!(
                file.ok().as_ref(),
                Some(&seed.bytes),
                "{what} differs from the generator: run `cargo run --example seeds`"
            );
        }
    }
}
