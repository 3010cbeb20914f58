//! Deploy tokens for CI: a project's `deploy_token` deploys that project and reads its deployments and logs;
//! every other route of the API, and every other project, answers 403. Unknown tokens share the login back-off.

use crate::harness;

use harness::{Gateway, Upstream};
use serde_json::{json, Value};

const TOKEN_A: &str = "ci-token-of-a-0123456789abcdef";
const TOKEN_B: &str = "ci-token-of-b-0123456789abcdef";

/// A call with `token` as the bearer: the status and the JSON body (or `Value::Null`).
async fn call(gw: &Gateway, token: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = gw.http.request(method, format!("{}{path}", gw.admin_url())).bearer_auth(token);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// Projects `a` and `b`, each with its own deploy token and one ACTIVE deployment (deployed by the admin).
async fn two_projects(gw: &Gateway, upstream: &Upstream) -> (i64, i64) {
    gw.add_external_project("a", "a.test", json!({"deploy_token": TOKEN_A})).await;
    gw.add_external_project("b", "b.test", json!({"deploy_token": TOKEN_B})).await;
    let a = gw.deploy("a", upstream.addr).await["id"].as_i64().unwrap();
    let b = gw.deploy("b", upstream.addr).await["id"].as_i64().unwrap();
    (a, b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_token_deploys_its_project_and_reads_its_deployments() {
    let gw = Gateway::start().await;
    let up = Upstream::start("A");
    two_projects(&gw, &up).await;
    let (status, d) =
        call(&gw, TOKEN_A, "POST", "/api/v1/projects/a/deployments", Some(json!({"target": up.addr.to_string()})))
            .await;
    assert_eq!(status, 202, "{d}");
    let id = d["id"].as_i64().unwrap();
    assert_eq!(gw.wait_settled(id).await["status"], "ACTIVE");
    let (status, list) = call(&gw, TOKEN_A, "GET", "/api/v1/projects/a/deployments", None).await;
    assert_eq!((status, list[0]["id"].as_i64()), (200, Some(id)), "{list}");
    let (status, one) = call(&gw, TOKEN_A, "GET", &format!("/api/v1/deployments/{id}"), None).await;
    assert_eq!((status, one["status"].as_str()), (200, Some("ACTIVE")), "{one}");
    let logs = gw.http.get(format!("{}/api/v1/deployments/{id}/logs", gw.admin_url())).bearer_auth(TOKEN_A);
    let logs = logs.send().await.unwrap();
    assert_eq!(logs.status(), 200);
    assert!(!logs.text().await.unwrap().is_empty(), "the log is readable");
    assert_eq!(gw.get("a.test", "/").await, (200, "A".to_string()));
}

/// Every operation the API documents, called with project `a`'s deploy token: only the allow-list passes,
/// and the allow-list itself refuses project `b`. A new route that forgets the check fails here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_token_is_refused_everywhere_else() {
    let gw = Gateway::start().await;
    let up = Upstream::start("A");
    let (dep_a, dep_b) = two_projects(&gw, &up).await;
    let (status, spec) = gw.api("GET", "/api/v1/openapi.json", None).await;
    assert_eq!(status, 200);
    let allowed = [
        ("post", "/api/v1/projects/{name}/deployments"),
        ("get", "/api/v1/projects/{name}/deployments"),
        ("get", "/api/v1/deployments/{id}"),
        ("get", "/api/v1/deployments/{id}/logs"),
    ];
    let fill = |path: &str, name: &str, id: i64| {
        let mut out = path.replace("{name}", name).replace("{id}", &id.to_string()).replace("{host}", "x");
        while let (Some(open), Some(close)) = (out.find('{'), out.find('}')) {
            out.replace_range(open..=close, "x");
        }
        out
    };
    let mut seen = 0;
    for (path, operations) in spec["paths"].as_object().unwrap() {
        if !path.starts_with("/api/v1") {
            continue;
        }
        for method in operations.as_object().unwrap().keys() {
            if !["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                continue;
            }
            seen += 1;
            let up = method.to_uppercase();
            let body = (method != "get" && method != "delete").then(|| json!({}));
            let (status, err) = call(&gw, TOKEN_A, &up, &fill(path, "a", dep_a), body.clone()).await;
            if allowed.contains(&(method.as_str(), path.as_str())) {
                assert!(
                    ![401, 403, 429].contains(&status),
                    "{up} {path} is allowed for its own project: {status} {err}"
                );
                let (status, err) = call(&gw, TOKEN_A, &up, &fill(path, "b", dep_b), body).await;
                assert_eq!(status, 403, "{up} {path} on another project: {err}");
                continue;
            }
            assert_eq!(status, 403, "{up} {path} must refuse a deploy token: {err}");
            assert_eq!(err["error"]["code"], "forbidden", "{up} {path}: {err}");
            assert!(err["error"]["message"].as_str().unwrap().contains("/api/v1/projects/a/deployments"), "{err}");
        }
    }
    assert!(seen > 20, "the OpenAPI document lists the API ({seen} operations)");
    let (_, list) = gw.api("GET", "/api/v1/projects/b/deployments", None).await;
    assert_eq!(list.as_array().unwrap().len(), 1, "nothing was deployed to b: {list}");
    assert_eq!(gw.api("GET", "/api/v1/projects/a", None).await.0, 200, "refusals never lock the admin out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deploy_token_is_write_only_and_sealed_at_rest() {
    let gw = Gateway::start().await;
    gw.add_external_project("a", "a.test", json!({"deploy_token": TOKEN_A})).await;
    let (status, p) = gw.api("GET", "/api/v1/projects/a", None).await;
    assert_eq!((status, p["deploy_token"].as_str()), (200, Some("***")), "{p}");
    let (_, all) = gw.api("GET", "/api/v1/projects", None).await;
    assert!(!all.to_string().contains(TOKEN_A), "{all}");
    let (status, p) = gw.api("PATCH", "/api/v1/projects/a", Some(json!({"domains": ["a2.test"]}))).await;
    assert_eq!((status, p["deploy_token"].as_str()), (200, Some("***")), "{p}");
    assert_eq!(call(&gw, TOKEN_A, "GET", "/api/v1/projects/a/deployments", None).await.0, 200, "a PATCH keeps it");
    let db = gw.database_text();
    assert!(!db.contains(TOKEN_A), "the database holds the token sealed, never in clear");
    assert!(!gw.log().contains(TOKEN_A), "nor does the log");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_tokens_share_the_login_back_off_and_a_refused_valid_one_does_not_count() {
    let gw = Gateway::start().await;
    gw.add_external_project("a", "a.test", json!({"deploy_token": TOKEN_A})).await;
    for _ in 0..12 {
        assert_eq!(call(&gw, TOKEN_A, "DELETE", "/api/v1/projects/a", None).await.0, 403);
    }
    assert_eq!(gw.api("GET", "/api/v1/projects/a", None).await.0, 200, "403s are not failures");
    let guess = format!("{}x", &TOKEN_A[..TOKEN_A.len() - 1]);
    let mut statuses = Vec::new();
    for _ in 0..12 {
        statuses.push(call(&gw, &guess, "GET", "/api/v1/projects/a/deployments", None).await.0);
    }
    assert_eq!(&statuses[..10], &[401; 10]);
    assert_eq!(&statuses[10..], &[429, 429]);
    let (status, err) = call(&gw, TOKEN_A, "GET", "/api/v1/projects/a/deployments", None).await;
    assert_eq!((status, err["error"]["code"].as_str()), (429, Some("too_many_failures")), "the address waits");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_deploy_token_is_refused_naming_the_field() {
    let gw = Gateway::start().await;
    gw.add_external_project("a", "a.test", json!({"deploy_token": TOKEN_A})).await;
    let short = "too-short";
    let cases = [
        json!({"name": "c", "deploy_token": short}),
        json!({"name": "c", "deploy_token": format!("{TOKEN_B} with spaces")}),
        json!({"name": "c", "deploy_token": gw.token.clone()}),
    ];
    for body in cases {
        let (status, err) = gw.api("POST", "/api/v1/projects", Some(body.clone())).await;
        assert_eq!((status, err["error"]["field"].as_str()), (422, Some("deploy_token")), "{body} -> {err}");
    }
    let (status, err) = gw.api("POST", "/api/v1/projects", Some(json!({"name": "c", "deploy_token": TOKEN_A}))).await;
    assert_eq!(status, 409, "one token for two projects: {err}");
    assert!(err["error"]["message"].as_str().unwrap().contains("deploy_token"), "{err}");
    for token in [short.to_owned(), gw.token.clone(), TOKEN_B.to_owned()] {
        let patch = gw.api("PATCH", "/api/v1/projects/a", Some(json!({"deploy_token": token}))).await;
        if token == TOKEN_B {
            assert_eq!(patch.0, 200, "a valid new token is taken: {}", patch.1);
        } else {
            assert_eq!((patch.0, patch.1["error"]["field"].as_str()), (422, Some("deploy_token")), "{}", patch.1);
            let (status, _) = call(&gw, TOKEN_A, "GET", "/api/v1/projects/a/deployments", None).await;
            assert_eq!(status, 200, "a refused change keeps the old token");
        }
    }
    let (_, all) = gw.api("GET", "/api/v1/projects", None).await;
    assert_eq!(all.as_array().unwrap().len(), 1, "no project was created: {all}");
    assert_eq!(call(&gw, TOKEN_A, "GET", "/api/v1/projects/a/deployments", None).await.0, 401, "the old one is gone");
    assert_eq!(call(&gw, TOKEN_B, "GET", "/api/v1/projects/a/deployments", None).await.0, 200);
}
