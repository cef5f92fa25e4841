//! Waiting: spin, sleep on a futex word in the segment, or spin then sleep.
//!
//! This is the only module that sleeps or wakes. The protocol is the
//! classic event-count handshake (folly `EventCount`, Disruptor's
//! `LiteBlockingWaitStrategy`), with one futex word per direction:
//!
//! * the **waiter** sets its word to `1`, issues the heavy half of a
//!   store-load barrier pair, re-checks its condition, and only then sleeps
//!   on the word (expecting `1`);
//! * the **publisher** stores its index (the receiver's tail, or the
//!   sender's commit word), issues the light half, and loads
//!   the word: only if it reads `1` does it swap it to `0` and make the wake
//!   system call.
//!
//! The barrier pair (`sync::barrier`: a compiler barrier for the publisher
//! and `membarrier` for the sleeper, or `fence(SeqCst)` on both sides where
//! membarrier is unavailable) makes this a Dekker pair (`SYNC:
//! sleep-register`): either the waiter's re-check sees the new store, or
//! the publisher sees the `1` and wakes it; a wake-up is never lost, and
//! when nobody sleeps no system call is made. A sleep is cut into slices of
//! [`LIVENESS_SLICE`] so that a peer that died without detaching (kill -9)
//! is noticed within about two slices.

use std::time::{Duration, Instant};

use crate::error::Stop;
use crate::layout::{Event, ReceiverLine, WakeSlot};
use crate::sync::Ordering::{Acquire, Relaxed, Release, SeqCst};
use crate::sync::{AtomicU32, AtomicU64, barrier, current_cpu, fence, spin_hint};

/// How long one futex sleep lasts at most before the waiter checks whether
/// its peer process is still alive.
pub(crate) const LIVENESS_SLICE: Duration = Duration::from_millis(40);

/// Pause hints between two polls of a waiter that backs off: about 0.7 us on
/// the machines we measured, where one `pause` takes 23 ns.
const BACKOFF_PAUSES: u32 = 32;

/// Default spin budget of [`WaitStrategy::SpinThenBlock`]: about the cost
/// of one futex wake-up across cores on the machines we measured, so a peer
/// that answers within it never pays for a sleep.
pub const DEFAULT_SPIN: Duration = Duration::from_micros(50);

/// How a blocking operation waits for its peer.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use shmq::WaitStrategy;
///
/// let lowest_latency = WaitStrategy::Spin;
/// let balanced = WaitStrategy::SpinThenBlock(Duration::from_micros(20));
/// assert_eq!(WaitStrategy::default(), WaitStrategy::SpinThenBlock(shmq::DEFAULT_SPIN));
/// # let _ = (lowest_latency, balanced);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitStrategy {
    /// Poll in a loop and never sleep: lowest latency, one core busy while
    /// waiting. The peer's liveness is still checked every few tens of
    /// milliseconds.
    Spin,
    /// Sleep on the futex at once: no CPU while waiting, but every wake-up
    /// costs a system call on each side.
    Block,
    /// Poll for up to this long, then sleep. While the last wake-up came
    /// from a peer running on this thread's own CPU, the spin is skipped:
    /// the peer cannot make progress while we spin. The first wake-up that
    /// shows the two apart turns spinning back on.
    SpinThenBlock(Duration),
}

impl Default for WaitStrategy {
    fn default() -> Self {
        WaitStrategy::SpinThenBlock(DEFAULT_SPIN)
    }
}

/// When a wait gives up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Deadline {
    /// Do not wait at all (`try_*`).
    Now,
    /// Wait until this instant (`*_timeout`).
    At(Instant),
    /// Wait as long as it takes (blocking calls).
    Never,
}

impl Deadline {
    pub(crate) fn after(timeout: Duration) -> Self {
        match Instant::now().checked_add(timeout) {
            Some(at) => Deadline::At(at),
            None => Deadline::Never,
        }
    }

