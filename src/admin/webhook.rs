//! `POST /webhooks/github`, `/webhooks/gitlab` and `/webhooks/gitea`: an authenticated event becomes a
//! deployment of the matching project. One receiver; what differs between the hosts is a [`Host`].

use super::error::ApiError;
use super::{views, AdminState};
use crate::controller::{ControllerError, DeployRequest};
use crate::deployment::Trigger;
use crate::store::{now_ms, Deployment, ProjectRecord};
use crate::webhook::{self, Decision, Host, Refusal, WebhookError};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

#[utoipa::path(post, path = "/webhooks/github", tag = "webhooks", security(()),
    params(("X-GitHub-Event" = Option<String>, Header, description = "push, pull_request, check_run, check_suite, status or ping"),
        ("X-Hub-Signature-256" = String, Header, description = "sha256=<HMAC-SHA256 of the body with the project's webhook_secret>"),
        ("X-GitHub-Delivery" = Option<String>, Header, description = "Deliveries seen before are not deployed twice")),
    request_body(content = Object, description = "GitHub's payload, as JSON or form-encoded"),
    responses((status = 202, description = "A deployment was queued, or the event was taken", body = Object),
        (status = 200, description = "ping answered", body = Object), (status = 204, description = "Nothing to do for this event")))]
pub(crate) async fn github(
    State(state): State<AdminState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    receive(&state, &webhook::GitHub, &headers, &body).await
}

#[utoipa::path(post, path = "/webhooks/gitlab", tag = "webhooks", security(()),
    params(("X-Gitlab-Token" = String, Header, description = "The hook's secret token: the project's webhook_secret"),
        ("X-Gitlab-Event-UUID" = Option<String>, Header, description = "Deliveries seen before are not deployed twice"),
        ("Idempotency-Key" = Option<String>, Header, description = "Kept by GitLab across retries; deduplicated too")),
    request_body(content = Object, description = "GitLab's push hook payload (`object_kind` push; other kinds are answered 204)"),
    responses((status = 202, description = "A deployment was queued", body = Object),
        (status = 200, description = "A delivery seen before: the first deployment", body = Object),
        (status = 204, description = "Nothing to do for this event")))]
pub(crate) async fn gitlab(
    State(state): State<AdminState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    receive(&state, &webhook::GitLab, &headers, &body).await
}

#[utoipa::path(post, path = "/webhooks/gitea", tag = "webhooks", security(()),
    params(("X-Gitea-Signature" = String, Header, description = "Hex HMAC-SHA256 of the JSON payload with the project's webhook_secret; Forgejo's X-Forgejo-Signature is read first"),
        ("X-Gitea-Event" = Option<String>, Header, description = "push deploys; other events are answered 204 (X-Forgejo-Event first)"),
        ("X-Gitea-Delivery" = Option<String>, Header, description = "Deliveries seen before are not deployed twice (X-Forgejo-Delivery first)")),
    request_body(content = Object, description = "Gitea's or Forgejo's payload, as JSON or form-encoded"),
    responses((status = 202, description = "A deployment was queued", body = Object),
        (status = 200, description = "A delivery seen before: the first deployment", body = Object),
        (status = 204, description = "Nothing to do for this event")))]
pub(crate) async fn gitea(
    State(state): State<AdminState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    receive(&state, &webhook::Gitea, &headers, &body).await
}

/// One delivery from any host: authenticated and matched to projects, deduplicated, then acted on.
async fn receive(state: &AdminState, host: &dyn Host, headers: &HeaderMap, body: &[u8]) -> Result<Response, ApiError> {
    let (payload, verified) = authenticate(state, host, headers, body).await?;
    let store = state.controller.store();
    let keys = host.delivery_keys(headers);
    for key in &keys {
        if let Some(first) = store.delivery(key).await? {
            return redelivery(state, key, first).await;
        }
    }
    let event = host.event(headers, &payload);
    let repository = host.github_repository(&payload);
    let mut reply = Reply::default();
    for project in &verified {
        if let Some(repository) = &repository {
            remember_repository(state, project, repository).await;
        }
        act(state, project, host.decide(&event, &payload, &project.spec.branch), &mut reply).await?;
    }
    for key in &keys {
        store.record_delivery(key, reply.deployed.as_ref().map(|d| d.id), now_ms()).await?;
    }
    Ok(reply.into_response(&event))
}

/// The payload and the projects following its repository whose secret the request proves it knows: 401
/// before the body is read without a credential, 404 when no project follows the repository, 401 when
/// none's secret verifies.
async fn authenticate(
    state: &AdminState,
    host: &dyn Host,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(Value, Vec<ProjectRecord>), ApiError> {
    host.well_formed(headers).map_err(unauthorized)?;
    let payload = webhook::payload(webhook::header(headers, "content-type"), body).map_err(|e| {
        let WebhookError::Malformed(detail) = e;
        let message = format!("the body is not a {} payload: {detail}", host.title());
        ApiError::new(StatusCode::BAD_REQUEST, "malformed_payload", message)
    })?;
    let urls = host.urls(&payload);
    let candidates = matching_projects(state, &urls).await?;
    if candidates.is_empty() {
        let repo = urls.first().cloned().unwrap_or_else(|| "(none given)".into());
        let message = format!("no project has repo_url {repo}; set a project's repo_url to this repository");
        return Err(ApiError::new(StatusCode::NOT_FOUND, "unknown_repository", message));
    }
    let verified: Vec<_> =
        candidates.into_iter().filter(|p| host.verify(p.spec.webhook_secret.expose(), headers, body)).collect();
    if verified.is_empty() {
        return Err(unauthorized(host.mismatch()));
    }
    Ok((payload, verified))
}

fn unauthorized(refusal: Refusal) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, refusal.code, refusal.message)
}

