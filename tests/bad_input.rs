//! Shared memory is untrusted input: bad names, bad options, and segments
//! scribbled on by another process must give a named error — never a panic,
//! undefined behaviour or an endless wait.
//!
//! The tests write into `/dev/shm/shmq.<name>` with plain file I/O
//! (`pwrite`), the way a buggy or hostile peer could, at the offsets of the
//! layout documented in `src/layout.rs`. Every test uses its own queue name
//! and removes its queue when it ends, pass or fail. Anything that could
//! block runs under a watchdog, so a regression fails instead of hanging.

mod support;

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt, PermissionsExt};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use support::within;

use shmq::{
    OpenError, OpenErrorKind, Queue, QueueBuilder, Receiver, RecvError, RecvTimeoutError, Role,
    SendError, SendTimeoutError, Sender, TryRecvError, TrySendError, WaitStrategy,
};

// ---------------------------------------------------------------------------
// Segment layout (src/layout.rs), as a foreign process sees it.

const OFF_MAGIC: u64 = 0;
const OFF_VERSION: u64 = 8;
const OFF_FLAVOUR: u64 = 12;
const OFF_HEADER_SIZE: u64 = 16;
const OFF_SLOT_SIZE: u64 = 20;
const OFF_SLOT_COUNT: u64 = 24;
const OFF_LANES: u64 = 28;
const OFF_MAX_MESSAGE: u64 = 32;
const OFF_SEGMENT_SIZE: u64 = 40;
const OFF_READY: u64 = 48;
const OFF_RECEIVER_TOKEN: u64 = 128 + 8;
const OFF_RECEIVER_EPOCH: u64 = 128 + 16;
/// Lane 0's header (the one lane of these queues).
const OFF_LANE: u64 = 256;
const OFF_HEAD: u64 = OFF_LANE;
const OFF_TAIL: u64 = OFF_LANE + 128;
const OFF_SENDER_TOKEN: u64 = OFF_LANE + 256 + 8;
const OFF_SENDER_EPOCH: u64 = OFF_LANE + 256 + 16;
const HEADER: u64 = OFF_LANE + 384;
const OFF_SLOTS: u64 = HEADER;

const MAGIC: u64 = u64::from_le_bytes(*b"SHMQRING");
const READY: u32 = u32::from_le_bytes(*b"REDY");

const KIND_MESSAGE: u32 = 1;
const KIND_PADDING: u32 = 2;
const KIND_FIRST: u32 = 3;
const KIND_MIDDLE: u32 = 4;
const KIND_LAST: u32 = 5;
const KIND_HELLO: u32 = 6;

/// The commit word at bytes 4..8 of a record header: the kind in bits 0..8,
/// the low 24 bits of the record's position in bits 8..32. `0` means that
/// nothing is committed at that position.
const fn stamp(kind: u32, position: u64) -> u32 {
    kind | ((position as u32) << 8)
}

/// Layout version of the segments this library writes and accepts.
const VERSION: u32 = 4;

/// Geometry of every test queue: 8 slots of 64 bytes, a 1 KiB segment.
const SLOT: u64 = 64;
const SLOTS: u64 = 8;
const SEGMENT: u64 = HEADER + SLOT * SLOTS;
/// Largest single record payload of that ring: the sender always keeps one
/// slot more free than a record takes, so a record spans at most all the
/// slots but one.
const CAPACITY: u64 = SLOT * (SLOTS - 1) - 16;

/// Open timeout used against tampered segments.
const OPEN_TIMEOUT: Duration = Duration::from_millis(200);
/// Upper bound for anything that must not hang.
const WATCHDOG: Duration = Duration::from_secs(10);

const INDICES: &str = "head and tail indices out of range";
const TAIL_BEYOND: &str = "tail index beyond 2^62";
const STAMPED: &str = "record stamped for another position";

// ---------------------------------------------------------------------------
// Helpers.

/// A queue name unique to this process, call and test.
fn unique_name(test: &str) -> String {
    static COUNTER: Mutex<u64> = Mutex::new(0);
    let n = {
        let mut c = COUNTER.lock().unwrap_or_else(|e| e.into_inner());
        *c += 1;
        *c
    };
    let mut name = format!("bad-{}-{n}-{test}", std::process::id());
    name.truncate(shmq::MAX_NAME_LEN);
    name
}

fn path_of(name: &str) -> PathBuf {
    PathBuf::from(format!("/dev/shm/shmq.{name}"))
}

/// Removes the queue (or whatever a test put at its path) when dropped.
struct Cleanup(String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        match Queue::remove(&self.0).map_err(OpenError::into_kind) {
            Ok(()) | Err(OpenErrorKind::NotFound) => {}
            Err(_) => {
                // Not something `remove` handles (a directory): clean up by hand.
                let path = path_of(&self.0);
                let _ = std::fs::remove_dir(&path);
                let _ = std::fs::remove_file(&path);
            }
        }
    }
}

/// Read-write handle on a segment file, for scribbling.
fn raw_file(name: &str) -> File {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(path_of(name))
        .expect("open the segment file")
}

fn poke(file: &File, offset: u64, bytes: &[u8]) {
    file.write_all_at(bytes, offset).expect("write the segment");
}

fn poke_u32(file: &File, offset: u64, value: u32) {
    poke(file, offset, &value.to_le_bytes());
}

fn poke_u64(file: &File, offset: u64, value: u64) {
    poke(file, offset, &value.to_le_bytes());
}

fn peek_u64(file: &File, offset: u64) -> u64 {
    let mut buf = [0u8; 8];
    file.read_exact_at(&mut buf, offset)
        .expect("read the segment");
    u64::from_le_bytes(buf)
}

fn builder(name: &str) -> QueueBuilder {
    Queue::builder(name)
        .slot_size(SLOT as usize)
        .slots(SLOTS as usize)
        .max_message_size(1024)
}

/// A queue created and closed again (no handle left), whose segment the
/// test then corrupts.
struct Victim {
    name: String,
    file: File,
    _cleanup: Cleanup,
}

fn victim(test: &str) -> Victim {
    let name = unique_name(test);
    let cleanup = Cleanup(name.clone());
    drop(builder(&name).create().expect("create the victim queue"));
    let file = raw_file(&name);
    assert_eq!(file.metadata().unwrap().len(), SEGMENT);
    assert_eq!(peek_u64(&file, OFF_MAGIC), MAGIC);
    Victim {
        name,
        file,
        _cleanup: cleanup,
    }
}

impl Victim {
    /// Opens the victim with a short open timeout, under the watchdog.
    /// Returns the result and how long the open took.
    fn open(&self) -> (Result<Queue, OpenError>, Duration) {
        let name = self.name.clone();
        within(WATCHDOG, "open of a tampered segment", move || {
            let start = Instant::now();
            let result = Queue::builder(name).open_timeout(OPEN_TIMEOUT).open();
            (result, start.elapsed())
        })
    }

    fn open_err(&self, what: &str) -> (OpenError, Duration) {
        match self.open() {
            (Ok(q), _) => panic!("{what}: open succeeded: {:?}", q.stats()),
            (Err(e), elapsed) => (e, elapsed),
        }
    }
}

/// Opens a victim after `tamper` and checks the error with `check`.
fn tampered(what: &str, tamper: impl FnOnce(&File), check: impl FnOnce(&OpenError) -> bool) {
    let v = victim("hdr");
    tamper(&v.file);
    let (err, elapsed) = v.open_err(what);
    assert!(check(&err), "{what}: unexpected error {err:?} ({err})");
    // Only a missing ready marker is worth waiting for; everything else is
    // decided at once (generous slack for a loaded machine).
    if !matches!(err.kind(), OpenErrorKind::NotReady) {
        assert!(
            elapsed < OPEN_TIMEOUT + Duration::from_millis(500),
            "{what}: took {elapsed:?}"
        );
    }
}

fn size_mismatch(err: &OpenError, what: &str, found: u64, expected: u64) -> bool {
    matches!(err.kind(), OpenErrorKind::SizeMismatch { what: w, found: f, expected: e }
        if *w == what && *f == found && *e == expected)
}

fn bad_header(err: &OpenError, what: &str) -> bool {
    matches!(err.kind(), OpenErrorKind::BadHeader(w) if *w == what)
}

// ---------------------------------------------------------------------------
// Names.

const BAD_NAMES: &[&str] = &[
    "", ".", "..", "../x", "a/b", "/abs", ".hidden", "a b", "a\0b", "é", "naïve", "a*", "a\nb",
    "a:b",
];

fn bad_names() -> Vec<String> {
    let mut names: Vec<String> = BAD_NAMES.iter().map(|s| s.to_string()).collect();
    names.push("x".repeat(65));
    names.push("y".repeat(1000));
    names
}

