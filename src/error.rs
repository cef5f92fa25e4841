//! Error types, one per operation, in the manner of crossbeam-channel.

use std::fmt;
use std::io;

/// Which end of a queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The sending end.
    Sender,
    /// The receiving end.
    Receiver,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Sender => "sender",
            Role::Receiver => "receiver",
        })
    }
}

/// The shared segment broke the queue protocol: a record length, kind or
/// index that the peer could not legitimately have written.
///
/// Shared memory is untrusted input: a buggy, crashed or hostile peer can
/// write anything there. This error is how shmq reports it. After it, the
/// handle that saw it keeps returning it: nothing more is read from the ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CorruptedError {
    pub(crate) what: &'static str,
}

impl CorruptedError {
    pub(crate) const fn new(what: &'static str) -> Self {
        Self { what }
    }

    /// The check that failed, in a few words.
    pub fn check(&self) -> &'static str {
        self.what
    }
}

impl fmt::Display for CorruptedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "queue segment corrupted: {}", self.what)
    }
}

impl std::error::Error for CorruptedError {}

/// Error creating, opening, inspecting or attaching to a queue: which check
/// failed ([`kind`](Self::kind)) and on which queue ([`queue`](Self::queue)).
///
/// # Examples
///
/// ```
/// use shmq::{OpenErrorKind, Queue};
///
/// let err = Queue::open("no-such-queue-here").unwrap_err();
/// assert!(matches!(err.kind(), OpenErrorKind::NotFound));
/// assert_eq!(err.queue(), Some("no-such-queue-here"));
/// assert_eq!(
///     err.to_string(),
///     "queue \"no-such-queue-here\": no such queue (create it first, or use open_or_create)"
/// );
/// ```
pub struct OpenError {
    queue: Option<String>,
    /// What the name names: `"queue"` (the default), `"semaphore"` or
    /// `"barrier"`.
    object: &'static str,
    kind: OpenErrorKind,
}

impl OpenError {
    /// Which check failed.
    pub fn kind(&self) -> &OpenErrorKind {
        &self.kind
    }

    /// Which check failed, by value.
    pub fn into_kind(self) -> OpenErrorKind {
        self.kind
    }

    /// The name of the queue, if the error concerns a named queue (or the
    /// name of the [`Semaphore`](crate::Semaphore) or
    /// [`Barrier`](crate::Barrier), for theirs).
    pub fn queue(&self) -> Option<&str> {
        self.queue.as_deref()
    }

    /// The same error, about the `object` (`"semaphore"`, `"barrier"`)
    /// `name`: [`on`](Self::on) for the objects that are not queues.
    pub(crate) fn on_object(mut self, object: &'static str, name: Option<&str>) -> Self {
        self.object = object;
        self.on(name)
    }

    /// The same error, about the queue `name` (unless it names one already).
    pub(crate) fn on(mut self, name: Option<&str>) -> Self {
        if self.queue.is_none() {
            self.queue = name.map(str::to_owned);
        }
        self
    }
}

impl From<OpenErrorKind> for OpenError {
    fn from(kind: OpenErrorKind) -> Self {
        OpenError {
            queue: None,
            object: "queue",
            kind,
        }
    }
}

impl fmt::Debug for OpenError {
    /// As `Display`, so that `fn main() -> Result<(), Box<dyn Error>>`
    /// prints which queue and what to do, followed by the variant.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self} ({:?})", self.kind)
    }
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.queue, &self.kind) {
            // The kind's own message quotes the name already.
            (_, OpenErrorKind::InvalidName { .. }) | (None, _) => self.kind.fmt(f),
            (Some(name), kind) if self.object == "queue" => write!(f, "queue {name:?}: {kind}"),
            // The messages that say "queue" themselves, for the others.
            (Some(name), OpenErrorKind::NotFound) => write!(
                f,
                "{} {name:?}: no such {0} (create it first, or use open_or_create)",
                self.object
            ),
            (Some(name), OpenErrorKind::AlreadyExists) => {
                write!(f, "{} {name:?}: {0} already exists", self.object)
            }
            (Some(name), OpenErrorKind::NotReady) => write!(
                f,
                "{} {name:?}: not ready: its creator has not finished creating it (if that \
                 process died, remove it)",
                self.object
            ),
            (Some(name), kind) => write!(f, "{} {name:?}: {kind}", self.object),
        }
    }
}

