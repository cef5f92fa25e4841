//! What is timed, and how.
//!
//! Every message carries its sequence number (from 1) in its first 8
//! bytes, little-endian, and the low byte of it in its last byte; the rest
//! is a fixed pattern. The side that receives a message checks both stamps,
//! so a message that was skipped, repeated, reordered or cut short is an
//! error, and neither the compiler nor a transport can skip the copies.
//! The stop message has the sequence number `u64::MAX`.
//!
//! **Latency** ([`PingPong`], parent side, and [`PeerRole::Echo`]): the
//! parent stamps its message and sends it; the peer receives it into its
//! own buffer and sends that buffer back; the parent receives the echo into
//! a third buffer and checks it. First `warmup` round trips (discarded),
//! then `timed` round trips, each between two `Instant::now()` reads (the
//! monotonic clock, through the vDSO) and recorded in an HDR histogram, then
//! a batch of `batch` round trips timed as a whole, whose mean carries no
//! clock overhead. The timed samples include one clock read each (about
//! 25 ns on the machines we measured).
//!
//! **Idle-peer latency** ([`IdlePingPong`], with the same echoing peer):
//! the same round trip, but before each one (warm-up included) the parent
//! waits a fixed gap, untimed, longer than shmq's default spin budget, so
//! the peer has been waiting that long when the message comes: a spinning
//! peer is still polling, a spin-then-block one has given up and sleeps on
//! its futex, a socket reader sleeps in the kernel. The parent busy-waits
//! the gap on `Instant::now()` rather than sleeping: then only the peer is
//! idle, the parent's CPU stays awake and warm (a sleeping parent would
//! let its virtual CPU halt too, and the measured send would start on a
//! CPU just woken by a timer), and the gap is exact instead of stretched
//! by timer slack. The wait loop only reads the clock, without a
//! spin-loop hint (see the loop). Each round trip is timed as in the latency mode; there
//! is no untimed batch (it would contain the gaps), so the mean is that of
//! the timed samples.
//!
//! **Throughput** ([`Produce`] and [`PeerRole::Receive`]): the parent
//! sends `warmup + messages` stamped messages back to back; the peer
//! receives and checks each, reads the clock after the last warm-up message
//! and after the last message, and reports the difference. The rate is
//! `messages` over that time: the steady state of the slower side, without
//! the start-up.
//!
//! **memcpy** ([`memcpy`]): one thread copying a buffer of the message size
//! into another, as a reference for what moving the bytes costs at all.

use std::hint::black_box;
use std::io::Write;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use super::error::{Context, Error, Result};
use super::peer;
use super::transport::{Endpoint, Job};

/// Sequence number of the stop message.
const STOP: u64 = u64::MAX;

/// A message of `size` bytes with the fixed pattern (stamps not yet set).
fn pattern(size: usize) -> Vec<u8> {
    (0..size).map(|i| (i % 251) as u8).collect()
}

/// Writes `seq` into the message's stamps.
#[inline]
fn stamp(msg: &mut [u8], seq: u64) {
    msg[..8].copy_from_slice(&seq.to_le_bytes());
    if msg.len() > 8 {
        let last = msg.len() - 1;
        msg[last] = seq as u8;
    }
}

/// The sequence number in a message.
#[inline]
fn sequence(msg: &[u8]) -> u64 {
    u64::from_le_bytes(msg[..8].try_into().expect("messages have at least 8 bytes"))
}

/// Checks that `msg` carries `seq` in both stamps.
#[inline]
fn check(msg: &[u8], seq: u64) -> Result<()> {
    let found = sequence(msg);
    let last_ok = msg.len() <= 8 || msg[msg.len() - 1] == seq as u8;
    if found == seq && last_ok {
        Ok(())
    } else {
        Err(Error::new(format!(
            "message {seq} arrived as {found}{}",
            if last_ok {
                ""
            } else {
                " with a wrong last byte"
            }
        )))
    }
}

/// The stop message for `size`-byte messages.
pub fn stop_message(size: usize) -> Vec<u8> {
    let mut msg = pattern(size);
    stamp(&mut msg, STOP);
    msg
}

