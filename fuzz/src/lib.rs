//! Shared code of the shmq fuzz targets.
//!
//! * [`RingInput`] and [`RecordsInput`]: structured inputs (via
//!   `arbitrary`) that build the arguments of `shmq::fuzz::drain_ring`,
//!   biased towards plausible record headers (committed for the right
//!   position) so that the fuzzer reaches the receiver's deep paths
//!   (padding, fragments, reassembly, orphans).
//! * [`model_drain`]: an independent reference model of what
//!   `drain_ring` must return for the same arguments, written from the ring
//!   protocol (v2: the receiver polls a commit word in the record header,
//!   never `head`) and from `drain_ring`'s loop. The targets assert that
//!   the library and the model agree, so the fuzzer finds wrong answers (a
//!   message delivered that should not be, a valid one refused), not only
//!   panics.
//! * [`model_header`]: the same for `shmq::fuzz::check_header`.
//! * [`encode`] and [`seeds`]: the inverse of the `arbitrary` decoding, so
//!   that the seeds in `seeds/` are written from readable descriptions
//!   (`cargo run --example seeds`) instead of being picked from a corpus.
//!
//! Nothing here depends on `shmq`, so it builds without `cfg(fuzzing)` and
//! its unit tests run with a plain `cargo test`.
//!
//! Modules: `layout` (sizes, kinds, commit words), `model` (the reference
//! model), `generate` (the `ring` target's inputs), `sender` (the
//! `records` target's inputs), `encode` (values to input bytes), `seeds`.

mod generate;
mod layout;
mod model;
mod seeds;
mod sender;

pub mod encode;

pub use generate::*;
pub use layout::*;
pub use model::*;
pub use seeds::*;
pub use sender::*;

#[cfg(test)]
mod tests;
