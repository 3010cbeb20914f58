//! `/api/v1/…/deployments`: start, list, show, cancel, and read or follow a deployment's log.

use super::deploy_token::Principal;
use super::error::ApiError;
use super::{views, AdminState, ApiJson, ApiPath, ApiQuery};
use crate::controller::DeployRequest;
use crate::deployment::Trigger;
use crate::store::Store;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use futures_util::stream::{self, Stream};
use serde::Deserialize;
use serde_json::Value;
use std::convert::Infallible;
use std::time::Duration;

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeployBody {
    #[serde(rename = "ref")]
    git_ref: Option<String>,
    target: Option<String>,
    targets: Option<Vec<String>>,
    #[schema(minimum = 1, maximum = 99)]
    canary_percent: Option<i64>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListQuery {
    /// How many, newest first (default 20; 1–500).
    limit: Option<i64>,
}

#[utoipa::path(post, path = "/api/v1/projects/{name}/deployments", tag = "deployments", params(("name" = String, Path, description = "The project's name")), request_body = DeployBody,
    responses((status = 202, description = "Queued; follow it with GET /api/v1/deployments/{id}", body = crate::admin::schemas::DeploymentView)))]
pub(crate) async fn create(
    State(state): State<AdminState>,
    principal: Option<Extension<Principal>>,
    ApiPath(name): ApiPath<String>,
    ApiJson(body): ApiJson<DeployBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let targets = match (body.target, body.targets) {
        (Some(_), Some(_)) => {
            let message = "give `target` (one address) or `targets` (a list), not both";
            return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", message));
        }
        (Some(one), None) => vec![one],
        (None, Some(many)) => many,
        (None, None) => Vec::new(),
    };
    let trigger = Some(Trigger::Api);
    let request =
        DeployRequest { git_ref: body.git_ref, targets, trigger, commit: None, canary_percent: body.canary_percent };
    let d = state.controller.submit(&name, request).await?;
    if let Some(Extension(Principal::Deploy { project })) = principal {
        tracing::info!(project = %name, deployment_id = d.id, "deployment requested with the deploy token of `{project}`");
    }
    Ok((StatusCode::ACCEPTED, Json(views::deployment(&d))))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RollbackBody {
    to: Option<i64>,
}

/// `{}` returns to the previous good deployment; `{"to": ID}` to any deployment whose image is retained.
#[utoipa::path(post, path = "/api/v1/projects/{name}/rollback", tag = "deployments", params(("name" = String, Path, description = "The project's name")), request_body = RollbackBody,
    responses((status = 202, description = "The rollback deployment", body = crate::admin::schemas::DeploymentView)))]
pub(crate) async fn rollback(
    State(state): State<AdminState>,
    ApiPath(name): ApiPath<String>,
    ApiJson(body): ApiJson<RollbackBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let d = state.controller.rollback(&name, body.to).await?;
    Ok((StatusCode::ACCEPTED, Json(with_figures(&state, &d))))
}

/// The deployment's JSON, with its observe window's live figures while one runs.
pub(crate) fn with_figures(state: &AdminState, d: &crate::store::Deployment) -> Value {
    let mut v = views::deployment(d);
    if let Some(figures) = state.controller.observe_figures(&d.project, d.id) {
        v["observe"] = serde_json::to_value(figures).unwrap_or(Value::Null);
    }
    if let Some((_, percent, figures)) = state.controller.canary_of(&d.project).filter(|c| c.0 == d.id) {
        v["canary"] = serde_json::json!({
            "percent": percent, "requests": figures.requests, "errors": figures.errors, "error_rate": figures.error_rate,
        });
    }
    v
}

/// Every client goes to the running canary: the switch, observe window and drain follow.
#[utoipa::path(post, path = "/api/v1/projects/{name}/promote", tag = "deployments", params(("name" = String, Path, description = "The project's name")),
    responses((status = 202, description = "The canary, now switching every client", body = crate::admin::schemas::DeploymentView)))]
pub(crate) async fn promote(
    State(state): State<AdminState>,
    ApiPath(name): ApiPath<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let d = state.controller.promote(&name).await?;
    Ok((StatusCode::ACCEPTED, Json(with_figures(&state, &d))))
}

