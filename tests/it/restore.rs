//! Restoring routes after a restart is done per project: a corrupt row, a dead address or a missing
//! container image is reported for that project only, in `/healthz` and the log, and the rest serve.

use crate::harness;

use harness::repo::{AppRepo, DockerCleanup};
use harness::{Gateway, Upstream};
use serde_json::{json, Value};

async fn corrupt(gw: &Gateway, sql: &str) {
    let url = format!("sqlite://{}", gw.data_dir().join("versiongate.db").display());
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(sql.to_owned())).execute(&pool).await.unwrap();
    pool.close().await;
}

fn problems(health: &Value) -> Vec<String> {
    health["problems"].as_array().unwrap().iter().map(|p| p.as_str().unwrap().to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_row_or_a_bad_address_affects_only_its_project() {
    let mut gw = Gateway::start().await;
    let ups: Vec<Upstream> = ["G", "B", "O"].iter().map(|n| Upstream::start(n)).collect();
    for (name, up) in ["good", "bad", "odd"].iter().zip(&ups) {
        gw.add_external_project(name, &format!("{name}.test"), json!({})).await;
        assert_eq!(gw.deploy(name, up.addr).await["status"], "ACTIVE");
    }
    gw.kill();
    corrupt(&gw, "UPDATE projects SET spec = '{not json' WHERE name = 'bad'").await;
    corrupt(&gw, "UPDATE deployments SET target = 'nowhere' WHERE project = 'odd'").await;
    gw.crash_and_restart().await;

    assert_eq!(gw.get("good.test", "/").await, (200, "G".to_string()), "the sound project serves");
    let health = gw.api("GET", "/healthz", None).await.1;
    let found = problems(&health);
    assert_eq!(found.len(), 2, "one problem per broken project: {found:?}");
    assert!(found.iter().any(|p| p.contains("bad")), "{found:?}");
    assert!(found.iter().any(|p| p.contains("project `odd`") && p.contains("no usable address")), "{found:?}");
    assert_eq!(health["live"], 1, "{health}");
    let log = gw.log();
    assert!(log.contains("restore: project `odd`"), "the log names it too");
    let (code, list) = gw.api("GET", "/api/v1/projects", None).await;
    assert_eq!(code, 200, "the list still answers: {list}");
    let names: Vec<&Value> = list.as_array().unwrap().iter().map(|p| &p["name"]).collect();
    assert_eq!(names, [&Value::Null, &json!("good"), &json!("odd")], "{list}");
    assert!(list[0]["error"].as_str().unwrap().contains("stored project `bad` is unreadable"), "{list}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_container_is_started_again_and_a_removed_image_is_reported() {
    let mut gw = Gateway::start().await;
    let repo = AppRepo::new("v1");
    let name = harness::unique_name("s");
    gw.add_docker_project(&name, &repo.url(), "s", json!({ "observe_s": 0 })).await;
    let _cleanup = DockerCleanup(name.clone());
    let v1 = gw.wait_settled(gw.push(&repo.url(), "main", &repo.commit("v1"), "s").await).await;
    assert_eq!(v1["status"], "ACTIVE", "{v1}");
    let container = format!("{name}-{}", v1["slot"].as_str().unwrap());
    let docker =
        |args: &[&str]| assert!(std::process::Command::new("docker").args(args).output().unwrap().status.success());

    gw.kill();
    docker(&["rm", "-f", &container]);
    gw.crash_and_restart().await;
    assert_eq!(gw.get(&format!("{name}.test"), "/").await, (200, "v1".to_string()), "started again from its image");
    assert_eq!(problems(&gw.api("GET", "/healthz", None).await.1), Vec::<String>::new());

    gw.kill();
    docker(&["rm", "-f", &container]);
    docker(&["rmi", "-f", v1["image"].as_str().unwrap()]);
    gw.crash_and_restart().await;
    let found = problems(&gw.api("GET", "/healthz", None).await.1);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains(&format!("project `{name}`")) && found[0].contains("deploy it again"), "{found:?}");
    let next = gw.wait_settled(gw.push(&repo.url(), "main", &repo.release("v2"), "s").await).await;
    assert_eq!(next["status"], "ACTIVE", "a new push repairs it: {next}");
    assert_eq!(gw.get(&format!("{name}.test"), "/").await.1, "v2");
}
