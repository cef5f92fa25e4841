//! A latency section: round trips of one message size, tight or after an
//! idle gap, over every group's pairs of blocks.
//!
//! Per pair (a transport's block and a reference's block of the same
//! cycle): the ratio of the blocks' p50s and of their means. The p99.9 of
//! a block of a few hundred round trips is little more than its maximum,
//! so p99.9 ratios are taken once per transport instead, over the pooled
//! samples of its blocks and of the reference's blocks paired with them:
//! both pools then hold the same pairs, in the same placements.
//!
//! Where a transport and the Unix socket are not in the same group (tight
//! round trips), its ratios to the socket are derived through the floor:
//! its median ratio to the floor over the socket's.

use std::time::Duration;

use hdrhistogram::Histogram;

use super::format::{format_ns, format_size, plural, render_table, three_digits};
use super::pairs::{Classifier, Placement, Ratios, format_quartiles, quartiles};
use super::{
    FLOOR, Record, UDS, baseline_table, by_placement, format_sleeps, headline_name, headline_pairs,
    headline_suffix, note_no_sleeps, note_skips, note_sleeps, placement_table,
};
use crate::measure::{BlockLatency, LatencyCounts, median};
use crate::schedule::LatencyRun;
use crate::transport::baseline_position;

/// A transport's pairs with one reference.
#[derive(Debug, Default)]
struct Versus {
    p50: Ratios,
    mean: Ratios,
    /// This transport's samples over the pairs...
    own: Option<Histogram<u64>>,
    /// ...and the reference's.
    theirs: Option<Histogram<u64>>,
}

impl Versus {
    /// The pooled p99.9 over the reference's.
    fn p999(&self) -> Option<f64> {
        let (own, theirs) = (self.own.as_ref()?, self.theirs.as_ref()?);
        let ratio = own.value_at_quantile(0.999) as f64 / theirs.value_at_quantile(0.999) as f64;
        ratio.is_finite().then_some(ratio)
    }
}

/// One transport's latency over its blocks.
#[derive(Debug)]
struct Row {
    name: &'static str,
    merged: Option<Histogram<u64>>,
    /// Each block's mean.
    means: Vec<f64>,
    sleeps: Vec<f64>,
    /// Against each of the section's references, in order.
    versus: Vec<Versus>,
    /// The transport paired with it in every cycle, if any, and the p50
    /// ratio to it per pair.
    baseline: Option<&'static str>,
    vs_baseline: Ratios,
    skips: Vec<String>,
}

/// The latency results of one message size.
#[derive(Debug)]
pub struct LatencySection {
    size: usize,
    /// Idle-peer mode: the parent's wait before each round trip.
    idle_gap: Option<Duration>,
    /// Pairs per transport asked for.
    pairs: u32,
    /// A block's round trips: transports that stay awake, and those that
    /// sleep on every message.
    awake: LatencyCounts,
    sleeping: LatencyCounts,
    classifier: Classifier,
    /// The transports every group holds, which the others are compared
    /// with.
    references: Vec<&'static str>,
    rows: Vec<Row>,
}

/// Adds samples to a histogram, creating it if need be (three significant
/// digits, growing to whatever range the samples need).
fn record(histogram: &mut Option<Histogram<u64>>, samples: &[u64]) {
    let h = histogram
        .get_or_insert_with(|| Histogram::new(3).expect("three significant digits are supported"));
    for &sample in samples {
        // Auto-resizing: recording cannot fail.
        let _ = h.record(sample.max(1));
    }
}

impl LatencySection {
    /// An empty section for these transports (references included), in
    /// this order; idle-peer latency if `idle_gap` is given.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        size: usize,
        idle_gap: Option<Duration>,
        pairs: u32,
        awake: LatencyCounts,
        sleeping: LatencyCounts,
        classifier: Classifier,
        references: &[&'static str],
        names: &[&'static str],
    ) -> Self {
        let rows = names
            .iter()
            .map(|&name| Row {
                name,
                merged: None,
                means: Vec::new(),
                sleeps: Vec::new(),
                versus: references.iter().map(|_| Versus::default()).collect(),
                baseline: None,
                vs_baseline: Ratios::default(),
                skips: Vec::new(),
            })
            .collect();
        LatencySection {
            size,
            idle_gap,
            pairs,
            awake,
            sleeping,
            classifier,
            references: references.to_vec(),
            rows,
        }
    }

    /// `mode` of the JSON records.
    pub fn mode(&self) -> &'static str {
        if self.idle_gap.is_some() {
            "idle"
        } else {
            "latency"
        }
    }

    fn row_mut(&mut self, name: &str) -> Option<&mut Row> {
        self.rows.iter_mut().find(|row| row.name == name)
    }

    fn row(&self, name: &str) -> Option<&Row> {
        self.rows.iter().find(|row| row.name == name)
    }

    /// Notes that `name` could not be measured, and why.
    pub fn skip(&mut self, name: &str, reason: String) {
        if let Some(row) = self.row_mut(name) {
            row.skips.push(reason);
        }
    }

