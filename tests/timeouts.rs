//! Timeouts: `*_timeout` calls return within their deadline plus scheduling
//! slack, and wake promptly when the peer acts; `try_*` calls never wait.
//!
//! Each scenario runs under a watchdog, so a call that ignores its deadline
//! fails the test instead of hanging it.

mod support;

use std::time::{Duration, Instant};

use support::{TempQueue, unique_name, within};

use shmq::{
    DEFAULT_SPIN, Queue, QueueBuilder, Receiver, RecvTimeoutError, SendTimeoutError, Sender,
    TryRecvError, TrySendError, WaitStrategy,
};

/// Timeouts every wait is tried with.
const TIMEOUTS: [Duration; 4] = [
    Duration::ZERO,
    Duration::from_millis(1),
    Duration::from_millis(50),
    Duration::from_millis(300),
];
/// How late a timed-out call may return (a loaded 2-core machine).
const SLACK: Duration = Duration::from_millis(500);
/// Longest a non-blocking call may take: far more than any honest one
/// needs, far less than a sleep.
const TRY_LIMIT: Duration = Duration::from_millis(50);
/// Upper bound for a whole scenario.
const WATCHDOG: Duration = Duration::from_secs(30);
/// How long the peer waits before acting in the wake-up tests.
const PEER_DELAY: Duration = Duration::from_millis(100);

// ---------------------------------------------------------------------------
// Helpers.

fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let start = Instant::now();
    let value = f();
    (value, start.elapsed())
}

/// Asserts that a call that timed out after `timeout` took at least that
/// long and not much longer.
fn assert_window(what: &str, elapsed: Duration, timeout: Duration) {
    assert!(
        elapsed >= timeout,
        "{what}: returned after {elapsed:?}, before its timeout of {timeout:?}"
    );
    assert!(
        elapsed < timeout + SLACK,
        "{what}: returned after {elapsed:?}, timeout {timeout:?} + slack {SLACK:?}"
    );
}

/// An in-process queue of 8 slots of 64 bytes (capacity 7 slots less the
/// record header: 432 bytes).
fn small(strategy: WaitStrategy) -> Queue {
    QueueBuilder::in_process()
        .slot_size(64)
        .slots(8)
        .max_message_size(1 << 16)
        .wait_strategy(strategy)
        .create()
        .unwrap()
}

/// One-slot messages that fill `small`'s ring after the sender's hello
/// record: all its slots but the hello's and the one the sender keeps free
/// (a record needs one more free slot than it takes).
const FITS: usize = 6;
/// The same once a receive has taken the hello record (even one that found
/// no message).
const FITS_AFTER_HELLO: usize = FITS + 1;

/// Fills the ring with one-slot messages; returns how many fit.
fn fill(tx: &mut Sender) -> usize {
    let mut sent = 0;
    loop {
        match tx.try_send(&[sent as u8; 40]) {
            Ok(()) => sent += 1,
            Err(TrySendError::Full) => return sent,
            Err(e) => panic!("filling: {e:?}"),
        }
        assert!(sent <= 1024, "the ring never fills");
    }
}

fn pattern(seed: usize, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i.wrapping_mul(7) ^ seed.wrapping_mul(131)) as u8)
        .collect()
}

const STRATEGIES: [WaitStrategy; 3] = [
    WaitStrategy::Spin,
    WaitStrategy::Block,
    WaitStrategy::SpinThenBlock(DEFAULT_SPIN),
];

// ---------------------------------------------------------------------------
// Receiving on an empty queue.

/// Every timed receive on `rx` (which nobody sends to) times out on time.
fn recv_times_out(rx: &mut Receiver, what: &str) {
    for timeout in TIMEOUTS {
        let what = format!("{what}, timeout {timeout:?}");
        let (r, elapsed) = timed(|| rx.recv_timeout(timeout));
        assert_eq!(r, Err(RecvTimeoutError::Timeout), "{what}");
        assert!(r.unwrap_err().is_timeout());
        assert_window(&format!("recv_timeout {what}"), elapsed, timeout);

        let (r, elapsed) = timed(|| rx.recv_with_timeout(timeout, |b| b.len()));
        assert_eq!(r, Err(RecvTimeoutError::Timeout), "{what}");
        assert_window(&format!("recv_with_timeout {what}"), elapsed, timeout);

        let (r, elapsed) = timed(|| rx.recv_deadline(Instant::now() + timeout));
        assert_eq!(r, Err(RecvTimeoutError::Timeout), "{what}");
        assert_window(&format!("recv_deadline {what}"), elapsed, timeout);
    }
}

