//! Wiring: builds Routes, Metrics and the admin token, then runs the proxy and the control plane in one Pingora server.
//!
//! The control plane is a Pingora background service with its own runtime. The proxy
//! service depends on it, and Pingora starts the proxy's listeners only once the control
//! plane says it is ready: after the routes are restored from the store.

use crate::acme::{AcmeOptions, CertManager, Method};
use crate::admin::{self, load_or_create_token, AdminState, AuthError};
use crate::config::Config;
use crate::controller::{Controller, ControllerOptions, TestHook};
use crate::metrics::{Metrics, MetricsError};
use crate::nginx::NginxOutput;
use crate::proxy::Gateway;
use crate::routes::{Routes, TableOptions};
use crate::runtime::DockerEngine;
use crate::secrets::SecretBox;
use crate::store::Store;
use crate::tls::alpn::AlpnChallengeHook;
use crate::tls::{Certs, Challenges, Resolver};
use async_trait::async_trait;
use pingora::listeners::tls::TlsSettings;
use pingora::listeners::{L4BufferSettings, ListenerConfig};
use pingora::server::configuration::ServerConf;
use pingora::server::{Server, ShutdownWatch};
use pingora::services::background::{background_service, BackgroundService};
use pingora::services::ServiceReadyNotifier;
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("cannot create data_dir {path}: {source}. Create it or point data_dir elsewhere")]
    DataDir { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Token(#[from] AuthError),
    #[error(transparent)]
    Metrics(#[from] MetricsError),
    #[error("cannot set up the TLS listener: {0}")]
    Tls(String),
    #[error("cannot listen on {key} = {addr}: {source}. Is another versiongate or web server using it? Change {key} or stop that process")]
    Listen { key: &'static str, addr: String, source: std::io::Error },
}

/// Runs the gateway until a signal stops it. Never returns on success.
pub fn run(config: Config) -> Result<(), AppError> {
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|source| AppError::DataDir { path: config.data_dir.clone(), source })?;
    check_listen("proxy.http_listen", &config.proxy.http_listen)?;
    if !config.proxy.https_listen.is_empty() {
        check_listen("proxy.https_listen", &config.proxy.https_listen)?;
    }
    check_listen("admin.listen", &config.admin.listen)?;
    make_private(&config.data_dir);
    crate::source::limit_network_waits(Duration::from_secs(30), Duration::from_secs(120));
    if crate::config::parse_addr(&config.admin.listen).is_some_and(|a| !a.ip().is_loopback()) {
        tracing::warn!(
            "admin.listen = {} is not a loopback address: the API and /metrics are reachable from the network. \
             Prefer 127.0.0.1 and [admin] public_host, which exposes only webhooks, the API and the dashboard",
            config.admin.listen
        );
    }
    let (token, source) = load_or_create_token(&config.admin.token, &config.data_dir)?;
    tracing::info!("{}", source.describe());
    let routes = Arc::new(Routes::new());
    let metrics = Arc::new(Metrics::new()?);
    let certs = Arc::new(Certs::new());
    let challenges = Arc::new(Challenges::new());

    let mut server = Server::new_with_opt_and_conf(None, server_conf(&config));
    server.bootstrap();
    let control = ControlPlane {
        config: config.clone(),
        routes: routes.clone(),
        metrics: metrics.clone(),
        token: token.into(),
        certs: certs.clone(),
        challenges: challenges.clone(),
    };
    let mut control = background_service("control", control);
    control.threads = Some(2);
    let control = server.add_service(control);

    let https_port = crate::config::parse_addr(&config.proxy.https_listen).map(|a| a.port());
    let gateway = Gateway::new(routes, certs.clone(), challenges.clone(), https_port);
    let mut proxy = pingora::proxy::http_proxy_service_with_name(&server.configuration, gateway, "proxy");
    proxy.add_listener(proxy_listener(&config.proxy.http_listen));
    if https_port.is_some() {
        proxy.add_listener(tls_listener(&config.proxy.https_listen, certs)?);
        proxy.endpoints().set_pre_tls_callback(Arc::new(AlpnChallengeHook(challenges)));
    }
    proxy.threads = Some(config.proxy_threads());
    let proxy = server.add_service(proxy);
    proxy.add_dependency(&control);
    let https = if https_port.is_some() { format!(", https on {}", config.proxy.https_listen) } else { String::new() };
    tracing::info!("proxy on {}{https}, admin API on {}", config.proxy.http_listen, config.admin.listen);
    server.run_forever()
}

/// The proxy's TCP listener. Pingora's default 64 KiB read buffer per connection was most of the memory of
/// an idle keep-alive connection; reads go straight into the session's own header buffer instead
/// (docs/BENCHMARKS.md). Public so `examples/pingora_floor.rs` measures Pingora with the same listener.
pub fn proxy_listener(addr: &str) -> ListenerConfig {
    ListenerConfig::tcp(addr).l4_buffer(L4BufferSettings::new(0, 1460))
}

/// The TLS listener: certificates per SNI from the in-memory map, ALPN `h2` then `http/1.1`.
fn tls_listener(addr: &str, certs: Arc<Certs>) -> Result<ListenerConfig, AppError> {
    let mut tls = TlsSettings::intermediate("", "").map_err(|e| AppError::Tls(e.to_string()))?;
    tls.set_cert_resolver(Arc::new(Resolver(certs)));
    tls.enable_h2();
    Ok(proxy_listener(addr).tls(tls))
}

/// `VERSIONGATE_TEST_HOOK`, read only by a build with the `test-hooks` feature.
fn test_hook() -> Option<TestHook> {
    if !cfg!(feature = "test-hooks") {
        return None;
    }
    let hook = std::env::var("VERSIONGATE_TEST_HOOK").ok().and_then(|v| TestHook::parse(&v));
    if let Some(hook) = hook {
        tracing::warn!("test hook armed: {hook:?}");
    }
    hook
}

/// `[admin] public_host` and the admin server it leads to (a wildcard listen address means loopback).
fn public_admin(config: &Config) -> Option<(String, std::net::SocketAddr)> {
    let mut admin = crate::config::parse_addr(&config.admin.listen)?;
    if admin.ip().is_unspecified() {
        admin.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let host = crate::routes::normalize_host(&config.admin.public_host).filter(|h| !h.is_empty())?;
    Some((host.into_owned(), admin))
}

/// `data_dir` holds tokens, keys, clones and the database: only the gateway's user may enter it.
fn make_private(dir: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Err(e) = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)) {
        tracing::warn!("cannot make {} private (mode 0700): {e}", dir.display());
    }
}

fn server_conf(config: &Config) -> ServerConf {
    let dir = &config.data_dir;
    ServerConf {
        pid_file: dir.join("versiongate.pid").display().to_string(),
        upgrade_sock: dir.join("upgrade.sock").display().to_string(),
        threads: config.proxy_threads(),
        // Pingora sleeps the whole grace period on SIGTERM; keep it well under systemd's stop timeout.
        grace_period_seconds: Some(1),
        graceful_shutdown_timeout_seconds: Some(5),
        // One single-threaded runtime per proxy thread, as nginx runs one event loop per worker: no
        // cross-thread wake-ups on the request path (measured in docs/BENCHMARKS.md).
        work_stealing: false,
        ..ServerConf::default()
    }
}

/// Fails early with a clear message instead of a panic inside a service.
fn check_listen(key: &'static str, addr: &str) -> Result<(), AppError> {
    TcpListener::bind(addr).map(drop).map_err(|source| AppError::Listen { key, addr: addr.to_owned(), source })
}

struct ControlPlane {
    config: Config,
    routes: Arc<Routes>,
    metrics: Arc<Metrics>,
    token: Arc<str>,
    certs: Arc<Certs>,
    challenges: Arc<Challenges>,
}

#[async_trait]
impl BackgroundService for ControlPlane {
    async fn start_with_ready_notifier(&self, shutdown: ShutdownWatch, ready: ServiceReadyNotifier) {
        match self.start_up().await {
            Ok((state, listener)) => {
                ready.notify_ready();
                self.serve(state, listener, shutdown).await;
            }
            Err(message) => {
                tracing::error!("{message}");
                eprintln!("versiongate: {message}");
                std::process::exit(1);
            }
        }
    }
}

impl ControlPlane {
    /// Everything that must hold before the proxy takes traffic.
    async fn start_up(&self) -> Result<(AdminState, tokio::net::TcpListener), String> {
        let env_key = std::env::var("VERSIONGATE_SECRET_KEY").ok();
        let secrets =
            SecretBox::load_or_create(&self.config.data_dir, env_key.as_deref()).map_err(|e| e.to_string())?;
        let store =
            Store::open(&self.config.store_url()).await.map_err(|e| e.to_string())?.with_secrets(Arc::new(secrets));
        let runtime = Arc::new(DockerEngine::new(&self.config.docker.host));
        let nginx = &self.config.nginx;
        let nginx = (!nginx.include_dir.is_empty()).then(|| NginxOutput {
            include_dir: nginx.include_dir.clone().into(),
            test_command: nginx.test_command.clone(),
            reload_command: nginx.reload_command.clone(),
        });
        let images = self.config.build.clone();
        let hook = test_hook();
        let table = TableOptions { admin: public_admin(&self.config) };
        let synced = Arc::new(tokio::sync::Notify::new());
        let data_dir = self.config.data_dir.clone();
        let options = ControllerOptions { data_dir, nginx, images, hook, table, synced: synced.clone() };
        let controller = Controller::new(store, self.routes.clone(), self.metrics.clone(), runtime, options);
        let mut problems = Vec::new();
        for spec in &self.config.projects {
            if let Err(e) = controller.upsert_project(spec.clone()).await {
                problems.push(format!("config project `{}`: {e}", spec.name));
            }
        }
        let certs = self.cert_manager(controller.store(), synced);
        match certs.publish().await {
            Ok(problems) => problems.iter().for_each(|p| tracing::warn!("certificate not served: {p}")),
            Err(e) => {
                tracing::error!("cannot load the stored certificates: {e}; HTTPS serves none until the next round")
            }
        }
        let listener = tokio::net::TcpListener::bind(&self.config.admin.listen)
            .await
            .map_err(|e| format!("cannot listen on admin.listen = {}: {e}", self.config.admin.listen))?;
        let mut report = controller.restore().await;
        report.problems.extend(problems);
        tracing::info!("routes restored: {} projects, {} live", report.projects, report.live);
        let state = AdminState {
            controller,
            metrics: self.metrics.clone(),
            token: self.token.clone(),
            restore: Arc::new(Mutex::new(report)),
            backoff: Arc::default(),
            sessions: Arc::default(),
            certs,
            started_at: crate::store::now_ms(),
        };
        Ok((state, listener))
    }

    fn cert_manager(&self, store: &Store, wake: Arc<tokio::sync::Notify>) -> CertManager {
        let acme = &self.config.acme;
        let options = AcmeOptions {
            enabled: !self.config.proxy.https_listen.is_empty(),
            directory_url: acme.directory_url.clone(),
            email: acme.email.clone(),
            ca_file: acme.ca_file.clone(),
            methods: acme.challenges.iter().filter_map(|m| Method::parse(m)).collect(),
            public_host: self.config.admin.public_host.to_ascii_lowercase(),
        };
        let (certs, challenges, metrics) = (self.certs.clone(), self.challenges.clone(), self.metrics.clone());
        CertManager::new(store.clone(), certs, challenges, metrics, options, wake)
    }

    async fn serve(&self, state: AdminState, listener: tokio::net::TcpListener, mut shutdown: ShutdownWatch) {
        match state.controller.reconcile().await {
            Ok(0) => {}
            Ok(n) => tracing::warn!("{n} deployments were unfinished when the gateway stopped; they are FAILED"),
            Err(e) => tracing::error!("cannot clean up unfinished deployments: {e}"),
        }
        let certs = state.certs.clone();
        let rounds = shutdown.clone();
        tokio::spawn(async move { certs.run(rounds).await });
        let app = admin::router(state);
        let stop = async move {
            let _ = shutdown.changed().await;
        };
        let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
        if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(stop).await {
            tracing::error!("the admin server stopped: {e}");
        }
    }
}
