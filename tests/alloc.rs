//! No heap allocation per message.
//!
//! A counting `#[global_allocator]` (a wrapper around `System`) counts, per
//! thread, every allocation (`alloc`, `alloc_zeroed`, `realloc`) and every
//! free. Each test warms a path up, then sends or receives 10,000 messages
//! and asserts that the thread doing it made no heap operation at all while
//! it did. The other thread of a pair counts its own work separately, so the
//! two never need to stop for each other.
//!
//! Covered, for messages that fit in the ring: `send`, `try_send`,
//! `reserve`/`commit`, `try_reserve`, `send_pod`; `recv_with`,
//! `try_recv_with`, `recv_into` (with a `Vec` that has the capacity),
//! `recv_pod`, `try_recv_pod`, `recv_batch` with `next` and `release`; the
//! `Full` and `Empty` answers of the `try_`
//! calls; the futex sleep and wake-up path (`WaitStrategy::Block`); over an
//! in-process queue and over a named one (whose create and attach may
//! allocate: only the message loop is counted). For messages longer than
//! the ring: once the receiver's reassembly buffer has grown on the first,
//! further messages of that size allocate nothing on either side.
//!
//! The counter can see what it is meant to see: `recv` and `try_recv`,
//! which return a new `Vec`, and the reassembly buffer's first growth, are
//! counted (`counter_sees_*`).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Mutex;
use std::time::Duration;

use shmq::{Queue, QueueBuilder, Receiver, Sender, TryRecvError, TrySendError, WaitStrategy};

// ---------------------------------------------------------------------------
// The counting allocator

thread_local! {
    // `const` and without a destructor: reading them never allocates, and
    // they stay usable while a thread is being torn down.
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
    static FREES: Cell<u64> = const { Cell::new(0) };
}

fn bump(counter: &'static std::thread::LocalKey<Cell<u64>>) {
    let _ = counter.try_with(|c| c.set(c.get() + 1));
}

struct Counting;

// SAFETY: every call is forwarded unchanged to `System`, which upholds the
// `GlobalAlloc` contract; counting touches only a thread-local integer and
// never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        bump(&ALLOCS);
        // SAFETY: the caller's obligations for `alloc` are passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        bump(&ALLOCS);
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        bump(&ALLOCS);
        // SAFETY: `ptr` came from this allocator, i.e. from `System`, with
        // `layout`; the caller's other obligations are passed on as is.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        bump(&FREES);
        // SAFETY: `ptr` came from this allocator, i.e. from `System`, with
        // `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Heap operations made by one thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct HeapOps {
    allocs: u64,
    frees: u64,
}

const NONE: HeapOps = HeapOps {
    allocs: 0,
    frees: 0,
};

fn heap_ops_now() -> HeapOps {
    HeapOps {
        allocs: ALLOCS.with(Cell::get),
        frees: FREES.with(Cell::get),
    }
}

/// Runs `f` and returns the heap operations this thread made during it.
fn heap_ops_during(f: impl FnOnce()) -> HeapOps {
    let before = heap_ops_now();
    f();
    let after = heap_ops_now();
    HeapOps {
        allocs: after.allocs - before.allocs,
        frees: after.frees - before.frees,
    }
}

// ---------------------------------------------------------------------------
// Messages

/// Messages per measured loop.
const MESSAGES: u64 = 10_000;
/// Messages before the measured loop: enough to wrap every ring used here
/// several times, so padding records and waits have happened before.
const WARM_UP: u64 = 1_000;
/// Longest small message.
const MAX_LEN: usize = 200;

/// Length of message `seq`: 8 to 200 bytes, so records take one or two
/// slots of 128 bytes and the ring wraps at varying points.
fn len_of(seq: u64) -> usize {
    8 + (seq as usize * 37) % (MAX_LEN - 7)
}

/// Writes message `seq` (of `buf.len()` bytes): its sequence number, then
/// its low byte repeated.
fn fill(buf: &mut [u8], seq: u64) {
    buf[..8].copy_from_slice(&seq.to_le_bytes());
    buf[8..].fill(seq as u8);
}

/// Checks a received message (without allocating unless it fails).
fn check(bytes: &[u8], seq: u64, len: usize) {
    assert_eq!(bytes.len(), len, "length of message {seq}");
    assert_eq!(bytes[..8], seq.to_le_bytes(), "sequence number");
    assert!(bytes[8..].iter().all(|&b| b == seq as u8), "body of {seq}");
}

/// Sends message `seq` with `send`.
fn send_one(tx: &mut Sender, seq: u64) {
    let mut buf = [0u8; MAX_LEN];
    let msg = &mut buf[..len_of(seq)];
    fill(msg, seq);
    tx.send(msg).unwrap();
}

