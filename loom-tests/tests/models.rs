//! Loom models of every protocol of the SPSC ring.
//!
//! Run with `RUSTFLAGS="--cfg shmq_loom" cargo test -p shmq-loom-tests
//! --release` (and `LOOM_MAX_PREEMPTIONS=2` or `3`). Under that cfg the
//! library's `sync` facade swaps in loom's atomics, fences and a faithful
//! futex model, and tracks every slot access with a loom `UnsafeCell`; the
//! queues below are the library's own in-process queues, so each model runs
//! the code that ships. Two processes are modelled as two loom threads
//! sharing one heap-backed segment.
//!
//! Every model states what it proves. The one-line library changes that make
//! each fail are listed in the README's "Correctness" section.

#![cfg(shmq_loom)]

use loom::sync::atomic::{AtomicBool, Ordering};
use loom::thread;
use shmq::{QueueBuilder, RecvError, SendError, TryRecvError, WaitStrategy};
use shmq_loom_tests::model;
use std::sync::Arc;

/// An in-process queue of `slots` slots of 64 bytes (48-byte payload per
/// slot), whose ends block on the futex (no spinning under loom).
fn queue(slots: usize, max_message: u64) -> shmq::Queue {
    QueueBuilder::in_process()
        .slot_size(64)
        .slots(slots)
        .max_message_size(max_message)
        .wait_strategy(WaitStrategy::Block)
        .create()
        .expect("valid in-process queue")
}

/// Proves: messages published by the sender arrive in FIFO order with the
/// payload the sender wrote (no torn or stale bytes: loom flags any slot
/// read not ordered after its write by commit-publish), and a receiver that
/// finds the ring empty sleeps and is woken (the receiver blocks here).
#[test]
fn publish_consume_fifo() {
    model(|| {
        let q = queue(2, 1024);
        let mut tx = q.sender().unwrap();
        let mut rx = q.receiver().unwrap();
        let t = thread::spawn(move || {
            tx.send(b"one").unwrap();
            tx.send(b"two").unwrap();
        });
        assert_eq!(rx.recv().unwrap(), b"one");
        assert_eq!(rx.recv().unwrap(), b"two");
        t.join().unwrap();
    });
}

/// Proves: the wrap-around padding record and a message spanning several
/// slots. With 4 slots, the second message (2 slots) lands at position 3
/// and must be preceded by one slot of padding; its slots are reused from
/// the first lap, so tail-publish must order the receiver's reads of lap 1
/// before the sender's writes of lap 2 (loom checks every slot access).
#[test]
fn wrap_padding_and_multi_slot() {
    model(|| {
        let q = queue(4, 1024);
        let mut tx = q.sender().unwrap();
        let mut rx = q.receiver().unwrap();
        let first = [1u8; 150]; // 16 + 150 B: 3 slots, positions 0..3
        let second = [2u8; 60]; // 16 + 60 B: 2 slots; padding at 3, then 4..6
        let t = thread::spawn(move || {
            tx.send(&first).unwrap();
            tx.send(&second).unwrap();
        });
        assert_eq!(rx.recv().unwrap(), first);
        let len = rx
            .recv_with(|bytes| {
                assert!(bytes.iter().all(|&b| b == 2), "torn second message");
                bytes.len()
            })
            .unwrap();
        assert_eq!(len, 60);
        t.join().unwrap();
    });
}

/// Proves: the commit-clear. A three-slot message leaves payload bytes
/// where slots 1 and 2 start and its own header at slot 0; the records that
/// later start at those slots (positions 4 and 5) must never be mistaken for
/// committed before the sender commits them: the receiver finds 0 there
/// (zeroed by the sender before it committed the record before), not a
/// stale header or payload bytes. Under loom a plain write over a commit
/// word leaves an invalid stamp, so any read of a stale word fails the
/// model.
#[test]
fn commit_word_is_fresh_on_every_lap() {
    model(|| {
        let q = queue(4, 1024);
        let mut tx = q.sender().unwrap();
        let mut rx = q.receiver().unwrap();
        let t = thread::spawn(move || {
            tx.send(&[1u8; 150]).unwrap(); // positions 0..3
            tx.send(b"b").unwrap(); // 3
            tx.send(b"c").unwrap(); // 4: slot 0, the old header
            tx.send(b"d").unwrap(); // 5: slot 1, old payload
        });
        assert_eq!(rx.recv().unwrap(), [1u8; 150]);
        for want in [b"b", b"c", b"d"] {
            assert_eq!(rx.recv().unwrap(), want);
        }
        t.join().unwrap();
    });
}

