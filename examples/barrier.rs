//! A barrier for three processes: they go through three phases in step
//! (the leader of each phase reports it), then a member is killed before
//! it arrives and the others are told the barrier is broken.
//!
//! ```sh
//! cargo run --example barrier
//! ```
//!
//! The example runs itself as the other members (`barrier member NAME`
//! and `barrier idle NAME`); run with no arguments it creates the barrier,
//! runs them, and removes it.

use std::error::Error;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use shmq::{Barrier, BarrierError};

const PHASES: u32 = 3;

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["member", name] => member(name),
        ["idle", name] => idle(name),
        _ => parent(),
    }
}

fn parent() -> Result<(), Box<dyn Error>> {
    let name = format!("example-barrier-{}", std::process::id());
    let barrier = Barrier::create(&name, 3)?;
    let me = std::env::current_exe()?;
    let children: Vec<_> = (0..2)
        .map(|_| Command::new(&me).args(["member", &name]).spawn())
        .collect::<Result<_, _>>()?;
    member_of(&barrier)?;
    for mut child in children {
        child.wait()?;
    }
    Barrier::remove(&name)?;

    // A new barrier of two; the other member is killed before it arrives.
    let barrier = Barrier::create(&name, 2)?;
    let mut idle = Command::new(&me)
        .args(["idle", &name])
        .stdout(Stdio::piped())
        .spawn()?;
    let mut line = String::new();
    BufReader::new(idle.stdout.take().ok_or("no stdout")?).read_line(&mut line)?;
    let mut member = barrier.join()?;
    idle.kill()?;
    let killed = Instant::now();
    match member.wait() {
        Err(BarrierError::Broken { pid }) => println!(
            "parent: barrier broken by pid {pid}, {:?} after the kill",
            killed.elapsed()
        ),
        other => println!("parent: unexpected {other:?}"),
    }
    idle.wait()?;
    Barrier::remove(&name)?;
    Ok(())
}

fn member(name: &str) -> Result<(), Box<dyn Error>> {
    member_of(&Barrier::open(name)?)
}

/// Three phases of work, in step with the other members.
fn member_of(barrier: &Barrier) -> Result<(), Box<dyn Error>> {
    let mut me = barrier.join()?;
    for phase in 0..PHASES {
        // Each member's part of the phase takes its own time.
        std::thread::sleep(Duration::from_millis(10 * (me.slot() as u64 + 1)));
        if me.wait()?.is_leader() {
            println!(
                "phase {phase}: all 3 members done (led by {})",
                std::process::id()
            );
        }
    }
    Ok(())
}

fn idle(name: &str) -> Result<(), Box<dyn Error>> {
    let _me = Barrier::open(name)?.join()?;
    println!("joined");
    std::thread::sleep(Duration::from_secs(60)); // until killed
    Ok(())
}
