//! End-to-end tests of `shmq bench`: a tiny run of every transport in
//! every mode (two pairs of blocks each), its JSON records, its SVG plot,
//! and that it leaves nothing behind.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

const SHMQ: &str = env!("CARGO_BIN_EXE_shmq");

/// Longest a run may take before the test kills it and fails.
const RUN_LIMIT: Duration = Duration::from_secs(60);

/// Every latency transport, in the order of the report.
const LATENCY: [&str; 16] = [
    "floor",
    "floor-record",
    "shmq-spin",
    "shmq-default",
    "shmq-block",
    "shmq-mbx16-spin",
    "shmq-service-spin",
    "shmq-service",
    "shmq-topic-spin",
    "shmq-topic",
    "shmq-topic-lossy-spin",
    "uds",
    "uds-rr",
    "pipe",
    "tcp",
    "mq",
];

/// Every idle-peer transport, in the order of the report.
const IDLE: [&str; 10] = [
    "floor",
    "floor-record",
    "shmq-spin",
    "shmq-default",
    "shmq-block",
    "shmq-service",
    "shmq-topic",
    "uds",
    "uds-rr",
    "pipe",
];

/// Every throughput subject.
const THROUGHPUT: [&str; 8] = [
    "memcpy",
    "floor",
    "floor-record",
    "shmq-spin",
    "shmq-default",
    "shmq-mbx16-spin",
    "shmq-mbx2",
    "uds",
];

/// The mailboxes, each paired block for block with the plain queue.
const MAILBOXES: [&str; 2] = ["shmq-mbx16-spin", "shmq-mbx2"];

/// Pairs of blocks per transport in the test's run (`--rounds`).
const PAIRS: u64 = 2;
/// Round trips per latency block (`--iters`); transports that sleep on
/// every message make a tenth as many, idle-peer blocks at least 5.
const ITERS: u64 = 200;
/// Messages per throughput block at 64 bytes: 100 per iteration, the
/// socket's at least 2 MiB.
const STREAM: u64 = 100 * ITERS;
const SOCKET_STREAM: u64 = (2 << 20) / 64;

/// A directory of the test's own, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("shmq-bench-test-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create a temporary directory");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Held while a benchmark runs: two at once would share the two CPUs.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Runs `shmq bench ARGS`, killing it after `RUN_LIMIT`; returns its
/// output and its pid.
fn bench(args: &[&str]) -> (Output, u32) {
    // A test that failed while holding the lock poisoned it; go on.
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let child = Command::new(SHMQ)
        .arg("bench")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn shmq bench");
    let pid = child.id();
    let waiter = thread::spawn(move || child.wait_with_output().expect("wait for shmq bench"));
    let deadline = Instant::now() + RUN_LIMIT;
    while !waiter.is_finished() {
        if Instant::now() > deadline {
            // SIGKILL by pid: the child has not been reaped (the waiter
            // thread is still blocked on it), so the pid is still its.
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            panic!("shmq bench did not finish within {RUN_LIMIT:?}");
        }
        thread::sleep(Duration::from_millis(20));
    }
    (waiter.join().expect("waiter thread"), pid)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The records of `mode` for `transport`.
fn records<'a>(all: &'a [Value], mode: &str, transport: &str) -> Vec<&'a Value> {
    all.iter()
        .filter(|r| {
            r["record"] == "measurement" && r["mode"] == mode && r["transport"] == transport
        })
        .collect()
}

fn int(record: &Value, key: &str) -> u64 {
    record[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} is not an integer in {record}"))
}

fn num(record: &Value, key: &str) -> f64 {
    record[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} is not a number in {record}"))
}