    fn passed(self, now: Instant) -> bool {
        match self {
            Deadline::Now => true,
            Deadline::At(at) => now >= at,
            Deadline::Never => false,
        }
    }

    fn remaining(self, now: Instant) -> Option<Duration> {
        match self {
            Deadline::Now => Some(Duration::ZERO),
            Deadline::At(at) => Some(at.saturating_duration_since(now)),
            Deadline::Never => None,
        }
    }
}

/// What a handle remembers between waits.
#[derive(Debug)]
pub(crate) struct WaitState {
    /// When the peer's liveness was last checked ([`coarse_now`]); carried
    /// over between calls so that even a caller that only ever uses
    /// non-blocking calls learns of a dead peer within a slice.
    pub(crate) last_liveness: Duration,
    /// Sends still to make before [`send_liveness_due`] looks at the clock
    /// again, and the coarse time of its last look.
    clock_skips: u32,
    last_look: Duration,
    /// Whether the last wake-up came from a peer on our own CPU. Spinning
    /// then only keeps the peer off the CPU, so `SpinThenBlock` sleeps at
    /// once until a wake-up shows the two apart again.
    pub(crate) shares_cpu: bool,
}

impl WaitState {
    pub(crate) fn new() -> Self {
        WaitState {
            last_liveness: coarse_now().unwrap_or_default(),
            clock_skips: 0,
            last_look: Duration::ZERO,
            shares_cpu: false,
        }
    }
}

/// Monotonic time at the kernel tick's resolution (a few milliseconds),
/// for the liveness bookkeeping; `None` if the clock cannot be read (not
/// on Linux). `CLOCK_MONOTONIC_COARSE` comes from the vDSO without reading
/// the TSC: about 3 ns here, where `Instant::now` takes about 25 ns, which
/// a caller polling with non-blocking calls would pay on every empty look.
#[inline]
fn coarse_now() -> Option<Duration> {
    #[cfg(not(miri))]
    {
        let mut now = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `now` is a valid, writable `timespec`; the clock id is a
        // constant Linux has had since 2.6.32. glibc's call, not rustix's:
        // see the `libc` entry in Cargo.toml (valgrind).
        if unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut now) } != 0 {
            return None;
        }
        Some(Duration::new(
            u64::try_from(now.tv_sec).ok()?,
            u32::try_from(now.tv_nsec).ok()?,
        ))
    }
    #[cfg(miri)]
    {
        // Miri's clock is simulated and cheap: the precise one will do.
        static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        Some(EPOCH.get_or_init(Instant::now).elapsed())
    }
}

/// Whether a slice has passed since the peer's liveness was last checked;
/// if so, notes that it is being checked now. Without a clock, always.
#[inline]
pub(crate) fn liveness_due(state: &mut WaitState) -> bool {
    if crate::sync::LOOM {
        // Every time: a model must take the same path on every replay of
        // an execution, and the clock would make it depend on how long
        // the replay took (loom: "unexpected exploration state").
        return true;
    }
    let Some(now) = coarse_now() else {
        return true;
    };
    let due = now.saturating_sub(state.last_liveness) >= LIVENESS_SLICE;
    if due {
        state.last_liveness = now;
    }
    due
}

/// Sends that [`send_liveness_due`] makes without a look at the clock
/// once it has seen two sends within one tick of the coarse clock.
const BURST_SENDS: u32 = 32;

/// [`liveness_due`] for a send that has room: the same answer, but within
/// a burst of sends the clock is read once every [`BURST_SENDS`] sends
/// rather than on each. Reading it costs about 6-7 ns here, a third of a
/// 64-byte message's whole cost; a sender whose sends are a tick (1-4 ms)
/// or more apart reads it on every send, so it learns of a dead receiver on
/// its next send once a slice has passed, while one in a burst learns
/// within 32 sends.
#[inline]
pub(crate) fn send_liveness_due(state: &mut WaitState) -> bool {
    if state.clock_skips > 0 {
        state.clock_skips -= 1;
        return false;
    }
    send_liveness_look(state)
}

