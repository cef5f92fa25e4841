//! End-to-end tests of queue ends that come, go and die under the `shmq`
//! binary: exit statuses, `send --flush`, `stat` states, `list --long`,
//! `gc`, `rm` of a queue in use, the settings warning, and a `recv` killed
//! mid-stream losing nothing.

mod support;

use std::fs::File;
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use rustix::process::Signal;
use support::*;

#[test]
fn help_lists_every_exit_status() {
    let out = run(Command::new(SHMQ).arg("--help"), b"");
    assert_ok(&out);
    let help = String::from_utf8(out.stdout).unwrap();
    let listed: Vec<&str> = help
        .split_once("Exit status:\n")
        .expect("an exit status section")
        .1
        .lines()
        .filter_map(|line| line.strip_prefix("  ")?.split_whitespace().next())
        .filter(|word| word.bytes().all(|b| b.is_ascii_digit()))
        .collect();
    assert_eq!(listed, ["0", "1", "2", "3", "4", "141"], "{help}");
}

/// The README's exit status table lists the same statuses as `--help`.
#[test]
fn readme_lists_the_same_exit_statuses() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README.md");
    let table = readme
        .split_once("| exit status |")
        .expect("an exit status table in README.md")
        .1;
    let listed: Vec<&str> = table
        .lines()
        .skip(2) // the rest of the header line, and the separator
        .map_while(|line| line.strip_prefix("| "))
        .filter_map(|row| row.split_whitespace().next())
        .collect();
    assert_eq!(listed, ["0", "1", "2", "3", "4", "141"], "{table}");
}

#[test]
fn invalid_values_are_usage_errors() {
    let q = TestQueue::new("usage");
    for args in [
        &["send", &q.name, "--slot-size", "100"][..],
        &["recv", &q.name, "--slots", "3"],
        &["create", &q.name, "--slots", "3"],
        &["create", &q.name, "--slot-size", "32M"],
        &["create", &q.name, "--max-message", "2048G"],
        &["recv", &q.name, "--timeout", "soon"],
        &["recv", &q.name, "--no-such-option"],
        &["gc", "--older-than", "a while"],
        &["send", "bad/name"],
        &["recv", "bad name"],
        &["stat", ".hidden"],
        &["rm", "../x"],
        &["create", ""],
    ] {
        assert_usage_error(&run(Command::new(SHMQ).args(args), b""), &args.join(" "));
    }
    assert!(!q.path().exists());
    // Settings each valid but together impossible (a ring over 4 GiB): the
    // library refuses them, whether or not the queue exists.
    let huge = ["--slot-size", "16M", "--slots", "16M"];
    let out = run(&mut q.cmd("send", &huge), b"x\n");
    assert_fails(&out, 2, "invalid queue options");
    assert!(!q.path().exists());
    assert_ok(&run(&mut q.cmd("create", &[]), b""));
    assert_fails(&run(&mut q.cmd("send", &huge), b"x\n"), 2, "ring larger");
    assert_usage_error(&run(&mut q.cmd("recv", &["--slots", "3"]), b""), "exists");
}

#[test]
fn recv_exits_4_when_the_sender_is_killed() {
    let q = TestQueue::new("sender-killed");
    let mut send = q
        .cmd("send", &[])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn shmq");
    // Held open: the sender waits for more input.
    let mut input = send.stdin.take().unwrap();
    input.write_all(b"a\nb\n").unwrap();
    let mut recv = spawn(&mut q.cmd("recv", &[]));
    let mut got = [0; 4];
    recv.stdout.as_mut().unwrap().read_exact(&mut got).unwrap();
    assert_eq!(&got, b"a\nb\n");
    let pid = send.id();
    kill_9(&mut send);
    let out = finish(recv);
    assert_fails(&out, 4, &format!("the sender's process (pid {pid}) died"));
    assert!(out.stdout.is_empty(), "nothing more was sent");
    drop(input);
}

