//! HTTPS as a user meets it: the real binary, Debian's pebble as the ACME CA, and real clients (curl
//! --http2 / --http1.1, openssl s_client).

mod harness;

use harness::pebble::Pebble;
use harness::{Gateway, Upstream};
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A gateway whose ACME CA is a fresh pebble validating on its ports.
async fn gateway_with_ca(challenges: &str, validity_s: u64) -> (Gateway, Arc<Pebble>) {
    let slot: Arc<Mutex<Option<Arc<Pebble>>>> = Arc::default();
    let keep = slot.clone();
    let challenges = challenges.to_owned();
    let gw = Gateway::start_https("", move |http, https| {
        let pebble = Arc::new(Pebble::start(http, https, validity_s));
        let toml = pebble.acme_toml(&challenges);
        *keep.lock().unwrap() = Some(pebble);
        toml
    })
    .await;
    let pebble = slot.lock().unwrap().take().unwrap();
    (gw, pebble)
}

async fn certificate(gw: &Gateway, host: &str) -> Option<Value> {
    let (status, rows) = gw.api("GET", "/api/v1/certificates", None).await;
    assert_eq!(status, 200, "{rows}");
    rows.as_array()?.iter().find(|r| r["host"] == host && r["source"] == "acme").cloned()
}

async fn wait_status(gw: &Gateway, host: &str, want: &str) -> Value {
    for _ in 0..300 {
        if let Some(row) = certificate(gw, host).await.filter(|r| r["status"] == want) {
            return row;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{host} never became {want}: {:?}\n{}", certificate(gw, host).await, gw.log());
}

/// `curl` to `https://host:port/path` resolved to 127.0.0.1 and verified against `root`:
/// (exit code, the HTTP version, the status, the body).
fn curl(gw: &Gateway, host: &str, path: &str, root: &Path, version: &str) -> (i32, String, String, String) {
    let port = gw.https.unwrap().port();
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", version, "--cacert"])
        .arg(root)
        .args(["--resolve", &format!("{host}:{port}:127.0.0.1")])
        .args(["-w", "\n%{http_version} %{http_code}"])
        .arg(format!("https://{host}:{port}{path}"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, tail) = text.rsplit_once('\n').unwrap_or(("", &text));
    let (version, code) = tail.split_once(' ').unwrap_or(("", ""));
    let err = String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), version.into(), code.into(), format!("{body}{err}"))
}

/// `openssl s_client` with `sni`: (whether the handshake completed, what it printed).
fn s_client(gw: &Gateway, sni: Option<&str>) -> (bool, String) {
    let mut cmd = Command::new("openssl");
    cmd.args(["s_client", "-connect", &gw.https.unwrap().to_string(), "-brief"]);
    match sni {
        Some(name) => cmd.args(["-servername", name]),
        None => cmd.arg("-noservername"),
    };
    let out = cmd.stdin(std::process::Stdio::null()).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (text.contains("CONNECTION ESTABLISHED"), text)
}

async fn live_app(gw: &Gateway, name: &str, domains: Value) -> Upstream {
    let app = Upstream::start(name);
    gw.add_external_project(name, "placeholder.invalid", json!({ "domains": domains })).await;
    let d = gw.deploy(name, app.addr).await;
    assert_eq!(d["status"], "ACTIVE", "{d}");
    app
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http01_issues_a_certificate_served_over_http2_with_redirects_and_forwarded_proto() {
    let (gw, pebble) = gateway_with_ca(r#"["http-01"]"#, 3600).await;
    let _app = live_app(&gw, "secure", json!(["secure.vg.test"])).await;
    let row = wait_status(&gw, "secure.vg.test", "valid").await;
    assert!(row["issuer"].as_str().unwrap_or("").contains("Pebble"), "{row}");
    let root = pebble.issuing_root();

    let (code, version, status, body) = curl(&gw, "secure.vg.test", "/headers", &root, "--http2");
    assert_eq!((code, version.as_str(), status.as_str()), (0, "2", "200"), "{body}");
    let headers: Value = serde_json::from_str(&body).unwrap_or_default();
    assert_eq!(headers["x-forwarded-proto"], "https", "{body}");
    let (code, version, status, _) = curl(&gw, "secure.vg.test", "/", &root, "--http1.1");
    assert_eq!((code, version.as_str(), status.as_str()), (0, "1.1", "200"));

    let resp = redirect_of(&gw, "secure.vg.test", "/a/b?c=1").await;
    assert_eq!(resp.0, 308);
    assert_eq!(resp.1, format!("https://secure.vg.test:{}/a/b?c=1", gw.https.unwrap().port()));
    let (status, _) = gw.get("secure.vg.test", "/.well-known/acme-challenge/unknown-token").await;
    assert_ne!(status, 308, "challenge paths are never redirected");

    let (ok, text) = s_client(&gw, Some("nobody.vg.test"));
    assert!(!ok && text.contains("access denied"), "an unknown SNI is refused with access_denied: {text}");
    let (ok, text) = s_client(&gw, None);
    assert!(!ok, "no SNI is refused: {text}");
    let metrics = gw.http.get(format!("{}/metrics", gw.admin_url())).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("versiongate_acme_orders_total{result=\"issued\"} 1"), "{metrics}");
    assert!(metrics.contains("versiongate_certificate_expiry_timestamp_seconds{host=\"secure.vg.test\"}"), "{metrics}");
}

/// A plain-HTTP request's status and `Location`.
async fn redirect_of(gw: &Gateway, host: &str, path: &str) -> (u16, String) {
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let resp = client.get(format!("http://{}{path}", gw.proxy)).header("host", host).send().await.unwrap();
    let location = resp.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    (resp.status().as_u16(), location)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_alpn01_issues_and_a_restart_serves_the_stored_certificate_without_a_new_order() {
    let (mut gw, pebble) = gateway_with_ca(r#"["tls-alpn-01"]"#, 3600).await;
    let _app = live_app(&gw, "alpn", json!(["alpn.vg.test"])).await;
    wait_status(&gw, "alpn.vg.test", "valid").await;
    assert!(gw.log().contains("answered a TLS-ALPN-01 validation"), "{}", gw.log());
    let root = pebble.issuing_root();
    let (code, _, status, body) = curl(&gw, "alpn.vg.test", "/", &root, "--http2");
    assert_eq!((code, status.as_str()), (0, "200"), "{body}");

    gw.crash_and_restart().await;
    let (code, _, status, body) = curl(&gw, "alpn.vg.test", "/", &root, "--http2");
    assert_eq!((code, status.as_str()), (0, "200"), "served from the store at once: {body}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let orders = gw.log().matches("ordering a certificate for alpn.vg.test").count();
    assert_eq!(orders, 1, "no new order after the restart:\n{}", gw.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_the_ca_cannot_validate_fails_alone_with_the_ca_reason() {
    let (gw, pebble) = gateway_with_ca(r#"["http-01"]"#, 3600).await;
    pebble.misdirect("broken.vg.test");
    let _app = live_app(&gw, "mixed", json!(["fine.vg.test", "broken.vg.test"])).await;
    wait_status(&gw, "fine.vg.test", "valid").await;
    let failed = wait_status(&gw, "broken.vg.test", "failed").await;
    let error = failed["error"].as_str().unwrap_or("");
    assert!(error.contains("broken.vg.test") && error.contains("127.0.0.2"), "the CA's reason: {failed}");
    assert!(failed["retry_at"].is_string(), "a back-off, not a tight loop: {failed}");
    let root = pebble.issuing_root();
    let (code, _, status, body) = curl(&gw, "fine.vg.test", "/", &root, "--http2");
    assert_eq!((code, status.as_str()), (0, "200"), "{body}");
    assert_eq!(redirect_of(&gw, "broken.vg.test", "/").await.0, 200, "no certificate: no redirect");
    let (code, out, _) = harness::cli(&gw, &["status", "mixed"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("https: broken.vg.test") && out.contains("failed"), "{out}");
    let (code, out, _) = harness::cli(&gw, &["certs", "list"]);
    assert_eq!(code, 0);
    assert!(out.contains("fine.vg.test") && out.contains("valid"), "{out}");
}