fn shm_entries() -> Vec<String> {
    std::fs::read_dir("/dev/shm")
        .expect("read /dev/shm")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

fn looks_valid(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

#[test]
fn invalid_names_are_rejected_before_touching_the_filesystem() {
    let before = shm_entries();
    for name in bad_names() {
        let is_invalid = |e: &OpenError| matches!(e.kind(), OpenErrorKind::InvalidName { name: n, reason } if *n == name && !reason.is_empty());
        let e = Queue::create(&name).unwrap_err();
        assert!(is_invalid(&e), "create {name:?}: {e:?}");
        let e = Queue::builder(&name).create().unwrap_err();
        assert!(is_invalid(&e), "builder create {name:?}: {e:?}");
        let e = Queue::open(&name).unwrap_err();
        assert!(is_invalid(&e), "open {name:?}: {e:?}");
        let e = Queue::builder(&name).open_or_create().unwrap_err();
        assert!(is_invalid(&e), "open_or_create {name:?}: {e:?}");
        let e = Queue::remove(&name).unwrap_err();
        assert!(is_invalid(&e), "remove {name:?}: {e:?}");
        // The display names the name and says why.
        assert!(e.to_string().contains("invalid queue name"), "{e}");

        if !name.contains('\0') {
            assert!(
                std::fs::symlink_metadata(path_of(&name)).is_err(),
                "{name:?}: something exists at {}",
                path_of(&name).display()
            );
        }
    }
    // Nothing with an invalid queue name appeared in /dev/shm (other tests
    // may create valid ones meanwhile).
    let strays: Vec<String> = shm_entries()
        .into_iter()
        .filter(|e| !before.contains(e))
        .filter(|e| match e.strip_prefix("shmq.") {
            Some(queue) => !looks_valid(queue),
            None => false,
        })
        .collect();
    assert!(strays.is_empty(), "created in /dev/shm: {strays:?}");
}

#[test]
fn valid_edge_names_work() {
    let base = unique_name("e");
    let long = format!("{base}-{}", "x".repeat(64))
        .chars()
        .take(64)
        .collect::<String>();
    assert_eq!(long.len(), 64);
    let names = [
        long,
        format!("a.b-c_9.{base}"),
        format!("-{base}"),
        format!("_{base}"),
        format!("{base}.."),
        format!("{base}.a..b"),
    ];
    for name in names {
        let _cleanup = Cleanup(name.clone());
        let q = builder(&name)
            .create()
            .unwrap_or_else(|e| panic!("create {name:?}: {e}"));
        assert_eq!(q.name(), Some(name.as_str()));
        assert!(path_of(&name).is_file(), "{name:?}");
        assert!(Queue::list().unwrap().contains(&name), "{name:?} listed");
        let mut tx = q.sender().unwrap();
        let mut rx = Queue::open(&name).unwrap().receiver().unwrap();
        tx.try_send(name.as_bytes()).unwrap();
        assert_eq!(rx.try_recv().unwrap(), name.as_bytes());
        drop((tx, rx));
        Queue::remove(&name).unwrap();
        assert!(matches!(
            Queue::open(&name).map_err(OpenError::into_kind),
            Err(OpenErrorKind::NotFound)
        ));
    }
}

// ---------------------------------------------------------------------------
// Options, existence.

#[test]
fn invalid_options_are_rejected() {
    let cases: &[(usize, usize, u64)] = &[
        (0, 8, 1024),
        (32, 8, 1024),
        (100, 8, 1024),
        (65, 8, 1024),
        (127, 8, 1024),
        ((16 << 20) + 64, 2, 1024),
        (32 << 20, 2, 1024),
        (usize::MAX, 8, 1024),
        (64, 0, 1024),
        (64, 1, 1024),
        (64, 3, 1024),
        (64, 6, 1024),
        (64, 1 << 25, 1024),
        (64, usize::MAX, 1024),
        (1 << 20, 1 << 13, 1024), // an 8 GiB ring
        (64, 8, (1 << 40) + 1),
        (64, 8, u64::MAX),
    ];
    for &(slot_size, slots, max) in cases {
        let what = format!("slot_size {slot_size} slots {slots} max {max}");
        let in_process = QueueBuilder::in_process()
            .slot_size(slot_size)
            .slots(slots)
            .max_message_size(max)
            .create()
            .unwrap_err();
        assert!(
            matches!(in_process.kind(), OpenErrorKind::InvalidOptions(why) if !why.is_empty()),
            "in-process {what}: {in_process:?}"
        );
        let name = unique_name("opt");
        let _cleanup = Cleanup(name.clone());
        let b = Queue::builder(&name)
            .slot_size(slot_size)
            .slots(slots)
            .max_message_size(max);
        let e = b.create().unwrap_err();
        assert!(
            matches!(e.kind(), OpenErrorKind::InvalidOptions(_)),
            "{what}: {e:?}"
        );
        let e = b.open_or_create().unwrap_err();
        assert!(
            matches!(e.kind(), OpenErrorKind::InvalidOptions(_)),
            "{what}: {e:?}"
        );
        assert!(
            std::fs::symlink_metadata(path_of(&name)).is_err(),
            "{what}: a file was left behind"
        );
    }
    // The extremes that are allowed.
    for (slot_size, slots, max) in [(64, 2, 0), (64, 2, 1 << 40), (16 << 20, 2, 1)] {
        QueueBuilder::in_process()
            .slot_size(slot_size)
            .slots(slots)
            .max_message_size(max)
            .create()
            .unwrap_or_else(|e| panic!("{slot_size} {slots} {max}: {e}"));
    }
    // An in-process queue can only be created.
    assert!(matches!(
        QueueBuilder::in_process()
            .open()
            .map_err(OpenError::into_kind),
        Err(OpenErrorKind::InvalidOptions(_))
    ));
}

#[test]
fn exists_and_not_found() {
    let name = unique_name("exists");
    let _cleanup = Cleanup(name.clone());
    assert!(matches!(
        Queue::open(&name).map_err(OpenError::into_kind),
        Err(OpenErrorKind::NotFound)
    ));
    assert!(matches!(
        Queue::remove(&name).map_err(OpenError::into_kind),
        Err(OpenErrorKind::NotFound)
    ));
    let q = builder(&name).create().unwrap();
    assert!(matches!(
        builder(&name).create().map_err(OpenError::into_kind),
        Err(OpenErrorKind::AlreadyExists)
    ));
    assert!(matches!(
        Queue::create(&name).map_err(OpenError::into_kind),
        Err(OpenErrorKind::AlreadyExists)
    ));
    // open_or_create opens the existing one and ignores (even impossible)
    // size settings, which only apply to creation.
    let again = Queue::builder(&name).slots(3).open_or_create().unwrap();
    assert_eq!(again.slot_count(), SLOTS as usize);
    Queue::remove(&name).unwrap();
    assert!(matches!(
        Queue::remove(&name).map_err(OpenError::into_kind),
        Err(OpenErrorKind::NotFound)
    ));
    assert!(matches!(
        Queue::open(&name).map_err(OpenError::into_kind),
        Err(OpenErrorKind::NotFound)
    ));
    // Handles opened before the removal keep working.
    let (mut tx, mut rx) = (q.sender().unwrap(), again.receiver().unwrap());
    tx.try_send(b"still here").unwrap();
    assert_eq!(rx.try_recv().unwrap(), b"still here");
}

// ---------------------------------------------------------------------------
// File mode.

/// Sets the process umask and restores it when dropped.
struct Umask(rustix::fs::Mode);

impl Umask {
    fn set(mask: u32) -> Self {
        Umask(rustix::process::umask(rustix::fs::Mode::from_raw_mode(
            mask,
        )))
    }
}

impl Drop for Umask {
    fn drop(&mut self) {
        rustix::process::umask(self.0);
    }
}

fn mode_of(name: &str) -> u32 {
    std::fs::metadata(path_of(name))
        .unwrap()
        .permissions()
        .mode()
        & 0o7777
}

#[test]
fn file_mode_is_exact() {
    let name = unique_name("mode-default");
    let _c1 = Cleanup(name.clone());
    let _q = builder(&name).create().unwrap();
    assert_eq!(mode_of(&name), 0o600, "default mode");

    // The umask must not apply: the library sets the mode itself.
    let _umask = Umask::set(0o077);
    for (asked, expected) in [(0o640, 0o640), (0o666, 0o666), (0o4755, 0o755), (0, 0)] {
        let name = unique_name("mode");
        let _c = Cleanup(name.clone());
        let _q = builder(&name).mode(asked).create().unwrap();
        assert_eq!(mode_of(&name), expected, "mode({asked:o}) under umask 077");
    }
}

// ---------------------------------------------------------------------------
// Tampered headers.

#[test]
fn wrong_magic_version_flavour() {
    tampered(
        "magic",
        |f| poke_u64(f, OFF_MAGIC, 0xdead_beef),
        |e| matches!(e.kind(), OpenErrorKind::BadMagic { found: 0xdead_beef }),
    );
    tampered(
        "magic zero",
        |f| poke_u64(f, OFF_MAGIC, 0),
        |e| matches!(e.kind(), OpenErrorKind::BadMagic { found: 0 }),
    );
    // 1 is a segment of the previous protocol (receiver polls head): its
    // records carry a bare kind where version 2 expects a commit word.
    // 2 is the single-lane layout before sender lanes (512-byte header);
    // 3 the layout before topics (no join point in the producer line).
    for version in [0, 1, 2, 3, 5, u32::MAX] {
        tampered(
            "version",
            |f| poke_u32(f, OFF_VERSION, version),
            |e| matches!(e.kind(), OpenErrorKind::VersionMismatch { found, expected: VERSION } if *found == version),
        );
    }
    for flavour in [0, 3, u32::MAX] {
        tampered(
            "flavour",
            |f| poke_u32(f, OFF_FLAVOUR, flavour),
            |e| matches!(e.kind(), OpenErrorKind::FlavourMismatch { found } if *found == flavour),
        );
    }
    // 2 is a topic's ring: a queue open refuses it by name.
    tampered(
        "topic flavour",
        |f| poke_u32(f, OFF_FLAVOUR, 2),
        |e| {
            matches!(
                e.kind(),
                OpenErrorKind::WrongKind {
                    found: "topic",
                    expected: "queue"
                }
            )
        },
    );
    for header_size in [0, 256, 512, HEADER as u32 - 1, HEADER as u32 + 1, u32::MAX] {
        tampered(
            "header size",
            |f| poke_u32(f, OFF_HEADER_SIZE, header_size),
            |e| size_mismatch(e, "header size", header_size.into(), HEADER),
        );
    }
    // The number of sender lanes, which the header size and the segment
    // size must match.
    for lanes in [0, 65, u32::MAX] {
        tampered(
            "lanes",
            |f| poke_u32(f, OFF_LANES, lanes),
            |e| {
                matches!(
                    e.kind(),
                    OpenErrorKind::BadHeader("sender lanes out of range (1 to 64)")
                )
            },
        );
    }
    tampered(
        "two lanes in a one-lane segment",
        |f| poke_u32(f, OFF_LANES, 2),
        |e| size_mismatch(e, "header size", HEADER, HEADER + 384),
    );
    tampered(
        "two lanes and their header size in a one-lane segment",
        |f| {
            poke_u32(f, OFF_LANES, 2);
            poke_u32(f, OFF_HEADER_SIZE, HEADER as u32 + 384);
        },
        |e| {
            size_mismatch(
                e,
                "segment size field",
                SEGMENT,
                SEGMENT + 384 + SLOT * SLOTS,
            )
        },
    );
}

#[test]
fn impossible_slot_size() {
    let cases: &[(u32, &str)] = &[
        (0, "slot size out of range (64 B to 16 MiB)"),
        (32, "slot size out of range (64 B to 16 MiB)"),
        (63, "slot size out of range (64 B to 16 MiB)"),
        (32 << 20, "slot size out of range (64 B to 16 MiB)"),
        (u32::MAX, "slot size out of range (64 B to 16 MiB)"),
        (100, "slot size is not a multiple of 64"),
        (65, "slot size is not a multiple of 64"),
        ((16 << 20) - 1, "slot size is not a multiple of 64"),
    ];
    for &(slot_size, why) in cases {
        tampered(
            &format!("slot size {slot_size}"),
            |f| poke_u32(f, OFF_SLOT_SIZE, slot_size),
            |e| bad_header(e, why),
        );
    }
    // A possible slot size that disagrees with the segment.
    tampered(
        "slot size 128",
        |f| poke_u32(f, OFF_SLOT_SIZE, 128),
        |e| size_mismatch(e, "segment size field", SEGMENT, HEADER + 128 * SLOTS),
    );
    tampered(
        "slot size 128 with a matching segment size field",
        |f| {
            poke_u32(f, OFF_SLOT_SIZE, 128);
            poke_u64(f, OFF_SEGMENT_SIZE, HEADER + 128 * SLOTS);
        },
        |e| size_mismatch(e, "file size", SEGMENT, HEADER + 128 * SLOTS),
    );
    // A ring larger than 4 GiB (each setting alone is in range).
    tampered(
        "8 GiB ring",
        |f| {
            poke_u32(f, OFF_SLOT_SIZE, 1 << 20);
            poke_u32(f, OFF_SLOT_COUNT, 1 << 13);
        },
        |e| bad_header(e, "ring larger than 4 GiB"),
    );
}

#[test]
fn impossible_slot_count() {
    let cases: &[(u32, &str)] = &[
        (0, "slot count is not a power of two"),
        (3, "slot count is not a power of two"),
        (7, "slot count is not a power of two"),
        (u32::MAX, "slot count is not a power of two"),
        (1, "slot count out of range (2 to 2^24)"),
        (1 << 25, "slot count out of range (2 to 2^24)"),
        (1 << 31, "slot count out of range (2 to 2^24)"),
    ];
    for &(count, why) in cases {
        tampered(
            &format!("slot count {count}"),
            |f| poke_u32(f, OFF_SLOT_COUNT, count),
            |e| bad_header(e, why),
        );
    }
    // Lying counts that are possible in themselves.
    tampered(
        "slot count 16",
        |f| poke_u32(f, OFF_SLOT_COUNT, 16),
        |e| size_mismatch(e, "segment size field", SEGMENT, HEADER + 16 * SLOT),
    );
    tampered(
        "slot count 16 with a matching segment size field",
        |f| {
            poke_u32(f, OFF_SLOT_COUNT, 16);
            poke_u64(f, OFF_SEGMENT_SIZE, HEADER + 16 * SLOT);
        },
        |e| size_mismatch(e, "file size", SEGMENT, HEADER + 16 * SLOT),
    );
    tampered(
        "slot count 4 with a matching segment size field",
        |f| {
            poke_u32(f, OFF_SLOT_COUNT, 4);
            poke_u64(f, OFF_SEGMENT_SIZE, HEADER + 4 * SLOT);
        },
        |e| size_mismatch(e, "file size", SEGMENT, HEADER + 4 * SLOT),
    );
    tampered(
        "slot count 1 << 24 with a matching segment size field",
        |f| {
            poke_u32(f, OFF_SLOT_COUNT, 1 << 24);
            poke_u64(f, OFF_SEGMENT_SIZE, HEADER + (1 << 24) * SLOT);
        },
        |e| size_mismatch(e, "file size", SEGMENT, HEADER + (1 << 24) * SLOT),
    );
}

#[test]
fn impossible_max_message_and_segment_size() {
    for max in [(1 << 40) + 1, 1 << 41, u64::MAX] {
        tampered(
            &format!("max message size {max}"),
            |f| poke_u64(f, OFF_MAX_MESSAGE, max),
            |e| bad_header(e, "max message size larger than 1 TiB"),
        );
    }
    for declared in [0, 512, SEGMENT - 1, SEGMENT + 1, SEGMENT * 2, u64::MAX] {
        tampered(
            &format!("segment size field {declared}"),
            |f| poke_u64(f, OFF_SEGMENT_SIZE, declared),
            |e| size_mismatch(e, "segment size field", declared, SEGMENT),
        );
    }
    // 1 TiB exactly is the (valid) limit.
    let v = victim("max");
    poke_u64(&v.file, OFF_MAX_MESSAGE, 1 << 40);
    let (q, _) = v.open();
    assert_eq!(
        q.expect("a 1 TiB limit is valid").max_message_size(),
        1 << 40
    );
}

#[test]
fn ready_marker() {
    for garbage in [
        1,
        READY ^ 1,
        0xdead_beef,
        u32::MAX,
        u32::from_le_bytes(*b"redy"),
    ] {
        tampered(
            &format!("ready {garbage:#x}"),
            |f| poke_u32(f, OFF_READY, garbage),
            |e| bad_header(e, "bad ready marker"),
        );
    }
    // A garbage marker is refused at once, not waited on.
    let v = victim("ready");
    poke_u32(&v.file, OFF_READY, 7);
    let name = v.name.clone();
    let (e, elapsed) = within(WATCHDOG, "open with bad ready", move || {
        let start = Instant::now();
        let e = Queue::builder(name)
            .open_timeout(Duration::from_secs(5))
            .open()
            .unwrap_err();
        (e, start.elapsed())
    });
    assert!(bad_header(&e, "bad ready marker"), "{e:?}");
    assert!(elapsed < Duration::from_secs(2), "waited {elapsed:?}");

    // Not ready: waits for about the open timeout, then gives up.
    let v = victim("notready");
    poke_u32(&v.file, OFF_READY, 0);
    let (e, elapsed) = v.open_err("ready 0");
    assert!(matches!(e.kind(), OpenErrorKind::NotReady), "{e:?}");
    assert!(elapsed >= OPEN_TIMEOUT, "gave up early: {elapsed:?}");
    assert!(
        elapsed < OPEN_TIMEOUT + Duration::from_millis(1500),
        "took {elapsed:?}"
    );
}

#[test]
fn wrong_file_size() {
    // Shorter than the fixed part of the header.
    for len in [100, 1, 255] {
        tampered(
            &format!("truncated to {len}"),
            |f| f.set_len(len).unwrap(),
            |e| size_mismatch(e, "file size", len, 256),
        );
    }
    for len in [
        512,
        600,
        SEGMENT - 1,
        SEGMENT + 1,
        SEGMENT + 64,
        SEGMENT * 4,
    ] {
        tampered(
            &format!("resized to {len}"),
            |f| f.set_len(len).unwrap(),
            |e| size_mismatch(e, "file size", len, SEGMENT),
        );
    }
    // An empty file looks like a creator that has not sized it yet.
    let v = victim("empty");
    v.file.set_len(0).unwrap();
    let (e, elapsed) = v.open_err("truncated to 0");
    assert!(matches!(e.kind(), OpenErrorKind::NotReady), "{e:?}");
    assert!(elapsed >= OPEN_TIMEOUT, "{elapsed:?}");
    assert!(
        elapsed < OPEN_TIMEOUT + Duration::from_millis(1500),
        "{elapsed:?}"
    );
    // So does a zeroed one of the right size.
    let v = victim("zeroed");
    poke(&v.file, 0, &[0u8; SEGMENT as usize]);
    let (e, elapsed) = v.open_err("zeroed");
    assert!(matches!(e.kind(), OpenErrorKind::NotReady), "{e:?}");
    assert!(elapsed >= OPEN_TIMEOUT, "{elapsed:?}");
}

#[test]
fn impossible_ring_indices_refuse_attach() {
    // (head, tail): head behind tail, or as far ahead as the ring or more
    // (the sender always keeps a slot free, so head - tail < SLOTS). The
    // sender, which continues from head, refuses them all. The receiver
    // never reads head: it refuses only a tail beyond 2^62, and otherwise
    // finds an empty ring (zeroed commit words) whatever head says.
    let cases = [
        (2, 5),
        (0, 1),
        (SLOTS, 0),
        (SLOTS + 1, 0),
        (100, 0),
        (u64::MAX, 0),
        (0, u64::MAX),
    ];
    for (head, tail) in cases {
        let v = victim("idx");
        poke_u64(&v.file, OFF_HEAD, head);
        poke_u64(&v.file, OFF_TAIL, tail);
        // The header itself is fine; the indices are checked on attach.
        let q = v.open().0.expect("open");
        // The receiver first, while no sender has ever come and gone.
        if tail > 1 << 62 {
            let e = q.receiver().unwrap_err();
            assert!(
                bad_header(&e, TAIL_BEYOND),
                "receiver with head {head} tail {tail}: {e:?}"
            );
        } else {
            let mut rx = q
                .receiver()
                .unwrap_or_else(|e| panic!("receiver with head {head} tail {tail}: {e:?}"));
            assert_eq!(
                rx.try_recv(),
                Err(TryRecvError::Empty),
                "receiver with head {head} tail {tail}"
            );
            drop(rx);
        }
        let e = q.sender().unwrap_err();
        assert!(
            bad_header(&e, INDICES),
            "sender with head {head} tail {tail}: {e:?}"
        );
        // The refused sender never counts as one that came and went: a
        // receiver still finds an empty queue, not a disconnected one.
        assert_eq!(q.stats().sender.attaches, 0, "head {head} tail {tail}");
        if tail <= 1 << 62 {
            let mut rx = q.receiver().expect("receiver after a refused sender");
            assert_eq!(
                rx.try_recv(),
                Err(TryRecvError::Empty),
                "receiver after a refused sender, head {head} tail {tail}"
            );
            drop(rx);
        }
        // A refused attach leaves the end free: once the indices are
        // sane (a ring as full as a sender ever makes it), both ends attach.
        poke_u64(&v.file, OFF_TAIL, 1000);
        poke_u64(&v.file, OFF_HEAD, 1000 + SLOTS - 1);
        let mut tx = q.sender().expect("sender after the fix");
        let mut rx = q.receiver().expect("receiver after the fix");
        assert_eq!(q.stats().slots_used, SLOTS - 1);
        // One slot is free, but a record needs one more than it takes.
        assert_eq!(tx.try_send(b"x"), Err(TrySendError::Full));
        // The ring holds zeroed slots: nothing committed, so nothing to read.
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    }
}

// ---------------------------------------------------------------------------
// Things at the path that are not segment files.

fn tmp_path(test: &str) -> PathBuf {
    std::env::temp_dir().join(format!("shmq-test-{}", unique_name(test)))
}

/// Open, open_or_create and create on a path that is not a regular file.
fn refuses_special(name: &str, what: &str, open_ok: impl Fn(&OpenError) -> bool) {
    let n = name.to_owned();
    let (open, ooc, create) = within(WATCHDOG, what, move || {
        let open = Queue::builder(&n).open_timeout(OPEN_TIMEOUT).open();
        let ooc = builder(&n).open_timeout(OPEN_TIMEOUT).open_or_create();
        let create = builder(&n).create();
        (open.err(), ooc.err(), create.err())
    });
    let open = open.unwrap_or_else(|| panic!("{what}: open succeeded"));
    assert!(open_ok(&open), "{what}: open gave {open:?}");
    let ooc = ooc.unwrap_or_else(|| panic!("{what}: open_or_create succeeded"));
    assert!(open_ok(&ooc), "{what}: open_or_create gave {ooc:?}");
    let create = create.unwrap_or_else(|| panic!("{what}: create succeeded"));
    assert!(
        matches!(create.kind(), OpenErrorKind::AlreadyExists),
        "{what}: create gave {create:?}"
    );
}

#[test]
fn symlinks_are_not_followed() {
    // To a regular file that holds a valid segment's bytes, so following
    // the link would "work".
    let model = victim("model");
    let mut image = vec![0u8; SEGMENT as usize];
    model.file.read_exact_at(&mut image, 0).unwrap();
    let target = tmp_path("target");
    std::fs::write(&target, &image).unwrap();
    let name = unique_name("link");
    let _cleanup = Cleanup(name.clone());
    std::os::unix::fs::symlink(&target, path_of(&name)).unwrap();
    refuses_special(&name, "symlink to a file", |e| {
        matches!(e.kind(), OpenErrorKind::NotAFile | OpenErrorKind::Io(_))
    });
    assert_eq!(std::fs::read(&target).unwrap(), image, "target modified");
    // remove takes the link away, not its target.
    Queue::remove(&name).unwrap();
    assert!(std::fs::symlink_metadata(path_of(&name)).is_err());
    assert_eq!(std::fs::read(&target).unwrap(), image);
    std::fs::remove_file(&target).unwrap();

    // To another live queue's segment.
    let real = unique_name("real");
    let _c2 = Cleanup(real.clone());
    let q = builder(&real).create().unwrap();
    let name = unique_name("link2");
    let _c3 = Cleanup(name.clone());
    std::os::unix::fs::symlink(path_of(&real), path_of(&name)).unwrap();
    refuses_special(&name, "symlink to a queue", |e| {
        matches!(e.kind(), OpenErrorKind::NotAFile | OpenErrorKind::Io(_))
    });
    let stats = q.stats();
    assert_eq!((stats.sender.attaches, stats.receiver.attaches), (0, 0));
    let (mut tx, mut rx) = (q.sender().unwrap(), q.receiver().unwrap());
    tx.try_send(b"unharmed").unwrap();
    assert_eq!(rx.try_recv().unwrap(), b"unharmed");

    // Dangling: nothing gets created at the target.
    let name = unique_name("dangling");
    let _c4 = Cleanup(name.clone());
    let target = tmp_path("nowhere");
    std::os::unix::fs::symlink(&target, path_of(&name)).unwrap();
    refuses_special(&name, "dangling symlink", |e| {
        matches!(e.kind(), OpenErrorKind::NotAFile | OpenErrorKind::Io(_))
    });
    assert!(
        std::fs::symlink_metadata(&target).is_err(),
        "target created"
    );
}

#[test]
fn directory_fifo_and_socket_at_the_path() {
    let name = unique_name("dir");
    let _c1 = Cleanup(name.clone());
    std::fs::create_dir(path_of(&name)).unwrap();
    refuses_special(&name, "directory", |e| {
        matches!(e.kind(), OpenErrorKind::NotAFile | OpenErrorKind::Io(_))
    });
    assert!(
        matches!(
            Queue::remove(&name).map_err(OpenError::into_kind),
            Err(OpenErrorKind::Io(_))
        ),
        "remove of a directory"
    );
    assert!(path_of(&name).is_dir());

    let name = unique_name("fifo");
    let _c2 = Cleanup(name.clone());
    rustix::fs::mkfifoat(
        rustix::fs::CWD,
        path_of(&name),
        rustix::fs::Mode::from_raw_mode(0o600),
    )
    .unwrap();
    refuses_special(&name, "fifo", |e| {
        matches!(e.kind(), OpenErrorKind::NotAFile | OpenErrorKind::Io(_))
    });

    let name = unique_name("sock");
    let _c3 = Cleanup(name.clone());
    let _listener = std::os::unix::net::UnixListener::bind(path_of(&name)).unwrap();
    refuses_special(&name, "socket", |e| {
        matches!(e.kind(), OpenErrorKind::NotAFile | OpenErrorKind::Io(_))
    });
}

// ---------------------------------------------------------------------------
// Random garbage.

/// splitmix64: a tiny deterministic generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let bytes = self.next().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }

    /// A value likely to hit an edge.
    fn interesting(&mut self) -> u64 {
        const EDGES: [u64; 14] = [0, 1, 2, 3, 7, 8, 9, 15, 16, 63, 64, 496, 512, 1024];
        match self.below(4) {
            0 => EDGES[self.below(EDGES.len() as u64) as usize],
            1 => self.below(64),
            2 => 1u64 << self.below(63),
            _ => self.next(),
        }
    }
}

/// Uses a queue that opened on a garbage segment every way a peer would,
/// checking that a receiver that saw corruption stays poisoned.
fn exercise(q: &Queue) {
    let _ = (
        q.stats(),
        q.capacity(),
        q.max_message_size(),
        q.slot_count(),
    );
    if let Ok(mut tx) = q.sender() {
        for i in 0..4u8 {
            let _ = tx.try_send(&[i; 40]);
        }
        let _ = tx.send_timeout(&[9; 100], Duration::ZERO);
        let _ = tx.flush_timeout(Duration::ZERO);
        let _ = (tx.len(), tx.is_full(), tx.is_empty(), tx.is_disconnected());
    }
    if let Ok(mut rx) = q.receiver() {
        let mut poisoned = None;
        for _ in 0..24 {
            match rx.try_recv() {
                Err(TryRecvError::Corrupted(e)) => {
                    if let Some(first) = poisoned {
                        assert_eq!(e, first, "the poison changed");
                    }
                    poisoned = Some(e);
                }
                other => assert!(poisoned.is_none(), "not poisoned any more: {other:?}"),
            }
        }
        let r = rx.recv_timeout(Duration::ZERO);
        if poisoned.is_some() {
            assert!(matches!(r, Err(RecvTimeoutError::Corrupted(_))), "{r:?}");
        }
        let _ = (rx.len(), rx.is_empty(), rx.is_disconnected());
    }
}

#[test]
fn random_garbage_never_panics_or_hangs() {
    let v = victim("fuzz");
    let mut image = vec![0u8; SEGMENT as usize];
    v.file.read_exact_at(&mut image, 0).unwrap();
    let name = v.name.clone();
    let file = v.file.try_clone().unwrap();
    let outcomes = within(Duration::from_secs(60), "fuzzing", move || {
        let mut outcomes = std::collections::BTreeMap::<String, u32>::new();
        let mut buf = vec![0u8; SEGMENT as usize];
        for seed in 0..6000u64 {
            let mut rng = Rng(seed);
            buf.copy_from_slice(&image);
            match seed % 3 {
                // Everything random, even the ready marker (sometimes valid).
                0 => {
                    rng.fill(&mut buf);
                    if rng.below(2) == 0 {
                        buf[48..52].copy_from_slice(&READY.to_le_bytes());
                    }
                }
                // A valid header with a few fields or bytes of the first
                // line changed.
                1 => {
                    for _ in 0..1 + rng.below(3) {
                        let value = rng.interesting().to_le_bytes();
                        let at = match rng.below(3) {
                            0 => 8 * rng.below(7) as usize,
                            1 => 4 * rng.below(14) as usize,
                            _ => rng.below(56) as usize,
                        };
                        let width = [1, 4, 8][rng.below(3) as usize];
                        buf[at..at + width].copy_from_slice(&value[..width]);
                    }
                    buf[48..52].copy_from_slice(&READY.to_le_bytes());
                }
                // A valid header over a random ring, indices and owners.
                _ => {
                    rng.fill(&mut buf[128..]);
                    let tail = match rng.below(3) {
                        0 => rng.below(64),
                        1 => (1 << 32) + rng.below(64),
                        _ => (1 << 62) + rng.below(64),
                    };
                    let head = match rng.below(4) {
                        0 => tail + rng.below(SLOTS + 1),
                        1 => tail.wrapping_add(rng.interesting()),
                        2 => tail.saturating_sub(rng.below(4)),
                        _ => tail + SLOTS, // a full ring
                    };
                    let (h, t) = (OFF_HEAD as usize, OFF_TAIL as usize);
                    buf[h..h + 8].copy_from_slice(&head.to_le_bytes());
                    buf[t..t + 8].copy_from_slice(&tail.to_le_bytes());
                    // Make some records look plausible: a valid kind,
                    // committed for the position this lap puts at the slot
                    // (as seen from tail or from head), for the lap before,
                    // or not at all.
                    for slot in 0..SLOTS {
                        if rng.below(2) == 0 {
                            let at = (HEADER + slot * SLOT) as usize;
                            let kind = 1 + rng.below(6) as u32;
                            let len = rng.interesting() as u32 % 600;
                            buf[at..at + 4].copy_from_slice(&len.to_le_bytes());
                            let from = if rng.below(2) == 0 { tail } else { head };
                            let lap = from.wrapping_add(slot.wrapping_sub(from) % SLOTS);
                            let commit = match rng.below(4) {
                                0 | 1 => stamp(kind, lap),
                                2 => stamp(kind, lap.wrapping_sub(SLOTS)),
                                _ => 0,
                            };
                            buf[at + 4..at + 8].copy_from_slice(&commit.to_le_bytes());
                            let total = rng.interesting() % 2048;
                            buf[at + 8..at + 16].copy_from_slice(&total.to_le_bytes());
                        }
                    }
                    if rng.below(2) == 0 {
                        // No owners: both ends free to attach.
                        buf[384..448].fill(0);
                    }
                }
            }
            poke(&file, 0, &buf);
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let opened = Queue::builder(name.as_str())
                    .open_timeout(Duration::from_millis(5))
                    .open();
                if let Ok(q) = &opened {
                    exercise(q);
                }
                match opened {
                    Ok(_) => "Ok".to_owned(),
                    Err(e) => format!("{:?}", e.kind())
                        .split(['(', ' ', '{'])
                        .next()
                        .unwrap_or_default()
                        .to_owned(),
                }
            }));
            match result {
                Ok(outcome) => *outcomes.entry(outcome).or_default() += 1,
                Err(panic) => {
                    let msg = panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default();
                    panic!("seed {seed}: panicked: {msg}");
                }
            }
        }
        outcomes
    });
    eprintln!("random garbage outcomes: {outcomes:?}");
    // The ring cases open; the header cases mostly do not.
    assert!(
        outcomes.get("Ok").copied().unwrap_or(0) >= 1600,
        "{outcomes:?}"
    );
    assert!(
        outcomes.len() >= 4,
        "too few distinct outcomes: {outcomes:?}"
    );
}