impl std::error::Error for OpenError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            OpenErrorKind::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for OpenError {
    fn from(e: io::Error) -> Self {
        OpenErrorKind::Io(e).into()
    }
}

impl From<rustix::io::Errno> for OpenError {
    fn from(e: rustix::io::Errno) -> Self {
        OpenErrorKind::Io(e.into()).into()
    }
}

/// What went wrong creating, opening or attaching to a queue: the
/// [`kind`](OpenError::kind) of an [`OpenError`]. Each variant names the
/// check that failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum OpenErrorKind {
    /// The queue name is not 1-64 characters of `[A-Za-z0-9._-]` not
    /// starting with `.`.
    InvalidName {
        /// The rejected name.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The builder's settings are impossible (slot size, slot count, ...).
    InvalidOptions(&'static str),
    /// No queue of that name exists.
    NotFound,
    /// A queue of that name already exists (exclusive creation).
    AlreadyExists,
    /// The segment was never marked ready by its creator within the open
    /// timeout (a creator that crashed while initialising, or not a queue).
    NotReady,
    /// The segment does not start with shmq's magic number.
    BadMagic {
        /// What was found instead.
        found: u64,
    },
    /// The segment is another kind of shmq object than the one asked for
    /// (a semaphore opened as a queue, a queue opened as a barrier, ...).
    WrongKind {
        /// What the segment holds: `"queue"`, `"semaphore"` or `"barrier"`.
        found: &'static str,
        /// What was asked for.
        expected: &'static str,
    },
    /// The segment's layout version is not the one this library speaks.
    VersionMismatch {
        /// Version in the segment.
        found: u32,
        /// Version this library writes.
        expected: u32,
    },
    /// The segment holds another flavour of queue.
    FlavourMismatch {
        /// Flavour number in the segment.
        found: u32,
    },
    /// A size in the segment disagrees with the segment itself.
    SizeMismatch {
        /// Which size.
        what: &'static str,
        /// The size found.
        found: u64,
        /// The size it must have.
        expected: u64,
    },
    /// A setting in the header is impossible (slot size, slot count,
    /// message limit) or an index is out of range.
    BadHeader(&'static str),
    /// The path exists but is not a regular file.
    NotAFile,
    /// Another live process (or this one) is attached to that end already.
    AlreadyAttached {
        /// Which end.
        role: Role,
        /// Process id of the current holder.
        pid: u32,
    },
    /// Every sender lane of a mailbox
    /// ([`QueueBuilder::senders`](crate::QueueBuilder::senders)) is held by
    /// a live process (a lane whose holder died is taken over). A queue
    /// with one lane reports [`AlreadyAttached`](Self::AlreadyAttached)
    /// instead, naming the holder.
    TooManySenders {
        /// The queue's number of sender lanes.
        limit: usize,
    },
    /// Every subscriber entry of a [`Topic`](crate::Topic) is held by a
    /// live process ([`Topic::subscriber`](crate::Topic::subscriber); an
    /// entry whose holder died is taken over).
    TooManySubscribers {
        /// The topic's maximum number of subscribers.
        limit: usize,
    },
    /// Every member slot of a [`Barrier`](crate::Barrier) is held by a
    /// live process ([`Barrier::join`](crate::Barrier::join); a slot whose
    /// holder died is taken over).
    TooManyMembers {
        /// The barrier's number of members.
        limit: usize,
    },
    /// A strict open ([`QueueBuilder::strict`](crate::QueueBuilder::strict))
    /// found the queue with other settings than the builder's.
    SettingsMismatch {
        /// Which setting: `"slot size"`, `"slot count"`, `"senders"` or
        /// `"max message size"`.
        setting: &'static str,
        /// The builder's value.
        requested: u64,
        /// The queue's.
        found: u64,
    },
    /// An operating system call failed.
    Io(io::Error),
}

impl fmt::Display for OpenErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpenErrorKind::InvalidName { name, reason } => {
                write!(f, "invalid queue name {name:?}: {reason}")
            }
            OpenErrorKind::InvalidOptions(what) => write!(f, "invalid queue options: {what}"),
            OpenErrorKind::NotFound => {
                f.write_str("no such queue (create it first, or use open_or_create)")
            }
            OpenErrorKind::AlreadyExists => f.write_str("queue already exists"),
            OpenErrorKind::NotReady => f.write_str(
                "the queue is not ready: its creator has not finished creating it \
                 (if that process died, remove the queue)",
            ),
            OpenErrorKind::BadMagic { found } => {
                write!(f, "not a shmq segment (bad magic {found:#018x})")
            }
            OpenErrorKind::WrongKind { found, expected } => {
                write!(f, "the segment holds a {found}, not a {expected}")
            }
            OpenErrorKind::VersionMismatch { found, expected } => write!(
                f,
                "segment layout version {found}, expected {expected} (made by another shmq \
                 version: remove it and create it again)"
            ),
            OpenErrorKind::FlavourMismatch { found } => {
                write!(f, "segment holds queue flavour {found}, expected spsc")
            }
            OpenErrorKind::SizeMismatch {
                what,
                found,
                expected,
            } => write!(f, "bad segment: {what} is {found}, expected {expected}"),
            OpenErrorKind::BadHeader(what) => write!(f, "bad segment header: {what}"),
            OpenErrorKind::NotAFile => f.write_str("segment path is not a regular file"),
            OpenErrorKind::AlreadyAttached { role, pid } => {
                write!(f, "a {role} is already attached (pid {pid})")
            }
            OpenErrorKind::TooManySenders { limit } => {
                write!(f, "all {limit} sender lanes are held by live processes")
            }
            OpenErrorKind::TooManySubscribers { limit } => {
                write!(
                    f,
                    "all {limit} subscriber entries are held by live processes"
                )
            }
            OpenErrorKind::TooManyMembers { limit } => {
                write!(f, "all {limit} member slots are held by live processes")
            }
            OpenErrorKind::SettingsMismatch {
                setting,
                requested,
                found,
            } => write!(
                f,
                "the queue exists with {setting} {found}, not {requested} as requested"
            ),
            OpenErrorKind::Io(e) => write!(f, "i/o error: {e}"),
        }
    }
}

