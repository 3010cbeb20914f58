//! `POST /api/v1/upgrade` replaces this gateway with the binary now at its path; `GET` shows how the last
//! upgrade this process ran went (a successor answers `idle`: it has run none).

use super::error::ApiError;
use super::AdminState;
use crate::upgrade::UpgradeError;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

impl From<UpgradeError> for ApiError {
    fn from(e: UpgradeError) -> Self {
        let code = match e {
            UpgradeError::Starting => "starting",
            UpgradeError::InProgress(_) | UpgradeError::HandedOver => "upgrade_in_progress",
        };
        ApiError::new(StatusCode::CONFLICT, code, e.to_string())
    }
}

#[utoipa::path(post, path = "/api/v1/upgrade", tag = "upgrade",
    responses((status = 202, description = "Started: the binary now at this process's path takes over", body = crate::admin::schemas::UpgradeView)))]
pub(crate) async fn start(State(state): State<AdminState>) -> Result<(StatusCode, Json<Value>), ApiError> {
    state.upgrader.start()?;
    Ok((StatusCode::ACCEPTED, show(State(state)).await))
}

#[utoipa::path(get, path = "/api/v1/upgrade", tag = "upgrade",
    responses((status = 200, description = "How the last upgrade this process ran went", body = crate::admin::schemas::UpgradeView)))]
pub(crate) async fn show(State(state): State<AdminState>) -> Json<Value> {
    let mut view = serde_json::to_value(state.upgrader.state()).unwrap_or_else(|_| json!({}));
    view["pid"] = json!(std::process::id());
    view["version"] = json!(env!("CARGO_PKG_VERSION"));
    Json(view)
}