/// Proves: a message larger than the whole ring is streamed in fragments
/// (each waiting for the receiver to free space) and reassembled whole and
/// in order.
#[test]
fn fragmented_message() {
    model(|| {
        // 2 slots of 64 B: capacity and fragments of 48 B (one slot: the
        // sender keeps the other free), so every fragment waits for the
        // receiver to take the one before.
        let q = queue(2, 1024);
        let mut tx = q.sender().unwrap();
        let mut rx = q.receiver().unwrap();
        let msg: Vec<u8> = (0..130u8).collect(); // 3 fragments
        let expected = msg.clone();
        let t = thread::spawn(move || {
            tx.send(&msg).unwrap();
        });
        assert_eq!(rx.recv().unwrap(), expected);
        t.join().unwrap();
    });
}

/// Proves: no lost wake-up for a receiver waiting for data. The receiver
/// blocks (futex) on an empty ring; whatever the interleaving, the sender's
/// publish wakes it (loom reports a deadlock otherwise), and the number of
/// wake system calls never exceeds the number of sleeps.
#[test]
fn receiver_sleep_wake() {
    model(|| {
        let q = queue(2, 1024);
        let mut tx = q.sender().unwrap();
        let mut rx = q.receiver().unwrap();
        let t = thread::spawn(move || {
            tx.send(b"wake up").unwrap();
            tx // keep attached until joined
        });
        assert_eq!(rx.recv().unwrap(), b"wake up");
        drop(t.join().unwrap());
        let stats = q.stats();
        assert!(stats.sender.wakes <= stats.receiver.sleeps);
    });
}

/// Proves: no lost wake-up for a sender waiting for space. Three one-slot
/// messages through a two-slot ring: the sender must sleep on a full ring
/// and be woken by the receiver's tail-publish.
#[test]
fn sender_sleep_wake() {
    model(|| {
        let q = queue(2, 1024);
        let mut tx = q.sender().unwrap();
        let mut rx = q.receiver().unwrap();
        let t = thread::spawn(move || {
            for i in 0..3u8 {
                tx.send(&[i]).unwrap();
            }
            tx
        });
        for i in 0..3u8 {
            assert_eq!(rx.recv().unwrap(), [i]);
        }
        drop(t.join().unwrap());
        let stats = q.stats();
        assert!(stats.receiver.wakes <= stats.sender.sleeps);
    });
}

/// Proves: when nobody sleeps, no wake system call is made. Both sides only
/// use non-blocking calls, so neither ever registers as asleep.
#[test]
fn no_wake_without_sleeper() {
    model(|| {
        let q = queue(2, 1024);
        let mut tx = q.sender().unwrap();
        let mut rx = q.receiver().unwrap();
        let t = thread::spawn(move || {
            let _ = tx.try_send(b"a");
            let _ = tx.try_send(b"b");
            tx
        });
        let _ = rx.try_recv();
        let _ = rx.try_recv();
        drop(t.join().unwrap());
        let stats = q.stats();
        assert_eq!(stats.sender.wakes, 0, "wake made with no sleeper");
        assert_eq!(stats.receiver.wakes, 0, "wake made with no sleeper");
    });
}

/// Proves: the receiver drains every committed message after the sender
/// detaches, and only then sees `Disconnected` (the sender's drop may race
/// with the receiver's sleep: it must also wake it).
#[test]
fn sender_disconnect_drains() {
    model(|| {
        let q = queue(4, 1024);
        let mut tx = q.sender().unwrap();
        let mut rx = q.receiver().unwrap();
        let t = thread::spawn(move || {
            tx.send(b"last words").unwrap();
            drop(tx);
        });
        assert_eq!(rx.recv().unwrap(), b"last words");
        assert_eq!(rx.recv(), Err(RecvError::Disconnected));
        t.join().unwrap();
    });
}

