//! `GET /projects/new` and `POST /projects`: the new-project form, validated as the API validates,
//! with each problem shown beside its field.

use super::html::{csrf_field, esc, page};
use super::{PageResult, Viewer};
use crate::project::{ProjectError, ProjectSpec};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect};
use axum::Form;
use std::collections::HashMap;

/// The form's fields: (name, label, hint).
const FIELDS: [(&str, &str, &str); 8] = [
    ("name", "Name", "lowercase letters, digits and dashes; used for containers and images"),
    ("domains", "Domains", "comma-separated, e.g. app.example.com, *.app.example.com"),
    ("repo_url", "Repository URL", "docker projects: https://, ssh:// or file:// URL"),
    ("branch", "Branch", "pushes to this branch deploy"),
    ("health_path", "Health path", "must answer 2xx before traffic switches"),
    ("container_port", "Container port", "the port the app listens on inside its container"),
    ("base_port", "Base port", "optional: blue listens here, green on the next port"),
    ("webhook_secret", "Webhook secret", "optional: GitHub's HMAC secret (write-only)"),
];

pub(crate) async fn form(viewer: Viewer) -> PageResult {
    let defaults = ProjectSpec::default();
    let values = HashMap::from([
        ("runtime".to_owned(), "docker".to_owned()),
        ("branch".to_owned(), defaults.branch),
        ("health_path".to_owned(), defaults.health_path),
        ("container_port".to_owned(), defaults.container_port.to_string()),
    ]);
    Ok(Html(page(viewer.frame("New project"), &render(&values, &[], &viewer.csrf))).into_response())
}

pub(crate) async fn submit(viewer: Viewer, Form(values): Form<HashMap<String, String>>) -> PageResult {
    viewer.check(values.get("csrf").map_or("", String::as_str))?;
    let spec = match spec_from(&values) {
        Ok(spec) => spec,
        Err(problems) => return invalid(&viewer, &values, &problems, StatusCode::UNPROCESSABLE_ENTITY),
    };
    match viewer.state.controller.create_project(spec).await {
        Ok(record) => {
            let name = record.spec.name;
            viewer.tell(true, format!("Project {name} created. Deploy it below, or push to its branch."));
            Ok(Redirect::to(&format!("/projects/{name}")).into_response())
        }
        Err(e) => {
            let problem = ProjectError { field: String::new(), message: e.to_string() };
            invalid(&viewer, &values, &[problem], StatusCode::CONFLICT)
        }
    }
}

fn invalid(
    viewer: &Viewer,
    values: &HashMap<String, String>,
    problems: &[ProjectError],
    code: StatusCode,
) -> PageResult {
    let body = render(values, problems, &viewer.csrf);
    Ok((code, Html(page(viewer.frame("New project"), &body))).into_response())
}

/// The spec the form describes, or every problem in it.
pub(crate) fn spec_from(values: &HashMap<String, String>) -> Result<ProjectSpec, Vec<ProjectError>> {
    let get = |k: &str| values.get(k).map_or("", |v| v.trim());
    let mut problems = Vec::new();
    let mut spec = ProjectSpec {
        name: get("name").to_owned(),
        runtime: get("runtime").parse().unwrap_or_default(),
        domains: get("domains").split([',', ' ']).filter(|d| !d.is_empty()).map(str::to_owned).collect(),
        repo_url: get("repo_url").to_owned(),
        webhook_secret: get("webhook_secret").into(),
        ..ProjectSpec::default()
    };
    for (key, target) in [("branch", &mut spec.branch), ("health_path", &mut spec.health_path)] {
        if !get(key).is_empty() {
            *target = get(key).to_owned();
        }
    }
    match get("container_port").parse::<u16>() {
        Ok(port) => spec.container_port = port,
        Err(_) if get("container_port").is_empty() => {}
        Err(_) => problems.push(problem("container_port", "enter a port number from 1 to 65535")),
    }
    match get("base_port").parse::<u16>() {
        Ok(port) => spec.base_port = Some(port),
        Err(_) if get("base_port").is_empty() => {}
        Err(_) => problems.push(problem("base_port", "enter a port number from 1024 to 65534, or leave it empty")),
    }
    spec.normalize();
    problems.extend(spec.problems());
    if problems.is_empty() {
        Ok(spec)
    } else {
        Err(problems)
    }
}

fn problem(field: &str, message: &str) -> ProjectError {
    ProjectError { field: field.into(), message: message.into() }
}

/// The form's input a problem belongs to: `domains[2]` belongs to `domains`.
fn input_of(field: &str) -> &str {
    field.split(['[', '.']).next().unwrap_or(field)
}

pub(crate) fn render(values: &HashMap<String, String>, problems: &[ProjectError], csrf: &str) -> String {
    let value = |k: &str| esc(values.get(k).map_or("", String::as_str));
    let general: String = problems
        .iter()
        .filter(|p| !FIELDS.iter().any(|(k, _, _)| *k == input_of(&p.field)))
        .map(|p| format!(r#"<p class="notice error" role="alert">{}</p>"#, esc(&p.to_string())))
        .collect();
    let checked = |kind: &str| if value("runtime") == kind { " checked" } else { "" };
    let mut fields = format!(
        r#"<fieldset class="runtime"><legend>Runtime</legend><label class="inline"><input type="radio" name="runtime" value="docker"{}> docker: build and run from a git repository</label><label class="inline"><input type="radio" name="runtime" value="external"{}> external: route to an address you run yourself</label></fieldset>"#,
        checked("docker"),
        checked("external")
    );
    for (key, label, hint) in FIELDS {
        let errors: String = problems
            .iter()
            .filter(|p| input_of(&p.field) == key)
            .map(|p| format!(r#"<span class="field-error" data-field-error="{key}">{}</span>"#, esc(&p.message)))
            .collect();
        let kind = if key == "webhook_secret" { "password" } else { "text" };
        let shown = if key == "webhook_secret" { String::new() } else { value(key) };
        let invalid = if errors.is_empty() { "" } else { r#" aria-invalid="true""# };
        fields.push_str(&format!(
            r#"<div class="field"><label for="f-{key}">{label}</label><input id="f-{key}" name="{key}" type="{kind}" value="{shown}"{invalid}><span class="hint">{hint}</span>{errors}</div>"#
        ));
    }
    format!(
        r#"<h1>New project</h1>{general}<form method="post" action="/projects" class="card stack" novalidate>{}{fields}<button type="submit" class="primary">Create project</button></form>"#,
        csrf_field(csrf)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::dashboard::form_of as form;

    #[test]
    fn every_problem_is_shown_beside_its_field() {
        let values = form(&[("name", "Bad Name"), ("domains", "ok.test, bad..host"), ("container_port", "http")]);
        let problems = spec_from(&values).unwrap_err();
        let html = render(&values, &problems, "t");
        for field in ["name", "domains", "container_port"] {
            assert!(html.contains(&format!(r#"data-field-error="{field}""#)), "{field}: {html}");
        }
        assert!(html.contains(r#"value="Bad Name""#), "what was typed is kept");
    }

    #[test]
    fn a_valid_form_is_a_spec() {
        let values = form(&[("name", "shop"), ("runtime", "external"), ("domains", "shop.test"), ("base_port", "")]);
        let spec = spec_from(&values).unwrap();
        assert_eq!((spec.name.as_str(), spec.runtime, spec.base_port), ("shop", "external".parse().unwrap(), None));
        assert_eq!(spec.domains, ["shop.test"]);
    }
}
