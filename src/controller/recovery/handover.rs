//! The controller's part in an upgrade of the gateway: the old process finishes what it runs and starts
//! nothing new; the successor follows the route changes the old one still makes, runs queued work, and
//! settles what the old process left only once it has exited.

use crate::controller::{Controller, Inner};
use crate::deployment::Status;
use std::time::Duration;

/// How often routes written by another process are looked for.
const FOLLOW_EVERY: Duration = Duration::from_millis(500);
const OLD_PROCESS_POLL: Duration = Duration::from_millis(200);
/// Streams get this long when no project is stored.
const DEFAULT_STREAM_LIMIT_S: u64 = 30;

impl Inner {
    /// True once a successor took over: workers stop taking deployments and observe windows end.
    pub(crate) fn handed_over(&self) -> bool {
        self.retirement.is_handed_over()
    }
}

impl Controller {
    /// Deployments running in this process.
    pub(crate) fn running(&self) -> usize {
        self.inner.work.running_count()
    }

    /// The longest `drain_timeout_s` of any project: how long a retiring process lets streams run.
    pub(crate) async fn longest_drain(&self) -> Duration {
        let projects = self.inner.store.projects().await.unwrap_or_default();
        let longest = projects.iter().flatten().map(|r| r.spec.drain_timeout_s).max();
        Duration::from_secs(longest.unwrap_or(DEFAULT_STREAM_LIMIT_S))
    }

    /// Publishes route changes other processes commit, until the process ends.
    pub(crate) async fn follow_routes(&self) {
        let mut failing = false;
        loop {
            tokio::time::sleep(FOLLOW_EVERY).await;
            match self.inner.follow().await {
                Ok(changed) => {
                    if changed {
                        tracing::info!("routes changed in the store by another gateway process; now served");
                    }
                    failing = false;
                }
                Err(e) if !failing => {
                    tracing::warn!("cannot read the routes from the store: {e}; serving the last table");
                    failing = true;
                }
                Err(_) => {}
            }
        }
    }

    /// Successor side: wakes the workers of projects with queued deployments (each waits for the project's
    /// lease, which the old process holds while it finishes a deployment), then, once the old process has
    /// exited, settles whatever it left unfinished.
    pub(crate) async fn take_over_from(&self, old_pid: u32) {
        self.kick_queued().await;
        while super::process_alive(old_pid) {
            tokio::time::sleep(OLD_PROCESS_POLL).await;
        }
        tracing::info!("upgrade: the old process {old_pid} has exited; settling what it left");
        match super::reconcile(&self.inner, true).await {
            Ok(0) => {}
            Ok(n) => tracing::warn!("{n} deployments were left unfinished by the old process; they are FAILED"),
            Err(e) => tracing::error!("cannot settle the old process's deployments: {e}"),
        }
        self.kick_queued().await;
    }

    pub(crate) async fn kick_queued(&self) {
        match self.inner.store.deployments_with_status(&[Status::Queued]).await {
            Ok(queued) => queued.iter().for_each(|d| self.kick(&d.project)),
            Err(e) => tracing::error!("cannot read the deploy queue: {e}"),
        }
    }
}
