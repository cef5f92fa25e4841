//! The command line: subcommands, options and their value parsers.

use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use shmq::{OpenErrorKind, QueueBuilder, ServiceBuilder, TopicBuilder, WaitStrategy};

use crate::status;

/// Top-level help text listing the exit statuses (the constants in
/// `status`).
const EXIT_STATUS_HELP: &str = concat!(
    "Exit status:\n",
    "  0    success (recv: the sender or publisher detached and every message was\n",
    "       written, or --count messages were written)\n",
    "  1    error (missing queue, end already attached, a call declined, i/o, ...)\n",
    "  2    usage error (unknown option, invalid option value or queue name)\n",
    "  3    recv --timeout, call --timeout: nothing arrived in time\n",
    "  4    the other end's process died (recv: the sender or publisher, after\n",
    "       every message it committed was written; send: the receiver; call:\n",
    "       the server)\n",
    "  141  standard output was closed (broken pipe)",
);

/// Help text of `send`, listing its exit statuses.
const SEND_HELP: &str = concat!(
    "Exit status:\n",
    "  0    all of standard input was sent (--flush: and taken by a receiver,\n",
    "       or by every live subscriber of a topic)\n",
    "  1    error (missing queue with --no-create, a sender or publisher already\n",
    "       attached, the receiver detached, input error, ...)\n",
    "  2    usage error (invalid option value or queue name)\n",
    "  4    the receiver's process died",
);

/// Help text of `recv`, listing its exit statuses.
const RECV_HELP: &str = concat!(
    "Exit status:\n",
    "  0    the sender (publisher) detached and every message it committed was\n",
    "       written, or --count messages were written\n",
    "  1    error (missing queue with --no-create, a receiver already attached,\n",
    "       every subscriber entry of a topic taken, corrupted segment, write\n",
    "       error, ...)\n",
    "  2    usage error (invalid option value or queue name, --from-history on\n",
    "       a queue, --from on a topic)\n",
    "  3    --timeout: no message arrived within the timeout (\"shmq: timed out\")\n",
    "  4    the sender's (publisher's) process died; every message it committed\n",
    "       was written\n",
    "  141  standard output was closed (broken pipe); the messages not yet\n",
    "       written stay in the queue for the next receiver",
);

/// Help text of `serve`, listing its exit statuses.
const SERVE_HELP: &str = concat!(
    "What the caller sees:\n",
    "  CMD exits 0          its standard output is the reply (empty output: an\n",
    "                       empty reply)\n",
    "  CMD fails            (exits non-zero, is killed, cannot be started, or\n",
    "                       writes more than the service carries) the request is\n",
    "                       declined: `shmq call` prints \"the server declined\n",
    "                       request N ...\" and exits 1; serve logs the failure\n",
    "                       on standard error and goes on\n",
    "  serve ends           (SIGINT, SIGTERM) the command running is waited for\n",
    "                       and answered; requests queued and not yet taken are\n",
    "                       declined\n",
    "  serve is killed      (SIGKILL) callers waiting fail with exit status 4\n",
    "                       within about 100 ms\n",
    "\n",
    "Exit status:\n",
    "  0    ended by SIGINT or SIGTERM\n",
    "  1    error (missing service with --no-create, a server already attached,\n",
    "       corrupted segment, ...)\n",
    "  2    usage error (invalid option value or service name)",
);

/// Help text of `call`, listing its exit statuses.
const CALL_HELP: &str = concat!(
    "Exit status:\n",
    "  0    every reply was written\n",
    "  1    error: no such service, every client lane held by a live process,\n",
    "       the request declined (`shmq serve`: the command failed) or refused\n",
    "       (sent to a server since replaced: not processed), the reply dropped\n",
    "       (this caller read too slowly), the server left, input error, ...\n",
    "  2    usage error (invalid option value or service name)\n",
    "  3    --timeout: a reply did not come in time (\"shmq: ... timed out\")\n",
    "  4    the server's process died holding a request: its outcome is unknown\n",
    "  141  standard output was closed (broken pipe)\n",
    "\n",
    "With --framed, call stops at the first request that fails: the replies\n",
    "before it are written, the requests after it are not sent.",
);

