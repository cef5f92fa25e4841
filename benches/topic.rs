//! What publishing a 64-byte message on a topic costs, with 0, 1 and 8
//! subscribers attached, in one thread (issue 13: "publish cost with 0, 1
//! and 8 subscribers attached: within 1.2x of each other in lossy mode").
//!
//! What is timed: `Publisher::try_send` of a 64-byte message (its first 8
//! bytes a sequence number, stamped per message), and nothing else. The
//! topic is in-process (`TopicBuilder::in_process()`: the same ring and
//! subscriber table as a named topic, on the heap), the library's default
//! shape: 4096 slots of 128 bytes (a 64-byte message and its 16-byte
//! record header take one slot) and 8 subscriber entries, of which 0, 1
//! or 8 are attached. Every subscriber is attached before the first
//! publish and stays attached to the end (checked afterwards from the
//! topic's statistics). Nobody sleeps on the topic, so a publish never
//! makes a system call. Publishes are timed in chunks of 2048 (half the
//! ring), two clock reads per chunk.
//!
//! - `lossy/N`: a lossy topic. The subscribers are attached and never
//!   read: the publisher does not wait for them (it cannot: `try_send`
//!   would fail with `Full`, and the bench would stop), it overruns them
//!   (each finds out on its next read, checked afterwards: `Lagged`). This
//!   is the whole of a lossy publish: the payload stored with atomic
//!   stores, the record header and commit word, the join point (head and
//!   next message number, a seqlock) and the wake-up check; and, amortised,
//!   the mark the publisher moves an eighth of the ring ahead of itself
//!   (once every 512 messages here). The subscribers play no part in it,
//!   which is what the 0/1/8 comparison checks.
//! - `lossless/N`: a lossless topic, which must not overwrite what a
//!   subscriber has not read. After each chunk, untimed, every subscriber
//!   drains the ring on the same thread with `try_recv_with` (copying each
//!   message out and checking its sequence number). So the publisher
//!   always finds room and never waits; what is timed is the publish
//!   itself, plus, once per lap of the ring (4095 messages), the
//!   publisher's look at every attached subscriber's tail when its cached
//!   tail runs out (`Gate::tail`), the per-subscriber part of a lossless
//!   publish.
//! - `queue/1`, a reference: a plain queue of the same shape,
//!   `Sender::try_send`, its receiver drained as `lossless` drains its
//!   subscribers.
//!
//! Everything runs on the bench thread: the ring's and the table's lines
//! stay in its core's cache, so this is the publisher's own work, not
//! cache-line transfers to subscribers on other cores (those are in `shmq
//! bench`'s `shmq-topic-spin` round trip).
//!
//! **Paired, after criterion.** On the 2-vCPU VMs we use, one bench's
//! absolute time moves by 1.5-2x from one bench to the next, seconds
//! apart, with the host placement of the vCPU (the same code gave 16 and
//! 29 ns in one run), so the ratio of criterion's figures for 0, 1 and 8
//! subscribers says as much about the machine as about the topic. The
//! bench therefore ends with a paired measurement, as `shmq bench` pairs
//! its blocks: the three topics of a mode (and the queue) take turns, a
//! chunk of 2048 publishes each, in a rotating order, for 1000 rounds of
//! well under a millisecond; each round gives a time per publish for each
//! and the ratios of 1 and 8 subscribers to 0, taken microseconds apart.
//! It prints the median [q1-q3] over the rounds. Under `cargo test
//! --benches` (no `--bench` argument) it runs 3 rounds, to check that it
//! works.

#![allow(
    missing_docs,
    reason = "criterion_group! generates an undocumented pub fn"
)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use shmq::{
    Publisher, QueueBuilder, Receiver, Sender, Subscriber, Topic, TopicBuilder, TopicTryRecvError,
    TryRecvError, WaitStrategy,
};

const LEN: usize = 64;
const SLOTS: usize = 4096;
const SLOT_SIZE: usize = 128;
/// Subscriber entries of every topic (the library's default).
const ENTRIES: usize = 8;
/// Publishes timed between two clock reads (and, lossless, between two
/// drains): half the ring.
const CHUNK: u64 = SLOTS as u64 / 2;
/// Subscribers attached, per mode.
const ATTACHED: [usize; 3] = [0, 1, 8];
/// Rounds of the paired measurement...
const ROUNDS: usize = 1000;
/// ...after these, untimed.
const WARMUP_ROUNDS: usize = 20;

