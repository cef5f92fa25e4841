//! The transports: what one is ([`Transport`], [`Endpoint`]), how the
//! driver holds each, and setting several of them up between the same two
//! processes.
//!
//! Every transport becomes an [`Endpoint`] on each side: `send` hands one
//! whole message of the measurement's size to the transport, `recv` waits
//! for the next one and copies it into the caller's buffer. The built-in
//! transports (`builtin`) and those a program adds ([`Transport`], through
//! [`Bench::transport`](crate::Bench::transport)) are the same thing to
//! the driver: a [`Kind`] over the object-safe [`Setup`], whose ends come
//! back as `Box<dyn Blocks>`. [`Blocks`] is implemented for every endpoint
//! type and runs a whole block, so the timed loop is instantiated for the
//! concrete type and each transport's calls are inlined into it: one
//! dynamic dispatch per block, none per message.
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

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use clap::ValueEnum;

use super::builtin::Builtin;
use super::error::{Context, Error, Result};
use super::floor;
use super::measure::{
    self, BlockLatency, BlockTime, LatencyCounts, Line, Next, PeerLine, StreamCounts,
};
use super::peer::{self, Liveness, Peer, PeerArgs, Spawner};
use super::schedule::{PROBE_COUNTS, PROBE_SIZE};

/// One side of a transport: what the benchmark sends and receives
/// through. Every message is exactly the measurement's size, at least 8
/// bytes.
///
/// The timed loops call these methods for each message, instantiated for
/// the implementing type (no dynamic dispatch per message), so they should
/// do what a competent user of the transport would do per message and no
/// more: no allocation, no logging. A call that waits (`recv`, and `send`
/// on a full transport) must give up with an error once the other process
/// is gone, as a blocking read does at end-of-file, or by checking the
/// [`Liveness`] it was given (see [`spin_until`](crate::spin_until)).
pub trait Endpoint {
    /// Sends `msg` (copying it into the transport).
    ///
    /// # Errors
    ///
    /// If the transport fails or the other process is gone.
    fn send(&mut self, msg: &[u8]) -> Result<()>;
    /// Waits for the next message and copies it into `buf`, which must be
    /// exactly the message's length.
    ///
    /// # Errors
    ///
    /// If the transport fails, the message has another length, or the
    /// other process is gone.
    fn recv(&mut self, buf: &mut [u8]) -> Result<()>;
    /// One round trip of a latency block (the parent's side): sends `msg`
    /// and waits for the answer into `reply` (as long as `msg`). By
    /// default [`send`](Endpoint::send) then [`recv`](Endpoint::recv); a
    /// request/response transport makes it its one call, as its users
    /// would (the built-in `shmq-service-spin`: `Client::call_with`).
    ///
    /// # Errors
    ///
    /// As [`send`](Endpoint::send) and [`recv`](Endpoint::recv).
    #[inline]
    fn round_trip(&mut self, msg: &[u8], reply: &mut [u8]) -> Result<()> {
        self.send(msg)?;
        self.recv(reply)
    }
    /// Throughput's back channel, receiver to sender: "I have taken every
    /// message of block `block`" (numbered from 1). By default an 8-byte
    /// message the other way.
    ///
    /// # Errors
    ///
    /// As [`send`](Endpoint::send).
    fn send_ack(&mut self, block: u64) -> Result<()> {
        self.send(&block.to_le_bytes())
    }
    /// Waits for the receiver's next acknowledgement and returns its block
    /// number.
    ///
    /// # Errors
    ///
    /// As [`recv`](Endpoint::recv).
    fn recv_ack(&mut self) -> Result<u64> {
        let mut block = [0; 8];
        self.recv(&mut block)?;
        Ok(u64::from_le_bytes(block))
    }
}

/// What a group of transports is set up for: round trips, in which the
/// parent sends and the peer echoes (tight, or after an idle gap), or a
/// one-way stream from the parent to the peer, which acknowledges each
/// block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// round trips
    Latency,
    /// a one-way stream
    Throughput,
}

