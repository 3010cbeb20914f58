//! Canary deployments: a health-gated version takes `canary_percent` % of clients (sticky by the `vg_canary`
//! cookie) beside the live one, until the operator promotes it (the usual switch, observe and drain follow)
//! or rolls it back. The observe rule watches the canary's own answers and ends it on too many 5xx.

use super::drain::Upstream;
use super::failure::PipelineError;
use super::observe::{verdict, ObserveFigures};
use super::switch::finish;
use crate::controller::{Controller, ControllerError, Inner};
use crate::runtime::{Job, Runtime};
use crate::store::{now_ms, Deployment};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

const TICK: Duration = Duration::from_millis(100);

/// What the operator asks of a running canary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Command {
    Promote,
    Rollback,
}

type Reply = oneshot::Sender<Result<Deployment, String>>;

/// A running canary, as the controller sees it.
pub(crate) struct Handle {
    pub(crate) deployment_id: i64,
    pub(crate) percent: i64,
    pub(crate) figures: Arc<Mutex<ObserveFigures>>,
    commands: mpsc::UnboundedSender<(Command, Reply)>,
}

/// How a canary ended.
enum End {
    Promote(Option<Reply>),
    Abort(String, Option<Reply>),
    /// The deployment was cancelled: it ends CANCELLED like any other.
    Cancelled,
}

/// Runs the canary phase of `job` (health-gated in `canary.slot`) beside `live`, until it is promoted (then
/// the usual switch follows) or ended.
pub(crate) async fn canary(
    inner: &Inner,
    job: &Job<'_>,
    runtime: &dyn Runtime,
    (live, canary): (Upstream, Upstream),
    percent: i64,
) -> Result<(), PipelineError> {
    let d = job.deployment;
    let base = inner.metrics.project(&d.project).responses(canary.slot);
    inner.store.start_canary(d.id, percent, now_ms()).await?;
    inner.sync_committed().await?;
    let line = format!(
        "canary: {percent} % of clients go to the {} slot, the rest stay on deployment {}",
        canary.slot, live.deployment_id
    );
    inner.log(d.id, &line).await;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let figures = Arc::new(Mutex::new(ObserveFigures::default()));
    let handle = Handle { deployment_id: d.id, percent, figures: figures.clone(), commands: tx };
    inner.work.open_canary(&d.project, handle);
    let end = watch(inner, job, runtime, canary, base, &figures, &mut rx).await;
    inner.work.close_canary(&d.project);
    settle(inner, job, runtime, (live, canary), end).await
}

/// Carries out how the canary ended: the switch after a promotion, or every client back on `live`.
async fn settle(
    inner: &Inner,
    job: &Job<'_>,
    runtime: &dyn Runtime,
    (live, canary): (Upstream, Upstream),
    end: End,
) -> Result<(), PipelineError> {
    let (d, record) = (job.deployment, job.record);
    match end {
        End::Promote(reply) => {
            inner.log(d.id, "promoted: every client goes to the new version").await;
            let result = finish(inner, d, record, runtime, Some(live), canary).await;
            if let Some(reply) = reply {
                let now = inner.store.deployment(d.id).await.ok().flatten().ok_or("the deployment is gone".into());
                let _ = reply.send(now);
            }
            result
        }
        End::Cancelled => {
            inner.store.change_pools(&d.project, crate::routes::PoolChange::EndCanary, now_ms()).await?;
            inner.sync_committed().await?;
            inner
                .log(d.id, &format!("canary cancelled; every client is back on deployment {}", live.deployment_id))
                .await;
            runtime.discard(&d.project, canary.slot).await;
            Err(PipelineError::Cancelled)
        }
        End::Abort(reason, reply) => {
            let ended = inner.store.end_canary(d.id, &reason, now_ms()).await;
            inner.sync_committed().await?;
            inner.metrics.deployment_ended(&d.project, "ROLLED_BACK", None);
            inner.log(d.id, &format!("{reason}; every client is back on deployment {}", live.deployment_id)).await;
            runtime.discard(&d.project, canary.slot).await;
            if let Some(reply) = reply {
                let _ = reply.send(ended.as_ref().map(Clone::clone).map_err(ToString::to_string));
            }
            ended.map(|_| ()).map_err(PipelineError::from)
        }
    }
}

