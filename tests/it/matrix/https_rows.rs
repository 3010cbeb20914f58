//! The HTTPS rows of the zero-downtime matrix: flips under HTTPS + HTTP/2 load, ACME issuance for a new host
//! while others serve HTTPS, and a certificate renewal under load. The CA is Debian's pebble; the load is curl.

use crate::harness::pebble::{gateway_with_ca, wait_status, Pebble};
use crate::harness::tls_load::{Target, TlsLoad, TlsTally};
use crate::harness::{Gateway, Upstream};
use serde_json::json;
use std::time::{Duration, Instant};

pub type Outcome = (&'static str, bool, String);

async fn https_app(validity_s: u64) -> (Gateway, std::sync::Arc<Pebble>, Upstream, Upstream, Target) {
    let (gw, pebble) = gateway_with_ca(r#"["http-01"]"#, validity_s).await;
    let (a, b) = (Upstream::start("A"), Upstream::start("B"));
    let quick =
        json!({"domains": ["app.vg.test"], "health_interval_ms": 20, "healthy_threshold": 1, "drain_timeout_s": 5});
    gw.add_external_project("app", "placeholder.invalid", quick).await;
    gw.deploy("app", a.addr).await;
    wait_status(&gw, "app.vg.test", "valid").await;
    let target = Target { https: gw.https.unwrap(), host: "app.vg.test".into(), root: pebble.issuing_root() };
    (gw, pebble, a, b, target)
}

fn clean(t: &TlsTally) -> bool {
    t.failed.is_empty() && t.ok > 0
}

fn shown(t: &TlsTally) -> String {
    let first: Vec<_> = t.failed.iter().take(3).collect();
    format!(
        "{} requests ok, {} failed{}",
        t.ok,
        t.failed.len(),
        if first.is_empty() { String::new() } else { format!(" {first:?}") }
    )
}

pub async fn flips_and_new_host() -> Vec<Outcome> {
    let (gw, pebble, a, b, target) = https_app(3600).await;
    let load = TlsLoad::start(target.clone(), 2, 2);
    let started = Instant::now();
    let mut bad = 0;
    for i in 0..30 {
        let to = if i % 2 == 0 { b.addr } else { a.addr };
        bad += usize::from(gw.deploy("app", to).await["status"] != "ACTIVE");
    }
    let flips = load.finish().await;
    let flip_row = (
        "flips under HTTPS + HTTP/2 load",
        clean(&flips) && bad == 0,
        format!("30 flips in {:.1}s, {}, {bad} flips not ACTIVE", started.elapsed().as_secs_f64(), shown(&flips)),
    );

    let load = TlsLoad::start(target, 2, 2);
    let fresh = Upstream::start("F");
    gw.add_external_project("fresh", "placeholder2.invalid", json!({"domains": ["fresh.vg.test"]})).await;
    gw.deploy("fresh", fresh.addr).await;
    let issued_at = Instant::now();
    wait_status(&gw, "fresh.vg.test", "valid").await;
    let issued_in = issued_at.elapsed();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let during = load.finish().await;
    let fresh_target = Target { host: "fresh.vg.test".into(), ..TlsLoad::target_of(&gw, &pebble) };
    let check = TlsLoad::start(fresh_target, 1, 0);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let served = check.finish().await;
    let acme_row = (
        "ACME for a new host while others serve HTTPS",
        clean(&during) && clean(&served),
        format!("issued in {:.1}s; others: {}; new host: {}", issued_in.as_secs_f64(), shown(&during), shown(&served)),
    );
    vec![flip_row, acme_row]
}

/// The serial of the certificate served for `host`.
fn served_serial(gw: &Gateway, host: &str) -> String {
    let script = format!(
        "openssl s_client -connect {} -servername {host} </dev/null 2>/dev/null | openssl x509 -noout -serial",
        gw.https.unwrap()
    );
    let out = std::process::Command::new("sh").args(["-c", &script]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

pub async fn renewal() -> Outcome {
    let (gw, _pebble, _a, _b, target) = https_app(24).await;
    let first = served_serial(&gw, "app.vg.test");
    let load = TlsLoad::start(target, 2, 2);
    let deadline = Instant::now() + Duration::from_secs(40);
    let mut now_serving = first.clone();
    while now_serving == first && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        now_serving = served_serial(&gw, "app.vg.test");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let tally = load.finish().await;
    let renewed = now_serving != first && !now_serving.is_empty();
    let figures = format!("{first} -> {now_serving}; {}", shown(&tally));
    ("a certificate renewal under HTTPS load", clean(&tally) && renewed, figures)
}
