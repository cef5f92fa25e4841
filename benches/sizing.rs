//! How big a queue is, and how many messages of a size it holds: the
//! sizing rules of `src/layout.rs`, printed and checked against real
//! queues.
//!
//! Not a timing bench: it prints two tables for `docs/performance.md`.
//!
//! 1. For a few shapes (slot size x slot count, and sender lanes of a
//!    mailbox, `QueueBuilder::senders`, each with a ring of its own): the
//!    memory the queue takes
//!    (the size of its file in `/dev/shm`: a named queue is created, looked
//!    at and removed), the longest message that travels
//!    in one piece (`Queue::capacity`, `(slots - 1) x slot_size - 16`: the
//!    sender keeps one slot free and a record starts with a 16-byte
//!    header), and the fragment size of longer messages (half the ring less
//!    a header). Each capacity is checked: `reserve(capacity)` succeeds
//!    (a reservation is always one piece), `reserve` and `try_send` of
//!    `capacity + 1` bytes fail with `TooLarge`, and `send` of them
//!    streams fragments.
//! 2. For messages of several sizes in the default shape (4096 slots of
//!    128 bytes): the slots one record takes, `r = ceil((16 + len) /
//!    slot_size)`, and the burst the ring holds while the receiver takes
//!    nothing, counted with `try_send` until `Full`, from an empty ring.
//!    Twice: with the next record at slot 0 (`floor((slots - 1) / r)`) and
//!    at the worst place, `r - 1` slots before the end of the ring, where
//!    the first record needs a padding record of `r - 1` slots
//!    (`floor((slots - r) / r)`). The
//!    formula is printed beside each count, and the bench fails if they
//!    differ.
//!
//! Run: `cargo bench --bench sizing` (under a second).

#![allow(missing_docs, reason = "a bench binary")]

use shmq::{Queue, QueueBuilder, Receiver, SendError, Sender, TrySendError};

const RECORD_HEADER: usize = 16;

fn queue(slot_size: usize, slots: usize, max_message: usize) -> Queue {
    QueueBuilder::in_process()
        .slot_size(slot_size)
        .slots(slots)
        .max_message_size(max_message as u64)
        .create()
        .expect("queue")
}

