//! Failure statistics: pure functions over counts and durations, no I/O.

/// The two-sided 95% normal quantile used by the Wilson score interval.
pub const Z95: f64 = 1.959_963_984_540_054;

/// A proportion with its 95% Wilson score interval.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Rate {
    pub failures: u64,
    pub trials: u64,
    /// `failures / trials`, or 0 when there were no trials.
    pub estimate: f64,
    pub low: f64,
    pub high: f64,
}

/// The Wilson score interval for `failures` out of `trials` at 95% confidence.
///
/// Unlike the normal approximation it stays inside [0, 1] and is informative at 0/n and n/n,
/// which is exactly where a stress test lives ("0 failures in 200 runs" still bounds the rate).
/// With no trials nothing is known: the interval is [0, 1].
pub fn wilson(failures: u64, trials: u64) -> Rate {
    assert!(failures <= trials, "more failures than trials");
    if trials == 0 {
        return Rate {
            failures,
            trials,
            estimate: 0.0,
            low: 0.0,
            high: 1.0,
        };
    }
    let n = trials as f64;
    let p = failures as f64 / n;
    let z2 = Z95 * Z95;
    let denom = 1.0 + z2 / n;
    let center = (p + z2 / (2.0 * n)) / denom;
    let half = Z95 / denom * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    // At the edges the formula gives exactly 0 or 1 up to rounding; clamp the rounding away.
    let low = if failures == 0 {
        0.0
    } else {
        (center - half).max(0.0)
    };
    let high = if failures == trials {
        1.0
    } else {
        (center + half).min(1.0)
    };
    Rate {
        failures,
        trials,
        estimate: p,
        low,
        high,
    }
}

/// Duration percentiles in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Percentiles {
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub max: u64,
}

/// The nearest-rank percentile `q` (0 < q <= 100) of `sorted`, which must be sorted ascending.
pub fn nearest_rank(sorted: &[u64], q: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((q / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// p50, p90, p99 and max of `values` (any order), or `None` when there are none.
pub fn percentiles(values: &[u64]) -> Option<Percentiles> {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    Some(Percentiles {
        p50: nearest_rank(&sorted, 50.0)?,
        p90: nearest_rank(&sorted, 90.0)?,
        p99: nearest_rank(&sorted, 99.0)?,
        max: *sorted.last()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 5e-5
    }

    /// Reference values from Newcombe (1998), "Two-sided confidence intervals for the single
    /// proportion", Table I (method 3, Wilson score without continuity correction).
    #[test]
    fn wilson_matches_newcombe_table() {
        let cases = [
            (81, 263, 0.2553, 0.3662),
            (15, 148, 0.0624, 0.1605),
            (0, 20, 0.0, 0.1611),
            (1, 29, 0.0061, 0.1718),
        ];
        for (f, n, low, high) in cases {
            let r = wilson(f, n);
            assert!(close(r.low, low), "{f}/{n}: low {} != {low}", r.low);
            assert!(close(r.high, high), "{f}/{n}: high {} != {high}", r.high);
        }
    }

    #[test]
    fn wilson_edges() {
        let all = wilson(10, 10);
        assert_eq!(all.high, 1.0);
        assert!(close(all.low, 0.7225));
        let half = wilson(5, 10);
        assert!(close(half.low, 0.2366) && close(half.high, 0.7634));
        assert_eq!(
            wilson(0, 0),
            Rate {
                failures: 0,
                trials: 0,
                estimate: 0.0,
                low: 0.0,
                high: 1.0
            }
        );
    }

    #[test]
    fn wilson_interval_contains_estimate_and_narrows() {
        for n in [1u64, 2, 7, 50, 1000] {
            for f in 0..=n.min(60) {
                let r = wilson(f, n);
                assert!(r.low <= r.estimate && r.estimate <= r.high, "{f}/{n}");
            }
        }
        let wide = wilson(1, 10);
        let narrow = wilson(100, 1000);
        assert!(narrow.high - narrow.low < wide.high - wide.low);
    }

    #[test]
    fn percentiles_nearest_rank() {
        let v: Vec<u64> = (1..=100).rev().collect();
        assert_eq!(
            percentiles(&v),
            Some(Percentiles {
                p50: 50,
                p90: 90,
                p99: 99,
                max: 100
            })
        );
        assert_eq!(
            percentiles(&[7]),
            Some(Percentiles {
                p50: 7,
                p90: 7,
                p99: 7,
                max: 7
            })
        );
        assert_eq!(
            percentiles(&[3, 1, 2]),
            Some(Percentiles {
                p50: 2,
                p90: 3,
                p99: 3,
                max: 3
            })
        );
        assert_eq!(percentiles(&[]), None);
    }
}
