//! The last part of a gateway's life: after the hand-over (or SIGTERM) it stops keeping client
//! connections, finishes requests, streams and deployments, and exits as soon as nothing is left.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// From the hand-over, how long the old process still keeps connections alive. Pingora closes idle
/// keep-alive connections 5 s after the hand-over; answering `Connection: close` from 1.5 s on makes
/// busy clients move to the new process before that (DEPENDENCIES.md: 0 errors over 5 upgrades).
pub(crate) const CLOSE_AFTER: Duration = Duration::from_millis(1500);
/// After SIGTERM, requests in flight get this long.
const TERMINATE_LIMIT: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(100);
/// Nothing in flight for this long means nothing is coming: a connection accepted just before the
/// listeners closed has sent its request within milliseconds, and is counted once it is routed.
const QUIET: Duration = Duration::from_secs(1);

#[derive(Default)]
pub struct Retirement {
    closing: AtomicBool,
    handed_over: AtomicBool,
    handed_over_now: tokio::sync::Notify,
}

impl std::fmt::Debug for Retirement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Retirement")
            .field("closing", &self.closing())
            .field("handed_over", &self.is_handed_over())
            .finish_non_exhaustive()
    }
}

impl Retirement {
    /// The listening sockets went to a successor: no new deployments here, and soon no keep-alive.
    pub(crate) fn handed_over(self: &Arc<Self>) {
        self.handed_over.store(true, Ordering::SeqCst);
        self.handed_over_now.notify_waiters();
        let this = self.clone();
        // A plain thread: the runtimes are about to wind down, the timer must not depend on them.
        std::thread::spawn(move || {
            std::thread::sleep(CLOSE_AFTER);
            this.closing.store(true, Ordering::Relaxed);
        });
    }

    /// The successor accepts: from now on every answer here ends its kept-alive connection, so clients
    /// move over well before Pingora's shutdown (5 s after the hand-over) closes idle ones.
    pub(crate) fn successor_serves(&self) {
        self.closing.store(true, Ordering::Relaxed);
    }

    pub(crate) fn terminating(&self) {
        self.closing.store(true, Ordering::Relaxed);
        // The control plane normally exits once requests are done; this ends a process whose control plane
        // never got that far (stopped during start-up) instead of Pingora's long grace period.
        std::thread::spawn(|| {
            std::thread::sleep(TERMINATE_LIMIT + Duration::from_secs(5));
            tracing::warn!("still running {} s after SIGTERM; exiting", TERMINATE_LIMIT.as_secs() + 5);
            std::process::exit(0);
        });
    }

    /// True once responses should carry `Connection: close` (read on every request: one relaxed load).
    pub(crate) fn closing(&self) -> bool {
        self.closing.load(Ordering::Relaxed)
    }

    /// True once a successor holds the sockets: the control plane starts nothing new.
    pub(crate) fn is_handed_over(&self) -> bool {
        self.handed_over.load(Ordering::SeqCst)
    }

    /// Returns once a successor holds the sockets.
    pub(crate) async fn until_handed_over(&self) {
        let notified = self.handed_over_now.notified();
        if self.is_handed_over() {
            return;
        }
        notified.await;
    }

    /// Waits, after the shutdown broadcast, until the process has nothing left to do: no request or stream
    /// in flight for a second (streams get at most `streams` after a hand-over, 10 s after SIGTERM) and,
    /// after a hand-over, no deployment running. Returns what was cut off, if anything.
    pub(crate) async fn wait_until_idle(
        &self,
        inflight: impl Fn() -> i64,
        deploying: impl Fn() -> usize,
        streams: Duration,
    ) -> Option<String> {
        let started = Instant::now();
        let upgrade = self.is_handed_over();
        let limit = if upgrade { streams } else { TERMINATE_LIMIT };
        let (mut told, mut quiet_since) = (false, Instant::now());
        loop {
            let (requests, running) = (inflight(), if upgrade { deploying() } else { 0 });
            if requests > 0 || running > 0 {
                quiet_since = Instant::now();
            } else if quiet_since.elapsed() >= QUIET {
                return None;
            }
            if started.elapsed() >= limit && running == 0 && requests > 0 {
                return Some(format!("{requests} requests or streams still open after {} s", limit.as_secs()));
            }
            if !told && running > 0 {
                tracing::info!("finishing {running} running deployments before exiting");
                told = true;
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicI64;

    #[tokio::test(start_paused = true)]
    async fn an_upgraded_process_waits_for_streams_and_deployments() {
        let r = Arc::new(Retirement::default());
        r.handed_over.store(true, Ordering::SeqCst);
        let open = Arc::new(AtomicI64::new(2));
        let closer = open.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(3)).await;
            closer.store(0, Ordering::SeqCst);
        });
        let started = tokio::time::Instant::now();
        let cut = r.wait_until_idle(|| open.load(Ordering::SeqCst), || 0, Duration::from_secs(30)).await;
        assert_eq!(cut, None);
        assert!(started.elapsed() >= Duration::from_secs(3), "it left before the streams ended");
        let cut = r.wait_until_idle(|| 1, || 0, Duration::from_secs(30)).await;
        assert_eq!(cut.as_deref(), Some("1 requests or streams still open after 30 s"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_running_deployment_outlasts_the_stream_limit_and_sigterm_does_not_wait_for_it() {
        let r = Arc::new(Retirement::default());
        let cut = r.wait_until_idle(|| 0, || 1, Duration::from_secs(1)).await;
        assert_eq!(cut, None, "SIGTERM leaves deployments to the next start's recovery");
        r.handed_over.store(true, Ordering::SeqCst);
        let running = Arc::new(AtomicI64::new(1));
        let done = running.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(60)).await;
            done.store(0, Ordering::SeqCst);
        });
        let started = tokio::time::Instant::now();
        let cut = r.wait_until_idle(|| 0, || running.load(Ordering::SeqCst) as usize, Duration::from_secs(1)).await;
        assert_eq!(cut, None);
        assert!(started.elapsed() >= Duration::from_secs(60));
    }
}
