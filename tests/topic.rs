//! Topics: one publisher, many subscribers.
//!
//! Across processes (the `shmq-peer` helper, see `support/peer.rs`): a
//! lossless stream of random sizes (fragments included) to four subscriber
//! processes; a lossy stream with a slow subscriber, whose `Lagged` counts
//! and received messages must add up exactly; `kill -9` of a subscriber
//! that holds a lossless publisher up, and of the publisher; a publisher
//! taken over after its process died. In one process (threads): joining
//! while messages are published, history, the lag limit, fragments
//! (lossless and lossy), one message waking every sleeping subscriber, a
//! lossy subscriber lapped by a publisher that then left, the subscriber
//! limit, the kind checks, and corrupt settings in the subscriber table.
//!
//! Measured times (the release of a dead subscriber, the drain after the
//! publisher's death) are printed (run with `--nocapture`); the design
//! target is about 100 ms, the assertions allow 2 s for a loaded machine.

mod support;

use std::os::unix::fs::FileExt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use shmq::{
    OpenErrorKind, Queue, Subscriber, Topic, TopicBuilder, TopicRecvError, TopicRecvTimeoutError,
    TopicTryRecvError, TrySendError,
};
use support::{
    Peer, Stream, TempTopic, background, digest_step, numbers, serial, test_seed, wait_for,
};

/// Time for a peer to start and attach.
const STARTUP: Duration = Duration::from_secs(10);

/// Whole-step limit.
const LIMIT: Duration = Duration::from_secs(60);

/// Upper bound on noticing a dead process (the target is about 100 ms).
const DETECTION_LIMIT: Duration = Duration::from_secs(2);

/// The cross-process stream: 64 slots of 128 bytes (a ring of 8 KiB), so
/// a good share of the messages travel in fragments.
const SLOT_SIZE: usize = 128;
const SLOTS: usize = 64;
/// Most messages are up to this long (the stream's edge sizes include the
/// ring's capacity and one and two fragments)...
const MAX: usize = 8 * 1024;
/// ...and every `RARE_EVERY`-th one is longer, up to `RARE_MAX`.
const RARE_EVERY: u64 = 500;
const RARE_MAX: usize = 64 * 1024;

fn create_topic(temp: &TempTopic, builder: TopicBuilder) -> Topic {
    builder
        .create()
        .unwrap_or_else(|e| panic!("creating topic {}: {e}", temp.name))
}

/// The builder of the cross-process tests' topic named `temp`.
fn ring(temp: &TempTopic) -> TopicBuilder {
    Topic::builder(&temp.name)
        .slot_size(SLOT_SIZE)
        .slots(SLOTS)
        .max_message_size(1 << 20)
        .subscribers(8)
}

/// The stream the peers of these tests exchange, and the options that
/// describe it to them.
fn stream_args(seed: u64, topic: &Topic) -> (Stream, Vec<String>) {
    let stream = Stream::for_topic(seed, topic, MAX).with_rare(RARE_EVERY, RARE_MAX);
    let args = vec![
        format!("seed={seed:#x}"),
        format!("max={MAX}"),
        format!("rare={RARE_EVERY}:{RARE_MAX}"),
    ];
    (stream, args)
}

/// Spawns `shmq-peer <scenario> <topic> <common...> <extra...>`.
fn spawn(scenario: &str, topic: &str, common: &[String], extra: &[&str]) -> Peer {
    let mut args: Vec<&str> = vec![scenario, topic];
    args.extend(common.iter().map(String::as_str));
    args.extend_from_slice(extra);
    Peer::spawn(&args)
}

/// Digest of messages `range` of `stream`, as the peers compute it.
fn digest_of(stream: &Stream, range: std::ops::Range<u64>) -> u64 {
    range.fold(0, |d, seq| digest_step(d, seq, &stream.message(seq)))
}

/// Receives until `Disconnected`, checking that every message is the next
/// of `stream` from `first`: returns the number received.
fn drain_checked(sub: &mut Subscriber, stream: &Stream, first: u64) -> u64 {
    let mut seq = first;
    loop {
        match sub.recv_with(|bytes| stream.check(seq, bytes)) {
            Ok(checked) => checked.unwrap_or_else(|e| panic!("{e}")),
            Err(TopicRecvError::Disconnected) => return seq - first,
            Err(e) => panic!("expecting message {seq}: {e:?}"),
        }
        seq += 1;
    }
}

