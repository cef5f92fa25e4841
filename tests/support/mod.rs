//! Shared by the cross-process tests and by the `shmq-peer` helper binary
//! (which includes this file with `#[path = "mod.rs"]`).
//!
//! - [`Rng`], [`mix64`], [`hash64`]: a deterministic PRNG (splitmix64) and a
//!   64-bit hash, so both processes can generate and check the same data.
//! - [`Stream`]: a self-checking message stream. Message `seq` has a length
//!   and content that follow from `(seed, seq)` alone; each message of 24
//!   bytes or more starts with a header `{seq: u64, len: u64, hash: u64}`
//!   (little-endian, `hash` over the rest), and its body is a slice of a
//!   pseudo-random [`pool`]. A shorter message is the first `len` bytes of
//!   that header. A receiver that knows the seed checks every byte.
//! - [`send_one`] / [`recv_one`]: send through `send` or `reserve`/`commit`,
//!   receive through `recv`, `recv_into` or `recv_with`, by sequence number.
//! - [`digest_step`]: a digest of a sequence of received messages.
//! - Test side only: [`unique_name`], [`TempQueue`] (removes the queue on
//!   drop), [`TempTopic`] (removes the topic on drop), [`Peer`] (a spawned
//!   `shmq-peer`, killed on drop), [`background`] and [`within`] (a
//!   blocking call with a time limit), [`wait_for`] (a polling loop with a
//!   time limit), [`serial`] (one heavy test at a time).
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use shmq::{Queue, Receiver, SendError, Sender};

// ---------------------------------------------------------------------------
// Deterministic randomness

/// The splitmix64 finaliser: a bijective 64-bit mix.
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// splitmix64.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(GOLDEN);
        mix64(self.0)
    }

    /// Uniform in `0..=max`.
    pub fn upto(&mut self, max: usize) -> usize {
        (self.next_u64() % (max as u64 + 1)) as usize
    }
}

/// The seed for a test run: `SHMQ_TEST_SEED` if set, else fresh. Tests print
/// it, and put it in every failure message, so a failure can be replayed.
pub fn test_seed() -> u64 {
    if let Ok(s) = std::env::var("SHMQ_TEST_SEED") {
        let s = s.trim();
        let parsed = match s.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16),
            None => s.parse(),
        };
        return parsed.unwrap_or_else(|_| panic!("bad SHMQ_TEST_SEED {s:?}"));
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    mix64(nanos ^ (u64::from(std::process::id()) << 32) ^ next_counter())
}

/// A 64-bit hash of `bytes` keyed by `key` (four multiply-rotate lanes over
/// 32-byte blocks, then the splitmix finaliser). Not cryptographic; any
/// changed, missing or moved byte changes it with overwhelming probability.
pub fn hash64(key: u64, bytes: &[u8]) -> u64 {
    const P: u64 = 0xC2B2_AE3D_27D4_EB4F;
    let mut lanes = [
        key ^ 0x243F_6A88_85A3_08D3,
        key ^ 0x1319_8A2E_0370_7344,
        key ^ 0xA409_3822_299F_31D0,
        key ^ 0x082E_FA98_EC4E_6C89,
    ];
    let mut blocks = bytes.chunks_exact(32);
    for block in &mut blocks {
        for (lane, word) in lanes.iter_mut().zip(block.chunks_exact(8)) {
            let w = u64::from_le_bytes(word.try_into().unwrap());
            *lane = (*lane ^ w).wrapping_mul(P).rotate_left(31);
        }
    }
    let mut tail = [0u8; 32];
    let rest = blocks.remainder();
    tail[..rest.len()].copy_from_slice(rest);
    for (lane, word) in lanes.iter_mut().zip(tail.chunks_exact(8)) {
        let w = u64::from_le_bytes(word.try_into().unwrap());
        *lane = (*lane ^ w).wrapping_mul(P).rotate_left(31);
    }
    let mut h = bytes.len() as u64;
    for lane in lanes {
        h = mix64(h ^ lane);
    }
    h
}

