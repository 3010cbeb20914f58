//! `GET /`: every project with its domains, live version and slot, and its last deployment.

use super::html::{ago, esc, page, short_sha, status};
use super::{PageResult, Viewer};
use crate::controller::ObserveFigures;
use crate::store::{Deployment, ProjectRecord};
use axum::response::{Html, IntoResponse};
use std::fmt::Write;

/// What one row shows, gathered before rendering so rendering stays pure.
pub(crate) struct Row {
    pub(crate) record: ProjectRecord,
    pub(crate) live: Option<Deployment>,
    pub(crate) last: Option<Deployment>,
    pub(crate) observe: Option<ObserveFigures>,
}

pub(crate) async fn show(viewer: Viewer) -> PageResult {
    let store = viewer.state.controller.store();
    let mut rows = Vec::new();
    let mut unreadable = Vec::new();
    for record in store.projects().await? {
        let record = match record {
            Ok(record) => record,
            Err(e) => {
                unreadable.push(e.to_string());
                continue;
            }
        };
        let name = record.spec.name.clone();
        let live = store.live_deployment(&name).await?;
        let last = store.deployments(&name, 1).await?.into_iter().next();
        let observe = live.as_ref().and_then(|d| viewer.state.controller.observe_figures(&name, d.id));
        rows.push(Row { record, live, last, observe });
    }
    let mut body = render(&rows, &unreadable, crate::store::now_ms());
    body.push_str(&super::github::notify_section(&viewer.state.notifier.report()));
    Ok(Html(page(viewer.frame("Projects"), &body)).into_response())
}

pub(crate) fn render(rows: &[Row], unreadable: &[String], now: i64) -> String {
    let mut out = String::from(
        r#"<div class="heading"><h1>Projects</h1><a class="button primary" href="/projects/new">New project</a></div>"#,
    );
    for problem in unreadable {
        let _ =
            write!(out, r#"<p class="notice error" role="alert">A project could not be read: {}</p>"#, esc(problem));
    }
    if rows.is_empty() {
        out.push_str(r#"<p class="empty">No projects yet. <a href="/projects/new">Add the first one</a>.</p>"#);
        return out;
    }
    out.push_str(r#"<div id="projects" data-refresh class="table-wrap"><table class="projects"><thead><tr><th>Project</th><th>Domains</th><th>Live version</th><th>Live slot</th><th>Last deploy</th></tr></thead><tbody>"#);
    for row in rows {
        out.push_str(&render_row(row, now));
    }
    out.push_str("</tbody></table></div>");
    out
}

fn render_row(row: &Row, now: i64) -> String {
    let name = esc(&row.record.spec.name);
    let domains = row.record.spec.domains.iter().map(|d| esc(d)).collect::<Vec<_>>().join("<br>");
    let version = row.live.as_ref().map_or(r#"<span class="muted">nothing live</span>"#.to_owned(), version);
    let slot = row
        .live
        .as_ref()
        .and_then(|d| d.slot)
        .map_or("—".to_owned(), |s| format!(r#"<span class="slot slot-{0}">{0}</span>"#, s.as_str()));
    let last = row.last.as_ref().map_or(r#"<span class="muted">never deployed</span>"#.to_owned(), |d| {
        format!(r##"{} <a href="/deployments/{}">#{}</a> {}"##, status(d.status), d.id, d.id, ago(d.created_at, now))
    });
    let observe = row.observe.as_ref().map_or(String::new(), |f| {
        format!(
            r#"<div class="observe">observe window: {} requests, {} errors ({:.1} %), {} s left</div>"#,
            f.requests,
            f.errors,
            f.error_rate * 100.0,
            f.seconds_left
        )
    });
    format!(
        r#"<tr><td data-label="Project"><a href="/projects/{name}">{name}</a></td><td data-label="Domains">{domains}</td><td data-label="Live version">{version}</td><td data-label="Live slot">{slot}</td><td data-label="Last deploy">{last}{observe}</td></tr>"#
    )
}

/// A deployment's version: the short commit and its subject, or the external target it serves.
pub(crate) fn version(d: &Deployment) -> String {
    match (&d.commit, &d.target) {
        (Some(commit), _) => format!(
            r#"<code title="{}">{}</code> {}"#,
            esc(commit),
            esc(short_sha(commit)),
            esc(d.message.as_deref().unwrap_or(""))
        ),
        (None, Some(target)) => format!("<code>{}</code>", esc(target)),
        (None, None) => "—".into(),
    }
}