/// Proves: the same drain guarantee for a receiver that only spins (no
/// futex, so no SeqCst fence on its side): detach's Release must carry the
/// sender's last head store to the receiver that sees the empty token.
#[test]
fn sender_disconnect_drains_spinning() {
    model(|| {
        let q = queue(4, 1024);
        let mut tx = q.sender().unwrap();
        let mut rx = q.receiver().unwrap();
        rx.set_wait_strategy(WaitStrategy::Spin);
        let t = thread::spawn(move || {
            tx.send(b"last words").unwrap();
            drop(tx);
        });
        assert_eq!(rx.recv().unwrap(), b"last words");
        assert_eq!(rx.recv(), Err(RecvError::Disconnected));
        t.join().unwrap();
    });
}

/// Proves: tail-publish on its own. Both ends spin (no futex, whose bucket
/// lock would order the two sides by itself), and three 40-byte messages
/// pass through a ring that holds one at a time, so the sender overwrites
/// each slot as soon as it has seen the receiver's tail move past it: the
/// receiver's reads must happen before those writes (loom checks every slot
/// access), and it must see each payload whole.
#[test]
fn spinning_sender_reuses_slots() {
    model(|| {
        let q = queue(2, 1024);
        let mut tx = q.sender().unwrap();
        let mut rx = q.receiver().unwrap();
        tx.set_wait_strategy(WaitStrategy::Spin);
        rx.set_wait_strategy(WaitStrategy::Spin);
        let t = thread::spawn(move || {
            for i in 0..3u8 {
                tx.send(&[i; 40]).unwrap();
            }
            tx
        });
        for i in 0..3u8 {
            assert_eq!(rx.recv().unwrap(), [i; 40]);
        }
        drop(t.join().unwrap());
    });
}

/// Proves: a sender blocked on a full ring sees the receiver's detach
/// (it is woken, and gets `Disconnected`).
#[test]
fn receiver_disconnect_wakes_sender() {
    model(|| {
        let q = queue(2, 1024);
        let mut tx = q.sender().unwrap();
        let rx = q.receiver().unwrap();
        let t = thread::spawn(move || {
            // One send fits (the sender keeps the other slot free); the next
            // waits on the full ring until the drop below wakes it (or a
            // send sees the drop first).
            for i in 0..3u8 {
                if let Err(e) = tx.send(&[i; 40]) {
                    return Err(e);
                }
            }
            Ok(())
        });
        drop(rx);
        assert_eq!(t.join().unwrap(), Err(SendError::Disconnected));
    });
}

/// Proves: a reservation dropped without commit publishes nothing; the
/// receiver sees only the messages sent around it. The dropped one spans
/// two slots, so its bytes cover the commit word of the slot after head,
/// which the sender had zeroed ahead of time after its first message: the
/// one-slot message that follows must zero it again before it commits
/// (under loom the dropped bytes leave an invalid stamp there, which the
/// receiver would report as corruption).
#[test]
fn reserve_drop_publishes_nothing() {
    model(|| {
        let q = queue(4, 1024);
        let mut tx = q.sender().unwrap();
        let mut rx = q.receiver().unwrap();
        let t = thread::spawn(move || {
            tx.send(b"first").unwrap(); // zeroes position 2's word early
            let mut guard = tx.reserve(100).unwrap(); // positions 1..3
            guard.fill(0xEE);
            drop(guard);
            let mut guard = tx.reserve(8).unwrap();
            guard.copy_from_slice(b"accepted");
            guard.commit();
        });
        assert_eq!(rx.recv().unwrap(), b"first");
        assert_eq!(rx.recv().unwrap(), b"accepted");
        t.join().unwrap();
        assert_eq!(rx.try_recv(), Err(shmq::TryRecvError::Disconnected));
    });
}

