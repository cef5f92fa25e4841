//! The benchmark behind `shmq bench`: shmq against the hardware floor and
//! the kernel's IPC, between two real processes, side by side.
//!
//! A program runs it with [`Bench::run`] on the options of its command
//! line ([`BenchArgs`]), and serves as its own peer with
//! [`Bench::run_peer`] ([`PeerArgs`]); the `shmq` tool does both, as
//! `shmq bench` and the hidden `shmq bench-peer`. Other transports can be
//! added ([`Transport`], see [Adding a transport](#adding-a-transport)):
//! they are measured by the same method and reported in the same tables.
//!
//! # Method
//!
//! **Two processes.** The parent re-executes its own binary as its peer
//! (`shmq bench-peer`, a hidden subcommand), so both ends are real
//! processes with their own address spaces, as in production. See `peer`
//! for the protocol and supervision.
//!
//! **Pinning.** By default the parent pins itself to one CPU and the peer
//! to another (`--cpus`, `--no-pin`); the header says what was done. On a
//! single CPU the spinning transports are skipped: two processes spinning
//! on one CPU measure the scheduler's time slice.
//!
//! **Paired blocks.** On a VM the virtual CPUs move between host cores
//! every few seconds, which changes the floor by up to 5x (a 64-byte round
//! trip of about 60, 130 or 300-480 ns on the machines we used; the
//! fastest looks like two threads of one core), and a transport's ratio to
//! the floor need not be the same in every placement; so a ratio of two numbers taken seconds
//! apart compares placements, not transports. Each transport under test is
//! therefore set up *in the same peer* as the floor, and the two are
//! measured in short alternating blocks: floor, transport, floor,
//! transport, ... (`schedule`). A latency block is a few hundred round trips
//! (well under a millisecond to a few milliseconds; transports that sleep
//! on every message get a tenth as many), a throughput block a stream of
//! up to 50,000 messages (about a millisecond); the peer moves from one
//! endpoint to the next on a reserved "switch" message, which it echoes
//! (latency) or acknowledges (throughput). Every message is still written,
//! copied and checked (`measure`). Each cycle's transport block and floor
//! block make a *pair*, whose ratio (p50 over p50, rate over rate) was
//! taken milliseconds apart in one placement; the tables show the median
//! ratio over the pairs with its interquartile range, `1.32 [1.28-1.37]`
//! (`report`). `--rounds` is the number of pairs per transport and size,
//! `--iters` the round trips of a latency block (and scales the other
//! blocks). The absolute numbers pool all blocks, as the percentile curves
//! of `--plot` do, and only say where the blocks happened to run.
//!
//! **Passes.** A group of a few hundred pairs lasts well under a second,
//! within one placement, and the floor and a transport do not scale alike
//! between placements (nor between the slightly different ones a "slow"
//! class holds): run in one piece, a transport's median would be that of
//! whichever placement its group happened to meet. So the run is made of
//! ten passes, each running a tenth of every group's cycles with a new
//! peer (about 3 ms to start), mode after mode and size after size; every
//! transport's pairs are spread over the whole run and sample the same mix
//! of placements, and the tables are printed at the end. Streams of small
//! messages (up to 128 B) on the transports compared with the ring floors
//! (not those that sleep, nor the mailboxes) get at least 256 pairs, in 40
//! passes spread over the same run: in the slow placements a bare ring's
//! rate swings 2-5x from one block to the next (its producer and consumer
//! fall in and out of step), so a median over 64 pairs still moved by
//! about 0.1 between runs from sampling alone.
//!
//! **Placement.** Every cycle starts with a probe of its own: 200 round
//! trips of a 64-byte message on a separate `floor` ping-pong in the
//! same peer. Its p50 sorts the cycle into fast (below 100 ns), mid
//! (100-200 ns) or slow (above 200 ns) placement, the same way in every
//! mode and message size, and the tables give the ratios per placement
//! when the pairs ran in more than one. A run's overall median is only as
//! reproducible as its mix of placements; the per-placement ratios are the
//! ones to compare across runs and machines. The throughput tables
//! therefore give their ratios over the pairs of the placement most of the
//! section's cycles ran in (named in the column heads), and every record
//! carries that *headline* ratio too (`headline_placement`,
//! `headline_median`, ...).
//!
//! What the paired method cannot remove: on the machines we used, in the
//! slow placement, the bare rings' rate (and far less, shmq's) also drifts
//! with the host over tens of seconds, by up to 2x at 64 B, so a
//! slow-placement throughput ratio to the rings can differ by 0.5 between
//! runs a minute apart however many pairs each has (more pairs, longer or
//! shorter blocks, a longer warm-up, a delayed start, fresh pages per
//! group, or rings polled by a stamp in the slot instead of an index did
//! not change that). The fast placement's ratios held within 0.03 in every
//! run that met it.
//!
//! **Two throughput floors.** A throughput cycle is a memcpy in the parent
//! (the reference for moving the bytes at all), then two bare rings: `floor`
//! (`ring`: 64-byte slots, one cache line per 64-byte message) and
//! `floor-record` (`ring-record`: 128-byte slots with a 16-byte header before
//! the payload, two lines per 64-byte message, as a shmq record), then the
//! transport; each transport's rate is given against both floors and
//! memcpy, each from the same cycle.
//!
//! **What is timed** (details in `measure`): latency is the round trip of
//! a message the parent writes and checks and the peer copies out and
//! sends back; each timed round trip is one sample (two monotonic clock
//! reads), after an untimed warm-up, and for small messages on transports
//! that stay awake a batch timed as a whole gives a mean with no clock
//! overhead. Throughput is a one-way stream timed by the receiver, from its
//! last warm-up message to its last message; the Unix socket's blocks are
//! at least 2 MiB (eight socket buffers), so a receiver slow to wake cannot
//! find a whole block already buffered.
//!
//! **Idle peer** (`--mode idle`, and part of the default `both`): the
//! round trip again, but the parent busy-waits an untimed gap
//! (`--idle-gap-us`, 200 us by default) before each ping, longer than
//! shmq's default spin budget ([`shmq::DEFAULT_SPIN`], 50 us), so the
//! default strategy's peer has stopped spinning and sleeps when the message
//! comes; the tight ping-pong above never lets it sleep. Busy-waiting
//! rather than sleeping keeps the parent on its CPU, so only the peer is
//! idle and the gap is exact (see `measure`). Its blocks are long (ten
//! round trips of more than 200 us), so all of its transports share one
//! peer, a cycle being a block on each: floor and uds first, then
//! floor-record, the three shmq strategies, the service with the default
//! strategy (`shmq-service`: its server sleeps), the lossless topics with
//! it (`shmq-topic`), uds-rr and pipe; each transport's
//! ratios are to the floor and to the Unix socket of the same cycle. The
//! floors are still spinning, as a reference, so the ratios that matter
//! here are those to the Unix socket.
//!
//! **Transports** (each set up as a competent user would; see each module):
//!
//! | name | what each message costs |
//! | --- | --- |
//! | `floor` | latency: the payload copied into a 128-byte-aligned shared region behind its sequence word, the word stored with Release, the peer spinning on it and copying out: one cache line each way at 64 B; each direction moves along a ring of up to 64 regions, one per message, as shmq moves along its slots (a line's transfer time depends on its address: one reused line made the floor, and every ratio to it, move by up to 0.2 between runs) (`floor`); throughput: a bare SPSC ring of 64-byte slots (`ring`) |
//! | `floor-record` | latency: the same, laid out as a shmq record: the sequence word, an 8-byte header (the length, written by the sender, read and checked by the peer), the payload at offset 16: two cache lines each way at 64 B; its ratio to `floor` is the price of the header's second line in a bare ping-pong (`floor`); throughput: the same ring with 128-byte slots and a 16-byte header, checked by the consumer (`ring`) |
//! | `shmq-spin`, `shmq-default`, `shmq-block` | `Sender::send` from a buffer, `Receiver::recv_with` copying out; wait strategy `Spin`, the default (spin 50 us, then futex), `Block` (`queue`) |
//! | `shmq-mbx16-spin` | messages up to 64 KiB: as `shmq-spin`, but each queue is a mailbox of 16 sender lanes (`senders(16)`): the sending process attaches the sender that sends and holds the other 15 lanes with idle senders, so the receiver serves one busy lane among 15 idle ones; both directions of a round trip are such mailboxes (`queue`) |
//! | `shmq-mbx2` | throughput only, messages up to 128 B: a mailbox of 2 lanes whose senders, two threads of the parent, send at once; the peer's receiver tells them apart with `recv_with_from` (`queue`) |
//! | `shmq-service-spin`, `shmq-service` | round trips only: a shmq service (`shmq::Service`) with the library's default 16 client lanes, one client attached, and the plain queue's ring shape sized for the message and the 32-byte service header; the parent is the client, a round trip one `Client::call_with` copying the reply out; the peer is the server, `Server::recv_request_with` copying the request out, then `Server::reply` from its buffer; wait strategy `Spin` (paired with `shmq-spin`, as the mailboxes, for the service's own cost) or the default (also with the idle peer) (`service`) |
//! | `shmq-topic-spin`, `shmq-topic`, `shmq-topic-lossy-spin` | round trips only: two shmq topics (`shmq::Topic`), the ping published by the parent to one subscriber in the peer, the pong by the peer to one in the parent, with the plain queue's ring shape and the library's default 8 subscriber entries; `Publisher::send` from a buffer, `Subscriber::recv_with` copying out (in place in a lossless topic; a lossy one's subscriber copies the record out with atomic loads and checks the mark first); lossless with wait strategy `Spin` (paired with `shmq-spin`, for the topic's own cost) or the default (also with the idle peer), and lossy with `Spin` (paired with `shmq-spin`) (`topic`) |
//! | `uds`, `tcp`, `pipe` | `write_all` and `read_exact` on a Unix stream socket, loopback TCP with `TCP_NODELAY`, a pipe pair; pipes and Unix socket buffers sized to hold a message (`socket`) |
//! | `uds-rr` | round trips only: a Unix stream socket as a request/response protocol has it: frames of a 4-byte length and the body, each sent with one `writev` and read with one `readv` into a header word and the caller's buffer (more calls only for a frame larger than the socket buffer), on both sides (`socket`) |
//! | `mq` | `mq_send` and `mq_timedreceive` on POSIX message queues, sizes up to `msgsize_max` (`mq`) |
//!
//! **Mailboxes, the service and the topics.** Each mailbox transport's
//! group, `shmq-service-spin`'s and the spinning topics', also holds the
//! plain queue, `shmq-spin`, as its *baseline*: a cycle runs floor, shmq-spin,
//! then the mailbox (throughput: memcpy, both floors, shmq-spin, the
//! mailbox), so the mailbox's ratio to the plain queue (p50 over p50, rate
//! over rate) is taken per cycle, blocks milliseconds apart, as its ratio
//! to the floor is, rather than derived as a quotient of two medians
//! through the floor from groups that ran at other times. Those blocks of
//! shmq-spin count only in that ratio, not in shmq-spin's own row. Two
//! senders at once (`shmq-mbx2`): both threads run on the parent's CPU (the
//! peer's receiver has the other), and they take turns: each sends up to
//! 1024 messages (fewer if its lane is full), then hands the CPU to the
//! other, so both lanes (eight times the plain queue's ring) stay full
//! and the receiver always has both to choose from: saturated. A block's
//! timed part is the contended one, from when both senders have had their
//! warm-up taken to when one has had its last message taken; the report
//! gives each sender's share of the messages taken in it (`measure`),
//! min, median and max over the blocks.
//!
//! **Cleanup.** Every name a group creates (`/dev/shm` files, shmq queues,
//! a socket path, message queues) is unique to the run and removed as soon
//! as both processes have it open, and by a guard on any error; a peer is
//! killed if the parent gives up on it, and dies with the parent
//! (`PR_SET_PDEATHSIG`).
//!
//! **JSON** (`--json`): a `run` record, then one `measurement` record per
//! transport, mode and size: the pooled absolute numbers, the median ratios
//! (`p50_vs_floor`, `rate_vs_floor`, `rate_vs_floor_record`, ...), the
//! ratio named in `ratio` with its quartiles (`ratio_median`, `ratio_q1`,
//! `ratio_q3`) over `pairs` pairs, and the same per placement
//! (`pairs_fast`, `ratio_fast_median`, ...); `round` is null since there
//! are no rounds. A mailbox's record, and those of `shmq-service-spin`
//! and the spinning topics, name their `baseline` and give their
//! ratio to it (`baseline_pairs`, `baseline_ratio_median`, `_q1`, `_q3`,
//! `baseline_ratio_fast_median`, ...); `shmq-mbx2`'s gives the shares
//! (`share_blocks`, `share_lane0_min`, `_median`, `_max`, the same for
//! `lane1`). Every record has every field, null where it does not apply.
//!
//! # Adding a transport
//!
//! A program that measures another transport (another crate's IPC, say)
//! implements [`Transport`] for it, with an [`Endpoint`] for each side,
//! registers it with [`Bench::transport`], and embeds the benchmark's two
//! subcommands in its command line: the run ([`BenchArgs`], to
//! [`Bench::run`]) and the peer ([`PeerArgs`], to [`Bench::run_peer`]),
//! which the run starts as `<the program> bench-peer ...` unless
//! [`Bench::peer_subcommand`] says otherwise. The peer must be the same
//! program with the same transports registered. The added transport is
//! then one more subject, after the built-in ones: paired with the floor in
//! one peer, in alternating blocks, in every mode it takes part in, named
//! by `--transports`.
//!
//! Here a Unix stream socket (the built-in `uds` again, without its buffer
//! sizing) is added as `unix-stream`; `example bench --transports
//! unix-stream` then measures it and the references:
//!
//! ```no_run
//! use std::io::{Read, Write};
//! use std::os::unix::net::{UnixListener, UnixStream};
//! use std::path::PathBuf;
//! use std::process::ExitCode;
//!
//! use clap::Parser;
//! use shmq_bench::{
//!     Bench, BenchArgs, Context, Endpoint, Error, Liveness, Mode, PeerArgs, Result,
//! };
//!
//! /// A Unix stream socket: the parent listens, the peer connects.
//! struct UnixSocket;
//!
//! /// The parent's listener, its path removed when dropped.
//! struct Listening(UnixListener, PathBuf);
//!
//! impl Drop for Listening {
//!     fn drop(&mut self) {
//!         let _ = std::fs::remove_file(&self.1);
//!     }
//! }
//!
//! /// Either side: messages are written and read whole; a dead peer is
//! /// end-of-file.
//! struct End(UnixStream);
//!
//! impl Endpoint for End {
//!     fn send(&mut self, msg: &[u8]) -> Result<()> {
//!         self.0.write_all(msg).context("write")
//!     }
//!
//!     fn recv(&mut self, buf: &mut [u8]) -> Result<()> {
//!         self.0.read_exact(buf).context("read")
//!     }
//! }
//!
//! impl shmq_bench::Transport for UnixSocket {
//!     type Pending = Listening;
//!     type Parent = End;
//!     type Child = End;
//!
//!     fn name(&self) -> &'static str {
//!         "unix-stream"
//!     }
//!
//!     fn sleeps(&self) -> bool {
//!         true // a system call and a wake-up per message
//!     }
//!
//!     fn create(&self, _: Mode, _: usize) -> Result<(Listening, String)> {
//!         let path = std::env::temp_dir().join(shmq_bench::unique_name());
//!         let listener = UnixListener::bind(&path).context("bind")?;
//!         let endpoint = path.to_str().ok_or_else(|| Error::new("a path not in UTF-8"))?;
//!         let endpoint = endpoint.to_owned();
//!         Ok((Listening(listener, path), endpoint))
//!     }
//!
//!     fn connect(&self, listening: Listening, _: Liveness) -> Result<End> {
//!         let (stream, _) = listening.0.accept().context("accept")?;
//!         Ok(End(stream)) // dropping `listening` removes the path
//!     }
//!
//!     fn open(&self, _: Mode, endpoint: &str, _: usize, _: Liveness) -> Result<End> {
//!         Ok(End(UnixStream::connect(endpoint).context("connect")?))
//!     }
//! }
//!
//! /// The benchmark with one more transport.
//! #[derive(Parser)]
//! enum Cli {
//!     /// Run the benchmark.
//!     Bench(BenchArgs),
//!     /// The benchmark's second process (internal).
//!     #[command(hide = true)]
//!     BenchPeer(PeerArgs),
//! }
//!
//! fn main() -> ExitCode {
//!     let bench = Bench::new().transport(UnixSocket);
//!     let ran = match Cli::parse() {
//!         Cli::Bench(args) => bench.run(&args),
//!         Cli::BenchPeer(args) => bench.run_peer(&args),
//!     };
//!     match ran {
//!         Ok(()) => ExitCode::SUCCESS,
//!         Err(e) => {
//!             eprintln!("example: {e}");
//!             ExitCode::from(e.exit_code())
//!         }
//!     }
//! }
//! ```
//!
//! # Modules
//!
//! `args` (the run's options), `run` (the driver: plan, groups, passes),
//! `transport` (the [`Transport`] and [`Endpoint`] traits, how the driver
//! holds a transport, set-up of a group), `builtin` (the built-in
//! transports), `floor`, `ring`, `queue`, `service`, `topic`, `socket`,
//! `mq` (their endpoints), `shm` (shared memory of the floors), `peer` (the second
//! process), `schedule` (cycles of blocks and the probe), `measure` (the
//! timed loops), `affinity` (pinning, machine facts), `report` (pairs,
//! tables and JSON), `plot` (SVG), `error`.

