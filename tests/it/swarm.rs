//! The swarm runtime on a single-node swarm of the test engine (`docker swarm init --advertise-addr
//! 127.0.0.1`, left again at the end): services per slot with replicas on engine-chosen ports, routed by
//! the gateway itself, flips, rollback, a task that moves, removal; images pushed to a registry (Debian's
//! `docker-registry` on a loopback port) and run by digest.

use crate::harness;

use harness::repo::AppRepo;
use harness::{unique_name, Gateway};
use serde_json::{json, Value};
use std::process::Command;
use std::time::{Duration, Instant};

fn docker(args: &[&str]) -> (bool, String) {
    let out = Command::new("docker").args(args).output().expect("docker is installed");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text.trim().to_owned())
}

/// One test at a time joins and leaves the swarm.
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Joins a single-node swarm for the test and leaves it when dropped (also on a panic).
struct SingleNodeSwarm {
    joined_here: bool,
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

impl SingleNodeSwarm {
    /// Joins (or finds) the single-node swarm. An engine that cannot run one fails the test: a swarm test
    /// that cannot run must not pass.
    async fn join() -> SingleNodeSwarm {
        let turn = TURN.lock().await;
        let (_, state) = docker(&["info", "--format", "{{.Swarm.LocalNodeState}}"]);
        if state == "active" {
            return SingleNodeSwarm { joined_here: false, _turn: turn };
        }
        let (ok, text) = docker(&["swarm", "init", "--advertise-addr", "127.0.0.1"]);
        assert!(
            ok,
            "this Docker engine cannot run a swarm (`docker swarm init` said: {text}); the swarm tests need one"
        );
        SingleNodeSwarm { joined_here: true, _turn: turn }
    }
}

/// Debian's `docker-registry` on a loopback port, killed by pid when dropped.
struct Registry {
    child: std::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Registry {
    async fn start() -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let port = harness::free_port();
        let config = format!(
            "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.path().join("data").display()
        );
        std::fs::write(dir.path().join("config.yml"), config).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(dir.path().join("config.yml"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("docker-registry is installed (scripts/test installs Debian's docker-registry)");
        let registry = Registry { child, port, _dir: dir };
        harness::eventually("the registry listens", || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()).await;
        registry
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for SingleNodeSwarm {
    fn drop(&mut self) {
        if self.joined_here {
            let _ = docker(&["swarm", "leave", "--force"]);
        }
    }
}

fn replicas(service: &str) -> Option<String> {
    let (ok, text) = docker(&["service", "inspect", "-f", "{{.Spec.Mode.Replicated.Replicas}}", service]);
    ok.then_some(text)
}

async fn deploy(gw: &Gateway, name: &str, body: Value) -> Value {
    let (code, d) = gw.api("POST", &format!("/api/v1/projects/{name}/deployments"), Some(body)).await;
    assert_eq!(code, 202, "{d}");
    gw.wait_settled(d["id"].as_i64().unwrap()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_swarm_project_runs_its_slots_as_services_routed_by_the_gateway() {
    let _swarm = SingleNodeSwarm::join().await;
    let mut gw = Gateway::start().await;
    // The fallback poll slowed to ten minutes: only the engine's events can move the routes below.
    gw.restart_with_env(&[("VERSIONGATE_TEST_TASK_POLL_MS", "600000")]).await;
    let name = unique_name("sw");
    let repo = AppRepo::new("v1");
    let extra = json!({"runtime": "swarm", "replicas": 3, "drain_timeout_s": 1, "health_timeout_s": 60});
    gw.add_docker_project(&name, &repo.url(), "s", extra).await;
    let host = format!("{name}.test");

    let first = deploy(&gw, &name, json!({"ref": "main"})).await;
    assert_eq!(first["status"], "ACTIVE", "{first}\n{}", gw.logs(&first["id"]).await);
    assert_eq!(first["targets"].as_array().unwrap().len(), 3, "{first}");
    assert_eq!(gw.get(&host, "/").await, (200, "v1".into()));
    assert_eq!(replicas(&format!("{name}-blue")).as_deref(), Some("3"));
    let (_, init) = docker(&[
        "service",
        "inspect",
        "-f",
        "{{.Spec.TaskTemplate.ContainerSpec.Init}} {{.Spec.TaskTemplate.ContainerSpec.Image}}",
        &format!("{name}-blue"),
    ]);
    assert!(init.starts_with("true sha256:"), "init on, image pinned by ID: {init}");

    repo.release("v2");
    let second = deploy(&gw, &name, json!({"ref": "main"})).await;
    assert_eq!(second["status"], "ACTIVE", "{second}");
    assert_eq!(second["slot"], "green");
    assert_eq!(gw.get(&host, "/").await, (200, "v2".into()));
    let deadline = Instant::now() + Duration::from_secs(20);
    while replicas(&format!("{name}-blue")).as_deref() != Some("0") {
        assert!(Instant::now() < deadline, "the old service was not scaled to 0");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Rollback puts the first image back into the blue service.
    let (code, back) = gw.api("POST", &format!("/api/v1/projects/{name}/rollback"), Some(json!({}))).await;
    assert_eq!(code, 202, "{back}");
    let back = gw.wait_settled(back["id"].as_i64().unwrap()).await;
    assert_eq!(back["status"], "ACTIVE", "{back}");
    assert_eq!(gw.get(&host, "/").await, (200, "v1".into()));

    // A task killed under the live service comes back on a new port, and the routes follow it (the events).
    let live = gw.api("GET", &format!("/api/v1/deployments/{}", back["id"]), None).await.1;
    let before: Vec<String> = serde_json::from_value(live["targets"].clone()).unwrap();
    let (_, ids) = docker(&["ps", "-q", "--filter", &format!("label=com.docker.swarm.service.name={name}-blue")]);
    let victim = ids.lines().next().expect("a running task container").to_owned();
    docker(&["rm", "-f", &victim]);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut failed = 0;
    loop {
        failed += usize::from(gw.get(&host, "/").await.0 != 200);
        let now = gw.api("GET", &format!("/api/v1/deployments/{}", back["id"]), None).await.1;
        let after: Vec<String> = serde_json::from_value(now["targets"].clone()).unwrap();
        if after.len() == 3 && after != before {
            break;
        }
        assert!(Instant::now() < deadline, "the routes never followed the restarted task: {before:?} -> {after:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(failed, 0, "GETs failed while a task moved");

    assert_eq!(gw.api("DELETE", &format!("/api/v1/projects/{name}"), None).await.0, 204);
    assert_eq!(replicas(&format!("{name}-blue")), None, "services are removed with the project");
    assert_eq!(replicas(&format!("{name}-green")), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_registry_the_image_is_pushed_and_every_task_runs_it_by_digest() {
    let _swarm = SingleNodeSwarm::join().await;
    let registry = Registry::start().await;
    let gw = Gateway::start_with(&format!("[docker]\nregistry = \"127.0.0.1:{}/apps\"\n", registry.port)).await;
    let name = unique_name("swr");
    let repo = AppRepo::new("v1");
    gw.add_docker_project(&name, &repo.url(), "s", json!({"runtime": "swarm", "replicas": 2, "health_timeout_s": 60}))
        .await;
    let d = deploy(&gw, &name, json!({"ref": "main"})).await;
    assert_eq!(d["status"], "ACTIVE", "{d}\n{}", gw.logs(&d["id"]).await);
    assert_eq!(gw.get(&format!("{name}.test"), "/").await, (200, "v1".into()));

    let repository = format!("127.0.0.1:{}/apps/versiongate/{name}", registry.port);
    let (_, image) =
        docker(&["service", "inspect", "-f", "{{.Spec.TaskTemplate.ContainerSpec.Image}}", &format!("{name}-blue")]);
    assert!(
        image.starts_with(&format!("{repository}@sha256:")),
        "the service runs the pushed image by digest: {image}"
    );
    assert!(gw.logs(&d["id"]).await.contains(&format!("pushing versiongate/{name}:")), "the push is in the log");
    let catalog = harness::client_builder().build().unwrap();
    let url = format!("http://127.0.0.1:{}/v2/apps/versiongate/{name}/tags/list", registry.port);
    let tags: Value = catalog.get(url).send().await.unwrap().json().await.unwrap();
    assert_eq!(tags["tags"], json!([d["id"].to_string()]), "tagged with the deployment id: {tags}");
    assert_eq!(gw.api("DELETE", &format!("/api/v1/projects/{name}"), None).await.0, 204);
    let (_, left) = docker(&["images", "--format", "{{.Repository}}", &repository]);
    assert_eq!(left, "", "the pushed image's local name goes with the project");
}
