//! Manual rollback: a pointer flip while the old slot is warm, else a deployment of the retained image.

use super::observe::ObserveFigures;
use crate::controller::{Controller, ControllerError};
use crate::deployment::{Status, Trigger};
use crate::store::{now_ms, Deployment, NewDeployment};
use std::time::Duration;
use tokio::sync::oneshot;

impl Controller {
    /// Rolls `project` back to `to`, or to the previous good deployment. Returns the new deployment.
    pub(crate) async fn rollback(&self, project: &str, to: Option<i64>) -> Result<Deployment, ControllerError> {
        let store = &self.inner.store;
        let record =
            store.project(project).await?.ok_or_else(|| ControllerError::ProjectNotFound(project.to_owned()))?;
        if let Some(flipped) = self.flip_in_window(project, to).await? {
            return Ok(flipped);
        }
        // During a canary, a rollback ends it: every client stays on the live version.
        if to.is_none() {
            if let Some(ended) = self.end_canary(project).await? {
                return Ok(ended);
            }
        }
        let live = store.live_deployment(project).await?;
        let target = self.rollback_target(project, to, live.as_ref()).await?;
        let Some(again) = self.inner.runtimes.of(&record.spec).return_to(&target) else {
            return Err(ControllerError::WrongRequest(format!(
                "deployment {} never built an image to return to; pick another",
                target.id
            )));
        };
        let new = NewDeployment { rollback_of: live.map(|d| d.id), ..again };
        let d = store.create_deployment(new, now_ms()).await?;
        self.inner
            .log(
                d.id,
                &format!(
                    "queued: roll back to deployment {} ({})",
                    target.id,
                    target.image.or(target.target).unwrap_or_default()
                ),
            )
            .await;
        self.kick(project);
        Ok(d)
    }

    /// The deployment a rollback returns to: `to`, or the last good one before the live one; never one that
    /// is live or still under way.
    async fn rollback_target(
        &self,
        project: &str,
        to: Option<i64>,
        live: Option<&Deployment>,
    ) -> Result<Deployment, ControllerError> {
        let store = &self.inner.store;
        let target = match to {
            Some(id) => store
                .deployment(id)
                .await?
                .filter(|d| d.project == project)
                .ok_or(ControllerError::DeploymentNotFound(id))?,
            None => {
                let before = live.map_or(i64::MAX, |d| d.id);
                store.previous_good(project, before).await?.ok_or_else(|| {
                    ControllerError::WrongRequest(format!("project `{project}` has no earlier good deployment to roll back to; give one with {{\"to\": ID}}"))
                })?
            }
        };
        if target.status == Status::Active || matches!(target.status, Status::Queued | Status::Deploying) {
            return Err(ControllerError::WrongRequest(format!(
                "deployment {} is {}; roll back to an earlier one",
                target.id, target.status
            )));
        }
        Ok(target)
    }

    /// During an observe window, a rollback to the warm deployment is an instant pointer flip.
    async fn flip_in_window(&self, project: &str, to: Option<i64>) -> Result<Option<Deployment>, ControllerError> {
        let (reply, answer) = oneshot::channel();
        let asked = self.inner.work.with_watch(project, |watch| {
            to.is_none_or(|id| id == watch.warm_deployment_id) && watch.requests.send(reply).is_ok()
        });
        if asked != Some(true) {
            return Ok(None);
        }
        match tokio::time::timeout(Duration::from_secs(60), answer).await {
            Ok(Ok(Ok(d))) => Ok(Some(d)),
            Ok(Ok(Err(message))) => Err(ControllerError::WrongRequest(format!("the rollback failed: {message}"))),
            _ => Ok(None),
        }
    }

    /// After an env change: the live image again, with the new env; no fetch, no build. `None` when not live.
    pub(crate) async fn redeploy_env(&self, project: &str) -> Result<Option<Deployment>, ControllerError> {
        let store = &self.inner.store;
        let Some(live) = store.live_deployment(project).await?.filter(|d| d.image.is_some()) else { return Ok(None) };
        let new = NewDeployment::again_of(&live, Trigger::Api);
        let d = store.create_deployment(new, now_ms()).await?;
        self.inner
            .log(
                d.id,
                &format!(
                    "queued: the env changed; redeploying the live image {} with it",
                    live.image.unwrap_or_default()
                ),
            )
            .await;
        self.kick(project);
        Ok(Some(d))
    }

    /// The images retained for rollback, each with the newest deployment that used it (none for a runtime
    /// that builds no images).
    pub(crate) async fn retained_images(&self, project: &str) -> Result<Vec<serde_json::Value>, ControllerError> {
        let record =
            self.inner.store.project(project).await?.ok_or_else(|| ControllerError::ProjectNotFound(project.into()))?;
        let history = self.inner.store.deployments(project, 500).await?;
        Ok(self.inner.runtimes.of(&record.spec).retained(project, &history).await)
    }

    /// The live figures of a running observe window for `deployment_id`, if one runs.
    pub(crate) fn observe_figures(&self, project: &str, deployment_id: i64) -> Option<ObserveFigures> {
        let figures = |w: &super::observe::Watch| {
            (w.deployment_id == deployment_id).then(|| crate::lock::lock(&w.figures).clone())
        };
        self.inner.work.with_watch(project, figures).flatten()
    }
}
