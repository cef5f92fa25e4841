//! Structured inputs of the `lanes` target: a mailbox of one to a few
//! lanes (sometimes up to 64, 0 or too many), each with its own tail, head,
//! sender token and slots, written by the little sender of the `records`
//! target, placed as the `ring` target places records, raw, or untouched.

use arbitrary::Arbitrary;

use crate::*;

/// The `lanes` target's input.
#[derive(Arbitrary, Clone, Debug)]
pub struct LanesInput {
    pub shape: Shape,
    pub max: MaxSize,
    pub count: LaneCount,
    /// Lane `i` is `lanes[i % lanes.len()]` (an idle lane if empty).
    pub lanes: Vec<LaneSpec>,
}

/// The slot size and count, shared by every lane.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum Shape {
    /// `64 * (1 + a % 4)` bytes, `1 << (1 + b % 6)` slots (2 to 64): valid.
    Small(u8, u8),
    /// As the `ring` target picks them: often invalid, or too large for
    /// `drain_lanes`'s 1 MiB of rings.
    Any(SlotSize, SlotCount),
}

impl Shape {
    pub fn get(self) -> (usize, usize) {
        match self {
            Shape::Small(a, b) => (64 * (1 + usize::from(a % 4)), 1 << (1 + b % 6)),
            Shape::Any(ss, n) => (ss.get(), n.get()),
        }
    }
}

/// How many lanes the mailbox has.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum LaneCount {
    /// `1 + k % 4`.
    Few(u8),
    /// `1 + k % 64`.
    Any(u8),
    /// `k`: 0 or more than 64 are refused.
    Raw(u8),
}

impl LaneCount {
    pub fn get(self) -> usize {
        match self {
            LaneCount::Few(k) => 1 + usize::from(k % 4),
            LaneCount::Any(k) => 1 + usize::from(k % 64),
            LaneCount::Raw(k) => k.into(),
        }
    }
}

/// One lane: the token the receiver's line names for its tail, and its
/// slots and indices.
#[derive(Arbitrary, Clone, Debug)]
pub struct LaneSpec {
    pub sender_token: u64,
    pub body: LaneBody,
}

/// What one lane holds.
#[derive(Arbitrary, Clone, Debug)]
pub enum LaneBody {
    /// Nobody wrote here: zeros, head at tail.
    Idle(Tail),
    /// The `records` target's little sender (with its mutations).
    Sender(SenderLane),
    /// Record headers placed from tail on, as the `ring` target does.
    Records {
        tail: Tail,
        head: Head,
        records: Vec<Rec>,
        end: EndSel,
        fill: Vec<u8>,
    },
    /// These bytes, repeated.
    Raw {
        tail: Tail,
        head: Head,
        bytes: Vec<u8>,
    },
}

/// What [`LanesInput::build`] made.
#[derive(Clone, Debug)]
pub struct BuiltLanes {
    pub params: LanesParams,
    /// For each lane, the messages a correct receiver delivers from it
    /// alone, if the lane was built well-formed (an idle lane, or a sender's
    /// records no mutation changed).
    pub expected: Vec<Option<usize>>,
}

impl LanesInput {
    /// The `drain_lanes` arguments this input describes.
    pub fn build(&self) -> BuiltLanes {
        let (ss, n) = self.shape.get();
        let count = self.count.get();
        let max = self.max.get(ss, n);
        // Lanes are written only for a queue `drain_lanes` fills; the others
        // get their short fill bytes (never read).
        let usable =
            config_error(ss, n, count, max).is_none() && ss * n * count <= DRAIN_RING_LIMIT;
        let idle = LaneSpec {
            sender_token: 0,
            body: LaneBody::Idle(Tail::Zero),
        };
        let mut lanes = Vec::with_capacity(count);
        let mut expected = Vec::with_capacity(count);
        for i in 0..count {
            let spec = match self.lanes.len() {
                0 => &idle,
                len => &self.lanes[i % len],
            };
            let (lane, well_formed) = spec.build(ss, n, max, usable);
            lanes.push(lane);
            expected.push(well_formed);
        }
        BuiltLanes {
            params: LanesParams {
                slot_size: ss,
                slot_count: n,
                max_message_size: max,
                lanes,
            },
            expected,
        }
    }
}

impl LaneSpec {
    /// The lane, and what it delivers alone if it is well-formed. `usable`:
    /// the geometry is one `drain_lanes` fills.
    fn build(&self, ss: usize, n: usize, max: u64, usable: bool) -> (LaneImage, Option<usize>) {
        let lane = |head, tail, ring| LaneImage {
            head,
            tail,
            sender_token: self.sender_token,
            ring,
        };
        match &self.body {
            LaneBody::Idle(tail) => {
                let tail = tail.get(n);
                (lane(tail, tail, Vec::new()), Some(0))
            }
            LaneBody::Sender(sender) if usable => {
                let w = sender.write(ss, n, max);
                (lane(w.head, w.tail, w.ring), w.expected)
            }
            LaneBody::Sender(sender) => {
                let tail = sender.tail.get(n);
                (lane(tail, tail, vec![sender.fill]), None)
            }
            LaneBody::Records {
                tail,
                head,
                records,
                end,
                fill,
            } => {
                let tail = tail.get(n);
                let p = Params {
                    slot_size: ss,
                    slot_count: n,
                    max_message_size: max,
                    head: head.get(tail, n),
                    tail,
                };
                let ring = if usable {
                    records_or_fill(&p, records, *end, fill)
                } else {
                    fill.clone()
                };
                (lane(p.head, tail, ring), None)
            }
            LaneBody::Raw { tail, head, bytes } => {
                let tail = tail.get(n);
                (lane(head.get(tail, n), tail, bytes.clone()), None)
            }
        }
    }
}
