//! `shmq-peer`: the other process in shmq's cross-process tests.
//!
//! ```text
//! shmq-peer <scenario> <queue> [key=value ...]
//! ```
//!
//! The queue must exist (the test creates it, and removes it). The peer
//! opens it, attaches one end (or both ends of two queues), plays the
//! scenario and exits: status 0 when everything went as expected, 1 with a
//! message on stderr when not, 2 for bad arguments, 3 when its watchdog
//! fired (every scenario is bounded by `timeout_ms`, default 120000, so a
//! broken test fails instead of hanging). Results go to stdout, one line
//! each.
//!
//! Options for every scenario:
//! - `wait=default|block|spin|spin:<micros>`: the ends' wait strategy.
//! - `timeout_ms=<n>`: the watchdog.
//!
//! Scenarios (`seed`, `count`, `max` describe a message stream, see
//! `Stream` in `mod.rs`; `max` defaults to three times the ring capacity):
//! - `send-stream seed= count= [max=] [big=<bytes>] [hold=1] [announce=1]`:
//!   with `announce=1`, prints `attached <lane>` once its sender is
//!   attached; sends the stream (alternating `send` and `reserve`/`commit`), prints
//!   `sent <count> <bytes>`; then, with `big`, sends one more message of
//!   that many bytes; with `hold=1`, holds the sender until stdin closes;
//!   then exits, detaching.
//! - `recv-stream seed= count= [max=] [end=disconnect|exit]`: receives and
//!   checks `count` messages (cycling `recv`, `recv_into`, `recv_with`);
//!   with `end=disconnect` (default) the next receive must report
//!   `Disconnected`. Prints `received <count> <bytes>`.
//! - `hold role=sender|receiver`: attaches that end, prints
//!   `ready <pid>`, holds it until stdin closes (or it is killed).
//! - `wake-echo ack=<queue2>`: receives from `<queue>` and answers each
//!   message on `<queue2>` with 16 bytes: the message's first 8 and the
//!   receiver's `stats().receiver.sleeps` read right after the receive
//!   returned. Both ends block (no spinning) unless `wait` says otherwise.
//!   Ends at `Disconnected`; prints `echoed <n>`.
//! - `send-counted count= side=<queue2>`: sends `count` messages of 16
//!   bytes, `{seq, stats().sender.sleeps read before this send}`, each
//!   announced first by the same 16 bytes on `<queue2>` (whose ring must
//!   not fill up); the sender blocks (no spinning) unless `wait` says
//!   otherwise. Prints `sent <n>`.
//! - `send-pod count=`: `send_pod`s ticks `0..count`, then a 3-byte
//!   message, then tick `count`. Prints `sent <count>`.
//! - `recv-pod count=`: the other side of `send-pod`: `recv_pod`s `count`
//!   ticks, expects `WrongSize` for the 3-byte message, one more tick, then
//!   `Disconnected`. Prints `received <count>`.
//! - `slow-recv seed= count= delay_ms= [max=]`: prints `ready`, then sleeps
//!   `delay_ms` before each receive of a stream message; then expects
//!   `Disconnected`. Prints `received <count> <bytes>`.
//! - `batch-hold count=`: attaches the receiver, takes a batch
//!   (`recv_batch`) and `count` messages from it (they must be waiting),
//!   prints `held <count> <first-len>`, and holds the batch, unreleased,
//!   until stdin closes (or it is killed); then drops it unreleased.
//! - `expect-corrupt`: attaches the receiver, prints `ready`, then expects
//!   its next receive (within 10 s) and the one after to report
//!   `Corrupted`. Prints `corrupted <check>`.
//!
//! Service scenarios (`<queue>` is the service's name; it must exist):
//! - `serve [reply_timeout_ms=100]`: attaches the server, prints
//!   `serving <incarnation>`, and answers every request with its bytes
//!   reversed followed by its length as 8 little-endian bytes, until stdin
//!   closes; prints `served <requests> <dropped replies>`.
//! - `call-load seed= count= [window=8] [max=] [slot_size=64] [slots=64]
//!   [on_died=fail|exit]`: attaches a client, prints `attached <lane>`,
//!   makes `count` pipelined calls (up to `window` in flight) of the
//!   stream's messages, checking every reply against its request; prints
//!   `running` after the first 50 replies and `done <count>` at the end.
//!   With `on_died=exit`, a `ServerDied` (or `Disconnected`) ends the
//!   sending: every call still in flight must then fail with `ServerDied`
//!   (none may return a wrong reply), and it prints `died <ok> <failed>`.
//!
//! Topic scenarios (`<queue>` is the topic's name; it must exist; `seed`,
//! `max` and the optional `rare=<every>:<bytes>` describe the stream, see
//! `Stream::for_topic` and `Stream::with_rare`):
//! - `topic-publish seed= max= count= [start=0] [rare=] [announce=1]
//!   [hold=1]`: attaches the publisher, which must find
//!   `Publisher::published() == start` (a new publisher continues the
//!   numbering), prints `attached <start>` with `announce=1`, publishes
//!   messages `start..start+count` (alternating `send` and
//!   `send_timeout`), prints `published <count> <bytes> <digest>`
//!   (`digest_step` over the messages), and with `hold=1` holds the
//!   publisher until stdin closes (or it is killed).
//! - `topic-subscribe seed= max= count= [start=0] [rare=] [delay_us=0]
//!   [reconnect=1] [end=disconnect|none]`: attaches a subscriber, prints
//!   `ready <entry>`, then receives (cycling `recv`, `recv_with` and
//!   `recv_timeout`, sleeping `delay_us` before each) until it has
//!   accounted for messages `start..start+count`: each message must be the
//!   next one expected, intact; a `Lagged(n)` (allowed only in a lossy
//!   topic or one with a lag limit) moves the expectation on by `n`. A
//!   `Disconnected` before the end fails, but with `reconnect=1` (the
//!   test replaces a dead publisher), where it waits for the next one.
//!   With `end=disconnect` (default) the next receive must then report
//!   `Disconnected`. Prints `received <messages> <missed> <lag reports>
//!   <digest>`.
//! - `topic-hold`: attaches a subscriber, prints `ready <entry>`, and
//!   holds it, never receiving, until stdin closes (or it is killed).
//!
//! Semaphore and barrier scenarios (`<queue>` is the semaphore's or the
//! barrier's name; it must exist):
//! - `sem-hold [permits=1]`: takes that many permits, prints `held <n>`,
//!   holds them until stdin closes (or it is killed), releases them and
//!   prints `released`.
//! - `sem-acquire [timeout_ms_acquire=]`: prints `waiting`, takes one
//!   permit (blocking, or at most that long: then prints `timeout`),
//!   prints `acquired`, releases it.
//! - `sem-cycle count=`: `count` times takes a permit, checks that no
//!   more processes hold permits than there are, and releases it; prints
//!   `cycled <count>`.
//! - `barrier-join`: joins, prints `joined <slot>`, holds its slot until
//!   stdin closes (or it is killed) without ever arriving.
//! - `barrier-wait [rounds=1] [expect=ok|broken]`: joins, prints
//!   `joined <slot>`, then waits `rounds` times and prints
//!   `leaders <n>` (how many of its waits it led); with `expect=broken`
//!   its first wait must fail `Broken`: prints `broken <pid>`.

