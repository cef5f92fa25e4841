//! `shmq bench`: shmq against the hardware floor and the kernel's IPC,
//! between two real processes, side by side.
//!
//! # Method
//!
//! **Two processes.** For every measurement the parent starts a fresh peer
//! by re-executing its own binary as `shmq bench-peer` (a hidden
//! subcommand), so both ends are real processes with their own address
//! spaces, as in production. See `peer` for the protocol and supervision.
//!
//! **Pinning.** By default the parent pins itself to one CPU and the peer
//! to another (`--cpus`, `--no-pin`); the header says what was done. On a
//! single CPU the spinning transports are skipped: two processes spinning
//! on one CPU measure the scheduler's time slice.
//!
//! **Interleaved rounds.** For each message size, a round measures every
//! transport once in a fixed order (floor, floor-record, shmq-spin,
//! shmq-default, shmq-block, uds, pipe, tcp, mq), and the next round
//! repeats it. On a VM the virtual CPUs move between host cores every few
//! seconds, which changes the floor by up to 4x; so every transport is
//! compared with the floor and the Unix socket *of the same round*, and the
//! tables show the median of those per-round ratios with their range. The
//! absolute numbers pool all rounds and only say where the rounds happened
//! to run.
//!
//! **What is timed** (details in `measure`): latency is the round trip of
//! a message the parent writes and checks and the peer copies out and
//! sends back; each timed round trip is one sample (two monotonic clock
//! reads) in an HDR histogram, after an untimed warm-up, and a batch timed
//! as a whole gives a mean with no clock overhead. Throughput is a one-way
//! stream timed by the receiver, after a warm-up; a single-thread memcpy of
//! the same buffers is measured in the same round as the reference for
//! moving bytes at all.
//!
//! **Idle peer** (`--mode idle`, and part of the default `both`): the
//! round trip again, but the parent busy-waits an untimed gap
//! (`--idle-gap-us`, 200 us by default) before each ping, longer than
//! shmq's default spin budget ([`shmq::DEFAULT_SPIN`], 50 us), so the
//! default strategy's peer has stopped spinning and sleeps when the message
//! comes; the tight ping-pong above never lets it sleep. Busy-waiting
//! rather than sleeping keeps the parent on its CPU, so only the peer is
//! idle and the gap is exact (see `measure`). The two floors, the three
//! shmq strategies, uds and pipe, in that order per round; a fifth of the
//! latency round trips; the floors are still spinning, as a reference, so
//! the ratios that matter here are those to the Unix socket.
//!
//! **Transports** (each set up as a competent user would; see each module):
//!
//! | name | what each message costs |
//! | --- | --- |
//! | `floor` | latency: the payload copied into a 128-byte-aligned shared region behind its sequence word, the word stored with Release, the peer spinning on it and copying out: one cache line each way at 64 B (`floor`); throughput: a bare SPSC ring (`ring`) |
//! | `floor-record` | latency only: the same, laid out as a shmq record: the sequence word, an 8-byte header (the length, written by the sender, read and checked by the peer), the payload at offset 16: two cache lines each way at 64 B; its ratio to `floor` is the price of the header's second line in a bare ping-pong (it reuses one region where shmq moves along its ring, so shmq can come out below it) (`floor`) |
//! | `shmq-spin`, `shmq-default`, `shmq-block` | `Sender::send` from a buffer, `Receiver::recv_with` copying out; wait strategy `Spin`, the default (spin 50 us, then futex), `Block` (`queue`) |
//! | `uds`, `tcp`, `pipe` | `write_all` and `read_exact` on a Unix stream socket, loopback TCP with `TCP_NODELAY`, a pipe pair; pipes and Unix socket buffers sized to hold a message (`socket`) |
//! | `mq` | `mq_send` and `mq_timedreceive` on POSIX message queues, sizes up to `msgsize_max` (`mq`) |
//!
//! **Cleanup.** Every name a measurement creates (a `/dev/shm` file, shmq
//! queues, a socket path, message queues) is unique to the run and removed
//! as soon as both processes have it open, and by a guard on any error; a
//! peer is killed if the parent gives up on it, and dies with the parent
//! (`PR_SET_PDEATHSIG`).
//!
//! Modules: `transport` (the list, the `Endpoint` trait, set-up), `floor`,
//! `ring`, `queue`, `socket`, `mq` (the transports), `shm` (shared memory
//! of the floors), `peer` (the second process), `measure` (the timed
//! loops), `affinity` (pinning, machine facts), `report` (tables and
//! JSON), `plot` (SVG), `error`.

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
mod shm;
mod socket;
mod transport;