/// Bytes of pseudo-random data that message bodies are cut from.
pub const POOL_LEN: usize = 4 << 20;

/// The shared pool: the same bytes in every process.
pub fn pool() -> &'static [u8] {
    static POOL: OnceLock<Vec<u8>> = OnceLock::new();
    POOL.get_or_init(|| {
        let mut rng = Rng::new(0x5EED_0F5A_3ED0_0001);
        let mut v = Vec::with_capacity(POOL_LEN);
        while v.len() < POOL_LEN {
            v.extend_from_slice(&rng.next_u64().to_le_bytes());
        }
        v
    })
}

// ---------------------------------------------------------------------------
// The self-checking message stream

/// Size of the header at the start of every stream message of at least
/// this many bytes.
pub const MSG_HEADER: usize = 24;

/// Size of a shmq record header.
pub const RECORD_HEADER: usize = 16;

/// A deterministic stream of messages; see the module docs.
#[derive(Debug, Clone)]
pub struct Stream {
    pub seed: u64,
    /// Longest message (but for the rare ones, see
    /// [`with_rare`](Self::with_rare)).
    pub max: usize,
    slot_size: usize,
    edges: Vec<usize>,
    /// Every `.0`-th message is longer than `max`, up to `.1` bytes.
    rare: Option<(u64, usize)>,
}

impl Stream {
    /// The stream for a ring of `slot_count` slots of `slot_size` bytes,
    /// messages up to `max` bytes. Every fourth message has an edge size
    /// (see [`edges`](Self::edges)), cycling through them; the others are
    /// mostly small, some log-uniform up to `max`, a few uniform up to `max`.
    pub fn new(seed: u64, slot_size: usize, slot_count: usize, max: usize) -> Self {
        assert!(
            max + MSG_HEADER <= POOL_LEN,
            "max {max} too large for the pool"
        );
        // The sender keeps one slot free (see the layout docs).
        let capacity = (slot_count - 1) * slot_size - RECORD_HEADER;
        let fragment = (slot_count / 2).max(1) * slot_size - RECORD_HEADER;
        let mut edges = vec![
            0,
            1,
            MSG_HEADER - 1,
            MSG_HEADER,
            MSG_HEADER + 1,
            slot_size - RECORD_HEADER - 1,
            slot_size - RECORD_HEADER, // fills exactly one slot
            slot_size - RECORD_HEADER + 1,
            slot_size - 1,
            slot_size,
            slot_size + 1,
            capacity - 1,
            capacity, // the whole ring but one slot, in one record
            capacity + 1,
            2 * fragment,
            3 * fragment,
            3 * fragment + 1,
            3 * capacity,
            max,
        ];
        edges.retain(|&e| e <= max);
        edges.sort_unstable();
        edges.dedup();
        Stream {
            seed,
            max,
            slot_size,
            edges,
            rare: None,
        }
    }

    /// The same stream but for message `seq` with `seq % every == every -
    /// 1`, which is longer than `max`: uniform in `max + 1..=up_to` bytes.
    pub fn with_rare(mut self, every: u64, up_to: usize) -> Self {
        assert!(every > 0 && up_to > self.max, "bad rare sizes");
        assert!(
            up_to + MSG_HEADER <= POOL_LEN,
            "rare size {up_to} too large for the pool"
        );
        self.rare = Some((every, up_to));
        self
    }

    /// The stream for `topic` with messages up to `max` (see
    /// [`Stream::new`]).
    pub fn for_topic(seed: u64, topic: &shmq::Topic, max: usize) -> Self {
        Stream::new(seed, topic.slot_size(), topic.slot_count(), max)
    }

    /// The stream for `queue` with messages up to `max` (default: three
    /// times its capacity).
    pub fn for_queue(seed: u64, queue: &Queue, max: Option<usize>) -> Self {
        Stream::new(
            seed,
            queue.slot_size(),
            queue.slot_count(),
            max.unwrap_or(3 * queue.capacity()),
        )
    }

