//! `shmq bench`: shmq against the hardware floor and the kernel's IPC,
//! between two real processes, side by side.
//!
//! # Method
//!
//! **Two processes.** The parent re-executes its own binary as `shmq
//! bench-peer` (a hidden subcommand), so both ends are real processes with
//! their own address spaces, as in production. See `peer` for the protocol
//! and supervision.
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
//! of placements, and the tables are printed at the end.
//!
//! **Placement.** Every cycle starts with a probe of its own: 200 round
//! trips of a 64-byte message on a separate cache-line ping-pong in the
//! same peer. Its p50 sorts the cycle into fast (below 100 ns), mid
//! (100-200 ns) or slow (above 200 ns) placement, the same way in every
//! mode and message size, and the tables give the ratios per placement
//! when the pairs ran in more than one. A run's overall median is only as
//! reproducible as its mix of placements; the per-placement ratios are the
//! ones to compare across runs and machines.
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
//! floor-record, the three shmq strategies and pipe; each transport's
//! ratios are to the floor and to the Unix socket of the same cycle. The
//! floors are still spinning, as a reference, so the ratios that matter
//! here are those to the Unix socket.
//!
//! **Transports** (each set up as a competent user would; see each module):
//!
//! | name | what each message costs |
//! | --- | --- |
//! | `floor` | latency: the payload copied into a 128-byte-aligned shared region behind its sequence word, the word stored with Release, the peer spinning on it and copying out: one cache line each way at 64 B (`floor`); throughput: a bare SPSC ring of 64-byte slots (`ring`) |
//! | `floor-record` | latency: the same, laid out as a shmq record: the sequence word, an 8-byte header (the length, written by the sender, read and checked by the peer), the payload at offset 16: two cache lines each way at 64 B; its ratio to `floor` is the price of the header's second line in a bare ping-pong (it reuses one region where shmq moves along its ring, so shmq can come out below it) (`floor`); throughput: the same ring with 128-byte slots and a 16-byte header, checked by the consumer (`ring`) |
//! | `shmq-spin`, `shmq-default`, `shmq-block` | `Sender::send` from a buffer, `Receiver::recv_with` copying out; wait strategy `Spin`, the default (spin 50 us, then futex), `Block` (`queue`) |
//! | `uds`, `tcp`, `pipe` | `write_all` and `read_exact` on a Unix stream socket, loopback TCP with `TCP_NODELAY`, a pipe pair; pipes and Unix socket buffers sized to hold a message (`socket`) |
//! | `mq` | `mq_send` and `mq_timedreceive` on POSIX message queues, sizes up to `msgsize_max` (`mq`) |
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
//! are no rounds.
//!
//! Modules: `transport` (the list, the `Endpoint` trait, set-up of a
//! group), `floor`, `ring`, `queue`, `socket`, `mq` (the transports), `shm`
//! (shared memory of the floors), `peer` (the second process), `schedule`
//! (cycles of blocks and the probe), `measure` (the timed loops),
//! `affinity` (pinning, machine facts), `report` (pairs, tables and JSON),
//! `plot` (SVG), `error`.

#![warn(clippy::undocumented_unsafe_blocks)]

mod affinity;
mod error;
mod floor;
mod measure;
mod mq;
mod peer;
mod plot;
mod queue;
mod report;
mod ring;
mod schedule;
mod shm;
mod socket;
mod transport;

use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};

use self::affinity::Pinning;
use self::measure::{LatencyCounts, StreamCounts};
use self::peer::Spawner;
use self::report::{Classifier, Json, LatencySection, ThroughputSection};
use self::transport::Transport;
use crate::args::parse_size;
use crate::status::Failure;

pub use self::peer::{PeerArgs, run_peer};

