//! Notifications: `[[notify]]` receivers get deployment outcomes in their format, in the background; a
//! dead or slow receiver is retried and reported in `/healthz`, and never slows a deploy. URLs stay masked.

use crate::harness;

use harness::github::Receiver;
use harness::{free_port, unique_name, Gateway, Health, Upstream};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

async fn wait_for(what: &str, check: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(45);
    while !check() {
        assert!(Instant::now() < deadline, "still not true after 45 s: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn events(r: &Receiver, key: &str) -> Vec<String> {
    r.bodies().iter().filter_map(|b| b[key].as_str().map(str::to_owned)).collect()
}

#[tokio::test]
async fn receivers_get_outcomes_in_their_format_and_a_dead_or_slow_one_is_retried_without_slowing_deploys() {
    let (json_rx, slack_rx) = (Receiver::start(Duration::ZERO).await, Receiver::start(Duration::ZERO).await);
    let slow_rx = Receiver::start(Duration::from_secs(8)).await;
    let dead = format!("http://127.0.0.1:{}/hook/dead-secret", free_port());
    let config = format!(
        "[[notify]]\nurl = \"{}\"\nformat = \"json\"\n\
         [[notify]]\nurl = \"{}\"\nformat = \"slack\"\nevents = [\"failed\"]\n\
         [[notify]]\nurl = \"{dead}\"\n\
         [[notify]]\nurl = \"{}\"\nformat = \"discord\"\n",
        json_rx.url(),
        slack_rx.url(),
        slow_rx.url()
    );
    let gw = Gateway::start_with(&config).await;
    let name = unique_name("nt");
    gw.add_external_project(&name, &format!("{name}.test"), json!({})).await;
    let good = Upstream::start("good");

    let ok = gw.deploy(&name, good.addr).await;
    assert_eq!(ok["status"], "ACTIVE");
    wait_for("the json receiver hears of the success", || events(&json_rx, "event") == ["succeeded"]).await;
    let body = json_rx.bodies()[0].clone();
    assert_eq!(body["project"], name.as_str());
    assert_eq!(body["deployment"], ok["id"]);
    assert!(body["url"].as_str().unwrap().ends_with(&format!("/deployments/{}", ok["id"])), "{body}");
    assert!(body["duration_ms"].is_number(), "{body}");

    let bad = Upstream::start("bad");
    bad.set_health(Health::Failing);
    let failed = gw.deploy(&name, bad.addr).await;
    assert_eq!(failed["status"], "FAILED");
    wait_for("the json receiver hears of the failure", || events(&json_rx, "event") == ["succeeded", "failed"]).await;
    assert_eq!(json_rx.bodies()[1]["error"], failed["error"]);
    wait_for("the slack receiver hears of the failure only", || events(&slack_rx, "text").len() == 1).await;
    let text = &events(&slack_rx, "text")[0];
    assert!(text.contains(&format!("{name} deploy failed")) && text.contains("error: health check failed"), "{text}");

    // While the dead receiver is retried and the slow one times out, a deploy takes its usual time.
    let started = Instant::now();
    let again = gw.deploy(&name, good.addr).await;
    assert_eq!(again["status"], "ACTIVE");
    assert!(started.elapsed() < Duration::from_secs(5), "a deploy took {:?} beside a dead receiver", started.elapsed());

    let health = || async {
        let text = reqwest_text(&format!("{}/healthz", gw.admin_url())).await;
        (serde_json::from_str::<Value>(&text).unwrap(), text)
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (h, text) = health().await;
        let receivers = h["notify"].as_array().unwrap().clone();
        assert_eq!(receivers.len(), 4, "{h}");
        assert!(!text.contains("dead-secret") && !text.contains("s3cr3t-token"), "URLs are masked: {text}");
        let (dead_last, slow_last) = (&receivers[2]["last"], &receivers[3]["last"]);
        if dead_last["ok"] == false && slow_last["ok"] == false {
            assert_eq!(dead_last["attempts"], 5, "{dead_last}");
            assert_eq!(dead_last["detail"], "unreachable");
            assert_eq!(slow_last["detail"], "timed out", "{slow_last}");
            assert!(receivers[2]["receiver"].as_str().unwrap().ends_with("/***"));
            assert_eq!(receivers[0]["last"]["ok"], true);
            break;
        }
        assert!(Instant::now() < deadline, "the dead and slow receivers were never reported failing: {h}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(!gw.log().contains("dead-secret") && !gw.log().contains("s3cr3t-token"), "URLs are masked in the log");
    let mut visitor = harness::visitor::Visitor::new(&gw);
    visitor.log_in("test-token").await;
    let overview = visitor.page("/").await;
    assert!(overview.contains("Notifications") && overview.contains("5 attempt(s) · unreachable"), "{overview}");
    assert!(!overview.contains("dead-secret"));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_versiongate"))
        .args(["check-config", "--config"])
        .arg(gw.config_path())
        .output()
        .unwrap();
    let checked = String::from_utf8_lossy(&out.stdout);
    assert!(!checked.contains("dead-secret") && checked.contains("***"), "{checked}");
}

async fn reqwest_text(url: &str) -> String {
    harness::client_builder().build().unwrap().get(url).send().await.unwrap().text().await.unwrap()
}
