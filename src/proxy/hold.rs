//! A request for a paused project waits here, in its project's queue, until the project serves again or
//! the pause's timeout passes. Both stages hold the same way; each decides the request again itself.

use super::answer::{Answer, Page};
use super::Gateway;
use crate::routes::ProjectRoute;
use prometheus::IntGauge;
use std::sync::Arc;
use std::time::Duration;

/// Counts a request as held for as long as it waits, also when the client gives up mid-wait.
struct Held(IntGauge);

impl Drop for Held {
    fn drop(&mut self) {
        self.0.dec();
    }
}

impl Gateway {
    /// Waits until `again` (the request decided anew) no longer says to hold, and returns what it says then;
    /// `hold` bounds the wait (then a 503 with `Retry-After`), `pause_queue` bounds how many wait (more get
    /// a 503 at once).
    pub(super) async fn hold<T>(
        &self,
        route: &Arc<ProjectRoute>,
        hold: Duration,
        mut again: impl FnMut() -> Option<T>,
    ) -> Result<T, Answer> {
        let gauge = &route.metrics.held;
        if gauge.get() >= i64::from(route.pause_queue) {
            let why = format!("{} requests already wait (pause_queue); retry shortly.", route.pause_queue);
            return Err(Answer::Page(Page::paused(&route.name, &why)));
        }
        gauge.inc();
        let _held = Held(gauge.clone());
        let deadline = tokio::time::Instant::now() + hold;
        loop {
            let released = self.routes.holds.enqueue(&route.name);
            // Decided after joining the queue, so a resume published in between is never missed.
            if let Some(decided) = again() {
                return Ok(decided);
            }
            if tokio::time::timeout_at(deadline, released).await.is_err() {
                let why = format!("This request waited {} s; retry shortly.", hold.as_secs());
                return Err(Answer::Page(Page::paused(&route.name, &why)));
            }
        }
    }
}