/// Usage errors exit with this status, as clap's do.
const USAGE: u8 = 2;
/// Smallest message: the 8-byte sequence number.
const MIN_SIZE: u64 = 8;
/// Largest message.
const MAX_SIZE: u64 = 16 << 20;
/// Pairs of blocks per transport and size [--rounds]: full run, --quick.
const PAIRS: u32 = 240;
const QUICK_PAIRS: u32 = 64;
/// The pairs are run in this many passes over every group (fewer if there
/// are fewer pairs), each pass a slice of each group's cycles with a new
/// peer, so a transport's pairs sample the placements of the whole run.
const PASSES: u32 = 10;
/// Round trips per latency block [--iters].
const ITERS: u64 = 500;
/// Latency blocks of messages up to this size get `--iters` timed round
/// trips; larger ones proportionally fewer, but at least `MIN_TIMED`.
/// The untimed batch (the mean without clock overhead) is run only there,
/// and only on transports that stay awake: elsewhere the clock's 25 ns are
/// lost in the round trip, and the mean is that of the timed samples.
const FULL_ITERS_UP_TO: u64 = 4 << 10;
const MIN_TIMED: u64 = 5;
/// Transports that sleep on every message (tens of microseconds a round
/// trip) get this fraction of the round trips per block, at least
/// `MIN_SLEEPING_TIMED`, so their blocks too last a few milliseconds.
const SLEEPING_DIVISOR: u64 = 10;
const MIN_SLEEPING_TIMED: u64 = 5;
/// Idle-peer blocks: this fraction of the latency round trips (each waits
/// a gap first), at least `MIN_IDLE_TIMED`.
const IDLE_DIVISOR: u64 = 50;
const MIN_IDLE_TIMED: u64 = 5;
/// A throughput block carries about `--iters` x this many bytes...
const STREAM_BYTES_PER_ITER: u64 = 32 << 10;
/// ...in at least `MIN_STREAM` and at most `--iters` x `MAX_STREAM_PER_ITER`
/// messages...
const MIN_STREAM: u64 = 8;
const MAX_STREAM_PER_ITER: u64 = 100;
/// ...and the socket's (a system call per message) this fraction of it,
/// but at least `SOCKET_BLOCK_BYTES`: eight times a Unix socket's default
/// buffer (about 208 KiB), so a receiver slow to wake cannot find a whole
/// block waiting and drain it at memory speed.
const KERNEL_STREAM_DIVISOR: u64 = 20;
const SOCKET_BLOCK_BYTES: u64 = 2 << 20;

/// Options of `shmq bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// A short run (about 30 s): 64 pairs of blocks per transport and size
    /// instead of 240, unless --rounds says otherwise.
    #[arg(long)]
    quick: bool,
    /// Pairs of blocks per transport and message size: how many times the
    /// peer alternates a floor block and the transport's block (with the
    /// idle peer: floor, uds, transport; throughput: memcpy, both floors,
    /// transport), spread over 10 passes of the whole run [default: 240;
    /// --quick: 64].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    rounds: Option<u32>,
    /// Timed round trips per latency block for messages up to 4 KiB;
    /// proportionally fewer (at least 10) for larger ones, a tenth (at
    /// least 5) for transports that sleep on every message, a
    /// twenty-fifth with the idle peer. Also scales the throughput blocks
    /// (100 messages per iteration, at most 32 KiB per iteration; the
    /// socket a twentieth) [default: 500].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    iters: Option<u64>,
    /// Message sizes, comma-separated, from 8 bytes to 16M (suffixes K, M).
    #[arg(
        long,
        value_name = "SIZES",
        value_delimiter = ',',
        value_parser = parse_size,
        default_value = "64,1K,64K,1M"
    )]
    sizes: Vec<u64>,
    /// Transports to measure, comma-separated [default: all]. The floor is
    /// always measured (every ratio is to it), with the idle peer the Unix
    /// socket too, and in throughput floor-record; throughput uses floor,
    /// floor-record, shmq-spin, shmq-default and uds among them.
    #[arg(long, value_name = "LIST", value_delimiter = ',', value_enum)]
    transports: Vec<Transport>,
    /// What to measure.
    #[arg(long, value_enum, default_value_t = RunMode::Both)]
    mode: RunMode,
    /// Idle-peer mode: the parent's untimed busy-wait before each round
    /// trip, in microseconds; longer than shmq's default spin (50 us), so
    /// the peer has gone to sleep.
    #[arg(
        long,
        value_name = "US",
        default_value_t = 200,
        value_parser = clap::value_parser!(u64).range(1..=1_000_000)
    )]
    idle_gap_us: u64,
    /// Do not pin the two processes to CPUs.
    #[arg(long, conflicts_with = "cpus")]
    no_pin: bool,
    /// The parent's and the peer's CPU [default: the first two available].
    #[arg(long, value_name = "PARENT,PEER", value_parser = parse_cpus)]
    cpus: Option<(usize, usize)>,
    /// Print one JSON record per line (per transport, mode and size)
    /// instead of tables (at the end of the run, as the tables).
    #[arg(long)]
    json: bool,
    /// Draw the latency percentile curves of --plot-size messages to this
    /// SVG file.
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<PathBuf>,
    /// Message size of the --plot chart; one of --sizes.
    #[arg(long, value_name = "BYTES", value_parser = parse_size, default_value = "64")]
    plot_size: u64,
}