use std::collections::HashMap;
use std::io::Read;
use std::process::exit;
use std::time::Duration;

use shmq::{
    CallError, Queue, RecvError, RecvTimeoutError, RequestId, Service, Subscriber, Topic,
    TopicRecvError, TopicRecvTimeoutError, WaitStrategy,
};

#[path = "mod.rs"]
mod support;

use support::{Stream, Tick, digest_step, recv_one, send_one};

type Outcome = Result<(), String>;

struct Args {
    scenario: String,
    queue: String,
    opts: HashMap<String, String>,
}

impl Args {
    fn parse() -> Result<Args, String> {
        let mut it = std::env::args().skip(1);
        let scenario = it.next().ok_or("missing scenario")?;
        let queue = it.next().ok_or("missing queue name")?;
        let mut opts = HashMap::new();
        for arg in it {
            let (k, v) = arg
                .split_once('=')
                .ok_or_else(|| format!("expected key=value, got {arg:?}"))?;
            opts.insert(k.to_string(), v.to_string());
        }
        Ok(Args {
            scenario,
            queue,
            opts,
        })
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.opts.get(key).map(String::as_str)
    }

    fn num(&self, key: &str) -> Result<u64, String> {
        let v = self
            .get(key)
            .ok_or_else(|| format!("missing option {key}="))?;
        let parsed = match v.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16),
            None => v.parse(),
        };
        parsed.map_err(|_| format!("bad number {key}={v}"))
    }

    fn num_or(&self, key: &str, default: u64) -> Result<u64, String> {
        if self.get(key).is_some() {
            self.num(key)
        } else {
            Ok(default)
        }
    }

    fn wait(&self, default: WaitStrategy) -> Result<WaitStrategy, String> {
        Ok(match self.get("wait") {
            None => default,
            Some("default") => WaitStrategy::default(),
            Some("block") => WaitStrategy::Block,
            Some("spin") => WaitStrategy::Spin,
            Some(other) => match other.strip_prefix("spin:").map(str::parse) {
                Some(Ok(us)) => WaitStrategy::SpinThenBlock(Duration::from_micros(us)),
                _ => return Err(format!("bad wait={other}")),
            },
        })
    }

    fn open(&self, name: &str, default: WaitStrategy) -> Result<Queue, String> {
        Queue::builder(name)
            .wait_strategy(self.wait(default)?)
            .open()
            .map_err(|e| format!("opening queue {name}: {e}"))
    }

    fn open_topic(&self) -> Result<Topic, String> {
        Topic::builder(&self.queue)
            .wait_strategy(self.wait(WaitStrategy::default())?)
            .open()
            .map_err(|e| format!("opening topic {}: {e}", self.queue))
    }

    fn topic_stream(&self, topic: &Topic) -> Result<Stream, String> {
        let stream = Stream::for_topic(self.num("seed")?, topic, self.num("max")? as usize);
        Ok(match self.get("rare") {
            None => stream,
            Some(rare) => {
                let parsed = rare
                    .split_once(':')
                    .and_then(|(e, b)| Some((e.parse().ok()?, b.parse().ok()?)));
                let (every, bytes) = parsed.ok_or_else(|| format!("bad rare={rare}"))?;
                stream.with_rare(every, bytes)
            }
        })
    }

    fn stream(&self, queue: &Queue) -> Result<Stream, String> {
        let max = match self.get("max") {
            Some(_) => Some(self.num("max")? as usize),
            None => None,
        };
        Ok(Stream::for_queue(self.num("seed")?, queue, max))
    }
}

