//! The dashboard over HTTP, as a browser without JavaScript sees it: login and sessions, CSRF on every
//! form, validation errors beside their fields, and the forms acting as the API does.

use crate::harness;

use harness::visitor::{set_cookie_line, Visitor};
use harness::{Gateway, Health, Upstream};
use reqwest::Response;
use serde_json::json;

fn location(res: &Response) -> &str {
    res.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_need_a_session_and_login_sets_a_strict_http_only_cookie() {
    let gw = Gateway::start().await;
    let mut v = Visitor::new(&gw);
    for path in ["/", "/projects/new", "/projects/x", "/deployments/1"] {
        let res = v.get(path).await;
        assert_eq!((res.status().as_u16(), location(&res)), (303, "/login"), "{path}");
    }
    let no_nonce = v.post("/login", &[("token", "test-token")]).await;
    assert_eq!(no_nonce.status(), 403, "a login without the form's nonce is refused");
    let wrong = v.log_in("wrong-token").await;
    assert_eq!(wrong.status(), 401);
    assert!(wrong.text().await.unwrap().contains("That token is wrong"));
    assert!(v.session.is_none());
    let ok = v.log_in("test-token").await;
    assert_eq!((ok.status().as_u16(), location(&ok)), (303, "/"));
    let line = set_cookie_line(&ok, "vg_session");
    assert!(line.contains("HttpOnly") && line.contains("SameSite=Strict") && line.contains("Path=/"), "{line}");
    let home = v.page("/").await;
    assert!(home.contains("<h1>Projects</h1>") && home.contains("No projects yet"), "{home}");
    assert!(!home.contains("test-token"), "the token never appears in a page");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forms_refuse_a_missing_or_wrong_csrf_token_and_the_cookie_only_reads_the_api() {
    let gw = Gateway::start().await;
    gw.add_external_project("shop", "shop.test", json!({})).await;
    let mut v = Visitor::new(&gw);
    v.log_in("test-token").await;
    for fields in [vec![("target", "127.0.0.1:1")], vec![("csrf", "forged"), ("target", "127.0.0.1:1")]] {
        let res = v.post("/projects/shop/deploy", &fields).await;
        assert_eq!(res.status(), 403, "{fields:?}");
        assert!(res.text().await.unwrap().contains("reload the page and try again"));
    }
    for path in ["/logout", "/projects", "/projects/shop/rollback", "/projects/shop/settings", "/deployments/1/cancel"]
    {
        let res = v.post(path, &[("csrf", "forged"), ("name", "other"), ("domains", "evil.test")]).await;
        assert_eq!(res.status(), 403, "{path} checks the CSRF token");
    }
    assert_eq!(gw.api("GET", "/api/v1/projects", None).await.1.as_array().unwrap().len(), 1, "nothing was created");
    assert_eq!(gw.api("GET", "/api/v1/projects/shop", None).await.1["domains"], json!(["shop.test"]));
    assert_eq!(gw.api("GET", "/api/v1/projects/shop/deployments", None).await.1, json!([]), "nothing was deployed");
    let read = v.get("/api/v1/projects/shop").await;
    assert_eq!(read.status(), 200, "the session reads the API (the dashboard's live parts)");
    let write = v.post("/api/v1/projects/shop/rollback", &[]).await;
    assert_eq!(write.status(), 401, "but never changes anything through it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_new_project_form_shows_each_error_beside_its_field() {
    let gw = Gateway::start().await;
    gw.add_external_project("taken", "taken.test", json!({})).await;
    let mut v = Visitor::new(&gw);
    v.log_in("test-token").await;
    let bad = [("name", "Bad Name"), ("runtime", "external"), ("domains", "ok.test, bad..host"), ("base_port", "80")];
    let res = v.submit("/projects/new", "/projects", &bad).await;
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    for field in ["name", "domains", "base_port"] {
        assert!(html.contains(&format!(r#"data-field-error="{field}""#)), "{field} has its error: {html}");
    }
    assert!(html.contains(r#"value="Bad Name""#), "what was typed is kept");
    let dup = v.submit("/projects/new", "/projects", &[("name", "taken"), ("runtime", "external")]).await;
    assert_eq!(dup.status(), 409);
    assert!(dup.text().await.unwrap().contains("already exists"));
    let ok = [("name", "fresh"), ("runtime", "external"), ("domains", "fresh.test")];
    let res = v.submit("/projects/new", "/projects", &ok).await;
    assert_eq!((res.status().as_u16(), location(&res)), (303, "/projects/fresh"));
    let page = v.page("/projects/fresh").await;
    assert!(page.contains("Project fresh created"), "the next page says what happened: {page}");
    assert_eq!(gw.api("GET", "/api/v1/projects/fresh", None).await.1["domains"], json!(["fresh.test"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_and_rollback_buttons_act_like_the_api_and_the_pages_show_it() {
    let gw = Gateway::start().await;
    let (a, b) = (Upstream::start("A"), Upstream::start("B"));
    gw.add_external_project("shop", "shop.test", json!({"observe_s": 0, "drain_timeout_s": 1})).await;
    let mut v = Visitor::new(&gw);
    v.log_in("test-token").await;
    let first = deploy(&gw, &v, &a.addr.to_string()).await;
    let page = v.page(&format!("/deployments/{first}")).await;
    assert!(page.contains("status-active") && page.contains("whole log"), "{page}");
    assert!(page.contains(r#"<li class="step done"><b>health_checking</b>"#), "{page}");
    let first_slot = gw.api("GET", &format!("/api/v1/deployments/{first}"), None).await.1["slot"].clone();
    let second = deploy(&gw, &v, &b.addr.to_string()).await;
    let project = v.page("/projects/shop").await;
    let second_slot = gw.api("GET", &format!("/api/v1/deployments/{second}"), None).await.1["slot"].clone();
    assert_ne!(first_slot, second_slot);
    let arrow = format!(r#"id="traffic" class="traffic" data-slot="{}""#, second_slot.as_str().unwrap());
    assert!(project.contains(&arrow), "the arrow points at the new slot: {project}");
    assert!(project.contains(&format!("Roll back to #{first}")), "{project}");
    let res = v.submit("/projects/shop", "/projects/shop/rollback", &[("to", &first.to_string())]).await;
    assert_eq!((res.status().as_u16(), location(&res)), (303, "/projects/shop"));
    let list = gw.api("GET", "/api/v1/projects/shop/deployments", None).await.1;
    let rollback = gw.wait_settled(list[0]["id"].as_i64().unwrap()).await;
    assert_eq!((rollback["status"].as_str(), rollback["trigger"].as_str()), (Some("ACTIVE"), Some("rollback")));
    assert_eq!(gw.get("shop.test", "/").await.1, "A");
    let project = v.page("/projects/shop").await;
    assert!(project.contains("Rolling back: deployment"), "{project}");
    assert!(project.contains(&format!(r#"data-slot="{}""#, first_slot.as_str().unwrap())), "{project}");
}

/// Deploys `target` with the project page's form; returns the deployment id once it is ACTIVE.
async fn deploy(gw: &Gateway, v: &Visitor, target: &str) -> i64 {
    let res = v.submit("/projects/shop", "/projects/shop/deploy", &[("target", target)]).await;
    assert_eq!(res.status(), 303);
    let id: i64 = location(&res).trim_start_matches("/deployments/").parse().unwrap();
    assert_eq!(gw.wait_settled(id).await["status"], "ACTIVE");
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_save_with_env_values_write_only_and_bad_values_change_nothing() {
    let gw = Gateway::start().await;
    gw.add_external_project("shop", "shop.test", json!({"env": {"DB_PASSWORD": "hunter2-secret"}})).await;
    let mut v = Visitor::new(&gw);
    v.log_in("test-token").await;
    let page = v.page("/projects/shop").await;
    assert!(page.contains("DB_PASSWORD") && !page.contains("hunter2-secret"), "values are never shown");
    let bad = v.submit("/projects/shop", "/projects/shop/settings", &[("observe_s", "soon")]).await;
    assert_eq!(bad.status(), 303);
    assert!(v.page("/projects/shop").await.contains("observe_s: `soon` is not a whole number"));
    let fields = [("domains", "shop.test, www.shop.test"), ("env_set", "MODE=live"), ("env_remove:DB_PASSWORD", "on")];
    v.submit("/projects/shop", "/projects/shop/settings", &fields).await;
    assert!(v.page("/projects/shop").await.contains("Settings saved"));
    let project = gw.api("GET", "/api/v1/projects/shop", None).await.1;
    assert_eq!(project["domains"], json!(["shop.test", "www.shop.test"]));
    assert_eq!(project["env"], json!({"MODE": "***"}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_outlives_a_restart_and_logout_ends_it_with_a_message() {
    let mut gw = Gateway::start().await;
    let mut v = Visitor::new(&gw);
    v.log_in("test-token").await;
    let missing = v.get("/projects/nope").await;
    assert_eq!(missing.status(), 404);
    assert!(missing.text().await.unwrap().contains("project `nope` does not exist"));
    gw.restart_with_env(&[]).await;
    assert_eq!(v.get("/").await.status(), 200, "sessions live in the store: a restart keeps them");
    let db = gw.database_text();
    assert!(!db.contains(v.session.as_deref().unwrap()), "the store holds a digest of the cookie, never the cookie");
    let out = v.submit("/", "/logout", &[]).await;
    assert_eq!((out.status().as_u16(), location(&out)), (303, "/login"));
    let res = v.get("/").await;
    assert_eq!((res.status().as_u16(), location(&res)), (303, "/login?expired=1"), "the old cookie no longer works");
    let login = v.page("/login?expired=1").await;
    assert!(login.contains("Your session ended") && login.contains("logged out"), "{login}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cancel_button_stops_a_running_deployment_and_leaves_the_live_one() {
    let gw = Gateway::start().await;
    let (a, never) = (Upstream::start("A"), Upstream::start("never"));
    never.set_health(Health::Failing);
    gw.add_external_project("shop", "shop.test", json!({"observe_s": 0, "health_timeout_s": 120})).await;
    let mut v = Visitor::new(&gw);
    v.log_in("test-token").await;
    deploy(&gw, &v, &a.addr.to_string()).await;
    let res = v.submit("/projects/shop", "/projects/shop/deploy", &[("target", &never.addr.to_string())]).await;
    let id: i64 = location(&res).trim_start_matches("/deployments/").parse().unwrap();
    let running = v.page(&format!("/deployments/{id}")).await;
    assert!(running.contains("data-follow") && running.contains("Cancel this deployment"), "{running}");
    let project = v.page("/projects/shop").await;
    assert!(project.contains(&format!("Cancel #{id}")), "{project}");
    let forged = v.post(&format!("/deployments/{id}/cancel"), &[("csrf", "forged")]).await;
    assert_eq!(forged.status(), 403);
    let res = v.submit("/projects/shop", &format!("/deployments/{id}/cancel"), &[]).await;
    assert_eq!((res.status().as_u16(), location(&res)), (303, "/projects/shop"));
    assert!(v.page("/projects/shop").await.contains(&format!("Deployment #{id} is CANCELLED")));
    assert_eq!(gw.wait_settled(id).await["status"], "CANCELLED");
    assert_eq!(gw.get("shop.test", "/").await.1, "A", "the live version was not touched");
}
