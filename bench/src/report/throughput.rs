//! A throughput section: one-way streams of one message size over every
//! group's cycles of blocks.
//!
//! Per cycle: each block's rate, and each transport's rate over the
//! references' of the same cycle: the bare ring (`floor`), the ring of
//! record-shaped slots (`floor-record`) and a memcpy in the parent. The
//! absolute rates pool all blocks (messages over time).

use super::format::{
    format_bytes_rate, format_count, format_ns, format_size, plural, render_table,
};
use super::pairs::{Classifier, Ratios, format_quartiles, quartiles};
use super::{
    FLOOR, FLOOR_RECORD, MEMCPY, Record, by_placement, format_sleeps, note_skips, note_sleeps,
    placement_table,
};
use crate::measure::StreamCounts;
use crate::schedule::ThroughputRun;

/// One subject's throughput over its blocks.
#[derive(Debug)]
struct Row {
    name: &'static str,
    /// Timed messages and nanoseconds over all blocks.
    messages: u64,
    elapsed_ns: u64,
    sleeps: Vec<f64>,
    vs_floor: Ratios,
    vs_record: Ratios,
    vs_memcpy: Ratios,
    skips: Vec<String>,
}

impl Row {
    fn rate(&self) -> Option<f64> {
        (self.elapsed_ns > 0).then(|| self.messages as f64 * 1e9 / self.elapsed_ns as f64)
    }
}

/// The throughput results of one message size.
#[derive(Debug)]
pub struct ThroughputSection {
    size: usize,
    pairs: u32,
    /// A block's messages: transports without a system call per message,
    /// and the socket.
    awake: StreamCounts,
    kernel: StreamCounts,
    copies: StreamCounts,
    classifier: Classifier,
    rows: Vec<Row>,
}

