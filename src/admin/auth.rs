//! The admin bearer token: where it comes from, and the constant-time check on every API call.

use super::dashboard::session::{session_id, Lookup};
use super::error::ApiError;
use super::AdminState;
use axum::extract::{Request, State};
use axum::http::{header, Extensions, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
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
/// cross-site request cannot act with it.
pub(crate) async fn require_token(
    State(state): State<AdminState>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let safe = matches!(*req.method(), Method::GET | Method::HEAD);
    if safe && has_session(&state, req.headers()).await {
        return Ok(next.run(req).await);
    }
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    let ip = client_ip(req.extensions(), req.headers());
    match check_token(&state, ip, given) {
        Ok(()) => Ok(next.run(req).await),
        Err(Refused::Blocked(e)) => Err(e),
        Err(Refused::Wrong) => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or wrong admin token: send Authorization: Bearer <token> (see data_dir/admin-token)",
        )),
    }
}

pub(super) enum Refused {
    /// Too many failures from this address: the 429 to send.
    Blocked(ApiError),
    Wrong,
}

/// The constant-time token check shared by the API and the dashboard login, with the per-address back-off.
pub(super) fn check_token(state: &AdminState, ip: Option<IpAddr>, given: &str) -> Result<(), Refused> {
    let now = std::time::Instant::now();
    if let Some(wait) = ip.and_then(|ip| crate::lock::lock(&state.backoff).blocked(ip, now)) {
        let message = format!(
            "too many failed logins from this address; wait {} s, then use the right token",
            wait.as_secs().max(1)
        );
        return Err(Refused::Blocked(ApiError::new(StatusCode::TOO_MANY_REQUESTS, "too_many_failures", message)));
    }
    let ok = bool::from(given.trim().as_bytes().ct_eq(state.token.as_bytes()));
    if let Some(ip) = ip {
        let mut backoff = crate::lock::lock(&state.backoff);
        if ok {
            backoff.success(ip)
        } else {
            backoff.failure(ip, now)
        }
    }
    if ok {
        Ok(())
    } else {
        Err(Refused::Wrong)
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
