//! Traffic control on the real Docker engine: replicas as numbered containers, and hold-and-swap deploys.

mod harness;

use harness::repo::{inspect, AppRepo, DockerCleanup};
use harness::{free_port_range, Gateway};
use serde_json::{json, Value};

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
