//! GitLab's and Gitea's (and Forgejo's) push webhooks: the same rules as GitHub's (`docker.rs`,
//! `api.rs`), each host authenticated as it authenticates. The project's repository does not exist, so a
//! queued deployment fails at fetching; what is tested is the receiver's answer and the deployment it queues.
//! `docker.rs` builds one of each for real.

use crate::harness;

use harness::hosts::{gitea_push_payload, gitlab_push_payload, gitlab_tag_payload};
use harness::{push_payload, Gateway};
use serde_json::{json, Value};

const SECRET: &str = "a token GitLab sends in clear";

/// A docker project following a repository that is never fetched; returns its name and URL.
async fn project(gw: &Gateway, prefix: &str) -> (String, String) {
    let name = harness::unique_name(prefix);
    let repo_url = format!("file:///nowhere/{name}.git");
    gw.add_docker_project(&name, &repo_url, SECRET, json!({})).await;
    (name, repo_url)
}

fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

async fn deployments(gw: &Gateway, name: &str) -> Vec<Value> {
    let (_, list) = gw.api("GET", &format!("/api/v1/projects/{name}/deployments"), None).await;
    list.as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gitlab_pushes_are_authenticated_matched_and_deduplicated() {
    let gw = Gateway::start().await;
    let (name, repo) = project(&gw, "lab").await;
    let sha = "da1560886d4f094c3e6c9ef40349f7d38b5d27d7";
    let push = gitlab_push_payload(&repo, "main", sha);
    assert_eq!(gw.gitlab_hook(&push, Some("wrong token"), &uuid(), None).await.0, 401);
    let (status, missing) = gw.gitlab_hook(&push, None, &uuid(), None).await;
    assert_eq!((status, &missing["error"]["code"]), (401, &json!("bad_token")), "{missing}");
    let stranger = gitlab_push_payload("https://gitlab.example.com/someone/else.git", "main", sha);
    assert_eq!(gw.gitlab_hook(&stranger, Some(SECRET), &uuid(), None).await.0, 404);
    let other_branch = gitlab_push_payload(&repo, "dev", sha);
    assert_eq!(gw.gitlab_hook(&other_branch, Some(SECRET), &uuid(), None).await.0, 204);
    assert_eq!(gw.gitlab_hook(&gitlab_tag_payload(&repo), Some(SECRET), &uuid(), None).await.0, 204);
    let mut deleted = push.clone();
    deleted["after"] = json!("0000000000000000000000000000000000000000");
    deleted["checkout_sha"] = Value::Null;
    assert_eq!(gw.gitlab_hook(&deleted, Some(SECRET), &uuid(), None).await.0, 204);
    assert!(deployments(&gw, &name).await.is_empty(), "nothing was deployed yet");

    let (event, key) = (uuid(), uuid());
    let (status, first) = gw.gitlab_hook(&push, Some(SECRET), &event, Some(&key)).await;
    assert_eq!(status, 202, "{first}");
    assert_eq!((first["commit"].as_str(), first["trigger"].as_str()), (Some(sha), Some("webhook")), "{first}");
    let (status, again) = gw.gitlab_hook(&push, Some(SECRET), &event, None).await;
    assert_eq!((status, &again["id"]), (200, &first["id"]), "the same event UUID: the first deployment");
    let (status, retried) = gw.gitlab_hook(&push, Some(SECRET), &uuid(), Some(&key)).await;
    assert_eq!((status, &retried["id"]), (200, &first["id"]), "a retry keeps its Idempotency-Key: {retried}");
    assert_eq!(deployments(&gw, &name).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gitea_and_forgejo_pushes_are_authenticated_matched_and_deduplicated() {
    let gw = Gateway::start().await;
    let (name, repo) = project(&gw, "tea").await;
    for (n, (forgejo, form)) in [(false, false), (true, false), (false, true), (true, true)].into_iter().enumerate() {
        let sha = format!("{}", n + 1).repeat(40);
        let what = format!("forgejo: {forgejo}, form: {form}");
        let push = gitea_push_payload(&repo, "main", &sha, forgejo);
        let hook = |payload: Value, secret: Option<&'static str>, delivery: String| {
            let gw = &gw;
            async move { gw.gitea_hook(&payload, secret, &delivery, forgejo, form).await }
        };
        assert_eq!(hook(push.clone(), Some("wrong secret"), uuid()).await.0, 401, "{what}");
        let (status, missing) = hook(push.clone(), None, uuid()).await;
        assert_eq!((status, &missing["error"]["code"]), (401, &json!("bad_signature")), "{what}: {missing}");
        let stranger = gitea_push_payload("https://codeberg.org/someone/else.git", "main", &sha, forgejo);
        assert_eq!(hook(stranger, Some(SECRET), uuid()).await.0, 404, "{what}");
        assert_eq!(hook(gitea_push_payload(&repo, "dev", &sha, forgejo), Some(SECRET), uuid()).await.0, 204, "{what}");

        let delivery = uuid();
        let (status, first) = hook(push.clone(), Some(SECRET), delivery.clone()).await;
        assert_eq!((status, first["commit"].as_str()), (202, Some(sha.as_str())), "{what}: {first}");
        let (status, again) = hook(push.clone(), Some(SECRET), delivery).await;
        assert_eq!((status, &again["id"]), (200, &first["id"]), "{what}: a repeat returns the first deployment");
        assert_eq!(deployments(&gw, &name).await.len(), n + 1, "{what}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_id_is_only_a_repeat_from_the_same_host() {
    let gw = Gateway::start().await;
    let (_, repo) = project(&gw, "both").await;
    let (a, b, c) = ("a".repeat(40), "b".repeat(40), "c".repeat(40));
    let delivery = uuid();
    let (status, github) = gw.webhook("push", &push_payload(&repo, "main", &a), SECRET, &delivery, false).await;
    assert_eq!(status, 202, "{github}");
    let (status, gitea) =
        gw.gitea_hook(&gitea_push_payload(&repo, "main", &b, false), Some(SECRET), &delivery, false, false).await;
    assert_eq!((status, gitea["commit"].as_str()), (202, Some(b.as_str())), "{gitea}");
    let (status, gitlab) = gw.gitlab_hook(&gitlab_push_payload(&repo, "main", &c), Some(SECRET), &delivery, None).await;
    assert_eq!((status, gitlab["commit"].as_str()), (202, Some(c.as_str())), "{gitlab}");
}
