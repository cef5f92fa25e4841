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

use crate::error::{OpenError, Role};
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
        return true;
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
            return Err(OpenError::AlreadyAttached {
                role,
                pid: token_pid(current),
            });
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

/// Whether the other side has detached or died: it attached at least once and
/// no live process holds it now. `check_liveness` says whether to pay for a
/// `/proc` read when a token is present.
pub(crate) fn is_gone(owner: &Owner, check_liveness: bool) -> bool {
    // SYNC: epoch (Acquire side). Read the epoch before the token: a holder
    // bumps it only after its claim, so epoch != 0 with an empty token means
    // one attached and has since detached, never "about to attach".
    owner.epoch.load(Acquire) != 0 && holder_gone(owner, check_liveness)
}

/// Whether nobody holds `owner` now: the token is empty, or (when
/// `check_liveness`) its process is dead.
fn holder_gone(owner: &Owner, check_liveness: bool) -> bool {
    // SYNC: detach (Acquire side), see `detach`.
    match owner.token.load(Acquire) {
        0 => true,
        token => check_liveness && !is_alive(token),
    }
}

/// The pid of the live process holding `owner`, if any (reads `/proc`).
pub(crate) fn holder_pid(owner: &Owner) -> Option<u32> {
    match owner.token.load(Relaxed) {
        0 => None,
        t if is_alive(t) => Some(token_pid(t)),
        _ => None,
    }
}

/// The sender's view of the receiving end: which receivers are its peer.
///
/// A sender must fail with `Disconnected` once the receiver it was talking
/// to has gone, but a queue whose earlier receiver left long ago should keep
/// buffering for the next one (a named queue outlives its users). So the
/// receiver counts as gone only if one was alive when this sender attached,
/// or one has attached since, and none is alive now.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Session {
    epoch: u32,
    present: bool,
}

impl Session {
    /// Notes the state of `owner` as this side attaches.
    pub(crate) fn start(owner: &Owner) -> Self {
        // SYNC: epoch (Acquire side), as in `is_gone`.
        let epoch = owner.epoch.load(Acquire);
        let token = owner.token.load(Acquire);
        Session {
            epoch,
            present: token != 0 && is_alive(token),
        }
    }

    /// Whether the peer of this session has detached or died.
    pub(crate) fn is_gone(&self, owner: &Owner, check_liveness: bool) -> bool {
        // SYNC: epoch (Acquire side): read before the token, see `is_gone`.
        let epoch = owner.epoch.load(Acquire);
        if epoch == self.epoch && !self.present {
            return false; // No receiver has attached since we did.
        }
        holder_gone(owner, check_liveness)
    }
}
