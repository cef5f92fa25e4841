//! The second process: how the parent starts and supervises it, and what
//! it runs (`shmq bench-peer`, a hidden subcommand of the same binary).
//!
//! For every group of transports measured together (the floor and one
//! transport, see `schedule`) the parent re-executes its own binary
//! ([`std::env::current_exe`]) with the peer's subcommand (`bench-peer`
//! unless [`Bench::peer_subcommand`](crate::Bench::peer_subcommand) says
//! otherwise), then the transports, the message size, the endpoint names
//! and the CPU as options ([`PeerArgs`]), its standard input and output as
//! pipes and its standard error captured. The child:
//!
//! 1. asks the kernel to kill it if the parent dies (`PR_SET_PDEATHSIG`),
//!    then checks the parent is still the one that started it;
//! 2. pins itself to its CPU;
//! 3. opens the parent's endpoints (shared memory, queues, sockets, ...),
//!    in order;
//! 4. writes `ready` on standard output;
//! 5. serves the endpoints in turn, a block on each: echoes messages
//!    (latency) or receives a stream (throughput) until the parent's switch
//!    message, then moves to the next endpoint, until the stop message;
//!    after a stream it writes every block's time on standard output;
//! 6. exits 0, or 1 with the reason on standard error.
//!
//! On the parent's side a [`Peer`] owns the child process: it is killed and
//! reaped if the parent gives up on it for any reason (including a panic),
//! and its standard error is appended to the error that the parent
//! reports. Every wait on either side ends when the other process is gone:
//! blocking reads see end-of-file or `Disconnected`, and the spin loops
//! check [`Liveness`] every few thousand polls.

// The library routes its atomics through a loom facade (clippy.toml bans
// std's elsewhere); this benchmark code is not modelled under loom and
// cannot reach that private facade.
#![allow(clippy::disallowed_types)]

use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use clap::Args;

use super::error::{Context, Error, Result, RunError};
use super::measure::StreamCounts;
use super::transport::{Kind, Mode};
use super::{affinity, schedule};

/// How long the parent waits for a peer to exit after the stop message.
const EXIT_TIMEOUT: Duration = Duration::from_secs(10);

/// Polls between two liveness checks in the spin loops (a few hundred
/// microseconds of spinning).
const LIVENESS_EVERY: u32 = 1 << 14;

/// The options of the peer's subcommand (`shmq bench-peer`), which the
/// parent writes: embed them in the program's command line as the
/// subcommand that [`Bench::peer_subcommand`](crate::Bench::peer_subcommand)
/// names, and hand them to [`Bench::run_peer`](crate::Bench::run_peer).
#[derive(Debug, Args)]
pub struct PeerArgs {
    /// Transports to serve, in the order of the blocks (repeated).
    #[arg(long)]
    pub(crate) transport: Vec<String>,
    /// Latency (echo) or throughput (receive streams).
    #[arg(long, value_enum)]
    pub(crate) mode: Mode,
    /// Message size in bytes.
    #[arg(long)]
    pub(crate) size: usize,
    /// Where to connect, one per --transport: a path, queue name or
    /// address, per transport.
    #[arg(long)]
    pub(crate) endpoint: Vec<String>,
    /// Pid of the parent; the peer exits if it is no longer its parent.
    #[arg(long)]
    pub(crate) parent: u32,
    /// CPU to pin this process to.
    #[arg(long)]
    pub(crate) cpu: Option<usize>,
    /// Throughput, one per --transport: messages of a block received
    /// before the clock starts.
    #[arg(long)]
    pub(crate) warmup: Vec<u64>,
    /// Throughput, one per --transport: messages of a block received with
    /// the clock running.
    #[arg(long)]
    pub(crate) messages: Vec<u64>,
    /// The placement probe's shared memory, served first in every cycle.
    #[arg(long)]
    pub(crate) probe: Option<String>,
}

impl PeerArgs {
    /// Throughput: the block of each transport, in order.
    pub(crate) fn streams(&self) -> Result<Vec<StreamCounts>> {
        if self.warmup.len() != self.transport.len() || self.messages.len() != self.transport.len()
        {
            return Err(Error::new(
                "a stream needs --warmup and --messages for every --transport",
            ));
        }
        Ok(self
            .warmup
            .iter()
            .zip(&self.messages)
            .map(|(&warmup, &messages)| StreamCounts { warmup, messages })
            .collect())
    }
}

/// Whether the other process of the benchmark is still running: for the
/// parent, the peer; for the peer, the parent.
///
/// A transport's endpoint keeps the one it was given, and checks it while
/// it waits for the other process without a system call that would see it
/// gone (a spin loop on shared memory, say); [`spin_until`] does that.
#[derive(Debug, Clone)]
pub struct Liveness(Watch);

#[derive(Debug, Clone)]
enum Watch {
    /// Parent side: set when the child's standard error closes, that is
    /// when it exited.
    Child(Arc<AtomicBool>),
    /// Child side: the pid that started us; if it is no longer our parent,
    /// it died and we were re-parented.
    Parent(u32),
}

