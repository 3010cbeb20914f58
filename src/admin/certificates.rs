//! `/api/v1/certificates`: every host's certificate state, and uploaded (custom) certificates.

use super::error::ApiError;
use super::{AdminState, ApiJson, ApiPath};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::Value;

#[utoipa::path(get, path = "/api/v1/certificates", tag = "certificates",
    responses((status = 200, description = "Every host's certificate", body = Vec<crate::acme::CertView>)))]
pub(crate) async fn list(State(state): State<AdminState>) -> Result<Json<Value>, ApiError> {
    let views = state.certs.list().await?;
    Ok(Json(serde_json::to_value(views).unwrap_or_default()))
}

/// The body of `PUT /api/v1/certificates/{host}`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Upload {
    cert_pem: String,
    key_pem: String,
}

#[utoipa::path(put, path = "/api/v1/certificates/{host}", tag = "certificates", params(("host" = String, Path, description = "The host name, or `*.example.com` for a wildcard")), request_body = Upload,
    responses((status = 200, description = "Stored and served from now on; it wins over ACME", body = crate::acme::CertView)))]
pub(crate) async fn put(
    State(state): State<AdminState>,
    ApiPath(host): ApiPath<String>,
    ApiJson(upload): ApiJson<Upload>,
) -> Result<Json<Value>, ApiError> {
    let view = state.certs.upload(&host, &upload.cert_pem, &upload.key_pem).await?;
    Ok(Json(serde_json::to_value(view).unwrap_or_default()))
}

#[utoipa::path(delete, path = "/api/v1/certificates/{host}", tag = "certificates", params(("host" = String, Path, description = "The host name, or `*.example.com` for a wildcard")),
    responses((status = 204, description = "Removed; ACME takes over if the host wants a certificate")))]
pub(crate) async fn remove(
    State(state): State<AdminState>,
    ApiPath(host): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    state.certs.remove(&host).await?;
    Ok(StatusCode::NO_CONTENT)
}
