//! Results: per-round records, the tables, and the JSON lines.
//!
//! Absolute numbers pool all rounds (the latency percentiles come from the
//! rounds' histograms merged). Ratios are taken within a round, each
//! transport against the floor and against the Unix socket measured in the
//! same round, and summarised as the median of the rounds' ratios with
//! their range: on a VM whose virtual CPUs move between host cores every
//! few seconds, only those are comparable.
//!
//! The idle-peer measurements are latency sections with a gap: the same
//! table and records (`mode` = `"idle"`), other words above the table.

use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;

use super::measure::{Latency, LatencyCounts, StreamCounts, Throughput};

/// What one measurement gave.
#[derive(Debug)]
pub enum Outcome<T> {
    /// It ran.
    Done(T),
    /// It could not run, and why.
    Skipped(String),
}

/// Name of the reference every ratio is "to the floor" of.
const FLOOR: &str = "floor";
/// Name of the kernel reference.
const UDS: &str = "uds";
/// Name of the copy reference in throughput tables.
pub const MEMCPY: &str = "memcpy";

/// Median, minimum and maximum of some values.
#[derive(Debug, Clone, Copy)]
struct Spread {
    median: f64,
    min: f64,
    max: f64,
}

fn spread(values: &[f64]) -> Option<Spread> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    let median = if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    };
    Some(Spread {
        median,
        min: sorted[0],
        max: sorted[n - 1],
    })
}

fn ratio(value: f64, reference: Option<f64>) -> Option<f64> {
    reference
        .filter(|r| *r > 0.0)
        .map(|r| value / r)
        .filter(|r| r.is_finite())
}

/// Per-round numbers of one transport's latency.
#[derive(Debug, Clone, Copy)]
struct RoundLatency {
    samples: u64,
    p50: u64,
    p99: u64,
    p999: u64,
    max: u64,
    batch_mean: f64,
    sleeps: Option<f64>,
}

impl RoundLatency {
    fn of(latency: &Latency) -> Self {
        let h = &latency.histogram;
        RoundLatency {
            samples: h.len(),
            p50: h.value_at_quantile(0.5),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
            batch_mean: latency.batch_mean_ns,
            sleeps: latency.sleeps_per_message,
        }
    }
}

/// One transport's latency over the rounds.
#[derive(Debug)]
struct LatencyRow {
    name: &'static str,
    merged: Option<Histogram<u64>>,
    batch_means: Vec<f64>,
    sleeps: Vec<f64>,
    p50_vs_floor: Vec<f64>,
    p999_vs_floor: Vec<f64>,
    p50_vs_uds: Vec<f64>,
    p999_vs_uds: Vec<f64>,
    skips: Vec<String>,
}

/// The latency results of one message size.
#[derive(Debug)]
pub struct LatencySection {
    size: usize,
    counts: LatencyCounts,
    /// Idle-peer mode: the parent's wait before each round trip.
    idle_gap: Option<Duration>,
    rounds: u32,
    rows: Vec<LatencyRow>,
}

