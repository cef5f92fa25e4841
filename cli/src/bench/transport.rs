//! The transports, and setting several of them up between the same two
//! processes.
//!
//! Every transport becomes an [`Endpoint`] on each side: `send` hands one
//! whole message of the measurement's size to the transport, `recv` waits
//! for the next one and copies it into the caller's buffer. A set-up
//! transport is a [`ParentEnd`] or [`ChildEnd`], an enum over the concrete
//! endpoint types; a block is run through [`Visit`], which matches on the
//! enum once per block and then runs the timed loop generic over the
//! concrete type, so each transport's calls are inlined into it with no
//! dynamic dispatch per message.
//!
//! Set-up ([`Link::start`]) is the same dance for all of them, done for
//! every transport of a group (and the placement probe, a `floor`
//! ping-pong of its own, see `schedule`) before one peer starts: create
//! each endpoint under a unique name (pid and counter), start the peer
//! with all the names, wait for its `ready` (it has opened them all, in
//! order), finish connecting, then remove the names at once (both processes
//! hold them open). Each name is also removed by a guard on any early
//! return. At the end ([`Link::finish`]) the parent sends the stop message
//! on the endpoint the peer is waiting on, the first of a cycle, and waits
//! for it to exit.

// The library routes its atomics through a loom facade (clippy.toml bans
// std's elsewhere); this benchmark code is not modelled under loom and
// cannot reach that private facade.
#![allow(clippy::disallowed_types)]

use std::fs::File;
use std::io::BufReader;
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{ChildStdin, ChildStdout};
use std::sync::atomic::{AtomicU32, Ordering};

use clap::ValueEnum;

use super::error::{Context, Error, Result};
use super::measure::{self, Line, StreamCounts};
use super::peer::{self, Liveness, Peer, PeerArgs, Spawner};
use super::schedule::{PROBE_COUNTS, PROBE_SIZE};
use super::shm::SharedMemory;
use super::socket::{self, Stream};
use super::{floor, mq, queue, ring};

/// A way of moving messages between the two processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ValueEnum)]
pub enum Transport {
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
    /// Unix domain stream socket
    Uds,
    /// a pair of pipes (the peer's standard input and output)
    Pipe,
    /// TCP over loopback with TCP_NODELAY
    Tcp,
    /// POSIX message queues
    Mq,
}

impl Transport {
    /// Every transport, in the order of the report.
    pub const ALL: [Transport; 9] = [
        Transport::Floor,
        Transport::FloorRecord,
        Transport::ShmqSpin,
        Transport::ShmqDefault,
        Transport::ShmqBlock,
        Transport::Uds,
        Transport::Pipe,
        Transport::Tcp,
        Transport::Mq,
    ];

    /// Its name on the command line and in the output.
    pub fn name(self) -> &'static str {
        match self {
            Transport::Floor => "floor",
            Transport::FloorRecord => "floor-record",
            Transport::ShmqSpin => "shmq-spin",
            Transport::ShmqDefault => "shmq-default",
            Transport::ShmqBlock => "shmq-block",
            Transport::Uds => "uds",
            Transport::Pipe => "pipe",
            Transport::Tcp => "tcp",
            Transport::Mq => "mq",
        }
    }

    /// Whether it is measured in throughput mode.
    pub fn streams(self) -> bool {
        matches!(
            self,
            Transport::Floor
                | Transport::FloorRecord
                | Transport::ShmqSpin
                | Transport::ShmqDefault
                | Transport::Uds
        )
    }

    /// Whether it is measured in idle-peer mode.
    pub fn idles(self) -> bool {
        !matches!(self, Transport::Tcp | Transport::Mq)
    }

    /// Whether both ends busy-wait (meaningless when they share one CPU).
    pub fn spins(self) -> bool {
        matches!(
            self,
            Transport::Floor | Transport::FloorRecord | Transport::ShmqSpin
        )
    }

    /// Whether every message wakes a sleeping receiver (tens of
    /// microseconds here), so its blocks carry fewer messages.
    pub fn sleeps(self) -> bool {
        matches!(
            self,
            Transport::ShmqBlock
                | Transport::Uds
                | Transport::Pipe
                | Transport::Tcp
                | Transport::Mq
        )
    }

    fn wait_strategy(self) -> Option<shmq::WaitStrategy> {
        match self {
            Transport::ShmqSpin => Some(shmq::WaitStrategy::Spin),
            Transport::ShmqDefault => Some(shmq::WaitStrategy::default()),
            Transport::ShmqBlock => Some(shmq::WaitStrategy::Block),
            _ => None,
        }
    }
}

