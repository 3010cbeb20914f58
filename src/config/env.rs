//! `VERSIONGATE_<SECTION>_<KEY>` environment overrides, applied to the parsed file before validation.

use super::ConfigError;

/// The keys that `VERSIONGATE_<SECTION>_<KEY>` may override, and whether they are numbers.
const ENV_KEYS: [(&str, &str, bool); 22] = [
    ("", "data_dir", false),
    ("proxy", "http_listen", false),
    ("proxy", "https_listen", false),
    ("proxy", "threads", true),
    ("proxy", "max_connections", true),
    ("proxy", "max_connections_per_ip", true),
    ("admin", "listen", false),
    ("admin", "token", false),
    ("admin", "public_host", false),
    ("store", "url", false),
    ("docker", "host", false),
    ("docker", "registry", false),
    ("nginx", "include_dir", false),
    ("nginx", "test_command", false),
    ("nginx", "reload_command", false),
    ("acme", "directory_url", false),
    ("acme", "email", false),
    ("acme", "ca_file", false),
    ("build", "node_image", false),
    ("build", "bun_image", false),
    ("build", "python_image", false),
    ("build", "max_context_mb", true),
];

pub(super) fn apply(table: &mut toml::Table, env: &[(String, String)]) -> Result<(), ConfigError> {
    for (section, key, numeric) in ENV_KEYS {
        let var = match section {
            "" => format!("VERSIONGATE_{}", key.to_uppercase()),
            s => format!("VERSIONGATE_{}_{}", s.to_uppercase(), key.to_uppercase()),
        };
        let Some((_, raw)) = env.iter().find(|(k, _)| *k == var) else {
            continue;
        };
        let value = if numeric {
            let n = raw.trim().parse::<i64>().map_err(|_| ConfigError::Env {
                var: var.clone(),
                message: format!("`{raw}` is not a whole number"),
            })?;
            toml::Value::Integer(n)
        } else {
            toml::Value::String(raw.clone())
        };
        let target = if section.is_empty() {
            &mut *table
        } else {
            let entry = table.entry(section).or_insert_with(|| toml::Value::Table(toml::Table::new()));
            entry.as_table_mut().ok_or_else(|| ConfigError::Env {
                var: var.clone(),
                message: format!("[{section}] in the file is not a table"),
            })?
        };
        target.insert(key.into(), value);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::Config;
    use std::path::PathBuf;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn env_overrides_the_file() {
        let text = "[proxy]\nthreads = 2\n[admin]\nlisten = \"127.0.0.1:1\"";
        let e = env(&[
            ("VERSIONGATE_PROXY_THREADS", "4"),
            ("VERSIONGATE_ADMIN_LISTEN", "127.0.0.1:2"),
            ("VERSIONGATE_DATA_DIR", "/x"),
            ("VERSIONGATE_URL", "ignored"),
        ]);
        let c = Config::parse(text, &e).unwrap();
        assert_eq!((c.proxy.threads, c.admin.listen.as_str()), (4, "127.0.0.1:2"));
        assert_eq!(c.data_dir, PathBuf::from("/x"));
        let bad = Config::parse("", &env(&[("VERSIONGATE_PROXY_THREADS", "many")])).unwrap_err();
        assert!(bad.to_string().contains("VERSIONGATE_PROXY_THREADS"), "{bad}");
    }
}