macro_rules! send_errors {
    ($($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $msg:literal,)* })*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name {
            $($(#[$vdoc])* $variant,)*
            /// The receiver has detached (dropped, or its process died).
            Disconnected,
            /// The message is longer than the queue allows.
            TooLarge {
                /// The message length.
                len: usize,
                /// The largest length this operation accepts.
                max: usize,
            },
            /// The segment broke the protocol; see [`CorruptedError`].
            Corrupted(CorruptedError),
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    $($name::$variant => f.write_str($msg),)*
                    $name::Disconnected => f.write_str(
                        "sending on a disconnected queue: the receiver detached or died \
                         (what was sent stays queued for the next receiver)",
                    ),
                    $name::TooLarge { len, max } => {
                        write!(f, "message of {len} bytes is larger than the limit of {max}")
                    }
                    $name::Corrupted(e) => e.fmt(f),
                }
            }
        }

        impl std::error::Error for $name {}

        impl From<CorruptedError> for $name {
            fn from(e: CorruptedError) -> Self {
                $name::Corrupted(e)
            }
        }
    )*};
}

send_errors! {
    /// Error from [`Sender::send`](crate::Sender::send) and the other blocking
    /// sends.
    SendError {}
    /// Error from [`Sender::try_send`](crate::Sender::try_send).
    TrySendError {
        /// The ring has no room for the message right now.
        Full => "sending on a full queue",
    }
    /// Error from [`Sender::send_timeout`](crate::Sender::send_timeout).
    SendTimeoutError {
        /// The deadline passed before the message could be sent.
        Timeout => "timed out waiting on send operation",
    }
}

impl TrySendError {
    /// Whether the queue was full.
    pub fn is_full(&self) -> bool {
        matches!(self, TrySendError::Full)
    }
}

impl SendTimeoutError {
    /// Whether the deadline passed.
    pub fn is_timeout(&self) -> bool {
        matches!(self, SendTimeoutError::Timeout)
    }
}