fn recv_timeout_on_empty(strategy: WaitStrategy) {
    within(WATCHDOG, "recv_timeout on empty", move || {
        // The sender attached and alive, but silent.
        let q = small(strategy);
        let _tx = q.sender().unwrap();
        let mut rx = q.receiver().unwrap();
        assert_eq!(rx.wait_strategy(), strategy);
        recv_times_out(&mut rx, &format!("{strategy:?}, live sender"));

        // No sender ever attached.
        let q = small(strategy);
        let mut rx = q.receiver().unwrap();
        recv_times_out(&mut rx, &format!("{strategy:?}, no sender"));

        // The strategy set on the end rather than the queue.
        let q = small(WaitStrategy::default());
        let mut rx = q.receiver().unwrap();
        rx.set_wait_strategy(strategy);
        let timeout = Duration::from_millis(50);
        let (r, elapsed) = timed(|| rx.recv_timeout(timeout));
        assert_eq!(r, Err(RecvTimeoutError::Timeout));
        assert_window(&format!("{strategy:?} set on the end"), elapsed, timeout);

        // A named queue, the sender attached through another handle.
        let name = unique_name("to-recv");
        let _cleanup = TempQueue { name: name.clone() };
        let q = Queue::builder(&name)
            .slots(8)
            .wait_strategy(strategy)
            .create()
            .unwrap();
        let _tx = Queue::open(&name).unwrap().sender().unwrap();
        let mut rx = q.receiver().unwrap();
        for timeout in [Duration::ZERO, Duration::from_millis(50)] {
            let (r, elapsed) = timed(|| rx.recv_timeout(timeout));
            assert_eq!(r, Err(RecvTimeoutError::Timeout));
            assert_window(&format!("{strategy:?} named"), elapsed, timeout);
        }
    });
}

#[test]
fn recv_timeout_on_empty_spin() {
    recv_timeout_on_empty(WaitStrategy::Spin);
}

#[test]
fn recv_timeout_on_empty_block() {
    recv_timeout_on_empty(WaitStrategy::Block);
}

#[test]
fn recv_timeout_on_empty_spin_then_block() {
    recv_timeout_on_empty(WaitStrategy::SpinThenBlock(DEFAULT_SPIN));
    recv_timeout_on_empty(WaitStrategy::SpinThenBlock(Duration::from_millis(20)));
}

// ---------------------------------------------------------------------------
// Sending on a full ring.

/// Every timed send and flush on `tx` (whose full ring nobody drains) times
/// out on time, and leaves the ring as it was.
fn send_times_out(tx: &mut Sender, what: &str) {
    for timeout in TIMEOUTS {
        let what = format!("{what}, timeout {timeout:?}");
        let (r, elapsed) = timed(|| tx.send_timeout(b"no room", timeout));
        assert_eq!(r, Err(SendTimeoutError::Timeout), "{what}");
        assert!(r.unwrap_err().is_timeout());
        assert_window(&format!("send_timeout {what}"), elapsed, timeout);

        let (r, elapsed) = timed(|| tx.send_deadline(b"no room", Instant::now() + timeout));
        assert_eq!(r, Err(SendTimeoutError::Timeout), "{what}");
        assert_window(&format!("send_deadline {what}"), elapsed, timeout);

        let (r, elapsed) = timed(|| tx.flush_timeout(timeout));
        assert_eq!(r, Err(SendTimeoutError::Timeout), "{what}");
        assert_window(&format!("flush_timeout {what}"), elapsed, timeout);
    }
    assert!(tx.is_full(), "{what}");
    assert_eq!(tx.len(), FITS, "{what}: a timed-out send went in");
}

