//! POSIX message queues as a transport (`mq_open`, `mq_send`,
//! `mq_timedreceive` through the `libc` crate).
//!
//! Two queues, `/<name>-ping` and `/<name>-pong`, created by the parent with
//! the message size as `mq_msgsize` and up to 10 messages (the system's
//! default depth), opened by the peer, and unlinked as soon as the peer has
//! them open. A message queue keeps message boundaries, so every send and
//! receive is one whole message, one system call.
//!
//! Message size is limited by `/proc/sys/fs/mqueue/msgsize_max` (8 KiB by
//! default); larger sizes are skipped. Receives wait with an absolute
//! deadline that is renewed only when it expires (so there is no clock
//! read per message), and at each expiry the peer's liveness is checked: a
//! message queue, unlike a socket, does not tell a reader that the writer
//! died.

use std::ffi::CString;
use std::io;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::error::{Context, Error, Result};
use super::peer::Liveness;
use super::transport::Endpoint;

/// Depth of the queues (capped by `/proc/sys/fs/mqueue/msg_max`).
const DEPTH: usize = 10;

/// How long a receive waits before checking that the peer lives.
const LIVENESS_INTERVAL: Duration = Duration::from_millis(200);

/// Reads a number from a file in `/proc/sys/fs/mqueue`.
fn limit(file: &str) -> Result<usize> {
    let path = format!("/proc/sys/fs/mqueue/{file}");
    std::fs::read_to_string(&path)
        .with_context(|| format!("read {path}"))?
        .trim()
        .parse()
        .with_context(|| format!("parse {path}"))
}

/// The largest message the system allows (`msgsize_max`).
pub fn max_message_size() -> Result<usize> {
    limit("msgsize_max")
}

/// One open message queue.
#[derive(Debug)]
struct MessageQueue {
    descriptor: libc::mqd_t,
}

impl MessageQueue {
    /// Creates the queue `name` (which starts with `/`) for `size`-byte
    /// messages; fails if it exists.
    fn create(name: &CString, size: usize) -> Result<Self> {
        let depth = limit("msg_max").unwrap_or(DEPTH).clamp(1, DEPTH);
        // SAFETY: `mq_attr` is plain integers (and padding), for which all
        // zeroes is a valid value.
        let mut attr: libc::mq_attr = unsafe { std::mem::zeroed() };
        attr.mq_maxmsg = depth as libc::c_long;
        attr.mq_msgsize = size as libc::c_long;
        // SAFETY: `name` is a NUL-terminated string and `attr` a valid
        // `mq_attr`, both alive for the call; with O_CREAT, mq_open reads
        // exactly a mode and an attribute pointer from its variadic
        // arguments.
        let descriptor = unsafe {
            libc::mq_open(
                name.as_ptr(),
                libc::O_CREAT | libc::O_EXCL | libc::O_RDWR,
                0o600 as libc::c_uint,
                &raw mut attr,
            )
        };
        Self::check(descriptor).with_context(|| format!("mq: create {name:?}"))
    }

    /// Opens the existing queue `name`.
    fn open(name: &CString) -> Result<Self> {
        // SAFETY: `name` is a NUL-terminated string alive for the call;
        // without O_CREAT, mq_open reads no variadic arguments.
        let descriptor = unsafe { libc::mq_open(name.as_ptr(), libc::O_RDWR) };
        Self::check(descriptor).with_context(|| format!("mq: open {name:?}"))
    }

    fn check(descriptor: libc::mqd_t) -> io::Result<Self> {
        if descriptor == -1 {
            Err(io::Error::last_os_error())
        } else {
            Ok(MessageQueue { descriptor })
        }
    }

    /// Sends one message, waiting while the queue is full.
    #[inline]
    fn send(&self, msg: &[u8]) -> io::Result<()> {
        loop {
            // SAFETY: `msg` is valid for reads of `msg.len()` bytes for the
            // call, and the descriptor is open (we own it).
            let done = unsafe { libc::mq_send(self.descriptor, msg.as_ptr().cast(), msg.len(), 0) };
            if done == 0 {
                return Ok(());
            }
            let error = io::Error::last_os_error();
            if error.kind() != io::ErrorKind::Interrupted {
                return Err(error);
            }
        }
    }

