//! `/api/v1/projects/{name}/pause|resume|maintenance`: the operator's traffic controls.

use super::error::ApiError;
use super::{AdminState, ApiJson, ApiPath};
use crate::routes::{TrafficChange, TrafficState};
use axum::extract::State;
use axum::Json;
use serde::Deserialize;

/// How long a paused project holds a request when the body does not say.
const DEFAULT_TIMEOUT_S: i64 = 30;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PauseBody {
    timeout_s: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MaintenanceBody {
    #[serde(default)]
    message: String,
}

pub(crate) async fn pause(
    State(state): State<AdminState>,
    ApiPath(name): ApiPath<String>,
    ApiJson(body): ApiJson<PauseBody>,
) -> Result<Json<TrafficState>, ApiError> {
    let change = TrafficChange::Pause { timeout_s: body.timeout_s.unwrap_or(DEFAULT_TIMEOUT_S) };
    Ok(Json(state.controller.change_traffic(&name, change).await?))
}

pub(crate) async fn resume(
    State(state): State<AdminState>,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<TrafficState>, ApiError> {
    Ok(Json(state.controller.change_traffic(&name, TrafficChange::Resume).await?))
}

pub(crate) async fn maintenance_on(
    State(state): State<AdminState>,
    ApiPath(name): ApiPath<String>,
    ApiJson(body): ApiJson<MaintenanceBody>,
) -> Result<Json<TrafficState>, ApiError> {
    let change = TrafficChange::Maintenance { message: body.message.trim().to_owned() };
    Ok(Json(state.controller.change_traffic(&name, change).await?))
}

pub(crate) async fn maintenance_off(
    State(state): State<AdminState>,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<TrafficState>, ApiError> {
    Ok(Json(state.controller.change_traffic(&name, TrafficChange::EndMaintenance).await?))
}
