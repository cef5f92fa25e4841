//! Mailboxes: many senders, one receiver (`QueueBuilder::senders`).
//!
//! In one process (threads) for the API and the order guarantees, and
//! across processes for what must survive `kill -9`: random senders killed
//! at random moments, again and again, while the others keep sending; and a
//! receiver killed and taken over.

mod support;

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use shmq::{OpenErrorKind, Queue, QueueBuilder, RecvError, SenderId, TryRecvError, WaitStrategy};
use support::{Peer, Rng, Stream, TempQueue, background, serial, test_seed, unique_name};

const STARTUP: Duration = Duration::from_secs(10);
const LIMIT: Duration = Duration::from_secs(60);

fn in_process(senders: usize, slots: usize) -> Queue {
    QueueBuilder::in_process()
        .senders(senders)
        .slot_size(64)
        .slots(slots)
        .max_message_size(1 << 20)
        .create()
        .unwrap()
}

fn named(tag: &str, senders: usize, slots: usize, max: u64) -> (TempQueue, Queue) {
    let name = unique_name(tag);
    let queue = Queue::builder(&name)
        .senders(senders)
        .slot_size(64)
        .slots(slots)
        .max_message_size(max)
        .create()
        .unwrap_or_else(|e| panic!("creating {name}: {e}"));
    (TempQueue { name }, queue)
}

/// Four threads, each on its own lane, send a stream of random sizes
/// (up to three times a lane's capacity, so fragments too); every message
/// arrives whole, in order per sender, tagged with the right lane and pid.
#[test]
fn four_senders_fifo_per_sender() {
    let q = in_process(4, 16);
    let mut rx = q.receiver().unwrap();
    let seed = test_seed();
    let count = 2_000u64;
    let mut lanes = HashMap::new();
    let mut threads = Vec::new();
    for k in 0..4u64 {
        let mut tx = q.sender().unwrap();
        let stream = Stream::for_queue(seed ^ k, &q, None);
        lanes.insert(tx.lane(), stream.clone());
        threads.push(std::thread::spawn(move || {
            let mut buf = Vec::new();
            for seq in 0..count {
                support::send_one(&mut tx, &stream, seq, &mut buf).unwrap();
            }
        }));
    }
    assert_eq!(lanes.len(), 4, "each sender has a lane of its own");
    let mut next: HashMap<usize, u64> = HashMap::new();
    for _ in 0..4 * count {
        let (from, msg) = rx.recv_from().unwrap();
        assert_eq!(from.pid(), Some(std::process::id()));
        let seq = next.entry(from.lane()).or_default();
        lanes[&from.lane()].check(*seq, &msg).unwrap();
        *seq += 1;
    }
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(rx.recv(), Err(RecvError::Disconnected));
    assert!(next.values().all(|&n| n == count), "{next:?}");
}

/// Lanes are a limit: the error names it; a plain queue still names the
/// holder; a lane given back is taken again.
#[test]
fn too_many_senders_names_the_limit() {
    let q = in_process(2, 4);
    let a = q.sender().unwrap();
    let b = q.sender().unwrap();
    let err = q.sender().unwrap_err();
    assert!(
        matches!(err.kind(), OpenErrorKind::TooManySenders { limit: 2 }),
        "{err:?}"
    );
    assert!(err.to_string().contains("all 2 sender lanes"), "{err}");
    let freed = b.lane();
    drop(b);
    assert_eq!(q.sender().unwrap().lane(), freed);
    drop(a);

    let plain = in_process(1, 4);
    let _tx = plain.sender().unwrap();
    assert!(matches!(
        plain.sender().unwrap_err().kind(),
        OpenErrorKind::AlreadyAttached { .. }
    ));
    for bad in [0, shmq::MAX_SENDERS + 1] {
        let err = QueueBuilder::in_process()
            .senders(bad)
            .create()
            .unwrap_err();
        assert!(
            matches!(err.kind(), OpenErrorKind::InvalidOptions(_)),
            "{err:?}"
        );
    }
}

