//! Request/response services: many client processes call one server
//! process.
//!
//! A service `NAME` is made of queues only, so it has no protocol of its
//! own in shared memory:
//!
//! - a **request mailbox** `NAME` (a queue with
//!   [`clients`](ServiceBuilder::clients) sender lanes): the server holds
//!   its receiver, each [`Client`] one sender lane;
//! - per lane `i`, a **reply queue** `NAME.r<i>` (a plain queue with the
//!   service's slot settings): the server is its sender, the client
//!   holding lane `i` its receiver. Every `Service` handle maps them all
//!   when it is opened (creating any that is missing), so its clients and
//!   server never look a queue up by name afterwards.
//!
//! Waiting, ownership, liveness and fragments are the queues': a request
//! or reply longer than the ring is streamed like any message, a client or
//! server that dies is detected as a queue end that dies, and a dead
//! client's lane (with its reply queue) is taken over by the next client.
//!
//! # Example
//!
//! ```rust,no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // The server process:
//! let service = shmq::Service::builder("upper").clients(8).open_or_create()?;
//! let mut server = service.server()?;
//! loop {
//!     let req = server.recv_request()?;
//!     server.reply(req.id(), &req.body().to_ascii_uppercase())?;
//! }
//! # }
//! ```
//!
//! ```rust,no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Any client process (up to 8 at a time):
//! let mut client = shmq::Service::builder("upper").clients(8).open_or_create()?.client()?;
//! assert_eq!(client.call(b"hello")?, b"HELLO");
//! // Pipelined: several requests in flight, replies in any order.
//! let a = client.send_request(b"a")?;
//! let b = client.send_request(b"b")?;
//! for _ in 0..2 {
//!     let (id, reply) = client.recv_reply()?;
//!     assert!(id == a || id == b);
//! }
//! # Ok(()) }
//! ```
//!
//! # Correlation and incarnations
//!
//! Every [`Client`] and [`Server`] handle draws a fresh nonzero 64-bit
//! *incarnation* when it is made. A request carries its client's
//! incarnation, a correlation id (the client's sequence number) and the
//! incarnation of the server it is meant for: the one that sent the
//! client's latest reply, or 0 (whoever serves) before the first reply and
//! after the client found its server gone. A server answers a request
//! meant for another incarnation with `REFUSED`, unprocessed
//! ([`CallError::Refused`](crate::CallError::Refused)). A client takes
//! only replies that carry its own incarnation and the id of a request in
//! flight: one left in the reply queue for an earlier holder of its lane,
//! or a late one for a call that timed out, is dropped and counted
//! ([`ClientStats`]).
//!
//! # Failures
//!
//! - **Server killed** (or gone) with requests in flight: each one fails
//!   with [`CallError::ServerDied`](crate::CallError::ServerDied) (the
//!   outcome is unknown) within about 100 ms. A waiting client looks at the
//!   mailbox's receiving end every 20 ms: a request fails once the server
//!   that held the end when it was sent (or the first one to take it, if
//!   none held it) is dead or gone, or another has attached since.
//! - **Client killed**: the server goes on; its replies to the dead client
//!   are dropped ([`ServerStats::dropped_replies`]); the next client takes
//!   the lane over.
//! - **Slow client**: a reply waits at most the service's
//!   [`reply_timeout`](ServiceBuilder::reply_timeout) (default 100 ms) for
//!   room in the client's reply queue, then is dropped and counted; the
//!   client, if still there, is told once its queue has room, and the
//!   call fails with
//!   [`CallError::ReplyDropped`](crate::CallError::ReplyDropped). A client
//!   sending while its request lane is full takes in the replies that
//!   arrive meanwhile, so a server blocked on its reply queue is released.
//! - **Declined**: a request the server drops unanswered
//!   ([`Server::decline`], or every unanswered one when the `Server` is
//!   dropped) fails with [`CallError::Declined`](crate::CallError::Declined).
//!
//! # Wire format
//!
//! Every request and reply is one queue message: a 32-byte header, then
//! the body. All fields little-endian:
//!
//! ```text
//!  0  kind      u32  1 REQUEST, 2 REPLY, 3 DECLINED, 4 REFUSED,
//!                    5 DROPPED (the reply was dropped: queue full)
//!  4  reserved  u32  0
//!  8  id        u64  correlation id (the client's sequence number)
//! 16  client    u64  the client handle's incarnation (nonzero)
//! 24  server    u64  REQUEST: the server incarnation it is meant for
//!                    (0: whoever serves); others: the answering server's
//!                    (nonzero)
//! 32  body           DECLINED, REFUSED and DROPPED have none
//! ```
//!
//! Every field of every message is checked on arrival; a message that
//! fails a check is dropped and counted, never trusted.
//!
//! Module map: `wire` (the header), `client`, `server`.

