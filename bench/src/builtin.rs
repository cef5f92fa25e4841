//! The built-in transports: the two floors, shmq with three wait
//! strategies, two shmq mailboxes, a shmq service with two wait
//! strategies, shmq topics (lossless with two, lossy spinning), and the
//! kernel's IPC (a Unix socket twice: a stream of messages and a
//! request/response). Each is set up here, on both sides, in its module's
//! terms (see `floor`, `ring`, `queue`, `service`, `topic`, `socket`,
//! `mq`); the driver sees them, as any transport, through
//! `transport::Setup`.

use std::fs::File;
use std::io::BufReader;
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::process::{ChildStdin, ChildStdout};

use clap::ValueEnum;

use super::error::{Context, Error, Result};
use super::peer::{self, Liveness, Peer};
use super::shm::SharedMemory;
use super::socket::{self, Stream};
use super::transport::{Blocks, Connect, Connected, Mode, Setup, path_str, unique_name};
use super::{floor, mq, queue, ring, service, topic};

/// A built-in way of moving messages between the two processes. The
/// variants' docs are the `--transports` help.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ValueEnum)]
pub enum Builtin {
    /// hand-written shared-memory ping-pong (latency) or SPSC ring
    /// (throughput): the floor
    Floor,
    /// the floor with a 16-byte record header before the payload, as
    /// shmq's records (ping-pong, or a ring of 128-byte slots)
    FloorRecord,
    /// shmq, both ends spinning
    ShmqSpin,
    /// shmq with the default wait strategy (spin briefly, then sleep)
    ShmqDefault,
    /// shmq, both ends sleeping on the futex at once
    ShmqBlock,
    /// a shmq mailbox of 16 sender lanes, both ends spinning: one sender
    /// sends, the other 15 are attached and idle (in the same process);
    /// paired with shmq-spin, block for block
    #[value(name = "shmq-mbx16-spin")]
    ShmqMbx16Spin,
    /// a shmq mailbox of 2 lanes whose senders, two threads of one
    /// process, send at once (throughput, messages up to 128 B): each
    /// one's share of the messages taken
    #[value(name = "shmq-mbx2")]
    ShmqMbx2,
    /// a shmq service, both ends spinning: a round trip is one call of a
    /// client (the parent) answered by the server (the peer); paired with
    /// shmq-spin, block for block
    #[value(name = "shmq-service-spin")]
    ShmqServiceSpin,
    /// a shmq service with the default wait strategy (spin briefly, then
    /// sleep): one call per round trip
    #[value(name = "shmq-service")]
    ShmqService,
    /// a pair of lossless shmq topics, both ends spinning: the ping is
    /// published to one subscriber in the peer, the pong to one in the
    /// parent; paired with shmq-spin, block for block
    #[value(name = "shmq-topic-spin")]
    ShmqTopicSpin,
    /// the same pair of lossless topics with the default wait strategy
    /// (spin briefly, then sleep)
    #[value(name = "shmq-topic")]
    ShmqTopic,
    /// the same pair of topics, lossy (subscribers read by copying and
    /// checking), both ends spinning; paired with shmq-spin, block for
    /// block
    #[value(name = "shmq-topic-lossy-spin")]
    ShmqTopicLossySpin,
    /// Unix domain stream socket
    Uds,
    /// Unix domain stream socket as a request/response: length-prefixed
    /// frames, one writev and one readv per call on each side
    #[value(name = "uds-rr")]
    UdsRr,
    /// a pair of pipes (the peer's standard input and output)
    Pipe,
    /// TCP over loopback with TCP_NODELAY
    Tcp,
    /// POSIX message queues
    Mq,
}

impl Builtin {
    /// Every built-in transport, in the order of the report.
    pub const ALL: [Builtin; 17] = [
        Builtin::Floor,
        Builtin::FloorRecord,
        Builtin::ShmqSpin,
        Builtin::ShmqDefault,
        Builtin::ShmqBlock,
        Builtin::ShmqMbx16Spin,
        Builtin::ShmqMbx2,
        Builtin::ShmqServiceSpin,
        Builtin::ShmqService,
        Builtin::ShmqTopicSpin,
        Builtin::ShmqTopic,
        Builtin::ShmqTopicLossySpin,
        Builtin::Uds,
        Builtin::UdsRr,
        Builtin::Pipe,
        Builtin::Tcp,
        Builtin::Mq,
    ];

