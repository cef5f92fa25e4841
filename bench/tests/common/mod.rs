//! What the tests that run `shmq-bench-extra` share: running it, and
//! reading its JSON records and leftovers.

#![allow(dead_code)] // each test file uses a part

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;

use serde_json::Value;

pub const EXTRA: &str = env!("CARGO_BIN_EXE_shmq-bench-extra");

/// Held while a benchmark runs: two at once would share the two CPUs.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Runs `shmq-bench-extra bench ARGS...`; returns its output and pid.
pub fn run_bench(args: &[&str]) -> (Output, u32) {
    // A test that failed while holding the lock poisoned it; go on.
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let child = Command::new(EXTRA)
        .arg("bench")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start shmq-bench-extra");
    let pid = child.id();
    (child.wait_with_output().expect("wait for it"), pid)
}

/// [`run_bench`] of `pairs` rounds of `iters` round trips, 64-byte
/// messages, and `args`.
pub fn run_small(pairs: u64, iters: u64, args: &[&str]) -> (Output, u32) {
    let (pairs, iters) = (pairs.to_string(), iters.to_string());
    let mut all = vec!["--rounds", &pairs, "--iters", &iters, "--sizes", "64"];
    all.extend_from_slice(args);
    run_bench(&all)
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The one record of `transport` in `mode`.
pub fn record<'a>(all: &'a [Value], mode: &str, transport: &str) -> Option<&'a Value> {
    let mut found = all.iter().filter(|r| {
        r["record"] == "measurement" && r["mode"] == mode && r["transport"] == transport
    });
    let first = found.next();
    assert!(found.next().is_none(), "two {mode} records for {transport}");
    first
}

pub fn num(record: &Value, key: &str) -> f64 {
    record[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} is not a number in {record}"))
}

/// Names in `dir` that the run with this pid created.
pub fn leftovers(dir: &Path, pid: u32) -> Vec<String> {
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