/// With every sender's messages waiting, the receiver alternates between
/// the lanes; a busy sender cannot starve a quiet one.
#[test]
fn lanes_are_served_round_robin() {
    let q = in_process(3, 64);
    let mut rx = q.receiver().unwrap();
    let mut senders: Vec<_> = (0..3).map(|_| q.sender().unwrap()).collect();
    for (k, tx) in senders.iter_mut().enumerate() {
        // Lane 0 has many, the others few.
        let n = if k == 0 { 40 } else { 3 };
        for i in 0..n {
            tx.send(&[k as u8, i]).unwrap();
        }
    }
    // Strict alternation with a quantum of one message.
    rx.set_lane_quantum(1);
    let order: Vec<usize> = (0..9).map(|_| rx.recv_from().unwrap().0.lane()).collect();
    assert_eq!(order, [0, 1, 2, 0, 1, 2, 0, 1, 2]);
    assert_eq!(rx.last_sender().map(|s| s.lane()), Some(2));
}

/// By default a lane is served up to 32 messages in a row while it has
/// more, then the next lane's turn comes.
#[test]
fn lanes_are_served_by_quanta() {
    let q = in_process(3, 64);
    let mut rx = q.receiver().unwrap();
    assert_eq!(rx.lane_quantum(), 32);
    let mut senders: Vec<_> = (0..3).map(|_| q.sender().unwrap()).collect();
    for (k, tx) in senders.iter_mut().enumerate() {
        let n = if k == 0 { 40 } else { 3 };
        for i in 0..n {
            tx.send(&[k as u8, i]).unwrap();
        }
    }
    let order: Vec<usize> = (0..46).map(|_| rx.recv_from().unwrap().0.lane()).collect();
    let mut expected = vec![0; 32];
    expected.extend([1, 1, 1, 2, 2, 2]);
    expected.extend([0; 8]);
    assert_eq!(order, expected);
}

/// A sender in the middle of a message longer than its lane does not hold
/// up the others: their messages come in between the fragments.
#[test]
fn a_long_message_does_not_block_other_lanes() {
    let q = in_process(2, 8); // capacity 432 bytes
    let mut rx = q.receiver().unwrap();
    let mut big = q.sender().unwrap();
    let mut small = q.sender().unwrap();
    let long: Vec<u8> = (0..5_000u32).map(|i| i as u8).collect();
    let long2 = long.clone();
    let t = std::thread::spawn(move || big.send(&long2).unwrap());
    // Let the long one start streaming, then send short ones.
    std::thread::sleep(Duration::from_millis(20));
    for i in 0..5u8 {
        small.send(&[i]).unwrap();
    }
    let mut short = 0;
    let mut got_long = false;
    while short < 5 || !got_long {
        let msg = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        if msg.len() == 1 {
            assert_eq!(msg[0], short);
            short += 1;
        } else {
            assert_eq!(msg, long);
            got_long = true;
        }
    }
    t.join().unwrap();
}

/// `Disconnected` comes only when every sender the receiver saw has left
/// (after draining them all), and ends when a new sender attaches.
#[test]
fn disconnected_once_all_senders_left() {
    let q = in_process(3, 8);
    let mut rx = q.receiver().unwrap();
    let mut a = q.sender().unwrap();
    let mut b = q.sender().unwrap();
    a.send(b"a").unwrap();
    b.send(b"b").unwrap();
    drop(a);
    assert_eq!(rx.recv().unwrap(), b"a");
    assert_eq!(rx.recv().unwrap(), b"b");
    // One sender left, the other is still there: no Disconnected.
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    assert_eq!(
        rx.recv_timeout(Duration::from_millis(50)),
        Err(shmq::RecvTimeoutError::Timeout)
    );
    b.send(b"last").unwrap();
    drop(b);
    assert_eq!(rx.recv().unwrap(), b"last");
    assert_eq!(rx.recv(), Err(RecvError::Disconnected));
    assert_eq!(rx.recv(), Err(RecvError::Disconnected), "sticky");
    assert_eq!(rx.last_departure(), Some(shmq::Departure::Detached));
    let mut c = q.sender().unwrap();
    rx.wait_for_sender_timeout(Duration::from_secs(5)).unwrap();
    c.send(b"c").unwrap();
    assert_eq!(rx.recv().unwrap(), b"c");
}

