//! Deploying only after CI passes: a push to a project with `required_checks` waits in phase
//! `waiting_for_checks` until GitHub's reports for its commit (webhooks, and the API once at start when
//! there is a token) say every required check succeeded; a failed check cancels it, and
//! `checks_timeout_s` fails it.

use super::failure::PipelineError;
use crate::checks::{verdict, CheckReport, Verdict};
use crate::controller::{Controller, ControllerError, Inner};
use crate::deployment::{Event, Phase, Status, Trigger};
use crate::project::ProjectSpec;
use crate::store::{now_ms, Deployment};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often a waiting deployment rereads its checks without a wake-up (another gateway may record them).
const REREAD: Duration = Duration::from_millis(500);

/// Whether `d` waits for checks: a webhook push of a commit, to a project that requires checks.
pub(crate) fn must_wait(spec: &ProjectSpec, d: &Deployment) -> bool {
    !spec.required_checks.is_empty() && d.trigger == Trigger::Webhook && d.commit.is_some() && d.image.is_none()
}

impl Controller {
    /// Records CI results for `project` and wakes the deployments waiting for them.
    pub(crate) async fn record_checks(&self, project: &str, reports: &[CheckReport]) -> Result<(), ControllerError> {
        for report in reports {
            self.inner.store.record_check(project, report, now_ms()).await?;
        }
        self.inner.checks_changed.notify_waiters();
        Ok(())
    }

    /// A newer push replaces a push still waiting for its checks: the waiting one is cancelled, naming it.
    pub(crate) async fn supersede_waiting(&self, project: &str, newer: i64) -> Result<(), ControllerError> {
        for d in self.inner.store.deployments(project, 20).await? {
            if d.id < newer && d.status == Status::Deploying && d.phase == Phase::WaitingForChecks {
                let reason = format!("superseded by a newer push (deployment {newer}) while waiting for checks");
                self.inner.work.give_cancel_reason(d.id, reason);
                if let Err(e) = self.cancel(d.id).await {
                    tracing::warn!(deployment_id = d.id, "cannot cancel the waiting push: {e}");
                }
            }
        }
        Ok(())
    }
}

/// Waits until the verdict on `d`'s commit is in. `Ok` means every required check passed.
pub(crate) async fn wait_for_checks(
    inner: &Arc<Inner>,
    d: &Deployment,
    spec: &ProjectSpec,
    cancel: &CancellationToken,
) -> Result<(), PipelineError> {
    let commit = d.commit.clone().unwrap_or_default();
    inner.store.apply(d.id, Event::Start, Some(Phase::WaitingForChecks), None, now_ms()).await?;
    let required = spec.required_checks.join(", ");
    inner
        .log(d.id, &format!("waiting for checks of {commit}: {required} (checks_timeout_s {})", spec.checks_timeout_s))
        .await;
    let _stop_asking = ask_in_background(inner, d, spec, &commit);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(spec.checks_timeout_s);
    let mut told: Vec<String> = Vec::new();
    loop {
        let woken = inner.checks_changed.notified();
        match verdict(&spec.required_checks, &inner.store.checks(&d.project, &commit).await?) {
            Verdict::Passed => {
                inner.log(d.id, "every required check passed").await;
                return Ok(());
            }
            Verdict::Failed { name, conclusion } => {
                return Err(PipelineError::CheckFailed(format!("check {name} failed ({conclusion})")));
            }
            Verdict::Waiting(names) if names != told => {
                inner.log(d.id, &format!("still waiting for: {}", names.join(", "))).await;
                told = names;
            }
            Verdict::Waiting(_) => {}
        }
        tokio::select! {
            () = woken => {}
            () = tokio::time::sleep(REREAD) => {}
            () = cancel.cancelled() => return Err(PipelineError::Cancelled),
            () = tokio::time::sleep_until(deadline) => {
                let waiting = told.join(", ");
                let limit = spec.checks_timeout_s;
                return Err(PipelineError::ChecksTimedOut(format!(
                    "checks did not pass within {limit} s (checks_timeout_s); still waiting for: {waiting}"
                )));
            }
        }
    }
}

/// [`ask_github`] in the background, so a slow or dead GitHub never holds a push whose webhooks already said
/// yes; it stops when the handle is dropped.
fn ask_in_background(
    inner: &Arc<Inner>,
    d: &Deployment,
    spec: &ProjectSpec,
    commit: &str,
) -> tokio_util::task::AbortOnDropHandle<()> {
    let (inner, d, spec, commit) = (inner.clone(), d.clone(), spec.clone(), commit.to_owned());
    tokio_util::task::AbortOnDropHandle::new(tokio::spawn(async move {
        ask_github(&inner, &d, &spec, &commit).await;
        inner.checks_changed.notify_waiters();
    }))
}

/// With a token, GitHub is asked once: a check that finished before the push's webhook came is seen.
async fn ask_github(inner: &Inner, d: &Deployment, spec: &ProjectSpec, commit: &str) {
    let Some(client) = crate::github::client_for(&inner.store, &inner.http, spec).await else { return };
    match crate::github::retry("checks", || client.checks(commit)).await {
        Ok(reports) => {
            for report in &reports {
                if let Err(e) = inner.store.record_check(&d.project, report, now_ms()).await {
                    tracing::warn!("cannot record check {}: {e}", report.name);
                }
            }
            inner.log(d.id, &format!("GitHub reports {} checks for {commit}", reports.len())).await;
        }
        Err(e) => inner.log(d.id, &format!("cannot ask GitHub for the checks (webhooks still count): {e}")).await,
    }
}