use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};

use self::affinity::Pinning;
use self::error::Error;
use self::measure::{LatencyCounts, StreamCounts};
use self::peer::Spawner;
use self::report::{Json, LatencySection, Outcome, ThroughputSection};
use self::transport::{Mode, Setup, Transport};
use crate::args::parse_size;
use crate::status::Failure;

pub use self::peer::{PeerArgs, run_peer};

/// Usage errors exit with this status, as clap's do.
const USAGE: u8 = 2;
/// Smallest message: the 8-byte sequence number.
const MIN_SIZE: u64 = 8;
/// Largest message.
const MAX_SIZE: u64 = 16 << 20;
/// Messages up to this size get `--iters` timed round trips; larger ones
/// proportionally fewer, but at least `MIN_TIMED`.
const FULL_ITERS_UP_TO: u64 = 4 << 10;
const MIN_TIMED: u64 = 200;
/// A stream carries about `--iters` x this many bytes...
const STREAM_BYTES_PER_ITER: u64 = 32 << 10;
/// ...in at least `MIN_STREAM` and at most `--iters` x `MAX_STREAM_PER_ITER`
/// messages.
const MIN_STREAM: u64 = 200;
const MAX_STREAM_PER_ITER: u64 = 100;
/// The memcpy reference copies at least this many bytes.
const MIN_MEMCPY_BYTES: u64 = 1 << 30;
/// Idle-peer measurements make this fraction of the latency round trips
/// (each waits a gap first).
const IDLE_ITERS_DIVISOR: u64 = 5;

/// Options of `shmq bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// A short run (well under 30 s): 2 rounds of 2000 round trips, unless
    /// --rounds or --iters say otherwise.
    #[arg(long)]
    quick: bool,
    /// Rounds: each measures every transport once, in the same order
    /// [default: 5; --quick: 2].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    rounds: Option<u32>,
    /// Timed round trips per transport and round for messages up to 4 KiB;
    /// proportionally fewer (at least 200) for larger ones. Also scales
    /// the warm-up (10%), the untimed batch (as many), the idle-peer round
    /// trips (a fifth) and the throughput streams [default: 10000;
    /// --quick: 2000].
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
    /// Transports to measure, comma-separated [default: all]. Throughput
    /// uses floor, shmq-spin, shmq-default and uds among them.
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
    /// Print one JSON record per line (per transport, size and round)
    /// instead of tables.
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
    rounds: u32,
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
        let (rounds, iters) = if args.quick { (2, 2_000) } else { (5, 10_000) };
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
            rounds: args.rounds.unwrap_or(rounds),
            iters: args.iters.unwrap_or(iters),
            sizes,
            transports,
            latency,
            idle,
            throughput: matches!(args.mode, RunMode::Throughput | RunMode::Both),
            json: args.json,
            plot,
        })
    }

    fn latency_counts(&self, size: usize) -> LatencyCounts {
        let size = size as u64;
        let timed = if size <= FULL_ITERS_UP_TO {
            self.iters
        } else {
            (self.iters.saturating_mul(FULL_ITERS_UP_TO) / size).max(MIN_TIMED.min(self.iters))
        };
        LatencyCounts {
            warmup: (timed / 10).max(10),
            timed,
            batch: timed,
        }
    }

    /// Idle-peer round trips: a fifth of the latency ones (no batch).
    fn idle_counts(&self, size: usize) -> LatencyCounts {
        let timed = (self.latency_counts(size).timed / IDLE_ITERS_DIVISOR).max(1);
        LatencyCounts {
            warmup: (timed / 10).max(10),
            timed,
            batch: 0,
        }
    }

    fn stream_counts(&self, size: usize) -> StreamCounts {
        let messages = (self.iters.saturating_mul(STREAM_BYTES_PER_ITER) / size as u64).clamp(
            MIN_STREAM,
            self.iters
                .saturating_mul(MAX_STREAM_PER_ITER)
                .max(MIN_STREAM),
        );
        StreamCounts {
            warmup: (messages / 10).max(10),
            messages,
        }
    }
}