    /// A shmq transport's wait strategy and lanes.
    fn shmq(self) -> Option<(shmq::WaitStrategy, queue::Lanes)> {
        use queue::Lanes;
        use shmq::WaitStrategy;
        match self {
            Builtin::ShmqSpin => Some((WaitStrategy::Spin, Lanes::One)),
            Builtin::ShmqDefault => Some((WaitStrategy::default(), Lanes::One)),
            Builtin::ShmqBlock => Some((WaitStrategy::Block, Lanes::One)),
            Builtin::ShmqMbx16Spin => Some((WaitStrategy::Spin, Lanes::Idle(MAILBOX_LANES))),
            Builtin::ShmqMbx2 => Some((WaitStrategy::Spin, Lanes::Pair)),
            _ => None,
        }
    }

    /// A shmq service's wait strategy.
    fn service(self) -> Option<shmq::WaitStrategy> {
        match self {
            Builtin::ShmqServiceSpin => Some(shmq::WaitStrategy::Spin),
            Builtin::ShmqService => Some(shmq::WaitStrategy::default()),
            _ => None,
        }
    }

    /// A pair of topics' wait strategy, and whether they are lossy.
    fn topic(self) -> Option<(shmq::WaitStrategy, bool)> {
        match self {
            Builtin::ShmqTopicSpin => Some((shmq::WaitStrategy::Spin, false)),
            Builtin::ShmqTopic => Some((shmq::WaitStrategy::default(), false)),
            Builtin::ShmqTopicLossySpin => Some((shmq::WaitStrategy::Spin, true)),
            _ => None,
        }
    }
}

/// Lanes of `shmq-mbx16-spin`'s mailbox.
const MAILBOX_LANES: usize = 16;
/// Largest message the mailboxes are measured with...
const MAILBOX_MAX_SIZE: usize = 64 << 10;
/// ...and two senders at once (see `unfit`).
const PAIR_MAX_SIZE: usize = 128;

