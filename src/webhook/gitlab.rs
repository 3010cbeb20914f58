//! GitLab's push hook (pure): the secret token check, the repository's addresses and the push it reports.
//!
//! GitLab signs nothing: it sends the hook's secret token in clear as `X-Gitlab-Token`. The kind of event is
//! read from the payload's `object_kind` (`X-Gitlab-Event` says "System Hook" for instance-wide hooks).

use super::push::{text, Push, ZERO_SHA};
use super::{normalize_repo_url, Decision};
use serde_json::Value;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// What a GitLab hook reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Push(Push),
    /// A tag push, a merge request, a pipeline…: nothing to deploy.
    Other(String),
}

/// The event in a payload, by its `object_kind`.
pub fn read(payload: &Value) -> Event {
    match payload["object_kind"].as_str() {
        Some("push") => Event::Push(push(payload)),
        Some(kind) => Event::Other(kind.to_owned()),
        None => Event::Other("(no object_kind)".into()),
    }
}

/// A branch push. The commit to deploy is `checkout_sha` (equal to `after` for a branch); a deleted branch has
/// `after` all zeros and a null `checkout_sha`.
fn push(payload: &Value) -> Push {
    let after = text(&payload["after"]);
    let checkout = payload.get("checkout_sha");
    Push {
        git_ref: text(&payload["ref"]),
        deleted: after == ZERO_SHA || checkout == Some(&Value::Null),
        after: checkout.and_then(Value::as_str).map_or(after, str::to_owned),
    }
}

/// What an event asks of a project that follows `branch`.
pub fn decide(payload: &Value, branch: &str) -> Decision {
    match read(payload) {
        Event::Push(push) => super::push::decide(&push, branch),
        Event::Other(kind) => Decision::Ignore(format!("GitLab event `{kind}` does not deploy")),
    }
}

/// Every address the payload gives for its repository, normalised: the current `project` ones and the
/// deprecated `repository` ones (their `url` is scp-like on some versions and `ssh://` on others).
pub fn repository_urls(payload: &Value) -> Vec<String> {
    let fields = [
        ("project", "git_http_url"),
        ("project", "git_ssh_url"),
        ("project", "web_url"),
        ("project", "url"),
        ("repository", "url"),
        ("repository", "homepage"),
        ("repository", "git_http_url"),
        ("repository", "git_ssh_url"),
    ];
    fields.iter().filter_map(|(object, key)| payload[*object][*key].as_str()).map(normalize_repo_url).collect()
}

/// Whether the `X-Gitlab-Token` header equals a (non-empty) project secret. Both sides are hashed first, so
/// the comparison is constant-time over equal lengths and tells nothing about the secret's length.
pub fn token_matches(secret: &str, header: Option<&str>) -> bool {
    let Some(given) = header else { return false };
    let (given, expected) = (Sha256::digest(given.as_bytes()), Sha256::digest(secret.as_bytes()));
    !secret.is_empty() && bool::from(given.as_slice().ct_eq(expected.as_slice()))
}

#[cfg(test)]
#[path = "gitlab_tests.rs"]
mod tests;