    /// The edge sizes this stream cycles through.
    pub fn edges(&self) -> &[usize] {
        &self.edges
    }

    fn key(&self, seq: u64) -> u64 {
        mix64(self.seed ^ seq.wrapping_mul(GOLDEN))
    }

    /// Length of message `seq`.
    pub fn len(&self, seq: u64) -> usize {
        if let Some((every, up_to)) = self.rare {
            if seq % every == every - 1 {
                let mut rng = Rng::new(self.key(seq) ^ 0x4A4E);
                return self.max + 1 + rng.upto(up_to - self.max - 1);
            }
        }
        if seq % 4 == 0 {
            return self.edges[(seq / 4) as usize % self.edges.len()];
        }
        let mut rng = Rng::new(self.key(seq));
        match rng.next_u64() % 16 {
            // Small: up to two slots.
            0..=10 => rng.upto(self.max.min(2 * self.slot_size)),
            // Log-uniform over the whole range.
            11..=14 => {
                let bits = 64 - (self.max as u64).leading_zeros();
                let b = rng.upto(bits as usize) as u32;
                let top = if b >= 64 { u64::MAX } else { (1u64 << b) - 1 };
                (rng.next_u64() & top).min(self.max as u64) as usize
            }
            // Uniform over the whole range.
            _ => rng.upto(self.max),
        }
    }

    /// Total bytes of messages `0..count`.
    pub fn total_bytes(&self, count: u64) -> u64 {
        (0..count).map(|s| self.len(s) as u64).sum()
    }

    fn header(&self, seq: u64, len: usize) -> ([u8; MSG_HEADER], &'static [u8]) {
        let body = self.body(seq, len);
        let hash = hash64(self.key(seq) ^ len as u64, body);
        let mut h = [0u8; MSG_HEADER];
        h[0..8].copy_from_slice(&seq.to_le_bytes());
        h[8..16].copy_from_slice(&(len as u64).to_le_bytes());
        h[16..24].copy_from_slice(&hash.to_le_bytes());
        (h, body)
    }

    /// The body (after the header) of message `seq` of length `len`.
    fn body(&self, seq: u64, len: usize) -> &'static [u8] {
        let body_len = len.saturating_sub(MSG_HEADER);
        let room = (POOL_LEN - body_len) as u64;
        let offset = (mix64(self.key(seq) ^ 0xB0D1) % room) as usize;
        &pool()[offset..offset + body_len]
    }

    /// Writes message `seq` into `out`, which must be exactly
    /// [`len(seq)`](Self::len) bytes.
    pub fn fill(&self, seq: u64, out: &mut [u8]) {
        let len = out.len();
        assert_eq!(
            len,
            self.len(seq),
            "fill: wrong buffer length for seq {seq}"
        );
        let (h, body) = self.header(seq, len);
        if len < MSG_HEADER {
            out.copy_from_slice(&h[..len]);
        } else {
            out[..MSG_HEADER].copy_from_slice(&h);
            out[MSG_HEADER..].copy_from_slice(body);
        }
    }

    /// Message `seq` as a new vector.
    pub fn message(&self, seq: u64) -> Vec<u8> {
        let mut v = vec![0; self.len(seq)];
        self.fill(seq, &mut v);
        v
    }

    /// Checks that `msg` is message `seq`: its length, its header (sequence
    /// number, length, hash, and the hash recomputed over the received
    /// body), and every byte against the expected body.
    pub fn check(&self, seq: u64, msg: &[u8]) -> Result<(), String> {
        let len = self.len(seq);
        let ctx = || format!("seed {:#x}, message {seq}", self.seed);
        if msg.len() != len {
            let got_seq =
                (msg.len() >= 8).then(|| u64::from_le_bytes(msg[..8].try_into().unwrap()));
            return Err(format!(
                "{}: length {} where {len} was expected (its first 8 bytes as a sequence number: {got_seq:?})",
                ctx(),
                msg.len()
            ));
        }
        let (h, body) = self.header(seq, len);
        if len < MSG_HEADER {
            if msg != &h[..len] {
                return Err(format!(
                    "{}: short message {msg:02x?} != {:02x?}",
                    ctx(),
                    &h[..len]
                ));
            }
            return Ok(());
        }
        let field = |i: usize| u64::from_le_bytes(msg[i * 8..i * 8 + 8].try_into().unwrap());
        if field(0) != seq {
            return Err(format!(
                "{}: carries sequence number {} (out of order, lost or duplicated)",
                ctx(),
                field(0)
            ));
        }
        if field(1) != len as u64 {
            return Err(format!(
                "{}: header says length {}, received {len}",
                ctx(),
                field(1)
            ));
        }
        let received_body = &msg[MSG_HEADER..];
        let hash = hash64(self.key(seq) ^ len as u64, received_body);
        if field(2) != hash {
            return Err(format!(
                "{}: checksum {:#018x} in the header, {hash:#018x} computed over the body{}",
                ctx(),
                field(2),
                first_difference(received_body, body)
            ));
        }
        if h[..] != msg[..MSG_HEADER] || received_body != body {
            return Err(format!(
                "{}: content differs from what was sent{}",
                ctx(),
                first_difference(received_body, body)
            ));
        }
        Ok(())
    }
}

