//! Messages of every size, from 0 bytes to three times the ring, cross
//! between two processes complete, in order and exactly once, over a matrix
//! of ring shapes.
//!
//! The sender is a separate process (`shmq-peer send-stream`); the test
//! receives and checks every byte (see `Stream` in `support/mod.rs`: each
//! message carries its sequence number, length and a 64-bit hash, and its
//! body is compared with what the sender was told to send). Two shapes run
//! the other way: the test sends and the peer checks. Sends alternate
//! between `send` and `reserve`/`commit`, receives cycle through `recv`,
//! `recv_into` and `recv_with`. The seed is printed, and `SHMQ_TEST_SEED`
//! replays a run.

mod support;

use std::time::{Duration, Instant};

use shmq::{RecvError, WaitStrategy};
use support::{
    Peer, Stream, background, create_queue, numbers, recv_one, send_one, serial, test_seed,
};

/// One ring shape, how many messages to pass through it, and how both ends
/// wait (`"default"`, `"spin"` or `"block"`, as `shmq-peer wait=` takes).
struct Shape {
    slot_size: usize,
    slots: usize,
    messages: u64,
    wait: &'static str,
}

const fn shape(slot_size: usize, slots: usize, messages: u64) -> Shape {
    Shape {
        slot_size,
        slots,
        messages,
        wait: "default",
    }
}

const fn waiting(wait: &'static str, s: Shape) -> Shape {
    Shape { wait, ..s }
}

fn strategy(wait: &str) -> WaitStrategy {
    match wait {
        "default" => WaitStrategy::default(),
        "spin" => WaitStrategy::Spin,
        "block" => WaitStrategy::Block,
        other => panic!("unknown wait {other}"),
    }
}

/// Peer sends, test receives. Small rings carry many small messages, large
/// ones fewer large messages, to bound the bytes moved. Most shapes use the
/// default wait strategy (spin briefly, then sleep); a few spin only or
/// sleep at once.
const PEER_TO_TEST: &[Shape] = &[
    shape(64, 2, 20_000),
    waiting("spin", shape(64, 8, 30_000)),
    shape(64, 64, 30_000),
    shape(64, 4096, 700),
    shape(128, 16, 50_000),
    shape(192, 32, 20_000),
    waiting("spin", shape(256, 4, 30_000)),
    shape(1024, 64, 2_000),
    waiting("block", shape(4096, 8, 3_000)),
    shape(65536, 2, 600),
    shape(65536, 16, 160),
];

/// Test sends, peer receives.
const TEST_TO_PEER: &[Shape] = &[
    shape(128, 8, 20_000),
    waiting("block", shape(4096, 16, 1_000)),
];

/// Headroom over the largest message (three times the largest capacity).
const MAX_MESSAGE: u64 = 64 << 20;

fn stream_for(seed: u64, s: &Shape) -> Stream {
    let capacity = s.slot_size * (s.slots - 1) - 16;
    Stream::new(seed, s.slot_size, s.slots, 3 * capacity)
}

fn limit() -> Duration {
    Duration::from_secs(if cfg!(debug_assertions) { 120 } else { 60 })
}

