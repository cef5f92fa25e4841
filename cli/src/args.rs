//! The command line: subcommands, options and their value parsers.

use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use shmq::{QueueBuilder, WaitStrategy};

use crate::status;

/// Top-level help text listing the exit statuses.
const EXIT_STATUS_HELP: &str = concat!(
    "Exit status:\n",
    "  0    success (recv: the sender disconnected and every message was written,\n",
    "       or --count messages were written)\n",
    "  1    error (bad name, missing queue, end already attached, i/o, ...)\n",
    "  2    usage error\n",
    "  3    recv --timeout: no message arrived in time\n",
    "  141  standard output was closed (broken pipe)",
);

/// Help text of `recv`, listing its exit statuses.
const RECV_HELP: &str = concat!(
    "Exit status:\n",
    "  0    the sender disconnected and every message it committed was written,\n",
    "       or --count messages were written\n",
    "  1    error (bad name, missing queue with --no-create, a receiver already\n",
    "       attached, corrupted segment, write error, ...)\n",
    "  2    usage error\n",
    "  3    --timeout: no message arrived within the timeout (\"shmq: timed out\")\n",
    "  141  standard output was closed (broken pipe); messages taken off the\n",
    "       queue but not yet written are lost",
);

/// Message queues between processes over shared memory (/dev/shm).
#[derive(Debug, Parser)]
#[command(name = "shmq", version, after_help = EXIT_STATUS_HELP)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a queue (fails if it exists).
    Create {
        /// Queue name: 1-64 characters of A-Z a-z 0-9 . _ - not starting with '.'.
        name: String,
        #[command(flatten)]
        create: CreateOptions,
    },
    /// Remove queues. Processes that have one open keep using it.
    Rm {
        /// Queue names.
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// List the queues on this machine, one name per line.
    List,
    /// Show a queue's settings, state, attached processes and counters.
    Stat {
        /// Queue name.
        name: String,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Send standard input to a queue (one message per line by default).
    ///
    /// Creates the queue if it does not exist, unless --no-create. The
    /// queue stays in /dev/shm after the sender exits, until `shmq rm`.
    ///
    /// Waits while the queue is full. Fails if the queue's receiver has
    /// detached (say a `shmq recv` that ran and ended) until a new one
    /// attaches.
    #[command(
        after_help = "Exit status: 0 when all of standard input was sent, 1 on error, 2 on usage error."
    )]
    Send {
        /// Queue name.
        name: String,
        #[command(flatten)]
        format: FormatOptions,
        #[command(flatten)]
        end: EndOptions,
    },
    /// Write messages from a queue to standard output (one per line by default).
    ///
    /// Creates the queue if it does not exist, unless --no-create. Ends when
    /// the sender has disconnected and every message it sent was written:
    /// if a sender was attached before and none is now, that is as soon as
    /// the queue is empty.
    ///
    /// In the line format each message is followed by "\n"; a message that
    /// itself holds a "\n" is written as it is. Output is flushed whenever
    /// the queue runs empty.
    #[command(after_help = RECV_HELP)]
    Recv {
        /// Queue name.
        name: String,
        #[command(flatten)]
        format: FormatOptions,
        /// Stop after N messages.
        #[arg(long, value_name = "N")]
        count: Option<u64>,
        /// Give up (exit status 3) when no message arrives within DURATION of
        /// waiting for the next one: 500ms, 2s, 1.5m, 1h; a plain number is seconds.
        #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
        timeout: Option<Duration>,
        #[command(flatten)]
        end: EndOptions,
    },
    /// Benchmark shmq against the hardware floor and the kernel's IPC.
    ///
    /// Two processes (this one and a copy of it), pinned to two CPUs, pass
    /// messages over each transport in turn: a hand-written shared-memory
    /// floor (bare, and with a 16-byte record header as shmq's), shmq with
    /// three wait strategies, a Unix socket, a pipe, TCP loopback and POSIX
    /// message queues. Latency is the round trip (also measured with the
    /// peer left idle before each message), throughput a one-way stream.
    /// Transports are interleaved in rounds, and each is reported as a
    /// ratio to the floor and to the Unix socket of the same round. The default run takes a few minutes; --quick
    /// well under half a minute.
    Bench(crate::bench::BenchArgs),
    /// The second process of `shmq bench` (internal).
    #[command(hide = true)]
    BenchPeer(crate::bench::PeerArgs),
}

