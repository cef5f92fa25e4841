//! `shmq create --service`, `shmq serve` and `shmq call`: the two ends of
//! a request/response service ([`shmq::Service`]).
//!
//! `serve` runs a command per request, one request at a time: the request
//! on the command's standard input, its standard output the reply. A
//! command that fails has its request declined
//! ([`shmq::Server::decline`]), so the caller's `call` gets
//! [`CallError::Declined`] and `shmq call` exits 1. SIGINT and SIGTERM
//! end `serve` between requests; dropping its [`shmq::Server`] then
//! declines what it holds unanswered.
//!
//! `call` sends one request per input (all of standard input, or each
//! frame with `--framed`), one at a time, and writes each reply.

use std::ffi::OsString;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitStatus, Stdio};
use std::thread;
use std::time::Duration;

use shmq::{CallError, Client, EndState, OpenErrorKind, Queue, RecvTimeoutError, ReplyError};
use shmq::{Request, Server, ServiceBuilder, WaitStrategy};

use crate::args::{CreateOptions, ServiceOptions};
use crate::send::read_frame;
use crate::status::{self, Failure};

/// How long `serve` waits for a request before it looks for a signal.
const SIGNAL_POLL: Duration = Duration::from_millis(100);

/// Size of the standard input buffer of `call`.
const INPUT_BUFFER: usize = 64 << 10;

/// `shmq create --service`: creates the service's request mailbox,
/// failing if it exists. The reply queues are made as clients come.
pub fn create(name: &str, options: &CreateOptions, clients: Option<u64>) -> Result<(), Failure> {
    options
        .service_builder(name, clients)?
        .create()
        .map_err(|e| Failure::open(name, e))?;
    Ok(())
}

/// `shmq serve`: attaches as the server of `name` (creating the service
/// unless `--no-create`) and answers each request with the output of
/// `command`, until SIGINT or SIGTERM.
pub fn serve(
    name: &str,
    no_create: bool,
    wait: Option<WaitStrategy>,
    options: &ServiceOptions,
    command: &[OsString],
) -> Result<(), Failure> {
    let builder = options.builder(name, wait)?;
    let service = if no_create {
        builder.open()
    } else if options.sizes_given() {
        // As `send`: creating first lets the library judge the settings
        // whether or not the service exists.
        match builder.clone().create() {
            Err(e) if matches!(e.kind(), OpenErrorKind::AlreadyExists) => builder.open_or_create(),
            other => other,
        }
    } else {
        builder.open_or_create()
    }
    .map_err(|e| service_failure(name, e))?;
    if let Ok(stats) = Queue::inspect(name) {
        let differences = options.differences(&stats);
        if !differences.is_empty() {
            status::warn(format_args!(
                "service {name:?} already exists with {}; its settings are used",
                differences.join(", ")
            ));
        }
    }
    let max_reply = usize::try_from(service.max_body_size()).unwrap_or(usize::MAX);
    let mut server = service.server().map_err(|e| match e.kind() {
        OpenErrorKind::AlreadyAttached { pid, .. } => Failure::error(format_args!(
            "service {name:?} already has a server (pid {pid})"
        )),
        _ => Failure::open(name, e),
    })?;
    signals::install()?;
    let program = command[0].to_string_lossy().into_owned();
    while !signals::caught() {
        let request = match server.recv_request_timeout(SIGNAL_POLL) {
            Ok(request) => request,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(e) => return Err(Failure::error(format_args!("service {name:?}: {e}"))),
        };
        let failed = match run_command(command, request.body(), max_reply) {
            Ok(reply) => match server.reply(request.id(), &reply) {
                Ok(()) => None,
                Err(e) => Some(format!("cannot reply: {e}")),
            },
            Err(why) => Some(why),
        };
        if let Some(why) = failed {
            serve_failure(&mut server, name, &program, &request, &why);
        }
    }
    // Dropping the server declines the requests queued and not yet taken.
    Ok(())
}

