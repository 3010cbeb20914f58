//! Why a deployment did not go live: the pipeline's one error type. Its `Display` is exactly what lands in
//! the deployment's `error`.

use crate::health::HealthError;
use crate::runtime::RuntimeError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub(crate) enum PipelineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("project `{0}` was removed while its deployment waited")]
    ProjectGone(String),
    #[error("health check failed: {0}")]
    Unhealthy(String),
    #[error(transparent)]
    Runtime(RuntimeError),
    #[error(transparent)]
    Nginx(#[from] crate::nginx::NginxError),
    #[error("cancelled by the operator")]
    Cancelled,
    #[error("{0}")]
    Overdue(String),
    /// A required check failed: the deployment ends CANCELLED.
    #[error("{0}")]
    CheckFailed(String),
    #[error("{0}")]
    ChecksTimedOut(String),
    #[error("internal error, see log: {0}")]
    Internal(String),
}

impl From<HealthError> for PipelineError {
    fn from(e: HealthError) -> Self {
        match e {
            HealthError::Cancelled => PipelineError::Cancelled,
            other => PipelineError::Unhealthy(other.to_string()),
        }
    }
}

impl From<RuntimeError> for PipelineError {
    fn from(e: RuntimeError) -> Self {
        match e {
            RuntimeError::Cancelled => PipelineError::Cancelled,
            RuntimeError::Internal(message) => PipelineError::Internal(message),
            RuntimeError::Store(e) => PipelineError::Store(e),
            other => PipelineError::Runtime(other),
        }
    }
}
