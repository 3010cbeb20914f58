//! `GET /deployments/{id}`: the phase steps with their timings, and the log, followed live until it ends.

use super::html::{ago, button_form, duration, esc, page, status};
use super::overview::version;
use super::project_page::phase_times;
use super::{PageResult, Viewer};
use crate::admin::error::ApiError;
use crate::deployment::{Phase, Status};
use crate::store::{Deployment, DeploymentEvent};
use axum::extract::Path;
use axum::response::{Html, IntoResponse};
use std::fmt::Write;

pub(crate) async fn show(viewer: Viewer, Path(id): Path<i64>) -> PageResult {
    let store = viewer.state.controller.store();
    let d = store.deployment(id).await?.ok_or_else(|| ApiError::not_found(format!("deployment {id}")))?;
    let events = store.events(id).await?;
    let settled = d.status.is_settled(d.phase);
    // A running deployment's log is streamed whole by the page's script; a finished one is rendered here.
    let log = if settled { store.log_lines(id).await? } else { Vec::new() };
    let body = render(&d, &events, &log, &viewer.csrf, crate::store::now_ms());
    Ok(Html(page(viewer.frame(&format!("Deployment #{id}")), &body)).into_response())
}

pub(crate) fn render(d: &Deployment, events: &[DeploymentEvent], log: &[String], csrf: &str, now: i64) -> String {
    let settled = d.status.is_settled(d.phase);
    let cancel = if matches!(d.status, Status::Queued | Status::Deploying) {
        button_form(&format!("/deployments/{}/cancel", d.id), csrf, "Cancel this deployment", "danger", &[])
    } else {
        String::new()
    };
    let error = d.error.as_deref().map_or(String::new(), |e| format!(r#"<p class="notice error">{}</p>"#, esc(e)));
    let took = d.duration_ms().map_or(String::new(), |ms| format!(" · took {}", duration(ms)));
    let mut out = format!(
        r#"<div class="heading"><h1>Deployment #{id}</h1><a href="/projects/{project}">{project}</a></div>
<div id="summary" data-refresh><p>{status} <span class="muted">{trigger}</span> {version} · {when}{took}</p>{error}{steps}{cancel}</div>"#,
        id = d.id,
        project = esc(&d.project),
        status = status(d.status),
        trigger = d.trigger.as_str(),
        version = version(d),
        when = ago(d.created_at, now),
        steps = steps(d, events, now),
    );
    let stream = if settled { String::new() } else { format!(r#" data-follow="/api/v1/deployments/{}/logs""#, d.id) };
    let mut text = String::new();
    for line in log {
        let _ = writeln!(text, "{}", esc(line));
    }
    let _ = write!(
        out,
        r#"<section class="card"><h2>Log</h2><pre id="log" class="log"{stream} aria-live="polite">{text}</pre><p id="log-state" class="muted">{}</p></section>"#,
        if settled { "The deployment has ended; this is its whole log." } else { "Following the log live…" }
    );
    out
}

/// Every phase in order: done ones with their time, the current one marked, the rest waiting.
fn steps(d: &Deployment, events: &[DeploymentEvent], now: i64) -> String {
    let times = phase_times(events, d.finished_at.unwrap_or(now));
    let mut out = String::from(r#"<ol class="steps">"#);
    for phase in Phase::ALL.into_iter().filter(|p| *p != Phase::Done) {
        let spent = times.iter().find(|(p, _)| *p == phase).map(|(_, ms)| *ms);
        let (class, word) = match spent {
            _ if phase == d.phase && !d.status.is_settled(d.phase) => ("current", "now"),
            Some(_) if phase == d.phase && d.status == Status::Failed => ("failed", "failed here"),
            Some(_) => ("done", "done"),
            None => ("waiting", if d.status.is_settled(d.phase) { "skipped" } else { "waiting" }),
        };
        let time = spent.map_or(String::new(), |ms| format!(" <span>{}</span>", duration(ms)));
        let _ = write!(out, r#"<li class="step {class}"><b>{}</b> <em>{word}</em>{time}</li>"#, phase.as_str());
    }
    out.push_str("</ol>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(phase: Phase, status: Status, at: i64) -> DeploymentEvent {
        DeploymentEvent { status, phase, message: String::new(), at }
    }

    #[test]
    fn the_steps_show_time_per_phase_and_where_it_failed() {
        let d = Deployment {
            phase: Phase::HealthChecking,
            error: Some("health check failed <5 times>".into()),
            started_at: Some(0),
            finished_at: Some(4_000),
            ..Deployment::sample(7, Status::Failed)
        };
        let events = [
            event(Phase::Queued, Status::Queued, 0),
            event(Phase::Starting, Status::Deploying, 500),
            event(Phase::HealthChecking, Status::Deploying, 1_000),
        ];
        let html = render(&d, &events, &["line <1>".into()], "t", 10_000);
        assert!(html.contains(r#"<li class="step done"><b>starting</b> <em>done</em> <span>500 ms</span>"#), "{html}");
        assert!(html.contains(r#"<b>health_checking</b> <em>failed here</em> <span>3.0 s</span>"#), "{html}");
        assert!(html.contains("&lt;5 times&gt;") && html.contains("line &lt;1&gt;"), "escaped: {html}");
        assert!(!html.contains("data-follow"), "a finished deployment's log is not followed");
    }
}
