//! Tables: the segment shape of a [`Semaphore`](crate::Semaphore) and a
//! [`Barrier`](crate::Barrier): a fixed header, one control line, and a
//! table of `count` fixed-size entries (permit words, member slots).
//!
//! ```text
//! offset 0    +-------------------------------------------------------+
//!             | TableMeta (128 B, written once by the creator)        |
//!             |   magic u64 | version u32 | count u32                 |
//!             |   entry_size u32 | header_size u32 | segment_size u64 |
//!             |   reserved (16 B) | ready u32 (at 48, as in a queue)  |
//! offset 128  +-------------------------------------------------------+
//!             | control line (128 B): the kind's futex words, flags   |
//! offset 256  +-------------------------------------------------------+
//!             | entry 0 | entry 1 | ... | entry count-1               |
//!             | (count x entry_size bytes, padded to 128)             |
//!             +-------------------------------------------------------+
//! ```
//!
//! A named table is made and found like a queue (`segment::create_mapped`,
//! `segment::open_mapped`: the same names, files, modes and `ready`
//! handshake), so one name is one object of one kind: a queue opened as a
//! semaphore, or a semaphore as a queue, is refused by its magic
//! ([`OpenErrorKind::WrongKind`]). Every `TableMeta` field is checked
//! against the file before anything else is read; the control line and the
//! entries are all atomics, valid for any bytes, and what their users read
//! from them is checked where it is used.

use std::ptr::NonNull;

use crate::error::{OpenError, OpenErrorKind};
use crate::sync::Ordering::{Relaxed, Release};
use crate::sync::{AtomicU32, AtomicU64};

/// Bytes before the first entry: `TableMeta` and the control line.
pub(crate) const TABLE_HEADER_SIZE: usize = 256;

/// What a kind of table is: its magic, layout version, name (for errors)
/// and largest entry count.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Spec {
    pub(crate) magic: u64,
    pub(crate) version: u32,
    pub(crate) kind: &'static str,
    pub(crate) max_count: usize,
    /// What an entry count outside `1..=max_count` is called in errors.
    pub(crate) count_error: &'static str,
}

/// Types that may live in a table: shared with other (untrusted)
/// processes, and reached through references made from raw segment bytes.
///
/// # Safety
///
/// The type must be `repr(C)` (or transparent) and made of the crate's
/// atomics only (so any bytes are a valid value and every access is
/// atomic), with an alignment of at most 128; `Default` must be the
/// all-zero value (what a fresh segment holds).
pub(crate) unsafe trait Shared: Default + Send + Sync + 'static {}

// SAFETY: a `repr(transparent)` atomic integer (see `sync.rs`).
unsafe impl Shared for AtomicU64 {}

/// Immutable configuration, written by the creator before `ready`.
#[repr(C, align(128))]
#[derive(Debug, Default)]
pub(crate) struct TableMeta {
    pub(crate) magic: AtomicU64,
    pub(crate) version: AtomicU32,
    /// Entries in the table, 1 to the kind's `max_count`.
    pub(crate) count: AtomicU32,
    /// Bytes of one entry, as the creator's library had it.
    pub(crate) entry_size: AtomicU32,
    /// [`TABLE_HEADER_SIZE`].
    pub(crate) header_size: AtomicU32,
    pub(crate) segment_size: AtomicU64,
    pub(crate) _reserved: [AtomicU64; 2],
    /// `READY` once every other field is written. SYNC: ready-publish
    /// (Release by the creator, Acquire by openers), at the offset a
    /// queue's `Meta` has it.
    pub(crate) ready: AtomicU32,
}

#[cfg(not(shmq_loom))]
const _: () = {
    use std::mem::{align_of, offset_of, size_of};
    assert!(size_of::<TableMeta>() == 128);
    assert!(align_of::<TableMeta>() == 128);
    assert!(offset_of!(TableMeta, magic) == 0);
    assert!(offset_of!(TableMeta, version) == 8);
    assert!(offset_of!(TableMeta, count) == 12);
    assert!(offset_of!(TableMeta, entry_size) == 16);
    assert!(offset_of!(TableMeta, header_size) == 20);
    assert!(offset_of!(TableMeta, segment_size) == 24);
    // The same offset as a queue's, so `segment::open_mapped` finds it.
    assert!(offset_of!(TableMeta, ready) == crate::segment::READY_OFFSET);
    assert!(TABLE_HEADER_SIZE == 2 * 128);
};