/// Receives message `seq` with `recv_with`, checking it in place.
fn recv_one(rx: &mut Receiver, seq: u64) {
    rx.recv_with(|bytes| check(bytes, seq, len_of(seq)))
        .unwrap();
}

/// Makes each end wait once, with a zero timeout, before anything is
/// counted: the warm-up may never have to wait, and any one-time set-up on
/// the wait path (state initialised on first use) belongs to neither loop.
/// Needs an empty queue.
fn prime_waits(tx: &mut Sender, rx: &mut Receiver) {
    assert!(
        rx.recv_with_timeout(Duration::ZERO, |_| ())
            .unwrap_err()
            .is_timeout()
    );
    tx.send(b"x").unwrap();
    // The receiver has not taken it: a zero-timeout flush waits and times out.
    assert!(tx.flush_timeout(Duration::ZERO).unwrap_err().is_timeout());
    rx.recv_with(|_| ()).unwrap();
}

/// Sends messages `0..WARM_UP + MESSAGES` from a second thread with
/// `send_one` while this thread receives them with `recv_one`. Returns the
/// heap operations of the sender's and the receiver's measured loops (the
/// last `MESSAGES` messages each).
fn across_threads(
    queue: &Queue,
    mut send_one: impl FnMut(&mut Sender, u64) + Send + 'static,
    mut recv_one: impl FnMut(&mut Receiver, u64),
) -> (HeapOps, HeapOps) {
    let (mut tx, mut rx) = (queue.sender().unwrap(), queue.receiver().unwrap());
    prime_waits(&mut tx, &mut rx);
    let sender = std::thread::spawn(move || {
        for seq in 0..WARM_UP {
            send_one(&mut tx, seq);
        }
        heap_ops_during(|| {
            for seq in WARM_UP..WARM_UP + MESSAGES {
                send_one(&mut tx, seq);
            }
        })
    });
    for seq in 0..WARM_UP {
        recv_one(&mut rx, seq);
    }
    let received = heap_ops_during(|| {
        for seq in WARM_UP..WARM_UP + MESSAGES {
            recv_one(&mut rx, seq);
        }
    });
    (sender.join().unwrap(), received)
}

/// An in-process queue of 64 slots of 128 bytes: small, so that the sender
/// often finds it full and both ends wait.
fn small_queue(wait: WaitStrategy) -> Queue {
    QueueBuilder::in_process()
        .slot_size(128)
        .slots(64)
        .wait_strategy(wait)
        .create()
        .unwrap()
}

// ---------------------------------------------------------------------------
// Messages that fit in the ring

#[test]
fn send_and_recv_with_do_not_allocate() {
    let queue = small_queue(WaitStrategy::default());
    let (sent, received) = across_threads(&queue, send_one, recv_one);
    assert_eq!(sent, NONE, "send");
    assert_eq!(received, NONE, "recv_with");
}

#[test]
fn sleeping_and_waking_do_not_allocate() {
    // Every wait goes straight to the futex: the sleep, the wake-up call
    // and the liveness checks between sleeps are all in the loop.
    let queue = small_queue(WaitStrategy::Block);
    let (sent, received) = across_threads(&queue, send_one, recv_one);
    assert_eq!(sent, NONE, "send, blocking");
    assert_eq!(received, NONE, "recv_with, blocking");
    let stats = queue.stats();
    assert!(
        stats.sender.sleeps + stats.receiver.sleeps > 0,
        "nobody slept: the sleep path was not exercised"
    );
}

#[test]
fn reserve_and_commit_do_not_allocate() {
    let queue = small_queue(WaitStrategy::default());
    let reserve_one = |tx: &mut Sender, seq: u64| {
        let mut slot = tx.reserve(len_of(seq)).unwrap();
        fill(&mut slot, seq);
        slot.commit();
    };
    let (sent, received) = across_threads(&queue, reserve_one, recv_one);
    assert_eq!(sent, NONE, "reserve/commit");
    assert_eq!(received, NONE, "recv_with");
}

#[test]
fn recv_into_a_vec_with_capacity_does_not_allocate() {
    let queue = small_queue(WaitStrategy::default());
    let mut buf = Vec::with_capacity(MAX_LEN);
    let recv_into = move |rx: &mut Receiver, seq: u64| {
        let len = rx.recv_into(&mut buf).unwrap();
        assert_eq!(len, buf.len());
        check(&buf, seq, len_of(seq));
    };
    let (sent, received) = across_threads(&queue, send_one, recv_into);
    assert_eq!(sent, NONE, "send");
    assert_eq!(received, NONE, "recv_into");
}

#[derive(Debug, Clone, Copy, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
struct Tick {
    seq: u64,
    price: f64,
    qty: u32,
    venue: u32,
}

