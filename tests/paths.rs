//! The zero-copy, typed and synchronous paths across processes, the message
//! size limit on both sides, and a receiver facing a forged segment.

mod support;

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::time::{Duration, Instant};

use shmq::TrySendError;
use shmq::{RecvError, RecvTimeoutError, SendError, SendTimeoutError, TryRecvError};
use support::{
    Peer, Stream, TempQueue, Tick, background, create_queue, numbers, serial, test_seed,
};

const STARTUP: Duration = Duration::from_secs(10);
const LIMIT: Duration = Duration::from_secs(60);

/// Every message goes through `reserve`/`commit`; before every third one a
/// reservation is written with garbage and dropped. The receiving process
/// checks the exact stream, so a dropped guard published nothing.
#[test]
fn reserve_commit_across_processes_and_dropped_guards_publish_nothing() {
    let _serial = serial();
    let seed = test_seed();
    eprintln!("seed {seed:#x}");
    let (temp, queue) = create_queue("paths-reserve", 64, 16, 1 << 20);
    let capacity = queue.capacity();
    let stream = Stream::for_queue(seed, &queue, Some(capacity));
    let count = 3000;
    let total_bytes = stream.total_bytes(count);
    let mut tx = queue.sender().unwrap();
    let mut peer = Peer::spawn(&[
        "recv-stream",
        &temp.name,
        &format!("seed={seed:#x}"),
        &format!("count={count}"),
        &format!("max={capacity}"),
    ]);
    let sent = background("reserving", move || -> Result<u64, String> {
        let mut dropped = 0;
        for seq in 0..count {
            if seq % 3 == 0 {
                let garbage = (seq as usize * 37) % (capacity + 1);
                {
                    let mut guard = tx.reserve(garbage).map_err(|e| e.to_string())?;
                    guard.fill(0xEE);
                    // Goes out of scope without commit.
                }
                dropped += 1;
            }
            let len = stream.len(seq);
            let mut guard = tx
                .reserve(len)
                .map_err(|e| format!("seq {seq}: reserve({len}): {e}"))?;
            assert_eq!(guard.len(), len);
            stream.fill(seq, &mut guard);
            guard.commit();
        }
        Ok(dropped)
    })
    .join_watching(LIMIT, &mut peer);
    let dropped = sent.unwrap_or_else(|e| panic!("{e}; peer stderr: {}", peer.stderr()));
    let out = peer.finish(LIMIT);
    assert_eq!(numbers(out.trim(), "received"), [count, total_bytes]);
    let stats = queue.stats();
    assert_eq!(
        stats.sender.messages, count,
        "{dropped} dropped guards counted as messages"
    );
    assert_eq!(stats.receiver.messages, count);
}

/// Address range `[start, end)` of this process's mapping of `path`.
fn mapping_of(path: &str) -> (usize, usize) {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    for line in maps.lines() {
        let mut fields = line.split_whitespace();
        let range = fields.next().unwrap();
        let file = fields.nth(4).unwrap_or("");
        if file == path {
            let (start, end) = range.split_once('-').unwrap();
            return (
                usize::from_str_radix(start, 16).unwrap(),
                usize::from_str_radix(end, 16).unwrap(),
            );
        }
    }
    panic!("{path} is not mapped:\n{maps}");
}

