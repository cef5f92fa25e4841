//! The cross-process barrier: processes pass generations together with
//! one leader each; a member killed with SIGKILL before arriving breaks
//! it for the others (and for good), one killed after arriving does not
//! break the generation it arrived for; a member that leaves normally is
//! replaced by the next process to join.
//!
//! Detection times (from the kill to `Broken`) are printed (run with
//! `--nocapture`); the design target is about 100 ms, the assertions allow
//! 2 s for a loaded machine.

mod support;

use std::time::{Duration, Instant};

use shmq::{Barrier, BarrierError, OpenErrorKind};
use support::{Peer, background, numbers, serial, unique_name};

/// Upper bound on noticing a killed member.
const DETECTION_LIMIT: Duration = Duration::from_secs(2);
/// Time for a peer to start and join.
const STARTUP: Duration = Duration::from_secs(10);
/// Whole-step limit for anything that should take milliseconds.
const LIMIT: Duration = Duration::from_secs(30);

/// A named barrier, removed on drop (even when the test panics).
struct TempBarrier {
    name: String,
    barrier: Barrier,
}

impl TempBarrier {
    fn new(tag: &str, members: usize) -> Self {
        let name = unique_name(tag);
        let barrier = Barrier::create(&name, members)
            .unwrap_or_else(|e| panic!("creating barrier {name}: {e}"));
        TempBarrier { name, barrier }
    }
}

impl Drop for TempBarrier {
    fn drop(&mut self) {
        let _ = Barrier::remove(&self.name);
    }
}

#[test]
fn processes_pass_generations_together() {
    let _serial = serial();
    let t = TempBarrier::new("bar-rounds", 3);
    const ROUNDS: u64 = 200;
    let peers: Vec<Peer> = (0..2)
        .map(|_| Peer::spawn(&["barrier-wait", &t.name, &format!("rounds={ROUNDS}")]))
        .collect();
    let mut member = t.barrier.join().unwrap();
    let mut leaders = 0;
    for round in 0..ROUNDS {
        // No member can be more than one generation ahead of another.
        let g = u64::from(t.barrier.generation());
        assert!(
            g == round || g == round + 1,
            "round {round}: generation {g}"
        );
        if member.wait().unwrap().is_leader() {
            leaders += 1;
        }
    }
    for peer in peers {
        let out = peer.finish(LIMIT);
        let line = out.lines().find(|l| l.starts_with("leaders")).unwrap();
        leaders += numbers(line, "leaders")[0];
    }
    assert_eq!(leaders, ROUNDS, "one leader per generation");
    assert_eq!(u64::from(t.barrier.generation()), ROUNDS);
    assert!(!t.barrier.is_broken());
}

#[test]
fn member_killed_before_arriving_breaks_the_barrier() {
    let _serial = serial();
    let t = TempBarrier::new("bar-kill", 3);
    // One member waits in another process, one holds its slot and never
    // arrives; this process waits too.
    let mut waiting = Peer::spawn(&["barrier-wait", &t.name, "expect=broken"]);
    waiting.expect_line("joined", STARTUP);
    let mut idle = Peer::spawn(&["barrier-join", &t.name]);
    idle.expect_line("joined", STARTUP);
    let mut member = t.barrier.join().unwrap();
    let waiter = background("wait", move || {
        let result = member.wait();
        (Instant::now(), result, member)
    });
    std::thread::sleep(Duration::from_millis(100));
    let killed = idle.kill();
    let idle_pid = idle.pid();
    let (at, result, mut member) = waiter.join(LIMIT);
    let detection = at.duration_since(killed);
    println!("killed member found after {detection:?}");
    assert_eq!(result, Err(BarrierError::Broken { pid: idle_pid }));
    assert!(detection < DETECTION_LIMIT, "took {detection:?}");
    let out = waiting.finish(LIMIT);
    assert_eq!(
        numbers(out.trim(), "broken"),
        [u64::from(idle_pid)],
        "{out}"
    );
    // Broken for good: every later wait fails, for new members too.
    assert!(t.barrier.is_broken());
    assert_eq!(member.wait(), Err(BarrierError::Broken { pid: idle_pid }));
    drop(member);
    let mut late = t.barrier.join().unwrap();
    assert!(late.wait().is_err());
}

#[test]
fn member_killed_after_arriving_completes_its_generation() {
    let _serial = serial();
    let t = TempBarrier::new("bar-kill-arrived", 2);
    let mut peer = Peer::spawn(&["barrier-wait", &t.name, "rounds=2"]);
    peer.expect_line("joined", STARTUP);
    // The peer arrives for generation 0 and waits; killed there, its
    // arrival stands.
    std::thread::sleep(Duration::from_millis(200));
    peer.kill();
    peer.wait(LIMIT);
    let mut member = t.barrier.join().unwrap();
    let first = member.wait_timeout(LIMIT).unwrap();
    assert!(first.is_leader());
    // It never arrives for generation 1: that one is broken.
    let started = Instant::now();
    assert_eq!(member.wait(), Err(BarrierError::Broken { pid: peer.pid() }));
    assert!(started.elapsed() < DETECTION_LIMIT);
}

#[test]
fn member_that_leaves_is_replaced_not_broken() {
    let _serial = serial();
    let t = TempBarrier::new("bar-leave", 2);
    let mut first = t.barrier.join().unwrap();
    let mut other = t.barrier.join().unwrap();
    assert!(matches!(
        t.barrier.join().unwrap_err().kind(),
        OpenErrorKind::TooManyMembers { limit: 2 }
    ));
    drop(other);
    // Alone, this member times out (and stays arrived)...
    assert!(
        first
            .wait_timeout(Duration::from_millis(50))
            .unwrap_err()
            .is_timeout()
    );
    assert!(!t.barrier.is_broken());
    // ... until another process joins in the leaver's place and arrives.
    let peer = Peer::spawn(&["barrier-wait", &t.name, "rounds=3"]);
    for _ in 0..3 {
        first.wait_timeout(LIMIT).unwrap();
    }
    let out = peer.finish(LIMIT);
    assert!(out.contains("leaders"), "{out}");
    other = t.barrier.join().unwrap();
    assert_eq!(other.slot(), 1 - first.slot());
    assert_eq!(t.barrier.joined(), 2);
}

#[test]
fn bad_members_and_kinds_are_refused() {
    for bad in [0, shmq::MAX_MEMBERS + 1] {
        let err = Barrier::create(&unique_name("bar-bad"), bad).unwrap_err();
        assert!(
            matches!(err.kind(), OpenErrorKind::InvalidOptions(_)),
            "{err}"
        );
    }
    let t = TempBarrier::new("bar-kind", 2);
    let err = shmq::Semaphore::open(&t.name).unwrap_err();
    assert!(
        matches!(
            err.kind(),
            OpenErrorKind::WrongKind {
                found: "barrier",
                expected: "semaphore"
            }
        ),
        "{err}"
    );
    let err = shmq::Queue::open(&t.name).unwrap_err();
    assert!(
        matches!(
            err.kind(),
            OpenErrorKind::WrongKind {
                found: "barrier",
                expected: "queue"
            }
        ),
        "{err}"
    );
    let err = Barrier::open(&unique_name("bar-none")).unwrap_err();
    assert!(err.to_string().contains("no such barrier"), "{err}");
}
