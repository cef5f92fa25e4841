//! End-to-end tests of `shmq bench`: a tiny run of every transport in
//! every mode, its JSON records, its SVG plot, and that it leaves nothing behind.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

const SHMQ: &str = env!("CARGO_BIN_EXE_shmq");

/// Longest a run may take before the test kills it and fails.
const RUN_LIMIT: Duration = Duration::from_secs(60);

/// Every latency transport, in the order of a round.
const LATENCY: [&str; 9] = [
    "floor",
    "floor-record",
    "shmq-spin",
    "shmq-default",
    "shmq-block",
    "uds",
    "pipe",
    "tcp",
    "mq",
];

/// Every idle-peer transport, in the order of a round.
const IDLE: [&str; 7] = [
    "floor",
    "floor-record",
    "shmq-spin",
    "shmq-default",
    "shmq-block",
    "uds",
    "pipe",
];

/// Every throughput subject.
const THROUGHPUT: [&str; 5] = ["memcpy", "floor", "shmq-spin", "shmq-default", "uds"];

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

/// Runs `shmq bench ARGS`, killing it after `RUN_LIMIT`; returns its
/// output and its pid.
fn bench(args: &[&str]) -> (Output, u32) {
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
        "200",
        "--rounds",
        "1",
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
    assert_eq!(
        all[0]["record"], "run",
        "the first record describes the run"
    );
    assert_eq!(all[0]["rounds"], 1);
    assert_eq!(all[0]["idle_gap_us"], 200);

    for transport in LATENCY {
        let found = records(&all, "latency", transport);
        assert_eq!(found.len(), 1, "one latency record for {transport}");
        let r = found[0];
        assert!(r["skipped"].is_null(), "{transport} was skipped: {r}");
        assert_eq!(r["size"], 64);
        assert_eq!(r["round"], 1);
        assert_eq!(int(r, "samples"), 200, "{r}");
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
        assert!(
            num(r, "p50_vs_floor") > 0.0 && num(r, "p999_vs_uds") > 0.0,
            "{r}"
        );
    }
    let floor = records(&all, "latency", "floor")[0];
    assert_eq!(num(floor, "p50_vs_floor"), 1.0);
    let uds = records(&all, "latency", "uds")[0];
    assert_eq!(num(uds, "p999_vs_uds"), 1.0);
    for shmq in ["shmq-spin", "shmq-default", "shmq-block"] {
        let r = records(&all, "latency", shmq)[0];
        assert!(num(r, "sleeps_per_msg") >= 0.0, "{r}");
    }

    // A fifth of --iters, each after the default 200 us gap.
    for transport in IDLE {
        let found = records(&all, "idle", transport);
        assert_eq!(found.len(), 1, "one idle record for {transport}");
        let r = found[0];
        assert!(r["skipped"].is_null(), "{transport} was skipped: {r}");
        assert_eq!(int(r, "samples"), 40, "{r}");
        let (p50, p999, max) = (int(r, "p50_ns"), int(r, "p999_ns"), int(r, "max_ns"));
        assert!(0 < p50 && p50 <= p999 && p999 <= max, "{r}");
        assert!(num(r, "mean_ns") > 0.0, "{r}");
        assert!(
            num(r, "p50_vs_floor") > 0.0 && num(r, "p50_vs_uds") > 0.0,
            "{r}"
        );
    }
    for transport in ["tcp", "mq"] {
        assert!(records(&all, "idle", transport).is_empty(), "{transport}");
    }
    // floor-record is a latency floor only; throughput's floor is the ring.
    assert!(records(&all, "throughput", "floor-record").is_empty());
    // The gap outlasts the default spin: its peer slept.
    let default = records(&all, "idle", "shmq-default")[0];
    assert!(num(default, "sleeps_per_msg") > 0.1, "{default}");

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
    }

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
