//! Dashboard sessions: who is logged in, their CSRF token, their one-shot notice, and when they expire.
//!
//! Pure: ids and tokens come in as arguments and time is a parameter, so expiry unit-tests here.

use axum::http::{header, HeaderMap};
use std::collections::HashMap;
use subtle::ConstantTimeEq;

/// A session ends after this long without a request.
pub(crate) const IDLE_LIMIT_MS: i64 = 12 * 60 * 60 * 1000;
/// At most this many sessions are kept; logging in past it ends the least recently used one.
const MAX_SESSIONS: usize = 1000;

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Session {
    pub(crate) csrf: String,
    pub(crate) last_seen: i64,
    /// Shown once on the next page, then cleared: what the last action did.
    pub(crate) notice: Option<Notice>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Notice {
    pub(crate) ok: bool,
    pub(crate) text: String,
}

#[derive(Debug, PartialEq)]
pub(crate) enum Lookup {
    Valid(Session),
    /// The cookie named a session that ended (idle too long, logged out, or the gateway restarted).
    Expired,
    /// No session cookie at all.
    Missing,
}

#[derive(Debug, Default)]
pub(crate) struct Sessions {
    by_id: HashMap<String, Session>,
}

impl Sessions {
    pub(crate) fn create(&mut self, id: String, csrf: String, now: i64) {
        self.by_id.retain(|_, s| now - s.last_seen < IDLE_LIMIT_MS);
        if self.by_id.len() >= MAX_SESSIONS {
            if let Some(oldest) = self.by_id.iter().min_by_key(|(_, s)| s.last_seen).map(|(k, _)| k.clone()) {
                self.by_id.remove(&oldest);
            }
        }
        self.by_id.insert(id, Session { csrf, last_seen: now, notice: None });
    }

    /// Finds the session and marks it used at `now`.
    pub(crate) fn touch(&mut self, id: Option<&str>, now: i64) -> Lookup {
        let Some(id) = id else { return Lookup::Missing };
        match self.by_id.get_mut(id) {
            Some(s) if now - s.last_seen < IDLE_LIMIT_MS => {
                s.last_seen = now;
                Lookup::Valid(s.clone())
            }
            Some(_) => {
                self.by_id.remove(id);
                Lookup::Expired
            }
            None => Lookup::Expired,
        }
    }

    pub(crate) fn end(&mut self, id: &str) {
        self.by_id.remove(id);
    }

    pub(crate) fn set_notice(&mut self, id: &str, notice: Notice) {
        if let Some(s) = self.by_id.get_mut(id) {
            s.notice = Some(notice);
        }
    }

    pub(crate) fn take_notice(&mut self, id: &str) -> Option<Notice> {
        self.by_id.get_mut(id).and_then(|s| s.notice.take())
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
        let mut sessions = Sessions::default();
        sessions.create("s1".into(), "c1".into(), 0);
        assert!(matches!(sessions.touch(Some("s1"), IDLE_LIMIT_MS - 1), Lookup::Valid(_)));
        assert!(matches!(sessions.touch(Some("s1"), 2 * IDLE_LIMIT_MS - 2), Lookup::Valid(_)), "use extends it");
        assert_eq!(sessions.touch(Some("s1"), 3 * IDLE_LIMIT_MS), Lookup::Expired);
        assert_eq!(sessions.touch(Some("s1"), 3 * IDLE_LIMIT_MS), Lookup::Expired, "and stays ended");
        assert_eq!(sessions.touch(None, 0), Lookup::Missing);
        assert_eq!(sessions.touch(Some("forged"), 0), Lookup::Expired);
    }

    #[test]
    fn logout_ends_the_session_and_notices_show_once() {
        let mut sessions = Sessions::default();
        sessions.create("s1".into(), "c1".into(), 0);
        sessions.set_notice("s1", Notice { ok: true, text: "queued".into() });
        assert_eq!(sessions.take_notice("s1").map(|n| n.text), Some("queued".into()));
        assert_eq!(sessions.take_notice("s1"), None);
        sessions.end("s1");
        assert_eq!(sessions.touch(Some("s1"), 1), Lookup::Expired);
    }

    #[test]
    fn the_oldest_session_makes_room() {
        let mut sessions = Sessions::default();
        for i in 0..MAX_SESSIONS as i64 {
            sessions.create(format!("s{i}"), "c".into(), i);
        }
        sessions.create("new".into(), "c".into(), 5000);
        assert_eq!(sessions.touch(Some("s0"), 5001), Lookup::Expired);
        assert!(matches!(sessions.touch(Some("s1"), 5001), Lookup::Valid(_)));
        assert!(matches!(sessions.touch(Some("new"), 5001), Lookup::Valid(_)));
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
