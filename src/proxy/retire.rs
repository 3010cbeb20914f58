//! Ending streams on a slot whose drain is over, so long-lived clients (SSE, WebSocket, long downloads)
//! reconnect and land on the live slot instead of holding the old one forever.

use super::RequestCtx;
use crate::routes::Routes;
use pingora::prelude::*;

/// True when the request's upstream serves its project in no pool any more and the request has run at
/// least the project's drain time. A gateway's drain waits for its own requests only: another gateway of
/// a cluster can retire a slot while this one still has ordinary requests on it, which must finish.
fn retired(routes: &Routes, ctx: &RequestCtx) -> bool {
    let (Some(route), Some((addr, _))) = (&ctx.route, ctx.upstream) else { return false };
    if ctx.admin.is_some() || ctx.started.is_some_and(|s| s.elapsed() < route.drain) {
        return false;
    }
    let table = routes.current();
    let Some(now) = table.project(&route.name) else { return true };
    !now.backend.pools().serves(addr)
}

/// Called for every chunk of a stream: an error ends the connection (checked at the next chunk, so an
/// idle stream ends when it next says something).
pub(super) fn check(routes: &Routes, ctx: &RequestCtx) -> Result<()> {
    if retired(routes, ctx) {
        return Error::e_explain(ErrorType::ConnectionClosed, "the slot of this stream was retired after its drain");
    }
    Ok(())
}
