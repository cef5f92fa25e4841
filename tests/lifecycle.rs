//! A queue's life across processes: ends that come and go, how each end
//! learns the other left (detached or died), waiting for the next sender,
//! batches that a killed receiver leaves for the next one, strict opens,
//! header-only inspection and stale queues.

mod support;

use std::fs::File;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

use shmq::{
    Departure, EndState, OpenError, OpenErrorKind, Queue, RecvError, RecvTimeoutError, SendError,
    TryRecvError, TrySendError,
};
use support::{Peer, Stream, TempQueue, create_queue, numbers, serial, unique_name};

/// Upper bound on noticing a killed peer (design: about 100 ms; generous
/// for a loaded machine).
const DETECTION_LIMIT: Duration = Duration::from_secs(2);

/// Time for a peer to start and attach.
const STARTUP: Duration = Duration::from_secs(10);

/// A receiver that attaches after the only sender has come and gone gets
/// what it left and then waits for the next sender: no `Disconnected`.
#[test]
fn receiver_after_sender_left_drains_then_waits() {
    let _serial = serial();
    let (_q, queue) = create_queue("late-rx", 128, 64, 1 << 20);
    let name = queue.name().unwrap().to_owned();
    // Short messages, so that all 20 fit in the ring with nobody reading.
    let stream = Stream::for_queue(7, &queue, Some(100));
    let mut peer = Peer::spawn(&["send-stream", &name, "seed=7", "count=20", "max=100"]);
    peer.expect_line("sent 20", STARTUP);
    while peer.exited().is_none() {
        std::thread::sleep(Duration::from_millis(1));
    }
    peer.check_not_failed();

    let mut rx = queue.receiver().unwrap();
    for seq in 0..20 {
        let msg = rx.recv_timeout(Duration::from_secs(5)).unwrap();
        stream.check(seq, &msg).unwrap();
    }
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    assert_eq!(
        rx.recv_timeout(Duration::from_millis(150)),
        Err(RecvTimeoutError::Timeout)
    );
    assert!(!rx.is_disconnected(), "no sender seen yet, none left");
    assert_eq!(rx.last_departure(), None);

    // The next sender's messages arrive, and its departure is reported.
    let mut peer = Peer::spawn(&["send-stream", &name, "seed=7", "count=5", "max=100"]);
    for seq in 0..5 {
        let msg = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        stream.check(seq, &msg).unwrap();
    }
    peer.expect_line("sent 5", STARTUP);
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(10)),
        Err(RecvTimeoutError::Disconnected)
    );
    assert_eq!(rx.last_departure(), Some(Departure::Detached));
}

/// After the sender it has seen leaves, receives keep reporting
/// `Disconnected` at once until a new sender attaches; `wait_for_sender`
/// sleeps until one does (woken by the attach, across processes).
#[test]
fn disconnected_is_sticky_until_wait_for_sender_sees_a_new_one() {
    let _serial = serial();
    let (_q, queue) = create_queue("sticky", 128, 64, 1 << 20);
    let name = queue.name().unwrap().to_owned();
    let mut rx = queue.receiver().unwrap();
    {
        let mut tx = queue.sender().unwrap();
        tx.send(b"first").unwrap();
    }
    assert_eq!(rx.recv().unwrap(), b"first");
    for _ in 0..3 {
        assert_eq!(rx.recv(), Err(RecvError::Disconnected));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    }
    assert!(rx.is_disconnected());
    assert_eq!(
        rx.wait_for_sender_timeout(Duration::from_millis(100)),
        Err(RecvTimeoutError::Timeout)
    );

    // A sender in another process attaches after a while; the receiver
    // sleeps (Block: no spinning) until then.
    rx.set_wait_strategy(shmq::WaitStrategy::Block);
    let sleeps_before = queue.stats().receiver.sleeps;
    let mut peer = Peer::spawn(&["hold", &name, "role=sender"]);
    rx.wait_for_sender_timeout(Duration::from_secs(10)).unwrap();
    let line = peer.expect_line("ready", STARTUP);
    assert_eq!(numbers(&line, "ready"), [u64::from(peer.pid())]);
    assert!(
        queue.stats().receiver.sleeps > sleeps_before,
        "wait_for_sender did not sleep"
    );
    assert!(!rx.is_disconnected());
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    // Its death is reported once it is noticed, with the pid.
    let killed = peer.kill();
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(10)),
        Err(RecvTimeoutError::Disconnected)
    );
    assert!(killed.elapsed() < DETECTION_LIMIT, "{:?}", killed.elapsed());
    assert_eq!(
        rx.last_departure(),
        Some(Departure::Died { pid: peer.pid() })
    );
    assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
}

