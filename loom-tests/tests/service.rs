//! Loom models of the service rules (`src/service/`): correlation of
//! pipelined replies, a reply to a client that died, and a request in
//! flight while its server is replaced.
//!
//! Run as the models in `models.rs` (see there). The one-line library
//! changes that make each fail are listed in `docs/correctness.md`.
//!
//! Not modelled: a server that dies without a word. A client finds that by
//! a timed poll of the mailbox's owner word, and loom models no time (see
//! `Client::wait_once_untimed`); the kill -9 tests in `tests/service.rs`
//! cover it.

#![cfg(shmq_loom)]

use loom::sync::Arc;
use loom::sync::atomic::AtomicBool;
use loom::sync::atomic::Ordering::{Acquire, Release};
use loom::thread;
use shmq::{CallError, Service, ServiceBuilder, WaitStrategy};
use shmq_loom_tests::model;

/// An in-process service of `clients` lanes, rings of 4 slots of 64 bytes,
/// whose ends block on the futex (no spinning under loom).
fn service(clients: usize) -> Service {
    ServiceBuilder::in_process()
        .clients(clients)
        .slot_size(64)
        .slots(4)
        .max_message_size(1024)
        .wait_strategy(WaitStrategy::Block)
        .create()
        .expect("valid in-process service")
}

/// Proves: a client with two requests in flight gets each reply for its
/// own request, however the two threads interleave: `call` returns the
/// reply to its own request, passing over the reply to the earlier one
/// (which may come first), and keeps that for `recv_reply`.
#[test]
fn replies_go_to_their_requests() {
    model(|| {
        let svc = service(1);
        let mut client = svc.client().unwrap();
        let mut server = svc.server().unwrap();
        let srv = thread::spawn(move || {
            let a = server.recv_request().unwrap();
            let b = server.recv_request().unwrap();
            // Each answered with its own body, the earlier first: the
            // call, which waits for the later one, must pass over it.
            server.reply(a.id(), a.body()).unwrap();
            server.reply(b.id(), b.body()).unwrap();
            server
        });
        let first = client.send_request(b"first").unwrap();
        let second = client.call(b"second").unwrap();
        assert_eq!(second, b"second", "call got another request's reply");
        let (id, reply) = client.recv_reply().unwrap();
        assert_eq!((id, reply.as_slice()), (first, &b"first"[..]));
        drop(srv.join().unwrap());
    });
}

/// Proves: a request addressed to a server that has since been replaced
/// is never answered by its successor. The client learns server 1 from a
/// reply and sends a second request, which server 1 dies without taking
/// (killed: it declines nothing); server 2 takes over and finds the
/// request meant for server 1. The client's outcome is `Refused` (server
/// 2 saw it was not meant for it) or `ServerDied` (the client saw its
/// server dead first), never an answer from server 2.
#[test]
fn replaced_server_refuses_requests_meant_for_its_predecessor() {
    model(|| {
        let svc = service(1);
        let mut client = svc.client().unwrap();
        let first_server = svc.server().unwrap();
        let svc2 = svc.clone();
        let second_sent = Arc::new(AtomicBool::new(false));
        let sent = Arc::clone(&second_sent);
        let second_attached = Arc::new(AtomicBool::new(false));
        let attached = Arc::clone(&second_attached);
        let srv = thread::spawn(move || {
            let mut server = first_server;
            let req = server.recv_request().unwrap();
            server.reply(req.id(), b"from server 1").unwrap();
            // Killed once the second request is on its way, untaken.
            while !sent.load(Acquire) {
                thread::yield_now();
            }
            server.loom_die();
            let mut server = svc2.server().unwrap();
            attached.store(true, Release);
            // Answers what it takes (it refuses, inside `recv_request`,
            // what was meant for server 1) until the last client's "stop".
            loop {
                let req = server.recv_request().unwrap();
                if req.body() == b"stop" {
                    server.reply(req.id(), b"stopped").unwrap();
                    return server;
                }
                server.reply(req.id(), b"from server 2").unwrap();
            }
        });
        assert_eq!(client.call(b"one").unwrap(), b"from server 1");
        let two = client.send_request(b"two").unwrap();
        second_sent.store(true, Release);
        match client.recv_reply() {
            Err(CallError::Refused(id) | CallError::ServerDied(id)) => assert_eq!(id, two),
            other => panic!("the second request ended {other:?}"),
        }
        drop(client);
        // Once server 2 holds the mailbox, a new client (which has seen no
        // server) ends its loop.
        while !second_attached.load(Acquire) {
            thread::yield_now();
        }
        let mut last = svc.client().unwrap();
        assert_eq!(last.call(b"stop").unwrap(), b"stopped");
        drop(last);
        drop(srv.join().unwrap());
    });
}

/// Proves: a reply to a client that died is dropped without holding the
/// server up, and never reaches the client that takes its lane over. The
/// first client sends a request and dies; the server answers it with a
/// reply longer than the reply queue's ring (so it streams, and must wait
/// for room: the dead client never reads), then answers the second
/// client, which took the lane and its reply queue over and calls with the
/// same sequence number (0) as the dead one. The second client's call
/// returns its own reply, having passed over whatever of the first reply
/// reached it; the server answered both.
#[test]
fn reply_to_a_dead_client_is_dropped_and_not_taken_by_its_successor() {
    model(|| {
        let svc = service(1);
        let mut first = svc.client().unwrap();
        let mut server = svc.server().unwrap();
        first.send_request(b"first").unwrap();
        first.loom_die();
        let srv = thread::spawn(move || {
            for _ in 0..2 {
                let req = server.recv_request().unwrap();
                // The dead client's reply: 300 bytes, longer than the
                // ring (4 slots of 64 bytes).
                let reply = match req.body() {
                    b"first" => vec![b'1'; 300],
                    other => other.to_vec(),
                };
                server.reply(req.id(), &reply).unwrap();
            }
            server
        });
        let mut second = svc.client().unwrap();
        assert_eq!(second.call(b"second").unwrap(), b"second");
        let server = srv.join().unwrap();
        let stats = server.stats();
        assert_eq!(stats.replies + stats.dropped_replies, 2, "{stats:?}");
        drop(second);
        drop(server);
    });
}