    /// Adds one group's blocks.
    pub fn add_run(&mut self, run: &LatencyRun) {
        let names: Vec<&'static str> = run.transports.iter().map(|t| t.name()).collect();
        // (position in the group, index among the section's references)
        let references: Vec<(usize, usize)> = names
            .iter()
            .enumerate()
            .filter_map(|(i, n)| self.references.iter().position(|r| r == n).map(|k| (i, k)))
            .collect();
        // The baseline's blocks count only in the subject's ratio to it.
        let baseline = baseline_position(&run.transports);
        let subject = names.len() - 1;
        for (cycle, &probe) in run.blocks.iter().zip(&run.probe_ns) {
            let placement = self.classifier.classify(probe);
            for (i, &name) in names.iter().enumerate() {
                if Some(i) == baseline {
                    continue;
                }
                let Some(row) = self.row_mut(name) else {
                    continue;
                };
                let block: &BlockLatency = &cycle[i];
                if let (Some(j), true) = (baseline, i == subject) {
                    row.baseline = Some(names[j]);
                    row.vs_baseline.push(
                        placement,
                        median(&block.samples),
                        median(&cycle[j].samples),
                    );
                }
                record(&mut row.merged, &block.samples);
                row.means.push(block.mean_ns);
                for &(j, k) in &references {
                    let reference = &cycle[j];
                    let versus = &mut row.versus[k];
                    versus.p50.push(
                        placement,
                        median(&block.samples),
                        median(&reference.samples),
                    );
                    versus
                        .mean
                        .push(placement, block.mean_ns, reference.mean_ns);
                    record(&mut versus.own, &block.samples);
                    record(&mut versus.theirs, &reference.samples);
                }
            }
        }
        for (name, sleeps) in names.iter().zip(&run.sleeps) {
            if let (Some(row), Some(s)) = (self.row_mut(name), sleeps) {
                row.sleeps.push(*s);
            }
        }
    }

    /// The histograms pooled over all blocks, per transport that ran.
    pub fn histograms(&self) -> Vec<(&'static str, &Histogram<u64>)> {
        self.rows
            .iter()
            .filter_map(|row| row.merged.as_ref().map(|h| (row.name, h)))
            .collect()
    }

