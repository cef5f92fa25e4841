//! Every pair of send and receive calls, at 64 B, 1 KiB and 64 KiB: which
//! call to use.
//!
//! Pairs, each producing and consuming the message in full:
//!
//! | bench id | sender | receiver |
//! | --- | --- | --- |
//! | `send+recv` | `send` from a buffer | `recv`: a new `Vec` per message |
//! | `send+recv_into` | `send` | `recv_into` a reused `Vec` |
//! | `send+recv_with` | `send` | `recv_with`: read in place |
//! | `reserve+recv_with` | `reserve`, fill in place, `commit` | `recv_with` |
//! | `try_send+try_recv_with` | `try_send`, retried while `Full` | `try_recv_with`, retried while `Empty` |
//! | `send_timeout+recv_with_timeout` | `send_timeout` (1 s) | `recv_with_timeout` (1 s) |
//! | `send+recv_batch` | `send` | `recv_batch`: every waiting message, then `release` |
//! | `send_pod+recv_pod` | `send_pod` of a `[u64; N]` | `recv_pod` (64 B and 1 KiB only) |
//!
//! "Fill" writes every byte (a `fill` plus the sequence number); "read"
//! XORs every 8-byte word (`common::consume`), so every pair does the same
//! application work and they differ only in what the API makes them pay:
//! copies, allocations, clock reads, batching. The receiver checks every
//! sequence number.
//!
//! Two groups, criterion's time per iteration being the time per message:
//!
//! - `calls_one_thread`: sender and receiver on one thread, in chunks of up
//!   to 16 messages (sent, then received; 6 at 64 KiB, which is what the
//!   ring holds), so no cache line moves between cores: the work each call
//!   does. Steady from run to run, and what tells the calls apart.
//! - `calls_two_threads`: a one-way stream to a persistent receiver thread
//!   (`common::Stream`), timed from the first send of a batch until the
//!   receiver has confirmed it read the whole batch. Adds the cross-core
//!   transfers; on a 2-vCPU VM it moves by 2x or more with the placement
//!   of the vCPUs, between benches a few seconds apart, so compare pairs
//!   within one group of one run only, and trust the one-thread group for
//!   small differences.
//!
//! `WaitStrategy::Spin` on both ends (the hot path: no futex sleeps; the
//! `wait_cost` bench covers sleeping). One ring shape for all: 4096 slots
//! of 128 bytes (512 KiB); a 64-byte message and its 16-byte header take
//! one slot, 1 KiB nine, 64 KiB 513. Threads are not pinned.
//!
//! `cargo bench --bench calls -- --quick` for a short run; a filter such
//! as `cargo bench --bench calls -- one_thread` selects a group.

#![allow(
    missing_docs,
    reason = "criterion_group! generates an undocumented pub fn"
)]

mod common;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use criterion::{
    BenchmarkGroup, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main,
    measurement::WallTime,
};
use shmq::bytemuck::{self, Pod};
use shmq::{QueueBuilder, Receiver, RecvError, Sender, TryRecvError, TrySendError, WaitStrategy};

use common::{Stream, consume, stamp};

const SIZES: [usize; 3] = [64, 1 << 10, 64 << 10];

/// Generous bound for the `*_timeout` calls: they never expire here, the
/// point is the cost of a deadline (a clock read per call).
const TIMEOUT: Duration = Duration::from_secs(1);

/// Messages `common::Stream` sends (untimed, a fraction of the ring each)
/// before the first timed run, to fault the ring in.
const PREFAULT_MESSAGES: u64 = 16;

fn ring() -> QueueBuilder {
    QueueBuilder::in_process().slot_size(128).slots(4096)
}

/// Writes the whole message for sequence number `seq`.
#[inline]
fn produce(buf: &mut [u8], seq: u64) {
    buf.fill(seq as u8);
    stamp(buf, seq);
}

/// Runs one pair of calls in one context. `make_recv` makes the receiving
/// closure, which must take one message, read it whole and return its
/// sequence number; `send` produces and sends message `seq`.
trait Context {
    fn pair<M, R, S>(&mut self, name: &str, len: usize, make_recv: M, send: S)
    where
        M: Fn() -> R,
        R: FnMut(&mut Receiver) -> u64 + Send + 'static,
        S: FnMut(&mut Sender, u64);
}

/// Sender and receiver on the bench thread.
struct OneThread<'g, 'c> {
    group: &'g mut BenchmarkGroup<'c, WallTime>,
}

impl Context for OneThread<'_, '_> {
    fn pair<M, R, S>(&mut self, name: &str, len: usize, make_recv: M, mut send: S)
    where
        M: Fn() -> R,
        R: FnMut(&mut Receiver) -> u64 + Send + 'static,
        S: FnMut(&mut Sender, u64),
    {
        let queue = ring().wait_strategy(WaitStrategy::Spin).create().unwrap();
        let (mut tx, mut rx) = (queue.sender().unwrap(), queue.receiver().unwrap());
        let mut recv = make_recv();
        // Records of this size the ring holds from any position (see the
        // `sizing` bench), so that a chunk of blocking sends never waits.
        let record = (16 + len).div_ceil(128);
        let chunk = (4096 / record - 1).min(16) as u64;
        let mut seq = 0u64;
        let mut run = |iters: u64| {
            let start = Instant::now();
            let mut left = iters;
            while left > 0 {
                let n = left.min(chunk);
                for i in 0..n {
                    send(&mut tx, seq + i);
                }
                for i in 0..n {
                    assert_eq!(recv(&mut rx), seq + i, "message out of order");
                }
                seq += n;
                left -= n;
            }
            start.elapsed()
        };
        // Two laps of the ring, untimed: no page fault is measured.
        run(2 * (4096 / record) as u64);
        self.group.bench_function(BenchmarkId::new(name, len), |b| {
            b.iter_custom(&mut run);
        });
    }
}

