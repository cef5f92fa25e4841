//! A semaphore shared by processes: four worker processes share two
//! permits, then a process killed while holding a permit gives it back.
//!
//! ```sh
//! cargo run --example semaphore
//! ```
//!
//! The example runs itself as the child processes (`semaphore worker
//! NAME` and `semaphore holder NAME`); run with no arguments it creates
//! the semaphore, runs them, and removes it.

use std::error::Error;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use shmq::Semaphore;

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["worker", name] => worker(name),
        ["holder", name] => holder(name),
        _ => parent(),
    }
}

fn parent() -> Result<(), Box<dyn Error>> {
    let name = format!("example-semaphore-{}", std::process::id());
    let sem = Semaphore::create(&name, 2)?;
    let me = std::env::current_exe()?;
    // Four workers, at most two of them in the critical section at once.
    let workers: Vec<_> = (0..4)
        .map(|_| Command::new(&me).args(["worker", &name]).spawn())
        .collect::<Result<_, _>>()?;
    for mut worker in workers {
        worker.wait()?;
    }
    // A holder takes both permits and is killed (as by `kill -9`): its
    // permits come back to the process waiting for one.
    let mut holder = Command::new(&me)
        .args(["holder", &name])
        .stdout(Stdio::piped())
        .spawn()?;
    let mut line = String::new();
    BufReader::new(holder.stdout.take().ok_or("no stdout")?).read_line(&mut line)?;
    print!("holder {}: {line}", holder.id());
    holder.kill()?;
    let killed = Instant::now();
    let permit = sem.acquire();
    println!(
        "parent: got a permit {:?} after the holder was killed",
        killed.elapsed()
    );
    drop(permit);
    holder.wait()?;
    Semaphore::remove(&name)?;
    Ok(())
}

fn worker(name: &str) -> Result<(), Box<dyn Error>> {
    let sem = Semaphore::open(name)?;
    let permit = sem.acquire();
    println!(
        "worker {}: in (holders now: {:?})",
        std::process::id(),
        sem.holders()
    );
    std::thread::sleep(Duration::from_millis(50));
    drop(permit);
    Ok(())
}

fn holder(name: &str) -> Result<(), Box<dyn Error>> {
    let sem = Semaphore::open(name)?;
    let _permits = (sem.acquire(), sem.acquire());
    println!("holding both permits");
    std::thread::sleep(Duration::from_secs(60)); // until killed
    Ok(())
}
