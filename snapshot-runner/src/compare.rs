//! Comparing two batches (typically two code snapshots): did the failure rate or the duration
//! change, and is the change more than chance? Pure: takes iterations, returns numbers and
//! sentences.

use serde::Serialize;

use crate::results::{Batch, Iteration, Summary, finished_durations};
use crate::stats::{self, MannWhitney, Rate};

/// Below this p-value a difference is called a change.
pub const ALPHA: f64 = 0.05;

/// One batch's side of a comparison.
#[derive(Debug, Clone, Serialize)]
pub struct Side {
    pub batch_id: String,
    pub code_hash: String,
    pub failure_rate: Rate,
    /// Median and p90 of the durations (ms) of commands that finished, if any.
    pub median_ms: Option<u64>,
    pub p90_ms: Option<u64>,
    pub durations: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Rose,
    Fell,
    Same,
}

#[derive(Debug, Clone, Serialize)]
pub struct DurationShift {
    /// (B - A) / A of the medians.
    pub median_change: f64,
    pub mann_whitney: MannWhitney,
    pub direction: Direction,
}

#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub a: Side,
    pub b: Side,
    /// Two-sided p-value of Fisher's exact test on failures vs passes.
    pub fisher_p: f64,
    /// `Same` unless the difference is significant at [`ALPHA`].
    pub failure_rate: Direction,
    pub duration: Option<DurationShift>,
    /// Plain sentences: the failure rate, then the duration.
    pub verdict: Vec<String>,
}

fn side(batch: &Batch, its: &[Iteration], durations: &[u64]) -> Side {
    let s = Summary::of(its);
    Side {
        batch_id: batch.id.clone(),
        code_hash: batch.code_hash.clone(),
        failure_rate: s.failure_rate,
        median_ms: s.duration_ms.map(|p| p.p50),
        p90_ms: s.duration_ms.map(|p| p.p90),
        durations: durations.len(),
    }
}

/// `p = 0.002`, `p = 0.72`, `p < 0.001`.
pub fn format_p(p: f64) -> String {
    if p < 0.001 {
        "p < 0.001".into()
    } else if p < 0.01 {
        format!("p = {p:.3}")
    } else {
        format!("p = {p:.2}")
    }
}

fn secs(ms: u64) -> String {
    format!("{:.2}s", ms as f64 / 1000.0)
}