macro_rules! recv_errors {
    ($($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $msg:literal,)* })*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name {
            $($(#[$vdoc])* $variant,)*
            /// The sender has detached (dropped, or its process died) and
            /// every message it committed has been received.
            Disconnected,
            /// A typed receive found a message of the wrong length; the
            /// message was consumed.
            WrongSize {
                /// Length the type needs.
                expected: usize,
                /// Length of the message.
                found: usize,
            },
            /// The segment broke the protocol; see [`CorruptedError`].
            Corrupted(CorruptedError),
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    $($name::$variant => f.write_str($msg),)*
                    $name::Disconnected => f.write_str(
                        "receiving on an empty and disconnected queue: the sender detached \
                         or died (wait_for_sender waits for the next one)",
                    ),
                    $name::WrongSize { expected, found } => {
                        write!(f, "message of {found} bytes where {expected} were expected")
                    }
                    $name::Corrupted(e) => e.fmt(f),
                }
            }
        }

        impl std::error::Error for $name {}

        impl From<CorruptedError> for $name {
            fn from(e: CorruptedError) -> Self {
                $name::Corrupted(e)
            }
        }
    )*};
}

recv_errors! {
    /// Error from [`Receiver::recv`](crate::Receiver::recv) and the other
    /// blocking receives.
    RecvError {}
    /// Error from [`Receiver::try_recv`](crate::Receiver::try_recv).
    TryRecvError {
        /// No message is waiting right now.
        Empty => "receiving on an empty queue",
    }
    /// Error from [`Receiver::recv_timeout`](crate::Receiver::recv_timeout).
    RecvTimeoutError {
        /// The deadline passed before a message arrived.
        Timeout => "timed out waiting on receive operation",
    }
}

impl TryRecvError {
    /// Whether the queue was empty.
    pub fn is_empty(&self) -> bool {
        matches!(self, TryRecvError::Empty)
    }
}

impl RecvTimeoutError {
    /// Whether the deadline passed.
    pub fn is_timeout(&self) -> bool {
        matches!(self, RecvTimeoutError::Timeout)
    }
}

/// Why an internal wait ended without the condition holding; mapped onto the
/// public error types by each operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    /// Non-blocking call, condition false.
    WouldBlock,
    /// Deadline passed.
    Timeout,
    /// The peer detached or died.
    Disconnected,
    /// Protocol violation.
    Corrupted(CorruptedError),
    /// Message too large for this operation.
    TooLarge { len: usize, max: usize },
    /// Typed receive of the wrong length.
    WrongSize { expected: usize, found: usize },
    /// A topic's subscriber was overrun and missed this many messages.
    Lagged(u64),
}

impl From<CorruptedError> for Stop {
    fn from(e: CorruptedError) -> Self {
        Stop::Corrupted(e)
    }
}

impl Stop {
    pub(crate) fn into_send(self) -> SendError {
        match self {
            Stop::TooLarge { len, max } => SendError::TooLarge { len, max },
            Stop::Corrupted(e) => SendError::Corrupted(e),
            _ => SendError::Disconnected,
        }
    }

    pub(crate) fn into_try_send(self) -> TrySendError {
        match self {
            Stop::WouldBlock | Stop::Timeout => TrySendError::Full,
            Stop::TooLarge { len, max } => TrySendError::TooLarge { len, max },
            Stop::Corrupted(e) => TrySendError::Corrupted(e),
            _ => TrySendError::Disconnected,
        }
    }

    pub(crate) fn into_send_timeout(self) -> SendTimeoutError {
        match self {
            Stop::WouldBlock | Stop::Timeout => SendTimeoutError::Timeout,
            Stop::TooLarge { len, max } => SendTimeoutError::TooLarge { len, max },
            Stop::Corrupted(e) => SendTimeoutError::Corrupted(e),
            _ => SendTimeoutError::Disconnected,
        }
    }

    pub(crate) fn into_recv(self) -> RecvError {
        match self {
            Stop::Corrupted(e) => RecvError::Corrupted(e),
            Stop::WrongSize { expected, found } => RecvError::WrongSize { expected, found },
            _ => RecvError::Disconnected,
        }
    }

