//! A program that adds transports of its own to the benchmark through the
//! public API, as the crate docs' example does, and re-executes itself as
//! the peer under a subcommand of its own choosing (`peer`, not the
//! default `bench-peer`). Run by `tests/extra.rs`.
//!
//! - `unix-stream`: a Unix stream socket (the built-in `uds` again,
//!   without its buffer sizing), measured in every mode;
//! - `unopenable`: a transport whose peer side always fails to open,
//!   measured in latency mode only, to be reported as skipped.

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use shmq_bench::{
    Bench, BenchArgs, Context, Endpoint, Error, Liveness, Mode, PeerArgs, Result, Transport,
};

/// A Unix stream socket: the parent listens, the peer connects.
struct UnixSocket;

/// The parent's listener, its path removed when dropped.
struct Listening(UnixListener, PathBuf);

impl Drop for Listening {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.1);
    }
}

/// Either side: messages are written and read whole; a dead peer is
/// end-of-file.
struct End(UnixStream);

impl Endpoint for End {
    fn send(&mut self, msg: &[u8]) -> Result<()> {
        self.0.write_all(msg).context("write")
    }

    fn recv(&mut self, buf: &mut [u8]) -> Result<()> {
        self.0.read_exact(buf).context("read")
    }
}

impl Transport for UnixSocket {
    type Pending = Listening;
    type Parent = End;
    type Child = End;

    fn name(&self) -> &'static str {
        "unix-stream"
    }

    fn sleeps(&self) -> bool {
        true
    }

    fn create(&self, _: Mode, _: usize) -> Result<(Listening, String)> {
        let path = std::env::temp_dir().join(format!("{}.sock", shmq_bench::unique_name()));
        let listener = UnixListener::bind(&path).context("bind")?;
        let endpoint = path
            .to_str()
            .ok_or_else(|| Error::new("a path not in UTF-8"))?
            .to_owned();
        Ok((Listening(listener, path), endpoint))
    }

    fn connect(&self, listening: Listening, _: Liveness) -> Result<End> {
        let (stream, _) = listening.0.accept().context("accept")?;
        Ok(End(stream))
    }

    fn open(&self, _: Mode, endpoint: &str, _: usize, _: Liveness) -> Result<End> {
        Ok(End(UnixStream::connect(endpoint).context("connect")?))
    }
}

/// A transport whose peer cannot open it.
struct Unopenable;

impl Transport for Unopenable {
    type Pending = ();
    type Parent = End;
    type Child = End;

    fn name(&self) -> &'static str {
        "unopenable"
    }

    fn streams(&self) -> bool {
        false
    }

    fn idles(&self) -> bool {
        false
    }

    fn create(&self, _: Mode, _: usize) -> Result<((), String)> {
        Ok(((), "nowhere".to_owned()))
    }

    fn connect(&self, (): (), _: Liveness) -> Result<End> {
        Err(Error::new("never reached: the peer fails first"))
    }

    fn open(&self, _: Mode, endpoint: &str, _: usize, _: Liveness) -> Result<End> {
        Err(Error::new(format!("cannot open {endpoint}")))
    }
}

/// The benchmark with two more transports.
#[derive(Parser)]
enum Cli {
    /// Run the benchmark.
    Bench(BenchArgs),
    /// The benchmark's second process.
    #[command(hide = true)]
    Peer(PeerArgs),
}

fn main() -> ExitCode {
    let bench = Bench::new()
        .transport(UnixSocket)
        .transport(Unopenable)
        .peer_subcommand(["peer"]);
    let ran = match Cli::parse() {
        Cli::Bench(args) => bench.run(&args),
        Cli::Peer(args) => bench.run_peer(&args),
    };
    match ran {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("shmq-bench-extra: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
