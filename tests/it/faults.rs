//! Fault injection through the `ContainerEngine` trait: a panicking or unreachable engine fails the
//! deployment with a clear reason and never touches the live route.

use crate::harness;

use async_trait::async_trait;
use harness::repo::AppRepo;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use versiongate::controller::{Controller, ControllerOptions, DeployRequest};
use versiongate::deployment::{Event, Phase, Status};
use versiongate::metrics::Metrics;
use versiongate::project::{ProjectSpec, Slot};
use versiongate::routes::Routes;
use versiongate::runtime::{BuildRequest, ContainerEngine, EngineError, Liveness, RunRequest};
use versiongate::store::{now_ms, Deployment, NewDeployment, Store};

#[derive(Clone, Copy)]
enum Fault {
    Panic,
    Unreachable,
}

struct FaultyEngine(Fault);

impl FaultyEngine {
    fn fail<T>(&self) -> Result<T, EngineError> {
        match self.0 {
            Fault::Panic => panic!("injected fault: the runtime panicked"),
            Fault::Unreachable => Err(EngineError::Unreachable {
                host: "unix:///var/run/docker.sock".into(),
                message: "injected fault: connection refused".into(),
            }),
        }
    }
}

#[async_trait]
impl ContainerEngine for FaultyEngine {
    async fn build(
        &self,
        _: BuildRequest,
        _: &(dyn Fn(String) + Send + Sync),
        _: &CancellationToken,
    ) -> Result<(), EngineError> {
        self.fail()
    }
    async fn run(&self, _: &RunRequest) -> Result<(), EngineError> {
        self.fail()
    }
    async fn keep_running(&self, _: &str) -> Result<(), EngineError> {
        self.fail()
    }
    async fn liveness(&self, _: &str) -> Result<Liveness, EngineError> {
        self.fail()
    }
    async fn container_deployment(&self, _: &str) -> Result<Option<i64>, EngineError> {
        self.fail()
    }
    async fn stop(&self, _: &str, _: Duration) -> Result<(), EngineError> {
        self.fail()
    }
    async fn remove(&self, _: &str) -> Result<(), EngineError> {
        self.fail()
    }
    async fn has_image(&self, _: &str) -> Result<bool, EngineError> {
        self.fail()
    }
    async fn slot_containers(&self, _: &str, _: Slot) -> Result<Vec<String>, EngineError> {
        self.fail()
    }
    async fn project_images(&self, _: &str) -> Result<Vec<String>, EngineError> {
        self.fail()
    }
    async fn remove_image(&self, _: &str) -> Result<(), EngineError> {
        self.fail()
    }
    async fn run_once(
        &self,
        _: &str,
        _: &str,
        _: &str,
        _: &[String],
        _: Duration,
    ) -> Result<(i64, String), EngineError> {
        self.fail()
    }
}

/// Where the project's requests go: its active member's address and deployment.
type Live = Option<(std::net::SocketAddr, i64)>;

fn live(routes: &Routes) -> Live {
    let table = routes.current();
    let member = table.project("app")?.backend.pools().active.members.first()?.clone();
    Some((member.addr, member.deployment_id))
}

/// A docker project whose live slot is already routed; returns the failed deployment and the live route after.
async fn deploy_with(fault: Fault) -> (Deployment, Live, Live) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&format!("sqlite://{}?mode=rwc", dir.path().join("db").display())).await.unwrap();
    let (routes, metrics) = (Arc::new(Routes::new()), Arc::new(Metrics::new().unwrap()));
    let options = ControllerOptions { data_dir: dir.path().to_owned(), ..ControllerOptions::default() };
    let controller = Controller::new(store.clone(), routes.clone(), metrics, Arc::new(FaultyEngine(fault)), options);
    let repo = AppRepo::new("v1");
    let spec = ProjectSpec {
        name: "app".into(),
        domains: vec!["app.test".into()],
        repo_url: repo.url(),
        ..ProjectSpec::default()
    };
    controller.create_project(spec).await.unwrap();
    // The live slot comes from the store, as after any switch: a row, then one sync of the table.
    let first = NewDeployment { project: "app".into(), target: Some("127.0.0.1:20000".into()), ..Default::default() };
    let first = store.create_deployment(first, now_ms()).await.unwrap();
    let addr = "127.0.0.1:20000".parse().unwrap();
    store.start_deployment(first.id, Slot::Blue, &[addr], Phase::HealthChecking, now_ms()).await.unwrap();
    store.activate(first.id, Event::Supersede, Phase::Done, now_ms()).await.unwrap();
    controller.sync().await.unwrap();
    let before = live(&routes);
    assert_eq!(before, Some((addr, first.id)));
    let d = controller
        .submit("app", DeployRequest { git_ref: Some("main".into()), ..DeployRequest::default() })
        .await
        .unwrap();
    for _ in 0..200 {
        let now = store.deployment(d.id).await.unwrap().unwrap();
        if now.status.is_finished() {
            let after = live(&routes);
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
