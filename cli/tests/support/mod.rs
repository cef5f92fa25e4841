//! Helpers shared by the end-to-end tests: a queue name of the test's own
//! (removed when the test ends, even on failure), running the `shmq`
//! binary as child processes, and checking what they print.

// Each test file uses its own part of these.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

pub const SHMQ: &str = env!("CARGO_BIN_EXE_shmq");

/// Longest a child may run before the test kills it and fails.
pub const CHILD_LIMIT: Duration = Duration::from_secs(20);

/// A queue name unique to this test process and test; the segment is
/// removed on drop.
pub struct TestQueue {
    pub name: String,
}

impl TestQueue {
    pub fn new(tag: &str) -> Self {
        static COUNTER: Mutex<u32> = Mutex::new(0);
        let n = {
            let mut counter = COUNTER.lock().unwrap_or_else(|e| e.into_inner());
            *counter += 1;
            *counter
        };
        let queue = TestQueue {
            name: format!("shmq-cli-test-{}-{n}-{tag}", std::process::id()),
        };
        let _ = std::fs::remove_file(queue.path());
        let _ = std::fs::remove_file(queue.subs_path());
        queue
    }

    pub fn path(&self) -> PathBuf {
        PathBuf::from(format!("/dev/shm/shmq.{}", self.name))
    }

    /// The subscriber table's file, if the name is a topic's.
    pub fn subs_path(&self) -> PathBuf {
        PathBuf::from(format!("/dev/shm/shmq.{}.subs", self.name))
    }

    /// `shmq <sub> <name> <args...>`, not started.
    pub fn cmd(&self, sub: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new(SHMQ);
        cmd.arg(sub).arg(&self.name).args(args);
        cmd
    }

    /// `shmq stat --json` of this queue.
    pub fn stat_json(&self) -> String {
        let out = run(&mut self.cmd("stat", &["--json"]), b"");
        assert_ok(&out);
        String::from_utf8(out.stdout).unwrap()
    }

    /// `shmq stat` of this queue.
    pub fn stat_text(&self) -> String {
        let out = run(&mut self.cmd("stat", &[]), b"");
        assert_ok(&out);
        String::from_utf8(out.stdout).unwrap()
    }
}

impl Drop for TestQueue {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(self.path());
        let _ = std::fs::remove_file(self.subs_path());
    }
}

/// A scratch file of the test's own, removed on drop.
pub struct TestFile {
    pub path: PathBuf,
}

impl TestFile {
    pub fn new(tag: &str) -> Self {
        static COUNTER: Mutex<u32> = Mutex::new(0);
        let n = {
            let mut counter = COUNTER.lock().unwrap_or_else(|e| e.into_inner());
            *counter += 1;
            *counter
        };
        let path =
            std::env::temp_dir().join(format!("shmq-cli-test-{}-{n}-{tag}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        TestFile { path }
    }
}

impl Drop for TestFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Starts `cmd` with `input` fed to its standard input from a thread and
/// its output captured.
pub fn spawn_with_input(cmd: &mut Command, input: Vec<u8>) -> Child {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn shmq");
    let mut stdin = child.stdin.take().expect("stdin");
    thread::spawn(move || {
        // The child may exit without reading it all (an error case).
        let _ = stdin.write_all(&input);
    });
    child
}

/// Starts `cmd` with no input and its output captured.
pub fn spawn(cmd: &mut Command) -> Child {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn shmq")
}

/// Waits for `child` (killing it after `CHILD_LIMIT`) and collects its
/// output.
pub fn finish(mut child: Child) -> Output {
    let reader = |pipe: Option<Box<dyn Read + Send>>| {
        thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                pipe.read_to_end(&mut bytes).expect("read child output");
            }
            bytes
        })
    };
    let stdout = reader(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = reader(child.stderr.take().map(|p| Box::new(p) as _));
    let status = wait_limited(&mut child);
    Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

pub fn wait_limited(child: &mut Child) -> ExitStatus {
    let deadline = Instant::now() + CHILD_LIMIT;
    loop {
        if let Some(status) = child.try_wait().expect("wait for shmq") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("shmq did not finish within {CHILD_LIMIT:?}");
        }
        thread::sleep(Duration::from_millis(5));
    }
}

