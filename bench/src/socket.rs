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
//!
//! **Request/response** (`uds-rr`, [`Framed`]): a Unix stream socket
//! carrying frames as a request/response protocol of messages of any
//! length must, each a 4-byte little-endian length and the body. A call
//! is one `writev` of the header and the caller's buffer (no copy into a
//! frame buffer, one system call) and one `readv` of the reply's header
//! and body into a header word and the caller's buffer; the server reads
//! a request and writes its reply the same way. One frame is in flight
//! each way at a time, so a `readv` of a header and a message-sized body
//! cannot take part of the next frame; a frame that arrives in pieces (a
//! message larger than the socket buffer) is read on until it is whole.

use std::io::{BufReader, ErrorKind, IoSlice, IoSliceMut, Read, Write};
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

/// Bytes of a [`Framed`] frame's length header.
const FRAME_HEADER: usize = 4;

/// A Unix stream socket carrying length-prefixed frames, a request or a
/// reply each (`uds-rr`, see the module docs).
#[derive(Debug)]
pub struct Framed {
    stream: UnixStream,
}

impl Framed {
    /// Either side of a Unix socket carrying `size`-byte bodies.
    pub fn new(stream: UnixStream, size: usize) -> Self {
        fit_send_buffer(&stream, size + FRAME_HEADER);
        Framed { stream }
    }
}

/// The error of a read that found the end of the stream.
fn closed() -> Error {
    Error::new("read: the peer closed the connection")
}

impl Endpoint for Framed {
    /// One `writev` of the length and `msg` (more only if the socket takes
    /// part of it).
    #[inline]
    fn send(&mut self, msg: &[u8]) -> Result<()> {
        let len = u32::try_from(msg.len())
            .map_err(|_| Error::new("uds-rr: a message longer than 4 GiB"))?;
        let header = len.to_le_bytes();
        let total = FRAME_HEADER + msg.len();
        let mut written = self
            .stream
            .write_vectored(&[IoSlice::new(&header), IoSlice::new(msg)])
            .context("write")?;
        // Rare: the socket's buffer took part of the frame.
        while written < total {
            let n = if written < FRAME_HEADER {
                self.stream
                    .write_vectored(&[IoSlice::new(&header[written..]), IoSlice::new(msg)])
            } else {
                self.stream.write(&msg[written - FRAME_HEADER..])
            }
            .context("write")?;
            if n == 0 {
                return Err(Error::new("write: the socket took nothing"));
            }
            written += n;
        }
        Ok(())
    }

    /// One `readv` of the length into a header word and the body into
    /// `buf` (more only if the frame arrives in pieces); a frame of
    /// another length is an error.
    #[inline]
    fn recv(&mut self, buf: &mut [u8]) -> Result<()> {
        let expected = buf.len();
        let total = FRAME_HEADER + expected;
        let mut header = [0u8; FRAME_HEADER];
        let mut read = 0;
        // Until the frame is whole, or its length (once in) is not the
        // expected one.
        while read < FRAME_HEADER
            || (read < total && u32::from_le_bytes(header) as usize == expected)
        {
            let n = if read < FRAME_HEADER {
                let mut parts = [IoSliceMut::new(&mut header[read..]), IoSliceMut::new(buf)];
                self.stream.read_vectored(&mut parts)
            } else {
                self.stream.read(&mut buf[read - FRAME_HEADER..])
            }
            .context("read")?;
            if n == 0 {
                return Err(closed());
            }
            read += n;
        }
        let len = u32::from_le_bytes(header) as usize;
        if len == expected {
            Ok(())
        } else {
            Err(Error::new(format!(
                "uds-rr: received a {len}-byte frame, expected {expected}"
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_carry_a_length_and_the_body() {
        let (a, b) = UnixStream::pair().expect("a socket pair");
        let (mut client, mut server) = (Framed::new(a, 64), Framed::new(b, 64));
        let msg: Vec<u8> = (0..64).collect();
        client.send(&msg).expect("send");
        let mut raw = [0u8; 4];
        server.stream.read_exact(&mut raw).expect("the header");
        assert_eq!(u32::from_le_bytes(raw), 64);
        let mut body = [0u8; 64];
        server.stream.read_exact(&mut body).expect("the body");
        assert_eq!(body[..], msg[..]);

        // A frame in pieces is read whole.
        server.stream.write_all(&64u32.to_le_bytes()[..2]).unwrap();
        let writer = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(20));
            server.stream.write_all(&64u32.to_le_bytes()[2..]).unwrap();
            server.stream.write_all(&[7; 30]).unwrap();
            std::thread::sleep(std::time::Duration::from_millis(20));
            server.stream.write_all(&[7; 34]).unwrap();
            server
        });
        let mut reply = [0u8; 64];
        client.recv(&mut reply).expect("a frame in pieces");
        assert_eq!(reply, [7; 64]);
        let mut server = writer.join().unwrap();

        // Another length is an error, and so is the end of the stream.
        server.send(&[1; 8]).expect("send");
        let err = client.recv(&mut reply).expect_err("an 8-byte frame");
        assert!(err.to_string().contains("8-byte frame"), "{err}");
        drop(server);
        assert!(client.recv(&mut reply).is_err());
    }
}