/// The sequence number in a message's first 8 bytes.
fn seq_of(bytes: &[u8; LEN]) -> u64 {
    u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"))
}

/// A subscriber and the sequence number of the next message it expects.
struct Reader {
    sub: Subscriber,
    next: u64,
}

impl Reader {
    /// Takes every message waiting, copying each out and checking its
    /// number.
    fn drain(&mut self) {
        loop {
            let mut out = [0u8; LEN];
            match self.sub.try_recv_with(|bytes| out.copy_from_slice(bytes)) {
                Ok(()) => {
                    assert_eq!(seq_of(black_box(&out)), self.next, "{}", self.sub.entry());
                    self.next += 1;
                }
                Err(TopicTryRecvError::Empty) => return,
                Err(e) => panic!("drain: {e}"),
            }
        }
    }
}

/// What is published on.
enum Target {
    Topic {
        topic: Topic,
        publisher: Publisher,
        readers: Vec<Reader>,
        lossy: bool,
    },
    Queue {
        tx: Sender,
        rx: Receiver,
        next: u64,
    },
}

/// One case: a topic with subscribers attached, or the queue.
struct Case {
    name: String,
    target: Target,
    msg: [u8; LEN],
    seq: u64,
}

impl Case {
    fn topic(lossy: bool, attached: usize) -> Case {
        let topic = TopicBuilder::in_process()
            .slot_size(SLOT_SIZE)
            .slots(SLOTS)
            .subscribers(ENTRIES)
            .lossy(lossy)
            .wait_strategy(WaitStrategy::Spin)
            .create()
            .expect("topic");
        let publisher = topic.publisher().expect("publisher");
        let readers = (0..attached)
            .map(|_| Reader {
                sub: topic.subscriber().expect("subscriber"),
                next: 0,
            })
            .collect();
        let mode = if lossy { "lossy" } else { "lossless" };
        Case {
            name: format!("{mode}/{attached}"),
            target: Target::Topic {
                topic,
                publisher,
                readers,
                lossy,
            },
            msg: [0x5a; LEN],
            seq: 0,
        }
    }

    fn queue() -> Case {
        let queue = QueueBuilder::in_process()
            .slot_size(SLOT_SIZE)
            .slots(SLOTS)
            .wait_strategy(WaitStrategy::Spin)
            .create()
            .expect("queue");
        Case {
            name: "queue/1".to_owned(),
            target: Target::Queue {
                tx: queue.sender().expect("sender"),
                rx: queue.receiver().expect("receiver"),
                next: 0,
            },
            msg: [0x5a; LEN],
            seq: 0,
        }
    }

    /// Times `n` publishes (at most a chunk), then, untimed, lets the
    /// readers of a lossless topic and of the queue drain the ring.
    fn chunk(&mut self, n: u64) -> Duration {
        debug_assert!(n <= CHUNK);
        let Case {
            target, msg, seq, ..
        } = self;
        let elapsed = match target {
            Target::Topic { publisher, .. } => {
                let start = Instant::now();
                for _ in 0..n {
                    msg[..8].copy_from_slice(&seq.to_le_bytes());
                    publisher
                        .try_send(&msg[..])
                        .expect("a publish that did not wait");
                    *seq += 1;
                }
                start.elapsed()
            }
            Target::Queue { tx, .. } => {
                let start = Instant::now();
                for _ in 0..n {
                    msg[..8].copy_from_slice(&seq.to_le_bytes());
                    tx.try_send(&msg[..]).expect("try_send");
                    *seq += 1;
                }
                start.elapsed()
            }
        };
        match target {
            Target::Topic {
                readers,
                lossy: false,
                ..
            } => readers.iter_mut().for_each(Reader::drain),
            Target::Topic { lossy: true, .. } => {}
            Target::Queue { rx, next, .. } => loop {
                let mut out = [0u8; LEN];
                match rx.try_recv_with(|bytes| out.copy_from_slice(bytes)) {
                    Ok(()) => {
                        assert_eq!(seq_of(black_box(&out)), *next);
                        *next += 1;
                    }
                    Err(TryRecvError::Empty) => break,
                    Err(e) => panic!("drain: {e}"),
                }
            },
        }
        elapsed
    }

