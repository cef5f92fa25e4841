//! The topic transports (issue 13's benchmark): a tiny run of each
//! through the built-in transports of `shmq-bench-extra` (the same
//! `Bench` as `shmq bench`, with two transports added that these runs do
//! not ask for).

mod common;

use std::path::Path;

use common::{leftovers, num, record, text};
use serde_json::Value;

/// Pairs of blocks per transport (`--rounds`).
const PAIRS: u64 = 2;
/// Round trips per latency block (`--iters`); idle-peer blocks make at
/// least 5.
const ITERS: u64 = 50;

const TOPICS: [&str; 3] = ["shmq-topic-spin", "shmq-topic", "shmq-topic-lossy-spin"];

fn run(args: &[&str]) -> (std::process::Output, u32) {
    common::run_small(PAIRS, ITERS, args)
}

#[test]
fn topics_are_measured_in_round_trips_and_the_spinning_ones_against_the_plain_queue() {
    let (out, pid) = run(&[
        "--mode",
        "both",
        "--transports",
        &TOPICS.join(","),
        "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let all: Vec<Value> = text(&out.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    assert_eq!(all[0]["transports"], serde_json::json!(TOPICS));

    // Round trips, each paired with the floor, none skipped.
    for transport in TOPICS {
        let r = record(&all, "latency", transport).unwrap_or_else(|| panic!("no {transport}"));
        assert!(r["skipped"].is_null(), "{r}");
        assert_eq!(r["samples"], PAIRS * ITERS, "{r}");
        assert_eq!(r["pairs"], PAIRS, "{r}");
        assert!(num(r, "p50_vs_floor") > 0.0, "{r}");
        // The topics' counters: subscriber sleeps per message, both ways.
        assert!(r["sleeps_per_msg"].is_number(), "{r}");
    }
    // The spinning topics are paired with the plain queue block for block
    // (shmq-spin, not asked for, has no row of its own).
    for transport in ["shmq-topic-spin", "shmq-topic-lossy-spin"] {
        let r = record(&all, "latency", transport).unwrap();
        assert_eq!(r["baseline"], "shmq-spin", "{r}");
        assert_eq!(r["baseline_pairs"], PAIRS, "{r}");
        let (q1, median, q3) = (
            num(r, "baseline_ratio_q1"),
            num(r, "baseline_ratio_median"),
            num(r, "baseline_ratio_q3"),
        );
        assert!(0.0 < q1 && q1 <= median && median <= q3, "{r}");
        assert_eq!(num(r, "sleeps_per_msg"), 0.0, "{r}");
    }
    assert!(record(&all, "latency", "shmq-spin").is_none());
    let default = record(&all, "latency", "shmq-topic").unwrap();
    assert!(default["baseline"].is_null(), "{default}");

    // The idle peer: the default-strategy topics only, paired with the
    // socket of the same cycle; the peer's subscriber slept.
    let idle = record(&all, "idle", "shmq-topic").expect("no idle shmq-topic");
    assert!(idle["skipped"].is_null(), "{idle}");
    assert_eq!(idle["samples"], PAIRS * 5, "{idle}");
    assert!(num(idle, "p50_vs_uds") > 0.0, "{idle}");
    assert!(num(idle, "sleeps_per_msg") > 0.1, "{idle}");
    for transport in ["shmq-topic-spin", "shmq-topic-lossy-spin"] {
        assert!(record(&all, "idle", transport).is_none(), "{transport}");
    }

    // Round trips only.
    for transport in TOPICS {
        assert!(
            record(&all, "throughput", transport).is_none(),
            "{transport}"
        );
    }

    assert_eq!(leftovers(Path::new("/dev/shm"), pid), Vec::<String>::new());
}
