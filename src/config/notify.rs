//! `[[notify]]` in the config: one receiver's URL (write-only), format and events, and what makes it valid.

use crate::secrets::Secret;
use serde::{Deserialize, Serialize};

/// The events a receiver gets when it names none.
pub(crate) const EVENTS: [&str; 4] = ["succeeded", "failed", "rolled_back", "cancelled"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    #[default]
    Json,
    Slack,
    Discord,
}

/// One `[[notify]]` table of the config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReceiverConfig {
    pub url: Secret,
    pub format: Format,
    pub events: Vec<String>,
}

impl Default for ReceiverConfig {
    fn default() -> Self {
        ReceiverConfig { url: Secret::default(), format: Format::Json, events: EVENTS.map(String::from).to_vec() }
    }
}

impl ReceiverConfig {
    /// What is wrong with this receiver, if anything (the config's validation names the table).
    pub(crate) fn problem(&self) -> Option<String> {
        let url = self.url.expose();
        if !(url.starts_with("http://") || url.starts_with("https://")) || url.contains(char::is_whitespace) {
            return Some("url must be an http(s) URL, such as a Slack or Discord webhook URL".into());
        }
        let unknown = self.events.iter().find(|e| !EVENTS.contains(&e.as_str()))?;
        Some(format!("events: `{unknown}` is not one of {}", EVENTS.join(", ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receivers_are_checked() {
        let ok = ReceiverConfig { url: "https://x.example/hook".into(), ..ReceiverConfig::default() };
        assert_eq!(ok.problem(), None);
        let bad_url = ReceiverConfig { url: "file:///etc/passwd".into(), ..ok.clone() };
        assert!(bad_url.problem().unwrap().starts_with("url"));
        let bad_event = ReceiverConfig { events: vec!["deployed".into()], ..ok };
        assert!(bad_event.problem().unwrap().contains("`deployed`"));
    }
}
