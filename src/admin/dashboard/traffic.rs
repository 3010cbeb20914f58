//! The project page's traffic section: serving, paused or in maintenance with its controls, and every
//! replica's live figures; and the form that pauses, resumes or sets maintenance.

use super::html::{csrf_field, esc};
use super::{PageResult, Viewer};
use crate::controller::ReplicaView;
use crate::routes::{Traffic, TrafficChange, TrafficState};
use axum::extract::Path;
use axum::Form;
use serde::Deserialize;

/// A running canary: its deployment, share of clients, and its own requests and 5xx so far.
pub(crate) type CanaryView = (i64, i64, u64, u64);

/// The section (pure): the state with the controls that apply to it, a running canary's split, then the
/// replicas table.
pub(crate) fn section(
    project: &str,
    traffic: &TrafficState,
    canary: Option<CanaryView>,
    replicas: &[ReplicaView],
    csrf: &str,
) -> String {
    let name = esc(project);
    let form = |action: &str, extra: &str, label: &str| {
        format!(
            r#"<form method="post" action="/projects/{name}/traffic" class="row">{}<input type="hidden" name="action" value="{action}">{extra}<button type="submit" id="traffic-{action}">{label}</button></form>"#,
            csrf_field(csrf)
        )
    };
    let (state, controls) = match traffic.traffic {
        Traffic::Paused => (
            format!("<strong>Paused</strong>: new requests wait up to {} s", traffic.pause_timeout_s.unwrap_or(30)),
            form("resume", "", "Resume"),
        ),
        Traffic::Maintenance => (
            format!("<strong>Maintenance</strong>: {}", esc(traffic.message.as_deref().unwrap_or("(no message)"))),
            form("maintenance_off", "", "End maintenance"),
        ),
        Traffic::Serving => (
            "<strong>Serving</strong>".to_owned(),
            form(
                "pause",
                r#"<label for="t-timeout">Hold up to (s)</label><input id="t-timeout" name="timeout_s" value="30" size="4">"#,
                "Pause",
            ) + &form(
                "maintenance_on",
                r#"<label for="t-message">Message</label><input id="t-message" name="message" placeholder="Back at 14:00">"#,
                "Maintenance",
            ),
        ),
    };
    let split = canary.map_or(String::new(), |(id, percent, requests, errors)| {
        let live = 100 - percent;
        format!(
            r##"<div id="canary" data-percent="{percent}"><p><strong>Canary</strong>: <a href="/deployments/{id}">#{id}</a> takes {percent} % of clients, the live version {live} %. Its own answers so far: {requests}, of which {errors} 5xx.</p><div class="split"><span class="canary-share" style="width:{percent}%"></span></div>{}{}</div>"##,
            form("promote", "", "Promote to everyone"),
            form("end_canary", "", "Roll back the canary"),
        )
    });
    format!(
        r#"<section class="card" id="traffic-control" data-traffic="{}"><h2>Traffic</h2><p id="traffic-state">{state}</p>{controls}{split}{}</section>"#,
        traffic.traffic,
        replica_table(replicas)
    )
}

fn replica_table(replicas: &[ReplicaView]) -> String {
    if replicas.is_empty() {
        return String::new();
    }
    let rows: String = replicas
        .iter()
        .map(|r| {
            let rotation = if r.in_rotation { "in rotation" } else { "<strong>out</strong> (refused; probing)" };
            format!(
                r#"<tr data-replica="{slot}-{n}"><td>{role}</td><td>{slot} #{n}</td><td><code>{addr}</code></td><td><a href="/deployments/{id}">#{id}</a></td><td class="num">{inflight}</td><td class="num">{requests}</td><td>{rotation}</td></tr>"#,
                slot = r.slot,
                n = r.replica,
                role = r.role,
                addr = r.addr,
                id = r.deployment_id,
                inflight = r.inflight,
                requests = r.requests
            )
        })
        .collect();
    format!(
        r#"<div class="table-wrap"><table class="replicas" id="replicas"><thead><tr><th>Role</th><th>Replica</th><th>Address</th><th>Deployment</th><th>In flight</th><th>Requests</th><th>Rotation</th></tr></thead><tbody>{rows}</tbody></table></div>"#
    )
}