/// 1 publisher process, 4 subscriber processes, 100,000 messages of random
/// sizes (up to 8 KiB, every 500th up to 64 KiB; the ring holds 8 KiB, so
/// about one message in 18 travels in fragments): every subscriber checks
/// that it got every message, intact and in order, then `Disconnected`,
/// and reports the digest of what it got, which must be the publisher's.
#[test]
fn lossless_four_subscriber_processes_get_everything() {
    let _serial = serial();
    let seed = test_seed();
    eprintln!("seed {seed:#x}");
    let temp = TempTopic::new("tp-lossless");
    let topic = create_topic(&temp, ring(&temp));
    let (stream, common) = stream_args(seed, &topic);
    let count = 100_000u64;
    let started = Instant::now();
    let mut subs: Vec<Peer> = (0..4)
        .map(|_| {
            spawn(
                "topic-subscribe",
                &temp.name,
                &common,
                &[&format!("count={count}")],
            )
        })
        .collect();
    for sub in &mut subs {
        sub.expect_line("ready", STARTUP);
    }
    assert_eq!(topic.stats().subscribers.len(), 4);
    let publisher = spawn(
        "topic-publish",
        &temp.name,
        &common,
        &[&format!("count={count}")],
    );
    let out = publisher.finish(LIMIT);
    let sent = numbers(out.trim(), "published");
    assert_eq!(sent[..2], [count, stream.total_bytes(count)]);
    let digest = sent[2];
    let fragmented = (0..count)
        .filter(|&s| stream.len(s) > topic.capacity())
        .count();
    assert!(fragmented > 1000, "only {fragmented} fragmented messages");
    for sub in subs {
        let out = sub.finish(LIMIT);
        let got = numbers(out.trim(), "received");
        assert_eq!(got, [count, 0, 0, digest], "a subscriber's report");
    }
    let stats = topic.stats();
    assert_eq!(stats.published, count, "{stats:?}");
    eprintln!(
        "lossless: {count} messages ({} MB, {fragmented} fragmented) to 4 subscriber \
         processes in {:.1?}",
        stream.total_bytes(count) >> 20,
        started.elapsed()
    );
}

/// The lossy builder of the cross-process tests: a ring of 128 KiB, so a
/// subscriber that keeps up loses little, and one that sleeps between
/// receives loses most.
fn lossy_ring(temp: &TempTopic) -> TopicBuilder {
    Topic::builder(&temp.name)
        .slot_size(SLOT_SIZE)
        .slots(1024)
        .max_message_size(1 << 20)
        .subscribers(8)
        .lossy(true)
}

/// Parses a `topic-subscribe` report: (received, missed, lag reports,
/// digest).
fn report(out: &str) -> [u64; 4] {
    let got = numbers(out.trim(), "received");
    got.try_into()
        .unwrap_or_else(|got| panic!("a subscriber reported {got:?}"))
}

/// A lossy topic, a publisher process that never waits, a subscriber
/// process that keeps up and one that sleeps before every receive: each
/// checks every message it gets (intact, each one the next it expected
/// after the `Lagged` reports so far); for each, the messages received
/// plus the `Lagged` counts add up exactly to the number published, and
/// the slow one lagged.
#[test]
fn lossy_slow_subscriber_accounting_is_exact() {
    let _serial = serial();
    let seed = test_seed();
    eprintln!("seed {seed:#x}");
    let temp = TempTopic::new("tp-lossy");
    let topic = create_topic(&temp, lossy_ring(&temp));
    let (stream, common) = stream_args(seed, &topic);
    let count = 100_000u64;
    let count_arg = format!("count={count}");
    let mut fast = spawn("topic-subscribe", &temp.name, &common, &[&count_arg]);
    let mut slow = spawn(
        "topic-subscribe",
        &temp.name,
        &common,
        &[&count_arg, "delay_us=500"],
    );
    fast.expect_line("ready", STARTUP);
    slow.expect_line("ready", STARTUP);
    let publisher = spawn("topic-publish", &temp.name, &common, &[&count_arg]);
    let sent = numbers(publisher.finish(LIMIT).trim(), "published");
    assert_eq!(sent[..2], [count, stream.total_bytes(count)]);
    let [f_got, f_missed, f_reports, _] = report(&fast.finish(LIMIT));
    let [s_got, s_missed, s_reports, _] = report(&slow.finish(LIMIT));
    eprintln!(
        "lossy, {count} published: fast subscriber received {f_got}, missed {f_missed} \
         ({f_reports} Lagged reports); slow one received {s_got}, missed {s_missed} \
         ({s_reports} reports)"
    );
    assert_eq!(f_got + f_missed, count, "the fast subscriber's accounting");
    assert_eq!(s_got + s_missed, count, "the slow subscriber's accounting");
    assert!(
        s_missed > 0 && s_reports > 0,
        "the slow subscriber never lagged"
    );
    assert!(s_got > 0, "the slow subscriber received nothing");
    assert!(
        f_got > s_got,
        "the fast subscriber got {f_got}, the slow one {s_got}"
    );
    assert_eq!(topic.stats().published, count);
}