// ---------------------------------------------------------------------------
// Ring corruption at run time.

/// A live queue with a receiver attached and no sender; the test forges
/// the sender's records.
struct Rig {
    file: File,
    queue: Queue,
    _cleanup: Cleanup,
}

fn rig(test: &str, max_message_size: u64, head_tail: u64) -> (Rig, Receiver) {
    let name = unique_name(test);
    let cleanup = Cleanup(name.clone());
    let queue = builder(&name)
        .max_message_size(max_message_size)
        .wait_strategy(WaitStrategy::Block)
        .create()
        .unwrap();
    let file = raw_file(&name);
    poke_u64(&file, OFF_HEAD, head_tail);
    poke_u64(&file, OFF_TAIL, head_tail);
    let rx = queue.receiver().unwrap();
    (
        Rig {
            file,
            queue,
            _cleanup: cleanup,
        },
        rx,
    )
}

impl Rig {
    /// Writes a record at position `at` (slot `at % SLOTS`) the way a sender
    /// commits it: clears the commit word of the position after the record
    /// (unless the record fills the ring), writes payload bytes `fill` (as
    /// many of `len` as fit before the end of the ring), `len` and `total`,
    /// then the commit word stamped for `at`. Head is left alone: the
    /// receiver does not read it.
    fn record(&self, at: u64, kind: u32, len: u32, total: u64, fill: u8) {
        let slots = if kind == KIND_PADDING {
            SLOTS - at % SLOTS
        } else {
            (16 + u64::from(len)).div_ceil(SLOT)
        };
        if slots < SLOTS {
            self.clear(at + slots);
        }
        self.record_stamped(at, stamp(kind, at), len, total, fill);
    }

