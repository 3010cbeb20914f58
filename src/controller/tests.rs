//! The pipeline's decisions in process: a fake runtime, tiny HTTP apps on loopback and SQLite in a
//! temporary directory. No Docker engine, no gateway binary.

use super::no_engine::NoEngine;
use super::*;
use crate::deployment::Status;
use crate::project::Slot;
use crate::runtime::{Job, RequestError, RuntimeError, RuntimeTraits};
use async_trait::async_trait;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::Mutex;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// An app on a loopback port that answers every request with `status`.
struct App {
    addr: SocketAddr,
    status: Arc<AtomicU16>,
}

impl App {
    async fn start(status: u16) -> App {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (addr, status) = (listener.local_addr().unwrap(), Arc::new(AtomicU16::new(status)));
        let answer = status.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let code = answer.load(Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buf = [0u8; 1024];
                    let _ = socket.read(&mut buf).await;
                    let reply = format!("HTTP/1.1 {code} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                    let _ = socket.write_all(reply.as_bytes()).await;
                });
            }
        });
        App { addr, status }
    }
}

/// A runtime whose blue and green slots are two [`App`]s, and whose green slot can be made to die.
struct FakeRuntime {
    slots: [SocketAddr; 2],
    green_dies: AtomicBool,
    calls: Mutex<Vec<String>>,
}

impl FakeRuntime {
    fn called(&self, what: String) {
        self.calls.lock().unwrap().push(what);
    }

    fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }
}

#[async_trait]
impl Runtime for FakeRuntime {
    fn traits(&self) -> RuntimeTraits {
        RuntimeTraits { name: "fake", builds: false, deploy_field: ("target", "Target", "") }
    }
    async fn request(&self, _: &ProjectRecord, _: &DeployRequest) -> Result<NewDeployment, RequestError> {
        Ok(NewDeployment::default())
    }
    async fn launch(&self, _: &Job<'_>, _: Slot) -> Result<(), RuntimeError> {
        Ok(())
    }
    async fn prepare(&self, job: &Job<'_>, slot: Slot) -> Result<Deployment, RuntimeError> {
        self.called(format!("start {slot}"));
        let addr = self.slots[usize::from(slot == Slot::Green)];
        Ok(job.journal.begin(slot, &[addr], crate::deployment::Phase::HealthChecking).await?)
    }
    async fn release(&self, _: &Job<'_>) -> Result<(), RuntimeError> {
        Ok(())
    }
    async fn died(&self, _: &str, slot: Slot) -> Option<RuntimeError> {
        let dead = slot == Slot::Green && self.green_dies.load(Ordering::SeqCst);
        dead.then(|| RuntimeError::ContainerDied { exit_code: 3, restarts: 0, logs: "boom".into() })
    }
    fn unreachable_hint(&self, _: &ProjectSpec) -> Option<String> {
        None
    }
    async fn discard(&self, _: &str, slot: Slot) {
        self.called(format!("discard {slot}"));
    }
    async fn keep(&self, _: &str, slot: Slot) -> Result<(), RuntimeError> {
        self.called(format!("keep {slot}"));
        Ok(())
    }
    async fn retire(&self, _: &ProjectSpec, slot: Slot, _: SocketAddr) -> String {
        self.called(format!("retire {slot}"));
        format!("retired {slot}")
    }
    async fn prune(&self, _: &ProjectSpec, _: &[Deployment]) -> Vec<String> {
        Vec::new()
    }
    async fn remove_project(&self, _: &str) {}
    async fn remove_leftovers(&self, _: &Deployment) {}
    async fn settle(&self, _: &Deployment) {}
    async fn revive(&self, _: &ProjectRecord, _: &Deployment) -> Result<(), String> {
        Ok(())
    }
    fn return_to(&self, d: &Deployment) -> Option<NewDeployment> {
        Some(NewDeployment::again_of(d, crate::deployment::Trigger::Rollback))
    }
    async fn retained(&self, _: &str, _: &[Deployment]) -> Vec<serde_json::Value> {
        Vec::new()
    }
}

struct Rig {
    controller: Controller,
    runtime: Arc<FakeRuntime>,
    blue: App,
    green: App,
    _dir: tempfile::TempDir,
}

async fn rig(observe_s: u64) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&format!("sqlite://{}?mode=rwc", dir.path().join("db").display())).await.unwrap();
    let (blue, green) = (App::start(200).await, App::start(200).await);
    let runtime = Arc::new(FakeRuntime {
        slots: [blue.addr, green.addr],
        green_dies: AtomicBool::new(false),
        calls: Mutex::default(),
    });
    let metrics = Arc::new(Metrics::new().unwrap());
    let options = ControllerOptions { data_dir: dir.path().to_owned(), ..ControllerOptions::default() };
    let controller = Controller::new(store, Arc::new(Routes::new()), metrics, Arc::new(NoEngine), options)
        .with_runtimes(Runtimes::single(runtime.clone()));
    let spec = ProjectSpec {
        name: "app".into(),
        domains: vec!["app.test".into()],
        health_interval_ms: 20,
        healthy_threshold: 2,
        health_timeout_s: 1,
        drain_timeout_s: 1,
        observe_s,
        min_requests: 5,
        ..ProjectSpec::default()
    };
    controller.create_project(spec).await.unwrap();
    Rig { controller, runtime, blue, green, _dir: dir }
}

