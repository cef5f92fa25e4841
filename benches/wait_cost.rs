//! What each wait strategy costs the receiver in CPU, and what it buys in
//! latency, at a given message rate.
//!
//! What it measures: a sender thread sends 64-byte messages at a fixed
//! rate (1,000, 10,000 and 100,000 msg/s, and a saturated stream) through
//! an in-process queue (`QueueBuilder::in_process()`, 4096 slots of 128
//! bytes, the defaults) to a receiver thread, with both ends set to one
//! `WaitStrategy`. For each strategy and rate it prints:
//!
//! - **rx CPU**: the receiver thread's CPU time per second of wall time
//!   (`CLOCK_THREAD_CPUTIME_ID`), from the first measured message to the
//!   sender's departure: 100% is one core kept busy;
//! - **wakes/msg**: futex wake calls the sender made per message, i.e. how
//!   many times the receiver was asleep when a message came
//!   (`Queue::stats().sender.wakes`);
//! - **regs/msg**: times per message the receiver registered as a sleeper
//!   (`Queue::stats().receiver.sleeps`): each registration costs a
//!   `membarrier` system call, and a receiver that sleeps registers again
//!   after each wake-up before it finds the message;
//! - **p50 / p99**: one-way latency, from just before `send` to just after
//!   the receive returned. The sender stamps a nanosecond count (from an
//!   `Instant` both threads share) into the message; the receiver subtracts
//!   it from its own reading. In the saturated stream every 256th message
//!   is stamped and the figures are mostly time spent queued in a full ring;
//! - **others**: CPU time other processes used during the row, as a share
//!   of one CPU (`/proc/stat` less this process): on a 2-CPU machine a row
//!   where this is more than a few percent was disturbed, since a sender or
//!   receiver that loses its CPU stalls the stream (milliseconds of p99);
//! - **steal**: time the hypervisor took this machine's CPUs for other
//!   work during the row (`/proc/stat` steal), as a share of one CPU: in a
//!   VM a sleeping receiver's vCPU must be rescheduled by the host to wake
//!   up, and while the host is busy that takes milliseconds.
//!
//! The sender writes all 64 bytes of each message (sequence number, stamp,
//! and a fill byte derived from the sequence number) and `send`s it (one
//! copy into the ring); the receiver reads it in place with `recv_with` and
//! checks the sequence number and every fill byte. Pacing is open-loop:
//! message `i` is due at `start + i / rate`; the sender sleeps while the
//! next one is more than 200 us away and spins the rest, so its timing does
//! not depend on the timer's slack (its CPU time is not reported). Before
//! each measurement 8192 messages go through back to back (two laps of the
//! ring, so no page fault of the fresh ring is measured).
//!
//! The two threads are pinned to different CPUs when the process may use
//! two (`sched_setaffinity`); the output says whether they were.
//!
//! Run: `cargo bench --bench wait_cost` (about 60 s: 2.5 s per cell), or
//! `cargo bench --bench wait_cost -- --quick` (about 10 s: 0.4 s per
//! cell); `--secs S` sets the time per cell. `--retries N` runs a row
//! again, up to N times, while others and steal took more than 5% of a CPU
//! during it, and prints the least disturbed run (column "runs": how many
//! were made).

#![allow(missing_docs, reason = "a bench binary")]

use std::time::{Duration, Instant};

use shmq::{QueueBuilder, RecvError, WaitStrategy};

const LEN: usize = 64;
/// Byte offsets in a message.
const SEQ: std::ops::Range<usize> = 0..8;
const STAMP: std::ops::Range<usize> = 8..16;
const FILL: usize = 16;
/// Stamp values that are not times.
const UNSTAMPED: u64 = 0;
const WARMUP: u64 = u64::MAX;
const START: u64 = u64::MAX - 1;
/// Messages sent back to back before a measurement: two laps of the ring.
const WARMUP_MESSAGES: u64 = 2 * 4096;
/// In the saturated stream, one message in this many is stamped.
const SATURATED_STAMP_EVERY: u64 = 256;
/// The sender sleeps while the next message is further away than this.
const SLEEP_ABOVE: Duration = Duration::from_micros(200);
/// ... and wakes this long before it is due, to spin the rest.
const WAKE_EARLY: Duration = Duration::from_micros(100);

/// Share of a CPU that other processes and the hypervisor may take during
/// a row before `--retries` runs it again.
const DISTURBED: f64 = 0.05;

/// Rates in messages per second; `None` is a saturated stream.
const RATES: [Option<u64>; 4] = [Some(1_000), Some(10_000), Some(100_000), None];

