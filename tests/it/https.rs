//! HTTPS as a user meets it: the real binary, Debian's pebble as the ACME CA, and real clients (curl
//! --http2 / --http1.1, openssl s_client).

use crate::harness;

use harness::pebble::{gateway_with_ca, wait_status};
use harness::{Gateway, Upstream};
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

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
    let client = harness::client_builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
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

/// A test CA's root file and a leaf for `names` valid from `from_days` to `to_days` around now (PEM pair).
struct TestCa {
    root: std::path::PathBuf,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
    _dir: tempfile::TempDir,
}

impl TestCa {
    fn new() -> TestCa {
        let dir = tempfile::tempdir().unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.distinguished_name.push(rcgen::DnType::CommonName, "Upload Test CA");
        let root = dir.path().join("root.pem");
        std::fs::write(&root, params.self_signed(&key).unwrap().pem()).unwrap();
        TestCa { root, issuer: rcgen::Issuer::new(params, key), _dir: dir }
    }

    fn leaf(&self, names: &[&str], from_days: i64, to_days: i64) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params =
            rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now + time::Duration::days(from_days);
        params.not_after = now + time::Duration::days(to_days);
        (params.signed_by(&key, &self.issuer).unwrap().pem(), key.serialize_pem())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploaded_certificates_are_checked_then_served_and_removed_with_wildcards() {
    let (gw, _pebble) = gateway_with_ca(r#"["http-01"]"#, 3600).await;
    let app = Upstream::start("custom");
    let extra = json!({ "domains": ["custom.vg.test", "*.wild.vg.test"], "tls": "custom" });
    gw.add_external_project("custom", "placeholder.invalid", extra).await;
    assert_eq!(gw.deploy("custom", app.addr).await["status"], "ACTIVE");
    let ca = TestCa::new();
    let (good_cert, good_key) = ca.leaf(&["custom.vg.test"], -1, 30);
    let (_, other_key) = ca.leaf(&["custom.vg.test"], -1, 30);
    let (expired_cert, expired_key) = ca.leaf(&["custom.vg.test"], -30, -1);
    let (foreign_cert, foreign_key) = ca.leaf(&["elsewhere.vg.test"], -1, 30);
    let put = |host: &str, cert: &str, key: &str| {
        let body = json!({ "cert_pem": cert, "key_pem": key });
        let path = format!("/api/v1/certificates/{host}");
        let gw = &gw;
        async move { gw.api("PUT", &path, Some(body)).await }
    };
    for (cert, key, words) in [
        (&good_cert, &other_key, "does not belong"),
        (&expired_cert, &expired_key, "expired"),
        (&foreign_cert, &foreign_key, "does not cover custom.vg.test"),
        (&"garbage".to_string(), &good_key, "no PEM certificate"),
    ] {
        let (status, body) = put("custom.vg.test", cert, key).await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(body["error"]["code"], "invalid_certificate");
        assert!(body["error"]["message"].as_str().unwrap().contains(words), "{words}: {body}");
    }
    assert_eq!(put("no way", &good_cert, &good_key).await.0, 400);
    let (ok, _) = s_client(&gw, Some("custom.vg.test"));
    assert!(!ok, "nothing is served before a good upload");

    let (status, row) = put("custom.vg.test", &good_cert, &good_key).await;
    let key_body = good_key.lines().nth(1).unwrap().to_owned();
    for file in ["versiongate.db", "versiongate.db-wal"] {
        let bytes = std::fs::read(gw.data_dir().join(file)).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains("PRIVATE KEY") && !text.contains(&key_body), "the key is sealed at rest ({file})");
    }
    assert_eq!((status, row["source"].as_str(), row["status"].as_str()), (200, Some("custom"), Some("valid")), "{row}");
    let (code, _, status, body) = curl(&gw, "custom.vg.test", "/", &ca.root, "--http2");
    assert_eq!((code, status.as_str()), (0, "200"), "{body}");
    let (wild_cert, wild_key) = ca.leaf(&["*.wild.vg.test"], -1, 30);
    assert_eq!(put("*.wild.vg.test", &wild_cert, &wild_key).await.0, 200);
    let (code, _, status, body) = curl(&gw, "tenant.wild.vg.test", "/", &ca.root, "--http1.1");
    assert_eq!((code, status.as_str()), (0, "200"), "a wildcard upload serves one label: {body}");
    let (code, out, _) = harness::cli(&gw, &["certs", "list"]);
    assert!(code == 0 && out.contains("*.wild.vg.test") && out.contains("custom"), "{out}");

    let (code, _, err) = harness::cli(&gw, &["certs", "remove", "custom.vg.test"]);
    assert_eq!(code, 0, "{err}");
    let (ok, _) = s_client(&gw, Some("custom.vg.test"));
    assert!(!ok, "a removed certificate is no longer served");
    assert_eq!(gw.api("DELETE", "/api/v1/certificates/custom.vg.test", None).await.0, 404);
    assert!(!gw.log().contains("ordering a certificate"), "tls = custom never orders:\n{}", gw.log());
}