impl LatencySection {
    /// An empty section for these transports, in this order; idle-peer
    /// latency if `idle_gap` is given.
    pub fn new(
        size: usize,
        counts: LatencyCounts,
        idle_gap: Option<Duration>,
        names: &[&'static str],
    ) -> Self {
        let rows = names
            .iter()
            .map(|&name| LatencyRow {
                name,
                merged: None,
                batch_means: Vec::new(),
                sleeps: Vec::new(),
                p50_vs_floor: Vec::new(),
                p999_vs_floor: Vec::new(),
                p50_vs_uds: Vec::new(),
                p999_vs_uds: Vec::new(),
                skips: Vec::new(),
            })
            .collect();
        LatencySection {
            size,
            counts,
            idle_gap,
            rounds: 0,
            rows,
        }
    }

    /// Adds one round (an outcome per transport, in the section's order)
    /// and returns its JSON lines.
    pub fn add_round(&mut self, round: u32, outcomes: Vec<Outcome<Latency>>) -> Vec<String> {
        self.rounds += 1;
        let stats: Vec<Option<RoundLatency>> = outcomes
            .iter()
            .map(|o| match o {
                Outcome::Done(latency) => Some(RoundLatency::of(latency)),
                Outcome::Skipped(_) => None,
            })
            .collect();
        let reference = |name: &str| {
            self.rows
                .iter()
                .zip(&stats)
                .find(|(row, _)| row.name == name)
                .and_then(|(_, s)| *s)
        };
        let (floor, uds) = (reference(FLOOR), reference(UDS));
        let mode = self.mode();
        let mut lines = Vec::new();
        for ((row, outcome), stat) in self.rows.iter_mut().zip(outcomes).zip(stats) {
            let mut json = Json::record(row.name, mode, self.size, round);
            match outcome {
                Outcome::Done(latency) => {
                    let s = stat.expect("statistics of every measurement that ran");
                    let p50_floor = ratio(s.p50 as f64, floor.map(|f| f.p50 as f64));
                    let p999_floor = ratio(s.p999 as f64, floor.map(|f| f.p999 as f64));
                    let mean_floor = ratio(s.batch_mean, floor.map(|f| f.batch_mean));
                    let p50_uds = ratio(s.p50 as f64, uds.map(|u| u.p50 as f64));
                    let p999_uds = ratio(s.p999 as f64, uds.map(|u| u.p999 as f64));
                    row.p50_vs_floor.extend(p50_floor);
                    row.p999_vs_floor.extend(p999_floor);
                    row.p50_vs_uds.extend(p50_uds);
                    row.p999_vs_uds.extend(p999_uds);
                    row.batch_means.push(s.batch_mean);
                    row.sleeps.extend(s.sleeps);
                    match &mut row.merged {
                        Some(merged) => {
                            // Both auto-resize, so adding cannot fail.
                            let _ = merged.add(&latency.histogram);
                        }
                        None => row.merged = Some(latency.histogram),
                    }
                    json = json
                        .int("samples", Some(s.samples))
                        .int("p50_ns", Some(s.p50))
                        .int("p99_ns", Some(s.p99))
                        .int("p999_ns", Some(s.p999))
                        .int("max_ns", Some(s.max))
                        .num("mean_ns", Some(s.batch_mean))
                        .num("msgs_per_s", None)
                        .num("bytes_per_s", None)
                        .num("p50_vs_floor", p50_floor)
                        .num("p999_vs_floor", p999_floor)
                        .num("mean_vs_floor", mean_floor)
                        .num("p50_vs_uds", p50_uds)
                        .num("p999_vs_uds", p999_uds)
                        .num("rate_vs_floor", None)
                        .num("rate_vs_memcpy", None)
                        .num("sleeps_per_msg", s.sleeps)
                        .null("skipped");
                }
                Outcome::Skipped(reason) => {
                    json = json.nulls(&NUMBERS).str("skipped", &reason);
                    row.skips.push(reason);
                }
            }
            lines.push(json.finish());
        }
        lines
    }

    /// `mode` of the JSON records.
    pub fn mode(&self) -> &'static str {
        if self.idle_gap.is_some() {
            "idle"
        } else {
            "latency"
        }
    }

    /// The histograms merged over the rounds, per transport that ran.
    pub fn histograms(&self) -> Vec<(&'static str, &Histogram<u64>)> {
        self.rows
            .iter()
            .filter_map(|row| row.merged.as_ref().map(|h| (row.name, h)))
            .collect()
    }

