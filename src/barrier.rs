//! A barrier for a fixed number of processes, which reports `Broken` to
//! the others when a member dies before arriving.
//!
//! There is no arrival counter. The segment (a `table`) holds a generation
//! word and one slot per member: the owner token of the process holding
//! it (0 while vacant; `peer.rs`), and the generation the member last
//! arrived for (stored as `generation + 1`, so 0 means never). A member
//! waits in three steps:
//!
//! 1. it reads the generation `g` and stores `g + 1` into its own slot
//!    (*arrive*);
//! 2. it looks at every slot: if all have arrived for `g`, it moves the
//!    generation from `g` to `g + 1` with a compare-exchange (the one that
//!    succeeds is the *leader*; a second member that saw everyone arrive
//!    just fails it) and wakes the others;
//! 3. otherwise it sleeps (the many-waiter event of `wait.rs`) until the
//!    generation is no longer `g`.
//!
//! A member that has passed generation `g` may arrive for `g + 1` while
//! another is still on its way out of `g`: its slot then says `g + 2`,
//! which counts as arrived for `g` too (it could only have read `g + 1`
//! once `g` was complete) and never for anything later, so a fast member
//! can neither complete the current generation for the slow ones nor be
//! mistaken for them. The state is only what each process wrote into its
//! own slot and the generation word, so a process killed at any instant
//! leaves nothing half-done: a member that waits looks, once a liveness
//! slice, at the process of every member that has not arrived, and if one
//! is dead it marks the barrier broken (sticky: the `broken` word holds the
//! dead member's token) and wakes everyone.
//!
//! ```text
//! 0    TableMeta       magic "SHMQBARR", version 1, members, sizes, ready
//! 128  BarrierControl  event: seq u32 (futex), sleeping u32
//!                      generation u32 | reserved u32 | broken u64
//! 256  member slots: members x { token u64, arrived u64 }, 8 to a line
//! ```
//!
//! Memory orderings: *arrive* (a member's Release store of its slot,
//! Acquired by the member that scans it), *generation* (the leader's
//! compare-exchange is AcqRel: it Acquired every arrival in its scan and
//! Releases them to every member that Acquire-loads the new generation:
//! what each member did before its wait happens before every member's
//! return), *member-claim* (`join`'s Acquire pairs with a leaving member's
//! Release), *event-seq*, *event-register* (`wait.rs`).

use std::sync::Arc;
use std::time::Duration;

use crate::error::{BarrierError, BarrierWaitTimeoutError, OpenError, OpenErrorKind};
use crate::layout::{BARRIER_MAGIC, Event};
use crate::peer::{self, Liveness, own_token};
use crate::sync::Ordering::{AcqRel, Acquire, Relaxed, Release};
use crate::sync::{AtomicU32, AtomicU64};
use crate::table::{Shared, Spec, Table};
use crate::wait::{DEFAULT_SPIN, Deadline, WaitState, notify, notify_always, wait_event};

/// Most members a [`Barrier`] can have. Every arrival looks at every
/// member's slot; this bounds that.
pub const MAX_MEMBERS: usize = 1024;

/// Layout version of a barrier segment; bumped on any incompatible change.
const VERSION: u32 = 1;

const SPEC: Spec = Spec {
    magic: BARRIER_MAGIC,
    version: VERSION,
    kind: "barrier",
    max_count: MAX_MEMBERS,
    count_error: "members out of range (1 to 1024)",
};

/// The barrier's control line.
#[repr(C, align(128))]
#[derive(Debug, Default)]
pub(crate) struct BarrierControl {
    /// Members waiting for the others sleep here; the leader (and the
    /// member that finds the barrier broken) notifies it.
    pub(crate) event: Event,
    /// The generation being waited for; the leader moves it on by one
    /// (wrapping). SYNC: generation.
    pub(crate) generation: AtomicU32,
    pub(crate) _reserved: AtomicU32,
    /// 0, or the token of the member whose death (or panic) broke the
    /// barrier. Sticky. Relaxed: a flag that carries no data (a woken
    /// waiter reads it after the event's Acquire).
    pub(crate) broken: AtomicU64,
}

