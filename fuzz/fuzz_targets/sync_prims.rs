//! A semaphore or barrier segment (`src/table.rs`), raw or written field
//! by field (magic of each kind, version, count, entry size, header and
//! segment sizes, ready marker, file length, control words, and entries
//! that are free, garbage tokens, or tokens with this process's pid),
//! opened as the library opens a file and then operated on (acquire,
//! release, join, timed and non-blocking waits, the snapshots), with the
//! holders' and members' processes looked at on every operation.
//! `semaphore_image` and `barrier_image` must never panic, misbehave or
//! wait: every wait has a zero timeout.

#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
enum Magic {
    Semaphore,
    Barrier,
    Queue,
    Raw(u64),
}

#[derive(Debug, Arbitrary)]
enum Word {
    Free,
    /// This process's pid, with some start time (alive only if it is ours).
    OwnPid(u32),
    Raw(u64),
}

#[derive(Debug, Arbitrary)]
struct Fields {
    magic: Magic,
    version: Option<u32>,
    /// The entry count: small, or any.
    count: u8,
    raw_count: Option<u32>,
    entry_size: Option<u32>,
    header_size: Option<u32>,
    segment_size: Option<u64>,
    ready: Option<u32>,
    /// Added to the right file length (cut to 0..=64 KiB).
    length_delta: i16,
    control: [u64; 4],
    entries: Vec<Word>,
}

#[derive(Debug, Arbitrary)]
enum Image {
    Raw(Vec<u8>),
    Fields(Fields),
}

#[derive(Debug, Arbitrary)]
struct Input {
    barrier: bool,
    image: Image,
    ops: Vec<u8>,
}

fn build(fields: &Fields, barrier: bool) -> Vec<u8> {
    let entry_size: usize = if barrier { 16 } else { 8 };
    let count = fields.raw_count.unwrap_or(u32::from(fields.count));
    let entries = (count as usize).min(4096) * entry_size;
    let right = 256 + entries.div_ceil(128) * 128;
    let len = (right as i64 + i64::from(fields.length_delta)).clamp(0, 64 << 10) as usize;
    let mut image = vec![0u8; len.max(256)];
    let magic = match fields.magic {
        Magic::Semaphore => u64::from_le_bytes(*b"SHMQSEMA"),
        Magic::Barrier => u64::from_le_bytes(*b"SHMQBARR"),
        Magic::Queue => u64::from_le_bytes(*b"SHMQRING"),
        Magic::Raw(m) => m,
    };
    let mut put = |at: usize, bytes: &[u8]| image[at..at + bytes.len()].copy_from_slice(bytes);
    put(0, &magic.to_le_bytes());
    put(8, &fields.version.unwrap_or(1).to_le_bytes());
    put(12, &count.to_le_bytes());
    put(16, &fields.entry_size.unwrap_or(entry_size as u32).to_le_bytes());
    put(20, &fields.header_size.unwrap_or(256).to_le_bytes());
    put(24, &fields.segment_size.unwrap_or(right as u64).to_le_bytes());
    put(48, &fields.ready.unwrap_or(u32::from_le_bytes(*b"REDY")).to_le_bytes());
    for (i, word) in fields.control.iter().enumerate() {
        put(128 + 8 * i, &word.to_le_bytes());
    }
    let pid = u64::from(std::process::id());
    for (i, word) in fields.entries.iter().take(512).enumerate() {
        let at = 256 + 8 * i;
        if at + 8 > image.len() {
            break;
        }
        let value = match word {
            Word::Free => 0,
            Word::OwnPid(start) => pid | u64::from(*start) << 32,
            Word::Raw(v) => *v,
        };
        image[at..at + 8].copy_from_slice(&value.to_le_bytes());
    }
    image.truncate(len);
    image
}

fuzz_target!(|input: Input| {
    let image = match &input.image {
        Image::Raw(bytes) => bytes.clone(),
        Image::Fields(fields) => build(fields, input.barrier),
    };
    let ops = &input.ops[..input.ops.len().min(256)];
    let result = if input.barrier {
        shmq::fuzz::barrier_image(&image, ops)
    } else {
        shmq::fuzz::semaphore_image(&image, ops)
    };
    // Formatting the error must not panic either.
    if let Err(e) = result {
        let _ = format!("{e} {e:?}");
    }
});