    pub(crate) fn into_try_recv(self) -> TryRecvError {
        match self {
            Stop::WouldBlock | Stop::Timeout => TryRecvError::Empty,
            Stop::Corrupted(e) => TryRecvError::Corrupted(e),
            Stop::WrongSize { expected, found } => TryRecvError::WrongSize { expected, found },
            _ => TryRecvError::Disconnected,
        }
    }

    pub(crate) fn into_recv_timeout(self) -> RecvTimeoutError {
        match self {
            Stop::WouldBlock | Stop::Timeout => RecvTimeoutError::Timeout,
            Stop::Corrupted(e) => RecvTimeoutError::Corrupted(e),
            Stop::WrongSize { expected, found } => RecvTimeoutError::WrongSize { expected, found },
            _ => RecvTimeoutError::Disconnected,
        }
    }
}

/// Error from a service client's calls ([`Client::call`](crate::Client::call)
/// and the others), one variant per outcome a caller must tell apart.
///
/// | variant | the request was processed? | retry? |
/// | --- | --- | --- |
/// | [`Timeout`](Self::Timeout) | unknown (if sent) | careful |
/// | [`Disconnected`](Self::Disconnected) | no: it was not sent | once a server attaches |
/// | [`ServerDied`](Self::ServerDied) | unknown | careful |
/// | [`Refused`](Self::Refused) | no | yes |
/// | [`Declined`](Self::Declined) | as far as the server says, no | the server's choice |
/// | [`ReplyDropped`](Self::ReplyDropped) | yes | careful |
///
/// # Examples
///
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut client = shmq::Service::builder("kv").open()?.client()?;
/// match client.call(b"get x") {
///     Ok(reply) => println!("{}", String::from_utf8_lossy(&reply)),
///     Err(shmq::CallError::Refused(_)) => { /* not processed: send it again */ }
///     Err(shmq::CallError::ServerDied(_)) => { /* may or may not have been processed */ }
///     Err(e) => return Err(e.into()),
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallError {
    /// The deadline passed. From `call_timeout`: the request was not sent
    /// (the mailbox lane stayed full) or was sent and its reply did not
    /// come in time; the call is abandoned and a late reply is dropped.
    /// From `recv_reply_timeout`: nothing came; every request stays in
    /// flight.
    Timeout,
    /// No server: the one this client had seen has left (or died) and none
    /// has attached since. The request was not sent.
    Disconnected,
    /// The server died (or left) holding this request, or before taking
    /// it: the outcome is unknown, the request may or may not have been
    /// processed (a server that takes over may still process it; its
    /// answer is then dropped).
    ServerDied(crate::RequestId),
    /// The request was addressed to a server that has since been
    /// replaced; the new one refused it without processing it. Safe to
    /// send again (the client now addresses the new server).
    Refused(crate::RequestId),
    /// The server declined the request ([`Server::decline`], or dropped
    /// unanswered when its `Server` was dropped).
    ///
    /// [`Server::decline`]: crate::Server::decline
    Declined(crate::RequestId),
    /// The server answered the request, but its reply was dropped: this
    /// client's reply queue stayed full for the service's whole
    /// `reply_timeout` (it read replies too slowly). Told as soon as the
    /// queue has room again.
    ReplyDropped(crate::RequestId),
    /// The request is longer than the service carries.
    TooLarge {
        /// The request's length.
        len: usize,
        /// The longest request the service accepts.
        max: usize,
    },
    /// `recv_reply` with no request in flight and no outcome waiting.
    NothingPending,
    /// A queue of the service broke the protocol; see [`CorruptedError`].
    Corrupted(CorruptedError),
}

impl CallError {
    /// The request this error is about, for the variants that name one.
    pub fn request(&self) -> Option<crate::RequestId> {
        match self {
            CallError::ServerDied(id)
            | CallError::Refused(id)
            | CallError::Declined(id)
            | CallError::ReplyDropped(id) => Some(*id),
            _ => None,
        }
    }