#[cold]
#[inline(never)]
fn send_liveness_look(state: &mut WaitState) -> bool {
    let Some(now) = coarse_now() else {
        return true;
    };
    if now == state.last_look {
        // Two looks within one tick: a burst.
        state.clock_skips = BURST_SENDS;
    }
    state.last_look = now;
    let due = now.saturating_sub(state.last_liveness) >= LIVENESS_SLICE;
    if due {
        state.last_liveness = now;
    }
    due
}

/// What one poll of [`wait_until`] must cover.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Look {
    /// Also ask whether the peer process is alive.
    pub(crate) liveness: bool,
    /// Look at everything waited for. Set for the look right after
    /// registering to sleep (the re-check of the sleep handshake, which
    /// must see any publication the waker did not wake us for), after a
    /// wake-up, and with `liveness`. A spin poll without it may look at the
    /// likeliest part only (a mailbox: the lane it served last), as long as
    /// it looks at all of it every few polls.
    pub(crate) thorough: bool,
}

impl Look {
    /// A spin poll.
    const SPIN: Look = Look {
        liveness: false,
        thorough: false,
    };

    /// A thorough look, with a liveness check or without.
    pub(crate) const fn thorough(liveness: bool) -> Look {
        Look {
            liveness,
            thorough: true,
        }
    }
}

/// Where a waiter sleeps.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bed<'a> {
    /// Its futex word and the waker's CPU.
    pub(crate) slot: &'a WakeSlot,
    /// The segment's barrier-mode word: set if our half of the barrier pair
    /// fails (see `sync::barrier`).
    pub(crate) symmetric: &'a AtomicU32,
    /// Its side's sleep counter.
    pub(crate) sleeps: &'a AtomicU64,
}

/// Polls `poll` until it returns `Some`, waiting between polls as `strategy`
/// says and sleeping on `word` (registered as described in the module docs).
///
/// With `backoff`, a spinning waiter pauses [`BACKOFF_PAUSES`] times between
/// polls instead of once. This is for a sender waiting for room: each look
/// at the receiver's tail takes that line away from the receiver it waits
/// for, and a sender that looks again as soon as one slot is free keeps the
/// two in lockstep on a full ring, one slot and one line transfer at a time
/// (measured: a third of 64-byte throughput lost). Looking less often lets
/// the receiver free a batch meanwhile, which the sender then fills without
/// looking at all; it notices room at most about a microsecond late.
///
/// `poll(look)` returns `None` while the condition is false and the peer is
/// still there, `Some(Ok)` when it holds and `Some(Err)` to stop. When
/// `look.liveness` is set it should also ask whether the peer process is
/// alive (a `/proc` read), which it is told at most once a slice; unless
/// `look.thorough` is set it may look at only part of its condition (see
/// [`Look`]).
///
/// The waiter sleeps as `bed` says.
pub(crate) fn wait_until<T>(
    strategy: WaitStrategy,
    deadline: Deadline,
    bed: Bed<'_>,
    state: &mut WaitState,
    backoff: bool,
    mut poll: impl FnMut(Look) -> Option<Result<T, Stop>>,
) -> Result<T, Stop> {
    let Bed {
        slot,
        symmetric,
        sleeps,
    } = bed;
    if let Some(done) = spin(strategy, deadline, state, backoff, &mut poll) {
        return done;
    }

    // Sleep phase.
    let word = &slot.sleeping;
    let flag = word.word();
    let mut slept = false;
    loop {
        // Registration and its reset are read-modify-writes, so each is
        // ordered after the publisher's last claim (`swap(0)` below) in the
        // flag's modification order. Plain stores are enough in the C++
        // model (coherence and the barriers order them), but loom keeps
        // modification order as a partial order and only sees it with RMWs;
        // on this slow path the cost of an `xchg` does not matter.
        flag.swap(1, Relaxed);
        // Counted at registration, so `wakes <= sleeps` holds at all times:
        // a wake needs a registered `1` to swap away.
        sleeps.bump();
        // SYNC: sleep-register (sleeper's heavy half). Pairs with the light
        // barrier in `wake_peer`: either the poll below sees the peer's
        // latest commit word or tail, or the peer sees our `1` and wakes us.
        if !barrier::heavy() {
            // Sticky and advisory: publishers that still use the light half
            // until they see it can delay our wake-up by one slice at most
            // (the timed sleep below), never lose it for good.
            symmetric.store(1, Relaxed);
        }
        let now = Instant::now();
        let check = liveness_due(state);
        if let Some(done) = poll(Look::thorough(check)) {
            flag.swap(0, Relaxed);
            if slept {
                state.shares_cpu = slot.waker_cpu.load(Relaxed) == current_cpu();
            }
            return done;
        }
        if deadline.passed(now) {
            flag.swap(0, Relaxed);
            return Err(Stop::Timeout);
        }
        let timeout = deadline
            .remaining(now)
            .map_or(LIVENESS_SLICE, |left| left.min(LIVENESS_SLICE));
        word.wait(1, Some(timeout));
        slept = true;
        // Woken (or the slice ended): look before registering again. The
        // registration's barrier is a system call (membarrier, measured at
        // 12-19 us of CPU on these VMs when the other CPU is busy), needed
        // only before sleeping again; a waker found us registered and so
        // published first, and this look usually finds what it published.
        if let Some(done) = poll(Look::thorough(false)) {
            // The registration is gone if a waker claimed it; a timed-out
            // or spurious wake-up still has it.
            flag.swap(0, Relaxed);
            state.shares_cpu = slot.waker_cpu.load(Relaxed) == current_cpu();
            return done;
        }
    }
}