impl ThroughputSection {
    /// An empty section for these subjects (memcpy, the floors, the
    /// transports), in this order.
    pub fn new(
        size: usize,
        pairs: u32,
        (awake, kernel, copies): (StreamCounts, StreamCounts, StreamCounts),
        classifier: Classifier,
        names: &[&'static str],
    ) -> Self {
        let rows = names
            .iter()
            .map(|&name| Row {
                name,
                messages: 0,
                elapsed_ns: 0,
                sleeps: Vec::new(),
                vs_floor: Ratios::default(),
                vs_record: Ratios::default(),
                vs_memcpy: Ratios::default(),
                skips: Vec::new(),
            })
            .collect();
        ThroughputSection {
            size,
            pairs,
            awake,
            kernel,
            copies,
            classifier,
            rows,
        }
    }

    fn row_mut(&mut self, name: &str) -> Option<&mut Row> {
        self.rows.iter_mut().find(|row| row.name == name)
    }

    /// Notes that `name` could not be measured, and why.
    pub fn skip(&mut self, name: &str, reason: String) {
        if let Some(row) = self.row_mut(name) {
            row.skips.push(reason);
        }
    }

    /// Adds one group's blocks.
    pub fn add_run(&mut self, run: &ThroughputRun) {
        // memcpy first, then the group's transports.
        let mut names = vec![MEMCPY];
        names.extend(run.transports.iter().map(|t| t.name()));
        let mut messages = vec![run.copies];
        messages.extend(&run.messages);
        let position = |name: &str| names.iter().position(|&n| n == name);
        let (floor, record) = (position(FLOOR), position(FLOOR_RECORD));
        for (c, times) in run.elapsed_ns.iter().enumerate() {
            let mut elapsed = vec![run.memcpy_ns[c]];
            elapsed.extend(times);
            let rates: Vec<f64> = messages
                .iter()
                .zip(&elapsed)
                .map(|(&m, &ns)| m as f64 * 1e9 / ns.max(1) as f64)
                .collect();
            let placement = self.classifier.classify(run.probe_ns[c]);
            for (i, &name) in names.iter().enumerate() {
                let Some(row) = self.row_mut(name) else {
                    continue;
                };
                row.messages += messages[i];
                row.elapsed_ns += elapsed[i];
                if let Some(f) = floor {
                    row.vs_floor.push(placement, rates[i], rates[f]);
                }
                if let Some(r) = record {
                    row.vs_record.push(placement, rates[i], rates[r]);
                }
                row.vs_memcpy.push(placement, rates[i], rates[0]);
            }
        }
        for (transport, sleeps) in run.transports.iter().zip(&run.sleeps) {
            if let (Some(row), Some(s)) = (self.row_mut(transport.name()), sleeps) {
                row.sleeps.push(*s);
            }
        }
    }

    /// The JSON records, one per subject.
    pub fn json_lines(&self) -> Vec<String> {
        let classified = self.classifier != Classifier::Off;
        self.rows
            .iter()
            .map(|row| {
                let record = match row.rate() {
                    None => {
                        Record::skipped(row.skips.first().map_or("not measured", String::as_str))
                    }
                    Some(rate) => {
                        let ratio = row.vs_floor.all();
                        let record_ratio = row.vs_record.all();
                        Record {
                            samples: Some(row.messages),
                            mean_ns: Some(1e9 / rate),
                            msgs_per_s: Some(rate),
                            bytes_per_s: Some(rate * self.size as f64),
                            rate_vs_floor: ratio.map(|q| q.median),
                            rate_vs_memcpy: row.vs_memcpy.all().map(|q| q.median),
                            sleeps_per_msg: quartiles(&row.sleeps).map(|q| q.median),
                            pairs: Some(ratio.map_or(0, |q| q.n as u64)),
                            ratio: Some("rate/floor"),
                            ratio_all: ratio,
                            by_placement: by_placement(
                                &row.vs_floor,
                                classified && ratio.is_some(),
                            ),
                            rate_vs_floor_record: record_ratio.map(|q| q.median),
                            ratio_record: record_ratio,
                            ..Record::default()
                        }
                    }
                };
                record.json(row.name, "throughput", self.size)
            })
            .collect()
    }

    /// The table; `pinned` as for `LatencySection::render`.
    pub fn render(&self, pinned: bool) -> String {
        let counts =
            |c: StreamCounts| format!("{} messages after {} warm-up", c.messages, c.warmup);
        let mut out = format!(
            "\nThroughput, {} messages: one way, timed by the receiver. Per transport {} \
             of blocks in the same peer: memcpy (one thread, same buffers), floor (ring), \
             floor-record (ring-record), the transport. A block: {}; uds: {}; memcpy: {} \
             copies\n",
            format_size(self.size),
            plural(u64::from(self.pairs), "cycle"),
            counts(self.awake),
            counts(self.kernel),
            self.copies.messages,
        );
        let mut table = vec![
            [
                "transport",
                "msgs/s",
                "bytes/s",
                "ns/msg",
                "vs floor",
                "vs floor-record",
                "vs memcpy",
                "sleeps/msg",
            ]
            .map(String::from)
            .to_vec(),
        ];
        let mut notes = String::new();
        let (mut by_floor, mut by_record) = (Vec::new(), Vec::new());
        for row in &self.rows {
            if let Some(rate) = row.rate() {
                table.push(vec![
                    match row.name {
                        FLOOR => "floor (ring)".to_owned(),
                        FLOOR_RECORD => "floor-record (ring-record)".to_owned(),
                        name => name.to_owned(),
                    },
                    format_count(rate),
                    format_bytes_rate(rate * self.size as f64),
                    format_ns(1e9 / rate),
                    format_quartiles(row.vs_floor.all()),
                    format_quartiles(row.vs_record.all()),
                    format_quartiles(row.vs_memcpy.all()),
                    format_sleeps(&row.sleeps),
                ]);
                if row.name != FLOOR && row.name != MEMCPY {
                    by_floor.push((row.name, &row.vs_floor));
                }
                if row.name != FLOOR_RECORD && row.name != MEMCPY {
                    by_record.push((row.name, &row.vs_record));
                }
            }
            note_skips(&mut notes, row.name, &row.skips);
            note_sleeps(&mut notes, row.name, &row.sleeps, pinned);
        }
        out.push_str(&render_table(&table));
        out.push_str(&placement_table("vs floor", self.classifier, &by_floor));
        out.push_str(&placement_table(
            "vs floor-record",
            self.classifier,
            &by_record,
        ));
        out.push_str(&notes);
        out
    }
}
