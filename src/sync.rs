//! The one synchronisation facade.
//!
//! Every atomic, fence, spin hint, futex call and slot-memory access in the
//! crate goes through this module. Under `cfg(shmq_loom)` it swaps the
//! standard types for loom's, models the futex with a loom mutex and condition
//! variable, and tracks every slot access with a loom `UnsafeCell`, so the
//! code that ships is the code loom checks. Clippy's `disallowed-types`
//! (see `clippy.toml`) keeps the rest of the crate from reaching past it.
//!
//! Modelled after crossbeam-utils' `primitive` module and tokio's `src/loom`.

#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use std::time::Duration;

pub(crate) use std::sync::atomic::Ordering;

#[cfg(not(shmq_loom))]
use std::sync::atomic as imp;

#[cfg(shmq_loom)]
use loom::sync::atomic as imp;

macro_rules! atomic {
    ($(#[$doc:meta])* $name:ident, $int:ty) => {
        $(#[$doc])*
        ///
        /// A `repr(transparent)` wrapper, so outside loom it has the layout of
        /// the integer and can live in the mapped segment.
        #[repr(transparent)]
        #[derive(Debug, Default)]
        pub(crate) struct $name(imp::$name);

        #[allow(dead_code)]
        impl $name {
            /// An atomic holding `value` (for process-local use; shared
            /// ones live in zeroed segments and start from `Default`).
            #[inline]
            pub(crate) fn new(value: $int) -> Self {
                Self(imp::$name::new(value))
            }

            #[inline]
            pub(crate) fn load(&self, order: Ordering) -> $int {
                self.0.load(order)
            }

            #[inline]
            pub(crate) fn store(&self, value: $int, order: Ordering) {
                self.0.store(value, order)
            }

            #[inline]
            pub(crate) fn swap(&self, value: $int, order: Ordering) -> $int {
                self.0.swap(value, order)
            }

            #[inline]
            pub(crate) fn fetch_add(&self, value: $int, order: Ordering) -> $int {
                self.0.fetch_add(value, order)
            }

            #[inline]
            pub(crate) fn fetch_or(&self, value: $int, order: Ordering) -> $int {
                self.0.fetch_or(value, order)
            }

            /// Adds one to a counter that only the calling side writes: a
            /// plain load and store, without the locked read-modify-write
            /// (and full barrier, on x86) of `fetch_add`. Relaxed: counters
            /// are statistics, never used for synchronisation.
            #[inline]
            pub(crate) fn bump(&self) {
                self.0.store(self.0.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed)
            }

            /// Adds `n` to a counter that only the calling side writes, as
            /// [`bump`](Self::bump) adds one.
            #[inline]
            pub(crate) fn bump_by(&self, n: $int) {
                self.0.store(self.0.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed)
            }

            #[inline]
            pub(crate) fn compare_exchange(
                &self,
                current: $int,
                new: $int,
                success: Ordering,
                failure: Ordering,
            ) -> Result<$int, $int> {
                self.0.compare_exchange(current, new, success, failure)
            }
        }
    };
}

atomic!(
    /// A 32-bit atomic: the standard one, or loom's under `cfg(shmq_loom)`.
    AtomicU32,
    u32
);
atomic!(
    /// A 64-bit atomic: the standard one, or loom's under `cfg(shmq_loom)`.
    AtomicU64,
    u64
);

/// A memory fence; `fence(SeqCst)` is the store-load barrier of the sleep/wake
/// protocol (see `wait.rs`).
#[inline]
pub(crate) fn fence(order: Ordering) {
    #[cfg(not(shmq_loom))]
    std::sync::atomic::fence(order);
    #[cfg(shmq_loom)]
    loom::sync::atomic::fence(order);
}

/// One iteration of a spin loop. Under loom it yields, so the model checker
/// can schedule the thread that will end the spin.
#[inline]
pub(crate) fn spin_hint() {
    #[cfg(not(shmq_loom))]
    std::hint::spin_loop();
    #[cfg(shmq_loom)]
    loom::thread::yield_now();
}

/// Whether this build runs under the loom model checker (time-based spin
/// budgets and timeouts mean nothing there).
pub(crate) const LOOM: bool = cfg!(shmq_loom);

/// A 32-bit word in shared memory that a thread of any process can sleep on.
///
/// Outside loom it is exactly an `AtomicU32` (`repr(transparent)`), so it can
/// live in the mapped segment and the kernel's shared (not process-private)
/// futex operates on it directly.
#[cfg(not(shmq_loom))]
#[repr(transparent)]
#[derive(Debug, Default)]
pub(crate) struct FutexWord(AtomicU32);

/// Loom model of a futex word: the value, plus the "hash bucket" lock and
/// queue the kernel keeps for it. `wait` compares under the lock and sleeps
/// until a `wake`; `wake` takes the lock and wakes every sleeper.
#[cfg(shmq_loom)]
#[derive(Debug, Default)]
pub(crate) struct FutexWord {
    word: AtomicU32,
    bucket: loom::sync::Mutex<()>,
    sleepers: loom::sync::Condvar,
}

impl FutexWord {
    /// The word's atomic value.
    #[inline]
    pub(crate) fn word(&self) -> &AtomicU32 {
        #[cfg(not(shmq_loom))]
        return &self.0;
        #[cfg(shmq_loom)]
        return &self.word;
    }

    /// Sleeps while the word equals `expected`, for at most `timeout`.
    ///
    /// Returns at once if the word differs; may return spuriously (signals,
    /// `EINTR`, another process's wake); callers re-check their condition in
    /// a loop. Errors are treated as spurious wake-ups. Under loom the timeout
    /// is ignored (loom has no clock): a waiter nobody wakes is a deadlock,
    /// which is exactly what the models must rule out.
    pub(crate) fn wait(&self, expected: u32, timeout: Option<Duration>) {
        #[cfg(not(shmq_loom))]
        {
            let ts = timeout.map(|d| rustix::time::Timespec {
                tv_sec: d.as_secs().min(i64::MAX as u64) as i64,
                tv_nsec: i64::from(d.subsec_nanos()),
            });
            // Shared futex (no PRIVATE flag): the word lives in a segment
            // that other processes map. EAGAIN (value changed), EINTR and
            // ETIMEDOUT all mean "look again", which the caller does.
            let _ = rustix::thread::futex::wait(
                &(self.0).0,
                rustix::thread::futex::Flags::empty(),
                expected,
                ts.as_ref(),
            );
        }
        #[cfg(shmq_loom)]
        {
            let _ = timeout;
            let guard = self.bucket.lock().unwrap();
            if self.word.load(Ordering::SeqCst) == expected {
                drop(self.sleepers.wait(guard).unwrap());
            }
        }
    }

    /// Wakes every thread sleeping on this word, in any process.
    pub(crate) fn wake_all(&self) {
        #[cfg(not(shmq_loom))]
        {
            // An error here (EFAULT cannot happen for a live reference) would
            // only mean nobody was woken; the sleeper's bounded wait covers it.
            // `i32::MAX`, not `u32::MAX`: the kernel reads the count as an
            // `int`, and -1 wakes one waiter only (`futex_wake` stops once
            // `++woken >= nr_wake`).
            let _ = rustix::thread::futex::wake(
                &(self.0).0,
                rustix::thread::futex::Flags::empty(),
                i32::MAX as u32,
            );
        }
        #[cfg(shmq_loom)]
        {
            let _guard = self.bucket.lock().unwrap();
            self.sleepers.notify_all();
        }
    }
}

/// The slot array: raw bytes in the segment, accessed only through
/// [`SlotMemory::read`] and [`SlotMemory::write`] so that under loom every
/// access is tracked per slot by a loom `UnsafeCell`.
pub(crate) struct SlotMemory {
    base: *mut u8,
    slot_size: usize,
    slot_count: usize,
    #[cfg(shmq_loom)]
    cells: Box<[loom::cell::UnsafeCell<()>]>,
    /// Under loom, the commit word of each slot is this atomic rather than
    /// the bytes (loom cannot see atomics in raw memory). Plain writes that
    /// cover a slot's commit word set it to [`CLOBBERED`], as they would
    /// overwrite the bytes.
    #[cfg(shmq_loom)]
    commits: Box<[AtomicU32]>,
    /// Under loom, the 8-byte words of the slots as atomics, for the
    /// topics' atomic copies ([`word64`](SlotMemory::word64)); word `i`
    /// stands for bytes `8i..8i + 8` (the first word of a slot, which
    /// holds `len` and the commit word, is reached through `lens` and
    /// `commits` instead).
    #[cfg(shmq_loom)]
    words: Box<[AtomicU64]>,
    /// Under loom, each slot's `len` field as an atomic
    /// ([`word32`](SlotMemory::word32)).
    #[cfg(shmq_loom)]
    lens: Box<[AtomicU32]>,
}

/// What a plain write over a commit word leaves there, under loom: not 0
/// and not a valid stamp, the worst case for a reader that wrongly reads it.
#[cfg(shmq_loom)]
const CLOBBERED: u32 = u32::MAX;

impl std::fmt::Debug for SlotMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlotMemory")
            .field("slot_size", &self.slot_size)
            .field("slot_count", &self.slot_count)
            .finish_non_exhaustive()
    }
}

