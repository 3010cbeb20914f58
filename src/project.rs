//! What a project is (name, domains, source, run, health and drain settings), validated once (pure).

pub use crate::slot::Slot;

use crate::builder::plan::Builder;
use crate::secrets::Secret;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuntimeKind {
    /// versiongate builds the image and runs the container.
    #[default]
    Docker,
    /// The user runs the process and deploys by giving its address.
    External,
}

/// How a deployment replaces the live version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProjectSpec {
    pub name: String,
    pub domains: Vec<String>,
    pub runtime: RuntimeKind,
    pub repo_url: String,
    pub branch: String,
    pub build_context: String,
    pub dockerfile: String,
    pub base_port: Option<u16>,
    pub container_port: u16,
    pub env: BTreeMap<String, Secret>,
    pub health_path: String,
    pub health_interval_ms: u64,
    pub healthy_threshold: u32,
    pub health_timeout_s: u64,
    pub drain_timeout_s: u64,
    pub stop_timeout_s: u64,
    pub observe_s: u64,
    pub max_error_rate: f64,
    pub min_requests: u64,
    pub release_command: String,
    pub keep_images: u32,
    pub webhook_secret: Secret,
    /// Longest a docker build may take.
    pub build_timeout_s: u64,
    /// Longest fetching and checking out the commit may take.
    pub fetch_timeout_s: u64,
    /// Longest creating and starting the slot's container may take.
    pub start_timeout_s: u64,
    /// A deploy key file for ssh repository URLs.
    pub git_ssh_key: String,
    /// A token for https repository URLs; write-only.
    pub git_token: Secret,
    /// Container memory limit in MiB; 0 means none.
    pub memory_mb: u64,
    /// Container CPU limit in cores (0.5 = half a core); 0 means none.
    pub cpus: f64,
    /// `auto` detects; `dockerfile`, `node`, `bun` or `python` force one way of building.
    pub builder: Builder,
    /// Overrides the detected start command of a generated Dockerfile.
    pub start_command: String,
    pub tls: TlsMode,
    /// Once a host has a valid certificate, plain-HTTP requests get 308 to https.
    pub https_redirect: bool,
    /// Containers per slot (docker); requests go to the one with the fewest in flight.
    pub replicas: u16,
    pub strategy: Strategy,
    /// Most requests held while the project is paused; more get 503 at once.
    pub pause_queue: u32,
}

/// Most replicas a slot may run.
pub(crate) const MAX_REPLICAS: u16 = 32;

impl Default for ProjectSpec {
    fn default() -> Self {
        ProjectSpec {
            name: String::new(),
            domains: Vec::new(),
            runtime: RuntimeKind::Docker,
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
        }
    }
}