/// The first look and the spin phase of a wait ([`wait_until`],
/// [`wait_broadcast`]): `Some` with the outcome if the wait is over
/// (found, failed, timed out, or a non-blocking call that found nothing),
/// `None` when it is time to sleep.
#[inline(always)]
fn spin<T>(
    strategy: WaitStrategy,
    deadline: Deadline,
    state: &mut WaitState,
    backoff: bool,
    poll: &mut impl FnMut(Look) -> Option<Result<T, Stop>>,
) -> Option<Result<T, Stop>> {
    if let Some(done) = poll(Look::SPIN) {
        return Some(done);
    }
    if deadline == Deadline::Now {
        // A non-blocking call that found nothing: look at the peer's
        // liveness if it has not been looked at for a slice.
        if liveness_due(state) {
            if let Some(done) = poll(Look::thorough(true)) {
                return Some(done);
            }
        }
        return Some(Err(Stop::WouldBlock));
    }
    let spin_budget = match strategy {
        WaitStrategy::Spin => None,
        WaitStrategy::Block => Some(Duration::ZERO),
        WaitStrategy::SpinThenBlock(_) if crate::sync::LOOM || state.shares_cpu => {
            Some(Duration::ZERO)
        }
        WaitStrategy::SpinThenBlock(budget) => Some(budget),
    };

    // Spin phase: poll with a pause hint, looking at the clock every few
    // dozen polls only (reading it costs about as much as a poll).
    if spin_budget != Some(Duration::ZERO) {
        // Only a bounded spin needs its start (a clock read costs ~25 ns).
        let start = spin_budget.map(|_| Instant::now());
        let pauses = if backoff && !crate::sync::LOOM {
            BACKOFF_PAUSES
        } else {
            1
        };
        loop {
            for _ in 0..32 {
                for _ in 0..pauses {
                    spin_hint();
                }
                if let Some(done) = poll(Look::SPIN) {
                    return Some(done);
                }
            }
            let now = Instant::now();
            if liveness_due(state) {
                if let Some(done) = poll(Look::thorough(true)) {
                    return Some(done);
                }
            }
            if deadline.passed(now) {
                return Some(Err(Stop::Timeout));
            }
            let spent = start.map_or(Duration::ZERO, |start| now.duration_since(start));
            if spin_budget.is_some_and(|budget| spent >= budget) {
                break;
            }
        }
    }
    None
}