fn main() {
    let args = match Args::parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("shmq-peer: {e}\nusage: shmq-peer <scenario> <queue> [key=value ...]");
            exit(2);
        }
    };
    let limit = match args.num_or("timeout_ms", 120_000) {
        Ok(ms) => Duration::from_millis(ms),
        Err(e) => {
            eprintln!("shmq-peer: {e}");
            exit(2);
        }
    };
    let what = format!("shmq-peer {} {}", args.scenario, args.queue);
    let watchdog_what = what.clone();
    std::thread::spawn(move || {
        std::thread::sleep(limit);
        eprintln!("{watchdog_what}: watchdog: still running after {limit:?}, giving up");
        exit(3);
    });
    let outcome = match args.scenario.as_str() {
        "send-stream" => send_stream(&args),
        "recv-stream" => recv_stream(&args),
        "hold" => hold(&args),
        "batch-hold" => batch_hold(&args),
        "wake-echo" => wake_echo(&args),
        "send-counted" => send_counted(&args),
        "send-pod" => send_pod(&args),
        "recv-pod" => recv_pod(&args),
        "slow-recv" => slow_recv(&args),
        "expect-corrupt" => expect_corrupt(&args),
        "serve" => serve(&args),
        "call-load" => call_load(&args),
        "sem-hold" => sem_hold(&args),
        "sem-acquire" => sem_acquire(&args),
        "sem-cycle" => sem_cycle(&args),
        "barrier-join" => barrier_join(&args),
        "barrier-wait" => barrier_wait(&args),
        "topic-publish" => topic_publish(&args),
        "topic-subscribe" => topic_subscribe(&args),
        "topic-hold" => topic_hold(&args),
        other => {
            eprintln!("shmq-peer: unknown scenario {other:?}");
            exit(2);
        }
    };
    if let Err(e) = outcome {
        eprintln!("{what}: {e}");
        exit(1);
    }
}

/// Blocks until stdin reaches end of file (the test closed it or died).
fn hold_until_stdin_closes() {
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
}

fn send_stream(args: &Args) -> Outcome {
    let queue = args.open(&args.queue, WaitStrategy::default())?;
    let stream = args.stream(&queue)?;
    let count = args.num("count")?;
    let mut tx = queue
        .sender()
        .map_err(|e| format!("attaching sender: {e}"))?;
    if args.get("announce") == Some("1") {
        // The byte pool is built on first use (milliseconds in a debug
        // build): before the announcement, so that a kill timed from it
        // lands while messages are sent.
        let _ = support::pool();
        println!("attached {}", tx.lane());
    }
    let mut buf = Vec::new();
    let mut bytes = 0u64;
    for seq in 0..count {
        bytes += send_one(&mut tx, &stream, seq, &mut buf)
            .map_err(|e| format!("seed {:#x}: sending message {seq}: {e}", stream.seed))?
            as u64;
    }
    println!("sent {count} {bytes}");
    if let Some(big) = args.get("big") {
        let big: usize = big.parse().map_err(|_| "bad big=")?;
        let msg = &support::pool()[..big];
        tx.send(msg)
            .map_err(|e| format!("sending the {big}-byte message: {e}"))?;
        println!("sent-big {big}");
    }
    if args.get("hold") == Some("1") {
        hold_until_stdin_closes();
    }
    Ok(())
}

