//! `versiongate upgrade`: the listening sockets (HTTP and admin) go to the new binary under load with no
//! failed request, the control plane's work moves over, and a successor that cannot start changes nothing.

use crate::harness;

use harness::load::{load, LoadSpec, Tally};
use harness::upgrade::install;
use harness::{eventually, Gateway, Upstream};
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn version_a(post: bool, body: &str) -> bool {
    body == if post { "A:2048" } else { "A" }
}

async fn app(gw: &Gateway) -> Upstream {
    let a = Upstream::start("A");
    gw.add_external_project("app", "app.test", json!({})).await;
    gw.deploy("app", a.addr).await;
    a
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn upgrades_under_load_fail_no_request_and_the_new_process_serves_every_listener() {
    let mut gw = Gateway::start().await;
    let _a = app(&gw).await;
    let stop = Arc::new(AtomicBool::new(false));
    let spec = LoadSpec { host: "app.test", posts: true, accept: version_a };
    let workers: Vec<_> = (0..4).map(|i| tokio::spawn(load(gw.proxy, spec.clone(), i >= 2, stop.clone()))).collect();
    let mut pids = vec![gw.pid()];
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let old = gw.pid();
        let up = gw.upgrade().await;
        assert_eq!(up.code, 0, "{}{}\n{}", up.stdout, up.stderr, gw.log());
        assert!(
            up.stdout.contains(&format!("(pid {old}) → {} (pid {})", env!("CARGO_PKG_VERSION"), gw.pid())),
            "{}",
            up.stdout
        );
        pids.push(gw.pid());
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::SeqCst);
    let mut tally = Tally::default();
    for w in workers {
        tally.add(w.await.unwrap());
    }
    let failed = tally.non_2xx.len() + tally.transport_errors.len() + tally.unexpected.len();
    assert_eq!(failed, 0, "{tally:?}\n{}", gw.log());
    assert!(tally.ok > 200, "too little load to mean anything: {tally:?}");
    eventually("every replaced process exits", || pids[..3].iter().all(|p| !Gateway::alive(*p))).await;
    let (status, health) = gw.api("GET", "/healthz", None).await;
    assert_eq!((status, health["pid"].as_u64()), (200, Some(u64::from(gw.pid()))), "{health}");
    let (_, project) = gw.api("GET", "/api/v1/projects/app", None).await;
    assert_eq!(project["live"]["slot"], "blue", "the admin API of the new process reads the same store: {project}");
    assert!(gw.log().contains("nothing left in flight; exiting"), "{}", gw.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_successor_that_cannot_start_leaves_the_old_process_serving() {
    let mut gw = Gateway::start().await;
    let binary = gw.restart_from_copy().await;
    let _a = app(&gw).await;
    let (good, old) = (std::fs::read(&binary).unwrap(), gw.pid());
    let refused = |up: &harness::upgrade::Upgraded, why: &str| {
        assert_eq!(up.code, 1, "{}{}", up.stdout, up.stderr);
        assert!(up.stderr.contains(why), "expected `{why}` in: {}", up.stderr);
        assert!(up.stderr.contains(&format!("(pid {old}) keeps serving")), "{}", up.stderr);
    };

    install(&binary, b"#!/bin/sh\necho 'broken build' >&2\nexit 3\n");
    refused(&gw.upgrade().await, "exit status: 3");
    install(&binary, b"\x7fELF but not really");
    refused(&gw.upgrade().await, "cannot start");

    install(&binary, &good);
    let config = gw.dir.path().join("versiongate.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, text.replace("threads = 1", "threads = \"many\"")).unwrap();
    refused(&gw.upgrade().await, "invalid configuration");
    std::fs::write(&config, &text).unwrap();

    // A schema from a newer versiongate: this binary cannot migrate it.
    let db = format!("sqlite://{}", gw.data_dir().join("versiongate.db").display());
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&db).await.unwrap();
    let newer = "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
                 VALUES (99990001, 'from a newer versiongate', TRUE, x'00', 0)";
    sqlx::query(newer).execute(&pool).await.unwrap();
    refused(&gw.upgrade().await, "99990001");
    sqlx::query("DELETE FROM _sqlx_migrations WHERE version = 99990001").execute(&pool).await.unwrap();

    install(&binary, b"#!/bin/sh\nsleep 3\nexit 1\n");
    let (status, body) = gw.api("POST", "/api/v1/upgrade", Some(json!({}))).await;
    assert_eq!((status, body["state"].as_str()), (202, Some("running")), "{body}");
    let (status, body) = gw.api("POST", "/api/v1/upgrade", Some(json!({}))).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("upgrade_in_progress")), "{body}");
    let mut state = json!(null);
    for _ in 0..100 {
        state = gw.api("GET", "/api/v1/upgrade", None).await.1;
        if state["state"] == "failed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(state["state"], "failed", "{state}");

    assert_eq!(gw.pid(), old);
    assert_eq!(gw.get("app.test", "/").await, (200, "A".to_string()), "the old process serves throughout");
    install(&binary, &good);
    let up = gw.upgrade().await;
    assert_eq!(up.code, 0, "{}{}\n{}", up.stdout, up.stderr, gw.log());
    assert_ne!(gw.pid(), old);
    assert_eq!(gw.get("app.test", "/").await, (200, "A".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_running_across_an_upgrade_goes_live_and_the_queue_moves_over() {
    let mut gw = Gateway::start().await;
    let (_a, b, c) = (app(&gw).await, Upstream::start("B"), Upstream::start("C"));
    // Every deployment waits 4 s before its switch: long enough to upgrade in the middle of one.
    gw.restart_with_hook("switching:hold:4000").await;
    let old = gw.pid();
    let b_id = gw.start_deploy("app", b.addr).await;
    gw.wait_phase(b_id, "switching").await;
    let up = gw.upgrade().await;
    assert_eq!(up.code, 0, "{}{}\n{}", up.stdout, up.stderr, gw.log());
    // Asked of the new process while the old one still finishes B: it waits for the project's lease.
    let c_id = gw.start_deploy("app", c.addr).await;
    let (status, body) = gw.api("POST", &format!("/api/v1/deployments/{b_id}/cancel"), None).await;
    let message = body["error"]["message"].as_str().unwrap_or_default().to_owned();
    assert_eq!(status, 409, "{body}");
    assert!(message.contains(&format!("gateway process {old}, which is finishing it after an upgrade")), "{message}");
    let mut served_b = false;
    for _ in 0..200 {
        if gw.get("app.test", "/").await == (200, "B".to_string()) {
            served_b = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(served_b, "the new process never served B, switched by the old one\n{}", gw.log());
    let c_done = gw.wait_settled(c_id).await;
    assert_eq!(c_done["status"], "ACTIVE", "{c_done}\n{}", gw.log());
    let (_, b_done) = gw.api("GET", &format!("/api/v1/deployments/{b_id}"), None).await;
    assert_eq!(b_done["status"], "SUPERSEDED", "B went live, then C replaced it: {b_done}");
    let b_log = gw.logs(&json!(b_id)).await;
    assert!(!b_log.contains("gateway upgraded"), "{b_log}");
    assert_eq!(gw.get("app.test", "/").await, (200, "C".to_string()));
    eventually("the old process exits once B is done", || !Gateway::alive(old)).await;
}

/// systemd's side: `Type=notify` hears READY=1 with the serving pid as MAINPID, from the first process and
/// again from the successor that SIGUSR2 (the unit's `ExecReload`) starts, so systemd follows it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigusr2_upgrades_and_systemd_is_told_the_new_main_pid() {
    let dir = tempfile::tempdir().unwrap();
    let socket_path = dir.path().join("notify.sock");
    let notify = std::os::unix::net::UnixDatagram::bind(&socket_path).unwrap();
    notify.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut gw = Gateway::start().await;
    gw.env = vec![("NOTIFY_SOCKET".into(), socket_path.display().to_string())];
    gw.crash_and_restart().await;
    let first = gw.pid();
    let heard = |notify: &std::os::unix::net::UnixDatagram| {
        let mut buf = [0u8; 512];
        let n = notify.recv(&mut buf).expect("no notification from the gateway");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    assert_eq!(heard(&notify), format!("MAINPID={first}\nREADY=1\n"));

    let status = std::process::Command::new("kill").args(["-USR2", &first.to_string()]).status().unwrap();
    assert!(status.success());
    let message = tokio::task::spawn_blocking(move || heard(&notify)).await.unwrap();
    let new_pid: u32 = message.strip_prefix("MAINPID=").and_then(|m| m.split('\n').next()).unwrap().parse().unwrap();
    assert_ne!(new_pid, first, "{message}");
    assert_eq!(message, format!("MAINPID={new_pid}\nREADY=1\n"));
    gw.successors.push(new_pid);
    gw.http = harness::client_builder().build().unwrap();
    let (_, health) = gw.api("GET", "/healthz", None).await;
    assert_eq!(health["pid"].as_u64(), Some(u64::from(new_pid)), "{health}");
    eventually("the old process exits", || !Gateway::alive(first)).await;
}