/// Called by a side right after it published a record or its tail (or
/// detached): wakes the peer if, and only if, it registered as sleeping on
/// `slot`.
/// `asymmetric` says whether this process may use the light barrier (see
/// `sync::barrier`); the segment's `symmetric` word can still forbid it.
#[inline]
pub(crate) fn wake_peer(
    symmetric: &AtomicU32,
    slot: &WakeSlot,
    asymmetric: bool,
    wakes: &AtomicU64,
) {
    let light_ok = asymmetric && symmetric.load(Relaxed) == 0;
    // SYNC: sleep-register (publisher's light half). Orders the commit-word
    // or tail store before the load of the sleeping flag; pairs with the
    // sleeper's heavy barrier.
    barrier::light(light_ok);
    let flag = slot.sleeping.word();
    // The swap makes exactly one publisher pay for the system call per
    // sleep. Relaxed is enough: the futex call itself orders the wake after
    // the swap, and the waiter re-checks its condition after waking.
    if flag.load(Relaxed) != 0 && flag.swap(0, Relaxed) != 0 {
        wake(slot, wakes);
    }
}

/// Wakes the sleeper on `slot`, whose `1` the caller has swapped away.
#[cold]
#[inline(never)]
fn wake(slot: &WakeSlot, wakes: &AtomicU64) {
    slot.waker_cpu.store(current_cpu(), Relaxed);
    wakes.bump();
    slot.sleeping.wake_all();
}

/// A sender's [`wake_peer`] for the receiver, which sleeps on the doorbell
/// (`line.rx`) for all lanes: if the receiver registered, the sender first
/// sets its lane's bit in the ready bitmap (a hint of where to look; only
/// if clear, so lanes that ring often do not keep taking the line), then
/// claims the registration and wakes it. No store at all while the
/// receiver is awake.
#[inline]
pub(crate) fn ring_doorbell(line: &ReceiverLine, lane: usize, asymmetric: bool, wakes: &AtomicU64) {
    let light_ok = asymmetric && line.symmetric.load(Relaxed) == 0;
    // SYNC: sleep-register (publisher's light half), as in `wake_peer`.
    barrier::light(light_ok);
    let flag = line.rx.sleeping.word();
    if flag.load(Relaxed) != 0 && claim_doorbell(line, lane) {
        wake(&line.rx, wakes);
    }
}

/// Marks lane `lane` ready and swaps the receiver's registration away (as
/// `wake_peer` does): true if this sender is the one to wake it.
#[cold]
#[inline(never)]
fn claim_doorbell(line: &ReceiverLine, lane: usize) -> bool {
    mark_ready(line, lane);
    line.rx.sleeping.word().swap(0, Relaxed) != 0
}

/// Sets lane `lane`'s bit in the ready bitmap, if it is clear.
#[inline]
fn mark_ready(line: &ReceiverLine, lane: usize) {
    let bit = 1u64 << (lane % 64);
    // Relaxed: a hint, ordered by nothing (see `ReceiverLine::ready_lanes`).
    if line.ready_lanes.load(Relaxed) & bit == 0 {
        line.ready_lanes.fetch_or(bit, Relaxed);
    }
}

