//! The project page's forms: deploy, roll back, cancel and settings. Each checks CSRF, acts through the
//! controller as the API does, and returns to a page that says what happened.

use super::html::{csrf_field, esc};
use super::{PageResult, Viewer};
use crate::admin::projects::apply_changes;
use crate::controller::DeployRequest;
use crate::deployment::Trigger;
use crate::runtime::RuntimeTraits;
use crate::store::ProjectRecord;
use axum::extract::Path;
use axum::response::{IntoResponse, Redirect};
use axum::Form;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::HashMap;

#[derive(Deserialize)]
pub(crate) struct DeployForm {
    #[serde(default)]
    csrf: String,
    #[serde(rename = "ref")]
    git_ref: Option<String>,
    target: Option<String>,
}

pub(crate) async fn deploy(viewer: Viewer, Path(name): Path<String>, Form(f): Form<DeployForm>) -> PageResult {
    viewer.check(&f.csrf)?;
    let clean = |v: Option<String>| v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    // Several targets (replicas of an external project) are separated by commas or spaces.
    let targets = f.target.unwrap_or_default().split([',', ' ']).filter(|t| !t.is_empty()).map(str::to_owned).collect();
    let request =
        DeployRequest { git_ref: clean(f.git_ref), targets, trigger: Some(Trigger::Api), ..Default::default() };
    match viewer.state.controller.submit(&name, request).await {
        Ok(d) => {
            viewer.tell(true, format!("Deployment #{} queued; its log follows below.", d.id));
            Ok(Redirect::to(&format!("/deployments/{}", d.id)).into_response())
        }
        Err(e) => back(&viewer, &name, e.to_string()),
    }
}

#[derive(Deserialize)]
pub(crate) struct RollbackForm {
    #[serde(default)]
    csrf: String,
    to: Option<i64>,
}

pub(crate) async fn rollback(viewer: Viewer, Path(name): Path<String>, Form(f): Form<RollbackForm>) -> PageResult {
    viewer.check(&f.csrf)?;
    match viewer.state.controller.rollback(&name, f.to).await {
        Ok(d) => {
            viewer.tell(true, format!("Rolling back: deployment #{} brings back that version.", d.id));
            Ok(Redirect::to(&format!("/projects/{name}")).into_response())
        }
        Err(e) => back(&viewer, &name, e.to_string()),
    }
}

#[derive(Deserialize)]
pub(crate) struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

pub(crate) async fn cancel(viewer: Viewer, Path(id): Path<i64>, Form(f): Form<CsrfOnly>) -> PageResult {
    viewer.check(&f.csrf)?;
    match viewer.state.controller.cancel(id).await {
        Ok(d) => {
            viewer.tell(true, format!("Deployment #{id} is {}; the live version was not touched.", d.status));
            Ok(Redirect::to(&format!("/projects/{}", d.project)).into_response())
        }
        Err(e) => {
            viewer.tell(false, e.to_string());
            Ok(Redirect::to(&format!("/deployments/{id}")).into_response())
        }
    }
}

/// The settings form posts every field as text; empty write-only fields keep their value.
pub(crate) async fn settings(
    viewer: Viewer,
    Path(name): Path<String>,
    Form(f): Form<HashMap<String, String>>,
) -> PageResult {
    viewer.check(f.get("csrf").map_or("", String::as_str))?;
    let changes = match settings_changes(&f) {
        Ok(changes) => changes,
        Err(problem) => return back(&viewer, &name, problem),
    };
    match apply_changes(&viewer.state, &name, changes).await {
        Ok(v) if v.get("redeploy").is_some() => {
            back_ok(&viewer, &name, "Settings saved; the new env is being deployed with zero downtime.")
        }
        Ok(_) => back_ok(&viewer, &name, "Settings saved."),
        Err(e) => back(&viewer, &name, format!("Not saved: {} Nothing was changed.", e.message)),
    }
}

