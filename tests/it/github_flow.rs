//! The GitHub flow on the real engine: pull-request previews from open to close, pushes that wait for CI,
//! and every deployment mirrored on a local server that implements GitHub's REST endpoints.

use crate::harness;

use harness::github::{check_run, pull_request, status, Call, FakeGithub};
use harness::repo::{inspect, AppRepo, DockerCleanup};
use harness::{eventually, unique_name, Gateway};
use serde_json::{json, Value};
use std::process::Command;

const SECRET: &str = "github-flow-secret";
const TOKEN: &str = "ghp_test_token_0123456789";

fn delivery() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Names of containers, and tags of images, that carry `project`'s label or name.
fn leftovers(project: &str) -> (String, String) {
    let run = |args: &[&str]| {
        let out = Command::new("docker").args(args).output().unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    let label = format!("label=versiongate.project={project}");
    (
        run(&["ps", "-a", "--format", "{{.Names}}", "--filter", &label]),
        run(&["images", "-q", &format!("versiongate/{project}")]),
    )
}

async fn pr_event(gw: &Gateway, action: &str, repo: &AppRepo, number: u32, sha: &str, fork: bool) -> (u16, Value) {
    let payload = pull_request(action, &repo.url(), number, sha, "main", fork);
    gw.webhook("pull_request", &payload, SECRET, &delivery(), false).await
}

#[tokio::test]
async fn a_pull_request_preview_goes_live_redeploys_and_leaves_nothing_when_closed() {
    let github = FakeGithub::start().await;
    let gw = Gateway::start().await;
    let parent = unique_name("pv");
    let preview = format!("{parent}-pr-7");
    let (_c1, _c2) = (DockerCleanup(parent.clone()), DockerCleanup(preview.clone()));
    let repo = AppRepo::new("main v1");
    let extra = json!({"previews": true, "preview_domain": "preview.test", "env": {"GREETING": "hi"},
                       "github_token": TOKEN, "github_api_url": github.url()});
    let shown = gw.add_docker_project(&parent, &repo.url(), SECRET, extra).await;
    assert_eq!(shown["github_token"], "***", "the token is write-only");
    repo.branch("feature");
    let first = repo.release("preview v2");
    repo.pull_ref(7);

    let payload = pull_request("opened", &repo.url(), 7, &first, "main", false);
    let opened = delivery();
    let (code, d) = gw.webhook("pull_request", &payload, SECRET, &opened, false).await;
    assert_eq!(code, 202, "{d}");
    assert_eq!(d["project"], preview.as_str());
    let (code, again) = gw.webhook("pull_request", &payload, SECRET, &opened, false).await;
    assert_eq!((code, &again["id"]), (200, &d["id"]), "a redelivery answers with the first deployment");
    let d = gw.wait_settled(d["id"].as_i64().unwrap()).await;
    assert_eq!(d["status"], "ACTIVE", "{d}\n{}", gw.logs(&d["id"]).await);
    assert_eq!(gw.get("pr-7.preview.test", "/").await, (200, "preview v2".into()));
    assert_eq!(gw.get(&format!("{parent}.test"), "/").await.0, 503, "the parent has deployed nothing");
    let env = inspect(&format!("{preview}-blue"), "{{json .Config.Env}}").unwrap();
    for var in ["GREETING=hi", "VERSIONGATE_PREVIEW=1", "VERSIONGATE_PR=7"] {
        assert!(env.contains(var), "{var} missing from {env}");
    }

    // A push to the pull request redeploys it.
    let second = repo.release("preview v3");
    repo.pull_ref(7);
    let (code, d) = pr_event(&gw, "synchronize", &repo, 7, &second, false).await;
    assert_eq!(code, 202, "{d}");
    let d2 = gw.wait_settled(d["id"].as_i64().unwrap()).await;
    assert_eq!(d2["status"], "ACTIVE", "{d2}");
    assert_eq!(d2["commit"], second.as_str());
    assert_eq!(gw.get("pr-7.preview.test", "/").await, (200, "preview v3".into()));
    let (_, list) = gw.api("GET", &format!("/api/v1/projects/{parent}/previews"), None).await;
    assert_eq!(list[0]["number"], 7, "{list}");
    assert_eq!(list[0]["commit"], second.as_str());
    assert_eq!(list[0]["live"]["id"], d2["id"]);

    // GitHub saw two deployments in environment preview-pr-7, and one comment, edited.
    eventually("GitHub statuses for both deploys", || github.calls_to("POST", "/statuses").len() >= 4).await;
    let created = github.calls_to("POST", "/deployments");
    let created: Vec<&Call> = created.iter().filter(|c| c.path.ends_with("/deployments")).collect();
    assert_eq!(created.len(), 2, "{created:?}");
    assert!(created.iter().all(|c| c.body["environment"] == "preview-pr-7" && c.body["transient_environment"] == true));
    assert_eq!(
        (created[0].body["ref"].as_str(), created[1].body["ref"].as_str()),
        (Some(first.as_str()), Some(second.as_str()))
    );
    assert!(created.iter().all(|c| c.path.starts_with("/repos/octo/app/")), "{created:?}");
    let states: Vec<Value> = github.calls_to("POST", "/statuses").iter().map(|c| c.body["state"].clone()).collect();
    assert!(states.contains(&json!("in_progress")) && states.contains(&json!("success")), "{states:?}");
    let success = github.calls_to("POST", "/statuses").into_iter().find(|c| c.body["state"] == "success").unwrap();
    assert_eq!(success.body["environment_url"], "http://pr-7.preview.test");
    let first_id = github.calls_to("POST", "/statuses")[0].path.split('/').nth(5).unwrap().to_owned();
    eventually("the first deploy is marked inactive once superseded", || {
        github
            .calls_to("POST", &format!("/deployments/{first_id}/statuses"))
            .iter()
            .any(|c| c.body["state"] == "inactive")
    })
    .await;
    let db = gw.database_text();
    let at = db.find(TOKEN).map(|i| db[i.saturating_sub(300)..i + 40].to_owned());
    assert!(at.is_none(), "the token is sealed at rest: {at:?}");
    assert!(!gw.log().contains(TOKEN), "the token never reaches the log");
    eventually("the comment is edited for the second deploy", || {
        !github.calls_to("PATCH", "/issues/comments/").is_empty()
    })
    .await;
    assert_eq!(github.calls_to("POST", "/issues/7/comments").len(), 1, "one comment, then edits");
    let edit = &github.calls_to("PATCH", "/issues/comments/")[0];
    assert!(edit.body["body"].as_str().unwrap().contains("http://pr-7.preview.test"), "{edit:?}");

    // Closed: nothing of the preview is left.
    let (code, body) = pr_event(&gw, "closed", &repo, 7, &second, false).await;
    assert_eq!(code, 202, "{body}");
    eventually("the preview project is gone", || {
        let (names, images) = leftovers(&preview);
        names.is_empty() && images.is_empty() && !gw.data_dir().join("repos").join(&preview).exists()
    })
    .await;
    assert_eq!(gw.api("GET", &format!("/api/v1/projects/{preview}"), None).await.0, 404);
    assert_eq!(gw.api("GET", &format!("/api/v1/deployments/{}", d2["id"]), None).await.0, 404, "rows removed");
    assert_eq!(gw.get("pr-7.preview.test", "/").await.0, 404, "the route is gone");
    let (_, all) = gw.api("GET", &format!("/api/v1/projects/{parent}/previews?all=true"), None).await;
    assert_eq!(all[0]["removed_reason"], "pull request #7 was closed", "{all}");
    let (_, live) = gw.api("GET", &format!("/api/v1/projects/{parent}/previews"), None).await;
    assert_eq!(live, json!([]));
}

async fn wait_phase_or_status(gw: &Gateway, id: i64, want: &str) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    loop {
        let (_, d) = gw.api("GET", &format!("/api/v1/deployments/{id}"), None).await;
        if d["phase"] == want || d["status"] == want {
            return d;
        }
        assert!(std::time::Instant::now() < deadline, "deployment {id} never reached {want}: {d}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_push_waits_for_its_checks_a_failed_one_cancels_it_and_passing_ones_deploy_it() {
    let github = FakeGithub::start().await;
    let gw = Gateway::start().await;
    let name = unique_name("ci");
    let _cleanup = DockerCleanup(name.clone());
    let repo = AppRepo::new("v1");
    let extra = json!({"required_checks": ["test", "lint"], "github_token": "ghp_x", "github_api_url": github.url()});
    gw.add_docker_project(&name, &repo.url(), SECRET, extra).await;
    let send = |event: &'static str, payload: Value| {
        let gw = &gw;
        async move {
            let (code, body) = gw.webhook(event, &payload, SECRET, &delivery(), false).await;
            assert_eq!(code, 202, "{event}: {body}");
        }
    };

    // The first push: lint already passed before the push's webhook (GitHub's API says so), test fails.
    let v1 = git_head(&repo);
    github
        .set_check_runs(&v1, json!([{"name": "lint", "status": "completed", "conclusion": "success", "head_sha": v1}]));
    let first = gw.push(&repo.url(), "main", &v1, SECRET).await;
    wait_phase_or_status(&gw, first, "waiting_for_checks").await;
    send("check_run", check_run(&repo.url(), &v1, "test", None)).await;
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    let (_, d) = gw.api("GET", &format!("/api/v1/deployments/{first}"), None).await;
    assert_eq!(d["phase"], "waiting_for_checks", "an unfinished check holds it: {d}");
    send("check_run", check_run(&repo.url(), &v1, "test", Some("failure"))).await;
    let d = wait_phase_or_status(&gw, first, "CANCELLED").await;
    assert_eq!(d["error"], "check test failed (failure)", "{d}");
    assert!(d["image"].is_null(), "nothing was built for a commit that failed CI");
    assert_eq!(gw.get(&format!("{name}.test"), "/").await.0, 503);
    let log = gw.logs(&json!(first)).await;
    assert!(log.contains("GitHub reports 1 checks"), "{log}");

    // A second push waits; a third supersedes it while it waits.
    let v2 = repo.release("v2");
    let second = gw.push(&repo.url(), "main", &v2, SECRET).await;
    wait_phase_or_status(&gw, second, "waiting_for_checks").await;
    let v3 = repo.release("v3");
    let third = gw.push(&repo.url(), "main", &v3, SECRET).await;
    let d = wait_phase_or_status(&gw, second, "CANCELLED").await;
    assert!(d["error"].as_str().unwrap().contains(&format!("superseded by a newer push (deployment {third})")), "{d}");
    wait_phase_or_status(&gw, third, "waiting_for_checks").await;

    // Both checks pass (a check run and a commit status): it deploys, mirrored on GitHub despite two 502s.
    github.fail_next(2);
    send("status", status(&repo.url(), &v3, "lint", "success")).await;
    send("check_run", check_run(&repo.url(), &v3, "test", Some("success"))).await;
    let d = gw.wait_settled(third).await;
    assert_eq!(d["status"], "ACTIVE", "{d}\n{}", gw.logs(&d["id"]).await);
    assert_eq!(gw.get(&format!("{name}.test"), "/").await, (200, "v3".into()));
    eventually("the success status reaches GitHub", || {
        github.calls_to("POST", "/statuses").iter().any(|c| c.body["state"] == "success")
    })
    .await;
    let for_v3: Vec<Call> =
        github.calls_to("POST", "/deployments").into_iter().filter(|c| c.body["ref"] == v3.as_str()).collect();
    assert!(for_v3.iter().all(|c| c.body["environment"] == "production"), "{for_v3:?}");
    let failures = github.calls_to("POST", "/statuses").into_iter().filter(|c| c.body["state"] == "failure").count();
    assert!(failures >= 1, "the cancelled pushes are reported as failures");
    assert_eq!(github.calls_to("GET", "/check-runs").len(), 3, "GitHub asked once per waiting push");

    // No checks within checks_timeout_s: FAILED, naming what it waited for.
    gw.api("PATCH", &format!("/api/v1/projects/{name}"), Some(json!({"checks_timeout_s": 2}))).await;
    let v4 = repo.release("v4");
    let fourth = gw.push(&repo.url(), "main", &v4, SECRET).await;
    let d = wait_phase_or_status(&gw, fourth, "FAILED").await;
    assert!(d["error"].as_str().unwrap().contains("checks did not pass within 2 s"), "{d}");
    assert_eq!(gw.get(&format!("{name}.test"), "/").await, (200, "v3".into()), "the live version stays");
}

fn git_head(repo: &AppRepo) -> String {
    let out = Command::new("git").args(["rev-parse", "HEAD"]).current_dir(&repo.path).output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// The number of the pull requests whose previews are live, newest push first.
async fn live_previews(gw: &Gateway, parent: &str) -> Vec<u64> {
    let (_, list) = gw.api("GET", &format!("/api/v1/projects/{parent}/previews"), None).await;
    list.as_array().unwrap().iter().filter_map(|p| p["number"].as_u64()).collect()
}

async fn removed_reason(gw: &Gateway, parent: &str, number: u64) -> Option<String> {
    let (_, list) = gw.api("GET", &format!("/api/v1/projects/{parent}/previews?all=true"), None).await;
    let row = list.as_array()?.iter().find(|p| p["number"] == number)?.clone();
    row["removed_reason"].as_str().map(str::to_owned)
}

#[tokio::test]
async fn previews_beyond_the_cap_or_past_their_ttl_are_removed_even_across_a_restart_and_forks_wait_for_consent() {
    let mut gw = Gateway::start().await;
    let parent = unique_name("cap");
    let cleanups: Vec<DockerCleanup> = (1..=4).map(|n| DockerCleanup(format!("{parent}-pr-{n}"))).collect();
    let repo = AppRepo::new("v1");
    let extra = json!({"previews": true, "preview_domain": "cap.test", "max_previews": 2, "preview_ttl_h": 1.0});
    gw.add_docker_project(&parent, &repo.url(), SECRET, extra).await;
    let sha = git_head(&repo);
    repo.pull_ref(1);

    // A fork's pull request is not deployed until previews_from_forks is on.
    let (code, _) = pr_event(&gw, "opened", &repo, 4, &sha, true).await;
    assert_eq!(code, 204);
    assert_eq!(gw.api("GET", &format!("/api/v1/projects/{parent}-pr-4"), None).await.0, 404);
    assert!(gw.log().contains("comes from a fork and previews_from_forks is off"), "{}", gw.log());

    for n in 1..=3 {
        let (code, d) = pr_event(&gw, "opened", &repo, n, &sha, false).await;
        assert_eq!(code, 202, "{d}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    eventually_async(|| async { removed_reason(&gw, &parent, 1).await.is_some() }).await;
    eventually_async(|| async { live_previews(&gw, &parent).await == [3, 2] }).await;
    let reason = removed_reason(&gw, &parent, 1).await.unwrap();
    assert!(reason.contains("max_previews = 2"), "{reason}");
    eventually_async(|| async { leftovers(&format!("{parent}-pr-1")) == (String::new(), String::new()) }).await;

    // Two hours pass for pull request 2 while the gateway is down: it is removed when it starts again.
    gw.kill();
    sqlx::any::install_default_drivers();
    let db = format!("sqlite://{}", gw.data_dir().join("versiongate.db").display());
    let pool = sqlx::AnyPool::connect(&db).await.unwrap();
    let earlier = sqlx::query("UPDATE previews SET pushed_at = pushed_at - 7200000 WHERE project = $1")
        .bind(format!("{parent}-pr-2"))
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(earlier.rows_affected(), 1);
    pool.close().await;
    gw.start_again().await;
    eventually_async(|| async { live_previews(&gw, &parent).await == [3] }).await;
    let reason = removed_reason(&gw, &parent, 2).await.unwrap();
    assert!(reason.contains("preview_ttl_h"), "{reason}");
    let mut visitor = harness::visitor::Visitor::new(&gw);
    visitor.log_in("test-token").await;
    let page = visitor.page(&format!("/projects/{parent}")).await;
    assert!(page.contains("Pull-request previews") && page.contains("pr-3.cap.test"), "the dashboard lists previews");
    assert!(!page.contains("pr-2.cap.test"), "removed previews are not listed");
    let (code, out, _) = harness::cli(&gw, &["previews", &parent, "--all"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("#3  {parent}-pr-3  pr-3.cap.test")), "{out}");
    assert!(out.contains("removed") && out.contains("preview_ttl_h"), "{out}");

    // With consent, a fork's pull request is previewed.
    gw.api("PATCH", &format!("/api/v1/projects/{parent}"), Some(json!({"previews_from_forks": true}))).await;
    let (code, d) = pr_event(&gw, "opened", &repo, 4, &sha, true).await;
    assert_eq!((code, d["project"].as_str()), (202, Some(format!("{parent}-pr-4").as_str())), "{d}");
    drop(cleanups);
}

/// Polls an async condition for up to 60 s.
async fn eventually_async<F, Fut>(check: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !check().await {
        assert!(std::time::Instant::now() < deadline, "still not true after 60 s");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preview_gets_its_own_certificate_which_is_removed_with_it() {
    let (gw, _pebble) = harness::pebble::gateway_with_ca(r#"["http-01"]"#, 3600).await;
    let parent = unique_name("tls");
    let preview = format!("{parent}-pr-5");
    let (_c1, _c2) = (DockerCleanup(parent.clone()), DockerCleanup(preview.clone()));
    let repo = AppRepo::new("secure preview");
    repo.pull_ref(5);
    let extra = json!({"previews": true, "preview_domain": "pv.vg.test"});
    gw.add_docker_project(&parent, &repo.url(), SECRET, extra).await;
    let (code, d) = pr_event(&gw, "opened", &repo, 5, &git_head(&repo), false).await;
    assert_eq!(code, 202, "{d}");
    let row = harness::pebble::wait_status(&gw, "pr-5.pv.vg.test", "valid").await;
    assert!(row["issuer"].as_str().unwrap_or("").contains("Pebble"), "{row}");
    let d = gw.wait_settled(d["id"].as_i64().unwrap()).await;
    assert_eq!(d["status"], "ACTIVE", "{d}");

    let (code, _) = pr_event(&gw, "closed", &repo, 5, &git_head(&repo), false).await;
    assert_eq!(code, 202);
    eventually_async(|| async { harness::pebble::certificate(&gw, "pr-5.pv.vg.test").await.is_none() }).await;
    eventually_async(|| async { gw.api("GET", &format!("/api/v1/projects/{preview}"), None).await.0 == 404 }).await;
}

#[tokio::test]
async fn a_github_that_never_answers_neither_fails_nor_slows_a_deploy() {
    // Accepts connections and never answers: every GitHub call waits for its timeout, then retries.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = format!("http://{}", silent.local_addr().unwrap());
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((conn, _)) = silent.accept().await {
            open.push(conn);
        }
    });
    let gw = Gateway::start().await;
    let name = unique_name("gh");
    let _cleanup = DockerCleanup(name.clone());
    let repo = AppRepo::new("v1");
    let extra = json!({"required_checks": ["test"], "github_token": "ghp_x", "github_api_url": api});
    gw.add_docker_project(&name, &repo.url(), SECRET, extra).await;
    let sha = git_head(&repo);
    let started = std::time::Instant::now();
    let id = gw.push(&repo.url(), "main", &sha, SECRET).await;
    wait_phase_or_status(&gw, id, "waiting_for_checks").await;
    let (code, _) = gw
        .webhook("check_run", &check_run(&repo.url(), &sha, "test", Some("success")), SECRET, &delivery(), false)
        .await;
    assert_eq!(code, 202);
    let d = gw.wait_settled(id).await;
    assert_eq!(d["status"], "ACTIVE", "{d}");
    assert!(started.elapsed() < std::time::Duration::from_secs(20), "the deploy took {:?}", started.elapsed());
    assert_eq!(gw.get(&format!("{name}.test"), "/").await, (200, "v1".into()));
    held.abort();
}
