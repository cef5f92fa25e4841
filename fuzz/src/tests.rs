//! Unit tests of the model, the generators, the encoder and the seeds.

use arbitrary::{Arbitrary, Unstructured};

use crate::*;

fn p(ss: usize, n: usize, max: u64, tail: u64) -> Params {
    Params {
        slot_size: ss,
        slot_count: n,
        max_message_size: max,
        head: 0,
        tail,
    }
}

/// A ring with headers `(slot, len, commit, total)`.
fn ring_of(ss: usize, n: usize, headers: &[(usize, u32, u32, u64)]) -> Vec<u8> {
    let mut ring = vec![0; ss * n];
    for &(slot, len, commit, total) in headers {
        write_header(&mut ring, slot * ss, len, commit, total);
    }
    ring
}

fn c(kind: u8, position: u64) -> u32 {
    commit_word(kind, position)
}

#[test]
fn commit_words_follow_the_spec() {
    assert_eq!(c(MESSAGE, 0), 1);
    assert_eq!(c(PADDING, 3), 0x302);
    assert_eq!(c(LAST, 0xFF_FFFF), 0xFFFF_FF05);
    assert_eq!(c(FIRST, 1 << 24), 3); // Only 24 bits of the position.
    assert_eq!(c(MESSAGE, (1 << 62) + 5), 0x501);
}

#[test]
fn model_follows_the_protocol() {
    // Two messages, then padding, then a message at slot 0, then 0.
    let ring = ring_of(
        64,
        8,
        &[
            (4, 60, c(MESSAGE, 4), 60), // 2 slots
            (6, 10, c(MESSAGE, 6), 10),
            (7, 0, c(PADDING, 7), 0),
            (0, 10, c(MESSAGE, 8), 10),
        ],
    );
    let o = model_drain(&p(64, 8, 1000, 4), &ring);
    assert_eq!((o.delivered, o.padding, o.stop), (3, 1, Some(Stop::Empty)));
    assert_eq!(o.advanced, 5);
    // Head is not read: any value gives the same drain.
    for head in [0, 4, 5, u64::MAX, 1 << 63] {
        let q = Params {
            head,
            ..p(64, 8, 1000, 4)
        };
        assert_eq!(model_drain(&q, &ring), o);
    }
    // Stamped for positions 4.., not 12.. (a lap on) nor 0...
    let o = model_drain(&p(64, 8, 1000, 12), &ring);
    assert_eq!(
        (o.delivered, o.stop),
        (
            0,
            Some(Stop::Corrupted("record stamped for another position"))
        )
    );
    // Slot 1 is 0: nothing committed, after the message at position 8.
    let o = model_drain(&p(64, 8, 1000, 8), &ring);
    assert_eq!((o.delivered, o.stop), (1, Some(Stop::Empty)));
    // Stamps are 24 bits: position 4 + 2^24 reads the same words.
    let o = model_drain(&p(64, 8, 1000, 4 + (1 << 24)), &ring);
    assert_eq!(o.delivered, 3);
    // Reassembly.
    let ring = ring_of(
        64,
        8,
        &[
            (0, 5, c(LAST, 0), 0),
            (1, 10, c(FIRST, 1), 30),
            (2, 10, c(MIDDLE, 2), 0),
            (3, 10, c(LAST, 3), 0),
        ],
    );
    let o = model_drain(&p(64, 8, 30, 0), &ring);
    assert_eq!((o.delivered, o.orphans, o.reassembled), (1, 1, 1));
    let o = model_drain(&p(64, 8, 29, 0), &ring);
    assert_eq!(
        o.stop,
        Some(Stop::Corrupted("message longer than max_message_size"))
    );
    // Kinds: a stamped 0, 7 or 255.
    for kind in [0, 7, 0xFF] {
        let ring = ring_of(64, 2, &[(1, 0, c(kind, 1), 0)]);
        let o = model_drain(&p(64, 2, 30, 1), &ring);
        assert_eq!(o.stop, Some(Stop::Corrupted("unknown record kind")));
    }
    // Capacity: (n - 1) slots.
    let ring = ring_of(64, 4, &[(0, 3 * 64 - 16, c(MESSAGE, 0), 0)]);
    assert_eq!(model_drain(&p(64, 4, 1000, 0), &ring).delivered, 1);
    let ring = ring_of(64, 4, &[(0, 3 * 64 - 15, c(MESSAGE, 0), 0)]);
    assert_eq!(
        model_drain(&p(64, 4, 1000, 0), &ring).stop,
        Some(Stop::Corrupted("record longer than the ring"))
    );
    // Attach: only the tail is checked.
    let empty = vec![0; 256];
    assert_eq!(
        model_drain(&p(64, 4, 0, MAX_POSITION), &empty).stop,
        Some(Stop::Empty)
    );
    assert!(matches!(
        model_drain(&p(64, 4, 0, MAX_POSITION + 1), &empty).stop,
        Some(Stop::AttachFailed(_))
    ));
    assert!(matches!(
        model_drain(&p(65, 4, 0, 0), &empty).stop,
        Some(Stop::Rejected(_))
    ));
}

