//! The container engine the docker runtime drives: the [`ContainerEngine`] trait (build, run, watch, stop),
//! the names of what it creates, and its errors. [`super::bollard`] implements it for Docker; tests and fault
//! injection swap it.

use crate::project::Slot;
use async_trait::async_trait;
use std::collections::HashMap;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("cannot reach the Docker engine at {host}: {message}. Start Docker, or set [docker] host")]
    Unreachable { host: String, message: String },
    #[error("the image build failed: {0}")]
    Build(String),
    #[error("the build took longer than build_timeout_s = {0}s and was stopped; make it faster or raise the limit")]
    BuildTimeout(u64),
    #[error("cancelled")]
    Cancelled,
    #[error("the Docker engine refused to {action}: {message}")]
    Engine { action: String, message: String },
}

/// What to build: a packed context, the Dockerfile inside it, and how to name the image.
pub struct BuildRequest {
    pub(crate) context: Vec<u8>,
    pub(crate) dockerfile: String,
    pub(crate) tag: String,
    pub(crate) labels: HashMap<String, String>,
    pub(crate) timeout: Duration,
}

/// One slot container: `<project>-<slot>` (or `<project>-<slot>-<n>` with replicas), published on
/// 127.0.0.1 only.
pub struct RunRequest {
    pub(crate) name: String,
    pub(crate) project: String,
    pub(crate) slot: Slot,
    /// 1-based.
    pub(crate) replica: u16,
    pub(crate) deployment_id: i64,
    pub(crate) image: String,
    pub(crate) host_port: u16,
    pub(crate) container_port: u16,
    pub(crate) env: Vec<String>,
    /// 0 means no limit.
    pub(crate) memory_mb: u64,
    /// Cores; 0 means no limit.
    pub(crate) cpus: f64,
}

/// How a container is doing, for the health gate's fail-fast rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Liveness {
    Running,
    /// It exited, or restarted at least once: with its exit code and last log lines.
    Died {
        exit_code: i64,
        restarts: i64,
        logs: String,
    },
    Missing,
}

pub fn container_name(project: &str, slot: Slot) -> String {
    format!("{project}-{slot}")
}

/// Replica `n` (1-based) of a slot that runs `replicas` containers; with one replica the name has no number.
pub fn replica_container_name(project: &str, slot: Slot, n: u16, replicas: u16) -> String {
    if replicas <= 1 {
        container_name(project, slot)
    } else {
        format!("{project}-{slot}-{n}")
    }
}

pub fn image_tag(project: &str, deployment_id: i64) -> String {
    format!("versiongate/{project}:{deployment_id}")
}

/// The throwaway container of a deployment's release command; named so recovery can find it.
pub fn release_container_name(project: &str, deployment_id: i64) -> String {
    format!("{project}-release-{deployment_id}")
}

#[async_trait]
pub trait ContainerEngine: Send + Sync {
    /// The engine's swarm API, when it has one (the swarm runtime needs it).
    fn swarm(&self) -> Option<&dyn crate::runtime::swarm::engine::SwarmEngine> {
        None
    }
    /// The engine's own ID (`docker info`): gateways that share one engine report the same one.
    async fn engine_id(&self) -> Result<String, EngineError> {
        Ok(String::new())
    }
    /// Builds and tags an image, sending each build output line to `log`.
    async fn build(
        &self,
        req: BuildRequest,
        log: &(dyn Fn(String) + Send + Sync),
        cancel: &CancellationToken,
    ) -> Result<(), EngineError>;
    /// Replaces whatever holds the slot with a new running container.
    async fn run(&self, req: &RunRequest) -> Result<(), EngineError>;
    /// Restart policy `unless-stopped`, so a rebooted host brings the live slot back.
    async fn keep_running(&self, name: &str) -> Result<(), EngineError>;
    async fn liveness(&self, name: &str) -> Result<Liveness, EngineError>;
    /// The `versiongate.deployment` label of a container, if it exists.
    async fn container_deployment(&self, name: &str) -> Result<Option<i64>, EngineError>;
    /// SIGTERM, then SIGKILL after `grace`; the container is kept for rollback.
    async fn stop(&self, name: &str, grace: Duration) -> Result<(), EngineError>;
    async fn remove(&self, name: &str) -> Result<(), EngineError>;
    /// The names of every container (running or not) labelled with `project` and `slot`, by name.
    async fn slot_containers(&self, project: &str, slot: Slot) -> Result<Vec<String>, EngineError>;
    async fn has_image(&self, image: &str) -> Result<bool, EngineError>;
    /// The `versiongate/<project>:<id>` tags the engine holds.
    async fn project_images(&self, project: &str) -> Result<Vec<String>, EngineError>;
    /// Removes an image tag, and the project's dangling build leftovers.
    async fn remove_image(&self, image: &str) -> Result<(), EngineError>;
    /// Runs `command` once in a throwaway container `name` of `image`; its exit code and output.
    async fn run_once(
        &self,
        name: &str,
        image: &str,
        command: &str,
        env: &[String],
        timeout: Duration,
    ) -> Result<(i64, String), EngineError>;
}
