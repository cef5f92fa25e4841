//! Shared code of the shmq fuzz targets (segment layout version 3).
//!
//! * [`RingInput`], [`RecordsInput`] and [`LanesInput`]: structured inputs
//!   (via `arbitrary`) that build the arguments of `shmq::fuzz::drain_ring`
//!   and `drain_lanes`, biased towards plausible record headers (committed
//!   for the right position) so that the fuzzer reaches the receiver's deep
//!   paths (padding, `Hello`, fragments, reassembly, orphans, lanes served
//!   round-robin).
//! * [`model_drain`] and [`model_lanes`]: an independent reference model of
//!   what `drain_ring` and `drain_lanes` must return for the same
//!   arguments, written from the ring protocol (the receiver polls a commit
//!   word in the record header, never relies on `head`) and from the drain
//!   loops. The targets assert that the library and the model agree, so the
//!   fuzzer finds wrong answers (a message delivered that should not be, a
//!   valid one refused), not only panics.
//! * [`HeaderInput`] and [`model_header`]: the same for
//!   `shmq::fuzz::check_header`, down to which check fails and the values
//!   it reports.
//! * [`encode`] and [`seeds`]: the inverse of the `arbitrary` decoding, so
//!   that the seeds in `seeds/` are written from readable descriptions
//!   (`cargo run --example seeds`) instead of being picked from a corpus.
//!
//! Only `library` (the calls into `shmq::fuzz`) depends on `shmq`'s fuzz
//! entry points, and only under `cfg(fuzzing)`; the rest builds without it
//! and its unit tests run with a plain `cargo test`.
//!
//! Modules: `layout` (sizes, offsets, kinds, commit words), `model` (the
//! receiver's reference model), `header` (the header model and the `header`
//! target's input), `generate` (the `ring` target's inputs), `sender` (the
//! `records` target's inputs, a tiny sender), `lanes` (the `lanes` target's
//! inputs), `encode` (values to input bytes), `seeds`, `library`.

mod generate;
mod header;
mod lanes;
mod layout;
mod model;
mod seeds;
mod sender;

pub mod encode;
#[cfg(fuzzing)]
pub mod library;

pub use generate::*;
pub use header::*;
pub use lanes::*;
pub use layout::*;
pub use model::*;
pub use seeds::*;
pub use sender::*;

#[cfg(test)]
mod tests;
