//! A service's client and server read messages that a hostile process
//! wrote into its queues: raw bytes, or 32-byte headers with any kind,
//! reserved word, correlation id, incarnations and body (the real client's
//! incarnation and ids in flight when the input asks, so forged replies
//! reach the client's bookkeeping). `service_messages` must never panic or
//! wait, and the client must only ever return outcomes for requests it
//! sent, each at most once.

#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use shmq::fuzz::{FuzzMessage, service_messages};

#[derive(Debug, Arbitrary)]
enum Message {
    Raw(Vec<u8>),
    Framed {
        /// 0-7: around the valid kinds (1-5); else any word.
        kind: u32,
        reserved_zero: bool,
        reserved: u32,
        id: u64,
        id_from_sent: bool,
        own_client: bool,
        client: u64,
        server: u64,
        body: Vec<u8>,
    },
}

#[derive(Debug, Arbitrary)]
struct Input {
    sent: u8,
    to_client: Vec<Message>,
    to_server: Vec<Message>,
}

fn view(m: &Message) -> FuzzMessage<'_> {
    match m {
        Message::Raw(bytes) => FuzzMessage::Raw(bytes),
        Message::Framed {
            kind,
            reserved_zero,
            reserved,
            id,
            id_from_sent,
            own_client,
            client,
            server,
            body,
        } => FuzzMessage::Framed {
            kind: if *kind < 1 << 31 { kind % 8 } else { *kind },
            reserved: if *reserved_zero { 0 } else { *reserved },
            id: *id,
            id_from_sent: *id_from_sent,
            client: (!own_client).then_some(*client),
            server: *server,
            body,
        },
    }
}

fuzz_target!(|input: Input| {
    let to_client: Vec<FuzzMessage<'_>> = input.to_client.iter().take(64).map(view).collect();
    let to_server: Vec<FuzzMessage<'_>> = input.to_server.iter().take(64).map(view).collect();
    service_messages(input.sent, &to_client, &to_server);
});
