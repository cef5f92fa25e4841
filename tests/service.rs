//! Services: request/response between clients and one server
//! (`shmq::Service`).
//!
//! In one process (threads) for the API, correlation and the answers a
//! server gives besides replies; across processes (the `shmq-peer` helper's
//! `serve` and `call-load`) for load with every reply checked, and for what
//! must survive `kill -9`: the server (every pending call fails with
//! `ServerDied`, none gets a wrong reply; a new server takes over) and a
//! client (the server goes on; the lane is reused).

mod support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use shmq::{
    CallError, OpenErrorKind, Queue, ReplyError, RequestId, Server, Service, ServiceBuilder,
    TryRecvError,
};
use support::{Peer, background, serial, test_seed, unique_name};

const STARTUP: Duration = Duration::from_secs(10);
const LIMIT: Duration = Duration::from_secs(60);

/// Removes the service's queues when dropped, even when the test panics.
struct TempService {
    name: String,
}

impl Drop for TempService {
    fn drop(&mut self) {
        let _ = Service::remove(&self.name);
    }
}

fn builder(tag: &str) -> (TempService, ServiceBuilder) {
    let name = unique_name(tag);
    let b = Service::builder(&name)
        .clients(4)
        .slot_size(64)
        .slots(16)
        .max_message_size(1 << 20);
    (TempService { name }, b)
}

fn service(tag: &str) -> (TempService, Service) {
    let (guard, b) = builder(tag);
    let s = b
        .create()
        .unwrap_or_else(|e| panic!("creating {}: {e}", guard.name));
    (guard, s)
}

/// The test's echo: the request reversed.
fn reversed(bytes: &[u8]) -> Vec<u8> {
    bytes.iter().rev().copied().collect()
}

/// Serves `n` requests on a thread, answering each with its bytes
/// reversed; gives the server back.
fn serve_n(mut server: Server, n: usize) -> support::Background<Server> {
    background("server", move || {
        for _ in 0..n {
            let req = server.recv_request().unwrap();
            server.reply(req.id(), &reversed(req.body())).unwrap();
        }
        server
    })
}

#[test]
fn call_round_trip() {
    let (_g, s) = service("svc-rt");
    let server = s.server().unwrap();
    let mut client = s.client().unwrap();
    let running = serve_n(server, 3);
    assert_eq!(client.call(b"hello").unwrap(), b"olleh");
    assert_eq!(client.call_with(b"abc", |r| r.to_vec()).unwrap(), b"cba");
    assert_eq!(
        client.call_timeout(b"", Duration::from_secs(10)).unwrap(),
        b""
    );
    let server = running.join(LIMIT);
    assert_eq!(server.stats().requests, 3);
    assert_eq!(server.stats().replies, 3);
    assert_eq!(server.unanswered(), 0);
    assert_eq!(client.in_flight(), 0);
}

/// Request ids seen by the server carry the client's pid and lane.
#[test]
fn server_sees_who_calls() {
    let (_g, s) = service("svc-who");
    let mut server = s.server().unwrap();
    let (mut a, mut b) = (s.client().unwrap(), s.client().unwrap());
    assert_ne!(a.lane(), b.lane());
    let ia = a.send_request(b"a").unwrap();
    let ib = b.send_request(b"b").unwrap();
    for _ in 0..2 {
        let req = server.recv_request().unwrap();
        assert_eq!(req.client_pid(), Some(std::process::id()));
        let expected = if req.id() == ia { ia } else { ib };
        assert_eq!(req.id(), expected);
        assert_eq!(req.id().lane(), req.sender().lane());
        server.reply(req.id(), req.body()).unwrap();
    }
    assert_eq!(a.recv_reply().unwrap(), (ia, b"a".to_vec()));
    assert_eq!(b.recv_reply().unwrap(), (ib, b"b".to_vec()));
    assert_eq!(a.recv_reply(), Err(CallError::NothingPending));
    // Answered already: unknown now.
    assert!(matches!(
        server.reply(ia, b"again"),
        Err(ReplyError::UnknownRequest(id)) if id == ia
    ));
}

