//! The `header` target: its input (a segment file, raw or written field by
//! field with hostile values) and the reference model of
//! `shmq::fuzz::check_header`.

use arbitrary::Arbitrary;

use crate::*;

/// Why a header is refused, as `check_header`'s `OpenError` says it: the
/// check that failed and the values it reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HeaderError {
    /// Shorter than the fixed header (`NotReady`: a file not yet sized).
    TooShort,
    Magic {
        found: u64,
    },
    /// Another kind of shmq segment's magic (a semaphore's or a barrier's).
    WrongKind {
        found: &'static str,
    },
    Version {
        found: u32,
        expected: u32,
    },
    Flavour {
        found: u32,
    },
    /// A `Config::check` rule, in the library's words.
    BadHeader(&'static str),
    /// `SizeMismatch`: `what` is "header size", "segment size field" or
    /// "file size".
    Size {
        what: &'static str,
        found: u64,
        expected: u64,
    },
    /// Any other error (the model never gives one).
    Other(String),
}

impl HeaderError {
    /// A short name of the check, for seed names and statistics.
    pub fn name(&self) -> &str {
        match self {
            HeaderError::TooShort => "shorter than a header",
            HeaderError::Magic { .. } => "magic",
            HeaderError::WrongKind { .. } => "kind",
            HeaderError::Version { .. } => "version",
            HeaderError::Flavour { .. } => "flavour",
            HeaderError::BadHeader(why) => why,
            HeaderError::Size { what, .. } => what,
            HeaderError::Other(what) => what,
        }
    }
}

/// Reference model of `shmq::fuzz::check_header(image)`: `Ok`, or the
/// first check that fails, in `validate_header`'s order: magic, version,
/// flavour, the `Config::check` rules (lanes among them), the header size
/// against the one computed from the lanes, the segment-size field, the
/// file size. Only the `Meta` fields are read: the receiver's line and the
/// lane table (tails, heads, tokens) are not the header check's business.
pub fn model_header(image: &[u8]) -> Result<(), HeaderError> {
    if image.len() < HEADER_SIZE {
        return Err(HeaderError::TooShort);
    }
    let u32_at = |at: usize| u32::from_le_bytes(image[at..at + 4].try_into().unwrap());
    let u64_at = |at: usize| u64::from_le_bytes(image[at..at + 8].try_into().unwrap());
    let magic = u64_at(meta::MAGIC);
    if magic != MAGIC {
        if magic == u64::from_le_bytes(*b"SHMQSEMA") {
            return Err(HeaderError::WrongKind { found: "semaphore" });
        }
        if magic == u64::from_le_bytes(*b"SHMQBARR") {
            return Err(HeaderError::WrongKind { found: "barrier" });
        }
        if magic == u64::from_le_bytes(*b"SHMQTOPC") {
            return Err(HeaderError::WrongKind {
                found: "topic subscriber table",
            });
        }
        return Err(HeaderError::Magic { found: magic });
    }
    let version = u32_at(meta::VERSION);
    if version != LAYOUT_VERSION {
        return Err(HeaderError::Version {
            found: version,
            expected: LAYOUT_VERSION,
        });
    }
    let flavour = u32_at(meta::FLAVOUR);
    if flavour != FLAVOUR_SPSC && flavour != FLAVOUR_TOPIC {
        return Err(HeaderError::Flavour { found: flavour });
    }
    let ss = u32_at(meta::SLOT_SIZE);
    let n = u32_at(meta::SLOT_COUNT);
    let lanes = u32_at(meta::LANES);
    let max = u64_at(meta::MAX_MESSAGE_SIZE);
    if flavour == FLAVOUR_TOPIC && lanes != 1 && (1..=MAX_LANES).contains(&(lanes as usize)) {
        // A topic's ring has one lane: checked after the lane range and
        // before the checks that depend on the lanes and the message size
        // (with one lane and no message size, only the earlier ones fail).
        let why = config_error(ss as usize, n as usize, 1, 0)
            .unwrap_or("a topic's ring has one lane");
        return Err(HeaderError::BadHeader(why));
    }
    if let Some(why) = config_error(ss as usize, n as usize, lanes as usize, max) {
        return Err(HeaderError::BadHeader(why));
    }
    let lanes = u64::from(lanes);
    let declared_header = u32_at(meta::HEADER_SIZE);
    if u64::from(declared_header) != header_size(lanes) {
        return Err(HeaderError::Size {
            what: "header size",
            found: declared_header.into(),
            expected: header_size(lanes),
        });
    }
    let expected = segment_size(ss.into(), n.into(), lanes);
    let declared = u64_at(meta::SEGMENT_SIZE);
    if declared != expected {
        return Err(HeaderError::Size {
            what: "segment size field",
            found: declared,
            expected,
        });
    }
    if image.len() as u64 != expected {
        return Err(HeaderError::Size {
            what: "file size",
            found: image.len() as u64,
            expected,
        });
    }
    if flavour == FLAVOUR_TOPIC {
        // A sound ring of a topic: a queue's open refuses it by name.
        return Err(HeaderError::WrongKind { found: "topic" });
    }
    Ok(())
}

