//! `/api/v1/certificates`: every host's certificate state, and uploaded (custom) certificates.

use super::error::ApiError;
use super::{AdminState, ApiJson, ApiPath};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::Value;

pub(crate) async fn list(State(state): State<AdminState>) -> Result<Json<Value>, ApiError> {
    let views = state.certs.list().await?;
    Ok(Json(serde_json::to_value(views).unwrap_or_default()))
}

/// The body of `PUT /api/v1/certificates/{host}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Upload {
    cert_pem: String,
    key_pem: String,
}

pub(crate) async fn put(
    State(state): State<AdminState>,
    ApiPath(host): ApiPath<String>,
    ApiJson(upload): ApiJson<Upload>,
) -> Result<Json<Value>, ApiError> {
    let view = state.certs.upload(&host, &upload.cert_pem, &upload.key_pem).await?;
    Ok(Json(serde_json::to_value(view).unwrap_or_default()))
}

pub(crate) async fn remove(
    State(state): State<AdminState>,
    ApiPath(host): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    state.certs.remove(&host).await?;
    Ok(StatusCode::NO_CONTENT)
}
