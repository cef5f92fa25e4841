//! `list --long` and `stat` for the segments that are not queues: a
//! semaphore's ([`shmq::Semaphore`]) or a barrier's ([`shmq::Barrier`]),
//! and a topic's subscriber table when it is listed apart from its topic
//! (the ring is gone: `topic` hides the others). The other subcommands
//! need nothing of their own: `list` lists every name, `rm` removes any
//! segment, and `gc` judges queues and topics only.

use std::fmt::Write as _;

use shmq::{Barrier, OpenError, OpenErrorKind, Semaphore};

use crate::status::Failure;
use crate::topic::TABLE_KIND;

/// The kind of object that `error` (from opening `name` as a queue) says
/// `name` is, if it is a semaphore or a barrier.
pub fn other_kind(error: &OpenError) -> Option<&'static str> {
    match error.kind() {
        OpenErrorKind::WrongKind { found, .. } if *found != "queue" => Some(found),
        _ => None,
    }
}

/// What `list --long` shows in place of a queue's cells.
pub fn describe(name: &str, kind: &str) -> String {
    if kind == TABLE_KIND {
        return table_text(name);
    }
    let described = match kind {
        "semaphore" => Semaphore::open(name).map(|sem| {
            format!(
                "semaphore: {} of {} permits free",
                sem.available_permits(),
                sem.permits()
            )
        }),
        _ => Barrier::open(name).map(|barrier| {
            format!(
                "barrier: {} of {} members joined, generation {}{}",
                barrier.joined(),
                barrier.members(),
                barrier.generation(),
                if barrier.is_broken() { ", broken" } else { "" }
            )
        }),
    };
    described.unwrap_or_else(|e| format!("{kind}: error: {}", e.kind()))
}

/// What a topic's subscriber table listed apart from its topic is.
fn table_text(name: &str) -> String {
    match crate::topic::table_owner(name) {
        Some(owner) => match crate::topic::probe(owner, std::time::Duration::ZERO) {
            crate::topic::Probe::NotTopic => format!(
                "topic subscriber table of {owner:?}, whose ring is gone (`shmq gc` or `shmq rm {name}` removes it)"
            ),
            _ => format!("subscriber table of topic {owner:?} (`shmq stat {owner}`)"),
        },
        None => TABLE_KIND.to_owned(),
    }
}

/// `shmq stat` of a semaphore or barrier: its text or JSON. A topic's
/// subscriber table is refused, pointing to its topic.
pub fn stat(name: &str, kind: &str, json: bool) -> Result<String, Failure> {
    if kind == TABLE_KIND {
        return Err(Failure::error(format_args!(
            "{name:?} is a {}",
            table_text(name)
        )));
    }
    stat_object(name, kind, json).map_err(|e| Failure::open(name, e))
}

fn stat_object(name: &str, kind: &str, json: bool) -> Result<String, OpenError> {
    // A valid name needs no escaping in JSON.
    Ok(match kind {
        "semaphore" => {
            let sem = Semaphore::open(name)?;
            let holders = sem.holders();
            if json {
                let pids: Vec<String> = holders.iter().map(u32::to_string).collect();
                format!(
                    "{{\"name\":\"{name}\",\"kind\":\"semaphore\",\"permits\":{},\
                     \"available\":{},\"holders\":[{}]}}\n",
                    sem.permits(),
                    sem.available_permits(),
                    pids.join(",")
                )
            } else {
                let mut text = String::new();
                let _ = writeln!(text, "{:<18}{name}", "semaphore");
                let _ = writeln!(text, "{:<18}{}", "permits", sem.permits());
                let _ = writeln!(text, "{:<18}{}", "available", sem.available_permits());
                let held: Vec<String> = holders.iter().map(|p| format!("pid {p}")).collect();
                let held = if held.is_empty() {
                    "none".to_owned()
                } else {
                    held.join(", ")
                };
                let _ = writeln!(text, "{:<18}{held}", "holders");
                text
            }
        }
        _ => {
            let barrier = Barrier::open(name)?;
            let (members, joined) = (barrier.members(), barrier.joined());
            let (generation, broken) = (barrier.generation(), barrier.is_broken());
            if json {
                format!(
                    "{{\"name\":\"{name}\",\"kind\":\"barrier\",\"members\":{members},\
                     \"joined\":{joined},\"generation\":{generation},\"broken\":{broken}}}\n"
                )
            } else {
                let mut text = String::new();
                let _ = writeln!(text, "{:<18}{name}", "barrier");
                let _ = writeln!(text, "{:<18}{members}", "members");
                let _ = writeln!(text, "{:<18}{joined}", "joined");
                let _ = writeln!(text, "{:<18}{generation}", "generation");
                let _ = writeln!(
                    text,
                    "{:<18}{}",
                    "broken",
                    if broken { "yes" } else { "no" }
                );
                text
            }
        }
    })
}
