//! Store behaviour, each case run on SQLite and on PostgreSQL (`VERSIONGATE_TEST_PG_URL`, set by scripts/test).

use crate::on_both_databases;

use versiongate::deployment::{Event, Phase, Status, Trigger};
use versiongate::project::{ProjectSpec, RuntimeKind, Slot};
use versiongate::routes::PoolChange;
use versiongate::store::{CertSource, CertStatus, IssuedCert, NewDeployment, Store, StoreError};

on_both_databases!(
    projects_round_trip_with_picked_ports,
    duplicate_names_domains_and_ports_conflict,
    a_deployment_moves_only_by_legal_transitions,
    activation_supersedes_the_previous_live_deployment,
    queued_pushes_coalesce_into_the_newest,
    logs_page_in_order,
    one_lease_holder_at_a_time,
    deleting_a_project_removes_its_history,
    concurrent_writers_wait_their_turn,
    the_commit_and_its_subject_carry_over_to_a_redeploy,
    a_switch_moves_the_route_pools_in_its_transaction,
    a_flip_back_and_a_restart_move_the_pools_too,
    secrets_are_stored_whole_and_never_serialised,
    certificates_keep_per_host_state_and_the_acme_account,
    replicas_and_the_traffic_state_are_stored,
    a_deploy_token_names_one_project_by_its_digest,
);

async fn replicas_and_the_traffic_state_are_stored(store: &Store) {
    use versiongate::routes::{Traffic, TrafficChange, TrafficState};
    store.create_project(spec("a", &["a.test"]), 1, &|_| true).await.unwrap();
    let id = started(store, Slot::Green, "127.0.0.1:20001,127.0.0.1:20003").await;
    let d = store.deployment(id).await.unwrap().unwrap();
    assert_eq!((d.target.as_deref(), d.port), (Some("127.0.0.1:20001"), Some(20001)));
    assert_eq!(d.targets, ["127.0.0.1:20001", "127.0.0.1:20003"]);
    store.activate(id, Event::Supersede, Phase::Done, 12).await.unwrap();
    let (state, _) = store.route_state().await.unwrap();
    assert_eq!(state.members[0].target.as_deref(), Some("127.0.0.1:20001,127.0.0.1:20003"));

    assert_eq!(store.traffic("a").await.unwrap(), TrafficState::default());
    let pause = |s: &TrafficState| s.after("a", TrafficChange::Pause { timeout_s: 12 });
    let paused = store.change_traffic("a", pause, 13).await.unwrap().unwrap();
    assert_eq!((paused.traffic, paused.pause_timeout_s), (Traffic::Paused, Some(12)));
    let refused = store.change_traffic("a", pause, 14).await.unwrap();
    assert!(refused.unwrap_err().contains("already paused"));
    assert_eq!(store.traffic("a").await.unwrap(), paused, "a refused change writes nothing");
    let (state, _) = store.route_state().await.unwrap();
    let row = state.targets.iter().find(|t| t.project == "a").unwrap();
    assert_eq!(row.traffic, "paused");
    let down = |s: &TrafficState| s.after("a", TrafficChange::Maintenance { message: "db".into() });
    store.change_traffic("a", down, 15).await.unwrap().unwrap();
    let now = store.traffic("a").await.unwrap();
    assert_eq!((now.traffic, now.message.as_deref(), now.pause_timeout_s), (Traffic::Maintenance, Some("db"), None));
    assert_eq!(store.traffic("nobody").await.unwrap().traffic, Traffic::Serving);
}

fn spec(name: &str, domains: &[&str]) -> ProjectSpec {
    let domains = domains.iter().map(|d| d.to_string()).collect();
    ProjectSpec { name: name.into(), domains, runtime: RuntimeKind::External, ..ProjectSpec::default() }
}

fn new_deployment(project: &str, target: &str) -> NewDeployment {
    NewDeployment {
        project: project.into(),
        trigger: Some(Trigger::Api),
        target: Some(target.into()),
        port: Some(4001),
        ..NewDeployment::default()
    }
}

