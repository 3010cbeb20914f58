//! One worker per project: takes the newest queued deployment, holds the lease, runs the pipeline.

use super::reaper;
use crate::controller::deploy::failure::PipelineError;
use crate::controller::deploy::pipeline;
use crate::controller::{Controller, Inner};
use crate::deployment::{Event, Phase, Status};
use crate::store::{now_ms, Deployment, StoreError};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

impl Controller {
    /// Wakes the project's worker, starting it on first use.
    pub(crate) fn kick(&self, project: &str) {
        if let Some(bell) = self.inner.work.wake_worker(project) {
            tokio::spawn(work_queue(self.inner.clone(), project.to_owned(), bell));
        }
    }
}

async fn work_queue(inner: Arc<Inner>, project: String, notify: Arc<Notify>) {
    loop {
        // After an upgrade's hand-over the successor takes the queue.
        if inner.handed_over() {
            return;
        }
        match inner.store.take_newest_queued(&project, now_ms()).await {
            Ok(Some(d)) => {
                run_one(&inner, d).await;
                continue;
            }
            Ok(None) if !inner.work.is_current_worker(&project, &notify) => return,
            Ok(None) => {}
            Err(e) => {
                tracing::error!(project = %project, "cannot read the deploy queue: {e}; retrying in 2 s");
                tokio::time::sleep(Duration::from_secs(2)).await;
                continue;
            }
        }
        notify.notified().await;
    }
}

async fn run_one(inner: &Arc<Inner>, d: Deployment) {
    let span = tracing::info_span!("deployment", project = %d.project, deployment_id = d.id, commit = d.commit.as_deref().unwrap_or("-"));
    async {
        // Registered before the first await: a successor settling after an upgrade never takes it for
        // the old process's leftovers.
        let token = CancellationToken::new();
        inner.work.start_deployment(d.id, &d.project, token.clone());
        // Recovery may still be clearing this project's slots after a restart.
        drop(inner.settling.read().await);
        take_lease(inner, &d).await;
        // Another gateway (or the process this one succeeded) may have run it while we waited for the lease.
        if !still_queued(inner, d.id).await {
            inner.work.end_deployment(d.id);
            if let Err(e) = inner.store.release_lease(&d.project, &inner.owner).await {
                tracing::warn!("cannot release the deploy lease: {e}");
            }
            return;
        }
        let heartbeat = tokio::spawn(keep_lease(inner.clone(), d.project.clone()));
        let result = supervise(inner, &d, token).await;
        heartbeat.abort();
        let reason = inner.work.end_deployment(d.id);
        if let Err(e) = result {
            end_unfinished(inner, d.id, &d.project, e, reason).await;
        }
        if let Err(e) = inner.store.release_lease(&d.project, &inner.owner).await {
            tracing::warn!("cannot release the deploy lease: {e}");
        }
    }
    .instrument(span)
    .await
}

/// Runs the pipeline in a task of its own: a panic there ends that task only (the deployment fails,
/// the proxy never notices), and a step past its time limit is aborted and cleaned up.
async fn supervise(inner: &Arc<Inner>, d: &Deployment, token: CancellationToken) -> Result<(), PipelineError> {
    let task = tokio::spawn(pipeline::run(inner.clone(), d.clone(), token.clone()).in_current_span());
    let abort = task.abort_handle();
    let spec = match inner.store.project(&d.project).await {
        Ok(Some(record)) => Some(record.spec),
        _ => None,
    };
    let overdue = async {
        match &spec {
            Some(spec) => reaper::watch(inner, d.id, spec).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        joined = task => joined.unwrap_or_else(|e| Err(PipelineError::Internal(e.to_string()))),
        reason = overdue => {
            abort.abort();
                        token.cancel();
            reaper::clean_up(inner, d.id).await;
            Err(PipelineError::Overdue(reason))
        }
    }
}

async fn still_queued(inner: &Inner, id: i64) -> bool {
    matches!(inner.store.deployment(id).await, Ok(Some(d)) if d.status == Status::Queued)
}

async fn take_lease(inner: &Inner, d: &Deployment) {
    let mut told = false;
    loop {
        let now = now_ms();
        // In a cluster a silent gateway's lease is settled by the cluster round before anyone may take it
        // (see `cluster`); a single gateway takes over the lease of a dead predecessor itself.
        let stale_before = match inner.cluster.node {
            Some(_) => i64::MIN,
            None => now - inner.cluster.lease_timeout.as_millis() as i64,
        };
        match inner.store.acquire_lease(&d.project, &inner.owner, d.id, now, stale_before).await {
            Ok(true) => return,
            Ok(false) if !told => {
                inner.log(d.id, "waiting for the project's deploy lease, held by another gateway process").await;
                told = true;
            }
            Ok(false) => {}
            Err(e) => tracing::warn!("cannot take the deploy lease: {e}; retrying"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn keep_lease(inner: Arc<Inner>, project: String) {
    loop {
        // Three beats per timeout: one late beat never costs the lease.
        tokio::time::sleep(inner.cluster.lease_timeout / 3).await;
        if let Err(e) = inner.store.heartbeat_lease(&project, &inner.owner, now_ms()).await {
            tracing::warn!("cannot renew the deploy lease: {e}");
        }
    }
}

/// Records how a deployment that did not go live ended: FAILED, or CANCELLED (with `reason` when it was
/// not the operator who cancelled it).
async fn end_unfinished(inner: &Inner, id: i64, project: &str, error: PipelineError, reason: Option<String>) {
    let (event, status) = match error {
        PipelineError::Cancelled | PipelineError::CheckFailed(_) => (Event::Cancel, Status::Cancelled),
        _ => (Event::Fail, Status::Failed),
    };
    let message = match (&error, reason) {
        (PipelineError::Cancelled, Some(reason)) => reason,
        _ => error.to_string(),
    };
    inner.log(id, &format!("{}: {message}", status.as_str().to_lowercase())).await;
    match inner.store.apply(id, event, None, Some(&message), now_ms()).await {
        Ok(_) => inner.metrics.deployment_ended(project, status.as_str(), None),
        // It went live before the step failed: it stays live, and is not left in a phase forever.
        Err(StoreError::Transition(_)) => {
            if let Err(e) = inner.store.set_phase(id, Phase::Done, now_ms()).await {
                tracing::error!("cannot finish live deployment {id} after: {message}: {e}");
            }
        }
        Err(e) => tracing::error!("cannot record that deployment {id} ended ({message}): {e}"),
    }
}
