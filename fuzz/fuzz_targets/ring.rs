//! A queue whose slots hold (mostly plausible, sometimes wild) bytes,
//! drained by the real receiver: `drain_ring` must never panic or hang, and
//! must deliver exactly as many messages as the reference model says. The
//! records' commit words are mostly stamped for their positions; `head` is
//! anything, since a v2 receiver must not read it.

#![no_main]

use libfuzzer_sys::fuzz_target;
use shmq_fuzz::{RingInput, model_drain};

fuzz_target!(|input: RingInput| {
    let (p, ring) = input.build();
    let delivered = shmq::fuzz::drain_ring(
        p.slot_size,
        p.slot_count,
        p.max_message_size,
        p.head,
        p.tail,
        &ring,
    );
    let model = model_drain(&p, &ring);
    assert_eq!(delivered, model.delivered, "params {p:?}, model {model:?}");
});
