//! Writing inputs: the inverse of `arbitrary`'s decoding.

// Writing inputs: the inverse of `arbitrary`'s decoding (arbitrary 1.5), so
// that seeds can be described as values. The unit tests check that
// decoding an encoded value gives it back, for every variant the fuzzer
// decodes from random bytes.

use crate::*;

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
            KindSel::Message => e.variant(0, 7),
            KindSel::Padding => e.variant(1, 7),
            KindSel::First => e.variant(2, 7),
            KindSel::Middle => e.variant(3, 7),
            KindSel::Last => e.variant(4, 7),
            KindSel::Hello => e.variant(5, 7),
            KindSel::Raw(v) => {
                e.variant(6, 7);
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
                e.variant(0, 5);
                e.u16(len)
            }
            Op::MessageFilling(k) => {
                e.variant(1, 5);
                e.u8(k)
            }
            Op::Fragmented { total, piece, cut } => {
                e.variant(2, 5);
                e.u16(total);
                e.u16(piece);
                e.bool(cut.is_some());
                if let Some(c) = cut {
                    e.u8(c);
                }
            }
            Op::Pad => e.variant(3, 5),
            Op::Hello(token) => {
                e.variant(4, 5);
                e.u64(token)
            }
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
        self.lane.encode(e);
    }
}

impl Encode for SenderLane {
    fn encode(&self, e: &mut Enc) {
        self.tail.encode(e);
        self.history.encode(e);
        e.seq(&self.orphans, |e, o| o.encode(e));
        e.seq(&self.ops, |e, o| o.encode(e));
        e.seq(&self.mutations, |e, m| m.encode(e));
        e.u8(self.fill);
    }
}

impl Encode for Shape {
    fn encode(&self, e: &mut Enc) {
        match *self {
            Shape::Small(a, b) => {
                e.variant(0, 2);
                e.u8(a);
                e.u8(b)
            }
            Shape::Any(ss, n) => {
                e.variant(1, 2);
                ss.encode(e);
                n.encode(e)
            }
        }
    }
}

impl Encode for LaneCount {
    fn encode(&self, e: &mut Enc) {
        match *self {
            LaneCount::Few(k) => {
                e.variant(0, 3);
                e.u8(k)
            }
            LaneCount::Any(k) => {
                e.variant(1, 3);
                e.u8(k)
            }
            LaneCount::Raw(k) => {
                e.variant(2, 3);
                e.u8(k)
            }
        }
    }
}

impl Encode for LaneBody {
    fn encode(&self, e: &mut Enc) {
        match self {
            LaneBody::Idle(tail) => {
                e.variant(0, 4);
                tail.encode(e)
            }
            LaneBody::Sender(sender) => {
                e.variant(1, 4);
                sender.encode(e)
            }
            LaneBody::Records {
                tail,
                head,
                records,
                end,
                fill,
            } => {
                e.variant(2, 4);
                tail.encode(e);
                head.encode(e);
                e.seq(records, |e, r| r.encode(e));
                end.encode(e);
                e.bytes(fill)
            }
            LaneBody::Raw { tail, head, bytes } => {
                e.variant(3, 4);
                tail.encode(e);
                head.encode(e);
                e.bytes(bytes)
            }
        }
    }
}

impl Encode for LaneSpec {
    fn encode(&self, e: &mut Enc) {
        e.u64(self.sender_token);
        self.body.encode(e);
    }
}

impl Encode for LanesInput {
    fn encode(&self, e: &mut Enc) {
        self.shape.encode(e);
        self.max.encode(e);
        self.count.encode(e);
        e.seq(&self.lanes, |e, l| l.encode(e));
    }
}

impl Encode for MagicSel {
    fn encode(&self, e: &mut Enc) {
        match *self {
            MagicSel::Valid => e.variant(0, 2),
            MagicSel::Raw(v) => {
                e.variant(1, 2);
                e.u64(v)
            }
        }
    }
}

impl Encode for VersionSel {
    fn encode(&self, e: &mut Enc) {
        match *self {
            VersionSel::Current => e.variant(0, 3),
            VersionSel::Previous => e.variant(1, 3),
            VersionSel::Raw(v) => {
                e.variant(2, 3);
                e.u32(v)
            }
        }
    }
}