async fn projects_round_trip_with_picked_ports(store: &Store) {
    let a = store.create_project(spec("a", &["a.test"]), 1, &|_| true).await.unwrap();
    let b = store.create_project(spec("b", &["b.test", "*.b.test"]), 2, &|p| p != 20002).await.unwrap();
    assert_eq!((a.base_port, b.base_port), (20000, 20004), "b skips 20002, which is busy on the host");
    assert_eq!(store.project("b").await.unwrap().unwrap(), b);
    let mut changed = b.spec.clone();
    changed.domains = vec!["new.b.test".into()];
    changed.base_port = None;
    let updated = store.update_project(changed, 3).await.unwrap();
    assert_eq!((updated.base_port, updated.created_at, updated.updated_at), (20004, 2, 3));
    let names: Vec<String> = store.projects().await.unwrap().into_iter().map(|r| r.unwrap().spec.name).collect();
    assert_eq!(names, ["a", "b"]);
    store.create_project(spec("c", &["b.test"]), 4, &|_| true).await.expect("b.test was released by the update");
}

async fn duplicate_names_domains_and_ports_conflict(store: &Store) {
    store.create_project(spec("a", &["a.test"]), 1, &|_| true).await.unwrap();
    let conflict = |r: Result<_, StoreError>| match r {
        Err(StoreError::Conflict(m)) => m,
        other => panic!("expected a conflict, got {other:?}"),
    };
    assert!(conflict(store.create_project(spec("a", &[]), 2, &|_| true).await).contains("already exists"));
    assert!(conflict(store.create_project(spec("b", &["a.test"]), 2, &|_| true).await).contains("project `a`"));
    let mut overlapping = spec("c", &[]);
    overlapping.base_port = Some(20001);
    assert!(conflict(store.create_project(overlapping, 2, &|_| true).await).contains("overlaps project `a`"));
    assert!(store.project("b").await.unwrap().is_none(), "a refused create leaves nothing behind");
    // Replicas widen a project's range: a (20000) with 1 replica, d picked after it; raising a's replicas
    // into d's ports is refused and changes nothing.
    let d = store.create_project(spec("d", &[]), 3, &|_| true).await.unwrap();
    assert_eq!(d.base_port, 20002);
    let mut wider = store.project("a").await.unwrap().unwrap().spec;
    wider.replicas = 2;
    let refused = conflict(store.update_project(wider, 4).await);
    assert!(refused.contains("20000–20003") && refused.contains("project `d`"), "{refused}");
    assert_eq!(store.project("a").await.unwrap().unwrap().spec.replicas, 1);
    let mut four = spec("e", &[]);
    four.replicas = 4;
    let e = store.create_project(four, 5, &|_| true).await.unwrap();
    assert_eq!(e.base_port, 20004, "the first free range of eight ports");
    assert_eq!(store.create_project(spec("f", &[]), 6, &|_| true).await.unwrap().base_port, 20012);
}

async fn a_deployment_moves_only_by_legal_transitions(store: &Store) {
    store.create_project(spec("a", &[]), 1, &|_| true).await.unwrap();
    let d = store.create_deployment(new_deployment("a", "127.0.0.1:4001"), 10).await.unwrap();
    assert_eq!((d.status, d.phase, d.trigger), (Status::Queued, Phase::Queued, Trigger::Api));
    assert!(matches!(store.apply(d.id, Event::Activate, None, None, 11).await, Err(StoreError::Transition(_))));
    let started = store
        .start_deployment(d.id, Slot::Green, &["127.0.0.1:4001".parse().unwrap()], Phase::HealthChecking, 12)
        .await
        .unwrap();
    assert_eq!((started.status, started.slot, started.started_at), (Status::Deploying, Some(Slot::Green), Some(12)));
    assert!(store.set_phase(d.id, Phase::Queued, 13).await.is_err(), "phases never go back");
    let same = store.set_phase(d.id, Phase::HealthChecking, 13).await.unwrap();
    assert_eq!(same.phase, Phase::HealthChecking, "entering the current phase changes nothing");
    let failed = store.apply(d.id, Event::Fail, None, Some("health check failed: boom"), 14).await.unwrap();
    assert_eq!(
        (failed.status, failed.error.as_deref(), failed.finished_at),
        (Status::Failed, Some("health check failed: boom"), Some(14))
    );
    assert!(store.apply(d.id, Event::Start, None, None, 15).await.is_err(), "FAILED is final");
    let events = store.events(d.id).await.unwrap();
    let statuses: Vec<Status> = events.iter().map(|e| e.status).collect();
    assert_eq!(statuses, [Status::Queued, Status::Deploying, Status::Failed]);
    assert_eq!(store.deployment(d.id).await.unwrap().unwrap(), failed);
}

