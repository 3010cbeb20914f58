//! Replacing the running gateway with the binary now at its path, with no connection refused.
//!
//! | file | owns |
//! |---|---|
//! | `mod.rs` | the [`Upgrader`]: one upgrade at a time, starting the successor, its state for the API |
//! | `control.rs` | the control socket between the two processes and its line protocol |
//! | `signals.rs` | Pingora's shutdown watch: SIGQUIT/SIGTERM/SIGINT, SIGUSR2 and the hand-over trigger |
//! | `listener.rs` | the admin listener as a Pingora service, so its socket is handed over too |
//! | `retire.rs` | the old process after the hand-over: `Connection: close`, then exit once idle |
//!
//! The order, which matters: the old process starts the successor with the same arguments; the successor
//! opens the store, runs migrations and restores routes, then says `waiting` on the control socket and
//! waits for the listening sockets; only then does the old process hand them over (Pingora's fd
//! transfer), and the successor says `serving` once its listeners run. A successor that fails before
//! `waiting` changes nothing: the old process keeps every socket and reports the error.

mod control;
pub(crate) mod listener;
pub(crate) mod retire;
pub(crate) mod signals;

pub(crate) use control::Successor;
pub use retire::Retirement;

use control::Message;
use serde::Serialize;
use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::watch;

/// Set in the successor's environment: where to report, and which process it replaces.
pub(crate) const SOCKET_ENV: &str = "VERSIONGATE_UPGRADE_SOCKET";
pub(crate) const FROM_ENV: &str = "VERSIONGATE_UPGRADE_FROM";
/// How long the successor may take to open the store and restore routes before it is given up on.
const START_LIMIT: Duration = Duration::from_secs(120);

#[derive(Debug, thiserror::Error)]
pub enum UpgradeError {
    #[error("an upgrade is already running (started {0}); wait for it to end")]
    InProgress(String),
    #[error("this gateway is already handing over to its successor")]
    HandedOver,
    #[error("the gateway is still starting; retry once /healthz answers")]
    Starting,
}

/// Tells systemd (when it started us with `Type=notify`) that this process serves and is the main
/// process: after an upgrade that moves the unit's main pid to the successor.
pub(crate) fn notify_systemd_ready() {
    use sd_notify::NotifyState;
    if let Err(e) = sd_notify::notify(false, &[NotifyState::MainPid(std::process::id()), NotifyState::Ready]) {
        tracing::warn!("cannot notify systemd that the gateway is ready: {e}");
    }
}

/// What the API and the CLI see of the last upgrade this process ran.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
#[serde(tag = "state", rename_all = "snake_case")]
pub(crate) enum UpgradeState {
    Idle,
    Running { started_at: String },
    HandedOver { pid: u32, version: String },
    Failed { error: String },
}

/// Cheap to clone; every clone drives the same upgrade.
#[derive(Clone)]
pub(crate) struct Upgrader {
    inner: Arc<Inner>,
}

struct Inner {
    binary: PathBuf,
    args: Vec<OsString>,
    socket: PathBuf,
    state: Mutex<UpgradeState>,
    /// Tells [`signals::Signals`] to return a graceful upgrade: the fd hand-over.
    handover: watch::Sender<bool>,
    /// The control plane's runtime: upgrades started by a signal run there too.
    runtime: OnceLock<tokio::runtime::Handle>,
    retirement: Arc<Retirement>,
}

impl Upgrader {
    /// `binary` is the path this process was started from: whatever is installed there now is started.
    pub(crate) fn new(
        binary: PathBuf,
        args: Vec<OsString>,
        data_dir: &std::path::Path,
        retirement: Arc<Retirement>,
    ) -> Upgrader {
        let (handover, _) = watch::channel(false);
        let inner = Inner {
            binary,
            args,
            socket: data_dir.join("upgrade-control.sock"),
            state: Mutex::new(UpgradeState::Idle),
            handover,
            runtime: OnceLock::new(),
            retirement,
        };
        Upgrader { inner: Arc::new(inner) }
    }

    /// Upgrades run on this runtime (the control plane's), whoever asks.
    pub(crate) fn attach(&self, runtime: tokio::runtime::Handle) {
        let _ = self.inner.runtime.set(runtime);
    }

    pub(crate) fn state(&self) -> UpgradeState {
        crate::lock::lock(&self.inner.state).clone()
    }

    pub(crate) fn handover_watch(&self) -> watch::Receiver<bool> {
        self.inner.handover.subscribe()
    }

    /// Starts the successor in the background; refused while another upgrade runs.
    pub(crate) fn start(&self) -> Result<(), UpgradeError> {
        let Some(runtime) = self.inner.runtime.get().cloned() else {
            return Err(UpgradeError::Starting);
        };
        {
            let mut state = crate::lock::lock(&self.inner.state);
            match &*state {
                UpgradeState::Running { started_at } => return Err(UpgradeError::InProgress(started_at.clone())),
                UpgradeState::HandedOver { .. } => return Err(UpgradeError::HandedOver),
                UpgradeState::Idle | UpgradeState::Failed { .. } => {}
            }
            *state = UpgradeState::Running { started_at: crate::store::rfc3339(crate::store::now_ms()) };
        }
        let this = self.clone();
        runtime.spawn(async move {
            let end = this.drive().await;
            if let UpgradeState::Failed { error } = &end {
                tracing::error!("upgrade failed, this process keeps serving: {error}");
            }
            *crate::lock::lock(&this.inner.state) = end;
        });
        Ok(())
    }

    /// Starts the installed binary with this process's arguments, told where to report.
    fn start_successor(&self) -> Result<tokio::process::Child, String> {
        let inner = &self.inner;
        tokio::process::Command::new(&inner.binary)
            .args(&inner.args)
            .env(SOCKET_ENV, &inner.socket)
            .env(FROM_ENV, std::process::id().to_string())
            .stdin(std::process::Stdio::null())
            .spawn()
            .map_err(|e| {
                format!("cannot start {}: {e}. Install a working binary there and retry", inner.binary.display())
            })
    }

    /// Starts the successor and follows it until it serves or fails.
    async fn drive(&self) -> UpgradeState {
        let inner = &self.inner;
        tracing::info!(
            "upgrade: starting {} (version {} is running)",
            inner.binary.display(),
            env!("CARGO_PKG_VERSION")
        );
        let listener = match control::listen(&inner.socket) {
            Ok(l) => l,
            Err(e) => return UpgradeState::Failed { error: e.to_string() },
        };
        let mut child = match self.start_successor() {
            Ok(child) => child,
            Err(error) => return UpgradeState::Failed { error },
        };
        let followed = tokio::time::timeout(
            START_LIMIT,
            control::follow(&listener, &mut child, || {
                tracing::info!("upgrade: the successor restored its routes; handing over the listening sockets");
                let _ = inner.handover.send(true);
            }),
        )
        .await;
        let _ = std::fs::remove_file(&inner.socket);
        let end = match followed {
            Ok(Message::Serving { pid, version }) => {
                tracing::info!(
                    "upgrade: version {version} serves as pid {pid}; this process finishes its work and exits"
                );
                inner.retirement.successor_serves();
                return UpgradeState::HandedOver { pid, version };
            }
            Ok(Message::Failed(error)) => error,
            Ok(Message::Waiting) => "the successor stopped talking before it served".into(),
            Err(_) => format!("the successor did not serve within {} s", START_LIMIT.as_secs()),
        };
        // Never leave a half-started successor behind the one that serves.
        let _ = child.start_kill();
        UpgradeState::Failed { error: end }
    }
}
