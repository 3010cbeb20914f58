//! What a project is (name, domains, source, run, health and drain settings), validated once (pure).

pub use crate::slot::Slot;

mod github;
mod validate;

pub(crate) use github::{preview_name, pull_number};

use crate::builder::plan::Builder;
use crate::secrets::Secret;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RuntimeKind {
    /// versiongate builds the image and runs the container.
    #[default]
    Docker,
    /// The user runs the process and deploys by giving its address.
    External,
    /// versiongate builds the image and runs each slot as a Docker Swarm service.
    Swarm,
}

/// How a deployment replaces the live version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Start the new version in the idle slot beside the live one, then switch.
    #[default]
    BlueGreen,
    /// For single-writer apps: hold requests, stop the old container, start the new one in its slot, switch,
    /// release the held requests.
    HoldSwap,
}

/// Where a project's certificates come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// One certificate per domain from ACME (when `https_listen` is set).
    #[default]
    Auto,
    /// Plain HTTP only.
    Off,
    /// Uploaded certificates only.
    Custom,
}

/// Every project field of INTERFACE.md, with its default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ProjectSpec {
    #[schema(pattern = "^[a-z0-9][a-z0-9-]{0,39}$")]
    pub name: String,
    pub domains: Vec<String>,
    pub runtime: RuntimeKind,
    pub repo_url: String,
    pub branch: String,
    pub build_context: String,
    pub dockerfile: String,
    #[schema(minimum = 1024, maximum = 65534)]
    pub base_port: Option<u16>,
    #[schema(minimum = 1, maximum = 65535)]
    pub container_port: u16,
    #[schema(value_type = BTreeMap<String, String>)]
    pub env: BTreeMap<String, Secret>,
    pub health_path: String,
    #[schema(minimum = 1, maximum = 3600000)]
    pub health_interval_ms: u64,
    #[schema(minimum = 1, maximum = 1000)]
    pub healthy_threshold: u32,
    #[schema(minimum = 1, maximum = 604800)]
    pub health_timeout_s: u64,
    #[schema(maximum = 604800)]
    pub drain_timeout_s: u64,
    #[schema(maximum = 604800)]
    pub stop_timeout_s: u64,
    #[schema(maximum = 604800)]
    pub observe_s: u64,
    #[schema(minimum = 0.0, maximum = 1.0)]
    pub max_error_rate: f64,
    #[schema(maximum = 1000000000)]
    pub min_requests: u64,
    pub release_command: String,
    #[schema(minimum = 1, maximum = 1000)]
    pub keep_images: u32,
    #[schema(value_type = String)]
    pub webhook_secret: Secret,
    /// Longest a docker build may take.
    #[schema(minimum = 1, maximum = 604800)]
    pub build_timeout_s: u64,
    /// Longest fetching and checking out the commit may take.
    #[schema(minimum = 1, maximum = 604800)]
    pub fetch_timeout_s: u64,
    /// Largest a fetch may download, and a checkout's files may add up to, in MiB.
    #[schema(minimum = 1, maximum = 1000000)]
    pub max_repo_mb: u64,
    /// Longest creating and starting the slot's container may take.
    #[schema(minimum = 1, maximum = 604800)]
    pub start_timeout_s: u64,
    /// A deploy key file for ssh repository URLs.
    pub git_ssh_key: String,
    /// A token for https repository URLs; write-only.
    #[schema(value_type = String)]
    pub git_token: Secret,
    /// Container memory limit in MiB; 0 means none.
    #[schema(maximum = 16777216)]
    pub memory_mb: u64,
    /// Container CPU limit in cores (0.5 = half a core); 0 means none.
    #[schema(minimum = 0.0, maximum = 1024.0)]
    pub cpus: f64,
    /// `auto` detects; `dockerfile`, `node`, `bun` or `python` force one way of building.
    pub builder: Builder,
    /// Overrides the detected start command of a generated Dockerfile.
    pub start_command: String,
    pub tls: TlsMode,
    /// Once a host has a valid certificate, plain-HTTP requests get 308 to https.
    pub https_redirect: bool,
    /// Containers per slot (docker); requests go to the one with the fewest in flight.
    #[schema(minimum = 1, maximum = 32)]
    pub replicas: u16,
    pub strategy: Strategy,
    /// Most requests held while the project is paused; more get 503 at once.
    #[schema(minimum = 1, maximum = 100000)]
    pub pause_queue: u32,
    /// Deploy each pull request as its own preview project `<name>-pr-N`.
    pub previews: bool,
    /// Pull request N is served at `pr-N.<preview_domain>`.
    pub preview_domain: String,
    /// A preview with no push for this many hours is removed.
    #[schema(exclusive_minimum = 0.0, maximum = 8760.0)]
    pub preview_ttl_h: f64,
    /// Most previews at once; the least recently pushed is removed first.
    #[schema(minimum = 1, maximum = 100)]
    pub max_previews: u32,
    /// Deploy pull requests from forks too (their code runs with the project's env).
    pub previews_from_forks: bool,
    /// Check runs / statuses that must succeed before a push deploys; `["*"]` = every one reported.
    pub required_checks: Vec<String>,
    /// How long a push waits for its checks before it fails.
    #[schema(maximum = 604800)]
    pub checks_timeout_s: u64,
    /// A GitHub token for deployment statuses, PR comments and reading checks; write-only.
    #[schema(value_type = String)]
    pub github_token: Secret,
    pub github_api_url: String,
    /// Lets CI deploy this project and read its deployments and logs (`Authorization: Bearer …`), nothing
    /// else; write-only. Empty = none; else 24 to 256 visible ASCII characters.
    #[schema(value_type = String)]
    pub deploy_token: Secret,
}

