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
        lane: SenderLane {
            tail,
            history,
            orphans,
            ops,
            mutations,
            fill: 0xA5,
        },
    }
}

/// Every seed, for all four targets.
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

    ring(
        "hello-then-messages",
        "empty+delivered+hello",
        // A sender's first record, its token in `total`: freed, not a
        // message.
        ring_seed(
            8,
            big,
            Tail::Laps(2, 7),
            Head::Ahead(3),
            vec![
                rec(K::Hello, L::Zero, T::Raw(0x1234_5678_9abc)),
                msg(1),
                msg(60),
            ],
        ),
    );
    ring(
        "hello-abandons-a-chain",
        "empty+delivered+orphans+abandoned+hello",
        // A sender died in the middle of a message; the next one's `Hello`
        // drops it, and the `Last` after it is an orphan.
        ring_seed(
            8,
            big,
            Tail::Zero,
            Head::Full,
            vec![
                rec(K::First, L::Small(20), T::Raw(40)),
                rec(K::Hello, L::Zero, T::Raw(7)),
                rec(K::Last, L::Small(20), T::Zero),
                msg(2),
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
            vec![msg(1), rec(K::Raw(7), L::Small(1), T::Len)],
        ),
    );
    ring(
        "hello-with-a-payload",
        "corrupted:hello-record-with-a-payload+delivered+hello",
        // A message after it, so that a receiver that let it pass would
        // deliver one more.
        ring_seed(
            8,
            big,
            Tail::Zero,
            Head::Empty,
            vec![
                rec(K::Hello, L::Zero, T::Raw(1)),
                msg(1),
                rec(K::Hello, L::Small(1), T::Raw(2)),
                msg(1),
            ],
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
        "senders-take-over-with-hello",
        "empty+delivered+abandoned+hello",
        // Each sender starts with its `Hello`; the second one follows a
        // sender that gave up in the middle of a message.
        records_seed(
            16,
            Tail::Laps(3, 9),
            History::PreviousLap,
            vec![],
            vec![
                Op::Hello(11),
                Op::Message(5),
                frag(300, 100, Some(0)),
                Op::Hello(22),
                Op::Message(70),
            ],
            vec![],
        ),
    );
    records(
        "hello-given-a-payload",
        "corrupted:hello-record-with-a-payload+delivered+hello",
        records_seed(
            8,
            Tail::Zero,
            History::Filler,
            vec![],
            vec![Op::Hello(1), Op::Message(1), Op::Hello(2), Op::Message(1)],
            vec![Mutation::Len(2, LenSel::Small(1))],
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

    // --- lanes: a mailbox drained round-robin.
    let mut lanes = |name, class, input: LanesInput| {
        out.push(Seed {
            target: "lanes",
            name,
            class,
            bytes: to_bytes(&input),
        })
    };
    let sender = |tail, ops: Vec<Op>, mutations: Vec<Mutation>| {
        LaneBody::Sender(SenderLane {
            tail,
            history: History::Filler,
            orphans: vec![],
            ops,
            mutations,
            fill: 0xA5,
        })
    };
    let spec = |sender_token, body| LaneSpec { sender_token, body };
    lanes(
        "three-senders-round-robin",
        "empty+delivered+padding+hello [3, 2, 1]",
        lanes_seed(
            8,
            3,
            vec![
                spec(
                    101,
                    sender(
                        Tail::Zero,
                        vec![
                            Op::Hello(101),
                            Op::Message(1),
                            Op::Message(1),
                            Op::Message(1),
                        ],
                        vec![],
                    ),
                ),
                // Hello at slot 6, padding at 7, two messages from slot 0.
                spec(
                    u64::MAX,
                    sender(
                        Tail::Laps(5, 6),
                        vec![Op::Hello(102), Op::Message(100), Op::Message(1)],
                        vec![],
                    ),
                ),
                spec(
                    0,
                    sender(
                        Tail::StampWrap(0, 1),
                        vec![Op::Hello(103), Op::Message(1)],
                        vec![],
                    ),
                ),
            ],
        ),
    );
    lanes(
        "a-corrupt-lane-stops-the-others",
        "corrupted:unknown-record-kind@1+delivered+hello [2, 1]",
        // Lanes 0 and 1 take turns until lane 1's second message, whose
        // kind is unknown: lane 0's third message is never delivered.
        lanes_seed(
            8,
            2,
            vec![
                spec(
                    1,
                    sender(
                        Tail::Zero,
                        vec![Op::Hello(1), Op::Message(1), Op::Message(1), Op::Message(1)],
                        vec![],
                    ),
                ),
                spec(
                    2,
                    sender(
                        Tail::Laps(1, 3),
                        vec![Op::Hello(2), Op::Message(1), Op::Message(1)],
                        vec![Mutation::Kind(2, KindSel::Raw(9))],
                    ),
                ),
            ],
        ),
    );
    lanes(
        "a-chain-waits-on-its-lane",
        "empty+delivered [0, 2]",
        // Lane 0 holds the first fragment of a message whose next one is
        // not committed: the receiver goes on with lane 1.
        lanes_seed(
            8,
            2,
            vec![
                spec(
                    0,
                    LaneBody::Records {
                        tail: Tail::Laps(2, 2),
                        head: Head::Ahead(1),
                        records: vec![rec(K::First, L::Small(20), T::Raw(100))],
                        end: EndSel::Uncommitted,
                        fill: vec![0x5A],
                    },
                ),
                spec(
                    9,
                    sender(Tail::Zero, vec![Op::Message(1), Op::Message(1)], vec![]),
                ),
            ],
        ),
    );
    lanes(
        "idle-lanes",
        "empty+delivered [0, 2, 0, 0]",
        lanes_seed(
            4,
            4,
            vec![
                spec(0, LaneBody::Idle(Tail::Zero)),
                spec(
                    5,
                    sender(
                        Tail::Laps(1, 1),
                        vec![Op::Message(1), Op::Message(1)],
                        vec![],
                    ),
                ),
                spec(0, LaneBody::Idle(Tail::BelowLimit(0))),
                spec(
                    0,
                    LaneBody::Raw {
                        tail: Tail::Zero,
                        head: Head::Full,
                        bytes: vec![0],
                    },
                ),
            ],
        ),
    );
    lanes(
        "one-lane-reassembles",
        "empty+delivered+reassembled+hello [1]",
        lanes_seed(
            8,
            1,
            vec![spec(
                3,
                sender(Tail::Zero, vec![Op::Hello(3), frag(150, 47, None)], vec![]),
            )],
        ),
    );
    lanes(
        "sixty-four-lanes",
        "empty+delivered+hello [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, \
         1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, \
         1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]",
        LanesInput {
            count: LaneCount::Any(63),
            ..lanes_seed(
                4,
                1,
                vec![spec(
                    4,
                    sender(Tail::Zero, vec![Op::Hello(4), Op::Message(1)], vec![]),
                )],
            )
        },
    );
    lanes(
        "sixty-five-lanes",
        "rejected",
        LanesInput {
            count: LaneCount::Raw(65),
            ..lanes_seed(2, 1, vec![])
        },
    );
    lanes(
        "no-lanes",
        "rejected",
        LanesInput {
            count: LaneCount::Raw(0),
            ..lanes_seed(2, 1, vec![])
        },
    );
    lanes(
        "rings-larger-than-drain-lanes-allows",
        "rejected",
        // 17 lanes of 64 KiB.
        LanesInput {
            shape: Shape::Any(SlotSize::B1024, SlotCount::Pow(5)),
            count: LaneCount::Any(16),
            ..lanes_seed(2, 1, vec![])
        },
    );
    lanes(
        "a-tail-beyond-the-limit",
        "attach-failed",
        lanes_seed(
            4,
            2,
            vec![
                spec(0, sender(Tail::Zero, vec![Op::Message(1)], vec![])),
                spec(0, LaneBody::Idle(Tail::AboveLimit(1))),
            ],
        ),
    );

    // --- header.
    let mut header = |name, class, input: HeaderInput| {
        out.push(Seed {
            target: "header",
            name,
            class,
            bytes: to_bytes(&input),
        })
    };
    let fields = HeaderFields {
        magic: MagicSel::Valid,
        version: VersionSel::Current,
        flavour: FlavourSel::Spsc,
        slot_size: DimSel::Small(0), // 64
        slot_count: DimSel::Pow2(1), // 2
        lanes: LanesSel::Few(0),     // 1
        max: MaxSize::Small(1000),
        header_size: HeaderSizeSel::Exact,
        segment_size: SegmentSizeSel::Exact,
        ready: true,
        fill: vec![],
        lane_words: vec![],
        length: LengthSel::Declared,
    };
    let f = |g: HeaderFields| HeaderInput::Fields(g);
    header("valid-64x2", "ok", f(fields.clone()));
    header(
        "valid-3-lanes-128x4-max1TiB",
        "ok",
        f(HeaderFields {
            slot_size: DimSel::Small(1),
            slot_count: DimSel::Pow2(2),
            lanes: LanesSel::Few(2),
            max: MaxSize::Limit(Delta::Zero),
            ..fields.clone()
        }),
    );
    header(
        "valid-64-lanes",
        "ok",
        f(HeaderFields {
            lanes: LanesSel::Any(63),
            ..fields.clone()
        }),
    );
    header(
        "hostile-lane-table",
        "ok",
        // The receiver's line, the lane headers and the slots are 0xFF,
        // and the lane words wild: the header check does not read them.
        f(HeaderFields {
            lanes: LanesSel::Few(1),
            fill: vec![0xFF],
            lane_words: vec![
                LaneWords {
                    head: 0,
                    tail: u64::MAX,
                    sender_token: u64::MAX,
                    owner_token: 1,
                    owner_epoch: u32::MAX,
                },
                LaneWords {
                    head: MAX_POSITION + 1,
                    tail: MAX_POSITION + 1,
                    sender_token: 0,
                    owner_token: u64::MAX,
                    owner_epoch: 0,
                },
            ],
            ..fields.clone()
        }),
    );
    header("raw-valid-segment", "ok", HeaderInput::Raw(fields.build()));
    header(
        "version-2-segment",
        "version",
        f(HeaderFields {
            version: VersionSel::Previous,
            header_size: HeaderSizeSel::Previous,
            segment_size: SegmentSizeSel::Previous,
            length: LengthSel::Declared,
            ..fields.clone()
        }),
    );
    header(
        "bad-magic",
        "magic",
        f(HeaderFields {
            magic: MagicSel::Raw(u64::from_le_bytes(*b"SHMQRINH")),
            ..fields.clone()
        }),
    );
    header(
        "another-flavour",
        "flavour",
        f(HeaderFields {
            flavour: FlavourSel::Raw(3),
            ..fields.clone()
        }),
    );
    header(
        "a-topics-ring",
        "kind",
        f(HeaderFields {
            flavour: FlavourSel::Raw(2),
            ..fields.clone()
        }),
    );
    header(
        "slot-size-32",
        "slot size out of range (64 B to 16 MiB)",
        f(HeaderFields {
            slot_size: DimSel::Raw(32),
            ..fields.clone()
        }),
    );
    header(
        "slot-size-65",
        "slot size is not a multiple of 64",
        f(HeaderFields {
            slot_size: DimSel::Raw(65),
            ..fields.clone()
        }),
    );
    header(
        "three-slots",
        "slot count is not a power of two",
        f(HeaderFields {
            slot_count: DimSel::Raw(3),
            ..fields.clone()
        }),
    );
    header(
        "one-slot",
        "slot count out of range (2 to 2^24)",
        f(HeaderFields {
            slot_count: DimSel::Pow2(0),
            ..fields.clone()
        }),
    );
    header(
        "max-over-1TiB",
        "max message size larger than 1 TiB",
        f(HeaderFields {
            max: MaxSize::Limit(Delta::PlusOne),
            ..fields.clone()
        }),
    );
    header(
        "no-lanes",
        "sender lanes out of range (1 to 64)",
        f(HeaderFields {
            lanes: LanesSel::Zero,
            ..fields.clone()
        }),
    );
    header(
        "sixty-five-lanes",
        "sender lanes out of range (1 to 64)",
        f(HeaderFields {
            lanes: LanesSel::Over(0),
            ..fields.clone()
        }),
    );
    header(
        "ring-over-4GiB",
        "ring larger than 4 GiB",
        f(HeaderFields {
            slot_size: DimSel::Pow2(24),
            slot_count: DimSel::Pow2(9),
            ..fields.clone()
        }),
    );
    header(
        "lanes-times-ring-over-64GiB",
        "lanes x ring larger than 64 GiB",
        // 17 lanes of 16 MiB x 256.
        f(HeaderFields {
            slot_size: DimSel::Pow2(24),
            slot_count: DimSel::Pow2(8),
            lanes: LanesSel::Any(16),
            ..fields.clone()
        }),
    );
    header(
        "header-size-for-fewer-lanes",
        "header size",
        f(HeaderFields {
            lanes: LanesSel::Few(2),
            header_size: HeaderSizeSel::ForLanes(2),
            ..fields.clone()
        }),
    );
    header(
        "header-size-of-version-2",
        "header size",
        f(HeaderFields {
            header_size: HeaderSizeSel::Previous,
            ..fields.clone()
        }),
    );
    header(
        "segment-size-for-one-lane",
        "segment size field",
        f(HeaderFields {
            lanes: LanesSel::Few(1),
            segment_size: SegmentSizeSel::ForLanes(1),
            length: LengthSel::Exact(Delta::Zero),
            ..fields.clone()
        }),
    );
    header(
        "file-without-the-slots",
        "file size",
        f(HeaderFields {
            lanes: LanesSel::Few(3),
            length: LengthSel::HeaderOnly(Delta::Zero),
            ..fields.clone()
        }),
    );
    header(
        "shorter-than-a-header",
        "shorter than a header",
        f(HeaderFields {
            length: LengthSel::Raw(HEADER_SIZE as u16 - 1),
            ..fields
        }),
    );
    out
}

/// A `lanes` input of `count` lanes (1 to 4) of 64-byte slots.
fn lanes_seed(slots: u8, count: u8, lanes: Vec<LaneSpec>) -> LanesInput {
    LanesInput {
        // Small(a, b): 64 * (1 + a % 4) bytes, 1 << (1 + b % 6) slots.
        shape: Shape::Small(0, slots.trailing_zeros() as u8 - 1),
        max: MaxSize::Rings(4, Delta::Zero),
        count: LaneCount::Few(count - 1),
        lanes,
    }
}
