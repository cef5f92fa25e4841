//! A shmq service as a transport: the parent is a client, the peer the
//! server (`shmq::Service`), used the way the library's documentation
//! suggests.
//!
//! A round trip is one [`shmq::Client::call_with`]: the request sent from
//! the caller's buffer, the reply copied out of the reply queue's ring
//! into the caller's reused buffer by the closure (and its length
//! checked). The server takes each request with
//! [`shmq::Server::recv_request_with`], copying it out into its own
//! buffer, as every peer echoes, and answers with [`shmq::Server::reply`]
//! from that buffer. Neither side allocates per call.
//!
//! The service is made as [`shmq::Service::builder`] makes it, with the
//! library's default number of client lanes ([`shmq::service::DEFAULT_CLIENTS`],
//! one of them attached), and with the plain queue's ring shape (`queue`:
//! 128-byte slots, at least 64 of them) sized for a message and the
//! service's 32-byte header, so a 64-byte request or reply takes one slot
//! as the plain queue's 64-byte message does: `shmq-service-spin`'s ratio
//! to `shmq-spin`, with which it is paired block for block, is the
//! service's own cost (the header, the correlation and its checks, the
//! mailbox's lanes).
//!
//! **Names.** Each process maps every queue of the service when it opens
//! it; the names are removed once the first call has come back (both
//! processes hold every queue open by then), or when the parent's end is
//! dropped before.
//!
//! The server waits for a request without a liveness check of its own
//! (`Server::recv_request_with` never reports a departed client); a peer
//! whose parent dies is killed with it (`peer`). A client whose server
//! dies fails its call (`CallError::ServerDied`).

use shmq::{Client, QueueBuilder, RequestId, Server, Service, WaitStrategy};

use super::error::{Context, Error, Result};
use super::queue::{self, Queues, copy_out, wrong_length};
use super::transport::Endpoint;

/// Bytes of the header before every request and reply body (see the
/// library's `service` module docs, "Wire format").
const HEADER: usize = 32;

/// A service's names, removed on drop unless already removed.
#[derive(Debug)]
struct Names(Option<String>);

impl Names {
    /// Removes the service's queues (the mailbox and every reply queue).
    fn remove(&mut self) {
        if let Some(name) = self.0.take() {
            let _ = Service::remove(&name);
        }
    }
}

impl Drop for Names {
    fn drop(&mut self) {
        self.remove();
    }
}

/// The parent's side, created before the peer starts: the service and
/// its client, and the service's queues for their counters.
#[derive(Debug)]
pub struct Created {
    names: Names,
    client: Client,
    queues: Queues,
}

impl Created {
    /// Creates the service `name` for `size`-byte requests and replies,
    /// both ends waiting with `wait`, and attaches the client.
    pub fn create(name: &str, size: usize, wait: WaitStrategy) -> Result<Self> {
        let message = size + HEADER;
        let service = Service::builder(name)
            .slot_size(queue::SLOT_SIZE)
            .slots(queue::latency_slots(message))
            .max_message_size(message.max(64) as u64)
            .wait_strategy(wait)
            .create()
            .with_context(|| format!("shmq: create service {name}"))?;
        // From here on, the guard removes what was created.
        let names = Names(Some(name.to_owned()));
        if service.max_body_size() < size as u64 {
            return Err(Error::new(format!(
                "shmq: the service carries bodies of up to {} bytes, not {size}",
                service.max_body_size()
            )));
        }
        let client = service.client().context("shmq: attach the client")?;
        let watch = |queue: &str| {
            QueueBuilder::new(queue)
                .open()
                .with_context(|| format!("shmq: open queue {queue} (for its counters)"))
        };
        // The reply queue's name, `NAME.r<lane>`, as the service's docs
        // give it.
        let queues = Queues::watch(watch(name)?, watch(&format!("{name}.r{}", client.lane()))?);
        Ok(Created {
            names,
            client,
            queues,
        })
    }

    /// The parent's end once the peer has opened the server, and the
    /// service's queues (for the sleep counters).
    pub fn connected(self) -> (ClientEnd, Queues) {
        let Created {
            names,
            client,
            queues,
        } = self;
        (ClientEnd { client, names }, queues)
    }
}

