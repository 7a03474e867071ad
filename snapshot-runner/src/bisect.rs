//! Bayesian bisection over commits for a test whose failure *rate* changed (issue 14, part 1:
//! the pure core of `snaprun bisect`; no git, no VMs, no clock).
//!
//! The commits are `0..n` in first-parent order, 0 the known-good end and `n - 1` the bad one.
//! Hypothesis *k* (1 <= k < n) says commit k changed the failure rate: commits before it fail
//! at an unknown rate p0, commits from it on at an unknown rate p1. One more hypothesis says
//! nothing changed (one rate throughout). Both rates have Beta(a, b) priors and are integrated
//! out (beta-binomial), so the posterior over the hypotheses is exact given the counts of runs
//! and failures per commit, and rates are estimated from the data as it comes. A change is
//! one that made the test flakier (p1 > p0: the prior is restricted to it), which is what
//! "good" and "bad" say about the two ends.
//!
//! The next commit to probe is the one whose next run is expected to tell the most about where
//! the change is (the expected information gain of one run, in bits, under the posterior
//! predictive); the search stops when one hypothesis holds the wanted mass.
//!
//! Measured against deflaked binary search (`tests/bisect_simulation.rs`, 32 commits, 200
//! histories, the default prior): for a rate going from 2% to 30% it names the right commit
//! more often at equal budget from 40 runs on (62% against 58.5% at 40, 84% against 46% at
//! 80), less often at 20 (39.5% against 46%), and is 95% sure after 88.5 runs on average
//! (right in 99.5% of histories); for 0% to 10%, where deflaked search's "any failure is bad"
//! is exactly right, it is behind at equal budget (24% and 55% against 33.5% and 63.5% at 40
//! and 80 runs), and is 95% sure after about 197 runs (right in 98%).

use serde::Serialize;

use crate::error::{Error, Result};
use crate::stats::{erfc, ln_gamma};

/// A Beta(`a`, `b`) distribution over a failure rate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Beta {
    pub a: f64,
    pub b: f64,
}

impl Beta {
    fn ok(self) -> bool {
        self.a > 0.0 && self.b > 0.0
    }

    /// The log of the probability of `f` failures in `r` runs (in a given order) under this
    /// prior, and the posterior.
    fn update(self, f: f64, r: f64) -> (f64, Beta) {
        let post = Beta {
            a: self.a + f,
            b: self.b + r - f,
        };
        (ln_beta(post.a, post.b) - ln_beta(self.a, self.b), post)
    }

    fn mean(self) -> f64 {
        self.a / (self.a + self.b)
    }
}

/// A mixture of two Betas: `(weight, Beta)`, the weights summing to 1.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Mixture {
    pub parts: [(f64, Beta); 2],
}

impl Mixture {
    fn ok(self) -> bool {
        let total: f64 = self.parts.iter().map(|p| p.0).sum();
        self.parts.iter().all(|(w, b)| *w >= 0.0 && b.ok()) && (total - 1.0).abs() < 1e-9
    }

    /// The log evidence of `f` failures in `r` runs, and the posterior mixture.
    fn update(self, f: f64, r: f64) -> (f64, Mixture) {
        let mut ln_w = [f64::NEG_INFINITY; 2];
        let mut betas = [self.parts[0].1; 2];
        for (i, (w, b)) in self.parts.iter().enumerate() {
            let (ev, post) = b.update(f, r);
            betas[i] = post;
            if *w > 0.0 {
                ln_w[i] = w.ln() + ev;
            }
        }
        let max = ln_w[0].max(ln_w[1]);
        let total = ((ln_w[0] - max).exp() + (ln_w[1] - max).exp()).ln() + max;
        let parts = [
            ((ln_w[0] - total).exp(), betas[0]),
            ((ln_w[1] - total).exp(), betas[1]),
        ];
        (total, Mixture { parts })
    }

    fn mean(self) -> f64 {
        self.parts.iter().map(|(w, b)| w * b.mean()).sum()
    }