/// Checks the paired-ratio fields of `record`: `ratio` names the ratio,
/// its quartiles are ordered around `median_key`'s value over `pairs`
/// pairs, and the per-placement counts add up to them (the run is pinned
/// to two CPUs, so every cycle was probed).
fn check_pairs(record: &Value, ratio: &str, median_key: &str, pairs: u64) {
    assert_eq!(record["ratio"], ratio, "{record}");
    assert_eq!(int(record, "pairs"), pairs, "{record}");
    let (q1, median, q3) = (
        num(record, "ratio_q1"),
        num(record, "ratio_median"),
        num(record, "ratio_q3"),
    );
    assert!(0.0 < q1 && q1 <= median && median <= q3, "{record}");
    assert_eq!(median, num(record, median_key), "{record}");
    let mut placed = 0;
    for placement in ["fast", "mid", "slow"] {
        let n = int(record, &format!("pairs_{placement}"));
        placed += n;
        let key = format!("ratio_{placement}_median");
        assert_eq!(n > 0, record[&key].is_number(), "{key}: {record}");
        if n > 0 {
            let (q1, q3) = (
                num(record, &format!("ratio_{placement}_q1")),
                num(record, &format!("ratio_{placement}_q3")),
            );
            assert!(
                q1 <= num(record, &key) && num(record, &key) <= q3,
                "{record}"
            );
        }
    }
    assert_eq!(placed, pairs, "every pair has a placement: {record}");
    // The headline: over the pairs of the placement most of the section's
    // cycles ran in (this transport may have none there).
    let headline = record["headline_placement"].as_str().expect("a placement");
    assert!(["fast", "mid", "slow"].contains(&headline), "{record}");
    if record["headline_pairs"].is_null() {
        assert!(record["headline_median"].is_null(), "{record}");
    } else {
        let n = int(record, "headline_pairs");
        assert_eq!(n, int(record, &format!("pairs_{headline}")), "{record}");
        let (q1, median, q3) = (
            num(record, "headline_q1"),
            num(record, "headline_median"),
            num(record, "headline_q3"),
        );
        assert!(0.0 < q1 && q1 <= median && median <= q3, "{record}");
        assert_eq!(
            median,
            num(record, &format!("ratio_{headline}_median")),
            "{record}"
        );
    }
}

/// Checks a mailbox's ratio to the plain queue paired with it in every
/// cycle: `baseline` names it, over `pairs` pairs, quartiles in order,
/// per placement where the pairs ran.
fn check_baseline(record: &Value, pairs: u64) {
    assert_eq!(record["baseline"], "shmq-spin", "{record}");
    assert_eq!(int(record, "baseline_pairs"), pairs, "{record}");
    let (q1, median, q3) = (
        num(record, "baseline_ratio_q1"),
        num(record, "baseline_ratio_median"),
        num(record, "baseline_ratio_q3"),
    );
    assert!(0.0 < q1 && q1 <= median && median <= q3, "{record}");
    for placement in ["fast", "mid", "slow"] {
        let n = int(record, &format!("pairs_{placement}"));
        let key = format!("baseline_ratio_{placement}_median");
        assert_eq!(n > 0, record[&key].is_number(), "{key}: {record}");
    }
}