const NUMBERS: [&str; 8] = [
    "healthy_threshold",
    "health_timeout_s",
    "drain_timeout_s",
    "observe_s",
    "keep_images",
    "replicas",
    "max_previews",
    "checks_timeout_s",
];
const TEXTS: [&str; 4] = ["branch", "health_path", "release_command", "preview_domain"];

/// Turns the form into a PATCH body: numbers must be numbers, env lines `KEY=value`.
pub(crate) fn settings_changes(f: &HashMap<String, String>) -> Result<Map<String, Value>, String> {
    let mut changes = Map::new();
    if let Some(domains) = f.get("domains") {
        let list: Vec<&str> = domains.split([',', ' ', '\n']).map(str::trim).filter(|d| !d.is_empty()).collect();
        changes.insert("domains".into(), json!(list));
    }
    for key in TEXTS {
        if let Some(v) = f.get(key) {
            changes.insert(key.into(), json!(v.trim()));
        }
    }
    for key in NUMBERS {
        let Some(v) = f.get(key).map(|v| v.trim()).filter(|v| !v.is_empty()) else { continue };
        let n: u64 = v.parse().map_err(|_| format!("{key}: `{v}` is not a whole number; enter one"))?;
        changes.insert(key.into(), json!(n));
    }
    if let Some(on) = f.get("previews") {
        changes.insert("previews".into(), json!(on == "on"));
    }
    if let Some(checks) = f.get("required_checks") {
        let list: Vec<&str> = checks.split(',').map(str::trim).filter(|c| !c.is_empty()).collect();
        changes.insert("required_checks".into(), json!(list));
    }
    if let Some(secret) = f.get("webhook_secret").filter(|s| !s.is_empty()) {
        changes.insert("webhook_secret".into(), json!(secret));
    }
    let mut env = Map::new();
    for (key, _) in f.iter().filter(|(k, v)| k.starts_with("env_remove:") && v.as_str() == "on") {
        env.insert(key.trim_start_matches("env_remove:").to_owned(), Value::Null);
    }
    for line in f.get("env_set").map_or("", String::as_str).lines().map(str::trim).filter(|l| !l.is_empty()) {
        let (k, v) = line.split_once('=').ok_or_else(|| format!("env: `{line}` is not KEY=value; fix that line"))?;
        env.insert(k.trim().to_owned(), json!(v));
    }
    if !env.is_empty() {
        changes.insert("env".into(), Value::Object(env));
    }
    Ok(changes)
}

pub(crate) fn settings_form(record: &ProjectRecord, traits: RuntimeTraits, csrf: &str) -> String {
    let spec = &record.spec;
    let field = |key: &str, label: &str, value: String| {
        format!(
            r#"<div class="field"><label for="s-{key}">{label}</label><input id="s-{key}" name="{key}" value="{}"></div>"#,
            esc(&value)
        )
    };
    let mut fields = field("domains", "Domains (comma-separated)", spec.domains.join(", "));
    if traits.builds {
        fields += &field("branch", "Branch", spec.branch.clone());
        fields += &field("release_command", "Release command", spec.release_command.clone());
        fields += &field("keep_images", "Images kept for rollback", spec.keep_images.to_string());
        fields += &field("replicas", "Replicas (containers per slot, from the next deploy)", spec.replicas.to_string());
        fields += &github_fields(spec);
    }
    fields += &field("health_path", "Health path", spec.health_path.clone());
    fields += &field("healthy_threshold", "Health passes needed", spec.healthy_threshold.to_string());
    fields += &field("health_timeout_s", "Health timeout (s)", spec.health_timeout_s.to_string());
    fields += &field("drain_timeout_s", "Drain timeout (s)", spec.drain_timeout_s.to_string());
    fields += &field("observe_s", "Observe window (s)", spec.observe_s.to_string());
    let secret_hint = if spec.webhook_secret.is_empty() { "not set" } else { "set; leave empty to keep it" };
    fields += &format!(
        r#"<div class="field"><label for="s-webhook_secret">Webhook secret <span class="muted">({secret_hint})</span></label><input id="s-webhook_secret" name="webhook_secret" type="password" autocomplete="new-password"></div>"#
    );
    let env: String = spec
        .env
        .keys()
        .map(|k| {
            format!(
                r#"<li><code>{0}</code> = <span class="muted">•••</span> <label class="inline"><input type="checkbox" name="env_remove:{0}"> remove</label></li>"#,
                esc(k)
            )
        })
        .collect();
    format!(
        r#"<section class="card" id="settings"><h2>Settings</h2><form method="post" action="/projects/{name}/settings" class="grid-form">{csrf}{fields}<fieldset><legend>Environment (values are write-only)</legend><ul class="env">{env}</ul><label for="s-env_set">Set variables, one <code>KEY=value</code> per line</label><textarea id="s-env_set" name="env_set" rows="3" autocomplete="off"></textarea></fieldset><button type="submit" class="primary">Save settings</button></form></section>"#,
        name = esc(&spec.name),
        csrf = csrf_field(csrf),
    )
}

