//! Loom models of the topic (`src/topic/`): a lossless publisher gated by
//! the slowest live subscriber, a dead subscriber released, an overrun
//! found during a lossy read, a subscriber joining while the publisher
//! publishes, and one publish waking every sleeping subscriber.
//!
//! Run as the models in `models.rs` (see there). The one-line library
//! changes that make each fail are listed in `docs/correctness.md`.
//!
//! Death is modelled as in the other models: the dead subscriber's token
//! (`LOOM_DEAD_TOKEN`) stays in its entry. A lossless publisher outside
//! loom finds it by looking at the subscribers' processes once a liveness
//! slice, after a timed sleep; loom has no time, so the dead handle's drop
//! wakes the publisher's futex word after the death, as the timer would at
//! some point after it, and the publisher's look after registering to
//! sleep asks about liveness (every look does under loom). The drop must
//! store nothing else: a dead process does not publish a tail.

#![cfg(shmq_loom)]

use loom::sync::Arc;
use loom::sync::atomic::AtomicBool;
use loom::sync::atomic::Ordering::{Acquire, Release};
use loom::thread;
use shmq::{Topic, TopicBuilder, TopicRecvError, WaitStrategy};
use shmq_loom_tests::model;

/// An in-process topic of `slots` slots of 64 bytes (48-byte payload per
/// slot) for two subscribers, whose ends block on the futex (no spinning
/// under loom).
fn topic(slots: usize, lossy: bool) -> Topic {
    TopicBuilder::in_process()
        .slot_size(64)
        .slots(slots)
        .max_message_size(1024)
        .subscribers(2)
        .lossy(lossy)
        .wait_strategy(WaitStrategy::Block)
        .create()
        .expect("valid in-process topic")
}

/// Message number `n`: 16 bytes, each 8-byte word different and derived
/// from `n`, so that a copy torn between two messages (one word of each)
/// matches no message.
fn message(n: u64) -> [u8; 16] {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&(2 * n + 1).to_le_bytes());
    bytes[8..].copy_from_slice(&(2 * n + 2).to_le_bytes());
    bytes
}

/// The number of the message whose bytes these are; panics if they are
/// no message's (torn, stale or garbage).
fn number(bytes: &[u8]) -> u64 {
    assert_eq!(bytes.len(), 16, "wrong length: {bytes:?}");
    let first = u64::from_le_bytes(bytes[..8].try_into().unwrap());
    assert!(first % 2 == 1, "not a message: {bytes:?}");
    let n = first / 2;
    assert_eq!(bytes, message(n), "torn message: {bytes:?}");
    n
}

/// Proves: a lossless publisher waits for the slowest live subscriber.
/// The ring holds one record at a time (2 slots, one kept free); two
/// subscribers read three messages in place, in turns on one thread (a
/// thread each makes the model too long to run), the second always
/// behind the first. The publisher reuses a slot (its commit word, then
/// its bytes) only after both have read what was there (SYNC:
/// tail-publish, and the minimum over the tails): one that waited for the
/// first only would clear the commit word of the record the second has
/// yet to read, which then waits for good (loom reports a deadlock), or
/// overwrite its bytes (loom flags the write). Each subscriber gets every
/// message, whole and in order.
#[test]
fn publisher_waits_for_slowest_subscriber() {
    model(|| {
        let topic = topic(2, false);
        // Attached first: the subscribers start after its `Hello` record.
        let mut publisher = topic.publisher().unwrap();
        let mut fast = topic.subscriber().unwrap();
        let mut slow = topic.subscriber().unwrap();
        let t = thread::spawn(move || {
            for n in 0..3 {
                publisher.send(&message(n)).unwrap();
            }
            publisher
        });
        for n in 0..3 {
            assert_eq!(fast.recv_with(number).unwrap(), n);
            assert_eq!(slow.recv_with(number).unwrap(), n);
        }
        drop(t.join().unwrap());
        assert_eq!(fast.recv(), Err(TopicRecvError::Disconnected));
        assert_eq!(slow.recv(), Err(TopicRecvError::Disconnected));
    });
}

/// Proves: a lossless publisher blocked on a subscriber that dies is
/// released: the subscriber takes the first message and dies; the ring
/// holds one record at a time, so the publisher's third send waits for
/// it, asleep or not when it dies, until a look finds its process dead
/// and frees its entry. Every send completes, the publisher counts the
/// release, and both entries can be taken afterwards.
#[test]
fn dead_subscriber_is_released() {
    model(|| {
        let topic = topic(2, false);
        let mut doomed = topic.subscriber().unwrap();
        let mut publisher = topic.publisher().unwrap();
        let t = thread::spawn(move || {
            assert_eq!(doomed.recv_with(number).unwrap(), 0);
            doomed.loom_die();
        });
        for n in 0..3 {
            publisher.send(&message(n)).unwrap();
        }
        t.join().unwrap();
        assert_eq!(publisher.released_subscribers(), 1);
        // Both entries can be taken: the dead one's was freed (by the
        // publisher) or is taken over (by the claim, which finds it dead).
        let a = topic.subscriber().unwrap();
        let b = topic.subscriber().unwrap();
        drop((a, b, publisher));
    });
}

