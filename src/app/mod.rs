//! Wiring: builds Routes, Metrics and the admin token, then runs the proxy and the control plane in one Pingora server.
//!
//! The control plane is a Pingora background service with its own runtime. The proxy and the admin
//! listener depend on it, and Pingora starts them only once the control plane says it is ready: after
//! the routes are restored from the store. A successor started by an upgrade adds one step between:
//! it tells the old process it is waiting, then takes the listening sockets (see [`crate::upgrade`]).

mod admission;
mod control;
mod sampler;

use crate::admin::{load_or_create_token, AuthError};
use crate::config::Config;
use crate::metrics::{Metrics, MetricsError};
use crate::proxy::{Gateway, GatewayParts, Lane, StageCounters};
use crate::routes::Routes;
use crate::tls::alpn::AlpnChallengeHook;
use crate::tls::{Certs, Challenges, Resolver};
use crate::upgrade::listener::AdminListener;
use crate::upgrade::signals::Signals;
use crate::upgrade::{Retirement, Successor, Upgrader};
use control::{ControlPlane, Waiting};
use pingora::apps::ServerApp;
use pingora::listeners::tls::TlsSettings;
use pingora::listeners::{L4BufferSettings, ListenerConfig};
use pingora::server::configuration::{Opt, ServerConf};
use pingora::server::{RunArgs, Server};
use pingora::services::background::background_service;
use pingora::services::listening::Service;
use pingora::services::ServiceHandle;
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
/// A process started by an upgrade takes the sockets of the one it replaces instead of binding them.
pub fn run(config: Config) -> Result<(), AppError> {
    start(config, Successor::get())
}

/// For `main`: when this process was started by an upgrade and cannot start (its config is invalid, a
/// port check failed), the process it was to replace hears why, and keeps serving.
pub fn report_start_failure(error: &str) {
    if let Some(successor) = Successor::get() {
        successor.failed(error);
    }
}

fn start(config: Config, successor: Option<&'static Successor>) -> Result<(), AppError> {
    let token = prepare(&config, successor)?;
    let routes = Arc::new(Routes::new());
    let certs = Arc::new(Certs::new());
    let challenges = Arc::new(Challenges::new());
    let retirement = Arc::new(Retirement::default());
    // The path this process was started from: whatever is installed there when an upgrade runs.
    let binary = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("versiongate"));
    let upgrader = Upgrader::new(binary, std::env::args_os().skip(1).collect(), &config.data_dir, retirement.clone());

    let opt = successor.as_ref().map(|_| Opt { upgrade: true, ..Opt::default() });
    let mut server = Server::new_with_opt_and_conf(opt, server_conf(&config));
    let (admin_listener, admin_socket) = AdminListener::new(&config.admin.listen);
    let metrics = Arc::new(Metrics::new()?);
    let control = ControlPlane {
        config: config.clone(),
        routes: routes.clone(),
        metrics: metrics.clone(),
        token: token.into(),
        certs: certs.clone(),
        challenges: challenges.clone(),
        retirement: retirement.clone(),
        upgrader: upgrader.clone(),
        successor,
        admin_socket: Mutex::new(Some(admin_socket)),
    };
    let listeners_after = start_order(&mut server, control, successor);
    server.add_service(admin_listener).add_dependency(&listeners_after);

    let https_port = crate::config::parse_addr(&config.proxy.https_listen).map(|a| a.port());
    let (certs_, challenges_, retirement_) = (certs.clone(), challenges.clone(), retirement.clone());
    let pipeline_requests = metrics.stage("pipeline").0;
    let gateway = Gateway::new(GatewayParts {
        routes,
        certs: certs_,
        challenges: challenges_,
        https_port,
        retirement: retirement_,
        pipeline_requests,
    });
    let proxy_app = ProxyApp { config: &config, certs, challenges, after: &listeners_after };
    add_proxy(&mut server, proxy_app, gateway, &metrics)?;
    let https = if https_port.is_some() { format!(", https on {}", config.proxy.https_listen) } else { String::new() };
    tracing::info!("proxy on {}{https}, admin API on {}", config.proxy.http_listen, config.admin.listen);
    server.run(RunArgs { shutdown_signal: Box::new(Signals { upgrader, retirement }) });
    std::process::exit(0)
}

/// What comes before any service: the data directory, the ports (unless handed over by the process this
/// one replaces), and the admin token.
fn prepare(config: &Config, successor: Option<&'static Successor>) -> Result<String, AppError> {
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|source| AppError::DataDir { path: config.data_dir.clone(), source })?;
    // A successor's ports are held by the process it replaces, which hands them over.
    if successor.is_none() {
        check_listen("proxy.http_listen", &config.proxy.http_listen)?;
        if !config.proxy.https_listen.is_empty() {
            check_listen("proxy.https_listen", &config.proxy.https_listen)?;
        }
        check_listen("admin.listen", &config.admin.listen)?;
    }
    make_private(&config.data_dir);
    crate::source::limit_network_waits(Duration::from_secs(30), Duration::from_secs(120));
    warn_public_admin(config);
    let (token, source) = load_or_create_token(&config.admin.token, &config.data_dir)?;
    tracing::info!("{}", source.describe());
    Ok(token)
}

