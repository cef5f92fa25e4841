//! A counting semaphore shared by processes, whose permits come back when
//! a holder process dies (as System V's `SEM_UNDO` gives them back).
//!
//! There is no counter. The segment (a `table`) holds one 64-bit word per
//! permit: 0 while the permit is free, else the owner token (`peer.rs`:
//! pid and start time) of the process that holds it. Acquiring is a
//! compare-exchange of a free word from 0 to the caller's token, scanning
//! from a rotating start; releasing is a compare-exchange back to 0, then
//! a wake-up of the waiters if one registered as asleep. So the state is
//! always exactly the set of words a process wrote, and a process killed
//! at any instant leaves every word either free or holding its token: a
//! waiter that finds no free word looks, once a liveness slice
//! (`wait::liveness_due`), at each holder's process, and takes over a
//! dead one's word with a compare-exchange from its token (pid reuse is
//! caught by the start time in the token).
//!
//! Waiting is the many-waiter event of `wait.rs` (`wait_event`, `notify`):
//! spin briefly, then sleep on the control line's futex word in slices.
//!
//! ```text
//! 0    TableMeta   magic "SHMQSEMA", version 1, permits, sizes, ready
//! 128  SemaphoreControl   event: seq u32 (futex), sleeping u32
//! 256  permit words: permits x u64 (0 = free, else the holder's token),
//!      16 to a 128-byte line, padded to a whole line
//! ```
//!
//! Memory orderings: *permit* (the compare-exchange that frees a word is
//! Release, the one that takes it Acquire: what a holder did under the
//! permit is visible to the next holder), *event-seq* and *event-register*
//! (`wait.rs`), *ready-publish* (`table.rs`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::error::{AcquireTimeoutError, OpenError, TryAcquireError};
// Named in the docs' links only.
#[allow(unused_imports)]
use crate::error::OpenErrorKind;
use crate::layout::{Event, SEMAPHORE_MAGIC};
use crate::peer::{self, own_token};
use crate::sync::AtomicU64;
use crate::sync::Ordering::{Acquire, Relaxed, Release};
use crate::table::{Shared, Spec, Table};
use crate::wait::{DEFAULT_SPIN, Deadline, WaitState, notify, wait_event};

/// Most permits a [`Semaphore`] can have. Every acquire that finds no free
/// permit at once scans them all, and a waiter looks at every holder's
/// process once a liveness slice; this bounds both.
pub const MAX_PERMITS: usize = 4096;

/// Layout version of a semaphore segment; bumped on any incompatible
/// change.
const VERSION: u32 = 1;

const SPEC: Spec = Spec {
    magic: SEMAPHORE_MAGIC,
    version: VERSION,
    kind: "semaphore",
    max_count: MAX_PERMITS,
    count_error: "permits out of range (1 to 4096)",
};

/// The semaphore's control line: where its waiters sleep.
#[repr(C, align(128))]
#[derive(Debug, Default)]
pub(crate) struct SemaphoreControl {
    /// Acquirers waiting for a permit sleep here; a release notifies it.
    pub(crate) event: Event,
}

// SAFETY: `repr(C)`, made of the crate's atomics only (`Event`), aligned
// to 128.
unsafe impl Shared for SemaphoreControl {}

#[cfg(not(shmq_loom))]
const _: () = {
    use std::mem::{offset_of, size_of};
    assert!(size_of::<SemaphoreControl>() == 128);
    assert!(offset_of!(SemaphoreControl, event) == 0);
    assert!(size_of::<AtomicU64>() == 8);
    assert!(crate::table::segment_size::<AtomicU64>(16) == 256 + 128);
};

/// A counting semaphore shared by processes, by name (or within one
/// process, [`in_process`](Self::in_process)).
///
/// A [`Semaphore`] handle is a mapping of the semaphore; it holds no
/// permit. [`acquire`](Self::acquire) takes one and returns a
/// [`SemaphorePermit`] guard that gives it back when dropped. A permit
/// belongs to the process that took it: if the process dies (even by
/// `kill -9`) holding permits, they come back, found by the next process
/// that waits for one (within about 40 ms of its waiting) or
/// [`try_acquire`](Self::try_acquire)s.
///
/// Permits are not handed out in order: a waiter woken by a release
/// competes with newcomers. [`MAX_PERMITS`] is the largest count.
///
/// # Examples
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let name = format!("doc-sem-{}", std::process::id());
/// // In every process that shares the resource (up to 2 at a time):
/// let sem = shmq::Semaphore::open_or_create(&name, 2)?;
/// {
///     let _permit = sem.acquire();
///     // ... use the resource ...
/// } // the permit comes back here, or when this process dies
/// # shmq::Semaphore::remove(&name)?;
/// # Ok(()) }
/// ```
pub struct Semaphore {
    table: Arc<Table<SemaphoreControl, AtomicU64>>,
    name: Option<String>,
    /// Where the next scan for a free permit starts: a hint, local to this
    /// handle, so that processes spread over the words.
    next: crate::sync::AtomicU32,
    /// When this handle last looked at the holders' processes (see
    /// `wait::liveness_due`), so that `try_acquire` looks once a slice.
    pacing: Mutex<Duration>,
}