mod book;
mod client;
#[cfg(fuzzing)]
pub(crate) mod fuzzing;
mod server;
mod wire;

use std::fmt;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::error::{OpenError, OpenErrorKind};
use crate::queue::{MAX_SENDERS, Queue, QueueBuilder};
use crate::wait::WaitStrategy;

pub use client::{Client, ClientStats};
pub use server::{Request, RequestRef, Server, ServerStats};

/// Default number of client lanes of a service ([`ServiceBuilder::clients`]).
pub const DEFAULT_CLIENTS: usize = 16;
/// Most clients a service can have at a time.
pub const MAX_CLIENTS: usize = MAX_SENDERS;
/// Default time a reply waits for room in a slow client's reply queue
/// ([`ServiceBuilder::reply_timeout`]).
pub const DEFAULT_REPLY_TIMEOUT: Duration = Duration::from_millis(100);

/// Which request a reply or error is about: the client's lane, the client
/// handle's incarnation and the request's sequence number. The client
/// gets it from [`Client::send_request`], the server with each request.
///
/// # Examples
///
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut client = shmq::Service::builder("svc").open_or_create()?.client()?;
/// let id = client.send_request(b"ping")?;
/// let (answered, _reply) = client.recv_reply()?;
/// assert_eq!(answered, id);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RequestId {
    lane: u32,
    client: u64,
    seq: u64,
}

impl RequestId {
    /// The client's sequence number of the request (0 for its first).
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The client's lane.
    pub fn lane(&self) -> usize {
        self.lane as usize
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "request {} of lane {}", self.seq, self.lane)
    }
}

/// A fresh nonzero incarnation for a client or server handle: the pid and
/// the time, hashed with the standard library's randomly keyed hasher
/// (new keys for every call).
fn fresh_incarnation() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let token =
        std::collections::hash_map::RandomState::new().hash_one((std::process::id(), nanos));
    token.max(1)
}

/// Settings for creating or opening a service; ends in
/// [`create`](Self::create), [`open`](Self::open) or
/// [`open_or_create`](Self::open_or_create).
///
/// The slot settings apply to the request mailbox and to every reply
/// queue (each lane and each reply queue is a ring of `slots x
/// slot_size` bytes).
///
/// # Examples
///
/// ```no_run
/// # fn main() -> Result<(), shmq::OpenError> {
/// let service = shmq::Service::builder("resize")
///     .clients(4)
///     .slot_size(256)
///     .slots(256)
///     .reply_timeout(std::time::Duration::from_millis(10))
///     .open_or_create()?;
/// assert_eq!(service.max_clients(), 4);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct ServiceBuilder {
    name: String,
    queue: QueueBuilder,
    clients: usize,
    reply_timeout: Duration,
}

impl ServiceBuilder {
    /// Settings for the service called `name` (a queue name: its reply
    /// queues add `.r<lane>` to it, which must fit in
    /// [`MAX_NAME_LEN`](crate::MAX_NAME_LEN)), with the defaults.
    pub fn new(name: impl Into<String>) -> Self {
        let name = name.into();
        ServiceBuilder {
            queue: QueueBuilder::new(name.clone()),
            name,
            clients: DEFAULT_CLIENTS,
            reply_timeout: DEFAULT_REPLY_TIMEOUT,
        }
    }

    /// Settings for a service on the heap of this process, with no name
    /// (its mailbox and reply queues made as by
    /// [`QueueBuilder::in_process`]): for threads of one process, tests
    /// and the loom models. End it with [`create`](Self::create).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let service = shmq::ServiceBuilder::in_process().clients(2).create()?;
    /// let (mut client, mut server) = (service.client()?, service.server()?);
    /// let id = client.send_request(b"ping")?;
    /// let req = server.recv_request()?;
    /// server.reply(req.id(), b"pong")?;
    /// assert_eq!(client.recv_reply()?, (id, b"pong".to_vec()));
    /// # Ok(()) }
    /// ```
    pub fn in_process() -> Self {
        ServiceBuilder {
            queue: QueueBuilder::in_process(),
            name: String::new(),
            clients: DEFAULT_CLIENTS,
            reply_timeout: DEFAULT_REPLY_TIMEOUT,
        }
    }

    /// Most clients at a time, 1 to [`MAX_CLIENTS`] (default
    /// [`DEFAULT_CLIENTS`]): the request mailbox's sender lanes.
    pub fn clients(mut self, clients: usize) -> Self {
        self.clients = clients;
        self
    }