/// `--mode` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum RunMode {
    /// round trips
    Latency,
    /// one-way streams
    Throughput,
    /// round trips, each after the peer idled for --idle-gap-us
    Idle,
    /// all three: latency, idle, throughput
    Both,
}

fn parse_cpus(text: &str) -> Result<(usize, usize), String> {
    let parse = |s: &str| {
        s.trim()
            .parse::<usize>()
            .map_err(|_| format!("expected two CPU numbers such as 0,1, got {text:?}"))
    };
    match text.split_once(',') {
        Some((a, b)) => Ok((parse(a)?, parse(b)?)),
        None => Err(format!(
            "expected two CPU numbers such as 0,1, got {text:?}"
        )),
    }
}

fn usage(message: impl std::fmt::Display) -> Failure {
    Failure {
        code: USAGE,
        message: Some(message.to_string()),
    }
}

/// The options, resolved.
#[derive(Debug)]
struct Plan {
    /// Pairs (cycles) of blocks per transport and size.
    pairs: u32,
    iters: u64,
    sizes: Vec<usize>,
    transports: Vec<Transport>,
    latency: bool,
    /// Idle-peer latency, with this gap.
    idle: Option<Duration>,
    throughput: bool,
    json: bool,
    plot: Option<(PathBuf, usize)>,
}

impl Plan {
    fn new(args: &BenchArgs) -> Result<Self, Failure> {
        let pairs = if args.quick { QUICK_PAIRS } else { PAIRS };
        let mut sizes = Vec::new();
        for &size in &args.sizes {
            if !(MIN_SIZE..=MAX_SIZE).contains(&size) {
                return Err(usage(format!(
                    "--sizes: {size} is out of range (8 bytes to 16M: every message carries an 8-byte sequence number)"
                )));
            }
            if !sizes.contains(&(size as usize)) {
                sizes.push(size as usize);
            }
        }
        let transports = Transport::ALL
            .into_iter()
            .filter(|t| args.transports.is_empty() || args.transports.contains(t))
            .collect();
        let latency = matches!(args.mode, RunMode::Latency | RunMode::Both);
        let idle = matches!(args.mode, RunMode::Idle | RunMode::Both)
            .then(|| Duration::from_micros(args.idle_gap_us));
        let plot = match &args.plot {
            None => None,
            Some(_) if !latency => return Err(usage("--plot needs latency results")),
            Some(path) => {
                let size = args.plot_size as usize;
                if !sizes.contains(&size) {
                    return Err(usage(format!("--plot-size {size} is not one of --sizes")));
                }
                Some((path.clone(), size))
            }
        };
        Ok(Plan {
            pairs: args.rounds.unwrap_or(pairs),
            iters: args.iters.unwrap_or(ITERS),
            sizes,
            transports,
            latency,
            idle,
            throughput: matches!(args.mode, RunMode::Throughput | RunMode::Both),
            json: args.json,
            plot,
        })
    }

    /// A latency block's round trips for `size`-byte messages, on a
    /// transport that sleeps on every message or not.
    fn latency_counts(&self, size: usize, sleeps: bool) -> LatencyCounts {
        let size = size as u64;
        let mut timed = if size <= FULL_ITERS_UP_TO {
            self.iters
        } else {
            (self.iters.saturating_mul(FULL_ITERS_UP_TO) / size).max(MIN_TIMED.min(self.iters))
        };
        if sleeps {
            timed = (timed / SLEEPING_DIVISOR).max(MIN_SLEEPING_TIMED.min(timed));
        }
        LatencyCounts {
            warmup: (timed / 10).max(2),
            timed,
            batch: if sleeps || size > FULL_ITERS_UP_TO {
                0
            } else {
                timed
            },
        }
    }

