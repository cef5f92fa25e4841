//! `shmq-peers`: the benchmark of `shmq bench` (the `shmq-bench` crate),
//! with two more transports added through its public API, so shmq can be
//! compared with its nearest peers by the same method, in the same tables:
//!
//! - `iceoryx2` (`iceoryx`): iceoryx2 publish-subscribe between the two
//!   processes, configured as iceoryx2's own publish-subscribe benchmark
//!   configures it, both ends busy-polling `receive()`;
//! - `ipc-channel` (`ipc`): Servo's ipc-channel byte channels, bootstrapped
//!   with an `IpcOneShotServer`, blocking `recv()`.
//!
//! Every built-in transport (`floor`, the shmq strategies, the kernel's
//! IPC) stays available. The program is its own peer, as `shmq` is:
//! `shmq-peers bench ...` runs the benchmark, which starts
//! `shmq-peers bench-peer ...` (hidden) as the second process. See
//! README.md for the command, the configuration and the caveats.
//!
//! This crate is its own workspace, outside the library's: iceoryx2 is a
//! large dependency that neither the library's build nor its CI needs.

mod iceoryx;
mod ipc;

use std::process::ExitCode;

use clap::Parser;
use shmq_bench::{Bench, BenchArgs, PeerArgs};

/// The benchmark of `shmq bench`, with iceoryx2 and ipc-channel added.
#[derive(Debug, Parser)]
#[command(name = "shmq-peers", version)]
enum Cli {
    /// Run the benchmark (as `shmq bench`; also takes `iceoryx2` and
    /// `ipc-channel` in --transports).
    Bench(BenchArgs),
    /// The benchmark's second process (internal).
    #[command(hide = true)]
    BenchPeer(PeerArgs),
}

fn main() -> ExitCode {
    iceoryx::quiet_logs();
    let bench = Bench::new()
        .transport(iceoryx::Iceoryx2)
        .transport(ipc::IpcChannel);
    let ran = match Cli::parse() {
        Cli::Bench(args) => {
            let ran = bench.run(&args);
            // Every peer has exited: the run's iceoryx2 domain can go.
            if let Err(e) = iceoryx::remove_domain() {
                eprintln!("shmq-peers: iceoryx2 clean-up: {e}");
            }
            ran
        }
        Cli::BenchPeer(args) => bench.run_peer(&args),
    };
    match ran {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("shmq-peers: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