/// One member's slot.
#[repr(C)]
#[derive(Debug, Default)]
pub(crate) struct MemberSlot {
    /// 0 while vacant, else the holder's owner token. SYNC: member-claim.
    pub(crate) token: AtomicU64,
    /// 0 if no holder of the slot ever arrived, else the generation its
    /// holder last arrived for, plus one. SYNC: arrive.
    pub(crate) arrived: AtomicU64,
}

// SAFETY: `repr(C)`, made of the crate's atomics only, aligned to 128.
unsafe impl Shared for BarrierControl {}
// SAFETY: `repr(C)`, made of the crate's atomics only.
unsafe impl Shared for MemberSlot {}

#[cfg(not(shmq_loom))]
const _: () = {
    use std::mem::{offset_of, size_of};
    assert!(size_of::<BarrierControl>() == 128);
    assert!(offset_of!(BarrierControl, event) == 0);
    assert!(offset_of!(BarrierControl, generation) == 8);
    assert!(offset_of!(BarrierControl, broken) == 16);
    assert!(size_of::<MemberSlot>() == 16);
    assert!(offset_of!(MemberSlot, token) == 0);
    assert!(offset_of!(MemberSlot, arrived) == 8);
    assert!(128 % size_of::<MemberSlot>() == 0);
};

/// What a slot's `arrived` says for an arrival for generation `g`.
fn mark(g: u32) -> u64 {
    u64::from(g) + 1
}

/// Whether a slot whose `arrived` is `arrived` has arrived for generation
/// `g`: for `g` itself, or for the next one (which it can only have seen
/// once `g` was complete).
fn has_arrived(arrived: u64, g: u32) -> bool {
    arrived == mark(g) || arrived == mark(g.wrapping_add(1))
}

/// The pid of the member that broke the barrier, if it is broken.
fn broken_pid(control: &BarrierControl) -> Option<u32> {
    match control.broken.load(Relaxed) {
        0 => None,
        token => Some(peer::token_pid(token)),
    }
}

/// Marks the barrier broken by `token` (unless it is already) and wakes
/// every waiter.
fn break_barrier(control: &BarrierControl, token: u64) {
    // Relaxed: see `BarrierControl::broken`; the first breaker is kept.
    let _ = control
        .broken
        .compare_exchange(0, token.max(1), Relaxed, Relaxed);
    notify_always(&control.event);
}

/// A barrier for a fixed number of processes, by name (or within one
/// process, [`in_process`](Self::in_process)).
///
/// Each process (or thread) that takes part [`join`](Self::join)s: it
/// takes one of the barrier's member slots and gets a [`BarrierMember`],
/// whose [`wait`](BarrierMember::wait) returns once every member has
/// arrived, generation after generation. If a member's process dies (even
/// by `kill -9`, or a member is dropped while its thread panics) before
/// arriving, the others' waits fail with [`BarrierError::Broken`] within
/// about 40 ms, and so does every wait after: a broken barrier stays broken
/// until it is removed and created again.
///
/// A member that leaves normally (drops its [`BarrierMember`]) does not
/// break it: its slot is vacant, and the others wait until another process
/// joins in its place (an arrival it made before leaving counts). So the
/// barrier completes a generation when all [`members`](Self::members)
/// slots have arrived for it.
///
/// # Examples
///
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // In each of the 4 worker processes:
/// let barrier = shmq::Barrier::open_or_create("phase", 4)?;
/// let mut member = barrier.join()?;
/// for step in 0..10 {
///     // ... this process's part of step `step` ...
///     if member.wait()?.is_leader() {
///         println!("step {step} done by all");
///     }
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Barrier {
    table: Arc<Table<BarrierControl, MemberSlot>>,
    name: Option<String>,
}

impl std::fmt::Debug for Barrier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Barrier")
            .field("name", &self.name)
            .field("members", &self.members())
            .finish_non_exhaustive()
    }
}