    /// An idle-peer block's round trips (no batch): the same on every
    /// transport, the gap dominates.
    fn idle_counts(&self, size: usize) -> LatencyCounts {
        let awake = self.latency_counts(size, false).timed;
        let timed = (awake / IDLE_DIVISOR).max(MIN_IDLE_TIMED.min(awake));
        LatencyCounts {
            warmup: (timed / 10).max(2),
            timed,
            batch: 0,
        }
    }

    /// A throughput block's messages, on the socket or not.
    fn stream_counts(&self, size: usize, kernel: bool) -> StreamCounts {
        let mut messages = (self.iters.saturating_mul(STREAM_BYTES_PER_ITER) / size as u64)
            .min(self.iters.saturating_mul(MAX_STREAM_PER_ITER))
            .max(MIN_STREAM);
        if kernel {
            messages = (messages / KERNEL_STREAM_DIVISOR)
                .max(SOCKET_BLOCK_BYTES / size as u64)
                .max(MIN_STREAM);
        }
        StreamCounts {
            warmup: (messages / 10).max(1),
            messages,
        }
    }
}

/// How cycles are sorted by placement, from their probe's p50 round trip
/// (see `schedule`): fast below 100 ns (60-90 ns seen), slow above 200 ns
/// (260-480 ns), mid between (about 130 ns). Not at all on one CPU, where
/// there is no probe.
fn classifier(one_cpu: bool) -> Classifier {
    if one_cpu {
        Classifier::Off
    } else {
        Classifier::RoundTrip {
            fast_below: 100.0,
            slow_above: 200.0,
        }
    }
}