fn recv_stream(args: &Args) -> Outcome {
    let queue = args.open(&args.queue, WaitStrategy::default())?;
    let stream = args.stream(&queue)?;
    let count = args.num("count")?;
    let mut rx = queue
        .receiver()
        .map_err(|e| format!("attaching receiver: {e}"))?;
    let mut buf = Vec::new();
    let mut bytes = 0u64;
    for seq in 0..count {
        bytes += recv_one(&mut rx, &stream, seq, &mut buf)? as u64;
    }
    match args.get("end").unwrap_or("disconnect") {
        "disconnect" => match rx.recv() {
            Err(RecvError::Disconnected) => {}
            other => {
                return Err(format!(
                    "after {count} messages: expected Disconnected, got {:?}",
                    other.map(|m| m.len())
                ));
            }
        },
        "exit" => {}
        other => return Err(format!("bad end={other}")),
    }
    println!("received {count} {bytes}");
    Ok(())
}

fn hold(args: &Args) -> Outcome {
    let queue = args.open(&args.queue, WaitStrategy::default())?;
    match args.get("role") {
        Some("sender") => {
            let _tx = queue
                .sender()
                .map_err(|e| format!("attaching sender: {e}"))?;
            println!("ready {}", std::process::id());
            hold_until_stdin_closes();
        }
        Some("receiver") => {
            let _rx = queue
                .receiver()
                .map_err(|e| format!("attaching receiver: {e}"))?;
            println!("ready {}", std::process::id());
            hold_until_stdin_closes();
        }
        other => return Err(format!("bad role={other:?}")),
    }
    Ok(())
}

fn batch_hold(args: &Args) -> Outcome {
    let queue = args.open(&args.queue, WaitStrategy::default())?;
    let count = args.num("count")?;
    let mut rx = queue
        .receiver()
        .map_err(|e| format!("attaching receiver: {e}"))?;
    let mut batch = rx.recv_batch().map_err(|e| format!("recv_batch: {e}"))?;
    let mut first = None;
    for i in 0..count {
        let msg = batch
            .next()
            .ok_or_else(|| format!("batch ended after {i} of {count} messages"))?;
        first.get_or_insert(msg.len());
    }
    println!("held {count} {}", first.unwrap_or(0));
    hold_until_stdin_closes();
    drop(batch);
    Ok(())
}

fn wake_echo(args: &Args) -> Outcome {
    let queue = args.open(&args.queue, WaitStrategy::Block)?;
    let ack_name = args.get("ack").ok_or("missing option ack=")?;
    let ack = args.open(ack_name, WaitStrategy::Block)?;
    let mut rx = queue
        .receiver()
        .map_err(|e| format!("attaching receiver: {e}"))?;
    let mut tx = ack
        .sender()
        .map_err(|e| format!("attaching ack sender: {e}"))?;
    let mut n = 0u64;
    loop {
        let msg = match rx.recv() {
            Ok(m) => m,
            Err(RecvError::Disconnected) => break,
            Err(e) => return Err(format!("receiving message {n}: {e}")),
        };
        // Read after the receive returned: any later increment is a sleep
        // of the next receive.
        let sleeps = queue.stats().receiver.sleeps;
        if msg.len() < 8 {
            return Err(format!("message {n} is {} bytes", msg.len()));
        }
        let mut reply = [0u8; 16];
        reply[..8].copy_from_slice(&msg[..8]);
        reply[8..].copy_from_slice(&sleeps.to_le_bytes());
        tx.send(&reply)
            .map_err(|e| format!("acknowledging message {n}: {e}"))?;
        n += 1;
    }
    println!("echoed {n}");
    Ok(())
}