impl Barrier {
    /// Creates the barrier `name` for `members` members; fails if it
    /// exists. Its segment file is `/dev/shm/shmq.<name>` (mode 0600),
    /// like a queue's: names are shared by queues, semaphores and
    /// barriers.
    ///
    /// # Errors
    ///
    /// [`OpenErrorKind::InvalidName`], [`OpenErrorKind::InvalidOptions`] if
    /// `members` is 0 or more than [`MAX_MEMBERS`],
    /// [`OpenErrorKind::AlreadyExists`], or [`OpenErrorKind::Io`].
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let name = format!("doc-barrier-create-{}", std::process::id());
    /// let barrier = shmq::Barrier::create(&name, 3)?;
    /// assert_eq!(barrier.members(), 3);
    /// shmq::Barrier::remove(&name)?;
    /// # Ok(()) }
    /// ```
    pub fn create(name: &str, members: usize) -> Result<Barrier, OpenError> {
        Self::create_inner(name, members).map_err(|e| e.on_object("barrier", Some(name)))
    }

    fn create_inner(name: &str, members: usize) -> Result<Barrier, OpenError> {
        crate::table::check_count(SPEC, members)?;
        let table = Table::create(name, SPEC, members, crate::queue::DEFAULT_MODE, |_| {})?;
        Ok(Barrier {
            table: Arc::new(table),
            name: Some(name.to_owned()),
        })
    }

    /// Opens the existing barrier `name` (waiting up to
    /// [`DEFAULT_OPEN_TIMEOUT`](crate::DEFAULT_OPEN_TIMEOUT) for a creator
    /// that is still at work).
    ///
    /// # Errors
    ///
    /// [`OpenErrorKind::NotFound`], [`OpenErrorKind::WrongKind`] if `name`
    /// is a queue or a semaphore, [`OpenErrorKind::NotReady`] if its
    /// creator never finished, or the error naming the first header check
    /// that failed.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = shmq::Barrier::open("no-such-barrier-here").unwrap_err();
    /// assert!(matches!(err.kind(), shmq::OpenErrorKind::NotFound));
    /// ```
    pub fn open(name: &str) -> Result<Barrier, OpenError> {
        Self::open_inner(name).map_err(|e| e.on_object("barrier", Some(name)))
    }

    fn open_inner(name: &str) -> Result<Barrier, OpenError> {
        let table = Table::open(name, SPEC, crate::queue::DEFAULT_OPEN_TIMEOUT)?;
        Ok(Barrier {
            table: Arc::new(table),
            name: Some(name.to_owned()),
        })
    }

    /// Opens the barrier `name` if it exists (with its own number of
    /// members, whatever `members` says), else creates it for `members`.
    ///
    /// # Errors
    ///
    /// As for [`create`](Self::create) and [`open`](Self::open).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let name = format!("doc-barrier-ooc-{}", std::process::id());
    /// let barrier = shmq::Barrier::open_or_create(&name, 2)?;
    /// assert_eq!(shmq::Barrier::open_or_create(&name, 5)?.members(), 2);
    /// # drop(barrier);
    /// shmq::Barrier::remove(&name)?;
    /// # Ok(()) }
    /// ```
    pub fn open_or_create(name: &str, members: usize) -> Result<Barrier, OpenError> {
        crate::table::check_count(SPEC, members).map_err(|e| e.on_object("barrier", Some(name)))?;
        crate::table::open_or_create(|| Self::open(name), || Self::create(name, members))
    }

    /// A barrier for `members` members on the heap, for the threads of this
    /// process (and the loom models); the same code as a named one.
    ///
    /// # Errors
    ///
    /// [`OpenErrorKind::InvalidOptions`] if `members` is 0 or more than
    /// [`MAX_MEMBERS`].
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let barrier = shmq::Barrier::in_process(2)?;
    /// let mut a = barrier.join()?;
    /// let mut b = barrier.join()?;
    /// let t = std::thread::spawn(move || b.wait().map(|r| r.is_leader()));
    /// let a_led = a.wait()?.is_leader();
    /// let b_led = t.join().unwrap()?;
    /// assert!(a_led != b_led, "exactly one leader per generation");
    /// # Ok(()) }
    /// ```
    pub fn in_process(members: usize) -> Result<Barrier, OpenError> {
        crate::table::check_count(SPEC, members)?;
        Ok(Barrier {
            table: Arc::new(Table::heap(members)),
            name: None,
        })
    }