/// Message queues between processes over shared memory (/dev/shm).
#[derive(Debug, Parser)]
#[command(name = "shmq", version, after_help = EXIT_STATUS_HELP)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a queue, with --service a service, or with --topic a topic
    /// (fails if it exists).
    ///
    /// A service NAME is a request mailbox NAME with a lane per client and,
    /// made on demand, a reply queue NAME.r<LANE> per client lane; each
    /// lane and each reply queue is a ring of the slot settings given.
    ///
    /// A topic NAME is one ring NAME, of the slot settings given, that one
    /// publisher (`shmq send NAME`) writes each message into once, for
    /// every subscriber (`shmq recv NAME`) to read, and a subscriber table
    /// NAME.subs. Lossless (the default): the publisher waits for the
    /// slowest live subscriber (a dead one is let go within about 100 ms).
    /// Lossy (--lossy): the publisher never waits, and a subscriber that
    /// falls a ring behind misses messages and is told how many.
    Create {
        /// Queue name: 1-64 characters of A-Z a-z 0-9 . _ - not starting with '.'
        /// (a service's name leaves room for ".r<LANE>", a topic's for ".subs").
        name: String,
        /// Create a service (see `shmq serve`, `shmq call`).
        #[arg(long, conflicts_with = "senders")]
        service: bool,
        /// With --service: most clients at a time, 1 to 64. Default 16.
        #[arg(long, value_name = "N", requires = "service", value_parser = parse_senders)]
        clients: Option<u64>,
        /// Create a topic: one publisher, many subscribers (see `shmq send`,
        /// `shmq recv`).
        #[arg(long, conflicts_with_all = ["service", "senders"])]
        topic: bool,
        #[command(flatten)]
        topic_options: TopicOptions,
        #[command(flatten)]
        create: CreateOptions,
    },
    /// Serve a service: run CMD once per request, the request on its
    /// standard input, its standard output the reply.
    ///
    /// Creates the service if it does not exist, unless --no-create, and
    /// attaches as its server (one at a time; a dead one is taken over).
    /// Requests are taken one at a time, from any client, and each
    /// command runs to its end before the next request is taken. CMD's
    /// standard error is serve's. Runs until SIGINT or SIGTERM.
    #[command(after_help = SERVE_HELP)]
    Serve {
        /// Service name.
        name: String,
        /// Fail if the service does not exist instead of creating it.
        #[arg(long)]
        no_create: bool,
        /// How to wait for requests (default: spin briefly, then block).
        #[arg(long, value_enum, value_name = "STRATEGY")]
        wait: Option<Wait>,
        #[command(flatten)]
        service: ServiceOptions,
        /// The command and its arguments, after `--`.
        #[arg(last = true, required = true, value_name = "CMD")]
        command: Vec<std::ffi::OsString>,
    },
    /// Call a service: standard input is the request, the reply goes to
    /// standard output.
    ///
    /// The service must exist (`shmq create NAME --service`, or a running
    /// `shmq serve NAME`). Without a server yet, the request waits for
    /// one. With --framed, standard input is frames (a 4-byte
    /// little-endian length and that many bytes), one request each, and
    /// each reply is written as a frame, in order; the requests are sent
    /// one at a time, each once the previous one's reply is written.
    #[command(after_help = CALL_HELP)]
    Call {
        /// Service name.
        name: String,
        /// Standard input is a sequence of frames, a request each; each
        /// reply is written as a frame.
        #[arg(long)]
        framed: bool,
        /// Give up (exit status 3) when a reply has not come within
        /// DURATION of sending its request: 500ms, 2s, 1.5m, 1h; a plain
        /// number is seconds. The request may still be processed.
        #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
        timeout: Option<Duration>,
        /// How to wait for the server (default: spin briefly, then block).
        #[arg(long, value_enum, value_name = "STRATEGY")]
        wait: Option<Wait>,
    },
    /// Remove queues, topics and the other objects. Processes that have
    /// one open keep using it.
    ///
    /// Warns (and still removes it) if a live process holds an end of a
    /// queue: it keeps the removed queue, and a process that opens the name
    /// afterwards gets a new one. A topic is removed with its subscriber
    /// table (NAME.subs), which is not removed alone.
    Rm {
        /// Queue or topic names.
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// List the queues, topics and other objects on this machine, one name
    /// per line.
    ///
    /// A topic is one name: its subscriber table NAME.subs is not listed
    /// (unless its topic's ring is gone).
    List {
        /// One line per queue with its settings, ends, messages queued and
        /// age, under a header line. A topic's line shows its publisher as
        /// SENDER, "topic, N of M subscribers" as RECEIVER, and the slowest
        /// subscriber's lag (messages it has not taken yet) as QUEUED.
        #[arg(long, short = 'l')]
        long: bool,
    },
    /// Remove the queues nobody uses: no live process holds either end
    /// (each end was never attached, detached, or its process died), and
    /// the queue was created at least --older-than ago. Segments whose
    /// creator died before finishing them count too.
    ///
    /// A topic is removed (with its subscriber table) when no live process
    /// publishes or subscribes; a subscriber table whose topic's ring is
    /// gone (a creator that died in between) once it is --older-than old.
    ///
    /// Prints "removed NAME" (with --dry-run "would remove NAME") for each,
    /// with the number of messages it held (a topic: it published).
    Gc {
        /// Print what would be removed; remove nothing.
        #[arg(long)]
        dry_run: bool,
        /// Only queues created at least DURATION ago (as recv --timeout:
        /// 500ms, 2s, 1.5m, 1h; a plain number is seconds). Keep it longer
        /// than any program of yours takes between creating a queue and
        /// attaching to it.
        #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "1m")]
        older_than: Duration,
        /// Only queues whose names start with PREFIX.
        #[arg(long, value_name = "PREFIX")]
        prefix: Option<String>,
    },
    /// Show a queue's settings, state, attached processes and counters.
    ///
    /// On a topic: its mode (lossless, with its lag limit if any, or
    /// lossy), history, ring, the messages published, the publisher, and a
    /// line per live subscriber: its entry, pid, position in the ring
    /// (slots), lag (messages published it has not taken yet), slots
    /// behind the publisher, messages received and missed.
    ///
    /// On a service (a queue NAME with reply queues NAME.r<LANE>), also
    /// each client lane: the client holding it, the requests sent on it,
    /// those queued (not yet taken by the server), the answers sent back
    /// (replies, declines, refusals) and those not yet read by the client.
    /// "waiting" is requests sent less answers sent: queued, being
    /// processed, or lost (a server that died holding them, a reply
    /// dropped for a slow client). Which requests the server holds
    /// unanswered is known to the server process alone. A service no
    /// client has called yet has no reply queue and shows as a mailbox.
    Stat {
        /// Queue or topic name.
        name: String,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Send standard input to a queue, or publish it to a topic (one
    /// message per line by default).
    ///
    /// Creates the queue if it does not exist, unless --no-create. The
    /// queue stays in /dev/shm after the sender exits, until `shmq rm`.
    ///
    /// On a topic (create --topic) send is its publisher (one at a time):
    /// each message goes to every subscriber attached at that moment, none
    /// is kept for later ones (but the last --history). A lossless topic's
    /// publisher waits while the slowest live subscriber has not made room;
    /// a lossy one's never waits.
    ///
    /// Needs no receiver: messages wait in the queue for one, and send
    /// waits while the queue is full. Fails if the receiver it was sending
    /// to detaches (say a `shmq recv --count` that ended) or dies; the
    /// messages that receiver did not take stay in the queue for the next.
    ///
    /// With --flush, send waits after the last message until a receiver
    /// has taken every message; without a live receiver it waits for one.
    /// On a topic it waits until every live subscriber has (at once
    /// without any, or on a lossy topic).
    #[command(after_help = SEND_HELP)]
    Send {
        /// Queue or topic name.
        name: String,
        #[command(flatten)]
        format: FormatOptions,
        /// After the last message, wait until the receiver has taken every
        /// message (waiting for a receiver if none is attached).
        #[arg(long)]
        flush: bool,
        #[command(flatten)]
        end: EndOptions,
    },
    /// Write messages from a queue, or a topic subscribed to, to standard
    /// output (one per line by default).
    ///
    /// Creates the queue if it does not exist, unless --no-create. Writes
    /// the messages queued, and waits for a sender while none is attached.
    /// Ends when a sender that was attached while recv ran detaches and
    /// every message it sent was written. (A sender that came and went
    /// before recv started does not end it: its messages are written, then
    /// recv waits for the next sender.)
    ///
    /// A message leaves the queue only once it is written to standard
    /// output, so a recv that is killed loses nothing: the next receiver
    /// gets what it had not written, and may repeat the last few it had
    /// (at most 64 KiB of them).
    ///
    /// In the line format each message is followed by "\n"; a message that
    /// itself holds a "\n" is written as it is. Output is flushed after
    /// each batch of messages found waiting (at most about 64 KiB).
    ///
    /// On a topic (create --topic) recv subscribes: it writes every message
    /// published from the moment it joins (with --from-history, first the
    /// last ones the topic kept), and ends as on a queue when the publisher
    /// it has seen leaves. When a lossy topic's publisher overran it, recv
    /// says so on standard error, "shmq: lagged, N messages missed", and
    /// goes on with the oldest message still there. Output is flushed
    /// whenever no message is waiting; what a killed subscriber had not
    /// written is lost to it.
    #[command(after_help = RECV_HELP)]
    Recv {
        /// Queue or topic name.
        name: String,
        #[command(flatten)]
        format: FormatOptions,
        /// Stop after N messages.
        #[arg(long, value_name = "N")]
        count: Option<u64>,
        /// Say who sent each message: in the line format, "PID: " before
        /// it; with --framed, the sender's pid as a 4-byte little-endian
        /// number before each frame's length; not with --raw. On a mailbox
        /// (create --senders) the messages of several senders interleave.
        #[arg(long, conflicts_with_all = ["raw", "from_history"])]
        from: bool,
        /// On a topic created with --history N: start with the last N
        /// messages it kept, then go on with new ones. Only for topics;
        /// never creates anything.
        #[arg(long)]
        from_history: bool,
        /// Give up (exit status 3) when no message arrives within DURATION of
        /// waiting for the next one: 500ms, 2s, 1.5m, 1h; a plain number is seconds.
        #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
        timeout: Option<Duration>,
        #[command(flatten)]
        end: EndOptions,
    },
    /// Benchmark shmq against the hardware floor and the kernel's IPC.
    ///
    /// Two processes (this one and a copy of it), pinned to two CPUs, pass
    /// messages over each transport in turn: a hand-written shared-memory
    /// floor (bare, and with a 16-byte record header as shmq's), shmq with
    /// three wait strategies, a Unix socket, a pipe, TCP loopback and POSIX
    /// message queues. Latency is the round trip (also measured with the
    /// peer left idle before each message), throughput a one-way stream.
    /// Transports are interleaved in rounds, and each is reported as a
    /// ratio to the floor and to the Unix socket of the same round. The default run takes a few minutes; --quick
    /// well under half a minute.
    Bench(shmq_bench::BenchArgs),
    /// The second process of `shmq bench` (internal).
    #[command(hide = true)]
    BenchPeer(shmq_bench::PeerArgs),
}

/// Settings of a new queue; used only when the queue is created.
#[derive(Debug, Args)]
#[command(next_help_heading = "New queue options (used only when creating it)")]
pub struct CreateOptions {
    /// Bytes per slot: a multiple of 64 from 64 to 16M (suffixes K, M, G:
    /// powers of 1024). Default 128.
    #[arg(long, value_name = "BYTES", value_parser = parse_slot_size)]
    slot_size: Option<u64>,
    /// Number of slots: a power of two from 2 to 16M. Default 4096.
    #[arg(long, value_name = "N", value_parser = parse_slots)]
    slots: Option<u64>,
    /// Longest message, at most 1024G (suffixes K, M, G). Default 64M.
    #[arg(long, value_name = "BYTES", value_parser = parse_max_message)]
    max_message: Option<u64>,
    /// Sender lanes: a mailbox that K processes can send to at once, each
    /// on its own lane (1 to 64). Default 1: one sender at a time.
    #[arg(long, value_name = "K", value_parser = parse_senders)]
    senders: Option<u64>,
    /// File mode in octal: 600, 0600 or 0o600. Default 600.
    #[arg(long, value_name = "OCTAL", value_parser = parse_mode)]
    mode: Option<u32>,
}

/// Settings of a new topic (`create --topic`).
#[derive(Debug, Args)]
#[command(next_help_heading = "Topic options (with --topic)")]
pub struct TopicOptions {
    /// Lossy: the publisher never waits; a subscriber that falls more than
    /// a ring behind misses messages, and `recv` says how many on standard
    /// error. Default: lossless (the publisher waits for the slowest live
    /// subscriber).
    #[arg(long, requires = "topic")]
    lossy: bool,
    /// Keep the last N messages for subscribers that join with `recv
    /// --from-history`: fewer than --slots (and as far as the ring holds
    /// them). Default 0.
    #[arg(long, value_name = "N", requires = "topic")]
    history: Option<u64>,
    /// Most subscribers at once, 1 to 64. Default 8.
    #[arg(long, value_name = "N", requires = "topic", value_parser = parse_subscribers)]
    subscribers: Option<u64>,
    /// Lossless topics: a subscriber that holds the publisher up for longer
    /// than DURATION (500ms, 2s, 1.5m; a plain number is seconds) is cut
    /// loose and told how many messages it missed. Default: never.
    #[arg(long, value_name = "DURATION", requires = "topic", value_parser = parse_duration)]
    lag_limit: Option<Duration>,
}

impl CreateOptions {
    /// A builder for `name` carrying these settings.
    pub fn builder(&self, name: &str) -> Result<QueueBuilder, status::Failure> {
        let mut builder = QueueBuilder::new(name);
        if let Some(bytes) = self.slot_size {
            builder = builder.slot_size(to_usize(bytes, "--slot-size")?);
        }
        if let Some(count) = self.slots {
            builder = builder.slots(to_usize(count, "--slots")?);
        }
        if let Some(bytes) = self.max_message {
            builder = builder.max_message_size(bytes);
        }
        if let Some(lanes) = self.senders {
            builder = builder.senders(to_usize(lanes, "--senders")?);
        }
        if let Some(mode) = self.mode {
            builder = builder.mode(mode);
        }
        Ok(builder)
    }

    /// A service builder for `name` carrying these settings and `clients`
    /// client lanes (`senders` is not used).
    pub fn service_builder(
        &self,
        name: &str,
        clients: Option<u64>,
    ) -> Result<ServiceBuilder, status::Failure> {
        let mut builder = ServiceBuilder::new(name);
        if let Some(bytes) = self.slot_size {
            builder = builder.slot_size(to_usize(bytes, "--slot-size")?);
        }
        if let Some(count) = self.slots {
            builder = builder.slots(to_usize(count, "--slots")?);
        }
        if let Some(bytes) = self.max_message {
            builder = builder.max_message_size(bytes);
        }
        if let Some(clients) = clients {
            builder = builder.clients(to_usize(clients, "--clients")?);
        }
        if let Some(mode) = self.mode {
            builder = builder.mode(mode);
        }
        Ok(builder)
    }

    /// A topic builder for `name` carrying these settings and `topic`'s
    /// (`senders` is not used: `create --topic` refuses it).
    pub fn topic_builder(
        &self,
        name: &str,
        topic: &TopicOptions,
    ) -> Result<TopicBuilder, status::Failure> {
        let mut builder = TopicBuilder::new(name).lossy(topic.lossy);
        if let Some(bytes) = self.slot_size {
            builder = builder.slot_size(to_usize(bytes, "--slot-size")?);
        }
        if let Some(count) = self.slots {
            builder = builder.slots(to_usize(count, "--slots")?);
        }
        if let Some(bytes) = self.max_message {
            builder = builder.max_message_size(bytes);
        }
        if let Some(count) = topic.subscribers {
            builder = builder.subscribers(to_usize(count, "--subscribers")?);
        }
        if let Some(count) = topic.history {
            builder = builder.history(to_usize(count, "--history")?);
        }
        if let Some(limit) = topic.lag_limit {
            builder = builder.lag_limit(limit);
        }
        if let Some(mode) = self.mode {
            builder = builder.mode(mode);
        }
        Ok(builder)
    }

    /// Whether a size setting was given (the mode aside).
    fn sizes_given(&self) -> bool {
        self.slot_size.is_some()
            || self.slots.is_some()
            || self.max_message.is_some()
            || self.senders.is_some()
    }

    /// The settings given on the command line that the existing ring
    /// (`slot_size`, `slots`, `max_message`, `senders` lanes) does not
    /// have, as "slot size 64, not 4096" phrases.
    fn differences(
        &self,
        slot_size: usize,
        slots: usize,
        max_message: u64,
        senders: usize,
    ) -> Vec<String> {
        let mut found = Vec::new();
        if let Some(asked) = self.slot_size.filter(|&s| s != slot_size as u64) {
            found.push(format!("slot size {slot_size}, not {asked}"));
        }
        if let Some(asked) = self.slots.filter(|&n| n != slots as u64) {
            found.push(format!("{slots} slots, not {asked}"));
        }
        if let Some(asked) = self.max_message.filter(|&m| m != max_message) {
            found.push(format!("max message size {max_message}, not {asked}"));
        }
        if let Some(asked) = self.senders.filter(|&k| k != senders as u64) {
            found.push(format!("{senders} sender lanes, not {asked}"));
        }
        found
    }
}

fn to_usize(value: u64, what: &str) -> Result<usize, status::Failure> {
    usize::try_from(value)
        .map_err(|_| status::Failure::usage(format!("{what} {value} is too large")))
}

/// Settings of a new service (`serve`); used only when creating it.
#[derive(Debug, Args)]
#[command(next_help_heading = "New service options (used only when creating it)")]
pub struct ServiceOptions {
    /// Most clients at a time, 1 to 64. Default 16.
    #[arg(long, value_name = "N", value_parser = parse_senders)]
    clients: Option<u64>,
    /// Bytes per slot of each request lane and reply queue: a multiple of
    /// 64 from 64 to 16M (suffixes K, M, G). Default 128.
    #[arg(long, value_name = "BYTES", value_parser = parse_slot_size)]
    slot_size: Option<u64>,
    /// Slots per ring: a power of two from 2 to 16M. Default 4096.
    #[arg(long, value_name = "N", value_parser = parse_slots)]
    slots: Option<u64>,
    /// Longest message (a request or reply and its 32-byte header), at
    /// most 1024G (suffixes K, M, G). Default 64M.
    #[arg(long, value_name = "BYTES", value_parser = parse_max_message)]
    max_message: Option<u64>,
    /// File mode in octal: 600, 0600 or 0o600. Default 600.
    #[arg(long, value_name = "OCTAL", value_parser = parse_mode)]
    mode: Option<u32>,
}

impl ServiceOptions {
    /// A service builder for `name` carrying these settings and `wait`.
    pub fn builder(
        &self,
        name: &str,
        wait: Option<WaitStrategy>,
    ) -> Result<ServiceBuilder, status::Failure> {
        let options = CreateOptions {
            slot_size: self.slot_size,
            slots: self.slots,
            max_message: self.max_message,
            senders: None,
            mode: self.mode,
        };
        let builder = options.service_builder(name, self.clients)?;
        Ok(match wait {
            Some(wait) => builder.wait_strategy(wait),
            None => builder,
        })
    }

    /// The settings given that the existing service's mailbox (`stats`)
    /// does not have, as "4 client lanes, not 8" phrases.
    pub fn differences(&self, stats: &shmq::Stats) -> Vec<String> {
        let mut found = Vec::new();
        if let Some(asked) = self.clients.filter(|&k| k != stats.lanes.len() as u64) {
            found.push(format!("{} client lanes, not {asked}", stats.lanes.len()));
        }
        if let Some(asked) = self.slot_size.filter(|&s| s != stats.slot_size as u64) {
            found.push(format!("slot size {}, not {asked}", stats.slot_size));
        }
        if let Some(asked) = self.slots.filter(|&n| n != stats.slot_count as u64) {
            found.push(format!("{} slots, not {asked}", stats.slot_count));
        }
        if let Some(asked) = self.max_message.filter(|&m| m != stats.max_message_size) {
            found.push(format!(
                "max message size {}, not {asked}",
                stats.max_message_size
            ));
        }
        found
    }

    /// Whether a setting was given (the mode and wait aside).
    pub fn sizes_given(&self) -> bool {
        self.clients.is_some()
            || self.slot_size.is_some()
            || self.slots.is_some()
            || self.max_message.is_some()
    }
}

/// `--wait` of `call`: the strategy, if given.
pub fn wait_strategy(wait: Option<Wait>) -> Option<WaitStrategy> {
    wait.map(Wait::strategy)
}

/// How messages are laid out on standard input or output.
#[derive(Debug, Args)]
pub struct FormatOptions {
    /// One message is all of standard input (send), or messages are written
    /// back to back with nothing between them (recv).
    #[arg(long, conflicts_with = "framed")]
    raw: bool,
    /// Each message is a 4-byte little-endian length followed by that many bytes.
    #[arg(long)]
    framed: bool,
}

/// The three formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One message per line; the "\n" is not part of the message.
    Lines,
    /// Bytes as they are.
    Raw,
    /// 4-byte little-endian length, then the bytes.
    Framed,
}

impl FormatOptions {
    /// The chosen format.
    pub fn format(&self) -> Format {
        match (self.raw, self.framed) {
            (true, _) => Format::Raw,
            (_, true) => Format::Framed,
            _ => Format::Lines,
        }
    }
}

/// Options of `send` and `recv`: how to open the queue and how to wait.
#[derive(Debug, Args)]
pub struct EndOptions {
    /// Fail if the queue does not exist instead of creating it.
    #[arg(long)]
    pub no_create: bool,
    /// How to wait for the other end (default: spin briefly, then block).
    #[arg(long, value_enum, value_name = "STRATEGY")]
    wait: Option<Wait>,
    #[command(flatten)]
    pub create: CreateOptions,
}

/// What `send` and `recv` attach to: a queue (or mailbox), or a topic.
#[derive(Debug)]
pub enum Target {
    Queue(shmq::Queue),
    Topic(shmq::Topic),
}

impl EndOptions {
    /// A builder for `name` with the creation settings and wait strategy.
    pub fn builder(&self, name: &str) -> Result<QueueBuilder, status::Failure> {
        let builder = self.create.builder(name)?;
        Ok(match self.wait {
            Some(wait) => builder.wait_strategy(wait.strategy()),
            None => builder,
        })
    }

    /// A builder that opens the existing topic `name` with the wait
    /// strategy.
    pub fn topic_builder(&self, name: &str) -> TopicBuilder {
        let builder = TopicBuilder::new(name);
        match self.wait {
            Some(wait) => builder.wait_strategy(wait.strategy()),
            None => builder,
        }
    }

    /// Opens `name`: the topic of that name if there is one, else the
    /// queue, creating a queue with these settings unless `--no-create`.
    /// Warns (one line on standard error) if it exists with other settings
    /// than the ones given on the command line.
    pub fn open(&self, name: &str) -> Result<Target, status::Failure> {
        let builder = self.builder(name)?;
        let (target, shape) = match self.open_queue(&builder) {
            Ok(queue) => {
                let shape = (
                    queue.slot_size(),
                    queue.slot_count(),
                    queue.max_message_size(),
                    queue.senders(),
                );
                (Target::Queue(queue), shape)
            }
            // A queue's open refuses a topic's ring before it maps more
            // than the header.
            Err(e) if is_topic(&e) => {
                let topic = self
                    .topic_builder(name)
                    .open()
                    .map_err(|e| status::Failure::open_topic(name, e))?;
                let shape = (
                    topic.slot_size(),
                    topic.slot_count(),
                    topic.max_message_size(),
                    1,
                );
                (Target::Topic(topic), shape)
            }
            Err(e) => return Err(status::Failure::open(name, e)),
        };
        let differences = self.create.differences(shape.0, shape.1, shape.2, shape.3);
        if !differences.is_empty() {
            let what = match target {
                Target::Queue(_) => "queue",
                Target::Topic(_) => "topic",
            };
            status::warn(format_args!(
                "{what} {name:?} already exists with {} as requested; its settings are used",
                join_phrases(&differences)
            ));
        }
        Ok(target)
    }

    /// Opens the queue of `builder`, creating it unless `--no-create`.
    fn open_queue(&self, builder: &QueueBuilder) -> Result<shmq::Queue, shmq::OpenError> {
        if self.no_create {
            builder.open()
        } else if self.create.sizes_given() {
            // Creating first lets the library judge the settings (an
            // invalid one is a usage error) whether or not the queue
            // exists: `open_or_create` does not look at them for an
            // existing queue.
            match builder.create() {
                Err(e) if matches!(e.kind(), OpenErrorKind::AlreadyExists) => {
                    builder.open_or_create()
                }
                other => other,
            }
        } else {
            builder.open_or_create()
        }
    }
}

/// Whether `error`, from opening a name as a queue, says it is a topic.
pub fn is_topic(error: &shmq::OpenError) -> bool {
    matches!(error.kind(), OpenErrorKind::WrongKind { found, .. } if *found == "topic")
}

/// "a", "a and b", "a, b, and c": commas between the phrases, which hold
/// commas themselves.
fn join_phrases(phrases: &[String]) -> String {
    match phrases {
        [one] => one.clone(),
        [init @ .., last] => format!("{}, and {last}", init.join(", ")),
        [] => String::new(),
    }
}

/// `--wait` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Wait {
    /// Poll without sleeping: lowest latency, one core busy.
    Spin,
    /// Sleep on a futex at once.
    Block,
    /// Poll briefly, then sleep.
    SpinThenBlock,
}