/// What one delivery did, over every project it was verified for.
#[derive(Default)]
struct Reply {
    deployed: Option<Deployment>,
    pong: bool,
    accepted: Vec<Value>,
    ignored: Vec<String>,
}

impl Reply {
    fn into_response(self, event: &str) -> Response {
        match self.deployed {
            Some(d) => (StatusCode::ACCEPTED, Json(views::deployment(&d))).into_response(),
            None if !self.accepted.is_empty() => {
                (StatusCode::ACCEPTED, Json(json!({"ok": true, "event": event, "accepted": self.accepted})))
                    .into_response()
            }
            None if self.pong => (StatusCode::OK, Json(json!({"ok": true, "event": event}))).into_response(),
            None => {
                tracing::info!("webhook {event} ignored: {}", self.ignored.join("; "));
                StatusCode::NO_CONTENT.into_response()
            }
        }
    }
}

async fn act(
    state: &AdminState,
    project: &ProjectRecord,
    decision: Decision,
    reply: &mut Reply,
) -> Result<(), ApiError> {
    let (controller, name) = (&state.controller, project.spec.name.as_str());
    match decision {
        Decision::Pong => reply.pong = true,
        Decision::Ignore(reason) => reply.ignored.push(reason),
        Decision::Deploy { commit, branch } if reply.deployed.is_none() => {
            let d = controller.submit(name, push_request(Some(branch), commit)).await?;
            controller.supersede_waiting(name, d.id).await?;
            reply.deployed = Some(d);
        }
        Decision::Preview(_) if !project.spec.previews => {
            reply
                .ignored
                .push(format!("project `{name}` has previews off; set previews = true to preview pull requests"));
        }
        Decision::Preview(pr) if reply.deployed.is_none() => match controller.open_preview(project, &pr).await {
            Ok(d) => reply.deployed = Some(d),
            Err(ControllerError::PreviewRefused(reason)) => {
                tracing::warn!(project = name, "pull request #{} not previewed: {reason}", pr.number);
                reply.ignored.push(reason);
            }
            Err(e) => return Err(e.into()),
        },
        Decision::ClosePreview { number } => {
            if let Some(preview) = controller.close_preview(name, number).await? {
                reply.accepted.push(json!({"preview": preview, "removing": true}));
            }
        }
        Decision::Checks(reports) => {
            controller.record_checks(name, &reports).await?;
            reply.accepted.push(json!({"project": name, "checks": reports.len()}));
        }
        Decision::Deploy { .. } | Decision::Preview(_) => {}
    }
    Ok(())
}

fn push_request(branch: Option<String>, commit: String) -> DeployRequest {
    DeployRequest {
        git_ref: branch,
        commit: Some(commit),
        targets: Vec::new(),
        trigger: Some(Trigger::Webhook),
        canary_percent: None,
    }
}

/// The GitHub `owner/name` of a verified delivery, for statuses and the checks API.
async fn remember_repository(state: &AdminState, project: &ProjectRecord, repository: &str) {
    if let Err(e) = state.controller.store().set_github_repo(&project.spec.name, repository, now_ms()).await {
        tracing::warn!("cannot remember the GitHub repository of `{}`: {e}", project.spec.name);
    }
}

/// Projects following one of `urls`; previews share their parent's repository but follow their pull
/// request, never the webhook.
async fn matching_projects(state: &AdminState, urls: &[String]) -> Result<Vec<ProjectRecord>, ApiError> {
    let store = state.controller.store();
    let previews: Vec<String> = store.live_previews().await?.into_iter().map(|p| p.project).collect();
    Ok(store
        .projects()
        .await?
        .into_iter()
        .filter_map(Result::ok)
        .filter(|p| !p.spec.repo_url.is_empty() && urls.contains(&webhook::normalize_repo_url(&p.spec.repo_url)))
        .filter(|p| !previews.contains(&p.spec.name))
        .collect())
}

/// Hosts redeliver on timeouts; the first answer's deployment is returned, nothing new is queued.
async fn redelivery(state: &AdminState, delivery: &str, first: Option<i64>) -> Result<Response, ApiError> {
    let d = match first {
        Some(id) => state.controller.store().deployment(id).await?,
        None => None,
    };
    let body = match d {
        Some(d) => views::deployment(&d),
        None => json!({"ok": true, "duplicate": delivery}),
    };
    Ok((StatusCode::OK, Json(body)).into_response())
}
