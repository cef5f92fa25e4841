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

// Topics: `create --topic`, `send` publishing, `recv` subscribing, and the
// management commands treating a topic's two files as one object.

/// Waits until `shmq stat --json` of the topic `q` lists `n` subscribers;
/// returns their pids.
fn wait_subscribers(q: &TestQueue, n: usize) -> Vec<u32> {
    let deadline = Instant::now() + CHILD_LIMIT;
    loop {
        let json = q.stat_json();
        let list = json
            .split("\"subscribers\":[")
            .nth(1)
            .and_then(|rest| rest.split(']').next())
            .unwrap_or_else(|| panic!("no subscribers list in {json}"));
        let pids: Vec<u32> = list
            .split("\"pid\":")
            .skip(1)
            .map(|rest| {
                let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                digits.parse().unwrap()
            })
            .collect();
        if pids.len() == n {
            return pids;
        }
        assert!(Instant::now() < deadline, "not {n} subscribers: {json}");
        thread::sleep(Duration::from_millis(10));
    }
}

/// The lines of `out`'s standard error.
fn stderr_lines(out: &std::process::Output) -> Vec<String> {
    stderr_text(out).lines().map(str::to_owned).collect()
}

#[test]
fn create_topic_with_options_and_the_combinations_refused() {
    let q = TestQueue::new("topic-create");
    let options = [
        "--topic",
        "--slots",
        "64",
        "--slot-size",
        "256",
        "--subscribers",
        "4",
        "--history",
        "5",
        "--lag-limit",
        "250ms",
    ];
    assert_ok(&run(&mut q.cmd("create", &options), b""));
    assert!(q.path().exists() && q.subs_path().exists());
    let text = q.stat_text();
    for line in [
        format!("topic             {}", q.name),
        "mode              lossless, lag limit 250ms".to_owned(),
        "history           5 messages".to_owned(),
        "slot size         256 bytes".to_owned(),
        "slots             64".to_owned(),
        "published         0 messages".to_owned(),
        "publisher         never attached".to_owned(),
        "subscribers       0 of 4".to_owned(),
    ] {
        assert!(text.lines().any(|l| l == line), "{line:?} not in:\n{text}");
    }
    let json = q.stat_json();
    for field in [
        "\"kind\":\"topic\"",
        "\"mode\":\"lossless\"",
        "\"history\":5",
        "\"lag_limit_ms\":250",
        "\"max_subscribers\":4",
        "\"publisher\":{\"state\":\"never_attached\",\"pid\":null}",
        "\"subscribers\":[]",
    ] {
        assert!(json.contains(field), "{field} not in {json}");
    }
    assert_fails(
        &run(&mut q.cmd("create", &["--topic"]), b""),
        1,
        "already exists",
    );
    let lossy = TestQueue::new("topic-lossy");
    assert_ok(&run(&mut lossy.cmd("create", &["--topic", "--lossy"]), b""));
    assert!(lossy.stat_json().contains("\"mode\":\"lossy\""));

    // What the library refuses: usage errors, and nothing is left behind.
    let bad = TestQueue::new("topic-bad");
    for (args, needle) in [
        (
            &["--topic", "--lossy", "--lag-limit", "1s"][..],
            "a lag limit is for lossless topics",
        ),
        (
            &["--topic", "--slots", "8", "--history", "8"],
            "history must be shorter than the ring",
        ),
    ] {
        let out = run(&mut bad.cmd("create", args), b"");
        assert_fails(&out, 2, needle);
        assert!(stderr_text(&out).contains(&format!("topic \"{}\"", bad.name)));
    }
    // What the command line refuses.
    for args in [
        &["--lossy"][..],
        &["--history", "2"],
        &["--topic", "--service"],
        &["--topic", "--senders", "2"],
        &["--topic", "--subscribers", "65"],
        &["--topic", "--subscribers", "0"],
    ] {
        assert_usage_error(&run(&mut bad.cmd("create", args), b""), &args.join(" "));
    }
    assert!(!bad.path().exists() && !bad.subs_path().exists());
}

