//! CPU pinning, and what the report says about the machine.
//!
//! By default the parent pins itself to the first CPU it may run on and
//! each peer to the second (`--cpus` picks others), so the two processes
//! never share a core and the scheduler does not move them between
//! measurements. The placement of the virtual CPUs on the host is another
//! matter, which is why the driver measures each transport in blocks
//! alternating with the floor's, and probes the placement (see `schedule`).

use std::io;

use rustix::thread::{CpuSet, sched_getaffinity, sched_setaffinity};

/// Where the two processes run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pinning {
    /// Each process pinned to its own CPU.
    Pinned { parent: usize, child: usize },
    /// Not pinned, and why.
    Off(String),
}

impl Pinning {
    /// The peer's CPU, if pinned.
    pub fn child_cpu(&self) -> Option<usize> {
        match self {
            Pinning::Pinned { child, .. } => Some(*child),
            Pinning::Off(_) => None,
        }
    }

    /// One line for the report.
    pub fn describe(&self) -> String {
        match self {
            Pinning::Pinned { parent, child } => {
                format!("parent on CPU {parent}, peer on CPU {child}")
            }
            Pinning::Off(why) => format!("off ({why})"),
        }
    }
}

/// The CPUs this thread may run on.
pub fn allowed_cpus() -> Vec<usize> {
    match sched_getaffinity(None) {
        Ok(set) => (0..CpuSet::MAX_CPU)
            .filter(|&cpu| set.is_set(cpu))
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Pins the calling thread to `cpu`.
pub fn pin_current_thread(cpu: usize) -> io::Result<()> {
    if cpu >= CpuSet::MAX_CPU {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "CPU number too large",
        ));
    }
    let mut set = CpuSet::new();
    set.set(cpu);
    sched_setaffinity(None, &set).map_err(io::Error::from)
}

/// Pins this thread (the parent's main thread, before it starts any
/// other) and chooses the peer's CPU: `requested` if given, else the first
/// two allowed CPUs. Pinning is off when disabled, when only one CPU is
/// allowed, or when the kernel refuses.
pub fn pin(enabled: bool, requested: Option<(usize, usize)>, allowed: &[usize]) -> Pinning {
    if !enabled {
        return Pinning::Off("--no-pin".to_owned());
    }
    let (parent, child) = match (requested, allowed) {
        (Some(pair), _) => pair,
        (None, [first, second, ..]) => (*first, *second),
        (None, _) => return Pinning::Off("only one CPU available".to_owned()),
    };
    if parent == child {
        return Pinning::Off(format!("--cpus names CPU {parent} twice"));
    }
    let both_allowed = allowed.contains(&parent) && allowed.contains(&child);
    if !allowed.is_empty() && !both_allowed {
        return Pinning::Off(format!(
            "CPUs {parent} and {child} are not both in this process's affinity mask"
        ));
    }
    match pin_current_thread(parent) {
        Ok(()) => Pinning::Pinned { parent, child },
        Err(e) => Pinning::Off(format!("sched_setaffinity failed: {e}")),
    }
}

/// The machine, for the report's header.
#[derive(Debug, Clone)]
pub struct System {
    /// CPU model name from `/proc/cpuinfo`.
    pub cpu: String,
    /// `uname -r`.
    pub kernel: String,
    /// CPUs this process may run on (before pinning).
    pub cpus: usize,
}

impl System {
    /// Reads it.
    pub fn detect(allowed: &[usize]) -> Self {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|info| {
                info.lines()
                    .find(|line| line.starts_with("model name"))
                    .and_then(|line| line.split_once(':'))
                    .map(|(_, name)| name.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown CPU".to_owned());
        let kernel = rustix::system::uname()
            .release()
            .to_string_lossy()
            .into_owned();
        System {
            cpu,
            kernel,
            cpus: allowed.len(),
        }
    }
}