/// A field that does not hold what it must, named so the user can fix it.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("{field}: {message}")]
pub struct ProjectError {
    pub(crate) field: String,
    pub(crate) message: String,
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> ProjectError {
    ProjectError { field: field.into(), message: message.into() }
}

impl ProjectSpec {
    /// How long the release command may run: the health timeout, and at least five minutes.
    pub(crate) fn release_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.health_timeout_s.max(300))
    }

    /// Every write-only value of the spec: env values, the webhook secret and the git token.
    pub(crate) fn secrets_mut(&mut self) -> impl Iterator<Item = &mut Secret> {
        self.env.values_mut().chain([&mut self.webhook_secret, &mut self.git_token])
    }

    /// Lowercases the domains, then checks every field; the first problem found is returned.
    pub(crate) fn validate(mut self) -> Result<ProjectSpec, ProjectError> {
        self.normalize();
        match self.problems().into_iter().next() {
            Some(problem) => Err(problem),
            None => Ok(self),
        }
    }

    /// What `validate` does to a spec before checking it.
    pub(crate) fn normalize(&mut self) {
        for d in &mut self.domains {
            *d = d.trim().to_ascii_lowercase();
        }
    }

    /// Every problem of a normalized spec, in field order.
    pub(crate) fn problems(&self) -> Vec<ProjectError> {
        let mut out: Vec<ProjectError> = check_name(&self.name).err().into_iter().collect();
        for (i, d) in self.domains.iter().enumerate() {
            out.extend(check_domain(d).err().map(|m| invalid(format!("domains[{i}]"), m)));
        }
        out.extend(check_unique(&self.domains).err());
        if self.base_port.is_some_and(|p| !(1024..=65534).contains(&p)) {
            out.push(invalid("base_port", "must be between 1024 and 65534 (green uses base_port + 1)"));
        }
        out.extend(self.replica_problems());
        if self.container_port == 0 {
            out.push(invalid("container_port", "must be between 1 and 65535"));
        }
        if !self.health_path.starts_with('/') || self.health_path.chars().any(char::is_whitespace) {
            out.push(invalid("health_path", "must be a path starting with `/`, without spaces"));
        }
        out.extend(self.number_problems());
        for key in self.env.keys() {
            if key.is_empty() || key.contains('=') || key.contains('\0') {
                out.push(invalid(format!("env.{key}"), "a variable name cannot be empty or contain `=`"));
            }
        }
        out
    }

    fn replica_problems(&self) -> Vec<ProjectError> {
        let mut out = Vec::new();
        if !(1..=MAX_REPLICAS).contains(&self.replicas) {
            out.push(invalid("replicas", format!("must be between 1 and {MAX_REPLICAS}")));
        } else if let Some(base) = self.base_port {
            let last = crate::slot::PortRange { base, replicas: self.replicas }.last();
            if last > 65535 {
                let n = self.replicas;
                out.push(invalid(
                    "replicas",
                    format!("{n} replicas need ports {base}–{last}, past 65535: lower base_port"),
                ));
            }
        }
        if self.runtime == RuntimeKind::External && self.replicas != 1 {
            out.push(invalid("replicas", "external projects deploy several targets instead: {\"targets\": [...]}"));
        }
        if self.runtime == RuntimeKind::External && self.strategy == Strategy::HoldSwap {
            out.push(invalid("strategy", "hold_swap stops and starts containers: it needs runtime \"docker\""));
        }
        if !(1..=100_000).contains(&self.pause_queue) {
            out.push(invalid("pause_queue", "must be between 1 and 100000"));
        }
        out
    }

    fn number_problems(&self) -> Vec<ProjectError> {
        let positive: [(&str, u64); 7] = [
            ("health_interval_ms", self.health_interval_ms),
            ("healthy_threshold", self.healthy_threshold.into()),
            ("health_timeout_s", self.health_timeout_s),
            ("keep_images", self.keep_images.into()),
            ("build_timeout_s", self.build_timeout_s),
            ("fetch_timeout_s", self.fetch_timeout_s),
            ("start_timeout_s", self.start_timeout_s),
        ];
        let mut out: Vec<ProjectError> =
            positive.iter().filter(|(_, v)| *v == 0).map(|(field, _)| invalid(*field, "must be at least 1")).collect();
        if !(0.0..=1024.0).contains(&self.cpus) {
            out.push(invalid("cpus", "must be a number of cores between 0 (no limit) and 1024"));
        }
        if !(0.0..=1.0).contains(&self.max_error_rate) {
            out.push(invalid("max_error_rate", "must be a fraction between 0 and 1, such as 0.05"));
        }
        out
    }
}

fn check_name(name: &str) -> Result<(), ProjectError> {
    let bytes = name.as_bytes();
    let ok = !bytes.is_empty()
        && bytes.len() <= 40
        && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
        && bytes.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-');
    if ok {
        Ok(())
    } else {
        Err(invalid("name", "must match [a-z0-9][a-z0-9-]{0,39}: lowercase letters, digits and dashes"))
    }
}

/// A host name, or `*.` followed by one, as a browser would send it.
pub(crate) fn check_domain(domain: &str) -> Result<(), String> {
    let host = domain.strip_prefix("*.").unwrap_or(domain);
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    if host.is_empty() || host.len() > 253 || !host.split('.').all(label_ok) {
        return Err(format!(
            "`{domain}` is not a host name: use labels of letters, digits and dashes, like app.example.com or *.example.com"
        ));
    }
    Ok(())
}

fn check_unique(domains: &[String]) -> Result<(), ProjectError> {
    for (i, d) in domains.iter().enumerate() {
        if domains[..i].contains(d) {
            return Err(invalid(format!("domains[{i}]"), format!("`{d}` is listed twice")));
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "project_tests.rs"]
mod tests;