// SAFETY: `SlotMemory` is a view of memory owned by the `Region` that holds
// it; the SPSC protocol, not the type, decides who touches which bytes.
unsafe impl Send for SlotMemory {}
// SAFETY: as above; concurrent access is coordinated by the commit words
// and the tail (the ring protocol in `spsc.rs`).
unsafe impl Sync for SlotMemory {}

impl SlotMemory {
    /// # Safety
    /// `base` must be valid for reads and writes of `slot_size * slot_count`
    /// bytes for as long as the returned value lives, and 64-byte aligned;
    /// `slot_count` must be a power of two and `slot_size` a multiple of 64
    /// (as `Config::check` ensures).
    pub(crate) unsafe fn new(base: *mut u8, slot_size: usize, slot_count: usize) -> Self {
        debug_assert!(slot_count.is_power_of_two() && slot_size % 64 == 0);
        debug_assert_eq!(base as usize % 64, 0);
        Self {
            base,
            slot_size,
            slot_count,
            #[cfg(shmq_loom)]
            cells: (0..slot_count)
                .map(|_| loom::cell::UnsafeCell::new(()))
                .collect(),
            #[cfg(shmq_loom)]
            commits: (0..slot_count).map(|_| AtomicU32::default()).collect(),
            #[cfg(shmq_loom)]
            words: (0..slot_count * slot_size / 8)
                .map(|_| AtomicU64::default())
                .collect(),
            #[cfg(shmq_loom)]
            lens: (0..slot_count).map(|_| AtomicU32::default()).collect(),
        }
    }

