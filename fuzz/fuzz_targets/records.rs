//! A tiny sender writes well-formed, committed records (messages, padding,
//! `Hello`s, fragmented messages, abandoned ones, orphan continuations; one
//! slot kept free and the next commit word cleared, as the real sender
//! does), then optional corruptions; the real receiver drains them. Rings
//! whose slots were not mutated (moving `head` is allowed: the receiver
//! never relies on it) must deliver every message the sender completed; any
//! ring must agree with the model.

#![no_main]

use libfuzzer_sys::fuzz_target;
use shmq_fuzz::{RecordsInput, library, model_drain};

fuzz_target!(|input: RecordsInput| {
    let built = input.build();
    let p = built.params;
    let delivered = library::drain_ring(&p, &built.ring);
    if let Some(expected) = built.expected {
        assert_eq!(delivered, expected, "well-formed ring: params {p:?}");
    }
    let model = model_drain(&p, &built.ring);
    assert_eq!(delivered, model.delivered, "params {p:?}, model {model:?}");
});