    /// Removes the barrier `name`. Processes that have it open keep using
    /// it; new opens fail with [`OpenErrorKind::NotFound`], and a new
    /// barrier of the same name is another barrier.
    ///
    /// # Errors
    ///
    /// [`OpenErrorKind::InvalidName`], [`OpenErrorKind::NotFound`],
    /// [`OpenErrorKind::WrongKind`] if `name` is a queue or a semaphore
    /// (which it leaves alone), or [`OpenErrorKind::Io`].
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let name = format!("doc-barrier-rm-{}", std::process::id());
    /// shmq::Barrier::create(&name, 2)?;
    /// shmq::Barrier::remove(&name)?;
    /// assert!(shmq::Barrier::open(&name).is_err());
    /// # Ok(()) }
    /// ```
    pub fn remove(name: &str) -> Result<(), OpenError> {
        crate::table::remove::<BarrierControl, MemberSlot>(name, SPEC)
            .map_err(|e| e.on_object("barrier", Some(name)))
    }

    /// The barrier's name; `None` for an in-process one.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), shmq::OpenError> {
    /// assert_eq!(shmq::Barrier::in_process(2)?.name(), None);
    /// # Ok(()) }
    /// ```
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The number of members a generation waits for.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), shmq::OpenError> {
    /// let barrier = shmq::Barrier::in_process(3)?;
    /// let _me = barrier.join()?;
    /// assert_eq!((barrier.members(), barrier.joined()), (3, 1));
    /// # Ok(()) }
    /// ```
    pub fn members(&self) -> usize {
        self.table.count()
    }

    /// The number of member slots held by live processes. A snapshot;
    /// reads `/proc` once per member process.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let barrier = shmq::Barrier::in_process(3)?;
    /// let _me = barrier.join()?;
    /// assert_eq!(barrier.joined(), 1);
    /// # Ok(()) }
    /// ```
    pub fn joined(&self) -> usize {
        let mut known = Liveness::default();
        self.table
            .entries()
            .iter()
            .filter(|slot| {
                let token = slot.token.load(Relaxed);
                token != 0 && known.alive(token)
            })
            .count()
    }

    /// Whether the barrier is broken (see [`BarrierError::Broken`]).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), shmq::OpenError> {
    /// assert!(!shmq::Barrier::in_process(2)?.is_broken());
    /// # Ok(()) }
    /// ```
    pub fn is_broken(&self) -> bool {
        broken_pid(self.table.control()).is_some()
    }

    /// The number of generations completed so far (wrapping at 2^32).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let barrier = shmq::Barrier::in_process(1)?;
    /// let mut member = barrier.join()?;
    /// assert!(member.wait()?.is_leader()); // alone: always the leader
    /// assert_eq!(barrier.generation(), 1);
    /// # Ok(()) }
    /// ```
    pub fn generation(&self) -> u32 {
        // SYNC: generation (Acquire side).
        self.table.control().generation.load(Acquire)
    }

    /// Takes a member slot for this process: a vacant one, or else one
    /// whose holder died. Taking a dead member's slot breaks the barrier
    /// if that member had not arrived for the current generation (its
    /// death is not hidden by the newcomer).
    ///
    /// # Errors
    ///
    /// [`OpenErrorKind::TooManyMembers`] if live processes hold every
    /// slot.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), shmq::OpenError> {
    /// let barrier = shmq::Barrier::in_process(1)?;
    /// let member = barrier.join()?;
    /// let err = barrier.join().unwrap_err();
    /// assert!(matches!(err.kind(), shmq::OpenErrorKind::TooManyMembers { limit: 1 }));
    /// drop(member); // leaves: the slot is vacant again
    /// assert!(barrier.join().is_ok());
    /// # Ok(()) }
    /// ```
    pub fn join(&self) -> Result<BarrierMember, OpenError> {
        let me = own_token();
        let control = self.table.control();
        let slots = self.table.entries();
        let claimed = slots
            .iter()
            .position(|slot| {
                // SYNC: member-claim (Acquire side, AcqRel): pairs with the
                // Release of the member that vacated the slot. Failure:
                // another joiner won it; Relaxed, nothing read.
                slot.token.load(Relaxed) == 0
                    && slot.token.compare_exchange(0, me, AcqRel, Relaxed).is_ok()
            })
            .or_else(|| {
                let mut known = Liveness::default();
                slots.iter().position(|slot| {
                    let token = slot.token.load(Acquire);
                    if token == 0 || known.alive(token) {
                        return false;
                    }
                    // SYNC: generation (Acquire side), arrive (Acquire side).
                    let g = control.generation.load(Acquire);
                    if !has_arrived(slot.arrived.load(Acquire), g) {
                        break_barrier(control, token);
                    }
                    // SYNC: member-claim, as above.
                    slot.token
                        .compare_exchange(token, me, AcqRel, Relaxed)
                        .is_ok()
                })
            });
        match claimed {
            Some(index) => Ok(BarrierMember {
                table: Arc::clone(&self.table),
                index,
                token: me,
                pending: None,
                state: WaitState::new(),
            }),
            None => Err(
                OpenError::from(OpenErrorKind::TooManyMembers { limit: slots.len() })
                    .on_object("barrier", self.name()),
            ),
        }
    }
}

