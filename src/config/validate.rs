//! Every problem in a config, each with its key path, so one run of `check-config` shows them all (pure).

use super::{parse_addr, Config};
use crate::project::ProjectSpec;
use serde::de::DeserializeOwned;
use std::fmt;

/// One thing wrong at one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub(crate) key: String,
    pub(crate) message: String,
}

/// At least one problem, in the order of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problems(pub Vec<Problem>);

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.as_slice() {
            [one] => write!(f, "config key {}: {}", one.key, one.message),
            many => {
                write!(f, "the config has {} problems:", many.len())?;
                many.iter().try_for_each(|p| write!(f, "\n  {}: {}", p.key, p.message))
            }
        }
    }
}

fn problem(key: impl Into<String>, message: impl Into<String>) -> Problem {
    Problem { key: key.into(), message: message.into() }
}

/// Deserializes one section at a time, so a bad section hides neither the others nor later projects.
pub(super) fn from_table(table: toml::Table) -> Result<Config, Problems> {
    let (mut config, mut problems) = (Config::default(), Vec::new());
    for (key, value) in table {
        let result = match key.as_str() {
            "data_dir" => take(value, &key).map(|v| config.data_dir = v),
            "proxy" => take(value, &key).map(|v| config.proxy = v),
            "admin" => take(value, &key).map(|v| config.admin = v),
            "store" => take(value, &key).map(|v| config.store = v),
            "docker" => take(value, &key).map(|v| config.docker = v),
            "nginx" => take(value, &key).map(|v| config.nginx = v),
            "acme" => take(value, &key).map(|v| config.acme = v),
            "build" => take(value, &key).map(|v| config.build = v),
            "projects" => take_projects(value).map(|v| config.projects = v),
            "notify" => take(value, &key).map(|v| config.notify = v),
            "cluster" => take(value, &key).map(|v| config.cluster = v),
            _ => Err(vec![problem(&key, "unknown key; the README's Configuration section lists every key")]),
        };
        problems.extend(result.err().into_iter().flatten());
    }
    problems.extend(check(&config));
    if problems.is_empty() {
        Ok(config)
    } else {
        Err(Problems(problems))
    }
}

fn take<T: DeserializeOwned>(value: toml::Value, key: &str) -> Result<T, Vec<Problem>> {
    value.try_into().map_err(|e: toml::de::Error| vec![problem(key, e.message().trim())])
}

/// Each project on its own: one that does not deserialize is reported and the others are still checked.
fn take_projects(value: toml::Value) -> Result<Vec<ProjectSpec>, Vec<Problem>> {
    let toml::Value::Array(items) = value else {
        return Err(vec![problem("projects", "must be an array of tables: write each as [[projects]]")]);
    };
    let (mut specs, mut problems) = (Vec::new(), Vec::new());
    let mut names: Vec<String> = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let at = |field: &str| format!("projects[{i}]{field}");
        let mut spec: ProjectSpec = match take(item, &at("")) {
            Ok(spec) => spec,
            Err(p) => {
                problems.extend(p);
                continue;
            }
        };
        spec.normalize();
        problems.extend(spec.problems().into_iter().map(|p| problem(at(&format!(".{}", p.field)), p.message)));
        if names.contains(&spec.name) {
            problems.push(problem(at(".name"), format!("`{}` is defined twice", spec.name)));
        }
        names.push(spec.name.clone());
        specs.push(spec);
    }
    if problems.is_empty() {
        Ok(specs)
    } else {
        Err(problems)
    }
}

/// Values that deserialized but are not usable (projects are checked as they are read).
fn check(config: &Config) -> Vec<Problem> {
    let mut problems = Vec::new();
    listen_problems(config, &mut problems);
    acme_problems(config, &mut problems);
    limit_and_store_problems(config, &mut problems);
    problems.extend(cluster_problems(config));
    for (i, receiver) in config.notify.iter().enumerate() {
        if let Some(message) = receiver.problem() {
            problems.push(problem(format!("notify[{i}]"), message));
        }
    }
    if !config.admin.public_host.is_empty() {
        if let Err(m) = crate::project::check_domain(&config.admin.public_host.to_ascii_lowercase()) {
            problems.push(problem("admin.public_host", m));
        }
    }
    problems
}

