//! The management subcommands: `create`, `rm`, `list`, `stat` and `gc`.
//!
//! All but `create` read queues with [`Queue::inspect`], which maps a
//! queue's header alone: they take no time on a queue of any size, and
//! attach to nothing.
//!
//! A queue `NAME` is taken for a service ([`shmq::Service`]) when reply
//! queues `NAME.r<LANE>` exist: `stat` then shows its clients, `rm`
//! removes the reply queues too and `list --long` counts clients. The
//! segments record no more than that, so a service no client has called
//! yet (no reply queue) looks like a mailbox.
//!
//! A topic (`NAME` and its subscriber table `NAME.subs`) is one object to
//! each of them; the `topic` module finds topics and shows them.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use shmq::{EndState, OpenErrorKind, Queue, Service, SideStats, Stats, Topic};

use crate::args::CreateOptions;
use crate::status::{self, Failure};
use crate::topic::{self, Probe};

/// `shmq create`: creates the queue, failing if it exists.
pub fn create(name: &str, options: &CreateOptions) -> Result<(), Failure> {
    options
        .builder(name)?
        .create()
        .map_err(|e| Failure::open(name, e))?;
    Ok(())
}

/// The reply queues of a service `name` found in `names` (a
/// [`Queue::list`]): `(lane, queue name)`, by lane.
fn reply_queues(name: &str, names: &[String]) -> Vec<(usize, String)> {
    let mut found: Vec<(usize, String)> = names
        .iter()
        .filter_map(|queue| {
            let lane = queue.strip_prefix(name)?.strip_prefix(".r")?;
            // Digits as `Service` writes them: no sign, no leading zero.
            let canonical = lane.bytes().all(|b| b.is_ascii_digit())
                && !lane.is_empty()
                && (lane == "0" || !lane.starts_with('0'));
            let lane: usize = lane.parse().ok().filter(|_| canonical)?;
            (lane < shmq::service::MAX_CLIENTS).then(|| (lane, queue.clone()))
        })
        .collect();
    found.sort();
    found
}

/// [`Queue::list`], or nothing if `/dev/shm` cannot be read (the callers
/// then treat every queue as a plain one).
fn all_queues() -> Vec<String> {
    Queue::list().unwrap_or_default()
}

/// `shmq rm`: removes each queue (a service with its reply queues),
/// warning about those a live process holds; reports the first failure
/// after trying them all.
pub fn rm(names: &[String]) -> Result<(), Failure> {
    let mut first_failure = None;
    let queues = all_queues();
    let mut report = |failure: Failure| {
        if first_failure.is_some() {
            // Only one line is returned; report the others here.
            if let Some(message) = &failure.message {
                let _ = writeln!(io::stderr(), "shmq: {message}");
            }
        } else {
            first_failure = Some(failure);
        }
    };
    for name in names {
        match topic::probe_listed(name, &queues) {
            Probe::Topic(found) => {
                let held_by = topic::holders(&found.stats());
                drop(found);
                match Topic::remove(name) {
                    Ok(()) if !held_by.is_empty() => status::warn(format_args!(
                        "topic {name:?} is in use ({held_by}); it is removed, its holders keep \
                         the old segments and new opens will not find them"
                    )),
                    Ok(()) => {}
                    Err(e) => report(Failure::open_topic(name, e)),
                }
                continue;
            }
            // Its ring and whatever is left of its table.
            Probe::Broken(_) => {
                if let Err(e) = Topic::remove(name) {
                    report(Failure::open_topic(name, e));
                }
                continue;
            }
            Probe::NotTopic => {}
        }
        if let Some(owner) = topic::table_owner(name).filter(|owner| {
            topic::is_table(name) && !matches!(topic::probe_listed(owner, &queues), Probe::NotTopic)
        }) {
            report(Failure::error(format_args!(
                "{name:?} is the subscriber table of topic {owner:?}: remove the topic \
                 (shmq rm {owner})"
            )));
            continue;
        }
        // Who holds it, from just before the removal (a queue that cannot
        // be inspected is removed all the same).
        let held_by = Queue::inspect(name)
            .map(|s| holders(&s))
            .unwrap_or_default();
        let replies = reply_queues(name, &queues);
        // A service's holders: the mailbox's, then each reply queue's.
        let service_holders: Vec<String> = [held_by.clone()]
            .into_iter()
            .chain(replies.iter().filter_map(|(_, queue)| {
                let held = holders(&Queue::inspect(queue).ok()?);
                (!held.is_empty()).then(|| format!("{queue}: {held}"))
            }))
            .filter(|held| !held.is_empty())
            .collect();
        let removed = if replies.is_empty() {
            Queue::remove(name)
        } else {
            Service::remove(name)
        };
        match removed {
            Ok(()) if !replies.is_empty() && !service_holders.is_empty() => {
                status::warn(format_args!(
                    "service {name:?} is in use ({}); it is removed with its reply queues, its \
                     holders keep the old segments and new opens will not find them",
                    service_holders.join("; ")
                ))
            }
            Ok(()) if !held_by.is_empty() => status::warn(format_args!(
                "queue {name:?} is in use ({held_by}); it is removed, its holders keep \
                 the old segment and new opens will not find it"
            )),
            Ok(()) => {}
            Err(e) => report(Failure::open(name, e)),
        }
    }
    first_failure.map_or(Ok(()), Err)
}