mod affinity;
mod args;
mod builtin;
mod error;
mod floor;
mod measure;
mod mq;
mod peer;
mod plot;
mod queue;
mod report;
mod ring;
mod run;
mod schedule;
mod service;
mod shm;
mod socket;
mod topic;
mod transport;

use std::ffi::OsString;

use self::builtin::Builtin;
use self::transport::Kind;

pub use self::args::{BenchArgs, parse_size};
pub use self::error::{Context, Error, Result, RunError};
pub use self::peer::{Liveness, PeerArgs, spin_until};
pub use self::transport::{Endpoint, Mode, Transport, unique_name};

/// The benchmark: its transports (the built-in ones and any added) and how
/// its peer process is started.
///
/// The same `Bench` (the same transports, in the same order) must serve
/// both sides: [`run`](Bench::run) in the parent, and
/// [`run_peer`](Bench::run_peer) in the peer process that the run starts
/// by re-executing the running program.
///
/// # Examples
///
/// What `shmq bench` and `shmq bench-peer` do (see the [crate
/// docs](crate#adding-a-transport) for a transport added):
///
/// ```no_run
/// # fn main() -> Result<(), shmq_bench::RunError> {
/// # let (args, peer_args): (shmq_bench::BenchArgs, shmq_bench::PeerArgs) = todo!();
/// use shmq_bench::Bench;
///
/// // shmq bench ...
/// Bench::new().run(&args)?;
/// // shmq bench-peer ... (started by the run)
/// Bench::new().run_peer(&peer_args)?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Bench {
    /// Every transport, in report order: the built-in ones, then those
    /// added.
    kinds: Vec<Kind>,
    /// The arguments that make the running program the peer.
    peer_subcommand: Vec<OsString>,
}

