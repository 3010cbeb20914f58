//! A project's routing settings as the route poll reads them: only the fields the table needs, taken from
//! the stored spec without opening its sealed secrets. The poll runs every half second on every gateway,
//! and routing needs no secret, so no project's secret is decrypted for it (and one whose secret cannot
//! be opened still routes).

use super::{get, Result, StoreError};
use crate::project::{ProjectSpec, TlsMode};
use crate::routes::ProjectInput;
use serde::Deserialize;
use sqlx::any::AnyRow;

/// The columns [`project_input`] reads.
pub(super) const COLUMNS: &str = "SELECT name, spec FROM projects ORDER BY name";

/// The routing fields of a stored spec. Missing fields take the defaults of [`ProjectSpec`], as a whole
/// spec read would; every other field is ignored.
#[derive(Deserialize)]
#[serde(default)]
struct RoutingFields {
    domains: Vec<String>,
    tls: TlsMode,
    https_redirect: bool,
    health_path: String,
    healthy_threshold: u32,
    pause_queue: u32,
    drain_timeout_s: u64,
}

impl Default for RoutingFields {
    fn default() -> Self {
        let s = ProjectSpec::default();
        RoutingFields {
            domains: s.domains,
            tls: s.tls,
            https_redirect: s.https_redirect,
            health_path: s.health_path,
            healthy_threshold: s.healthy_threshold,
            pause_queue: s.pause_queue,
            drain_timeout_s: s.drain_timeout_s,
        }
    }
}

/// One `projects` row (of [`COLUMNS`]) as the route table's input.
pub(super) fn project_input(row: &AnyRow) -> Result<ProjectInput> {
    let name: String = get(row, "name")?;
    let json: String = get(row, "spec")?;
    let fields: RoutingFields = serde_json::from_str(&json)
        .map_err(|e| StoreError::Corrupt { what: format!("project `{name}`"), message: e.to_string() })?;
    Ok(ProjectInput {
        https_redirect: fields.https_redirect && fields.tls != TlsMode::Off,
        health_path: fields.health_path,
        healthy_threshold: fields.healthy_threshold,
        pause_queue: fields.pause_queue,
        drain_timeout_s: fields.drain_timeout_s,
        name,
        domains: fields.domains,
    })
}

#[cfg(test)]
mod tests {
    use crate::project::ProjectSpec;
    use crate::secrets::SecretBox;
    use crate::store::Store;
    use std::sync::Arc;

    #[tokio::test]
    async fn a_project_whose_secrets_cannot_be_opened_still_routes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&format!("sqlite://{}?mode=rwc", dir.path().join("db").display())).await.unwrap();
        let key = |digit: &str| Arc::new(SecretBox::from_hex(&digit.repeat(64)).unwrap());
        let mut spec = ProjectSpec { name: "a".into(), domains: vec!["a.test".into()], ..ProjectSpec::default() };
        spec.webhook_secret = "hook-value".into();
        spec.env.insert("DB".into(), "pw-value".into());
        store.clone().with_secrets(key("1")).create_project(spec, 1, &|_| true).await.unwrap();
        // Another key cannot open what the first sealed: a whole-spec read fails, the route poll does not.
        let other = store.with_secrets(key("2"));
        assert!(other.project("a").await.is_err(), "the sealed values are unreadable with this key");
        let (state, problems) = other.route_state().await.unwrap();
        assert!(problems.is_empty(), "{problems:?}");
        let routed: Vec<_> = state.projects.iter().map(|p| (p.name.as_str(), p.domains.clone())).collect();
        assert_eq!(routed, [("a", vec!["a.test".to_owned()])]);
    }
}