    /// P(q > p) for p from this mixture and q ~ `other`.
    fn prob_below(self, other: Beta) -> f64 {
        self.parts
            .iter()
            .filter(|(w, _)| *w > 0.0)
            .map(|(w, b)| w * prob_greater(b.a, b.b, other.a, other.b))
            .sum()
    }
}

/// The prior: on the failure rate before the change, on the rate after it (and on the one
/// rate when nothing changed), and the mass of "no change".
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Prior {
    pub before: Mixture,
    pub after: Beta,
    /// Prior probability that no commit changed the rate; the rest is spread evenly over the
    /// commits after the good end.
    pub no_change: f64,
}

/// The weight of "almost never fails" in the prior on the rate before the change.
const BEFORE_WEIGHT: f64 = 0.9;

impl Default for Prior {
    /// Before the change, mostly (90%) Beta(1, 100): the good commit's test almost never
    /// fails (mean 1%, though 2% or 5% are no surprise after a few dozen runs); the other 10%
    /// Beta(1, 4), so a good side that fails 15% of the time is still believed (with Beta(1,
    /// 100) alone, a real bisect whose good side failed 14% of runs concluded "no change"
    /// without running the bad end). After the change, and with no change, Beta(1, 4): a test
    /// someone bisects fails noticeably often (mean 20%, any rate possible).
    ///
    /// In the simulation (`tests/bisect_simulation.rs`) this names the right commit more
    /// often than Beta(1, 10) on both sides did: 2% -> 30%, 39.5% against 32% at 20 runs and
    /// 84% against 85.5% at 80, 95% sure after 88.5 runs instead of 104; 0% -> 10%, 24%
    /// against 13% at 40 runs and 55% against 37.5% at 80, 95% sure after 197 runs instead
    /// of 259.
    fn default() -> Prior {
        Prior {
            before: Mixture {
                parts: [
                    (BEFORE_WEIGHT, Beta { a: 1.0, b: 100.0 }),
                    (1.0 - BEFORE_WEIGHT, Beta { a: 1.0, b: 4.0 }),
                ],
            },
            after: Beta { a: 1.0, b: 4.0 },
            no_change: 0.2,
        }
    }
}

/// Runs and failures seen at one commit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub runs: u64,
    pub failures: u64,
}

/// The posterior over where the rate changed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Posterior {
    /// `change_at[k]`: the probability that commit k changed the rate (`change_at[0]` is 0:
    /// the good end changed nothing).
    pub change_at: Vec<f64>,
    pub no_change: f64,
}

impl Posterior {
    /// The most probable culprit and its mass.
    pub fn best(&self) -> (usize, f64) {
        self.change_at
            .iter()
            .copied()
            .enumerate()
            .fold(
                (0, f64::MIN),
                |best, (k, p)| if p > best.1 { (k, p) } else { best },
            )
    }

    /// The `count` most probable culprits, most probable first.
    pub fn top(&self, count: usize) -> Vec<(usize, f64)> {
        let mut all: Vec<(usize, f64)> =
            self.change_at.iter().copied().enumerate().skip(1).collect();
        all.sort_by(|x, y| y.1.total_cmp(&x.1).then(x.0.cmp(&y.0)));
        all.truncate(count);
        all
    }
}

/// Where a bisection stands.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "verdict", rename_all = "kebab-case")]
pub enum Verdict {
    /// Commit `commit` changed the rate, with this posterior mass.
    Culprit { commit: usize, mass: f64 },
    /// Nothing changed the rate, with this posterior mass.
    NoChange { mass: f64 },
    /// No hypothesis holds the wanted mass yet.
    Undecided,
}

/// The estimated failure rates before and after a change at some commit: posterior means
/// and 95% equal-tailed intervals.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Rates {
    pub before: RateEstimate,
    pub after: RateEstimate,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RateEstimate {
    pub mean: f64,
    pub low: f64,
    pub high: f64,
}

/// The state of a bisection: the prior and what each commit's runs gave.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bisection {
    prior: Prior,
    counts: Vec<Counts>,
}

fn ln_beta(a: f64, b: f64) -> f64 {
    ln_gamma(a) + ln_gamma(b) - ln_gamma(a + b)
}