    /// Zeroes the commit word at position `at`: nothing committed there.
    fn clear(&self, at: u64) {
        poke_u32(&self.file, OFF_SLOTS + (at % SLOTS) * SLOT + 4, 0);
    }

    /// Writes payload, `len`, `total`, then `commit` as the commit word, at
    /// position `at`; nothing else.
    fn record_stamped(&self, at: u64, commit: u32, len: u32, total: u64, fill: u8) {
        let slot = OFF_SLOTS + (at % SLOTS) * SLOT;
        let room = SEGMENT - (slot + 16);
        let payload = vec![fill; (len as u64).min(room) as usize];
        poke(&self.file, slot + 16, &payload);
        poke_u32(&self.file, slot, len);
        poke_u64(&self.file, slot + 8, total);
        // The commit word last: it publishes the rest.
        poke_u32(&self.file, slot + 4, commit);
    }

    /// Sets the sender's head, for a sender that attaches later (or for the
    /// statistics); the receiver never reads it.
    fn head(&self, head: u64) {
        poke_u64(&self.file, OFF_HEAD, head);
    }
}

/// Asserts that `rx` reports `check` now and keeps reporting it through
/// every receive call, whatever arrives after.
fn assert_poisoned(rig: &Rig, rx: Receiver, check: &str, first_by_timeout: bool, what: &str) {
    let mut rx = rx;
    let first = if first_by_timeout {
        let start = Instant::now();
        let r = rx.recv_timeout(Duration::from_secs(5));
        assert!(start.elapsed() < Duration::from_secs(2), "{what}: slow");
        match r {
            Err(RecvTimeoutError::Corrupted(e)) => e,
            other => panic!("{what}: recv_timeout gave {other:?}"),
        }
    } else {
        match rx.try_recv() {
            Err(TryRecvError::Corrupted(e)) => e,
            other => panic!("{what}: try_recv gave {other:?}"),
        }
    };
    assert_eq!(first.check(), check, "{what}");
    assert!(first.to_string().contains(check), "{what}: {first}");

    // A valid message committed over the bad record, where a receiver that
    // tried again would find it, is not read any more.
    let tail = peek_u64(&rig.file, OFF_TAIL);
    rig.record(tail, KIND_MESSAGE, 3, 3, b'k');
    for _ in 0..3 {
        assert_eq!(rx.try_recv(), Err(TryRecvError::Corrupted(first)), "{what}");
        assert_eq!(
            rx.recv_timeout(Duration::from_millis(10)),
            Err(RecvTimeoutError::Corrupted(first)),
            "{what}"
        );
    }
    assert_eq!(
        rx.try_recv_with(|b| b.len()),
        Err(TryRecvError::Corrupted(first))
    );
    let what = what.to_owned();
    let rx = within(
        WATCHDOG,
        "blocking recv on a poisoned receiver",
        move || {
            assert_eq!(rx.recv(), Err(RecvError::Corrupted(first)), "{what}");
            let mut buf = Vec::new();
            assert_eq!(rx.recv_into(&mut buf), Err(RecvError::Corrupted(first)));
            assert_eq!(rx.recv_pod::<u64>(), Err(RecvError::Corrupted(first)));
            assert!(rx.iter().next().is_none());
            rx
        },
    );
    drop(rx);
}

