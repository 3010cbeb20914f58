//! `GET /api/v1/projects/{name}/previews`: a project's pull-request previews, live ones first.

use super::error::ApiError;
use super::{views, AdminState, ApiPath, ApiQuery};
use crate::project::ProjectSpec;
use crate::store::Preview;
use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct Query {
    /// Also list removed previews, with why they went.
    #[serde(default)]
    all: bool,
}

#[utoipa::path(get, path = "/api/v1/projects/{name}/previews", tag = "previews", params(("name" = String, Path, description = "The project's name"), Query),
    responses((status = 200, description = "The project's pull-request previews, live ones first", body = Vec<crate::admin::schemas::PreviewView>)))]
pub(crate) async fn list(
    State(state): State<AdminState>,
    ApiPath(name): ApiPath<String>,
    ApiQuery(query): ApiQuery<Query>,
) -> Result<Json<Value>, ApiError> {
    let store = state.controller.store();
    let record = store.project(&name).await?.ok_or_else(|| ApiError::not_found(format!("project `{name}`")))?;
    let mut out = Vec::new();
    for p in store.previews_of(&name, query.all).await? {
        let live = match p.removed_at {
            None => store.live_deployment(&p.project).await?,
            Some(_) => None,
        };
        out.push(view(&record.spec, &p, live.as_ref()));
    }
    Ok(Json(Value::Array(out)))
}

/// One preview as the API and the dashboard show it.
pub(crate) fn view(parent: &ProjectSpec, p: &Preview, live: Option<&crate::store::Deployment>) -> Value {
    let expires = p.pushed_at + (parent.preview_ttl_h * 3_600_000.0) as i64;
    json!({
        "project": p.project,
        "number": p.number,
        "host": format!("pr-{}.{}", p.number, parent.preview_domain),
        "commit": p.head_sha,
        "fork": p.fork,
        "created_at": views::time(p.created_at),
        "pushed_at": views::time(p.pushed_at),
        "expires_at": p.removed_at.is_none().then(|| views::time(expires)),
        "live": live.map(views::deployment),
        "removed_at": p.removed_at.map(views::time),
        "removed_reason": p.removed_reason,
    })
}
