//! A topic's two files, raw or written field by field: the ring segment
//! (its header: magic, version, flavour, sizes, ready marker and file
//! length; the publisher's head and join point, its owner word; and the
//! records in its slots, stamped for the positions a subscriber reads them
//! at, or not) and the subscriber table (its header, the settings of the
//! control line, the mark and the resume point, and entries with any
//! owner, tail, cut word). `topic_files` opens the topic as a process
//! would, attaches subscribers (with history or not) and a publisher to
//! it, and receives and sends without waiting: it must never panic, wait
//! or read out of bounds, and a subscriber that found the topic corrupt
//! must keep saying so.

#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;

/// A 64-bit word near a base (a position, a message number), or any.
#[derive(Debug, Clone, Copy, Arbitrary)]
enum Near {
    Base,
    Plus(u8),
    Minus(u8),
    Raw(u64),
}

impl Near {
    fn get(self, base: u64) -> u64 {
        match self {
            Near::Base => base,
            Near::Plus(d) => base.wrapping_add(u64::from(d % 64)),
            Near::Minus(d) => base.wrapping_sub(u64::from(d % 64)),
            Near::Raw(v) => v,
        }
    }
}

/// An owner word (a token: pid in the low half, start time above).
#[derive(Debug, Clone, Copy, Arbitrary)]
enum Owner {
    Free,
    /// This process's pid, with some start time (alive only if it is
    /// this process's own).
    OwnPid(u32),
    Raw(u64),
}

impl Owner {
    fn get(self) -> u64 {
        match self {
            Owner::Free => 0,
            Owner::OwnPid(start) => u64::from(std::process::id()) | u64::from(start) << 32,
            Owner::Raw(v) => v,
        }
    }
}

/// A setting: small and valid (the first variant, so that inputs the
/// fuzzer has not filled in yet are valid), or any value.
#[derive(Debug, Clone, Copy, Arbitrary)]
enum Small<T> {
    Valid(u8),
    Raw(T),
}

#[derive(Debug, Arbitrary)]
struct RingFields {
    /// 64 B to 512 B.
    slot_size: u8,
    /// 2 to 64 slots.
    slot_count: u8,
    /// Up to 64 KiB.
    max_message_size: u16,
    /// The publisher's head: small, or any.
    head: Small<u64>,
    /// Odd while the publisher changes the join point.
    seq_guard: Near,
    next_seq: Near,
    publisher: Owner,
    publisher_epoch: u32,
    /// Records written at the head and after it.
    records: Vec<Record>,
    /// What the other slot bytes are filled with (repeated).
    fill: Vec<u8>,
    /// Header fields made wrong, after the rest is written.
    faults: Vec<RingFault>,
}

#[derive(Debug, Arbitrary)]
enum RingFault {
    Magic(u64),
    Version(u32),
    Flavour(u32),
    HeaderSize(u32),
    SlotSize(u32),
    SlotCount(u32),
    Lanes(u32),
    MaxMessageSize(u64),
    SegmentSize(u64),
    Ready(u32),
    /// Added to the file length (cut to 0..=256 KiB).
    Length(i16),
    /// Any 64-bit word of the header (offset `8 * (n % 80)`).
    Word(u8, u64),
}

#[derive(Debug, Arbitrary)]
struct Record {
    /// Slots after the previous record's start (0: over it).
    skip: u8,
    /// 1 to 6 are the record kinds (message, padding, first, middle,
    /// last, hello); others are garbage.
    kind: u8,
    /// Stamped for its position, or for another.
    stamp: Option<u32>,
    len: Small<u32>,
    total: Small<u64>,
    byte: u8,
}

#[derive(Debug, Arbitrary)]
struct TableFields {
    /// Entries: 1 to 8.
    count: u8,
    /// 0 lossless, 1 lossy, others garbage.
    lossy: Small<u32>,
    /// Below the slot count, or any.
    history: Small<u32>,
    /// Mostly none.
    lag_limit_ms: Option<u32>,
    mark_guard: Near,
    mark: Near,
    resume_pos: Near,
    resume_seq: Near,
    entries: Vec<Entry>,
    faults: Vec<TableFault>,
}

#[derive(Debug, Arbitrary)]
enum TableFault {
    Magic(u64),
    Version(u32),
    Count(u32),
    EntrySize(u32),
    HeaderSize(u32),
    SegmentSize(u64),
    Ready(u32),
    Length(i16),
}

#[derive(Debug, Arbitrary)]
struct Entry {
    owner: Owner,
    epoch: u32,
    tail: Near,
    next_seq: Near,
    cut: u32,
}

/// Either file as raw bytes instead (rarely: the last variants).
#[derive(Debug, Arbitrary)]
enum Raw {
    Neither,
    Ring(Vec<u8>),
    Table(Vec<u8>),
}

#[derive(Debug, Arbitrary)]
struct Input {
    ring: RingFields,
    table: TableFields,
    ops: Vec<u8>,
    raw: Raw,
}

