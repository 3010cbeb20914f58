//! The OpenAPI 3.1 document of the admin API, generated from the handlers' annotations and the types they
//! serialise, served at `GET /api/v1/openapi.json`.
//!
//! Two things are added after generation, because every handler shares them: the error responses (every
//! error is an [`super::error::ApiError`] with the same body), and flattened view schemas (the API's views
//! add fields to a stored type, which `allOf` with a closed schema would forbid).

mod patch;

use super::AdminState;
use axum::extract::State;
use axum::Json;
use serde_json::Value;
use std::sync::OnceLock;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "versiongate admin API",
        description = "Projects, deployments, traffic controls, previews, certificates and upgrades of one versiongate gateway. Every `/api/v1` call needs `Authorization: Bearer <admin token>`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    paths(
        super::projects::list, super::projects::create, super::projects::show, super::projects::update,
        super::projects::remove, super::deployments::list, super::deployments::create, super::deployments::rollback,
        super::previews::list, super::deployments::promote, super::traffic::pause, super::traffic::resume,
        super::traffic::maintenance_on, super::traffic::maintenance_off, super::deployments::show,
        super::deployments::logs, super::deployments::cancel, super::upgrade::show, super::upgrade::start,
        super::certificates::list, super::certificates::put, super::certificates::remove, openapi_json,
        super::webhook::github, super::webhook::gitlab, super::webhook::gitea, super::healthz, super::metrics
    ),
    components(schemas(super::schemas::ErrorBody)),
    security(("bearer" = [])),
    modifiers(&Bearer),
    tags(
        (name = "projects"), (name = "deployments"), (name = "traffic"), (name = "previews"),
        (name = "certificates"), (name = "upgrade"), (name = "meta", description = "This document, health and metrics"),
        (name = "webhooks", description = "Signed events from GitHub, GitLab, Gitea and Forgejo")
    )
)]
struct ApiDoc;

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some("The admin token: `admin_token` in the config, or the file `admin_token` in `data_dir`"));
        components.add_security_scheme("bearer", SecurityScheme::Http(scheme.build()));
    }
}

/// The whole document, built once.
pub(crate) fn document() -> &'static Value {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
        patch::flatten_views(&mut doc);
        patch::add_errors(&mut doc);
        doc
    })
}

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 document of this API", body = Object)))]
pub(crate) async fn openapi_json(State(_): State<AdminState>) -> Json<Value> {
    Json(document().clone())
}

#[cfg(test)]
mod tests;