fn first_difference(got: &[u8], want: &[u8]) -> String {
    match got.iter().zip(want).position(|(a, b)| a != b) {
        Some(i) => format!(
            " (first difference at body byte {i} of {}: {:#04x} != {:#04x})",
            want.len(),
            got[i],
            want[i]
        ),
        None => String::new(),
    }
}

/// Sends message `seq` of `stream`: through `reserve`/`commit` for odd
/// `seq` when it fits the ring, else through `send`. Returns its length.
pub fn send_one(
    tx: &mut Sender,
    stream: &Stream,
    seq: u64,
    buf: &mut Vec<u8>,
) -> Result<usize, SendError> {
    let len = stream.len(seq);
    if seq % 2 == 1 && len <= tx.capacity() {
        let mut guard = tx.reserve(len)?;
        stream.fill(seq, &mut guard);
        guard.commit();
    } else {
        buf.resize(len, 0);
        stream.fill(seq, buf);
        tx.send(buf)?;
    }
    Ok(len)
}

/// Receives and checks message `seq` of `stream`, through `recv`,
/// `recv_into` or `recv_with` (in place) by `seq % 3`. Returns its length.
pub fn recv_one(
    rx: &mut Receiver,
    stream: &Stream,
    seq: u64,
    buf: &mut Vec<u8>,
) -> Result<usize, String> {
    let err = |api: &str, e: shmq::RecvError| {
        format!(
            "seed {:#x}, message {seq}: {api} failed: {e} ({e:?})",
            stream.seed
        )
    };
    match seq % 3 {
        0 => {
            let msg = rx.recv().map_err(|e| err("recv", e))?;
            stream.check(seq, &msg)?;
            Ok(msg.len())
        }
        1 => {
            buf.extend_from_slice(b"stale bytes recv_into must clear");
            let n = rx.recv_into(buf).map_err(|e| err("recv_into", e))?;
            if n != buf.len() {
                return Err(format!("recv_into returned {n} but filled {}", buf.len()));
            }
            stream.check(seq, buf)?;
            Ok(n)
        }
        _ => rx
            .recv_with(|bytes| stream.check(seq, bytes).map(|()| bytes.len()))
            .map_err(|e| err("recv_with", e))?,
    }
}

// ---------------------------------------------------------------------------
// Test-side utilities

fn next_counter() -> u64 {
    static COUNTER: Mutex<u64> = Mutex::new(0);
    let mut c = COUNTER.lock().unwrap_or_else(|e| e.into_inner());
    *c += 1;
    *c
}