    /// Bytes per slot, as [`QueueBuilder::slot_size`].
    pub fn slot_size(mut self, bytes: usize) -> Self {
        self.queue = self.queue.slot_size(bytes);
        self
    }

    /// Slots per ring, as [`QueueBuilder::slots`].
    pub fn slots(mut self, count: usize) -> Self {
        self.queue = self.queue.slots(count);
        self
    }

    /// Longest message, as [`QueueBuilder::max_message_size`]; a request
    /// or reply body can be 32 bytes shorter (its header).
    pub fn max_message_size(mut self, bytes: u64) -> Self {
        self.queue = self.queue.max_message_size(bytes);
        self
    }

    /// File mode of the queues created, as [`QueueBuilder::mode`].
    pub fn mode(mut self, mode: u32) -> Self {
        self.queue = self.queue.mode(mode);
        self
    }

    /// How the ends wait, as [`QueueBuilder::wait_strategy`].
    pub fn wait_strategy(mut self, wait: WaitStrategy) -> Self {
        self.queue = self.queue.wait_strategy(wait);
        self
    }

    /// How long a [`Server::reply`] waits for room in a client's reply
    /// queue before it drops the reply (default
    /// [`DEFAULT_REPLY_TIMEOUT`]); zero: never wait. A setting of the
    /// handles made from this `Service`, not of the queues.
    pub fn reply_timeout(mut self, timeout: Duration) -> Self {
        self.reply_timeout = timeout;
        self
    }

    /// Creates the service; fails if its mailbox exists.
    ///
    /// # Errors
    ///
    /// As for [`QueueBuilder::create`]; [`OpenErrorKind::InvalidName`] if a
    /// reply queue's name would be too long, and
    /// [`OpenErrorKind::InvalidOptions`] for a client count out of range.
    pub fn create(self) -> Result<Service, OpenError> {
        self.finish(|b| b.create())
    }

    /// Opens the existing service (its existing settings win).
    ///
    /// # Errors
    ///
    /// As for [`QueueBuilder::open`] and [`create`](Self::create).
    pub fn open(self) -> Result<Service, OpenError> {
        self.finish(|b| b.open())
    }

    /// Opens the service, creating it if it does not exist.
    ///
    /// # Errors
    ///
    /// As for [`QueueBuilder::open_or_create`] and
    /// [`create`](Self::create).
    pub fn open_or_create(self) -> Result<Service, OpenError> {
        self.finish(|b| b.open_or_create())
    }

    fn finish(
        self,
        make: impl FnOnce(QueueBuilder) -> Result<Queue, OpenError>,
    ) -> Result<Service, OpenError> {
        if !(1..=MAX_CLIENTS).contains(&self.clients) {
            return Err(OpenError::from(OpenErrorKind::InvalidOptions(
                "a service has 1 to MAX_CLIENTS clients",
            ))
            .on(Some(&self.name)));
        }
        check_reply_names(&self.name, self.clients)?;
        let mailbox = make(self.queue.clone().senders(self.clients))?;
        // An existing service keeps its own lane count.
        check_reply_names(&self.name, mailbox.senders())?;
        // Every lane's reply queue, mapped now (and created if missing,
        // with the mailbox's slot settings): a handle's ends then never
        // look a queue up by name, so a service removed (or its names
        // reused) after it was opened cannot split a client from its
        // server. In-process, on the heap: they have no names.
        let settings = self
            .queue
            .clone()
            .slot_size(mailbox.slot_size())
            .slots(mailbox.slot_count())
            .max_message_size(mailbox.max_message_size())
            .senders(1);
        let replies = (0..mailbox.senders())
            .map(|lane| match mailbox.name() {
                Some(_) => settings
                    .clone()
                    .renamed(reply_name(&self.name, lane))
                    .open_or_create(),
                None => settings.clone().create(),
            })
            .collect::<Result<Vec<Queue>, OpenError>>()?;
        Ok(Service {
            name: self.name,
            mailbox,
            replies: Arc::new(replies),
            reply_timeout: self.reply_timeout,
        })
    }
}

/// The reply queue of lane `lane` of service `name`.
fn reply_name(name: &str, lane: usize) -> String {
    format!("{name}.r{lane}")
}

/// Fails if the longest reply queue name of a service `name` with `lanes`
/// lanes would not be a valid queue name.
fn check_reply_names(name: &str, lanes: usize) -> Result<(), OpenError> {
    let longest = reply_name(name, lanes.saturating_sub(1));
    if longest.len() > crate::segment::MAX_NAME_LEN {
        return Err(OpenErrorKind::InvalidName {
            name: name.to_owned(),
            reason: "too long for a service: its reply queues add \".r<lane>\" and must fit \
                     in MAX_NAME_LEN",
        }
        .into());
    }
    Ok(())
}

