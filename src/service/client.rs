//! The client end of a service: a request lane and its reply queue.

use std::collections::VecDeque;

use std::time::{Duration, Instant};

use super::wire::{self, Header, Kind, Wait};
use super::{RequestId, Service, fresh_incarnation};
use crate::channel::{Receiver, Sender};
use crate::error::{
    CallError, OpenError, RecvError, RecvTimeoutError, SendTimeoutError, TryRecvError,
};

/// How often a waiting client looks whether its server is still there
/// (a `/proc` read).
const CHECK_EVERY: Duration = Duration::from_millis(20);
/// How long a send on a full request lane waits before the client takes in
/// replies (doubling while it keeps timing out, up to `MAX_PUMP_SLICE`).
const PUMP_SLICE: Duration = Duration::from_millis(1);
const MAX_PUMP_SLICE: Duration = Duration::from_millis(16);

/// A request sent and not yet answered.
#[derive(Debug, Clone, Copy)]
struct InFlight {
    seq: u64,
    /// The mailbox receiver's epoch read just before the send.
    epoch: u32,
    /// Whether a server held the mailbox's receiving end then (alive or
    /// not yet found dead).
    held: bool,
}

/// What one message on the reply queue turned out to be.
enum Got<R> {
    /// Failed a check of the wire format.
    Malformed,
    /// Not for a request of this handle in flight.
    Stale,
    /// A reply to a request in flight: made into `R` by the caller's
    /// closure if it was the one waited for, else copied.
    Reply {
        seq: u64,
        server: u64,
        value: Result<R, Vec<u8>>,
    },
    /// `Declined` or `Refused` for a request in flight.
    Failed { seq: u64, server: u64, kind: Kind },
}

/// What a client knows about replies, kept apart from its two queue ends
/// so a reply can be judged while the reply queue is borrowed.
#[derive(Debug)]
struct State {
    lane: u32,
    incarnation: u64,
    /// The server incarnation requests are addressed to (0: whoever).
    server: u64,
    next_seq: u64,
    /// In the order sent, so by rising `seq`.
    in_flight: VecDeque<InFlight>,
    /// Outcomes that came (or were decided) and were not taken yet, in
    /// order.
    ready: VecDeque<(RequestId, Result<Vec<u8>, CallError>)>,
    next_check: Instant,
    stats: ClientStats,
}

impl State {
    fn id(&self, seq: u64) -> RequestId {
        RequestId {
            lane: self.lane,
            client: self.incarnation,
            seq,
        }
    }

    /// Judges one message: the wire checks, then whose it is. Calls `f`
    /// if it is the reply to `wanted`.
    fn judge<R, F: FnOnce(&[u8]) -> R>(
        &self,
        msg: &[u8],
        wanted: Option<u64>,
        f: &mut Option<F>,
    ) -> Got<R> {
        let Some((h, body)) = Header::parse(msg) else {
            return Got::Malformed;
        };
        if h.kind == Kind::Request {
            return Got::Malformed;
        }
        if h.client != self.incarnation || self.position(h.id).is_none() {
            return Got::Stale;
        }
        match h.kind {
            Kind::Reply => {
                let mine = if wanted == Some(h.id) { f.take() } else { None };
                let value = match mine {
                    Some(f) => Ok(f(body)),
                    None => Err(body.to_vec()),
                };
                Got::Reply {
                    seq: h.id,
                    server: h.server,
                    value,
                }
            }
            kind => Got::Failed {
                seq: h.id,
                server: h.server,
                kind,
            },
        }
    }

