//! Ratios over pairs of blocks: their quartiles, and the host placement
//! each pair ran in.
//!
//! A pair is a transport's block and a reference's block of the same
//! cycle (see `schedule`); its ratio compares two numbers taken within
//! milliseconds of each other in the same two processes. A transport's
//! ratio is summed up as the median of its pairs' ratios with the
//! interquartile range (`1.32 [1.28-1.37]`): half the pairs lie inside it.
//!
//! The placement of a pair is told from the floor's block of its cycle
//! ([`Classifier`]): the virtual CPUs' placement on the host sets the
//! floor's round trip (about 60, 130 or 480 ns here) and rate, and a
//! transport's ratio to the floor need not be the same in every placement,
//! so the report also gives the ratios per placement.

use super::format::three_digits;

/// Where the virtual CPUs ran during a pair, as the floor saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// The floor was fastest.
    Fast,
    /// The usual.
    Mid,
    /// The floor was slowest.
    Slow,
}

impl Placement {
    pub const ALL: [Placement; 3] = [Placement::Fast, Placement::Mid, Placement::Slow];

    /// Its name in the output.
    pub fn name(self) -> &'static str {
        match self {
            Placement::Fast => "fast",
            Placement::Mid => "mid",
            Placement::Slow => "slow",
        }
    }
}

/// How a cycle's placement is told from its probe's p50 round trip.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Classifier {
    /// Fast below `fast_below` ns, slow above `slow_above`, mid between.
    RoundTrip { fast_below: f64, slow_above: f64 },
    /// Not classified (no probe: the processes share a CPU).
    Off,
}

impl Classifier {
    /// The placement of a cycle whose probe gave `p50_ns`.
    pub fn classify(self, p50_ns: Option<f64>) -> Option<Placement> {
        match (self, p50_ns) {
            (
                Classifier::RoundTrip {
                    fast_below,
                    slow_above,
                },
                Some(ns),
            ) => Some(if ns < fast_below {
                Placement::Fast
            } else if ns > slow_above {
                Placement::Slow
            } else {
                Placement::Mid
            }),
            _ => None,
        }
    }

    /// The bounds of `placement`, for a column head: `<100ns`,
    /// `100-200ns`, `>200ns`.
    pub fn bounds(self, placement: Placement) -> String {
        let Classifier::RoundTrip {
            fast_below,
            slow_above,
        } = self
        else {
            return String::new();
        };
        match placement {
            Placement::Fast => format!("<{fast_below:.0}ns"),
            Placement::Mid => format!("{fast_below:.0}-{slow_above:.0}ns"),
            Placement::Slow => format!(">{slow_above:.0}ns"),
        }
    }
}

/// Median and quartiles of some values, and how many there were.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quartiles {
    pub q1: f64,
    pub median: f64,
    pub q3: f64,
    pub n: usize,
}

/// The quartiles of `values` (linear interpolation between order
/// statistics); `None` if there are none.
pub fn quartiles(values: &[f64]) -> Option<Quartiles> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let at = |q: f64| {
        let rank = q * (sorted.len() - 1) as f64;
        let (low, high) = (rank.floor() as usize, rank.ceil() as usize);
        sorted[low] + (sorted[high] - sorted[low]) * (rank - low as f64)
    };
    Some(Quartiles {
        q1: at(0.25),
        median: at(0.5),
        q3: at(0.75),
        n: sorted.len(),
    })
}

/// `1.32 [1.28-1.37]`, just `1.32` for one value, `-` for none.
pub fn format_quartiles(q: Option<Quartiles>) -> String {
    match q {
        None => "-".to_owned(),
        Some(q) if q.n == 1 => three_digits(q.median),
        Some(q) => format!(
            "{} [{}-{}]",
            three_digits(q.median),
            three_digits(q.q1),
            three_digits(q.q3)
        ),
    }
}

/// One ratio over pairs, each with its pair's placement (if classified).
#[derive(Debug, Default)]
pub struct Ratios(Vec<(Option<Placement>, f64)>);