/// Bytes of a table of `count` entries of `E`: the header, then the
/// entries rounded up to whole 128-byte lines.
pub(crate) const fn segment_size<E>(count: usize) -> usize {
    let entries = count * std::mem::size_of::<E>();
    TABLE_HEADER_SIZE + entries.div_ceil(128) * 128
}

/// A table's memory, by name in `/dev/shm` or on the heap: a control line
/// `C` and `count` entries `E`.
pub(crate) struct Table<C: Shared, E: Shared> {
    control: NonNull<C>,
    entries: NonNull<E>,
    count: usize,
    _backing: Backing<C, E>,
}

/// Owns the memory behind a table; held only to be dropped with it.
enum Backing<C, E> {
    #[cfg(not(shmq_loom))]
    Mapped(#[allow(dead_code)] memmap2::MmapRaw),
    Heap(#[allow(dead_code)] Box<C>, #[allow(dead_code)] Box<[E]>),
    /// A copy of a segment image, for the fuzz targets.
    #[cfg(fuzzing)]
    Image(#[allow(dead_code)] Box<[Line]>),
}

/// One 128-byte line of a fuzzed image.
#[cfg(fuzzing)]
#[repr(C, align(128))]
#[derive(Clone, Copy)]
pub(crate) struct Line([u8; 128]);

// SAFETY: the control line and the entries are all atomics (`Shared`);
// the backing memory lives as long as the table.
unsafe impl<C: Shared, E: Shared> Send for Table<C, E> {}
// SAFETY: as above.
unsafe impl<C: Shared, E: Shared> Sync for Table<C, E> {}

impl<C: Shared, E: Shared> std::fmt::Debug for Table<C, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Table")
            .field("count", &self.count)
            .finish_non_exhaustive()
    }
}

impl<C: Shared, E: Shared> Table<C, E> {
    /// The control line (all atomics; nothing in it is trusted).
    #[inline]
    pub(crate) fn control(&self) -> &C {
        // SAFETY: `control` points at a live, aligned `C` owned by
        // `_backing` for the table's lifetime (see the constructors).
        unsafe { self.control.as_ref() }
    }

    /// The entries (all atomics; nothing in them is trusted). Their
    /// number was checked at open.
    #[inline]
    pub(crate) fn entries(&self) -> &[E] {
        // SAFETY: `entries` points at `count` live, aligned `E`s owned by
        // `_backing` for the table's lifetime (see the constructors).
        unsafe { std::slice::from_raw_parts(self.entries.as_ptr(), self.count) }
    }

    /// The number of entries.
    #[inline]
    pub(crate) fn count(&self) -> usize {
        self.count
    }

    /// A fresh table of `count` entries on the heap, for use within one
    /// process (and under loom).
    pub(crate) fn heap(count: usize) -> Self {
        let control = Box::<C>::default();
        let entries: Box<[E]> = (0..count).map(|_| E::default()).collect();
        Table {
            control: NonNull::from(&*control),
            entries: NonNull::from(&*entries).cast::<E>(),
            count,
            _backing: Backing::Heap(control, entries),
        }
    }

    /// The table in a segment of at least `segment_size::<E>(count)`
    /// bytes at `base`.
    ///
    /// # Safety
    /// `base` must be 128-aligned and valid for reads and writes of
    /// `segment_size::<E>(count)` bytes for as long as `backing` lives.
    #[cfg(any(not(shmq_loom), fuzzing))]
    unsafe fn at(base: *mut u8, count: usize, backing: Backing<C, E>) -> Self {
        debug_assert_eq!(base as usize % 128, 0);
        Table {
            // SAFETY: the control line lies at 128, within the segment
            // (caller's contract), 128-aligned; never null.
            control: unsafe { NonNull::new_unchecked(base.add(128).cast::<C>()) },
            // SAFETY: the entries lie at TABLE_HEADER_SIZE, within the
            // segment, 128-aligned; never null.
            entries: unsafe { NonNull::new_unchecked(base.add(TABLE_HEADER_SIZE).cast::<E>()) },
            count,
            _backing: backing,
        }
    }