    /// The commit word of the record at slot position `position` (bytes
    /// `COMMIT_OFFSET..+4` of slot `position mod slot_count`; see `layout`).
    /// The reduction (the slot count is a power of two) keeps it in bounds
    /// for any position.
    ///
    /// Other processes write these bytes too (a peer's commits, and plain
    /// payload writes when a long record covers this slot); the ring
    /// protocol orders every plain access against the atomic ones.
    #[inline]
    pub(crate) fn commit_word(&self, position: u64) -> &AtomicU32 {
        let index = (position & (self.slot_count as u64 - 1)) as usize;
        #[cfg(not(shmq_loom))]
        {
            let offset = index * self.slot_size + crate::layout::COMMIT_OFFSET;
            // SAFETY: `offset + 4` lies in the slot array (index < slot_count,
            // and a slot holds at least a record header); slot starts are
            // 64-byte aligned, so the word is 4-aligned; `AtomicU32` is
            // `repr(transparent)` over the standard one, which has `u32`'s
            // layout and may be shared with other processes like every
            // header field; the reference lives no longer than `self`.
            unsafe { &*self.base.add(offset).cast::<AtomicU32>() }
        }
        #[cfg(shmq_loom)]
        &self.commits[index]
    }

    /// The 4-byte word at `offset` into the slot array (a record's `len`
    /// field, at the start of a slot), as an atomic: for rings whose
    /// readers may read while the writer overwrites (lossy topics), where
    /// every access to the bytes must be atomic.
    ///
    /// # Panics
    /// In debug builds, if `offset` is not the start of a slot.
    #[inline]
    pub(crate) fn word32(&self, offset: usize) -> &AtomicU32 {
        debug_assert!(offset % self.slot_size == 0, "len fields start slots");
        let index = (offset / self.slot_size) & (self.slot_count - 1);
        #[cfg(not(shmq_loom))]
        {
            // SAFETY: `index * slot_size + 4` lies in the slot array; slot
            // starts are 64-byte aligned; `AtomicU32` has `u32`'s layout and
            // may be shared with other processes (as for `commit_word`).
            unsafe { &*self.base.add(index * self.slot_size).cast::<AtomicU32>() }
        }
        #[cfg(shmq_loom)]
        &self.lens[index]
    }