impl Mode {
    /// Its name on the peer's command line and in the output.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Latency => "latency",
            Mode::Throughput => "throughput",
        }
    }
}

/// A transport added to the benchmark from outside this crate, with
/// [`Bench::transport`](crate::Bench::transport): it is measured exactly
/// as the built-in ones are (paired with the floor in one peer, in
/// alternating blocks, with the placement probe, over the passes) and
/// reported in the same tables and JSON records, after them.
///
/// Set-up takes three steps, each for one group of transports measured
/// with one new peer process:
///
/// 1. the parent [`create`](Transport::create)s its side before the peer
///    starts, and returns a name for the peer (a path, a service name, an
///    address; any string without a NUL byte);
/// 2. the peer, started with that name, [`open`](Transport::open)s its
///    side, then tells the parent it is ready;
/// 3. the parent [`connect`](Transport::connect)s what it created into its
///    end (accepting a connection, say), and removes the name.
///
/// Whatever `create` made must also be cleaned up when `Pending` is
/// dropped without `connect` (the peer failed to start): implement `Drop`
/// on it. Use [`unique_name`](crate::unique_name) for names, so runs and
/// groups never meet.
///
/// The answers of [`streams`](Transport::streams) and the other
/// properties must not change during a run.
pub trait Transport: 'static {
    /// What the parent holds between `create` and `connect`.
    type Pending: 'static;
    /// The parent's end: in latency mode it sends and waits for the echo;
    /// in throughput mode it sends and waits for acknowledgements
    /// ([`Endpoint::recv_ack`]).
    type Parent: Endpoint + 'static;
    /// The peer's end: it echoes (latency) or receives and acknowledges
    /// (throughput).
    type Child: Endpoint + 'static;

    /// Its name on the command line (`--transports`) and in the report:
    /// unique among the run's transports, without commas.
    fn name(&self) -> &'static str;

    /// Whether it is measured in throughput mode (a one-way stream).
    /// Default: yes.
    fn streams(&self) -> bool {
        true
    }

    /// Whether it is measured with the idle peer (round trips after an
    /// idle gap). Default: yes.
    fn idles(&self) -> bool {
        true
    }

    /// Whether both ends busy-wait, so it is skipped when the two
    /// processes share one CPU. Default: no.
    fn spins(&self) -> bool {
        false
    }

    /// Whether every message wakes a sleeping receiver (a system call or
    /// a futex wake per message, tens of microseconds), so its latency
    /// blocks carry a tenth of the round trips and its throughput blocks a
    /// twentieth of the messages (at least 2 MiB), as the kernel's
    /// transports. Default: no.
    fn sleeps(&self) -> bool {
        false
    }

    /// The parent's side, before the peer starts: creates this transport
    /// for `size`-byte messages in `mode`; returns what [`connect`]
    /// finishes and the name the peer [`open`]s.
    ///
    /// [`connect`]: Transport::connect
    /// [`open`]: Transport::open
    ///
    /// # Errors
    ///
    /// If it cannot be created; the transport is then reported as skipped
    /// with the error as the reason.
    fn create(&self, mode: Mode, size: usize) -> Result<(Self::Pending, String)>;

    /// The parent's side, once the peer has opened its side: finishes
    /// connecting and removes the name. `live` tells whether the peer
    /// process is still running.
    ///
    /// # Errors
    ///
    /// If the connection fails; the transport is reported as skipped.
    fn connect(&self, pending: Self::Pending, live: Liveness) -> Result<Self::Parent>;

    /// The peer's side: opens the transport the parent created, for
    /// `size`-byte messages in `mode`, at `endpoint` (the name `create`
    /// returned). `live` tells whether the parent process is still
    /// running.
    ///
    /// # Errors
    ///
    /// If it cannot be opened; the peer exits with the error, which the
    /// parent reports.
    fn open(&self, mode: Mode, endpoint: &str, size: usize, live: Liveness) -> Result<Self::Child>;
}