    /// Whether the deadline passed.
    pub fn is_timeout(&self) -> bool {
        matches!(self, CallError::Timeout)
    }
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Timeout => f.write_str("timed out waiting on call"),
            CallError::Disconnected => f.write_str(
                "calling a service with no server: the server left or died and none has \
                 attached since (the request was not sent)",
            ),
            CallError::ServerDied(id) => write!(
                f,
                "the server died or left holding {id}: the outcome is unknown; the request \
                 may or may not have been processed"
            ),
            CallError::Refused(id) => write!(
                f,
                "{id} was refused: it was addressed to a server that has since been \
                 replaced (not processed; safe to send again)"
            ),
            CallError::Declined(id) => write!(f, "the server declined {id}"),
            CallError::ReplyDropped(id) => write!(
                f,
                "the server answered {id}, but dropped the reply: the reply queue stayed \
                 full for its whole reply timeout"
            ),
            CallError::TooLarge { len, max } => {
                write!(
                    f,
                    "request of {len} bytes is larger than the limit of {max}"
                )
            }
            CallError::NothingPending => f.write_str("no request in flight"),
            CallError::Corrupted(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for CallError {}

impl From<CorruptedError> for CallError {
    fn from(e: CorruptedError) -> Self {
        CallError::Corrupted(e)
    }
}

/// Error from [`Server::reply`](crate::Server::reply) and
/// [`Server::decline`](crate::Server::decline).
///
/// A reply that cannot be delivered because the client is gone, or whose
/// reply lane stayed full for longer than the service's `reply_timeout`,
/// is not an error: it is dropped and counted
/// ([`ServerStats::dropped_replies`](crate::ServerStats::dropped_replies));
/// a client that is still there is told
/// ([`CallError::ReplyDropped`](crate::CallError::ReplyDropped)).
#[derive(Debug)]
#[non_exhaustive]
pub enum ReplyError {
    /// Not a request this server has received and not yet answered.
    UnknownRequest(crate::RequestId),
    /// The reply is longer than the service carries; the request stays
    /// unanswered (reply with less, or decline it).
    TooLarge {
        /// The reply's length.
        len: usize,
        /// The longest reply the service accepts.
        max: usize,
    },
    /// The client's reply queue could not be opened or attached; the
    /// request counts as answered (its reply dropped).
    Open(OpenError),
    /// The reply queue broke the protocol; see [`CorruptedError`]. The
    /// request counts as answered (its reply dropped).
    Corrupted(CorruptedError),
}

impl fmt::Display for ReplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplyError::UnknownRequest(id) => {
                write!(f, "{id} is not a request this server holds unanswered")
            }
            ReplyError::TooLarge { len, max } => {
                write!(f, "reply of {len} bytes is larger than the limit of {max}")
            }
            ReplyError::Open(e) => write!(f, "opening the reply queue: {e}"),
            ReplyError::Corrupted(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ReplyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ReplyError::Open(e) => Some(e),
            _ => None,
        }
    }
}

/// Error from [`Semaphore::try_acquire`](crate::Semaphore::try_acquire).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryAcquireError {
    /// Every permit is held (by live processes, as far as this call
    /// looked: see [`Semaphore::try_acquire`](crate::Semaphore::try_acquire)).
    NoPermits,
}

impl fmt::Display for TryAcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryAcquireError::NoPermits => f.write_str("no semaphore permit available"),
        }
    }
}

impl std::error::Error for TryAcquireError {}

/// Error from [`Semaphore::acquire_timeout`](crate::Semaphore::acquire_timeout).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcquireTimeoutError {
    /// The deadline passed before a permit came free.
    Timeout,
}

impl AcquireTimeoutError {
    /// Whether the deadline passed (always, for now).
    pub fn is_timeout(&self) -> bool {
        matches!(self, AcquireTimeoutError::Timeout)
    }
}

impl fmt::Display for AcquireTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AcquireTimeoutError::Timeout => f.write_str("timed out waiting for a semaphore permit"),
        }
    }
}

impl std::error::Error for AcquireTimeoutError {}

/// Error from [`BarrierMember::wait`](crate::BarrierMember::wait).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BarrierError {
    /// The barrier is broken: a member died (or panicked) before arriving
    /// for a generation. A broken barrier stays broken: every wait on it
    /// fails, until it is removed and created again.
    Broken {
        /// The process id of the member that broke it (0 if the segment
        /// does not say).
        pid: u32,
    },
}

