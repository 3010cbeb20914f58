//! `POST /webhooks/github`: a signed GitHub event becomes a deployment of the matching project.

use super::error::ApiError;
use super::{views, AdminState};
use crate::controller::DeployRequest;
use crate::deployment::Trigger;
use crate::store::{now_ms, ProjectRecord};
use crate::webhook::{self, Decision};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

pub(crate) async fn github(
    State(state): State<AdminState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let payload = webhook::payload(header(&headers, "content-type"), &body)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "malformed_payload", e.to_string()))?;
    let urls = webhook::repository_urls(&payload);
    let candidates = matching_projects(&state, &urls).await?;
    if candidates.is_empty() {
        let repo = urls.first().cloned().unwrap_or_else(|| "(none given)".into());
        let message = format!("no project has repo_url {repo}; set a project's repo_url to this repository");
        return Err(ApiError::new(StatusCode::NOT_FOUND, "unknown_repository", message));
    }
    let signature = header(&headers, "x-hub-signature-256");
    let verified: Vec<_> = candidates
        .into_iter()
        .filter(|p| webhook::signature_matches(p.spec.webhook_secret.expose(), &body, signature))
        .collect();
    if verified.is_empty() {
        let message = "X-Hub-Signature-256 is missing or wrong: set the same secret in the GitHub webhook and in the project's webhook_secret";
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
    let mut deployed = None;
    let mut answer = (StatusCode::NO_CONTENT, String::new());
    for project in &verified {
        match webhook::decide(event, &payload, &project.spec.branch) {
            Decision::Pong => answer = (StatusCode::OK, "pong".into()),
            Decision::Ignore(reason) => answer.1 = reason,
            Decision::Deploy { commit, branch } if deployed.is_none() => {
                let request = DeployRequest {
                    git_ref: Some(branch),
                    commit: Some(commit),
                    targets: Vec::new(),
                    trigger: Some(Trigger::Webhook),
                    canary_percent: None,
                };
                deployed = Some(state.controller.submit(&project.spec.name, request).await?);
            }
            Decision::Deploy { .. } => {}
        }
    }
    if let Some(delivery) = &delivery {
        store.record_delivery(delivery, deployed.as_ref().map(|d| d.id), now_ms()).await?;
    }
    Ok(match deployed {
        Some(d) => (StatusCode::ACCEPTED, Json(views::deployment(&d))).into_response(),
        None if answer.0 == StatusCode::OK => {
            (StatusCode::OK, Json(json!({"ok": true, "event": event}))).into_response()
        }
        None => {
            tracing::info!("webhook {event} ignored: {}", answer.1);
            StatusCode::NO_CONTENT.into_response()
        }
    })
}

async fn matching_projects(state: &AdminState, urls: &[String]) -> Result<Vec<ProjectRecord>, ApiError> {
    let all = state.controller.store().projects().await?;
    Ok(all
        .into_iter()
        .filter_map(Result::ok)
        .filter(|p| !p.spec.repo_url.is_empty() && urls.contains(&webhook::normalize_repo_url(&p.spec.repo_url)))
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
