//! End-to-end tests of the `shmq` binary's formats and options: each runs
//! it as child processes on a queue of its own, removed when the test ends
//! (even on failure). `lifecycle.rs` tests ends coming, going and dying.

mod support;

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use support::*;

/// Encodes `frames` in the `--framed` format.
fn framed(frames: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for frame in frames {
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(frame);
    }
    out
}

/// Sends `input` with `send <send_args>` to a `recv <recv_args>` attached
/// first, and returns what recv wrote once both have ended (both must
/// succeed).
fn transfer(q: &TestQueue, send_args: &[&str], input: &[u8], recv_args: &[&str]) -> Vec<u8> {
    let recv = spawn(&mut q.cmd("recv", recv_args));
    wait_attached(q, "receiver", Some(recv.id()));
    assert_ok(&run(&mut q.cmd("send", send_args), input));
    let out = finish(recv);
    assert_ok(&out);
    out.stdout
}

#[test]
fn lines_round_trip_keeps_bytes_but_the_newline() {
    let q = TestQueue::new("lines");
    let input = b"first\n\nwith cr\r\n  spaced \t\nno newline at the end";
    assert_eq!(
        transfer(&q, &[], input, &[]),
        b"first\n\nwith cr\r\n  spaced \t\nno newline at the end\n"
    );
}

#[test]
fn empty_input_sends_nothing_and_recv_ends_on_disconnect() {
    let q = TestQueue::new("empty");
    assert!(transfer(&q, &[], b"", &[]).is_empty());
}

#[test]
fn recv_writes_every_message_then_exits_zero_after_sender_disconnects() {
    let q = TestQueue::new("drain");
    let input: String = (0..1000).map(|i| format!("message {i}\n")).collect();
    // More than the ring holds: the sender waits for the receiver.
    let ring = ["--slots", "64"];
    let out = transfer(&q, &ring, input.as_bytes(), &ring);
    assert_eq!(String::from_utf8_lossy(&out), input);
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
    assert_eq!(transfer(&q, &["--framed"], &input, &["--framed"]), input);
}

#[test]
fn truncated_frame_fails_after_sending_the_complete_ones() {
    let q = TestQueue::new("truncated");
    let mut input = framed(&[b"whole", b"also whole"]);
    input.extend_from_slice(&10u32.to_le_bytes());
    input.extend_from_slice(b"abc");
    let out = run(&mut q.cmd("send", &["--framed"]), &input);
    assert_fails(&out, 1, "frame 3 is truncated");
    assert_eq!(drain(&q, &[]), b"whole\nalso whole\n");

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
    assert_eq!(drain(&q, &[]), b"12345678\n");
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
    wait_attached(&q, "receiver", None);
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
    wait_attached(&q, "receiver", None);
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
    wait_attached(&q, "sender", None);
    let out = run(&mut q.cmd("send", &[]), b"from the second\n");
    assert_fails(
        &out,
        1,
        &format!("a sender is already attached (pid {})", first.id()),
    );
    drop(first_input);
    assert_ok(&finish(first));
    assert_eq!(drain(&q, &[]), b"from the first\n");
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
        // The two messages and the sender's hello record.
        "slots used        3",
        "state             detached                never attached",
        "messages          2                       0",
        "attaches          1                       0",
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
        "\"sender\":{\"state\":\"detached\",\"pid\":null,",
        "\"receiver\":{\"state\":\"never_attached\",\"pid\":null,",
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
        assert_fails(&out, 2, &format!("invalid queue name {name:?}"));
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
    // Bad values are usage errors, from the argument parser.
    for args in [
        &["--mode", "9"][..],
        &["--slots", "many"],
        &["--raw", "--framed"],
    ] {
        assert_usage_error(&run(&mut q.cmd("send", args), b""), &args.join(" "));
    }
    assert!(!q.path().exists());
    let out = run(&mut q.cmd("create", &["--slots", "3"]), b"");
    assert_usage_error(&out, "--slots 3");
    assert!(stderr_text(&out).contains("not a power of two"));
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
    // The sender is told its receiver went away, and that what it did not
    // write is still queued.
    assert_fails(&finish(send), 1, "the receiver detached (");
}

#[test]
fn recv_help_documents_exit_statuses() {
    let out = run(Command::new(SHMQ).args(["recv", "--help"]), b"");
    assert_ok(&out);
    let help = String::from_utf8(out.stdout).unwrap();
    for status in ["  0 ", "  1 ", "  2 ", "  3 ", "  4 ", "  141 "] {
        assert!(help.contains(status), "{status:?} not in:\n{help}");
    }
    assert!(help.contains("stay in the queue"), "{help}");
}

#[test]
fn send_help_documents_exit_statuses_and_flush() {
    let out = run(Command::new(SHMQ).args(["send", "--help"]), b"");
    assert_ok(&out);
    let help = String::from_utf8(out.stdout).unwrap();
    for status in ["  0 ", "  1 ", "  2 ", "  4 "] {
        assert!(help.contains(status), "{status:?} not in:\n{help}");
    }
    assert!(help.contains("--flush"), "{help}");
    assert!(
        help.contains("without a live receiver it waits for one"),
        "{help}"
    );
}