fn send_counted(args: &Args) -> Outcome {
    let queue = args.open(&args.queue, WaitStrategy::Block)?;
    let side_name = args.get("side").ok_or("missing option side=")?;
    let side = args.open(side_name, WaitStrategy::default())?;
    let count = args.num("count")?;
    let mut tx = queue
        .sender()
        .map_err(|e| format!("attaching sender: {e}"))?;
    let mut announce = side
        .sender()
        .map_err(|e| format!("attaching side sender: {e}"))?;
    for seq in 0..count {
        // Only this send's waits can move the counter past this value.
        let sleeps = queue.stats().sender.sleeps;
        let mut msg = [0u8; 16];
        msg[..8].copy_from_slice(&seq.to_le_bytes());
        msg[8..].copy_from_slice(&sleeps.to_le_bytes());
        announce
            .try_send(&msg)
            .map_err(|e| format!("announcing message {seq}: {e}"))?;
        tx.send(&msg)
            .map_err(|e| format!("sending message {seq}: {e}"))?;
    }
    println!("sent {count}");
    Ok(())
}

fn send_pod(args: &Args) -> Outcome {
    let queue = args.open(&args.queue, WaitStrategy::default())?;
    let count = args.num("count")?;
    let mut tx = queue
        .sender()
        .map_err(|e| format!("attaching sender: {e}"))?;
    for seq in 0..count {
        tx.send_pod(&Tick::new(seq))
            .map_err(|e| format!("send_pod {seq}: {e}"))?;
    }
    tx.send(b"odd").map_err(|e| format!("sending odd: {e}"))?;
    tx.send_pod(&Tick::new(count))
        .map_err(|e| format!("send_pod {count}: {e}"))?;
    println!("sent {count}");
    Ok(())
}

fn recv_pod(args: &Args) -> Outcome {
    let queue = args.open(&args.queue, WaitStrategy::default())?;
    let count = args.num("count")?;
    let mut rx = queue
        .receiver()
        .map_err(|e| format!("attaching receiver: {e}"))?;
    for seq in 0..count {
        let tick: Tick = rx.recv_pod().map_err(|e| format!("recv_pod {seq}: {e}"))?;
        if tick != Tick::new(seq) {
            return Err(format!("tick {seq}: got {tick:?}"));
        }
    }
    match rx.recv_pod::<Tick>() {
        Err(RecvError::WrongSize {
            expected: 32,
            found: 3,
        }) => {}
        other => return Err(format!("3-byte message: expected WrongSize, got {other:?}")),
    }
    let last: Tick = rx
        .recv_pod()
        .map_err(|e| format!("recv_pod after WrongSize: {e}"))?;
    if last != Tick::new(count) {
        return Err(format!("last tick: got {last:?}"));
    }
    match rx.recv_pod::<Tick>() {
        Err(RecvError::Disconnected) => {}
        other => return Err(format!("at the end: expected Disconnected, got {other:?}")),
    }
    println!("received {count}");
    Ok(())
}

fn slow_recv(args: &Args) -> Outcome {
    let queue = args.open(&args.queue, WaitStrategy::default())?;
    let stream = args.stream(&queue)?;
    let count = args.num("count")?;
    let delay = Duration::from_millis(args.num("delay_ms")?);
    let mut rx = queue
        .receiver()
        .map_err(|e| format!("attaching receiver: {e}"))?;
    println!("ready");
    let mut buf = Vec::new();
    let mut bytes = 0u64;
    for seq in 0..count {
        std::thread::sleep(delay);
        bytes += recv_one(&mut rx, &stream, seq, &mut buf)? as u64;
    }
    match rx.recv() {
        Err(RecvError::Disconnected) => {}
        other => {
            return Err(format!(
                "expected Disconnected, got {:?}",
                other.map(|m| m.len())
            ));
        }
    }
    println!("received {count} {bytes}");
    Ok(())
}

fn expect_corrupt(args: &Args) -> Outcome {
    let queue = args.open(&args.queue, WaitStrategy::default())?;
    let mut rx = queue
        .receiver()
        .map_err(|e| format!("attaching receiver: {e}"))?;
    println!("ready");
    let check = match rx.recv_timeout(Duration::from_secs(10)) {
        Err(RecvTimeoutError::Corrupted(e)) => e.check(),
        Ok(msg) => return Err(format!("received a {}-byte message", msg.len())),
        Err(e) => return Err(format!("expected Corrupted, got {e:?}")),
    };
    match rx.recv_timeout(Duration::from_secs(1)) {
        Err(RecvTimeoutError::Corrupted(_)) => {}
        other => {
            return Err(format!(
                "second receive after Corrupted: got {:?}",
                other.map(|m| m.len())
            ));
        }
    }
    println!("corrupted {check}");
    Ok(())
}

