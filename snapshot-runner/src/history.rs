//! A git repository's first-parent history, read for `snaprun bisect`, and one commit's tree
//! written out of git's object store into a directory of snaprun's.
//!
//! Nothing here writes to the repository: revisions are resolved with `rev-parse`, the
//! history is listed with `rev-list --first-parent`, and a commit's files come out through
//! `read-tree` into a temporary index file of snaprun's and `checkout-index --prefix`, so the
//! user's checkout, index and uncommitted work stay exactly as they were.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, IoContext, Result};
use crate::tools;

/// One commit of the bisected range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Commit {
    /// The full object name.
    pub sha: String,
    /// The first line of its message.
    pub subject: String,
}

/// A git repository, by its top-level directory.
#[derive(Debug, Clone)]
pub struct Repo {
    pub root: PathBuf,
}

fn git(dir: &Path, args: &[&str]) -> Result<String> {
    let mut all = vec!["-C", dir.to_str().unwrap_or(".")];
    all.extend_from_slice(args);
    let out = tools::run("git", &all, None)?;
    Ok(String::from_utf8_lossy(&out).trim_end().to_string())
}

impl Repo {
    /// The repository `dir` is in.
    pub fn open(dir: &Path) -> Result<Repo> {
        let dir = fs::canonicalize(dir).ctx("opening the workspace", dir)?;
        if dir.to_str().is_none() {
            return Err(Error::Workspace(format!(
                "the path {} is not valid UTF-8; move the repository",
                dir.display()
            )));
        }
        match git(&dir, &["rev-parse", "--show-toplevel"]) {
            Ok(top) if !top.is_empty() => Ok(Repo {
                root: PathBuf::from(top),
            }),
            Err(Error::ToolMissing { tool, package }) => Err(Error::ToolMissing { tool, package }),
            _ => Err(Error::Usage(format!(
                "{} is not in a git repository (or it has no work tree): bisect walks git \
                 history; run it in a git checkout, or point -C at one",
                dir.display()
            ))),
        }
    }

    /// `rev` as a full commit name.
    pub fn resolve(&self, rev: &str) -> Result<String> {
        if rev.starts_with('-') || rev.is_empty() {
            return Err(Error::Usage(format!(
                "`{rev}` is not a revision; give a commit, branch or tag (see `git log`)"
            )));
        }
        git(
            &self.root,
            &[
                "rev-parse",
                "--verify",
                "--quiet",
                &format!("{rev}^{{commit}}"),
            ],
        )
        .ok()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            Error::Usage(format!(
                "no commit `{rev}` in {}; give a commit, branch or tag that exists there (see \
                 `git log --oneline`)",
                self.root.display()
            ))
        })
    }

    /// The commits from `good` to `bad` along `bad`'s first parents: `good` first, then every
    /// first-parent commit after it up to `bad` (`git bisect --first-parent`: the commits a
    /// merge brought in are not probed, the merge is). `good` must be an ancestor of `bad`.
    pub fn first_parent_range(&self, good: &str, bad: &str) -> Result<Vec<Commit>> {
        if good == bad {
            return Err(Error::Usage(
                "the good and the bad commit are the same; give an older --good".into(),
            ));
        }
        let ancestor = tools::run(
            "git",
            [
                "-C",
                self.root.to_str().unwrap_or("."),
                "merge-base",
                "--is-ancestor",
                good,
                bad,
            ],
            None,
        );
        if ancestor.is_err() {
            return Err(Error::Usage(format!(
                "the good commit {} is not an ancestor of the bad commit {}: bisect looks for \
                 the change between them; swap --good and --bad if they are the wrong way \
                 round, or give a --good from the bad commit's history",
                &good[..12.min(good.len())],
                &bad[..12.min(bad.len())]
            )));
        }
        let listed = git(
            &self.root,
            &[
                "log",
                "--first-parent",
                "--reverse",
                "--format=%H %s",
                &format!("{good}..{bad}"),
            ],
        )?;
        let mut commits = vec![self.commit(good)?];
        for line in listed.lines() {
            let (sha, subject) = line.split_once(' ').unwrap_or((line, ""));
            commits.push(Commit {
                sha: sha.to_string(),
                subject: subject.to_string(),
            });
        }
        Ok(commits)
    }

    fn commit(&self, sha: &str) -> Result<Commit> {
        let subject = git(&self.root, &["log", "-1", "--format=%s", sha])?;
        Ok(Commit {
            sha: sha.to_string(),
            subject,
        })
    }

    /// Writes the files of commit `sha` into `dest` (emptied first), from git's objects only:
    /// a temporary index in `scratch` (a directory of snaprun's), never the repository's.
    /// Submodules are left out (git records only their commit).
    pub fn write_tree(&self, sha: &str, dest: &Path, scratch: &Path) -> Result<()> {
        if dest.exists() {
            make_writable(dest);
            fs::remove_dir_all(dest).ctx("emptying the commit's directory", dest)?;
        }
        fs::create_dir_all(dest).ctx("creating the commit's directory", dest)?;
        fs::create_dir_all(scratch).ctx("creating scratch space", scratch)?;
        // git runs in the repository: every path it is given must be absolute.
        let scratch = &fs::canonicalize(scratch).ctx("opening scratch space", scratch)?;
        let dest = &fs::canonicalize(dest).ctx("opening the commit's directory", dest)?;
        let index = scratch.join("bisect.index");
        let _ = fs::remove_file(&index);
        let index_str = index.to_str().unwrap_or_default();
        let root = self.root.to_str().unwrap_or(".");
        let env = [("GIT_INDEX_FILE", index_str)];
        tools::run_with_env("git", ["-C", root, "read-tree", sha], &env, Some(scratch))?;
        let mut prefix = dest.to_string_lossy().into_owned();
        prefix.push('/');
        let written = tools::run_with_env(
            "git",
            [
                "-C",
                root,
                "checkout-index",
                "--all",
                "--force",
                &format!("--prefix={prefix}"),
            ],
            &env,
            Some(dest),
        );
        let _ = fs::remove_file(&index);
        written.map(|_| ())
    }
}