/// Why a transport is not even tried, if it is not.
fn skip_reason(transport: Transport, size: usize, one_cpu: bool) -> Option<String> {
    if one_cpu && transport.spins() {
        return Some(
            "only one CPU: two processes spinning on it would measure the scheduler".into(),
        );
    }
    if transport != Transport::Mq {
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

/// Progress on standard error: one overwritten line on a terminal, a line
/// per group otherwise.
#[derive(Debug)]
struct Progress {
    tty: bool,
    started: Instant,
}

impl Progress {
    fn new() -> Self {
        Progress {
            tty: io::stderr().is_terminal(),
            started: Instant::now(),
        }
    }

    fn step(&self, what: &str) {
        let elapsed = self.started.elapsed().as_secs_f64();
        let _ = if self.tty {
            write!(io::stderr(), "\r\x1b[2K{elapsed:6.1}s {what}")
        } else {
            writeln!(io::stderr(), "shmq bench: {elapsed:6.1}s {what}")
        };
    }

    fn clear(&self) {
        if self.tty {
            let _ = write!(io::stderr(), "\r\x1b[2K");
        }
    }
}

/// Writes to standard output (quietly stopping on a closed pipe).
fn emit(text: &str) -> Result<(), Failure> {
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(Failure::stdout)
}

/// `shmq bench`.
pub fn run(args: BenchArgs) -> Result<(), Failure> {
    let plan = Plan::new(&args)?;
    // Pin first, so every thread we start afterwards stays on our CPU.
    let allowed = affinity::allowed_cpus();
    let system = affinity::System::detect(&allowed);
    let pinning = affinity::pin(!args.no_pin, args.cpus, &allowed);
    let pinned = matches!(pinning, Pinning::Pinned { .. });
    let bench = Bench {
        spawner: Spawner::new(pinning.child_cpu()).map_err(Failure::error)?,
        one_cpu: !pinned && allowed.len() < 2,
        progress: Progress::new(),
        plan,
    };
    let plan = &bench.plan;
    emit(&describe_run(plan, &system, &pinning))?;

    let mut parts = Vec::new();
    if plan.latency {
        parts.extend(plan.sizes.iter().map(|&size| bench.latency(size, None)));
    }
    if let Some(gap) = plan.idle {
        parts.extend(
            plan.sizes
                .iter()
                .map(|&size| bench.latency(size, Some(gap))),
        );
    }
    if plan.throughput {
        parts.extend(plan.sizes.iter().map(|&size| bench.throughput(size)));
    }
    // Every pass runs a slice of every group's cycles, so each transport's
    // pairs are spread over the whole run.
    let passes = plan.pairs.min(PASSES);
    for pass in 0..passes {
        let cycles = plan.pairs / passes + u32::from(pass < plan.pairs % passes);
        for part in &mut parts {
            bench.run_pass(part, cycles, (pass + 1, passes));
        }
    }
    bench.progress.clear();

    for part in &parts {
        match part {
            Part::Latency(part) => {
                let section = &part.section;
                bench.end_section(section.json_lines(), || section.render(pinned))?;
                let plotted = plan
                    .plot
                    .as_ref()
                    .filter(|(_, size)| part.gap.is_none() && *size == part.size);
                if let Some((path, _)) = plotted {
                    plot::latency_curves(path, part.size, &section.histograms())
                        .map_err(Failure::error)?;
                }
            }
            Part::Throughput(part) => {
                let section = &part.section;
                bench.end_section(section.json_lines(), || section.render(pinned))?;
            }
        }
    }
    if let (Some((path, _)), false) = (&plan.plot, plan.json) {
        emit(&format!("\nPlot written to {}\n", path.display()))?;
    }
    Ok(())
}

/// One mode and message size: its section of the report, and its groups
/// (each run in every pass until it fails).
#[derive(Debug)]
enum Part {
    Latency(LatencyPart),
    Throughput(ThroughputPart),
}

#[derive(Debug)]
struct LatencyPart {
    section: LatencySection,
    size: usize,
    /// Idle-peer mode: the gap.
    gap: Option<Duration>,
    groups: Vec<Vec<Transport>>,
    /// One group of every transport (idle peer).
    together: bool,
    failed: Vec<bool>,
}

#[derive(Debug)]
struct ThroughputPart {
    section: ThroughputSection,
    size: usize,
    groups: Vec<Vec<Transport>>,
    failed: Vec<bool>,
}

/// A run in progress.
#[derive(Debug)]
struct Bench {
    plan: Plan,
    spawner: Spawner,
    /// Both processes can only run on one CPU.
    one_cpu: bool,
    progress: Progress,
}

/// The groups of a section: the references (those that can run) with
/// each other transport in turn, or alone if there is no other; or all
/// together in one group (`together`).
#[derive(Debug)]
struct Groups {
    together: bool,
    /// Every transport of the section, in report order.
    rows: Vec<Transport>,
    references: Vec<Transport>,
    /// Transports under test that can run.
    subjects: Vec<Transport>,
    /// Those that cannot, and why.
    skipped: Vec<(Transport, String)>,
}

impl Groups {
    fn each(&self) -> Vec<Vec<Transport>> {
        if self.subjects.is_empty() || self.together {
            if self.references.is_empty() {
                return Vec::new();
            }
            let mut all = self.references.clone();
            all.extend(&self.subjects);
            return vec![all];
        }
        self.subjects
            .iter()
            .map(|&subject| {
                let mut group = self.references.clone();
                group.push(subject);
                group
            })
            .collect()
    }
}

impl Bench {
    /// The section's transports: those asked for that `mode_has`, and the
    /// `references` (always, if they can run).
    fn groups(
        &self,
        size: usize,
        references: &[Transport],
        together: bool,
        mode_has: impl Fn(Transport) -> bool,
    ) -> Groups {
        let rows: Vec<Transport> = Transport::ALL
            .into_iter()
            .filter(|t| {
                mode_has(*t) && (self.plan.transports.contains(t) || references.contains(t))
            })
            .collect();
        let mut groups = Groups {
            together,
            rows: rows.clone(),
            references: Vec::new(),
            subjects: Vec::new(),
            skipped: Vec::new(),
        };
        for transport in rows {
            match skip_reason(transport, size, self.one_cpu) {
                Some(reason) => groups.skipped.push((transport, reason)),
                None if references.contains(&transport) => groups.references.push(transport),
                None => groups.subjects.push(transport),
            }
        }
        groups
    }

    /// The latency part of `size`-byte messages, or the idle-peer one with
    /// `idle_gap`: its empty section and its groups.
    fn latency(&self, size: usize, idle_gap: Option<Duration>) -> Part {
        let plan = &self.plan;
        let references: &[Transport] = match idle_gap {
            None => &[Transport::Floor],
            Some(_) => &[Transport::Floor, Transport::Uds],
        };
        // Idle-peer blocks are long (a gap before every round trip): one
        // group holds every transport, each cycle a block on each.
        let groups = self.groups(size, references, idle_gap.is_some(), |t| {
            idle_gap.is_none() || t.idles()
        });
        let (awake, sleeping) = match idle_gap {
            None => (
                plan.latency_counts(size, false),
                plan.latency_counts(size, true),
            ),
            Some(_) => (plan.idle_counts(size), plan.idle_counts(size)),
        };
        let names: Vec<&'static str> = groups.rows.iter().map(|t| t.name()).collect();
        let reference_names: Vec<&'static str> = references.iter().map(|t| t.name()).collect();
        let mut section = LatencySection::new(
            size,
            idle_gap,
            plan.pairs,
            awake,
            sleeping,
            classifier(self.one_cpu),
            &reference_names,
            &names,
        );
        for (transport, reason) in &groups.skipped {
            section.skip(transport.name(), reason.clone());
        }
        let each = groups.each();
        Part::Latency(LatencyPart {
            section,
            size,
            gap: idle_gap,
            failed: vec![false; each.len()],
            groups: each,
            together: groups.together,
        })
    }

    /// The throughput part of `size`-byte messages.
    fn throughput(&self, size: usize) -> Part {
        let plan = &self.plan;
        let groups = self.groups(
            size,
            &[Transport::Floor, Transport::FloorRecord],
            false,
            Transport::streams,
        );
        let (awake, kernel) = (
            plan.stream_counts(size, false),
            plan.stream_counts(size, true),
        );
        let mut names = vec![report::MEMCPY];
        names.extend(groups.rows.iter().map(|t| t.name()));
        let mut section = ThroughputSection::new(
            size,
            plan.pairs,
            (awake, kernel, awake),
            classifier(self.one_cpu),
            &names,
        );
        for (transport, reason) in &groups.skipped {
            section.skip(transport.name(), reason.clone());
        }
        let each = groups.each();
        Part::Throughput(ThroughputPart {
            section,
            size,
            failed: vec![false; each.len()],
            groups: each,
        })
    }

    /// Runs `cycles` cycles of every group of `part` that has not failed,
    /// each with a new peer, in pass `pass` of `passes`.
    fn run_pass(&self, part: &mut Part, cycles: u32, (pass, passes): (u32, u32)) {
        let plan = &self.plan;
        let probe = !self.one_cpu;
        match part {
            Part::Latency(part) => {
                let (size, gap) = (part.size, part.gap);
                for (group, failed) in part.groups.iter().zip(&mut part.failed) {
                    if *failed {
                        continue;
                    }
                    let subject = *group.last().expect("groups are not empty");
                    let what = if part.together { "all" } else { subject.name() };
                    self.progress.step(&format!(
                        "pass {pass}/{passes}: {}, {}: {what}",
                        part.section.mode(),
                        report::format_size(size),
                    ));
                    let counts: Vec<LatencyCounts> = group
                        .iter()
                        .map(|t| match gap {
                            None => plan.latency_counts(size, t.sleeps()),
                            Some(_) => plan.idle_counts(size),
                        })
                        .collect();
                    let run = schedule::latency(
                        &self.spawner,
                        group,
                        size,
                        (cycles, probe),
                        &counts,
                        gap,
                    );
                    match run {
                        Ok(run) => part.section.add_run(&run),
                        Err(e) => {
                            *failed = true;
                            let failing: &[Transport] = if part.together {
                                group
                            } else {
                                std::slice::from_ref(&subject)
                            };
                            for t in failing {
                                part.section.skip(t.name(), e.to_string());
                            }
                        }
                    }
                }
            }
            Part::Throughput(part) => {
                let size = part.size;
                let (awake, kernel) = (
                    plan.stream_counts(size, false),
                    plan.stream_counts(size, true),
                );
                for (group, failed) in part.groups.iter().zip(&mut part.failed) {
                    if *failed {
                        continue;
                    }
                    let subject = *group.last().expect("groups are not empty");
                    self.progress.step(&format!(
                        "pass {pass}/{passes}: throughput, {}: {}",
                        report::format_size(size),
                        subject.name(),
                    ));
                    let counts: Vec<StreamCounts> = group
                        .iter()
                        .map(|t| if t.sleeps() { kernel } else { awake })
                        .collect();
                    let run = schedule::throughput(
                        &self.spawner,
                        group,
                        size,
                        (cycles, probe),
                        &counts,
                        awake,
                    );
                    match run {
                        Ok(run) => part.section.add_run(&run),
                        Err(e) => {
                            *failed = true;
                            part.section.skip(subject.name(), e.to_string());
                        }
                    }
                }
            }
        }
    }

    /// Prints a section: its JSON lines, or its table.
    fn end_section(
        &self,
        json_lines: Vec<String>,
        table: impl FnOnce() -> String,
    ) -> Result<(), Failure> {
        if self.plan.json {
            emit(
                &json_lines
                    .iter()
                    .map(|l| format!("{l}\n"))
                    .collect::<String>(),
            )
        } else {
            emit(&table())
        }
    }
}

/// The report's header: the machine, the pinning and the plan, as text or
/// as the JSON `run` record.
fn describe_run(plan: &Plan, system: &affinity::System, pinning: &Pinning) -> String {
    let names: Vec<&str> = plan.transports.iter().map(|t| t.name()).collect();
    let Classifier::RoundTrip {
        fast_below,
        slow_above,
    } = classifier(false)
    else {
        unreachable!("two CPUs are classified")
    };
    if plan.json {
        let run = Json::new()
            .str("record", "run")
            .str("cpu", &system.cpu)
            .str("kernel", &system.kernel)
            .int("cpus", Some(system.cpus as u64))
            .str("pinning", &pinning.describe())
            .int("rounds", Some(u64::from(plan.pairs)))
            .int("iters", Some(plan.iters))
            .ints("sizes", plan.sizes.iter().map(|&s| s as u64))
            .strs("transports", names.iter().copied())
            .int("idle_gap_us", plan.idle.map(|gap| gap.as_micros() as u64))
            .str("method", "paired")
            .int("pairs", Some(u64::from(plan.pairs)))
            .int("probe_size", Some(schedule::PROBE_SIZE as u64))
            .int("probe_round_trips", Some(schedule::PROBE_COUNTS.timed))
            .num("placement_fast_below_ns", Some(fast_below))
            .num("placement_slow_above_ns", Some(slow_above))
            .finish();
        return format!("{run}\n");
    }
    let awake = plan.latency_counts(64, false);
    let sleeping = plan.latency_counts(64, true);
    let stream = plan.stream_counts(64, false);
    let lines = vec![
        (
            "cpu",
            format!("{} ({} available)", system.cpu, plural_cpus(system.cpus)),
        ),
        ("kernel", system.kernel.clone()),
        ("pinning", pinning.describe()),
        (
            "method",
            format!(
                "paired blocks: each transport in one peer with the floor, in alternating \
                 blocks (floor, transport, floor, ...), {} pairs per transport and size, \
                 spread over the run in {} passes; a ratio per pair",
                plan.pairs,
                plan.pairs.min(PASSES)
            ),
        ),
        (
            "latency",
            format!(
                "a block: {} timed round trips up to 4 KiB (fewer above), {} for transports \
                 that sleep, after 10% warm-up, then an untimed batch of as many (the mean)",
                awake.timed, sleeping.timed
            ),
        ),
        (
            "idle peer",
            match plan.idle {
                Some(gap) => format!(
                    "blocks of {} round trips, each after an untimed busy-wait of {}us \
                     (shmq's default spin: {}us); every transport in one peer, a block on \
                     each per cycle, ratios to the floor's and uds's of the same cycle",
                    plan.idle_counts(64).timed,
                    gap.as_micros(),
                    shmq::DEFAULT_SPIN.as_micros(),
                ),
                None => "not measured".to_owned(),
            },
        ),
        (
            "throughput",
            format!(
                "a block: up to {} messages (uds: a twentieth, at least 2 MiB), timed by \
                 the receiver; floors: ring (64-byte slots: one line per 64-byte message) \
                 and ring-record (128-byte slots, 16-byte header: two lines, as shmq's \
                 records)",
                stream.messages
            ),
        ),
        (
            "placement",
            format!(
                "of each cycle, from a probe first in it ({} round trips of {} B on a \
                 ping-pong of its own): p50 <{fast_below:.0}ns fast, >{slow_above:.0}ns slow, \
                 mid between",
                schedule::PROBE_COUNTS.timed,
                schedule::PROBE_SIZE,
            ),
        ),
        (
            "reading",
            "ratios: median [q1-q3] over the pairs; absolute numbers pool all blocks \
             and only say where they happened to run"
                .to_owned(),
        ),
    ];
    report::header_text(&lines)
}

fn plural_cpus(n: usize) -> String {
    if n == 1 {
        "1 CPU".into()
    } else {
        format!("{n} CPUs")
    }
}