impl Setup for Builtin {
    fn name(&self) -> &'static str {
        match self {
            Builtin::Floor => "floor",
            Builtin::FloorRecord => "floor-record",
            Builtin::ShmqSpin => "shmq-spin",
            Builtin::ShmqDefault => "shmq-default",
            Builtin::ShmqBlock => "shmq-block",
            Builtin::ShmqMbx16Spin => "shmq-mbx16-spin",
            Builtin::ShmqMbx2 => "shmq-mbx2",
            Builtin::ShmqServiceSpin => "shmq-service-spin",
            Builtin::ShmqService => "shmq-service",
            Builtin::ShmqTopicSpin => "shmq-topic-spin",
            Builtin::ShmqTopic => "shmq-topic",
            Builtin::ShmqTopicLossySpin => "shmq-topic-lossy-spin",
            Builtin::Uds => "uds",
            Builtin::UdsRr => "uds-rr",
            Builtin::Pipe => "pipe",
            Builtin::Tcp => "tcp",
            Builtin::Mq => "mq",
        }
    }

    fn streams(&self) -> bool {
        matches!(
            self,
            Builtin::Floor
                | Builtin::FloorRecord
                | Builtin::ShmqSpin
                | Builtin::ShmqDefault
                | Builtin::ShmqMbx16Spin
                | Builtin::ShmqMbx2
                | Builtin::Uds
        )
    }

    fn idles(&self) -> bool {
        !matches!(
            self,
            Builtin::Tcp
                | Builtin::Mq
                | Builtin::ShmqMbx16Spin
                | Builtin::ShmqMbx2
                | Builtin::ShmqServiceSpin
                | Builtin::ShmqTopicSpin
                | Builtin::ShmqTopicLossySpin
        )
    }

    fn spins(&self) -> bool {
        matches!(
            self,
            Builtin::Floor
                | Builtin::FloorRecord
                | Builtin::ShmqSpin
                | Builtin::ShmqMbx16Spin
                | Builtin::ShmqMbx2
                | Builtin::ShmqServiceSpin
                | Builtin::ShmqTopicSpin
                | Builtin::ShmqTopicLossySpin
        )
    }

    fn round_trips(&self) -> bool {
        *self != Builtin::ShmqMbx2
    }

    fn baseline(&self) -> Option<Builtin> {
        matches!(
            self,
            Builtin::ShmqMbx16Spin
                | Builtin::ShmqMbx2
                | Builtin::ShmqServiceSpin
                | Builtin::ShmqTopicSpin
                | Builtin::ShmqTopicLossySpin
        )
        .then_some(Builtin::ShmqSpin)
    }

    fn sleeps(&self) -> bool {
        matches!(
            self,
            Builtin::ShmqBlock
                | Builtin::Uds
                | Builtin::UdsRr
                | Builtin::Pipe
                | Builtin::Tcp
                | Builtin::Mq
        )
    }

    fn unfit(&self, size: usize) -> Option<String> {
        if *self == Builtin::ShmqMbx2 && size > PAIR_MAX_SIZE {
            return Some(format!(
                "two senders on one CPU keep a receiver busy only with messages of up to \
                 {PAIR_MAX_SIZE} B (larger ones take as long to write as to read, and one \
                 lane runs dry while the other sender has the CPU)"
            ));
        }
        if matches!(self, Builtin::ShmqMbx16Spin | Builtin::ShmqMbx2) && size > MAILBOX_MAX_SIZE {
            return Some(format!(
                "the mailboxes are measured with messages of up to {} KiB (to keep the run short: \
                 every lane is as large as the plain queue's ring)",
                MAILBOX_MAX_SIZE >> 10
            ));
        }
        if *self != Builtin::Mq {
            return None;
        }
        // If the limit cannot be read, mq_open will say what is wrong.
        match mq::max_message_size() {
            Ok(limit) if size > limit => Some(format!(
                "{size}-byte messages exceed /proc/sys/fs/mqueue/msgsize_max ({limit})"
            )),
            _ => None,
        }
    }

    fn create(&self, mode: Mode, size: usize) -> Result<(Box<dyn Connect>, String)> {
        let (pending, endpoint) = Pending::create(*self, mode, size)?;
        Ok((Box::new(pending), endpoint))
    }

    fn open(
        &self,
        mode: Mode,
        endpoint: &str,
        size: usize,
        live: Liveness,
    ) -> Result<Box<dyn Blocks>> {
        open(*self, mode, endpoint, size, live)
    }
}

/// A transport created on the parent's side, waiting for the peer.
#[derive(Debug)]
enum Pending {
    Floor(SharedMemory),
    FloorRecord(SharedMemory),
    Ring(SharedMemory),
    RingRecord(SharedMemory),
    Shmq(Box<(queue::Queues, queue::ParentEnd)>),
    Service(Box<service::Created>),
    Topic(Box<(topic::Topics, topic::End)>),
    Unix(socket::UnixListener),
    UnixFramed(socket::UnixListener),
    Tcp(TcpListener),
    Pipes,
    Mq(mq::Pair),
}

