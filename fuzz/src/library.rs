//! The library's side of each comparison, as the targets and the `stats`
//! example call it: `shmq::fuzz`, compiled only under `cfg(fuzzing)`.

use shmq::{OpenError, OpenErrorKind};

use crate::*;

/// `shmq::fuzz::drain_ring` for `p` and `ring`.
pub fn drain_ring(p: &Params, ring: &[u8]) -> usize {
    shmq::fuzz::drain_ring(
        p.slot_size,
        p.slot_count,
        p.max_message_size,
        p.head,
        p.tail,
        ring,
    )
}

/// `shmq::fuzz::drain_lanes` for `p`.
pub fn drain_lanes(p: &LanesParams) -> (usize, Vec<usize>) {
    let lanes: Vec<shmq::fuzz::LaneImage> = p
        .lanes
        .iter()
        .map(|l| shmq::fuzz::LaneImage {
            head: l.head,
            tail: l.tail,
            sender_token: l.sender_token,
            ring: &l.ring,
        })
        .collect();
    shmq::fuzz::drain_lanes(p.slot_size, p.slot_count, p.max_message_size, &lanes)
}

/// `shmq::fuzz::check_header(image)`, its error as the model words it.
/// Formatting the error must not panic either.
pub fn check_header(image: &[u8]) -> Result<(), HeaderError> {
    shmq::fuzz::check_header(image).map_err(|e| {
        let _ = format!("{e} {e:?}");
        header_error(e)
    })
}

fn header_error(e: OpenError) -> HeaderError {
    match e.into_kind() {
        OpenErrorKind::NotReady => HeaderError::TooShort,
        OpenErrorKind::BadMagic { found } => HeaderError::Magic { found },
        OpenErrorKind::WrongKind {
            found,
            expected: "queue",
        } => HeaderError::WrongKind { found },
        OpenErrorKind::VersionMismatch { found, expected } => {
            HeaderError::Version { found, expected }
        }
        OpenErrorKind::FlavourMismatch { found } => HeaderError::Flavour { found },
        OpenErrorKind::BadHeader(why) => HeaderError::BadHeader(why),
        OpenErrorKind::SizeMismatch {
            what,
            found,
            expected,
        } => HeaderError::Size {
            what,
            found,
            expected,
        },
        other => HeaderError::Other(format!("{other:?}")),
    }
}