/// A sender learns that the receiver it has seen was killed on its next
/// send, with room in the ring: within about 100 ms (the liveness check
/// every 40 ms), not only once the ring is full. The messages sent before
/// stay queued for a receiver that takes over.
#[test]
fn sender_notices_killed_receiver_without_a_full_ring() {
    let _serial = serial();
    let (_q, queue) = create_queue("rx-killed", 128, 1024, 1 << 20);
    let name = queue.name().unwrap().to_owned();
    let mut peer = Peer::spawn(&["hold", &name, "role=receiver"]);
    peer.expect_line("ready", STARTUP);
    let mut tx = queue.sender().unwrap();
    tx.send(b"queued 0").unwrap();
    let killed = peer.kill();
    let mut sent = 1u32;
    let detected = loop {
        match tx.try_send(format!("queued {sent}").as_bytes()) {
            Ok(()) => sent += 1,
            Err(TrySendError::Disconnected) => break killed.elapsed(),
            Err(e) => panic!("try_send: {e}"),
        }
        assert!(
            killed.elapsed() < DETECTION_LIMIT,
            "no Disconnected after {sent} sends"
        );
        std::thread::sleep(Duration::from_millis(2));
    };
    eprintln!("receiver kill noticed by try_send after {detected:?} ({sent} sent)");
    assert!(
        (sent as usize) < queue.slot_count() - 1,
        "the ring filled up first"
    );
    assert_eq!(
        tx.last_departure(),
        Some(Departure::Died { pid: peer.pid() })
    );
    // It stays that way: the dead token is still there.
    assert_eq!(tx.send(b"late"), Err(SendError::Disconnected));
    assert!(tx.is_disconnected());

    // A new receiver takes over and gets every message sent before.
    let mut rx = queue.receiver().unwrap();
    for i in 0..sent {
        assert_eq!(rx.recv().unwrap(), format!("queued {i}").as_bytes());
    }
    // And the sender may send again.
    tx.send(b"again").unwrap();
    assert_eq!(rx.recv().unwrap(), b"again");
}

/// A batch holds its messages in the ring until `release`: dropped
/// unreleased, the same messages come again.
#[test]
fn batch_release_and_drop() {
    let queue = shmq::QueueBuilder::in_process()
        .slot_size(64)
        .slots(16)
        .create()
        .unwrap();
    let (mut tx, mut rx) = (queue.sender().unwrap(), queue.receiver().unwrap());
    for i in 0..10u8 {
        tx.send(&[i; 40]).unwrap();
    }
    {
        let mut batch = rx.recv_batch().unwrap();
        for i in 0..4u8 {
            assert_eq!(batch.next().unwrap(), [i; 40]);
        }
        assert_eq!(batch.len(), 4);
        // Not released: nothing freed.
    }
    assert_eq!(queue.stats().messages_queued, 10);
    assert_eq!(tx.len(), 10);
    let mut batch = rx.recv_batch().unwrap();
    let mut got = Vec::new();
    while let Some(msg) = batch.next() {
        got.push(msg[0]);
    }
    assert_eq!(got, (0..10).collect::<Vec<u8>>());
    // Ten of the fifteen usable slots are held: room for one more.
    tx.try_send(&[0; 40]).unwrap();
    batch.release();
    assert_eq!(queue.stats().messages_queued, 1);
    assert_eq!(rx.try_recv().unwrap(), [0; 40]);
    assert!(rx.try_recv_batch().unwrap_err().is_empty());

    // While a batch holds slots, the sender cannot reuse them.
    for i in 0..15u8 {
        tx.send(&[i; 40]).unwrap();
    }
    let mut batch = rx.recv_batch().unwrap();
    assert_eq!(batch.next().unwrap(), [0; 40]);
    assert_eq!(batch.next().unwrap(), [1; 40]);
    assert!(tx.try_send(&[99; 40]).unwrap_err().is_full());
    batch.release();
    tx.try_send(&[99; 40]).unwrap();
}

