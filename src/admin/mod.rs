//! The admin server: the REST API under `/api/v1`, the dashboard at `/`, `/healthz` and `/metrics`.
//!
//! Handlers are thin: they parse, call the [`Controller`] or the store, and render JSON.
//! Every error goes through [`error::ApiError`], the one place statuses are chosen.

mod auth;
mod backoff;
mod certificates;
pub(crate) mod dashboard;
mod deploy_token;
mod deployments;
pub(crate) mod error;
mod openapi;
mod previews;
mod projects;
mod schemas;
mod traffic;
mod upgrade;
mod views;
mod webhook;

pub(crate) use auth::{load_or_create_token, AuthError};

use crate::controller::{Controller, RestoreReport};
use crate::metrics::Metrics;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use error::ApiError;
use serde_json::json;
use std::sync::{Arc, Mutex};

/// Request bodies over this size get 413.
pub(crate) const MAX_BODY: usize = 1024 * 1024;

#[derive(Clone)]
pub(crate) struct AdminState {
    pub(crate) controller: Controller,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) token: Arc<str>,
    pub(crate) restore: Arc<Mutex<RestoreReport>>,
    /// Failed logins per address.
    pub(crate) backoff: Arc<Mutex<backoff::Backoff>>,
    /// Dashboard logins.
    pub(crate) sessions: Arc<dashboard::session::Sessions>,
    /// Certificates: the API's view and uploads.
    pub(crate) certs: crate::acme::CertManager,
    /// When this process started serving (Unix ms), for `/healthz`.
    pub(crate) started_at: i64,
    /// Replaces this process with the binary at its path (`POST /api/v1/upgrade`).
    pub(crate) upgrader: crate::upgrade::Upgrader,
    /// `[[notify]]` receivers and their last deliveries.
    pub(crate) notifier: Arc<crate::notify::Notifier>,
}

pub(crate) fn router(state: AdminState) -> Router {
    let api = Router::new()
        .route("/projects", get(projects::list).post(projects::create))
        .route("/projects/{name}", get(projects::show).patch(projects::update).delete(projects::remove))
        .route("/projects/{name}/deployments", get(deployments::list).post(deployments::create))
        .route("/projects/{name}/rollback", post(deployments::rollback))
        .route("/projects/{name}/previews", get(previews::list))
        .route("/projects/{name}/promote", post(deployments::promote))
        .route("/projects/{name}/pause", post(traffic::pause))
        .route("/projects/{name}/resume", post(traffic::resume))
        .route("/projects/{name}/maintenance", post(traffic::maintenance_on).delete(traffic::maintenance_off))
        .route("/deployments/{id}", get(deployments::show))
        .route("/deployments/{id}/logs", get(deployments::logs))
        .route("/deployments/{id}/cancel", post(deployments::cancel))
        .route("/upgrade", get(upgrade::show).post(upgrade::start))
        .route("/openapi.json", get(openapi::openapi_json))
        .route("/certificates", get(certificates::list))
        .route("/certificates/{host}", axum::routing::put(certificates::put).delete(certificates::remove))
        .layer(axum::middleware::from_fn_with_state(state.clone(), auth::require_token));
    Router::new()
        .nest("/api/v1", api)
        .merge(dashboard::router())
        .route("/webhooks/github", post(webhook::github).layer(DefaultBodyLimit::max(crate::webhook::MAX_BODY)))
        .route("/webhooks/gitlab", post(webhook::gitlab).layer(DefaultBodyLimit::max(crate::webhook::MAX_BODY)))
        .route("/webhooks/gitea", post(webhook::gitea).layer(DefaultBodyLimit::max(crate::webhook::MAX_BODY)))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .fallback(|| async { ApiError::not_found("this path") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this method is not allowed on this path; see the API table in README.md",
            )
        })
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

#[utoipa::path(get, path = "/healthz", tag = "meta", security(()),
    responses((status = 200, description = "The gateway, its store, restored projects and every node", body = crate::admin::schemas::HealthView)))]
async fn healthz(State(state): State<AdminState>) -> Json<serde_json::Value> {
    let store_ok = state.controller.store().ping().await;
    let report = crate::lock::lock(&state.restore).clone();
    Json(json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "pid": std::process::id(),
        "started_at": views::time(state.started_at),
        "store": if store_ok { "ok" } else { "unreachable" },
        "projects": report.projects,
        "live": report.live,
        "problems": report.problems,
        "notify": state.notifier.report(),
        "nodes": nodes(&state).await,
    }))
}

/// Every gateway on this store, as its heartbeat says.
async fn nodes(state: &AdminState) -> serde_json::Value {
    let Ok(nodes) = state.controller.nodes().await else { return json!([]) };
    let one = |(n, alive): (crate::store::Node, bool)| {
        json!({"node": n.node, "version": n.version, "pid": n.pid, "started_at": views::time(n.started_at),
               "seen_at": views::time(n.seen_at), "alive": alive})
    };
    nodes.into_iter().map(one).collect()
}

#[utoipa::path(get, path = "/metrics", tag = "meta", security(()),
    responses((status = 200, description = "Prometheus text exposition", body = String, content_type = "text/plain")))]
async fn metrics(State(state): State<AdminState>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render())
}

/// JSON object bodies whose rejections become [`ApiError`]s (400, 413, 415 or 422). Every body of this API
/// is an object: serde would also read a struct from an array (`[]`, `[30]`), which is refused here.
pub(crate) struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let Json(value) = Json::<serde_json::Value>::from_request(req, state).await?;
        if !value.is_object() {
            let message = "the body must be a JSON object, such as {}; see the API table in README.md";
            return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body", message));
        }
        let value = serde_json::from_value(value).map_err(|e| {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", format!("{e}. Fix that field and retry"))
        })?;
        Ok(ApiJson(value))
    }
}

/// Path parameters whose rejection is a JSON 400 naming what was expected.
pub(crate) struct ApiPath<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiPath<T>
where
    Path<T>: FromRequestParts<S, Rejection = axum::extract::rejection::PathRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(value) = Path::<T>::from_request_parts(parts, state).await.map_err(|e| {
            ApiError::new(StatusCode::BAD_REQUEST, "bad_path", format!("{}; deployment ids are numbers", e.body_text()))
        })?;
        Ok(ApiPath(value))
    }
}

/// Query strings whose rejection is a JSON 400.
pub(crate) struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    Query<T>: FromRequestParts<S, Rejection = axum::extract::rejection::QueryRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Query(value) = Query::<T>::from_request_parts(parts, state).await.map_err(|e| {
            ApiError::new(StatusCode::BAD_REQUEST, "bad_query", format!("{}; for example ?limit=20", e.body_text()))
        })?;
        Ok(ApiQuery(value))
    }
}
