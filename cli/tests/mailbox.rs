//! Mailboxes under the `shmq` binary: `create --senders`, several `send`
//! processes at once, each on its own lane, `recv --from`, and `stat`
//! showing every lane.

mod support;

use std::collections::HashMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use support::*;

/// Lanes `stat --json` shows attached.
fn attached_lanes(q: &TestQueue) -> usize {
    let json = q.stat_json();
    let lanes = json.split(r#""lanes":["#).nth(1).unwrap_or("");
    lanes.matches(r#""state":"attached""#).count()
}

#[test]
fn senders_at_once_each_on_a_lane_and_recv_from_names_them() {
    let q = TestQueue::new("mbx");
    assert_ok(&run(
        &mut q.cmd("create", &["--senders", "3", "--slots", "64"]),
        b"",
    ));
    // Three senders, each holding its end open (stdin not closed yet).
    let mut senders = Vec::new();
    for k in 0..3 {
        let mut child = q
            .cmd("send", &["--no-create"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        writeln!(stdin, "{k} first").unwrap();
        senders.push((child, stdin));
    }
    let deadline = Instant::now() + CHILD_LIMIT;
    while attached_lanes(&q) < 3 {
        assert!(Instant::now() < deadline, "{}", q.stat_text());
        thread::sleep(Duration::from_millis(10));
    }
    let stat = q.stat_text();
    assert!(
        stat.lines()
            .any(|l| l.starts_with("sender lanes") && l.ends_with(" 3")),
        "{stat}"
    );
    for (child, _) in &senders {
        let needle = format!("attached (pid {})", child.id());
        assert!(stat.contains(&needle), "{needle} not in:\n{stat}");
    }
    let mut pids = HashMap::new();
    for (k, (child, mut stdin)) in senders.into_iter().enumerate() {
        for i in 0..50 {
            writeln!(stdin, "{k} line {i}").unwrap();
        }
        drop(stdin);
        pids.insert(child.id(), k);
        assert_ok(&finish(child));
    }
    let out = drain(&q, &["--from"]);
    let text = String::from_utf8(out).unwrap();
    let mut next: HashMap<u32, usize> = HashMap::new();
    for line in text.lines() {
        let (pid, msg) = line.split_once(": ").expect("PID: message");
        let pid: u32 = pid.parse().unwrap();
        let k = pids[&pid];
        let n = next.entry(pid).or_default();
        let expected = match *n {
            0 => format!("{k} first"),
            i => format!("{k} line {}", i - 1),
        };
        assert_eq!(msg, expected, "{text}");
        *n += 1;
    }
    assert_eq!(next.len(), 3, "{text}");
    assert!(next.values().all(|&n| n == 51), "{next:?}");
}

#[test]
fn recv_from_framed_puts_the_pid_before_each_frame() {
    let q = TestQueue::new("mbx-framed");
    assert_ok(&run(&mut q.cmd("create", &["--senders", "2"]), b""));
    let sender = spawn_with_input(&mut q.cmd("send", &["--raw"]), b"abc".to_vec());
    let pid = sender.id();
    assert_ok(&finish(sender));
    let out = drain(&q, &["--framed", "--from"]);
    let mut expected = pid.to_le_bytes().to_vec();
    expected.extend_from_slice(&3u32.to_le_bytes());
    expected.extend_from_slice(b"abc");
    assert_eq!(out, expected);
}

#[test]
fn senders_option_is_checked() {
    let q = TestQueue::new("mbx-bad");
    for bad in ["0", "65", "x"] {
        assert_usage_error(
            &run(&mut q.cmd("create", &["--senders", bad]), b""),
            &format!("--senders {bad}"),
        );
    }
    assert_usage_error(
        &run(&mut q.cmd("recv", &["--raw", "--from"]), b""),
        "--raw --from",
    );
    // A third sender on a mailbox of two lanes held by live processes.
    assert_ok(&run(&mut q.cmd("create", &["--senders", "2"]), b""));
    let mut holders: Vec<_> = (0..2)
        .map(|_| {
            Command::new(SHMQ)
                .args(["send", &q.name])
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let deadline = Instant::now() + CHILD_LIMIT;
    while attached_lanes(&q) < 2 {
        assert!(Instant::now() < deadline, "{}", q.stat_text());
        thread::sleep(Duration::from_millis(10));
    }
    let third = run(&mut q.cmd("send", &[]), b"x\n");
    assert_fails(&third, 1, "all 2 sender lanes are held");
    for holder in &mut holders {
        drop(holder.stdin.take());
        wait_limited(holder);
    }
}
