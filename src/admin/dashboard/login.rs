//! `GET`/`POST /login` and `POST /logout`: the admin token in exchange for a session cookie.
//!
//! The login form is CSRF-protected by a double-submit nonce: a cookie set with the form must match
//! the form's hidden field, which another site can neither read nor set.

use super::html::{page, Frame};
use super::session::{cookie, tokens_match, Notice};
use super::{PageError, PageResult, Viewer, SESSION_COOKIE};
use crate::admin::auth::{check_token, client_ip, Refused};
use crate::admin::error::ApiError;
use crate::admin::AdminState;
use axum::extract::{Query, State};
use axum::http::{header, Extensions, HeaderMap, StatusCode};
use axum::response::{AppendHeaders, Html, IntoResponse, Redirect};
use axum::Form;
use serde::Deserialize;

const NONCE_COOKIE: &str = "vg_login";

#[derive(Deserialize)]
pub(crate) struct LoginQuery {
    expired: Option<String>,
}

pub(crate) async fn form(Query(q): Query<LoginQuery>) -> PageResult {
    let notice = q.expired.map(|_| Notice {
        ok: false,
        text: "Your session ended: it was idle for 12 hours, or you logged out. Log in again to continue.".into(),
    });
    login_page(StatusCode::OK, notice)
}

fn login_page(status: StatusCode, notice: Option<Notice>) -> PageResult {
    let nonce = random_hex::<16>()?;
    let body = format!(
        r#"<section class="card narrow"><h1>Log in</h1>
<form method="post" action="/login" class="stack">
<input type="hidden" name="nonce" value="{nonce}">
<label for="token">Admin token</label>
<input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
<p class="hint">It is in <code>data_dir/admin-token</code>, or <code>admin.token</code> in the config.</p>
<button type="submit" class="primary">Log in</button></form></section>"#
    );
    let html = page(Frame { title: "Log in", csrf: None, notice }, &body);
    let set = format!("{NONCE_COOKIE}={nonce}; HttpOnly; SameSite=Strict; Path=/login");
    Ok((status, [(header::SET_COOKIE, set)], Html(html)).into_response())
}

#[derive(Deserialize)]
pub(crate) struct LoginForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    nonce: String,
}

pub(crate) async fn submit(
    State(state): State<AdminState>,
    extensions: Extensions,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> PageResult {
    let cookies = headers.get(header::COOKIE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if !tokens_match(&f.nonce, cookie(cookies, NONCE_COOKIE).unwrap_or_default()) {
        let text = "The login form expired or came from another site. Try again on this page.";
        return login_page(StatusCode::FORBIDDEN, Some(Notice { ok: false, text: text.into() }));
    }
    match check_token(&state, client_ip(&extensions, &headers), &f.token) {
        Ok(()) => start_session(&state).await,
        Err(Refused::Blocked(e)) => login_page(e.status, Some(Notice { ok: false, text: e.message })),
        Err(Refused::Wrong) => {
            let text = "That token is wrong. Copy it from data_dir/admin-token (or admin.token in the config).";
            login_page(StatusCode::UNAUTHORIZED, Some(Notice { ok: false, text: text.into() }))
        }
    }
}

async fn start_session(state: &AdminState) -> PageResult {
    let (id, csrf) = (random_hex::<32>()?, random_hex::<32>()?);
    state.sessions.create(&id, &csrf, crate::store::now_ms()).await?;
    let session = format!("{SESSION_COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/");
    let clear = format!("{NONCE_COOKIE}=; Max-Age=0; Path=/login");
    // Two Set-Cookie headers: AppendHeaders keeps both (a plain array would keep only the last).
    Ok((AppendHeaders([(header::SET_COOKIE, session), (header::SET_COOKIE, clear)]), Redirect::to("/")).into_response())
}

#[derive(Deserialize)]
pub(crate) struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

pub(crate) async fn logout(viewer: Viewer, Form(f): Form<CsrfForm>) -> PageResult {
    viewer.check(&f.csrf)?;
    viewer.state.sessions.end(&viewer.id).await?;
    let clear = format!("{SESSION_COOKIE}=; Max-Age=0; HttpOnly; SameSite=Strict; Path=/");
    Ok(([(header::SET_COOKIE, clear)], Redirect::to("/login")).into_response())
}

fn random_hex<const N: usize>() -> Result<String, PageError> {
    let bytes = crate::secrets::random::<N>().map_err(|e| {
        PageError(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", format!("{e}; try again")))
    })?;
    Ok(hex::encode(bytes))
}