/// A batch holds one sender's messages; the next batch takes the next lane.
#[test]
fn a_batch_holds_one_lane() {
    let q = in_process(2, 16);
    let mut rx = q.receiver().unwrap();
    let mut a = q.sender().unwrap();
    let mut b = q.sender().unwrap();
    for i in 0..3u8 {
        a.send(&[0, i]).unwrap();
        b.send(&[1, i]).unwrap();
    }
    for expected_lane in [a.lane(), b.lane()] {
        let mut batch = rx.recv_batch().unwrap();
        let mut n = 0;
        while let Some(msg) = batch.next() {
            assert_eq!(msg, [expected_lane as u8, n]);
            n += 1;
        }
        assert_eq!(n, 3);
        batch.release();
        assert_eq!(rx.last_sender().unwrap().lane(), expected_lane);
    }
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
}

/// Strict opens compare the number of senders too; `stats` shows each lane.
#[test]
fn strict_senders_and_lane_stats() {
    let (temp, q) = named("mbx-stats", 3, 8, 1 << 16);
    let err = Queue::builder(&temp.name)
        .slot_size(64)
        .slots(8)
        .max_message_size(1 << 16)
        .strict(true)
        .open()
        .unwrap_err();
    assert!(
        matches!(
            err.kind(),
            OpenErrorKind::SettingsMismatch {
                setting: "senders",
                requested: 1,
                found: 3
            }
        ),
        "{err:?}"
    );
    assert_eq!(Queue::open(&temp.name).unwrap().senders(), 3);
    let mut tx = q.sender().unwrap();
    tx.send(b"one").unwrap();
    tx.send(b"two").unwrap();
    let stats = Queue::inspect(&temp.name).unwrap();
    assert_eq!(stats.flavour, "mailbox");
    assert_eq!(stats.lanes.len(), 3);
    let lane = &stats.lanes[tx.lane()];
    assert_eq!(lane.messages_queued, 2);
    assert_eq!(lane.sender.pid, Some(std::process::id()));
    assert_eq!(stats.messages_queued, 2);
    assert!(
        stats
            .lanes
            .iter()
            .filter(|l| l.index != tx.lane())
            .all(|l| { l.sender.state == shmq::EndState::NeverAttached && l.messages_queued == 0 })
    );
}

// ---------------------------------------------------------------------------
// Across processes.

/// Receives from a mailbox whose senders are `shmq-peer send-stream`
/// processes, one stream (seed) per pid, checking each message against its
/// sender's stream in order. Stops at `Disconnected`.
struct Checker {
    streams: HashMap<u32, Stream>,
    next: HashMap<u32, u64>,
}

impl Checker {
    fn new() -> Self {
        Checker {
            streams: HashMap::new(),
            next: HashMap::new(),
        }
    }

    fn expect(&mut self, pid: u32, stream: Stream) {
        self.streams.insert(pid, stream);
        self.next.insert(pid, 0);
    }

    fn take(&mut self, from: SenderId, msg: &[u8]) {
        let pid = from.pid().expect("every message names its sender");
        let stream = self
            .streams
            .get(&pid)
            .unwrap_or_else(|| panic!("message from unknown pid {pid} on lane {}", from.lane()));
        let seq = self.next.get_mut(&pid).unwrap();
        stream
            .check(*seq, msg)
            .unwrap_or_else(|e| panic!("pid {pid} lane {}: {e}", from.lane()));
        *seq += 1;
    }