/// A forged record: `(position, commit word, len, total)`.
type Forged = (u64, u32, u32, u64);
/// `(what, max message size, head = tail before, records, expected check)`.
type ForgeCase = (&'static str, u64, u64, &'static [Forged], &'static str);

/// A start position in the second lap, for records stamped for the lap
/// before.
const LAP2: u64 = SLOTS + 3;
/// A start position past 2^32, where the stamp keeps only the low 24 bits.
const FAR: u64 = (1 << 32) + 2;

#[test]
fn forged_records_poison_the_receiver() {
    const MAX: u64 = 1024;
    const CASES: &[ForgeCase] = &[
        // Kind 0 stamped for position 0 is the word 0: nothing committed
        // (see `uncommitted_and_valid_forged_records`). Elsewhere its stamp
        // makes it non-zero.
        (
            "kind 0",
            MAX,
            3,
            &[(3, stamp(0, 3), 3, 3)],
            "unknown record kind",
        ),
        (
            "kind 7",
            MAX,
            0,
            &[(0, stamp(7, 0), 3, 3)],
            "unknown record kind",
        ),
        // A sender's hello carries no payload.
        (
            "hello with a payload",
            MAX,
            0,
            &[(0, stamp(KIND_HELLO, 0), 3, 3)],
            "hello record with a payload",
        ),
        (
            "kind 255",
            MAX,
            0,
            &[(0, stamp(0xFF, 0), 3, 3)],
            "unknown record kind",
        ),
        // The word u32::MAX is kind 255 stamped for 2^24 - 1.
        (
            "kind max",
            MAX,
            (1 << 24) - 1,
            &[((1 << 24) - 1, u32::MAX, 3, 3)],
            "unknown record kind",
        ),
        // The stamp is checked before the kind.
        (
            "word u32::MAX at 0",
            MAX,
            0,
            &[(0, u32::MAX, 3, 3)],
            STAMPED,
        ),
        // A record left from the lap before, never overwritten (a sender
        // must clear the next record's word before it commits one).
        (
            "stamped for the lap before",
            MAX,
            LAP2,
            &[(LAP2, stamp(KIND_MESSAGE, LAP2 - SLOTS), 3, 3)],
            STAMPED,
        ),
        (
            "stamped for the next position",
            MAX,
            LAP2,
            &[(LAP2, stamp(KIND_MESSAGE, LAP2 + 1), 3, 3)],
            STAMPED,
        ),
        // At 2^24 the stamp wraps to 0; the lap before stamps 0xFFFFF8.
        (
            "stamped for the lap before, at 2^24",
            MAX,
            1 << 24,
            &[(1 << 24, stamp(KIND_MESSAGE, (1 << 24) - SLOTS), 3, 3)],
            STAMPED,
        ),
        // Past 2^32 likewise: FAR - SLOTS stamps 0xFFFFFA.
        (
            "stamped for the lap before, past 2^32",
            MAX,
            FAR,
            &[(FAR, stamp(KIND_MESSAGE, FAR - SLOTS), 3, 3)],
            STAMPED,
        ),
        (
            "padding stamped for the lap before",
            MAX,
            LAP2,
            &[(LAP2, stamp(KIND_PADDING, LAP2 - SLOTS), 0, 0)],
            STAMPED,
        ),
        // The second record of a message, stamped for where the first one
        // starts.
        (
            "fragment stamped for the record before",
            MAX,
            0,
            &[
                (0, stamp(KIND_FIRST, 0), 10, 20),
                (1, stamp(KIND_LAST, 0), 10, 0),
            ],
            STAMPED,
        ),
        (
            "len just over the ring",
            MAX,
            0,
            &[(0, stamp(KIND_MESSAGE, 0), CAPACITY as u32 + 1, 0)],
            "record longer than the ring",
        ),
        // The whole ring: what a record could take before the sender kept a
        // slot free for the next commit word.
        (
            "len of the whole ring",
            1 << 20,
            0,
            &[(0, stamp(KIND_MESSAGE, 0), (SLOT * SLOTS) as u32 - 16, 0)],
            "record longer than the ring",
        ),
        (
            "len u32::MAX",
            MAX,
            0,
            &[(0, stamp(KIND_MESSAGE, 0), u32::MAX, 0)],
            "record longer than the ring",
        ),
        (
            "fragment longer than the ring",
            1 << 20,
            0,
            &[(0, stamp(KIND_FIRST, 0), 100_000, 1 << 19)],
            "record longer than the ring",
        ),
        (
            "padding at 0",
            MAX,
            0,
            &[(0, stamp(KIND_PADDING, 0), 0, 0)],
            "padding at the start of the ring",
        ),
        (
            "padding at 0 of a later lap",
            MAX,
            2 * SLOTS,
            &[(2 * SLOTS, stamp(KIND_PADDING, 2 * SLOTS), 0, 0)],
            "padding at the start of the ring",
        ),
        // 100 bytes take two slots.
        (
            "wraps",
            MAX,
            7,
            &[(7, stamp(KIND_MESSAGE, 7), 100, 100)],
            "record wraps around the ring",
        ),
        // A full-capacity record takes all slots but one: from slot 2 on
        // it would need slot 0 again.
        (
            "capacity from slot 2",
            MAX,
            LAP2 - 1,
            &[(LAP2 - 1, stamp(KIND_MESSAGE, LAP2 - 1), CAPACITY as u32, 0)],
            "record wraps around the ring",
        ),
        (
            "message over max_message_size",
            100,
            0,
            &[(0, stamp(KIND_MESSAGE, 0), 200, 200)],
            "message longer than max_message_size",
        ),
        (
            "first total over max_message_size",
            MAX,
            0,
            &[(0, stamp(KIND_FIRST, 0), 10, MAX + 1)],
            "message longer than max_message_size",
        ),
        (
            "first total u64::MAX",
            MAX,
            0,
            &[(0, stamp(KIND_FIRST, 0), 10, u64::MAX)],
            "message longer than max_message_size",
        ),
        (
            "first holds the whole message",
            MAX,
            0,
            &[(0, stamp(KIND_FIRST, 0), 30, 20)],
            "first fragment holds the whole message",
        ),
        (
            "middle overruns total",
            MAX,
            0,
            &[
                (0, stamp(KIND_FIRST, 0), 10, 30),
                (1, stamp(KIND_MIDDLE, 1), 30, 0),
            ],
            "fragments longer than the message",
        ),
        (
            "middle completes the message",
            MAX,
            0,
            &[
                (0, stamp(KIND_FIRST, 0), 10, 20),
                (1, stamp(KIND_MIDDLE, 1), 10, 0),
            ],
            "message completed without a last fragment",
        ),
        (
            "last leaves the message short",
            MAX,
            0,
            &[
                (0, stamp(KIND_FIRST, 0), 10, 30),
                (1, stamp(KIND_LAST, 1), 5, 0),
            ],
            "last fragment leaves the message short",
        ),
        (
            "last overruns total",
            MAX,
            0,
            &[
                (0, stamp(KIND_FIRST, 0), 10, 20),
                (1, stamp(KIND_LAST, 1), 15, 0),
            ],
            "fragments longer than the message",
        ),
    ];
    for (i, &(what, max, start, records, check)) in CASES.iter().enumerate() {
        let (rig, rx) = rig("forge", max, start);
        for &(at, commit, len, total) in records {
            rig.record_stamped(at, commit, len, total, 1);
        }
        // Head stays at `start`: the receiver finds the records by their
        // commit words alone.
        assert_eq!(peek_u64(&rig.file, OFF_HEAD), start, "{what}");
        // Half the cases meet the corruption in try_recv, half in recv_timeout.
        assert_poisoned(&rig, rx, check, i % 2 == 1, what);
    }
}

#[test]
fn corruption_arriving_mid_wait_ends_the_wait() {
    for strategy in [
        WaitStrategy::Block,
        WaitStrategy::Spin,
        WaitStrategy::SpinThenBlock(Duration::from_micros(50)),
    ] {
        // Commit words with a single non-zero byte, so the word cannot be
        // read torn: kind 0x55 stamped for position 0, and kind 0 stamped
        // for position 1 (a receiver must not take a word stamped for
        // another position as "nothing yet" and sleep on).
        for (commit, check) in [(0x55, "unknown record kind"), (0x100, STAMPED)] {
            let (rig, mut rx) = rig("midwait", 1024, 0);
            rx.set_wait_strategy(strategy);
            let waiter = std::thread::spawn(move || {
                let start = Instant::now();
                let r = rx.recv_timeout(Duration::from_secs(30));
                (r, start.elapsed())
            });
            std::thread::sleep(Duration::from_millis(100));
            rig.record_stamped(0, commit, 3, 3, 1);
            let (r, elapsed) = within(WATCHDOG, "waiting receiver", move || waiter.join().unwrap());
            match r {
                Err(RecvTimeoutError::Corrupted(e)) => assert_eq!(e.check(), check),
                other => panic!("{strategy:?}, word {commit:#x}: {other:?}"),
            }
            assert!(
                elapsed < Duration::from_secs(3),
                "{strategy:?}, word {commit:#x}: {elapsed:?}"
            );
            drop(rig);
        }
    }
}

#[test]
fn orphan_fragments_are_skipped() {
    let (rig, mut rx) = rig("orphan", 1024, 0);
    // A receiver that took over mid-message: continuation fragments with no
    // First before them are dropped, the next whole message is delivered.
    rig.record(0, KIND_MIDDLE, 10, 0, b'm');
    rig.record(1, KIND_LAST, 10, 0, b'l');
    rig.record(2, KIND_MESSAGE, 5, 5, b'h');
    assert_eq!(rx.try_recv().unwrap(), b"hhhhh");
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));

    // An orphan Last, then a whole fragmented message.
    rig.record(3, KIND_LAST, 40, 0, b'x');
    rig.record(4, KIND_FIRST, 10, 20, b'a');
    rig.record(5, KIND_LAST, 10, 0, b'b');
    let mut expected = vec![b'a'; 10];
    expected.extend([b'b'; 10]);
    assert_eq!(rx.try_recv().unwrap(), expected);

    // A Message in the middle of a fragmented one: the partial message is
    // dropped, the Message delivered, and what follows is an orphan.
    rig.record(6, KIND_FIRST, 10, 30, b'p');
    rig.record(7, KIND_MESSAGE, 2, 2, b'z');
    rig.record(8, KIND_MIDDLE, 10, 0, b'q');
    rig.record(9, KIND_LAST, 10, 0, b'r');
    rig.record(10, KIND_MESSAGE, 1, 1, b'!');
    assert_eq!(rx.recv_timeout(Duration::from_secs(1)).unwrap(), b"zz");
    assert_eq!(rx.recv_timeout(Duration::from_secs(1)).unwrap(), b"!");
    // Slot 3 still holds position 3's record; the record at 10 cleared its
    // commit word, as a sender does.
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));

    // Valid padding at the end of the ring is skipped.
    rig.record(11, KIND_MESSAGE, 3, 3, b'w');
    rig.record(12, KIND_PADDING, 0, 0, 0); // slots 4 to 7
    rig.record(16, KIND_MESSAGE, 4, 4, b'v');
    assert_eq!(rx.try_recv().unwrap(), b"www");
    assert_eq!(rx.try_recv().unwrap(), b"vvvv");
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    // Every record was consumed, head never moved.
    assert_eq!(peek_u64(&rig.file, OFF_TAIL), 17);
    assert_eq!(peek_u64(&rig.file, OFF_HEAD), 0);
    let stats = rig.queue.stats();
    assert_eq!(stats.receiver.messages, 6);
}

