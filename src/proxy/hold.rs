//! A request for a paused project waits here, in its project's queue, until the project serves again or
//! the pause's timeout passes.

use super::page::Page;
use super::{Answer, Gateway, RequestCtx};
use crate::routes::ProjectRoute;
use pingora::http::RequestHeader;
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
    /// Waits until the project no longer pauses, then routes the request again; `hold` bounds the wait
    /// (then 503 with `Retry-After`), `pause_queue` bounds how many wait (more get 503 at once).
    pub(super) async fn wait_while_paused(
        &self,
        req: &RequestHeader,
        ctx: &mut RequestCtx,
        route: &Arc<ProjectRoute>,
        hold: Duration,
    ) -> Option<Answer> {
        let gauge = &route.metrics.held;
        if gauge.get() >= i64::from(route.pause_queue) {
            let why = format!("{} requests already wait (pause_queue); retry shortly.", route.pause_queue);
            return Some(Answer::Page(Page::paused(&route.name, &why)));
        }
        gauge.inc();
        let _held = Held(gauge.clone());
        let deadline = tokio::time::Instant::now() + hold;
        loop {
            let released = self.routes.holds.enqueue(&route.name);
            // Checked after joining the queue, so a resume published in between is never missed.
            match self.route(req, ctx) {
                Some(Answer::Hold(..)) => {}
                other => return other,
            }
            if tokio::time::timeout_at(deadline, released).await.is_err() {
                let why = format!("This request waited {} s; retry shortly.", hold.as_secs());
                return Some(Answer::Page(Page::paused(&route.name, &why)));
            }
        }
    }
}