#[test]
fn header_model_follows_validate_header() {
    let segment = |ss: u32, n: u32, lanes: u32| {
        let mut image = header_image(ss, n, lanes, 100).to_vec();
        image.resize(segment_size(ss.into(), n.into(), lanes.into()) as usize, 0);
        image
    };
    for lanes in [1, 2, 64] {
        assert_eq!(model_header(&segment(64, 2, lanes)), Ok(()), "{lanes}");
    }
    // One lane: 256 + 384 + 2 x 64.
    let mut image = segment(64, 2, 1);
    assert_eq!(image.len(), 768);
    image.push(0);
    let size = |what, found, expected| {
        Err(HeaderError::Size {
            what,
            found,
            expected,
        })
    };
    assert_eq!(model_header(&image), size("file size", 769, 768));
    image.pop();
    let set32 = |image: &[u8], at: usize, v: u32| {
        let mut image = image.to_vec();
        image[at..at + 4].copy_from_slice(&v.to_le_bytes());
        image
    };
    assert_eq!(
        model_header(&set32(&image, meta::VERSION, 2)),
        Err(HeaderError::Version {
            found: 2,
            expected: 4
        })
    );
    assert_eq!(
        model_header(&set32(&image, meta::FLAVOUR, 2)),
        Err(HeaderError::WrongKind { found: "topic" })
    );
    // The lanes rule comes after the ring rules, before the header size.
    let lanes = |v| set32(&image, meta::LANES, v);
    let bad = |why| Err(HeaderError::BadHeader(why));
    assert_eq!(
        model_header(&lanes(0)),
        bad("sender lanes out of range (1 to 64)")
    );
    assert_eq!(
        model_header(&lanes(65)),
        bad("sender lanes out of range (1 to 64)")
    );
    assert_eq!(
        model_header(&set32(&lanes(0), meta::SLOT_COUNT, 3)),
        bad("slot count is not a power of two")
    );
    assert_eq!(model_header(&lanes(2)), size("header size", 640, 1024));
    let big = set32(
        &set32(&lanes(17), meta::SLOT_SIZE, 16 << 20),
        meta::SLOT_COUNT,
        256,
    );
    assert_eq!(model_header(&big), bad("lanes x ring larger than 64 GiB"));
    assert_eq!(
        model_header(&set32(&big, meta::LANES, 16)),
        size("header size", 640, 6400)
    );
    // The header size is right for 2 lanes, the segment size is not.
    let two = set32(&lanes(2), meta::HEADER_SIZE, 1024);
    assert_eq!(model_header(&two), size("segment size field", 768, 1280));
    // Nothing after the fields is read: not the receiver's line, not the
    // lane table.
    let mut hostile = image.clone();
    hostile[meta::END..].fill(0xFF);
    assert_eq!(model_header(&hostile), Ok(()));
    assert_eq!(model_header(&image[..255]), Err(HeaderError::TooShort));
}