/// What [`BarrierMember::wait`] returns: whether this member was the
/// generation's leader, as std's `BarrierWaitResult`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BarrierWaitResult {
    leader: bool,
}

impl BarrierWaitResult {
    /// Whether this member completed the generation: exactly one member of
    /// each generation is its leader (the one whose look found every member
    /// arrived first).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let barrier = shmq::Barrier::in_process(1)?;
    /// assert!(barrier.join()?.wait()?.is_leader());
    /// # Ok(()) }
    /// ```
    pub fn is_leader(&self) -> bool {
        self.leader
    }
}

/// How a wait ended without the generation completing.
enum Ended {
    Timeout,
    Broken(u32),
}

/// One member's place in a [`Barrier`], from [`Barrier::join`]; dropping
/// it leaves the barrier (or, while its thread panics, breaks it).
///
/// # Examples
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let barrier = shmq::Barrier::in_process(1)?;
/// let mut member: shmq::BarrierMember = barrier.join()?;
/// member.wait()?;
/// assert_eq!(member.slot(), 0);
/// # Ok(()) }
/// ```
pub struct BarrierMember {
    table: Arc<Table<BarrierControl, MemberSlot>>,
    /// The slot held (below the table's count, checked at join).
    index: usize,
    /// The token written into it; 0 once it is not ours to vacate.
    token: u64,
    /// The generation this member arrived for and has not yet seen
    /// complete (after a timeout).
    pending: Option<u32>,
    state: WaitState,
}

impl std::fmt::Debug for BarrierMember {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BarrierMember")
            .field("slot", &self.index)
            .field("pending", &self.pending)
            .finish_non_exhaustive()
    }
}

impl BarrierMember {
    /// The index of the member slot this member holds.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), shmq::OpenError> {
    /// let barrier = shmq::Barrier::in_process(2)?;
    /// let (a, b) = (barrier.join()?, barrier.join()?);
    /// assert_ne!(a.slot(), b.slot());
    /// # Ok(()) }
    /// ```
    pub fn slot(&self) -> usize {
        self.index
    }

