//! The shape, defaults, environment overrides and validation of `versiongate.toml`.

mod cluster;
mod env;
pub(crate) mod notify;
mod validate;

pub(crate) use validate::Problems;

use crate::builder::plan::BaseImages;
use crate::project::ProjectSpec;
use cluster::ClusterConfig;
use notify::ReceiverConfig;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub(crate) data_dir: PathBuf,
    pub(crate) proxy: ProxyConfig,
    pub(crate) admin: AdminConfig,
    pub(crate) store: StoreConfig,
    pub(crate) docker: DockerConfig,
    pub(crate) nginx: NginxConfig,
    pub(crate) acme: AcmeConfig,
    /// Base images of generated Dockerfiles (`{version}` is replaced by the detected version).
    pub(crate) build: BaseImages,
    pub(crate) projects: Vec<ProjectSpec>,
    /// `[[notify]]`: where deployment outcomes are sent.
    pub(crate) notify: Vec<ReceiverConfig>,
    pub(crate) cluster: ClusterConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct ProxyConfig {
    pub(crate) http_listen: String,
    pub(crate) https_listen: String,
    pub(crate) threads: usize,
    /// Open client connections at most (0: no bound); past it a new one is answered 503 and closed.
    pub(crate) max_connections: usize,
    /// Open client connections per client address at most (0: no bound).
    pub(crate) max_connections_per_ip: usize,
    /// The lane reads HTTP/1.1 requests first and serves what it can (`proxy::lane`); `false` sends every
    /// request through Pingora's proxy pipeline. Read as `fast_path` too, its name before issue 31.
    #[serde(alias = "fast_path")]
    pub(crate) lane: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct AdminConfig {
    pub(crate) listen: String,
    pub(crate) token: String,
    pub(crate) public_host: String,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct StoreConfig {
    pub(crate) url: String,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct DockerConfig {
    pub(crate) host: String,
    /// `host[:port][/path]` of a registry every swarm node can pull from: swarm images are pushed there
    /// and services run them by digest. Empty: services run the local image (a one-node swarm).
    pub(crate) registry: String,
}

/// The ACME CA that issues certificates for `tls = "auto"` domains.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct AcmeConfig {
    pub(crate) directory_url: String,
    pub(crate) email: String,
    /// An extra PEM root to trust for the ACME server itself (a private or test CA).
    pub(crate) ca_file: String,
    /// Challenge methods in order of preference (`http-01`, `tls-alpn-01`); a host whose order failed
    /// tries the next one.
    pub(crate) challenges: Vec<String>,
}

/// The ACME challenge methods versiongate answers, by their ACME names.
pub(crate) const ACME_CHALLENGES: [&str; 2] = ["http-01", "tls-alpn-01"];

/// Let's Encrypt production. Staging is `https://acme-staging-v02.api.letsencrypt.org/directory`.
pub(crate) const LETS_ENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";

impl Default for AcmeConfig {
    fn default() -> Self {
        AcmeConfig {
            directory_url: LETS_ENCRYPT.into(),
            email: String::new(),
            ca_file: String::new(),
            challenges: ACME_CHALLENGES.map(String::from).to_vec(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct NginxConfig {
    pub(crate) include_dir: String,
    pub(crate) test_command: String,
    pub(crate) reload_command: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./data"),
            proxy: ProxyConfig::default(),
            admin: AdminConfig { listen: "127.0.0.1:9080".into(), ..AdminConfig::default() },
            store: StoreConfig::default(),
            docker: DockerConfig::default(),
            nginx: NginxConfig::default(),
            acme: AcmeConfig::default(),
            build: BaseImages::default(),
            projects: Vec::new(),
            notify: Vec::new(),
            cluster: ClusterConfig::default(),
        }
    }
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig {
            http_listen: "0.0.0.0:80".into(),
            https_listen: String::new(),
            threads: 0,
            max_connections: 0,
            max_connections_per_ip: 0,
            lane: true,
        }
    }
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig { listen: "127.0.0.1:9080".into(), token: String::new(), public_host: String::new() }
    }
}

impl Default for NginxConfig {
    fn default() -> Self {
        NginxConfig {
            include_dir: String::new(),
            test_command: "nginx -t".into(),
            reload_command: "nginx -s reload".into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}. Pass an existing file with --config")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("config file {path} is not valid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("environment variable {var}: {message}")]
    Env { var: String, message: String },
    #[error("{0}")]
    Invalid(Problems),
}

impl Config {
    /// Reads the file (a missing default file means all defaults), applies env overrides, validates.
    pub fn load(path: &Path, must_exist: bool, env: &[(String, String)]) -> Result<Config, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !must_exist => String::new(),
            Err(source) => return Err(ConfigError::Read { path: path.into(), source }),
        };
        Config::parse(&text, env).map_err(|e| match e {
            ConfigError::Parse { message, .. } => ConfigError::Parse { path: path.into(), message },
            other => other,
        })
    }

    pub fn parse(text: &str, env: &[(String, String)]) -> Result<Config, ConfigError> {
        let parse_err = |message: String| ConfigError::Parse { path: PathBuf::new(), message };
        let mut table: toml::Table = toml::from_str(text).map_err(|e| parse_err(e.to_string()))?;
        env::apply(&mut table, env)?;
        validate::from_table(table).map_err(ConfigError::Invalid)
    }

    /// The store URL, with the embedded SQLite default filled in.
    pub(crate) fn store_url(&self) -> String {
        if self.store.url.is_empty() {
            format!("sqlite://{}?mode=rwc", self.data_dir.join("versiongate.db").display())
        } else {
            self.store.url.clone()
        }
    }

    /// Proxy worker threads, with 0 meaning one per core.
    pub(crate) fn proxy_threads(&self) -> usize {
        match self.proxy.threads {
            0 => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            n => n,
        }
    }

    /// The effective config as TOML, with every secret replaced by `***`.
    pub fn to_masked_toml(&self) -> String {
        let mut shown = self.clone();
        mask(&mut shown.admin.token);
        shown.store.url = mask_url_password(&shown.store_url());
        toml::to_string_pretty(&shown).unwrap_or_else(|e| format!("# cannot print config: {e}\n"))
    }
}