/// A transport as the driver sees it, built in or added: [`Transport`]
/// made object-safe, with what only built-in transports need.
pub trait Setup {
    /// See [`Transport::name`].
    fn name(&self) -> &'static str;
    /// See [`Transport::streams`].
    fn streams(&self) -> bool;
    /// See [`Transport::idles`].
    fn idles(&self) -> bool;
    /// See [`Transport::spins`].
    fn spins(&self) -> bool;
    /// See [`Transport::sleeps`].
    fn sleeps(&self) -> bool;
    /// Whether it is measured in round trips (latency mode). Only some
    /// built-in transports are not (a one-way mailbox of two senders).
    fn round_trips(&self) -> bool {
        true
    }
    /// The transport it is compared with block for block, besides the
    /// references: a block of it runs in every cycle of this transport's
    /// group, and the report gives this transport's ratio to it per pair
    /// (the mailboxes and the spinning service against the plain queue).
    /// Built-in transports only.
    fn baseline(&self) -> Option<Builtin> {
        None
    }
    /// Why it cannot carry `size`-byte messages on this machine, if it
    /// cannot (it is then not even tried).
    fn unfit(&self, _size: usize) -> Option<String> {
        None
    }
    /// See [`Transport::create`].
    fn create(&self, mode: Mode, size: usize) -> Result<(Box<dyn Connect>, String)>;
    /// See [`Transport::open`].
    fn open(
        &self,
        mode: Mode,
        endpoint: &str,
        size: usize,
        live: Liveness,
    ) -> Result<Box<dyn Blocks>>;
}

/// A transport created on the parent's side, waiting for the peer.
pub trait Connect {
    /// Finishes connecting once the peer is ready, and removes the name.
    fn connect(self: Box<Self>, size: usize, peer: &mut Peer) -> Result<Connected>;
}

/// The parent's end of a transport.
pub struct Connected {
    /// The end.
    pub end: Box<dyn Blocks>,
    /// shmq transports: their queues or topics (for the sleep counters).
    pub counters: Option<Box<dyn SleepCounters>>,
}

/// A shmq transport's shared counters, read by the parent after a
/// group's cycles (not on the timed path).
pub trait SleepCounters {
    /// Futex sleeps per received message, both directions together;
    /// `None` before any message.
    fn sleeps_per_message(&self) -> Option<f64>;
}

/// One transport of a run, built in or added: a cheap handle, equal to
/// another of the same name.
#[derive(Clone)]
pub struct Kind(Arc<dyn Setup>);

impl Kind {
    /// A built-in transport.
    pub fn builtin(transport: Builtin) -> Self {
        Kind(Arc::new(transport))
    }

    /// A transport added from outside.
    pub fn extra<T: Transport>(transport: T) -> Self {
        Kind(Arc::new(Extra(Arc::new(transport))))
    }

    /// Its name on the command line and in the output.
    pub fn name(&self) -> &'static str {
        self.0.name()
    }

    /// Whether it is measured in throughput mode.
    pub fn streams(&self) -> bool {
        self.0.streams()
    }

    /// Whether it is measured in idle-peer mode.
    pub fn idles(&self) -> bool {
        self.0.idles()
    }

    /// Whether both ends busy-wait (meaningless when they share one CPU).
    pub fn spins(&self) -> bool {
        self.0.spins()
    }

    /// Whether every message wakes a sleeping receiver (tens of
    /// microseconds here), so its blocks carry fewer messages.
    pub fn sleeps(&self) -> bool {
        self.0.sleeps()
    }

    /// Whether it is measured in round trips.
    pub fn round_trips(&self) -> bool {
        self.0.round_trips()
    }

    /// The transport it is paired with block for block, if any (see
    /// [`Setup::baseline`]).
    pub fn baseline(&self) -> Option<Kind> {
        self.0.baseline().map(Kind::builtin)
    }

    /// Why it cannot carry `size`-byte messages here, if it cannot.
    pub fn unfit(&self, size: usize) -> Option<String> {
        self.0.unfit(size)
    }

    fn create(&self, mode: Mode, size: usize) -> Result<(Box<dyn Connect>, String)> {
        self.0.create(mode, size)
    }

    fn open(
        &self,
        mode: Mode,
        endpoint: &str,
        size: usize,
        live: Liveness,
    ) -> Result<Box<dyn Blocks>> {
        self.0.open(mode, endpoint, size, live)
    }
}

