//! The command line of a run: [`BenchArgs`] and its value parsers. (The
//! peer's options are in `peer`.)

use std::ffi::OsStr;
use std::path::PathBuf;

use clap::builder::{PossibleValue, TypedValueParser};
use clap::{Args, ValueEnum};

use super::builtin::Builtin;

/// The options of `shmq bench`: embed them in a program's command line
/// (`#[command(flatten)]`, or as a subcommand's arguments) and hand them
/// to [`Bench::run`](crate::Bench::run).
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// A short run (about 30 s): 64 pairs of blocks per transport and size
    /// instead of 240, unless --rounds says otherwise.
    #[arg(long)]
    pub(crate) quick: bool,
    /// Pairs of blocks per transport and message size: how many times the
    /// peer alternates a floor block and the transport's block (with the
    /// idle peer: floor, uds, transport; throughput: memcpy, both floors,
    /// transport), spread over 10 passes of the whole run [default: 240;
    /// --quick: 64; without --rounds, streams of up to 128 B on the floors,
    /// shmq-spin and shmq-default get at least 256, in 40 passes].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) rounds: Option<u32>,
    /// Timed round trips per latency block for messages up to 4 KiB;
    /// proportionally fewer (at least 10) for larger ones, a tenth (at
    /// least 5) for transports that sleep on every message, a
    /// twenty-fifth with the idle peer. Also scales the throughput blocks
    /// (100 messages per iteration, at most 32 KiB per iteration; the
    /// socket a twentieth) [default: 500].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) iters: Option<u64>,
    /// Message sizes, comma-separated, from 8 bytes to 16M (suffixes K, M).
    #[arg(
        long,
        value_name = "SIZES",
        value_delimiter = ',',
        value_parser = parse_size,
        default_value = "64,1K,64K,1M"
    )]
    pub(crate) sizes: Vec<u64>,
    /// Transports to measure, comma-separated [default: all]. The floor is
    /// always measured (every ratio is to it), with the idle peer the Unix
    /// socket too, and in throughput floor-record; a mailbox,
    /// shmq-service-spin and the spinning topics also measure shmq-spin in
    /// their cycles (their ratio to the plain queue). Throughput uses
    /// floor, floor-record, shmq-spin, shmq-default, the mailboxes and uds
    /// among them; the idle peer neither tcp, mq, the mailboxes,
    /// shmq-service-spin nor the spinning topics.
    #[arg(long, value_name = "LIST", value_delimiter = ',', value_parser = TransportName)]
    pub(crate) transports: Vec<String>,
    /// What to measure.
    #[arg(long, value_enum, default_value_t = RunMode::Both)]
    pub(crate) mode: RunMode,
    /// Idle-peer mode: the parent's untimed busy-wait before each round
    /// trip, in microseconds; longer than shmq's default spin (50 us), so
    /// the peer has gone to sleep.
    #[arg(
        long,
        value_name = "US",
        default_value_t = 200,
        value_parser = clap::value_parser!(u64).range(1..=1_000_000)
    )]
    pub(crate) idle_gap_us: u64,
    /// Do not pin the two processes to CPUs.
    #[arg(long, conflicts_with = "cpus")]
    pub(crate) no_pin: bool,
    /// The parent's and the peer's CPU [default: the first two available].
    #[arg(long, value_name = "PARENT,PEER", value_parser = parse_cpus)]
    pub(crate) cpus: Option<(usize, usize)>,
    /// Print one JSON record per line (per transport, mode and size)
    /// instead of tables (at the end of the run, as the tables).
    #[arg(long)]
    pub(crate) json: bool,
    /// Draw the latency percentile curves of --plot-size messages to this
    /// SVG file.
    #[arg(long, value_name = "FILE.svg")]
    pub(crate) plot: Option<PathBuf>,
    /// Message size of the --plot chart; one of --sizes.
    #[arg(long, value_name = "BYTES", value_parser = parse_size, default_value = "64")]
    pub(crate) plot_size: u64,
}

/// `--mode` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum RunMode {
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

/// Parses a byte count: digits with an optional K, M or G suffix (powers
/// of 1024; `KiB`, `MiB`, `GiB` also accepted), as the `shmq` tool's
/// options take them (the tool uses this one).
///
/// ```
/// assert_eq!(shmq_bench::parse_size("64K"), Ok(64 << 10));
/// ```
pub fn parse_size(text: &str) -> Result<u64, String> {
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

/// `--transports` values: any name, checked when the run starts against
/// its transports, which a program may have added to (see
/// [`Bench::transport`](crate::Bench::transport)); the help lists the
/// built-in ones.
#[derive(Debug, Clone, Copy)]
struct TransportName;

impl TypedValueParser for TransportName {
    type Value = String;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<String, clap::Error> {
        clap::builder::StringValueParser::new().parse_ref(cmd, arg, value)
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(
            Builtin::value_variants()
                .iter()
                .filter_map(ValueEnum::to_possible_value),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("64K"), Ok(64 << 10));
        assert_eq!(parse_size("1MiB"), Ok(1 << 20));
        assert!(parse_size("").is_err());
        assert!(parse_size("1T").is_err());
        assert!(parse_size("99999999999G").is_err());
    }

    #[test]
    fn cpus() {
        assert_eq!(parse_cpus("0,1"), Ok((0, 1)));
        assert_eq!(parse_cpus(" 2 , 3 "), Ok((2, 3)));
        assert!(parse_cpus("0").is_err());
        assert!(parse_cpus("a,b").is_err());
    }
}