fn entropy_bits(p: &[f64]) -> f64 {
    -p.iter()
        .filter(|&&x| x > 0.0)
        .map(|&x| x * x.log2())
        .sum::<f64>()
}

/// P(q > p) for independent p ~ Beta(a0, b0) and q ~ Beta(a1, b1). Exact (a finite sum,
/// Evan Miller's) when a shape `a` is a whole number, over the fewer terms; a normal
/// approximation otherwise.
fn prob_greater(a0: f64, b0: f64, a1: f64, b1: f64) -> f64 {
    let whole = |x: f64| x.fract() == 0.0 && x < 1e6;
    // P(y > x) for x ~ Beta(ax, bx), y ~ Beta(ay, by), ay whole: a sum of ay terms.
    let sum = |ax: f64, bx: f64, ay: f64, by: f64| -> f64 {
        let base = ln_beta(ax, bx);
        (0..ay as u64)
            .map(|i| {
                let i = i as f64;
                (ln_beta(ax + i, bx + by) - (by + i).ln() - ln_beta(1.0 + i, by) - base).exp()
            })
            .sum::<f64>()
            .clamp(0.0, 1.0)
    };
    match (whole(a0), whole(a1)) {
        (true, true) if a0 < a1 => 1.0 - sum(a1, b1, a0, b0),
        (_, true) => sum(a0, b0, a1, b1),
        (true, false) => 1.0 - sum(a1, b1, a0, b0),
        (false, false) => {
            let moments = |a: f64, b: f64| (a / (a + b), a * b / ((a + b).powi(2) * (a + b + 1.0)));
            let ((m0, v0), (m1, v1)) = (moments(a0, b0), moments(a1, b1));
            0.5 * erfc(-(m1 - m0) / (2.0 * (v0 + v1)).sqrt())
        }
    }
}

/// Normalises log weights into probabilities (in place).
fn normalise(ln_w: &mut [f64]) {
    let max = ln_w.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut total = 0.0;
    for w in ln_w.iter_mut() {
        *w = (*w - max).exp();
        total += *w;
    }
    for w in ln_w.iter_mut() {
        *w /= total;
    }
}

impl Bisection {
    /// A bisection over `commits` commits (at least the good and the bad end).
    pub fn new(commits: usize, prior: Prior) -> Result<Bisection> {
        if commits < 2 {
            return Err(Error::Usage(format!(
                "bisecting needs at least two commits (the good and the bad one), got {commits}"
            )));
        }
        if !(prior.before.ok() && prior.after.ok() && (0.0..1.0).contains(&prior.no_change)) {
            return Err(Error::Usage(format!(
                "the prior needs Betas with a > 0 and b > 0, and 0 <= no_change < 1, got \
                 {prior:?}"
            )));
        }
        Ok(Bisection {
            prior,
            counts: vec![Counts::default(); commits],
        })
    }

    pub fn commits(&self) -> usize {
        self.counts.len()
    }

    pub fn counts(&self) -> &[Counts] {
        &self.counts
    }

    /// Adds the outcome of `runs` runs at `commit`, `failures` of which failed.
    pub fn record(&mut self, commit: usize, runs: u64, failures: u64) -> Result<()> {
        let n = self.counts.len();
        let c = self.counts.get_mut(commit).ok_or_else(|| {
            Error::Usage(format!(
                "commit {commit} is not one of the {n} being bisected"
            ))
        })?;
        if failures > runs {
            return Err(Error::Usage(format!(
                "{failures} failures in {runs} runs at commit {commit}"
            )));
        }
        c.runs += runs;
        c.failures += failures;
        Ok(())
    }

    /// Failures and runs before commit k, for every k in `0..=n` (prefix sums).
    fn prefix(&self) -> Vec<(f64, f64)> {
        let mut out = Vec::with_capacity(self.counts.len() + 1);
        let (mut f, mut r) = (0.0, 0.0);
        out.push((f, r));
        for c in &self.counts {
            f += c.failures as f64;
            r += c.runs as f64;
            out.push((f, r));
        }
        out
    }