impl std::fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Semaphore")
            .field("name", &self.name)
            .field("permits", &self.permits())
            .finish_non_exhaustive()
    }
}

impl Clone for Semaphore {
    fn clone(&self) -> Self {
        Semaphore::with_table(Arc::clone(&self.table), self.name.clone())
    }
}

impl Semaphore {
    fn with_table(table: Arc<Table<SemaphoreControl, AtomicU64>>, name: Option<String>) -> Self {
        // A per-process start: processes that arrive together look at
        // different words first.
        let start = (peer::token_pid(own_token()) as usize).wrapping_mul(7) % table.count();
        Semaphore {
            table,
            name,
            next: crate::sync::AtomicU32::new(start as u32),
            pacing: Mutex::new(WaitState::new().last_liveness),
        }
    }

    /// Creates the semaphore `name` with `permits` permits, all free;
    /// fails if it exists. Its segment file is `/dev/shm/shmq.<name>`
    /// (mode 0600), like a queue's: names are shared by queues,
    /// semaphores and barriers.
    ///
    /// # Errors
    ///
    /// [`OpenErrorKind::InvalidName`], [`OpenErrorKind::InvalidOptions`] if
    /// `permits` is 0 or more than [`MAX_PERMITS`],
    /// [`OpenErrorKind::AlreadyExists`], or [`OpenErrorKind::Io`].
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let name = format!("doc-sem-create-{}", std::process::id());
    /// let sem = shmq::Semaphore::create(&name, 3)?;
    /// assert_eq!(sem.available_permits(), 3);
    /// assert!(shmq::Semaphore::create(&name, 3).is_err()); // exists
    /// shmq::Semaphore::remove(&name)?;
    /// # Ok(()) }
    /// ```
    pub fn create(name: &str, permits: usize) -> Result<Semaphore, OpenError> {
        Self::create_inner(name, permits).map_err(|e| e.on_object("semaphore", Some(name)))
    }

    fn create_inner(name: &str, permits: usize) -> Result<Semaphore, OpenError> {
        crate::table::check_count(SPEC, permits)?;
        let table = Table::create(name, SPEC, permits, crate::queue::DEFAULT_MODE, |_| {})?;
        Ok(Self::with_table(Arc::new(table), Some(name.to_owned())))
    }

    /// Opens the existing semaphore `name` (waiting up to
    /// [`DEFAULT_OPEN_TIMEOUT`](crate::DEFAULT_OPEN_TIMEOUT) for a creator
    /// that is still at work).
    ///
    /// # Errors
    ///
    /// [`OpenErrorKind::NotFound`], [`OpenErrorKind::WrongKind`] if `name`
    /// is a queue or a barrier, [`OpenErrorKind::NotReady`] if its creator
    /// never finished, or the error naming the first header check that
    /// failed.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = shmq::Semaphore::open("no-such-semaphore-here").unwrap_err();
    /// assert!(matches!(err.kind(), shmq::OpenErrorKind::NotFound));
    /// ```
    pub fn open(name: &str) -> Result<Semaphore, OpenError> {
        Self::open_inner(name).map_err(|e| e.on_object("semaphore", Some(name)))
    }

    fn open_inner(name: &str) -> Result<Semaphore, OpenError> {
        let table = Table::open(name, SPEC, crate::queue::DEFAULT_OPEN_TIMEOUT)?;
        Ok(Self::with_table(Arc::new(table), Some(name.to_owned())))
    }