/// Batches across a wrap of the ring, and a message longer than the ring,
/// which comes alone in its batch; what was held before it stays held.
#[test]
fn batch_wraps_and_long_messages_come_alone() {
    let queue = shmq::QueueBuilder::in_process()
        .slot_size(64)
        .slots(8)
        .max_message_size(4096)
        .create()
        .unwrap();
    let (mut tx, mut rx) = (queue.sender().unwrap(), queue.receiver().unwrap());
    let mut expect = Vec::new();
    let mut seq = 0u8;
    for round in 0..40 {
        // One or two messages of one or two slots (at most five of the
        // seven usable slots with padding), so padding appears at the wrap.
        let n = 1 + round % 2;
        for _ in 0..n {
            let len = 10 + (usize::from(seq) * 37) % 100;
            tx.send(&vec![seq; len]).unwrap();
            expect.push((seq, len));
            seq = seq.wrapping_add(1);
        }
        if round % 5 == 4 {
            // A message longer than the ring (capacity 432).
            let long = vec![seq; 1000];
            let sender = std::thread::scope(|s| {
                let h = s.spawn(|| tx.send(&long));
                let mut got = Vec::new();
                while got.len() < expect.len() {
                    let mut batch = rx.recv_batch().unwrap();
                    while let Some(msg) = batch.next() {
                        got.push((msg[0], msg.len()));
                    }
                    batch.release();
                }
                assert_eq!(got, expect);
                expect.clear();
                let mut batch = rx.recv_batch().unwrap();
                assert_eq!(batch.next().unwrap(), long.as_slice());
                assert!(batch.next().is_none(), "a long message comes alone");
                batch.release();
                h.join().unwrap()
            });
            sender.unwrap();
            seq = seq.wrapping_add(1);
            continue;
        }
        let mut got = Vec::new();
        let mut batch = rx.recv_batch().unwrap();
        while let Some(msg) = batch.next() {
            assert!(msg.iter().all(|&b| b == msg[0]));
            got.push((msg[0], msg.len()));
        }
        batch.release();
        assert_eq!(got, expect);
        expect.clear();
    }
    assert_eq!(queue.stats().messages_queued, 0);
}