/// A queue name unique to this process and call: `shmqt-<tag>-<pid>-<n>`.
pub fn unique_name(tag: &str) -> String {
    let name = format!("shmqt-{tag}-{}-{}", std::process::id(), next_counter());
    assert!(name.len() <= shmq::MAX_NAME_LEN, "name {name} too long");
    name
}

/// Removes the named queue when dropped, even when the test panics.
#[derive(Debug)]
pub struct TempQueue {
    pub name: String,
}

impl TempQueue {
    /// Path of the segment file.
    pub fn path(&self) -> String {
        format!("/dev/shm/shmq.{}", self.name)
    }
}

impl Drop for TempQueue {
    fn drop(&mut self) {
        let _ = Queue::remove(&self.name);
    }
}

/// Removes the named topic (its ring and its subscriber table) when
/// dropped, even when the test panics.
#[derive(Debug)]
pub struct TempTopic {
    pub name: String,
}

impl TempTopic {
    /// A fresh unique topic name, removed on drop.
    pub fn new(tag: &str) -> TempTopic {
        TempTopic {
            name: unique_name(tag),
        }
    }

    /// Paths of the ring and of the subscriber table.
    pub fn paths(&self) -> [String; 2] {
        [
            format!("/dev/shm/shmq.{}", self.name),
            format!("/dev/shm/shmq.{}.subs", self.name),
        ]
    }
}

impl Drop for TempTopic {
    fn drop(&mut self) {
        let _ = shmq::Topic::remove(&self.name);
        // Whatever is left (a test that broke the ring's header, say).
        for path in self.paths() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// One step of the digest of a received message sequence: folds in the
/// message's number, its length and its first 24 bytes (for a stream
/// message of 24 bytes or more, its header: number, length and checksum
/// of the body, which [`Stream::check`] verifies), so two sequences of
/// checked messages have the same digest only if they hold the same
/// messages in the same order.
pub fn digest_step(digest: u64, seq: u64, msg: &[u8]) -> u64 {
    let mut head = [0u8; MSG_HEADER];
    let n = msg.len().min(MSG_HEADER);
    head[..n].copy_from_slice(&msg[..n]);
    let mut d = mix64(digest ^ seq.wrapping_mul(GOLDEN) ^ ((msg.len() as u64) << 40));
    for word in head.chunks_exact(8) {
        d = mix64(d ^ u64::from_le_bytes(word.try_into().unwrap()));
    }
    d
}

/// Creates a fresh queue named after `tag` with these settings.
pub fn create_queue(tag: &str, slot_size: usize, slots: usize, max: u64) -> (TempQueue, Queue) {
    let name = unique_name(tag);
    let queue = Queue::builder(&name)
        .slot_size(slot_size)
        .slots(slots)
        .max_message_size(max)
        .create()
        .unwrap_or_else(|e| panic!("creating queue {name}: {e}"));
    (TempQueue { name }, queue)
}

/// One heavy test at a time within a test binary (the machine has two
/// cores; two peers spinning at once would measure the scheduler).
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Path of the helper binary (only set when building integration tests).
pub fn peer_exe() -> &'static str {
    // `option_env!`: this file is also compiled into the peer itself, where
    // the variable is not set.
    match option_env!("CARGO_BIN_EXE_shmq-peer") {
        Some(path) => path,
        None => panic!("CARGO_BIN_EXE_shmq-peer is only set when building tests"),
    }
}

/// A running `shmq-peer`. Dropping it kills and reaps the process.
#[derive(Debug)]
pub struct Peer {
    child: Child,
    pid: u32,
    /// Set once the process has been reaped.
    status: Option<ExitStatus>,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    what: String,
}

impl Peer {
    /// Starts `shmq-peer args...`, capturing its output.
    pub fn spawn(args: &[&str]) -> Peer {
        Peer::spawn_under(&[], args)
    }

