//! The server's book of requests received and not answered yet.
//!
//! Kept per lane, in the order the requests came: a client numbers its
//! requests 0, 1, 2, ... and a lane carries one client's requests in
//! order, so a lane's entries usually belong to one client and rise, and a
//! server that answers in order finds each one first in its lane. Then
//! every operation is O(1) (O(log n) for an answer out of order), with no
//! hashing on the path of a call. Entries a lane holds from an earlier
//! client, or that a client forged out of order, make that lane's lookups
//! a scan until they are answered.

use std::collections::VecDeque;

use super::RequestId;

/// One lane's unanswered requests, in the order they came.
#[derive(Debug, Default)]
struct Lane {
    /// `(client incarnation, seq)`.
    entries: VecDeque<(u64, u64)>,
    /// Whether every entry has the same client and the seqs rise (so a
    /// binary search finds one).
    sorted: bool,
}

impl Lane {
    #[inline]
    fn find(&self, client: u64, seq: u64) -> Option<usize> {
        match self.entries.front() {
            None => return None,
            Some(&front) if front == (client, seq) => return Some(0),
            Some(_) => {}
        }
        if self.sorted {
            if self.entries.front().map(|e| e.0) != Some(client) {
                return None;
            }
            let at = self.entries.partition_point(|e| e.1 < seq);
            return (self.entries.get(at) == Some(&(client, seq))).then_some(at);
        }
        self.entries.iter().position(|&e| e == (client, seq))
    }
}

/// Every lane's unanswered requests.
#[derive(Debug)]
pub(super) struct Unanswered {
    lanes: Vec<Lane>,
    total: usize,
}

impl Unanswered {
    pub(super) fn new(lanes: usize) -> Self {
        Unanswered {
            lanes: (0..lanes).map(|_| Lane::default()).collect(),
            total: 0,
        }
    }

    /// Requests in the book.
    pub(super) fn len(&self) -> usize {
        self.total
    }

    #[inline]
    pub(super) fn contains(&self, id: &RequestId) -> bool {
        self.lanes
            .get(id.lane())
            .is_some_and(|lane| lane.find(id.client, id.seq).is_some())
    }

    /// Adds `id`; false (and no change) if it is in the book already or
    /// its lane is out of range.
    #[inline]
    pub(super) fn insert(&mut self, id: RequestId) -> bool {
        let Some(lane) = self.lanes.get_mut(id.lane()) else {
            return false;
        };
        let entry = (id.client, id.seq);
        let rises = match lane.entries.back() {
            None => true,
            Some(&(client, seq)) => client == id.client && seq < id.seq,
        };
        if lane.entries.is_empty() {
            lane.sorted = true;
        } else if !(rises && lane.sorted) {
            // Rising on a sorted lane cannot repeat an entry; else look.
            if lane.find(id.client, id.seq).is_some() {
                return false;
            }
            lane.sorted &= rises;
        }
        lane.entries.push_back(entry);
        self.total += 1;
        true
    }

    /// Takes `id` out of the book; false if it was not in it.
    #[inline]
    pub(super) fn remove(&mut self, id: &RequestId) -> bool {
        let Some(lane) = self.lanes.get_mut(id.lane()) else {
            return false;
        };
        let Some(at) = lane.find(id.client, id.seq) else {
            return false;
        };
        if at == 0 {
            lane.entries.pop_front();
        } else {
            lane.entries.remove(at);
        }
        if lane.entries.is_empty() {
            lane.sorted = true;
        }
        self.total -= 1;
        true
    }

    /// Empties the book: every request, lane by lane, each lane's in the
    /// order they came.
    pub(super) fn take_all(&mut self) -> Vec<RequestId> {
        let mut all = Vec::with_capacity(self.total);
        for (i, lane) in self.lanes.iter_mut().enumerate() {
            all.extend(lane.entries.drain(..).map(|(client, seq)| RequestId {
                lane: i as u32,
                client,
                seq,
            }));
            lane.sorted = true;
        }
        self.total = 0;
        all
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    fn id(lane: u32, client: u64, seq: u64) -> RequestId {
        RequestId { lane, client, seq }
    }

    #[test]
    fn in_order_out_of_order_and_duplicates() {
        let mut book = Unanswered::new(2);
        for seq in 0..10 {
            assert!(book.insert(id(0, 7, seq)));
        }
        assert!(!book.insert(id(0, 7, 3)), "a duplicate");
        assert!(!book.insert(id(2, 7, 0)), "a lane out of range");
        assert_eq!(book.len(), 10);
        assert!(book.remove(&id(0, 7, 0)));
        assert!(book.remove(&id(0, 7, 5)), "binary search");
        assert!(!book.remove(&id(0, 7, 5)));
        assert!(!book.remove(&id(0, 8, 6)), "another client's seq");
        assert!(book.contains(&id(0, 7, 9)));
        assert!(!book.contains(&id(1, 7, 9)));
        assert_eq!(book.len(), 8);
    }

    #[test]
    fn mixed_clients_on_a_lane() {
        let mut book = Unanswered::new(1);
        assert!(book.insert(id(0, 1, 5)));
        assert!(book.insert(id(0, 2, 0)), "a new client on the lane");
        assert!(book.insert(id(0, 2, 1)));
        assert!(book.insert(id(0, 1, 4)), "an old id, not a duplicate");
        assert!(!book.insert(id(0, 1, 5)));
        assert!(book.contains(&id(0, 2, 1)));
        assert_eq!(
            book.take_all(),
            [id(0, 1, 5), id(0, 2, 0), id(0, 2, 1), id(0, 1, 4)]
        );
        assert_eq!(book.len(), 0);
        assert!(book.insert(id(0, 3, 0)));
    }

    /// The book against a `HashSet` under a random mix of operations.
    #[test]
    fn agrees_with_a_set() {
        let mut book = Unanswered::new(3);
        let mut set = HashSet::new();
        let mut x = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..20_000 {
            let r = next();
            let id = id((r % 3) as u32, (r >> 8) % 3, (r >> 16) % 40);
            match (r >> 32) % 3 {
                0 | 1 => assert_eq!(book.insert(id), set.insert(id), "{id:?}"),
                _ => assert_eq!(book.remove(&id), set.remove(&id), "{id:?}"),
            }
            assert_eq!(book.len(), set.len());
            let probe = next();
            let probe = RequestId {
                lane: (probe % 3) as u32,
                client: (probe >> 8) % 3,
                seq: (probe >> 16) % 40,
            };
            assert_eq!(book.contains(&probe), set.contains(&probe));
        }
    }
}
