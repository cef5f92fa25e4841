//! Zero-copy against copying, between two threads, for 64 B and 64 KiB.
//!
//! What it measures: the same one-way stream as `throughput`, with the
//! message produced and consumed in full on each side, through three pairs
//! of calls:
//!
//! - `reserve+recv_with` (zero-copy both ways): the sender `reserve`s the
//!   message in the ring, fills it there and `commit`s; the receiver reads
//!   it in place in `recv_with`.
//! - `send+recv_into`: the sender fills its own buffer and `send` copies it
//!   into the ring; the receiver copies it out into a reused `Vec` and reads
//!   it there.
//! - `send+recv`: as above, but the receiver gets a new `Vec` per message
//!   (one allocation and one free each).
//!
//! "Fill" writes every byte (a `fill` plus the sequence number); "read"
//! XORs every 8-byte word (`common::consume`). So the variants do the same
//! application work and differ only in the copies and allocations the
//! library's API makes them pay.
//!
//! How: a persistent receiver thread per variant (`common::Stream`), timed
//! with `iter_custom` from the first send of a batch until the receiver has
//! confirmed it read the whole batch. `WaitStrategy::Spin` on both ends
//! (hot path, no futex sleeps). 4096 slots of 128 bytes (512 KiB): a 64-byte
//! message and its 16-byte header take one slot, a 64 KiB one 513 slots.
//! Threads are not pinned; on a shared 2-vCPU machine compare variants
//! within one run only.

#![allow(
    missing_docs,
    reason = "criterion_group! generates an undocumented pub fn"
)]

mod common;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use shmq::{QueueBuilder, Receiver, Sender};

use common::{Stream, consume, stamp};

const SIZES: [usize; 2] = [64, 64 << 10];

fn ring() -> QueueBuilder {
    QueueBuilder::in_process().slot_size(128).slots(4096)
}

/// Writes the whole message for sequence number `seq`.
#[inline]
fn produce(buf: &mut [u8], seq: u64) {
    buf.fill(seq as u8);
    stamp(buf, seq);
}

fn copy_paths(c: &mut Criterion) {
    let mut group = c.benchmark_group("copy_paths");
    for len in SIZES {
        group.throughput(Throughput::Bytes(len as u64));

        let mut stream = Stream::new(ring(), |rx: &mut Receiver| {
            rx.recv_with(consume).expect("recv_with")
        });
        group.bench_function(BenchmarkId::new("reserve+recv_with", len), |b| {
            b.iter_custom(|iters| {
                stream.run(iters, |tx: &mut Sender, seq| {
                    let mut slot = tx.reserve(len).expect("reserve");
                    produce(&mut slot, seq);
                    slot.commit();
                })
            });
        });
        drop(stream);

        let mut msg = vec![0u8; len];
        let mut buf = Vec::with_capacity(len);
        let mut stream = Stream::new(ring(), move |rx: &mut Receiver| {
            rx.recv_into(&mut buf).expect("recv_into");
            consume(&buf)
        });
        group.bench_function(BenchmarkId::new("send+recv_into", len), |b| {
            b.iter_custom(|iters| {
                stream.run(iters, |tx, seq| {
                    produce(&mut msg, seq);
                    tx.send(&msg).expect("send");
                })
            });
        });
        drop(stream);

        let mut stream = Stream::new(ring(), |rx: &mut Receiver| {
            consume(&rx.recv().expect("recv"))
        });
        group.bench_function(BenchmarkId::new("send+recv", len), |b| {
            b.iter_custom(|iters| {
                stream.run(iters, |tx, seq| {
                    produce(&mut msg, seq);
                    tx.send(&msg).expect("send");
                })
            });
        });
    }
    group.finish();
}

criterion_group!(benches, copy_paths);
criterion_main!(benches);