impl PartialEq for Kind {
    fn eq(&self, other: &Self) -> bool {
        self.name() == other.name()
    }
}

impl Eq for Kind {}

impl fmt::Debug for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An added transport as a [`Setup`].
struct Extra<T>(Arc<T>);

impl<T: Transport> Setup for Extra<T> {
    fn name(&self) -> &'static str {
        self.0.name()
    }

    fn streams(&self) -> bool {
        self.0.streams()
    }

    fn idles(&self) -> bool {
        self.0.idles()
    }

    fn spins(&self) -> bool {
        self.0.spins()
    }

    fn sleeps(&self) -> bool {
        self.0.sleeps()
    }

    fn create(&self, mode: Mode, size: usize) -> Result<(Box<dyn Connect>, String)> {
        let (pending, endpoint) = self.0.create(mode, size)?;
        if endpoint.contains('\0') {
            return Err(Error::new("the endpoint's name holds a NUL byte"));
        }
        let pending = ExtraPending {
            transport: Arc::clone(&self.0),
            pending,
        };
        Ok((Box::new(pending), endpoint))
    }

    fn open(
        &self,
        mode: Mode,
        endpoint: &str,
        size: usize,
        live: Liveness,
    ) -> Result<Box<dyn Blocks>> {
        Ok(Box::new(self.0.open(mode, endpoint, size, live)?))
    }
}

/// An added transport's parent side between `create` and `connect`.
struct ExtraPending<T: Transport> {
    transport: Arc<T>,
    pending: T::Pending,
}

impl<T: Transport> Connect for ExtraPending<T> {
    fn connect(self: Box<Self>, _size: usize, peer: &mut Peer) -> Result<Connected> {
        let ExtraPending { transport, pending } = *self;
        let end = transport.connect(pending, peer.liveness())?;
        Ok(Connected {
            end: Box::new(end),
            counters: None,
        })
    }
}

/// A whole block on one endpoint, whatever its concrete type: implemented
/// for every [`Endpoint`], so each block's loop is instantiated for it.
pub trait Blocks {
    /// The parent's side of a latency block (see `measure`).
    fn latency(
        &mut self,
        line: &mut Line,
        counts: LatencyCounts,
        gap: Option<Duration>,
    ) -> Result<BlockLatency>;
    /// The parent's side of a throughput block.
    fn stream(&mut self, line: &mut Line, counts: StreamCounts) -> Result<()>;
    /// Sends the stop message.
    fn stop(&mut self, line: &mut Line) -> Result<()>;
    /// The peer's side of a latency block.
    fn echo(&mut self, line: &mut PeerLine) -> Result<Next>;
    /// The peer's side of a throughput block: its time (`None` at the
    /// stop message).
    fn receive(&mut self, line: &mut PeerLine, counts: StreamCounts) -> Result<Option<BlockTime>>;
}

impl<E: Endpoint> Blocks for E {
    fn latency(
        &mut self,
        line: &mut Line,
        counts: LatencyCounts,
        gap: Option<Duration>,
    ) -> Result<BlockLatency> {
        measure::latency_block(self, line, counts, gap)
    }

    fn stream(&mut self, line: &mut Line, counts: StreamCounts) -> Result<()> {
        measure::stream_block(self, line, counts)
    }

    fn stop(&mut self, line: &mut Line) -> Result<()> {
        line.stop(self)
    }

    fn echo(&mut self, line: &mut PeerLine) -> Result<Next> {
        measure::echo_block(self, line)
    }

    fn receive(&mut self, line: &mut PeerLine, counts: StreamCounts) -> Result<Option<BlockTime>> {
        Ok(measure::receive_block(self, line, counts)?.map(BlockTime::alone))
    }
}

/// A name no other run, group or transport uses: `shmq-bench-<pid>-<n>`,
/// for the files, queues, sockets or services a transport creates.
///
/// Names with this prefix and the run's pid are what the tests look for
/// in `/dev/shm` and the temporary directory after a run: a transport
/// that leaves one behind fails them.
pub fn unique_name() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("shmq-bench-{}-{n}", std::process::id())
}

