//! The cross-process semaphore: permits shared by processes, handed over
//! on release, and given back when a holder process is killed with
//! SIGKILL (to a process waiting for one, to `try_acquire`, and in
//! `available_permits`); a semaphore's name opened as another kind of
//! object is refused.
//!
//! Detection times (from the kill to the permit) are printed (run with
//! `--nocapture`); the design target is about 100 ms, the assertions allow
//! 2 s for a loaded machine.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use shmq::{OpenErrorKind, Queue, Semaphore, TryAcquireError};
use support::{Peer, background, numbers, serial, unique_name, wait_for};

/// Upper bound on noticing a killed holder.
const DETECTION_LIMIT: Duration = Duration::from_secs(2);
/// Time for a peer to start and take its permits.
const STARTUP: Duration = Duration::from_secs(10);
/// Whole-step limit for anything that should take milliseconds.
const LIMIT: Duration = Duration::from_secs(30);

/// A named semaphore, removed on drop (even when the test panics).
struct TempSemaphore {
    name: String,
    sem: Arc<Semaphore>,
}

impl TempSemaphore {
    fn new(tag: &str, permits: usize) -> Self {
        let name = unique_name(tag);
        let sem = Semaphore::create(&name, permits)
            .unwrap_or_else(|e| panic!("creating semaphore {name}: {e}"));
        TempSemaphore {
            name,
            sem: Arc::new(sem),
        }
    }
}

impl Drop for TempSemaphore {
    fn drop(&mut self) {
        let _ = Semaphore::remove(&self.name);
    }
}

/// A peer holding `permits` permits of `name`, once it says so.
fn holder(name: &str, permits: usize) -> Peer {
    let mut peer = Peer::spawn(&["sem-hold", name, &format!("permits={permits}")]);
    peer.expect_line(&format!("held {permits}"), STARTUP);
    peer
}

#[test]
fn killed_holder_permit_goes_to_a_waiting_process() {
    let _serial = serial();
    let t = TempSemaphore::new("sem-kill-wait", 1);
    let mut peer = holder(&t.name, 1);
    assert_eq!(t.sem.holders(), [peer.pid()]);
    assert_eq!(t.sem.try_acquire().unwrap_err(), TryAcquireError::NoPermits);
    // Waiting (asleep) when the holder dies.
    let sem = Arc::clone(&t.sem);
    let waiter = background("acquire", move || {
        let permit = sem.acquire();
        let at = Instant::now();
        let holders = permit.semaphore().holders();
        drop(permit);
        (at, holders)
    });
    std::thread::sleep(Duration::from_millis(100));
    let killed = peer.kill();
    let (got, holders) = waiter.join(LIMIT);
    let detection = got.duration_since(killed);
    println!("killed holder's permit taken over after {detection:?}");
    assert!(detection < DETECTION_LIMIT, "took {detection:?}");
    assert_eq!(holders, [std::process::id()], "the permit is ours alone");
    assert_eq!(t.sem.available_permits(), 1);
}

#[test]
fn killed_holder_permits_come_back_to_try_acquire_and_the_count() {
    let _serial = serial();
    let t = TempSemaphore::new("sem-kill-try", 3);
    let mut peer = holder(&t.name, 2);
    let mine = t.sem.acquire();
    assert_eq!(t.sem.available_permits(), 0);
    assert_eq!(t.sem.holders().len(), 3);
    peer.kill();
    peer.wait(LIMIT); // reaped: its permits' holder is gone
    // Counted as free at once (available_permits looks at the holders)...
    assert_eq!(t.sem.available_permits(), 2);
    assert_eq!(t.sem.holders(), [std::process::id()]);
    // ... and taken over by try_acquire once it looks (once a slice).
    let mut taken = Vec::new();
    wait_for(
        DETECTION_LIMIT,
        || "try_acquire never took the dead holder's permits".into(),
        || {
            if let Ok(permit) = t.sem.try_acquire() {
                taken.push(permit);
            }
            taken.len() == 2
        },
    );
    assert_eq!(t.sem.holders(), [std::process::id(); 3]);
    assert!(t.sem.try_acquire().is_err());
    drop((taken, mine));
    assert_eq!(t.sem.available_permits(), 3);
}

#[test]
fn release_wakes_a_waiting_process() {
    let _serial = serial();
    let t = TempSemaphore::new("sem-handover", 1);
    let held = t.sem.acquire();
    let mut peer = Peer::spawn(&["sem-acquire", &t.name]);
    peer.expect_line("waiting", STARTUP);
    std::thread::sleep(Duration::from_millis(100));
    peer.check_not_failed();
    assert!(peer.exited().is_none(), "acquired a held permit");
    let released = Instant::now();
    drop(held);
    peer.expect_line("acquired", LIMIT);
    println!("handed over in {:?}", released.elapsed());
    peer.finish(LIMIT);
    assert_eq!(t.sem.available_permits(), 1);
    // And a timed acquire by another process times out while we hold it.
    let held = t.sem.acquire();
    let mut peer = Peer::spawn(&["sem-acquire", &t.name, "timeout_ms_acquire=50"]);
    peer.expect_line("waiting", STARTUP);
    peer.expect_line("timeout", LIMIT);
    peer.finish(LIMIT);
    drop(held);
}

