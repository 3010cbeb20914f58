//! The GitHub-flow rows: a preview redeployed by pushes to its pull request, and a push held until CI
//! passes, each under load on the host it changes.

use super::https_rows::Outcome;
use crate::harness::github::{check_run, pull_request};
use crate::harness::load::LoadSpec;
use crate::harness::repo::{AppRepo, DockerCleanup};
use crate::harness::{unique_name, Gateway};
use serde_json::{json, Value};

const SECRET: &str = "matrix-github";
const PREVIEW_PUSHES: usize = 5;

fn any_version(_: bool, body: &str) -> bool {
    body.starts_with('v') && body.len() <= 4
}

async fn webhook(gw: &Gateway, event: &str, payload: &Value) -> Value {
    let delivery = uuid::Uuid::new_v4().to_string();
    gw.webhook(event, payload, SECRET, &delivery, false).await.1
}

pub async fn preview_pushes() -> Outcome {
    let name = "a pull-request preview pushed 5 times under load";
    let gw = Gateway::start().await;
    let parent = unique_name("mxp");
    let _cleanup = (DockerCleanup(parent.clone()), DockerCleanup(format!("{parent}-pr-1")));
    let repo = AppRepo::new("v0");
    gw.add_docker_project(&parent, &repo.url(), SECRET, json!({"previews": true, "preview_domain": "mx.test"})).await;
    let sha = repo.release("v1");
    repo.pull_ref(1);
    let opened = webhook(&gw, "pull_request", &pull_request("opened", &repo.url(), 1, &sha, "main", false)).await;
    let first = gw.wait_settled(opened["id"].as_i64().unwrap_or_default()).await;
    let spec = LoadSpec { host: "pr-1.mx.test", posts: false, accept: any_version };
    let (live, tally) = crate::harness::load::while_loaded(gw.proxy, spec, async {
        let mut live = 0;
        for n in 2..PREVIEW_PUSHES + 2 {
            let sha = repo.release(&format!("v{n}"));
            repo.pull_ref(1);
            let d =
                webhook(&gw, "pull_request", &pull_request("synchronize", &repo.url(), 1, &sha, "main", false)).await;
            live += usize::from(gw.wait_settled(d["id"].as_i64().unwrap_or_default()).await["status"] == "ACTIVE");
        }
        live
    })
    .await;
    let pass = first["status"] == "ACTIVE" && live == PREVIEW_PUSHES && tally.failed() == 0 && tally.ok > 100;
    let figures = format!(
        "{live}/{PREVIEW_PUSHES} pushes live: {} ok, {} failed{}",
        tally.ok,
        tally.failed(),
        tally.first_error()
    );
    (name, pass, figures)
}

pub async fn push_held_for_checks() -> Outcome {
    let name = "a push held until CI passes, then deployed, under load";
    let gw = Gateway::start().await;
    let project = unique_name("mxc");
    let _cleanup = DockerCleanup(project.clone());
    let repo = AppRepo::new("v1");
    gw.add_docker_project(&project, &repo.url(), SECRET, json!({"required_checks": ["test"]})).await;
    let (_, d) = gw.api("POST", &format!("/api/v1/projects/{project}/deployments"), Some(json!({"ref": "main"}))).await;
    let first = gw.wait_settled(d["id"].as_i64().unwrap_or_default()).await;
    let host: &'static str = Box::leak(format!("{project}.test").into_boxed_str());
    let spec = LoadSpec { host, posts: false, accept: any_version };
    let (waited, tally) = crate::harness::load::while_loaded(gw.proxy, spec, async {
        let sha = repo.release("v2");
        let id = gw.push(&repo.url(), "main", &sha, SECRET).await;
        gw.wait_phase(id, "waiting_for_checks").await;
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        let still = gw.api("GET", &format!("/api/v1/deployments/{id}"), None).await.1["phase"] == "waiting_for_checks";
        webhook(&gw, "check_run", &check_run(&repo.url(), &sha, "test", Some("success"))).await;
        (still, gw.wait_settled(id).await)
    })
    .await;
    let (held, d) = waited;
    let live = gw.get(host, "/").await.1;
    let pass = first["status"] == "ACTIVE" && held && d["status"] == "ACTIVE" && live == "v2" && tally.failed() == 0;
    let figures = format!(
        "held {held}, then {} and serving {live}: {} ok, {} failed{}",
        d["status"],
        tally.ok,
        tally.failed(),
        tally.first_error()
    );
    (name, pass, figures)
}