    /// The table; `pinned` says whether the processes were pinned (for the
    /// notes under it).
    pub fn render(&self, pinned: bool) -> String {
        let LatencyCounts {
            warmup,
            timed,
            batch,
        } = self.counts;
        let size = format_size(self.size);
        let rounds = plural(self.rounds, "round");
        let mut out = match self.idle_gap {
            None => format!(
                "\nLatency, {size} messages: round trip, {rounds} x {timed} timed samples \
                 (after {warmup} warm-up), mean of an untimed batch of {batch}\n"
            ),
            Some(gap) => format!(
                "\nIdle-peer latency, {size} messages: round trip after the parent busy-waits \
                 {} untimed (shmq's default spin: {}), {rounds} x {timed} timed samples \
                 (after {warmup} warm-up), mean of those; sleeps/msg: both directions' receives \
                 together\n",
                format_ns(gap.as_nanos() as f64),
                format_ns(shmq::DEFAULT_SPIN.as_nanos() as f64),
            ),
        };
        let mut table = vec![
            [
                "transport",
                "p50",
                "p99",
                "p99.9",
                "max",
                "mean",
                "p50/floor",
                "p99.9/floor",
                "p50/uds",
                "p99.9/uds",
                "sleeps/msg",
            ]
            .map(String::from)
            .to_vec(),
        ];
        let mut notes = String::new();
        for row in &self.rows {
            if let Some(h) = &row.merged {
                let mean = row.batch_means.iter().sum::<f64>() / row.batch_means.len() as f64;
                table.push(vec![
                    row.name.to_owned(),
                    format_ns(h.value_at_quantile(0.5) as f64),
                    format_ns(h.value_at_quantile(0.99) as f64),
                    format_ns(h.value_at_quantile(0.999) as f64),
                    format_ns(h.max() as f64),
                    format_ns(mean),
                    format_spread(&row.p50_vs_floor),
                    format_spread(&row.p999_vs_floor),
                    format_spread(&row.p50_vs_uds),
                    format_spread(&row.p999_vs_uds),
                    format_sleeps(&row.sleeps),
                ]);
            }
            note_skips(&mut notes, row.name, &row.skips, self.rounds);
            match self.idle_gap {
                None => note_sleeps(&mut notes, row.name, &row.sleeps, pinned),
                Some(_) => note_no_sleeps(&mut notes, row.name, &row.sleeps),
            }
        }
        out.push_str(&render_table(&table));
        out.push_str(&notes);
        out
    }
}

/// A note under an idle-peer table when shmq's default strategy did not
/// sleep on most round trips, so the gap did not test what it is for.
fn note_no_sleeps(notes: &mut String, name: &str, sleeps: &[f64]) {
    if name != "shmq-default" {
        return;
    }
    if let Some(s) = spread(sleeps).filter(|s| s.median < 0.4) {
        let _ = writeln!(
            notes,
            "  {name}: slept only {:.2} times per message: the peer was mostly awake \
             when the message came (is --idle-gap-us longer than the spin?)",
            s.median
        );
    }
}

/// The numeric fields of a record, all null when it was skipped.
const NUMBERS: [&str; 16] = [
    "samples",
    "p50_ns",
    "p99_ns",
    "p999_ns",
    "max_ns",
    "mean_ns",
    "msgs_per_s",
    "bytes_per_s",
    "p50_vs_floor",
    "p999_vs_floor",
    "mean_vs_floor",
    "p50_vs_uds",
    "p999_vs_uds",
    "rate_vs_floor",
    "rate_vs_memcpy",
    "sleeps_per_msg",
];

/// One subject's throughput over the rounds.
#[derive(Debug)]
struct ThroughputRow {
    name: &'static str,
    rates: Vec<f64>,
    sleeps: Vec<f64>,
    vs_floor: Vec<f64>,
    vs_memcpy: Vec<f64>,
    skips: Vec<String>,
}

/// The throughput results of one message size.
#[derive(Debug)]
pub struct ThroughputSection {
    size: usize,
    counts: StreamCounts,
    rounds: u32,
    rows: Vec<ThroughputRow>,
}

