//! A segment file, raw or written field by field (hostile lanes, header and
//! segment sizes, lane tables, lengths): `check_header` must never panic,
//! and must refuse exactly the images the reference model refuses, for the
//! same reason (the same check, the same values).

#![no_main]

use libfuzzer_sys::fuzz_target;
use shmq_fuzz::{HeaderInput, library, model_header};

fuzz_target!(|input: HeaderInput| {
    let image = input.build();
    let result = library::check_header(&image);
    let model = model_header(&image);
    assert_eq!(result, model, "image of {} bytes", image.len());
});