    /// The posterior given everything recorded.
    pub fn posterior(&self) -> Posterior {
        let n = self.counts.len();
        let Prior {
            before: p0,
            after: p1,
            no_change,
        } = self.prior;
        let pre = self.prefix();
        let (f_all, r_all) = pre[n];
        let ln_each = ((1.0 - no_change) / (n - 1) as f64).ln();
        // A change makes the test flakier: the prior of each change hypothesis is restricted
        // to p1 > p0, which multiplies its evidence by P(p1 > p0 | data) / P(p1 > p0).
        let ln_restricted = p0.prob_below(p1).max(f64::MIN_POSITIVE).ln();
        // Hypotheses 1..n-1, then "no change" at index n (index 0 is never a culprit).
        let mut w = vec![f64::NEG_INFINITY; n + 1];
        for (k, wk) in w.iter_mut().enumerate().take(n).skip(1) {
            let (f0, r0) = pre[k];
            let (f1, r1) = (f_all - f0, r_all - r0);
            let (ev0, post0) = p0.update(f0, r0);
            let (ev1, post1) = p1.update(f1, r1);
            let flakier = post0.prob_below(post1).max(f64::MIN_POSITIVE).ln() - ln_restricted;
            *wk = ln_each + ev0 + ev1 + flakier;
        }
        w[n] = if no_change > 0.0 {
            no_change.ln() + p1.update(f_all, r_all).0
        } else {
            f64::NEG_INFINITY
        };
        normalise(&mut w);
        let no_change = w.pop().unwrap_or(0.0);
        Posterior {
            change_at: w,
            no_change,
        }
    }

    /// Where the bisection stands at `confidence` (e.g. 0.95).
    pub fn verdict(&self, confidence: f64) -> Verdict {
        let post = self.posterior();
        let (commit, mass) = post.best();
        if post.no_change >= confidence {
            Verdict::NoChange {
                mass: post.no_change,
            }
        } else if mass >= confidence {
            Verdict::Culprit { commit, mass }
        } else {
            Verdict::Undecided
        }
    }

    /// The chance that one more run at `commit` fails, under each hypothesis (1..n, then "no
    /// change"), from the posterior means of the rates.
    fn fail_chances(&self, commit: usize, pre: &[(f64, f64)]) -> Vec<f64> {
        let n = self.counts.len();
        let Prior {
            before: p0,
            after: p1,
            ..
        } = self.prior;
        let (f_all, r_all) = pre[n];
        let mut out = vec![0.0; n + 1];
        for (k, o) in out.iter_mut().enumerate().take(n).skip(1) {
            let (f0, r0) = pre[k];
            *o = if commit < k {
                p0.update(f0, r0).1.mean()
            } else {
                p1.update(f_all - f0, r_all - r0).1.mean()
            };
        }
        out[n] = p1.update(f_all, r_all).1.mean();
        out
    }

    /// The commit to run next: the one whose next run is expected to tell the most about where
    /// the change is; while every run would tell as little (at the start), the posterior's
    /// median commit.
    pub fn next_probe(&self) -> usize {
        let post = self.posterior();
        let mut p = post.change_at.clone();
        p.push(post.no_change);
        let h = entropy_bits(&p);
        let pre = self.prefix();
        let mut best = (None, 1e-12);
        let mut after_fail = vec![0.0; p.len()];
        let mut after_pass = vec![0.0; p.len()];
        for commit in 0..self.counts.len() {
            let chances = self.fail_chances(commit, &pre);
            let q: f64 = p.iter().zip(&chances).map(|(w, c)| w * c).sum();
            if q <= 0.0 || q >= 1.0 {
                continue;
            }
            for (i, (w, c)) in p.iter().zip(&chances).enumerate() {
                after_fail[i] = w * c / q;
                after_pass[i] = w * (1.0 - c) / (1.0 - q);
            }
            let gain = h - q * entropy_bits(&after_fail) - (1.0 - q) * entropy_bits(&after_pass);
            if gain > best.1 {
                best = (Some(commit), gain);
            }
        }
        best.0.unwrap_or_else(|| {
            let mut acc = 0.0;
            post.change_at
                .iter()
                .position(|x| {
                    acc += x;
                    acc >= 0.5 * (1.0 - post.no_change)
                })
                .unwrap_or(self.counts.len() / 2)
        })
    }

