//! A queue whose slots hold (mostly plausible, sometimes wild) bytes,
//! drained by the real receiver: `drain_ring` must never panic or hang, and
//! must deliver exactly as many messages as the reference model says. The
//! records' commit words are mostly stamped for their positions; `head` is
//! anything, since the receiver must not rely on it.

#![no_main]

use libfuzzer_sys::fuzz_target;
use shmq_fuzz::{RingInput, library, model_drain};

fuzz_target!(|input: RingInput| {
    let (p, ring) = input.build();
    let delivered = library::drain_ring(&p, &ring);
    let model = model_drain(&p, &ring);
    assert_eq!(delivered, model.delivered, "params {p:?}, model {model:?}");
});