/// What is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// round trips
    Latency,
    /// a one-way stream
    Throughput,
}

impl Mode {
    /// Its name on the command line and in the output.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Latency => "latency",
            Mode::Throughput => "throughput",
        }
    }
}

/// One side of a transport. Every message is exactly the measurement's
/// size.
pub trait Endpoint {
    /// Sends `msg` (copying it into the transport).
    fn send(&mut self, msg: &[u8]) -> Result<()>;
    /// Waits for the next message and copies it into `buf`, which must be
    /// exactly the message's length.
    fn recv(&mut self, buf: &mut [u8]) -> Result<()>;
    /// Throughput's back channel, receiver to sender: "I have taken every
    /// message of block `block`" (numbered from 1). By default an 8-byte
    /// message the other way.
    fn send_ack(&mut self, block: u64) -> Result<()> {
        self.send(&block.to_le_bytes())
    }
    /// Waits for the receiver's next acknowledgement and returns its block
    /// number.
    fn recv_ack(&mut self) -> Result<u64> {
        let mut block = [0; 8];
        self.recv(&mut block)?;
        Ok(u64::from_le_bytes(block))
    }
}

/// A boxed endpoint (the shmq ends are large) is an endpoint; the calls
/// inline through the box.
impl<E: Endpoint + ?Sized> Endpoint for Box<E> {
    #[inline(always)]
    fn send(&mut self, msg: &[u8]) -> Result<()> {
        (**self).send(msg)
    }

    #[inline(always)]
    fn recv(&mut self, buf: &mut [u8]) -> Result<()> {
        (**self).recv(buf)
    }

    #[inline(always)]
    fn send_ack(&mut self, block: u64) -> Result<()> {
        (**self).send_ack(block)
    }

    #[inline(always)]
    fn recv_ack(&mut self) -> Result<u64> {
        (**self).recv_ack()
    }
}

/// Work to run on one endpoint, whatever its concrete type: the timed
/// loops are instantiated per type, so they dispatch once per block.
pub trait Visit {
    /// What the work gives.
    type Output;
    /// Runs the work on `end`.
    fn visit<E: Endpoint>(self, end: &mut E) -> Self::Output;
}

macro_rules! ends {
    ($(#[$doc:meta])* $name:ident { $($variant:ident($ty:ty),)* }) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub enum $name {
            $($variant($ty),)*
        }

        impl $name {
            /// Runs `work` on this endpoint.
            #[inline]
            pub fn visit<V: Visit>(&mut self, work: V) -> V::Output {
                match self {
                    $($name::$variant(end) => work.visit(end),)*
                }
            }
        }
    };
}

ends! {
    /// The parent's end of one transport.
    ParentEnd {
        Floor(floor::End<{ floor::LINE }>),
        FloorRecord(floor::End<{ floor::RECORD }>),
        Ring(ring::Producer<{ ring::LINE }>),
        RingRecord(ring::Producer<{ ring::RECORD }>),
        Shmq(Box<queue::End>),
        Unix(Stream<UnixStream, UnixStream>),
        Tcp(Stream<TcpStream, TcpStream>),
        Pipes(Stream<ChildStdout, ChildStdin>),
        Mq(mq::End),
    }
}

ends! {
    /// The peer's end of one transport.
    ChildEnd {
        Floor(floor::End<{ floor::LINE }>),
        FloorRecord(floor::End<{ floor::RECORD }>),
        Ring(ring::Consumer<{ ring::LINE }>),
        RingRecord(ring::Consumer<{ ring::RECORD }>),
        Shmq(Box<queue::End>),
        Unix(Stream<UnixStream, UnixStream>),
        UnixBuffered(Stream<BufReader<UnixStream>, UnixStream>),
        Tcp(Stream<TcpStream, TcpStream>),
        Pipes(Stream<File, File>),
        Mq(mq::End),
    }
}