async fn activation_supersedes_the_previous_live_deployment(store: &Store) {
    store.create_project(spec("a", &[]), 1, &|_| true).await.unwrap();
    let mut ids = Vec::new();
    for (i, target) in ["127.0.0.1:4001", "127.0.0.1:4002"].iter().enumerate() {
        let d = store.create_deployment(new_deployment("a", target), 10).await.unwrap();
        let slot = if i == 0 { Slot::Blue } else { Slot::Green };
        let at = ["127.0.0.1:4001".parse().unwrap()];
        store.start_deployment(d.id, slot, &at, Phase::HealthChecking, 11).await.unwrap();
        let (live, previous) = store.activate(d.id, Event::Supersede, Phase::Draining, 12).await.unwrap();
        assert_eq!((live.status, live.phase), (Status::Active, Phase::Draining));
        assert_eq!(previous.map(|p| p.id), ids.last().copied());
        ids.push(d.id);
    }
    assert_eq!(store.live_deployment("a").await.unwrap().unwrap().id, ids[1]);
    assert_eq!(store.deployment(ids[0]).await.unwrap().unwrap().status, Status::Superseded);
    let done = store.set_phase(ids[1], Phase::Done, 20).await.unwrap();
    assert_eq!(done.duration_ms(), Some(9));
    let active = store.deployments_with_status(&[Status::Active]).await.unwrap();
    assert_eq!(active.len(), 1);
}

async fn queued_pushes_coalesce_into_the_newest(store: &Store) {
    store.create_project(spec("a", &[]), 1, &|_| true).await.unwrap();
    let mut ids = Vec::new();
    for port in 1..=3 {
        ids.push(store.create_deployment(new_deployment("a", &format!("127.0.0.1:400{port}")), 10).await.unwrap().id);
    }
    let newest = store.take_newest_queued("a", 11).await.unwrap().unwrap();
    assert_eq!(newest.id, ids[2]);
    for old in &ids[..2] {
        let d = store.deployment(*old).await.unwrap().unwrap();
        assert_eq!(d.status, Status::Cancelled);
        assert_eq!(d.error.unwrap(), format!("superseded by a newer push (deployment {})", ids[2]));
    }
    assert_eq!(store.take_newest_queued("a", 12).await.unwrap().unwrap().id, ids[2], "taking does not start it");
    let listed: Vec<i64> = store.deployments("a", 2).await.unwrap().iter().map(|d| d.id).collect();
    assert_eq!(listed, [ids[2], ids[1]], "newest first, limited");
}

/// Racing webhooks: many pushes queued and taken at once. None may fail with "database is locked".
async fn the_commit_and_its_subject_carry_over_to_a_redeploy(store: &Store) {
    store.create_project(spec("a", &[]), 1, &|_| true).await.unwrap();
    let d = store.create_deployment(new_deployment("a", "127.0.0.1:4001"), 10).await.unwrap();
    let sha = "9fceb02d0ae598e95dc970b74767f19372d61af8";
    store.set_source(d.id, Some((sha, Some("Fix the login form"))), None).await.unwrap();
    store.set_source(d.id, None, Some("versiongate/a:1")).await.unwrap();
    let d = store.deployment(d.id).await.unwrap().unwrap();
    assert_eq!((d.commit.as_deref(), d.message.as_deref()), (Some(sha), Some("Fix the login form")));
    assert_eq!(d.image.as_deref(), Some("versiongate/a:1"), "a later image keeps the commit and its subject");
    let again = store.create_deployment(NewDeployment::again_of(&d, Trigger::Rollback), 11).await.unwrap();
    assert_eq!((again.commit, again.message), (d.commit, d.message));
}

async fn concurrent_writers_wait_their_turn(store: &Store) {
    store.create_project(spec("a", &[]), 1, &|_| true).await.unwrap();
    let writers = (0..16).map(|i| async move {
        let d = store.create_deployment(new_deployment("a", &format!("127.0.0.1:{}", 4000 + i)), 10 + i).await?;
        store.take_newest_queued("a", 20 + i).await?;
        store.append_log(d.id, "queued", 30 + i).await
    });
    for result in futures_util::future::join_all(writers).await {
        result.expect("a concurrent write failed");
    }
    let queued = store.deployments_with_status(&[Status::Queued]).await.unwrap();
    assert_eq!(queued.len(), 1, "all but the newest were coalesced: {queued:?}");
}

