//! Loom models of the semaphore (`src/semaphore.rs`): a permit is held by
//! one thread at a time and hands over what its holder did, a release
//! wakes a sleeping acquirer, and a dead holder's permit comes back to a
//! waiting acquirer.
//!
//! Run as the models in `models.rs` (see there). The one-line library
//! changes that make each fail are listed in `docs/correctness.md`.
//!
//! Death is modelled as in the other models: the dead process's token
//! (`LOOM_DEAD_TOKEN`) stays in its permit word and nothing is released.
//! A waiter outside loom finds it by looking at the holders once a
//! liveness slice, after a timed sleep; loom has no time, so the dying
//! thread ends every waiter's sleep after the death
//! (`wait::loom_slice_end`), as the timer would at some point after it.

#![cfg(shmq_loom)]

use loom::cell::UnsafeCell;
use loom::sync::Arc;
use loom::thread;
use shmq::Semaphore;
use shmq_loom_tests::model;

/// Proves: with one permit, two acquirers never hold it at once, and the
/// second sees what the first did under it (loom flags the cell's access
/// if the permit's release and take do not order it: SYNC: permit).
#[test]
fn permit_is_exclusive_and_hands_over() {
    model(|| {
        let sem = Arc::new(Semaphore::in_process(1).unwrap());
        let data = Arc::new(UnsafeCell::new(0u32));
        let worker = |sem: Arc<Semaphore>, data: Arc<UnsafeCell<u32>>| {
            move || {
                let permit = sem.acquire();
                // SAFETY (test): only the permit's holder touches the cell.
                data.with_mut(|v| unsafe { *v += 1 });
                drop(permit);
            }
        };
        let t = thread::spawn(worker(Arc::clone(&sem), Arc::clone(&data)));
        worker(Arc::clone(&sem), Arc::clone(&data))();
        t.join().unwrap();
        let permit = sem.try_acquire().expect("both permits released");
        // SAFETY (test): we hold the only permit.
        assert_eq!(data.with(|v| unsafe { *v }), 2);
        drop(permit);
    });
}

/// Proves: an acquirer asleep for the only permit is woken by its release
/// (no lost wake-up: the handshake of `wait_event` and `notify`), and no
/// permit is lost or made twice.
#[test]
fn release_wakes_sleeping_acquirer() {
    model(|| {
        let sem = Arc::new(Semaphore::in_process(1).unwrap());
        let held = sem.acquire();
        let sem2 = Arc::clone(&sem);
        let t = thread::spawn(move || {
            let permit = sem2.acquire();
            assert_eq!(sem2.available_permits(), 0);
            drop(permit);
        });
        drop(held);
        t.join().unwrap();
        assert_eq!(sem.available_permits(), 1);
    });
}

/// Proves: a permit whose holder dies holding it comes back: an acquirer
/// that waits for it (asleep or not when the holder dies) is woken, finds
/// the holder dead and takes the permit over; one that comes later takes
/// it at once. Either thread may take the permit first.
#[test]
fn dead_holders_permit_is_returned() {
    model(|| {
        let sem = Arc::new(Semaphore::in_process(1).unwrap());
        let sem2 = Arc::clone(&sem);
        let t = thread::spawn(move || {
            let permit = sem2.acquire();
            permit.loom_die();
        });
        let permit = sem.acquire();
        drop(permit);
        t.join().unwrap();
        // The dead holder's permit (if it took the permit last) comes back.
        let again = sem
            .try_acquire()
            .expect("the dead holder's permit came back");
        drop(again);
    });
}
