//! The paired schedule: a group of transports in one peer, measured in
//! short alternating blocks.
//!
//! A group is the reference transports of a mode (the floor; for the
//! idle-peer mode also the Unix socket; for throughput both ring floors)
//! and one transport under test, all set up between the same two processes
//! ([`Link`]). A cycle runs one block on each, in the group's order (for
//! throughput a memcpy block in the parent first), and the schedule repeats
//! the cycle `cycles` times:
//!
//! ```text
//!  latency:     floor | shmq-spin | floor | shmq-spin | ...
//!  idle:        floor | uds | shmq-default | floor | uds | shmq-default | ...
//!  throughput:  memcpy | ring | ring-record | shmq-spin | memcpy | ring | ...
//!  mailbox:     floor | shmq-spin | shmq-mbx16-spin | floor | shmq-spin | ...
//!  service:     floor | shmq-spin | shmq-service-spin | floor | shmq-spin | ...
//!  topic:       floor | shmq-spin | shmq-topic-spin | floor | shmq-spin | ...
//! ```
//!
//! A transport with a baseline (the mailboxes, shmq-service-spin and the
//! spinning topics: shmq-spin) has a block of
//! it in every cycle too, just before its own, so its ratio to the
//! baseline is per cycle as well (see `report`).
//!
//! A block lasts well under a millisecond to a few milliseconds, so the
//! blocks of one cycle run within the same host placement of the virtual
//! CPUs, which holds for seconds; `report` takes each cycle's ratios.
//!
//! **The placement probe.** Unless the two processes share a CPU, every
//! cycle starts with a probe block: [`PROBE_COUNTS`] round trips of a
//! [`PROBE_SIZE`]-byte message on a `floor` ping-pong region of its own, in
//! the same peer. Its p50 says where the virtual CPUs were for that cycle
//! (about 60, 130 or 300-480 ns on the machines we used), whatever the
//! mode and message size measured, and a preempted block barely moves a
//! p50 (a block's rate it would).
//!
//! The peer's side ([`serve`]) keeps to the same order: it plays its role
//! on one endpoint until the switch message, then on the next.

use std::io::Write;
use std::time::Duration;

use super::error::{Context, Error, Result};
use super::measure::{
    BlockLatency, BlockTime, Copier, LatencyCounts, Next, PeerLine, StreamCounts,
};
use super::peer::{self, Liveness, PeerArgs, Spawner};
use super::transport::{Blocks, Kind, Link, Mode, open_all};

/// The placement probe's message size...
pub const PROBE_SIZE: usize = 64;
/// ...and round trips (a few tens of microseconds).
pub const PROBE_COUNTS: LatencyCounts = LatencyCounts {
    warmup: 20,
    timed: 200,
    batch: 0,
};

/// One group's latency blocks.
#[derive(Debug)]
pub struct LatencyRun {
    /// The group, in block order.
    pub transports: Vec<Kind>,
    /// `blocks[cycle][i]`: `transports[i]`'s block in that cycle.
    pub blocks: Vec<Vec<BlockLatency>>,
    /// Each cycle's probe p50, in nanoseconds (none without a probe).
    pub probe_ns: Vec<Option<f64>>,
    /// shmq: futex sleeps per received message over the whole run.
    pub sleeps: Vec<Option<f64>>,
}

/// Runs `cycles` cycles of latency blocks over `transports` in one peer,
/// `counts[i]` round trips on `transports[i]`, each after `gap` if given
/// (idle-peer mode); each cycle starts with the probe if `probe`.
pub fn latency(
    spawner: &Spawner,
    transports: &[Kind],
    size: usize,
    (cycles, probe): (u32, bool),
    counts: &[LatencyCounts],
    gap: Option<Duration>,
) -> Result<LatencyRun> {
    let mut link = Link::start(spawner, transports, Mode::Latency, size, &[], probe)?;
    let mut blocks = Vec::with_capacity(cycles as usize);
    let mut probe_ns = Vec::with_capacity(cycles as usize);
    let ran = (|| {
        for _ in 0..cycles {
            probe_ns.push(link.probe()?);
            let mut cycle = Vec::with_capacity(transports.len());
            for (i, (end, line)) in link.ends.iter_mut().zip(&mut link.lines).enumerate() {
                let block = end.latency(line, counts[i], gap);
                cycle.push(block.with_context(|| transports[i].name())?);
            }
            blocks.push(cycle);
        }
        Ok(())
    })();
    if let Err(e) = ran {
        return Err(link.explain(e));
    }
    let sleeps = (0..transports.len())
        .map(|i| link.sleeps_per_message(i))
        .collect();
    link.finish()?;
    Ok(LatencyRun {
        transports: transports.to_vec(),
        blocks,
        probe_ns,
        sleeps,
    })
}

