//! Fault injection through the `ContainerRuntime` trait: a panicking or unreachable engine fails the
//! deployment with a clear reason and never touches the live route.

mod harness;

use async_trait::async_trait;
use harness::repo::AppRepo;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use versiongate::controller::{Controller, ControllerOptions, DeployRequest};
use versiongate::deployment::Status;
use versiongate::metrics::Metrics;
use versiongate::project::{ProjectSpec, Slot};
use versiongate::routes::{Routes, Upstream};
use versiongate::runtime::{BuildRequest, ContainerRuntime, Liveness, RunRequest, RuntimeError};
use versiongate::store::{Deployment, Store};

#[derive(Clone, Copy)]
enum Fault {
    Panic,
    Unreachable,
}

struct FaultyRuntime(Fault);

impl FaultyRuntime {
    fn fail<T>(&self) -> Result<T, RuntimeError> {
        match self.0 {
            Fault::Panic => panic!("injected fault: the runtime panicked"),
            Fault::Unreachable => Err(RuntimeError::Unreachable {
                host: "unix:///var/run/docker.sock".into(),
                message: "injected fault: connection refused".into(),
            }),
        }
    }
}

#[async_trait]
impl ContainerRuntime for FaultyRuntime {
    async fn build(
        &self,
        _: BuildRequest,
        _: &(dyn Fn(String) + Send + Sync),
        _: &CancellationToken,
    ) -> Result<(), RuntimeError> {
        self.fail()
    }
    async fn run(&self, _: &RunRequest) -> Result<(), RuntimeError> {
        self.fail()
    }
    async fn keep_running(&self, _: &str) -> Result<(), RuntimeError> {
        self.fail()
    }
    async fn liveness(&self, _: &str) -> Result<Liveness, RuntimeError> {
        self.fail()
    }
    async fn container_deployment(&self, _: &str) -> Result<Option<i64>, RuntimeError> {
        self.fail()
    }
    async fn stop(&self, _: &str, _: Duration) -> Result<(), RuntimeError> {
        self.fail()
    }
    async fn remove(&self, _: &str) -> Result<(), RuntimeError> {
        self.fail()
    }
    async fn has_image(&self, _: &str) -> Result<bool, RuntimeError> {
        self.fail()
    }
    async fn project_images(&self, _: &str) -> Result<Vec<String>, RuntimeError> {
        self.fail()
    }
    async fn remove_image(&self, _: &str) -> Result<(), RuntimeError> {
        self.fail()
    }
    async fn run_once(
        &self,
        _: &str,
        _: &str,
        _: &str,
        _: &[String],
        _: Duration,
    ) -> Result<(i64, String), RuntimeError> {
        self.fail()
    }
}

/// A docker project whose live slot is already routed; returns the failed deployment and the live route after.
async fn deploy_with(fault: Fault) -> (Deployment, Option<Upstream>, Option<Upstream>) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&format!("sqlite://{}?mode=rwc", dir.path().join("db").display())).await.unwrap();
    let (routes, metrics) = (Arc::new(Routes::new()), Arc::new(Metrics::new().unwrap()));
    let options = ControllerOptions { data_dir: dir.path().to_owned(), ..ControllerOptions::default() };
    let controller = Controller::new(store.clone(), routes.clone(), metrics, Arc::new(FaultyRuntime(fault)), options);
    let repo = AppRepo::new("v1");
    let spec = ProjectSpec {
        name: "app".into(),
        domains: vec!["app.test".into()],
        repo_url: repo.url(),
        ..ProjectSpec::default()
    };
    controller.create_project(spec).await.unwrap();
    let live = Upstream { slot: Slot::Blue, addr: "127.0.0.1:20000".parse().unwrap(), deployment_id: 0 };
    routes.switch("app", live);
    let before = routes.current().project("app").and_then(|r| r.live);
    let d = controller
        .submit("app", DeployRequest { git_ref: Some("main".into()), ..DeployRequest::default() })
        .await
        .unwrap();
    for _ in 0..200 {
        let now = store.deployment(d.id).await.unwrap().unwrap();
        if now.status.is_finished() {
            let after = routes.current().project("app").and_then(|r| r.live);
            return (now, before, after);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the deployment never ended")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_in_the_pipeline_fails_only_that_deployment() {
    let (d, before, after) = deploy_with(Fault::Panic).await;
    assert_eq!(d.status, Status::Failed);
    assert!(d.error.as_deref().unwrap().starts_with("internal error, see log"), "{:?}", d.error);
    assert_eq!(before, after, "the live route is untouched");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_docker_engine_fails_the_deploy_with_its_address() {
    let (d, before, after) = deploy_with(Fault::Unreachable).await;
    assert_eq!(d.status, Status::Failed);
    let error = d.error.unwrap();
    assert!(error.contains("cannot reach the Docker engine at unix:///var/run/docker.sock"), "{error}");
    assert_eq!(before, after, "the live route is untouched");
}
