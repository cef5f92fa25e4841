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
    // Kinds: a stamped 0 or 6.
    for kind in [0, 6, 0xFF] {
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
fn header_model_accepts_a_valid_header() {
    let mut image = header_image(64, 2, 100).to_vec();
    image.resize(HEADER_SIZE + 128, 0);
    assert_eq!(model_header(&image), Ok(()));
    image.push(0);
    assert_eq!(model_header(&image), Err("file size"));
    image.pop();
    image[8] = 1;
    assert_eq!(model_header(&image), Err("version"));
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
    let (mut rings, mut records) = (0, 0);
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
    }
    assert!(rings > 1000 && records > 1000, "{rings} {records}");
}

#[test]
fn seeds_reach_their_paths_and_are_current() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds");
    for seed in seeds() {
        let what = format!("{}/{}", seed.target, seed.name);
        let class = match seed.target {
            "header" => match model_header(&seed.bytes) {
                Ok(()) => "ok".to_string(),
                Err(why) => why.to_string(),
            },
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
