//! Bounded HTTPS load from a real client: each batch is one `curl` process sending a fixed number of GETs
//! over HTTP/2 or HTTP/1.1 on reused connections to one host (resolved to 127.0.0.1, verified against a root).
//! Stops on a flag, after a batch count, or after a time limit.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const PER_BATCH: usize = 100;
const MAX_BATCHES: usize = 400;
const MAX_TIME: Duration = Duration::from_secs(120);

#[derive(Debug, Default)]
pub struct TlsTally {
    pub ok: u64,
    /// One line per failed request: curl's status code (000 for a transport error) or its exit error.
    pub failed: Vec<String>,
}

impl TlsTally {
    fn add(&mut self, other: TlsTally) {
        self.ok += other.ok;
        self.failed.extend(other.failed);
    }
}

pub struct TlsLoad {
    stop: Arc<AtomicBool>,
    workers: Vec<tokio::task::JoinHandle<TlsTally>>,
}

#[derive(Clone)]
pub struct Target {
    pub https: SocketAddr,
    pub host: String,
    pub root: PathBuf,
}

impl TlsLoad {
    /// `h2` workers on HTTP/2 and `h1` on HTTP/1.1 keep-alive.
    pub fn start(target: Target, h2: usize, h1: usize) -> TlsLoad {
        let stop = Arc::new(AtomicBool::new(false));
        let versions = std::iter::repeat_n("--http2", h2).chain(std::iter::repeat_n("--http1.1", h1));
        let workers = versions
            .map(|version| {
                let (target, stop) = (target.clone(), stop.clone());
                tokio::task::spawn_blocking(move || worker(&target, version, &stop))
            })
            .collect();
        TlsLoad { stop, workers }
    }

    /// The gateway's HTTPS listener and the CA's issuing root, for any host.
    pub fn target_of(gw: &super::Gateway, pebble: &super::pebble::Pebble) -> Target {
        Target { https: gw.https.unwrap(), host: String::new(), root: pebble.issuing_root() }
    }

    pub async fn finish(self) -> TlsTally {
        self.stop.store(true, Ordering::SeqCst);
        let mut total = TlsTally::default();
        for w in self.workers {
            total.add(w.await.unwrap());
        }
        total
    }
}

fn worker(target: &Target, version: &str, stop: &AtomicBool) -> TlsTally {
    let (mut tally, started) = (TlsTally::default(), Instant::now());
    let url = format!("https://{}:{}/", target.host, target.https.port());
    let config: String = (0..PER_BATCH).map(|_| format!("url = \"{url}\"\noutput = \"/dev/null\"\n")).collect();
    let mut batches = 0;
    while !stop.load(Ordering::SeqCst) && batches < MAX_BATCHES && started.elapsed() < MAX_TIME {
        batches += 1;
        let out = std::process::Command::new("curl")
            .args(["-sS", "--max-time", "20", version, "--cacert"])
            .arg(&target.root)
            .args(["--resolve", &format!("{}:{}:127.0.0.1", target.host, target.https.port())])
            .args(["-w", "%{http_code}\n", "-K", "-"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                use std::io::Write;
                child.stdin.take().unwrap().write_all(config.as_bytes())?;
                child.wait_with_output()
            })
            .unwrap();
        let codes = String::from_utf8_lossy(&out.stdout);
        let mut seen = 0;
        for code in codes.lines() {
            seen += 1;
            if code == "200" {
                tally.ok += 1;
            } else {
                tally.failed.push(code.to_owned());
            }
        }
        if seen < PER_BATCH || !out.status.success() {
            tally.failed.push(format!("curl: {}", String::from_utf8_lossy(&out.stderr).trim()));
        }
    }
    tally
}
