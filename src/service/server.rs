//! The server end of a service: the request mailbox's receiver and the
//! sending ends of the reply queues.

use std::time::{Duration, Instant};

use super::book::Unanswered;
use super::wire::{self, Header, Kind, Wait};
use super::{RequestId, Service, fresh_incarnation};
use crate::channel::{Receiver, Sender, SenderId};
use crate::error::{
    OpenError, OpenErrorKind, RecvError, RecvTimeoutError, ReplyError, SendTimeoutError, Stop,
    TryRecvError,
};
use crate::wait::Deadline;

/// A request as the server receives it, from [`Server::recv_request`]:
/// its id (to [`reply`](Server::reply) with), who sent it and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    id: RequestId,
    from: SenderId,
    body: Vec<u8>,
}

impl Request {
    /// The id to answer it with.
    pub fn id(&self) -> RequestId {
        self.id
    }

    /// The process id of the client that sent it (`None` only if the
    /// segment did not say).
    pub fn client_pid(&self) -> Option<u32> {
        self.from.pid()
    }

    /// The client's lane and process.
    pub fn sender(&self) -> SenderId {
        self.from
    }

    /// The request's bytes.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The request's bytes, by value.
    pub fn into_body(self) -> Vec<u8> {
        self.body
    }
}

/// A request read in place, handed to the closure of
/// [`Server::recv_request_with`]. Its bytes are shared memory: copy
/// before validating if clients are not trusted.
#[derive(Debug, Clone, Copy)]
pub struct RequestRef<'a> {
    id: RequestId,
    from: SenderId,
    body: &'a [u8],
}

impl<'a> RequestRef<'a> {
    /// The id to answer it with.
    pub fn id(&self) -> RequestId {
        self.id
    }

    /// The process id of the client that sent it.
    pub fn client_pid(&self) -> Option<u32> {
        self.from.pid()
    }

    /// The client's lane and process.
    pub fn sender(&self) -> SenderId {
        self.from
    }

    /// The request's bytes.
    pub fn body(&self) -> &'a [u8] {
        self.body
    }

    /// A copy that outlives the receive.
    pub fn to_request(&self) -> Request {
        Request {
            id: self.id,
            from: self.from,
            body: self.body.to_vec(),
        }
    }
}

/// A server's counts, from [`Server::stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerStats {
    /// Requests received and handed to the program.
    pub requests: u64,
    /// Replies sent.
    pub replies: u64,
    /// Requests declined ([`Server::decline`], or when the server was
    /// dropped), whether or not the answer could be delivered.
    pub declined: u64,
    /// Requests meant for another server incarnation, answered `REFUSED`.
    pub refused: u64,
    /// Answers dropped: the client was gone, or its reply queue stayed
    /// full for the whole `reply_timeout`.
    pub dropped_replies: u64,
    /// Messages in the mailbox that failed a wire format check (or
    /// repeated a request id in flight), dropped.
    pub malformed_requests: u64,
}

/// The server of a [`Service`]: receives requests from every client and
/// answers each one, with [`reply`](Self::reply) or
/// [`decline`](Self::decline). From [`Service::server`]; one live server
/// at a time, one whose process died is taken over.
///
/// # Replies and slow clients
///
/// A reply goes to the client's reply queue. If that queue is full, the
/// reply waits up to the service's
/// [`reply_timeout`](super::ServiceBuilder::reply_timeout) for room
/// (default 100 ms, zero for never), then is dropped and counted in
/// [`ServerStats::dropped_replies`]; so does a reply to a client that is
/// gone (detached, or found dead), at once. Neither is an error: the
/// server goes on. A client still there is told, as soon as its reply
/// queue has room (the server tries again on each receive, and every
/// 10 ms while it waits for requests): its call fails with
/// [`CallError::ReplyDropped`](crate::CallError::ReplyDropped).
///
/// # Dropping
///
/// Dropping the server takes the requests already waiting in the mailbox
/// and declines them with every request received and not answered, without
/// waiting for room: their callers get [`CallError::Declined`]
/// (or, for an answer that did not fit, [`CallError::ServerDied`]).
///
/// [`CallError::Declined`]: crate::CallError::Declined
/// [`CallError::ServerDied`]: crate::CallError::ServerDied
///
/// # Examples
///
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut server = shmq::Service::builder("echo").open_or_create()?.server()?;
/// loop {
///     // In place: the closure reads the request in the ring.
///     let (id, reversed) = server.recv_request_with(|req| {
///         (req.id(), req.body().iter().rev().copied().collect::<Vec<u8>>())
///     })?;
///     server.reply(id, &reversed)?;
/// }
/// # }
/// ```
#[derive(Debug)]
pub struct Server {
    // Dropped first: clients see the server gone only after the declines
    // sent in `drop`.
    requests: Receiver,
    /// The sending end of each lane's reply queue (mapped with the
    /// service), attached on first use.
    replies: Vec<Option<Sender>>,
    /// Per lane: the reply queue's receiver epoch at which its holder was
    /// found gone (replies to it are dropped at once until it changes).
    gone: Vec<Option<u32>>,
    service: Service,
    incarnation: u64,
    unanswered: Unanswered,
    /// Answers dropped for a full reply queue whose client was alive, to
    /// be told (header only) once there is room.
    owed: Vec<Owed>,
    scratch: Vec<u8>,
    stats: ServerStats,
    /// Set while dropping: nothing waits for room then.
    closing: bool,
    /// Loom models only: the process died (`loom_die`); the drop answers
    /// nothing.
    dead: bool,
}

