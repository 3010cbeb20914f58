//! The control plane as a Pingora background service: start-up (store, projects, certificates, routes),
//! then the admin server, the certificate manager and the route follower, and at the end the retirement.

use crate::acme::{AcmeOptions, CertManager, Method};
use crate::admin::{self, AdminState};
use crate::config::Config;
use crate::controller::{ClusterOptions, Controller, ControllerOptions, TestHook};
use crate::github::{Mirror, MirrorOptions};
use crate::metrics::Metrics;
use crate::nginx::NginxOutput;
use crate::routes::{Routes, TableOptions};
use crate::runtime::DockerEngine;
use crate::secrets::SecretBox;
use crate::store::{Roles, Store};
use crate::tls::{Certs, Challenges};
use crate::upgrade::listener::AdminSocket;
use crate::upgrade::{Retirement, Successor, Upgrader};
use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use pingora::services::ServiceReadyNotifier;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;

/// Admin connections still open this long after the shutdown (dashboard log streams) are closed; the
/// browser reconnects, to the successor after an upgrade.
const ADMIN_GRACE: Duration = Duration::from_secs(3);

pub(super) struct ControlPlane {
    pub(super) config: Config,
    pub(super) routes: Arc<Routes>,
    pub(super) metrics: Arc<Metrics>,
    pub(super) token: Arc<str>,
    pub(super) certs: Arc<Certs>,
    pub(super) challenges: Arc<Challenges>,
    pub(super) retirement: Arc<Retirement>,
    pub(super) upgrader: Upgrader,
    pub(super) successor: Option<&'static Successor>,
    pub(super) admin_socket: Mutex<Option<oneshot::Receiver<AdminSocket>>>,
}

#[async_trait]
impl BackgroundService for ControlPlane {
    async fn start_with_ready_notifier(&self, shutdown: ShutdownWatch, ready: ServiceReadyNotifier) {
        self.upgrader.attach(tokio::runtime::Handle::current());
        match self.start_up().await {
            Ok(state) => {
                ready.notify_ready();
                self.serve(state, shutdown).await;
            }
            Err(message) => {
                tracing::error!("{message}");
                eprintln!("versiongate: {message}");
                if let Some(successor) = &self.successor {
                    successor.failed(&message);
                }
                std::process::exit(1);
            }
        }
    }
}