/// Kills `child` with SIGKILL and reaps it (a zombie would still count as
/// a live holder of its queue end).
pub fn kill_9(child: &mut Child) {
    child.kill().expect("kill -9");
    child.wait().expect("reap");
}

/// Sends `signal` to `child`.
pub fn signal(child: &Child, signal: rustix::process::Signal) {
    let pid = rustix::process::Pid::from_raw(child.id() as i32).expect("a pid");
    rustix::process::kill_process(pid, signal).expect("send a signal");
}

/// Sends SIGSTOP to `child` and waits until it has stopped (the signal
/// is delivered asynchronously).
pub fn stop(child: &Child) {
    signal(child, rustix::process::Signal::STOP);
    let deadline = Instant::now() + CHILD_LIMIT;
    let stat = format!("/proc/{}/stat", child.id());
    loop {
        let text = std::fs::read_to_string(&stat).expect("a /proc stat");
        // The state follows the command name, which is in parentheses.
        let state = text.rsplit_once(')').map(|(_, rest)| rest.trim_start());
        if state.is_some_and(|state| state.starts_with('T')) {
            return;
        }
        assert!(Instant::now() < deadline, "did not stop: {text}");
        thread::sleep(Duration::from_millis(1));
    }
}

/// Runs `cmd` with `input` to completion.
pub fn run(cmd: &mut Command, input: &[u8]) -> Output {
    finish(spawn_with_input(cmd, input.to_vec()))
}

pub fn stderr_text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts `out` succeeded, showing its stderr if not.
#[track_caller]
pub fn assert_ok(out: &Output) {
    assert!(
        out.status.success(),
        "status {:?}, stderr: {}",
        out.status,
        stderr_text(out)
    );
}

/// Asserts `out` failed with `code` and exactly one line on stderr, which
/// starts `shmq: ` and contains `needle`.
#[track_caller]
pub fn assert_fails(out: &Output, code: i32, needle: &str) {
    let err = stderr_text(out);
    assert_eq!(out.status.code(), Some(code), "stderr: {err}");
    assert!(!err.contains("panicked"), "stderr: {err}");
    assert!(
        err.starts_with("shmq: ") && err.ends_with('\n') && err.lines().count() == 1,
        "not one `shmq: ` line: {err:?}"
    );
    assert!(err.contains(needle), "{needle:?} not in {err:?}");
}

/// Asserts `out` is a usage error: status 2, no panic.
#[track_caller]
pub fn assert_usage_error(out: &Output, what: &str) {
    let err = stderr_text(out);
    assert_eq!(out.status.code(), Some(2), "{what}: stderr: {err}");
    assert!(!err.contains("panicked"), "{what}: stderr: {err}");
}

/// Waits until `shmq stat --json` shows `role` ("sender" or "receiver")
/// attached, by `pid` if given; returns the holder's pid.
pub fn wait_attached(q: &TestQueue, role: &str, pid: Option<u32>) -> u32 {
    let deadline = Instant::now() + CHILD_LIMIT;
    let needle = format!("\"{role}\":{{\"state\":\"attached\",\"pid\":");
    loop {
        let out = run(&mut q.cmd("stat", &["--json"]), b"");
        let json = String::from_utf8_lossy(&out.stdout);
        let holder = json.split(&needle).nth(1).and_then(|rest| {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse::<u32>().ok()
        });
        if let Some(holder) = holder.filter(|&h| pid.is_none_or(|pid| pid == h)) {
            return holder;
        }
        assert!(
            Instant::now() < deadline,
            "no {role} attached (pid {pid:?}): {json}"
        );
        thread::sleep(Duration::from_millis(10));
    }
}

/// Runs `recv --timeout 500ms` on `q`: what is queued, when no sender is
/// coming. Asserts it timed out (status 3) and returns its output.
#[track_caller]
pub fn drain(q: &TestQueue, args: &[&str]) -> Vec<u8> {
    let out = run(
        &mut q.cmd("recv", &[&["--timeout", "500ms"], args].concat()),
        b"",
    );
    assert_fails(&out, 3, "timed out");
    out.stdout
}