/// A lossless publisher (this process) is held up by a subscriber process
/// that never receives; `kill -9` of that process lets the blocked send
/// complete within about 100 ms (the measured time is printed), and the
/// other subscriber process still receives every message.
#[test]
fn killed_subscriber_releases_a_blocked_publisher() {
    let _serial = serial();
    let seed = test_seed();
    eprintln!("seed {seed:#x}");
    let temp = TempTopic::new("tp-killsub");
    let topic = create_topic(&temp, ring(&temp));
    // Messages that fit the ring whole, so `try_send` can find it full.
    let max = 1000;
    let stream = Stream::for_topic(seed, &topic, max);
    let count = 3000u64;
    let common = [format!("seed={seed:#x}"), format!("max={max}")];
    let mut holder = spawn("topic-hold", &temp.name, &[], &[]);
    let mut reader = spawn(
        "topic-subscribe",
        &temp.name,
        &common,
        &[&format!("count={count}")],
    );
    holder.expect_line("ready", STARTUP);
    reader.expect_line("ready", STARTUP);
    let mut publisher = topic.publisher().unwrap();
    assert_eq!(publisher.subscribers(), 2);
    // Fill the ring: the holder reads nothing.
    let mut seq = 0;
    loop {
        match publisher.try_send(&stream.message(seq)) {
            Ok(()) => seq += 1,
            Err(TrySendError::Full) => break,
            Err(e) => panic!("try_send {seq}: {e:?}"),
        }
        assert!(seq < count, "the ring never filled up");
    }
    assert!(seq > 0);
    let message = stream.message(seq);
    let (tx, returned) = std::sync::mpsc::channel();
    let blocked = background("a send held up by the holder", move || {
        let result = publisher.send(&message);
        let _ = tx.send(Instant::now());
        (result, publisher)
    });
    // Held up for as long as the holder lives (it is alive: the send
    // stays blocked through several liveness looks).
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        returned.try_recv().is_err(),
        "the send returned while a live subscriber held the ring full"
    );
    holder.check_not_failed();
    let killed = holder.kill();
    let release = match returned.recv_timeout(Duration::from_secs(10)) {
        Ok(at) => at - killed,
        Err(_) => panic!(
            "the publisher was still held up 10 s after its subscriber was killed: {:?}",
            topic.stats()
        ),
    };
    let (result, mut publisher) = blocked.join_watching(LIMIT, &mut reader);
    result.unwrap();
    eprintln!("dead subscriber released, the publisher went on after {release:.1?}");
    assert!(
        release < DETECTION_LIMIT,
        "the publisher went on {release:?} after the kill (limit {DETECTION_LIMIT:?})"
    );
    assert_eq!(publisher.released_subscribers(), 1);
    assert_eq!(publisher.subscribers(), 1);
    assert_eq!(topic.stats().subscribers.len(), 1);
    let publisher = background("publishing the rest", move || {
        for seq in seq + 1..count {
            publisher.send(&stream.message(seq)).unwrap();
        }
        publisher
    })
    .join_watching(LIMIT, &mut reader);
    drop(publisher);
    let got = report(&reader.finish(LIMIT));
    let stream = Stream::for_topic(seed, &topic, max);
    assert_eq!(got, [count, 0, 0, digest_of(&stream, 0..count)]);
}

/// `kill -9` of the publisher process while it waits for room (one
/// subscriber keeps up, the other reads nothing until then): the subscriber
/// that kept up sees `Disconnected` within about 100 ms; the other drains
/// every complete message, the same ones, then sees `Disconnected` too.
#[test]
fn killed_publisher_subscribers_drain_then_disconnected() {
    let _serial = serial();
    let seed = test_seed();
    eprintln!("seed {seed:#x}");
    let temp = TempTopic::new("tp-killpub");
    let topic = create_topic(&temp, ring(&temp));
    let (stream, common) = stream_args(seed, &topic);
    let mut idle = topic.subscriber().unwrap();
    let mut active = topic.subscriber().unwrap();
    let mut publisher = spawn(
        "topic-publish",
        &temp.name,
        &common,
        &["count=1000000", "hold=1", "announce=1"],
    );
    publisher.expect_line("attached", STARTUP);
    let active_stream = stream.clone();
    let reading = background("the active subscriber", move || {
        let n = drain_checked(&mut active, &active_stream, 0);
        (n, Instant::now(), active)
    });
    // Until the publisher is stuck on the idle subscriber.
    let mut last = (u64::MAX, Instant::now());
    wait_for(
        LIMIT,
        || format!("the publisher never got stuck: {:?}", topic.stats()),
        || {
            let stats = topic.stats();
            if stats.published != last.0 {
                last = (stats.published, Instant::now());
            }
            stats.published > 0 && last.1.elapsed() > Duration::from_millis(200)
        },
    );
    let published = topic.stats().published;
    let killed = publisher.kill();
    let (active_got, disconnected, mut active) = reading.join(LIMIT);
    let detection = disconnected - killed;
    let (idle_got, drained) = background("draining the idle subscriber", move || {
        let n = drain_checked(&mut idle, &stream, 0);
        (n, Instant::now())
    })
    .join(LIMIT);
    let drain = drained - killed;
    eprintln!(
        "publisher killed after {published} messages: the active subscriber saw Disconnected \
         after {detection:.1?}, the idle one drained {idle_got} messages and saw Disconnected \
         {drain:.1?} after the kill"
    );
    assert_eq!(
        active_got, idle_got,
        "the two subscribers got different messages"
    );
    // The last message counted may be one whose fragments were cut off.
    assert!(
        idle_got == published || idle_got + 1 == published,
        "{idle_got} messages received, {published} started"
    );
    assert!(idle_got > 0);
    assert!(
        detection < DETECTION_LIMIT,
        "Disconnected {detection:?} after the kill"
    );
    assert!(drain < DETECTION_LIMIT, "drained {drain:?} after the kill");
    assert!(active.is_disconnected());
    assert_eq!(active.try_recv(), Err(TopicTryRecvError::Disconnected));
    assert_eq!(
        active.recv_timeout(Duration::from_millis(100)),
        Err(TopicRecvTimeoutError::Disconnected)
    );
}

