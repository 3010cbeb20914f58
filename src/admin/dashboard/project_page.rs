//! `GET /projects/{name}`: the two slots and where traffic goes, actions, the deployment timeline, settings.

use super::html::{ago, button_form, duration, esc, page, status};
use super::overview::version;
use super::{PageResult, Viewer};
use crate::admin::error::ApiError;
use crate::deployment::{Phase, Status};
use crate::runtime::RuntimeTraits;
use crate::slot::Slot;
use crate::store::{Deployment, DeploymentEvent, ProjectRecord};
use axum::extract::Path;
use axum::response::{Html, IntoResponse};
use std::fmt::Write;

/// Everything the page shows, gathered first so rendering stays pure.
pub(crate) struct ProjectView {
    pub(crate) record: ProjectRecord,
    /// What the project's runtime does, so the page never asks which kind it is.
    pub(crate) traits: RuntimeTraits,
    pub(crate) live: Option<Deployment>,
    /// Newest first, each with its events (for the time spent in each phase).
    pub(crate) history: Vec<(Deployment, Vec<DeploymentEvent>)>,
    /// Deployment ids whose image is still on disk (docker projects).
    pub(crate) images: Vec<(String, Option<i64>)>,
    /// The certificates of the project's domains.
    pub(crate) certs: Vec<crate::acme::CertView>,
    pub(crate) traffic: crate::routes::TrafficState,
    pub(crate) replicas: Vec<crate::controller::ReplicaView>,
    pub(crate) canary: Option<super::traffic::CanaryView>,
    /// Live pull-request previews, most recently pushed first, each with its live deployment.
    pub(crate) previews: Vec<(crate::store::Preview, Option<Deployment>)>,
    /// The last hour of traffic, oldest step first.
    pub(crate) samples: Vec<crate::metrics::history::Sample>,
}

pub(crate) async fn show(viewer: Viewer, Path(name): Path<String>) -> PageResult {
    let store = viewer.state.controller.store();
    let record = store.project(&name).await?.ok_or_else(|| ApiError::not_found(format!("project `{name}`")))?;
    let live = store.live_deployment(&name).await?;
    let mut history = Vec::new();
    for d in store.deployments(&name, 30).await? {
        let events = store.events(d.id).await?;
        history.push((d, events));
    }
    let traits = viewer.state.controller.runtime(&record.spec).traits();
    let mut images = Vec::new();
    if traits.builds {
        for image in viewer.state.controller.retained_images(&name).await? {
            let tag = image["image"].as_str().unwrap_or_default().to_owned();
            images.push((tag, image["deployment"].as_i64()));
        }
    }
    let certs = super::https::for_domains(viewer.state.certs.list().await?, &record.spec.domains);
    let traffic = store.traffic(&name).await?;
    let replicas = viewer.state.controller.replicas(&name);
    let canary = viewer.state.controller.canary_of(&name).map(|(id, p, f)| (id, p, f.requests, f.errors));
    let mut previews = Vec::new();
    for p in store.previews_of(&name, false).await? {
        let live = store.live_deployment(&p.project).await?;
        previews.push((p, live));
    }
    let samples = viewer.state.metrics.history(&name);
    let view =
        ProjectView { record, traits, live, history, images, certs, traffic, replicas, canary, previews, samples };
    let body = render(&view, &viewer.csrf, crate::store::now_ms());
    Ok(Html(page(viewer.frame(&name), &body)).into_response())
}