    /// Starts `shmq-peer` with `args` under a wrapper command (`wrapper[0]`
    /// with the rest of `wrapper` as its first arguments, e.g. valgrind);
    /// an empty `wrapper` runs the peer directly.
    pub fn spawn_under(wrapper: &[&str], args: &[&str]) -> Peer {
        let what = format!("{} shmq-peer {}", wrapper.join(" "), args.join(" "));
        let mut command = match wrapper.split_first() {
            Some((program, rest)) => {
                let mut command = Command::new(program);
                command.args(rest).arg(peer_exe());
                command
            }
            None => Command::new(peer_exe()),
        };
        let mut child = command
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {what}: {e}"));
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, lines) = mpsc::channel();
        let out = child.stdout.take().unwrap();
        let all = Arc::clone(&stdout);
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                all.lock().unwrap().push_str(&line);
                all.lock().unwrap().push('\n');
                let _ = tx.send(line);
            }
        });
        let mut err = child.stderr.take().unwrap();
        let all = Arc::clone(&stderr);
        std::thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            while let Ok(n @ 1..) = err.read(&mut chunk) {
                all.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&chunk[..n]));
            }
        });
        Peer {
            pid: child.id(),
            stdin: child.stdin.take(),
            child,
            status: None,
            lines,
            stdout,
            stderr,
            what,
        }
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Closes the peer's stdin (scenarios that hold until it closes then
    /// finish).
    pub fn close_stdin(&mut self) {
        drop(self.stdin.take());
    }

    /// What the peer wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// The exit status if the process has ended (reaping it), else `None`.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self
                .child
                .try_wait()
                .unwrap_or_else(|e| panic!("{}: wait failed: {e}", self.what));
        }
        self.status
    }

    /// Panics, with what the peer said, if it has ended unsuccessfully.
    pub fn check_not_failed(&mut self) {
        if let Some(status) = self.exited() {
            if !status.success() {
                // Give the reader thread a moment to collect the last words.
                std::thread::sleep(Duration::from_millis(50));
                panic!(
                    "{} failed with {status}; stderr: {}",
                    self.what,
                    self.stderr()
                );
            }
        }
    }

    /// Waits for the next line of the peer's stdout and checks that it starts
    /// with `prefix`.
    pub fn expect_line(&mut self, prefix: &str, limit: Duration) -> String {
        match self.lines.recv_timeout(limit) {
            Ok(line) if line.starts_with(prefix) => line,
            Ok(line) => panic!(
                "{}: printed {line:?}, expected {prefix:?}...; stderr: {}",
                self.what,
                self.stderr()
            ),
            Err(e) => {
                let status = self.exited();
                panic!(
                    "{}: no line {prefix:?} within {limit:?} ({e:?}, exit status {status:?}); \
                     stderr: {}",
                    self.what,
                    self.stderr()
                )
            }
        }
    }

    /// Sends SIGKILL. Returns the instant just before the signal was sent.
    pub fn kill(&mut self) -> Instant {
        assert!(
            self.exited().is_none(),
            "{}: exited before the kill",
            self.what
        );
        let at = Instant::now();
        self.child
            .kill()
            .unwrap_or_else(|e| panic!("killing {}: {e}", self.what));
        at
    }

    /// Waits for the process to end, at most `limit` (then kills it and
    /// panics). Returns its status.
    pub fn wait(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.exited() {
                return status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "{}: still running after {limit:?}; stderr: {}",
                    self.what,
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Waits for the peer to exit successfully (at most `limit`) and returns
    /// what it printed on stdout that [`expect_line`](Self::expect_line) has
    /// not consumed.
    pub fn finish(mut self, limit: Duration) -> String {
        let status = self.wait(limit);
        // The reader thread sees end of file once the process is gone.
        let mut rest = String::new();
        let deadline = Instant::now() + Duration::from_secs(5);
        while let Ok(line) = self
            .lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            rest.push_str(&line);
            rest.push('\n');
        }
        assert!(
            status.success(),
            "{} failed with {status}; stdout: {}; stderr: {}",
            self.what,
            self.stdout.lock().unwrap(),
            self.stderr()
        );
        rest
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        drop(self.stdin.take());
        // No panics here: this also runs while a failed test unwinds.
        if self.status.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A closure running on its own thread, to be joined with a time limit: a
/// blocking call that never returns then fails the test instead of hanging
/// it (the stuck thread is abandoned).
#[derive(Debug)]
pub struct Background<T> {
    done: mpsc::Receiver<std::thread::Result<T>>,
    what: String,
}

/// Runs `f` on a new thread; see [`Background`].
pub fn background<T: Send + 'static>(
    what: impl Into<String>,
    f: impl FnOnce() -> T + Send + 'static,
) -> Background<T> {
    let (tx, done) = mpsc::channel();
    std::thread::spawn(move || {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        let _ = tx.send(result);
    });
    Background {
        done,
        what: what.into(),
    }
}

impl<T> Background<T> {
    /// The closure's result; panics if it panicked or took longer than
    /// `limit` in all.
    pub fn join(self, limit: Duration) -> T {
        match self.done.recv_timeout(limit) {
            Ok(Ok(value)) => value,
            Ok(Err(panic)) => std::panic::resume_unwind(panic),
            Err(_) => panic!("{}: did not finish within {limit:?} (hung?)", self.what),
        }
    }

    /// Like [`join`](Self::join), but also fails as soon as `peer` (the
    /// process on the other end) exits unsuccessfully, with its stderr, and
    /// shows its stderr if the closure panics.
    pub fn join_watching(self, limit: Duration, peer: &mut Peer) -> T {
        let deadline = Instant::now() + limit;
        loop {
            match self.done.recv_timeout(Duration::from_millis(20)) {
                Ok(Ok(value)) => return value,
                Ok(Err(panic)) => {
                    // Often the peer found the problem first: show its side.
                    std::thread::sleep(Duration::from_millis(50));
                    eprintln!("{}: stderr: {}", peer.what, peer.stderr());
                    std::panic::resume_unwind(panic)
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    panic!("{}: thread vanished", self.what)
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    peer.check_not_failed();
                    if Instant::now() >= deadline {
                        panic!(
                            "{}: did not finish within {limit:?} (hung?); {} stderr: {}",
                            self.what,
                            peer.what,
                            peer.stderr()
                        );
                    }
                }
            }
        }
    }
}

/// Runs `f` on another thread and returns its result; fails the test if it
/// has not returned within `limit` (a hang), re-raises its panic.
pub fn within<T: Send + 'static>(
    limit: Duration,
    what: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    background(what, f).join(limit)
}