/// Compares batch A (the earlier, usually) with batch B.
pub fn compare(
    a_batch: &Batch,
    a_its: &[Iteration],
    b_batch: &Batch,
    b_its: &[Iteration],
) -> Comparison {
    let (da, db) = (finished_durations(a_its), finished_durations(b_its));
    let (a, b) = (side(a_batch, a_its, &da), side(b_batch, b_its, &db));
    let (ra, rb) = (a.failure_rate, b.failure_rate);
    let fisher_p = stats::fisher_exact(
        ra.failures,
        ra.trials - ra.failures,
        rb.failures,
        rb.trials - rb.failures,
    );
    let failure_rate = if fisher_p >= ALPHA || ra.estimate == rb.estimate {
        Direction::Same
    } else if rb.estimate > ra.estimate {
        Direction::Rose
    } else {
        Direction::Fell
    };
    let mut verdict = vec![match failure_rate {
        Direction::Same => format!(
            "no significant change in the failure rate ({}/{} vs {}/{}, {})",
            ra.failures,
            ra.trials,
            rb.failures,
            rb.trials,
            format_p(fisher_p)
        ),
        d => format!(
            "failure rate {} from {}/{} to {}/{}, {}",
            if d == Direction::Rose { "rose" } else { "fell" },
            ra.failures,
            ra.trials,
            rb.failures,
            rb.trials,
            format_p(fisher_p)
        ),
    }];
    let to_f = |v: &[u64]| v.iter().map(|d| *d as f64).collect::<Vec<_>>();
    let duration = match (
        stats::mann_whitney(&to_f(&da), &to_f(&db)),
        a.median_ms,
        b.median_ms,
    ) {
        (Some(mw), Some(ma), Some(mb)) => {
            let median_change = if ma == 0 {
                0.0
            } else {
                (mb as f64 - ma as f64) / ma as f64
            };
            // U counts pairs with A > B: a small U means B is slower.
            let expected = (da.len() * db.len()) as f64 / 2.0;
            let direction = if mw.p >= ALPHA || mw.u == expected {
                Direction::Same
            } else if mw.u < expected {
                Direction::Rose
            } else {
                Direction::Fell
            };
            let (pa, pb) = (a.p90_ms.unwrap_or(ma), b.p90_ms.unwrap_or(mb));
            verdict.push(match direction {
                Direction::Same => format!(
                    "no significant change in duration (median {} vs {}, p90 {} vs {}, {})",
                    secs(ma),
                    secs(mb),
                    secs(pa),
                    secs(pb),
                    format_p(mw.p)
                ),
                d => format!(
                    "commands got {}: median {} -> {} ({:+.1}%), p90 {} -> {}, {} (Mann-Whitney)",
                    if d == Direction::Rose {
                        "slower"
                    } else {
                        "faster"
                    },
                    secs(ma),
                    secs(mb),
                    median_change * 100.0,
                    secs(pa),
                    secs(pb),
                    format_p(mw.p)
                ),
            });
            Some(DurationShift {
                median_change,
                mann_whitney: mw,
                direction,
            })
        }
        _ => None,
    };
    Comparison {
        a,
        b,
        fisher_p,
        failure_rate,
        duration,
        verdict,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::{Status, fixtures};

    fn batch(id: &str) -> Batch {
        Batch {
            code_hash: format!("code-{id}"),
            iterations: 200,
            jobs: 2,
            ..fixtures::batch(id)
        }
    }

    /// `n` iterations of which `failed` failed, with durations from `duration(i)`.
    fn iterations(n: u32, failed: u32, duration: impl Fn(u32) -> u64) -> Vec<Iteration> {
        (1..=n)
            .map(|i| {
                let status = if i <= failed {
                    Status::Fail
                } else {
                    Status::Pass
                };
                Iteration {
                    duration_ms: duration(i),
                    ..fixtures::iteration("b", i, status)
                }
            })
            .collect()
    }

    #[test]
    fn a_rise_from_0_to_9_in_200_is_significant() {
        let c = compare(
            &batch("a"),
            &iterations(200, 0, |_| 1000),
            &batch("b"),
            &iterations(200, 9, |_| 1000),
        );
        assert_eq!(c.failure_rate, Direction::Rose);
        assert_eq!(
            c.verdict[0],
            "failure rate rose from 0/200 to 9/200, p = 0.004"
        );
        assert!((c.fisher_p - 0.003_563_049_434_584_15).abs() < 1e-9);
        // Equal durations everywhere: no shift.
        assert_eq!(c.duration.as_ref().unwrap().direction, Direction::Same);
    }

    #[test]
    fn a_small_difference_is_not_a_change() {
        let c = compare(
            &batch("a"),
            &iterations(200, 3, |_| 1000),
            &batch("b"),
            &iterations(200, 5, |_| 1000),
        );
        assert_eq!(c.failure_rate, Direction::Same);
        assert_eq!(
            c.verdict[0],
            "no significant change in the failure rate (3/200 vs 5/200, p = 0.72)"
        );
        let fell = compare(
            &batch("a"),
            &iterations(100, 15, |_| 1),
            &batch("b"),
            &iterations(100, 5, |_| 1),
        );
        assert_eq!(fell.failure_rate, Direction::Fell);
        assert!(fell.verdict[0].starts_with("failure rate fell from 15/100 to 5/100, p = 0.03"));
    }

    #[test]
    fn a_duration_shift_is_found_and_measured() {
        let c = compare(
            &batch("a"),
            &iterations(100, 0, |i| 1000 + u64::from(i)),
            &batch("b"),
            &iterations(100, 0, |i| 1010 + u64::from(i)),
        );
        let d = c.duration.unwrap();
        assert_eq!(d.direction, Direction::Rose);
        // The same samples as the SciPy reference in stats (0..100 vs 10..110).
        assert_eq!(d.mann_whitney.u, 4050.0);
        assert!((d.mann_whitney.p - 0.020_336_763_458_753_827).abs() < 1e-6);
        assert_eq!(
            c.verdict[1],
            "commands got slower: median 1.05s -> 1.06s (+1.0%), p90 1.09s -> 1.10s, p = 0.02 (Mann-Whitney)"
        );
    }

    #[test]
    fn p_values_read_plainly() {
        assert_eq!(format_p(0.0021), "p = 0.002");
        assert_eq!(format_p(0.7237), "p = 0.72");
        assert_eq!(format_p(0.00001), "p < 0.001");
    }
}
