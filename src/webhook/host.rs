//! What differs between the git hosts that send webhooks (pure): how a request proves it knows a project's
//! secret, where the payload names its repository and event, and which header identifies a delivery. The
//! receiver (`admin::webhook`) is written once over [`Host`]; the three hosts below are its readers.

use super::{gitea, gitlab, Decision};
use axum::http::HeaderMap;
use serde_json::Value;

/// A 401 answer: the error code and what to do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    pub code: &'static str,
    pub message: &'static str,
}

const GITHUB_UNSIGNED: Refusal = Refusal {
    code: "bad_signature",
    message: "X-Hub-Signature-256 is missing or not `sha256=<64 hex digits>`: set a secret in the GitHub webhook (content type application/json) and the same one in the project's webhook_secret",
};
const GITHUB_MISMATCH: Refusal = Refusal {
    code: "bad_signature",
    message: "X-Hub-Signature-256 does not match this body: set the same secret in the GitHub webhook and in the project's webhook_secret",
};
const GITLAB_NO_TOKEN: Refusal = Refusal {
    code: "bad_token",
    message: "X-Gitlab-Token is missing: set a secret token in the GitLab webhook and the same one in the project's webhook_secret",
};
const GITLAB_MISMATCH: Refusal = Refusal {
    code: "bad_token",
    message: "X-Gitlab-Token is not the project's webhook_secret: set the same secret token in the GitLab webhook and in the project's webhook_secret",
};
const GITEA_UNSIGNED: Refusal = Refusal {
    code: "bad_signature",
    message: "X-Gitea-Signature (or X-Forgejo-Signature) is missing or not 64 hex digits: set a secret in the Gitea or Forgejo webhook and the same one in the project's webhook_secret",
};
const GITEA_MISMATCH: Refusal = Refusal {
    code: "bad_signature",
    message: "X-Gitea-Signature (or X-Forgejo-Signature) does not match this body: set the same secret in the Gitea or Forgejo webhook and in the project's webhook_secret",
};

/// One kind of sender of webhooks.
pub trait Host: Sync {
    /// Its name in messages.
    fn title(&self) -> &'static str;
    /// Refuses a request without a well-formed credential, before its body is read.
    fn well_formed(&self, headers: &HeaderMap) -> Result<(), Refusal>;
    /// The answer when no matching project's secret verifies the request.
    fn mismatch(&self) -> Refusal;
    /// Every address the payload gives for its repository, normalised.
    fn urls(&self, payload: &Value) -> Vec<String>;
    /// Whether the request was sent with `secret`.
    fn verify(&self, secret: &str, headers: &HeaderMap, body: &[u8]) -> bool;
    /// The event's name, for `decide` and the answer.
    fn event(&self, headers: &HeaderMap, payload: &Value) -> String;
    /// The keys this delivery is remembered under: seen before if any of them is known.
    fn delivery_keys(&self, headers: &HeaderMap) -> Vec<String>;
    /// What the event asks of a project that follows `branch`.
    fn decide(&self, event: &str, payload: &Value, branch: &str) -> Decision;
    /// GitHub's `owner/name` of the repository, for commit statuses and the checks API.
    fn github_repository(&self, _payload: &Value) -> Option<String> {
        None
    }
}

/// A header's value, if it is text.
pub fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The first of `names` that is present: a fork's own header before the one it inherited.
fn first_header<'a>(headers: &'a HeaderMap, names: &[&str]) -> Option<&'a str> {
    names.iter().find_map(|name| header(headers, name))
}

/// `POST /webhooks/github`: `X-Hub-Signature-256`, `X-GitHub-Event`, `X-GitHub-Delivery`.
pub struct GitHub;