/// Logs a request that failed (one line on standard error) and declines
/// it if it is still unanswered.
fn serve_failure(server: &mut Server, name: &str, program: &str, request: &Request, why: &str) {
    let client = request
        .client_pid()
        .map_or_else(String::new, |pid| format!(" (client pid {pid})"));
    let declined = match server.decline(request.id()) {
        Ok(()) => "declined".to_owned(),
        // Already answered (a reply that could not be delivered).
        Err(ReplyError::UnknownRequest(_)) => "its reply dropped".to_owned(),
        Err(e) => format!("cannot decline it: {e}"),
    };
    // Nothing better to do if standard error is gone.
    let _ = writeln!(
        io::stderr(),
        "shmq: service {name:?}: {}{client}: {program}: {why}; {declined}",
        request.id()
    );
}

/// Runs `command` with `input` on its standard input; its standard
/// output if it exits 0 having written at most `max` bytes, else why not.
fn run_command(command: &[OsString], input: &[u8], max: usize) -> Result<Vec<u8>, String> {
    let mut child = Command::new(&command[0])
        .args(&command[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start: {e}"))?;
    let (Some(mut stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        return Err("no pipes to the command".to_owned());
    };
    let (wrote, read) = thread::scope(|scope| {
        // Written from a thread: the command may write before it reads.
        let writer = scope.spawn(move || stdin.write_all(input));
        let mut output = Vec::new();
        let read = stdout
            .take(max as u64 + 1)
            .read_to_end(&mut output)
            .map(|_| output);
        if read.as_ref().is_ok_and(|output| output.len() > max) {
            // Too long: stop it rather than read the rest.
            let _ = child.kill();
        }
        (writer.join(), read)
    });
    let status = child
        .wait()
        .map_err(|e| format!("cannot wait for it: {e}"))?;
    let output = read.map_err(|e| format!("cannot read its output: {e}"))?;
    if output.len() > max {
        return Err(format!(
            "its output is longer than the service carries ({max} bytes)"
        ));
    }
    if !status.success() {
        return Err(describe(status));
    }
    match wrote {
        Ok(Ok(())) => {}
        // A command that does not read all of its input is fine.
        Ok(Err(e)) if e.kind() == io::ErrorKind::BrokenPipe => {}
        Ok(Err(e)) => return Err(format!("cannot write the request to it: {e}")),
        Err(_) => return Err("the writer thread panicked".to_owned()),
    }
    Ok(output)
}

/// "exited with status 1", "was killed by signal 9".
fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(signal)) => format!("was killed by signal {signal}"),
        (None, None) => format!("ended with {status}"),
    }
}

/// `shmq call`: sends standard input (with `framed`, each frame) as a
/// request to `name` and writes the reply (each as a frame), one request
/// at a time.
pub fn call(
    name: &str,
    framed: bool,
    timeout: Option<Duration>,
    wait: Option<WaitStrategy>,
) -> Result<(), Failure> {
    let mut builder = ServiceBuilder::new(name);
    if let Some(wait) = wait {
        builder = builder.wait_strategy(wait);
    }
    let service = builder.open().map_err(|e| service_failure(name, e))?;
    let max = service.max_body_size();
    let mut caller = Caller {
        client: service.client().map_err(|e| service_failure(name, e))?,
        name,
        timeout,
    };
    let mut input = BufReader::with_capacity(INPUT_BUFFER, io::stdin().lock());
    let mut out = BufWriter::new(io::stdout().lock());
    if !framed {
        let mut request = Vec::new();
        (&mut input)
            .take(max.saturating_add(1))
            .read_to_end(&mut request)
            .map_err(Failure::stdin)?;
        if request.len() as u64 > max {
            return Err(too_large("standard input", name, max));
        }
        let reply = caller.call(&request)?;
        out.write_all(&reply).map_err(Failure::stdout)?;
        return out.flush().map_err(Failure::stdout);
    }
    let mut request = Vec::new();
    for number in 1u64.. {
        let more = read_frame(&mut input, number, max, &mut request, |len| {
            too_large(format_args!("frame {number} ({len} bytes)"), name, max)
        })?;
        if !more {
            break;
        }
        let reply = caller.call(&request)?;
        let len = u32::try_from(reply.len()).map_err(|_| {
            Failure::error(format_args!(
                "the reply to frame {number} ({} bytes) is too long for a 4-byte frame length",
                reply.len()
            ))
        })?;
        out.write_all(&len.to_le_bytes())
            .and_then(|()| out.write_all(&reply))
            .and_then(|()| out.flush())
            .map_err(Failure::stdout)?;
    }
    Ok(())
}