#[test]
fn header_inputs_reach_every_check() {
    let mut seen = std::collections::BTreeSet::new();
    for bytes in random_inputs(5_000, 256) {
        let Ok(input) = HeaderInput::arbitrary_take_rest(Unstructured::new(&bytes)) else {
            continue;
        };
        let image = input.build();
        assert!(image.len() <= HEADER_IMAGE_LIMIT);
        seen.insert(match model_header(&image) {
            Ok(()) => "ok".to_string(),
            Err(e) => e.name().to_string(),
        });
    }
    for check in [
        "ok",
        "magic",
        "version",
        "flavour",
        "shorter than a header",
        "sender lanes out of range (1 to 64)",
        "header size",
        "segment size field",
        "file size",
    ] {
        assert!(seen.contains(check), "{check} not reached: {seen:?}");
    }
}

/// A lane of `slot_count` 64-byte slots with headers `(slot, len, commit,
/// total)`.
fn lane_of(n: usize, tail: u64, headers: &[(usize, u32, u32, u64)]) -> LaneImage {
    LaneImage {
        head: tail,
        tail,
        sender_token: 0,
        ring: ring_of(64, n, headers),
    }
}

fn lanes_p(lanes: Vec<LaneImage>) -> LanesParams {
    LanesParams {
        slot_size: 64,
        slot_count: 8,
        max_message_size: 1000,
        lanes,
    }
}

#[test]
fn lanes_model_serves_round_robin() {
    let three = lane_of(
        8,
        0,
        &[
            (0, 0, c(HELLO, 0), 77),
            (1, 1, c(MESSAGE, 1), 1),
            (2, 1, c(MESSAGE, 2), 1),
            (3, 1, c(MESSAGE, 3), 1),
        ],
    );
    // A message, then an unknown kind.
    let bad = lane_of(8, 8, &[(0, 1, c(MESSAGE, 8), 1), (1, 1, c(9, 9), 1)]);
    let o = model_lanes(&lanes_p(vec![three.clone(), bad.clone()]));
    assert_eq!((o.delivered, o.per_lane.clone()), (3, vec![2, 1]));
    assert_eq!(o.corrupted_lane, Some(1));
    assert_eq!(o.stop, Some(Stop::Corrupted("unknown record kind")));
    assert_eq!(
        classify_lanes(&o),
        "corrupted:unknown-record-kind@1+delivered+hello [2, 1]"
    );
    // Lane 1 first: its corrupt record comes a turn earlier.
    let o = model_lanes(&lanes_p(vec![bad.clone(), three.clone()]));
    assert_eq!(o.per_lane, vec![1, 1]);
    // Alone, each lane is `model_drain`.
    let o = model_lanes(&lanes_p(vec![three.clone(), three.clone(), three.clone()]));
    assert_eq!(
        (o.per_lane.clone(), o.stop),
        (vec![3, 3, 3], Some(Stop::Empty))
    );
    let p = Params {
        slot_size: 64,
        slot_count: 8,
        max_message_size: 1000,
        head: 0,
        tail: 0,
    };
    let o1 = model_lanes(&lanes_p(vec![three.clone()]));
    assert_eq!(o1.lanes, vec![model_drain(&p, &three.ring)]);
    // A chain waits on its lane without holding up the others.
    let chain = lane_of(8, 0, &[(0, 20, c(FIRST, 0), 100)]);
    let o = model_lanes(&lanes_p(vec![chain, three.clone()]));
    assert_eq!((o.per_lane, o.stop), (vec![0, 3], Some(Stop::Empty)));
    // A `Hello` drops a chain; one with a payload is corrupt.
    let hello = lane_of(
        8,
        0,
        &[
            (0, 20, c(FIRST, 0), 40),
            (1, 0, c(HELLO, 1), 5),
            (2, 20, c(LAST, 2), 0),
            (3, 1, c(HELLO, 3), 0),
        ],
    );
    let o = model_lanes(&lanes_p(vec![hello]));
    assert_eq!(
        (o.lanes[0].abandoned, o.lanes[0].orphans, o.lanes[0].hellos),
        (1, 1, 1)
    );
    assert_eq!(o.stop, Some(Stop::Corrupted("hello record with a payload")));
    // Refusals: no lanes, too many, too large, a tail beyond 2^62.
    assert!(matches!(
        model_lanes(&lanes_p(vec![])).stop,
        Some(Stop::Rejected(_))
    ));
    assert!(matches!(
        model_lanes(&lanes_p(vec![three.clone(); 65])).stop,
        Some(Stop::Rejected(_))
    ));
    let far = LaneImage {
        tail: MAX_POSITION + 1,
        ..three.clone()
    };
    let o = model_lanes(&lanes_p(vec![three, far]));
    assert!(matches!(o.stop, Some(Stop::AttachFailed(_))));
    assert!(o.per_lane.is_empty());
}

