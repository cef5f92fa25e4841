//! Who holds each end of a queue, and whether that process still lives.
//!
//! An end is held by writing a *token* into its [`Owner`] word with a
//! compare-exchange: the holder's pid in the low 32 bits and the low 32 bits
//! of its start time (clock ticks since boot, from `/proc/<pid>/stat`) in the
//! high 32. A pid whose process has died and been reused by another process
//! has a different start time, so the token no longer matches: that is the
//! guard against pid reuse. A zombie (killed but not yet reaped) counts as
//! dead.

use std::sync::OnceLock;

use crate::error::{OpenError, OpenErrorKind, Role};
use crate::layout::Owner;
use crate::sync::Ordering::{AcqRel, Acquire, Relaxed, Release};

/// This process's token (never 0).
pub(crate) fn own_token() -> u64 {
    if crate::sync::LOOM {
        // Loom threads model processes that never die.
        return 1;
    }
    static TOKEN: OnceLock<u64> = OnceLock::new();
    *TOKEN.get_or_init(|| {
        let pid = crate::sys::current_pid();
        let start = crate::sys::process_identity(pid).map_or(0, |(_, start)| start);
        make_token(pid, start)
    })
}

/// Under loom, where every thread has the token 1: the token of a holder
/// that died (see `Producer::die`). Not a token of any real process.
pub(crate) const LOOM_DEAD_TOKEN: u64 = 2;

fn make_token(pid: u32, start: u64) -> u64 {
    ((start & 0xffff_ffff) << 32) | u64::from(pid)
}

/// The pid in a token.
pub(crate) fn token_pid(token: u64) -> u32 {
    token as u32
}

/// Whether the process that wrote `token` is still alive. `0` (nobody) is
/// not alive. Reads `/proc`, so it is for slow paths only.
pub(crate) fn is_alive(token: u64) -> bool {
    if token == 0 {
        return false;
    }
    if token == own_token() {
        return true;
    }
    if crate::sync::LOOM {
        return token != LOOM_DEAD_TOKEN;
    }
    let pid = token_pid(token);
    if pid == 0 || pid > i32::MAX as u32 {
        return false; // Garbage: no process can have this pid.
    }
    match crate::sys::process_identity(pid) {
        Some((running, start)) => running && make_token(pid, start) == token,
        None => false,
    }
}

/// [`is_alive`] over one pass of many owner words (a semaphore's permits,
/// a barrier's members): the answer for the token looked at last is kept,
/// so a process that holds many words in a row costs one `/proc` read.
#[derive(Debug, Default)]
pub(crate) struct Liveness {
    last: Option<(u64, bool)>,
}

impl Liveness {
    /// Whether the process that wrote `token` is alive, as [`is_alive`].
    pub(crate) fn alive(&mut self, token: u64) -> bool {
        match self.last {
            Some((seen, alive)) if seen == token => alive,
            _ => {
                let alive = is_alive(token);
                self.last = Some((token, alive));
                alive
            }
        }
    }
}

/// Takes `role`'s end of the queue for this process, without telling the
/// peer yet: the caller checks the segment, then calls [`announce`] (or
/// [`detach`] if it refuses it, so a refused attach leaves no trace a peer
/// could read as "came and went").
///
/// Fails if a live process (this one included) holds it; takes it over if
/// the holder died. Returns the token written.
pub(crate) fn claim(owner: &Owner, role: Role) -> Result<u64, OpenError> {
    let me = own_token();
    let mut current = owner.token.load(Acquire);
    loop {
        if current != 0 && is_alive(current) {
            return Err(OpenErrorKind::AlreadyAttached {
                role,
                pid: token_pid(current),
            }
            .into());
        }
        // SYNC: attach. AcqRel on success: Acquire pairs with the previous
        // holder's Release in `detach` (its last index store is visible);
        // Release publishes our claim. Failure is Acquire so the retry sees
        // the token that beat us with the same guarantee.
        match owner.token.compare_exchange(current, me, AcqRel, Acquire) {
            Ok(_) => break,
            Err(seen) => current = seen,
        }
    }
    Ok(me)
}

/// Counts the holder that has [`claim`]ed `owner` as attached.
pub(crate) fn announce(owner: &Owner) {
    // SYNC: epoch. Release, after the claim: an observer that Acquire-loads
    // a non-zero epoch and then finds the token empty knows a holder came
    // and went (see `is_gone`).
    owner.epoch.fetch_add(1, Release);
}

/// Gives `owner` back, if `token` still holds it.
pub(crate) fn detach(owner: &Owner, token: u64) {
    // SYNC: detach. Release: every index this holder published is visible to
    // whoever Acquire-loads the cleared token (the peer's disconnect check,
    // the next holder's attach). Failure means someone took over from us
    // after deciding we were dead; nothing to undo, so Relaxed.
    let _ = owner.token.compare_exchange(token, 0, Release, Relaxed);
}