/// Previews and the CI gate (docker projects).
fn github_fields(spec: &crate::project::ProjectSpec) -> String {
    let selected = |on: bool| if spec.previews == on { " selected" } else { "" };
    format!(
        r#"<div class="field"><label for="s-previews">Pull-request previews</label><select id="s-previews" name="previews"><option value="off"{}>off</option><option value="on"{}>on</option></select></div><div class="field"><label for="s-preview_domain">Preview domain (pr-N.&lt;domain&gt;)</label><input id="s-preview_domain" name="preview_domain" value="{}"></div><div class="field"><label for="s-max_previews">Most previews at once</label><input id="s-max_previews" name="max_previews" value="{}"></div><div class="field"><label for="s-required_checks">Required checks (comma-separated; * = every one)</label><input id="s-required_checks" name="required_checks" value="{}"></div><div class="field"><label for="s-checks_timeout_s">Checks timeout (s)</label><input id="s-checks_timeout_s" name="checks_timeout_s" value="{}"></div>"#,
        selected(false),
        selected(true),
        esc(&spec.preview_domain),
        spec.max_previews,
        esc(&spec.required_checks.join(", ")),
        spec.checks_timeout_s,
    )
}

pub(super) fn back(viewer: &Viewer, name: &str, problem: String) -> PageResult {
    viewer.tell(false, problem);
    Ok(Redirect::to(&format!("/projects/{name}")).into_response())
}

pub(super) fn back_ok(viewer: &Viewer, name: &str, text: &str) -> PageResult {
    viewer.tell(true, text);
    Ok(Redirect::to(&format!("/projects/{name}")).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::dashboard::form_of as form;

    #[test]
    fn the_settings_form_becomes_a_patch() {
        let f = form(&[
            ("domains", "a.test, b.test"),
            ("observe_s", "30"),
            ("health_path", " /up "),
            ("webhook_secret", ""),
            ("env_set", "DB=postgres://x\n\nMODE=a=b"),
            ("env_remove:OLD", "on"),
            ("previews", "on"),
            ("required_checks", "test, lint ,"),
        ]);
        let changes = settings_changes(&f).unwrap();
        assert_eq!(
            (changes["previews"].clone(), changes["required_checks"].clone()),
            (json!(true), json!(["test", "lint"]))
        );
        assert_eq!(changes["domains"], json!(["a.test", "b.test"]));
        assert_eq!((changes["observe_s"].clone(), changes["health_path"].clone()), (json!(30), json!("/up")));
        assert!(!changes.contains_key("webhook_secret"), "an empty secret keeps the old one");
        assert_eq!(changes["env"], json!({"DB": "postgres://x", "MODE": "a=b", "OLD": null}));
    }

    #[test]
    fn bad_settings_say_which_field() {
        let e = settings_changes(&form(&[("drain_timeout_s", "ten")])).unwrap_err();
        assert!(e.starts_with("drain_timeout_s:"), "{e}");
        let e = settings_changes(&form(&[("env_set", "NOEQUALS")])).unwrap_err();
        assert!(e.contains("KEY=value"), "{e}");
    }
}