#[utoipa::path(get, path = "/api/v1/projects/{name}/deployments", tag = "deployments", params(("name" = String, Path, description = "The project's name"), ListQuery),
    responses((status = 200, description = "The newest deployments first", body = Vec<crate::admin::schemas::DeploymentView>)))]
pub(crate) async fn list(
    State(state): State<AdminState>,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let store = state.controller.store();
    if store.project(&name).await?.is_none() {
        return Err(ApiError::not_found(format!("project `{name}`")));
    }
    let limit = q.limit.unwrap_or(20).clamp(1, 500);
    let list = store.deployments(&name, limit).await?;
    Ok(Json(Value::Array(list.iter().map(views::deployment).collect())))
}

#[utoipa::path(get, path = "/api/v1/deployments/{id}", tag = "deployments", params(("id" = i64, Path, description = "The deployment's id")),
    responses((status = 200, description = "The deployment and its events", body = crate::admin::schemas::DeploymentDetail)))]
pub(crate) async fn show(State(state): State<AdminState>, ApiPath(id): ApiPath<i64>) -> Result<Json<Value>, ApiError> {
    let store = state.controller.store();
    let d = store.deployment(id).await?.ok_or_else(|| ApiError::not_found(format!("deployment {id}")))?;
    let mut v = with_figures(&state, &d);
    let events = store.events(id).await?;
    v["events"] = events
        .iter()
        .map(|e| serde_json::json!({"status": e.status, "phase": e.phase, "message": e.message, "at": views::time(e.at)}))
        .collect();
    Ok(Json(v))
}

#[utoipa::path(post, path = "/api/v1/deployments/{id}/cancel", tag = "deployments", params(("id" = i64, Path, description = "The deployment's id")),
    responses((status = 200, description = "Cancelled; the live version is untouched", body = crate::admin::schemas::DeploymentView)))]
pub(crate) async fn cancel(
    State(state): State<AdminState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Value>, ApiError> {
    let d = state.controller.cancel(id).await?;
    Ok(Json(views::deployment(&d)))
}

/// Plain text by default; with `Accept: text/event-stream`, one event per line until the deployment settles.
#[utoipa::path(get, path = "/api/v1/deployments/{id}/logs", tag = "deployments", params(("id" = i64, Path, description = "The deployment's id")),
    responses((status = 200, description = "The log as plain text, or with `Accept: text/event-stream` one event per line and an `end` event with the status", content((String = "text/plain"), (String = "text/event-stream")))))]
pub(crate) async fn logs(
    State(state): State<AdminState>,
    ApiPath(id): ApiPath<i64>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let store = state.controller.store().clone();
    if store.deployment(id).await?.is_none() {
        return Err(ApiError::not_found(format!("deployment {id}")));
    }
    let wants_sse =
        headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("text/event-stream"));
    if wants_sse {
        return Ok(Sse::new(follow(store, id)).keep_alive(KeepAlive::default()).into_response());
    }
    let mut text = String::new();
    for line in store.log_lines(id).await? {
        text.push_str(&line);
        text.push('\n');
    }
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response())
}

/// Polls the store, so lines written by any process are streamed; ends with an `end` event naming the status.
fn follow(store: Store, id: i64) -> impl Stream<Item = Result<Event, Infallible>> {
    let state = (store, 0i64, Vec::<Event>::new(), false);
    stream::unfold(state, move |(store, mut after, mut pending, mut ended)| async move {
        loop {
            if let Some(event) = pending.pop() {
                return Some((Ok(event), (store, after, pending, ended)));
            }
            if ended {
                return None;
            }
            let settled = match store.deployment(id).await {
                Ok(Some(d)) => d.status.is_settled(d.phase).then_some(d.status),
                _ => None,
            };
            let lines = store.logs(id, after, 500).await.unwrap_or_default();
            if let Some(last) = lines.last() {
                after = last.seq;
            }
            pending = lines.into_iter().rev().map(|l| Event::default().data(l.line)).collect();
            if let Some(status) = settled {
                pending.insert(0, Event::default().event("end").data(status.as_str()));
                ended = true;
            } else if pending.is_empty() {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    })
}
