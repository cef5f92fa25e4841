//! Does a cache-line ping-pong's round trip depend on where its line is?
//!
//! The experiment behind `floor`'s ring of lines (`src/floor.rs`): two
//! threads pinned to the first two allowed CPUs (as `shmq bench` pins its
//! two processes) play ping-pong at eight places in memory, each its own
//! heap allocation, in interleaved blocks of 500 round trips, 200 blocks
//! each. With `--lines 1` every message of a place uses the same line per
//! direction (the old floor); with `--lines 64` each message moves to the
//! next of 64 lines (the floor now). It prints each place's median of the
//! blocks' p50s, in nanoseconds.
//!
//! ```sh
//! cargo run --release -p shmq-bench --example floor_addresses -- --lines 1
//! cargo run --release -p shmq-bench --example floor_addresses -- --lines 64
//! ```
//!
//! On the 2-vCPU KVM guest of 2026-12-03 (slow placement), three runs each,
//! the range over the eight places: one line 307-335, 309-378 and 323-343
//! ns; 64 lines 294-316, 327-330 and 327-328 ns.

// The library routes its atomics through a loom facade (clippy.toml bans
// std's elsewhere); this experiment is not modelled under loom.
#![allow(clippy::disallowed_types)]

use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::{Acquire, Release};
use std::time::Instant;

use rustix::thread::{CpuSet, sched_getaffinity, sched_setaffinity};

/// Places in memory, each a ping-pong of its own.
const PLACES: usize = 8;
/// Lines per direction, at most.
const MAX_LINES: usize = 64;
/// Round trips per block (after 50 untimed).
const TRIPS: usize = 500;
/// Blocks per place.
const BLOCKS: usize = 200;
/// What the peer thread is told when there is no more work.
const DONE: u64 = u64::MAX;
/// What it is told while it waits for the next block.
const IDLE: u64 = u64::MAX - 1;

/// One 128-byte line: the sequence word and the rest of the message.
#[repr(C, align(128))]
struct Line {
    seq: AtomicU64,
    _rest: [u64; 15],
}

/// One place: a ring of lines per direction.
struct Place {
    ping: [Line; MAX_LINES],
    pong: [Line; MAX_LINES],
}

fn place() -> Box<Place> {
    let line = || Line {
        seq: AtomicU64::new(0),
        _rest: [0; 15],
    };
    Box::new(Place {
        ping: std::array::from_fn(|_| line()),
        pong: std::array::from_fn(|_| line()),
    })
}

fn pin(cpu: usize) {
    let mut set = CpuSet::new();
    set.set(cpu);
    if let Err(e) = sched_setaffinity(None, &set) {
        eprintln!("floor_addresses: cannot pin to CPU {cpu}: {e}");
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let lines = match (args.next().as_deref(), args.next()) {
        (Some("--lines"), Some(n)) => n.parse::<usize>().ok(),
        (None, _) => Some(1),
        _ => None,
    };
    let Some(lines) = lines.filter(|n| (1..=MAX_LINES).contains(n)) else {
        eprintln!("usage: floor_addresses [--lines 1..={MAX_LINES}]");
        std::process::exit(2);
    };
    let allowed = sched_getaffinity(None).expect("sched_getaffinity");
    let cpus: Vec<usize> = (0..CpuSet::MAX_CPU)
        .filter(|&c| allowed.is_set(c))
        .take(2)
        .collect();
    if cpus.len() < 2 {
        eprintln!("floor_addresses: needs two CPUs");
        std::process::exit(2);
    }
    let places: Vec<Box<Place>> = (0..PLACES).map(|_| place()).collect();
    // Which place the peer serves next (IDLE between blocks).
    let turn = AtomicU64::new(IDLE);
    let mut p50s: Vec<Vec<u128>> = (0..PLACES).map(|_| Vec::with_capacity(BLOCKS)).collect();
    std::thread::scope(|s| {
        let (places, turn, peer_cpu) = (&places, &turn, cpus[1]);
        s.spawn(move || {
            pin(peer_cpu);
            let mut seq = [0u64; PLACES];
            loop {
                let k = match turn.load(Acquire) {
                    DONE => return,
                    IDLE => {
                        std::hint::spin_loop();
                        continue;
                    }
                    k => k as usize,
                };
                let place = &places[k];
                for _ in 0..TRIPS + 50 {
                    seq[k] += 1;
                    let j = seq[k] as usize % lines;
                    while place.ping[j].seq.load(Acquire) != seq[k] {
                        std::hint::spin_loop();
                    }
                    place.pong[j].seq.store(seq[k], Release);
                }
                turn.store(IDLE, Release);
            }
        });
        pin(cpus[0]);
        let mut seq = [0u64; PLACES];
        let mut times = Vec::with_capacity(TRIPS);
        for _ in 0..BLOCKS {
            for (k, place) in places.iter().enumerate() {
                turn.store(k as u64, Release);
                times.clear();
                for trip in 0..TRIPS + 50 {
                    let start = Instant::now();
                    seq[k] += 1;
                    let j = seq[k] as usize % lines;
                    place.ping[j].seq.store(seq[k], Release);
                    while place.pong[j].seq.load(Acquire) != seq[k] {
                        std::hint::spin_loop();
                    }
                    if trip >= 50 {
                        times.push(start.elapsed().as_nanos());
                    }
                }
                while turn.load(Acquire) != IDLE {
                    std::hint::spin_loop();
                }
                times.sort_unstable();
                p50s[k].push(times[times.len() / 2]);
            }
        }
        turn.store(DONE, Release);
    });
    let medians: Vec<String> = p50s
        .iter_mut()
        .map(|blocks| {
            blocks.sort_unstable();
            blocks[blocks.len() / 2].to_string()
        })
        .collect();
    println!(
        "{lines} line(s) per direction, p50 per place (ns): {}",
        medians.join(" ")
    );
}
