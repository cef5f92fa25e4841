//! Results: sections of pairs of blocks, the tables, and the JSON lines.
//!
//! A section is one mode and message size. It takes each group's blocks
//! (see `schedule`) as they come and keeps, per transport: its samples
//! pooled over all its blocks (the absolute numbers, which only say where
//! the blocks happened to run), and its ratio to each reference *per
//! pair*, the reference's block of the same cycle, with the pair's host
//! placement. The tables show the median of those ratios with their
//! interquartile range, and the same per placement when the pairs ran in
//! more than one.
//!
//! The idle-peer measurements are latency sections with a gap: the same
//! table and records (`mode` = `"idle"`), other words above the table.
//!
//! Modules: `latency`, `throughput` (the two kinds of section), `pairs`
//! (quartiles, placements), `format` (numbers, tables, JSON).

mod format;
mod latency;
mod pairs;
mod throughput;

use std::fmt::Write as _;

pub use self::format::{Json, format_ns, format_size, header_text};
pub use self::latency::LatencySection;
pub use self::pairs::{Classifier, Placement};
pub use self::throughput::ThroughputSection;

use self::format::render_table;
use self::pairs::{Quartiles, Ratios, format_quartiles};

/// Name of the reference every ratio is "to the floor" of.
pub const FLOOR: &str = "floor";
/// Name of the second floor (a record's layout).
pub const FLOOR_RECORD: &str = "floor-record";
/// Name of the kernel reference.
pub const UDS: &str = "uds";
/// Name of the copy reference in throughput tables.
pub const MEMCPY: &str = "memcpy";

/// Every field of a measurement record after its identifying ones, in
/// order; a skipped transport has them all null but `skipped`. The first
/// seventeen are those of the records before the paired method.
#[derive(Debug, Default)]
struct Record {
    samples: Option<u64>,
    p50_ns: Option<u64>,
    p99_ns: Option<u64>,
    p999_ns: Option<u64>,
    max_ns: Option<u64>,
    mean_ns: Option<f64>,
    msgs_per_s: Option<f64>,
    bytes_per_s: Option<f64>,
    p50_vs_floor: Option<f64>,
    p999_vs_floor: Option<f64>,
    mean_vs_floor: Option<f64>,
    p50_vs_uds: Option<f64>,
    p999_vs_uds: Option<f64>,
    rate_vs_floor: Option<f64>,
    rate_vs_memcpy: Option<f64>,
    sleeps_per_msg: Option<f64>,
    skipped: Option<String>,
    /// Pairs of blocks behind the ratios.
    pairs: Option<u64>,
    /// What `ratio_*` is: `p50/floor` or `rate/floor`.
    ratio: Option<&'static str>,
    /// That ratio over all pairs...
    ratio_all: Option<Quartiles>,
    /// ...and per placement, if classified: (pairs, quartiles).
    by_placement: Option<[(u64, Option<Quartiles>); 3]>,
    /// Throughput: the rate against the second floor (`ring-record`).
    rate_vs_floor_record: Option<f64>,
    ratio_record: Option<Quartiles>,
    /// The transport paired with this one block for block in every cycle
    /// (a mailbox's, or the spinning service's: the plain queue,
    /// `shmq-spin`)...
    baseline: Option<&'static str>,
    /// ...and this one's ratio to it (of the kind `ratio` names: p50 or
    /// rate) over the pairs, and per placement.
    baseline_ratio: Option<Quartiles>,
    baseline_by_placement: Option<[(u64, Option<Quartiles>); 3]>,
    /// The headline: the ratio named in `ratio` (and for throughput the
    /// rate against `ring-record`) over the pairs of the placement most of
    /// the section's cycles ran in (all pairs if unclassified), since a
    /// median over a mix of placements is only as stable as the mix.
    headline_placement: Option<&'static str>,
    headline: Option<Quartiles>,
    headline_record: Option<Quartiles>,
    /// Two senders at once: blocks, and each lane's share of the messages
    /// taken in a block (min, median, max over the blocks).
    share_blocks: Option<u64>,
    shares: Option<[Spread; 2]>,
}

/// The least, median and greatest of some values.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Spread {
    min: f64,
    median: f64,
    max: f64,
}

impl Spread {
    fn of(values: &[f64]) -> Option<Spread> {
        let q = pairs::quartiles(values)?;
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        Some(Spread {
            min,
            median: q.median,
            max,
        })
    }
}

impl Record {
    fn skipped(reason: &str) -> Self {
        Record {
            skipped: Some(reason.to_owned()),
            ..Record::default()
        }
    }

