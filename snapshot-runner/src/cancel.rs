//! The cancellation handle of long work (a batch, `image warm`, a build): a cloneable token that
//! any thread triggers and the work polls. The CLI's Ctrl-C/SIGTERM handler triggers one; the
//! desktop app's Stop button another.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A cancellation token. Clones share one state; a [`Cancel::child`] is cancelled with its
/// parent, or on its own without touching the parent.
#[derive(Debug, Clone, Default)]
pub struct Cancel {
    flag: Arc<AtomicBool>,
    parent: Option<Arc<Cancel>>,
}

impl Cancel {
    pub fn new() -> Cancel {
        Cancel::default()
    }

    /// Asks the work to stop: it stops its VMs, cleans up and ends as interrupted.
    pub fn cancel(&self) {
        self.flag.store(true, Ordering::SeqCst);
    }

    pub fn is_cancelled(&self) -> bool {
        self.flag.load(Ordering::SeqCst) || self.parent.as_ref().is_some_and(|p| p.is_cancelled())
    }

    /// A token cancelled when this one is, and also on its own (watch mode stops one batch for
    /// newer code without stopping the watch).
    pub fn child(&self) -> Cancel {
        Cancel {
            flag: Arc::new(AtomicBool::new(false)),
            parent: Some(Arc::new(self.clone())),
        }
    }

    /// This token's own flag, for code that sets a flag from a signal handler
    /// (`signal_hook::flag::register`): setting it cancels the token.
    pub fn flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.flag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_follows_its_parent_but_not_the_other_way() {
        let parent = Cancel::new();
        let (a, b) = (parent.child(), parent.child());
        a.cancel();
        assert!(a.is_cancelled() && !b.is_cancelled() && !parent.is_cancelled());
        let clone = parent.clone();
        clone.flag().store(true, Ordering::SeqCst);
        assert!(parent.is_cancelled() && b.is_cancelled());
    }
}