    /// Arrives at the barrier and waits until every member has arrived for
    /// this generation (spinning briefly, then asleep), or until the
    /// barrier is broken.
    ///
    /// # Errors
    ///
    /// [`BarrierError::Broken`] if a member died (or panicked) before
    /// arriving: found by the waiting members within about 40 ms of the
    /// death; the barrier stays broken.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let barrier = shmq::Barrier::in_process(3)?;
    /// let workers: Vec<_> = (0..3)
    ///     .map(|_| {
    ///         let mut member = barrier.join().unwrap();
    ///         std::thread::spawn(move || {
    ///             (0..5).filter(|_| member.wait().unwrap().is_leader()).count()
    ///         })
    ///     })
    ///     .collect();
    /// let led: usize = workers.into_iter().map(|w| w.join().unwrap()).sum();
    /// assert_eq!(led, 5); // one leader per generation
    /// # Ok(()) }
    /// ```
    pub fn wait(&mut self) -> Result<BarrierWaitResult, BarrierError> {
        match self.wait_until(Deadline::Never) {
            Ok(result) => Ok(result),
            Err(Ended::Broken(pid)) => Err(BarrierError::Broken { pid }),
            Err(Ended::Timeout) => unreachable!("a wait without a deadline has no timeout"),
        }
    }

    /// [`wait`](Self::wait), for at most `timeout`.
    ///
    /// A wait that times out leaves this member arrived for the
    /// generation: the others may complete it without this member waiting,
    /// and this member's next `wait` or `wait_timeout` finishes that one
    /// (at once if it completed meanwhile) rather than arriving anew.
    ///
    /// # Errors
    ///
    /// [`BarrierWaitTimeoutError::Timeout`], or
    /// [`BarrierWaitTimeoutError::Broken`] as [`wait`](Self::wait).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::Duration;
    /// let barrier = shmq::Barrier::in_process(2)?;
    /// let mut a = barrier.join()?;
    /// let err = a.wait_timeout(Duration::from_millis(5)).unwrap_err();
    /// assert!(err.is_timeout()); // the other member never came
    /// let mut b = barrier.join()?;
    /// b.wait()?; // a is still arrived: this completes the generation
    /// a.wait()?; // finishes a's wait, at once
    /// # Ok(()) }
    /// ```
    pub fn wait_timeout(
        &mut self,
        timeout: Duration,
    ) -> Result<BarrierWaitResult, BarrierWaitTimeoutError> {
        self.wait_until(Deadline::after(timeout))
            .map_err(|ended| match ended {
                Ended::Timeout => BarrierWaitTimeoutError::Timeout,
                Ended::Broken(pid) => BarrierWaitTimeoutError::Broken { pid },
            })
    }

    fn wait_until(&mut self, deadline: Deadline) -> Result<BarrierWaitResult, Ended> {
        let table = &*self.table;
        let control = table.control();
        let g = match self.pending {
            Some(g) => g,
            None => {
                if let Some(pid) = broken_pid(control) {
                    return Err(Ended::Broken(pid));
                }
                // SYNC: generation (Acquire side): pairs with the leader's
                // AcqRel compare-exchange; the generation this member
                // arrives for cannot move before it arrives.
                let g = control.generation.load(Acquire);
                // SYNC: arrive (Release side): what this member did before
                // the wait is visible to the member whose scan Acquires
                // it, and through the leader's compare-exchange to all.
                table.entries()[self.index].arrived.store(mark(g), Release);
                self.pending = Some(g);
                g
            }
        };
        let mut leader = false;
        let outcome = wait_event(
            &control.event,
            DEFAULT_SPIN,
            deadline,
            &mut self.state,
            |liveness| {
                // SYNC: generation (Acquire side).
                if control.generation.load(Acquire) != g {
                    return Some(Ok(()));
                }
                if let Some(pid) = broken_pid(control) {
                    return Some(Err(pid));
                }
                match scan(table.entries(), g, liveness) {
                    Scan::Waiting => None,
                    Scan::AllArrived => {
                        // SYNC: generation (Release side): the arrivals
                        // Acquired by the scan happen before the return of
                        // every member that Acquire-loads the new
                        // generation. Failure: another member that saw
                        // everyone arrive moved it first (Acquire, as the
                        // load above).
                        if control
                            .generation
                            .compare_exchange(g, g.wrapping_add(1), AcqRel, Acquire)
                            .is_ok()
                        {
                            leader = true;
                            notify(&control.event);
                        }
                        Some(Ok(()))
                    }
                    Scan::Dead(token) => {
                        break_barrier(control, token);
                        Some(Err(broken_pid(control).unwrap_or(0)))
                    }
                }
            },
        );
        match outcome {
            None => Err(Ended::Timeout),
            Some(Ok(())) => {
                self.pending = None;
                Ok(BarrierWaitResult { leader })
            }
            Some(Err(pid)) => {
                self.pending = None;
                Err(Ended::Broken(pid))
            }
        }
    }