/// A request/response service: a request mailbox and a reply queue per
/// client lane (see the [module docs](self)). Attach the one
/// [`server`](Self::server) and any number of [`client`](Self::client)s
/// (up to [`max_clients`](Self::max_clients) at a time).
///
/// Cloning it is cheap (the mapping is shared).
///
/// # Examples
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let name = format!("doc-service-{}", std::process::id());
/// let service = shmq::Service::builder(&name).clients(2).slots(64).create()?;
/// let mut server = service.server()?;
/// let mut client = service.client()?;
/// let id = client.send_request(b"ping")?;
/// let req = server.recv_request()?;
/// assert_eq!((req.id(), req.body()), (id, &b"ping"[..]));
/// server.reply(req.id(), b"pong")?;
/// assert_eq!(client.recv_reply()?, (id, b"pong".to_vec()));
/// # drop((client, server));
/// shmq::Service::remove(&name)?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Service {
    name: String,
    mailbox: Queue,
    /// The reply queue of each lane, mapped when the service was opened.
    replies: Arc<Vec<Queue>>,
    reply_timeout: Duration,
}

impl Service {
    /// Settings for the service called `name`; see [`ServiceBuilder`].
    pub fn builder(name: impl Into<String>) -> ServiceBuilder {
        ServiceBuilder::new(name)
    }

    /// Opens the existing service `name`.
    ///
    /// # Errors
    ///
    /// As for [`ServiceBuilder::open`].
    pub fn open(name: &str) -> Result<Service, OpenError> {
        ServiceBuilder::new(name).open()
    }

    /// Removes the service `name`: its mailbox and every reply queue
    /// `name.r<i>` there is. Processes using it keep working on the removed
    /// queues, as with [`Queue::remove`].
    ///
    /// # Errors
    ///
    /// [`OpenErrorKind::NotFound`] if none of its queues exists;
    /// [`OpenErrorKind::InvalidName`] or [`OpenErrorKind::Io`].
    pub fn remove(name: &str) -> Result<(), OpenError> {
        let mailbox = Queue::remove(name);
        let mut removed = mailbox.is_ok();
        let mut first_error = match mailbox {
            Err(e) if !matches!(e.kind(), OpenErrorKind::NotFound) => Some(e),
            _ => None,
        };
        for lane in 0..MAX_CLIENTS {
            let reply = reply_name(name, lane);
            if reply.len() > crate::segment::MAX_NAME_LEN {
                break;
            }
            match Queue::remove(&reply) {
                Ok(()) => removed = true,
                Err(e) if matches!(e.kind(), OpenErrorKind::NotFound) => {}
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None if removed => Ok(()),
            None => Err(OpenError::from(OpenErrorKind::NotFound).on(Some(name))),
        }
    }

    /// Attaches a client: a lane of the request mailbox and that lane's
    /// reply queue. A client whose process died is
    /// replaced, its lane taken over.
    ///
    /// # Errors
    ///
    /// [`OpenErrorKind::TooManySenders`] if live clients hold every lane;
    /// [`OpenErrorKind::AlreadyAttached`] if a live process holds the
    /// lane's reply queue (another program using the queue `NAME.r<i>`);
    /// otherwise as for [`Queue::sender`] and opening a queue.
    pub fn client(&self) -> Result<Client, OpenError> {
        Client::attach(self)
    }

    /// Attaches the server: the receiving end of the request mailbox (one
    /// at a time; one whose process died is taken over).
    ///
    /// # Errors
    ///
    /// [`OpenErrorKind::AlreadyAttached`] if a live server (in this process
    /// too) holds it; otherwise as for [`Queue::receiver`].
    pub fn server(&self) -> Result<Server, OpenError> {
        Server::attach(self)
    }

    /// The service's name (that of its request mailbox).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Most clients at a time: the mailbox's lanes.
    pub fn max_clients(&self) -> usize {
        self.mailbox.senders()
    }

    /// Longest request or reply body: the queues' `max_message_size` less
    /// the 32-byte header.
    pub fn max_body_size(&self) -> u64 {
        self.mailbox
            .max_message_size()
            .saturating_sub(wire::HEADER_LEN as u64)
    }

    /// The reply queue of `lane`.
    fn reply_queue(&self, lane: usize) -> Result<Queue, OpenError> {
        self.replies
            .get(lane)
            .cloned()
            .ok_or_else(|| OpenErrorKind::InvalidOptions("no such lane in this service").into())
    }
}
