//! Segments: the memory a queue lives in, by name in `/dev/shm` or on the
//! heap for in-process use.
//!
//! A named segment is the file `/dev/shm/shmq.<name>`. It is created
//! exclusively (`O_CREAT | O_EXCL | O_NOFOLLOW`) with an exact mode, sized
//! with `ftruncate`, mapped shared, pre-faulted, and its header initialised;
//! the `ready` word is published last. An opener waits (bounded) for
//! `ready`, then checks every header field against the file before using
//! any of it.

use std::path::PathBuf;
use std::ptr::NonNull;
use std::time::{Duration, Instant};

use crate::error::{OpenError, OpenErrorKind};
use crate::layout::{
    Config, Flavour, HEADER_SIZE, Header, LaneHeader, MAGIC, MAX_HEADER_SIZE, READY, VERSION,
    lane_header_offset,
};
use crate::sync::Ordering::{Acquire, Relaxed};
use crate::sync::{AtomicU32, SlotMemory};

/// Prefix of every shmq segment file in `/dev/shm`, so queues can be listed
/// and never collide with other programs' segments.
pub(crate) const FILE_PREFIX: &str = "shmq.";
/// Longest queue name.
pub const MAX_NAME_LEN: usize = 64;

/// Checks a queue name: 1-64 characters of `[A-Za-z0-9._-]`, not starting
/// with `.`.
pub(crate) fn validate_name(name: &str) -> Result<(), OpenError> {
    let reason = if name.is_empty() {
        Some("empty")
    } else if name.len() > MAX_NAME_LEN {
        Some("longer than 64 characters")
    } else if name.starts_with('.') {
        Some("starts with '.'")
    } else if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        Some("only A-Z, a-z, 0-9, '.', '_' and '-' are allowed")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(OpenErrorKind::InvalidName {
            name: name.to_owned(),
            reason,
        }
        .into()),
        None => Ok(()),
    }
}

/// Path of the segment file of a (validated) name.
pub(crate) fn path_of(name: &str) -> PathBuf {
    PathBuf::from(crate::sys::SHM_DIR).join(format!("{FILE_PREFIX}{name}"))
}

/// Removes the named queue's segment. Processes that have it open keep
/// their mapping; new opens fail with [`OpenErrorKind::NotFound`].
pub(crate) fn remove(name: &str) -> Result<(), OpenError> {
    validate_name(name)?;
    match std::fs::remove_file(path_of(name)) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(OpenErrorKind::NotFound.into()),
        Err(e) => Err(e.into()),
    }
}

/// Names of the shmq queues in `/dev/shm`, sorted.
pub(crate) fn list() -> Result<Vec<String>, OpenError> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(crate::sys::SHM_DIR)? {
        let entry = entry?;
        if let Some(name) = entry
            .file_name()
            .to_str()
            .and_then(|f| f.strip_prefix(FILE_PREFIX))
        {
            if validate_name(name).is_ok() {
                names.push(name.to_owned());
            }
        }
    }
    names.sort();
    Ok(names)
}

/// Memory holding one queue: a header, then each lane's header, then each
/// lane's slots.
pub(crate) struct Region {
    header: NonNull<Header>,
    lanes: Box<[Lane]>,
    config: Config,
    _backing: Backing,
}

/// One sender lane of a region: its header and its slots.
pub(crate) struct Lane {
    header: NonNull<LaneHeader>,
    slots: SlotMemory,
}

impl Lane {
    /// The lane's header (all atomics).
    #[inline]
    pub(crate) fn header(&self) -> &LaneHeader {
        // SAFETY: a `Lane` exists only inside the `Region` whose memory it
        // points into (a live, 128-aligned `LaneHeader`, see `Region::lanes_at`),
        // and is only reached through a borrow of that region.
        unsafe { self.header.as_ref() }
    }

    #[inline]
    pub(crate) fn slots(&self) -> &SlotMemory {
        &self.slots
    }
}