const SHMQRING: u64 = u64::from_le_bytes(*b"SHMQRING");
const SHMQTOPC: u64 = u64::from_le_bytes(*b"SHMQTOPC");
const REDY: u32 = u32::from_le_bytes(*b"REDY");
const LAYOUT_VERSION: u32 = 4;
const FLAVOUR_TOPIC: u32 = 2;
/// `Meta` and `ReceiverLine`, then one lane header.
const RING_HEADER: usize = 256 + 384;
const MAX_FILE: usize = 256 << 10;

fn put(image: &mut [u8], at: usize, bytes: &[u8]) {
    if let Some(dst) = image.get_mut(at..at + bytes.len()) {
        dst.copy_from_slice(bytes);
    }
}

fn resize(image: &mut Vec<u8>, delta: i16) {
    let len = (image.len() as i64 + i64::from(delta)).clamp(0, MAX_FILE as i64);
    image.resize(len as usize, 0);
}

/// The ring segment, its head and its slot count.
fn build_ring(f: &RingFields) -> (Vec<u8>, u64, usize) {
    let slot_size = 64 * (1 + usize::from(f.slot_size % 8));
    let slot_count = 2 << (f.slot_count % 6);
    let right = RING_HEADER + slot_size * slot_count;
    let mut image = vec![0u8; right];
    if !f.fill.is_empty() {
        for (d, s) in image[RING_HEADER..].iter_mut().zip(f.fill.iter().cycle()) {
            *d = *s;
        }
    }
    // Meta: magic u64 @0, version u32 @8, flavour u32 @12, header_size
    // u32 @16, slot_size u32 @20, slot_count u32 @24, lanes u32 @28,
    // max_message_size u64 @32, segment_size u64 @40, ready u32 @48.
    put(&mut image, 0, &SHMQRING.to_le_bytes());
    put(&mut image, 8, &LAYOUT_VERSION.to_le_bytes());
    put(&mut image, 12, &FLAVOUR_TOPIC.to_le_bytes());
    put(&mut image, 16, &(RING_HEADER as u32).to_le_bytes());
    put(&mut image, 20, &(slot_size as u32).to_le_bytes());
    put(&mut image, 24, &(slot_count as u32).to_le_bytes());
    put(&mut image, 28, &1u32.to_le_bytes());
    put(&mut image, 32, &u64::from(f.max_message_size).to_le_bytes());
    put(&mut image, 40, &(right as u64).to_le_bytes());
    put(&mut image, 48, &REDY.to_le_bytes());
    // Lane 0: the producer line (head, seq_guard @40, next_seq @48) and
    // the owner word of the publishing end (@256 + 8).
    let head = match f.head {
        Small::Valid(n) => u64::from(n),
        Small::Raw(v) => v,
    };
    let lane = 256;
    put(&mut image, lane, &head.to_le_bytes());
    put(&mut image, lane + 40, &f.seq_guard.get(0).to_le_bytes());
    put(&mut image, lane + 48, &f.next_seq.get(head).to_le_bytes());
    put(&mut image, lane + 264, &f.publisher.get().to_le_bytes());
    put(&mut image, lane + 272, &f.publisher_epoch.to_le_bytes());
    // Records from the head on: len u32 @0, commit u32 @4, total u64 @8,
    // then the payload.
    let mut position = head;
    for r in f.records.iter().take(64) {
        position = position.wrapping_add(u64::from(r.skip % 8));
        let at = RING_HEADER + (position as usize & (slot_count - 1)) * slot_size;
        let len = match r.len {
            Small::Valid(n) => u32::from(n),
            Small::Raw(v) => v,
        };
        let total = match r.total {
            Small::Valid(n) => u64::from(len) + u64::from(n % 4) * u64::from(n),
            Small::Raw(v) => v,
        };
        let commit = r
            .stamp
            .unwrap_or(u32::from(r.kind) | (position as u32) << 8);
        put(&mut image, at, &len.to_le_bytes());
        put(&mut image, at + 4, &commit.to_le_bytes());
        put(&mut image, at + 8, &total.to_le_bytes());
        let end = (at + 16).saturating_add(len as usize).min(image.len());
        if let Some(dst) = image.get_mut(at + 16..end) {
            dst.fill(r.byte);
        }
    }
    for fault in f.faults.iter().take(4) {
        match *fault {
            RingFault::Magic(v) => put(&mut image, 0, &v.to_le_bytes()),
            RingFault::Version(v) => put(&mut image, 8, &v.to_le_bytes()),
            RingFault::Flavour(v) => put(&mut image, 12, &v.to_le_bytes()),
            RingFault::HeaderSize(v) => put(&mut image, 16, &v.to_le_bytes()),
            RingFault::SlotSize(v) => put(&mut image, 20, &v.to_le_bytes()),
            RingFault::SlotCount(v) => put(&mut image, 24, &v.to_le_bytes()),
            RingFault::Lanes(v) => put(&mut image, 28, &v.to_le_bytes()),
            RingFault::MaxMessageSize(v) => put(&mut image, 32, &v.to_le_bytes()),
            RingFault::SegmentSize(v) => put(&mut image, 40, &v.to_le_bytes()),
            RingFault::Ready(v) => put(&mut image, 48, &v.to_le_bytes()),
            RingFault::Length(d) => resize(&mut image, d),
            RingFault::Word(n, v) => put(&mut image, 8 * usize::from(n % 80), &v.to_le_bytes()),
        }
    }
    (image, head, slot_count)
}

