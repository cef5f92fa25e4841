//! The seeds in `seeds/`, each named after the path it reaches.

use crate::*;

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
