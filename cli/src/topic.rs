//! Topics ([`shmq::Topic`]) in the management subcommands: `create
//! --topic`, and `stat`, `list`, `rm` and `gc` of a topic.
//!
//! A topic `NAME` is two files: its ring `NAME` (a queue segment of the
//! topic flavour) and its subscriber table `NAME.subs`. To the user it is
//! one object: `list` shows `NAME` alone (kind "topic" in `--long`), `rm`
//! removes both files ([`Topic::remove`]), and `gc` judges the topic as a
//! whole (no live publisher and no live subscriber). A subscriber table
//! whose ring is gone (its creator died in between) is listed as such, and
//! `gc` removes it once it is old enough.
//!
//! A name is taken for a topic when its subscriber table is listed too and
//! [`Topic::open`] takes it (it refuses a queue's ring by its header, before
//! mapping more). Opening a topic maps its ring and table; it attaches to
//! nothing.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use shmq::{EndState, OpenError, OpenErrorKind, Queue, Topic, TopicBuilder, TopicStats};

use crate::admin::{format_age, format_size, format_time};
use crate::args::{CreateOptions, TopicOptions};
use crate::status::{self, Failure};

/// What [`OpenErrorKind::WrongKind`] calls a topic's subscriber table.
pub const TABLE_KIND: &str = "topic subscriber table";

/// `shmq create --topic`: creates the topic, failing if `name` exists.
pub fn create(name: &str, create: &CreateOptions, topic: &TopicOptions) -> Result<(), Failure> {
    create
        .topic_builder(name, topic)?
        .create()
        .map_err(|e| Failure::open_topic(name, e))?;
    Ok(())
}

/// The name of topic `name`'s subscriber table (see [`shmq::topic`]).
pub fn table_name(name: &str) -> String {
    format!("{name}.subs")
}

/// The topic whose subscriber table `name` would be, if it ends `.subs`.
pub fn table_owner(name: &str) -> Option<&str> {
    name.strip_suffix(".subs").filter(|owner| !owner.is_empty())
}

/// Whether `names` (a sorted [`Queue::list`]) holds `name`'s table.
fn table_listed(name: &str, names: &[String]) -> bool {
    names.binary_search(&table_name(name)).is_ok()
}

/// Whether the segment `name` is a topic's subscriber table (read from its
/// header alone).
pub fn is_table(name: &str) -> bool {
    matches!(
        Queue::inspect(name),
        Err(e) if matches!(e.kind(), OpenErrorKind::WrongKind { found, .. } if *found == TABLE_KIND)
    )
}

/// What a name is, as far as topics go.
#[derive(Debug)]
pub enum Probe {
    /// A topic, opened.
    Topic(Topic),
    /// A topic's ring whose topic cannot be opened (its table gone or
    /// damaged, say): why.
    Broken(OpenError),
    /// Not a topic: a queue, another kind of segment, or nothing.
    NotTopic,
}

/// Opens `name` as a topic if it is one, waiting at most `timeout` for a
/// creator that has not finished.
pub fn probe(name: &str, timeout: Duration) -> Probe {
    let error = match TopicBuilder::new(name).open_timeout(timeout).open() {
        Ok(topic) => return Probe::Topic(topic),
        Err(e) => e,
    };
    // The ring is another kind's (a queue's) or not a segment at all.
    if matches!(error.kind(), OpenErrorKind::WrongKind { .. }) {
        return Probe::NotTopic;
    }
    // A ring that a queue's inspection takes passed the topic's own header
    // checks too, unless its file could not be opened for writing: the
    // topic's table failed. (A ring that cannot be inspected either is
    // left to the queue's commands, which say why.)
    let ring_fine = Queue::inspect(name).is_ok();
    let io = matches!(error.kind(), OpenErrorKind::Io(_));
    if ring_fine && (!io || is_table(&table_name(name))) {
        Probe::Broken(error)
    } else {
        Probe::NotTopic
    }
}