    /// The failure rates before and after a change at `commit` (1 <= commit < n), given the
    /// data: Beta posterior means and 95% intervals.
    pub fn rates(&self, commit: usize) -> Rates {
        let n = self.counts.len();
        let k = commit.clamp(1, n - 1);
        let pre = self.prefix();
        let (f0, r0) = pre[k];
        let (f_all, r_all) = pre[n];
        let Prior {
            before: p0,
            after: p1,
            ..
        } = self.prior;
        Rates {
            before: mixture_estimate(p0.update(f0, r0).1),
            after: beta_estimate(p1.a + f_all - f0, p1.b + (r_all - r0) - (f_all - f0)),
        }
    }
}

impl Bisection {
    /// The failure rate given `counts` under the prior (e.g. everything seen, when nothing
    /// changed): Beta posterior mean and 95% interval.
    pub fn rate_of(&self, counts: Counts) -> RateEstimate {
        let (f, r) = (counts.failures as f64, counts.runs as f64);
        let p = self.prior.after;
        beta_estimate(p.a + f, p.b + r - f)
    }
}

/// Mean and 95% equal-tailed interval of Beta(a, b).
fn beta_estimate(a: f64, b: f64) -> RateEstimate {
    mixture_estimate(Mixture {
        parts: [(1.0, Beta { a, b }), (0.0, Beta { a, b })],
    })
}

