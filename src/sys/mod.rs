//! Platform code behind one small interface: where segments live, how their
//! files are opened, and how a process's liveness is read. One file per OS,
//! chosen here.

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
pub(crate) use linux::*;

#[cfg(not(target_os = "linux"))]
compile_error!("shmq supports Linux only for now (futex and /dev/shm)");
