//! `/api/v1/projects/{name}/pause|resume|maintenance`: the operator's traffic controls.

use super::error::ApiError;
use super::{AdminState, ApiJson, ApiPath};
use crate::routes::{TrafficChange, TrafficState};
use axum::extract::State;
use axum::Json;
use serde::Deserialize;

/// How long a paused project holds a request when the body does not say.
const DEFAULT_TIMEOUT_S: i64 = 30;

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PauseBody {
    /// How long a request is held at most (default 30).
    #[schema(minimum = 1, maximum = 3600)]
    timeout_s: Option<i64>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MaintenanceBody {
    #[serde(default)]
    message: String,
}

#[utoipa::path(post, path = "/api/v1/projects/{name}/pause", tag = "traffic", params(("name" = String, Path, description = "The project's name")), request_body = PauseBody,
    responses((status = 200, description = "Paused: new requests wait", body = TrafficState)))]
pub(crate) async fn pause(
    State(state): State<AdminState>,
    ApiPath(name): ApiPath<String>,
    ApiJson(body): ApiJson<PauseBody>,
) -> Result<Json<TrafficState>, ApiError> {
    let change = TrafficChange::Pause { timeout_s: body.timeout_s.unwrap_or(DEFAULT_TIMEOUT_S) };
    Ok(Json(state.controller.change_traffic(&name, change).await?))
}

#[utoipa::path(post, path = "/api/v1/projects/{name}/resume", tag = "traffic", params(("name" = String, Path, description = "The project's name")),
    responses((status = 200, description = "Serving again; held requests go through oldest first", body = TrafficState)))]
pub(crate) async fn resume(
    State(state): State<AdminState>,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<TrafficState>, ApiError> {
    Ok(Json(state.controller.change_traffic(&name, TrafficChange::Resume).await?))
}

#[utoipa::path(post, path = "/api/v1/projects/{name}/maintenance", tag = "traffic", params(("name" = String, Path, description = "The project's name")), request_body = MaintenanceBody,
    responses((status = 200, description = "Every request gets the 503 maintenance page", body = TrafficState)))]
pub(crate) async fn maintenance_on(
    State(state): State<AdminState>,
    ApiPath(name): ApiPath<String>,
    ApiJson(body): ApiJson<MaintenanceBody>,
) -> Result<Json<TrafficState>, ApiError> {
    let change = TrafficChange::Maintenance { message: body.message.trim().to_owned() };
    Ok(Json(state.controller.change_traffic(&name, change).await?))
}

#[utoipa::path(delete, path = "/api/v1/projects/{name}/maintenance", tag = "traffic", params(("name" = String, Path, description = "The project's name")),
    responses((status = 200, description = "Serving again", body = TrafficState)))]
pub(crate) async fn maintenance_off(
    State(state): State<AdminState>,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<TrafficState>, ApiError> {
    Ok(Json(state.controller.change_traffic(&name, TrafficChange::EndMaintenance).await?))
}