impl Pending {
    /// Creates `transport`'s endpoint; returns it and the name the peer
    /// opens.
    fn create(transport: Builtin, mode: Mode, size: usize) -> Result<(Pending, String)> {
        let name = unique_name();
        let shared = |pending: fn(SharedMemory) -> Pending, memory: SharedMemory| {
            let path = path_str(memory.path())?.to_owned();
            Ok((pending(memory), path))
        };
        match (transport, mode) {
            (Builtin::Floor, Mode::Latency) => shared(
                Pending::Floor,
                floor::create::<{ floor::LINE }>(&name, size)?,
            ),
            (Builtin::FloorRecord, Mode::Latency) => shared(
                Pending::FloorRecord,
                floor::create::<{ floor::RECORD }>(&name, size)?,
            ),
            (Builtin::Floor, Mode::Throughput) => {
                shared(Pending::Ring, ring::create::<{ ring::LINE }>(&name, size)?)
            }
            (Builtin::FloorRecord, Mode::Throughput) => shared(
                Pending::RingRecord,
                ring::create::<{ ring::RECORD }>(&name, size)?,
            ),
            (Builtin::ShmqMbx2, Mode::Latency) => Err(Error::new(
                "not measured in latency mode (two senders at once stream)",
            )),
            (
                Builtin::ShmqSpin
                | Builtin::ShmqDefault
                | Builtin::ShmqBlock
                | Builtin::ShmqMbx16Spin
                | Builtin::ShmqMbx2,
                _,
            ) => {
                let (wait, lanes) = transport.shmq().expect("a shmq transport");
                let queues = queue::Queues::create(&name, size, mode, wait, lanes)?;
                let end = queues.parent_end(lanes, size)?;
                Ok((Pending::Shmq(Box::new((queues, end))), name))
            }
            (Builtin::ShmqServiceSpin | Builtin::ShmqService, Mode::Latency) => {
                let wait = transport.service().expect("a shmq service");
                let created = service::Created::create(&name, size, wait)?;
                Ok((Pending::Service(Box::new(created)), name))
            }
            (
                Builtin::ShmqTopicSpin | Builtin::ShmqTopic | Builtin::ShmqTopicLossySpin,
                Mode::Latency,
            ) => {
                let (wait, lossy) = transport.topic().expect("a pair of topics");
                let topics = topic::Topics::create(&name, size, wait, lossy)?;
                let end = topics.parent_end()?;
                Ok((Pending::Topic(Box::new((topics, end))), name))
            }
            (Builtin::Uds, _) | (Builtin::UdsRr, Mode::Latency) => {
                let path = std::env::temp_dir().join(format!("{name}.sock"));
                let listener = socket::UnixListener::bind(&path)?;
                let pending = if transport == Builtin::Uds {
                    Pending::Unix(listener)
                } else {
                    Pending::UnixFramed(listener)
                };
                Ok((pending, path_str(&path)?.to_owned()))
            }
            (Builtin::Tcp, Mode::Latency) => {
                let listener = TcpListener::bind(("127.0.0.1", 0)).context("tcp: bind")?;
                let address = listener.local_addr().context("tcp: local address")?;
                Ok((Pending::Tcp(listener), address.to_string()))
            }
            (Builtin::Pipe, Mode::Latency) => Ok((Pending::Pipes, "stdio".to_owned())),
            (Builtin::Mq, Mode::Latency) => Ok((Pending::Mq(mq::Pair::create(&name, size)?), name)),
            (
                Builtin::Tcp
                | Builtin::Pipe
                | Builtin::Mq
                | Builtin::ShmqServiceSpin
                | Builtin::ShmqService
                | Builtin::ShmqTopicSpin
                | Builtin::ShmqTopic
                | Builtin::ShmqTopicLossySpin
                | Builtin::UdsRr,
                Mode::Throughput,
            ) => Err(Error::new(
                "not measured in throughput mode (only the floors, shmq-spin, shmq-default, the mailboxes and uds)",
            )),
        }
    }
}

/// The parent's end of a transport, boxed for the driver.
fn connected(end: impl Blocks + 'static) -> Connected {
    Connected {
        end: Box::new(end),
        counters: None,
    }
}

impl Connect for Pending {
    /// Finishes connecting once the peer is ready, and removes the name.
    fn connect(self: Box<Self>, size: usize, peer: &mut Peer) -> Result<Connected> {
        let live = peer.liveness();
        Ok(match *self {
            Pending::Floor(mut m) => {
                m.unlink();
                connected(floor::End::<{ floor::LINE }>::parent(m, size, live))
            }
            Pending::FloorRecord(mut m) => {
                m.unlink();
                connected(floor::End::<{ floor::RECORD }>::parent(m, size, live))
            }
            Pending::Ring(mut m) => {
                m.unlink();
                connected(ring::Producer::<{ ring::LINE }>::new(m, size, live))
            }
            Pending::RingRecord(mut m) => {
                m.unlink();
                connected(ring::Producer::<{ ring::RECORD }>::new(m, size, live))
            }
            Pending::Shmq(both) => {
                let (mut queues, end) = *both;
                queues.unlink();
                Connected {
                    end: end.connected(&live),
                    counters: Some(Box::new(queues)),
                }
            }
            Pending::Service(created) => {
                let (end, queues) = created.connected();
                Connected {
                    end: Box::new(end),
                    counters: Some(Box::new(queues)),
                }
            }
            Pending::Topic(both) => {
                let (mut topics, end) = *both;
                topics.unlink();
                Connected {
                    end: Box::new(end),
                    counters: Some(Box::new(topics)),
                }
            }
            Pending::Unix(listener) => {
                let stream = listener.accept()?;
                drop(listener); // removes the path
                connected(Stream::unix(stream, size)?)
            }
            Pending::UnixFramed(listener) => {
                let stream = listener.accept()?;
                drop(listener); // removes the path
                connected(socket::Framed::new(stream, size))
            }
            Pending::Tcp(listener) => {
                let (stream, _) = listener.accept().context("tcp: accept")?;
                connected(Stream::tcp(stream)?)
            }
            Pending::Pipes => {
                let (to_peer, from_peer): (ChildStdin, ChildStdout) = peer.take_pipes()?;
                connected(Stream::pipes(from_peer, to_peer, size))
            }
            Pending::Mq(mut queues) => {
                queues.unlink();
                connected(queues.parent_end(live))
            }
        })
    }
}

