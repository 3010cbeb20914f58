//! The nginx include output against a real nginx (Debian's, installed by scripts/test).

use crate::harness;

use harness::{free_port, Gateway, Upstream};
use serde_json::json;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// An nginx master started for the test, stopped by its pid when dropped.
struct Nginx {
    pid: Option<i32>,
}

impl Nginx {
    fn start(conf: &Path) -> Nginx {
        let conf = conf.display().to_string();
        let out = Command::new("nginx")
            .args(["-c", &conf, "-e", "/dev/stderr"])
            .output()
            .expect("nginx is installed (scripts/test installs it)");
        assert!(out.status.success(), "nginx did not start: {}", String::from_utf8_lossy(&out.stderr));
        let pid_file = Path::new(&conf).with_file_name("nginx.pid");
        let deadline = Instant::now() + Duration::from_secs(5);
        while !pid_file.exists() {
            assert!(Instant::now() < deadline, "nginx wrote no pid file");
            std::thread::sleep(Duration::from_millis(20));
        }
        let pid = std::fs::read_to_string(pid_file).unwrap().trim().parse().ok();
        Nginx { pid }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        if let Some(pid) = self.pid {
            let _ = Command::new("kill").arg(pid.to_string()).status();
        }
    }
}

async fn served_by_nginx(port: u16) -> String {
    let url = format!("http://127.0.0.1:{port}/");
    harness::client_builder().build().unwrap().get(url).send().await.map(|r| r.text()).unwrap().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_switch_changes_what_nginx_serves_and_a_failed_test_keeps_the_old_file() {
    let dir = tempfile::tempdir().unwrap();
    let (d, port) = (dir.path().display().to_string(), free_port());
    std::fs::create_dir_all(dir.path().join("inc")).unwrap();
    std::fs::create_dir_all(dir.path().join("tmp")).unwrap();
    let conf = dir.path().join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "pid {d}/nginx.pid;\nerror_log {d}/error.log;\nevents {{}}\nhttp {{\n  access_log off;\n  client_body_temp_path {d}/tmp;\n  proxy_temp_path {d}/tmp;\n\
             include {d}/inc/*.conf;\n  server {{\n    listen 127.0.0.1:{port};\n    location / {{ proxy_pass http://versiongate_app; proxy_http_version 1.1; proxy_set_header Connection \"\"; }}\n  }}\n}}\n"
        ),
    )
    .unwrap();
    let nginx_cmd = format!("nginx -q -e {d}/error.log -c {}", conf.display());
    let extra = format!(
        "[nginx]\ninclude_dir = \"{d}/inc\"\ntest_command = \"test ! -e {d}/broken && {nginx_cmd} -t\"\nreload_command = \"{nginx_cmd} -s reload\"\n"
    );
    let gw = Gateway::start_with(&extra).await;
    let (a, b) = (Upstream::start("A"), Upstream::start("B"));
    gw.add_external_project("app", "app.test", json!({})).await;

    let first = gw.deploy("app", a.addr).await;
    assert_eq!(first["status"], "ACTIVE", "a reload that fails (nginx is not running yet) only warns: {first}");
    let include = std::fs::read_to_string(dir.path().join("inc/app.conf")).unwrap();
    assert!(include.contains(&format!("server {};", a.addr)), "{include}");
    let _nginx = Nginx::start(&conf);
    assert_eq!(served_by_nginx(port).await, "A");

    assert_eq!(gw.deploy("app", b.addr).await["status"], "ACTIVE");
    let deadline = Instant::now() + Duration::from_secs(5);
    while served_by_nginx(port).await != "B" {
        assert!(Instant::now() < deadline, "nginx did not follow the switch");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    std::fs::write(dir.path().join("broken"), "").unwrap();
    let refused = gw.deploy("app", a.addr).await;
    assert_eq!(refused["status"], "FAILED");
    assert!(refused["error"].as_str().unwrap().contains("previous one was restored"), "{refused}");
    let include = std::fs::read_to_string(dir.path().join("inc/app.conf")).unwrap();
    assert!(include.contains(&format!("server {};", b.addr)), "the previous file stays: {include}");
    assert_eq!(served_by_nginx(port).await, "B");
    assert_eq!(gw.get("app.test", "/").await, (200, "B".to_string()), "the internal switch was not made either");
}