#[test]
fn matrix_meets_the_requirements() {
    // Every shape has its test.
    assert!(PEER_TO_TEST_TESTS.iter().copied().eq(0..PEER_TO_TEST.len()));
    assert!(TEST_TO_PEER_TESTS.iter().copied().eq(0..TEST_TO_PEER.len()));
    let all = || PEER_TO_TEST.iter().chain(TEST_TO_PEER);
    let messages: u64 = all().map(|s| s.messages).sum();
    assert!(
        messages >= 200_000,
        "only {messages} messages in the matrix"
    );
    for s in all() {
        let bytes = stream_for(1, s).total_bytes(s.messages);
        eprintln!(
            "{}x{}: {} messages, {} KiB",
            s.slot_size,
            s.slots,
            s.messages,
            bytes >> 10
        );
    }
    let bytes: u64 = all()
        .map(|s| stream_for(1, s).total_bytes(s.messages))
        .sum();
    eprintln!("matrix: {messages} messages, {} MiB", bytes >> 20);
    assert!(bytes < 400 << 20, "matrix moves {} MiB", bytes >> 20);
    let slots: Vec<usize> = all().map(|s| s.slots).collect();
    let sizes: Vec<usize> = all().map(|s| s.slot_size).collect();
    assert!(slots.contains(&2) && slots.contains(&4096));
    assert!(sizes.contains(&64) && sizes.contains(&65536));
    for s in all() {
        let stream = stream_for(1, s);
        // The sender keeps one slot free.
        let capacity = s.slot_size * (s.slots - 1) - 16;
        let edges = stream.edges();
        for want in [
            0,
            s.slot_size - 16,
            s.slot_size - 1,
            s.slot_size,
            s.slot_size + 1,
            capacity - 1,
            capacity,
            capacity + 1,
            3 * capacity,
        ] {
            assert!(
                edges.contains(&want),
                "shape {}x{}: no edge size {want}",
                s.slot_size,
                s.slots
            );
        }
        // Every edge size is sent at least twice.
        assert!(s.messages >= 8 * edges.len() as u64);
    }
}

/// The checker the whole file relies on rejects damaged, truncated and
/// misnumbered messages.
#[test]
fn stream_check_detects_damage() {
    let stream = Stream::new(0xABCD, 64, 8, 3 * (64 * 8 - 16));
    for seq in 0..200 {
        let msg = stream.message(seq);
        assert_eq!(stream.check(seq, &msg), Ok(()));
        if !msg.is_empty() {
            for at in [0, msg.len() / 2, msg.len() - 1] {
                let mut bad = msg.clone();
                bad[at] ^= 0x40;
                assert!(
                    stream.check(seq, &bad).is_err(),
                    "seq {seq}: flipped byte {at} passed"
                );
            }
            assert!(stream.check(seq, &msg[..msg.len() - 1]).is_err());
        }
        let mut longer = msg.clone();
        longer.push(0);
        assert!(stream.check(seq, &longer).is_err());
        if !msg.is_empty() && stream.len(seq + 1) == msg.len() {
            assert!(
                stream.check(seq + 1, &msg).is_err(),
                "seq {seq} passed as {}",
                seq + 1
            );
        }
    }
}

fn peer_to_test(index: usize) {
    let s = &PEER_TO_TEST[index];
    let _serial = serial();
    let seed = test_seed();
    eprintln!("seed {seed:#x} (replay with SHMQ_TEST_SEED={seed:#x})");
    let (temp, queue) = create_queue("xfer", s.slot_size, s.slots, MAX_MESSAGE);
    let stream = stream_for(seed, s);
    let expected_bytes = stream.total_bytes(s.messages);
    let mut rx = queue.receiver().unwrap();
    rx.set_wait_strategy(strategy(s.wait));
    let count = s.messages;
    let mut peer = Peer::spawn(&[
        "send-stream",
        &temp.name,
        &format!("wait={}", s.wait),
        &format!("seed={seed:#x}"),
        &format!("count={count}"),
        &format!("max={}", stream.max),
    ]);
    let start = Instant::now();
    let what = format!(
        "receiving {count} messages over {}x{} (seed {seed:#x})",
        s.slot_size, s.slots
    );
    let received = background(what, move || {
        let mut buf = Vec::new();
        let mut bytes = 0u64;
        for seq in 0..count {
            bytes +=
                recv_one(&mut rx, &stream, seq, &mut buf).unwrap_or_else(|e| panic!("{e}")) as u64;
        }
        // Exactly once: nothing after the last message but the disconnect.
        let end = rx.recv();
        assert_eq!(
            end,
            Err(RecvError::Disconnected),
            "seed {seed:#x}: after {count} messages"
        );
        bytes
    })
    .join_watching(limit(), &mut peer);
    let elapsed = start.elapsed();
    let out = peer.finish(Duration::from_secs(10));
    assert_eq!(received, expected_bytes, "seed {seed:#x}");
    assert_eq!(
        numbers(out.trim(), "sent"),
        [count, expected_bytes],
        "seed {seed:#x}"
    );
    let stats = queue.stats();
    assert_eq!(stats.sender.messages, count);
    assert_eq!(stats.receiver.messages, count);
    assert_eq!(stats.slots_used, 0);
    eprintln!(
        "{}x{} ({} wait): {count} messages, {:.1} MiB in {:.2?} \
         ({} sender sleeps, {} receiver sleeps)",
        s.slot_size,
        s.slots,
        s.wait,
        expected_bytes as f64 / (1 << 20) as f64,
        elapsed,
        stats.sender.sleeps,
        stats.receiver.sleeps
    );
}