    fn versus<'a>(&self, row: &'a Row, reference: &str) -> Option<&'a Versus> {
        let k = self.references.iter().position(|&r| r == reference)?;
        Some(&row.versus[k])
    }

    /// `row`'s p50 and p99.9 ratios to the Unix socket: from their pairs
    /// in idle-peer groups, else through the floor.
    fn versus_uds(&self, row: &Row) -> (Option<f64>, Option<f64>) {
        if let Some(v) = self.versus(row, UDS) {
            return (v.p50.all().map(|q| q.median), v.p999());
        }
        let (Some(uds), Some(own)) = (self.row(UDS), self.versus(row, FLOOR)) else {
            return (None, None);
        };
        let Some(theirs) = self.versus(uds, FLOOR) else {
            return (None, None);
        };
        let p50 = own
            .p50
            .all()
            .zip(theirs.p50.all())
            .map(|(a, b)| a.median / b.median);
        let p999 = own.p999().zip(theirs.p999()).map(|(a, b)| a / b);
        (p50, p999)
    }

    /// The placement most of the section's cycles ran in (the floor has a
    /// block in every cycle), for the records' headline; `None` if the
    /// cycles were not classified.
    fn headline_placement(&self) -> Option<Placement> {
        let floor = self.row(FLOOR)?;
        self.versus(floor, FLOOR)?.p50.most_common()
    }

    /// The JSON records, one per transport.
    pub fn json_lines(&self) -> Vec<String> {
        let classified = self.classifier != Classifier::Off;
        let headline = self.headline_placement();
        self.rows
            .iter()
            .map(|row| {
                let record = match &row.merged {
                    None => {
                        Record::skipped(row.skips.first().map_or("not measured", String::as_str))
                    }
                    Some(h) => {
                        let floor = self.versus(row, FLOOR);
                        let (p50_vs_uds, p999_vs_uds) = self.versus_uds(row);
                        let ratio = floor.and_then(|v| v.p50.all());
                        Record {
                            samples: Some(h.len()),
                            p50_ns: Some(h.value_at_quantile(0.5)),
                            p99_ns: Some(h.value_at_quantile(0.99)),
                            p999_ns: Some(h.value_at_quantile(0.999)),
                            max_ns: Some(h.max()),
                            mean_ns: Some(row.means.iter().sum::<f64>() / row.means.len() as f64),
                            p50_vs_floor: ratio.map(|q| q.median),
                            p999_vs_floor: floor.and_then(Versus::p999),
                            mean_vs_floor: floor.and_then(|v| v.mean.all()).map(|q| q.median),
                            p50_vs_uds,
                            p999_vs_uds,
                            sleeps_per_msg: quartiles(&row.sleeps).map(|q| q.median),
                            pairs: Some(ratio.map_or(0, |q| q.n as u64)),
                            ratio: Some("p50/floor"),
                            ratio_all: ratio,
                            by_placement: floor
                                .and_then(|v| by_placement(&v.p50, classified && ratio.is_some())),
                            headline_placement: Some(headline_name(headline)),
                            headline: floor.and_then(|v| v.p50.in_placement(headline)),
                            baseline: row.baseline,
                            baseline_ratio: row.vs_baseline.all(),
                            baseline_by_placement: by_placement(
                                &row.vs_baseline,
                                classified && row.baseline.is_some(),
                            ),
                            ..Record::default()
                        }
                    }
                };
                record.json(row.name, self.mode(), self.size)
            })
            .collect()
    }

    /// The table; `pinned` says whether the processes were pinned (for the
    /// notes under it).
    pub fn render(&self, pinned: bool) -> String {
        let size = format_size(self.size);
        let counts = |c: LatencyCounts| {
            let mut text = format!("{} timed round trips after {} warm-up", c.timed, c.warmup);
            if c.batch > 0 {
                text.push_str(&format!(
                    ", then an untimed batch of {} (the mean)",
                    c.batch
                ));
            } else {
                text.push_str(" (the mean of those)");
            }
            text
        };
        let mut out = match self.idle_gap {
            None => format!(
                "\nLatency, {size} messages: round trip. Per transport {}, each a \
                 {} block then the transport's, in the same peer. A block: {}; transports that sleep: {}\n",
                plural(u64::from(self.pairs), "pair"),
                self.references.join(" and "),
                counts(self.awake),
                counts(self.sleeping),
            ),
            Some(gap) => format!(
                "\nIdle-peer latency, {size} messages: round trip after the parent busy-waits \
                 {} untimed (shmq's default spin: {}). Every transport in the same peer, \
                 {} of a block on each ({} first). A block: {}; sleeps/msg: both directions' receives \
                 together\n",
                format_ns(gap.as_nanos() as f64),
                format_ns(shmq::DEFAULT_SPIN.as_nanos() as f64),
                plural(u64::from(self.pairs), "cycle"),
                self.references.join(" and "),
                counts(self.awake),
            ),
        };
        let headline = self.headline_placement();
        if headline.is_some() {
            out.push_str(&format!(
                "p50/floor: over the pairs in {}\n",
                headline_pairs(headline)
            ));
        }
        let suffix = headline_suffix(headline);
        let p50_floor = format!("p50/floor{suffix}");
        let through_floor = !self.references.contains(&UDS);
        let mut table = vec![
            [
                "transport",
                "p50",
                "p99",
                "p99.9",
                "max",
                "mean",
                p50_floor.as_str(),
                "p99.9/floor",
                if through_floor { "p50/uds*" } else { "p50/uds" },
                if through_floor {
                    "p99.9/uds*"
                } else {
                    "p99.9/uds"
                },
                "sleeps/msg",
            ]
            .map(String::from)
            .to_vec(),
        ];
        let mut notes = String::new();
        let mut by_placement = Vec::new();
        for row in &self.rows {
            if let Some(h) = &row.merged {
                let mean = row.means.iter().sum::<f64>() / row.means.len() as f64;
                let floor = self.versus(row, FLOOR);
                let (p50_vs_uds, p999_vs_uds) = self.versus_uds(row);
                let one = |v: Option<f64>| v.map_or("-".to_owned(), three_digits);
                // Pairs with the socket: their quartiles; else the quotient.
                let p50_uds = match self.versus(row, UDS) {
                    Some(versus) => format_quartiles(versus.p50.all()),
                    None => one(p50_vs_uds),
                };
                table.push(vec![
                    row.name.to_owned(),
                    format_ns(h.value_at_quantile(0.5) as f64),
                    format_ns(h.value_at_quantile(0.99) as f64),
                    format_ns(h.value_at_quantile(0.999) as f64),
                    format_ns(h.max() as f64),
                    format_ns(mean),
                    format_quartiles(floor.and_then(|v| v.p50.in_placement(headline))),
                    one(floor.and_then(Versus::p999)),
                    p50_uds,
                    one(p999_vs_uds),
                    format_sleeps(&row.sleeps),
                ]);
                if let Some(v) = floor.filter(|_| row.name != FLOOR) {
                    by_placement.push((row.name, &v.p50));
                }
            }
            note_skips(&mut notes, row.name, &row.skips);
            match self.idle_gap {
                None => note_sleeps(&mut notes, row.name, &row.sleeps, pinned),
                Some(_) => note_no_sleeps(&mut notes, row.name, &row.sleeps),
            }
        }
        out.push_str(&render_table(&table));
        out.push_str(&placement_table(
            "p50/floor",
            self.classifier,
            &by_placement,
        ));
        let paired: Vec<_> = self
            .rows
            .iter()
            .filter_map(|row| Some((row.name, row.baseline?, &row.vs_baseline)))
            .collect();
        out.push_str(&baseline_table("p50", self.classifier, &paired));
        if through_floor && self.row(UDS).is_some_and(|r| r.merged.is_some()) {
            notes.push_str(
                "  *: through the floor (the transport's median ratio to the floor over the socket's)\n",
            );
        }
        out.push_str(&notes);
        out
    }
}