/// Waits for the operator, the observe rule, a dead canary or an upgrade of the gateway.
async fn watch(
    inner: &Inner,
    job: &Job<'_>,
    runtime: &dyn Runtime,
    canary: Upstream,
    (base_total, base_errors): (u64, u64),
    figures: &Mutex<ObserveFigures>,
    commands: &mut mpsc::UnboundedReceiver<(Command, Reply)>,
) -> End {
    let (d, spec) = (job.deployment, &job.record.spec);
    let metrics = inner.metrics.project(&d.project);
    for tick in 0u64.. {
        tokio::select! {
            _ = tokio::time::sleep(TICK) => {}
            Some((command, reply)) = commands.recv() => return match command {
                Command::Promote => End::Promote(Some(reply)),
                Command::Rollback => End::Abort("canary rolled back by the operator".into(), Some(reply)),
            },
            () = job.cancel.cancelled() => return End::Cancelled,
        }
        let (total, errors) = metrics.responses(canary.slot);
        let (seen, failed) = (total - base_total, errors - base_errors);
        let rate = if seen == 0 { 0.0 } else { failed as f64 / seen as f64 };
        *crate::lock::lock(figures) =
            ObserveFigures { requests: seen, errors: failed, error_rate: rate, seconds_left: 0 };
        if let Some(reason) = verdict(seen, failed, spec) {
            return End::Abort(reason.replacen("auto rollback", "canary aborted", 1), None);
        }
        if tick % 10 == 9 {
            if let Some(e) = runtime.died(&d.project, canary.slot).await {
                return End::Abort(format!("canary aborted: {e}"), None);
            }
            // The successor serves the clients now; this process could not be asked to promote.
            if inner.handed_over() {
                let why = "canary ended: the gateway was upgraded while it ran; deploy it again with canary_percent";
                return End::Abort(why.into(), None);
            }
        }
    }
    End::Abort("canary ended".into(), None)
}

impl Controller {
    /// Sends every client of `project` to its running canary; returns the deployment once it is live.
    pub(crate) async fn promote(&self, project: &str) -> Result<Deployment, ControllerError> {
        self.ask_canary(project, Command::Promote).await?.ok_or_else(|| no_canary(project))
    }

    /// Ends the canary of `project` if one runs (a rollback during a canary); `None` when none runs.
    pub(crate) async fn end_canary(&self, project: &str) -> Result<Option<Deployment>, ControllerError> {
        self.ask_canary(project, Command::Rollback).await
    }

    async fn ask_canary(&self, project: &str, command: Command) -> Result<Option<Deployment>, ControllerError> {
        if self.inner.store.project(project).await?.is_none() {
            return Err(ControllerError::ProjectNotFound(project.to_owned()));
        }
        let (reply, answer) = oneshot::channel();
        let sent = self.inner.work.with_canary(project, |handle| handle.commands.send((command, reply)).is_ok());
        if sent != Some(true) {
            return Ok(None);
        }
        match answer.await {
            Ok(Ok(d)) => Ok(Some(d)),
            Ok(Err(message)) => Err(ControllerError::Traffic(message)),
            Err(_) => Err(ControllerError::Traffic(format!("the canary of `{project}` ended meanwhile"))),
        }
    }

    /// The running canary of `project`: deployment, share of clients and its own figures so far.
    pub(crate) fn canary_of(&self, project: &str) -> Option<(i64, i64, ObserveFigures)> {
        self.inner.work.with_canary(project, |h| (h.deployment_id, h.percent, crate::lock::lock(&h.figures).clone()))
    }
}

impl Controller {
    /// A deploy request's `canary_percent`, checked: 1–99, a live version to split with, and a strategy
    /// that runs two versions at once.
    pub(crate) async fn check_canary(
        &self,
        record: &crate::store::ProjectRecord,
        percent: Option<i64>,
    ) -> Result<Option<i64>, ControllerError> {
        let Some(percent) = percent else { return Ok(None) };
        let name = &record.spec.name;
        if !(1..=99).contains(&percent) {
            let why = format!("canary_percent must be between 1 and 99 (a share of clients), not {percent}");
            return Err(ControllerError::WrongRequest(why));
        }
        if record.spec.strategy == crate::project::Strategy::HoldSwap {
            let why = format!("project `{name}` uses strategy hold_swap, which never runs two versions: no canary");
            return Err(ControllerError::WrongRequest(why));
        }
        if self.inner.store.live_deployment(name).await?.is_none() {
            let why = format!(
                "project `{name}` has no live version to split traffic with; deploy it without canary_percent first"
            );
            return Err(ControllerError::Traffic(why));
        }
        Ok(Some(percent))
    }
}

fn no_canary(project: &str) -> ControllerError {
    ControllerError::Traffic(format!(
        "project `{project}` runs no canary; deploy with canary_percent first, then promote"
    ))
}
