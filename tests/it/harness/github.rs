//! GitHub's side for tests: a local server implementing the REST endpoints versiongate calls (as GitHub
//! documents them) and recording each call, notification receivers (live, slow or dead), and GitHub's
//! real pull_request / check payloads pointed at a test repository.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One call the fake GitHub received.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: &'static str,
    pub path: String,
    pub body: Value,
}

#[derive(Clone, Default)]
struct GithubState {
    calls: Arc<Mutex<Vec<Call>>>,
    /// check-runs answers by commit SHA.
    runs: Arc<Mutex<std::collections::HashMap<String, Value>>>,
    /// Answer this many of the next calls with 502 before serving them.
    fail_next: Arc<AtomicUsize>,
    ids: Arc<AtomicI64>,
}

pub struct FakeGithub {
    pub addr: SocketAddr,
    state: GithubState,
}

impl FakeGithub {
    pub async fn start() -> FakeGithub {
        let state = GithubState { ids: Arc::new(AtomicI64::new(1_000_000_000_000)), ..GithubState::default() };
        let app = Router::new()
            .route("/repos/{owner}/{repo}/deployments", post(create_deployment))
            .route("/repos/{owner}/{repo}/deployments/{id}/statuses", post(create_status))
            .route("/repos/{owner}/{repo}/commits/{sha}/check-runs", get(check_runs))
            .route("/repos/{owner}/{repo}/commits/{sha}/status", get(combined_status))
            .route("/repos/{owner}/{repo}/issues/{number}/comments", post(create_comment))
            .route("/repos/{owner}/{repo}/issues/comments/{id}", patch(update_comment))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        FakeGithub { addr, state }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn calls(&self) -> Vec<Call> {
        self.state.calls.lock().unwrap().clone()
    }

    /// Calls whose path ends with `suffix` (after the repository), in order.
    pub fn calls_to(&self, method: &str, contains: &str) -> Vec<Call> {
        self.calls().into_iter().filter(|c| c.method == method && c.path.contains(contains)).collect()
    }

    /// What `GET …/commits/{sha}/check-runs` answers for `sha`.
    pub fn set_check_runs(&self, sha: &str, runs: Value) {
        self.state.runs.lock().unwrap().insert(sha.to_owned(), runs);
    }

    pub fn fail_next(&self, n: usize) {
        self.state.fail_next.store(n, Ordering::SeqCst);
    }
}

type Reply = Result<(StatusCode, Json<Value>), StatusCode>;

/// Records the call; answers 502 while failures are due.
fn record(state: &GithubState, method: &'static str, path: String, body: Value) -> Result<(), StatusCode> {
    state.calls.lock().unwrap().push(Call { method, path, body });
    let due = state.fail_next.load(Ordering::SeqCst);
    if due > 0 {
        state.fail_next.store(due - 1, Ordering::SeqCst);
        return Err(StatusCode::BAD_GATEWAY);
    }
    Ok(())
}

async fn create_deployment(
    State(s): State<GithubState>,
    Path((o, r)): Path<(String, String)>,
    Json(b): Json<Value>,
) -> Reply {
    record(&s, "POST", format!("/repos/{o}/{r}/deployments"), b.clone())?;
    let id = s.ids.fetch_add(1, Ordering::SeqCst);
    Ok((StatusCode::CREATED, Json(json!({"id": id, "ref": b["ref"], "environment": b["environment"]}))))
}

async fn create_status(
    State(s): State<GithubState>,
    Path((o, r, id)): Path<(String, String, i64)>,
    Json(b): Json<Value>,
) -> Reply {
    record(&s, "POST", format!("/repos/{o}/{r}/deployments/{id}/statuses"), b.clone())?;
    Ok((StatusCode::CREATED, Json(json!({"id": s.ids.fetch_add(1, Ordering::SeqCst), "state": b["state"]}))))
}

async fn check_runs(State(s): State<GithubState>, Path((o, r, sha)): Path<(String, String, String)>) -> Reply {
    record(&s, "GET", format!("/repos/{o}/{r}/commits/{sha}/check-runs"), Value::Null)?;
    let runs = s.runs.lock().unwrap().get(&sha).cloned().unwrap_or_else(|| json!([]));
    Ok((StatusCode::OK, Json(json!({"total_count": runs.as_array().map_or(0, Vec::len), "check_runs": runs}))))
}

async fn combined_status(State(s): State<GithubState>, Path((o, r, sha)): Path<(String, String, String)>) -> Reply {
    record(&s, "GET", format!("/repos/{o}/{r}/commits/{sha}/status"), Value::Null)?;
    Ok((StatusCode::OK, Json(json!({"state": "pending", "sha": sha, "total_count": 0, "statuses": []}))))
}

async fn create_comment(
    State(s): State<GithubState>,
    Path((o, r, n)): Path<(String, String, u64)>,
    Json(b): Json<Value>,
) -> Reply {
    record(&s, "POST", format!("/repos/{o}/{r}/issues/{n}/comments"), b.clone())?;
    Ok((StatusCode::CREATED, Json(json!({"id": s.ids.fetch_add(1, Ordering::SeqCst), "body": b["body"]}))))
}

async fn update_comment(
    State(s): State<GithubState>,
    Path((o, r, id)): Path<(String, String, i64)>,
    Json(b): Json<Value>,
) -> Reply {
    record(&s, "PATCH", format!("/repos/{o}/{r}/issues/comments/{id}"), b.clone())?;
    Ok((StatusCode::OK, Json(json!({"id": id, "body": b["body"]}))))
}

/// A notification receiver that records each body, answering after `delay`.
pub struct Receiver {
    pub addr: SocketAddr,
    bodies: Arc<Mutex<Vec<Value>>>,
}

impl Receiver {
    pub async fn start(delay: Duration) -> Receiver {
        let bodies: Arc<Mutex<Vec<Value>>> = Arc::default();
        let seen = bodies.clone();
        let app = Router::new().route(
            "/hook/{secret}",
            post(move |Json(body): Json<Value>| {
                let seen = seen.clone();
                async move {
                    tokio::time::sleep(delay).await;
                    seen.lock().unwrap().push(body);
                    StatusCode::NO_CONTENT
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver { addr, bodies }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook/s3cr3t-token", self.addr)
    }

    pub fn bodies(&self) -> Vec<Value> {
        self.bodies.lock().unwrap().clone()
    }
}

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/github/{name}.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn point_at(payload: &mut Value, repo_url: &str) {
    for key in ["clone_url", "ssh_url", "html_url", "git_url"] {
        payload["repository"][key] = json!(repo_url);
    }
    payload["repository"]["full_name"] = json!("octo/app");
}

/// GitHub's `pull_request` payload for pull request `number` of `octo/app` (at `repo_url`) into `base`,
/// with head `sha`; `fork` puts the head in another repository.
pub fn pull_request(action: &str, repo_url: &str, number: u32, sha: &str, base: &str, fork: bool) -> Value {
    let mut p = fixture(&format!("pull_request-{}", if action == "closed" { "closed" } else { "opened" }));
    p["action"] = json!(action);
    p["number"] = json!(number);
    p["pull_request"]["number"] = json!(number);
    p["pull_request"]["head"]["sha"] = json!(sha);
    p["pull_request"]["base"]["ref"] = json!(base);
    p["pull_request"]["base"]["repo"]["full_name"] = json!("octo/app");
    p["pull_request"]["head"]["repo"]["full_name"] = json!(if fork { "mallory/app" } else { "octo/app" });
    point_at(&mut p, repo_url);
    p
}

/// GitHub's `check_run` payload for check `name` of `sha`: `conclusion` None means still in progress.
pub fn check_run(repo_url: &str, sha: &str, name: &str, conclusion: Option<&str>) -> Value {
    let mut p = fixture("check_run-completed");
    p["check_run"]["head_sha"] = json!(sha);
    p["check_run"]["name"] = json!(name);
    p["check_run"]["status"] = json!(if conclusion.is_some() { "completed" } else { "in_progress" });
    p["check_run"]["conclusion"] = json!(conclusion);
    point_at(&mut p, repo_url);
    p
}

/// GitHub's `status` payload: commit status `context` of `sha` in `state`.
pub fn status(repo_url: &str, sha: &str, context: &str, state: &str) -> Value {
    let mut p = fixture("status");
    p["sha"] = json!(sha);
    p["context"] = json!(context);
    p["state"] = json!(state);
    point_at(&mut p, repo_url);
    p
}