/// The live holders of a queue's ends: "sender pid 1, receiver pid 2", or
/// "" if none.
fn holders(stats: &Stats) -> String {
    stats
        .lanes
        .iter()
        .map(|lane| ("sender", &lane.sender))
        .chain([("receiver", &stats.receiver)])
        .filter_map(|(role, side)| match side.state {
            EndState::Attached { pid } => Some(format!("{role} pid {pid}")),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The SLOTS cell of `list --long`: the slot count, as "LANESxN" for a
/// mailbox.
fn slots_cell(s: &Stats) -> String {
    match s.lanes.len() {
        1 => s.slot_count.to_string(),
        lanes => format!("{lanes}x{}", s.slot_count),
    }
}

/// The SENDER cell of `list --long`: the sender's state, or for a mailbox
/// how many of its lanes a live process holds ("clients" for a service).
fn sender_cell(s: &Stats, service: bool) -> String {
    let live = s
        .lanes
        .iter()
        .filter(|l| l.sender.state.is_attached())
        .count();
    match s.lanes.len() {
        lanes if service => format!("{live} of {lanes} clients"),
        1 => s.sender.state.to_string(),
        lanes => format!("{live} of {lanes} attached"),
    }
}

/// `shmq list`: the queue names, one a line; with `long`, a table of
/// their settings and state.
pub fn list(long: bool) -> Result<(), Failure> {
    let all = Queue::list().map_err(|e| Failure::error(format_args!("cannot list queues: {e}")))?;
    // A topic is one object: its subscriber table is not listed.
    let tables = topic::hidden_tables(&all);
    let names: Vec<&String> = all.iter().filter(|name| !tables.contains(name)).collect();
    let text = if long {
        list_long(&names, &all)
    } else {
        names.iter().map(|name| format!("{name}\n")).collect()
    };
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(Failure::stdout)
}

/// The `list --long` table: a header line, then a line per queue of
/// `names` (those of `all`, the whole [`Queue::list`], that are shown); a
/// queue that cannot be inspected shows why instead.
fn list_long(names: &[&String], all: &[String]) -> String {
    const HEADER: [&str; 8] = [
        "NAME",
        "SLOT SIZE",
        "SLOTS",
        "MAX MESSAGE",
        "SENDER",
        "RECEIVER",
        "QUEUED",
        "AGE",
    ];
    let now = SystemTime::now();
    let rows: Vec<Result<[String; 8], (String, String)>> = names
        .iter()
        .map(|&name| match topic::probe_listed(name, all) {
            Probe::Topic(found) => {
                let [a, b, c, d, e, f, g] = topic::list_cells(name, &found);
                Ok([name.clone(), a, b, c, d, e, f, g])
            }
            Probe::Broken(e) => Err((name.clone(), format!("topic: error: {}", e.kind()))),
            Probe::NotTopic => match Queue::inspect(name) {
                Ok(s) => Ok([
                    name.clone(),
                    format_size(s.slot_size as u64),
                    slots_cell(&s),
                    format_size(s.max_message_size),
                    sender_cell(&s, !reply_queues(name, all).is_empty()),
                    s.receiver.state.to_string(),
                    s.messages_queued.to_string(),
                    s.created
                        .map_or_else(|| "?".to_owned(), |t| format_age(now, t)),
                ]),
                Err(e) => Err((
                    name.clone(),
                    match crate::objects::other_kind(&e) {
                        Some(kind) => crate::objects::describe(name, kind),
                        None => format!("error: {}", e.kind()),
                    },
                )),
            },
        })
        .collect();
    let mut widths = HEADER.map(str::len);
    for row in rows.iter().flatten() {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    for (name, _) in rows.iter().filter_map(|row| row.as_ref().err()) {
        widths[0] = widths[0].max(name.len());
    }
    let line = |cells: &[&str]| {
        let mut line = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<width$}  ", width = widths[i]);
            }
        }
        line.push('\n');
        line
    };
    let mut text = line(&HEADER);
    for row in &rows {
        text.push_str(&match row {
            Ok(cells) => line(&cells.each_ref().map(String::as_str)),
            Err((name, what)) => line(&[name, what]),
        });
    }
    text
}

/// `shmq stat`: the queue's settings, state, ends and counters.
pub fn stat(name: &str, json: bool) -> Result<(), Failure> {
    match topic::probe(name, shmq::DEFAULT_OPEN_TIMEOUT) {
        Probe::Topic(found) => return write_out(&topic::stat(name, &found, json)),
        Probe::Broken(e) => return Err(Failure::open_topic(name, e)),
        Probe::NotTopic => {}
    }
    let stats = match inspect_ready(name) {
        Ok(stats) => stats,
        Err(e) => match crate::objects::other_kind(&e) {
            Some(kind) => {
                let text = crate::objects::stat(name, kind, json)?;
                return write_out(&text);
            }
            None => return Err(Failure::open(name, e)),
        },
    };
    let replies = reply_queues(name, &all_queues());
    let clients = (!replies.is_empty()).then(|| clients(&stats, &replies));
    let text = if json {
        stat_json(name, &stats, clients.as_deref())
    } else {
        stat_text(name, &stats, clients.as_deref())
    };
    write_out(&text)
}

/// Writes `text` to standard output.
fn write_out(text: &str) -> Result<(), Failure> {
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(Failure::stdout)
}

/// [`Queue::inspect`], giving a queue that is being created the time
/// `open` would give its creator to finish.
fn inspect_ready(name: &str) -> Result<Stats, shmq::OpenError> {
    let deadline = Instant::now() + shmq::DEFAULT_OPEN_TIMEOUT;
    loop {
        match Queue::inspect(name) {
            Err(e) if matches!(e.kind(), OpenErrorKind::NotReady) && Instant::now() < deadline => {
                thread::sleep(Duration::from_millis(10));
            }
            result => return result,
        }
    }
}

/// One client lane of a service, for `stat`.
struct ClientLane {
    /// The lane's index.
    lane: usize,
    /// The client: the mailbox lane's sender.
    client: SideStats,
    /// Requests sent on the lane.
    sent: u64,
    /// Requests on the lane not yet taken by the server.
    queued: u64,
    /// The lane's reply queue, if it exists (and can be inspected).
    reply_queue: Option<String>,
    /// Answers (replies, declines, refusals) the server sent on it.
    answered: u64,
    /// Answers not yet read by the client.
    unread: u64,
}

impl ClientLane {
    /// Requests sent not yet answered: queued, being processed, or lost
    /// (a server that died holding them, a reply dropped for a slow
    /// client).
    fn waiting(&self) -> u64 {
        self.sent.saturating_sub(self.answered)
    }
}

/// The client lanes of the service whose mailbox is `s`, with its reply
/// queues `replies`.
fn clients(s: &Stats, replies: &[(usize, String)]) -> Vec<ClientLane> {
    s.lanes
        .iter()
        .map(|lane| {
            let reply = replies
                .iter()
                .find(|(i, _)| *i == lane.index)
                .and_then(|(_, queue)| Some((queue.clone(), Queue::inspect(queue).ok()?)));
            ClientLane {
                lane: lane.index,
                client: lane.sender.clone(),
                sent: lane.sender.messages,
                queued: lane.messages_queued,
                answered: reply.as_ref().map_or(0, |(_, r)| r.sender.messages),
                unread: reply.as_ref().map_or(0, |(_, r)| r.messages_queued),
                reply_queue: reply.map(|(queue, _)| queue),
            }
        })
        .collect()
}

fn stat_text(name: &str, s: &Stats, clients: Option<&[ClientLane]>) -> String {
    let mut text = String::new();
    let mut line = |label: &str, value: &dyn std::fmt::Display| {
        let _ = writeln!(text, "{label:<18}{value}");
    };
    line("queue", &name);
    line(
        "flavour",
        &if clients.is_some() {
            "service (a request mailbox and reply queues)"
        } else {
            s.flavour
        },
    );
    if let Some(created) = s.created {
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
    if s.lanes.len() > 1 {
        line("sender lanes", &s.lanes.len());
        line("slots", &format_args!("{} per lane", s.slot_count));
    } else {
        line("slots", &s.slot_count);
    }
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
        ("state", tx.state.to_string(), rx.state.to_string()),
        ("messages", tx.messages.to_string(), rx.messages.to_string()),
        ("records", tx.records.to_string(), rx.records.to_string()),
        ("sleeps", tx.sleeps.to_string(), rx.sleeps.to_string()),
        ("wakes", tx.wakes.to_string(), rx.wakes.to_string()),
        ("attaches", tx.attaches.to_string(), rx.attaches.to_string()),
    ];
    let _ = writeln!(text, "{:<18}{:<24}receiver", "", "sender");
    for (label, sender, receiver) in rows {
        let _ = writeln!(text, "{label:<18}{sender:<24}{receiver}");
    }
    if let Some(clients) = clients {
        // A service: the sender column above adds the clients up, the
        // receiver is the server.
        let _ = writeln!(
            text,
            "\n{:<6}{:<24}{:>8}{:>8}{:>10}{:>8}{:>9}",
            "lane", "client", "sent", "queued", "answered", "unread", "waiting"
        );
        for c in clients {
            let _ = writeln!(
                text,
                "{:<6}{:<24}{:>8}{:>8}{:>10}{:>8}{:>9}",
                c.lane,
                c.client.state.to_string(),
                c.sent,
                c.queued,
                c.answered,
                c.unread,
                c.waiting()
            );
        }
        text.push_str(
            "\nsent: requests sent on the lane; queued: not yet taken by the server;\n\
             answered: replies, declines and refusals sent back; unread: not yet read\n\
             by the client; waiting: sent less answered (queued, being processed, or\n\
             lost with a server that died). The server's receiving end is the receiver\n\
             column above.\n",
        );
    } else if s.lanes.len() > 1 {
        // A mailbox: the sender column above adds the lanes up.
        let _ = writeln!(
            text,
            "\n{:<6}{:<24}{:>10}{:>12}{:>10}",
            "lane", "sender", "sent", "queued", "slots"
        );
        for lane in &s.lanes {
            let _ = writeln!(
                text,
                "{:<6}{:<24}{:>10}{:>12}{:>10}",
                lane.index,
                lane.sender.state.to_string(),
                lane.sender.messages,
                lane.messages_queued,
                lane.slots_used
            );
        }
    }
    text
}

fn side_json(side: &SideStats) -> String {
    let (state, pid) = match side.state {
        EndState::NeverAttached => ("never_attached", None),
        EndState::Attached { pid } => ("attached", Some(pid)),
        EndState::Detached => ("detached", None),
        EndState::Dead { pid } => ("dead", Some(pid)),
        _ => ("unknown", None),
    };
    let pid = pid.map_or_else(|| "null".to_owned(), |pid| pid.to_string());
    format!(
        r#"{{"state":"{state}","pid":{pid},"messages":{},"records":{},"sleeps":{},"wakes":{},"attaches":{}}}"#,
        side.messages, side.records, side.sleeps, side.wakes, side.attaches
    )
}

/// The `"service"` member of `stat --json`: `null` for a queue that is
/// not a service.
fn service_json(clients: Option<&[ClientLane]>) -> String {
    let Some(clients) = clients else {
        return "null".to_owned();
    };
    let clients: Vec<String> = clients
        .iter()
        .map(|c| {
            // A valid queue name needs no escaping in JSON.
            let reply_queue = c
                .reply_queue
                .as_ref()
                .map_or_else(|| "null".to_owned(), |q| format!(r#""{q}""#));
            format!(
                concat!(
                    r#"{{"lane":{},"client":{},"requests_sent":{},"requests_queued":{},"#,
                    r#""answers_sent":{},"answers_unread":{},"waiting":{},"reply_queue":{}}}"#
                ),
                c.lane,
                side_json(&c.client),
                c.sent,
                c.queued,
                c.answered,
                c.unread,
                c.waiting(),
                reply_queue
            )
        })
        .collect();
    format!(r#"{{"clients":[{}]}}"#, clients.join(","))
}

fn stat_json(name: &str, s: &Stats, clients: Option<&[ClientLane]>) -> String {
    let created = s
        .created
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or_else(|| "null".to_owned(), |d| d.as_secs().to_string());
    // A valid queue name and the flavour need no escaping in JSON.
    format!(
        concat!(
            r#"{{"name":"{}","flavour":"{}","created":{},"slot_size":{},"slots":{},"#,
            r#""capacity":{},"max_message_size":{},"messages_queued":{},"slots_used":{},"#,
            r#""sender":{},"receiver":{},"lanes":[{}],"service":{}}}"#,
            "\n"
        ),
        name,
        s.flavour,
        created,
        s.slot_size,
        s.slot_count,
        s.capacity,
        s.max_message_size,
        s.messages_queued,
        s.slots_used,
        side_json(&s.sender),
        side_json(&s.receiver),
        s.lanes
            .iter()
            .map(|lane| format!(
                r#"{{"lane":{},"sender":{},"messages_queued":{},"slots_used":{}}}"#,
                lane.index,
                side_json(&lane.sender),
                lane.messages_queued,
                lane.slots_used
            ))
            .collect::<Vec<_>>()
            .join(","),
        service_json(clients),
    )
}

/// `shmq gc`: removes (or with `dry_run` lists) the stale queues created
/// at least `older_than` ago whose names start with `prefix`. Fails only
/// if a removal did, after trying them all.
///
/// A topic is stale when neither its publisher nor any subscriber is held
/// by a live process; it is removed with its subscriber table. A
/// subscriber table whose topic's ring is gone (a creator that died in
/// between) is removed once it is `older_than` old.
pub fn gc(dry_run: bool, older_than: Duration, prefix: Option<&str>) -> Result<(), Failure> {
    let names = Queue::stale(older_than)
        .map_err(|e| Failure::error(format_args!("cannot list stale queues: {e}")))?;
    let all = all_queues();
    let mut out = io::stdout().lock();
    let mut first_failure = None;
    let wanted = |name: &&String| prefix.is_none_or(|p| name.starts_with(p));
    let stale = names.iter().filter(wanted).filter_map(|name| {
        let (what, kind) = match topic::probe_listed(name, &all) {
            Probe::Topic(found) => {
                let stats = found.stats();
                if !topic::unused(&stats) {
                    // Its subscribers live on.
                    return None;
                }
                let published = status::count(stats.published, "message");
                (format!("topic, {published} published"), Stale::Topic)
            }
            Probe::Broken(e) => (format!("topic: {}", e.kind()), Stale::Topic),
            Probe::NotTopic => match Queue::inspect(name) {
                Ok(stats) => (
                    format!("{} queued", status::count(stats.messages_queued, "message")),
                    Stale::Queue,
                ),
                Err(e) => match e.kind() {
                    OpenErrorKind::NotFound => return None, // Removed meanwhile.
                    OpenErrorKind::NotReady => {
                        ("never finished by its creator".to_owned(), Stale::Queue)
                    }
                    kind => (kind.to_string(), Stale::Queue),
                },
            },
        };
        Some((name.clone(), what, kind))
    });
    let now = SystemTime::now();
    let orphans = all.iter().filter(wanted).filter_map(|name| {
        let owner = topic::table_owner(name)?;
        let old = topic::created(name)
            .is_some_and(|t| now.duration_since(t).unwrap_or(Duration::ZERO) >= older_than);
        let orphan = old
            && topic::is_table(name)
            && matches!(topic::probe(owner, Duration::ZERO), Probe::NotTopic);
        orphan.then(|| {
            let what = "the subscriber table of a topic whose ring is gone".to_owned();
            (name.clone(), what, Stale::Table)
        })
    });
    // The orphans are judged after the stale topics and queues are gone.
    let stale: Vec<_> = stale.collect();
    for (name, what, kind) in stale.into_iter().chain(orphans) {
        let done = if dry_run {
            "would remove"
        } else {
            match kind.remove_if_stale(&name, older_than) {
                Ok(true) => "removed",
                // In use again, or removed by someone else.
                Ok(false) => continue,
                Err(e) if matches!(e.kind(), OpenErrorKind::NotFound) => continue,
                Err(e) => {
                    let failure = match kind {
                        Stale::Topic => Failure::open_topic(&name, e),
                        _ => Failure::open(&name, e),
                    };
                    match (&first_failure, &failure.message) {
                        (Some(_), Some(message)) => {
                            let _ = writeln!(io::stderr(), "shmq: {message}");
                        }
                        _ => first_failure = Some(failure),
                    }
                    continue;
                }
            }
        };
        writeln!(out, "{done} {name} ({what})").map_err(Failure::stdout)?;
    }
    out.flush().map_err(Failure::stdout)?;
    first_failure.map_or(Ok(()), Err)
}

/// What `gc` found stale.
#[derive(Debug, Clone, Copy)]
enum Stale {
    /// A queue (or a segment that never became one).
    Queue,
    /// A topic: its ring and its table.
    Topic,
    /// A topic's subscriber table without its ring.
    Table,
}

impl Stale {
    /// Removes `name` if it is still stale, judged again right before;
    /// returns whether it removed it. (A process that opens it between
    /// that look and the removal keeps the removed segments, as with
    /// [`Queue::remove_if_stale`].)
    fn remove_if_stale(self, name: &str, older_than: Duration) -> Result<bool, shmq::OpenError> {
        match self {
            Stale::Queue => Queue::remove_if_stale(name, older_than),
            Stale::Topic => {
                match topic::probe(name, Duration::ZERO) {
                    Probe::Topic(found) if topic::unused(&found.stats()) => {}
                    Probe::Broken(_) => {}
                    _ => return Ok(false),
                }
                Topic::remove(name)?;
                Ok(true)
            }
            Stale::Table => {
                let Some(owner) = topic::table_owner(name) else {
                    return Ok(false);
                };
                if !matches!(topic::probe(owner, Duration::ZERO), Probe::NotTopic) {
                    return Ok(false);
                }
                Queue::remove(name)?;
                Ok(true)
            }
        }
    }
}

/// A byte count with the largest K, M or G suffix that divides it (as
/// the options take them): 128, 4K, 64M.
pub fn format_size(bytes: u64) -> String {
    for (shift, suffix) in [(30, "G"), (20, "M"), (10, "K")] {
        if bytes != 0 && bytes.trailing_zeros() >= shift {
            return format!("{}{suffix}", bytes >> shift);
        }
    }
    bytes.to_string()
}

/// How long before `now` `then` was, in its largest whole unit: 42s, 5m,
/// 3h, 12d.
pub fn format_age(now: SystemTime, then: SystemTime) -> String {
    let secs = now.duration_since(then).unwrap_or(Duration::ZERO).as_secs();
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m", secs / 60),
        3600..86400 => format!("{}h", secs / 3600),
        _ => format!("{}d", secs / 86400),
    }
}

/// `time` in UTC: 2024-06-01 12:34:56 UTC.
pub fn format_time(time: SystemTime) -> String {
    let Ok(since_epoch) = time.duration_since(UNIX_EPOCH) else {
        return "before 1970".to_owned();
    };
    let secs = since_epoch.as_secs();
    let (year, month, day) = civil_from_days(secs / 86400);
    let of_day = secs % 86400;
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        of_day / 3600,
        of_day / 60 % 60,
        of_day % 60
    )
}

/// The Gregorian date `days` days after 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, for days since the epoch).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(format_size(0), "0");
        assert_eq!(format_size(128), "128");
        assert_eq!(format_size(4096), "4K");
        assert_eq!(format_size(1536), "1536");
        assert_eq!(format_size(64 << 20), "64M");
        assert_eq!(format_size(1 << 40), "1024G");
    }

    #[test]
    fn ages() {
        let then = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let age = |secs| format_age(then + Duration::from_secs(secs), then);
        assert_eq!(age(0), "0s");
        assert_eq!(age(59), "59s");
        assert_eq!(age(60), "1m");
        assert_eq!(age(3599), "59m");
        assert_eq!(age(7200), "2h");
        assert_eq!(age(86400 * 3 + 5), "3d");
        // A clock set back: no negative age.
        assert_eq!(format_age(then, then + Duration::from_secs(5)), "0s");
    }

    #[test]
    fn times() {
        assert_eq!(format_time(UNIX_EPOCH), "1970-01-01 00:00:00 UTC");
        let t = UNIX_EPOCH + Duration::from_secs(951_782_400 + 3661); // 2000-02-29
        assert_eq!(format_time(t), "2000-02-29 01:01:01 UTC");
        let t = UNIX_EPOCH + Duration::from_secs(1_733_212_397);
        assert_eq!(format_time(t), "2024-12-03 07:53:17 UTC");
    }
}
