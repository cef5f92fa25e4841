//! The reference model of the receiver: what `drain_ring` and `drain_lanes`
//! must return. (The header model is in `header.rs`.)

use crate::*;

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
    /// Partly assembled messages dropped (by a `Message`, a new `First` or
    /// a `Hello`).
    pub abandoned: usize,
    /// `Hello` records freed.
    pub hellos: usize,
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
        (o.hellos, "hello"),
    ] {
        if n > 0 {
            s.push('+');
            s.push_str(what);
        }
    }
    s
}

pub(crate) fn ring_byte(ring: &[u8], i: usize) -> u8 {
    if ring.is_empty() {
        0
    } else {
        ring[i % ring.len()]
    }
}

pub(crate) fn read_u32(ring: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(std::array::from_fn(|i| ring_byte(ring, at + i)))
}

pub(crate) fn read_u64(ring: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(std::array::from_fn(|i| ring_byte(ring, at + i)))
}

/// The model's receiver of one lane: its tail and reassembly state over a
/// still image of the lane's slots (`ring` repeated, zeros if empty, as
/// `drain_lanes` fills them).
#[derive(Clone, Debug)]
pub struct LaneReader<'a> {
    slot_size: usize,
    slot_count: usize,
    max: u64,
    ring: &'a [u8],
    tail: u64,
    /// (total, bytes so far) of the message being reassembled.
    assembly: Option<(u64, u64)>,
    /// What this lane did so far (`stop` is set once it stopped).
    pub out: Outcome,
}

impl<'a> LaneReader<'a> {
    /// A reader at `tail` of a lane of a valid geometry.
    pub fn new(slot_size: usize, slot_count: usize, max: u64, tail: u64, ring: &'a [u8]) -> Self {
        LaneReader {
            slot_size,
            slot_count,
            max,
            ring,
            tail,
            assembly: None,
            out: Outcome::default(),
        }
    }

    /// The commit word at the tail: 0 if nothing is committed there (what
    /// the mailbox's receiver peeks at before it reads a lane).
    pub fn peek(&self) -> u32 {
        let index = self.tail & (self.slot_count as u64 - 1);
        read_u32(self.ring, index as usize * self.slot_size + COMMIT_OFFSET)
    }

    /// One receive on this lane (the library's `find_message`): reads
    /// records at the tail until it delivers a message (`Ok`), finds an
    /// uncommitted word (`Stop::Empty`, the lane's state kept: it stays so,
    /// the image being still) or a corrupt record. Every `Err` is also
    /// noted in `out.stop`.
    pub fn next_message(&mut self) -> Result<(), Stop> {
        let result = self.find_message();
        if let Err(stop) = result {
            self.out.stop = Some(stop);
        }
        result
    }