/// How the process at the other end of a queue left it, as reported with
/// `Disconnected` (see [`Receiver::last_departure`] and
/// [`Sender::last_departure`]).
///
/// [`Receiver::last_departure`]: crate::Receiver::last_departure
/// [`Sender::last_departure`]: crate::Sender::last_departure
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Departure {
    /// It let go of its end: dropped it, or exited normally.
    Detached,
    /// Its process died while holding the end (killed, or crashed).
    Died {
        /// The process id it had.
        pid: u32,
    },
}

impl std::fmt::Display for Departure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Departure::Detached => f.write_str("detached"),
            Departure::Died { pid } => write!(f, "died (pid {pid})"),
        }
    }
}

/// How nobody holds `owner` now: the token is empty (detached), or (when
/// `check_liveness`) its process is dead; `None` while it is held.
fn holder_gone(owner: &Owner, check_liveness: bool) -> Option<Departure> {
    // SYNC: detach (Acquire side), see `detach`.
    match owner.token.load(Acquire) {
        0 => Some(Departure::Detached),
        token if check_liveness && !is_alive(token) => Some(Departure::Died {
            pid: token_pid(token),
        }),
        _ => None,
    }
}

/// One side's view of the other end: which holders of it are its peer, and
/// how the last of them left.
///
/// A side must report `Disconnected` once the peer it was talking to has
/// gone, but a queue is persistent: a peer that left before this side
/// attached is not its peer, and this side should wait for (receiver) or
/// buffer for (sender) the next one. So the other end counts as gone only
/// if a live holder was there when this side attached, or one has attached
/// since, and none is alive now. Once gone, it stays gone until a new
/// holder attaches, even though a dead holder's token stays in the owner
/// word (and so is only found dead by the liveness check).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Session {
    epoch: u32,
    present: bool,
    /// The epoch at which the peer was last found gone, until a new holder
    /// attaches.
    departed: Option<u32>,
    /// How the last peer left, once one has.
    last: Option<Departure>,
}

impl Session {
    /// Notes the state of `owner` as this side attaches.
    pub(crate) fn start(owner: &Owner) -> Self {
        // SYNC: epoch (Acquire side): read before the token. A holder bumps
        // the epoch only after its claim (`announce`), so an epoch read
        // here followed by an empty token means the holders counted so far
        // have all left.
        let epoch = owner.epoch.load(Acquire);
        let token = owner.token.load(Acquire);
        Session {
            epoch,
            present: token != 0 && is_alive(token),
            departed: None,
            last: None,
        }
    }

    /// Whether the peer of this session has detached or died (noting how).
    /// `check_liveness` says whether to pay for a `/proc` read when a token
    /// is present.
    #[inline]
    pub(crate) fn gone(&mut self, owner: &Owner, check_liveness: bool) -> bool {
        if let Some(epoch) = self.departed {
            if !attached_since(owner, epoch) {
                return true;
            }
            self.departed = None;
        }
        // SYNC: epoch (Acquire side): read before the token, as in `start`.
        let epoch = owner.epoch.load(Acquire);
        if epoch == self.epoch && !self.present {
            return false; // No holder has attached since we did.
        }
        match holder_gone(owner, check_liveness) {
            Some(how) => {
                self.departed = Some(epoch);
                self.last = Some(how);
                true
            }
            None => false,
        }
    }

    /// Whether, as far as this session knows (after `gone` said no), the
    /// end has a holder that is its peer: one was there when this side
    /// attached, or one has attached since. False while this side waits
    /// for its first peer.
    pub(crate) fn has_peer(&self, owner: &Owner) -> bool {
        self.departed.is_none() && (self.present || attached_since(owner, self.epoch))
    }

    /// The epoch from which a new holder counts as a new peer: the one at
    /// which the peer was found gone, or else the one at attach.
    pub(crate) fn baseline(&self) -> u32 {
        self.departed.unwrap_or(self.epoch)
    }

    /// Whether the peer was found gone and no holder has attached since
    /// (without reading the owner word).
    pub(crate) fn departed(&self) -> bool {
        self.departed.is_some()
    }

    /// How the last peer left, once one has.
    pub(crate) fn last_departure(&self) -> Option<Departure> {
        self.last
    }
}

/// Whether a holder has attached to `owner` since it showed `epoch`.
pub(crate) fn attached_since(owner: &Owner, epoch: u32) -> bool {
    // SYNC: epoch (Acquire side): the new holder's claim is visible.
    owner.epoch.load(Acquire) != epoch
}
