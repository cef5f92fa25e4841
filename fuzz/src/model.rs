//! The reference model: what `drain_ring` and `check_header` must return.

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
