//! `shmq`: the command-line tool for shmq queues, services and topics.
//!
//! A thin layer over the library's public API, for scripts, shells and
//! debugging:
//!
//! ```text
//! shmq create NAME [--slot-size BYTES] [--slots N] [--max-message BYTES] [--mode OCTAL]
//! shmq create NAME --service [--clients N] [--slot-size BYTES] [--slots N] ...
//! shmq create NAME --topic [--lossy] [--history N] [--subscribers N] [--lag-limit DURATION]
//!                          [--slot-size BYTES] [--slots N] [--max-message BYTES] [--mode OCTAL]
//! shmq rm NAME...
//! shmq list [--long]
//! shmq stat NAME [--json]
//! shmq gc [--dry-run] [--older-than DURATION] [--prefix PREFIX]
//! shmq send NAME [--raw | --framed] [--flush] [--no-create] [--wait STRATEGY] [creation options]
//! shmq recv NAME [--raw | --framed] [--count N] [--timeout DURATION] [--from-history] [--no-create] ...
//! shmq serve NAME [--no-create] [--clients N] [creation options] -- CMD [ARGS...]
//! shmq call NAME [--framed] [--timeout DURATION]
//! shmq bench [--quick] [--sizes LIST] [--transports LIST] [--mode MODE] [--json] [--plot FILE]
//! ```
//!
//! `send` reads standard input and `recv` writes standard output in one of
//! three formats: lines (the default; one message per line, the "\n" not
//! part of it), `--raw` (send: all of the input is one message; recv: the
//! messages' bytes back to back) and `--framed` (each message is a 4-byte
//! little-endian length and its bytes). Both create the queue if needed,
//! with the creation options, unless `--no-create` (and warn if it exists
//! with other settings than those given). `recv` frees a message in the
//! queue only once it is written out, so a killed `recv` loses nothing.
//!
//! Every error is one line on standard error starting `shmq: `. Exit
//! statuses: 0 success, 1 error, 2 usage error, 3 `recv --timeout` or
//! `call --timeout` expired, 4 the other end's process died, 141 standard
//! output closed (see the `status` module).
//!
//! A service (`create --service`) is a request mailbox and a reply queue
//! per client lane: `serve` runs a command per request, `call` sends
//! standard input as a request and writes the reply.
//!
//! A topic (`create --topic`) broadcasts: on it `send` is the publisher
//! (one at a time) and each `recv` a subscriber (up to `--subscribers`),
//! which writes every message published from the moment it joins (with
//! `--from-history`, first the last `--history N` ones). Lossless (the
//! default): the publisher waits for the slowest live subscriber. Lossy
//! (`--lossy`): it never waits, and a `recv` that was overrun prints
//! `shmq: lagged, N messages missed` on standard error and goes on. `send`
//! and `recv` find out that NAME is a topic by opening it: a queue's open
//! refuses a topic's ring. `stat` shows the mode, the publisher and each
//! subscriber (pid, position, lag); `list` shows a topic once (not its
//! subscriber table `NAME.subs`), `rm` and `gc` remove both files.
//!
//! Modules: `args` (the command line), `status` (exit statuses, failures
//! and warnings), `admin` (`create`, `rm`, `list`, `stat`, `gc`), `send`,
//! `recv`, `service` (`create --service`, `serve`, `call`), `topic`
//! (`create --topic`, and finding and showing topics for the management
//! commands), and `objects` (`list --long` and `stat` of a semaphore, a
//! barrier, or a subscriber table left without its topic). The benchmark,
//! `bench` and its hidden `bench-peer` helper, is the `shmq-bench` crate
//! (`bench/` in the workspace): the command line embeds its options and
//! runs it.

mod admin;
mod args;
mod objects;
mod recv;
mod send;
mod service;
mod status;
mod topic;

use std::io::{self, Write};
use std::process::ExitCode;

use clap::Parser;

use crate::args::{Cli, Command};
use crate::status::Failure;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure { code, message }) => {
            if let Some(message) = message {
                // Nothing better to do if standard error is gone too.
                let _ = writeln!(io::stderr(), "shmq: {message}");
            }
            ExitCode::from(code)
        }
    }
}

/// Runs one subcommand. Every queue end it attached is dropped (detached)
/// by the time it returns.
fn run(command: Command) -> Result<(), Failure> {
    match command {
        Command::Create {
            name,
            topic: true,
            topic_options,
            create,
            ..
        } => topic::create(&name, &create, &topic_options),
        Command::Create {
            name,
            service: false,
            create,
            ..
        } => admin::create(&name, &create),
        Command::Create {
            name,
            clients,
            create,
            ..
        } => service::create(&name, &create, clients),
        Command::Serve {
            name,
            no_create,
            wait,
            service,
            command,
        } => service::serve(
            &name,
            no_create,
            args::wait_strategy(wait),
            &service,
            &command,
        ),
        Command::Call {
            name,
            framed,
            timeout,
            wait,
        } => service::call(&name, framed, timeout, args::wait_strategy(wait)),
        Command::Rm { names } => admin::rm(&names),
        Command::List { long } => admin::list(long),
        Command::Stat { name, json } => admin::stat(&name, json),
        Command::Gc {
            dry_run,
            older_than,
            prefix,
        } => admin::gc(dry_run, older_than, prefix.as_deref()),
        Command::Send {
            name,
            format,
            flush,
            end,
        } => send::run(&name, format.format(), flush, &end),
        Command::Recv {
            name,
            format,
            from,
            from_history,
            count,
            timeout,
            end,
        } => {
            let request = recv::Request {
                format: format.format(),
                from,
                from_history,
                count,
                timeout,
            };
            recv::run(&name, request, &end)
        }
        Command::Bench(args) => shmq_bench::Bench::new().run(&args).map_err(Failure::bench),
        Command::BenchPeer(args) => shmq_bench::Bench::new()
            .run_peer(&args)
            .map_err(Failure::bench),
    }
}
