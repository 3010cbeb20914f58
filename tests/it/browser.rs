//! The dashboard end to end in real headless Chromium: log in, create an external project, deploy it
//! and watch its log arrive, see the slot arrow flip after a second deploy, roll back with a button,
//! and see the page update itself, with the traffic chart marking each deploy, switch and rollback.
//! Screenshots land in `target/dashboard-screenshots/`.

use crate::harness;

use harness::webdriver::Browser;
use harness::{Gateway, Upstream};
use std::path::PathBuf;

fn shot(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/dashboard-screenshots").join(format!("{name}.png"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_deploys_flips_and_rolls_back_from_the_browser() {
    let mut gw = Gateway::start().await;
    // A half-second chart step (test-hooks builds) so the chart has a line within the test.
    gw.restart_with_env(&[("VERSIONGATE_TEST_CHART_STEP_MS", "500")]).await;
    let (a, b) = (Upstream::start("A"), Upstream::start("B"));
    let web = Browser::start(1280, 1000).await;
    let admin = gw.admin_url();
    log_in_and_create_the_project(&web, &admin).await;

    let first = deploy_from_the_page(&web, &a.addr.to_string()).await;
    web.screenshot(&shot("deployment")).await;
    web.goto(&format!("{admin}/projects/shop")).await;
    let first_slot = web.attribute("#traffic", "data-slot").await.unwrap_or_default();
    assert!(first_slot == "blue" || first_slot == "green", "traffic goes to a slot: {first_slot:?}");
    assert!(web.find("#chart svg.traffic-chart").await.is_some(), "the project page has a traffic chart");
    assert_eq!(web.count("#chart .marker-switch").await, 1, "the first deploy's switch is marked");

    let second = deploy_from_the_page(&web, &b.addr.to_string()).await;
    assert!(second > first);
    web.goto(&format!("{admin}/projects/shop")).await;
    let second_slot = web.attribute("#traffic", "data-slot").await.unwrap_or_default();
    assert_ne!(second_slot, first_slot, "the arrow flipped to the other slot");
    assert_eq!(web.count("#chart .marker-switch").await, 2, "the second deploy's switch is marked too");
    web.screenshot(&shot("project")).await;
    chart_shows_the_traffic(&web, &gw).await;

    // Roll back with the timeline's button; the page refreshes itself until the arrow flips back.
    web.click(&format!("#deployment-{first} button")).await;
    web.wait_text("#notice", 10, |t| t.contains("Rolling back")).await;
    web.wait_text("#traffic", 30, |t| t.contains(&first_slot)).await;
    let timeline = web.wait_text("#timeline", 30, |t| t.contains("ROLLED_BACK")).await;
    assert!(timeline.contains("rollback"), "the rollback is in the timeline: {timeline}");
    assert_eq!(gw.get("shop.test", "/").await.1, "A", "traffic really went back to A");
    wait_count(&web, "#chart .marker-rollback", 1).await;
    web.screenshot(&shot("project-after-rollback")).await;

    overview_and_phone_width(&web, &admin, &a.addr.to_string()).await;
    web.quit().await;
}

/// Requests through the proxy show as a line in the chart (it refreshes with the page) within seconds.
async fn chart_shows_the_traffic(web: &Browser, gw: &Gateway) {
    for _ in 0..40 {
        assert_eq!(gw.get("shop.test", "/").await.0, 200);
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    wait_count(web, "#chart svg.traffic-chart polyline", 3).await;
    web.script("document.getElementById('chart').scrollIntoView(); return true").await;
    web.screenshot(&shot("traffic-chart")).await;
    web.script("window.scrollTo(0, 0); return true").await;
}

async fn wait_count(web: &Browser, css: &str, at_least: usize) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while web.count(css).await < at_least {
        assert!(std::time::Instant::now() < deadline, "fewer than {at_least} of `{css}` after 15 s");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// Logs in, meets a validation error on the new-project form, creates `shop` (external), and slows its
/// health gate so the log is seen arriving while a deployment runs.
async fn log_in_and_create_the_project(web: &Browser, admin: &str) {
    web.goto(&format!("{admin}/")).await;
    assert!(web.url().await.ends_with("/login"), "a visitor without a session is sent to the login page");
    web.screenshot(&shot("login")).await;
    web.type_into("#token", "test-token").await;
    web.click("button[type=submit]").await;
    web.wait_text("h1", 10, |t| t == "Projects").await;

    web.click("a[href='/projects/new']").await;
    web.wait_text("h1", 10, |t| t == "New project").await;
    web.type_into("#f-name", "Shop!").await;
    web.click("input[value=external]").await;
    web.type_into("#f-domains", "shop.test").await;
    web.click("form.card button[type=submit]").await;
    let error = web.wait_text("[data-field-error=name]", 10, |t| !t.is_empty()).await;
    assert!(error.contains("lowercase"), "the name's error is beside it: {error}");
    web.screenshot(&shot("new-project-errors")).await;
    web.type_into("#f-name", "shop").await;
    web.click("form.card button[type=submit]").await;
    web.wait_text("#notice", 10, |t| t.contains("Project shop created")).await;

    web.type_into("#s-healthy_threshold", "6").await;
    web.type_into("#s-observe_s", "0").await;
    web.type_into("#s-drain_timeout_s", "1").await;
    web.click("#settings button[type=submit]").await;
    web.wait_text("#notice", 10, |t| t.contains("Settings saved")).await;
}

/// The projects page shows the live target; the project page fits a phone's width.
async fn overview_and_phone_width(web: &Browser, admin: &str, live_target: &str) {
    web.goto(&format!("{admin}/")).await;
    let row = web.wait_text("table.projects", 10, |t| t.contains("shop")).await;
    assert!(row.contains("ACTIVE") && row.contains(live_target), "{row}");
    web.screenshot(&shot("projects")).await;
    web.resize(390, 844).await;
    web.goto(&format!("{admin}/projects/shop")).await;
    let width: i64 = web.script("return document.documentElement.scrollWidth").await.as_i64().unwrap();
    assert!(width <= 400, "the project page fits a phone's width, scrollWidth {width}");
    web.screenshot(&shot("project-phone")).await;
}

/// Deploys `target` with the project page's form and watches the live log arrive; returns the id.
async fn deploy_from_the_page(web: &Browser, target: &str) -> i64 {
    web.type_into("#deploy-target", target).await;
    web.click("#deploy-button").await;
    web.wait_text("h1", 10, |t| t.starts_with("Deployment #")).await;
    let id: i64 = web.text("h1").await.unwrap().trim_start_matches("Deployment #").parse().unwrap();
    assert!(web.find("pre[data-follow]").await.is_some(), "a running deployment's log is followed");
    let live = web.wait_text("#log", 10, |t| t.contains("health")).await;
    assert!(web.find("pre[data-follow]").await.is_some(), "lines arrived before the end: {live}");
    web.wait_text("#summary", 30, |t| t.contains("ACTIVE")).await;
    web.wait_text("#log-state", 10, |t| t.contains("whole log")).await;
    id
}
