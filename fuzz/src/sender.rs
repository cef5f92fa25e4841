//! Inputs of the `records` target: a tiny sender that writes records as
//! the real one does, then corrupts them.

use arbitrary::Arbitrary;

use crate::*;

// ---------------------------------------------------------------------------
// The `records` target: a tiny sender that writes well-formed records the
// way the real one does (padding before a record that would wrap,
// fragments carrying the message length, one slot kept free, the next
// commit word cleared before each commit, a `Hello` when a sender attaches),
// then optional corruptions. The `lanes` target uses it for its lanes.

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
    /// A `Hello` carrying this token: a sender attached to the lane (the
    /// real one writes it first; a later one follows a sender that died,
    /// maybe in the middle of a fragmented message).
    Hello(u64),
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
    /// Moves head by a few slots. Not a corruption: the receiver never
    /// relies on head, so the sender's count must still be delivered
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

/// The `records` target's input: a geometry and one lane's sender.
#[derive(Arbitrary, Clone, Debug)]
pub struct RecordsInput {
    /// `64 * (1 + k % 4)`.
    pub slot_size: u8,
    /// `1 << (1 + k % 6)`.
    pub slot_count: u8,
    pub max: MaxSize,
    pub lane: SenderLane,
}

/// What one lane's little sender does, from which tail, over which slots.
#[derive(Arbitrary, Clone, Debug)]
pub struct SenderLane {
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

/// What [`SenderLane::write`] made: one lane's slots and indices.
#[derive(Clone, Debug)]
pub struct WrittenLane {
    pub head: u64,
    pub tail: u64,
    pub ring: Vec<u8>,
    pub records: Vec<Written>,
    /// As [`Built::expected`].
    pub expected: Option<usize>,
}

impl RecordsInput {
    /// The geometry: slot size, slot count, max message size.
    pub fn geometry(&self) -> (usize, usize, u64) {
        let ss = 64 * (1 + usize::from(self.slot_size % 4));
        let n = 1usize << (1 + self.slot_count % 6);
        let max = self.max.get(ss, n).min(MAX_MESSAGE_LIMIT);
        (ss, n, max)
    }

    pub fn build(&self) -> Built {
        let (ss, n, max) = self.geometry();
        let lane = self.lane.write(ss, n, max);
        Built {
            params: Params {
                slot_size: ss,
                slot_count: n,
                max_message_size: max,
                head: lane.head,
                tail: lane.tail,
            },
            ring: lane.ring,
            records: lane.records,
            expected: lane.expected,
        }
    }
}

impl SenderLane {
    /// Writes this lane's records in a ring of `n` slots of `ss` bytes (a
    /// valid geometry) with a limit of `max` bytes a message.
    pub fn write(&self, ss: usize, n: usize, max: u64) -> WrittenLane {
        let slots = n as u64;
        let cap = capacity(ss, n) as u64;
        let frag = fragment_size(ss, n) as u64;
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
                    Op::Hello(token) => {
                        if !emit(&mut records, &mut head, 0, HELLO, token) {
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
        WrittenLane {
            head,
            tail,
            ring,
            records,
            expected,
        }
    }
}