    /// Files what `judge` found: `Some(r)` if it is the wanted reply, made
    /// by the caller's closure; other outcomes go to `ready`.
    fn note<R>(&mut self, got: Got<R>) -> Option<R> {
        let (seq, server, outcome) = match got {
            Got::Malformed => {
                self.stats.malformed_replies += 1;
                return None;
            }
            Got::Stale => {
                self.stats.stale_replies += 1;
                return None;
            }
            Got::Reply {
                seq,
                server,
                value: Ok(r),
            } => {
                self.server = server;
                self.forget(seq);
                return Some(r);
            }
            Got::Reply {
                seq,
                server,
                value: Err(bytes),
            } => (seq, server, Ok(bytes)),
            Got::Failed { seq, server, kind } => {
                let id = self.id(seq);
                let e = match kind {
                    Kind::Refused => CallError::Refused(id),
                    Kind::Dropped => CallError::ReplyDropped(id),
                    _ => CallError::Declined(id),
                };
                (seq, server, Err(e))
            }
        };
        self.server = server;
        self.forget(seq);
        self.ready.push_back((self.id(seq), outcome));
        None
    }

    /// Where request `seq` is in `in_flight`: the oldest first (replies
    /// usually come in order), else a binary search.
    fn position(&self, seq: u64) -> Option<usize> {
        match self.in_flight.front() {
            Some(p) if p.seq == seq => Some(0),
            Some(_) => {
                let at = self.in_flight.partition_point(|p| p.seq < seq);
                self.in_flight
                    .get(at)
                    .is_some_and(|p| p.seq == seq)
                    .then_some(at)
            }
            None => None,
        }
    }

    /// Request `seq` is no longer in flight.
    fn forget(&mut self, seq: u64) {
        match self.position(seq) {
            Some(0) => drop(self.in_flight.pop_front()),
            Some(at) => drop(self.in_flight.remove(at)),
            None => {}
        }
    }

    /// Takes the outcome of `seq` if it has come.
    fn take_ready(&mut self, seq: u64) -> Option<Result<Vec<u8>, CallError>> {
        let at = self.ready.iter().position(|(id, _)| id.seq == seq)?;
        self.ready.remove(at).map(|(_, outcome)| outcome)
    }
}

/// A client of a [`Service`]: a lane of its request mailbox and that
/// lane's reply queue. From [`Service::client`]; one live holder per lane,
/// up to [`Service::max_clients`] at a time. Dropping it gives the lane
/// back.
///
/// Calls block (bound them with [`call_timeout`](Self::call_timeout));
/// [`send_request`](Self::send_request) and
/// [`recv_reply`](Self::recv_reply) keep several requests in flight,
/// their replies taken in the order they come.
///
/// A client whose server dies, leaves or is replaced fails every request
/// that server may hold with [`CallError::ServerDied`] within about 100 ms
/// (see the [module docs](crate::service)); calls work again once a
/// server is attached.
///
/// # Examples
///
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut client = shmq::Service::builder("kv").open_or_create()?.client()?;
/// let reply = client.call(b"get x")?;
/// let len = client.call_with(b"get y", |reply| reply.len())?; // read in place
/// # let _ = (reply, len);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Client {
    // Dropped in this order: the reply queue is given back before the
    // lane, so whoever takes the lane next finds it free.
    replies: Receiver,
    requests: Sender,
    state: State,
    scratch: Vec<u8>,
}

/// A client's counts of replies it dropped, from [`Client::stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientStats {
    /// Replies for no request of this handle in flight: left for an earlier
    /// holder of the lane, or late, for calls that timed out or were failed.
    pub stale_replies: u64,
    /// Messages on the reply queue that failed a wire format check.
    pub malformed_replies: u64,
}

impl Client {
    pub(super) fn attach(service: &Service) -> Result<Client, OpenError> {
        let requests = service.mailbox.sender()?;
        let lane = requests.lane();
        let replies = service.reply_queue(lane)?.receiver()?;
        Ok(Client {
            replies,
            requests,
            state: State {
                lane: lane as u32,
                incarnation: fresh_incarnation(),
                server: 0,
                next_seq: 0,
                in_flight: VecDeque::new(),
                ready: VecDeque::new(),
                next_check: Instant::now(),
                stats: ClientStats::default(),
            },
            scratch: Vec::new(),
        })
    }

