//! Pingora's shutdown watch, extended: SIGUSR2 starts an upgrade, and the upgrade's own trigger
//! (the successor is waiting for the sockets) hands them over like SIGQUIT does.

use super::{Retirement, Upgrader};
use async_trait::async_trait;
use pingora::server::{ShutdownSignal, ShutdownSignalWatch};
use std::sync::Arc;
use tokio::signal::unix::{signal, SignalKind};

pub(crate) struct Signals {
    pub(crate) upgrader: Upgrader,
    pub(crate) retirement: Arc<Retirement>,
}

#[async_trait]
impl ShutdownSignalWatch for Signals {
    async fn recv(&self) -> ShutdownSignal {
        let kinds = [SignalKind::quit(), SignalKind::terminate(), SignalKind::interrupt(), SignalKind::user_defined2()];
        let [Ok(mut quit), Ok(mut term), Ok(mut int), Ok(mut usr2)] = kinds.map(signal) else {
            tracing::error!("cannot install the signal handlers; stop the gateway with SIGKILL");
            return std::future::pending().await;
        };
        let mut handover = self.upgrader.handover_watch();
        let signal = loop {
            tokio::select! {
                _ = quit.recv() => break ShutdownSignal::GracefulUpgrade,
                _ = term.recv() => break ShutdownSignal::GracefulTerminate,
                _ = int.recv() => break ShutdownSignal::FastShutdown,
                _ = usr2.recv() => match self.upgrader.start() {
                    Ok(()) => tracing::info!("SIGUSR2: upgrading to the binary at this gateway's path"),
                    Err(e) => tracing::warn!("SIGUSR2 ignored: {e}"),
                },
                Ok(()) = handover.changed() => break ShutdownSignal::GracefulUpgrade,
            }
        };
        match signal {
            ShutdownSignal::GracefulUpgrade => self.retirement.handed_over(),
            _ => self.retirement.terminating(),
        }
        signal
    }
}