fn limit_and_store_problems(config: &Config, problems: &mut Vec<Problem>) {
    let mut need = needs(problems);
    need(
        (1..=1_000_000).contains(&config.build.max_context_mb),
        "build.max_context_mb",
        "must be between 1 and 1000000 MiB",
    );
    need(
        config.proxy.max_connections <= 10_000_000 && config.proxy.max_connections_per_ip <= 10_000_000,
        "proxy.max_connections",
        "max_connections and max_connections_per_ip must be between 0 (no bound) and 10000000",
    );
    need(config.proxy.threads <= 256, "proxy.threads", "must be between 0 (one per core) and 256");
    let url = &config.store.url;
    let known = ["sqlite:", "postgres://", "postgresql://"].iter().any(|p| url.starts_with(p));
    need(url.is_empty() || known, "store.url", "must be empty (SQLite in data_dir), sqlite://PATH or postgres://…");
    need(
        registry_ok(&config.docker.registry),
        "docker.registry",
        "must be empty or a registry as host[:port][/path] (no scheme), like registry.internal:5000",
    );
}

/// A check that adds `key`'s problem to `problems` when its condition does not hold.
fn needs(problems: &mut Vec<Problem>) -> impl FnMut(bool, &str, &str) + '_ {
    |ok, key, message| {
        if !ok {
            problems.push(problem(key, message));
        }
    }
}

fn listen_problems(config: &Config, problems: &mut Vec<Problem>) {
    let mut need = needs(problems);
    need(parse_addr(&config.proxy.http_listen).is_some(), "proxy.http_listen", "must be an address like 0.0.0.0:80");
    need(parse_addr(&config.admin.listen).is_some(), "admin.listen", "must be an address like 127.0.0.1:9080");
    let https = &config.proxy.https_listen;
    need(
        https.is_empty() || parse_addr(https).is_some(),
        "proxy.https_listen",
        "must be empty or an address like 0.0.0.0:443",
    );
    need(
        https.is_empty() || https != &config.proxy.http_listen,
        "proxy.https_listen",
        "must differ from proxy.http_listen",
    );
}

fn acme_problems(config: &Config, problems: &mut Vec<Problem>) {
    let mut need = needs(problems);
    let directory = &config.acme.directory_url;
    need(directory.starts_with("https://"), "acme.directory_url", "must be an https:// ACME directory URL");
    let methods = &config.acme.challenges;
    need(
        !methods.is_empty() && methods.iter().all(|m| super::ACME_CHALLENGES.contains(&m.as_str())),
        "acme.challenges",
        "must list one or more of \"http-01\" and \"tls-alpn-01\"",
    );
    need(
        config.acme.ca_file.is_empty() || std::path::Path::new(&config.acme.ca_file).is_file(),
        "acme.ca_file",
        "must name a readable PEM file, or be empty",
    );
}

/// A registry reference Docker accepts in an image name: lowercase host, optional port and path.
pub(crate) fn registry_ok(registry: &str) -> bool {
    let Some(host) = registry.split('/').next() else { return true };
    let path_ok = registry.split('/').skip(1).all(|part| {
        !part.is_empty() && part.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
    });
    let host_ok = host.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || ".-:[]".contains(c))
        && !host.starts_with(['.', '-', ':']);
    registry.is_empty() || (!host.is_empty() && host_ok && path_ok && registry.len() <= 200)
}