#[test]
fn lanes_generator_matches_each_lane_alone() {
    let (mut checked, mut corrupt, mut well_formed, mut several) = (0, 0, 0, 0);
    for bytes in random_inputs(20_000, 600) {
        let Ok(input) = LanesInput::arbitrary_take_rest(Unstructured::new(&bytes)) else {
            continue;
        };
        let built = input.build();
        let p = &built.params;
        let o = model_lanes(p);
        assert_ne!(o.stop, Some(Stop::LoopLimit), "{input:?}");
        if o.per_lane.is_empty() {
            continue;
        }
        checked += 1;
        several += usize::from(p.lanes.len() > 1 && o.delivered > 0);
        corrupt += usize::from(o.corrupted_lane.is_some());
        for (i, lane) in p.lanes.iter().enumerate() {
            let alone = Params {
                slot_size: p.slot_size,
                slot_count: p.slot_count,
                max_message_size: p.max_message_size,
                head: lane.head,
                tail: lane.tail,
            };
            let alone = model_drain(&alone, &lane.ring).delivered;
            assert!(o.per_lane[i] <= alone, "{input:?}");
            if o.corrupted_lane.is_none() {
                assert_eq!(o.per_lane[i], alone, "{input:?}");
            }
            if let Some(expected) = built.expected[i] {
                assert_eq!(alone, expected, "lane {i}: {input:?}");
            }
        }
        if built.expected.iter().all(Option::is_some) {
            well_formed += 1;
        }
    }
    assert!(checked > 1000, "only {checked} drains");
    assert!(several > 50, "only {several} multi-lane drains deliver");
    assert!(corrupt > 100, "only {corrupt} corrupt drains");
    assert!(
        well_formed > 100,
        "only {well_formed} well-formed mailboxes"
    );
}

/// Pseudo-random byte strings (xorshift).
fn random_inputs(count: usize, len: usize) -> impl Iterator<Item = Vec<u8>> {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    (0..count).map(move |i| {
        let mut bytes = vec![0u8; 1 + (i * 7919) % len];
        for b in &mut bytes {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            *b = seed as u8;
        }
        bytes
    })
}

#[test]
fn records_generator_matches_the_model() {
    let mut checked = 0;
    let mut delivered = 0;
    for bytes in random_inputs(20_000, 512) {
        let Ok(input) = RecordsInput::arbitrary_take_rest(Unstructured::new(&bytes)) else {
            continue;
        };
        let built = input.build();
        if let Some(expected) = built.expected {
            let o = model_drain(&built.params, &built.ring);
            assert_eq!(o.delivered, expected, "{input:?} {o:?}");
            assert_eq!(o.stop, Some(Stop::Empty), "{input:?} {o:?}");
            // Never more than the slots the sender could fill.
            assert!(o.advanced < built.params.slot_count as u64, "{o:?}");
            checked += 1;
            delivered += usize::from(expected > 0);
        }
    }
    assert!(checked > 100, "only {checked} unmutated inputs");
    assert!(delivered > 50, "only {delivered} unmutated inputs deliver");
}

#[test]
fn model_drains_stop_within_two_laps() {
    // Each lap starts at slot 0, whose commit word can be stamped for
    // one lap only, so a drain never reaches the loop limit.
    for bytes in random_inputs(20_000, 512) {
        let Ok(input) = RingInput::arbitrary_take_rest(Unstructured::new(&bytes)) else {
            continue;
        };
        let (p, ring) = input.build();
        let o = model_drain(&p, &ring);
        assert_ne!(o.stop, Some(Stop::LoopLimit), "{input:?}");
        let n = p.slot_count as u64;
        assert!(o.advanced == 0 || o.advanced < 2 * n, "{input:?} {o:?}");
    }
}