impl Rig {
    /// Submits a deployment and waits until it has ended: done (live, old slot retired) or not live at all.
    async fn deploy(&self) -> Deployment {
        let d = self.controller.submit("app", DeployRequest::default()).await.unwrap();
        for _ in 0..400 {
            let now = self.controller.store().deployment(d.id).await.unwrap().unwrap();
            let ended = now.status.is_finished() && now.status != Status::Active;
            if ended || now.phase == crate::deployment::Phase::Done {
                return now;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("deployment {} never ended", d.id)
    }

    /// The address and deployment the proxy sends requests to.
    fn live(&self) -> Option<(SocketAddr, i64)> {
        let table = self.controller.routes().current();
        let member = table.project("app")?.backend.pools().active.members.first()?.clone();
        Some((member.addr, member.deployment_id))
    }
}

#[tokio::test]
async fn a_healthy_deploy_switches_then_retires_the_old_slot() {
    let rig = rig(0).await;
    let first = rig.deploy().await;
    assert_eq!(first.status, Status::Active, "{first:?}");
    assert_eq!(rig.live(), Some((rig.blue.addr, first.id)));
    let second = rig.deploy().await;
    assert_eq!((second.status, second.slot), (Status::Active, Some(Slot::Green)));
    assert_eq!(rig.live(), Some((rig.green.addr, second.id)), "the store said switch; sync published it");
    let calls = rig.runtime.calls();
    assert_eq!(calls, ["start blue", "keep blue", "start green", "keep green", "retire blue"], "{calls:?}");
}

#[tokio::test]
async fn a_failed_health_gate_keeps_the_live_version_and_discards_the_new_slot() {
    let rig = rig(0).await;
    let first = rig.deploy().await;
    rig.green.status.store(503, Ordering::SeqCst);
    let failed = rig.deploy().await;
    assert_eq!(failed.status, Status::Failed);
    assert!(failed.error.as_deref().unwrap().starts_with("health check failed"), "{:?}", failed.error);
    assert_eq!(rig.live(), Some((rig.blue.addr, first.id)), "the live route was never touched");
    assert_eq!(rig.runtime.calls().last().map(String::as_str), Some("discard green"));
}

#[tokio::test]
async fn a_slot_that_dies_fails_the_gate_at_once() {
    let rig = rig(0).await;
    rig.deploy().await;
    rig.green.status.store(503, Ordering::SeqCst);
    rig.runtime.green_dies.store(true, Ordering::SeqCst);
    let started = std::time::Instant::now();
    let failed = rig.deploy().await;
    assert!(failed.error.as_deref().unwrap().starts_with("the container exited (exit code 3"), "{:?}", failed.error);
    assert!(started.elapsed() < Duration::from_millis(900), "before the 1 s health timeout: {:?}", started.elapsed());
}

#[tokio::test]
async fn errors_in_the_observe_window_flip_traffic_back() {
    let rig = rig(5).await;
    let first = rig.deploy().await;
    let second = rig.controller.submit("app", DeployRequest::default()).await.unwrap();
    let metrics = rig.controller.inner.metrics.project("app");
    for _ in 0..200 {
        if rig.controller.observe_figures("app", second.id).is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(rig.live(), Some((rig.green.addr, second.id)), "switched, observing");
    let warm = rig.controller.routes().current().project("app").unwrap().backend.pools().warm.members.clone();
    assert_eq!(warm.iter().map(|m| m.deployment_id).collect::<Vec<_>>(), [first.id], "the old slot stays warm");
    for _ in 0..10 {
        metrics.observe(Slot::Green, 502, Duration::from_millis(1));
    }
    let bad = rig.deploy_wait(second.id).await;
    assert_eq!(bad.status, Status::RolledBack, "{:?}", bad.error);
    // The flip is committed first, then synced into the table.
    for _ in 0..200 {
        if rig.live().is_some_and(|(addr, _)| addr == rig.blue.addr) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (addr, live_id) = rig.live().unwrap();
    assert_eq!(addr, rig.blue.addr, "traffic is back on the warm slot");
    let live = rig.controller.store().deployment(live_id).await.unwrap().unwrap();
    assert_eq!((live.trigger, live.rollback_of), (crate::deployment::Trigger::AutoRollback, Some(second.id)));
}

impl Rig {
    async fn deploy_wait(&self, id: i64) -> Deployment {
        for _ in 0..400 {
            let now = self.controller.store().deployment(id).await.unwrap().unwrap();
            if now.status.is_finished() && now.status != Status::Active {
                return now;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("deployment {id} never ended")
    }
}