#[test]
fn send_flush_exits_4_when_the_receiver_is_killed() {
    let q = TestQueue::new("receiver-killed");
    let mut recv = spawn(&mut q.cmd("recv", &[]));
    let pid = wait_attached(&q, "receiver", Some(recv.id()));
    // Stopped, it holds its end and takes nothing.
    stop(&recv);
    let mut send = spawn_with_input(&mut q.cmd("send", &["--flush"]), b"a\nb\n".to_vec());
    wait_for(&q, "\"messages_queued\":2,");
    thread::sleep(Duration::from_millis(200));
    assert!(
        send.try_wait().unwrap().is_none(),
        "send --flush returned before the receiver took the messages"
    );
    kill_9(&mut recv);
    assert_fails(
        &finish(send),
        4,
        &format!(
            "the receiver's process (pid {pid}) died before taking every message \
             (2 messages sent; 2 left in the queue for the next receiver)"
        ),
    );
    // They are there for the next receiver.
    assert_eq!(drain(&q, &[]), b"a\nb\n");
}

#[test]
fn send_exits_1_when_the_receiver_detaches() {
    let q = TestQueue::new("receiver-detached");
    let recv = spawn(&mut q.cmd("recv", &["--count", "1"]));
    wait_attached(&q, "receiver", Some(recv.id()));
    let out = run(&mut q.cmd("send", &["--flush"]), b"a\nb\n");
    assert_ok(&finish(recv));
    // Whether it learns of it at the second send or in the flush.
    assert_fails(&out, 1, "the receiver detached");
    let err = stderr_text(&out);
    assert!(
        err.contains("(1 message sent; 0 left in the queue")
            || err.contains("(2 messages sent; 1 left in the queue"),
        "{err}"
    );
}

#[test]
fn recv_after_the_sender_left_drains_then_waits_for_the_next() {
    let q = TestQueue::new("drain-then-wait");
    let input: String = (0..1000).map(|i| format!("message {i}\n")).collect();
    assert_ok(&run(&mut q.cmd("send", &[]), input.as_bytes()));
    assert!(q.stat_text().contains("messages queued   1000\n"));
    let start = Instant::now();
    let out = drain(&q, &[]);
    assert!(start.elapsed() >= Duration::from_millis(500));
    assert_eq!(String::from_utf8(out).unwrap(), input);

    // And a sender that comes later is received from until it leaves.
    let recv = spawn(&mut q.cmd("recv", &[]));
    wait_attached(&q, "receiver", Some(recv.id()));
    thread::sleep(Duration::from_millis(100));
    assert_ok(&run(&mut q.cmd("send", &[]), b"later\n"));
    let out = finish(recv);
    assert_ok(&out);
    assert_eq!(out.stdout, b"later\n");
}

#[test]
fn send_flush_returns_once_the_receiver_took_everything() {
    let q = TestQueue::new("flush");
    let mut send = spawn_with_input(&mut q.cmd("send", &["--flush"]), b"a\nb\nc\n".to_vec());
    wait_for(&q, "\"messages_queued\":3,");
    thread::sleep(Duration::from_millis(300));
    assert!(
        send.try_wait().unwrap().is_none(),
        "send --flush returned with no receiver"
    );
    let recv = spawn(&mut q.cmd("recv", &[]));
    let sent = finish(send);
    assert_ok(&sent);
    // Taken, and released: nothing is queued once send returns.
    assert!(q.stat_json().contains("\"messages_queued\":0,"));
    let received = finish(recv);
    assert_ok(&received);
    assert_eq!(received.stdout, b"a\nb\nc\n");
}