impl Tick {
    fn new(seq: u64) -> Self {
        Tick {
            seq,
            price: seq as f64 * 0.25,
            qty: seq as u32,
            venue: 7,
        }
    }
}

#[test]
fn send_pod_and_recv_pod_do_not_allocate() {
    let queue = small_queue(WaitStrategy::default());
    let send_pod = |tx: &mut Sender, seq: u64| tx.send_pod(&Tick::new(seq)).unwrap();
    let recv_pod = |rx: &mut Receiver, seq: u64| {
        assert_eq!(rx.recv_pod::<Tick>().unwrap(), Tick::new(seq));
    };
    let (sent, received) = across_threads(&queue, send_pod, recv_pod);
    assert_eq!(sent, NONE, "send_pod");
    assert_eq!(received, NONE, "recv_pod");
}

/// One thread alternating: sends messages from `*seq` on until the ring is
/// `Full`, then receives them all until it is `Empty`, with the pair of
/// calls that `round` picks.
fn fill_then_drain(tx: &mut Sender, rx: &mut Receiver, seq: &mut u64, round: u64) {
    let mut buf = [0u8; MAX_LEN];
    let mut next = *seq;
    loop {
        let msg = &mut buf[..len_of(*seq)];
        fill(msg, *seq);
        let sent = match round % 3 {
            0 => tx.try_reserve(msg.len()).map(|mut slot| {
                slot.copy_from_slice(msg);
                slot.commit();
            }),
            1 => tx.try_send(msg),
            // What `send_pod` sends, without its wait (one thread).
            _ => tx.try_send(bytemuck::bytes_of(&Tick::new(*seq))),
        };
        match sent {
            Ok(()) => *seq += 1,
            Err(TrySendError::Full) => break,
            Err(e) => panic!("try_send: {e}"),
        }
    }
    loop {
        let got = match round % 3 {
            2 => rx
                .try_recv_pod::<Tick>()
                .map(|tick| assert_eq!(tick, Tick::new(next))),
            _ => rx.try_recv_with(|bytes| check(bytes, next, len_of(next))),
        };
        match got {
            Ok(()) => next += 1,
            Err(TryRecvError::Empty) => break,
            Err(e) => panic!("try_recv: {e}"),
        }
    }
    assert_eq!(next, *seq, "received all that was sent");
}

#[test]
fn try_calls_do_not_allocate_in_one_thread() {
    let queue = small_queue(WaitStrategy::default());
    let (mut tx, mut rx) = (queue.sender().unwrap(), queue.receiver().unwrap());

    let mut seq = 0;
    let mut round = 0;
    while seq < WARM_UP {
        fill_then_drain(&mut tx, &mut rx, &mut seq, round);
        round += 1;
    }
    let ops = heap_ops_during(|| {
        while seq < WARM_UP + MESSAGES {
            fill_then_drain(&mut tx, &mut rx, &mut seq, round);
            round += 1;
        }
    });
    assert_eq!(
        ops, NONE,
        "try_send, try_reserve, try_recv_with, try_recv_pod, Full, Empty"
    );

    // And strictly one message at a time.
    let ops = heap_ops_during(|| {
        let mut buf = [0u8; MAX_LEN];
        for seq in 0..MESSAGES {
            let msg = &mut buf[..len_of(seq)];
            fill(msg, seq);
            tx.try_send(msg).unwrap();
            rx.try_recv_with(|bytes| check(bytes, seq, len_of(seq)))
                .unwrap();
        }
    });
    assert_eq!(ops, NONE, "try_send then try_recv_with");
}

/// A unique queue name (pid and a counter), removed on drop.
struct TempName(String);

impl TempName {
    fn new(tag: &str) -> Self {
        static COUNTER: Mutex<u64> = Mutex::new(0);
        let n = {
            let mut c = COUNTER.lock().unwrap();
            *c += 1;
            *c
        };
        TempName(format!("alloc-{tag}-{}-{n}", std::process::id()))
    }
}

impl Drop for TempName {
    fn drop(&mut self) {
        let _ = Queue::remove(&self.0);
    }
}

