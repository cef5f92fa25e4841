//! End-to-end tests of the `shmq` binary: each runs it as child processes
//! on a queue of its own, removed when the test ends (even on failure).

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

const SHMQ: &str = env!("CARGO_BIN_EXE_shmq");

/// Longest a child may run before the test kills it and fails.
const CHILD_LIMIT: Duration = Duration::from_secs(20);

/// A queue name unique to this test process and test; the segment is
/// removed on drop.
struct TestQueue {
    name: String,
}

impl TestQueue {
    fn new(tag: &str) -> Self {
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
        queue
    }

    fn path(&self) -> PathBuf {
        PathBuf::from(format!("/dev/shm/shmq.{}", self.name))
    }

    /// `shmq <sub> <name> <args...>`, not started.
    fn cmd(&self, sub: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new(SHMQ);
        cmd.arg(sub).arg(&self.name).args(args);
        cmd
    }
}

impl Drop for TestQueue {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(self.path());
    }
}

/// Starts `cmd` with `input` fed to its standard input from a thread and
/// its output captured.
fn spawn_with_input(cmd: &mut Command, input: Vec<u8>) -> Child {
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
fn spawn(cmd: &mut Command) -> Child {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn shmq")
}

/// Waits for `child` (killing it after `CHILD_LIMIT`) and collects its
/// output.
fn finish(mut child: Child) -> Output {
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

fn wait_limited(child: &mut Child) -> ExitStatus {
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

/// Runs `cmd` with `input` to completion.
fn run(cmd: &mut Command, input: &[u8]) -> Output {
    finish(spawn_with_input(cmd, input.to_vec()))
}

fn stderr_text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts `out` succeeded, showing its stderr if not.
#[track_caller]
fn assert_ok(out: &Output) {
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
fn assert_fails(out: &Output, code: i32, needle: &str) {
    let err = stderr_text(out);
    assert_eq!(out.status.code(), Some(code), "stderr: {err}");
    assert!(!err.contains("panicked"), "stderr: {err}");
    assert!(
        err.starts_with("shmq: ") && err.ends_with('\n') && err.lines().count() == 1,
        "not one `shmq: ` line: {err:?}"
    );
    assert!(err.contains(needle), "{needle:?} not in {err:?}");
}

/// Encodes `frames` in the `--framed` format.
fn framed(frames: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for frame in frames {
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(frame);
    }
    out
}

/// Waits until `shmq stat` shows a `role` ("sender" or "receiver") attached.
fn wait_attached(q: &TestQueue, role: &str) {
    let deadline = Instant::now() + CHILD_LIMIT;
    let needle = format!("\"{role}\":{{\"pid\":");
    loop {
        let out = run(&mut q.cmd("stat", &["--json"]), b"");
        let json = String::from_utf8_lossy(&out.stdout);
        if json
            .split(&needle)
            .nth(1)
            .is_some_and(|rest| !rest.starts_with("null"))
        {
            return;
        }
        assert!(Instant::now() < deadline, "no {role} attached: {json}");
        thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn lines_round_trip_keeps_bytes_but_the_newline() {
    let q = TestQueue::new("lines");
    let input = b"first\n\nwith cr\r\n  spaced \t\nno newline at the end";
    assert_ok(&run(&mut q.cmd("send", &[]), input));
    let out = run(&mut q.cmd("recv", &[]), b"");
    assert_ok(&out);
    assert_eq!(
        out.stdout,
        b"first\n\nwith cr\r\n  spaced \t\nno newline at the end\n"
    );
}

#[test]
fn empty_input_sends_nothing_and_recv_ends_on_disconnect() {
    let q = TestQueue::new("empty");
    assert_ok(&run(&mut q.cmd("send", &[]), b""));
    let out = run(&mut q.cmd("recv", &[]), b"");
    assert_ok(&out);
    assert!(out.stdout.is_empty());
}

#[test]
fn recv_writes_every_message_then_exits_zero_after_sender_disconnects() {
    let q = TestQueue::new("drain");
    let input: String = (0..1000).map(|i| format!("message {i}\n")).collect();
    assert_ok(&run(&mut q.cmd("send", &[]), input.as_bytes()));
    let stat = run(&mut q.cmd("stat", &[]), b"");
    assert_ok(&stat);
    let stat = String::from_utf8_lossy(&stat.stdout);
    assert!(stat.contains("messages queued   1000\n"), "{stat}");
    let out = run(&mut q.cmd("recv", &[]), b"");
    assert_ok(&out);
    assert_eq!(String::from_utf8_lossy(&out.stdout), input);
}

#[test]
fn raw_round_trip_of_binary_message_larger_than_the_ring() {
    let q = TestQueue::new("raw");
    let ring = ["--slot-size", "64", "--slots", "4"];
    let data: Vec<u8> = (0..100 * 1024u32)
        .map(|i| if i % 7 == 0 { 0 } else { (i * 31 % 251) as u8 })
        .collect();
    // The message is 400 times the ring: it needs the receiver running.
    let recv = spawn(&mut q.cmd("recv", &[&["--raw"], &ring[..]].concat()));
    let send = spawn_with_input(
        &mut q.cmd("send", &[&["--raw"], &ring[..]].concat()),
        data.clone(),
    );
    let sent = finish(send);
    let received = finish(recv);
    assert_ok(&sent);
    assert_ok(&received);
    assert!(received.stdout == data, "received data differs");
}

#[test]
fn framed_round_trip_including_an_empty_frame() {
    let q = TestQueue::new("framed");
    let binary: Vec<u8> = (0..=255u8).chain(0..=255).collect();
    let frames: [&[u8]; 5] = [b"one", b"", &binary, b"\n\r\0", b"last"];
    let input = framed(&frames);
    assert_ok(&run(&mut q.cmd("send", &["--framed"]), &input));
    let out = run(&mut q.cmd("recv", &["--framed"]), b"");
    assert_ok(&out);
    assert_eq!(out.stdout, input);
}

#[test]
fn truncated_frame_fails_after_sending_the_complete_ones() {
    let q = TestQueue::new("truncated");
    let mut input = framed(&[b"whole", b"also whole"]);
    input.extend_from_slice(&10u32.to_le_bytes());
    input.extend_from_slice(b"abc");
    let out = run(&mut q.cmd("send", &["--framed"]), &input);
    assert_fails(&out, 1, "frame 3 is truncated");
    let out = run(&mut q.cmd("recv", &[]), b"");
    assert_ok(&out);
    assert_eq!(out.stdout, b"whole\nalso whole\n");

    // Input ending inside a length prefix.
    let q = TestQueue::new("truncated-prefix");
    let mut input = framed(&[b"x"]);
    input.extend_from_slice(&[1, 0]);
    assert_fails(
        &run(&mut q.cmd("send", &["--framed"]), &input),
        1,
        "truncated",
    );
}

#[test]
fn too_long_line_fails_after_sending_the_earlier_ones() {
    let q = TestQueue::new("toolong");
    let input = b"12345678\nthis line is longer than eight bytes\nnever sent\n";
    let out = run(&mut q.cmd("send", &["--max-message", "8"]), input);
    assert_fails(&out, 1, "line 2 is larger than the maximum message size");
    let out = run(&mut q.cmd("recv", &[]), b"");
    assert_ok(&out);
    assert_eq!(out.stdout, b"12345678\n");
}

#[test]
fn recv_count_stops_after_n_messages() {
    let q = TestQueue::new("count");
    assert_ok(&run(&mut q.cmd("send", &[]), b"1\n2\n3\n4\n5\n"));
    let out = run(&mut q.cmd("recv", &["--count", "2"]), b"");
    assert_ok(&out);
    assert_eq!(out.stdout, b"1\n2\n");
    let out = run(&mut q.cmd("recv", &["--count", "2", "--raw"]), b"");
    assert_ok(&out);
    assert_eq!(out.stdout, b"34");
}

#[test]
fn recv_timeout_on_empty_queue_exits_with_status_3() {
    let q = TestQueue::new("timeout");
    assert_ok(&run(&mut q.cmd("create", &[]), b""));
    let start = Instant::now();
    let out = run(&mut q.cmd("recv", &["--timeout", "300ms"]), b"");
    let took = start.elapsed();
    assert_fails(&out, 3, "shmq: timed out");
    assert!(out.stdout.is_empty());
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(5),
        "took {took:?}"
    );
}

#[test]
fn recv_started_first_waits_for_the_sender_then_ends_on_disconnect() {
    let q = TestQueue::new("waits");
    let recv = spawn(&mut q.cmd("recv", &["--wait", "block"]));
    wait_attached(&q, "receiver");
    thread::sleep(Duration::from_millis(100));
    let mut recv = recv;
    assert!(
        recv.try_wait().unwrap().is_none(),
        "recv must wait for a sender"
    );
    let sent = run(&mut q.cmd("send", &["--wait", "spin"]), b"hello\nworld\n");
    assert_ok(&sent);
    let out = finish(recv);
    assert_ok(&out);
    assert_eq!(out.stdout, b"hello\nworld\n");
}

#[test]
fn second_receiver_is_refused() {
    let q = TestQueue::new("tworx");
    let first = spawn(&mut q.cmd("recv", &[]));
    wait_attached(&q, "receiver");
    let out = run(&mut q.cmd("recv", &[]), b"");
    assert_fails(
        &out,
        1,
        &format!("a receiver is already attached (pid {})", first.id()),
    );
    // End the first one cleanly: a sender that comes and goes.
    assert_ok(&run(&mut q.cmd("send", &[]), b"bye\n"));
    let out = finish(first);
    assert_ok(&out);
    assert_eq!(out.stdout, b"bye\n");
}

#[test]
fn second_sender_is_refused() {
    let q = TestQueue::new("twotx");
    // A sender that holds the end while it waits for more input.
    let mut first = q
        .cmd("send", &[])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn shmq");
    let mut first_input = first.stdin.take().unwrap();
    first_input.write_all(b"from the first\n").unwrap();
    wait_attached(&q, "sender");
    let out = run(&mut q.cmd("send", &[]), b"from the second\n");
    assert_fails(
        &out,
        1,
        &format!("a sender is already attached (pid {})", first.id()),
    );
    drop(first_input);
    assert_ok(&finish(first));
    let out = run(&mut q.cmd("recv", &[]), b"");
    assert_ok(&out);
    assert_eq!(out.stdout, b"from the first\n");
}

#[test]
fn no_create_on_a_missing_queue_fails() {
    let q = TestQueue::new("nocreate");
    let needle = format!("no such queue \"{}\"", q.name);
    assert_fails(&run(&mut q.cmd("recv", &["--no-create"]), b""), 1, &needle);
    assert_fails(
        &run(&mut q.cmd("send", &["--no-create"]), b"x\n"),
        1,
        &needle,
    );
    assert_fails(&run(&mut q.cmd("stat", &[]), b""), 1, &needle);
    assert!(!q.path().exists());
}

#[test]
fn create_list_stat_rm() {
    let q = TestQueue::new("admin");
    let options = ["--slot-size", "256", "--slots", "8", "--max-message", "1K"];
    assert_ok(&run(&mut q.cmd("create", &options), b""));
    assert!(q.path().exists());
    assert_fails(
        &run(&mut q.cmd("create", &options), b""),
        1,
        &format!("queue \"{}\" already exists", q.name),
    );

    let list = run(Command::new(SHMQ).arg("list"), b"");
    assert_ok(&list);
    let names = String::from_utf8(list.stdout).unwrap();
    assert!(names.lines().any(|line| line == q.name), "{names}");

    assert_ok(&run(&mut q.cmd("send", &[]), b"a\nb\n"));
    let stat = run(&mut q.cmd("stat", &[]), b"");
    assert_ok(&stat);
    let text = String::from_utf8(stat.stdout).unwrap();
    for line in [
        "flavour           spsc",
        "slot size         256 bytes",
        "slots             8",
        // 7 of the 8 slots (the sender keeps one free), less the header.
        "capacity          1776 bytes",
        "max message size  1024 bytes",
        "messages queued   2",
        "slots used        2",
        "pid               none        none",
        "messages          2           0",
        "attaches          1           0",
    ] {
        assert!(text.lines().any(|l| l == line), "{line:?} not in:\n{text}");
    }
    let json = run(&mut q.cmd("stat", &["--json"]), b"");
    assert_ok(&json);
    let json = String::from_utf8(json.stdout).unwrap();
    assert!(json.starts_with('{') && json.ends_with("}\n"), "{json}");
    for field in [
        "\"slots\":8",
        "\"messages_queued\":2",
        "\"receiver\":{\"pid\":null",
    ] {
        assert!(json.contains(field), "{field} not in {json}");
    }

    assert_ok(&run(&mut q.cmd("rm", &[]), b""));
    assert!(!q.path().exists());
    let list = run(Command::new(SHMQ).arg("list"), b"");
    assert!(!String::from_utf8(list.stdout).unwrap().contains(&q.name));
    assert_fails(&run(&mut q.cmd("rm", &[]), b""), 1, "no such queue");
}

#[test]
fn create_with_mode_sets_file_permissions() {
    let q = TestQueue::new("mode");
    assert_ok(&run(&mut q.cmd("create", &["--mode", "640"]), b""));
    let mode = std::fs::metadata(q.path()).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o640);

    let q = TestQueue::new("mode-send");
    assert_ok(&run(&mut q.cmd("send", &["--mode", "0o604"]), b"x\n"));
    let mode = std::fs::metadata(q.path()).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o604);
}

#[test]
fn invalid_names_give_one_clear_line() {
    for (sub, name) in [
        ("create", "bad/name"),
        ("send", "bad/name"),
        ("recv", "a b"),
        ("stat", ".hidden"),
        ("rm", "../x"),
        ("create", ""),
    ] {
        let out = run(Command::new(SHMQ).args([sub, name]), b"x\n");
        assert_fails(&out, 1, &format!("invalid queue name {name:?}"));
    }
    let out = run(Command::new(SHMQ).args(["create", "bad/name"]), b"");
    assert_eq!(
        stderr_text(&out),
        "shmq: invalid queue name \"bad/name\": only A-Z, a-z, 0-9, '.', '_' and '-' are allowed\n"
    );
}

#[test]
fn invalid_options_are_reported() {
    let q = TestQueue::new("options");
    // Not a power of two: the library says which setting is wrong.
    assert_fails(
        &run(&mut q.cmd("create", &["--slots", "3"]), b""),
        1,
        "invalid queue options",
    );
    assert!(!q.path().exists());
    // Bad values are usage errors, from the argument parser.
    for args in [
        &["--mode", "9"][..],
        &["--slots", "many"],
        &["--raw", "--framed"],
    ] {
        let out = run(&mut q.cmd("send", args), b"");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!stderr_text(&out).contains("panicked"));
    }
    let out = run(&mut q.cmd("recv", &["--timeout", "soon"]), b"");
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn closed_stdout_ends_recv_quietly() {
    let q = TestQueue::new("epipe");
    let input: String = (0..200_000).map(|i| format!("{i}\n")).collect();
    let mut recv = q
        .cmd("recv", &[])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn shmq");
    let send = spawn_with_input(&mut q.cmd("send", &[]), input.into_bytes());
    let mut first = [0; 2];
    recv.stdout.take().unwrap().read_exact(&mut first).unwrap();
    assert_eq!(&first, b"0\n");
    // The pipe's read end is closed here.
    let out = finish(recv);
    assert_eq!(
        out.status.code(),
        Some(141),
        "stderr: {}",
        stderr_text(&out)
    );
    assert!(out.stderr.is_empty(), "stderr: {}", stderr_text(&out));
    // The sender is told its receiver went away.
    assert_fails(&finish(send), 1, "the receiver disconnected");
}

#[test]
fn recv_help_documents_exit_statuses() {
    let out = run(Command::new(SHMQ).args(["recv", "--help"]), b"");
    assert_ok(&out);
    let help = String::from_utf8(out.stdout).unwrap();
    for status in ["  0 ", "  1 ", "  3 ", "  141 "] {
        assert!(help.contains(status), "{status:?} not in:\n{help}");
    }
}