#[test]
fn processes_share_the_permits() {
    let _serial = serial();
    let t = TempSemaphore::new("sem-share", 2);
    let peers: Vec<Peer> = (0..4)
        .map(|_| Peer::spawn(&["sem-cycle", &t.name, "count=300"]))
        .collect();
    for peer in peers {
        let out = peer.finish(LIMIT);
        assert_eq!(numbers(out.trim(), "cycled"), [300], "{out}");
    }
    assert_eq!(t.sem.available_permits(), 2);
    assert!(t.sem.holders().is_empty());
}

#[test]
fn other_kinds_are_refused_by_name() {
    let t = TempSemaphore::new("sem-kinds", 1);
    let err = Queue::open(&t.name).unwrap_err();
    assert!(
        matches!(
            err.kind(),
            OpenErrorKind::WrongKind {
                found: "semaphore",
                expected: "queue"
            }
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "queue {:?}: the segment holds a semaphore, not a queue",
            t.name
        )
    );
    let err = Queue::inspect(&t.name).unwrap_err();
    assert!(
        matches!(err.kind(), OpenErrorKind::WrongKind { .. }),
        "{err}"
    );
    let err = shmq::Barrier::open(&t.name).unwrap_err();
    assert!(
        matches!(
            err.kind(),
            OpenErrorKind::WrongKind {
                found: "semaphore",
                expected: "barrier"
            }
        ),
        "{err}"
    );
    // Nor is a semaphore or barrier removed by the other's `remove`.
    assert!(shmq::Barrier::remove(&t.name).is_err());
    assert!(Semaphore::open(&t.name).is_ok());

    let queue_name = unique_name("sem-kinds-q");
    let _queue = Queue::builder(&queue_name).slots(4).create().unwrap();
    let err = Semaphore::open(&queue_name).unwrap_err();
    assert!(
        matches!(
            err.kind(),
            OpenErrorKind::WrongKind {
                found: "queue",
                expected: "semaphore"
            }
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        format!("semaphore {queue_name:?}: the segment holds a queue, not a semaphore")
    );
    assert!(Semaphore::remove(&queue_name).is_err());
    assert!(
        Queue::open(&queue_name).is_ok(),
        "a queue removed as a semaphore"
    );
    Queue::remove(&queue_name).unwrap();

    let err = Semaphore::open(&unique_name("sem-none")).unwrap_err();
    assert!(err.to_string().contains("no such semaphore"), "{err}");
    assert!(matches!(
        Semaphore::create(&t.name, 1).unwrap_err().kind(),
        OpenErrorKind::AlreadyExists
    ));
    for bad in [0, shmq::MAX_PERMITS + 1] {
        let err = Semaphore::create(&unique_name("sem-bad"), bad).unwrap_err();
        assert!(
            matches!(err.kind(), OpenErrorKind::InvalidOptions(_)),
            "{err}"
        );
    }
}

#[test]
fn garbage_in_the_segment_is_an_error_or_harmless() {
    let t = TempSemaphore::new("sem-garbage", 4);
    let path = format!("/dev/shm/shmq.{}", t.name);
    let pristine = std::fs::read(&path).unwrap();
    let write_at = |bytes: &[u8], at: usize| {
        let mut image = pristine.clone();
        image[at..at + bytes.len()].copy_from_slice(bytes);
        std::fs::write(&path, &image).unwrap();
    };
    // Header fields: each gives its own error.
    for (at, bytes, check) in [
        (0, &b"NOTSHMQ!"[..], "bad magic"),
        (8, &9u32.to_le_bytes()[..], "version"),
        (12, &0u32.to_le_bytes()[..], "permits out of range"),
        (12, &5000u32.to_le_bytes()[..], "permits out of range"),
        (12, &17u32.to_le_bytes()[..], "segment size field"),
        (16, &7u32.to_le_bytes()[..], "entry size"),
        (24, &1u64.to_le_bytes()[..], "segment size field"),
        (48, &7u32.to_le_bytes()[..], "bad ready marker"),
    ] {
        write_at(bytes, at);
        let err = Semaphore::open(&t.name).unwrap_err();
        assert!(err.to_string().contains(check), "{at}: {err}");
    }
    // Permit words: any value is a token; garbage ones are dead holders.
    let mut image = pristine.clone();
    for (i, word) in [u64::MAX, 0x1234_5678_9abc_def0, 1, 0].iter().enumerate() {
        image[256 + 8 * i..256 + 8 * i + 8].copy_from_slice(&word.to_le_bytes());
    }
    std::fs::write(&path, &image).unwrap();
    let sem = Semaphore::open(&t.name).unwrap();
    assert_eq!(sem.available_permits(), 4);
    let permits: Vec<_> = (0..4)
        .map(|_| {
            sem.acquire_timeout(DETECTION_LIMIT)
                .expect("garbage holders are dead")
        })
        .collect();
    assert_eq!(sem.holders(), [std::process::id(); 4]);
    drop(permits);
    // A truncated file.
    std::fs::write(&path, &pristine[..100]).unwrap();
    assert!(Semaphore::open(&t.name).is_err());
}
