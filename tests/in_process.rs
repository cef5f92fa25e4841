//! The ring over an in-process (heap) segment, driven by two threads.

use shmq::{QueueBuilder, RecvError, TryRecvError, TrySendError};

fn pattern(i: usize, len: usize) -> Vec<u8> {
    (0..len).map(|j| (i.wrapping_mul(31) ^ j) as u8).collect()
}

#[test]
fn all_sizes_arrive_in_order() {
    for (slot, slots) in [(64, 2), (64, 8), (128, 16), (256, 4)] {
        let q = QueueBuilder::in_process()
            .slot_size(slot)
            .slots(slots)
            .max_message_size(1 << 20)
            .create()
            .unwrap();
        let cap = q.capacity();
        let sizes: Vec<usize> = vec![
            0,
            1,
            slot - 17,
            slot - 16,
            slot - 15,
            slot,
            cap - 1,
            cap,
            cap + 1,
            3 * cap,
            7,
            100,
            1000,
        ];
        let mut tx = q.sender().unwrap();
        let mut rx = q.receiver().unwrap();
        let s2 = sizes.clone();
        let t = std::thread::spawn(move || {
            for round in 0..50 {
                for (i, &len) in s2.iter().enumerate() {
                    tx.send(&pattern(round * 100 + i, len)).unwrap();
                }
            }
        });
        for round in 0..50 {
            for (i, &len) in sizes.iter().enumerate() {
                let got = rx.recv().unwrap();
                assert_eq!(got.len(), len, "slot {slot} slots {slots} len {len}");
                assert_eq!(got, pattern(round * 100 + i, len));
            }
        }
        t.join().unwrap();
        assert_eq!(rx.recv(), Err(RecvError::Disconnected));
    }
}

#[test]
fn try_ops_and_disconnect() {
    let q = QueueBuilder::in_process()
        .slot_size(64)
        .slots(4)
        .create()
        .unwrap();
    let mut tx = q.sender().unwrap();
    let mut rx = q.receiver().unwrap();
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    // All slots but one: a record needs one more free slot than it takes.
    for i in 0..3u8 {
        tx.try_send(&[i; 10]).unwrap();
    }
    assert_eq!(tx.try_send(b"x"), Err(TrySendError::Full));
    assert_eq!(rx.try_recv().unwrap(), [0u8; 10]);
    tx.try_send(b"x").unwrap();
    drop(rx);
    assert_eq!(tx.try_send(b"y"), Err(TrySendError::Disconnected));
}

#[test]
#[cfg_attr(miri, ignore = "Miri cannot map shared memory")]
fn named_smoke() {
    /// Removes the queue however the test ends.
    struct Remove(String);
    impl Drop for Remove {
        fn drop(&mut self) {
            let _ = shmq::Queue::remove(&self.0);
        }
    }
    let name = format!("smoke-{}", std::process::id());
    let _remove = Remove(name.clone());
    let q = shmq::Queue::builder(&name).slots(8).create().unwrap();
    let mut tx = q.sender().unwrap();
    let q2 = shmq::Queue::open(&name).unwrap();
    let mut rx = q2.receiver().unwrap();
    assert!(matches!(
        q2.sender().map_err(shmq::OpenError::into_kind),
        Err(shmq::OpenErrorKind::AlreadyAttached { .. })
    ));
    tx.send(b"hello").unwrap();
    assert_eq!(rx.recv().unwrap(), b"hello");
    shmq::Queue::remove(&name).unwrap();
}
