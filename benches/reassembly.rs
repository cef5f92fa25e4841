//! Messages larger than the ring: fragmentation and reassembly, two threads.
//!
//! What it measures: 4 MiB messages sent by one thread and received by
//! another.
//!
//! - `fragmented/256KiB_ring`: through a 256 KiB ring (2048 slots of 128
//!   bytes), so `send` streams each message as fragments of half the ring
//!   (~128 KiB) and the receiver appends them to its reassembly buffer
//!   (which it reuses: it grows on the first message only).
//! - `whole/16MiB_ring`: the same messages through a 16 MiB ring (131072
//!   slots of 128 bytes), where each is one contiguous record read in place:
//!   the baseline without fragmentation.
//!
//! Sender: stamps a sequence number into its 4 MiB buffer and `send`s it
//! (one copy into the ring). Receiver (a persistent thread, see
//! `common::Stream`): `recv_with`, reading every byte of the message where
//! the library hands it over (`common::consume`): the reassembly buffer for
//! fragments, the ring for a whole record. Criterion reports bandwidth
//! (`Throughput::Bytes`, one message per iteration).
//!
//! Timed with `iter_custom` from the first send of a batch until the receiver
//! has confirmed it read the whole batch. `WaitStrategy::Spin` on both ends:
//! the fragmented stream hands every fragment across, so futex sleeps would
//! dominate otherwise. Threads are not pinned; on a shared 2-vCPU machine
//! compare the two within one run only.

#![allow(
    missing_docs,
    reason = "criterion_group! generates an undocumented pub fn"
)]

mod common;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use shmq::QueueBuilder;

use common::{Stream, consume, stamp};

const LEN: usize = 4 << 20;

fn reassembly(c: &mut Criterion) {
    let mut group = c.benchmark_group("reassembly");
    group.throughput(Throughput::Bytes(LEN as u64));
    // Each iteration moves 4 MiB: fewer, longer samples.
    group.sample_size(20);
    let mut msg = vec![0x3cu8; LEN];
    for (name, ring, slots) in [
        ("fragmented", "256KiB_ring", 2048),
        ("whole", "16MiB_ring", 131072),
    ] {
        let queue = QueueBuilder::in_process()
            .slot_size(128)
            .slots(slots)
            .max_message_size(LEN as u64);
        let mut stream = Stream::new(queue, |rx| rx.recv_with(consume).expect("recv_with"));
        group.bench_function(BenchmarkId::new(name, ring), |b| {
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

criterion_group!(benches, reassembly);
criterion_main!(benches);
