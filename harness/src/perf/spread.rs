//! From interleaved tunnel/baseline pairs to one figure: the medians, the median ratio
//! and the extreme pairs' ratios, so a reader sees how far to trust it.

/// What a figure's baseline is to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// The most the tunnel can reach (rates: the same work minus the tunnel).
    Ceiling,
    /// The least time the tunnel can take (times: the same work minus the tunnel).
    Floor,
    /// Something to compare with, not a limit (AES-GCM beside NULL encryption).
    Reference,
}

/// One run of the tunnel and one of its baseline, next to each other, in the figure's
/// unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pair {
    /// The tunnel's value.
    pub tunnel: f64,
    /// The baseline's value.
    pub baseline: f64,
}

impl Pair {
    /// tunnel / baseline.
    pub fn ratio(&self) -> f64 {
        self.tunnel / self.baseline
    }
}

/// Pairs whose extreme ratios differ by more than this factor make a figure noisy.
pub const NOISY: f64 = 1.25;

/// A figure summed up from its pairs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    /// Median of the tunnel's values.
    pub value: f64,
    /// Median of the baseline's values.
    pub baseline: f64,
    /// Median of the pairs' ratios.
    pub ratio: f64,
    /// The lowest pair's ratio.
    pub low: f64,
    /// The highest pair's ratio.
    pub high: f64,
    /// The extreme ratios differ by more than [`NOISY`].
    pub noisy: bool,
    /// The tunnel's median beats its baseline's, which a baseline that is the limit of
    /// its figure does not allow: the ratio means nothing.
    pub baseline_suspect: bool,
    /// How many pairs.
    pub pairs: usize,
}

/// The median of `v` (the mean of the middle two for an even count); `None` when empty.
pub fn median(v: &[f64]) -> Option<f64> {
    let mut s: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if s.is_empty() {
        return None;
    }
    s.sort_by(f64::total_cmp);
    let m = s.len() / 2;
    Some(if s.len() % 2 == 1 {
        s[m]
    } else {
        (s[m - 1] + s[m]) / 2.0
    })
}

/// Sums up `pairs`; `None` when there is none with a positive baseline.
pub fn summarize(pairs: &[Pair], bound: Bound) -> Option<Spread> {
    let pairs: Vec<Pair> = pairs
        .iter()
        .copied()
        .filter(|p| p.baseline > 0.0 && p.tunnel.is_finite())
        .collect();
    let ratios: Vec<f64> = pairs.iter().map(Pair::ratio).collect();
    let value = median(&pairs.iter().map(|p| p.tunnel).collect::<Vec<_>>())?;
    let baseline = median(&pairs.iter().map(|p| p.baseline).collect::<Vec<_>>())?;
    let ratio = median(&ratios)?;
    let low = ratios.iter().copied().fold(f64::INFINITY, f64::min);
    let high = ratios.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let baseline_suspect = match bound {
        Bound::Ceiling => value > baseline,
        Bound::Floor => value < baseline,
        Bound::Reference => false,
    };
    Some(Spread {
        value,
        baseline,
        ratio,
        low,
        high,
        noisy: high > low * NOISY,
        baseline_suspect,
        pairs: pairs.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(v: &[(f64, f64)]) -> Vec<Pair> {
        v.iter()
            .map(|&(tunnel, baseline)| Pair { tunnel, baseline })
            .collect()
    }

    #[test]
    fn medians_and_extremes_come_from_the_pairs() {
        let s = summarize(
            &pairs(&[(90.0, 100.0), (80.0, 100.0), (95.0, 100.0), (70.0, 50.0)]),
            Bound::Ceiling,
        )
        .unwrap();
        assert_eq!(s.value, 85.0);
        assert_eq!(s.baseline, 100.0);
        assert!((s.ratio - 0.925).abs() < 1e-12);
        assert_eq!((s.low, s.high), (0.8, 1.4));
        assert!(s.noisy);
        assert!(!s.baseline_suspect);
        assert_eq!(s.pairs, 4);
    }

    #[test]
    fn a_tunnel_that_beats_its_limit_makes_the_baseline_suspect() {
        let fast = pairs(&[(40.0, 50.0), (41.0, 50.0), (42.0, 52.0)]);
        assert!(summarize(&fast, Bound::Floor).unwrap().baseline_suspect);
        assert!(!summarize(&fast, Bound::Ceiling).unwrap().baseline_suspect);
        assert!(!summarize(&fast, Bound::Reference).unwrap().baseline_suspect);
        let s = summarize(&pairs(&[(1.0, 1.0), (1.1, 1.0), (1.2, 1.0)]), Bound::Floor).unwrap();
        assert!(!s.noisy, "1.2 / 1.0 is within 25%");
        assert!(!s.baseline_suspect);
    }

    #[test]
    fn nothing_to_sum_up_gives_none() {
        assert_eq!(summarize(&[], Bound::Ceiling), None);
        assert_eq!(summarize(&pairs(&[(1.0, 0.0)]), Bound::Ceiling), None);
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
    }
}