    fn json(&self, transport: &str, mode: &str, size: usize) -> String {
        let quartiles = |json: Json, prefix: &str, q: Option<Quartiles>| {
            json.num(&format!("{prefix}_median"), q.map(|q| q.median))
                .num(&format!("{prefix}_q1"), q.map(|q| q.q1))
                .num(&format!("{prefix}_q3"), q.map(|q| q.q3))
        };
        let mut json = Json::record(transport, mode, size)
            .int("samples", self.samples)
            .int("p50_ns", self.p50_ns)
            .int("p99_ns", self.p99_ns)
            .int("p999_ns", self.p999_ns)
            .int("max_ns", self.max_ns)
            .num("mean_ns", self.mean_ns)
            .num("msgs_per_s", self.msgs_per_s)
            .num("bytes_per_s", self.bytes_per_s)
            .num("p50_vs_floor", self.p50_vs_floor)
            .num("p999_vs_floor", self.p999_vs_floor)
            .num("mean_vs_floor", self.mean_vs_floor)
            .num("p50_vs_uds", self.p50_vs_uds)
            .num("p999_vs_uds", self.p999_vs_uds)
            .num("rate_vs_floor", self.rate_vs_floor)
            .num("rate_vs_memcpy", self.rate_vs_memcpy)
            .num("sleeps_per_msg", self.sleeps_per_msg);
        json = match &self.skipped {
            Some(reason) => json.str("skipped", reason),
            None => json.null("skipped"),
        };
        json = json.int("pairs", self.pairs);
        json = match self.ratio {
            Some(ratio) => json.str("ratio", ratio),
            None => json.null("ratio"),
        };
        json = quartiles(json, "ratio", self.ratio_all);
        for (i, placement) in Placement::ALL.into_iter().enumerate() {
            let (pairs, q) = match self.by_placement {
                Some(by) => (Some(by[i].0), by[i].1),
                None => (None, None),
            };
            json = json.int(&format!("pairs_{}", placement.name()), pairs);
            json = quartiles(json, &format!("ratio_{}", placement.name()), q);
        }
        json = json.num("rate_vs_floor_record", self.rate_vs_floor_record);
        json = quartiles(json, "ratio_record", self.ratio_record);
        json = match self.baseline {
            Some(name) => json.str("baseline", name),
            None => json.null("baseline"),
        };
        json = json.int(
            "baseline_pairs",
            self.baseline
                .map(|_| self.baseline_ratio.map_or(0, |q| q.n as u64)),
        );
        json = quartiles(json, "baseline_ratio", self.baseline_ratio);
        for (i, placement) in Placement::ALL.into_iter().enumerate() {
            let q = self.baseline_by_placement.and_then(|by| by[i].1);
            json = json.num(
                &format!("baseline_ratio_{}_median", placement.name()),
                q.map(|q| q.median),
            );
        }
        json = match self.headline_placement {
            Some(name) => json.str("headline_placement", name),
            None => json.null("headline_placement"),
        };
        json = json.int("headline_pairs", self.headline.map(|q| q.n as u64));
        json = quartiles(json, "headline", self.headline);
        json = quartiles(json, "headline_record", self.headline_record);
        json = json.int("share_blocks", self.share_blocks);
        let shares = match self.shares {
            Some([a, b]) => [Some(a), Some(b)],
            None => [None, None],
        };
        for (lane, spread) in shares.into_iter().enumerate() {
            json = json
                .num(&format!("share_lane{lane}_min"), spread.map(|s| s.min))
                .num(
                    &format!("share_lane{lane}_median"),
                    spread.map(|s| s.median),
                )
                .num(&format!("share_lane{lane}_max"), spread.map(|s| s.max));
        }
        json.finish()
    }
}

/// The name of a headline placement in the output: the placement, or
/// `all` when the pairs were not classified.
fn headline_name(placement: Option<Placement>) -> &'static str {
    placement.map_or("all", Placement::name)
}

/// What a table's headline ratios are over: the pairs in `placement`, the
/// one most cycles ran in, or every pair when they were not classified.
fn headline_pairs(placement: Option<Placement>) -> String {
    match placement {
        Some(p) => format!(
            "the {} placement, the one most cycles ran in (a median over a mix of placements \
             is only as stable as the mix; every placement below)",
            p.name()
        ),
        None => "every placement".to_owned(),
    }
}

/// A ratio column's suffix naming the headline placement, if any.
fn headline_suffix(placement: Option<Placement>) -> String {
    placement.map_or(String::new(), |p| format!(" ({})", p.name()))
}

/// `ratios` per placement, for a record, if pairs were classified.
fn by_placement(ratios: &Ratios, classified: bool) -> Option<[(u64, Option<Quartiles>); 3]> {
    classified.then(|| {
        Placement::ALL.map(|p| {
            let q = ratios.at(p);
            (q.map_or(0, |q| q.n as u64), q)
        })
    })
}