impl std::fmt::Debug for Region {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Region")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

// SAFETY: the headers are all atomics and the slots are coordinated by the
// ring protocol; the backing memory lives as long as the region.
unsafe impl Send for Region {}
// SAFETY: as above.
unsafe impl Sync for Region {}

/// Owns the memory behind a region; held only to be dropped with it.
enum Backing {
    #[cfg(not(shmq_loom))]
    Mapped(memmap2::MmapRaw),
    Heap(#[allow(dead_code)] HeapMemory),
}

impl Region {
    /// The header. Its fields are atomics; only what `Config` copied out at
    /// open time is trusted.
    #[inline]
    pub(crate) fn header(&self) -> &Header {
        // SAFETY: `header` points at a live, 128-aligned `Header` owned by
        // `_backing` for the region's lifetime (checked at construction).
        unsafe { self.header.as_ref() }
    }

    /// Lane `index` (`index < config().lanes`).
    #[inline]
    pub(crate) fn lane(&self, index: usize) -> &Lane {
        &self.lanes[index]
    }

    /// Every lane, in order.
    #[inline]
    pub(crate) fn lanes(&self) -> &[Lane] {
        &self.lanes
    }

    #[inline]
    pub(crate) fn config(&self) -> &Config {
        &self.config
    }

    /// The lanes of a segment whose memory starts at `base`.
    ///
    /// # Safety
    /// `base` must be 128-aligned and valid for reads and writes of
    /// `config.segment_size()` bytes for as long as the lanes live.
    #[cfg(not(shmq_loom))]
    unsafe fn lanes_at(base: *mut u8, config: &Config) -> Box<[Lane]> {
        (0..config.lanes)
            .map(|i| Lane {
                // SAFETY: lane headers lie at 128-aligned offsets below
                // `header_size`, within the segment; never null.
                header: unsafe {
                    NonNull::new_unchecked(base.add(lane_header_offset(i)).cast::<LaneHeader>())
                },
                // SAFETY: lane `i`'s slots are `ring_bytes` bytes at
                // `ring_offset(i)` (64-aligned: every size before it is a
                // multiple of 64), within the segment.
                slots: unsafe {
                    SlotMemory::new(
                        base.add(config.ring_offset(i)),
                        config.slot_size,
                        config.slot_count,
                    )
                },
            })
            .collect()
    }

    /// A fresh, initialised queue on the heap, for use within one process.
    pub(crate) fn heap(config: Config) -> Self {
        let memory = HeapMemory::new(&config);
        let (header, lanes) = memory.parts(&config);
        let region = Region {
            header,
            lanes,
            config,
            _backing: Backing::Heap(memory),
        };
        config.initialise(region.header());
        region
    }

    /// Creates the named segment exclusively.
    #[cfg(not(shmq_loom))]
    pub(crate) fn create(name: &str, config: Config, mode: u32) -> Result<Self, OpenError> {
        validate_name(name)?;
        config
            .check()
            .map_err(|e| OpenError::from(OpenErrorKind::InvalidOptions(e)))?;
        let map = create_mapped(name, config.segment_size(), mode)?;
        let region = Self::from_map(map, config);
        config.initialise(region.header());
        Ok(region)
    }

    /// Opens the named segment, waiting up to `timeout` for its creator to
    /// mark it ready, and validates its header against the file; a ring of
    /// another flavour than `flavour` is refused
    /// ([`OpenErrorKind::WrongKind`]).
    #[cfg(not(shmq_loom))]
    pub(crate) fn open(name: &str, timeout: Duration, flavour: Flavour) -> Result<Self, OpenError> {
        open_mapped(name, timeout, HEADER_SIZE, |map, size| {
            // SAFETY: the mapping is at least HEADER_SIZE bytes (as
            // `open_mapped` checked) and page aligned; `Header` is all
            // atomics, valid for any bytes.
            let header = unsafe { &*map.as_ptr().cast::<Header>() };
            let config = validate_header(header, size)?;
            if config.flavour != flavour {
                return Err(OpenErrorKind::WrongKind {
                    found: config.flavour.kind(),
                    expected: flavour.kind(),
                }
                .into());
            }
            let region = Self::from_map(map, config);
            region.prefault();
            Ok(region)
        })
    }