/// Settings of a new queue; used only when the queue is created.
#[derive(Debug, Args)]
#[command(next_help_heading = "New queue options (used only when creating it)")]
pub struct CreateOptions {
    /// Bytes per slot: a multiple of 64 (suffixes K, M, G: powers of 1024).
    /// Default 128.
    #[arg(long, value_name = "BYTES", value_parser = parse_size)]
    slot_size: Option<u64>,
    /// Number of slots: a power of two. Default 4096.
    #[arg(long, value_name = "N", value_parser = parse_size)]
    slots: Option<u64>,
    /// Longest message (suffixes K, M, G). Default 64M.
    #[arg(long, value_name = "BYTES", value_parser = parse_size)]
    max_message: Option<u64>,
    /// File mode in octal: 600, 0600 or 0o600. Default 600.
    #[arg(long, value_name = "OCTAL", value_parser = parse_mode)]
    mode: Option<u32>,
}

impl CreateOptions {
    /// A builder for `name` carrying these settings.
    pub fn builder(&self, name: &str) -> Result<QueueBuilder, status::Failure> {
        let mut builder = QueueBuilder::new(name);
        if let Some(bytes) = self.slot_size {
            builder = builder.slot_size(to_usize(bytes, "--slot-size")?);
        }
        if let Some(count) = self.slots {
            builder = builder.slots(to_usize(count, "--slots")?);
        }
        if let Some(bytes) = self.max_message {
            builder = builder.max_message_size(bytes);
        }
        if let Some(mode) = self.mode {
            builder = builder.mode(mode);
        }
        Ok(builder)
    }
}

fn to_usize(value: u64, what: &str) -> Result<usize, status::Failure> {
    usize::try_from(value)
        .map_err(|_| status::Failure::error(format!("{what} {value} is too large")))
}

/// How messages are laid out on standard input or output.
#[derive(Debug, Args)]
pub struct FormatOptions {
    /// One message is all of standard input (send), or messages are written
    /// back to back with nothing between them (recv).
    #[arg(long, conflicts_with = "framed")]
    raw: bool,
    /// Each message is a 4-byte little-endian length followed by that many bytes.
    #[arg(long)]
    framed: bool,
}

/// The three formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One message per line; the "\n" is not part of the message.
    Lines,
    /// Bytes as they are.
    Raw,
    /// 4-byte little-endian length, then the bytes.
    Framed,
}

impl FormatOptions {
    /// The chosen format.
    pub fn format(&self) -> Format {
        match (self.raw, self.framed) {
            (true, _) => Format::Raw,
            (_, true) => Format::Framed,
            _ => Format::Lines,
        }
    }
}

/// Options of `send` and `recv`: how to open the queue and how to wait.
#[derive(Debug, Args)]
pub struct EndOptions {
    /// Fail if the queue does not exist instead of creating it.
    #[arg(long)]
    pub no_create: bool,
    /// How to wait for the other end (default: spin briefly, then block).
    #[arg(long, value_enum, value_name = "STRATEGY")]
    wait: Option<Wait>,
    #[command(flatten)]
    pub create: CreateOptions,
}

impl EndOptions {
    /// A builder for `name` with the creation settings and wait strategy.
    pub fn builder(&self, name: &str) -> Result<QueueBuilder, status::Failure> {
        let builder = self.create.builder(name)?;
        Ok(match self.wait {
            Some(wait) => builder.wait_strategy(wait.strategy()),
            None => builder,
        })
    }

