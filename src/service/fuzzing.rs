//! The fuzz entry for services (`fuzz/fuzz_targets/service.rs`), compiled
//! only under `cfg(fuzzing)`: untrusted messages written into a service's
//! queues, as a buggy or hostile process could, read by the real client
//! and server.

// Not modelled under loom (it runs only in the fuzzer), so std's atomic
// counter rather than the crate's facade.
#![allow(clippy::disallowed_types)]

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use super::wire::{HEADER_LEN, Header, Kind};
use super::{RequestId, Service};
use crate::error::{CallError, TryRecvError};

/// One message a fuzz input writes into a queue.
#[derive(Debug, Clone, Copy)]
pub enum FuzzMessage<'a> {
    /// These bytes, as they are.
    Raw(&'a [u8]),
    /// A 32-byte header made of these fields, then `body`. `client: None`
    /// puts the real client's incarnation in (so the message gets past
    /// the first check), `id_from_sent` makes `id` one of the client's
    /// sequence numbers in flight (`id` modulo their count).
    Framed {
        /// The kind word.
        kind: u32,
        /// The reserved word (must be 0).
        reserved: u32,
        /// The correlation id.
        id: u64,
        /// Take `id` modulo the requests sent.
        id_from_sent: bool,
        /// The client incarnation, or the real client's.
        client: Option<u64>,
        /// The server incarnation.
        server: u64,
        /// The body.
        body: &'a [u8],
    },
}

/// What [`service_messages`] saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServiceOutcome {
    /// Replies the client returned.
    pub replies: usize,
    /// Errors the client returned for one request (declined, refused, ...).
    pub failed: usize,
    /// Requests the server returned.
    pub requests: usize,
}

/// Makes a fresh service (its own name in `/dev/shm`, removed before
/// returning), has a client send `sent` requests (at most 8), writes
/// `to_client` into the client's reply queue and lets the client take
/// what it can without waiting, then attaches the server, writes
/// `to_server` into the request mailbox on a lane of its own and lets the
/// server take and answer what it can without waiting.
///
/// Never panics, never waits for long (every call is non-blocking or has a
/// zero timeout), and checks that the client only ever returns outcomes
/// for requests it sent, each at most once, and that the server only
/// returns requests from lanes that sent some.
///
/// # Panics
///
/// If one of those checks fails (a bug), or the service cannot be created
/// (`/dev/shm` full or missing).
pub fn service_messages(
    sent: u8,
    to_client: &[FuzzMessage<'_>],
    to_server: &[FuzzMessage<'_>],
) -> ServiceOutcome {
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let name = format!(
        "shmq-fuzz-svc-{}-{}",
        std::process::id(),
        COUNT.fetch_add(1, Relaxed)
    );
    let _ = Service::remove(&name);
    let service = Service::builder(&name)
        .clients(2)
        .slot_size(64)
        .slots(64)
        .max_message_size(4096)
        .reply_timeout(Duration::ZERO)
        .create()
        .expect("create the fuzz service");
    /// Removes the service however this returns.
    struct Remove<'a>(&'a str);
    impl Drop for Remove<'_> {
        fn drop(&mut self) {
            let _ = Service::remove(self.0);
        }
    }
    let _remove = Remove(&name);
    let mut outcome = ServiceOutcome::default();

    // The client: requests in flight, then whatever lands in its replies.
    let mut client = service.client().expect("attach the fuzz client");
    let sent = u64::from(sent.min(8));
    let mut ids = Vec::new();
    for i in 0..sent {
        match client.send_request(&i.to_le_bytes()) {
            Ok(id) => ids.push(id),
            Err(e) => panic!("send request {i}: {e}"),
        }
    }
    {
        let replies = service
            .reply_queue(client.lane())
            .expect("open the reply queue");
        let mut forger = replies.sender().expect("the reply queue's sender");
        let mut buf = Vec::new();
        for msg in to_client {
            frame(msg, client.incarnation(), ids.len() as u64, &mut buf);
            let _ = forger.try_send(&buf);
        }
        let mut seen: Vec<RequestId> = Vec::new();
        for _ in 0..2 * to_client.len() + 2 {
            let id = match client.recv_reply_timeout(Duration::ZERO) {
                Ok((id, _)) => {
                    outcome.replies += 1;
                    id
                }
                Err(CallError::Timeout | CallError::NothingPending) => break,
                Err(e) => match e.request() {
                    Some(id) => {
                        outcome.failed += 1;
                        id
                    }
                    None => break,
                },
            };
            assert!(ids.contains(&id), "an outcome for {id}, never sent");
            assert!(!seen.contains(&id), "two outcomes for {id}");
            seen.push(id);
        }
    }
    let client_lane = client.lane();
    drop(client);

    // The server: the requests above, and forged ones on another lane.
    let mut server = service.server().expect("attach the fuzz server");
    {
        let mut forger = service.mailbox.sender().expect("a lane for the forger");
        let forged_lane = forger.lane();
        let mut buf = Vec::new();
        for msg in to_server {
            frame(msg, 1, 0, &mut buf);
            let _ = forger.try_send(&buf);
        }
        for _ in 0..to_server.len() + ids.len() + 2 {
            match server.try_recv_request() {
                Ok(req) => {
                    outcome.requests += 1;
                    let lane = req.id().lane();
                    assert!(
                        lane == forged_lane || lane == client_lane,
                        "a request from lane {lane}, which sent none"
                    );
                    let _ = server.reply(req.id(), req.body());
                }
                Err(TryRecvError::Empty) => break,
                Err(_) => break,
            }
        }
    }
    drop(server);
    outcome
}

/// Writes `msg` into `buf` as bytes: `client` is the real client's
/// incarnation, `sent` how many requests it has in flight.
fn frame(msg: &FuzzMessage<'_>, client: u64, sent: u64, buf: &mut Vec<u8>) {
    buf.clear();
    match *msg {
        FuzzMessage::Raw(bytes) => buf.extend_from_slice(bytes),
        FuzzMessage::Framed {
            kind,
            reserved,
            id,
            id_from_sent,
            client: forged,
            server,
            body,
        } => {
            let id = if id_from_sent && sent > 0 {
                id % sent
            } else {
                id
            };
            // The header's layout, written field by field so that any kind
            // and reserved word can be forged (`Header::bytes` only writes
            // valid kinds).
            let mut head = [0u8; HEADER_LEN];
            head[0..4].copy_from_slice(&kind.to_le_bytes());
            head[4..8].copy_from_slice(&reserved.to_le_bytes());
            head[8..16].copy_from_slice(&id.to_le_bytes());
            head[16..24].copy_from_slice(&forged.unwrap_or(client).to_le_bytes());
            head[24..32].copy_from_slice(&server.to_le_bytes());
            buf.extend_from_slice(&head);
            buf.extend_from_slice(body);
            // A well-formed header of a valid kind parses back to itself.
            if let Some((h, rest)) = Header::parse(buf) {
                assert_eq!(
                    h.bytes(),
                    head,
                    "a parsed header writes back the same bytes"
                );
                assert_eq!(rest, body);
                assert!(matches!(
                    h.kind,
                    Kind::Request | Kind::Reply | Kind::Declined | Kind::Refused | Kind::Dropped
                ));
            }
        }
    }
}