fn strategies() -> [(String, WaitStrategy); 5] {
    let us = Duration::from_micros;
    [
        ("Spin".into(), WaitStrategy::Spin),
        (
            "SpinThenBlock(5us)".into(),
            WaitStrategy::SpinThenBlock(us(5)),
        ),
        (
            format!(
                "SpinThenBlock({}us) (default)",
                shmq::DEFAULT_SPIN.as_micros()
            ),
            WaitStrategy::default(),
        ),
        (
            "SpinThenBlock(500us)".into(),
            WaitStrategy::SpinThenBlock(us(500)),
        ),
        ("Block".into(), WaitStrategy::Block),
    ]
}

/// What one strategy at one rate gave.
struct Cell {
    messages: u64,
    wall: Duration,
    cpu: Duration,
    /// Receiver's sleep registrations and sender's wake calls.
    registrations: u64,
    wakes: u64,
    /// One-way latencies in nanoseconds, sorted.
    latencies: Vec<u64>,
    /// CPU time other processes used meanwhile, and time the hypervisor
    /// stole from this machine's CPUs, in CPUs (see [`Load`]).
    others: f64,
    steal: f64,
}

/// The machine's busy time and this process's CPU time at one moment, to
/// tell how much of the machine other processes took during a row: on a
/// 2-CPU machine, a row where they took a sizeable part of a CPU is
/// disturbed (a preempted sender or receiver stalls the stream).
struct Load {
    wall: Instant,
    /// Busy and stolen time of all CPUs since boot.
    busy: Option<(Duration, Duration)>,
    own: Duration,
}

impl Load {
    fn now() -> Load {
        Load {
            wall: Instant::now(),
            busy: machine_busy(),
            own: process_cpu_time(),
        }
    }

    /// CPUs' worth of time other processes (and the kernel on their behalf)
    /// used since `self`, and of time stolen by the hypervisor (a vCPU
    /// that wants to run but whose host CPU runs something else): 0.5 is
    /// half of one CPU. NaN without `/proc/stat`.
    fn others_since(&self) -> (f64, f64) {
        let now = Load::now();
        let (Some((busy0, steal0)), Some((busy1, steal1))) = (self.busy, now.busy) else {
            return (f64::NAN, f64::NAN);
        };
        let wall = (now.wall - self.wall).as_secs_f64();
        let others = (busy1.saturating_sub(busy0)).as_secs_f64()
            - (now.own.saturating_sub(self.own)).as_secs_f64();
        let steal = steal1.saturating_sub(steal0).as_secs_f64();
        ((others / wall).max(0.0), steal / wall)
    }
}

/// Time all CPUs spent busy (user, nice, system, irq, softirq; not idle,
/// iowait or steal), and stolen, since boot, from `/proc/stat`, in clock
/// ticks converted to time.
fn machine_busy() -> Option<(Duration, Duration)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let fields: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    // user nice system idle iowait irq softirq steal ...
    let f = fields.get(..8)?;
    let (busy, steal) = (f[0] + f[1] + f[2] + f[5] + f[6], f[7]);
    // SAFETY: sysconf only reads a configuration value.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let hz = u64::try_from(hz).ok().filter(|&hz| hz > 0)?;
    let time = |ticks: u64| Duration::from_nanos(ticks * 1_000_000_000 / hz);
    Some((time(busy), time(steal)))
}

/// CPU time used by this whole process so far (every thread).
fn process_cpu_time() -> Duration {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid, writable `timespec` and the clock id is a
    // constant every Linux since 2.6.12 has.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut t) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_PROCESS_CPUTIME_ID)");
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// CPU time used by the calling thread so far.
fn thread_cpu_time() -> Duration {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid, writable `timespec` and the clock id is a
    // constant every Linux since 2.6.12 has.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// The CPUs this process may run on.
fn allowed_cpus() -> Vec<usize> {
    // SAFETY: an all-zero `cpu_set_t` is a valid empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid, writable `cpu_set_t` of the size passed.
    let rc = unsafe { libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut set) };
    if rc != 0 {
        return Vec::new();
    }
    (0..libc::CPU_SETSIZE as usize)
        // SAFETY: `cpu` is below CPU_SETSIZE, within the set.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect()
}

/// Pins the calling thread to `cpu`; whether that worked.
fn pin_to(cpu: usize) -> bool {
    // SAFETY: an all-zero `cpu_set_t` is a valid empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `cpu` is below CPU_SETSIZE (it came from `allowed_cpus`).
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: `set` is a valid `cpu_set_t` of the size passed; pid 0 is
    // the calling thread.
    unsafe { libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set) == 0 }
}