/// A lossy topic's publisher process dies (kill -9, between messages); a
/// second one takes its place and numbering continues where the first
/// stopped. Two subscriber processes (one slow) account for every message
/// of both, exactly. While the first lives, nobody else can publish.
#[test]
fn publisher_takeover_continues_the_numbering() {
    let _serial = serial();
    let seed = test_seed();
    eprintln!("seed {seed:#x}");
    let temp = TempTopic::new("tp-takeover");
    let topic = create_topic(&temp, lossy_ring(&temp));
    let (_, common) = stream_args(seed, &topic);
    let (first, second) = (20_000u64, 20_000u64);
    let total = format!("count={}", first + second);
    let mut subs = [
        spawn(
            "topic-subscribe",
            &temp.name,
            &common,
            &[&total, "reconnect=1"],
        ),
        spawn(
            "topic-subscribe",
            &temp.name,
            &common,
            &[&total, "reconnect=1", "delay_us=200"],
        ),
    ];
    for sub in &mut subs {
        sub.expect_line("ready", STARTUP);
    }
    let mut p1 = spawn(
        "topic-publish",
        &temp.name,
        &common,
        &[&format!("count={first}"), "hold=1"],
    );
    p1.expect_line("published", LIMIT);
    let err = topic.publisher().unwrap_err();
    assert!(
        matches!(err.kind(), OpenErrorKind::AlreadyAttached { pid, .. } if *pid == p1.pid()),
        "{err:?}"
    );
    p1.kill();
    p1.wait(LIMIT);
    let p2 = spawn(
        "topic-publish",
        &temp.name,
        &common,
        &[
            &format!("start={first}"),
            &format!("count={second}"),
            "announce=1",
        ],
    );
    let out = p2.finish(LIMIT);
    assert!(out.contains(&format!("published {second} ")), "{out}");
    for (sub, what) in subs.into_iter().zip(["fast", "slow"]) {
        let [got, missed, reports, _] = report(&sub.finish(LIMIT));
        eprintln!(
            "takeover, {} published by two publishers: {what} subscriber received {got}, \
             missed {missed} ({reports} Lagged reports)",
            first + second
        );
        assert_eq!(got + missed, first + second, "the {what} subscriber");
    }
    assert_eq!(topic.stats().published, first + second);
}

// ---------------------------------------------------------------------------
// In one process

/// Message `seq` of the in-process tests: its number, then `0..=spread`
/// bytes that follow from it.
fn numbered(seq: u64, spread: u64) -> Vec<u8> {
    let len = 8 + (support::mix64(seq) % (spread + 1)) as usize;
    let mut msg = Vec::with_capacity(len);
    msg.extend_from_slice(&seq.to_le_bytes());
    msg.extend((8..len).map(|i| (seq as u8) ^ (i as u8).wrapping_mul(31)));
    msg
}

/// The number of a [`numbered`] message, which must be intact.
fn number_of(msg: &[u8], spread: u64) -> u64 {
    assert!(msg.len() >= 8, "a {}-byte message", msg.len());
    let seq = u64::from_le_bytes(msg[..8].try_into().unwrap());
    assert!(msg == numbered(seq, spread), "message {seq} is damaged");
    seq
}

/// The `u64`s waiting for `sub` now.
fn take_waiting(sub: &mut Subscriber) -> Vec<u64> {
    let mut got = Vec::new();
    loop {
        match sub.try_recv_pod::<u64>() {
            Ok(v) => got.push(v),
            Err(TopicTryRecvError::Empty) => return got,
            Err(e) => panic!("after {got:?}: {e:?}"),
        }
    }
}

/// Subscribers join (and leave) again and again while the publisher
/// sends: each one's first message is the next one published after it
/// joined, and it then gets every message, in order, without a gap. A
/// subscriber there from the start gets them all.
#[test]
fn joining_while_publishing_gives_a_gap_free_suffix() {
    const SPREAD: u64 = 300;
    let topic = TopicBuilder::in_process()
        .slot_size(64)
        .slots(64)
        .create()
        .unwrap();
    let mut publisher = topic.publisher().unwrap();
    let mut everything = topic.subscriber().unwrap();
    let stop = Arc::new(Mutex::new(false));
    // Messages whose send has returned.
    let sent = Arc::new(Mutex::new(0u64));
    let publishing = {
        let (stop, sent) = (Arc::clone(&stop), Arc::clone(&sent));
        background("the publisher", move || {
            let mut seq = 0;
            while !*stop.lock().unwrap() {
                publisher.send(&numbered(seq, SPREAD)).unwrap();
                seq += 1;
                *sent.lock().unwrap() = seq;
            }
            seq
        })
    };
    let reading = background("the first subscriber", move || {
        let mut n = 0;
        loop {
            match everything.recv_with(|m| number_of(m, SPREAD)) {
                Ok(seq) => assert_eq!(seq, n, "the first subscriber"),
                Err(TopicRecvError::Disconnected) => return n,
                Err(e) => panic!("after {n} messages: {e:?}"),
            }
            n += 1;
        }
    });
    let joiners: Vec<_> = (0..3u64)
        .map(|k| {
            let (topic, sent) = (topic.clone(), Arc::clone(&sent));
            background(format!("joiner {k}"), move || {
                for round in 0..40u64 {
                    let before = *sent.lock().unwrap();
                    let mut sub = topic.subscriber().unwrap();
                    let after = *sent.lock().unwrap();
                    let first = sub.recv_with(|m| number_of(m, SPREAD)).unwrap();
                    // At most one message was being sent while we joined.
                    assert!(
                        (before..=after + 1).contains(&first),
                        "joined between messages {before} and {after}, first got {first}"
                    );
                    let more = support::mix64(k << 32 | round) % 200;
                    for i in 1..=more {
                        let seq = sub.recv_with(|m| number_of(m, SPREAD)).unwrap();
                        assert_eq!(seq, first + i, "joiner {k}, round {round}: a gap");
                    }
                }
            })
        })
        .collect();
    for joiner in joiners {
        joiner.join(LIMIT);
    }
    *stop.lock().unwrap() = true;
    let published = publishing.join(LIMIT);
    assert_eq!(reading.join(LIMIT), published);
}