/// Several gateways share one PostgreSQL and one admin token; a node name is a label people read.
fn cluster_problems(config: &Config) -> Vec<Problem> {
    let cluster = &config.cluster;
    let mut problems = Vec::new();
    if !(3..=3600).contains(&cluster.lease_timeout_s) {
        problems.push(problem("cluster.lease_timeout_s", "must be between 3 and 3600 seconds"));
    }
    if cluster.node.is_empty() {
        return problems;
    }
    let name_ok = cluster.node.len() <= 63
        && cluster.node.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    if !name_ok {
        problems.push(problem("cluster.node", "must be 1–63 letters, digits, `-`, `_` or `.`, such as gw1"));
    }
    if !(config.store.url.starts_with("postgres://") || config.store.url.starts_with("postgresql://")) {
        problems.push(problem(
            "cluster.node",
            "several gateways share one PostgreSQL: set store.url = \"postgres://…\" (SQLite is one gateway's own file)",
        ));
    }
    if config.admin.token.is_empty() {
        problems.push(problem(
            "admin.token",
            "with [cluster] every gateway must accept the same token: set admin.token or VERSIONGATE_ADMIN_TOKEN",
        ));
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_is_reported_with_its_key_path() {
        let text = "[proxy]\nhttp_listen = \"nowhere\"\nthreads = 1000\n[store]\nurl = \"mysql://x\"\n\
                    [[projects]]\nname = \"Bad\"\ndomains = [\"ok.com\", \"no way\"]\n\
                    [[projects]]\nname = \"b\"\nhealth_path = \"x\"\n[[projects]]\nname = \"b\"\nbogus = 1\n";
        let table: toml::Table = toml::from_str(text).unwrap();
        let problems = from_table(table).unwrap_err().0;
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "projects[0].name",
                "projects[0].domains[1]",
                "projects[1].health_path",
                "projects[2]",
                "proxy.http_listen",
                "proxy.threads",
                "store.url",
            ],
            "{problems:#?}"
        );
        assert!(problems[3].message.contains("unknown field `bogus`"), "{}", problems[3].message);
        let shown = Problems(problems).to_string();
        assert!(shown.starts_with("the config has 7 problems:\n  projects[0].name: must match"), "{shown}");
    }

    #[test]
    fn a_cluster_needs_postgresql_and_one_admin_token() {
        let text = "[cluster]\nnode = \"gw 1\"\nlease_timeout_s = 1\n";
        let problems = from_table(toml::from_str(text).unwrap()).unwrap_err().0;
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["cluster.lease_timeout_s", "cluster.node", "cluster.node", "admin.token"], "{problems:#?}");
        let ok = "[cluster]\nnode = \"gw1\"\n[store]\nurl = \"postgres://u:p@db/vg\"\n[admin]\ntoken = \"t\"\n";
        let config = from_table(toml::from_str(ok).unwrap()).unwrap();
        assert_eq!((config.cluster.node.as_str(), config.cluster.lease_timeout_s), ("gw1", 15));
    }

    #[test]
    fn a_registry_is_a_host_with_an_optional_port_and_path() {
        for ok in ["", "registry.internal:5000", "127.0.0.1:5000/team", "[::1]:5000", "ghcr.io/acme/apps"] {
            assert!(registry_ok(ok), "{ok}");
        }
        for bad in ["https://r.io", "R.io", "r.io/", "r.io//x", "-r.io", "r.io/a b", "r.io/x;rm"] {
            assert!(!registry_ok(bad), "{bad}");
        }
    }

    #[test]
    fn a_bad_section_and_duplicate_names_are_reported_alongside_the_rest() {
        let text = "[admin]\nlisten = 5\n[[projects]]\nname = \"a\"\n[[projects]]\nname = \"a\"\n[extra]\nx = 1\n";
        let problems = from_table(toml::from_str(text).unwrap()).unwrap_err().0;
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["admin", "extra", "projects[1].name"], "{problems:#?}");
        assert!(problems[0].message.contains("invalid type: integer"), "{}", problems[0].message);
    }
}
