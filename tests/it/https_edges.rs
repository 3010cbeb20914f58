//! HTTPS edges against Debian's pebble: rejected nonces, a CA that forgot our account, the admin server's
//! public host over HTTPS, and a WebSocket over HTTP/1.1 TLS.

use crate::harness;

use harness::pebble::{gateway_with, wait_status, CaOptions};
use harness::raw::RawUpstream;
use harness::streams::read_until;
use harness::{Gateway, Upstream};
use rustls_pki_types::pem::PemObject;
use serde_json::json;
use std::sync::Arc;
use tokio::io::AsyncWriteExt;

/// `curl` over HTTPS to `host` (resolved to 127.0.0.1, verified against `root`): the status code, or "000".
fn status_of(gw: &Gateway, host: &str, path: &str, root: &std::path::Path) -> String {
    let port = gw.https.unwrap().port();
    let out = std::process::Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10", "--cacert"])
        .arg(root)
        .args(["--resolve", &format!("{host}:{port}:127.0.0.1")])
        .arg(format!("https://{host}:{port}{path}"))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_nonces_are_retried_and_a_forgotten_account_is_registered_again() {
    let options =
        CaOptions { challenges: r#"["http-01"]"#, validity_s: 3600, nonce_reject: Some(20), ..CaOptions::default() };
    let (gw, mut pebble) = gateway_with(options).await;
    let app = Upstream::start("app");
    gw.add_external_project("app", "placeholder.invalid", json!({"domains": ["one.vg.test"]})).await;
    gw.deploy("app", app.addr).await;
    wait_status(&gw, "one.vg.test", "valid").await;
    // Pebble logs no single rejection; at 20 % of a dozen signed requests, some were rejected.
    assert!(pebble.log().contains("reject 20% of good nonces"), "pebble was not hostile:\n{}", pebble.log());

    Arc::get_mut(&mut pebble).expect("the test holds the only handle").restart_ca();
    let (status, body) =
        gw.api("PATCH", "/api/v1/projects/app", Some(json!({"domains": ["one.vg.test", "two.vg.test"]}))).await;
    assert_eq!(status, 200, "{body}");
    wait_status(&gw, "two.vg.test", "valid").await;
    assert!(gw.log().contains("does not know our account any more"), "{}", gw.log());
    assert_eq!(status_of(&gw, "two.vg.test", "/", &pebble.issuing_root()), "200");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_public_admin_host_gets_a_certificate_so_webhooks_can_use_https() {
    let options = CaOptions {
        challenges: r#"["tls-alpn-01"]"#,
        validity_s: 3600,
        admin_extra: "public_host = \"deploy.vg.test\"\n",
        ..CaOptions::default()
    };
    let (gw, pebble) = gateway_with(options).await;
    wait_status(&gw, "deploy.vg.test", "valid").await;
    let root = pebble.issuing_root();
    assert_eq!(
        status_of(&gw, "deploy.vg.test", "/api/v1/projects", &root),
        "401",
        "the API answers, and wants its token"
    );
    assert_eq!(status_of(&gw, "deploy.vg.test", "/metrics", &root), "404", "private paths stay hidden over HTTPS too");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_passes_through_http11_over_tls() {
    let (gw, pebble) = harness::pebble::gateway_with_ca(r#"["http-01"]"#, 3600).await;
    let raw = RawUpstream::start().await;
    gw.add_external_project("ws", "placeholder.invalid", json!({"domains": ["ws.vg.test"]})).await;
    gw.deploy("ws", raw.addr).await;
    wait_status(&gw, "ws.vg.test", "valid").await;

    let mut roots = rustls::RootCertStore::empty();
    let pem = std::fs::read(pebble.issuing_root()).unwrap();
    for cert in rustls_pki_types::CertificateDer::pem_slice_iter(&pem) {
        roots.add(cert.unwrap()).unwrap();
    }
    let mut config = rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let tcp = tokio::net::TcpStream::connect(gw.https.unwrap()).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from("ws.vg.test").unwrap();
    let mut tls = tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, tcp).await.unwrap();
    let upgrade = "GET /ws HTTP/1.1\r\nHost: ws.vg.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                   Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    tls.write_all(upgrade.as_bytes()).await.unwrap();
    let head = read_until(&mut tls, "\r\n\r\n").await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    tls.write_all(b"hello over tls").await.unwrap();
    let echoed = read_until(&mut tls, "hello over tls").await;
    assert!(echoed.contains("hello over tls"), "{echoed}");
}
