//! The driver of a run: the options resolved into a plan, the groups of
//! each mode and message size, the passes over them, and the report at the
//! end (see the crate docs for the method).

use std::ffi::OsString;
use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::affinity::{self, Pinning};
use super::args::{BenchArgs, RunMode};
use super::builtin::Builtin;
use super::error::RunError;
use super::measure::{LatencyCounts, StreamCounts};
use super::peer::Spawner;
use super::report::{self, Classifier, Json, LatencySection, ThroughputSection};
use super::transport::{Kind, Mode};
use super::{plot, schedule};

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
/// Streams of small messages (up to `SMALL_STREAM`: two cache lines) on
/// transports that stay awake and are compared with the floors (not the
/// mailboxes, compared with the plain queue): at least this many pairs
/// (unless --rounds says otherwise), in up to this many passes. In the
/// slow placements the bare rings' rate swings 2-5x from block to block
/// and drifts over seconds (see the crate docs), so their ratios need many
/// pairs, spread finely over the run, for a median that holds from run to
/// run.
const SMALL_STREAM: u64 = 128;
const STREAM_PAIRS: u32 = 256;
const STREAM_PASSES: u32 = 40;
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

fn usage(message: impl std::fmt::Display) -> RunError {
    RunError::Usage(message.to_string())
}

/// The options, resolved.
#[derive(Debug)]
struct Plan {
    /// Pairs (cycles) of blocks per transport and size...
    pairs: u32,
    /// ...and of small-message streams on transports that stay awake.
    stream_pairs: u32,
    iters: u64,
    sizes: Vec<usize>,
    transports: Vec<Kind>,
    latency: bool,
    /// Idle-peer latency, with this gap.
    idle: Option<Duration>,
    throughput: bool,
    json: bool,
    plot: Option<(PathBuf, usize)>,
}