fn send_timeout_on_full(strategy: WaitStrategy) {
    within(WATCHDOG, "send_timeout on full", move || {
        // The receiver attached and alive, but not reading.
        let q = small(strategy);
        let mut tx = q.sender().unwrap();
        let mut rx = q.receiver().unwrap();
        assert_eq!(fill(&mut tx), FITS);
        send_times_out(&mut tx, &format!("{strategy:?}, live receiver"));
        // Everything that was sent before arrives, and nothing else.
        for i in 0..FITS as u8 {
            assert_eq!(rx.try_recv().unwrap(), [i; 40]);
        }
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));

        // No receiver ever attached.
        let q = small(strategy);
        let mut tx = q.sender().unwrap();
        assert_eq!(fill(&mut tx), FITS);
        send_times_out(&mut tx, &format!("{strategy:?}, no receiver"));

        // A message that needs padding first: the padding fits, the message
        // then does not.
        let q = small(strategy);
        let mut tx = q.sender().unwrap();
        let mut rx = q.receiver().unwrap();
        assert_eq!(fill(&mut tx), FITS);
        for _ in 0..FITS {
            rx.try_recv().unwrap();
        }
        for i in 10..16u8 {
            tx.try_send(&[i; 40]).unwrap();
        }
        for i in 10..14u8 {
            assert_eq!(rx.try_recv().unwrap(), [i; 40]);
        }
        // Head at slot 5, two slots in use: 3 slots of padding fit (with
        // the one after them free), then 7 slots for the message (the
        // largest record) do not.
        let seven_slots = [7u8; 7 * 64 - 16];
        assert_eq!(seven_slots.len(), tx.capacity());
        let timeout = Duration::from_millis(50);
        let (r, elapsed) = timed(|| tx.send_timeout(&seven_slots, timeout));
        assert_eq!(r, Err(SendTimeoutError::Timeout));
        assert_window(&format!("{strategy:?}, after padding"), elapsed, timeout);
        assert_eq!(rx.try_recv().unwrap(), [14; 40]);
        assert_eq!(rx.try_recv().unwrap(), [15; 40]);
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        tx.send_timeout(&seven_slots, Duration::from_secs(5))
            .unwrap();
        assert_eq!(rx.try_recv().unwrap(), seven_slots);
    });
}

#[test]
fn send_timeout_on_full_spin() {
    send_timeout_on_full(WaitStrategy::Spin);
}

#[test]
fn send_timeout_on_full_block() {
    send_timeout_on_full(WaitStrategy::Block);
}

#[test]
fn send_timeout_on_full_spin_then_block() {
    send_timeout_on_full(WaitStrategy::SpinThenBlock(DEFAULT_SPIN));
}

// ---------------------------------------------------------------------------
// Non-blocking calls.

/// Calls `f` many times; each call must be quick.
fn never_waits<T>(what: &str, mut f: impl FnMut() -> T, check: impl Fn(&T) -> bool) {
    let mut slowest = Duration::ZERO;
    let start = Instant::now();
    for i in 0..2000 {
        let (value, elapsed) = timed(&mut f);
        assert!(check(&value), "{what}: unexpected result on call {i}");
        slowest = slowest.max(elapsed);
    }
    let total = start.elapsed();
    assert!(
        slowest < TRY_LIMIT,
        "{what}: a call took {slowest:?} (total {total:?})"
    );
    assert!(
        total < Duration::from_secs(5),
        "{what}: 2000 calls took {total:?}"
    );
}

