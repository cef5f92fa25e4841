//! The per-message cost of the non-blocking calls, in one thread.
//!
//! What it measures: one `try_send` of a 64-byte message followed by one
//! receive of it, on the same thread, so the ring's cache lines never move
//! between cores. This is the floor of the library's own work per message:
//! index checks, the record header, the payload copy in, the Release/Acquire
//! publication, the copy out, and the tail update (the check for a sleeping
//! peer included; nobody ever sleeps here).
//!
//! Two variants, one message per iteration (`Throughput::Elements(1)`):
//!
//! - `try_send+try_recv_with`: the receiver copies the 64 bytes from the
//!   ring into a stack array; nothing is allocated.
//! - `try_send+try_recv`: the receiver takes an owned `Vec` (one allocation
//!   and one free per message), for comparison.
//!
//! Timed with criterion's plain `iter`. The queue has 4096 slots of 128
//! bytes (a 64-byte message and its 16-byte record header fit one slot), so
//! a padding record is written once every 4096 messages, as in a long
//! stream. `try_*` calls never wait, so the wait strategy (set to
//! `WaitStrategy::Spin`) plays no part.

#![allow(
    missing_docs,
    reason = "criterion_group! generates an undocumented pub fn"
)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use shmq::{QueueBuilder, WaitStrategy};

const LEN: usize = 64;

fn fast_path(c: &mut Criterion) {
    let queue = QueueBuilder::in_process()
        .slot_size(128)
        .slots(4096)
        .wait_strategy(WaitStrategy::Spin)
        .create()
        .expect("queue");
    let (mut tx, mut rx) = (queue.sender().unwrap(), queue.receiver().unwrap());
    let mut group = c.benchmark_group("fast_path");
    group.throughput(Throughput::Elements(1));

    let mut msg = [0x5au8; LEN];
    let mut seq = 0u64;
    group.bench_function("try_send+try_recv_with/64", |b| {
        b.iter(|| {
            msg[..8].copy_from_slice(&seq.to_le_bytes());
            tx.try_send(&msg).expect("try_send");
            let mut out = [0u8; LEN];
            rx.try_recv_with(|bytes| out.copy_from_slice(bytes))
                .expect("try_recv_with");
            assert_eq!(black_box(out)[..8], seq.to_le_bytes());
            seq += 1;
        });
    });
    group.bench_function("try_send+try_recv/64", |b| {
        b.iter(|| {
            msg[..8].copy_from_slice(&seq.to_le_bytes());
            tx.try_send(&msg).expect("try_send");
            let out = rx.try_recv().expect("try_recv");
            assert_eq!(black_box(&out)[..8], seq.to_le_bytes());
            seq += 1;
        });
    });
    group.finish();
}

criterion_group!(benches, fast_path);
criterion_main!(benches);