    /// Opens the semaphore `name` if it exists (with its own number of
    /// permits, whatever `permits` says), else creates it with `permits`.
    ///
    /// # Errors
    ///
    /// As for [`create`](Self::create) and [`open`](Self::open).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let name = format!("doc-sem-ooc-{}", std::process::id());
    /// let first = shmq::Semaphore::open_or_create(&name, 4)?;
    /// let second = shmq::Semaphore::open_or_create(&name, 9)?; // opens it
    /// assert_eq!(second.permits(), 4);
    /// # drop((first, second));
    /// shmq::Semaphore::remove(&name)?;
    /// # Ok(()) }
    /// ```
    pub fn open_or_create(name: &str, permits: usize) -> Result<Semaphore, OpenError> {
        crate::table::check_count(SPEC, permits)
            .map_err(|e| e.on_object("semaphore", Some(name)))?;
        crate::table::open_or_create(|| Self::open(name), || Self::create(name, permits))
    }

    /// A semaphore of `permits` permits on the heap, for the threads of
    /// this process (and the loom models). It is the same code as a named
    /// one; a permit held by a thread comes back when its guard drops.
    ///
    /// # Errors
    ///
    /// [`OpenErrorKind::InvalidOptions`] if `permits` is 0 or more than
    /// [`MAX_PERMITS`].
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), shmq::OpenError> {
    /// let sem = shmq::Semaphore::in_process(1)?;
    /// let permit = sem.acquire();
    /// assert!(sem.try_acquire().is_err());
    /// drop(permit);
    /// assert!(sem.try_acquire().is_ok());
    /// # Ok(()) }
    /// ```
    pub fn in_process(permits: usize) -> Result<Semaphore, OpenError> {
        crate::table::check_count(SPEC, permits)?;
        Ok(Self::with_table(Arc::new(Table::heap(permits)), None))
    }

    /// Removes the semaphore `name`. Processes that have it open keep
    /// using it (and their permits); new opens fail with
    /// [`OpenErrorKind::NotFound`], and a new semaphore of the same name is
    /// another semaphore.
    ///
    /// # Errors
    ///
    /// [`OpenErrorKind::InvalidName`], [`OpenErrorKind::NotFound`],
    /// [`OpenErrorKind::WrongKind`] if `name` is a queue or a barrier
    /// (which it leaves alone), or [`OpenErrorKind::Io`].
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let name = format!("doc-sem-rm-{}", std::process::id());
    /// shmq::Semaphore::create(&name, 1)?;
    /// shmq::Semaphore::remove(&name)?;
    /// assert!(shmq::Semaphore::open(&name).is_err());
    /// # Ok(()) }
    /// ```
    pub fn remove(name: &str) -> Result<(), OpenError> {
        crate::table::remove::<SemaphoreControl, AtomicU64>(name, SPEC)
            .map_err(|e| e.on_object("semaphore", Some(name)))
    }

    /// The semaphore's name; `None` for an in-process one.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), shmq::OpenError> {
    /// assert_eq!(shmq::Semaphore::in_process(1)?.name(), None);
    /// # Ok(()) }
    /// ```
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The number of permits (held and free).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), shmq::OpenError> {
    /// let sem = shmq::Semaphore::in_process(3)?;
    /// let _held = sem.acquire();
    /// assert_eq!((sem.permits(), sem.available_permits()), (3, 2));
    /// # Ok(()) }
    /// ```
    pub fn permits(&self) -> usize {
        self.table.count()
    }

    /// Takes a permit, waiting as long as it takes: spinning briefly, then
    /// asleep, woken by a release, and once every liveness slice (about
    /// 40 ms) looking for a permit whose holder died.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), shmq::OpenError> {
    /// let sem = std::sync::Arc::new(shmq::Semaphore::in_process(1)?);
    /// let held = sem.acquire();
    /// let other = std::sync::Arc::clone(&sem);
    /// let waiter = std::thread::spawn(move || drop(other.acquire()));
    /// drop(held); // wakes the waiter
    /// waiter.join().unwrap();
    /// # Ok(()) }
    /// ```
    pub fn acquire(&self) -> SemaphorePermit<'_> {
        match self.acquire_until(Deadline::Never) {
            Some(permit) => permit,
            None => unreachable!("a wait without a deadline ends only with a permit"),
        }
    }

    /// Takes a permit if one is free now, without waiting. If none is, and
    /// this handle has not looked for a dead holder for a liveness slice
    /// (about 40 ms), it looks (a `/proc` read per holder) and takes the
    /// permit of one that died.
    ///
    /// # Errors
    ///
    /// [`TryAcquireError::NoPermits`] if every permit is held.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), shmq::OpenError> {
    /// let sem = shmq::Semaphore::in_process(1)?;
    /// let a = sem.try_acquire().unwrap();
    /// assert_eq!(sem.try_acquire().unwrap_err(), shmq::TryAcquireError::NoPermits);
    /// # drop(a);
    /// # Ok(()) }
    /// ```
    pub fn try_acquire(&self) -> Result<SemaphorePermit<'_>, TryAcquireError> {
        self.acquire_until(Deadline::Now)
            .ok_or(TryAcquireError::NoPermits)
    }

    /// Takes a permit, waiting at most `timeout` (as [`acquire`](Self::acquire)
    /// waits).
    ///
    /// # Errors
    ///
    /// [`AcquireTimeoutError::Timeout`] if no permit came free in time.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), shmq::OpenError> {
    /// use std::time::Duration;
    /// let sem = shmq::Semaphore::in_process(1)?;
    /// let _held = sem.acquire();
    /// let err = sem.acquire_timeout(Duration::from_millis(5)).unwrap_err();
    /// assert!(err.is_timeout());
    /// # Ok(()) }
    /// ```
    pub fn acquire_timeout(
        &self,
        timeout: Duration,
    ) -> Result<SemaphorePermit<'_>, AcquireTimeoutError> {
        self.acquire_until(Deadline::after(timeout))
            .ok_or(AcquireTimeoutError::Timeout)
    }

    fn acquire_until(&self, deadline: Deadline) -> Option<SemaphorePermit<'_>> {
        let me = own_token();
        let mut state = WaitState::new();
        state.last_liveness = *self.pacing.lock().unwrap_or_else(|e| e.into_inner());
        let got = wait_event(
            &self.table.control().event,
            DEFAULT_SPIN,
            deadline,
            &mut state,
            |liveness| {
                self.take_free(me)
                    .or_else(|| if liveness { self.reclaim(me) } else { None })
            },
        );
        *self.pacing.lock().unwrap_or_else(|e| e.into_inner()) = state.last_liveness;
        got.map(|index| SemaphorePermit {
            semaphore: self,
            index,
            token: me,
        })
    }

    /// Takes a free permit word for `me`, if there is one; returns its
    /// index.
    fn take_free(&self, me: u64) -> Option<usize> {
        let words = self.table.entries();
        let n = words.len();
        let start = self.next.load(Relaxed) as usize % n;
        for i in 0..n {
            let index = if start + i >= n {
                start + i - n
            } else {
                start + i
            };
            let word = &words[index];
            // A plain look first, so that held words are not written.
            // SYNC: permit (Acquire side): pairs with the Release of the
            // release that freed the word, so what the last holder did
            // under the permit is visible to us. Failure: another took
            // it; nothing was read, so Relaxed.
            if word.load(Relaxed) == 0 && word.compare_exchange(0, me, Acquire, Relaxed).is_ok() {
                self.next.store((index + 1) as u32, Relaxed);
                return Some(index);
            }
        }
        None
    }

    /// Looks at every holder's process: takes the permit of the first
    /// dead one for `me` (returns its index), and frees the permits of the
    /// others that died (waking their waiters).
    fn reclaim(&self, me: u64) -> Option<usize> {
        let mut taken = None;
        let mut freed = false;
        let mut known = peer::Liveness::default();
        for (index, word) in self.table.entries().iter().enumerate() {
            let token = word.load(Relaxed);
            if token == 0 || known.alive(token) {
                continue;
            }
            // SYNC: permit (Acquire side), from a dead holder: nothing of
            // its can be in flight (its process is gone), so Acquire only
            // keeps this like any other take. Failure: someone else took
            // the word over first, Relaxed.
            let new = if taken.is_none() { me } else { 0 };
            if word.compare_exchange(token, new, Acquire, Relaxed).is_ok() {
                if new == me {
                    taken = Some(index);
                } else {
                    freed = true;
                }
            }
        }
        if freed {
            notify(&self.table.control().event);
        }
        taken
    }

    /// Permits free now: those no process holds, and those whose holder
    /// has died (which the next acquirer takes over). A snapshot, stale as
    /// soon as it is read; reads `/proc` once per holder process.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), shmq::OpenError> {
    /// let sem = shmq::Semaphore::in_process(3)?;
    /// let _one = sem.acquire();
    /// assert_eq!(sem.available_permits(), 2);
    /// # Ok(()) }
    /// ```
    pub fn available_permits(&self) -> usize {
        let mut known = peer::Liveness::default();
        self.table
            .entries()
            .iter()
            .filter(|word| {
                let token = word.load(Relaxed);
                token == 0 || !known.alive(token)
            })
            .count()
    }

    /// The process ids of the live holders, one entry per permit held
    /// (sorted). A snapshot; reads `/proc` once per holder process.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), shmq::OpenError> {
    /// let sem = shmq::Semaphore::in_process(3)?;
    /// let _a = sem.acquire();
    /// let _b = sem.acquire();
    /// assert_eq!(sem.holders(), [std::process::id(); 2]);
    /// # Ok(()) }
    /// ```
    pub fn holders(&self) -> Vec<u32> {
        let mut known = peer::Liveness::default();
        let mut pids: Vec<u32> = self
            .table
            .entries()
            .iter()
            .map(|word| word.load(Relaxed))
            .filter(|&token| token != 0 && known.alive(token))
            .map(peer::token_pid)
            .collect();
        pids.sort_unstable();
        pids
    }

    /// Loom models only: the permit word `index` of a guard whose process
    /// dies.
    #[cfg(shmq_loom)]
    fn loom_die_holding(&self, index: usize) {
        // The death, as the other processes see it: the word keeps a token
        // whose process is dead (Release, as the kernel's teardown orders
        // what the process did before), and nothing is released.
        self.table.entries()[index].store(peer::LOOM_DEAD_TOKEN, Release);
        crate::wait::loom_slice_end(&self.table.control().event);
    }
}

