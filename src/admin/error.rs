//! The one API error type, and the one place where errors become HTTP statuses.

use crate::acme::AcmeError;
use crate::controller::ControllerError;
use crate::project::ProjectError;
use crate::store::StoreError;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

#[derive(Debug)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) code: &'static str,
    pub(crate) message: String,
    pub(crate) field: Option<String>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into(), field: None }
    }

    pub(crate) fn not_found(what: impl std::fmt::Display) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("{what} does not exist"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(code = self.code, "API error: {}", self.message);
        }
        let mut error = json!({ "code": self.code, "message": self.message });
        if let Some(field) = self.field {
            error["field"] = json!(field);
        }
        (self.status, Json(json!({ "error": error }))).into_response()
    }
}

impl From<ProjectError> for ApiError {
    fn from(e: ProjectError) -> Self {
        let mut err = ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", e.to_string());
        err.field = Some(e.field);
        err
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "conflict", m),
            StoreError::NotFound(what) => ApiError::not_found(what),
            StoreError::Transition(t) => ApiError::new(StatusCode::CONFLICT, "illegal_transition", t.to_string()),
            StoreError::Query(_) | StoreError::Connect { .. } => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "store_unavailable", e.to_string())
            }
            other => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", other.to_string()),
        }
    }
}

impl From<ControllerError> for ApiError {
    fn from(e: ControllerError) -> Self {
        let (status, code) = match &e {
            ControllerError::Store(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
            ControllerError::ProjectNotFound(_) | ControllerError::DeploymentNotFound(_) => {
                (StatusCode::NOT_FOUND, "not_found")
            }
            ControllerError::BadTarget { .. } | ControllerError::WrongRequest(_) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "invalid_request")
            }
            ControllerError::NotCancellable { .. }
            | ControllerError::Busy(_)
            | ControllerError::RunElsewhere { .. }
            | ControllerError::Traffic(_)
            | ControllerError::PreviewRefused(_)
            | ControllerError::Cluster(_) => (StatusCode::CONFLICT, "conflict"),
        };
        match e {
            ControllerError::Store(store) => store.into(),
            other => ApiError::new(status, code, other.to_string()),
        }
    }
}

impl From<AcmeError> for ApiError {
    fn from(e: AcmeError) -> Self {
        let message = e.to_string();
        match e {
            AcmeError::Cert(_) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_certificate", message),
            AcmeError::BadHost(_) => ApiError::new(StatusCode::BAD_REQUEST, "bad_host", message),
            AcmeError::NotFound(host) => ApiError::not_found(format!("an uploaded certificate for {host}")),
            AcmeError::Store(store) => store.into(),
            _ => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        let text = rejection.body_text();
        match rejection {
            JsonRejection::JsonDataError(_) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_field",
                format!("{text}. Fix that field and retry"),
            ),
            JsonRejection::MissingJsonContentType(_) => ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as JSON with Content-Type: application/json",
            ),
            JsonRejection::BytesRejection(_) => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "the body is over 1 MiB; send a smaller request",
            ),
            _ => {
                ApiError::new(StatusCode::BAD_REQUEST, "malformed_json", format!("the body is not valid JSON: {text}"))
            }
        }
    }
}