/// A receiver killed while it holds a batch loses nothing: the next
/// receiver gets every message the batch held, from the first.
#[test]
fn killed_receiver_holding_a_batch_loses_nothing() {
    let _serial = serial();
    let (_q, queue) = create_queue("batch-kill", 128, 64, 1 << 20);
    let name = queue.name().unwrap().to_owned();
    let mut tx = queue.sender().unwrap();
    for i in 0..30u32 {
        tx.send(format!("message {i}").as_bytes()).unwrap();
    }
    let mut peer = Peer::spawn(&["batch-hold", &name, "count=20"]);
    let line = peer.expect_line("held", STARTUP);
    assert_eq!(numbers(&line, "held"), [20, "message 0".len() as u64]);
    assert_eq!(queue.stats().messages_queued, 30, "the batch freed nothing");
    peer.kill();
    let start = Instant::now();
    let mut rx = loop {
        match queue.receiver() {
            Ok(rx) => break rx,
            Err(e) if matches!(e.kind(), OpenErrorKind::AlreadyAttached { .. }) => {
                assert!(start.elapsed() < DETECTION_LIMIT, "{e}");
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => panic!("{e}"),
        }
    };
    for i in 0..30u32 {
        assert_eq!(rx.recv().unwrap(), format!("message {i}").as_bytes());
    }
}

/// `strict(true)` refuses a queue whose settings differ, naming both.
#[test]
fn strict_open_names_both_settings() {
    let (_q, _queue) = create_queue("strict", 64, 16, 1024);
    let name = _q.name.clone();
    let err = Queue::builder(&name)
        .slot_size(64)
        .slots(16)
        .max_message_size(64 << 20)
        .strict(true)
        .open_or_create()
        .unwrap_err();
    match err.kind() {
        OpenErrorKind::SettingsMismatch {
            setting,
            requested,
            found,
        } => assert_eq!(
            (*setting, *requested, *found),
            ("max message size", 64 << 20, 1024)
        ),
        other => panic!("{other:?}"),
    }
    let text = err.to_string();
    assert!(text.contains(&name) && text.contains("67108864") && text.contains("1024"));
    // Matching settings open; not strict, any settings do.
    Queue::builder(&name)
        .slot_size(64)
        .slots(16)
        .max_message_size(1024)
        .strict(true)
        .open()
        .unwrap();
    let lax = Queue::builder(&name).slots(4096).open_or_create().unwrap();
    assert_eq!(lax.slot_count(), 16);
}

/// Errors name the queue, in `Display` and in `Debug` (which
/// `main() -> Result<(), Box<dyn Error>>` prints).
#[test]
fn open_errors_name_the_queue() {
    let name = unique_name("missing");
    let err = Queue::open(&name).unwrap_err();
    assert!(matches!(err.kind(), OpenErrorKind::NotFound));
    assert_eq!(err.queue(), Some(name.as_str()));
    assert!(err.to_string().contains(&name), "{err}");
    assert!(format!("{err:?}").contains(&name), "{err:?}");
    let (_q, queue) = create_queue("held", 64, 16, 1024);
    let _tx = queue.sender().unwrap();
    let err = queue.sender().unwrap_err();
    assert!(err.to_string().contains(&_q.name), "{err}");
    let boxed: Box<dyn std::error::Error> = Box::new(OpenError::from(err.into_kind()));
    assert!(!boxed.to_string().is_empty());
}

/// `inspect` tells each end's state from the header: never attached,
/// attached (pid), detached, dead (pid).
#[test]
fn inspect_shows_each_end_state() {
    let _serial = serial();
    let (_q, queue) = create_queue("states", 128, 64, 1 << 20);
    let name = _q.name.clone();
    let stats = Queue::inspect(&name).unwrap();
    assert_eq!(stats.sender.state, EndState::NeverAttached);
    assert_eq!(stats.receiver.state, EndState::NeverAttached);
    assert!(stats.created.is_some());

    let tx = queue.sender().unwrap();
    let me = std::process::id();
    assert_eq!(
        Queue::inspect(&name).unwrap().sender.state,
        EndState::Attached { pid: me }
    );
    drop(tx);
    assert_eq!(
        Queue::inspect(&name).unwrap().sender.state,
        EndState::Detached
    );

    let mut peer = Peer::spawn(&["hold", &name, "role=receiver"]);
    peer.expect_line("ready", STARTUP);
    let pid = peer.pid();
    let stats = Queue::inspect(&name).unwrap();
    assert_eq!(stats.receiver.state, EndState::Attached { pid });
    assert_eq!(stats.receiver.pid, Some(pid));
    peer.kill();
    let start = Instant::now();
    loop {
        let state = Queue::inspect(&name).unwrap().receiver.state;
        if state == (EndState::Dead { pid }) {
            break;
        }
        assert!(start.elapsed() < DETECTION_LIMIT, "still {state}");
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(Queue::inspect(&name).unwrap().receiver.pid, None);
}

/// `inspect` maps the header alone: a 1 GiB queue (a sparse file with a
/// valid header) is inspected without its slots entering memory.
#[test]
fn inspect_does_not_map_the_slots() {
    let (small, _queue) = create_queue("big-src", 64, 2, 1024);
    // The whole header of a one-lane queue: 256 bytes and one lane's 384.
    let mut header = [0u8; 640];
    File::open(small.path())
        .unwrap()
        .read_exact(&mut header)
        .unwrap();
    let slots: u32 = 1 << 24; // 64 B x 2^24 = 1 GiB
    header[24..28].copy_from_slice(&slots.to_le_bytes());
    let size = 640 + 64 * u64::from(slots);
    header[40..48].copy_from_slice(&size.to_le_bytes());
    let big = TempQueue {
        name: unique_name("big"),
    };
    let mut file = File::create(big.path()).unwrap();
    file.write_all(&header).unwrap();
    file.set_len(size).unwrap();
    drop(file);

    let rss = || {
        let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
        let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
        pages * 4096
    };
    let before = rss();
    let stats = Queue::inspect(&big.name).unwrap();
    let grew = rss().saturating_sub(before);
    assert_eq!(stats.slot_count, 1 << 24);
    assert!(grew < 64 << 20, "inspect grew the RSS by {grew} bytes");
}

/// `stale` lists queues nobody holds once they are old enough, and
/// `remove_if_stale` removes only those.
#[test]
fn stale_queues_are_found_and_removed() {
    let _serial = serial();
    let (unused, unused_queue) = create_queue("stale-unused", 64, 16, 1024);
    drop(unused_queue.sender().unwrap()); // detached
    let (used, used_queue) = create_queue("stale-used", 64, 16, 1024);
    let _rx = used_queue.receiver().unwrap();
    let (dead, _dead_queue) = create_queue("stale-dead", 64, 16, 1024);
    let mut peer = Peer::spawn(&["hold", &dead.name, "role=sender"]);
    peer.expect_line("ready", STARTUP);
    peer.kill();
    let start = Instant::now();
    while Queue::inspect(&dead.name).unwrap().sender.state != (EndState::Dead { pid: peer.pid() }) {
        assert!(start.elapsed() < DETECTION_LIMIT);
        std::thread::sleep(Duration::from_millis(1));
    }

    let stale = Queue::stale(Duration::ZERO).unwrap();
    assert!(stale.contains(&unused.name), "{stale:?}");
    assert!(stale.contains(&dead.name), "{stale:?}");
    assert!(!stale.contains(&used.name), "{stale:?}");
    let young = Queue::stale(Duration::from_secs(3600)).unwrap();
    assert!(!young.contains(&unused.name), "{young:?}");

    assert!(!Queue::remove_if_stale(&used.name, Duration::ZERO).unwrap());
    assert!(!Queue::remove_if_stale(&unused.name, Duration::from_secs(3600)).unwrap());
    assert!(Queue::remove_if_stale(&unused.name, Duration::ZERO).unwrap());
    assert!(Queue::remove_if_stale(&dead.name, Duration::ZERO).unwrap());
    assert!(matches!(
        Queue::open(&unused.name).unwrap_err().kind(),
        OpenErrorKind::NotFound
    ));
    Queue::open(&used.name).unwrap();
}

/// A sender that sends after a pause learns of a receiver killed during
/// the pause on that very send when its earlier sends were spaced (the
/// clock is read on every send a tick or more after the last look), and
/// within 32 sends when the pause came right after a burst (which reads the
/// clock once every 32 sends).
#[test]
fn sends_after_a_pause_notice_killed_receiver() {
    let _serial = serial();
    for burst in [1u32, 99] {
        let (_q, queue) = create_queue("rx-pause", 128, 1024, 1 << 20);
        let name = queue.name().unwrap().to_owned();
        let mut peer = Peer::spawn(&["hold", &name, "role=receiver"]);
        peer.expect_line("ready", STARTUP);
        let mut tx = queue.sender().unwrap();
        for i in 0..burst {
            tx.send(&i.to_le_bytes()).unwrap();
        }
        peer.kill();
        // Longer than a liveness slice (40 ms) and the kill's reaping.
        std::thread::sleep(Duration::from_millis(300));
        let mut sent = 0u32;
        while tx.try_send(b"after the pause").is_ok() {
            sent += 1;
            assert!(sent <= 32, "burst {burst}: {sent} sends went through");
        }
        if burst == 1 {
            assert_eq!(sent, 0, "the first send after the pause must fail");
        }
        assert_eq!(tx.try_send(b"again"), Err(TrySendError::Disconnected));
        assert_eq!(
            tx.last_departure(),
            Some(Departure::Died { pid: peer.pid() })
        );
        assert_eq!(queue.stats().messages_queued, u64::from(burst + sent));
    }
}