/// Waits until `poll` returns `Some`, as one of any number of waiters (of
/// any process) on `event`: the semaphore's acquirers, the barrier's
/// members. Returns `None` when `deadline` passes first (at once, for
/// [`Deadline::Now`], if the first look finds nothing).
///
/// `poll(liveness)` looks at the condition; with `liveness` set (at most
/// once a [`LIVENESS_SLICE`], as [`liveness_due`] paces it, and on every
/// look under loom) it should also ask whether the processes it waits for
/// are alive (a `/proc` read). It spins with pause hints for up to `spin`
/// (not under loom), then sleeps on `event` in slices of at most
/// [`LIVENESS_SLICE`].
///
/// The handshake, folly's `EventCount` with a flag for a count: the waiter
/// reads `seq`, sets `sleeping`, issues `fence(SeqCst)`, looks again and
/// sleeps while `seq` holds the value it read; the notifier ([`notify`])
/// publishes its change, issues `fence(SeqCst)` and, only if `sleeping` is
/// set, swaps it to 0, bumps `seq` and wakes every sleeper. Either the
/// waiter's look sees the change or the notifier sees the flag (SYNC:
/// event-register), and a bump after the waiter's read of `seq` makes its
/// futex wait return at once: no lost wake-up, and no system call while
/// nobody sleeps. Unlike [`wait_until`]'s one-sleeper flag, waiters never
/// clear `sleeping` (another may still be asleep): a stale flag costs one
/// needless wake-up, never a lost one. Plain fences rather than the
/// asymmetric pair: these objects keep no per-message fast path that a
/// fence would slow down.
pub(crate) fn wait_event<T>(
    event: &Event,
    spin: Duration,
    deadline: Deadline,
    state: &mut WaitState,
    mut poll: impl FnMut(bool) -> Option<T>,
) -> Option<T> {
    if let Some(done) = poll(false) {
        return Some(done);
    }
    if deadline == Deadline::Now {
        if liveness_due(state) {
            return poll(true);
        }
        return None;
    }
    if !crate::sync::LOOM && !spin.is_zero() {
        let start = Instant::now();
        loop {
            for _ in 0..32 {
                spin_hint();
                if let Some(done) = poll(false) {
                    return Some(done);
                }
            }
            let now = Instant::now();
            if liveness_due(state) {
                if let Some(done) = poll(true) {
                    return Some(done);
                }
            }
            if deadline.passed(now) {
                return None;
            }
            if now.duration_since(start) >= spin {
                break;
            }
        }
    }
    sleep_on_event(
        event,
        deadline,
        state,
        // SYNC: event-register (waiter's half). Pairs with the fence in
        // `notify`: either the look after it sees the notifier's change,
        // or the notifier sees our 1 and bumps `seq`.
        || fence(SeqCst),
        poll,
    )
}

/// The sleep phase of [`wait_event`] and [`wait_broadcast`]: registers on
/// `event` (`sleeping` set, then `register`, the waiter's half of the
/// event-register pair), looks, and sleeps on `seq` while it holds the
/// value read before registering, in slices of [`LIVENESS_SLICE`]; until
/// `poll(liveness)` returns `Some`, or `None` once `deadline` passes.
fn sleep_on_event<T>(
    event: &Event,
    deadline: Deadline,
    state: &mut WaitState,
    mut register: impl FnMut(),
    mut poll: impl FnMut(bool) -> Option<T>,
) -> Option<T> {
    loop {
        // SYNC: event-seq (Acquire side): pairs with the Release bump in
        // `wake_event`; read before registering, so a bump made for a
        // registration it sees cannot be slept through.
        let key = event.seq.word().load(Acquire);
        // A read-modify-write, as in `wait_until` (loom sees modification
        // order through RMWs only). Never cleared by a waiter: another may
        // still be asleep.
        event.sleeping.swap(1, Relaxed);
        // SYNC: event-register (waiter's half).
        register();
        let now = Instant::now();
        if let Some(done) = poll(liveness_due(state)) {
            return Some(done);
        }
        if deadline.passed(now) {
            return None;
        }
        let timeout = deadline
            .remaining(now)
            .map_or(LIVENESS_SLICE, |left| left.min(LIVENESS_SLICE));
        event.seq.wait(key, Some(timeout));
        // Woken (or the slice ended): look before registering again.
        if let Some(done) = poll(false) {
            return Some(done);
        }
    }
}

