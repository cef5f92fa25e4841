//! Services under the `shmq` binary: `create --service`, `serve -- CMD`
//! answering `call`s, `--framed`, a failing command, `--timeout`, a
//! server killed while a call waits, `stat`, `list --long` and `rm`.
//! Each test has a service of its own, removed with its reply queues when
//! the test ends (even on failure), and every `serve` it starts is killed.

mod support;

use std::process::{Child, Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use rustix::process::Signal;
use support::*;

/// A service name of the test's own; on drop, the mailbox and every reply
/// queue `NAME.r<LANE>` are removed.
struct TestService {
    q: TestQueue,
}

impl TestService {
    fn new(tag: &str) -> Self {
        let service = TestService {
            q: TestQueue::new(tag),
        };
        service.remove_replies();
        service
    }

    fn reply_path(&self, lane: usize) -> std::path::PathBuf {
        format!("/dev/shm/shmq.{}.r{lane}", self.q.name).into()
    }

    fn remove_replies(&self) {
        for lane in 0..64 {
            let _ = std::fs::remove_file(self.reply_path(lane));
        }
    }

    /// `shmq serve NAME <args> -- <command>`, started, standard error
    /// captured; killed on drop if still running.
    fn serve(&self, args: &[&str], command: &[&str]) -> Serving {
        let child = self
            .q
            .cmd("serve", args)
            .arg("--")
            .args(command)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn shmq serve");
        wait_attached(&self.q, "receiver", Some(child.id()));
        Serving(Some(child))
    }

    /// `shmq call NAME <args>` with `input`, to completion.
    fn call(&self, args: &[&str], input: &[u8]) -> Output {
        run(&mut self.q.cmd("call", args), input)
    }
}

impl Drop for TestService {
    fn drop(&mut self) {
        self.remove_replies();
    }
}

/// A running `shmq serve`, killed (and reaped) on drop unless finished.
struct Serving(Option<Child>);

impl Serving {
    fn child(&self) -> &Child {
        self.0.as_ref().expect("running")
    }

    /// Sends SIGTERM and returns how serve ended.
    fn terminate(mut self) -> Output {
        let child = self.0.take().expect("running");
        signal(&child, Signal::TERM);
        finish(child)
    }

    fn kill_9(mut self) {
        let mut child = self.0.take().expect("running");
        kill_9(&mut child);
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
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

#[test]
fn serve_answers_a_call_with_the_commands_output() {
    let s = TestService::new("svc-upper");
    assert_ok(&run(
        &mut s
            .q
            .cmd("create", &["--service", "--clients", "4", "--slots", "64"]),
        b"",
    ));
    let server = s.serve(&[], &["tr", "a-z", "A-Z"]);
    let out = s.call(&[], b"hello\nworld");
    assert_ok(&out);
    assert_eq!(out.stdout, b"HELLO\nWORLD");
    // An empty request gets the command's (empty) output.
    let out = s.call(&[], b"");
    assert_ok(&out);
    assert!(out.stdout.is_empty());

    // `list --long` counts the service's clients; its reply queue is a queue.
    let out = run(Command::new(SHMQ).args(["list", "--long"]), b"");
    assert_ok(&out);
    let list = String::from_utf8(out.stdout).unwrap();
    let line = list
        .lines()
        .find(|line| line.split_whitespace().next() == Some(s.q.name.as_str()))
        .unwrap_or_else(|| panic!("{} not in:\n{list}", s.q.name));
    assert!(line.contains("0 of 4 clients"), "{line}");
    assert!(
        list.lines()
            .any(|l| l.starts_with(&format!("{}.r0 ", s.q.name))),
        "{list}"
    );

    // rm takes the reply queue with it, and warns of the live server.
    let out = run(&mut s.q.cmd("rm", &[]), b"");
    assert_ok(&out);
    let err = stderr_text(&out);
    assert!(
        err.contains("is in use") && err.contains(&format!("pid {}", server.child().id())),
        "{err}"
    );
    assert!(!s.q.path().exists() && !s.reply_path(0).exists());
}

#[test]
fn framed_calls_are_answered_in_order() {
    let s = TestService::new("svc-framed");
    let _server = s.serve(&["--slots", "64"], &["tr", "a-z", "A-Z"]);
    // The last is longer than the ring (64 slots of 128 bytes).
    let long: Vec<u8> = (0..20_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let requests: [&[u8]; 4] = [b"abc", b"", b"hello world\n", &long];
    let out = s.call(&["--framed"], &framed(&requests));
    assert_ok(&out);
    let long_reply = long.to_ascii_uppercase();
    let replies: [&[u8]; 4] = [b"ABC", b"", b"HELLO WORLD\n", &long_reply];
    assert!(
        out.stdout == framed(&replies),
        "{} bytes, not the {} expected",
        out.stdout.len(),
        framed(&replies).len()
    );
}

#[test]
fn a_failing_command_declines_and_the_caller_exits_1() {
    let s = TestService::new("svc-false");
    let server = s.serve(&[], &["false"]);
    let out = s.call(&[], b"anything");
    assert_fails(&out, 1, "the server declined request 0");
    assert!(out.stdout.is_empty());
    // With --framed, the calls stop at the first that fails.
    let out = s.call(&["--framed"], &framed(&[b"a", b"b"]));
    assert_fails(&out, 1, "declined");
    // A second server cannot attach.
    let second = run(
        s.q.cmd("serve", &["--no-create", "--", "cat"])
            .stdout(Stdio::null()),
        b"",
    );
    assert_fails(
        &second,
        1,
        &format!("already has a server (pid {})", server.child().id()),
    );
    // serve went on after the failures and ends cleanly on SIGTERM, having
    // logged each one.
    assert!(server.0.is_some());
    let out = server.terminate();
    assert_ok(&out);
    let err = stderr_text(&out);
    assert_eq!(
        err.matches("false: exited with status 1; declined").count(),
        2,
        "{err}"
    );
}

#[test]
fn a_command_that_cannot_start_declines() {
    let s = TestService::new("svc-missing");
    let server = s.serve(&[], &["/nonexistent/shmq-test-command"]);
    assert_fails(&s.call(&[], b"x"), 1, "declined");
    let out = server.terminate();
    assert_ok(&out);
    assert!(
        stderr_text(&out).contains("cannot start"),
        "{}",
        stderr_text(&out)
    );
}

#[test]
fn call_timeout_without_a_server_exits_3() {
    let s = TestService::new("svc-timeout");
    assert_ok(&run(&mut s.q.cmd("create", &["--service"]), b""));
    let start = Instant::now();
    let out = s.call(&["--timeout", "300ms"], b"x");
    assert_fails(&out, 3, "timed out");
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(300), "{took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    // A missing service is an error of its own.
    let none = TestService::new("svc-none");
    assert_fails(&none.call(&[], b"x"), 1, "no such service");
    assert!(!none.q.path().exists(), "call does not create it");
}

#[test]
fn call_exits_4_within_2s_when_the_server_is_killed() {
    let s = TestService::new("svc-killed");
    // The command outlives the test's patience: the call waits on it.
    let server = s.serve(&[], &["sleep", "5"]);
    let pid = server.child().id();
    let call = spawn_with_input(&mut s.q.cmd("call", &[]), b"x".to_vec());
    wait_for_json(&s, r#""requests_sent":1,"requests_queued":0,"#);
    server.kill_9();
    let killed = Instant::now();
    let out = finish(call);
    let took = killed.elapsed();
    assert_fails(&out, 4, &format!("the server's process (pid {pid}) died"));
    assert!(took < Duration::from_secs(2), "{took:?}");
}

#[test]
fn stat_shows_a_waiting_client_and_its_queued_request() {
    let s = TestService::new("svc-stat");
    assert_ok(&run(
        &mut s.q.cmd("create", &["--service", "--clients", "2"]),
        b"",
    ));
    // No server yet: the request waits in the mailbox.
    let call = spawn_with_input(&mut s.q.cmd("call", &[]), b"queued".to_vec());
    let json = wait_for_json(&s, r#""requests_queued":1,"#);
    let client = format!(
        r#"{{"lane":0,"client":{{"state":"attached","pid":{},"#,
        call.id()
    );
    assert!(json.contains(&client), "{client} not in {json}");
    assert!(
        json.contains(&format!(r#""reply_queue":"{}.r0""#, s.q.name)),
        "{json}"
    );
    let text = s.q.stat_text();
    assert!(text.contains("flavour           service"), "{text}");
    let row = text
        .lines()
        .find(|l| l.starts_with("0 "))
        .unwrap_or_else(|| panic!("no lane 0 in:\n{text}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        cells,
        [
            "0",
            "attached",
            "(pid",
            &format!("{})", call.id()),
            "1",
            "1",
            "0",
            "0",
            "1"
        ],
        "{text}"
    );
    // A server that comes answers it.
    let server = s.serve(&["--no-create"], &["cat"]);
    let out = finish(call);
    assert_ok(&out);
    assert_eq!(out.stdout, b"queued");
    assert_ok(&server.terminate());
}

#[test]
fn service_options_are_checked() {
    let s = TestService::new("svc-usage");
    for args in [
        &["create", &s.q.name, "--clients", "4"][..],
        &["create", &s.q.name, "--service", "--senders", "2"],
        &["create", &s.q.name, "--service", "--clients", "65"],
        &["serve", &s.q.name],
        &["serve", &s.q.name, "--clients", "0", "--", "cat"],
        &["call", &s.q.name, "--timeout", "soon"],
        &["call", "bad/name"],
    ] {
        assert_usage_error(&run(Command::new(SHMQ).args(args), b""), &args.join(" "));
    }
    assert!(!s.q.path().exists());
}

/// Polls `stat --json` until it contains `needle`; returns it.
fn wait_for_json(s: &TestService, needle: &str) -> String {
    let deadline = Instant::now() + CHILD_LIMIT;
    loop {
        let json = s.q.stat_json();
        if json.contains(needle) {
            return json;
        }
        assert!(Instant::now() < deadline, "{needle} not in {json}");
        thread::sleep(Duration::from_millis(10));
    }
}
