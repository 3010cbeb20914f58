//! Runtimes as strategies: how a project's deployments are brought up, watched, retired and cleaned up.
//!
//! The pipeline, recovery and the API call one [`Runtime`] and never ask which kind it is. `docker` builds
//! images and runs containers through a [`ContainerEngine`]; `external` routes to a process the user runs.
//! Later kinds (`swarm`, `static`) are further implementations of the same trait.

pub(crate) mod bollard;
mod bollard_build;
mod bollard_swarm;
mod docker;
pub(crate) mod engine;
mod external;
mod kind;
mod request;
mod swarm;

pub(crate) use bollard::DockerEngine;
pub use engine::{
    container_name, image_tag, release_container_name, replica_container_name, BuildRequest, ContainerEngine,
    EngineError, Liveness, RunRequest,
};
pub use request::{DeployRequest, RequestError};

use crate::builder::plan::BaseImages;
use crate::deployment::Phase;
use crate::project::{ProjectSpec, RuntimeKind, Slot};
use crate::store::{Deployment, NewDeployment, ProjectRecord, StoreError};
use async_trait::async_trait;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Why a runtime step failed. Each `Display` is what lands in the deployment's `error`.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RuntimeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("stored target `{0}` is not an address; deploy again with a HOST:PORT target")]
    BadTarget(String),
    #[error(transparent)]
    Source(#[from] crate::source::SourceError),
    #[error(transparent)]
    Context(#[from] crate::builder::context::ContextError),
    #[error(transparent)]
    Plan(#[from] crate::builder::plan::PlanError),
    #[error(transparent)]
    Engine(EngineError),
    #[error("the container exited (exit code {exit_code}, restarts {restarts}). Its last log lines:\n{logs}")]
    ContainerDied { exit_code: i64, restarts: i64, logs: String },
    #[error("the release command exited with code {code}, so the switch was not made. Its last output:\n{output}")]
    Release { code: i64, output: String },
    #[error("image {0} is no longer retained (it was pruned); roll back to a deployment whose image is listed in the project's `images`, or deploy the commit again")]
    Pruned(String),
    #[error("cancelled by the operator")]
    Cancelled,
    #[error("the Docker engine is not a swarm manager, so runtime \"swarm\" cannot run services on it: run `docker swarm init` (or join this node as a manager), or use runtime \"docker\"")]
    NotSwarmManager,
    #[error("the swarm has {0} ready nodes, and an image built here exists on this node only: set [docker] registry to a registry every node can pull from (the image is pushed there and run by digest)")]
    NeedsRegistry(usize),
    #[error("service {service}: {running} of {want} tasks running after start_timeout_s{}", if why.is_empty() { String::new() } else { format!("; the engine says: {why}") })]
    TasksNotRunning { service: String, running: usize, want: usize, why: String },
    #[error("internal error, see log: {0}")]
    Internal(String),
}

impl From<EngineError> for RuntimeError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Cancelled => RuntimeError::Cancelled,
            other => RuntimeError::Engine(other),
        }
    }
}

/// What a runtime step records about its deployment: log lines, phases, and what it resolved to.
#[async_trait]
pub(crate) trait Journal: Send + Sync {
    /// A line in the deployment's log.
    async fn log(&self, line: &str);
    /// The deployment enters `phase`, or is confirmed in it (where the test hook may act).
    async fn phase(&self, phase: Phase) -> Result<(), StoreError>;
    /// QUEUED → DEPLOYING into `slot`, serving on `addrs` (one per replica), starting at `phase`.
    async fn begin(&self, slot: Slot, addrs: &[SocketAddr], phase: Phase) -> Result<Deployment, StoreError>;
    /// Where a deployment that began serves, once its runtime knows (swarm tasks get their ports at start).
    async fn serving(&self, slot: Slot, addrs: &[SocketAddr]) -> Result<Deployment, StoreError>;
    /// The commit it builds (with its subject line), and the image it built.
    async fn source(&self, commit: Option<(&str, Option<&str>)>, image: Option<&str>) -> Result<(), StoreError>;
}

/// One deployment as a runtime step sees it.
pub(crate) struct Job<'a> {
    pub(crate) deployment: &'a Deployment,
    pub(crate) record: &'a ProjectRecord,
    pub(crate) cancel: &'a CancellationToken,
    pub(crate) journal: &'a dyn Journal,
}

/// What the operator surfaces show of a runtime, so they never ask which kind it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RuntimeTraits {
    pub(crate) name: &'static str,
    /// Builds images from a repository: branch, release command, retained images and env redeploys apply.
    pub(crate) builds: bool,
    /// The deploy form's field (`ref` or `target`), its label and an example.
    pub(crate) deploy_field: (&'static str, &'static str, &'static str),
}