/// A topic with `history(5)`: a subscriber that asks for history gets the
/// last 5 messages (or all, if fewer were published), then the new ones; a
/// plain subscriber only the new ones.
#[test]
fn history_replays_the_last_messages() {
    let topic = TopicBuilder::in_process()
        .slot_size(64)
        .slots(64)
        .history(5)
        .create()
        .unwrap();
    assert_eq!(topic.history(), 5);
    let mut publisher = topic.publisher().unwrap();
    let mut early = topic.subscriber_with_history().unwrap();
    assert_eq!(take_waiting(&mut early), [] as [u64; 0]);
    for seq in 0..3u64 {
        publisher.send_pod(&seq).unwrap();
    }
    let mut few = topic.subscriber_with_history().unwrap();
    assert_eq!(take_waiting(&mut few), [0, 1, 2]);
    for seq in 3..20u64 {
        publisher.send_pod(&seq).unwrap();
    }
    let mut late = topic.subscriber_with_history().unwrap();
    let mut plain = topic.subscriber().unwrap();
    assert_eq!(take_waiting(&mut late), [15, 16, 17, 18, 19]);
    assert_eq!(take_waiting(&mut plain), [] as [u64; 0]);
    publisher.send_pod(&20u64).unwrap();
    assert_eq!(take_waiting(&mut late), [20]);
    assert_eq!(take_waiting(&mut plain), [20]);
    assert_eq!(take_waiting(&mut few), (3..=20).collect::<Vec<_>>());
    assert_eq!(take_waiting(&mut early), (0..=20).collect::<Vec<_>>());
    for sub in [&early, &few, &late, &plain] {
        assert_eq!(sub.lagged(), 0);
    }
}

/// History is what the ring still holds: with messages of 3 slots in a
/// ring of 16, fewer than the 10 asked for; those it gets are the last
/// ones published, intact and in order.
#[test]
fn history_is_bounded_by_the_ring() {
    let topic = TopicBuilder::in_process()
        .slot_size(64)
        .slots(16)
        .history(10)
        .create()
        .unwrap();
    let mut publisher = topic.publisher().unwrap();
    let len = 150; // with its record header, 3 slots
    let msg = |seq: u64| {
        let mut m = numbered(seq, 0);
        m.resize(len, seq as u8);
        m
    };
    for seq in 0..30 {
        publisher.send(&msg(seq)).unwrap();
    }
    let mut sub = topic.subscriber_with_history().unwrap();
    let mut got = Vec::new();
    while let Ok(m) = sub.try_recv() {
        assert_eq!(m, msg(u64::from_le_bytes(m[..8].try_into().unwrap())));
        got.push(u64::from_le_bytes(m[..8].try_into().unwrap()));
    }
    eprintln!("history of 10 in a ring of 5 such messages: got {got:?}");
    assert!(!got.is_empty() && got.len() <= 5, "{got:?}");
    assert_eq!(got, (30 - got.len() as u64..30).collect::<Vec<_>>());
}

/// A lossless topic with a lag limit: a subscriber that stops receiving
/// holds the publisher up for the limit, then is cut loose; the publisher
/// goes on, and the subscriber's next receive reports `Lagged(n)` with the
/// exact number it missed, after which it gets every message from the `n`th
/// on. Once back, it is waited for again.
#[test]
fn lag_limit_cuts_a_stalled_subscriber_loose() {
    let limit = Duration::from_millis(100);
    let topic = TopicBuilder::in_process()
        .slot_size(64)
        .slots(16)
        .lag_limit(limit)
        .create()
        .unwrap();
    assert_eq!(topic.lag_limit(), Some(limit));
    let mut publisher = topic.publisher().unwrap();
    let mut stalled = topic.subscriber().unwrap();
    let mut reader = topic.subscriber().unwrap();
    let count = 200u64;
    let reading = background("the reader", move || {
        for seq in 0..count {
            assert_eq!(reader.recv_pod::<u64>(), Ok(seq));
        }
        reader
    });
    let start = Instant::now();
    let mut publisher = background("the publisher", move || {
        for seq in 0..count {
            publisher.send_pod(&seq).unwrap();
        }
        publisher
    })
    .join(LIMIT);
    let took = start.elapsed();
    eprintln!("lag limit {limit:?}: {count} messages published in {took:.1?}");
    assert!(took >= limit, "published in {took:?}, without waiting");
    assert!(
        took < limit + DETECTION_LIMIT,
        "the publisher took {took:?} with a lag limit of {limit:?}"
    );
    let mut reader = reading.join(LIMIT);
    let line = |topic: &Topic, entry| {
        let stats = topic.stats();
        stats
            .subscribers
            .into_iter()
            .find(|s| s.entry == entry)
            .unwrap()
    };
    assert!(line(&topic, stalled.entry()).cut);
    let missed = match stalled.recv_pod::<u64>() {
        Err(TopicRecvError::Lagged(n)) => n,
        other => panic!("expected Lagged, got {other:?}"),
    };
    assert!(0 < missed && missed < count, "missed {missed}");
    assert_eq!(stalled.lagged(), missed);
    assert_eq!(
        take_waiting(&mut stalled),
        (missed..count).collect::<Vec<_>>(),
        "after Lagged({missed})"
    );
    let stats = line(&topic, stalled.entry());
    assert!(!stats.cut, "{stats:?}");
    assert_eq!(stats.lagged, missed);
    assert_eq!(stats.received, count - missed);
    // Back in: a new message reaches both, with no loss.
    for seq in count..count + 10 {
        publisher.send_pod(&seq).unwrap();
    }
    let more: Vec<u64> = (count..count + 10).collect();
    assert_eq!(take_waiting(&mut stalled), more);
    assert_eq!(take_waiting(&mut reader), more);
    assert_eq!(stalled.lagged(), missed);
}