/// Polls `cond` (yielding between polls) until it holds; panics with
/// `what()` if it does not within `limit`.
pub fn wait_for(limit: Duration, what: impl Fn() -> String, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    let mut polls = 0u32;
    while !cond() {
        polls += 1;
        if polls % 64 == 0 && start.elapsed() > limit {
            panic!("timed out after {limit:?}: {}", what());
        }
        std::thread::yield_now();
    }
}

/// Parses `"<word> <n> <n>..."` printed by the peer into the numbers.
pub fn numbers(line: &str, word: &str) -> Vec<u64> {
    let mut parts = line.split_whitespace();
    assert_eq!(parts.next(), Some(word), "peer printed {line:?}");
    parts
        .map(|p| {
            p.parse()
                .unwrap_or_else(|_| panic!("peer printed {line:?}"))
        })
        .collect()
}

/// A plain-data message for the typed paths (`send_pod` / `recv_pod`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct Tick {
    pub seq: u64,
    pub price: f64,
    pub qty: u32,
    pub venue: u32,
    pub flags: [u8; 8],
}

impl Tick {
    /// The tick number `seq`, every field derived from it.
    pub fn new(seq: u64) -> Tick {
        let r = mix64(seq);
        Tick {
            seq,
            price: 100.0 + (r % 10_000) as f64 / 100.0,
            qty: (r >> 16) as u32,
            venue: seq as u32 ^ 0xA5A5_A5A5,
            flags: (r ^ 0xFF).to_le_bytes(),
        }
    }
}
