//! Replays a corpus through a target's generator, the library and the
//! reference model, and prints which paths the inputs reach (delivered
//! messages, padding, `Hello`s, reassembly, orphans, each `Corrupted`
//! reason; for `lanes`, also how many lanes delivered; for `header`, each
//! check). A coverage check that needs no LLVM tools:
//!
//! ```text
//! cd fuzz
//! RUSTFLAGS="--cfg fuzzing" cargo +nightly run --release --example stats -- ring corpus/ring
//! ```
//!
//! Targets: `ring`, `records`, `lanes`, `header`. Exits non-zero if the
//! library and the model disagree on any input.

use std::collections::BTreeMap;
use std::path::Path;

use arbitrary::{Arbitrary, Unstructured};
use shmq_fuzz::{
    HeaderError, HeaderInput, LanesInput, LanesParams, Outcome, Params, RecordsInput, RingInput,
    Stop, classify, classify_lanes, model_drain, model_header, model_lanes,
};

#[cfg(fuzzing)]
fn drain(p: &Params, ring: &[u8]) -> Option<usize> {
    Some(shmq_fuzz::library::drain_ring(p, ring))
}

#[cfg(not(fuzzing))]
fn drain(_: &Params, _: &[u8]) -> Option<usize> {
    None // Built without `--cfg fuzzing`: model only.
}

#[cfg(fuzzing)]
fn drain_lanes(p: &LanesParams) -> Option<(usize, Vec<usize>)> {
    Some(shmq_fuzz::library::drain_lanes(p))
}

#[cfg(not(fuzzing))]
fn drain_lanes(_: &LanesParams) -> Option<(usize, Vec<usize>)> {
    None
}

#[cfg(fuzzing)]
fn header(image: &[u8]) -> Option<Result<(), HeaderError>> {
    Some(shmq_fuzz::library::check_header(image))
}

#[cfg(not(fuzzing))]
fn header(_: &[u8]) -> Option<Result<(), HeaderError>> {
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
    hellos: usize,
    well_formed: usize,
    /// `lanes`: drains by how many lanes delivered.
    lanes_delivering: BTreeMap<usize, usize>,
    /// `lanes`: drains cut short by a corrupt record on another lane.
    cut_short: usize,
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
        self.hellos += usize::from(o.hellos > 0);
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
                    let Ok(input) = HeaderInput::arbitrary_take_rest(Unstructured::new(&bytes))
                    else {
                        t.undecodable += 1;
                        continue;
                    };
                    let image = input.build();
                    let model = model_header(&image);
                    let key = match &model {
                        Ok(()) => "ok".to_string(),
                        Err(why) => format!("rejected: {}", why.name()),
                    };
                    if list {
                        println!("{}\t{key}\t{}", bytes.len(), path.display());
                    }
                    *headers.entry(key).or_default() += 1;
                    if header(&image).is_some_and(|got| got != model) {
                        t.mismatches += 1;
                    }
                }
                "lanes" => {
                    let Ok(input) = LanesInput::arbitrary_take_rest(Unstructured::new(&bytes))
                    else {
                        t.undecodable += 1;
                        continue;
                    };
                    let built = input.build();
                    let o = model_lanes(&built.params);
                    if list {
                        println!(
                            "{}\t{}\t{}",
                            bytes.len(),
                            classify_lanes(&o),
                            path.display()
                        );
                    }
                    if drain_lanes(&built.params)
                        .is_some_and(|(d, per)| d != o.delivered || per != o.per_lane)
                    {
                        t.mismatches += 1;
                    }
                    let well_formed = built.expected.iter().all(Option::is_some);
                    if well_formed && !o.per_lane.is_empty() {
                        t.well_formed += 1;
                        let expected: Vec<usize> =
                            built.expected.iter().flatten().copied().collect();
                        if o.per_lane != expected {
                            t.mismatches += 1;
                        }
                    }
                    let delivering = o.per_lane.iter().filter(|&&d| d > 0).count();
                    *t.lanes_delivering.entry(delivering).or_default() += 1;
                    if let Some(bad) = o.corrupted_lane {
                        // Another lane delivered less than it does alone.
                        let p = &built.params;
                        let cut = p.lanes.iter().enumerate().any(|(i, lane)| {
                            let alone = Params {
                                slot_size: p.slot_size,
                                slot_count: p.slot_count,
                                max_message_size: p.max_message_size,
                                head: lane.head,
                                tail: lane.tail,
                            };
                            i != bad && o.per_lane[i] < model_drain(&alone, &lane.ring).delivered
                        });
                        t.cut_short += usize::from(cut);
                    }
                    // Paths over all lanes, as one outcome.
                    let mut all = Outcome {
                        stop: o.stop,
                        ..Outcome::default()
                    };
                    for lane in &o.lanes {
                        all.delivered += lane.delivered;
                        all.padding += lane.padding;
                        all.fragments += lane.fragments;
                        all.orphans += lane.orphans;
                        all.abandoned += lane.abandoned;
                        all.reassembled += lane.reassembled;
                        all.hellos += lane.hellos;
                    }
                    t.add(&all, None);
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
        if target == "lanes" {
            println!("well-formed mailboxes (attached): {}", t.well_formed);
            println!(
                "drains where a corrupt lane cut another one short: {}",
                t.cut_short
            );
            println!("drains by lanes that delivered:");
            for (k, v) in &t.lanes_delivering {
                println!("  {v:6}  {k} lanes");
            }
        }
        println!(
            "inputs with: delivered>0 {} (max {}), padding {}, fragments {}, \
             orphans {}, abandoned {}, reassembled {}, hello {}",
            t.delivered,
            t.delivered_max,
            t.padding,
            t.fragments,
            t.orphans,
            t.abandoned,
            t.reassembled,
            t.hellos
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
