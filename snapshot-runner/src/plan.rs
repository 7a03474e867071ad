//! The plan of a batch, pure arithmetic: which iterations it runs (all, or a [`Partition`] of
//! them), how many at once, the seed of each, and the batch's id. Iterations are numbered and
//! seeded from the batch seed, so a partition is a slice of one batch and a seed reproduces an
//! iteration.

use std::time::{Duration, SystemTime};

use crate::error::{Error, Result};

/// Slice `index` (1-based) of `count`: the iterations n with (n - 1) mod count = index - 1, so
/// the slices are disjoint, cover the batch and are equally long to within one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partition {
    pub index: u32,
    pub count: u32,
}

impl Partition {
    pub fn contains(&self, n: u32) -> bool {
        n >= 1 && (n - 1) % self.count == self.index - 1
    }
}

impl std::fmt::Display for Partition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl std::str::FromStr for Partition {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Partition, String> {
        let bad = || format!("partition `{s}` is not K/N with 1 <= K <= N (e.g. 2/3)");
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count) = (
            k.trim().parse::<u32>().map_err(|_| bad())?,
            n.trim().parse::<u32>().map_err(|_| bad())?,
        );
        if index == 0 || count == 0 || index > count {
            return Err(bad());
        }
        Ok(Partition { index, count })
    }
}

/// The variable a Kubernetes Indexed Job sets in each pod: the pod's index, 0-based.
pub const COMPLETION_INDEX_VAR: &str = "JOB_COMPLETION_INDEX";
/// The number of partitions, which Kubernetes does not export: the Job's manifest sets it to
/// its `spec.completions` (examples/k8s/).
pub const COMPLETIONS_VAR: &str = "JOB_COMPLETIONS";

impl Partition {
    /// `--partition auto`: this pod's slice of an Indexed Job, from the values of
    /// [`COMPLETION_INDEX_VAR`] (0-based) and [`COMPLETIONS_VAR`], as `lookup` gives them;
    /// refuses, naming the variables, when either is missing or not a number that fits.
    pub fn from_job_env(lookup: impl Fn(&str) -> Option<String>) -> Result<Partition> {
        let help = format!(
            "`--partition auto` reads the pod's slice of a Kubernetes Indexed Job from \
             {COMPLETION_INDEX_VAR} (set by Kubernetes, 0-based) and {COMPLETIONS_VAR} (set it \
             to the Job's spec.completions in the pod's env); or give the slice as \
             `--partition K/N`"
        );
        let read = |var: &str| -> Result<u32> {
            let value =
                lookup(var).ok_or_else(|| Error::Usage(format!("{var} is not set: {help}")))?;
            value.trim().parse::<u32>().map_err(|_| {
                Error::Usage(format!(
                    "{var}={:?} is not a whole number: {help}",
                    value.chars().take(40).collect::<String>()
                ))
            })
        };
        let (index, count) = (read(COMPLETION_INDEX_VAR)?, read(COMPLETIONS_VAR)?);
        if count == 0 || index >= count {
            return Err(Error::Usage(format!(
                "{COMPLETION_INDEX_VAR}={index} is not an index of {COMPLETIONS_VAR}={count} \
                 partitions (0 to {}): {help}",
                count.saturating_sub(1)
            )));
        }
        Ok(Partition {
            index: index + 1,
            count,
        })
    }
}

/// The iteration numbers a batch of `total` runs in `partition` (all of them without one).
pub fn iteration_numbers(total: u32, partition: Option<Partition>) -> Vec<u32> {
    (1..=total)
        .filter(|n| partition.is_none_or(|p| p.contains(*n)))
        .collect()
}

/// What a batch runs: its iteration numbers, and how many worker threads (VMs at once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub numbers: Vec<u32>,
    pub workers: usize,
}

impl Plan {
    /// The plan of `iterations` run `jobs` at a time, in `partition`; refuses what runs nothing.
    pub fn new(iterations: u32, jobs: u32, partition: Option<Partition>) -> Result<Plan> {
        if iterations == 0 || jobs == 0 {
            return Err(Error::Usage("-n and -j must be at least 1".into()));
        }
        let numbers = iteration_numbers(iterations, partition);
        if numbers.is_empty() {
            return Err(Error::Usage(format!(
                "partition {} of a batch of {iterations} iterations is empty; use at least as \
                 many iterations as partitions",
                partition.map(|p| p.to_string()).unwrap_or_default(),
            )));
        }
        let workers = (jobs as usize).min(numbers.len());
        Ok(Plan { numbers, workers })
    }
}

