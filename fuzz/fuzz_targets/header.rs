//! Arbitrary bytes as a segment file: `check_header` must never panic, and
//! must accept exactly the images the reference model accepts.

#![no_main]

use libfuzzer_sys::fuzz_target;
use shmq_fuzz::model_header;

fuzz_target!(|image: &[u8]| {
    let result = shmq::fuzz::check_header(image);
    // Formatting the error must not panic either.
    if let Err(e) = &result {
        let _ = format!("{e} {e:?}");
    }
    let model = model_header(image);
    assert_eq!(
        result.is_ok(),
        model.is_ok(),
        "check_header: {result:?}, model: {model:?}"
    );
});