/// Called right after a change that a waiter on `event` may wait for (a
/// permit freed, a generation completed): wakes every waiter if, and only
/// if, one registered as sleeping (see [`wait_event`]).
pub(crate) fn notify(event: &Event) {
    // SYNC: event-register (notifier's half): orders the caller's change
    // before the load of the flag; pairs with the waiter's fence.
    fence(SeqCst);
    // The swap makes one notifier pay for the system call per round of
    // sleeps. Relaxed: the fence above orders it, and the bump carries the
    // Release a woken waiter's read of `seq` pairs with.
    if event.sleeping.load(Relaxed) != 0 && event.sleeping.swap(0, Relaxed) != 0 {
        wake_event(event);
    }
}

/// Wakes every waiter on `event`, registered or not: for changes that are
/// rare and must not wait for a slice (a barrier found broken).
pub(crate) fn notify_always(event: &Event) {
    event.sleeping.swap(0, Relaxed);
    wake_event(event);
}

/// Bumps `seq` and wakes every sleeper on it.
#[cold]
fn wake_event(event: &Event) {
    // SYNC: event-seq (Release side): a waiter that reads the new value
    // sees everything before it.
    event.seq.word().fetch_add(1, Release);
    event.seq.wake_all();
}

/// [`wait_until`] for one of any number of waiters on `event` (a topic's
/// subscribers waiting for the next message): the same first look and spin
/// phase, then the sleep of [`wait_event`], with the asymmetric barrier
/// pair of [`wait_until`] instead of two fences, since the publisher's
/// half ([`ring_event`]) runs after every message.
///
/// SYNC: event-register, as in [`wait_event`], with the heavy half here
/// and the light half in [`ring_event`] (the barrier pair gives the
/// ordering of two `SeqCst` fences, see `sync::barrier`): either the look
/// after registering sees the publisher's commit, or the publisher sees
/// `sleeping` set and bumps `seq`, which ends (or prevents) the futex wait
/// on the value read before registering.
pub(crate) fn wait_broadcast<T>(
    strategy: WaitStrategy,
    deadline: Deadline,
    event: &Event,
    symmetric: &AtomicU32,
    sleeps: &AtomicU64,
    state: &mut WaitState,
    mut poll: impl FnMut(Look) -> Option<Result<T, Stop>>,
) -> Result<T, Stop> {
    if let Some(done) = spin(strategy, deadline, state, false, &mut poll) {
        return done;
    }
    sleep_on_event(
        event,
        deadline,
        state,
        || {
            sleeps.bump();
            // SYNC: event-register (waiter's heavy half).
            if !barrier::heavy() {
                // As in `wait_until`: sticky, and at worst a slice late.
                symmetric.store(1, Relaxed);
            }
        },
        |liveness| poll(Look::thorough(liveness)),
    )
    .unwrap_or(Err(Stop::Timeout))
}

/// A topic publisher's [`wake_peer`] after a commit: wakes every
/// subscriber asleep on `event` with one call if, and only if, one
/// registered. No store, and one load of a line that stays shared, while
/// none sleeps.
#[inline]
pub(crate) fn ring_event(
    event: &Event,
    symmetric: &AtomicU32,
    asymmetric: bool,
    wakes: &AtomicU64,
) {
    let light_ok = asymmetric && symmetric.load(Relaxed) == 0;
    // SYNC: event-register (publisher's light half): orders the commit
    // before the load of the flag; pairs with `wait_broadcast`'s heavy one.
    barrier::light(light_ok);
    if event.sleeping.load(Relaxed) != 0 && event.sleeping.swap(0, Relaxed) != 0 {
        wakes.bump();
        wake_event(event);
    }
}

/// Loom models only: the end of every waiter's timed sleep on `event`.
/// Outside loom a waiter sleeps at most a [`LIVENESS_SLICE`] and then
/// looks whether the processes it waits for are alive; loom has no time,
/// so a model in which a process dies calls this after the death (from
/// the dying thread): every waiter wakes and looks, as its timer would
/// make it at some point after the death.
#[cfg(shmq_loom)]
pub(crate) fn loom_slice_end(event: &Event) {
    notify_always(event);
}
