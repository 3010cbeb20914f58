//! What a controller call can fail with; the admin API maps each to its HTTP status in one place.

use crate::deployment::Status;
use crate::runtime::RequestError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("project `{0}` does not exist; list projects with `versiongate projects list`")]
    ProjectNotFound(String),
    #[error("deployment {0} does not exist")]
    DeploymentNotFound(i64),
    #[error("target `{target}` {message}")]
    BadTarget { target: String, message: String },
    #[error("{0}")]
    WrongRequest(String),
    #[error("deployment {id} is {status}; only QUEUED or DEPLOYING deployments can be cancelled")]
    NotCancellable { id: i64, status: Status },
    #[error("project `{0}` has a deployment in progress; cancel it or wait for it to end first")]
    Busy(String),
    #[error("deployment {id} is run by the gateway process {pid}, which is finishing it after an upgrade; it cannot be cancelled from this one. Wait for it to end, then deploy or roll back")]
    RunElsewhere { id: i64, pid: String },
    #[error("{0}")]
    Traffic(String),
    #[error("{0}")]
    PreviewRefused(String),
    #[error("{0}")]
    Cluster(String),
}

impl From<RequestError> for ControllerError {
    fn from(e: RequestError) -> Self {
        match e {
            RequestError::BadTarget { target, message } => ControllerError::BadTarget { target, message },
            RequestError::Wrong(message) => ControllerError::WrongRequest(message),
        }
    }
}
