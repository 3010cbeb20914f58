use super::*;
use crate::metrics::Metrics;
use crate::routes::state::TargetRow;
use crate::routes::table::tests::{build, state};
use crate::routes::table::TableOptions;

fn facts(host: &str) -> RequestFacts<'_> {
    RequestFacts { host, path: "/", cookie: None, roll: 0, tls: false }
}

/// Hosts with a certificate, for the redirect rule.
struct Certified(&'static [&'static str]);

impl HostCertificates for Certified {
    fn serves(&self, host: &str) -> bool {
        self.0.contains(&host)
    }
}

const NONE: Certified = Certified(&[]);

fn picked(d: Decision<'_>) -> (i64, Option<i64>) {
    match d {
        Decision::Proxy(p) => (p.member.deployment_id, p.remember),
        other => panic!("not proxied: {other:?}"),
    }
}

#[test]
fn unknown_hosts_and_projects_without_a_live_deployment_are_told_apart() {
    let m = Metrics::new().unwrap();
    let (t, _) = build(&state(&[("a", &["a.test"])], &[]), &m);
    assert!(matches!(decide(&facts("b.test"), &t, &NONE), Decision::UnknownHost));
    assert!(matches!(decide(&facts(""), &t, &NONE), Decision::UnknownHost));
    assert!(matches!(decide(&facts("a.test"), &t, &NONE), Decision::NoLive(r) if &*r.name == "a"));
}

#[test]
fn one_member_takes_every_request_and_the_warm_one_is_the_retry() {
    let m = Metrics::new().unwrap();
    let s = state(
        &[("a", &["a.test", "*.a.test"])],
        &[("a", "active", 2, "green", "127.0.0.1:2"), ("a", "warm", 1, "blue", "127.0.0.1:1")],
    );
    let (t, _) = build(&s, &m);
    for host in ["a.test", "tenant.a.test"] {
        assert_eq!(picked(decide(&facts(host), &t, &NONE)), (2, None), "{host}");
    }
    let Decision::Proxy(pick) = decide(&facts("a.test"), &t, &NONE) else { panic!() };
    assert_eq!(pick.route.backend.pools().retry_member(pick.member.addr, 0).unwrap().deployment_id, 1);
}

#[test]
fn paused_and_maintenance_projects_are_not_proxied() {
    let m = Metrics::new().unwrap();
    let mut s = state(
        &[("p", &["p.test"]), ("m", &["m.test"])],
        &[("p", "active", 1, "blue", "127.0.0.1:1"), ("m", "active", 2, "blue", "127.0.0.1:2")],
    );
    let row = |project: &str, traffic: &str, message: Option<&str>| TargetRow {
        project: project.into(),
        traffic: traffic.into(),
        message: message.map(Into::into),
        rollout_percent: None,
        pause_timeout_s: Some(7),
    };
    s.targets = vec![row("p", "paused", None), row("m", "maintenance", Some("upgrading the database"))];
    let (t, _) = build(&s, &m);
    assert!(matches!(decide(&facts("p.test"), &t, &NONE), Decision::Paused(_, hold) if hold.as_secs() == 7));
    assert!(matches!(decide(&facts("m.test"), &t, &NONE), Decision::Maintenance(_, "upgrading the database")));
}

#[test]
fn a_rollout_split_is_weighted_for_new_clients_and_sticky_for_known_ones() {
    let m = Metrics::new().unwrap();
    let mut s = state(
        &[("c", &["c.test"])],
        &[("c", "active", 1, "blue", "127.0.0.1:1"), ("c", "rollout", 2, "green", "127.0.0.1:2")],
    );
    let row =
        TargetRow { project: "c".into(), traffic: "serving".into(), rollout_percent: Some(20), ..TargetRow::default() };
    s.targets = vec![row];
    let (t, _) = build(&s, &m);
    let with = |cookie: Option<&'static str>, roll: u32| {
        picked(decide(&RequestFacts { cookie, roll, ..facts("c.test") }, &t, &NONE))
    };
    let canaries = (0..100).filter(|r| with(None, *r).0 == 2).count();
    assert_eq!(canaries, 20, "new clients split by the percentage");
    assert_eq!(with(None, 5), (2, Some(2)), "a new client is told where it went");
    assert_eq!(with(None, 50), (1, Some(1)));
    for roll in 0..100 {
        assert_eq!(with(Some("theme=dark; vg_canary=2"), roll), (2, None), "a canary client stays");
        assert_eq!(with(Some("vg_canary=1"), roll), (1, None), "a stable client stays");
    }
    assert_eq!(with(Some("vg_canary=77"), 5), (2, Some(2)), "a cookie from an older rollout is picked again");
}

#[test]
fn the_public_admin_host_reaches_the_admin_server_but_not_its_private_paths() {
    let m = Metrics::new().unwrap();
    let admin: std::net::SocketAddr = "127.0.0.1:9080".parse().unwrap();
    let options = TableOptions { admin: Some(("deploy.test".into(), admin)) };
    let (t, _) = crate::routes::table::RouteTable::from_state(&state(&[], &[]), &options, &|n| m.project(n));
    for open in ["/webhooks/github", "/api/v1/projects", "/", "/projects/app"] {
        let req = RequestFacts { path: open, ..facts("deploy.test") };
        assert!(matches!(decide(&req, &t, &NONE), Decision::Admin(a) if a == admin), "{open}");
    }
    for hidden in ["/metrics", "/metrics/", "/healthz", "/healthz/"] {
        let req = RequestFacts { path: hidden, ..facts("deploy.test") };
        assert!(matches!(decide(&req, &t, &NONE), Decision::AdminHidden), "{hidden}");
    }
}

#[test]
fn plain_http_moves_to_https_once_the_host_has_a_certificate() {
    let m = Metrics::new().unwrap();
    let s = state(&[("a", &["a.test", "b.test"])], &[("a", "active", 1, "blue", "127.0.0.1:1")]);
    let (t, _) = build(&s, &m);
    let certs = Certified(&["a.test", "deploy.test"]);
    assert!(matches!(decide(&facts("a.test"), &t, &certs), Decision::Redirect));
    assert!(matches!(decide(&facts("b.test"), &t, &certs), Decision::Proxy(_)), "no certificate yet: no redirect");
    let tls = RequestFacts { tls: true, ..facts("a.test") };
    assert!(matches!(decide(&tls, &t, &certs), Decision::Proxy(_)));
    let challenge = RequestFacts { path: "/.well-known/acme-challenge/tok", ..facts("a.test") };
    assert!(matches!(decide(&challenge, &t, &certs), Decision::Proxy(_)), "challenges are never redirected");
    let mut off = s.clone();
    off.projects[0].https_redirect = false;
    let (t_off, _) = build(&off, &m);
    assert!(matches!(decide(&facts("a.test"), &t_off, &certs), Decision::Proxy(_)), "https_redirect = false");

    let admin: std::net::SocketAddr = "127.0.0.1:9080".parse().unwrap();
    let options = TableOptions { admin: Some(("deploy.test".into(), admin)) };
    let (t, _) = crate::routes::table::RouteTable::from_state(&state(&[], &[]), &options, &|n| m.project(n));
    assert!(matches!(decide(&facts("deploy.test"), &t, &certs), Decision::Redirect));
    let hook = RequestFacts { path: "/webhooks/github", ..facts("deploy.test") };
    assert!(matches!(decide(&hook, &t, &certs), Decision::Admin(_)), "webhook deliveries are not redirected");
}