    /// Sends a request and waits for its reply.
    ///
    /// Replies to other requests in flight that come meanwhile are kept
    /// for [`recv_reply`](Self::recv_reply).
    ///
    /// # Errors
    ///
    /// [`CallError::ServerDied`] if the server died (or left) holding it:
    /// the outcome is unknown; [`CallError::Refused`] (not processed),
    /// [`CallError::Declined`], [`CallError::Disconnected`] (no server: not
    /// sent), [`CallError::TooLarge`], [`CallError::Corrupted`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let mut client = shmq::Service::open("echo")?.client()?;
    /// assert_eq!(client.call(b"hi")?, b"hi");
    /// # Ok(()) }
    /// ```
    pub fn call(&mut self, request: &[u8]) -> Result<Vec<u8>, CallError> {
        self.call_with(request, <[u8]>::to_vec)
    }

    /// Like [`call`](Self::call), handing `f` the reply's bytes in place
    /// (in the reply queue's ring, or its reassembly buffer for a reply
    /// longer than the ring) instead of copying them.
    ///
    /// The bytes are shared memory: copy before validating if the server
    /// is not trusted.
    ///
    /// # Errors
    ///
    /// As for [`call`](Self::call).
    pub fn call_with<R>(
        &mut self,
        request: &[u8],
        f: impl FnOnce(&[u8]) -> R,
    ) -> Result<R, CallError> {
        self.call_until(request, None, f)
    }

    /// Like [`call`](Self::call), waiting at most `timeout` in all (for
    /// room to send, then for the reply).
    ///
    /// # Errors
    ///
    /// [`CallError::Timeout`]: the request was not sent, or its reply did
    /// not come in time; the call is then abandoned (its late reply is
    /// dropped, counted in [`ClientStats::stale_replies`]). Otherwise as
    /// for [`call`](Self::call).
    pub fn call_timeout(
        &mut self,
        request: &[u8],
        timeout: Duration,
    ) -> Result<Vec<u8>, CallError> {
        let deadline = Instant::now().checked_add(timeout);
        match deadline {
            Some(deadline) => self.call_until(request, Some(deadline), <[u8]>::to_vec),
            None => self.call(request),
        }
    }

