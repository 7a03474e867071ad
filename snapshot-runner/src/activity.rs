//! A small read API for other tools (the planner fills "actual time" from it): which batches ran
//! when. It reads snaprun's own results database and creates nothing; like snaprun itself, it
//! brings a database of an older schema up to date.

use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::results::Results;
use crate::store::Store;

/// One batch as a span of time.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BatchSpan {
    pub batch_id: String,
    pub workspace: PathBuf,
    pub command: String,
    pub start_ms: i64,
    /// `None` while the batch runs (or if snaprun was killed before it could finish it).
    pub end_ms: Option<i64>,
}

/// Batches that overlap [from_ms, to_ms) (milliseconds since the epoch), oldest first, from the
/// store at `store` (or the default store). No database yet means no batches. The error is
/// [`crate::Error`] (thiserror): a database that cannot be read, or no home directory.
pub fn batches_between(store: Option<&Path>, from_ms: i64, to_ms: i64) -> Result<Vec<BatchSpan>> {
    let root = match store {
        Some(s) => s.to_path_buf(),
        None => Store::default_root()?,
    };
    let Some(results) = Results::open_existing(&Store::at(root).results_db())? else {
        return Ok(Vec::new());
    };
    Ok(results
        .batches_between(from_ms, to_ms)?
        .into_iter()
        .map(|b| BatchSpan {
            batch_id: b.id,
            workspace: b.workspace,
            command: b.command,
            start_ms: b.start_ms,
            end_ms: b.end_ms,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_database_means_no_batches() {
        let dir = tempfile::tempdir().unwrap();
        assert!(
            batches_between(Some(dir.path()), 0, i64::MAX)
                .unwrap()
                .is_empty()
        );
    }
}