/// Messages up to ten times the ring's capacity, in fragments, reach three
/// lossless subscribers whole and in order.
#[test]
fn fragments_lossless() {
    let seed = test_seed();
    eprintln!("seed {seed:#x}");
    let topic = TopicBuilder::in_process()
        .slot_size(64)
        .slots(16)
        .max_message_size(1 << 20)
        .create()
        .unwrap();
    let stream = Stream::for_topic(seed, &topic, 10 * topic.capacity());
    let count = 2000u64;
    let fragmented = (0..count)
        .filter(|&s| stream.len(s) > topic.capacity())
        .count();
    assert!(fragmented > 100, "{fragmented}");
    let readers: Vec<_> = (0..3)
        .map(|k| {
            let (mut sub, stream) = (topic.subscriber().unwrap(), stream.clone());
            background(format!("subscriber {k}"), move || {
                let mut digest = 0;
                for seq in 0..count {
                    digest = sub
                        .recv_with(|m| {
                            stream.check(seq, m).unwrap_or_else(|e| panic!("{e}"));
                            digest_step(digest, seq, m)
                        })
                        .unwrap();
                }
                assert_eq!(sub.recv(), Err(TopicRecvError::Disconnected));
                digest
            })
        })
        .collect();
    let mut publisher = topic.publisher().unwrap();
    for seq in 0..count {
        publisher.send(&stream.message(seq)).unwrap();
    }
    drop(publisher);
    let want = digest_of(&stream, 0..count);
    for reader in readers {
        assert_eq!(reader.join(LIMIT), want);
    }
}

/// Lossy, with messages in fragments: a subscriber overrun in the middle
/// of a message loses that message (counted), never gets part of one, and
/// the counts add up exactly; a slow one lags.
#[test]
fn fragments_lossy_accounting() {
    let seed = test_seed();
    eprintln!("seed {seed:#x}");
    let topic = TopicBuilder::in_process()
        .slot_size(64)
        .slots(32)
        .max_message_size(1 << 20)
        .lossy(true)
        .create()
        .unwrap();
    let stream = Stream::for_topic(seed, &topic, 4 * topic.capacity());
    let count = 5000u64;
    let readers: Vec<_> = [Duration::ZERO, Duration::from_micros(100)]
        .into_iter()
        .map(|pause| {
            let (mut sub, stream) = (topic.subscriber().unwrap(), stream.clone());
            background("a lossy subscriber", move || {
                let (mut next, mut got, mut missed) = (0u64, 0u64, 0u64);
                while next < count {
                    if !pause.is_zero() {
                        std::thread::sleep(pause);
                    }
                    match sub.recv_with(|m| stream.check(next, m)) {
                        Ok(checked) => {
                            checked.unwrap_or_else(|e| panic!("{e}"));
                            got += 1;
                            next += 1;
                        }
                        Err(TopicRecvError::Lagged(n)) => {
                            assert!(n > 0 && next + n <= count, "Lagged({n}) at {next}");
                            missed += n;
                            next += n;
                        }
                        Err(e) => panic!("at message {next}: {e:?}"),
                    }
                }
                assert_eq!(sub.recv(), Err(TopicRecvError::Disconnected));
                assert_eq!(sub.lagged(), missed);
                (got, missed)
            })
        })
        .collect();
    let mut publisher = topic.publisher().unwrap();
    for seq in 0..count {
        publisher.send(&stream.message(seq)).unwrap();
    }
    drop(publisher);
    let results: Vec<_> = readers.into_iter().map(|r| r.join(LIMIT)).collect();
    eprintln!("lossy fragments, {count} published: (received, missed) {results:?}");
    for &(got, missed) in &results {
        assert_eq!(got + missed, count);
    }
    assert!(results[1].1 > 0, "the slow subscriber never lagged");
}

