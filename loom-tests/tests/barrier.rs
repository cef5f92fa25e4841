//! Loom models of the barrier (`src/barrier.rs`): generations keep the
//! members in step (a fast member that arrives for the next generation
//! can neither complete the current one nor be taken for a member of it),
//! exactly one leader per generation, and a dead member breaks it.
//!
//! Run as the models in `models.rs` (see there). The one-line library
//! changes that make each fail are listed in `docs/correctness.md`.
//! Death is modelled as in `semaphore.rs` (the dead member's token stays
//! in its slot; the dying thread ends every waiter's timed sleep).

#![cfg(shmq_loom)]

use loom::cell::UnsafeCell;
use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use loom::thread;
use shmq::{Barrier, BarrierError, BarrierMember};
use shmq_loom_tests::model;

const ROUNDS: usize = 2;

/// One member's part: before its wait of round `r` it writes its cell of
/// round `r`; after it, it reads the other member's cell of round `r`
/// (loom flags the read unless the barrier ordered it after the write:
/// SYNC: arrive, generation) and checks the value. Counts its leaderships.
fn member(
    mut me: BarrierMember,
    mine: usize,
    cells: Arc<[[UnsafeCell<usize>; ROUNDS]; 2]>,
    leaders: Arc<AtomicUsize>,
) -> BarrierMember {
    for r in 0..ROUNDS {
        // SAFETY (test): each cell of round `r` is written once, by its
        // member, before the barrier of round `r`, and read after it.
        cells[mine][r].with_mut(|v| unsafe { *v = 10 * mine + r + 1 });
        let result = me.wait().expect("no member died");
        if result.is_leader() {
            leaders.fetch_add(1, Relaxed);
        }
        let other = 1 - mine;
        // SAFETY (test): as above.
        let seen = cells[other][r].with(|v| unsafe { *v });
        assert_eq!(
            seen,
            10 * other + r + 1,
            "round {r}: the other member had not arrived"
        );
    }
    me
}

/// Proves: two members through two generations stay in step: neither
/// passes the barrier of round `r` before the other has arrived for it,
/// though the first one out of round 0 arrives for round 1 while the other
/// is still leaving round 0; and each generation has exactly one leader.
#[test]
fn generations_keep_members_in_step() {
    model(|| {
        let barrier = Barrier::in_process(2).unwrap();
        let a = barrier.join().unwrap();
        let b = barrier.join().unwrap();
        let cells = Arc::new([
            [UnsafeCell::new(0), UnsafeCell::new(0)],
            [UnsafeCell::new(0), UnsafeCell::new(0)],
        ]);
        let leaders = Arc::new(AtomicUsize::new(0));
        let t = {
            let (cells, leaders) = (Arc::clone(&cells), Arc::clone(&leaders));
            thread::spawn(move || member(b, 1, cells, leaders))
        };
        let a = member(a, 0, cells, Arc::clone(&leaders));
        let b = t.join().unwrap();
        assert_eq!(leaders.load(Relaxed), ROUNDS, "one leader per generation");
        assert_eq!(barrier.generation(), ROUNDS as u32);
        drop((a, b));
    });
}

/// Proves: a member that dies before arriving breaks the barrier: the
/// member waiting for it (asleep or not when it dies, and whether the
/// dead one had joined before the wait began or not) returns `Broken`,
/// and the barrier stays broken.
#[test]
fn dead_member_breaks_barrier() {
    model(|| {
        let barrier = Barrier::in_process(2).unwrap();
        let mut a = barrier.join().unwrap();
        let b2 = barrier.clone();
        let t = thread::spawn(move || {
            let b = b2.join().unwrap();
            b.loom_die();
        });
        match a.wait() {
            Err(BarrierError::Broken { .. }) => {}
            other => panic!("the wait ended {other:?}"),
        }
        t.join().unwrap();
        assert!(barrier.is_broken());
        assert!(matches!(a.wait(), Err(BarrierError::Broken { .. })));
    });
}