#[test]
fn encoding_round_trips() {
    use encode::to_bytes;
    let (mut rings, mut records, mut lanes, mut headers) = (0, 0, 0, 0);
    for bytes in random_inputs(5_000, 400) {
        if let Ok(a) = RingInput::arbitrary_take_rest(Unstructured::new(&bytes)) {
            let again = to_bytes(&a);
            let b = RingInput::arbitrary_take_rest(Unstructured::new(&again)).unwrap();
            assert_eq!(format!("{a:?}"), format!("{b:?}"));
            rings += 1;
        }
        if let Ok(a) = RecordsInput::arbitrary_take_rest(Unstructured::new(&bytes)) {
            let again = to_bytes(&a);
            let b = RecordsInput::arbitrary_take_rest(Unstructured::new(&again)).unwrap();
            assert_eq!(format!("{a:?}"), format!("{b:?}"));
            records += 1;
        }
        if let Ok(a) = LanesInput::arbitrary_take_rest(Unstructured::new(&bytes)) {
            let again = to_bytes(&a);
            let b = LanesInput::arbitrary_take_rest(Unstructured::new(&again)).unwrap();
            assert_eq!(format!("{a:?}"), format!("{b:?}"));
            lanes += 1;
        }
        if let Ok(a) = HeaderInput::arbitrary_take_rest(Unstructured::new(&bytes)) {
            let again = to_bytes(&a);
            let b = HeaderInput::arbitrary_take_rest(Unstructured::new(&again)).unwrap();
            assert_eq!(format!("{a:?}"), format!("{b:?}"));
            headers += 1;
        }
    }
    assert!(
        rings > 1000 && records > 1000 && lanes > 1000 && headers > 1000,
        "{rings} {records} {lanes} {headers}"
    );
}

#[test]
fn seeds_reach_their_paths_and_are_current() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds");
    for seed in seeds() {
        let what = format!("{}/{}", seed.target, seed.name);
        let class = match seed.target {
            "header" => {
                let input = HeaderInput::arbitrary_take_rest(Unstructured::new(&seed.bytes));
                match model_header(&input.unwrap().build()) {
                    Ok(()) => "ok".to_string(),
                    Err(e) => e.name().to_string(),
                }
            }
            "lanes" => {
                let min = LanesInput::size_hint(0).0;
                assert!(seed.bytes.len() >= min, "{what}: shorter than {min}");
                let input = LanesInput::arbitrary_take_rest(Unstructured::new(&seed.bytes));
                let built = input.unwrap().build();
                let o = model_lanes(&built.params);
                if built.expected.iter().all(Option::is_some) && !o.per_lane.is_empty() {
                    let expected: Vec<usize> = built.expected.iter().flatten().copied().collect();
                    assert_eq!(o.per_lane, expected, "{what}");
                }
                classify_lanes(&o)
            }
            "ring" => {
                let min = RingInput::size_hint(0).0;
                assert!(seed.bytes.len() >= min, "{what}: shorter than {min}");
                let input = RingInput::arbitrary_take_rest(Unstructured::new(&seed.bytes));
                let (p, ring) = input.unwrap().build();
                classify(&model_drain(&p, &ring))
            }
            "records" => {
                let min = RecordsInput::size_hint(0).0;
                assert!(seed.bytes.len() >= min, "{what}: shorter than {min}");
                let input = RecordsInput::arbitrary_take_rest(Unstructured::new(&seed.bytes));
                let built = input.unwrap().build();
                let o = model_drain(&built.params, &built.ring);
                if let Some(expected) = built.expected {
                    assert_eq!(o.delivered, expected, "{what}");
                }
                classify(&o)
            }
            other => panic!("unknown target {other}"),
        };
        assert_eq!(class, seed.class, "{what}");
        let file = std::fs::read(dir.join(seed.target).join(seed.name));
        assert_eq!(
            file.ok().as_ref(),
            Some(&seed.bytes),
            "{what} differs from the generator: run `cargo run --example seeds`"
        );
    }
}