#[test]
fn two_subscribers_get_every_line_the_publisher_sends() {
    let q = TestQueue::new("topic-fanout");
    // A small ring: the publisher waits for the slower subscriber.
    assert_ok(&run(
        &mut q.cmd("create", &["--topic", "--slots", "16"]),
        b"",
    ));
    let first = spawn(&mut q.cmd("recv", &[]));
    let second = spawn(&mut q.cmd("recv", &["--wait", "block"]));
    let mut pids = wait_subscribers(&q, 2);
    pids.sort();
    let mut expected = vec![first.id(), second.id()];
    expected.sort();
    assert_eq!(pids, expected);

    // `stat` lists both, with their pids.
    let text = q.stat_text();
    assert!(text.contains("subscribers       2 of 8"), "{text}");
    for pid in &expected {
        assert!(
            text.lines()
                .any(|l| l.split_whitespace().nth(1) == Some(&pid.to_string())),
            "pid {pid} not in:\n{text}"
        );
    }

    let input: String = (0..500).map(|i| format!("line {i}\n")).collect();
    assert_ok(&run(&mut q.cmd("send", &[]), input.as_bytes()));
    for recv in [first, second] {
        let out = finish(recv);
        assert_ok(&out);
        assert_eq!(String::from_utf8_lossy(&out.stdout), input);
        assert!(out.stderr.is_empty(), "{}", stderr_text(&out));
    }
    let json = q.stat_json();
    assert!(json.contains("\"published\":500"), "{json}");
    assert!(json.contains("\"subscribers\":[]"), "{json}");
}

#[test]
fn framed_and_raw_messages_through_a_topic() {
    let q = TestQueue::new("topic-framed");
    assert_ok(&run(&mut q.cmd("create", &["--topic"]), b""));
    let recv = spawn(&mut q.cmd("recv", &["--framed"]));
    wait_subscribers(&q, 1);
    let binary: Vec<u8> = (0..=255u8).collect();
    let input = framed(&[b"one", b"", &binary]);
    assert_ok(&run(&mut q.cmd("send", &["--framed"]), &input));
    let out = finish(recv);
    assert_ok(&out);
    assert_eq!(out.stdout, input);

    let recv = spawn(&mut q.cmd("recv", &["--raw", "--count", "1"]));
    wait_subscribers(&q, 1);
    assert_ok(&run(&mut q.cmd("send", &["--raw"]), &binary));
    let out = finish(recv);
    assert_ok(&out);
    assert_eq!(out.stdout, binary);
}

#[test]
fn lossy_subscriber_that_falls_behind_is_told_what_it_missed() {
    let q = TestQueue::new("topic-lagged");
    let create = ["--topic", "--lossy", "--slots", "16"];
    assert_ok(&run(&mut q.cmd("create", &create), b""));
    let recv = spawn(&mut q.cmd("recv", &[]));
    wait_subscribers(&q, 1);
    // The subscriber reads nothing while the publisher, which never
    // waits, laps the ring many times.
    stop(&recv);
    let sent = 2000;
    let input: String = (1..=sent).map(|i| format!("{i}\n")).collect();
    assert_ok(&run(&mut q.cmd("send", &[]), input.as_bytes()));
    let json = q.stat_json();
    assert!(json.contains(&format!("\"published\":{sent}")), "{json}");
    assert!(json.contains(&format!("\"lag\":{sent}")), "{json}");
    signal(&recv, rustix::process::Signal::CONT);
    let out = finish(recv);
    assert_ok(&out);

    let mut missed = 0;
    let lags = stderr_lines(&out);
    for line in &lags {
        let n = line
            .strip_prefix("shmq: lagged, ")
            .and_then(|rest| rest.strip_suffix(" messages missed"))
            .unwrap_or_else(|| panic!("not a lag line: {line:?}"));
        missed += n.parse::<u64>().unwrap();
    }
    assert!(!lags.is_empty(), "no lag reported");
    let got: Vec<u64> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    // Exactly what was published: each message either written or counted
    // missed; those written are in order and end with the last.
    assert_eq!(
        missed + got.len() as u64,
        sent,
        "missed {missed}, got {got:?}"
    );
    assert!(got.windows(2).all(|w| w[0] < w[1]), "{got:?}");
    assert_eq!(got.last(), Some(&sent));
    assert_eq!(got.len() as u64, sent - got[0] + 1, "{got:?}");
}