#[async_trait]
pub(crate) trait Runtime: Send + Sync {
    fn traits(&self) -> RuntimeTraits;
    /// Checks a deploy request and says what the new deployment stores.
    async fn request(&self, record: &ProjectRecord, request: &DeployRequest) -> Result<NewDeployment, RequestError>;
    /// Brings the deployment up in `slot` (build or reuse, then start); returns it DEPLOYING, with where it serves.
    async fn start(&self, job: &Job<'_>, slot: Slot) -> Result<Deployment, RuntimeError> {
        let d = self.prepare(job, slot).await?;
        self.launch(&Job { deployment: &d, ..*job }, slot).await?;
        Ok(d)
    }
    /// The first half of `start`: the deployment begins in `slot` and what it runs is made ready (fetch and
    /// build, or a retained image), while nothing is started yet. Hold-and-swap builds before it stops the
    /// old version.
    async fn prepare(&self, job: &Job<'_>, slot: Slot) -> Result<Deployment, RuntimeError>;
    /// The second half of `start`: what `prepare` made ready starts in `slot`, replacing what was there.
    async fn launch(&self, job: &Job<'_>, slot: Slot) -> Result<(), RuntimeError>;
    /// After the health gate, before the switch: the release command.
    async fn release(&self, job: &Job<'_>) -> Result<(), RuntimeError>;
    /// Why what runs in `slot` is dead, if it is; `None` while it runs or when the runtime cannot tell.
    async fn died(&self, project: &str, slot: Slot) -> Option<RuntimeError>;
    /// A hint for a health gate that found nothing answering, when the runtime knows a likely cause.
    fn unreachable_hint(&self, spec: &ProjectSpec) -> Option<String>;
    /// A deployment that failed before its switch: what it started in `slot` goes.
    async fn discard(&self, project: &str, slot: Slot);
    /// The slot is live and past its observe window: it must come back after a reboot.
    async fn keep(&self, project: &str, slot: Slot) -> Result<(), RuntimeError>;
    /// Whether the runtime can stop the live version and start the new one in its place (hold-and-swap).
    fn swaps_in_place(&self) -> bool {
        false
    }
    /// The drained slot at `addr` stops serving; returns the log line saying what happened to it.
    async fn retire(&self, spec: &ProjectSpec, slot: Slot, addr: SocketAddr) -> String;
    /// After a deploy: what is no longer needed for rollback goes. Returns log lines.
    async fn prune(&self, spec: &ProjectSpec, history: &[Deployment]) -> Vec<String>;
    /// The project was removed: everything it ran goes.
    async fn remove_project(&self, project: &str);
    /// A deployment cut off by a crash or a time limit leaves nothing behind.
    async fn remove_leftovers(&self, d: &Deployment);
    /// A live deployment cut off after its switch gets what it would have had; the other slot stops.
    async fn settle(&self, d: &Deployment);
    /// After a restart: the live deployment runs again if it was gone. The error names the project.
    async fn revive(&self, record: &ProjectRecord, live: &Deployment) -> Result<(), String>;
    /// Whether `d` can be returned to by a rollback, and the deployment that would do it.
    fn return_to(&self, d: &Deployment) -> Option<NewDeployment>;
    /// What a rollback could return to besides the deployments' own rows (retained images), as JSON.
    async fn retained(&self, project: &str, history: &[Deployment]) -> Vec<serde_json::Value>;
    /// Where `slot` of a live project serves right now, for runtimes whose addresses move (swarm tasks);
    /// `None`: the stored addresses stand.
    async fn serving_now(&self, _spec: &ProjectSpec, _slot: Slot) -> Option<Vec<SocketAddr>> {
        None
    }
    /// Until the runtime's event stream ends: names each service whose serving addresses may have moved.
    /// Runtimes whose addresses never move have no events and return at once.
    async fn follow(&self, _changed: &tokio::sync::mpsc::Sender<String>) -> Result<(), RuntimeError> {
        Ok(())
    }
}

/// Where the runtimes keep their files and what they build from.
#[derive(Debug, Clone, Default)]
pub(crate) struct RuntimeOptions {
    /// Clones live in `data_dir/repos/<project>`.
    pub(crate) data_dir: PathBuf,
    /// Base images for generated Dockerfiles.
    pub(crate) images: BaseImages,
    /// `[docker] registry`: where swarm images are pushed for every node ('' for a one-node swarm).
    pub(crate) registry: String,
}

/// One runtime per kind; the only place that maps a project's `runtime` to its implementation.
#[derive(Clone)]
pub(crate) struct Runtimes {
    /// The engine the docker and swarm runtimes drive (none in unit tests).
    engine: Option<Arc<dyn ContainerEngine>>,
    docker: Arc<dyn Runtime>,
    external: Arc<dyn Runtime>,
    swarm: Arc<dyn Runtime>,
}

impl Runtimes {
    pub(crate) fn new(engine: Arc<dyn ContainerEngine>, options: RuntimeOptions) -> Runtimes {
        let registry = options.registry.clone();
        let docker = Arc::new(docker::DockerRuntime::new(engine.clone(), options));
        Runtimes {
            engine: Some(engine.clone()),
            docker: docker.clone(),
            external: Arc::new(external::ExternalRuntime),
            swarm: Arc::new(swarm::SwarmRuntime::new(engine, docker, registry)),
        }
    }

    /// One runtime for every kind (tests use a fake).
    #[cfg(test)]
    pub(crate) fn single(runtime: Arc<dyn Runtime>) -> Runtimes {
        Runtimes { engine: None, docker: runtime.clone(), external: runtime.clone(), swarm: runtime }
    }

    /// The Docker engine's ID ('' without an engine).
    pub(crate) async fn engine_id(&self) -> Result<String, EngineError> {
        match &self.engine {
            Some(engine) => engine.engine_id().await,
            None => Ok(String::new()),
        }
    }

    /// The swarm runtime's event stream (see [`Runtime::follow`]).
    pub(crate) async fn follow_swarm(&self, changed: &tokio::sync::mpsc::Sender<String>) -> Result<(), RuntimeError> {
        self.swarm.follow(changed).await
    }

    pub(crate) fn of(&self, spec: &ProjectSpec) -> &dyn Runtime {
        match spec.runtime {
            RuntimeKind::Docker => &*self.docker,
            RuntimeKind::External => &*self.external,
            RuntimeKind::Swarm => &*self.swarm,
        }
    }
}

/// Where a stored deployment serves: one address per replica, replica 1 first.
pub(crate) fn served_addrs(d: &Deployment) -> Result<Vec<SocketAddr>, RuntimeError> {
    let target = d.targets.join(",");
    crate::routes::parse_targets(&target).ok_or(RuntimeError::BadTarget(target))
}