/// The peer's side: opens `transport`'s endpoint named `endpoint`.
fn open(
    transport: Builtin,
    mode: Mode,
    endpoint: &str,
    size: usize,
    live: Liveness,
) -> Result<Box<dyn Blocks>> {
    Ok(match (transport, mode) {
        (Builtin::Floor, Mode::Latency) => {
            let memory = floor::open::<{ floor::LINE }>(endpoint, size)?;
            Box::new(floor::End::<{ floor::LINE }>::child(memory, size, live))
        }
        (Builtin::FloorRecord, Mode::Latency) => {
            let memory = floor::open::<{ floor::RECORD }>(endpoint, size)?;
            Box::new(floor::End::<{ floor::RECORD }>::child(memory, size, live))
        }
        (Builtin::Floor, Mode::Throughput) => {
            let memory = ring::open::<{ ring::LINE }>(endpoint, size)?;
            Box::new(ring::Consumer::<{ ring::LINE }>::new(memory, size, live))
        }
        (Builtin::FloorRecord, Mode::Throughput) => {
            let memory = ring::open::<{ ring::RECORD }>(endpoint, size)?;
            Box::new(ring::Consumer::<{ ring::RECORD }>::new(memory, size, live))
        }
        (
            Builtin::ShmqSpin
            | Builtin::ShmqDefault
            | Builtin::ShmqBlock
            | Builtin::ShmqMbx16Spin
            | Builtin::ShmqMbx2,
            _,
        ) => {
            let (wait, lanes) = transport.shmq().expect("a shmq transport");
            queue::Queues::open(endpoint, wait)?.child_end(lanes)?
        }
        (Builtin::ShmqServiceSpin | Builtin::ShmqService, _) => {
            let wait = transport.service().expect("a shmq service");
            Box::new(service::open(endpoint, wait)?)
        }
        (Builtin::ShmqTopicSpin | Builtin::ShmqTopic | Builtin::ShmqTopicLossySpin, _) => {
            let (wait, _) = transport.topic().expect("a pair of topics");
            Box::new(topic::Topics::open(endpoint, wait)?.child_end()?)
        }
        (Builtin::Uds, Mode::Latency) => {
            Box::new(Stream::unix(socket::connect_unix(endpoint)?, size)?)
        }
        (Builtin::UdsRr, _) => Box::new(socket::Framed::new(socket::connect_unix(endpoint)?, size)),
        (Builtin::Uds, Mode::Throughput) => {
            let stream: Stream<BufReader<UnixStream>, UnixStream> =
                Stream::unix_buffered(socket::connect_unix(endpoint)?, size)?;
            Box::new(stream)
        }
        (Builtin::Tcp, _) => {
            let stream = TcpStream::connect(endpoint).context("tcp: connect")?;
            Box::new(Stream::tcp(stream)?)
        }
        (Builtin::Pipe, _) => {
            let pipes: Stream<File, File> = Stream::new(peer::stdin_file()?, peer::stdout_file()?);
            Box::new(pipes)
        }
        (Builtin::Mq, _) => Box::new(mq::Pair::open(endpoint)?.child_end(live)),
    })
}
