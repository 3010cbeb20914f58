//! The admin bearer token: where it comes from, and the constant-time check on every API call.

use super::dashboard::session::{session_id, Lookup};
use super::deploy_token::{deploy_token_allows, forbidden, Principal, Scope};
use super::error::ApiError;
use super::AdminState;
use axum::extract::{MatchedPath, RawPathParams, Request, State};
use axum::http::{header, Extensions, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use axum::RequestExt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use subtle::ConstantTimeEq;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("cannot read or create the admin token file {path}: {source}. Check that data_dir is writable")]
    TokenFile { path: PathBuf, source: std::io::Error },
    #[error("cannot generate a random admin token: {0}")]
    Random(String),
}

/// Where the token came from, so the log can say where to find it without printing it.
pub(crate) enum TokenSource {
    Config,
    File(PathBuf),
    Generated(PathBuf),
}

/// The configured token (config or `VERSIONGATE_ADMIN_TOKEN`, already merged), else the one in
/// `data_dir/admin-token`, else a new random one written there with mode 0600.
pub(crate) fn load_or_create_token(configured: &str, data_dir: &Path) -> Result<(String, TokenSource), AuthError> {
    if !configured.is_empty() {
        return Ok((configured.to_owned(), TokenSource::Config));
    }
    let path = data_dir.join("admin-token");
    let file_err = |source| AuthError::TokenFile { path: path.clone(), source };
    match std::fs::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => return Ok((text.trim().to_owned(), TokenSource::File(path))),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(file_err(e)),
    }
    let token = hex::encode(crate::secrets::random::<32>().map_err(|e| AuthError::Random(e.to_string()))?);
    crate::secrets::write_private(&path, &format!("{token}\n")).map_err(file_err)?;
    Ok((token, TokenSource::Generated(path)))
}

impl TokenSource {
    pub(crate) fn describe(&self) -> String {
        match self {
            TokenSource::Config => "admin token: from the config or VERSIONGATE_ADMIN_TOKEN".into(),
            TokenSource::File(p) => format!("admin token: read from {}", p.display()),
            TokenSource::Generated(p) => {
                format!("admin token: generated into {} (mode 0600)", p.display())
            }
        }
    }
}

/// Rejects API calls without `Authorization: Bearer <token>`. A dashboard session cookie also admits
/// GET and HEAD (the dashboard's live views read the API); it never admits a change, so a forged
/// cross-site request cannot act with it. After the admin token, a project's deploy token admits the few
/// routes of [`deploy_token_allows`] for that project (403 elsewhere); any other token is a failure counted
/// by the login back-off.
pub(crate) async fn require_token(
    State(state): State<AdminState>,
    mut req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let safe = matches!(*req.method(), Method::GET | Method::HEAD);
    if safe && has_session(&state, req.headers()).await {
        req.extensions_mut().insert(Principal::Admin);
        return Ok(next.run(req).await);
    }
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .trim()
        .to_owned();
    let ip = client_ip(req.extensions(), req.headers());
    blocked(&state, ip).map_err(|refused| match refused {
        Refused::Blocked(e) => e,
        Refused::Wrong => unauthorized(),
    })?;
    if admin_token_matches(&state, &given) {
        record(&state, ip, true);
        req.extensions_mut().insert(Principal::Admin);
        return Ok(next.run(req).await);
    }
    let Some(project) = deploy_token_project(&state, &given).await? else {
        record(&state, ip, false);
        return Err(unauthorized());
    };
    // A valid deploy token is not a failure, wherever it is sent; it does not clear past failures either.
    authorize_deploy_token(&state, &mut req, &project).await?;
    req.extensions_mut().insert(Principal::Deploy { project });
    Ok(next.run(req).await)
}

fn unauthorized() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "missing or wrong admin token: send Authorization: Bearer <token> (see data_dir/admin-token)",
    )
}

/// The project whose deploy token was presented. The store finds it by the token's SHA-256 digest (an index
/// lookup whose timing says nothing about the token), then the sealed token itself is compared in constant time.
async fn deploy_token_project(state: &AdminState, given: &str) -> Result<Option<String>, ApiError> {
    if given.is_empty() {
        return Ok(None);
    }
    let store = state.controller.store();
    let Some(project) = store.deploy_token_project(&crate::store::deploy_token_digest(given)).await? else {
        return Ok(None);
    };
    let Some(record) = store.project(&project).await? else { return Ok(None) };
    let token = record.spec.deploy_token.expose();
    let same = !token.is_empty() && bool::from(given.as_bytes().ct_eq(token.as_bytes()));
    Ok(same.then_some(project))
}