impl Default for Bench {
    fn default() -> Self {
        Bench::new()
    }
}

impl Bench {
    /// The built-in transports, with the peer started as `<the running
    /// program> bench-peer`.
    pub fn new() -> Self {
        Bench {
            kinds: Builtin::ALL.map(Kind::builtin).into(),
            peer_subcommand: vec!["bench-peer".into()],
        }
    }

    /// Adds `transport`, measured after the built-in ones and those added
    /// before it. `--transports` accepts its name (the help lists only the
    /// built-in ones).
    ///
    /// # Panics
    ///
    /// If its name is empty, holds a comma or whitespace, or is taken by
    /// another transport.
    pub fn transport<T: Transport>(mut self, transport: T) -> Self {
        let kind = Kind::extra(transport);
        let name = kind.name();
        assert!(
            !name.is_empty() && !name.contains(|c: char| c == ',' || c.is_whitespace()),
            "a transport's name is a word without commas, not {name:?}"
        );
        assert!(
            !self.kinds.contains(&kind),
            "there is already a transport named {name:?}"
        );
        self.kinds.push(kind);
        self
    }

    /// Sets the arguments that make the running program the benchmark's
    /// peer, before the options ([`PeerArgs`]) the run adds: `bench-peer`
    /// by default, `["tools", "bench-peer"]` for a program that nests it
    /// deeper.
    pub fn peer_subcommand<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.peer_subcommand = args.into_iter().map(Into::into).collect();
        self
    }

    /// Runs the benchmark the options `args` ask for: prints the report on
    /// standard output (tables, or JSON lines with `--json`) and progress
    /// on standard error. A transport that fails is reported as skipped,
    /// with the reason; the run goes on without it.
    ///
    /// # Errors
    ///
    /// [`RunError::Usage`] for invalid options (an unknown transport, a
    /// size out of range, ...), [`RunError::StdoutClosed`] if standard
    /// output is closed, [`RunError::Failed`] if the report or the plot
    /// cannot be written or the running program cannot be found.
    pub fn run(&self, args: &BenchArgs) -> Result<(), RunError> {
        run::run(&self.kinds, &self.peer_subcommand, args)
    }

    /// Serves as the peer of a run, in the process the run started: opens
    /// the transports `args` names and serves their blocks until the
    /// parent stops it. Returns when the parent has stopped it; dies with
    /// the parent.
    ///
    /// # Errors
    ///
    /// [`RunError::Failed`] if a transport cannot be opened or fails, or
    /// the parent is gone; the parent reports the message.
    pub fn run_peer(&self, args: &PeerArgs) -> Result<(), RunError> {
        peer::run_peer(&self.kinds, args)
    }
}