async fn logs_page_in_order(store: &Store) {
    store.create_project(spec("a", &[]), 1, &|_| true).await.unwrap();
    let d = store.create_deployment(new_deployment("a", "127.0.0.1:4001"), 1).await.unwrap();
    for i in 0..5 {
        store.append_log(d.id, &format!("line {i}"), 10 + i).await.unwrap();
    }
    let first = store.logs(d.id, 0, 3).await.unwrap();
    assert_eq!(first.iter().map(|l| l.line.as_str()).collect::<Vec<_>>(), ["line 0", "line 1", "line 2"]);
    let rest = store.logs(d.id, first[2].seq, 100).await.unwrap();
    assert_eq!(rest.iter().map(|l| l.line.as_str()).collect::<Vec<_>>(), ["line 3", "line 4"]);
    assert!(store.logs(d.id, rest[1].seq, 100).await.unwrap().is_empty());
}

async fn one_lease_holder_at_a_time(store: &Store) {
    store.create_project(spec("a", &[]), 1, &|_| true).await.unwrap();
    assert!(store.acquire_lease("a", "one", 1, 100, 70).await.unwrap());
    assert!(!store.acquire_lease("a", "two", 2, 101, 71).await.unwrap(), "a fresh lease is kept");
    assert!(store.acquire_lease("a", "one", 3, 102, 72).await.unwrap(), "the holder may renew");
    assert!(store.heartbeat_lease("a", "one", 150).await.unwrap());
    assert!(!store.heartbeat_lease("a", "two", 150).await.unwrap());
    assert!(store.acquire_lease("a", "two", 4, 300, 200).await.unwrap(), "a stale lease is taken over");
    assert_eq!(store.lease_owner("a").await.unwrap().as_deref(), Some("two"));
    store.release_lease("a", "one").await.unwrap();
    assert_eq!(store.lease_owner("a").await.unwrap().as_deref(), Some("two"), "only the holder releases");
    assert_eq!(store.clear_foreign_leases("three").await.unwrap(), 1);
    assert_eq!(store.lease_owner("a").await.unwrap(), None);
}

async fn deleting_a_project_removes_its_history(store: &Store) {
    store.create_project(spec("a", &["a.test"]), 1, &|_| true).await.unwrap();
    let d = store.create_deployment(new_deployment("a", "127.0.0.1:4001"), 1).await.unwrap();
    store.append_log(d.id, "x", 2).await.unwrap();
    assert!(store.delete_project("a").await.unwrap());
    assert!(!store.delete_project("a").await.unwrap());
    assert!(store.deployment(d.id).await.unwrap().is_none());
    store.create_project(spec("b", &["a.test"]), 3, &|_| true).await.expect("the domain is free again");
}

/// `(pool, deployment id, slot, target)` of project `a`'s route members, as `sync` would read them.
async fn pools(store: &Store) -> Vec<(String, i64, String, String)> {
    let (state, problems) = store.route_state().await.unwrap();
    assert!(problems.is_empty(), "{problems:?}");
    let members = state.members.into_iter().filter(|m| m.project == "a");
    members.map(|m| (m.pool, m.deployment_id, m.slot.unwrap(), m.target.unwrap())).collect()
}

/// A deployment of `a` taken to DEPLOYING in `slot` at `target`.
async fn started(store: &Store, slot: Slot, target: &str) -> i64 {
    let d = store.create_deployment(new_deployment("a", target), 10).await.unwrap();
    let targets = versiongate::routes::parse_targets(target).unwrap();
    store.start_deployment(d.id, slot, &targets, Phase::HealthChecking, 11).await.unwrap();
    d.id
}

