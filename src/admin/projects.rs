//! `/api/v1/projects`: list, create, show, change and remove projects.

use super::error::ApiError;
use super::{views, AdminState, ApiJson, ApiPath};
use crate::project::ProjectSpec;
use crate::routes::TrafficState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Map, Value};

#[utoipa::path(get, path = "/api/v1/projects", tag = "projects",
    responses((status = 200, description = "Every project; an unreadable row shows as `{name: null, error}`", body = Vec<crate::admin::schemas::ProjectView>)))]
pub(crate) async fn list(State(state): State<AdminState>) -> Result<Json<Value>, ApiError> {
    let store = state.controller.store();
    let mut out = Vec::new();
    for record in store.projects().await? {
        // One unreadable row is shown as such; it never hides the other projects.
        let record = match record {
            Ok(record) => record,
            Err(e) => {
                out.push(json!({ "name": null, "error": e.to_string() }));
                continue;
            }
        };
        let live = store.live_deployment(&record.spec.name).await?;
        let traffic = store.traffic(&record.spec.name).await?;
        let mut v = views::project(&record, live.as_ref(), &traffic);
        add_canary(&state, &mut v, &record.spec.name);
        out.push(v);
    }
    Ok(Json(Value::Array(out)))
}

#[utoipa::path(post, path = "/api/v1/projects", tag = "projects", request_body = crate::project::ProjectSpec,
    responses((status = 201, description = "Created; ports are picked when `base_port` is not given", body = crate::admin::schemas::ProjectView)))]
pub(crate) async fn create(
    State(state): State<AdminState>,
    ApiJson(spec): ApiJson<ProjectSpec>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let record = state.controller.create_project(not_the_admin_token(&state, spec.validate()?)?).await?;
    Ok((StatusCode::CREATED, Json(views::project(&record, None, &TrafficState::default()))))
}

#[utoipa::path(get, path = "/api/v1/projects/{name}", tag = "projects", params(("name" = String, Path, description = "The project's name")),
    responses((status = 200, description = "The project, its live deployment and retained images", body = crate::admin::schemas::ProjectView)))]
pub(crate) async fn show(
    State(state): State<AdminState>,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    let store = state.controller.store();
    let record = store.project(&name).await?.ok_or_else(|| ApiError::not_found(format!("project `{name}`")))?;
    let live = store.live_deployment(&name).await?;
    let mut v = views::project(&record, live.as_ref(), &store.traffic(&name).await?);
    if let Some(live) = &live {
        v["live"] = super::deployments::with_figures(&state, live);
    }
    add_canary(&state, &mut v, &name);
    if state.controller.runtime(&record.spec).traits().builds {
        v["images"] = Value::Array(state.controller.retained_images(&name).await?);
    }
    Ok(Json(v))
}

/// Changes the given fields only. `env` is merged key by key (a `null` value removes the key),
/// because values are write-only and a client cannot send back what it cannot read.
#[utoipa::path(patch, path = "/api/v1/projects/{name}", tag = "projects", params(("name" = String, Path, description = "The project's name")),
    request_body(content = Object, description = "Only the fields to change, as in ProjectSpec; `env` merges key by key and a `null` value removes a key"),
    responses((status = 200, description = "The changed project; an `env` change starts a redeploy", body = crate::admin::schemas::ProjectView)))]
pub(crate) async fn update(
    State(state): State<AdminState>,
    ApiPath(name): ApiPath<String>,
    ApiJson(changes): ApiJson<Map<String, Value>>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(apply_changes(&state, &name, changes).await?))
}

/// The PATCH semantics, shared with the dashboard's settings form: returns the project's new JSON.
pub(crate) async fn apply_changes(
    state: &AdminState,
    name: &str,
    changes: Map<String, Value>,
) -> Result<Value, ApiError> {
    let name = name.to_owned();
    let store = state.controller.store();
    let record = store.project(&name).await?.ok_or_else(|| ApiError::not_found(format!("project `{name}`")))?;
    // The merge sees the stored values: a field the client does not send keeps its secret.
    let mut merged = crate::secrets::reveal(|| serde_json::to_value(&record.spec))
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
    for (key, value) in changes {
        if key == "name" && value != Value::String(name.clone()) {
            let mut err = ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_field",
                "name: a project cannot be renamed; create a new one",
            );
            err.field = Some("name".into());
            return Err(err);
        }
        match (key.as_str(), value) {
            ("env", Value::Object(env)) => merge_env(&mut merged, env),
            (_, value) => merged[key] = value,
        }
    }
    let spec: ProjectSpec = serde_json::from_value(merged).map_err(|e| {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", format!("{e}. Fix that field and retry"))
    })?;
    let env_changed = spec.env != record.spec.env;
    let record = state.controller.update_project(not_the_admin_token(state, spec.validate()?)?).await?;
    let live = store.live_deployment(&name).await?;
    let mut v = views::project(&record, live.as_ref(), &store.traffic(&name).await?);
    // New env values reach the app by a redeploy of the same image, with zero downtime.
    if env_changed && state.controller.runtime(&record.spec).traits().builds {
        if let Some(d) = state.controller.redeploy_env(&name).await? {
            v["redeploy"] = views::deployment(&d);
        }
    }
    Ok(v)
}

/// Refuses a deploy token equal to the admin token: it would give CI the whole API while looking scoped.
fn not_the_admin_token(state: &AdminState, spec: ProjectSpec) -> Result<ProjectSpec, ApiError> {
    let token = spec.deploy_token.expose().as_bytes();
    if token.is_empty() || !bool::from(subtle::ConstantTimeEq::ct_eq(token, state.token.as_bytes())) {
        return Ok(spec);
    }
    let message = "deploy_token: must not be the admin token; generate its own, such as `openssl rand -hex 32`";
    let mut err = ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", message);
    err.field = Some("deploy_token".into());
    Err(err)
}

/// The running canary's split and its own figures, when one runs.
fn add_canary(state: &AdminState, v: &mut Value, project: &str) {
    if let Some((id, percent, figures)) = state.controller.canary_of(project) {
        v["canary"] =
            json!({"deployment": id, "percent": percent, "requests": figures.requests, "errors": figures.errors});
    }
}

fn merge_env(merged: &mut Value, changes: Map<String, Value>) {
    if !merged["env"].is_object() {
        merged["env"] = Value::Object(Map::new());
    }
    let Some(env) = merged["env"].as_object_mut() else {
        return;
    };
    for (key, value) in changes {
        match value {
            Value::Null => env.remove(&key),
            value => env.insert(key, value),
        };
    }
}

#[utoipa::path(delete, path = "/api/v1/projects/{name}", tag = "projects", params(("name" = String, Path, description = "The project's name")),
    responses((status = 204, description = "Removed with its containers, images, routes and certificates")))]
pub(crate) async fn remove(
    State(state): State<AdminState>,
    ApiPath(name): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    state.controller.delete_project(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}