/// The receiver reads what is committed at its tail, and only that: a
/// record with everything but its commit word is not read until the word
/// arrives; records as long as the ring allows are delivered in place from
/// any slot they fit; positions past 2^24 and 2^32, where the stamp wraps,
/// work; and head, which the receiver never reads, may say anything.
#[test]
fn uncommitted_and_valid_forged_records() {
    {
        let (rig, mut rx) = rig("valid", 1024, 0);
        // Kind Message stamped for position 0 would be 1; the word 0 (what kind
        // 0 stamped for position 0 would be) means nothing committed.
        rig.record_stamped(0, 0, 5, 5, b'a');
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        assert_eq!(
            rx.recv_timeout(Duration::from_millis(50)),
            Err(RecvTimeoutError::Timeout)
        );
        rig.record(0, KIND_MESSAGE, 5, 5, b'a');
        assert_eq!(rx.try_recv().unwrap(), b"aaaaa");

        // All slots but one, from slot 1 (to the end of the ring) and from
        // slot 0; read in place.
        let capacity = CAPACITY as usize;
        assert_eq!(rig.queue.capacity(), capacity);
        for (at, fill) in [(1, b'b'), (SLOTS, b'c')] {
            rig.record(at, KIND_MESSAGE, CAPACITY as u32, CAPACITY, fill);
            let in_ring = rx
                .try_recv_with(|bytes| {
                    assert_eq!(bytes, vec![fill; capacity]);
                    bytes.len()
                })
                .unwrap_or_else(|e| panic!("capacity at {at}: {e:?}"));
            assert_eq!(in_ring, capacity);
        }
        assert_eq!(peek_u64(&rig.file, OFF_TAIL), SLOTS + 7);

        // Head behind tail, a ring ahead, far ahead: the receiver neither
        // complains nor waits for it.
        let tail = SLOTS + 7;
        for (at, head) in (tail..).zip([2, tail + SLOTS + 1, u64::MAX]) {
            rig.head(head);
            assert_eq!(rx.try_recv(), Err(TryRecvError::Empty), "head {head}");
            rig.record(at, KIND_MESSAGE, 3, 3, b'd');
            assert_eq!(rx.try_recv().unwrap(), b"ddd", "head {head}");
        }
    }

    // Across 2^24 (the stamp wraps to 0) and 2^32 (the position's low 32
    // bits wrap), with every kind, padding included.
    for start in [(1 << 24) - 2, (1 << 32) - 5, (1 << 32) + (1 << 24) - 2] {
        let (rig, mut rx) = rig("stampwrap", 1024, start);
        let mut at = start;
        for round in 0..3u8 {
            rig.record(at, KIND_MESSAGE, 1, 1, round);
            rig.record(at + 1, KIND_FIRST, 10, 20, b'f');
            rig.record(at + 2, KIND_LAST, 10, 0, b'l');
            assert_eq!(rx.try_recv().unwrap(), [round], "from {start:#x}");
            let mut expected = vec![b'f'; 10];
            expected.extend([b'l'; 10]);
            assert_eq!(rx.try_recv().unwrap(), expected, "from {start:#x}");
            at += 3;
        }
        // Pad to the end of the ring, then one message at slot 0.
        assert_ne!(at % SLOTS, 0);
        rig.record(at, KIND_PADDING, 0, 0, 0);
        let next = at + SLOTS - at % SLOTS;
        rig.record(next, KIND_MESSAGE, 2, 2, b'e');
        assert_eq!(rx.try_recv().unwrap(), b"ee", "from {start:#x}");
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty), "from {start:#x}");
        assert_eq!(peek_u64(&rig.file, OFF_TAIL), next + 1);
    }
}