    /// Times `iters` publishes, chunk by chunk.
    fn publishes(&mut self, iters: u64) -> Duration {
        let mut total = Duration::ZERO;
        let mut left = iters;
        while left > 0 {
            let n = left.min(CHUNK);
            total += self.chunk(n);
            left -= n;
        }
        total
    }

    /// Checks that the subscribers are still attached and, in a lossy
    /// topic, were overrun rather than waited for.
    fn check(&mut self) {
        let Target::Topic {
            topic,
            readers,
            lossy,
            ..
        } = &mut self.target
        else {
            return;
        };
        let stats = topic.stats();
        assert_eq!(stats.subscribers.len(), readers.len(), "still attached");
        assert_eq!(stats.published, self.seq);
        if *lossy && self.seq >= SLOTS as u64 {
            for reader in readers {
                match reader.sub.try_recv() {
                    Err(TopicTryRecvError::Lagged(n)) => reader.next += n,
                    other => panic!("an overrun subscriber got {other:?}"),
                }
                // The count was exact: the rest, from the oldest message
                // still in the ring, runs up to the last one published.
                reader.drain();
                assert_eq!(reader.next, self.seq);
            }
        }
    }
}

fn publish(c: &mut Criterion) {
    let mut group = c.benchmark_group("topic_publish");
    group.throughput(Throughput::Elements(1));
    let cases = [true, false]
        .into_iter()
        .flat_map(|lossy| ATTACHED.map(|n| Case::topic(lossy, n)))
        .chain([Case::queue()]);
    for mut case in cases {
        let (mode, attached) = case.name.split_once('/').expect("mode/attached");
        let id = BenchmarkId::new(mode.to_owned(), attached.to_owned());
        group.bench_function(id, |b| b.iter_custom(|iters| case.publishes(iters)));
        case.check();
    }
    group.finish();
}

/// Median and quartiles of `values` (sorted here).
fn quartiles(values: &mut [f64]) -> (f64, f64, f64) {
    values.sort_by(f64::total_cmp);
    let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.25), at(0.75))
}

/// The paired measurement (see the module docs): the cases of each mode
/// in turn, chunk by chunk, `rounds` rounds.
fn paired(rounds: usize) {
    println!(
        "\ntopic_publish, paired: the cases of a row take turns, a chunk of {CHUNK} publishes each \
         (rotating order), {rounds} rounds; ns per publish and ratios to 0 subscribers per \
         round, median [q1-q3] over the rounds"
    );
    for lossy in [true, false] {
        let mut cases: Vec<Case> = ATTACHED.map(|n| Case::topic(lossy, n)).into();
        cases.push(Case::queue());
        let count = cases.len();
        for round in 0..WARMUP_ROUNDS {
            for i in 0..count {
                cases[(round + i) % count].chunk(CHUNK);
            }
        }
        let mut ns = vec![Vec::with_capacity(rounds); count];
        for round in 0..rounds {
            for i in 0..count {
                let k = (round + i) % count;
                let elapsed = cases[k].chunk(CHUNK);
                ns[k].push(elapsed.as_nanos() as f64 / CHUNK as f64);
            }
        }
        let mut line = String::new();
        for (case, times) in cases.iter().zip(&ns) {
            let (m, q1, q3) = quartiles(&mut times.clone());
            line += &format!("  {}: {m:.2} [{q1:.2}-{q3:.2}] ns", case.name);
        }
        println!("{line}");
        let mut line = String::new();
        for (k, case) in cases.iter().enumerate().skip(1) {
            let mut ratios: Vec<f64> = ns[k].iter().zip(&ns[0]).map(|(a, b)| a / b).collect();
            let (m, q1, q3) = quartiles(&mut ratios);
            line += &format!(
                "  {} / {}: {m:.3} [{q1:.3}-{q3:.3}]",
                case.name, cases[0].name
            );
        }
        println!("{line}");
        for case in &mut cases {
            case.check();
        }
    }
}

criterion_group!(benches, publish);

fn main() {
    benches();
    // `cargo bench` passes `--bench`; `cargo test --benches` does not.
    let benching = std::env::args().any(|a| a == "--bench");
    paired(if benching { ROUNDS } else { 3 });
    Criterion::default().configure_from_args().final_summary();
}
