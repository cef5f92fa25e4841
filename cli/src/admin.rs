//! The management subcommands: `create`, `rm`, `list` and `stat`.

use std::io::{self, Write};

use shmq::{Queue, SideStats, Stats};

use crate::args::CreateOptions;
use crate::status::Failure;

/// `shmq create`: creates the queue, failing if it exists.
pub fn create(name: &str, options: &CreateOptions) -> Result<(), Failure> {
    options
        .builder(name)?
        .create()
        .map_err(|e| Failure::open(name, e))?;
    Ok(())
}

/// `shmq rm`: removes each queue; reports the first failure after trying
/// them all.
pub fn rm(names: &[String]) -> Result<(), Failure> {
    let mut first_failure = None;
    for name in names {
        if let Err(e) = Queue::remove(name) {
            let failure = Failure::open(name, e);
            if first_failure.is_some() {
                // Only one line is returned; report the others here.
                if let Some(message) = &failure.message {
                    let _ = writeln!(io::stderr(), "shmq: {message}");
                }
            } else {
                first_failure = Some(failure);
            }
        }
    }
    first_failure.map_or(Ok(()), Err)
}

/// `shmq list`: the queue names, one a line.
pub fn list() -> Result<(), Failure> {
    let names =
        Queue::list().map_err(|e| Failure::error(format_args!("cannot list queues: {e}")))?;
    let mut out = io::stdout().lock();
    for name in names {
        writeln!(out, "{name}").map_err(Failure::stdout)?;
    }
    out.flush().map_err(Failure::stdout)
}

/// `shmq stat`: the queue's settings, state, ends and counters.
pub fn stat(name: &str, json: bool) -> Result<(), Failure> {
    let stats = Queue::open(name)
        .map_err(|e| Failure::open(name, e))?
        .stats();
    let text = if json {
        stat_json(name, &stats)
    } else {
        stat_text(name, &stats)
    };
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(Failure::stdout)
}

fn pid_text(pid: Option<u32>) -> String {
    pid.map_or_else(|| "none".to_owned(), |pid| pid.to_string())
}

fn stat_text(name: &str, s: &Stats) -> String {
    let mut text = String::new();
    let mut line = |label: &str, value: &dyn std::fmt::Display| {
        text.push_str(&format!("{label:<18}{value}\n"));
    };
    line("queue", &name);
    line("flavour", &s.flavour);
    line("slot size", &format_args!("{} bytes", s.slot_size));
    line("slots", &s.slot_count);
    line("capacity", &format_args!("{} bytes", s.capacity));
    line(
        "max message size",
        &format_args!("{} bytes", s.max_message_size),
    );
    line("messages queued", &s.messages_queued);
    line("slots used", &s.slots_used);
    text.push('\n');
    let (tx, rx) = (&s.sender, &s.receiver);
    let rows = [
        ("pid", pid_text(tx.pid), pid_text(rx.pid)),
        ("messages", tx.messages.to_string(), rx.messages.to_string()),
        ("records", tx.records.to_string(), rx.records.to_string()),
        ("sleeps", tx.sleeps.to_string(), rx.sleeps.to_string()),
        ("wakes", tx.wakes.to_string(), rx.wakes.to_string()),
        ("attaches", tx.attaches.to_string(), rx.attaches.to_string()),
    ];
    text.push_str(&format!("{:<18}{:<12}{}\n", "", "sender", "receiver"));
    for (label, sender, receiver) in rows {
        text.push_str(&format!("{label:<18}{sender:<12}{receiver}\n"));
    }
    text
}

fn side_json(side: &SideStats) -> String {
    let pid = side
        .pid
        .map_or_else(|| "null".to_owned(), |pid| pid.to_string());
    format!(
        r#"{{"pid":{pid},"messages":{},"records":{},"sleeps":{},"wakes":{},"attaches":{}}}"#,
        side.messages, side.records, side.sleeps, side.wakes, side.attaches
    )
}

fn stat_json(name: &str, s: &Stats) -> String {
    // A valid queue name and the flavour need no escaping in JSON.
    format!(
        concat!(
            r#"{{"name":"{}","flavour":"{}","slot_size":{},"slots":{},"capacity":{},"#,
            r#""max_message_size":{},"messages_queued":{},"slots_used":{},"#,
            r#""sender":{},"receiver":{}}}"#,
            "\n"
        ),
        name,
        s.flavour,
        s.slot_size,
        s.slot_count,
        s.capacity,
        s.max_message_size,
        s.messages_queued,
        s.slots_used,
        side_json(&s.sender),
        side_json(&s.receiver),
    )
}