/// Adds the control plane and returns the service the listeners wait for: it, once routes are restored,
/// and for a successor also the handover of the old process's sockets.
fn start_order(server: &mut Server, control: ControlPlane, successor: Option<&'static Successor>) -> ServiceHandle {
    let mut control = background_service("control", control);
    control.threads = Some(2);
    let control = server.add_service(control);
    match successor {
        Some(successor) => {
            let waiting = server.add_service(background_service("upgrade waiting", Waiting(successor)));
            waiting.add_dependency(&control);
            let boot = server.bootstrap_as_a_service();
            boot.add_dependency(&waiting);
            boot
        }
        None => {
            server.bootstrap();
            control
        }
    }
}

/// The request path (see `proxy`): the lane in front of Pingora's pipeline, or the pipeline alone when
/// `[proxy] lane = false`.
fn add_proxy(server: &mut Server, app: ProxyApp<'_>, gateway: Gateway, metrics: &Metrics) -> Result<(), AppError> {
    let lane_gateway = app.config.proxy.lane.then(|| gateway.clone());
    let mut proxy = pingora::proxy::HttpProxy::new(gateway, server.configuration.clone());
    proxy.handle_init_modules();
    match lane_gateway {
        Some(gateway) => {
            let (served, handed_over) = metrics.stage("lane");
            app.add(server, Lane::new(gateway, Arc::new(proxy), StageCounters { served, handed_over }))
        }
        None => app.add(server, proxy),
    }
}

/// What the proxy service is made of besides its app (the fast lane in front of Pingora's proxy, or the
/// proxy alone).
struct ProxyApp<'a> {
    config: &'a Config,
    certs: Arc<Certs>,
    challenges: Arc<Challenges>,
    after: &'a ServiceHandle,
}

impl ProxyApp<'_> {
    fn add<A: ServerApp + Send + Sync + 'static>(self, server: &mut Server, app: A) -> Result<(), AppError> {
        let (total, per_ip) = (self.config.proxy.max_connections, self.config.proxy.max_connections_per_ip);
        // Without bounds the proxy app is served as it is: no count on the connection path.
        let handle = if total == 0 && per_ip == 0 {
            server.add_service(listening(Service::new("proxy".into(), app), self.config, self.certs, self.challenges)?)
        } else {
            let admission = Mutex::new(admission::Admission::new(total, per_ip));
            let app = admission::Admitted { inner: Arc::new(app), admission };
            server.add_service(listening(Service::new("proxy".into(), app), self.config, self.certs, self.challenges)?)
        };
        handle.add_dependency(self.after);
        Ok(())
    }
}

/// The proxy service's listeners (plain, and TLS with the ACME TLS-ALPN-01 hook) and worker threads.
fn listening<A: ServerApp + Send + Sync + 'static>(
    mut service: Service<A>,
    config: &Config,
    certs: Arc<Certs>,
    challenges: Arc<Challenges>,
) -> Result<Service<A>, AppError> {
    service.add_listener(proxy_listener(&config.proxy.http_listen));
    if !config.proxy.https_listen.is_empty() {
        service.add_listener(tls_listener(&config.proxy.https_listen, certs)?);
        service.endpoints().set_pre_tls_callback(Arc::new(AlpnChallengeHook(challenges)));
    }
    service.threads = Some(config.proxy_threads());
    Ok(service)
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

fn warn_public_admin(config: &Config) {
    if crate::config::parse_addr(&config.admin.listen).is_some_and(|a| !a.ip().is_loopback()) {
        tracing::warn!(
            "admin.listen = {} is not a loopback address: the API and /metrics are reachable from the network. \
             Prefer 127.0.0.1 and [admin] public_host, which exposes only webhooks, the API and the dashboard",
            config.admin.listen
        );
    }
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
        // Pingora sleeps the whole grace period after a shutdown signal. The control plane ends the
        // process as soon as nothing is left in flight (`upgrade::retire`); this is only the ceiling.
        grace_period_seconds: Some(GRACE_CEILING.as_secs()),
        graceful_shutdown_timeout_seconds: Some(5),
        // One single-threaded runtime per proxy thread, as nginx runs one event loop per worker: no
        // cross-thread wake-ups on the request path (measured in docs/BENCHMARKS.md).
        work_stealing: false,
        ..ServerConf::default()
    }
}

/// Longest a retiring process lives after the shutdown broadcast: a deployment it still runs is bounded
/// by its own time limits well before this.
const GRACE_CEILING: Duration = Duration::from_secs(3 * 3600);

/// Fails early with a clear message instead of a panic inside a service.
fn check_listen(key: &'static str, addr: &str) -> Result<(), AppError> {
    TcpListener::bind(addr).map(drop).map_err(|source| AppError::Listen { key, addr: addr.to_owned(), source })
}
