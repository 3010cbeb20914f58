//! The one question every stage asks of a request, and the verdict it carries out: proxy, answer, or hold.

use super::answer::{https_location, Page};
use super::request::{roll, ServedOverTls};
use super::{Answer, Gateway, RequestCtx};
use crate::routes::{decide, Decision, ProjectRoute, RequestFacts};
use std::sync::Arc;
use std::time::Duration;

/// What a stage does with a request.
pub(crate) enum Verdict {
    /// Routed: the request context holds its member (or the admin server's address); the stage proxies it.
    Proxy,
    /// The gateway answers itself.
    Answer(Answer),
    /// The project is paused: the request waits up to the duration (see [`Gateway::hold`]), then is decided
    /// again.
    Hold(Arc<ProjectRoute>, Duration),
}

/// What the decision reads of a request, however the stage parsed it.
pub(super) struct Asked<'a> {
    /// Normalised host (see [`crate::routes::normalize_host`]); empty when the request named none.
    pub(super) host: String,
    /// The request target's path and query.
    pub(super) target: &'a str,
    pub(super) cookie: Option<&'a str>,
}

impl Gateway {
    /// The verdict for a request, applied to `ctx` (the member it holds in flight, the host, the canary
    /// cookie to set). The snapshot guard lives inside this function only, never across an await.
    pub(super) fn verdict(&self, asked: Asked<'_>, ctx: &mut RequestCtx) -> Verdict {
        let table = self.routes.current();
        let path = asked.target.split('?').next().unwrap_or(asked.target);
        let facts = RequestFacts { host: &asked.host, path, cookie: asked.cookie, roll: roll(), tls: ctx.tls };
        // Only a plain request on a gateway with a TLS listener may be redirected: no certificate map read otherwise.
        let certs = (self.https_port.is_some() && !ctx.tls).then(|| self.certs.current());
        let verdict = match decide(&facts, &table, &ServedOverTls(certs.as_deref().map(|t| &**t))) {
            Decision::Proxy(pick) => {
                ctx.route = Some(pick.route.clone());
                ctx.hold(pick.member);
                ctx.remember = pick.remember;
                Verdict::Proxy
            }
            Decision::Admin(addr) => {
                ctx.admin = Some(addr);
                Verdict::Proxy
            }
            Decision::Redirect => {
                let target = if asked.target.is_empty() { "/" } else { asked.target };
                Verdict::Answer(Answer::Redirect(https_location(&asked.host, self.https_port.unwrap_or(443), target)))
            }
            Decision::Paused(route, hold) => Verdict::Hold(route.clone(), hold),
            other => Verdict::Answer(Answer::Page(Page::for_decision(&other, &asked.host))),
        };
        ctx.host = asked.host;
        verdict
    }
}