/// The table of a ratio per placement, under the main table, when the
/// pairs ran in more than one placement: a row per transport, a column
/// per placement seen, each cell `median [q1-q3] (pairs)`.
fn placement_table(what: &str, classifier: Classifier, rows: &[(&'static str, &Ratios)]) -> String {
    let seen: Vec<Placement> = Placement::ALL
        .into_iter()
        .filter(|&p| rows.iter().any(|(_, r)| r.has(p)))
        .collect();
    if seen.len() < 2 {
        return String::new();
    }
    let mut table = vec![
        std::iter::once(format!("{what} by placement"))
            .chain(
                seen.iter()
                    .map(|&p| format!("{} ({})", p.name(), classifier.bounds(p))),
            )
            .collect::<Vec<_>>(),
    ];
    for (name, ratios) in rows {
        let mut line = vec![(*name).to_owned()];
        for &p in &seen {
            line.push(match ratios.at(p) {
                Some(q) => format!("{} ({})", format_quartiles(Some(q)), q.n),
                None => "-".to_owned(),
            });
        }
        table.push(line);
    }
    render_table(&table)
}

/// The table of the ratios to a baseline (the transport paired with each
/// of `rows` in every cycle of its group), when there are any: a row per
/// transport, over all pairs and per placement seen, each cell `median
/// [q1-q3] (pairs)`, and a line that says how they were taken.
fn baseline_table(
    what: &str,
    classifier: Classifier,
    rows: &[(&'static str, &'static str, &Ratios)],
) -> String {
    let rows: Vec<_> = rows.iter().filter(|(_, _, r)| r.all().is_some()).collect();
    let Some(&&(_, baseline, _)) = rows.first() else {
        return String::new();
    };
    let seen: Vec<Placement> = Placement::ALL
        .into_iter()
        .filter(|&p| rows.iter().any(|(_, _, r)| r.has(p)))
        .collect();
    let cell = |q: Option<Quartiles>| match q {
        Some(q) => format!("{} ({})", format_quartiles(Some(q)), q.n),
        None => "-".to_owned(),
    };
    let mut table = vec![
        [format!("{what}/{baseline}, same cycles"), "all".to_owned()]
            .into_iter()
            .chain(
                seen.iter()
                    .map(|&p| format!("{} ({})", p.name(), classifier.bounds(p))),
            )
            .collect::<Vec<_>>(),
    ];
    for (name, _, ratios) in &rows {
        let mut line = vec![(*name).to_owned(), cell(ratios.all())];
        line.extend(seen.iter().map(|&p| cell(ratios.at(p))));
        table.push(line);
    }
    let mut out = render_table(&table);
    let _ = writeln!(
        out,
        "  {what}/{baseline}: the group of each of these runs a {baseline} block in every \
         cycle too, so the ratio is taken per cycle, blocks milliseconds apart, not derived \
         through the floor"
    );
    out
}

/// A note under a table for a transport that was skipped.
fn note_skips(notes: &mut String, name: &str, skips: &[String]) {
    let Some(first) = skips.first() else { return };
    let _ = writeln!(notes, "  {name}: skipped: {first}");
    let mut others: Vec<&String> = skips.iter().skip(1).filter(|r| *r != first).collect();
    others.dedup();
    for other in others {
        let _ = writeln!(notes, "  {name}: also: {other}");
    }
}

/// Futex sleeps per message, or `-` where not counted.
fn format_sleeps(sleeps: &[f64]) -> String {
    pairs::quartiles(sleeps).map_or("-".to_owned(), |q| format!("{:.2}", q.median))
}

/// A note under a table when shmq's default (spin, then sleep) strategy
/// slept on most messages although the processes were pinned apart: the
/// peer's answers came after the spin budget (large messages), or the
/// spin was skipped because a wake-up came from our own CPU.
fn note_sleeps(notes: &mut String, name: &str, sleeps: &[f64], pinned: bool) {
    if name != "shmq-default" || !pinned {
        return;
    }
    if let Some(q) = pairs::quartiles(sleeps).filter(|q| q.median >= 0.5) {
        let _ = writeln!(
            notes,
            "  {name}: slept {:.2} times per message: the peer took longer than the \
             spin budget (shmq::DEFAULT_SPIN) to answer, as a message this size takes to \
             copy, or the two ends shared a CPU",
            q.median
        );
    }
}

/// A note under an idle-peer table when shmq's default strategy did not
/// sleep on most round trips, so the gap did not test what it is for.
fn note_no_sleeps(notes: &mut String, name: &str, sleeps: &[f64]) {
    if name != "shmq-default" {
        return;
    }
    if let Some(q) = pairs::quartiles(sleeps).filter(|q| q.median < 0.4) {
        let _ = writeln!(
            notes,
            "  {name}: slept only {:.2} times per message: the peer was mostly awake \
             when the message came (is --idle-gap-us longer than the spin?)",
            q.median
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_have_the_same_keys_done_or_skipped() {
        let keys = |line: &str| -> Vec<String> {
            line.trim_matches(['{', '}'])
                .split(',')
                .filter_map(|field| field.split_once(':'))
                .map(|(key, _)| key.to_owned())
                .collect()
        };
        let done = Record {
            samples: Some(10),
            ratio: Some("p50/floor"),
            by_placement: Some([(1, None), (0, None), (0, None)]),
            ..Record::default()
        };
        let skipped = Record::skipped("no");
        assert_eq!(
            keys(&done.json("floor", "latency", 64)),
            keys(&skipped.json("floor", "latency", 64))
        );
        assert!(
            done.json("floor", "latency", 64)
                .contains(r#""round":null"#)
        );
        assert!(skipped.json("x", "idle", 8).contains(r#""skipped":"no""#));
    }
}