/// 403 unless the route is one a deploy token may call, on its own project or one of that project's deployments.
async fn authorize_deploy_token(state: &AdminState, req: &mut Request, project: &str) -> Result<(), ApiError> {
    let matched = req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_owned()).unwrap_or_default();
    let params = match req.extract_parts::<RawPathParams>().await {
        Ok(params) => params.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect(),
        Err(_) => Vec::new(),
    };
    let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let allowed = match deploy_token_allows(req.method(), &matched, &params) {
        Some(Scope::Project(name)) => name == project,
        Some(Scope::Deployment(id)) => {
            state.controller.store().deployment(id).await?.is_some_and(|d| d.project == project)
        }
        None => false,
    };
    if allowed {
        Ok(())
    } else {
        Err(forbidden(project))
    }
}

pub(super) enum Refused {
    /// Too many failures from this address: the 429 to send.
    Blocked(ApiError),
    Wrong,
}

/// The constant-time token check shared by the API and the dashboard login, with the per-address back-off.
pub(super) fn check_token(state: &AdminState, ip: Option<IpAddr>, given: &str) -> Result<(), Refused> {
    blocked(state, ip)?;
    let ok = admin_token_matches(state, given);
    record(state, ip, ok);
    if ok {
        Ok(())
    } else {
        Err(Refused::Wrong)
    }
}

/// The 429 while `ip` is in its back-off.
fn blocked(state: &AdminState, ip: Option<IpAddr>) -> Result<(), Refused> {
    let now = std::time::Instant::now();
    if let Some(wait) = ip.and_then(|ip| crate::lock::lock(&state.backoff).blocked(ip, now)) {
        let message = format!(
            "too many failed logins from this address; wait {} s, then use the right token",
            wait.as_secs().max(1)
        );
        return Err(Refused::Blocked(ApiError::new(StatusCode::TOO_MANY_REQUESTS, "too_many_failures", message)));
    }
    Ok(())
}

fn admin_token_matches(state: &AdminState, given: &str) -> bool {
    bool::from(given.trim().as_bytes().ct_eq(state.token.as_bytes()))
}

/// Counts a failure from `ip` towards its back-off, or clears its count after the admin token.
fn record(state: &AdminState, ip: Option<IpAddr>, ok: bool) {
    if let Some(ip) = ip {
        let mut backoff = crate::lock::lock(&state.backoff);
        if ok {
            backoff.success(ip)
        } else {
            backoff.failure(ip, std::time::Instant::now())
        }
    }
}

/// The caller's address; behind our own proxy (a loopback peer) it is the last `X-Forwarded-For` entry,
/// the one our proxy appended, so a client cannot choose it.
/// Whether the request carries a live dashboard session (the API admits one for GET requests).
async fn has_session(state: &AdminState, headers: &HeaderMap) -> bool {
    let id = session_id(headers);
    matches!(state.sessions.touch(id, crate::store::now_ms()).await, Ok(Lookup::Valid { .. }))
}

pub(super) fn client_ip(extensions: &Extensions, headers: &HeaderMap) -> Option<IpAddr> {
    let peer = extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()?.0.ip();
    if !peer.is_loopback() {
        return Some(peer);
    }
    let forwarded = headers.get("x-forwarded-for").and_then(|v| v.to_str().ok());
    forwarded.and_then(|f| f.rsplit(',').next()).and_then(|ip| ip.trim().parse().ok()).or(Some(peer))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_generated_token_is_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let (first, source) = load_or_create_token("", dir.path()).unwrap();
        assert!(matches!(source, TokenSource::Generated(_)));
        assert_eq!(first.len(), 64);
        let mode = std::fs::metadata(dir.path().join("admin-token")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let (again, source) = load_or_create_token("", dir.path()).unwrap();
        assert_eq!(again, first);
        assert!(matches!(source, TokenSource::File(_)));
        assert_eq!(load_or_create_token("set", dir.path()).unwrap().0, "set");
    }
}