/// `recv_with` hands the closure the bytes where they lie in the shared
/// mapping, for every message that fits the ring (those longer come from
/// the reassembly buffer, outside it). Checked against `/proc/self/maps`:
/// each slice is inside the slot area, right after a record header at a
/// slot boundary.
#[test]
fn recv_with_reads_in_place_in_the_shared_mapping() {
    let _serial = serial();
    let seed = test_seed();
    eprintln!("seed {seed:#x}");
    let (temp, queue) = create_queue("paths-inplace", 64, 64, 1 << 20);
    let mut rx = queue.receiver().unwrap();
    let stream = Stream::for_queue(seed, &queue, None);
    let (capacity, slot_size) = (queue.capacity(), queue.slot_size());
    let (map_start, map_end) = mapping_of(&temp.path());
    // The slots follow the header: 256 bytes and one lane's 384.
    let slots_start = map_start + 640;
    let slots_end = slots_start + slot_size * queue.slot_count();
    assert!(slots_end <= map_end);
    let count = 2000;
    let mut peer = Peer::spawn(&[
        "send-stream",
        &temp.name,
        &format!("seed={seed:#x}"),
        &format!("count={count}"),
        &format!("max={}", stream.max),
    ]);
    let (in_place, assembled) = background("receiving in place", move || {
        let (mut in_place, mut assembled) = (0, 0);
        for seq in 0..count {
            let (at, len) = rx
                .recv_with(|bytes| {
                    stream.check(seq, bytes).unwrap_or_else(|e| panic!("{e}"));
                    (bytes.as_ptr() as usize, bytes.len())
                })
                .unwrap_or_else(|e| panic!("seq {seq}: {e}"));
            let inside = at >= slots_start && at + len <= slots_end;
            if len <= capacity {
                assert!(
                    inside,
                    "seq {seq}: {len}-byte message at {at:#x}, not in the ring \
                     {slots_start:#x}..{slots_end:#x}"
                );
                assert_eq!(
                    (at - slots_start) % slot_size,
                    16,
                    "seq {seq}: not right after a record header"
                );
                in_place += 1;
            } else {
                assert!(!inside, "seq {seq}: a {len}-byte message inside the ring?");
                assembled += 1;
            }
        }
        assert_eq!(rx.recv_with(|b| b.len()), Err(RecvError::Disconnected));
        (in_place, assembled)
    })
    .join_watching(LIMIT, &mut peer);
    peer.finish(LIMIT);
    eprintln!("{in_place} messages read in place, {assembled} reassembled");
    assert!(in_place > 0 && assembled > 0);
}

/// `send_pod`/`recv_pod` both ways between processes; a 3-byte message
/// gives `WrongSize` (and is consumed), the next value still arrives.
#[test]
fn pod_values_both_ways_and_wrong_size() {
    let _serial = serial();
    let count = 1000;
    let expected = std::mem::size_of::<Tick>();
    assert_eq!(expected, 32);

    // Peer sends, test receives.
    let (temp, queue) = create_queue("paths-pod", 64, 16, 1 << 20);
    let mut rx = queue.receiver().unwrap();
    let mut peer = Peer::spawn(&["send-pod", &temp.name, &format!("count={count}")]);
    background("receiving ticks", move || {
        for seq in 0..count {
            let tick: Tick = rx.recv_pod().unwrap_or_else(|e| panic!("tick {seq}: {e}"));
            assert_eq!(tick, Tick::new(seq));
        }
        assert_eq!(
            rx.recv_pod::<Tick>(),
            Err(RecvError::WrongSize { expected, found: 3 })
        );
        assert_eq!(rx.recv_pod::<Tick>(), Ok(Tick::new(count)));
        assert_eq!(rx.recv_pod::<Tick>(), Err(RecvError::Disconnected));
        assert_eq!(rx.try_recv_pod::<Tick>(), Err(TryRecvError::Disconnected));
    })
    .join_watching(LIMIT, &mut peer);
    assert_eq!(numbers(peer.finish(LIMIT).trim(), "sent"), [count]);

    // Test sends, peer receives.
    let (temp, queue) = create_queue("paths-pod-r", 64, 16, 1 << 20);
    let mut tx = queue.sender().unwrap();
    let mut peer = Peer::spawn(&["recv-pod", &temp.name, &format!("count={count}")]);
    background("sending ticks", move || {
        for seq in 0..count {
            tx.send_pod(&Tick::new(seq)).unwrap();
        }
        tx.send(b"odd").unwrap();
        tx.send_pod(&Tick::new(count)).unwrap();
    })
    .join_watching(LIMIT, &mut peer);
    assert_eq!(numbers(peer.finish(LIMIT).trim(), "received"), [count]);
}

