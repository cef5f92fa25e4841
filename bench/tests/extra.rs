//! Transports added from outside the crate: a program registers its own
//! (`tests/support/extra.rs`) and runs the benchmark, which starts the
//! program again as its peer; the added transports are measured and
//! reported as the built-in ones are.

mod common;

use std::path::Path;

use common::{leftovers, record, run_bench as run, text};
use serde_json::Value;

/// Pairs of blocks per transport (`--rounds`).
const PAIRS: u64 = 2;

#[test]
fn added_transports_are_measured_as_the_built_in_ones() {
    let (out, pid) = run(&[
        "--rounds",
        &PAIRS.to_string(),
        "--iters",
        "50",
        "--sizes",
        "64",
        "--transports",
        "unix-stream,unopenable",
        "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let all: Vec<Value> = text(&out.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    assert_eq!(
        all[0]["transports"],
        serde_json::json!(["unix-stream", "unopenable"])
    );

    // Paired with the floor in every mode, like any transport that sleeps:
    // a tenth of the round trips, the socket's stream.
    for (mode, ratio) in [
        ("latency", "p50/floor"),
        ("idle", "p50/floor"),
        ("throughput", "rate/floor"),
    ] {
        let r = record(&all, mode, "unix-stream").unwrap_or_else(|| panic!("no {mode} record"));
        assert!(r["skipped"].is_null(), "{r}");
        assert_eq!(r["pairs"], PAIRS, "{r}");
        assert_eq!(r["ratio"], ratio, "{r}");
        assert!(r["ratio_median"].as_f64().is_some_and(|m| m > 0.0), "{r}");
        let floor = record(&all, mode, "floor").expect("the floor is always measured");
        assert!(floor["skipped"].is_null(), "{floor}");
    }
    let latency = record(&all, "latency", "unix-stream").unwrap();
    assert_eq!(latency["samples"], PAIRS * 5, "{latency}");
    let idle = record(&all, "idle", "uds").expect("the socket is the idle reference");
    assert!(idle["skipped"].is_null(), "{idle}");
    let stream = record(&all, "throughput", "unix-stream").unwrap();
    assert_eq!(stream["samples"], PAIRS * ((2 << 20) / 64), "{stream}");

    // The failing transport is skipped with its peer's reason, in the one
    // mode it takes part in; the others go on.
    let failed = record(&all, "latency", "unopenable").expect("a latency record");
    let reason = failed["skipped"].as_str().unwrap_or_default();
    assert!(reason.contains("cannot open nowhere"), "{failed}");
    assert!(record(&all, "idle", "unopenable").is_none());
    assert!(record(&all, "throughput", "unopenable").is_none());
    // Built-in transports not asked for are not measured.
    assert!(record(&all, "latency", "tcp").is_none());

    assert_eq!(leftovers(Path::new("/dev/shm"), pid), Vec::<String>::new());
    assert_eq!(leftovers(&std::env::temp_dir(), pid), Vec::<String>::new());
}

#[test]
fn unknown_transports_are_usage_errors_naming_the_added_ones() {
    let (out, _) = run(&["--transports", "carrier-pigeon"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("carrier-pigeon"), "{stderr}");
    assert!(stderr.contains("unix-stream"), "{stderr}");
}