    /// Receives one message into `buf` (at least the queue's message size)
    /// unless `deadline` passes first; returns its length.
    #[inline]
    fn receive(&self, buf: &mut [u8], deadline: &libc::timespec) -> io::Result<usize> {
        // SAFETY: `buf` is valid for writes of `buf.len()` bytes and
        // `deadline` for reads, for the call; a null priority pointer is
        // allowed; the descriptor is open.
        let len = unsafe {
            libc::mq_timedreceive(
                self.descriptor,
                buf.as_mut_ptr().cast(),
                buf.len(),
                std::ptr::null_mut(),
                deadline,
            )
        };
        usize::try_from(len).map_err(|_| io::Error::last_os_error())
    }
}

impl Drop for MessageQueue {
    fn drop(&mut self) {
        // SAFETY: we own the descriptor and close it once.
        unsafe { libc::mq_close(self.descriptor) };
    }
}

/// Names of queues we created, unlinked on drop unless already done.
#[derive(Debug, Default)]
struct Names(Vec<CString>);

impl Names {
    fn unlink(&mut self) {
        for name in self.0.drain(..) {
            // SAFETY: `name` is a NUL-terminated string alive for the call.
            unsafe { libc::mq_unlink(name.as_ptr()) };
        }
    }
}

impl Drop for Names {
    fn drop(&mut self) {
        self.unlink();
    }
}

/// The two queues of one measurement.
#[derive(Debug)]
pub struct Pair {
    ping: MessageQueue,
    pong: MessageQueue,
    /// Names we created and have not unlinked yet.
    names: Names,
}

fn queue_name(base: &str, suffix: &str) -> Result<CString> {
    CString::new(format!("/{base}-{suffix}")).context("mq: queue name")
}

impl Pair {
    /// Creates the queues (the parent).
    pub fn create(base: &str, size: usize) -> Result<Self> {
        let mut names = Names::default();
        let ping_name = queue_name(base, "ping")?;
        let ping = MessageQueue::create(&ping_name, size)?;
        names.0.push(ping_name);
        let pong_name = queue_name(base, "pong")?;
        let pong = MessageQueue::create(&pong_name, size)?;
        names.0.push(pong_name);
        Ok(Pair { ping, pong, names })
    }

    /// Opens the parent's queues (the peer).
    pub fn open(base: &str) -> Result<Self> {
        Ok(Pair {
            ping: MessageQueue::open(&queue_name(base, "ping")?)?,
            pong: MessageQueue::open(&queue_name(base, "pong")?)?,
            names: Names::default(),
        })
    }

    /// Removes the names; both processes keep their descriptors.
    pub fn unlink(&mut self) {
        self.names.unlink();
    }

    /// The parent's end: sends on `ping`, receives on `pong`.
    pub fn parent_end(self, live: Liveness) -> End {
        End::new(self.ping, self.pong, live)
    }

    /// The peer's end.
    pub fn child_end(self, live: Liveness) -> End {
        End::new(self.pong, self.ping, live)
    }
}

/// One side's sending and receiving queues.
#[derive(Debug)]
pub struct End {
    tx: MessageQueue,
    rx: MessageQueue,
    live: Liveness,
    deadline: libc::timespec,
}

impl End {
    fn new(tx: MessageQueue, rx: MessageQueue, live: Liveness) -> Self {
        End {
            tx,
            rx,
            live,
            deadline: deadline_after(LIVENESS_INTERVAL),
        }
    }
}

/// `CLOCK_REALTIME` (the clock of mq_timedreceive) plus `wait`.
fn deadline_after(wait: Duration) -> libc::timespec {
    let at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        + wait;
    libc::timespec {
        tv_sec: at.as_secs() as libc::time_t,
        tv_nsec: at.subsec_nanos() as libc::c_long,
    }
}

impl Endpoint for End {
    #[inline]
    fn send(&mut self, msg: &[u8]) -> Result<()> {
        self.tx.send(msg).context("mq: send")
    }

    #[inline]
    fn recv(&mut self, buf: &mut [u8]) -> Result<()> {
        loop {
            match self.rx.receive(buf, &self.deadline) {
                Ok(len) if len == buf.len() => return Ok(()),
                Ok(len) => {
                    return Err(Error::new(format!(
                        "mq: received {len} bytes, expected {}",
                        buf.len()
                    )));
                }
                Err(e) if e.raw_os_error() == Some(libc::ETIMEDOUT) => {
                    if !self.live.peer_alive() {
                        return Err(Error::new("mq: the peer process is gone"));
                    }
                    self.deadline = deadline_after(LIVENESS_INTERVAL);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::new(format!("mq: receive: {e}"))),
            }
        }
    }
}