    /// The 8-byte word at `offset` into the slot array (8-aligned, not a
    /// slot's first word: `len` and the commit word live there), as an
    /// atomic (see [`word32`](Self::word32)).
    ///
    /// # Panics
    /// If the word does not lie within the slot array.
    #[inline]
    pub(crate) fn word64(&self, offset: usize) -> &AtomicU64 {
        debug_assert!(offset % self.slot_size >= 8, "not a slot's first word");
        &self.words(offset, 1)[0]
    }

    /// The `count` 8-byte words from `offset` (8-aligned, not a slot's
    /// first word) as atomics.
    ///
    /// # Panics
    /// If they do not lie within the slot array.
    #[inline]
    fn words(&self, offset: usize, count: usize) -> &[AtomicU64] {
        assert!(
            offset % 8 == 0
                && offset
                    .checked_add(count * 8)
                    .is_some_and(|end| end <= self.slot_size * self.slot_count),
            "atomic slot access out of range"
        );
        #[cfg(not(shmq_loom))]
        {
            // SAFETY: in bounds and 8-aligned (asserted; the array is
            // 64-byte aligned); `AtomicU64` has `u64`'s layout and may be
            // shared with other processes; every access through it is
            // atomic.
            unsafe { std::slice::from_raw_parts(self.base.add(offset).cast::<AtomicU64>(), count) }
        }
        #[cfg(shmq_loom)]
        &self.words[offset / 8..offset / 8 + count]
    }

    /// Stores `bytes` at `offset` (8-aligned, not a slot's first word) with
    /// relaxed atomic 8-byte stores, the last word padded with zeros; the
    /// caller orders them (see `topic::shared`). For writers whose readers
    /// may read concurrently: the copy is as fast as `memcpy` for short
    /// messages (64 bytes: 2.5-2.7 ns both) and half as fast for long ones
    /// (1 KiB: 31 against 15 ns), measured 2026-12-03.
    ///
    /// # Panics
    /// If the words do not lie within the slot array.
    #[inline]
    pub(crate) fn store_words(&self, offset: usize, bytes: &[u8]) {
        let words = self.words(offset, bytes.len().div_ceil(8));
        let mut chunks = bytes.chunks_exact(8);
        for (word, chunk) in words.iter().zip(&mut chunks) {
            let value = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
            word.store(value, Ordering::Relaxed);
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut last = [0u8; 8];
            last[..rest.len()].copy_from_slice(rest);
            words[words.len() - 1].store(u64::from_le_bytes(last), Ordering::Relaxed);
        }
    }