    #[cfg(not(shmq_loom))]
    fn from_map(map: memmap2::MmapRaw, config: Config) -> Self {
        let base = map.as_mut_ptr();
        assert!(map.len() >= config.segment_size(), "validated size");
        debug_assert_eq!(base as usize % 128, 0, "mmap is page aligned");
        Region {
            // SAFETY: mmap never returns null on success.
            header: unsafe { NonNull::new_unchecked(base.cast::<Header>()) },
            // SAFETY: the mapping holds `segment_size` bytes (asserted), is
            // page aligned, and the region keeps it alive.
            lanes: unsafe { Self::lanes_at(base, &config) },
            config,
            _backing: Backing::Mapped(map),
        }
    }

    /// Faults every page in now, so the first messages do not pay for it.
    #[cfg(not(shmq_loom))]
    fn prefault(&self) {
        if let Backing::Mapped(map) = &self._backing {
            prefault(map);
        }
    }
}

/// Offset of the `ready` word in every kind of segment: queues (`Meta`)
/// and the tables of semaphores and barriers (`table::TableMeta`) keep it
/// at the same place, so an opener can wait for any segment to be ready
/// before it reads the magic that says which kind it is.
pub(crate) const READY_OFFSET: usize = std::mem::offset_of!(crate::layout::Meta, ready);

/// Creates the segment file of `name` exclusively (mode `mode`), sizes it
/// to `size` bytes and maps it shared, pre-faulted: the first half of
/// creating a segment of any kind. From the moment the file exists until
/// this returns, a failure removes it again, so a failed create leaves
/// nothing behind. The caller initialises the header and publishes `ready`
/// (at [`READY_OFFSET`]) last.
#[cfg(not(shmq_loom))]
pub(crate) fn create_mapped(
    name: &str,
    size: usize,
    mode: u32,
) -> Result<memmap2::MmapRaw, OpenError> {
    validate_name(name)?;
    let path = path_of(name);
    let file = crate::sys::create_file(&path, mode).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => OpenErrorKind::AlreadyExists.into(),
        _ => OpenError::from(e),
    })?;
    let built = (|| {
        file.set_len(size as u64)?;
        let map = memmap2::MmapOptions::new()
            .len(size)
            .populate()
            .map_raw(&file)?;
        Ok::<_, std::io::Error>(map)
    })();
    built.map_err(|e| {
        let _ = std::fs::remove_file(&path);
        e.into()
    })
}