/// A permit of a [`Semaphore`], held until this guard is dropped (or its
/// process dies).
///
/// # Examples
///
/// ```
/// # fn main() -> Result<(), shmq::OpenError> {
/// let sem = shmq::Semaphore::in_process(1)?;
/// let permit: shmq::SemaphorePermit<'_> = sem.acquire();
/// assert_eq!(sem.available_permits(), 0);
/// drop(permit);
/// assert_eq!(sem.available_permits(), 1);
/// # Ok(()) }
/// ```
#[must_use = "the permit is given back as soon as the guard is dropped"]
pub struct SemaphorePermit<'a> {
    semaphore: &'a Semaphore,
    /// The permit word this guard holds (an index checked against the
    /// table when it was taken).
    index: usize,
    /// The token written into it.
    token: u64,
}

impl std::fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SemaphorePermit")
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

impl SemaphorePermit<'_> {
    /// The semaphore this permit belongs to.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), shmq::OpenError> {
    /// let sem = shmq::Semaphore::in_process(2)?;
    /// let permit = sem.acquire();
    /// assert_eq!(permit.semaphore().permits(), 2);
    /// # Ok(()) }
    /// ```
    pub fn semaphore(&self) -> &Semaphore {
        self.semaphore
    }

    /// Loom models only: this permit's process dies holding it.
    #[cfg(shmq_loom)]
    #[doc(hidden)]
    pub fn loom_die(self) {
        self.semaphore.loom_die_holding(self.index);
        std::mem::forget(self);
    }
}

