//! A bounded load loop: it stops on a flag, after a request count, or after a time limit.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What one load worker saw.
#[derive(Debug, Default)]
pub struct Tally {
    pub ok: u64,
    pub non_2xx: Vec<u16>,
    pub transport_errors: Vec<String>,
    pub unexpected: Vec<String>,
}

const BODY: usize = 2048;
const MAX_REQUESTS_PER_WORKER: u64 = 20_000;
const MAX_LOAD_TIME: Duration = Duration::from_secs(60);

/// What the load sends and accepts.
#[derive(Clone)]
pub struct LoadSpec {
    pub host: &'static str,
    /// Every other request is a `POST /echo` with a 2 KiB body.
    pub posts: bool,
    /// Whether a 2xx body is one of the versions being flipped between.
    pub accept: fn(post: bool, body: &str) -> bool,
}

/// GETs (and POSTs) until `stop` or the bounds; `fresh` opens a new connection each time.
pub async fn load(proxy: std::net::SocketAddr, spec: LoadSpec, fresh: bool, stop: Arc<AtomicBool>) -> Tally {
    let mut builder = super::client_builder().timeout(Duration::from_secs(20));
    if fresh {
        builder = builder.pool_max_idle_per_host(0);
    }
    let client = builder.build().unwrap();
    let (mut tally, started, payload) = (Tally::default(), Instant::now(), vec![b'x'; BODY]);
    let mut n = 0u64;
    while !stop.load(Ordering::SeqCst) && n < MAX_REQUESTS_PER_WORKER && started.elapsed() < MAX_LOAD_TIME {
        let post = spec.posts && n % 2 == 1;
        let req = if post {
            client.post(format!("http://{proxy}/echo")).body(payload.clone())
        } else {
            client.get(format!("http://{proxy}/"))
        };
        n += 1;
        let began = std::time::SystemTime::now();
        match req.header("host", spec.host).send().await {
            Ok(resp) if resp.status().is_success() => {
                let body = resp.text().await.unwrap_or_default();
                let expected = (spec.accept)(post, &body);
                if expected {
                    tally.ok += 1;
                } else {
                    tally.unexpected.push(body);
                }
            }
            Ok(resp) => tally.non_2xx.push(resp.status().as_u16()),
            Err(e) => {
                // The whole chain: "error sending request" alone does not say reset, refused or closed.
                let (began, at) = (
                    humantime::format_rfc3339_millis(began),
                    humantime::format_rfc3339_millis(std::time::SystemTime::now()),
                );
                let mut text = format!("{began}..{at} {}{e}", if fresh { "fresh: " } else { "kept-alive: " });
                let mut source = std::error::Error::source(&e);
                while let Some(s) = source {
                    text.push_str(&format!(": {s}"));
                    source = s.source();
                }
                tally.transport_errors.push(text)
            }
        }
    }
    tally
}

impl Tally {
    pub fn add(&mut self, other: Tally) {
        self.ok += other.ok;
        self.non_2xx.extend(other.non_2xx);
        self.transport_errors.extend(other.transport_errors);
        self.unexpected.extend(other.unexpected);
    }

    /// Requests that failed: transport errors, non-2xx answers and unexpected bodies.
    pub fn failed(&self) -> usize {
        self.non_2xx.len() + self.transport_errors.len() + self.unexpected.len()
    }

    /// The first failure, as ` (first: …)`, or nothing.
    pub fn first_error(&self) -> String {
        let e = self.transport_errors.first().cloned().or_else(|| self.non_2xx.first().map(|c| format!("HTTP {c}")));
        e.or_else(|| self.unexpected.first().cloned()).map(|e| format!(" (first: {e})")).unwrap_or_default()
    }

    /// Panics unless every request succeeded with an expected body, and there were at least `min`.
    pub fn assert_clean(&self, min: u64) {
        let errors = &self.transport_errors[..self.transport_errors.len().min(5)];
        assert!(self.transport_errors.is_empty(), "{} transport errors: {errors:?}", self.transport_errors.len());
        assert!(self.non_2xx.is_empty(), "non-2xx answers: {:?}", self.non_2xx);
        assert!(self.unexpected.is_empty(), "unexpected bodies: {:?}", self.unexpected);
        assert!(self.ok >= min, "the load was too thin to prove anything: {} requests", self.ok);
    }
}

/// Six load workers (the last two on fresh connections) while `during` runs; their tally.
pub async fn while_loaded<F: std::future::Future<Output = T>, T>(
    proxy: std::net::SocketAddr,
    spec: LoadSpec,
    during: F,
) -> (T, Tally) {
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..6).map(|i| tokio::spawn(load(proxy, spec.clone(), i >= 4, stop.clone()))).collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let out = during.await;
    stop.store(true, Ordering::SeqCst);
    let mut total = Tally::default();
    for w in workers {
        total.add(w.await.unwrap());
    }
    (out, total)
}

/// Load running in the background on one host whose every GET must answer `body`.
pub struct Background {
    stop: Arc<AtomicBool>,
    workers: Vec<tokio::task::JoinHandle<Tally>>,
    started: Instant,
}

/// The shortest a background load runs, so that a fast scenario on a busy machine still sends enough
/// requests to prove anything.
const MIN_BACKGROUND: Duration = Duration::from_millis(1500);

impl Background {
    /// Four workers, two of them on fresh connections.
    pub fn start(proxy: std::net::SocketAddr, host: &'static str, accept: fn(bool, &str) -> bool) -> Background {
        let stop = Arc::new(AtomicBool::new(false));
        let spec = LoadSpec { host, posts: false, accept };
        let workers = (0..4).map(|i| tokio::spawn(load(proxy, spec.clone(), i >= 2, stop.clone()))).collect();
        Background { stop, workers, started: Instant::now() }
    }

    /// Stops the load and adds up what it saw.
    pub async fn finish(self) -> Tally {
        tokio::time::sleep(MIN_BACKGROUND.saturating_sub(self.started.elapsed())).await;
        self.stop.store(true, Ordering::SeqCst);
        let mut total = Tally::default();
        for w in self.workers {
            total.add(w.await.unwrap());
        }
        total
    }
}
