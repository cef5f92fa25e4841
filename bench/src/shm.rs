//! Shared memory for the two hand-written floors: a file in `/dev/shm`
//! mapped by both processes.
//!
//! The parent creates the file (exclusively, mode 0600, named after its pid
//! and a counter), sizes and maps it pre-faulted; the child opens and maps
//! the same path. The parent unlinks the file as soon as the child has it
//! mapped, and again (if still there) when dropped, so nothing is left in
//! `/dev/shm` after a run, a failed set-up or a panic.
//!
//! Access is by offset: [`word`](SharedMemory::word) gives an `AtomicU64`
//! for the words both processes poll, [`write`](SharedMemory::write) and
//! [`read`](SharedMemory::read) copy payload bytes in and out. The copies
//! are plain (non-atomic) memory accesses, so they are `unsafe`: the
//! caller's protocol must guarantee that the other process does not touch
//! those bytes at the same time (it publishes and observes them through
//! Release/Acquire on a word).

// The library routes its atomics through a loom facade (clippy.toml bans
// std's elsewhere); this benchmark code is not modelled under loom and
// cannot reach that private facade.
#![allow(clippy::disallowed_types)]

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;

use memmap2::{MmapOptions, MmapRaw};

use super::error::{Context, Result};

/// Alignment of every region the floors lay out: two cache lines, so the
/// adjacent-line prefetcher never pairs lines of different writers.
pub const REGION_ALIGN: usize = 128;

/// Rounds `n` up to a multiple of `align` (a power of two).
pub const fn round_up(n: usize, align: usize) -> usize {
    (n + align - 1) & !(align - 1)
}

/// A shared mapping of a file in `/dev/shm`.
#[derive(Debug)]
pub struct SharedMemory {
    map: MmapRaw,
    path: PathBuf,
    /// Whether we created the file and have not unlinked it yet.
    linked: bool,
}

impl SharedMemory {
    /// Creates `/dev/shm/<name>` of `len` bytes (zeroed) and maps it.
    pub fn create(name: &str, len: usize) -> Result<Self> {
        let path = Path::new("/dev/shm").join(name);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("create {}", path.display()))?;
        // The file is ours: remove it again if sizing or mapping fails.
        let mapped = file
            .set_len(len as u64)
            .context("size the shared memory file")
            .and_then(|()| Self::map(&file, len));
        match mapped {
            Ok(map) => Ok(SharedMemory {
                map,
                path,
                linked: true,
            }),
            Err(e) => {
                let _ = std::fs::remove_file(&path);
                Err(e)
            }
        }
    }

    /// Opens and maps the file at `path`, which must hold at least `len`
    /// bytes.
    pub fn open(path: &str, len: usize) -> Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .with_context(|| format!("open {path}"))?;
        let actual = file
            .metadata()
            .context("stat the shared memory file")?
            .len();
        if actual < len as u64 {
            return Err(super::error::Error::new(format!(
                "{path} holds {actual} bytes, expected at least {len}"
            )));
        }
        Ok(SharedMemory {
            map: Self::map(&file, len)?,
            path: PathBuf::from(path),
            linked: false,
        })
    }

    fn map(file: &File, len: usize) -> Result<MmapRaw> {
        MmapOptions::new()
            .len(len)
            .populate()
            .map_raw(file)
            .context("map the shared memory file")
    }

    /// The file's path, for the peer to open.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Removes the file; both mappings stay valid.
    pub fn unlink(&mut self) {
        if self.linked {
            self.linked = false;
            let _ = std::fs::remove_file(&self.path);
        }
    }

    /// Length of the mapping.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// The 8-byte word at `offset`, shared with the other process.
    ///
    /// # Panics
    ///
    /// If the word is not 8-byte aligned or not inside the mapping.
    #[inline]
    pub fn word(&self, offset: usize) -> &AtomicU64 {
        assert!(
            offset.is_multiple_of(8) && offset + 8 <= self.len(),
            "bad word offset"
        );
        // SAFETY: the word is in bounds and 8-byte aligned (the mapping is
        // page-aligned), it lives as long as `self`, and both processes only
        // ever access it atomically.
        unsafe { AtomicU64::from_ptr(self.map.as_mut_ptr().add(offset).cast()) }
    }

    /// Copies `bytes` into the mapping at `offset`.
    ///
    /// # Safety
    ///
    /// The other process must not read or write `offset..offset + len`
    /// until this write is published to it (a Release store it
    /// Acquire-loads).
    ///
    /// # Panics
    ///
    /// If the range is not inside the mapping.
    #[inline]
    pub unsafe fn write(&self, offset: usize, bytes: &[u8]) {
        assert!(offset + bytes.len() <= self.len(), "write out of bounds");
        // SAFETY: in bounds (checked); the caller guarantees exclusive
        // access to the range; a fresh Vec or slice never overlaps the
        // mapping.
        unsafe {
            std::ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                self.map.as_mut_ptr().add(offset),
                bytes.len(),
            );
        }
    }

    /// Copies `out.len()` bytes from the mapping at `offset` into `out`.
    ///
    /// # Safety
    ///
    /// The bytes must have been published to us (we Acquire-loaded the
    /// word the writer Release-stored after writing them), and the other
    /// process must not write them again until we tell it we are done.
    ///
    /// # Panics
    ///
    /// If the range is not inside the mapping.
    #[inline]
    pub unsafe fn read(&self, offset: usize, out: &mut [u8]) {
        assert!(offset + out.len() <= self.len(), "read out of bounds");
        // SAFETY: in bounds (checked); the caller guarantees the writer is
        // done with the range; `out` is our own memory.
        unsafe {
            std::ptr::copy_nonoverlapping(
                self.map.as_ptr().add(offset),
                out.as_mut_ptr(),
                out.len(),
            );
        }
    }
}

impl Drop for SharedMemory {
    fn drop(&mut self) {
        self.unlink();
    }
}