#[test]
fn recv_from_history_starts_with_what_the_topic_keeps() {
    let q = TestQueue::new("topic-history");
    let create = ["--topic", "--history", "3", "--slots", "64"];
    assert_ok(&run(&mut q.cmd("create", &create), b""));
    // Nobody subscribed: the messages go nowhere, but the last 3 are kept.
    assert_ok(&run(&mut q.cmd("send", &[]), b"1\n2\n3\n4\n5\n"));
    let out = run(
        &mut q.cmd("recv", &["--from-history", "--timeout", "300ms"]),
        b"",
    );
    assert_fails(&out, 3, "timed out");
    assert_eq!(out.stdout, b"3\n4\n5\n");
    let out = run(&mut q.cmd("recv", &["--from-history", "--count", "2"]), b"");
    assert_ok(&out);
    assert_eq!(out.stdout, b"3\n4\n");
    // A plain subscriber starts with the next message.
    let out = run(&mut q.cmd("recv", &["--timeout", "200ms"]), b"");
    assert_fails(&out, 3, "timed out");
    assert!(out.stdout.is_empty());

    // --from-history is for topics only, and creates nothing.
    let queue = TestQueue::new("topic-history-queue");
    assert_ok(&run(&mut queue.cmd("create", &[]), b""));
    assert_fails(
        &run(&mut queue.cmd("recv", &["--from-history"]), b""),
        2,
        "--from-history is for topics",
    );
    let missing = TestQueue::new("topic-history-missing");
    assert_fails(
        &run(&mut missing.cmd("recv", &["--from-history"]), b""),
        1,
        "no such topic",
    );
    assert!(!missing.path().exists());
    // --from is for queues.
    assert_fails(
        &run(&mut q.cmd("recv", &["--from"]), b""),
        2,
        "--from is for queues",
    );
}

#[test]
fn recv_on_a_topic_exits_4_when_the_publisher_dies() {
    let q = TestQueue::new("topic-pubdies");
    assert_ok(&run(&mut q.cmd("create", &["--topic"]), b""));
    let recv = spawn(&mut q.cmd("recv", &[]));
    wait_subscribers(&q, 1);
    let mut send = q
        .cmd("send", &[])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn shmq");
    let mut input = send.stdin.take().unwrap();
    input.write_all(b"before\n").unwrap();
    input.flush().unwrap();
    // A second publisher is refused while the first lives.
    let deadline = Instant::now() + CHILD_LIMIT;
    while !q
        .stat_json()
        .contains("\"publisher\":{\"state\":\"attached\"")
    {
        assert!(Instant::now() < deadline, "no publisher attached");
        thread::sleep(Duration::from_millis(10));
    }
    assert_fails(
        &run(&mut q.cmd("send", &[]), b"x\n"),
        1,
        &format!("a publisher is already attached (pid {})", send.id()),
    );
    kill_9(&mut send);
    let out = finish(recv);
    assert_fails(
        &out,
        4,
        &format!("the publisher's process (pid {}) died", send.id()),
    );
    assert_eq!(out.stdout, b"before\n");
    drop(input);
}

#[test]
fn list_shows_a_topic_once_and_rm_removes_both_files() {
    let q = TestQueue::new("topic-admin");
    assert_ok(&run(&mut q.cmd("create", &["--topic", "--lossy"]), b""));
    let recv = spawn(&mut q.cmd("recv", &[]));
    wait_subscribers(&q, 1);

    let out = run(Command::new(SHMQ).arg("list"), b"");
    assert_ok(&out);
    let names = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        names
            .lines()
            .filter(|l| l.contains(&q.name))
            .collect::<Vec<_>>(),
        [q.name.as_str()],
        "{names}"
    );
    let out = run(Command::new(SHMQ).args(["list", "--long"]), b"");
    assert_ok(&out);
    let table = String::from_utf8(out.stdout).unwrap();
    let rows: Vec<&str> = table.lines().filter(|l| l.contains(&q.name)).collect();
    assert_eq!(rows.len(), 1, "{table}");
    assert!(
        rows[0].contains("lossy topic, 1 of 8 subscribers"),
        "{table}"
    );

    // The table alone is not removed, nor shown by `stat`.
    let subs = format!("{}.subs", q.name);
    let out = run(Command::new(SHMQ).args(["rm", &subs]), b"");
    assert_fails(&out, 1, "is the subscriber table of topic");
    assert!(q.subs_path().exists());
    let out = run(Command::new(SHMQ).args(["stat", &subs]), b"");
    assert_fails(&out, 1, "subscriber table of topic");

    // rm takes both files, warning of the live subscriber.
    let out = run(&mut q.cmd("rm", &[]), b"");
    assert_ok(&out);
    let err = stderr_text(&out);
    assert!(
        err.contains("is in use") && err.contains(&format!("subscriber pid {}", recv.id())),
        "{err}"
    );
    assert!(!q.path().exists() && !q.subs_path().exists());
    assert_fails(&run(&mut q.cmd("rm", &[]), b""), 1, "no such queue");
    let mut recv = recv;
    kill_9(&mut recv);
}