/// The seed of iteration `n` of a batch seeded `batch_seed` (splitmix64): distinct per
/// iteration, and the same for the same batch seed, so a seed reproduces an iteration.
pub fn iteration_seed(batch_seed: u64, n: u32) -> u64 {
    let mut z = batch_seed.wrapping_add(0x9E37_79B9_7F4A_7C15u64.wrapping_mul(u64::from(n)));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The id of a batch started at `start_ms` with `seed`: `20261127-071630-3fa2c1`, sortable by
/// start time, short enough to type.
pub fn batch_id_at(start_ms: i64, seed: u64) -> String {
    let at = SystemTime::UNIX_EPOCH + Duration::from_millis(start_ms.max(0) as u64);
    let t = humantime::format_rfc3339_seconds(at).to_string();
    let digits: String = t.chars().filter(char::is_ascii_digit).collect();
    format!(
        "{}-{}-{:06x}",
        &digits[..8],
        &digits[8..14],
        seed & 0xff_ffff
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iteration_seeds_are_distinct_and_reproducible() {
        let seeds: Vec<u64> = (1..=1000).map(|n| iteration_seed(42, n)).collect();
        let mut unique = seeds.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), seeds.len());
        assert_eq!(iteration_seed(42, 7), seeds[6]);
        assert_ne!(iteration_seed(43, 7), seeds[6]);
    }

    #[test]
    fn batch_ids_sort_by_time() {
        assert_eq!(
            batch_id_at(1_795_766_190_000, 0xff_0012_abcd),
            "20261127-075630-12abcd"
        );
        assert!(batch_id_at(1_000, 1) < batch_id_at(2_000, 0));
    }

    #[test]
    fn partition_auto_is_the_pods_slice_of_an_indexed_job_or_a_clear_refusal() {
        let env = |index: Option<&str>, count: Option<&str>| {
            let (index, count) = (index.map(String::from), count.map(String::from));
            Partition::from_job_env(move |var| match var {
                COMPLETION_INDEX_VAR => index.clone(),
                COMPLETIONS_VAR => count.clone(),
                _ => None,
            })
        };
        assert_eq!(
            env(Some("0"), Some("4")).unwrap(),
            Partition { index: 1, count: 4 }
        );
        assert_eq!(env(Some("3"), Some(" 4\n")).unwrap().to_string(), "4/4");
        let refused = |index, count, says: &[&str]| {
            let e = env(index, count).unwrap_err().to_string();
            for s in says {
                assert!(e.contains(s), "{e:?} should say {s:?}");
            }
            // Every refusal says what to set, and the way around it.
            for s in [COMPLETION_INDEX_VAR, COMPLETIONS_VAR, "--partition K/N"] {
                assert!(e.contains(s), "{e:?} should name {s:?}");
            }
        };
        refused(None, Some("4"), &["JOB_COMPLETION_INDEX is not set"]);
        refused(Some("1"), None, &["JOB_COMPLETIONS is not set"]);
        refused(Some("-1"), Some("4"), &["\"-1\" is not a whole number"]);
        refused(Some("1"), Some("four"), &["JOB_COMPLETIONS=\"four\""]);
        refused(Some("\u{1b}[2J"), Some("4"), &["\"\\u{1b}[2J\""]);
        refused(Some("4"), Some("4"), &["=4 is not an index of", "(0 to 3)"]);
        refused(Some("0"), Some("0"), &["JOB_COMPLETIONS=0 partitions"]);
    }

    #[test]
    fn partitions_are_disjoint_slices_that_cover_the_batch() {
        let parts: Vec<Partition> = ["1/3", "2/3", "3/3"]
            .iter()
            .map(|p| p.parse().unwrap())
            .collect();
        let mut all: Vec<u32> = parts
            .iter()
            .flat_map(|p| iteration_numbers(10, Some(*p)))
            .collect();
        assert_eq!(iteration_numbers(10, Some(parts[0])), [1, 4, 7, 10]);
        all.sort_unstable();
        assert_eq!(all, iteration_numbers(10, None));
        for bad in ["0/3", "4/3", "1/0", "x", "1/"] {
            assert!(bad.parse::<Partition>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_plan_runs_something_with_no_more_workers_than_iterations() {
        let p = Plan::new(10, 4, Some("2/3".parse().unwrap())).unwrap();
        assert_eq!((p.numbers, p.workers), (vec![2, 5, 8], 3));
        assert!(Plan::new(0, 1, None).is_err());
        assert!(Plan::new(1, 0, None).is_err());
        let empty = Plan::new(2, 1, Some("3/3".parse().unwrap())).unwrap_err();
        assert!(empty.to_string().contains("is empty"), "{empty}");
    }
}