/// A stream from the bench thread to a receiver thread.
struct TwoThreads<'g, 'c> {
    group: &'g mut BenchmarkGroup<'c, WallTime>,
}

impl Context for TwoThreads<'_, '_> {
    fn pair<M, R, S>(&mut self, name: &str, len: usize, make_recv: M, mut send: S)
    where
        M: Fn() -> R,
        R: FnMut(&mut Receiver) -> u64 + Send + 'static,
        S: FnMut(&mut Sender, u64),
    {
        let mut stream = Stream::new(ring(), make_recv());
        self.group.bench_function(BenchmarkId::new(name, len), |b| {
            b.iter_custom(|iters| stream.run(iters, &mut send));
        });
    }
}

/// `send_pod` and `recv_pod` of `N` u64 words (`8 * N` bytes).
fn pod_pair<const N: usize>(ctx: &mut impl Context)
where
    [u64; N]: Pod,
{
    let mut value = [0u64; N];
    ctx.pair(
        "send_pod+recv_pod",
        8 * N,
        || {
            // Messages received so far: the first `PREFAULT_MESSAGES` of a
            // stream are its untimed warm-up, of another size, which
            // `recv_pod` rejects.
            let mut received = 0u64;
            move |rx: &mut Receiver| {
                let seq = match rx.recv_pod::<[u64; N]>() {
                    Ok(got) => consume(bytemuck::bytes_of(&got)),
                    Err(RecvError::WrongSize { .. }) if received < PREFAULT_MESSAGES => received,
                    Err(e) => panic!("recv_pod: {e}"),
                };
                received += 1;
                seq
            }
        },
        move |tx, seq| {
            produce(bytemuck::bytes_of_mut(&mut value), seq);
            tx.send_pod(&value).expect("send_pod");
        },
    );
}

/// Every pair at `len` bytes.
fn pairs(ctx: &mut impl Context, len: usize) {
    let mut msg = vec![0u8; len];
    let mut send = move |tx: &mut Sender, seq| {
        produce(&mut msg, seq);
        tx.send(&msg).expect("send");
    };

    ctx.pair(
        "send+recv",
        len,
        || |rx: &mut Receiver| consume(&rx.recv().expect("recv")),
        &mut send,
    );

    ctx.pair(
        "send+recv_into",
        len,
        || {
            let mut buf = Vec::with_capacity(len);
            move |rx: &mut Receiver| {
                rx.recv_into(&mut buf).expect("recv_into");
                consume(&buf)
            }
        },
        &mut send,
    );

    ctx.pair(
        "send+recv_with",
        len,
        || |rx: &mut Receiver| rx.recv_with(consume).expect("recv_with"),
        &mut send,
    );

    ctx.pair(
        "reserve+recv_with",
        len,
        || |rx: &mut Receiver| rx.recv_with(consume).expect("recv_with"),
        |tx, seq| {
            let mut slot = tx.reserve(len).expect("reserve");
            produce(&mut slot, seq);
            slot.commit();
        },
    );

    let mut msg = vec![0u8; len];
    ctx.pair(
        "try_send+try_recv_with",
        len,
        || {
            |rx: &mut Receiver| loop {
                match rx.try_recv_with(consume) {
                    Ok(seq) => break seq,
                    Err(TryRecvError::Empty) => std::hint::spin_loop(),
                    Err(e) => panic!("try_recv_with: {e}"),
                }
            }
        },
        |tx, seq| {
            produce(&mut msg, seq);
            loop {
                match tx.try_send(&msg) {
                    Ok(()) => break,
                    Err(TrySendError::Full) => std::hint::spin_loop(),
                    Err(e) => panic!("try_send: {e}"),
                }
            }
        },
    );

    ctx.pair(
        "send_timeout+recv_with_timeout",
        len,
        || {
            |rx: &mut Receiver| {
                rx.recv_with_timeout(TIMEOUT, consume)
                    .expect("recv_with_timeout")
            }
        },
        |tx, seq| {
            produce(&mut msg, seq);
            tx.send_timeout(&msg, TIMEOUT).expect("send_timeout");
        },
    );

    ctx.pair(
        "send+recv_batch",
        len,
        || {
            // A batch holds every message waiting when it starts; the
            // caller asks for one sequence number at a time, so the numbers
            // of a released batch wait here until it has taken them.
            let mut pending = VecDeque::new();
            move |rx: &mut Receiver| {
                if pending.is_empty() {
                    let mut batch = rx.recv_batch().expect("recv_batch");
                    while let Some(bytes) = batch.next() {
                        pending.push_back(consume(bytes));
                    }
                    batch.release();
                }
                pending.pop_front().expect("a batch holds a message")
            }
        },
        &mut send,
    );

    match len {
        64 => pod_pair::<8>(ctx),
        1024 => pod_pair::<128>(ctx),
        _ => {}
    }
}

fn calls(c: &mut Criterion) {
    let mut group = c.benchmark_group("calls_one_thread");
    for len in SIZES {
        group.throughput(Throughput::Bytes(len as u64));
        pairs(&mut OneThread { group: &mut group }, len);
    }
    group.finish();

    let mut group = c.benchmark_group("calls_two_threads");
    for len in SIZES {
        group.throughput(Throughput::Bytes(len as u64));
        pairs(&mut TwoThreads { group: &mut group }, len);
    }
    group.finish();
}

criterion_group!(benches, calls);
criterion_main!(benches);