/// Round trips of one latency measurement.
#[derive(Debug, Clone, Copy)]
pub struct LatencyCounts {
    /// Untimed, discarded.
    pub warmup: u64,
    /// Each timed and recorded.
    pub timed: u64,
    /// Timed as a whole.
    pub batch: u64,
}

/// Messages of one throughput measurement.
#[derive(Debug, Clone, Copy)]
pub struct StreamCounts {
    /// Received before the clock starts.
    pub warmup: u64,
    /// Received with the clock running.
    pub messages: u64,
}

/// What a latency measurement found.
#[derive(Debug)]
pub struct Latency {
    /// Round-trip times in nanoseconds.
    pub histogram: Histogram<u64>,
    /// Mean round trip of the untimed batch (idle-peer: of the timed
    /// samples), in nanoseconds.
    pub batch_mean_ns: f64,
    /// shmq only: futex sleeps per received message, both ends together.
    pub sleeps_per_message: Option<f64>,
}

/// The parent's side of a latency measurement.
#[derive(Debug)]
pub struct PingPong {
    pub size: usize,
    pub counts: LatencyCounts,
}

impl Job for PingPong {
    type Output = Latency;

    fn run<E: Endpoint>(self, end: &mut E) -> Result<Latency> {
        let LatencyCounts {
            warmup,
            timed,
            batch,
        } = self.counts;
        let mut msg = pattern(self.size);
        let mut reply = vec![0u8; self.size];
        let mut seq = 0u64;
        for _ in 0..warmup {
            seq += 1;
            stamp(&mut msg, seq);
            end.send(&msg)?;
            end.recv(&mut reply)?;
            check(&reply, seq)?;
        }
        // Samples go to a preallocated vector and into the histogram
        // afterwards: recording into its ~100 KB of counters in the loop
        // would evict the transport's cache lines.
        let mut samples = Vec::with_capacity(timed as usize);
        for _ in 0..timed {
            seq += 1;
            stamp(&mut msg, seq);
            let start = Instant::now();
            end.send(&msg)?;
            end.recv(&mut reply)?;
            let elapsed = start.elapsed();
            check(&reply, seq)?;
            samples.push(elapsed.as_nanos() as u64);
        }
        let start = Instant::now();
        for _ in 0..batch {
            seq += 1;
            stamp(&mut msg, seq);
            end.send(&msg)?;
            end.recv(&mut reply)?;
            check(&reply, seq)?;
        }
        let batch_ns = start.elapsed().as_nanos() as f64;
        Ok(Latency {
            histogram: histogram(samples)?,
            batch_mean_ns: batch_ns / batch.max(1) as f64,
            sleeps_per_message: None,
        })
    }
}

/// The samples in a histogram of three significant digits, which grows to
/// whatever range they need.
fn histogram(samples: Vec<u64>) -> Result<Histogram<u64>> {
    let mut histogram = Histogram::<u64>::new(3).context("create a histogram")?;
    for sample in samples {
        histogram.record(sample.max(1)).context("record a sample")?;
    }
    Ok(histogram)
}

/// The parent's side of an idle-peer latency measurement: `gap` of
/// busy-waiting before each round trip (`counts.batch` is not used).
#[derive(Debug)]
pub struct IdlePingPong {
    pub size: usize,
    pub counts: LatencyCounts,
    pub gap: Duration,
}

impl Job for IdlePingPong {
    type Output = Latency;

    fn run<E: Endpoint>(self, end: &mut E) -> Result<Latency> {
        let LatencyCounts { warmup, timed, .. } = self.counts;
        let mut msg = pattern(self.size);
        let mut reply = vec![0u8; self.size];
        let mut samples = Vec::with_capacity(timed as usize);
        for seq in 1..=warmup + timed {
            stamp(&mut msg, seq);
            let idle = Instant::now();
            // No spin-loop hint: on a VM a long PAUSE loop can make the
            // hypervisor take the CPU away (pause-loop exiting).
            while idle.elapsed() < self.gap {}
            let start = Instant::now();
            end.send(&msg)?;
            end.recv(&mut reply)?;
            let elapsed = start.elapsed();
            check(&reply, seq)?;
            if seq > warmup {
                samples.push(elapsed.as_nanos() as u64);
            }
        }
        let histogram = histogram(samples)?;
        Ok(Latency {
            batch_mean_ns: histogram.mean(),
            histogram,
            sleeps_per_message: None,
        })
    }
}