/// Several subscribers asleep in `recv` are all woken by one message,
/// with one wake call, not each at the end of its sleeping slice.
#[test]
fn one_message_wakes_every_sleeping_subscriber() {
    let topic = TopicBuilder::in_process()
        .slots(64)
        .wait_strategy(shmq::WaitStrategy::Block)
        .create()
        .unwrap();
    let mut publisher = topic.publisher().unwrap();
    let (subscribers, rounds) = (4, 10u64);
    let (tx, rx) = std::sync::mpsc::channel();
    let _threads: Vec<_> = (0..subscribers)
        .map(|_| {
            let (mut sub, tx) = (topic.subscriber().unwrap(), tx.clone());
            background("a sleeping subscriber", move || {
                for _ in 0..rounds {
                    let round = sub.recv_pod::<u64>().unwrap();
                    tx.send((round, Instant::now())).unwrap();
                }
            })
        })
        .collect();
    let wakes = topic.stats().wakes;
    let mut worst = Vec::new();
    for round in 0..rounds {
        // Time to fall asleep (a blocking wait sleeps at once).
        std::thread::sleep(Duration::from_millis(5));
        let sent = Instant::now();
        publisher.send_pod(&round).unwrap();
        let mut slowest = Duration::ZERO;
        for _ in 0..subscribers {
            let (got, at) = rx.recv_timeout(LIMIT).unwrap();
            assert_eq!(got, round);
            slowest = slowest.max(at - sent);
        }
        worst.push(slowest);
    }
    let wakes = topic.stats().wakes - wakes;
    worst.sort();
    eprintln!(
        "{subscribers} sleeping subscribers woken: slowest per round {worst:.1?}, {wakes} wake calls"
    );
    let median = worst[worst.len() / 2];
    assert!(
        median < Duration::from_millis(15),
        "the last of {subscribers} sleeping subscribers woke {median:?} after the message \
         (median of {rounds} rounds): not woken by it"
    );
    assert!(wakes <= rounds, "{wakes} wake calls for {rounds} messages");
}

/// The subscriber limit: the next one is refused with
/// `TooManySubscribers`, and an entry given back is taken again.
#[test]
fn too_many_subscribers() {
    let topic = TopicBuilder::in_process().subscribers(3).create().unwrap();
    assert_eq!(topic.max_subscribers(), 3);
    let mut subs: Vec<_> = (0..3).map(|_| topic.subscriber().unwrap()).collect();
    for attach in [Topic::subscriber, Topic::subscriber_with_history] {
        let err = attach(&topic).unwrap_err();
        assert!(
            matches!(err.kind(), OpenErrorKind::TooManySubscribers { limit: 3 }),
            "{err:?}"
        );
        assert!(err.to_string().contains('3'), "{err}");
    }
    let freed = subs.remove(1).entry();
    assert_eq!(topic.subscriber().unwrap().entry(), freed);
    for bad in [0, shmq::MAX_SUBSCRIBERS + 1] {
        let err = TopicBuilder::in_process()
            .subscribers(bad)
            .create()
            .unwrap_err();
        assert!(
            matches!(err.kind(), OpenErrorKind::InvalidOptions(_)),
            "{bad}: {err:?}"
        );
    }
    let full = TopicBuilder::in_process()
        .subscribers(shmq::MAX_SUBSCRIBERS)
        .create()
        .unwrap();
    let all: Vec<_> = (0..shmq::MAX_SUBSCRIBERS)
        .map(|_| full.subscriber().unwrap())
        .collect();
    assert!(full.subscriber().is_err());
    drop(all);
}

/// Options that contradict each other are refused at creation.
#[test]
fn invalid_topic_options() {
    let cases = [
        (
            "lossy with a lag limit",
            TopicBuilder::in_process()
                .lossy(true)
                .lag_limit(Duration::from_millis(5)),
        ),
        (
            "history as long as the ring",
            TopicBuilder::in_process().slots(8).history(8),
        ),
    ];
    for (what, builder) in cases {
        let err = builder.create().unwrap_err();
        assert!(
            matches!(err.kind(), OpenErrorKind::InvalidOptions(_)),
            "{what}: {err:?}"
        );
    }
    assert!(
        TopicBuilder::in_process()
            .slots(8)
            .history(7)
            .create()
            .is_ok()
    );
    let err = TopicBuilder::in_process().open().unwrap_err();
    assert!(
        matches!(err.kind(), OpenErrorKind::InvalidOptions(_)),
        "{err:?}"
    );
}

/// A topic is no queue and a queue no topic: each open refuses the other
/// kind (`WrongKind`), as does `Topic::remove` (leaving the queue alone);
/// creating a topic on a queue's name fails and leaves nothing behind.
/// `Topic::remove` removes both files of a topic.
#[test]
fn topics_and_queues_refuse_each_other() {
    let temp = TempTopic::new("tp-kind");
    let topic = Topic::builder(&temp.name).slots(8).create().unwrap();
    for path in temp.paths() {
        assert!(std::path::Path::new(&path).exists(), "{path}");
    }
    let err = Queue::open(&temp.name).unwrap_err();
    assert!(
        matches!(
            err.kind(),
            OpenErrorKind::WrongKind {
                found: "topic",
                expected: "queue"
            }
        ),
        "{err:?}"
    );
    // A snapshot of the ring's header alone says what it is.
    assert_eq!(Queue::inspect(&temp.name).unwrap().flavour, "topic");
    let err = Queue::open(&format!("{}.subs", temp.name)).unwrap_err();
    assert!(
        matches!(err.kind(), OpenErrorKind::WrongKind { .. }),
        "{err:?}"
    );
    let err = Topic::create(&temp.name).unwrap_err();
    assert!(
        matches!(err.kind(), OpenErrorKind::AlreadyExists),
        "{err:?}"
    );

    let (queue_temp, _queue) = support::create_queue("tp-kind-q", 64, 8, 1024);
    let err = Topic::open(&queue_temp.name).unwrap_err();
    assert!(
        matches!(
            err.kind(),
            OpenErrorKind::WrongKind {
                found: "queue",
                expected: "topic"
            }
        ),
        "{err:?}"
    );
    let err = Topic::remove(&queue_temp.name).unwrap_err();
    assert!(
        matches!(err.kind(), OpenErrorKind::WrongKind { .. }),
        "{err:?}"
    );
    Queue::open(&queue_temp.name).expect("the queue is still there");
    let err = Topic::create(&queue_temp.name).unwrap_err();
    assert!(
        matches!(err.kind(), OpenErrorKind::AlreadyExists),
        "{err:?}"
    );
    let orphan = format!("/dev/shm/shmq.{}.subs", queue_temp.name);
    let left = std::path::Path::new(&orphan).exists();
    let _ = std::fs::remove_file(&orphan);
    assert!(!left, "a failed Topic::create left {orphan} behind");

    drop(topic);
    Topic::remove(&temp.name).unwrap();
    for path in temp.paths() {
        assert!(
            !std::path::Path::new(&path).exists(),
            "{path} survived remove"
        );
    }
    let err = Topic::open(&temp.name).unwrap_err();
    assert!(matches!(err.kind(), OpenErrorKind::NotFound), "{err:?}");
    let err = Topic::remove(&temp.name).unwrap_err();
    assert!(matches!(err.kind(), OpenErrorKind::NotFound), "{err:?}");
}