/// `send_sync` returns only once the receiving process has taken the
/// message: the peer waits 200 ms before each receive, so it takes that
/// long, and the queue is empty afterwards; a plain `send` returns at once.
#[test]
fn send_sync_waits_for_the_receiving_process() {
    let _serial = serial();
    let seed = test_seed();
    let (temp, queue) = create_queue("paths-sync", 64, 64, 1 << 20);
    let stream = Stream::for_queue(seed, &queue, Some(1000));
    let mut tx = queue.sender().unwrap();
    let mut peer = Peer::spawn(&[
        "slow-recv",
        &temp.name,
        &format!("seed={seed:#x}"),
        "count=2",
        "delay_ms=200",
        "max=1000",
    ]);
    peer.expect_line("ready", STARTUP);
    let (first, second) = (stream.message(0), stream.message(1));
    let (tx, took) = background("send_sync", move || {
        let start = Instant::now();
        tx.send_sync(&first).unwrap();
        (tx, start.elapsed())
    })
    .join(LIMIT);
    let mut tx = tx;
    eprintln!("send_sync took {took:.1?} (the receiver waited 200 ms)");
    assert!(
        took >= Duration::from_millis(150),
        "send_sync returned after {took:?}"
    );
    assert!(
        tx.is_empty(),
        "send_sync returned before the message was taken"
    );
    assert_eq!(queue.stats().receiver.messages, 1);

    let start = Instant::now();
    tx.send(&second).unwrap();
    let took = start.elapsed();
    assert!(!tx.is_empty(), "the sleeping receiver took it already?");
    assert!(
        took < Duration::from_millis(100),
        "plain send took {took:?}"
    );
    tx.flush_timeout(Duration::from_secs(10)).unwrap();
    assert!(tx.is_empty());
    drop(tx);
    let out = peer.finish(LIMIT);
    assert_eq!(numbers(out.trim(), "received")[0], 2);
}

/// A message longer than `max_message_size` is refused by every send
/// flavour and publishes nothing; one of exactly that size (fragmented)
/// arrives, as does the rest of the stream, checked by the peer. A
/// reservation is limited by the smaller of the ring and the limit.
#[test]
fn max_message_size_is_enforced_on_send() {
    let _serial = serial();
    let seed = test_seed();
    eprintln!("seed {seed:#x}");
    let max = 10_000;
    let (temp, queue) = create_queue("paths-max", 64, 16, max as u64);
    let capacity = queue.capacity();
    // All slots but one (a record leaves the next one free for the next
    // commit word), less the record header.
    assert_eq!(capacity, 15 * 64 - 16);
    let mut tx = queue.sender().unwrap();
    assert_eq!(tx.max_message_size(), max as u64);
    let stream = Stream::for_queue(seed, &queue, Some(max));
    assert!(stream.edges().contains(&max));
    let count = 400;
    let mut peer = Peer::spawn(&[
        "recv-stream",
        &temp.name,
        &format!("seed={seed:#x}"),
        &format!("count={count}"),
        &format!("max={max}"),
    ]);
    let too_long = vec![0xAB; max + 1];
    let sent = background("sending", move || {
        let mut buf = Vec::new();
        for seq in 0..count {
            assert_eq!(
                tx.send(&too_long),
                Err(SendError::TooLarge { len: max + 1, max })
            );
            if seq == 0 {
                assert_eq!(
                    tx.try_send(&too_long),
                    Err(TrySendError::TooLarge { len: max + 1, max })
                );
                assert_eq!(
                    tx.send_timeout(&too_long, Duration::from_secs(1)),
                    Err(SendTimeoutError::TooLarge { len: max + 1, max })
                );
                assert_eq!(
                    tx.send_sync(&too_long),
                    Err(SendError::TooLarge { len: max + 1, max })
                );
                assert!(matches!(
                    tx.reserve(capacity + 1),
                    Err(SendError::TooLarge { len, max }) if len == capacity + 1 && max == capacity
                ));
            }
            support::send_one(&mut tx, &stream, seq, &mut buf)
                .unwrap_or_else(|e| panic!("seq {seq}: {e}"));
        }
    });
    sent.join_watching(LIMIT, &mut peer);
    let out = peer.finish(LIMIT);
    assert_eq!(numbers(out.trim(), "received")[0], count);

    // A limit below the ring's capacity bounds reservations too.
    let (_temp, queue) = create_queue("paths-max-small", 64, 16, 100);
    let mut tx = queue.sender().unwrap();
    let mut rx = queue.receiver().unwrap();
    assert_eq!(
        tx.send(&[1; 101]),
        Err(SendError::TooLarge { len: 101, max: 100 })
    );
    assert!(matches!(
        tx.reserve(101),
        Err(SendError::TooLarge { len: 101, max: 100 })
    ));
    tx.send(&[2; 100]).unwrap();
    assert_eq!(rx.recv().unwrap(), [2; 100]);
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
}