/// Mean and 95% equal-tailed interval of a mixture of Betas, the interval by bisection on
/// the CDF (integrated numerically: precise to well below what a failure rate is reported
/// to).
fn mixture_estimate(m: Mixture) -> RateEstimate {
    const STEPS: usize = 4000;
    let parts: Vec<(f64, f64, f64, f64)> = m
        .parts
        .iter()
        .filter(|(w, _)| *w > 0.0)
        .map(|(w, b)| (*w, b.a, b.b, ln_beta(b.a, b.b)))
        .collect();
    // The density on a grid of cell midpoints, accumulated into a CDF.
    let mut cdf = Vec::with_capacity(STEPS + 1);
    cdf.push(0.0);
    let mut acc = 0.0;
    for i in 0..STEPS {
        let x = (i as f64 + 0.5) / STEPS as f64;
        for (w, a, b, ln_norm) in &parts {
            acc += w * ((a - 1.0) * x.ln() + (b - 1.0) * (1.0 - x).ln() - ln_norm).exp()
                / STEPS as f64;
        }
        cdf.push(acc);
    }
    let total = acc.max(f64::MIN_POSITIVE);
    let quantile = |q: f64| {
        let i = cdf.partition_point(|c| *c / total < q);
        i as f64 / STEPS as f64
    };
    RateEstimate {
        mean: m.mean(),
        low: quantile(0.025),
        high: quantile(0.975),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Uniform rates on both sides: what the data says, without the default's expectations.
    fn flat_prior() -> Prior {
        Prior {
            before: Mixture {
                parts: [
                    (1.0, Beta { a: 1.0, b: 1.0 }),
                    (0.0, Beta { a: 1.0, b: 1.0 }),
                ],
            },
            after: Beta { a: 1.0, b: 1.0 },
            ..Prior::default()
        }
    }

    #[test]
    fn no_data_is_the_prior() {
        let b = Bisection::new(5, Prior::default()).unwrap();
        let p = b.posterior();
        assert_eq!(p.change_at[0], 0.0);
        for k in 1..5 {
            assert!((p.change_at[k] - 0.2).abs() < 1e-12, "{p:?}");
        }
        assert!((p.no_change - 0.2).abs() < 1e-12);
        assert!(b.next_probe() < 5);
    }

    #[test]
    fn clear_data_points_at_the_culprit() {
        let mut b = Bisection::new(8, flat_prior()).unwrap();
        for c in 0..8 {
            let failures = if c >= 5 { 30 } else { 0 };
            b.record(c, 100, failures).unwrap();
        }
        let post = b.posterior();
        assert_eq!(post.best().0, 5);
        assert!(matches!(
            b.verdict(0.95),
            Verdict::Culprit { commit: 5, .. }
        ));
        assert_eq!(post.top(2)[0].0, 5);
        let r = b.rates(5);
        assert!(
            r.before.high < 0.01 && r.after.low > 0.25 && r.after.high < 0.36,
            "{r:?}"
        );
    }

    #[test]
    fn the_same_rate_everywhere_is_no_change() {
        let mut b = Bisection::new(8, flat_prior()).unwrap();
        for c in 0..8 {
            b.record(c, 200, 20).unwrap();
        }
        assert!(
            matches!(b.verdict(0.8), Verdict::NoChange { .. }),
            "{:?}",
            b.posterior()
        );
    }

    #[test]
    fn a_high_rate_at_the_good_end_is_not_taken_for_no_change() {
        // What a real bisect saw on its good side (14% failing), before it ran anything past
        // commit 16: that is no reason to say nothing changed up to commit 31.
        let mut b = Bisection::new(32, Prior::default()).unwrap();
        for (c, runs, failures) in [
            (0, 28, 4),
            (1, 8, 1),
            (2, 4, 1),
            (6, 4, 0),
            (7, 4, 1),
            (8, 4, 0),
            (10, 4, 0),
            (11, 8, 1),
            (12, 4, 1),
            (16, 4, 1),
        ] {
            b.record(c, runs, failures).unwrap();
        }
        assert_eq!(b.verdict(0.9), Verdict::Undecided, "{:?}", b.posterior());
        // And once the bad end fails more often, a change after 16 is the likely story.
        b.record(31, 32, 16).unwrap();
        let p = b.posterior();
        let late: f64 = p.change_at[17..].iter().sum();
        assert!(late > 0.7, "{p:?}");
    }

    #[test]
    fn bad_input_is_refused() {
        assert!(Bisection::new(1, Prior::default()).is_err());
        let bad = Prior {
            no_change: 1.0,
            ..Prior::default()
        };
        assert!(Bisection::new(4, bad).is_err());
        let mut b = Bisection::new(4, Prior::default()).unwrap();
        assert!(
            b.record(4, 1, 0)
                .unwrap_err()
                .to_string()
                .contains("commit 4")
        );
        assert!(b.record(1, 1, 2).is_err());
    }

    #[test]
    fn the_chance_one_rate_is_above_another() {
        // Symmetric: the same Betas are as likely either way.
        assert!((prob_greater(3.0, 7.0, 3.0, 7.0) - 0.5).abs() < 1e-9);
        // Beta(1,1) against Beta(2,1): P(q > p) = 2/3.
        assert!((prob_greater(1.0, 1.0, 2.0, 1.0) - 2.0 / 3.0).abs() < 1e-9);
        // Both ways of summing, and the normal approximation, agree.
        let exact = prob_greater(3.0, 97.0, 31.0, 71.0);
        assert!(exact > 0.999_999, "{exact}");
        let (x, y) = (
            prob_greater(5.0, 20.0, 8.0, 22.0),
            1.0 - prob_greater(8.0, 22.0, 5.0, 20.0),
        );
        assert!((x - y).abs() < 1e-9, "{x} {y}");
        let approx = prob_greater(5.5, 20.0, 8.5, 22.0);
        assert!((approx - x).abs() < 0.05, "{approx} {x}");
    }

    #[test]
    fn beta_intervals_match_known_values() {
        // Beta(1, 1) is uniform: the 2.5% and 97.5% quantiles.
        let u = beta_estimate(1.0, 1.0);
        assert!(
            (u.low - 0.025).abs() < 1e-3 && (u.high - 0.975).abs() < 1e-3,
            "{u:?}"
        );
        // Beta(3, 99): mean 0.0294, 95% interval about 0.006 to 0.069.
        let e = beta_estimate(3.0, 99.0);
        assert!((e.mean - 3.0 / 102.0).abs() < 1e-12);
        assert!(
            (e.low - 0.0061).abs() < 1e-3 && (e.high - 0.0694).abs() < 2e-3,
            "{e:?}"
        );
    }
}