impl Drop for SemaphorePermit<'_> {
    fn drop(&mut self) {
        if crate::sync::LOOM && std::thread::panicking() {
            // A model that failed: no more loom operations.
            return;
        }
        let word = &self.semaphore.table.entries()[self.index];
        // SYNC: permit (Release side): what this holder did under the
        // permit happens before the next holder's Acquire take. Only if
        // the word still holds our token: a word that does not (written by
        // a hostile process) is not ours to free. Failure: Relaxed,
        // nothing to publish.
        let _ = word.compare_exchange(self.token, 0, Release, Relaxed);
        notify(&self.semaphore.table.control().event);
    }
}

/// See `shmq::fuzz::semaphore_image`.
#[cfg(fuzzing)]
pub(crate) fn fuzz_image(image: &[u8], ops: &[u8]) -> Result<usize, OpenError> {
    let table = Table::from_image(image, SPEC)?;
    let sem = Semaphore::with_table(Arc::new(table), Some("fuzz".into()));
    let mut held = Vec::new();
    let mut taken = 0;
    for &op in ops {
        // Due at once: the holders are looked at on every operation.
        *sem.pacing.lock().unwrap() = Duration::ZERO;
        match op % 5 {
            0 => held.extend(sem.try_acquire().ok()),
            1 => held.extend(sem.acquire_timeout(Duration::ZERO).ok()),
            2 => drop(held.pop()),
            3 => assert!(sem.available_permits() <= sem.permits()),
            _ => assert!(sem.holders().len() <= sem.permits()),
        }
        taken = taken.max(held.len());
        assert!(held.len() <= sem.permits());
    }
    Ok(taken)
}