    /// Receives until every sender is gone: until `Disconnected` after
    /// `ended` is set (every sender process has exited or been killed and
    /// reaped). An earlier `Disconnected` only says that the senders
    /// attached so far have left; more may be starting.
    fn drain(&mut self, rx: &mut shmq::Receiver, ended: &OnceLock<()>) {
        let deadline = Instant::now() + LIMIT;
        loop {
            assert!(
                Instant::now() < deadline,
                "no end of the senders (received so far {:?})",
                self.next
            );
            let last = ended.get().is_some();
            let wait = if last {
                LIMIT
            } else {
                Duration::from_millis(10)
            };
            match rx.recv_from_timeout(wait) {
                Ok((from, msg)) => self.take(from, &msg),
                Err(shmq::RecvTimeoutError::Disconnected) if last => return,
                Err(shmq::RecvTimeoutError::Disconnected) => {
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(shmq::RecvTimeoutError::Timeout) if !last => {}
                Err(e) => panic!("receive: {e:?} (received so far {:?})", self.next),
            }
        }
    }
}

/// Sender processes killed at random moments, round after round, with
/// survivors sending on: each survivor's stream arrives complete, each
/// killed sender's stream is a clean prefix (nothing torn, duplicated or
/// reordered; its partial record or fragment chain dropped), no receive
/// hangs, and the lanes of the dead are taken by the next round's senders.
#[test]
fn killed_senders_leave_clean_prefixes() {
    let _serial = serial();
    let seed = test_seed();
    eprintln!("seed {seed:#x}");
    let mut rng = Rng::new(seed);
    let (temp, q) = named("mbx-kill", 4, 16, 1 << 20);
    let mut rx = q.receiver().unwrap();
    let rounds = 100;
    let mut kills = 0;
    let mut complete = 0;
    let (mut killed_before, mut killed_midway, mut killed_after) = (0, 0, 0);
    for round in 0..rounds {
        let mut checker = Checker::new();
        let mut peers = Vec::new();
        for k in 0..4u64 {
            let stream_seed = mix(seed, round, k);
            let count = 2000 + rng.upto(4000) as u64;
            let peer = Peer::spawn(&[
                "send-stream",
                &temp.name,
                &format!("seed={stream_seed:#x}"),
                &format!("count={count}"),
                "announce=1",
            ]);
            checker.expect(peer.pid(), Stream::for_queue(stream_seed, &q, None));
            peers.push((peer, count));
        }
        // Kill two or three of them, each after a random pause.
        let victims = 2 + rng.upto(1);
        let ended = Arc::new(OnceLock::new());
        let receiver_ended = Arc::clone(&ended);
        let receiving = background("mailbox receiver", move || {
            checker.drain(&mut rx, &receiver_ended);
            (rx, checker)
        });
        let mut killed = Vec::new();
        for (peer, count) in peers.iter_mut().take(victims) {
            peer.expect_line("attached", STARTUP);
            std::thread::sleep(Duration::from_micros(rng.upto(3_000) as u64));
            // One that already sent everything and left is a survivor.
            if peer.exited().is_none() {
                peer.kill();
                killed.push((peer.pid(), *count));
                kills += 1;
            }
        }
        let mut survivors = Vec::new();
        for (peer, count) in peers {
            let pid = peer.pid();
            if killed.iter().any(|&(p, _)| p == pid) {
                continue;
            }
            let out = peer.finish(LIMIT);
            let sent = format!("sent {count} ");
            assert!(out.lines().any(|l| l.starts_with(&sent)), "{out:?}");
            survivors.push((pid, count));
        }
        ended.set(()).unwrap();
        let (back, checker) = receiving.join(LIMIT);
        rx = back;
        for (pid, count) in survivors {
            assert_eq!(checker.next[&pid], count, "round {round}: survivor {pid}");
            complete += 1;
        }
        // The killed ones: a prefix (checked message by message), maybe
        // empty, never more than they were asked to send.
        for (pid, count) in killed {
            match checker.next[&pid] {
                0 => killed_before += 1,
                n if n < count => killed_midway += 1,
                _ => killed_after += 1,
            }
        }
        assert_eq!(q.stats().lanes.iter().map(|l| l.slots_used).sum::<u64>(), 0);
    }
    eprintln!(
        "{rounds} rounds: {kills} senders killed ({killed_before} before their first \
         message, {killed_midway} in the middle of their stream, {killed_after} after \
         their last), {complete} survivors complete"
    );
    assert!(kills >= 200);
    // The kills must mostly land while the senders send.
    assert!(
        killed_midway * 2 >= kills,
        "only {killed_midway} of {kills} mid-stream"
    );
}

/// Seeds of the kill rounds' streams.
fn mix(seed: u64, round: u64, k: u64) -> u64 {
    support::mix64(seed ^ round.wrapping_mul(0x9E37_79B9) ^ k.wrapping_mul(0x85EB_CA6B) ^ 1)
}

/// The receiver is killed with messages of several senders still queued
/// (some of them read, in a batch, but not released); a new receiver takes
/// over and gets every message committed, each sender's in order, with the
/// right sender named, from where the dead one had released.
#[test]
fn receiver_killed_and_taken_over() {
    let _serial = serial();
    let seed = test_seed();
    let (temp, q) = named("mbx-rx", 4, 64, 1 << 20);
    let mut checker = Checker::new();
    let mut counts = Vec::new();
    for k in 0..3u64 {
        let stream_seed = mix(seed, 99, k);
        let peer = Peer::spawn(&[
            "send-stream",
            &temp.name,
            &format!("seed={stream_seed:#x}"),
            "count=20",
            "max=200",
            "hold=1",
        ]);
        let stream = Stream::for_queue(stream_seed, &q, Some(200));
        checker.expect(peer.pid(), stream);
        counts.push(peer);
    }
    for peer in &mut counts {
        peer.expect_line("sent", STARTUP);
    }
    let mut holder = Peer::spawn(&["batch-hold", &temp.name, "count=3"]);
    holder.expect_line("held", STARTUP);
    holder.kill();
    holder.wait(LIMIT);
    let mut rx = q.receiver().unwrap();
    for _ in 0..60 {
        let (from, msg) = rx.recv_from_timeout(LIMIT).unwrap();
        checker.take(from, &msg);
    }
    assert!(
        checker.next.values().all(|&n| n == 20),
        "{:?}",
        checker.next
    );
    drop(counts);
    assert_eq!(
        rx.recv_timeout(LIMIT),
        Err(shmq::RecvTimeoutError::Disconnected)
    );
}

/// A receiver that blocks (sleeps on the doorbell) is woken by whichever
/// sender process sends.
#[test]
fn sleeping_receiver_woken_by_any_sender() {
    let _serial = serial();
    let (temp, q) = named("mbx-wake", 8, 16, 1 << 16);
    let mut rx = q.receiver().unwrap();
    rx.set_wait_strategy(WaitStrategy::Block);
    let seed = test_seed();
    let mut checker = Checker::new();
    let mut peers = Vec::new();
    for k in 0..8u64 {
        let stream_seed = mix(seed, 7, k);
        let peer = Peer::spawn(&[
            "send-stream",
            &temp.name,
            &format!("seed={stream_seed:#x}"),
            "count=50",
            "max=100",
        ]);
        checker.expect(peer.pid(), Stream::for_queue(stream_seed, &q, Some(100)));
        peers.push(peer);
    }
    let ended = Arc::new(OnceLock::new());
    let receiver_ended = Arc::clone(&ended);
    let receiving = background("mailbox receiver", move || {
        checker.drain(&mut rx, &receiver_ended);
        (rx, checker)
    });
    for peer in peers {
        peer.finish(LIMIT);
    }
    ended.set(()).unwrap();
    let (_rx, checker) = receiving.join(LIMIT);
    assert!(
        checker.next.values().all(|&n| n == 50),
        "{:?}",
        checker.next
    );
    assert!(q.stats().receiver.sleeps > 0, "the receiver never slept");
}