fn nanos_since(epoch: Instant) -> u64 {
    // Never 0 (`UNSTAMPED`): the epoch is taken before any stamp.
    (epoch.elapsed().as_nanos() as u64).max(1)
}

/// Writes the whole message `seq` with `stamp`.
fn produce(msg: &mut [u8; LEN], seq: u64, stamp: u64) {
    msg[SEQ].copy_from_slice(&seq.to_le_bytes());
    msg[STAMP].copy_from_slice(&stamp.to_le_bytes());
    msg[FILL..].fill(seq as u8);
}

/// Checks message `bytes` is number `expected` and returns its stamp.
fn check(bytes: &[u8], expected: u64) -> u64 {
    assert_eq!(bytes.len(), LEN, "message length");
    let seq = u64::from_le_bytes(bytes[SEQ].try_into().expect("8 bytes"));
    assert_eq!(seq, expected, "message out of order");
    assert!(
        bytes[FILL..].iter().all(|&b| b == seq as u8),
        "message {seq}: payload corrupted"
    );
    u64::from_le_bytes(bytes[STAMP].try_into().expect("8 bytes"))
}

fn run_cell(
    strategy: WaitStrategy,
    rate: Option<u64>,
    secs: Duration,
    cpus: Option<(usize, usize)>,
) -> Cell {
    let queue = QueueBuilder::in_process()
        .wait_strategy(strategy)
        .create()
        .expect("queue");
    let (mut tx, mut rx) = (queue.sender().unwrap(), queue.receiver().unwrap());
    let epoch = Instant::now();

    let receiver = std::thread::Builder::new()
        .name("wait-cost-rx".into())
        .spawn(move || {
            if let Some((cpu, _)) = cpus {
                pin_to(cpu);
            }
            let expected_samples = match rate {
                Some(rate) => rate * secs.as_secs().max(1) * 2 + 1024,
                None => 1 << 20,
            };
            let mut latencies = Vec::with_capacity(expected_samples as usize);
            let mut seq = 0u64;
            let mut started: Option<(Instant, Duration, (u64, u64))> = None;
            loop {
                let got = rx.recv_with(|bytes| check(bytes, seq));
                let stamp = match got {
                    Ok(stamp) => stamp,
                    Err(RecvError::Disconnected) => break,
                    Err(e) => panic!("recv_with: {e}"),
                };
                seq += 1;
                match stamp {
                    WARMUP | UNSTAMPED => {}
                    START => {
                        let stats = queue.stats();
                        let counts = (stats.receiver.sleeps, stats.sender.wakes);
                        started = Some((Instant::now(), thread_cpu_time(), counts));
                    }
                    stamp => latencies.push(nanos_since(epoch).saturating_sub(stamp)),
                }
            }
            let (wall, cpu) = (Instant::now(), thread_cpu_time());
            let (wall0, cpu0, (registrations0, wakes0)) = started.expect("the sender sent START");
            let stats = queue.stats();
            latencies.sort_unstable();
            Cell {
                // Those sent after START.
                messages: seq - WARMUP_MESSAGES - 1,
                wall: wall - wall0,
                cpu: cpu - cpu0,
                registrations: stats.receiver.sleeps - registrations0,
                wakes: stats.sender.wakes - wakes0,
                latencies,
                others: 0.0,
                steal: 0.0,
            }
        })
        .expect("spawn the receiver");

    if let Some((_, cpu)) = cpus {
        // The sender runs on this thread (the main one).
        pin_to(cpu);
    }
    let mut msg = [0u8; LEN];
    let mut seq = 0u64;
    for _ in 0..WARMUP_MESSAGES {
        produce(&mut msg, seq, WARMUP);
        tx.send(&msg).expect("send");
        seq += 1;
    }
    let load = Load::now();
    produce(&mut msg, seq, START);
    tx.send(&msg).expect("send");
    seq += 1;

    let start = Instant::now();
    let end = start + secs;
    match rate {
        Some(rate) => {
            let interval = Duration::from_secs(1).as_nanos() as f64 / rate as f64;
            for i in 1u64.. {
                let due = start + Duration::from_nanos((i as f64 * interval) as u64);
                if due > end {
                    break;
                }
                loop {
                    let now = Instant::now();
                    if now >= due {
                        break;
                    }
                    let left = due - now;
                    if left > SLEEP_ABOVE {
                        std::thread::sleep(left - WAKE_EARLY);
                    } else {
                        std::hint::spin_loop();
                    }
                }
                produce(&mut msg, seq, nanos_since(epoch));
                tx.send(&msg).expect("send");
                seq += 1;
            }
        }
        None => loop {
            let stamp = if seq % SATURATED_STAMP_EVERY == 0 {
                if Instant::now() >= end {
                    break;
                }
                nanos_since(epoch)
            } else {
                UNSTAMPED
            };
            produce(&mut msg, seq, stamp);
            tx.send(&msg).expect("send");
            seq += 1;
        },
    }
    // The receiver drains what is left, then sees `Disconnected`.
    drop(tx);
    let mut cell = receiver.join().expect("the receiver panicked");
    (cell.others, cell.steal) = load.others_since();
    assert_eq!(cell.messages, seq - WARMUP_MESSAGES - 1, "messages lost");
    cell
}

