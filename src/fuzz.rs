//! Entry points for the fuzz targets in `fuzz/`, compiled only under
//! `cfg(fuzzing)` (which `cargo fuzz` sets). They feed untrusted bytes to
//! the same validation and ring code that reads real segments.

use std::sync::Arc;

use crate::error::{OpenError, OpenErrorKind, Stop};
use crate::layout::{Config, HEADER_SIZE, Header};
use crate::segment::{Region, validate_header};
use crate::spsc::Consumer;
use crate::sync::Ordering::Relaxed;
use crate::wait::{Deadline, WaitStrategy};

/// Validates `image` as the header of a segment file of `image.len()`
/// bytes, as `open` does. Never panics.
pub fn check_header(image: &[u8]) -> Result<(), OpenError> {
    if image.len() < HEADER_SIZE {
        return Err(OpenErrorKind::NotReady.into());
    }
    /// The header bytes, aligned like a mapping's first page.
    #[repr(C, align(128))]
    struct Image([u8; HEADER_SIZE]);
    let mut aligned = Image([0; HEADER_SIZE]);
    aligned.0.copy_from_slice(&image[..HEADER_SIZE]);
    // SAFETY: `aligned` is HEADER_SIZE bytes, 128-aligned, and outlives the
    // reference; `Header` is all atomics, valid for any bytes, and is only
    // loaded from here, as `open` does with a mapped file.
    let header = unsafe { &*std::ptr::from_ref(&aligned).cast::<Header>() };
    validate_header(header, image.len() as u64).map(|_| ())
}

/// Builds an in-process queue of `slot_size` x `slot_count` with
/// `max_message_size`, fills its slots with `ring` (repeated or cut to
/// size), sets `head` and `tail`, attaches a receiver and drains it with
/// non-blocking receives. Returns how many messages were delivered.
/// Never panics, whatever the bytes.
pub fn drain_ring(
    slot_size: usize,
    slot_count: usize,
    max_message_size: u64,
    head: u64,
    tail: u64,
    ring: &[u8],
) -> usize {
    let config = Config {
        slot_size,
        slot_count,
        max_message_size,
    };
    if config.check().is_err() || config.ring_bytes() > 1 << 20 {
        return 0;
    }
    let region = Arc::new(Region::heap(config));
    if !ring.is_empty() {
        // SAFETY: no handle is attached yet; the range is the whole ring.
        unsafe {
            region.slots().write(0, config.ring_bytes(), |dst| {
                for (d, s) in dst.iter_mut().zip(ring.iter().cycle()) {
                    *d = *s;
                }
            });
        }
    }
    region.header().producer.head.store(head, Relaxed);
    region.header().consumer.tail.store(tail, Relaxed);
    let Ok(mut rx) = Consumer::attach(region, WaitStrategy::Spin) else {
        return 0;
    };
    let mut delivered = 0;
    for _ in 0..4 * slot_count {
        match rx.recv_with(Deadline::Now, |bytes| bytes.len()) {
            Ok(_) => delivered += 1,
            Err(Stop::Corrupted(_)) => {
                // Poisoned: it must stay so.
                assert!(matches!(
                    rx.recv_with(Deadline::Now, |_| ()),
                    Err(Stop::Corrupted(_))
                ));
                break;
            }
            Err(_) => break,
        }
    }
    delivered
}
