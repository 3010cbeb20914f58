//! Dashboard sessions: who is logged in, their CSRF token, their one-shot notice, and when they expire.
//!
//! Expiry is pure ([`lookup`], time a parameter) and unit-tests here; the rows live in the store.

use crate::store::{SessionRow, Store, StoreError};
use axum::http::{header, HeaderMap};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use subtle::ConstantTimeEq;

/// A session ends after this long without a request.
pub(crate) const IDLE_LIMIT_MS: i64 = 12 * 60 * 60 * 1000;
/// A session's last use is written at most this often (a page and its assets are one write).
const TOUCH_EVERY_MS: i64 = 60 * 1000;
/// Notices waiting to be shown, at most (they are one-shot texts; past it the oldest are dropped).
const MAX_NOTICES: usize = 1000;

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Notice {
    pub(crate) ok: bool,
    pub(crate) text: String,
}

#[derive(Debug, PartialEq)]
pub(crate) enum Lookup {
    Valid {
        csrf: String,
    },
    /// The cookie named a session that ended (idle too long, or logged out).
    Expired,
    /// No session cookie at all.
    Missing,
}

/// What a stored session means at `now` (pure), and whether its last use should be written.
pub(crate) fn lookup(row: Option<SessionRow>, now: i64) -> (Lookup, bool) {
    match row {
        Some(r) if now - r.last_seen < IDLE_LIMIT_MS => {
            (Lookup::Valid { csrf: r.csrf }, now - r.last_seen >= TOUCH_EVERY_MS)
        }
        _ => (Lookup::Expired, false),
    }
}

/// The key a session is stored under: the store never holds a usable cookie.
fn digest(id: &str) -> String {
    hex::encode(Sha256::digest(id.as_bytes()))
}

/// Sessions live in the store, so every gateway on it accepts them and a restart or an upgrade keeps
/// them; the one-shot notices stay with the gateway that set them.
pub(crate) struct Sessions {
    store: Store,
    notices: Mutex<HashMap<String, Notice>>,
}

impl Sessions {
    pub(crate) fn new(store: Store) -> Sessions {
        Sessions { store, notices: Mutex::default() }
    }

    pub(crate) async fn create(&self, id: &str, csrf: &str, now: i64) -> Result<(), StoreError> {
        self.store.create_session(&digest(id), csrf, now, now - IDLE_LIMIT_MS).await
    }

    /// Finds the session and marks it used at `now`.
    pub(crate) async fn touch(&self, id: Option<&str>, now: i64) -> Result<Lookup, StoreError> {
        let Some(id) = id else { return Ok(Lookup::Missing) };
        let key = digest(id);
        let (found, write) = lookup(self.store.session(&key).await?, now);
        if write {
            self.store.touch_session(&key, now).await?;
        }
        Ok(found)
    }

    pub(crate) async fn end(&self, id: &str) -> Result<(), StoreError> {
        self.notices().remove(id);
        self.store.end_session(&digest(id)).await
    }

    pub(crate) fn set_notice(&self, id: &str, notice: Notice) {
        let mut notices = self.notices();
        if notices.len() >= MAX_NOTICES {
            notices.clear();
        }
        notices.insert(id.to_owned(), notice);
    }

    pub(crate) fn take_notice(&self, id: &str) -> Option<Notice> {
        self.notices().remove(id)
    }

    fn notices(&self) -> std::sync::MutexGuard<'_, HashMap<String, Notice>> {
        crate::lock::lock(&self.notices)
    }
}

/// Constant-time comparison of a submitted token with the expected one; an empty expectation never matches.
pub(crate) fn tokens_match(given: &str, expected: &str) -> bool {
    !expected.is_empty() && bool::from(given.as_bytes().ct_eq(expected.as_bytes()))
}

/// The value of cookie `name` in a `Cookie` header.
pub(crate) fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').filter_map(|pair| pair.trim().split_once('=')).find(|(k, _)| *k == name).map(|(_, v)| v)
}

/// The name of the dashboard's session cookie.
pub(crate) const SESSION_COOKIE: &str = "vg_session";

/// The session id a request's cookies carry, if any.
pub(crate) fn session_id(headers: &HeaderMap) -> Option<&str> {
    let cookies = headers.get(header::COOKIE).and_then(|v| v.to_str().ok())?;
    cookie(cookies, SESSION_COOKIE).filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_lives_while_used_and_expires_when_idle() {
        let row = |last_seen| Some(SessionRow { csrf: "c1".into(), last_seen });
        let valid = Lookup::Valid { csrf: "c1".into() };
        assert_eq!(lookup(row(0), 10), (Lookup::Valid { csrf: "c1".into() }, false), "used just now: no write");
        assert_eq!(lookup(row(0), TOUCH_EVERY_MS), (Lookup::Valid { csrf: "c1".into() }, true));
        assert_eq!(lookup(row(0), IDLE_LIMIT_MS - 1).0, valid);
        assert_eq!(lookup(row(0), IDLE_LIMIT_MS), (Lookup::Expired, false));
        assert_eq!(lookup(None, 0), (Lookup::Expired, false), "unknown or ended");
        assert_ne!(digest("s1"), "s1");
        assert_eq!(digest("s1").len(), 64);
    }

    #[test]
    fn tokens_and_cookies() {
        assert!(tokens_match("abc", "abc"));
        assert!(!tokens_match("abd", "abc") && !tokens_match("", "") && !tokens_match("ab", "abc"));
        let header = "theme=dark; vg_session=abc123; other=x=y";
        assert_eq!(cookie(header, "vg_session"), Some("abc123"));
        assert_eq!(cookie(header, "other"), Some("x=y"));
        assert_eq!(cookie(header, "missing"), None);
    }
}