/// An answer the server owes a client whose reply queue was full.
#[derive(Debug, Clone, Copy)]
struct Owed {
    id: RequestId,
    /// The reply queue's receiver epoch then: a later holder is not told.
    epoch: u32,
    /// What to send: `Dropped` for a reply, else the answer itself.
    kind: Kind,
}

/// Most answers owed at a time; beyond, a dropped answer is not told.
const MAX_OWED: usize = 4096;
/// How often a server owing answers tries to send them while it waits.
const OWED_RETRY: Duration = Duration::from_millis(10);

/// What one message in the mailbox turned out to be.
enum Next<R> {
    Taken(R),
    Refuse(RequestId),
    Malformed,
}

impl Server {
    pub(super) fn attach(service: &Service) -> Result<Server, OpenError> {
        let requests = service.mailbox.receiver()?;
        let lanes = service.mailbox.senders();
        Ok(Server {
            requests,
            replies: (0..lanes).map(|_| None).collect(),
            gone: vec![None; lanes],
            service: service.clone(),
            incarnation: fresh_incarnation(),
            unanswered: Unanswered::new(lanes),
            owed: Vec::new(),
            scratch: Vec::new(),
            stats: ServerStats::default(),
            closing: false,
            dead: false,
        })
    }

    /// Waits for a request. A server with no client waits for one (it
    /// never reports `Disconnected`).
    ///
    /// # Errors
    ///
    /// [`RecvError::Corrupted`] if the mailbox broke the protocol.
    pub fn recv_request(&mut self) -> Result<Request, RecvError> {
        self.recv_core(Deadline::Never, |r| r.to_request())
            .map_err(Stop::into_recv)
    }