impl Wait {
    fn strategy(self) -> WaitStrategy {
        match self {
            Wait::Spin => WaitStrategy::Spin,
            Wait::Block => WaitStrategy::Block,
            Wait::SpinThenBlock => WaitStrategy::SpinThenBlock(shmq::DEFAULT_SPIN),
        }
    }
}

// Byte counts and numbers: digits with an optional K, M or G suffix
// (powers of 1024), parsed as `shmq bench` parses them.
use shmq_bench::parse_size;

/// Parses `--senders`: 1 to 64 sender lanes.
fn parse_senders(text: &str) -> Result<u64, String> {
    match text.parse::<u64>() {
        Ok(k) if (1..=shmq::MAX_SENDERS as u64).contains(&k) => Ok(k),
        _ => Err(format!(
            "expected a number of senders from 1 to {}",
            shmq::MAX_SENDERS
        )),
    }
}

/// Parses `--subscribers`: 1 to 64, as `TopicBuilder::subscribers` takes
/// (the library checks again).
fn parse_subscribers(text: &str) -> Result<u64, String> {
    match text.parse::<u64>() {
        Ok(n) if (1..=shmq::MAX_SUBSCRIBERS as u64).contains(&n) => Ok(n),
        _ => Err(format!(
            "expected a number of subscribers from 1 to {}",
            shmq::MAX_SUBSCRIBERS
        )),
    }
}

