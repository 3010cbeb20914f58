//! The control plane's verbs: register projects, queue deployments, cancel them, and keep the routes in step.
//!
//! The controller is the only writer of [`Routes`]. Each project has one worker and one
//! queue (see [`worker`]); the steps of a deployment live in [`pipeline`], and what
//! happens after a restart in [`recovery`].

mod docker;
mod gate;
mod hook;
mod observe;
mod pipeline;
mod reaper;
mod recovery;
mod request;
mod retention;
mod rollback;
mod worker;

pub use hook::TestHook;
pub use observe::ObserveFigures;
pub use recovery::RestoreReport;
pub use request::DeployRequest;

use request::{docker_request, external_request};

use crate::build::plan::BaseImages;
use crate::deployment::{Event, Status};
use crate::metrics::Metrics;
use crate::nginx::NginxOutput;
use crate::project::Slot;
use crate::project::{ProjectSpec, RuntimeKind};
use crate::routes::{ProjectRoute, Routes};
use crate::runtime::{container_name, ContainerRuntime};
use crate::store::{now_ms, Deployment, NewDeployment, ProjectRecord, Store, StoreError};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("project `{0}` does not exist; list projects with `versiongate projects list`")]
    ProjectNotFound(String),
    #[error("deployment {0} does not exist")]
    DeploymentNotFound(i64),
    #[error("target `{target}` {message}")]
    BadTarget { target: String, message: String },
    #[error("{0}")]
    WrongRequest(String),
    #[error("deployment {id} is {status}; only QUEUED or DEPLOYING deployments can be cancelled")]
    NotCancellable { id: i64, status: Status },
    #[error("project `{0}` has a deployment in progress; cancel it or wait for it to end first")]
    Busy(String),
}

/// Where the controller keeps its files, and what else it writes on a switch.
#[derive(Debug, Clone, Default)]
pub struct ControllerOptions {
    pub data_dir: PathBuf,
    /// `[nginx] include_dir` and its commands, when set.
    pub nginx: Option<NginxOutput>,
    /// Base images for generated Dockerfiles.
    pub images: BaseImages,
    /// Test hook (`VERSIONGATE_TEST_HOOK`): see [`TestHook`].
    pub hook: Option<TestHook>,
}

/// Cheap to clone; every clone drives the same queues.
#[derive(Clone)]
pub struct Controller {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    routes: Arc<Routes>,
    metrics: Arc<Metrics>,
    runtime: Arc<dyn ContainerRuntime>,
    /// Clones live in `data_dir/repos/<project>`.
    data_dir: PathBuf,
    nginx: Option<NginxOutput>,
    images: BaseImages,
    /// Names this process in deploy leases.
    owner: String,
    workers: Mutex<HashMap<String, Arc<Notify>>>,
    /// Running observe windows, by project.
    watches: Mutex<HashMap<String, observe::Watch>>,
    running: Mutex<HashMap<i64, CancellationToken>>,
    hook: Option<TestHook>,
    /// Held for writing while recovery cleans up the engine; deployments wait for it.
    settling: Arc<tokio::sync::RwLock<()>>,
}

impl Controller {
    pub fn new(
        store: Store,
        routes: Arc<Routes>,
        metrics: Arc<Metrics>,
        runtime: Arc<dyn ContainerRuntime>,
        options: ControllerOptions,
    ) -> Self {
        let owner = format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple());
        let (workers, running) = (Mutex::default(), Mutex::default());
        let ControllerOptions { data_dir, nginx, images, hook } = options;
        let watches = Mutex::default();
        let inner = Inner {
            store,
            routes,
            metrics,
            runtime,
            data_dir,
            nginx,
            images,
            owner,
            workers,
            running,
            watches,
            hook,
            settling: Arc::default(),
        };
        Controller { inner: Arc::new(inner) }
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn routes(&self) -> &Routes {
        &self.inner.routes
    }

    pub async fn create_project(&self, spec: ProjectSpec) -> Result<ProjectRecord, ControllerError> {
        let record = self.inner.store.create_project(spec, now_ms(), &port_is_free).await?;
        self.publish_project(&record);
        Ok(record)
    }

    pub async fn update_project(&self, spec: ProjectSpec) -> Result<ProjectRecord, ControllerError> {
        let record = self.inner.store.update_project(spec, now_ms()).await?;
        self.publish_project(&record);
        Ok(record)
    }

    /// Creates or updates a project from the config file.
    pub async fn upsert_project(&self, spec: ProjectSpec) -> Result<ProjectRecord, ControllerError> {
        let record = self.inner.store.upsert_project(spec, now_ms(), &port_is_free).await?;
        self.publish_project(&record);
        Ok(record)
    }