/// The parent's side of a throughput measurement: sends the stream.
#[derive(Debug)]
pub struct Produce {
    pub size: usize,
    pub counts: StreamCounts,
}

impl Job for Produce {
    type Output = ();

    fn run<E: Endpoint>(self, end: &mut E) -> Result<()> {
        let mut msg = pattern(self.size);
        for seq in 1..=self.counts.warmup + self.counts.messages {
            stamp(&mut msg, seq);
            end.send(&msg)?;
        }
        Ok(())
    }
}

/// What the peer does once its endpoint is open.
#[derive(Debug, Clone, Copy)]
pub enum PeerRole {
    /// Send every message back (latency).
    Echo,
    /// Receive a stream and report the time of its timed part in
    /// nanoseconds on standard output (throughput).
    Receive { warmup: u64, messages: u64 },
}

/// Plays `role` on `end` until the stop message.
pub fn serve<E: Endpoint>(end: &mut E, size: usize, role: PeerRole) -> Result<()> {
    let mut buf = vec![0u8; size];
    match role {
        PeerRole::Echo => {
            let mut expected = 1u64;
            loop {
                end.recv(&mut buf)?;
                if sequence(&buf) == STOP {
                    return Ok(());
                }
                check(&buf, expected)?;
                expected += 1;
                end.send(&buf)?;
            }
        }
        PeerRole::Receive { warmup, messages } => {
            if warmup == 0 || messages == 0 {
                return Err(Error::new("a stream needs warm-up and timed messages"));
            }
            let mut start = Instant::now();
            for seq in 1..=warmup + messages {
                end.recv(&mut buf)?;
                check(&buf, seq)?;
                if seq == warmup {
                    start = Instant::now();
                }
            }
            let elapsed = start.elapsed();
            end.recv(&mut buf)?;
            check(&buf, STOP)?;
            writeln!(peer::stdout_file()?, "{}", elapsed.as_nanos()).context("write the report")
        }
    }
}

/// What a throughput measurement found.
#[derive(Debug, Clone, Copy)]
pub struct Throughput {
    /// Messages (or copies) in the timed part.
    pub messages: u64,
    /// Bytes per message.
    pub size: usize,
    /// Time of the timed part.
    pub elapsed_ns: u64,
    /// shmq only: futex sleeps per received message, both ends together.
    pub sleeps_per_message: Option<f64>,
}

impl Throughput {
    /// Messages per second.
    pub fn messages_per_second(&self) -> f64 {
        self.messages as f64 * 1e9 / self.elapsed_ns.max(1) as f64
    }

    /// Bytes per second.
    pub fn bytes_per_second(&self) -> f64 {
        self.messages_per_second() * self.size as f64
    }
}

/// Copies a `size`-byte buffer into another `counts.warmup` times
/// (untimed), then `counts.messages` times (timed), on this thread.
pub fn memcpy(size: usize, counts: StreamCounts) -> Throughput {
    let source = pattern(size);
    let mut target = vec![0u8; size];
    for _ in 0..counts.warmup {
        target.copy_from_slice(black_box(&source));
        black_box(&mut target);
    }
    let start = Instant::now();
    for _ in 0..counts.messages {
        target.copy_from_slice(black_box(&source));
        black_box(&mut target);
    }
    Throughput {
        messages: counts.messages,
        size,
        elapsed_ns: start.elapsed().as_nanos() as u64,
        sleeps_per_message: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps() {
        let mut msg = pattern(64);
        stamp(&mut msg, 300);
        assert_eq!(sequence(&msg), 300);
        assert!(check(&msg, 300).is_ok());
        assert!(check(&msg, 301).is_err());
        msg[63] ^= 1;
        assert!(check(&msg, 300).is_err());
        let mut short = pattern(8);
        stamp(&mut short, 7);
        assert!(check(&short, 7).is_ok());
        assert_eq!(sequence(&stop_message(16)), STOP);
    }
}