async fn a_switch_moves_the_route_pools_in_its_transaction(store: &Store) {
    store.create_project(spec("a", &["a.test"]), 1, &|_| true).await.unwrap();
    store.create_project(spec("b", &["b.test"]), 1, &|_| true).await.unwrap();
    assert_eq!(pools(store).await, [], "a new project has nothing live");
    let first = started(store, Slot::Blue, "127.0.0.1:4001").await;
    store.activate(first, Event::Supersede, Phase::Done, 12).await.unwrap();
    let row = |pool: &str, id: i64, slot: &str, target: &str| (pool.into(), id, slot.into(), target.into());
    assert_eq!(pools(store).await, [row("active", first, "blue", "127.0.0.1:4001")]);
    let second = started(store, Slot::Green, "127.0.0.1:4002").await;
    assert_eq!(pools(store).await.len(), 1, "a deployment that has not switched is not routed");
    store.activate(second, Event::Supersede, Phase::Observing, 13).await.unwrap();
    let switched = [row("active", second, "green", "127.0.0.1:4002"), row("warm", first, "blue", "127.0.0.1:4001")];
    assert_eq!(pools(store).await, switched, "the displaced deployment stays warm");
    store.change_pools("a", PoolChange::Retire { deployment: first }, 14).await.unwrap();
    assert_eq!(pools(store).await, [row("active", second, "green", "127.0.0.1:4002")], "its drain is over");
    store.change_pools("a", PoolChange::Retire { deployment: second }, 15).await.unwrap();
    assert_eq!(pools(store).await.len(), 1, "retiring never empties the active pool");
    let (state, _) = store.route_state().await.unwrap();
    assert!(state.members.iter().all(|m| m.project == "a"), "project b has no members");
    assert_eq!(state.targets.iter().filter(|t| t.project == "a" && t.traffic == "serving").count(), 1);
    assert!(store.delete_project("a").await.unwrap());
    let (state, _) = store.route_state().await.unwrap();
    assert!(state.members.is_empty() && state.targets.iter().all(|t| t.project != "a"), "removed with the project");
}

async fn a_flip_back_and_a_restart_move_the_pools_too(store: &Store) {
    store.create_project(spec("a", &["a.test"]), 1, &|_| true).await.unwrap();
    let good = started(store, Slot::Blue, "127.0.0.1:4001").await;
    store.activate(good, Event::Supersede, Phase::Done, 12).await.unwrap();
    let bad = started(store, Slot::Green, "127.0.0.1:4002").await;
    let (bad_d, _) = store.activate(bad, Event::Supersede, Phase::Observing, 13).await.unwrap();
    let good_d = store.deployment(good).await.unwrap().unwrap();
    let again = NewDeployment { rollback_of: Some(bad), ..NewDeployment::again_of(&good_d, Trigger::AutoRollback) };
    let addr = ["127.0.0.1:4001".parse().unwrap()];
    let (live, rolled_back) = store.record_flip(bad_d.id, again, Slot::Blue, &addr, "5xx", 14).await.unwrap();
    assert_eq!(rolled_back.status, Status::RolledBack);
    let expected = vec![
        ("active".to_string(), live.id, "blue".to_string(), "127.0.0.1:4001".to_string()),
        ("warm".to_string(), bad, "green".to_string(), "127.0.0.1:4002".to_string()),
    ];
    assert_eq!(pools(store).await, expected, "the flip and its route are one transaction");
    store.clear_warm_pools(&[], 15).await.unwrap();
    assert_eq!(pools(store).await, expected[..1], "after a restart nothing is warm");
}

async fn secrets_are_stored_whole_and_never_serialised(store: &Store) {
    let mut s = spec("a", &["a.test"]);
    s.webhook_secret = "hook-value-1".into();
    s.env.insert("DB".into(), "pw-value-2".into());
    s.github_token = "ghp-value-3".into();
    store.create_project(s, 1, &|_| true).await.unwrap();
    let back = store.project("a").await.unwrap().unwrap().spec;
    assert_eq!((back.webhook_secret.expose(), back.env["DB"].expose()), ("hook-value-1", "pw-value-2"));
    assert_eq!(back.github_token.expose(), "ghp-value-3");
    let shown = serde_json::to_string(&back).unwrap();
    assert!(
        !shown.contains("hook-value-1") && !shown.contains("pw-value-2") && !shown.contains("ghp-value-3"),
        "{shown}"
    );
    assert!(!format!("{back:?}").contains("pw-value-2"), "not in a debug print either");
}