/// 100 requests in flight, answered in a shuffled order: every reply goes
/// with its request, `call` in the middle takes its own and leaves the
/// others for `recv_reply`.
#[test]
fn pipelining_out_of_order() {
    let (_g, s) = builder("svc-pipe");
    let s = s.slots(256).create().unwrap();
    let mut server = s.server().unwrap();
    let mut client = s.client().unwrap();
    let mut sent = HashMap::new();
    for i in 0..100u32 {
        let body = i.to_le_bytes().repeat(1 + i as usize % 7);
        sent.insert(client.send_request(&body).unwrap(), body);
    }
    let mut reqs = Vec::new();
    for _ in 0..100 {
        reqs.push(server.recv_request().unwrap());
    }
    let mut rng = support::Rng::new(test_seed());
    for i in (1..reqs.len()).rev() {
        reqs.swap(i, rng.upto(i));
    }
    let mut order = Vec::new();
    for req in &reqs {
        server.reply(req.id(), &reversed(req.body())).unwrap();
        order.push(req.id());
    }
    // A call now: its reply comes after the 100.
    let helper = background("late reply", move || {
        let req = server.recv_request().unwrap();
        server.reply(req.id(), b"mine").unwrap();
        server
    });
    assert_eq!(client.call(b"call").unwrap(), b"mine");
    helper.join(LIMIT);
    let mut got = Vec::new();
    for _ in 0..100 {
        let (id, reply) = client.recv_reply().unwrap();
        assert_eq!(reply, reversed(&sent[&id]), "reply to {id}");
        got.push(id);
    }
    assert_eq!(got, order, "replies in the order they came");
    assert_eq!(client.recv_reply(), Err(CallError::NothingPending));
    assert_eq!(client.stats(), Default::default());
}

#[test]
fn decline() {
    let (_g, s) = service("svc-decl");
    let mut server = s.server().unwrap();
    let mut client = s.client().unwrap();
    let id = client.send_request(b"no").unwrap();
    let req = server.recv_request().unwrap();
    server.decline(req.id()).unwrap();
    assert_eq!(client.recv_reply(), Err(CallError::Declined(id)));
    assert!(matches!(
        server.decline(id),
        Err(ReplyError::UnknownRequest(_))
    ));
    assert_eq!(server.stats().declined, 1);
}

/// A server dropped with requests received and unanswered, and one still
/// waiting in the mailbox: the callers get `Declined` for each.
#[test]
fn dropped_server_declines_what_it_holds() {
    let (_g, s) = service("svc-drop");
    let mut server = s.server().unwrap();
    let mut client = s.client().unwrap();
    let ids: Vec<RequestId> = (0..3u8)
        .map(|i| client.send_request(&[i]).unwrap())
        .collect();
    server.recv_request().unwrap();
    server.recv_request().unwrap();
    drop(server);
    // In order of sequence numbers (the server declines them sorted).
    for id in &ids {
        assert_eq!(client.recv_reply(), Err(CallError::Declined(*id)));
    }
    // No server now: not sent.
    assert_eq!(client.call(b"anyone?"), Err(CallError::Disconnected));
}

/// A request addressed to a server that was replaced is refused, not
/// processed; the client then addresses the new server.
#[test]
fn refused_after_server_replaced() {
    let (_g, s) = service("svc-ref");
    let mut client = s.client().unwrap();
    let first = serve_n(s.server().unwrap(), 1);
    assert_eq!(client.call(b"one").unwrap(), b"eno");
    drop(first.join(LIMIT));
    let mut second = s.server().unwrap();
    // The client still addresses the first server.
    let id = client.send_request(b"two").unwrap();
    assert_eq!(second.try_recv_request(), Err(TryRecvError::Empty));
    assert_eq!(second.stats().refused, 1);
    assert_eq!(client.recv_reply(), Err(CallError::Refused(id)));
    let second = serve_n(second, 1);
    assert_eq!(client.call(b"three").unwrap(), b"eerht");
    assert_eq!(second.join(LIMIT).stats().requests, 1);
}

/// A reply left in a lane's reply queue for its earlier holder is not
/// taken by the next client of that lane.
#[test]
fn reply_for_earlier_lane_holder_is_not_taken() {
    let (_g, s) = service("svc-stale");
    let mut server = s.server().unwrap();
    let mut old = s.client().unwrap();
    let lane = old.lane();
    old.send_request(b"for the old one").unwrap();
    let req = server.recv_request().unwrap();
    drop(old);
    let mut new = s.client().unwrap();
    assert_eq!(new.lane(), lane);
    // The new client's sequence numbers start where the old one's did.
    server.reply(req.id(), b"stale").unwrap();
    let id = new.send_request(b"for the new one").unwrap();
    assert_eq!(id.seq(), req.id().seq());
    let req = server.recv_request().unwrap();
    server.reply(req.id(), b"fresh").unwrap();
    assert_eq!(new.recv_reply().unwrap(), (id, b"fresh".to_vec()));
    assert_eq!(new.stats().stale_replies, 1);
}