fn test_to_peer(index: usize) {
    let s = &TEST_TO_PEER[index];
    let _serial = serial();
    let seed = test_seed();
    eprintln!("seed {seed:#x} (replay with SHMQ_TEST_SEED={seed:#x})");
    let (temp, queue) = create_queue("xfer-r", s.slot_size, s.slots, MAX_MESSAGE);
    let stream = stream_for(seed, s);
    let expected_bytes = stream.total_bytes(s.messages);
    let mut tx = queue.sender().unwrap();
    tx.set_wait_strategy(strategy(s.wait));
    let count = s.messages;
    let mut peer = Peer::spawn(&[
        "recv-stream",
        &temp.name,
        &format!("wait={}", s.wait),
        &format!("seed={seed:#x}"),
        &format!("count={count}"),
        &format!("max={}", stream.max),
    ]);
    let start = Instant::now();
    let what = format!(
        "sending {count} messages over {}x{} (seed {seed:#x})",
        s.slot_size, s.slots
    );
    let sent = background(what, move || -> Result<(), String> {
        let mut buf = Vec::new();
        for seq in 0..count {
            send_one(&mut tx, &stream, seq, &mut buf)
                .map_err(|e| format!("seed {seed:#x}: sending message {seq}: {e}"))?;
        }
        tx.flush_timeout(Duration::from_secs(30))
            .map_err(|e| format!("seed {seed:#x}: flush: {e}"))
        // Dropping the sender lets the peer see Disconnected.
    })
    .join_watching(limit(), &mut peer);
    if let Err(e) = sent {
        // Most likely the peer found a bad message and quit: say why.
        let status = peer.wait(Duration::from_secs(5));
        panic!("{e}; peer exited with {status}, stderr: {}", peer.stderr());
    }
    let elapsed = start.elapsed();
    let out = peer.finish(Duration::from_secs(20));
    assert_eq!(
        numbers(out.trim(), "received"),
        [count, expected_bytes],
        "seed {seed:#x}"
    );
    eprintln!(
        "{}x{} ({} wait, test -> peer): {count} messages, {:.1} MiB in {elapsed:.2?}",
        s.slot_size,
        s.slots,
        s.wait,
        expected_bytes as f64 / (1 << 20) as f64,
    );
}

/// One test per shape, so each reports (and can be run) on its own;
/// `$list` records the indices for `matrix_meets_the_requirements`.
macro_rules! shapes {
    ($run:ident, $list:ident: $($name:ident = $i:expr),* $(,)?) => {
        const $list: &[usize] = &[$($i),*];
        $(
            #[test]
            fn $name() {
                $run($i);
            }
        )*
    };
}

shapes! {
    peer_to_test, PEER_TO_TEST_TESTS:
    peer_to_test_64x2 = 0,
    peer_to_test_64x8_spin = 1,
    peer_to_test_64x64 = 2,
    peer_to_test_64x4096 = 3,
    peer_to_test_128x16 = 4,
    peer_to_test_192x32 = 5,
    peer_to_test_256x4_spin = 6,
    peer_to_test_1024x64 = 7,
    peer_to_test_4096x8_block = 8,
    peer_to_test_65536x2 = 9,
    peer_to_test_65536x16 = 10,
}

shapes! {
    test_to_peer, TEST_TO_PEER_TESTS:
    test_to_peer_128x8 = 0,
    test_to_peer_4096x16_block = 1,
}
