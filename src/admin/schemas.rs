//! The shapes of the JSON views the handlers build, for the OpenAPI document only: `admin::views` and the handlers
//! stay the one place that writes them, and the schemathesis run in `scripts/test` checks every response
//! against these.
#![allow(dead_code)]

use crate::controller::ObserveFigures;
use crate::project::ProjectSpec;
use crate::routes::Traffic;
use crate::store::Deployment;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// A project: its fields (secrets masked as `***`), ports, traffic state and live deployment.
#[derive(Serialize, ToSchema)]
#[schema(as = Project)]
pub(crate) struct ProjectView {
    #[serde(flatten)]
    spec: ProjectSpec,
    base_port: u16,
    /// The blue and green slots' ports.
    slots: Slots,
    traffic: Traffic,
    /// The maintenance page's message.
    traffic_message: Option<String>,
    /// How long a paused project holds a request.
    pause_timeout_s: Option<i64>,
    live: Option<DeploymentView>,
    created_at: String,
    updated_at: String,
    /// The running canary, when one runs.
    canary: Option<ProjectCanary>,
    /// Retained images (docker and swarm projects), newest first.
    images: Option<Vec<Value>>,
    /// The redeploy an `env` change started (PATCH only).
    redeploy: Option<DeploymentView>,
}

#[derive(Serialize, ToSchema)]
struct Slots {
    blue: u16,
    green: u16,
}

#[derive(Serialize, ToSchema)]
struct ProjectCanary {
    deployment: i64,
    percent: i64,
    requests: u64,
    errors: u64,
}

/// A deployment, with its observe window's and canary's live figures while they run.
#[derive(Serialize, ToSchema)]
#[schema(as = Deployment)]
pub(crate) struct DeploymentView {
    #[serde(flatten)]
    row: Deployment,
    /// From start to end, once ended.
    duration_ms: Option<i64>,
    observe: Option<ObserveFigures>,
    canary: Option<DeploymentCanary>,
}

#[derive(Serialize, ToSchema)]
struct DeploymentCanary {
    percent: i64,
    requests: u64,
    errors: u64,
    error_rate: f64,
}

/// A deployment and every status and phase it went through.
#[derive(Serialize, ToSchema)]
pub(crate) struct DeploymentDetail {
    #[serde(flatten)]
    view: DeploymentView,
    events: Vec<EventView>,
}

#[derive(Serialize, ToSchema)]
struct EventView {
    status: crate::deployment::Status,
    phase: crate::deployment::Phase,
    message: Option<String>,
    at: String,
}

/// A pull request's preview project.
#[derive(Serialize, ToSchema)]
#[schema(as = Preview)]
pub(crate) struct PreviewView {
    project: String,
    number: i64,
    host: String,
    commit: String,
    fork: bool,
    created_at: String,
    pushed_at: String,
    /// When it is removed unless pushed to again; null once removed.
    expires_at: Option<String>,
    live: Option<DeploymentView>,
    removed_at: Option<String>,
    /// closed, expired, over_cap, removed…
    removed_reason: Option<String>,
}

/// The last upgrade this process ran (`state`: idle, running, handed_over or failed).
#[derive(Serialize, ToSchema)]
#[schema(as = Upgrade)]
pub(crate) struct UpgradeView {
    state: String,
    started_at: Option<String>,
    error: Option<String>,
    /// The successor's, once handed over; otherwise this process's.
    pid: u32,
    version: String,
}

/// `GET /healthz`.
#[derive(Serialize, ToSchema)]
#[schema(as = Health)]
pub(crate) struct HealthView {
    status: String,
    version: String,
    pid: u32,
    started_at: String,
    /// `ok` or `unreachable`.
    store: String,
    projects: Value,
    live: Value,
    problems: Value,
    notify: Value,
    /// Every gateway on this store, as its heartbeat says.
    nodes: Vec<Value>,
}

/// Every error: a stable `code`, a message saying what to do, and the field at fault when there is one.
#[derive(Serialize, ToSchema)]
#[schema(as = Error)]
pub(crate) struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
struct ErrorDetail {
    code: String,
    message: String,
    field: Option<String>,
}