/// Requests and replies longer than the ring go in fragments.
#[test]
fn large_request_and_reply() {
    let (_g, s) = service("svc-big");
    let server = s.server().unwrap();
    let mut client = s.client().unwrap();
    let running = serve_n(server, 2);
    let big: Vec<u8> = (0..50_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
    assert_eq!(client.call(&big).unwrap(), reversed(&big));
    let small = client.call_with(&big[..3], |r| r.to_vec()).unwrap();
    assert_eq!(small, reversed(&big[..3]));
    running.join(LIMIT);
    let too_big = vec![0u8; (1 << 20) - 31];
    assert!(matches!(
        client.call(&too_big),
        Err(CallError::TooLarge { max, .. }) if max == (1 << 20) - 32
    ));
}

/// Garbage on a client's reply queue and in the mailbox is dropped and
/// counted; calls go on.
#[test]
fn malformed_messages_are_dropped() {
    let (g, s) = service("svc-bad");
    let mut client = s.client().unwrap();
    let mut header = [0u8; 32];
    header[0] = 2; // REPLY
    header[8..16].copy_from_slice(&0u64.to_le_bytes());
    header[16..24].copy_from_slice(&client.incarnation().to_le_bytes());
    // No server incarnation: malformed.
    let garbage: Vec<Vec<u8>> = vec![vec![], vec![1, 2, 3], vec![0xff; 40], header.to_vec(), {
        let mut h = header;
        h[24] = 1;
        h[4] = 1; // reserved word
        h.to_vec()
    }];
    {
        let replies = Queue::open(&format!("{}.r{}", g.name, client.lane())).unwrap();
        let mut tx = replies.sender().unwrap();
        for g in &garbage {
            tx.send(g).unwrap();
        }
        let mailbox = Queue::open(&g.name).unwrap();
        let mut raw = mailbox.sender().unwrap();
        for g in &garbage {
            raw.send(g).unwrap();
        }
    }
    let mut server = s.server().unwrap();
    assert_eq!(server.try_recv_request(), Err(TryRecvError::Empty));
    assert_eq!(server.stats().malformed_requests, garbage.len() as u64);
    let running = serve_n(server, 1);
    assert_eq!(client.call(b"still here").unwrap(), b"ereh llits");
    running.join(LIMIT);
    assert_eq!(client.stats().malformed_replies, garbage.len() as u64);
}

/// A call that times out is abandoned: its late reply is dropped, the next
/// call gets its own.
#[test]
fn timed_out_call_is_abandoned() {
    let (_g, s) = service("svc-late");
    let mut server = s.server().unwrap();
    let mut client = s.client().unwrap();
    let start = Instant::now();
    assert_eq!(
        client.call_timeout(b"slow", Duration::from_millis(50)),
        Err(CallError::Timeout)
    );
    assert!(start.elapsed() >= Duration::from_millis(50));
    let req = server.recv_request().unwrap();
    server.reply(req.id(), b"late").unwrap();
    let running = serve_n(server, 1);
    assert_eq!(client.call(b"next").unwrap(), b"txen");
    running.join(LIMIT);
    assert_eq!(client.stats().stale_replies, 1);
    assert_eq!(client.in_flight(), 0);
}

/// A reply that finds the client's reply queue full for the whole reply
/// timeout is dropped, and the client, still there, is told once there
/// is room: its call fails with `ReplyDropped` instead of hanging.
#[test]
fn slow_client_is_told_its_reply_was_dropped() {
    let (_g, b) = builder("svc-slow");
    let s = b.reply_timeout(Duration::from_millis(20)).create().unwrap();
    let mut server = s.server().unwrap();
    let mut client = s.client().unwrap();
    let first = client.send_request(b"big").unwrap();
    let second = client.send_request(b"small").unwrap();
    let (a, b) = (
        server.recv_request().unwrap(),
        server.recv_request().unwrap(),
    );
    let start = Instant::now();
    // Longer than the ring: it needs the client reading, which it is not.
    server.reply(a.id(), &[7u8; 3000]).unwrap();
    assert!(start.elapsed() >= Duration::from_millis(20));
    assert!(start.elapsed() < Duration::from_secs(5));
    assert_eq!(server.stats().dropped_replies, 1);
    server.reply(b.id(), b"ok").unwrap();
    // The notice goes when the server next looks for requests.
    let mut outcomes = Vec::new();
    while outcomes.len() < 2 {
        let _ = server.try_recv_request();
        match client.recv_reply_timeout(Duration::from_millis(50)) {
            Err(CallError::Timeout) => {}
            outcome => outcomes.push(outcome),
        }
        assert!(start.elapsed() < Duration::from_secs(10), "{outcomes:?}");
    }
    assert!(
        outcomes.contains(&Err(CallError::ReplyDropped(first))),
        "{outcomes:?}"
    );
    assert!(
        outcomes.contains(&Ok((second, b"ok".to_vec()))),
        "{outcomes:?}"
    );
}

#[test]
fn one_server_at_a_time_and_names_checked() {
    let (_g, s) = service("svc-one");
    let _server = s.server().unwrap();
    let err = s.server().unwrap_err();
    assert!(
        matches!(err.kind(), OpenErrorKind::AlreadyAttached { .. }),
        "{err}"
    );
    let clients: Vec<_> = (0..4).map(|_| s.client().unwrap()).collect();
    let err = s.client().unwrap_err();
    assert!(
        matches!(err.kind(), OpenErrorKind::TooManySenders { limit: 4 }),
        "{err}"
    );
    drop(clients);
    let long = "s".repeat(shmq::MAX_NAME_LEN - 2);
    let err = Service::builder(&long).clients(10).create().unwrap_err();
    assert!(
        matches!(err.kind(), OpenErrorKind::InvalidName { .. }),
        "{err}"
    );
    assert!(Queue::open(&long).is_err(), "nothing created");
    assert!(matches!(
        Service::remove("shmqt-no-such-service").unwrap_err().kind(),
        OpenErrorKind::NotFound
    ));
}

// ---------------------------------------------------------------------------
// Across processes

const SLOT_SIZE: usize = 64;
const SLOTS: usize = 64;

fn cross_service(tag: &str, clients: usize) -> TempService {
    let name = unique_name(tag);
    Service::builder(&name)
        .clients(clients)
        .slot_size(SLOT_SIZE)
        .slots(SLOTS)
        .create()
        .unwrap_or_else(|e| panic!("creating {name}: {e}"));
    TempService { name }
}

fn spawn_server(name: &str, reply_timeout_ms: u64) -> Peer {
    let mut p = Peer::spawn(&[
        "serve",
        name,
        &format!("reply_timeout_ms={reply_timeout_ms}"),
        "timeout_ms=60000",
    ]);
    p.expect_line("serving", STARTUP);
    p
}

fn spawn_client(name: &str, seed: u64, count: u64, extra: &[&str]) -> (Peer, usize) {
    let mut args = vec![
        "call-load".to_string(),
        name.to_string(),
        format!("seed={seed}"),
        format!("count={count}"),
        format!("slot_size={SLOT_SIZE}"),
        format!("slots={SLOTS}"),
        "timeout_ms=60000".to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut p = Peer::spawn(&args);
    let lane = support::numbers(&p.expect_line("attached", STARTUP), "attached")[0] as usize;
    (p, lane)
}

/// 4 client processes x 10,000 pipelined calls of random sizes (up to three
/// times the ring, so some go in fragments), every reply checked against
/// its request by the clients.
#[test]
fn four_clients_pipelined_load() {
    let _serial = serial();
    let svc = cross_service("svc-load", 4);
    let seed = test_seed();
    eprintln!("seed {seed:#x}");
    // A reply waits up to 5 s for room (a loaded machine may deschedule a
    // client for a while); none may be dropped.
    let mut server = spawn_server(&svc.name, 5_000);
    let start = Instant::now();
    let clients: Vec<Peer> = (0..4)
        .map(|k| spawn_client(&svc.name, seed ^ k, 10_000, &["window=8"]).0)
        .collect();
    for c in clients {
        let rest = c.finish(LIMIT);
        assert!(rest.contains("done 10000"), "client said {rest:?}");
    }
    eprintln!("4 x 10000 calls in {:?}", start.elapsed());
    server.check_not_failed();
    server.close_stdin();
    let rest = server.finish(LIMIT);
    assert!(rest.contains("served 40000 0"), "server said {rest:?}");
}

/// The server killed mid-load: every call in flight in every client fails
/// with `ServerDied` within 2 s, none returns a wrong reply (the clients
/// check); a new server then takes over and serves new calls.
#[test]
fn server_killed_then_taken_over() {
    let _serial = serial();
    let svc = cross_service("svc-kill", 4);
    let seed = test_seed();
    eprintln!("seed {seed:#x}");
    let mut server = spawn_server(&svc.name, 5_000);
    let mut clients: Vec<Peer> = (0..3)
        .map(|k| {
            spawn_client(
                &svc.name,
                seed ^ k,
                1_000_000,
                &["window=8", "on_died=exit"],
            )
            .0
        })
        .collect();
    for c in &mut clients {
        c.expect_line("running", STARTUP);
    }
    let killed = server.kill();
    drop(server);
    for c in &mut clients {
        let line = c.expect_line("died", Duration::from_secs(5));
        let took = killed.elapsed();
        let n = support::numbers(&line, "died");
        eprintln!("client: {line} after {took:?}");
        assert!(took < Duration::from_secs(2), "ServerDied after {took:?}");
        assert!(n[0] >= 50);
    }
    for c in clients {
        c.finish(LIMIT);
    }
    // Takeover: a new server serves a new client.
    let mut server = spawn_server(&svc.name, 5_000);
    let (c, _) = spawn_client(&svc.name, seed ^ 99, 500, &[]);
    assert!(c.finish(LIMIT).contains("done 500"));
    server.check_not_failed();
}

/// A client killed mid-call: the server goes on serving the others, and
/// the dead client's lane is taken by the next client.
#[test]
fn client_killed_mid_call() {
    let _serial = serial();
    let svc = cross_service("svc-kcl", 3);
    let seed = test_seed();
    eprintln!("seed {seed:#x}");
    let mut server = spawn_server(&svc.name, 5_000);
    let (mut victim, victim_lane) = spawn_client(&svc.name, seed ^ 7, 1_000_000, &["window=16"]);
    victim.expect_line("running", STARTUP);
    let others: Vec<Peer> = (0..2)
        .map(|k| spawn_client(&svc.name, seed ^ k, 3_000, &["window=8"]).0)
        .collect();
    std::thread::sleep(Duration::from_millis(30));
    victim.kill();
    drop(victim);
    // Every other lane is held: the next client gets the dead one's.
    let (next, lane) = spawn_client(&svc.name, seed ^ 8, 2_000, &["window=8"]);
    assert_eq!(lane, victim_lane);
    for c in others {
        assert!(c.finish(LIMIT).contains("done 3000"));
    }
    assert!(next.finish(LIMIT).contains("done 2000"));
    server.check_not_failed();
}

/// A service removed while its processes use it goes on working for the
/// handles opened before: the server process maps every reply queue when
/// it opens the service, so its first reply after the removal reaches the
/// client (it used to open the reply queue by name then, create a fresh
/// one nobody read, and leave the call waiting for its timeout).
#[test]
fn removed_service_keeps_serving_open_handles() {
    let _serial = serial();
    let svc = cross_service("svc-gone", 2);
    let mut server = spawn_server(&svc.name, 100);
    let service = Service::open(&svc.name).unwrap();
    Service::remove(&svc.name).unwrap();
    let mut client = service.client().unwrap();
    for msg in [&b"after the removal"[..], b"and again"] {
        let reply = client
            .call_timeout(msg, Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("call after the removal: {e}"));
        // The peer's echo: the request reversed, then its length.
        let mut want = reversed(msg);
        want.extend_from_slice(&(msg.len() as u64).to_le_bytes());
        assert_eq!(reply, want);
    }
    assert!(
        !std::path::Path::new(&format!("/dev/shm/shmq.{}.r{}", svc.name, client.lane())).exists(),
        "no reply queue was created again by name"
    );
    drop(client);
    server.close_stdin();
    let rest = server.finish(LIMIT);
    assert!(rest.contains("served 2 0"), "server said {rest:?}");
}
