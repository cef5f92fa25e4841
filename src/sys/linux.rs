//! Linux: POSIX shared memory under `/dev/shm`, process identity from
//! `/proc/<pid>/stat`.

use std::fs::File;
use std::io;
use std::path::Path;

use rustix::fs::{Mode, OFlags};

/// Directory holding POSIX shared-memory objects.
pub(crate) const SHM_DIR: &str = "/dev/shm";

/// Creates `path` exclusively (never following a symlink) with exactly
/// `mode` (the umask is undone with `fchmod`).
pub(crate) fn create_file(path: &Path, mode: u32) -> io::Result<File> {
    let fd = rustix::fs::open(
        path,
        OFlags::CREATE | OFlags::EXCL | OFlags::RDWR | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(mode),
    )?;
    rustix::fs::fchmod(&fd, Mode::from_raw_mode(mode))?;
    Ok(File::from(fd))
}

/// Opens an existing `path` for reading and writing, never following a
/// symlink.
pub(crate) fn open_file(path: &Path) -> io::Result<File> {
    let fd = rustix::fs::open(
        path,
        OFlags::RDWR | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    Ok(File::from(fd))
}

/// This process's id.
pub(crate) fn current_pid() -> u32 {
    rustix::process::getpid().as_raw_nonzero().get() as u32
}

/// What `/proc/<pid>/stat` says of a process: whether it is running (not a
/// zombie or dead) and its start time in clock ticks since boot. `None` when
/// there is no such process.
pub(crate) fn process_identity(pid: u32) -> Option<(bool, u64)> {
    let stat = std::fs::read(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&stat)
}

/// Parses the state (field 3) and start time (field 22) of a
/// `/proc/<pid>/stat` line. The command name (field 2) is in parentheses and
/// may itself contain spaces and parentheses, so fields are counted from the
/// last `)`.
fn parse_stat(stat: &[u8]) -> Option<(bool, u64)> {
    let close = stat.iter().rposition(|&b| b == b')')?;
    let rest = std::str::from_utf8(&stat[close + 1..]).ok()?;
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?;
    let start_time = fields.nth(18)?.parse().ok()?;
    let running = !matches!(state, "Z" | "X" | "x");
    Some((running, start_time))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_odd_command_names() {
        let line = b"1234 (a) b (c) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 987654 20\n";
        assert_eq!(parse_stat(line), Some((true, 987654)));
        let zombie = b"7 (x) Z 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 42 20\n";
        assert_eq!(parse_stat(zombie), Some((false, 42)));
        assert_eq!(parse_stat(b"garbage"), None);
    }

    #[test]
    fn own_process_is_running() {
        let (running, start) = process_identity(current_pid()).expect("own stat");
        assert!(running);
        assert!(start > 0);
    }
}
