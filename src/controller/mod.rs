//! The control plane's verbs: register projects, queue deployments, cancel them, and keep the routes in step.
//!
//! The controller is the only writer of [`Routes`]. Its folders hold the concepts it runs:
//!
//! | module | holds |
//! |---|---|
//! | [`deploy`] | one deployment: the pipeline (CI gate, start, health gate, canary or switch, observe, drain, hold-and-swap), cancel and rollback |
//! | [`schedule`] | when work runs: one worker and queue per project under the deploy lease, the reaper's time limits, swarm tasks followed |
//! | [`recovery`] | after a restart, a crash or an upgrade's hand-over: routes back first, then unfinished work settled |
//! | [`cluster`] | several gateways on one PostgreSQL: heartbeats, dead gateways' leases, who may join |
//! | [`registry`] | the work running in this process (workers, deployments, observe windows, canaries) under one lock |
//! | [`sync`] | the one route writer: store → table → atomic publish |
//! | [`traffic`] | the operator's traffic controls: pause, maintenance |
//! | [`previews`] | pull-request previews and their reaper |
//! | [`hook`] | the test hook that parks or panics a deployment in one phase |
//! | [`error`] | what a controller call can fail with |

mod cluster;
mod deploy;
mod error;
mod hook;
#[cfg(test)]
mod no_engine;
mod previews;
mod recovery;
mod registry;
mod schedule;
mod sync;
#[cfg(test)]
mod tests;
mod traffic;

pub use crate::runtime::DeployRequest;
pub use cluster::ClusterOptions;
pub(crate) use deploy::observe::ObserveFigures;
pub use error::ControllerError;
pub(crate) use hook::TestHook;
pub(crate) use recovery::RestoreReport;
pub(crate) use traffic::ReplicaView;

use crate::builder::plan::BaseImages;
use crate::metrics::Metrics;
use crate::nginx::NginxOutput;
use crate::project::ProjectSpec;
use crate::routes::{Routes, TableOptions};
use crate::runtime::{ContainerEngine, Runtime, RuntimeOptions, Runtimes};
use crate::store::{now_ms, Deployment, NewDeployment, ProjectRecord, Store};
use crate::upgrade::Retirement;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::Notify;

/// Where the controller keeps its files, and what else it writes on a switch.
#[derive(Debug, Clone, Default)]
pub struct ControllerOptions {
    pub data_dir: PathBuf,
    /// `[nginx] include_dir` and its commands, when set.
    pub nginx: Option<NginxOutput>,
    /// Base images for generated Dockerfiles.
    pub images: BaseImages,
    /// `[docker] registry`: where swarm images go for every node.
    pub registry: String,
    /// Test hook (`VERSIONGATE_TEST_HOOK`): see [`TestHook`].
    pub hook: Option<TestHook>,
    /// Route table settings that do not come from the store (the admin server's public host).
    pub table: TableOptions,
    /// Told after every route sync, so the certificate manager sees new domains at once.
    pub synced: Arc<tokio::sync::Notify>,
    /// Whether a successor took over (an upgrade): then nothing new starts here.
    pub retirement: Arc<Retirement>,
    /// This gateway among others on one PostgreSQL (`[cluster]`).
    pub cluster: ClusterOptions,
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
    runtimes: Runtimes,
    nginx: Option<NginxOutput>,
    /// Names this process in deploy leases.
    owner: String,
    /// What runs in this process: workers, deployments, observe windows, canaries.
    work: registry::Registry,
    /// Set once a successor holds the sockets: no new deployment starts here (see `upgrade`).
    retirement: Arc<Retirement>,
    #[cfg_attr(not(feature = "test-hooks"), allow(dead_code))]
    hook: Option<TestHook>,
    /// Held for writing while recovery cleans up the engine; deployments wait for it.
    settling: Arc<tokio::sync::RwLock<()>>,
    table: TableOptions,
    /// Orders route syncs (see [`sync`]) and holds the state last published.
    sync_lock: tokio::sync::Mutex<Option<crate::routes::RouteState>>,
    synced: Arc<tokio::sync::Notify>,
    /// Told when CI results arrive, so waiting pushes look at once.
    checks_changed: Notify,
    /// For GitHub's API.
    http: reqwest::Client,
    cluster: ClusterOptions,
    started_at: i64,
}

