//! The `swarm` runtime: a push is built as for `docker`, then each slot is the Swarm service
//! `<project>-<slot>` with `replicas` tasks on engine-chosen host ports. The gateway routes to the live
//! service's running tasks itself (never through the ingress mesh); the old service is scaled to 0 after
//! its drain and kept for rollback.

pub mod engine;
pub(crate) mod spec;

use super::docker::DockerRuntime;
use super::engine::ContainerEngine;
use super::{DeployRequest, Job, RequestError, Runtime, RuntimeError, RuntimeTraits};
use crate::deployment::Trigger;
use crate::project::{ProjectSpec, Slot};
use crate::store::{Deployment, NewDeployment, ProjectRecord};
use async_trait::async_trait;
use engine::{serving_addrs, SwarmEngine};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// How often a starting service's tasks are looked at.
const TASK_POLL: Duration = Duration::from_millis(200);

pub(super) struct SwarmRuntime {
    engine: Arc<dyn ContainerEngine>,
    /// Fetching, building, retained images, the release command and pruning are the docker runtime's.
    docker: Arc<DockerRuntime>,
    /// `[docker] registry` ('' runs the local image: a one-node swarm).
    registry: String,
}

impl SwarmRuntime {
    pub(super) fn new(engine: Arc<dyn ContainerEngine>, docker: Arc<DockerRuntime>, registry: String) -> Self {
        SwarmRuntime { engine, docker, registry }
    }

    fn repository(&self, project: &str) -> String {
        format!("{}/versiongate/{project}", self.registry)
    }

    /// The registry names of images the docker runtime pruned or removed go with them (`versiongate/p:ID`).
    async fn forget_pushed(&self, project: &str, tags: Option<Vec<String>>) {
        let Ok(swarm) = self.swarm() else { return };
        if self.registry.is_empty() {
            return;
        }
        let repository = self.repository(project);
        let result = match tags {
            None => swarm.forget_pushed(&repository, None).await,
            Some(tags) => {
                let mut result = Ok(());
                for tag in tags {
                    result = result.and(swarm.forget_pushed(&repository, Some(&tag)).await);
                }
                result
            }
        };
        if let Err(e) = result {
            tracing::warn!(project, "cannot remove the local names of pushed images: {e}");
        }
    }

    /// What the service runs: the local image by ID on a one-node swarm; with a registry, the pushed copy by
    /// digest, so every node pulls exactly this image.
    async fn pinned_image(&self, swarm: &dyn SwarmEngine, job: &Job<'_>, image: &str) -> Result<String, RuntimeError> {
        if self.registry.is_empty() {
            let nodes = swarm.ready_nodes().await?;
            if nodes > 1 {
                return Err(RuntimeError::NeedsRegistry(nodes));
            }
            return Ok(swarm.image_id(image).await?);
        }
        let repository = self.repository(&job.record.spec.name);
        let tag = job.deployment.id.to_string();
        job.journal.log(&format!("pushing {image} to {repository}:{tag}")).await;
        let pinned = swarm.push_image(image, &repository, &tag).await?;
        job.journal.log(&format!("pushed: every node runs {pinned}")).await;
        Ok(pinned)
    }

    fn swarm(&self) -> Result<&dyn SwarmEngine, RuntimeError> {
        self.engine.swarm().ok_or_else(|| RuntimeError::Internal("this engine has no swarm API".into()))
    }

    /// Refuses clearly when the engine is not a swarm manager.
    async fn check_manager(&self) -> Result<&dyn SwarmEngine, RuntimeError> {
        let swarm = self.swarm()?;
        if !swarm.is_manager().await? {
            return Err(RuntimeError::NotSwarmManager);
        }
        Ok(swarm)
    }

    /// Puts the slot's service in place with the deployment's image, then waits until every task runs and
    /// publishes its port; returns where the tasks serve.
    async fn run_service(&self, job: &Job<'_>, slot: Slot) -> Result<Vec<SocketAddr>, RuntimeError> {
        let swarm = self.check_manager().await?;
        let (d, spec) = (job.deployment, &job.record.spec);
        let image = d.image.as_deref().ok_or_else(|| RuntimeError::Internal("nothing was built to start".into()))?;
        let image_id = self.pinned_image(swarm, job, image).await?;
        let name = spec::service_name(&spec.name, slot);
        job.journal.log(&format!("service {name}: {} task(s) of {image} ({image_id})", spec.replicas)).await;
        swarm.put_service(spec::service(spec, slot, &image_id, d.id)).await?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(spec.start_timeout_s);
        let want = usize::from(spec.replicas.max(1));
        loop {
            let tasks = swarm.tasks(&name).await?;
            let addrs = serving_addrs(&tasks, spec.container_port);
            if addrs.len() >= want {
                return Ok(addrs);
            }
            if tokio::time::Instant::now() > deadline {
                let why: Vec<String> = tasks.iter().filter_map(|t| t.error.clone()).collect();
                return Err(RuntimeError::TasksNotRunning {
                    service: name,
                    running: addrs.len(),
                    want,
                    why: why.join("; "),
                });
            }
            tokio::select! {
                () = tokio::time::sleep(TASK_POLL) => {}
                () = job.cancel.cancelled() => return Err(RuntimeError::Cancelled),
            }
        }
    }

    async fn scale(&self, project: &str, slot: Slot, replicas: u64) -> String {
        let name = spec::service_name(project, slot);
        match self.swarm() {
            Ok(swarm) => match swarm.scale_service(&name, replicas).await {
                Ok(true) => format!("scaled {name} to {replicas}"),
                Ok(false) => format!("no service {name}"),
                Err(e) => format!("could not scale {name}: {e}"),
            },
            Err(e) => e.to_string(),
        }
    }

