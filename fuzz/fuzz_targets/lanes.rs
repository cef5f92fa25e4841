//! A mailbox of one to a few lanes (sometimes up to 64, or an impossible
//! count), each with its own tail, head, sender token and slots (a little
//! sender's records, placed record headers, raw bytes or nothing), drained
//! by the real receiver, which serves the lanes round-robin.
//! `drain_lanes` must never panic or hang, and:
//!
//! * it agrees with the reference model on the count, lane by lane;
//! * it delivers, on each lane, at most what `drain_ring` delivers from
//!   that lane alone, and exactly that when no lane is corrupt (a lane's
//!   messages are a prefix of its own drain: only another lane's corrupt
//!   record, which poisons the receiver, can cut it short);
//! * when every lane was built well-formed (idle, or a sender's unmutated
//!   records), each lane delivers what its sender completed. This check
//!   does not rely on the model.

#![no_main]

use libfuzzer_sys::fuzz_target;
use shmq_fuzz::{LanesInput, Params, library, model_lanes};

fuzz_target!(|input: LanesInput| {
    let built = input.build();
    let p = &built.params;
    let (delivered, per_lane) = library::drain_lanes(p);
    let model = model_lanes(p);
    let shape = (p.slot_size, p.slot_count, p.max_message_size, p.lanes.len());
    assert_eq!(
        (delivered, &per_lane),
        (model.delivered, &model.per_lane),
        "{shape:?}, model {model:?}"
    );
    if per_lane.is_empty() {
        return; // Refused, or the receiver did not attach.
    }
    assert_eq!(per_lane.len(), p.lanes.len());
    assert_eq!(per_lane.iter().sum::<usize>(), delivered);
    let corrupt = model.corrupted_lane.is_some();
    for (i, lane) in p.lanes.iter().enumerate() {
        let alone = Params {
            slot_size: p.slot_size,
            slot_count: p.slot_count,
            max_message_size: p.max_message_size,
            head: lane.head,
            tail: lane.tail,
        };
        let alone = library::drain_ring(&alone, &lane.ring);
        assert!(
            per_lane[i] <= alone,
            "lane {i}: {per_lane:?}, alone {alone}"
        );
        if !corrupt {
            assert_eq!(per_lane[i], alone, "lane {i}: {per_lane:?}, alone {alone}");
        }
    }
    if built.expected.iter().all(Option::is_some) {
        let expected: Vec<usize> = built.expected.iter().flatten().copied().collect();
        assert_eq!(per_lane, expected, "well-formed lanes: {shape:?}");
    }
});
