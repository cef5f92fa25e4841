//! Entry points for the fuzz targets in `fuzz/`, compiled only under
//! `cfg(fuzzing)` (which `cargo fuzz` sets). They feed untrusted bytes to
//! the same validation and ring code that reads real segments.

use std::sync::Arc;

use crate::error::{OpenError, OpenErrorKind, Stop};
use crate::layout::{Config, HEADER_SIZE, Header, MAX_HEADER_SIZE as MAX_HEADER};
use crate::segment::{Region, validate_header};
use crate::spsc::Consumer;
use crate::sync::Ordering::Relaxed;
use crate::wait::{Deadline, WaitStrategy};

pub use crate::service::fuzzing::{FuzzMessage, ServiceOutcome, service_messages};

/// Validates `image` as the header of a segment file of `image.len()`
/// bytes, as `open` does. Never panics.
pub fn check_header(image: &[u8]) -> Result<(), OpenError> {
    if image.len() < HEADER_SIZE {
        return Err(OpenErrorKind::NotReady.into());
    }
    /// The header bytes, aligned like a mapping's first page.
    #[repr(C, align(128))]
    struct Image([u8; MAX_HEADER]);
    let mut aligned = Box::new(Image([0; MAX_HEADER]));
    let len = image.len().min(MAX_HEADER);
    aligned.0[..len].copy_from_slice(&image[..len]);
    // SAFETY: `aligned` is MAX_HEADER bytes, 128-aligned, and outlives the
    // reference; `Header` is all atomics, valid for any bytes, and is only
    // loaded from here, as `open` does with a mapped file.
    let header = unsafe { &*std::ptr::from_ref(&*aligned).cast::<Header>() };
    // As a queue's open: a topic's ring is refused by name.
    let config = validate_header(header, image.len() as u64)?;
    if config.flavour != crate::layout::Flavour::Spsc {
        return Err(OpenErrorKind::WrongKind {
            found: config.flavour.kind(),
            expected: "queue",
        }
        .into());
    }
    Ok(())
}

/// One lane's part of a [`drain_lanes`] segment: its head and tail, its
/// token in the receiver's line, and the bytes its slots are filled with
/// (repeated or cut to size).
#[derive(Debug, Clone, Copy)]
pub struct LaneImage<'a> {
    /// The sender's head.
    pub head: u64,
    /// The receiver's tail.
    pub tail: u64,
    /// The sender token the receiver stored for the records at `tail`.
    pub sender_token: u64,
    /// The slot bytes.
    pub ring: &'a [u8],
}

/// Builds an in-process queue of `slot_size` x `slot_count` with
/// `max_message_size`, fills its slots with `ring` (repeated or cut to
/// size), sets `head` and `tail`, attaches a receiver and drains it with
/// non-blocking receives. Returns how many messages were delivered.
/// Never panics, whatever the bytes.
pub fn drain_ring(
    slot_size: usize,
    slot_count: usize,
    max_message_size: u64,
    head: u64,
    tail: u64,
    ring: &[u8],
) -> usize {
    let lane = LaneImage {
        head,
        tail,
        sender_token: 0,
        ring,
    };
    drain_lanes(slot_size, slot_count, max_message_size, &[lane]).0
}