    /// Opens `name`, creating it with these settings unless `--no-create`.
    pub fn queue(&self, name: &str) -> Result<shmq::Queue, status::Failure> {
        let builder = self.builder(name)?;
        if self.no_create {
            builder.open()
        } else {
            builder.open_or_create()
        }
        .map_err(|e| status::Failure::open(name, e))
    }
}

/// `--wait` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Wait {
    /// Poll without sleeping: lowest latency, one core busy.
    Spin,
    /// Sleep on a futex at once.
    Block,
    /// Poll briefly, then sleep.
    SpinThenBlock,
}

impl Wait {
    fn strategy(self) -> WaitStrategy {
        match self {
            Wait::Spin => WaitStrategy::Spin,
            Wait::Block => WaitStrategy::Block,
            Wait::SpinThenBlock => WaitStrategy::SpinThenBlock(shmq::DEFAULT_SPIN),
        }
    }
}

/// Parses a byte count or number: digits with an optional K, M or G
/// suffix (powers of 1024; `KiB`, `MiB`, `GiB` also accepted).
pub(crate) fn parse_size(text: &str) -> Result<u64, String> {
    let lower = text.trim().to_ascii_lowercase();
    let digits_end = lower
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(lower.len());
    let (digits, suffix) = lower.split_at(digits_end);
    let shift = match suffix {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        _ => return Err(format!("unknown unit {suffix:?} (use K, M or G)")),
    };
    let value: u64 = digits
        .parse()
        .map_err(|_| "expected a whole number such as 4096 or 64K".to_owned())?;
    value
        .checked_mul(1 << shift)
        .ok_or_else(|| "number too large".to_owned())
}

/// Parses a file mode in octal: `600`, `0600` or `0o600`.
fn parse_mode(text: &str) -> Result<u32, String> {
    let digits = text
        .strip_prefix("0o")
        .or_else(|| text.strip_prefix("0O"))
        .unwrap_or(text);
    let mode = u32::from_str_radix(digits, 8)
        .ok()
        .filter(|_| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| "expected an octal mode such as 600, 0640 or 0o600".to_owned())?;
    if mode > 0o777 {
        return Err("only permission bits (at most 777) can be set".to_owned());
    }
    Ok(mode)
}

/// Parses a duration: a number (decimals allowed) with an optional unit
/// `ns`, `us`, `ms`, `s`, `m` or `h`; without one, seconds.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let number_end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(number_end);
    let nanos_per_unit = match unit {
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "" | "s" => 1e9,
        "m" | "min" => 60e9,
        "h" => 3600e9,
        _ => return Err(format!("unknown unit {unit:?} (use ms, s, m or h)")),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| "expected a duration such as 500ms, 2s or 1m".to_owned())?;
    let nanos = (value * nanos_per_unit).round();
    // `value` is finite and not negative (digits and '.' only). `u64::MAX as
    // f64` is 2^64, just out of range, so below it the cast is exact.
    if nanos >= u64::MAX as f64 {
        return Err("duration too long".to_owned());
    }
    Ok(Duration::from_nanos(nanos as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("64K"), Ok(64 << 10));
        assert_eq!(parse_size("1MiB"), Ok(1 << 20));
        assert_eq!(parse_size("2g"), Ok(2 << 30));
        assert!(parse_size("").is_err());
        assert!(parse_size("-1").is_err());
        assert!(parse_size("1T").is_err());
        assert!(parse_size("99999999999999999999").is_err());
        assert!(parse_size("99999999999G").is_err());
    }

    #[test]
    fn modes() {
        assert_eq!(parse_mode("600"), Ok(0o600));
        assert_eq!(parse_mode("0640"), Ok(0o640));
        assert_eq!(parse_mode("0o644"), Ok(0o644));
        assert_eq!(parse_mode("0"), Ok(0));
        assert!(parse_mode("").is_err());
        assert!(parse_mode("0o").is_err());
        assert!(parse_mode("680").is_err());
        assert!(parse_mode("+600").is_err());
        assert!(parse_mode("1777").is_err());
        assert!(parse_mode("rw").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("1.2.3").is_err());
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("1e999").is_err());
    }
}