/// [`probe`] without waiting, of a name from `names` (a sorted
/// [`Queue::list`]): a name whose table is not listed is no topic, and is
/// not opened.
pub fn probe_listed(name: &str, names: &[String]) -> Probe {
    if table_listed(name, names) {
        probe(name, Duration::ZERO)
    } else {
        Probe::NotTopic
    }
}

/// The names in `names` (a sorted [`Queue::list`]) that are subscriber
/// tables of topics also in `names`: the names `list` does not show.
pub fn hidden_tables(names: &[String]) -> Vec<String> {
    names
        .iter()
        .filter(|name| {
            table_owner(name).is_some_and(|owner| {
                names.binary_search(&owner.to_owned()).is_ok()
                    && !matches!(probe_listed(owner, names), Probe::NotTopic)
            })
        })
        .cloned()
        .collect()
}

/// The live holders of a topic: "publisher pid 1, subscribers pid 2, 3",
/// or "" if none.
pub fn holders(stats: &TopicStats) -> String {
    let mut held = Vec::new();
    if let EndState::Attached { pid } = stats.publisher {
        held.push(format!("publisher pid {pid}"));
    }
    let pids: Vec<String> = stats
        .subscribers
        .iter()
        .map(|s| s.pid.to_string())
        .collect();
    match pids.len() {
        0 => {}
        1 => held.push(format!("subscriber pid {}", pids[0])),
        _ => held.push(format!("subscribers pid {}", pids.join(", "))),
    }
    held.join(", ")
}

/// Whether nobody uses the topic: no live publisher, no live subscriber.
pub fn unused(stats: &TopicStats) -> bool {
    !stats.publisher.is_attached() && stats.subscribers.is_empty()
}

/// When the segment `name` was created (its file's birth time, else its
/// last change), read from the file the library names
/// `/dev/shm/shmq.<name>`: for a subscriber table, which
/// [`Queue::inspect`] does not read.
pub fn created(name: &str) -> Option<SystemTime> {
    let meta = std::fs::metadata(PathBuf::from(format!("/dev/shm/shmq.{name}"))).ok()?;
    meta.created().or_else(|_| meta.modified()).ok()
}

/// "lossless", "lossless, lag limit 2s" or "lossy".
fn mode(stats: &TopicStats) -> String {
    match (stats.lossy, stats.lag_limit) {
        (true, _) => "lossy".to_owned(),
        (false, None) => "lossless".to_owned(),
        (false, Some(limit)) => format!("lossless, lag limit {limit:?}"),
    }
}

/// The cells of `list --long` after the name: slot size, slots, max
/// message, publisher (SENDER), subscribers (RECEIVER), the slowest
/// subscriber's lag (QUEUED) and age.
pub fn list_cells(name: &str, topic: &Topic) -> [String; 7] {
    let stats = topic.stats();
    let now = SystemTime::now();
    let age = Queue::inspect(name)
        .ok()
        .and_then(|s| s.created)
        .map_or_else(|| "?".to_owned(), |t| format_age(now, t));
    [
        format_size(stats.slot_size as u64),
        stats.slot_count.to_string(),
        format_size(topic.max_message_size()),
        stats.publisher.to_string(),
        format!(
            "{}topic, {} of {} subscribers",
            if stats.lossy { "lossy " } else { "" },
            stats.subscribers.len(),
            stats.max_subscribers
        ),
        stats
            .subscribers
            .iter()
            .map(|s| s.lag)
            .max()
            .unwrap_or(0)
            .to_string(),
        age,
    ]
}

/// `shmq stat` of a topic: its text or JSON.
pub fn stat(name: &str, topic: &Topic, json: bool) -> String {
    let stats = topic.stats();
    let created = Queue::inspect(name).ok().and_then(|s| s.created);
    if json {
        stat_json(name, topic, &stats, created)
    } else {
        stat_text(name, topic, &stats, created)
    }
}