/// [`drain_ring`] for a mailbox of `lanes.len()` lanes (1 to 64), each set
/// up from its [`LaneImage`]. Returns how many messages were delivered,
/// and how many of them on each lane (as `SenderId::lane` says). Never
/// panics, whatever the bytes.
pub fn drain_lanes(
    slot_size: usize,
    slot_count: usize,
    max_message_size: u64,
    lanes: &[LaneImage<'_>],
) -> (usize, Vec<usize>) {
    let config = Config {
        slot_size,
        slot_count,
        max_message_size,
        lanes: lanes.len(),
        flavour: crate::layout::Flavour::Spsc,
    };
    if config.check().is_err() || config.ring_bytes() * config.lanes > 1 << 20 {
        return (0, Vec::new());
    }
    let region = Arc::new(Region::heap(config));
    for (lane, image) in region.lanes().iter().zip(lanes) {
        if !image.ring.is_empty() {
            // SAFETY: no handle is attached yet; the range is the whole ring.
            unsafe {
                lane.slots().write(0, config.ring_bytes(), |dst| {
                    for (d, s) in dst.iter_mut().zip(image.ring.iter().cycle()) {
                        *d = *s;
                    }
                });
            }
        }
        let h = lane.header();
        h.producer.head.store(image.head, Relaxed);
        h.consumer.tail.store(image.tail, Relaxed);
        h.consumer.sender_token.store(image.sender_token, Relaxed);
    }
    let Ok(mut rx) = Consumer::attach(region, WaitStrategy::Spin) else {
        return (0, Vec::new());
    };
    // The fuzz crate's model serves the lanes strictly in turn.
    rx.quantum = 1;
    let mut delivered = 0;
    let mut per_lane = vec![0; lanes.len()];
    for _ in 0..4 * slot_count * lanes.len() {
        match rx.recv_from_with(Deadline::Now, |bytes, from| (bytes.len(), from.lane)) {
            Ok((_, lane)) => {
                delivered += 1;
                per_lane[lane] += 1;
            }
            Err(Stop::Corrupted(_)) => {
                // Poisoned: it must stay so.
                assert!(matches!(
                    rx.recv_with(Deadline::Now, |_| ()),
                    Err(Stop::Corrupted(_))
                ));
                break;
            }
            Err(_) => break,
        }
    }
    (delivered, per_lane)
}

/// Opens `image` as a semaphore segment of `image.len()` bytes (as
/// `Semaphore::open` checks a file) and runs `ops` on it, one byte each:
/// `% 5` = 0 `try_acquire`, 1 `acquire_timeout(0)`, 2 drop the newest
/// permit held, 3 `available_permits`, 4 `holders`. Every operation looks
/// at the holders' processes (the liveness pacing is reset before each).
/// Returns the permits taken, or the open error. Never panics or waits.
pub fn semaphore_image(image: &[u8], ops: &[u8]) -> Result<usize, OpenError> {
    crate::semaphore::fuzz_image(image, ops)
}

/// Opens `image` as a barrier segment and runs `ops` on it, one byte
/// each: `% 5` = 0 `join`, 1 `wait_timeout(0)` of the member
/// `byte / 5` (modulo those joined), 2 drop the newest member, 3
/// `joined`, `generation` and `is_broken`, 4 `try_wait` of every member.
/// Every operation looks at the members' processes. Returns the waits
/// that completed a generation, or the open error. Never panics or waits.
pub fn barrier_image(image: &[u8], ops: &[u8]) -> Result<usize, OpenError> {
    crate::barrier::fuzz_image(image, ops)
}

/// What [`topic_files`] did with a topic.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TopicOutcome {
    /// Whether the publisher attached (at some point).
    pub publisher: bool,
    /// Subscribers that attached, in all.
    pub subscribers: usize,
    /// Messages the subscribers received, all together.
    pub received: usize,
    /// Messages they were told they missed (`Lagged`), all together.
    pub lagged: u64,
    /// Calls that reported the topic corrupt.
    pub corrupted: usize,
    /// Messages this process published.
    pub published: usize,
}