/// A successor's step between start-up and the socket hand-over: tell the old process to send them.
pub(super) struct Waiting(pub(super) &'static Successor);

#[async_trait]
impl BackgroundService for Waiting {
    async fn start_with_ready_notifier(&self, _shutdown: ShutdownWatch, ready: ServiceReadyNotifier) {
        self.0.waiting();
        ready.notify_ready();
    }
}

impl ControlPlane {
    /// Everything that must hold before the proxy takes traffic.
    async fn start_up(&self) -> Result<AdminState, String> {
        let env_key = std::env::var("VERSIONGATE_SECRET_KEY").ok();
        let secrets =
            SecretBox::load_or_create(&self.config.data_dir, env_key.as_deref()).map_err(|e| e.to_string())?;
        let store =
            Store::open(&self.config.store_url()).await.map_err(|e| e.to_string())?.with_secrets(Arc::new(secrets));
        let synced = Arc::new(tokio::sync::Notify::new());
        let roles = Arc::new(Roles::new(!self.config.cluster.node.is_empty()));
        let controller = self.controller(store, synced.clone(), roles.clone());
        let config_docker: Vec<String> =
            self.config.projects.iter().filter(|p| p.runtime.needs_one_engine()).map(|p| p.name.clone()).collect();
        controller.check_membership(&config_docker).await.map_err(|e| format!("this gateway cannot join: {e}"))?;
        let mut problems = Vec::new();
        for spec in &self.config.projects {
            if let Err(e) = controller.upsert_project(spec.clone()).await {
                problems.push(format!("config project `{}`: {e}", spec.name));
            }
        }
        let certs = self.cert_manager(controller.store(), synced, roles);
        match certs.publish().await {
            Ok(problems) => problems.iter().for_each(|p| tracing::warn!("certificate not served: {p}")),
            Err(e) => {
                tracing::error!("cannot load the stored certificates: {e}; HTTPS serves none until the next round")
            }
        }
        let mut report = controller.restore().await;
        report.problems.extend(problems);
        tracing::info!("routes restored: {} projects, {} live", report.projects, report.live);
        let sessions = Arc::new(crate::admin::dashboard::session::Sessions::new(controller.store().clone()));
        Ok(AdminState {
            controller,
            metrics: self.metrics.clone(),
            token: self.token.clone(),
            restore: Arc::new(Mutex::new(report)),
            backoff: Arc::default(),
            sessions,
            certs,
            started_at: crate::store::now_ms(),
            upgrader: self.upgrader.clone(),
            notifier: Arc::new(crate::notify::Notifier::start(&self.config.notify, &dashboard_url(&self.config))),
        })
    }

    fn controller(&self, store: Store, synced: Arc<tokio::sync::Notify>, roles: Arc<Roles>) -> Controller {
        let runtime = Arc::new(DockerEngine::new(&self.config.docker.host));
        let nginx = &self.config.nginx;
        let nginx = (!nginx.include_dir.is_empty()).then(|| NginxOutput {
            include_dir: nginx.include_dir.clone().into(),
            test_command: nginx.test_command.clone(),
            reload_command: nginx.reload_command.clone(),
        });
        let options = ControllerOptions {
            data_dir: self.config.data_dir.clone(),
            nginx,
            images: self.config.build.clone(),
            registry: self.config.docker.registry.clone(),
            hook: test_hook(),
            table: TableOptions { admin: public_admin(&self.config) },
            synced,
            retirement: self.retirement.clone(),
            cluster: ClusterOptions::new(
                Some(self.config.cluster.node.clone()).filter(|n| !n.is_empty()),
                Duration::from_secs(self.config.cluster.lease_timeout_s),
                roles,
                &self.token,
            ),
        };
        Controller::new(store, self.routes.clone(), self.metrics.clone(), runtime, options)
    }

    fn cert_manager(&self, store: &Store, wake: Arc<tokio::sync::Notify>, roles: Arc<Roles>) -> CertManager {
        let acme = &self.config.acme;
        let options = AcmeOptions {
            enabled: !self.config.proxy.https_listen.is_empty(),
            directory_url: acme.directory_url.clone(),
            email: acme.email.clone(),
            ca_file: acme.ca_file.clone(),
            methods: acme.challenges.iter().filter_map(|m| Method::parse(m)).collect(),
            public_host: self.config.admin.public_host.to_ascii_lowercase(),
            roles,
        };
        let (certs, challenges, metrics) = (self.certs.clone(), self.challenges.clone(), self.metrics.clone());
        CertManager::new(store.clone(), certs, challenges, metrics, options, wake)
    }

    async fn serve(&self, state: AdminState, shutdown: ShutdownWatch) {
        let controller = state.controller.clone();
        match &self.successor {
            Some(successor) => {
                let (controller, old) = (controller.clone(), successor.old_pid);
                tokio::spawn(async move { controller.take_over_from(old).await });
            }
            None => match controller.reconcile().await {
                Ok(0) => {}
                Ok(n) => tracing::warn!("{n} deployments were unfinished when the gateway stopped; they are FAILED"),
                Err(e) => tracing::error!("cannot clean up unfinished deployments: {e}"),
            },
        }
        let follower = controller.clone();
        tokio::spawn(async move { follower.follow_routes().await });
        let (store, listeners) = (controller.store().clone(), self.listeners(&state));
        tokio::spawn(crate::outcomes::tail(store, listeners, controller.roles(), controller.owner()));
        let reaper = controller.clone();
        tokio::spawn(async move { reaper.reap_previews_forever().await });
        let follower = controller.clone();
        tokio::spawn(async move { follower.follow_tasks().await });
        let member = controller.clone();
        tokio::spawn(async move { member.keep_cluster().await });
        let url = self.config.store_url();
        if url.starts_with("postgres") {
            let listener = controller.clone();
            tokio::spawn(async move { listener.listen_for_routes(url).await });
        }
        tokio::spawn(crate::health::rotation::bring_back(self.routes.clone()));
        tokio::spawn(super::sampler::sample_traffic(self.metrics.clone()));
        let certs = state.certs.clone();
        let rounds = shutdown.clone();
        tokio::spawn(async move { certs.run(rounds).await });
        self.serve_admin(state, shutdown.clone()).await;
        // The admin server stops at a hand-over already; the proxy runs until Pingora's shutdown.
        let mut shutdown = shutdown;
        while !*shutdown.borrow() {
            if shutdown.changed().await.is_err() {
                break;
            }
        }
        let streams = controller.longest_drain().await;
        let metrics = self.metrics.clone();
        let cut = self.retirement.wait_until_idle(|| metrics.inflight_total(), || controller.running(), streams).await;
        if let Some(cut) = cut {
            tracing::warn!("exiting with {cut}");
        }
        tracing::info!("nothing left in flight; exiting");
        std::process::exit(0);
    }

    /// Who hears of deployment outcomes: the notification receivers and the GitHub mirror.
    fn listeners(&self, state: &AdminState) -> Vec<Arc<dyn crate::outcomes::Listener>> {
        let options =
            MirrorOptions { dashboard: dashboard_url(&self.config), https: !self.config.proxy.https_listen.is_empty() };
        let mirror = Mirror::start(state.controller.store().clone(), options);
        vec![state.notifier.clone(), Arc::new(mirror)]
    }

    /// The admin server on the socket the admin listener service opened, until the shutdown broadcast.
    async fn serve_admin(&self, state: AdminState, mut shutdown: ShutdownWatch) {
        let socket = crate::lock::lock(&self.admin_socket).take();
        let (socket, fds) = match socket {
            Some(rx) => rx.await.unwrap_or_else(|_| (Err("the admin listener service ended".into()), None)),
            None => (Err("the admin server was started twice".into()), None),
        };
        if let Some(fds) = fds {
            let proxy = [&self.config.proxy.http_listen, &self.config.proxy.https_listen];
            let addrs = proxy.into_iter().filter(|a| !a.is_empty()).cloned().collect();
            tokio::spawn(crate::upgrade::listener::defer_accept(fds, addrs));
        }
        let listener = socket.and_then(|l| tokio::net::TcpListener::from_std(l).map_err(|e| e.to_string()));
        let listener = match listener {
            Ok(listener) => listener,
            Err(message) => {
                tracing::error!("no admin API: {message}");
                let _ = shutdown.changed().await;
                return;
            }
        };
        if let Some(successor) = &self.successor {
            successor.serving();
        }
        crate::upgrade::notify_systemd_ready();
        let app = admin::router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
        let (mut stop, mut grace, retirement) = (shutdown.clone(), shutdown.clone(), self.retirement.clone());
        // After a hand-over the admin socket is the successor's: new admin connections go to it at once.
        let server = axum::serve(listener, app).with_graceful_shutdown(async move {
            tokio::select! {
                _ = stop.changed() => {}
                () = retirement.until_handed_over() => {}
            }
        });
        tokio::select! {
            served = server => if let Err(e) = served {
                tracing::error!("the admin server stopped: {e}");
                let _ = shutdown.changed().await;
            },
            _ = async { let _ = grace.changed().await; tokio::time::sleep(ADMIN_GRACE).await } => {
                tracing::info!("admin connections still open {} s after the shutdown are closed", ADMIN_GRACE.as_secs());
            }
        }
    }
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
/// Where links to the dashboard point: the public admin host when there is one, else the admin address.
fn dashboard_url(config: &Config) -> String {
    match config.admin.public_host.as_str() {
        "" => format!("http://{}", config.admin.listen),
        host if config.proxy.https_listen.is_empty() => format!("http://{host}"),
        host => format!("https://{host}"),
    }
}

fn public_admin(config: &Config) -> Option<(String, std::net::SocketAddr)> {
    let mut admin = crate::config::parse_addr(&config.admin.listen)?;
    if admin.ip().is_unspecified() {
        admin.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let host = crate::routes::normalize_host(&config.admin.public_host).filter(|h| !h.is_empty())?;
    Some((host.into_owned(), admin))
}
