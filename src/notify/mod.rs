//! Notifications: `[[notify]]` receivers get deployment outcomes in their format, delivered in the
//! background with retries from a bounded queue per receiver; the last delivery of each is kept for
//! `/healthz` and the dashboard. Receiver URLs carry their own secrets: they are only ever shown masked.

mod format;

pub(crate) use crate::config::notify::{Format, ReceiverConfig};
use crate::outcomes::{Listener, Outcome};
use serde::Serialize;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// Outcomes waiting per receiver; more are dropped and counted.
const QUEUE: usize = 100;
/// Waits between attempts: a delivery is tried five times over about 15 s.
const BACKOFF: [Duration; 4] =
    [Duration::from_secs(1), Duration::from_secs(2), Duration::from_secs(4), Duration::from_secs(8)];
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
/// `https://hooks.slack.com/services/T0/B0/XYZ` → `https://hooks.slack.com/***`: the path and query are
/// the secret part of a webhook URL.
pub(crate) fn mask_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    format!("{scheme}://{host}/***")
}

#[derive(Debug, Clone, Default, Serialize)]
struct Delivery {
    at: String,
    event: &'static str,
    deployment: i64,
    ok: bool,
    attempts: usize,
    /// The receiver's status code, or why it could not be reached.
    detail: String,
}

#[derive(Debug, Default)]
struct Tally {
    last: Option<Delivery>,
    sent: u64,
    failed: u64,
    dropped: u64,
}

struct Receiver {
    config: ReceiverConfig,
    tx: mpsc::Sender<Outcome>,
    tally: Arc<Mutex<Tally>>,
}

/// Every configured receiver, each with its queue and worker.
pub(crate) struct Notifier {
    receivers: Vec<Receiver>,
}

impl Notifier {
    /// Starts one worker per receiver. `dashboard` is `http(s)://host` of the dashboard, for links.
    pub(crate) fn start(configs: &[ReceiverConfig], dashboard: &str) -> Notifier {
        let http = crate::outbound::client(ATTEMPT_TIMEOUT);
        let receivers = configs
            .iter()
            .map(|config| {
                let (tx, rx) = mpsc::channel(QUEUE);
                let tally = Arc::new(Mutex::new(Tally::default()));
                let worker = Worker {
                    config: config.clone(),
                    http: http.clone(),
                    tally: tally.clone(),
                    dashboard: dashboard.to_owned(),
                };
                tokio::spawn(worker.run(rx));
                Receiver { config: config.clone(), tx, tally }
            })
            .collect();
        Notifier { receivers }
    }

    /// Each receiver, masked, with its last delivery and counts.
    pub(crate) fn report(&self) -> Vec<Value> {
        let one = |r: &Receiver| {
            let tally = crate::lock::lock(&r.tally);
            json!({
                "receiver": mask_url(r.config.url.expose()),
                "format": r.config.format,
                "events": r.config.events,
                "last": tally.last,
                "sent": tally.sent,
                "failed": tally.failed,
                "dropped": tally.dropped,
                "queued": QUEUE - r.tx.capacity(),
            })
        };
        self.receivers.iter().map(one).collect()
    }
}

impl Listener for Notifier {
    fn offer(&self, outcome: &Outcome) {
        for r in &self.receivers {
            if !r.config.events.iter().any(|e| e == outcome.kind.as_str()) {
                continue;
            }
            if r.tx.try_send(outcome.clone()).is_err() {
                crate::lock::lock(&r.tally).dropped += 1;
                tracing::warn!(
                    "notification queue of {} is full; {} dropped",
                    mask_url(r.config.url.expose()),
                    outcome.kind.as_str()
                );
            }
        }
    }
}

struct Worker {
    config: ReceiverConfig,
    http: reqwest::Client,
    tally: Arc<Mutex<Tally>>,
    dashboard: String,
}

impl Worker {
    async fn run(self, mut rx: mpsc::Receiver<Outcome>) {
        while let Some(outcome) = rx.recv().await {
            let delivery = self.deliver(&outcome).await;
            if !delivery.ok {
                let receiver = mask_url(self.config.url.expose());
                tracing::warn!(
                    "notification to {receiver} failed after {} attempts: {}",
                    delivery.attempts,
                    delivery.detail
                );
            }
            let mut tally = crate::lock::lock(&self.tally);
            if delivery.ok {
                tally.sent += 1
            } else {
                tally.failed += 1
            }
            tally.last = Some(delivery);
        }
    }

    async fn deliver(&self, outcome: &Outcome) -> Delivery {
        let link = format!("{}/deployments/{}", self.dashboard, outcome.deployment.id);
        let body = format::body(self.config.format, outcome, &link);
        let mut waits = BACKOFF.iter();
        let mut attempts = 0;
        loop {
            attempts += 1;
            let (ok, detail) = match self.http.post(self.config.url.expose()).json(&body).send().await {
                Ok(r) => (r.status().is_success(), r.status().as_u16().to_string()),
                // reqwest's error names the URL: only its masked form may reach the log and the API.
                Err(e) => (false, if e.is_timeout() { "timed out".into() } else { "unreachable".into() }),
            };
            match waits.next() {
                Some(wait) if !ok => tokio::time::sleep(*wait).await,
                _ => {
                    let at = crate::store::rfc3339(crate::store::now_ms());
                    let (event, deployment) = (outcome.kind.as_str(), outcome.deployment.id);
                    return Delivery { at, event, deployment, ok, attempts, detail };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_masked_past_the_host() {
        assert_eq!(mask_url("https://hooks.slack.com/services/T0/B0/XYZ"), "https://hooks.slack.com/***");
        assert_eq!(mask_url("http://user:pw@127.0.0.1:9000/hook?key=1"), "http://127.0.0.1:9000/***");
        assert_eq!(mask_url("https://discord.com"), "https://discord.com/***");
    }
}