#[test]
fn try_calls_never_wait() {
    within(WATCHDOG, "try calls", || {
        for strategy in STRATEGIES {
            let s = format!("{strategy:?}");
            let q = small(strategy);
            let mut tx = q.sender().unwrap();
            let mut rx = q.receiver().unwrap();

            never_waits(
                &format!("try_recv on empty, {s}"),
                || rx.try_recv(),
                |r| *r == Err(TryRecvError::Empty),
            );
            assert!(rx.try_recv().unwrap_err().is_empty());
            never_waits(
                &format!("try_recv_with on empty, {s}"),
                || rx.try_recv_with(|b| b.len()),
                |r| *r == Err(TryRecvError::Empty),
            );
            never_waits(
                &format!("try_recv_pod on empty, {s}"),
                || rx.try_recv_pod::<u64>(),
                |r| *r == Err(TryRecvError::Empty),
            );
            never_waits(
                &format!("try_iter on empty, {s}"),
                || rx.try_iter().next(),
                Option::is_none,
            );
            // flush with nothing outstanding returns at once.
            never_waits(
                &format!("flush_timeout on empty, {s}"),
                || tx.flush_timeout(Duration::from_secs(10)),
                Result::is_ok,
            );

            assert_eq!(fill(&mut tx), FITS_AFTER_HELLO);
            never_waits(
                &format!("try_send on full, {s}"),
                || tx.try_send(b"x"),
                |r| *r == Err(TrySendError::Full),
            );
            assert!(tx.try_send(b"x").unwrap_err().is_full());
            never_waits(
                &format!("try_reserve on full, {s}"),
                || tx.try_reserve(8).map(|g| g.len()),
                |r| *r == Err(TrySendError::Full),
            );
            // Longer than the ring: only the waiting sends stream it.
            let cap = tx.capacity();
            never_waits(
                &format!("try_send too large, {s}"),
                || tx.try_send(&[0; 1000]),
                |r| {
                    *r == Err(TrySendError::TooLarge {
                        len: 1000,
                        max: cap,
                    })
                },
            );
            never_waits(
                &format!("try_reserve too large, {s}"),
                || tx.try_reserve(cap + 1).map(|g| g.len()),
                |r| {
                    *r == Err(TrySendError::TooLarge {
                        len: cap + 1,
                        max: cap,
                    })
                },
            );
            // Waiting calls with a zero timeout do not wait either.
            never_waits(
                &format!("send_timeout(0) on full, {s}"),
                || tx.send_timeout(b"x", Duration::ZERO),
                |r| *r == Err(SendTimeoutError::Timeout),
            );
            for i in 0..FITS_AFTER_HELLO as u8 {
                assert_eq!(rx.try_recv().unwrap(), [i; 40]);
            }
            never_waits(
                &format!("recv_timeout(0) on empty, {s}"),
                || rx.recv_timeout(Duration::ZERO),
                |r| *r == Err(RecvTimeoutError::Timeout),
            );

            // The other end gone: Disconnected, at once.
            drop(tx);
            never_waits(
                &format!("try_recv after the sender left, {s}"),
                || rx.try_recv(),
                |r| *r == Err(TryRecvError::Disconnected),
            );
            never_waits(
                &format!("recv_timeout after the sender left, {s}"),
                || rx.recv_timeout(Duration::from_secs(10)),
                |r| *r == Err(RecvTimeoutError::Disconnected),
            );
            let q = small(strategy);
            let mut tx = q.sender().unwrap();
            drop(q.receiver().unwrap());
            never_waits(
                &format!("try_send after the receiver left, {s}"),
                || tx.try_send(b"x"),
                |r| *r == Err(TrySendError::Disconnected),
            );

            // One end never attached: Empty and Full, not Disconnected.
            let q = small(strategy);
            let mut rx = q.receiver().unwrap();
            never_waits(
                &format!("try_recv, no sender yet, {s}"),
                || rx.try_recv(),
                |r| *r == Err(TryRecvError::Empty),
            );
            let q = small(strategy);
            let mut tx = q.sender().unwrap();
            assert_eq!(fill(&mut tx), FITS);
            never_waits(
                &format!("try_send, no receiver yet, {s}"),
                || tx.try_send(b"x"),
                |r| *r == Err(TrySendError::Full),
            );
        }
    });
}

// ---------------------------------------------------------------------------
// A message larger than the ring that times out part way.