/// Most replicas a slot may run.
pub(crate) const MAX_REPLICAS: u16 = 32;

/// The longest any time setting of a project may be (a week): past it a value is a typo, and huge ones
/// would overflow the clock arithmetic of the deploy pipeline.
pub(crate) const MAX_SECONDS: u64 = 604_800;

impl Default for ProjectSpec {
    fn default() -> Self {
        ProjectSpec {
            name: String::new(),
            domains: Vec::new(),
            runtime: RuntimeKind::default(),
            repo_url: String::new(),
            branch: "main".into(),
            build_context: ".".into(),
            dockerfile: String::new(),
            base_port: None,
            container_port: 3000,
            env: BTreeMap::new(),
            health_path: "/health".into(),
            health_interval_ms: 500,
            healthy_threshold: 3,
            health_timeout_s: 60,
            drain_timeout_s: 30,
            stop_timeout_s: 10,
            observe_s: 60,
            max_error_rate: 0.05,
            min_requests: 20,
            release_command: String::new(),
            keep_images: 5,
            webhook_secret: Secret::default(),
            build_timeout_s: 900,
            fetch_timeout_s: 300,
            max_repo_mb: 2048,
            start_timeout_s: 120,
            git_ssh_key: String::new(),
            git_token: Secret::default(),
            memory_mb: 0,
            cpus: 0.0,
            builder: Builder::Auto,
            start_command: String::new(),
            tls: TlsMode::Auto,
            https_redirect: true,
            replicas: 1,
            strategy: Strategy::BlueGreen,
            pause_queue: 1000,
            previews: false,
            preview_domain: String::new(),
            preview_ttl_h: 72.0,
            max_previews: 5,
            previews_from_forks: false,
            required_checks: Vec::new(),
            checks_timeout_s: 3600,
            github_token: Secret::default(),
            github_api_url: "https://api.github.com".into(),
            deploy_token: Secret::default(),
        }
    }
}

pub(crate) use validate::check_domain;
impl ProjectSpec {
    /// How long the release command may run: the health timeout, and at least five minutes.
    pub(crate) fn release_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.health_timeout_s.max(300))
    }

    /// Every write-only value of the spec: env values, the webhook secret, the git and GitHub tokens and
    /// the deploy token.
    pub(crate) fn secrets_mut(&mut self) -> impl Iterator<Item = &mut Secret> {
        let tokens = [&mut self.webhook_secret, &mut self.git_token, &mut self.github_token, &mut self.deploy_token];
        self.env.values_mut().chain(tokens)
    }
}

pub use validate::ProjectError;

#[cfg(test)]
mod tests;