impl fmt::Display for BarrierError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BarrierError::Broken { pid } => write!(
                f,
                "barrier broken: a member (pid {pid}) died or panicked before arriving"
            ),
        }
    }
}

impl std::error::Error for BarrierError {}

/// Error from [`BarrierMember::wait_timeout`](crate::BarrierMember::wait_timeout).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BarrierWaitTimeoutError {
    /// The deadline passed before every member arrived. This member stays
    /// arrived: its next wait finishes this one (see
    /// [`BarrierMember::wait_timeout`](crate::BarrierMember::wait_timeout)).
    Timeout,
    /// The barrier is broken; see [`BarrierError::Broken`].
    Broken {
        /// The process id of the member that broke it (0 if unknown).
        pid: u32,
    },
}

impl BarrierWaitTimeoutError {
    /// Whether the deadline passed.
    pub fn is_timeout(&self) -> bool {
        matches!(self, BarrierWaitTimeoutError::Timeout)
    }
}

impl fmt::Display for BarrierWaitTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BarrierWaitTimeoutError::Timeout => {
                f.write_str("timed out waiting for the other barrier members")
            }
            BarrierWaitTimeoutError::Broken { pid } => BarrierError::Broken { pid: *pid }.fmt(f),
        }
    }
}

impl std::error::Error for BarrierWaitTimeoutError {}

macro_rules! topic_recv_errors {
    ($($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $msg:literal,)? } => $stop:ident)*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name {
            $($(#[$vdoc])* $variant,)?
            /// The subscriber was overrun (a lossy topic, or one that cut it
            /// loose after its lag limit) and missed exactly this many
            /// messages; the next receive goes on from the oldest message
            /// still in the ring.
            Lagged(u64),
            /// The publisher has detached (dropped, or its process died)
            /// and every message it published has been received.
            Disconnected,
            /// A typed receive found a message of the wrong length; the
            /// message was consumed.
            WrongSize {
                /// Length the type needs.
                expected: usize,
                /// Length of the message.
                found: usize,
            },
            /// The segment broke the protocol; see [`CorruptedError`].
            Corrupted(CorruptedError),
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    $($name::$variant => f.write_str($msg),)?
                    $name::Lagged(n) => write!(f, "lagged, {n} messages missed"),
                    $name::Disconnected => f.write_str(
                        "receiving on an empty topic whose publisher detached or died",
                    ),
                    $name::WrongSize { expected, found } => {
                        write!(f, "message of {found} bytes where {expected} were expected")
                    }
                    $name::Corrupted(e) => e.fmt(f),
                }
            }
        }

        impl std::error::Error for $name {}

        impl From<CorruptedError> for $name {
            fn from(e: CorruptedError) -> Self {
                $name::Corrupted(e)
            }
        }

        impl Stop {
            pub(crate) fn $stop(self) -> $name {
                match self {
                    $(Stop::WouldBlock | Stop::Timeout => $name::$variant,)*
                    Stop::Lagged(n) => $name::Lagged(n),
                    Stop::Corrupted(e) => $name::Corrupted(e),
                    Stop::WrongSize { expected, found } => $name::WrongSize { expected, found },
                    _ => $name::Disconnected,
                }
            }
        }
    )*};
}

topic_recv_errors! {
    /// Error from [`Subscriber::recv`](crate::Subscriber::recv) and the
    /// other blocking receives of a topic's subscriber.
    TopicRecvError {} => into_topic_recv
    /// Error from [`Subscriber::try_recv`](crate::Subscriber::try_recv).
    TopicTryRecvError {
        /// No message is waiting right now.
        Empty => "receiving on an empty topic",
    } => into_topic_try_recv
    /// Error from [`Subscriber::recv_timeout`](crate::Subscriber::recv_timeout).
    TopicRecvTimeoutError {
        /// The deadline passed before a message arrived.
        Timeout => "timed out waiting on receive operation",
    } => into_topic_recv_timeout
}

impl TopicRecvError {
    /// The number of messages missed, if this is a `Lagged` report.
    pub fn lagged(&self) -> Option<u64> {
        match self {
            TopicRecvError::Lagged(n) => Some(*n),
            _ => None,
        }
    }
}
