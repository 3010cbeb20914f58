//! `POST /webhooks/github`: a signed GitHub event becomes a deployment of the matching project.

use super::error::ApiError;
use super::{views, AdminState};
use crate::controller::{ControllerError, DeployRequest};
use crate::deployment::Trigger;
use crate::store::{now_ms, Deployment, ProjectRecord};
use crate::webhook::{self, Decision};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

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
    let signature = header(&headers, "x-hub-signature-256");
    if !webhook::signature_well_formed(signature) {
        let message = "X-Hub-Signature-256 is missing or not `sha256=<64 hex digits>`: set a secret in the GitHub webhook (content type application/json) and the same one in the project's webhook_secret";
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, "bad_signature", message));
    }
    let payload = webhook::payload(header(&headers, "content-type"), &body)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "malformed_payload", e.to_string()))?;
    let urls = webhook::repository_urls(&payload);
    let candidates = matching_projects(&state, &urls).await?;
    if candidates.is_empty() {
        let repo = urls.first().cloned().unwrap_or_else(|| "(none given)".into());
        let message = format!("no project has repo_url {repo}; set a project's repo_url to this repository");
        return Err(ApiError::new(StatusCode::NOT_FOUND, "unknown_repository", message));
    }
    let verified: Vec<_> = candidates
        .into_iter()
        .filter(|p| webhook::signature_matches(p.spec.webhook_secret.expose(), &body, signature))
        .collect();
    if verified.is_empty() {
        let message = "X-Hub-Signature-256 does not match this body: set the same secret in the GitHub webhook and in the project's webhook_secret";
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, "bad_signature", message));
    }
    let store = state.controller.store();
    let delivery = header(&headers, "x-github-delivery").map(str::to_owned);
    if let Some(delivery) = &delivery {
        if let Some(first) = store.delivery(delivery).await? {
            return redelivery(&state, delivery, first).await;
        }
    }
    let event = header(&headers, "x-github-event").unwrap_or_default();
    let mut reply = Reply::default();
    for project in &verified {
        remember_repository(&state, project, &payload).await;
        act(&state, project, webhook::decide(event, &payload, &project.spec.branch), &mut reply).await?;
    }
    if let Some(delivery) = &delivery {
        store.record_delivery(delivery, reply.deployed.as_ref().map(|d| d.id), now_ms()).await?;
    }
    Ok(reply.into_response(event))
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
async fn remember_repository(state: &AdminState, project: &ProjectRecord, payload: &Value) {
    let Some(repository) = webhook::repository_name(&payload["repository"]["full_name"]) else { return };
    if let Err(e) = state.controller.store().set_github_repo(&project.spec.name, &repository, now_ms()).await {
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

/// GitHub redelivers on timeouts; the first answer's deployment is returned, nothing new is queued.
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