/// A valid header (the fixed part: append the lane headers and the rings
/// to make a whole segment) of `lanes` lanes of `slot_size` x `slot_count`.
pub fn header_image(slot_size: u32, slot_count: u32, lanes: u32, max: u64) -> [u8; HEADER_SIZE] {
    let mut h = [0u8; HEADER_SIZE];
    let (ss, n, l) = (slot_size.into(), slot_count.into(), lanes.into());
    put(&mut h, meta::MAGIC, &MAGIC.to_le_bytes());
    put(&mut h, meta::VERSION, &LAYOUT_VERSION.to_le_bytes());
    put(&mut h, meta::FLAVOUR, &FLAVOUR_SPSC.to_le_bytes());
    put(
        &mut h,
        meta::HEADER_SIZE,
        &(header_size(l) as u32).to_le_bytes(),
    );
    put(&mut h, meta::SLOT_SIZE, &slot_size.to_le_bytes());
    put(&mut h, meta::SLOT_COUNT, &slot_count.to_le_bytes());
    put(&mut h, meta::LANES, &lanes.to_le_bytes());
    put(&mut h, meta::MAX_MESSAGE_SIZE, &max.to_le_bytes());
    put(
        &mut h,
        meta::SEGMENT_SIZE,
        &segment_size(ss, n, l).to_le_bytes(),
    );
    put(&mut h, meta::READY, b"REDY");
    h
}

/// Writes `bytes` at `at`, or as much of them as fits in `image`.
fn put(image: &mut [u8], at: usize, bytes: &[u8]) {
    for (i, b) in bytes.iter().enumerate() {
        if let Some(d) = image.get_mut(at + i) {
            *d = *b;
        }
    }
}

/// The longest file the `header` target builds (its `Fields` input): a
/// segment longer than this is cut short, and then fails the file-size
/// check.
pub const HEADER_IMAGE_LIMIT: usize = 1 << 16;

/// The `header` target's input: a segment file.
#[derive(Arbitrary, Clone, Debug)]
pub enum HeaderInput {
    /// These bytes.
    Raw(Vec<u8>),
    /// A header written field by field.
    Fields(HeaderFields),
}

/// A header written field by field, each a plausible value, a boundary or
/// anything; then the lane table and the file length.
#[derive(Arbitrary, Clone, Debug)]
pub struct HeaderFields {
    pub magic: MagicSel,
    pub version: VersionSel,
    pub flavour: FlavourSel,
    pub slot_size: DimSel,
    pub slot_count: DimSel,
    pub lanes: LanesSel,
    pub max: MaxSize,
    pub header_size: HeaderSizeSel,
    pub segment_size: SegmentSizeSel,
    pub ready: bool,
    /// Bytes repeated over the file before the fields are written (the
    /// receiver's line and the lane headers, up to 65 lanes' worth; the
    /// slots after that are zeros).
    pub fill: Vec<u8>,
    /// Words written into the lane table, lane by lane (beyond the declared
    /// lanes too, cut at the end of the file).
    pub lane_words: Vec<LaneWords>,
    pub length: LengthSel,
}

#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum MagicSel {
    Valid,
    Raw(u64),
}

#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum VersionSel {
    Current,
    /// Version 2: one lane, a 512-byte header.
    Previous,
    Raw(u32),
}

#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum FlavourSel {
    Spsc,
    Raw(u32),
}

/// A slot size or slot count.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum DimSel {
    /// 64, 128, 256, ...: small and valid as either.
    Small(u8),
    /// `1 << k % 32`: up to the limits (16 MiB slots, 2^24 slots) and past
    /// them, so rings reach 4 GiB and lanes x ring 64 GiB.
    Pow2(u8),
    Raw(u32),
}

impl DimSel {
    fn get(self) -> u32 {
        match self {
            DimSel::Small(k) => 64 << (k % 3),
            DimSel::Pow2(k) => 1 << (k % 32),
            DimSel::Raw(v) => v,
        }
    }
}

/// The `lanes` field.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum LanesSel {
    /// `1 + k % 4`.
    Few(u8),
    /// `1 + k % 64`.
    Any(u8),
    Zero,
    /// `65 + k`.
    Over(u8),
    Raw(u32),
}

impl LanesSel {
    pub fn get(self) -> u32 {
        match self {
            LanesSel::Few(k) => 1 + u32::from(k % 4),
            LanesSel::Any(k) => 1 + u32::from(k % 64),
            LanesSel::Zero => 0,
            LanesSel::Over(k) => 65 + u32::from(k),
            LanesSel::Raw(v) => v,
        }
    }
}

/// The `header_size` field.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum HeaderSizeSel {
    /// `256 + 384 x lanes` for the `lanes` field.
    Exact,
    /// As if the queue had `k` lanes.
    ForLanes(u8),
    /// 512, the version 2 header.
    Previous,
    /// The exact value, adjusted.
    Near(Delta),
    Raw(u32),
}

