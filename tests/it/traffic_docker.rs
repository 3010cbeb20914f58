//! Traffic control on the real Docker engine: replicas as numbered containers, and hold-and-swap deploys.

use crate::harness;

use harness::repo::{inspect, AppRepo, DockerCleanup};
use harness::{free_port_range, Gateway};
use serde_json::{json, Value};
use std::time::Duration;

const SECRET: &str = "It's a Secret to Everybody";

async fn metrics(gw: &Gateway) -> String {
    gw.http.get(format!("{}/metrics", gw.admin_url())).send().await.unwrap().text().await.unwrap()
}

async fn deploy(gw: &Gateway, name: &str) -> Value {
    let (status, d) = gw.api("POST", &format!("/api/v1/projects/{name}/deployments"), Some(json!({}))).await;
    assert_eq!(status, 202, "{d}");
    let d = gw.wait_settled(d["id"].as_i64().unwrap()).await;
    assert_eq!(d["status"], "ACTIVE", "{d}\n{}", gw.logs(&d["id"]).await);
    d
}

fn running(container: &str) -> Option<String> {
    inspect(container, "{{.State.Running}}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_run_as_numbered_containers_share_the_load_and_shrink_cleanly() {
    let gw = Gateway::start().await;
    let (name, repo) = (harness::unique_name("r"), AppRepo::new("v1"));
    let _cleanup = DockerCleanup(name.clone());
    let base = free_port_range(4);
    let extra = json!({ "replicas": 2, "base_port": base });
    gw.add_docker_project(&name, &repo.url(), SECRET, extra).await;
    let host = format!("{name}.test");

    let d1 = deploy(&gw, &name).await;
    let want: Vec<String> = [base, base + 2].iter().map(|p| format!("127.0.0.1:{p}")).collect();
    assert_eq!(d1["targets"], json!(want), "replica n of blue listens on base_port + 2(n-1)");
    for (n, port) in [(1, base), (2, base + 2)] {
        let c = format!("{name}-blue-{n}");
        assert_eq!(running(&c).as_deref(), Some("true"), "{c}");
        assert_eq!(inspect(&c, "{{index .Config.Labels \"versiongate.replica\"}}").as_deref(), Some(&*n.to_string()));
        let bindings = inspect(&c, "{{json .HostConfig.PortBindings}}").unwrap();
        assert!(bindings.contains(&format!("\"HostIp\":\"127.0.0.1\",\"HostPort\":\"{port}\"")), "{bindings}");
    }
    for _ in 0..40 {
        assert_eq!(gw.get(&host, "/").await, (200, "v1".to_string()));
    }
    let text = metrics(&gw).await;
    for n in 1..=2 {
        let series = format!("versiongate_replica_requests_total{{project=\"{name}\",replica=\"{n}\",slot=\"blue\"}}");
        let count = text.lines().find(|l| l.starts_with(&series)).and_then(|l| l.rsplit(' ').next()?.parse().ok());
        assert!(count.unwrap_or(0.0) >= 5.0, "replica {n} got {count:?} of 40 requests");
    }

    // The next deploy starts both green replicas, switches them at once and stops both blue ones.
    repo.release("v2");
    let d2 = deploy(&gw, &name).await;
    assert_eq!(d2["slot"], "green");
    assert_eq!(gw.get(&host, "/").await, (200, "v2".to_string()));
    for n in 1..=2 {
        assert_eq!(running(&format!("{name}-green-{n}")).as_deref(), Some("true"));
        assert_eq!(running(&format!("{name}-blue-{n}")).as_deref(), Some("false"), "the old replicas stop");
    }

    // Back to one replica: the next deploy (blue) runs `<name>-blue` and the numbered blue ones are gone.
    let (status, p) = gw.api("PATCH", &format!("/api/v1/projects/{name}"), Some(json!({ "replicas": 1 }))).await;
    assert_eq!(status, 200, "{p}");
    repo.release("v3");
    let d3 = deploy(&gw, &name).await;
    assert_eq!((d3["slot"].as_str(), d3["targets"].as_array().map(Vec::len)), (Some("blue"), Some(1)));
    assert_eq!(gw.get(&host, "/").await, (200, "v3".to_string()));
    assert_eq!(running(&format!("{name}-blue")).as_deref(), Some("true"));
    assert_eq!(running(&format!("{name}-blue-1")), None);
    assert_eq!(running(&format!("{name}-blue-2")), None);
    for n in 1..=2 {
        assert_eq!(running(&format!("{name}-green-{n}")).as_deref(), Some("false"));
    }
    let (status, _) = gw.api("DELETE", &format!("/api/v1/projects/{name}"), None).await;
    assert_eq!(status, 204);
    assert_eq!(running(&format!("{name}-green-1")), None, "a removed project's replicas go too");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hold_swap_replaces_the_only_container_under_load_and_a_failed_start_brings_the_old_one_back() {
    use harness::load::{load, LoadSpec, Tally};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let gw = Gateway::start().await;
    let (name, repo) = (harness::unique_name("h"), AppRepo::new("v1"));
    let _cleanup = DockerCleanup(name.clone());
    gw.add_docker_project(&name, &repo.url(), SECRET, json!({ "strategy": "hold_swap" })).await;
    let host: &'static str = Box::leak(format!("{name}.test").into_boxed_str());
    let d1 = deploy(&gw, &name).await;
    assert_eq!(d1["slot"], "blue");

    // Under keep-alive and fresh-connection load: never two containers, no request fails.
    let under_load = || {
        let gw = &gw;
        let name = name.clone();
        async move {
            let stop = Arc::new(AtomicBool::new(false));
            let spec = LoadSpec { host, posts: false, accept: |_, body| body == "v1" || body == "v2" };
            let workers: Vec<_> =
                (0..4).map(|i| tokio::spawn(load(gw.proxy, spec.clone(), i % 2 == 1, stop.clone()))).collect();
            tokio::time::sleep(Duration::from_millis(300)).await;
            let (status, d) = gw.api("POST", &format!("/api/v1/projects/{name}/deployments"), Some(json!({}))).await;
            assert_eq!(status, 202, "{d}");
            let id = d["id"].as_i64().unwrap();
            let mut two_at_once = false;
            let d = loop {
                two_at_once |= running(&format!("{name}-green")).is_some();
                let (_, d) = gw.api("GET", &format!("/api/v1/deployments/{id}"), None).await;
                if !matches!(d["status"].as_str(), Some("QUEUED" | "DEPLOYING")) {
                    break d;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            };
            tokio::time::sleep(Duration::from_millis(300)).await;
            stop.store(true, Ordering::SeqCst);
            let mut total = Tally::default();
            for w in workers {
                total.add(w.await.unwrap());
            }
            (gw.wait_settled(id).await, d, total, two_at_once)
        }
    };
    repo.release("v2");
    let (d2, _, total, two) = under_load().await;
    assert_eq!((d2["status"].as_str(), d2["slot"].as_str()), (Some("ACTIVE"), Some("blue")), "{d2}");
    assert!(!two, "hold_swap never runs a second container");
    total.assert_clean(50);
    let log = gw.logs(&d2["id"]).await;
    assert!(log.contains("holding new requests") && log.contains("held requests released"), "{log}");
    assert_eq!(gw.get(host, "/").await, (200, "v2".to_string()));
    let (_, project) = gw.api("GET", &format!("/api/v1/projects/{name}"), None).await;
    assert_eq!(project["traffic"], "serving");

    // A new version that dies at start: the old one runs again and the held requests reach it.
    repo.write("Dockerfile", "FROM scratch\nCOPY busybox /bin/busybox\nCMD [\"/bin/busybox\", \"false\"]\n");
    repo.commit("a version that cannot start");
    let (d3, _, total, two) = under_load().await;
    assert_eq!(d3["status"], "FAILED", "{d3}");
    assert!(!two);
    total.assert_clean(50);
    let log = gw.logs(&d3["id"]).await;
    assert!(log.contains("starting the old one again") && log.contains("held requests released"), "{log}");
    assert_eq!(gw.get(host, "/").await, (200, "v2".to_string()));
    let c = format!("{name}-blue");
    assert_eq!(inspect(&c, "{{index .Config.Labels \"versiongate.deployment\"}}"), Some(d2["id"].to_string()));
    assert_eq!(inspect(&c, "{{.HostConfig.RestartPolicy.Name}}").as_deref(), Some("unless-stopped"));
    let (_, project) = gw.api("GET", &format!("/api/v1/projects/{name}"), None).await;
    assert_eq!((project["traffic"].as_str(), project["live"]["id"].as_i64()), (Some("serving"), d2["id"].as_i64()));
}