impl Controller {
    pub fn new(
        store: Store,
        routes: Arc<Routes>,
        metrics: Arc<Metrics>,
        engine: Arc<dyn ContainerEngine>,
        options: ControllerOptions,
    ) -> Self {
        let owner = format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple());
        let ControllerOptions { data_dir, nginx, images, registry, hook, table, synced, retirement, cluster } = options;
        let runtimes = Runtimes::new(engine, RuntimeOptions { data_dir, images, registry });
        let inner = Inner {
            store,
            routes,
            metrics,
            runtimes,
            nginx,
            owner,
            work: registry::Registry::default(),
            hook,
            settling: Arc::default(),
            table,
            sync_lock: tokio::sync::Mutex::default(),
            synced,
            retirement,
            checks_changed: Notify::new(),
            http: crate::outbound::client(std::time::Duration::from_secs(10)),
            cluster,
            started_at: now_ms(),
        };
        Controller { inner: Arc::new(inner) }
    }

    /// The same controller with other runtimes (tests swap in fakes).
    #[cfg(test)]
    fn with_runtimes(self, runtimes: Runtimes) -> Self {
        let mut inner = Arc::into_inner(self.inner).expect("a controller not yet shared");
        inner.runtimes = runtimes;
        Controller { inner: Arc::new(inner) }
    }

    pub(crate) fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The route table this controller publishes (tests read it).
    #[cfg(test)]
    fn routes(&self) -> &Routes {
        &self.inner.routes
    }

    pub async fn create_project(&self, spec: ProjectSpec) -> Result<ProjectRecord, ControllerError> {
        self.docker_allowed(&spec).await?;
        let record = self.inner.store.create_project(spec, now_ms(), &port_is_free).await?;
        self.inner.sync_committed().await?;
        Ok(record)
    }

    pub(crate) async fn update_project(&self, spec: ProjectSpec) -> Result<ProjectRecord, ControllerError> {
        self.docker_allowed(&spec).await?;
        let record = self.inner.store.update_project(spec, now_ms()).await?;
        self.inner.sync_committed().await?;
        Ok(record)
    }

    /// Creates or updates a project from the config file.
    pub(crate) async fn upsert_project(&self, spec: ProjectSpec) -> Result<ProjectRecord, ControllerError> {
        let record = self.inner.store.upsert_project(spec, now_ms(), &port_is_free).await?;
        self.inner.sync_committed().await?;
        Ok(record)
    }

    /// Removes a project that has no deployment in progress; its route disappears at once, then its
    /// slot containers are removed (a docker project's; external processes are the user's).
    pub(crate) async fn delete_project(&self, name: &str) -> Result<(), ControllerError> {
        let record = self.inner.store.project(name).await?;
        let recent = self.inner.store.deployments(name, 50).await?;
        if recent.iter().any(|d| !d.status.is_finished()) {
            return Err(ControllerError::Busy(name.to_owned()));
        }
        if !self.inner.store.delete_project(name).await? {
            return Err(ControllerError::ProjectNotFound(name.to_owned()));
        }
        self.inner.sync_committed().await?;
        self.inner.metrics.forget_project(name);
        self.inner.work.dismiss_worker(name);
        if let Some(record) = record {
            self.inner.runtimes.of(&record.spec).remove_project(name).await;
        }
        Ok(())
    }

    /// Publishes the route table from the store again (the one writer; see [`sync`]). Returns the rows
    /// that could not be read.
    pub async fn sync(&self) -> Result<Vec<String>, ControllerError> {
        Ok(self.inner.sync().await?)
    }

    /// Queues a deployment and wakes the project's worker. Returns it QUEUED.
    pub async fn submit(&self, project: &str, request: DeployRequest) -> Result<Deployment, ControllerError> {
        let store = &self.inner.store;
        let record =
            store.project(project).await?.ok_or_else(|| ControllerError::ProjectNotFound(project.to_owned()))?;
        let new = self.inner.runtimes.of(&record.spec).request(&record, &request).await?;
        let canary_percent = self.check_canary(&record, request.canary_percent).await?;
        let new = NewDeployment { project: project.to_owned(), trigger: request.trigger, canary_percent, ..new };
        let d = store.create_deployment(new, now_ms()).await?;
        let what = [&d.target, &d.commit, &d.git_ref].into_iter().flatten().next().cloned().unwrap_or_default();
        self.inner.log(d.id, &format!("queued: deploy {what}")).await;
        self.kick(project);
        Ok(d)
    }

    /// Restores routes from the store; the proxy may serve once this returns.
    pub(crate) async fn restore(&self) -> RestoreReport {
        recovery::restore_routes(&self.inner).await
    }

    /// Cleans up after a crash: unfinished deployments fail, stale leases go.
    pub(crate) async fn reconcile(&self) -> Result<usize, ControllerError> {
        Ok(recovery::reconcile(&self.inner, false).await?)
    }
}

impl Controller {
    /// The runtime that runs `spec`'s deployments, for the operator surfaces.
    pub(crate) fn runtime(&self, spec: &ProjectSpec) -> &dyn Runtime {
        self.inner.runtimes.of(spec)
    }
}

impl Inner {
    /// The runtime of a stored project; `None` when the project is gone or unreadable.
    async fn runtime_of(&self, project: &str) -> Option<&dyn Runtime> {
        let record = self.store.project(project).await.ok().flatten()?;
        Some(self.runtimes.of(&record.spec))
    }

    /// A log line for the deployment, in its stored log and in the process log.
    async fn log(&self, id: i64, line: &str) {
        tracing::info!(deployment_id = id, "{line}");
        if let Err(e) = self.store.append_log(id, line, now_ms()).await {
            tracing::warn!(deployment_id = id, "cannot store log line: {e}");
        }
    }
}

/// Whether a host port can be bound now (automatic base ports are the lowest free ones). A test build
/// reads `VERSIONGATE_TEST_PORTS_FROM` and counts the ports below it as taken: gateways of tests running
/// side by side would otherwise pick the same free port at the same moment.
fn port_is_free(port: u16) -> bool {
    #[cfg(feature = "test-hooks")]
    if std::env::var("VERSIONGATE_TEST_PORTS_FROM")
        .ok()
        .and_then(|v| v.parse::<u16>().ok())
        .is_some_and(|from| port < from)
    {
        return false;
    }
    std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
}
