//! The work running in this process, in one place: each project's worker, the deployments it runs (with
//! how to cancel them and why), the observe windows and the canaries.
//!
//! One std lock guards all of it, taken only inside these methods and released before they return; so
//! no caller can hold it across an `.await`, and there is no order between locks to keep. What a caller
//! does with a window or a canary under the lock is a closure ([`Registry::with_watch`]), which cannot await.

use super::deploy::canary;
use super::deploy::observe::Watch;
use crate::lock::lock;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

#[derive(Default)]
pub(super) struct Registry {
    work: Mutex<Work>,
}

#[derive(Default)]
struct Work {
    /// Each project's worker, by the bell that wakes it.
    workers: HashMap<String, Arc<Notify>>,
    /// Deployments this process runs, by id: their project and how to cancel them.
    deployments: HashMap<i64, (String, CancellationToken)>,
    /// Why a deployment was cancelled, when it was not the operator (a newer push, a preview's removal).
    cancel_reasons: HashMap<i64, String>,
    /// Running observe windows, by project.
    watches: HashMap<String, Watch>,
    /// Running canaries, by project.
    canaries: HashMap<String, canary::Handle>,
}

/// Workers.
impl Registry {
    /// Wakes `project`'s worker. When it has none, one is registered and its bell returned: the caller
    /// starts it.
    pub(super) fn wake_worker(&self, project: &str) -> Option<Arc<Notify>> {
        let mut work = lock(&self.work);
        if let Some(bell) = work.workers.get(project) {
            bell.notify_one();
            return None;
        }
        let bell = Arc::new(Notify::new());
        work.workers.insert(project.to_owned(), bell.clone());
        Some(bell)
    }

    /// False once the project was removed (or removed and created again, with a new worker).
    pub(super) fn is_current_worker(&self, project: &str, bell: &Arc<Notify>) -> bool {
        lock(&self.work).workers.get(project).is_some_and(|n| Arc::ptr_eq(n, bell))
    }

    /// The project is gone: its worker is woken to see that it is no longer current, and ends.
    pub(super) fn dismiss_worker(&self, project: &str) {
        if let Some(bell) = lock(&self.work).workers.remove(project) {
            bell.notify_one();
        }
    }
}

/// Deployments and their cancellation.
impl Registry {
    pub(super) fn start_deployment(&self, id: i64, project: &str, cancel: CancellationToken) {
        lock(&self.work).deployments.insert(id, (project.to_owned(), cancel));
    }

    /// The deployment no longer runs here; returns why it was cancelled, if someone said.
    pub(super) fn end_deployment(&self, id: i64) -> Option<String> {
        let mut work = lock(&self.work);
        work.deployments.remove(&id);
        work.cancel_reasons.remove(&id)
    }

    /// How to cancel deployment `id`, when this process runs it.
    pub(super) fn cancel_handle(&self, id: i64) -> Option<CancellationToken> {
        lock(&self.work).deployments.get(&id).map(|(_, token)| token.clone())
    }

    /// Says why `id` is about to be cancelled, for its log and its `error` (instead of the operator).
    pub(super) fn give_cancel_reason(&self, id: i64, reason: String) {
        lock(&self.work).cancel_reasons.insert(id, reason);
    }

    pub(super) fn running_deployments(&self) -> HashSet<i64> {
        lock(&self.work).deployments.keys().copied().collect()
    }

    pub(super) fn running_projects(&self) -> Vec<String> {
        lock(&self.work).deployments.values().map(|(project, _)| project.clone()).collect()
    }

    pub(super) fn running_count(&self) -> usize {
        lock(&self.work).deployments.len()
    }
}

/// Observe windows and canaries, by project.
impl Registry {
    pub(super) fn open_watch(&self, project: &str, watch: Watch) {
        lock(&self.work).watches.insert(project.to_owned(), watch);
    }

    pub(super) fn close_watch(&self, project: &str) {
        lock(&self.work).watches.remove(project);
    }

    /// `f` on `project`'s running window, under the lock; `None` when none runs.
    pub(super) fn with_watch<R>(&self, project: &str, f: impl FnOnce(&Watch) -> R) -> Option<R> {
        lock(&self.work).watches.get(project).map(f)
    }

    pub(super) fn open_canary(&self, project: &str, canary: canary::Handle) {
        lock(&self.work).canaries.insert(project.to_owned(), canary);
    }

    pub(super) fn close_canary(&self, project: &str) {
        lock(&self.work).canaries.remove(project);
    }

    /// `f` on `project`'s running canary, under the lock; `None` when none runs.
    pub(super) fn with_canary<R>(&self, project: &str, f: impl FnOnce(&canary::Handle) -> R) -> Option<R> {
        lock(&self.work).canaries.get(project).map(f)
    }
}