/// Opens the segment file of `name` (of any kind), waits up to `timeout`
/// for its creator to publish `ready` (at [`READY_OFFSET`]), then hands the
/// whole file, mapped shared, and its size to `validate`, which checks the
/// header and builds the handle. A file of a size between 0 and
/// `min_size` (the fixed header of the kind asked for, at least
/// `READY_OFFSET + 4`) is refused: a creator sets the whole size with one
/// `ftruncate`.
#[cfg(not(shmq_loom))]
pub(crate) fn open_mapped<T>(
    name: &str,
    timeout: Duration,
    min_size: usize,
    mut validate: impl FnMut(memmap2::MmapRaw, u64) -> Result<T, OpenError>,
) -> Result<T, OpenError> {
    debug_assert!(min_size >= READY_OFFSET + 4);
    let file = open_segment_file(name)?;
    let deadline = Instant::now() + timeout;
    loop {
        let meta = file.metadata()?;
        if !meta.file_type().is_file() {
            return Err(OpenErrorKind::NotAFile.into());
        }
        let size = meta.len();
        if size > 0 && size < min_size as u64 {
            // Our creator sets the whole size with one ftruncate, so a
            // size between 0 and the header's is never work in progress.
            return Err(OpenErrorKind::SizeMismatch {
                what: "file size",
                found: size,
                expected: min_size as u64,
            }
            .into());
        }
        if size >= min_size as u64 {
            let len = usize::try_from(size)
                .map_err(|_| OpenError::from(OpenErrorKind::BadHeader("file too large")))?;
            let map = memmap2::MmapOptions::new().len(len).map_raw(&file)?;
            // SAFETY: the mapping is at least `min_size` bytes, more than
            // `READY_OFFSET + 4`, and page aligned, so the word is in it
            // and 4-aligned; an atomic is valid for any bytes; the
            // reference is dropped before `map` is moved below.
            let ready = unsafe { &*map.as_ptr().add(READY_OFFSET).cast::<AtomicU32>() };
            // SYNC: ready-publish (Acquire side): the creator's header
            // stores are visible once READY is.
            match ready.load(Acquire) {
                READY => return validate(map, size),
                0 => {}
                _ => return Err(OpenErrorKind::BadHeader("bad ready marker").into()),
            }
        }
        if Instant::now() >= deadline {
            return Err(OpenErrorKind::NotReady.into());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Faults every page of `map` in now, so the first operations do not pay
/// for it.
#[cfg(not(shmq_loom))]
pub(crate) fn prefault(map: &memmap2::MmapRaw) {
    // SAFETY: the range is exactly a live mapping; POPULATE_WRITE only
    // faults pages in, it never changes their contents. Failure (kernels
    // before 5.14) just means lazy faults.
    let _ = unsafe {
        rustix::mm::madvise(
            map.as_mut_ptr().cast(),
            map.len(),
            rustix::mm::Advice::LinuxPopulateWrite,
        )
    };
}

/// Opens the segment file of the queue `name` (read and write, never
/// following a symbolic link).
#[cfg(not(shmq_loom))]
fn open_segment_file(name: &str) -> Result<std::fs::File, OpenError> {
    validate_name(name)?;
    crate::sys::open_file(&path_of(name)).map_err(|e| match e.raw_os_error() {
        Some(code) if code == rustix::io::Errno::NOENT.raw_os_error() => {
            OpenErrorKind::NotFound.into()
        }
        // O_NOFOLLOW on a symlink.
        Some(code) if code == rustix::io::Errno::LOOP.raw_os_error() => {
            OpenErrorKind::NotAFile.into()
        }
        _ => OpenError::from(e),
    })
}

/// When a file was created: its birth time where the file system records
/// one, else its modification time (set by the creator's `ftruncate`;
/// writes through a shared mapping of a tmpfs file do not change it).
#[cfg(not(shmq_loom))]
fn created_time(meta: &std::fs::Metadata) -> std::io::Result<std::time::SystemTime> {
    meta.created().or_else(|_| meta.modified())
}

/// When the segment of the queue `name` was created.
#[cfg(not(shmq_loom))]
pub(crate) fn created(name: &str) -> Result<std::time::SystemTime, OpenError> {
    let file = open_segment_file(name)?;
    Ok(created_time(&file.metadata()?)?)
}

/// The header of a named segment alone, mapped read-only, validated: for
/// inspecting a queue of any size without mapping its slots.
#[cfg(not(shmq_loom))]
pub(crate) struct HeaderView {
    map: memmap2::Mmap,
    config: Config,
    created: std::time::SystemTime,
}

#[cfg(not(shmq_loom))]
impl HeaderView {
    /// Maps and validates the header of the queue `name`; does not wait for
    /// a creator that has not finished ([`OpenErrorKind::NotReady`]).
    pub(crate) fn open(name: &str) -> Result<Self, OpenError> {
        let file = open_segment_file(name)?;
        let meta = file.metadata()?;
        if !meta.file_type().is_file() {
            return Err(OpenErrorKind::NotAFile.into());
        }
        let size = meta.len();
        if size == 0 {
            // Created, not yet sized: the creator is at work (or died).
            return Err(OpenErrorKind::NotReady.into());
        }
        if size < HEADER_SIZE as u64 {
            return Err(OpenErrorKind::SizeMismatch {
                what: "file size",
                found: size,
                expected: HEADER_SIZE as u64,
            }
            .into());
        }
        // Every lane header fits below this; a valid segment is longer.
        let len = size.min(MAX_HEADER_SIZE as u64) as usize;
        // SAFETY: a read-only shared mapping of the header's bytes. Other
        // processes write them concurrently; they are only ever read
        // through `Header` and `LaneHeader`, whose fields are all atomics,
        // never as a plain `&[u8]`.
        let map = unsafe { memmap2::MmapOptions::new().len(len).map(&file)? };
        let view = HeaderView {
            config: Config {
                slot_size: 0,
                slot_count: 0,
                max_message_size: 0,
                lanes: 0,
                flavour: Flavour::Spsc,
            },
            created: created_time(&meta)?,
            map,
        };
        let header = view.header();
        // SYNC: ready-publish (Acquire side), as in `Region::open`.
        match header.meta.ready.load(Acquire) {
            READY => {}
            0 => return Err(OpenErrorKind::NotReady.into()),
            _ => return Err(OpenErrorKind::BadHeader("bad ready marker").into()),
        }
        let config = validate_header(header, size)?;
        Ok(HeaderView { config, ..view })
    }

    /// The header; only what `config` holds was validated.
    pub(crate) fn header(&self) -> &Header {
        // SAFETY: the mapping is HEADER_SIZE bytes, page aligned, and lives
        // as long as `self`; `Header` is all atomics, valid for any bytes,
        // and is only loaded from (the mapping is read-only).
        unsafe { &*self.map.as_ptr().cast::<Header>() }
    }

    pub(crate) fn config(&self) -> &Config {
        &self.config
    }

    /// The header of lane `index` (`index < config().lanes`).
    pub(crate) fn lane(&self, index: usize) -> &LaneHeader {
        assert!(index < self.config.lanes, "lane index out of range");
        let offset = lane_header_offset(index);
        // SAFETY: the header was validated: the file (and so the mapping,
        // `min(size, MAX_HEADER_SIZE)` bytes) holds `header_size` bytes, of
        // which lane `index`'s header is a 128-aligned part; `LaneHeader`
        // is all atomics, valid for any bytes, and only loaded from.
        unsafe { &*self.map.as_ptr().add(offset).cast::<LaneHeader>() }
    }

    pub(crate) fn created(&self) -> std::time::SystemTime {
        self.created
    }
}

/// Checks every header field of a ready segment of `file_size` bytes and
/// returns the configuration it describes.
pub(crate) fn validate_header(header: &Header, file_size: u64) -> Result<Config, OpenError> {
    let meta = &header.meta;
    let magic = meta.magic.load(Relaxed);
    if magic != MAGIC {
        return Err(crate::layout::wrong_magic(magic, "queue"));
    }
    let version = meta.version.load(Relaxed);
    if version != VERSION {
        return Err(OpenErrorKind::VersionMismatch {
            found: version,
            expected: VERSION,
        }
        .into());
    }
    let found = meta.flavour.load(Relaxed);
    let Some(flavour) = Flavour::from_u32(found) else {
        return Err(OpenErrorKind::FlavourMismatch { found }.into());
    };
    let config = Config {
        slot_size: meta.slot_size.load(Relaxed) as usize,
        slot_count: meta.slot_count.load(Relaxed) as usize,
        max_message_size: meta.max_message_size.load(Relaxed),
        lanes: meta.lanes.load(Relaxed) as usize,
        flavour,
    };
    config
        .check()
        .map_err(|e| OpenError::from(OpenErrorKind::BadHeader(e)))?;
    let header_size = meta.header_size.load(Relaxed);
    check_sizes(
        header_size.into(),
        config.header_size() as u64,
        meta.segment_size.load(Relaxed),
        file_size,
        config.segment_size() as u64,
    )?;
    Ok(config)
}

/// The size checks every kind of segment makes on open: its header's
/// declared header size against the kind's, and its declared segment size
/// and the file's size against the size its other fields imply.
pub(crate) fn check_sizes(
    header_size: u64,
    expected_header_size: u64,
    declared_segment_size: u64,
    file_size: u64,
    expected_segment_size: u64,
) -> Result<(), OpenError> {
    for (what, found, expected) in [
        ("header size", header_size, expected_header_size),
        (
            "segment size field",
            declared_segment_size,
            expected_segment_size,
        ),
        ("file size", file_size, expected_segment_size),
    ] {
        if found != expected {
            return Err(OpenErrorKind::SizeMismatch {
                what,
                found,
                expected,
            }
            .into());
        }
    }
    Ok(())
}

/// Heap memory for an in-process queue.
struct HeapMemory {
    #[cfg(not(shmq_loom))]
    ptr: NonNull<u8>,
    #[cfg(not(shmq_loom))]
    layout: std::alloc::Layout,
    #[cfg(shmq_loom)]
    header: Box<Header>,
    #[cfg(shmq_loom)]
    lanes: Box<[LaneHeader]>,
    #[cfg(shmq_loom)]
    rings: Vec<NonNull<[u8]>>,
}

impl HeapMemory {
    #[cfg(not(shmq_loom))]
    fn new(config: &Config) -> Self {
        let layout = std::alloc::Layout::from_size_align(config.segment_size(), 128)
            .expect("validated segment size fits a layout");
        // SAFETY: the layout has a non-zero size (at least HEADER_SIZE).
        let raw = unsafe { std::alloc::alloc_zeroed(layout) };
        let Some(ptr) = NonNull::new(raw) else {
            std::alloc::handle_alloc_error(layout)
        };
        Self { ptr, layout }
    }

    #[cfg(not(shmq_loom))]
    fn parts(&self, config: &Config) -> (NonNull<Header>, Box<[Lane]>) {
        // SAFETY: the allocation is `segment_size` bytes, 128-aligned, and
        // lives as long as `self`, which the region keeps with the lanes.
        let lanes = unsafe { Region::lanes_at(self.ptr.as_ptr(), config) };
        (self.ptr.cast(), lanes)
    }

    #[cfg(shmq_loom)]
    fn new(config: &Config) -> Self {
        Self {
            header: Box::default(),
            lanes: (0..config.lanes).map(|_| LaneHeader::default()).collect(),
            rings: (0..config.lanes)
                .map(|_| {
                    let ring = Box::into_raw(vec![0u8; config.ring_bytes()].into_boxed_slice());
                    // SAFETY: Box::into_raw never returns null.
                    unsafe { NonNull::new_unchecked(ring) }
                })
                .collect(),
        }
    }

    #[cfg(shmq_loom)]
    fn parts(&self, config: &Config) -> (NonNull<Header>, Box<[Lane]>) {
        let lanes = self
            .lanes
            .iter()
            .zip(&self.rings)
            .map(|(header, ring)| Lane {
                header: NonNull::from(header),
                // SAFETY: the ring is `ring_bytes` bytes owned by `self`,
                // which the region keeps alive with the lanes.
                slots: unsafe {
                    SlotMemory::new(
                        ring.as_ptr().cast::<u8>(),
                        config.slot_size,
                        config.slot_count,
                    )
                },
            })
            .collect();
        (NonNull::from(&*self.header), lanes)
    }
}

impl Drop for HeapMemory {
    fn drop(&mut self) {
        #[cfg(not(shmq_loom))]
        // SAFETY: allocated in `new` with this layout, freed once here.
        unsafe {
            std::alloc::dealloc(self.ptr.as_ptr(), self.layout)
        };
        #[cfg(shmq_loom)]
        for ring in &self.rings {
            // SAFETY: from Box::into_raw in `new`, freed once here.
            drop(unsafe { Box::from_raw(ring.as_ptr()) });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for good in ["a", "A-b_c.9", &"x".repeat(64), "a.."] {
            assert!(validate_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            ".",
            "..",
            "../x",
            "a/b",
            ".hidden",
            &"x".repeat(65),
            "a b",
            "é",
            "a\0",
        ] {
            assert!(
                matches!(
                    validate_name(bad).map_err(OpenError::into_kind),
                    Err(OpenErrorKind::InvalidName { .. })
                ),
                "{bad:?}"
            );
        }
    }
}