impl Host for GitHub {
    fn title(&self) -> &'static str {
        "GitHub"
    }
    fn well_formed(&self, headers: &HeaderMap) -> Result<(), Refusal> {
        let ok = super::signature_well_formed(header(headers, "x-hub-signature-256"));
        ok.then_some(()).ok_or(GITHUB_UNSIGNED)
    }
    fn mismatch(&self) -> Refusal {
        GITHUB_MISMATCH
    }
    fn urls(&self, payload: &Value) -> Vec<String> {
        super::repository_urls(payload)
    }
    fn verify(&self, secret: &str, headers: &HeaderMap, body: &[u8]) -> bool {
        super::signature_matches(secret, body, header(headers, "x-hub-signature-256"))
    }
    fn event(&self, headers: &HeaderMap, _payload: &Value) -> String {
        header(headers, "x-github-event").unwrap_or_default().to_owned()
    }
    fn delivery_keys(&self, headers: &HeaderMap) -> Vec<String> {
        // Stored without a prefix, as before the other hosts came, so rows already stored still match.
        header(headers, "x-github-delivery").map(str::to_owned).into_iter().collect()
    }
    fn decide(&self, event: &str, payload: &Value, branch: &str) -> Decision {
        super::decide(event, payload, branch)
    }
    fn github_repository(&self, payload: &Value) -> Option<String> {
        super::repository_name(&payload["repository"]["full_name"])
    }
}

/// `POST /webhooks/gitlab`: `X-Gitlab-Token` (the secret in clear), `X-Gitlab-Event-UUID`, `Idempotency-Key`.
pub struct GitLab;

impl Host for GitLab {
    fn title(&self) -> &'static str {
        "GitLab"
    }
    fn well_formed(&self, headers: &HeaderMap) -> Result<(), Refusal> {
        let ok = header(headers, "x-gitlab-token").is_some_and(|t| !t.is_empty());
        ok.then_some(()).ok_or(GITLAB_NO_TOKEN)
    }
    fn mismatch(&self) -> Refusal {
        GITLAB_MISMATCH
    }
    fn urls(&self, payload: &Value) -> Vec<String> {
        gitlab::repository_urls(payload)
    }
    fn verify(&self, secret: &str, headers: &HeaderMap, _body: &[u8]) -> bool {
        gitlab::token_matches(secret, header(headers, "x-gitlab-token"))
    }
    fn event(&self, _headers: &HeaderMap, payload: &Value) -> String {
        payload["object_kind"].as_str().unwrap_or_default().to_owned()
    }
    fn delivery_keys(&self, headers: &HeaderMap) -> Vec<String> {
        // The event UUID is new on a retry and on "Resend request"; the idempotency key (GitLab 17+) is not.
        let uuid = header(headers, "x-gitlab-event-uuid").filter(|v| !v.is_empty()).map(|v| format!("gitlab:{v}"));
        let idem = header(headers, "idempotency-key").filter(|v| !v.is_empty()).map(|v| format!("gitlab:idem:{v}"));
        uuid.into_iter().chain(idem).collect()
    }
    fn decide(&self, _event: &str, payload: &Value, branch: &str) -> Decision {
        gitlab::decide(payload, branch)
    }
}

/// `POST /webhooks/gitea`, for Gitea and Forgejo: `X-Forgejo-Signature` or `X-Gitea-Signature` (bare hex),
/// the same for the event and the delivery.
pub struct Gitea;

impl Host for Gitea {
    fn title(&self) -> &'static str {
        "Gitea"
    }
    fn well_formed(&self, headers: &HeaderMap) -> Result<(), Refusal> {
        let ok = gitea::signature_well_formed(first_header(headers, &gitea::SIGNATURE_HEADERS));
        ok.then_some(()).ok_or(GITEA_UNSIGNED)
    }
    fn mismatch(&self) -> Refusal {
        GITEA_MISMATCH
    }
    fn urls(&self, payload: &Value) -> Vec<String> {
        super::repository_urls(payload)
    }
    fn verify(&self, secret: &str, headers: &HeaderMap, body: &[u8]) -> bool {
        let signature = first_header(headers, &gitea::SIGNATURE_HEADERS);
        let signed = gitea::signed_bytes(header(headers, "content-type"), body);
        signed.is_some_and(|signed| gitea::signature_matches(secret, &signed, signature))
    }
    fn event(&self, headers: &HeaderMap, _payload: &Value) -> String {
        first_header(headers, &gitea::EVENT_HEADERS).unwrap_or_default().to_owned()
    }
    fn delivery_keys(&self, headers: &HeaderMap) -> Vec<String> {
        let delivery = first_header(headers, &gitea::DELIVERY_HEADERS).filter(|v| !v.is_empty());
        delivery.map(|v| format!("gitea:{v}")).into_iter().collect()
    }
    fn decide(&self, event: &str, payload: &Value, branch: &str) -> Decision {
        gitea::decide(event, payload, branch)
    }
}

#[cfg(test)]
#[path = "host_tests.rs"]
mod tests;