impl Liveness {
    /// The child's side: the parent is `pid`.
    pub(crate) fn parent(pid: u32) -> Self {
        Liveness(Watch::Parent(pid))
    }

    /// Whether the other process is alive: a relaxed load for the parent,
    /// a `getppid` system call for the peer, so call it every few thousand
    /// polls rather than on each.
    pub fn peer_alive(&self) -> bool {
        match &self.0 {
            Watch::Child(exited) => !exited.load(Ordering::Relaxed),
            Watch::Parent(pid) => std::os::unix::process::parent_id() == *pid,
        }
    }
}

/// Polls until `poll` returns a value, with a spin-loop hint between polls,
/// and gives up if the other process is gone (checked every 16,384 polls,
/// a few hundred microseconds of spinning).
///
/// # Errors
///
/// "the peer process is gone" once [`Liveness::peer_alive`] says so.
///
/// # Examples
///
/// Waiting for a word in shared memory to change (`word` would be in a
/// mapping both processes share):
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
///
/// use shmq_bench::{Liveness, Result, spin_until};
///
/// fn wait_for_change(word: &AtomicU64, last: u64, live: &Liveness) -> Result<u64> {
///     spin_until(live, || {
///         let now = word.load(Ordering::Acquire);
///         (now != last).then_some(now)
///     })
/// }
/// ```
#[inline(always)]
pub fn spin_until<T>(live: &Liveness, mut poll: impl FnMut() -> Option<T>) -> Result<T> {
    let mut polls: u32 = 0;
    loop {
        if let Some(value) = poll() {
            return Ok(value);
        }
        std::hint::spin_loop();
        polls = polls.wrapping_add(1);
        if polls.is_multiple_of(LIVENESS_EVERY) && !live.peer_alive() {
            return Err(Error::new("the peer process is gone"));
        }
    }
}

/// What the parent needs to start peers.
#[derive(Debug)]
pub struct Spawner {
    exe: PathBuf,
    /// The arguments that make `exe` the peer, before its options.
    subcommand: Vec<OsString>,
    cpu: Option<usize>,
}

impl Spawner {
    /// Peers run this executable with `subcommand`, pinned to `cpu` if
    /// given.
    pub fn new(subcommand: &[OsString], cpu: Option<usize>) -> Result<Self> {
        let exe = std::env::current_exe().context("find the running executable")?;
        Ok(Spawner {
            exe,
            subcommand: subcommand.to_vec(),
            cpu,
        })
    }

    /// Starts a peer for one group of transports, with `endpoints[i]` the
    /// name of `transports[i]`'s endpoint and, for throughput,
    /// `streams[i]` its blocks; `probe` is the placement probe's path.
    pub fn spawn(
        &self,
        transports: &[Kind],
        mode: Mode,
        size: usize,
        endpoints: &[String],
        streams: &[StreamCounts],
        probe: Option<&str>,
    ) -> Result<Peer> {
        let mut command = Command::new(&self.exe);
        command
            .args(&self.subcommand)
            .arg("--mode")
            .arg(mode.name())
            .arg("--size")
            .arg(size.to_string())
            .arg("--parent")
            .arg(std::process::id().to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (transport, endpoint) in transports.iter().zip(endpoints) {
            command
                .arg("--transport")
                .arg(transport.name())
                .arg("--endpoint")
                .arg(endpoint);
        }
        if let Some(cpu) = self.cpu {
            command.arg("--cpu").arg(cpu.to_string());
        }
        if let Some(path) = probe {
            command.arg("--probe").arg(path);
        }
        for StreamCounts { warmup, messages } in streams {
            command
                .arg("--warmup")
                .arg(warmup.to_string())
                .arg("--messages")
                .arg(messages.to_string());
        }
        let mut child = command.spawn().context("start the peer process")?;
        let exited = Arc::new(AtomicBool::new(false));
        let stderr = child.stderr.take().map(|mut pipe| {
            let exited = Arc::clone(&exited);
            std::thread::spawn(move || {
                let mut text = Vec::new();
                let _ = pipe.read_to_end(&mut text);
                exited.store(true, Ordering::Relaxed);
                String::from_utf8_lossy(&text).trim().to_owned()
            })
        });
        Ok(Peer {
            stdin: child.stdin.take(),
            stdout: child.stdout.take(),
            child,
            stderr,
            exited,
            reaped: false,
        })
    }
}

/// A running peer process, killed and reaped when dropped unless it was
/// [`finish`](Peer::finish)ed.
#[derive(Debug)]
pub struct Peer {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Option<ChildStdout>,
    /// Drains the child's standard error; its text once the child exits.
    stderr: Option<JoinHandle<String>>,
    exited: Arc<AtomicBool>,
    reaped: bool,
}

impl Peer {
    /// The peer's liveness, for wait loops.
    pub fn liveness(&self) -> Liveness {
        Liveness(Watch::Child(Arc::clone(&self.exited)))
    }