fn percentile(sorted: &[u64], q: f64) -> Option<u64> {
    let last = sorted.len().checked_sub(1)?;
    Some(sorted[(last as f64 * q).round() as usize])
}

fn show_ns(ns: Option<u64>) -> String {
    match ns {
        None => "-".into(),
        Some(ns) if ns < 1_000 => format!("{ns} ns"),
        Some(ns) if ns < 1_000_000 => format!("{:.1} us", ns as f64 / 1e3),
        Some(ns) => format!("{:.2} ms", ns as f64 / 1e6),
    }
}

fn show_rate(per_sec: f64) -> String {
    if per_sec >= 1e6 {
        format!("{:.1} M", per_sec / 1e6)
    } else {
        format!("{:.0}", per_sec)
    }
}

fn main() {
    // `cargo bench` passes `--bench`; other unknown flags are ignored too.
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut secs = Duration::from_millis(2500);
    if args.iter().any(|a| a == "--quick") {
        secs = Duration::from_millis(400);
    }
    if let Some(i) = args.iter().position(|a| a == "--secs") {
        let s: f64 = args
            .get(i + 1)
            .and_then(|s| s.parse().ok())
            .expect("--secs takes a number of seconds");
        secs = Duration::from_secs_f64(s);
    }
    let retries: u32 = match args.iter().position(|a| a == "--retries") {
        Some(i) => args
            .get(i + 1)
            .and_then(|s| s.parse().ok())
            .expect("--retries takes a count"),
        None => 0,
    };

    let allowed = allowed_cpus();
    let cpus = match allowed[..] {
        [rx, tx, ..] => Some((rx, tx)),
        _ => None,
    };
    match cpus {
        Some((rx, tx)) => println!("receiver pinned to CPU {rx}, sender to CPU {tx}"),
        None => println!("not pinned: this process may use {} CPU(s)", allowed.len()),
    }
    println!(
        "64-byte messages, in-process queue (4096 slots of 128 B), both ends with the \
         strategy shown; {:.1} s per row after 8192 warm-up messages; rx CPU = receiver \
         thread CPU time / wall time; latency one way, send to receive\n",
        secs.as_secs_f64()
    );
    println!(
        "| strategy | rate (msg/s) | sent (msg/s) | rx CPU | wakes/msg | regs/msg | p50 | p99 | samples | others | steal | runs |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for (name, strategy) in strategies() {
        for rate in RATES {
            // Of the runs of this row, the least disturbed.
            let mut cell = run_cell(strategy, rate, secs, cpus);
            let mut runs = 1;
            while runs <= retries && cell.others + cell.steal > DISTURBED {
                let again = run_cell(strategy, rate, secs, cpus);
                if again.others + again.steal < cell.others + cell.steal {
                    cell = again;
                }
                runs += 1;
            }
            let wall = cell.wall.as_secs_f64();
            println!(
                "| {name} | {} | {} | {:.1}% | {:.2} | {:.2} | {} | {} | {} | {:.0}% | {:.0}% | {runs} |",
                rate.map_or("saturated".into(), |r| show_rate(r as f64)),
                show_rate(cell.messages as f64 / wall),
                100.0 * cell.cpu.as_secs_f64() / wall,
                cell.wakes as f64 / cell.messages.max(1) as f64,
                cell.registrations as f64 / cell.messages.max(1) as f64,
                show_ns(percentile(&cell.latencies, 0.50)),
                show_ns(percentile(&cell.latencies, 0.99)),
                cell.latencies.len(),
                cell.others * 100.0,
                cell.steal * 100.0,
            );
        }
    }
}