/// The server's answer to `request`: its bytes reversed, then its length.
fn echo(request: &[u8]) -> Vec<u8> {
    let mut reply: Vec<u8> = request.iter().rev().copied().collect();
    reply.extend_from_slice(&(request.len() as u64).to_le_bytes());
    reply
}

fn serve(args: &Args) -> Outcome {
    let timeout = Duration::from_millis(args.num_or("reply_timeout_ms", 100)?);
    let service = Service::builder(&args.queue)
        .reply_timeout(timeout)
        .wait_strategy(args.wait(WaitStrategy::default())?)
        .open()
        .map_err(|e| format!("opening service: {e}"))?;
    let mut server = service
        .server()
        .map_err(|e| format!("attaching server: {e}"))?;
    let (stop_tx, stop) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        hold_until_stdin_closes();
        let _ = stop_tx.send(());
    });
    println!("serving {}", server.incarnation());
    while stop.try_recv().is_err() {
        match server.recv_request_timeout(Duration::from_millis(50)) {
            Ok(req) => server
                .reply(req.id(), &echo(req.body()))
                .map_err(|e| format!("replying to {}: {e}", req.id()))?,
            Err(RecvTimeoutError::Timeout) => {}
            Err(e) => return Err(format!("receiving a request: {e}")),
        }
    }
    let stats = server.stats();
    println!("served {} {}", stats.requests, stats.dropped_replies);
    Ok(())
}

fn call_load(args: &Args) -> Outcome {
    let service = Service::builder(&args.queue)
        .wait_strategy(args.wait(WaitStrategy::default())?)
        .open()
        .map_err(|e| format!("opening service: {e}"))?;
    let slot_size = args.num_or("slot_size", 64)? as usize;
    let slots = args.num_or("slots", 64)? as usize;
    let capacity = (slots - 1) * slot_size - support::RECORD_HEADER;
    let max = args.num_or("max", 3 * capacity as u64)? as usize;
    let stream = Stream::new(args.num("seed")?, slot_size, slots, max);
    let count = args.num("count")?;
    let window = args.num_or("window", 8)? as usize;
    let exit_on_death = args.get("on_died") == Some("exit");
    let mut client = service
        .client()
        .map_err(|e| format!("attaching client: {e}"))?;
    let _ = support::pool();
    println!("attached {}", client.lane());
    let mut ids: HashMap<RequestId, u64> = HashMap::new();
    let (mut sent, mut ok, mut failed) = (0u64, 0u64, 0u64);
    let mut server_gone = false;
    loop {
        while !server_gone && sent < count && client.in_flight() < window {
            match client.send_request(&stream.message(sent)) {
                Ok(id) => {
                    ids.insert(id, sent);
                    sent += 1;
                }
                Err(CallError::Disconnected) if exit_on_death => server_gone = true,
                Err(e) => return Err(format!("sending request {sent}: {e}")),
            }
        }
        match client.recv_reply() {
            Ok((id, reply)) => {
                let seq = ids
                    .remove(&id)
                    .ok_or_else(|| format!("a reply for {id}, which is not in flight"))?;
                let (body, len) = reply
                    .split_at_checked(reply.len().saturating_sub(8))
                    .ok_or("short reply")?;
                let request: Vec<u8> = body.iter().rev().copied().collect();
                stream
                    .check(seq, &request)
                    .map_err(|e| format!("reply to {id}: {e}"))?;
                if len != (request.len() as u64).to_le_bytes() {
                    return Err(format!("reply to {id}: wrong length field"));
                }
                ok += 1;
                if ok == 50 {
                    println!("running");
                }
            }
            Err(CallError::ServerDied(id)) if exit_on_death => {
                ids.remove(&id)
                    .ok_or_else(|| format!("ServerDied for {id}, which is not in flight"))?;
                failed += 1;
                server_gone = true;
            }
            Err(CallError::NothingPending) => break,
            Err(e) => return Err(format!("after {ok} replies: {e}")),
        }
    }
    if !ids.is_empty() {
        return Err(format!("{} requests never answered", ids.len()));
    }
    if server_gone {
        println!("died {ok} {failed}");
    } else {
        println!("done {ok}");
        if ok != count {
            return Err(format!("{ok} replies for {count} calls"));
        }
    }
    Ok(())
}

fn open_semaphore(args: &Args) -> Result<shmq::Semaphore, String> {
    shmq::Semaphore::open(&args.queue).map_err(|e| format!("opening semaphore: {e}"))
}

fn sem_hold(args: &Args) -> Outcome {
    let sem = open_semaphore(args)?;
    let n = args.num_or("permits", 1)?;
    let permits: Vec<_> = (0..n).map(|_| sem.acquire()).collect();
    println!("held {n}");
    hold_until_stdin_closes();
    drop(permits);
    println!("released");
    Ok(())
}