fn show_bytes(n: usize) -> String {
    match n {
        n if n >= 1 << 20 && n % (1 << 20) == 0 => format!("{} MiB", n >> 20),
        n if n >= 1 << 10 && n % (1 << 10) == 0 => format!("{} KiB", n >> 10),
        n if n >= 1 << 20 => format!("{:.2} MiB", n as f64 / (1 << 20) as f64),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}

/// Messages of `len` bytes that `try_send` puts into the queue (whose
/// receiver takes nothing meanwhile) before `Full`.
fn burst(tx: &mut Sender, len: usize) -> usize {
    let msg = vec![0x5a; len];
    let mut count = 0;
    loop {
        match tx.try_send(&msg) {
            Ok(()) => count += 1,
            Err(TrySendError::Full) => return count,
            Err(e) => panic!("try_send: {e}"),
        }
    }
}

/// Both ends of a new default-shaped queue, with the ring empty and the
/// sender's next record at slot `index`: one-slot messages are sent and
/// received until it is there. (Attaching may itself write a record: its
/// slots are counted from `Stats::slots_used` before anything is read.)
fn ends_at(slot_size: usize, slots: usize, index: usize) -> (Queue, Sender, Receiver) {
    let queue = queue(slot_size, slots, 64 << 20);
    let (mut tx, mut rx) = (queue.sender().unwrap(), queue.receiver().unwrap());
    let head = queue.stats().slots_used as usize;
    for _ in 0..(index + slots - head) % slots {
        tx.try_send(&[0]).expect("one slot");
        rx.try_recv_with(|_| ()).expect("received");
    }
    // Frees whatever attaching wrote, if nothing was sent.
    let _ = rx.try_recv_with(|_| ());
    assert_eq!(queue.stats().slots_used, 0, "the ring is empty");
    (queue, tx, rx)
}

/// Checks that a message of `capacity` bytes can be reserved (in one
/// piece) and one byte more cannot, with a receiver thread draining.
fn check_capacity(queue: &Queue, capacity: usize) {
    let mut rx = queue.receiver().unwrap();
    let reader = std::thread::spawn(move || {
        let mut lens = Vec::new();
        while let Ok(len) = rx.recv_with(|bytes| bytes.len()) {
            lens.push(len);
        }
        lens
    });
    let mut tx = queue.sender().unwrap();
    let mut slot = tx.reserve(capacity).expect("capacity fits in one piece");
    slot.fill(1);
    slot.commit();
    assert!(matches!(
        tx.reserve(capacity + 1),
        Err(SendError::TooLarge { .. })
    ));
    assert!(matches!(
        tx.try_send(&vec![1; capacity + 1]),
        Err(TrySendError::TooLarge { .. })
    ));
    // `send` streams it in fragments instead.
    tx.send(&vec![1; capacity + 1]).expect("send fragments it");
    drop(tx);
    assert_eq!(reader.join().unwrap(), [capacity, capacity + 1]);
}

/// Bytes of the file in `/dev/shm` of a named queue of this shape.
fn file_size(slot_size: usize, slots: usize, senders: usize) -> usize {
    let name = format!("bench-sizing-{}", std::process::id());
    let _ = Queue::remove(&name);
    let queue = Queue::builder(&name)
        .slot_size(slot_size)
        .slots(slots)
        .senders(senders)
        .create()
        .expect("named queue");
    let path = format!("/dev/shm/shmq.{name}");
    let len = std::fs::metadata(&path).expect("the queue's file").len();
    drop(queue);
    Queue::remove(&name).expect("remove the queue");
    len as usize
}

fn shapes() {
    println!(
        "| slot size | slots | senders | memory (rings + header) | capacity (one piece) | fragment |"
    );
    println!("| --- | --- | --- | --- | --- | --- |");
    for (slot_size, slots, senders) in [
        (64, 1024, 1),
        (128, 4096, 1),
        (256, 4096, 1),
        (1024, 1024, 1),
        (4096, 1024, 1),
        (64 << 10, 256, 1),
        (128, 4096, 4),
        (128, 1024, 16),
    ] {
        let q = queue(slot_size, slots, 64 << 20);
        let capacity = q.capacity();
        assert_eq!(capacity, (slots - 1) * slot_size - RECORD_HEADER);
        check_capacity(&q, capacity);
        let fragment = (slots / 2) * slot_size - RECORD_HEADER;
        let memory = file_size(slot_size, slots, senders);
        let rings = senders * slots * slot_size;
        println!(
            "| {} | {slots} | {senders} | {} ({} + {} B) | {} ({capacity} B) | {} ({} B) |",
            show_bytes(slot_size),
            show_bytes(memory),
            show_bytes(rings),
            memory - rings,
            show_bytes(capacity),
            show_bytes(fragment),
            fragment,
        );
    }
}

fn bursts() {
    let (slot_size, slots) = (128, 4096);
    println!(
        "\nBurst held by {slots} slots of {slot_size} B while the receiver takes nothing \
         (r = slots per record):\n"
    );
    println!(
        "| message | r | burst, next record at slot 0 | (slots - 1) / r | \
         burst, worst slot | (slots - r) / r |"
    );
    println!("| --- | --- | --- | --- | --- | --- |");
    for len in [8, 64, 112, 113, 200, 1000, 4096, 64 << 10] {
        let r = (RECORD_HEADER + len).div_ceil(slot_size);

        let (_q, mut tx, _rx) = ends_at(slot_size, slots, 0);
        let best = burst(&mut tx, len);
        assert_eq!(best, (slots - 1) / r, "from slot 0, {len} B");

        // `r - 1` slots before the end of the ring: the first record must
        // pad them.
        let (_q, mut tx, _rx) = ends_at(slot_size, slots, (slots - r + 1) % slots);
        let worst = burst(&mut tx, len);
        assert_eq!(worst, (slots - r) / r, "from the worst slot, {len} B");

        println!(
            "| {} | {r} | {best} | {} | {worst} | {} |",
            show_bytes(len),
            (slots - 1) / r,
            (slots - r) / r,
        );
    }
}

fn main() {
    shapes();
    bursts();
}