    /// Appends the `len` bytes at `offset` (8-aligned, not a slot's first
    /// word) to `out`, read with relaxed atomic 8-byte loads: the bytes may
    /// be overwritten meanwhile, and the caller finds out afterwards
    /// whether they were (see `topic::subscriber`).
    ///
    /// # Panics
    /// If the words do not lie within the slot array.
    #[inline]
    pub(crate) fn load_words(&self, offset: usize, len: usize, out: &mut Vec<u8>) {
        let words = self.words(offset, len.div_ceil(8));
        let whole = len / 8;
        for word in &words[..whole] {
            out.extend_from_slice(&word.load(Ordering::Relaxed).to_le_bytes());
        }
        if len % 8 != 0 {
            let value = words[whole].load(Ordering::Relaxed).to_le_bytes();
            out.extend_from_slice(&value[..len % 8]);
        }
    }

    /// Asks the CPU to start fetching the cache line at `offset` into the
    /// slot array, for a read that is to follow soon. A hint only: nothing
    /// is read, so it needs no ownership of the bytes and cannot race with
    /// their writer. A no-op under loom and Miri and off x86-64.
    #[inline(always)]
    pub(crate) fn prefetch(&self, offset: usize) {
        #[cfg(all(target_arch = "x86_64", not(shmq_loom), not(miri)))]
        if offset < self.slot_size * self.slot_count {
            // SAFETY: `offset` lies in the slot array (checked above), so
            // the pointer stays within the mapping; a prefetch does not
            // access memory and cannot fault.
            unsafe {
                use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
                _mm_prefetch::<{ _MM_HINT_T0 }>(self.base.add(offset).cast());
            }
        }
        #[cfg(not(all(target_arch = "x86_64", not(shmq_loom), not(miri))))]
        let _ = offset;
    }

    fn check(&self, offset: usize, len: usize) {
        debug_assert!(
            offset
                .checked_add(len)
                .is_some_and(|end| end <= self.slot_size * self.slot_count),
            "slot access out of range"
        );
    }

    /// Calls `f` with `len` bytes starting `offset` bytes into the slot array.
    ///
    /// # Safety
    /// `offset + len` must not exceed the slot array, and the caller must own
    /// those bytes for reading under the ring protocol (the other side is not
    /// writing them: they belong to the record at our tail, whose commit word
    /// we acquired, and the sender leaves them alone until our tail has
    /// passed them). A hostile peer can still write them; the bytes are then
    /// garbage, never out of bounds.
    pub(crate) unsafe fn read<R>(
        &self,
        offset: usize,
        len: usize,
        f: impl FnOnce(&[u8]) -> R,
    ) -> R {
        self.check(offset, len);
        #[cfg(shmq_loom)]
        self.touch(offset, len, false);
        // SAFETY: in bounds (caller's contract), and owned by this side.
        let bytes = unsafe { std::slice::from_raw_parts(self.base.add(offset), len) };
        f(bytes)
    }

    /// Calls `f` with `len` writable bytes starting `offset` bytes into the
    /// slot array.
    ///
    /// # Safety
    /// As for [`read`](Self::read), with the bytes owned for writing (they lie
    /// at or past head and below the tail acquired from the consumer plus one
    /// lap, and no commit word has shown them to the receiver yet).
    pub(crate) unsafe fn write<R>(
        &self,
        offset: usize,
        len: usize,
        f: impl FnOnce(&mut [u8]) -> R,
    ) -> R {
        self.check(offset, len);
        #[cfg(shmq_loom)]
        self.touch(offset, len, true);
        // SAFETY: in bounds (caller's contract), and owned by this side.
        let bytes = unsafe { std::slice::from_raw_parts_mut(self.base.add(offset), len) };
        f(bytes)
    }

    /// Raw pointer to `offset`, for the zero-copy reservation guard.
    ///
    /// # Safety
    /// As for [`write`](Self::write); the pointer is only valid while the
    /// bytes stay owned by the caller.
    pub(crate) unsafe fn write_ptr(&self, offset: usize, len: usize) -> *mut u8 {
        self.check(offset, len);
        #[cfg(shmq_loom)]
        self.touch(offset, len, true);
        // SAFETY: in bounds (caller's contract).
        unsafe { self.base.add(offset) }
    }