    /// Where a slot's service serves now; `None` when the engine cannot say.
    pub(super) async fn serving(&self, project: &str, slot: Slot, container_port: u16) -> Option<Vec<SocketAddr>> {
        let tasks = self.swarm().ok()?.tasks(&spec::service_name(project, slot)).await.ok()?;
        Some(serving_addrs(&tasks, container_port))
    }
}

#[async_trait]
impl Runtime for SwarmRuntime {
    fn traits(&self) -> RuntimeTraits {
        RuntimeTraits { name: "swarm", builds: true, deploy_field: ("ref", "Git ref", "main") }
    }

    async fn request(&self, record: &ProjectRecord, request: &DeployRequest) -> Result<NewDeployment, RequestError> {
        self.docker.request(record, request).await
    }

    async fn start(&self, job: &Job<'_>, slot: Slot) -> Result<Deployment, RuntimeError> {
        self.check_manager().await?;
        let d = self.prepare(job, slot).await?;
        let job = Job { deployment: &d, ..*job };
        let addrs = self.run_service(&job, slot).await?;
        Ok(job.journal.serving(slot, &addrs).await?)
    }

    async fn prepare(&self, job: &Job<'_>, slot: Slot) -> Result<Deployment, RuntimeError> {
        self.docker.prepare(job, slot).await
    }

    async fn launch(&self, job: &Job<'_>, slot: Slot) -> Result<(), RuntimeError> {
        let addrs = self.run_service(job, slot).await?;
        job.journal.serving(slot, &addrs).await?;
        Ok(())
    }

    async fn release(&self, job: &Job<'_>) -> Result<(), RuntimeError> {
        self.docker.release(job).await
    }

    async fn died(&self, _project: &str, _slot: Slot) -> Option<RuntimeError> {
        // Swarm restarts a task that dies; the health gate's time limit covers one that never comes up.
        None
    }

    fn unreachable_hint(&self, spec: &ProjectSpec) -> Option<String> {
        self.docker.unreachable_hint(spec)
    }

    async fn discard(&self, project: &str, slot: Slot) {
        if let Ok(swarm) = self.swarm() {
            if let Err(e) = swarm.remove_service(&spec::service_name(project, slot)).await {
                tracing::warn!(project, "cannot remove the {slot} service of a failed deployment: {e}");
            }
        }
    }

    async fn keep(&self, _project: &str, _slot: Slot) -> Result<(), RuntimeError> {
        // A service's tasks come back after a reboot by themselves.
        Ok(())
    }

    async fn retire(&self, spec: &ProjectSpec, slot: Slot, _addr: SocketAddr) -> String {
        format!("{} (kept for rollback)", self.scale(&spec.name, slot, 0).await)
    }

    async fn prune(&self, spec: &ProjectSpec, history: &[Deployment]) -> Vec<String> {
        let lines = self.docker.prune(spec, history).await;
        let tags = lines.iter().filter_map(|l| pruned_tag(l, &spec.name)).collect();
        self.forget_pushed(&spec.name, Some(tags)).await;
        lines
    }

    async fn remove_project(&self, project: &str) {
        self.discard(project, Slot::Blue).await;
        self.discard(project, Slot::Green).await;
        self.forget_pushed(project, None).await;
        self.docker.remove_project(project).await;
    }

    async fn remove_leftovers(&self, d: &Deployment) {
        if let Some(slot) = d.slot {
            self.discard(&d.project, slot).await;
        }
    }

    async fn settle(&self, d: &Deployment) {
        if let Some(slot) = d.slot {
            let line = self.scale(&d.project, slot.other(), 0).await;
            tracing::info!(project = %d.project, "after an interrupted deployment: {line}");
        }
    }

    async fn revive(&self, record: &ProjectRecord, live: &Deployment) -> Result<(), String> {
        let Some(slot) = live.slot else { return Ok(()) };
        let line = self.scale(&record.spec.name, slot, u64::from(record.spec.replicas.max(1))).await;
        tracing::info!(project = %record.spec.name, "{line}");
        Ok(())
    }

    fn return_to(&self, d: &Deployment) -> Option<NewDeployment> {
        d.image.as_ref()?;
        Some(NewDeployment::again_of(d, Trigger::Rollback))
    }

    async fn retained(&self, project: &str, history: &[Deployment]) -> Vec<serde_json::Value> {
        self.docker.retained(project, history).await
    }

    async fn follow(&self, changed: &tokio::sync::mpsc::Sender<String>) -> Result<(), RuntimeError> {
        Ok(self.swarm()?.follow_services(changed).await?)
    }

    async fn serving_now(&self, spec: &ProjectSpec, slot: Slot) -> Option<Vec<SocketAddr>> {
        self.serving(&spec.name, slot, spec.container_port).await
    }
}

/// The deployment id a prune line names (`pruned versiongate/<project>:<id> (…)`).
fn pruned_tag(line: &str, project: &str) -> Option<String> {
    let rest = line.strip_prefix("pruned ")?.strip_prefix(&format!("versiongate/{project}:"))?;
    Some(rest.split(' ').next()?.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prune_line_names_the_deployment_whose_pushed_name_goes() {
        assert_eq!(pruned_tag("pruned versiongate/web:12 (keep_images = 3)", "web").as_deref(), Some("12"));
        assert_eq!(pruned_tag("pruned versiongate/web-2:12 (keep_images = 3)", "web"), None);
        assert_eq!(pruned_tag("cannot prune versiongate/web:12", "web"), None);
    }
}
