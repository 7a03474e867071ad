//! What the Start form sends, checked here (the frontend checks it too, for an early word,
//! but this is the check that counts) and turned into a batch's `snaprun` options.

use serde::Deserialize;
use snaprun::batch::Options;
use snaprun::qemu::Accel;
use snaprun::warm::Start;

use super::workspace_dir;
use crate::error::{AppError, ErrorKind, Result};

/// Boot every iteration, restore it from the image's warm state, or whichever the image has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StartMode {
    #[default]
    Auto,
    Warm,
    Cold,
}

/// A batch to start (or to watch with), as the Start form fills it in.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StartRequest {
    pub workspace: String,
    /// Run by `/bin/sh -c` in the guest's `/work`.
    pub command: String,
    pub iterations: u32,
    /// VMs at once.
    pub jobs: u32,
    pub image: String,
    /// Per iteration, as `--timeout` takes it (`90s`, `2m`); empty: none.
    #[serde(default)]
    pub timeout: Option<String>,
    /// The batch seed (decimal, up to 2^64-1), as text: JavaScript numbers cannot hold one.
    #[serde(default)]
    pub seed: Option<String>,
    #[serde(default)]
    pub start: StartMode,
    /// `kvm` or `tcg`, as `--accel` takes it; absent: KVM when a probe VM runs under it.
    #[serde(default)]
    pub accel: Option<Accel>,
}

fn invalid(message: String) -> AppError {
    AppError::new(ErrorKind::Invalid, message)
}

fn present(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

impl StartRequest {
    pub fn options(&self) -> Result<Options> {
        let workspace = workspace_dir(&self.workspace)?;
        let command = self.command.trim();
        if command.is_empty() {
            return Err(invalid(
                "the command is empty; type what to run in the guest, e.g. ./stress.sh".into(),
            ));
        }
        if self.iterations == 0 || self.jobs == 0 {
            return Err(invalid(
                "iterations and parallel VMs must be at least 1".into(),
            ));
        }
        let image = self.image.trim();
        if image.is_empty() {
            return Err(invalid("choose an image to run on".into()));
        }
        let timeout = present(&self.timeout)
            .map(|t| {
                humantime::parse_duration(t).map_err(|e| {
                    invalid(format!(
                        "timeout `{t}` is not a duration ({e}); write it like 90s, 5m or 1h"
                    ))
                })
            })
            .transpose()?;
        if timeout.is_some_and(|t| t.is_zero()) {
            return Err(invalid(
                "a timeout of 0 stops every iteration at once; leave it empty for none".into(),
            ));
        }
        let seed = present(&self.seed)
            .map(|s| {
                s.parse::<u64>().map_err(|_| {
                    invalid(format!(
                        "seed `{s}` is not a whole number from 0 to 18446744073709551615"
                    ))
                })
            })
            .transpose()?;
        Ok(Options {
            iterations: self.iterations,
            jobs: self.jobs,
            timeout,
            seed,
            start: match self.start {
                StartMode::Auto => Start::Auto,
                StartMode::Warm => Start::Warm,
                StartMode::Cold => Start::Cold,
            },
            accel: self.accel,
            ..Options::new(&workspace, image, command)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn request(dir: &std::path::Path) -> StartRequest {
        StartRequest {
            workspace: dir.display().to_string(),
            command: " ./stress.sh ".into(),
            iterations: 4,
            jobs: 2,
            image: "default".into(),
            timeout: Some("2m".into()),
            seed: Some("18446744073709551615".into()),
            start: StartMode::Warm,
            accel: Some(Accel::Tcg),
        }
    }

    #[test]
    fn a_filled_form_becomes_options() {
        let dir = tempfile::tempdir().unwrap();
        let opts = request(dir.path()).options().unwrap();
        assert_eq!(opts.command, "./stress.sh");
        assert_eq!((opts.iterations, opts.jobs), (4, 2));
        assert_eq!(opts.timeout, Some(Duration::from_secs(120)));
        assert_eq!(opts.seed, Some(u64::MAX));
        assert_eq!(opts.start, Start::Warm);
        assert_eq!(opts.accel, Some(Accel::Tcg));
        assert_eq!(opts.workspace, std::fs::canonicalize(dir.path()).unwrap());
    }

    #[test]
    fn each_bad_field_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let check = |change: &dyn Fn(&mut StartRequest), says: &str| {
            let mut r = request(dir.path());
            change(&mut r);
            let e = r.options().unwrap_err();
            assert!(e.message.contains(says), "{} (wanted {says})", e.message);
        };
        check(&|r| r.command = "  ".into(), "the command is empty");
        check(&|r| r.iterations = 0, "at least 1");
        check(&|r| r.jobs = 0, "at least 1");
        check(&|r| r.timeout = Some("soon".into()), "timeout `soon`");
        check(&|r| r.timeout = Some("0s".into()), "a timeout of 0");
        check(&|r| r.seed = Some("-1".into()), "seed `-1`");
        check(&|r| r.seed = Some("18446744073709551616".into()), "seed");
        check(&|r| r.image = "".into(), "choose an image");
        check(
            &|r| r.workspace = "/no/such/dir/here".into(),
            "does not exist",
        );
    }

    #[test]
    fn empty_optional_fields_are_absent() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = request(dir.path());
        r.timeout = Some(" ".into());
        r.seed = None;
        let opts = r.options().unwrap();
        assert_eq!((opts.timeout, opts.seed), (None, None));
    }
}