fn sem_acquire(args: &Args) -> Outcome {
    let sem = open_semaphore(args)?;
    println!("waiting");
    let permit = match args.get("timeout_ms_acquire") {
        Some(_) => {
            let ms = args.num("timeout_ms_acquire")?;
            match sem.acquire_timeout(Duration::from_millis(ms)) {
                Ok(permit) => permit,
                Err(_) => {
                    println!("timeout");
                    return Ok(());
                }
            }
        }
        None => sem.acquire(),
    };
    println!("acquired");
    drop(permit);
    Ok(())
}

fn sem_cycle(args: &Args) -> Outcome {
    let sem = open_semaphore(args)?;
    let count = args.num("count")?;
    for i in 0..count {
        let permit = sem.acquire();
        let holders = sem.holders();
        if holders.len() > sem.permits() || !holders.contains(&std::process::id()) {
            return Err(format!(
                "cycle {i}: holders {holders:?} of {}",
                sem.permits()
            ));
        }
        drop(permit);
    }
    println!("cycled {count}");
    Ok(())
}

fn open_barrier(args: &Args) -> Result<shmq::Barrier, String> {
    shmq::Barrier::open(&args.queue).map_err(|e| format!("opening barrier: {e}"))
}

fn barrier_join(args: &Args) -> Outcome {
    let barrier = open_barrier(args)?;
    let member = barrier.join().map_err(|e| format!("joining: {e}"))?;
    println!("joined {}", member.slot());
    hold_until_stdin_closes();
    drop(member);
    Ok(())
}

fn barrier_wait(args: &Args) -> Outcome {
    let barrier = open_barrier(args)?;
    let mut member = barrier.join().map_err(|e| format!("joining: {e}"))?;
    println!("joined {}", member.slot());
    if args.get("expect") == Some("broken") {
        return match member.wait() {
            Err(shmq::BarrierError::Broken { pid }) => {
                println!("broken {pid}");
                Ok(())
            }
            other => Err(format!("expected Broken, the wait ended {other:?}")),
        };
    }
    let mut leaders = 0;
    for round in 0..args.num_or("rounds", 1)? {
        let result = member.wait().map_err(|e| format!("round {round}: {e}"))?;
        if result.is_leader() {
            leaders += 1;
        }
    }
    println!("leaders {leaders}");
    Ok(())
}

fn topic_publish(args: &Args) -> Outcome {
    let topic = args.open_topic()?;
    let stream = args.topic_stream(&topic)?;
    let count = args.num("count")?;
    let start = args.num_or("start", 0)?;
    let mut publisher = topic
        .publisher()
        .map_err(|e| format!("attaching the publisher: {e}"))?;
    if publisher.published() != start {
        return Err(format!(
            "the publisher attached with {} messages published, expected {start}",
            publisher.published()
        ));
    }
    // Built on first use (milliseconds in a debug build): before the
    // announcement, so that a kill timed from it lands while publishing.
    let _ = support::pool();
    if args.get("announce") == Some("1") {
        println!("attached {start}");
    }
    let mut buf = Vec::new();
    let (mut bytes, mut digest) = (0u64, 0u64);
    for seq in start..start + count {
        buf.resize(stream.len(seq), 0);
        stream.fill(seq, &mut buf);
        let sent = if seq % 2 == 0 {
            publisher.send(&buf).map_err(|e| e.to_string())
        } else {
            publisher
                .send_timeout(&buf, Duration::from_secs(60))
                .map_err(|e| e.to_string())
        };
        sent.map_err(|e| format!("seed {:#x}: publishing message {seq}: {e}", stream.seed))?;
        bytes += buf.len() as u64;
        digest = digest_step(digest, seq, &buf);
    }
    if publisher.published() != start + count {
        return Err(format!(
            "published() says {} after messages {start}..{}",
            publisher.published(),
            start + count
        ));
    }
    println!("published {count} {bytes} {digest}");
    if args.get("hold") == Some("1") {
        hold_until_stdin_closes();
    }
    Ok(())
}

/// What one receive of a topic subscriber gave.
enum Got {
    /// A message, checked: the digest with it folded in.
    Message(u64),
    Lagged(u64),
    Disconnected,
}