/// Why a measurement is not even tried, if it is not.
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
/// per round otherwise.
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

    fn round(&self, what: &str) {
        if !self.tty {
            let _ = writeln!(
                io::stderr(),
                "shmq bench: {:6.1}s {what}",
                self.started.elapsed().as_secs_f64()
            );
        }
    }

    fn step(&self, what: &str) {
        if self.tty {
            let _ = write!(
                io::stderr(),
                "\r\x1b[2K{:6.1}s {what}",
                self.started.elapsed().as_secs_f64()
            );
        }
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

    if plan.latency {
        for &size in &plan.sizes {
            let section = bench.latency(size, None)?;
            if !plan.json {
                emit(&section.render(pinned))?;
            }
            if let Some((path, _)) = plan.plot.as_ref().filter(|(_, s)| *s == size) {
                plot::latency_curves(path, size, &section.histograms()).map_err(Failure::error)?;
            }
        }
    }
    if let Some(gap) = plan.idle {
        for &size in &plan.sizes {
            let section = bench.latency(size, Some(gap))?;
            if !plan.json {
                emit(&section.render(pinned))?;
            }
        }
    }
    if plan.throughput {
        for &size in &plan.sizes {
            let section = bench.throughput(size)?;
            if !plan.json {
                emit(&section.render(pinned))?;
            }
        }
    }
    if let (Some((path, _)), false) = (&plan.plot, plan.json) {
        emit(&format!("\nPlot written to {}\n", path.display()))?;
    }
    Ok(())
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

impl Bench {
    /// Every round of latency measurements for `size`-byte messages, or
    /// of idle-peer ones with `idle_gap`; the JSON lines are printed as
    /// each round ends.
    fn latency(&self, size: usize, idle_gap: Option<Duration>) -> Result<LatencySection, Failure> {
        let plan = &self.plan;
        let (counts, transports): (_, Vec<Transport>) = match idle_gap {
            None => (plan.latency_counts(size), plan.transports.clone()),
            Some(_) => (
                plan.idle_counts(size),
                plan.transports
                    .iter()
                    .copied()
                    .filter(|t| t.idles())
                    .collect(),
            ),
        };
        let names: Vec<&str> = transports.iter().map(|t| t.name()).collect();
        let mut section = LatencySection::new(size, counts, idle_gap, &names);
        for round in 1..=plan.rounds {
            let what = format!(
                "{}, {}, round {round}/{}",
                section.mode(),
                report::format_size(size),
                plan.rounds
            );
            self.progress.round(&what);
            let outcomes = transports
                .iter()
                .map(|&transport| {
                    self.progress.step(&format!("{what}: {}", transport.name()));
                    // The peer echoes the same way in both modes.
                    self.attempt(transport, Mode::Latency, size, |setup| {
                        measure_latency(setup, counts, idle_gap)
                    })
                })
                .collect();
            self.end_round(section.add_round(round, outcomes))?;
        }
        Ok(section)
    }

    /// Every round of throughput measurements for `size`-byte messages,
    /// memcpy first in each.
    fn throughput(&self, size: usize) -> Result<ThroughputSection, Failure> {
        let plan = &self.plan;
        let counts = plan.stream_counts(size);
        let copies = StreamCounts {
            warmup: counts.warmup,
            messages: counts.messages.max(MIN_MEMCPY_BYTES / size as u64),
        };
        let streaming: Vec<Transport> = plan
            .transports
            .iter()
            .copied()
            .filter(|t| t.streams())
            .collect();
        let mut names = vec![report::MEMCPY];
        names.extend(streaming.iter().map(|t| t.name()));
        let mut section = ThroughputSection::new(size, counts, &names);
        for round in 1..=plan.rounds {
            let what = format!(
                "throughput, {}, round {round}/{}",
                report::format_size(size),
                plan.rounds
            );
            self.progress.round(&what);
            let mut outcomes = vec![Outcome::Done(measure::memcpy(size, copies))];
            for &transport in &streaming {
                self.progress.step(&format!("{what}: {}", transport.name()));
                outcomes.push(self.attempt(transport, Mode::Throughput, size, |setup| {
                    measure_throughput(setup, counts)
                }));
            }
            self.end_round(section.add_round(round, outcomes))?;
        }
        Ok(section)
    }

    /// Runs one measurement, unless it is to be skipped; a failure is a
    /// skip with its reason.
    fn attempt<T>(
        &self,
        transport: Transport,
        mode: Mode,
        size: usize,
        measure: impl FnOnce(&Setup<'_>) -> error::Result<T>,
    ) -> Outcome<T> {
        if let Some(reason) = skip_reason(transport, size, self.one_cpu) {
            return Outcome::Skipped(reason);
        }
        let setup = Setup {
            transport,
            mode,
            size,
            stream: None,
            spawner: &self.spawner,
        };
        match measure(&setup) {
            Ok(value) => Outcome::Done(value),
            Err(e) => Outcome::Skipped(e.to_string()),
        }
    }

    fn end_round(&self, json_lines: Vec<String>) -> Result<(), Failure> {
        self.progress.clear();
        if self.plan.json {
            emit(
                &json_lines
                    .iter()
                    .map(|l| format!("{l}\n"))
                    .collect::<String>(),
            )?;
        }
        Ok(())
    }
}

/// The report's header: the machine, the pinning and the plan, as text or
/// as the JSON `run` record.
fn describe_run(plan: &Plan, system: &affinity::System, pinning: &Pinning) -> String {
    let names: Vec<&str> = plan.transports.iter().map(|t| t.name()).collect();
    let stream_max = plan.iters.saturating_mul(MAX_STREAM_PER_ITER);
    if plan.json {
        let run = Json::new()
            .str("record", "run")
            .str("cpu", &system.cpu)
            .str("kernel", &system.kernel)
            .int("cpus", Some(system.cpus as u64))
            .str("pinning", &pinning.describe())
            .int("rounds", Some(u64::from(plan.rounds)))
            .int("iters", Some(plan.iters))
            .ints("sizes", plan.sizes.iter().map(|&s| s as u64))
            .strs("transports", names.iter().copied())
            .int("idle_gap_us", plan.idle.map(|gap| gap.as_micros() as u64))
            .finish();
        return format!("{run}\n");
    }
    let mut lines = vec![
        (
            "cpu",
            format!("{} ({} available)", system.cpu, plural_cpus(system.cpus)),
        ),
        ("kernel", system.kernel.clone()),
        ("pinning", pinning.describe()),
        (
            "rounds",
            format!(
                "{}, each measuring in order: {}",
                plan.rounds,
                names.join(", ")
            ),
        ),
        (
            "latency",
            format!(
                "{} timed round trips per transport and round up to 4 KiB (fewer above), \
                 after 10% warm-up; mean from an untimed batch of as many",
                plan.iters
            ),
        ),
    ];
    if let Some(gap) = plan.idle {
        let idling: Vec<&str> = names
            .iter()
            .copied()
            .zip(&plan.transports)
            .filter_map(|(name, t)| t.idles().then_some(name))
            .collect();
        lines.push((
            "idle peer",
            format!(
                "a fifth as many round trips, each after an untimed busy-wait of {}us \
                 (shmq's default spin: {}us); {}",
                gap.as_micros(),
                shmq::DEFAULT_SPIN.as_micros(),
                idling.join(", ")
            ),
        ));
    }
    lines.extend([
        (
            "throughput",
            format!(
                "streams of up to {stream_max} messages, timed by the receiver after a 10% warm-up"
            ),
        ),
        (
            "reading",
            "absolute numbers pool all rounds; ratios are within each round, \
             shown as median [min-max] over rounds"
                .to_owned(),
        ),
    ]);
    report::header_text(&lines)
}

fn plural_cpus(n: usize) -> String {
    if n == 1 {
        "1 CPU".into()
    } else {
        format!("{n} CPUs")
    }
}

fn measure_latency(
    setup: &Setup<'_>,
    counts: LatencyCounts,
    idle_gap: Option<Duration>,
) -> error::Result<measure::Latency> {
    let size = setup.size;
    let (mut latency, extra) = match idle_gap {
        None => transport::run_parent(setup, measure::PingPong { size, counts })?,
        Some(gap) => transport::run_parent(setup, measure::IdlePingPong { size, counts, gap })?,
    };
    latency.sleeps_per_message = extra.sleeps_per_message;
    Ok(latency)
}

fn measure_throughput(
    setup: &Setup<'_>,
    counts: StreamCounts,
) -> error::Result<measure::Throughput> {
    // The receiving peer times the stream, so it needs the counts.
    let setup = Setup {
        stream: Some(counts),
        ..*setup
    };
    let job = measure::Produce {
        size: setup.size,
        counts,
    };
    let ((), extra) = transport::run_parent(&setup, job)?;
    let elapsed_ns = extra
        .report
        .trim()
        .parse::<u64>()
        .map_err(|_| Error::new(format!("the peer reported {:?}", extra.report)))?;
    Ok(measure::Throughput {
        messages: counts.messages,
        size: setup.size,
        elapsed_ns,
        sleeps_per_message: extra.sleeps_per_message,
    })
}
