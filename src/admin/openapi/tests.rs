use super::document;
use serde_json::Value;

/// Every route of `admin::router`, as (method, path).
const ROUTES: [(&str, &str); 28] = [
    ("get", "/api/v1/projects"),
    ("post", "/api/v1/projects"),
    ("get", "/api/v1/projects/{name}"),
    ("patch", "/api/v1/projects/{name}"),
    ("delete", "/api/v1/projects/{name}"),
    ("get", "/api/v1/projects/{name}/deployments"),
    ("post", "/api/v1/projects/{name}/deployments"),
    ("post", "/api/v1/projects/{name}/rollback"),
    ("get", "/api/v1/projects/{name}/previews"),
    ("post", "/api/v1/projects/{name}/promote"),
    ("post", "/api/v1/projects/{name}/pause"),
    ("post", "/api/v1/projects/{name}/resume"),
    ("post", "/api/v1/projects/{name}/maintenance"),
    ("delete", "/api/v1/projects/{name}/maintenance"),
    ("get", "/api/v1/deployments/{id}"),
    ("get", "/api/v1/deployments/{id}/logs"),
    ("post", "/api/v1/deployments/{id}/cancel"),
    ("get", "/api/v1/upgrade"),
    ("post", "/api/v1/upgrade"),
    ("get", "/api/v1/openapi.json"),
    ("get", "/api/v1/certificates"),
    ("put", "/api/v1/certificates/{host}"),
    ("delete", "/api/v1/certificates/{host}"),
    ("post", "/webhooks/github"),
    ("post", "/webhooks/gitlab"),
    ("post", "/webhooks/gitea"),
    ("get", "/healthz"),
    ("get", "/metrics"),
];

#[test]
fn every_route_is_documented_as_openapi_3_1() {
    let doc = document();
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.1")), "{}", doc["openapi"]);
    let paths = doc["paths"].as_object().unwrap();
    let documented: usize = paths.values().map(|item| item.as_object().map_or(0, |o| o.len())).sum();
    assert_eq!(documented, ROUTES.len(), "documented operations differ from the router's");
    for (method, path) in ROUTES {
        let op = &doc["paths"][path][method];
        assert!(op.is_object(), "{method} {path} is not documented");
        let api = path.starts_with("/api/");
        assert_eq!(op["responses"]["401"].is_object(), api || path.starts_with("/webhooks"), "{method} {path}");
        assert_eq!(op["responses"]["403"].is_object(), api, "{method} {path}: a deploy token may be refused");
        if op.get("requestBody").is_some() && api {
            assert!(op["responses"]["415"].is_object() && op["responses"]["422"].is_object(), "{method} {path}");
        }
        let open =
            op.get("security").and_then(Value::as_array).is_some_and(|s| s.iter().all(|r| r == &serde_json::json!({})));
        assert_eq!(!open, api, "{method} {path}: only /api needs the bearer token");
    }
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
}

#[test]
fn the_project_schema_has_the_write_only_deploy_token() {
    let doc = document();
    let field = &doc["components"]["schemas"]["ProjectSpec"]["properties"]["deploy_token"];
    assert_eq!(field["type"], "string", "{field}");
    assert!(field["description"].as_str().is_some_and(|d| d.contains("write-only")), "{field}");
}

#[test]
fn views_are_flat_open_objects_with_every_field() {
    let schemas = &document()["components"]["schemas"];
    let project = &schemas["Project"];
    assert!(project.get("allOf").is_none(), "{project}");
    assert!(project.get("additionalProperties").is_none(), "a closed view would reject its added fields");
    for field in ["name", "domains", "env", "runtime", "base_port", "slots", "traffic", "live", "created_at"] {
        assert!(project["properties"][field].is_object(), "Project lacks {field}");
    }
    for field in ["id", "status", "phase", "ref", "duration_ms", "observe"] {
        assert!(schemas["Deployment"]["properties"][field].is_object(), "Deployment lacks {field}");
    }
    assert!(schemas["DeploymentDetail"]["properties"]["events"].is_object());
    assert!(schemas["DeploymentDetail"]["properties"]["status"].is_object());
    // The request body stays closed: unknown fields get a 422.
    assert_eq!(schemas["ProjectSpec"]["additionalProperties"], false);
}