    fn find_message(&mut self) -> Result<(), Stop> {
        let (ss, slots) = (self.slot_size, self.slot_count as u64);
        let cap = capacity(ss, self.slot_count) as u64;
        let corrupt = |why| Err(Stop::Corrupted(why));
        let out = &mut self.out;
        loop {
            let tail = self.tail;
            let index = tail & (slots - 1);
            let at = index as usize * ss;
            let commit = read_u32(self.ring, at + COMMIT_OFFSET);
            if commit == 0 {
                return Err(Stop::Empty);
            }
            if u64::from(commit >> 8) != tail & STAMP_MASK {
                return corrupt("record stamped for another position");
            }
            let kind = (commit & 0xFF) as u8;
            let len = u64::from(read_u32(self.ring, at));
            let total = read_u64(self.ring, at + 8);
            if !(MESSAGE..=HELLO).contains(&kind) {
                return corrupt("unknown record kind");
            }
            if kind == PADDING {
                if index == 0 {
                    return corrupt("padding at the start of the ring");
                }
                // Its length and total are not read.
                self.tail += slots - index;
                out.advanced += slots - index;
                out.padding += 1;
                continue;
            }
            if kind == HELLO && len != 0 {
                return corrupt("hello record with a payload");
            }
            if len > cap {
                return corrupt("record longer than the ring");
            }
            let taken = slots_for(len, ss);
            if index + taken > slots {
                return corrupt("record wraps around the ring");
            }
            if kind == MESSAGE && len > self.max {
                return corrupt("message longer than max_message_size");
            }
            match kind {
                HELLO => {
                    // Its total is the sender's token, not a length. A chain
                    // of the lane's earlier holder will never end.
                    if self.assembly.take().is_some() {
                        out.abandoned += 1;
                    }
                    out.hellos += 1;
                    self.tail += taken;
                    out.advanced += taken;
                }
                MESSAGE => {
                    if self.assembly.take().is_some() {
                        out.abandoned += 1;
                    }
                    self.tail += taken;
                    out.advanced += taken;
                    out.delivered += 1;
                    return Ok(());
                }
                FIRST => {
                    if total > self.max {
                        return corrupt("message longer than max_message_size");
                    }
                    if len >= total {
                        return corrupt("first fragment holds the whole message");
                    }
                    if self.assembly.replace((total, len)).is_some() {
                        out.abandoned += 1;
                    }
                    out.fragments += 1;
                    self.tail += taken;
                    out.advanced += taken;
                }
                _ => {
                    let Some((expected, have)) = self.assembly else {
                        out.orphans += 1;
                        self.tail += taken;
                        out.advanced += taken;
                        continue;
                    };
                    let have = have + len;
                    if have > expected {
                        return corrupt("fragments longer than the message");
                    }
                    if kind == MIDDLE && have == expected {
                        return corrupt("message completed without a last fragment");
                    }
                    if kind == LAST && have != expected {
                        return corrupt("last fragment leaves the message short");
                    }
                    out.fragments += 1;
                    self.tail += taken;
                    out.advanced += taken;
                    if kind == LAST {
                        self.assembly = None;
                        out.delivered += 1;
                        out.reassembled += 1;
                        return Ok(());
                    }
                    self.assembly = Some((expected, have));
                }
            }
        }
    }
}

/// Reference model of `shmq::fuzz::drain_ring(p..., ring)`: one lane.
///
/// The slot array is `ring` repeated (zeros if empty), as `drain_ring`
/// fills it. Written from the protocol description rather than from the
/// code: the receiver's attach check, the checks on each record header
/// (commit word first), the reassembly rules, and `drain_ring`'s own loop.
/// `p.head` is deliberately unused: the receiver never relies on it.
pub fn model_drain(p: &Params, ring: &[u8]) -> Outcome {
    let mut out = Outcome::default();
    if let Some(why) = config_error(p.slot_size, p.slot_count, 1, p.max_message_size) {
        out.stop = Some(Stop::Rejected(why));
        return out;
    }
    let (ss, n) = (p.slot_size, p.slot_count);
    if ss * n > DRAIN_RING_LIMIT {
        out.stop = Some(Stop::Rejected("rings larger than drain_lanes allows"));
        return out;
    }
    if p.tail > MAX_POSITION {
        out.stop = Some(Stop::AttachFailed("tail index beyond 2^62"));
        return out;
    }
    let mut lane = LaneReader::new(ss, n, p.max_message_size, p.tail, ring);
    for _ in 0..4 * n {
        if lane.next_message().is_err() {
            return lane.out;
        }
    }
    lane.out.stop = Some(Stop::LoopLimit);
    lane.out
}

/// One lane of a `drain_lanes` call, as the model takes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LaneImage {
    /// The sender's head: never relied on.
    pub head: u64,
    pub tail: u64,
    /// The token the receiver stored for the records at `tail`: names the
    /// sender, never changes a count.
    pub sender_token: u64,
    /// The lane's slots (repeated or cut to size; zeros if empty).
    pub ring: Vec<u8>,
}

/// The arguments of `shmq::fuzz::drain_lanes`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LanesParams {
    pub slot_size: usize,
    pub slot_count: usize,
    pub max_message_size: u64,
    pub lanes: Vec<LaneImage>,
}

/// What the model's mailbox drain did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LanesOutcome {
    /// Messages delivered (`drain_lanes`'s first result).
    pub delivered: usize,
    /// Messages delivered on each lane (its second result: empty if the
    /// queue was rejected or the receiver did not attach).
    pub per_lane: Vec<usize>,
    /// Why the drain ended: `Rejected`, `AttachFailed`, `Corrupted` (on
    /// `corrupted_lane`), `Empty` (every lane's tail uncommitted) or
    /// `LoopLimit`.
    pub stop: Option<Stop>,
    /// The lane whose record poisoned the receiver.
    pub corrupted_lane: Option<usize>,
    /// Each lane's own outcome (its `stop` is `None` if the drain ended
    /// before that lane stopped).
    pub lanes: Vec<Outcome>,
}