/// A limit below a slot's payload: the sender's one-slot fast path must not
/// let through a message that fits the slot but not the limit, for any send
/// flavour, and a message of exactly the limit goes through it.
#[test]
fn max_message_size_below_one_slot_is_enforced_on_send() {
    let (_temp, queue) = create_queue("paths-small-max", 128, 4, 32);
    let (mut tx, mut rx) = (queue.sender().unwrap(), queue.receiver().unwrap());
    for len in [33, 112, 113] {
        let msg = vec![0x5A; len];
        let too_large = SendError::TooLarge { len, max: 32 };
        assert_eq!(tx.send(&msg), Err(too_large));
        assert_eq!(
            tx.try_send(&msg),
            Err(TrySendError::TooLarge { len, max: 32 })
        );
        assert_eq!(
            tx.send_timeout(&msg, Duration::from_millis(10)),
            Err(SendTimeoutError::TooLarge { len, max: 32 })
        );
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty), "{len} bytes");
    }
    for seq in 0..20u8 {
        let msg = vec![seq; 32];
        tx.send(&msg).unwrap();
        assert_eq!(rx.try_recv().unwrap(), msg);
    }
}

/// Writes a record `{len, kind, total}` at position `at` (slot
/// `at % slot_count`) of the queue's file as a (fake) sender commits it: the payload (`len` zero bytes, as
/// many as fit before the end of the ring), `len` and `total`, then the
/// commit word `kind | (at << 8)`, which publishes the rest. Head is not
/// set: the receiver polls the commit word at its tail and never reads it.
fn forge(temp: &TempQueue, queue: &shmq::Queue, at: u64, record: (u32, u32, u64)) {
    forge_stamped(temp, queue, at, at, record);
}

/// Like [`forge`], but with the commit word stamped for position `stamp`.
fn forge_stamped(
    temp: &TempQueue,
    queue: &shmq::Queue,
    at: u64,
    stamp: u64,
    record: (u32, u32, u64),
) {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(temp.path())
        .unwrap();
    let (len, kind, total) = record;
    let (slot_size, slot_count) = (queue.slot_size() as u64, queue.slot_count() as u64);
    // The slots of a one-lane queue start at 640 (src/layout.rs).
    let start = 640 + (at % slot_count) * slot_size;
    let room = 640 + slot_count * slot_size - (start + 16);
    file.write_at(&vec![0u8; u64::from(len).min(room) as usize], start + 16)
        .unwrap();
    file.write_at(&len.to_le_bytes(), start).unwrap();
    file.write_at(&total.to_le_bytes(), start + 8).unwrap();
    // Record first, then the commit word that publishes it.
    let commit = kind | ((stamp as u32) << 8);
    file.write_at(&commit.to_le_bytes(), start + 4).unwrap();
}

const FIRST: u32 = 3;
const MESSAGE: u32 = 1;

fn expect_corrupted(rx: &mut shmq::Receiver, what: &str) -> &'static str {
    let check = match rx.recv_timeout(Duration::from_secs(5)) {
        Err(RecvTimeoutError::Corrupted(e)) => e.check(),
        Ok(msg) => panic!("{what}: received a {}-byte message", msg.len()),
        Err(e) => panic!("{what}: expected Corrupted, got {e:?}"),
    };
    // The handle stays poisoned.
    assert!(
        matches!(rx.try_recv(), Err(TryRecvError::Corrupted(_))),
        "{what}: not poisoned"
    );
    check
}