// ---------------------------------------------------------------------------
// The sender side.

/// A live queue with a sender (and, if asked, a receiver) attached, head
/// and tail starting at `start`, and the ring filled with one-slot messages
/// (all slots but one: a record needs one more free slot than it takes).
fn full_sender(test: &str, start: u64, strategy: WaitStrategy) -> (Rig, Sender, Receiver) {
    let name = unique_name(test);
    let cleanup = Cleanup(name.clone());
    let queue = builder(&name).wait_strategy(strategy).create().unwrap();
    let file = raw_file(&name);
    poke_u64(&file, OFF_HEAD, start);
    poke_u64(&file, OFF_TAIL, start);
    let mut tx = queue.sender().unwrap();
    let rx = queue.receiver().unwrap();
    // The sender's hello takes the first slot.
    for i in 0..SLOTS - 2 {
        tx.try_send(&[i as u8; 48]).unwrap();
    }
    assert_eq!(tx.try_send(b"x"), Err(TrySendError::Full));
    assert_eq!(peek_u64(&file, OFF_HEAD), start + SLOTS - 1);
    (
        Rig {
            file,
            queue,
            _cleanup: cleanup,
        },
        tx,
        rx,
    )
}

fn assert_sender_poisoned(mut tx: Sender, what: &str) {
    let check = |e: shmq::CorruptedError| assert_eq!(e.check(), INDICES, "{what}");
    match tx.try_send(b"x") {
        Err(TrySendError::Corrupted(e)) => check(e),
        other => panic!("{what}: try_send gave {other:?}"),
    }
    match tx.send_timeout(b"x", Duration::from_millis(10)) {
        Err(SendTimeoutError::Corrupted(e)) => check(e),
        other => panic!("{what}: send_timeout gave {other:?}"),
    }
    match tx.flush_timeout(Duration::from_millis(10)) {
        Err(SendTimeoutError::Corrupted(e)) => check(e),
        other => panic!("{what}: flush_timeout gave {other:?}"),
    }
    match tx.try_reserve(1) {
        Err(TrySendError::Corrupted(e)) => check(e),
        other => panic!("{what}: try_reserve gave {:?}", other.map(|g| g.len())),
    }
    let what = what.to_owned();
    within(WATCHDOG, "blocking send on a poisoned sender", move || {
        match tx.send(b"x") {
            Err(SendError::Corrupted(e)) => assert_eq!(e.check(), INDICES, "{what}"),
            other => panic!("{what}: send gave {other:?}"),
        }
        assert!(matches!(tx.flush(), Err(SendError::Corrupted(_))));
    });
}

#[test]
fn forged_tail_poisons_the_sender() {
    // Each case forges the tail, has the sender notice it, then puts a sane
    // tail back: the sender must stay poisoned all the same.

    // Tail ahead of head, noticed when a full ring makes `send` reload it.
    let (rig, tx, _rx) = full_sender("tail-ahead", 0, WaitStrategy::Block);
    poke_u64(&rig.file, OFF_TAIL, SLOTS + 1);
    let (tx, r) = within(WATCHDOG, "send with a forged tail", move || {
        let mut tx = tx;
        let r = tx.send(b"x");
        (tx, r)
    });
    match r {
        Err(SendError::Corrupted(e)) => assert_eq!(e.check(), INDICES),
        other => panic!("send gave {other:?}"),
    }
    poke_u64(&rig.file, OFF_TAIL, 0);
    assert_sender_poisoned(tx, "send saw a tail ahead of head");

    // Tail more than a ring behind head, noticed by `try_send`.
    let (rig, mut tx, _rx) = full_sender("tail-behind", 100, WaitStrategy::Spin);
    poke_u64(&rig.file, OFF_TAIL, 50);
    match tx.try_send(b"x") {
        Err(TrySendError::Corrupted(e)) => assert_eq!(e.check(), INDICES),
        other => panic!("try_send gave {other:?}"),
    }
    poke_u64(&rig.file, OFF_TAIL, 100);
    assert_sender_poisoned(tx, "try_send saw a tail far behind head");

    // `flush` reloads the tail too.
    let (rig, tx, _rx) = full_sender("tail-flush", 0, WaitStrategy::Block);
    poke_u64(&rig.file, OFF_TAIL, 200);
    let (tx, r) = within(WATCHDOG, "flush with a forged tail", move || {
        let mut tx = tx;
        let r = tx.flush_timeout(Duration::from_secs(5));
        (tx, r)
    });
    assert!(
        matches!(r, Err(SendTimeoutError::Corrupted(e)) if e.check() == INDICES),
        "flush gave {r:?}"
    );
    poke_u64(&rig.file, OFF_TAIL, 0);
    assert_sender_poisoned(tx, "flush_timeout saw a tail ahead of head");
}

#[test]
fn forged_tail_while_the_sender_sleeps() {
    for strategy in [
        WaitStrategy::Block,
        WaitStrategy::Spin,
        WaitStrategy::SpinThenBlock(Duration::from_micros(50)),
    ] {
        let (rig, mut tx, _rx) = full_sender("tail-sleep", 0, strategy);
        let sender = std::thread::spawn(move || {
            let start = Instant::now();
            let r = tx.send(b"blocked");
            (r, start.elapsed())
        });
        std::thread::sleep(Duration::from_millis(100));
        poke_u64(&rig.file, OFF_TAIL, 200); // one byte changes
        let (r, elapsed) = within(WATCHDOG, "sleeping sender", move || sender.join().unwrap());
        assert!(
            matches!(r, Err(SendError::Corrupted(e)) if e.check() == INDICES),
            "{strategy:?}: {r:?}"
        );
        assert!(
            elapsed < Duration::from_secs(3),
            "{strategy:?}: {elapsed:?}"
        );
        drop(rig);
    }
}

/// A sender that died after committing a record (its commit word) but
/// before storing head leaves a record that the receiver will read and head
/// does not cover. The next sender finds the commit word at head stamped
/// for head and continues after that record rather than over it.
#[test]
fn sender_attach_continues_after_a_record_committed_before_head() {
    // (what, head = tail, kind, len, total, slots the record takes)
    let cases: &[(&str, u64, u32, u32, u64, u64)] = &[
        ("message", LAP2, KIND_MESSAGE, 100, 100, 2),
        // From slot 1 to the end of the ring.
        (
            "message of the whole capacity",
            SLOTS + 1,
            KIND_MESSAGE,
            CAPACITY as u32,
            CAPACITY,
            SLOTS - 1,
        ),
        // From slot 5 to the end of the ring.
        ("padding", SLOTS + 5, KIND_PADDING, 0, 0, 3),
        ("first fragment", FAR, KIND_FIRST, 10, 20, 1),
        ("message past 2^24", (1 << 24) - 1, KIND_MESSAGE, 40, 40, 1),
    ];
    for &(what, start, kind, len, total, slots) in cases {
        let (rig, mut rx) = rig("recover", 1024, start);
        rig.record(start, kind, len, total, b'o');
        assert_eq!(peek_u64(&rig.file, OFF_HEAD), start, "{what}");
        let mut tx = rig
            .queue
            .sender()
            .unwrap_or_else(|e| panic!("{what}: sender attach: {e:?}"));
        let orphan = vec![b'o'; len as usize];
        // The new sender's hello and record need three free slots; with
        // less, the receiver takes the dead sender's record first.
        let early = slots + 3 > SLOTS;
        if early {
            assert_eq!(rx.try_recv().unwrap(), orphan, "{what}");
        }
        tx.try_send(b"after")
            .unwrap_or_else(|e| panic!("{what}: send: {e:?}"));
        assert_eq!(
            peek_u64(&rig.file, OFF_HEAD),
            start + slots + 2,
            "{what}: the new hello and record are not right after the dead sender's"
        );
        if !early && kind == KIND_MESSAGE {
            assert_eq!(rx.try_recv().unwrap(), orphan, "{what}");
        }
        // Padding is skipped, a First without its Last dropped.
        assert_eq!(rx.try_recv().unwrap(), b"after", "{what}");
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty), "{what}");
        assert_eq!(peek_u64(&rig.file, OFF_TAIL), start + slots + 2, "{what}");
        // And the sender goes on from there.
        for i in 0..2 * SLOTS as u8 {
            tx.try_send(&[i; 30]).unwrap();
            assert_eq!(rx.try_recv().unwrap(), [i; 30], "{what}");
        }
    }
}

