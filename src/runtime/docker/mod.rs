//! The `docker` runtime: a push is fetched, built into `versiongate/<project>:<id>` and run as the
//! container `<project>-<slot>` (`<project>-<slot>-<n>` per replica); the old slot's containers are stopped
//! and kept for rollback.

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

    /// The containers of a slot; when the engine cannot list them, the single-replica name, so cleanup
    /// still tries the common case.
    pub(super) async fn in_slot(&self, project: &str, slot: Slot) -> Vec<String> {
        match self.engine.slot_containers(project, slot).await {
            Ok(names) => names,
            Err(e) => {
                tracing::warn!(project, "cannot list the containers of the {slot} slot: {e}");
                vec![container_name(project, slot)]
            }
        }
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

    async fn prepare(&self, job: &Job<'_>, slot: Slot) -> Result<Deployment, RuntimeError> {
        let base = job.record.base_port;
        let replicas = 1..=job.record.spec.replicas.max(1);
        let addrs: Vec<SocketAddr> =
            replicas.map(|n| SocketAddr::from(([127, 0, 0, 1], slot.replica_port(base, n)))).collect();
        // Rollbacks and env redeploys arrive with an image: it is reused, never rebuilt.
        let reuse = job.deployment.image.clone();
        let phase = if reuse.is_some() { Phase::Starting } else { Phase::Fetching };
        let mut d = job.journal.begin(slot, &addrs, phase).await?;
        job.journal.phase(phase).await?;
        let job = Job { deployment: &d, ..*job };
        let image = match reuse {
            Some(image) => self.retained_image(&job, &image).await?,
            None => {
                let (tree, commit) = self.fetch(&job).await?;
                self.build(&job, tree, &commit).await?
            }
        };
        d.image = Some(image);
        Ok(d)
    }

    async fn launch(&self, job: &Job<'_>, slot: Slot) -> Result<(), RuntimeError> {
        let image = job.deployment.image.as_deref();
        let image = image.ok_or_else(|| RuntimeError::Internal("nothing was built to start".into()))?;
        self.run_slot(job, slot, image).await
    }

    fn swaps_in_place(&self) -> bool {
        true
    }

    async fn release(&self, job: &Job<'_>) -> Result<(), RuntimeError> {
        match &job.deployment.image {
            Some(image) => self.run_release(job, image).await,
            None => Err(RuntimeError::Internal("the release step found no image".into())),
        }
    }

    async fn died(&self, project: &str, slot: Slot) -> Option<RuntimeError> {
        let names = self.engine.slot_containers(project, slot).await.ok()?;
        if names.is_empty() {
            return steps::died(crate::runtime::Liveness::Missing);
        }
        for name in names {
            if let Some(dead) = steps::died(self.engine.liveness(&name).await.ok()?) {
                return Some(dead);
            }
        }
        None
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
        for name in self.in_slot(project, slot).await {
            let _ = self.engine.remove(&name).await;
        }
    }

    async fn keep(&self, project: &str, slot: Slot) -> Result<(), RuntimeError> {
        for name in self.engine.slot_containers(project, slot).await? {
            self.engine.keep_running(&name).await?;
        }
        Ok(())
    }

    /// Stops the old slot's containers (kept, not removed, for rollback).
    async fn retire(&self, spec: &ProjectSpec, slot: Slot, _addr: SocketAddr) -> String {
        let grace = Duration::from_secs(spec.stop_timeout_s);
        let names = self.in_slot(&spec.name, slot).await;
        let stopped = futures_util::future::join_all(names.iter().map(|name| self.engine.stop(name, grace))).await;
        let lines = names.iter().zip(stopped).map(|(name, result)| match result {
            Ok(()) => format!("stopped {name} (kept for rollback)"),
            Err(e) => format!("could not stop {name}: {e}"),
        });
        lines.collect::<Vec<_>>().join("; ")
    }

    async fn prune(&self, spec: &ProjectSpec, history: &[Deployment]) -> Vec<String> {
        retention::prune(&*self.engine, &spec.name, spec.keep_images, history).await
    }

    /// Containers, then the images kept for rollback, then the checkout: nothing of the project is left.
    async fn remove_project(&self, project: &str) {
        for slot in [Slot::Blue, Slot::Green] {
            for name in self.in_slot(project, slot).await {
                if let Err(e) = self.engine.remove(&name).await {
                    tracing::warn!(project, "cannot remove {name} of a removed project: {e}");
                }
            }
        }
        for image in self.engine.project_images(project).await.unwrap_or_default() {
            if let Err(e) = self.engine.remove_image(&image).await {
                tracing::warn!(project, "cannot remove image {image} of a removed project: {e}");
            }
        }
        // The name is a validated project name: the path stays inside data_dir/repos.
        let checkout = self.options.data_dir.join("repos").join(project);
        if let Err(e) = tokio::fs::remove_dir_all(&checkout).await {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(project, "cannot remove the checkout {}: {e}", checkout.display());
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