    /// Creates the named table of `count` entries exclusively, lets `init`
    /// set its control line and entries, then publishes it.
    #[cfg(not(shmq_loom))]
    pub(crate) fn create(
        name: &str,
        spec: Spec,
        count: usize,
        mode: u32,
        init: impl FnOnce(&Self),
    ) -> Result<Self, OpenError> {
        check_count(spec, count)?;
        let size = segment_size::<E>(count);
        let map = crate::segment::create_mapped(name, size, mode)?;
        let base = map.as_mut_ptr();
        // SAFETY: the mapping is `size` bytes, page aligned, zero-filled
        // (a fresh file), and lives in the table.
        let table = unsafe { Self::at(base, count, Backing::Mapped(map)) };
        init(&table);
        // SAFETY: as above; `TableMeta` is all atomics.
        let meta = unsafe { &*base.cast::<TableMeta>() };
        meta.magic.store(spec.magic, Relaxed);
        meta.version.store(spec.version, Relaxed);
        meta.count.store(count as u32, Relaxed);
        meta.entry_size
            .store(std::mem::size_of::<E>() as u32, Relaxed);
        meta.header_size.store(TABLE_HEADER_SIZE as u32, Relaxed);
        meta.segment_size.store(size as u64, Relaxed);
        // SYNC: ready-publish. Release: every store above (and `init`'s)
        // is visible to an opener that Acquire-loads READY.
        meta.ready.store(crate::layout::READY, Release);
        Ok(table)
    }

    /// Opens the named table, waiting up to `timeout` for its creator, and
    /// checks its header against `spec` and the file.
    #[cfg(not(shmq_loom))]
    pub(crate) fn open(
        name: &str,
        spec: Spec,
        timeout: std::time::Duration,
    ) -> Result<Self, OpenError> {
        crate::segment::open_mapped(name, timeout, TABLE_HEADER_SIZE, |map, size| {
            let base = map.as_mut_ptr();
            // SAFETY: the mapping is at least TABLE_HEADER_SIZE bytes and
            // page aligned; `TableMeta` is all atomics, valid for any bytes.
            let meta = unsafe { &*base.cast::<TableMeta>() };
            let count = validate::<E>(meta, spec, size)?;
            crate::segment::prefault(&map);
            // SAFETY: `validate` checked that the file (all of which is
            // mapped) is exactly `segment_size::<E>(count)` bytes.
            Ok(unsafe { Self::at(base, count, Backing::Mapped(map)) })
        })
    }

    /// Under loom there are no named segments (a model uses
    /// [`heap`](Self::heap) tables): creating a named table fails.
    #[cfg(shmq_loom)]
    pub(crate) fn create(
        _name: &str,
        _spec: Spec,
        _count: usize,
        _mode: u32,
        _init: impl FnOnce(&Self),
    ) -> Result<Self, OpenError> {
        Err(OpenErrorKind::InvalidOptions("named segments are not modelled under loom").into())
    }

    /// Under loom, opening a named table fails (see `create`).
    #[cfg(shmq_loom)]
    pub(crate) fn open(
        _name: &str,
        _spec: Spec,
        _timeout: std::time::Duration,
    ) -> Result<Self, OpenError> {
        Err(OpenErrorKind::InvalidOptions("named segments are not modelled under loom").into())
    }

