//! Loom models of the mailbox protocols: sender lanes, their claim and
//! reclaim, the doorbell the receiver sleeps on for all lanes, and the
//! round-robin order in which it serves them.
//!
//! Run as the models in `models.rs` (see there). Each model states what it
//! proves; the one-line library changes that make each fail are listed in
//! `docs/correctness.md`.

#![cfg(shmq_loom)]

use loom::thread;
use shmq::{OpenErrorKind, QueueBuilder, RecvError, WaitStrategy};
use shmq_loom_tests::model;

/// An in-process mailbox of `senders` lanes of `slots` slots of 64 bytes,
/// whose ends block on the futex (no spinning under loom).
fn mailbox(senders: usize, slots: usize) -> shmq::Queue {
    QueueBuilder::in_process()
        .senders(senders)
        .slot_size(64)
        .slots(slots)
        .max_message_size(1024)
        .wait_strategy(WaitStrategy::Block)
        .create()
        .expect("valid in-process mailbox")
}

/// Proves: senders that attach at the same time get lanes of their own,
/// never one a live sender holds (loom would see two senders write the
/// same slots), and each message arrives tagged with its sender's lane.
/// (The receiver takes them afterwards: its concurrent side is the
/// doorbell models' subject.)
#[test]
fn lane_claim_never_takes_a_live_lane() {
    model(|| {
        // Room for each sender's hello and message without a receiver.
        let q = mailbox(2, 4);
        let mut rx = q.receiver().unwrap();
        let spawn = |tag: u8| {
            let q = q.clone();
            thread::spawn(move || {
                let mut tx = q.sender().unwrap();
                tx.send(&[tag; 8]).unwrap();
                tx
            })
        };
        let (a, b) = (spawn(1), spawn(2));
        let (a, b) = (a.join().unwrap(), b.join().unwrap());
        assert_ne!(a.lane(), b.lane(), "two live senders on one lane");
        let mut got = [rx.try_recv_from().unwrap(), rx.try_recv_from().unwrap()];
        got.sort_by_key(|(_, msg)| msg[0]);
        assert_eq!(got[0].0.lane(), a.lane());
        assert_eq!(got[1].0.lane(), b.lane());
        assert!(matches!(
            q.sender().map_err(|e| e.into_kind()),
            Err(OpenErrorKind::TooManySenders { limit: 2 })
        ));
    });
}

/// Proves: the doorbell loses no wake-up: two senders on two lanes each
/// publish while the receiver may be going to sleep on the one futex word
/// for both, and it receives both (a lost wake-up is a deadlock here).
#[test]
fn doorbell_wakes_for_any_lane() {
    model(|| {
        let q = mailbox(2, 2);
        let mut rx = q.receiver().unwrap();
        let mut a = q.sender().unwrap();
        let mut b = q.sender().unwrap();
        // Each sender is kept until both messages are in: a sender's drop
        // also rings the doorbell, which would hide a lost wake-up.
        let ta = thread::spawn(move || {
            a.send(b"a").unwrap();
            a
        });
        let tb = thread::spawn(move || {
            b.send(b"b").unwrap();
            b
        });
        let mut got = vec![rx.recv().unwrap(), rx.recv().unwrap()];
        got.sort();
        assert_eq!(got, [b"a".to_vec(), b"b".to_vec()]);
        drop((ta.join().unwrap(), tb.join().unwrap()));
    });
}

/// Proves: no sender makes a wake-up call while the receiver is awake (it
/// only spins here, so it never registers on the doorbell).
#[test]
fn doorbell_silent_while_receiver_awake() {
    model(|| {
        let q = mailbox(2, 2);
        let mut rx = q.receiver().unwrap();
        rx.set_wait_strategy(WaitStrategy::Spin);
        let mut a = q.sender().unwrap();
        let mut b = q.sender().unwrap();
        let ta = thread::spawn(move || {
            a.send(b"a").unwrap();
            a
        });
        let tb = thread::spawn(move || {
            b.send(b"b").unwrap();
            b
        });
        let mut got = vec![rx.recv().unwrap(), rx.recv().unwrap()];
        got.sort();
        assert_eq!(got, [b"a".to_vec(), b"b".to_vec()]);
        let (a, b) = (ta.join().unwrap(), tb.join().unwrap());
        let stats = q.stats();
        assert_eq!(stats.sender.wakes, 0, "a sender woke an awake receiver");
        drop((a, b));
    });
}

/// Proves: a sender that dies in the middle of a record (reserved and
/// written, not committed) is replaced: a new sender takes its lane once
/// it is found dead, writes over the partial record, and the receiver gets
/// the dead sender's committed message, then the new sender's, and never
/// the partial bytes (loom would flag a read of them unordered with the
/// writes).
#[test]
fn dead_sender_lane_reclaimed_over_a_partial_record() {
    model(|| {
        let q = mailbox(1, 4);
        let mut rx = q.receiver().unwrap();
        let mut dying = q.sender().unwrap();
        let q2 = q.clone();
        let t = thread::spawn(move || {
            dying.send(b"committed").unwrap();
            let mut partial = dying.reserve(20).unwrap();
            partial.copy_from_slice(&[0xEE; 20]);
            std::mem::forget(partial);
            dying.loom_die();
        });
        let heir = thread::spawn(move || {
            // Refused while the first holder lives; taken once it is dead.
            let mut tx = loop {
                match q2.sender() {
                    Ok(tx) => break tx,
                    Err(_) => thread::yield_now(),
                }
            };
            tx.send(b"heir").unwrap();
            tx
        });
        assert_eq!(rx.recv().unwrap(), b"committed");
        let next = loop {
            match rx.recv() {
                Ok(msg) => break msg,
                // The dead holder was seen gone before the heir attached.
                Err(RecvError::Disconnected) => rx.wait_for_sender().unwrap(),
                Err(e) => panic!("{e:?}"),
            }
        };
        assert_eq!(next, b"heir");
        t.join().unwrap();
        drop(heir.join().unwrap());
    });
}

/// Proves: the receiver serves the lanes round-robin by quanta: with a
/// quantum of one message and two senders' messages all waiting, it never
/// takes two in a row from one lane while the other has one.
#[test]
fn lanes_are_served_round_robin() {
    model(|| {
        let q = mailbox(2, 4);
        let mut rx = q.receiver().unwrap();
        let spawn = |tag: u8| {
            let q = q.clone();
            thread::spawn(move || {
                let mut tx = q.sender().unwrap();
                tx.send(&[tag, 0]).unwrap();
                tx.send(&[tag, 1]).unwrap();
                tx
            })
        };
        let (a, b) = (spawn(1), spawn(2));
        let held = (a.join().unwrap(), b.join().unwrap());
        // Message by message (the default quantum takes a lane's 32 in a
        // row; the same code, with the count at 1).
        rx.set_lane_quantum(1);
        let lanes: Vec<usize> = (0..4).map(|_| rx.recv_from().unwrap().0.lane()).collect();
        for pair in lanes.windows(2) {
            assert_ne!(pair[0], pair[1], "lane served twice in a row: {lanes:?}");
        }
        drop(held);
    });
}
