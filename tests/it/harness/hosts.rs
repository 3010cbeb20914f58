//! GitLab's and Gitea's (Forgejo's) webhooks as they send them: their documented payloads (the fixtures)
//! pointed at a test repository, and the headers each service sets.

use super::{url_encode, Gateway};
use serde_json::{json, Value};

fn fixture(path: &str) -> Value {
    let text = std::fs::read_to_string(format!("{}/tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// GitLab's push hook of `sha` to `branch` of the repository at `repo_url` (every address it gives).
pub fn gitlab_push_payload(repo_url: &str, branch: &str, sha: &str) -> Value {
    let mut payload = fixture("gitlab/push.json");
    payload["ref"] = json!(format!("refs/heads/{branch}"));
    payload["after"] = json!(sha);
    payload["checkout_sha"] = json!(sha);
    for key in ["git_http_url", "git_ssh_url", "web_url", "url", "ssh_url", "http_url", "homepage"] {
        payload["project"][key] = json!(repo_url);
    }
    for key in ["url", "homepage", "git_http_url", "git_ssh_url"] {
        payload["repository"][key] = json!(repo_url);
    }
    payload
}

/// GitLab's tag push hook for the repository at `repo_url`.
pub fn gitlab_tag_payload(repo_url: &str) -> Value {
    let mut payload = fixture("gitlab/tag_push.json");
    for object in ["project", "repository"] {
        for key in ["git_http_url", "git_ssh_url", "web_url", "url", "homepage"] {
            payload[object][key] = json!(repo_url);
        }
    }
    payload
}

/// Gitea's (or Forgejo's) push of `sha` to `branch` of the repository at `repo_url`.
pub fn gitea_push_payload(repo_url: &str, branch: &str, sha: &str, forgejo: bool) -> Value {
    let mut payload = fixture(if forgejo { "gitea/forgejo-push.json" } else { "gitea/push.json" });
    payload["ref"] = json!(format!("refs/heads/{branch}"));
    payload["after"] = json!(sha);
    for key in ["clone_url", "ssh_url", "html_url"] {
        payload["repository"][key] = json!(repo_url);
    }
    payload
}

/// The status and JSON body (or `Value::Null`) of an answer.
async fn answer(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

impl Gateway {
    /// Sends a GitLab hook as GitLab does: JSON, `X-Gitlab-Token` in clear (none when `token` is None), the
    /// event's UUID and, when given, the retry-stable `Idempotency-Key`.
    pub async fn gitlab_hook(
        &self,
        payload: &Value,
        token: Option<&str>,
        uuid: &str,
        idempotency_key: Option<&str>,
    ) -> (u16, Value) {
        let event = if payload["object_kind"] == "tag_push" { "Tag Push Hook" } else { "Push Hook" };
        let mut req = self
            .http
            .post(format!("{}/webhooks/gitlab", self.admin_url()))
            .header("content-type", "application/json")
            .header("user-agent", "GitLab/17.5.0")
            .header("x-gitlab-event", event)
            .header("x-gitlab-event-uuid", uuid)
            .header("x-gitlab-webhook-uuid", uuid::Uuid::new_v4().to_string())
            .header("x-gitlab-instance", "https://gitlab.example.com");
        if let Some(token) = token {
            req = req.header("x-gitlab-token", token);
        }
        if let Some(key) = idempotency_key {
            req = req.header("idempotency-key", key);
        }
        answer(req.body(serde_json::to_vec(payload).unwrap()).send().await.unwrap()).await
    }

    /// Sends a Gitea push signed as Gitea signs it (bare hex HMAC-SHA256 of the JSON text, also for a form
    /// body); as Forgejo with `forgejo`, which adds its own headers beside Gitea's. No signature when
    /// `secret` is None.
    pub async fn gitea_hook(
        &self,
        payload: &Value,
        secret: Option<&str>,
        delivery: &str,
        forgejo: bool,
        form: bool,
    ) -> (u16, Value) {
        let json = serde_json::to_vec(payload).unwrap();
        let signature = secret.map(|s| versiongate::webhook::gitea::sign(s, &json));
        let (body, content_type) = if form {
            (format!("payload={}", url_encode(&json)).into_bytes(), "application/x-www-form-urlencoded")
        } else {
            (json, "application/json")
        };
        let mut req =
            self.http.post(format!("{}/webhooks/gitea", self.admin_url())).header("content-type", content_type);
        let prefixes: &[&str] = if forgejo { &["forgejo", "gitea", "gogs"] } else { &["gitea", "gogs"] };
        for prefix in prefixes {
            req = req.header(format!("x-{prefix}-event"), "push").header(format!("x-{prefix}-delivery"), delivery);
            if let Some(signature) = &signature {
                req = req.header(format!("x-{prefix}-signature"), signature);
            }
        }
        answer(req.header("x-github-event", "push").body(body).send().await.unwrap()).await
    }
}