    /// Removes a project that has no deployment in progress; its route disappears at once, then its
    /// slot containers are removed (a docker project's; external processes are the user's).
    pub async fn delete_project(&self, name: &str) -> Result<(), ControllerError> {
        let record = self.inner.store.project(name).await?;
        let recent = self.inner.store.deployments(name, 50).await?;
        if recent.iter().any(|d| !d.status.is_finished()) {
            return Err(ControllerError::Busy(name.to_owned()));
        }
        if !self.inner.store.delete_project(name).await? {
            return Err(ControllerError::ProjectNotFound(name.to_owned()));
        }
        self.inner.routes.remove(name);
        self.inner.metrics.forget_project(name);
        // Wakes the worker so it sees it is no longer current and ends.
        if let Some(worker) = self.inner.workers.lock().unwrap_or_else(|e| e.into_inner()).remove(name) {
            worker.notify_one();
        }
        if record.is_some_and(|r| r.spec.runtime == RuntimeKind::Docker) {
            for slot in [Slot::Blue, Slot::Green] {
                if let Err(e) = self.inner.runtime.remove(&container_name(name, slot)).await {
                    tracing::warn!(project = name, "cannot remove the {slot} container of a removed project: {e}");
                }
            }
        }
        Ok(())
    }

    fn publish_project(&self, record: &ProjectRecord) {
        let name = &record.spec.name;
        let route = ProjectRoute::new(name, record.spec.domains.clone(), self.inner.metrics.project(name));
        self.inner.routes.put_project(route);
    }

    /// Queues a deployment and wakes the project's worker. Returns it QUEUED.
    pub async fn submit(&self, project: &str, request: DeployRequest) -> Result<Deployment, ControllerError> {
        let store = &self.inner.store;
        let record =
            store.project(project).await?.ok_or_else(|| ControllerError::ProjectNotFound(project.to_owned()))?;
        let new = match record.spec.runtime {
            RuntimeKind::External => external_request(project, &request).await?,
            RuntimeKind::Docker => docker_request(&record, &request)?,
        };
        let new = NewDeployment { project: project.to_owned(), trigger: request.trigger, ..new };
        let d = store.create_deployment(new, now_ms()).await?;
        let what = [&d.target, &d.commit, &d.git_ref].into_iter().flatten().next().cloned().unwrap_or_default();
        self.inner.log(d.id, &format!("queued: deploy {what}")).await;
        self.kick(project);
        Ok(d)
    }

    /// Stops a QUEUED or DEPLOYING deployment, and waits briefly to return it ended.
    pub async fn cancel(&self, id: i64) -> Result<Deployment, ControllerError> {
        let store = &self.inner.store;
        let d = store.deployment(id).await?.ok_or(ControllerError::DeploymentNotFound(id))?;
        if d.status == Status::Queued {
            if let Ok(done) = store.apply(id, Event::Cancel, None, Some("cancelled by the operator"), now_ms()).await {
                self.inner.metrics.deployment_ended(&d.project, Status::Cancelled.as_str(), None);
                return Ok(done);
            }
        }
        let token = self.inner.running.lock().unwrap_or_else(|e| e.into_inner()).get(&id).cloned();
        let current = store.deployment(id).await?.ok_or(ControllerError::DeploymentNotFound(id))?;
        match token {
            Some(token) if !current.status.is_finished() => token.cancel(),
            _ => return Err(ControllerError::NotCancellable { id, status: current.status }),
        }
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let now = store.deployment(id).await?.ok_or(ControllerError::DeploymentNotFound(id))?;
            if now.status.is_finished() {
                return Ok(now);
            }
        }
        Ok(current)
    }

    /// Restores routes from the store; the proxy may serve once this returns.
    pub async fn restore(&self) -> RestoreReport {
        recovery::restore_routes(&self.inner).await
    }

    /// Cleans up after a crash: unfinished deployments fail, stale leases go.
    pub async fn reconcile(&self) -> Result<usize, ControllerError> {
        Ok(recovery::reconcile(&self.inner).await?)
    }
}

impl Inner {
    /// A log line for the deployment, in its stored log and in the process log.
    async fn log(&self, id: i64, line: &str) {
        tracing::info!(deployment_id = id, "{line}");
        if let Err(e) = self.store.append_log(id, line, now_ms()).await {
            tracing::warn!(deployment_id = id, "cannot store log line: {e}");
        }
    }
}

fn port_is_free(port: u16) -> bool {
    std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
}