    /// Waits for a request and hands it to `f` in place (no copy: the
    /// bytes are in the ring, or in the reassembly buffer for a request
    /// longer than it); the request is then unanswered until
    /// [`reply`](Self::reply) or [`decline`](Self::decline) with its id.
    ///
    /// # Errors
    ///
    /// As for [`recv_request`](Self::recv_request).
    pub fn recv_request_with<R>(
        &mut self,
        f: impl FnOnce(RequestRef<'_>) -> R,
    ) -> Result<R, RecvError> {
        self.recv_core(Deadline::Never, f).map_err(Stop::into_recv)
    }

    /// Like [`recv_request`](Self::recv_request), waiting at most
    /// `timeout`.
    ///
    /// # Errors
    ///
    /// [`RecvTimeoutError::Timeout`], [`RecvTimeoutError::Corrupted`].
    pub fn recv_request_timeout(&mut self, timeout: Duration) -> Result<Request, RecvTimeoutError> {
        self.recv_core(Deadline::after(timeout), |r| r.to_request())
            .map_err(Stop::into_recv_timeout)
    }

    /// Like [`recv_request`](Self::recv_request), but never waits.
    ///
    /// # Errors
    ///
    /// [`TryRecvError::Empty`], [`TryRecvError::Corrupted`].
    pub fn try_recv_request(&mut self) -> Result<Request, TryRecvError> {
        self.recv_core(Deadline::Now, |r| r.to_request())
            .map_err(Stop::into_try_recv)
    }

    fn recv_core<R>(
        &mut self,
        deadline: Deadline,
        f: impl FnOnce(RequestRef<'_>) -> R,
    ) -> Result<R, Stop> {
        let mut f = Some(f);
        loop {
            self.flush_owed();
            // Owing answers, wake up now and then to try them again.
            let slice = match (self.owed.is_empty(), deadline) {
                (true, _) | (false, Deadline::Now) => deadline,
                (false, Deadline::Never) => Deadline::after(OWED_RETRY),
                (false, Deadline::At(at)) => Deadline::At(at.min(Instant::now() + OWED_RETRY)),
            };
            let incarnation = self.incarnation;
            let unanswered = &mut self.unanswered;
            let next = self.requests.recv_with_from_deadline(slice, |msg, from| {
                let Some((h, body)) = Header::parse(msg) else {
                    return Next::Malformed;
                };
                let id = RequestId {
                    lane: from.lane() as u32,
                    client: h.client,
                    seq: h.id,
                };
                // A repeat of an id unanswered is malformed, whoever it
                // is meant for.
                if h.kind != Kind::Request || f.is_none() {
                    return Next::Malformed;
                }
                if h.server != 0 && h.server != incarnation {
                    return match unanswered.contains(&id) {
                        true => Next::Malformed,
                        false => Next::Refuse(id),
                    };
                }
                if !unanswered.insert(id) {
                    return Next::Malformed;
                }
                match f.take() {
                    Some(f) => Next::Taken(f(RequestRef { id, from, body })),
                    None => Next::Malformed,
                }
            });
            match next {
                Ok(Next::Taken(r)) => {
                    self.stats.requests += 1;
                    return Ok(r);
                }
                Ok(Next::Refuse(id)) => {
                    self.stats.refused += 1;
                    let _ = self.answer(id, Kind::Refused, &[]);
                }
                Ok(Next::Malformed) => self.stats.malformed_requests += 1,
                Err(Stop::Disconnected) => {
                    // Every client left: wait for the next one.
                    let waited = match deadline {
                        Deadline::Now => Err(Stop::WouldBlock),
                        Deadline::Never => self
                            .requests
                            .wait_for_sender()
                            .map_err(|_| Stop::Disconnected),
                        Deadline::At(at) => self
                            .requests
                            .wait_for_sender_timeout(at.saturating_duration_since(Instant::now()))
                            .map_err(|e| match e {
                                RecvTimeoutError::Timeout => Stop::Timeout,
                                RecvTimeoutError::Corrupted(c) => Stop::Corrupted(c),
                                _ => Stop::Disconnected,
                            }),
                    };
                    waited?;
                }
                Err(Stop::Timeout)
                    if match deadline {
                        Deadline::Never => true,
                        Deadline::At(at) => Instant::now() < at,
                        Deadline::Now => false,
                    } => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Answers the request `id` with `reply`. The request is answered
    /// whether or not the reply can be delivered: to a client that is gone,
    /// or whose reply queue stays full for the service's `reply_timeout`,
    /// it is dropped and counted ([`ServerStats::dropped_replies`]), not
    /// an error.
    ///
    /// # Errors
    ///
    /// [`ReplyError::UnknownRequest`] if `id` is not a request this server
    /// received and has not answered; [`ReplyError::TooLarge`] (the
    /// request stays unanswered); [`ReplyError::Open`] if the reply queue
    /// cannot be opened, [`ReplyError::Corrupted`] if it broke the
    /// protocol.
    pub fn reply(&mut self, id: RequestId, reply: &[u8]) -> Result<(), ReplyError> {
        let max = usize::try_from(self.service.max_body_size()).unwrap_or(usize::MAX);
        if reply.len() > max && self.unanswered.contains(&id) {
            return Err(ReplyError::TooLarge {
                len: reply.len(),
                max,
            });
        }
        if !self.unanswered.remove(&id) {
            return Err(ReplyError::UnknownRequest(id));
        }
        let sent = self.answer(id, Kind::Reply, reply)?;
        if sent {
            self.stats.replies += 1;
        }
        Ok(())
    }

    /// Answers the request `id` with "declined": its caller gets
    /// [`CallError::Declined`](crate::CallError::Declined).
    ///
    /// # Errors
    ///
    /// As for [`reply`](Self::reply).
    pub fn decline(&mut self, id: RequestId) -> Result<(), ReplyError> {
        if !self.unanswered.remove(&id) {
            return Err(ReplyError::UnknownRequest(id));
        }
        self.stats.declined += 1;
        self.answer(id, Kind::Declined, &[]).map(drop)
    }

    /// Requests received and not answered.
    pub fn unanswered(&self) -> usize {
        self.unanswered.len()
    }

    /// This handle's incarnation, carried in its answers.
    pub fn incarnation(&self) -> u64 {
        self.incarnation
    }

    /// The server's counts.
    pub fn stats(&self) -> ServerStats {
        self.stats
    }

    /// Tells the clients still there of the answers dropped for them,
    /// where their reply queue has room now (never waits).
    fn flush_owed(&mut self) {
        if self.owed.is_empty() {
            return;
        }
        let mut owed = std::mem::take(&mut self.owed);
        owed.retain(|o| {
            let Ok(tx) = reply_sender(&mut self.replies, &self.service, o.id.lane()) else {
                return false;
            };
            let (epoch, token) = tx.receiver_owner();
            if epoch != o.epoch || token == 0 {
                return false; // Gone: nobody to tell.
            }
            let header = Header {
                kind: o.kind,
                id: o.id.seq,
                client: o.id.client,
                server: self.incarnation,
            };
            matches!(
                wire::send(tx, &mut self.scratch, &header, &[], Wait::Never),
                Err(SendTimeoutError::Timeout)
            )
        });
        self.owed = owed;
    }

    /// Sends an answer to the client of `id`; whether it was delivered
    /// (else it was dropped and counted).
    fn answer(&mut self, id: RequestId, kind: Kind, body: &[u8]) -> Result<bool, ReplyError> {
        let wait = match self.service.reply_timeout {
            _ if self.closing => Wait::Never,
            Duration::ZERO => Wait::Never,
            t => Wait::For(t),
        };
        self.answer_waiting(id, kind, body, wait)
    }

    fn answer_waiting(
        &mut self,
        id: RequestId,
        kind: Kind,
        body: &[u8],
        wait: Wait,
    ) -> Result<bool, ReplyError> {
        let lane = id.lane();
        let tx = match reply_sender(&mut self.replies, &self.service, lane) {
            Ok(tx) => tx,
            Err(e) => {
                self.stats.dropped_replies += 1;
                return Err(ReplyError::Open(e));
            }
        };
        // A client that detached, or one found gone before: drop at once.
        let (epoch, token) = tx.receiver_owner();
        if token == 0 || self.gone[lane] == Some(epoch) {
            self.stats.dropped_replies += 1;
            return Ok(false);
        }
        self.gone[lane] = None;
        let header = Header {
            kind,
            id: id.seq,
            client: id.client,
            server: self.incarnation,
        };
        match wire::send(tx, &mut self.scratch, &header, body, wait) {
            Ok(()) => Ok(true),
            Err(SendTimeoutError::Timeout) => {
                self.stats.dropped_replies += 1;
                if !crate::peer::is_alive(token) {
                    // A holder that is dead but was never this sender's
                    // peer is not noticed by the queue: remember it, so
                    // the next replies do not wait for room too.
                    self.gone[lane] = Some(epoch);
                } else if self.owed.len() < MAX_OWED {
                    // A slow client: tell it once there is room.
                    let kind = match kind {
                        Kind::Reply => Kind::Dropped,
                        other => other,
                    };
                    self.owed.push(Owed { id, epoch, kind });
                }
                Ok(false)
            }
            Err(SendTimeoutError::Disconnected) => {
                self.stats.dropped_replies += 1;
                Ok(false)
            }
            Err(SendTimeoutError::TooLarge { len, max }) => Err(ReplyError::TooLarge { len, max }),
            Err(SendTimeoutError::Corrupted(e)) => {
                self.stats.dropped_replies += 1;
                self.replies[lane] = None;
                Err(ReplyError::Corrupted(e))
            }
        }
    }
}

/// The sending end of `lane`'s reply queue, attached on first use.
fn reply_sender<'a>(
    replies: &'a mut [Option<Sender>],
    service: &Service,
    lane: usize,
) -> Result<&'a mut Sender, OpenError> {
    let slot = replies.get_mut(lane).ok_or_else(|| {
        OpenError::from(OpenErrorKind::BadHeader("request from a lane out of range"))
    })?;
    if slot.is_none() {
        *slot = Some(service.reply_queue(lane)?.sender()?);
    }
    slot.as_mut()
        .ok_or_else(|| OpenError::from(OpenErrorKind::BadHeader("reply queue not attached")))
}

impl Server {
    /// Loom models only: the death of the server's process (killed in the
    /// middle of whatever it was doing), as clients and a successor see
    /// it: its ends keep the token of a dead process, and nothing it holds
    /// is answered or declined.
    #[cfg(shmq_loom)]
    #[doc(hidden)]
    pub fn loom_die(mut self) {
        self.requests.loom_die_in_place();
        for sender in self.replies.iter_mut().flatten() {
            sender.loom_die_in_place();
        }
        self.dead = true;
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.dead {
            return;
        }
        // Take what is waiting (a bounded number: clients may keep
        // sending), then decline everything unanswered, without waiting.
        self.closing = true;
        let budget = self.service.mailbox.senders() * self.service.mailbox.slot_count();
        for _ in 0..budget {
            if self.recv_core(Deadline::Now, |r| r.id()).is_err() {
                break;
            }
        }
        self.flush_owed();
        for id in self.unanswered.take_all() {
            self.stats.declined += 1;
            let _ = self.answer_waiting(id, Kind::Declined, &[], Wait::Never);
        }
    }
}