impl Ratios {
    /// Adds a pair's ratio `value / reference`, unless it is not a finite
    /// positive number.
    pub fn push(&mut self, placement: Option<Placement>, value: f64, reference: f64) {
        let ratio = value / reference;
        if ratio.is_finite() && ratio > 0.0 {
            self.0.push((placement, ratio));
        }
    }

    /// Over all pairs.
    pub fn all(&self) -> Option<Quartiles> {
        quartiles(&self.0.iter().map(|&(_, r)| r).collect::<Vec<_>>())
    }

    /// Over the pairs in `placement`.
    pub fn at(&self, placement: Placement) -> Option<Quartiles> {
        quartiles(
            &self
                .0
                .iter()
                .filter(|(p, _)| *p == Some(placement))
                .map(|&(_, r)| r)
                .collect::<Vec<_>>(),
        )
    }

    /// The placement most pairs ran in (the first of the most, in the
    /// order fast, mid, slow), if any was classified.
    pub fn most_common(&self) -> Option<Placement> {
        let count = |p: Placement| self.0.iter().filter(|(q, _)| *q == Some(p)).count();
        Placement::ALL
            .into_iter()
            .filter(|&p| count(p) > 0)
            .max_by_key(|&p| (count(p), std::cmp::Reverse(p as u8)))
    }

    /// Over the pairs in `placement`, or over all if `None`.
    pub fn in_placement(&self, placement: Option<Placement>) -> Option<Quartiles> {
        match placement {
            Some(p) => self.at(p),
            None => self.all(),
        }
    }

    /// Whether any pair ran in `placement`.
    pub fn has(&self, placement: Placement) -> bool {
        self.0.iter().any(|(p, _)| *p == Some(placement))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quartiles_interpolate() {
        let q = quartiles(&[4.0, 1.0, 3.0, 2.0, 5.0]).unwrap();
        assert_eq!((q.q1, q.median, q.q3, q.n), (2.0, 3.0, 4.0, 5));
        let q = quartiles(&[1.0, 2.0]).unwrap();
        assert_eq!((q.q1, q.median, q.q3), (1.25, 1.5, 1.75));
        assert_eq!(quartiles(&[]), None);
        assert_eq!(
            format_quartiles(quartiles(&[2.0, 1.0, 4.0])),
            "2.00 [1.50-3.00]"
        );
        assert_eq!(format_quartiles(quartiles(&[1.3])), "1.30");
        assert_eq!(format_quartiles(None), "-");
    }

    #[test]
    fn placements() {
        let latency = Classifier::RoundTrip {
            fast_below: 100.0,
            slow_above: 250.0,
        };
        assert_eq!(latency.classify(Some(62.0)), Some(Placement::Fast));
        assert_eq!(latency.classify(Some(130.0)), Some(Placement::Mid));
        assert_eq!(latency.classify(Some(480.0)), Some(Placement::Slow));
        assert_eq!(latency.classify(None), None);
        assert_eq!(latency.bounds(Placement::Mid), "100-250ns");
        assert_eq!(Classifier::Off.classify(Some(1.0)), None);
        let mut ratios = Ratios::default();
        ratios.push(Some(Placement::Fast), 2.0, 1.0);
        ratios.push(Some(Placement::Slow), 1.0, 1.0);
        ratios.push(None, 1.0, 0.0);
        assert_eq!(ratios.all().unwrap().n, 2);
        assert!(ratios.has(Placement::Slow) && !ratios.has(Placement::Mid));
        assert_eq!(ratios.at(Placement::Fast).unwrap().median, 2.0);
        assert_eq!(ratios.most_common(), Some(Placement::Fast));
        ratios.push(Some(Placement::Slow), 3.0, 1.0);
        assert_eq!(ratios.most_common(), Some(Placement::Slow));
        assert_eq!(ratios.in_placement(Some(Placement::Slow)).unwrap().n, 2);
        assert_eq!(ratios.in_placement(None).unwrap().n, 3);
        assert_eq!(Ratios::default().most_common(), None);
    }
}