#[test]
fn timed_out_large_message_is_never_seen_in_part() {
    within(WATCHDOG, "large message timeout", || {
        let q = small(WaitStrategy::Block);
        let mut tx = q.sender().unwrap();
        let mut rx = q.receiver().unwrap();
        let big_a = pattern(1, 2000); // 9 fragments of up to 240 bytes
        assert!(big_a.len() > tx.capacity());

        // Nobody reads: the first fragment (4 slots) goes in, the second
        // does not fit beside it (the sender keeps a slot free) and times
        // out.
        for timeout in [Duration::ZERO, Duration::from_millis(100)] {
            let (r, elapsed) = timed(|| tx.send_timeout(&big_a, timeout));
            assert_eq!(r, Err(SendTimeoutError::Timeout));
            assert_window("large send_timeout", elapsed, timeout);
            assert!(!tx.is_empty());
            // The receiver takes the fragments but returns no message.
            let (r, elapsed) = timed(|| rx.recv_timeout(Duration::from_millis(100)));
            assert_eq!(r, Err(RecvTimeoutError::Timeout));
            assert_window(
                "recv of a partial message",
                elapsed,
                Duration::from_millis(100),
            );
            assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
            // The next message arrives whole, and only it.
            tx.send_timeout(b"next", Duration::from_secs(5)).unwrap();
            assert_eq!(rx.try_recv().unwrap(), b"next");
            assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        }

        // A partial message still in the ring, then another large one sent
        // while a receiver drains: the receiver sees only the second.
        let (r, _) = timed(|| tx.send_timeout(&big_a, Duration::from_millis(20)));
        assert_eq!(r, Err(SendTimeoutError::Timeout));
        let big_b = pattern(2, 3000);
        let reader = std::thread::spawn(move || {
            let first = rx.recv_timeout(Duration::from_secs(10));
            let second = rx.recv_timeout(Duration::from_secs(10));
            let after = rx.try_recv();
            (first, second, after)
        });
        tx.send_timeout(&big_b, Duration::from_secs(10)).unwrap();
        tx.send_timeout(b"tail", Duration::from_secs(10)).unwrap();
        let (first, second, after) = reader.join().unwrap();
        let first = first.unwrap();
        assert_eq!(first.len(), big_b.len(), "a part of the timed-out message");
        assert!(first == big_b, "the second large message arrived mangled");
        assert_eq!(second.unwrap(), b"tail");
        assert_eq!(after, Err(TryRecvError::Empty));
    });
}

// ---------------------------------------------------------------------------
// Waking up when the peer acts.

fn wakes_promptly(strategy: WaitStrategy) {
    within(WATCHDOG, "wake-up", move || {
        let long = Duration::from_secs(10);

        // recv_timeout: a message arrives mid-wait.
        let q = small(strategy);
        let mut tx = q.sender().unwrap();
        let mut rx = q.receiver().unwrap();
        let start = Instant::now();
        let sender = std::thread::spawn(move || {
            std::thread::sleep(PEER_DELAY);
            tx.send(b"wake up").unwrap();
            tx
        });
        let r = rx.recv_timeout(long);
        let elapsed = start.elapsed();
        assert_eq!(r.unwrap(), b"wake up", "{strategy:?}");
        assert!(
            elapsed >= PEER_DELAY && elapsed < PEER_DELAY + SLACK,
            "{strategy:?}: recv_timeout woke after {elapsed:?}"
        );
        let mut tx = sender.join().unwrap();

        // send_timeout: the receiver makes room mid-wait.
        assert_eq!(fill(&mut tx), FITS_AFTER_HELLO);
        let start = Instant::now();
        let receiver = std::thread::spawn(move || {
            std::thread::sleep(PEER_DELAY);
            rx.recv().unwrap();
            rx
        });
        tx.send_timeout(b"room", long).unwrap();
        let elapsed = start.elapsed();
        assert!(
            elapsed >= PEER_DELAY && elapsed < PEER_DELAY + SLACK,
            "{strategy:?}: send_timeout woke after {elapsed:?}"
        );
        let mut rx = receiver.join().unwrap();

        // flush_timeout: the receiver drains mid-wait.
        let start = Instant::now();
        let receiver = std::thread::spawn(move || {
            std::thread::sleep(PEER_DELAY);
            for _ in 0..FITS_AFTER_HELLO {
                rx.recv().unwrap();
            }
            rx
        });
        tx.flush_timeout(long).unwrap();
        let elapsed = start.elapsed();
        assert!(
            elapsed >= PEER_DELAY && elapsed < PEER_DELAY + SLACK,
            "{strategy:?}: flush_timeout woke after {elapsed:?}"
        );
        let mut rx = receiver.join().unwrap();
        assert!(tx.is_empty());

        // recv_timeout: the sender leaves mid-wait.
        let start = Instant::now();
        let sender = std::thread::spawn(move || {
            std::thread::sleep(PEER_DELAY);
            drop(tx);
        });
        let r = rx.recv_timeout(long);
        let elapsed = start.elapsed();
        assert_eq!(r, Err(RecvTimeoutError::Disconnected), "{strategy:?}");
        assert!(
            elapsed < PEER_DELAY + SLACK,
            "{strategy:?}: noticed the sender leave after {elapsed:?}"
        );
        sender.join().unwrap();

        // send_timeout: the receiver leaves mid-wait.
        let q = small(strategy);
        let mut tx = q.sender().unwrap();
        let rx = q.receiver().unwrap();
        assert_eq!(fill(&mut tx), FITS);
        let start = Instant::now();
        let receiver = std::thread::spawn(move || {
            std::thread::sleep(PEER_DELAY);
            drop(rx);
        });
        let r = tx.send_timeout(b"nobody", long);
        let elapsed = start.elapsed();
        assert_eq!(r, Err(SendTimeoutError::Disconnected), "{strategy:?}");
        assert!(
            elapsed < PEER_DELAY + SLACK,
            "{strategy:?}: noticed the receiver leave after {elapsed:?}"
        );
        receiver.join().unwrap();
    });
}

