//! GitHub's side of a deployment: the REST client, retries with backoff, and the mirror that turns our
//! deployments into GitHub deployments with statuses and a preview's pull-request comment.
//!
//! Nothing here is on a deploy's path: the mirror works from a queue fed by [`crate::outcomes`], and a
//! GitHub that fails or hangs only delays the mirror.

mod client;
mod mirror;

pub(crate) use client::GithubClient;
pub(crate) use mirror::{Mirror, MirrorOptions};

use crate::project::ProjectSpec;
use crate::store::Store;
use std::future::Future;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub(crate) enum GithubError {
    #[error("{what}: GitHub cannot be reached ({message}); check github_api_url and the network")]
    Unreachable { what: String, message: String },
    #[error("{what}: GitHub answered {status}: {message}. Check github_token (it needs deployments, statuses, checks and pull requests access)")]
    Refused { what: String, status: u16, message: String },
    #[error("{what}: GitHub's answer is not what its documentation says: {message}")]
    Malformed { what: String, message: String },
}

impl GithubError {
    /// Worth another try: GitHub unreachable, overloaded or rate limiting.
    fn transient(&self) -> bool {
        match self {
            GithubError::Unreachable { .. } => true,
            GithubError::Refused { status, .. } => *status >= 500 || *status == 429 || *status == 403,
            GithubError::Malformed { .. } => false,
        }
    }
}

/// Backoff between attempts: 0.5 s, 1 s, 2 s, 4 s.
const BACKOFF: [Duration; 4] =
    [Duration::from_millis(500), Duration::from_secs(1), Duration::from_secs(2), Duration::from_secs(4)];

/// Runs `call` until it succeeds, fails for good, or the backoff is used up.
pub(crate) async fn retry<T, F, Fut>(what: &str, mut call: F) -> Result<T, GithubError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, GithubError>>,
{
    let mut waits = BACKOFF.iter();
    loop {
        match call().await {
            Ok(value) => return Ok(value),
            Err(e) if e.transient() => match waits.next() {
                Some(wait) => {
                    tracing::warn!("GitHub {what} failed: {e}; retrying in {wait:?}");
                    tokio::time::sleep(*wait).await;
                }
                None => return Err(e),
            },
            Err(e) => return Err(e),
        }
    }
}

/// `owner/name` on GitHub of a project: from its `repo_url` when that is a github.com address, else as
/// the last verified webhook for it named it.
pub(crate) async fn repository(store: &Store, spec: &ProjectSpec) -> Option<String> {
    let url = crate::webhook::normalize_repo_url(&spec.repo_url);
    let from_url = url.strip_prefix("github.com/").map(|r| serde_json::Value::String(r.to_owned()));
    if let Some(name) = from_url.as_ref().and_then(crate::webhook::repository_name) {
        return Some(name);
    }
    store.github_repo(&spec.name).await.ok().flatten()
}

/// A client for `spec`'s repository, when the project has a GitHub token and a known repository.
pub(crate) async fn client_for(store: &Store, http: &reqwest::Client, spec: &ProjectSpec) -> Option<GithubClient> {
    if spec.github_token.is_empty() {
        return None;
    }
    let repo = repository(store, spec).await?;
    Some(GithubClient::new(http.clone(), &spec.github_api_url, spec.github_token.expose(), &repo))
}
