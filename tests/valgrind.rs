//! shmq runs under valgrind.
//!
//! A peer process run by `valgrind --tool=none` attaches, sleeps on the
//! futex and is woken, wakes the test in turn, and checks its peer's
//! liveness. Those paths read the coarse clock and the current CPU number,
//! which come from the vDSO: rustix reads the vDSO with its own parser,
//! which crashes under valgrind (rustix issue #1559), so shmq asks glibc.
//! Before that change this peer died of SIGSEGV at its first wake-up.
//!
//! Valgrind must be installed: without it the test says so and passes,
//! unless `SHMQ_REQUIRE_VALGRIND=1` (CI sets it), which makes a missing
//! valgrind a failure. A sanitizer build (ThreadSanitizer's runtime cannot
//! run under valgrind) skips it too.

mod support;

use std::process::Command;
use std::time::Duration;

use shmq::{Queue, WaitStrategy};
use support::{Peer, background, create_queue, numbers, serial, wait_for};

const ROUNDS: u64 = 20;

/// Whether the peer binary carries a sanitizer's runtime (the README's
/// ThreadSanitizer run builds everything with one): valgrind cannot host
/// those, whatever shmq does. Found by the runtime's name in the binary, as
/// its symbols are not exported for a runtime lookup.
fn sanitized() -> bool {
    let binary = std::fs::read(support::peer_exe()).expect("read the shmq-peer binary");
    [
        &b"ThreadSanitizer"[..],
        b"AddressSanitizer",
        b"MemorySanitizer",
    ]
    .iter()
    .any(|name| binary.windows(name.len()).any(|w| w == *name))
}

#[test]
fn a_peer_under_valgrind_sleeps_wakes_and_is_woken() {
    let _serial = serial();
    if sanitized() {
        eprintln!("a sanitizer build: valgrind cannot run it, not testing");
        return;
    }
    if Command::new("valgrind").arg("--version").output().is_err() {
        assert!(
            std::env::var_os("SHMQ_REQUIRE_VALGRIND").is_none(),
            "SHMQ_REQUIRE_VALGRIND is set but valgrind cannot be run"
        );
        eprintln!("valgrind is not installed: not testing shmq under it");
        return;
    }
    let (data, queue) = create_queue("valgrind-rx", 64, 64, 1 << 10);
    let (ack_temp, _ack_queue) = create_queue("valgrind-ack", 64, 64, 1 << 10);
    let mut tx = queue.sender().unwrap();
    let mut ack = Queue::builder(&ack_temp.name)
        .wait_strategy(WaitStrategy::Block)
        .open()
        .unwrap()
        .receiver()
        .unwrap();
    // `--error-exitcode`: any error valgrind reports fails the peer.
    let mut peer = Peer::spawn_under(
        &["valgrind", "--tool=none", "--error-exitcode=97", "-q"],
        &["wake-echo", &data.name, &format!("ack={}", ack_temp.name)],
    );
    let q = queue.clone();
    background("rounds with the peer under valgrind", move || {
        let mut asleep_after = 0;
        for seq in 0..ROUNDS {
            // The peer's receiver is registered asleep: the send wakes it.
            wait_for(
                Duration::from_secs(60),
                || format!("round {seq}: the peer under valgrind never went to sleep"),
                || q.stats().receiver.sleeps > asleep_after,
            );
            tx.send(&seq.to_le_bytes())
                .unwrap_or_else(|e| panic!("round {seq}: send: {e}"));
            // We block on the acknowledgement: the peer's send wakes us.
            let reply = ack
                .recv()
                .unwrap_or_else(|e| panic!("round {seq}: no acknowledgement: {e}"));
            assert_eq!(reply.len(), 16, "round {seq}");
            assert_eq!(reply[..8], seq.to_le_bytes(), "round {seq}");
            asleep_after = u64::from_le_bytes(reply[8..].try_into().unwrap());
        }
        // Dropping the sender ends the peer's loop.
    })
    .join_watching(Duration::from_secs(300), &mut peer);
    let out = peer.finish(Duration::from_secs(60));
    assert_eq!(numbers(out.trim(), "echoed"), [ROUNDS]);
    assert!(queue.stats().receiver.sleeps >= ROUNDS);
}