#[test]
fn stat_shows_each_end_state() {
    let q = TestQueue::new("states");
    assert_ok(&run(&mut q.cmd("create", &[]), b""));
    let state_line =
        |sender: &str, receiver: &str| format!("state             {sender:<24}{receiver}\n");
    let text = q.stat_text();
    assert!(
        text.contains(&state_line("never attached", "never attached")),
        "{text}"
    );
    assert!(text.starts_with("queue             "), "{text}");
    assert!(text.contains("\ncreated           20"), "{text}");
    let json = q.stat_json();
    assert!(
        json.contains(r#""sender":{"state":"never_attached","pid":null,"#),
        "{json}"
    );
    let created: u64 = json
        .split("\"created\":")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .and_then(|secs| secs.parse().ok())
        .expect("created");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        created <= now && now - created < 60,
        "created {created}, now {now}"
    );

    let mut send = q
        .cmd("send", &[])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn shmq");
    let pid = send.id();
    wait_attached(&q, "sender", Some(pid));
    let text = q.stat_text();
    assert!(
        text.contains(&state_line(
            &format!("attached (pid {pid})"),
            "never attached"
        )),
        "{text}"
    );

    kill_9(&mut send);
    let text = q.stat_text();
    assert!(
        text.contains(&state_line(&format!("dead (pid {pid})"), "never attached")),
        "{text}"
    );
    let json = q.stat_json();
    assert!(
        json.contains(&format!(r#""sender":{{"state":"dead","pid":{pid},"#)),
        "{json}"
    );

    // A new sender takes the dead one's place, and leaves.
    assert_ok(&run(&mut q.cmd("send", &[]), b"x\n"));
    let text = q.stat_text();
    assert!(
        text.contains(&state_line("detached", "never attached")),
        "{text}"
    );
    assert!(
        q.stat_json()
            .contains(r#""sender":{"state":"detached","pid":null,"#)
    );
}

#[test]
fn list_long_shows_settings_ends_and_errors() {
    let q = TestQueue::new("list-long");
    let options = ["--slot-size", "256", "--slots", "8", "--max-message", "1K"];
    assert_ok(&run(&mut q.cmd("send", &options), b"a\nb\n"));
    // Not a queue: listed with why.
    let junk = TestQueue::new("list-junk");
    std::fs::write(junk.path(), vec![0; 4096]).unwrap();

    let out = run(Command::new(SHMQ).args(["list", "--long"]), b"");
    assert_ok(&out);
    let text = String::from_utf8(out.stdout).unwrap();
    let header: Vec<&str> = text
        .lines()
        .next()
        .unwrap()
        .split("  ")
        .map(str::trim)
        .filter(|cell| !cell.is_empty())
        .collect();
    assert_eq!(
        header,
        [
            "NAME",
            "SLOT SIZE",
            "SLOTS",
            "MAX MESSAGE",
            "SENDER",
            "RECEIVER",
            "QUEUED",
            "AGE"
        ],
        "{text}"
    );
    let line = text
        .lines()
        .find(|line| line.split_whitespace().next() == Some(q.name.as_str()))
        .unwrap_or_else(|| panic!("{} not in:\n{text}", q.name));
    let cells: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(
        cells[1..8],
        ["256", "8", "1K", "detached", "never", "attached", "2"],
        "{line}"
    );
    assert!(cells[8].ends_with('s') || cells[8].ends_with('m'), "{line}");
    let line = text
        .lines()
        .find(|line| line.split_whitespace().next() == Some(junk.name.as_str()))
        .unwrap_or_else(|| panic!("{} not in:\n{text}", junk.name));
    assert!(line.contains("error: "), "{line}");

    // Plain `list` stays names only.
    let out = run(Command::new(SHMQ).arg("list"), b"");
    assert_ok(&out);
    let names = String::from_utf8(out.stdout).unwrap();
    assert!(names.lines().any(|line| line == q.name), "{names}");
    assert!(!names.contains("NAME"), "{names}");
}

#[test]
fn gc_removes_stale_queues_only() {
    let stale = TestQueue::new("gc-stale");
    assert_ok(&run(&mut stale.cmd("send", &[]), b"left behind\n"));
    let busy = TestQueue::new("gc-busy");
    let mut recv = spawn(&mut busy.cmd("recv", &[]));
    wait_attached(&busy, "receiver", Some(recv.id()));

    let gc = |args: &[&str]| {
        let out = run(Command::new(SHMQ).arg("gc").args(args), b"");
        assert_ok(&out);
        String::from_utf8(out.stdout).unwrap()
    };
    // Both are younger than the default minimum age.
    let listed = gc(&["--dry-run"]);
    assert!(
        !listed.contains(&stale.name) && !listed.contains(&busy.name),
        "{listed}"
    );
    let listed = gc(&["--dry-run", "--older-than", "0"]);
    assert!(
        listed.contains(&format!("would remove {} (1 message queued)\n", stale.name)),
        "{listed}"
    );
    assert!(!listed.contains(&busy.name), "{listed}");
    assert!(stale.path().exists());

    // The test's own queues only: other tests' may be stale for a moment.
    assert_eq!(gc(&["--older-than", "0", "--prefix", &busy.name]), "");
    assert!(busy.path().exists());
    assert_eq!(
        gc(&["--older-than", "0", "--prefix", &stale.name]),
        format!("removed {} (1 message queued)\n", stale.name)
    );
    assert!(!stale.path().exists());

    kill_9(&mut recv);
}

#[test]
fn rm_of_a_queue_in_use_warns_and_removes_it() {
    let q = TestQueue::new("rm-busy");
    let mut recv = spawn(&mut q.cmd("recv", &[]));
    let pid = wait_attached(&q, "receiver", Some(recv.id()));
    let out = run(&mut q.cmd("rm", &[]), b"");
    assert_ok(&out);
    assert_eq!(
        stderr_text(&out),
        format!(
            "shmq: warning: queue \"{}\" is in use (receiver pid {pid}); it is removed, \
             its holders keep the old segment and new opens will not find it\n",
            q.name
        )
    );
    assert!(!q.path().exists());
    kill_9(&mut recv);

    // Not in use: no warning.
    let q = TestQueue::new("rm-idle");
    assert_ok(&run(&mut q.cmd("create", &[]), b""));
    let out = run(&mut q.cmd("rm", &[]), b"");
    assert_ok(&out);
    assert!(out.stderr.is_empty(), "{}", stderr_text(&out));
}

#[test]
fn send_and_recv_warn_about_other_settings_of_an_existing_queue() {
    let q = TestQueue::new("settings");
    assert_ok(&run(
        &mut q.cmd("create", &["--slot-size", "64", "--slots", "16"]),
        b"",
    ));
    let out = run(
        &mut q.cmd("send", &["--slot-size", "4096", "--slots", "16"]),
        b"x\n",
    );
    assert_ok(&out);
    assert_eq!(
        stderr_text(&out),
        format!(
            "shmq: warning: queue \"{}\" already exists with slot size 64, not 4096 as \
             requested; its settings are used\n",
            q.name
        )
    );
    // Several differences: still one line.
    let out = run(
        &mut q.cmd(
            "recv",
            &["--count", "1", "--slots", "8", "--max-message", "1K"],
        ),
        b"",
    );
    assert_ok(&out);
    assert_eq!(out.stdout, b"x\n");
    let err = stderr_text(&out);
    assert!(
        err.starts_with("shmq: warning: ") && err.lines().count() == 1,
        "{err}"
    );
    assert!(
        err.contains("16 slots, not 8, and max message size 67108864, not 1024 as requested"),
        "{err}"
    );
    // Only what is given is compared.
    for args in [&[][..], &["--slots", "16"], &["--mode", "644"]] {
        let out = run(&mut q.cmd("send", args), b"y\n");
        assert_ok(&out);
        assert!(out.stderr.is_empty(), "{args:?}: {}", stderr_text(&out));
    }
}

/// Streams numbered lines through a queue of shape `ring` with `send
/// --flush`, and SIGKILLs the `recv` taking them a few times part way,
/// each time letting a new `recv` take over: every line sent must reach
/// one of the outputs, each in order (repeats across outputs are allowed).
fn killed_recv_loses_nothing(tag: &str, ring: &[&str]) {
    const LINES: u32 = 200_000;
    const KILLS: usize = 4;
    let q = TestQueue::new(tag);
    assert_ok(&run(&mut q.cmd("create", ring), b""));
    let recv_to = |file: &TestFile| {
        let mut recv = q
            .cmd("recv", &[])
            .stdin(Stdio::null())
            .stdout(File::create(&file.path).unwrap())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn shmq");
        wait_attached(&q, "receiver", Some(recv.id()));
        assert!(recv.try_wait().unwrap().is_none());
        recv
    };
    let mut outputs = vec![TestFile::new("out")];
    let mut recv = recv_to(&outputs[0]);
    let input: String = (0..LINES).map(|i| format!("{i}\n")).collect();
    let share = input.len() as u64 / (KILLS as u64 + 1);
    let mut send = spawn_with_input(&mut q.cmd("send", &["--flush"]), input.into_bytes());

    for _ in 0..KILLS {
        // Part way through.
        let deadline = Instant::now() + CHILD_LIMIT;
        let written = || {
            std::fs::metadata(&outputs.last().unwrap().path)
                .unwrap()
                .len()
        };
        while written() < share {
            assert!(Instant::now() < deadline, "recv wrote too little");
            thread::sleep(Duration::from_millis(1));
        }
        // Stopped, recv is as a SIGKILL at this point would find it;
        // killed, its end is free for the next. The sender is held still
        // in between: it would see its receiver dead (and exit 4, as it
        // should) if it looked before the next one attached.
        stop(&recv);
        stop(&send);
        kill_9(&mut recv);
        outputs.push(TestFile::new("out"));
        recv = recv_to(outputs.last().unwrap());
        signal(&send, Signal::CONT);
        if send.try_wait().unwrap().is_some() {
            break; // All taken already.
        }
    }
    assert_ok(&finish(send));
    assert_ok(&finish(recv));

    let mut seen = vec![false; LINES as usize];
    for (i, output) in outputs.iter().enumerate() {
        let text = std::fs::read_to_string(&output.path).unwrap();
        // A line a killed recv was writing may be cut short.
        let whole = &text[..text.rfind('\n').map_or(0, |end| end + 1)];
        let numbers: Vec<usize> = whole.lines().map(|line| line.parse().unwrap()).collect();
        assert!(
            numbers.windows(2).all(|pair| pair[0] < pair[1]),
            "output {i} is out of order"
        );
        for n in numbers {
            seen[n] = true;
        }
    }
    let lost: Vec<usize> = (0..seen.len()).filter(|&n| !seen[n]).collect();
    assert!(
        lost.is_empty(),
        "{} lines lost, the first {:?}",
        lost.len(),
        &lost[..lost.len().min(10)]
    );
}

#[test]
fn killed_recv_loses_nothing_small_ring() {
    killed_recv_loses_nothing("kill-small", &["--slots", "16", "--slot-size", "64"]);
}

#[test]
fn killed_recv_loses_nothing_default_ring() {
    killed_recv_loses_nothing("kill-default", &[]);
}

#[test]
fn killed_recv_loses_nothing_large_ring() {
    killed_recv_loses_nothing("kill-large", &["--slots", "1024", "--slot-size", "256"]);
}

/// Waits until `shmq stat --json` of `q` contains `needle`.
fn wait_for(q: &TestQueue, needle: &str) {
    let deadline = Instant::now() + CHILD_LIMIT;
    loop {
        // The queue may not exist yet.
        let out = run(&mut q.cmd("stat", &["--json"]), b"");
        let json = String::from_utf8_lossy(&out.stdout);
        if json.contains(needle) {
            return;
        }
        assert!(Instant::now() < deadline, "{needle} never in {json}");
        thread::sleep(Duration::from_millis(10));
    }
}