/// A name no other run or measurement uses: `shmq-bench-<pid>-<n>`.
fn unique_name() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("shmq-bench-{}-{n}", std::process::id())
}

fn path_str(path: &Path) -> Result<&str> {
    path.to_str()
        .ok_or_else(|| Error::new(format!("path {} is not UTF-8", path.display())))
}

/// A transport created on the parent's side, waiting for the peer.
#[derive(Debug)]
enum Pending {
    Floor(SharedMemory),
    FloorRecord(SharedMemory),
    Ring(SharedMemory),
    RingRecord(SharedMemory),
    Shmq(Box<(queue::Queues, queue::End)>),
    Unix(socket::UnixListener),
    Tcp(TcpListener),
    Pipes,
    Mq(mq::Pair),
}

impl Pending {
    /// Creates `transport`'s endpoint; returns it and the name the peer
    /// opens.
    fn create(transport: Transport, mode: Mode, size: usize) -> Result<(Pending, String)> {
        let name = unique_name();
        let shared = |pending: fn(SharedMemory) -> Pending, memory: SharedMemory| {
            let path = path_str(memory.path())?.to_owned();
            Ok((pending(memory), path))
        };
        match (transport, mode) {
            (Transport::Floor, Mode::Latency) => shared(
                Pending::Floor,
                floor::create::<{ floor::LINE }>(&name, size)?,
            ),
            (Transport::FloorRecord, Mode::Latency) => shared(
                Pending::FloorRecord,
                floor::create::<{ floor::RECORD }>(&name, size)?,
            ),
            (Transport::Floor, Mode::Throughput) => {
                shared(Pending::Ring, ring::create::<{ ring::LINE }>(&name, size)?)
            }
            (Transport::FloorRecord, Mode::Throughput) => shared(
                Pending::RingRecord,
                ring::create::<{ ring::RECORD }>(&name, size)?,
            ),
            (Transport::ShmqSpin | Transport::ShmqDefault | Transport::ShmqBlock, _) => {
                let wait = transport.wait_strategy().expect("a shmq transport");
                let queues = queue::Queues::create(&name, size, mode, wait)?;
                let end = queues.parent_end()?;
                Ok((Pending::Shmq(Box::new((queues, end))), name))
            }
            (Transport::Uds, _) => {
                let path = std::env::temp_dir().join(format!("{name}.sock"));
                let listener = socket::UnixListener::bind(&path)?;
                Ok((Pending::Unix(listener), path_str(&path)?.to_owned()))
            }
            (Transport::Tcp, Mode::Latency) => {
                let listener = TcpListener::bind(("127.0.0.1", 0)).context("tcp: bind")?;
                let address = listener.local_addr().context("tcp: local address")?;
                Ok((Pending::Tcp(listener), address.to_string()))
            }
            (Transport::Pipe, Mode::Latency) => Ok((Pending::Pipes, "stdio".to_owned())),
            (Transport::Mq, Mode::Latency) => {
                Ok((Pending::Mq(mq::Pair::create(&name, size)?), name))
            }
            (Transport::Tcp | Transport::Pipe | Transport::Mq, Mode::Throughput) => {
                Err(Error::new(
                    "not measured in throughput mode (only the floors, shmq-spin, shmq-default and uds)",
                ))
            }
        }
    }