#[test]
fn named_queue_messages_do_not_allocate() {
    let name = TempName::new("named");
    let queue = Queue::builder(&name.0)
        .slot_size(128)
        .slots(64)
        .create()
        .unwrap();
    let (sent, received) = across_threads(&queue, send_one, recv_one);
    assert_eq!(sent, NONE, "send, named queue");
    assert_eq!(received, NONE, "recv_with, named queue");

    let queue = Queue::open(&name.0).unwrap();
    let reserve_one = |tx: &mut Sender, seq: u64| {
        let mut slot = tx.reserve(len_of(seq)).unwrap();
        fill(&mut slot, seq);
        slot.commit();
    };
    let mut buf = Vec::with_capacity(MAX_LEN);
    let recv_into = move |rx: &mut Receiver, seq: u64| {
        rx.recv_into(&mut buf).unwrap();
        check(&buf, seq, len_of(seq));
    };
    // The ends above were dropped, so these attach afresh; the sequence
    // numbers start again at 0 and the queue is empty.
    let (sent, received) = across_threads(&queue, reserve_one, recv_into);
    assert_eq!(sent, NONE, "reserve/commit, named queue");
    assert_eq!(received, NONE, "recv_into, named queue");
}

// ---------------------------------------------------------------------------
// Messages longer than the ring

#[test]
fn reassembly_does_not_allocate_once_grown() {
    // An 8 KiB ring: a 50,000-byte message goes as 13 fragments.
    const LEN: usize = 50_000;
    const LARGE_MESSAGES: u64 = 500;
    let queue = QueueBuilder::in_process()
        .slot_size(128)
        .slots(64)
        .create()
        .unwrap();
    assert!(LEN > 4 * queue.capacity());
    let (mut tx, mut rx) = (queue.sender().unwrap(), queue.receiver().unwrap());
    prime_waits(&mut tx, &mut rx);

    let sender = std::thread::spawn(move || {
        let mut msg = vec![0u8; LEN];
        fill(&mut msg, 0);
        tx.send(&msg).unwrap();
        heap_ops_during(|| {
            for seq in 1..=LARGE_MESSAGES {
                fill(&mut msg, seq);
                tx.send(&msg).unwrap();
            }
        })
    });

    let mut buf = Vec::with_capacity(LEN);
    // The first message grows the reassembly buffer: the counter sees the
    // library's own allocations.
    let first = heap_ops_during(|| rx.recv_with(|bytes| check(bytes, 0, LEN)).unwrap());
    assert!(first.allocs > 0, "the first large message grew nothing");
    // After that, nothing: reading in place, or copying out into a `Vec`
    // that has the capacity.
    let received = heap_ops_during(|| {
        for seq in 1..=LARGE_MESSAGES {
            if seq % 2 == 0 {
                rx.recv_with(|bytes| check(bytes, seq, LEN)).unwrap();
            } else {
                rx.recv_into(&mut buf).unwrap();
                check(&buf, seq, LEN);
            }
        }
    });
    assert_eq!(sender.join().unwrap(), NONE, "send, fragmented");
    assert_eq!(received, NONE, "reassembly (recv_with, recv_into)");
}

// ---------------------------------------------------------------------------
// The counter sees allocations

#[test]
fn counter_sees_allocating_receives() {
    // `recv` and `try_recv` return a new `Vec`: one allocation and, when the
    // test drops it, one free per message. If the counter missed these, the
    // zeros above would prove nothing.
    const N: u64 = 100;
    let queue = small_queue(WaitStrategy::default());
    let (sent, received) = across_threads(&queue, send_one, |rx, seq| {
        if seq >= WARM_UP + MESSAGES - N {
            check(&rx.recv().unwrap(), seq, len_of(seq));
        } else {
            recv_one(rx, seq);
        }
    });
    assert_eq!(sent, NONE);
    assert!(received.allocs >= N && received.frees >= N, "{received:?}");

    let (mut tx, mut rx) = (queue.sender().unwrap(), queue.receiver().unwrap());
    let ops = heap_ops_during(|| {
        for seq in 0..N {
            send_one(&mut tx, seq);
            check(&rx.try_recv().unwrap(), seq, len_of(seq));
        }
    });
    assert!(ops.allocs >= N && ops.frees >= N, "{ops:?}");
}

#[test]
fn batches_do_not_allocate() {
    let queue = small_queue(WaitStrategy::default());
    let (mut tx, mut rx) = (queue.sender().unwrap(), queue.receiver().unwrap());
    prime_waits(&mut tx, &mut rx);
    let sender = std::thread::spawn(move || {
        for seq in 0..WARM_UP + MESSAGES {
            send_one(&mut tx, seq);
        }
    });
    // Takes batches until message `until` has been checked.
    let mut seq = 0;
    let mut take_until = |until: u64| {
        while seq < until {
            let mut batch = rx.recv_batch().unwrap();
            while let Some(bytes) = batch.next() {
                check(bytes, seq, len_of(seq));
                seq += 1;
            }
            batch.release();
        }
    };
    take_until(WARM_UP);
    let received = heap_ops_during(|| take_until(WARM_UP + MESSAGES));
    sender.join().unwrap();
    assert_eq!(received, NONE, "recv_batch, next, release");
}