    /// Waits for the peer's `ready` line (it has opened the endpoint).
    pub fn ready(&mut self) -> Result<()> {
        let line = match self.stdout.as_mut() {
            Some(stdout) => read_line(stdout),
            None => Ok(String::new()),
        };
        match line {
            Ok(line) if line == "ready" => Ok(()),
            Ok(line) if line.is_empty() => {
                Err(self.explain(Error::new("the peer exited during set-up")))
            }
            Ok(line) => Err(self.explain(Error::new(format!("the peer said {line:?}")))),
            Err(e) => Err(self.explain(e.into())),
        }
    }

    /// The child's standard input and output, for the pipe transport.
    pub fn take_pipes(&mut self) -> Result<(ChildStdin, ChildStdout)> {
        match (self.stdin.take(), self.stdout.take()) {
            (Some(stdin), Some(stdout)) => Ok((stdin, stdout)),
            _ => Err(Error::new("the peer's pipes are already taken")),
        }
    }

    /// Waits for the peer to exit (after the stop message) and returns what
    /// it wrote on standard output after `ready`.
    pub fn finish(mut self) -> Result<String> {
        // The pipe transport's peer sees end-of-file; for the others
        // standard input is unused.
        drop(self.stdin.take());
        let deadline = Instant::now() + EXIT_TIMEOUT;
        let status = loop {
            match self.child.try_wait().context("wait for the peer")? {
                Some(status) => break status,
                None if Instant::now() >= deadline => {
                    return Err(self.explain(Error::new("the peer did not exit")));
                }
                None => std::thread::sleep(Duration::from_millis(1)),
            }
        };
        self.reaped = true;
        let mut report = String::new();
        if let Some(mut stdout) = self.stdout.take() {
            stdout
                .read_to_string(&mut report)
                .context("read the peer's report")?;
        }
        let stderr = self.stderr_text();
        if status.success() {
            Ok(report)
        } else {
            Err(with_stderr(
                Error::new(format!("the peer failed ({status})")),
                &stderr,
            ))
        }
    }

    /// `error`, with how the peer ended and its standard error appended;
    /// kills the peer first if it is still running.
    pub fn explain(&mut self, error: Error) -> Error {
        let ended = match self.child.try_wait() {
            Ok(Some(status)) if !self.reaped => {
                self.reaped = true;
                Some(status)
            }
            _ => None,
        };
        self.kill();
        let error = match ended {
            Some(status) => Error::new(format!("{error} (the peer ended: {status})")),
            None => error,
        };
        let stderr = self.stderr_text();
        with_stderr(error, &stderr)
    }

    fn kill(&mut self) {
        if !self.reaped {
            let _ = self.child.kill();
            let _ = self.child.wait();
            self.reaped = true;
        }
    }

    fn stderr_text(&mut self) -> String {
        self.stderr
            .take()
            .and_then(|thread| thread.join().ok())
            .unwrap_or_default()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn with_stderr(error: Error, stderr: &str) -> Error {
    if stderr.is_empty() {
        error
    } else {
        Error::new(format!("{error} ({})", stderr.replace('\n', "; ")))
    }
}

/// Reads one line a byte at a time (so nothing after it is consumed: on
/// the pipe transport the messages follow on the same pipe). Empty at
/// end-of-file.
fn read_line(from: &mut impl Read) -> io::Result<String> {
    let mut line = Vec::new();
    let mut byte = [0u8];
    while from.read(&mut byte)? == 1 && byte[0] != b'\n' {
        line.push(byte[0]);
    }
    Ok(String::from_utf8_lossy(&line).into_owned())
}

/// Our standard output as an unbuffered file (a duplicate of fd 1):
/// `std::io::stdout` buffers until a newline, which binary messages on the
/// pipe transport do not have.
pub fn stdout_file() -> Result<std::fs::File> {
    Ok(io::stdout()
        .as_fd()
        .try_clone_to_owned()
        .context("duplicate standard output")?
        .into())
}

/// Our standard input as a file (a duplicate of fd 0).
pub fn stdin_file() -> Result<std::fs::File> {
    Ok(io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .context("duplicate standard input")?
        .into())
}

/// Tells the parent that the endpoint is open.
pub fn signal_ready() -> Result<()> {
    stdout_file()?
        .write_all(b"ready\n")
        .context("write to the parent")
}

/// `shmq bench-peer`: serves one group of the transports of `kinds` for
/// the parent.
pub fn run_peer(kinds: &[Kind], args: &PeerArgs) -> Result<(), RunError> {
    serve(kinds, args).map_err(|e| RunError::Failed(format!("bench-peer: {e}")))
}

fn serve(kinds: &[Kind], args: &PeerArgs) -> Result<()> {
    // Die with the parent, then make sure it did not die before that.
    rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))
        .context("set the parent-death signal")?;
    let live = Liveness::parent(args.parent);
    if !live.peer_alive() {
        return Err(Error::new("the parent process is gone"));
    }
    if let Some(cpu) = args.cpu {
        affinity::pin_current_thread(cpu).with_context(|| format!("pin to CPU {cpu}"))?;
    }
    schedule::serve(args, kinds, live)
}