/// Proves: `send_sync` returns only after the receiver has taken the
/// message: the flag the receiver sets while reading it (before it frees
/// the slot) is always visible to the sender once `send_sync` returns.
#[test]
fn send_sync_waits_for_receiver() {
    model(|| {
        let q = queue(2, 1024);
        let mut tx = q.sender().unwrap();
        let mut rx = q.receiver().unwrap();
        let taken = Arc::new(AtomicBool::new(false));
        let taken2 = Arc::clone(&taken);
        let t = thread::spawn(move || {
            rx.recv_with(|bytes| {
                assert_eq!(bytes, b"sync");
                taken2.store(true, Ordering::Relaxed);
            })
            .unwrap();
            rx
        });
        tx.send_sync(b"sync").unwrap();
        assert!(
            taken.load(Ordering::Relaxed),
            "send_sync returned before the message was taken"
        );
        drop(t.join().unwrap());
    });
}

/// Proves: `wait_for_sender` is woken by a sender that attaches (and only
/// attaches: it neither sends nor detaches until the receiver has returned).
/// The attach raises the epoch and then wakes the receiver's futex word
/// with a full fence between; the sleeper registers, fences and re-reads
/// the epoch: a Dekker pair, so the wake-up is never lost (loom has no
/// timeouts, so a lost one is a deadlock).
#[test]
fn wait_for_sender_woken_by_attach() {
    model(|| {
        let q = queue(2, 1024);
        let mut rx = q.receiver().unwrap();
        drop(q.sender().unwrap());
        assert_eq!(rx.recv(), Err(RecvError::Disconnected));
        let returned = Arc::new(AtomicBool::new(false));
        let t = {
            let (q, returned) = (q.clone(), Arc::clone(&returned));
            thread::spawn(move || {
                let tx = q.sender().unwrap();
                while !returned.load(Ordering::Acquire) {
                    thread::yield_now();
                }
                drop(tx);
            })
        };
        rx.wait_for_sender().unwrap();
        returned.store(true, Ordering::Release);
        t.join().unwrap();
    });
}

/// Proves: a batch holds its messages' slots until `release`. The ring
/// (4 slots, 3 usable) is full of the batch's messages and the sender waits
/// to write a fourth into the first slot: it may only do so after the
/// receiver has read the held messages and released them (loom checks that
/// the sender's write of that slot happens after the receiver's read).
#[test]
fn batch_holds_slots_until_release() {
    model(|| {
        let q = queue(4, 1024);
        let mut tx = q.sender().unwrap();
        let mut rx = q.receiver().unwrap();
        // Takes the sender's hello record, freeing its slot.
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        for i in 1..=3u8 {
            tx.send(&[i; 40]).unwrap();
        }
        let t = thread::spawn(move || tx.send(&[4; 40]).unwrap());
        let mut batch = rx.recv_batch().unwrap();
        for i in 1..=3u8 {
            assert_eq!(batch.next().unwrap(), [i; 40]);
        }
        batch.release();
        assert_eq!(rx.recv().unwrap(), [4; 40]);
        t.join().unwrap();
    });
}

/// Proves: a batch dropped without `release` frees nothing: the sender,
/// waiting for room to send two more messages, cannot overwrite the held
/// slots, and the next receives return the held messages again, then the
/// new ones, in order.
#[test]
fn batch_dropped_is_received_again() {
    model(|| {
        let q = queue(4, 1024);
        let mut tx = q.sender().unwrap();
        let mut rx = q.receiver().unwrap();
        // Takes the sender's hello record, freeing its slot.
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        for i in 1..=3u8 {
            tx.send(&[i; 40]).unwrap();
        }
        let t = thread::spawn(move || {
            tx.send(&[4; 40]).unwrap();
            tx.send(&[5; 40]).unwrap();
        });
        {
            let mut batch = rx.recv_batch().unwrap();
            assert_eq!(batch.next().unwrap(), [1; 40]);
            assert_eq!(batch.next().unwrap(), [2; 40]);
        }
        for i in 1..=5u8 {
            assert_eq!(rx.recv().unwrap(), [i; 40]);
        }
        t.join().unwrap();
    });
}