impl ThroughputSection {
    /// An empty section for these subjects (memcpy and transports).
    pub fn new(size: usize, counts: StreamCounts, names: &[&'static str]) -> Self {
        let rows = names
            .iter()
            .map(|&name| ThroughputRow {
                name,
                rates: Vec::new(),
                sleeps: Vec::new(),
                vs_floor: Vec::new(),
                vs_memcpy: Vec::new(),
                skips: Vec::new(),
            })
            .collect();
        ThroughputSection {
            size,
            counts,
            rounds: 0,
            rows,
        }
    }

    /// Adds one round and returns its JSON lines.
    pub fn add_round(&mut self, round: u32, outcomes: Vec<Outcome<Throughput>>) -> Vec<String> {
        self.rounds += 1;
        let rate_of = |name: &str| {
            self.rows
                .iter()
                .zip(&outcomes)
                .find(|(row, _)| row.name == name)
                .and_then(|(_, o)| match o {
                    Outcome::Done(t) => Some(t.messages_per_second()),
                    Outcome::Skipped(_) => None,
                })
        };
        let (floor, memcpy) = (rate_of(FLOOR), rate_of(MEMCPY));
        let mut lines = Vec::new();
        for (row, outcome) in self.rows.iter_mut().zip(outcomes) {
            let mut json = Json::record(row.name, "throughput", self.size, round);
            match outcome {
                Outcome::Done(t) => {
                    let rate = t.messages_per_second();
                    let (vs_floor, vs_memcpy) = (ratio(rate, floor), ratio(rate, memcpy));
                    row.rates.push(rate);
                    row.sleeps.extend(t.sleeps_per_message);
                    row.vs_floor.extend(vs_floor);
                    row.vs_memcpy.extend(vs_memcpy);
                    json = json
                        .int("samples", Some(t.messages))
                        .int("p50_ns", None)
                        .int("p99_ns", None)
                        .int("p999_ns", None)
                        .int("max_ns", None)
                        .num("mean_ns", Some(1e9 / rate))
                        .num("msgs_per_s", Some(rate))
                        .num("bytes_per_s", Some(t.bytes_per_second()))
                        .num("p50_vs_floor", None)
                        .num("p999_vs_floor", None)
                        .num("mean_vs_floor", None)
                        .num("p50_vs_uds", None)
                        .num("p999_vs_uds", None)
                        .num("rate_vs_floor", vs_floor)
                        .num("rate_vs_memcpy", vs_memcpy)
                        .num("sleeps_per_msg", t.sleeps_per_message)
                        .null("skipped");
                }
                Outcome::Skipped(reason) => {
                    json = json.nulls(&NUMBERS).str("skipped", &reason);
                    row.skips.push(reason);
                }
            }
            lines.push(json.finish());
        }
        lines
    }

    /// The table; `pinned` as for [`LatencySection::render`].
    pub fn render(&self, pinned: bool) -> String {
        let StreamCounts { warmup, messages } = self.counts;
        let mut out = format!(
            "\nThroughput, {} messages: one way, {} x {messages} messages \
             (after {warmup} warm-up); memcpy: one thread, same buffers\n",
            format_size(self.size),
            plural(self.rounds, "round"),
        );
        let mut table = vec![
            [
                "transport",
                "msgs/s",
                "bytes/s",
                "ns/msg",
                "vs floor",
                "vs memcpy",
                "sleeps/msg",
            ]
            .map(String::from)
            .to_vec(),
        ];
        let mut notes = String::new();
        for row in &self.rows {
            if let Some(rate) = spread(&row.rates) {
                table.push(vec![
                    if row.name == FLOOR {
                        "floor (ring)".to_owned()
                    } else {
                        row.name.to_owned()
                    },
                    format_count(rate.median),
                    format_bytes_rate(rate.median * self.size as f64),
                    format_ns(1e9 / rate.median),
                    format_spread(&row.vs_floor),
                    format_spread(&row.vs_memcpy),
                    format_sleeps(&row.sleeps),
                ]);
            }
            note_skips(&mut notes, row.name, &row.skips, self.rounds);
            note_sleeps(&mut notes, row.name, &row.sleeps, pinned);
        }
        out.push_str(&render_table(&table));
        out.push_str(&notes);
        out
    }
}

/// A note under a table for a transport skipped in some rounds.
fn note_skips(notes: &mut String, name: &str, skips: &[String], rounds: u32) {
    let Some(first) = skips.first() else { return };
    let mut reasons: Vec<&String> = skips.iter().collect();
    reasons.dedup();
    let when = if skips.len() as u32 == rounds {
        "skipped".to_owned()
    } else {
        format!("skipped in {} of {rounds} rounds", skips.len())
    };
    let _ = writeln!(notes, "  {name}: {when}: {first}");
    for other in reasons.iter().skip(1).filter(|r| **r != first) {
        let _ = writeln!(notes, "  {name}: also: {other}");
    }
}

/// Median futex sleeps per message, or `-` where not counted.
fn format_sleeps(sleeps: &[f64]) -> String {
    spread(sleeps).map_or("-".to_owned(), |s| format!("{:.2}", s.median))
}

/// A note under a table when shmq's default (spin, then sleep) strategy
/// slept on most messages although the processes were pinned apart: the
/// peer's answers came after the spin budget (large messages), or the
/// spin was skipped because a wake-up came from our own CPU.
fn note_sleeps(notes: &mut String, name: &str, sleeps: &[f64], pinned: bool) {
    if name != "shmq-default" || !pinned {
        return;
    }
    if let Some(s) = spread(sleeps).filter(|s| s.median >= 0.5) {
        let _ = writeln!(
            notes,
            "  {name}: slept {:.2} times per message: the peer took longer than the \
             spin budget (shmq::DEFAULT_SPIN) to answer, as a message this size takes to \
             copy, or the two ends shared a CPU",
            s.median
        );
    }
}

/// The header of the text report.
pub fn header_text(lines: &[(&str, String)]) -> String {
    let width = lines.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    let mut out = String::from("shmq bench\n");
    for (key, value) in lines {
        let _ = writeln!(out, "  {key:<width$}  {value}");
    }
    out
}

/// Builds one JSON object, keys in order.
#[derive(Debug)]
pub struct Json(String);

impl Json {
    /// An empty object.
    pub fn new() -> Self {
        Json(String::from("{"))
    }