/// Names in `dir` that this run (by its pid) created.
fn leftovers(dir: &Path, pid: u32) -> Vec<String> {
    let tag = format!("shmq-bench-{pid}-");
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|name| name.contains(&tag))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn every_transport_gives_sane_records_and_a_plot() {
    let dir = TempDir::new("plot");
    let plot = dir.0.join("latency.svg");
    let (out, pid) = bench(&[
        "--quick",
        "--iters",
        &ITERS.to_string(),
        "--rounds",
        &PAIRS.to_string(),
        "--sizes",
        "64",
        "--json",
        "--plot",
        plot.to_str().expect("UTF-8 path"),
    ]);
    assert!(
        out.status.success(),
        "status {:?}, stderr: {}",
        out.status,
        text(&out.stderr)
    );
    let all: Vec<Value> = text(&out.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    let run = &all[0];
    assert_eq!(run["record"], "run", "the first record describes the run");
    assert_eq!(run["rounds"], PAIRS);
    assert_eq!(run["pairs"], PAIRS);
    assert_eq!(run["method"], "paired");
    assert_eq!(run["idle_gap_us"], 200);
    assert!(
        num(run, "placement_fast_below_ns") < num(run, "placement_slow_above_ns"),
        "{run}"
    );
    assert!(
        run["pinning"]
            .as_str()
            .is_some_and(|p| p.starts_with("parent on CPU")),
        "the test needs two CPUs to pin to: {run}"
    );

    // Every other latency transport is paired with the floor, whose row
    // pools its blocks from every group.
    let groups = LATENCY.len() as u64 - 1;
    for transport in LATENCY {
        let found = records(&all, "latency", transport);
        assert_eq!(found.len(), 1, "one latency record for {transport}");
        let r = found[0];
        assert!(r["skipped"].is_null(), "{transport} was skipped: {r}");
        assert_eq!(r["size"], 64);
        assert!(r["round"].is_null(), "no rounds any more: {r}");
        let (pairs, per_block) = match transport {
            "floor" => (groups * PAIRS, ITERS),
            "shmq-block" | "uds" | "uds-rr" | "pipe" | "tcp" | "mq" => (PAIRS, ITERS / 10),
            _ => (PAIRS, ITERS),
        };
        assert_eq!(int(r, "samples"), pairs * per_block, "{r}");
        let (p50, p99, p999, max) = (
            int(r, "p50_ns"),
            int(r, "p99_ns"),
            int(r, "p999_ns"),
            int(r, "max_ns"),
        );
        assert!(
            0 < p50 && p50 <= p99 && p99 <= p999 && p999 <= max,
            "percentiles out of order: {r}"
        );
        assert!(num(r, "mean_ns") > 0.0, "{r}");
        assert!(r["msgs_per_s"].is_null(), "{r}");
        assert!(r["rate_vs_floor_record"].is_null(), "{r}");
        assert!(
            num(r, "p50_vs_floor") > 0.0
                && num(r, "p999_vs_floor") > 0.0
                && num(r, "mean_vs_floor") > 0.0
                && num(r, "p999_vs_uds") > 0.0,
            "{r}"
        );
        check_pairs(r, "p50/floor", "p50_vs_floor", pairs);
    }
    // The mailbox's p50 is also paired with shmq-spin's in every cycle, as
    // are the spinning service's and the spinning topics'; the others have
    // no baseline.
    for transport in LATENCY {
        let r = records(&all, "latency", transport)[0];
        if matches!(
            transport,
            "shmq-mbx16-spin" | "shmq-service-spin" | "shmq-topic-spin" | "shmq-topic-lossy-spin"
        ) {
            check_baseline(r, PAIRS);
        } else {
            assert!(
                r["baseline"].is_null() && r["baseline_ratio_median"].is_null(),
                "{r}"
            );
        }
        assert!(r["share_blocks"].is_null(), "{r}");
    }
    assert!(
        records(&all, "latency", "shmq-mbx2").is_empty(),
        "streams only"
    );
    let floor = records(&all, "latency", "floor")[0];
    assert_eq!(num(floor, "p50_vs_floor"), 1.0);
    assert_eq!(num(floor, "ratio_q1"), 1.0);
    assert_eq!(num(floor, "ratio_q3"), 1.0);
    let uds = records(&all, "latency", "uds")[0];
    assert_eq!(num(uds, "p999_vs_uds"), 1.0);
    for shmq in ["shmq-spin", "shmq-default", "shmq-block"] {
        let r = records(&all, "latency", shmq)[0];
        assert!(num(r, "sleeps_per_msg") >= 0.0, "{r}");
    }

    // Idle peer: one group of every transport, blocks of (at least) 5
    // round trips, each after the default 200 us gap; ratios to the floor
    // and the socket of the same cycle.
    for transport in IDLE {
        let found = records(&all, "idle", transport);
        assert_eq!(found.len(), 1, "one idle record for {transport}");
        let r = found[0];
        assert!(r["skipped"].is_null(), "{transport} was skipped: {r}");
        assert_eq!(int(r, "samples"), PAIRS * 5, "{r}");
        let (p50, p999, max) = (int(r, "p50_ns"), int(r, "p999_ns"), int(r, "max_ns"));
        assert!(0 < p50 && p50 <= p999 && p999 <= max, "{r}");
        assert!(num(r, "mean_ns") > 0.0, "{r}");
        assert!(
            num(r, "p50_vs_floor") > 0.0 && num(r, "p50_vs_uds") > 0.0,
            "{r}"
        );
        check_pairs(r, "p50/floor", "p50_vs_floor", PAIRS);
    }
    for transport in [
        "tcp",
        "mq",
        "shmq-mbx16-spin",
        "shmq-mbx2",
        "shmq-service-spin",
        "shmq-topic-spin",
        "shmq-topic-lossy-spin",
    ] {
        assert!(records(&all, "idle", transport).is_empty(), "{transport}");
    }
    let uds = records(&all, "idle", "uds")[0];
    assert_eq!(num(uds, "p50_vs_uds"), 1.0);
    // The gap outlasts the default spin: its peer slept.
    let default = records(&all, "idle", "shmq-default")[0];
    assert!(num(default, "sleeps_per_msg") > 0.1, "{default}");

    // Throughput: memcpy and both ring floors in every group.
    let groups = THROUGHPUT.len() as u64 - 3;
    for subject in THROUGHPUT {
        let found = records(&all, "throughput", subject);
        assert_eq!(found.len(), 1, "one throughput record for {subject}");
        let r = found[0];
        assert!(r["skipped"].is_null(), "{subject} was skipped: {r}");
        let rate = num(r, "msgs_per_s");
        assert!(rate > 0.0, "{r}");
        let bytes = num(r, "bytes_per_s");
        assert!(
            (bytes / (rate * 64.0) - 1.0).abs() < 0.01,
            "bytes/s is 64 x msgs/s: {r}"
        );
        assert!(r["p50_ns"].is_null(), "{r}");
        assert!(num(r, "rate_vs_memcpy") > 0.0, "{r}");
        assert!(num(r, "rate_vs_floor_record") > 0.0, "{r}");
        let (q1, q3) = (num(r, "ratio_record_q1"), num(r, "ratio_record_q3"));
        assert!(q1 <= num(r, "ratio_record_median") && num(r, "ratio_record_median") <= q3);
        assert_eq!(
            num(r, "ratio_record_median"),
            num(r, "rate_vs_floor_record")
        );
        let (pairs, per_block) = match subject {
            "memcpy" | "floor" | "floor-record" => (groups * PAIRS, STREAM),
            "uds" => (PAIRS, SOCKET_STREAM),
            _ => (PAIRS, STREAM),
        };
        if subject == "shmq-mbx2" {
            // The messages taken while both senders were sending: at most
            // all of both streams.
            let samples = int(r, "samples");
            assert!(
                0 < samples && samples <= 2 * pairs * (per_block + per_block / 10),
                "{r}"
            );
        } else {
            assert_eq!(int(r, "samples"), pairs * per_block, "{r}");
        }
        check_pairs(r, "rate/floor", "rate_vs_floor", pairs);
        if MAILBOXES.contains(&subject) {
            check_baseline(r, PAIRS);
        } else {
            assert!(
                r["baseline"].is_null() && r["baseline_pairs"].is_null(),
                "{r}"
            );
        }
        if subject == "shmq-mbx2" {
            assert_eq!(int(r, "share_blocks"), PAIRS, "{r}");
            for lane in ["lane0", "lane1"] {
                let (min, median, max) = (
                    num(r, &format!("share_{lane}_min")),
                    num(r, &format!("share_{lane}_median")),
                    num(r, &format!("share_{lane}_max")),
                );
                assert!(
                    0.0 <= min && min <= median && median <= max && max <= 1.0,
                    "{r}"
                );
            }
            // Each block's shares add up to one.
            let (min0, max1) = (num(r, "share_lane0_min"), num(r, "share_lane1_max"));
            assert!((min0 + max1 - 1.0).abs() < 0.01, "{r}");
        } else {
            assert!(
                r["share_blocks"].is_null() && r["share_lane0_median"].is_null(),
                "{r}"
            );
        }
    }
    let ring = records(&all, "throughput", "floor")[0];
    assert_eq!(num(ring, "rate_vs_floor"), 1.0);
    let record_ring = records(&all, "throughput", "floor-record")[0];
    assert_eq!(num(record_ring, "rate_vs_floor_record"), 1.0);

    let svg = std::fs::read_to_string(&plot).expect("the plot was written");
    assert!(svg.contains("<svg"), "an SVG document");
    for transport in LATENCY {
        assert!(
            svg.contains(transport),
            "the plot's legend names {transport}"
        );
    }

    assert_eq!(leftovers(Path::new("/dev/shm"), pid), Vec::<String>::new());
    assert_eq!(leftovers(&std::env::temp_dir(), pid), Vec::<String>::new());
}

#[test]
fn the_tables_show_pairs_and_both_floors() {
    let (out, _) = bench(&[
        "--iters",
        "100",
        "--rounds",
        "3",
        "--sizes",
        "64",
        "--transports",
        "shmq-spin",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report = text(&out.stdout);
    for expected in [
        "paired blocks",
        "placement",
        "Per transport 3 pairs, each a floor block then the transport's",
        "floor (ring)",
        "floor-record (ring-record)",
        "vs floor-record",
    ] {
        assert!(report.contains(expected), "no {expected:?} in:\n{report}");
    }
    // The floor is always measured, floor-record too in throughput, uds
    // with the idle peer; nothing else was asked for.
    for absent in ["\n  pipe ", "\n  tcp ", "\n  mq ", "\n  shmq-block "] {
        assert!(!report.contains(absent), "{absent:?} in:\n{report}");
    }
    // shmq-spin's p50 ratio, with its quartiles.
    let row = report
        .lines()
        .find(|l| l.trim_start().starts_with("shmq-spin "))
        .expect("a shmq-spin row");
    assert!(row.contains('[') && row.contains(']'), "{row}");
}

#[test]
fn the_mailboxes_are_paired_with_the_plain_queue() {
    let (out, _) = bench(&[
        "--iters",
        "100",
        "--rounds",
        "3",
        "--sizes",
        "64",
        "--mode",
        "both",
        "--transports",
        "shmq-mbx16-spin,shmq-mbx2",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report = text(&out.stdout);
    for expected in [
        "p50/shmq-spin, same cycles",
        "rate/shmq-spin, same cycles",
        "not derived through the floor",
        "shmq-mbx2: share of each sender (3 blocks)",
        "the sender on lane 0",
        "the sender on lane 1",
    ] {
        assert!(report.contains(expected), "no {expected:?} in:\n{report}");
    }
    // shmq-spin is measured only as the mailboxes' baseline: no row.
    assert!(!report.contains("\n  shmq-spin "), "{report}");
}

#[test]
fn bad_options_are_usage_errors() {
    let (out, _) = bench(&["--sizes", "4"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("--sizes"));

    let (out, _) = bench(&["--sizes", "64", "--plot", "x.svg", "--plot-size", "1K"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("--plot-size"));

    let (out, _) = bench(&["--idle-gap-us", "0"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));

    let (out, _) = bench(&["--transports", "carrier-pigeon"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn the_peer_subcommand_is_hidden() {
    let out = Command::new(SHMQ)
        .arg("--help")
        .output()
        .expect("run shmq --help");
    let help = text(&out.stdout);
    assert!(help.contains("bench"), "{help}");
    assert!(!help.contains("bench-peer"), "{help}");
}