impl Encode for FlavourSel {
    fn encode(&self, e: &mut Enc) {
        match *self {
            FlavourSel::Spsc => e.variant(0, 2),
            FlavourSel::Raw(v) => {
                e.variant(1, 2);
                e.u32(v)
            }
        }
    }
}

impl Encode for DimSel {
    fn encode(&self, e: &mut Enc) {
        match *self {
            DimSel::Small(k) => {
                e.variant(0, 3);
                e.u8(k)
            }
            DimSel::Pow2(k) => {
                e.variant(1, 3);
                e.u8(k)
            }
            DimSel::Raw(v) => {
                e.variant(2, 3);
                e.u32(v)
            }
        }
    }
}

impl Encode for LanesSel {
    fn encode(&self, e: &mut Enc) {
        match *self {
            LanesSel::Few(k) => {
                e.variant(0, 5);
                e.u8(k)
            }
            LanesSel::Any(k) => {
                e.variant(1, 5);
                e.u8(k)
            }
            LanesSel::Zero => e.variant(2, 5),
            LanesSel::Over(k) => {
                e.variant(3, 5);
                e.u8(k)
            }
            LanesSel::Raw(v) => {
                e.variant(4, 5);
                e.u32(v)
            }
        }
    }
}

impl Encode for HeaderSizeSel {
    fn encode(&self, e: &mut Enc) {
        match *self {
            HeaderSizeSel::Exact => e.variant(0, 5),
            HeaderSizeSel::ForLanes(k) => {
                e.variant(1, 5);
                e.u8(k)
            }
            HeaderSizeSel::Previous => e.variant(2, 5),
            HeaderSizeSel::Near(d) => {
                e.variant(3, 5);
                d.encode(e)
            }
            HeaderSizeSel::Raw(v) => {
                e.variant(4, 5);
                e.u32(v)
            }
        }
    }
}

impl Encode for SegmentSizeSel {
    fn encode(&self, e: &mut Enc) {
        match *self {
            SegmentSizeSel::Exact => e.variant(0, 5),
            SegmentSizeSel::Near(d) => {
                e.variant(1, 5);
                d.encode(e)
            }
            SegmentSizeSel::ForLanes(k) => {
                e.variant(2, 5);
                e.u8(k)
            }
            SegmentSizeSel::Previous => e.variant(3, 5),
            SegmentSizeSel::Raw(v) => {
                e.variant(4, 5);
                e.u64(v)
            }
        }
    }
}

impl Encode for LengthSel {
    fn encode(&self, e: &mut Enc) {
        match *self {
            LengthSel::Declared => e.variant(0, 4),
            LengthSel::Exact(d) => {
                e.variant(1, 4);
                d.encode(e)
            }
            LengthSel::HeaderOnly(d) => {
                e.variant(2, 4);
                d.encode(e)
            }
            LengthSel::Raw(v) => {
                e.variant(3, 4);
                e.u16(v)
            }
        }
    }
}

impl Encode for LaneWords {
    fn encode(&self, e: &mut Enc) {
        e.u64(self.head);
        e.u64(self.tail);
        e.u64(self.sender_token);
        e.u64(self.owner_token);
        e.u32(self.owner_epoch);
    }
}

impl Encode for HeaderFields {
    fn encode(&self, e: &mut Enc) {
        self.magic.encode(e);
        self.version.encode(e);
        self.flavour.encode(e);
        self.slot_size.encode(e);
        self.slot_count.encode(e);
        self.lanes.encode(e);
        self.max.encode(e);
        self.header_size.encode(e);
        self.segment_size.encode(e);
        e.bool(self.ready);
        e.bytes(&self.fill);
        e.seq(&self.lane_words, |e, w| w.encode(e));
        self.length.encode(e);
    }
}

impl Encode for HeaderInput {
    fn encode(&self, e: &mut Enc) {
        match self {
            HeaderInput::Raw(bytes) => {
                e.variant(0, 2);
                e.bytes(bytes)
            }
            HeaderInput::Fields(f) => {
                e.variant(1, 2);
                f.encode(e)
            }
        }
    }
}