/// Writes `ring` as the ring segment of a topic (`shmq.NAME`) and `table`
/// as its subscriber table (`shmq.NAME.subs`), under a name of this
/// process's own in `/dev/shm` (both removed before returning), opens the
/// topic as [`Topic::open`](crate::Topic::open) does (without waiting for
/// a creator: the header and table checks, and the settings the table
/// holds), and runs `ops` on it, one byte each: `% 8` = 0 attach a
/// subscriber (the join handshake with the image's join point), 1 attach
/// one with history (from the image's mark and resume point), 2 attach
/// the publisher (the takeover checks of its head, join point and mark,
/// and a look at every subscriber's tail), 3 `try_recv` of the
/// subscriber `byte / 8` (modulo those attached; it reads whatever
/// records the image holds, in place or by copying as the settings say),
/// 4 `try_send` of `byte / 8 * 5` bytes, 5 drop the newest subscriber, 6
/// drop the publisher, 7 the snapshots (`stats`, `is_empty`,
/// `is_disconnected`, `subscribers`) and a zero-timeout `flush`. Every
/// wait has a zero timeout. Returns the counts, or the open error. Never
/// panics, waits or reads out of bounds, whatever the bytes.
pub fn topic_files(ring: &[u8], table: &[u8], ops: &[u8]) -> Result<TopicOutcome, OpenError> {
    use crate::error::{TopicTryRecvError, TrySendError};
    use std::cell::Cell;
    use std::time::Duration;

    /// The topic's two files, removed on drop (also on a failed open).
    struct Files(String);
    impl Drop for Files {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(crate::segment::path_of(&self.0));
            let table = crate::topic::shared::table_name(&self.0);
            let _ = std::fs::remove_file(crate::segment::path_of(&table));
        }
    }
    thread_local!(static COUNTER: Cell<u64> = const { Cell::new(0) });
    let n = COUNTER.with(|c| {
        c.set(c.get() + 1);
        c.get()
    });
    let files = Files(format!("fuzz-topic-{}-{n}", std::process::id()));
    let write = |name: &str, bytes: &[u8]| {
        use std::io::Write;
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(crate::segment::path_of(name))
            .and_then(|mut f| f.write_all(bytes))
    };
    write(&crate::topic::shared::table_name(&files.0), table)?;
    write(&files.0, ring)?;
    let topic = crate::TopicBuilder::new(&files.0)
        .open_timeout(Duration::ZERO)
        .wait_strategy(WaitStrategy::Spin)
        .open()?;
    assert!(topic.history() < topic.slot_count());
    assert!(!(topic.is_lossy() && topic.lag_limit().is_some()));
    let mut outcome = TopicOutcome::default();
    let mut publisher = None;
    // Each subscriber, with whether it reported corruption (after which
    // it must keep doing so) and the sum of its `Lagged` reports.
    let mut subscribers: Vec<(crate::Subscriber, bool, u64)> = Vec::new();
    for &op in ops {
        match op % 8 {
            0 | 1 => {
                let attached = if op % 8 == 0 {
                    topic.subscriber()
                } else {
                    topic.subscriber_with_history()
                };
                match attached {
                    Ok(s) => {
                        assert!(s.entry() < topic.max_subscribers());
                        outcome.subscribers += 1;
                        subscribers.push((s, false, 0));
                    }
                    Err(e) => {
                        let _ = format!("{e} {e:?}");
                    }
                }
            }
            2 if publisher.is_none() => match topic.publisher() {
                Ok(p) => {
                    outcome.publisher = true;
                    publisher = Some(p);
                }
                Err(e) => {
                    let _ = format!("{e} {e:?}");
                }
            },
            3 if !subscribers.is_empty() => {
                let i = usize::from(op / 8) % subscribers.len();
                let (s, poisoned, lagged) = &mut subscribers[i];
                let result = s.try_recv();
                if *poisoned {
                    assert!(
                        matches!(result, Err(TopicTryRecvError::Corrupted(_))),
                        "a subscriber that found the topic corrupt went on: {result:?}"
                    );
                }
                match result {
                    Ok(m) => {
                        assert!(m.len() as u64 <= topic.max_message_size());
                        outcome.received += 1;
                    }
                    Err(TopicTryRecvError::Lagged(missed)) => {
                        assert!(missed > 0);
                        *lagged = lagged.saturating_add(missed);
                        outcome.lagged = outcome.lagged.saturating_add(missed);
                    }
                    Err(TopicTryRecvError::Corrupted(e)) => {
                        let _ = format!("{e} {e:?}");
                        *poisoned = true;
                        outcome.corrupted += 1;
                    }
                    Err(_) => {}
                }
                assert_eq!(s.lagged(), *lagged);
            }
            4 => {
                if let Some(p) = publisher.as_mut() {
                    let msg = vec![op; usize::from(op / 8) * 5];
                    match p.try_send(&msg) {
                        Ok(()) => outcome.published += 1,
                        Err(TrySendError::Corrupted(_)) => outcome.corrupted += 1,
                        Err(_) => {}
                    }
                }
            }
            5 => drop(subscribers.pop()),
            6 => drop(publisher.take()),
            7 => {
                let stats = topic.stats();
                assert!(stats.subscribers.len() <= topic.max_subscribers());
                let _ = format!("{stats:?}");
                for (s, _, _) in &subscribers {
                    let _ = (s.is_empty(), s.is_disconnected());
                }
                if let Some(p) = publisher.as_mut() {
                    assert!(p.subscribers() <= topic.max_subscribers());
                    let _ = p.flush_timeout(Duration::ZERO);
                }
            }
            _ => {}
        }
    }
    drop((subscribers, publisher, topic));
    drop(files);
    Ok(outcome)
}
