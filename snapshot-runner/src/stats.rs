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

/// ln Γ(x) for x > 0 (Lanczos, g = 7, 9 terms: about 15 significant digits).
pub fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection: Γ(x)Γ(1-x) = π / sin(πx).
        return (std::f64::consts::PI / (std::f64::consts::PI * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + G + 0.5;
    for (i, c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

fn ln_choose(n: u64, k: u64) -> f64 {
    ln_gamma(n as f64 + 1.0) - ln_gamma(k as f64 + 1.0) - ln_gamma((n - k) as f64 + 1.0)
}

/// Two-sided p-value of Fisher's exact test on the 2x2 table `[[a, b], [c, d]]` (for snaprun:
/// failures and passes of batch A in the first row, of batch B in the second).
///
/// Sums the probabilities (hypergeometric, margins fixed) of every table at most as likely as
/// the observed one, with R's relative tolerance of 1e-7 for ties, as R's `fisher.test` and
/// SciPy's `fisher_exact` do.
pub fn fisher_exact(a: u64, b: u64, c: u64, d: u64) -> f64 {
    let (row1, row2, col1) = (a + b, c + d, a + c);
    let n = row1 + row2;
    if n == 0 {
        return 1.0;
    }
    let ln_p = |x: u64| ln_choose(row1, x) + ln_choose(row2, col1 - x) - ln_choose(n, col1);
    let lo = col1.saturating_sub(row2);
    let hi = row1.min(col1);
    let observed = ln_p(a);
    let mut p = 0.0;
    for x in lo..=hi {
        let lx = ln_p(x);
        if lx <= observed + 1e-7_f64.ln_1p() {
            p += lx.exp();
        }
    }
    p.min(1.0)
}

/// The standard normal's upper tail P(Z > z).
pub fn normal_sf(z: f64) -> f64 {
    0.5 * erfc(z / std::f64::consts::SQRT_2)
}

/// The complementary error function (Numerical Recipes' Chebyshev fit, relative error below
/// 1.2e-7 everywhere: plenty for a p-value).
pub fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87
                                        + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

/// The Mann-Whitney U test of two samples (are values in one larger than in the other?).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct MannWhitney {
    /// U of the first sample: how many (x, y) pairs have x > y, ties counting one half.
    pub u: f64,
    /// Two-sided p-value from the normal approximation with tie and continuity corrections (as
    /// R's `wilcox.test(exact = FALSE)` and SciPy's `mannwhitneyu(method = "asymptotic")`).
    pub p: f64,
}

/// `None` when either sample is empty.
pub fn mann_whitney(x: &[f64], y: &[f64]) -> Option<MannWhitney> {
    let (n1, n2) = (x.len(), y.len());
    if n1 == 0 || n2 == 0 {
        return None;
    }
    let mut all: Vec<(f64, bool)> = x
        .iter()
        .map(|v| (*v, true))
        .chain(y.iter().map(|v| (*v, false)))
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    let n = all.len();
    let (mut rank_sum_x, mut tie_term) = (0.0, 0.0);
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && all[j + 1].0 == all[i].0 {
            j += 1;
        }
        // Ranks i+1 ..= j+1 share their average.
        let avg = (i + j + 2) as f64 / 2.0;
        let t = (j - i + 1) as f64;
        tie_term += t * t * t - t;
        rank_sum_x += avg * all[i..=j].iter().filter(|e| e.1).count() as f64;
        i = j + 1;
    }
    let (f1, f2, nf) = (n1 as f64, n2 as f64, n as f64);
    let u = rank_sum_x - f1 * (f1 + 1.0) / 2.0;
    let mu = f1 * f2 / 2.0;
    let var = f1 * f2 / 12.0 * ((nf + 1.0) - tie_term / (nf * (nf - 1.0)).max(1.0));
    if var <= 0.0 {
        // Every value is the same: no evidence of a shift.
        return Some(MannWhitney { u, p: 1.0 });
    }
    let diff = u - mu;
    let corrected = (diff.abs() - 0.5).max(0.0);
    let p = (2.0 * normal_sf(corrected / var.sqrt())).min(1.0);
    Some(MannWhitney { u, p })
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

    /// Reference p-values from SciPy 1.17 (`scipy.stats.fisher_exact`, two-sided), which
    /// agree with R's `fisher.test`.
    #[test]
    fn fisher_exact_matches_scipy() {
        let cases = [
            ((0, 200, 9, 191), 0.003_563_049_434_584_150_8),
            ((3, 197, 5, 195), 0.723_789_936_697_779_8),
            ((1, 9, 11, 3), 0.002_759_456_185_220_083_6),
            ((0, 10, 0, 10), 1.0),
            ((8, 2, 1, 5), 0.034_965_034_965_034_975),
            ((10, 0, 0, 10), 1.082_508_822_446_903e-5),
            ((5, 95, 15, 85), 0.031_720_039_086_310_55),
            ((2, 48, 0, 50), 0.494_949_494_949_494_9),
        ];
        for ((a, b, c, d), want) in cases {
            let got = fisher_exact(a, b, c, d);
            assert!(
                (got - want).abs() <= 1e-9 * want.max(1e-300) + 1e-12,
                "[[{a},{b}],[{c},{d}]]: {got} != {want}"
            );
        }
        assert_eq!(fisher_exact(0, 0, 0, 0), 1.0);
    }

    /// Reference values from SciPy 1.17 (`mannwhitneyu(x, y, method="asymptotic",
    /// use_continuity=True)`).
    #[test]
    fn mann_whitney_matches_scipy() {
        let close = |a: f64, b: f64| (a - b).abs() <= 2e-6 * b.max(1e-12);
        let x = [1.2, 3.4, 2.2, 5.0, 4.1, 3.3, 2.9];
        let y = [6.1, 5.5, 7.0, 4.4, 6.6, 5.9, 8.0, 6.2];
        let r = mann_whitney(&x, &y).unwrap();
        assert_eq!(r.u, 1.0);
        assert!(close(r.p, 0.002_163_787_128_870_306_3), "{}", r.p);
        // With ties.
        let r = mann_whitney(&[1., 2., 2., 3., 3., 3., 4.], &[2., 3., 4., 4., 5., 5.]).unwrap();
        assert_eq!(r.u, 8.5);
        assert!(close(r.p, 0.078_262_429_477_146_18), "{}", r.p);
        let a: Vec<f64> = (0..100).map(f64::from).collect();
        let b: Vec<f64> = (0..100).map(|v| f64::from(v) + 10.0).collect();
        let r = mann_whitney(&a, &b).unwrap();
        assert_eq!(r.u, 4050.0);
        assert!(close(r.p, 0.020_336_763_458_753_827), "{}", r.p);
        assert_eq!(mann_whitney(&[1.0, 1.0], &[1.0]).unwrap().p, 1.0);
        assert_eq!(mann_whitney(&[], &[1.0]), None);
    }

    #[test]
    fn ln_gamma_of_integers_is_log_factorial() {
        let mut f = 0.0f64;
        for n in 1..30u32 {
            f += f64::from(n).ln();
            assert!(
                (ln_gamma(f64::from(n) + 1.0) - f).abs() < 1e-9 * f.max(1.0),
                "{n}"
            );
        }
    }
}
