//! Every deployment of a project with a `github_token`, mirrored as a GitHub deployment: in_progress when
//! it starts, success with the live URL, failure with the error, inactive once superseded or rolled back;
//! a preview's URL goes into one pull-request comment, updated on every deploy.

use super::client::StatusState;
use super::{client_for, retry, GithubClient, GithubError};
use crate::outcomes::{Listener, Outcome, OutcomeKind};
use crate::store::{Deployment, Preview, Store};
use tokio::sync::mpsc;

/// Outcomes waiting for GitHub; more are dropped (and logged) rather than held in memory.
const QUEUE: usize = 256;

#[derive(Debug, Clone)]
pub(crate) struct MirrorOptions {
    /// `http(s)://host` of the dashboard, for `log_url`.
    pub(crate) dashboard: String,
    /// Whether projects' domains are served over HTTPS (an `https_listen` is set).
    pub(crate) https: bool,
}

/// The mirror's queue; its worker runs until the process ends.
pub(crate) struct Mirror {
    tx: mpsc::Sender<Outcome>,
}

impl Mirror {
    pub(crate) fn start(store: Store, options: MirrorOptions) -> Mirror {
        let (tx, mut rx) = mpsc::channel::<Outcome>(QUEUE);
        let http = crate::outbound::client(std::time::Duration::from_secs(10));
        tokio::spawn(async move {
            while let Some(outcome) = rx.recv().await {
                let d = &outcome.deployment;
                if let Err(e) = mirror(&store, &http, &options, &outcome).await {
                    tracing::warn!(deployment_id = d.id, "cannot mirror {} on GitHub: {e}", outcome.kind.as_str());
                }
            }
        });
        Mirror { tx }
    }
}

impl Listener for Mirror {
    fn offer(&self, outcome: &Outcome) {
        if self.tx.try_send(outcome.clone()).is_err() {
            tracing::warn!(
                deployment_id = outcome.deployment.id,
                "GitHub mirror queue is full; this status is not sent"
            );
        }
    }
}

async fn mirror(
    store: &Store,
    http: &reqwest::Client,
    options: &MirrorOptions,
    outcome: &Outcome,
) -> Result<(), GithubError> {
    let d = &outcome.deployment;
    let Ok(Some(record)) = store.project(&d.project).await else { return Ok(()) };
    let Some(client) = client_for(store, http, &record.spec).await else { return Ok(()) };
    let preview = store.preview(&d.project).await.ok().flatten().filter(|p| p.removed_at.is_none());
    let url = record.spec.domains.first().map(|host| {
        let scheme = if options.https && record.spec.tls != crate::project::TlsMode::Off { "https" } else { "http" };
        format!("{scheme}://{host}")
    });
    let log_url = format!("{}/deployments/{}", options.dashboard, d.id);
    let (state, description) = match outcome.kind {
        OutcomeKind::Started => (StatusState::InProgress, format!("deploying {}", short(d))),
        OutcomeKind::Succeeded => (StatusState::Success, format!("live: {}", short(d))),
        OutcomeKind::Failed | OutcomeKind::Cancelled => {
            (StatusState::Failure, d.error.clone().unwrap_or_else(|| outcome.kind.as_str().to_owned()))
        }
        OutcomeKind::RolledBack | OutcomeKind::Superseded => (StatusState::Inactive, outcome.kind.as_str().to_owned()),
    };
    let existing = store.github_deployment(d.id).await.ok().flatten();
    let id = match (existing, state) {
        (Some(id), _) => id,
        // Nothing to mark inactive that GitHub never saw.
        (None, StatusState::Inactive) => return Ok(()),
        (None, _) => {
            let Some(id) = create(store, &client, d, preview.as_ref()).await? else { return Ok(()) };
            id
        }
    };
    let environment_url = (state == StatusState::Success).then_some(url.as_deref()).flatten();
    retry("deployment status", || client.create_status(id, state, &description, environment_url, Some(&log_url)))
        .await?;
    if let (Some(preview), Some(url), StatusState::Success) = (&preview, &url, state) {
        comment(store, &client, preview, d, url).await?;
    }
    Ok(())
}

/// Creates the GitHub deployment of `d` (a deployment without a commit, such as an external one, has none).
async fn create(
    store: &Store,
    client: &GithubClient,
    d: &Deployment,
    preview: Option<&Preview>,
) -> Result<Option<i64>, GithubError> {
    let Some(commit) = d.commit.as_deref() else { return Ok(None) };
    let environment = preview.map_or_else(|| "production".to_owned(), |p| format!("preview-pr-{}", p.number));
    let description = format!("versiongate deployment {} of {}", d.id, d.project);
    let id =
        retry("deployment", || client.create_deployment(commit, &environment, &description, preview.is_some())).await?;
    if let Err(e) = store.set_github_deployment(d.id, id).await {
        tracing::warn!(deployment_id = d.id, "cannot remember GitHub deployment {id}: {e}");
    }
    Ok(Some(id))
}

/// One comment per pull request, edited on every deploy of its preview.
async fn comment(
    store: &Store,
    client: &GithubClient,
    p: &Preview,
    d: &Deployment,
    url: &str,
) -> Result<(), GithubError> {
    let body = format!(
        "**Preview of #{}** is live at {url}\n\nCommit `{}` · versiongate deployment {} · project `{}`",
        p.number,
        short(d),
        d.id,
        d.project
    );
    // The preview row is read again: an earlier deploy may have posted the comment since `p` was read.
    let fresh = store.preview(&p.project).await.ok().flatten();
    match fresh.and_then(|p| p.comment_id) {
        Some(comment) => retry("comment update", || client.update_comment(comment, &body)).await,
        None => {
            let id = retry("comment", || client.create_comment(p.number, &body)).await?;
            if let Err(e) = store.set_preview_comment(&p.project, id).await {
                tracing::warn!("cannot remember comment {id} of pull request #{}: {e}", p.number);
            }
            Ok(())
        }
    }
}

fn short(d: &Deployment) -> String {
    d.commit.as_deref().map_or_else(|| d.id.to_string(), |c| c.chars().take(12).collect())
}