fn build_table(f: &TableFields, head: u64, slots: usize) -> Vec<u8> {
    let count = u32::from(f.count % 8) + 1;
    let right = 256 + count as usize * 128;
    let mut image = vec![0u8; right];
    // TableMeta: magic u64 @0, version u32 @8, count u32 @12, entry_size
    // u32 @16, header_size u32 @20, segment_size u64 @24, ready u32 @48.
    put(&mut image, 0, &SHMQTOPC.to_le_bytes());
    put(&mut image, 8, &1u32.to_le_bytes());
    put(&mut image, 12, &count.to_le_bytes());
    put(&mut image, 16, &128u32.to_le_bytes());
    put(&mut image, 20, &256u32.to_le_bytes());
    put(&mut image, 24, &(right as u64).to_le_bytes());
    put(&mut image, 48, &REDY.to_le_bytes());
    // The control line at 128: lossy u32 @0, history u32 @4, lag limit
    // u32 @8, mark_guard u64 @24, mark @32, resume_pos @40, resume_seq @48.
    let control = 128;
    let lossy = match f.lossy {
        Small::Valid(n) => u32::from(n % 2),
        Small::Raw(v) => v,
    };
    put(&mut image, control, &lossy.to_le_bytes());
    let history = match f.history {
        Small::Valid(n) => u32::from(n) % slots as u32,
        Small::Raw(v) => v,
    };
    put(&mut image, control + 4, &history.to_le_bytes());
    put(
        &mut image,
        control + 8,
        &f.lag_limit_ms.unwrap_or(0).to_le_bytes(),
    );
    put(&mut image, control + 24, &f.mark_guard.get(0).to_le_bytes());
    let mark = f.mark.get(head);
    put(&mut image, control + 32, &mark.to_le_bytes());
    put(
        &mut image,
        control + 40,
        &f.resume_pos.get(mark).to_le_bytes(),
    );
    put(&mut image, control + 48, &f.resume_seq.get(0).to_le_bytes());
    // Entries at 256, 128 bytes each: owner token u64 @0, epoch u32 @8,
    // tail u64 @16, next_seq @24, cut u32 @56.
    for (i, e) in f.entries.iter().take(count as usize).enumerate() {
        let at = 256 + 128 * i;
        put(&mut image, at, &e.owner.get().to_le_bytes());
        put(&mut image, at + 8, &e.epoch.to_le_bytes());
        put(&mut image, at + 16, &e.tail.get(head).to_le_bytes());
        put(&mut image, at + 24, &e.next_seq.get(0).to_le_bytes());
        put(&mut image, at + 56, &e.cut.to_le_bytes());
    }
    for fault in f.faults.iter().take(4) {
        match *fault {
            TableFault::Magic(v) => put(&mut image, 0, &v.to_le_bytes()),
            TableFault::Version(v) => put(&mut image, 8, &v.to_le_bytes()),
            TableFault::Count(v) => put(&mut image, 12, &v.to_le_bytes()),
            TableFault::EntrySize(v) => put(&mut image, 16, &v.to_le_bytes()),
            TableFault::HeaderSize(v) => put(&mut image, 20, &v.to_le_bytes()),
            TableFault::SegmentSize(v) => put(&mut image, 24, &v.to_le_bytes()),
            TableFault::Ready(v) => put(&mut image, 48, &v.to_le_bytes()),
            TableFault::Length(d) => resize(&mut image, d),
        }
    }
    image
}

fuzz_target!(|input: Input| {
    let (mut ring, head, slots) = build_ring(&input.ring);
    let mut table = build_table(&input.table, head, slots);
    match &input.raw {
        Raw::Neither => {}
        Raw::Ring(bytes) => ring = bytes[..bytes.len().min(MAX_FILE)].to_vec(),
        Raw::Table(bytes) => table = bytes[..bytes.len().min(MAX_FILE)].to_vec(),
    }
    let ops = &input.ops[..input.ops.len().min(64)];
    let result = shmq::fuzz::topic_files(&ring, &table, ops);
    // What each input reached, when replaying a corpus (`-runs=0`).
    if std::env::var_os("TOPIC_STATS").is_some() {
        eprintln!("STAT {result:?}");
    }
    // Formatting the error must not panic either.
    if let Err(e) = result {
        let _ = format!("{e} {e:?}");
    }
});