    /// A table over a copy of `image`, checked as `open` checks a file of
    /// its length (ready or not: the fuzz targets set what they like).
    #[cfg(fuzzing)]
    pub(crate) fn from_image(image: &[u8], spec: Spec) -> Result<Self, OpenError> {
        if image.len() < TABLE_HEADER_SIZE {
            return Err(OpenErrorKind::SizeMismatch {
                what: "file size",
                found: image.len() as u64,
                expected: TABLE_HEADER_SIZE as u64,
            }
            .into());
        }
        let mut lines = vec![Line([0; 128]); image.len().div_ceil(128)].into_boxed_slice();
        for (line, chunk) in lines.iter_mut().zip(image.chunks(128)) {
            line.0[..chunk.len()].copy_from_slice(chunk);
        }
        let base = lines.as_mut_ptr().cast::<u8>();
        // SAFETY: at least TABLE_HEADER_SIZE bytes, 128-aligned, owned by
        // `lines`; `TableMeta` is all atomics, valid for any bytes.
        let meta = unsafe { &*base.cast::<TableMeta>() };
        match meta.ready.load(crate::sync::Ordering::Acquire) {
            crate::layout::READY => {}
            0 => return Err(OpenErrorKind::NotReady.into()),
            _ => return Err(OpenErrorKind::BadHeader("bad ready marker").into()),
        }
        let count = validate::<E>(meta, spec, image.len() as u64)?;
        // SAFETY: `validate` checked the image is exactly
        // `segment_size::<E>(count)` bytes (all copied into `lines`, which
        // the table keeps; moving the box does not move its contents).
        Ok(unsafe { Self::at(base, count, Backing::Image(lines)) })
    }
}

/// Refuses an entry count outside `1..=spec.max_count`.
pub(crate) fn check_count(spec: Spec, count: usize) -> Result<(), OpenError> {
    if count == 0 || count > spec.max_count {
        return Err(OpenErrorKind::InvalidOptions(spec.count_error).into());
    }
    Ok(())
}

/// Checks every `TableMeta` field of a ready segment of `file_size` bytes
/// against `spec` and `E`; returns the entry count.
pub(crate) fn validate<E>(
    meta: &TableMeta,
    spec: Spec,
    file_size: u64,
) -> Result<usize, OpenError> {
    let magic = meta.magic.load(Relaxed);
    if magic != spec.magic {
        return Err(crate::layout::wrong_magic(magic, spec.kind));
    }
    let version = meta.version.load(Relaxed);
    if version != spec.version {
        return Err(OpenErrorKind::VersionMismatch {
            found: version,
            expected: spec.version,
        }
        .into());
    }
    let entry_size = meta.entry_size.load(Relaxed);
    if entry_size as usize != std::mem::size_of::<E>() {
        return Err(OpenErrorKind::SizeMismatch {
            what: "entry size",
            found: entry_size.into(),
            expected: std::mem::size_of::<E>() as u64,
        }
        .into());
    }
    let count = meta.count.load(Relaxed) as usize;
    if count == 0 || count > spec.max_count {
        return Err(OpenErrorKind::BadHeader(spec.count_error).into());
    }
    crate::segment::check_sizes(
        meta.header_size.load(Relaxed).into(),
        TABLE_HEADER_SIZE as u64,
        meta.segment_size.load(Relaxed),
        file_size,
        segment_size::<E>(count) as u64,
    )?;
    Ok(count)
}

/// `open`, or `create` if there is nothing to open, a few rounds (another
/// process may create or remove it between the two).
pub(crate) fn open_or_create<T>(
    open: impl Fn() -> Result<T, OpenError>,
    create: impl Fn() -> Result<T, OpenError>,
) -> Result<T, OpenError> {
    let mut last = None;
    for _ in 0..8 {
        match open() {
            Err(e) if matches!(e.kind(), OpenErrorKind::NotFound) => {}
            other => return other,
        }
        match create() {
            Err(e) if matches!(e.kind(), OpenErrorKind::AlreadyExists) => last = Some(e),
            other => return other,
        }
    }
    Err(last.unwrap_or_else(|| OpenErrorKind::NotFound.into()))
}

/// Removes the segment `name` if it is a table of `spec`'s kind (or not a
/// valid segment of any kind: junk left by a creator that died is removed
/// too); a queue or another kind is left alone.
pub(crate) fn remove<C: Shared, E: Shared>(name: &str, spec: Spec) -> Result<(), OpenError> {
    crate::segment::validate_name(name)?;
    #[cfg(not(shmq_loom))]
    if let Err(e) = Table::<C, E>::open(name, spec, std::time::Duration::ZERO) {
        if matches!(
            e.kind(),
            OpenErrorKind::WrongKind { .. } | OpenErrorKind::NotFound
        ) {
            return Err(e);
        }
    }
    #[cfg(shmq_loom)]
    let _ = spec;
    crate::segment::remove(name)
}