/// The peer's side: opens the service `name` (waiting with `wait`) and
/// attaches the server.
pub fn open(name: &str, wait: WaitStrategy) -> Result<ServerEnd> {
    let service = Service::builder(name)
        .wait_strategy(wait)
        .open()
        .with_context(|| format!("shmq: open service {name}"))?;
    let server = service.server().context("shmq: attach the server")?;
    Ok(ServerEnd {
        server,
        pending: None,
    })
}

/// The parent's end: a client, calling.
#[derive(Debug)]
pub struct ClientEnd {
    client: Client,
    /// The service's names until the first call has come back.
    names: Names,
}

impl Endpoint for ClientEnd {
    /// A request without waiting for its reply (only the stop message is
    /// sent so: it is not answered).
    fn send(&mut self, msg: &[u8]) -> Result<()> {
        self.client
            .send_request(msg)
            .map(drop)
            .context("shmq: send a request")
    }

    /// The next reply (not on the timed path: latency blocks call).
    fn recv(&mut self, buf: &mut [u8]) -> Result<()> {
        let (_, reply) = self.client.recv_reply().context("shmq: receive a reply")?;
        if copy_out(&reply, buf) == buf.len() {
            Ok(())
        } else {
            Err(wrong_length(reply.len(), buf.len()))
        }
    }

    #[inline]
    fn round_trip(&mut self, msg: &[u8], reply: &mut [u8]) -> Result<()> {
        let len = self
            .client
            .call_with(msg, |bytes| copy_out(bytes, reply))
            .context("shmq: call")?;
        // The server holds the reply queue now: the names can go (a
        // no-op after the first call).
        self.names.remove();
        if len == reply.len() {
            Ok(())
        } else {
            Err(wrong_length(len, reply.len()))
        }
    }
}

/// The peer's end: the server, answering each request with its echo.
#[derive(Debug)]
pub struct ServerEnd {
    server: Server,
    /// The request received and not answered yet.
    pending: Option<RequestId>,
}

impl Endpoint for ServerEnd {
    /// Answers the request last received with `msg`.
    #[inline]
    fn send(&mut self, msg: &[u8]) -> Result<()> {
        let id = self
            .pending
            .take()
            .ok_or_else(|| Error::new("shmq: a reply with no request to answer"))?;
        self.server.reply(id, msg).context("shmq: reply")
    }

    /// Waits for a request and copies it into `buf`.
    #[inline]
    fn recv(&mut self, buf: &mut [u8]) -> Result<()> {
        let (id, len) = self
            .server
            .recv_request_with(|req| (req.id(), copy_out(req.body(), buf)))
            .context("shmq: receive a request")?;
        self.pending = Some(id);
        if len == buf.len() {
            Ok(())
        } else {
            Err(wrong_length(len, buf.len()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::{SleepCounters, unique_name};

    #[test]
    fn a_call_is_answered_with_the_echo_and_the_names_go_after_the_first() {
        let name = unique_name();
        let created = Created::create(&name, 64, WaitStrategy::default()).expect("create");
        let mut server = open(&name, WaitStrategy::default()).expect("open");
        let (mut client, queues) = created.connected();
        let echo = std::thread::spawn(move || -> Result<()> {
            let mut buf = [0u8; 64];
            for _ in 0..3 {
                server.recv(&mut buf)?;
                server.send(&buf)?;
            }
            // A request of another length is refused by the server's end.
            let mut short = [0u8; 8];
            assert!(server.recv(&mut short).is_err());
            Ok(())
        });
        for i in 0..3u8 {
            let msg = [i; 64];
            let mut reply = [0u8; 64];
            client.round_trip(&msg, &mut reply).expect("call");
            assert_eq!(reply, msg);
            assert!(
                QueueBuilder::new(&name).open().is_err(),
                "the names are removed once a call came back"
            );
        }
        client.send(&[9; 64]).expect("send a request");
        echo.join().expect("server thread").expect("server");
        // The counters of both queues are read.
        assert!(queues.sleeps_per_message().is_some());
    }
}