fn stat_text(name: &str, topic: &Topic, s: &TopicStats, created: Option<SystemTime>) -> String {
    let mut text = String::new();
    let mut line = |label: &str, value: &dyn std::fmt::Display| {
        let _ = writeln!(text, "{label:<18}{value}");
    };
    line("topic", &name);
    line("mode", &mode(s));
    line("history", &status::count(s.history as u64, "message"));
    if let Some(created) = created {
        line(
            "created",
            &format_args!(
                "{} ({} ago)",
                format_time(created),
                format_age(SystemTime::now(), created)
            ),
        );
    }
    line("slot size", &format_args!("{} bytes", s.slot_size));
    line("slots", &s.slot_count);
    line("capacity", &format_args!("{} bytes", topic.capacity()));
    line(
        "max message size",
        &format_args!("{} bytes", topic.max_message_size()),
    );
    line("published", &status::count(s.published, "message"));
    line("publisher", &s.publisher);
    line(
        "subscribers",
        &format_args!("{} of {}", s.subscribers.len(), s.max_subscribers),
    );
    line(
        "sleeps, wakes",
        &format_args!(
            "{} subscriber sleeps, {} wake calls",
            s.subscriber_sleeps, s.wakes
        ),
    );
    if !s.subscribers.is_empty() {
        let _ = writeln!(
            text,
            "\n{:<6}{:<10}{:>12}{:>10}{:>10}{:>12}{:>10}",
            "entry", "pid", "position", "lag", "behind", "received", "missed"
        );
        for sub in &s.subscribers {
            let _ = writeln!(
                text,
                "{:<6}{:<10}{:>12}{:>10}{:>10}{:>12}{:>10}{}",
                sub.entry,
                sub.pid,
                sub.position,
                sub.lag,
                sub.slots_behind,
                sub.received,
                sub.lagged,
                if sub.cut { "  cut loose" } else { "" }
            );
        }
        text.push_str(
            "\nposition: the subscriber's place in the ring (slots); lag: messages\n\
             published it has not taken yet; behind: slots between it and the\n\
             publisher; missed: messages it lost to overruns (lossy) or to the lag\n\
             limit (cut loose: not back yet).\n",
        );
    }
    text
}

fn stat_json(name: &str, topic: &Topic, s: &TopicStats, created: Option<SystemTime>) -> String {
    let created = created
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or_else(|| "null".to_owned(), |d| d.as_secs().to_string());
    let (state, pid) = match s.publisher {
        EndState::NeverAttached => ("never_attached", None),
        EndState::Attached { pid } => ("attached", Some(pid)),
        EndState::Detached => ("detached", None),
        EndState::Dead { pid } => ("dead", Some(pid)),
        _ => ("unknown", None),
    };
    let pid = pid.map_or_else(|| "null".to_owned(), |pid| pid.to_string());
    let lag_limit = s
        .lag_limit
        .map_or_else(|| "null".to_owned(), |d| d.as_millis().to_string());
    let subscribers: Vec<String> = s
        .subscribers
        .iter()
        .map(|sub| {
            format!(
                concat!(
                    r#"{{"entry":{},"pid":{},"position":{},"lag":{},"slots_behind":{},"#,
                    r#""received":{},"missed":{},"cut":{}}}"#
                ),
                sub.entry,
                sub.pid,
                sub.position,
                sub.lag,
                sub.slots_behind,
                sub.received,
                sub.lagged,
                sub.cut
            )
        })
        .collect();
    // A valid name needs no escaping in JSON.
    format!(
        concat!(
            r#"{{"name":"{}","kind":"topic","mode":"{}","history":{},"lag_limit_ms":{},"#,
            r#""created":{},"slot_size":{},"slots":{},"capacity":{},"max_message_size":{},"#,
            r#""max_subscribers":{},"published":{},"publisher":{{"state":"{}","pid":{}}},"#,
            r#""subscribers":[{}],"subscriber_sleeps":{},"wakes":{}}}"#,
            "\n"
        ),
        name,
        if s.lossy { "lossy" } else { "lossless" },
        s.history,
        lag_limit,
        created,
        s.slot_size,
        s.slot_count,
        topic.capacity(),
        topic.max_message_size(),
        s.max_subscribers,
        s.published,
        state,
        pid,
        subscribers.join(","),
        s.subscriber_sleeps,
        s.wakes,
    )
}
