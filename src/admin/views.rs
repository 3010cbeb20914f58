//! How projects and deployments look in JSON: times as RFC 3339; secrets are masked by their type.

use crate::routes::TrafficState;
use crate::store::{Deployment, ProjectRecord};
use serde_json::{json, Value};

pub(crate) fn time(ms: i64) -> String {
    crate::store::rfc3339(ms)
}

pub(crate) fn deployment(d: &Deployment) -> Value {
    let mut v = serde_json::to_value(d).unwrap_or_else(|_| json!({}));
    v["created_at"] = json!(time(d.created_at));
    v["started_at"] = json!(d.started_at.map(time));
    v["finished_at"] = json!(d.finished_at.map(time));
    v["duration_ms"] = json!(d.duration_ms());
    v
}

pub(crate) fn project(record: &ProjectRecord, live: Option<&Deployment>, traffic: &TrafficState) -> Value {
    let mut v = serde_json::to_value(&record.spec).unwrap_or_else(|_| json!({}));
    v["base_port"] = json!(record.base_port);
    v["slots"] = json!({ "blue": record.base_port, "green": record.base_port.saturating_add(1) });
    v["traffic"] = json!(traffic.traffic);
    if let Some(message) = &traffic.message {
        v["traffic_message"] = json!(message);
    }
    if let Some(seconds) = traffic.pause_timeout_s {
        v["pause_timeout_s"] = json!(seconds);
    }
    v["live"] = live.map_or(Value::Null, deployment);
    v["created_at"] = json!(time(record.created_at));
    v["updated_at"] = json!(time(record.updated_at));
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::ProjectSpec;

    #[test]
    fn secrets_never_leave_in_json() {
        let mut spec =
            ProjectSpec { name: "a".into(), webhook_secret: "s3cret-hook-value".into(), ..ProjectSpec::default() };
        spec.env.insert("DB".into(), "pw-value-123".into());
        let record = ProjectRecord { spec, base_port: 20000, created_at: 0, updated_at: 0 };
        let text = project(&record, None, &TrafficState::default()).to_string();
        assert!(text.contains("\"traffic\":\"serving\""), "{text}");
        assert!(!text.contains("s3cret-hook-value") && !text.contains("pw-value-123"), "{text}");
        assert!(text.contains("\"DB\":\"***\""));
        assert_eq!(time(0), "1970-01-01T00:00:00.000Z");
    }
}
