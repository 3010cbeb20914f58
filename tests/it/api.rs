//! The admin API contract: auth, validation errors naming the field, conflicts, and project changes.

use crate::harness;

use harness::{Gateway, Upstream};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_needs_the_token_but_health_and_metrics_do_not() {
    let gw = Gateway::start().await;
    let url = format!("{}/api/v1/projects", gw.admin_url());
    let none = gw.http.get(&url).send().await.unwrap();
    assert_eq!(none.status(), 401);
    let body: serde_json::Value = none.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthorized");
    let wrong = gw.http.get(&url).bearer_auth("test-tokeN").send().await.unwrap();
    assert_eq!(wrong.status(), 401);
    let health = gw.http.get(format!("{}/healthz", gw.admin_url())).send().await.unwrap();
    let health = health.json::<serde_json::Value>().await.unwrap();
    assert_eq!((health["status"].as_str(), health["version"].as_str()), (Some("ok"), Some(env!("CARGO_PKG_VERSION"))));
    assert_eq!(health["pid"].as_u64(), Some(u64::from(gw.pid())), "{health}");
    assert!(health["started_at"].as_str().is_some_and(|t| t.ends_with('Z')), "{health}");
    let metrics = gw.http.get(format!("{}/metrics", gw.admin_url())).send().await.unwrap();
    assert_eq!(metrics.status(), 200);
    assert_eq!(gw.api("GET", "/api/v1/projects", None).await, (200, json!([])));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_clear_error_and_changes_nothing() {
    let gw = Gateway::start().await;
    let cases = [
        (json!({"name": "Bad_Name"}), 422, "name"),
        (json!({"name": "ok", "domains": ["not a host"]}), 422, "domains[0]"),
        (json!({"name": "ok", "base_port": 80}), 422, "base_port"),
        (json!({"name": "ok", "helth_path": "/"}), 422, "helth_path"),
    ];
    for (body, status, field) in cases {
        let (got, err) = gw.api("POST", "/api/v1/projects", Some(body.clone())).await;
        assert_eq!(got, status, "{body} -> {err}");
        assert!(err["error"]["message"].as_str().unwrap().contains(field), "{body} -> {err}");
    }
    let malformed = gw
        .http
        .post(format!("{}/api/v1/projects", gw.admin_url()))
        .bearer_auth(&gw.token)
        .header("content-type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);
    let huge = json!({"name": "big", "release_command": "x".repeat(1_100_000)});
    assert_eq!(gw.api("POST", "/api/v1/projects", Some(huge)).await.0, 413);
    assert_eq!(gw.api("GET", "/api/v1/projects", None).await.1, json!([]), "nothing was created");

    gw.add_external_project("one", "one.test", json!({})).await;
    let (status, err) = gw.api("POST", "/api/v1/projects", Some(json!({"name": "one"}))).await;
    assert_eq!((status, err["error"]["code"].as_str()), (409, Some("conflict")));
    let (status, err) = gw.api("POST", "/api/v1/projects", Some(json!({"name": "two", "domains": ["ONE.test"]}))).await;
    assert_eq!(status, 409);
    assert!(err["error"]["message"].as_str().unwrap().contains("project `one`"), "{err}");
    let base = harness::free_port_pair();
    let (status, err) = gw.api("POST", "/api/v1/projects", Some(json!({"name": "three", "base_port": base}))).await;
    assert_eq!(status, 201, "{err}");
    let overlap = json!({"name": "four", "base_port": base + 1});
    let (status, err) = gw.api("POST", "/api/v1/projects", Some(overlap)).await;
    assert_eq!((status, err["error"]["code"].as_str()), (409, Some("conflict")), "a base_port pair overlaps: {err}");
    assert!(err["error"]["message"].as_str().unwrap().contains("three"), "it names the other project: {err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_requests_are_checked_against_the_runtime() {
    let gw = Gateway::start().await;
    gw.add_external_project("ext", "ext.test", json!({})).await;
    let (status, _) = gw.api("POST", "/api/v1/projects", Some(json!({"name": "dock"}))).await;
    assert_eq!(status, 201);
    let cases = [
        ("ext", json!({"ref": "main"}), 422, "external process"),
        ("ext", json!({"target": "nowhere"}), 422, "HOST:PORT"),
        ("ext", json!({"target": "127.0.0.1:0"}), 422, "port 0"),
        ("dock", json!({"target": "127.0.0.1:4000"}), 422, "only for runtime \"external\""),
        ("dock", json!({"ref": "main"}), 422, "no repo_url"),
        ("ghost", json!({"target": "127.0.0.1:4000"}), 404, "does not exist"),
    ];
    for (project, body, status, words) in cases {
        let (got, err) = gw.api("POST", &format!("/api/v1/projects/{project}/deployments"), Some(body.clone())).await;
        assert_eq!(got, status, "{project} {body} -> {err}");
        assert!(err["error"]["message"].as_str().unwrap().contains(words), "{project} {body} -> {err}");
    }
    let (_, list) = gw.api("GET", "/api/v1/projects/ext/deployments", None).await;
    assert_eq!(list, json!([]), "refused requests leave no deployment behind");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patch_and_delete_take_effect_on_routing_at_once() {
    let gw = Gateway::start().await;
    let a = Upstream::start("A");
    gw.add_external_project("app", "old.test", json!({"env": {"SECRET": "hunter2"}})).await;
    gw.deploy("app", a.addr).await;
    let (status, p) =
        gw.api("PATCH", "/api/v1/projects/app", Some(json!({"domains": ["new.test"], "env": {"MORE": "x"}}))).await;
    assert_eq!(status, 200, "{p}");
    assert_eq!(p["env"], json!({"MORE": "***", "SECRET": "***"}), "env merges and stays masked");
    assert!(!p.to_string().contains("hunter2"));
    assert_eq!(gw.get("new.test", "/").await, (200, "A".to_string()));
    assert_eq!(gw.get("old.test", "/").await.0, 404);
    let (status, err) = gw.api("PATCH", "/api/v1/projects/app", Some(json!({"name": "renamed"}))).await;
    assert_eq!((status, err["error"]["field"].as_str()), (422, Some("name")));
    assert_eq!(gw.api("DELETE", "/api/v1/projects/app", None).await.0, 204);
    assert_eq!(gw.get("new.test", "/").await.0, 404);
    assert_eq!(gw.api("GET", "/api/v1/projects/app", None).await.0, 404);
    gw.add_external_project("app", "again.test", json!({})).await;
    assert_eq!(gw.deploy("app", a.addr).await["status"], "ACTIVE", "a re-created project gets a working queue");
    assert_eq!(gw.get("again.test", "/").await, (200, "A".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn projects_in_the_config_file_exist_at_start_and_wildcards_route() {
    let a = Upstream::start("A");
    let extra = "[[projects]]\nname = \"tenants\"\ndomains = [\"*.tenants.test\"]\nruntime = \"external\"\nhealthy_threshold = 1\nhealth_interval_ms = 100\n";
    let gw = Gateway::start_with(extra).await;
    let (status, p) = gw.api("GET", "/api/v1/projects/tenants", None).await;
    assert_eq!((status, p["runtime"].as_str()), (200, Some("external")));
    gw.deploy("tenants", a.addr).await;
    assert_eq!(gw.get("acme.tenants.test", "/").await, (200, "A".to_string()));
    assert_eq!(gw.get("a.b.tenants.test", "/").await.0, 404, "a wildcard matches one label");
}

#[test]
fn check_config_masks_secrets_and_names_the_bad_key() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        "[admin]\ntoken = \"tok-secret-1\"\n[[projects]]\nname = \"a\"\nwebhook_secret = \"hook-secret-2\"\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_versiongate"))
        .args(["check-config", "--config"])
        .arg(&good)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("listen = \"127.0.0.1:9080\"")
            && !text.contains("tok-secret-1")
            && !text.contains("hook-secret-2"),
        "{text}"
    );
    let bad = dir.path().join("bad.toml");
    let text = "[proxy]\nhttp_listen = \"everywhere\"\n[store]\nurl = \"mysql://db\"\n\
                [[projects]]\nname = \"Web\"\nport = 1\n[[projects]]\nname = \"api\"\ndomains = [\"a b\"]\n";
    std::fs::write(&bad, text).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_versiongate"))
        .args(["check-config", "--config"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for key in
        ["4 problems", "proxy.http_listen", "store.url", "projects[0]: unknown field `port`", "projects[1].domains[0]"]
    {
        assert!(stderr.contains(key), "every problem is reported ({key}):\n{stderr}");
    }
    let missing = std::process::Command::new(env!("CARGO_BIN_EXE_versiongate"))
        .args(["check-config", "--config", "/nonexistent.toml"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_public_host_reaches_the_admin_server_through_the_proxy() {
    let gw = Gateway::start_with_admin("public_host = \"Hooks.Example.test\"\n").await;
    assert_eq!(gw.get("hooks.example.test", "/metrics").await.0, 404, "metrics are not public");
    assert_eq!(gw.get("hooks.example.test", "/healthz").await.0, 404);
    let (status, _) = gw.get("hooks.example.test", "/api/v1/projects").await;
    assert_eq!(status, 401, "the API behind the public host still needs the token");
    let hook = gw
        .http
        .post(format!("http://{}/webhooks/github", gw.proxy))
        .header("host", "hooks.example.test")
        .header("content-type", "application/json")
        .body(r#"{"repository":{"clone_url":"https://example.com/x.git"}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(hook.status(), 401, "webhooks arrive through the proxy (and an unsigned one is refused)");
    assert_eq!(gw.get("other.example.test", "/healthz").await.0, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_dir_and_its_secret_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let gw = Gateway::start().await;
    gw.add_external_project("app", "app.test", json!({"env": {"K": "v"}})).await;
    let mode = |name: &str| std::fs::metadata(gw.data_dir().join(name)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(""), 0o700, "data_dir");
    for file in ["secret.key", "versiongate.db"] {
        assert_eq!(mode(file), 0o600, "{file}");
    }
}

/// Every endpoint, fed what a confused client or a scanner sends: each answer is the contract's JSON error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_answers_bad_input_with_a_json_error() {
    let gw = Gateway::start().await;
    gw.add_external_project("app", "app.test", json!({})).await;
    let big = "x".repeat(1_100_000);
    let cases: Vec<(&str, &str, Option<&str>, u16, &str)> = vec![
        ("POST", "/api/v1/projects", Some("not json"), 400, "malformed_json"),
        ("POST", "/api/v1/projects", Some("[1,2]"), 422, "invalid_body"),
        // serde reads a struct from an array too; schemathesis found `[]` accepted as a maintenance body.
        ("POST", "/api/v1/projects/app/maintenance", Some("[]"), 422, "invalid_body"),
        ("POST", "/api/v1/projects/app/pause", Some("[30]"), 422, "invalid_body"),
        ("POST", "/api/v1/projects", Some(r#"{"name":"x","domains":"one"}"#), 422, "invalid_field"),
        ("POST", "/api/v1/projects", Some(&big), 413, "payload_too_large"),
        ("PATCH", "/api/v1/projects/app", Some(r#"{"healthy_threshold": -1}"#), 422, "invalid_field"),
        ("PATCH", "/api/v1/projects/app", Some(r#"{"bogus": 1}"#), 422, "invalid_field"),
        ("PATCH", "/api/v1/projects/ghost", Some("{}"), 404, "not_found"),
        ("DELETE", "/api/v1/projects/ghost", None, 404, "not_found"),
        ("GET", "/api/v1/projects/ghost", None, 404, "not_found"),
        ("POST", "/api/v1/projects/app/deployments", Some(r#"{"target": 5}"#), 422, "invalid_field"),
        (
            "POST",
            "/api/v1/projects/app/deployments",
            Some(r#"{"target": "1.2.3.4:5", "extra": 1}"#),
            422,
            "invalid_field",
        ),
        ("GET", "/api/v1/projects/app/deployments?limit=many", None, 400, "bad_query"),
        ("GET", "/api/v1/projects/ghost/deployments", None, 404, "not_found"),
        ("GET", "/api/v1/deployments/abc", None, 400, "bad_path"),
        ("GET", "/api/v1/deployments/99999", None, 404, "not_found"),
        ("GET", "/api/v1/deployments/99999/logs", None, 404, "not_found"),
        ("POST", "/api/v1/deployments/abc/cancel", None, 400, "bad_path"),
        ("POST", "/api/v1/deployments/99999/cancel", None, 404, "not_found"),
        ("POST", "/api/v1/projects/app/rollback", Some(r#"{"to": "x"}"#), 422, "invalid_field"),
        ("POST", "/api/v1/projects/app/rollback", Some("{}"), 422, "invalid_request"),
        ("PUT", "/api/v1/projects", Some("{}"), 405, "method_not_allowed"),
        ("GET", "/api/v1/nothing-here", None, 404, "not_found"),
        ("POST", "/webhooks/github", Some("{"), 401, "bad_signature"),
        ("POST", "/webhooks/gitlab", Some("{"), 401, "bad_token"),
        ("POST", "/webhooks/gitea", Some("{"), 401, "bad_signature"),
    ];
    for (method, path, body, status, code) in cases {
        let method_t = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = gw.http.request(method_t, format!("{}{path}", gw.admin_url())).bearer_auth(&gw.token);
        if let Some(body) = body {
            req = req.header("content-type", "application/json").body(body.to_owned());
        }
        let resp = req.send().await.unwrap();
        let got = resp.status().as_u16();
        let json: serde_json::Value = resp.json().await.unwrap_or(serde_json::Value::Null);
        assert_eq!((got, json["error"]["code"].as_str()), (status, Some(code)), "{method} {path}: {json}");
        assert!(
            json["error"]["message"].as_str().is_some_and(|m| m.len() > 10),
            "{method} {path}: say what to do: {json}"
        );
    }
    let (_, project) = gw.api("GET", "/api/v1/projects/app", None).await;
    assert_eq!(project["healthy_threshold"], 2, "nothing bad was stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_failed_logins_from_one_address_are_refused_for_a_while() {
    let gw = Gateway::start().await;
    let url = format!("{}/api/v1/projects", gw.admin_url());
    let mut statuses = Vec::new();
    for _ in 0..12 {
        statuses.push(gw.http.get(&url).bearer_auth("guess").send().await.unwrap().status().as_u16());
    }
    assert_eq!(&statuses[..10], &[401; 10]);
    assert_eq!(&statuses[10..], &[429, 429]);
    let blocked = gw.http.get(&url).bearer_auth(&gw.token).send().await.unwrap();
    assert_eq!(blocked.status().as_u16(), 429, "even the right token waits out the penalty");
    let body: serde_json::Value = blocked.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("wait"), "{body}");
    assert_eq!(gw.http.get(format!("{}/healthz", gw.admin_url())).send().await.unwrap().status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_refuses_what_is_not_signed_before_reading_it() {
    let gw = Gateway::start().await;
    let repo_url = "file:///nowhere/hooked.git";
    gw.add_docker_project("hooked", repo_url, "s3cret", json!({})).await;
    let push = serde_json::to_vec(&harness::push_payload(repo_url, "main", &"a".repeat(40))).unwrap();
    let other = serde_json::to_vec(&harness::push_payload(repo_url, "main", &"b".repeat(40))).unwrap();
    let post = |body: Vec<u8>, signature: Option<String>| {
        let mut req = gw
            .http
            .post(format!("{}/webhooks/github", gw.admin_url()))
            .header("content-type", "application/json")
            .header("x-github-event", "push");
        if let Some(signature) = signature {
            req = req.header("x-hub-signature-256", signature);
        }
        async move {
            let resp = req.body(body).send().await.unwrap();
            let status = resp.status().as_u16();
            (status, resp.json::<serde_json::Value>().await.unwrap()["error"]["code"].clone())
        }
    };
    let sign = |body: &[u8]| Some(versiongate::webhook::sign("s3cret", body));
    let cases = [
        ("no signature, unparseable body", b"{".to_vec(), None, 401, "bad_signature"),
        ("no signature, a real push", push.clone(), None, 401, "bad_signature"),
        ("not GitHub's signature form", push.clone(), Some("sha256=abc".into()), 401, "bad_signature"),
        ("signed over another body", push.clone(), sign(&other), 401, "bad_signature"),
        ("signed, but unparseable", b"{".to_vec(), sign(b"{"), 400, "malformed_payload"),
    ];
    for (what, body, signature, status, code) in cases {
        assert_eq!(post(body, signature).await, (status, json!(code)), "{what}");
    }
    let (_, deployments) = gw.api("GET", "/api/v1/projects/hooked/deployments", None).await;
    assert_eq!(deployments.as_array().map(Vec::len), Some(0), "nothing was deployed: {deployments}");
}