    /// Loom models only: this member's process dies (at once, wherever it
    /// is: it will not arrive again).
    #[cfg(shmq_loom)]
    #[doc(hidden)]
    pub fn loom_die(mut self) {
        // The death, as the others see it: the slot keeps a token whose
        // process is dead (Release, as the kernel's teardown orders what
        // the process did before), and nothing is vacated.
        self.table.entries()[self.index]
            .token
            .store(peer::LOOM_DEAD_TOKEN, Release);
        self.token = 0;
        crate::wait::loom_slice_end(&self.table.control().event);
    }
}

/// What one look at the member slots found.
enum Scan {
    /// Every slot has arrived for the generation.
    AllArrived,
    /// Some have not, and none of those was found dead.
    Waiting,
    /// The member holding a slot that has not arrived is dead (its token).
    Dead(u64),
}

/// Looks at every slot for generation `g`; with `liveness`, also at the
/// process of each member that has not arrived.
fn scan(slots: &[MemberSlot], g: u32, liveness: bool) -> Scan {
    let mut known = Liveness::default();
    let mut all = true;
    for slot in slots {
        // SYNC: arrive (Acquire side): pairs with the member's Release.
        if has_arrived(slot.arrived.load(Acquire), g) {
            continue;
        }
        all = false;
        if !liveness {
            break;
        }
        // A vacant slot waits for a joiner; a dead holder breaks the
        // barrier.
        let token = slot.token.load(Relaxed);
        if token != 0 && !known.alive(token) {
            return Scan::Dead(token);
        }
    }
    if all { Scan::AllArrived } else { Scan::Waiting }
}

impl Drop for BarrierMember {
    fn drop(&mut self) {
        if self.token == 0 {
            return;
        }
        let panicking = std::thread::panicking();
        if panicking && crate::sync::LOOM {
            // A model that failed: no more loom operations.
            return;
        }
        let table = &*self.table;
        if panicking {
            break_barrier(table.control(), self.token);
        }
        // SYNC: member-claim (Release side): pairs with the next joiner's
        // Acquire. Only if the slot still holds our token.
        let _ = table.entries()[self.index]
            .token
            .compare_exchange(self.token, 0, Release, Relaxed);
    }
}

/// See `shmq::fuzz::barrier_image`.
#[cfg(fuzzing)]
pub(crate) fn fuzz_image(image: &[u8], ops: &[u8]) -> Result<usize, OpenError> {
    let table = Table::from_image(image, SPEC)?;
    let barrier = Barrier {
        table: Arc::new(table),
        name: Some("fuzz".into()),
    };
    let mut members: Vec<BarrierMember> = Vec::new();
    let mut completed = 0;
    for &op in ops {
        for member in &mut members {
            // Due at once: the members are looked at on every wait.
            member.state.last_liveness = Duration::ZERO;
        }
        match op % 5 {
            0 => members.extend(barrier.join().ok()),
            1 if !members.is_empty() => {
                let k = usize::from(op / 5) % members.len();
                if members[k].wait_timeout(Duration::ZERO).is_ok() {
                    completed += 1;
                }
            }
            2 => drop(members.pop()),
            3 => {
                assert!(barrier.joined() <= barrier.members());
                let _ = (barrier.generation(), barrier.is_broken());
            }
            _ => {
                for member in &mut members {
                    if member.wait_until(Deadline::Now).is_ok() {
                        completed += 1;
                    }
                }
            }
        }
        assert!(members.len() <= barrier.members());
    }
    Ok(completed)
}
