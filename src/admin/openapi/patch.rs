//! Changes to the generated document that apply to every operation or view (pure, on its JSON).

use serde_json::{json, Map, Value};

/// What each shared error status means; the body is always the `Error` schema.
const ERRORS: [(&str, &str); 6] = [
    ("400", "The path, query or body is malformed"),
    ("401", "No valid bearer token (or, for the webhook, no valid signature)"),
    ("404", "The named project, deployment or certificate does not exist"),
    ("409", "The request conflicts with the current state (a running deployment, a taken name or port…)"),
    ("422", "A field is invalid; `error.field` names it"),
    ("503", "The store cannot be reached"),
];
/// Only `/api` routes take a deploy token, so only they can answer 403.
const FORBIDDEN: (&str, &str) =
    ("403", "A project's deploy token used outside what it may do: deploy that project, read its deployments and logs");
const BODY_ERRORS: [(&str, &str); 2] =
    [("413", "The body is over 1 MiB"), ("415", "The body is not sent as application/json")];

/// Every `/api` and webhook operation can answer with the shared errors.
pub(super) fn add_errors(doc: &mut Value) {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else { return };
    for (path, item) in paths.iter_mut() {
        if !(path.starts_with("/api/") || path.starts_with("/webhooks/")) {
            continue;
        }
        let Some(item) = item.as_object_mut() else { continue };
        for op in item.values_mut().filter_map(Value::as_object_mut) {
            let with_body = op.contains_key("requestBody");
            let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else { continue };
            let extra = if with_body { &BODY_ERRORS[..] } else { &[] };
            let forbidden = if path.starts_with("/api/") { &[FORBIDDEN][..] } else { &[] };
            for (code, description) in ERRORS.iter().chain(extra).chain(forbidden) {
                responses.entry(code.to_string()).or_insert_with(|| error_response(description));
            }
        }
    }
}

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    })
}

/// Replaces each `allOf` view (a stored type plus the fields the view adds) with one object schema that
/// holds every property and is open to more, since a closed part would forbid the other part's fields.
pub(super) fn flatten_views(doc: &mut Value) {
    let Some(schemas) = doc.pointer("/components/schemas").and_then(Value::as_object).cloned() else { return };
    let Some(out) = doc.pointer_mut("/components/schemas").and_then(Value::as_object_mut) else { return };
    for (name, schema) in &schemas {
        if schema.get("allOf").is_some() {
            out.insert(name.clone(), merged(schema, &schemas, 0));
        }
    }
}

fn merged(schema: &Value, schemas: &Map<String, Value>, depth: usize) -> Value {
    let resolved = resolve(schema, schemas);
    let Some(parts) = resolved.get("allOf").and_then(Value::as_array).filter(|_| depth < 8) else {
        let mut plain = resolved.clone();
        if let Some(object) = plain.as_object_mut() {
            object.remove("additionalProperties");
        }
        return plain;
    };
    let (mut properties, mut required) = (Map::new(), Vec::<Value>::new());
    for part in parts.iter().map(|p| merged(p, schemas, depth + 1)) {
        if let Some(p) = part.get("properties").and_then(Value::as_object) {
            properties.extend(p.clone());
        }
        if let Some(r) = part.get("required").and_then(Value::as_array) {
            required.extend(r.iter().filter(|name| !required.contains(name)).cloned().collect::<Vec<_>>());
        }
    }
    let mut out = json!({"type": "object", "properties": properties, "required": required});
    if let Some(description) = resolved.get("description") {
        out["description"] = description.clone();
    }
    out
}

fn resolve<'a>(schema: &'a Value, schemas: &'a Map<String, Value>) -> &'a Value {
    let name = schema.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix("#/components/schemas/"));
    name.and_then(|n| schemas.get(n)).unwrap_or(schema)
}