/// One group's throughput blocks.
#[derive(Debug)]
pub struct ThroughputRun {
    /// The group, in block order (after memcpy).
    pub transports: Vec<Kind>,
    /// Messages in the timed part of each transport's blocks (per sender).
    pub messages: Vec<u64>,
    /// `times[cycle][i]`: the timed part of `transports[i]`'s block.
    pub times: Vec<Vec<BlockTime>>,
    /// Copies in the timed part of each memcpy block.
    pub copies: u64,
    /// The timed part of each cycle's memcpy block.
    pub memcpy_ns: Vec<u64>,
    /// Each cycle's probe p50, in nanoseconds (none without a probe).
    pub probe_ns: Vec<Option<f64>>,
    /// shmq: futex sleeps per received message over the whole run.
    pub sleeps: Vec<Option<f64>>,
}

/// Runs `cycles` cycles of throughput blocks over `transports` in one
/// peer, `counts[i]` messages on `transports[i]`, after the probe (if
/// `probe`) and a memcpy block of `copies` in the parent.
pub fn throughput(
    spawner: &Spawner,
    transports: &[Kind],
    size: usize,
    (cycles, probe): (u32, bool),
    counts: &[StreamCounts],
    copies: StreamCounts,
) -> Result<ThroughputRun> {
    let mut link = Link::start(spawner, transports, Mode::Throughput, size, counts, probe)?;
    let mut copier = Copier::new(size);
    let mut memcpy_ns = Vec::with_capacity(cycles as usize);
    let mut probe_ns = Vec::with_capacity(cycles as usize);
    let ran = (|| {
        for _ in 0..cycles {
            probe_ns.push(link.probe()?);
            memcpy_ns.push(copier.block(copies));
            for (i, (end, line)) in link.ends.iter_mut().zip(&mut link.lines).enumerate() {
                end.stream(line, counts[i])
                    .with_context(|| transports[i].name())?;
            }
        }
        Ok(())
    })();
    if let Err(e) = ran {
        return Err(link.explain(e));
    }
    let sleeps = (0..transports.len())
        .map(|i| link.sleeps_per_message(i))
        .collect();
    let report = link.finish()?;
    let times = report
        .split_ascii_whitespace()
        .map(BlockTime::parse)
        .collect::<Option<Vec<BlockTime>>>()
        .ok_or_else(|| Error::new(format!("the peer reported {:?}", report.trim())))?;
    let expected = cycles as usize * transports.len();
    if times.len() != expected {
        return Err(Error::new(format!(
            "the peer reported {} block times, expected {expected}",
            times.len()
        )));
    }
    Ok(ThroughputRun {
        transports: transports.to_vec(),
        messages: counts.iter().map(|c| c.messages).collect(),
        times: times
            .chunks(transports.len())
            .map(<[BlockTime]>::to_vec)
            .collect(),
        copies: copies.messages,
        memcpy_ns,
        probe_ns,
        sleeps,
    })
}

/// The peer's side of a group: opens the probe and the endpoints (the
/// transports of `kinds` that `args` names), then serves blocks on them in
/// turn until the stop message; after streams, writes every block's time
/// (nanoseconds, in order) on standard output.
pub fn serve(args: &PeerArgs, kinds: &[Kind], live: Liveness) -> Result<()> {
    let streams = match args.mode {
        Mode::Latency => Vec::new(),
        Mode::Throughput => args.streams()?,
    };
    let (probe, ends) = open_all(args, kinds, &live)?;
    if ends.is_empty() {
        return Err(Error::new("no transport to serve"));
    }
    // Each endpoint with its state and role: echo (`None`) or receive
    // streams of these counts. The probe echoes, first in every cycle.
    let mut slots: Vec<(Box<dyn Blocks>, PeerLine, Option<StreamCounts>)> = Vec::new();
    if let Some(end) = probe {
        slots.push((end, PeerLine::new(PROBE_SIZE), None));
    }
    for (i, end) in ends.into_iter().enumerate() {
        slots.push((end, PeerLine::new(args.size), streams.get(i).copied()));
    }
    let mut times = Vec::new();
    let mut current = 0;
    loop {
        let (end, line, role) = &mut slots[current];
        let next = match role {
            None => end.echo(line)?,
            Some(counts) => match end.receive(line, *counts)? {
                Some(time) => {
                    times.push(time.token());
                    Next::Switch
                }
                None => Next::Stop,
            },
        };
        match next {
            Next::Switch => current = (current + 1) % slots.len(),
            Next::Stop => break,
        }
    }
    if args.mode == Mode::Throughput {
        writeln!(peer::stdout_file()?, "{}", times.join(" ")).context("write the report")?;
    }
    Ok(())
}