/// A forged first fragment announcing a message longer than
/// `max_message_size` (by one byte, and by far) makes the receiver report
/// `Corrupted` without allocating it or panicking; so does a whole-message
/// record longer than the limit.
#[test]
fn forged_oversized_messages_are_corrupted() {
    let _serial = serial();

    // First fragment of a message one byte over the limit.
    let (temp, queue) = create_queue("paths-forge-1", 64, 16, 1000);
    let mut rx = queue.receiver().unwrap();
    // 100 payload bytes: ceil((16 + 100) / 64) = 2 slots.
    forge(&temp, &queue, 0, (100, FIRST, 1001));
    let check = expect_corrupted(&mut rx, "first fragment, total = max + 1");
    assert!(check.contains("max_message_size"), "check: {check}");

    // A whole message longer than the limit (the limit is below the ring).
    let (temp, queue) = create_queue("paths-forge-2", 64, 16, 100);
    let mut rx = queue.receiver().unwrap();
    forge(&temp, &queue, 0, (200, MESSAGE, 200));
    let check = expect_corrupted(&mut rx, "message of 200 bytes, limit 100");
    assert!(check.contains("max_message_size"), "check: {check}");

    // A total of u64::MAX, received in another process: allocating it would
    // abort that process, panicking would exit with 101.
    let (temp, queue) = create_queue("paths-forge-3", 64, 16, 64 << 20);
    let mut peer = Peer::spawn(&["expect-corrupt", &temp.name]);
    peer.expect_line("ready", STARTUP);
    forge(&temp, &queue, 0, (100, FIRST, u64::MAX));
    let out = peer.finish(LIMIT);
    assert!(
        out.starts_with("corrupted") && out.contains("max_message_size"),
        "peer printed {out:?}"
    );
}

/// A record stamped for another position than the receiver's tail (left
/// from the lap before, or stamped for the next position) is `Corrupted`,
/// where real traffic moved the tail, and in another process, where a
/// Message stamped for position 0 meets a receiver at position 16.
#[test]
fn forged_stamps_for_another_position_are_corrupted() {
    let _serial = serial();
    const STAMPED: &str = "record stamped for another position";
    let slots = 16;
    for (what, lap_before) in [("the lap before", true), ("the next position", false)] {
        let (temp, queue) = create_queue("paths-stamp", 64, slots, 1 << 20);
        let mut tx = queue.sender().unwrap();
        let mut rx = queue.receiver().unwrap();
        // A lap and a half of two-slot messages, through the real sender.
        for i in 0..12u8 {
            tx.send(&[i; 100]).unwrap();
            assert_eq!(rx.recv().unwrap(), [i; 100]);
        }
        // The sender's hello record, 7 records of two slots, a one-slot
        // padding record at the end of the ring, 5 more records.
        let tail = 26;
        let mut word = [0u8; 8];
        let file = OpenOptions::new().read(true).open(temp.path()).unwrap();
        // Lane 0's tail (src/layout.rs).
        file.read_exact_at(&mut word, 384).unwrap();
        assert_eq!(u64::from_le_bytes(word), tail, "{what}: tail");
        let stamp = if lap_before {
            tail - slots as u64
        } else {
            tail + 1
        };
        forge_stamped(&temp, &queue, tail, stamp, (5, MESSAGE, 5));
        let check = expect_corrupted(&mut rx, what);
        assert_eq!(check, STAMPED, "{what}");
        drop(tx);
    }

    // In another process: head and tail at 16, slot 0 holding a Message
    // stamped for position 0 (one byte of the commit word changes, so the
    // peer cannot read it torn).
    let (temp, queue) = create_queue("paths-stamp-peer", 64, slots, 1 << 20);
    let file = OpenOptions::new().write(true).open(temp.path()).unwrap();
    // Lane 0's head and tail (src/layout.rs).
    for offset in [256, 384] {
        file.write_at(&16u64.to_le_bytes(), offset).unwrap();
    }
    let mut peer = Peer::spawn(&["expect-corrupt", &temp.name]);
    peer.expect_line("ready", STARTUP);
    forge_stamped(&temp, &queue, 16, 0, (3, MESSAGE, 3));
    let out = peer.finish(LIMIT);
    assert_eq!(
        out.trim(),
        format!("corrupted {STAMPED}"),
        "peer printed {out:?}"
    );
}
