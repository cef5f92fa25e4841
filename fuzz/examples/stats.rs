//! Replays a corpus through a target's generator, the library and the
//! reference model, and prints which paths the inputs reach (delivered
//! messages, padding, reassembly, orphans, each `Corrupted` reason). A
//! coverage check that needs no LLVM tools:
//!
//! ```text
//! cd fuzz
//! RUSTFLAGS="--cfg fuzzing" cargo +nightly run --release --example stats -- ring corpus/ring
//! ```
//!
//! Targets: `ring`, `records`, `header`. Exits non-zero if the library and
//! the model disagree on any input.

use std::collections::BTreeMap;
use std::path::Path;

use arbitrary::{Arbitrary, Unstructured};
use shmq_fuzz::{
    Outcome, Params, RecordsInput, RingInput, Stop, classify, model_drain, model_header,
};

#[cfg(fuzzing)]
fn drain(p: &Params, ring: &[u8]) -> Option<usize> {
    Some(shmq::fuzz::drain_ring(
        p.slot_size,
        p.slot_count,
        p.max_message_size,
        p.head,
        p.tail,
        ring,
    ))
}

#[cfg(not(fuzzing))]
fn drain(_: &Params, _: &[u8]) -> Option<usize> {
    None // Built without `--cfg fuzzing`: model only.
}

#[cfg(fuzzing)]
fn header(image: &[u8]) -> Option<bool> {
    Some(shmq::fuzz::check_header(image).is_ok())
}

#[cfg(not(fuzzing))]
fn header(_: &[u8]) -> Option<bool> {
    None
}

#[derive(Default)]
struct Tally {
    inputs: usize,
    undecodable: usize,
    mismatches: usize,
    stops: BTreeMap<String, usize>,
    delivered: usize,
    delivered_max: usize,
    padding: usize,
    fragments: usize,
    orphans: usize,
    abandoned: usize,
    reassembled: usize,
    well_formed: usize,
}

impl Tally {
    fn add(&mut self, o: &Outcome, got: Option<usize>) {
        if got.is_some_and(|g| g != o.delivered) {
            self.mismatches += 1;
        }
        let stop = match o.stop {
            Some(Stop::Rejected(_)) => "rejected config".to_string(),
            Some(Stop::AttachFailed(why)) => format!("attach failed: {why}"),
            Some(Stop::Corrupted(why)) => format!("corrupted: {why}"),
            s => format!("{s:?}"),
        };
        *self.stops.entry(stop).or_default() += 1;
        self.delivered += usize::from(o.delivered > 0);
        self.delivered_max = self.delivered_max.max(o.delivered);
        self.padding += usize::from(o.padding > 0);
        self.fragments += usize::from(o.fragments > 0);
        self.orphans += usize::from(o.orphans > 0);
        self.abandoned += usize::from(o.abandoned > 0);
        self.reassembled += usize::from(o.reassembled > 0);
    }
}

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    // `--list`: also print one line per input: its size, the paths it
    // reaches and its path (to pick small seeds that cover each path).
    let list = args.first().is_some_and(|a| a == "--list");
    if list {
        args.remove(0);
    }
    let (target, dirs) = args
        .split_first()
        .expect("usage: stats [--list] TARGET DIR...");
    let mut t = Tally::default();
    let mut headers: BTreeMap<String, usize> = BTreeMap::new();
    for dir in dirs {
        for entry in std::fs::read_dir(Path::new(dir)).expect("corpus directory") {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            let show = |o: &Outcome| {
                if list {
                    println!("{}\t{}\t{}", bytes.len(), classify(o), path.display());
                }
            };
            t.inputs += 1;
            match target.as_str() {
                "header" => {
                    let model = model_header(&bytes);
                    let key = match model {
                        Ok(()) => "ok".to_string(),
                        Err(why) => format!("rejected: {why}"),
                    };
                    if list {
                        println!("{}\t{key}\t{}", bytes.len(), path.display());
                    }
                    *headers.entry(key).or_default() += 1;
                    if header(&bytes).is_some_and(|ok| ok != model.is_ok()) {
                        t.mismatches += 1;
                    }
                }
                "ring" => {
                    let Ok(input) = RingInput::arbitrary_take_rest(Unstructured::new(&bytes))
                    else {
                        t.undecodable += 1;
                        continue;
                    };
                    let (p, ring) = input.build();
                    let o = model_drain(&p, &ring);
                    show(&o);
                    t.add(&o, drain(&p, &ring));
                }
                "records" => {
                    let Ok(input) = RecordsInput::arbitrary_take_rest(Unstructured::new(&bytes))
                    else {
                        t.undecodable += 1;
                        continue;
                    };
                    let built = input.build();
                    t.well_formed += usize::from(built.expected.is_some());
                    let o = model_drain(&built.params, &built.ring);
                    show(&o);
                    let got = drain(&built.params, &built.ring);
                    if let Some(expected) = built.expected {
                        // Unmutated: what the sender completed, whatever the model says.
                        if o.delivered != expected || got.is_some_and(|g| g != expected) {
                            t.mismatches += 1;
                        }
                    }
                    t.add(&o, got);
                }
                other => panic!("unknown target {other}"),
            }
        }
    }
    println!("target {target}: {} inputs", t.inputs);
    if cfg!(not(fuzzing)) {
        println!("(built without --cfg fuzzing: the library was not run)");
    }
    println!("library/model mismatches: {}", t.mismatches);
    if target == "header" {
        for (k, v) in &headers {
            println!("  {v:6}  {k}");
        }
    } else {
        println!("undecodable: {}", t.undecodable);
        if target == "records" {
            println!("unmutated (well-formed) rings: {}", t.well_formed);
        }
        println!(
            "inputs with: delivered>0 {} (max {}), padding {}, fragments {}, \
             orphans {}, abandoned {}, reassembled {}",
            t.delivered,
            t.delivered_max,
            t.padding,
            t.fragments,
            t.orphans,
            t.abandoned,
            t.reassembled
        );
        println!("how the drain stopped:");
        for (k, v) in &t.stops {
            println!("  {v:6}  {k}");
        }
    }
    if t.mismatches > 0 {
        std::process::exit(1);
    }
}
