//! A fake app on a loopback port, on its own runtime so that `die` really drops every connection.

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Health {
    Ok = 0,
    Failing = 1,
    Slow = 2,
}

#[derive(Clone)]
struct App {
    name: Arc<str>,
    health: Arc<AtomicU8>,
    /// When set, every page but `/health` answers 500: healthy by the gate, broken under traffic.
    broken: Arc<std::sync::atomic::AtomicBool>,
    requests: Arc<AtomicUsize>,
}

pub struct Upstream {
    pub addr: SocketAddr,
    pub name: String,
    health: Arc<AtomicU8>,
    broken: Arc<std::sync::atomic::AtomicBool>,
    requests: Arc<AtomicUsize>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Upstream {
    /// Serves `name` on `/`, `/health` per [`Health`], `/slow?ms=N`, `POST /echo` and `/headers`.
    pub fn start(name: &str) -> Upstream {
        Upstream::start_at(name, "127.0.0.1:0".parse().unwrap())
    }

    /// As [`Upstream::start`], on `addr` (to bring a dead one back where it was).
    pub fn start_at(name: &str, addr: SocketAddr) -> Upstream {
        let listener = TcpListener::bind(addr).unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let app = App { name: name.into(), health: Arc::default(), broken: Arc::default(), requests: Arc::default() };
        let (health, requests, broken) = (app.health.clone(), app.requests.clone(), app.broken.clone());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                tokio::select! {
                    _ = axum::serve(listener, router(app)) => {}
                    _ = stopped => {}
                }
            });
            // Dropping the runtime drops every connection task: the app is gone, as after a crash.
            rt.shutdown_background();
        });
        Upstream { addr, name: name.into(), health, broken, requests, stop: Some(stop), thread: Some(thread) }
    }

    pub fn break_pages(&self) {
        self.broken.store(true, Ordering::SeqCst);
    }

    pub fn set_health(&self, health: Health) {
        self.health.store(health as u8, Ordering::SeqCst);
    }

    /// Requests served, health probes included.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// Stops listening and drops every open connection.
    pub fn die(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.die();
    }
}

fn router(app: App) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/slow", get(slow))
        .route("/echo", post(echo))
        .route("/headers", get(headers))
        .fallback(|State(app): State<App>| async move {
            app.requests.fetch_add(1, Ordering::SeqCst);
            let status =
                if app.broken.load(Ordering::SeqCst) { StatusCode::INTERNAL_SERVER_ERROR } else { StatusCode::OK };
            (status, app.name.to_string())
        })
        .with_state(app)
}

async fn health(State(app): State<App>) -> (StatusCode, &'static str) {
    app.requests.fetch_add(1, Ordering::SeqCst);
    match app.health.load(Ordering::SeqCst) {
        0 => (StatusCode::OK, "ok"),
        1 => (StatusCode::INTERNAL_SERVER_ERROR, "failing"),
        _ => {
            tokio::time::sleep(Duration::from_secs(5)).await;
            (StatusCode::OK, "slow")
        }
    }
}

async fn slow(State(app): State<App>, Query(q): Query<HashMap<String, u64>>) -> String {
    app.requests.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(q.get("ms").copied().unwrap_or(1000))).await;
    app.name.to_string()
}

async fn echo(State(app): State<App>, body: Bytes) -> String {
    app.requests.fetch_add(1, Ordering::SeqCst);
    format!("{}:{}", app.name, body.len())
}

async fn headers(State(app): State<App>, headers: HeaderMap) -> Json<Value> {
    app.requests.fetch_add(1, Ordering::SeqCst);
    let h = |k: &str| headers.get(k).and_then(|v| v.to_str().ok()).map(str::to_owned);
    Json(json!({
        "x-forwarded-for": h("x-forwarded-for"), "x-forwarded-proto": h("x-forwarded-proto"),
        "x-forwarded-host": h("x-forwarded-host"), "x-request-id": h("x-request-id"),
    }))
}