    /// Finishes connecting once the peer is ready, and removes the name.
    fn connect(self, size: usize, peer: &mut Peer) -> Result<(ParentEnd, Option<queue::Queues>)> {
        let live = peer.liveness();
        Ok(match self {
            Pending::Floor(mut m) => {
                m.unlink();
                (ParentEnd::Floor(floor::End::parent(m, size, live)), None)
            }
            Pending::FloorRecord(mut m) => {
                m.unlink();
                (
                    ParentEnd::FloorRecord(floor::End::parent(m, size, live)),
                    None,
                )
            }
            Pending::Ring(mut m) => {
                m.unlink();
                (ParentEnd::Ring(ring::Producer::new(m, size, live)), None)
            }
            Pending::RingRecord(mut m) => {
                m.unlink();
                (
                    ParentEnd::RingRecord(ring::Producer::new(m, size, live)),
                    None,
                )
            }
            Pending::Shmq(both) => {
                let (mut queues, end) = *both;
                queues.unlink();
                (ParentEnd::Shmq(Box::new(end)), Some(queues))
            }
            Pending::Unix(listener) => {
                let stream = listener.accept()?;
                drop(listener); // removes the path
                (ParentEnd::Unix(Stream::unix(stream, size)?), None)
            }
            Pending::Tcp(listener) => {
                let (stream, _) = listener.accept().context("tcp: accept")?;
                (ParentEnd::Tcp(Stream::tcp(stream)?), None)
            }
            Pending::Pipes => {
                let (to_peer, from_peer) = peer.take_pipes()?;
                (
                    ParentEnd::Pipes(Stream::pipes(from_peer, to_peer, size)),
                    None,
                )
            }
            Pending::Mq(mut queues) => {
                queues.unlink();
                (ParentEnd::Mq(queues.parent_end(live)), None)
            }
        })
    }
}

/// The transports of one group, set up with one peer process.
#[derive(Debug)]
pub struct Link {
    peer: Peer,
    /// The parent's ends, in the group's order.
    pub ends: Vec<ParentEnd>,
    /// The parent's state on each end.
    pub lines: Vec<Line>,
    /// shmq transports: their queues (for the sleep counters).
    queues: Vec<Option<queue::Queues>>,
    /// The placement probe, first in every cycle, if there is one.
    probe: Option<(floor::End<{ floor::LINE }>, Line)>,
}

impl Link {
    /// Sets up `transports` (each at most once) for `size`-byte messages
    /// with one new peer, and the placement probe if `probe`; throughput
    /// blocks carry `streams[i]` messages on `transports[i]`.
    pub fn start(
        spawner: &Spawner,
        transports: &[Transport],
        mode: Mode,
        size: usize,
        streams: &[StreamCounts],
        probe: bool,
    ) -> Result<Link> {
        let probe_memory = if probe {
            Some(floor::create::<{ floor::LINE }>(&unique_name(), PROBE_SIZE).context("probe")?)
        } else {
            None
        };
        let probe_path = match &probe_memory {
            Some(m) => Some(path_str(m.path())?.to_owned()),
            None => None,
        };
        let mut pending = Vec::new();
        let mut endpoints = Vec::new();
        for &transport in transports {
            let (p, endpoint) =
                Pending::create(transport, mode, size).with_context(|| transport.name())?;
            pending.push(p);
            endpoints.push(endpoint);
        }
        let mut peer = spawner.spawn(
            transports,
            mode,
            size,
            &endpoints,
            streams,
            probe_path.as_deref(),
        )?;
        peer.ready()?;
        let probe = probe_memory.map(|mut memory| {
            memory.unlink();
            let end = floor::End::parent(memory, PROBE_SIZE, peer.liveness());
            (end, Line::new(PROBE_SIZE))
        });
        let mut ends = Vec::new();
        let mut queues = Vec::new();
        for (p, &transport) in pending.into_iter().zip(transports) {
            match p.connect(size, &mut peer) {
                Ok((end, q)) => {
                    ends.push(end);
                    queues.push(q);
                }
                Err(e) => {
                    return Err(peer.explain(Error::new(format!("{}: {e}", transport.name()))));
                }
            }
        }
        Ok(Link {
            peer,
            lines: transports.iter().map(|_| Line::new(size)).collect(),
            ends,
            queues,
            probe,
        })
    }

    /// Runs the placement probe (if there is one): the p50 of its round
    /// trips in nanoseconds.
    pub fn probe(&mut self) -> Result<Option<f64>> {
        let Some((end, line)) = &mut self.probe else {
            return Ok(None);
        };
        let block = measure::latency_block(end, line, PROBE_COUNTS, None).context("probe")?;
        Ok(Some(measure::median(&block.samples)))
    }

    /// `error`, with how the peer ended; kills the peer.
    pub fn explain(&mut self, error: Error) -> Error {
        self.peer.explain(error)
    }

    /// Futex sleeps per received message on the `i`th transport, both
    /// directions together (shmq only).
    pub fn sleeps_per_message(&self, i: usize) -> Option<f64> {
        self.queues[i].as_ref().and_then(|q| q.sleeps_per_message())
    }