/// Proves: a lossy subscriber never returns bytes the publisher did not
/// publish as one message, however the publisher overwrites the record it
/// is copying (SYNC: mark-cover: the copy is checked against the mark
/// after it), and it accounts for every message: each one it does not
/// receive is counted in a `Lagged` report, exactly once, and it goes on
/// from the message after those, in order. The ring holds one record at a
/// time (2 slots); the publisher, which never waits, publishes three.
#[test]
fn lossy_overrun_is_detected() {
    model(|| {
        let topic = topic(2, true);
        let mut publisher = topic.publisher().unwrap();
        let mut subscriber = topic.subscriber().unwrap();
        const SENT: u64 = 3;
        let t = thread::spawn(move || {
            for n in 0..SENT {
                publisher.send(&message(n)).unwrap();
            }
        });
        let (mut next, mut received, mut lagged) = (0, 0, 0);
        loop {
            match subscriber.recv_with(number) {
                Ok(n) => {
                    assert_eq!(n, next, "received out of order");
                    next += 1;
                    received += 1;
                }
                Err(TopicRecvError::Lagged(missed)) => {
                    assert!(missed > 0);
                    next += missed;
                    lagged += missed;
                }
                Err(TopicRecvError::Disconnected) => break,
                Err(e) => panic!("{e:?}"),
            }
        }
        t.join().unwrap();
        assert_eq!(received + lagged, SENT);
        assert_eq!(subscriber.lagged(), lagged);
    });
}

/// Proves: a subscriber that joins while a lossless publisher publishes
/// (SYNC: join) gets a gap-free, in-order suffix of the messages, and the
/// publisher never overwrites a slot it has not read (loom flags the
/// write). Nobody else subscribes, so the publisher goes as fast as the
/// ring allows until it sees the new subscriber's tail. It stays attached
/// until the subscriber has joined, so the subscriber's last receive
/// reports `Disconnected`.
#[test]
fn subscriber_joins_while_publishing() {
    model(|| {
        let topic = topic(2, false);
        let mut publisher = topic.publisher().unwrap();
        let joined = Arc::new(AtomicBool::new(false));
        let joined2 = Arc::clone(&joined);
        const SENT: u64 = 3;
        let t = thread::spawn(move || {
            for n in 0..SENT {
                publisher.send(&message(n)).unwrap();
            }
            while !joined2.load(Acquire) {
                thread::yield_now();
            }
            drop(publisher);
        });
        let mut subscriber = topic.subscriber().unwrap();
        joined.store(true, Release);
        let mut first = None;
        let mut next = 0;
        loop {
            match subscriber.recv_with(number) {
                Ok(n) => {
                    if first.is_none() {
                        first = Some(n);
                        next = n;
                    }
                    assert_eq!(n, next, "a gap or a repeat");
                    next += 1;
                }
                Err(TopicRecvError::Disconnected) => break,
                Err(e) => panic!("{e:?}"),
            }
        }
        t.join().unwrap();
        // The suffix runs to the last message (or is empty).
        assert!(first.is_none() || next == SENT, "stopped at {next}");
    });
}

/// Proves: one publish wakes every sleeping subscriber (SYNC:
/// event-register with one flag for all of them): two subscribers block
/// on the topic's event, and the single message wakes both, whatever the
/// order of their registrations and the publish (loom reports a deadlock
/// if one sleeps for good). The publisher stays attached until both have
/// received (its detach would wake them too).
#[test]
fn one_publish_wakes_every_subscriber() {
    model(|| {
        let topic = topic(4, false);
        let mut publisher = topic.publisher().unwrap();
        let reader = |mut subscriber: shmq::Subscriber| {
            move || {
                assert_eq!(subscriber.recv_with(number).unwrap(), 0);
                subscriber
            }
        };
        let a = thread::spawn(reader(topic.subscriber().unwrap()));
        let b = thread::spawn(reader(topic.subscriber().unwrap()));
        publisher.send(&message(0)).unwrap();
        let (a, b) = (a.join().unwrap(), b.join().unwrap());
        let stats = topic.stats();
        assert!(stats.wakes <= 1, "{stats:?}");
        assert!(stats.wakes <= stats.subscriber_sleeps, "{stats:?}");
        drop((a, b, publisher));
    });
}
