//! The dashboard: server-rendered pages at `/`, login sessions, CSRF checks and the embedded assets.
//!
//! Read-only views work without JavaScript; `assets/app.js` only refreshes live parts and follows logs
//! over the API's SSE stream (which admits a session cookie for GET).

mod chart;
mod deployment_page;
mod forms;
mod github;
mod html;
mod https;
mod login;
mod new_project;
mod overview;
mod project_page;
pub(crate) mod session;
mod traffic;

use super::error::ApiError;
use super::AdminState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use session::{session_id, Lookup, Notice};

pub(crate) use session::SESSION_COOKIE;

pub(crate) fn router() -> Router<AdminState> {
    Router::new()
        .route("/", get(overview::show))
        .route("/login", get(login::form).post(login::submit))
        .route("/logout", post(login::logout))
        .route("/projects", post(new_project::submit))
        .route("/projects/new", get(new_project::form))
        .route("/projects/{name}", get(project_page::show))
        .route("/projects/{name}/deploy", post(forms::deploy))
        .route("/projects/{name}/rollback", post(forms::rollback))
        .route("/projects/{name}/settings", post(forms::settings))
        .route("/projects/{name}/traffic", post(traffic::submit))
        .route("/deployments/{id}", get(deployment_page::show))
        .route("/deployments/{id}/cancel", post(forms::cancel))
        .route("/assets/style.css", get(|| asset("text/css", include_str!("assets/style.css"))))
        .route("/assets/app.js", get(|| asset("text/javascript", include_str!("assets/app.js"))))
}

async fn asset(kind: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, kind), (header::CACHE_CONTROL, "max-age=300")], body).into_response()
}

/// A logged-in visitor. Without a session, pages redirect to the login page (saying why if it expired).
pub(crate) struct Viewer {
    pub(crate) id: String,
    pub(crate) csrf: String,
    pub(crate) notice: Option<Notice>,
    pub(crate) state: AdminState,
}

impl FromRequestParts<AdminState> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AdminState) -> Result<Self, Self::Rejection> {
        let id = session_id(&parts.headers).map(str::to_owned);
        let found = state.sessions.touch(id.as_deref(), crate::store::now_ms()).await;
        match found.map_err(|e| PageError::from(e).into_response())? {
            Lookup::Valid { csrf } => {
                let id = id.unwrap_or_default();
                let notice = state.sessions.take_notice(&id);
                Ok(Viewer { id, csrf, notice, state: state.clone() })
            }
            Lookup::Expired => Err(Redirect::to("/login?expired=1").into_response()),
            Lookup::Missing => Err(Redirect::to("/login").into_response()),
        }
    }
}

impl Viewer {
    /// Refuses a form whose CSRF token is not this session's.
    pub(crate) fn check(&self, csrf: &str) -> Result<(), PageError> {
        if session::tokens_match(csrf, &self.csrf) {
            return Ok(());
        }
        Err(PageError(ApiError::new(
            StatusCode::FORBIDDEN,
            "csrf",
            "this form is out of date or did not come from this dashboard; reload the page and try again",
        )))
    }

    /// Shows `text` once on the next page.
    pub(crate) fn tell(&self, ok: bool, text: impl Into<String>) {
        self.state.sessions.set_notice(&self.id, Notice { ok, text: text.into() });
    }

    pub(crate) fn frame<'a>(&'a self, title: &'a str) -> html::Frame<'a> {
        html::Frame { title, csrf: Some(&self.csrf), notice: self.notice.clone() }
    }
}

/// Any failure on a dashboard page: the API's error, shown as a page that says what to do.
#[derive(Debug)]
pub(crate) struct PageError(pub ApiError);

impl<E: Into<ApiError>> From<E> for PageError {
    fn from(e: E) -> Self {
        PageError(e.into())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let e = self.0;
        if e.status.is_server_error() {
            tracing::error!(code = e.code, "dashboard error: {}", e.message);
        }
        let body = format!(
            r#"<h1>{}</h1><p class="notice error" role="alert">{}</p><p><a href="/">Back to the projects</a></p>"#,
            e.status.canonical_reason().unwrap_or("Error"),
            html::esc(&e.message)
        );
        let frame = html::Frame { title: "Error", csrf: None, notice: None };
        (e.status, Html(html::page(frame, &body))).into_response()
    }
}

pub(crate) type PageResult = Result<Response, PageError>;

/// A posted form from literal pairs, for the form handlers' unit tests.
#[cfg(test)]
fn form_of(pairs: &[(&str, &str)]) -> std::collections::HashMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}
