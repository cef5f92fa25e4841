//! Structured inputs of the `ring` target, biased towards the boundaries the
//! receiver checks.

use arbitrary::Arbitrary;

use crate::*;

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

/// The `head` passed to `drain_ring`. The receiver must not rely on it, so
/// every choice here (in range or wild) must give the same delivery.
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
    Hello,
    /// Usually an unknown kind (0, 7, ...).
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
            KindSel::Hello => HELLO,
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
    /// Equal to the record's own length (0 for a `Hello`).
    Len,
    Zero,
    /// The sum of the lengths of this record and the fragments after it up
    /// to the next `Last` (what a consistent `First` declares), adjusted.
    Exact(Delta),
    /// Around max_message_size.
    Max(Delta),
    /// Anything: for a `Hello`, the sender's token.
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
            Body::Records { records, end, fill } => records_or_fill(&p, records, *end, fill),
        };
        (p, ring)
    }
}

/// [`place_records`] if `p` is a geometry `drain_ring` accepts, else
/// `fill`.
pub(crate) fn records_or_fill(p: &Params, records: &[Rec], end: EndSel, fill: &[u8]) -> Vec<u8> {
    let usable = config_error(p.slot_size, p.slot_count, 1, 0).is_none()
        && p.slot_size * p.slot_count <= DRAIN_RING_LIMIT;
    if usable {
        place_records(p, records, end, fill)
    } else {
        fill.to_vec()
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
