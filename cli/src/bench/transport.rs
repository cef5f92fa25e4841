//! The transports, and setting each one up between the two processes.
//!
//! Every transport becomes an [`Endpoint`] on each side: `send` hands one
//! whole message of the measurement's size to the transport, `recv` waits
//! for the next one and copies it into the caller's buffer. The timed loops
//! in `measure` are generic over `Endpoint` (through [`Job`]), so each
//! transport's calls are inlined into them with no dynamic dispatch.
//!
//! Set-up on the parent's side is the same dance for all of them: create
//! the endpoint under a unique name (pid and counter), start the peer with
//! that name, wait for its `ready`, finish connecting, then remove the name
//! at once (both processes hold it open), run the job, send the stop
//! message and wait for the peer to exit. Each name is also removed by a
//! guard on any early return.

// The library routes its atomics through a loom facade (clippy.toml bans
// std's elsewhere); this benchmark code is not modelled under loom and
// cannot reach that private facade.
#![allow(clippy::disallowed_types)]

use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

use clap::ValueEnum;

use super::error::{Context, Error, Result};
use super::measure::StreamCounts;
use super::measure::{self, PeerRole};
use super::peer::{self, Liveness, Peer, PeerArgs, Spawner};
use super::{floor, mq, queue, ring, socket};

/// A way of moving messages between the two processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ValueEnum)]
pub enum Transport {
    /// hand-written shared-memory ping-pong (latency) or SPSC ring
    /// (throughput): the floor
    Floor,
    /// the floor's ping-pong with a 16-byte record header before the
    /// payload, as shmq's records (latency only)
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
    /// Every transport, in the order of a round.
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
            Transport::Floor | Transport::ShmqSpin | Transport::ShmqDefault | Transport::Uds
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
}

/// Work the parent runs over an endpoint; generic so the endpoint's calls
/// are inlined into the timed loop.
pub trait Job {
    /// What the work measured.
    type Output;
    /// Runs the work over `endpoint`.
    fn run<E: Endpoint>(self, endpoint: &mut E) -> Result<Self::Output>;
}

/// One measurement's parameters.
#[derive(Debug, Clone, Copy)]
pub struct Setup<'a> {
    pub transport: Transport,
    pub mode: Mode,
    pub size: usize,
    /// Throughput: the stream's counts, for the receiving peer.
    pub stream: Option<StreamCounts>,
    pub spawner: &'a Spawner,
}

/// What the parent learns besides the job's output.
#[derive(Debug, Default)]
pub struct Extra {
    /// What the peer wrote on standard output after `ready`.
    pub report: String,
    /// shmq: sleeps per received message, both ends together.
    pub sleeps_per_message: Option<f64>,
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

/// Sets up `setup.transport` with a fresh peer, runs `job` on the parent's
/// endpoint, stops the peer and waits for it.
pub fn run_parent<J: Job>(setup: &Setup<'_>, job: J) -> Result<(J::Output, Extra)> {
    let Setup {
        transport,
        mode,
        size,
        stream,
        spawner,
    } = *setup;
    let name = unique_name();
    let spawn = |endpoint: &str| spawner.spawn(transport, mode, size, endpoint, stream);
    match (transport, mode) {
        (Transport::Floor, Mode::Latency) => {
            floor_parent::<{ floor::LINE }, _>(&name, size, spawn, job)
        }
        (Transport::FloorRecord, Mode::Latency) => {
            floor_parent::<{ floor::RECORD }, _>(&name, size, spawn, job)
        }
        (Transport::Floor, Mode::Throughput) => {
            let mut memory = ring::create(&name, size)?;
            let mut peer = spawn(path_str(memory.path())?)?;
            peer.ready()?;
            memory.unlink();
            let mut end = ring::Producer::new(memory, size, peer.liveness());
            finish(&mut end, peer, size, job)
        }
        (Transport::ShmqSpin | Transport::ShmqDefault | Transport::ShmqBlock, _) => {
            let wait = transport.wait_strategy().expect("a shmq transport");
            let mut queues = queue::Queues::create(&name, size, mode, wait)?;
            let mut end = queues.parent_end()?;
            let mut peer = spawn(&name)?;
            peer.ready()?;
            queues.unlink();
            let (output, mut extra) = finish(&mut end, peer, size, job)?;
            extra.sleeps_per_message = queues.sleeps_per_message();
            Ok((output, extra))
        }
        (Transport::Uds, _) => {
            let path = std::env::temp_dir().join(format!("{name}.sock"));
            let listener = socket::UnixListener::bind(&path)?;
            let mut peer = spawn(path_str(&path)?)?;
            peer.ready()?;
            let stream = listener.accept()?;
            drop(listener); // removes the path
            let mut end = socket::Stream::unix(stream, size)?;
            finish(&mut end, peer, size, job)
        }
        (Transport::Tcp, Mode::Latency) => {
            let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).context("tcp: bind")?;
            let address = listener.local_addr().context("tcp: local address")?;
            let mut peer = spawn(&address.to_string())?;
            peer.ready()?;
            let (stream, _) = listener.accept().context("tcp: accept")?;
            let mut end = socket::Stream::tcp(stream)?;
            finish(&mut end, peer, size, job)
        }
        (Transport::Pipe, Mode::Latency) => {
            let mut peer = spawn("stdio")?;
            peer.ready()?;
            let (to_peer, from_peer) = peer.take_pipes()?;
            let mut end = socket::Stream::pipes(from_peer, to_peer, size);
            finish(&mut end, peer, size, job)
        }
        (Transport::Mq, Mode::Latency) => {
            let mut queues = mq::Pair::create(&name, size)?;
            let mut peer = spawn(&name)?;
            peer.ready()?;
            queues.unlink();
            let mut end = queues.parent_end(peer.liveness());
            finish(&mut end, peer, size, job)
        }
        (
            Transport::FloorRecord | Transport::Tcp | Transport::Pipe | Transport::Mq,
            Mode::Throughput,
        ) => Err(Error::new(
            "not measured in throughput mode (only floor, shmq-spin, shmq-default and uds)",
        )),
    }
}