/// Where in `group` the transport under test (the last) has its
/// baseline, if it has one there (see [`Setup::baseline`]).
pub fn baseline_position(group: &[Kind]) -> Option<usize> {
    let (subject, others) = group.split_last()?;
    let baseline = subject.baseline()?;
    others.iter().position(|t| *t == baseline)
}

/// `path` as a string, for the peer's command line.
pub fn path_str(path: &Path) -> Result<&str> {
    path.to_str()
        .ok_or_else(|| Error::new(format!("path {} is not UTF-8", path.display())))
}

/// The transports of one group, set up with one peer process.
pub struct Link {
    peer: Peer,
    /// The parent's ends, in the group's order.
    pub ends: Vec<Box<dyn Blocks>>,
    /// The parent's state on each end.
    pub lines: Vec<Line>,
    /// shmq transports: their queues or topics (for the sleep counters).
    counters: Vec<Option<Box<dyn SleepCounters>>>,
    /// The placement probe, first in every cycle, if there is one.
    probe: Option<(floor::End<{ floor::LINE }>, Line)>,
}

impl Link {
    /// Sets up `transports` (each at most once) for `size`-byte messages
    /// with one new peer, and the placement probe if `probe`; throughput
    /// blocks carry `streams[i]` messages on `transports[i]`.
    pub fn start(
        spawner: &Spawner,
        transports: &[Kind],
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
        for transport in transports {
            let (p, endpoint) = transport
                .create(mode, size)
                .with_context(|| transport.name())?;
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
        let mut counters = Vec::new();
        for (p, transport) in pending.into_iter().zip(transports) {
            match p.connect(size, &mut peer) {
                Ok(connected) => {
                    ends.push(connected.end);
                    counters.push(connected.counters);
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
            counters,
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
        self.counters[i]
            .as_ref()
            .and_then(|c| c.sleeps_per_message())
    }

    /// After whole cycles: sends the stop message on the first endpoint of
    /// a cycle (the one the peer is waiting on), waits for the peer to exit,
    /// and returns what it wrote on standard output after `ready`.
    pub fn finish(mut self) -> Result<String> {
        let stopped = match &mut self.probe {
            Some((end, line)) => line.stop(end),
            None => self.ends[0].stop(&mut self.lines[0]),
        }
        .context("send the stop message");
        match stopped {
            Ok(()) => self.peer.finish(),
            Err(e) => Err(self.peer.explain(e)),
        }
    }
}

/// The peer's ends of a group: the probe's, if any, and the transports'.
pub type ChildEnds = (Option<Box<dyn Blocks>>, Vec<Box<dyn Blocks>>);

/// The peer's side: opens the probe (if any) and the endpoints named in
/// `args`, in order, as the transports of `kinds` named there, and says
/// `ready`.
pub fn open_all(args: &PeerArgs, kinds: &[Kind], live: &Liveness) -> Result<ChildEnds> {
    if args.transport.len() != args.endpoint.len() {
        return Err(Error::new("as many --endpoint as --transport are needed"));
    }
    let size = args.size;
    let probe = match &args.probe {
        Some(path) => {
            let memory = floor::open::<{ floor::LINE }>(path, PROBE_SIZE).context("probe")?;
            let end = floor::End::<{ floor::LINE }>::child(memory, PROBE_SIZE, live.clone());
            Some(Box::new(end) as Box<dyn Blocks>)
        }
        None => None,
    };
    let mut ends = Vec::new();
    for (name, endpoint) in args.transport.iter().zip(&args.endpoint) {
        let kind = kinds
            .iter()
            .find(|kind| kind.name() == name)
            .ok_or_else(|| Error::new(format!("no transport named {name:?}")))?;
        let end = kind
            .open(args.mode, endpoint, size, live.clone())
            .with_context(|| kind.name())?;
        ends.push(end);
    }
    peer::signal_ready()?;
    Ok((probe, ends))
}