/// Bytes written into a topic's subscriber table by someone else (a
/// mode that is neither lossless nor lossy, history as long as the ring, a
/// lag limit on a lossy topic, a broken table header, a truncated file)
/// make `Topic::open` fail with an error, never panic; with the bytes
/// restored it opens again.
#[test]
fn corrupt_subscriber_table_is_an_open_error() {
    let temp = TempTopic::new("tp-badsubs");
    let topic = Topic::builder(&temp.name)
        .slots(16)
        .subscribers(4)
        .open_timeout(Duration::from_millis(100))
        .create()
        .unwrap();
    drop(topic);
    let path = &temp.paths()[1];
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let read = |offset: u64| {
        let mut b = [0u8; 4];
        file.read_exact_at(&mut b, offset).unwrap();
        u32::from_le_bytes(b)
    };
    let write = |offset: u64, v: u32| file.write_all_at(&v.to_le_bytes(), offset).unwrap();
    let open = || {
        Topic::builder(&temp.name)
            .open_timeout(Duration::from_millis(100))
            .open()
    };
    // (offset, value, what): the control line's settings (at 128), and
    // the table header's fields.
    let cases: [(&[(u64, u32)], &str); 9] = [
        (&[(128, 7)], "lossy field 7"),
        (&[(128, u32::MAX)], "lossy field u32::MAX"),
        (&[(132, 16)], "history as long as the ring"),
        (&[(132, u32::MAX)], "history u32::MAX"),
        (&[(128, 1), (136, 5)], "lossy with a lag limit"),
        (&[(0, 0x1234_5678)], "table magic"),
        (&[(8, 99)], "table version"),
        (&[(12, 0)], "no subscriber entries"),
        (&[(12, 65)], "65 subscriber entries"),
    ];
    for (writes, what) in cases {
        let saved: Vec<_> = writes.iter().map(|&(at, _)| (at, read(at))).collect();
        for &(at, v) in writes {
            write(at, v);
        }
        match open() {
            Ok(topic) => panic!("{what}: opened, {:?}", topic.stats()),
            Err(e) => eprintln!("{what}: {e}"),
        }
        for (at, v) in saved {
            write(at, v);
        }
        open().unwrap_or_else(|e| panic!("after restoring the {what}: {e}"));
    }
    // A lag limit on a lossless topic is a setting, not damage.
    write(136, 5);
    assert_eq!(open().unwrap().lag_limit(), Some(Duration::from_millis(5)));
    write(136, 0);
    let len = file.metadata().unwrap().len();
    file.set_len(200).unwrap();
    let err = open().map(|_| ()).unwrap_err();
    eprintln!("truncated table: {err}");
    file.set_len(len).unwrap();
}

/// A lossy subscriber that fell behind a publisher that has since left
/// still gets what the ring holds, after a `Lagged` report, and only then
/// `Disconnected`, wherever in the ring it was lapped: exactly at the
/// slot the publisher cleared for its next record, or anywhere else.
#[test]
fn lossy_lapped_subscriber_drains_before_disconnected() {
    for count in 1..=40u64 {
        let topic = TopicBuilder::in_process()
            .slot_size(64)
            .slots(8)
            .lossy(true)
            .create()
            .unwrap();
        let mut sub = topic.subscriber().unwrap();
        let mut publisher = topic.publisher().unwrap();
        for seq in 0..count {
            publisher.send_pod(&seq).unwrap();
        }
        drop(publisher);
        let (mut next, mut missed) = (0, 0);
        loop {
            match sub.try_recv_pod::<u64>() {
                Ok(seq) => {
                    assert_eq!(seq, next, "{count} published");
                    next += 1;
                }
                Err(TopicTryRecvError::Lagged(n)) => {
                    missed += n;
                    next += n;
                }
                Err(TopicTryRecvError::Disconnected) => break,
                Err(e) => panic!("{count} published, at message {next}: {e:?}"),
            }
        }
        assert_eq!(
            next, count,
            "{count} published: Disconnected after accounting for {next} ({missed} missed)"
        );
    }
}