async fn certificates_keep_per_host_state_and_the_acme_account(store: &Store) {
    let issued = |host: &'static str, source| IssuedCert {
        host,
        source,
        cert_pem: "CERT",
        key_pem: "KEY",
        issuer: "CN=Test",
        not_before: 1,
        not_after: 100,
        renew_at: Some(60),
    };
    store.mark_pending("a.test", 1).await.unwrap();
    store.record_cert_failure("b.test", "the CA said no", 500, 2).await.unwrap();
    store.record_cert_failure("b.test", "the CA said no again", 900, 3).await.unwrap();
    store.save_certificate(&issued("a.test", CertSource::Acme), 4).await.unwrap();
    store.save_certificate(&issued("a.test", CertSource::Custom), 5).await.unwrap();
    store.record_cert_failure("a.test", "renewal failed", 700, 6).await.unwrap();
    let rows: Vec<_> = store.certificates().await.unwrap().into_iter().map(Result::unwrap).collect();
    let seen: Vec<_> = rows.iter().map(|r| (r.host.as_str(), r.source, r.status, r.failures)).collect();
    assert_eq!(
        seen,
        [
            ("a.test", CertSource::Acme, CertStatus::Valid, 1),
            ("a.test", CertSource::Custom, CertStatus::Valid, 0),
            ("b.test", CertSource::Acme, CertStatus::Failed, 2),
        ],
        "a failed renewal keeps the certificate; two failures count twice"
    );
    assert_eq!((rows[0].key_pem.as_deref(), rows[0].error.as_deref()), (Some("KEY"), Some("renewal failed")));
    assert_eq!((rows[2].retry_at, rows[2].error.as_deref()), (Some(900), Some("the CA said no again")));
    store.save_certificate(&issued("b.test", CertSource::Acme), 7).await.unwrap();
    let b = store.certificates().await.unwrap().into_iter().map(Result::unwrap).find(|r| r.host == "b.test").unwrap();
    assert_eq!(
        (b.status, b.failures, b.error, b.retry_at),
        (CertStatus::Valid, 0, None, None),
        "success clears the back-off"
    );
    assert!(store.remove_certificate("a.test", CertSource::Custom).await.unwrap());
    assert!(!store.remove_certificate("a.test", CertSource::Custom).await.unwrap());
    assert_eq!(store.acme_account("https://ca.test/dir").await.unwrap(), None);
    store.save_acme_account("https://ca.test/dir", "{\"id\":1}", 8).await.unwrap();
    store.save_acme_account("https://ca.test/dir", "{\"id\":2}", 9).await.unwrap();
    assert_eq!(store.acme_account("https://ca.test/dir").await.unwrap().as_deref(), Some("{\"id\":2}"));
}

async fn a_deploy_token_names_one_project_by_its_digest(store: &Store) {
    use versiongate::store::deploy_token_digest;
    let (token, other) = ("tok-A-0123456789abcdefghij", "tok-B-0123456789abcdefghij");
    let mut a = spec("a", &[]);
    a.deploy_token = token.into();
    store.create_project(a, 1, &|_| true).await.unwrap();
    assert_eq!(store.deploy_token_project(&deploy_token_digest(token)).await.unwrap().as_deref(), Some("a"));
    assert_eq!(store.deploy_token_project(&deploy_token_digest(other)).await.unwrap(), None);
    assert_eq!(store.deploy_token_project(token).await.unwrap(), None, "looked up by digest, never by the token");
    let mut b = spec("b", &[]);
    b.deploy_token = token.into();
    match store.create_project(b.clone(), 2, &|_| true).await {
        Err(StoreError::Conflict(m)) => assert!(m.contains("deploy_token"), "{m}"),
        other => panic!("one token for two projects must conflict, got {other:?}"),
    }
    assert!(store.project("b").await.unwrap().is_none(), "a refused create leaves nothing behind");
    // A new token replaces the old digest; an empty one removes it; deleting the project frees it.
    let mut a = store.project("a").await.unwrap().unwrap().spec;
    a.deploy_token = other.into();
    store.update_project(a.clone(), 3).await.unwrap();
    assert_eq!(store.deploy_token_project(&deploy_token_digest(token)).await.unwrap(), None);
    assert_eq!(store.deploy_token_project(&deploy_token_digest(other)).await.unwrap().as_deref(), Some("a"));
    b.deploy_token = token.into();
    store.create_project(b, 4, &|_| true).await.expect("the old token is free again");
    a.deploy_token = "".into();
    store.update_project(a, 5).await.unwrap();
    assert_eq!(store.deploy_token_project(&deploy_token_digest(other)).await.unwrap(), None);
    assert!(store.delete_project("b").await.unwrap());
    assert_eq!(store.deploy_token_project(&deploy_token_digest(token)).await.unwrap(), None);
}