/// Reference model of `shmq::fuzz::drain_lanes`: a mailbox of
/// `p.lanes.len()` lanes.
///
/// One lane is [`model_drain`]. With more, each receive looks at the lanes
/// round-robin from the one after the lane last served, skips a lane whose
/// tail is uncommitted, and reads records on the first other lane until it
/// delivers a message or runs out of committed records there (the lane
/// keeps its reassembly state: in a still image it has nothing more to
/// give). The first corrupt record on any lane poisons the receiver, so
/// what the other lanes delivered depends on the order. A receive that
/// finds no lane with a message ends the drain, as does `drain_lanes`'s
/// loop bound (`4 x slot_count x lanes` receives).
pub fn model_lanes(p: &LanesParams) -> LanesOutcome {
    let (ss, n, count) = (p.slot_size, p.slot_count, p.lanes.len());
    let mut out = LanesOutcome::default();
    if let Some(why) = config_error(ss, n, count, p.max_message_size) {
        out.stop = Some(Stop::Rejected(why));
        return out;
    }
    if ss * n * count > DRAIN_RING_LIMIT {
        out.stop = Some(Stop::Rejected("rings larger than drain_lanes allows"));
        return out;
    }
    // Attach checks each lane's tail.
    if p.lanes.iter().any(|l| l.tail > MAX_POSITION) {
        out.stop = Some(Stop::AttachFailed("tail index beyond 2^62"));
        return out;
    }
    let mut readers: Vec<LaneReader> = p
        .lanes
        .iter()
        .map(|l| LaneReader::new(ss, n, p.max_message_size, l.tail, &l.ring))
        .collect();
    out.per_lane = vec![0; count];
    let mut next = 0;
    let stop = 'drain: {
        for _ in 0..4 * n * count {
            if count == 1 {
                // A plain queue reads its lane without peeking first.
                match readers[0].next_message() {
                    Ok(()) => out.per_lane[0] += 1,
                    Err(Stop::Corrupted(why)) => {
                        out.corrupted_lane = Some(0);
                        break 'drain Stop::Corrupted(why);
                    }
                    Err(_) => break 'drain Stop::Empty,
                }
                continue;
            }
            let mut found = false;
            let mut i = next;
            for _ in 0..count {
                if readers[i].peek() != 0 {
                    match readers[i].next_message() {
                        Ok(()) => {
                            out.per_lane[i] += 1;
                            next = (i + 1) % count;
                            found = true;
                            break;
                        }
                        Err(Stop::Corrupted(why)) => {
                            out.corrupted_lane = Some(i);
                            break 'drain Stop::Corrupted(why);
                        }
                        // Padding, `Hello`s or a chain not yet complete.
                        Err(_) => {}
                    }
                }
                i = (i + 1) % count;
            }
            if !found {
                break 'drain Stop::Empty;
            }
        }
        Stop::LoopLimit
    };
    out.stop = Some(stop);
    out.delivered = out.per_lane.iter().sum();
    out.lanes = readers.into_iter().map(|r| r.out).collect();
    out
}

/// A short name for what a mailbox drain did, as the `lanes` seeds are
/// named: the stop (with `@lane` for a corrupt record), then `+delivered`,
/// `+padding`, ... for each path any lane took, then the messages each lane
/// delivered.
pub fn classify_lanes(o: &LanesOutcome) -> String {
    let mut paths = Outcome {
        stop: o.stop,
        ..Outcome::default()
    };
    for lane in &o.lanes {
        paths.delivered += lane.delivered;
        paths.padding += lane.padding;
        paths.orphans += lane.orphans;
        paths.abandoned += lane.abandoned;
        paths.reassembled += lane.reassembled;
        paths.hellos += lane.hellos;
    }
    let mut s = classify(&paths);
    if let Some(lane) = o.corrupted_lane {
        let at = s.find('+').unwrap_or(s.len());
        s.insert_str(at, &format!("@{lane}"));
    }
    if o.per_lane.is_empty() {
        s
    } else {
        format!("{s} {:?}", o.per_lane)
    }
}