/// A commit word at head that no sender could have left there (stamped for
/// another position, or with no valid kind) makes the sender's attach fail,
/// and leaves the end free for a sender once the word is cleared.
#[test]
fn sender_attach_refuses_a_commit_word_at_head_stamped_otherwise() {
    let cases: &[(&str, u32, u32)] = &[
        (
            "stamped for the lap before",
            stamp(KIND_MESSAGE, LAP2 - SLOTS),
            3,
        ),
        (
            "stamped for the next position",
            stamp(KIND_MESSAGE, LAP2 + 1),
            3,
        ),
        (
            "stamped for the position before",
            stamp(KIND_MESSAGE, LAP2 - 1),
            3,
        ),
        (
            "padding stamped for the lap before",
            stamp(KIND_PADDING, LAP2 - SLOTS),
            0,
        ),
        ("kind 0 stamped for head", stamp(0, LAP2), 3),
        ("kind 7 stamped for head", stamp(7, LAP2), 3),
        ("hello with a payload", stamp(KIND_HELLO, LAP2), 3),
        ("kind 255 stamped for head", stamp(0xFF, LAP2), 3),
        ("word u32::MAX", u32::MAX, 3),
        // Stamped for head, but skipping it would put head beyond the ring.
        (
            "len u32::MAX stamped for head",
            stamp(KIND_MESSAGE, LAP2),
            u32::MAX,
        ),
    ];
    for &(what, commit, len) in cases {
        let (rig, mut rx) = rig("refuse", 1024, LAP2);
        rig.record_stamped(LAP2, commit, len, u64::from(len), b'o');
        match rig.queue.sender().map_err(OpenError::into_kind) {
            Err(OpenErrorKind::BadHeader(_)) => {}
            other => panic!("{what}: sender attach gave {:?}", other.map(drop)),
        }
        // Head and tail were not touched.
        assert_eq!(peek_u64(&rig.file, OFF_HEAD), LAP2, "{what}");
        assert_eq!(peek_u64(&rig.file, OFF_TAIL), LAP2, "{what}");
        // Nothing committed at head any more: the end is free and works.
        rig.clear(LAP2);
        let mut tx = rig
            .queue
            .sender()
            .unwrap_or_else(|e| panic!("{what}: sender after the fix: {e:?}"));
        tx.try_send(b"fixed").unwrap();
        assert_eq!(rx.try_recv().unwrap(), b"fixed", "{what}");
    }
}

#[test]
fn positions_near_the_end_of_u64_do_not_panic() {
    // head == tail is a valid, empty ring wherever it is, but positions
    // beyond 2^62 are never reached honestly (a century at a billion slots
    // a second): the library refuses them, so its index arithmetic can never
    // overflow.
    for (i, at) in [u64::MAX - 3, u64::MAX, (1 << 62) + 1]
        .into_iter()
        .enumerate()
    {
        let name = unique_name(&format!("u64end{i}"));
        let _cleanup = Cleanup(name.clone());
        let queue = builder(&name).create().unwrap();
        let file = raw_file(&name);
        poke_u64(&file, OFF_HEAD, at);
        poke_u64(&file, OFF_TAIL, at);
        for role in [Role::Sender, Role::Receiver] {
            let attached = match role {
                Role::Sender => queue.sender().map(drop),
                Role::Receiver => queue.receiver().map(drop),
            };
            assert!(
                matches!(&attached, Err(e) if matches!(e.kind(), OpenErrorKind::BadHeader(_))),
                "{role} at position {at}: {attached:?}"
            );
            // The receiver, which never reads head, checks its tail alone.
            if role == Role::Receiver {
                assert!(
                    matches!(attached, Err(e) if bad_header(&e, TAIL_BEYOND)),
                    "receiver at position {at}"
                );
            }
        }
    }
    // 2^62 itself is still allowed.
    {
        let (rig, mut rx) = rig("u64limit", 1024, 1 << 62);
        let mut tx = rig.queue.sender().expect("sender at 2^62");
        tx.try_send(b"at the limit").unwrap();
        assert_eq!(rx.try_recv().unwrap(), b"at the limit");
    }
    // Just below the limit, messages flow normally across many laps.
    let (rig, rx) = rig("u64edge", 1024, (1 << 62) - 3 * SLOTS);
    let tx = rig.queue.sender().expect("attach sender");
    within(WATCHDOG, "sending near the position limit", move || {
        let (mut tx, mut rx) = (tx, rx);
        for i in 0..2 * SLOTS as u8 {
            tx.try_send(&[i; 20]).unwrap();
            assert_eq!(rx.try_recv().unwrap(), [i; 20]);
        }
    });
}

// ---------------------------------------------------------------------------
// Ownership of the ends.

#[test]
fn second_end_is_refused_while_the_first_lives() {
    let name = unique_name("owner");
    let _cleanup = Cleanup(name.clone());
    let q = builder(&name).create().unwrap();
    let other = Queue::open(&name).unwrap();
    let me = std::process::id();

    let tx = q.sender().unwrap();
    for handle in [&q, &other] {
        match handle.sender().map_err(OpenError::into_kind) {
            Err(OpenErrorKind::AlreadyAttached { role, pid }) => {
                assert_eq!((role, pid), (Role::Sender, me));
            }
            other => panic!("second sender: {other:?}"),
        }
    }
    let rx = other.receiver().unwrap();
    for handle in [&q, &other] {
        match handle.receiver().map_err(OpenError::into_kind) {
            Err(OpenErrorKind::AlreadyAttached { role, pid }) => {
                assert_eq!((role, pid), (Role::Receiver, me));
            }
            other => panic!("second receiver: {other:?}"),
        }
    }
    let e = q.receiver().unwrap_err();
    assert!(e.to_string().contains("receiver"), "{e}");
    assert_eq!(q.stats().sender.pid, Some(me));
    drop(tx);
    let tx = other.sender().expect("sender after the first dropped");
    drop(rx);
    let rx = q.receiver().expect("receiver after the first dropped");
    drop((tx, rx));

    // In-process queues follow the same rule.
    let q = QueueBuilder::in_process().slots(8).create().unwrap();
    let tx = q.sender().unwrap();
    assert!(matches!(
        q.sender().map_err(OpenError::into_kind),
        Err(OpenErrorKind::AlreadyAttached {
            role: Role::Sender,
            ..
        })
    ));
    drop(tx);
    q.sender().unwrap();
}

/// The start time (field 22 of `/proc/<pid>/stat`) of a process.
fn start_time(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = &stat[stat.rfind(')').unwrap() + 1..];
    rest.split_ascii_whitespace()
        .nth(19)
        .unwrap()
        .parse()
        .unwrap()
}

fn token(pid: u32, start: u64) -> u64 {
    ((start & 0xffff_ffff) << 32) | u64::from(pid)
}

#[test]
fn forged_owner_tokens() {
    let name = unique_name("tokens");
    let _cleanup = Cleanup(name.clone());
    let q = builder(&name).create().unwrap();
    let file = raw_file(&name);
    let me = std::process::id();

    // A live other process holds the sender end.
    let mut child = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .expect("spawn sleep");
    let pid = child.id();
    poke_u64(&file, OFF_SENDER_TOKEN, token(pid, start_time(pid)));
    poke_u32(&file, OFF_SENDER_EPOCH, 1);
    match q.sender().map_err(OpenError::into_kind) {
        Err(OpenErrorKind::AlreadyAttached { role, pid: holder }) => {
            assert_eq!((role, holder), (Role::Sender, pid));
        }
        other => panic!("sender held by a live process: {other:?}"),
    }
    assert_eq!(q.stats().sender.pid, Some(pid));
    child.kill().unwrap();
    child.wait().unwrap();
    // Dead now: its end can be taken over.
    let tx = q.sender().expect("take over from a dead process");
    drop(tx);

    // Stale or garbage tokens: a dead pid, our own pid with another start
    // time (pid reuse), pids no process can have.
    let stale = [
        token(me, start_time(me) + 1),
        token(0, 0),
        token(0x7fff_fff0, 12345),
        token(u32::MAX, 1),
        u64::MAX,
    ];
    for forged in stale {
        for (offset, epoch) in [
            (OFF_SENDER_TOKEN, OFF_SENDER_EPOCH),
            (OFF_RECEIVER_TOKEN, OFF_RECEIVER_EPOCH),
        ] {
            poke_u64(&file, offset, forged);
            poke_u32(&file, epoch, 7);
        }
        let tx = q.sender().unwrap_or_else(|e| panic!("{forged:#x}: {e}"));
        let rx = q.receiver().unwrap_or_else(|e| panic!("{forged:#x}: {e}"));
        drop((tx, rx));
    }

    // Our own token while we hold nothing: refused as held by us.
    poke_u64(&file, OFF_SENDER_TOKEN, token(me, start_time(me)));
    assert!(matches!(
        q.sender().map_err(OpenError::into_kind),
        Err(OpenErrorKind::AlreadyAttached { role: Role::Sender, pid }) if pid == me
    ));
}

// ---------------------------------------------------------------------------
// A forged first fragment may not make the receiver abort.

const CHILD_ENV: &str = "SHMQ_BAD_INPUT_CHILD_QUEUE";

#[test]
fn huge_first_fragment_is_not_an_abort() {
    // The queue legitimately allows 1 TiB messages; a sender announces one.
    // The receiver must not try to allocate it all at once and abort the
    // process (that would kill this test binary, so it runs in a child).
    let name = unique_name("huge");
    let _cleanup = Cleanup(name.clone());
    let exe = std::env::current_exe().unwrap();
    let output = within(Duration::from_secs(30), "child test", move || {
        std::process::Command::new(exe)
            .args([
                "--exact",
                "huge_first_fragment_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, &name)
            .output()
            .expect("run the child test")
    });
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("child: receiver survived"),
        "child failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
}

/// The child half of `huge_first_fragment_is_not_an_abort`; does nothing
/// unless started by it.
#[test]
fn huge_first_fragment_child() {
    let Some(name) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let name = name.into_string().unwrap();
    let queue = builder(&name).max_message_size(1 << 40).create().unwrap();
    let mut rx = queue.receiver().unwrap();
    let rig = Rig {
        file: raw_file(&name),
        queue,
        _cleanup: Cleanup(name),
    };
    rig.record(0, KIND_FIRST, 10, (1 << 40) - 1, 1);
    let r = rx.try_recv();
    assert!(
        matches!(r, Err(TryRecvError::Empty | TryRecvError::Corrupted(_))),
        "{r:?}"
    );
    println!("child: receiver survived: {r:?}");
}