#[test]
fn wakes_promptly_spin() {
    wakes_promptly(WaitStrategy::Spin);
}

#[test]
fn wakes_promptly_block() {
    wakes_promptly(WaitStrategy::Block);
}

#[test]
fn wakes_promptly_spin_then_block() {
    wakes_promptly(WaitStrategy::SpinThenBlock(DEFAULT_SPIN));
}

#[test]
fn wakes_promptly_named_queue() {
    // Two handles on one named queue, as two processes would have.
    within(WATCHDOG, "named wake-up", || {
        let name = unique_name("to-wake");
        let _cleanup = TempQueue { name: name.clone() };
        let q = Queue::builder(&name)
            .slots(8)
            .wait_strategy(WaitStrategy::Block)
            .create()
            .unwrap();
        let mut rx = q.receiver().unwrap();
        let other = Queue::open(&name).unwrap();
        let start = Instant::now();
        let sender = std::thread::spawn(move || {
            let mut tx = other.sender().unwrap();
            std::thread::sleep(PEER_DELAY);
            tx.send(b"across handles").unwrap();
            tx
        });
        let r = rx.recv_timeout(Duration::from_secs(10));
        let elapsed = start.elapsed();
        assert_eq!(r.unwrap(), b"across handles");
        assert!(
            elapsed >= PEER_DELAY && elapsed < PEER_DELAY + SLACK,
            "woke after {elapsed:?}"
        );
        drop(sender.join().unwrap());
    });
}

// ---------------------------------------------------------------------------
// Edge values.

#[test]
fn extreme_timeouts() {
    within(WATCHDOG, "extreme timeouts", || {
        let q = small(WaitStrategy::Block);
        let mut tx = q.sender().unwrap();
        let mut rx = q.receiver().unwrap();

        // Zero timeouts still take what is there.
        tx.send_timeout(b"now", Duration::ZERO).unwrap();
        assert_eq!(rx.recv_timeout(Duration::ZERO).unwrap(), b"now");
        tx.flush_timeout(Duration::ZERO).unwrap();
        // A deadline already past: a waiting message is still taken,
        // otherwise Timeout at once.
        tx.send_deadline(b"late", Instant::now()).unwrap();
        assert_eq!(rx.recv_deadline(Instant::now()).unwrap(), b"late");
        let (r, elapsed) = timed(|| rx.recv_deadline(Instant::now()));
        assert_eq!(r, Err(RecvTimeoutError::Timeout));
        assert!(elapsed < TRY_LIMIT, "{elapsed:?}");

        // A timeout too large for an Instant means no deadline, not a panic.
        tx.send_timeout(b"max", Duration::MAX).unwrap();
        assert_eq!(rx.recv_timeout(Duration::MAX).unwrap(), b"max");
        let sender = std::thread::spawn(move || {
            std::thread::sleep(PEER_DELAY);
            tx.send(b"eventually").unwrap();
            tx
        });
        assert_eq!(rx.recv_timeout(Duration::MAX).unwrap(), b"eventually");
        let mut tx = sender.join().unwrap();
        assert_eq!(fill(&mut tx), FITS_AFTER_HELLO);
        let receiver = std::thread::spawn(move || {
            std::thread::sleep(PEER_DELAY);
            for _ in 0..FITS_AFTER_HELLO {
                rx.recv().unwrap();
            }
            rx
        });
        tx.send_timeout(b"room", Duration::MAX).unwrap();
        let mut rx = receiver.join().unwrap();
        let receiver = std::thread::spawn(move || {
            std::thread::sleep(PEER_DELAY);
            rx.recv().unwrap()
        });
        tx.flush_timeout(Duration::MAX).unwrap();
        assert_eq!(receiver.join().unwrap(), b"room");
    });
}