/// Gives the owner write permission throughout `dir` (a build step may leave read-only files),
/// so it can be removed.
fn make_writable(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        let Ok(meta) = fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            let _ = fs::set_permissions(&path, fs::Permissions::from_mode(0o755));
            make_writable(&path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(dir: &Path, script: &str) {
        let ok = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(script)
            .current_dir(dir)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@t")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@t")
            .status()
            .unwrap()
            .success();
        assert!(ok, "{script}");
    }

    #[test]
    fn first_parent_history_and_frozen_trees() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path().join("repo");
        fs::create_dir(&r).unwrap();
        sh(
            &r,
            "git init -q -b main . && echo 1 > a && git add a && git commit -qm one && \
             git checkout -qb side && echo s > s && git add s && git commit -qm side && \
             git checkout -q main && echo 2 > a && git commit -qam two && \
             git merge -q --no-ff side -m merge && echo 3 > a && git commit -qam three && \
             echo dirty > a && echo new > untracked",
        );
        let repo = Repo::open(&r.join(".")).unwrap();
        let good = repo.resolve("HEAD~3").unwrap();
        let bad = repo.resolve("main").unwrap();
        let range = repo.first_parent_range(&good, &bad).unwrap();
        let subjects: Vec<_> = range.iter().map(|c| c.subject.as_str()).collect();
        assert_eq!(subjects, ["one", "two", "merge", "three"]);
        let dest = t.path().join("out");
        repo.write_tree(&range[2].sha, &dest, &t.path().join("scratch"))
            .unwrap();
        assert_eq!(fs::read_to_string(dest.join("a")).unwrap(), "2\n");
        assert_eq!(fs::read_to_string(dest.join("s")).unwrap(), "s\n");
        repo.write_tree(&range[0].sha, &dest, &t.path().join("scratch"))
            .unwrap();
        assert!(!dest.join("s").exists());
        // The checkout is as it was.
        assert_eq!(fs::read_to_string(r.join("a")).unwrap(), "dirty\n");
        assert!(r.join("untracked").exists());

        let e = repo.resolve("nope").unwrap_err().to_string();
        assert!(e.contains("no commit `nope`"), "{e}");
        let e = repo
            .first_parent_range(&bad, &good)
            .unwrap_err()
            .to_string();
        assert!(e.contains("not an ancestor"), "{e}");
        let e = Repo::open(t.path()).unwrap_err().to_string();
        assert!(e.contains("not in a git repository"), "{e}");
    }
}