/// The parent's side of the latency floor with a `HEADER`-byte header.
fn floor_parent<const HEADER: usize, J: Job>(
    name: &str,
    size: usize,
    spawn: impl FnOnce(&str) -> Result<Peer>,
    job: J,
) -> Result<(J::Output, Extra)> {
    let mut memory = floor::create::<HEADER>(name, size)?;
    let mut peer = spawn(path_str(memory.path())?)?;
    peer.ready()?;
    memory.unlink();
    let mut end = floor::End::<HEADER>::parent(memory, size, peer.liveness());
    finish(&mut end, peer, size, job)
}

/// Runs `job`, sends the stop message and waits for the peer; on failure,
/// kills the peer and adds its standard error to the error.
fn finish<E: Endpoint, J: Job>(
    end: &mut E,
    mut peer: Peer,
    size: usize,
    job: J,
) -> Result<(J::Output, Extra)> {
    let result = job.run(end).and_then(|output| {
        end.send(&measure::stop_message(size))
            .context("send the stop message")?;
        Ok(output)
    });
    match result {
        Ok(output) => Ok((
            output,
            Extra {
                report: peer.finish()?,
                sleeps_per_message: None,
            },
        )),
        Err(e) => Err(peer.explain(e)),
    }
}

/// The peer's side: opens the endpoint named in `args`, says `ready`, and
/// plays `role` until the stop message.
pub fn serve(args: &PeerArgs, live: Liveness, role: PeerRole) -> Result<()> {
    let size = args.size;
    let endpoint = args.endpoint.as_str();
    match (args.transport, args.mode) {
        (Transport::Floor, Mode::Latency) => {
            let memory = floor::open::<{ floor::LINE }>(endpoint, size)?;
            let mut end = floor::End::<{ floor::LINE }>::child(memory, size, live);
            serve_on(&mut end, size, role)
        }
        (Transport::FloorRecord, _) => {
            let memory = floor::open::<{ floor::RECORD }>(endpoint, size)?;
            let mut end = floor::End::<{ floor::RECORD }>::child(memory, size, live);
            serve_on(&mut end, size, role)
        }
        (Transport::Floor, Mode::Throughput) => {
            let memory = ring::open(endpoint, size)?;
            serve_on(&mut ring::Consumer::new(memory, size, live), size, role)
        }
        (Transport::ShmqSpin | Transport::ShmqDefault | Transport::ShmqBlock, _) => {
            let wait = args.transport.wait_strategy().expect("a shmq transport");
            let queues = queue::Queues::open(endpoint, wait)?;
            serve_on(&mut queues.child_end()?, size, role)
        }
        (Transport::Uds, Mode::Latency) => {
            let stream = socket::connect_unix(endpoint)?;
            serve_on(&mut socket::Stream::unix(stream, size)?, size, role)
        }
        (Transport::Uds, Mode::Throughput) => {
            let stream = socket::connect_unix(endpoint)?;
            serve_on(
                &mut socket::Stream::unix_buffered(stream, size)?,
                size,
                role,
            )
        }
        (Transport::Tcp, _) => {
            let stream = std::net::TcpStream::connect(endpoint).context("tcp: connect")?;
            serve_on(&mut socket::Stream::tcp(stream)?, size, role)
        }
        (Transport::Pipe, _) => {
            let mut end = socket::Stream::new(peer::stdin_file()?, peer::stdout_file()?);
            serve_on(&mut end, size, role)
        }
        (Transport::Mq, _) => {
            let queues = mq::Pair::open(endpoint)?;
            serve_on(&mut queues.child_end(live), size, role)
        }
    }
}

fn serve_on<E: Endpoint>(end: &mut E, size: usize, role: PeerRole) -> Result<()> {
    peer::signal_ready()?;
    measure::serve(end, size, role)
}