/// Receives message `seq` (if nothing was missed) through `recv`,
/// `recv_with` or `recv_timeout` (by `how % 3`) and checks it.
fn topic_recv(
    sub: &mut Subscriber,
    stream: &Stream,
    seq: u64,
    digest: u64,
    how: u64,
) -> Result<Got, String> {
    let check = |bytes: &[u8]| {
        stream
            .check(seq, bytes)
            .map(|()| digest_step(digest, seq, bytes))
    };
    let blocking = |r: Result<Result<u64, String>, TopicRecvError>, api: &str| match r {
        Ok(checked) => checked.map(Got::Message),
        Err(TopicRecvError::Lagged(n)) => Ok(Got::Lagged(n)),
        Err(TopicRecvError::Disconnected) => Ok(Got::Disconnected),
        Err(e) => Err(format!("{api} (expecting message {seq}): {e} ({e:?})")),
    };
    match how % 3 {
        0 => blocking(sub.recv().map(|m| check(&m)), "recv"),
        1 => blocking(sub.recv_with(check), "recv_with"),
        _ => match sub.recv_timeout(Duration::from_secs(60)) {
            Ok(m) => check(&m).map(Got::Message),
            Err(TopicRecvTimeoutError::Lagged(n)) => Ok(Got::Lagged(n)),
            Err(TopicRecvTimeoutError::Disconnected) => Ok(Got::Disconnected),
            Err(e) => Err(format!(
                "recv_timeout (expecting message {seq}): {e} ({e:?})"
            )),
        },
    }
}

fn topic_subscribe(args: &Args) -> Outcome {
    let topic = args.open_topic()?;
    let stream = args.topic_stream(&topic)?;
    let count = args.num("count")?;
    let start = args.num_or("start", 0)?;
    let end = start + count;
    let delay = Duration::from_micros(args.num_or("delay_us", 0)?);
    let reconnect = args.get("reconnect") == Some("1");
    let may_lag = topic.is_lossy() || topic.lag_limit().is_some();
    let mut sub = topic
        .subscriber()
        .map_err(|e| format!("attaching a subscriber: {e}"))?;
    let _ = support::pool();
    println!("ready {}", sub.entry());
    let (mut next, mut received, mut missed, mut reports, mut digest) = (start, 0u64, 0, 0, 0);
    let mut disconnects = 0u64;
    let ctx = |next: u64, received: u64, missed: u64| {
        format!(
            "seed {:#x}: at message {next} of {start}..{end} ({received} received, {missed} missed)",
            stream.seed
        )
    };
    while next < end {
        if !delay.is_zero() {
            std::thread::sleep(delay);
        }
        match topic_recv(&mut sub, &stream, next, digest, received + reports)
            .map_err(|e| format!("{}: {e}", ctx(next, received, missed)))?
        {
            Got::Message(d) => {
                digest = d;
                received += 1;
                next += 1;
            }
            Got::Lagged(n) if may_lag => {
                if n == 0 || next + n > end {
                    return Err(format!("{}: Lagged({n})", ctx(next, received, missed)));
                }
                next += n;
                missed += n;
                reports += 1;
            }
            Got::Lagged(n) => {
                return Err(format!(
                    "{}: Lagged({n}) in a strict lossless topic",
                    ctx(next, received, missed)
                ));
            }
            Got::Disconnected if reconnect => {
                // The test replaces the publisher: wait for the next one.
                disconnects += 1;
                std::thread::sleep(Duration::from_millis(2));
            }
            Got::Disconnected => {
                return Err(format!("{}: Disconnected", ctx(next, received, missed)));
            }
        }
    }
    if sub.lagged() != missed {
        return Err(format!(
            "Subscriber::lagged() says {}, the Lagged reports add up to {missed}",
            sub.lagged()
        ));
    }
    match args.get("end").unwrap_or("disconnect") {
        "disconnect" => match sub.recv_timeout(Duration::from_secs(60)) {
            Err(TopicRecvTimeoutError::Disconnected) => {}
            other => {
                return Err(format!(
                    "after messages {start}..{end}: expected Disconnected, got {:?}",
                    other.map(|m| m.len())
                ));
            }
        },
        "none" => {}
        other => return Err(format!("bad end={other}")),
    }
    if disconnects > 0 {
        eprintln!("saw Disconnected {disconnects} times while the publisher was replaced");
    }
    println!("received {received} {missed} {reports} {digest}");
    Ok(())
}

fn topic_hold(args: &Args) -> Outcome {
    let topic = args.open_topic()?;
    let sub = topic
        .subscriber()
        .map_err(|e| format!("attaching a subscriber: {e}"))?;
    println!("ready {}", sub.entry());
    hold_until_stdin_closes();
    drop(sub);
    Ok(())
}