    /// A measurement record's identifying fields.
    fn record(transport: &str, mode: &str, size: usize, round: u32) -> Self {
        Json::new()
            .str("record", "measurement")
            .str("transport", transport)
            .str("mode", mode)
            .int("size", Some(size as u64))
            .int("round", Some(u64::from(round)))
    }

    fn key(&mut self, key: &str) {
        if self.0.len() > 1 {
            self.0.push(',');
        }
        push_json_string(&mut self.0, key);
        self.0.push(':');
    }

    /// A string field.
    pub fn str(mut self, key: &str, value: &str) -> Self {
        self.key(key);
        push_json_string(&mut self.0, value);
        self
    }

    /// An array of strings.
    pub fn strs<'a>(mut self, key: &str, values: impl IntoIterator<Item = &'a str>) -> Self {
        self.key(key);
        self.0.push('[');
        for (i, value) in values.into_iter().enumerate() {
            if i > 0 {
                self.0.push(',');
            }
            push_json_string(&mut self.0, value);
        }
        self.0.push(']');
        self
    }

    /// An array of integers.
    pub fn ints(mut self, key: &str, values: impl IntoIterator<Item = u64>) -> Self {
        self.key(key);
        let values: Vec<String> = values.into_iter().map(|v| v.to_string()).collect();
        let _ = write!(self.0, "[{}]", values.join(","));
        self
    }

    /// An integer field, or null.
    pub fn int(mut self, key: &str, value: Option<u64>) -> Self {
        self.key(key);
        match value {
            Some(v) => {
                let _ = write!(self.0, "{v}");
            }
            None => self.0.push_str("null"),
        }
        self
    }

    /// A number field, to four significant digits (null if absent or not
    /// finite).
    pub fn num(mut self, key: &str, value: Option<f64>) -> Self {
        self.key(key);
        match value.filter(|v| v.is_finite()) {
            Some(v) => self.0.push_str(&json_number(v)),
            None => self.0.push_str("null"),
        }
        self
    }

    /// A null field.
    pub fn null(mut self, key: &str) -> Self {
        self.key(key);
        self.0.push_str("null");
        self
    }

    fn nulls(self, keys: &[&str]) -> Self {
        keys.iter().fold(self, |json, key| json.null(key))
    }

    /// The object's text.
    pub fn finish(mut self) -> String {
        self.0.push('}');
        self.0
    }
}

