//! Checking every field of a project spec (pure): the first problem found, named by its field.

use super::{ProjectSpec, Strategy, MAX_REPLICAS, MAX_SECONDS};

/// A field that does not hold what it must, named so the user can fix it.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("{field}: {message}")]
pub struct ProjectError {
    pub(crate) field: String,
    pub(crate) message: String,
}

pub(super) fn invalid(field: impl Into<String>, message: impl Into<String>) -> ProjectError {
    ProjectError { field: field.into(), message: message.into() }
}

impl ProjectSpec {
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
        out.extend(self.github_problems());
        out.extend(check_deploy_token(self.deploy_token.expose()).err());
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
        if !self.runtime.runs_replicas() && self.replicas != 1 {
            out.push(invalid("replicas", "external projects deploy several targets instead: {\"targets\": [...]}"));
        }
        if !self.runtime.swaps_in_place() && self.strategy == Strategy::HoldSwap {
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
        out.extend(self.time_problems());
        if !(1..=1_000_000).contains(&self.max_repo_mb) {
            out.push(invalid("max_repo_mb", "must be between 1 and 1000000 MiB"));
        }
        if !(0.0..=1024.0).contains(&self.cpus) {
            out.push(invalid("cpus", "must be a number of cores between 0 (no limit) and 1024"));
        }
        if !(0.0..=1.0).contains(&self.max_error_rate) {
            out.push(invalid("max_error_rate", "must be a fraction between 0 and 1, such as 0.05"));
        }
        out
    }

    fn time_problems(&self) -> Vec<ProjectError> {
        let seconds: [(&str, u64); 8] = [
            ("health_timeout_s", self.health_timeout_s),
            ("drain_timeout_s", self.drain_timeout_s),
            ("stop_timeout_s", self.stop_timeout_s),
            ("observe_s", self.observe_s),
            ("build_timeout_s", self.build_timeout_s),
            ("fetch_timeout_s", self.fetch_timeout_s),
            ("start_timeout_s", self.start_timeout_s),
            ("checks_timeout_s", self.checks_timeout_s),
        ];
        let mut out: Vec<ProjectError> = seconds
            .iter()
            .filter(|(_, v)| *v > MAX_SECONDS)
            .map(|(field, _)| invalid(*field, format!("must be at most {MAX_SECONDS} seconds (a week)")))
            .collect();
        let bounded: [(&str, u64, u64); 4] = [
            ("min_requests", self.min_requests, 1_000_000_000),
            ("keep_images", self.keep_images.into(), 1000),
            ("healthy_threshold", self.healthy_threshold.into(), 1000),
            ("memory_mb", self.memory_mb, 16_777_216),
        ];
        for (field, value, max) in bounded {
            if value > max {
                out.push(invalid(field, format!("must be at most {max}")));
            }
        }
        if self.health_interval_ms > 3_600_000 {
            out.push(invalid("health_interval_ms", "must be at most 3600000 (an hour)"));
        }
        out
    }
}

/// Shortest and longest deploy token: long enough not to be guessed, short enough for a header.
const DEPLOY_TOKEN_LEN: std::ops::RangeInclusive<usize> = 24..=256;

/// Empty (no deploy token), or 24 to 256 visible ASCII characters (what a header carries unchanged).
fn check_deploy_token(token: &str) -> Result<(), ProjectError> {
    let visible = token.bytes().all(|b| b.is_ascii_graphic());
    if token.is_empty() || (DEPLOY_TOKEN_LEN.contains(&token.len()) && visible) {
        return Ok(());
    }
    Err(invalid(
        "deploy_token",
        "must be 24 to 256 visible ASCII characters (no spaces), such as the output of `openssl rand -hex 32`; \
         empty removes it",
    ))
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