#[test]
fn gc_removes_an_unused_topic_whole_and_keeps_a_subscribed_one() {
    let unused = TestQueue::new("topic-gc-unused");
    let busy = TestQueue::new("topic-gc-busy");
    let orphan = TestQueue::new("topic-gc-orphan");
    for q in [&unused, &busy, &orphan] {
        assert_ok(&run(&mut q.cmd("create", &["--topic"]), b""));
    }
    assert_ok(&run(&mut unused.cmd("send", &[]), b"gone\n"));
    let mut recv = spawn(&mut busy.cmd("recv", &[]));
    wait_subscribers(&busy, 1);
    // A table whose ring is gone: a creator that died in between.
    std::fs::remove_file(orphan.path()).unwrap();
    // One name at a time: the other tests' queues are not to be judged.
    let gc = |q: &TestQueue, dry_run: bool| {
        let mut cmd = Command::new(SHMQ);
        cmd.args(["gc", "--older-than", "0s", "--prefix", &q.name]);
        if dry_run {
            cmd.arg("--dry-run");
        }
        let out = run(&mut cmd, b"");
        assert_ok(&out);
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(
        gc(&unused, true),
        format!(
            "would remove {} (topic, 1 message published)\n",
            unused.name
        )
    );
    assert_eq!(
        gc(&orphan, true),
        format!(
            "would remove {}.subs (the subscriber table of a topic whose ring is gone)\n",
            orphan.name
        )
    );
    assert_eq!(gc(&busy, true), "");
    assert!(unused.path().exists() && unused.subs_path().exists());
    assert!(orphan.subs_path().exists());

    assert_eq!(
        gc(&unused, false),
        format!("removed {} (topic, 1 message published)\n", unused.name)
    );
    assert!(gc(&orphan, false).starts_with(&format!("removed {}.subs (", orphan.name)));
    assert_eq!(gc(&busy, false), "");
    assert!(!unused.path().exists() && !unused.subs_path().exists());
    assert!(!orphan.subs_path().exists());
    assert!(busy.path().exists() && busy.subs_path().exists());
    kill_9(&mut recv);
}

/// A lossless publisher held up by a subscriber that then dies goes on
/// within about 100 ms (the promise), also when it had looked at
/// that subscriber's process while it was alive.
#[test]
fn lossless_publisher_goes_on_when_a_stalled_subscriber_is_killed() {
    let q = TestQueue::new("topic-subdies");
    assert_ok(&run(
        &mut q.cmd("create", &["--topic", "--slots", "16"]),
        b"",
    ));
    let mut stalled = spawn(&mut q.cmd("recv", &[]));
    let healthy = spawn(&mut q.cmd("recv", &[]));
    wait_subscribers(&q, 2);
    stop(&stalled);
    let input: String = (0..200).map(|i| format!("{i}\n")).collect();
    let send = spawn_with_input(&mut q.cmd("send", &[]), input.clone().into_bytes());
    // Long enough for the publisher to find the ring full and look at
    // the stalled subscriber's process (alive) a few times.
    thread::sleep(Duration::from_millis(300));
    let start = Instant::now();
    kill_9(&mut stalled);
    assert_ok(&finish(send));
    let took = start.elapsed();
    assert!(took < Duration::from_secs(2), "took {took:?}");
    let out = finish(healthy);
    assert_ok(&out);
    assert_eq!(String::from_utf8_lossy(&out.stdout), input);
}

/// `send --flush` waits for the subscribers, and the topic still keeps
/// its last `--history` messages for `recv --from-history`.
#[test]
fn send_flush_keeps_a_topics_history() {
    let q = TestQueue::new("topic-flush-history");
    let create = ["--topic", "--history", "2", "--slots", "64"];
    assert_ok(&run(&mut q.cmd("create", &create), b""));
    let recv = spawn(&mut q.cmd("recv", &[]));
    wait_subscribers(&q, 1);
    assert_ok(&run(&mut q.cmd("send", &["--flush"]), b"a\nb\nc\n"));
    let out = finish(recv);
    assert_ok(&out);
    assert_eq!(out.stdout, b"a\nb\nc\n");
    let out = run(
        &mut q.cmd("recv", &["--from-history", "--timeout", "200ms"]),
        b"",
    );
    assert_fails(&out, 3, "timed out");
    assert_eq!(out.stdout, b"b\nc\n");
}
