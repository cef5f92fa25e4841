//! The kernel's byte streams as transports: Unix domain stream sockets,
//! TCP over loopback, and pipes.
//!
//! All three are used the same way, as a competent user would: blocking
//! I/O, messages of a known size framed by that size alone, `write_all` of
//! the caller's buffer to send and `read_exact` into the caller's reused
//! buffer to receive. TCP has `TCP_NODELAY` on both ends (otherwise Nagle's
//! algorithm holds back small messages). For throughput, the receiving
//! peer reads through a 256 KiB `BufReader`, so it takes whatever has
//! arrived in one system call, as shmq's receiver takes whatever is in its
//! ring; the sender still hands each message to the kernel on its own.
//!
//! A pipe holds 64 KiB and a Unix socket about 208 KiB by default; a
//! larger message would cross in pieces, each a wake-up of the reader. As
//! a user sending such messages would, we size the pipes and the Unix
//! sockets' send buffers to hold a whole message (best effort: the kernel
//! caps them at `/proc/sys/fs/pipe-max-size` and `net.core.wmem_max`). TCP
//! keeps its auto-tuned buffers.
//!
//! The Unix socket's listener is bound at a unique path in the temporary
//! directory, removed as soon as the peer has connected (or when the
//! listener is dropped on an error).

use std::io::{BufReader, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, ChildStdout};

use super::error::{Context, Error, Result};
use super::transport::Endpoint;

/// Read buffer of the streaming receiver.
const STREAM_BUFFER: usize = 256 << 10;

/// Messages up to this size fit the kernel's default buffers.
const DEFAULT_BUFFER: usize = 64 << 10;

/// A Unix socket listener whose path is removed on drop.
#[derive(Debug)]
pub struct UnixListener {
    listener: std::os::unix::net::UnixListener,
    path: PathBuf,
}

impl UnixListener {
    /// Binds at `path`.
    pub fn bind(path: &Path) -> Result<Self> {
        let listener = std::os::unix::net::UnixListener::bind(path)
            .with_context(|| format!("uds: bind {}", path.display()))?;
        Ok(UnixListener {
            listener,
            path: path.to_owned(),
        })
    }

    /// Accepts the peer's connection.
    pub fn accept(&self) -> Result<UnixStream> {
        Ok(self.listener.accept().context("uds: accept")?.0)
    }
}

impl Drop for UnixListener {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Connects to the listener at `path`.
pub fn connect_unix(path: &str) -> Result<UnixStream> {
    UnixStream::connect(path).with_context(|| format!("uds: connect {path}"))
}

/// A byte stream (or a pair of them) carrying fixed-size messages.
#[derive(Debug)]
pub struct Stream<R, W> {
    reader: R,
    writer: W,
}

impl<R: Read, W: Write> Stream<R, W> {
    /// Reads from `reader`, writes to `writer`.
    pub fn new(reader: R, writer: W) -> Self {
        Stream { reader, writer }
    }
}

/// Lets a Unix socket's send buffer hold a `size`-byte message (best
/// effort, see the module docs).
fn fit_send_buffer(stream: &UnixStream, size: usize) {
    if size > DEFAULT_BUFFER {
        let _ = rustix::net::sockopt::set_socket_send_buffer_size(stream, size);
    }
}

impl Stream<UnixStream, UnixStream> {
    /// Both directions of a Unix socket carrying `size`-byte messages.
    pub fn unix(stream: UnixStream, size: usize) -> Result<Self> {
        fit_send_buffer(&stream, size);
        let writer = stream.try_clone().context("uds: duplicate the socket")?;
        Ok(Stream::new(stream, writer))
    }
}

impl Stream<BufReader<UnixStream>, UnixStream> {
    /// A Unix socket whose reads are buffered (the streaming receiver).
    pub fn unix_buffered(stream: UnixStream, size: usize) -> Result<Self> {
        fit_send_buffer(&stream, size);
        let writer = stream.try_clone().context("uds: duplicate the socket")?;
        Ok(Stream::new(
            BufReader::with_capacity(STREAM_BUFFER, stream),
            writer,
        ))
    }
}

impl Stream<TcpStream, TcpStream> {
    /// Both directions of a TCP connection, with `TCP_NODELAY`.
    pub fn tcp(stream: TcpStream) -> Result<Self> {
        stream.set_nodelay(true).context("tcp: set TCP_NODELAY")?;
        let writer = stream.try_clone().context("tcp: duplicate the socket")?;
        Ok(Stream::new(stream, writer))
    }
}

impl Stream<ChildStdout, ChildStdin> {
    /// The parent's side of the pipe pair (the peer's standard output and
    /// input), each pipe sized to hold a `size`-byte message.
    pub fn pipes(from_peer: ChildStdout, to_peer: ChildStdin, size: usize) -> Self {
        if size > DEFAULT_BUFFER {
            for pipe in [from_peer.as_fd(), to_peer.as_fd()] {
                // Best effort: the kernel rounds up, and refuses beyond
                // pipe-max-size; the pipe then keeps its default size.
                let _ = rustix::pipe::fcntl_setpipe_size(pipe, size);
            }
        }
        Stream::new(from_peer, to_peer)
    }
}

impl<R: Read, W: Write> Endpoint for Stream<R, W> {
    #[inline]
    fn send(&mut self, msg: &[u8]) -> Result<()> {
        self.writer.write_all(msg).context("write")
    }

    #[inline]
    fn recv(&mut self, buf: &mut [u8]) -> Result<()> {
        self.reader.read_exact(buf).map_err(|e| {
            if e.kind() == ErrorKind::UnexpectedEof {
                Error::new("read: the peer closed the connection")
            } else {
                Error::new(format!("read: {e}"))
            }
        })
    }
}