/// Parses `--slot-size`: a byte count that is a multiple of 64 from 64 to
/// 16M, as `QueueBuilder::slot_size` takes (the library checks again).
fn parse_slot_size(text: &str) -> Result<u64, String> {
    let bytes = parse_size(text)?;
    if !(64..=16 << 20).contains(&bytes) {
        return Err("a slot is 64 bytes to 16M".to_owned());
    }
    if bytes % 64 != 0 {
        return Err("not a multiple of 64".to_owned());
    }
    Ok(bytes)
}

/// Parses `--slots`: a power of two from 2 to 16M, as
/// `QueueBuilder::slots` takes (the library checks again).
fn parse_slots(text: &str) -> Result<u64, String> {
    let count = parse_size(text)?;
    if !count.is_power_of_two() {
        return Err("not a power of two".to_owned());
    }
    if !(2..=1 << 24).contains(&count) {
        return Err("a queue has 2 to 16M slots".to_owned());
    }
    Ok(count)
}

/// Parses `--max-message`: a byte count of at most 1024G, as
/// `QueueBuilder::max_message_size` takes (the library checks again).
fn parse_max_message(text: &str) -> Result<u64, String> {
    let bytes = parse_size(text)?;
    if bytes > 1 << 40 {
        return Err("at most 1024G".to_owned());
    }
    Ok(bytes)
}