fn mask(secret: &mut String) {
    if !secret.is_empty() {
        *secret = "***".into();
    }
}

/// `postgres://user:secret@host/db` becomes `postgres://user:***@host/db`.
pub(crate) fn mask_url_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

pub(crate) fn parse_addr(s: &str) -> Option<SocketAddr> {
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_gives_the_documented_defaults() {
        let c = Config::parse("", &[]).unwrap();
        assert_eq!(c.proxy.http_listen, "0.0.0.0:80");
        assert_eq!(c.admin.listen, "127.0.0.1:9080");
        assert_eq!(c.nginx.reload_command, "nginx -s reload");
        let partial = Config::parse("[admin]\ntoken = \"t\"\n[nginx]\ninclude_dir = \"/x\"", &[]).unwrap();
        assert_eq!(partial.admin.listen, "127.0.0.1:9080", "a section keeps the defaults of keys it omits");
        assert_eq!(partial.nginx.test_command, "nginx -t");
        assert_eq!(c.store_url(), "sqlite://./data/versiongate.db?mode=rwc");
    }

    #[test]
    fn invalid_values_name_their_key() {
        let cases = [
            ("[proxy]\nhttp_listen = \"nowhere\"", "proxy.http_listen"),
            ("[store]\nurl = \"mysql://x\"", "store.url"),
            ("[proxy]\nthreads = 1000", "proxy.threads"),
            ("[admin]\nlisten = \"\"", "admin.listen"),
            ("[proxy]\nhttps_listen = \"443\"", "proxy.https_listen"),
            ("[acme]\ndirectory_url = \"http://ca.test/dir\"", "acme.directory_url"),
            ("[proxy]\nhttp_lisen = \"x\"", "http_lisen"),
            ("[[projects]]\nname = \"Bad\"", "name"),
        ];
        for (text, key) in cases {
            let err = Config::parse(text, &[]).unwrap_err().to_string();
            assert!(err.contains(key), "{text}: {err}");
        }
        let dup = "[[projects]]\nname = \"a\"\n[[projects]]\nname = \"a\"";
        assert!(Config::parse(dup, &[]).unwrap_err().to_string().contains("twice"));
    }

    #[test]
    fn printed_config_masks_every_secret() {
        let text = "[admin]\ntoken = \"tok-123\"\n[store]\nurl = \"postgres://vg:pw-456@db/vg\"\n[[projects]]\nname = \"a\"\nwebhook_secret = \"hook-789\"\nenv = { KEY = \"val-000\" }";
        let shown = Config::parse(text, &[]).unwrap().to_masked_toml();
        for secret in ["tok-123", "pw-456", "hook-789", "val-000"] {
            assert!(!shown.contains(secret), "{secret} leaked:\n{shown}");
        }
        assert!(shown.contains("postgres://vg:***@db/vg") && shown.contains("KEY"));
    }

    #[test]
    fn missing_default_file_is_all_defaults_but_a_named_file_must_exist() {
        let path = Path::new("/nonexistent/versiongate.toml");
        assert!(Config::load(path, false, &[]).is_ok());
        assert!(Config::load(path, true, &[]).unwrap_err().to_string().contains("--config"));
    }
}