    /// Registers an access to every slot that `offset..offset + len` touches
    /// with loom, which reports any access not ordered by happens-before.
    #[cfg(shmq_loom)]
    fn touch(&self, offset: usize, len: usize, write: bool) {
        let first = offset / self.slot_size;
        let last = (offset + len.max(1) - 1) / self.slot_size;
        for cell in &self.cells[first..=last] {
            if write {
                cell.with_mut(|_| ());
            } else {
                cell.with(|_| ());
            }
        }
        if write {
            let commit = crate::layout::COMMIT_OFFSET;
            for slot in first..=last {
                let word = slot * self.slot_size + commit;
                if offset < word + 4 && word < offset + len {
                    self.commits[slot].store(CLOBBERED, Ordering::Relaxed);
                }
            }
        }
    }
}

/// The store-load barrier pair of the sleep/wake handshake (`wait.rs`).
///
/// The handshake is a Dekker pair: the publisher stores its index and then
/// loads the sleeper's flag; the sleeper stores its flag and then loads the
/// index. Each side needs a store-load barrier between the two. A plain
/// `fence(SeqCst)` on both sides is correct but costs the publisher a full
/// barrier per message, which stalls it until its index store has crossed
/// to the other core. So, as folly's `asymmetricLightBarrier` /
/// `asymmetricHeavyBarrier` do, the publisher (the hot path) issues only a
/// compiler barrier and the sleeper (the slow path) issues
/// `membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED)`, which makes every thread of
/// every registered process run a full barrier before it returns. Every
/// process that attaches to a queue registers; one that cannot (old kernel,
/// seccomp) marks the segment symmetric and all publishers fall back to
/// `fence(SeqCst)`.
///
/// Under loom both halves are `fence(SeqCst)`: the asymmetric pair gives the
/// same ordering guarantee as two SeqCst fences, which is what the models
/// check.
pub(crate) mod barrier {
    #[allow(unused_imports)]
    use super::{Ordering, fence};

    /// Whether this process is registered for, and can issue, global
    /// expedited membarriers. Decided once per process.
    pub(crate) fn asymmetric_available() -> bool {
        #[cfg(any(shmq_loom, miri))]
        return false;
        #[cfg(not(any(shmq_loom, miri)))]
        {
            use rustix::thread::{MembarrierCommand, membarrier, membarrier_query};
            static READY: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
            *READY.get_or_init(|| {
                membarrier_query().contains_command(MembarrierCommand::GlobalExpedited)
                    && membarrier(MembarrierCommand::RegisterGlobalExpedited).is_ok()
                    && membarrier(MembarrierCommand::GlobalExpedited).is_ok()
            })
        }
    }

    /// The publisher's half: a compiler barrier when `asymmetric`, else a
    /// full fence.
    #[inline]
    pub(crate) fn light(asymmetric: bool) {
        if asymmetric && !crate::sync::LOOM {
            std::sync::atomic::compiler_fence(Ordering::SeqCst);
        } else {
            fence(Ordering::SeqCst);
        }
    }

    /// The sleeper's half: a global expedited membarrier (when this process
    /// can issue one) and a full fence. Returns `false` if the membarrier
    /// failed, in which case the caller must make publishers symmetric.
    pub(crate) fn heavy() -> bool {
        #[cfg(any(shmq_loom, miri))]
        let ok = true;
        #[cfg(not(any(shmq_loom, miri)))]
        let ok = asymmetric_available() && {
            use rustix::thread::{MembarrierCommand, membarrier};
            membarrier(MembarrierCommand::GlobalExpedited).is_ok()
        };
        fence(Ordering::SeqCst);
        ok
    }
}

/// The CPU this thread runs on now (0 under loom and Miri).
pub(crate) fn current_cpu() -> u32 {
    #[cfg(any(shmq_loom, miri))]
    return 0;
    // SAFETY: `sched_getcpu` takes nothing and only returns a number (-1,
    // read as `u32::MAX`, on failure). glibc's, not rustix's: see the
    // `libc` entry in Cargo.toml (valgrind).
    #[cfg(not(any(shmq_loom, miri)))]
    return unsafe { libc::sched_getcpu() } as u32;
}