impl Plan {
    /// The plan of `args` over the transports of `kinds`.
    fn new(args: &BenchArgs, kinds: &[Kind]) -> Result<Self, RunError> {
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
        if let Some(name) = args
            .transports
            .iter()
            .find(|&name| !kinds.iter().any(|k| k.name() == name))
        {
            let names: Vec<&str> = kinds.iter().map(Kind::name).collect();
            return Err(usage(format!(
                "--transports: no transport named {name:?} (possible values: {})",
                names.join(", ")
            )));
        }
        let transports = kinds
            .iter()
            .filter(|k| args.transports.is_empty() || args.transports.iter().any(|n| n == k.name()))
            .cloned()
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
            stream_pairs: args.rounds.unwrap_or(pairs.max(STREAM_PAIRS)),
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

    /// How the pairs of a group of `size`-byte messages in `mode`, whose
    /// transport under test is `subject`, are cut into passes.
    fn slicing(&self, mode: Mode, size: usize, subject: &Kind) -> Slicing {
        if mode == Mode::Throughput
            && size as u64 <= SMALL_STREAM
            && !subject.sleeps()
            && subject.baseline().is_none()
        {
            Slicing::new(self.stream_pairs, STREAM_PASSES)
        } else {
            Slicing::new(self.pairs, PASSES)
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

/// A group's pairs cut into passes, the passes spread evenly over the
/// run's ticks (see `run`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Slicing {
    pairs: u32,
    passes: u32,
}

impl Slicing {
    /// `pairs` in up to `passes` passes.
    fn new(pairs: u32, passes: u32) -> Self {
        Slicing {
            pairs,
            passes: pairs.min(passes).max(1),
        }
    }

    /// The pass (numbered from 0) that runs at tick `tick` of `ticks`, if
    /// one does, and its cycles: pass `j` runs at tick `j * ticks /
    /// passes`.
    fn at(self, tick: u32, ticks: u32) -> Option<(u32, u32)> {
        let pass = (tick * self.passes).div_ceil(ticks);
        (pass < self.passes && pass * ticks / self.passes == tick).then(|| {
            let cycles = self.pairs / self.passes + u32::from(pass < self.pairs % self.passes);
            (pass, cycles)
        })
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
fn skip_reason(transport: &Kind, size: usize, one_cpu: bool) -> Option<String> {
    if one_cpu && transport.spins() {
        return Some(
            "only one CPU: two processes spinning on it would measure the scheduler".into(),
        );
    }
    transport.unfit(size)
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
fn emit(text: &str) -> Result<(), RunError> {
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(RunError::stdout)
}

/// `shmq bench` over the transports of `kinds`, each peer started as this
/// executable with `peer_subcommand`.
pub fn run(kinds: &[Kind], peer_subcommand: &[OsString], args: &BenchArgs) -> Result<(), RunError> {
    let plan = Plan::new(args, kinds)?;
    // Pin first, so every thread we start afterwards stays on our CPU.
    let allowed = affinity::allowed_cpus();
    let system = affinity::System::detect(&allowed);
    let pinning = affinity::pin(!args.no_pin, args.cpus, &allowed);
    let pinned = matches!(pinning, Pinning::Pinned { .. });
    let spawner = Spawner::new(peer_subcommand, pinning.child_cpu())
        .map_err(|e| RunError::Failed(e.to_string()))?;
    let bench = Run {
        kinds,
        spawner,
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
    // The run is a series of ticks; a group's passes are spread evenly
    // over them, each a slice of its cycles with a new peer, so each
    // transport's pairs are spread over the whole run.
    let ticks = parts
        .iter()
        .flat_map(Part::slicings)
        .map(|s| s.passes)
        .max()
        .unwrap_or(1);
    for tick in 0..ticks {
        for part in &mut parts {
            bench.run_tick(part, tick, ticks);
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
                        .map_err(|e| RunError::Failed(e.to_string()))?;
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

impl Part {
    /// How each group's pairs are cut into passes.
    fn slicings(&self) -> &[Slicing] {
        match self {
            Part::Latency(part) => &part.slicings,
            Part::Throughput(part) => &part.slicings,
        }
    }
}

#[derive(Debug)]
struct LatencyPart {
    section: LatencySection,
    size: usize,
    /// Idle-peer mode: the gap.
    gap: Option<Duration>,
    groups: Vec<Vec<Kind>>,
    slicings: Vec<Slicing>,
    /// One group of every transport (idle peer).
    together: bool,
    failed: Vec<bool>,
}

#[derive(Debug)]
struct ThroughputPart {
    section: ThroughputSection,
    size: usize,
    groups: Vec<Vec<Kind>>,
    slicings: Vec<Slicing>,
    failed: Vec<bool>,
}

/// A run in progress.
#[derive(Debug)]
struct Run<'a> {
    /// Every transport the run knows, in report order.
    kinds: &'a [Kind],
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
    rows: Vec<Kind>,
    references: Vec<Kind>,
    /// Transports under test that can run.
    subjects: Vec<Kind>,
    /// Those that cannot, and why.
    skipped: Vec<(Kind, String)>,
}

impl Groups {
    fn each(&self) -> Vec<Vec<Kind>> {
        if self.subjects.is_empty() || self.together {
            if self.references.is_empty() {
                return Vec::new();
            }
            let mut all = self.references.clone();
            all.extend(self.subjects.iter().cloned());
            return vec![all];
        }
        self.subjects
            .iter()
            .map(|subject| {
                let mut group = self.references.clone();
                // A transport with a baseline has a block of it in every
                // cycle too, between the references and itself.
                if let Some(baseline) = subject.baseline().filter(|b| !group.contains(b)) {
                    group.push(baseline);
                }
                group.push(subject.clone());
                group
            })
            .collect()
    }
}

impl Run<'_> {
    /// The section's transports: those asked for that `mode_has`, and the
    /// `references` (always, if they can run).
    fn groups(
        &self,
        size: usize,
        references: &[Kind],
        together: bool,
        mode_has: impl Fn(&Kind) -> bool,
    ) -> Groups {
        let rows: Vec<Kind> = self
            .kinds
            .iter()
            .filter(|t| mode_has(t) && (self.plan.transports.contains(t) || references.contains(t)))
            .cloned()
            .collect();
        let mut groups = Groups {
            together,
            rows: rows.clone(),
            references: Vec::new(),
            subjects: Vec::new(),
            skipped: Vec::new(),
        };
        for transport in rows {
            match skip_reason(&transport, size, self.one_cpu) {
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
        let references: Vec<Kind> = match idle_gap {
            None => vec![Kind::builtin(Builtin::Floor)],
            Some(_) => vec![Kind::builtin(Builtin::Floor), Kind::builtin(Builtin::Uds)],
        };
        // Idle-peer blocks are long (a gap before every round trip): one
        // group holds every transport, each cycle a block on each.
        let groups = self.groups(size, &references, idle_gap.is_some(), |t| match idle_gap {
            None => t.round_trips(),
            Some(_) => t.idles(),
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
            slicings: each
                .iter()
                .map(|g| plan.slicing(Mode::Latency, size, g.last().expect("not empty")))
                .collect(),
            groups: each,
            together: groups.together,
        })
    }

    /// The throughput part of `size`-byte messages.
    fn throughput(&self, size: usize) -> Part {
        let plan = &self.plan;
        let references = [Builtin::Floor, Builtin::FloorRecord].map(Kind::builtin);
        let groups = self.groups(size, &references, false, Kind::streams);
        let (awake, kernel) = (
            plan.stream_counts(size, false),
            plan.stream_counts(size, true),
        );
        let mut names = vec![report::MEMCPY];
        names.extend(groups.rows.iter().map(|t| t.name()));
        let awake_pairs = plan
            .slicing(Mode::Throughput, size, &Kind::builtin(Builtin::ShmqSpin))
            .pairs;
        let mut section = ThroughputSection::new(
            size,
            (awake_pairs, plan.pairs),
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
            slicings: each
                .iter()
                .map(|g| plan.slicing(Mode::Throughput, size, g.last().expect("not empty")))
                .collect(),
            groups: each,
        })
    }

    /// Runs the pass due at tick `tick` of `ticks` of every group of
    /// `part` that has not failed, each with a new peer.
    fn run_tick(&self, part: &mut Part, tick: u32, ticks: u32) {
        let plan = &self.plan;
        let probe = !self.one_cpu;
        match part {
            Part::Latency(part) => {
                let (size, gap) = (part.size, part.gap);
                let each = part.groups.iter().zip(&mut part.failed).zip(&part.slicings);
                for ((group, failed), slicing) in each {
                    let Some((pass, cycles)) = slicing.at(tick, ticks).filter(|_| !*failed) else {
                        continue;
                    };
                    let (pass, passes) = (pass + 1, slicing.passes);
                    let subject = group.last().expect("groups are not empty");
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
                            let failing: &[Kind] = if part.together {
                                group
                            } else {
                                std::slice::from_ref(subject)
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
                let each = part.groups.iter().zip(&mut part.failed).zip(&part.slicings);
                for ((group, failed), slicing) in each {
                    let Some((pass, cycles)) = slicing.at(tick, ticks).filter(|_| !*failed) else {
                        continue;
                    };
                    let (pass, passes) = (pass + 1, slicing.passes);
                    let subject = group.last().expect("groups are not empty");
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
    ) -> Result<(), RunError> {
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
            .int("stream_pairs", Some(u64::from(plan.stream_pairs)))
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
                 blocks (floor, transport, floor, ...), {} pairs per transport and size \
                 ({} for streams of up to 128 B on transports that stay awake), spread over \
                 the run in {} passes ({}); a ratio per pair",
                plan.pairs,
                plan.stream_pairs,
                Slicing::new(plan.pairs, PASSES).passes,
                Slicing::new(plan.stream_pairs, STREAM_PASSES).passes,
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
            "ratios: median [q1-q3] over the pairs (throughput: over those of the placement \
             most cycles ran in); absolute numbers pool all blocks and only say where they \
             happened to run"
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