/// The client, with what error messages need.
struct Caller<'a> {
    client: Client,
    name: &'a str,
    timeout: Option<Duration>,
}

impl Caller<'_> {
    fn call(&mut self, request: &[u8]) -> Result<Vec<u8>, Failure> {
        let result = match self.timeout {
            Some(timeout) => self.client.call_timeout(request, timeout),
            None => self.client.call(request),
        };
        result.map_err(|e| self.failure(e))
    }

    fn failure(&self, error: CallError) -> Failure {
        let name = self.name;
        match error {
            CallError::Timeout => Failure::timed_out_with(format_args!(
                "service {name:?}: timed out waiting for the reply"
            )),
            CallError::ServerDied(id) => {
                // The library's error covers a server that left too: the
                // mailbox's receiving end tells which.
                match Queue::inspect(name).map(|s| s.receiver.state) {
                    Ok(EndState::Detached) => Failure::error(format_args!(
                        "service {name:?}: the server left holding {id}; it may or may not \
                         have been processed"
                    )),
                    Ok(EndState::Dead { pid }) => Failure::peer_died(format_args!(
                        "service {name:?}: the server's process (pid {pid}) died holding {id}; \
                         it may or may not have been processed"
                    )),
                    _ => Failure::peer_died(format_args!("service {name:?}: {error}")),
                }
            }
            CallError::Declined(id) => Failure::error(format_args!(
                "service {name:?}: the server declined {id} (shmq serve: the command failed)"
            )),
            _ => Failure::error(format_args!("service {name:?}: {error}")),
        }
    }
}

/// A request longer than the service carries.
fn too_large(what: impl std::fmt::Display, name: &str, max: u64) -> Failure {
    Failure::error(format_args!(
        "{what} is larger than the longest request service {name:?} carries ({max} bytes)"
    ))
}

/// An error opening or attaching to the service `name`: as for a queue,
/// in a service's words where they differ.
fn service_failure(name: &str, error: shmq::OpenError) -> Failure {
    match error.kind() {
        OpenErrorKind::NotFound => Failure::error(format_args!("no such service {name:?}")),
        OpenErrorKind::TooManySenders { limit } => Failure::error(format_args!(
            "service {name:?}: all {limit} client lanes are held by live processes"
        )),
        _ => Failure::open(name, error),
    }
}

/// SIGINT and SIGTERM, caught so that `serve` ends between requests and
/// its server is dropped (declining what it holds).
mod signals {
    // The CLI is not modelled under loom: a plain atomic flag.
    #![allow(clippy::disallowed_types)]

    use std::sync::atomic::{AtomicBool, Ordering};

    use crate::status::Failure;

    static CAUGHT: AtomicBool = AtomicBool::new(false);

    extern "C" fn on_signal(_: libc::c_int) {
        CAUGHT.store(true, Ordering::Relaxed);
    }

    /// Catches SIGINT and SIGTERM from now on.
    pub fn install() -> Result<(), Failure> {
        let handler = on_signal as extern "C" fn(libc::c_int);
        for signal in [libc::SIGINT, libc::SIGTERM] {
            // SAFETY: the handler only stores to an atomic, which is
            // async-signal-safe; commands started later get the default
            // disposition back at exec.
            let old = unsafe { libc::signal(signal, handler as libc::sighandler_t) };
            if old == libc::SIG_ERR {
                return Err(Failure::error(format_args!(
                    "cannot catch signal {signal}: {}",
                    std::io::Error::last_os_error()
                )));
            }
        }
        Ok(())
    }

    /// Whether SIGINT or SIGTERM came.
    pub fn caught() -> bool {
        CAUGHT.load(Ordering::Relaxed)
    }
}
