//! The `docker` runtime: a push is fetched, built into `versiongate/<project>:<id>` and run as the
//! container `<project>-<slot>`; the old slot's container is stopped and kept for rollback.

mod recovery;
mod retention;
mod steps;

use super::engine::{container_name, ContainerEngine};
use super::{request, DeployRequest, Job, RequestError, Runtime, RuntimeError, RuntimeOptions, RuntimeTraits};
use crate::deployment::{Phase, Trigger};
use crate::project::{ProjectSpec, Slot};
use crate::store::{Deployment, NewDeployment, ProjectRecord};
use async_trait::async_trait;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub(super) struct DockerRuntime {
    engine: Arc<dyn ContainerEngine>,
    options: RuntimeOptions,
}

impl DockerRuntime {
    pub(super) fn new(engine: Arc<dyn ContainerEngine>, options: RuntimeOptions) -> Self {
        DockerRuntime { engine, options }
    }
}

#[async_trait]
impl Runtime for DockerRuntime {
    fn traits(&self) -> RuntimeTraits {
        RuntimeTraits { name: "docker", builds: true, deploy_field: ("ref", "Git ref", "main") }
    }

    async fn request(&self, record: &ProjectRecord, request: &DeployRequest) -> Result<NewDeployment, RequestError> {
        request::docker(record, request)
    }

    async fn start(&self, job: &Job<'_>, slot: Slot) -> Result<Deployment, RuntimeError> {
        let addr = SocketAddr::from(([127, 0, 0, 1], slot.port(job.record.base_port)));
        // Rollbacks and env redeploys arrive with an image: it is reused, never rebuilt.
        let reuse = job.deployment.image.clone();
        let phase = if reuse.is_some() { Phase::Starting } else { Phase::Fetching };
        let mut d = job.journal.begin(slot, addr, phase).await?;
        job.journal.phase(phase).await?;
        let job = Job { deployment: &d, ..*job };
        let image = match reuse {
            Some(image) => self.retained_image(&job, &image).await?,
            None => {
                let (tree, commit) = self.fetch(&job).await?;
                self.build(&job, tree, &commit).await?
            }
        };
        self.run_slot(&job, slot, &image).await?;
        d.image = Some(image);
        Ok(d)
    }

    async fn release(&self, job: &Job<'_>) -> Result<(), RuntimeError> {
        match &job.deployment.image {
            Some(image) => self.run_release(job, image).await,
            None => Err(RuntimeError::Internal("the release step found no image".into())),
        }
    }

    async fn died(&self, project: &str, slot: Slot) -> Option<RuntimeError> {
        let state = self.engine.liveness(&container_name(project, slot)).await.ok()?;
        steps::died(state)
    }

    fn unreachable_hint(&self, spec: &ProjectSpec) -> Option<String> {
        Some(format!(
            "the container is running but nothing answers on container_port {}: the app probably listens on \
             127.0.0.1 inside the container. Make it listen on 0.0.0.0 and on $PORT",
            spec.container_port
        ))
    }

    async fn discard(&self, project: &str, slot: Slot) {
        // The idle slot is cleaned up; the live slot was never touched.
        let _ = self.engine.remove(&container_name(project, slot)).await;
    }

    async fn keep(&self, project: &str, slot: Slot) -> Result<(), RuntimeError> {
        Ok(self.engine.keep_running(&container_name(project, slot)).await?)
    }

    /// Stops the old slot's container (kept, not removed, for rollback).
    async fn retire(&self, spec: &ProjectSpec, slot: Slot, _addr: SocketAddr) -> String {
        let name = container_name(&spec.name, slot);
        match self.engine.stop(&name, Duration::from_secs(spec.stop_timeout_s)).await {
            Ok(()) => format!("stopped {name} (kept for rollback)"),
            Err(e) => format!("could not stop {name}: {e}"),
        }
    }

    async fn prune(&self, spec: &ProjectSpec, history: &[Deployment]) -> Vec<String> {
        retention::prune(&*self.engine, &spec.name, spec.keep_images, history).await
    }

    async fn remove_project(&self, project: &str) {
        for slot in [Slot::Blue, Slot::Green] {
            if let Err(e) = self.engine.remove(&container_name(project, slot)).await {
                tracing::warn!(project, "cannot remove the {slot} container of a removed project: {e}");
            }
        }
    }

    async fn remove_leftovers(&self, d: &Deployment) {
        recovery::remove_leftovers(self, d).await
    }

    async fn settle(&self, d: &Deployment) {
        recovery::settle(self, d).await
    }

    async fn revive(&self, record: &ProjectRecord, live: &Deployment) -> Result<(), String> {
        recovery::revive(self, record, live).await
    }

    /// A deployment is returned to by its retained image.
    fn return_to(&self, d: &Deployment) -> Option<NewDeployment> {
        d.image.as_ref()?;
        Some(NewDeployment::again_of(d, Trigger::Rollback))
    }

    /// The images retained for rollback, each with the newest deployment that used it.
    async fn retained(&self, project: &str, history: &[Deployment]) -> Vec<serde_json::Value> {
        let Ok(mut images) = self.engine.project_images(project).await else { return Vec::new() };
        images.sort_by_key(|i| std::cmp::Reverse(i.rsplit(':').next().and_then(|n| n.parse::<i64>().ok())));
        let described = images.into_iter().map(|image| {
            let d = history.iter().find(|d| d.image.as_deref() == Some(&image));
            serde_json::json!({"image": image, "deployment": d.map(|d| d.id), "commit": d.and_then(|d| d.commit.clone())})
        });
        described.collect()
    }
}