    fn call_until<R>(
        &mut self,
        request: &[u8],
        deadline: Option<Instant>,
        f: impl FnOnce(&[u8]) -> R,
    ) -> Result<R, CallError> {
        let seq = self.send(request, deadline)?;
        let mut f = Some(f);
        loop {
            if let Some(outcome) = self.state.take_ready(seq) {
                return match (outcome, f.take()) {
                    (Ok(bytes), Some(f)) => Ok(f(&bytes)),
                    (Ok(_), None) => Err(CallError::Declined(self.state.id(seq))),
                    (Err(e), _) => Err(e),
                };
            }
            match self.wait_once(Some(seq), &mut f, deadline) {
                Ok(Some(r)) => return Ok(r),
                Ok(None) => {}
                Err(CallError::Timeout) => {
                    // Abandoned: a late reply finds it no longer in flight.
                    self.state.forget(seq);
                    return Err(CallError::Timeout);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Sends a request without waiting for its reply (pipelining): take
    /// the reply, with the returned id, from
    /// [`recv_reply`](Self::recv_reply). Waits while the request lane is
    /// full, taking in the replies that come meanwhile.
    ///
    /// # Errors
    ///
    /// [`CallError::Disconnected`] (no server: not sent),
    /// [`CallError::TooLarge`], [`CallError::Corrupted`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let mut client = shmq::Service::open("echo")?.client()?;
    /// let ids: Vec<_> = (0..8u8)
    ///     .map(|i| client.send_request(&[i]))
    ///     .collect::<Result<_, _>>()?;
    /// for _ in &ids {
    ///     let (id, reply) = client.recv_reply()?; // in the order they come
    ///     assert_eq!(reply, [id.seq() as u8]);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn send_request(&mut self, request: &[u8]) -> Result<RequestId, CallError> {
        let seq = self.send(request, None)?;
        Ok(self.state.id(seq))
    }

    /// Waits for the next outcome of a request in flight: its reply, or
    /// the error that ended it (which names it:
    /// [`CallError::request`]).
    ///
    /// # Errors
    ///
    /// [`CallError::NothingPending`] if no request is in flight;
    /// [`CallError::ServerDied`], [`CallError::Refused`] or
    /// [`CallError::Declined`] for one request; [`CallError::Corrupted`].
    pub fn recv_reply(&mut self) -> Result<(RequestId, Vec<u8>), CallError> {
        self.recv_reply_until(None)
    }

    /// Like [`recv_reply`](Self::recv_reply), waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`CallError::Timeout`] (every request stays in flight), otherwise
    /// as for `recv_reply`.
    pub fn recv_reply_timeout(
        &mut self,
        timeout: Duration,
    ) -> Result<(RequestId, Vec<u8>), CallError> {
        self.recv_reply_until(Instant::now().checked_add(timeout))
    }

    fn recv_reply_until(
        &mut self,
        deadline: Option<Instant>,
    ) -> Result<(RequestId, Vec<u8>), CallError> {
        loop {
            if let Some((id, outcome)) = self.state.ready.pop_front() {
                return outcome.map(|bytes| (id, bytes));
            }
            if self.state.in_flight.is_empty() {
                return Err(CallError::NothingPending);
            }
            let mut none: Option<fn(&[u8])> = None;
            self.wait_once(None, &mut none, deadline)?;
        }
    }

    /// Requests sent whose outcome has not been taken yet.
    pub fn in_flight(&self) -> usize {
        self.state.in_flight.len() + self.state.ready.len()
    }

    /// The client's lane (as the server sees it in [`RequestId::lane`]).
    pub fn lane(&self) -> usize {
        self.state.lane as usize
    }

    /// This handle's incarnation, carried in its requests.
    pub fn incarnation(&self) -> u64 {
        self.state.incarnation
    }

    /// Loom models only: the death of the client's process (killed in the
    /// middle of whatever it was doing), as the server and the next holder
    /// of its lane see it: its ends keep the token of a dead process.
    #[cfg(shmq_loom)]
    #[doc(hidden)]
    pub fn loom_die(mut self) {
        self.requests.loom_die_in_place();
        self.replies.loom_die_in_place();
    }

    /// Counts of the replies this handle dropped.
    pub fn stats(&self) -> ClientStats {
        self.state.stats
    }

    /// Sends a request; its sequence number. Takes in replies while the
    /// lane is full (a server blocked on sending us a reply would
    /// otherwise never read the lane).
    fn send(&mut self, body: &[u8], deadline: Option<Instant>) -> Result<u64, CallError> {
        let seq = self.state.next_seq;
        let header = Header {
            kind: Kind::Request,
            id: seq,
            client: self.state.incarnation,
            server: self.state.server,
        };
        // Before the send: a server that takes the request is this holder
        // or a later one (see `check_server`).
        let (epoch, token) = self.requests.receiver_owner();
        // A request that fits the ring is sent without waiting; while the
        // lane is full, the client waits on its reply queue instead (the
        // server answers what it reads from the lane, and may itself be
        // waiting for room there). A longer one is streamed, waiting for
        // room a slice at a time (growing), taking in replies between.
        let fits = wire::HEADER_LEN.saturating_add(body.len()) <= self.requests.capacity();
        // The usual case first, without reading the clock: room now (with
        // replies to take in first only if some are in flight).
        let mut sent = false;
        if fits && deadline.is_none() {
            if !self.state.in_flight.is_empty() {
                self.drain()?;
            }
            match wire::send(
                &mut self.requests,
                &mut self.scratch,
                &header,
                body,
                Wait::Never,
            ) {
                Ok(()) => sent = true,
                Err(SendTimeoutError::Timeout) => {}
                Err(e) => return Err(send_failed(e, body.len())),
            }
        }
        // Loom models no time: there a request that does not go at once
        // waits for room untimed (see `wait_once_untimed`).
        #[cfg(shmq_loom)]
        if !sent {
            wire::send(
                &mut self.requests,
                &mut self.scratch,
                &header,
                body,
                Wait::Forever,
            )
            .map_err(|e| send_failed(e, body.len()))?;
            sent = true;
        }
        let mut slice = PUMP_SLICE;
        while !sent {
            self.drain()?;
            let now = Instant::now();
            let mut until = now + slice;
            if let Some(deadline) = deadline {
                if now >= deadline {
                    return Err(CallError::Timeout);
                }
                until = until.min(deadline);
            }
            let await_reply = fits && !self.state.in_flight.is_empty();
            let wait = if await_reply {
                Wait::Never
            } else {
                Wait::Until(until)
            };
            match wire::send(&mut self.requests, &mut self.scratch, &header, body, wait) {
                Ok(()) => sent = true,
                Err(SendTimeoutError::Timeout) if await_reply => {
                    self.pump(until.saturating_duration_since(now))?;
                }
                Err(SendTimeoutError::Timeout) => {
                    slice = (slice * 2).min(MAX_PUMP_SLICE);
                }
                Err(e) => return Err(send_failed(e, body.len())),
            }
        }
        self.state.next_seq += 1;
        self.state.in_flight.push_back(InFlight {
            seq,
            epoch,
            held: token != 0,
        });
        Ok(seq)
    }

    /// Waits up to `wait` for a message on the reply queue and takes it in.
    fn pump(&mut self, wait: Duration) -> Result<(), CallError> {
        let state = &mut self.state;
        let mut none: Option<fn(&[u8])> = None;
        match self
            .replies
            .recv_with_timeout(wait, |msg| state.judge(msg, None, &mut none))
        {
            Ok(got) => {
                state.note(got);
                Ok(())
            }
            Err(RecvTimeoutError::Disconnected) => {
                // No server sends on it now: sleep until one attaches.
                let _ = self.replies.wait_for_sender_timeout(wait);
                Ok(())
            }
            Err(RecvTimeoutError::Corrupted(e)) => Err(CallError::Corrupted(e)),
            Err(_) => Ok(()),
        }
    }

    /// Takes in every reply waiting, without waiting.
    fn drain(&mut self) -> Result<(), CallError> {
        let state = &mut self.state;
        loop {
            let mut none: Option<fn(&[u8])> = None;
            match self
                .replies
                .try_recv_with(|msg| state.judge(msg, None, &mut none))
            {
                Ok(got) => {
                    state.note(got);
                }
                Err(TryRecvError::Corrupted(e)) => return Err(CallError::Corrupted(e)),
                Err(_) => return Ok(()),
            }
        }
    }

    /// Waits for one event: a message on the reply queue (the reply to
    /// `wanted`, made by `f`, is returned), the next look at the server,
    /// or the deadline.
    fn wait_once<R, F: FnOnce(&[u8]) -> R>(
        &mut self,
        wanted: Option<u64>,
        f: &mut Option<F>,
        deadline: Option<Instant>,
    ) -> Result<Option<R>, CallError> {
        if crate::sync::LOOM {
            return self.wait_once_untimed(wanted, f);
        }
        // An answer already there is taken without reading the clock. Not
        // anything else: a stream of stale replies must not keep the
        // client from its deadline and its look at the server.
        let filed = self.state.ready.len();
        let state = &mut self.state;
        match self
            .replies
            .try_recv_with(|msg| state.judge(msg, wanted, f))
        {
            Ok(got) => {
                if let Some(r) = state.note(got) {
                    return Ok(Some(r));
                }
                if state.ready.len() != filed {
                    return Ok(None);
                }
            }
            Err(TryRecvError::Corrupted(e)) => return Err(CallError::Corrupted(e)),
            Err(_) => {}
        }
        let now = Instant::now();
        if now >= self.state.next_check {
            self.check_server()?;
            return Ok(None);
        }
        let mut until = self.state.next_check;
        if let Some(deadline) = deadline {
            if now >= deadline {
                return Err(CallError::Timeout);
            }
            until = until.min(deadline);
        }
        let state = &mut self.state;
        match self
            .replies
            .recv_with_timeout(until - now, |msg| state.judge(msg, wanted, f))
        {
            Ok(got) => Ok(state.note(got)),
            Err(RecvTimeoutError::Timeout) => Ok(None),
            Err(RecvTimeoutError::Disconnected) => {
                // The server that sent us replies left; until the next one
                // attaches this queue, sleep on it rather than spin.
                self.check_server()?;
                if !self.state.in_flight.is_empty() {
                    let now = Instant::now();
                    let until =
                        deadline.map_or(self.state.next_check, |d| d.min(self.state.next_check));
                    let _ = self
                        .replies
                        .wait_for_sender_timeout(until.saturating_duration_since(now));
                }
                Ok(None)
            }
            Err(RecvTimeoutError::Corrupted(e)) => Err(CallError::Corrupted(e)),
            Err(RecvTimeoutError::WrongSize { .. }) => Ok(None),
        }
    }

    /// [`wait_once`](Self::wait_once) under loom, which models no time: a
    /// timed wait is an untimed one there, and a look at the server whose
    /// cadence followed the clock would make a model take different paths
    /// on replays of one execution. So it looks at the server on every
    /// call, then waits for the reply queue without a timeout. (A model in
    /// which the server dies without a word would hang here: the timed
    /// poll that finds that is outside what loom checks.)
    fn wait_once_untimed<R, F: FnOnce(&[u8]) -> R>(
        &mut self,
        wanted: Option<u64>,
        f: &mut Option<F>,
    ) -> Result<Option<R>, CallError> {
        // Outcomes decided by the look at the server are new ones.
        let decided = self.state.ready.len();
        self.check_server()?;
        if self.state.ready.len() != decided {
            return Ok(None);
        }
        let state = &mut self.state;
        match self.replies.recv_with(|msg| state.judge(msg, wanted, f)) {
            Ok(got) => Ok(state.note(got)),
            Err(RecvError::Disconnected) => {
                self.check_server()?;
                if self.state.ready.len() == decided && !self.state.in_flight.is_empty() {
                    let _ = self.replies.wait_for_sender();
                }
                Ok(None)
            }
            Err(RecvError::Corrupted(e)) => Err(CallError::Corrupted(e)),
            Err(_) => Ok(None),
        }
    }

    /// Looks at the mailbox's receiving end, and fails with `ServerDied`
    /// every request in flight whose server is gone: the holder at the
    /// time it was sent is dead or detached, or another has attached since
    /// (if none held it then: the first one to attach after is gone, or a
    /// second has attached). Replies already in the queue are taken first.
    fn check_server(&mut self) -> Result<(), CallError> {
        self.state.next_check = Instant::now() + CHECK_EVERY;
        if self.state.in_flight.is_empty() {
            return Ok(());
        }
        let (epoch, token) = self.requests.receiver_owner();
        let alive = token != 0 && crate::peer::is_alive(token);
        let doomed = |p: &InFlight| {
            if epoch == p.epoch {
                p.held && !alive
            } else if !p.held && epoch == p.epoch.wrapping_add(1) {
                !alive
            } else {
                true
            }
        };
        if !self.state.in_flight.iter().any(doomed) {
            return Ok(());
        }
        // What the server answered before it went comes first (its last
        // commits are visible: read after its owner word).
        self.drain()?;
        let state = &mut self.state;
        let mut i = 0;
        while i < state.in_flight.len() {
            let p = state.in_flight[i];
            if doomed(&p) {
                state.in_flight.remove(i);
                let id = state.id(p.seq);
                state.ready.push_back((id, Err(CallError::ServerDied(id))));
            } else {
                i += 1;
            }
        }
        // Whoever serves next.
        state.server = 0;
        Ok(())
    }
}

/// The call error for a request that could not be sent (`Timeout` aside,
/// which the caller handles).
fn send_failed(e: SendTimeoutError, len: usize) -> CallError {
    match e {
        SendTimeoutError::Timeout => CallError::Timeout,
        SendTimeoutError::Disconnected => CallError::Disconnected,
        SendTimeoutError::TooLarge { max, .. } => CallError::TooLarge { len, max },
        SendTimeoutError::Corrupted(e) => CallError::Corrupted(e),
    }
}