/// The `segment_size` field.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum SegmentSizeSel {
    /// The header size plus every lane's ring.
    Exact,
    Near(Delta),
    /// As if the queue had `k` lanes.
    ForLanes(u8),
    /// The version 2 formula: 512 plus one ring.
    Previous,
    Raw(u64),
}

/// The file length.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum LengthSel {
    /// What the `segment_size` field says.
    Declared,
    /// The segment size the config implies, adjusted.
    Exact(Delta),
    /// The header size the config implies: the lane table, no slots.
    HeaderOnly(Delta),
    Raw(u16),
}

/// Words of one lane header: what a crashed or hostile process may leave
/// there. The header check must not care.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub struct LaneWords {
    pub head: u64,
    pub tail: u64,
    pub sender_token: u64,
    pub owner_token: u64,
    pub owner_epoch: u32,
}

impl HeaderInput {
    /// The segment file this input describes.
    pub fn build(&self) -> Vec<u8> {
        match self {
            HeaderInput::Raw(bytes) => bytes.clone(),
            HeaderInput::Fields(f) => f.build(),
        }
    }
}

impl HeaderFields {
    pub fn build(&self) -> Vec<u8> {
        let ss = self.slot_size.get();
        let n = self.slot_count.get();
        let lanes = self.lanes.get();
        let (ss64, n64, l64) = (u64::from(ss), u64::from(n), u64::from(lanes));
        let exact_header = header_size(l64) as u32;
        let exact_segment = segment_size(ss64, n64, l64);
        let header = match self.header_size {
            HeaderSizeSel::Exact => exact_header,
            HeaderSizeSel::ForLanes(k) => header_size(k.into()) as u32,
            HeaderSizeSel::Previous => 512,
            HeaderSizeSel::Near(d) => d.apply(exact_header.into()) as u32,
            HeaderSizeSel::Raw(v) => v,
        };
        let segment = match self.segment_size {
            SegmentSizeSel::Exact => exact_segment,
            SegmentSizeSel::Near(d) => d.apply(exact_segment),
            SegmentSizeSel::ForLanes(k) => segment_size(ss64, n64, k.into()),
            SegmentSizeSel::Previous => 512u64.wrapping_add(ss64 * n64),
            SegmentSizeSel::Raw(v) => v,
        };
        let length = match self.length {
            LengthSel::Declared => segment,
            LengthSel::Exact(d) => d.apply(exact_segment),
            LengthSel::HeaderOnly(d) => d.apply(exact_header.into()),
            LengthSel::Raw(v) => v.into(),
        };
        let length = length.min(HEADER_IMAGE_LIMIT as u64) as usize;
        // The fill covers the largest header (what `check_header` looks at);
        // the slots after it are zeros, which is quicker to build.
        let mut image = vec![0; length];
        if !self.fill.is_empty() {
            let covered = length.min(HEADER_SIZE + (MAX_LANES + 1) * LANE_HEADER_SIZE);
            for (d, s) in image[..covered].iter_mut().zip(self.fill.iter().cycle()) {
                *d = *s;
            }
        }
        for (i, w) in self.lane_words.iter().enumerate().take(MAX_LANES + 1) {
            let at = HEADER_SIZE + i * LANE_HEADER_SIZE;
            put(&mut image, at + lane::HEAD, &w.head.to_le_bytes());
            put(&mut image, at + lane::TAIL, &w.tail.to_le_bytes());
            put(
                &mut image,
                at + lane::SENDER_TOKEN,
                &w.sender_token.to_le_bytes(),
            );
            put(
                &mut image,
                at + lane::OWNER_TOKEN,
                &w.owner_token.to_le_bytes(),
            );
            put(
                &mut image,
                at + lane::OWNER_EPOCH,
                &w.owner_epoch.to_le_bytes(),
            );
        }
        let magic = match self.magic {
            MagicSel::Valid => MAGIC,
            MagicSel::Raw(v) => v,
        };
        let version = match self.version {
            VersionSel::Current => LAYOUT_VERSION,
            VersionSel::Previous => 2,
            VersionSel::Raw(v) => v,
        };
        let flavour = match self.flavour {
            FlavourSel::Spsc => FLAVOUR_SPSC,
            FlavourSel::Raw(v) => v,
        };
        let max = self.max.get(ss as usize, n as usize);
        put(&mut image, meta::MAGIC, &magic.to_le_bytes());
        put(&mut image, meta::VERSION, &version.to_le_bytes());
        put(&mut image, meta::FLAVOUR, &flavour.to_le_bytes());
        put(&mut image, meta::HEADER_SIZE, &header.to_le_bytes());
        put(&mut image, meta::SLOT_SIZE, &ss.to_le_bytes());
        put(&mut image, meta::SLOT_COUNT, &n.to_le_bytes());
        put(&mut image, meta::LANES, &lanes.to_le_bytes());
        put(&mut image, meta::MAX_MESSAGE_SIZE, &max.to_le_bytes());
        put(&mut image, meta::SEGMENT_SIZE, &segment.to_le_bytes());
        if self.ready {
            put(&mut image, meta::READY, b"REDY");
        }
        image
    }
}
