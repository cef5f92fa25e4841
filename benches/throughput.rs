//! One-way throughput between two threads of one process, per message size.
//!
//! What it measures: how fast a stream of messages of 64 B, 1 KiB, 64 KiB
//! and 1 MiB goes from one thread to another through an in-process queue
//! (`QueueBuilder::in_process()`: the same ring code as a named queue, on
//! the heap). Criterion reports bandwidth (`Throughput::Bytes`, one message
//! per iteration) and time per message.
//!
//! How: the bench thread stamps a sequence number into its message buffer
//! and `send`s it, which copies the whole payload into the ring. A
//! persistent receiver thread (`common::Stream`) takes each message with
//! `recv_into` into a reused `Vec`, so every byte is copied out of the ring
//! and nothing is allocated, and checks the sequence numbers. Timed with
//! `iter_custom`: from the first send of a batch of `iters` messages until
//! the receiver has confirmed (over a second queue) that it has all of them.
//!
//! Both ends use `WaitStrategy::Spin`: this is the hot path with both sides
//! awake, not the cost of futex sleeps. Threads are not pinned; on a 2-vCPU
//! VM the numbers move with placement (small messages by 4x or more between
//! runs minutes apart), so compare results from one run only. If another
//! process takes the cores, `common::Stream` prints a warning after the
//! result: spinning threads sharing one core measure the scheduler.
//!
//! Ring shapes: 128-byte slots (a 64-byte message and its 16-byte record
//! header fit one slot) everywhere. 4096 slots (512 KiB) for the messages up
//! to 64 KiB, which holds at least seven of them in flight; 32768 slots
//! (4 MiB) for 1 MiB messages, so three are in flight and each is one
//! contiguous record rather than fragments.

#![allow(
    missing_docs,
    reason = "criterion_group! generates an undocumented pub fn"
)]

mod common;

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use shmq::QueueBuilder;

use common::{Stream, seq_of, stamp};

/// (message size, slots of 128 bytes)
const SHAPES: [(usize, usize); 4] = [
    (64, 4096),
    (1 << 10, 4096),
    (64 << 10, 4096),
    (1 << 20, 32768),
];

fn throughput(c: &mut Criterion) {
    let mut group = c.benchmark_group("throughput");
    for (len, slots) in SHAPES {
        let queue = QueueBuilder::in_process().slot_size(128).slots(slots);
        let mut buf = Vec::with_capacity(len);
        let mut stream = Stream::new(queue, move |rx| {
            rx.recv_into(&mut buf).expect("recv_into");
            seq_of(black_box(&buf))
        });
        let mut msg = vec![0xa5u8; len];
        group.throughput(Throughput::Bytes(len as u64));
        group.bench_function(BenchmarkId::new("send+recv_into", len), |b| {
            b.iter_custom(|iters| {
                stream.run(iters, |tx, seq| {
                    stamp(&mut msg, seq);
                    tx.send(&msg).expect("send");
                })
            });
        });
    }
    group.finish();
}

criterion_group!(benches, throughput);
criterion_main!(benches);