    /// After whole cycles: sends the stop message on the first endpoint of
    /// a cycle (the one the peer is waiting on), waits for the peer to exit,
    /// and returns what it wrote on standard output after `ready`.
    pub fn finish(mut self) -> Result<String> {
        struct Stop<'a>(&'a mut Line);
        impl Visit for Stop<'_> {
            type Output = Result<()>;
            fn visit<E: Endpoint>(self, end: &mut E) -> Result<()> {
                self.0.stop(end)
            }
        }
        let stopped = match &mut self.probe {
            Some((end, line)) => Stop(line).visit(end),
            None => self.ends[0].visit(Stop(&mut self.lines[0])),
        }
        .context("send the stop message");
        match stopped {
            Ok(()) => self.peer.finish(),
            Err(e) => Err(self.peer.explain(e)),
        }
    }
}

/// The peer's side: opens the probe (if any) and the endpoints named in
/// `args`, in order, and says `ready`.
pub fn open_all(args: &PeerArgs, live: &Liveness) -> Result<(Option<ChildEnd>, Vec<ChildEnd>)> {
    if args.transport.len() != args.endpoint.len() {
        return Err(Error::new("as many --endpoint as --transport are needed"));
    }
    let size = args.size;
    let probe = match &args.probe {
        Some(path) => {
            let memory = floor::open::<{ floor::LINE }>(path, PROBE_SIZE).context("probe")?;
            Some(ChildEnd::Floor(floor::End::child(
                memory,
                PROBE_SIZE,
                live.clone(),
            )))
        }
        None => None,
    };
    let mut ends = Vec::new();
    for (&transport, endpoint) in args.transport.iter().zip(&args.endpoint) {
        let end = open(transport, args.mode, endpoint, size, live.clone())
            .with_context(|| transport.name())?;
        ends.push(end);
    }
    peer::signal_ready()?;
    Ok((probe, ends))
}

fn open(
    transport: Transport,
    mode: Mode,
    endpoint: &str,
    size: usize,
    live: Liveness,
) -> Result<ChildEnd> {
    Ok(match (transport, mode) {
        (Transport::Floor, Mode::Latency) => {
            let memory = floor::open::<{ floor::LINE }>(endpoint, size)?;
            ChildEnd::Floor(floor::End::child(memory, size, live))
        }
        (Transport::FloorRecord, Mode::Latency) => {
            let memory = floor::open::<{ floor::RECORD }>(endpoint, size)?;
            ChildEnd::FloorRecord(floor::End::child(memory, size, live))
        }
        (Transport::Floor, Mode::Throughput) => {
            let memory = ring::open::<{ ring::LINE }>(endpoint, size)?;
            ChildEnd::Ring(ring::Consumer::new(memory, size, live))
        }
        (Transport::FloorRecord, Mode::Throughput) => {
            let memory = ring::open::<{ ring::RECORD }>(endpoint, size)?;
            ChildEnd::RingRecord(ring::Consumer::new(memory, size, live))
        }
        (Transport::ShmqSpin | Transport::ShmqDefault | Transport::ShmqBlock, _) => {
            let wait = transport.wait_strategy().expect("a shmq transport");
            ChildEnd::Shmq(Box::new(queue::Queues::open(endpoint, wait)?.child_end()?))
        }
        (Transport::Uds, Mode::Latency) => {
            ChildEnd::Unix(Stream::unix(socket::connect_unix(endpoint)?, size)?)
        }
        (Transport::Uds, Mode::Throughput) => ChildEnd::UnixBuffered(Stream::unix_buffered(
            socket::connect_unix(endpoint)?,
            size,
        )?),
        (Transport::Tcp, _) => {
            let stream = TcpStream::connect(endpoint).context("tcp: connect")?;
            ChildEnd::Tcp(Stream::tcp(stream)?)
        }
        (Transport::Pipe, _) => {
            ChildEnd::Pipes(Stream::new(peer::stdin_file()?, peer::stdout_file()?))
        }
        (Transport::Mq, _) => ChildEnd::Mq(mq::Pair::open(endpoint)?.child_end(live)),
    })
}