/// A finite number as JSON, four significant digits, integral from 10^4
/// up: `1.318`, `0.0002061`, `472.7`, `824500000`.
fn json_number(value: f64) -> String {
    if value == 0.0 {
        return "0".to_owned();
    }
    let magnitude = value.abs().log10().floor() as i32;
    if magnitude >= 4 {
        return format!("{value:.0}");
    }
    let decimals = (3 - magnitude) as usize;
    let text = format!("{value:.decimals$}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    text.to_owned()
}

fn push_json_string(out: &mut String, value: &str) {
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Right-aligns every column but the first.
fn render_table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::from(" ");
        for (c, cell) in row.iter().enumerate() {
            let width = widths[c];
            if c == 0 {
                let _ = write!(line, " {cell:<width$}");
            } else {
                let _ = write!(line, "  {cell:>width$}");
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn plural(n: u32, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// `64 B`, `1 KiB`, `1 MiB`, `1500 B`.
pub fn format_size(bytes: usize) -> String {
    match bytes {
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} B"),
    }
}

/// Three significant digits (`2.31`, `231`, `0.0231`, `2.31e-5`).
fn three_digits(value: f64) -> String {
    if value >= 1e6 || (value > 0.0 && value < 0.01) {
        format!("{value:.2e}")
    } else if value >= 100.0 {
        format!("{value:.0}")
    } else if value >= 10.0 {
        format!("{value:.1}")
    } else if value >= 1.0 {
        format!("{value:.2}")
    } else if value > 0.0 {
        let decimals = (2.0 - value.log10().floor()) as usize;
        format!("{value:.decimals$}")
    } else {
        "0".to_owned()
    }
}

/// A duration in nanoseconds: `130ns`, `1.23us`, `61.2us`, `1.05ms`.
pub fn format_ns(ns: f64) -> String {
    if ns < 1e3 {
        format!("{ns:.0}ns")
    } else if ns < 1e6 {
        format!("{}us", three_digits(ns / 1e3))
    } else if ns < 1e9 {
        format!("{}ms", three_digits(ns / 1e6))
    } else {
        format!("{}s", three_digits(ns / 1e9))
    }
}

/// A count per second: `52.1M`, `812k`.
fn format_count(per_second: f64) -> String {
    if per_second >= 1e9 {
        format!("{}G", three_digits(per_second / 1e9))
    } else if per_second >= 1e6 {
        format!("{}M", three_digits(per_second / 1e6))
    } else if per_second >= 1e3 {
        format!("{}k", three_digits(per_second / 1e3))
    } else {
        three_digits(per_second)
    }
}

/// Bytes per second in decimal units: `3.33 GB/s`.
fn format_bytes_rate(per_second: f64) -> String {
    if per_second >= 1e9 {
        format!("{} GB/s", three_digits(per_second / 1e9))
    } else if per_second >= 1e6 {
        format!("{} MB/s", three_digits(per_second / 1e6))
    } else {
        format!("{} kB/s", three_digits(per_second / 1e3))
    }
}

/// A ratio over rounds: `2.31`, or `2.31 [2.10-2.60]` with several.
fn format_spread(values: &[f64]) -> String {
    match spread(values) {
        None => "-".to_owned(),
        Some(s) if values.len() == 1 => three_digits(s.median),
        Some(s) => format!(
            "{} [{}-{}]",
            three_digits(s.median),
            three_digits(s.min),
            three_digits(s.max)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(format_ns(130.4), "130ns");
        assert_eq!(format_ns(1234.0), "1.23us");
        assert_eq!(format_ns(61_200.0), "61.2us");
        assert_eq!(format_ns(1_050_000.0), "1.05ms");
        assert_eq!(three_digits(0.0231), "0.0231");
        assert_eq!(three_digits(0.0000231), "2.31e-5");
        assert_eq!(three_digits(231.4), "231");
        assert_eq!(format_size(64), "64 B");
        assert_eq!(format_size(65536), "64 KiB");
        assert_eq!(format_size(1 << 20), "1 MiB");
        assert_eq!(format_size(1500), "1500 B");
        assert_eq!(format_spread(&[2.0, 1.0, 4.0]), "2.00 [1.00-4.00]");
        assert_eq!(format_spread(&[]), "-");
        assert_eq!(json_number(1.318_4), "1.318");
        assert_eq!(json_number(1.0), "1");
        assert_eq!(json_number(0.000_206_14), "0.0002061");
        assert_eq!(json_number(472.66), "472.7");
        assert_eq!(json_number(824_499_999.999_9), "824500000");
        assert_eq!(json_number(-2.5), "-2.5");
    }

    #[test]
    fn json() {
        let line = Json::new()
            .str("a", "x\"y\n")
            .int("b", Some(3))
            .num("c", Some(f64::NAN))
            .num("d", Some(0.5))
            .strs("e", ["p", "q"])
            .finish();
        assert_eq!(
            line,
            r#"{"a":"x\"y\n","b":3,"c":null,"d":0.5,"e":["p","q"]}"#
        );
    }
}