#[derive(Deserialize)]
pub(crate) struct TrafficForm {
    #[serde(default)]
    csrf: String,
    action: String,
    timeout_s: Option<String>,
    message: Option<String>,
}

pub(crate) async fn submit(viewer: Viewer, Path(name): Path<String>, Form(f): Form<TrafficForm>) -> PageResult {
    viewer.check(&f.csrf)?;
    let controller = &viewer.state.controller;
    let canary = match f.action.as_str() {
        "promote" => Some(controller.promote(&name).await.map(|d| format!("Deployment #{} promoted.", d.id))),
        "end_canary" => Some(controller.rollback(&name, None).await.map(|d| format!("Canary #{} rolled back.", d.id))),
        _ => None,
    };
    if let Some(done) = canary {
        return match done {
            Ok(text) => back(&viewer, &name, true, text),
            Err(e) => back(&viewer, &name, false, format!("Not changed: {e}")),
        };
    }
    let change = match f.action.as_str() {
        "pause" => match f.timeout_s.as_deref().map(str::trim).unwrap_or("30").parse() {
            Ok(timeout_s) => TrafficChange::Pause { timeout_s },
            Err(_) => return back(&viewer, &name, false, "Hold up to: enter a whole number of seconds".into()),
        },
        "resume" => TrafficChange::Resume,
        "maintenance_on" => TrafficChange::Maintenance { message: f.message.unwrap_or_default().trim().to_owned() },
        "maintenance_off" => TrafficChange::EndMaintenance,
        other => return back(&viewer, &name, false, format!("`{other}` is not a traffic action")),
    };
    match viewer.state.controller.change_traffic(&name, change).await {
        Ok(now) => back(&viewer, &name, true, format!("Traffic is now {}.", now.traffic)),
        Err(e) => back(&viewer, &name, false, format!("Not changed: {e}")),
    }
}

fn back(viewer: &Viewer, name: &str, ok: bool, text: String) -> PageResult {
    if ok {
        super::forms::back_ok(viewer, name, &text)
    } else {
        super::forms::back(viewer, name, text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::Slot;

    #[test]
    fn the_section_offers_what_applies_and_lists_each_replica() {
        let replica = |n, up| ReplicaView {
            role: "live",
            slot: Slot::Green,
            replica: n,
            addr: format!("127.0.0.1:2000{n}").parse().unwrap(),
            deployment_id: 7,
            inflight: 3,
            requests: 120,
            in_rotation: up,
        };
        let serving = section("shop", &TrafficState::default(), None, &[replica(1, true), replica(2, false)], "t");
        assert!(serving.contains(r#"id="traffic-pause""#) && serving.contains(r#"id="traffic-maintenance_on""#));
        assert!(serving.contains(r#"data-replica="green-2""#) && serving.contains("<strong>out</strong>"));
        assert!(serving.contains(r#"<td class="num">3</td><td class="num">120</td>"#), "{serving}");
        let down =
            TrafficState { traffic: Traffic::Maintenance, message: Some("<b>db</b>".into()), pause_timeout_s: None };
        let text = section("shop", &down, None, &[], "t");
        assert!(text.contains("&lt;b&gt;db") && text.contains(r#"id="traffic-maintenance_off""#));
        assert!(!text.contains("<table"), "no replicas, no table");
        let split = section("shop", &TrafficState::default(), Some((9, 10, 200, 3)), &[], "t");
        assert!(split.contains("#9</a> takes 10 % of clients, the live version 90 %"), "{split}");
        assert!(split.contains("200, of which 3 5xx") && split.contains(r#"id="traffic-promote""#));
    }
}
