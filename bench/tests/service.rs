//! The service transports and the Unix-socket request/response beside
//! them (issue 12's benchmark): a tiny run of each through the built-in
//! transports of `shmq-bench-extra` (the same `Bench` as `shmq bench`,
//! with two transports added that these runs do not ask for).

mod common;

use std::path::Path;

use common::{leftovers, num, record, text};
use serde_json::Value;

/// Pairs of blocks per transport (`--rounds`).
const PAIRS: u64 = 2;
/// Round trips per latency block (`--iters`): transports that sleep on
/// every message make a tenth as many, idle-peer blocks at least 5.
const ITERS: u64 = 50;

fn run(args: &[&str]) -> (std::process::Output, u32) {
    common::run_small(PAIRS, ITERS, args)
}

#[test]
fn services_and_the_socket_request_response_are_measured() {
    let (out, pid) = run(&[
        "--mode",
        "both",
        "--transports",
        "shmq-service-spin,shmq-service,uds-rr",
        "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let all: Vec<Value> = text(&out.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    assert_eq!(
        all[0]["transports"],
        serde_json::json!(["shmq-service-spin", "shmq-service", "uds-rr"])
    );

    // Round trips, each paired with the floor; the socket sleeps on every
    // message (a tenth of the round trips).
    for (transport, per_block) in [
        ("shmq-service-spin", ITERS),
        ("shmq-service", ITERS),
        ("uds-rr", ITERS / 10),
    ] {
        let r = record(&all, "latency", transport).unwrap_or_else(|| panic!("no {transport}"));
        assert!(r["skipped"].is_null(), "{r}");
        assert_eq!(r["samples"], PAIRS * per_block, "{r}");
        assert_eq!(r["pairs"], PAIRS, "{r}");
        assert_eq!(r["ratio"], "p50/floor", "{r}");
        assert!(num(r, "p50_vs_floor") > 0.0, "{r}");
        // The service's counters: futex sleeps per message, both ways.
        assert_eq!(
            r["sleeps_per_msg"].is_number(),
            transport != "uds-rr",
            "{r}"
        );
    }
    // The spinning service is paired with the plain queue block for block
    // (shmq-spin, not asked for, has no row of its own); the others are
    // not.
    let spin = record(&all, "latency", "shmq-service-spin").unwrap();
    assert_eq!(spin["baseline"], "shmq-spin", "{spin}");
    assert_eq!(spin["baseline_pairs"], PAIRS, "{spin}");
    let (q1, median, q3) = (
        num(spin, "baseline_ratio_q1"),
        num(spin, "baseline_ratio_median"),
        num(spin, "baseline_ratio_q3"),
    );
    assert!(0.0 < q1 && q1 <= median && median <= q3, "{spin}");
    assert!(record(&all, "latency", "shmq-spin").is_none());
    for transport in ["shmq-service", "uds-rr"] {
        let r = record(&all, "latency", transport).unwrap();
        assert!(r["baseline"].is_null(), "{r}");
    }

    // The idle peer: the default-strategy service and the socket's
    // request/response, each paired with the socket of the same cycle;
    // the service's server slept.
    for transport in ["shmq-service", "uds-rr"] {
        let r = record(&all, "idle", transport).unwrap_or_else(|| panic!("no idle {transport}"));
        assert!(r["skipped"].is_null(), "{r}");
        assert_eq!(r["samples"], PAIRS * 5, "{r}");
        assert!(num(r, "p50_vs_uds") > 0.0, "{r}");
    }
    let idle = record(&all, "idle", "shmq-service").unwrap();
    assert!(num(idle, "sleeps_per_msg") > 0.1, "{idle}");
    assert!(record(&all, "idle", "shmq-service-spin").is_none());

    // Round trips only.
    for transport in ["shmq-service-spin", "shmq-service", "uds-rr"] {
        assert!(
            record(&all, "throughput", transport).is_none(),
            "{transport}"
        );
    }

    assert_eq!(leftovers(Path::new("/dev/shm"), pid), Vec::<String>::new());
    assert_eq!(leftovers(&std::env::temp_dir(), pid), Vec::<String>::new());
}

#[test]
fn the_table_gives_the_service_over_the_plain_queue() {
    let (out, _) = run(&["--mode", "latency", "--transports", "shmq-service-spin"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report = text(&out.stdout);
    let table = report
        .split_once("p50/shmq-spin, same cycles")
        .unwrap_or_else(|| panic!("no ratio to shmq-spin in:\n{report}"))
        .1;
    let row = table
        .lines()
        .find(|l| l.trim_start().starts_with("shmq-service-spin "))
        .unwrap_or_else(|| panic!("no shmq-service-spin row in:\n{report}"));
    assert!(row.contains('[') && row.contains("(2)"), "{row}");
    assert!(!report.contains("\n  shmq-spin "), "{report}");
}