/// Parses a file mode in octal: `600`, `0600` or `0o600`.
fn parse_mode(text: &str) -> Result<u32, String> {
    let digits = text
        .strip_prefix("0o")
        .or_else(|| text.strip_prefix("0O"))
        .unwrap_or(text);
    let mode = u32::from_str_radix(digits, 8)
        .ok()
        .filter(|_| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| "expected an octal mode such as 600, 0640 or 0o600".to_owned())?;
    if mode > 0o777 {
        return Err("only permission bits (at most 777) can be set".to_owned());
    }
    Ok(mode)
}

/// Parses a duration: a number (decimals allowed) with an optional unit
/// `ns`, `us`, `ms`, `s`, `m` or `h`; without one, seconds.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let number_end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(number_end);
    let nanos_per_unit = match unit {
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "" | "s" => 1e9,
        "m" | "min" => 60e9,
        "h" => 3600e9,
        _ => return Err(format!("unknown unit {unit:?} (use ms, s, m or h)")),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| "expected a duration such as 500ms, 2s or 1m".to_owned())?;
    let nanos = (value * nanos_per_unit).round();
    // `value` is finite and not negative (digits and '.' only). `u64::MAX as
    // f64` is 2^64, just out of range, so below it the cast is exact.
    if nanos >= u64::MAX as f64 {
        return Err("duration too long".to_owned());
    }
    Ok(Duration::from_nanos(nanos as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("64K"), Ok(64 << 10));
        assert_eq!(parse_size("1MiB"), Ok(1 << 20));
        assert_eq!(parse_size("2g"), Ok(2 << 30));
        assert!(parse_size("").is_err());
        assert!(parse_size("-1").is_err());
        assert!(parse_size("1T").is_err());
        assert!(parse_size("99999999999999999999").is_err());
        assert!(parse_size("99999999999G").is_err());
    }

    #[test]
    fn queue_settings() {
        assert_eq!(parse_slot_size("64"), Ok(64));
        assert_eq!(parse_slot_size("16M"), Ok(16 << 20));
        assert!(parse_slot_size("100").is_err());
        assert!(parse_slot_size("0").is_err());
        assert!(parse_slot_size("32M").is_err());
        assert_eq!(parse_slots("2"), Ok(2));
        assert_eq!(parse_slots("16M"), Ok(1 << 24));
        assert!(parse_slots("3").is_err());
        assert!(parse_slots("1").is_err());
        assert!(parse_slots("0").is_err());
        assert!(parse_slots("32M").is_err());
        assert_eq!(parse_max_message("0"), Ok(0));
        assert_eq!(parse_max_message("1024G"), Ok(1 << 40));
        assert!(parse_max_message("1025G").is_err());
        assert_eq!(parse_subscribers("1"), Ok(1));
        assert_eq!(parse_subscribers("64"), Ok(64));
        assert!(parse_subscribers("0").is_err());
        assert!(parse_subscribers("65").is_err());
        assert!(parse_subscribers("many").is_err());
    }

    #[test]
    fn modes() {
        assert_eq!(parse_mode("600"), Ok(0o600));
        assert_eq!(parse_mode("0640"), Ok(0o640));
        assert_eq!(parse_mode("0o644"), Ok(0o644));
        assert_eq!(parse_mode("0"), Ok(0));
        assert!(parse_mode("").is_err());
        assert!(parse_mode("0o").is_err());
        assert!(parse_mode("680").is_err());
        assert!(parse_mode("+600").is_err());
        assert!(parse_mode("1777").is_err());
        assert!(parse_mode("rw").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("1.2.3").is_err());
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("1e999").is_err());
    }
}