pub(crate) fn render(v: &ProjectView, csrf: &str, now: i64) -> String {
    let spec = &v.record.spec;
    let domains = spec.domains.iter().map(|d| format!("<code>{}</code>", esc(d))).collect::<Vec<_>>().join(" ");
    let mut out = format!(
        r#"<div class="heading"><h1>{}</h1><span class="muted">{} · {}</span></div>"#,
        esc(&spec.name),
        v.traits.name,
        if domains.is_empty() { "no domains".into() } else { domains }
    );
    let traffic = super::traffic::section(&spec.name, &v.traffic, v.canary, &v.replicas, csrf);
    out.push_str(&format!(r#"<div id="live" data-refresh>{}{}{traffic}</div>"#, slots(v), actions(v, csrf)));
    out.push_str(&chart_section(v, now));
    out.push_str(&super::https::section(&v.certs));
    out.push_str(&super::github::previews_section(&spec.preview_domain, &v.previews, now, spec.preview_ttl_h));
    out.push_str(&timeline(v, csrf, now));
    out.push_str(&super::forms::settings_form(&v.record, v.traits, csrf));
    out
}

/// Requests, 5xx and p99 of the last hour with the deployments on the same axis, refreshed with the page.
fn chart_section(v: &ProjectView, now: i64) -> String {
    let markers = super::chart::markers(&v.history, now - 3_600_000);
    format!(
        r#"<section class="card chart-card" id="chart" data-refresh><h2>Traffic, last hour</h2>{}<p class="hint">D deploy · S switch · R rollback · F failed. From this gateway's own counters, sampled every 10 s.</p></section>"#,
        super::chart::render(&v.samples, &markers, now)
    )
}

/// The two slots side by side, with an arrow over the one that takes traffic.
fn slots(v: &ProjectView) -> String {
    let live_slot = v.live.as_ref().and_then(|d| d.slot);
    let target =
        live_slot.map_or("nowhere yet".to_owned(), |s| format!("{} (port {})", s.as_str(), s.port(v.record.base_port)));
    let mut out = format!(
        r#"<section class="slots-wrap"><p id="traffic" class="traffic" data-slot="{}">Traffic goes to <strong>{}</strong></p><div class="slots">"#,
        live_slot.map_or("none", Slot::as_str),
        esc(&target)
    );
    for slot in [Slot::Blue, Slot::Green] {
        out.push_str(&slot_card(v, slot, live_slot == Some(slot)));
    }
    out.push_str("</div></section>");
    out
}

fn slot_card(v: &ProjectView, slot: Slot, live: bool) -> String {
    let port = slot.port(v.record.base_port);
    let latest = v.history.iter().map(|(d, _)| d).find(|d| d.slot == Some(slot));
    let state = slot_state(v.live.as_ref(), latest, live);
    let where_ = match (v.traits.builds, latest.and_then(|d| d.target.as_deref())) {
        (true, _) => format!("container <code>{}-{}</code>", esc(&v.record.spec.name), slot.as_str()),
        (false, Some(target)) => format!("target <code>{}</code>", esc(target)),
        (false, None) => "no target yet".into(),
    };
    let deployment = latest.map_or(r#"<span class="muted">no deployment</span>"#.to_owned(), |d| {
        format!(r##"<a href="/deployments/{0}">#{0}</a> {1} {2}"##, d.id, status(d.status), version(d))
    });
    let arrow =
        if live { r#"<div class="arrow" aria-hidden="true">▼</div>"# } else { r#"<div class="arrow off"></div>"# };
    format!(
        r#"<div class="slot-card slot-{name}{live_class}" id="slot-{name}">{arrow}<h2>{upper} <span class="muted">port {port}</span></h2><p class="slot-state">{state}</p><p>{where_}</p><p>{deployment}</p></div>"#,
        name = slot.as_str(),
        upper = slot.as_str().to_uppercase(),
        live_class = if live { " is-live" } else { "" },
    )
}

/// A word for what the slot is doing now.
fn slot_state(live: Option<&Deployment>, latest: Option<&Deployment>, is_live: bool) -> &'static str {
    if is_live {
        return if live.is_some_and(|d| d.phase == Phase::Observing) { "live, observing" } else { "live" };
    }
    match latest.map(|d| d.status) {
        Some(Status::Deploying) => "starting the new version",
        _ if live.is_some_and(|d| d.phase == Phase::Draining) => "draining",
        Some(_) => "idle (stopped)",
        None => "empty",
    }
}

fn actions(v: &ProjectView, csrf: &str) -> String {
    let spec = &v.record.spec;
    let name = esc(&spec.name);
    let (field, label, placeholder) = v.traits.deploy_field;
    let value = if v.traits.builds { esc(&spec.branch) } else { String::new() };
    let mut out = format!(
        r#"<section class="actions card"><form method="post" action="/projects/{name}/deploy" class="row">{}<label for="deploy-{field}">{label}</label><input id="deploy-{field}" name="{field}" value="{value}" placeholder="{placeholder}" required><button type="submit" class="primary" id="deploy-button">Deploy</button></form>"#,
        super::html::csrf_field(csrf)
    );
    if let Some((d, _)) = v.history.iter().find(|(d, _)| matches!(d.status, Status::Queued | Status::Deploying)) {
        let label = format!("Cancel #{}", d.id);
        out.push_str(&button_form(&format!("/deployments/{}/cancel", d.id), csrf, &label, "danger", &[]));
    }
    if v.live.is_some() {
        let action = format!("/projects/{}/rollback", spec.name);
        out.push_str(&button_form(&action, csrf, "Roll back to the previous version", "", &[]));
    }
    out.push_str("</section>");
    out
}

fn timeline(v: &ProjectView, csrf: &str, now: i64) -> String {
    let mut out = String::from(r#"<section id="timeline" data-refresh><h2>Deployments</h2>"#);
    if v.history.is_empty() {
        out.push_str(r#"<p class="empty">No deployments yet: push to the branch or use Deploy above.</p>"#);
    }
    out.push_str(r#"<ol class="timeline">"#);
    for (d, events) in &v.history {
        let phases = phase_times(events, d.finished_at.unwrap_or(now))
            .iter()
            .map(|(p, ms)| format!("<li>{} <span>{}</span></li>", p.as_str(), duration(*ms)))
            .collect::<String>();
        let error = d.error.as_deref().map_or(String::new(), |e| format!(r#"<p class="error-text">{}</p>"#, esc(e)));
        let rollback = rollback_button(v, d, csrf);
        let _ = write!(
            out,
            r##"<li class="entry" id="deployment-{id}"><div class="entry-head">{status} <a href="/deployments/{id}">#{id}</a> <span class="muted">{trigger}</span> {version} {when}{rollback}</div><ul class="phases">{phases}</ul>{error}</li>"##,
            id = d.id,
            status = status(d.status),
            trigger = d.trigger.as_str(),
            version = version(d),
            when = ago(d.created_at, now),
        );
    }
    out.push_str("</ol></section>");
    out
}

/// A rollback button on every earlier version that can still run: a retained image (docker) or a
/// superseded target (external).
fn rollback_button(v: &ProjectView, d: &Deployment, csrf: &str) -> String {
    let is_live = v.live.as_ref().is_some_and(|l| l.id == d.id);
    let retained = match v.traits.builds {
        true => v.images.iter().any(|(_, id)| *id == Some(d.id)),
        false => d.target.is_some() && matches!(d.status, Status::Superseded | Status::RolledBack),
    };
    if is_live || !retained || matches!(d.status, Status::Queued | Status::Deploying | Status::Failed) {
        return String::new();
    }
    let action = format!("/projects/{}/rollback", v.record.spec.name);
    let label = format!("Roll back to #{}", d.id);
    button_form(&action, csrf, &label, "small", &[("to", &d.id.to_string())])
}

/// Time spent in each phase, from the deployment's events (the last phase runs until `end`).
pub(crate) fn phase_times(events: &[DeploymentEvent], end: i64) -> Vec<(Phase, i64)> {
    let mut out: Vec<(Phase, i64)> = Vec::new();
    for (i, e) in events.iter().enumerate() {
        let until = events.get(i + 1).map_or(end, |next| next.at);
        if e.phase == Phase::Done {
            continue;
        }
        match out.last_mut() {
            Some((p, ms)) if *p == e.phase => *ms += until - e.at,
            _ => out.push((e.phase, until - e.at)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::ProjectSpec;

    fn deployment(id: i64, status: Status, slot: Slot) -> Deployment {
        Deployment {
            project: "shop".into(),
            slot: Some(slot),
            port: Some(slot.port(20000)),
            commit: Some(format!("{id:0>40}")),
            message: Some(format!("release {id}")),
            image: Some(format!("versiongate/shop:{id}")),
            ..Deployment::sample(id, status)
        }
    }

    #[test]
    fn retained_images_get_a_rollback_button_and_the_arrow_marks_the_live_slot() {
        let spec = ProjectSpec { name: "shop".into(), ..ProjectSpec::default() };
        let record = ProjectRecord { spec, base_port: 20000, created_at: 0, updated_at: 0 };
        let live = deployment(3, Status::Active, Slot::Green);
        let history = vec![
            (live.clone(), Vec::new()),
            (deployment(2, Status::Superseded, Slot::Blue), Vec::new()),
            (deployment(1, Status::Superseded, Slot::Green), Vec::new()),
        ];
        let images = vec![("versiongate/shop:3".into(), Some(3)), ("versiongate/shop:2".into(), Some(2))];
        let traits = RuntimeTraits { name: "docker", builds: true, deploy_field: ("ref", "Git ref", "main") };
        let view = ProjectView {
            record,
            traits,
            live: Some(live),
            history,
            images,
            certs: Vec::new(),
            traffic: Default::default(),
            replicas: Vec::new(),
            canary: None,
            previews: Vec::new(),
            samples: Vec::new(),
        };
        let html = render(&view, "t", 5000);
        assert!(html.contains(r#"data-slot="green""#) && html.contains("green (port 20001)"), "{html}");
        assert!(html.contains("Roll back to #2"), "a retained image can be rolled back to");
        assert!(!html.contains("Roll back to #1"), "a pruned image cannot");
        assert!(!html.contains("Roll back to #3"), "the live one is not offered");
        assert!(html.contains("container <code>shop-blue</code>") && html.contains("release 2"), "{html}");
    }
}
